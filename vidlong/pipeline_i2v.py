"""`VidLongWanImageToVideoPipeline`: diffusers' `WanImageToVideoPipeline` with vidlong's surface (its own
module, so that text-to-video users never import diffusers' image-to-video pipeline and its CLIP parts)."""
from __future__ import annotations

import torch
from diffusers import WanImageToVideoPipeline

from .image_condition import ChannelCondition, FirstFrameLatent
from .models import pixel_frames
from .pipeline import VidlongPipelineMixin


class WanImageCondition:
    """The image condition of Wan's image-to-video layout (the image's latent and a mask as extra channels, CLIP
    states where the transformer takes them), for the pipelines that build it as `WanImageToVideoPipeline` does
    (Wan's own, SkyReels-V2's)."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """The image condition of windows of up to `frames` latent frames, as the pipeline's
        `prepare_latents` makes it (its VAE's mean: no draw, so `generator` and `latent` go unused):
        `ChannelCondition`, or `FirstFrameLatent` with ``expand_timesteps`` (TI2V-5B).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from .generate import load_image

        image = load_image(image)
        device, spatial, channels = self.device, self.vae_scale_factor_spatial, self.vae.config.z_dim
        pixels = self.video_processor.preprocess(image, height=height, width=width).to(device, dtype=torch.float32)
        zeros = torch.zeros(1, channels, frames, height // spatial, width // spatial, device=device)
        out = self.prepare_latents(pixels, 1, channels, height, width, pixel_frames(frames, self.vae_scale_factor_temporal),
                                   torch.float32, device, None, zeros)
        if self.config.get("expand_timesteps", False):
            return FirstFrameLatent(out[1])  # the image latent [1, C, 1, h, w]
        transformer = self.experts()[0]
        embeds = self.encode_image(image, device) if getattr(transformer.config, "image_dim", None) else None
        if embeds is not None:  # in the transformer's dtype, as its call casts them (diffusers' example loads CLIP in float32)
            embeds = embeds.to(transformer.dtype)
        return ChannelCondition(out[1], embeds)  # [1, 4 + C, F, h, w]


class VidLongWanImageToVideoPipeline(WanImageCondition, VidlongPipelineMixin, WanImageToVideoPipeline):
    """diffusers' `WanImageToVideoPipeline` (Wan2.1 I2V with CLIP, Wan2.2 I2V A14B, TI2V-5B's image mode)
    with vidlong's surface; the image conditions the first frame as the pipeline does natively."""
