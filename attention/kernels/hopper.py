"""Warp-specialized Hopper kernel (Gluon) for the fused pass: every branch of a frame-window plan.

The same pass as `fused` (rings of keys visited most local first, one running softmax, each branch's
output written once its ring is done; UltraViCo's decay and the masks on unscaled logits, by
`rules`), scheduled by hand for Hopper. A program takes 128 queries of one (batch, head)
and splits the work over three partitions of warps: a loader warp brings the two 64-query halves once
and then the key and value blocks, `STAGES` deep, by Hopper's bulk tensor copies; two consumer
warpgroups each run the online softmax of one half, their matrix products on the wgmma units. A
consumer issues the next block's logits before this block's P·V, and decays them (in place, a few registers)
while that P·V runs. With one branch and no key centring it makes the next softmax under the P·V too
(FlashAttention-3's overlap within a warpgroup); otherwise after it, where the registers that overlap holds
spill (measured on an H100: the overlap won on the plain pass and lost 0.2-0.3x SDPA on the centred decay and the fusion
plans; the masks under the P·V spill too, `benchmarks/RESULTS.md`). The loader and the consumers
walk the same sequence of key blocks (`rules.ring_parts`, from the program's 128 rows); the masks keep each
row to its own ring.

Inputs ``[B, H, N, D]`` in bfloat16 or float16 with D 64 or 128, any strides a tensor descriptor takes;
only on compute capability 9.x and in eager runs (Inductor does not launch Gluon kernels); no joint
attention's text keys and no quantized operands (`fused.FusedKernel` picks). Units: frames are token frames.
"""
from __future__ import annotations

import math

import torch

from . import rules

try:
    import triton
    if tuple(int(part) for part in triton.__version__.split(".")[:2]) < (3, 6):
        raise ImportError("3.5's Gluon takes warp_specialize's partitions in another form")
    from triton.experimental import gluon
    from triton.experimental.gluon import language as gl
    from triton.experimental.gluon.language.nvidia.hopper import (
        fence_async_shared, mbarrier, tma, warpgroup_mma, warpgroup_mma_wait)
    from triton.experimental.gluon.nvidia.hopper import TensorDescriptor
except ImportError:  # no Triton, or one before this kernel's Gluon (3.6)
    gluon = None

#: queries per consumer warpgroup, consumers per program, keys per block, key/value stages in flight
HALF_M, CONSUMERS, BLOCK_N, STAGES = 64, 2, 128, 2
#: the launch's num_warps: the default partition, the first consumer's warpgroup (fixed: the consumers' layouts
#: and the second consumer's partition assume 4; the loader's warp comes on top: 9 warps in all)
NUM_WARPS = 4

if gluon is not None:

    #: `rules`' Triton functions compiled again in Gluon: one frame window, ring geometry and decay rule for both kernels
    _ring_rows = gluon.jit(rules.ring_rows.fn)
    _program_frames = gluon.jit(rules.program_frames.fn)
    _ring_parts = gluon.jit(rules.ring_parts.fn)
    _decay = gluon.jit(rules.decay.fn)

    @gluon.jit
    def _load(q_desc, k_desc, v_desc, windows_ptr, q_smem, k_smem, v_smem, q_bar, k_ready, v_ready, kv_free,
              b, h, m0, n_tokens, tokens_per_frame, frames, native_frames, HAS_GUARD: gl.constexpr,
              NUM_BRANCHES: gl.constexpr, HALF: gl.constexpr, BLOCK: gl.constexpr, NUM_STAGES: gl.constexpr):
        """The loader warp: both query halves on `q_bar`, then every ring's key blocks in the consumers'
        order, block j's keys into stage ``j % NUM_STAGES`` on `k_ready` and its values on `v_ready`, once
        both consumers have freed the stage (`kv_free`)."""
        mbarrier.expect(q_bar, 2 * q_desc.block_type.nbytes)
        tma.async_copy_global_to_shared(q_desc, [b, h, m0, 0], q_bar, q_smem.index(0))
        tma.async_copy_global_to_shared(q_desc, [b, h, m0 + HALF, 0], q_bar, q_smem.index(1))
        f_lo, f_hi, visible_end = _program_frames(m0, n_tokens, tokens_per_frame, native_frames, HAS_GUARD, 2 * HALF)
        j = 0
        for ring in range(NUM_BRANCHES):
            parts = _ring_parts(windows_ptr, NUM_BRANCHES - 1 - ring, f_lo, f_hi, frames, tokens_per_frame, visible_end,
                                NUM_BRANCHES, BLOCK)
            for part in gl.static_range(2):
                for block in range(parts[4 * part], parts[4 * part + 1]):
                    stage = j % NUM_STAGES
                    mbarrier.wait(kv_free.index(stage), ((j // NUM_STAGES) & 1) ^ 1)  # a fresh barrier: passes
                    mbarrier.expect(k_ready.index(stage), k_desc.block_type.nbytes)
                    tma.async_copy_global_to_shared(k_desc, [b, h, block * BLOCK, 0], k_ready.index(stage),
                                                    k_smem.index(stage))
                    mbarrier.expect(v_ready.index(stage), v_desc.block_type.nbytes)
                    tma.async_copy_global_to_shared(v_desc, [b, h, block * BLOCK, 0], v_ready.index(stage),
                                                    v_smem.index(stage))
                    j += 1

    @gluon.jit
    def _block_decay(qk, n0, rows, row_frame, c_row, m_first, m_last, f_lo, f_hi, tokens_per_frame, alpha, far_limit,
                     DECAY: gl.constexpr, BLOCK: gl.constexpr, col_layout: gl.constexpr):
        """UltraViCo's decay (`rules.decay`'s modes and region test over rows ``[m_first, m_last]``) on one ``[HALF,
        BLOCK]`` block of unscaled logits from key `n0`: in place, so that it can run while a P·V still holds the
        previous block's probabilities in registers."""
        if DECAY != 0:
            kv = n0 + gl.arange(0, BLOCK, layout=col_layout)
            qk = _decay(qk, c_row, rows, kv, row_frame, m_first, m_last, f_lo, f_hi, n0, tokens_per_frame, alpha,
                        far_limit, DECAY, BLOCK)
        return qk

    @gluon.jit
    def _block_masks(qk, n0, full_lo, full_hi, row_frame, ring_lo, ring_hi, inner_lo, inner_hi, n_tokens,
                     tokens_per_frame, native_frames, HAS_GUARD: gl.constexpr, BLOCK: gl.constexpr,
                     col_layout: gl.constexpr):
        """On a ``[HALF, BLOCK]`` block of logits from key `n0` not wholly inside tokens ``[full_lo, full_hi)``, the
        masks: each row's ring, the sequence end, the first-frame guard. A row's ring is frames ``[ring_lo, ring_hi)``
        outside ``[inner_lo, inner_hi)`` (empty for the narrowest ring)."""
        kv = n0 + gl.arange(0, BLOCK, layout=col_layout)
        if n0 < full_lo or n0 + BLOCK > full_hi:
            kv_frame = (kv // tokens_per_frame)[None, :]
            keep = ((kv_frame >= ring_lo[:, None]) & (kv_frame < ring_hi[:, None]) & (kv < n_tokens)[None, :]
                    & ((kv_frame < inner_lo[:, None]) | (kv_frame >= inner_hi[:, None])))
            if HAS_GUARD:
                keep = keep & ((row_frame[:, None] > 0) | (kv_frame < native_frames))
            qk = gl.where(keep, qk, float("-inf"))
        return qk

    @gluon.jit
    def _softmax_step(qk, m_i, l_i, qk_scale):
        """One block of unscaled logits into the running row max (log2 units) and row sum: the block's
        probabilities, the new max and sum, and the factor that rescales what came before. A row that has
        seen no key yet (a ring's edge block, a local window's first block) keeps the max ``-inf``; its
        exponents are taken against 0, as the Triton kernel's are."""
        m_new = gl.maximum(m_i, gl.max(qk, 1) * qk_scale)
        m_safe = gl.where(m_new == float("-inf"), 0.0, m_new)
        p = gl.exp2(qk * qk_scale - m_safe[:, None])
        correction = gl.exp2(m_i - m_safe)
        return p, m_new, l_i * correction + gl.sum(p, 1), correction

    @gluon.jit
    def _attend_part(q, no_logits, k_smem, v_smem, k_ready, v_ready, kv_free, j, lo, hi, full_lo, full_hi, acc, m_i, l_i,
                     rows, row_frame, c_row, ring_lo, ring_hi, inner_lo, inner_hi, m_first, m_last, f_lo, f_hi,
                     n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit,
                     DECAY: gl.constexpr, HAS_GUARD: gl.constexpr,
                     BLOCK: gl.constexpr, HEAD_DIM: gl.constexpr, NUM_STAGES: gl.constexpr, OVERLAP: gl.constexpr,
                     s_layout: gl.constexpr, o_layout: gl.constexpr):
        """Key blocks ``[lo, hi)`` (the `j`-th block of the loader's sequence first) into one consumer's running
        softmax of its query half `q` (`no_logits`: a ``[HALF, BLOCK]`` float32 block in the logits' layout); block
        i's P·V runs while block i+1's logits are made and decayed, and with OVERLAP its masks and softmax too."""
        p_layout: gl.constexpr = gl.DotOperandLayout(operand_index=0, parent=o_layout, k_width=2)
        col_layout: gl.constexpr = gl.SliceLayout(0, s_layout)
        if hi > lo:
            mbarrier.wait(k_ready.index(j % NUM_STAGES), (j // NUM_STAGES) & 1)
            qk = warpgroup_mma(q, k_smem.index(j % NUM_STAGES).reshape([BLOCK, HEAD_DIM]).permute((1, 0)), no_logits,
                               use_acc=False, is_async=True)
            qk = warpgroup_mma_wait(num_outstanding=0, deps=(qk,))
            qk = _block_decay(qk, lo * BLOCK, rows, row_frame, c_row, m_first, m_last, f_lo, f_hi, tokens_per_frame,
                              alpha, far_limit, DECAY, BLOCK, col_layout)
            qk = _block_masks(qk, lo * BLOCK, full_lo, full_hi, row_frame, ring_lo, ring_hi, inner_lo, inner_hi,
                              n_tokens, tokens_per_frame, native_frames, HAS_GUARD, BLOCK, col_layout)
            p, m_i, l_i, correction = _softmax_step(qk, m_i, l_i, qk_scale)
            acc = acc * gl.convert_layout(correction, gl.SliceLayout(1, o_layout))[:, None]
            for block in range(lo, hi - 1):
                stage = j % NUM_STAGES
                next_stage = (j + 1) % NUM_STAGES
                mbarrier.wait(k_ready.index(next_stage), ((j + 1) // NUM_STAGES) & 1)
                next_qk = warpgroup_mma(q, k_smem.index(next_stage).reshape([BLOCK, HEAD_DIM]).permute((1, 0)),
                                        no_logits, use_acc=False, is_async=True)
                mbarrier.wait(v_ready.index(stage), (j // NUM_STAGES) & 1)
                pv = warpgroup_mma(gl.convert_layout(p.to(q.dtype), p_layout),
                                   v_smem.index(stage).reshape([BLOCK, HEAD_DIM]), acc, is_async=True)
                qk = warpgroup_mma_wait(num_outstanding=1, deps=(next_qk,))
                qk = _block_decay(qk, (block + 1) * BLOCK, rows, row_frame, c_row, m_first, m_last, f_lo, f_hi,
                                  tokens_per_frame, alpha, far_limit, DECAY, BLOCK, col_layout)
                if not OVERLAP:
                    acc = warpgroup_mma_wait(num_outstanding=0, deps=(pv,))
                qk = _block_masks(qk, (block + 1) * BLOCK, full_lo, full_hi, row_frame, ring_lo, ring_hi, inner_lo,
                                  inner_hi, n_tokens, tokens_per_frame, native_frames, HAS_GUARD, BLOCK, col_layout)
                p, m_i, l_i, correction = _softmax_step(qk, m_i, l_i, qk_scale)
                if OVERLAP:
                    acc = warpgroup_mma_wait(num_outstanding=0, deps=(pv,))
                mbarrier.arrive(kv_free.index(stage))
                acc = acc * gl.convert_layout(correction, gl.SliceLayout(1, o_layout))[:, None]
                j += 1
            stage = j % NUM_STAGES
            mbarrier.wait(v_ready.index(stage), (j // NUM_STAGES) & 1)
            pv = warpgroup_mma(gl.convert_layout(p.to(q.dtype), p_layout), v_smem.index(stage).reshape([BLOCK, HEAD_DIM]),
                               acc, is_async=True)
            acc = warpgroup_mma_wait(num_outstanding=0, deps=(pv,))
            mbarrier.arrive(kv_free.index(stage))
            j += 1
        return acc, m_i, l_i, j

    @gluon.jit
    def _consume(q_smem, k_smem, v_smem, o_smem, o_desc, windows_ptr, offset_ptr, q_bar, k_ready, v_ready, kv_free,
                 b, h, pid_bh, half, m0, n_tokens, tokens_per_frame, frames, native_frames, qk_scale, alpha, far_limit,
                 NUM_BRANCHES: gl.constexpr, DECAY: gl.constexpr, HAS_OFFSET: gl.constexpr, HAS_GUARD: gl.constexpr,
                 HALF: gl.constexpr, BLOCK: gl.constexpr, HEAD_DIM: gl.constexpr, NUM_STAGES: gl.constexpr,
                 OVERLAP: gl.constexpr):
        """One consumer warpgroup: query half `half` through every ring, each branch's output written to
        its rows of `o_desc` (``[K, B, H, N, D]``; the bulk store clips rows past the sequence end)."""
        s_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1], instr_shape=[16, BLOCK, 16])
        o_layout: gl.constexpr = gl.NVMMADistributedLayout(version=[3, 0], warps_per_cta=[4, 1],
                                                           instr_shape=[16, HEAD_DIM, 16])
        row_layout: gl.constexpr = gl.SliceLayout(1, s_layout)

        m_first = m0 + half * HALF
        m_last = gl.minimum(m_first + HALF, n_tokens) - 1
        rows = m_first + gl.arange(0, HALF, layout=row_layout)
        row_frame = gl.minimum(rows, n_tokens - 1) // tokens_per_frame
        f_lo, f_hi, visible_end = _program_frames(m0, n_tokens, tokens_per_frame, native_frames, HAS_GUARD, 2 * HALF)

        mbarrier.wait(q_bar, 0)
        q = q_smem.index(half).reshape([HALF, HEAD_DIM])
        if HAS_OFFSET:  # c = (1-α)·q·o, unscaled like the logits
            q_layout: gl.constexpr = gl.BlockedLayout([1, 8], [4, 8], [4, 1], [1, 0])
            q_rows = q.load(q_layout).to(gl.float32)
            o_vec = gl.load(offset_ptr + pid_bh * HEAD_DIM + gl.arange(0, HEAD_DIM, layout=gl.SliceLayout(0, q_layout)))
            c_row = gl.convert_layout(gl.sum(q_rows * o_vec[None, :], 1) * (1.0 - alpha), row_layout)
        else:
            c_row = gl.zeros([HALF], gl.float32, layout=row_layout)

        m_i = gl.full([HALF], float("-inf"), gl.float32, layout=row_layout)
        l_i = gl.zeros([HALF], gl.float32, layout=row_layout)
        acc = gl.zeros([HALF, HEAD_DIM], gl.float32, layout=o_layout)
        no_logits = gl.zeros([HALF, BLOCK], gl.float32, layout=s_layout)
        o_tile = o_smem.index(half)
        j = 0
        for ring in range(NUM_BRANCHES):
            k = NUM_BRANCHES - 1 - ring  # the branch this ring completes: most local first
            ring_lo, ring_hi, inner_lo, inner_hi = _ring_rows(windows_ptr, k, row_frame, frames, NUM_BRANCHES)
            parts = _ring_parts(windows_ptr, k, f_lo, f_hi, frames, tokens_per_frame, visible_end, NUM_BRANCHES, BLOCK)
            for part in gl.static_range(2):
                acc, m_i, l_i, j = _attend_part(
                    q, no_logits, k_smem, v_smem, k_ready, v_ready, kv_free, j, parts[4 * part], parts[4 * part + 1],
                    parts[4 * part + 2], parts[4 * part + 3], acc, m_i, l_i, rows, row_frame, c_row, ring_lo, ring_hi,
                    inner_lo, inner_hi, m_first, m_last, m_first // tokens_per_frame, m_last // tokens_per_frame,
                    n_tokens, tokens_per_frame, native_frames, qk_scale, alpha, far_limit, DECAY, HAS_GUARD,
                    BLOCK, HEAD_DIM, NUM_STAGES, OVERLAP, s_layout, o_layout)
            l_o = gl.convert_layout(l_i, gl.SliceLayout(1, o_layout))
            o_tile.reshape([HALF, HEAD_DIM]).store((acc / l_o[:, None]).to(q.dtype))
            fence_async_shared()
            tma.async_copy_shared_to_global(o_desc, [k, b, h, m_first, 0], o_tile)
            tma.store_wait(pendings=0)

    @gluon.jit
    def _fused_attention(q_desc, k_desc, v_desc, o_desc, windows_ptr, offset_ptr, heads, n_tokens, tokens_per_frame,
                         frames, native_frames, qk_scale, alpha, far_limit, NUM_BRANCHES: gl.constexpr,
                         DECAY: gl.constexpr, HAS_OFFSET: gl.constexpr, HAS_GUARD: gl.constexpr, HALF: gl.constexpr,
                         BLOCK: gl.constexpr, HEAD_DIM: gl.constexpr, NUM_STAGES: gl.constexpr, OVERLAP: gl.constexpr):
        """One program: queries ``[m0, m0 + 2·HALF)`` of one (batch, head), every branch."""
        pid_m = gl.program_id(0)
        pid_bh = gl.program_id(1)
        b = pid_bh // heads
        h = pid_bh % heads
        m0 = pid_m * (2 * HALF)
        dtype: gl.constexpr = q_desc.dtype

        q_smem = gl.allocate_shared_memory(dtype, [2] + q_desc.block_type.shape, q_desc.layout)
        o_smem = gl.allocate_shared_memory(dtype, [2] + o_desc.block_type.shape, o_desc.layout)
        k_smem = gl.allocate_shared_memory(dtype, [NUM_STAGES] + k_desc.block_type.shape, k_desc.layout)
        v_smem = gl.allocate_shared_memory(dtype, [NUM_STAGES] + v_desc.block_type.shape, v_desc.layout)
        q_bar = gl.allocate_shared_memory(gl.int64, [1], mbarrier.MBarrierLayout())
        k_ready = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
        v_ready = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
        kv_free = gl.allocate_shared_memory(gl.int64, [NUM_STAGES, 1], mbarrier.MBarrierLayout())
        mbarrier.init(q_bar, count=1)
        for stage in gl.static_range(NUM_STAGES):
            mbarrier.init(k_ready.index(stage), count=1)
            mbarrier.init(v_ready.index(stage), count=1)
            mbarrier.init(kv_free.index(stage), count=2)  # both consumers release a stage

        gl.warp_specialize([
            (_consume, (q_smem, k_smem, v_smem, o_smem, o_desc, windows_ptr, offset_ptr, q_bar, k_ready, v_ready, kv_free,
                        b, h, pid_bh, 0, m0, n_tokens, tokens_per_frame, frames, native_frames, qk_scale, alpha, far_limit,
                        NUM_BRANCHES, DECAY, HAS_OFFSET, HAS_GUARD, HALF, BLOCK, HEAD_DIM, NUM_STAGES,
                        OVERLAP)),
            (_consume, (q_smem, k_smem, v_smem, o_smem, o_desc, windows_ptr, offset_ptr, q_bar, k_ready, v_ready, kv_free,
                        b, h, pid_bh, 1, m0, n_tokens, tokens_per_frame, frames, native_frames, qk_scale, alpha, far_limit,
                        NUM_BRANCHES, DECAY, HAS_OFFSET, HAS_GUARD, HALF, BLOCK, HEAD_DIM, NUM_STAGES,
                        OVERLAP)),
            (_load, (q_desc, k_desc, v_desc, windows_ptr, q_smem, k_smem, v_smem, q_bar, k_ready, v_ready, kv_free,
                     b, h, m0, n_tokens, tokens_per_frame, frames, native_frames, HAS_GUARD, NUM_BRANCHES, HALF, BLOCK,
                     NUM_STAGES)),
        ], [4, 1], [240, 24])


def descriptor(x: torch.Tensor, rows: int):
    """A Gluon tensor descriptor of `x` (``[..., N, D]``, unit stride in D) moving ``[1, ..., 1, rows, D]`` boxes."""
    block = [1] * (x.dim() - 2) + [rows, x.shape[-1]]
    layout = gl.NVMMASharedLayout.get_default_for(block, gl.bfloat16 if x.dtype == torch.bfloat16 else gl.float16)
    return TensorDescriptor.from_tensor(x, block, layout)


def _launch(query, key, value, out, windows, offset_k, layout, decay: int, alpha: float, far_limit: int, guard: bool):
    """The grid, arguments and compile-time constants of `_fused_attention` for `fused_attention`'s inputs."""
    batch, heads, n_tokens, dim = query.shape
    grid = (math.ceil(n_tokens / (CONSUMERS * HALF_M)), batch * heads)
    args = (descriptor(query, HALF_M), descriptor(key, BLOCK_N), descriptor(value, BLOCK_N), descriptor(out, HALF_M),
            windows, offset_k if offset_k is not None else windows, heads, n_tokens, layout.tokens_per_frame,
            layout.frames, layout.native_frames, math.log2(math.e) / math.sqrt(dim), alpha, far_limit)
    constants = dict(NUM_BRANCHES=len(windows), DECAY=decay, HAS_OFFSET=offset_k is not None, HAS_GUARD=guard,
                     HALF=HALF_M, BLOCK=BLOCK_N, HEAD_DIM=dim, NUM_STAGES=STAGES,
                     OVERLAP=len(windows) == 1 and offset_k is None)
    return grid, args, constants


def fused_attention(query, key, value, out, windows, offset_k, layout, decay: int, alpha: float, far_limit: int,
                    guard: bool) -> None:
    """Writes into `out` (``[K, B, H, N, D]``) every branch of ``[B, H, N, D]`` query/key/value (16-byte
    aligned strides, unit stride in D): `windows` ``[K]`` int32 window of each branch in token frames,
    global first; `decay` one of `fused`'s DECAY_* modes; `offset_k` ``[B·H, D]`` float32 decay offset
    vector or None; `layout` the plan's `TokenLayout`; `guard` the first-frame guard."""
    grid, args, constants = _launch(query, key, value, out, windows, offset_k, layout, decay, alpha, far_limit, guard)
    with torch.cuda.device(query.device):
        _fused_attention[grid](*args, **constants, num_warps=NUM_WARPS)


def compile_for(target, *inputs):
    """The kernel `fused_attention` would launch for `inputs` (its arguments; CPU tensors will do), compiled
    for `target` (e.g. ``GPUTarget("cuda", 90, 32)``, an H100) without a GPU: a build check. Returns Triton's
    compiled kernel (``.asm["cubin"]``, ``.metadata.shared`` in bytes)."""
    import triton
    from triton.experimental.gluon._runtime import GluonASTSource
    from triton.runtime.jit import mangle_type

    _, args, constants = _launch(*inputs)
    signature = {name: mangle_type(arg) for name, arg in zip(_fused_attention.arg_names, args)}
    signature.update({name: "constexpr" for name in constants})
    return triton.compile(GluonASTSource(_fused_attention, signature, constants), target=target,
                          options={"num_warps": NUM_WARPS})
