"""Small pure attention modifiers in FlexAttention's calling convention.

A *mask_mod* ``(b, h, q_idx, kv_idx) -> bool`` says whether query ``q_idx`` may attend to key
``kv_idx``; a *score_mod* ``(score, b, h, q_idx, kv_idx) -> score`` rewrites one scaled logit
``s = q·k / sqrt(d)``. Indices are flattened video token indices (see `TokenLayout`). The same
functions run inside `torch.nn.attention.flex_attention` (0-d index tensors) and inside the dense
reference kernel (broadcast index grids), so policy is written once and every kernel executes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from .layout import TokenLayout

MaskMod = Callable[..., torch.Tensor]
ScoreMod = Callable[..., torch.Tensor]


def window_start(layout: TokenLayout, window: int, frame):
    """First frame of the `window`-frame span centred on `frame`, shifted at the ends so it always
    spans `window` frames: ``clamp(frame - window // 2, 0, F - window)``."""
    return torch.clamp(frame - window // 2, min=0, max=layout.frames - window)


def window_mask(layout: TokenLayout, window: int, anchors: int = 0) -> MaskMod:
    """Local temporal window of `window` token frames centred on the query's frame (FreeLong's
    local branch). Keys of any spatial position inside that frame span are visible, and with
    `anchors` > 0 also every key of the video's first `anchors` token frames (an anchored window:
    the first frames as attention sinks, at their own positions)."""
    if not 1 <= window <= layout.frames:
        raise ValueError(f"window must be in [1, {layout.frames}] frames, got {window}")

    def mask_mod(b, h, q_idx, kv_idx):
        start = window_start(layout, window, layout.frame_of(q_idx))
        kv_frame = layout.frame_of(kv_idx)
        inside = (kv_frame >= start) & (kv_frame < start + window)
        return inside | (kv_frame < anchors) if anchors else inside

    return mask_mod


@dataclass(frozen=True)
class FirstFrameGuard:
    """UltraViCo's guard (a mask_mod): queries of the first frame see no key at or beyond the native
    window. A dataclass, so kernels with a compiled form of this rule can recognise it."""

    layout: TokenLayout

    def __call__(self, b, h, q_idx, kv_idx):
        return (self.layout.frame_of(q_idx) > 0) | (self.layout.frame_of(kv_idx) < self.layout.native_frames)


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


@dataclass(frozen=True)
class FarPair:
    """UltraViCo's "far" rule (a mask_mod, True for far pairs).

    ``region="token"``: ``|i - j| > L·tokens_per_frame / 2`` in flattened token index (the reference
    kernel's rule); ``region="frame"``: ``|f_i - f_j| > L / 2`` in frames.
    """

    layout: TokenLayout
    region: str

    def __post_init__(self):
        if self.region not in ("token", "frame"):
            raise ValueError(f"region must be 'token' or 'frame', got {self.region!r}")

    @property
    def limit(self) -> int:
        """Twice the distance (tokens or frames, by `region`) beyond which a pair is far."""
        if self.region == "token":
            return self.layout.native_frames * self.layout.tokens_per_frame
        return self.layout.native_frames

    @property
    def any_pair(self) -> bool:
        """Whether the layout holds a far pair at all (its farthest pair: the first and last token),
        in plain integers (no tensor, so no graph break under torch.compile)."""
        span = self.layout.num_tokens - 1 if self.region == "token" else self.layout.frames - 1
        return 2 * span > self.limit

    def __call__(self, b, h, q_idx, kv_idx):
        if self.region == "token":
            return 2 * (q_idx - kv_idx).abs() > self.limit
        return 2 * (self.layout.frame_of(q_idx) - self.layout.frame_of(kv_idx)).abs() > self.limit


@dataclass(frozen=True)
class PositiveDecay:
    """Scale positive logits by `alpha` <= 1 and keep the others: ``min(s, alpha·s)`` (a score_mod).

    For alpha <= 1, ``alpha·s < s`` exactly when ``s > 0``, so no comparison or index math is
    needed: inside a region known to be far this is the whole of UltraViCo's rule.
    """

    alpha: float

    def __call__(self, score, b, h, q_idx, kv_idx):
        return torch.minimum(score, score * self.alpha)


@dataclass(frozen=True)
class BandedPositiveDecay:
    """UltraViCo's HunyuanVideo variant (a score_mod, valid inside the far region): positive logits
    are scaled by `beta` where the token distance ``|i - j|`` lies in one of `bands` (inclusive,
    tokens), by `alpha` elsewhere; both <= 1, so ``min(s, factor·s)``."""

    alpha: float
    beta: float
    bands: tuple

    def __call__(self, score, b, h, q_idx, kv_idx):
        distance = (q_idx - kv_idx).abs()
        in_band = torch.zeros_like(distance, dtype=torch.bool)
        for low, high in self.bands:
            in_band = in_band | ((distance >= low) & (distance <= high))
        factor = torch.where(in_band, self.beta, self.alpha).to(score.dtype)
        return torch.minimum(score, score * factor)


def in_region(region: MaskMod, inside: ScoreMod) -> ScoreMod:
    """A score_mod applying `inside` where the mask_mod `region` holds and leaving other logits."""

    def score_mod(score, b, h, q_idx, kv_idx):
        return torch.where(region(b, h, q_idx, kv_idx), inside(score, b, h, q_idx, kv_idx), score)

    return score_mod


def not_mask(mod: MaskMod) -> MaskMod:
    """Complement of a mask_mod."""

    def mask_mod(b, h, q_idx, kv_idx):
        return ~mod(b, h, q_idx, kv_idx)

    return mask_mod
