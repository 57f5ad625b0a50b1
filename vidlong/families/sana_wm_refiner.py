"""Sana-WM's stage 2 (`GenerateRequest.refine`, ``vidlong generate --refine [FOLDER]`` on a Sana-WM folder): diffusers'
`SanaWMLTX2Refiner` run on the final normalised latents ``[1, C, F, h, w]`` of vidlong's stage 1 (the request's methods
applied there), at the same size, then decoded as its pipeline decodes.

Where it is: diffusers ships the refiner as a pipeline folder of its own (its docs: the ``...-diffusers-refiner``
repository beside ``...-diffusers``, "the way SDXL splits base and refiner"; its conversion script writes it beside the
Sana-WM folder as ``<folder>-refiner``), without a VAE: it takes the Sana-WM pipeline's. ``refine`` True looks there, then
in the model folder's ``refiner/`` subfolder (the refiner's docstring calls it an optional component of `SanaWMPipeline`,
which in diffusers 0.42.1 registers none); a path names its folder (`check_refiner`, before any model loads).

Its call runs with its own defaults (`refiner_settings`: ``block_size`` 3 latent frames a block, ``kv_max_frames`` 11,
``sink_size`` 1, its 3 distilled sigmas), the request's prompt and seed (its generator's, on the CPU) and the video's frame
rate. vidlong's methods do not act on it: it is chunk-causal already, each block attending to the sink frame and at most
``kv_max_frames`` latent frames (linear in the video's length, a bounded window at any length). Its output keeps stage 1's
sink frames (the image's latent frame) unrefined; the decode drops their pixel frames, as its call does (a video of
``8·(F - 1)`` pixel frames). The refiner is loaded once and kept on the pipeline for the next video from the same folder.
"""
from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Callable, Optional

import torch

from ..errors import VidlongError, named
from .common import pipeline_class_of, second_stage_config, second_stage_folder

#: diffusers' class of Sana-WM's refiner, in its folder's model_index.json
REFINER_CLASS = "SanaWMLTX2Refiner"
#: where ``refine`` True finds it from a Sana-WM folder: beside it, as diffusers' conversion script writes it; inside it
REFINER_SUFFIX, REFINER_SUBFOLDER = "-refiner", "refiner"


def own_refiner(folder: Path) -> Optional[Path]:
    """The refiner's folder of the Sana-WM folder `folder` (a LoRA link's base's too): ``<folder>-refiner`` beside it, else
    its ``refiner/`` subfolder, where one holds a `SanaWMLTX2Refiner`; else None."""
    from ..models import pipeline_folder

    for place in dict.fromkeys([Path(folder), pipeline_folder(Path(folder))]):
        for candidate in (place.parent / (place.name + REFINER_SUFFIX), place / REFINER_SUBFOLDER):
            if pipeline_class_of(candidate) == REFINER_CLASS:
                return candidate
    return None


def refiner_folder(refine, limits) -> Path:
    """The folder of the Sana-WM refiner that `refine` names, its configs not read (`check_refiner` checks them): True, the
    model folder's (`own_refiner`); a path, that folder. One line for a model folder without one where True asks for it."""
    if refine is not True:
        return Path(refine)
    folder = None if limits.folder is None else own_refiner(limits.folder)
    if folder is None:
        where = "this pipeline was loaded from no folder" if limits.folder is None else (
            f"{limits.folder} has no Sana-WM refiner beside it ({Path(limits.folder).name}{REFINER_SUFFIX}/) or in "
            f"{REFINER_SUBFOLDER}/")
        raise VidlongError(f"{named('refine')}: {where}; pass the folder of its {REFINER_CLASS} ({named('refine')} "
                           "path/to/SANA-WM-refiner), or drop it")
    return folder


def check_refiner(refine, limits) -> Path:
    """The folder of the Sana-WM refiner that `refine` names (`refiner_folder`), checked from its configs before any model
    loads: one line for what `refiner_folder` refuses, a path that is no folder, a folder that holds no
    `SanaWMLTX2Refiner`, or a refiner of other latent channels than the model's VAE makes."""
    folder = second_stage_folder(refiner_folder(refine, limits), "refine", REFINER_CLASS, "Sana-WM's refiner")
    channels = second_stage_config(folder, "transformer/config.json", "refine", REFINER_CLASS, "Sana-WM's refiner").get(
        "in_channels", 128)
    if channels != limits.geometry.channels:
        raise VidlongError(f"{named('refine')}: {folder} refines latents of {channels} channels, this model's VAE makes "
                           f"{limits.geometry.channels}; pass the refiner of this model's release")
    return folder


def check_refiner_request(request, limits, knobs: list, latent: Optional[int] = None) -> None:
    """One line, before any model loads, for a Sana-WM refine pass that cannot run (`vidlong.validate.check_refine`): LTX's
    stage-2 knobs `knobs` (its steps, strength, LoRA), a video of `latent` latent frames where given with no frame past the
    refiner's sink, or a refiner folder `check_refiner` refuses. ``upsample`` is refused for Sana-WM by `check_upsample`."""
    if knobs:
        raise VidlongError(f"Sana-WM's refiner runs its own call's 3 distilled sigmas, {named(knobs[0])} sets LTX's refine "
                           f"pass: drop {named(knobs[0])}")
    if latent is not None and latent <= refiner_settings(None)["sink_size"]:
        raise VidlongError(f"{named('refine')}: Sana-WM's refiner keeps latent frame 0 as its sink and refines the frames after "
                           f"it; this video has {latent}: ask for a longer one, or drop {named('refine')}")
    check_refiner(request.refine, limits)


def refiner_settings(folder: Optional[Path]) -> dict:
    """The settings a refined video records (JSON-ready): the refiner's `folder` (None: none named) and its call's
    defaults, which it runs with (``block_size``, ``kv_max_frames``, ``sink_size`` in latent frames, ``sigmas``)."""
    from diffusers import SanaWMLTX2Refiner

    defaults = inspect.signature(SanaWMLTX2Refiner.__call__).parameters
    return dict(refiner=None if folder is None else str(folder),
                **{name: defaults[name].default for name in ("block_size", "kv_max_frames", "sink_size")},
                sigmas=list(defaults["sigmas"].default))


def load_refiner(pipe, folder: Path):
    """The refiner in `folder` (checked by `check_refiner`), without a VAE, placed and kept as `kept_second_stage` places
    and keeps it."""
    from diffusers import SanaWMLTX2Refiner

    from .common import kept_second_stage

    return kept_second_stage(pipe, folder, "_vidlong_refiner", lambda path, dtype: SanaWMLTX2Refiner.from_pretrained(
        path, torch_dtype=dtype, local_files_only=True))


class BlockProgress:
    """The progress bar the refiner's call opens (``with self.progress_bar(total=blocks)``, ``update()`` a block), reporting
    0 as it opens (its total known from there), then each block to `progress(done, total)` in its Euler steps (`steps` a
    block)."""

    def __init__(self, total: int, progress: Callable[[int, int], None], steps: int):
        self.total, self.done, self.progress, self.steps = total, 0, progress, steps

    def __enter__(self):
        self.progress(0, self.total * self.steps)
        return self

    def __exit__(self, *_):
        return False

    def update(self, count: int = 1) -> None:
        self.done += count
        self.progress(self.done * self.steps, self.total * self.steps)


@torch.no_grad()
def refined_video(pipe, latents: torch.Tensor, folder: Path, prompt: str, fps: float, seed: int,
                  progress: Optional[Callable[[int, int], None]] = None) -> torch.Tensor:
    """The decoded video ``[T, 3, H, W]`` in 0-1 of Sana-WM's refiner in `folder` (`load_refiner`) on stage 1's normalised
    latents ``[1, C, F, h, w]``: its call with its defaults, `prompt`, `fps` and a CPU generator seeded with `seed`; the
    refined latents decoded by the pipeline's VAE and post-processed as the refiner's call does with a VAE (de-normalised,
    decoded, its first ``sink_size`` pixel frames dropped: the sink latent frame's one, ``T = 8·(F - 1)``).
    `progress(done, total)` as its call starts (0 done) and after each of its blocks, in Euler steps (each block runs its
    sigmas' steps)."""
    from .common import replaced

    refiner = load_refiner(pipe, folder)
    settings = refiner_settings(folder)
    reporting = contextlib.nullcontext() if progress is None else replaced(
        refiner, "progress_bar", lambda iterable=None, total=None: BlockProgress(total, progress, len(settings["sigmas"]) - 1))
    with reporting:
        refined = refiner(latents, prompt, fps=float(fps), generator=torch.Generator().manual_seed(int(seed)),
                          output_type="latent")
    decoded = pipe._decode_latents(refined)[:, :, settings["sink_size"]:]
    return pipe.video_processor.postprocess_video(decoded, output_type="pt")[0]
