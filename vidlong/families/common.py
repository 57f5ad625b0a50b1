"""What vidlong's pipelines of the families beyond Wan share (`vidlong.families`): the decode overlap of their chunk
decoders, the first frame as their image-to-video calls take it, the start noise of calls that draw it channels last, the
length of calls that name it otherwise than ``num_frames``, the one video of calls that return it unbatched, the empty
negative prompt of calls whose encoding fails on None, and two small contexts that set something for a call and put it
back."""
from __future__ import annotations

import contextlib
import json
import logging
import threading
from pathlib import Path
from typing import Optional

import torch

from ..errors import VidlongError, named

#: latent frames of the previous chunk an `OverlapDecoder` decodes again with each chunk
DECODE_OVERLAP = 2


def call_pixels(pipe, image, height: int, width: int) -> torch.Tensor:
    """The first frame as LTX-Video's and CogVideoX's image-to-video calls take it: ``[1, 3, height, width]`` in
    [-1, 1] on the execution device, in the prompt's (text encoder's) dtype; `image` as `load_image` takes it."""
    from ..generate import load_image

    pixels = pipe.video_processor.preprocess(load_image(image), height=height, width=width)
    return pixels.to(pipe._execution_device, pipe.text_encoder.dtype)


class ChannelsLastNoise:
    """The start noise of a pipeline whose call draws its noise channels last, ``[B, F, h, w, C]`` (Kandinsky 5's and 6's)."""

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for latents `shape` ``[1, C, F, h, w]``: plain noise as its call draws it, channels last (then as
        ``[1, C, F, h, w]``, a view), so that `generate` with no method makes its call's video for the same seed; SpecMix and
        FreeNoise as vidlong draws them for every model."""
        from ..schedulers.noise import initial_noise

        if kind != "plain":
            return initial_noise(kind, shape, native_frames, generator)
        batch, channels, frames, height, width = shape
        return torch.randn((batch, frames, height, width, channels), generator=generator).permute(0, 4, 1, 2, 3)


class LengthNamed:
    """A pipeline whose diffusers call names the video's length (pixel frames) otherwise than ``num_frames``, its
    `VidlongPipelineMixin.frames_argument` (Sana-Video's ``frames``, Latte's ``video_length``): vidlong's call takes
    ``num_frames`` for it too, as every vidlong pipeline does, and hands it on under its call's name; not both."""

    def __call__(self, *args, num_frames=None, **kwargs):
        """``num_frames`` (pixel frames, as every vidlong pipeline takes it) is its call's `frames_argument`; not both."""
        if num_frames is not None:
            if kwargs.get(self.frames_argument) is not None:
                raise VidlongError(f"give the length as num_frames or {self.frames_argument} (its call's name for it), not both")
            kwargs[self.frames_argument] = num_frames
        return super().__call__(*args, **kwargs)


class OneVideoOutput:
    """A pipeline whose call returns its one video unbatched (``[T, H, W, 3]``, or a list of frames: Sana-WM's, Cosmos 3's)
    and its latents (``output_type="latent"``) batched (``[1, C, F, h, w]``)."""

    def batched_frames(self, frames):
        """Its call's video as a batch of one; its latents as they come."""
        return frames if isinstance(frames, torch.Tensor) and frames.ndim == 5 else [frames]


class EmptyNegativePrompt:
    """A pipeline whose diffusers call encodes an empty negative prompt by default and fails on None (Allegro's, which
    lower-cases it, Sana-Video's, Latte's): a negative prompt of None (`generate`'s where none is given) is that default."""

    def complete_call(self, arguments: dict) -> None:
        if arguments.get("negative_prompt", "") is None and arguments.get("negative_prompt_embeds") is None:
            arguments["negative_prompt"] = ""


@contextlib.contextmanager
def replaced(owner, name: str, value):
    """Within it, ``owner.name`` is `value`; after it, what `owner` itself held there before (or, where it held
    nothing of its own, its class's again)."""
    missing = object()
    before = vars(owner).get(name, missing)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if before is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, before)


class SharedReplacement:
    """`replaced` for a process-wide swap that calls may hold at once (two pipelines in two threads, in any order):
    ``with shared.held(make)``: the first to enter makes it (``make()`` gives ``(owner, name, value)``), the last to leave
    undoes it, an error's too."""

    def __init__(self):
        self._lock, self._holders, self._replacement = threading.Lock(), 0, None

    @contextlib.contextmanager
    def held(self, make):
        with self._lock:
            if not self._holders:
                self._replacement = replaced(*make())
                self._replacement.__enter__()
            self._holders += 1
        try:
            yield
        finally:
            with self._lock:
                self._holders -= 1
                if not self._holders:
                    self._replacement.__exit__(None, None, None)
                    self._replacement = None


@contextlib.contextmanager
def quiet(module: str):
    """Within it, the logger of diffusers' `module` logs errors only (a warning about a choice its user did not make,
    repeated at every chunk of a stream: LTX-Video 0.9.5+'s timesteps given without sigmas, a guider's "experimental
    feature" at every copy)."""
    log = logging.getLogger(module)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def pipeline_class_of(folder: Path) -> Optional[str]:
    """The ``_class_name`` of the pipeline in `folder` (its model_index.json), or None where there is none to read."""
    try:
        index = json.loads((Path(folder) / "model_index.json").read_text())
    except (OSError, ValueError):
        return None
    return index.get("_class_name") if isinstance(index, dict) else None


def second_stage_path(value, field: str, pipeline_class: str, what: str) -> Path:
    """The folder `value` (the request's `field`) names, of diffusers' `pipeline_class` (`what`: the model as users know it,
    for the errors), checked before any model loads: one line for a value that is no path and a path that is no folder."""
    if not isinstance(value, (str, Path)) or not str(value):
        raise VidlongError(f"{named(field)} is the path of {what}'s folder ({pipeline_class}), got {value!r:.80}")
    folder = Path(value)
    if not folder.is_dir():
        raise VidlongError(f"{named(field)}: no folder at {folder}; pass the folder of {what} ({pipeline_class})")
    return folder


def second_stage_folder(value, field: str, pipeline_class: str, what: str) -> Path:
    """The folder `value` (the request's `field`) names, holding diffusers' `pipeline_class` (`what`: the model as users
    know it, for the errors), checked before any model loads: one line for a value that is no folder (`second_stage_path`)
    or a folder of another pipeline."""
    folder = second_stage_path(value, field, pipeline_class, what)
    found = pipeline_class_of(folder)
    if found != pipeline_class:
        raise VidlongError(f"{named(field)}: {folder} holds {'a ' + found if found else 'no diffusers pipeline'}, not {what} "
                           f"({pipeline_class}); pass its folder")
    return folder


def second_stage_config(folder: Path, config: str, field: str, pipeline_class: str, what: str) -> dict:
    """The JSON object in `folder`'s `config` file (a path inside it: its model's config.json) of diffusers'
    `pipeline_class` (`what`: the model as users know it), read before any model loads: one line for the request's `field`
    where it is missing or no JSON object."""
    try:
        found = json.loads((Path(folder) / config).read_text())
    except (OSError, ValueError):
        found = None
    if not isinstance(found, dict):
        raise VidlongError(f"{named(field)}: {folder} holds no readable {config}; pass the folder of {what} ({pipeline_class})")
    return found


def held_second_stage(pipe, folder, kept_as: str):
    """The model or pipeline of `folder` that `pipe` keeps as its attribute `kept_as` (a ``(resolved folder, made)`` pair,
    `kept_second_stage`'s, `vidlong.upsample.load_upsampler`'s), else None."""
    kept = getattr(pipe, kept_as, None)
    return kept[1] if kept is not None and kept[0] == Path(folder).resolve() else None


def kept_second_stage(pipe, folder, kept_as: str, load):
    """A pipeline of its own that runs on `pipe`'s video (Sana-WM's refiner, Kandinsky 6's video super-resolution):
    ``load(folder, dtype)`` from `folder` in `pipe`'s transformer's dtype, placed as `pipe` is (under diffusers' model CPU
    offload on its execution device where `pipe` is offloaded, else moved there), its progress bar off; kept on `pipe` as
    its attribute `kept_as` and given again for its next video from the same folder."""
    from ..pipeline import offloading_component

    folder = Path(folder).resolve()
    kept = held_second_stage(pipe, folder, kept_as)
    if kept is not None:
        return kept
    made = load(folder, pipe.transformer.dtype)
    if offloading_component(pipe) is not None:
        made.enable_model_cpu_offload(device=pipe._execution_device)
    else:
        made.to(pipe._execution_device)
    made.set_progress_bar_config(disable=True)
    setattr(pipe, kept_as, (folder, made))
    return made


def input_device(pipe, module) -> torch.device:
    """Where `module` of `pipe` (a VAE run outside the pipeline's call) takes its inputs: its own device, or the pipeline's
    execution device where its weights wait on the CPU for an offload hook (model CPU or group offloading) to move them
    there as it runs (the hook moves the weights, not the inputs)."""
    own = module.device
    return pipe._execution_device if own.type == "cpu" else own
