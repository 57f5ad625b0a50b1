"""vidlong's pipelines for the families beyond Wan: diffusers' `LTXPipeline`, `CogVideoXPipeline` and
`HunyuanVideoPipeline` with the surface of `VidlongPipelineMixin`. Each states only how its
``latents=`` argument is laid out; the attention side of each family is its adapter in
`vidlong.attention.adapters`. Streaming and extension refuse these families (their adapters say why).
"""
from __future__ import annotations

import torch
from diffusers import CogVideoXPipeline, HunyuanVideoPipeline, LTXPipeline

from .pipeline import VidlongPipelineMixin


class VidLongLTXPipeline(VidlongPipelineMixin, LTXPipeline):
    """diffusers' `LTXPipeline` (LTX-Video 0.9.x) with vidlong's surface; its ``frame_rate`` (which
    scales its RoPE in time) defaults to the spec's fps. Its latents are packed tokens ``[B, S, C]``."""

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), frame_rate=self.spec.fps)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self._pack_latents(latents, self.transformer_spatial_patch_size, self.transformer_temporal_patch_size)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        return self._unpack_latents(latents, frames // pt, height // p, width // p, p, pt)


class VidLongCogVideoXPipeline(VidlongPipelineMixin, CogVideoXPipeline):
    """diffusers' `CogVideoXPipeline` (CogVideoX-2B/5B, 1.5) with vidlong's surface. Its latents are
    ``[B, F, C, h, w]`` (frames before channels); CogVideoX1.5's noise has extra leading frames up to a
    multiple of its temporal patch, dropped before decoding, as the pipeline does."""

    def noise_frames(self, frames: int) -> int:
        patch = self.transformer.config.patch_size_t or 1
        return -(-frames // patch) * patch

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        return latents.transpose(1, 2)


class VidLongHunyuanVideoPipeline(VidlongPipelineMixin, HunyuanVideoPipeline):
    """diffusers' `HunyuanVideoPipeline` with vidlong's surface; ``guidance`` is its embedded guidance
    (``guidance_scale``; true classifier-free guidance, ``true_cfg_scale``, stays the pipeline's 1)."""
