"""LTX-2's `LTX2HDRPipeline` (its HDR IC-LoRA: an SDR reference video to linear HDR) under vidlong, on the tiny random LTX-2
saved as that pipeline: `generate` with a control video as its reference = diffusers' call bit for bit (its linear frames,
their tone map), from a prompt or from connector embeddings; the methods change it; the CLI's mp4 (tone-mapped, no sound)
and float16 linear frames beside it; the tone map = diffusers' ``encode_hdr_tensor_to_mp4``'s; `vidlong info`'s answers; and
the one-line refusals before loading. (Its transformer with a reference's tokens after the video's: test_ltx2_ic's checks,
the same forward.)"""
import json

import numpy as np
import pytest
import torch
from conftest import ic_lora
from family_checks import check_refused_before_loading, forward_shapes, generate_counting_forwards

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.hdr_video import tone_mapped_uint8
from vidlong.reference_size import DOWNSCALE_KEY
from vidlong.video_io import has_sound, read_video, write_video


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-hdr"), latest=True, pipeline="LTX2HDRPipeline",
                                   name="tiny-ltx2-hdr")


@pytest.fixture(scope="module")
def stock(folder):
    """diffusers' own `LTX2HDRPipeline` from the folder."""
    from diffusers import LTX2HDRPipeline

    pipe = LTX2HDRPipeline.from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def halving_lora(pipe, tmp_path_factory):
    """An HDR IC-LoRA (`ic_lora`: its product zero, the folder's weights) whose metadata records
    ``reference_downscale_factor`` 2: its references at half the video's size."""
    shape = pipe.transformer.state_dict()["transformer_blocks.0.attn1.to_q.weight"].shape
    return ic_lora(tmp_path_factory.mktemp("hdr-lora") / "hdr-half.safetensors", shape, {DOWNSCALE_KEY: "2"})


@pytest.fixture(scope="module")
def embeds(pipe, tmp_path_factory):
    """`save_embeds` of the module's pipeline."""
    return save_embeds(pipe, tmp_path_factory.mktemp("embeds"))


def save_embeds(pipe, folder):
    """Connector embeddings of "a red ball" by the HDR pipeline `pipe` (its text connectors' outputs, [1, S, D] each) in
    `folder`'s hdr-embeds.safetensors, as the HDR LoRA ships its own: the file's path."""
    from safetensors.torch import save_file

    with torch.no_grad():
        states, mask, _, _ = pipe.encode_prompt("a red ball", do_classifier_free_guidance=False, device="cpu")
        video, audio, _ = pipe.connectors(states, mask, padding_side=pipe.tokenizer_padding_side)
    path = folder / "hdr-embeds.safetensors"
    save_file({"video_context": video.contiguous(), "audio_context": audio.contiguous()}, str(path))
    return path


@pytest.fixture(scope="module")
def unguided(stock, embeds, reference_path):
    """diffusers' call given the connector embeddings (`stock_hdr`), unguided: its linear HDR video."""
    from safetensors.torch import load_file

    tensors = load_file(str(embeds))
    return stock_hdr(stock, reference_path, connector_video_embeds=tensors["video_context"],
                     connector_audio_embeds=tensors["audio_context"])


def stock_hdr(stock, reference_path, **call) -> np.ndarray:
    """diffusers' call on the reference's 25 frames as they are (its own resize and reflect-pad), seed 3, at the spec's
    64x64, 24 fps and 2 steps: its linear HDR video ``[25, 64, 64, 3]``."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_hdr_lora import LTX2HDRReferenceCondition
    from PIL import Image

    frames = [Image.fromarray(frame) for frame in read_video(reference_path)[0]]
    output = stock(reference_conditions=[LTX2HDRReferenceCondition(frames)], num_frames=25, height=64, width=64,
                   frame_rate=24, num_inference_steps=2, output_type="np", generator=torch.Generator().manual_seed(3), **call)
    assert output.audio is None
    return output.frames[0]


def test_generate_is_its_call_bit_for_bit_with_a_reference_video(pipe, stock, reference_path, monkeypatch):
    """A control video as its reference, no method, 2x the native window (its 25 frames): the linear HDR frames are
    diffusers' call's with the same seed bit for bit, the frames their tone map, no sound. Its forwards hold twice the
    video's tokens (the reference's after them), as the run estimate counts them."""
    assert type(pipe).__name__ == "VidLongLTX2HDRPipeline"
    request = GenerateRequest(prompt="a red ball", seed=3, control_video=str(reference_path))
    plain, shapes = generate_counting_forwards(pipe, request, 4, monkeypatch)
    assert {n for _, n, _ in shapes} == {2 * 4 * 2 * 2}  # 4 latent frames of 2x2 tokens, twice
    expected = stock_hdr(stock, reference_path, prompt="a red ball", guidance_scale=3.0)
    assert plain.hdr.dtype == np.float32 and np.array_equal(plain.hdr, expected)
    assert np.array_equal(plain.frames, tone_mapped_uint8(expected)) and plain.audio is None
    assert plain.settings["latent_frames"] == 4 and plain.settings["fps"] == 24


def test_connector_embeds_stand_in_for_the_prompt_unguided(pipe, embeds, unguided, reference_path):
    """``connector_embeds`` from Python, a dict of the file's tensors: diffusers' call given ``connector_video_embeds`` and
    ``connector_audio_embeds`` bit for bit, unguided (the spec's guidance 3 not used; the settings say 1); its own call
    given them with a guidance above 1 is refused in one line. (The file: the CLI's test.)"""
    from safetensors.torch import load_file

    tensors = load_file(str(embeds))
    made = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, control_video=str(reference_path),
                                          connector_embeds=tensors))
    assert np.array_equal(made.hdr, unguided)
    assert made.settings["guidance"] == 1 and made.settings["connector_embeds"] == "in memory"
    with pytest.raises(vidlong.VidlongError, match="^connector_video_embeds are one sample's text, unguided"):
        pipe(connector_video_embeds=tensors["video_context"], connector_audio_embeds=tensors["audio_context"],
             guidance_scale=3.0, num_frames=9)


def test_the_tone_map_is_diffusers_encode_hdr_tensor_to_mp4s(monkeypatch, tmp_path):
    """`tone_mapped_uint8` = the uint8 frames diffusers' ``encode_hdr_tensor_to_mp4`` hands its encoder (default tone map:
    clip, sRGB's transfer function, rounding), on values from below 0 to past 1, at the threshold and at halves."""
    import av
    from diffusers.pipelines.ltx2.export_utils import encode_hdr_tensor_to_mp4

    hdr = np.random.default_rng(0).uniform(-0.1, 3.0, (2, 16, 16, 3)).astype(np.float32)
    hdr[0, 0, 0] = (0.0031308, 0.5, 1.0)
    handed = []
    real = av.VideoFrame.from_ndarray
    monkeypatch.setattr(av.VideoFrame, "from_ndarray", lambda array, format: handed.append(array.copy()) or real(array, format))
    encode_hdr_tensor_to_mp4(torch.from_numpy(hdr), tmp_path / "d.mp4", frame_rate=24.0)
    assert np.array_equal(tone_mapped_uint8(hdr), np.stack(handed))


def test_vidlong_generate_writes_the_tone_mapped_mp4_and_the_linear_frames_beside_it(folder, embeds, unguided, reference_path,
                                                                                      tmp_path):
    """`vidlong generate --control-video sdr.mp4 --connector-embeds FILE --method both`, no --prompt (as diffusers' HDR
    example has none): an mp4 of the reference's 25 frames at its rate and square aspect, no sound; OUT.hdr.npy, float16
    [25, 64, 64, 3], named in the sidecar with the embeddings' file and an empty prompt, its tone map the mp4's frames (each
    frame's mean, but the codec's loss); the methods changed it from diffusers' call (no method) with the same embeddings
    and seed."""
    out = tmp_path / "hdr.mp4"
    assert main(["generate", "--model", str(folder), "--control-video", str(reference_path),
                 "--connector-embeds", str(embeds), "--method", "both", "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    linear = np.load(settings["hdr_video"])
    assert frames.shape == (25, 64, 64, 3) and fps == 24 and not has_sound(out)
    assert settings["hdr_video"] == str(tmp_path / "hdr.hdr.npy") and linear.dtype == np.float16 and linear.shape == frames.shape
    assert settings["connector_embeds"] == str(embeds) and settings["guidance"] == 1 and settings["prompt"] == ""
    means = tone_mapped_uint8(linear.astype(np.float32)).mean(axis=(1, 2, 3)), frames.mean(axis=(1, 2, 3))
    assert np.abs(means[0] - means[1]).max() < 3
    assert not np.allclose(linear, unguided.astype(np.float16))


def test_a_prompt_timeline_gives_each_segment_and_the_reference_of_its_time_its_text(pipe, folder, reference_path):
    """What `vidlong info` says of an HDR folder (a prompt timeline: yes; its line: from --prompt, each segment's frames and
    the reference's of their time, not with --connector-embeds, refused below): `generate` over the reference's 25 frames
    (latent frames 0-1, then 2-3, from 0.4 s) with `both`: one prompt repeated = the single prompt, two prompts differ;
    inside, every forward's video cross-attention in a block gives each segment's video tokens and the reference's tokens
    of the same time (after the video's) that segment's text alone: 8 + 8 queries each."""
    from vidlong.control_video import CONTROL_VIDEO_ROLES
    from vidlong.info import model_info

    assert model_info(folder)["can"]["prompt_timeline"]["yes"]
    assert "a prompt timeline too: each segment's frames and the reference's of their time" in CONTROL_VIDEO_ROLES["hdr"]
    assert "no --negative-prompt or prompt timeline" in CONTROL_VIDEO_ROLES["hdr"]
    block, queries = pipe.transformer.transformer_blocks[0], []
    stock = block.attn2.processor

    def record(attn, hidden_states, encoder_hidden_states, *args, **kwargs):
        queries.append((hidden_states.shape[1], encoder_hidden_states.shape[1]))  # queries, text tokens: one segment's
        return stock(attn, hidden_states, encoder_hidden_states, *args, **kwargs)

    made = {}
    block.attn2.processor = record
    try:
        for prompt in ("a red circle", "0s: a red circle; 0.4s: a red circle", "0s: a red circle; 0.4s: a blue square"):
            queries.clear()
            made[prompt] = generate(pipe, GenerateRequest(prompt=prompt, seed=1, method="both", control_video=str(reference_path)))
    finally:
        block.attn2.processor = stock
    one, twice, other = made.values()
    assert twice.settings["timeline"][1]["latent_frame"] == 2 and queries[:2] == [(8 + 8, pipe.text_tokens)] * 2
    assert (twice.latents - one.latents).abs().max() < 1e-5 < (other.latents - one.latents).abs().max()
    assert not pipe.transformer._diffusers_hook.get_hook("vidlong_timeline_frames")


def test_at_reference_downscale_2_generate_picks_a_size_its_call_encodes(pipe, folder, halving_lora, tmp_path):
    """A 9-frame 32x96 control video (aspect 1:3) at the spec's 64x64 area: the size picked at factor 1 (64x96) would leave
    a 32x48 reference at factor 2, which the HDR call's VAE does not encode; with `halving_lora` merged (``loras=``, the CLI's
    --lora) `generate` picks 64x64 (sides of 64) and runs (1 step, unguided), its forwards the video's 2x2 tokens and then the
    reference's 1x1 of its 2 latent frames; its own call given 64x96 is refused in one line."""
    from PIL import Image

    from vidlong.validate import limits_for_pipeline, video_size

    control = write_video(tmp_path / "wide.mp4", np.random.default_rng(5).integers(0, 255, (9, 32, 96, 3), dtype=np.uint8), 24)
    assert video_size(limits_for_pipeline(pipe), image=Image.fromarray(read_video(control)[0][0]), reference=True) == (64, 96)
    halved = vidlong.load_pipeline(folder, device="cpu", loras=[halving_lora])
    halved.set_progress_bar_config(disable=True)
    with forward_shapes(halved.transformer) as shapes:
        made = generate(halved, GenerateRequest(prompt="a red ball", control_video=str(control), steps=1, guidance=1))
    assert made.hdr.shape == (9, 64, 64, 3) and {n for _, n, _ in shapes} == {2 * 2 * 2 + 2 * 1 * 1}
    with pytest.raises(vidlong.VidlongError, match=r"^width \(--width\) 96: LTX-2's HDR IC-LoRA pipeline .*_factor 2, .* use "
                                                   r"width \(--width\) 64 or 128$"):
        halved(prompt="a red ball", reference_video=str(control), num_frames=9, height=64, width=96)


def test_vidlong_info_says_what_it_takes(folder):
    """`vidlong info` on an HDR folder: its control kind, a line naming --control-video (needed) and --connector-embeds,
    and no stream, extend or upsample, each with its reason."""
    from vidlong.control_video import CONTROL_VIDEO_ROLES
    from vidlong.info import info_lines, model_info

    info = model_info(folder)
    assert (info["pipeline"], info["vidlong_pipeline"], info["control"]) == ("LTX2HDRPipeline", "VidLongLTX2HDRPipeline", "hdr")
    assert CONTROL_VIDEO_ROLES["hdr"] in info_lines(info) and "--connector-embeds" in CONTROL_VIDEO_ROLES["hdr"]
    for name in ("stream", "extend"):
        assert info["can"][name]["why"].startswith("LTX-2's HDR IC-LoRA pipeline turns one whole reference video into HDR")
    assert "decodes its latents to linear light by LogC3's inverse" in info["can"]["upsample"]["why"]
    assert info["can"]["control_video"]["yes"]


@pytest.mark.parametrize("extra, says", [
    ([], "LTX-2's HDR IC-LoRA pipeline follows a control video: pass --control-video"),
    (["--control-video", "{reference}", "--connector-embeds", "missing.safetensors"], "--connector-embeds: no file at missing"),
    (["--control-video", "{reference}", "--connector-embeds", "{reference}"], "is not a safetensors file safetensors can read"),
    (["--control-video", "{reference}", "--connector-embeds", "{wrong}"], "has no audio_context (it holds video_context)"),
    (["--control-video", "{reference}", "--connector-embeds", "{batched}"], "video_context must be a float tensor [1, S, D] (one "
     "video's), got [2, 2, 16] F32"),
    (["--control-video", "{reference}", "--connector-embeds", "{integer}"], "audio_context must be a float tensor [1, S, D] (one "
     "video's), got [1, 2, 16] I64"),
    (["--control-video", "{reference}", "--connector-embeds", "{embeds}", "--guidance", "3"], "drop --guidance 3 (or pass 1)"),
    (["--control-video", "{reference}", "--connector-embeds", "{embeds}", "--negative-prompt", "blur"], "drop --negative-prompt"),
    (["--control-video", "{reference}", "--upsample"], "--upsample: LTX-2's HDR pipeline decodes its latents to linear light"),
    (["--control-video", "{reference}", "--decoder", "{tmp}"], "--decoder: LTX-2's HDR pipeline decodes its latents to linear"),
    (["--control-video", "{reference}", "--stream"], "does not stream or extend"),
    (["--model", "default", "--connector-embeds", "{embeds}"], "this model takes none: drop --connector-embeds"),
    (["{no prompt}", "--model", "default", "--connector-embeds", "{embeds}"],
     "this model takes none: drop --connector-embeds and describe the video with --prompt"),
    (["{no prompt}", "--control-video", "{reference}", "--connector-embeds", "{embeds}", "--prompt",
      "0s: a red ball; 0.4s: a blue ball"], "which a timeline would split: give one --prompt"),
    (["{no prompt}", "--control-video", "{reference}"], "--prompt is needed: describe the video, e.g. --prompt \"a red circle\" "
     "(an LTX-2 HDR IC-LoRA folder takes --connector-embeds FILE.safetensors in its place)"),
    (["--control-video", "{reference}", "--lora", "{half}", "--height", "96", "--width", "160"], "--height 96 and --width 160: "
     "LTX-2's HDR IC-LoRA pipeline encodes its reference at the video's size over its reference_downscale_factor 2, for its "
     "VAE: each side a multiple of 64 pixels from 64; use --height 64 or 128 and --width 128 or 192"),
], ids=["no-reference", "missing", "not-safetensors", "wrong-keys", "batched", "integer", "guided", "negative", "upsample",
        "decoder", "stream", "not-hdr", "not-hdr-no-prompt", "timeline-with-embeds", "no-prompt", "size-at-reference-downscale-2"])
def test_what_it_cannot_run_is_refused_in_one_line_before_loading(folder, embeds, halving_lora, reference_path, tmp_path, capsys,
                                                                  monkeypatch, extra, says):
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"video_context": torch.zeros(1, 2, 16)}, str(wrong))
    values = {"{reference}": str(reference_path), "{embeds}": str(embeds), "{wrong}": str(wrong), "{tmp}": str(tmp_path),
              "{half}": str(halving_lora)}
    for name, video, audio in (("batched", torch.zeros(2, 2, 16), torch.zeros(1, 2, 16)),
                               ("integer", torch.zeros(1, 2, 16), torch.zeros(1, 2, 16, dtype=torch.int64))):
        values[f"{{{name}}}"] = str(tmp_path / f"{name}.safetensors")
        save_file({"video_context": video, "audio_context": audio}, values[f"{{{name}}}"])
    prompt = ["--prompt", "a red ball"]
    if extra[:1] == ["{no prompt}"]:
        prompt, extra = [], extra[1:]
    extra = [values.get(arg, arg) for arg in extra]
    args = ["generate", "--model", str(folder), *prompt]
    if "--stream" in extra:
        args, extra = ["stream", "--model", str(folder), "--prompt", "a red ball", "--chunks", "2"], []
    if extra[:1] == ["--model"]:
        args, extra = ["generate", *extra[:2], *prompt], extra[2:]
    assert says in check_refused_before_loading(args + extra, tmp_path / "g.mp4", capsys, monkeypatch)
