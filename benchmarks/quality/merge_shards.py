"""Merge the results.csv of several `vidlong eval` output folders (e.g. one per prompt, as
run_on_device.sh makes them) into one folder, one row per cell; then the same `vidlong eval` command
on that folder finds every cell measured and writes the table and plots (or makes what is missing).

    python benchmarks/quality/merge_shards.py OUT SHARD [SHARD ...]
"""
from __future__ import annotations

import argparse
from pathlib import Path

from vidlong.eval.runner import cell_key, read_results, write_results


def merge(out: Path, shards: list[Path]) -> int:
    rows, seen = [], set()
    for shard in shards:
        for row in read_results(shard / "results.csv"):
            if cell_key(row) not in seen:
                seen.add(cell_key(row))
                rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    write_results(out / "results.csv", rows)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("shards", type=Path, nargs="+")
    args = parser.parse_args()
    print(f"{merge(args.out, args.shards)} cells in {args.out / 'results.csv'}")


if __name__ == "__main__":
    main()
