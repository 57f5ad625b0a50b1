"""Kandinsky 6 (video and sound in one transformer) through its family adapter and pipeline: the methods on its video
self-attention alone (its audio self-attention, audio-video cross-attentions and text cross-attentions stock), its image's
frame after the video's kept out of the frame grid (seen unmodified, its rows stock); methods off = the stock model bit for
bit; each method equal to a float64 reference (q/k/v written from its math, attention from `reference`); `generate` with no
method = diffusers' `Kandinsky6TI2VAPipeline` bit for bit, video and sound, from text and from an image; `vidlong
generate` writes an mp4 with its sound; what it does not run is refused in one line before loading."""
import pytest
import torch
from conftest import kandinsky6_inputs, tiny_kandinsky6_transformer
from family_checks import check_float64_reference, check_methods_off_and_removed
from reference import matrix_rotated, method_attention, rms_norm, text_last_method_attention

import vidlong
from vidlong.attention.adapters.kandinsky6 import KANDINSKY_6

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}
#: from text, and with its image's frame after the video's (its image-to-video call's inputs)
IMAGE = pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])


def run(model, frames, dtype=torch.float32, image=False):
    """Its video and audio predictions, flattened into one tensor."""
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**kandinsky6_inputs(frames, dtype=dtype, image=image))])


def others_stock(model):
    """Its audio self-attentions, audio-video cross-attentions and text cross-attentions keep their own processors."""
    for block in model.visual_transformer_blocks:
        for attention in (block.audio_dec_block.self_attention, block.va_cross_attention, block.av_cross_attention,
                          block.video_dec_block.cross_attention, block.audio_dec_block.cross_attention):
            assert type(attention.processor).__name__ == "Kandinsky6AttnProcessor"


@IMAGE
def test_methods_off_and_removed_are_stock_bit_for_bit(image):
    """vidlong's processor goes on its fused blocks' video self-attentions alone and comes off; a neutral plan is its own
    processor's output bit for bit, video and sound."""
    check_methods_off_and_removed(tiny_kandinsky6_transformer, lambda model: run(model, 4 * NATIVE, image=image),
                                  KANDINSKY_6.self_attentions, "Kandinsky6AttnProcessor", 2, NATIVE, applied=others_stock)


class ReferenceAttention:
    """The methods' float64 math on a Kandinsky 6 video self-attention: q/k/v from its projections, per-head RMS norms and
    its rotation-matrix RoPE on q and k, the output through ``out_layer``; with `image`, the last frame's tokens (its
    image's) as text after the video (`text_last_method_attention`)."""

    def __init__(self, method, frames, image):
        self.method, self.frames, self.image = method, frames, image

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, rotary_emb=None, rotary_emb_kv=None,
                 attn_mask=None):
        def heads(x):
            return x.unflatten(2, (attn.num_heads, -1))

        assert encoder_hidden_states is None and attn_mask is None and rotary_emb_kv is rotary_emb
        q = matrix_rotated(rms_norm(heads(attn.to_query(hidden_states)), attn.query_norm), rotary_emb)
        k = matrix_rotated(rms_norm(heads(attn.to_key(hidden_states)), attn.key_norm), rotary_emb)
        v = heads(attn.to_value(hidden_states))
        if self.image:
            out = text_last_method_attention(self.method, q, k, v, GRID[0] * GRID[1], self.frames, GRID, NATIVE)
        else:
            out = method_attention(self.method, q, k, v, self.frames, GRID, NATIVE)
        return attn.out_layer(out.flatten(2, 3))


@IMAGE
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, image):
    """At 4x the native window, in float32 on the CPU's dense kernel; its image's frame kept out of the grid."""
    check_float64_reference(tiny_kandinsky6_transformer, lambda model, frames, dtype: run(model, frames, dtype, image),
                            KANDINSKY_6.self_attentions, lambda method, frames: ReferenceAttention(method, frames, image),
                            method, NATIVE)


def test_layout_leaves_out_its_images_frame_and_refuses_another_order():
    """The grid of an image-to-video forward is the video's frames (its image's, token type 1, after them, not in it); a
    token type marking a frame before a video frame is refused in one line; RIFLEx is not implemented (no RoPE tables)."""
    from vidlong.attention.adapters.kandinsky6 import reference_frames

    model = tiny_kandinsky6_transformer()
    inputs = kandinsky6_inputs(2 * NATIVE, image=True)
    assert KANDINSKY_6.layout(model, (), inputs, NATIVE).grid == (2 * NATIVE, *GRID, NATIVE)
    assert reference_frames(None) == 0
    with pytest.raises(vidlong.VidlongError, match="visual_token_type_ids marking another frame is not implemented"):
        reference_frames(torch.tensor([[1, 0, 0]]))
    with pytest.raises(vidlong.VidlongError, match="RIFLEx is not implemented for Kandinsky6Transformer3DModel"):
        vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)
