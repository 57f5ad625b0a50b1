"""FlexAttention kernel (the CUDA fast path): compiled flex_attention with block-sparse masks.

Keys are split into disjoint *pieces* whose results are merged by log-sum-exp:
- nested branch windows become rings (the most local window, then each wider window minus the next
  narrower one), so K nested branches cost about one global attention instead of K;
- a plan's `score_region` splits each ring once more, into pairs outside it (plain attention) and
  inside it (only `region_score_mod`, e.g. ``min(s, alpha·s)``); full blocks then skip all index
  math, which is most of the cost of a naive score_mod.
Never runs FlexAttention eagerly: its eager path materialises the N² scores and runs out of memory
at video lengths.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..mods import MaskMod, and_masks, not_mask
from .dense import center_keys

_COMPILED = {}


def _flex_api():
    from torch.nn.attention import flex_attention as fa

    if "attention" not in _COMPILED:
        import torch._dynamo

        # every new token layout (and mask/score closure) compiles once; allow many before failing
        limit = 256
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(torch._dynamo.config, name):
                setattr(torch._dynamo.config, name, max(getattr(torch._dynamo.config, name), limit))
        _COMPILED["attention"] = torch.compile(fa.flex_attention, dynamic=False)
    return fa, _COMPILED["attention"]


def _ring_masks(plan) -> list[Optional[MaskMod]]:
    """Disjoint key sets whose running unions are the branches, most local first."""
    rings = []
    for k in reversed(range(plan.num_branches)):
        own = plan.window_mask(k)
        inner = None if k == plan.num_branches - 1 else not_mask(plan.window_mask(k + 1))
        rings.append(and_masks(plan.base_mask, own, inner))
    return rings


def _pieces(plan, ring_mask):
    """(mask_mod, score_mod) pieces of one ring: outside and inside the plan's score region."""
    if plan.region_score_mod is None:
        return [(ring_mask, None)]
    if plan.score_region is None:
        return [(ring_mask, plan.region_score_mod)]
    return [(and_masks(ring_mask, not_mask(plan.score_region)), None),
            (and_masks(ring_mask, plan.score_region), plan.region_score_mod)]


def merge_by_lse(out_a, lse_a, out_b, lse_b):
    """Softmax attention over the union of two disjoint key sets, from each set's output and LSE.

    out_*: ``[B, H, N, D]``; lse_*: ``[B, H, N]`` natural log-sum-exp. Returns (out float32, lse).
    """
    lse = torch.logaddexp(lse_a, lse_b)
    w_a = torch.exp(lse_a - lse).nan_to_num(0.0).unsqueeze(-1).float()
    w_b = torch.exp(lse_b - lse).nan_to_num(0.0).unsqueeze(-1).float()
    # bf16 x float32 promotes inside the kernels: no float32 copies of the outputs
    return torch.mul(out_a, w_a).addcmul_(out_b, w_b), lse


def default_options(device) -> Optional[dict]:
    """FlexAttention ``kernel_options`` for `device`: TMA loads on Hopper and newer (H100, bf16,
    Wan2.1-1.3B shapes, 42 latent frames: plain flex 1.31x -> 1.23x SDPA, the decay plan
    1.67x -> 1.51x; benchmarks/RESULTS.md), the defaults elsewhere."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.get_device_capability(device)[0] >= 9:
        return {"USE_TMA": True}
    return None


class FlexKernel:
    """Executes plans with compiled FlexAttention; block masks cached per plan key and device.

    Args:
        options: FlexAttention ``kernel_options`` for every call (e.g. ``{"USE_TMA": True}``);
            None: `default_options` of the inputs' device.
    """

    name = "flex"

    def __init__(self, options: Optional[dict] = None):
        self.options = dict(options) if options is not None else None
        self._block_masks = {}

    def _options(self, device) -> Optional[dict]:
        return default_options(device) if self.options is None else (self.options or None)

    def _block_mask(self, plan, piece, mask_mod, n_q: int, n_kv: int, device):
        if mask_mod is None:
            return None
        cache_key = (plan.key, piece, n_q, n_kv, str(device))
        if cache_key not in self._block_masks:
            fa, _ = _flex_api()
            self._block_masks[cache_key] = fa.create_block_mask(
                mask_mod, None, None, n_q, n_kv, device=device, _compile=True
            )
        return self._block_masks[cache_key]

    def _attend(self, query, key, value, score_mod, block_mask):
        fa, flex = _flex_api()
        options = self._options(query.device)
        if hasattr(fa, "AuxRequest"):
            out, aux = flex(query, key, value, score_mod=score_mod, block_mask=block_mask,
                            kernel_options=options, return_aux=fa.AuxRequest(lse=True))
            return out, aux.lse
        return flex(query, key, value, score_mod=score_mod, block_mask=block_mask, kernel_options=options,
                    return_lse=True)

    def __call__(self, query, key, value, plan):
        """query/key/value ``[B, H, N, D]`` -> one ``[B, H, N, D]`` output per branch (global first)."""
        if plan.decayed_branches is not None:  # its rings share one merged softmax, so one rule for every branch
            raise ValueError("the flex kernel runs plans whose modifier acts in every branch; use the dense kernel")
        if plan.anchor_shift is not None:  # a window's keys depend on where it starts: no one block mask
            raise ValueError("the flex kernel runs anchors at their own positions only; use the dense kernel")
        if plan.center_keys:
            key = center_keys(key)
        n_q, n_kv = query.shape[2], key.shape[2]
        outputs = []
        out = lse = None
        for ring, ring_mask in enumerate(_ring_masks(plan)):
            for part, (mask_mod, score_mod) in enumerate(_pieces(plan, ring_mask)):
                block_mask = self._block_mask(plan, (ring, part), mask_mod, n_q, n_kv, query.device)
                piece_out, piece_lse = self._attend(query, key, value, score_mod, block_mask)
                out, lse = (piece_out, piece_lse) if out is None else merge_by_lse(out, lse, piece_out, piece_lse)
            outputs.append(out.to(query.dtype))
        return outputs[::-1]
