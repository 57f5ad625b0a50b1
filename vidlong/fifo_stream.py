"""Streaming and extension by diagonal denoising (``vidlong stream --method fifo``, ``vidlong extend
--method fifo``; ``pipe.stream(prompt, streaming=vidlong.DiagonalDenoising())``).

Diagonal denoising (`vidlong.diagonal`) makes one latent frame per queue iteration from forwards of
the model's native window only, so its time and memory per frame are flat however long it runs: it is
a stream. Here its frames are handed out in chunks of `CHUNK` latent frames, each decoded through the
streaming decoder as it is made.

A stream starts from the model's native video of the prompt (`generate`'s, seed for seed), so it is
``vidlong generate --method fifo`` made and shown chunk by chunk: the same latents, bit for bit (one
prompt; a schedule or a switch gives each frame its chunk's prompt from then on, `DiagonalStreamer`). An
extension starts from its input instead: the sink is the video's first latent frame (saved latents' first
frame; for a video file, its first pixel frame encoded alone, the same latent) and the queue starts from its last ``native - sink`` latent frames, noised to their levels, as it would
start from a native video. The queue's first iterations make those input frames again; they are
dropped (the output keeps the input's own frames) and the first frame past the input is the first new
one. Its queue noise is drawn from a seed mixed from the given one (`extension_seed`). Units: latent frames unless named pixel. (Imported before any model loads: the CLI's checks; the
streaming machinery, which imports diffusers, is imported where it runs.)
"""
from __future__ import annotations

import contextlib
import itertools
import time
from typing import Iterator, Optional

import torch

from .errors import VidlongError
from .live_prompts import LivePrompts, PromptSwitching
from .methods import DiagonalDenoising, Streaming
from .progress import StepCallback
from .schedulers.stream import first_chunk_from

#: latent frames per chunk handed out (a stream's first chunk: the sink and the next CHUNK - 1)
CHUNK = Streaming().chunk

#: the chunk layout `stream_chunk_count` counts a diagonal stream's length in
CHUNKS = Streaming(chunk=CHUNK, first_chunk=CHUNK)


def chunk_layout(streaming):
    """The `Streaming` whose chunk and first chunk a stream's length is counted in (`stream_chunk_count`):
    `CHUNKS` for a `DiagonalDenoising`, else `streaming` itself."""
    return CHUNKS if isinstance(streaming, DiagonalDenoising) else streaming


def extension_seed(seed: int) -> int:
    """The seed of an extension's queue noise, mixed from (`seed`, "extend"): a video made with `seed` and its
    extension with `seed` draw different noise, so the continuation does not retrace the video's own draws."""
    import numpy as np

    return int(np.random.SeedSequence([int(seed), 0x657874]).generate_state(1)[0])


class DiagonalStreamer(PromptSwitching):
    """One stream or extension by diagonal denoising; iterate it for `vidlong.streaming.StreamChunk`s of `CHUNK` latent
    frames. Wan, SkyReels-V2 and LTX-Video models; image-to-video ones as `generate` makes them
    by diagonal denoising (the sink is the image's frame and every window carries the image condition at its
    position 0), an extension's image being the input's first frame, where its sink comes from.

    Args:
        pipe: a vidlong Wan pipeline, text- or image-to-video (one or two experts), or LTX-Video's.
        prompt: one prompt, or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt); `switch_prompt`
            changes it while the stream runs. Each latent frame follows its chunk's prompt in every window
            it passes through (`vidlong.diagonal.WindowText`), so a switch reaches every frame not handed
            out yet: the nearly clean ones at the queue's head keep their look, the noisier ones behind
            them take the new prompt, and the change grows over about one native window, its layout
            carried on from the frames before it (the sink, the video's first frame, stays).
        config: the `DiagonalDenoising` settings (sink, partitions, lookahead).
        chunks: how many chunks of new video; None streams until the consumer stops iterating.
        guidance, guidance_2, seed, height, width, negative_prompt: as for `generate` (None: the model's).
        image: the first frame for an image-to-video pipeline (`load_image`: a PIL image, uint8 ``[H, W, 3]``
            frame or file path); an extension takes the input's first frame instead.
        prefix: a `vidlong.extend.ExtensionPrefix` to continue (its frames come first).
        seam_frames: an extension's seam blend (`SeamBlend`) over this many new pixel frames (0: off).

    Attributes:
        on_step: None, or ``on_step(done, total)``, called as each native video the stream makes (its start, and
            each cut) starts its denoising (0 done) and after each of its `total` steps, which pause the stream
            (their own progress bars stay hidden), then as each chunk's queue pass starts (0 done) and after each
            of the `total` latent frames it takes out of the queue (the chunk's; an extension's first chunk also
            the sink's and the input's frames made again): progress to show, and an exception raised there ends the
            stream out of its iterator (the app's Stop, `vidlong.errors.Stopped`).
        step_kind: what `on_step`'s count is of, as progress names it (`vidlong.progress.step_status`): "native
            video" (its denoising steps), "queue" (a chunk's latent frames).
    """

    on_step = StepCallback()

    def __init__(self, pipe, prompt: str, config: DiagonalDenoising = DiagonalDenoising(), chunks: Optional[int] = None,
                 guidance: Optional[float] = None, guidance_2: Optional[float] = None, seed: int = 0,
                 height: Optional[int] = None, width: Optional[int] = None, negative_prompt: str = "",
                 prefix=None, image=None, seam_frames: int = Streaming().seam_frames):
        from .generate import load_image, resolve_guidance
        from .validate import check_diagonal_stream, check_stream_call, limits_for_pipeline, video_size

        limits = limits_for_pipeline(pipe)
        check_diagonal_stream(config, limits, height, width)
        check_stream_call(limits, guidance, guidance_2, seed, negative_prompt, image, extension=prefix is not None)
        if prefix is not None and prefix.latents.shape[2] < config.sink_frames:
            raise VidlongError(f"an extension by diagonal denoising with DiagonalDenoising sink {config.sink} needs at least "
                               f"{config.sink_frames} latent frames of input, got {prefix.latents.shape[2]}; use sink=True")
        spec = pipe.spec
        self.pipe, self.config, self.chunks, self.prefix = pipe, config, chunks, prefix
        self.live = LivePrompts(prompt, chunks, self._chunk_of_second)
        self.guidances = resolve_guidance(spec, guidance, guidance_2)
        self.seed, self.negative_prompt = int(seed), negative_prompt
        self.image = None if image is None else load_image(image)
        self.height, self.width = video_size(limits, height, width, self.image)
        if prefix is not None:
            self.height, self.width = prefix.pixel_size(pipe.geometry().spatial)
        self.seam_frames = seam_frames
        self.on_step, self.step_kind = None, "native video"
        self.started = self.running = False  # a stream runs once (`vidlong.streaming.begin_run`)

    def settings(self) -> dict:
        """What the stream's .json sidecar records of its method."""
        return dict(method="fifo", partitions=self.config.partitions, sink=self.config.sink_frames,
                    lookahead=self.config.lookahead, chunk=CHUNK, cut_on_prompt_switch=self.config.cut_on_prompt_switch,
                    guidance_by_partition=self.config.guidance_by_partition, noise_correlation=self.config.noise_correlation,
                    native_steps=self.config.native_steps or (None if self.prefix else self.pipe.spec.num_inference_steps),
                    seam_frames=self.seam_frames if self.prefix is not None else None)

    def _chunk_of_second(self, second: float) -> int:
        return first_chunk_from(second, self.fps, CHUNK, self.pipe.spec.temporal_ratio, continuing=self.prefix is not None)

    def __iter__(self) -> Iterator:
        """The chunks, once (as `vidlong.streaming.VideoStreamer`); the methods applied to the pipeline are set
        aside while it runs and calls on the pipeline are refused until it ends, is closed or is left."""
        from .hooks import set_aside
        from .streaming import begin_run, streaming_on

        begin_run(self)
        try:
            start = time.perf_counter()
            prompt = self.live.take(0)  # fixed now: a switch while the native video is made lands on chunk 1
            first = self._native_video(prompt, self.seed) if self.prefix is None else None  # before the pipeline is marked busy
            with set_aside(self.pipe.experts()), streaming_on(self.pipe):
                yield from self._chunks(first, prompt, start)
        finally:
            self.running = False

    def _native_video(self, prompt: str, seed: int) -> torch.Tensor:
        """The model's native video ``[1, C, native, h, w]`` of `prompt` with `seed`: `generate`'s, as its fifo starts."""
        from .generate import GenerateRequest, generate
        from .models import pixel_frames
        from .pipeline import hidden_progress_bars

        self.step_kind = "native video"
        spec = self.pipe.spec
        request = GenerateRequest(prompt=prompt, frames=pixel_frames(spec.native_frames, spec.temporal_ratio),
                                  guidance=self.guidances[0], guidance_2=self.guidances[1] if
                                  len(self.pipe.experts()) == 2 else None, height=self.height, width=self.width,
                                  seed=seed, negative_prompt=self.negative_prompt, image=self.image, steps=self.config.native_steps)
        on_step = self.on_step
        progress = None if on_step is None else (lambda stage, done, total: on_step(done, total) if stage == "denoise" else None)
        with hidden_progress_bars(self.pipe):  # the stream shows its chunks
            return generate(self.pipe, request, progress=progress, decode=False).latents  # the stream decodes its own frames

    def _cut(self, text, prompt: str, index: int) -> torch.Tensor:
        """The native video chunk `index` cuts to: `prompt`'s, seeded from (seed, index) (`segment_seed`),
        made in the middle of the stream (the segmented cross-attention taken off for it): the stream
        pauses for the model's native steps (`on_step` after each)."""
        from .generate import segment_seed
        from .streaming import own_call_while_streaming

        text.drop_hooks()
        with own_call_while_streaming(self.pipe):
            return self._native_video(prompt, segment_seed(self.seed, index))

    def _source(self) -> tuple[torch.Tensor, int]:
        """An extension's (first video ``[1, C, sink + tail, h, w]``, tail frames to drop): the video's first
        `sink` latent frames (`ExtensionPrefix.start`), then its last ``native - sink`` (fewer for a shorter input)."""
        latents, skip = self.prefix.latents, self.config.sink_frames
        start = self.prefix.start if self.prefix.start is not None else latents[:, :, :skip]
        tail = latents[:, :, max(skip, latents.shape[2] - self.config.window(self.pipe.spec.native_frames)):]
        return torch.cat([start[:, :, :skip], tail], dim=2), tail.shape[2]

    def _condition(self, image, first: torch.Tensor):
        """The image condition of an image-to-video pipeline's windows (their position 0: the sink, the first frame
        of `first` ``[1, C, F, h, w]``), else None."""
        if self.pipe.task != "i2v":
            return None
        return self.pipe.image_condition(image, self.height, self.width, self.pipe.spec.native_frames, latent=first[:, :, :1])

    def _follow_schedule(self, text, offset: int) -> None:
        """Set `text`'s segments to the schedule now: chunk k's prompt from latent frame ``offset + CHUNK * k``
        (frames before chunk 0, the sink and an extension's input frames made again, follow chunk 0's)."""
        entries = self.live.snapshot()
        text.follow([0 if chunk == 0 else offset + CHUNK * chunk for chunk, _ in entries], [prompt for _, prompt in entries])

    def _from_queue(self, made: Iterator, total: int, cut: Optional[torch.Tensor]) -> list:
        """`total` latent frames ``[1, C, 1, h, w]`` out of `made` (a `vidlong.diagonal.diagonal_stream`), the first after
        starting its queue again from `cut` (a native video, clean latents ``[1, C, F, h, w]``) where one is given; each
        counted to `on_step` as step kind "queue", from 0 as the pass starts."""
        report = self.on_step or (lambda done, total: None)
        self.step_kind, frames = "queue", []
        report(0, total)
        while len(frames) < total:
            frames.append(next(made) if cut is None or frames else made.send(cut))
            report(len(frames), total)
        return frames

    @torch.no_grad()
    def _chunks(self, first: Optional[torch.Tensor], prompt: str, start: float) -> Iterator:
        from .diagonal import WindowText, diagonal_stream
        from .streaming import SeamBlend, StreamChunk, replay, to_uint8

        pipe, decoder, seam, drop = self.pipe, self.pipe.stream_decoder(), SeamBlend.off(), 0
        image = self.image
        if self.prefix is not None:
            first, drop = self._source()
            decoded = replay(decoder, self.prefix.replayed(pipe.native_frames), CHUNK, keep=self.prefix.frames is None)
            frames = self.prefix.frames if self.prefix.frames is not None else decoded
            image = frames[0]  # the video's first frame, where the sink comes from (saved latents: the whole video decoded)
            seam = SeamBlend(frames[-1], decoded[-1], self.seam_frames)
            yield StreamChunk(-1, frames, prompt, time.perf_counter() - start, self.prefix.history, is_input=True)
            start = time.perf_counter()
            drop += self.config.sink_frames  # the sink and the input's frames made again: the input keeps its own
        offset = drop  # the stream's latent frame where chunk 0 starts
        seed = self.seed if self.prefix is None else extension_seed(self.seed)
        text = WindowText.of_prompt(pipe, prompt, None, self.negative_prompt, self.guidances, self.config)
        made = diagonal_stream(pipe, first, text, self.config, self.negative_prompt, self.guidances, seed, self._condition(image, first))
        with contextlib.closing(made):
            for index in itertools.count() if self.chunks is None else range(self.chunks):
                previous, prompt = prompt, self.live.take(index)
                self._follow_schedule(text, offset)
                cut = self.config.cut_on_prompt_switch and index > 0 and prompt != previous
                restart = self._cut(text, prompt, index) if cut else None  # the native video the queue starts again from
                latents = torch.cat(self._from_queue(made, drop + CHUNK, restart)[drop:], dim=2)
                drop = 0
                frames = seam(to_uint8(decoder.decode(latents.to(pipe.device))))
                yield StreamChunk(index, frames, prompt, time.perf_counter() - start, latents)
                start = time.perf_counter()
