"""Where the time of the FlexAttention path goes, at Wan2.1-1.3B shapes (CUDA only).

    python benchmarks/flex_tuning.py --frames 42 84

Rows: SDPA backends, plain compiled flex, flex + UltraViCo decay under several kernel options, and
max-autotune. Ratios are to the default SDPA.
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.attention.flex_attention import flex_attention

from common import print_table, time_ms
from vidlong import SpectralFusion, UltraViCo
from vidlong.attention.fusion import fuse_bands
from vidlong.plans import build_plan
from vidlong.attention.kernels.flex import _flex_api
from vidlong.attention.layout import TokenLayout

OPTIONS = {
    "default": None,
    "128x64 w4 s3": {"BLOCK_M": 128, "BLOCK_N": 64, "num_warps": 4, "num_stages": 3},
    "128x128 w8 s2": {"BLOCK_M": 128, "BLOCK_N": 128, "num_warps": 8, "num_stages": 2},
    "64x128 w4 s3": {"BLOCK_M": 64, "BLOCK_N": 128, "num_warps": 4, "num_stages": 3},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[42, 84])
    args = parser.parse_args()
    _flex_api()
    flex = torch.compile(flex_attention, dynamic=False)
    flex_tuned = torch.compile(flex_attention, dynamic=False, mode="max-autotune-no-cudagraphs")
    rows = []
    for frames in args.frames:
        layout = TokenLayout(frames, 30, 52, 21)
        q, k, v = (torch.randn(1, 12, layout.num_tokens, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        decay = UltraViCo().score_mod(layout)
        base = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
        results = {"sdpa default": base}
        for name, backend in (("sdpa flash", SDPBackend.FLASH_ATTENTION), ("sdpa cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    results[name] = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
            except RuntimeError:
                results[name] = float("nan")
        results["flex plain"] = time_ms(lambda: flex(q, k, v))
        for name, opts in OPTIONS.items():
            try:
                results[f"flex decay {name}"] = time_ms(lambda: flex(q, k, v, score_mod=decay, kernel_options=opts))
            except Exception as err:  # noqa: BLE001 - an option set the GPU cannot run
                print(f"{name}: {type(err).__name__}")
                results[f"flex decay {name}"] = float("nan")
        results["flex decay max-autotune"] = time_ms(lambda: flex_tuned(q, k, v, score_mod=decay))
        plan = build_plan(layout, [SpectralFusion(windows=(frames / 42, frames / 84))])
        outs = [t.transpose(1, 2) for t in (q, k, v)]
        results["fuse_bands only (3 branches)"] = time_ms(lambda: fuse_bands(outs, plan.bands, layout))
        for name, ms in results.items():
            rows.append([frames, name, ms, ms / base])
        del q, k, v
    print_table(["latent frames", "variant", "ms", "/ SDPA"], rows)


if __name__ == "__main__":
    main()
