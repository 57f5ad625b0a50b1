"""An attention plan: what one video self-attention must compute, independent of any kernel."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Optional

import torch

from .layout import TokenLayout
from .mods import MaskMod, ScoreMod, and_masks, window_mask


@dataclass(frozen=True)
class AttentionPlan:
    """Branches of one self-attention and how their outputs are fused.

    Each branch ``k`` is the attention restricted to a temporal window ``windows[k]`` (token frames;
    ``None`` = every frame), intersected with `base_mask`, with every logit passed through
    `score_mod`. Windows run from global to local and are nested (each branch's keys contain the
    next branch's), which lets kernels share work between branches.

    Attributes:
        layout: the token grid.
        windows: one entry per branch, global first.
        base_mask: mask_mod shared by every branch (e.g. UltraViCo's first-frame guard), or None.
        score_mod: logit modifier shared by every branch (e.g. UltraViCo's decay), or None.
        center_keys: subtract the mean key over the sequence before attention (SageAttention's
            `smooth_k`; only changes results together with a non-linear `score_mod`).
        band_filters: ``[K, F, H, W // 2 + 1]`` float32 filters on the rfft grid of the token grid,
            summing to one over K; None for a single branch.
        key: hashable description of the plan, for kernels that cache masks.
    """

    layout: TokenLayout
    windows: tuple[Optional[int], ...] = (None,)
    base_mask: Optional[MaskMod] = None
    score_mod: Optional[ScoreMod] = None
    center_keys: bool = False
    band_filters: Optional[torch.Tensor] = field(default=None, compare=False)
    key: Hashable = None

    def __post_init__(self):
        if len(self.windows) > 1 and self.band_filters is None:
            raise ValueError("a plan with several branches needs band_filters to fuse them")
        if self.band_filters is not None and self.band_filters.shape[0] != len(self.windows):
            raise ValueError("band_filters must have one filter per branch")

    @property
    def num_branches(self) -> int:
        return len(self.windows)

    @property
    def is_stock(self) -> bool:
        """True when the plan is exactly the model's own global attention."""
        return self.windows == (None,) and self.base_mask is None and self.score_mod is None and not self.center_keys

    def branch_mask(self, k: int) -> Optional[MaskMod]:
        """The full mask_mod of branch `k` (window ∩ base mask), None when every pair is visible."""
        window = self.windows[k]
        return and_masks(self.base_mask, None if window is None else window_mask(self.layout, window))
