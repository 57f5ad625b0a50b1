"""RIFLEx: lower the RoPE temporal frequency whose period is closest to the training length.

Wan's RoPE tables (``transformer.rope.freqs_cos/sin``, ``[max_positions, head_dim]``) hold, for the
temporal part (first ``t_dim`` columns), ``cos/sin(p · θ_j)`` in columns ``2j, 2j+1``. The *intrinsic*
component is the j whose period ``2π / θ_j`` is closest to the native window L; RIFLEx lowers its
frequency so that one period covers the whole new length F (``θ_j' = 2π / F``) and keeps every other
component, which cures repetition up to about 2x.
"""
from __future__ import annotations

import math

import torch


def temporal_frequencies(freqs_cos: torch.Tensor, freqs_sin: torch.Tensor, t_dim: int) -> torch.Tensor:
    """θ_j (radians per frame), ``[t_dim // 2]``, read back from the tables at position 1."""
    return torch.atan2(freqs_sin[1, 0:t_dim:2].double(), freqs_cos[1, 0:t_dim:2].double())


def intrinsic_component(thetas: torch.Tensor, native_frames: int) -> int:
    """Index j of the component whose period is closest to `native_frames`."""
    periods = 2 * math.pi / thetas.clamp_min(1e-12)
    return int((periods - native_frames).abs().argmin())


def riflex_tables(freqs_cos: torch.Tensor, freqs_sin: torch.Tensor, t_dim: int, native_frames: int, frames: int):
    """New (cos, sin) tables with the intrinsic temporal component lowered for a video of `frames`
    token frames; the input tables themselves are returned unchanged when ``frames <= native``."""
    thetas = temporal_frequencies(freqs_cos, freqs_sin, t_dim)
    j = intrinsic_component(thetas, native_frames)
    new_theta = min(float(thetas[j]), 2 * math.pi / frames)
    if frames <= native_frames or new_theta == float(thetas[j]):
        return freqs_cos, freqs_sin
    angles = torch.arange(freqs_cos.shape[0], dtype=torch.float64, device=freqs_cos.device) * new_theta
    cos, sin = freqs_cos.clone(), freqs_sin.clone()
    cos[:, 2 * j : 2 * j + 2] = torch.cos(angles).to(cos.dtype)[:, None]
    sin[:, 2 * j : 2 * j + 2] = torch.sin(angles).to(sin.dtype)[:, None]
    return cos, sin
