"""Before a run: about how much compute and memory it needs, and whether it fits this machine.

The compute is the transformer's FLOPs, counted from its config over the tokens a forward attends over (`forward_tokens`:
the video's and those its call appends after them, LTX-2's and LTX-2.5's keyframes, an IC-LoRA's or HDR reference video's),
and the latent frames the VAE decodes;
`Pace` turns both into seconds at the rates the last finished run on the same device achieved (on a
small model the decode can be most of a run, so it has a pace of its own). The memory is what the run needs beyond the loaded weights: the larger of one
forward's live activations plus, for methods run by the dense kernel, its ``[1, H, 2048, N]`` float32
logits per branch, and the decoded video. Activations (batch 1, as the Wan pipelines run guidance as
two forwards; a pipeline's `forwards_per_step` counts its own) are the larger of two phases, rules of
thumb fitted to the measured peaks of Wan 1.3B and 14B shapes at 1x-8x (4-16% below them,
`benchmarks/RESULTS.md`): the feed-forward's, per token eight hidden vectors and one feed-forward
vector, and the self-attention's, six hidden vectors and one output per branch in the model's dtype plus, with FreeLong++'s fusion, one more vector per
branch and one more in the model's dtype (its differences and products). The decoded video: with a Wan VAE decoded in
chunks (`VidlongPipelineMixin.decode_uint8`) the uint8 video plus two float32 copies of one chunk plus the decoder's own
working memory, which does not grow with the length (`wan_decoder_bytes`), else float32 from the VAE, a
float32 and a uint8 copy (those VAEs' own working memory not counted: not measured); a video upsampled by LTX-Video's or
LTX-2's latent upsampler is decoded whole at its size (the upsampler's scale read from its config), where a refine pass
also runs its steps; the upsampler's own compute and that decode's time are not counted (`upsampled_text` says so).
LTX-2.5's temporal rounds (`GenerateRequest.temporal_refine`) add each tile's forwards at its doubled canvas (its tokens the
largest forward's where they are more), the video they make (``2^r`` times the frames) decoded whole, and the temporal
upsampler's weights from its folder before it loads (`vidlong.families.ltx2_temporal.rounds_plan`); the upsampler's
activations and the prompt's encoding again each round are not counted.
Kandinsky 6's video super-resolution is counted alike: the uint8 video at the size it makes and two float32 copies of one
of its windows (its blend's sums, its call's output), beside its call's own decode at the made size; its compute and time
not.
LTX-2.5's diffusion decoder (`GenerateRequest.decoder`) adds its weights where the pipeline does not hold them yet
(`vidlong.families.ltx2_decoder.decoder_weight_bytes`, from its config) and what its diffusion stage holds at its largest
phase (`vidlong.families.ltx2_decoder.decoder_bytes`: its context, pixels and a block's attention or feed-forward, the
block mask vidlong builds, uncompiled the N x N scores too) to the decode's memory; its compute and time are not counted.
Both are estimates, meant to tell a 10-second run from a 10-minute one and a fitting run from one
that will not fit; `check_fits` refuses only a run estimated above the free memory.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional

import torch

from .attention.execute import FLEX_MIN_TOKENS
from .attention.layout import TokenLayout
from .errors import VidlongError
from .generate import GenerateRequest, steps_of
from .methods import WINDOW_CONTEXTS, DiagonalDenoising, SpectralFusion, methods_for
from .schedulers.diagonal import window_spans
from .models import pixel_frames
from .pipeline import DECODE_CHUNK
from .streaming import TEXT_TOKENS

#: query rows per block of the dense kernel (its logits are ``[B, H, DENSE_QUERY_BLOCK, N]``)
DENSE_QUERY_BLOCK = 2048
#: the Wan VAE decoder's working memory, whatever the length (its causal convolutions' cache of the frames before and a
#: frame's activations), in values per pixel of a frame per channel of its decoder's base width: measured 3.10 GiB
#: beyond the loaded model for Wan2.1's VAE (base width 96) in bfloat16 at 480x832 on an H200 (benchmarks/RESULTS.md,
#: "Peak memory of decoding a long video"): 4,170 values a pixel. On the CPU the default model's decode measured more
#: (RAM held by the allocator and oneDNN: 387 MiB at 128x128, 0.66 GiB at 256x256, with base width 24)
WAN_DECODER_VALUES_PER_PIXEL_AND_CHANNEL = 43.5
GIB = 1024**3


@dataclass(frozen=True)
class RunCost:
    """flops: the transformer's FLOPs over the whole run; peak_bytes: memory needed beyond the loaded
    weights; device: where it runs; video_bytes: the finished video (uint8); decoded_frames: latent
    frames the VAE decodes (at the made size); upsampled: (scale, height, width in pixels) of a video decoded after
    LTX-Video's or LTX-2's latent upsampler (`GenerateRequest.upsample`), or made by Kandinsky 6's video
    super-resolution (where `super_resolution`), else None; decoder: whether LTX-2.5's diffusion decoder decodes it."""

    flops: float
    peak_bytes: int
    device: torch.device
    video_bytes: int = 0
    decoded_frames: int = 0
    upsampled: Optional[tuple] = None
    super_resolution: bool = False
    decoder: bool = False


def together(costs: list[RunCost]) -> RunCost:
    """The cost of runs made one after another whose videos are all kept (a comparison)."""
    peak = max(c.peak_bytes for c in costs) + sum(c.video_bytes for c in costs[:-1])
    return RunCost(sum(c.flops for c in costs), peak, costs[0].device, sum(c.video_bytes for c in costs),
                   sum(c.decoded_frames for c in costs), costs[0].upsampled, costs[0].super_resolution, costs[0].decoder)


def run_cost(pipe, request: GenerateRequest, latent_frames: int, diagonal: Optional[DiagonalDenoising] = None) -> RunCost:
    """The cost of generating `request` (`latent_frames` long) with `pipe`; `diagonal`: method fifo's settings
    (`generate`'s ``diagonal=``; default: the method's), whose guidance by partition sets the queue's forwards."""
    spec, config = pipe.spec, pipe.experts()[0].config
    height, width = request.height or spec.height, request.width or spec.width  # an image's size: no larger in area
    guidance = spec.guidance_scale if request.guidance is None else request.guidance
    forwards = pipe.forwards_per_step(guidance)  # samples a step: Wan's guidance two, LTX-2's three guidances four
    geometry = pipe.geometry()
    pt, ph, pw = geometry.patch
    methods = methods_for(request.method, request.preset)
    diagonal = next((diagonal or m for m in methods if isinstance(m, DiagonalDenoising)), None)
    # forwards' tokens and count: diagonal denoising runs only native windows (the native video's steps, then one per
    # partition per frame made), every other method `steps` forwards of the whole video and what its call appends
    # (`forward_tokens`)
    iterations = latent_frames - diagonal.sink_frames if diagonal else 0  # the queue's, `forwards_per_frame` forwards each
    # of every native video (a timeline's segments too)
    native_steps = steps_of(request, spec, latent_frames, diagonal, pipe.continues_video or pipe.edits_video) - iterations
    if diagonal:
        tokens = video_tokens(geometry, spec.native_frames, height, width)
    else:
        tokens = forward_tokens(pipe, request, latent_frames, height, width)
    heads, dim, ffn, layers = transformer_sizes(config)
    vace = len(config.get("vace_layers") or ())  # Wan VACE: a VACE block per listed layer, over the control video's tokens
    blocks = layers + vace  # HunyuanVideo: dual- and single-stream blocks (`transformer_sizes`); Wan VACE: its VACE blocks
    branches = 1 if diagonal else attention_branches(methods, latent_frames // pt, max(1, spec.native_frames // pt))

    per_forward = block_flops(tokens, dim, ffn, branches) * blocks * forwards
    queue_forwards = diagonal.forwards_per_frame(spec.native_frames) * iterations if diagonal else 0
    by_queue_frame = diagonal.queue_guidance(spec.native_frames) if diagonal else None
    if by_queue_frame:  # a window whose queue frames are all at guidance 1 runs its prompt alone
        spans = window_spans(len(by_queue_frame), diagonal.window(spec.native_frames), diagonal.lookahead)
        batches = [2 if max(by_queue_frame[max(first, 0):stop]) > 1 else 1 for first, _, stop in spans]
        queue_forwards *= sum(batches) / (forwards * len(spans))
    flops = per_forward * (native_steps + queue_forwards)
    from .validate import SUPER_RESOLUTION_FAMILY, limits_for_pipeline, upsampler_folder
    from .families.ltx2_decoder import check_decoder

    limits = limits_for_pipeline(pipe)
    upsampler = upsampler_folder(request.upsample, limits)
    super_resolution = upsampler is not None and limits.family == SUPER_RESOLUTION_FAMILY  # on the decoded frames, by windows
    upsampled = upsampled_size(pipe, upsampler, super_resolution, height, width, request.upsample_scale)
    if upsampled is not None and not super_resolution:  # the video decoded whole at the upsampler's size (`vidlong.upsample`)
        height, width = upsampled[1:]
    if request.refine and upsampled is not None:  # stage 2 at that size (`vidlong.refine`)
        from .refine import refine_settings, stage_steps

        settings = refine_settings(pipe.facts()["family"], request.refine_steps, request.refine_strength, guidance)
        refine_steps, refine_forwards = stage_steps(settings, forwards)
        tokens = video_tokens(geometry, latent_frames, height, width)  # its text- or image-to-video call: nothing appended
        flops += block_flops(tokens, dim, ffn, branches) * blocks * refine_forwards * refine_steps
    # a decode of a few latent frames at a time through Wan's VAE (FramePack's `decode_uint8` decodes the whole video, as its call)
    chunked = pipe.decodes_in_chunks() and pipe._wan_vae()
    made, whole_decode = pixel_frames(latent_frames, spec.temporal_ratio), not (chunked or diagonal) or upsampled is not None
    decoded = latent_frames
    if pipe.task == "animate":  # its call runs its steps for every segment, and keeps their decoded frames to the end
        from .animate import request_segments
        from .video_to_video import frame_count

        segments = request_segments(pipe, request, latent_frames)
        flops *= segments
        made, whole_decode, decoded = frame_count(request.pose_video, "pose_video"), True, segments * (latent_frames - 1)
    from .families.ltx2_temporal import rounds_plan

    rounds = rounds_plan(pipe, request, limits, latent_frames)  # LTX-2.5's temporal rounds (`temporal_refine`), else None
    if rounds is not None:  # each tile's forwards (the largest its activations); the video they make, decoded whole
        tiles = [(video_tokens(geometry, frames, height, width), attention_branches(methods, canvas // pt, spec.native_frames // pt))
                 for canvas, frames in rounds.tiles]
        flops += sum(block_flops(n, dim, ffn, b) * blocks * rounds.steps for n, b in tiles)
        tokens, branches = max(tokens, *(n for n, _ in tiles)), max(branches, *(b for _, b in tiles))
        made, decoded = rounds.frames, (rounds.frames - 1) // spec.temporal_ratio + 1

    itemsize = pipe.experts()[0].dtype.itemsize
    # Wan VACE builds every VACE block's hint (and keeps the control states) before its main blocks run
    activations = activation_bytes(tokens, dim, ffn, branches, itemsize) + (vace + 1 if vace else 0) * tokens * dim * itemsize
    dense = methods and not diagonal and (pipe.device.type != "cuda" or tokens < FLEX_MIN_TOKENS)  # where plans run the dense kernel
    logits = heads * min(DENSE_QUERY_BLOCK, tokens) * tokens * 4 * branches if dense else 0
    video = made * height * width * 3
    if not whole_decode:  # fifo decodes by chunks in every family (`decode_uint8`)
        chunk = min(video, pixel_frames(DECODE_CHUNK, spec.temporal_ratio) * height * width * 3)
        decode = video + 2 * 4 * chunk + (wan_decoder_bytes(pipe.vae, height, width) if chunked else 0)
    else:
        decode = video * (4 + 4 + 1)
    if rounds is not None:  # the temporal upsampler's weights, loaded beside the model for the rounds and held to the end
        activations, decode = activations + rounds.weights, decode + rounds.weights
    if super_resolution:  # the video made at the SR's size, a window of it in float (its sum, its call's output) at a time
        from .families.kandinsky6_sr import sr_settings

        window = min(made, sr_settings(upsampler)["window_frames"])
        video = made * upsampled[1] * upsampled[2] * 3
        decode = max(decode, video + window * upsampled[1] * upsampled[2] * 3 * (4 + 4))
    decoder = check_decoder(request, limits)
    if decoder is not None:  # its weights (unless loaded) and its diffusion stage's activations, beside the video
        from .compiled_flex import DEVICE_TYPES
        from .families.ltx2_decoder import decoder_bytes, decoder_loaded, decoder_weight_bytes

        # compiled where `decoded_video` runs it: on the execution device (CUDA under CPU offload too, `pipe.device` the CPU)
        compiled = torch.device(pipe._execution_device).type in DEVICE_TYPES
        dtype = pipe.transformer.dtype  # the decoder's, as `load_decoder` loads it
        decode += decoder_bytes(decoder, made, height, width, compiled=compiled, itemsize=dtype.itemsize)
        decode += 0 if decoder_loaded(pipe, decoder) else decoder_weight_bytes(decoder, dtype)
    return RunCost(flops, int(max(activations + logits, decode)), pipe.device, video, decoded, upsampled, super_resolution,
                   decoder is not None)


def upsampled_size(pipe, folder, super_resolution: bool, height: int, width: int,
                   scale: Optional[float] = None) -> Optional[tuple]:
    """(scale, height, width in pixels) of a `height` x `width` video decoded after the latent upsampler in `folder` (the
    request's, `vidlong.validate.upsampler_folder`), its scale read from the upsampler's config
    (`vidlong.upsample.spatial_scale`, no weights loaded); where `super_resolution` (Kandinsky 6's), the size its video
    super-resolution makes at `scale` (the request's ``upsample_scale``; None: its call's default),
    `vidlong.families.kandinsky6_sr.sr_side`; None without a folder."""
    from .upsample import spatial_scale, upsampled_side

    if folder is None:
        return None
    if super_resolution:
        from .families.kandinsky6_sr import call_default, sr_side, sr_spatial

        scale, spatial = call_default("resolution_scale") if scale is None else scale, sr_spatial(folder)
        return scale, sr_side(height, scale, spatial), sr_side(width, scale, spatial)
    scale, spatial = spatial_scale(folder), pipe.geometry().spatial
    return scale, upsampled_side(height, spatial, scale), upsampled_side(width, spatial, scale)


def upsampled_text(cost: RunCost) -> str:
    """What an estimate's output line says of an upsampled video (`RunCost.upsampled`): its decode's memory is counted, the
    upsampler's compute and the decode's time are not (neither is measured); of one LTX-2.5's diffusion decoder decodes
    (`RunCost.decoder`), likewise; empty without either."""
    if cost.decoder:
        return "; with LTX-2.5's diffusion decoder's weights and activations (its compute and time not counted)"
    if cost.upsampled is None:
        return ""
    scale, height, width = cost.upsampled
    if cost.super_resolution:
        return (f"; with Kandinsky 6's video super-resolution's {scale:g}x video at {width}x{height} (that video's memory "
                "and a window's in float counted; its compute and time not)")
    return (f"; with the latent upsampler's {scale:g}x video decoded at {width}x{height} (its memory counted; the "
            "upsampler's compute and that decode's time not)")


def block_flops(tokens: int, dim: int, ffn: int, branches: int) -> float:
    """One transformer block's FLOPs on `tokens` video tokens (hidden size `dim`, feed-forward `ffn`, `branches` attention
    branches): the self-attention's projections and its scores and values per branch, the cross-attention on
    `TEXT_TOKENS` text tokens, the feed-forward."""
    cross = 2 * 2 * tokens * dim * dim + 2 * 2 * TEXT_TOKENS * dim * dim + 2 * 2 * tokens * TEXT_TOKENS * dim
    return float(2 * 4 * tokens * dim * dim  # self-attention projections
                 + branches * 2 * 2 * tokens * tokens * dim  # self-attention scores and values, per branch
                 + cross  # cross-attention
                 + 2 * 2 * tokens * dim * ffn)  # feed-forward


def forward_tokens(pipe, request: GenerateRequest, latent_frames: int, height: int, width: int) -> int:
    """The tokens one forward of `pipe`'s call attends over for `request` made `latent_frames` long at `height` x `width`
    pixels: the video's grid (`VidlongPipelineMixin.forward_latent_frames`: LTX-2.5's padded canvas; Wan VACE's reference
    images a latent frame each before it) and the tokens its call appends after it
    (`VidlongPipelineMixin.appended_tokens`: LTX-2's and LTX-2.5's keyframes, LTX-2.5's keyframe slots, an IC-LoRA's or
    the HDR IC-LoRA's reference video at its downscale factor)."""
    leading = len(request.reference_images or ())
    geometry = pipe.geometry()
    grid = video_tokens(geometry, pipe.forward_latent_frames(latent_frames, request, geometry.temporal) + leading, height, width)
    return grid + pipe.appended_tokens(request, latent_frames, height, width)


def video_tokens(geometry, frames: int, height: int, width: int) -> int:
    """The transformer's video tokens for `frames` latent frames of `height` x `width` pixels (its VAE's and patch's
    factors, `geometry`; a grid its transformer pads to whole patches counts them)."""
    pt, ph, pw = geometry.patch
    return frames // pt * -(-(height // geometry.spatial) // ph) * -(-(width // geometry.spatial) // pw)


def transformer_sizes(config) -> tuple[int, int, int, int]:
    """(attention heads, width, feed-forward width, blocks over the video tokens) of a transformer's config in every
    family's spelling: ``num_attention_heads`` x ``attention_head_dim`` wide and ``num_layers`` blocks (HunyuanVideo's
    dual-stream ones, then its ``num_single_layers``), or Kandinsky 5's ``model_dim`` in heads of ``sum(axes_dims)``
    channels and ``num_visual_blocks``, or Sana-WM's ``hidden_size`` in heads of ``linear_head_dim`` channels, or Cosmos
    3's ``hidden_size`` in ``num_attention_heads`` and ``num_hidden_layers``; the feed-forward Wan's ``ffn_dim``, Kandinsky
    5's ``ff_dim``, Cosmos 3's ``intermediate_size``, else ``mlp_ratio`` (HunyuanVideo's; 4 where none is named) times the
    width."""
    if "model_dim" in config:
        dim = config["model_dim"]
        heads, layers = dim // sum(config["axes_dims"]), config["num_visual_blocks"]
    elif "linear_head_dim" in config:
        dim, layers = config["hidden_size"], config["num_layers"]
        heads = dim // config["linear_head_dim"]
    elif "num_hidden_layers" in config:
        heads, dim, layers = config["num_attention_heads"], config["hidden_size"], config["num_hidden_layers"]
    else:
        heads, layers = config["num_attention_heads"], config["num_layers"] + config.get("num_single_layers", 0)
        dim = heads * config["attention_head_dim"]
    ffn = (config.get("ffn_dim") or config.get("ff_dim") or config.get("intermediate_size")
           or int(config.get("mlp_ratio", 4.0) * dim))
    return heads, dim, ffn, layers


def wan_decoder_bytes(vae, height: int, width: int) -> int:
    """The working memory of a Wan VAE's decoder for frames of `height` x `width` pixels, in its dtype
    (`WAN_DECODER_VALUES_PER_PIXEL_AND_CHANNEL`)."""
    base = vae.config.get("decoder_base_dim") or vae.config.base_dim
    return int(WAN_DECODER_VALUES_PER_PIXEL_AND_CHANNEL * base * height * width * vae.dtype.itemsize)


def attention_branches(methods, frames: int, native_frames: int) -> int:
    """Attention branches each self-attention runs under `methods` at `frames` token frames (native
    `native_frames`): FreeLong++'s global branch and the local windows shorter than the video, else 1."""
    fusion = [m for m in methods if isinstance(m, SpectralFusion)]
    return len(fusion[0].windows_for(TokenLayout(frames, 1, 1, native_frames))) if fusion else 1


def activation_bytes(tokens: int, dim: int, ffn: int, branches: int, itemsize: int) -> int:
    """Live activations of one batch-1 forward over `tokens` video tokens (hidden size `dim`, feed-forward
    `ffn`, `branches` attention branches, `itemsize` bytes per value): the larger of the feed-forward
    phase (eight hidden vectors and one feed-forward vector per token) and the self-attention phase (six
    hidden vectors and one output per branch, plus FreeLong++'s differences and products)."""
    feed_forward = tokens * (8 * dim + ffn) * itemsize
    attention = tokens * dim * ((6 + branches + (branches + 1 if branches > 1 else 0)) * itemsize)
    return max(feed_forward, attention)


def free_bytes(device: torch.device) -> int:
    """Memory free for a run on `device`: the GPU's free memory, or the machine's available RAM."""
    if device.type == "cuda":  # PyTorch's cached but unused blocks are free to this process
        unused_cache = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(torch.cuda.mem_get_info(device)[0] + unused_cache)
    import psutil

    return int(psutil.virtual_memory().available)


def check_fits(cost: RunCost, free: Optional[int] = None, fix: str = "shorten the length or lower the height and width") -> None:
    """Refuse, naming the limit and `fix`, a run whose estimated memory exceeds what `cost.device` has free."""
    free = free_bytes(cost.device) if free is None else free
    if cost.peak_bytes > free:
        where = "GPU" if cost.device.type == "cuda" else "RAM"
        raise VidlongError(f"this run needs about {cost.peak_bytes / GIB:.1f} GiB of {where} beyond the loaded model and "
                           f"{free / GIB:.1f} GiB is free; {fix}")


def check_stream_fits(pipe, streaming, height: Optional[int], width: Optional[int], free: Optional[int] = None) -> None:
    """Refuse a stream (or an extension) by `streaming` (a `Streaming` or a `DiagonalDenoising`) of `height` x `width`
    pixels (None: the spec's) whose chunks will not fit, whatever its length: its first chunk runs over at most the native
    window, and each later one over the frames it attends to with a context each window holds, re-noised or clean
    (sinks + window + chunk: `StreamSchedule.context_frames`, up to twice the native window), or over itself beside a KV
    cache of its sinks and window (K and V of every layer, expert and guided sample); diagonal denoising's windows are
    native ones."""
    from .schedulers.stream import StreamSchedule
    from .validate import limits_for_pipeline, resolve_context

    spec = pipe.spec
    frames, cached = spec.native_frames, 0
    if not isinstance(streaming, DiagonalDenoising):
        schedule = StreamSchedule.resolve(spec.native_frames, streaming.chunk, streaming.sinks, streaming.window)
        if resolve_context(streaming, limits_for_pipeline(pipe)) in WINDOW_CONTEXTS:
            frames = max(frames, schedule.context_frames)
        else:
            cached = schedule.sinks + schedule.window
    cost = run_cost(pipe, GenerateRequest(prompt="-", height=height, width=width), frames)
    cost = replace(cost, peak_bytes=cost.peak_bytes + kv_cache_bytes(pipe, cached, height or spec.height, width or spec.width))
    check_fits(cost, free, fix="a stream's chunks take the same memory however long it runs: lower the height and width, "
                               "or the chunk and window (a video to continue: resize it first)")


def kv_cache_bytes(pipe, frames: int, height: int, width: int) -> int:
    """A stream's KV cache of `frames` latent frames of `height` x `width` pixels: K and V ``[B, N, D]`` in the model's
    dtype for every layer of every expert, B the samples of a guided step at the spec's guidance."""
    tokens = video_tokens(pipe.geometry(), frames, height, width)
    _, dim, _, layers = transformer_sizes(pipe.experts()[0].config)
    samples = pipe.forwards_per_step(pipe.spec.guidance_scale)
    itemsize = pipe.experts()[0].dtype.itemsize
    return 2 * tokens * dim * layers * len(pipe.experts()) * samples * itemsize


class Pace:
    """The pace of the last finished run, per device: FLOPs per second of everything but the decode, and
    seconds per decoded latent frame; turns a `RunCost` into seconds."""

    def __init__(self):
        self._rate: dict[str, tuple[float, float]] = {}

    def record(self, cost: RunCost, seconds: float, decode_seconds: float = 0.0) -> None:
        """A finished run of `cost` took `seconds`, `decode_seconds` of them decoding."""
        rest = seconds - decode_seconds
        if rest > 0:
            per_frame = decode_seconds / cost.decoded_frames if cost.decoded_frames else 0.0
            self._rate[str(cost.device)] = (cost.flops / rest, per_frame)

    def seconds(self, cost: RunCost) -> Optional[float]:
        """Estimated seconds, or None before any run on that device finished."""
        rate = self._rate.get(str(cost.device))
        return None if rate is None else cost.flops / rate[0] + cost.decoded_frames * rate[1]
