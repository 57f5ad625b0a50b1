"""Peak memory of FreeLong++'s band fusion (`fuse_bands`) on the CPU, in units of one float32 branch output.

    python benchmarks/fusion_memory.py                 # 42 latent frames of 30x52 tokens, 4 heads x 64, 3 branches

Each run is a fresh process's high-water mark (``VmHWM``) above the branch outputs it fused.
"""
from __future__ import annotations

import argparse

import torch

from vidlong import SpectralFusion
from vidlong.attention.fusion import fuse_bands
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan


def high_water_mib() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=42, help="latent frames (native 21)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    layout = TokenLayout(args.frames, 30, 52, 21)
    plan = build_plan(layout, [SpectralFusion(windows=(1, 0.5))])  # windows of 21 and 10.5 frames: 3 branches
    dtype = getattr(torch, args.dtype)
    outputs = [torch.randn(1, layout.num_tokens, 4, 64, dtype=dtype) for _ in range(plan.num_branches)]
    before = high_water_mib()
    fuse_bands(outputs, plan.bands, layout)
    unit = outputs[0].numel() * 4 / 2**20
    print(f"{plan.num_branches} branches, {args.dtype}: peak {high_water_mib() - before:.0f} MiB above the inputs "
          f"= {(high_water_mib() - before) / unit:.1f} float32 branch outputs ({unit:.0f} MiB each)")


if __name__ == "__main__":
    main()
