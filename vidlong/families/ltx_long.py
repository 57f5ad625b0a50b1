"""LTX-Video made long by its own temporal windows under vidlong (`vidlong.families`): diffusers'
`LTXI2VLongMultiPromptPipeline` (LTX-Video 0.9.8 13B distilled in its docs), for text and, with an image, image to video.

Its call makes the video window after window (``temporal_tile_size`` pixel frames each, overlapping by
``temporal_overlap``; both divided by the VAE's 8 to latent frames), each window one denoising of its own, its noise
drawn from ``seed + its first latent frame``, its prompt its own (a prompt with ``|`` gives one a window, the last
repeated), the previous window's last latent frames and the image's latent appended to its tokens as conditions, its
output cross-faded into the one before (AdaIN to the first window's statistics); the whole video is decoded once at
the call's end, by spatial tiles, with decode noise drawn over all its latent frames.

Units: ``temporal_tile_size`` and ``temporal_overlap`` pixel frames (its call's); windows in latent frames.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import torch
from diffusers import LTXI2VLongMultiPromptPipeline
from diffusers.pipelines.ltx.pipeline_ltx_i2v_long_multi_prompt import split_into_temporal_windows

from .. import hooks
from ..errors import VidlongError, named
from ..models import TILED_DECODE_CELLS
from ..pipeline import VidlongPipelineMixin
from ..scalars import is_whole
from .ltx import LTXFamily

#: its call's window and overlap where none is given (pixel frames; its call's defaults)
CALL_TILE, CALL_OVERLAP = 80, 24


def call_windows(latent_frames: int, tile: int = CALL_TILE, overlap: int = CALL_OVERLAP, temporal: int = 8) -> list:
    """Its call's windows ``[(start, end), ...]`` (latent frames, end exclusive) over `latent_frames`, for a `tile` and an
    `overlap` in pixel frames, as its call divides them by the VAE's `temporal` ratio."""
    return split_into_temporal_windows(latent_frames, max(1, tile // temporal), max(0, overlap // temporal), temporal)


def window_tile(latent_frames: Optional[int], methods: bool, temporal: int = 8) -> int:
    """The ``temporal_tile_size`` (pixel frames) vidlong hands its call for a video of `latent_frames` where none is given:
    its default (80) without `methods`, with them the whole video's (`latent_frames` times the VAE's `temporal` ratio),
    at least 80."""
    return CALL_TILE if not methods or latent_frames is None else max(CALL_TILE, temporal * latent_frames)


def prompt_parts(prompt) -> int:
    """How many per-window prompts a call's `prompt` gives (``|`` parts of one string; 1 otherwise)."""
    return len(prompt.split("|")) if isinstance(prompt, str) else 1


def schedule_refusal() -> VidlongError:
    """A prompt schedule's one-line refusal (`vidlong.validate.check_prompt_timeline`): its call takes a prompt a window,
    by ``|``."""
    return VidlongError(f"this model's call takes a prompt a window, not a prompt schedule: give {named('prompt')} as "
                        "\"first window's | second window's | ...\" (the last goes on over the windows after it)")


def check_window_request(prompt: str, latent_frames: int, methods: bool, temporal: int = 8) -> None:
    """One line where `generate`'s ``|`` prompt for a video of `latent_frames` has more parts than its call's windows (its
    call would leave the last unread; fewer are its call's rule: the last part goes on), or an empty part (its call would
    run that window, and those after it that the part goes on over, on no prompt). With `methods` applied its one
    window is the whole video's, whatever its length: the fix is one prompt, or no method."""
    empty = next((i for i, part in enumerate(prompt.split("|"), start=1) if not part.strip()), None)
    if empty is not None:
        raise VidlongError(f"{named('prompt')} part {empty} (split by '|', one a window) is empty: give that window a prompt, "
                           "or drop its '|'")
    parts = prompt_parts(prompt)
    windows = len(call_windows(latent_frames, window_tile(latent_frames, methods, temporal), CALL_OVERLAP, temporal))
    if parts <= windows:
        return
    if methods:
        raise VidlongError(f"{named('prompt')} gives {parts} prompts (split by '|', one a window) but with a method its call "
                           f"makes one window of the whole video: give one prompt, or {named('method')} none for its own "
                           f"windows of {CALL_TILE} frames, a prompt each")
    raise VidlongError(f"{named('prompt')} gives {parts} prompts (split by '|', one a window) but this video has "
                       f"{windows} window{'s' * (windows != 1)}: give at most {windows}, or make the video longer")


def check_window_steps(steps, name: str) -> None:
    """One line where `steps` (its argument `name`) is under 2: its call runs each window's timesteps but the last, so
    1 step would leave every window the noise it starts from."""
    if is_whole(steps) and steps < 2:  # a NumPy integer too: its call's arguments are made plain after this check
        raise VidlongError(f"{name} {steps} would denoise nothing: this model's call runs each window's steps but the last; "
                           "give 2 or more")


def check_window_sizes(tile, overlap, temporal: int = 8) -> None:
    """One line unless ``temporal_overlap`` (pixel frames) leaves each window a new latent frame: below
    ``temporal_tile_size`` once both are divided by the VAE's `temporal` ratio (its call would step a frame at a time)."""
    for name, value in (("temporal_tile_size", tile), ("temporal_overlap", overlap)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (temporal if name == "temporal_tile_size" else 0):
            least = f">= {temporal} (one latent frame)" if name == "temporal_tile_size" else ">= 0"
            raise VidlongError(f"{name} must be a whole number of pixel frames {least}, got {value!r}")
    if overlap // temporal >= tile // temporal:
        raise VidlongError(f"temporal_overlap {overlap} must be under temporal_tile_size {tile} in "
                           f"latent frames ({overlap // temporal} >= {tile // temporal}, pixel frames // {temporal}): lower it")


class VidLongLTXI2VLongMultiPromptPipeline(LTXFamily, VidlongPipelineMixin, LTXI2VLongMultiPromptPipeline):
    """diffusers' `LTXI2VLongMultiPromptPipeline` with vidlong's surface. With no method its call is diffusers' bit for
    bit; vidlong's ``image=`` is its ``cond_image`` (the image-to-video twin's, as `generate --image` hands it) and
    `generate` hands its call the request's seed (``seed``, `seed_argument`) and its generator (the decode noise's).

    vidlong's methods act on each window's transformer forward: on the window's own frames, the frames its call appends
    after them as conditions seen by every video query unmodified, as text (`vidlong.attention.adapters.ltx`). With
    methods applied and no ``temporal_tile_size`` given, its window is the whole video (`window_frames`): one window, no
    seam, the methods stretching the native window (the spec's: its call's default window, ``temporal_tile_size`` 80 pixel
    frames // 8 = 10 latent frames, 73 pixel frames as a video of its own) over it; with none, its call's windows.
    `generate` hands its call no ``latents=`` (its ``latents=`` are the base its windows' noise is mixed into, not noise).
    It does not stream or extend (`FamilyAdapter.no_stream_pipelines` of the LTX-Video adapter)."""

    call_redraws_from = "noise"  # its decode noise, from the generator as its call is handed it
    seed_argument = "seed"

    def __call__(self, *args, image=None, **kwargs):
        """``image=`` is its call's ``cond_image`` (not both); the latents it decodes kept (`vae_decode_tiled`)."""
        if image is not None:
            if kwargs.get("cond_image") is not None:
                raise VidlongError(f"give the first frame as {named('image')} or cond_image (its call's name), "
                                   "not both")
            kwargs["cond_image"] = image
        self._decoded = None
        return super().__call__(*args, **kwargs)

    def vae_decode_tiled(self, latents, *args, **kwargs):
        """diffusers' decode of latents ``[B, C, F, h, w]``, which its call runs once on the whole video; `latents` kept
        (`decoded_latents`)."""
        self._decoded = latents
        return super().vae_decode_tiled(latents, *args, **kwargs)

    def decoded_latents(self) -> Optional[torch.Tensor]:
        """The whole video's latents ``[B, C, F, h, w]`` its last call decoded, its windows joined (as its call returns
        them with ``output_type="latent"``); its step callback sees one window's; None before a decoding call."""
        return getattr(self, "_decoded", None)

    def geometry(self):
        """Its latent grid, at least its call's tiled decode's overlap a side (`vidlong.models.TILED_DECODE_CELLS`: 3 latent
        cells, 96 pixels), as its folder's is checked before loading."""
        geometry = super().geometry()
        return dataclasses.replace(geometry, min_cells=max(geometry.min_cells,
                                                           TILED_DECODE_CELLS["LTXI2VLongMultiPromptPipeline"]))

    def complete_call(self, arguments: dict) -> None:
        """Its window where none is given (`window_frames`: with the transformer's methods applied, the whole video), and
        its window sizes (`check_window_sizes`) and steps (`check_window_steps`) checked."""
        if arguments.get("temporal_tile_size") is None:
            state = hooks.state_of(self.transformer)
            arguments["temporal_tile_size"] = self.window_frames(arguments.get("num_frames"),
                                                                 bool(state is not None and state.methods))
        check_window_sizes(arguments["temporal_tile_size"], arguments.get("temporal_overlap", CALL_OVERLAP),
                           self.vae_temporal_compression_ratio)
        if arguments.get("sigmas") is None:
            check_window_steps(arguments.get("num_inference_steps"), "num_inference_steps")

    def latent_count(self, frames: int) -> int:
        """Latent frames of `frames` pixel frames, as its call counts them (``(frames - 1) // 8 + 1``)."""
        return (frames - 1) // self.vae_temporal_compression_ratio + 1

    def window_frames(self, frames: Optional[int], methods: bool) -> int:
        """Its call's ``temporal_tile_size`` (pixel frames) for a video of `frames` pixel frames (`window_tile`)."""
        temporal = self.vae_temporal_compression_ratio
        return window_tile(None if frames is None else self.latent_count(frames), methods, temporal)

    def latent_windows(self, arguments: dict) -> list:
        """Its call's windows (latent frames) for `arguments` (by name, completed)."""
        temporal = self.vae_temporal_compression_ratio
        return call_windows(self.latent_count(arguments["num_frames"]), arguments["temporal_tile_size"],
                            arguments.get("temporal_overlap", CALL_OVERLAP), temporal)

    def forward_frames(self, arguments: dict) -> int:
        """One forward spans one window (pixel frames of its longest)."""
        longest = max(end - start for start, end in self.latent_windows(arguments))
        return self.vae_temporal_compression_ratio * (longest - 1) + 1

    def latents_frames(self, arguments: dict) -> Optional[int]:
        """Its ``latents=`` are the whole video's base ``[B, C, F, h, w]``."""
        frames = arguments.get("num_frames")
        return None if frames is None else self.latent_count(frames)

    def steps_reported(self, steps: int, latent_frames: int, methods: tuple = ()) -> int:
        """Each window's steps, window after window: its loop runs over its timesteps but the last (``steps - 1``)."""
        temporal = self.vae_temporal_compression_ratio
        windows = call_windows(latent_frames, window_tile(latent_frames, bool(methods), temporal), CALL_OVERLAP, temporal)
        return len(windows) * (steps - 1)

    def call_latents(self, latents: torch.Tensor) -> Optional[torch.Tensor]:
        """None: its ``latents=`` are a base (zeros, the image's latent in frame 0), each window's noise drawn in its call
        from ``seed`` (`seed_argument`)."""
        return None

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Its output latents are ``[B, C, F, h, w]`` already."""
        return latents


class VidLongLTXI2VLongMultiPromptImageToVideoPipeline(VidLongLTXI2VLongMultiPromptPipeline):
    """`VidLongLTXI2VLongMultiPromptPipeline` given an image (`generate --image`): the image is its call's
    ``cond_image``, its latent the first frame of the first window (at its call's ``cond_strength``) and a condition frame
    appended to every window."""

    task = "i2v"
