"""What an image-to-video Wan transformer takes besides the noisy latents, for streaming windows.

A streamed window always starts at the video's first frame (sink 0, re-noised context; see
`Streaming.context`), so the image sits at window position 0, as in the pipeline's own calls:
- Wan2.1 I2V / Wan2.2 I2V A14B: 4 mask channels (1 on frame 0) and the VAE latents of
  ``[image, black frames...]`` are concatenated to the latents' channels; Wan2.1 also passes the
  image's CLIP features (`encoder_hidden_states_image`).
- Wan2.2 TI2V-5B (``expand_timesteps``): frame 0's latent is replaced by the image's latent and its
  tokens get timestep 0.

Units: latent frames; the condition covers window positions ``0 .. frames - 1``.
"""
from __future__ import annotations

from typing import Optional

import torch

from .models import pixel_frames


class ImageCondition:
    """The image condition of `pipe` for windows of up to `frames` latent frames.

    Args:
        pipe: an image-to-video vidlong pipeline.
        image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
        height, width: pixels of the video.
        frames: the longest window, in latent frames (the native window).
    """

    def __init__(self, pipe, image, height: int, width: int, frames: int):
        from .generate import load_image

        image = load_image(image)
        self.expand = bool(pipe.config.get("expand_timesteps", False))
        device, spatial = pipe.device, pipe.vae_scale_factor_spatial
        pixels = pipe.video_processor.preprocess(image, height=height, width=width).to(device, dtype=torch.float32)
        zeros = torch.zeros(1, pipe.vae.config.z_dim, frames, height // spatial, width // spatial, device=device)
        out = pipe.prepare_latents(pixels, 1, pipe.vae.config.z_dim, height, width,
                                   pixel_frames(frames, pipe.vae_scale_factor_temporal), torch.float32, device, None, zeros)
        self.condition = out[1]  # [1, 4 + C, F, h, w], or the image latent [1, C, 1, h, w] with expand_timesteps
        self.first_frame_mask = out[2] if self.expand else None  # [1, 1, F, h, w]: 0 on frame 0
        transformer = pipe.experts()[0]
        self.image_embeds: Optional[torch.Tensor] = (
            pipe.encode_image(image, device) if getattr(transformer.config, "image_dim", None) else None)

    def hidden_states(self, latents: torch.Tensor) -> torch.Tensor:
        """The transformer input for window latents ``[B, C, n, h, w]`` (window position 0 first)."""
        n = latents.shape[2]
        if self.expand:
            mask = self.first_frame_mask[:, :, :n].to(latents)
            return (1 - mask) * self.condition.to(latents) + mask * latents
        condition = self.condition[:, :, :n].to(latents).expand(latents.shape[0], -1, -1, -1, -1)
        return torch.cat([latents, condition], dim=1)

    def timestep_mask(self, frames: int, patch) -> Optional[torch.Tensor]:
        """Per-token timestep factors ``[tokens]`` (0 on frame 0's tokens) with ``expand_timesteps``, else
        None; tokens are the window's `frames` x the latent grid divided by the transformer's `patch`."""
        if not self.expand:
            return None
        return self.first_frame_mask[0, 0, :frames, :: patch[1], :: patch[2]].flatten()

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        """A denoised window that starts the video: with ``expand_timesteps`` its frame 0 is the image's
        latent (as the pipeline ends), otherwise unchanged."""
        return self.hidden_states(latents) if self.expand else latents

    def extra(self, batch: int) -> dict:
        """Extra transformer keyword arguments (the CLIP image features, repeated over the batch)."""
        if self.image_embeds is None:
            return {}
        return {"encoder_hidden_states_image": self.image_embeds.expand(batch, -1, -1)}
