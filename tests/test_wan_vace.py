"""Wan VACE (`WanVACEPipeline`, `WanVACETransformer3DModel`) through its adapter: the methods on its blocks and its
VACE blocks (the control video's tokens on the video's grid). Methods off = the stock model bit for bit; each
method equal to the float64 reference in both kinds of block; `generate` = diffusers' call bit for bit; the CLI
generates with the methods; streaming, fifo and prompt timelines are refused in one line before any model loads."""
import json

import numpy as np
import pytest
import torch
from reference import WanReferenceAttention, rel_err

import vidlong
from vidlong.attention.adapters.wan_vace import WAN_VACE
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline
from vidlong.video_io import read_video

NATIVE = 3  # latent frames


@pytest.fixture(scope="module")
def vace_folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_vace_pipeline

    return save_tiny_vace_pipeline(tmp_path_factory.mktemp("vace"))


def vace_inputs(transformer, frames: int, dtype=torch.float32) -> dict:
    """Latents ``[1, 4, F, 4, 4]``, text states and control latents ``[1, 72, F, 4, 4]`` as its pipeline feeds it."""
    from conftest import TEXT_DIM

    gen = torch.Generator().manual_seed(4)
    return dict(hidden_states=torch.randn(1, 4, frames, 4, 4, generator=gen).to(dtype), timestep=torch.tensor([600.0]),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                control_hidden_states=torch.randn(1, transformer.config.vace_in_channels, frames, 4, 4, generator=gen).to(dtype),
                control_hidden_states_scale=torch.ones(1, dtype=dtype), return_dict=False)


def test_methods_off_removed_and_against_the_float64_reference(vace_folder):
    """Neutral settings and removal give the stock output bit for bit; UltraViCo and FreeLong++ in its blocks and its
    VACE blocks equal the float64 math of each (the VACE block's self-attention is one of the processors)."""
    frames = 4 * NATIVE
    pipe = load_pipeline(vace_folder, device="cpu")
    transformer = pipe.transformer
    attentions = [block.attn1 for block in (*transformer.blocks, *transformer.vace_blocks)]
    assert WAN_VACE.self_attentions(transformer) == attentions and len(attentions) == 3
    with torch.no_grad():
        stock = transformer(**vace_inputs(transformer, frames))[0]
        pipe.apply(vidlong.UltraViCo(alpha=1.0, guard_first_frame=False))
        assert torch.equal(transformer(**vace_inputs(transformer, frames))[0], stock)
        for method in (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))):
            pipe.apply(method, kernel="dense")
            out = transformer(**vace_inputs(transformer, frames))[0]
            reference = type(transformer).from_config(transformer.config).to(torch.float64)
            reference.load_state_dict({k: v.double() for k, v in transformer.state_dict().items()})
            for block in (*reference.blocks, *reference.vace_blocks):
                block.attn1.set_processor(WanReferenceAttention(method, frames, (2, 2), NATIVE))
            ref = reference(**vace_inputs(reference, frames, torch.float64))[0]
            assert rel_err(out, ref) < 1e-5 and rel_err(out, stock) > 1e-3
        pipe.remove()
        assert torch.equal(transformer(**vace_inputs(transformer, frames))[0], stock)
    assert all(type(a.processor).__name__ == "WanAttnProcessor" for a in attentions)


def test_generate_is_its_call_bit_for_bit_and_the_cli_generates_with_the_methods(vace_folder, tmp_path):
    from diffusers import WanVACEPipeline

    pipe = load_pipeline(vace_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongWanVACEPipeline" and pipe.facts()["family"] == "wan-vace"
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    stock = WanVACEPipeline.from_pretrained(vace_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    noise = torch.randn(1, 4, 2 * NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
    video = stock(prompt="a red ball", height=32, width=32, num_frames=4 * (2 * NATIVE - 1) + 1, num_inference_steps=2,
                  guidance_scale=2.0, latents=noise, output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))

    out = tmp_path / "vace.mp4"
    assert main(["generate", "--model", str(vace_folder), "--prompt", "a red ball", "--ratio", "2", "--method", "both",
                 "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert len(read_video(out)[0]) == settings["pixel_frames"] and [m["name"] for m in settings["methods"]] == ["UltraViCo",
                                                                                                            "SpectralFusion"]


@pytest.mark.parametrize("args, message", [
    (["stream", "--chunks", "2"], "streaming is not available for WanVACETransformer3DModel"),
    (["extend", "--video", "in.mp4", "--chunks", "1"], "streaming is not available for WanVACETransformer3DModel"),
    (["generate", "--method", "fifo", "--ratio", "2"], "needs a timestep per token, which WanVACETransformer3DModel does not take"),
    (["generate", "--prompt", "0s: a red ball; 1s: a blue ball", "--ratio", "2"], "timeline"),
    (["generate", "--image", "start.png"], "this model is text-to-video and takes no --image"),
], ids=["stream", "extend", "fifo", "timeline", "image"])
def test_what_it_does_not_do_is_refused_in_one_line_before_loading(vace_folder, tmp_path, capsys, monkeypatch, args, message):
    import vidlong.pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    prompt = [] if "--prompt" in args else ["--prompt", "a red ball"]
    assert main([args[0], "--model", str(vace_folder), *prompt, *args[1:], "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "vidlong extend" not in err[0], err  # it does not extend


def test_its_releases_take_wans_entries():
    """Wan2.1 VACE 1.3B / 14B and Wan2.2 VACE-Fun A14B have their text-to-video siblings' shapes: the same entries."""
    from vidlong.models import model_facts, spec_for_facts

    config = dict(num_layers=30, num_attention_heads=12, attention_head_dim=128, in_channels=16, vace_layers=[0, 2])
    assert spec_for_facts(model_facts(config, family="wan-vace")).name == "wan2.1-t2v-1.3b"
    big = dict(config, num_layers=40, num_attention_heads=40)
    assert spec_for_facts(model_facts(big, family="wan-vace")).name == "wan2.1-t2v-14b"
    assert spec_for_facts(model_facts(big, experts=2, family="wan-vace")).name == "wan2.2-t2v-a14b"


def test_a_control_video_sets_the_length(vace_folder):
    """Given a control video of 13 frames and no ``num_frames``, the call makes 13 frames (not the spec's native 9,
    which its control latents would not match)."""
    from PIL import Image

    pipe = load_pipeline(vace_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    frames = [Image.fromarray(np.full((32, 32, 3), 15 * i, np.uint8)) for i in range(13)]
    video = pipe(prompt="a red ball", video=frames, num_inference_steps=1, output_type="np").frames[0]
    assert video.shape[0] == 13


def test_two_experts_take_their_own_guidance(tmp_path):
    """Wan2.2 VACE-Fun's layout (two experts switched at boundary_ratio): `generate` with `guidance_2` is diffusers'
    call with that `guidance_scale_2` bit for bit, and the methods act on both experts."""
    from diffusers import WanVACEPipeline
    from tiny_pipeline import save_tiny_vace_pipeline

    save_tiny_vace_pipeline(tmp_path, experts=2)
    pipe = load_pipeline(tmp_path, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, guidance_2=5.0))
    stock = WanVACEPipeline.from_pretrained(tmp_path, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    noise = torch.randn(1, 4, NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
    video = stock(prompt="a red ball", height=32, width=32, num_frames=4 * (NATIVE - 1) + 1, num_inference_steps=2,
                  guidance_scale=2.0, guidance_scale_2=5.0, latents=noise, output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert not np.array_equal(generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, guidance_2=2.0)).frames,
                              own.frames)
    pipe.apply(vidlong.UltraViCo())
    assert len(pipe.experts()) == 2 and all(type(a.processor).__name__ == "VidlongAttnProcessor"
                                            for t in pipe.experts() for a in WAN_VACE.self_attentions(t))


def test_a_control_video_file_through_generate_and_the_cli(vace_folder, tmp_path):
    """`generate` with a control video file (13 frames at 10 fps) and its mask video: the call given their frames, bit for
    bit (the output as long as the control video, at its frame rate); `vidlong generate --control-video` at 2x the native
    window with both methods in one call; a bad control request refused in one line before loading."""
    from diffusers import WanVACEPipeline
    from PIL import Image

    from vidlong.video_io import write_video

    rng = np.random.default_rng(2)
    control, mask, long = tmp_path / "control.mp4", tmp_path / "mask.mp4", tmp_path / "long.mp4"
    write_video(control, rng.integers(0, 256, (13, 32, 32, 3), dtype=np.uint8), fps=10)
    write_video(mask, np.repeat(rng.integers(0, 2, (13, 32, 32, 1), dtype=np.uint8) * 255, 3, axis=-1), fps=10)
    write_video(long, rng.integers(0, 256, (22, 32, 32, 3), dtype=np.uint8), fps=10)
    pipe = load_pipeline(vace_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control), mask_video=str(mask), seed=3))
    assert own.frames.shape[0] == own.settings["pixel_frames"] == 13 and own.settings["fps"] == 10
    stock = WanVACEPipeline.from_pretrained(vace_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    noise = torch.randn(1, 4, 4, 4, 4, generator=torch.Generator().manual_seed(3))
    frames = {name: [Image.fromarray(frame) for frame in read_video(path)[0]] for name, path in (("video", control), ("mask", mask))}
    video = stock(prompt="a red ball", **frames, height=32, width=32, num_frames=13, num_inference_steps=2, guidance_scale=2.0,
                  latents=noise, output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))

    out = tmp_path / "controlled.mp4"
    assert main(["generate", "--model", str(vace_folder), "--prompt", "a red ball", "--control-video", str(long),
                 "--method", "both", "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert len(read_video(out)[0]) == settings["pixel_frames"] == 21 and settings["latent_frames"] == 2 * NATIVE
    assert settings["control_video"] == str(long) and settings["fps"] == 10


@pytest.mark.parametrize("flags, message", [
    (["--mask-video", "{mask}"], "marks where a VACE model generates over its control video: pass --control-video too"),
    (["--control-video", "{control}", "--ratio", "2"], "a controlled video is as long as its --control-video: drop --ratio"),
    (["--control-video", "{control}", "--frames", "17"], "--frames 17 is more than the video's 13 frames"),
    (["--control-video", "{control}", "--mask-video", "{short}"], "--mask-video has fewer frames than the 13 of the control"),
    (["--control-video", "{control}", "--model", "default"], "--control-video guides a Wan VACE model (WanVACEPipeline), a "
                                                             "CogVideoX-Fun control model (CogVideoXFunControlPipeline), "
                                                             "Cosmos-Transfer2.5 (Cosmos2_5_TransferPipeline), LTX-2 with "
                                                             "an IC-LoRA (LTX2InContextPipeline) or its HDR IC-LoRA "
                                                             "(LTX2HDRPipeline); this model takes none"),
], ids=["mask-alone", "ratio", "frames", "short-mask", "not-vace"])
def test_bad_control_requests_are_refused_in_one_line_before_loading(vace_folder, tmp_path, capsys, monkeypatch, flags, message):
    import vidlong.pipeline
    from vidlong.video_io import write_video

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    paths = {"{control}": tmp_path / "control.mp4", "{mask}": tmp_path / "mask.mp4", "{short}": tmp_path / "short.mp4"}
    for name, frames in (("{control}", 13), ("{mask}", 13), ("{short}", 5)):
        write_video(paths[name], np.zeros((frames, 32, 32, 3), np.uint8), fps=8)
    flags = [str(paths.get(flag, flag)) for flag in flags]
    model = [] if "--model" in flags else ["--model", str(vace_folder)]
    assert main(["generate", *model, "--prompt", "a red ball", *flags, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_fuzz_of_a_control_request_gives_one_line_refusals_or_passes(vace_folder, tmp_path):
    """Random values in a control request's fields (its control and mask videos, length, method) are passed or refused by
    `check_generate` in one line, never another exception."""
    from conftest import fuzz_requests

    from vidlong.validate import limits_for_folder
    from vidlong.video_io import write_video

    write_video(tmp_path / "control.mp4", np.zeros((13, 32, 32, 3), np.uint8), fps=8)
    valid = dict(prompt="a red ball", control_video=str(tmp_path / "control.mp4"), mask_video=str(tmp_path / "control.mp4"),
                 frames=None, ratio=1.0, method="both", height=None, width=None)
    outcomes = fuzz_requests(limits_for_folder(vace_folder), valid, cases=150)
    assert outcomes["ok"] > 10 and outcomes["refused"] > 30, outcomes


def test_a_control_video_smaller_than_the_model_is_resized_to_the_video(vace_folder, tmp_path):
    """A 16x16 control video on a model of 32x32: the video is made at 32x32 (its aspect at the model's pixel area) and the
    control frames resized to it (diffusers' call would keep them at 16x16, which latents of 32x32 do not match)."""
    from vidlong.video_io import write_video

    control = tmp_path / "small.mp4"
    write_video(control, np.random.default_rng(3).integers(0, 256, (9, 16, 16, 3), dtype=np.uint8), fps=8)
    pipe = load_pipeline(vace_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control), steps=1))
    assert result.frames.shape == (9, 32, 32, 3) and (result.settings["height"], result.settings["width"]) == (32, 32)


def test_reference_images_lead_the_grid_as_its_call_places_them(vace_folder, tmp_path, capsys):
    """`generate` with a reference image (and no control video): its latent frame leads the grid, as diffusers' call places
    it (the start noise one frame longer), the same video bit for bit; `vidlong generate --reference-images` of two makes
    the native length; another model refuses them in one line before loading."""
    from diffusers import WanVACEPipeline
    from PIL import Image

    png = tmp_path / "subject.png"
    Image.fromarray(np.random.default_rng(8).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(png)
    pipe = load_pipeline(vace_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", reference_images=[str(png)], seed=6))
    assert own.frames.shape[0] == 4 * (NATIVE - 1) + 1 and own.settings["reference_images"] == [str(png)]
    from vidlong.estimate import run_cost

    plain = GenerateRequest(prompt="a red ball")  # the run estimate counts the reference's latent frame too
    assert run_cost(pipe, GenerateRequest(prompt="a red ball", reference_images=[str(png)]), NATIVE).flops > run_cost(
        pipe, plain, NATIVE).flops
    stock = WanVACEPipeline.from_pretrained(vace_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    noise = torch.randn(1, 4, NATIVE + 1, 4, 4, generator=torch.Generator().manual_seed(6))
    video = stock(prompt="a red ball", reference_images=[Image.open(png).convert("RGB")], height=32, width=32,
                  num_frames=4 * (NATIVE - 1) + 1, num_inference_steps=2, guidance_scale=2.0, latents=noise,
                  output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    out = tmp_path / "referenced.mp4"
    assert main(["generate", "--model", str(vace_folder), "--prompt", "a red ball", "--reference-images", str(png), str(png),
                 "--method", "both", "--out", str(out)]) == 0
    assert len(read_video(out)[0]) == 4 * (NATIVE - 1) + 1
    assert main(["generate", "--prompt", "a red ball", "--reference-images", str(png), "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "vidlong: error: --reference-images guide a Wan VACE model (WanVACEPipeline); this model takes none: drop it"
