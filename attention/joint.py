"""Plans on joint attention: text tokens joined to the video tokens in one self-attention
(CogVideoX: text first; HunyuanVideo: text last, padded text keys masked). The plan acts on
video-query x video-key pairs only; for a video query the (visible) text keys are always visible and
never modified, in every branch; text queries attend to every key as the model computes them. Runs
on the dense kernel (any device).

Each branch of a video query is two softmax pieces merged exactly by their log-sum-exp: the plan's
branch over the video keys, and the plain attention over the text keys. With key centring the mean
of the video keys is subtracted from every key, text keys included, which leaves every logit a query
does not modify shifted by the same amount (so its softmax is unchanged).
"""
from __future__ import annotations

import dataclasses

import torch

from .fusion import fuse_bands
from .kernels.dense import dense_attention
from .plan import AttentionPlan


def merge_by_lse(parts) -> torch.Tensor:
    """Softmax attention over the union of disjoint key sets from ``(out [B, H, N, D], lse [B, H, N])``
    pieces: ``sum_i out_i·exp(lse_i - m) / sum_i exp(lse_i - m)``, ``m`` the largest lse."""
    top = torch.stack([lse for _, lse in parts]).amax(dim=0)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    weights = [torch.exp(lse - top).unsqueeze(-1) for _, lse in parts]
    total = sum(w * out.to(w.dtype) for (out, _), w in zip(parts, weights))
    return total / sum(weights)


def run_joint_plan(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, plan: AttentionPlan,
                   text_tokens: int, text_at_end: bool = False, visible=None) -> torch.Tensor:
    """Execute `plan` on ``[B, T + N, H, D]`` query/key/value holding `text_tokens` (T) text tokens, first
    (or last with `text_at_end`), and the N video tokens of ``plan.layout``; returns ``[B, T + N, H, D]``
    in the same order. `visible`: ``[B, T + N]`` bool, the keys every query may see (the model's
    padding mask), or None for all."""
    q, k, v = (x.transpose(1, 2) for x in (query, key, value))  # [B, H, T + N, D]
    n = q.shape[2] - text_tokens
    text, video = (slice(n, None), slice(0, n)) if text_at_end else (slice(0, text_tokens), slice(text_tokens, None))
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    seen = text_seen = None
    if visible is not None:
        text_visible = visible[:, text]
        seen = lambda b, h, q_idx, kv_idx: visible[b, kv_idx]  # noqa: E731 - mask_mods, as in attention/mods.py
        text_seen = lambda b, h, q_idx, kv_idx: text_visible[b, kv_idx]  # noqa: E731
    text_rows = dense_attention(q[:, :, text], k, v, seen, compute_dtype=dtype)
    if plan.center_keys:
        k = (k.float() - k[:, :, video].float().mean(dim=2, keepdim=True)).to(k.dtype)
    from_text = dense_attention(q[:, :, video], k[:, :, text], v[:, :, text], text_seen, compute_dtype=dtype, return_lse=True)
    video_plan = dataclasses.replace(plan, center_keys=False)
    branches = []
    for branch in range(plan.num_branches):
        from_video = dense_attention(q[:, :, video], k[:, :, video], v[:, :, video], video_plan.branch_mask(branch),
                                     video_plan.score_mod, compute_dtype=dtype, return_lse=True)
        branches.append(merge_by_lse([from_video, from_text]).to(q.dtype).transpose(1, 2))
    video_rows = branches[0] if plan.num_branches == 1 else fuse_bands(branches, plan.bands, plan.layout)
    parts = [video_rows.to(query.dtype), text_rows.transpose(1, 2)]
    return torch.cat(parts if text_at_end else parts[::-1], dim=1)
