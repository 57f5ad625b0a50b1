"""What the families share whose call makes the video chunk by chunk, each forward reading its own bounded, compressed
history of clean latents as inputs (Helios's chunks, FramePack's sections): vidlong's methods refused (their attention
never spans the whole video), lengths in whole chunks, and the stream settings their streams do not take refused before
loading (their streams keep the call's own history, `vidlong.families.helios`, `vidlong.families.framepack`)."""
from __future__ import annotations

from typing import Optional

from .base import FamilyAdapter


class HistoryAdapter(FamilyAdapter):
    """A family whose forwards see one chunk and the history its call hands them.

    Attributes:
        shown_name: the family as its refusals name it ("Helios", "FramePack").
        methods_reason: why vidlong's methods do not act on it (`methods_refusal`).
    """

    whole_chunks = True
    own_stream_context = "history"  # its streamer hands each chunk its call's history latents
    shown_name = ""
    methods_reason = ""

    def methods_refusal(self, config) -> Optional[str]:
        return self.methods_reason

    def stream_refusal(self, streaming) -> Optional[str]:
        """Its streams' chunks are its call's: every chunk of ``--chunk`` latent frames after its call's history, denoised by
        its own scheduler; sinks, a window, a first chunk of its own, the causal sampler and a kept cache are refused."""
        from ...errors import named

        who = self.shown_name
        if streaming.sinks is not None or streaming.window is not None:
            return (f"a {who} stream sees its call's own history (history_sizes: its latest latent frames, compressed), "
                    f"not sinks and a window; drop {named('sinks')} / {named('window')}")
        if streaming.first_chunk is not None:
            return (f"every chunk of a {who} stream is {named('chunk')} latent frames, as its call's chunks are; drop "
                    f"{named('first_chunk')}")
        sampler = self.own_sampler_refusal(streaming, f"a {who} stream", "its own scheduler's steps")
        if sampler is not None:
            return sampler
        if not streaming.recache_on_prompt_switch or streaming.keep_sinks_on_switch:
            flag = named("keep_sinks_on_switch") if streaming.keep_sinks_on_switch else \
                named("recache_on_prompt_switch", "--no-recache")
            return (f"{flag}: a {who} stream keeps no KV cache (each chunk's forwards read its history latents under "
                    f"the chunk's prompt), so there is nothing to keep on a prompt switch; drop {flag}")
        return None
