"""AnyFlow (`AnyFlowTransformer3DModel`, bidirectional; not the FAR causal `AnyFlowFARTransformer3DModel`): Wan2.1's
backbone with a flow map's two timesteps. Self-attention ``blocks[i].attn1`` over frame-major tokens of its latents,
which it takes frames first, ``[B, F, C, H, W]`` (patch ``(1, 2, 2)``); projections, RMS norms across heads, then its
3D RoPE as complex numbers (``rotary_emb``: ``{"query": freqs, "key": freqs}``, ``[1, 1, N, D / 2]`` complex128) turned
on ``[B, H, N, D]`` in float64 by diffusers' AnyFlow `apply_rotary_emb`; no self-attention mask. Text by
cross-attention (``attn2``, which keeps its own processor)."""
from __future__ import annotations

from ..layout import TokenLayout
from .base import FamilyAdapter


class AnyFlowAdapter(FamilyAdapter):
    name = "anyflow"
    transformer_class = "AnyFlowTransformer3DModel"
    stream_contexts = ("renoise",)
    no_cache_reason = ("its RoPE is made at every forward as complex tables, which a rolling KV cache would have to "
                       "re-place; not implemented yet")
    no_fifo_reason = ("is not implemented for AnyFlowTransformer3DModel's flow-map sampler (each forward also takes a "
                      "target timestep per frame, which vidlong's queue does not give)")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """The grid of its latents ``[B, F, C, H, W]`` (frames first) under its patch ``(p_t, p_h, p_w)``."""
        latents = args[0] if args else kwargs["hidden_states"]
        _, frames, _, height, width = latents.shape
        p_t, p_h, p_w = transformer.config.patch_size
        return TokenLayout(frames // p_t, height // p_h, width // p_w, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `AnyFlowAttnProcessor`: projections, RMS norms across heads, heads split to ``[B, H, N, D]``, its
        RoPE (`rotary`: the query's and key's complex tables) on q and k; each handed back as ``[B, N, H, D]`` (the same
        views its processor hands to attention)."""
        from diffusers.models.transformers.transformer_anyflow import apply_rotary_emb

        query, key = attn.norm_q(attn.to_q(hidden_states)), attn.norm_k(attn.to_k(hidden_states))
        query, key, value = (x.unflatten(2, (attn.heads, -1)).transpose(1, 2)
                             for x in (query, key, attn.to_v(hidden_states)))
        if rotary is not None:
            query, key = apply_rotary_emb(query, rotary["query"]), apply_rotary_emb(key, rotary["key"])
        return query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)


ANYFLOW = AnyFlowAdapter()
