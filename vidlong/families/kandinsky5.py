"""Kandinsky 5.0 Video under vidlong (`vidlong.families`): diffusers' `Kandinsky5T2VPipeline`."""
from __future__ import annotations

import torch
from diffusers import Kandinsky5T2VPipeline

from ..pipeline import VidlongPipelineMixin
from ..schedulers.noise import initial_noise


class VidLongKandinsky5T2VPipeline(VidlongPipelineMixin, Kandinsky5T2VPipeline):
    """diffusers' `Kandinsky5T2VPipeline` (Kandinsky 5.0 Video: Qwen2.5-VL text by cross-attention, a pooled CLIP prompt,
    HunyuanVideo's VAE of 4x time and 8x space) with vidlong's surface. Its latents are channels-last,
    ``[B, F, h, w, C]``; its VAE is tiled as it loads, as HunyuanVideo's is (an untiled decode holds every frame's
    activations at full size at once)."""

    tiled_vae = True

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for latents `shape` ``[1, C, F, h, w]``: plain noise as its call draws it, channels last (then as
        ``[1, C, F, h, w]``), so that `generate` with no method makes its call's video for the same seed; SpecMix and
        FreeNoise as vidlong draws them for every model."""
        if kind != "plain":
            return initial_noise(kind, shape, native_frames, generator)
        batch, channels, frames, height, width = shape
        return self.grid_latents(torch.randn((batch, frames, height, width, channels), generator=generator), frames, height, width)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.permute(0, 2, 3, 4, 1).contiguous()  # its patch embedding views them; its loop writes in place

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        return latents.permute(0, 4, 1, 2, 3)
