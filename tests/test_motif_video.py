"""Motif-Video through its family adapter and pipeline: HunyuanVideo's joint attention (text after the video, padded text
keys masked) in dual- and single-stream blocks, and in its decoder blocks the encoder's video output in the text's
place. Methods off = the stock model bit for bit; each method equal to a float64 reference (q/k/v written from its math,
attention from `reference`) with the text pairs untouched; the spec from configs/models; `generate` with no method =
diffusers' `MotifVideoPipeline` bit for bit; `vidlong generate` with each method writes the mp4; it streams and extends
with the re-noised context, and refuses in one line what it does not run. Its image to video
(`MotifVideoImage2VideoPipeline`: the image's latent and a mask as channels, its SigLIP states as tokens before the
text) the same, and its stream's windows carry the image."""

import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, MOTIF_IMAGE_DIM, assert_image_to_video_is_the_stock_call, motif_inputs, tiny_motif_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_image_stream_context, check_image_to_video_cli, check_methods_off_and_removed,
                           check_release_refuses, check_renoised_stream_and_extension, unrun_by_a_rebuilt_rope_family)
from reference import text_last_method_attention

import vidlong
from vidlong.attention.adapters.motif import MOTIF_VIDEO

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


#: the transformers of its text-to-video and image-to-video releases (``image_embed_dim``: the image's SigLIP states as
#: tokens before the text's, `motif_inputs`)
RELEASES = pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])



@RELEASES
def test_methods_off_and_removed_are_stock_bit_for_bit(image):
    """vidlong's processor goes on every joint self-attention (dual-stream, single-stream, decoder) and comes off; a
    neutral plan runs its own masked attention (two prompts padded differently; an image's tokens before them)."""
    check_methods_off_and_removed(lambda: tiny_motif_transformer(image=image),
                                  lambda model: model(**motif_inputs(4 * NATIVE, image=image))[0], MOTIF_VIDEO.self_attentions,
                                  "MotifVideoAttnProcessor2_0", 3, NATIVE)


def rotated(x, cos, sin):
    """Its RoPE in float64 as complex numbers: channel pair ``(x[2i], x[2i + 1])`` of ``[B, N, H, D]`` times
    ``cos θ + i·sin θ`` (its tables ``[N, D]`` hold each pair's angle twice)."""
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())
    turn = torch.complex(cos[:, None, 0::2].double(), sin[:, None, 0::2].double())
    return torch.view_as_real(pairs * turn).flatten(-2)


class ReferenceAttention:
    """The methods' float64 math on a Motif-Video joint attention: q/k/v from its projections (the text's own where the
    block has them, else the video's), per-head RMS norms, RoPE on the video tokens, the text after the video, its padded
    text keys seen by no query (no mask: every key); the output through ``to_out`` / ``to_add_out`` where it has them."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        video, text = hidden_states, encoder_hidden_states
        dual = attn.add_q_proj is not None  # a dual-stream block: the text through projections and norms of its own
        text_q, text_k, text_v = (heads(proj(text)) for proj in ((attn.add_q_proj, attn.add_k_proj, attn.add_v_proj) if dual
                                                                 else (attn.to_q, attn.to_k, attn.to_v)))
        text_norm_q, text_norm_k = (attn.norm_added_q, attn.norm_added_k) if dual else (attn.norm_q, attn.norm_k)
        q = torch.cat([rotated(attn.norm_q(heads(attn.to_q(video))), *image_rotary_emb), text_norm_q(text_q)], dim=1)
        k = torch.cat([rotated(attn.norm_k(heads(attn.to_k(video))), *image_rotary_emb), text_norm_k(text_k)], dim=1)
        v = torch.cat([heads(attn.to_v(video)), text_v], dim=1)
        tokens, words = video.shape[1], text.shape[1]
        visible = (torch.ones(q.shape[0], tokens + words, dtype=torch.bool) if attention_mask is None
                   else attention_mask.reshape(q.shape[0], -1))
        out = text_last_method_attention(self.method, q, k, v, words, self.frames, GRID, NATIVE, visible).flatten(2, 3)
        video_out, text_out = out[:, :tokens], out[:, tokens:]
        if attn.to_out is not None:
            video_out = attn.to_out[0](video_out)
        return video_out, attn.to_add_out(text_out) if attn.to_add_out is not None else text_out


@RELEASES
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, image):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch, its text
    cross-attentions stock; an image's SigLIP tokens go with the text's, their pairs stock too."""
    # its time embedding hands its float32 sinusoids on as they are (a cast to the weights' dtype for 16-bit ones alone)
    sinusoids_in_float64 = lambda model: model.time_text_embed.timestep_embedder.register_forward_pre_hook(  # noqa: E731
        lambda module, args: (args[0].double(),))
    check_float64_reference(lambda: tiny_motif_transformer(image=image),
                            lambda model, frames, dtype: model(**motif_inputs(frames, dtype=dtype, image=image))[0],
                            MOTIF_VIDEO.self_attentions, ReferenceAttention, method, NATIVE, prepare=sinusoids_in_float64)


def test_native_length_size_and_vae_ratio_come_from_configs():
    """31 latent frames at 24 fps, 736x1280, 50 steps from configs/models; Wan's VAE: 4 pixel frames per latent frame
    (121 frames), 8x in space."""
    from tiny_pipeline import tiny_motif_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_motif_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 31
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps) == ("motif-video", 24, 736, 1280, 50)
    geometry = geometry_from_configs(tiny_motif_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 121


def saved_folder(path, image_to_video: bool = False):
    """A tiny Motif-Video pipeline (`tiny_motif_pipeline`) saved in `path` with a vidlong.yaml: native 3 latent frames,
    32x48 at 24 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_motif_pipeline

    tiny_motif_pipeline(image_to_video).save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-motif", native_frames=NATIVE, height=32, width=48, fps=24,
                                                           num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The text-to-video folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("motif"))


@pytest.fixture(scope="module")
def i2v_folder(tmp_path_factory):
    """The image-to-video folder (`saved_folder`: `MotifVideoImage2VideoPipeline`, its transformer projecting SigLIP
    states)."""
    return saved_folder(tmp_path_factory.mktemp("motif-i2v"), image_to_video=True)


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class with the folder's geometry; `generate` at 2x with no method returns the
    frames diffusers' own `MotifVideoPipeline` makes from the same folder, noise and settings (its guider at 2, as
    saved), and leaves the pipeline's guider as it was."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongMotifVideoPipeline" and pipe.facts()["family"] == "motif-video"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 4
    pipe.set_progress_bar_config(disable=True)
    guider = pipe.guider
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    assert pipe.guider is guider

    noise = torch.randn(1, IN_CHANNELS, 2 * NATIVE, 32 // 8, 48 // 8, generator=torch.Generator().manual_seed(3))
    check_generate_is_the_stock_call(folder, result, "MotifVideoPipeline", NATIVE, temporal=4, latents=noise)


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 24 fps, 48x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=24)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside: the call runs its prompts one
    forward each, a stream in one batch); later chunks of 1 latent frame bring 4 pixel frames each and depend on the
    re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=24)


def test_image_to_video_generates_as_its_call_streams_and_extends(i2v_folder, image_path, tmp_path):
    """`MotifVideoImage2VideoPipeline` (the image's latent and a mask as channels of the first latent frame, its SigLIP states
    as tokens before the text; the first frame denoised with the rest): its spec from configs/models (its call's
    defaults are the text-to-video call's); `generate` with the image and no method = diffusers' call with the same
    seed, bit for bit (the image's latent drawn after the noise); a window's condition holds the image on its first
    frame, one of a single latent frame too (which diffusers' call leaves unconditioned); a stream's native-length first
    chunk is that video (its latents to 1e-5: the call runs its prompts one forward each, a stream in one batch); later
    chunks depend on the re-noised context, which starts at the image's frame; `vidlong generate --image --method both`
    at 2x, `vidlong stream --image` and `vidlong extend` run."""
    from diffusers import MotifVideoImage2VideoPipeline
    from PIL import Image

    from vidlong.models import spec_for_facts

    pipe = vidlong.load_pipeline(i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongMotifVideoImage2VideoPipeline" and pipe.task == "i2v"
    assert spec_for_facts(pipe.facts()).name == "motif-video"
    own = assert_image_to_video_is_the_stock_call(pipe, MotifVideoImage2VideoPipeline, i2v_folder, image_path, 32, 48,
                                                  4 * NATIVE - 3, same="seed")
    condition = pipe.image_condition(str(image_path), 32, 48, 1, torch.Generator().manual_seed(0))
    one_frame = condition.hidden_states(torch.zeros(2, IN_CHANNELS, 1, 4, 6))
    assert one_frame.shape == (2, 2 * IN_CHANNELS + 1, 1, 4, 6) and one_frame[:, -1].eq(1).all()
    assert one_frame[:, IN_CHANNELS:-1].abs().sum() > 0 and condition.extra(2)["image_embeds"].shape == (2, 4, MOTIF_IMAGE_DIM)
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    assert (first.latents - own.latents).abs().max() < 1e-5  # its SigLIP states in every forward (without: 3e-3 apart)
    check_image_stream_context(pipe, image_path)
    check_image_to_video_cli(i2v_folder, image_path, tmp_path, NATIVE)


def test_a_stream_refuses_a_guider_it_does_not_follow(folder):
    """A stream combines its predictions as plain classifier-free guidance; another guider (diffusers' tests give Motif
    adaptive projected guidance) is refused in one line; `generate` runs it as its call does."""
    from diffusers.guiders import AdaptiveProjectedGuidance

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    guider = pipe.guider = AdaptiveProjectedGuidance()
    with pytest.raises(vidlong.VidlongError, match="not plain classifier-free guidance") as err:
        next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1)))
    assert "\n" not in str(err.value)
    seen = []   # the guider each call uses: a copy of its own at the request's scale
    pipe.transformer.register_forward_pre_hook(lambda *_: seen.append(pipe.guider))
    made = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, guidance=3.0))
    assert made.frames.shape[0] == 4 * NATIVE - 3 and pipe.guider is guider
    assert seen and all(type(g) is AdaptiveProjectedGuidance and g.guidance_scale == 3.0 for g in seen)


@pytest.mark.parametrize("command", ["stream", "extend"])
def test_a_saved_guider_streams_do_not_follow_is_refused_before_loading(folder, tmp_path, capsys, monkeypatch, command):
    """A folder whose guider is saved as another than plain classifier-free guidance (``guider/guider_config.json``:
    adaptive projected guidance) is refused by `vidlong stream` and `vidlong extend` in one line from its config, before
    the model loads; `vidlong info` says it does not stream; the folder saved with plain guidance at 2 is not refused."""
    import shutil

    from diffusers.guiders import AdaptiveProjectedGuidance

    import vidlong.pipeline
    from vidlong.cli import main
    from vidlong.info import model_info
    from vidlong.validate import check_folder_guider
    from vidlong.video_io import write_video

    check_folder_guider(folder)
    other = shutil.copytree(folder, tmp_path / "apg")
    AdaptiveProjectedGuidance(guidance_scale=2.0).save_config(other / "guider")
    write_video(tmp_path / "in.mp4", np.zeros((5, 32, 48, 3), np.uint8), fps=24)
    given = ["--chunks", "1"] + (["--video", str(tmp_path / "in.mp4")] if command == "extend" else [])
    capsys.readouterr()
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main([command, "--model", str(other), "--prompt", "a red ball", *given, "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "guider (AdaptiveProjectedGuidance" in err[0] and "not plain classifier-free" in err[0], err
    assert "guider_config.json" in err[0] and not (tmp_path / "o.mp4").exists()
    assert model_info(other)["can"]["stream"]["yes"] is False


@pytest.mark.parametrize("command, says", unrun_by_a_rebuilt_rope_family("MotifVideoTransformer3DModel"))
@pytest.mark.parametrize("release", ["folder", "i2v_folder"], ids=["t2v", "i2v"])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(release, image_path, tmp_path, capsys, monkeypatch, request,
                                                                     command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not (its RoPE is made at every forward); fifo
    needs a timestep per token; its streams re-noise their context (its text joins every self-attention: no KV cache); the
    image-to-video release as the text-to-video one, given its image."""
    image = image_path if release == "i2v_folder" else None
    check_release_refuses(request.getfixturevalue(release), image, command, says, tmp_path, capsys, monkeypatch)
