"""An AnyFlow FAR pipeline folder of Wan2.1-1.3B shapes with random weights, and its own call's cost by length.

    python benchmarks/far_folder.py OUT                      # writes the folder (CUDA machine or CPU)
    python benchmarks/far_folder.py OUT --stock 21 42 84     # and times diffusers' own call at these latent frames (CUDA)
    python benchmarks/far_folder.py OUT --stock 21 42 --compiled   # its call with flex attention compiled, as vidlong runs it
    python benchmarks/stream.py --model OUT --device cuda --dtype bfloat16 --chunks 40    # vidlong's bounded stream

The folder: `AnyFlowFARTransformer3DModel` with its class defaults (the release's chunks 1 + 3x6 + 2, patch (1, 2, 2),
compressed patch (1, 4, 4), 3 full chunks) at Wan2.1-1.3B's width (30 layers, 12 heads x 128, FFN 8960), Wan2.1's VAE
(`AutoencoderKLWan`'s defaults), a one-layer UMT5 of width 4096 over the tests' word-level tokenizer, its flow-map sampler;
weights in bfloat16, random (seed 0): costs, not videos. `--stock` runs `AnyFlowFARPipeline`'s call (guidance 1, 4 steps,
latents out: the transformer's work alone) at each length, chunked 1 + 3k + 2, and prints its time and peak CUDA memory:
its cache is allocated for the whole video, so both grow with the length, where a stream's chunks stay flat.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build(out: Path) -> None:
    """Writes the folder (module docstring) to `out`."""
    from diffusers import AnyFlowFARPipeline, AnyFlowFARTransformer3DModel, AutoencoderKLWan, FlowMapEulerDiscreteScheduler
    from tiny_pipeline import tiny_tokenizer
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=4096, d_kv=64, d_ff=256, num_layers=1,
                                               num_heads=2))
    transformer = AnyFlowFARTransformer3DModel(num_attention_heads=12, attention_head_dim=128, ffn_dim=8960, num_layers=30)
    pipe = AnyFlowFARPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=AutoencoderKLWan(),
                              scheduler=FlowMapEulerDiscreteScheduler(shift=3.0))
    pipe.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    (out / "vidlong.yaml").write_text("name: anyflow-far-1.3b-random\nnative_frames: 21\nfps: 16\nheight: 480\nwidth: 832\n"
                                      "num_inference_steps: 4\nguidance_scale: 1.0\nstream_first_chunk: 1\n")


def stock_call(folder: Path, latent_frames: list, compiled: bool) -> None:
    """Prints diffusers' own call's seconds and peak CUDA memory at each of `latent_frames` (each 3k); `compiled`: within
    `vidlong.compiled_flex` (its flex attention compiled, as `vidlong generate` runs its call on CUDA)."""
    from contextlib import nullcontext

    from diffusers import AnyFlowFARPipeline

    from vidlong.compiled_flex import compiled_flex

    pipe = AnyFlowFARPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16, local_files_only=True).to("cuda")
    pipe.set_progress_bar_config(disable=True)
    print("| latent frames | pixel frames | chunks | seconds | peak CUDA GiB |\n|---|---|---|---|---|")
    for frames in latent_frames:
        partition = [1] + [3] * ((frames - 3) // 3) + [2]
        assert sum(partition) == frames, f"{frames} latent frames are not 1 + 3k + 2"
        for _ in range(2 if frames == latent_frames[0] else 1):  # the first length's first call warms up
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            with compiled_flex(torch.device("cuda")) if compiled else nullcontext():
                pipe("a red ball", num_frames=4 * (frames - 1) + 1, num_inference_steps=4, chunk_partition=partition,
                     output_type="latent", generator=torch.Generator("cuda").manual_seed(0))
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
        print(f"| {frames} | {4 * (frames - 1) + 1} | {len(partition)} | {seconds:.2f} | "
              f"{torch.cuda.max_memory_allocated() / 2**30:.2f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--stock", type=int, nargs="*", default=[], help="latent frames (3k) to time diffusers' call at")
    parser.add_argument("--compiled", action="store_true", help="with --stock: its flex attention compiled (vidlong's way)")
    args = parser.parse_args()
    if not (args.out / "model_index.json").exists():
        build(args.out)
    if args.stock:
        stock_call(args.out, args.stock, args.compiled)


if __name__ == "__main__":
    main()
