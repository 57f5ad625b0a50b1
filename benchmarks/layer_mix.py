"""Per-layer method choice on the embedded default model (issue 18's "per-layer choices"): one method in
most self-attention layers and another in a few, scored as `vidlong eval` scores a cell.

    cd benchmarks && python layer_mix.py --base window --mixed ultravico --layers 0 1 --ratio 4 --seeds 20 21 \
        --out quality_layers/window_ultravico01.json

Each cell is generated as `vidlong eval --model default` generates its `--base` cell (20 steps, the
model's guidance, plain noise, float32 on the CPU), except that the self-attentions of `--layers` run
`--mixed`'s plan (with its preset for the ratio, as the eval picks it); written to an mp4, read back and measured (`vidlong.eval.runner.measure`). With
`--layers` empty the cells are the eval's own `--base` cells, which checks that the rows pair with a
stored `vidlong eval` table (`--pair`: its results.csv; prints the paired difference).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
from pathlib import Path

from vidlong import load_pipeline
from vidlong.attention.adapters import adapter_for
from vidlong.eval.runner import DEFAULT_PROMPTS, Cell, generate_cell, measure, preset_for
from vidlong.methods import methods_for
from vidlong.plans import build_plan
from vidlong.video_io import read_video, write_video


class LayerState:
    """What a layer's processor reads instead of the shared `VidlongState`: the same, but the plan of
    `methods` for the layout of the forward in progress."""

    def __init__(self, shared, methods):
        self.shared, self.methods, self.plans = shared, tuple(methods), {}

    def __getattr__(self, name):
        return getattr(self.shared, name)

    @property
    def plan(self):
        layout = self.shared.plan.layout
        if layout.grid not in self.plans:
            self.plans[layout.grid] = build_plan(layout, self.methods, self.shared.temporal_shift)
        return self.plans[layout.grid]


def mix_layers(pipe, methods, layers):
    """Wrap ``pipe.apply`` so that after each apply the self-attentions of `layers` run `methods`."""
    apply = pipe.apply

    def mixed_apply(*args, **kwargs):
        apply(*args, **kwargs)
        for transformer in pipe.experts():
            attentions = adapter_for(transformer).self_attentions(transformer)  # in layer order
            for index in layers:
                processor = attentions[index].processor
                processor.state = LayerState(processor.state, methods)
    pipe.apply = mixed_apply


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="window")
    parser.add_argument("--mixed", default="ultravico")
    parser.add_argument("--layers", type=int, nargs="*", default=[0, 1])
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--prompts", type=int, default=len(DEFAULT_PROMPTS))
    parser.add_argument("--pair", default=None, help="a stored eval results.csv to pair with (its --base rows)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pipe = load_pipeline("default", device="cpu")
    if args.layers:
        mix_layers(pipe, methods_for(args.mixed, preset_for(args.mixed, args.ratio)), args.layers)
    rows = []
    for prompt in DEFAULT_PROMPTS[:args.prompts]:
        for seed in args.seeds:
            cell = Cell(method=args.base, ratio=args.ratio, prompt=prompt, seed=seed)
            frames, _, info = generate_cell(pipe, cell, pipe.spec, None, None, "preset", None)
            with tempfile.TemporaryDirectory() as tmp:
                write_video(Path(tmp) / "v.mp4", frames, fps=pipe.spec.fps)
                frames, _ = read_video(Path(tmp) / "v.mp4")
            row = dict(base=args.base, mixed=args.mixed, layers=args.layers, ratio=args.ratio, prompt=prompt, seed=seed,
                       **info, **measure(frames, prompt, pipe.spec, True))
            rows.append(row)
            print(f"{prompt[:40]:40s} seed {seed}: all present {row['shapes_frac_frames_all_present']:.3f}, "
                  f"vanish {row['shapes_vanish_events']}, repetition {row['repetition']:.3f}", flush=True)
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    present = [r["shapes_frac_frames_all_present"] for r in rows]
    print(f"mean all present {statistics.mean(present):.3f}; vanish {statistics.mean(r['shapes_vanish_events'] for r in rows):.2f}; "
          f"repetition {statistics.mean(r['repetition'] for r in rows):.3f} ({len(rows)} videos)")
    if args.pair:
        stored = {(r["prompt"], int(r["seed"])): float(r["shapes_frac_frames_all_present"])
                  for r in csv.DictReader(open(args.pair)) if r["method"] == args.base and float(r["ratio"]) == args.ratio}
        diffs = [r["shapes_frac_frames_all_present"] - stored[(r["prompt"], r["seed"])] for r in rows if (r["prompt"], r["seed"]) in stored]
        if diffs:
            err = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else float("nan")
            print(f"paired with {args.pair} ({len(diffs)} videos): {statistics.mean(diffs):+.3f} ± {err:.3f}")


if __name__ == "__main__":
    main()
