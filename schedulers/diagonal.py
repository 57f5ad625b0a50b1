"""The bookkeeping of diagonal denoising (FIFO-Diffusion, Kim et al. 2024), free of any model.

A queue of ``Q = partitions x window`` latent frames sits at ``Q`` rising noise levels: queue frame ``j``
at ``sigmas[j + 1]`` (``sigmas[0] = 0`` is clean). Each iteration every frame moves one level down by
one Euler step of flow matching, ``z += (sigmas[j] - sigmas[j + 1]) * v``, the velocity `v` from one
forward per partition of `window` consecutive queue frames (after the optional sink frames, clean, at
window positions 0..k-1); then the head frame (now clean) leaves and a fresh noise frame joins at the tail.

Shapes: latents ``[1, C, f, h, w]``; sigmas ``[f]``. Units: latent frames.
"""
from __future__ import annotations

import itertools
from collections import deque
from typing import Callable, Iterator, Optional

import torch

#: ``velocity(window latents [1, C, n, h, w], their sigmas [n], their frames [n]) -> [1, C, n, h, w]``:
#: ``frames`` are the window's latent frames' indices in the video made (the sink's: 0..k-1); with a sink,
#: window positions 0..k-1 are the sink's k frames (sigma 0) and their velocity is ignored
Velocity = Callable[[torch.Tensor, torch.Tensor, list], torch.Tensor]


def queue_sigmas(scheduler_sigmas: torch.Tensor) -> torch.Tensor:
    """``[Q + 1]`` ascending float32 noise levels, 0 first, from a flow-matching scheduler's sigmas for
    ``Q`` steps (descending, ending at 0)."""
    sigmas = scheduler_sigmas.detach().float().cpu().flip(0)
    if sigmas[0] != 0:
        raise ValueError(f"the scheduler's sigmas must end at 0, got {sigmas[0].item()}")
    return sigmas


def start_queue(first: torch.Tensor, sigmas: torch.Tensor, noise: torch.Tensor, skip: int) -> torch.Tensor:
    """The queue ``[1, C, Q, h, w]`` from a first video `first` ``[1, C, F, h, w]``: queue frame ``j`` is
    the video's frame ``skip + j`` (its last frame once the video ends) noised to ``sigmas[j + 1]`` with
    `noise` ``[1, C, Q, h, w]`` (``skip``: frames already out, the sink)."""
    levels = noise.shape[2]
    source = torch.tensor([min(skip + j, first.shape[2] - 1) for j in range(levels)], device=first.device)
    sigma = sigmas[1:].to(first).view(1, 1, -1, 1, 1)
    return (1 - sigma) * first.index_select(2, source) + sigma * noise


def queue_segments(starts: list, native: int, span: int) -> list[int]:
    """The prompt-timeline segments (by index) that start past the native video (`native` latent frames)
    but within the first `span` video frames (the sink and the queue's first frames): each needs a
    native video of its own prompt for the queue to start from (`queue_source`)."""
    return [s for s, start in enumerate(starts) if native <= start < span]


def queue_source(pieces: list, length: int) -> torch.Tensor:
    """The `length` clean latent frames ``[1, C, length, h, w]`` a queue starts from (`start_queue`'s
    `first`), from ``(start, video [1, C, F, h, w])`` pieces sorted by start, the first at 0: video frame i
    is frame ``i - start`` of the last piece starting at or before i (its last frame past its end)."""
    frames = []
    for i in range(length):
        start, video = [piece for piece in pieces if piece[0] <= i][-1]
        frames.append(video[:, :, min(i - start, video.shape[2] - 1)])
    return torch.stack(frames, dim=2)


def window_spans(levels: int, window: int, lookahead: bool) -> list[tuple[int, int, int]]:
    """The forwards of one iteration as ``(first, update, stop)`` queue indices: a forward sees queue
    frames ``first .. stop - 1`` and updates ``update .. stop - 1``. Plain: `window` frames each, all
    updated. Lookahead (FIFO-Diffusion's lookahead denoising): `window` frames each, only the noisier
    half updated, the cleaner frames in front as context; a negative ``first`` reaches clean frames
    already out of the queue. Twice the forwards."""
    if not lookahead:
        return [(start, start, start + window) for start in range(0, levels, window)]
    half = max(1, window // 2)
    return [(min(start + half, levels) - window, start, min(start + half, levels)) for start in range(0, levels, half)]


def diagonal_frames(queue: torch.Tensor, sigmas: torch.Tensor, window: int, velocity: Velocity,
                    new_noise: Callable[[], torch.Tensor], sink: Optional[torch.Tensor] = None,
                    lookahead: bool = False) -> Iterator[torch.Tensor]:
    """Clean latent frames ``[1, C, 1, h, w]``, one per iteration, out of the head of `queue`
    ``[1, C, Q, h, w]`` (``Q`` a multiple of `window`; `sigmas` ``[Q + 1]`` from `queue_sigmas`), for as
    long as the caller iterates: memory stays the queue's and the few clean frames lookahead reaches back to.
    ``send(restart)`` instead of ``next``: the queue becomes ``restart(queue)`` (same shape) before the next
    iteration, whose frame it returns (a cut: the queue started again from another video).

    Args:
        velocity: the model's velocity for one window (`Velocity`).
        new_noise: the next tail frame ``[1, C, 1, h, w]`` (at the top level, ``sigmas[Q]``).
        sink: ``[1, C, k, h, w]`` clean, the video's first `k` frames, seen first by every window (not output
            here), or None.
        lookahead: lookahead denoising (`window_spans`); its first windows look back at the clean
            frames out of the queue, as many as there are yet.
    """
    levels = queue.shape[2]
    if levels != sigmas.shape[0] - 1 or levels % window:
        raise ValueError(f"a queue of {levels} frames needs {levels + 1} sigmas and a multiple of window {window}")
    spans = window_spans(levels, window, lookahead)
    context = -min(first for first, _, _ in spans)  # clean frames out of the queue the first window reaches back to
    skip = 0 if sink is None else sink.shape[2]  # video frames before the queue's first output: the sink
    out = deque(maxlen=max(context, 1))
    for done in itertools.count(1):
        history = torch.cat([queue[:, :, :0], *out] if context else [queue[:, :, :0]], dim=2)
        moved = queue.clone()
        for first, update, stop in spans:
            seen = max(first, -history.shape[2])
            z = torch.cat([history[:, :, history.shape[2] + seen:], queue[:, :, max(seen, 0):stop]], dim=2)
            level = torch.cat([sigmas.new_zeros(max(-seen, 0)), sigmas[max(seen, 0) + 1:stop + 1]])
            index = [skip + done - 1 + j for j in range(seen, stop)]  # queue frame j leaves as video frame skip + done - 1 + j
            if sink is not None:
                z, level, index = torch.cat([sink.to(z), z], dim=2), torch.cat([level.new_zeros(skip), level]), [*range(skip), *index]
            v = velocity(z, level, index).to(queue)[:, :, z.shape[2] - (stop - update):]
            down = (sigmas[update:stop] - sigmas[update + 1:stop + 1]).to(queue)
            moved[:, :, update:stop] = queue[:, :, update:stop] + down.view(1, 1, -1, 1, 1) * v
        out.append(moved[:, :, :1])
        queue = torch.cat([moved[:, :, 1:], new_noise().to(queue)], dim=2)
        restart = yield out[-1]
        if restart is not None:  # sent by the caller: the queue from now on (e.g. `start_queue` of another video)
            queue = restart(queue).to(queue)

