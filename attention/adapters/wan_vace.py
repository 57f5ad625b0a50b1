"""Wan VACE (`WanVACETransformer3DModel`: Wan2.1 VACE, Wan2.2 VACE-Fun): Wan's blocks plus its VACE blocks, which
run the control video's tokens (the same frame-major grid as the video's, Wan's RoPE) through their own
self-attention ``vace_blocks[i].attn1``; vidlong's methods act on both. Its control inputs (video, mask, reference
images) cover the whole video at once, so it does not stream, and its cross-attentions are not split by a prompt
timeline (`cross_attentions` and `text_projections`, Wan's, leave out the VACE blocks' ``attn2``: extend them before
turning either on)."""
from __future__ import annotations

from .wan import WanAdapter


class WanVACEAdapter(WanAdapter):
    name = "wan-vace"
    transformer_class = "WanVACETransformer3DModel"
    stream_contexts = ()
    no_stream_reason = ("its control video (video, mask, reference images) covers the whole video at once and would have "
                        "to follow every chunk; not implemented yet")
    timestep_per_token = False  # its forward embeds one timestep per sample (diffusers 0.42)
    prompt_timeline = False

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in (*transformer.blocks, *transformer.vace_blocks)]


WAN_VACE = WanVACEAdapter()
