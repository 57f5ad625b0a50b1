"""Diagonal denoising (FIFO-Diffusion, Kim et al. 2024) on the embedded default model, as a measurement for
issue 18 ("close the gap"): a queue of latent frames at rising noise levels, every frame moved one level
down per step, the clean head frame taken out and a fresh noise frame put in at the tail; scored as
`vidlong eval` scores a cell (through an mp4, `vidlong.eval.runner.measure`).

    cd benchmarks && python fifo.py --ratio 4 --seeds 20 21 --partitions 2 --out quality_fifo/fifo_4x.json \
        --pair quality_paired/results.csv

The queue starts as the model's own native video of the prompt (20 steps, its guidance; `generate`, so
the eval's `direct` 1x cell), each frame noised to its level, and every later frame comes out of the
queue. `--partitions n` splits a queue of n windows (FIFO's latent partitioning: n x the window's frames
levels, each window a forward of its own). With `--sink` (default) every window also sees the first
video's first latent frame, clean, at RoPE position 0, where the model was trained to see a clip's
first (one-pixel-frame) latent; the queue's frames sit at positions 1..native-1 and the output starts
with that frame. Each frame moves down by one Euler step of flow matching, ``z += (σ' - σ)·v``, on the
sigmas of the pipeline's scheduler (its shift), the velocity with classifier-free guidance, the
timestep given per token (diffusers' Wan transformer takes ``[B, tokens]``).
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vidlong import load_pipeline
from vidlong.eval.runner import DEFAULT_PROMPTS, measure
from vidlong.generate import GenerateRequest, generate
from vidlong.video_io import read_video, write_video


def level_sigmas(pipe, levels: int) -> torch.Tensor:
    """``[levels + 1]`` ascending noise levels: 0 (clean), then the pipeline scheduler's sigmas for
    `levels` steps, smallest first."""
    sigmas = pipe.fresh_scheduler(levels).sigmas.float().cpu()  # descending, ends at 0
    return sigmas.flip(0)


@torch.no_grad()
def fifo_latents(pipe, prompt: str, seed: int, latent_frames: int, partitions: int, sink: bool,
                 guidance: float | None = None, start: str = "copies") -> torch.Tensor:
    """Normalised latents ``[1, C, latent_frames, h, w]`` made by diagonal denoising (module docstring).
    `start`: how queue frames past the first video begin: "copies" of its last frame, plain "noise", or
    ("window") the first video made as long as the queue by the plain sliding window."""
    spec, transformer = pipe.spec, pipe.transformer
    window = spec.native_frames - (1 if sink else 0)                          # queue frames per forward
    levels = partitions * window
    length = levels + 1 if start == "window" else spec.native_frames
    first = generate(pipe, GenerateRequest(prompt=prompt, frames=4 * (length - 1) + 1, seed=seed,
                                           method="window" if start == "window" else "none")).latents
    first = first.to(pipe.device, torch.float32)                              # [1, C, f, h, w]
    sigma = level_sigmas(pipe, levels).to(pipe.device)                        # sigma[j + 1]: queue frame j
    guidance = spec.guidance_scale if guidance is None else guidance
    text = pipe.stream_text(prompt, "", guidance > 1.0, guidance)
    generator = torch.Generator(pipe.device).manual_seed(seed + 1)
    noise = lambda n: torch.randn((1, first.shape[1], n, *first.shape[3:]), generator=generator, device=pipe.device)
    start_index = 1 if sink else 0
    sources = [min(start_index + j, first.shape[2] - 1) for j in range(levels)]  # the first video, then its last frame
    queue = torch.stack([(1 - sigma[j + 1]) * first[:, :, s] + sigma[j + 1] * noise(1)[:, :, 0]
                         if start != "noise" or start_index + j < first.shape[2] else noise(1)[:, :, 0]
                         for j, s in enumerate(sources)], dim=2)              # [1, C, levels, h, w]
    out = [first[:, :, :1]] if sink else []
    patch_t, patch_h, patch_w = transformer.config.patch_size
    tokens_per_frame = (first.shape[3] // patch_h) * (first.shape[4] // patch_w)
    while sum(o.shape[2] for o in out) < latent_frames:
        moved = torch.empty_like(queue)
        for part in range(partitions):
            span = slice(part * window, (part + 1) * window)
            z, t = queue[:, :, span], sigma[span.start + 1:span.stop + 1]
            if sink:
                z, t = torch.cat([first[:, :, :1], z], dim=2), torch.cat([t.new_zeros(1), t])
            steps = (t * 1000).repeat_interleave(tokens_per_frame)[None].expand(text.batch, -1)
            batch = z.expand(text.batch, -1, -1, -1, -1).to(transformer.dtype)
            v = pipe.stream_forward(transformer, batch, steps, text).float()
            if text.batch == 2:                                               # negative first
                v = v[:1] + guidance * (v[1:] - v[:1])
            v = v[:, :, 1:] if sink else v
            down = sigma[span.start:span.stop] - sigma[span.start + 1:span.stop + 1]
            moved[:, :, span] = queue[:, :, span] + down.view(1, 1, -1, 1, 1) * v
        out.append(moved[:, :, :1])
        queue = torch.cat([moved[:, :, 1:], noise(1)], dim=2)
    return torch.cat(out, dim=2)[:, :, :latent_frames]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    parser.add_argument("--prompts", type=int, default=len(DEFAULT_PROMPTS))
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--sink", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--start", choices=("copies", "noise", "window"), default="copies",
                        help="queue frames past the first video: copies of its last frame, plain noise, or a first video "
                             "as long as the queue made by the sliding window")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--mp4", action=argparse.BooleanOptionalAction, default=True,
                        help="score the frames read back from an mp4, as vidlong eval does (--no-mp4: where no ffmpeg is)")
    parser.add_argument("--pair", default=None, help="a stored eval results.csv to pair with (prints the paired difference per method)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    pipe = load_pipeline("default", device=args.device)
    spec = pipe.spec
    n_latent = max(1, round(args.ratio * spec.native_frames))
    rows = []
    for prompt in DEFAULT_PROMPTS[:args.prompts]:
        for seed in args.seeds:
            began = time.perf_counter()
            latents = fifo_latents(pipe, prompt, seed, n_latent, args.partitions, args.sink, start=args.start)
            frames = pipe.decode_uint8(latents.to(pipe.vae.dtype))
            seconds = time.perf_counter() - began
            if args.mp4:
                with tempfile.TemporaryDirectory() as tmp:
                    write_video(Path(tmp) / "v.mp4", frames, fps=spec.fps)
                    frames, _ = read_video(Path(tmp) / "v.mp4")
            row = dict(method="fifo", partitions=args.partitions, sink=args.sink, start=args.start, mp4=args.mp4, ratio=args.ratio, prompt=prompt,
                       seed=seed, latent_frames=n_latent, seconds=round(seconds, 2), **measure(frames, prompt, spec, True))
            rows.append(row)
            print(f"{prompt[:40]:40s} seed {seed}: all present {row['shapes_frac_frames_all_present']:.3f}, "
                  f"vanish {row['shapes_vanish_events']}, repetition {row['repetition']:.3f}, {seconds:.1f} s", flush=True)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
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
