"""Helios (`HeliosTransformer3DModel`): Wan's backbone made autoregressive. Each forward denoises one chunk of latents
``[B, C, f, h, w]`` (patch ``(1, 2, 2)``) after the tokens of its compressed history (``latents_history_short`` at the
full patch, ``_mid`` at 2x and ``_long`` at 4x in every axis), which its self-attention ``blocks[i].attn1`` (diffusers'
`HeliosAttnProcessor`, history keys optionally amplified) sees together with the chunk: never more than its bounded
history (``history_sizes``, 16 + 2 + 1 latent frames in its call's defaults) and one chunk. vidlong's methods do not act on
it (`HeliosAdapter.methods_refusal`): with no method its forwards go to its own processor as they came. Its streams keep
its call's history, bounded (`vidlong.families.helios`). Text by cross-attention (``attn2``, kept stock)."""
from __future__ import annotations

from typing import Optional

from ..layout import TokenLayout
from .base import FamilyAdapter

#: why UltraViCo and FreeLong++ do not act on it
METHODS_REFUSAL = ("its self-attention only ever spans one chunk and its own bounded, compressed history (history_sizes), "
                   "never the whole video, which UltraViCo's decay and FreeLong++'s windows are written over; its call "
                   "already makes long videos chunk by chunk: use method none, or vidlong stream")


class HeliosAdapter(FamilyAdapter):
    """Helios's self-attentions, their token grid (the chunk's, under its patch), and its streams' refusals."""

    name = "helios"
    transformer_class = "HeliosTransformer3DModel"
    stream_contexts = ("cache",)  # its own history latents, bounded (vidlong.families.helios.HeliosStreamer)
    stock_only = True
    whole_chunks = True
    extension_frames = 16 + 2 + 1  # its call's default history_sizes (vidlong.families.helios.CALL_DEFAULTS)
    no_cache_reason = "its chunks see its own compressed history latents, never re-noised"
    no_fifo_reason = ("is not implemented for HeliosTransformer3DModel: its chunks are denoised one after another, each "
                      "after its compressed history, not as a diagonal queue; stream it instead")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """The chunk's grid (its latents ``[B, C, f, H, W]``) under its patch ``(p_t, p_h, p_w)``; its history's tokens
        are not in it."""
        latents = args[0] if args else kwargs["hidden_states"]
        _, _, frames, height, width = latents.shape
        p_t, p_h, p_w = transformer.config.patch_size
        return TokenLayout(frames // p_t, height // p_h, width // p_w, max(1, native_frames // p_t))

    def methods_refusal(self, config) -> Optional[str]:
        return METHODS_REFUSAL

    def stream_refusal(self, streaming) -> Optional[str]:
        """Its streams' chunks are its call's (`vidlong.families.helios`): every chunk of ``--chunk`` latent frames after
        its call's history, denoised by its own scheduler."""
        from ...errors import named

        if streaming.sinks is not None or streaming.window is not None:
            return (f"a Helios stream sees its call's own history (history_sizes: its latest latent frames, compressed), "
                    f"not sinks and a window; drop {named('sinks')} / {named('window')}")
        if streaming.first_chunk is not None:
            return (f"every chunk of a Helios stream is {named('chunk')} latent frames, as its call's chunks are; drop "
                    f"{named('first_chunk')}")
        if streaming.sampler == "causal" or streaming.timesteps is not None:
            return (f"a Helios stream denoises each chunk by its own scheduler's steps ({named('steps')} N), not the causal "
                    f"sampler; drop {named('sampler')} / {named('timesteps')}")
        if not streaming.recache_on_prompt_switch or streaming.keep_sinks_on_switch:
            flag = named("keep_sinks_on_switch") if streaming.keep_sinks_on_switch else \
                named("recache_on_prompt_switch", "--no-recache")
            return (f"{flag}: a Helios stream keeps no KV cache (each chunk's forwards read its history latents under "
                    f"the chunk's prompt), so there is nothing to keep on a prompt switch; drop {flag}")
        return None


HELIOS = HeliosAdapter()
