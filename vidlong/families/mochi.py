"""Mochi 1 under vidlong (`vidlong.families`): diffusers' `MochiPipeline`."""
from __future__ import annotations

from diffusers import MochiPipeline

from ..pipeline import VidlongPipelineMixin


class VidLongMochiPipeline(VidlongPipelineMixin, MochiPipeline):
    """diffusers' `MochiPipeline` (Mochi 1: a T5 prompt joined to the video in every self-attention, a VAE of 6x time and
    8x space) with vidlong's surface. Its VAE is tiled as it loads, as diffusers' example does: untiled, a 480x848 decode
    holds every frame's activations at full size at once."""

    tiled_vae = True
