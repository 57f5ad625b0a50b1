"""Diagonal denoising (``method="fifo"``, `vidlong.DiagonalDenoising`) on the embedded default model at
other settings than the method's (partitions, the sink's frames, guidance), as a measurement for issue 18; scored as
`vidlong eval` scores a cell (through an mp4, `vidlong.eval.runner.measure`; ``--no-mp4`` where no
ffmpeg is). The shipped settings run through `vidlong eval --methods fifo` itself.

    cd benchmarks && python fifo.py --ratio 4 --seeds 20 21 --partitions 2 --out quality_fifo/fifo_4x.json \
        --pair quality_paired/results.csv

The queue starts from the model's own native video of the prompt (`generate`, 20 steps, its guidance:
the eval's `direct` 1x cell), as the method does (`vidlong.diagonal`). The session-31 prototype this
replaced also had ``--start noise|window`` (queue starts measured worse, RESULTS.md; at commit 310e47f).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

import vidlong.diagonal
from vidlong import DiagonalDenoising, load_pipeline
from vidlong.diagonal import diagonal_latents
from vidlong.eval.runner import DEFAULT_PROMPTS, measure
from vidlong.eval.timeline import builtin_timelines, measure_timeline
from vidlong.generate import GenerateRequest, generate
from vidlong.models import pixel_frames
from vidlong.schedulers.bands import gaussian_response
from vidlong.video_io import read_video, write_video


def low_pass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """`x` ``[1, C, 1, h, w]`` through FreeLong++'s Gaussian low-pass over its spatial frequencies
    (`schedulers.bands.gaussian_response` per axis; cutoff as a fraction of the Nyquist frequency)."""
    h, w = x.shape[-2:]
    gain = gaussian_response(h, cutoff)[:, None] * gaussian_response(w, cutoff)[None, :]
    return torch.fft.ifft2(torch.fft.fft2(x.float()) * gain.to(x.device, torch.float32)).real


@contextlib.contextmanager
def queue_variant(pipe, seed: int, shift=None, churn=0.0, churn_above=0.0, coherent_tail=None):
    """Prototype queue variants around the shipped sampler (issue 18, session 37), all off by default:
    `shift`: the queue's levels from the scheduler at this flow shift (the native video keeps the model's);
    `churn`: a frame above level `churn_above` takes a stochastic step (its noise estimate mixed with
    fresh noise, weight `churn`, renoised to the next level, as DDIM's eta does for flow matching);
    `coherent_tail`: a new tail frame is the low frequencies (cutoff, `low_pass`) of the frame in front
    of it plus the high frequencies of fresh noise, rescaled to the fresh noise's standard deviation
    (after Ouroboros-Diffusion's coherent tail sampling, as this project reads it). (Session 38's correlated
    noise, prototyped here first, is `DiagonalDenoising.noise_correlation` now: ``--noise-correlation``.)"""
    original_frames, original_scheduler = vidlong.diagonal.diagonal_frames, pipe.fresh_scheduler
    generator = torch.Generator().manual_seed(int(seed) + 2)

    def shifted_scheduler(*args, **kwargs):
        scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config, flow_shift=shift)
        scheduler.set_timesteps(*args, device=pipe.device, **kwargs)
        return scheduler

    def frames(queue, sigmas, window, velocity, new_noise, sink=None, lookahead=False):
        state = {}

        def varied(z, level, index):
            v = velocity(z, level, index).float()
            at = torch.searchsorted(sigmas, level.cpu())
            after = sigmas[(at - 1).clamp(min=0)].to(v).view(1, 1, -1, 1, 1)
            now = level.to(v).view(1, 1, -1, 1, 1)
            if churn:
                stochastic = (level.cpu() > churn_above).to(v.device).view(1, 1, -1, 1, 1)
                x0, eps = z - now * v, z + (1 - now) * v
                fresh = torch.randn(z.shape, generator=generator).to(z)
                mixed = (1 - churn ** 2) ** 0.5 * eps + churn * fresh
                step = ((1 - after) * x0 + after * mixed - z) / (after - now).clamp(max=-1e-6)
                v = torch.where(stochastic, step, v)
            if float(level[-1]) == float(sigmas[-1]):  # the window with the tail: the tail frame after its step
                state["tail"] = z[:, :, -1:] + (after - now)[:, :, -1:] * v[:, :, -1:]
            return v

        def tail():
            noise = new_noise()
            if coherent_tail is None or "tail" not in state:
                return noise
            low = low_pass(state["tail"].to(noise), coherent_tail)
            frame = low + (noise - low_pass(noise, coherent_tail))
            return frame * (noise.std() / frame.std())

        return original_frames(queue, sigmas, window, varied if (churn or coherent_tail is not None) else velocity, tail,
                               sink=sink, lookahead=lookahead)

    vidlong.diagonal.diagonal_frames = frames
    if shift is not None:
        pipe.fresh_scheduler = shifted_scheduler
    try:
        yield
    finally:
        vidlong.diagonal.diagonal_frames = original_frames
        pipe.fresh_scheduler = original_scheduler


def fifo_latents(pipe, prompt: str, seed: int, latent_frames: int, config: DiagonalDenoising, guidance: float,
                 queue_pipe=None, **variant):
    """Normalised latents ``[1, C, latent_frames, h, w]`` of `prompt` by diagonal denoising with `config`
    at `guidance` (the native video's and the queue's), with the prototype `variant` (`queue_variant`); the native
    video by `pipe`, the queue by `queue_pipe` (default: `pipe`; a model of the same latent space)."""
    first = generate(pipe, GenerateRequest(prompt=prompt, frames=pipe.spec.native_pixel_frames, seed=seed, guidance=guidance)).latents
    queue_pipe = queue_pipe or pipe
    with queue_variant(queue_pipe, seed, **variant):
        return diagonal_latents(queue_pipe, first, prompt, latent_frames, config, guidances=(guidance,) * 2, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--prompts", type=int, default=len(DEFAULT_PROMPTS))
    parser.add_argument("--prompt", type=int, default=None, help="the built-in prompt of this index alone (a process per prompt)")
    parser.add_argument("--model", default="default", help="an embedded model's name or a model folder (e.g. a LoRA folder)")
    parser.add_argument("--queue-model", default=None, help="the model that denoises the queue (default: --model, which makes "
                        "the native video the queue starts from)")
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--sink", type=int, default=1, help="sink frames (latent; 0: none)")
    parser.add_argument("--no-sink", dest="sink", action="store_const", const=0)
    parser.add_argument("--lookahead", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--guidance", type=float, default=None, help="the native video's and the queue's (default: the model's)")
    parser.add_argument("--partition-guidance", type=float, nargs="+", default=None,
                        help="the queue's guidance per partition, cleanest first (DiagonalDenoising.guidance_by_partition)")
    parser.add_argument("--queue-shift", type=float, default=None, help="prototype: the queue's flow shift (queue_variant)")
    parser.add_argument("--churn", type=float, default=0.0, help="prototype: stochastic steps' fresh-noise weight (queue_variant)")
    parser.add_argument("--churn-above", type=float, default=0.0, help="prototype: levels above which steps are stochastic")
    parser.add_argument("--coherent-tail", type=float, default=None, help="prototype: the tail's low-pass cutoff (queue_variant)")
    parser.add_argument("--noise-correlation", type=float, default=0.0, help="DiagonalDenoising noise_correlation")
    parser.add_argument("--timeline", action="store_true",
                        help="the timeline grid's prompts instead (vidlong eval --grid timeline: two prompts, the switch in the "
                             "middle), made by generate --method fifo and scored per segment")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mp4", action=argparse.BooleanOptionalAction, default=True,
                        help="score the frames read back from an mp4, as vidlong eval does (--no-mp4: where no ffmpeg is)")
    parser.add_argument("--pair", default=None, help="a stored eval results.csv to pair with (prints the paired difference per method)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.queue_model and args.timeline:
        parser.error("--queue-model takes one prompt's queue; the timeline grid runs vidlong's own fifo (one model)")
    config = DiagonalDenoising(args.partitions, args.sink, args.lookahead,
                               guidance_by_partition=None if args.partition_guidance is None else tuple(args.partition_guidance),
                               noise_correlation=args.noise_correlation)
    pipe = load_pipeline(args.model, device=args.device)
    queue_pipe = None if args.queue_model is None else load_pipeline(args.queue_model, device=args.device)
    spec = pipe.spec
    config.window(spec.native_frames)  # a sink that leaves no queue frame: refused before any video is made
    n_latent = max(1, round(args.ratio * spec.native_frames))
    rows = []
    guidance = spec.guidance_scale if args.guidance is None else args.guidance
    prompts = builtin_timelines(spec, args.ratio) if args.timeline else DEFAULT_PROMPTS[:args.prompts]
    prompts = prompts if args.prompt is None else [prompts[args.prompt]]
    for prompt in prompts:
        for seed in args.seeds:
            began = time.perf_counter()
            if args.timeline:
                frames = generate(pipe, GenerateRequest(prompt=prompt, frames=pixel_frames(n_latent, spec.temporal_ratio),
                                                        method="fifo", seed=seed, guidance=guidance), diagonal=config).frames
            else:
                variant = dict(shift=args.queue_shift, churn=args.churn, churn_above=args.churn_above, coherent_tail=args.coherent_tail)
                frames = pipe.decode_uint8(fifo_latents(pipe, prompt, seed, n_latent, config, guidance, queue_pipe,
                                                        **variant).to(pipe.vae.dtype))
            seconds = time.perf_counter() - began
            if args.mp4:
                with tempfile.TemporaryDirectory() as tmp:
                    write_video(Path(tmp) / "v.mp4", frames, fps=spec.fps)
                    frames, _ = read_video(Path(tmp) / "v.mp4")
            row = dict(method="fifo", model=args.model, queue_model=args.queue_model, partitions=args.partitions, sink=args.sink,
                       lookahead=args.lookahead, guidance=args.guidance,
                       partition_guidance=args.partition_guidance, queue_shift=args.queue_shift, churn=args.churn,
                       churn_above=args.churn_above, coherent_tail=args.coherent_tail,
                       noise_correlation=args.noise_correlation, mp4=args.mp4, ratio=args.ratio, prompt=prompt,
                       seed=seed, latent_frames=n_latent, seconds=round(seconds, 2),
                       **(measure_timeline(frames, prompt, spec) if args.timeline else measure(frames, prompt, spec, True)))
            rows.append(row)
            if args.timeline:
                print(f"{prompt[:60]:60s} seed {seed}: own objects {row['own_objects']:.3f}, worst segment "
                      f"{row['worst_segment_own_objects']:.3f}, {seconds:.1f} s", flush=True)
            else:
                print(f"{prompt[:40]:40s} seed {seed}: all present {row['shapes_frac_frames_all_present']:.3f}, "
                      f"vanish {row['shapes_vanish_events']}, repetition {row['repetition']:.3f}, {seconds:.1f} s", flush=True)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    if args.timeline:
        print(f"mean own objects {statistics.mean(r['own_objects'] for r in rows):.3f}; worst segment "
              f"{statistics.mean(r['worst_segment_own_objects'] for r in rows):.3f} ({len(rows)} videos)")
        return
    present = [r["shapes_frac_frames_all_present"] for r in rows]
    print(f"mean all present {statistics.mean(present):.3f}; vanish {statistics.mean(r['shapes_vanish_events'] for r in rows):.2f}; "
          f"repetition {statistics.mean(r['repetition'] for r in rows):.3f}; flicker "
          f"{statistics.mean(r['temporal_flicker'] for r in rows):.3f} ({len(rows)} videos)")
    if args.pair:
        stored = list(csv.DictReader(open(args.pair)))
        for method in sorted({r["method"] for r in stored}):
            theirs = {(r["prompt"], int(r["seed"])): float(r["shapes_frac_frames_all_present"])
                      for r in stored if r["method"] == method and float(r["ratio"]) == args.ratio}
            diffs = [r["shapes_frac_frames_all_present"] - theirs[(r["prompt"], r["seed"])] for r in rows
                     if (r["prompt"], r["seed"]) in theirs]
            if len(diffs) > 1:
                print(f"paired with {method} ({len(diffs)} videos): {statistics.mean(diffs):+.3f} ± "
                      f"{statistics.stdev(diffs) / len(diffs) ** 0.5:.3f}")


if __name__ == "__main__":
    main()
