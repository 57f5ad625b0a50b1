"""An attention plan executed as linear attention (Sana-Video's ReLU-feature self-attention), where there are no softmax
logits: each branch's keys are a span of whole frames (the plan's temporal window, plus its anchor frames), so a query's
numerator ``Σ_j v_j (k̃_j · q̃_i)`` and normaliser ``Σ_j k_j · q_i`` over those keys are differences of prefix sums over
frames of per-frame sums (``Σ_j k̃_j v_jᵀ`` ``[D, D]`` and ``Σ_j k_j`` ``[D]`` a frame and head): no ``[N, N]`` matrix, a
branch costs what the global attention costs, ``O(N·D²)``. The branches are fused as every plan's are (`fuse_bands`).

Units: token frames (`TokenLayout`); ``q̃``, ``k̃`` are the RoPE-rotated features, ``q``, ``k`` the unrotated ones."""
from __future__ import annotations

import torch

from .fusion import fuse_bands
from .mods import window_start
from .plan import AttentionPlan

#: what the normaliser gets before its reciprocal, as diffusers' `SanaLinearAttnProcessor3_0` adds it
NORMALISER_EPS = 1e-15


def _by_frame(x: torch.Tensor, frames: int, dtype: torch.dtype) -> torch.Tensor:
    """``[B, N, H, D]`` (frame-major tokens) -> ``[B, H, F, T, D]`` in `dtype` (T tokens a frame)."""
    return x.to(dtype).unflatten(1, (frames, -1)).permute(0, 3, 1, 2, 4)


def _prefix(per_frame: torch.Tensor) -> torch.Tensor:
    """Sums over frames ``[B, H, F, ...]`` -> their prefix sums ``[B, H, F + 1, ...]`` (entry ``f``: frames ``< f``)."""
    return torch.cat([torch.zeros_like(per_frame[:, :, :1]), per_frame.cumsum(dim=2)], dim=2)


def _spans(plan: AttentionPlan, k: int) -> tuple:
    """(first, stop, anchors_stop) ``[F]`` of branch `k`'s keys for each query frame: frames ``[first, stop)`` and, before
    them, ``[0, anchors_stop)`` (the plan's anchor frames not already inside the window)."""
    layout, window = plan.layout, plan.windows[k]
    frames = torch.arange(layout.frames)
    if window is None:
        zeros = torch.zeros_like(frames)
        return zeros, torch.full_like(frames, layout.frames), zeros
    first = window_start(layout, window, frames)
    return first, first + window, first.clamp(max=plan.anchor_frames)


def linear_branches(query, key, query_rot, key_rot, value, plan: AttentionPlan) -> list:
    """Each branch of `plan` as linear attention: ``out_i = Σ_j v_j (k̃_j · q̃_i) / (Σ_j k_j · q_i + ε)`` over the keys of
    query i's frame span (`_spans`), numerator and normaliser over the same keys.

    Args:
        query, key: the ReLU features ``[B, N, H, D]``; query_rot, key_rot: the same rotated by the family's RoPE.
        value: ``[B, N, H, D]``.
        plan: a plan of windows alone (no base mask, score modifier, key centring or re-placed anchors: they act on
            softmax logits, which linear attention has not).

    Returns:
        one ``[B, N, H, D]`` output per branch, in the query's dtype (the sums in float32, float64 for float64 inputs).
    """
    if plan.base_mask is not None or plan.region_score_mod is not None or plan.center_keys or plan.anchor_shift is not None:
        raise ValueError("linear attention runs plans of windows alone (no mask, score modifier, centring or re-placed anchors)")
    frames = plan.layout.frames
    dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    q, k, q_rot, k_rot, v = (_by_frame(x, frames, dtype) for x in (query, key, query_rot, key_rot, value))
    kv = _prefix(torch.einsum("bhftd,bhfte->bhfde", k_rot, v))      # [B, H, F + 1, D, D]
    ks = _prefix(k.sum(dim=3))                                       # [B, H, F + 1, D]
    outputs = []
    for branch in range(plan.num_branches):
        first, stop, anchors = (index.to(q.device) for index in _spans(plan, branch))
        span_kv = kv[:, :, stop] - kv[:, :, first] + kv[:, :, anchors]  # [B, H, F, D, D]
        span_k = ks[:, :, stop] - ks[:, :, first] + ks[:, :, anchors]   # [B, H, F, D]
        numerator = torch.einsum("bhftd,bhfde->bhfte", q_rot, span_kv)
        normaliser = torch.einsum("bhftd,bhfd->bhft", q, span_k)
        out = numerator * (1 / (normaliser + NORMALISER_EPS)).unsqueeze(-1)
        outputs.append(out.permute(0, 2, 3, 1, 4).flatten(1, 2).to(query.dtype))
    return outputs


def run_linear_plan(query, key, query_rot, key_rot, value, plan: AttentionPlan) -> torch.Tensor:
    """Execute `plan` as linear attention (`linear_branches`) on ``[B, N, H, D]`` features; returns ``[B, N, H, D]``, the
    branches fused by the plan's bands (one branch: itself)."""
    outputs = linear_branches(query, key, query_rot, key_rot, value, plan)
    return outputs[0] if plan.num_branches == 1 else fuse_bands(outputs, plan.bands, plan.layout)
