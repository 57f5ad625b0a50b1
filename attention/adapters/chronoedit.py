"""ChronoEdit (`ChronoEditTransformer3DModel`): Wan2.1-I2V-14B's blocks (self-attention ``blocks[i].attn1`` over frame-major
tokens of the patched latents ``[B, C, F, H, W]``, patch ``(1, 2, 2)``; its attention processor is a copy of Wan's, text and
CLIP image tokens by cross-attention), so Wan's q/k/v, layout and output serve it. Its RoPE differs from Wan's in one case:
a forward of exactly 2 latent frames (the input image's and the edit's, its call past its temporal reasoning steps) places
them at temporal positions 0 and ``rope_temporal_skip_len - 1`` (8 - 1 = 7 by default: the edit where the last frame of its
8-frame reasoning video sits); any other count at 0..F-1, as Wan's. vidlong's processor takes the rotary tables the model's
own forward hands each block, so both hold as they are; the methods count frames by token index, and a 2-frame forward is
inside any native window of 2 or more frames: stock. Its own RoPE module keeps no per-axis sizes (Wan's ``t_dim``...), so
what moves Wan's tables (RIFLEx, windows with re-placed anchors) is not implemented for it; an edit is one short clip: no
stream, extension, diagonal denoising or prompt timeline."""
from __future__ import annotations

from .base import FamilyAdapter
from .wan import WanAdapter


class ChronoEditAdapter(WanAdapter):
    name = "chronoedit"
    transformer_class = "ChronoEditTransformer3DModel"
    stream_contexts = ()
    no_stream_reason = ("its call edits one image in one short clip (the input image, reasoning frames, the edited image "
                        "last), which a stream or an extension has no next chunk of")
    moves_rope = False
    timestep_per_token = False
    no_fifo_reason = ("is not implemented for ChronoEditTransformer3DModel: its call edits one image in one short clip, "
                      "which a diagonal queue has no next frame of")
    prompt_timeline = False
    rope_module = FamilyAdapter.rope_module
    temporal_shift = FamilyAdapter.temporal_shift


CHRONOEDIT = ChronoEditAdapter()
