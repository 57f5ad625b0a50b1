"""SkyReels-V2 under vidlong (`vidlong.families`): diffusers' `SkyReelsV2Pipeline` (text to video) and
`SkyReelsV2ImageToVideoPipeline`. Its transformer, VAE, text encoder, sampler and image condition are Wan's in layout,
so vidlong's Wan surface serves it as it is: its latents are ``[B, C, F, h, w]``, its prompts Wan's padded T5 states, its
VAE Wan's (decoded a few latent frames at a time), its image condition Wan2.1 I2V's (`WanImageCondition`); diagonal
denoising's timesteps go in one per latent frame (`SkyReelsV2Family`)."""
from __future__ import annotations

from diffusers import SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from ..pipeline_i2v import WanImageCondition


class SkyReelsV2Family:
    """What SkyReels-V2's pipelines share under vidlong: a timestep per token (diagonal denoising, ``[B, tokens]``) goes
    into its transformer as its diffusion-forcing forward takes it, one per latent frame (``[B, F]``,
    ``enable_diffusion_forcing=True``)."""

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        if timestep.ndim == 2:
            per_frame = timestep.view(timestep.shape[0], latents.shape[2], -1)
            if not (per_frame == per_frame[:, :, :1]).all():
                raise VidlongError("SkyReels-V2 takes one timestep per latent frame; this window's tokens of one frame "
                                   "have different timesteps")
            timestep, extra = per_frame[:, :, 0], dict(extra, enable_diffusion_forcing=True)
        return super().stream_forward(transformer, latents, timestep, text, **extra)


class VidLongSkyReelsV2Pipeline(SkyReelsV2Family, VidlongPipelineMixin, SkyReelsV2Pipeline):
    """diffusers' `SkyReelsV2Pipeline` (SkyReels-V2 T2V 14B, 540P and 720P) with vidlong's surface."""


class VidLongSkyReelsV2ImageToVideoPipeline(SkyReelsV2Family, WanImageCondition, VidlongPipelineMixin,
                                            SkyReelsV2ImageToVideoPipeline):
    """diffusers' `SkyReelsV2ImageToVideoPipeline` (SkyReels-V2 I2V 1.3B and 14B, CLIP image states) with vidlong's
    surface; the image conditions the first frame as the pipeline does natively."""
