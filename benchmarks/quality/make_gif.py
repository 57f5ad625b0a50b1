"""Side-by-side GIF of one prompt's videos from a `vidlong eval` folder, one panel per method (or of any mp4s).

    python benchmarks/quality/make_gif.py EVAL_DIR --ratio 4 --prompt "cyan ball" \
        --methods direct,ultravico,freelong,both,stream --out docs/methods_4x.gif
    python benchmarks/quality/make_gif.py --files source=in.mp4 none=none.mp4 both=both.mp4 --out docs/v2v_4x.gif

Reads the mp4s that `vidlong eval` saved (``EVAL_DIR/videos/<model>-<weights>/<method>-<ratio>x-<prompt>...``;
``--weights`` picks one fingerprint where results.csv holds several),
labels each panel with its method, keeps every ``--stride``-th frame and writes a looping GIF at the
videos' frame rate divided by the stride (so it plays in real time).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import imageio.v3 as iio

from vidlong.panels import side_by_side
from vidlong.video_io import read_video


def pick_videos(eval_dir: Path, ratio: float, prompt: str, methods: list[str], seed: int,
                weights: str | None = None) -> dict[str, Path]:
    """method -> mp4 path of the cell (ratio, first prompt containing `prompt`, seed) in results.csv,
    among the rows of `weights` (a fingerprint; None: the file must hold only one)."""
    rows = list(csv.DictReader(open(eval_dir / "results.csv")))
    fingerprints = sorted({row.get("weights", "") for row in rows})
    if weights is None and len(fingerprints) > 1:
        raise SystemExit(f"error: {eval_dir} holds videos of several weights ({', '.join(fingerprints)}); "
                         "pick one with --weights")
    rows = [row for row in rows if weights is None or row.get("weights", "") == weights]
    found = {}
    for row in rows:
        if (float(row["ratio"]) == ratio and prompt in row["prompt"] and int(row["seed"]) == seed
                and row["method"] in methods):
            found.setdefault(row["method"], eval_dir / row["video"])
    missing = [m for m in methods if m not in found]
    if missing:
        raise SystemExit(f"error: no {ratio:g}x video for {', '.join(missing)} with '{prompt}' in {eval_dir}")
    return {m: found[m] for m in methods}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("eval_dir", type=Path, nargs="?")
    p.add_argument("--files", nargs="+", default=None, metavar="LABEL=MP4", help="these videos instead of an eval folder's")
    p.add_argument("--ratio", type=float, default=4.0)
    p.add_argument("--prompt", help="a substring of the prompt (with EVAL_DIR)")
    p.add_argument("--methods", default="direct,ultravico,freelong,both,stream")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--weights", default=None, help="weights fingerprint (results.csv's `weights` column)")
    p.add_argument("--stride", type=int, default=2, help="keep every n-th frame")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.files:
        videos = {label: Path(path) for label, path in (item.split("=", 1) for item in a.files)}
    elif a.eval_dir is not None and a.prompt:
        videos = pick_videos(a.eval_dir, a.ratio, a.prompt, a.methods.split(","), a.seed, a.weights)
    else:
        p.error("give EVAL_DIR and --prompt, or --files")
    panels, fps = {}, 16.0
    for method, path in videos.items():
        frames, fps = read_video(path)
        panels[method] = frames[:: a.stride]
    strip = side_by_side(panels, gap=0)
    n = len(strip)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(a.out, strip, extension=".gif", duration=1000 * a.stride / fps, loop=0)
    print(f"wrote {a.out} ({n} frames, {strip.shape[2]}x{strip.shape[1]}, {a.out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    main()
