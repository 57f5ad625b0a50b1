"""Peak memory of decoding a long video: vidlong's chunked decode against the pipeline's own.

    python benchmarks/decode_memory.py                          # embedded default model, CPU, 1x-16x
    python benchmarks/decode_memory.py --model FOLDER --ratios 1 4 --device cuda
    python benchmarks/decode_memory.py --wan21 --ratios 1 4 16 --device cuda    # Wan2.1's VAE, 480x832

For each length (a multiple of the native window), random latents ``[1, C, F, h, w]`` are decoded in a
fresh process (so peaks do not mix) two ways, as `vidlong generate` would end:
- "chunked": `VidlongPipelineMixin.decode_uint8` (Wan's causal VAE, 4 latent frames at a time through its
  feature cache, each chunk straight to uint8);
- "whole": the pipeline's own ending (diffusers' `vae.decode` of the whole video, then its
  `video_processor.postprocess_video` to float32 frames in [0, 1], then uint8 as `generate` stores them).
With `--wan21` the embedded model's VAE is swapped for one of Wan2.1's shape (diffusers' default
`AutoencoderKLWan`, random weights, bfloat16) and the latents are Wan2.1's: native 21 latent frames of
60x104 (480x832 pixels).
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


def measure(model: str, ratio: int, way: str, device: str, wan21: bool = False) -> dict:
    """Decode one video of `ratio` native windows the `way` given; returns seconds and peak MiB."""
    import numpy as np
    import torch

    from vidlong import load_pipeline

    pipe = load_pipeline(model, device=device)
    if wan21:
        from diffusers import AutoencoderKLWan

        torch.manual_seed(0)
        pipe.vae = AutoencoderKLWan().to(device, torch.bfloat16).eval()
        shape = (16, ratio * 21, 480 // 8, 832 // 8)
    else:
        spec, geometry = pipe.spec, pipe.geometry()
        shape = (geometry.channels, ratio * spec.native_frames, spec.height // geometry.spatial, spec.width // geometry.spatial)
    latents = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0)).to(pipe.device, pipe.vae.dtype)
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
    parser.add_argument("--wan21", action="store_true", help="a Wan2.1-shaped VAE (random weights, bf16) at 480x832")
    parser.add_argument("--one", nargs=2, metavar=("RATIO", "WAY"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.model, int(args.one[0]), args.one[1], args.device, args.wan21)))
        return
    rows = []
    for ratio in args.ratios:
        row = [f"{ratio}x"]
        for way in ("whole", "chunked"):
            out = subprocess.run([sys.executable, __file__, "--model", args.model, "--device", args.device,
                                  "--one", str(ratio), way] + (["--wan21"] if args.wan21 else []),
                                 capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            row += [result["frames"], result["peak_mib"], result["peak_mib"] - result["loaded_mib"], result["seconds"]]
            print(f"{ratio}x {way}: {result}", flush=True)
        rows.append(row)
    unit = "CUDA MiB" if args.device == "cuda" else "RSS MiB"
    print_table(["length", "frames", f"whole: peak {unit}", "whole: above loaded", "whole: s",
                 "frames", f"chunked: peak {unit}", "chunked: above loaded", "chunked: s"], rows)


if __name__ == "__main__":
    main()
