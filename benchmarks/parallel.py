"""One denoising forward of a real-dimension Wan transformer on 1 and N GPUs with diffusers' context
parallelism (Ulysses) and each vidlong method: speed-up, peak memory per GPU, and the output's
difference against one GPU. Launch with torchrun; rank 0 prints the table.

    torchrun --nproc-per-node 2 benchmarks/parallel.py                     # Wan2.1-1.3B shapes, 480x832, 4x and 8x
    torchrun --nproc-per-node 2 benchmarks/parallel.py --shape 14b --ratios 4 --size 720 1280
    torchrun --nproc-per-node 2 benchmarks/parallel.py --small             # CPU (gloo) smoke run

Each rank builds the same random-weight transformer (seeded), runs the one-device forward (every
rank alone, no communication: the baseline) and then the same forward with its attention spread
over the group; both use the shipped preset of the length (defaults at 1x), native window `--native` (21) latent
frames.
"""
from __future__ import annotations

import time

import torch
import torch.distributed as dist

import vidlong
from common import print_table
from step import build, shape_arguments, step_inputs
from vidlong.methods import methods_for
from vidlong.parallel import enable_context_parallel, init_from_torchrun

def timed(forward, device: torch.device, repeat: int) -> tuple[float, float, torch.Tensor]:
    """(median seconds, peak GiB, output) of `forward` after one untimed call."""
    out = forward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        if dist.is_initialized():
            dist.barrier()
        start = time.perf_counter()
        out = forward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return sorted(times)[len(times) // 2], peak, out


def main() -> None:
    parser = shape_arguments(__doc__, ratios=[4, 8])
    args = parser.parse_args()
    native = args.native
    if args.small:
        args.shape, args.ratios, args.size, args.repeat, native = "small", [2], [32, 32], 1, 2
    rank, world, device = init_from_torchrun(None if torch.cuda.is_available() and not args.small else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    torch.manual_seed(0)
    single, split = (build(args.shape, device, dtype, layers=args.layers) for _ in range(2))
    split.load_state_dict(single.state_dict())
    enable_context_parallel(split)
    rows = []
    for frames, latents, text, preset in step_inputs(args.ratios, native, args.size, device, dtype):
        for method in args.methods:
            results = []
            for model in (single, split):
                vidlong.apply(model, *methods_for(method, preset), native_frames=native)

                def forward(model=model):
                    with torch.no_grad():
                        return model(latents, torch.tensor([500], device=device), text, return_dict=False)[0]

                results.append(timed(forward, device, args.repeat))
                vidlong.remove(model)
            (one_s, one_gib, one_out), (n_s, n_gib, n_out) = results
            diff = ((n_out.float() - one_out.float()).norm() / one_out.float().norm()).item()
            rows.append([frames, method, one_s, n_s, one_s / n_s, one_gib, n_gib, diff])
            if rank == 0:
                print(f"{frames} latent frames, {method}: 1 device {one_s:.3g} s, {world} devices {n_s:.3g} s, "
                      f"peak {one_gib:.3g} / {n_gib:.3g} GiB, relative difference {diff:.2e}", flush=True)
    if rank == 0:
        print_table(["latent frames", "method", "1 device s", f"{world} devices s", "speed-up", "peak GiB (1)",
                     f"peak GiB per device ({world})", "rel. difference"], rows)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
