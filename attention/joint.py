"""Plans on joint attention: text tokens joined to the video tokens in one self-attention
(CogVideoX: text first; HunyuanVideo: text last, padded text keys masked). The plan acts on
video-query x video-key pairs only; for a video query the (visible) text keys are always visible and
never modified, in every branch; text queries attend to every key as the model computes them (where the
text tokens are keys alone, Cosmos 3's, whose text rows its adapter computes apart, there are none). The
fused Triton kernel takes the text keys into its own pass (`TextKeys`); every other kernel runs
the plan on the dense kernel (any device).

Each branch of a video query is two softmax pieces merged exactly by their log-sum-exp: the plan's
branch over the video keys, and the plain attention over the text keys. With key centring the mean
of the video keys is subtracted from every key, text keys included, which leaves every logit a query
does not modify shifted by the same amount (so its softmax is unchanged).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

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


@dataclass(frozen=True)
class TextKeys:
    """Joint attention's text keys as a kernel takes them: key/value ``[B, H, T, D]``; visible ``[B, T]``
    bool (the padding mask) or None for all."""

    key: torch.Tensor
    value: torch.Tensor
    visible: Optional[torch.Tensor] = None


def run_joint_plan(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, plan: AttentionPlan,
                   text_tokens: int, text_at_end: bool = False, visible=None, kernel=None) -> torch.Tensor:
    """Execute `plan` on ``[B, T + N, H, D]`` query/key/value holding `text_tokens` (T) text tokens, first
    (or last with `text_at_end`), and the N video tokens of ``plan.layout``; returns ``[B, T + N, H, D]``
    in the same order. A `query` of the N video tokens alone ``[B, N, H, D]`` (text tokens that are keys
    only) gives their rows alone ``[B, N, H, D]``. `visible`: ``[B, T + N]`` bool, the keys every query may
    see (the model's padding mask), or None for all. `kernel`: the state's kernel; one that takes text keys
    (the fused one, or "auto" where it picks it) runs the video rows, the dense kernel otherwise."""
    q, k, v = (x.transpose(1, 2) for x in (query, key, value))  # [B, H, T + N, D]
    n = k.shape[2] - text_tokens
    text, video = (slice(n, None), slice(0, n)) if text_at_end else (slice(0, text_tokens), slice(text_tokens, None))
    text_visible = None if visible is None else visible[:, text]
    keys_only = q.shape[2] == n
    q_video = q if keys_only else q[:, :, video]
    chosen = kernel.pick(q_video, k[:, :, video], plan) if hasattr(kernel, "pick") else kernel
    if getattr(chosen, "takes_text_keys", False):
        branches = chosen(q_video, k[:, :, video], v[:, :, video], plan,
                          text=TextKeys(k[:, :, text], v[:, :, text], text_visible))
        branches = [out.transpose(1, 2) for out in branches]
    else:
        branches = _dense_video_rows(q_video, k, v, plan, text, video, text_visible)
    video_rows = branches[0] if plan.num_branches == 1 else fuse_bands(branches, plan.bands, plan.layout)
    if keys_only:
        return video_rows.to(query.dtype)
    parts = [video_rows.to(query.dtype), _text_rows(q[:, :, text], k, v, visible).transpose(1, 2)]
    return torch.cat(parts if text_at_end else parts[::-1], dim=1)


def _text_rows(q_text: torch.Tensor, k: torch.Tensor, v: torch.Tensor, visible) -> torch.Tensor:
    """Text queries ``[B, H, T, D]`` over every key, as the model computes them: SDPA on CUDA (its
    memory does not grow with T x N logits), the dense kernel elsewhere (float64 stays float64)."""
    if q_text.is_cuda:
        mask = None if visible is None else visible[:, None, None, :]
        return F.scaled_dot_product_attention(q_text, k, v, attn_mask=mask)
    seen = None if visible is None else (lambda b, h, q_idx, kv_idx: visible[b, kv_idx])  # a mask_mod (attention/mods.py)
    return dense_attention(q_text, k, v, seen, compute_dtype=_compute_dtype(q_text))


def _compute_dtype(x: torch.Tensor) -> torch.dtype:
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _dense_video_rows(q_video, k, v, plan: AttentionPlan, text: slice, video: slice, text_visible) -> list:
    """Each branch's video rows ``[B, N, H, D]`` on the dense kernel (`q_video` ``[B, H, N, D]``): the plan's
    branch over the video keys and plain attention over the text keys, merged by their log-sum-exp."""
    dtype = _compute_dtype(q_video)
    text_seen = None if text_visible is None else (lambda b, h, q_idx, kv_idx: text_visible[b, kv_idx])  # noqa: E731
    if plan.center_keys:
        k = (k.float() - k[:, :, video].float().mean(dim=2, keepdim=True)).to(k.dtype)
    from_text = dense_attention(q_video, k[:, :, text], v[:, :, text], text_seen, compute_dtype=dtype, return_lse=True)
    video_plan = dataclasses.replace(plan, center_keys=False)
    branches = []
    for branch in range(plan.num_branches):
        from_video = dense_attention(q_video, k[:, :, video], v[:, :, video], video_plan.branch_mask(branch),
                                     video_plan.branch_score_mod(branch), compute_dtype=dtype, return_lse=True)
        branches.append(merge_by_lse([from_video, from_text]).to(q_video.dtype).transpose(1, 2))
    return branches
