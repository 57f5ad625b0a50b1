"""Kandinsky 5.0 Video (`Kandinsky5Transformer3DModel`): self-attention ``visual_transformer_blocks[i].self_attention`` (a
`Kandinsky5Attention`: ``to_query/key/value``, per-head RMS norms ``query_norm``/``key_norm``, ``out_layer``) over the
video tokens alone, frame-major from its channels-last latents ``[B, F, H, W, C]`` (patch ``(1, 2, 2)``); the text (Qwen2.5-VL
states through its own text blocks) enters by cross-attention, the pooled CLIP prompt by the time embedding. Its 3D RoPE
comes as 2x2 rotation matrices per channel pair, ``[B, N, 1, D / 2, 2, 2]``.

Its 10-second releases (``attention_type: nabla``) reorder the tokens into 8x8 spatial tiles and attend sparsely (NABLA:
a block mask from the pooled attention map); vidlong's methods, which act on the dense frame-major attention, are refused
there in one line (`KandinskyAdapter.methods_refusal`); with no method their forwards go to its own processor."""
from __future__ import annotations

from typing import Optional

import torch

from ..layout import TokenLayout
from .base import FamilyAdapter


def kandinsky_rotation(x: torch.Tensor, rope: torch.Tensor) -> torch.Tensor:
    """Kandinsky 5's RoPE as its processor applies it: each channel pair of ``[B, N, H, D]`` times its rotation matrix
    (`rope` ``[B, N, 1, D / 2, 2, 2]``) in float32, the result rounded to bfloat16 (its processor's cast, whatever the
    model's dtype) and back in `x`'s dtype."""
    pairs = x.reshape(*x.shape[:-1], -1, 1, 2).to(torch.float32)
    return (rope * pairs).sum(dim=-1).reshape(*x.shape).to(torch.bfloat16).type_as(x)


class KandinskyAdapter(FamilyAdapter):
    name = "kandinsky5"
    transformer_class = "Kandinsky5Transformer3DModel"
    stream_contexts = ("renoise",)
    no_cache_reason = "its rolling KV cache (keys re-placed with its rotation-matrix RoPE) is not implemented yet"
    #: its RoPE tables' rows (`Kandinsky5RoPE3D`'s ``max_pos``, fixed at 128 an axis): the most token frames, rows or columns
    rope_positions = 128

    def self_attentions(self, transformer) -> list:
        return [block.self_attention for block in transformer.visual_transformer_blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        latents = args[0] if args else kwargs["hidden_states"]
        _, frames, height, width, _ = latents.shape
        p_t, p_h, p_w = transformer.config.patch_size
        return TokenLayout(frames // p_t, height // p_h, width // p_w, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `Kandinsky5AttnProcessor`: projections, head split, RMS norms in float32, its RoPE
        (`kandinsky_rotation`); ``[B, N, H, D]`` each."""
        query, key, value = (proj(hidden_states).unflatten(-1, (attn.num_heads, -1))
                             for proj in (attn.to_query, attn.to_key, attn.to_value))
        query = attn.query_norm(query.float()).type_as(query)
        key = attn.key_norm(key.float()).type_as(key)
        if rotary is not None:
            query, key = kandinsky_rotation(query, rotary), kandinsky_rotation(key, rotary)
        return query, key, value

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        return attn.out_layer(out.flatten(2, 3).to(dtype))

    def methods_refusal(self, config) -> Optional[str]:
        """NABLA's sparse attention (``attention_type: nabla``, its 10-second releases): tokens in 8x8 tiles, a block mask
        of its own."""
        if config.get("attention_type") == "nabla":
            return ("its sparse NABLA attention (attention_type: nabla, the 10-second releases) reorders and masks the "
                    "tokens vidlong's methods act on; generate without a method, or use a 5-second release")
        return None


KANDINSKY_5 = KandinskyAdapter()
