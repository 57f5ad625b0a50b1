"""HunyuanVideo through its family adapter: joint attention with the text tokens after the video tokens
and padded text keys masked, in dual- and single-stream blocks. Methods off = the stock model bit for
bit; each method (UltraViCo with its HunyuanVideo `beta` included) equal to the float64 dense reference
with the text pairs untouched; the native length from configs/models."""
import re

import pytest
import torch
from conftest import assert_image_to_video_is_the_stock_call, hunyuan_inputs, tiny_hunyuan_transformer
from family_checks import check_image_to_video_cli, check_methods_off_and_removed
from reference import rel_err, text_last_method_attention

import vidlong
from vidlong.attention.adapters.hunyuan import HUNYUAN_VIDEO
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
TEXT = 5
BETA = dict(alpha=0.8, beta=0.5, beta_bands=((4, 6),), guard_first_frame=False)  # bands inside this small model's far region


def test_methods_off_and_removed_are_stock_bit_for_bit():
    check_methods_off_and_removed(tiny_hunyuan_transformer, lambda model: model(**hunyuan_inputs(4 * NATIVE))[0],
                                  HUNYUAN_VIDEO.self_attentions, "HunyuanVideoAttnProcessor2_0", 2, NATIVE,
                                  methods=(vidlong.UltraViCo(**BETA), vidlong.SpectralFusion()))


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


@pytest.mark.parametrize("image_condition_type", [None, "token_replace"], ids=["t2v", "i2v-token-replace"])
@pytest.mark.parametrize("method", [vidlong.UltraViCo(**BETA), vidlong.SpectralFusion(windows=(1,))], ids=["ultravico-beta", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method, image_condition_type):
    """Text to video, and HunyuanVideo-I2V's transformer, whose first frame's tokens take their own modulation."""
    frames = 4 * NATIVE
    model = tiny_hunyuan_transformer(image_condition_type=image_condition_type)
    vidlong.apply(model, method, native_frames=NATIVE)
    with torch.no_grad():
        out = model(**hunyuan_inputs(frames))[0]
    ref_model = tiny_hunyuan_transformer(image_condition_type=image_condition_type).to(torch.float64)
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


@pytest.fixture(scope="module", params=["token_replace", "latent_concat"])
def i2v_folder(request, tmp_path_factory):
    """A saved tiny `HunyuanVideoImageToVideoPipeline` folder of each image condition, with a vidlong.yaml."""
    import yaml
    from tiny_pipeline import tiny_hunyuan_i2v_pipeline

    folder = tmp_path_factory.mktemp(request.param)
    tiny_hunyuan_i2v_pipeline(request.param).save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name=f"tiny-hunyuan-i2v-{request.param}", native_frames=NATIVE, fps=24,
                                                             height=32, width=48, num_inference_steps=2, guidance_scale=2.0)))
    return request.param, folder


def test_image_to_video_generates_as_its_pipeline_does(i2v_folder, image_path, tmp_path, capsys, monkeypatch):
    """HunyuanVideo-I2V (`HunyuanVideoImageToVideoPipeline`, a LLaVA reading the image with the prompt): `generate` with
    the image and no method = diffusers' call with the same noise, bit for bit; `vidlong generate --image --method both`
    at 2x writes the video (the ``latent_concat`` release's 4 pixel frames fewer, as its call returns them); fifo is
    refused in one line before any model loads (the streams: `test_streams_and_extends_with_its_image_in_every_window`)."""
    import json

    from diffusers import HunyuanVideoImageToVideoPipeline

    import vidlong.pipeline
    from vidlong.cli import main
    from vidlong.video_io import read_video

    kind, folder = i2v_folder
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongHunyuanVideoImageToVideoPipeline" and pipe.task == "i2v"
    assert pipe.vae.use_tiling  # as diffusers' examples load it; its tiles start past 256 pixels, so these calls are untiled
    assert_image_to_video_is_the_stock_call(pipe, HunyuanVideoImageToVideoPipeline, folder, image_path, 32, 48, 4 * NATIVE - 3)

    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                 "--method", "both", "--out", str(out)]) == 0
    dropped = 4 if kind == "latent_concat" else 0
    written = json.loads(out.with_suffix(".json").read_text())["pixel_frames"]
    assert len(read_video(out)[0]) == written == 4 * (2 * NATIVE - 1) + 1 - dropped

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    capsys.readouterr()
    commands = [(["generate", "--image", str(image_path), "--method", "fifo"], "needs a timestep per token")]
    if kind == "latent_concat":  # a first chunk of one latent frame makes 1 pixel frame, which its call drops with 3 more
        commands += [(["stream", "--image", str(image_path), "--chunk", "1", "--first-chunk", "1"],
                      "--first-chunk 1 makes 1 frame(s), and this model's call drops the first 4 of a video (HunyuanVideo-I2V's "
                      "33-channel release); use --first-chunk 2 or more")]
        dropped = "this model's call drops the first 4 frames of a video (HunyuanVideo-I2V's 33-channel release), so its latents"
        latents = tmp_path / "x.pt"
        torch.save({"latents": torch.zeros(1, 4, 2, 4, 6)}, latents)
        commands += [(["generate", "--image", str(image_path), "--save-latents", str(tmp_path / "g.pt")],
                      f"--save-latents: {dropped}"),
                     (["stream", "--image", str(image_path), "--save-latents", str(tmp_path / "s.pt")],
                      f"--save-latents: {dropped}"),
                     (["extend", "--video", str(out), "--latents", str(latents)], f"--latents: {dropped}")]
        with pytest.raises(vidlong.VidlongError, match=re.escape(f"latents (--latents): {dropped}")):
            pipe.extend("a red ball", latents=torch.zeros(1, 4, 2, 4, 6), chunks=1)
        (tmp_path / "prompts.txt").write_text("a red ball\n")
        commands += [(["eval", "--prompts", str(tmp_path / "prompts.txt"), "--methods", "stream"],
                      "vidlong eval makes its videos from its prompts alone, and this model's pipeline (i2v) needs more")]
    for command, message in commands:
        rest = (["--out", str(tmp_path / "eval")] if command[0] == "eval"
                else ["--prompt", "a red ball", "--out", str(tmp_path / "s.mp4")])
        assert main([*command, "--model", str(folder), *rest]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_streams_and_extends_with_its_image_in_every_window(i2v_folder, image_path, tmp_path, monkeypatch):
    """HunyuanVideo-I2V streams, both releases: a native-length first chunk is `generate`'s video (latents bit for bit:
    the image's latent as every window's first frame (``token_replace``) or in its channels with a mask (``latent_concat``,
    whose first chunk drops 4 pixel frames, as its call does), 0.1% of it in the start noise, its LLaVA reading the image
    with the prompt, as its call does); an extension's LLaVA reads its context's first frame, whose latent starts every
    window; `vidlong stream --image` (chunks of one latent frame: the ``latent_concat`` release's first chunk takes two, to
    leave a frame to show) and `vidlong extend` run."""
    import numpy as np
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import pixel_frames

    kind, folder = i2v_folder
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image_path), height=32, width=48))
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    assert torch.equal(first.latents, own.latents)
    assert first.frames.shape == own.frames.shape and np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    assert len(own.frames) == pixel_frames(NATIVE, 4) - (4 if kind == "latent_concat" else 0)

    read = []
    stream_text = type(pipe).stream_text
    monkeypatch.setattr(type(pipe), "stream_text",
                        lambda self, *args, image=None: read.append(np.asarray(image)) or stream_text(self, *args, image=image))
    items = list(pipe.extend("a red ball", video=own.frames, streaming=vidlong.Streaming(chunk=1), chunks=2, seed=1))
    assert items[0].is_input and np.array_equal(items[0].frames, own.frames) and [len(item.frames) for item in items[1:]] == [4, 4]
    context = pixel_frames(2, 4)  # chunk 1 at native 3: 1 sink and 1 window frame, the input's last 2 latent frames
    assert len(read) == 1 and np.array_equal(read[0], own.frames[len(own.frames) - context])
    monkeypatch.undo()

    if kind == "latent_concat":  # its seconds count the frames it shows: chunks of 2 start at frames 0, 1 (4 dropped), 9, 17
        stream = pipe.stream("a red ball", vidlong.Streaming(chunk=2), seconds=13 / 24, seed=1, image=Image.open(image_path),
                             height=32, width=48)
        assert stream.chunks == 3 and [stream.first_chunk_from(frame / 24) for frame in (0, 1, 2, 9, 10)] == [0, 1, 2, 2, 3]
        assert sum(len(chunk.frames) for chunk in stream) == 17
        extension = list(pipe.extend("a red ball", video=own.frames, streaming=vidlong.Streaming(chunk=1, first_chunk=1), chunks=1))
        assert len(extension[1].frames) == 4  # an extension has no first chunk to drop frames from: its first_chunk unused

    check_image_to_video_cli(folder, image_path, tmp_path, NATIVE, dropped=4 if kind == "latent_concat" else 0)


def test_skyreels_v1_image_to_video_generates_as_its_call_streams_and_extends(image_path, tmp_path):
    """SkyReels V1 (`HunyuanSkyreelsImageToVideoPipeline`: the image's latent as more input channels, drawn from the VAE
    before the noise): `generate` = diffusers' call with the same seed, bit for bit; a stream's native-length first chunk
    is that video; `vidlong generate --image --method both` at 2x, `vidlong stream --image` and `vidlong extend` run."""
    import numpy as np
    import yaml
    from diffusers import HunyuanSkyreelsImageToVideoPipeline
    from PIL import Image
    from tiny_pipeline import tiny_hunyuan_skyreels_pipeline


    folder = tmp_path / "model"
    tiny_hunyuan_skyreels_pipeline().save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-skyreels-v1", native_frames=NATIVE, fps=24, height=32,
                                                             width=48, num_inference_steps=2, guidance_scale=2.0)))
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongHunyuanSkyreelsImageToVideoPipeline" and pipe.task == "i2v"
    own = assert_image_to_video_is_the_stock_call(pipe, HunyuanSkyreelsImageToVideoPipeline, folder, image_path, 32, 48,
                                                  4 * NATIVE - 3, same="seed")
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    check_image_to_video_cli(folder, image_path, tmp_path, NATIVE)


@pytest.mark.parametrize("builder, refused", [("tiny_hunyuan_pipeline", ("generate", "stream")),
                                              ("tiny_hunyuan_i2v_pipeline", ("generate", "stream")),
                                              ("tiny_framepack_pipeline", ("generate", "stream")),
                                              ("tiny_hunyuan_skyreels_pipeline", ("stream",))])
def test_a_negative_prompt_its_video_is_made_without_is_refused_before_loading(builder, refused, image_path, tmp_path, capsys,
                                                                               monkeypatch):
    """HunyuanVideo 1.0's guidance (text and image to video) and FramePack's is embedded in their transformer and their
    call's true classifier-free guidance, the one that reads a negative prompt, is off: `--negative-prompt` is refused in
    one line before loading where their video would be made without it (their generate and streams; SkyReels V1's streams,
    whose call runs true guidance), not left unread."""
    import tiny_pipeline
    import yaml
    from family_checks import check_refused_before_loading

    from vidlong.generate import GenerateRequest
    from vidlong.validate import check_generate, limits_for_folder

    folder = tmp_path / "model"
    getattr(tiny_pipeline, builder)().save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-hunyuan", native_frames=NATIVE, fps=24, height=32,
                                                             width=48, num_inference_steps=2, guidance_scale=2.0)))
    image = [] if builder == "tiny_hunyuan_pipeline" else ["--image", str(image_path)]
    for command, more in (("generate", []), ("stream", ["--chunks", "1"])):
        args = [command, "--model", str(folder), "--prompt", "a red ball", "--negative-prompt", "blurry", *image, *more]
        if command in refused:
            line = check_refused_before_loading(args, tmp_path / f"{command}.mp4", capsys, monkeypatch)
            assert "without a negative prompt" in line and line.endswith("drop --negative-prompt"), line
        else:
            request = GenerateRequest(prompt="a red ball", negative_prompt="blurry", image=str(image_path))
            assert check_generate(request, limits_for_folder(folder, image=True)) == NATIVE
