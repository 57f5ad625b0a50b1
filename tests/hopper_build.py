"""Compiles the warp-specialized Gluon kernel for an H100 (sm_90a) on this machine, as `FusedKernel` would
launch it on a Hopper GPU, and prints its shared memory in bytes: ``python hopper_build.py CASE``.

Run by `test_fused_kernel.py` in a process of its own: the CPU tests' Triton interpreter turns the Triton functions
the Gluon kernel compiles again (`rules`) into interpreted ones, which Gluon cannot compile.
"""
import sys

import torch

import vidlong
from vidlong.attention.kernels import fused, hopper
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

#: (methods, head size): the overlapped schedule, the 3-branch plan with the decay, head size 64
CASES = [([], 128), ([vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))], 128),
         ([vidlong.UltraViCo(guard_first_frame=False)], 64)]


def main(case: int) -> None:
    from triton.backends.compiler import GPUTarget
    methods, dim = CASES[case]
    layout = TokenLayout(8, 2, 3, 4)
    q, k, v = (torch.randn(1, 2, layout.num_tokens, dim, dtype=torch.bfloat16) for _ in range(3))
    launches = []
    fused.FusedKernel._gluon_can_run = lambda self, *inputs: True  # as on a Hopper GPU
    hopper.fused_attention = lambda *inputs: launches.append(inputs)
    fused.FusedKernel(warp_specialized=True)(q, k + 0.5, v, build_plan(layout, methods))
    print(hopper.compile_for(GPUTarget("cuda", 90, 32), *launches[0]).metadata.shared)


if __name__ == "__main__":
    main(int(sys.argv[1]))
