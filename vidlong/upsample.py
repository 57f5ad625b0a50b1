"""A generated LTX-Video or LTX-2 video made larger by its latent upsampler (`GenerateRequest.upsample`, ``vidlong generate
--upsample [FOLDER]``), as their users' two-stage workflow does after a first stage at a lower size.

The video's final normalised latents ``[1, C, F, h, w]`` (vidlong's, with or without the methods) go through diffusers' own
latent upsample pipeline (`LTXLatentUpsamplePipeline`, `LTX2LatentUpsamplePipeline`), built over the loaded pipeline's VAE
and the upsampler as their docstrings build it: de-normalised, upsampled to ``[1, C, F, s·h, s·w]`` (s = 2 for the
released upsamplers; LTX-2's rational ones 1.5 too), then decoded by the VAE to ``s·H x s·W`` pixels at the same frame count.
Diffusers' defaults stand: no AdaIN to the first stage's statistics (``adain_factor`` 0), no tone mapping
(``tone_map_compression_ratio`` 0), decode timestep 0 (as vidlong's generation decodes: no decode noise; but for the
long multi-prompt pipeline, whose own call decodes at ``decode_timestep`` 0.05 with noise 0.025 where its VAE takes a
timestep: its upsampled video is decoded clean). The latents are the whole video's its call decodes (`GenerateResult.latents`:
the long call's windows joined; without LTX-2's keyframe and reference tokens, which follow the video's). The decode
runs through the VAE's spatial tiles (`tiled_decode`), which bound its memory by a tile's area rather than the frame's; it
still grows with the video's length, as vidlong's decode of the generated video does. LTX-2's sound is its call's,
unchanged. The upsampler's folder is checked before any model loads
(`vidlong.validate.check_upsample`).
"""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import torch


def upsample_classes(family: str) -> tuple:
    """(its latent upsampler model class, its latent upsample pipeline class) of `family` ("ltx-video", "ltx-2"), diffusers'
    classes that `vidlong.validate.LATENT_UPSAMPLERS` names (the model class as the pipeline's module imports it: diffusers
    exports the pipeline alone)."""
    import importlib

    import diffusers

    from .validate import LATENT_UPSAMPLERS

    _, model_name, pipeline_name = LATENT_UPSAMPLERS[family]
    pipeline_class = getattr(diffusers, pipeline_name)
    return getattr(importlib.import_module(pipeline_class.__module__), model_name), pipeline_class


def spatial_scale(folder: Path) -> float:
    """The factor the latent upsampler in `folder` (checked by `vidlong.validate.check_upsample`) scales the latents' height
    and width by, read from its config.json alone (no weights): an LTX-2 upsampler's ``rational_spatial_scale`` where it
    runs its rational resampler (``use_rational_resampler``: 1.5 for LTX-2's 1.5x releases), else 2 (a pixel shuffle by 2:
    LTX-Video's, LTX-2's without the rational resampler); diffusers' defaults (2.0, True) where the config names none."""
    from .validate import LATENT_UPSAMPLERS

    config = json.loads((Path(folder) / "config.json").read_text())
    rational = config.get("_class_name") == LATENT_UPSAMPLERS["ltx-2"][1] and config.get("use_rational_resampler", True)
    return float(config.get("rational_spatial_scale", 2.0)) if rational else 2.0


def upsampled_side(side: int, spatial: int, scale: float) -> int:
    """The pixel height (or width) of a video `side` pixels high (a multiple of the VAE's `spatial` ratio) once its latents
    are upsampled by `scale` and decoded: its latent side times the scale, rounded up (the rational resampler's
    ``floor((num·h - 1) / den) + 1`` for a scale ``num/den``; 2x: twice it), times `spatial`."""
    return math.ceil(side // spatial * scale) * spatial


def held_upsampler(pipe, folder: Path):
    """The latent upsampler of `folder` that `pipe` holds (`load_upsampler` kept it), else None."""
    from .families.common import held_second_stage

    return held_second_stage(pipe, folder, "_vidlong_upsampler")


def load_upsampler(pipe, folder: Path):
    """The latent upsampler in `folder` (checked by `vidlong.validate.check_upsample`) in the VAE's dtype, on the pipeline's
    execution device; kept on `pipe` for its next video upsampled from the same folder."""
    kept = held_upsampler(pipe, folder)
    if kept is not None:
        return kept
    model_class = upsample_classes(pipe.facts()["family"])[0]
    model = model_class.from_pretrained(folder, torch_dtype=pipe.vae.dtype, local_files_only=True).eval()
    model.to(pipe._execution_device)
    pipe._vidlong_upsampler = (Path(folder).resolve(), model)
    return model


def upsample_pipeline(pipe, folder: Path):
    """Diffusers' latent upsample pipeline of `pipe`'s family over its VAE and the upsampler in `folder`."""
    upsample = upsample_classes(pipe.facts()["family"])[1](vae=pipe.vae, latent_upsampler=load_upsampler(pipe, folder))
    upsample.set_progress_bar_config(disable=True)
    return upsample


@contextlib.contextmanager
def tiled_decode(vae):
    """Within it, the VAE decodes by diffusers' spatial tiles (``vae.enable_tiling()``, as the upsample pipelines'
    docstring calls it and `vidlong.pipeline.load_pipeline` does for the VAEs it tiles: tiles of 512 pixels, 448 apart, for
    frames past 512 pixels a side), its own setting put back after. Its temporal tiles (``use_framewise_decoding``), which
    no diffusers pipeline turns on, stay off: on the tiny test VAEs their decode was up to 227 (LTX-Video) and 246 (LTX-2)
    grey levels off the whole video's, from its first frame on."""
    tiled = vae.use_tiling
    vae.enable_tiling()
    try:
        yield
    finally:
        vae.use_tiling = tiled


def upsampled(pipe, latents: torch.Tensor, folder: Path, **call):
    """The first output of diffusers' latent upsample pipeline (`upsample_pipeline`) on the normalised latents
    ``[1, C, F, h, w]``, moved to the pipeline's execution device, with its call's other arguments `call` (``output_type``
    "latent": the upsampled latents ``[1, C, F, s·h, s·w]``; "pt": the decoded video ``[1, T, 3, s·H, s·W]``)."""
    normalised = dict(latents_normalized=True) if pipe.facts()["family"] == "ltx-2" else {}  # LTX-Video's always de-normalises
    return upsample_pipeline(pipe, folder)(latents=latents.to(pipe._execution_device), return_dict=False, **normalised,
                                           **call)[0]


@torch.no_grad()
def upsampled_frames(pipe, latents: torch.Tensor, folder: Path, height: int, width: int, seed: int) -> np.ndarray:
    """uint8 frames ``[T, s·H, s·W, 3]`` of the normalised latents ``[1, C, F, h, w]`` of a `height` x `width` pixel video
    (T = the pixel frames F latent frames decode to) upsampled by the latent upsampler in `folder` (`upsampled`, diffusers'
    defaults) and decoded through the VAE's spatial tiles (`tiled_decode`); its decode noise, drawn where the VAE is
    timestep-conditioned (at scale 0: none added), from `seed` (`vidlong.video_io.uint8_frames`)."""
    from .video_io import uint8_frames

    with tiled_decode(pipe.vae):
        video = upsampled(pipe, latents, folder, height=height, width=width, output_type="pt",
                          generator=torch.Generator().manual_seed(int(seed)))
    return uint8_frames(video[0])
