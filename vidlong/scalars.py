"""Numbers as vidlong's checks take them: Python's or NumPy's (`np.int64(33)`, `np.float32(0.9)`),
never a bool; `plain` turns an accepted one into the Python int or float that settings store (JSON-ready)."""
from __future__ import annotations

import math
import numbers


def is_whole(value) -> bool:
    """A whole number: a Python or NumPy integer, not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value) -> bool:
    """A finite real number: a Python or NumPy integer or float, not a bool."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond every float
        return False


def plain(value):
    """`value` as a Python int or float when it is a whole or real number of another type (NumPy's);
    anything else (bools, strings, None) unchanged, for the checks to judge."""
    if isinstance(value, (bool, int, float)) or not isinstance(value, numbers.Real):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)
