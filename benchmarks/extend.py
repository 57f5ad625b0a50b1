"""`vidlong extend` on the embedded default model: does the continuation keep the input's objects,
and is the seam no larger a jump than two consecutive frames inside the input?

    python benchmarks/extend.py --seeds 2 --chunks 4 --context renoise --out benchmarks/extend_renoise.json
    python benchmarks/extend.py --model default-causal --input-model default --context cache --chunks 4
    python benchmarks/extend.py --seeds 1 --chunks 4 --encode-warmup 0   # the tail encoded with no warm-up

For each of vidlong eval's 8 prompts x seeds: generate a native-length video (as `vidlong generate`
does), write it to mp4 and read it back (the input a user has), extend it by `--chunks` chunks from
the mp4's frames, and again from the generation's saved latents. Prints one row per video and the
means: input frames kept bit for bit (API output vs the decoded input file), the shapes checker's
fraction of continuation frames holding every prompted object, the seam's mean absolute frame
difference and centroid jump against the input's consecutive-frame mean (and its mean over the pairs of
frames decoded from two latent frames, as the seam's are), and the difference between
the continuations from latents and from the mp4 next to the VAE's reconstruction error of the input.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from common import print_table


def frame_jumps(frames: np.ndarray) -> np.ndarray:
    """Mean absolute difference (0-255) between each pair of consecutive frames, ``[T-1]``."""
    f = frames.astype(np.float32)
    return np.abs(f[1:] - f[:-1]).mean(axis=(1, 2, 3))


def boundary_pairs(count: int, temporal: int) -> np.ndarray:
    """``[count - 1]`` bool: whether consecutive pixel frames (i, i + 1) of a decoded video come from two
    latent frames (the first latent frame decodes to pixel frame 0, latent j >= 1 to frames
    ``temporal·(j - 1) + 1 .. temporal·j``), i.e. i is a multiple of `temporal`. An extension's seam is
    such a pair."""
    return np.arange(count - 1) % temporal == 0


def centroid_jumps(report) -> np.ndarray:
    """Mean displacement (pixels) of the prompted objects between consecutive frames, NaN where absent."""
    c = report.centroids()
    return np.nanmean(np.linalg.norm(c[1:] - c[:-1], axis=-1), axis=1)


def kept_objects(report_in, report_new) -> float:
    """Fraction of new frames that hold every prompted object present in the input's last frame (NaN
    when the input ends with none of them: nothing to keep)."""
    last = report_in.presence()[-1]
    if not last.any():
        return float("nan")
    return float(report_new.presence()[:, last].all(axis=1).mean())


def vae_reconstruction_error(pipe, frames: np.ndarray) -> float:
    """Mean absolute error (0-255) of decode(encode(frames)) on the input's 4k+1 last frames."""
    from vidlong.extend import tail_pixel_frames
    from vidlong.streaming import to_uint8
    from vidlong.vae_stream import StreamingWanDecoder, encode_frames

    tail = frames[-tail_pixel_frames(len(frames), pipe.native_frames):]
    pixels = torch.from_numpy(np.ascontiguousarray(tail)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
    decoded = to_uint8(StreamingWanDecoder(pipe.vae).decode(encode_frames(pipe.vae, pixels)))
    return float(np.abs(decoded.astype(np.float32) - tail.astype(np.float32)).mean())


def continuation(pipe, prompt, seed, chunks, streaming, guidance, **source) -> tuple[np.ndarray, int, float]:
    """(input + new frames, input frame count, median seconds per new chunk)."""
    out = list(pipe.extend(prompt, chunks=chunks, seed=seed, streaming=streaming, guidance=guidance, **source))
    return np.concatenate([c.frames for c in out]), len(out[0].frames), statistics.median(c.seconds for c in out[1:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder or embedded name that extends (default: the embedded model)")
    parser.add_argument("--input-model", default=None, help="the model that makes the inputs (default: --model)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--chunks", type=int, default=6, help="chunks of new video per extension")
    parser.add_argument("--prompts", type=int, default=8, help="how many of vidlong eval's prompts")
    parser.add_argument("--device", default="cpu", help="cpu | cuda")
    parser.add_argument("--method", default="chunked", choices=["chunked", "fifo"],
                        help="chunked: the Streaming options below; fifo: diagonal denoising (vidlong.DiagonalDenoising())")
    parser.add_argument("--context", default=None, choices=["cache", "renoise"], help="Streaming.context (default: the model's)")
    parser.add_argument("--chunk", type=int, default=3, help="latent frames per chunk")
    parser.add_argument("--sinks", type=int, default=None)
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--guidance", type=float, default=None, help="guidance of the continuation (default: the model's)")
    parser.add_argument("--partition-guidance", type=float, nargs="+", default=None,
                        help="fifo: the queue's guidance per partition, cleanest first (DiagonalDenoising.guidance_by_partition)")
    parser.add_argument("--seam-frames", type=int, default=8, help="Streaming.seam_frames (0: off)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--encode-warmup", type=int, default=None,
                        help="latent frames encoded before the context (vidlong.extend.ENCODE_WARMUP; 0: none)")
    parser.add_argument("--skip-latents", action="store_true", help="no continuation from the saved latents (half the time)")
    parser.add_argument("--out", default=None, help="write the rows and means as JSON here")
    args = parser.parse_args()

    chunked_only = [flag for flag, given in (("--context", args.context), ("--sinks", args.sinks), ("--window", args.window),
                                             ("--chunk", args.chunk != 3 or None), ("--seam-frames", args.seam_frames != 8 or None))
                    if given is not None]
    if args.method == "fifo" and chunked_only:
        parser.error(f"{chunked_only[0]} is an option of --method chunked")
    if args.method != "fifo" and args.partition_guidance:
        parser.error("--partition-guidance is an option of --method fifo")

    import vidlong.extend
    from vidlong import DiagonalDenoising, Streaming, load_pipeline
    from vidlong.eval.runner import DEFAULT_PROMPTS
    from vidlong.eval.shapes import check_video
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video, write_video

    if args.encode_warmup is not None:
        vidlong.extend.ENCODE_WARMUP = args.encode_warmup
    pipe = load_pipeline(args.model, device=args.device)
    maker = load_pipeline(args.input_model, device=args.device) if args.input_model else pipe
    for each in (pipe, maker):
        each.set_progress_bar_config(disable=True)
    rows, records = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt in DEFAULT_PROMPTS[: args.prompts]:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                made = generate(maker, GenerateRequest(prompt=prompt, seed=seed))
                path = write_video(Path(tmp) / "in.mp4", made.frames, fps=pipe.spec.fps)
                video, _ = read_video(path)
                streaming = DiagonalDenoising(guidance_by_partition=args.partition_guidance and tuple(args.partition_guidance)) \
                    if args.method == "fifo" else Streaming(
                    chunk=args.chunk, sinks=args.sinks, window=args.window, context=args.context, seam_frames=args.seam_frames)
                frames, kept, seconds = continuation(pipe, prompt, seed, args.chunks, streaming, args.guidance, video=video)
                from_latents = frames if args.skip_latents else continuation(pipe, prompt, seed, args.chunks, streaming,
                                                                               args.guidance, latents=made.latents)[0]
                new = frames[kept:]
                report_in, report_new = check_video(video, prompt), check_video(new, prompt)
                seam = check_video(frames[kept - 1 : kept + 1], prompt)
                record = dict(
                    prompt=prompt, seed=seed, input_frames=len(video), new_frames=len(new),
                    input_kept_bit_for_bit=bool(np.array_equal(frames[:kept], video) and kept == len(video)),
                    present_input=report_in.summary()["frac_frames_all_present"],
                    present_continuation=report_new.summary()["frac_frames_all_present"],
                    kept_objects=kept_objects(report_in, report_new),
                    seam_frame_jump=float(frame_jumps(frames[kept - 1 : kept + 1])[0]),
                    input_frame_jump=float(frame_jumps(video).mean()),
                    input_boundary_jump=float(frame_jumps(video)[boundary_pairs(len(video), pipe.spec.temporal_ratio)].mean()),
                    new_frame_jump=float(frame_jumps(new).mean()),
                    new_boundary_jump=float(frame_jumps(frames)[boundary_pairs(len(frames), pipe.spec.temporal_ratio)
                                                                & (np.arange(len(frames) - 1) >= kept)].mean()),
                    seam_centroid_jump=float(centroid_jumps(seam)[0]),
                    input_centroid_jump=float(np.nanmean(centroid_jumps(report_in))),
                    latents_vs_mp4=float("nan") if args.skip_latents else float(np.abs(
                        from_latents[len(from_latents) - len(new):].astype(np.float32) - new.astype(np.float32)).mean()),
                    vae_error=vae_reconstruction_error(pipe, video),
                    seconds_per_chunk=seconds,
                )
                records.append(record)
                rows.append([prompt[:38], seed, record["input_kept_bit_for_bit"], f"{record['present_input']:.2f}",
                             f"{record['present_continuation']:.2f}", f"{record['kept_objects']:.2f}",
                             f"{record['seam_frame_jump']:.2f}",
                             f"{record['input_frame_jump']:.2f}", f"{record['input_boundary_jump']:.2f}",
                             f"{record['seam_centroid_jump']:.2f}",
                             f"{record['input_centroid_jump']:.2f}", f"{record['latents_vs_mp4']:.2f}",
                             f"{record['vae_error']:.2f}"])
                print(json.dumps(record), file=sys.stderr, flush=True)
    keys = [k for k, v in records[0].items() if isinstance(v, (float, bool)) and k != "seed"]
    means = {k: float(np.nanmean([float(r[k]) for r in records])) for k in keys}
    print_table(["prompt", "seed", "input kept", "present (input)", "present (new)", "kept objects", "seam jump", "input jump",
                 "input jump between latent frames", "seam centroid px", "input centroid px", "latents vs mp4", "VAE error"], rows)
    print("\nmeans: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    print(f"videos with the seam jump <= the input's mean jump: "
          f"{sum(r['seam_frame_jump'] <= r['input_frame_jump'] for r in records)}/{len(records)}; "
          f"<= its mean jump between latent frames: "
          f"{sum(r['seam_frame_jump'] <= r['input_boundary_jump'] for r in records)}/{len(records)}")
    if args.out:
        Path(args.out).write_text(json.dumps(dict(rows=records, means=means, chunks=args.chunks, context=args.context,
                                                  command=" ".join(sys.argv)), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
