"""CogVideoX under vidlong (`vidlong.families`): diffusers' `CogVideoXPipeline` (2B, 5B, 1.5) and
`CogVideoXImageToVideoPipeline`."""
from __future__ import annotations

import torch
from diffusers import CogVideoXImageToVideoPipeline, CogVideoXPipeline

from ..image_condition import ChannelCondition
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP, call_pixels


class DPMSolverStep:
    """CogVideoX's stochastic DPM-solver++ (`CogVideoXDPMScheduler`) behind the one-call
    ``step(pred, t, latents)`` a stream makes: it carries the previous step's predicted clean sample and
    timestep, as the pipeline's loop does, and draws its noise from the stream's `generator`, in the
    pipeline's ``[B, F, C, h, w]`` layout so that each draw lands where the call's does (the stream's
    latents are ``[B, C, F, h, w]``). `timesteps` are the scheduler's."""

    def __init__(self, scheduler, generator=None):
        self.scheduler, self.timesteps, self.generator = scheduler, scheduler.timesteps, generator
        self.previous_sample = self.previous_timestep = None

    def step(self, pred, timestep, latents, return_dict=False):
        latents, self.previous_sample = self.scheduler.step(pred.transpose(1, 2), self.previous_sample, timestep,
                                                            self.previous_timestep, latents.transpose(1, 2),
                                                            generator=self.generator, return_dict=False)
        self.previous_timestep = timestep
        return (latents.transpose(1, 2),)


class CogVideoXFamily:
    """What CogVideoX's pipelines (text- and image-to-video) share under vidlong. Its latents are
    ``[B, F, C, h, w]`` (frames before channels); CogVideoX1.5's noise has extra leading frames up to a
    multiple of its temporal patch, dropped before decoding, as the pipeline does."""

    def noise_frames(self, frames: int) -> int:
        patch = self.transformer.config.patch_size_t or 1
        return -(-frames // patch) * patch

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        return latents.transpose(1, 2)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from ..streaming import StreamText

        positive, negative = self.encode_prompt(prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                                                device=self.device)
        states = (torch.cat([negative, positive]) if guided else positive).to(self.transformer.dtype)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Frames before channels, and its 3D RoPE for the window's size, as the call makes them."""
        frames, height, width = latents.shape[2:]
        spatial = self.vae_scale_factor_spatial
        rotary = self._prepare_rotary_positional_embeddings(height * spatial, width * spatial, frames, latents.device) \
            if transformer.config.use_rotary_positional_embeddings else None
        out = transformer(hidden_states=self.call_latents(latents), timestep=timestep, image_rotary_emb=rotary,
                          return_dict=False, **text.kwargs, **extra)[0]
        return self.grid_latents(out, frames, height, width)

    def stream_scheduler(self, steps, window, generator=None):
        from diffusers import CogVideoXDPMScheduler

        scheduler = self.fresh_scheduler(steps)
        return DPMSolverStep(scheduler, generator) if isinstance(scheduler, CogVideoXDPMScheduler) else scheduler

    def stream_renoise(self, clean, noise, timestep):
        """Its DDPM forward process, ``sqrt(ᾱ_t)·x_0 + sqrt(1 - ᾱ_t)·ε`` (its samplers predict v)."""
        return self.scheduler.add_noise(clean.float(), noise, torch.tensor([int(timestep)], device=clean.device))

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_scale_factor_temporal, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        return self.decode_latents(self.call_latents(latents.to(self.vae.dtype)))  # the pipeline's own decode

    def stream_encode(self, pixels):
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * self.vae_scaling_factor_image


class VidLongCogVideoXPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXPipeline):
    """diffusers' `CogVideoXPipeline` (CogVideoX-2B/5B, 1.5) with vidlong's surface."""


class VidLongCogVideoXImageToVideoPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXImageToVideoPipeline):
    """diffusers' `CogVideoXImageToVideoPipeline` (CogVideoX-5B-I2V, CogVideoX1.5-5B-I2V) with vidlong's surface:
    the image's latent, then zeros, as extra input channels of every latent frame, as the pipeline conditions it."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C, frames, h, w]``: the image's latent (drawn from its VAE's distribution with
        `generator` and scaled as the call's `prepare_latents` does) on frame 0, zeros after (`latent` unused).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        pixels = call_pixels(self, image, height, width)
        no_noise = torch.zeros(1)  # given latents: the call's `prepare_latents` draws the image's latent alone
        _, image_latents = self.prepare_latents(pixels, 1, self.transformer.config.in_channels // 2,
                                                pixel_frames(frames, self.vae_scale_factor_temporal), height, width,
                                                pixels.dtype, self._execution_device, generator, no_noise)
        return ChannelCondition(image_latents.transpose(1, 2))
