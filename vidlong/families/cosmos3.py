"""NVIDIA Cosmos 3 under vidlong (`vidlong.families`): diffusers' `Cosmos3OmniPipeline`, from text. Its call tokenizes the
prompt (its chat template, the video's duration and size appended) into the transformer's own text tokens, packs them with
the video's tokens into one sequence per forward (the methods: `vidlong.attention.adapters.cosmos3`), guides by ``uncond +
g·(cond - uncond)``, steps UniPC and decodes by Wan's VAE; its latents are normalised by the VAE's statistics as Wan's are,
so `generate` decodes through Wan's streaming decoder. Units: latent frames unless named pixel."""
from __future__ import annotations

import torch
from diffusers import Cosmos3OmniPipeline

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from .common import OneVideoOutput

#: its call's arguments vidlong does not serve, and why: what it makes besides a video from text
UNSERVED = {"enable_sound": "its sound", "action": "its action-conditioned runs", "video": "its video-to-video runs",
            "image": "its image-to-video runs"}


class VidLongCosmos3OmniPipeline(OneVideoOutput, VidlongPipelineMixin, Cosmos3OmniPipeline):
    """diffusers' `Cosmos3OmniPipeline` with vidlong's surface, text to video: its call takes vidlong's start noise as
    ``latents=`` (in float32, as its call holds them), so `generate` with no method is its call from that noise, bit for
    bit; its output's video is also its ``frames``, as vidlong reads every call's. Its sound (``enable_sound``), actions,
    image and video conditions are refused in one line (`UNSERVED`); it generates only (its family streams nothing:
    `vidlong.attention.adapters.cosmos3.Cosmos3Adapter.no_stream_reason`)."""

    def __call__(self, *args, **kwargs):
        output = super().__call__(*args, **kwargs)
        if hasattr(output, "video"):
            output.frames = output.video
        return output

    def complete_call(self, arguments: dict) -> None:
        """`UNSERVED` arguments refused, where given (``enable_sound`` where true)."""
        for name, what in UNSERVED.items():
            if arguments.get(name) is not None and arguments.get(name) is not False:
                raise VidlongError(f"vidlong serves Cosmos 3's videos from text; {what} ({name}) are not served: drop {name}")

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[1, C, F, h, w]`` in float32, as its call holds its latents whatever the transformer's dtype."""
        return latents.float()
