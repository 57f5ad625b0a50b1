"""Chunk-by-chunk decoding with diffusers' `AutoencoderKLWan` (Wan2.1's and Wan2.2's VAE), which is
causal in time.

The VAE decodes latent frames one at a time through a cache of past features; keeping that cache
between chunks makes decoding a stream exactly equal to decoding the whole latent video at once.
"""
from __future__ import annotations

import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import unpatchify


class StreamingWanDecoder:
    """Decodes consecutive latent chunks ``[B, C, f, h, w]`` to pixel frames ``[B, 3, T, H, W]`` in [-1, 1].

    The first latent frame of the stream decodes to 1 pixel frame, every later one to 4.
    Latents are the pipeline's normalised latents (the VAE's mean/std are undone here). Wan2.2's VAE
    (``patch_size`` 2) unpatchifies each decoded chunk, as `AutoencoderKLWan.decode` does.
    """

    def __init__(self, vae):
        self.vae = vae
        self.feature_cache = [None] * vae._cached_conv_counts["decoder"]
        self.frames_decoded = 0
        z_dim = vae.config.z_dim
        self.mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1)
        self.inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        z = latents.to(vae.device, vae.dtype)
        z = z / self.inv_std.to(z) + self.mean.to(z)
        x = vae.post_quant_conv(z)
        frames = []
        for i in range(x.shape[2]):
            frames.append(vae.decoder(x[:, :, i : i + 1], feat_cache=self.feature_cache, feat_idx=[0],
                                      first_chunk=self.frames_decoded == 0))
            self.frames_decoded += 1
        out = torch.cat(frames, dim=2)
        if vae.config.patch_size is not None:
            out = unpatchify(out, patch_size=vae.config.patch_size)
        return torch.clamp(out, -1.0, 1.0)


@torch.no_grad()
def encode_frames(vae, frames: torch.Tensor) -> torch.Tensor:
    """Pixel frames ``[B, 3, T, H, W]`` in [-1, 1] (T = 4k+1) -> normalised latents ``[B, C, k+1, h, w]``
    (the posterior's mode, normalised as the Wan pipelines do)."""
    z = vae.encode(frames.to(vae.device, vae.dtype)).latent_dist.mode()
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
    return (z - mean) / std
