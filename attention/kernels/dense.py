"""Dense reference kernel: attention block by block of queries; any device, any float dtype.

It is the oracle for every faster kernel and the CPU path. Memory is bounded by `query_block`
queries at a time: ``[B, H, query_block, N]`` logits (on the CPU, blocks of at most 16 MiB). A
masked block computes only the span of keys its mask lets some query see (a sliding window's band),
so local branches cost their window, not N. A branch with only a mask runs through PyTorch's fused
SDPA with the mask materialised per block; a score_mod (or a request for the log-sum-exp)
materialises the logits and takes one softmax over them.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F

from ..mods import MaskMod, ScoreMod, window_start


def dense_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask_mod: Optional[MaskMod] = None,
    score_mod: Optional[ScoreMod] = None,
    compute_dtype: Optional[torch.dtype] = None,
    query_block: Optional[int] = None,
    return_lse: bool = False,
):
    """Softmax attention with FlexAttention-style modifiers.

    Args:
        query, key, value: ``[B, H, N, D]`` (key/value may have another length ``M``).
        mask_mod: ``(b, h, q_idx, kv_idx) -> bool`` or None.
        score_mod: ``(score, b, h, q_idx, kv_idx) -> score`` applied to ``q·k / sqrt(D)``.
        compute_dtype: dtype of the arithmetic (default: float32, or float64 for float64 inputs).
        query_block: queries per block; None: `auto_query_block`.
        return_lse: also return the natural log-sum-exp of the (modified, masked) logits.

    Returns:
        ``[B, H, N, D]`` in the query's dtype (and ``[B, H, N]`` float32/64 LSE if asked). A query
        that sees no key gets zeros and LSE ``-inf``, as FlexAttention does.
    """
    if compute_dtype is None:
        compute_dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    batch, heads, n_q, dim = query.shape
    n_kv = key.shape[2]
    device = query.device
    query_block = query_block or auto_query_block(batch * heads * n_kv, device)
    scale = 1.0 / math.sqrt(dim)
    k = key.to(compute_dtype)
    v = value.to(compute_dtype)
    b_idx = torch.arange(batch, device=device).view(batch, 1, 1, 1)
    h_idx = torch.arange(heads, device=device).view(1, heads, 1, 1)
    kv_idx = torch.arange(n_kv, device=device).view(1, 1, 1, n_kv)

    outs, lses = [], []
    for start in range(0, n_q, query_block):
        q = query[:, :, start : start + query_block].to(compute_dtype)
        q_idx = torch.arange(start, start + q.shape[2], device=device).view(1, 1, -1, 1)
        keep = None if mask_mod is None else mask_mod(b_idx, h_idx, q_idx, kv_idx)
        k_blk, v_blk, kv_blk, keep = _visible_span(k, v, kv_idx, keep)
        if score_mod is None and not return_lse:
            # nothing but a mask: PyTorch's fused SDPA computes exactly this softmax
            out = F.scaled_dot_product_attention(q, k_blk, v_blk, attn_mask=keep)
        else:
            scores = torch.matmul(q * scale, k_blk.transpose(-1, -2))
            if score_mod is not None:
                scores = score_mod(scores, b_idx, h_idx, q_idx, kv_blk)
            if keep is not None:
                scores = scores.masked_fill(~keep, float("-inf"))
            if return_lse:
                lse = torch.logsumexp(scores, dim=-1)
                lses.append(lse)
                weights = torch.exp(scores - lse.unsqueeze(-1))
            else:
                weights = torch.softmax(scores, dim=-1)
            out = torch.matmul(weights, v_blk)
        if keep is not None:  # queries that see no key: zeros, not the NaNs of an empty softmax (no branch: compiles whole)
            out = out.masked_fill(~keep.any(dim=-1, keepdim=True), 0.0)
        outs.append(out)
    out = torch.cat(outs, dim=2).to(query.dtype)
    return (out, torch.cat(lses, dim=2)) if return_lse else out


#: On the CPU, a query block's logits stay within this many bytes (float32): smaller temporaries stay in
#: the allocator's heap and the caches instead of fresh pages for every block (8x on the embedded
#: model: 4-5x faster with the decay, `benchmarks/RESULTS.md`).
CPU_BLOCK_BYTES = 16 * 2**20


def auto_query_block(logits_per_query: int, device: torch.device) -> int:
    """Queries per block: 2048 on accelerators; on the CPU the largest power of two (64 to 2048)
    whose float32 logits (`logits_per_query` = B·H·M each) fit `CPU_BLOCK_BYTES`."""
    if device.type != "cpu":
        return 2048
    fit = max(1, CPU_BLOCK_BYTES // (4 * logits_per_query))
    return min(2048, max(64, 1 << (fit.bit_length() - 1)))


def _visible_span(key, value, kv_idx, keep):
    """The keys, values, key indices ``[1, 1, 1, M]`` and mask of one query block cut to the span of keys
    its mask lets any query see (a local window's band: the others weigh exactly zero); all of them when
    there is no mask, it sees every key, it sees none (the caller gives those queries zeros), or under
    torch.compile (the span depends on the mask's values: one graph needs static shapes)."""
    if keep is None or keep.shape[-1] != key.shape[2] or torch.compiler.is_compiling():
        return key, value, kv_idx, keep
    seen = keep.reshape(-1, keep.shape[-1]).any(dim=0).nonzero()
    if not len(seen):
        return key, value, kv_idx, keep
    lo, hi = int(seen[0]), int(seen[-1]) + 1
    if hi - lo == key.shape[2]:
        return key, value, kv_idx, keep
    return key[:, :, lo:hi], value[:, :, lo:hi], kv_idx[..., lo:hi], keep[..., lo:hi]


def center_keys(key: torch.Tensor) -> torch.Tensor:
    """Subtract the mean key over the sequence: ``[B, H, N, D]`` -> same, mean taken in float32."""
    return (key.float() - key.float().mean(dim=2, keepdim=True)).to(key.dtype)


class DenseKernel:
    """Executes each branch of a plan with `dense_attention`."""

    name = "dense"

    def __init__(self, compute_dtype: Optional[torch.dtype] = None, query_block: Optional[int] = None):
        self.compute_dtype = compute_dtype
        self.query_block = query_block

    def __call__(self, query, key, value, plan):
        """query/key/value ``[B, H, N, D]`` -> one ``[B, H, N, D]`` output per branch."""
        centred = center_keys(key) if plan.center_keys else key
        return [
            adjacent_anchor_attention(query, key, value, plan.layout, window, plan.anchor_frames, plan.anchor_shift,
                                      self.compute_dtype)
            if window is not None and plan.anchor_shift is not None and plan.anchor_frames else
            dense_attention(query, centred, value, plan.branch_mask(k), plan.branch_score_mod(k), self.compute_dtype, self.query_block)
            for k, window in enumerate(plan.windows)
        ]


def adjacent_anchor_attention(query, key, value, layout, window: int, anchors: int, shift,
                              compute_dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Local-window attention whose window also sees the video's first `anchors` token frames,
    re-placed at the frames just before it (a stream's sinks, in one bidirectional forward).

    The queries of frame ``f`` see frames ``[s, s + window)``, ``s = window_start(f)``, and, when
    ``s > anchors``, the anchor frames' keys moved ``s - anchors`` frames later by `shift` (their values
    as they are); when ``s <= anchors`` the frames ``[0, s + window)`` at their own positions.

    Args:
        query, key, value: ``[B, H, N, D]``, keys RoPE-rotated at their own frames (not centred: a
            centring would not commute with the move).
        layout: the token grid; `window`, `anchors` in token frames.
        shift: ``shift(keys, frames)``, the family's temporal RoPE move (`wan_temporal_shift`).
        compute_dtype: as `dense_attention`'s.

    Returns:
        ``[B, H, N, D]`` in the query's dtype.
    """
    if compute_dtype is None:
        compute_dtype = torch.float64 if query.dtype == torch.float64 else torch.float32
    per_frame = layout.tokens_per_frame
    starts = window_start(layout, window, torch.arange(layout.frames)).tolist()
    q_all, k_all, v_all = (x.to(compute_dtype) for x in (query, key, value))
    anchor_keys, anchor_values = k_all[:, :, : anchors * per_frame], v_all[:, :, : anchors * per_frame]
    out = torch.empty_like(q_all)
    for start in sorted(set(starts)):
        first, stop = starts.index(start), len(starts) - starts[::-1].index(start)  # query frames [first, stop)
        end = (start + window) * per_frame
        if start > anchors:
            keys = torch.cat([shift(anchor_keys, start - anchors), k_all[:, :, start * per_frame : end]], dim=2)
            values = torch.cat([anchor_values, v_all[:, :, start * per_frame : end]], dim=2)
        else:
            keys, values = k_all[:, :, :end], v_all[:, :, :end]
        rows = slice(first * per_frame, stop * per_frame)
        out[:, :, rows] = F.scaled_dot_product_attention(q_all[:, :, rows], keys, values)
    return out.to(query.dtype)
