"""SkyReels-V2 under vidlong (`vidlong.families`): diffusers' `SkyReelsV2Pipeline` (text to video) and
`SkyReelsV2ImageToVideoPipeline`. Its transformer, VAE, text encoder, sampler and image condition are Wan's in layout,
so vidlong's Wan surface serves it as it is: its latents are ``[B, C, F, h, w]``, its prompts Wan's padded T5 states, its
VAE Wan's (decoded a few latent frames at a time), its image condition Wan2.1 I2V's (`WanImageCondition`)."""
from __future__ import annotations

from diffusers import SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline

from ..pipeline import VidlongPipelineMixin
from ..pipeline_i2v import WanImageCondition


class VidLongSkyReelsV2Pipeline(VidlongPipelineMixin, SkyReelsV2Pipeline):
    """diffusers' `SkyReelsV2Pipeline` (SkyReels-V2 T2V 14B, 540P and 720P) with vidlong's surface."""


class VidLongSkyReelsV2ImageToVideoPipeline(WanImageCondition, VidlongPipelineMixin, SkyReelsV2ImageToVideoPipeline):
    """diffusers' `SkyReelsV2ImageToVideoPipeline` (SkyReels-V2 I2V 1.3B and 14B, CLIP image states) with vidlong's
    surface; the image conditions the first frame as the pipeline does natively."""
