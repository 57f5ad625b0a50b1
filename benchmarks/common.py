"""Timing and table helpers shared by the benchmark scripts."""
from __future__ import annotations

import statistics
import time

import torch


def time_ms(fn, warmup: int = 3, repeat: int = 10) -> float:
    """Median wall time of `fn()` in milliseconds (CUDA-synchronised on GPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def print_table(header: list[str], rows: list[list]) -> None:
    """A Markdown table on stdout."""
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(f"{c:.3g}" if isinstance(c, float) else str(c) for c in row) + " |")
