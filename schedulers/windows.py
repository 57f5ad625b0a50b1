"""Which temporal windows the FreeLong++ branches use at a given length."""
from __future__ import annotations

from typing import Optional, Sequence


def branch_windows(frames: int, native_frames: int, multiples: Sequence[float]) -> tuple[Optional[int], ...]:
    """Windows of the fusion branches, global first, in token frames.

    Args:
        frames: F, token frames of this forward.
        native_frames: L, the model's native window in token frames.
        multiples: local windows as multiples of L, e.g. ``(2, 1)`` for {F, 2L, L}.

    Returns:
        ``(None, w_1, w_2, ...)`` with ``None`` the global branch; windows that would span the whole
        video (``w >= F``) or repeat a wider one are dropped, so at native length only the global
        branch is left.
    """
    windows: list[Optional[int]] = [None]
    for multiple in sorted(multiples, reverse=True):
        if multiple <= 0:
            raise ValueError(f"window multiples must be > 0, got {multiple}")
        window = max(1, round(multiple * native_frames))
        if window < frames and window not in windows:
            windows.append(window)
    return tuple(windows)
