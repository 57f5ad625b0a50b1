"""`vidlong eval`: the long-video quality table (wired into `vidlong.cli.build_parser` by `add_eval_parser`)."""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_eval_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `eval` subcommand to `subparsers` (the result of ``parser.add_subparsers()``)."""
    from ..files import user_path
    from ..method_names import EVAL_DEFAULT_METHODS as DEFAULT_METHODS, EVAL_METHODS

    p = subparsers.add_parser(
        "eval", help="measure methods at several lengths: results.csv, a Markdown table and plots",
        description="Generate every (method, ratio, prompt, seed) video, measure it with video-only metrics (and "
                    "the shapes-world checker for shapes prompts), and write DIR/results.csv, DIR/results.md and "
                    "DIR/<metric>.png. Videos are kept in DIR/videos/; a rerun skips cells already measured.")
    p.add_argument("--model", default="default",
                   help="local diffusers pipeline folder (Wan, SkyReels-V2, LTX-Video, LTX-2, CogVideoX, HunyuanVideo 1.0 "
                        "and 1.5, Mochi, Kandinsky 5.0 Video, Kandinsky 6, Motif-Video, EasyAnimate, Allegro, AnyFlow, AnyFlow "
                        "FAR, Helios, FramePack, Cosmos-Predict2.5, Cosmos-Predict2 Video2World, Cosmos 1.0, Cosmos 3, Sana-Video, "
                        "Sana-WM, Latte, ConsisID, ChronoEdit), or an embedded model: default (the default), default-causal, "
                        "default-distilled")
    p.add_argument("--grid", default="lengths", choices=list(DEFAULT_METHODS),
                   help="lengths: the prompts at every ratio; timeline: prompt timelines that switch prompt in the middle "
                        "of the video, each segment scored against its own prompt")
    p.add_argument("--prompts", type=user_path, default=None, help="text file, one prompt per line (default: 8 built-in shapes-world "
                                                   "prompts; with --grid timeline, 4 built-in two-prompt timelines)")
    p.add_argument("--ratios", default="1,2,4,8,16", help="lengths as multiples of the native window, comma-separated")
    p.add_argument("--methods", default=None,
                   help=f"comma-separated, from: {', '.join(EVAL_METHODS)} (default: {','.join(DEFAULT_METHODS['lengths'])}; "
                        f"with --grid timeline {','.join(DEFAULT_METHODS['timeline'])})")
    p.add_argument("--seeds", type=int, default=2, help="seeds per prompt (first-seed .. first-seed + N-1)")
    p.add_argument("--first-seed", type=int, default=0, help="the first seed (choose settings on seeds no reported number uses)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--partition-guidance", default=None, metavar="G1,G2,G3",
                   help="the fifo methods' classifier-free guidance per partition of the queue, cleanest first (as "
                        "vidlong generate --method fifo --partition-guidance takes it; default: --guidance at every level)")
    p.add_argument("--noise-correlation", type=float, default=0.0, metavar="C",
                   help="the fifo methods' DiagonalDenoising noise_correlation: each frame joining the queue starts from "
                        "noise correlated by C (0 <= C < 1) with the one before it (default 0)")
    p.add_argument("--noise", default="method", choices=["method", "plain"],
                   help="method: each method's own initial noise (FreeLong++ and its combinations SpecMix, the rest "
                        "plain, UltraViCo as published; a +specmix / +plain / +freenoise suffix on a method forces it); plain: all plain")
    p.add_argument("--stream-chunk", type=int, default=None, help="latent frames per streamed chunk (default: native / 3)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--out", type=user_path, required=True,
                   help="output folder (created; reused to resume cells of the same weights and settings: an edited scheduler "
                        "config or vidlong.yaml is not seen, give another folder; one run at a time)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-plots", action="store_true", help="draw no plots: results.csv and results.md alone (quicker)")
    from ..cli import add_lora_options

    add_lora_options(p)
    p.set_defaults(run=run_eval_command)
    return p


def run_eval_command(args) -> int:
    from ..cli import lora_files
    from ..methods import partition_guidance_of
    from .runner import EvalConfig, parse_methods, parse_ratios, read_prompts, run_eval

    config = EvalConfig(
        model=args.model, out=args.out, prompts=read_prompts(args.prompts) if args.prompts else None, grid=args.grid,
        ratios=parse_ratios(args.ratios), methods=None if args.methods is None else parse_methods(args.methods),
        seeds=args.seeds, first_seed=args.first_seed, steps=args.steps,
        guidance=args.guidance, partition_guidance=partition_guidance_of(args.partition_guidance),
        noise_correlation=args.noise_correlation, noise=args.noise,
        stream_chunk=args.stream_chunk, device=args.device, loras=lora_files(args), plots=not args.no_plots,
        command=" ".join(["vidlong", "eval", *map(shlex.quote, sys.argv[2:] if sys.argv[1:2] == ["eval"] else sys.argv[1:])]),
    )
    outcome = run_eval(config, progress=not args.no_progress)
    out = Path(args.out)
    print(f"{len(outcome.rows)} cells in this run's table {out / 'results.md'} ({outcome.generated} generated, "
          f"{outcome.from_video} read from saved videos, {outcome.skipped} already measured); every run's rows in this "
          f"folder: {out / 'results.csv'}")
    return 0
