"""Mochi 1 under vidlong (`vidlong.families`): diffusers' `MochiPipeline`."""
from __future__ import annotations

import torch
from diffusers import MochiPipeline
from diffusers.pipelines.mochi.pipeline_mochi import linear_quadratic_schedule

from ..pipeline import VidlongPipelineMixin
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP

#: the noise level where its call's sigmas turn from linear to quadratic (`linear_quadratic_schedule`)
THRESHOLD_NOISE = 0.025


class VidLongMochiPipeline(VidlongPipelineMixin, MochiPipeline):
    """diffusers' `MochiPipeline` (Mochi 1: a T5 prompt joined to the video in every self-attention, a VAE of 6x time and
    8x space) with vidlong's surface. Its VAE is tiled as it loads, as diffusers' example does: untiled, a 480x848 decode
    holds every frame's activations at full size at once.

    It streams and extends with the re-noised context: its prompt as T5 states and their padding mask, its call's
    linear-quadratic sigmas, flow matching whose timesteps count up (its release's sampler has ``invert_sigmas``: a
    timestep t is noise level 1 - t / 1000), each chunk decoded with the last latent frames before it (its VAE keeps no
    cache between calls), latents normalised by its VAE's per-channel mean and std as its call de-normalises them."""

    tiled_vae = True

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """T5 states and mask ``[B, T, D]``, ``[B, T]`` (its 256 tokens, padded ones masked), negative first when `guided`."""
        from ..streaming import StreamText

        states, mask, negative, negative_mask = self.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance=guided,
                                                                   device=self.device)
        if guided:
            states, mask = torch.cat([negative, states]), torch.cat([negative_mask, mask])
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype),
                                                encoder_attention_mask=mask))

    def stream_scheduler(self, steps, window, generator=None):
        scheduler = self.fresh_scheduler(sigmas=linear_quadratic_schedule(steps, THRESHOLD_NOISE))
        scheduler.set_begin_index(0)  # as its call: its timesteps count up, so no timestep lookup finds the index
        return scheduler

    def stream_renoise(self, clean, noise, timestep):
        """Flow matching's ``x = (1 - σ)·x_0 + σ·ε`` at noise level ``σ = 1 - t / num_train_timesteps`` (``σ = t /
        num_train_timesteps`` where the sampler's timesteps do not count up)."""
        config = self.scheduler.config
        sigma = float(timestep) / config.num_train_timesteps
        sigma = 1 - sigma if config.get("invert_sigmas", False) else sigma
        return (1 - sigma) * clean.float() + sigma * noise

    def _latent_stats(self, like: torch.Tensor) -> tuple:
        """Its VAE's per-channel latent ``(mean, std)`` ``[1, C, 1, 1, 1]`` (``(0, 1)`` where it has none)."""
        config = self.vae.config
        if config.get("latents_mean") is None or config.get("latents_std") is None:
            return torch.zeros(()).to(like), torch.ones(()).to(like)
        return tuple(torch.tensor(values).view(1, -1, 1, 1, 1).to(like) for values in (config.latents_mean, config.latents_std))

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_temporal_scale_factor, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        """Normalised latents ``[1, C, f, h, w]`` -> pixels ``[1, 3, 6(f - 1) + 1, H, W]``, de-normalised as its call does."""
        latents = latents.to(self.vae.device, self.vae.dtype)
        mean, std = self._latent_stats(latents)
        return self.vae.decode(latents * std / self.vae.config.scaling_factor + mean, return_dict=False)[0]

    def stream_encode(self, pixels):
        """Pixels ``[1, 3, 6k + 1, H, W]`` in [-1, 1] -> normalised latents ``[1, C, k + 1, h, w]`` (the posterior's mode)."""
        vae = self.vae
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        mean, std = self._latent_stats(latents)
        return (latents - mean) * vae.config.scaling_factor / std
