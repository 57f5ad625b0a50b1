"""Turn the active method configs and a token layout into one attention plan."""
from __future__ import annotations

from .attention.layout import TokenLayout
from .attention.plan import AttentionPlan
from .errors import VidlongError
from .methods import SlidingWindow, SpectralFusion, UltraViCo, check_methods


def build_plan(layout: TokenLayout, methods, temporal_shift=None) -> AttentionPlan:
    """The plan for one self-attention of `layout` under `methods` (UltraViCo, SpectralFusion,
    SlidingWindow; other methods act elsewhere).

    Settings that cannot change the result at this layout (alpha = 1, a guard or window past the
    video's end) are dropped, so neutral settings give the stock plan and the stock kernel.
    `temporal_shift`: the family's RoPE move (`FamilyAdapter.temporal_shift`), for windows whose
    anchors are re-placed next to them (``anchor_positions="adjacent"``).
    """
    decay = next((m for m in methods if isinstance(m, UltraViCo)), None)
    fusion = next((m for m in methods if isinstance(m, SpectralFusion)), None)
    sliding = next((m for m in methods if isinstance(m, SlidingWindow)), None)
    check_methods(methods)
    region = decay.decay_region(layout) if decay else None
    local = fusion or sliding
    windows = local.windows_for(layout) if local else (None,)
    anchors = local.anchor_frames_for(layout) if local and windows != (None,) else 0
    adjacent = bool(anchors) and local.anchor_positions == "adjacent"
    if adjacent and temporal_shift is None:
        raise VidlongError("anchor_positions='adjacent' needs a family whose RoPE vidlong can move (Wan); "
                           "use anchor_positions='own'")
    decayed = 1 if decay and len(windows) > 1 and (decay.branches == "global" or adjacent) else None
    return AttentionPlan(
        layout=layout,
        windows=windows,
        base_mask=decay.mask_mod(layout) if decay else None,
        score_region=region,
        region_score_mod=decay.score_mod(layout) if region is not None else None,
        center_keys=bool(decay and decay.center_keys and region is not None),
        decayed_branches=0 if decay and adjacent and windows[0] is not None else decayed,
        bands=fusion.bands_for(layout, windows) if len(windows) > 1 else None,
        anchor_frames=anchors,
        anchor_shift=temporal_shift if adjacent else None,
        key=(layout, decay, fusion, sliding, windows),
    )
