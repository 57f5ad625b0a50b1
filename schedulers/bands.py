"""Frequency bands of FreeLong++ fusion: cut-offs per branch and the band filters on the token grid.

Frequencies are normalised per axis to [-1, 1) (1 = Nyquist): ``2 * fftfreq(n)``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

#: FreeLong's Gaussian cut-off (normalised frequency) for a local window of the native length.
BASE_CUTOFF = 0.25


def default_cutoffs(windows: Sequence[Optional[int]], native_frames: int) -> tuple[float, ...]:
    """Temporal cut-off at which each local branch takes over from the wider one before it.

    A window of w frames resolves temporal frequencies down to about 1/w, so the cut-off scales as
    ``BASE_CUTOFF · L / w`` (FreeLong's 0.25 for a native-length window), capped at 1.
    Returns one value per local window (``len(windows) - 1``), increasing from global to local.
    """
    return tuple(min(1.0, BASE_CUTOFF * native_frames / w) for w in windows[1:])


def _grid_frequencies(frames: int, height: int, width: int, dtype=torch.float64):
    """Normalised frequencies of the rfft grid: ``[F,1,1]``, ``[1,H,1]``, ``[1,1,W//2+1]``."""
    f_t = 2 * torch.fft.fftfreq(frames, dtype=dtype).view(-1, 1, 1)
    f_h = 2 * torch.fft.fftfreq(height, dtype=dtype).view(1, -1, 1)
    f_w = 2 * torch.fft.rfftfreq(width, dtype=dtype).view(1, 1, -1)
    return f_t, f_h, f_w


def gaussian_lowpass(frames: int, height: int, width: int, temporal_cutoff: float, spatial_cutoff: float,
                     dtype=torch.float64) -> torch.Tensor:
    """FreeLong's 3D Gaussian low-pass ``exp(-½((t/d_t)² + (h/d_s)² + (w/d_s)²))`` on the rfft grid,
    ``[F, H, W // 2 + 1]``."""
    f_t, f_h, f_w = _grid_frequencies(frames, height, width, dtype)
    return torch.exp(-0.5 * ((f_t / temporal_cutoff) ** 2 + (f_h / spatial_cutoff) ** 2 + (f_w / spatial_cutoff) ** 2))


def band_filters(frames: int, height: int, width: int, temporal_cutoffs: Sequence[float], spatial_cutoff: float,
                 dtype=torch.float32) -> torch.Tensor:
    """K band filters that partition unity, ``[K, F, H, W // 2 + 1]`` with K = len(cutoffs) + 1.

    With nested low-passes ``G_1 <= ... <= G_{K-1}`` (increasing temporal cut-offs):
    ``H_1 = G_1`` (lowest band, global branch), ``H_k = G_k - G_{k-1}``, ``H_K = 1 - G_{K-1}``
    (highest band, most local branch). For K = 2 this is FreeLong's ``G`` / ``1 - G`` blend.
    """
    cutoffs = list(temporal_cutoffs)
    if any(c <= 0 for c in cutoffs) or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or spatial_cutoff <= 0:
        raise ValueError(f"temporal cut-offs must be positive and increase from global to local, got {cutoffs}")
    if not cutoffs:
        return torch.ones(1, frames, height, width // 2 + 1, dtype=dtype)
    lowpasses = [gaussian_lowpass(frames, height, width, c, spatial_cutoff) for c in cutoffs]
    edges = [torch.zeros_like(lowpasses[0]), *lowpasses, torch.ones_like(lowpasses[0])]
    return torch.stack([hi - lo for lo, hi in zip(edges[:-1], edges[1:])]).to(dtype)
