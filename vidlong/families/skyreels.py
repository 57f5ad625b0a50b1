"""SkyReels-V2 under vidlong (`vidlong.families`): diffusers' `SkyReelsV2Pipeline` (text to video). Its transformer,
VAE, text encoder and sampler are Wan's in layout, so vidlong's Wan surface serves it as it is: its latents are
``[B, C, F, h, w]``, its prompts Wan's padded T5 states, its VAE Wan's (decoded a few latent frames at a time)."""
from __future__ import annotations

from diffusers import SkyReelsV2Pipeline

from ..pipeline import VidlongPipelineMixin


class VidLongSkyReelsV2Pipeline(VidlongPipelineMixin, SkyReelsV2Pipeline):
    """diffusers' `SkyReelsV2Pipeline` (SkyReels-V2 T2V 14B, 540P and 720P) with vidlong's surface."""
