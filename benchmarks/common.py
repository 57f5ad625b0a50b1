"""Timing and table helpers shared by the benchmark scripts."""
from __future__ import annotations

import argparse
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


def add_attention_shape_arguments(parser: argparse.ArgumentParser) -> None:
    """The attention benchmarks' shape options (Wan2.1-1.3B by default) and ``--small``; call
    `small_shapes` on the parsed arguments."""
    parser.add_argument("--frames", type=int, nargs="+", default=[21, 42, 84], help="latent frames")
    parser.add_argument("--native", type=int, default=21, help="native latent frames")
    parser.add_argument("--grid", type=int, nargs=2, default=[30, 52], help="token rows, columns per frame")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--small", action="store_true", help="tiny shapes for a quick run")


def small_shapes(args: argparse.Namespace) -> None:
    """With ``--small``: 4 and 8 latent frames of 4x4 tokens, native 4, 2 heads x 32, 2 repeats."""
    if args.small:
        args.frames, args.native, args.grid, args.heads, args.head_dim, args.repeat = [4, 8], 4, [4, 4], 2, 32, 2


def add_prompt_grid_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the benchmarks that run `vidlong eval`'s prompts x seeds, in shards that merge: --seeds,
    --prompts, --steps, --device, --shard, --merge, --out (their other axes are theirs to add)."""
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=8, help="how many of vidlong eval's prompts")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--shard", default="0/1", help="i/n: only every n-th prompt from the i-th (parallel processes)")
    parser.add_argument("--merge", nargs="+", default=None, help="JSON files of earlier runs: print their rows' table")
    parser.add_argument("--out", default=None, help="write the rows and means as JSON here")


def merged_rows(paths) -> list[dict]:
    """The rows of the JSON files `--merge` names, one list."""
    import json
    from pathlib import Path

    return [row for path in paths for row in json.loads(Path(path).read_text())["rows"]]


def shard_of(parser: argparse.ArgumentParser, shard: str) -> tuple[int, int]:
    """(i, n) of ``--shard i/n``, or the parser's error."""
    index, count = (int(part) for part in shard.split("/"))
    if not 0 <= index < count:
        parser.error(f"--shard i/n needs 0 <= i < n, got {shard}")
    return index, count


def print_cell_means(records: list[dict], axes: tuple, keys: tuple, headers: list, out=None) -> None:
    """The mean of each of `keys` (NaN left out) over the records of each cell, one value per name in `axes` (numeric
    axes in rising order, the others as first met; a ratio shown as "2x"), as a Markdown table whose value columns are
    `headers`; with `out`, the records and the means as JSON there, with the command."""
    import json
    import sys
    from pathlib import Path

    import numpy as np

    def shown(axis, value):
        return f"{value:g}x" if axis == "ratio" else f"{value:g}" if isinstance(value, float) else str(value)

    cells = sorted(dict.fromkeys(tuple(r[axis] for axis in axes) for r in records),
                   key=lambda cell: tuple(value for value in cell if not isinstance(value, str)))
    rows, means = [], {}
    for cell in cells:
        members = [r for r in records if tuple(r[axis] for axis in axes) == cell]
        labels = [shown(axis, value) for axis, value in zip(axes, cell)]
        means[" ".join(labels)] = mean = {k: float(np.nanmean([r[k] for r in members])) for k in keys}
        rows.append([*labels, len(members), *(f"{mean[k]:.3f}" for k in keys)])
    print_table([*axes, "videos", *headers], rows)
    if out:
        Path(out).write_text(json.dumps(dict(rows=records, means=means, command=" ".join(sys.argv)), indent=1) + "\n")
