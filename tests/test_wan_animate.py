"""Wan Animate (`WanAnimatePipeline`, `WanAnimateTransformer3DModel`) through its adapter: the methods on its blocks, over
the grid of the reference image's latent frame and one segment. Methods off = the stock model bit for bit; each method
equal to the float64 reference; its call with the spec's defaults = diffusers' call bit for bit; a segment longer than the
native one makes the same video length in fewer segments; bad call arguments and streaming are refused in one line."""
import numpy as np
import pytest
import torch
from reference import WanReferenceAttention, rel_err

import vidlong
from vidlong.attention.adapters.wan_animate import WAN_ANIMATE
from vidlong.errors import VidlongError
from vidlong.pipeline import load_pipeline

NATIVE = 3  # latent frames: the reference frame and a 5-frame segment's 2 (`save_tiny_wan_animate_pipeline`)


@pytest.fixture(scope="module")
def animate_folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_wan_animate_pipeline

    return save_tiny_wan_animate_pipeline(tmp_path_factory.mktemp("animate"))


def driving_videos(frames: int, seed: int = 0) -> dict:
    """A reference image, and pose (32x32) and face (16x16) videos of `frames` frames, as PIL images."""
    from PIL import Image
    from tiny_pipeline import ANIMATE_FACE_SIZE

    rng = np.random.default_rng(seed)
    pictures = lambda n, size: [Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)) for _ in range(n)]
    return dict(image=pictures(1, 32)[0], pose_video=pictures(frames, 32), face_video=pictures(frames, ANIMATE_FACE_SIZE))


def animate_inputs(transformer, frames: int, dtype=torch.float32) -> dict:
    """One forward's inputs as its pipeline makes them, for a grid of `frames` latent frames (the reference frame first):
    latents with their mask and reference channels ``[1, 12, F, 4, 4]``, pose latents ``[1, 4, F - 1, 4, 4]``, face frames
    ``[1, 3, 4·(F - 2) + 1, 16, 16]``, text and CLIP states."""
    from conftest import TEXT_DIM
    from tiny_pipeline import ANIMATE_FACE_SIZE, CLIP_DIM, CLIP_TOKENS

    gen = torch.Generator().manual_seed(4)
    face = ANIMATE_FACE_SIZE
    return dict(hidden_states=torch.randn(1, transformer.config.in_channels, frames, 4, 4, generator=gen).to(dtype),
                timestep=torch.tensor([600.0]), encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                encoder_hidden_states_image=torch.randn(1, CLIP_TOKENS, CLIP_DIM, generator=gen).to(dtype),
                pose_hidden_states=torch.randn(1, 4, frames - 1, 4, 4, generator=gen).to(dtype),
                face_pixel_values=torch.rand(1, 3, 4 * (frames - 2) + 1, face, face, generator=gen).to(dtype) * 2 - 1,
                return_dict=False)


def test_methods_off_removed_and_against_the_float64_reference(animate_folder):
    """Neutral settings and removal give the stock output bit for bit; UltraViCo and FreeLong++ in its blocks equal the
    float64 math of each over the grid of the reference frame and a segment 4x the native one (its face adapters as they
    are)."""
    frames = 4 * NATIVE
    pipe = load_pipeline(animate_folder, device="cpu")
    transformer = pipe.transformer
    assert WAN_ANIMATE.self_attentions(transformer) == [block.attn1 for block in transformer.blocks]
    with torch.no_grad():
        stock = transformer(**animate_inputs(transformer, frames))[0]
        pipe.apply(vidlong.UltraViCo(alpha=1.0, guard_first_frame=False))
        assert torch.equal(transformer(**animate_inputs(transformer, frames))[0], stock)
        for method in (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))):
            pipe.apply(method, kernel="dense")
            out = transformer(**animate_inputs(transformer, frames))[0]
            reference = type(transformer).from_config(transformer.config).to(torch.float64)
            reference.load_state_dict({k: v.double() for k, v in transformer.state_dict().items()})
            for block in reference.blocks:
                block.attn1.set_processor(WanReferenceAttention(method, frames, (2, 2), NATIVE))
            ref = reference(**animate_inputs(reference, frames, torch.float64))[0]
            assert rel_err(out, ref) < 1e-5 and rel_err(out, stock) > 1e-3
        pipe.remove()
        assert torch.equal(transformer(**animate_inputs(transformer, frames))[0], stock)
    assert all(type(block.attn1.processor).__name__ == "WanAttnProcessor" for block in transformer.blocks)


def test_its_call_takes_the_spec_defaults_and_longer_segments_make_the_video_in_fewer(animate_folder):
    """With the spec's defaults (size, steps, guidance, the native 5-frame segment) the call equals diffusers' with those
    values bit for bit. A 17-frame pose video takes 4 native segments (each after the first starts from the last frame of
    the one before); with UltraViCo on and ``segment_frame_length=17`` one segment of a grid 2x native makes the 17 frames:
    a quarter of the transformer's forwards, a different video; the driving videos may be given as uint8 frames too."""
    from diffusers import WanAnimatePipeline

    inputs = driving_videos(17)
    pipe = load_pipeline(animate_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongWanAnimatePipeline" and pipe.facts()["family"] == "wan-animate"
    assert pipe.native_segment_frames() == 5
    own = pipe(**inputs, prompt="a red ball", generator=torch.Generator().manual_seed(3)).frames[0]
    stock = WanAnimatePipeline.from_pretrained(animate_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    theirs = stock(**inputs, prompt="a red ball", height=32, width=32, segment_frame_length=5, num_inference_steps=2,
                   guidance_scale=1.0, generator=torch.Generator().manual_seed(3)).frames[0]
    assert own.shape == (17, 32, 32, 3) and np.array_equal(own, theirs)

    forwards = []
    handle = pipe.transformer.register_forward_hook(lambda module, args, out: forwards.append(1))
    as_arrays = {name: np.stack([np.asarray(frame) for frame in video]) for name, video in inputs.items() if name != "image"}
    same = pipe(image=inputs["image"], **as_arrays, prompt="a red ball", generator=torch.Generator().manual_seed(3)).frames[0]
    assert len(forwards) == 4 * 2 and np.array_equal(same, own)
    pipe.apply(vidlong.UltraViCo(alpha=0.8))
    forwards.clear()
    long = pipe(**inputs, prompt="a red ball", segment_frame_length=17, generator=torch.Generator().manual_seed(3)).frames[0]
    handle.remove()
    assert len(forwards) == 2 and long.shape == own.shape and not np.array_equal(long, own)


@pytest.mark.parametrize("arguments, message", [
    (dict(face_video=driving_videos(1)["face_video"]), "has 1 frames, fewer than the pose video's 9; give it a frame for"),
    (dict(background_video=driving_videos(9)["pose_video"]), "pass mask_video (--mask-video) too"),
    (dict(mode="replace"), "mode (--mode) 'replace' does not fit the videos given"),
    (dict(background_video=driving_videos(9)["pose_video"], mask_video=driving_videos(9)["pose_video"], mode="animate"),
     "mode (--mode) 'animate' does not fit the videos given"),
    (dict(prev_segment_conditioning_frames=2.5), "must be 1 or 5 (pixel frames a segment starts from), got 2.5"),
    (dict(prev_segment_conditioning_frames=3), "must be 1 or 5"),
    (dict(segment_frame_length=7), "use segment_frame_length 5 or segment_frame_length 9"),
    (dict(segment_frame_length=5, prev_segment_conditioning_frames=5), "must be longer than the prev_segment_conditioning_frames"),
    (dict(pose_video=[]), "has shape [0]; pass RGB frames [T, H, W, 3]"),
    (dict(face_video=np.zeros((4, 16, 16), np.uint8)), "has shape [4, 16, 16]; pass RGB frames"),
    (dict(pose_video="missing.mp4"), "no video file at missing.mp4"),
    (dict(pose_video="pose.png"), "pose.png is an image, not a video; pass a video file"),
], ids=["short-face", "background-alone", "replace-without-videos", "animate-with-them", "overlap-2.5", "overlap-3",
         "segment-4k+1", "segment-overlap", "empty-pose", "face-shape", "missing-file", "image-file"])
def test_bad_call_arguments_are_refused_in_one_line(animate_folder, arguments, message):
    pipe = load_pipeline(animate_folder, device="cpu")
    inputs = dict(driving_videos(9), **arguments)
    with pytest.raises(VidlongError) as err:
        pipe(**inputs, prompt="a red ball")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_pose_video_no_longer_than_the_frames_a_segment_starts_from_is_refused(animate_folder):
    pipe = load_pipeline(animate_folder, device="cpu")
    with pytest.raises(VidlongError, match="has 1 frame; Wan Animate needs at least 2"):
        pipe(**driving_videos(1), prompt="a red ball")
    with pytest.raises(VidlongError, match="has 5 frames; Wan Animate needs more than prev_segment_conditioning_frames"):
        pipe(**driving_videos(5), prompt="a red ball", segment_frame_length=9, prev_segment_conditioning_frames=5)


def test_its_release_has_its_own_entry_and_it_loads_as_nothing_else(animate_folder):
    """Wan2.2-Animate-14B's transformer config matches its own entry (its native window counts the reference frame:
    21 = 1 + 20); asking its folder for another task, or another folder for "animate", is refused in one line."""
    from vidlong.models import model_facts, spec_for_facts

    config = dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=36, image_dim=1280)
    spec = spec_for_facts(model_facts(config, task="animate", family="wan-animate"))
    assert spec.name == "wan2.2-animate-14b" and spec.native_frames == 21 and spec.native_pixel_frames - 4 == 77
    with pytest.raises(VidlongError, match="holds a character-animation pipeline"):
        load_pipeline(animate_folder, device="cpu", task="i2v")
    with pytest.raises(VidlongError, match="holds no character-animation pipeline"):
        load_pipeline("default", device="cpu", task="animate")


@pytest.fixture(scope="module")
def driving_files(tmp_path_factory):
    """The character as a PNG, 13-frame pose and face videos as mp4 files (8 frames per second)."""
    from tiny_pipeline import write_driving_files

    return write_driving_files(tmp_path_factory.mktemp("driving"), 13, 8)


def test_vidlong_generate_animates_the_pose_video_in_segments_the_ratio_sets(animate_folder, driving_files, tmp_path):
    """`vidlong generate --pose-video --face-video --image` makes a video of the pose video's length and frame rate; at
    --ratio 2 with UltraViCo and FreeLong++ its segments' grid is twice the native one (the reference frame and 5 latent
    frames: one 17-frame segment makes the 13 frames, where native 5-frame ones take 3)."""
    import json

    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "animated.mp4"
    flags = [item for pair in driving_files.items() for item in pair]
    assert main(["generate", "--model", str(animate_folder), "--prompt", "a red ball", *flags, "--ratio", "2", "--method",
                 "both", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert len(frames) == settings["pixel_frames"] == 13 and fps == settings["fps"] == 8
    assert (settings["segment_frames"], settings["segments"], settings["latent_frames"]) == (17, 1, 2 * NATIVE)
    assert settings["pose_video"] == driving_files["--pose-video"] and settings["mode"] == "animate"
    assert [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"]


def test_generate_in_replace_mode_is_its_call_bit_for_bit(animate_folder, driving_files, tmp_path):
    """`generate` with a background and a mask video (files) runs the call's "replace" mode: the same frames as diffusers'
    call given those videos' frames, the character and the seed."""
    from diffusers import WanAnimatePipeline
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video, write_video

    rng = np.random.default_rng(7)
    background, mask = tmp_path / "background.mp4", tmp_path / "mask.mp4"
    write_video(background, rng.integers(0, 256, (13, 32, 32, 3), dtype=np.uint8), fps=8)
    write_video(mask, np.repeat(rng.integers(0, 2, (13, 32, 32, 1), dtype=np.uint8) * 255, 3, axis=-1), fps=8)
    pipe = load_pipeline(animate_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    request = GenerateRequest(prompt="a red ball", image=driving_files["--image"], pose_video=driving_files["--pose-video"],
                              face_video=driving_files["--face-video"], background_video=str(background), mask_video=str(mask),
                              seed=5)
    own = generate(pipe, request)
    assert own.settings["mode"] == "replace" and own.settings["segments"] == 3
    stock = WanAnimatePipeline.from_pretrained(animate_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    frames = {flag: [Image.fromarray(frame) for frame in read_video(path)[0]] for flag, path in
              (("pose_video", driving_files["--pose-video"]), ("face_video", driving_files["--face-video"]),
               ("background_video", background), ("mask_video", mask))}
    theirs = stock(image=Image.open(driving_files["--image"]).convert("RGB"), **frames, prompt="a red ball", height=32, width=32,
                   segment_frame_length=5, num_inference_steps=2, guidance_scale=1.0, mode="replace",
                   generator=torch.Generator().manual_seed(5)).frames[0]
    assert np.array_equal(own.frames, (np.clip(theirs, 0, 1) * 255).round().astype(np.uint8))


def test_a_segment_overlap_of_five_frames_is_its_call_with_that_overlap(animate_folder, tmp_path):
    """`generate` with ``segment_overlap=5`` at ratio 2 (17-frame segments) on a 29-frame pose video: two segments, each
    after the first starting from 5 frames of the one before, = diffusers' call with ``prev_segment_conditioning_frames=5``
    bit for bit; `vidlong generate --segment-overlap 5` records it."""
    import json

    from diffusers import WanAnimatePipeline
    from PIL import Image
    from tiny_pipeline import write_driving_files

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video

    given = write_driving_files(tmp_path, 29, 8, seed=2)
    pipe = load_pipeline(animate_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", image=given["--image"], pose_video=given["--pose-video"],
                                         face_video=given["--face-video"], ratio=2, segment_overlap=5, seed=4))
    assert (own.settings["segments"], own.settings["segment_frames"], own.settings["segment_overlap"]) == (2, 17, 5)
    stock = WanAnimatePipeline.from_pretrained(animate_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    frames = {name: [Image.fromarray(frame) for frame in read_video(given[flag])[0]]
              for name, flag in (("pose_video", "--pose-video"), ("face_video", "--face-video"))}
    theirs = stock(image=Image.open(given["--image"]).convert("RGB"), **frames, prompt="a red ball", height=32, width=32,
                   segment_frame_length=17, prev_segment_conditioning_frames=5, num_inference_steps=2, guidance_scale=1.0,
                   generator=torch.Generator().manual_seed(4)).frames[0]
    assert np.array_equal(own.frames, (np.clip(theirs, 0, 1) * 255).round().astype(np.uint8))
    out = tmp_path / "overlap.mp4"
    assert main(["generate", "--model", str(animate_folder), "--prompt", "a red ball", *[i for p in given.items() for i in p],
                 "--ratio", "2", "--segment-overlap", "5", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["segment_overlap"] == 5


@pytest.mark.parametrize("args, message", [
    (["--face-video", None], "with a pose and a face video: pass --face-video face.mp4"),
    (["--image", None], "pass its picture with --image character.png"),
    (["--frames", "9"], "as long as its --pose-video; drop --frames"),
    (["--noise", "specmix"], "draws every segment's noise itself"),
    (["--segment-overlap", "5"], "--ratio 1 makes segments of 5 frames, no longer than the 5 of --segment-overlap"),
    (["--ratio", "0.3"], "--ratio 0.3 leaves a Wan Animate segment no video frame"),
    (["--save-latents", "{tmp}/x.pt"], "a Wan Animate call decodes each segment and continues them itself"),
    (["--background-video", "bg.mp4"], "pass --mask-video too"),
    (["--method", "fifo", "--ratio", "2"], "needs a timestep per token, which WanAnimateTransformer3DModel does not take"),
    (["--prompt", "0s: a red ball; 1s: a blue ball"], "timeline"),
    (["--pose-video", "missing.mp4"], "no video file at missing.mp4"),
    (["stream", "--chunks", "2"], "streaming is not available for WanAnimateTransformer3DModel"),
    (["extend", "--video", "in.mp4", "--chunks", "1"], "streaming is not available for WanAnimateTransformer3DModel"),
], ids=["no-face", "no-image", "frames", "noise", "short-segment", "small-ratio", "save-latents", "background-alone", "fifo",
         "timeline", "missing-pose", "stream", "extend"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(animate_folder, driving_files, tmp_path, capsys,
                                                                     monkeypatch, args, message):
    import vidlong.pipeline
    from vidlong.cli import main

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    command = args[0] if args[0] in ("stream", "extend") else "generate"
    given = dict(driving_files, **dict(zip(args[::2], [a and a.replace("{tmp}", str(tmp_path)) for a in args[1::2]])))
    given = given if command == "generate" else {}
    flags = [item for flag, value in given.items() if value is not None and flag != "--prompt" for item in (flag, value)]
    prompt = given.get("--prompt", "a red ball")
    extra = args[1:] if command != "generate" else []
    assert main([command, "--model", str(animate_folder), "--prompt", prompt, *flags, *extra, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_pose_video_for_another_model_is_refused_in_one_line(driving_files, tmp_path, capsys):
    from vidlong.cli import main

    assert main(["generate", "--prompt", "a red ball", "--pose-video", driving_files["--pose-video"], "--out",
                 str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "drives a Wan Animate model (WanAnimatePipeline); this model takes none: drop it" in err[0], err


def test_fuzz_of_an_animate_request_gives_one_line_refusals_or_passes(animate_folder, driving_files):
    """Random values in an animate request's fields (its driving videos, image, length, method, noise) are passed or
    refused by `check_generate` in one line, never another exception."""
    from conftest import fuzz_requests

    from vidlong.validate import limits_for_folder

    valid = dict(prompt="a red ball", image=driving_files["--image"], pose_video=driving_files["--pose-video"],
                 face_video=driving_files["--face-video"], background_video=None, mask_video=None, frames=None, ratio=2.0,
                 method="both", noise=None, segment_overlap=5)
    outcomes = fuzz_requests(limits_for_folder(animate_folder), valid, cases=150)
    assert outcomes["ok"] > 10 and outcomes["refused"] > 30, outcomes


def test_a_replace_call_is_picked_by_its_videos_and_the_estimate_counts_the_whole_video(animate_folder, driving_files):
    """A direct call given a background and a mask video runs "replace" mode (not silently "animate"; ``mode=None`` too,
    as every None in vidlong's calls takes the default); `generate` refuses
    ``decode=False``; the run estimate counts every segment's forwards and the pose video's frames, and a non-string method
    is refused in one line."""
    from vidlong.estimate import run_cost
    from vidlong.generate import GenerateRequest, generate
    from vidlong.validate import check_generate, limits_for_folder

    pipe = load_pipeline(animate_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    inputs = driving_videos(9)
    replaced = pipe(**inputs, background_video=inputs["pose_video"], mask_video=driving_videos(9, seed=1)["pose_video"],
                    mode=None, prompt="a red ball", generator=torch.Generator().manual_seed(1))
    animated = pipe(**inputs, prompt="a red ball", generator=torch.Generator().manual_seed(1))
    assert not np.array_equal(replaced.frames[0], animated.frames[0])
    request = GenerateRequest(prompt="a red ball", image=driving_files["--image"], pose_video=driving_files["--pose-video"],
                              face_video=driving_files["--face-video"])
    with pytest.raises(VidlongError, match="drop decode=False"):
        generate(pipe, request, decode=False)
    native, doubled = run_cost(pipe, request, NATIVE), run_cost(pipe, request, 2 * NATIVE)
    assert native.video_bytes == doubled.video_bytes == 13 * 32 * 32 * 3  # the pose video's 13 frames, not a segment's
    assert (native.decoded_frames, doubled.decoded_frames) == (3 * 2, 1 * 5)  # 3 native segments of 2 latent frames, or 1 of 5
    with pytest.raises(VidlongError, match="method"):
        check_generate(GenerateRequest(**{**request.__dict__, "method": [1, 2]}), limits_for_folder(animate_folder))
