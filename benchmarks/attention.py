"""Time of each attention plan as a ratio to stock SDPA, at Wan2.1-1.3B shapes.

    python benchmarks/attention.py                      # 12 heads x 128, 30x52 tokens/frame, 21/42/84 frames
    python benchmarks/attention.py --small              # CPU-sized smoke run
    python benchmarks/attention.py --kernel flex        # a kernel by name (default: "auto", what the model runs)
    python benchmarks/attention.py --flex-options '{}'  # FlexAttention kernel_options (default: TMA on Hopper)
    python benchmarks/attention.py --check              # also each plan's error against the dense kernel
    python benchmarks/attention.py --text 256 --heads 24 --grid 45 80 --native 33 --frames 132
                                                        # HunyuanVideo-13B, 720p, 4x: 256 text tokens joined

Plans: UltraViCo decay (paper defaults), 3-branch FreeLong++ fusion (windows F, F/2, F/4) and both,
executed by `run_plan` with the kernel "auto" picks (on CUDA the fused Triton kernel for these plans;
the dense kernel on CPU), including key centring and the band fusion. With ``--text T``, T text tokens
follow the video tokens in one joint attention (HunyuanVideo's layout): the plans run through
`run_joint_plan` (text keys seen by every video query, undecayed; text queries plain) against SDPA over
all T + N tokens. Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from common import add_attention_shape_arguments, print_table, small_shapes, time_ms
from vidlong import SpectralFusion, UltraViCo
from vidlong.attention.execute import KERNELS, make_kernel, run_plan
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan


def plans_for(layout: TokenLayout) -> dict:
    ratio = layout.frames / layout.native_frames
    fusion = SpectralFusion(windows=(ratio / 2, ratio / 4))
    return {"decay": [UltraViCo()], "fusion3": [fusion], "both": [UltraViCo(), fusion]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_attention_shape_arguments(parser)
    parser.add_argument("--kernel", default="auto", choices=KERNELS, help="attention kernel (default: auto)")
    parser.add_argument("--flex-options", type=json.loads, default=None,
                        help="FlexAttention kernel_options (JSON; default: the kernel's own for the device)")
    parser.add_argument("--check", action="store_true", help="print each plan's relative error vs the dense kernel")
    parser.add_argument("--text", type=int, default=0, help="text tokens joined after the video tokens (0: none)")
    args = parser.parse_args()
    small_shapes(args)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kernel = make_kernel(args.kernel, device, flex_options=args.flex_options)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; kernel: {kernel.name} "
          f"{args.flex_options if args.flex_options is not None else '(its default options)'}; "
          f"{args.heads} heads x {args.head_dim}, {args.grid[0]}x{args.grid[1]} tokens/frame, {args.text} text tokens, {dtype}")
    rows = []
    for frames in args.frames:
        layout = TokenLayout(frames, *args.grid, args.native)
        tokens = layout.num_tokens + args.text
        q, k, v = (torch.randn(1, tokens, args.heads, args.head_dim, device=device, dtype=dtype) for _ in range(3))
        sdpa_ms = time_ms(lambda: F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)),
                          repeat=args.repeat)
        row = [frames, tokens, sdpa_ms]
        for name, methods in plans_for(layout).items():
            plan = build_plan(layout, methods)
            if args.text:
                ms = time_ms(lambda: run_joint_plan(q, k, v, plan, args.text, text_at_end=True, kernel=kernel), repeat=args.repeat)
            else:
                ms = time_ms(lambda: run_plan(q, k, v, plan, kernel), repeat=args.repeat)
            if hasattr(kernel, "pick"):
                video = slice(0, layout.num_tokens)  # the tokens the plan runs on (text tokens follow them)
                picked = kernel.pick(q[:, video].transpose(1, 2), k[:, video].transpose(1, 2), plan).name
                print(f"{frames} latent frames, {name}: {picked} kernel")
            row += [ms, ms / sdpa_ms]
            if args.check and not args.text:
                ref = run_plan(q.float(), k.float(), v.float(), plan, DenseKernel()).double()
                err = (run_plan(q, k, v, plan, kernel).double() - ref).norm() / ref.norm()
                print(f"{frames} latent frames, {name}: relative error vs dense float32 {err.item():.2e}", flush=True)
        rows.append(row)
        print(f"{frames} latent frames: " + ", ".join(f"{x:.3g}" for x in row[2:]), flush=True)
        del q, k, v
    print_table(["latent frames", "tokens", "SDPA ms", "decay ms", "decay / SDPA", "fusion3 ms", "fusion3 / SDPA",
                 "both ms", "both / SDPA"], rows)


if __name__ == "__main__":
    main()
