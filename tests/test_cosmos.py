"""NVIDIA Cosmos-Predict2.5 and Predict2 through their family adapter, Predict2.5's pipeline from text and Predict2's
Video2World from an image: self-attention
over the video tokens alone (text by cross-attention), its processor's RoPE (halves rotated) and per-head RMS norms. Methods
off = the stock model bit for bit; each method equal to a float64 reference (q/k/v written from its math, attention from
`reference`); the spec from configs/models and the RoPE table's bound from the transformer's config; `generate` with no
method = diffusers' `Cosmos2_5_PredictBasePipeline` bit for bit, from text, from an image (Image2World, without
torchvision) and continuing a video (Video2World); `vidlong generate` with each method writes the mp4; it streams and
extends with the clean context (its Video2World call's conditioning: an extension's first chunk is that call's, bit for
bit; from an image too, the image's latent the context's first frame) or the re-noised one (its call's guidance and noise
levels; from an image, the image clean on each window's first frame), and refuses in one line what it does not run.
Predict2 Video2World the same from an image: `generate` = diffusers'
`Cosmos2VideoToWorldPipeline` with the same seed bit for bit at any length; its streams' windows carry the image clean on
their first frame."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import cosmos_inputs, tiny_cosmos_transformer
from family_checks import (check_cli_extension, check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_image_stream_context, check_image_to_video_cli, check_methods_off_and_removed,
                           check_refused_before_loading, check_release_refuses, check_renoised_stream_and_extension,
                           info_of_a_bare_copy, unrun_by_a_rebuilt_rope_family)
from reference import method_attention, rel_err, rms_norm

import vidlong
from vidlong.attention.adapters.cosmos import COSMOS

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}

#: the transformers of Predict2.5 (its projection of the joined Qwen2.5-VL layers) and Predict2 (T5 states as they come)
RELEASES = pytest.mark.parametrize("predict25", [True, False], ids=["predict2.5", "predict2"])


def cross_attention_stock(model):
    """Its blocks' text cross-attention keeps its own processor."""
    assert type(model.transformer_blocks[0].attn2.processor).__name__ == "CosmosAttnProcessor2_0"


@RELEASES
def test_methods_off_and_removed_are_stock_bit_for_bit(predict25):
    """vidlong's processor goes on each block's self-attention (not the cross-attention) and comes off; a neutral plan is
    its own processor's output bit for bit."""
    check_methods_off_and_removed(lambda: tiny_cosmos_transformer(predict25=predict25),
                                  lambda model: model(**cosmos_inputs(4 * NATIVE, predict25=predict25))[0],
                                  COSMOS.self_attentions, "CosmosAttnProcessor2_0", 2, NATIVE, applied=cross_attention_stock)


def rotated(x, cos, sin):
    """Its RoPE in float64 on ``[B, N, H, D]``: ``x·cos + (-x₂, x₁)·sin``, x₁ and x₂ the first and second half of each head's
    channels (its tables ``[N, D]``)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos[:, None].double() + torch.cat([-second, first], dim=-1) * sin[:, None].double()


class ReferenceAttention:
    """The methods' float64 math on a Cosmos video self-attention: q/k/v from its projections, per-head RMS norms and RoPE
    on q and k, the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q = rotated(rms_norm(heads(attn.to_q(hidden_states)), attn.norm_q), *image_rotary_emb)
        k = rotated(rms_norm(heads(attn.to_k(hidden_states)), attn.norm_k), *image_rotary_emb)
        out = method_attention(self.method, q, k, heads(attn.to_v(hidden_states)), self.frames, GRID, NATIVE)
        return attn.to_out[0](out.flatten(2, 3))


@RELEASES
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, predict25):
    """At 4x the native window, in float32 on the CPU's dense kernel."""
    check_float64_reference(lambda: tiny_cosmos_transformer(predict25=predict25),
                            lambda model, frames, dtype: model(**cosmos_inputs(frames, dtype=dtype, predict25=predict25))[0],
                            COSMOS.self_attentions, ReferenceAttention, method, NATIVE)


def test_native_length_size_and_rope_table_come_from_configs():
    """24 latent frames at 16 fps, 704x1280, 36 steps at 7, from configs/models (93 pixel frames: 4 a latent frame, 8x
    space, from its Wan VAE); its RoPE table's rows bound a forward's token frames: ``max(max_size / patch)``, 128 for
    every release's (128, 240, 240), and with the learnable absolute embedding (Cosmos 1.0's) the fewest rows of its
    three tables, 120."""
    from tiny_pipeline import tiny_cosmos_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, pixel_frames, spec_for_facts
    from vidlong.validate import limits_for_pipeline

    pipe = tiny_cosmos_pipeline()
    facts = model_facts(pipe.transformer.config, family=family_of(pipe.transformer), pipeline="Cosmos2_5_PredictBasePipeline")
    spec = spec_for_facts(facts)
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("cosmos-predict2.5", 24, 16, 704, 1280, 36, 7.0)
    geometry = geometry_from_configs(pipe.vae.config, pipe.transformer.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (4, 8, 4, (1, 2, 2))
    assert pixel_frames(spec.native_frames, geometry.temporal) == 93
    vidlong_pipe = vidlong.from_pipe(pipe)
    assert type(vidlong_pipe).__name__ == "VidLongCosmos2_5_PredictBasePipeline"
    assert limits_for_pipeline(vidlong_pipe).rope_positions == 128
    assert COSMOS.table_positions(dict(facts, extra_pos_embed_type="learnable")) == 120


def test_a_config_that_leaves_its_tables_sizes_out_is_bounded_by_diffusers_defaults(folder, tmp_path):
    """A transformer config.json without ``max_size``, ``patch_size`` or ``extra_pos_embed_type`` loads with diffusers'
    defaults ((128, 240, 240), (1, 2, 2), the learnable embedding): its bound is theirs, 128 rows (120 with the learnable
    embedding), not a KeyError."""
    import json
    import shutil

    from vidlong.validate import limits_for_folder

    assert COSMOS.table_positions({}) == 120 and COSMOS.table_positions(dict(extra_pos_embed_type=None)) == 128
    bare = Path(shutil.copytree(folder, tmp_path / "bare"))
    config = bare / "transformer" / "config.json"
    written = json.loads(config.read_text())
    config.write_text(json.dumps({k: v for k, v in written.items() if k not in ("max_size", "patch_size")}))
    assert limits_for_folder(bare).rope_positions == 128


def saved_folder(path, video2world: bool = False) -> Path:
    """A tiny Cosmos-Predict2.5 pipeline (`tiny_cosmos_pipeline`), or Predict2 Video2World's (`video2world`:
    `tiny_cosmos2_video2world_pipeline`), saved in `path` with a vidlong.yaml: native 3 latent frames, 32x48 at 16 fps, 2
    steps, guidance 2."""
    import tiny_pipeline

    pipe = tiny_pipeline.tiny_cosmos2_video2world_pipeline() if video2world else tiny_pipeline.tiny_cosmos_pipeline()
    pipe.save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cosmos", native_frames=NATIVE, height=32, width=48,
                                                           fps=16, num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return saved_folder(tmp_path_factory.mktemp("cosmos"))


@pytest.fixture(scope="module")
def video2world_folder(tmp_path_factory):
    return saved_folder(tmp_path_factory.mktemp("cosmos-video2world"), video2world=True)


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class; `generate` at 2x with no method returns the frames diffusers' own
    `Cosmos2_5_PredictBasePipeline` makes from the same folder, seed (its own noise draw) and settings."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongCosmos2_5_PredictBasePipeline" and pipe.facts()["family"] == "cosmos"
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    check_generate_is_the_stock_call(folder, result, "Cosmos2_5_PredictBasePipeline", NATIVE, temporal=4, guidance_scale=2.0,
                                     generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 16 fps, 48x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=16)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside: its guided prompts batched, its call's
    ``cond + g·(cond - uncond)`` at each step's σ); later chunks of 1 latent frame bring 4 pixel frames each and depend on
    the context (its default, the clean one); `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=16)


@pytest.mark.parametrize("command,says", [
    *unrun_by_a_rebuilt_rope_family("CosmosTransformer3DModel"),
    (["generate", "--frames", "517"], "RoPE"),
], ids=["riflex", "window-sinks", "fifo", "cache", "past-rope-table"])
def test_what_it_does_not_run_is_refused_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx, the -sinks methods, fifo and a cached stream (as every family whose RoPE is made at every forward and whose
    streams re-noise), and a length past its RoPE table's 128 token frames."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)


def test_a_padding_mask_channel_without_torchvision_is_refused_before_loading(folder, tmp_path, capsys, monkeypatch):
    """A transformer that takes its padding mask as a channel (``concat_padding_mask``, as every release's) resizes it with
    torchvision: where torchvision is not installed, its folder is refused in one line before loading."""
    import importlib.util
    import json
    import shutil

    padded = Path(shutil.copytree(folder, tmp_path / "padded"))
    config = padded / "transformer" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), concat_padding_mask=True)))
    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else find(name, *a))
    line = check_refused_before_loading(["generate", "--model", str(padded), "--prompt", "a red ball"], tmp_path / "g.mp4",
                                        capsys, monkeypatch)
    assert "resizes its padding mask with torchvision, which is not installed: pip install torchvision" in line


@pytest.mark.parametrize("entry", [None, [None, None], ["cosmos_guardrail", "CosmosSafetyChecker"]],
                         ids=["left-out", "null", "cosmos_guardrail"])
def test_a_folder_that_builds_the_guardrail_without_cosmos_guardrail_is_refused_before_loading(folder, tmp_path, capsys,
                                                                                                monkeypatch, entry):
    """A folder whose ``safety_checker`` is left out, null or cosmos_guardrail's has its pipeline build NVIDIA's guardrail as
    it loads: where cosmos_guardrail is not installed (as here), it is refused in one line before loading."""
    import json
    import shutil

    bare = Path(shutil.copytree(folder, tmp_path / "bare"))
    index = json.loads((bare / "model_index.json").read_text())
    index.pop("safety_checker")
    (bare / "model_index.json").write_text(json.dumps(index if entry is None else dict(index, safety_checker=entry)))
    line = check_refused_before_loading(["generate", "--model", str(bare), "--prompt", "a red ball"], tmp_path / "g.mp4",
                                        capsys, monkeypatch)
    assert "builds NVIDIA's guardrail (cosmos_guardrail's CosmosSafetyChecker) as it loads, which is not installed: pip " \
           "install cosmos_guardrail" in line


def test_without_cosmos_guardrail_info_describes_a_folder_that_builds_it_and_says_generating_needs_it(folder, tmp_path, capsys,
                                                                                                      monkeypatch):
    """`vidlong info` reads configs alone: a folder whose pipeline builds NVIDIA's guardrail as it loads (its
    ``safety_checker`` left out), where cosmos_guardrail is not installed, is described (exit 0, no model loaded), its answers
    those of the same folder with a checker of its own, and its last line (``needs`` in the JSON) says generating needs
    cosmos_guardrail and how to install it; the commands that would load it refuse it (the test above)."""
    import json
    import shutil

    import diffusers.utils

    import vidlong.pipeline
    from vidlong.cli import main

    bare = Path(shutil.copytree(folder, tmp_path / "bare"))
    index = json.loads((bare / "model_index.json").read_text())
    index.pop("safety_checker")
    (bare / "model_index.json").write_text(json.dumps(index))
    monkeypatch.setattr(diffusers.utils, "is_cosmos_guardrail_available", lambda: False)
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    capsys.readouterr()
    answers = []
    for path in (folder, bare):
        assert main(["info", "--model", str(path), "--json"]) == 0
        answers.append(json.loads(capsys.readouterr().out))
    needs = ("this Cosmos folder's pipeline builds NVIDIA's guardrail (cosmos_guardrail's CosmosSafetyChecker) as it loads, "
             "which is not installed: pip install cosmos_guardrail")
    assert answers[0]["needs"] is None and answers[1] == dict(answers[0], folder=str(bare), needs=needs)
    assert main(["info", "--model", str(bare)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("generating here (generate, stream, extend, the app) needs a package "
                                                        f"that is not installed: {needs}")


def stand_in_guardrail(unsafe: bool = False, video=lambda frames: frames * 0):
    """A guardrail whose video check answers `video(frames)` (by default every frame black; None, as NVIDIA's answers a video
    it blocks) and which, where `unsafe`, passes no prompt: the tests' stand-in for NVIDIA's, whose class it takes in
    diffusers' Cosmos module (as where cosmos_guardrail is installed)."""
    from tiny_pipeline import PassingSafetyChecker

    class StandInGuardrail(PassingSafetyChecker):
        def check_text_safety(self, prompt: str) -> bool:
            return not unsafe

        def check_video_safety(self, frames):
            return video(frames)

    return StandInGuardrail


def guarded_pipeline(folder, monkeypatch, video=lambda frames: frames * 0):
    """The pipeline of `folder` on the CPU, its safety checker a `stand_in_guardrail` of `video` taken for NVIDIA's."""
    from diffusers.pipelines.cosmos import pipeline_cosmos2_5_predict

    guardrail = stand_in_guardrail(video=video)
    monkeypatch.setattr(pipeline_cosmos2_5_predict, "CosmosSafetyChecker", guardrail)
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.safety_checker = guardrail()
    return pipe


def test_the_guardrail_checks_generates_and_a_streams_video_and_its_prompt(folder, monkeypatch):
    """Where the pipeline's safety checker is NVIDIA's guardrail, `generate`'s video (its own call decodes it then) and each
    chunk of a stream pass its video check (here: all black), and a prompt it finds unsafe is refused in one line by a stream
    and by `generate` (its call's own check)."""
    from vidlong.generate import GenerateRequest, generate

    pipe = guarded_pipeline(folder, monkeypatch)
    assert not generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3)).frames.any()
    chunks = [c.frames for c in pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=2, seed=0)]
    assert [len(c) for c in chunks] == [1, 4] and not any(c.any() for c in chunks)
    pipe.safety_checker = stand_in_guardrail(unsafe=True)()
    with pytest.raises(vidlong.VidlongError, match=r"^Cosmos Guardrail found the prompt unsafe[^\n]*$"):
        next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0)))
    with pytest.raises(vidlong.VidlongError, match=r"^Cosmos Guardrail found the prompt unsafe[^\n]*$"):
        generate(pipe, GenerateRequest(prompt="a red ball", seed=3))  # its call's own check: a ValueError of diffusers' before


def test_a_guarded_streams_first_chunk_is_generates_video(folder, monkeypatch):
    """Where the guardrail is NVIDIA's (here one that passes every frame as it comes), its call hands it the frames cut to
    uint8 (not rounded) and shows what it returns: a stream's first chunk of the native window, its frames through the same
    check, is `generate`'s video but for a value in 10,000 (its chunk decoder's float rounding; rounded, not cut, half of
    them were a grey level off)."""
    from vidlong.generate import GenerateRequest, generate

    pipe = guarded_pipeline(folder, monkeypatch, video=lambda frames: frames)
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3)).frames
    off = np.abs(first.frames.astype(int) - own.astype(int))
    assert off.max() <= 1 and off.astype(bool).mean() < 1e-4


def test_a_video_the_guardrail_blocks_is_refused_in_one_line(folder, monkeypatch):
    """NVIDIA's guardrail answers a video it blocks with None, on which diffusers' call then fails deep in its
    post-processing: `generate` (its own call) and a stream's chunk refuse it in one line instead."""
    from vidlong.generate import GenerateRequest, generate

    pipe = guarded_pipeline(folder, monkeypatch, video=lambda frames: None)
    runs = (lambda: generate(pipe, GenerateRequest(prompt="a red ball", seed=3)),
            lambda: next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0))))
    for run in runs:
        with pytest.raises(vidlong.VidlongError, match=r"^Cosmos Guardrail blocked the video as unsafe[^\n]*$"):
            run()


def test_a_stream_without_a_safety_checker_is_refused_as_its_call_refuses_it(folder):
    """Its call refuses to run with its safety checker set to None (the NVIDIA Open Model License Agreement); a stream
    refuses it in one line too (it read the None's text check)."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.safety_checker = None
    with pytest.raises(vidlong.VidlongError, match=r"^this Cosmos pipeline's safety checker is off[^\n]*$"):
        next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0)))


def test_vidlong_info_names_its_spec_and_its_rope_tables_bound(folder, tmp_path, capsys):
    """`vidlong info` on a folder with no vidlong.yaml: its spec from configs/models (24 latent frames = 93 at 16 fps), one
    forward's most latent frames from its transformer's RoPE table (128), streams and extensions yes (the clean context by
    default), fifo no."""
    out, _ = info_of_a_bare_copy(folder, tmp_path, capsys)
    assert "family cosmos (CosmosTransformer3DModel)" in out and "spec cosmos-predict2.5: native 24 latent frames = 93 frames" in out
    assert "places at most 128 latent frames" in out and "task t2v (generate --video continues it: its frames, then new ones)" in out
    assert "  stream: yes" in out and "  extend: yes" in out and "  fifo: no" in out and "  image: yes" in out
    assert "streams with the clean context" in out


def test_image2world_is_its_image_call_and_its_streams_keep_the_image_clean(folder, image_path, monkeypatch):
    """`load_pipeline(task="i2v")` gives vidlong's Image2World twin; `generate` from an image at 13 frames (4 latent frames,
    past the native 3) with no method = diffusers' own ``image=`` call from the same folder, image and seed, bit for bit
    (torchvision's ``to_tensor`` stood in where it is not installed: vidlong's call needs none); a stream's first chunk of
    the native window is `generate`'s video (uint8 rounding aside: the image's latent frame clean under the condition mask
    as the call keeps it), with the clean context (its default) as with the re-noised one; its later chunks, whose windows
    hold the context clean under the mask (the image's frame its first), are finite and differ from the re-noised
    context's, and its windows past the image's sink see the context."""
    from PIL import Image
    from conftest import stand_in_torchvision_to_tensor

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v")
    assert type(pipe).__name__ == "VidLongCosmos2_5_PredictImageToWorldPipeline" and pipe.task == "i2v"
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", frames=13, seed=3, image=str(image_path), height=32, width=48))
    stand_in_torchvision_to_tensor(monkeypatch)
    check_generate_is_the_stock_call(folder, own, "Cosmos2_5_PredictBasePipeline", NATIVE, temporal=4, pixel_frames=13,
                                     guidance_scale=2.0, image=Image.open(image_path).convert("RGB"),
                                     generator=torch.Generator().manual_seed(3))
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image_path), height=32, width=48))
    streams = {context: pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE, context=context), chunks=3,
                                    seed=3, image=Image.open(image_path), height=32, width=48) for context in (None, "renoise")}
    forward, kept = pipe.stream_forward, []  # each forward's clean frames under the condition mask
    monkeypatch.setattr(pipe, "stream_forward", lambda *args, condition_latent, **kw: forward(
        *args, condition_latent=kept.append(condition_latent) or condition_latent, **kw))
    clean = list(streams[None])
    image, context = streams[None].condition.latent, kept[-1]  # the last window's: the sinks and window, the image first
    assert context.shape[2] == streams[None].schedule.context_frames - 1 > 1 and (context[:, :, :1] - image).abs().max() < 1e-5
    renoised = list(streams["renoise"])
    assert all(torch.equal(latent, image) for latent in kept[len(kept) // 2:])  # the re-noised context's: the image alone
    assert streams[None].context_mode == "clean" and streams[None].settings()["context"] == "clean"
    for first in (clean[0], renoised[0]):
        assert np.abs(first.frames.astype(int) - native.frames.astype(int)).max() <= 1
        assert (first.latents - native.latents).abs().max() < 1e-4
    assert all(c.latents.isfinite().all() for c in clean)
    assert not any(torch.equal(a.latents, b.latents) for a, b in zip(clean[1:], renoised[1:]))
    check_image_stream_context(pipe, image_path)


def test_video2world_continues_a_video_as_its_call_does(folder):
    """`generate` given a video on Predict2.5's own pipeline continues it through its Video2World twin: the output is the
    video's 7 frames (resized as its call resizes them), then diffusers' own ``video=`` call's window of 9 frames from the
    same folder and seed, bit for bit, past the video's last 5 frames it starts with (2 latent frames, kept clean)."""
    import diffusers
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    video = np.random.default_rng(2).integers(0, 255, (7, 40, 56, 3), dtype=np.uint8)
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", frames=9, seed=3, video=video, height=32, width=48))
    stock = diffusers.Cosmos2_5_PredictBasePipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    frames = [Image.fromarray(frame) for frame in video]
    window = stock(prompt="a red ball", video=frames, height=32, width=48, num_frames=9, num_inference_steps=2,
                   guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    resized = stock.video_processor.postprocess_video(stock.video_processor.preprocess_video(frames, 32, 48), "np")[0]
    assert result.frames.shape == (7 + 9 - 5, 32, 48, 3) and result.settings["latent_frames"] == 3
    assert np.array_equal(result.frames[:7], (resized * 255).round().astype(np.uint8))
    assert np.array_equal(result.frames[7:], (np.clip(window[5:], 0, 1) * 255).round().astype(np.uint8))


def test_an_extensions_clean_context_is_its_video2world_calls_conditioning(folder):
    """An extension continues by default with its context clean under the condition mask: its first chunk (1 latent
    frame) after the 2 latent frames diffusers' own ``video=`` call makes of a 5-frame video (handed on as saved latents)
    is that call's new latent frame (bit for bit on some CPUs, a few ulp apart on others), given the same noise there
    (its sampler never steps the context, whose velocity the call fixes and whose latents it hands the transformer
    clean); later chunks are finite and move on; the re-noised context (``context="renoise"``) still runs and differs;
    an unknown context is refused in one line."""
    import diffusers

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stock = diffusers.Cosmos2_5_PredictBasePipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    made = {}
    prepare = stock.prepare_latents
    stock.prepare_latents = lambda *args, **kwargs: made.setdefault("latents", prepare(*args, **kwargs))
    video = torch.from_numpy(np.random.default_rng(2).integers(0, 255, (5, 32, 48, 3), dtype=np.uint8)).permute(3, 0, 1, 2)
    noise = torch.randn((1, 4, 1, 4, 6), generator=torch.Generator().manual_seed(3))  # a stream's first draw: its chunk's
    window = stock(prompt="a red ball", video=video[None].float() / 127.5 - 1, height=32, width=48, num_frames=9,
                   num_inference_steps=2, guidance_scale=2.0, latents=torch.cat([torch.zeros(1, 4, 2, 4, 6), noise], dim=2),
                   output_type="latent").frames
    context = made["latents"][1][:, :, :2]  # its conditioning latents: the video's 2 latent frames, clean
    clean = [c.latents for c in pipe.extend("a red ball", latents=context, streaming=vidlong.Streaming(chunk=1), chunks=3,
                                            seed=3)][1:]
    assert torch.allclose(clean[0], window[:, :, 2:], rtol=1e-5, atol=1e-5)  # bit for bit on some CPUs; a few ulp on others
    assert all(c.isfinite().all() for c in clean) and not torch.equal(clean[1], clean[2])
    renoised = [c.latents for c in pipe.extend("a red ball", latents=context, chunks=1, seed=3,
                                               streaming=vidlong.Streaming(chunk=1, context="renoise"))]
    assert renoised[1].isfinite().all() and not torch.equal(renoised[1], clean[0])
    with pytest.raises(vidlong.VidlongError, match=r"^Streaming context [^\n]*must be one of cache, renoise, clean, got 'noisy'$"):
        vidlong.Streaming(context="noisy")


@pytest.mark.parametrize("given,says", [
    (["--video", "{short}"], "--video holds 3 frames and Cosmos-Predict2.5 Video2World continues from its last 5; pass a "
                             "video with at least 5 frames, or start from its last frame as --image"),
    (["--video", "{clip}", "--frames", "5"], "the video's last 5 frames take 2 latent frames of the 2 made, leaving none new: "
                                             "ask for --frames 9 or more"),
    (["--video", "{clip}", "--strength", "0.5"], "this model continues its --video (Cosmos-Predict2.5 Video2World: its frames, "
                                                 "then new ones): drop --strength"),
    (["--video", "{clip}", "--image", "{image}"], "continues or edits the given video and takes no --image; drop it"),
    (["--image", "{image}", "--height", "36"], "--height 36"),
], ids=["too-few-frames", "no-new-frames", "strength", "image-and-video", "size"])
def test_what_its_image_and_video_conditions_do_not_take_is_refused_before_loading(folder, image_path, tmp_path, capsys,
                                                                                    monkeypatch, given, says):
    """Predict2.5's Image2World and Video2World refuse in one line before loading: a video shorter than the 5 frames its
    call continues from, a window they would fill, a strength (it continues, it does not redraw), an image with a video, and
    a size off its latent grid."""
    from vidlong.video_io import write_video

    clips = {name: write_video(tmp_path / f"{name}.mp4", np.full((count, 32, 48, 3), 90, np.uint8), fps=16)
             for name, count in (("short", 3), ("clip", 9))}
    paths = dict(clips, image=image_path)
    check_release_refuses(folder, None, ["generate", *(arg.format(**paths) for arg in given)], says, tmp_path, capsys,
                          monkeypatch)


def test_video2world_is_recognised_from_its_folder_with_its_spec(video2world_folder, tmp_path, capsys):
    """`vidlong info` on a Predict2 Video2World folder with no vidlong.yaml: its spec from configs/models (24 latent frames =
    93 at 16 fps, 704x1280, 35 steps at 7: its call's defaults), image to video, streams and extensions yes, fifo no."""
    from vidlong.models import spec_for_folder

    out, plain = info_of_a_bare_copy(video2world_folder, tmp_path, capsys)
    spec = spec_for_folder(plain)
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("cosmos-predict2-video2world", 24, 16, 704, 1280, 35, 7.0)
    assert "task i2v, family cosmos (CosmosTransformer3DModel)" in out and "  image: yes" in out
    assert "spec cosmos-predict2-video2world: native 24 latent frames = 93 frames at 16 fps" in out
    assert "  stream: yes" in out and "  extend: yes" in out and "  fifo: no" in out


def test_video2world_generates_its_calls_video_and_the_methods_change_it(video2world_folder, image_path):
    """`generate` from an image at 2x with no method = diffusers' `Cosmos2VideoToWorldPipeline` from the same folder, image
    and seed (its draws: the image's latent over the whole video, then the noise), bit for bit; UltraViCo and FreeLong++
    each change its latents."""
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(video2world_folder, device="cpu")
    assert type(pipe).__name__ == "VidLongCosmos2VideoToWorldPipeline" and pipe.task == "i2v"
    pipe.set_progress_bar_config(disable=True)
    request = dict(prompt="a red ball", ratio=2, seed=3, image=str(image_path), height=32, width=48)
    stock = generate(pipe, GenerateRequest(**request))
    check_generate_is_the_stock_call(video2world_folder, stock, "Cosmos2VideoToWorldPipeline", NATIVE, temporal=4,
                                     guidance_scale=2.0, image=Image.open(image_path), generator=torch.Generator().manual_seed(3))
    for method in ("ultravico", "freelong"):
        assert rel_err(generate(pipe, GenerateRequest(**request, method=method)).latents, stock.latents) > 1e-3


def test_video2world_streams_from_its_image_and_extends(video2world_folder, image_path, tmp_path):
    """A stream's first chunk of the native window is `generate`'s video from the image (uint8 rounding aside: its guided
    prompts batched, guidance on its noise estimates; its latents to 1e-4, the image's latent drawn as its call draws it);
    later chunks of 1 latent frame depend on the re-noised context past the image's sink; `vidlong generate --image
    --method both`, `vidlong stream --image` and `vidlong extend` run; an extension's output starts with its input's frames
    (one more H.264 encode)."""
    import numpy as np
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(video2world_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path), height=32, width=48)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image_path), height=32, width=48))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    assert (first.latents - own.latents).abs().max() < 1e-4  # the image's latent drawn as its call draws it (4.6e-5 here)
    check_image_stream_context(pipe, image_path)
    check_image_to_video_cli(video2world_folder, image_path, tmp_path, NATIVE)
    check_cli_extension(video2world_folder, tmp_path, 4, 16, (32, 48, 3))


@pytest.mark.parametrize("image,command,says", [
    *[(True, *refused) for refused in unrun_by_a_rebuilt_rope_family("CosmosTransformer3DModel")],
    (False, ["generate"], "this model is image-to-video: pass the first frame with --image"),
    (True, ["stream", "--chunks", "2", "--sinks", "0"], "the image sits on the first sink frame"),
    (True, ["generate", "--frames", "517"], "RoPE"),
    (True, ["stream", "--chunks", "2", "--context", "clean"], "--context clean is not available for Cosmos2VideoToWorldPipeline: "
                                                              "it keeps the context clean under a condition mask that only "
                                                              "Cosmos-Predict2.5's and Cosmos 3's streams take"),
], ids=["riflex", "window-sinks", "fifo", "cache", "no-image", "no-sink", "past-rope-table", "clean-context"])
def test_what_video2world_does_not_run_is_refused_before_loading(video2world_folder, image_path, tmp_path, capsys, monkeypatch,
                                                                 image, command, says):
    """As Predict2.5's: RIFLEx, the -sinks methods, fifo, a cached stream, past its RoPE table; and a request with no image,
    a stream with no sink frame for it, or one with Predict2.5's clean context."""
    check_release_refuses(video2world_folder, image_path if image else None, command, says, tmp_path, capsys, monkeypatch)
