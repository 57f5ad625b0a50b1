"""An attention plan: what one video self-attention must compute, independent of any kernel."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, Optional

from ..schedulers.bands import SeparableBands
from .layout import TokenLayout
from .mods import MaskMod, ScoreMod, and_masks, in_region, window_mask


@dataclass(frozen=True)
class AttentionPlan:
    """Branches of one self-attention and how their outputs are fused.

    Each branch ``k`` is the attention restricted to a temporal window ``windows[k]`` (token frames;
    ``None`` = every frame), intersected with `base_mask`; logits of pairs in `score_region` pass
    through `region_score_mod` (together: `score_mod`). Windows run from global to local and are
    nested (each branch's keys contain the next branch's), which lets kernels share work between
    branches; the region split lets them skip index math where a whole block is inside or outside.

    Attributes:
        layout: the token grid.
        windows: one entry per branch, global first.
        base_mask: mask_mod shared by every branch (e.g. UltraViCo's first-frame guard), or None.
        score_region: mask_mod of the pairs whose logits are modified (e.g. UltraViCo's far pairs).
        region_score_mod: the modifier valid inside `score_region`, free of index tests
            (e.g. ``min(s, alpha·s)``); None for no modifier.
        center_keys: subtract the mean key over the sequence before attention (SageAttention's
            `smooth_k`; only changes results together with a non-linear `score_mod`).
        decayed_branches: how many branches, from the global one, `base_mask` and the score
            modifier act in (the others are their plain windows); None: every branch.
        bands: the K frequency bands (`SeparableBands`) that fuse the branches; None for one branch.
        anchor_frames: token frames at the video's start that every local window also sees
            (`window_mask`'s anchors; 0: plain windows). Anchored windows stay nested.
        anchor_shift: None: the anchors keep their own positions. Else ``shift(keys, frames)``, the
            family's temporal RoPE move (e.g. `wan_temporal_shift`): each local window sees its anchors
            re-placed at the frames just before it, as a stream's chunks see their sinks (no window
            then reaches further than ``anchors + window`` frames). Runs on the dense kernel, in local
            branches free of the base mask and score modifier.
        key: hashable description of the plan, for kernels that cache masks.
    """

    layout: TokenLayout
    windows: tuple[Optional[int], ...] = (None,)
    base_mask: Optional[MaskMod] = None
    score_region: Optional[MaskMod] = None
    region_score_mod: Optional[ScoreMod] = None
    center_keys: bool = False
    decayed_branches: Optional[int] = None
    bands: Optional[SeparableBands] = field(default=None, compare=False)
    anchor_frames: int = 0
    anchor_shift: Optional[Callable] = field(default=None, compare=False)
    key: Hashable = None

    def __post_init__(self):
        if len(self.windows) > 1 and self.bands is None:
            raise ValueError("a plan with several branches needs bands to fuse them")
        if self.bands is not None and self.bands.num_bands != len(self.windows):
            raise ValueError("bands must have one band per branch")
        if self.anchor_shift is not None and any(self.acts_in(k) and (self.base_mask or self.region_score_mod)
                                                 for k, w in enumerate(self.windows) if w is not None):
            raise ValueError("re-placed anchors need local branches free of the base mask and score modifier "
                             "(decayed_branches=1)")

    @property
    def num_branches(self) -> int:
        return len(self.windows)

    @property
    def score_mod(self) -> Optional[ScoreMod]:
        """The full score_mod (`region_score_mod` inside `score_region`), None when there is none."""
        if self.region_score_mod is None:
            return None
        if self.score_region is None:
            return self.region_score_mod
        return in_region(self.score_region, self.region_score_mod)

    @property
    def is_stock(self) -> bool:
        """True when the plan is exactly the model's own global attention."""
        return self.windows == (None,) and self.base_mask is None and self.region_score_mod is None and not self.center_keys

    def acts_in(self, k: int) -> bool:
        """Whether the base mask and the score modifier act in branch `k` (see `decayed_branches`)."""
        return self.decayed_branches is None or k < self.decayed_branches

    def window_mask(self, k: int) -> Optional[MaskMod]:
        """The temporal window of branch `k` (anchored where the plan says), None for the global branch."""
        window = self.windows[k]
        return None if window is None else window_mask(self.layout, window, self.anchor_frames)

    def branch_mask(self, k: int) -> Optional[MaskMod]:
        """The full mask_mod of branch `k` (window ∩ base mask), None when every pair is visible."""
        return and_masks(self.base_mask if self.acts_in(k) else None, self.window_mask(k))

    def branch_score_mod(self, k: int) -> Optional[ScoreMod]:
        """The score_mod of branch `k` (`score_mod`, or None where the plan's modifier does not act)."""
        return self.score_mod if self.acts_in(k) else None
