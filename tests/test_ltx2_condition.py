"""LTX-2's `LTX2ConditionPipeline` (its keyframe and video conditions) under vidlong, on a tiny random LTX-2 saved as that
pipeline: its transformer with a keyframe's tokens after the video's (methods off and removed = stock bit for bit, each
method the float64 reference with those tokens as text after the video), `generate` = diffusers' call bit for bit with no
condition, a first frame and a last one (video and sound), the CLI's first-last-frame mp4, its streams, and the one-line
refusals before loading."""
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import ltx2_inputs, tiny_ltx2_transformer
from family_checks import (NEUTRAL, block_self_attentions, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_refused_before_loading)
from reference import LTX2ReferenceAttention

import vidlong
from vidlong.cli import main
from vidlong.estimate import forward_tokens
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.video_io import read_video

NATIVE = 3  # latent frames of the transformer checks
GRID = (2, 3)  # latent height, width (patch 1: token rows, columns)
KEYFRAME = GRID[0] * GRID[1]  # one latent frame's tokens


def keyframe_inputs(frames: int, dtype=torch.float32) -> dict:
    """`ltx2_inputs` with one keyframe's tokens after the video's, placed at its last latent frame as its call places a
    condition there (`LTX2ConditionPipeline._prepare_keyframe_coords`, the video's from its RoPE), at 24 fps."""
    from diffusers import LTX2ConditionPipeline

    inputs = ltx2_inputs(frames, *GRID, dtype=dtype)
    model = SimpleNamespace(transformer_spatial_patch_size=1, transformer_temporal_patch_size=1,
                            vae_temporal_compression_ratio=8, vae_spatial_compression_ratio=32)
    keyframe = LTX2ConditionPipeline._prepare_keyframe_coords(model, 1, *GRID, 8 * (frames - 2) + 1, 1, 24.0, "cpu")
    video = tiny_ltx2_transformer().rope.prepare_video_coords(1, frames, *GRID, torch.device("cpu"), fps=24.0)
    tokens = torch.randn(1, KEYFRAME, inputs["hidden_states"].shape[2], generator=torch.Generator().manual_seed(2))
    return dict(inputs, hidden_states=torch.cat([inputs["hidden_states"], tokens.to(dtype)], dim=1),
                video_coords=torch.cat([video, keyframe], dim=2))


def run(model, frames: int, dtype=torch.float32) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**keyframe_inputs(frames, dtype))])  # video and audio


def test_methods_off_and_removed_are_stock_bit_for_bit_with_a_keyframe():
    check_methods_off_and_removed(lambda: tiny_ltx2_transformer(latest=True), lambda model: run(model, 4 * NATIVE),
                                  block_self_attentions, "LTX2PerturbedAttnProcessor", 2, NATIVE,
                                  neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())))


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_methods_match_float64_reference_with_a_keyframe(method):
    """The keyframe's tokens out of the grid: every video query sees them unmodified, their own rows stock."""
    check_float64_reference(lambda: tiny_ltx2_transformer(latest=True), run, block_self_attentions,
                            lambda m, frames: LTX2ReferenceAttention(m, frames, GRID, NATIVE, trailing=KEYFRAME), method, NATIVE)


def test_a_keyframe_without_the_grid_sizes_is_refused_in_one_line():
    """Given only ``video_coords`` the grid holds every token: a keyframe's are refused, naming the sizes to pass."""
    model = tiny_ltx2_transformer(latest=True)
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    inputs = {name: value for name, value in keyframe_inputs(2 * NATIVE).items() if name not in ("num_frames", "height", "width")}
    with pytest.raises(vidlong.VidlongError, match="pass num_frames, height and width"), torch.no_grad():
        model(**inputs)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-condition"), latest=True,
                                   pipeline="LTX2ConditionPipeline", name="tiny-ltx2-condition")


@pytest.mark.parametrize("first, last", [(False, False), (True, True)], ids=["text", "first-last"])
def test_generate_is_its_call_bit_for_bit_with_its_conditions(folder, image_path, last_image_path, first, last):
    """At 2x the native window with no method, video and sound: diffusers' call with the same seed and
    ``conditions=[LTX2VideoCondition(first, 0), LTX2VideoCondition(last, -1)]`` (a latent frame index, as it reads one:
    the last frame's condition is a keyframe after the video's tokens); with both methods a first-last-frame video
    changes. Its forwards hold the tokens the run estimate counts (`forward_tokens`: the last frame's keyframe
    after the video's)."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    pipe = vidlong.load_pipeline(folder, task="i2v" if first else None)
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == ("VidLongLTX2ConditionImageToVideoPipeline" if first else "VidLongLTX2ConditionPipeline")
    images = dict(image=str(image_path) if first else None, last_image=str(last_image_path) if last else None)
    request, seen = GenerateRequest(prompt="a red ball", ratio=2, seed=3, **images), set()
    record = pipe.transformer.register_forward_hook(lambda _m, _a, k, _o: seen.add(k["hidden_states"].shape[1]),
                                                    with_kwargs=True)
    try:
        plain = generate(pipe, request)
    finally:
        record.remove()
    frames, height, width = plain.latents.shape[2:]
    assert seen == {forward_tokens(pipe, request, frames, 64, 64)} == {(frames + last) * height * width}
    conditions = [LTX2VideoCondition(Image.open(path).convert("RGB"), index)
                  for path, index in ((images["image"], 0), (images["last_image"], -1)) if path is not None]
    stock = check_generate_is_the_stock_call(folder, plain, "LTX2ConditionPipeline", 2, 8, conditions=conditions or None,
                                             frame_rate=24, guidance_scale=3.0, generator=torch.Generator().manual_seed(3))
    assert np.array_equal(stock.audio[0].clamp(-1, 1).numpy(), plain.audio.samples)
    if first:
        both = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, method="both", **images))
        assert not np.array_equal(both.frames, plain.frames)
        call = dict(prompt="a red ball", num_frames=9, num_inference_steps=1, output_type="latent")
        by_path = pipe(last_image=str(last_image_path), generator=torch.Generator().manual_seed(1), **call).frames
        by_picture = pipe(last_image=Image.open(last_image_path), generator=torch.Generator().manual_seed(1), **call).frames
        assert torch.equal(by_path, by_picture)  # its call takes an image file's path, as the other pipelines' do


def test_its_call_takes_conditions_by_position_beside_a_last_image_and_refuses_a_prompt_there(folder, image_path,
                                                                                                 last_image_path):
    """``last_image=`` beside diffusers' ``conditions`` given by position (its call's first parameter) is added after them:
    the same latents as given by name; a prompt given by position beside ``last_image=`` is refused in one line naming
    ``prompt=``, before any step (it raised a TypeError, ``conditions`` given twice)."""
    from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition
    from PIL import Image

    pipe = vidlong.load_pipeline(folder)
    pipe.set_progress_bar_config(disable=True)
    first = [LTX2VideoCondition(Image.open(image_path).convert("RGB"), 0)]
    call = dict(prompt="a red ball", num_frames=9, num_inference_steps=1, output_type="latent", last_image=str(last_image_path))
    by_position = pipe(first, generator=torch.Generator().manual_seed(1), **call).frames
    assert torch.equal(by_position, pipe(conditions=first, generator=torch.Generator().manual_seed(1), **call).frames)
    pipe.transformer.forward = None  # any step would fail
    with pytest.raises(vidlong.VidlongError, match=r"^prompt given by position: LTX2ConditionPipeline's call takes conditions "
                                                   r"first, so the text 'a red ball' went to conditions; pass the prompt by name"):
        pipe("a red ball", last_image=str(last_image_path), num_frames=9)


def test_vidlong_generate_writes_a_first_last_frame_mp4_with_its_sound_and_extend_continues_it(folder, image_path,
                                                                                                 last_image_path, tmp_path):
    """`vidlong generate --image --last-image --method both` at 2x: its frames, the sidecar's images, its sound track;
    `vidlong extend` of that file by one chunk (LTX-2's: the input's frames and sound track, then the new ones)."""
    from conftest import mp4_audio

    out, longer = tmp_path / "long.mp4", tmp_path / "longer.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--last-image",
                 str(last_image_path), "--ratio", "2", "--method", "both", "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (25, 64, 64, 3) and fps == 24 and settings["method"] == "both"
    assert (settings["image"], settings["last_image"]) == (str(image_path), str(last_image_path))
    assert mp4_audio(out, 16000).shape[1] >= 16000 * 25 // 24 - 1024  # its sound, through AAC
    assert main(["extend", "--model", str(folder), "--video", str(out), "--prompt", "a red ball", "--chunks", "1",
                 "--chunk", "1", "--out", str(longer)]) == 0
    assert len(read_video(longer)[0]) == 25 + 8 and mp4_audio(longer, 16000).shape[1] >= 16000 * 33 // 24 - 1024


def test_an_image_streams_native_first_chunk_is_generates_video(folder, image_path):
    """Each chunk one call of its pipeline (LTX-2's streams), the image a condition at every window's first frame; a
    second chunk over its context."""
    pipe = vidlong.load_pipeline(folder, task="i2v")
    pipe.set_progress_bar_config(disable=True)
    chunks = list(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=2), chunks=2, seed=3, image=str(image_path)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(image_path)))
    assert np.array_equal(chunks[0].frames, own.frames) and [len(c.frames) for c in chunks] == [9, 8]


@pytest.mark.parametrize("pipeline, extra, says", [
    ("LTX2Pipeline", [], "takes no last frame: drop it"),
    ("LTX2ConditionPipeline", ["--method", "fifo"], "needs a timestep per token"),
    ("LTX2ConditionPipeline", ["--no-pyav"], "re-compresses the --last-image with H.264"),
], ids=["ltx2-pipeline", "fifo", "no-pyav"])
def test_a_last_frame_it_cannot_take_is_refused_in_one_line_before_loading(folder, last_image_path, tmp_path, capsys, monkeypatch,
                                                                           pipeline, extra, says):
    import importlib.util

    from tiny_pipeline import save_tiny_ltx2_pipeline

    model = folder if pipeline == "LTX2ConditionPipeline" else save_tiny_ltx2_pipeline(tmp_path / "ltx2", latest=True)
    if "--no-pyav" in extra:
        found = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else found(name, *a))
        extra = []
    args = ["generate", "--model", str(model), "--prompt", "a red ball", "--last-image", str(last_image_path), "--ratio", "2"]
    assert says in check_refused_before_loading(args + extra, tmp_path / "g.mp4", capsys, monkeypatch)
