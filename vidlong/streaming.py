"""Streaming generation: unbounded videos chunk by chunk, with flat memory and time per chunk.

For each chunk of C latent frames: noise -> denoising steps with the chunk attending to
``[sinks | window | itself]`` -> decode the chunk (Wan's causal VAE keeps its feature cache; other
VAEs decode with an overlap) -> yield its pixel frames. The chunk sees earlier frames in one of two
ways: through the rolling KV cache (after its steps, one more forward of the clean chunk at timestep 0
writes its K/V and the window rolls), or re-noised (the clean context frames, brought to each step's
noise level, run again with the chunk in a stock forward). What differs between model families (text
encoding, one forward, the sampler, the forward process, decode) is asked of the pipeline
(`VidlongPipelineMixin.stream_*`).

Wan2.2's two experts each keep their own cache: a denoising step goes to the expert its timestep
selects, and the clean forward runs on both, so both caches hold the same frames. Extension
(`VidlongPipelineMixin.extend`) is a stream whose cache and decoder start from the input's last
frames (an `ExtensionPrefix`).
"""
from __future__ import annotations

import itertools
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from . import hooks
from .attention.stream_attention import StreamContext
from .errors import VidlongError, named
from .generate import load_image, resolve_guidance
from .image_condition import token_timesteps
from .live_prompts import LivePrompts, PromptSwitching
from .methods import WINDOW_CONTEXTS, Streaming
from .models import pixel_frames
from .progress import StepCallback, stream_steps
from .schedulers.causal import CausalSampler, causal_levels
from .schedulers.stream import StreamSchedule, first_chunk_from
from .text_memo import apply_text_memo, remove_text_memo
from .video_io import Soundtrack
from .validate import check_streamable, resolve_context, uses_causal_sampler


@dataclass
class StreamText:
    """A prompt as a family's transformer takes it: keyword arguments (text states, masks, pooled
    states, embedded guidance) for a batch of `batch` (2 with classifier-free guidance: negative, positive)."""

    batch: int
    kwargs: dict

    def positive(self) -> "StreamText":
        """The prompt alone, batch 1 (unguided): the positive half of a guided batch."""
        if self.batch == 1:
            return self
        return StreamText(1, {name: value[1:] if isinstance(value, torch.Tensor) and value.shape[0] == self.batch else value
                              for name, value in self.kwargs.items()})


@dataclass
class StreamChunk:
    """One finished chunk: `frames` uint8 ``[T, H, W, 3]`` (T = r·C for the VAE's r pixel frames per
    latent frame, or r·(C - 1) + 1 for a stream's first chunk), `index` (0-based; -1 for an extension's
    input), `prompt`, `seconds` of wall time spent on it, `latents` ``[1, C_lat, C, h, w]`` (for an
    extension's input: the latents it continues from, the saved ones or its video's encoded tail, so
    that the items' latents concatenated are what ``--save-latents`` saves); `is_input` marks the input
    frames an extension starts with; `audio`: the chunk's sound where the model makes one (LTX-2, Kandinsky 6), a
    `vidlong.video_io.Soundtrack` (the chunks' sounds one after another are the stream's; None where a
    chunk's sound waits for the next chunk's), else None."""

    index: int
    frames: np.ndarray
    prompt: str
    seconds: float
    latents: torch.Tensor
    is_input: bool = False
    audio: Optional[Soundtrack] = None


#: text tokens per prompt, as the Wan pipelines' calls pad them (their `max_sequence_length` default)
TEXT_TOKENS = 512


@dataclass(frozen=True)
class StreamSampling:
    """How a stream denoises each chunk, resolved from its config and the model's spec.

    Attributes:
        causal: the causal sampler (else the pipeline's scheduler).
        timesteps: the causal sampler's levels (None for the scheduler).
        steps: the scheduler's steps per chunk.
        guidances: (guidance, low-noise expert's guidance).
    """

    causal: bool
    timesteps: Optional[tuple]
    steps: int
    guidances: tuple

    @classmethod
    def resolve(cls, streaming: Streaming, spec, windowed: bool, guidance: Optional[float] = None,
                guidance_2: Optional[float] = None) -> "StreamSampling":
        causal = uses_causal_sampler(streaming, spec, windowed)
        if guidance is None:  # the model's stream guidance; the published few-step models are distilled without
            guidance = spec.stream_guidance if spec.stream_guidance is not None else (1.0 if causal else None)
            if guidance is not None and guidance_2 is None:  # a stream default holds for both experts
                guidance_2 = guidance
        timesteps = causal_levels(streaming, spec) if causal else None
        return cls(causal, timesteps, streaming.steps or spec.num_inference_steps, resolve_guidance(spec, guidance, guidance_2))

    @property
    def step_count(self) -> int:
        """Model evaluations per chunk before the clean write: the levels, or the scheduler's steps."""
        return len(self.timesteps) if self.causal else self.steps


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """``[1, 3, T, H, W]`` in [-1, 1] -> uint8 ``[T, H, W, 3]``."""
    return ((video[0].permute(1, 2, 3, 0).float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


class SeamBlend:
    """Carries an extension's seam: new pixel frame k gets ``w_k · (input_last - decoded_last)`` with
    ``w_k = 1 - k / frames`` (k < frames), so the continuation, decoded from the VAE's reconstruction of
    the input, starts from the input's own last frame and fades back to its own decode.

    Args:
        input_last, decoded_last: uint8 ``[H, W, 3]``, the input's last frame and its reconstruction.
        frames: pixel frames to fade over (0: off).
    """

    def __init__(self, input_last: Optional[np.ndarray], decoded_last: Optional[np.ndarray], frames: int):
        self.frames, self.done = frames, 0
        self.residual = None if input_last is None or not frames else input_last.astype(np.float32) - decoded_last.astype(np.float32)

    @classmethod
    def off(cls) -> "SeamBlend":
        return cls(None, None, 0)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        """uint8 ``[T, H, W, 3]`` new frames, the next ones after those already seen."""
        if self.residual is None or self.done >= self.frames:
            return chunk
        k = np.arange(self.done, self.done + len(chunk))
        weights = np.clip(1 - k / self.frames, 0, None).astype(np.float32)[:, None, None, None]
        self.done += len(chunk)
        return np.clip(chunk.astype(np.float32) + weights * self.residual, 0, 255).round().astype(np.uint8)


def replay(decoder, history: torch.Tensor, chunk: int, keep: bool) -> np.ndarray:
    """Decode an extension's input latents ``[1, C, F, h, w]`` `chunk` latent frames at a time (`decoder`'s
    cache then holds the input's history); uint8 frames, all of them with `keep`, else the last one only
    (memory stays one chunk's, however long the input)."""
    pieces = []
    for start in range(0, history.shape[2], chunk):
        frames = to_uint8(decoder.decode(history[:, :, start : start + chunk]))
        pieces = pieces + [frames] if keep else [frames[-1:]]
    return np.concatenate(pieces)


def held_sound(stream) -> Optional[Soundtrack]:
    """The sound `stream` (any of vidlong's streamers) held back for a chunk it did not make, to write after its last chunk's
    where it stops early or has no set length (`SoundStreamer.remaining_audio`: LTX-2's, Kandinsky 6's); None for the others."""
    remaining = getattr(stream, "remaining_audio", None)
    return None if remaining is None else remaining()


def rolled_in(history: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
    """A history buffer of clean latent frames ``[1, C, n, h, w]`` with `latents` ``[1, C, f, h, w]`` after it and its oldest
    ``f`` out: its size stays ``n`` (the history a Helios chunk or a FramePack section reads)."""
    return torch.cat([history, latents.to(history.device)], dim=2)[:, :, -history.shape[2]:]


def held_frames(stream) -> list:
    """The finished frames `stream` (any of vidlong's streamers) held back for a chunk it did not make, uint8 ``[T, H, W, 3]``,
    to write after its last chunk's where it stops early or has no set length (FramePack's section tail, which its next
    section blends into: `remaining_frames`, once); none for the others."""
    remaining = getattr(stream, "remaining_frames", None)
    return [] if remaining is None else remaining()


def _streams_of(pipe) -> int:
    """Streams running on `pipe`'s transformers, counted on each transformer itself (`streaming_on`), so that every
    pipeline sharing one (`vidlong.from_pipe`'s, a video-to-video twin) sees a stream paused in another."""
    return max((getattr(transformer, "vidlong_streams", 0) for transformer in pipe.experts()), default=0)


def _add_streams(pipe, count: int) -> None:
    for transformer in pipe.experts():
        transformer.vidlong_streams = getattr(transformer, "vidlong_streams", 0) + count


@contextmanager
def streaming_on(pipe):
    """Marks `pipe`'s transformers as running a stream for the body (`refuse_call_while_streaming`); streams nest."""
    _add_streams(pipe, 1)
    try:
        yield
    finally:
        _add_streams(pipe, -1)


@contextmanager
def own_call_while_streaming(pipe):
    """The body may call `pipe` in the middle of its one stream (a fifo stream's cut makes a native video);
    refused while another stream of it is paused too (the call would take that stream's hooks off)."""
    if _streams_of(pipe) != 1:
        raise VidlongError("another stream of this pipeline is paused mid-way; finish or close it before this stream's cut")
    _add_streams(pipe, -1)
    try:
        yield
    finally:
        _add_streams(pipe, 1)


def begin_run(stream) -> None:
    """A stream runs once, and not while another stream on its pipeline's transformers is paused: its first iteration
    marks it ``started`` and ``running`` (until that iteration ends: its `__iter__` clears it); another is refused in one
    line that says whether the first is paused at a chunk or done."""
    if stream.started and stream.running:
        raise VidlongError("this stream is paused mid-way: go on with the iterator you took from it (next(it), for chunk in "
                           "it) or close it (it.close()); a stream runs once")
    if stream.started:
        raise VidlongError("this stream has run already (its noise, sinks and window are spent); "
                           "call pipe.stream(...) or pipe.extend(...) again for a new one")
    refuse_call_while_streaming(stream.pipe)  # another stream paused on the same transformers: its cache holds them
    stream.started = stream.running = True


def refuse_call_while_streaming(pipe) -> None:
    """A one-line error for a pipeline call while a stream on `pipe`'s transformers is paused mid-way (from this pipeline
    or another sharing them; `hooks.check_not_streaming`)."""
    hooks.check_not_streaming(pipe.experts())


def refuse_diffusers_cache(pipe, what: str) -> None:
    """A one-line error where diffusers' caching (``transformer.enable_cache``: FirstBlockCache, TaylorSeer, ...) is on for
    `what` (streams, diagonal denoising), which run the transformer outside the pipeline's call and its cache contexts, on
    windows a cache would mix up: `generate` with another method runs the pipeline's own call, where the cache works."""
    cached = [transformer for transformer in pipe.experts() if getattr(transformer, "is_cache_enabled", False)]
    if cached:
        config = type(getattr(cached[0], "_cache_config", None)).__name__
        raise VidlongError(f"the transformer has diffusers' cache on ({config}), which {what} do not run with (they call it "
                           "outside the pipeline's call, window by window): pipe.transformer.disable_cache() first")


class VideoStreamer(PromptSwitching):
    """Generates one stream with a vidlong pipeline; iterate it for `StreamChunk`s.

    Args:
        pipe: a vidlong pipeline (one or two experts; image-to-video ones with the re-noised context, or the clean one
            where it takes it: Cosmos-Predict2.5 Image2World's, Cosmos 3's).
        prompt: one prompt, or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt); `switch_prompt`
            changes it while the stream runs (re-caching as `Streaming.recache_on_prompt_switch` says).
        streaming: the `Streaming` config.
        chunks: how many chunks; None streams until the consumer stops iterating.
        guidance, guidance_2, seed, height, width: as for `generate` (None: the model's defaults;
            `guidance_2` is the low-noise expert's).
        prefix: an `ExtensionPrefix` to continue from (its frames come first, its latents fill the
            cache); height and width then follow its latents.
        image: the first frame for an image-to-video pipeline (a PIL image, uint8 ``[H, W, 3]`` frame or
            image file path: `load_image`); an extension uses the first frame of its context instead.

    Attributes:
        given_video: whether the stream is given a video it redraws or edits (`vidlong.redraw_stream`): a video-editing
            pipeline streams only so (`vidlong.validate.check_not_redrawing`).
        on_step: None, or ``on_step(done, total)``, called as a chunk's denoising starts (0 done:
            `vidlong.progress.stream_steps`) and after each of its `total` steps: progress to show, and an exception
            raised there ends the stream out of its iterator (the app's Stop, `vidlong.errors.Stopped`: within a step,
            not a whole chunk), its hooks off the transformers and its cache freed.
        step_kind: what those steps make, as progress names it ("chunk").
    """

    given_video = False
    on_step = StepCallback()

    def __init__(self, pipe, prompt: str, streaming: Streaming = Streaming(), chunks: Optional[int] = None,
                 guidance: Optional[float] = None, guidance_2: Optional[float] = None, seed: int = 0,
                 height: Optional[int] = None, width: Optional[int] = None, negative_prompt: str = "",
                 prefix=None, image=None):
        from .validate import check_stream, check_stream_call, limits_for_pipeline, shown_first_chunk, video_size

        spec, limits = pipe.spec, limits_for_pipeline(pipe)
        check_stream(streaming, limits, height, width, extension=prefix is not None)
        check_stream_call(limits, guidance, guidance_2, seed, negative_prompt, image, extension=prefix is not None)
        self.pipe, self.streaming, self.chunks, self.prefix = pipe, streaming, chunks, prefix
        self.context_mode = resolve_context(streaming, limits)  # "cache", "renoise" or "clean" (`Streaming.context`)
        self.windowed = self.context_mode in WINDOW_CONTEXTS  # the context joins each step's window (no KV cache)
        self.schedule = StreamSchedule.resolve(spec.native_frames, streaming.chunk, streaming.sinks, streaming.window)
        check_streamable(limits, self.context_mode, self.schedule.sinks, self.given_video, prefix is not None)
        self.image, self.condition = None if image is None else load_image(image), None
        self.text_image = self.image  # the image a text encoder that reads one reads (an extension's: its context's first frame)
        self.live = LivePrompts(prompt, chunks, self._chunk_of_second)
        sampling = StreamSampling.resolve(streaming, spec, self.windowed, guidance, guidance_2)
        self.causal, self.timesteps, self.steps, self.guidances = (sampling.causal, sampling.timesteps, sampling.steps,
                                                                   sampling.guidances)
        self.first_chunk = max(streaming.first_chunk or spec.stream_first_chunk or self.schedule.chunk, shown_first_chunk(limits))
        self.dropped_frames = limits.dropped_frames  # the call's, from the video's first chunk
        self.chunks_alone = limits.chunks_alone  # each chunk decoded on its own (Helios): what a second of video counts
        self.counted_first_chunk = limits.counted_first_chunk  # with its image's frame where it comes first (FramePack)
        if self.first_chunk > spec.native_frames:
            raise VidlongError(f"{named('first_chunk')} {self.first_chunk} exceeds the model's native window of "
                               f"{spec.native_frames} latent frames; use at most {spec.native_frames}")
        self.height, self.width = video_size(limits, height, width, self.image)
        if prefix is not None:
            self.height, self.width = prefix.pixel_size(pipe.geometry().spatial)
        self.negative_prompt = negative_prompt
        self.seed = int(seed)  # a NumPy integer too
        self.generator = torch.Generator().manual_seed(self.seed)
        self.contexts = [StreamContext(sinks=self.schedule.sinks, window=self.schedule.window) for _ in pipe.experts()]
        self.seam = SeamBlend.off()
        self.started = self.running = False  # a stream runs once (`begin_run`)
        self.on_step, self.step_kind = None, "chunk"
        self.sink_latents: list[torch.Tensor] = []  # clean latent frames kept for re-caching
        self.clean_context: Optional[torch.Tensor] = None  # the clean context's latents [1, C, f, h, w], while a chunk runs
        self.remembered = 0  # latent frames handed to `_remember` (the stream's frames are numbered in that order)
        self.window_latents: deque = deque(maxlen=max(self.schedule.window, 0) or None)

    def settings(self) -> dict:
        """What the stream's .json sidecar records of its config, with what it resolved where the config
        left it to the model: sampler, levels, context, first chunk (none for an extension), sinks, window."""
        return dict(asdict(self.streaming), sampler="causal" if self.causal else "scheduler",
                    timesteps=list(self.timesteps) if self.causal else None, context=self.context_mode,
                    first_chunk=None if self.prefix is not None else self.first_chunk,
                    sinks=self.schedule.sinks, window=self.schedule.window)

    @property
    def cfg(self) -> bool:
        """Whether chunks run classifier-free guidance (the family decides: HunyuanVideo's is embedded)."""
        return self.pipe.stream_guided(max(self.guidances))

    @property
    def context(self) -> StreamContext:
        """The first expert's streaming context (its cache shows what every expert holds)."""
        return self.contexts[0]

    def _chunk_of_second(self, second: float) -> int:
        return first_chunk_from(second, self.fps, self.schedule.chunk, self.pipe.spec.temporal_ratio,
                                continuing=self.prefix is not None, first_chunk=self.counted_first_chunk(self.first_chunk),
                                dropped=self.dropped_frames, alone=self.chunks_alone)

    def _encode(self, prompt: str) -> StreamText:
        """The prompt as the transformer takes it (negative and positive with guidance), read with the windows' image
        where the pipeline's text encoder reads one (`text_reads_image`)."""
        image = {"image": self.text_image} if self.pipe.text_reads_image else {}
        return self.pipe.stream_text(prompt, self.negative_prompt or None, self.cfg, self.guidances[0], **image)

    def _timestep(self, timestep: float, latents: torch.Tensor, batch: int) -> torch.Tensor:
        """The transformer's timestep input: ``[B]``, or ``[B, tokens]`` for per-token timesteps (Wan2.2 TI2V's
        ``expand_timesteps``; an image condition whose first frame is clean: TI2V's and LTX-Video's image-to-video),
        every token of the window at `timestep` but where the condition's mask says 0."""
        patch = self.pipe.geometry().patch
        masked = self.condition is not None and self.condition.timestep_mask(latents.shape[2], patch) is not None
        if not masked and not self.pipe.config.get("expand_timesteps", False):
            return torch.full((batch,), float(timestep), device=self.pipe.device)
        frames = torch.full((latents.shape[2] // patch[0],), float(timestep), device=self.pipe.device)
        return token_timesteps(frames, latents.shape, patch, self.condition).expand(batch, -1)

    def _run(self, expert: int, latents: torch.Tensor, timestep: float, text: StreamText, writing: bool,
             frames: Sequence[int]) -> torch.Tensor:
        """One forward of `expert` on window latents ``[1, C, f, h, w]``, the stream's latent `frames` (their numbers, as
        `_remember` counts them: what a condition of each frame reads, `vidlong.image_condition`); returns the raw
        prediction. The latents go in the transformer's dtype, or in float32 where the family's forward casts them itself
        (`stream_float_latents`); the step's arguments (`_step_arguments`) go over the condition's (Cosmos-Predict2.5's
        clean context, whose first frame is the image's, over its image latent)."""
        pipe, context = self.pipe, self.contexts[expert]
        transformer = pipe.experts()[expert]
        batch, dtype = text.batch, torch.float32 if pipe.stream_float_latents else transformer.dtype
        x = latents.to(pipe.device, dtype).expand(batch, -1, -1, -1, -1)
        extra = self._step_arguments(timestep)
        if self.condition is not None:
            x, extra = self.condition.hidden_states(x, frames).to(dtype), {**self.condition.extra(batch), **extra}
        context.writing = writing
        try:
            return pipe.stream_forward(transformer, x, self._timestep(timestep, x, batch), text, **extra)
        finally:
            context.writing = False

    def _step_arguments(self, timestep) -> dict:
        """What a forward at `timestep` hands the family's `stream_forward` from the chunk's sampler beside its latents,
        timestep and text: nothing (a flow map's target timestep: AnyFlow's streamer)."""
        return {}

    def _predict(self, latents: torch.Tensor, timestep: float, text: StreamText, frames: Sequence[int]) -> torch.Tensor:
        """The guided prediction of the expert that `timestep` selects for the window of latent `frames` (`_run`)."""
        expert = self.pipe.expert_at(float(timestep))
        pred = self._run(expert, latents, timestep, text, False, frames)
        if not self.cfg:
            return pred
        uncond, cond = pred.float().chunk(2)
        return self._guided(uncond, cond, self.guidances[expert])

    def _guided(self, uncond: torch.Tensor, cond: torch.Tensor, guidance: float) -> torch.Tensor:
        """Classifier-free guidance of the negative and positive predictions: ``uncond + g·(cond - uncond)`` (a family whose
        call guides otherwise has its own: Cosmos-Predict2.5's ``cond + g·(cond - uncond)``)."""
        return uncond + guidance * (cond - uncond)

    def _write(self, latents: torch.Tensor, text: StreamText, frames: Sequence[int]) -> None:
        """The clean forward (timestep 0) of `latents`, the stream's latent `frames`, on every expert: each writes its own
        cache (nothing to write when the context joins each window instead, or when the cache keeps none of these frames:
        its sinks full and no window)."""
        cache = self.contexts[0].cache
        kept = self.schedule.sinks + self.schedule.window > 0 if cache is None else \
            any(slot is not None for slot in cache.frame_slots(latents.shape[2]))
        if self.windowed or not kept:
            return
        for expert in range(len(self.contexts)):
            self._run(expert, latents, 0.0, text, True, frames)

    def _remember(self, latents: torch.Tensor) -> None:
        """Clean latents ``[1, C, f, h, w]``, the stream's next `f` latent frames, into the context: sinks first, then the
        window; `remembered` counts them."""
        self.remembered += latents.shape[2]
        for i in range(latents.shape[2]):
            frame = latents[:, :, i : i + 1]
            if len(self.sink_latents) < self.schedule.sinks:
                self.sink_latents.append(frame)
            elif self.schedule.window:
                self.window_latents.append(frame)

    def _context_latents(self) -> list:
        """The clean latent frames a chunk sees, in temporal order: sinks, then the window."""
        return self.sink_latents + list(self.window_latents)

    def _context_frames(self) -> list:
        """The numbers of `_context_latents`' frames: the sinks the stream's first, the window its latest."""
        return [*range(len(self.sink_latents)), *range(self.remembered - len(self.window_latents), self.remembered)]

    def _recache(self, text: StreamText) -> None:
        """Rebuild the caches under `text` (same positions): every cached frame, or only the window's
        when `Streaming.keep_sinks_on_switch` keeps the sinks' K/V as they were made. The frames are written again in
        groups of one chunk from the first, each group seeing the groups before it: where the first chunk's size or the
        sinks' count is no multiple of the chunk, the groups that see each other whole differ from those first written."""
        keep_sinks = self.streaming.keep_sinks_on_switch
        frames = list(self.window_latents) if keep_sinks else self._context_latents()
        numbers = self._context_frames()[-len(frames):] if frames else []
        for context in self.contexts:
            if keep_sinks:
                context.cache.reset_window()
            else:
                context.cache.reset()
        for start in range(0, len(frames), self.schedule.chunk):
            group = slice(start, start + self.schedule.chunk)
            self._write(torch.cat(frames[group], dim=2), text, numbers[group])

    def _denoise(self, text: StreamText, frames: int) -> torch.Tensor:
        """A new chunk of `frames` latent frames, denoised with the context its mode gives it (a windowed context's latents
        before the chunk's in each step's window, `_window_context`; with the clean context, `clean_context` holds them while
        the chunk is denoised, for the family's forward to keep clean under its condition mask). Where the transformer's
        temporal patch joins latent frames (CogVideoX1.5), its window is padded at the front to whole patches, as its
        call pads a video: the padding's frames start as noise drawn with the chunk's, are denoised with it and dropped."""
        pipe = self.pipe
        spatial = pipe.geometry().spatial
        frames_before = self._context_latents()
        context = torch.cat(frames_before, dim=2).to(pipe.device) if self.windowed and frames_before else None
        self.clean_context = context.float() if context is not None and self.context_mode == "clean" else None
        seen = frames + (context.shape[2] if context is not None else 0)
        pad = pipe.noise_frames(seen) - seen
        context_frames = self._context_frames() if context is not None else []
        numbers = [*range(-pad, 0), *context_frames, *range(self.remembered, self.remembered + frames)]  # padding: < 0
        shape = (1, pipe.latent_channels, pad + frames, self.height // spatial, self.width // spatial)
        pipe.draws_before_noise({"image": self.image} if pipe.task == "i2v" else {}, shape, self.generator)  # as `generate`
        latents = pipe.start_noise("plain", shape, pipe.native_frames, self.generator).to(pipe.device)  # draws them
        if pipe.task == "i2v" and self.condition is None:  # the first chunk: the image's condition after its noise, as a
            self.condition = self._image_condition(self.image)  # call given `generate`'s noise makes it (not drawn before)
        if self.condition is not None:
            latents = self.condition.start(latents)
        scheduler = self._sampler((text.batch, *shape[1:2], pad + seen, *shape[3:]))
        latents, timesteps = self._starting_point(latents, scheduler)
        steps = stream_steps(self, len(timesteps))
        steps.start()
        for t in timesteps:
            if context is None:
                pred = self._predict(latents, t, text, numbers)
            else:
                window = torch.cat([latents[:, :, :pad].float(), self._window_context(context, t), latents[:, :, pad:].float()],
                                   dim=2)
                pred = self._predict(window, t, text, numbers)
                pred = torch.cat([pred[:, :, :pad], pred[:, :, -frames:]], dim=2)
            latents = scheduler.step(pred, t, latents.float(), return_dict=False)[0]
            steps.step()
        latents = latents[:, :, pad:]
        if context is None and self.condition is not None:  # this window starts the video
            latents = self.condition.first_frame(latents)
        return latents

    def _attach(self, transformer, context: StreamContext) -> None:
        """vidlong's stream hooks on `transformer` for the stream's run, over its `context`'s rolling KV cache; none with a
        context each window holds (re-noised or clean: stock bidirectional forwards, no cache) or where the model keeps its
        own cache (AnyFlow FAR)."""
        if not self.windowed:
            hooks.apply(transformer, native_frames=self.pipe.native_frames, stream=context)

    def _decoder(self):
        """The decoder of this stream's chunks: the pipeline's chunk-by-chunk decoder (`stream_decoder`; a family that
        decodes as its call does, by sections blended into each other, has its own: FramePack's)."""
        return self.pipe.stream_decoder()

    def _chunk_audio(self, index: int) -> Optional[Soundtrack]:
        """The sound of chunk `index`, just made: none (the model makes video alone; LTX-2's and Kandinsky 6's streamers make one)."""
        return None

    def _input_audio(self, frames) -> Optional[Soundtrack]:
        """The sound of an extension's input `frames` (uint8 ``[T, H, W, 3]`` or a `vidlong.video_io.VideoFileFrames`):
        none (the model makes video alone, and its extension's output is silent; LTX-2's and Kandinsky 6's keep the input's)."""
        return None

    def _starting_point(self, noise: torch.Tensor, scheduler) -> tuple:
        """(the chunk's latents ``[1, C, f, h, w]`` before its first step, the timesteps it is denoised at): its noise and
        every timestep of `scheduler` (a redraw starts from the video's own latents partly noised instead)."""
        return noise, scheduler.timesteps

    def _chunk_frames(self, index: int) -> int:
        """Latent frames of chunk `index`: the first chunk's (a stream's first, made with no context), then the chunk's."""
        return self.first_chunk if index == 0 and self.prefix is None else self.schedule.chunk

    def _sampler(self, window: tuple):
        """A fresh sampler for one chunk whose forwards see latents of shape `window`: the pipeline's
        scheduler over `steps` (as the family sets it), or the causal sampler."""
        pipe = self.pipe
        if self.causal:
            config = pipe.scheduler.config
            shift = pipe.spec.stream_shift or config.get("shift") or config.get("flow_shift") or 1.0
            return CausalSampler(self.timesteps, shift, config.num_train_timesteps, self.generator, pipe.device)
        return pipe.stream_scheduler(self.steps, window, self.generator)

    def _window_context(self, clean: torch.Tensor, timestep) -> torch.Tensor:
        """The context latents ``[1, C, f, h, w]`` as the window of the step at `timestep` holds them: clean (in float32)
        with the clean context, else re-noised to that step's level (`_renoised`)."""
        return clean.float() if self.context_mode == "clean" else self._renoised(clean, timestep)

    def _renoised(self, clean: torch.Tensor, timestep) -> torch.Tensor:
        """Clean latents brought to the noise level of `timestep` (`_renoise`), with fresh noise from the stream's
        generator."""
        noise = torch.randn(clean.shape, generator=self.generator).to(clean.device)
        return self._renoise(clean, noise, timestep)

    def _renoise(self, clean: torch.Tensor, noise: torch.Tensor, timestep) -> torch.Tensor:
        """The family's forward process (`stream_renoise`) of clean latents ``[1, C, f, h, w]`` with `noise` (same shape)."""
        return self.pipe.stream_renoise(clean, noise, timestep)

    def _image_condition(self, image, latent=None):
        """The image condition of this stream's windows (`vidlong.image_condition`), drawn from the stream's generator
        where the family draws the image's latent; `latent` ``[1, C, 1, h, w]``: the context's first latent frame,
        where the condition is that frame (an extension's context)."""
        frames = max(self.pipe.native_frames, self.schedule.context_frames, self.first_chunk)
        return self.pipe.image_condition(image, self.height, self.width, frames, self.generator, latent=latent)

    def _start_from_prefix(self, decoder) -> np.ndarray:
        """Take the prefix's cache frames as the context (`_write_context` writes them to the caches once the prompt
        is encoded) and its history latents into the decoder's history; an image-to-video model's windows take the
        context's first frame as their image. Returns the input frames, uint8 ``[T, H, W, 3]``."""
        prefix = self.prefix
        cached = prefix.cache_latents(self.schedule.sinks + self.schedule.window)
        self._remember(cached.cpu())
        decoded = replay(decoder, prefix.replayed(cached.shape[2]), self.schedule.chunk, keep=prefix.frames is None)
        frames = prefix.frames if prefix.frames is not None else decoded
        if self.pipe.task == "i2v":  # the context's first frame is its windows' image
            self.text_image = load_image(frames[max(0, len(frames) - pixel_frames(cached.shape[2], self.pipe.spec.temporal_ratio))])
            self.condition = self._image_condition(self.text_image, latent=cached[:, :, :1])
        self.seam = SeamBlend(frames[-1], decoded[-1], self.streaming.seam_frames)
        return frames

    @contextmanager
    def _handed_out(self):
        """The body hands a chunk out: the stream waits for its consumer, and a forward on its transformers now is none of
        its own (a stock pipeline sharing them), which their hooks refuse in one line (`StreamContext.paused`)."""
        for context in self.contexts:
            context.paused = True
        try:
            yield
        finally:
            for context in self.contexts:
                context.paused = False

    def _write_context(self, text: StreamText) -> None:
        """The context frames taken from the prefix, in one clean forward to every expert's cache."""
        self._write(torch.cat(self._context_latents(), dim=2), text, self._context_frames())

    def __iter__(self) -> Iterator[StreamChunk]:
        """The chunks, once: a stream's state (its noise, sinks and window) is not rewound, so iterating
        it again is refused; ask the pipeline for a new stream. While it runs, the methods applied to
        the pipeline are set aside (a chunk never sees past the native window, where they are meant to
        act) and calling, streaming, applying or removing on the pipeline is refused; all come back when
        it ends, is closed or is left (``break``)."""
        begin_run(self)
        pipe = self.pipe
        try:
            with hooks.set_aside(pipe.experts()), streaming_on(pipe):
                yield from self._chunks()
        finally:
            self.running = False

    def _chunks(self) -> Iterator[StreamChunk]:
        pipe = self.pipe
        if pipe.task == "i2v" and self.prefix is None and pipe.image_in_start_latents:
            self.condition = self._image_condition(self.image)  # drawn before the first chunk's noise, as `generate` draws it
        prompt, text = None, None
        try:
            for transformer, context in zip(pipe.experts(), self.contexts):
                self._attach(transformer, context)
                apply_text_memo(transformer)  # the prompt's projections once per prompt, not at every forward
            decoder = self._decoder()
            for index in itertools.count() if self.chunks is None else range(self.chunks):
                start, first = time.perf_counter(), None
                with torch.no_grad():
                    wanted = self.live.take(index)
                    if wanted != prompt:
                        continuing = index == 0 and self.prefix is not None
                        frames = self._start_from_prefix(decoder) if continuing else None  # before the text: its image
                        prompt, text = wanted, self._encode(wanted)
                        if continuing:
                            self._write_context(text)
                            first = StreamChunk(-1, frames, self.live.snapshot()[0][1], time.perf_counter() - start,
                                                self.prefix.history, is_input=True, audio=self._input_audio(frames))
                        elif index > 0 and self.streaming.recache_on_prompt_switch and not self.windowed:
                            self._recache(text)
                if first is not None:
                    with self._handed_out():
                        yield first
                    start = time.perf_counter()
                with torch.no_grad():
                    latents = self._denoise(text, self._chunk_frames(index))
                    self._write(latents, text, range(self.remembered, self.remembered + latents.shape[2]))
                    self._remember(latents.cpu())
                    frames = to_uint8(decoder.decode(latents))
                    if index == 0 and self.prefix is None:  # the video's start, as its call returns it
                        frames = frames[self.dropped_frames:]
                    frames = self.seam(frames)
                    audio = self._chunk_audio(index)
                with self._handed_out():
                    yield StreamChunk(index, frames, prompt, time.perf_counter() - start, latents.cpu(), audio=audio)
        finally:
            for transformer in pipe.experts():
                remove_text_memo(transformer)
            for context in self.contexts:  # its K/V storage (GBs on a GPU) goes with the stream's end, not the object's
                context.cache = None
