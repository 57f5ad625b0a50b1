"""Kandinsky 6 (`Kandinsky6Transformer3DModel`: video and sound in one transformer): the methods act on its video
self-attention ``visual_transformer_blocks[i].video_dec_block.self_attention`` (a `Kandinsky6Attention`:
``to_query/key/value``, per-head RMS norms, ``out_layer``) over the video tokens, frame-major from its channels-last
latents ``[B, F, H, W, C]`` (patch ``(1, 2, 2)``); its 3D RoPE comes as 2x2 rotation matrices per channel pair,
``[N, 1, D / 2, 2, 2]``. As LTX-2's, its audio self-attention, its audio-video cross-attentions (``va_cross_attention``,
``av_cross_attention``) and both text cross-attentions keep their own processors: the audio tokens never enter the
methods' frame grid.

Given an image its call appends the image's latent as one more frame after the video, at the first frame's RoPE position
(token type 1, `reference_frames`): the methods treat that frame's tokens as joint attention treats text at the end
(`FamilyAdapter.trailing_tokens`): every video query sees them unmodified, and their own rows attend to every key as the
stock model's do."""
from __future__ import annotations

import inspect

from ...errors import VidlongError
from ..layout import TokenLayout
from .base import FamilyAdapter


def reference_frames(token_types) -> int:
    """Latent frames at the end of a forward that are no video frame (its image's: token type 1), from its
    ``visual_token_type_ids`` ``[B, F]`` (None: none); a refusal where one stands before a video frame."""
    if token_types is None:
        return 0
    marked = (token_types[0] != 0).tolist()
    count = sum(marked)
    if any(marked[:len(marked) - count]):
        raise VidlongError("vidlong lays out Kandinsky 6's video tokens as one frame-major grid with its image's frame last, "
                           "as Kandinsky6TI2VAPipeline gives it; visual_token_type_ids marking another frame is not implemented")
    return count


class Kandinsky6Adapter(FamilyAdapter):
    name = "kandinsky6"
    transformer_class = "Kandinsky6Transformer3DModel"
    stream_contexts = ("renoise",)  # each chunk one call of its pipeline (`vidlong.families.kandinsky6_stream`)
    no_cache_reason = "each chunk is a call of its pipeline (its sound and its guidance's forwards), the context re-noised into it"
    no_latents_reason = "Kandinsky 6's saved latents would hold its video but not its sound"
    makes_sound = True
    continues_sound = True  # its MMAudio VAE encodes the input's sound into an extension's context
    trailing_tokens = True  # its image's frame, after the video
    text_at_end = True
    #: its RoPE tables' rows (`Kandinsky6RoPE3D`'s ``max_pos``, 128 an axis): the most token frames, rows or columns
    rope_positions = 128

    def self_attentions(self, transformer) -> list:
        return [block.video_dec_block.self_attention for block in transformer.visual_transformer_blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """From its latents ``[B, F, H, W, C]`` (the video's frames, its image's frame after them where
        ``visual_token_type_ids`` marks one: not in the grid)."""
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        _, frames, height, width, _ = bound["hidden_states"].shape
        frames -= reference_frames(bound.get("visual_token_type_ids"))
        p_t, p_h, p_w = transformer.config.patch_size
        return TokenLayout(frames // p_t, height // p_h, width // p_w, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `Kandinsky6AttnProcessor` in self-attention: projections, head split, RMS norms, its RoPE
        (diffusers' `apply_rotary`, in float32, back in the states' dtype) on q and k; ``[B, N, H, D]`` each."""
        from diffusers.models.transformers.transformer_kandinsky6 import apply_rotary

        query, key, value = (proj(hidden_states).unflatten(-1, (attn.num_heads, -1))
                             for proj in (attn.to_query, attn.to_key, attn.to_value))
        query, key = attn.query_norm(query), attn.key_norm(key)
        if rotary is not None:
            query, key = apply_rotary(query, rotary).to(query.dtype), apply_rotary(key, rotary).to(key.dtype)
        return query, key, value

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        return attn.out_layer(out.flatten(2, 3).to(dtype))


KANDINSKY_6 = Kandinsky6Adapter()
