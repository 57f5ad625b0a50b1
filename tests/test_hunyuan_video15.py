"""HunyuanVideo 1.5 through its family adapter: joint attention in dual-stream blocks with the condition tokens
(image, ByT5, Qwen text) after the video tokens, their padding passed as a ``[B, T]`` mask. Methods off = the
stock model bit for bit; each method equal to the float64 dense reference with the condition pairs untouched;
the native length from configs/models; vidlong's call takes ``guidance_scale=`` and a step callback, which its
diffusers call does not."""
import pytest
import torch
from conftest import hunyuan15_inputs, tiny_hunyuan15_transformer
from reference import joint_method_attention

import vidlong
from vidlong.attention.adapters.hunyuan15 import HUNYUAN_VIDEO_15

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 2x3, patch 1)
CONDITION = 4 + 3 + 5  # image, ByT5 and Qwen tokens of `hunyuan15_inputs`


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def stock_output(frames):
    with torch.no_grad():
        return tiny_hunyuan15_transformer()(**hunyuan15_inputs(frames))[0]


def test_methods_off_and_removed_are_stock_bit_for_bit():
    frames = 4 * NATIVE
    model = tiny_hunyuan15_transformer()
    stock = [a.processor for a in HUNYUAN_VIDEO_15.self_attentions(model)]
    assert len(stock) == 2 and type(stock[0]).__name__ == "HunyuanVideo15AttnProcessor2_0"
    neutral = vidlong.apply(model, vidlong.UltraViCo(alpha=1.0, guard_first_frame=False), native_frames=NATIVE)
    with torch.no_grad():
        out = model(**hunyuan15_inputs(frames))[0]
    assert neutral.plan.is_stock and torch.equal(out, stock_output(frames))  # the stock path builds its processor's mask
    vidlong.apply(model, vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(), native_frames=NATIVE)
    with torch.no_grad():
        changed = model(**hunyuan15_inputs(frames))[0]
    vidlong.remove(model)
    assert [a.processor for a in HUNYUAN_VIDEO_15.self_attentions(model)] == stock
    with torch.no_grad():
        assert torch.equal(model(**hunyuan15_inputs(frames))[0], stock_output(frames))
    assert rel_err(changed, stock_output(frames)) > 1e-3


def to_condition_first(x, condition):
    return torch.cat([x[:, -condition:], x[:, :-condition]], dim=1)


def to_condition_last(x, condition):
    return torch.cat([x[:, condition:], x[:, :condition]], dim=1)


class ReferenceAttention:
    """The methods' float64 math on a HunyuanVideo 1.5 joint attention (q/k/v as its stock processor makes them),
    the condition tokens' padding mask read as the keys no query sees."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v = HUNYUAN_VIDEO_15.qkv(attn, hidden_states, image_rotary_emb, encoder_hidden_states)
        visible = torch.cat([attention_mask.bool(), torch.ones(1, hidden_states.shape[1], dtype=torch.bool)], dim=1)
        out = joint_method_attention(self.method, *(to_condition_first(x, CONDITION) for x in (q, k, v)), CONDITION,
                                     self.frames, GRID, NATIVE, visible)
        return HUNYUAN_VIDEO_15.output(attn, to_condition_last(out, CONDITION), q.dtype, CONDITION)


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))], ids=["ultravico", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method):
    frames = 4 * NATIVE
    model = tiny_hunyuan15_transformer()
    vidlong.apply(model, method, native_frames=NATIVE)
    with torch.no_grad():
        out = model(**hunyuan15_inputs(frames))[0]
    ref_model = tiny_hunyuan15_transformer().to(torch.float64)
    for attention in HUNYUAN_VIDEO_15.self_attentions(ref_model):
        attention.set_processor(ReferenceAttention(method, frames))
    with torch.no_grad():
        ref = ref_model(**hunyuan15_inputs(frames, dtype=torch.float64))[0]
    assert rel_err(out, ref) < 1e-5


def test_native_length_and_size_come_from_configs():
    """480p by default; the 720p release's transformer (``target_size`` 960) matches its own entry."""
    from vidlong.models import family_of, model_facts, spec_for_facts

    model = tiny_hunyuan15_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 31
    facts = model_facts(model.config, family=family_of(model))
    assert (spec_for_facts(facts).height, spec_for_facts(facts).width) == (480, 848)
    model.register_to_config(target_size=960)
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.height, spec.width, spec.native_frames) == ("hunyuan-video-1.5-720p", 720, 1280, 31)


def test_the_call_takes_guidance_and_a_step_callback_and_keeps_its_guider(tmp_path):
    """Its diffusers call has neither: vidlong sets the guider's scale for the call (the guider is restored after),
    and the scheduler's steps call the callback with the latents (Stop and progress ride on it)."""
    from tiny_pipeline import tiny_hunyuan15_pipeline

    from vidlong.errors import VidlongError
    from vidlong.pipeline import pipeline_class

    pipe = pipeline_class("HunyuanVideo15Pipeline")(**tiny_hunyuan15_pipeline().components)
    pipe.vidlong_spec = vidlong.models.ModelSpec(name="tiny", native_frames=NATIVE, height=32, width=48, num_inference_steps=2,
                                                 guidance_scale=2.0)
    pipe.set_progress_bar_config(disable=True)
    guider, seen = pipe.guider, []

    def video(**kwargs):
        return pipe(prompt="a red ball", generator=torch.Generator().manual_seed(0), output_type="latent", **kwargs).frames

    def callback(_pipe, step, _t, kwargs):
        seen.append((step, kwargs["latents"].shape))
        return {}

    guided = video(callback_on_step_end=callback)
    assert seen == [(0, guided.shape), (1, guided.shape)] and pipe.guider is guider and guider.guidance_scale == 6.0
    assert torch.equal(guided, video(guidance_scale=2.0)) and not torch.equal(guided, video(guidance_scale=1.0))
    with pytest.raises(VidlongError, match="guidance_scale must be"):
        video(guidance_scale=float("nan"))
