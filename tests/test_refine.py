"""Stage 2 of LTX-Video's and LTX-2's two-stage generation after ``--upsample`` (`vidlong.refine`, ``vidlong generate
--upsample --refine``): with no method, `generate`'s video is diffusers' two-stage flow written out by hand (stage 1's call
with latents out, the latent upsample pipeline, stage 2's call with the docs' arguments, decoded), bit for bit, for
LTX-Video text- and image-to-video and LTX-2 text-to-video (its sound too); with both methods it differs and the
transformer is stock again after; an LTX-2 stage-2 LoRA changes stage 2 alone and is taken out after; the CLI's mp4 and
sidecar; what cannot refine refused in one line before loading. Tiny random folders with a tiny random upsampler in
``latent_upsampler/`` (`test_upsample`'s)."""
import json

import numpy as np
import pytest
import torch

import vidlong
import test_upsample
from family_checks import check_refused_before_loading
from test_upsample import as_uint8
from vidlong.generate import GenerateRequest, generate
from vidlong.refine import LTX2_UNGUIDED

folders, kind_folder = test_upsample.folders, test_upsample.kind_folder  # its tiny folders with their upsamplers

REQUEST = dict(prompt="a red ball", ratio=2, seed=3, upsample=True, refine=True)  # 4 latent frames = 25 frames, 64x64


def stock_two_stage(folder, family, image=None, condition=False):
    """uint8 frames (and LTX-2's waveform) of diffusers' two-stage flow as its docs write it, on the tiny `folder`: stage 1
    (the folder's pipeline, its image-to-video twin given `image`, or with `condition` `LTXConditionPipeline` and the image
    its ``image=``, at the spec's 64x64, 25 frames, 2 steps, its guidance, seed 3) with latents out (`LTXPipeline`'s packed
    tokens unpacked); the folder's latent upsampler (`LTXLatentUpsamplePipeline` / `LTX2LatentUpsamplePipeline`, latents
    out); stage 2 at 128x128 with the docs' arguments (LTX-Video: `LTXConditionPipeline.from_pipe`, its scheduler without
    dynamic shifting where it shifts so, ``denoise_strength`` 0.4 of 10 steps, ``decode_timestep`` 0.05,
    ``image_cond_noise_scale`` 0.025, the image a frame-0 condition; LTX-2: its scheduler without dynamic or terminal
    shift, ``STAGE_2_DISTILLED_SIGMA_VALUES``, ``noise_scale`` its first, stage 1's sound latents, every guidance knob off:
    ``guidance_scale=1.0`` alone leaves diffusers' audio, spatio-temporal and modality guidance on), seed 3, its VAE tiled."""
    import diffusers
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES
    from PIL import Image

    from vidlong.upsample import upsample_classes

    name = {"ltx-video": "LTX", "ltx-2": "LTX2"}[family] + ("ImageToVideoPipeline" if image is not None else "Pipeline")
    name = "LTXConditionPipeline" if condition else name
    pipe = getattr(diffusers, name).from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    given = {} if image is None else dict(image=Image.open(image).convert("RGB"))
    fps = 25 if family == "ltx-video" else 24
    guidance = 2.0 if family == "ltx-video" else 3.0
    stage1 = pipe(prompt="a red ball", height=64, width=64, num_frames=25, num_inference_steps=2, guidance_scale=guidance,
                  frame_rate=fps, generator=torch.Generator().manual_seed(3), output_type="latent", **given)
    latents = stage1.frames  # LTXPipeline's and its image twin's come packed [1, S, C]: unpacked to [1, C, F, h, w]
    latents = pipe._unpack_latents(latents, 4, 2, 2, 1, 1) if latents.ndim == 3 else latents
    model_class, upsample_class = upsample_classes(family)
    upsample = upsample_class(vae=pipe.vae, latent_upsampler=model_class.from_pretrained(folder, subfolder="latent_upsampler"))
    upsampled = upsample(latents=latents, output_type="latent", return_dict=False)[0]
    pipe.vae.enable_tiling()
    common = dict(prompt="a red ball", height=128, width=128, num_frames=25, frame_rate=fps, latents=upsampled,
                  generator=torch.Generator().manual_seed(3), output_type="np", **given)
    if family == "ltx-video":  # a dynamically shifting scheduler (0.9.0/0.9.1's) without it: LTXConditionPipeline passes no mu
        shifting = pipe.scheduler.config.use_dynamic_shifting
        stage2 = LTXConditionPipeline.from_pipe(pipe, **dict(scheduler=FlowMatchEulerDiscreteScheduler.from_config(
            pipe.scheduler.config, use_dynamic_shifting=False)) if shifting else {})
        stage2.set_progress_bar_config(disable=True)
        out = stage2(**common, denoise_strength=0.4, num_inference_steps=10, guidance_scale=guidance, decode_timestep=0.05,
                     image_cond_noise_scale=0.025)
        return as_uint8(out.frames[0]), None
    pipe.scheduler = FlowMatchEulerDiscreteScheduler.from_config(pipe.scheduler.config, use_dynamic_shifting=False,
                                                                 shift_terminal=None)
    unguided = dict(guidance_scale=1.0, audio_guidance_scale=1.0, stg_scale=0.0, audio_stg_scale=0.0, modality_scale=1.0,
                    audio_modality_scale=1.0, guidance_rescale=0.0, audio_guidance_rescale=0.0)
    out = pipe(**common, audio_latents=stage1.audio, sigmas=STAGE_2_DISTILLED_SIGMA_VALUES, num_inference_steps=3,
               noise_scale=STAGE_2_DISTILLED_SIGMA_VALUES[0], **unguided)
    return as_uint8(out.frames[0]), out.audio[0].float().clamp(-1, 1).numpy()


@pytest.mark.parametrize("family, task, kind", [("ltx-video", None, None), ("ltx-video", "i2v", None),
                                               ("ltx-video", None, "ltx-condition"), ("ltx-video", "i2v", "ltx-condition-image"),
                                               ("ltx-2", None, None), ("ltx-2", "i2v", None)])
def test_method_off_is_diffusers_two_stage_flow_bit_for_bit(folders, kind_folder, family, task, kind, image_path):
    """`generate(upsample=True, refine=True)` with no method (an `LTXPipeline` folder, as text- and image-to-video; an
    `LTXConditionPipeline` folder, from text and an image; an `LTX2Pipeline` folder, as text- and image-to-video): its frames
    (128x128 from a 64x64 video, 25 frames) are `stock_two_stage`'s bit for bit, LTX-2's sound is stage 2's waveform; the
    stage-1 latents are the video's without ``refine``; progress reaches the end of a "refine" stage (4 steps of
    LTX-Video's 10 at 0.4; LTX-2's 3 sigmas); the settings record the resolved stage-2 settings."""
    folder = kind_folder(kind) if kind else folders[family]
    pipe = vidlong.load_pipeline(folder, task=task)
    pipe.set_progress_bar_config(disable=True)
    image = dict(image=str(image_path)) if task else {}
    seen = []
    refined = generate(pipe, GenerateRequest(**REQUEST, **image), progress=lambda *report: seen.append(report))
    frames, audio = stock_two_stage(folder, family, image_path if task else None, condition=kind is not None)
    assert refined.frames.shape == (25, 128, 128, 3) and np.array_equal(refined.frames, frames)
    if audio is not None:
        assert np.array_equal(refined.audio.samples, audio)
    plain = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, **image))
    assert torch.equal(refined.latents, plain.latents)
    steps = [done for stage, done, total in seen if stage == "refine"]
    assert steps == ([0, 1, 2, 3, 4] if family == "ltx-video" else [0, 1, 2, 3])  # 0 as stage 2 starts, at its upsampling
    settings = refined.settings["refine_pass"]
    assert settings == (dict(steps=10, strength=0.4, guidance=2.0, decode_timestep=0.05, image_cond_noise_scale=0.025)
                        if family == "ltx-video" else dict(sigmas=[0.909375, 0.725, 0.421875], noise_scale=0.909375,
                                                           guidance=LTX2_UNGUIDED, lora=None))
    assert refined.settings["refine"] is True and refined.settings["upsampled_height"] == 128


def test_ltx2_stage_2_runs_one_unguided_forward_a_step(folders):
    """LTX-2's stage 2 runs the positive prompt alone: at the upsampled grid (4 latent frames of 4x4 tokens) its transformer
    runs once a step with a batch of 1, 3 forwards for the 3 sigmas (not diffusers' defaults behind ``guidance_scale=1.0``:
    a batch of 2 for audio guidance, then spatio-temporal and modality forwards, 9 in all)."""
    pipe = vidlong.load_pipeline(folders["ltx-2"])
    pipe.set_progress_bar_config(disable=True)
    shapes = []
    hook = pipe.transformer.register_forward_pre_hook(lambda _m, _a, kwargs: shapes.append(tuple(kwargs["hidden_states"].shape)),
                                                      with_kwargs=True)
    try:
        generate(pipe, GenerateRequest(**REQUEST))
    finally:
        hook.remove()
    assert [shape[:2] for shape in shapes if shape[1] == 64] == [(1, 64)] * 3


@pytest.mark.parametrize("family", ["ltx-video", "ltx-2"])
def test_both_methods_change_the_refined_video_and_are_removed_after(folders, family):
    """With method "both" (the 2x preset's settings) the refined video differs from the method-off one, and after the run
    the transformer is stock again: the method-off refined video once more, bit for bit."""
    pipe = vidlong.load_pipeline(folders[family])
    pipe.set_progress_bar_config(disable=True)
    off = generate(pipe, GenerateRequest(**REQUEST))
    on = generate(pipe, GenerateRequest(**REQUEST, method="both", preset="2x"))
    assert not np.array_equal(on.frames, off.frames) and on.frames.shape == off.frames.shape
    assert np.array_equal(generate(pipe, GenerateRequest(**REQUEST)).frames, off.frames)


def tiny_stage2_lora(state: dict, path):
    """A tiny random rank-2 LoRA of the LTX-2 transformer whose weights are `state`: its video self-attention queries and
    values, in diffusers' format (``transformer.<module>.lora_A.weight`` / ``lora_B.weight``; peft is not installed here),
    saved at `path` (returned)."""
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(5)
    tensors = {}
    for name, weight in state.items():
        if name.endswith(("attn1.to_q.weight", "attn1.to_v.weight")):
            module = name[: -len(".weight")]
            tensors[f"transformer.{module}.lora_A.weight"] = torch.randn(2, weight.shape[1], generator=generator)
            tensors[f"transformer.{module}.lora_B.weight"] = torch.randn(weight.shape[0], 2, generator=generator)
    assert tensors
    save_file(tensors, str(path))
    return path


def test_ltx2_refine_lora_changes_stage_2_alone_and_is_taken_out(folders, tmp_path):
    """`tiny_stage2_lora` given as ``refine_lora`` (``FILE:SCALE``): the stage-1 latents are the ones without it, the
    refined video differs, the settings record it, and the transformer's weights are those before the run, bit for bit."""
    pipe = vidlong.load_pipeline(folders["ltx-2"])
    pipe.set_progress_bar_config(disable=True)
    before = {name: value.clone() for name, value in pipe.transformer.state_dict().items()}
    lora = tiny_stage2_lora(before, tmp_path / "stage2.safetensors")
    off = generate(pipe, GenerateRequest(**REQUEST))
    with_lora = generate(pipe, GenerateRequest(**REQUEST, refine_lora=f"{lora}:0.5"))
    assert torch.equal(with_lora.latents, off.latents) and not np.array_equal(with_lora.frames, off.frames)
    assert with_lora.settings["refine_pass"]["lora"] == dict(path=str(lora), scale=0.5, expert=0)
    after = pipe.transformer.state_dict()
    assert all(torch.equal(after[name], value) for name, value in before.items())


def test_ltx_video_with_a_dynamically_shifting_scheduler_refines_without_its_shift(folders, tmp_path):
    """An LTX-Video folder with LTX-Video 0.9.0/0.9.1's scheduler (dynamic shifting from 0.95 at 1024 tokens to 2.05 at 4096,
    stretched to a terminal 0.1), on which `LTXConditionPipeline`'s own call raises (it passes no ``mu``): stage 1 shifts
    its sigmas by the token count, stage 2 runs a copy of the scheduler without dynamic shifting (its terminal stretch
    kept), and the refined video is `stock_two_stage`'s bit for bit; the loaded pipeline's scheduler is not changed."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline

    folder = tmp_path / "ltx-0.9.1"
    folder.mkdir()
    for part in folders["ltx-video"].iterdir():
        if part.name != "scheduler":
            (folder / part.name).symlink_to(part)
    shifting = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                               base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    shifting.save_pretrained(folder / "scheduler")
    pipe = vidlong.load_pipeline(folder)
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(ValueError, match="mu"):
        LTXConditionPipeline.from_pipe(pipe)(prompt="a red ball", height=64, width=64, num_frames=9, num_inference_steps=2)
    refined = generate(pipe, GenerateRequest(**REQUEST))
    assert np.array_equal(refined.frames, stock_two_stage(folder, "ltx-video")[0])
    assert pipe.scheduler.config.use_dynamic_shifting and pipe.scheduler.config.shift_terminal == 0.1


@pytest.mark.parametrize("family", ["ltx-video", "ltx-2"])
def test_a_prompt_timeline_is_refined_segment_by_segment(folders, family):
    """``--prompt "0s: a red ball; 0.5s: ..."`` with ``refine``: stage 1's latents are the timeline's without it, and stage 2
    follows the timeline too (its hooks read the upsampled grid; LTX-Video's segments encoded as `LTXConditionPipeline`
    encodes a prompt): a timeline of one text twice is the refined video of that one prompt within a grey level (LTX-Video's
    was 66 apart with stage 1's T5 encodings), and one with another text after 0.5 s differs from it."""
    pipe = vidlong.load_pipeline(folders[family])
    pipe.set_progress_bar_config(disable=True)
    one = generate(pipe, GenerateRequest(**REQUEST))
    same = generate(pipe, GenerateRequest(**dict(REQUEST, prompt="0s: a red ball; 0.5s: a red ball")))
    other = generate(pipe, GenerateRequest(**dict(REQUEST, prompt="0s: a red ball; 0.5s: a blue cube")))
    plain = generate(pipe, GenerateRequest(**dict(REQUEST, prompt="0s: a red ball; 0.5s: a blue cube", refine=False)))
    assert torch.equal(other.latents, plain.latents) and [entry["latent_frame"] for entry in other.settings["timeline"]] == [0, 2]
    assert np.abs(same.frames.astype(int) - one.frames.astype(int)).max() <= 1
    assert not np.array_equal(other.frames, same.frames)


def test_the_stage_2_lora_file_is_read_once_a_run(folders, tmp_path, monkeypatch, capsys):
    """``vidlong generate --upsample --refine --refine-lora FILE`` reads the file once (`vidlong.lora.read_lora`): its check
    before loading keeps the modules on the request for its run (`vidlong.refine.lora_reads`), which takes them; `generate`
    from Python reads it once too; a file changed since the request's check is read again; nothing is kept after a run,
    and nothing outside the request (no module state)."""
    from safetensors.torch import save_file

    import vidlong.lora
    from vidlong.cli import main
    from vidlong.refine import lora_reads

    pipe = vidlong.load_pipeline(folders["ltx-2"])
    pipe.set_progress_bar_config(disable=True)
    weight = pipe.transformer.get_parameter("transformer_blocks.0.attn1.to_q.weight")
    lora = tmp_path / "stage2.safetensors"
    save_file({"transformer.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.ones(2, weight.shape[1]),
               "transformer.transformer_blocks.0.attn1.to_q.lora_B.weight": torch.ones(weight.shape[0], 2)}, str(lora))
    reads, read = [], vidlong.lora.read_lora
    monkeypatch.setattr(vidlong.lora, "read_lora", lambda *args, **kwargs: reads.append(args[0]) or read(*args, **kwargs))
    out = tmp_path / "refined.mp4"
    assert main(["generate", "--model", str(folders["ltx-2"]), "--prompt", "a red ball", "--ratio", "2", "--seed", "3",
                 "--upsample", "--refine", "--refine-lora", str(lora), "--out", str(out)]) == 0, capsys.readouterr().err
    assert reads == [lora]
    request = GenerateRequest(**REQUEST, refine_lora=str(lora))
    generate(pipe, request)
    assert reads == [lora] * 2 and lora_reads(request) == {}
    from vidlong.validate import check_generate, limits_for_pipeline

    request = GenerateRequest(**REQUEST, refine_lora=str(lora))
    check_generate(request, limits_for_pipeline(pipe))
    assert reads == [lora] * 3 and len(lora_reads(request)) == 1
    save_file({"transformer.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.zeros(2, weight.shape[1]),
               "transformer.transformer_blocks.0.attn1.to_q.lora_B.weight": torch.zeros(weight.shape[0], 2)}, str(lora))
    generate(pipe, request)
    assert reads == [lora] * 4 and lora_reads(request) == {}


def test_merged_lora_writes_the_adapted_weights_alone_and_puts_them_back(folders):
    """`merged_lora` on the tiny LTX-2 transformer with two LoRA modules (one with a ``lora_B`` bias): within it the adapted
    weight and bias are ``W + f·B·A`` and ``b + f·b_B`` (float64, then float32: `add_modules` on a copy of the state), and
    no other parameter is written (torch's version counter of each is unchanged: no load of the whole state); after it
    every parameter is as before, bit for bit."""
    from vidlong.lora import add_modules, lora_modules
    from vidlong.refine import merged_lora

    transformer = vidlong.load_pipeline(folders["ltx-2"]).transformer
    params = dict(transformer.named_parameters())
    before = {name: param.detach().clone() for name, param in params.items()}
    generator = torch.Generator().manual_seed(7)
    lora = {}
    for module in ("transformer_blocks.0.attn1.to_q", "transformer_blocks.0.attn2.to_v"):
        out, inner = params[f"{module}.weight"].shape
        lora.update({f"{module}.lora_A.weight": torch.randn(2, inner, generator=generator),
                     f"{module}.lora_B.weight": torch.randn(out, 2, generator=generator)})
    lora["transformer_blocks.0.attn1.to_q.lora_B.bias"] = torch.randn(params["transformer_blocks.0.attn1.to_q.bias"].shape,
                                                                     generator=generator)
    modules = lora_modules(lora, {name: tuple(value.shape) for name, value in before.items()}, 0.5)
    expected = dict(before)
    add_modules(expected, modules)
    adapted = {"transformer_blocks.0.attn1.to_q.weight", "transformer_blocks.0.attn1.to_q.bias",
               "transformer_blocks.0.attn2.to_v.weight"}
    versions = {name: param._version for name, param in params.items() if name not in adapted}
    with merged_lora(transformer, modules):
        assert all(torch.equal(params[name], expected[name]) and not torch.equal(params[name], before[name]) for name in adapted)
        assert {name: params[name]._version for name in versions} == versions
    assert all(torch.equal(param, before[name]) for name, param in params.items())
    assert {name: params[name]._version for name in versions} == versions


def test_vidlong_generate_refine_writes_the_mp4_and_records_it(folders, tmp_path, run_bars):
    """``vidlong generate --upsample --refine --refine-steps 5 --refine-strength 0.6``: the mp4 at 128x128, its sidecar
    recording the flags and the resolved stage-2 settings (3 steps of 5); its one bar counts the video's 2 steps and stage
    2's 3 to its total, known from its first draw."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "refined.mp4"
    assert main(["generate", "--model", str(folders["ltx-video"]), "--prompt", "a red ball", "--ratio", "2", "--seed", "3",
                 "--upsample", "--refine", "--refine-steps", "5", "--refine-strength", "0.6", "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert read_video(out)[0].shape == (25, 128, 128, 3)
    assert (settings["refine"], settings["refine_steps"], settings["refine_strength"]) == (True, 5, 0.6)
    assert settings["refine_pass"]["steps"] == 5 and settings["refine_pass"]["strength"] == 0.6
    [shown] = run_bars.values()  # (stage, count, total)
    assert {total for *_, total in shown} == {2 + 3} and shown[-1][1:] == (5, 5)


@pytest.mark.parametrize("family", ["ltx-video", "ltx-2"])
def test_the_estimate_counts_stage_2_at_twice_the_size(folders, family):
    """`run_cost` of a refined request: the upsampled run's FLOPs plus stage 2's, its steps' forwards (LTX-Video's 4 of 10
    steps, guided: its pipeline's forwards a step; LTX-2's 3 sigmas, one unguided forward each) over the 4x tokens of the
    2x size (`estimate.block_flops` per block), and its memory at that size; the upsampled run's decoded video too (4x the
    video made without the upsampler)."""
    from vidlong.estimate import block_flops, run_cost, transformer_sizes, video_tokens

    pipe = vidlong.load_pipeline(folders[family])
    upsampled = run_cost(pipe, GenerateRequest(**dict(REQUEST, refine=False)), 4)
    refined = run_cost(pipe, GenerateRequest(**REQUEST), 4)
    heads, dim, ffn, layers = transformer_sizes(pipe.transformer.config)
    tokens = video_tokens(pipe.geometry(), 4, 128, 128)
    forwards = 4 * pipe.forwards_per_step(pipe.spec.guidance_scale) if family == "ltx-video" else 3
    assert tokens == 64 and refined.flops - upsampled.flops == pytest.approx(block_flops(tokens, dim, ffn, 1) * layers * forwards)
    made = run_cost(pipe, GenerateRequest(**dict(REQUEST, refine=False, upsample=None)), 4)
    assert refined.video_bytes == upsampled.video_bytes == 4 * made.video_bytes and refined.upsampled == (2.0, 128, 128)
    assert refined.peak_bytes >= upsampled.peak_bytes > made.peak_bytes and made.upsampled is None


def test_vidlong_info_says_whether_the_folder_refines(folders, kind_folder, tmp_path):
    """`vidlong info`: ``refine: yes`` for an LTX-Video and an LTX-2 folder with their own ``latent_upsampler/`` (and an
    `LTXConditionPipeline` one), else no with ``generate --upsample --refine``'s line: an LTX-2 folder without an upsampler
    (the upsampler's), LTX-Video's long multi-prompt pipeline and a Wan folder (``--refine``'s: neither has a stage 2,
    LTX's or Sana-WM's, whatever upsampler it is given)."""
    from test_upsample import without_upsampler
    from tiny_pipeline import save_tiny_pipeline

    from vidlong.info import info_lines, model_info

    for folder in (*folders.values(), kind_folder("ltx-condition")):
        assert model_info(folder)["can"]["refine"] == {"yes": True}
        assert "  refine: yes" in info_lines(model_info(folder))
    bare = model_info(without_upsampler(folders["ltx-2"], tmp_path / "bare"))["can"]["refine"]
    assert not bare["yes"] and bare["why"].endswith("has no latent_upsampler/ folder; pass the folder of LTX-2's latent "
                                                    "upsampler (--upsample path/to/upsampler)")
    long = model_info(kind_folder("ltx-long"))["can"]["refine"]
    assert long == {"yes": False, "why": "--refine runs stage 2 of LTX-Video's and LTX-2's text- and image-to-video two-stage "
                                         "flow and Sana-WM's refiner; this model (LTXI2VLongMultiPromptPipeline) has none in "
                                         "vidlong: drop --refine"}
    wan = model_info(save_tiny_pipeline(tmp_path / "wan"))["can"]["refine"]
    assert not wan["yes"] and wan["why"].startswith("--refine runs stage 2 of LTX-Video's") and "(WanPipeline)" in wan["why"]


@pytest.mark.parametrize("model, args, message", [
    ("ltx-video", ["--refine"], "--refine denoises the upsampled latents again at their new size (LTX's stage 2): add "
                                "--upsample, or drop --refine"),
    ("ltx-video", ["--upsample", "--refine", "{tmp}"], "--refine is True or False, got '{tmp}' (a folder: Sana-WM's refiner's "
                                                       "alone)"),
    ("ltx-video", ["--refine-steps", "4"], "--refine-steps sets the refine pass: add --refine (with --upsample), or drop "
                                           "--refine-steps"),
    ("ltx-video", ["--upsample", "--refine", "--refine-strength", "1"], "--refine-strength must be a number in (0, 1)"),
    ("ltx-video", ["--upsample", "--refine", "--refine-strength", "0.05"], "--refine-strength 0.05 of 10 steps runs none"),
    ("ltx-video", ["--upsample", "--refine", "--refine-steps", "0"], "--refine-steps must be a whole number from 1"),
    ("ltx-video", ["--upsample", "--refine", "--refine-lora", "{tmp}/x.safetensors"], "--refine-lora loads LTX-2's "
                                                                                      "distilled LoRA for its stage 2"),
    ("ltx-video", ["--upsample", "--refine", "--method", "fifo"], "method fifo's diagonal denoising runs no whole-video call"),
    ("ltx-2", ["--upsample", "--refine", "--refine-steps", "4"], "LTX-2's refine pass runs its 3 distilled stage-2 sigmas"),
    ("ltx-2", ["--upsample", "--refine", "--refine-lora", "{tmp}/missing.safetensors"], "--refine-lora {tmp}/missing."
                                                                                        "safetensors does not exist"),
    ("ltx-2", ["--upsample", "--refine", "--refine-lora", "{tmp}/other.safetensors"], "is the LoRA made for this model?"),
    ("ltx-long", ["--upsample", "--refine"], "this model (LTXI2VLongMultiPromptPipeline) has none in vidlong: drop --refine"),
    ("ltx2-condition", ["--upsample", "--refine"], "this model (LTX2ConditionPipeline) has none in vidlong"),
    ("wan", ["--refine"], "this model (WanPipeline) has none in vidlong: drop --refine"),
    ("ltx-2", ["--upsample", "--refine", "--parallel", "ulysses"], "splits the main pass only; --upsample runs on one device"),
], ids=["no-upsample", "folder-on-ltx", "steps-alone", "strength-1", "no-step", "steps-0", "lora-on-ltx-video", "fifo", "ltx2-steps",
        "lora-missing", "lora-of-another-model", "long-multi-prompt", "ltx2-condition", "wan", "parallel"])
def test_what_cannot_refine_is_refused_in_one_line_before_loading(folders, kind_folder, tmp_path, capsys,
                                                                   monkeypatch, model, args, message):
    """Each refusal one line, exit code 2, no model loaded (`check_refused_before_loading`)."""
    from safetensors.torch import save_file
    from tiny_pipeline import save_tiny_pipeline

    save_file({"transformer.nowhere.lora_A.weight": torch.zeros(2, 8), "transformer.nowhere.lora_B.weight": torch.zeros(8, 2)},
              str(tmp_path / "other.safetensors"))
    models = {"ltx-video": lambda: folders["ltx-video"], "ltx-2": lambda: folders["ltx-2"],
              "ltx-long": lambda: kind_folder("ltx-long"), "ltx2-condition": lambda: kind_folder("ltx2-first-last-frame"),
              "wan": lambda: save_tiny_pipeline(tmp_path / "wan")}
    folder = models[model]()
    filled = [arg.format(tmp=tmp_path) for arg in args]
    said = check_refused_before_loading(["generate", "--model", str(folder), "--prompt", "a red ball", *filled],
                                        tmp_path / "x.mp4", capsys, monkeypatch)
    assert message.format(tmp=tmp_path) in said, said
