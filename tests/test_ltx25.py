"""LTX-2.5 (`LTX2DFRPipeline`: one DFR pass, its keyframe slots after its padded canvas) under vidlong: methods off = the
stock transformer bit for bit and each method equal to the float64 dense reference on the canvas's tokens (the slots after
them as trailing tokens), on the inputs its call makes; `generate` with no method = diffusers' call bit for bit (video and
sound; a request shorter than its canvas trimmed as its call trims it), the methods acting through its call's forwards
and removed after, from text and from a first and a last image (its ``conditions``); the CLI end to end; what it does not
take refused in one line before loading."""
import numpy as np
import pytest
import torch
from conftest import ltx2_inputs, tiny_ltx2_transformer
from family_checks import NEUTRAL, block_self_attentions, check_methods_off_and_removed
from reference import LTX2ReferenceAttention, rel_err

import vidlong

NATIVE = 2  # latent frames
GRID = (2, 2)  # latent height, width of the tiny folder's 64x64 (patch 1: token rows, columns)
CANVAS, SLOTS = 4, 1  # a 17-frame request: its canvas of 25 pixel (4 latent) frames, one keyframe slot at pixel frame 24


@pytest.fixture(scope="module")
def dfr_folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2.5"), latest=True, pipeline="LTX2DFRPipeline",
                                   keyframes=True, name="tiny-ltx2.5", num_inference_steps=8, guidance_scale=1.0)


@pytest.fixture(scope="module")
def dfr_pipe(dfr_folder):
    pipe = vidlong.load_pipeline(dfr_folder)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def dfr_stock(dfr_folder):
    """diffusers' own `LTX2DFRPipeline` from the folder, its own parts (its call sets its tokenizer's padding side)."""
    from diffusers import LTX2DFRPipeline

    stock = LTX2DFRPipeline.from_pretrained(dfr_folder)
    stock.set_progress_bar_config(disable=True)
    return stock


@pytest.fixture(scope="module")
def dfr_inputs(dfr_pipe):
    """`run`'s inputs but the dtype: its call's tokens for a 17-frame request (canvas then slot, `prepare_latents`), their
    ``video_coords`` and keyframes mask, and the canvas's latent sizes its forwards are handed."""
    from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas

    frames, _, slots = resolve_canvas(17)
    assert (frames, slots) == (8 * (CANVAS - 1) + 1, [24])
    latents, _, _, coords, marks, _ = dfr_pipe.prepare_latents(
        slot_frame_indices=slots, num_channels_latents=dfr_pipe.transformer.config.in_channels, height=64, width=64,
        num_frames=frames, frame_rate=24.0, dtype=torch.float32, device=torch.device("cpu"),
        generator=torch.Generator().manual_seed(0))
    assert latents.shape[1] == (CANVAS + SLOTS) * GRID[0] * GRID[1]
    return dict(video_coords=coords, video_keyframes_mask=marks, num_frames=CANVAS, height=GRID[0], width=GRID[1],
                use_cross_timestep=True), latents


def run(model, inputs, dtype=torch.float32):
    extra, latents = inputs
    args = dict(ltx2_inputs(CANVAS + SLOTS, *GRID, dtype=dtype), **extra, hidden_states=latents.to(dtype))
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**args)])  # video and audio


def test_methods_off_and_removed_are_stock_bit_for_bit_on_its_calls_tokens(dfr_inputs):
    """And its forward given ``video_coords`` alone (diffusers' own call), whose slots they do not tell from the canvas's
    frames, refused in one line under the methods."""
    check_methods_off_and_removed(lambda: tiny_ltx2_transformer(latest=True, keyframes=True), lambda m: run(m, dfr_inputs),
                                  block_self_attentions, "LTX2PerturbedAttnProcessor", 2, NATIVE,
                                  neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())),
                                  methods=(vidlong.UltraViCo(), vidlong.SpectralFusion()))
    model = tiny_ltx2_transformer(latest=True, keyframes=True)
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    with pytest.raises(vidlong.VidlongError, match="holds keyframe slots after its canvas, which its video_coords alone"):
        run(model, (dict(dfr_inputs[0], num_frames=None, height=None, width=None), dfr_inputs[1]))


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_methods_match_float64_reference_on_the_canvas_with_the_slots_trailing(method, dfr_inputs):
    model = tiny_ltx2_transformer(latest=True, keyframes=True)
    vidlong.apply(model, method, native_frames=NATIVE, kernel="dense")
    out = run(model, dfr_inputs)
    reference = tiny_ltx2_transformer(latest=True, keyframes=True).to(torch.float64)
    for block in reference.transformer_blocks:
        block.attn1.set_processor(LTX2ReferenceAttention(method, CANVAS, GRID, NATIVE, trailing=SLOTS * GRID[0] * GRID[1]))
    assert rel_err(out, run(reference, dfr_inputs, torch.float64)) < 1e-5
    assert rel_err(out, run(tiny_ltx2_transformer(latest=True, keyframes=True), dfr_inputs)) > 1e-4


def test_generate_is_its_call_bit_for_bit_the_canvas_trimmed_and_the_methods_act(dfr_pipe, dfr_stock):
    """`generate` of 17 frames with no method = diffusers' `LTX2DFRPipeline` called with the same seed and the spec's size
    and frame rate (its 8 distilled sigmas, unguided): the same frames and waveform; its forwards (one a step) are handed
    the canvas's 4 latent frames beside its tokens (canvas, then the slot), the video and sound trimmed to the request;
    `both` changes the video and is removed after (the transformer's processors stock again: removal restores its forward
    bit for bit, `test_methods_off_and_removed_are_stock_bit_for_bit_on_its_calls_tokens`)."""
    from vidlong.estimate import forward_tokens
    from vidlong.generate import GenerateRequest, generate

    assert type(dfr_pipe).__name__ == "VidLongLTX2DFRPipeline" and dfr_pipe.spec.name == "tiny-ltx2.5"
    seen = []
    record = dfr_pipe.transformer.register_forward_hook(
        lambda _m, _a, k, _o: seen.append((k["hidden_states"].shape[:2], k["num_frames"], k["height"], k["width"])),
        with_kwargs=True)
    try:
        plain = generate(dfr_pipe, GenerateRequest(prompt="a red ball", frames=17, method="none", seed=3))
    finally:
        record.remove()
    assert seen == [((1, (CANVAS + SLOTS) * 4), CANVAS, *GRID)] * 8 and dfr_pipe.forwards_per_step(1.0) == 1
    assert forward_tokens(dfr_pipe, GenerateRequest(prompt="x"), 3, 64, 64) == (CANVAS + SLOTS) * 4  # what the estimate counts
    assert plain.frames.shape == (17, 64, 64, 3) and plain.latents.shape[2] == 3
    out = dfr_stock("a red ball", num_frames=17, height=64, width=64, frame_rate=24, output_type="np",
                generator=torch.Generator().manual_seed(3))
    assert np.array_equal((np.clip(out.frames[0], 0, 1) * 255).round().astype(np.uint8), plain.frames)
    assert np.array_equal(out.audio[0].clamp(-1, 1).numpy(), plain.audio.samples)
    assert abs(plain.audio.samples.shape[1] / 16000 - 17 / 24) < 0.05  # the request's duration, not the canvas's
    both = generate(dfr_pipe, GenerateRequest(prompt="a red ball", frames=17, method="both", seed=3))
    assert not np.array_equal(both.frames, plain.frames)
    assert all(type(b.attn1.processor).__name__ != "VidlongAttnProcessor" for b in dfr_pipe.transformer.transformer_blocks)


def test_generate_from_a_first_and_a_last_image_is_its_call_with_those_conditions_and_keeps_the_first(dfr_pipe, dfr_stock,
                                                                                                         image_path,
                                                                                                         last_image_path):
    """`generate` of 17 frames from ``image`` and ``last_image`` with no method = diffusers' call with
    ``conditions=[LTX2VideoCondition(first, 0), LTX2VideoCondition(last, 2)]`` (the request's last latent frame: its -1 is
    the padded canvas's, trimmed) bit for bit, frames and sound; the last's tokens between the canvas and the slot, which
    the run estimate counts (a first image alone adds none: its tokens replace the canvas's first frame's); `both`
    changes the video, is removed after, and keeps the first latent frame the image's clean latent, as its call keeps it
    (strength 1: its x0 blended back each step). Its call takes ``conditions`` after the prompt by position, as ``image=``."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    from vidlong.estimate import forward_tokens, run_cost
    from vidlong.families.ltx2_dfr import VidLongLTX2DFRImageToVideoPipeline
    from vidlong.generate import GenerateRequest, generate
    from vidlong.pipeline import over_modules

    pipe = over_modules(VidLongLTX2DFRImageToVideoPipeline, dfr_pipe)  # what load_pipeline(task="i2v") loads (the CLI's test)
    first, last = (Image.open(path).convert("RGB") for path in (image_path, last_image_path))
    images = dict(prompt="a red ball", frames=17, seed=3, image=str(image_path), last_image=str(last_image_path))
    plain = generate(pipe, GenerateRequest(method="none", **images))
    out = dfr_stock("a red ball", conditions=[LTX2VideoCondition(first, 0), LTX2VideoCondition(last, 2)], num_frames=17,
                    height=64, width=64, frame_rate=24, output_type="np", generator=torch.Generator().manual_seed(3))
    assert np.array_equal((np.clip(out.frames[0], 0, 1) * 255).round().astype(np.uint8), plain.frames)
    assert np.array_equal(out.audio[0].clamp(-1, 1).numpy(), plain.audio.samples)
    seen = []
    record = pipe.transformer.register_forward_hook(lambda _m, _a, k, _o: seen.append(k["hidden_states"].shape[1]),
                                                    with_kwargs=True)
    try:
        both = generate(pipe, GenerateRequest(method="both", **images))
    finally:
        record.remove()
    assert set(seen) == {(CANVAS + 1 + SLOTS) * 4} and not np.array_equal(both.frames, plain.frames)
    first_only = GenerateRequest(**dict(images, last_image=None))
    assert [forward_tokens(pipe, request, 3, 64, 64) for request in (GenerateRequest(**images), first_only)] == \
        [(CANVAS + 1 + SLOTS) * 4, (CANVAS + SLOTS) * 4]
    assert run_cost(pipe, GenerateRequest(**images), 3).flops > run_cost(pipe, first_only, 3).flops
    assert all(type(b.attn1.processor).__name__ != "VidlongAttnProcessor" for b in pipe.transformer.transformer_blocks)
    clean = pipe.encode_conditions([LTX2VideoCondition(first, 0)], 64, 64, 25)[0][1]  # [1, C, 1, h, w], normalised
    assert torch.equal(both.latents[:, :, :1], clean) and torch.equal(plain.latents[:, :, :1], clean)
    call = dict(num_frames=17, sigmas=[1.0], output_type="latent")
    by_position = pipe("a red ball", [LTX2VideoCondition(first, 0)], generator=torch.Generator().manual_seed(1), **call).frames
    by_name = pipe("a red ball", image=str(image_path), generator=torch.Generator().manual_seed(1), **call).frames
    assert torch.equal(by_position, by_name)


def test_vidlong_generate_writes_twice_the_native_length_from_an_image_with_its_sound(dfr_folder, image_path, tmp_path):
    """`vidlong generate --image --ratio 2 --method both`: the folder loaded as its image-to-video twin, an mp4 of 2 x its
    native frames (a whole canvas: no padding) with its sound, the sidecar naming the image (from text: the generate tests
    above)."""
    import json

    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(dfr_folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                 "--method", "both", "--seed", "3", "--out", str(out)]) == 0
    assert read_video(out)[0].shape == (25, 64, 64, 3)  # 2 x its 2 native latent frames: 4, 25 frames (its whole canvas)
    assert mp4_audio(out, 16000).shape[1] > 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["image"] == str(image_path) and settings["method"] == "both"


def test_its_spec_comes_from_configs_and_vidlong_info_says_what_it_does(dfr_folder, capsys):
    from vidlong.cli import main
    from vidlong.models import spec_for_facts

    spec = spec_for_facts(dict(family="ltx-2", pipeline="LTX2DFRPipeline"))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps,
            spec.guidance_scale) == ("ltx-2.5", 61, 24, 704, 1216, 8, 1.0)
    assert spec_for_facts(dict(family="ltx-2", pipeline="LTX2Pipeline")).name == "ltx-2"
    assert main(["info", "--model", str(dfr_folder)]) == 0
    lines = capsys.readouterr().out
    assert "LTX2DFRPipeline (vidlong's VidLongLTX2DFRPipeline)" in lines and "generate: yes" in lines
    assert "  image: yes" in lines and "  last image: yes" in lines
    for what in ("stream", "extend", "prompt timeline", "upsample", "refine"):
        assert f"  {what}: no (" in lines, what


@pytest.mark.parametrize("args,message", [
    (["generate", "--steps", "4"], "runs its 8 distilled sigmas (diffusers' DISTILLED_SIGMA_VALUES), no other step count"),
    (["generate", "--guidance", "3"], "distilled to run unguided (one forward a step): drop --guidance"),
    (["generate", "--negative-prompt", "blur"], "without a negative prompt (its DFR pass is distilled to run unguided): drop"),
    (["generate", "--method", "freelong", "--preset", "4x"], "over its canvas and keyframe slots itself from --seed"),
    (["generate", "--prompt", "0s: a red ball; 1s: a blue ball"], "not wired for LTX-2.5's DFR pass"),
    (["generate", "--upsample", "{tmp}"], "--upsample: LTX-2.5's 1080p recipe is not LTX-2's upsample then refine"),
    (["generate", "--refine"], "--refine: LTX-2.5's 1080p recipe is not LTX-2's upsample then refine"),
    (["stream", "--chunks", "2"], "LTX-2.5's DFR pass pads its canvas to whole keyframe segments"),
    (["extend", "--video", "{tmp}/in.mp4", "--chunks", "1"], "LTX-2.5's DFR pass pads its canvas to whole keyframe segments"),
    (["stream", "--image", "{tmp}/in.png", "--chunks", "2"], "LTX-2.5's DFR pass pads its canvas to whole keyframe segments"),
    (["generate", "--video", "{tmp}/in.mp4"], "--video (video-to-video) needs a Wan2.1 or CogVideoX-2B/5B text-to-video model"),
    (["generate", "--image", "{tmp}/in.png", "--steps", "4"], "runs its 8 distilled sigmas"),
    (["generate", "--image", "{tmp}/in.png", "--guidance", "3"], "distilled to run unguided (one forward a step): drop --guidance"),
    (["generate", "--image", "{tmp}/in.png", "--negative-prompt", "blur"], "(its DFR pass is distilled to run unguided): drop"),
    (["generate", "--image", "{tmp}/in.png", "--noise", "specmix"], "over its canvas and keyframe slots itself from --seed"),
], ids=["steps", "guidance", "negative-prompt", "noise", "timeline", "upsample", "refine", "stream", "extend", "stream-image",
        "video", "image-steps", "image-guidance", "image-negative-prompt", "image-noise"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(dfr_folder, tmp_path, capsys, monkeypatch, args,
                                                                     message):
    import vidlong.pipeline
    from vidlong.cli import main

    from PIL import Image

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    Image.new("RGB", (64, 64), (200, 20, 20)).save(tmp_path / "in.png")  # a readable image: the refusal is the model's
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    prompt = [] if "--prompt" in args else ["--prompt", "a red ball"]
    assert main([*args, "--model", str(dfr_folder), *prompt, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_from_pipe_keeps_the_held_pipelines_prompt_padding_side(dfr_pipe):
    """diffusers' `LTX2DFRPipeline` reads its tokenizer's padding side as it is built (``tokenizer_padding_side``: what its
    connectors are told of the prompt's padding; the tiny tokenizer's right) and its prompt encoding then sets the
    tokenizer's to left: `vidlong.from_pipe` of a pipeline that has encoded a prompt keeps that pipeline's side, so its
    `generate` is the held pipeline's call, not one told the other side (measured: other frames)."""
    import inspect

    from diffusers import LTX2DFRPipeline

    takes = inspect.signature(LTX2DFRPipeline.__init__).parameters
    dfr_pipe.tokenizer.padding_side = "right"  # as the folder's tokenizer loads
    held = LTX2DFRPipeline(**{name: part for name, part in dfr_pipe.components.items() if name in takes})
    held.encode_prompt("a red ball", device=torch.device("cpu"))
    assert (held.tokenizer_padding_side, held.tokenizer.padding_side) == ("right", "left")
    assert vidlong.from_pipe(held).tokenizer_padding_side == "right"


def test_its_app_page_hides_steps_guidance_and_noise_and_takes_a_preset(dfr_pipe):
    """Its page (`vidlong app`): no Steps, Guidance or Initial noise fields, which its one DFR pass refuses other than its
    own (its 8 distilled sigmas, unguided, its own noise), their values those it takes (noise plain), so that a run of the
    page's values with a preset (whose FreeLong++ noise is SpecMix) is checked through, not refused after the click, and the
    length note beside Length says its length, not that refusal."""
    from vidlong.apps import gradio_app

    page = gradio_app.build_app(dfr_pipe)
    steps, guidance, noise = (next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == name)
                              for name in ("steps", "guidance", "noise"))
    assert not any(block.visible for block in (steps, guidance, noise))
    request, _ = page.vidlong_app.run("a red ball", "both", "2x", 2, steps.value, guidance.value, 0, noise.value, "", None,
                                      None)
    assert (request.preset, request.noise, request.steps, request.guidance) == ("2x", "plain", 8, 1.0)
    note = page.vidlong_app.length_note(2, "both", "2x", steps.value)  # the note beside Length checks it as the run will
    assert note.startswith("4 latent frames = **25 frames**"), note
    from vidlong.families.ltx2_dfr import VidLongLTX2DFRImageToVideoPipeline
    from vidlong.pipeline import over_modules

    assert gradio_app.App(over_modules(VidLongLTX2DFRImageToVideoPipeline, dfr_pipe)).own_sampling  # its image page's too


@pytest.fixture(scope="module")
def temporal_folder(tmp_path_factory):
    """A tiny random temporal latent upsampler (LTX-2.5's: ``2F - 1`` latent frames of F) in a folder of its own."""
    from tiny_pipeline import save_tiny_latent_upsampler

    return save_tiny_latent_upsampler(tmp_path_factory.mktemp("tiny-temporal"), "ltx-2", temporal=True)


#: the forwards of 17 frames from a first and a last image, then 2 temporal rounds, as (canvas latent frames, latent frames
#: of tokens): the DFR pass's 8, round 1's tile's 4, round 2's two tiles' 4 each (the second from frame 0: its lead-in a
#: segment and its seam), each tile a canvas, then the last image's latent frame (at pixel frame 9, then 18, then 36: in
#: every tile) and its anchors and slots
IMAGES_TWO_ROUNDS = [(4, 4 + 1 + 1)] * 8 + [(7, 7 + 1 + 2)] * 8 + [(13, 13 + 1 + 4)] * 4


def stock_rounds(stock, temporal_folder, rounds: int, conditions=None) -> tuple:
    """diffusers' documented chain for 17 frames, seed 3, on `stock`'s device: its `LTX2DFRPipeline` call (`stock`) with
    `conditions` and ``output_type="latent"``, then `LTX2DFRTemporalRefinePipeline` built over its parts (as its docstring
    builds it, before the call: its prompt padding side the folder's) with the temporal upsampler and
    `LTXEulerAncestralRFScheduler(eta=0.5)`, `rounds` rounds each on the last one's latent output (``num_frames`` the input
    canvas's, ``frame_rate`` doubled, ``source_seconds`` the first canvas's, the seed's CPU generator; the same `conditions`
    on the request's grid, ``condition_num_frames`` 17), the last canvas cut to ``16·2^rounds + 1`` frames and decoded by
    the VAE: (uint8 frames, their normalised latents ``[1, C, F, h, w]``, the waveform cut to those frames' seconds, the
    last round's keyframe positions)."""
    from diffusers import LTX2DFRTemporalRefinePipeline, LTXEulerAncestralRFScheduler
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel
    from diffusers.pipelines.ltx2.utils import trim_canvas

    stock.tokenizer.padding_side = "right"  # as the folder's tokenizer loads, before the docstring's first call
    upsampler = LTX2LatentUpsamplerModel.from_pretrained(temporal_folder).to(stock._execution_device)
    temporal = LTX2DFRTemporalRefinePipeline(scheduler=LTXEulerAncestralRFScheduler(eta=0.5), temporal_latent_upsampler=upsampler,
                                             **{name: getattr(stock, name) for name in (
                                                 "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "transformer",
                                                 "vocoder")})
    temporal.set_progress_bar_config(disable=True)
    out = stock("a red ball", conditions=conditions, num_frames=17, height=64, width=64, frame_rate=24,
                output_type="latent", generator=torch.Generator().manual_seed(3))
    canvas, fps = 25, 24.0
    for index in range(1, rounds + 1):
        out = temporal(latents=out.frames, keyframes_latents=out.keyframes, keyframe_positions=out.keyframe_positions,
                       audio_latents=out.audio, conditions=conditions, condition_num_frames=17, prompt="a red ball",
                       height=64, width=64, num_frames=canvas, frame_rate=fps, source_seconds=25 / 24, round_index=index,
                       generator=torch.Generator().manual_seed(3), output_type="latent")
        canvas, fps = 2 * (canvas - 1) + 1, 2 * fps
    made, vae = 16 * 2**rounds + 1, stock.vae
    latents = trim_canvas(out.frames, made, 8)
    with torch.no_grad():
        video = stock.video_processor.postprocess_video(vae.decode(latents, None, return_dict=False)[0], output_type="np")
        audio = stock.vocoder(stock.audio_vae.decode(out.audio, return_dict=False)[0])
    return ((np.clip(video[0], 0, 1) * 255).round().astype(np.uint8),
            stock._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor),
            audio[0, :, :round(made / fps * 16000)].clamp(-1, 1).cpu().numpy(), out.keyframe_positions)


def test_generate_with_two_temporal_rounds_from_images_is_diffusers_chain_bit_for_bit_and_the_methods_act(
        dfr_pipe, dfr_stock, temporal_folder, image_path, last_image_path):
    """`generate` of 17 frames from ``image`` and ``last_image`` with ``temporal_refine`` and 2 rounds, no method = diffusers'
    documented chain: its `LTX2DFRPipeline` call with those ``conditions`` and ``output_type="latent"``, then
    `LTX2DFRTemporalRefinePipeline` built over its parts (as its docstring builds it, before the call: its prompt padding
    side the folder's) with the temporal upsampler and `LTXEulerAncestralRFScheduler(eta=0.5)`, round 1 then 2 on the last
    one's latent output (``num_frames`` the input canvas's, ``frame_rate`` doubled, ``source_seconds`` the first canvas's,
    the seed's generator) with the same ``conditions`` on the request's grid (``condition_num_frames`` 17: each round
    places them at ``2^round`` times their pixel frame), the last canvas cut to ``4·16 + 1`` frames and decoded by the VAE:
    the same frames, normalised latents and waveform (cut to those frames' seconds at 96 fps); the first latent frame the
    image's clean latent after both rounds, as the DFR pass keeps it. The rounds' tiles run through the methods with `both`
    (the canvas's sizes handed to their forwards, which the methods need; the last image's latent frame and the anchors and
    slots after each tile's canvas), which change the video, keep that first frame and are removed after. (From text,
    ``conditions`` is None: the CLI's test below.)"""
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    from vidlong.families.ltx2_dfr import VidLongLTX2DFRImageToVideoPipeline
    from vidlong.generate import GenerateRequest, generate
    from vidlong.pipeline import over_modules

    pipe = over_modules(VidLongLTX2DFRImageToVideoPipeline, dfr_pipe)  # what the CLI loads given --image
    request = dict(prompt="a red ball", frames=17, seed=3, image=str(image_path), last_image=str(last_image_path),
                   temporal_refine=str(temporal_folder), temporal_rounds=2)
    plain = generate(pipe, GenerateRequest(method="none", **request))
    assert plain.frames.shape == (65, 64, 64, 3) and plain.latents.shape[2] == 9
    assert (plain.settings["fps"], plain.settings["temporal_rounds"]) == (96.0, 2)
    assert plain.settings["temporal_refine"] == str(temporal_folder)

    first, last = (Image.open(path).convert("RGB") for path in (image_path, last_image_path))
    conditions = [LTX2VideoCondition(first, 0), LTX2VideoCondition(last, 2)]  # 2: the request's last latent frame
    frames, latents, audio, positions = stock_rounds(dfr_stock, temporal_folder, 2, conditions)
    assert positions == [24, 48, 72, 96]
    assert np.array_equal(frames, plain.frames) and torch.equal(latents, plain.latents)
    assert np.array_equal(audio, plain.audio.samples)
    clean = pipe.encode_conditions(conditions[:1], 64, 64, 17)[0][1]  # [1, C, 1, h, w], normalised
    assert torch.equal(plain.latents[:, :, :1], clean)

    seen = []
    record = pipe.transformer.register_forward_hook(
        lambda _m, _a, k, _o: seen.append((k["num_frames"], k["hidden_states"].shape[1] // 4)), with_kwargs=True)
    try:
        both = generate(pipe, GenerateRequest(method="both", **request))
    finally:
        record.remove()
    assert seen == IMAGES_TWO_ROUNDS
    assert not np.array_equal(both.frames, plain.frames) and torch.equal(both.latents[:, :, :1], clean)
    assert all(type(b.attn1.processor).__name__ != "VidlongAttnProcessor" for b in pipe.transformer.transformer_blocks)


def test_the_rounds_report_each_tiles_steps_to_the_end_and_a_stop_lands_there(dfr_pipe, temporal_folder):
    """`generate`'s progress in 2 temporal rounds: ``("temporal refine", 0, total)`` before them, then after each step of
    each tile of each round (the chain test's 12 forwards past the DFR pass's 8: diffusers' tile plan, 3 tiles of 4 sigmas),
    so the app's bar reaches its end and its Stop lands at the next step, within a round (it landed only after a whole
    round), the total handed first to a progress with a ``plan`` (the CLI's bar: `vidlong.progress.RunBar`): a progress
    that raises `Stopped` at the last step's report ends the run there, no forward after it."""
    from vidlong.errors import Stopped
    from vidlong.generate import GenerateRequest, generate

    reports, forwards, plans = [], [], []

    def progress(stage, done, total):
        if stage == "temporal refine":
            reports.append((done, total, len(forwards)))
            if done == total:
                raise Stopped("stopped by its user")

    progress.plan = lambda steps: plans.append((steps, len(forwards)))
    record = dfr_pipe.transformer.register_forward_hook(lambda *_: forwards.append(1))
    try:
        with pytest.raises(Stopped):
            generate(dfr_pipe, GenerateRequest(prompt="a red ball", frames=17, seed=3, method="none",
                                               temporal_refine=str(temporal_folder), temporal_rounds=2), progress=progress)
    finally:
        record.remove()
    assert reports == [(done, 12, 8 + done) for done in range(0, 13)] and len(forwards) == 20
    assert plans == [({"denoise": 8, "temporal refine": 12}, 0)]


def test_the_estimate_counts_the_rounds_tiles_their_video_and_the_upsamplers_weights(dfr_pipe, temporal_folder, image_path,
                                                                                     last_image_path, monkeypatch):
    """`run_cost` of 2 rounds from a first and a last image, from diffusers' layout alone: the tiles the chain test's forwards
    take (`IMAGES_TWO_ROUNDS`, measured there), their FLOPs beside the DFR pass's, the 4x video decoded whole (65 frames:
    float32 twice and uint8, its 9 latent frames' decode paced) and the temporal upsampler's weights in the VAE's dtype
    (the loaded model's bytes), not counted again once the pipeline holds it."""
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplerModel

    from vidlong.estimate import block_flops, run_cost, transformer_sizes
    from vidlong.families.ltx2_temporal import rounds_plan
    from vidlong.generate import GenerateRequest
    from vidlong.upsample import load_upsampler
    from vidlong.validate import limits_for_pipeline

    monkeypatch.setattr(dfr_pipe, "_vidlong_upsampler", None, raising=False)  # none held: as before its first run
    given = dict(prompt="a red ball", frames=17, method="none", image=str(image_path), last_image=str(last_image_path))
    request = GenerateRequest(**given, temporal_refine=str(temporal_folder), temporal_rounds=2)
    assert rounds_plan(dfr_pipe, request, limits_for_pipeline(dfr_pipe), 3).tiles == tuple(IMAGES_TWO_ROUNDS[8::4])
    alone, rounds = run_cost(dfr_pipe, GenerateRequest(**given), 3), run_cost(dfr_pipe, request, 3)
    _, dim, ffn, layers = transformer_sizes(dfr_pipe.transformer.config)
    tiles = sum(block_flops(frames * 4, dim, ffn, 1) * layers for _, frames in IMAGES_TWO_ROUNDS[8:])
    assert rounds.flops == pytest.approx(alone.flops + tiles) and (alone.decoded_frames, rounds.decoded_frames) == (3, 9)
    upsampler = LTX2LatentUpsamplerModel.from_pretrained(temporal_folder)
    weights = sum(p.numel() * p.element_size() for p in upsampler.parameters())
    assert rounds.video_bytes == 65 * 64 * 64 * 3 and rounds.peak_bytes == rounds.video_bytes * (4 + 4 + 1) + weights
    load_upsampler(dfr_pipe, temporal_folder)
    assert rounds.peak_bytes - run_cost(dfr_pipe, request, 3).peak_bytes == weights


def test_vidlong_generate_temporal_refine_writes_twice_the_frames_at_twice_the_rate_with_its_sound(dfr_folder, temporal_folder,
                                                                                                 tmp_path, run_bars):
    """`vidlong generate --temporal-refine FOLDER` (one round, the default): an mp4 of ``2·(17 - 1) + 1`` frames at 48 fps
    with its sound, the sidecar naming the folder and the rounds; its one bar counts the DFR pass's steps and the round's
    tile's to its total, known from the start."""
    import json

    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "twice.mp4"
    assert main(["generate", "--model", str(dfr_folder), "--prompt", "a red ball", "--frames", "17", "--method", "none",
                 "--temporal-refine", str(temporal_folder), "--out", str(out)]) == 0
    frames, fps = read_video(out)[:2]
    assert frames.shape == (33, 64, 64, 3) and fps == 48
    assert mp4_audio(out, 16000).shape[1] > 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert (settings["temporal_refine"], settings["temporal_rounds"], settings["fps"]) == (str(temporal_folder), 1, 48.0)
    [shown] = run_bars.values()  # (stage, count, total): the DFR pass's 8 steps from 0, then the round's tile's 4, one total
    assert {total for *_, total in shown} == {8 + 4} and shown[-1][1:] == (12, 12)
    assert [count for stage, count, _ in shown if stage in ("denoise", "temporal refine")] == [*range(9), *range(8, 13)]


@pytest.mark.parametrize("args,message", [
    (["--temporal-rounds", "2"], "--temporal-rounds sets LTX-2.5's temporal refine rounds: add --temporal-refine FOLDER"),
    (["--temporal-refine", "{up}", "--temporal-rounds", "3"], "--temporal-rounds is 1 or 2 (each round doubles"),
    (["--temporal-refine", "{tmp}/none"], "--temporal-refine: no folder at"),
    (["--temporal-refine", "{model}"], "holds a LTX2DFRPipeline, not LTX-2.5's temporal latent upsampler"),
    (["--temporal-refine", "{tmp}/spatial"], "is a spatial latent upsampler (larger frames), not a temporal one"),
    (["--temporal-refine", "{tmp}"], "holds no readable config.json"),
    (["--temporal-refine", "{up}", "--decoder", "{tmp}"], "drop one of them"),
    (["--temporal-refine", "{up}", "--model", "vidlong/default_model"], "is not LTX-2.5: drop --temporal-refine"),
    (["--temporal-rounds", "2", "--model", "vidlong/default_model"], "is not LTX-2.5: drop --temporal-rounds"),
    (["stream", "--chunks", "2", "--temporal-refine", "{up}"], "--temporal-refine runs LTX-2.5's temporal rounds on a whole"),
    (["extend", "--video", "{tmp}/in.mp4", "--chunks", "1", "--temporal-rounds", "2"], "--temporal-rounds runs LTX-2.5's"),
    (["--temporal-refine", "{up}", "--save-latents", "{tmp}/x.pt"], "vidlong extend does not run this model: drop --save-latents"),
    (["--model", "{up}"], "holds LTX-2.5's temporal latent upsampler (LTX2LatentUpsamplerModel with temporal_upsample), not a "
                          "video model: pass it to vidlong generate --model <LTX-2.5 folder> --temporal-refine"),
    (["--temporal-refine", "{up}", "--parallel", "ulysses"], "splits the main pass only; --temporal-refine runs on one device"),
], ids=["rounds-alone", "rounds", "no-folder", "pipeline", "spatial", "no-config", "decoder", "family", "rounds-family",
        "stream", "extend", "save-latents", "as-model", "parallel"])
def test_temporal_refine_refused_in_one_line_before_loading(dfr_folder, temporal_folder, tmp_path, capsys, monkeypatch, args,
                                                             message):
    import vidlong.pipeline
    from tiny_pipeline import save_tiny_latent_upsampler

    from vidlong.cli import main

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    if "{tmp}/spatial" in args:
        save_tiny_latent_upsampler(tmp_path / "spatial", "ltx-2")
    command = [] if args[0] in ("stream", "extend") else ["generate"]
    model = [] if "--model" in args else ["--model", str(dfr_folder)]
    args = [a.replace("{tmp}", str(tmp_path)).replace("{up}", str(temporal_folder)).replace("{model}", str(dfr_folder))
            for a in [*command, *args]]
    assert main([*args, *model, "--prompt", "a red ball", "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_the_app_serves_temporal_refine_as_its_control_and_refuses_it_as_the_cli_does(dfr_folder, temporal_folder, dfr_pipe,
                                                                                   tmp_path, capsys, monkeypatch):
    """``vidlong app --temporal-refine FOLDER`` (`launch(temporal_refine=...)`, `build_app(temporal=...)`): the LTX-2.5 page
    shows its "Temporal refine" control (a page without the folder does not); /generate's `temporal_refine` (its rounds,
    after `decoder`) runs them, the mp4 at twice the frames and the frame rate, the settings and the sidecar naming the
    folder and the rounds as vidlong generate's do, a history click choosing them again; the length note says so; chosen
    beside "Diffusion decoder", the CLI's one line naming both by their labels; /stream's `temporal_refine` refused in one
    line as vidlong stream --temporal-refine is; chosen through a page without the folder, one line naming vidlong app
    --temporal-refine FOLDER. ``vidlong app --temporal-refine`` with a missing folder, or on another family's model (the
    default Wan): one line, exit 2, before any model loads."""
    import json
    from types import SimpleNamespace

    import gradio as gr
    from gradio_client.exceptions import AppError
    from test_app import client_of, field_with_id, video_path
    from tiny_pipeline import save_tiny_ltx2_decoder

    from vidlong.apps import gradio_app
    from vidlong.cli import main
    from vidlong.video_io import read_video

    demo = gradio_app.build_app(dfr_pipe, decoder=save_tiny_ltx2_decoder(tmp_path / "decoder"), temporal=temporal_folder)
    app, bare = demo.vidlong_app, gradio_app.App(dfr_pipe)
    assert field_with_id(demo, "temporal-refine").visible and app.temporal_refines and not bare.temporal_refines
    note = app.length_note(2, "none", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, False, False, False, 2)
    assert note.startswith("4 latent frames = **25 frames**") and "Then 2 temporal refine rounds: **97 frames** at 96 fps" in note
    fields = ("a red ball", "none", "none", 1, None, None, 3, "plain", "", None, None, None, None, "", 0, None, None, *[None] * 9)
    with pytest.raises(vidlong.VidlongError) as both:
        app.run(*fields, False, False, True, 1)
    assert gradio_app._user_message(both.value, app.places) == (
        '"Temporal refine" decodes its rounds\' latents by the VAE, "Diffusion decoder" the DFR pass\'s by LTX-2.5\'s '
        "diffusion decoder: drop one of them")
    with pytest.raises(vidlong.VidlongError) as none:
        bare.run(*fields, False, False, False, 1)
    assert gradio_app._user_message(none.value, bare.places) == (
        "temporal refine: no folder of LTX-2.5's temporal latent upsampler was given; pass it (serve the page with vidlong "
        "app --temporal-refine FOLDER)")
    with client_of(demo, tmp_path / "downloads") as client:
        video, settings = client.predict(prompt="a red ball", method="none", ratio=1, seed=3, temporal_refine=1,
                                         api_name="/generate")
        frames, fps = read_video(video_path(video))[:2]
        assert frames.shape == (2 * (9 - 1) + 1, 64, 64, 3) and fps == 48  # its native 9 frames, twice at twice the rate
        assert (settings["temporal_refine"], settings["temporal_rounds"], settings["fps"]) == (str(temporal_folder), 1, 48.0)
        with pytest.raises(AppError, match=r"^temporal_refine runs LTX-2.5's temporal refine rounds on a whole generated "
                                           r"video's latents \(the Generate tab's Temporal refine\); a stream runs none on "
                                           r"its chunks: drop temporal_refine$"):
            client.predict(prompt="a red ball", seconds=1, temporal_refine=2, api_name="/stream")
    item = app.history.items()[0]
    sidecar = json.loads(item.sidecar.read_text())  # as vidlong generate's
    assert (sidecar["temporal_refine"], sidecar["temporal_rounds"]) == (str(temporal_folder), 1)
    shown = app.reload(SimpleNamespace(value=item.video.name))
    assert shown[3 + len(gradio_app.FORM_FIELDS) + 5] == gr.update(value=1)  # after compared, overlap and three boxes
    monkeypatch.setattr("vidlong.pipeline.load_pipeline", lambda *a, **k: pytest.fail("a model loaded"))
    capsys.readouterr()
    for model, folder, says in ((dfr_folder, tmp_path / "none", f"--temporal-refine: no folder at {tmp_path / 'none'}; pass "
                                 "the folder of LTX-2.5's temporal latent upsampler (LTX2LatentUpsamplerModel)"),
                                (None, temporal_folder, "--temporal-refine runs LTX-2.5's temporal refine rounds "
                                 "(LTX2DFRTemporalRefinePipeline) after its DFR pass; this model (WanPipeline) is not LTX-2.5: "
                                 "drop --temporal-refine")):
        assert main(["app", *(["--model", str(model)] if model else []), "--temporal-refine", str(folder), "--device",
                     "cpu"]) == 2
        assert capsys.readouterr().err == f"vidlong: error: {says}\n"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_a_temporal_round_is_diffusers_chain_there(dfr_folder, temporal_folder):
    """On CUDA in float32, `generate` of 17 frames with one temporal round and no method against diffusers' chain on CUDA
    (`stock_rounds`): frames within a grey level, latents within 1e-4 relative L2 error; `both` changes it. Not against the
    CPU: diffusers draws each tile's ancestral noise from a generator on the execution device (``torch.Generator(device)``
    seeded from the call's), so the same seed makes other noise on CUDA than on the CPU (103% off, measured on an H100)."""
    from diffusers import LTX2DFRPipeline

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(dfr_folder, device="cuda", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    request = dict(prompt="a red ball", frames=17, seed=3, temporal_refine=str(temporal_folder))
    plain = generate(pipe, GenerateRequest(method="none", **request))
    stock = LTX2DFRPipeline.from_pretrained(dfr_folder).to("cuda")
    stock.set_progress_bar_config(disable=True)
    frames, latents, _, _ = stock_rounds(stock, temporal_folder, 1)
    assert plain.frames.shape == frames.shape == (33, 64, 64, 3) and plain.settings["fps"] == 48.0
    assert np.abs(plain.frames.astype(int) - frames).max() <= 1
    assert ((plain.latents.float().cpu() - latents.float().cpu()).norm() / latents.float().cpu().norm()).item() < 1e-4
    assert not np.array_equal(generate(pipe, GenerateRequest(method="both", **request)).frames, plain.frames)


def holding_folder(folder, upsampler, place):
    """An LTX-2.5 folder at `place` whose parts are `folder`'s (linked) beside its ``temporal_latent_upsampler/`` (`upsampler`,
    linked), and a LoRA-linked folder beside it whose vidlong.yaml names it as its base: (holding, linked)."""
    holding, linked = place / "holding", place / "linked"
    holding.mkdir()
    for part in folder.iterdir():
        (holding / part.name).symlink_to(part)
    (holding / "temporal_latent_upsampler").symlink_to(upsampler)
    linked.mkdir()
    (linked / "a.safetensors").write_bytes(b"")  # its weights are read when it loads, not by the checks
    (linked / "vidlong.yaml").write_text(f"base: {holding}\nlora: a.safetensors\n")
    return holding, linked


def test_vidlong_info_on_a_temporal_upsampler_says_what_it_is_and_how_to_use_it(dfr_folder, temporal_folder, tmp_path, capsys):
    """`vidlong info` on the temporal upsampler's folder and on a saved `LTX2DFRTemporalRefinePipeline`'s (its
    ``temporal_latent_upsampler/``): one line, exit code 2, what it is and ``vidlong generate --model <LTX-2.5 folder>
    --temporal-refine FOLDER``; on an LTX-2.5 folder holding one (and a LoRA link to it), a line of its own naming it and
    the command (its JSON's ``temporal_upsampler``), on one without none."""
    from vidlong.cli import main
    from vidlong.info import model_info

    refine = tmp_path / "refine"
    refine.mkdir()
    (refine / "model_index.json").write_text('{"_class_name": "LTX2DFRTemporalRefinePipeline"}')
    (refine / "temporal_latent_upsampler").symlink_to(temporal_folder)
    for folder, what in ((temporal_folder, "LTX-2.5's temporal latent upsampler (LTX2LatentUpsamplerModel with temporal_upsample)"),
                         (refine, "a LTX2DFRTemporalRefinePipeline, whose temporal_latent_upsampler/ is LTX-2.5's temporal "
                                  "latent upsampler")):
        capsys.readouterr()
        assert main(["info", "--model", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"vidlong: error: {folder} holds {what}, not a video model: pass it to vidlong generate --model "
                       f"<LTX-2.5 folder> --temporal-refine {folder} (its temporal refine rounds after the DFR pass, each "
                       "doubling the frames and the frame rate)"]
    holding, linked = holding_folder(dfr_folder, temporal_folder, tmp_path)
    assert main(["info", "--model", str(holding)]) == 0
    own = holding / "temporal_latent_upsampler"
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"its temporal latent upsampler {own}: LTX-2.5's temporal refine rounds after the DFR pass, each doubling the frames "
        f"and the frame rate (vidlong generate --model {holding} --temporal-refine {own} [--temporal-rounds 1|2])")
    assert (model_info(linked)["temporal_upsampler"], model_info(dfr_folder)["temporal_upsampler"]) == (str(own), None)


def test_temporal_refine_takes_a_model_folders_upsampler_and_a_lora_linked_ones(dfr_folder, temporal_folder, tmp_path):
    """``temporal_refine`` naming an LTX-2.5 folder that holds ``temporal_latent_upsampler/``, or a LoRA-linked folder whose
    base holds it (as ``upsample`` reads a link's ``latent_upsampler/``), is that upsampler's folder, checked before
    loading (a link was refused: "holds no readable config.json")."""
    from vidlong.families.ltx2_temporal import check_temporal_refine
    from vidlong.generate import GenerateRequest
    from vidlong.validate import limits_for_folder

    holding, linked = holding_folder(dfr_folder, temporal_folder, tmp_path)
    for given in (holding, linked):
        request = GenerateRequest(prompt="a red ball", temporal_refine=str(given))
        assert check_temporal_refine(request, limits_for_folder(linked)) == holding / "temporal_latent_upsampler"


def test_the_decodes_outside_its_calls_hand_the_vaes_their_latents_on_the_execution_device(dfr_pipe, monkeypatch):
    """The rounds' video decode (`decode_raw`) and sound decode (`decode_audio`), which run the VAEs outside a pipeline call,
    hand them their latents on the execution device, where model CPU offload's hooks move the VAEs' weights as their
    decode begins (and not the latents); on the VAEs' own device, the CPU under offload, a CUDA decode failed. The
    execution device here a stand-in ("meta"), each decode stopped as it is handed its latents."""
    class Handed(Exception):
        """Raised by a stand-in decode with the device of the latents it was handed."""

    def decode(latents, *args, **kwargs):
        raise Handed(latents.device)

    monkeypatch.setattr(type(dfr_pipe), "_execution_device", property(lambda self: torch.device("meta")))
    for vae in (dfr_pipe.vae, dfr_pipe.audio_vae):
        monkeypatch.setattr(vae, "decode", decode)
    for run, latents in ((dfr_pipe.decode_raw, torch.zeros(1, 4, 1, *GRID)), (dfr_pipe.decode_audio, torch.zeros(1, 8, 2, 4))):
        with pytest.raises(Handed) as handed:
            run(latents)
        assert handed.value.args[0].type == "meta"
