"""HunyuanVideo through its family adapter: joint attention with the text tokens after the video tokens
and padded text keys masked, in dual- and single-stream blocks. Methods off = the stock model bit for
bit; each method (UltraViCo with its HunyuanVideo `beta` included) equal to the float64 dense reference
with the text pairs untouched; the native length from configs/models."""
import pytest
import torch
from conftest import hunyuan_inputs, tiny_hunyuan_transformer
from reference import text_last_method_attention

import vidlong
from vidlong.attention.adapters.hunyuan import HUNYUAN_VIDEO
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
TEXT = 5
BETA = dict(alpha=0.8, beta=0.5, beta_bands=((4, 6),), guard_first_frame=False)  # bands inside this small model's far region


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def stock_output(frames):
    with torch.no_grad():
        return tiny_hunyuan_transformer()(**hunyuan_inputs(frames))[0]


def test_methods_off_and_removed_are_stock_bit_for_bit():
    frames = 4 * NATIVE
    model = tiny_hunyuan_transformer()
    stock = [a.processor for a in HUNYUAN_VIDEO.self_attentions(model)]
    neutral = vidlong.apply(model, vidlong.UltraViCo(alpha=1.0, guard_first_frame=False), native_frames=NATIVE)
    with torch.no_grad():
        out = model(**hunyuan_inputs(frames))[0]
    assert neutral.plan.is_stock and torch.equal(out, stock_output(frames))
    vidlong.apply(model, vidlong.UltraViCo(**BETA), vidlong.SpectralFusion(), native_frames=NATIVE)
    with torch.no_grad():
        changed = model(**hunyuan_inputs(frames))[0]
    vidlong.remove(model)
    assert [a.processor for a in HUNYUAN_VIDEO.self_attentions(model)] == stock
    with torch.no_grad():
        assert torch.equal(model(**hunyuan_inputs(frames))[0], stock_output(frames))
    assert rel_err(changed, stock_output(frames)) > 1e-3


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.UltraViCo(**BETA), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "ultravico-beta", "fusion"])
def test_joint_plan_with_text_last_and_padding_matches_the_reference(method):
    frames = 4 * NATIVE
    layout = TokenLayout(frames, *GRID, NATIVE)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, layout.num_tokens + TEXT, 2, 8, generator=gen) * 2 for _ in range(3))
    visible = torch.ones(1, layout.num_tokens + TEXT, dtype=torch.bool)
    visible[:, -2:] = False  # two padded text tokens
    out = run_joint_plan(q, k + 0.5, v, build_plan(layout, [method]), TEXT, text_at_end=True, visible=visible)
    expected = text_last_method_attention(method, q, k + 0.5, v, TEXT, frames, GRID, NATIVE, visible)
    assert rel_err(out, expected) < 1e-5


class ReferenceAttention:
    """The methods' float64 math on a HunyuanVideo joint attention (q/k/v as its stock processor makes them)."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v = HUNYUAN_VIDEO.qkv(attn, hidden_states, image_rotary_emb, encoder_hidden_states)
        out = text_last_method_attention(self.method, q, k, v, TEXT, self.frames, GRID, NATIVE, attention_mask.reshape(1, -1).bool())
        return HUNYUAN_VIDEO.output(attn, out, q.dtype, TEXT)


@pytest.mark.parametrize("method", [vidlong.UltraViCo(**BETA), vidlong.SpectralFusion(windows=(1,))], ids=["ultravico-beta", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method):
    frames = 4 * NATIVE
    model = tiny_hunyuan_transformer()
    vidlong.apply(model, method, native_frames=NATIVE)
    with torch.no_grad():
        out = model(**hunyuan_inputs(frames))[0]
    ref_model = tiny_hunyuan_transformer().to(torch.float64)
    for attention in HUNYUAN_VIDEO.self_attentions(ref_model):
        attention.set_processor(ReferenceAttention(method, frames))
    with torch.no_grad():
        ref = ref_model(**hunyuan_inputs(frames, dtype=torch.float64))[0]
    assert rel_err(out, ref) < 1e-5


def test_native_length_comes_from_configs_and_bad_beta_is_refused():
    model = tiny_hunyuan_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo(beta=0.6, guard_first_frame=False)).native_frames == 33
    with pytest.raises(vidlong.VidlongError, match="UltraViCo beta must be in"):
        vidlong.UltraViCo(beta=1.5)
    with pytest.raises(vidlong.VidlongError, match="beta_bands must be"):
        vidlong.UltraViCo(beta=0.6, beta_bands=((5, 2),))


def test_beta_bands_given_as_lists_are_kept_hashable():
    method = vidlong.UltraViCo(beta=0.6, beta_bands=[[46, 54], [96, 104]])
    assert method.beta_bands == ((46.0, 54.0), (96.0, 104.0)) and hash(method) == hash(vidlong.UltraViCo(beta=0.6, beta_bands=((46, 54), (96, 104))))
