"""One denoising forward of a real-dimension Wan transformer (random weights, bf16) with each method,
as time and peak GPU memory ratios to the stock forward; or of LTX-2's (``--shape ltx2``: audio and video).

    python benchmarks/step.py                                  # Wan2.1-1.3B shapes, 480x832, 1x/2x/4x/8x
    python benchmarks/step.py --shape 14b --ratios 1 2         # 14B shapes (40 heads x 128, 40 layers)
    python benchmarks/step.py --small                          # CPU-sized smoke run
    python benchmarks/step.py --offload                        # weights in CPU memory, blocks to the GPU in turn
    python benchmarks/step.py --compile --ratios 2 4           # each block compiled (diffusers' compile_repeated_blocks)
    python benchmarks/step.py --shape default --native 9 --size 128 128 --ratios 4 8   # the embedded model's shape (CPU)
    python benchmarks/step.py --shape 14b --ratios 2 4 --estimate-only    # vidlong.estimate's activations, no model built
    python benchmarks/step.py --shape ltx2 --native 61 --size 512 768 --ratios 1 2   # LTX-2 19B, 20 s at 24 fps native
    python benchmarks/step.py --shape ltx --native 10 --size 512 704 --ratios 1 2 4   # LTX-Video 13B, its long call's window

Methods: stock, UltraViCo, FreeLong++ and both, with the shipped preset of each length ("2x", "4x",
"8x", "16x"; the defaults at 1x), applied by `vidlong.apply` with the kernel "auto" picks. Native window:
`--native` latent frames (21: Wan2.1's 81 pixel frames). The text input is 512 tokens of the 4096-wide T5 states.
LTX-2 (`LTX2VideoTransformer3DModel`'s defaults: 48 layers, video 32 heads x 128, audio 32 x 64, 18.9 B parameters):
128-channel latents packed at 32x spatial compression, an audio track as long as the video (25 latent frames a
second at 24 fps), 1024 text tokens of the connectors' 3840-wide states; the methods act on its video self-attention.
LTX-Video 0.9.8 13B (``--shape ltx``: 48 layers, 32 heads x 128): 128-channel latents packed at 32x spatial compression,
128 text tokens of T5's 4096-wide states.
"""
from __future__ import annotations

import argparse

import torch
from diffusers import LTX2VideoTransformer3DModel, LTXVideoTransformer3DModel, WanTransformer3DModel

import vidlong
from common import print_table, time_ms
from vidlong.methods import methods_for, preset_names

#: transformer configs (diffusers' WanTransformer3DModel arguments)
SHAPES = {
    "1.3b": dict(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30),
    "14b": dict(num_attention_heads=40, attention_head_dim=128, ffn_dim=13824, num_layers=40),
    "default": dict(num_attention_heads=5, attention_head_dim=64, ffn_dim=1024, num_layers=8),  # the embedded model's
    "small": dict(num_attention_heads=2, attention_head_dim=32, ffn_dim=64, num_layers=2),
    "ltx2": {},  # LTX2VideoTransformer3DModel's defaults: LTX-2's 19B
    # LTX-Video 0.9.8 13B (LTXVideoTransformer3DModel; its long multi-prompt pipeline's in diffusers' docs)
    "ltx": dict(num_attention_heads=32, attention_head_dim=128, cross_attention_dim=4096, num_layers=48),
}
#: the classes the non-Wan shapes build (their defaults filled in by `SHAPES`)
OTHER_CLASSES = {"ltx2": LTX2VideoTransformer3DModel, "ltx": LTXVideoTransformer3DModel}
#: LTX-2's audio latent frames per second of video (16 kHz audio, hop 160, 4x in time)
LTX2_AUDIO_PER_SECOND = 25
METHODS = ("none", "ultravico", "freelong", "both")


def build(shape: str, device: torch.device, dtype: torch.dtype, offload: bool = False,
          layers: int | None = None) -> WanTransformer3DModel:
    """A random-weight transformer of `shape` (with `layers` blocks instead of the shape's own, where given),
    made directly in `dtype` on `device`; with `offload`, made in CPU memory and run with diffusers' group
    offloading (one block on `device` at a time)."""
    config = {**SHAPES[shape], **({"num_layers": layers} if layers else {})}
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("cpu") if offload else device:
            model = OTHER_CLASSES[shape](**config) if shape in OTHER_CLASSES else WanTransformer3DModel(
                in_channels=16, out_channels=16, text_dim=4096, freq_dim=256, cross_attn_norm=True, **config)
    finally:
        torch.set_default_dtype(previous)
    if offload:
        model.enable_group_offload(onload_device=device, offload_type="block_level", num_blocks_per_group=1)
    return model.eval().requires_grad_(False)


def wan_forward(model, latents: torch.Tensor, text: torch.Tensor):
    """One Wan forward (no grad) of `latents` ``[1, 16, F, h, w]`` with `text` ``[1, 512, 4096]`` at timestep 500."""
    def forward():
        with torch.no_grad():
            model(latents, torch.tensor([500], device=latents.device), text, return_dict=False)
    return forward


def ltx2_forward(model, frames: int, size, fps: float, device: torch.device, dtype: torch.dtype):
    """One LTX-2 forward (no grad) over `frames` latent frames at `size` pixels and its audio, as `LTX2Pipeline` calls
    it (one sample, seeded inputs)."""
    gen = torch.Generator().manual_seed(0)
    h, w = size[0] // 32, size[1] // 32
    audio = round((frames - 1) * 8 / fps * LTX2_AUDIO_PER_SECOND) + 1
    inputs = dict(hidden_states=torch.randn(1, frames * h * w, 128, generator=gen),
                  audio_hidden_states=torch.randn(1, audio, 128, generator=gen),
                  encoder_hidden_states=torch.randn(1, 1024, 3840, generator=gen),
                  audio_encoder_hidden_states=torch.randn(1, 1024, 3840, generator=gen))
    inputs = {name: x.to(device, dtype) for name, x in inputs.items()}
    t = torch.tensor([500.0], device=device)

    def forward():
        with torch.no_grad():
            model(**inputs, timestep=t, sigma=t, num_frames=frames, height=h, width=w, fps=fps, audio_num_frames=audio,
                  return_dict=False)
    return forward


def ltx_forward(model, frames: int, size, device: torch.device, dtype: torch.dtype):
    """One LTX-Video forward (no grad) over `frames` latent frames at `size` pixels (128-channel latents packed at 32x
    spatial compression) with 128 text tokens of T5's 4096-wide states, as its pipelines call it (one sample, seeded
    inputs, its RoPE scaled for 8x in time and 32x in space at 25 fps)."""
    gen = torch.Generator().manual_seed(0)
    h, w = size[0] // 32, size[1] // 32
    inputs = dict(hidden_states=torch.randn(1, frames * h * w, 128, generator=gen),
                  encoder_hidden_states=torch.randn(1, 128, 4096, generator=gen))
    inputs = {name: x.to(device, dtype) for name, x in inputs.items()}
    mask = torch.ones(1, 128, device=device, dtype=torch.long)

    def forward():
        with torch.no_grad():
            model(**inputs, timestep=torch.tensor([500.0], device=device), encoder_attention_mask=mask, num_frames=frames,
                  height=h, width=w, rope_interpolation_scale=(8 / 25, 32, 32), return_dict=False)
    return forward


def step_inputs(ratios, native: int, size, device: torch.device, dtype: torch.dtype):
    """Per ratio: (latent frames, latents ``[1, 16, F, h, w]``, text states ``[1, 512, 4096]``, the ratio's
    preset name or None), seeded, the same in every process."""
    gen = torch.Generator().manual_seed(0)
    text = torch.randn(1, 512, 4096, generator=gen).to(device, dtype)
    for ratio in ratios:
        frames = ratio * native
        latents = torch.randn(1, 16, frames, size[0] // 8, size[1] // 8, generator=gen).to(device, dtype)
        yield frames, latents, text, f"{ratio}x" if f"{ratio}x" in preset_names() else None


def shape_arguments(doc: str, ratios: list[int]) -> argparse.ArgumentParser:
    """The command line shared by the step benchmarks: the transformer's shape and layers, the lengths, the
    frame size, the methods and the repeats."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--shape", default="1.3b", choices=list(SHAPES))
    parser.add_argument("--layers", type=int, help="blocks instead of the shape's own (a time-bounded run)")
    parser.add_argument("--ratios", type=int, nargs="+", default=ratios, help="lengths as multiples of --native")
    parser.add_argument("--native", type=int, default=21, help="the native window in latent frames (Wan2.1: 21)")
    parser.add_argument("--size", type=int, nargs=2, default=[480, 832], help="pixel height, width")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--small", action="store_true", help="tiny shapes for a CPU smoke run")
    return parser


def uncompile_blocks(model) -> None:
    """Undo `compile_repeated_blocks` (each block's `nn.Module.compile` wrapper), so that the next method
    compiles afresh with its own processors."""
    for block in blocks_of(model):
        block._compiled_call_impl = None


def blocks_of(model) -> list:
    """The transformer's blocks (Wan's ``blocks``, LTX-2's ``transformer_blocks``)."""
    return getattr(model, "blocks", None) or model.transformer_blocks


def print_estimates(args) -> None:
    """`vidlong.estimate.activation_bytes` of each (ratio, method) forward of `--shape` in bf16, GiB."""
    from vidlong.estimate import GIB, activation_bytes, attention_branches

    config = SHAPES[args.shape]
    dim = config["num_attention_heads"] * config["attention_head_dim"]
    rows = []
    for ratio in args.ratios:
        frames = ratio * args.native
        tokens = frames * (args.size[0] // 16) * (args.size[1] // 16)
        preset = f"{ratio}x" if f"{ratio}x" in preset_names() else None
        row = [frames, tokens]
        for method in args.methods:
            branches = attention_branches(methods_for(method, preset), frames, args.native)
            row.append(round(activation_bytes(tokens, dim, config["ffn_dim"], branches, 2) / GIB, 2))
        rows.append(row)
    print_table(["latent frames", "tokens", *(f"{m} GiB" for m in args.methods)], rows)


def main() -> None:
    parser = shape_arguments(__doc__, ratios=[1, 2, 4, 8])
    parser.add_argument("--offload", action="store_true", help="diffusers' group offloading, block by block (CUDA)")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile each block with the method applied (diffusers' compile_repeated_blocks); "
                             "prints the graph breaks")
    parser.add_argument("--estimate-only", action="store_true",
                        help="print vidlong.estimate's activation memory of each forward instead of running it (nothing is built)")
    args = parser.parse_args()
    native = args.native
    if args.small:
        args.shape, args.ratios, args.size, args.repeat, args.native = "small", [1, 2], [32, 32], 1, 3
        native = args.native
    if args.estimate_only:
        if args.shape in OTHER_CLASSES:
            parser.error("--estimate-only counts the Wan shapes (vidlong.estimate's rules of thumb were fitted to them)")
        print_estimates(args)
        return
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    model = build(args.shape, device, dtype, offload=args.offload, layers=args.layers)
    print(f"device: {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}; {args.shape} shapes "
          f"({len(blocks_of(model))} blocks, {sum(p.numel() for p in model.parameters()) / 1e9:.2f} B parameters), {args.size[0]}x{args.size[1]}, {dtype}", flush=True)
    rows = []
    for frames, latents, text, preset in step_inputs(args.ratios, native, args.size, device, dtype):
        cell = 32 if args.shape in OTHER_CLASSES else 16  # pixels per token: LTX's VAEs 32x, Wan's 8x with patch 2
        row, stock = [frames, frames * (args.size[0] // cell) * (args.size[1] // cell)], None
        for method in args.methods:
            vidlong.apply(model, *methods_for(method, preset), native_frames=native)
            if args.compile:
                torch._dynamo.reset()
                torch._dynamo.utils.counters.clear()
                model.compile_repeated_blocks()

            forward = (ltx2_forward(model, frames, args.size, 24.0, device, dtype) if args.shape == "ltx2"
                       else ltx_forward(model, frames, args.size, device, dtype) if args.shape == "ltx"
                       else wan_forward(model, latents, text))

            forward()  # compiles the kernels of this length before timing or measuring memory
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            ms = time_ms(forward, warmup=0, repeat=args.repeat)
            peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
            breaks = sum(torch._dynamo.utils.counters["graph_break"].values()) if args.compile else 0
            vidlong.remove(model)
            if args.compile:
                uncompile_blocks(model)
            stock = stock or (ms, peak)
            row += [ms / 1e3, ms / stock[0], peak, peak / stock[1] if stock[1] == stock[1] else float("nan")]
            print(f"{frames} latent frames, {method}: {ms / 1e3:.3g} s, peak {peak:.3g} GiB"
                  + (f", {breaks} graph breaks" if args.compile else ""), flush=True)
        rows.append(row)
    header = ["latent frames", "tokens"]
    for method in args.methods:
        header += [f"{method} s", f"{method} / stock", f"{method} GiB", f"{method} mem / stock"]
    print_table(header, rows)


if __name__ == "__main__":
    main()
