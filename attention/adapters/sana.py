"""Sana-Video (`SanaVideoTransformer3DModel`): self-attention ``transformer_blocks[i].attn1`` is linear attention (diffusers'
`SanaLinearAttnProcessor3_0`: projections, RMS norms across heads, ReLU feature maps on q and k; the numerator
``Σ_j v_j (k̃_j · q̃_i)`` of RoPE-rotated features, channel pairs interleaved, and the normaliser ``Σ_j k_j · q_i`` of the
unrotated ones) over frame-major tokens of the patched latents ``[B, C, F, H, W]`` (patch ``(1, 2, 2)``); the text enters by
softmax cross-attention ``attn2``, left to its own processor, and each block's feed-forward mixes neighbouring frames by a
temporal convolution (no attention: the methods leave it).

Linear attention has no softmax logits: UltraViCo, which damps them, is refused (`FamilyAdapter.linear`); windows and
FreeLong++'s band fusion run on the features through `vidlong.attention.linear` (each window's numerator and normaliser
summed over its frames)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..layout import TokenLayout
from .base import FamilyAdapter


def interleaved_rotation(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE of channel pairs ``(x[2i], x[2i + 1])`` on ``[B, N, H, D]`` with its tables ``[1, N, 1, D]`` (each pair's angle
    repeated over its two channels): ``(a·cos - b·sin, a·sin + b·cos)``, in `x`'s dtype."""
    even, odd = x[..., 0::2], x[..., 1::2]
    cos, sin = cos[..., 0::2], sin[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2).type_as(x)


class SanaVideoAdapter(FamilyAdapter):
    name = "sana-video"
    transformer_class = "SanaVideoTransformer3DModel"
    stream_contexts = ("renoise",)
    no_cache_reason = "its self-attention is linear (a cache would keep its running sums, not keys and values)"
    linear = True
    call_multiple = 32  # its calls' check: heights and widths divisible by 32
    no_fifo_reason = ("is not wired for SanaVideoTransformer3DModel (its per-token timesteps serve its image's clean frame; "
                      "vidlong's queue is not built for its forward)")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        latents = args[0] if args else kwargs["hidden_states"]
        return TokenLayout.from_latents(latents.shape, transformer.config.patch_size, native_frames)

    def parts_refusal(self, pipeline, transformer, vae):
        """Its pipelines also take DC-AE's and LTX-2's VAEs; vidlong decodes, encodes and streams through Wan's
        (`AutoencoderKLWan`, the 480p release's) alone."""
        vae_class = vae.get("_class_name")  # a held VAE's config has none: Wan's is known by its own field
        if vae_class != "AutoencoderKLWan" and (vae_class is not None or "temperal_downsample" not in vae):
            return (f"vidlong runs Sana-Video with Wan's VAE (AutoencoderKLWan) alone; this pipeline's VAE is "
                    f"{vae_class or 'another'}, whose decode and streams are not implemented yet")
        return None

    def linear_features(self, attn, hidden_states, rotary) -> tuple:
        """As `SanaLinearAttnProcessor3_0` makes them: (q, k, q̃, k̃, v) ``[B, N, H, D]`` each, q and k the ReLU features,
        q̃ and k̃ those rotated by its RoPE (`rotary`: ``(cos, sin)`` ``[1, N, 1, D]``; None: unrotated)."""
        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        query, key, value = (x.unflatten(2, (attn.heads, -1)) for x in (query, key, value))
        query, key = F.relu(query), F.relu(key)
        if rotary is None:
            return query, key, query, key, value
        return query, key, interleaved_rotation(query, *rotary), interleaved_rotation(key, *rotary), value


SANA_VIDEO = SanaVideoAdapter()
