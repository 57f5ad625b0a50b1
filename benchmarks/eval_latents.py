"""`vidlong eval` cells generated where no ffmpeg is (the lent GPU machine), measured here as the eval's own.

`make` generates the cells (as `vidlong eval` would, `vidlong.eval.runner.cell_request`) and saves their
latents (float16) and settings, one file per ratio and seed; `place` decodes them with the model's VAE
(`decode_uint8(fast=True)`: the streaming decoder's CPU fast paths) and writes each cell's mp4 and ``.json`` where `vidlong eval` looks for saved videos, so that the same
`vidlong eval` command then reads them back through the mp4 and measures them (streams are not covered).

    # on the GPU machine
    python benchmarks/eval_latents.py make --methods fifo --ratios 1,2,4,8,16 --seeds 2 --device cuda --out $OUT/latents
    # here
    python benchmarks/eval_latents.py place latents/*.pt --out benchmarks/quality_published
    vidlong eval --methods fifo --ratios 1,2,4,8,16 --seeds 2 --out benchmarks/quality_published

`--grid timeline` makes the timeline grid's cells (`vidlong eval --grid timeline`). `make --score`
instead decodes each video on the GPU machine and scores it there with the eval's own measures, without
the mp4 round trip (for lengths whose decode here would take hours): one ``.json`` of rows per ratio and seed.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from vidlong import load_pipeline
from vidlong.eval.runner import DEFAULT_PROMPTS, Cell, cell_info, cell_request, measure, video_path
from vidlong.eval.timeline import builtin_timelines
from vidlong.files import atomic_write_text, weights_fingerprint
from vidlong.generate import generate
from vidlong.models import resolve_model, weight_folders
from vidlong.video_io import write_video


def weights_of(model: str) -> str:
    """The weights fingerprint `vidlong eval` files the model's videos under."""
    return "+".join(weights_fingerprint(f) for f in weight_folders(resolve_model(model)))


def make(args) -> None:
    pipe = load_pipeline(args.model, device=args.device)
    pipe.set_progress_bar_config(disable=True)
    spec = pipe.spec
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for ratio in (float(r) for r in args.ratios.split(",")):
        prompts = builtin_timelines(spec, ratio) if args.grid == "timeline" else DEFAULT_PROMPTS[:args.prompts]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            cells = []
            for method in args.methods.split(","):
                for prompt in prompts:
                    cell = Cell(method, ratio, prompt, seed)
                    result = generate(pipe, cell_request(cell, spec, args.steps, args.guidance, "method"))
                    entry = dict(cell=vars(cell), steps=result.settings["steps"], guidance=result.settings["guidance"],
                                 info=cell_info(result.settings), methods=result.settings["methods"])
                    if args.score:
                        entry.update(model=spec.name, weights=weights_of(args.model), device=str(pipe.device),
                                     **measure(pipe.decode_uint8(result.latents.to(pipe.device), fast=True), prompt, spec, True))
                    else:
                        entry["latents"] = result.latents.half()
                    cells.append(entry)
                    print(f"{method} {ratio:g}x seed {seed} {prompt[:40]}: {result.settings['seconds']:.1f} s", flush=True)
            name = f"{'rows' if args.score else 'latents'}-{'timeline-' if args.grid == 'timeline' else ''}{ratio:g}x-seed{seed}"
            if args.score:
                atomic_write_text(out / f"{name}.json", json.dumps(cells, indent=1, default=float) + "\n")
            else:
                torch.save(dict(model=spec.name, weights=weights_of(args.model), device=str(pipe.device), cells=cells),
                           out / f"{name}.pt")


def place(args) -> None:
    pipe = load_pipeline(args.model, device="cpu")
    spec, weights = pipe.spec, weights_of(args.model)
    for file in args.files:
        saved = torch.load(file)
        if (saved["model"], saved["weights"]) != (spec.name, weights):
            raise SystemExit(f"{file} holds {saved['model']} {saved['weights']}, not this model's {spec.name} {weights}")
        for entry in saved["cells"]:
            cell = Cell(**entry["cell"])
            path = video_path(Path(args.out), spec, weights, cell, entry["steps"], entry["guidance"], "method")
            if path.with_suffix(".json").exists():  # placed by an earlier run
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            write_video(path, pipe.decode_uint8(entry["latents"].float(), fast=True), fps=spec.fps)
            atomic_write_text(path.with_suffix(".json"), json.dumps(dict(entry["info"], device=saved["device"]), indent=2) + "\n")
            print(path, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    m = sub.add_parser("make")
    m.add_argument("--methods", required=True)
    m.add_argument("--ratios", required=True)
    m.add_argument("--seeds", type=int, default=2)
    m.add_argument("--first-seed", type=int, default=0)
    m.add_argument("--prompts", type=int, default=len(DEFAULT_PROMPTS), help="the first N of the eval's prompts")
    m.add_argument("--steps", type=int, default=None)
    m.add_argument("--guidance", type=float, default=None)
    m.add_argument("--device", default="cuda")
    m.add_argument("--grid", choices=("lengths", "timeline"), default="lengths")
    m.add_argument("--score", action="store_true", help="decode and score here, no mp4 (rows, not latents)")
    m.add_argument("--out", required=True)
    p = sub.add_parser("place")
    p.add_argument("files", nargs="+")
    p.add_argument("--out", required=True)
    for verb in (m, p):
        verb.add_argument("--model", default="default")
    args = parser.parse_args()
    make(args) if args.verb == "make" else place(args)


if __name__ == "__main__":
    main()
