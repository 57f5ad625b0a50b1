"""Frequency bands of FreeLong++ fusion: cut-offs per branch and the band filters on the token grid.

Frequencies are normalised per axis to [-1, 1) (1 = Nyquist): ``2 * fftfreq(n)``. FreeLong's 3D
Gaussian low-pass ``exp(-½((t/d_t)² + (h/d_s)² + (w/d_s)²))`` is a product of 1D Gaussians, so every
band is kept as separable 1D responses and applied as small matrices (see `attention.fusion`).
"""
from __future__ import annotations

from dataclasses import dataclass
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


def gaussian_response(n: int, cutoff: float, dtype=torch.float64) -> torch.Tensor:
    """``exp(-½ (f / cutoff)²)`` at the normalised frequencies ``2 · fftfreq(n)``, ``[n]``."""
    return torch.exp(-0.5 * (2 * torch.fft.fftfreq(n, dtype=dtype) / cutoff) ** 2)


@dataclass(frozen=True, eq=False)
class SeparableBands:
    """K bands that partition unity, from K - 1 nested separable Gaussian low-passes.

    ``G_k(t, h, w) = T_k(t) · S_h(h) · S_w(w)`` with increasing temporal cut-offs (shared spatial
    cut-off); bands ``H_1 = G_1`` (global branch), ``H_k = G_k - G_{k-1}``, ``H_K = 1 - G_{K-1}``
    (most local branch). For K = 2 this is FreeLong's ``G`` / ``1 - G`` blend.

    Attributes:
        temporal: ``[K-1, F]`` responses T_k on the full FFT grid.
        spatial_h: ``[H]`` response S_h; spatial_w: ``[W]`` response S_w (float64).
    """

    temporal: torch.Tensor
    spatial_h: torch.Tensor
    spatial_w: torch.Tensor

    @property
    def num_bands(self) -> int:
        return self.temporal.shape[0] + 1

    def lowpasses(self) -> torch.Tensor:
        """``[K-1, F, H, W]`` low-passes G_k on the full FFT grid."""
        return self.temporal[:, :, None, None] * self.spatial_h[None, None, :, None] * self.spatial_w[None, None, None, :]

    def dense(self, dtype=torch.float32) -> torch.Tensor:
        """``[K, F, H, W]`` band filters on the full FFT grid (for checks and references)."""
        lows = self.lowpasses()
        edges = torch.cat([torch.zeros_like(lows[:1]), lows, torch.ones_like(lows[:1])])
        return (edges[1:] - edges[:-1]).to(dtype)


def make_bands(frames: int, height: int, width: int, temporal_cutoffs: Sequence[float],
               spatial_cutoff: float) -> SeparableBands:
    """Bands on an (F, H, W) token grid; `temporal_cutoffs` increase from global to local."""
    cutoffs = list(temporal_cutoffs)
    if not cutoffs or any(c <= 0 for c in cutoffs) or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or spatial_cutoff <= 0:
        raise ValueError(f"temporal cut-offs must be positive and increase from global to local, got {cutoffs}")
    return SeparableBands(
        temporal=torch.stack([gaussian_response(frames, c) for c in cutoffs]),
        spatial_h=gaussian_response(height, spatial_cutoff),
        spatial_w=gaussian_response(width, spatial_cutoff),
    )
