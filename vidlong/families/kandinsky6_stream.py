"""Streams of Kandinsky 6 (`Kandinsky6TI2VAPipeline`): video and its sound, chunk after chunk, each chunk one call of its
pipeline over ``[context | chunk]`` with the re-noised context (`vidlong.families.sound_stream`).

What is Kandinsky 6's own: its prompt encoded once (Qwen2.5-VL states, a pooled CLIP prompt, their padding masks) and
handed to every call as its own encoding (`encode_prompt`; its call takes no masks beside given states); its video input
channels last ``[B, F, h, w, C']`` (the latents' ``C`` channels first, its image-to-video conditioning channels after);
its audio latents ``[1, C, L]``, scaled as its transformer takes them (no normalisation), ``sample_rate / hop`` a second
(its MMAudio VAE's latent hop), its call making ``⌈pixels / fps · rate⌉`` of them; its sound mono at its audio VAE's
rate, and an extension's input's encoded by its audio VAE (`_encode_audio`) into its context's; an image as one more
frame after the window's, at the window's first frame's RoPE position, its latent encoded once (`encode_image`: the
stream's image, or an extension's context's first frame) and handed to every call.
"""
from __future__ import annotations

import math
from contextlib import ExitStack

import torch

from ..streaming import StreamText
from ..video_io import Soundtrack
from .common import replaced
from .sound_stream import AudioOverlapDecoder, SoundStreamer


class Kandinsky6Streamer(SoundStreamer):
    """A `SoundStreamer` for Kandinsky 6, text or image to video (its image the windows' first frame, as its call conditions
    it), or an extension (its input's sound encoded into the context by its audio VAE, so that the new sound continues
    it: `SoundStreamer`). Its clock rounds up, as its call counts its sound's frames (`clock_up`)."""

    clock_up = True

    def _audio_rate(self) -> float:
        return self.pipe.audio_sample_rate / self.pipe.audio_latent_hop_length

    def _sound_format(self) -> tuple:
        return int(self.pipe.audio_sample_rate), 1

    def _audio_decoder(self) -> AudioOverlapDecoder:
        """Its audio VAE, then its vocoder: a latent frame's hop of samples at its audio VAE's rate."""
        return AudioOverlapDecoder(self._decode_audio, self.pipe.audio_latent_hop_length, int(self.pipe.audio_sample_rate))

    def _decode_audio(self, latents: torch.Tensor) -> torch.Tensor:
        """Audio latents ``[1, C, L]`` -> its vocoder's mono waveform ``[1, 1, samples]``, as its call decodes them."""
        pipe, vae = self.pipe, self.pipe.audio_vae
        mel = vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]
        return pipe.vocoder(mel.to(pipe.vocoder.dtype), return_dict=False)[0]

    def _encode_audio(self, sound: Soundtrack, start: float, frames: int) -> torch.Tensor:
        """`frames` audio latent frames ``[1, C, frames]`` of the mono waveform `sound` (at its audio VAE's rate) from
        `start` seconds on: its ``frames·hop`` samples from sample ``round(start·rate)`` (silence past the track's end, less
        than a hop), through its audio VAE's `encode` (its log-mel front end, its encoder: ``⌊samples / hop⌋`` frames), the
        posterior's mode times its scaling factor, as its call's decode divides them by it; float32 on the CPU. Its front
        end runs in float32 at least (a bfloat16 VAE's STFT has no FFT kernel), put back to the VAE's dtype after."""
        pipe, vae, hop = self.pipe, self.pipe.audio_vae, self.pipe.audio_latent_hop_length
        first = round(start * sound.rate)
        waveform = torch.zeros(1, frames * hop)
        piece = torch.from_numpy(sound.samples[0, first: first + frames * hop])
        waveform[0, :piece.shape[0]] = piece
        dtype, front = vae.dtype, torch.promote_types(vae.dtype, torch.float32)
        try:
            vae.mel_converter.to(front)
            posterior = vae.encode(waveform.to(pipe._execution_device, front), return_dict=False)[0]
        finally:
            vae.mel_converter.to(dtype)
        return (posterior.mode() * vae.config.scaling_factor).float().cpu()

    def _encode(self, prompt: str) -> StreamText:
        """The prompt as its call encodes it, once: its `encode_prompt`'s six tensors (text states, pooled, mask; the
        negative's, its default negative prompt where none is given, with guidance above 1)."""
        pipe = self.pipe
        encoded = pipe.encode_prompt(prompt, negative_prompt=self.negative_prompt or None,
                                     do_classifier_free_guidance=self.guidances[0] > 1, device=pipe._execution_device,
                                     dtype=pipe.transformer.dtype)
        return StreamText(1, dict(prompt=prompt, encoded=encoded))

    def _call_setup(self, text: StreamText, hook):
        """The prompt, its encoding handed back by its call's `encode_prompt`; where the windows have an image, the image
        and its latent handed back by its call's `encode_image`."""
        pipe, setup, call = self.pipe, ExitStack(), dict(prompt=text.kwargs["prompt"])
        setup.enter_context(replaced(pipe, "encode_prompt", lambda *_args, **_kwargs: text.kwargs["encoded"]))
        if self.condition is not None:
            latent = self.condition.latent.to(pipe._execution_device, pipe.transformer.dtype)
            setup.enter_context(replaced(pipe, "encode_image", lambda *_args, **_kwargs: latent))
            call["image"] = self.text_image
        return call, setup

    def _video_tokens(self, latents: torch.Tensor) -> torch.Tensor:
        """``[1, C, f, h, w]`` -> channels last ``[1, f, h, w, C]``, as its transformer's input leads with them."""
        return latents.permute(0, 2, 3, 4, 1)

    def _call_audio_frames(self, pixels: int) -> int:
        pipe = self.pipe
        return math.ceil(pixels / self.fps * pipe.audio_sample_rate / pipe.audio_latent_hop_length)

    def _audio_shape(self, frames: int) -> tuple:
        return 1, self.pipe.transformer.config.in_audio_dim, frames

    def _audio_tokens(self, audio: torch.Tensor) -> torch.Tensor:
        """``[1, C, L]`` -> ``[1, L, C]``, as its transformer takes them."""
        return audio.permute(0, 2, 1)

    def _audio_latents(self, noise: torch.Tensor) -> torch.Tensor:
        """As they are: its call takes given audio latents unscaled."""
        return noise
