"""The fused kernel's low-precision paths: time against stock SDPA and error against float64.

    python benchmarks/quantized.py                       # Wan2.1-1.3B shapes, 21/42/84 latent frames (GPU)
    python benchmarks/quantized.py --small               # tiny shapes: a quick check (GPU)
    python benchmarks/quantized.py --inputs outliers     # keys with a mean and outlier channels

For each plan (UltraViCo's decay, 3-branch FreeLong++ fusion, both; as `benchmarks/attention.py`)
and each fused kernel ("fused" in the inputs' dtype, "fused-fp8", "fused-int8", and with "-fp8pv"):
the time as a ratio to `F.scaled_dot_product_attention` on the same bf16 inputs, and the relative
error ``|out - ref| / |ref|`` of the fused plan's output (bands fused) against the dense kernel in
float64 on the same inputs. The row "int8 reference recipe" is the published UltraViCo kernel's
quantization emulated: keys smoothed, Q and K rounded to int8 per 128-token block and dequantized,
then attention in float64 (its fp16 P·V would add a little to this error, so the row is a lower
bound of that kernel's error). Prints a Markdown table; ``--json`` also writes the rows.
"""
from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F

from attention import plans_for
from common import add_attention_shape_arguments, print_table, small_shapes, time_ms
from vidlong.attention.execute import FUSED_KERNELS, make_kernel, run_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.kernels.quantize import dequantize_token_blocks, quantize_token_blocks
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

#: the published kernel's quantization block (tokens), for the emulated reference row
REFERENCE_BLOCK = 128


def make_inputs(tokens: int, heads: int, dim: int, kind: str, device, dtype, seed: int = 0):
    """``[1, N, H, D]`` query/key/value. "gaussian": unit normal; "outliers": per-channel scales
    (log-normal, 4 channels per head 8x larger) on queries and keys, and a mean key of norm ~sqrt(D),
    as the keys of trained transformers have (SageAttention's reason to smooth them)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    q, k, v = (torch.randn(1, tokens, heads, dim, generator=gen, device=device) for _ in range(3))
    if kind == "outliers":
        scale = torch.exp(0.5 * torch.randn(heads, dim, generator=gen, device=device))
        scale[:, :4] *= 8.0
        q, k = q * scale, k * scale + torch.randn(heads, dim, generator=gen, device=device)
    return q.to(dtype), k.to(dtype), v.to(dtype)


def reference_recipe_inputs(q, k):
    """The published INT8 kernel's Q and K, quantized and dequantized: ``[1, N, H, D]`` float64."""
    heads_first = [t.transpose(1, 2).double() for t in (q, k)]
    mean_k = heads_first[1].mean(dim=2)
    q8, q_scale = quantize_token_blocks(heads_first[0], REFERENCE_BLOCK, "int8")
    k8, k_scale = quantize_token_blocks(heads_first[1], REFERENCE_BLOCK, "int8", shift=mean_k)
    q_dq = dequantize_token_blocks(q8, q_scale, REFERENCE_BLOCK).double()
    k_dq = dequantize_token_blocks(k8, k_scale, REFERENCE_BLOCK).double() + mean_k[:, :, None, :]
    return q_dq.transpose(1, 2), k_dq.transpose(1, 2)


def relative_error(out: torch.Tensor, ref: torch.Tensor) -> float:
    return ((out.double() - ref).norm() / ref.norm()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_attention_shape_arguments(parser)
    parser.add_argument("--kernels", nargs="+", default=[n for n in FUSED_KERNELS if n != "fused-triton"],
                        choices=list(FUSED_KERNELS))
    parser.add_argument("--inputs", choices=("gaussian", "outliers"), default="gaussian")
    parser.add_argument("--no-error", action="store_true", help="time only (no float64 reference)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    small_shapes(args)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    kernels = {name: make_kernel(name, device) for name in args.kernels}
    reference = DenseKernel(compute_dtype=torch.float64, query_block=512)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; {args.heads} heads x "
          f"{args.head_dim}, {args.grid[0]}x{args.grid[1]} tokens/frame, {args.inputs} inputs, {dtype}", flush=True)
    rows = []
    for frames in args.frames:
        layout = TokenLayout(frames, *args.grid, args.native)
        q, k, v = make_inputs(layout.num_tokens, args.heads, args.head_dim, args.inputs, device, dtype)
        sdpa_ms = time_ms(lambda: F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)),
                          repeat=args.repeat)
        for plan_name, methods in plans_for(layout).items():
            plan = build_plan(layout, methods)
            ref = recipe_err = None
            if not args.no_error:
                ref = run_plan(q.double(), k.double(), v.double(), plan, reference)
                q_int8, k_int8 = reference_recipe_inputs(q, k)
                recipe_err = relative_error(run_plan(q_int8, k_int8, v.double(), plan, reference), ref)
                rows.append({"frames": frames, "plan": plan_name, "kernel": "int8 reference recipe (emulated)",
                             "ms": None, "vs_sdpa": None, "error": recipe_err})
            for name, kernel in kernels.items():
                ms = time_ms(lambda: run_plan(q, k, v, plan, kernel), repeat=args.repeat)
                err = None if ref is None else relative_error(run_plan(q, k, v, plan, kernel), ref)
                rows.append({"frames": frames, "plan": plan_name, "kernel": name, "ms": ms,
                             "vs_sdpa": ms / sdpa_ms, "error": err})
                print(f"{frames} frames, {plan_name}, {name}: {ms:.2f} ms ({ms / sdpa_ms:.3f}x SDPA {sdpa_ms:.2f} ms)"
                      + ("" if err is None else f", error {err:.2e} (int8 recipe {recipe_err:.2e})"), flush=True)
            del ref
        del q, k, v
    print_table(["latent frames", "plan", "kernel", "ms", "/ SDPA", "rel. error vs float64"],
                [[r["frames"], r["plan"], r["kernel"], "" if r["ms"] is None else r["ms"],
                  "" if r["vs_sdpa"] is None else r["vs_sdpa"], "" if r["error"] is None else f"{r['error']:.2e}"]
                 for r in rows])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"inputs": args.inputs, "dtype": str(dtype), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
