"""Latte (`LatteTransformer3DModel`): spatial and temporal `BasicTransformerBlock`s alternate. A spatial block attends within
one frame (``[B·F, h·w, C]``, the T5 text by its cross-attention), a temporal block across the frames of one patch
(``[B·P, F, C]``, P = h·w / patch² patches a frame: one token per frame, no text, no mask). vidlong's methods act on the
temporal blocks' self-attentions ``temporal_transformer_blocks[i].attn1`` alone: each of the B·P sequences is a
`TokenLayout` of F token frames of 1 x 1 token (its native window the spec's frames, 16 for its release), so UltraViCo's
decay and FreeLong++'s bands act along time only; the spatial blocks keep their own processors. Their processor is
diffusers' `AttnProcessor2_0` (projections, head split, SDPA, ``to_out``); the model has no RoPE: time enters by a sin-cos
table added before the first temporal block (`vidlong.families.latte.sincos_positions` extends it past its rows)."""
from __future__ import annotations

from ..layout import TokenLayout
from .base import FamilyAdapter


class LatteAdapter(FamilyAdapter):
    name = "latte"
    transformer_class = "LatteTransformer3DModel"
    stream_contexts = ("renoise",)
    no_cache_reason = ("its temporal attention runs once per patch over that patch's frames, between spatial blocks that "
                       "read every frame of the forward; a rolling KV cache of past frames is not implemented")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.temporal_transformer_blocks]

    def layout(self, transformer, args: tuple, kwargs: dict, native_frames: int) -> TokenLayout:
        """Latents ``[B, C, F, H, W]`` -> F token frames of one token (a temporal block's sequence, one a patch)."""
        latents = args[0] if args else kwargs["hidden_states"]
        return TokenLayout(latents.shape[2], 1, 1, max(1, native_frames))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As `AttnProcessor2_0` for self-attention (no RoPE, no q/k norm in its blocks): ``[B·P, F, H, D]`` each."""
        batch = hidden_states.shape[0]
        return tuple(proj(hidden_states).view(batch, -1, attn.heads, proj.out_features // attn.heads)
                     for proj in (attn.to_q, attn.to_k, attn.to_v))


LATTE = LatteAdapter()
