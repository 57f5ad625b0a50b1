"""SkyReels-V2 (`SkyReelsV2Transformer3DModel`): Wan's layout (self-attention ``blocks[i].attn1`` over frame-major
tokens of the patched latents, Wan's interleaved RoPE tables, text by cross-attention), so Wan's adapter serves it.
Its diffusion-forcing checkpoints run the same forward with a timestep per latent frame and their frame rate as an input
(`vidlong.families.skyreels` gives both); once their pipeline's asynchronous mode sets ``num_frame_per_block`` above 1,
a block-causal mask: the methods are for the bidirectional forward and refuse that mask in one line. Diagonal denoising
(``fifo``) gives it one timestep per latent frame through that forward. Its streams re-noise their context by default and
may keep Wan's rolling KV cache; prompt timelines split its cross-attention as Wan's."""
from __future__ import annotations

from ...errors import VidlongError
from .wan import WanAdapter


class SkyReelsV2Adapter(WanAdapter):
    name = "skyreels-v2"
    transformer_class = "SkyReelsV2Transformer3DModel"
    stream_contexts = ("renoise", "cache")
    timestep_per_token = True  # one per latent frame, its diffusion-forcing forward (`SkyReelsV2Family.stream_forward`)

    def layout(self, transformer, args, kwargs, native_frames):
        block = transformer.config.get("num_frame_per_block", 1)
        if block > 1:
            raise VidlongError(f"this SkyReels-V2 transformer attends block-causally ({block} latent frames a block, as "
                               "its diffusion-forcing pipeline sets it); vidlong's methods act on its bidirectional forward: "
                               "set transformer.config num_frame_per_block back to 1, or remove the methods")
        return super().layout(transformer, args, kwargs, native_frames)


SKYREELS_V2 = SkyReelsV2Adapter()
