"""Motif-Video (`MotifVideoTransformer3DModel`): HunyuanVideo's joint self-attention, module for module. Its dual-stream
blocks (``transformer_blocks[i].attn``: video through ``to_q/k/v``, text through ``add_q/k/v_proj``, per-head RMS norms)
and single-stream blocks (``single_transformer_blocks[i].attn``: video and text through the same projections) put the text
tokens after the video tokens, its 3D RoPE on the video tokens alone (diffusers' `apply_rotary_emb`), and mask the padded
text keys (``[B, 1, 1, N + T]``, every video key then the prompt's mask); video tokens frame-major from its latents
``[B, C, F, H, W]`` (patch ``(patch_size_t, patch_size, patch_size)``). Its text cross-attentions (``cross_attn``, where a
release enables them) take the video as queries and stay stock.

A release with ``num_decoder_layers`` runs its last single-stream blocks over fresh video tokens with the encoder blocks'
video output in the place of the text (no mask, no RoPE on it): the methods act on the fresh tokens' pairs there, and the
pairs with the encoder's output stay stock, as text pairs do."""
from __future__ import annotations

from .hunyuan import HunyuanVideoAdapter


class MotifVideoAdapter(HunyuanVideoAdapter):
    name = "motif-video"
    transformer_class = "MotifVideoTransformer3DModel"


MOTIF_VIDEO = MotifVideoAdapter()
