"""Streams of LTX-2 (`LTX2Pipeline`, and `LTX2ConditionPipeline` from text or its first frame): video and its sound,
chunk after chunk, with the re-noised context (`vidlong.families.sound_stream`: each chunk one call of its pipeline over
``[context | chunk]``, so its guidance, classifier-free, spatio-temporal, modality and the audio's own scales, is its
call's).

What is LTX-2's own: its text and negative text with their masks, encoded once; its packed, normalised video and audio
tokens (its audio latents ``[1, C, n, M]`` as its audio VAE takes them, a rate of its VAE's sample rate over its hop and
time compression); its image-to-video call keeping the window's first frame clean; its guidance's conversions between
velocity and clean prediction seeing the context's tokens as the transformer saw them (`context_in_guidance`: its
guidance rescale reads every token).
"""
from __future__ import annotations

import contextlib
from contextlib import ExitStack

import torch

from ..streaming import StreamText
from .common import replaced
from .sound_stream import AudioOverlapDecoder, RenoisedContext, SoundStreamer


@contextlib.contextmanager
def context_in_guidance(pipe, hook: RenoisedContext):
    """Within it, its call's conversions between velocity and clean prediction (`convert_velocity_to_x0`,
    `convert_x0_to_velocity`: its guidance's deltas and rescale, which reads every token's) take the window's latents with
    the context's tokens as `hook` gave them to the transformer, not its own copy of them, which its steps move elsewhere.
    Video latents come packed ``[B, N, C]`` or, in its image-to-video call's step, ``[B, C, F, h, w]``; audio ones packed."""
    def seen(sample: torch.Tensor, scheduler) -> torch.Tensor:
        if scheduler is not None and scheduler is not pipe.scheduler:   # the audio's own scheduler
            return hook.as_seen(sample, audio=True)
        if sample.ndim == 3:
            return hook.as_seen(sample, audio=False)
        p, pt = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        frames, height, width = sample.shape[2:]
        tokens = hook.as_seen(pipe._pack_latents(sample, p, pt), audio=False)
        return pipe._unpack_latents(tokens, frames // pt, height // p, width // p, p, pt)

    cls = type(pipe)

    def to_x0(sample, output, step, scheduler=None):
        return cls.convert_velocity_to_x0(pipe, seen(sample, scheduler), output, step, scheduler)

    def to_velocity(sample, output, step, scheduler=None):
        return cls.convert_x0_to_velocity(pipe, seen(sample, scheduler), output, step, scheduler)

    with replaced(pipe, "convert_velocity_to_x0", to_x0), replaced(pipe, "convert_x0_to_velocity", to_velocity):
        yield



class LTX2Streamer(SoundStreamer):
    """A `SoundStreamer` for LTX-2. Text or image to video (the image's latent the first frame of every window, as its
    image-to-video call keeps it: clean, its tokens at timestep 0), or an extension: diffusers has no path from a waveform
    to its audio VAE's input (the mel spectrogram it was trained on is not in its configs), so an extension's input's
    sound is not encoded into the context (`SoundStreamer`)."""

    def _audio_rate(self) -> float:
        pipe = self.pipe
        return pipe.audio_sampling_rate / pipe.audio_hop_length / pipe.audio_vae_temporal_compression_ratio

    def _sound_format(self) -> tuple:
        vocoder = self.pipe.vocoder.config
        return int(vocoder.output_sampling_rate), vocoder.out_channels

    def _audio_decoder(self) -> AudioOverlapDecoder:
        """Its audio VAE, then its vocoder; a latent frame's samples: its hop times its time compression, at the vocoder's
        rate."""
        pipe = self.pipe
        rate = pipe.vocoder.config.output_sampling_rate
        per_frame = pipe.audio_hop_length * pipe.audio_vae_temporal_compression_ratio * rate // pipe.audio_sampling_rate
        return AudioOverlapDecoder(pipe.decode_audio, per_frame, rate)

    def _encode(self, prompt: str) -> StreamText:
        """The prompt as its call takes it, encoded once: text and negative text (its audio's guidance runs at any video
        guidance) with their masks."""
        pipe = self.pipe
        positive, positive_mask, negative, negative_mask = pipe.encode_prompt(
            prompt, negative_prompt=self.negative_prompt or None, do_classifier_free_guidance=True,
            max_sequence_length=pipe.text_tokens, device=pipe._execution_device)
        return StreamText(1, dict(prompt_embeds=positive, prompt_attention_mask=positive_mask,
                                  negative_prompt_embeds=negative, negative_prompt_attention_mask=negative_mask))

    def _call_setup(self, text: StreamText, hook):
        """Its encoded text, the image where it has one; its guidance's conversions reading the context as the transformer
        saw it (`context_in_guidance`)."""
        image = {} if self.condition is None else dict(image=self.image)
        setup = ExitStack()
        if hook is not None:
            setup.enter_context(context_in_guidance(self.pipe, hook))
        return dict(**text.kwargs, **image), setup

    def _image_tokens(self, shape: tuple) -> int:
        """The window's first latent frame's tokens: its image's."""
        return shape[3] * shape[4]

    def _video_tokens(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[1, C, f, h, w]`` -> its packed tokens ``[1, N, C']``, as its loop holds them."""
        pipe = self.pipe
        return pipe._pack_latents(latents, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)

    def _call_audio_frames(self, pixels: int) -> int:
        return round(pixels / self.fps * self.rate)

    def _audio_shape(self, frames: int) -> tuple:
        """Audio latents of `frames` audio latent frames, ``(1, C, frames, M)``, as its audio VAE takes them."""
        config = self.pipe.audio_vae.config
        return 1, config.latent_channels, frames, config.mel_bins // self.pipe.audio_vae_mel_compression_ratio

    def _audio_tokens(self, audio: torch.Tensor) -> torch.Tensor:
        """Its audio latents ``[1, C, n, M]`` (as its audio VAE takes them) -> the transformer's packed, normalised tokens."""
        pipe, vae = self.pipe, self.pipe.audio_vae
        return pipe._normalize_audio_latents(pipe._pack_audio_latents(audio), vae.latents_mean.cpu(), vae.latents_std.cpu())

    def _audio_latents(self, noise: torch.Tensor) -> torch.Tensor:
        """Normalised audio latents ``[1, C, n, M]`` -> as its audio VAE takes them (its call normalises given ones)."""
        pipe, vae = self.pipe, self.pipe.audio_vae
        packed = pipe._denormalize_audio_latents(pipe._pack_audio_latents(noise), vae.latents_mean.cpu(),
                                                 vae.latents_std.cpu())
        return pipe._unpack_audio_latents(packed, noise.shape[2], num_mel_bins=noise.shape[3])
