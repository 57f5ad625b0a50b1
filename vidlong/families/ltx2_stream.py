"""Streams of LTX-2 (`LTX2Pipeline`): video and its sound, chunk after chunk, with the re-noised context.

Each chunk is one call of its pipeline over a window of ``[context | chunk]`` latent frames, so its guidance
(classifier-free, spatio-temporal, modality; the audio's own scales) is its call's. `RenoisedContext`, a diffusers
hook on its transformer, puts the clean context into the first tokens of every forward's video and audio input,
brought to that step's noise level (one noise draw a step, shared by the step's forwards); the chunk's tokens are
its call's own, and its guidance's conversions between velocity and clean prediction see the context's tokens as the
transformer saw them (`context_in_guidance`: its guidance rescale reads every token). The sound is kept on the stream's
clock in audio latent frames (``r`` a second: its VAE's sample rate over its hop and time compression; `audio_clock`),
the context's sound taken by time (`context_audio_spans`), and each chunk's sound decoded with an overlap
(`AudioOverlapDecoder`) as a `vidlong.video_io.Soundtrack` on its `StreamChunk`.
A stream's first chunk with no context is its call as `generate` makes it, so a native-length first chunk is
`generate`'s video and sound.
"""
from __future__ import annotations

import contextlib
import math
from fractions import Fraction
from typing import Optional

import numpy as np
import torch
from diffusers.hooks import HookRegistry, ModelHook

from ..models import pixel_frames
from ..streaming import StreamText, VideoStreamer, own_call_while_streaming
from ..video_io import Soundtrack
from .common import replaced


def audio_clock(pixels: int, fps: float, rate: float) -> int:
    """Audio latent frames (`rate` a second) on a stream's clock by pixel frame `pixels` (a boundary between frames, at
    `fps`): ``⌊pixels·rate/fps + 1/2⌋`` in exact fractions, so that it never runs backwards."""
    return math.floor(Fraction(pixels) * Fraction(rate) / Fraction(fps) + Fraction(1, 2))


def frame_edges(frame: int, temporal: int) -> tuple:
    """The pixel-frame boundaries (start, end) of latent frame `frame` (0-based) of a video whose causal VAE makes its first
    latent frame one pixel frame and each later one `temporal`."""
    return (pixel_frames(frame, temporal) if frame else 0), pixel_frames(frame + 1, temporal)


def context_audio_spans(made: int, sinks: int, window: int, fps: float, temporal: int, rate: float) -> list:
    """The audio latent frames ``[(start, stop), ...]`` (on the stream's clock, `audio_clock`) of a chunk's context when
    `made` latent frames are made: for each run of consecutive latent frames in the context (its sinks, the first
    `sinks` frames; then its window, the last `window` of the rest), the sound that ends where the run ends and lasts as
    many pixel frames as the run lasts at its place in the window (the window's first frame is one pixel frame long), so
    that the window's sound and its frames keep time together."""
    sinks = min(sinks, made)
    window = min(window, made - sinks)
    runs = [(0, sinks, 0), (made - window, made, sinks)]   # (first frame, end frame, position in the window)
    spans = []
    for first, end, position in runs:
        if end <= first:
            continue
        stop = frame_edges(end - 1, temporal)[1]
        lasts = frame_edges(position + end - first - 1, temporal)[1] - frame_edges(position, temporal)[0]
        start, stop = audio_clock(stop - lasts, fps, rate), audio_clock(stop, fps, rate)
        if stop > start:
            spans.append((start, stop))
    return spans


class RenoisedContext(ModelHook):
    """On LTX-2's transformer for one chunk's call: the first tokens of every forward's video ``hidden_states``
    ``[B, N, C]`` and its ``audio_hidden_states`` ``[B, L, C_a]`` after the first `unkept` (an extension's context's sound
    that is not kept: its input's, not encoded, which the call makes with the chunk's) become the clean context's (`video`
    ``[1, n, C]``, `audio` ``[1, l, C_a]``, normalised packed tokens) brought to the forward's timestep (its largest: an
    image's tokens are at 0) by `renoise` (the pipeline's `stream_renoise`: flow matching's ``(1 - σ)·x + σ·ε``) with ε
    drawn from `generator` once per timestep (the forwards of a step see the same), but for the first `kept` video tokens
    (an image-to-video window's image, which its call keeps clean). `timesteps` records the timesteps seen (tests)."""

    name = "vidlong_ltx2_context"

    def __init__(self, video: torch.Tensor, audio: torch.Tensor, generator: torch.Generator, renoise, kept: int = 0,
                 unkept: int = 0):
        super().__init__()
        self.video, self.audio, self.generator, self.renoise, self.kept = video, audio, generator, renoise, kept
        self.unkept = unkept
        self.timesteps, self._noised = [], None

    def _at(self, timestep: torch.Tensor):
        level = float(timestep.max())
        if not self.timesteps or self.timesteps[-1] != level:
            self.timesteps.append(level)
            self._noised = tuple(self.renoise(clean, torch.randn(clean.shape, generator=self.generator).to(clean.device), level)
                                 for clean in (self.video, self.audio))
        return self._noised

    def as_seen(self, tokens: torch.Tensor, audio: bool) -> torch.Tensor:
        """Packed video ``[B, N, C]`` or audio ``[B, L, C_a]`` tokens of its call with the context's as the transformer saw
        them at the last forward's timestep (the first `kept` video tokens and `unkept` audio tokens as they are)."""
        video, sound = self._noised
        context, start, before = (sound, 0, self.unkept) if audio else (video, self.kept, 0)
        seen = tokens.clone()
        seen[:, before + start: before + context.shape[1]] = context[:, start:].to(seen.dtype)
        return seen

    def pre_forward(self, module, *args, **kwargs):
        self._at(kwargs["timestep"])
        kwargs["hidden_states"] = self.as_seen(kwargs["hidden_states"], audio=False)
        kwargs["audio_hidden_states"] = self.as_seen(kwargs["audio_hidden_states"], audio=True)
        return args, kwargs


@contextlib.contextmanager
def renoised_context(transformer, hook: RenoisedContext):
    """Within it, `hook` is on `transformer`; after it, gone."""
    registry = HookRegistry.check_if_exists_or_initialize(transformer)
    registry.register_hook(hook, RenoisedContext.name)
    try:
        yield hook
    finally:
        registry.remove_hook(RenoisedContext.name, recurse=False)


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


class AudioOverlapDecoder:
    """Decodes a stream's sound chunk by chunk (its audio VAE, then its vocoder): each chunk's audio latent frames
    ``[1, C, n, M]`` (as its call hands its audio VAE) with the `overlap` frames before them, giving out the samples past
    those given before. Its VAE is causal in time: ``T`` latent frames decode to ``a·T - b`` samples (``a`` a latent
    frame's: its hop times its time compression, at the vocoder's rate), the last of them where a whole decode puts
    them; the first samples of a decode miss the frames before its overlap and the last `hold` samples miss the frames
    after (its vocoder reads ahead), so those wait for the next chunk's decode, but for the `last` chunk's (or `flush`,
    where a stream stops before its last chunk). 32 frames of overlap and a hold of four frames' samples give the whole
    decode to 1e-6 of its peak on the tiny test model (`tests/test_ltx2.py`) and at LTX-2's release shapes with random
    weights (4.5e-7 with LTX-2.0's vocoder, 1.1e-6 with LTX-2.3's; two frames: 2.6e-5 and 2.4e-4;
    `benchmarks/ltx2_audio_overlap.py`); trained weights were not measured.
    """

    def __init__(self, pipe, overlap: int = 32, hold: Optional[int] = None):
        self.pipe, self.overlap = pipe, overlap
        rate = pipe.vocoder.config.output_sampling_rate
        self.per_frame = pipe.audio_hop_length * pipe.audio_vae_temporal_compression_ratio * rate // pipe.audio_sampling_rate
        self.hold = 4 * self.per_frame if hold is None else hold
        self.tail, self.made, self.given = None, 0, 0   # frames kept for the overlap, frames decoded, samples given out
        self.held: Optional[torch.Tensor] = None         # the samples held back, [channels, n]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, last: bool = False) -> Optional[Soundtrack]:
        """The samples of the next audio latent frames ``[1, C, n, M]`` not given out yet (None where there are none: a
        short first chunk's wait for the next one)."""
        pipe = self.pipe
        z = latents if self.tail is None else torch.cat([self.tail, latents], dim=2)
        waveform = pipe.vocoder(pipe.audio_vae.decode(z.to(pipe.audio_vae.device, pipe.audio_vae.dtype), return_dict=False)[0])
        self.made += latents.shape[2]
        end = self.per_frame * self.made - (self.per_frame * z.shape[2] - waveform.shape[-1])  # on the stream's clock
        if end - self.given > waveform.shape[-1]:
            raise ValueError(f"an overlap of {self.overlap} audio latent frames is too short for a hold of {self.hold} samples")
        stop = end if last else max(self.given, end - self.hold)
        samples = waveform[0, :, waveform.shape[-1] - (end - self.given): waveform.shape[-1] - (end - stop)]
        self.held = waveform[0, :, waveform.shape[-1] - (end - stop):]
        self.given, self.tail = stop, z[:, :, -self.overlap:]
        return self._soundtrack(samples)

    def flush(self) -> Optional[Soundtrack]:
        """The samples held back after the last decode, as a whole decode ends them (None where there are none)."""
        held, self.held = self.held, None
        if held is not None:
            self.given += held.shape[-1]
        return self._soundtrack(held)

    def _soundtrack(self, samples: Optional[torch.Tensor]) -> Optional[Soundtrack]:
        if samples is None or not samples.shape[-1]:
            return None
        return Soundtrack(samples.float().clamp(-1, 1).cpu().numpy(), int(self.pipe.vocoder.config.output_sampling_rate))


class LTX2Streamer(VideoStreamer):
    """A `VideoStreamer` for LTX-2: each chunk one call of its pipeline over ``[context | chunk]`` (its guidance, its
    sampler and its sound), the context re-noised into every forward (`RenoisedContext`); `StreamChunk.audio` holds each
    chunk's sound. Text or image to video (the image's latent the first frame of every window, as its image-to-video call
    keeps it: clean, its tokens at timestep 0), or an extension, made at its input's frame rate (its call takes the rate).

    An extension's context is its input's last latent frames, encoded by its video VAE, but not its input's sound:
    diffusers has no path from a waveform to its audio VAE's input (the mel spectrogram it was trained on is not in its
    configs), so the context's sound within the input is made anew by each chunk's call with the chunk's, and dropped
    (`unkept_audio`). The new sound follows the new frames, not the input's sound; the input chunk carries the input
    file's own sound track (silence where it has none, or for frames given as an array: `_input_audio`).

    Attributes:
        frames_made, audio_made: latent frames of video and of sound made so far (the stream's clock; an extension's starts
            after its input's encoded latent frames, the sound after theirs).
        unkept_audio: audio latent frames at the clock's start whose sound is not kept (an extension's input's; 0 else).
        last_context: the `RenoisedContext` of the last chunk's call (None for a chunk with no context).
        on_step, step_kind: as `VideoStreamer`'s, each step of a chunk's call (a whole native-length call for a chunk).
    """

    def __init__(self, pipe, *args, **kwargs):
        super().__init__(pipe, *args, **kwargs)
        self.rate = pipe.audio_sampling_rate / pipe.audio_hop_length / pipe.audio_vae_temporal_compression_ratio
        self.frames_made = self.audio_made = self.unkept_audio = 0
        self.kept: list = []   # ((start, stop), audio latents [1, C, n, M]) the next context reads, on the stream's clock
        self.audio_decoder = AudioOverlapDecoder(pipe)
        self.chunk_audio: Optional[torch.Tensor] = None
        self.last_context: Optional[RenoisedContext] = None

    def _encode(self, prompt: str) -> StreamText:
        """The prompt as its call takes it, encoded once: text and negative text (its audio's guidance runs at any video
        guidance) with their masks."""
        pipe = self.pipe
        positive, positive_mask, negative, negative_mask = pipe.encode_prompt(
            prompt, negative_prompt=self.negative_prompt or None, do_classifier_free_guidance=True,
            max_sequence_length=pipe.text_tokens, device=pipe._execution_device)
        return StreamText(1, dict(prompt_embeds=positive, prompt_attention_mask=positive_mask,
                                  negative_prompt_embeds=negative, negative_prompt_attention_mask=negative_mask))

    def _start_from_prefix(self, decoder):
        """`VideoStreamer._start_from_prefix`, the stream's clock started after the input's encoded latent frames (their
        sound not kept: `unkept_audio`)."""
        frames = super()._start_from_prefix(decoder)
        self.frames_made = self.prefix.latents.shape[2]
        self.audio_made = self.unkept_audio = audio_clock(pixel_frames(self.frames_made, self.pipe.spec.temporal_ratio),
                                                          self.fps, self.rate)
        return frames

    def _input_audio(self, frames) -> Soundtrack:
        """The sound of the input's frames (``len(frames)`` pixel frames at `fps`), at its vocoder's rate and channels: its
        file's first sound track (`vidlong.video_io.read_sound`), or silence (frames given as an array)."""
        from ..video_io import VideoFileFrames, read_sound

        vocoder = self.pipe.vocoder.config
        seconds, rate, channels = len(frames) / self.fps, int(vocoder.output_sampling_rate), vocoder.out_channels
        if isinstance(frames, VideoFileFrames):
            return read_sound(frames.path, seconds, rate, channels)
        return Soundtrack(np.zeros((channels, max(1, round(seconds * rate))), np.float32), rate)

    def _all_context_spans(self, made: int) -> list:
        """`context_audio_spans` of the context when `made` latent frames are made."""
        return context_audio_spans(made, self.schedule.sinks, self.schedule.window, self.fps, self.pipe.spec.temporal_ratio,
                                   self.rate)

    def _context_spans(self, made: int) -> list:
        """`_all_context_spans` within the sound made and kept (a first chunk's call decides its own sound's length; an
        extension's input's is not kept)."""
        spans = [(max(start, self.unkept_audio), min(stop, self.audio_made)) for start, stop in self._all_context_spans(made)]
        return [(start, stop) for start, stop in spans if stop > start]

    def _unkept_context_audio(self, made: int) -> int:
        """Audio latent frames of the context's sound that are not kept (`unkept_audio`) when `made` latent frames are made:
        its call makes them with the chunk's, before the kept ones (they are earlier on the clock)."""
        return sum(max(0, min(stop, self.unkept_audio) - start) for start, stop in self._all_context_spans(made))

    def _audio_shape(self, frames: int) -> tuple:
        """Audio latents of `frames` audio latent frames, ``(1, C, frames, M)``, as its audio VAE takes them."""
        config = self.pipe.audio_vae.config
        return 1, config.latent_channels, frames, config.mel_bins // self.pipe.audio_vae_mel_compression_ratio

    def _denoise(self, text: StreamText, frames: int) -> torch.Tensor:
        """A chunk of `frames` latent frames and its sound (`chunk_audio`), one call over the context and the chunk."""
        pipe = self.pipe
        spatial, fps, temporal = pipe.geometry().spatial, self.fps, pipe.spec.temporal_ratio
        context = self._context_latents()
        shape = (1, pipe.latent_channels, frames, self.height // spatial, self.width // spatial)
        before = self.generator.get_state()
        noise = torch.randn(shape, generator=self.generator)
        image = {}
        if self.condition is not None:  # image to video: its call keeps the window's first frame, the image's latent
            image = dict(image=self.image)
            noise = noise if context else self.condition.first_frame(noise)
        window = torch.cat(context + [noise], dim=2) if context else noise
        new_audio = max(0, audio_clock(frame_edges(self.frames_made + frames - 1, temporal)[1], fps, self.rate) - self.audio_made)
        hook, guidance = contextlib.nullcontext(), contextlib.nullcontext()
        if context:  # given latents, its call draws noise again and drops it: a generator of its own takes those draws
            spans, unkept = self._context_spans(self.frames_made), self._unkept_context_audio(self.frames_made)
            audio_context = torch.cat([cut(self.kept, *span) for span in spans] or [torch.zeros(self._audio_shape(0))], dim=2)
            new_audio = max(new_audio, 0 if audio_context.shape[2] + unkept else 1)   # its transformer takes one frame at least
            audio_noise = self._denormalized_audio(torch.randn(self._audio_shape(unkept + new_audio), generator=self.generator))
            arguments = dict(generator=torch.Generator().manual_seed(0), audio_latents=torch.cat(
                [audio_noise[:, :, :unkept], audio_context, audio_noise[:, :, unkept:]], dim=2).to(pipe.device))
            kept = shape[3] * shape[4] if image else 0   # the image's tokens
            self.last_context = RenoisedContext(pipe.call_latents(torch.cat(context, dim=2)).to(pipe.device),
                                                self._normalized_audio(audio_context).to(pipe.device), self.generator,
                                                pipe.stream_renoise, kept, unkept)
            hook = renoised_context(pipe.transformer, self.last_context)
            guidance = context_in_guidance(pipe, self.last_context)
        else:  # its call as `generate` makes it: the same draws (its text-to-video call draws the video's noise again)
            audio_context, unkept = torch.zeros(self._audio_shape(0)), 0
            state = before if pipe.call_redraws_from == "noise" else self.generator.get_state()
            arguments = dict(generator=torch.Generator().set_state(state))
            if round(pixel_frames(frames, temporal) / fps * self.rate) == 0:  # its call would make no sound: one frame
                arguments["audio_latents"] = self._denormalized_audio(torch.randn(self._audio_shape(1), generator=self.generator))
        final = {}

        def keep_latents(_pipe, step, _t, kwargs):
            final["latents"] = kwargs["latents"]
            if self.on_step is not None:
                self.on_step(step + 1, self.steps)
            return {}

        from ..pipeline import hidden_progress_bars

        with own_call_while_streaming(pipe), hidden_progress_bars(pipe), hook, guidance:
            output = pipe(**text.kwargs, height=self.height, width=self.width, num_frames=pixel_frames(window.shape[2], temporal),
                          frame_rate=fps, num_inference_steps=self.steps, guidance_scale=self.guidances[0],
                          latents=pipe.call_latents(window.to(pipe.device, pipe.transformer.dtype)), output_type="latent",
                          callback_on_step_end=keep_latents, **image, **arguments)
        if not context:  # the stream's generator goes on past the call's own draws
            self.generator.set_state(arguments["generator"].get_state())
        latents = pipe.grid_latents(final["latents"], window.shape[2], *shape[3:])[:, :, -frames:].float()
        # [1, C, n, M], as its audio VAE takes them
        self.chunk_audio = output.audio[:, :, unkept + audio_context.shape[2]:].float().cpu()
        self.frames_made += frames
        self._keep_audio(self.chunk_audio)
        return latents

    def _keep_audio(self, audio: torch.Tensor) -> None:
        """Add a chunk's sound ``[1, C, n, M]`` to the stream's, keeping what the next chunk's context reads of it."""
        start, self.audio_made = self.audio_made, self.audio_made + audio.shape[2]
        pieces = self.kept + [((start, self.audio_made), audio)]
        self.kept = [(span, cut(pieces, *span)) for span in self._context_spans(self.frames_made)]

    def _normalized_audio(self, audio: torch.Tensor) -> torch.Tensor:
        """Its audio latents ``[1, C, n, M]`` (as its audio VAE takes them) -> the transformer's packed, normalised tokens."""
        pipe, vae = self.pipe, self.pipe.audio_vae
        return pipe._normalize_audio_latents(pipe._pack_audio_latents(audio), vae.latents_mean.cpu(), vae.latents_std.cpu())

    def _denormalized_audio(self, normalised: torch.Tensor) -> torch.Tensor:
        """Normalised audio latents ``[1, C, n, M]`` -> as its audio VAE takes them (its call normalises given ones)."""
        pipe, vae = self.pipe, self.pipe.audio_vae
        packed = pipe._denormalize_audio_latents(pipe._pack_audio_latents(normalised), vae.latents_mean.cpu(),
                                                 vae.latents_std.cpu())
        return pipe._unpack_audio_latents(packed, normalised.shape[2], num_mel_bins=normalised.shape[3])

    def _chunk_audio(self, index: int) -> Optional[Soundtrack]:
        return self.audio_decoder.decode(self.chunk_audio, last=self.chunks is not None and index == self.chunks - 1)

    def remaining_audio(self) -> Optional[Soundtrack]:
        """The sound the last chunk's decode held back for the next one, for a stream that ends before its last chunk
        (stopped, or of no set length): write it after the last chunk's (None where there is none)."""
        return self.audio_decoder.flush()


def cut(pieces: list, start: int, stop: int) -> torch.Tensor:
    """Audio latent frames ``[start, stop)`` (the stream's clock) of `pieces` ``[((first, end), [1, C, n, M]), ...]``."""
    parts, at = [], start
    for (first, end), piece in sorted(pieces, key=lambda item: item[0]):
        if first <= at < end:
            parts.append(piece[:, :, at - first: min(stop, end) - first])
            at = min(stop, end)
    if at < stop:
        raise RuntimeError(f"the stream's sound {start}-{stop} was not kept")  # a bug, not a user's error
    return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]
