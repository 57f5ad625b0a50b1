"""Plans on joint attention: text tokens joined to the video tokens in one self-attention
(CogVideoX, HunyuanVideo). The plan acts on video-query x video-key pairs only; for a video query the
text keys are always visible and never modified, in every branch; text queries attend to every key
as the model computes them. Runs on the dense kernel (any device).

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
                   text_tokens: int) -> torch.Tensor:
    """Execute `plan` on ``[B, T + N, H, D]`` query/key/value whose first `text_tokens` (T) are text and
    whose N others are the video tokens of ``plan.layout``; returns ``[B, T + N, H, D]``."""
    q, k, v = (x.transpose(1, 2) for x in (query, key, value))  # [B, H, T + N, D]
    dtype = torch.float64 if q.dtype == torch.float64 else torch.float32
    text_rows = dense_attention(q[:, :, :text_tokens], k, v, compute_dtype=dtype)
    if plan.center_keys:
        k = (k.float() - k[:, :, text_tokens:].float().mean(dim=2, keepdim=True)).to(k.dtype)
    q_video, k_text, v_text = q[:, :, text_tokens:], k[:, :, :text_tokens], v[:, :, :text_tokens]
    k_video, v_video = k[:, :, text_tokens:], v[:, :, text_tokens:]
    from_text = dense_attention(q_video, k_text, v_text, compute_dtype=dtype, return_lse=True)
    video_plan = dataclasses.replace(plan, center_keys=False)
    branches = []
    for branch in range(plan.num_branches):
        from_video = dense_attention(q_video, k_video, v_video, video_plan.branch_mask(branch), video_plan.score_mod,
                                     compute_dtype=dtype, return_lse=True)
        branches.append(merge_by_lse([from_video, from_text]).to(q.dtype).transpose(1, 2))
    video_rows = branches[0] if plan.num_branches == 1 else fuse_bands(branches, plan.bands, plan.layout)
    return torch.cat([text_rows.transpose(1, 2), video_rows.to(query.dtype)], dim=1)
