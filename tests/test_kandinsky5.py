"""Kandinsky 5.0 Video through its family adapter and pipeline: self-attention over the video tokens alone (text by
cross-attention), channels-last latents, its RoPE as 2x2 rotations whose result its processor rounds to bfloat16. Methods
off = the stock model bit for bit; each method equal to a float64 reference (q/k/v written from its math, attention from
`reference`); the spec from configs/models; NABLA's sparse attention refuses the methods in one line; `generate` with no
method = diffusers' `Kandinsky5T2VPipeline` bit for bit; `vidlong generate` with each method writes the mp4; it streams and
extends with the re-noised context."""
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
import yaml
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_image_stream_context, check_image_to_video_cli, check_methods_off_and_removed,
                           check_refused_before_loading, check_release_refuses, check_renoised_stream_and_extension,
                           unrun_by_a_rebuilt_rope_family)
from conftest import assert_image_to_video_is_the_stock_call, kandinsky5_inputs, tiny_kandinsky5_transformer
from reference import matrix_rotated, method_attention, rms_norm

import vidlong
from vidlong.attention.adapters.kandinsky5 import KANDINSKY_5

NATIVE = 3  # latent frames
#: the image-to-video folder's native latent frames: its call renormalises the first 4 to the next ones (diffusers' call
#: makes NaNs of a video of up to 4)
NATIVE_I2V = 5
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


#: the transformers of its text-to-video and image-to-video releases (``visual_cond``: the image's frame and a mask as
#: channels, `kandinsky5_inputs`)
RELEASES = pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])


def cross_attention_stock(model):
    """Its visual blocks' cross-attention keeps its own processor."""
    assert type(model.visual_transformer_blocks[0].cross_attention.processor).__name__ == "Kandinsky5AttnProcessor"


@RELEASES
def test_methods_off_and_removed_are_stock_bit_for_bit(image):
    """vidlong's processor goes on its visual blocks' self-attentions (not the text blocks' nor the cross-attentions) and
    comes off; a neutral plan is its own processor's output bit for bit."""
    check_methods_off_and_removed(lambda: tiny_kandinsky5_transformer(visual_cond=image),
                                  lambda model: model(**kandinsky5_inputs(4 * NATIVE, image=image)), KANDINSKY_5.self_attentions,
                                  "Kandinsky5AttnProcessor", 2, NATIVE, applied=cross_attention_stock)


def rotated(x, rope):
    """Its RoPE in float64 (`matrix_rotated`), rounded to bfloat16 as its processor rounds it."""
    return matrix_rotated(x, rope).to(torch.bfloat16).double()


class ReferenceAttention:
    """The methods' float64 math on a Kandinsky 5 video self-attention: q/k/v from its projections, per-head RMS norms and
    RoPE on q and k, the output through ``out_layer``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, rotary_emb=None, sparse_params=None):
        def heads(x):
            return x.unflatten(2, (attn.num_heads, -1))

        q = rotated(rms_norm(heads(attn.to_query(hidden_states)), attn.query_norm), rotary_emb)
        k = rotated(rms_norm(heads(attn.to_key(hidden_states)), attn.key_norm), rotary_emb)
        out = method_attention(self.method, q, k, heads(attn.to_value(hidden_states)), self.frames, GRID, NATIVE)
        return attn.out_layer(out.flatten(2, 3))


@RELEASES
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, image):
    """At 4x the native window, in float32 on the CPU's dense kernel."""
    check_float64_reference(lambda: tiny_kandinsky5_transformer(visual_cond=image),
                            lambda model, frames, dtype: model(**kandinsky5_inputs(frames, dtype=dtype, image=image)),
                            KANDINSKY_5.self_attentions, ReferenceAttention, method, NATIVE,
                            prepare=lambda model: model.time_embeddings.float())  # it embeds the timestep in float32


def test_nabla_sparse_attention_refuses_the_methods_in_one_line(monkeypatch):
    """A 10-second release (``attention_type: nabla``) takes no method (its spec: 61 latent frames); applied with none, its
    processors are vidlong's, which hand NABLA's sparse parameters (its call's, for 3 frames of 8x8 tokens) to its own: a
    block mask built in each visual block, the stock model's output bit for bit (eager FlexAttention on the CPU, where
    a block mask only skips work, so its builds are counted)."""
    from types import SimpleNamespace

    import diffusers.models.transformers.transformer_kandinsky as kandinsky
    from diffusers import Kandinsky5T2VPipeline

    from diffusers.models.attention_dispatch import _AttentionBackendRegistry

    # set_attention_backend also makes its backend diffusers' active one for every model: put back after the test
    monkeypatch.setattr(_AttentionBackendRegistry, "_active_backend", _AttentionBackendRegistry._active_backend)

    def nabla_model():
        model = tiny_kandinsky5_transformer(attention_type="nabla", attention_P=0.3, attention_wT=1, attention_wH=1,
                                            attention_wW=1, attention_add_sta=True)
        model.set_attention_backend("flex")  # its block mask runs on FlexAttention alone
        return model

    model, inputs = nabla_model(), kandinsky5_inputs(3, height=16, width=16)
    holder = SimpleNamespace(transformer=model, fast_sta_nabla=Kandinsky5T2VPipeline.fast_sta_nabla)
    sparse = Kandinsky5T2VPipeline.get_sparse_params(holder, inputs["hidden_states"], "cpu")
    with pytest.raises(vidlong.VidlongError, match=r"^vidlong's methods do not run on this Kandinsky5Transformer3DModel: its "
                                                   r"sparse NABLA attention [^\n]*$"):
        vidlong.apply(model, vidlong.UltraViCo())
    assert vidlong.apply(model).native_frames == 61
    assert type(model.visual_transformer_blocks[0].self_attention.processor).__name__ == "VidlongAttnProcessor"
    build, masks = kandinsky.nablaT_v2, []

    def counted(*args, **kwargs):
        masks.append(args[0].shape)
        return build(*args, **kwargs)

    monkeypatch.setattr(kandinsky, "nablaT_v2", counted)
    with torch.no_grad():
        out = model(**inputs, sparse_params=sparse)
        assert len(masks) == 2 and torch.equal(out, nabla_model()(**inputs, sparse_params=sparse))


def test_native_length_size_and_vae_ratio_come_from_configs():
    """31 latent frames at 24 fps, 512x768, 50 steps at 5, from configs/models; 4 pixel frames per latent frame (121), 8x
    space, from its HunyuanVideo VAE; its 128-row RoPE tables bound a forward's token frames."""
    from tiny_pipeline import tiny_kandinsky5_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, pixel_frames, spec_for_facts
    from vidlong.validate import limits_for_pipeline

    model = tiny_kandinsky5_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 31
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("kandinsky5", 24, 512, 768, 50, 5.0)
    pipe = tiny_kandinsky5_pipeline()
    geometry = geometry_from_configs(pipe.vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (4, 8, 4, (1, 2, 2))
    assert pixel_frames(spec.native_frames, geometry.temporal) == 121
    vidlong_pipe = vidlong.from_pipe(pipe)
    assert type(vidlong_pipe).__name__ == "VidLongKandinsky5T2VPipeline" and limits_for_pipeline(vidlong_pipe).rope_positions == 128


def saved_folder(path, native: int, image_to_video: bool = False, visual_cond: Optional[bool] = None) -> Path:
    """A tiny Kandinsky 5 pipeline (`tiny_kandinsky5_pipeline`) saved in `path` with a vidlong.yaml: native `native`
    latent frames, 32x48 at 24 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_kandinsky5_pipeline

    tiny_kandinsky5_pipeline(image_to_video, visual_cond).save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-kandinsky5", native_frames=native, height=32, width=48,
                                                           fps=24, num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The text-to-video folder (`saved_folder`), native 3 latent frames."""
    return saved_folder(tmp_path_factory.mktemp("kandinsky5"), NATIVE)


@pytest.fixture(scope="module")
def i2v_folder(tmp_path_factory):
    """The image-to-video folder (`saved_folder`: `Kandinsky5I2VPipeline`, a ``visual_cond`` transformer), native 5."""
    return saved_folder(tmp_path_factory.mktemp("kandinsky5-i2v"), NATIVE_I2V, image_to_video=True)


@pytest.mark.parametrize("visual_cond", [False, True])
def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder, tmp_path, visual_cond):
    """`load_pipeline` gives vidlong's class with the folder's geometry; `generate` at 2x with no method returns the
    frames diffusers' own `Kandinsky5T2VPipeline` makes from the same folder, seed and settings: also where the transformer
    takes an image's condition channels (``visual_cond``, as the original releases' configs set it), which its call fills
    with zeros after its own noise draw and which vidlong's noise must get too."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    folder = saved_folder(tmp_path, NATIVE, visual_cond=True) if visual_cond else folder
    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongKandinsky5T2VPipeline" and pipe.facts()["family"] == "kandinsky5"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 4
    assert pipe.transformer.visual_cond == visual_cond
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))

    check_generate_is_the_stock_call(folder, result, "Kandinsky5T2VPipeline", NATIVE, temporal=4, guidance_scale=2.0,
                                     generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 24 fps, 48x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=24)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside; its guided prompts each through
    their own forward, its call's default negative prompt); later chunks of 1 latent frame bring 4 pixel frames each and
    depend on the re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=24)


def test_image_to_video_generates_as_its_call_streams_and_extends(i2v_folder, image_path, tmp_path):
    """`Kandinsky5I2VPipeline` (the image's latent as the first latent frame, which its loop never steps, and marked by
    its transformer's mask channel): its spec from configs/models is the 5-second releases' (its call's defaults are the
    text-to-video call's); `generate` with the image and no method = diffusers' call with the same seed, bit for bit (the
    image's latent drawn after the noise); a stream's native-length first chunk is that video (its first 4 latent frames
    renormalised as its call does; a window of up to 4 is left as it is, where diffusers' makes NaNs); later chunks depend
    on the re-noised context, which starts at the image's frame; `vidlong generate --image --method both` at 2x, `vidlong
    stream --image` and `vidlong extend` run."""
    from diffusers import Kandinsky5I2VPipeline
    from PIL import Image

    from vidlong.models import spec_for_facts

    pipe = vidlong.load_pipeline(i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongKandinsky5I2VPipeline" and pipe.task == "i2v"
    assert spec_for_facts(pipe.facts()).name == "kandinsky5"
    short = torch.randn(1, 4, 2, 2, 4)
    assert pipe.normalize_first_frame(short) is short
    own = assert_image_to_video_is_the_stock_call(pipe, Kandinsky5I2VPipeline, i2v_folder, image_path, 32, 48,
                                                  4 * NATIVE_I2V - 3, same="seed")
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE_I2V), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    check_image_stream_context(pipe, image_path)
    check_image_to_video_cli(i2v_folder, image_path, tmp_path, NATIVE_I2V)


def test_a_nabla_release_refuses_the_methods_before_loading(folder, tmp_path, capsys, monkeypatch):
    """A folder whose transformer config names NABLA (a 10-second release) is refused a method from its configs alone, with
    the line `vidlong.apply` gives (its 10-second spec matched); without a method it is not refused there."""
    import shutil

    import vidlong.pipeline
    from vidlong.cli import main
    from vidlong.validate import limits_for_folder

    nabla = Path(shutil.copytree(folder, tmp_path / "nabla"))
    config = json.loads((nabla / "transformer" / "config.json").read_text())
    (nabla / "transformer" / "config.json").write_text(json.dumps(dict(config, attention_type="nabla")))
    (nabla / "vidlong.yaml").unlink()  # its spec from configs/models: the 10-second releases'
    assert limits_for_folder(nabla).spec.name == "kandinsky5-10s"
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main(["generate", "--model", str(nabla), "--prompt", "a red ball", "--method", "both", "--out",
                 str(tmp_path / "g.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vidlong's methods do not run on this model: its sparse NABLA attention" in err[0], err
    assert limits_for_folder(folder).no_methods_reason is None


@pytest.mark.parametrize("command, says", unrun_by_a_rebuilt_rope_family("Kandinsky5Transformer3DModel") + [
    (["stream", "--chunks", "2", "--preset", "longlive"], "(its default) (--context: --preset longlive's; override them with")])
@pytest.mark.parametrize("release", ["folder", "i2v_folder"], ids=["t2v", "i2v"])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(release, image_path, tmp_path, capsys, monkeypatch, request,
                                                                     command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not; fifo needs a timestep per token; its streams
    re-noise their context (no KV cache), and a refusal of the cache that --preset longlive asked for says so (it named a
    --context cache the command line did not give); the image-to-video release as the text-to-video one, given its image."""
    image = image_path if release == "i2v_folder" else None
    check_release_refuses(request.getfixturevalue(release), image, command, says, tmp_path, capsys, monkeypatch)


def test_an_image_given_to_the_text_to_video_release_names_image_to_video_ones_kandinsky_5_too(folder, image_path, tmp_path,
                                                                                                  capsys, monkeypatch):
    """`vidlong generate --image` on the text-to-video release is refused in one line before loading, naming the families
    whose image-to-video folders take one: Kandinsky 5's among them (`Kandinsky5I2VPipeline`)."""
    says = check_refused_before_loading(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path)],
                                        tmp_path / "g.mp4", capsys, monkeypatch)
    assert "takes no --image; use an image-to-video model folder" in says and "Kandinsky 5" in says
