"""Kandinsky 6's video super-resolution after a Kandinsky 6 video (`GenerateRequest.upsample` the folder of diffusers'
`Kandinsky6SRPipeline`, ``vidlong generate --upsample FOLDER [--upsample-scale 2|2.25|4]`` beside a Kandinsky 6 model).

The SR pipeline works in pixels: its own K-VAE encodes the video, its latent upscaler bank and SR transformer refine it
tile by tile in space, the whole clip at once in time (clips of ``1 + 4k`` pixel frames). vidlong hands it the generated
uint8 frames ``[T, H, W, 3]`` (as 0-1 floats) and rounds what it returns as every decoded video is rounded. A video no
longer than the SR model's window (`sr_settings`: ``window_frames`` pixel frames, 121 = the 5 s its releases were trained
on) is one call of its pipeline, bit for bit; a longer one runs in windows of exactly that length (`window_starts`), so
memory and positions stay as trained, blended linearly where they overlap (`window_weights`, `blended_windows`). Every call
draws its noise from one generator seeded with the request's seed, window after window. The sound is the video's,
unchanged. The folder and the scale are checked before any model loads (`check_sr`); the SR pipeline is loaded once and
kept on the Kandinsky 6 pipeline for its next video upsampled from the same folder.
"""
from __future__ import annotations

import inspect
import json
from importlib import resources
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
import yaml

from ..errors import VidlongError, named
from ..scalars import is_whole
from .common import second_stage_folder

#: diffusers' class of Kandinsky 6's video super-resolution, in its folder's model_index.json
SR_CLASS = "Kandinsky6SRPipeline"
#: the scales its call's ``resolution_scale`` takes (its ``check_inputs``); 2.25: a 1.125x bilinear pre-upscale, then 2x
SR_SCALES = (2, 2.25, 4)
#: what a folder's own vidlong.yaml may set over `vidlong.configs`' ``upsamplers/kandinsky6-sr.yaml``
SR_KEYS = ("window_frames", "overlap_frames", "num_inference_steps")


def call_default(name: str):
    """The default of its call's argument `name` (``resolution_scale`` 2.25, ``num_inference_steps`` 4 in diffusers
    0.42.1)."""
    from diffusers import Kandinsky6SRPipeline

    return inspect.signature(Kandinsky6SRPipeline.__call__).parameters[name].default


def _component_config(folder: Path, part: str, name: str) -> dict:
    """The config of the SR folder's component `part` (its `name` file), or one line naming it."""
    try:
        config = json.loads((Path(folder) / part / name).read_text())
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        raise VidlongError(f"{named('upsample')}: {folder} holds no readable {part}/{name}; pass the folder of Kandinsky 6's "
                           f"video super-resolution ({SR_CLASS})")
    return config


def sr_settings(folder: Path) -> dict:
    """The SR run's settings (JSON-ready) for the folder `folder`: ``window_frames`` (pixel frames of one call, ``1 + 4k``
    by its K-VAE's ``temporal_compression_ratio``), ``overlap_frames`` (pixel frames two windows share, 1 to a window's
    less one) and ``num_inference_steps`` (whole, >= 1), from ``upsamplers/kandinsky6-sr.yaml`` (its steps by the folder's
    scheduler class, its call's default for another) under the folder's own vidlong.yaml; one line for a value out of
    range, naming where it came from."""
    from ..models import read_yaml

    defaults = yaml.safe_load((resources.files("vidlong.configs") / "upsamplers" / "kandinsky6-sr.yaml").read_text())
    scheduler = _component_config(folder, "scheduler", "scheduler_config.json").get("_class_name")
    settings = dict(window_frames=defaults["window_frames"], overlap_frames=defaults["overlap_frames"],
                    num_inference_steps=defaults["num_inference_steps"].get(scheduler, call_default("num_inference_steps")))
    own = Path(folder) / "vidlong.yaml"
    given = {key: value for key, value in read_yaml(own).items() if key in SR_KEYS} if own.is_file() else {}
    settings.update(given)
    where = f"{own}" if given else "vidlong's upsamplers/kandinsky6-sr.yaml"
    ratio = _component_config(folder, "vae", "config.json").get("temporal_compression_ratio", 4)
    window, overlap, steps = (settings[key] for key in SR_KEYS)
    if not (is_whole(window) and window >= 1 + ratio and (window - 1) % ratio == 0):
        raise VidlongError(f"window_frames in {where} must be 1 + {ratio}k pixel frames (k >= 1: its K-VAE's clips), got "
                           f"{window!r}; fix it")
    if not (is_whole(overlap) and 1 <= overlap < window):
        raise VidlongError(f"overlap_frames in {where} must be a whole number of pixel frames from 1 to {window - 1} (its "
                           f"window_frames less one), got {overlap!r}; fix it")
    if not (is_whole(steps) and steps >= 1):
        raise VidlongError(f"num_inference_steps in {where} must be a whole number >= 1, got {steps!r}; fix it")
    return dict(settings, window_frames=int(window), overlap_frames=int(overlap), num_inference_steps=int(steps))


def tiled_side(side: int, scale: float, spatial: int) -> int:
    """The pixel height (or width) its call tiles of a video `side` pixels high at `scale`, its K-VAE of `spatial` pixels a
    latent: the side floored to a multiple of `spatial` (its video processor's), for 2.25 then pre-upscaled by 1.125 and
    rounded to a multiple of `spatial` (as its call rounds it)."""
    side = side // spatial * spatial
    return round(side * 1.125 / spatial) * spatial if scale == 2.25 else side


def sr_side(side: int, scale: float, spatial: int) -> int:
    """The pixel height (or width) its call makes of a video `side` pixels high at `scale` (`tiled_side`, times 2 for 2.25,
    else times the scale)."""
    return tiled_side(side, scale, spatial) * (2 if scale == 2.25 else int(scale))


def sr_spatial(folder: Path) -> int:
    """Pixels a latent of the K-VAE in the SR folder `folder` (2 to the power of its encoder's levels less one, as the
    VAE's ``spatial_compression_ratio``), from its config alone."""
    return 2 ** (len(_component_config(folder, "vae", "config.json").get("encoder_block_out_channels", [0] * 5)) - 1)


def check_sr(upsample, limits, scale=None, size: Optional[tuple] = None) -> Path:
    """The folder of Kandinsky 6's video super-resolution that `upsample` names, checked from its configs before any model
    loads (`sr_settings` too), for a Kandinsky 6 model (`limits`); `scale`: the request's ``upsample_scale`` (None: its
    call's default); `size`: the video's ``(height, width)`` in pixels where known. One line for True (the SR model is a
    folder of its own), a path that is no folder or holds another pipeline, a scale its call does not take, and a video
    smaller than a tile of its transformer's at that scale."""
    if upsample is True:
        raise VidlongError(f"{named('upsample')}: Kandinsky 6's video super-resolution is a pipeline folder of its own "
                           f"({SR_CLASS}, e.g. Kandinsky-6.0-VSR-distilled2steps-5s-Diffusers); pass its folder "
                           f"({named('upsample')} path/to/VSR)")
    folder = second_stage_folder(upsample, "upsample", SR_CLASS, "Kandinsky 6's video super-resolution")
    if scale is not None and scale not in SR_SCALES:
        raise VidlongError(f"{named('upsample_scale')} of Kandinsky 6's video super-resolution is 2, 2.25 or 4 (its call's "
                           f"resolution_scale), got {scale!r:.40}")
    sr_settings(folder)
    if size is not None:  # its call's tile: its transformer's trained size of the nearest aspect, over its scale
        scale = call_default("resolution_scale") if scale is None else scale
        height, width = (tiled_side(side, scale, sr_spatial(folder)) for side in size)
        tiles = _component_config(folder, "transformer", "config.json").get("tile_sizes", [[512, 512]])
        nearest = min(tiles, key=lambda hw: abs(hw[1] / hw[0] - width / height))
        tile = [side // (2 if scale == 2.25 else int(scale)) for side in nearest]
        if height < tile[0] or width < tile[1]:
            raise VidlongError(f"{named('upsample')}: Kandinsky 6's video super-resolution at {scale:g}x refines tiles of "
                               f"{tile[1]}x{tile[0]} pixels of the video, larger than its {size[1]}x{size[0]}: make the video "
                               f"larger, or take another {named('upsample_scale')}")
    return folder


def window_starts(total: int, window: int, overlap: int) -> list:
    """The first pixel frames of the SR windows over a video of `total` frames: one window (at 0) for a video no longer than
    `window`; else every ``window - overlap`` frames while a window ends before the video does, then one ending with it
    (its last frames: that window may share more than `overlap` frames with the one before, and reach the one before that)."""
    if total <= window:
        return [0]
    return [*range(0, total - window, window - overlap), total - window]


def window_weights(starts: list, index: int, window: int) -> np.ndarray:
    """The blend weight ``[window]`` of each frame of window `index` (of `window` frames at `starts`): 1, ramped linearly
    over the frames it shares with the window before (``(j + 1) / (L + 1)`` at its frame j, L frames shared) and after
    (``(window - j) / (L + 1)``); the least of them. Over frames two windows share, the two weights sum to 1: a linear
    crossfade from the earlier to the later one."""
    frame, weight = np.arange(window), np.ones(window)
    if index > 0:
        weight = np.minimum(weight, (frame + 1) / (starts[index - 1] + window - starts[index] + 1))
    if index + 1 < len(starts):
        weight = np.minimum(weight, (window - frame) / (starts[index] + window - starts[index + 1] + 1))
    return weight


def blended_windows(total: int, starts: list, window: int, run: Callable[[int], np.ndarray]) -> np.ndarray:
    """uint8 frames ``[total, H, W, 3]`` of windows `run(start)` (float frames ``[window, H, W, 3]`` in 0-1 of the window at
    each of `starts`, in order), each frame ``sum(w_i · x_i) / sum(w_i)`` over the windows holding it (`window_weights`),
    rounded as `vidlong.video_io.rounded_uint8` rounds; a frame is rounded once no later window holds it, so that at most
    one window's frames are kept in float."""
    from ..video_io import rounded_uint8

    made = held = weights = None  # `held`, `weights`: the sums of the frames from `first` on, not yet rounded
    first = 0
    for index, start in enumerate(starts):
        frames = run(start)
        if made is None:
            made = np.empty((total, *frames.shape[1:]), np.uint8)
            held, weights = np.zeros((0, *frames.shape[1:]), np.float32), np.zeros(0, np.float32)
        grow = start + len(frames) - first - len(held)
        held = np.concatenate([held, np.zeros((grow, *frames.shape[1:]), np.float32)])
        weights = np.concatenate([weights, np.zeros(grow, np.float32)])
        weight = window_weights(starts, index, window)[:len(frames)].astype(np.float32)
        held[start - first:] += frames * weight[:, None, None, None]
        weights[start - first:] += weight
        done = (starts[index + 1] if index + 1 < len(starts) else total) - first
        made[first:first + done] = rounded_uint8(held[:done] / weights[:done, None, None, None])
        held, weights, first = held[done:], weights[done:], first + done
    return made


def load_sr(pipe, folder: Path):
    """The SR pipeline in `folder` (checked by `check_sr`), placed and kept as `kept_second_stage` places and keeps it, its
    transformer's blocks compiled on CUDA (its flex attention uncompiled materialises the whole attention matrix: diffusers'
    example compiles them)."""
    from diffusers import Kandinsky6SRPipeline

    from .common import kept_second_stage

    def load(path: Path, dtype: torch.dtype):
        sr = Kandinsky6SRPipeline.from_pretrained(path, dtype=dtype, local_files_only=True)
        if torch.device(pipe._execution_device).type == "cuda":
            sr.transformer.compile_repeated_blocks(fullgraph=True)
        return sr

    return kept_second_stage(pipe, folder, "_vidlong_sr", load)


@torch.no_grad()
def sr_frames(pipe, frames: np.ndarray, folder: Path, scale: Optional[float], seed: int,
              progress: Optional[Callable[[int, int], None]] = None) -> tuple:
    """(uint8 frames ``[T, s·H, s·W, 3]``, the run's settings) of Kandinsky 6's video super-resolution in `folder`
    (`load_sr`, `sr_settings`) on the uint8 frames ``[T, H, W, 3]`` (T = 1 + 4k) of a Kandinsky 6 video at `scale` (None:
    its call's default): its call on each window (`window_starts`) as 0-1 floats, ``output_type="np"``, a CPU generator
    seeded with `seed` for all of them in turn, the windows blended (`blended_windows`); `progress(done, total)` with 0
    done before it loads (a progress bar's stage then the upsample's, not the decode's before it), then after each window."""
    settings = sr_settings(folder)
    total = len(frames)
    window = min(total, settings["window_frames"])
    starts = window_starts(total, window, settings["overlap_frames"])
    if progress is not None:
        progress(0, len(starts))
    sr = load_sr(pipe, folder)
    scale = call_default("resolution_scale") if scale is None else scale
    generator = torch.Generator().manual_seed(int(seed))

    def run(start: int) -> np.ndarray:
        clip = frames[start:start + window].astype(np.float32) / 255
        made = sr(video=clip, resolution_scale=scale, num_inference_steps=settings["num_inference_steps"],
                  generator=generator, output_type="np").frames[0]
        if progress is not None:
            progress(starts.index(start) + 1, len(starts))
        return made

    made = blended_windows(total, starts, window, run)
    return made, dict(settings, resolution_scale=scale, windows=len(starts))
