"""LTX-2.5's temporal refine rounds after its DFR pass (`GenerateRequest.temporal_refine` the folder of its temporal latent
upsampler, `temporal_rounds` 1 or 2; ``vidlong generate --temporal-refine FOLDER [--temporal-rounds 1|2]``): diffusers'
`LTX2DFRTemporalRefinePipeline`, one call a round, each doubling the frames (``N -> 2(N - 1) + 1`` pixel frames) and
the frame rate.

A round is not a pipeline folder of its own: as diffusers' docstring builds it, it runs over the DFR pipeline's own parts
(its transformer, VAEs, text encoder, connectors, vocoder) with the temporal latent upsampler (an
`LTX2LatentUpsamplerModel` with ``temporal_upsample``: a folder of its own, latents ``[1, C, F, h, w]`` ->
``[1, C, 2F - 1, h, w]``) and `LTXEulerAncestralRFScheduler` (``eta`` 0.5), which it needs in place of the folder's
flow-match scheduler. So the flag names that upsampler's folder (or a folder holding it in ``temporal_latent_upsampler/``:
a saved refine pipeline's, or a model folder's: a LoRA link's base's), checked before any model loads
(`check_temporal_refine`); it is loaded once and kept on the pipeline (`vidlong.upsample.load_upsampler`).

vidlong runs diffusers' documented chain: the DFR call with ``output_type="latent"`` (its raw padded canvas, its carry
keyframes and their pixel positions, its audio latents), then round 1, 2, ... each on the last one's latent output, its
``num_frames`` and ``frame_rate`` the input canvas's (untrimmed; the rate doubled a round), ``source_seconds`` the first
canvas's seconds (the frozen stage-1 sound's), ``round_index`` the round, a CPU generator seeded with the request's seed
(its noise and its tiles' ancestral seeds). A video from images gets the DFR pass's conditions in every round, as its
docstring asks: ``index`` on the request's grid (``condition_num_frames`` the request's frames, so that the last image's
latent frame is the request's, not the padded canvas's), which each round encodes as the pass did and places at
``2^round`` times the pixel frame it had in the pass (pixel frame ``2·p`` is frame ``p`` of the round's input at twice its
rate: the same second), in each tile that holds it; so the first image stays the first latent frame's clean target
(strength 1) and the last one is a keyframe at its second. The last canvas is cut to the request's length at the new
rate (``2^r·(n - 1) + 1`` frames, diffusers' `trim_canvas`) and decoded by the VAE as the pipelines decode
(`temporal_frames`); the sound is the DFR pass's, which the rounds keep, cut to those seconds.

The rounds share the DFR pipeline's transformer, so the request's methods act in them too: each tile of a round is a
canvas whose keyframe anchors and slots trail it, laid out as the DFR pass's (`CanvasSizes`), the same native window.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from ..errors import VidlongError, named
from ..progress import StepCount
from ..scalars import is_whole

#: diffusers' class of a round, and the class of its temporal latent upsampler (its folder's config.json)
REFINE_CLASS, UPSAMPLER_CLASS = "LTX2DFRTemporalRefinePipeline", "LTX2LatentUpsamplerModel"
#: the subfolder of a refine pipeline's (or a model's) folder that holds the temporal latent upsampler
UPSAMPLER_SUBFOLDER = "temporal_latent_upsampler"
#: the rounds vidlong runs: 2x and 4x the frames and the frame rate (diffusers: "the caller loops for 2x / 4x")
TEMPORAL_ROUNDS = (1, 2)
WHAT = "LTX-2.5's temporal latent upsampler"


def temporal_upsampler_folder(temporal_refine, limits) -> Path:
    """The folder of the temporal latent upsampler that `temporal_refine` (the request's ``temporal_refine``, or ``vidlong
    app --temporal-refine``'s) names, checked from its config before any model loads against the model of `limits`: one
    line for a model that is not LTX-2.5 (`vidlong.validate.DFR_PIPELINES`), True (no folder given: the app's rounds on a
    page served without one), a value that is no path, a path that is no folder, a folder of another pipeline, and an
    upsampler that is not temporal or of other latent channels than the model's VAE makes. A refine pipeline's or a model's
    folder (a LoRA link's base's) gives its ``temporal_latent_upsampler/``."""
    from ..validate import DFR_PIPELINES, own_upsampler
    from .common import pipeline_class_of, second_stage_config, second_stage_path

    if limits.pipeline not in DFR_PIPELINES:
        raise VidlongError(f"{named('temporal_refine')} runs LTX-2.5's temporal refine rounds ({REFINE_CLASS}) after its DFR "
                           f"pass; this model ({limits.pipeline or limits.family}) is not LTX-2.5: drop {named('temporal_refine')}")
    if temporal_refine is True:
        raise VidlongError(f"{named('temporal_refine')}: no folder of {WHAT} was given; pass it "
                           f"({named('temporal_refine')} path/to/temporal-upsampler)")
    folder = second_stage_path(temporal_refine, "temporal_refine", UPSAMPLER_CLASS, WHAT)
    held = own_upsampler(folder, UPSAMPLER_SUBFOLDER)
    if held is not None:
        folder = held
    elif pipeline_class_of(folder) is not None:
        raise VidlongError(f"{named('temporal_refine')}: {folder} holds a {pipeline_class_of(folder)}, not {WHAT} "
                           f"({UPSAMPLER_CLASS}, or a {REFINE_CLASS} with its {UPSAMPLER_SUBFOLDER}/); pass its folder")
    config = second_stage_config(folder, "config.json", "temporal_refine", UPSAMPLER_CLASS, WHAT)
    if config.get("_class_name") != UPSAMPLER_CLASS:
        raise VidlongError(f"{named('temporal_refine')}: {folder} holds a {config.get('_class_name')}, not {WHAT} "
                           f"({UPSAMPLER_CLASS}); pass its folder")
    if not is_temporal(config):
        raise VidlongError(f"{named('temporal_refine')}: {folder} is a spatial latent upsampler (larger frames), not a "
                           f"temporal one (temporal_upsample alone: twice the frames); pass {WHAT}'s folder")
    if config.get("in_channels", 128) != limits.geometry.channels:
        raise VidlongError(f"{named('temporal_refine')}: {folder} upsamples latents of {config.get('in_channels', 128)} "
                           f"channels, this model's VAE makes {limits.geometry.channels}; pass {WHAT} of this model's release")
    return folder


def check_temporal_refine(request, limits) -> Optional[Path]:
    """The folder of the temporal latent upsampler that ``request.temporal_refine`` names (`temporal_upsampler_folder`),
    checked before any model loads; None where it names none. One line also for ``temporal_rounds`` without it (on another
    model than LTX-2.5, naming that first) or not 1 or 2, and for ``decoder`` beside it."""
    from ..validate import DFR_PIPELINES

    given, rounds = request.temporal_refine, request.temporal_rounds
    if given is None:
        if rounds is not None and limits.pipeline not in DFR_PIPELINES:
            raise VidlongError(f"{named('temporal_rounds')} sets LTX-2.5's temporal refine rounds; this model "
                               f"({limits.pipeline or limits.family}) is not LTX-2.5: drop {named('temporal_rounds')}")
        if rounds is not None:
            raise VidlongError(f"{named('temporal_rounds')} sets LTX-2.5's temporal refine rounds: add "
                               f"{named('temporal_refine')} FOLDER, or drop {named('temporal_rounds')}")
        return None
    folder = temporal_upsampler_folder(given, limits)
    if rounds is not None and not (is_whole(rounds) and rounds in TEMPORAL_ROUNDS):
        raise VidlongError(f"{named('temporal_rounds')} is 1 or 2 (each round doubles the frames and the frame rate: 2x, 4x), "
                           f"got {rounds!r:.40}")
    if request.decoder is not None:
        raise VidlongError(f"{named('temporal_refine')} decodes its rounds' latents by the VAE, {named('decoder')} the DFR "
                           f"pass's by LTX-2.5's diffusion decoder: drop one of them")
    return folder


def is_temporal(config: dict) -> bool:
    """Whether an `LTX2LatentUpsamplerModel`'s config (its config.json) is LTX-2.5's temporal upsampler's: ``temporal_upsample``
    alone (twice the frames, not larger ones)."""
    return bool(config.get("temporal_upsample")) and not config.get("spatial_upsample", True)


def temporal_folder_line(folder: Path) -> Optional[str]:
    """The line every command (`vidlong info` too) refuses a ``--model`` folder with that holds LTX-2.5's temporal latent
    upsampler (its config.json: `is_temporal`) or a saved `LTX2DFRTemporalRefinePipeline` (its ``temporal_latent_upsampler/``
    beside the parts it shares with LTX-2.5) in place of a video model: what it is and how to use it; else None."""
    from .common import pipeline_class_of

    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        config = None
    if isinstance(config, dict) and config.get("_class_name") == UPSAMPLER_CLASS and is_temporal(config):
        what = f"{WHAT} ({UPSAMPLER_CLASS} with temporal_upsample)"
    elif pipeline_class_of(folder) == REFINE_CLASS:
        what = f"a {REFINE_CLASS}, whose {UPSAMPLER_SUBFOLDER}/ is {WHAT}"
    else:
        return None
    return (f"{folder} holds {what}, not a video model: pass it to vidlong generate --model <LTX-2.5 folder> --temporal-refine "
            f"{folder} (its temporal refine rounds after the DFR pass, each doubling the frames and the frame rate)")


def rounds_of(request) -> int:
    """The rounds a request checked by `check_temporal_refine` runs (``temporal_rounds``, else 1)."""
    return 1 if request.temporal_rounds is None else int(request.temporal_rounds)


def made_frames(frames: int, rounds: int) -> int:
    """Pixel frames `rounds` rounds make of a video of `frames` pixel frames (``N -> 2(N - 1) + 1`` each)."""
    return 2 ** rounds * (frames - 1) + 1


@dataclass(frozen=True)
class RoundsPlan:
    """What a request's temporal rounds run (`rounds_plan`), for its run estimate: `tiles` the (canvas latent frames,
    latent frames of tokens) of each tile of each round in order, its tokens the canvas's, then one latent frame each for the
    image conditions it holds past its first frame, its anchors and its slots; `steps` the forwards a tile runs (its
    sigmas, unguided); `frames` the pixel frames of the video the rounds make (decoded whole); `weights` the bytes of the
    temporal upsampler's weights its run loads (0 where the pipeline holds them)."""

    tiles: tuple
    steps: int
    frames: int
    weights: int


def tile_plans(frames: int, ratio: int, rounds: int) -> list:
    """diffusers' tiles (`temporal_tile_plan`) of each of `rounds` rounds after a DFR pass of `frames` pixel frames (its
    canvas and keyframe positions: `resolve_canvas`; `ratio` the VAE's temporal compression), as its rounds lay them out:
    each round's seams twice the last one's keyframe positions, its tiles' slots added to them after it; no model."""
    from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas, temporal_tile_plan

    canvas, _, positions = resolve_canvas(frames, ratio)
    plans = []
    for index in range(1, rounds + 1):
        seams, canvas = [2 * position for position in positions], made_frames(canvas, 1)
        plans.append(temporal_tile_plan(seams, canvas, 2 ** index, ratio))
        positions = sorted({*seams, *(slot for tile in plans[-1] for slot in tile.slots)})
    return plans


def rounds_steps(frames: int, ratio: int, rounds: int) -> int:
    """The steps `rounds` rounds after a DFR pass of `frames` pixel frames run (`ratio` the VAE's temporal compression): each
    tile of each round (`tile_plans`) its distilled sigmas, as a round's ``callback_on_step_end`` counts them; no model."""
    from diffusers.pipelines.ltx2.utils import TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES

    return len(TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES) * sum(map(len, tile_plans(frames, ratio, rounds)))


def rounds_plan(pipe, request, limits, latent_frames: int) -> Optional[RoundsPlan]:
    """The `RoundsPlan` of `request` (checked: `check_temporal_refine`) making `latent_frames` latent frames with `pipe`, from
    diffusers' own layout (`tile_plans`), its images placed as `temporal_rounds` places them and its
    upsampler's weights counted from its safetensors headers in the VAE's dtype, nothing loaded; None without rounds."""
    from diffusers.pipelines.ltx2.utils import TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES

    from ..generate import has_image
    from ..models import safetensors_shapes
    from ..upsample import held_upsampler

    folder = check_temporal_refine(request, limits)
    if folder is None:
        return None
    ratio, frames = pipe.vae_temporal_compression_ratio, pipe.call_num_frames(request, latent_frames)
    indices = [index for index, given in ((0, request.image), (pipe.last_image_index(dict(num_frames=frames)), request.last_image))
               if has_image(given)]
    pixels = [0 if index == 0 else (index - 1) * ratio + 1 for index in indices]  # diffusers' encode_conditions
    tiles = []
    for index, plan in enumerate(tile_plans(frames, ratio, rounds_of(request)), start=1):
        for tile in plan:
            appended = sum(tile.pixel_start < 2 ** index * pixel <= tile.pixel_end for pixel in pixels)  # at its start: in place
            length = tile.interval.end - tile.interval.start
            tiles.append((length, length + appended + len(tile.anchors) + len(tile.slots)))
    shapes = safetensors_shapes(sorted(folder.glob("*.safetensors"))).values()
    weights = 0 if held_upsampler(pipe, folder) is not None else sum(int(np.prod(shape)) for shape in shapes)
    return RoundsPlan(tuple(tiles), len(TEMPORAL_ROUND_DISTILLED_SIGMA_VALUES), made_frames(frames, rounds_of(request)),
                      weights * pipe.vae.dtype.itemsize)


def refine_pipeline(pipe, folder: Path):
    """A round's pipeline over `pipe`'s own modules (no copy: the methods applied to its transformer act;
    `vidlong.pipeline.over_modules`, which keeps its prompt padding side), the temporal latent upsampler in `folder`
    (`vidlong.upsample.load_upsampler`: kept on `pipe`) and `LTXEulerAncestralRFScheduler` at diffusers'
    ``TEMPORAL_ANCESTRAL_ETA``, its progress bar off."""
    from diffusers import LTXEulerAncestralRFScheduler
    from diffusers.pipelines.ltx2.utils import TEMPORAL_ANCESTRAL_ETA

    from ..pipeline import over_modules
    from ..upsample import load_upsampler
    from .ltx2_dfr import VidLongLTX2DFRTemporalRefinePipeline

    refine = over_modules(VidLongLTX2DFRTemporalRefinePipeline, pipe, temporal_latent_upsampler=load_upsampler(pipe, folder),
                          scheduler=LTXEulerAncestralRFScheduler(eta=TEMPORAL_ANCESTRAL_ETA))
    refine.set_progress_bar_config(disable=True)
    return refine


@torch.no_grad()
def temporal_rounds(pipe, output, folder: Path, rounds: int, call: dict, seed: int, steps: StepCount):
    """The last round's latent output (`LTX2DFRPipelineOutput`: its raw padded canvas ``[1, C, F', h, w]``, the sound's
    latents) of `rounds` rounds (`refine_pipeline`) on `output`, the DFR call's latent output (``frames``, ``keyframes``,
    ``keyframe_positions``, ``audio``) for `call`: its ``prompt``, ``height``, ``width``, ``num_frames`` (the request's
    pixel frames), ``frame_rate`` and, from images, ``conditions``; each round's generator a CPU one seeded with `seed`;
    `steps` (its total `rounds_steps`) started before the upsampler loads and stepped after each step of each tile of each
    round, so that a report that raises ends the run at the next step."""
    from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas

    ratio = pipe.vae_temporal_compression_ratio
    steps.start()
    refine = refine_pipeline(pipe, folder)
    canvas, fps = resolve_canvas(call["num_frames"], ratio)[0], float(call["frame_rate"])
    seconds = canvas / fps  # the DFR pass's sound, which each round cuts by its tiles' seconds
    for index in range(1, rounds + 1):
        output = refine(prompt=call["prompt"], latents=output.frames, keyframes_latents=output.keyframes,
                        keyframe_positions=output.keyframe_positions, audio_latents=output.audio,
                        conditions=call.get("conditions"), condition_num_frames=call["num_frames"], height=call["height"],
                        width=call["width"], num_frames=canvas, frame_rate=fps, source_seconds=seconds, round_index=index,
                        generator=torch.Generator().manual_seed(int(seed)), output_type="latent",
                        callback_on_step_end=steps.on_step_end, callback_on_step_end_tensor_inputs=[])
        canvas, fps = made_frames(canvas, 1), 2 * fps
    return output


@torch.no_grad()
def temporal_frames(pipe, output, frames: int, frame_rate: float) -> tuple:
    """(uint8 frames ``[frames, H, W, 3]``, its `vidlong.video_io.Soundtrack`, the normalised latents ``[1, C, F, h, w]``
    decoded) of a round's latent output (`temporal_rounds`) cut to `frames` pixel frames at `frame_rate`
    (`LTX2Family.latent_output`: diffusers' `trim_canvas`, the sound to those seconds), decoded by the VAE whole, through
    its spatial tiles (`vidlong.upsample.tiled_decode`), as its pipelines decode (``decode_timestep`` 0: no decode noise)."""
    from types import SimpleNamespace

    from ..upsample import tiled_decode
    from ..video_io import rounded_uint8

    latents, audio = pipe.latent_output(output.frames, output.audio, frames, frame_rate)
    with tiled_decode(pipe.vae):
        video = pipe.decode_raw(latents)
    made: np.ndarray = rounded_uint8(pipe.video_processor.postprocess_video(video, output_type="np")[0])
    vae = pipe.vae
    normalised = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    return made, pipe.soundtrack(SimpleNamespace(audio=audio)), normalised
