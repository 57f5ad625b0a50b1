"""Turn the active method configs and a token layout into one attention plan."""
from __future__ import annotations

from .attention.layout import TokenLayout
from .attention.plan import AttentionPlan
from .methods import SlidingWindow, SpectralFusion, UltraViCo, check_methods


def build_plan(layout: TokenLayout, methods) -> AttentionPlan:
    """The plan for one self-attention of `layout` under `methods` (UltraViCo, SpectralFusion,
    SlidingWindow; other methods act elsewhere).

    Settings that cannot change the result at this layout (alpha = 1, a guard or window past the
    video's end) are dropped, so neutral settings give the stock plan and the stock kernel.
    """
    decay = next((m for m in methods if isinstance(m, UltraViCo)), None)
    fusion = next((m for m in methods if isinstance(m, SpectralFusion)), None)
    sliding = next((m for m in methods if isinstance(m, SlidingWindow)), None)
    check_methods(methods)
    region = decay.decay_region(layout) if decay else None
    windows = (fusion or sliding).windows_for(layout) if (fusion or sliding) else (None,)
    return AttentionPlan(
        layout=layout,
        windows=windows,
        base_mask=decay.mask_mod(layout) if decay else None,
        score_region=region,
        region_score_mod=decay.score_mod(layout) if region is not None else None,
        center_keys=bool(decay and decay.center_keys and region is not None),
        decayed_branches=1 if decay and decay.branches == "global" and len(windows) > 1 else None,
        bands=fusion.bands_for(layout, windows) if len(windows) > 1 else None,
        anchor_frames=fusion.anchor_frames_for(layout) if fusion and len(windows) > 1 else 0,
        key=(layout, decay, fusion, sliding, windows),
    )
