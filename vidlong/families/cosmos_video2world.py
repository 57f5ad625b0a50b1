"""NVIDIA Cosmos-Predict2 Video2World under vidlong (`vidlong.families`): diffusers' `Cosmos2VideoToWorldPipeline` given an
image (its own module, so that Predict2.5's users never import it).

Its call samples the image's latent (the image repeated to the video's length, encoded by Wan2.1's VAE, one draw of its
distribution over the whole video's latents, normalised) before its noise, keeps the conditioning latent frames clean
through its condition mask (1 there) at the noise level ``sigma_conditioning``, and denoises the rest by an EDM sampler:
latents ``x = x_0 + σ·ε`` from σ 80 down its scheduler's Karras σ, the transformer's input ``x / (1 + σ)`` at its
timestep ``t = σ / (1 + σ)``, its velocity ``v`` made the denoised ``x / (1 + σ) - t·v``, guided by
``cond + g·(cond - uncond)``, and an Euler step on ``(x - denoised) / σ``. Units: latent frames."""
from __future__ import annotations

import torch
from diffusers import Cosmos2VideoToWorldPipeline
from diffusers.utils.torch_utils import randn_tensor

from ..pipeline import VidlongPipelineMixin
from .cosmos import ConditioningFrame, CosmosFamily, EDMLatents

#: its call's default ``sigma_conditioning``: the noise level its transformer is told the clean conditioning frames are at
SIGMA_CONDITIONING = 0.0001


class VidLongCosmos2VideoToWorldPipeline(EDMLatents, CosmosFamily, VidlongPipelineMixin, Cosmos2VideoToWorldPipeline):
    """diffusers' `Cosmos2VideoToWorldPipeline` (Cosmos-Predict2 2B/14B Video2World: a T5 prompt by cross-attention, Wan2.1's
    VAE of 4x time and 8x space, its transformer's input the latents, a condition-mask channel and, inside its forward, a
    padding-mask channel) with vidlong's surface, given an image (its ``video=`` condition is not vidlong's). Its call
    runs the safety checker's video check on every video it decodes (`guards_video`): `generate` decodes through it.

    Its call draws the image's latent from its generator over the whole video's latents, then its noise; given
    ``latents=``, it still draws the image's. So `draws_before_noise` draws a sample of that size before the noise and `generate`
    hands the call its generator from before both (`call_redraws_from`): with no method, the stock call with that seed,
    bit for bit, at any length. Its ``fps`` (its transformer's RoPE scales time by it) is the spec's.

    It streams and extends with the re-noised context (`vidlong.families.cosmos.CosmosStreamer`): every window's first
    latent frame is the image's latent (`ConditioningFrame`; an extension's: its context's first frame), clean, its condition
    mask 1 at ``sigma_conditioning`` as its call conditions it, the rest at the step's σ of its call's sampler."""

    task = "i2v"
    call_redraws_from = "noise"  # the image's latent's draw and its noise's, even when given the noise

    def guards_video(self) -> bool:
        """Its call checks every decoded video with whichever safety checker it has (it refuses to run with none)."""
        return self.safety_checker is not None

    def call_defaults(self) -> dict:
        """The spec's, and its frame rate as the call's ``fps``."""
        return dict(super().call_defaults(), fps=self.spec.fps)

    def draws_before_noise(self, images: dict, shape, generator: torch.Generator) -> None:
        """A draw of the noise's `shape` ``[1, C, F, h, w]`` in the VAE's dtype: its call's sample of the image's latent over
        the whole video's latents (which the call then makes from the same generator state), before its noise."""
        torch.randn(shape, generator=generator, dtype=self.vae.dtype)  # a CPU generator: on the CPU, as randn_tensor draws

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> ConditioningFrame:
        """`ConditioningFrame` of the image's latent as its call makes it for a video of `frames` latent frames: the image
        resized to `height` x `width` pixels and encoded alone (Wan's causal VAE encodes the first latent frame of the call's
        repeated image from the image alone), its distribution's sample by the first frame of a standard normal draw
        ``[1, C, frames, h, w]`` from `generator` (the call's over its whole video), normalised by the VAE's mean and std;
        or of `latent` ``[1, C, 1, h, w]`` where it is made already (an extension's context's first frame)."""
        from ..generate import load_image

        if latent is None:
            pixels = self.video_processor.preprocess(load_image(image), height, width).unsqueeze(2)
            posterior = self.vae.encode(pixels.to(self._execution_device, self.vae.dtype)).latent_dist
            spatial, channels = self.vae_scale_factor_spatial, self.vae.config.z_dim
            draw = randn_tensor((1, channels, frames, height // spatial, width // spatial), generator=generator,
                                device=posterior.mean.device, dtype=posterior.mean.dtype)
            sample = (posterior.mean + posterior.std * draw[:, :, :1]).float()
            mean, std = (torch.tensor(self.vae.config[name]).view(1, channels, 1, 1, 1).to(sample)
                         for name in ("latents_mean", "latents_std"))
            latent = (sample - mean) / std * self.scheduler.config.sigma_data
        return ConditioningFrame(latent)

    def stream_scheduler(self, steps: int, window: tuple, generator=None):
        """Its call's sampler over `steps`: its scheduler set by ``steps`` evenly spaced σ (its Karras σ from 80 down), the
        last σ its last but one where its config's ``final_sigmas_type`` is "sigma_min" (the last step then stays put)."""
        scheduler = self.fresh_scheduler(sigmas=torch.linspace(0, 1, steps, dtype=torch.float64))
        if scheduler.config.final_sigmas_type == "sigma_min":
            scheduler.sigmas[-1] = scheduler.sigmas[-2]
        return scheduler

    def stream_forward(self, transformer, latents, timestep, text, *, sigma, condition_latent):
        """Latents ``x`` ``[B, C, f, h, w]`` at noise level `sigma` -> the noise its call steps by, ``(x - denoised) / σ``
        ``[B, C, f, h, w]`` (float32): the transformer's input ``x / (1 + σ)`` with the clean `condition_latent` ``[1, C, 1,
        h, w]`` as frame 0, its condition mask 1 there, each frame's timestep ``[B, 1, f, 1, 1]`` (``t = σ / (1 + σ)``,
        frame 0's of ``sigma_conditioning``), the spec's fps and a zero padding mask of the window's pixel size, as its call
        hands them; the denoised ``x / (1 + σ) - t·v``, frame 0 the condition's (`timestep`, the sampler's σ·1000, is not
        its input)."""
        batch, _, frames, height, width = latents.shape
        dtype, spatial = transformer.dtype, self.vae_scale_factor_spatial
        x, t = latents.float(), torch.tensor(sigma, dtype=torch.float32) / (sigma + 1)
        t_conditioning = torch.tensor(SIGMA_CONDITIONING, dtype=torch.float32) / (SIGMA_CONDITIONING + 1)
        clean = condition_latent.to(x).expand(batch, -1, -1, -1, -1)
        first = latents.new_zeros(1, 1, frames, 1, 1, dtype=torch.float32)
        first[:, :, :1] = 1
        steps = (first * t_conditioning + (1 - first) * t).expand(batch, -1, -1, -1, -1)
        velocity = transformer(hidden_states=torch.cat([clean, x[:, :, 1:] * (1 - t)], dim=2).to(dtype),
                               timestep=steps.to(dtype), fps=self.spec.fps,
                               condition_mask=(first * x.new_ones(batch, 1, frames, height, width)).to(dtype),
                               padding_mask=x.new_zeros(1, 1, height * spatial, width * spatial, dtype=dtype),
                               return_dict=False, **text.kwargs)[0]
        denoised = torch.cat([clean, ((1 - t) * x - t * velocity.float())[:, :, 1:]], dim=2)
        return (x - denoised) / sigma
