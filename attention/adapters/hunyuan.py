"""HunyuanVideo (`HunyuanVideoTransformer3DModel`): joint self-attention in its dual-stream blocks
(``transformer_blocks[i].attn``: video through ``to_q/k/v``, text through ``add_q/k/v_proj``) and its
single-stream blocks (``single_transformer_blocks[i].attn``: video and text through the same
projections), the text tokens after the video tokens, padded text keys masked; video tokens
frame-major from its latents ``[B, C, F, H, W]`` (patch ``(patch_size_t, patch_size, patch_size)``),
its 3D RoPE on the video tokens."""
from __future__ import annotations

import torch

from .base import FamilyAdapter, rotate_video_tokens


def _heads(x, attn):
    return x.unflatten(2, (attn.heads, -1))


class HunyuanVideoAdapter(FamilyAdapter):
    name = "hunyuan-video"
    stream_contexts = ("renoise",)
    no_cache_reason = "its text tokens join every video self-attention, so each chunk would re-run them against the cache; not implemented yet"
    transformer_class = "HunyuanVideoTransformer3DModel"
    joint_text = True
    text_at_end = True

    def self_attentions(self, transformer) -> list:
        return [block.attn for block in (*transformer.transformer_blocks, *transformer.single_transformer_blocks)]

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `HunyuanVideoAttnProcessor2_0`: ``[B, N + T, H, D]``, video then text."""
        single = attn.add_q_proj is None
        joint = torch.cat([hidden_states, text], dim=1) if single else hidden_states
        query, key, value = (_heads(proj(joint), attn) for proj in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if rotary is not None:
            video = slice(0, hidden_states.shape[1])
            query, key = self.rotate(query, rotary, video), self.rotate(key, rotary, video)
        if not single:
            text_q, text_k, text_v = (_heads(proj(text), attn) for proj in (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj))
            if attn.norm_added_q is not None:
                text_q = attn.norm_added_q(text_q)
            if attn.norm_added_k is not None:
                text_k = attn.norm_added_k(text_k)
            query, key, value = (torch.cat(pair, dim=1) for pair in ((query, text_q), (key, text_k), (value, text_v)))
        return query, key, value

    def rotate(self, x, rotary, video: slice):
        """`x` ``[B, S, H, D]`` with the family's RoPE (`rotary`, as its transformer hands it to attention) on its
        `video` tokens: diffusers' `apply_rotary_emb`."""
        return rotate_video_tokens(x, rotary, video, 1)

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """``(video, text)`` hidden states, through ``to_out`` / ``to_add_out`` where the block has them."""
        joint = out.flatten(2, 3).to(dtype)
        video, text = joint[:, : joint.shape[1] - text_tokens], joint[:, joint.shape[1] - text_tokens:]
        if getattr(attn, "to_out", None) is not None:
            video = attn.to_out[1](attn.to_out[0](video))
        if getattr(attn, "to_add_out", None) is not None:
            text = attn.to_add_out(text)
        return video, text


HUNYUAN_VIDEO = HunyuanVideoAdapter()
