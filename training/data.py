"""Clip pools for training: shapes-world clips rendered in worker processes into a memmap.

A pool is ``count`` clips of ``num_frames`` pixel frames, uint8 [N, T, H, W, 3] on disk (a
``numpy.memmap``), plus one prompt per clip. Clip ``i`` of a pool is ``make_clip(seed, i)``, so the
pool's content does not depend on the number of workers or on their scheduling.
"""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np

from training.shapes_world import make_clip

_CHUNK = 32


def _render_chunk(args) -> tuple[int, list[str]]:
    path, shape, seed, start, count = args
    n, t, h, w, _ = shape
    arr = np.memmap(path, dtype=np.uint8, mode="r+", shape=shape)
    prompts = []
    for i in range(start, start + count):
        clip = make_clip(seed, i, num_frames=t, height=h, width=w)
        arr[i] = clip.frames
        prompts.append(clip.prompt)
    arr.flush()
    del arr
    return start, prompts


class ClipPool:
    """Clips rendered asynchronously by a process pool into ``<folder>/<name>.u8``.

    ``start()`` launches the rendering; ``wait()`` blocks until it is done and returns
    (frames memmap uint8 [N, T, H, W, 3], prompts list[str]).
    """

    def __init__(self, folder: str, name: str, seed: int, count: int, num_frames: int,
                 height: int, width: int):
        self.path = os.path.join(folder, f"{name}.u8")
        self.shape = (count, num_frames, height, width, 3)
        self.seed = seed
        arr = np.memmap(self.path, dtype=np.uint8, mode="w+", shape=self.shape)
        del arr
        self._result = None
        self._prompts: list[str] | None = None

    def _jobs(self):
        n = self.shape[0]
        return [(self.path, self.shape, self.seed, s, min(_CHUNK, n - s))
                for s in range(0, n, _CHUNK)]

    def start(self, pool) -> "ClipPool":
        if pool is None:  # synchronous (tests, smoke runs)
            self._result = [_render_chunk(j) for j in self._jobs()]
        else:
            self._result = pool.map_async(_render_chunk, self._jobs())
        return self

    def wait(self) -> tuple[np.ndarray, list[str]]:
        if self._prompts is None:
            parts = self._result if isinstance(self._result, list) else self._result.get()
            parts = sorted(parts)
            self._prompts = [p for _, ps in parts for p in ps]
        frames = np.memmap(self.path, dtype=np.uint8, mode="r", shape=self.shape)
        return frames, self._prompts


def make_worker_pool(workers: int):
    """A 'spawn' process pool (safe beside CUDA), or None for synchronous rendering."""
    if workers <= 0:
        return None
    return mp.get_context("spawn").Pool(workers)
