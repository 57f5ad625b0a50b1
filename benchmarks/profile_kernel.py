"""Two launches of the default fused kernel on one of `fused_tuning`'s plans, for a profiler (CUDA only): Wan2.1-1.3B
shapes (12 heads x 128, 480x832, bf16) at FRAMES latent frames (native 21). Under Nsight Compute, skip the first
launch (it compiles):

    ncu -k regex:fused_attention --launch-skip 1 --launch-count 1 --section SpeedOfLight --section WarpStateStats \\
        --section InstructionStats python3 benchmarks/profile_kernel.py 84 both3
"""
import argparse

import torch

from fused_tuning import PLANS
from vidlong.attention.kernels.fused import FusedKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", type=int)
    parser.add_argument("plan", choices=list(PLANS))
    args = parser.parse_args()
    layout = TokenLayout(args.frames, 30, 52, 21)
    q, k, v = (torch.randn(1, layout.num_tokens, 12, 128, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
               for _ in range(3))
    plan, kernel = build_plan(layout, PLANS[args.plan](args.frames)), FusedKernel()
    for _ in range(2):
        kernel(q, k, v, plan)
    torch.cuda.synchronize()


if __name__ == "__main__":
    main()
