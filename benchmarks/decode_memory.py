"""Peak memory of decoding a long video: vidlong's chunked decode against the pipeline's own.

    python benchmarks/decode_memory.py                          # embedded default model, CPU, 1x-16x
    python benchmarks/decode_memory.py --model FOLDER --ratios 1 4 --device cuda

For each length (a multiple of the native window), random latents ``[1, C, F, h, w]`` are decoded in a
fresh process (so peaks do not mix) two ways, as `vidlong generate` would end:
- "chunked": `VidlongPipelineMixin.decode_uint8` (Wan's causal VAE, 4 latent frames at a time through its
  feature cache, each chunk straight to uint8);
- "whole": the pipeline's own ending (diffusers' `vae.decode` of the whole video, then its
  `video_processor.postprocess_video` to float32 frames in [0, 1], then uint8 as `generate` stores them).
Peak memory: the process's peak resident set on the CPU (``ru_maxrss``; it includes the loaded model, so
the baseline after loading is printed too), peak allocated CUDA memory on a GPU.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from common import print_table


def measure(model: str, ratio: int, way: str, device: str) -> dict:
    """Decode one video of `ratio` native windows the `way` given; returns seconds and peak MiB."""
    import numpy as np
    import torch

    from vidlong import load_pipeline

    pipe = load_pipeline(model, device=device)
    spec, geometry = pipe.spec, pipe.geometry()
    frames = ratio * spec.native_frames
    latents = torch.randn(1, geometry.channels, frames, spec.height // geometry.spatial, spec.width // geometry.spatial,
                          generator=torch.Generator().manual_seed(0)).to(pipe.device, pipe.vae.dtype)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.no_grad():
        if way == "chunked":
            video = pipe.decode_uint8(latents)
        else:
            vae = pipe.vae
            mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
            std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
            pixels = vae.decode(latents * std + mean, return_dict=False)[0]
            video = pipe.video_processor.postprocess_video(pixels, output_type="np")[0]
            video = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return dict(frames=int(video.shape[0]), seconds=seconds, peak_mib=peak, loaded_mib=loaded)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default", help="a Wan pipeline folder or an embedded model's name")
    parser.add_argument("--ratios", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", nargs=2, metavar=("RATIO", "WAY"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.model, int(args.one[0]), args.one[1], args.device)))
        return
    rows = []
    for ratio in args.ratios:
        row = [f"{ratio}x"]
        for way in ("whole", "chunked"):
            out = subprocess.run([sys.executable, __file__, "--model", args.model, "--device", args.device,
                                  "--one", str(ratio), way], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            row += [result["frames"], result["peak_mib"], result["peak_mib"] - result["loaded_mib"], result["seconds"]]
            print(f"{ratio}x {way}: {result}", flush=True)
        rows.append(row)
    unit = "CUDA MiB" if args.device == "cuda" else "RSS MiB"
    print_table(["length", "frames", f"whole: peak {unit}", "whole: above loaded", "whole: s",
                 "frames", f"chunked: peak {unit}", "chunked: above loaded", "chunked: s"], rows)


if __name__ == "__main__":
    main()
