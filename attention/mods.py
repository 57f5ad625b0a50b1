"""Small pure attention modifiers in FlexAttention's calling convention.

A *mask_mod* ``(b, h, q_idx, kv_idx) -> bool`` says whether query ``q_idx`` may attend to key
``kv_idx``; a *score_mod* ``(score, b, h, q_idx, kv_idx) -> score`` rewrites one scaled logit
``s = q·k / sqrt(d)``. Indices are flattened video token indices (see `TokenLayout`). The same
functions run inside `torch.nn.attention.flex_attention` (0-d index tensors) and inside the dense
reference kernel (broadcast index grids), so policy is written once and every kernel executes it.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from .layout import TokenLayout

MaskMod = Callable[..., torch.Tensor]
ScoreMod = Callable[..., torch.Tensor]


def window_start(layout: TokenLayout, window: int, frame):
    """First frame of the `window`-frame span centred on `frame`, shifted at the ends so it always
    spans `window` frames: ``clamp(frame - window // 2, 0, F - window)``."""
    return torch.clamp(frame - window // 2, min=0, max=layout.frames - window)


def window_mask(layout: TokenLayout, window: int) -> MaskMod:
    """Local temporal window of `window` token frames centred on the query's frame (FreeLong's
    local branch). Keys of any spatial position inside that frame span are visible."""
    if not 1 <= window <= layout.frames:
        raise ValueError(f"window must be in [1, {layout.frames}] frames, got {window}")

    def mask_mod(b, h, q_idx, kv_idx):
        start = window_start(layout, window, layout.frame_of(q_idx))
        kv_frame = layout.frame_of(kv_idx)
        return (kv_frame >= start) & (kv_frame < start + window)

    return mask_mod


def first_frame_guard(layout: TokenLayout) -> MaskMod:
    """UltraViCo's guard: queries of the first frame see no key at or beyond the native window."""

    def mask_mod(b, h, q_idx, kv_idx):
        return (layout.frame_of(q_idx) > 0) | (layout.frame_of(kv_idx) < layout.native_frames)

    return mask_mod


def and_masks(*mods: Optional[MaskMod]) -> Optional[MaskMod]:
    """Intersection of mask_mods; `None` entries (no mask) are dropped; `None` if nothing is left."""
    mods = tuple(m for m in mods if m is not None)
    if not mods:
        return None
    if len(mods) == 1:
        return mods[0]

    def mask_mod(b, h, q_idx, kv_idx):
        keep = mods[0](b, h, q_idx, kv_idx)
        for mod in mods[1:]:
            keep = keep & mod(b, h, q_idx, kv_idx)
        return keep

    return mask_mod


def far_pair(layout: TokenLayout, region: str):
    """UltraViCo's "far" rule as ``(q_idx, kv_idx) -> bool``.

    ``region="token"``: ``|i - j| > L·tokens_per_frame / 2`` in flattened token index (the reference
    kernel's rule); ``region="frame"``: ``|f_i - f_j| > L / 2`` in frames.
    """
    if region == "token":
        limit = layout.native_frames * layout.tokens_per_frame
        return lambda q_idx, kv_idx: 2 * (q_idx - kv_idx).abs() > limit
    if region == "frame":
        limit = layout.native_frames
        return lambda q_idx, kv_idx: 2 * (layout.frame_of(q_idx) - layout.frame_of(kv_idx)).abs() > limit
    raise ValueError(f"region must be 'token' or 'frame', got {region!r}")


def decay_score(layout: TokenLayout, alpha: float, region: str) -> ScoreMod:
    """UltraViCo's decay: a positive logit of a far pair is multiplied by `alpha`; others are kept."""
    is_far = far_pair(layout, region)

    def score_mod(score, b, h, q_idx, kv_idx):
        return torch.where(is_far(q_idx, kv_idx) & (score > 0), score * alpha, score)

    return score_mod
