"""Kandinsky 5.0 Video image to video under vidlong (`vidlong.families`): diffusers' `Kandinsky5I2VPipeline` (its own
module, so that text-to-video users never import it).

Its call conditions the video on the image as one clean latent frame: the image's latent (drawn from its VAE's
distribution after the noise) replaces the first latent frame, which its loop never steps, every token at the step's one
timestep; its transformer's mask channel (``visual_cond``) marks that frame. After the loop it renormalises the first 4
latent frames to the statistics of the next 5 (`normalize_first_frame`). Units: latent frames."""
from __future__ import annotations

import torch
from diffusers import Kandinsky5I2VPipeline

from ..image_condition import FirstFrameLatent
from ..pipeline import VidlongPipelineMixin
from .kandinsky5 import Kandinsky5Family

#: the first latent frames its call renormalises after the loop (its `normalize_first_frame`'s)
NORMALIZED_FRAMES = 4


class KandinskyImage(FirstFrameLatent):
    """Kandinsky 5's image in a stream's windows: its latent ``[1, C, 1, h, w]`` is every window's first latent frame, at the
    window's one timestep (no per-token timesteps: its call steps the frames after it alone, and the pipeline's
    `stream_forward` adds the mask that marks it), and a window that starts the video ends with its first 4 latent frames
    renormalised (`normalize`, its pipeline's `normalize_first_frame` on ``[B, F, h, w, C]``) to the statistics of the
    next 5 frames of that window: as its call's video where the window holds 9 latent frames or more (a native-length
    first chunk does), to the fewer it holds where it is shorter (and left as they are with none after them)."""

    def __init__(self, latent: torch.Tensor, normalize):
        super().__init__(latent)
        self.normalize = normalize

    def timestep_mask(self, frames: int, patch) -> None:
        return None

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        """A denoised window ``[1, C, f, h, w]`` that starts the video: the image's latent as frame 0, then renormalised."""
        started = super().first_frame(latents).permute(0, 2, 3, 4, 1).contiguous()
        return self.normalize(started).permute(0, 4, 1, 2, 3)


class VidLongKandinsky5I2VPipeline(Kandinsky5Family, VidlongPipelineMixin, Kandinsky5I2VPipeline):
    """diffusers' `Kandinsky5I2VPipeline` (Kandinsky 5.0 Video Pro I2V) with vidlong's surface (`Kandinsky5Family`): the
    methods act on its transformer as on the text-to-video one's, and the image conditions the video as its call does.
    Given vidlong's noise as ``latents=``, its call puts the image in too (`prepare_latents`), so `generate` with no
    method is its call with the same seed, bit for bit. It streams and extends: every window starts at the video's first
    frame, the image's latent (`KandinskyImage`; an extension's: its context's first latent frame)."""

    task = "i2v"
    image_frames = 1

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[B, C, F, h, w]`` channels last, ``[B, F, h, w, C]``: `prepare_latents` adds the image and its condition."""
        return latents.permute(0, 2, 3, 4, 1).contiguous()

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """Noise of C channels (`call_latents`), or its call's own latents with the condition channels (`model_latents`)."""
        noise = super().latents_shapes(arguments, batch)
        own = tuple(tuple(self.model_latents(torch.empty(shape, device="meta"), self.image_frames).shape) for shape in noise)
        return tuple(dict.fromkeys(noise + own))

    @torch.no_grad()
    def image_latent(self, image, height: int, width: int, generator=None) -> torch.Tensor:
        """The image's latent ``[1, C, 1, h, w]`` as its call's `prepare_latents` makes it: resized to `height` x `width`
        pixels in the transformer's dtype, drawn from its VAE's distribution with `generator`, times its scaling factor."""
        pixels = self.video_processor.preprocess(image, height=height, width=width)
        pixels = pixels.to(self._execution_device, self.transformer.dtype)
        return self.vae.encode(pixels.unsqueeze(2)).latent_dist.sample(generator=generator) * self.vae.config.scaling_factor

    def prepare_latents(self, image, batch_size: int, num_channels_latents: int = 16, height: int = 480, width: int = 832,
                        num_frames: int = 81, dtype=None, device=None, generator=None, latents=None) -> torch.Tensor:
        """Its call's latents ``[B, F, h, w, C']``: diffusers' own where none are given or they hold its condition channels
        already; given noise of C channels ``[B, F, h, w, C]`` (`call_latents`) gets what its own draw gets: the image's
        latent as frame 0, drawn from `generator` after the noise, and the condition channels (`model_latents`)."""
        if latents is None or latents.shape[-1] != num_channels_latents:
            return super().prepare_latents(image=image, batch_size=batch_size, num_channels_latents=num_channels_latents,
                                           height=height, width=width, num_frames=num_frames, dtype=dtype, device=device,
                                           generator=generator, latents=latents)
        latents = latents.to(device=device, dtype=dtype).clone()
        latents[:, :1] = self.image_latent(image, height, width, generator).permute(0, 2, 3, 4, 1).to(latents)
        return self.model_latents(latents, self.image_frames)

    def normalize_first_frame(self, latents: torch.Tensor, reference_frames: int = 5, clump_values: bool = False):
        """Its call's renormalisation of the first 4 latent frames of ``[B, F, h, w, C]`` to the next frames' statistics;
        latents with no frame after those 4 (a video of up to 13 pixel frames, a short stream window) come back as they
        are, where diffusers' makes NaNs of them (or a tuple, of one frame)."""
        if latents.shape[1] <= NORMALIZED_FRAMES:
            return latents
        return super().normalize_first_frame(latents, reference_frames, clump_values)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> KandinskyImage:
        """`KandinskyImage` of the image's latent (`image_latent`: a PIL image, drawn from `generator`) or of `latent`
        ``[1, C, 1, h, w]`` (an extension's context's first latent frame); `frames` unused (a window's mask is its own)."""
        if latent is None:
            latent = self.image_latent(image, height, width, generator)
        return KandinskyImage(latent, self.normalize_first_frame)
