"""NVIDIA Cosmos-Transfer2.5's control branch (`CosmosControlNetModel`): a few of Predict2.5's blocks
(`CosmosTransformerBlock`) that run the control video's tokens (its latents, the condition mask and the padding mask as
channels, patch ``(1, 2, 2)``) through their own self-attention ``control_blocks[i].attn1`` (`CosmosAttnProcessor2_0`: the
Cosmos adapter's q/k/v) over the same frame-major grid as the video's latents ``[B, C, F, H, W]``, with its own RoPE of
the same table. The pipeline's call cuts the control video to the chunk's frames, so its tokens line up with the chunk's
latent frames one for one: past the native window the branch sees the same longer grid as the transformer, and vidlong's
methods act on it too (the pipeline applies the transformer's methods to it, `vidlong.families.cosmos_transfer`). Its text
cross-attention ``attn2`` keeps its own processor."""
from __future__ import annotations

from .cosmos import CosmosAdapter


class CosmosControlNetAdapter(CosmosAdapter):
    name = "cosmos-controlnet"
    transformer_class = "CosmosControlNetModel"
    blocks, latents_argument = "control_blocks", "controls_latents"  # its control latents' grid


COSMOS_CONTROLNET = CosmosControlNetAdapter()
