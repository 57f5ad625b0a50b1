"""HunyuanVideo 1.5 (`HunyuanVideo15Transformer3DModel`): joint self-attention in its dual-stream blocks only
(``transformer_blocks[i].attn``: video through ``to_q/k/v``, the condition tokens (image, ByT5 text, Qwen text)
through ``add_q/k/v_proj``), those tokens after the video tokens; its blocks pass the condition tokens' padding
mask ``[B, T]`` alone, which its processor widens to every token pair. Token grid and RoPE as HunyuanVideo's."""
from __future__ import annotations

from .base import video_and_text_visible
from .hunyuan import HunyuanVideoAdapter


class HunyuanVideo15Adapter(HunyuanVideoAdapter):
    name = "hunyuan-video-1.5"
    transformer_class = "HunyuanVideo15Transformer3DModel"

    def self_attentions(self, transformer) -> list:
        return [block.attn for block in transformer.transformer_blocks]

    def visible_keys(self, attention_mask, video_tokens):
        """Every video key and the unpadded condition tokens: ``[B, N + T]``."""
        return video_and_text_visible(attention_mask, video_tokens)

    def dispatch_mask(self, attention_mask, video_tokens):
        """As `HunyuanVideo15AttnProcessor2_0` builds it: ``[B, 1, S, S]``, a pair visible where both tokens are
        (a padded token's own row sees nothing)."""
        visible = self.visible_keys(attention_mask, video_tokens)
        if visible is None:
            return None
        return visible[:, None, None, :] & visible[:, None, :, None]


HUNYUAN_VIDEO_15 = HunyuanVideo15Adapter()
