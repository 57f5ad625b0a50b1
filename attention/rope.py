"""Wan's 3D RoPE at chosen temporal positions (for streaming, where positions are re-indexed)."""
from __future__ import annotations

import torch


def apply_wan_rotary(x: torch.Tensor, freqs_cos: torch.Tensor, freqs_sin: torch.Tensor) -> torch.Tensor:
    """Wan's interleaved RoPE on ``[B, N, H, D]`` with cos/sin ``[1, N, 1, D]`` (same op order as diffusers)."""
    x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
    cos = freqs_cos[..., 0::2]
    sin = freqs_sin[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x1 * cos - x2 * sin
    out[..., 1::2] = x1 * sin + x2 * cos
    return out.type_as(x)


def wan_rotary_at(rope, frame_positions: torch.Tensor, height: int, width: int):
    """cos/sin ``[1, len(frame_positions)·height·width, 1, D]`` for tokens of the given frames.

    Equals diffusers' `WanRotaryPosEmbed.forward` when ``frame_positions = arange(F)``; any other
    positions (e.g. a chunk placed after its cached context) use the same tables.

    Args:
        rope: the transformer's `WanRotaryPosEmbed` (``transformer.rope``).
        frame_positions: ``[n]`` long tensor of temporal positions (token frames).
        height, width: token rows and columns per frame.
    """
    sizes = [rope.t_dim, rope.h_dim, rope.w_dim]
    n = frame_positions.numel()
    tables = []
    for freqs in (rope.freqs_cos, rope.freqs_sin):
        f_t, f_h, f_w = freqs.split(sizes, dim=1)
        f_t = f_t[frame_positions.to(freqs.device)].view(n, 1, 1, -1).expand(n, height, width, -1)
        f_h = f_h[:height].view(1, height, 1, -1).expand(n, height, width, -1)
        f_w = f_w[:width].view(1, 1, width, -1).expand(n, height, width, -1)
        tables.append(torch.cat([f_t, f_h, f_w], dim=-1).reshape(1, n * height * width, 1, -1))
    return tables[0], tables[1]


def wan_temporal_shift(rope):
    """A function ``shift(x, frames)`` that moves RoPE-rotated keys ``[..., D]`` (any leading axes, Wan's
    interleaved layout) `frames` >= 0 token frames later in time, leaving their spatial positions.

    Wan's angles are linear in position (``θ = p·ω``), so a move by ``d`` frames is one more rotation by
    the temporal table's row ``d`` on the temporal channels (the spatial ones rotate by 0). Exact up to
    rounding: ``shift(rope_at(k, p), d) == rope_at(k, p + d)``.
    """
    spatial = rope.h_dim + rope.w_dim

    def shift(x: torch.Tensor, frames: int) -> torch.Tensor:
        if frames == 0:
            return x
        tables = []
        for freqs, rest in ((rope.freqs_cos, 1.0), (rope.freqs_sin, 0.0)):
            row = freqs[frames, : rope.t_dim].to(device=x.device, dtype=torch.float64)
            tables.append(torch.cat([row, row.new_full((spatial,), rest)]).to(x.dtype))
        return apply_wan_rotary(x, *tables)

    return shift
