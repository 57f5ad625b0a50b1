"""AnyFlow FAR (`AnyFlowFARTransformer3DModel`): Wan2.1's backbone made block-causal by FAR and distilled into a flow map.
Its latents come frames first, ``[B, F, C, H, W]``, in chunks (its ``chunk_partition``); each chunk's self-attention
``blocks[i].attn1`` (diffusers' `AnyFlowCausalAttnProcessor`) sees itself and, through its own KV cache, the chunks
before it: the last ``full_chunk_limit - 1`` in full tokens (patch ``(1, 2, 2)``), every older one as compressed patches
(``compressed_patch_size``, ``(1, 4, 4)``: a quarter of the tokens, with average-pooled RoPE), by flex attention and a
chunk-causal BlockMask. Its cache holds keys before RoPE, which each forward turns at the positions of the chunks it is
given. vidlong's methods do not act on it (`AnyFlowFARAdapter.methods_refusal`); its streams keep a bounded cache of its
own kind (`vidlong.families.anyflow_far`). Text by cross-attention (``attn2``, kept stock)."""
from __future__ import annotations

from typing import Optional

from .anyflow import AnyFlowAdapter

#: why UltraViCo and FreeLong++ do not act on it
METHODS_REFUSAL = ("its self-attention is block-causal (flex attention over a chunk-causal BlockMask) and reads a KV cache "
                   "whose older chunks are compressed patches: no query ever sees the whole video's frames at full "
                   "resolution, which UltraViCo's decay and FreeLong++'s windows are written over; make long videos with "
                   "vidlong stream (its bounded cache) or its call's chunks")


class AnyFlowFARAdapter(AnyFlowAdapter):
    """AnyFlow's adapter (its self-attentions, its frames-first token grid under its full patch) for FAR's transformer."""

    name = "anyflow-far"
    transformer_class = "AnyFlowFARTransformer3DModel"
    stream_contexts = ("cache",)  # its own KV cache, bounded (vidlong.families.anyflow_far.AnyFlowFARStreamer)
    no_cache_reason = ("its chunks see the chunks before them through its own KV cache (block-causal weights), never "
                       "re-noised")
    no_fifo_reason = ("is not implemented for AnyFlowFARTransformer3DModel: its chunks are denoised one after another "
                      "through its block-causal KV cache, not as a diagonal queue; stream it instead")

    def methods_refusal(self, config) -> Optional[str]:
        return METHODS_REFUSAL

    def stream_refusal(self, streaming) -> Optional[str]:
        """Its streams' chunks are its own (`vidlong.families.anyflow_far`): the first chunk is the sink, the window whole
        chunks, each chunk denoised by its flow map's steps."""
        from ...errors import named

        if streaming.sinks is not None:
            return (f"{named('sinks')}: an AnyFlow FAR stream keeps its first chunk as the sink, as its model's chunk 0 "
                    f"({named('first_chunk')} sets its frames); drop {named('sinks')}")
        sampler = self.own_sampler_refusal(streaming, "an AnyFlow FAR stream", "its own flow map's steps")
        if sampler is not None:
            return sampler
        if not streaming.recache_on_prompt_switch:
            return (f"{named('recache_on_prompt_switch', '--no-recache')}: an AnyFlow FAR stream encodes its whole context "
                    "again under each chunk's prompt, as its call encodes every past chunk again at each chunk, so every "
                    f"prompt switch re-encodes it; drop {named('recache_on_prompt_switch', '--no-recache')}")
        if streaming.keep_sinks_on_switch:
            return (f"an AnyFlow FAR stream encodes its whole context again under each chunk's prompt, as its call encodes "
                    f"every past chunk again at each chunk; drop {named('keep_sinks_on_switch')}")
        if streaming.window is not None and streaming.window % streaming.chunk:
            return (f"{named('window')} {streaming.window}: an AnyFlow FAR stream keeps whole chunks of "
                    f"{streaming.chunk}; use a multiple of {streaming.chunk}")
        return None


ANYFLOW_FAR = AnyFlowFARAdapter()
