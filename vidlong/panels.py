"""Side-by-side videos: one labelled panel per video, played in lockstep (the app's Compare, the
README's GIF)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: pixels of the caption bar above each panel, and of the gap between panels
CAPTION, GAP = 16, 4


def labelled(frames: np.ndarray, label: str, bar: int = CAPTION) -> np.ndarray:
    """Frames uint8 ``[T, H, W, 3]`` with a black caption bar of `bar` pixels on top: ``[T, H + bar, W, 3]``."""
    t, h, w, _ = frames.shape
    caption = Image.new("RGB", (w, bar))
    ImageDraw.Draw(caption).text((4, 2), label, fill=(255, 255, 255))
    top = np.broadcast_to(np.asarray(caption), (t, bar, w, 3))
    return np.concatenate([top, frames], axis=1)


def side_by_side(videos: dict[str, np.ndarray], gap: int = GAP) -> np.ndarray:
    """One video of labelled panels left to right (label -> uint8 ``[T, H, W, 3]``, all of one height),
    cut to the shortest: ``[T_min, H + CAPTION, sum(W) + gap·(n-1), 3]``, frame t of every panel side by side."""
    if not videos:
        raise ValueError("side_by_side needs at least one video")
    panels = [labelled(frames, label) for label, frames in videos.items()]
    if len({p.shape[1] for p in panels}) > 1:
        raise ValueError(f"panels differ in height: {[p.shape[1] for p in panels]}")
    n = min(len(p) for p in panels)
    spacer = np.zeros((n, panels[0].shape[1], gap, 3), np.uint8)
    parts = [part for p in panels for part in (spacer, p[:n])][1:]
    return np.concatenate(parts, axis=2)
