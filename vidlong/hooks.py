"""Apply and remove vidlong's methods on a diffusers video transformer, diffusers-hooks style.

`apply` registers one `ModelHook` on the transformer: it swaps `VidlongAttnProcessor` into every video
self-attention (restoring the stock processors on removal), reads the token grid of each forward and
selects the attention plan. The attention modules themselves get no hook, so their forwards stay
diffusers' own and the blocks stay alike for diffusers' regional compilation
(`compile_repeated_blocks`: one compiled block serves every layer). What differs between model
families comes from the family's adapter (`vidlong.attention.adapters`). All state lives in the hooks.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
from diffusers.hooks import HookRegistry, ModelHook

from .attention.adapters import FamilyAdapter, adapter_for
from .attention.execute import FUSED_KERNELS, KERNELS, make_kernel
from .attention.kv_cache import LayerKV
from .attention.layout import TokenLayout
from .attention.plan import AttentionPlan
from .attention.processor import VidlongAttnProcessor
from .attention.stream_attention import StreamContext
from .errors import VidlongError
from .methods import RIFLEx, check_family_methods, check_methods, needs_moved_rope
from .plans import build_plan
from .scalars import is_whole
from .schedulers.riflex import riflex_tables

HOOK_NAME = "vidlong"


@dataclass
class VidlongState:
    """What the hooks of one transformer share: the methods, the native window, the current plan.

    Attributes:
        methods: the method configs.
        native_frames: the model's native window in latent frames.
        kernel: kernel name (one of `vidlong.attention.execute.KERNELS`).
        plan: the plan of the forward in progress (set by `PlanHook`).
        stream: streaming context (rolling KV cache), or None for whole-video generation.
        temporal_shift: the family's temporal RoPE move (`FamilyAdapter.temporal_shift`), or None.
    """

    methods: tuple
    native_frames: int
    kernel: str = "auto"
    temporal_shift: Optional[Callable] = None
    plan: Optional[AttentionPlan] = None
    stream: Optional[StreamContext] = None
    _plans: dict = field(default_factory=dict)
    _kernel: object = None
    _kernel_device: Optional[str] = None

    def use_layout(self, layout: TokenLayout) -> AttentionPlan:
        """Select (building once per layout) the plan for `layout`."""
        key = layout.grid
        if key not in self._plans:
            self._plans[key] = build_plan(layout, self.methods, self.temporal_shift)
        self.plan = self._plans[key]
        return self.plan

    def kernel_for(self, device: torch.device):
        """The kernel instance for tensors on `device` (made again only when the device type changes:
        `apply` makes it for the transformer's device, so a compiled forward sees no new state)."""
        if device.type != self._kernel_device:
            self._kernel, self._kernel_device = make_kernel(self.kernel, device), device.type
        return self._kernel


def set_processor(attention, processor) -> None:
    """Put `processor` on an attention module: diffusers' ``set_processor``, or its ``processor`` attribute where the
    module has no setter (Mochi's `MochiAttention`, a plain module; Sana-WM's branch slots, `SanaWMBranch`)."""
    if hasattr(attention, "set_processor"):
        attention.set_processor(processor)
    else:
        attention.processor = processor


class PlanHook(ModelHook):
    """On the transformer: installs `VidlongAttnProcessor` on its video self-attentions (the stock ones
    come back on removal), reads the token grid of each forward (through the family's adapter) and picks
    the plan, or places a streamed chunk after the cached frames."""

    def __init__(self, state: VidlongState, adapter: FamilyAdapter):
        super().__init__()
        self.state = state
        self.adapter = adapter
        self.stock = []
        self.layers: list[LayerKV] = []  # each processor's storage in a stream's KV cache

    def initialize_hook(self, module):
        attentions = self.adapter.self_attentions(module)
        self.stock = [attention.processor for attention in attentions]
        self.layers = [LayerKV() for _ in attentions]
        for attention, stock, kv in zip(attentions, self.stock, self.layers):
            set_processor(attention, VidlongAttnProcessor(self.state, stock, kv, self.adapter))
        return module

    def deinitalize_hook(self, module):
        for attention, stock in zip(self.adapter.self_attentions(module), self.stock):
            set_processor(attention, stock)
        return module

    def pre_forward(self, module, *args, **kwargs):
        layout: TokenLayout = self.adapter.layout(module, args, kwargs, self.state.native_frames)
        self.token_frames = layout.frames
        if self.state.stream is not None:
            if self.state.stream.paused:  # another pipeline's call on the transformer a paused stream holds
                raise VidlongError(paused_stream("calling another pipeline on its transformer"))
            self.state.stream.prepare(module, args[0] if args else kwargs["hidden_states"], self.layers)
        else:
            self.state.use_layout(layout)
        return args, kwargs

    def post_forward(self, module, output):
        if self.state.stream is not None:
            self.state.stream.finish_forward(self.token_frames)
        return output


class RopeHook(ModelHook):
    """On ``transformer.rope``: swaps in RIFLEx's tables for the length of each forward; restores on removal. The tables
    go where the rope's are now (the input's device, the buffers' dtype): a move of the model after `apply` (``pipe.to``,
    model offload) replaces its buffers, and the stock ones taken at `apply` stay where they were."""

    def __init__(self, native_frames: int):
        super().__init__()
        self.native_frames = native_frames
        self.stock = None
        self._tables = {}

    def initialize_hook(self, module):
        self.stock = (module.freqs_cos, module.freqs_sin)
        return module

    def pre_forward(self, module, *args, **kwargs):
        latents = args[0] if args else kwargs["hidden_states"]
        frames = latents.shape[2] // module.patch_size[0]
        key = (frames, latents.device, module.freqs_cos.dtype)
        if key not in self._tables:
            tables = riflex_tables(*self.stock, module.t_dim, self.native_frames, frames)
            self._tables[key] = tuple(table.to(*key[1:]) for table in tables)
        module.freqs_cos, module.freqs_sin = self._tables[key]
        return args, kwargs

    def deinitalize_hook(self, module):
        now = module.freqs_cos
        module.freqs_cos, module.freqs_sin = (table.to(now.device, now.dtype) for table in self.stock)
        return module


def check_kernel_device(kernel: str, transformer) -> None:
    """The Triton ("fused" and its "fused-fp8*" / "fused-int8*" paths) and FlexAttention ("flex") kernels
    run on CUDA, the quantized paths on GPUs with the matrix units they need; refuse them elsewhere, in
    one line, instead of failing inside Triton or Inductor at the first forward (the tests run the fused
    kernel on the CPU through Triton's interpreter, TRITON_INTERPRET=1)."""
    triton_kernel = kernel.startswith("fused")
    if not (triton_kernel or kernel == "flex") or (triton_kernel and os.environ.get("TRITON_INTERPRET") == "1"):
        return
    device = next(transformer.parameters()).device
    if device.type != "cuda":
        raise VidlongError(f"kernel={kernel!r} runs on CUDA but the transformer is on {device.type}; "
                           "use kernel='auto' (the dense kernel off CUDA) or move the model to a GPU")
    if triton_kernel:
        from .attention.kernels.quantize import required_capability

        needed = required_capability(*FUSED_KERNELS[kernel])
        if torch.cuda.get_device_capability(device) < needed:
            raise VidlongError(f"kernel={kernel!r} needs a GPU of compute capability {needed[0]}.{needed[1]} or newer "
                               f"(this one: {torch.cuda.get_device_name(device)}); use kernel='fused'")


def apply(transformer, *methods, native_frames: Optional[int] = None, kernel: str = "auto",
          stream: Optional[StreamContext] = None) -> VidlongState:
    """Apply `methods` (`UltraViCo`, `SpectralFusion`) to `transformer`; replaces earlier methods.

    Args:
        transformer: a diffusers video transformer of a family vidlong serves, from any pipeline, standard or Modular
            Diffusers' (``pipe.transformer``, and ``pipe.transformer_2`` where it has two experts)
            (`vidlong.attention.adapters.ADAPTERS`: `WanTransformer3DModel`, `LTXVideoTransformer3DModel`,
            `LTX2VideoTransformer3DModel`, `WanVACETransformer3DModel`, `WanAnimateTransformer3DModel`,
            `SkyReelsV2Transformer3DModel`, `CogVideoXTransformer3DModel`, `ConsisIDTransformer3DModel` (its video
            self-attention; its face modules stock), `ChronoEditTransformer3DModel` (Wan's blocks), `HunyuanVideoTransformer3DModel`,
            `HunyuanVideo15Transformer3DModel`, `MochiTransformer3DModel`, `Kandinsky5Transformer3DModel`,
            `Kandinsky6Transformer3DModel`, `MotifVideoTransformer3DModel`, `EasyAnimateTransformer3DModel`,
            `AllegroTransformer3DModel`, `AnyFlowTransformer3DModel`, `CosmosTransformer3DModel`, `CosmosControlNetModel`
            (Cosmos-Transfer2.5's control branch), `Cosmos3OmniTransformer` (its video queries and keys, the prompt's keys
            joint text keys for them), `SanaVideoTransformer3DModel` (no UltraViCo and no softmax kernel: its
            self-attention is linear), `SanaWMTransformer3DModel` (both branches of its softmax blocks; its gated-delta-rule
            blocks stock), `LatteTransformer3DModel` (its temporal blocks' attention, one token a frame; past its
            temporal table's rows, see `vidlong.families.latte.sincos_positions`); `AnyFlowFARTransformer3DModel` and
            `HeliosTransformer3DModel` refuse the methods in one line).
        methods: method configs (`UltraViCo`, `SpectralFusion`, `SlidingWindow`, `RIFLEx`); none (or
            neutral settings) leaves the output bit-identical.
        native_frames: the model's native window in latent frames; default from `configs/models`.
        kernel: "auto" (on CUDA the fused Triton kernel for the plans it supports, else FlexAttention
            from 8192 tokens up and the dense kernel below; dense elsewhere), "dense", "flex", "fused",
            or the fused kernel's opt-in low-precision paths (Ada/Hopper GPUs): "fused-fp8" /
            "fused-int8" (queries and smoothed keys in e4m3 / int8 with per-block scales), and with
            "-fp8pv" the values and probabilities in e4m3 too; "fused-triton": the fused Triton kernel
            where "fused" (and "auto") take its warp-specialized Gluon form (Hopper, head size 128).
        stream: a `StreamContext` to generate chunk by chunk through a rolling KV cache (see
            `vidlong.streaming`); the methods are then unused (the window never exceeds native).

    Returns:
        The shared state (its ``plan`` shows what the last forward executed).
    """
    adapter = adapter_for(transformer)
    if stream is None:  # a stream's own hooks go on inside it
        check_not_streaming([transformer], "applying methods to its transformer")
    check_methods(methods)
    check_family_methods(methods, adapter)
    refusal = adapter.methods_refusal(transformer.config) if methods else None
    if refusal is not None:
        raise VidlongError(f"vidlong's methods do not run on this {adapter.transformer_class}: {refusal}")
    riflex = any(isinstance(m, RIFLEx) for m in methods)
    if stream is not None and "cache" not in adapter.stream_contexts:
        raise VidlongError(f"a KV-cache stream is not available for {adapter.transformer_class}: {adapter.no_cache_reason}; "
                           "stream with the re-noised context, or generate the whole video with UltraViCo and/or SpectralFusion")
    if kernel not in KERNELS:
        raise VidlongError(f"unknown kernel {kernel!r}; choose one of: {', '.join(KERNELS)}")
    if adapter.linear and kernel not in ("auto", "dense"):
        raise VidlongError(f"kernel={kernel!r} is a softmax attention kernel; {adapter.transformer_class}'s self-attention is "
                           "linear, its windows summed by vidlong.attention.linear: use kernel='auto'")
    check_kernel_device(kernel, transformer)
    if needs_moved_rope(methods) and kernel not in ("auto", "dense"):
        raise VidlongError(f"anchor_positions='adjacent' runs on the dense kernel, not kernel={kernel!r}; use kernel='auto'")
    if native_frames is not None and (not is_whole(native_frames) or native_frames < 1):
        raise VidlongError(f"native_frames= must be a whole number of latent frames >= 1, got {native_frames!r}")
    if native_frames is None:
        from .models import spec_for_transformer

        native_frames = spec_for_transformer(transformer).native_frames
    _take_off(transformer)
    state = VidlongState(methods=tuple(methods), native_frames=int(native_frames), kernel=kernel, stream=stream,
                         temporal_shift=adapter.temporal_shift(transformer))
    state.kernel_for(next(transformer.parameters()).device)
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(PlanHook(state, adapter), HOOK_NAME)
    if riflex:
        rope = adapter.rope_module(transformer)
        HookRegistry.check_if_exists_or_initialize(rope).register_hook(RopeHook(state.native_frames), HOOK_NAME)
    return state


def remove(transformer) -> None:
    """Remove vidlong's hooks from `transformer`, restoring its stock attention processors; a pipeline, a class vidlong
    does not serve or a transformer whose stream is paused mid-way is refused in one line."""
    adapter_for(transformer, "vidlong.remove")
    check_not_streaming([transformer], "removing methods from its transformer")
    _take_off(transformer)


def _take_off(transformer) -> None:
    """vidlong's hooks off `transformer` (its stock processors back), unchecked: for `apply`, which replaces them, and
    `set_aside`."""
    registry = getattr(transformer, "_diffusers_hook", None)
    if registry is not None:
        registry.remove_hook(HOOK_NAME, recurse=True)


def check_not_streaming(transformers, doing: str = "calling the pipeline") -> None:
    """A one-line error while a stream on any of `transformers` is paused mid-way (`vidlong.streaming.streaming_on` counts
    it on each transformer, so pipelines sharing one see it): its KV cache holds them, and the methods applied to them
    are set aside until it ends. `doing`: what was asked."""
    if any(getattr(transformer, "vidlong_streams", 0) for transformer in transformers):
        raise VidlongError(paused_stream(doing))


def paused_stream(doing: str) -> str:
    """The one line refusing `doing` while a stream holds the transformer."""
    return ("a stream of this pipeline is paused mid-way (its cache holds the transformer); finish it, break out of its loop "
            f"or close its iterator (iterator.close()) before {doing}")


def state_of(transformer) -> Optional[VidlongState]:
    """The state of the methods (or stream) vidlong applied to `transformer`; None when it has none."""
    registry = getattr(transformer, "_diffusers_hook", None)
    hook = registry.get_hook(HOOK_NAME) if registry is not None else None
    return hook.state if hook is not None else None


@contextmanager
def set_aside(transformers):
    """Take vidlong's hooks off `transformers` for the body (a stream or a `generate` call applies its
    own), then put back the methods each had before, even on error (a stream's cache is not kept)."""
    saved = [state_of(transformer) for transformer in transformers]
    for transformer in transformers:
        _take_off(transformer)
    try:
        yield
    finally:
        for transformer, state in zip(transformers, saved):
            _take_off(transformer)
            if state is not None and state.stream is None:
                apply(transformer, *state.methods, native_frames=state.native_frames, kernel=state.kernel)
