"""Sana-Video under vidlong (`vidlong.families`): diffusers' `SanaVideoPipeline` from text and `SanaImageToVideoPipeline` from
an image (one release folder runs both, as diffusers' docstrings load it).

Their calls take the length as ``frames`` (pixel frames; vidlong's call takes ``num_frames`` for it too), encode the prompt
with Gemma 2 after their call's default instruction for complex prompts (300 tokens kept, padded ones masked in the
cross-attention), guide by ``uncond + g·(cond - uncond)`` and decode by Wan2.1's VAE (4x time, 8x space). The image-to-video
call puts the image's latent (its VAE's mode, normalised) on latent frame 0, gives that frame's tokens timestep 0 and steps
the frames after it alone. Units: latent frames unless named pixel."""
from __future__ import annotations

import inspect

import torch
from diffusers import SanaImageToVideoPipeline, SanaVideoPipeline

from ..image_condition import FirstFrameLatent
from ..pipeline import VidlongPipelineMixin, diffusers_class
from ..vae_stream import LatentScaling
from .common import EmptyNegativePrompt, LengthNamed


class SanaVideoFamily(LengthNamed, EmptyNegativePrompt):
    """What Sana-Video's pipelines share under vidlong: ``num_frames`` handed to their call's ``frames``, no resolution
    binning by default (vidlong's sizes are the video's: its call's 480p bins would make another size and resize it back),
    and their streams and extensions with the re-noised context: the prompt as their call encodes it, one forward on
    ``[B, C, f, h, w]`` latents with the text's mask, their call's sampler (a copy of the pipeline's scheduler set to the
    steps), flow matching's forward process and Wan's VAE (the mixin's). The feed-forward's temporal convolution reads the
    neighbouring frames of the same forward: the re-noised context frames ride in it, as the chunk's own do."""

    frames_argument = "frames"

    def call_defaults(self) -> dict:
        """The spec's, and no resolution binning (`use_resolution_binning`: the video is made at the size asked for)."""
        return dict(super().call_defaults(), use_resolution_binning=False)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Gemma 2 states ``[B, 300, D]`` and their mask ``[B, 300]`` as its call encodes them (its default instruction for
        complex prompts before the prompt, the first and last 299 tokens kept), the negative prompt's first when `guided`."""
        from ..streaming import StreamText

        default = inspect.signature(diffusers_class(self).__call__).parameters["complex_human_instruction"].default
        states, mask, negative, negative_mask = self.encode_prompt(prompt, guided, negative_prompt=negative_prompt or "",
                                                                   device=self.device, complex_human_instruction=default)
        if guided:
            states, mask = torch.cat([negative, states]), torch.cat([negative_mask, mask])
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype),
                                                encoder_attention_mask=mask))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]`` at `timestep` (``[B]``, or ``[B, tokens]`` where an image's frame is clean) -> its
        prediction ``[B, C, f, h, w]`` (a learned-sigma transformer's second half of channels dropped, as its call drops
        it)."""
        out = transformer(hidden_states=latents, timestep=timestep, return_dict=False, **text.kwargs, **extra)[0]
        return out[:, :latents.shape[1]]


class VidLongSanaVideoPipeline(SanaVideoFamily, VidlongPipelineMixin, SanaVideoPipeline):
    """diffusers' `SanaVideoPipeline` (Sana-Video: linear self-attention, Gemma 2 text by cross-attention, a feed-forward
    that mixes neighbouring frames, Wan2.1's VAE) with vidlong's surface (`SanaVideoFamily`). Its VAE is Wan's, so
    `generate` decodes through Wan's streaming decoder, as for Wan; its call draws no more noise when given latents, so
    `generate` with no method is its call with the same seed, bit for bit."""


class VidLongSanaImageToVideoPipeline(SanaVideoFamily, VidlongPipelineMixin, SanaImageToVideoPipeline):
    """diffusers' `SanaImageToVideoPipeline` with vidlong's surface (`SanaVideoFamily`): given vidlong's noise as
    ``latents=``, its call puts the image's latent on frame 0 itself (its VAE's mode: nothing drawn), so `generate` with no
    method is its call with the same seed, bit for bit. It streams and extends: every window starts at the video's first
    frame, the image's latent clean there with timestep 0 on its tokens (`image_condition`; an extension's: its context's
    first latent frame)."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> FirstFrameLatent:
        """`FirstFrameLatent` of the image's latent ``[1, C, 1, h, w]`` as its call makes it (the image resized to `height` x
        `width` pixels, encoded alone, its VAE's mode normalised by the VAE's ``latents_mean`` and ``latents_std``), or of
        `latent` where it is made already (an extension's context's first frame); `frames` and `generator` unused (the
        mode is drawn from nothing)."""
        from ..generate import load_image

        if latent is None:
            pixels = self.video_processor.preprocess(load_image(image), height=height, width=width).unsqueeze(2)
            mode = self.vae.encode(pixels.to(self._execution_device, self.vae.dtype)).latent_dist.mode()
            latent = LatentScaling(self.vae, mode.device, mode.dtype).from_vae(mode).float()
        return FirstFrameLatent(latent)
