"""Kandinsky 6 under vidlong (`vidlong.families`): diffusers' `Kandinsky6TI2VAPipeline`, text to video with its sound, and
the same pipeline given an image (vidlong's `Kandinsky6TI2VAImageToVideoPipeline`, the same folder with ``--image``).

vidlong's methods act on the video's self-attention (`vidlong.attention.adapters.kandinsky6`); the audio's own attention,
the attention between audio and video and the text cross-attentions stay the model's. Its call makes the video and the
sound of the same length in one go (classifier-free guidance on both). Streams (from text or an image) and extensions
make each chunk by a call of its pipeline, with its sound (`vidlong.families.kandinsky6_stream`), as LTX-2's do."""
from __future__ import annotations

from typing import Optional

import torch
from diffusers import Kandinsky6TI2VAPipeline

from ..image_condition import ImageCondition
from ..pipeline import VidlongPipelineMixin
from ..video_io import Soundtrack
from .common import ChannelsLastNoise
from .hunyuan import HunyuanVideoVAE
from .kandinsky6_stream import Kandinsky6Streamer


class Kandinsky6Family(ChannelsLastNoise, HunyuanVideoVAE):
    """What Kandinsky 6's pipelines share under vidlong: HunyuanVideo's VAE of 4x time and 8x space (`HunyuanVideoVAE`,
    tiled as it loads), its noise drawn channels last as its call draws it (`ChannelsLastNoise`: its ``latents=`` and
    its output latents are ``[B, C, F, h, w]``, its loop's ``[B, F, h, w, C]``), ``frame_rate`` from the spec's fps (the
    sound's length follows it) and its sound."""

    makes_audio = True
    chunk_streamer = Kandinsky6Streamer  # each chunk one call of its pipeline, with its sound

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), frame_rate=self.spec.fps)

    def loop_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Its loop's channels-last latents ``[B, F (+ 1), h, w, C]`` as ``[B, C, F, h, w]``: the video's `frames`, not the
        image's frame its image-to-video loop holds after them."""
        return latents[:, :frames].permute(0, 4, 1, 2, 3)

    def audio_latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """The shapes its call's ``audio_latents=`` may have in a call making `batch` videos: ``[B, C, L]``, its transformer's
        audio channels, of any length L (its call makes its sound that long)."""
        return ((batch, self.transformer.config.in_audio_dim, None),)

    def soundtrack(self, output) -> Optional[Soundtrack]:
        """The first video's sound of a call's `output` (its vocoder's mono waveform ``[B, samples]`` at its audio VAE's
        rate, a tensor or, for ``output_type="np"``, an array), or None where the call returned latents or made none."""
        audio = getattr(output, "audio", None)
        if audio is None or audio.ndim != 2:
            return None
        return Soundtrack(torch.as_tensor(audio[:1]).float().clamp(-1, 1).cpu().numpy(), int(self.audio_sample_rate))


class VidLongKandinsky6TI2VAPipeline(Kandinsky6Family, VidlongPipelineMixin, Kandinsky6TI2VAPipeline):
    """diffusers' `Kandinsky6TI2VAPipeline` (Kandinsky 6: Qwen2.5-VL text and a pooled CLIP prompt, video and sound
    denoised together) with vidlong's surface, from text. Given ``latents=`` its call draws its sound's noise from the
    generator next, as after its own video noise: `generate` draws that noise first, so the sound is the stock call's
    for the same seed."""


class TailFrameImage(ImageCondition):
    """Kandinsky 6's image: its call appends the image's latent as one more frame after the video's, so the video's start
    latents keep their noise (`first_frame`)."""

    def __init__(self, latent: torch.Tensor):
        self.latent = latent

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        return latents


class VidLongKandinsky6TI2VAImageToVideoPipeline(VidLongKandinsky6TI2VAPipeline):
    """`Kandinsky6TI2VAPipeline` given an image (its releases' ``visual_cond`` transformers, two token types): its call
    encodes the image by a draw of its VAE's distribution before its noise's, so `generate` draws the image's latent first
    (`image_condition`, `image_in_start_latents`) and hands its call the generator from there (`call_redraws_from`); given
    ``latents=``, its call draws its video noise still and drops it (`prepare_latents`), so that its sound's noise is the
    stock call's for the same seed."""

    task = "i2v"
    image_in_start_latents = True
    call_redraws_from = "image"

    def prepare_latents(self, batch_size, num_channels_latents, height, width, num_frames, dtype, device, generator,
                        latents=None):
        """Its own; given `latents` ``[B, C, F, h, w]`` (channels last out), its noise drawn and dropped first."""
        drawn = super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device, generator)
        if latents is None:
            return drawn
        return super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device, generator,
                                       latents)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> TailFrameImage:
        """`TailFrameImage` of the image's latent ``[1, h, w, C]`` as its call encodes it (`encode_image`: resized and
        cropped, a draw of its VAE's distribution from `generator`, scaled), or of `latent` ``[1, C, 1, h, w]`` where it is
        made already (an extension's context's first latent frame); `frames` unused."""
        from ..generate import load_image

        if latent is not None:
            return TailFrameImage(latent[:, :, 0].permute(0, 2, 3, 1).to(self.transformer.dtype))
        return TailFrameImage(self.encode_image(load_image(image), height, width, self._execution_device,
                                                self.transformer.dtype, 1, generator))
