"""LTX-Video through its family adapter: methods off = the stock model bit for bit, each method equal to
the float64 dense reference, what is not implemented refused in one line, the native length from
configs/models."""
import pytest
import torch
from conftest import ltx_inputs, tiny_ltx_transformer
from family_checks import NEUTRAL, block_self_attentions, check_methods_off_and_removed
from reference import method_attention, rel_err, text_last_method_attention

import vidlong
from vidlong.attention.adapters.ltx import LTX_VIDEO

NATIVE = 3  # latent frames
GRID = (2, 3)  # latent height, width (patch 1: token rows, columns)


def stock_output(frames):
    with torch.no_grad():
        return tiny_ltx_transformer()(**ltx_inputs(frames))[0]


@pytest.mark.parametrize("frames", [NATIVE, 4 * NATIVE])
def test_methods_off_and_removed_are_stock_bit_for_bit(frames):
    check_methods_off_and_removed(tiny_ltx_transformer, lambda model: model(**ltx_inputs(frames))[0], block_self_attentions,
                                  "LTXVideoAttnProcessor", 2, NATIVE, neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())),
                                  methods=(vidlong.UltraViCo(), vidlong.SpectralFusion()), acts=True if frames > NATIVE else None)


class ReferenceAttention:
    """The methods' float64 math on an LTX-Video self-attention (q/k/v as its stock processor makes them): `frames` on the
    grid, the `trailing` tokens after them (`LTXI2VLongMultiPromptPipeline`'s condition frames) as text at the end."""

    def __init__(self, method, frames, trailing=0):
        self.method, self.frames, self.trailing = method, frames, trailing

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        if encoder_hidden_states is not None:
            raise AssertionError("the reference replaces self-attention only")
        q, k, v = LTX_VIDEO.qkv(attn, hidden_states, image_rotary_emb)
        out = (text_last_method_attention(self.method, q, k, v, self.trailing, self.frames, GRID, NATIVE) if self.trailing
               else method_attention(self.method, q, k, v, self.frames, GRID, NATIVE))
        return attn.to_out[1](attn.to_out[0](out.to(q.dtype).flatten(2, 3)))


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,)), vidlong.SlidingWindow()],
                         ids=["ultravico", "fusion", "window"])
def test_methods_match_float64_reference(method):
    frames = 4 * NATIVE
    model = tiny_ltx_transformer()
    vidlong.apply(model, method, native_frames=NATIVE, kernel="dense")
    with torch.no_grad():
        out = model(**ltx_inputs(frames))[0]
    reference = tiny_ltx_transformer().to(torch.float64)
    for block in reference.transformer_blocks:
        block.attn1.set_processor(ReferenceAttention(method, frames))
    with torch.no_grad():
        ref = reference(**ltx_inputs(frames, dtype=torch.float64))[0]
    assert rel_err(out, ref) < 1e-5
    assert rel_err(out, stock_output(frames)) > 1e-4


def test_native_length_comes_from_configs_and_the_unimplemented_is_refused():
    model = tiny_ltx_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 21  # configs/models/ltx-video.yaml
    with pytest.raises(vidlong.VidlongError, match="RIFLEx is not implemented for LTXVideoTransformer3DModel"):
        vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)
    from vidlong.attention.stream_attention import StreamContext

    with pytest.raises(vidlong.VidlongError, match="a KV-cache stream is not available for LTXVideoTransformer3DModel: its rolling KV cache"):
        vidlong.apply(model, native_frames=NATIVE, stream=StreamContext(sinks=1, window=1))
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    inputs = ltx_inputs(2 * NATIVE)
    del inputs["num_frames"]
    with pytest.raises(vidlong.VidlongError, match="needs num_frames, height and width"):
        model(**inputs)


def test_a_diffusers_ltx_pipeline_runs_with_the_methods_and_unwrapped_is_stock():
    """`vidlong.apply(pipe.transformer, ...)` on diffusers' own LTXPipeline: 33 frames (5 latent) at a
    native window of 2 latent frames; removed, the pipeline's output is the stock one bit for bit."""
    import numpy as np
    from tiny_pipeline import tiny_ltx_pipeline

    pipe = tiny_ltx_pipeline()
    pipe.set_progress_bar_config(disable=True)

    def call():
        return pipe("a red circle", num_frames=33, height=64, width=64, num_inference_steps=2, output_type="np",
                    max_sequence_length=16, generator=torch.Generator().manual_seed(0)).frames

    stock = call()
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), vidlong.SpectralFusion(), native_frames=2)
    changed = call()
    vidlong.remove(pipe.transformer)
    assert changed.shape == stock.shape == (1, 33, 64, 64, 3)
    assert np.array_equal(call(), stock) and not np.array_equal(changed, stock)
