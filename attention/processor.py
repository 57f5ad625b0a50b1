"""The attention processor for diffusers' Wan video self-attention (`WanTransformerBlock.attn1`)."""
from __future__ import annotations

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn

from .execute import run_plan
from .rope import apply_wan_rotary


def wan_qkv(attn, hidden_states: torch.Tensor, rotary_emb=None):
    """q, k, v ``[B, N, H, D]`` exactly as diffusers' `WanAttnProcessor` computes them for
    self-attention: projections (fused or not), RMS norms across heads, head split, RoPE."""
    if getattr(attn, "fused_projections", False):
        query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
    else:
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
    query = attn.norm_q(query).unflatten(2, (attn.heads, -1))
    key = attn.norm_k(key).unflatten(2, (attn.heads, -1))
    value = value.unflatten(2, (attn.heads, -1))
    if rotary_emb is not None:
        query = apply_wan_rotary(query, *rotary_emb)
        key = apply_wan_rotary(key, *rotary_emb)
    return query, key, value


class VidlongWanAttnProcessor:
    """Replaces `WanAttnProcessor` on video self-attention; executes the plan of the current forward.

    Args:
        state: the `VidlongState` shared with the transformer-level hook, which sets ``state.plan``
            before each forward. A stock plan goes through diffusers' own attention dispatch, so the
            output is the stock model's bit for bit. With ``state.stream`` set, the chunk attends to
            the rolling KV cache instead (RoPE placed by the stream, see `StreamContext`).
        stock: the processor this one replaced (its attention backend is kept for the stock path and
            for streaming; diffusers' ``set_attention_backend`` changes it as for any processor).
        layer: index of this block, to address its KV cache.
    """

    def __init__(self, state, stock, layer: int = 0):
        self.state = state
        self.stock = stock
        self.layer = layer
        # diffusers' `set_attention_backend` (e.g. "xformers", "flash") sets these on processors;
        # start from the stock processor's so a backend chosen before `apply` is kept
        self._attention_backend = getattr(stock, "_attention_backend", None)
        self._parallel_config = getattr(stock, "_parallel_config", None)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is not None:
            raise ValueError("VidlongWanAttnProcessor only handles self-attention (attn1)")
        stream = self.state.stream
        query, key, value = wan_qkv(attn, hidden_states, None if stream is not None else rotary_emb)
        plan = self.state.plan
        if stream is not None:
            out = stream.attend(self.layer, query, key, value, self._attention_backend)
        elif plan is None or plan.is_stock:
            out = dispatch_attention_fn(
                query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False,
                backend=self._attention_backend, parallel_config=self._parallel_config,
            )
        else:
            out = run_plan(query, key, value, plan, self.state.kernel_for(query.device))
        out = out.flatten(2, 3).type_as(query)
        out = attn.to_out[0](out)
        return attn.to_out[1](out)
