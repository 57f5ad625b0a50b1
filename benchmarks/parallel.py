"""One denoising forward of a real-dimension Wan transformer on 1 and N GPUs with diffusers' context
parallelism (Ulysses) and each vidlong method: speed-up, peak memory per GPU, and the output's
difference against one GPU. Launch with torchrun; rank 0 prints the table.

    torchrun --nproc-per-node 2 benchmarks/parallel.py                     # Wan2.1-1.3B shapes, 480x832, 4x and 8x
    torchrun --nproc-per-node 2 benchmarks/parallel.py --shape 14b --ratios 4 --size 720 1280
    torchrun --nproc-per-node 2 benchmarks/parallel.py --small             # CPU (gloo) smoke run

Each rank builds the same random-weight transformer (seeded), runs every one-device forward (every
rank alone, no communication: the baseline), then enables context parallelism on it and runs the
same forwards with the tokens spread over the group (one copy of the weights, so the peaks are the
forwards' own); both use the shipped preset of the length (defaults at 1x), native window `--native`
(21) latent frames.
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
    model = build(args.shape, device, dtype, layers=args.layers)  # one copy: the peaks are the forward's own
    inputs = list(step_inputs(args.ratios, native, args.size, device, dtype))

    def run_all(label: str) -> dict:
        """{(input index, method): (median s, peak GiB, output on the CPU)} of every case on `model` as it is."""
        results = {}
        for i, (frames, latents, text, preset) in enumerate(inputs):
            for method in args.methods:
                vidlong.apply(model, *methods_for(method, preset), native_frames=native)

                def forward():
                    with torch.no_grad():
                        return model(latents, torch.tensor([500], device=device), text, return_dict=False)[0]

                seconds, peak, out = timed(forward, device, args.repeat)
                vidlong.remove(model)
                results[i, method] = seconds, peak, out.float().cpu()
                if rank == 0:
                    print(f"{label}: {frames} latent frames, {method}: {seconds:.3g} s, peak {peak:.3g} GiB", flush=True)
        return results

    one = run_all("1 device")  # every rank alone, no communication: the baseline
    enable_context_parallel(model)  # the same weights, the tokens spread over the group
    many = run_all(f"{world} devices")
    rows = []
    for (i, method), (one_s, one_gib, one_out) in one.items():
        n_s, n_gib, n_out = many[i, method]
        diff = ((n_out - one_out).norm() / one_out.norm()).item()
        rows.append([inputs[i][0], method, one_s, n_s, one_s / n_s, one_gib, n_gib, diff])
    if rank == 0:
        print_table(["latent frames", "method", "1 device s", f"{world} devices s", "speed-up", "peak GiB (1)",
                     f"peak GiB per device ({world})", "rel. difference"], rows)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
