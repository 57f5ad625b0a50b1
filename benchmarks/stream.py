"""Streaming stays flat: per-chunk wall time and memory for chunks 1..N.

    python benchmarks/stream.py --chunks 200                       # embedded default model, full pipeline, CPU
    python benchmarks/stream.py --wan13b --chunks 200 --steps 4    # Wan2.1-1.3B-shaped transformer (random weights), CUDA
    python benchmarks/stream.py --wan13b --chunks 40 --sinks 3 --window 6 --decode [--overlap]   # + VAE, LongLive's 12 frames
    python benchmarks/stream.py --wan13b --chunks 40 --sinks 3 --window 6 --decode --compile    # blocks and decoder compiled
    python benchmarks/stream.py --wan13b --chunks 40 --sinks 3 --window 6 --decode --cudnn-benchmark  # cuDNN's timed conv algorithms
    python benchmarks/stream.py --wan13b --chunks 40 --sinks 3 --window 6 --decode --contiguous-decoder  # NCDHW weights
    python benchmarks/stream.py --model FOLDER --context cache     # any local pipeline folder (e.g. two experts), CPU
    python benchmarks/stream.py --model LTX_FOLDER --chunk 1       # LTX-Video / HunyuanVideo (re-noised context)
    python benchmarks/stream.py --method fifo --chunks 200         # diagonal denoising (vidlong.DiagonalDenoising())
    python benchmarks/stream.py --video long.mp4 --chunks 100      # redrawing a video chunk by chunk (strength 0.8)
    python benchmarks/stream.py --wan13b --method fifo --chunks 20 --decode   # its forwards at Wan2.1-1.3B dims, CUDA

Prints per-chunk percentiles and the ratios median(chunks 150-200) / median(chunks 20-50) for time and
for memory (process RSS on CPU; peak CUDA memory allocated during the chunk on GPU). Targets: <= 1.10
for time, <= 1.05 for memory. Chunk ranges scale down with --chunks.
"""
from __future__ import annotations

import argparse
import statistics
import time

import psutil
import torch

from common import print_table


def wan13b_transformer():
    """A Wan2.1-1.3B-shaped transformer with random weights (seed 0), bf16, on CUDA."""
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(num_attention_heads=12, attention_head_dim=128, num_layers=30, ffn_dim=8960,
                                 text_dim=4096).to("cuda", torch.bfloat16).eval()


def wan13b_chunks(chunks: int, steps: int, height: int, width: int, sinks: int = 3, window: int = 15,
                  decode: bool = False, overlap: bool = False, compile: bool = False,
                  contiguous_decoder: bool = False, phases: list = None):
    """Transformer-only stream at Wan2.1-1.3B dims: `steps` denoising forwards + one K/V-writing forward
    per chunk of 3 latent frames with `sinks` + `window` cached frames (3 + 15: 21 latent frames in all;
    LongLive: 3 + 6). With `decode`, a Wan2.1-shaped VAE (random weights, bf16) decodes each chunk as a
    stream does; with `overlap`, chunk i decodes on a second CUDA stream while chunk i+1 denoises; with
    `compile`, every transformer block (diffusers' `compile_repeated_blocks`) and the VAE's decoder are
    compiled by Inductor (the first chunks include the compilation); with `contiguous_decoder`, the
    decoder keeps its weights' own layout instead of the streaming decoder's CUDA default (channels-last
    during each decode: cuDNN's NDHWC convolutions). Without `overlap`, each chunk's (transformer,
    decode) seconds by CUDA events are appended to `phases`."""
    from diffusers import AutoencoderKLWan

    from vidlong import apply
    from vidlong.attention.stream_attention import StreamContext
    from vidlong.vae_stream import StreamingWanDecoder

    model = wan13b_transformer()
    ctx = StreamContext(sinks=sinks, window=window)
    apply(model, native_frames=sinks + window + 3, stream=ctx)
    vae = AutoencoderKLWan().to("cuda", torch.bfloat16).eval() if decode else None
    decoder = StreamingWanDecoder(vae, channels_last=not contiguous_decoder) if decode else None
    if compile:  # a graph per cache fill state and writing flag (about 10), the same for every layer
        torch._dynamo.config.recompile_limit = 32
        model.compile_repeated_blocks()
        if decoder is not None:
            decoder.vae.decoder.compile()
    side = torch.cuda.Stream() if overlap else None
    text = torch.randn(1, 512, 4096, device="cuda", dtype=torch.bfloat16)
    shape = (1, 16, 3, height // 8, width // 8)
    pending = None
    sync = torch.cuda.current_stream().synchronize if overlap else torch.cuda.synchronize  # overlap: not the decode
    for index in range(chunks):
        sync()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        events[0].record()
        with torch.no_grad():
            x = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
            for t in torch.linspace(1000, 250, steps):
                x = x - 0.1 * model(x, torch.tensor([float(t)], device="cuda"), text, return_dict=False)[0]
            ctx.writing = True
            model(x, torch.tensor([0.0], device="cuda"), text, return_dict=False)
            ctx.writing = False
            events[1].record()
            if decoder is not None and side is None:
                decoder.decode(x)
            elif decoder is not None:
                if pending is not None:
                    torch.cuda.current_stream().wait_stream(side)
                side.wait_stream(torch.cuda.current_stream())
                x.record_stream(side)  # its memory is not reused while the side stream reads it
                with torch.cuda.stream(side):
                    pending = decoder.decode(x)
            events[2].record()
        sync()
        if phases is not None and side is None:
            phases.append((events[0].elapsed_time(events[1]) / 1e3, events[1].elapsed_time(events[2]) / 1e3))
        frames = 4 * 3 - (3 if index == 0 and decoder is not None else 0)
        yield time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**20, frames


def wan13b_fifo_chunks(chunks: int, height: int, width: int, decode: bool = False, guidance: bool = True,
                       native: int = 21, phases: list = None):
    """The forwards a stream by diagonal denoising (`vidlong.DiagonalDenoising()`: 3 partitions, one sink)
    makes per chunk of 3 latent frames, at Wan2.1-1.3B dims (random weights, bf16): per latent frame, one
    stock forward of the `native` window (sink + 20 queue frames, a timestep per token) for each of the 3
    partitions, batch 2 with classifier-free guidance; with `decode`, a Wan2.1-shaped VAE decodes each
    chunk. The queue's bookkeeping (a few tensor copies) is left out. (transformer, decode) seconds per
    chunk by CUDA events go to `phases`."""
    from diffusers import AutoencoderKLWan

    from vidlong import DiagonalDenoising
    from vidlong.vae_stream import StreamingWanDecoder

    model = wan13b_transformer()
    decoder = StreamingWanDecoder(AutoencoderKLWan().to("cuda", torch.bfloat16).eval()) if decode else None
    batch, partitions = 2 if guidance else 1, DiagonalDenoising().partitions
    text = torch.randn(batch, 512, 4096, device="cuda", dtype=torch.bfloat16)
    window = torch.randn(batch, 16, native, height // 8, width // 8, device="cuda", dtype=torch.bfloat16)
    per_token = torch.rand(batch, native * (height // 16) * (width // 16), device="cuda") * 1000
    for index in range(chunks):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        events[0].record()
        with torch.no_grad():
            for _ in range(3 * partitions):
                model(window, per_token, text, return_dict=False)
            events[1].record()
            if decoder is not None:
                decoder.decode(window[:1, :, :3].float())
            events[2].record()
        torch.cuda.synchronize()
        if phases is not None:
            phases.append((events[0].elapsed_time(events[1]) / 1e3, events[1].elapsed_time(events[2]) / 1e3))
        yield time.perf_counter() - start, torch.cuda.max_memory_allocated() / 2**20, 4 * 3 - (3 if index == 0 else 0)


def pipeline_chunks(model, chunks: int, steps, context=None, sampler=None, guidance=None, chunk=None, dtype=None,
                    method: str = "chunked", device: str = "cpu", video=None, strength=None):
    """A pipeline's own stream (`video`: redrawing that file chunk by chunk, its first `chunks`)."""
    from vidlong import DiagonalDenoising, Streaming, load_pipeline

    pipe = load_pipeline(model, device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    process = psutil.Process()
    start = time.perf_counter()
    streaming = DiagonalDenoising() if method == "fifo" else Streaming(
        steps=steps, context=context, sampler=sampler, **({"chunk": chunk} if chunk else {}))
    redraw = dict(video=video, strength=strength) if video else {}
    for chunk in pipe.stream("a red circle and a blue square", streaming=streaming, chunks=chunks, guidance=guidance, **redraw):
        now = time.perf_counter()
        memory = process.memory_info().rss if device == "cpu" else torch.cuda.max_memory_allocated()
        yield now - start, memory / 2**20, len(chunk.frames)
        if device != "cpu":
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=200)
    parser.add_argument("--model", default=None, help="pipeline folder (default: the embedded model)")
    parser.add_argument("--method", default="chunked", choices=["chunked", "fifo"],
                        help="fifo: diagonal denoising (the Streaming options do not apply)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda (the pipeline's; --wan13b is always CUDA)")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps per chunk")
    parser.add_argument("--context", default=None, choices=["cache", "renoise"], help="Streaming.context (default: the model's)")
    parser.add_argument("--sampler", default=None, choices=["scheduler", "causal"], help="Streaming.sampler (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="default: the model's stream guidance")
    parser.add_argument("--chunk", type=int, default=None, help="latent frames per chunk (default: Streaming's 3)")
    parser.add_argument("--video", default=None, help="redraw this video file chunk by chunk (pipe.stream(video=...))")
    parser.add_argument("--strength", type=float, default=None, help="with --video (default 0.8)")
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="weights' dtype (default float32)")
    parser.add_argument("--wan13b", action="store_true", help="Wan2.1-1.3B-shaped transformer on CUDA (random weights)")
    parser.add_argument("--size", type=int, nargs=2, default=[480, 832], help="pixels, with --wan13b")
    parser.add_argument("--sinks", type=int, default=3, help="with --wan13b")
    parser.add_argument("--window", type=int, default=15, help="with --wan13b (LongLive: --sinks 3 --window 6)")
    parser.add_argument("--decode", action="store_true", help="with --wan13b: a Wan2.1-shaped VAE decodes each chunk")
    parser.add_argument("--overlap", action="store_true", help="with --decode: decode on a second CUDA stream")
    parser.add_argument("--compile", action="store_true", help="with --wan13b: compile the blocks (and the decoder)")
    parser.add_argument("--contiguous-decoder", action="store_true",
                        help="with --decode: the VAE's convolution weights in their own layout, not channels-last")
    parser.add_argument("--cudnn-benchmark", action="store_true",
                        help="with --wan13b: torch.backends.cudnn.benchmark (cuDNN picks the VAE's convolution algorithms by timing)")
    args = parser.parse_args()
    phases = []
    if args.wan13b and args.method == "fifo":
        rows = wan13b_fifo_chunks(args.chunks, *args.size, args.decode, args.guidance != 1.0, phases=phases)
        memory_name = "peak CUDA MiB"
    elif args.wan13b:
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        rows = wan13b_chunks(args.chunks, args.steps or 4, *args.size, args.sinks, args.window, args.decode, args.overlap,
                             args.compile, args.contiguous_decoder, phases)
        memory_name = "peak CUDA MiB"
    else:
        rows = pipeline_chunks(args.model, args.chunks, args.steps, args.context, args.sampler, args.guidance, args.chunk,
                               getattr(torch, args.dtype) if args.dtype else None, args.method, args.device, args.video,
                               args.strength)
        memory_name = "RSS MiB" if args.device == "cpu" else "peak CUDA MiB"
    seconds, memory, frames = [], [], 0
    for i, (sec, mem, n) in enumerate(rows, 1):
        seconds.append(sec)
        memory.append(mem)
        frames += n
        if i % 25 == 0 or i == args.chunks or args.chunks <= 50:  # short runs: every chunk
            print(f"chunk {i}: {sec * 1e3:.0f} ms, {mem:.0f} {memory_name}", flush=True)
    n = len(seconds)
    early = slice(n // 10, n // 4)           # chunks 20-50 of 200
    late = slice(3 * n // 4, n)              # chunks 150-200 of 200
    med = lambda xs, s: statistics.median(xs[s])
    print_table(["chunks", "median s/chunk (early)", "median s/chunk (late)", "time ratio", f"{memory_name} early",
                 f"{memory_name} late", "memory ratio", "pixel frames / s"],
                [[n, med(seconds, early), med(seconds, late), med(seconds, late) / med(seconds, early),
                  med(memory, early), med(memory, late), med(memory, late) / med(memory, early), frames / sum(seconds)]])
    if phases:
        print_table(["late chunks", "median transformer s/chunk", "median decode s/chunk", "pixel frames / s (late median)"],
                    [[len(phases[late]), med([p[0] for p in phases], late), med([p[1] for p in phases], late),
                      12 / med(seconds, late)]])


if __name__ == "__main__":
    main()
