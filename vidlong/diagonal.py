"""Diagonal denoising (``method="fifo"``) on a vidlong Wan or LTX-Video pipeline: a long video from forwards
of the model's native window only (`vidlong.DiagonalDenoising`; the queue's bookkeeping in
`vidlong.schedulers.diagonal`).

The queue starts as the model's own native video of the prompt (made by the caller, `generate`), each
frame noised diagonally to its level; the frames past it begin as its last frame. Levels are the sigmas
of the pipeline's sampler for ``partitions x window`` steps of a forward over the native window (its
`stream_scheduler`: the scheduler's shift; LTX-Video's shifted by the window's token count); a timestep
is given per token (diffusers' Wan and LTX-Video transformers take ``[B, tokens]``, frame-major), guidance
is classifier-free as the pipeline's (per expert), or by partition of the queue
(`DiagonalDenoising.guidance_by_partition`); the frames joining the queue start from independent noise, or
from noise correlated frame to frame (`DiagonalDenoising.noise_correlation`).
Wan2.2 A14B: each frame's velocity comes from the expert its level selects (each needed expert runs
the window once). Image-to-video: the sink is the image's frame and every window carries the
pipeline's image condition at its position 0, as a native call does.

A prompt timeline (``"0s: a red ball; 4s: a blue ball"``, Wan and LTX-Video text-to-video): every frame follows its
own segment's prompt in every window it passes through (`vidlong.timeline`'s segmented
cross-attention, set per window); the sink, the first segment's first frame, stays across switches
(as LongLive keeps its sinks), so a frame's appearance keeps one anchor while its text changes. A later
segment that starts inside the queue's first frames starts them from its own native video (`generate`),
not from the previous segment's last frame carried on.

Units: latent frames; latents are the pipeline's normalised latents ``[1, C, f, h, w]``.
"""
from __future__ import annotations

import contextlib
import itertools
from typing import Callable, Iterator, Optional

import torch

from .errors import VidlongError
from .image_condition import token_timesteps
from .methods import DiagonalDenoising
from .schedulers.diagonal import diagonal_frames, queue_sigmas, start_queue
from .schedulers.timeline import parse_prompt_timeline, timeline_latent_starts, window_segments
from .streaming import StreamText
from .timeline import apply_prompt_timeline, remove_prompt_timeline


class WindowText:
    """The text of a window of frames: the video's segments (latent frame where each starts, its prompt)
    as `follow` last set them, one prompt's `StreamText` for a window within one segment, else the
    segments' texts one after another with each segment's cross-attention set to its own frames
    (`vidlong.timeline`'s hooks on every expert, applied when first needed inside `hooks` and removed
    after it). A stream changes the segments between frames (its schedule and live switches)."""

    def __init__(self, pipe, prompt: str, negative_prompt: str, guided: bool, guidance: float):
        self.pipe, self.negative_prompt, self.guided, self.guidance = pipe, negative_prompt or None, guided, guidance
        self.experts = pipe.experts()
        self.encoded = {}  # prompt -> StreamText
        self.joined = {}  # prompts of a window's segments -> their texts joined (the same few recur every iteration)
        self.states = []
        self.inside = False
        self.follow([0], [prompt])

    @classmethod
    def of_prompt(cls, pipe, prompt: str, latent_frames: Optional[int], negative_prompt: str, guidances: tuple,
                  config: DiagonalDenoising = DiagonalDenoising()) -> "WindowText":
        """The text of one prompt, or of a prompt timeline ``"0s: ...; 4s: ..."`` over a video of `latent_frames`,
        for classifier-free `guidances` per expert (high-noise first), or `config`'s guidance by partition."""
        spec = pipe.spec
        guided = max(config.guidance_by_partition or guidances[:len(pipe.experts())]) > 1.0
        timeline = parse_prompt_timeline(prompt)
        if len(timeline) > 1 and latent_frames is None:
            raise VidlongError("a prompt timeline needs the video's length (latent_frames); a stream by diagonal "
                               "denoising takes a chunk schedule (\"0:...; 2:...\") instead")
        text = cls(pipe, timeline[0][1], negative_prompt, guided, guidances[0])
        if len(timeline) > 1:
            text.follow(timeline_latent_starts(timeline, spec.fps, spec.temporal_ratio, latent_frames), [p for _, p in timeline])
        return text

    def follow(self, starts: list, prompts: list) -> None:
        """Segments from now on: `prompts[s]` from latent frame `starts[s]` (ascending, the first 0); a
        prompt repeated in a row is one segment."""
        self.starts, self.prompts = [], []
        for start, prompt in zip(starts, prompts):
            if not self.prompts or prompt != self.prompts[-1]:
                self.starts.append(int(start))
                self.prompts.append(prompt)
        # texts of prompts no longer scheduled are dropped (a stream switched many times holds only its own)
        self.encoded = {prompt: text for prompt, text in self.encoded.items() if prompt in self.prompts}
        self.joined = {key: text for key, text in self.joined.items() if set(key) <= set(self.prompts)}

    def encode(self, prompt: str) -> StreamText:
        """`prompt` as the transformer takes it (once per prompt)."""
        if prompt not in self.encoded:
            self.encoded[prompt] = self.pipe.stream_text(prompt, self.negative_prompt, self.guided, self.guidance)
        return self.encoded[prompt]

    @contextlib.contextmanager
    def hooks(self):
        """A context in which `for_frames` holds for windows across segments (their segmented cross-attention)."""
        self.inside = True
        try:
            yield self
        finally:
            self.inside = False
            self.drop_hooks()

    def drop_hooks(self) -> None:
        """Take the segmented cross-attention off the experts (`for_frames` puts it back where needed):
        before a pipeline call in the middle of a stream."""
        for expert in self.experts:
            remove_prompt_timeline(expert)
        self.states = []

    def for_frames(self, frames: list) -> StreamText:
        """The text of a window whose latent frames are `frames` (indices in the video, non-decreasing)."""
        segments, starts = window_segments(frames, self.starts)
        prompts = tuple(self.prompts[s] for s in segments)
        texts = [self.encode(prompt) for prompt in prompts]
        if len(prompts) > 1 and not self.states:
            if not self.inside:
                raise VidlongError("WindowText.for_frames of a window across prompts runs inside WindowText.hooks() "
                                   "(the segmented cross-attention)")
            tokens = texts[0].kwargs["encoder_hidden_states"].shape[1]
            self.states = [apply_prompt_timeline(expert, (0,), tokens) for expert in self.experts]
        for state in self.states:  # once applied, every window sets its segments (one: the stock cross-attention)
            state.starts = tuple(starts)
        if len(prompts) == 1:
            return texts[0]
        if prompts not in self.joined:  # the texts (and LTX-Video's padding masks) one after another
            per_token = ("encoder_hidden_states", "encoder_attention_mask")
            self.joined[prompts] = StreamText(texts[0].batch, {
                name: torch.cat([text.kwargs[name] for text in texts], dim=1) if name in per_token else value
                for name, value in texts[0].kwargs.items()})
        return self.joined[prompts]


def correlated(draw: Callable[[], torch.Tensor], correlation: float) -> Callable[[], torch.Tensor]:
    """Noise frames from `draw` (unit spread), each ``c·previous + sqrt(1 - c²)·fresh`` with the one returned before
    it (`DiagonalDenoising.noise_correlation` c; the first as drawn); `draw` itself for c = 0."""
    if not correlation:
        return draw
    previous = []

    def next_noise() -> torch.Tensor:
        noise = draw()
        if previous:
            noise = correlation * previous[0] + (1 - correlation ** 2) ** 0.5 * noise
        previous[:] = [noise]
        return noise

    return next_noise


@torch.no_grad()
def diagonal_stream(pipe, first: torch.Tensor, prompt: str, config: DiagonalDenoising = DiagonalDenoising(),
                    negative_prompt: str = "", guidances: tuple = (5.0, 5.0), seed: int = 0, condition=None,
                    latent_frames: Optional[int] = None) -> Iterator[torch.Tensor]:
    """The latent frames ``[1, C, 1, h, w]`` (float32, on the CPU) of a video continuing the native video
    `first` ``[1, C, F, h, w]`` by diagonal denoising, one at a time for as long as it is iterated: `first`'s
    first `config.sink_frames` frames (the sink), then one frame per queue iteration. The queue starts
    from `first`'s next frames, noised (its last frame past its end): the native video, or for a prompt
    timeline whose later segments start inside the queue, `generate`'s `queue_source` of the segments'
    own native videos; an extension's last frames (`vidlong.fifo_stream`). Time and memory per frame
    are flat. Close the iterator to remove the segmented cross-attention's hooks before it ends.
    ``send(video)`` (clean latents ``[1, C, F, h, w]``) in place of ``next`` after the sink is out: a cut,
    the queue starts again from `video` past its first `config.sink_frames` (as from `first`: a native
    video's first latent frame stands for one pixel frame), noised to its levels with fresh draws, and the
    frame returned is its next; the sink stays.

    Args:
        prompt: one prompt, or a prompt timeline (``"0s: a red ball; 4s: a blue ball"``; `first` made
            with the segments it spans) for a video of `latent_frames` latent frames; or a `WindowText`
            (made with these `guidances`, `negative_prompt` and `config`) whose segments the caller changes between
            frames (a stream's schedule and switches, `vidlong.fifo_stream`).
        guidances: classifier-free guidance per expert (high-noise first; one-expert models use the first); the
            queue's `config.guidance_by_partition` replaces them where set.
        seed: seeds the queue's noise (drawn on the CPU, so that a seed gives one video on any device).
        condition: an image-to-video pipeline's image condition (`vidlong.image_condition`), or None.
        latent_frames: the video's length, which a prompt timeline's starts are checked against (None: one prompt).
    """
    if condition is not None and not config.sink:
        raise VidlongError("image-to-video diagonal denoising needs DiagonalDenoising sink=True: the sink is the image's frame")
    experts = pipe.experts()
    first = first.to(pipe.device, torch.float32)
    levels = config.levels(pipe.spec.native_frames)
    # the sampler's levels for a forward over the native window (LTX-Video shifts them by its token count)
    sigmas = queue_sigmas(pipe.stream_scheduler(levels, (1, first.shape[1], pipe.spec.native_frames, *first.shape[3:])).sigmas)
    text = prompt if isinstance(prompt, WindowText) else WindowText.of_prompt(pipe, prompt, latent_frames, negative_prompt, guidances, config)
    train_steps = pipe.scheduler.config.num_train_timesteps
    patch = pipe.geometry().patch  # (t, h, w); tokens are frame-major in every family that takes a timestep per token
    generator = torch.Generator().manual_seed(int(seed) + 1)  # the first video's noise came from `seed`

    def draw(n: int) -> torch.Tensor:
        """`n` noise frames ``[1, C, n, h, w]``."""
        return torch.randn((1, first.shape[1], n, *first.shape[3:]), generator=generator).to(first)

    window = config.window(pipe.spec.native_frames)

    by_queue_frame = config.queue_guidance(pipe.spec.native_frames)
    by_queue_frame = None if by_queue_frame is None else torch.tensor(by_queue_frame)

    def partition_guidance(level: torch.Tensor) -> Optional[torch.Tensor]:
        """The guidance ``[n]`` of frames at `level` ``[n]`` by their partitions (queue frame j is at ``sigmas[j + 1]``;
        clean frames, level 0, take the first's), or None: the experts' own."""
        if by_queue_frame is None:
            return None
        return by_queue_frame[(torch.searchsorted(sigmas, level.cpu()) - 1).clamp(min=0)]

    def velocity(z: torch.Tensor, level: torch.Tensor, frames: list) -> torch.Tensor:
        """The guided velocity of window `z` ``[1, C, n, h, w]`` at per-frame `level` ``[n]`` (the video's
        latent `frames` ``[n]``), each frame's from the expert its level selects (the sink, level 0, takes none)."""
        words = text.for_frames(frames)
        by_level = partition_guidance(level)
        if by_level is not None and words.batch == 2 and bool((by_level[level.cpu() > 0] <= 1).all()):
            words = words.positive()  # a window with no guidance: its negative forward is saved
        steps = level * train_steps
        per_token = token_timesteps(steps.to(pipe.device), z.shape, patch, condition)[None].expand(words.batch, -1)
        x = z.expand(words.batch, -1, -1, -1, -1)
        x, extra = (x, {}) if condition is None else (condition.hidden_states(x), condition.extra(words.batch))
        owner = [pipe.expert_at(float(t)) for t in steps]
        out = torch.zeros_like(z, dtype=torch.float32)
        for index in sorted({owner[i] for i in range(len(owner)) if level[i] > 0}):
            transformer = experts[index]
            pred = pipe.stream_forward(transformer, x.to(transformer.dtype), per_token, words, **extra).float()
            if words.batch == 2:  # negative first
                scale = guidances[index] if by_level is None else by_level.view(1, 1, -1, 1, 1).to(pred)
                pred = pred[:1] + scale * (pred[1:] - pred[:1])
            owned = torch.tensor([owner[i] == index for i in range(len(owner))], device=out.device)
            out[:, :, owned] = pred[:, :, owned]
        return out

    skip = config.sink_frames
    queue = start_queue(first, sigmas, draw(levels), skip)
    for i in range(skip):
        yield first[:, :, i:i + 1].cpu()
    with text.hooks():
        frames = diagonal_frames(queue, sigmas, window, velocity, correlated(lambda: draw(1), config.noise_correlation),
                                 sink=first[:, :, :skip] if skip else None, lookahead=config.lookahead)
        video = None
        while True:
            restart = None if video is None else (lambda _, video=video: start_queue(video.to(first), sigmas, draw(levels), skip))
            video = yield (next(frames) if restart is None else frames.send(restart)).cpu()


def diagonal_latents(pipe, first: torch.Tensor, prompt: str, latent_frames: int, config: DiagonalDenoising = DiagonalDenoising(),
                     negative_prompt: str = "", guidances: tuple = (5.0, 5.0), seed: int = 0, condition=None,
                     on_frame: Optional[Callable[[int], None]] = None) -> torch.Tensor:
    """The first `latent_frames` latent frames ``[1, C, latent_frames, h, w]`` of `diagonal_stream` (its
    arguments), with `on_frame` called with the count of queue iterations done (frames made past the
    sink) after each one (progress, or a stop: one that raises ends the run, its hooks removed)."""
    from .pipeline import check_vidlong_pipeline

    check_vidlong_pipeline(pipe, "diagonal_latents")
    skip = config.sink_frames
    frames = []
    with contextlib.closing(diagonal_stream(pipe, first, prompt, config, negative_prompt, guidances, seed, condition,
                                            latent_frames)) as stream:
        for frame in itertools.islice(stream, latent_frames):
            frames.append(frame)
            if on_frame is not None and len(frames) > skip:
                on_frame(len(frames) - skip)
    return torch.cat(frames, dim=2)
