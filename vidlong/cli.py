"""`vidlong` command line: thin layers over the Python API; each option maps to one config field."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .errors import VidlongError


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="generate one long video into an mp4 file",
                       description="Generate a video many times the model's native length.")
    p.add_argument("--prompt", required=True, help="text prompt")
    p.add_argument("--negative-prompt", default="", help="negative prompt")
    p.add_argument("--model", default=None, help="local diffusers Wan pipeline folder (default: the embedded model)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--ratio", type=float, default=None, help="length as a multiple of the native window (default 1, or the preset's)")
    length.add_argument("--frames", type=int, default=None, help="pixel frames; Wan needs 4k+1 (e.g. 81, 161, 321)")
    p.add_argument("--method", default="none", help="none | ultravico | freelong | both")
    p.add_argument("--preset", default=None, help="method settings for a length ratio: 2x | 3x | 4x | 8x")
    p.add_argument("--noise", default=None, choices=["plain", "specmix"], help="initial noise (default: the preset's, else plain)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=None, help="pixels (default: the model's native height)")
    p.add_argument("--width", type=int, default=None, help="pixels (default: the model's native width)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--out", required=True, help="output .mp4 file; settings go to a .json beside it")
    p.set_defaults(run=_run_generate)


def _run_generate(args) -> int:
    from .files import atomic_write_text
    from .generate import GenerateRequest, generate
    from .methods import load_preset, methods_for
    from .pipeline import load_pipeline
    from .video_io import check_output_path, write_video

    out = check_output_path(Path(args.out))
    ratio = args.ratio if args.ratio is not None else (load_preset(args.preset)["ratio"] if args.preset else 1.0)
    request = GenerateRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, ratio=ratio, frames=args.frames,
        method=args.method, preset=args.preset, noise=args.noise, steps=args.steps, guidance=args.guidance,
        seed=args.seed, height=args.height, width=args.width,
    )
    methods_for(request.method, request.preset)  # reject a bad method or preset before loading a model
    pipe = load_pipeline(args.model, device=args.device)
    result = generate(pipe, request)
    write_video(out, result.frames, fps=pipe.spec.fps)
    settings = dict(result.settings, model_path=str(args.model or "embedded default"), out=str(out))
    atomic_write_text(out.with_suffix(".json"), json.dumps(settings, indent=2) + "\n")
    print(f"wrote {out} ({result.frames.shape[0]} frames, {result.frames.shape[2]}x{result.frames.shape[1]}, "
          f"{settings['ratio']:.2g}x native, {settings['seconds']:.1f} s)")
    return 0


def _add_stream(sub) -> None:
    p = sub.add_parser("stream", help="stream an unbounded video chunk by chunk into an mp4",
                       description="Stream a video of any length: each chunk attends to sink frames and a rolling "
                                   "window of recent frames, so memory and time per chunk stay flat. The mp4 grows as "
                                   "chunks arrive; Ctrl-C leaves a playable file with every finished chunk.")
    p.add_argument("--prompt", required=True, help='a prompt, or a schedule "0:a red ball; 20:a blue ball" (chunk: prompt)')
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--model", default=None, help="local diffusers Wan pipeline folder (default: the embedded model)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="video length in seconds (0: until interrupted)")
    length.add_argument("--chunks", type=int, default=None, help="number of chunks")
    length.add_argument("--forever", action="store_true", help="stream until interrupted (Ctrl-C)")
    p.add_argument("--chunk", type=int, default=3, help="latent frames per chunk (default 3)")
    p.add_argument("--sinks", type=int, default=None, help="sink frames kept forever (default: one chunk)")
    p.add_argument("--window", type=int, default=None, help="recent frames kept in the cache (default: native - sinks - chunk)")
    p.add_argument("--no-recache", action="store_true", help="keep cached K/V on a prompt switch instead of re-encoding them")
    p.add_argument("--steps", type=int, default=None, help="denoising steps per chunk (default: the model's)")
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--height", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--out", required=True, help="output .mp4 file, appended as chunks arrive")
    p.set_defaults(run=_run_stream)


def _run_stream(args) -> int:
    from tqdm import tqdm

    from .methods import Streaming
    from .pipeline import load_pipeline
    from .schedulers.stream import parse_prompt_schedule
    from .video_io import StreamingVideoWriter, check_output_path

    out = check_output_path(Path(args.out))
    parse_prompt_schedule(args.prompt)  # reject a bad schedule before loading a model
    if args.chunks is not None and args.chunks < 1:
        raise VidlongError(f"--chunks must be >= 1, got {args.chunks}")
    streaming = Streaming(chunk=args.chunk, sinks=args.sinks, window=args.window,
                          recache_on_prompt_switch=not args.no_recache, steps=args.steps)
    pipe = load_pipeline(args.model, device=args.device)
    forever = args.forever or args.seconds == 0
    stream = pipe.stream(args.prompt, streaming=streaming, chunks=None if forever else args.chunks,
                         seconds=None if forever else (args.seconds or (None if args.chunks else 10.0)),
                         guidance=args.guidance, seed=args.seed, height=args.height, width=args.width,
                         negative_prompt=args.negative_prompt)
    fps = pipe.spec.fps
    with StreamingVideoWriter(out, fps=fps) as writer, tqdm(total=stream.chunks, unit="chunk", dynamic_ncols=True) as bar:
        try:
            for chunk in stream:
                writer.append(chunk.frames)
                bar.update()
                bar.set_postfix(frames=writer.frames_written, fps=f"{len(chunk.frames) / chunk.seconds:.1f}")
        except KeyboardInterrupt:
            bar.close()
            print(f"vidlong: interrupted; {out} holds {writer.frames_written} frames", file=sys.stderr)
            return 130
    print(f"wrote {out} ({writer.frames_written} frames, {writer.frames_written / fps:.1f} s at {fps} fps)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vidlong", description="Long and streaming video from diffusers video transformers, training-free.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_stream(sub)
    from .apps.cli import add_app_parser

    add_app_parser(sub)
    from .eval.cli import add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point: user errors print one line and exit 2; Ctrl-C exits 130; no tracebacks unless VIDLONG_DEBUG=1."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except VidlongError as err:
        print(f"vidlong: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidlong: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
        if os.environ.get("VIDLONG_DEBUG"):
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        print(f"vidlong: error: {type(err).__name__}: {first} (set VIDLONG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
