"""Editing a video of any length chunk by chunk (Lucy Edit: ``pipe.stream(prompt, video=...)``, ``vidlong stream --video``).

Lucy Edit's call (`vidlong.families.lucy`) denoises noise of the input video's latent grid, every forward taking the
input's normalised latents of the same frames on its channels: ``[B, 2C, f, h, w]``, the noise's C, then the condition's C.
Its stream is vidlong's chunked stream over the input (`vidlong.redraw_stream.RedrawStreamer`: the video's length, size and
frame rate, each chunk's pixel frames encoded once through the Wan VAE's encoder cache, the chunks decoded as they are
made) whose chunks start from noise and run every step (an edit: no strength), each forward handed the condition of the
frames its window holds (`EditCondition`, by the frame numbers `VideoStreamer._run` passes): the chunk's own, and with the
re-noised context the context frames' too; the clean forward that writes a chunk to the KV cache, and a re-cache on a
prompt switch, carry their frames' condition as well, so that the cached keys are those of the condition-carrying input.
A frame's condition is kept while the frame is in the context (its sinks and window), then dropped: memory and time per
chunk stay flat.

Units: latent frames, numbered from the video's first (`VideoStreamer.remembered`).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from .image_condition import ImageCondition
from .redraw_stream import RedrawStreamer
from .video_to_video import check_edit_strength


class EditCondition(ImageCondition):
    """The edited video's condition latents as extra input channels of each latent frame of a window, kept by frame number
    for the frames a window may hold (Lucy Edit's: `VidLongLucyEditPipeline.edit_condition`).

    Attributes:
        frames: frame number -> its condition latents ``[1, C, 1, h, w]``.
    """

    def __init__(self):
        self.frames: dict[int, torch.Tensor] = {}

    def add(self, first: int, latents: torch.Tensor) -> None:
        """The condition latents ``[1, C, f, h, w]`` of frames ``first .. first + f - 1``."""
        for i in range(latents.shape[2]):
            self.frames[first + i] = latents[:, :, i : i + 1]

    def keep(self, numbers: Sequence[int]) -> None:
        """Drop every frame's condition but those of the frames `numbers` (the stream's context)."""
        self.frames = {number: self.frames[number] for number in numbers}

    def hidden_states(self, latents: torch.Tensor, frames: Sequence[int]) -> torch.Tensor:
        """The transformer input for window latents ``[B, C, n, h, w]`` of the `n` latent `frames` (their numbers):
        ``[B, 2C, n, h, w]``, the latents, then those frames' condition."""
        condition = torch.cat([self.frames[number] for number in frames], dim=2).to(latents)
        return torch.cat([latents, condition.expand(latents.shape[0], -1, -1, -1, -1)], dim=1)

    def timestep_mask(self, frames: int, patch) -> None:
        """No clean frame: every token takes the window's timestep."""
        return None

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        """A denoised window that starts the video, unchanged (the condition enters through channels)."""
        return latents


class EditStreamer(RedrawStreamer):
    """A stream that edits `video` by the prompt chunk by chunk (a pipeline whose ``edits_video``: Lucy Edit). Arguments as
    `RedrawStreamer`'s, but a `strength`, refused in one line before anything else: every chunk starts from noise and runs
    every step. Its encoder runs PyTorch's own kernels (`encoder_fast_paths` False), as the call's encode does: the CPU's
    fast paths would move the condition by float rounding."""

    encoder_fast_paths = False

    def __init__(self, *args, strength: Optional[float] = None, **kwargs):
        check_edit_strength(strength)
        super().__init__(*args, **kwargs)
        self.condition = EditCondition()

    def _strength(self, strength: None) -> None:
        """None: an edit has no strength (refused first)."""
        return None

    def _starting_point(self, noise: torch.Tensor, scheduler) -> tuple:
        """The chunk's noise and every step, its frames' condition (the video's next latent frames) taken first."""
        pixels = self.source.next_pixels(noise.shape[2])
        self.condition.add(self.remembered, self.pipe.edit_condition(self.source.encoder.mode(pixels)))
        return noise, scheduler.timesteps

    def _remember(self, latents: torch.Tensor) -> None:
        super()._remember(latents)
        self.condition.keep(self._context_frames())
