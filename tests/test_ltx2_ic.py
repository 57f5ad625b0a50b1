"""LTX-2's `LTX2InContextPipeline` (IC-LoRA reference videos) under vidlong, on a tiny random LTX-2 saved as that pipeline:
its transformer with a reference video's tokens after the video's (methods off and removed = stock bit for bit, each method
the float64 reference with those tokens as text after the video), `generate` = diffusers' call bit for bit with a reference
video (video and sound), the CLI's --control-video as its reference, and the one-line refusals before loading; LTX-2's own
folder (saved as `LTX2Pipeline`) given a control video and an IC-LoRA by --lora loads as that pipeline (its twin)."""
import json

import numpy as np
import pytest
import torch
from conftest import ic_lora, ltx2_inputs, mp4_audio, tiny_ltx2_transformer
from family_checks import (NEUTRAL, block_self_attentions, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_refused_before_loading, forward_shapes,
                           generate_counting_forwards)
from reference import LTX2ReferenceAttention

import vidlong
from vidlong.cli import main
from vidlong.estimate import forward_tokens
from vidlong.reference_size import DOWNSCALE_KEY
from vidlong.generate import GenerateRequest, generate
from vidlong.video_io import read_video, write_video

NATIVE = 3  # latent frames of the transformer checks
GRID = (2, 3)  # latent height, width (patch 1: token rows, columns)


def reference_inputs(frames: int, dtype=torch.float32) -> dict:
    """`ltx2_inputs` with a reference video's tokens (as long as the video) after the video's, at the RoPE positions its
    call gives them (`LTX2InContextPipeline._encode_reference_conditions`: a video of the reference's latent sizes from
    time 0, the generated video's own positions), at 24 fps."""
    inputs = ltx2_inputs(frames, *GRID, dtype=dtype)
    coords = tiny_ltx2_transformer().rope.prepare_video_coords(1, frames, *GRID, torch.device("cpu"), fps=24.0)
    tokens = torch.randn(inputs["hidden_states"].shape, generator=torch.Generator().manual_seed(2))
    return dict(inputs, hidden_states=torch.cat([inputs["hidden_states"], tokens.to(dtype)], dim=1),
                video_coords=torch.cat([coords, coords], dim=2))


def run(model, frames: int, dtype=torch.float32) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**reference_inputs(frames, dtype))])  # video and audio


def test_methods_off_and_removed_are_stock_bit_for_bit_with_a_reference_video():
    check_methods_off_and_removed(lambda: tiny_ltx2_transformer(latest=True), lambda model: run(model, 4 * NATIVE),
                                  block_self_attentions, "LTX2PerturbedAttnProcessor", 2, NATIVE,
                                  neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())))


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_methods_match_float64_reference_with_a_reference_video(method):
    """The reference's tokens out of the grid (at the video's own positions): every video query sees them unmodified,
    their own rows stock."""
    check_float64_reference(lambda: tiny_ltx2_transformer(latest=True), run, block_self_attentions,
                            lambda m, frames: LTX2ReferenceAttention(m, frames, GRID, NATIVE, trailing=frames * GRID[0] * GRID[1]),
                            method, NATIVE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-ic"), latest=True, pipeline="LTX2InContextPipeline",
                                   name="tiny-ltx2-ic")


def test_generate_is_its_call_bit_for_bit_with_a_reference_video(pipe, folder, reference_path, monkeypatch):
    """A control video as its reference, no method, 2x the native window (its 25 frames), video and sound: diffusers' call
    with the same seed and ``reference_conditions=[LTX2ReferenceCondition(frames)]`` (its frames at the video's size); with
    both methods the video changes; its call's ``reference_video=`` (a path) = ``reference_conditions=`` of its frames. Its
    forwards hold twice the video's tokens (the reference's after them, at factor 1), as the run estimate counts them."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition
    from PIL import Image

    assert type(pipe).__name__ == "VidLongLTX2InContextPipeline"
    request = GenerateRequest(prompt="a red ball", seed=3, control_video=str(reference_path))
    plain, shapes = generate_counting_forwards(pipe, request, 4, monkeypatch)
    assert {n for _, n, _ in shapes} == {2 * 4 * 2 * 2}  # 4 latent frames of 2x2 tokens, twice
    frames = [Image.fromarray(frame).resize((64, 64), Image.BILINEAR) for frame in read_video(reference_path)[0]]
    stock = check_generate_is_the_stock_call(folder, plain, "LTX2InContextPipeline", 2, 8,
                                             reference_conditions=[LTX2ReferenceCondition(frames)], frame_rate=24,
                                             guidance_scale=3.0, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(stock.audio[0].clamp(-1, 1).numpy(), plain.audio.samples)
    both = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, method="both", control_video=str(reference_path)))
    assert not np.array_equal(both.frames, plain.frames)
    call = dict(prompt="a red ball", num_frames=9, num_inference_steps=1, output_type="latent")
    by_path = pipe(reference_video=str(reference_path), generator=torch.Generator().manual_seed(1), **call).frames
    given = [LTX2ReferenceCondition(list(read_video(reference_path)[0]))]
    by_frames = pipe(reference_conditions=given, generator=torch.Generator().manual_seed(1), **call).frames
    assert torch.equal(by_path, by_frames)


def test_a_reference_at_another_frame_rate_gives_the_call_its_rate_and_the_sound_its_length(pipe, tmp_path):
    """A 12 fps reference: the video takes its rate (settings' fps 12) and so does its call's ``frame_rate``, so the sound
    lasts the video's 25 / 12 s (given the spec's 24, it lasted half that: 0.69 s against 1.42 s)."""
    frames = np.random.default_rng(5).integers(0, 255, (25, 48, 48, 3), dtype=np.uint8)
    slow = write_video(tmp_path / "slow-pose.mp4", frames, 12)
    made = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, control_video=str(slow)))
    assert made.settings["fps"] == 12
    assert abs(made.audio.samples.shape[1] / made.audio.rate - 25 / 12) < 0.1


def test_a_masked_reference_attention_under_the_methods_is_refused_in_one_line(pipe, reference_path):
    """``conditioning_attention_strength`` below 1 masks the video's self-attention, which vidlong's processor leaves
    stock: refused while methods are applied, before any step."""
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), native_frames=2)
    try:
        with pytest.raises(vidlong.VidlongError, match="^conditioning_attention_strength below 1 .* remove the methods$"):
            pipe(prompt="a red ball", reference_video=str(reference_path), conditioning_attention_strength=0.5, num_frames=9)
    finally:
        vidlong.remove(pipe.transformer)


def test_vidlong_generate_follows_a_control_video_as_its_reference_with_its_sound(folder, reference_path, tmp_path):
    """`vidlong generate --control-video pose.mp4 --method both`: the reference's 25 frames and frame rate (its square
    aspect at the spec's size), the sidecar's control video, its sound track."""
    out = tmp_path / "pose-led.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--control-video", str(reference_path),
                 "--method", "both", "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (25, 64, 64, 3) and fps == 24 and settings["control_video"] == str(reference_path)
    assert mp4_audio(out, 16000).shape[1] >= 16000 * 25 // 24 - 1024


@pytest.mark.parametrize("extra, says", [
    (["--frames", "33"], "--frames 33 is more than the video's 25 frames"),
    (["--ratio", "2"], "a controlled video is as long as its --control-video: drop --ratio"),
    (["--control-video", "missing.mp4"], "--control-video: no video file at missing.mp4"),
    (["--stream"], "does not stream or extend"),
], ids=["longer", "ratio", "unreadable", "stream"])
def test_a_reference_it_cannot_follow_is_refused_in_one_line_before_loading(folder, reference_path, tmp_path, capsys,
                                                                            monkeypatch, extra, says):
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--control-video", str(reference_path)]
    if extra == ["--stream"]:
        args, extra = ["stream", "--model", str(folder), "--prompt", "a red ball", "--chunks", "2"], []
    assert says in check_refused_before_loading(args + extra, tmp_path / "g.mp4", capsys, monkeypatch)


def test_an_ic_lora_that_records_its_reference_downscale_gives_the_call_that_factor(pipe, folder, reference_path, tmp_path):
    """``--lora`` of an IC-LoRA whose metadata records ``reference_downscale_factor`` 2 (its product zero, so the weights
    are the base's): its call's reference at half the size with the positions scaled, as diffusers' call given the factor
    (and not as given 1); the factor passed to the call wins. At 64x96 its forwards hold the reference's 9 frames (of 25)
    at 32x48 cut to the VAE's 32x32 after the video's, as the run estimate counts them."""
    shape = pipe.transformer.state_dict()["transformer_blocks.0.attn1.to_q.weight"].shape
    lora = ic_lora(tmp_path / "ic.safetensors", shape, {DOWNSCALE_KEY: "2"})
    with_lora = vidlong.load_pipeline(folder, device="cpu", loras=[lora])
    with_lora.set_progress_bar_config(disable=True)

    def latents(pipeline, height=64, width=64, **kwargs):
        return pipeline(prompt="a red ball", reference_video=str(reference_path), num_frames=9, height=height, width=width,
                        num_inference_steps=1, output_type="latent", generator=torch.Generator().manual_seed(1), **kwargs).frames

    recorded = latents(with_lora)
    assert torch.equal(recorded, latents(pipe, reference_downscale_factor=2))
    assert not torch.equal(recorded, latents(pipe))
    assert torch.equal(latents(with_lora, reference_downscale_factor=1), latents(pipe))
    with forward_shapes(with_lora.transformer) as shapes:
        latents(with_lora, 64, 96)
    request = GenerateRequest(prompt="a red ball", control_video=str(reference_path), frames=9, height=64, width=96)
    assert {n for _, n, _ in shapes} == {forward_tokens(with_lora, request, 2, 64, 96)} == {2 * 2 * 3 + 2 * 1 * 1}


@pytest.mark.parametrize("recorded, size, says", [
    (["half"], [], "records reference_downscale_factor='half', not a whole number from 1"),
    (["2", "4"], [], "the LoRAs record different reference_downscale_factors (a.safetensors: 2, b.safetensors: 4)"),
    (["4"], ["--height", "64", "--width", "128"], "--height 64: LTX-2's in-context (IC-LoRA) pipeline encodes its reference "
     "at the video's size over its reference_downscale_factor 4, for its VAE: each side at least 128 pixels; use --height 128"),
], ids=["not-a-number", "two-factors", "reference-below-the-vae"])
def test_an_ic_lora_factor_it_cannot_use_is_refused_in_one_line_before_loading(pipe, folder, reference_path, tmp_path, capsys,
                                                                               monkeypatch, recorded, size, says):
    """A factor that is no whole number, two LoRAs' different factors, or a --height at factor 4 whose reference (16 pixels)
    its crop would round down to none of the VAE's 32 (diffusers' call fails there): one line, before loading."""
    from diffusers import DiffusionPipeline

    shape = pipe.transformer.state_dict()["transformer_blocks.0.attn1.to_q.weight"].shape
    loras = [ic_lora(tmp_path / f"{name}.safetensors", shape, {DOWNSCALE_KEY: factor}) for name, factor in zip("ab", recorded)]
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("a model was loaded")))
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--control-video", str(reference_path)]
    assert main([*args, *[arg for lora in loras for arg in ("--lora", str(lora))], *size, "--out", str(tmp_path / "g.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0] and not (tmp_path / "g.mp4").exists(), err


@pytest.fixture(scope="module")
def own_folder(tmp_path_factory):
    """The same tiny LTX-2 saved as LTX-2's own `LTX2Pipeline` (its spec's name the in-context folder's, so that the
    sidecars match)."""
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-own"), latest=True, name="tiny-ltx2-ic")


@pytest.fixture(scope="module")
def zero_lora(pipe, tmp_path_factory):
    """`ic_lora` with no metadata: its product zero, so an LTX-2 folder with it merged keeps its weights."""
    shape = pipe.transformer.state_dict()["transformer_blocks.0.attn1.to_q.weight"].shape
    return ic_lora(tmp_path_factory.mktemp("ic-lora") / "ic-lora-pose.safetensors", shape)


def test_ltx2s_own_folder_with_an_ic_lora_follows_a_control_video_as_the_in_context_folder(folder, own_folder, zero_lora,
                                                                                           reference_path, tmp_path):
    """``load_pipeline(LTX2Pipeline folder, task="control", loras=[IC-LoRA])`` is `VidLongLTX2InContextPipeline` over its
    parts, its `generate` with the control video = the in-context folder's with the same LoRA bit for bit (video and sound,
    with both methods); `vidlong generate --lora --control-video` on it writes the in-context folder's mp4 and sidecar (but
    the paths and the time taken)."""
    twin = vidlong.load_pipeline(own_folder, device="cpu", task="control", loras=[zero_lora])
    saved_as_ic = vidlong.load_pipeline(folder, device="cpu", loras=[zero_lora])
    assert type(twin).__name__ == "VidLongLTX2InContextPipeline" and twin.task == "t2v"
    request = GenerateRequest(prompt="a red ball", seed=3, control_video=str(reference_path), method="both")
    made, expected = generate(twin, request), generate(saved_as_ic, request)
    assert np.array_equal(made.frames, expected.frames) and np.array_equal(made.audio.samples, expected.audio.samples)
    outs = []
    for model in (own_folder, folder):
        outs.append(tmp_path / f"{model.name}.mp4")
        assert main(["generate", "--model", str(model), "--lora", str(zero_lora), "--prompt", "a red ball", "--control-video",
                     str(reference_path), "--method", "both", "--seed", "3", "--out", str(outs[-1])]) == 0
    assert np.array_equal(read_video(outs[0])[0], read_video(outs[1])[0]) and read_video(outs[0])[0].shape[0] == 25
    settings = [json.loads(out.with_suffix(".json").read_text()) for out in outs]
    differ = {key for key in settings[0] if settings[0][key] != settings[1][key]}  # the time taken may be equal to the ms
    assert differ - {"seconds"} == {"model_path", "out"} and settings[0].keys() == settings[1].keys()


@pytest.mark.parametrize("args, says", [
    (["generate"], "an LTX2Pipeline folder follows --control-video as LTX-2's in-context pipeline, by an IC-LoRA trained on "
                   "such references (pose, depth, edges), which its own weights are not: merge the IC-LoRA's .safetensors "
                   "file by --lora"),
    (["generate", "--lora", "{lora}", "--image", "{reference}"], "an LTX2Pipeline folder follows --control-video as LTX-2's "
                                                                 "in-context pipeline, from text: it takes no --image with it"),
    (["stream", "--lora", "{lora}", "--chunks", "2"], "LTX-2's in-context (IC-LoRA) pipeline follows one whole reference video"),
    (["extend", "--lora", "{lora}", "--video", "{reference}"], "it does not stream or extend"),
    (["generate", "--condition"], "an LTX2ConditionPipeline folder follows --control-video as LTX-2's in-context pipeline, "
                                  "by an IC-LoRA"),
], ids=["no-lora", "image", "stream", "extend", "condition-folder-no-lora"])
def test_ltx2s_own_folder_with_a_control_video_is_refused_in_one_line_before_loading(own_folder, zero_lora, reference_path,
                                                                                     tmp_path, capsys, monkeypatch, args, says):
    """LTX-2's own folder given a control video loads as its in-context pipeline: without an IC-LoRA (the base weights do not
    follow a reference), with an image, or streamed or extended (the in-context pipeline's reason), refused in one line before
    loading; an `LTX2ConditionPipeline` folder as the plain one."""
    from tiny_pipeline import save_tiny_ltx2_pipeline

    command, *rest = args
    model = own_folder
    if rest == ["--condition"]:
        model, rest = save_tiny_ltx2_pipeline(tmp_path / "condition", latest=True, pipeline="LTX2ConditionPipeline"), []
    values = {"{lora}": str(zero_lora), "{reference}": str(reference_path)}
    argv = [command, "--model", str(model), "--prompt", "a red ball", "--control-video", str(reference_path),
            *[values.get(arg, arg) for arg in rest]]
    assert says in check_refused_before_loading(argv, tmp_path / "g.mp4", capsys, monkeypatch)


def test_ltx2s_own_folder_from_python_loads_as_its_in_context_pipeline_with_task_control(own_folder, zero_lora, reference_path,
                                                                                          tmp_path, monkeypatch):
    """``task="control"``: refused in one line without a LoRA (or on a folder with no control-video pipeline, before loading);
    an `LTX2ConditionPipeline` folder loads as the in-context pipeline too, a folder whose vidlong.yaml names the IC-LoRA
    with no ``loras``; the folder loaded as its own pipeline, given a control video, says to load it with task='control'."""
    from diffusers import DiffusionPipeline
    from tiny_pipeline import save_tiny_ltx2_pipeline

    with monkeypatch.context() as patched:
        patched.setattr(DiffusionPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("a model was loaded")))
        with pytest.raises(vidlong.VidlongError, match=r"which its own weights are not: merge the IC-LoRA's \.safetensors "
                                                       r"file by loras \(--lora\)$"):
            vidlong.load_pipeline(own_folder, device="cpu", task="control")
        with pytest.raises(vidlong.VidlongError, match=r"^task \(--task\) control loads a pipeline that follows a control "
                                                       r"video: .* holds a WanPipeline: drop task \(--task\) control$"):
            vidlong.load_pipeline("default", device="cpu", task="control", loras=[zero_lora])
    condition = save_tiny_ltx2_pipeline(tmp_path / "condition", latest=True, pipeline="LTX2ConditionPipeline")
    assert type(vidlong.load_pipeline(condition, device="cpu", task="control", loras=[zero_lora])).__name__ == (
        "VidLongLTX2InContextPipeline")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "ic.safetensors").write_bytes(zero_lora.read_bytes())
    (linked / "vidlong.yaml").write_text(f"base: {own_folder}\nlora: ic.safetensors\n")
    assert type(vidlong.load_pipeline(linked, device="cpu", task="control")).__name__ == "VidLongLTX2InContextPipeline"
    own = vidlong.load_pipeline(own_folder, device="cpu")
    with pytest.raises(vidlong.VidlongError, match=r"^control_video \(--control-video\) is followed by LTX-2's in-context "
                                                   r"pipeline with an IC-LoRA, which this LTX2Pipeline is not: load its folder "
                                                   r"with task='control'"):
        generate(own, GenerateRequest(prompt="a red ball", control_video=str(reference_path)))


def test_an_ic_lora_its_vidlong_yaml_names_gives_the_call_its_factor_too(pipe, own_folder, reference_path, tmp_path):
    """LTX-2's own folder plus an IC-LoRA by its vidlong.yaml (base and lora) whose metadata records
    ``reference_downscale_factor`` 2, loaded with ``task="control"`` and no ``loras``: its call's reference at half the size,
    as the in-context folder's call given the factor (the LoRA's product zero)."""
    shape = pipe.transformer.state_dict()["transformer_blocks.0.attn1.to_q.weight"].shape
    linked = tmp_path / "linked"
    linked.mkdir()
    ic_lora(linked / "ic.safetensors", shape, {DOWNSCALE_KEY: "2"})
    (linked / "vidlong.yaml").write_text(f"base: {own_folder}\nlora: ic.safetensors\n")
    twin = vidlong.load_pipeline(linked, device="cpu", task="control")
    twin.set_progress_bar_config(disable=True)
    call = dict(prompt="a red ball", reference_video=str(reference_path), num_frames=9, height=64, width=64,
                num_inference_steps=1, output_type="latent")
    recorded = twin(generator=torch.Generator().manual_seed(1), **call).frames
    assert torch.equal(recorded, pipe(reference_downscale_factor=2, generator=torch.Generator().manual_seed(1), **call).frames)
