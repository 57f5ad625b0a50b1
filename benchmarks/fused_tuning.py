"""Launch settings of the fused Triton kernel at Wan2.1-1.3B shapes (CUDA only).

    python benchmarks/fused_tuning.py --frames 21 42
    python benchmarks/fused_tuning.py --frames 84 --kernels fused fused-int8   # the low-precision paths too
    python benchmarks/fused_tuning.py --tma off on      # keys and values by pointers, by Hopper's bulk copies
    python benchmarks/fused_tuning.py --ws off auto     # the Triton kernel against the default (the Gluon kernel on Hopper)

For each kernel (`FUSED_KERNELS`: the fused kernel and its low-precision paths, whose time includes
quantizing the operands; that alone is printed too) and (block_m, block_n, num_warps, num_stages)
setting (with ``--tma``: keys and values by pointers and/or tensor descriptors): the fused kernel alone (every branch,
no band fusion) on the plain global plan, the UltraViCo decay plan, the 3-branch FreeLong++ plan and both (`--plans`),
as ratios to stock SDPA on the same ``[B, N, H, D]`` inputs. Each row prints as it is measured.
"""
from __future__ import annotations

import argparse
import itertools

import torch
import torch.nn.functional as F

from common import print_table, time_ms
from vidlong import SpectralFusion, UltraViCo
from vidlong.attention.execute import FUSED_KERNELS
from vidlong.attention.kernels.fused import FusedKernel
from vidlong.attention.kernels.quantize import quantize_token_blocks
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan


#: the timed plans' methods at `frames` latent frames (native 21): the fused kernel alone, without the band fusion
PLANS = {
    "plain": lambda frames: [],
    "decay": lambda frames: [UltraViCo()],
    "decay-uncentred": lambda frames: [UltraViCo(center_keys=False)],
    "decay-unguarded": lambda frames: [UltraViCo(guard_first_frame=False)],
    "fusion3": lambda frames: [SpectralFusion(windows=(frames / 42, frames / 84))],
    "both3": lambda frames: [UltraViCo(), SpectralFusion(windows=(frames / 42, frames / 84))],
    "both3-uncentred": lambda frames: [UltraViCo(center_keys=False), SpectralFusion(windows=(frames / 42, frames / 84))],
    "both3-unguarded": lambda frames: [UltraViCo(guard_first_frame=False), SpectralFusion(windows=(frames / 42, frames / 84))],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, nargs="+", default=[21])
    parser.add_argument("--block-m", type=int, nargs="+", default=[128])
    parser.add_argument("--block-n", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--warps", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--stages", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--kernels", nargs="+", default=["fused"], choices=[n for n in FUSED_KERNELS if n != "fused-triton"],
                        help="the fused kernel and its low-precision paths (the Triton kernel against the Gluon one: --ws)")
    parser.add_argument("--tma", nargs="+", default=["auto"], choices=["auto", "off", "on"])
    parser.add_argument("--ws", nargs="+", default=["auto"], choices=["auto", "off", "on"],
                        help="the warp-specialized Gluon kernel where FusedKernel picks it by default (auto: Hopper, head "
                             "size 128), wherever it can run (on) or never (off: the Triton kernel)")
    parser.add_argument("--plans", nargs="+", default=["plain", "decay", "fusion3", "both3"], choices=list(PLANS),
                        help="-uncentred / -unguarded: UltraViCo without its key centring / first-frame guard (what each costs; "
                             "decay-uncentred also moves the Gluon kernel to its overlapped schedule, one branch without "
                             "centring)")
    args = parser.parse_args()
    rows = []
    for frames in args.frames:
        layout = TokenLayout(frames, 30, 52, 21)
        q, k, v = (torch.randn(1, layout.num_tokens, 12, 128, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
                   for _ in range(3))
        sdpa = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
        plans = {name: build_plan(layout, PLANS[name](frames)) for name in args.plans}
        for fmt in sorted({FUSED_KERNELS[name][0] for name in args.kernels} - {None}):
            ms = time_ms(lambda: (quantize_token_blocks(q, 128, fmt),
                                  quantize_token_blocks(k, 128, fmt, shift=k.mean(dim=2, dtype=torch.float32))))
            print(f"{frames} frames: Q and K to {fmt}: {ms:.2f} ms ({ms / sdpa:.3f} SDPA)", flush=True)
        for name, bm, bn, warps, stages, tma, ws in itertools.product(
                args.kernels, args.block_m, args.block_n, args.warps, args.stages, args.tma, args.ws):
            qk, pv = FUSED_KERNELS[name]
            kernel = FusedKernel(bm, bn, warps, stages, qk=qk, pv=pv, tma={"auto": None, "on": True, "off": False}[tma],
                                 warp_specialized={"auto": None, "on": True, "off": False}[ws])
            row = [frames, f"{name} {bm}x{bn} w{warps} s{stages} tma-{tma} ws-{ws}", sdpa]
            for plan in plans.values():
                try:
                    ms = time_ms(lambda: kernel(q, k, v, plan))
                except Exception as error:  # e.g. out of shared memory for this setting
                    print(f"{row[1]}: {type(error).__name__}: {str(error).splitlines()[0]}", flush=True)
                    ms = float("nan")
                row += [ms / sdpa]
            print(" | ".join(str(c) if not isinstance(c, float) else f"{c:.3g}" for c in row), flush=True)
            rows.append(row)
        del q, k, v
    print_table(["latent frames", "setting", "SDPA ms"] + [f"{name} / SDPA" for name in plans], rows)


if __name__ == "__main__":
    main()
