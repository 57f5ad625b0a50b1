"""Wan2.1 / Wan2.2 (`WanTransformer3DModel`): self-attention ``blocks[i].attn1`` over frame-major
tokens of the patched latents ``[B, C, F, H, W]`` (patch ``(1, 2, 2)``); text by cross-attention."""
from __future__ import annotations

from ..layout import TokenLayout
from ..rope import apply_wan_rotary, wan_temporal_shift
from .base import FamilyAdapter


def wan_qkv(attn, hidden_states, rotary_emb=None):
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


class WanAdapter(FamilyAdapter):
    name = "wan"
    transformer_class = "WanTransformer3DModel"
    moves_rope = True
    timestep_per_token = True
    prompt_timeline = True
    stream_contexts = ("cache", "renoise")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.blocks]

    def cross_attentions(self, transformer) -> list:
        return [block.attn2 for block in transformer.blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        latents = args[0] if args else kwargs["hidden_states"]
        return TokenLayout.from_latents(latents.shape, transformer.config.patch_size, native_frames)

    def qkv(self, attn, hidden_states, rotary, text=None):
        return wan_qkv(attn, hidden_states, rotary)

    def rope_module(self, transformer):
        return transformer.rope

    def temporal_shift(self, transformer):
        return wan_temporal_shift(transformer.rope)

    def text_projections(self, transformer) -> list:
        """The text embedder (T5 states ``[B, T, 4096]`` -> ``[B, T, C]``) and each block's cross-attention
        key and value projections of its output; not in blocks that also attend to CLIP image states
        (Wan2.1 I2V: `add_k_proj`), whose text part is sliced afresh at every call."""
        cross = [getattr(block.attn2, name) for block in transformer.blocks for name in ("to_k", "to_v", "to_kv")
                 if hasattr(block.attn2, name) and getattr(block.attn2, "add_k_proj", None) is None]
        return [transformer.condition_embedder.text_embedder, *cross]


WAN = WanAdapter()
