"""HunyuanVideo 1.5 through its family adapter: joint attention in dual-stream blocks with the condition tokens
(image, ByT5, Qwen text) after the video tokens, their padding passed as a ``[B, T]`` mask. Methods off = the
stock model bit for bit; each method equal to the float64 dense reference with the condition pairs untouched;
the native length from configs/models; vidlong's call takes ``guidance_scale=`` and a step callback, which its
diffusers call does not."""
import pytest
import torch
from conftest import cli_generates_and_extends_from_an_image, hunyuan15_inputs, tiny_hunyuan15_transformer
from family_checks import check_methods_off_and_removed
from reference import rel_err, text_last_method_attention

import vidlong
from vidlong.attention.adapters.hunyuan15 import HUNYUAN_VIDEO_15

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 2x3, patch 1)
CONDITION = 4 + 3 + 5  # image, ByT5 and Qwen tokens of `hunyuan15_inputs`


def test_methods_off_and_removed_are_stock_bit_for_bit():
    # a neutral plan's output is stock: the stock path builds its processor's mask
    check_methods_off_and_removed(tiny_hunyuan15_transformer, lambda model: model(**hunyuan15_inputs(4 * NATIVE))[0],
                                  HUNYUAN_VIDEO_15.self_attentions, "HunyuanVideo15AttnProcessor2_0", 2, NATIVE)


class ReferenceAttention:
    """The methods' float64 math on a HunyuanVideo 1.5 joint attention (q/k/v as its stock processor makes them),
    the condition tokens' padding mask read as the keys no query sees."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v = HUNYUAN_VIDEO_15.qkv(attn, hidden_states, image_rotary_emb, encoder_hidden_states)
        visible = torch.cat([torch.ones(1, hidden_states.shape[1], dtype=torch.bool), attention_mask.bool()], dim=1)
        out = text_last_method_attention(self.method, q, k, v, CONDITION, self.frames, GRID, NATIVE, visible)
        return HUNYUAN_VIDEO_15.output(attn, out, q.dtype, CONDITION)


CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")])


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method, device, monkeypatch):
    """On the CPU's dense kernel, and on CUDA's fused Triton kernel (the condition tokens as its text keys, the padded
    ones unseen), in float32 (the patch embedding's convolution too: cuDNN's TF32 alone is 3e-4 off)."""
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    frames = 4 * NATIVE
    model = tiny_hunyuan15_transformer().to(device)
    vidlong.apply(model, method, native_frames=NATIVE, kernel="fused" if device == "cuda" else "auto")
    inputs = {k: v.to(device) if torch.is_tensor(v) else v for k, v in hunyuan15_inputs(frames).items()}
    with torch.no_grad():
        out = model(**inputs)[0].cpu()
    ref_model = tiny_hunyuan15_transformer().to(torch.float64)
    for attention in HUNYUAN_VIDEO_15.self_attentions(ref_model):
        attention.set_processor(ReferenceAttention(method, frames))
    with torch.no_grad():
        ref = ref_model(**hunyuan15_inputs(frames, dtype=torch.float64))[0]
    assert rel_err(out, ref) < (1e-5 if device == "cpu" else 1e-4)


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

    guided = video(callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"])  # diffusers' companion
    assert seen == [(0, guided.shape), (1, guided.shape)] and pipe.guider is guider and guider.guidance_scale == 6.0
    with pytest.raises(VidlongError, match=r"callback_on_step_end_tensor_inputs=\['prompt_embeds'\]: HunyuanVideo 1.5's step "
                                           r"callback is handed its latents alone; pass \['latents'\]"):
        video(callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["prompt_embeds"])
    assert torch.equal(guided, video(guidance_scale=2.0)) and not torch.equal(guided, video(guidance_scale=1.0))
    with pytest.raises(VidlongError, match="guidance_scale must be"):
        video(guidance_scale=float("nan"))
    zeroed = video(callback_on_step_end=lambda _p, step, _t, kwargs: {"latents": kwargs["latents"] * 0} if step == 1 else {})
    assert not zeroed.any()  # the callback's latents replace the last step's

    def stop(*_):
        raise vidlong.errors.Stopped()

    with pytest.raises(vidlong.errors.Stopped):
        video(callback_on_step_end=stop, guidance_scale=3.0)
    assert pipe.guider is guider and "step" not in vars(pipe.scheduler)  # both restored after a Stop


def test_a_folders_own_guider_sets_the_default_guidance(tmp_path):
    """With no vidlong.yaml, the guidance is the one its guider is saved with (1 in the guidance-distilled
    releases), not configs/models' 6; with none saved, the entry's."""
    from tiny_pipeline import tiny_hunyuan15_pipeline

    from vidlong.models import spec_for_folder

    pipe = tiny_hunyuan15_pipeline()
    pipe.guider = pipe.guider.new(guidance_scale=1.0)
    pipe.save_pretrained(tmp_path)
    assert (spec_for_folder(tmp_path).name, spec_for_folder(tmp_path).guidance_scale) == ("hunyuan-video-1.5", 1.0)
    (tmp_path / "guider" / "guider_config.json").unlink()
    assert spec_for_folder(tmp_path).guidance_scale == 6.0


def test_streams_run_in_bfloat16_and_refuse_what_they_would_not_follow(tmp_path):
    """A bfloat16 stream (its time embedding takes the timestep in the transformer's dtype); a guider that is not plain
    classifier-free guidance, and a step-distilled (MeanFlow) transformer, are refused in one line."""
    import yaml
    from tiny_pipeline import tiny_hunyuan15_pipeline

    from vidlong.errors import VidlongError
    from vidlong.methods import Streaming
    from vidlong.pipeline import load_pipeline

    tiny_hunyuan15_pipeline().save_pretrained(tmp_path)
    (tmp_path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny", native_frames=NATIVE, height=32, width=48, fps=24,
                                                               num_inference_steps=2, guidance_scale=2.0)))
    pipe = load_pipeline(tmp_path, device="cpu", dtype="bfloat16")
    assert [len(c.frames) for c in pipe.stream("a red ball", Streaming(chunk=1), chunks=2, seed=0)] == [1, 4]
    pipe.guider = pipe.guider.new(guidance_rescale=0.7)
    with pytest.raises(VidlongError, match="not plain classifier-free guidance"):
        next(iter(pipe.stream("a red ball", Streaming(chunk=1), chunks=1)))
    pipe.guider = pipe.guider.new(guidance_rescale=0.0)
    pipe.transformer.register_to_config(use_meanflow=True)
    with pytest.raises(VidlongError, match="step-distilled"):
        next(iter(pipe.stream("a red ball", Streaming(chunk=1), chunks=1)))


def test_a_step_distilled_folder_is_refused_a_stream_before_it_loads(tmp_path, capsys, monkeypatch):
    """A folder whose transformer is step-distilled (``use_meanflow``) is refused `vidlong stream` and `vidlong extend`
    in one line from its config, before any model loads."""
    import json

    import numpy as np
    from tiny_pipeline import tiny_hunyuan15_pipeline

    import vidlong.pipeline
    from vidlong.cli import main
    from vidlong.video_io import write_video

    tiny_hunyuan15_pipeline().save_pretrained(tmp_path / "model")
    config = tmp_path / "model" / "transformer" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), use_meanflow=True)))
    write_video(tmp_path / "in.mp4", np.zeros((9, 32, 48, 3), np.uint8), fps=24)
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    capsys.readouterr()
    for command in (["stream", "--prompt", "a red ball"], ["extend", "--video", str(tmp_path / "in.mp4"), "--prompt", "x"]):
        assert main([*command, "--model", str(tmp_path / "model"), "--chunks", "1", "--out", str(tmp_path / "o.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "step-distilled (use_meanflow)" in err[0], err


def test_image_to_video_generates_as_its_pipeline_does_streams_and_extends(tmp_path, image_path):
    """`HunyuanVideo15ImageToVideoPipeline` folders load as vidlong's image-to-video class; `generate` with an image
    (whose aspect the call's own size bucket matches) and no method is diffusers' own call bit for bit, and the
    image matters; a stream's every forward carries the image's latent and mask on the video's first frame and zeros
    after, and the image's SigLIP states; the CLI generates with the methods and extends."""
    import diffusers
    import numpy as np
    import yaml
    from PIL import Image
    from tiny_pipeline import tiny_hunyuan15_i2v_pipeline

    from vidlong.generate import GenerateRequest, generate
    from vidlong.methods import Streaming
    from vidlong.pipeline import load_pipeline

    folder = tmp_path / "hv15-i2v"
    tiny_hunyuan15_i2v_pipeline().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-hv15-i2v", native_frames=NATIVE, height=32, width=48,
                                                             fps=24, num_inference_steps=2, guidance_scale=2.0)))
    wide = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(wide)
    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongHunyuanVideo15ImageToVideoPipeline" and pipe.task == "i2v"
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(wide)))
    stock = diffusers.HunyuanVideo15ImageToVideoPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    stock.guider = stock.guider.new(guidance_scale=2.0)
    noise = torch.randn(1, 4, NATIVE, 2, 3, generator=torch.Generator().manual_seed(3))
    video = stock(image=Image.open(wide).convert("RGB"), prompt="a red ball", num_frames=9, num_inference_steps=2,
                  latents=noise, output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    other = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(image_path)))  # square: cropped
    assert not np.array_equal(other.frames, own.frames)

    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3, image=str(wide))))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append((k["hidden_states"], k["image_embeds"])),
                                               with_kwargs=True)
    chunks = list(pipe.stream("a red ball", Streaming(chunk=1, sinks=1, window=1, steps=2), chunks=3, seed=1, image=str(wide)))
    assert [len(c.frames) for c in chunks] == [1, 4, 4]
    assert [x.shape[:3] for x, _ in seen] == [(2, 9, f) for f in (1, 1, 2, 2, 3, 3)]  # [sink | window | chunk], 2 steps, guided
    image_latent = seen[0][0][:, 4:8, :1]
    assert image_latent.abs().sum() > 0
    for x, embeds in seen:  # the image's latent and mask on the video's first frame, zeros after; its SigLIP states
        assert (x[:, 4:8, :1] == image_latent).all() and (x[:, 8, :1] == 1).all() and (x[:, 4:, 1:] == 0).all()
        assert embeds.shape[:2] == (2, 16) and embeds.abs().sum() > 0

    cli_generates_and_extends_from_an_image(folder, wide, tmp_path, 4)

