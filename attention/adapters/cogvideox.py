"""CogVideoX (`CogVideoXTransformer3DModel`): joint self-attention ``transformer_blocks[i].attn1`` over
the text tokens followed by the video tokens, frame-major, of its latents ``[B, F, C, H, W]`` (patch
``(patch_size_t or 1, patch_size, patch_size)``); its 3D RoPE (CogVideoX-5B) on the video tokens."""
from __future__ import annotations

import torch

from ..layout import TokenLayout
from .base import FamilyAdapter, rotate_video_tokens


class CogVideoXAdapter(FamilyAdapter):
    name = "cogvideox"
    stream_contexts = ("renoise",)
    no_cache_reason = "its text tokens join every video self-attention, so each chunk would re-run them against the cache; not implemented yet"
    transformer_class = "CogVideoXTransformer3DModel"
    no_stream_pipelines = {"CogVideoXFunControlPipeline": "a CogVideoX-Fun control model follows one whole control video: it "
                                                          "generates but does not stream or extend"}
    joint_text = True

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        latents = args[0] if args else kwargs["hidden_states"]
        _, frames, _, height, width = latents.shape
        p_t, p = transformer.config.get("patch_size_t") or 1, transformer.config.patch_size  # ConsisID's config names none
        # CogVideoX1.5's calls pad a video's latent frames to its temporal patch: its native window is that many tokens
        return TokenLayout(frames // p_t, height // p, width // p, -(-native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `CogVideoXAttnProcessor2_0`: text then video tokens through the same
        projections, per-head norms, RoPE on the video tokens; ``[B, T + N, H, D]`` each."""
        joint = torch.cat([text, hidden_states], dim=1)
        batch, heads = joint.shape[0], attn.heads
        query, key, value = (proj(joint).view(batch, -1, heads, proj.out_features // heads).transpose(1, 2)
                             for proj in (attn.to_q, attn.to_k, attn.to_v))
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        if rotary is not None:
            video = slice(text.shape[1], None)
            query, key = rotate_video_tokens(query, rotary, video, 2), rotate_video_tokens(key, rotary, video, 2)
        return tuple(x.transpose(1, 2) for x in (query, key, value))

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """``(video, text)`` hidden states, as CogVideoX's blocks take them back."""
        joint = super().output(attn, out, dtype)
        return joint[:, text_tokens:], joint[:, :text_tokens]


COGVIDEOX = CogVideoXAdapter()
