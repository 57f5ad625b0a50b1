"""Streams whose every chunk is one call of its pipeline, video and sound together (LTX-2's `ltx2_stream`, Kandinsky 6's
`kandinsky6_stream`: one transformer denoises both), with the re-noised context.

Each chunk is one call of its pipeline over a window of ``[context | chunk]`` latent frames, so its guidance and its
sampler are its call's. `RenoisedContext`, a diffusers hook on its transformer, puts the clean context into the first
entries of every forward's video and audio input, brought to that step's noise level (one noise draw a step, shared by
the step's forwards); the chunk's are its call's own. The sound is kept on the stream's clock in audio latent frames
(``r`` a second; `audio_clock`), the context's sound taken by time (`context_audio_spans`), and each chunk's sound decoded
with an overlap (`AudioOverlapDecoder`) as a `vidlong.video_io.Soundtrack` on its `StreamChunk`. A stream's first chunk
with no context is its call as `generate` makes it, so a native-length first chunk is `generate`'s video and sound.
What differs by family (its text, its audio latents' layout, its image, what its call needs besides) is `SoundStreamer`'s
subclass's.
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
from ..progress import stream_steps
from ..streaming import StreamText, VideoStreamer, own_call_while_streaming
from ..video_io import Soundtrack


def audio_clock(pixels: int, fps: float, rate: float, up: bool = False) -> int:
    """Audio latent frames (`rate` a second) on a stream's clock by pixel frame `pixels` (a boundary between frames, at
    `fps`): ``⌊pixels·rate/fps + 1/2⌋`` (with `up`, ``⌈pixels·rate/fps⌉``: where its call makes that many) in exact
    fractions, so that it never runs backwards."""
    frames = Fraction(pixels) * Fraction(rate) / Fraction(fps)
    return math.ceil(frames) if up else math.floor(frames + Fraction(1, 2))


def frame_edges(frame: int, temporal: int) -> tuple:
    """The pixel-frame boundaries (start, end) of latent frame `frame` (0-based) of a video whose causal VAE makes its first
    latent frame one pixel frame and each later one `temporal`."""
    return (pixel_frames(frame, temporal) if frame else 0), pixel_frames(frame + 1, temporal)


def context_audio_spans(made: int, sinks: int, window: int, fps: float, temporal: int, rate: float, up: bool = False,
                        first: int = 0) -> list:
    """The audio latent frames ``[(start, stop), ...]`` (on the stream's clock, `audio_clock`, rounding `up`) of a chunk's
    context when `made` latent frames are made: for each run of consecutive latent frames in the context (its sinks, the
    `sinks` frames from latent frame `first`, the clock's first or an extension's first cached one; then its window, the
    last `window` of the rest), the sound that ends where the run ends and lasts as many pixel frames as the run lasts at
    its place in the window (the window's first frame is one pixel frame long), so that the window's sound and its frames
    keep time together."""
    sinks = min(sinks, made - first)
    window = min(window, made - first - sinks)
    runs = [(first, first + sinks, 0), (made - window, made, sinks)]   # (first frame, end frame, position in the window)
    spans = []
    for first, end, position in runs:
        if end <= first:
            continue
        stop = frame_edges(end - 1, temporal)[1]
        lasts = frame_edges(position + end - first - 1, temporal)[1] - frame_edges(position, temporal)[0]
        start, stop = audio_clock(stop - lasts, fps, rate, up), audio_clock(stop, fps, rate, up)
        if stop > start:
            spans.append((start, stop))
    return spans


class RenoisedContext(ModelHook):
    """On the transformer for one chunk's call: the first entries along dim 1 of every forward's video ``hidden_states``
    (LTX-2's packed tokens ``[B, N, C]``; Kandinsky 6's channels-last latent frames ``[B, F, h, w, C']``, their first ``C``
    channels: its conditioning channels follow) and of its ``audio_hidden_states`` ``[B, L, C_a]`` after the first `unkept`
    (an extension's context's sound that is not kept: its input's, not encoded (LTX-2's, or a silent input's), which the
    call makes with the chunk's) become the clean context's (`video` ``[1, n, ...C]``, `audio` ``[1, l, C_a]``, as the
    transformer takes them) brought to the forward's timestep (its largest: an image's tokens are at 0) by `renoise` (the
    pipeline's `stream_renoise`: flow matching's ``(1 - σ)·x + σ·ε``) with ε drawn from `generator` once per timestep (the
    forwards of a step see the same), but for the first `kept` video entries (LTX-2's image-to-video window's image,
    which its call keeps clean).
    `timesteps` records the timesteps seen (tests)."""

    name = "vidlong_renoised_context"

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
        """Video or audio input of its call (as `RenoisedContext` lays them out) with the context's as the transformer saw
        them at the last forward's timestep (the first `kept` video entries and `unkept` audio entries as they are)."""
        video, sound = self._noised
        context, start, before = (sound, 0, self.unkept) if audio else (video, self.kept, 0)
        seen = tokens.clone()
        seen[:, before + start: before + context.shape[1], ..., :context.shape[-1]] = context[:, start:].to(seen.dtype)
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



class AudioOverlapDecoder:
    """Decodes a stream's sound chunk by chunk: each chunk's audio latent frames ``[1, C, n, ...]`` (as its call hands its
    audio VAE) with the `overlap` frames before them, by `decode` (its audio VAE, then its vocoder: a waveform
    ``[1, channels, samples]`` at `rate`), giving out the samples past those given before. ``T`` latent frames decode to
    ``a·T - b`` samples (``a`` = `per_frame`, a latent frame's samples; ``b`` 0 for Kandinsky 6's, LTX-2's VAE causal in
    time), the last of them where a whole decode puts them; the first samples of a decode miss the frames before its
    overlap and the last `hold` samples miss the frames after (its vocoder reads ahead), so those wait for the next
    chunk's decode, but for the `last` chunk's (or `flush`, where a stream stops before its last chunk). For LTX-2, 32
    frames of overlap and a hold of four frames' samples give the whole decode to 1e-6 of its peak on the tiny test model
    (`tests/test_ltx2.py`) and at LTX-2's release shapes with random weights (4.5e-7 with LTX-2.0's vocoder, 1.1e-6 with
    LTX-2.3's; two frames: 2.6e-5 and 2.4e-4; `benchmarks/ltx2_audio_overlap.py`); Kandinsky 6's MMAudio VAE attends over
    its whole input in its middle block, so no overlap decodes it exactly (`tests/test_kandinsky6.py` measures it);
    trained weights were not measured.
    """

    def __init__(self, decode, per_frame: int, rate: int, overlap: int = 32, hold: Optional[int] = None):
        self.decode_latents, self.per_frame, self.rate, self.overlap = decode, per_frame, rate, overlap
        self.hold = 4 * self.per_frame if hold is None else hold
        self.tail, self.made, self.given = None, 0, 0   # frames kept for the overlap, frames decoded, samples given out
        self.held: Optional[torch.Tensor] = None         # the samples held back, [channels, n]

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, last: bool = False) -> Optional[Soundtrack]:
        """The samples of the next audio latent frames ``[1, C, n, ...]`` not given out yet (None where there are none: a
        short first chunk's wait for the next one)."""
        z = latents if self.tail is None else torch.cat([self.tail, latents], dim=2)
        waveform = self.decode_latents(z)
        self.made += latents.shape[2]
        end = self.per_frame * self.made - (self.per_frame * z.shape[2] - waveform.shape[-1])  # on the stream's clock
        if end - self.given > waveform.shape[-1]:
            raise ValueError(f"an overlap of {self.overlap} audio latent frames is too short for a hold of {self.hold} samples")
        stop = end if last else max(self.given, end - self.hold)
        samples = waveform[0, :, waveform.shape[-1] - (end - self.given): waveform.shape[-1] - (end - stop)]
        self.held = waveform[0, :, waveform.shape[-1] - (end - stop):]
        self.given, self.tail = stop, z[:, :, -self.overlap:]
        return self._soundtrack(samples)

    def follow(self, latents: torch.Tensor) -> None:
        """Go on after audio latent frames ``[1, C, n, ...]`` whose samples are not given out here (an extension's input's
        own sound, encoded): their last `overlap` frames are the next decode's, its samples from their end on. For a
        decoder whose ``T`` frames decode to ``a·T`` samples (``b`` 0: Kandinsky 6's)."""
        self.tail, self.made = latents[:, :, -self.overlap:], latents.shape[2]
        self.given = self.per_frame * self.made

    def flush(self) -> Optional[Soundtrack]:
        """The samples held back after the last decode, as a whole decode ends them (None where there are none)."""
        held, self.held = self.held, None
        if held is not None:
            self.given += held.shape[-1]
        return self._soundtrack(held)

    def _soundtrack(self, samples: Optional[torch.Tensor]) -> Optional[Soundtrack]:
        if samples is None or not samples.shape[-1]:
            return None
        return Soundtrack(samples.float().clamp(-1, 1).cpu().numpy(), int(self.rate))


class SoundStreamer(VideoStreamer):
    """A `VideoStreamer` whose chunks are calls of its pipeline with their sound: each chunk one call over ``[context |
    chunk]`` (its guidance, its sampler and its sound), the context re-noised into every forward (`RenoisedContext`);
    `StreamChunk.audio` holds each chunk's sound. Text or image to video, or an extension, made at its input's frame rate
    (its call takes the rate).

    An extension's context is its input's last latent frames, encoded by its video VAE, and, where its family encodes a
    waveform (`_encode_audio`: Kandinsky 6's), its input's sound from where those frames start (the clock's start) to
    where the clock's sound for them ends, encoded once as its call takes audio latents and kept as the stream's own, so
    that the new sound continues it (its sinks' sound then the sound of the sinks' frames: `sinks_at`; the chunks' decode
    goes on after it, its overlap: `AudioOverlapDecoder.follow`). Where its family does not (LTX-2's: diffusers has no
    waveform-to-audio-latent path), or the input holds no sound track (a file with none, or frames given as an array),
    the context's sound within the input is made anew by each chunk's call with the chunk's, and dropped
    (`unkept_audio`): the new sound follows the new frames, not the input's sound. The input chunk carries the input
    file's own sound track (silence where it has none, or for frames given as an array: `_input_audio`).

    A family's subclass gives `_audio_rate`, `_sound_format`, `_audio_decoder`, `_encode`, `_call_setup`, `_audio_shape`,
    `_audio_tokens`, `_audio_latents`, `_video_tokens`, `_call_audio_frames`, where its call keeps an image's tokens clean
    in the window, `_image_tokens`, and, where it encodes a waveform, `_encode_audio`.

    Attributes:
        rate: audio latent frames a second (`_audio_rate`).
        frames_made, audio_made: latent frames of video and of sound made so far (the stream's clock; an extension's starts
            after its input's encoded latent frames, the sound after theirs).
        unkept_audio: audio latent frames at the clock's start whose sound is not kept (an extension's input's, not encoded;
            0 else).
        sinks_at: the clock's latent frame of the first sink: an extension's whose input's sound is encoded, its first
            cached frame (the sinks' sound is theirs); else 0 (an input's sound made anew keeps the length it had).
        input_sound: an extension's input's sound (`_input_audio`), None else.
        chunk_audio: the last chunk's audio latents ``[1, C, n, ...]``, as its call returns them.
        last_context: the `RenoisedContext` of the last chunk's call (None before a chunk with context).
        on_step, step_kind: as `VideoStreamer`'s, each step of a chunk's call (a whole native-length call for a chunk).
    """

    #: whether its stream's clock rounds up (`audio_clock`): where its call makes ``⌈pixels·rate/fps⌉`` audio latent frames
    #: (Kandinsky 6's), so that a first chunk's sound, its call's, ends on the clock
    clock_up = False

    def __init__(self, pipe, *args, **kwargs):
        super().__init__(pipe, *args, **kwargs)
        self.rate = self._audio_rate()
        self.frames_made = self.audio_made = self.unkept_audio = self.sinks_at = 0
        self.input_sound: Optional[Soundtrack] = None
        self.kept: list = []   # ((start, stop), audio latents [1, C, n, ...]) the next context reads, on the stream's clock
        self.audio_decoder = self._audio_decoder()
        self.chunk_audio: Optional[torch.Tensor] = None
        self.last_context: Optional[RenoisedContext] = None

    def _audio_rate(self) -> float:
        """Audio latent frames a second."""
        raise NotImplementedError

    def _sound_format(self) -> tuple:
        """(sample rate, channels) of its waveform."""
        raise NotImplementedError

    def _audio_decoder(self) -> AudioOverlapDecoder:
        """The decoder of the chunks' sounds."""
        raise NotImplementedError

    def _call_setup(self, text: StreamText, hook: Optional[RenoisedContext]) -> tuple:
        """(keyword arguments of a chunk's call for `text` and the stream's image, a context manager around the call) where
        `hook` (None: a chunk with no context) gives the context."""
        raise NotImplementedError

    def _audio_shape(self, frames: int) -> tuple:
        """Audio latents of `frames` audio latent frames ``(1, C, frames, ...)``, as its call takes them."""
        raise NotImplementedError

    def _audio_tokens(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio latents ``[1, C, n, ...]`` (as its call takes and returns them) -> the transformer's ``[1, n, C_a]``."""
        raise NotImplementedError

    def _audio_latents(self, noise: torch.Tensor) -> torch.Tensor:
        """Standard normal noise of `_audio_shape` -> the audio latents its call starts from, given them."""
        raise NotImplementedError

    def _video_tokens(self, latents: torch.Tensor) -> torch.Tensor:
        """Clean latents ``[1, C, f, h, w]`` -> the leading entries of the transformer's video input (`RenoisedContext`)."""
        raise NotImplementedError

    def _call_audio_frames(self, pixels: int) -> int:
        """Audio latent frames its call makes, not given them, for `pixels` pixel frames at the stream's rate (its own
        arithmetic, which may round an exact count otherwise than the clock's fractions)."""
        raise NotImplementedError

    def _image_tokens(self, shape: tuple) -> int:
        """The window's leading video entries its call keeps clean for the image of a chunk of latents `shape`: none."""
        return 0

    def _encode_audio(self, sound: Soundtrack, start: float, frames: int) -> Optional[torch.Tensor]:
        """The audio latents ``[1, C, frames, ...]`` (as its call takes them) of `sound` (at `_sound_format`) from `start`
        seconds on, one latent frame each ``1 / rate`` seconds, or None where its family encodes no waveform (then an
        extension's context's sound within its input is made anew: `unkept_audio`)."""
        return None

    def _start_from_prefix(self, decoder):
        """`VideoStreamer._start_from_prefix`, the stream's clock started after the input's encoded latent frames; their
        sound, the input's from where they start, encoded (`_encode_audio`) and kept as the stream's own, or, where its
        family encodes none or the input has no sound track, not kept (`unkept_audio`)."""
        from ..video_io import VideoFileFrames, has_sound

        frames = super()._start_from_prefix(decoder)
        made, temporal = self.prefix.latents.shape[2], self.pipe.spec.temporal_ratio
        self.frames_made = made
        self.audio_made = audio_clock(pixel_frames(made, temporal), self.fps, self.rate, self.clock_up)
        self.input_sound = self._read_input_audio(frames)
        heard = isinstance(frames, VideoFileFrames) and has_sound(frames.path)
        start = max(0, len(frames) - pixel_frames(made, temporal)) / self.fps   # where the encoded frames start
        encoded = self._encode_audio(self.input_sound, start, self.audio_made) if heard else None
        if encoded is None:
            self.unkept_audio = self.audio_made
        else:
            self.kept = [((0, self.audio_made), encoded)]
            self.sinks_at = made - len(self.sink_latents) - len(self.window_latents)   # the first cached frame
            self.audio_decoder.follow(encoded)
        return frames

    def _input_audio(self, frames) -> Soundtrack:
        """The sound of the input's frames, as `_start_from_prefix` read it (`_read_input_audio`)."""
        return self.input_sound

    def _read_input_audio(self, frames) -> Soundtrack:
        """The sound of the input's frames (``len(frames)`` pixel frames at `fps`), at its waveform's rate and channels: its
        file's first sound track (`vidlong.video_io.read_sound`: ffmpeg resamples it and mixes its channels), or silence
        (frames given as an array)."""
        from ..video_io import VideoFileFrames, read_sound

        rate, channels = self._sound_format()
        seconds = len(frames) / self.fps
        if isinstance(frames, VideoFileFrames):
            return read_sound(frames.path, seconds, rate, channels)
        return Soundtrack(np.zeros((channels, max(1, round(seconds * rate))), np.float32), rate)

    def _all_context_spans(self, made: int) -> list:
        """`context_audio_spans` of the context when `made` latent frames are made (its sinks from `sinks_at`)."""
        return context_audio_spans(made, self.schedule.sinks, self.schedule.window, self.fps, self.pipe.spec.temporal_ratio,
                                   self.rate, self.clock_up, self.sinks_at)

    def _context_spans(self, made: int) -> list:
        """`_all_context_spans` within the sound made and kept (a first chunk's call decides its own sound's length; an
        extension's input's is not kept)."""
        spans = [(max(start, self.unkept_audio), min(stop, self.audio_made)) for start, stop in self._all_context_spans(made)]
        return [(start, stop) for start, stop in spans if stop > start]

    def _unkept_context_audio(self, made: int) -> int:
        """Audio latent frames of the context's sound that are not kept (`unkept_audio`) when `made` latent frames are made:
        its call makes them with the chunk's, before the kept ones (they are earlier on the clock)."""
        return sum(max(0, min(stop, self.unkept_audio) - start) for start, stop in self._all_context_spans(made))

    def _denoise(self, text: StreamText, frames: int) -> torch.Tensor:
        """A chunk of `frames` latent frames and its sound (`chunk_audio`), one call over the context and the chunk."""
        from ..pipeline import hidden_progress_bars

        pipe = self.pipe
        spatial, fps, temporal = pipe.geometry().spatial, self.fps, pipe.spec.temporal_ratio
        context = self._context_latents()
        shape = (1, pipe.latent_channels, frames, self.height // spatial, self.width // spatial)
        before = self.generator.get_state()
        noise = pipe.start_noise("plain", shape, pipe.native_frames, self.generator)   # as `generate` draws it
        if self.condition is not None and not context:  # its call's image in the video's first frame, where it puts it
            noise = self.condition.first_frame(noise)
        window = torch.cat(context + [noise], dim=2) if context else noise
        end = frame_edges(self.frames_made + frames - 1, temporal)[1]
        new_audio = max(0, audio_clock(end, fps, self.rate, self.clock_up) - self.audio_made)
        hook, drawn = None, None
        if context:  # given latents, its call may draw noise again and drop it: a generator of its own takes those draws
            spans, unkept = self._context_spans(self.frames_made), self._unkept_context_audio(self.frames_made)
            audio_context = torch.cat([cut(self.kept, *span) for span in spans] or [torch.zeros(self._audio_shape(0))], dim=2)
            new_audio = max(new_audio, 0 if audio_context.shape[2] + unkept else 1)   # its transformer takes one frame at least
            audio_noise = self._audio_latents(torch.randn(self._audio_shape(unkept + new_audio), generator=self.generator))
            arguments = dict(generator=torch.Generator().manual_seed(0), audio_latents=torch.cat(
                [audio_noise[:, :, :unkept], audio_context, audio_noise[:, :, unkept:]], dim=2).to(pipe.device))
            kept = self._image_tokens(shape) if self.condition is not None else 0
            hook = self.last_context = RenoisedContext(self._video_tokens(torch.cat(context, dim=2)).to(pipe.device),
                                                       self._audio_tokens(audio_context).to(pipe.device), self.generator,
                                                       pipe.stream_renoise, kept, unkept)
        else:  # its call as `generate` makes it: the same draws (a call that draws its video's noise again: before it)
            audio_context, unkept = torch.zeros(self._audio_shape(0)), 0
            state = before if pipe.call_redraws_from is not None else self.generator.get_state()
            arguments = dict(generator=torch.Generator().set_state(state))
            wanted = max(1, new_audio)   # the clock's; its transformer takes one frame at least
            if self._call_audio_frames(pixel_frames(frames, temporal)) != wanted:  # its call would make none, or (its float
                # arithmetic past an exact count) one off the clock: the clock's, from the stream's generator
                begun = self.generator.get_state()
                arguments["audio_latents"] = self._audio_latents(torch.randn(self._audio_shape(wanted), generator=self.generator))
                drawn = begun, self.generator.get_state()   # where that draw began and ended
        final, steps = {}, stream_steps(self, self.steps)

        def keep_latents(_pipe, _step, _t, kwargs):
            final["latents"] = kwargs["latents"]
            steps.step()
            return {}

        call, setup = self._call_setup(text, hook)
        on_transformer = contextlib.nullcontext() if hook is None else renoised_context(pipe.transformer, hook)
        with own_call_while_streaming(pipe), hidden_progress_bars(pipe), on_transformer, setup, steps.started_by(pipe.experts()):
            output = pipe(**call, height=self.height, width=self.width, num_frames=pixel_frames(window.shape[2], temporal),
                          frame_rate=fps, num_inference_steps=self.steps, guidance_scale=self.guidances[0],
                          latents=pipe.call_latents(window.to(pipe.device, pipe.transformer.dtype)), output_type="latent",
                          callback_on_step_end=keep_latents, **arguments)
        if not context:  # the stream's generator goes on past the call's own draws
            resumed = arguments["generator"].get_state()
            if drawn is not None and torch.equal(resumed, drawn[0]):  # its call drew none past where the sound's noise began
                resumed = drawn[1]   # (Kandinsky 6's, given its video and sound): past that noise, not those numbers again
            self.generator.set_state(resumed)
        latents = pipe.loop_latents(final["latents"], window.shape[2], *shape[3:])[:, :, -frames:].float()
        self.chunk_audio = output.audio[:, :, unkept + audio_context.shape[2]:].float().cpu()   # [1, C, n, ...]
        self.frames_made += frames
        self._keep_audio(self.chunk_audio)
        return latents

    def _keep_audio(self, audio: torch.Tensor) -> None:
        """Add a chunk's sound ``[1, C, n, ...]`` to the stream's, keeping what the next chunk's context reads of it."""
        start, self.audio_made = self.audio_made, self.audio_made + audio.shape[2]
        pieces = self.kept + [((start, self.audio_made), audio)]
        self.kept = [(span, cut(pieces, *span)) for span in self._context_spans(self.frames_made)]

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
