"""Where the time of the FlexAttention path goes, at Wan2.1-1.3B shapes (CUDA only).

    python benchmarks/flex_tuning.py --frames 42

Rows: stock SDPA; plain compiled flex with default options and with TMA loads (``USE_TMA``); the
UltraViCo decay plan taken apart (key centring, each key piece alone, the log-sum-exp merge, the
whole plan); the 3-branch FreeLong++ plan taken apart (each window ring alone, the whole plan, the
band fusion alone). Ratios are to stock SDPA; each row prints as soon as it is measured.
``--tma-only`` skips the default-options variants (half the compile time).
"""
from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from common import print_table, time_ms
from vidlong import SpectralFusion, UltraViCo
from vidlong.attention.execute import run_plan
from vidlong.attention.fusion import fuse_bands
from vidlong.attention.kernels.dense import center_keys
from vidlong.attention.kernels.flex import FlexKernel, _flex_api, _pieces, _ring_masks, merge_by_lse
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

TMA = {"USE_TMA": True}


def decay_rows(layout, q, k, v, options) -> dict:
    """Each step of the decay plan alone, with FlexAttention `options`."""
    kernel = FlexKernel(options)
    plan = build_plan(layout, [UltraViCo()])
    suffix = " (TMA)" if options else ""
    rows = {f"decay: key centring{suffix}": time_ms(lambda: center_keys(k))}
    (ring_mask,) = _ring_masks(plan)
    outs = []
    for part, (mask_mod, score_mod) in enumerate(_pieces(plan, ring_mask)):
        block_mask = kernel._block_mask(plan, (0, part), mask_mod, q.shape[2], k.shape[2], q.device)
        name = "inside (min(s, a*s))" if score_mod is not None else "outside (plain)"
        rows[f"decay: piece {name}{suffix}"] = time_ms(lambda: kernel._attend(q, k, v, score_mod, block_mask))
        outs.append(kernel._attend(q, k, v, score_mod, block_mask))
    if len(outs) == 2:
        rows[f"decay: LSE merge{suffix}"] = time_ms(lambda: merge_by_lse(*outs[0], *outs[1]))
    q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))
    rows[f"decay: whole plan{suffix}"] = time_ms(lambda: run_plan(q_, k_, v_, plan, kernel))
    return rows


def fusion_rows(layout, q, k, v) -> dict:
    """The 3-branch fusion plan (windows F, F/2, F/4) with the device's default options, taken apart."""
    kernel = FlexKernel()
    plan = build_plan(layout, [SpectralFusion(windows=(layout.frames / 42, layout.frames / 84))])
    rows = {}
    for ring, ring_mask in enumerate(_ring_masks(plan)):
        block_mask = kernel._block_mask(plan, (ring, 0), ring_mask, q.shape[2], k.shape[2], q.device)
        share = block_mask.sparsity() if block_mask is not None else 0.0
        rows[f"fusion3: ring {ring} alone ({100 - share:.0f}% of blocks)"] = time_ms(
            lambda: kernel._attend(q, k, v, None, block_mask))
    q_, k_, v_ = (t.transpose(1, 2) for t in (q, k, v))
    rows["fusion3: whole plan"] = time_ms(lambda: run_plan(q_, k_, v_, plan, kernel))
    rows["fusion3: band fusion alone"] = time_ms(lambda: fuse_bands([q_, k_, v_], plan.bands, layout))
    return rows


class Rows(dict):
    """A dict of ``variant -> ms`` that prints each row (and its ratio to SDPA) as it is set."""

    def __init__(self, frames: int, base_ms: float):
        super().__init__()
        self.frames, self.base_ms = frames, base_ms

    def __setitem__(self, name, ms):
        print(f"{self.frames} | {name} | {ms:.3g} ms | {ms / self.base_ms:.3g}", flush=True)
        super().__setitem__(name, ms)

    def update(self, other):
        for name, ms in other.items():
            self[name] = ms


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[42])
    parser.add_argument("--tma-only", action="store_true", help="only the TMA-load variants")
    args = parser.parse_args()
    _, flex = _flex_api()
    rows = []
    for frames in args.frames:
        layout = TokenLayout(frames, 30, 52, 21)
        q, k, v = (torch.randn(1, 12, layout.num_tokens, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        base = time_ms(lambda: F.scaled_dot_product_attention(q, k, v))
        results = Rows(frames, base)
        results["sdpa default"] = base
        if not args.tma_only:
            results["flex plain"] = time_ms(lambda: flex(q, k, v))
        results["flex plain (TMA)"] = time_ms(lambda: flex(q, k, v, kernel_options=TMA))
        for options in (TMA,) if args.tma_only else (None, TMA):
            results.update(decay_rows(layout, q, k, v, options))
        results.update(fusion_rows(layout, q, k, v))
        for name, ms in results.items():
            rows.append([frames, name, ms, ms / base])
        print(f"{frames} latent frames done", flush=True)
        del q, k, v
    print_table(["latent frames", "variant", "ms", "/ SDPA"], rows)


if __name__ == "__main__":
    main()
