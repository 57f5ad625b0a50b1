"""Helios (`HeliosTransformer3DModel`): Wan's backbone made autoregressive. Each forward denoises one chunk of latents
``[B, C, f, h, w]`` (patch ``(1, 2, 2)``) after the tokens of its compressed history (``latents_history_short`` at the
full patch, ``_mid`` at 2x and ``_long`` at 4x in every axis), which its self-attention ``blocks[i].attn1`` (diffusers'
`HeliosAttnProcessor`, history keys optionally amplified) sees together with the chunk: never more than its bounded
history (``history_sizes``, 16 + 2 + 1 latent frames in its call's defaults) and one chunk. vidlong's methods do not act on
it (`HeliosAdapter.methods_refusal`): with no method its forwards go to its own processor as they came. Its streams keep
its call's history, bounded (`vidlong.families.helios`). Text by cross-attention (``attn2``, kept stock)."""
from __future__ import annotations

from ..layout import TokenLayout
from .history import HistoryAdapter

#: why UltraViCo and FreeLong++ do not act on it
METHODS_REFUSAL = ("its self-attention only ever spans one chunk and its own bounded, compressed history (history_sizes), "
                   "never the whole video, which UltraViCo's decay and FreeLong++'s windows are written over; its call "
                   "already makes long videos chunk by chunk: use method none, or vidlong stream")


class HeliosAdapter(HistoryAdapter):
    """Helios's self-attentions, their token grid (the chunk's, under its patch); its refusals are `HistoryAdapter`'s."""

    name = "helios"
    transformer_class = "HeliosTransformer3DModel"
    stream_contexts = ("cache",)  # its own history latents, bounded (vidlong.families.helios.HeliosStreamer)
    stock_only = True
    chunks_decoded_alone = True
    extension_frames = 16 + 2 + 1  # its call's default history_sizes (vidlong.families.helios.CALL_DEFAULTS)
    shown_name, methods_reason = "Helios", METHODS_REFUSAL
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


HELIOS = HeliosAdapter()
