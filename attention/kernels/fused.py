"""Fused Triton kernel: every branch of a frame-window plan in one pass over the keys.

For each block of queries the keys are visited ring by ring, most local first: the keys of the
narrowest window, then those of each wider window not seen yet. One running softmax state (row max,
row sum, output accumulator) is carried through the rings, so after ring k it *is* branch k's
attention and is written out before ring k+1 starts: K nested branches cost about one global
attention, with no log-sum-exp merge and no second pass over the queries.

UltraViCo runs inside the same pass. Key blocks wholly inside or outside the far region skip the
index test (`rules.decay`); key centring is folded into one offset per query: with ``μ = q·m̄·scale``
(``m̄`` the mean key), ``min(s - μ, α(s - μ)) + μ = min(s, α·s + (1-α)·μ)``, and adding ``μ`` to a
query's logits leaves its softmax unchanged, so the uncentred logits need no centred copy of the keys.
In general the offset is ``(1-α)·q·o·scale`` with ``o`` the centre minus any shift already taken off
the keys: ``m̄`` (plain, centred), 0 (quantized, whose keys are smoothed by ``m̄``, centred) or ``-m̄``
(quantized, uncentred). Only key blocks on a ring edge, by the first-frame guard or past the sequence
end evaluate a mask.

On Hopper GPUs keys and values can arrive by the bulk tensor copies (TMA) through tensor descriptors
(`FusedKernel`'s ``tma``) instead of pointer loads. Each block's logits stay unscaled through the decay
and the masks; the scale to log2 units joins the exponent's multiply-add.

Joint attention's text keys (`vidlong.attention.joint.TextKeys`) enter the running softmax before the
first ring: every branch sees them, undecayed, behind an optional per-batch visibility mask.

Supports plans made of `window_mask` windows, `FirstFrameGuard`, `FarPair` and `PositiveDecay`
(`supports`); anything else runs on the FlexAttention kernel. Units: frames are token frames.
"""
from __future__ import annotations

import contextlib
import math
import warnings
from typing import Optional

import torch

from ..mods import FarPair, FirstFrameGuard, PositiveDecay
from . import hopper, quantize

try:
    import triton
    import triton.language as tl
    from triton.errors import TritonError
except ImportError:  # the kernel is optional: CUDA builds of torch ship Triton
    triton = None
try:
    from triton.tools.tensor_descriptor import TensorDescriptor
except ImportError:  # Triton before 3.4: keys and values by pointers only
    TensorDescriptor = None

#: `rules.decay`'s modes: no decay, on every pair, in a token-distance region, in a frame-distance region
DECAY_NONE, DECAY_ALL, DECAY_TOKEN, DECAY_FRAME = 0, 1, 2, 3


def supports(plan, query: torch.Tensor) -> bool:
    """Whether `FusedKernel` can run `plan` on ``[B, H, N, D]`` inputs like `query`."""
    dim = query.shape[-1]
    return (
        triton is not None
        and query.dtype in (torch.float16, torch.bfloat16, torch.float32)
        and 16 <= dim <= 256 and dim & (dim - 1) == 0
        and query.shape[2] == plan.layout.num_tokens
        and (plan.base_mask is None or (isinstance(plan.base_mask, FirstFrameGuard) and plan.base_mask.layout.grid == plan.layout.grid))
        and (plan.score_region is None or (isinstance(plan.score_region, FarPair) and plan.score_region.layout.grid == plan.layout.grid))
        and (plan.region_score_mod is None or isinstance(plan.region_score_mod, PositiveDecay))
        and (plan.score_region is None or plan.region_score_mod is not None)
        and plan.decayed_branches is None  # the rings share one running softmax, so one rule for every branch
        and plan.anchor_frames == 0  # its windows are contiguous frame spans
    )


def _is_build_error(error: Exception) -> bool:
    """Whether `error`, raised by `hopper.fused_attention`, says that this Triton cannot build or launch the
    Gluon kernel (Gluon is experimental: its API and passes change between releases; an MLIR pass failure
    is a bare RuntimeError) rather than that the GPU failed (a CUDA error, out of memory)."""
    cuda_failure = isinstance(error, torch.cuda.OutOfMemoryError) or "[CUDA]" in str(error) or (
        hasattr(torch, "AcceleratorError") and isinstance(error, torch.AcceleratorError))
    return not cuda_failure


def _decay_mode(plan) -> int:
    if plan.region_score_mod is None:
        return DECAY_NONE
    if plan.score_region is None:
        return DECAY_ALL
    return DECAY_TOKEN if plan.score_region.region == "token" else DECAY_FRAME


if triton is not None:
    # by their own names: Inductor's copy of a user-defined kernel (torch.compile) defines each called Triton
    # function under its `def` name, so an alias or a module attribute would be undefined there
    from .rules import decay, program_frames, ring_parts, ring_rows

    #: `quantize.P_SCALE`, as the kernel's compile-time constant
    P_SCALE = tl.constexpr(quantize.P_SCALE)

    @triton.jit
    def _load_block(src, b, h, n0, kv, stride_n, n_tokens, MASKED: tl.constexpr, TMA: tl.constexpr,
                    TRANSPOSED: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """Tokens ``kv = n0 + [0, BLOCK_N)`` of one (batch `b`, head `h`): ``[BLOCK_N, HEAD_DIM]``, or
        ``[HEAD_DIM, BLOCK_N]`` if TRANSPOSED, zeros past `n_tokens`. With TMA `src` is a tensor descriptor
        of the ``[B, H, N, D]`` tensor (Hopper's bulk copy, which zero-fills past the end itself);
        otherwise pointers to this (batch, head)'s channels, ``[HEAD_DIM, 1]`` if TRANSPOSED else
        ``[1, HEAD_DIM]``, with tokens `stride_n` apart."""
        if TMA:
            block = src.load([b.to(tl.int32), h.to(tl.int32), n0, 0]).reshape(BLOCK_N, HEAD_DIM)
            if TRANSPOSED:
                block = tl.trans(block)
        else:  # (one return at the end: Triton compiles the code after a constexpr branch's return too)
            if TRANSPOSED:
                offsets, inside = kv.to(tl.int64)[None, :] * stride_n, kv[None, :] < n_tokens
            else:
                offsets, inside = kv.to(tl.int64)[:, None] * stride_n, kv[:, None] < n_tokens
            if MASKED:
                block = tl.load(src + offsets, mask=inside, other=0.0)
            else:
                block = tl.load(src + offsets)
        return block

    @triton.jit
    def _attend_blocks(acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
                       lo, hi, m_first, m_last, f_lo, f_hi, ring_lo, ring_hi, inner_lo, inner_hi,
                       n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
                       MASKED: tl.constexpr, HAS_INNER: tl.constexpr, HAS_GUARD: tl.constexpr,
                       DECAY: tl.constexpr, IEEE: tl.constexpr, QUANT_QK: tl.constexpr, FP8_PV: tl.constexpr,
                       TMA_K: tl.constexpr, TMA_V: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """Key blocks ``[lo, hi)`` into the running softmax. MASKED blocks keep only keys of this ring
        (frames in ``[ring_lo, ring_hi)`` and, with an inner window, outside ``[inner_lo, inner_hi)``),
        inside the guard and before the sequence end; the others are known to be wholly visible.
        Keys and values come from `k_src` / `v_src` (`_load_block`; TMA_K / TMA_V: descriptors).
        With QUANT_QK, `ks_ptr` holds each key block's scale."""
        offs_n = tl.arange(0, BLOCK_N)
        for block in range(lo, hi):
            n0 = block * BLOCK_N
            kv = n0 + offs_n
            k = _load_block(k_src, b, h, n0, kv, stride_kn, n_tokens, MASKED, TMA_K, True, BLOCK_N, HEAD_DIM)
            qk, scale = _logits(q, k, qk_scale, ks_ptr + block, IEEE, QUANT_QK)
            if DECAY != 0:
                qk = decay(qk, c_row / scale, rows, kv, row_frame, m_first, m_last, f_lo, f_hi, n0,
                           tokens_per_frame, alpha, far_limit, DECAY, BLOCK_N)
            if MASKED:
                kv_frame = (kv // tokens_per_frame)[None, :]
                keep = (kv_frame >= ring_lo[:, None]) & (kv_frame < ring_hi[:, None]) & (kv[None, :] < n_tokens)
                if HAS_INNER:
                    keep = keep & ((kv_frame < inner_lo[:, None]) | (kv_frame >= inner_hi[:, None]))
                if HAS_GUARD:
                    keep = keep & ((row_frame[:, None] > 0) | (kv_frame < native_frames))
                qk = tl.where(keep, qk, float("-inf"))
            v = _load_block(v_src, b, h, n0, kv, stride_vn, n_tokens, MASKED, TMA_V, False, BLOCK_N, HEAD_DIM)
            acc, l_i, m_i = _online_softmax(acc, l_i, m_i, qk, scale, v, IEEE, FP8_PV)
        return acc, l_i, m_i

    @triton.jit
    def _logits(q, k, qk_scale, k_scale_ptr, IEEE: tl.constexpr, QUANT_QK: tl.constexpr):
        """``[BLOCK_M, BLOCK_N]`` logits of queries ``q`` and transposed keys ``k``, unscaled, and the
        positive scalar that takes them to log2 units (applied in `_online_softmax`, in one multiply-add
        with the row max); with QUANT_QK both are e4m3 or int8 and the key block's scale is read from
        `k_scale_ptr` (the query block's is in `qk_scale`)."""
        if QUANT_QK:  # (kept positive: a zero block's scales can underflow, and 0·-inf of a mask is NaN)
            return tl.dot(q, k).to(tl.float32), tl.maximum(qk_scale * tl.load(k_scale_ptr), 1e-30)
        elif IEEE:
            return tl.dot(q, k, input_precision="ieee"), qk_scale
        else:
            return tl.dot(q, k), qk_scale

    @triton.jit
    def _online_softmax(acc, l_i, m_i, qk, scale, v, IEEE: tl.constexpr, FP8_PV: tl.constexpr):
        """One block of unscaled logits ``qk`` (``-inf`` where masked; ``qk·scale`` in log2 units) and its
        values ``v`` into the running softmax (row max `m_i` in log2 units, row sum `l_i`, output
        accumulator `acc`). With FP8_PV, ``v`` is e4m3 and the probabilities enter the product as
        ``p·P_SCALE`` in e4m3 (the caller undoes both scales)."""
        m_new = tl.maximum(m_i, tl.max(qk, 1) * scale)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)  # rows that have seen no key yet
        p = tl.math.exp2(qk * scale - m_safe[:, None])
        correction = tl.math.exp2(m_i - m_safe)
        l_i = l_i * correction + tl.sum(p, 1)
        if FP8_PV:
            acc = acc * correction[:, None] + tl.dot((p * P_SCALE).to(v.dtype), v)
        elif IEEE:
            acc = acc * correction[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        else:
            acc = acc * correction[:, None] + tl.dot(p.to(v.dtype), v)
        return acc, l_i, m_new

    @triton.jit
    def _attend_text(acc, l_i, m_i, q, k_ptrs, v_ptrs, ks_ptr, stride_kn, stride_vn, visible_ptr, n_text, qk_scale,
                     HAS_MASK: tl.constexpr, IEEE: tl.constexpr, QUANT_QK: tl.constexpr, FP8_PV: tl.constexpr,
                     BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """The extra keys of joint attention (the text tokens) into the running softmax: visible to every
        query in every branch (where `visible_ptr`'s 0/1 entry is 1, with HAS_MASK), never decayed."""
        offs_n = tl.arange(0, BLOCK_N)
        for n0 in range(0, n_text, BLOCK_N):
            kv = n0 + offs_n
            keep = kv < n_text
            k = _load_block(k_ptrs, 0, 0, n0, kv, stride_kn, n_text, True, False, True, BLOCK_N, HEAD_DIM)
            qk, scale = _logits(q, k, qk_scale, ks_ptr + n0 // BLOCK_N, IEEE, QUANT_QK)
            if HAS_MASK:
                keep = keep & (tl.load(visible_ptr + kv, mask=keep, other=0) != 0)
            qk = tl.where(keep[None, :], qk, float("-inf"))
            v = _load_block(v_ptrs, 0, 0, n0, kv, stride_vn, n_text, True, False, False, BLOCK_N, HEAD_DIM)
            acc, l_i, m_i = _online_softmax(acc, l_i, m_i, qk, scale, v, IEEE, FP8_PV)
        return acc, l_i, m_i

    @triton.jit
    def _attend_range(acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
                      lo, hi, full_lo, full_hi, m_first, m_last, f_lo, f_hi,
                      ring_lo, ring_hi, inner_lo, inner_hi,
                      n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
                      HAS_INNER: tl.constexpr, HAS_GUARD: tl.constexpr, DECAY: tl.constexpr,
                      IEEE: tl.constexpr, QUANT_QK: tl.constexpr, FP8_PV: tl.constexpr,
                      TMA_K: tl.constexpr, TMA_V: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """Key blocks ``[lo, hi)``: those wholly inside tokens ``[full_lo, full_hi)`` (visible to every
        query of the block) without a mask, the edges on either side with one."""
        first_full = tl.minimum(tl.maximum(tl.cdiv(full_lo, BLOCK_N), lo), hi)
        end_full = tl.minimum(tl.maximum(full_hi // BLOCK_N, first_full), hi)
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
            lo, first_full, m_first, m_last, f_lo, f_hi, ring_lo, ring_hi, inner_lo, inner_hi,
            n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
            True, HAS_INNER, HAS_GUARD, DECAY, IEEE, QUANT_QK, FP8_PV, TMA_K, TMA_V, BLOCK_N, HEAD_DIM)
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
            first_full, end_full, m_first, m_last, f_lo, f_hi, ring_lo, ring_hi, inner_lo, inner_hi,
            n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
            False, HAS_INNER, HAS_GUARD, DECAY, IEEE, QUANT_QK, FP8_PV, TMA_K, TMA_V, BLOCK_N, HEAD_DIM)
        acc, l_i, m_i = _attend_blocks(
            acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
            end_full, hi, m_first, m_last, f_lo, f_hi, ring_lo, ring_hi, inner_lo, inner_hi,
            n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
            True, HAS_INNER, HAS_GUARD, DECAY, IEEE, QUANT_QK, FP8_PV, TMA_K, TMA_V, BLOCK_N, HEAD_DIM)
        return acc, l_i, m_i

    @triton.jit
    def _fused_attention(Q, K, V, O, OFFSET_K, WINDOWS, TEXT_K, TEXT_V, TEXT_VISIBLE, Q_SCALE, K_SCALE,
                         TEXT_K_SCALE, V_SCALE,
                         stride_qb, stride_qh, stride_qn, stride_kb, stride_kh, stride_kn,
                         stride_vb, stride_vh, stride_vn, stride_vd, stride_ok, stride_ob, stride_oh, stride_on,
                         stride_tkb, stride_tkh, stride_tkn, stride_tvb, stride_tvh, stride_tvn, stride_tvd,
                         heads, n_tokens, tokens_per_frame, frames, native_frames, qk_scale, alpha, far_limit, n_text,
                         NUM_BRANCHES: tl.constexpr, HAS_GUARD: tl.constexpr, DECAY: tl.constexpr,
                         HAS_OFFSET: tl.constexpr, HAS_TEXT: tl.constexpr, HAS_TEXT_MASK: tl.constexpr, IEEE: tl.constexpr,
                         QUANT_QK: tl.constexpr, FP8_PV: tl.constexpr, TMA_K: tl.constexpr, TMA_V: tl.constexpr,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, HEAD_DIM: tl.constexpr):
        """One program: BLOCK_M queries of one (batch, head); writes every branch's output for them.
        With HAS_TEXT, the `n_text` extra keys (joint attention's text) enter the running softmax
        first, so every branch's output includes them. With HAS_OFFSET, the decay's offset of each
        query is ``(1-α)·q·o·scale`` for the ``[D]`` vector `OFFSET_K` of its (batch, head). QUANT_QK:
        Q, K and TEXT_K are e4m3 or int8 with float32 scales per query block (Q_SCALE, ``[B·H, cdiv(N, BLOCK_M)]``)
        and key block (K_SCALE, TEXT_K_SCALE, likewise per BLOCK_N); FP8_PV: V and TEXT_V are e4m3 with
        one scale per channel (V_SCALE, ``[B·H, D]``). TMA_K / TMA_V: K / V are tensor descriptors
        (`_load_block`) instead of pointers, their strides unused."""
        pid_m = tl.program_id(0)
        pid_bh = tl.program_id(1)
        # float32 scalars however the launcher types Python floats (torch.compile's passes them as float64)
        qk_scale, alpha = tl.cast(qk_scale, tl.float32), tl.cast(alpha, tl.float32)
        b = (pid_bh // heads).to(tl.int64)  # offsets in int64: a long video's tensors pass 2^31 elements
        h = (pid_bh % heads).to(tl.int64)
        m_first = pid_m * BLOCK_M
        m_last = m_first + BLOCK_M - 1
        rows = m_first + tl.arange(0, BLOCK_M)
        offs_d = tl.arange(0, HEAD_DIM)
        q = tl.load(Q + b * stride_qb + h * stride_qh + rows.to(tl.int64)[:, None] * stride_qn + offs_d[None, :],
                    mask=rows[:, None] < n_tokens, other=0.0)
        if TMA_K:
            k_src = K
        else:
            k_src = K + b * stride_kb + h * stride_kh + offs_d[:, None]      # [HEAD_DIM, 1]: keys transposed
        if TMA_V:
            v_src = V
        else:
            v_src = V + b * stride_vb + h * stride_vh + offs_d[None, :] * stride_vd  # [1, HEAD_DIM]
        ks_ptr = K_SCALE + pid_bh * tl.cdiv(n_tokens, BLOCK_N)
        if QUANT_QK:  # the query block's scale joins the logits' scale; `q` itself stays quantized
            qk_scale = qk_scale * tl.load(Q_SCALE + pid_bh * tl.num_programs(0) + pid_m)
        row_frame = tl.minimum(rows, n_tokens - 1) // tokens_per_frame
        # the rows' first and last frames; keys every query of this block may see, as far as the first-frame guard goes
        f_lo, f_hi, visible_end = program_frames(m_first, n_tokens, tokens_per_frame, native_frames, HAS_GUARD, BLOCK_M)
        if HAS_OFFSET:
            offset_k = tl.load(OFFSET_K + pid_bh * HEAD_DIM + offs_d)
            c_row = tl.sum(q.to(tl.float32) * offset_k[None, :], 1) * ((1.0 - alpha) * qk_scale)
        else:
            c_row = tl.zeros([BLOCK_M], dtype=tl.float32)

        m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
        if HAS_TEXT:
            acc, l_i, m_i = _attend_text(
                acc, l_i, m_i, q, TEXT_K + b * stride_tkb + h * stride_tkh + offs_d[:, None],
                TEXT_V + b * stride_tvb + h * stride_tvh + offs_d[None, :] * stride_tvd,
                TEXT_K_SCALE + pid_bh * tl.cdiv(n_text, BLOCK_N), stride_tkn, stride_tvn,
                TEXT_VISIBLE + b * n_text, n_text, qk_scale, HAS_TEXT_MASK, IEEE, QUANT_QK, FP8_PV, BLOCK_N, HEAD_DIM)
        for k in tl.static_range(NUM_BRANCHES - 1, -1, -1):
            ring_lo, ring_hi, inner_lo, inner_hi = ring_rows(WINDOWS, k, row_frame, frames, NUM_BRANCHES)
            # the ring's key blocks over the block's rows, each part wholly visible where all its rows' rings overlap
            parts = ring_parts(WINDOWS, k, f_lo, f_hi, frames, tokens_per_frame, visible_end, NUM_BRANCHES, BLOCK_N)
            for part in tl.static_range(1 if k == NUM_BRANCHES - 1 else 2):
                acc, l_i, m_i = _attend_range(
                    acc, l_i, m_i, q, c_row, rows, row_frame, k_src, v_src, b, h, ks_ptr, stride_kn, stride_vn,
                    parts[4 * part], parts[4 * part + 1], parts[4 * part + 2], parts[4 * part + 3],
                    m_first, m_last, f_lo, f_hi, ring_lo, ring_hi, inner_lo, inner_hi,
                    n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
                    k < NUM_BRANCHES - 1, HAS_GUARD, DECAY, IEEE, QUANT_QK, FP8_PV, TMA_K, TMA_V, BLOCK_N, HEAD_DIM)
            out = acc / l_i[:, None]
            if FP8_PV:
                out = out * (tl.load(V_SCALE + pid_bh * HEAD_DIM + offs_d) / P_SCALE)[None, :]
            branch = tl.full([], k, tl.int64)
            o_ptrs = (O + branch * stride_ok + b * stride_ob + h * stride_oh + rows.to(tl.int64)[:, None] * stride_on
                      + offs_d[None, :])
            tl.store(o_ptrs, out.to(O.dtype.element_ty), mask=rows[:, None] < n_tokens)


@torch.compiler.assume_constant_result
def _is_hopper(device: torch.device) -> bool:
    """Whether CUDA `device` has compute capability 9.x (a constant to torch.compile, not a graph break)."""
    return torch.cuda.get_device_capability(device)[0] == 9


class FusedKernel:
    """Executes supported plans (`supports`) with one fused Triton pass per query block.

    Args:
        block_m, block_n: queries and keys per block (block_n None: 128 for quantized Q·K with P·V
            in the inputs' dtype and for keys and values read by bulk copies (`tma`), the fastest
            settings measured at 84 latent frames on an H200, `benchmarks/RESULTS.md`; 64 otherwise,
            and for float32 inputs, whose values at 128 keys overflow an H200's shared memory).
        num_warps, num_stages: Triton launch settings (None: Triton's defaults). More than two stages (Triton's default
            three, or more given) are lowered to two for float32 inputs at head size 128 or more, whose query block and
            three stages of key and value blocks pass the 227 KB of shared memory of an H100 or H200 (`_launch`).
        qk: None, or "fp8" / "int8": the queries and smoothed keys in e4m3 / int8 with one scale per
            block (`quantize`), the logits from the low-precision product.
        pv: None, or "fp8": the values (one scale per channel) and the probabilities in e4m3.
        tma: load keys and values with tensor descriptors (Hopper's bulk copies) rather than pointers:
            None for 16-bit inputs on Hopper GPUs (compute capability 9.x), True or False to force
            (Triton's interpreter runs them too). Under torch.compile Inductor builds the descriptors
            (`TensorDescriptor.from_tensor`) at launch. For values stored channel-major
            (``pv="fp8"``) and for tensors whose strides a descriptor cannot take, pointers regardless.
        warp_specialized: run the pass on the warp-specialized Gluon kernel (`hopper`) rather than this
            module's Triton kernel: None (the default) where it can at head size 128, the size measured
            (faster on an H100 on every method's plan at 21-84 latent frames: `benchmarks/RESULTS.md`), and
            the Triton kernel from then on, with one warning, in a process where it fails to build;
            True where it can at all, raising elsewhere (Hopper GPUs, 16-bit inputs at head size 64 or
            128, no text keys, no quantized operands, eager runs, Triton with Gluon); False never.
        On a GPU, FP8 needs compute capability 8.9 (Ada, Hopper) and INT8 8.0
        (`quantize.required_capability`);
        on the CPU they run in Triton's interpreter.
    """

    def __init__(self, block_m: int = 128, block_n: Optional[int] = None, num_warps: Optional[int] = 8,
                 num_stages: Optional[int] = 3, qk: Optional[str] = None, pv: Optional[str] = None,
                 tma: Optional[bool] = None, warp_specialized: Optional[bool] = None):
        if triton is None:
            raise RuntimeError("the fused kernel needs Triton (shipped with CUDA builds of PyTorch)")
        if qk not in (None, *quantize.FORMATS) or pv not in (None, "fp8"):
            raise ValueError(f"qk must be None, 'fp8' or 'int8' and pv None or 'fp8'; got {qk!r}, {pv!r}")
        self.block_m, self.block_n = block_m, block_n
        self.launch = {k: v for k, v in (("num_warps", num_warps), ("num_stages", num_stages)) if v is not None}
        self.qk, self.pv, self.tma, self.warp_specialized = qk, pv, tma, warp_specialized
        self.name = "fused" + "".join(f"-{part}" for part in (qk, pv and f"{pv}pv") if part) + (
            "-triton" if warp_specialized is False and not (qk or pv) else "")
        self._window_tensors = {}

    def _windows(self, plan, device) -> torch.Tensor:
        """``[K]`` int32 window of each branch in token frames (global = every frame), made once per
        plan and device rather than copied to the device on every call."""
        cache_key = (plan.windows, plan.layout.frames, str(device))
        if cache_key not in self._window_tensors:
            frames = [plan.layout.frames if w is None else w for w in plan.windows]
            self._window_tensors[cache_key] = torch.tensor(frames, dtype=torch.int32, device=device)
        return self._window_tensors[cache_key]

    #: takes joint attention's text keys (`__call__`'s ``text``)
    takes_text_keys = True

    def _check_device(self, query) -> None:
        """Refuse a GPU without the matrix units it needs in eager runs (under torch.compile Triton's own
        compile error says so, and the query would break the graph)."""
        if torch.compiler.is_compiling() or not query.is_cuda:
            return
        needed = quantize.required_capability(self.qk, self.pv)
        if torch.cuda.get_device_capability(query.device) < needed:
            raise RuntimeError(f"kernel {self.name!r} needs a GPU of compute capability {needed[0]}.{needed[1]} "
                               f"or newer; use kernel='fused' on this one")

    def _uses_tma(self, query, key, value) -> bool:
        """Whether keys and values go by tensor descriptors (`tma`): forced by ``tma=True``; by default
        for 16-bit inputs on Hopper (compute capability 9.x, the GPUs measured). Either way only where
        every described tensor is 16-byte aligned (`_describable`; under torch.compile its strides)."""
        if self.tma is False:
            return False
        if self.tma and TensorDescriptor is None:
            raise RuntimeError("tma=True needs Triton 3.4 or newer (triton.tools.tensor_descriptor)")
        wanted = self.tma or (
            TensorDescriptor is not None and query.is_cuda and query.dtype != torch.float32
            and torch.version.hip is None and _is_hopper(query.device))
        # quantized keys and FP8 values are fresh contiguous copies; channel-major values take pointers
        return bool(wanted and (self.qk or self._describable(key)) and (self.pv or self._describable(value)))

    #: why the Gluon kernel failed to build in this process (then the default takes the Triton kernel), or None
    gluon_failure: Optional[str] = None

    def _gluon_can_run(self, query, key, value, text) -> bool:
        """Whether `hopper.fused_attention` takes these inputs and this kernel's settings here."""
        return (
            hopper.gluon is not None and text is None and not self.qk and not self.pv
            and query.is_cuda and torch.version.hip is None and not torch.compiler.is_compiling()
            and query.dtype in (torch.bfloat16, torch.float16) and query.shape[-1] in (64, 128)
            and _is_hopper(query.device) and all(self._describable(x) for x in (query, key, value)))

    def _uses_warp_specialized(self, query, key, value, text) -> bool:
        """Whether `hopper.fused_attention` runs this call (`warp_specialized`)."""
        if self.warp_specialized is False or (self.warp_specialized is None and FusedKernel.gluon_failure):
            return False
        possible = self._gluon_can_run(query, key, value, text)
        if self.warp_specialized and not possible:
            raise ValueError("warp_specialized=True needs 16-bit inputs of head size 64 or 128 without text keys or "
                             "quantizing, on a Hopper GPU, in an eager run, and Triton with Gluon (3.6 or newer)")
        return possible and (self.warp_specialized or query.shape[-1] == 128)

    @staticmethod
    def _describable(x: torch.Tensor) -> bool:
        """A descriptor can take ``[B, H, N, D]`` `x`: its address and all strides but the unit last one
        16-byte aligned. Under torch.compile, where tensors have no address yet, the strides only: the
        processors' keys and values are Inductor's own buffers, or views of them at offsets of whole
        tokens or heads, which aligned strides keep aligned."""
        size = x.element_size()
        aligned_start = torch.compiler.is_compiling() or x.data_ptr() % 16 == 0
        return aligned_start and not any(stride * size % 16 for stride in x.stride()[:3])

    @staticmethod
    def _descriptor(x: torch.Tensor, block_n: int):
        """A tensor descriptor of ``[B, H, N, D]`` `x` loading ``[1, 1, block_n, D]`` boxes."""
        return TensorDescriptor.from_tensor(x, [1, 1, block_n, x.shape[-1]])  # the form Inductor can build

    def _launch(self, query) -> dict:
        """Triton's launch settings for `query`'s inputs: two stages, not three or more, for float32 at head size 128 or more (a
        ``[128, 128]`` float32 query block and three stages of ``[64, 128]`` key and value blocks need 228 KB: Sana-WM's camera
        branch on an H100)."""
        if query.dtype == torch.float32 and query.shape[-1] >= 128 and self.launch.get("num_stages", 3) > 2:
            return dict(self.launch, num_stages=2)
        return self.launch

    def _keys_per_block(self, query, use_tma: bool) -> int:
        if self.block_n:
            return self.block_n
        if query.dtype == torch.float32 or self.pv:
            return 64
        return 128 if self.qk or use_tma else 64

    def __call__(self, query, key, value, plan, text=None):
        """query/key/value ``[B, H, N, D]`` (any strides, unit stride in D) -> one ``[B, H, N, D]``
        output per branch, global first. `text`: joint attention's extra keys, a `TextKeys` (key/value
        ``[B, H, T, D]``, visible ``[B, T]`` bool or None), seen by every query in every branch."""
        if not supports(plan, query):
            raise ValueError("the fused kernel cannot run this plan; use the flex or dense kernel")
        self._check_device(query)
        batch, heads, n_tokens, dim = query.shape
        layout = plan.layout
        extra = (text.key, text.value) if text is not None else ()
        if any(x.stride(-1) != 1 for x in (query, key, value, *extra)):
            raise ValueError("the fused kernel needs unit stride along the head dimension")
        branches = plan.num_branches
        # the kernel writes the whole `target` (under torch.compile, Inductor must see that buffer as
        # the one written, not a view of its first branch)
        if branches == 1:  # the processor's layout, so flattening the heads needs no copy
            target = torch.empty(batch, n_tokens, heads, dim, dtype=query.dtype, device=query.device).transpose(1, 2)
            outputs, stride_k, stride_out = [target], 0, target.stride()[:3]
        else:              # branch-major: the band fusion reads each branch in place
            target = torch.empty(branches, batch, heads, n_tokens, dim, dtype=query.dtype, device=query.device)
            outputs, stride_k, stride_out = list(target), target.stride(0), target.stride()[1:4]
        windows = self._windows(plan, query.device)
        decay = _decay_mode(plan)
        center = bool(plan.center_keys and decay != DECAY_NONE)
        alpha = plan.region_score_mod.alpha if decay != DECAY_NONE else 1.0
        far_limit = plan.score_region.limit if decay in (DECAY_TOKEN, DECAY_FRAME) else 0
        text_k, text_v = extra or (query, value)  # without text the kernel never reads them
        text_visible = windows if text is None or text.visible is None else text.visible.to(torch.int8).contiguous()
        # [B, H, D] mean key: the decay's centre, and the keys' smoothing before quantizing (either way
        # every logit of a query moves by the same amount)
        mean_k = key.mean(dim=2, dtype=torch.float32).contiguous() if center or self.qk else None
        # the decay's offset vector: centre minus smoothing (see the module docstring)
        offset_k = (mean_k if center else None) if not self.qk else (None if center else -mean_k)
        has_offset = offset_k is not None and decay != DECAY_NONE
        if self._uses_warp_specialized(query, key, value, text):
            try:
                hopper.fused_attention(query, key, value, target.unsqueeze(0) if branches == 1 else target, windows,
                                       offset_k if has_offset else None, layout, decay, alpha, far_limit,
                                       plan.base_mask is not None)
                return outputs
            except (TritonError, RuntimeError, TypeError, AttributeError) as error:
                if self.warp_specialized or not _is_build_error(error):
                    raise
                last_line = (str(error).strip().splitlines() or [""])[-1][:200]
                FusedKernel.gluon_failure = f"{type(error).__name__}: {last_line}"
                warnings.warn(f"vidlong: the warp-specialized Gluon kernel did not build on Triton {triton.__version__} "
                              f"({FusedKernel.gluon_failure}); the Triton kernel runs instead", RuntimeWarning)
        scales = [windows] * 4  # Q, K, text K, V scales; unquantized, the kernel never reads them
        ieee = query.dtype == torch.float32  # products of float32 inputs in full precision
        use_tma = self._uses_tma(query, key, value)
        block_n = self._keys_per_block(query, use_tma)
        if self.qk:
            query, scales[0] = quantize.quantize_token_blocks(query, self.block_m, self.qk)
            key, scales[1] = quantize.quantize_token_blocks(key, block_n, self.qk, shift=mean_k)
            if text is not None:
                text_k, scales[2] = quantize.quantize_token_blocks(text_k, block_n, self.qk, shift=mean_k)
        if self.pv:  # one scale per channel over the video's and the text's values
            quantized, scales[3] = quantize.quantize_channels_transposed(value, *extra[1:])
            value, text_v = quantized[0], quantized[-1]
        # strides of the values as [B, H, N, D] (the e4m3 copies are stored [B, H, D, N])
        v_strides, tv_strides = ((t.stride(0), t.stride(1), t.stride(3), t.stride(2)) if self.pv
                                 else (*t.stride()[:3], 1) for t in (value, text_v))
        key_source = self._descriptor(key, block_n) if use_tma else key
        value_source = self._descriptor(value, block_n) if use_tma and not self.pv else value
        grid = (triton.cdiv(n_tokens, self.block_m), batch * heads)
        # Triton launches on the current device; under torch.compile Inductor guards the device itself,
        # and dynamo would break the graph at this context manager
        eager_on_cuda = query.is_cuda and not torch.compiler.is_compiling()
        with torch.cuda.device(query.device) if eager_on_cuda else contextlib.nullcontext():
            _fused_attention[grid](
                query, key_source, value_source, target, offset_k if has_offset else windows, windows, text_k, text_v,
                text_visible, *scales,
                query.stride(0), query.stride(1), query.stride(2), key.stride(0), key.stride(1), key.stride(2),
                *v_strides, stride_k, *stride_out,
                text_k.stride(0), text_k.stride(1), text_k.stride(2), *tv_strides,
                heads, n_tokens, layout.tokens_per_frame, layout.frames, layout.native_frames,
                math.log2(math.e) / math.sqrt(dim), alpha, far_limit, text_k.shape[2] if text is not None else 0,
                NUM_BRANCHES=branches, HAS_GUARD=plan.base_mask is not None, DECAY=decay, HAS_OFFSET=has_offset,
                HAS_TEXT=text is not None, HAS_TEXT_MASK=text is not None and text.visible is not None,
                IEEE=ieee, QUANT_QK=self.qk is not None, FP8_PV=self.pv is not None,
                TMA_K=key_source is not key, TMA_V=value_source is not value, BLOCK_M=self.block_m, BLOCK_N=block_n, HEAD_DIM=dim,
                **self._launch(query),
            )
        return outputs
