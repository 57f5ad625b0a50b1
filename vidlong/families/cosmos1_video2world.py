"""NVIDIA Cosmos 1.0 Video2World under vidlong (`vidlong.families`): diffusers' `CosmosVideoToWorldPipeline` given an image
(its own module, as Predict2's Video2World is).

Its call encodes the image followed by black frames to the video's length (no distribution to draw from), normalised by
its VAE's per-frame statistics; at every step it draws, after its start noise, a standard normal sample of the whole
video's latents for the prompt (and one more for the negative prompt), adds it at σ ``augment_sigma`` to the image's
latent, hands the transformer that frame scaled by ``c_in(augment_sigma)`` with its condition mask 1 there (the other
frames ``c_in(σ)·x``, mask 0), and keeps the image's latent as that frame's denoised estimate. Units: latent frames."""
from __future__ import annotations

import inspect

import torch
from diffusers import CosmosVideoToWorldPipeline

from ..errors import VidlongError
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..validate import check_vae_encodes_here
from .cosmos import CosmosStreamer
from .cosmos1 import Cosmos1Family, FrameStatistics
from .cosmos_video2world import ConditioningFrame

#: its call's default ``augment_sigma``: the noise level the image's latent is given at every step
AUGMENT_SIGMA = 0.001


class AugmentedImage(ConditioningFrame):
    """The image's latent ``[1, C, 1, h, w]`` as each window's first latent frame, augmented at every forward by a draw from
    the stream's `generator` (its call draws from its own generator at every step, after its start noise)."""

    def __init__(self, latent: torch.Tensor, generator: torch.Generator):
        super().__init__(latent)
        self.generator = generator

    def extra(self, batch: int) -> dict:
        return dict(condition_latent=self.latent, generator=self.generator)


class AugmentedImageStreamer(CosmosStreamer):
    """A Cosmos 1.0 Video2World stream: `CosmosStreamer`, its windows' image drawn on at every forward from the stream's own
    generator (`AugmentedImage`), as its call draws on its generator after its start noise."""

    def _image_condition(self, image, latent=None):
        """The image's latent as its call encodes it for a video of the first chunk's latent frames (a new stream), or the
        context's first latent frame `latent` ``[1, C, 1, h, w]`` (an extension's)."""
        return self.pipe.image_condition(image, self.height, self.width, self._chunk_frames(0), self.generator, latent=latent)


class VidLongCosmosVideoToWorldPipeline(Cosmos1Family, VidlongPipelineMixin, CosmosVideoToWorldPipeline):
    """diffusers' `CosmosVideoToWorldPipeline` (Cosmos-1.0-Diffusion 7B/14B Video2World: Text2World's parts, its transformer's
    input the latents and a condition-mask channel) with vidlong's surface, given an image. `generate` hands its call the
    generator after its own draw of the start noise, so that with no method it is the stock call with that seed, its
    augmentation draws too, bit for bit.

    It streams and extends with the re-noised context (`AugmentedImageStreamer`): every window's first latent frame is the
    image's latent (an extension's: its context's first frame), augmented and masked as its call conditions it, the rest
    at the step's σ of its call's sampler, as Text2World's."""

    task = "i2v"
    chunk_streamer = AugmentedImageStreamer

    def __call__(self, *args, **kwargs):
        """Its call, a ``video`` condition (by name or by position) refused in one line (vidlong serves its image; `vidlong
        extend` continues a video)."""
        bound = inspect.signature(CosmosVideoToWorldPipeline.__call__).bind_partial(self, *args, **kwargs)
        if bound.arguments.get("video") is not None:
            raise VidlongError("vidlong serves Cosmos 1.0 Video2World from an image (image=); its video= condition is not "
                               "served: continue a video with vidlong extend, or pass its first frame as image=")
        check_vae_encodes_here(self.vae)  # its image, at every call
        return super().__call__(*args, **kwargs)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> AugmentedImage:
        """`AugmentedImage` drawing on `generator` (the stream's): of the image's latent as its call makes it for a video of
        `frames` latent frames (the image resized to `height` x `width` pixels, then black frames to the video's length,
        encoded, its first latent frame normalised by the first frame's statistics), or of `latent` ``[1, C, 1, h, w]``
        where it is made already (an extension's context's first frame)."""
        from ..generate import load_image

        if latent is None:
            vae = self.vae
            check_vae_encodes_here(vae)
            pixels = self.video_processor.preprocess(load_image(image), height, width).unsqueeze(2)
            black = pixels.new_zeros(1, 3, pixel_frames(frames, self.vae_scale_factor_temporal) - 1, height, width)
            video = torch.cat([pixels, black], dim=2).to(self._execution_device, vae.dtype)
            encoded = vae.encode(video).latent_dist.mode().float()[:, :, :1]
            latent = FrameStatistics(vae, self.scheduler.config.sigma_data).from_vae(encoded)
        return AugmentedImage(latent, generator)

    def stream_forward(self, transformer, latents, timestep, text, *, sigma, condition_latent, generator):
        """Latents ``x`` ``[B, C, f, h, w]`` at noise level `sigma` -> the denoised estimate ``[B, C, f, h, w]`` (float32) as its
        call makes it for each prompt: a standard normal draw ``[1, C, f, h, w]`` from `generator` for the prompt, then the
        negative prompt's (the batch holds the negative first); frame 0 given ``(condition_latent + AUGMENT_SIGMA·draw)·
        c_in(AUGMENT_SIGMA)`` and its condition mask 1, the others ``c_in(σ)·x`` and 0 (`world_forward`); the output made the
        denoised ``c_skip·x + c_out·F``, frame 0's the condition's; no condition where σ is at or below AUGMENT_SIGMA, as its
        call leaves it then. Each factor as its scheduler computes it at the float32 σ its call steps at."""
        batch, channels, frames, height, width = latents.shape
        scheduler, x = self.scheduler, latents.float()
        sigma, augment = torch.tensor(sigma, dtype=torch.float32), torch.tensor([AUGMENT_SIGMA], dtype=torch.float32)
        marked = x.new_zeros(1, 1, frames, 1, 1)
        marked[:, :, :1] = 1
        kept = marked * 0 if augment >= sigma else marked
        condition = torch.cat([condition_latent.to(x), x.new_zeros(1, channels, frames - 1, height, width)], dim=2)
        draws = [torch.randn((1, channels, frames, height, width), generator=generator) for _ in range(batch)]
        noise = torch.cat(draws[::-1]).to(x.device)
        augmented = (condition + noise * augment.view(1, 1, 1, 1, 1).to(x.device)) * scheduler._get_conditioning_c_in(
            augment).to(x.device) / scheduler._get_conditioning_c_in(sigma)
        inputs = scheduler.precondition_inputs(kept * augmented + (1 - kept) * x, sigma)
        output = self.world_forward(transformer, inputs, timestep, text,
                                    condition_mask=marked * x.new_ones(batch, 1, frames, height, width))
        return kept * condition + (1 - kept) * scheduler.precondition_outputs(x, output, sigma)
