"""EasyAnimate through its family adapter and pipelines: joint attention with the text before the video (its MMDiT
blocks' text through projections of its own, the others' through the video's), its 3D RoPE on the video tokens. Methods
off = the stock model bit for bit; each method equal to a float64 reference (q/k/v written from its math, attention from
`reference`) with the text pairs untouched; the spec from configs/models; `generate` with no method = diffusers'
`EasyAnimatePipeline` with the same seed, bit for bit; `vidlong generate` with each method writes the mp4; it streams
and extends with the re-noised context, and refuses in one line what it does not run. Its image to video
(`EasyAnimateInpaintPipeline`: the mask's channel and the masked video's latents as extra input channels) the same,
and its stream's windows carry the image."""

import json
import re

import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, easyanimate_inputs, tiny_easyanimate_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_image_stream_context, check_image_to_video_cli, check_methods_off_and_removed,
                           check_refused_before_loading, check_release_refuses, check_renoised_stream_and_extension,
                           unrun_by_a_rebuilt_rope_family)
from reference import joint_method_attention, wan_rotation

import vidlong
from vidlong.attention.adapters.easyanimate import EASYANIMATE
from vidlong.cli import main

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
TEXT = 5  # text tokens of `easyanimate_inputs`
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}

#: its text-to-video transformer and its InP (image to video) release's, which takes ``inpaint_latents``
RELEASES = pytest.mark.parametrize("inpaint", [False, True], ids=["t2v", "i2v"])


@RELEASES
def test_methods_off_and_removed_are_stock_bit_for_bit(inpaint):
    """vidlong's processor goes on both joint self-attentions (an MMDiT block's and a shared-projection block's) and
    comes off."""
    check_methods_off_and_removed(lambda: tiny_easyanimate_transformer(inpaint=inpaint),
                                  lambda model: model(**easyanimate_inputs(4 * NATIVE, inpaint=inpaint))[0],
                                  EASYANIMATE.self_attentions, "EasyAnimateAttnProcessor2_0", 2, NATIVE)


class ReferenceAttention:
    """The methods' float64 math on an EasyAnimate joint attention: q/k/v from its projections (an MMDiT block's text
    through its own, else through the video's), per-head layer norms, its RoPE on the video tokens (each channel pair
    turned by its angle), the text first; the video out through ``to_out``, the text through ``to_add_out`` where the
    block has it."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        video, text = hidden_states, encoder_hidden_states
        mmdit = attn.add_q_proj is not None
        text_projections = (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj) if mmdit else (attn.to_q, attn.to_k, attn.to_v)
        text_norms = (attn.norm_added_q, attn.norm_added_k) if mmdit else (attn.norm_q, attn.norm_k)
        cos, sin = (table[None, :, None] for table in image_rotary_emb)
        text_q, text_k, text_v = (heads(proj(text)) for proj in text_projections)
        q = torch.cat([text_norms[0](text_q), wan_rotation(attn.norm_q(heads(attn.to_q(video))), cos, sin)], dim=1)
        k = torch.cat([text_norms[1](text_k), wan_rotation(attn.norm_k(heads(attn.to_k(video))), cos, sin)], dim=1)
        v = torch.cat([text_v, heads(attn.to_v(video))], dim=1)
        out = joint_method_attention(self.method, q, k, v, TEXT, self.frames, GRID, NATIVE).flatten(2, 3)
        text_out, video_out = out[:, :TEXT], attn.to_out[1](attn.to_out[0](out[:, TEXT:]))
        return video_out, attn.to_add_out(text_out) if attn.to_add_out is not None else text_out


@RELEASES
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, inpaint):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch."""
    check_float64_reference(lambda: tiny_easyanimate_transformer(inpaint=inpaint),
                            lambda model, frames, dtype: model(**easyanimate_inputs(frames, dtype=dtype, inpaint=inpaint))[0],
                            EASYANIMATE.self_attentions, ReferenceAttention, method, NATIVE)


def test_native_length_size_and_vae_ratio_come_from_configs(folder):
    """13 latent frames at 8 fps, 512x512, 50 steps at 5 from configs/models; the MagVIT VAE: 4 pixel frames per latent
    frame (49 frames), 8x in space, read from a folder's config (which writes neither ratio)."""
    from vidlong.models import family_of, folder_geometry, model_facts, spec_for_facts

    model = tiny_easyanimate_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 13
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("easyanimate", 8, 512, 512, 50, 5.0)
    geometry = folder_geometry(folder)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 49


def saved_folder(path, image_to_video: bool = False):
    """A tiny EasyAnimate pipeline (`tiny_easyanimate_pipeline`) saved in `path` with a vidlong.yaml: native 3 latent
    frames, 32x48 at 8 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_easyanimate_pipeline

    tiny_easyanimate_pipeline(image_to_video).save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-easyanimate", native_frames=NATIVE, height=32, width=48,
                                                           fps=8, num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The text-to-video folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("easyanimate"))


@pytest.fixture(scope="module")
def i2v_folder(tmp_path_factory):
    """The image-to-video folder (`saved_folder`: `EasyAnimateInpaintPipeline`, its transformer taking the mask and
    masked video channels)."""
    return saved_folder(tmp_path_factory.mktemp("easyanimate-i2v"), image_to_video=True)


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class with the folder's geometry; `generate` at 2x with no method returns the
    frames diffusers' own `EasyAnimatePipeline` makes from the same folder, seed and settings (guidance 2 with the empty
    negative prompt, which its guided call needs)."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongEasyAnimatePipeline" and pipe.facts()["family"] == "easyanimate"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 4
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    check_generate_is_the_stock_call(folder, result, "EasyAnimatePipeline", NATIVE, temporal=4, negative_prompt="",
                                     guidance_scale=2.0, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 8 fps, 48x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=8)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame
    bring 4 pixel frames each and depend on the re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=8)


@torch.no_grad()
def test_stream_chunks_decode_as_the_whole_video_decodes():
    """Chunks of 2, 3 and 1 latent frames through its stream decoder (the MagVIT VAE's causal features kept between
    chunks) are its call's whole-video decode to float32 rounding, though the VAE encodes and decodes other videos
    between two of them; the VAE is left with no features of the stream's."""
    from tiny_pipeline import tiny_easyanimate_pipeline

    pipe = vidlong.from_pipe(tiny_easyanimate_pipeline())
    vae, gen = pipe.vae, torch.Generator().manual_seed(4)
    latents = torch.randn(1, IN_CHANNELS, 6, 4, 6, generator=gen)
    whole = vae.decode(1 / vae.config.scaling_factor * latents, return_dict=False)[0].clamp(-1, 1)
    decoder = pipe.stream_decoder()
    first = decoder.decode(latents[:, :, :2])
    vae.encode(torch.rand(1, 3, 5, 32, 48, generator=gen))  # the pipeline's own work between two chunks
    vae.decode(torch.randn(1, IN_CHANNELS, 2, 4, 6, generator=gen))
    chunks = [first, decoder.decode(latents[:, :, 2:5]), decoder.decode(latents[:, :, 5:])]
    chunked = torch.cat(chunks, dim=2)
    assert [chunk.shape[2] for chunk in chunks] == [5, 12, 4] and chunked.shape == whole.shape == (1, 3, 21, 32, 48)
    assert (chunked - whole).abs().max() < 1e-6
    assert all(getattr(module, "prev_features", None) is None for module in vae.modules())


def test_image_to_video_generates_as_its_call_streams_and_extends(i2v_folder, image_path, tmp_path):
    """`EasyAnimateInpaintPipeline` as image to video: its spec from configs/models; `generate` with the image and no
    method = diffusers' call with the same seed and the ``video`` and ``mask_video`` its docstring's example makes from
    the image, bit for bit; a window's condition is the mask's channel (scaled, on the first latent frame alone) and the
    masked video's latents, a window of one latent frame too; a stream's native-length first chunk is that video; later
    chunks depend on the re-noised context, which starts at the image's frame; `vidlong generate --image --method both`
    at 2x, `vidlong stream --image` and `vidlong extend` run."""
    from diffusers import EasyAnimateInpaintPipeline
    from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import get_image_to_video_latent
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import spec_for_facts

    pipe = vidlong.load_pipeline(i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongEasyAnimateInpaintPipeline" and pipe.task == "i2v"
    assert spec_for_facts(pipe.facts()).name == "easyanimate"
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image_path), height=32, width=48))
    stock = EasyAnimateInpaintPipeline.from_pretrained(i2v_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    frames = 4 * NATIVE - 3
    video, mask = get_image_to_video_latent([Image.open(image_path).convert("RGB")], None, frames, (32, 48))
    made = stock("a red ball", num_frames=frames, video=video, mask_video=mask, height=32, width=48, num_inference_steps=2,
                 guidance_scale=2.0, negative_prompt="", generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(made, 0, 1) * 255).round().astype(np.uint8))

    condition = pipe.image_condition(str(image_path), 32, 48, NATIVE, torch.Generator().manual_seed(0))
    one_frame = condition.hidden_states(torch.zeros(2, IN_CHANNELS, 1, 4, 6))
    assert one_frame.shape == (2, 2 * IN_CHANNELS + 1, 1, 4, 6)
    assert torch.allclose(one_frame[:, IN_CHANNELS], torch.tensor(pipe.vae.config.scaling_factor))
    assert condition.condition[:, 0, 1:].eq(0).all() and one_frame[:, IN_CHANNELS + 1:].abs().sum() > 0
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    assert (first.latents - own.latents).abs().max() < 1e-5
    check_image_stream_context(pipe, image_path)
    check_image_to_video_cli(i2v_folder, image_path, tmp_path, NATIVE)


def copied_folder(source, path, pipeline: str, **vae):
    """A copy of the folder `source` in `path` whose model_index.json names `pipeline` and whose vae/config.json takes
    `vae` (a None value drops that key); its weights as they are."""
    import shutil

    copy = shutil.copytree(source, path)
    for file, change in ((copy / "model_index.json", dict(_class_name=pipeline)), (copy / "vae" / "config.json", vae)):
        config = {**json.loads(file.read_text()), **change}
        file.write_text(json.dumps({key: value for key, value in config.items() if value is not None}))
    return copy


@pytest.mark.parametrize("source, pipeline, vae, says", [
    ("folder", "EasyAnimateInpaintPipeline", dict(cache_mag_vae=True), "the latents alone: it is a text-to-video transformer"),
    ("i2v_folder", "EasyAnimateInpaintPipeline", dict(cache_mag_vae=None), "vae/config.json has no cache_mag_vae"),
    ("i2v_folder", "EasyAnimatePipeline", {}, "it is an InP (image-to-video) transformer")],
    ids=["t2v-transformer-as-inpaint", "no-cache_mag_vae", "inpaint-transformer-as-t2v"])
def test_a_folder_whose_parts_cannot_run_together_is_refused_before_loading(source, pipeline, vae, says, image_path, tmp_path,
                                                                            capsys, monkeypatch, request):
    """Folders diffusers' call fails on, from their configs alone: an `EasyAnimateInpaintPipeline` whose transformer takes
    the latents alone (a text-to-video transformer: its call's other path fails), or whose VAE config lacks
    ``cache_mag_vae`` (its call reads it to resize the mask; `AutoencoderKLMagvit` registers none); an `EasyAnimatePipeline`
    holding an InP transformer (its call gives the transformer latents of its input channels, whose prediction the
    transformer's unpatchify cannot shape). `vidlong generate`, `stream`, `extend`, `eval` and `info` refuse each in one line
    (exit 2) before loading, `load_pipeline` (the app's) too; a pipeline built from the same parts in Python is refused
    at its call and its stream."""
    import diffusers

    broken = copied_folder(request.getfixturevalue(source), tmp_path / "broken", pipeline, **vae)
    inpaint = pipeline == "EasyAnimateInpaintPipeline"
    image = ["--image", str(image_path)] if inpaint else []
    for command in (["generate", *image], ["stream", "--chunks", "1", *image], ["extend", "--video", str(tmp_path / "in.mp4")]):
        args = [command[0], "--model", str(broken), "--prompt", "a red ball", *command[1:]]
        assert says in check_refused_before_loading(args, tmp_path / "out.mp4", capsys, monkeypatch)
    assert says in check_refused_before_loading(["eval", "--model", str(broken)], tmp_path / "eval", capsys, monkeypatch)
    assert main(["info", "--model", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0], err
    monkeypatch.undo()  # `load_pipeline` itself
    with pytest.raises(vidlong.VidlongError, match=re.escape(says)):
        vidlong.load_pipeline(broken, device="cpu")
    held = vidlong.from_pipe(getattr(diffusers, pipeline).from_pretrained(broken, local_files_only=True))
    given = dict(image=str(image_path)) if inpaint else {}
    for call in (lambda: held("a red ball", num_inference_steps=1, **given), lambda: held.stream("a red ball", chunks=1, **given)):
        with pytest.raises(vidlong.VidlongError, match=re.escape(says)) as err:
            call()
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("command, says", unrun_by_a_rebuilt_rope_family("EasyAnimateTransformer3DModel"))
@pytest.mark.parametrize("release", ["folder", "i2v_folder"], ids=["t2v", "i2v"])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(release, image_path, tmp_path, capsys, monkeypatch, request,
                                                                     command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not (its RoPE is made at every forward); fifo
    needs a timestep per token; its streams re-noise their context (its text joins every self-attention: no KV cache); the
    image-to-video release as the text-to-video one, given its image."""
    image = image_path if release == "i2v_folder" else None
    check_release_refuses(request.getfixturevalue(release), image, command, says, tmp_path, capsys, monkeypatch)
