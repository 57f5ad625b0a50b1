"""FramePack (`HunyuanVideoFramepackTransformer3DModel`): HunyuanVideo's blocks (`HunyuanVideoAdapter`'s joint
self-attentions, text after video) over one section of latents ``[B, C, f, h, w]`` (patch ``(1, 2, 2)``), after the tokens
of its compressed history of clean latents (the image's latent and the latest frame at the full patch, 2 frames at 2x, 16
at 4x in every axis: ``latents_clean``, ``latents_history_2x``, ``latents_history_4x``) and the SigLIP image states before
the text: its attention never spans more than one section and that bounded history, so vidlong's methods do not act on it
(`FramePackAdapter.methods_refusal`). Its streams and extensions keep its call's history, bounded
(`vidlong.families.framepack`)."""
from __future__ import annotations

from typing import Optional

from .history import HistoryAdapter
from .hunyuan import HunyuanVideoAdapter

#: why UltraViCo and FreeLong++ do not act on it
METHODS_REFUSAL = ("its self-attention only ever spans one section and its own bounded, compressed history (clean latents "
                   "at 1x, 2x and 4x), never the whole video, which UltraViCo's decay and FreeLong++'s windows are written "
                   "over; its call already makes long videos section by section: use method none, or vidlong stream")


class FramePackAdapter(HistoryAdapter, HunyuanVideoAdapter):
    """FramePack's self-attentions (HunyuanVideo's), its lengths (whole sections after the image's frame), its streams'
    and extensions' refusals (`HistoryAdapter`'s, and the inverted order's) and what an extension reads of a video (its
    call's history, after at least its shortest video)."""

    name = "framepack"
    transformer_class = "HunyuanVideoFramepackTransformer3DModel"
    stream_contexts = ("renoise",)  # no KV cache: each forward reads its clean history as inputs (an image-to-video's context)
    shown_name, methods_reason = "FramePack", METHODS_REFUSAL
    no_cache_reason = "its sections read their own clean history as inputs; there is no KV cache to keep"
    no_fifo_reason = ("is not implemented for HunyuanVideoFramepackTransformer3DModel: its sections are denoised one after "
                      "another, each after its compressed history, not as a diagonal queue; stream it instead")
    extension_frames = 16 + 2 + 1  # its vanilla call's history (vidlong.families.framepack.HISTORY_SIZES)
    image_frame_first = True  # a stream's first section comes after its start image's frame
    no_latents_reason = "a FramePack continuation reads its start image's SigLIP states, which saved latents do not hold"
    frame_counts = (1, 2, 3, 4)  # its call takes any num_frames: whole sections of 4·(f - 1) + 1 frames cover it

    def whole_chunk_lengths(self, chunks: int, chunk: int, temporal_ratio: int) -> tuple[int, int]:
        """Its call's video of `chunks` sections of `chunk` latent frames: the image's latent frame, then the sections'
        (``chunks·chunk + 1`` latent frames), decoded to ``temporal_ratio·chunks·chunk + 1`` pixel frames."""
        return chunks * chunk + 1, temporal_ratio * chunks * chunk + 1

    def fewest_extended(self, spec) -> tuple:
        """Its call's shortest video: the image's frame and one section of the native window (``4·w + 1`` pixel frames):
        an extension's first section is decoded after the input's last section, as its call decodes each section after
        the one before."""
        least = self.whole_chunk_lengths(1, spec.native_frames, spec.temporal_ratio)[1]
        return least, (f"FramePack continues a video from its last section of {spec.native_frames} latent frames after its "
                       f"first frame, as its call's shortest video ({least} frames) holds")

    def spec_stream_refusal(self, spec) -> Optional[str]:
        """A stream or an extension runs its sections forwards ("vanilla"); the inverted order's first section is the
        video's end (an order that is neither: refused where the spec is read, `vidlong.models.ModelSpec`)."""
        if spec.sampling_type == "inverted_anti_drifting":
            return ("FramePack's inverted_anti_drifting order cannot stream or extend a video: its first section made is the "
                    "video's end; set sampling_type: vanilla in the model's vidlong.yaml (or leave it out) to stream or extend")
        return None


FRAMEPACK = FramePackAdapter()
