"""Streams of Cosmos-Transfer2.5 (`Cosmos2_5_TransferPipeline`): a control video of any length made into a world video chunk
by chunk (``pipe.stream(prompt, control_video=...)``, ``vidlong stream --control-video``), each chunk one of its call's
autoregressive chunks, yielded as it is made.

Its call keeps every chunk's decoded frames until its end; here each chunk is one call of the pipeline over that chunk's
control frames alone, handed what the whole call would have handed its chunk: the conditioning video (the last
``num_ar_conditional_frames`` decoded pixel frames of the chunk before, the rest -1) and their latent frames as the
condition (`prepare_latents`), the prompt's encoding of its first chunk (`encode_prompt`), and the stream's one generator,
from which each chunk draws its noise, its conditioning frames' and its control frames' encodings in its call's order. So
with no method its chunks joined are its call's video bit for bit (and `generate`'s), while what is kept between chunks is
the conditioning frames ``[B, 3, c, H, W]`` and the control frames of one chunk: memory and time per chunk stay flat.

An extension (``pipe.extend(prompt, video=..., control_video=...)``, ``vidlong extend --control-video``) continues a video
along a control video that covers it and its continuation: its chunks are those its call makes after a chunk that ends
with the input's last frame, the input standing for that chunk: the first starts from the input's last
``num_ar_conditional_frames`` frames, over the control frames from there on.

Units: pixel frames throughout (a chunk of ``4k + 1``; the control video's first ``4k + 1`` frames are taken).
"""
from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Iterator, Optional

import numpy as np
import torch

from ..control_video import control_extension_fps, control_extension_shape, control_frame, control_stream_shape
from ..errors import VidlongError, named
from ..progress import StepCallback, stream_steps
from ..streaming import StreamChunk, begin_run, own_call_while_streaming, streaming_on
from ..video_io import rounded_uint8
from .common import replaced

#: pixel frames each chunk after the first starts from (its call's ``num_ar_conditional_frames`` default)
CONDITIONAL_FRAMES = 1


def chunk_starts(frames: int, chunk: int, conditional: int = CONDITIONAL_FRAMES, first: int = 0) -> range:
    """The first pixel frame of each of its call's chunks of `chunk` pixel frames over a video of `frames`, each after the
    first starting from the last `conditional` frames of the one before (its call's ``chunk_idxs``), the first at `first`
    (an extension's: its input's last `conditional` frames)."""
    return range(first, frames - conditional, chunk - conditional)


def control_windows(frames: Iterator[np.ndarray], starts: range, chunk: int, total: int, height: int,
                    width: int) -> Iterator[list]:
    """The control frames of each chunk (from `starts`): a list of PIL images `width` x `height`
    (`vidlong.control_video.control_frame`), pixel frames ``start .. min(start + chunk, total) - 1`` of `frames` (uint8
    ``[H', W', 3]`` each, read as they are needed; those before the first start skipped); only one chunk's frames are held.
    A video that ends before the `total` frames its header counts is refused in one line when it ends (the chunks before it
    are made and written)."""
    window, first, read = [], 0, 0  # the window holds pixel frames first.. of the `read` read so far
    for start in starts:
        window, first = window[start - first:], start
        while first + len(window) < min(start + chunk, total):
            frame = next(frames, None)
            if frame is None:
                raise VidlongError(f"{named('control_video')} ended after {read} frames, before the {total} its header "
                                   "counts; re-encode it (ffmpeg -i in.mp4 out.mp4) and stream it again")
            read += 1
            if read > first:
                window.append(control_frame(frame, height, width))
        yield list(window)


def whole_chunk(frames: int, ratio: int) -> int:
    """The fewest pixel frames ``ratio·k + 1`` (a chunk its VAE decodes whole) holding `frames`."""
    return ratio * -(-(frames - 1) // ratio) + 1


class TransferStreamer:
    """One stream of a Cosmos-Transfer2.5 pipeline over `control_video` (a video file's path, uint8 frames ``[T, H, W, 3]``
    or a list of PIL images; its first ``4k + 1`` frames), or one extension of `video` along it: iterate it for
    `StreamChunk`s, each holding its chunk's new pixel frames uint8 ``[T, H, W, 3]`` (a stream's first chunk's every frame,
    each conditioned one's but its conditioning frame) and the chunk's final latents ``[1, C, f, h, w]``; an extension's
    first item is its input's frames, unchanged (``is_input``; no latents: None).

    Args:
        pipe: a `VidLongCosmos2_5_TransferPipeline`; with methods applied, its chunk is the whole video up to its RoPE
            table (`chunk_frames`), as `generate`'s is.
        prompt: one prompt.
        control_video: the video it follows; its frame rate (a file's) is the stream's.
        chunks: the first `chunks` of its call's chunks (None: every one).
        guidance, seed, height, width, negative_prompt: as for `generate` (None: the model's; the size: the control
            video's aspect at the model's area; no negative prompt: its call's default).
        steps: denoising steps per chunk (None: the model's).
        guidance_2: refused in one line where given (one transformer: `vidlong.validate.check_second_expert`).
        video: an extension's input (uint8 frames ``[T, H, W, 3]``, or a video file's `vidlong.video_io.VideoFileFrames`),
            which the control video covers first, its frame i the output's frame i (`control_extension_frames`); the
            extension is at its size (`height` and `width` not read) and `fps` (None: its file's, else the control video
            file's, else the model's; a control video file at another rate is refused: `control_extension_fps`).
        seconds: an extension's new video at the input's frame rate (None: to the control video's end).

    Attributes:
        chunk: pixel frames a chunk; frames: pixel frames of the whole video (an extension's input too); starts: each
            chunk's first pixel frame; input_video: an extension's input (None for a stream).
        tail: the conditioning frames the next chunk reads, ``[B, 3, c, H, W]`` in [-1, 1] on the CPU (None before the
            first chunk): with the encoded prompt and one chunk's control frames, all a stream keeps between chunks.
        on_step: None, or ``on_step(done, total)`` as a chunk's call starts its denoising (0 done, at its transformer's
            first forward) and after each of its steps.
    """

    step_kind = "chunk"

    on_step = StepCallback()

    def __init__(self, pipe, prompt: str, control_video, chunks: Optional[int] = None, guidance: Optional[float] = None,
                 seed: int = 0, height: Optional[int] = None, width: Optional[int] = None, negative_prompt: str = "",
                 steps: Optional[int] = None, guidance_2: Optional[float] = None, video=None, seconds: Optional[float] = None,
                 fps: Optional[float] = None):
        from .. import hooks
        from ..generate import resolve_guidance
        from ..validate import check_sampling, limits_for_pipeline
        from ..video_to_video import video_fps

        limits, spec = limits_for_pipeline(pipe), pipe.spec
        check_sampling(guidance, None, seed)
        state = hooks.state_of(pipe.transformer)
        methods = bool(state is not None and state.methods)
        self.input_video = video
        if video is None:
            self.frames, self.height, self.width = control_stream_shape(control_video, limits, height, width, guidance_2)
            self.chunk, first = pipe.chunk_frames(self.frames, methods), 0
            self.fps = video_fps(control_video, spec.fps, "control_video")
        else:
            self.fps = control_extension_fps(control_video, fps or getattr(video, "fps", None), spec.fps)
            self.frames, self.height, self.width = control_extension_shape(control_video, limits, video, self.fps, seconds,
                                                                           guidance_2)
            first = len(video) - CONDITIONAL_FRAMES
            self.chunk = pipe.chunk_frames(whole_chunk(self.frames - first, spec.temporal_ratio), methods)
        self.starts = chunk_starts(self.frames, self.chunk, first=first)
        self.chunks = len(self.starts) if chunks is None else min(chunks, len(self.starts))
        self.pipe, self.prompt, self.control_video, self.negative_prompt = pipe, prompt, control_video, negative_prompt
        self.steps = steps or spec.num_inference_steps
        self.guidances = (resolve_guidance(spec, guidance, None)[0], None)
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.tail, self.text = None, None
        self.started = self.running = False  # a stream runs once (`begin_run`)
        self.on_step = None

    @property
    def prompts(self) -> list:
        """Its prompt schedule as the other streams give theirs, ``[(chunk, prompt)]``: its one prompt, from chunk 0."""
        return [(0, self.prompt)]

    def settings(self) -> dict:
        """What the stream's (or extension's) .json sidecar records of it: its call's chunk and conditioning frames (pixel),
        steps and the control video."""
        video = self.control_video
        return dict(chunk_pixel_frames=self.chunk, conditional_pixel_frames=CONDITIONAL_FRAMES, steps=self.steps,
                    control_video=str(video) if isinstance(video, (str, bytes)) or hasattr(video, "__fspath__") else None)

    def __iter__(self) -> Iterator[StreamChunk]:
        """The chunks, once (`begin_run`); while it runs, calls, streams and method changes on the pipeline are refused, and
        what it kept between chunks goes when it ends, is closed or is left."""
        begin_run(self)
        try:
            with streaming_on(self.pipe):
                yield from self._chunks()
        finally:
            self.running = False
            self.tail = self.text = None

    def _control_frames(self) -> Iterator[np.ndarray]:
        """The control video's frames one at a time (a file's decoded as they are asked for)."""
        from ..video_io import iter_frames
        from ..video_to_video import input_video, is_video_path

        if is_video_path(self.control_video):
            return iter_frames(self.control_video)
        return iter(input_video(self.control_video, self.frames, "control_video")[0])

    def _chunks(self) -> Iterator[StreamChunk]:
        if self.input_video is not None:  # the chunk its first new one follows: the input, its last frames conditioning it
            yield StreamChunk(-1, self.input_video, self.prompt, 0.0, None, is_input=True)
            last = torch.from_numpy(np.asarray(self.input_video[len(self.input_video) - CONDITIONAL_FRAMES:]))
            self.tail = last.permute(3, 0, 1, 2)[None].float() / 127.5 - 1  # [1, 3, c, H, W] in [-1, 1], as a decoded chunk
        windows = control_windows(self._control_frames(), self.starts, self.chunk, self.frames, self.height, self.width)
        for index, controls in zip(range(self.chunks), windows):
            start, conditioned = time.perf_counter(), self.tail is not None
            video, latents = self._make(index, controls)
            frames = rounded_uint8(video)  # as `generate` takes its call's video
            yield StreamChunk(index, frames[CONDITIONAL_FRAMES if conditioned else 0:], self.prompt,
                              time.perf_counter() - start, latents)

    def _make(self, index: int, controls: list) -> tuple:
        """Chunk `index` by one call of the pipeline over its `controls`: (its frames ``[T, H, W, 3]`` in [0, 1], as its call
        returns them, its conditioning frame first where it has one (`tail`: after a stream's first chunk, every
        extension's); its final latents ``[1, C, f, h, w]``)."""
        pipe, made, steps = self.pipe, {}, stream_steps(self, self.steps)

        def on_step(_pipe, _step, _t, kwargs):
            made["latents"] = kwargs["latents"]
            steps.step()
            return {}

        # the first chunk's call encodes the prompt (its guardrail checking it); a later one is handed that encoding
        text = dict(prompt=self.prompt, negative_prompt=self.negative_prompt or None) if self.text is None else \
            dict(prompt=None, prompt_embeds=self.text[0], negative_prompt_embeds=self.text[1])
        with ExitStack() as stack, own_call_while_streaming(pipe), steps.started_by(pipe.experts()):
            stack.enter_context(replaced(pipe.vae, "decode", self._keeping_tail(pipe.vae.decode)))
            if self.text is None:
                stack.enter_context(replaced(pipe, "encode_prompt", self._encoding(pipe.encode_prompt)))
            if self.tail is not None:  # a chunk after the first, or an extension's
                stack.enter_context(replaced(pipe, "prepare_latents", self._conditioned(pipe.prepare_latents)))
            video = pipe(controls=controls, **text, height=self.height, width=self.width, num_frames_per_chunk=self.chunk,
                         num_ar_conditional_frames=CONDITIONAL_FRAMES, num_inference_steps=self.steps,
                         guidance_scale=self.guidances[0], generator=self.generator, output_type="np",
                         callback_on_step_end=on_step).frames[0]
        return video, made["latents"].detach().cpu()

    def _keeping_tail(self, decode):
        """`decode` (its VAE's), keeping the last conditioning frames of what it decodes (the chunk's whole window,
        ``[B, 3, chunk, H, W]``) as `tail`, on the CPU as its call keeps a chunk."""
        def decoding(*args, **kwargs):
            out = decode(*args, **kwargs)
            pixels = out[0] if isinstance(out, tuple) else out.sample
            self.tail = pixels[:, :, pixels.shape[2] - CONDITIONAL_FRAMES:].detach().cpu().clone()
            return out
        return decoding

    def _encoding(self, encode_prompt):
        """`encode_prompt` (its call's) at the first chunk, its answer (prompt and negative prompt states ``[B, T, D]``, the
        latter None unguided) kept as `text`, which later chunks' calls are handed as ``prompt_embeds`` and
        ``negative_prompt_embeds``."""
        def encoding(*args, **kwargs):
            self.text = encode_prompt(*args, **kwargs)
            return self.text
        return encoding

    def _conditioned(self, prepare_latents):
        """Its call's `prepare_latents` for a conditioned chunk: the video it encodes is `tail` followed by -1 (0 in
        its processed pixels) to the chunk's length, and the condition those frames' latent frames, as its whole call hands
        that chunk; its draws from the generator as the call's."""
        ratio = self.pipe.vae_scale_factor_temporal
        latent = max(0, (CONDITIONAL_FRAMES - 1) // ratio + 1)

        def conditioned(*args, video, **kwargs):
            window = torch.full(video.shape, -1.0, dtype=self.tail.dtype)
            window[:, :, :CONDITIONAL_FRAMES] = self.tail
            return prepare_latents(*args, video=window.to(video.device, video.dtype),
                                   **dict(kwargs, num_cond_latent_frames=latent))
        return conditioned
