"""Motif-Video image to video under vidlong (`vidlong.families`): diffusers' `MotifVideoImage2VideoPipeline` (its own
module, so that text-to-video users never import it).

Its call conditions the video on the image by channels and tokens: after the latents, C channels holding the image's
latent (drawn from its VAE's distribution after the noise, normalised by the VAE's ``latents_mean``/``latents_std``) on
the first latent frame and zeros after, then a mask channel (1 on that frame); and the image's SigLIP states (its T5Gemma2
encoder's vision tower) as tokens before the prompt's. Its loop denoises every latent frame, the first too. It conditions
videos of more than one latent frame; one of a single latent frame it leaves unconditioned. Units: latent frames."""
from __future__ import annotations

import torch
from diffusers import MotifVideoImage2VideoPipeline

from ..image_condition import ChannelCondition
from ..pipeline import VidlongPipelineMixin
from .motif import MotifVideoFamily


class VidLongMotifVideoImage2VideoPipeline(MotifVideoFamily, VidlongPipelineMixin, MotifVideoImage2VideoPipeline):
    """diffusers' `MotifVideoImage2VideoPipeline` with vidlong's surface (`MotifVideoFamily`): the methods act on its
    transformer as on the text-to-video one's (the image's SigLIP tokens ride before the text, their pairs stock as the
    text's). Its call takes given ``latents=`` as they are and draws the image's latent from its generator after them, so
    `generate` with no method is its call with the same seed, bit for bit. It streams and extends: every window's first
    latent frame carries the image's latent and mask in the condition channels and every forward its SigLIP states
    (`image_condition`; an extension's image: its context's first frame), a window of one latent frame too (a stream's
    first chunk of 1), which diffusers' call would leave unconditioned."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> ChannelCondition:
        """`ChannelCondition` ``[1, C + 1, F, h, w]`` of windows of up to `frames` latent frames (the image's latent on frame
        0 and zeros after, then the mask) with the image's SigLIP states ``[1, T, D]`` (``image_embeds``), as the call's
        `_prepare_first_frame_conditioning` makes them from the image resized to `height` x `width` pixels, its latent
        drawn from its VAE's distribution with `generator`; `latent` unused (an extension's image, its context's first
        frame, is encoded as the call encodes an image).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from ..generate import load_image

        pixels = self.video_processor.preprocess_video([load_image(image)], height=height, width=width)
        pixels = pixels.permute(0, 2, 1, 3, 4).to(self._execution_device, self.transformer.dtype)  # [1, 1, 3, H, W], as its call's
        spatial = self.vae_scale_factor_spatial
        # at least 2 latent frames: its call conditions no grid of one (a window of one takes frame 0's condition)
        grid = torch.zeros(1, self.vae.config.z_dim, max(frames, 2), height // spatial, width // spatial,
                           device=self._execution_device, dtype=self.transformer.dtype)
        condition, mask, embeds = self._prepare_first_frame_conditioning(pixels, grid, use_conditioning=True, generator=generator)
        return ChannelCondition(torch.cat([condition, mask], dim=1), embeds, "image_embeds")
