"""Mochi 1 (`MochiTransformer3DModel`): joint self-attention ``transformer_blocks[i].attn1`` (a `MochiAttention`): the
video tokens through ``to_q/k/v``, the T5 text tokens through ``add_q/k/v_proj``, each with its own per-head RMS norms,
the text after the video; its blocks pass the text's padding mask ``[B, T]``. Video tokens frame-major from its
latents ``[B, C, F, H, W]`` (patch ``(1, patch_size, patch_size)``), its learned per-head RoPE on the video tokens. The
projections, order and outputs are HunyuanVideo's dual-stream blocks', so its adapter is HunyuanVideo's with Mochi's
RoPE, blocks, mask and stock attention."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .base import rotate_video_tokens, video_and_text_visible
from .hunyuan import HunyuanVideoAdapter


def mochi_rotation(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Mochi's RoPE as its processor applies it: each channel pair ``(x[2i], x[2i + 1])`` of ``[B, N, H, D]`` rotated
    by the angle of its token, head and pair (tables `cos`, `sin` ``[N, H, D / 2]``), in float32, back in `x`'s dtype."""
    even, odd = x[..., 0::2].float(), x[..., 1::2].float()
    turned = (even * cos - odd * sin).to(x.dtype), (even * sin + odd * cos).to(x.dtype)
    return torch.stack(turned, dim=-1).flatten(-2)


class MochiAdapter(HunyuanVideoAdapter):
    name = "mochi"
    transformer_class = "MochiTransformer3DModel"
    fewest_steps = 2  # its call's `linear_quadratic_schedule` splits the steps in two halves (1 step: a division by zero)

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def rotate(self, x, rotary, video):
        """Mochi's RoPE (`mochi_rotation`, `rotary` its ``(cos, sin)``) on the `video` tokens of `x` ``[B, S, H, D]``."""
        return rotate_video_tokens(x, rotary, video, 1, rotation=lambda tokens, table: mochi_rotation(tokens, *table))

    def visible_keys(self, attention_mask, video_tokens):
        """Every video key and the unpadded text tokens: ``[B, N + T]``."""
        return video_and_text_visible(attention_mask, video_tokens)

    def stock_attention(self, query, key, value, attention_mask, video_tokens, backend=None, parallel_config=None):
        """As `MochiAttnProcessor2_0`: per sample, SDPA over the video tokens and its unpadded text tokens alone (a
        masked SDPA differs in the last bit), the output ``[B, N + T, H, D]`` zero-padded at the end to every token
        (where a right-padded prompt's padding sits); its processor takes no attention backend."""
        visible = self.visible_keys(attention_mask, video_tokens)
        rows = []
        for sample in range(query.shape[0]):
            kept = slice(None) if visible is None else visible[sample].nonzero().flatten()
            q, k, v = (x[sample:sample + 1, kept].transpose(1, 2) for x in (query, key, value))  # [1, H, S', D]
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=False)
            rows.append(F.pad(out, (0, 0, 0, query.shape[1] - out.shape[2])))
        return torch.cat(rows).transpose(1, 2)


MOCHI = MochiAdapter()
