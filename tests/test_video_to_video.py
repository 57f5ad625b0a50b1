"""Video-to-video (`WanVideoToVideoPipeline`, `CogVideoXVideoToVideoPipeline`: a Wan2.1 or CogVideoX text-to-video folder
loaded with ``task="v2v"``): `generate` with ``video=`` is diffusers' call bit for bit with no method, the methods act on a
video longer than the native window, the CLI redraws an mp4 at its length and frame rate, and what it cannot take is
refused in one line before any model loads."""
import json

import numpy as np
import pytest
import torch
import yaml
from tiny_pipeline import NATIVE_LATENT_FRAMES as NATIVE, save_tiny_pipeline

from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline
from vidlong.video_io import read_video, write_video


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {kind: save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind) for kind in ("wan2.1", "wan2.2", "ti2v")}


def moving_frames(count: int, size: int = 32) -> np.ndarray:
    """uint8 frames ``[count, size, size, 3]``: a bright square moving right over a gradient."""
    frames = np.tile(np.linspace(20, 120, size, dtype=np.uint8)[None, :, None], (count, size, 1, 3)).copy()
    for t in range(count):
        frames[t, 8:16, 2 * t % (size - 8):2 * t % (size - 8) + 8] = (230, 40, 40)
    return frames


def redrawn_by_cli(folder, source, out, *flags, prompt: str = "a red ball"):
    """(frames, fps, settings) of `vidlong generate --video source` on the model `folder` with `flags`, written to `out`."""
    assert main(["generate", "--model", str(folder), "--prompt", prompt, "--video", str(source), *flags, "--out", str(out)]) == 0
    frames, fps = read_video(out)
    return frames, fps, json.loads(out.with_suffix(".json").read_text())


def test_generate_is_its_call_bit_for_bit_and_the_methods_act_on_a_long_video(folders):
    """With no method, `generate` with a video of 11 frames (its first 9, the most 4k+1) = diffusers' call with the same
    seed, strength and frames, bit for bit; progress counts the steps the strength leaves, to the end. On a video of
    twice the native window, `both` changes the output and the settings record the video and strength."""
    from diffusers import WanVideoToVideoPipeline
    from PIL import Image

    pipe = load_pipeline(folders["wan2.1"], device="cpu", task="v2v")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongWanVideoToVideoPipeline" and pipe.spec.name == "tiny-wan2.1"
    frames = moving_frames(11)
    seen = []
    own = generate(pipe, GenerateRequest(prompt="a red ball", video=frames, strength=0.7, steps=3, seed=3),
                   progress=lambda stage, done, total: seen.append((stage, done, total)))
    stock = WanVideoToVideoPipeline.from_pretrained(folders["wan2.1"], local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    video = stock(prompt="a red ball", video=[Image.fromarray(f) for f in frames[:9]], height=32, width=32,
                  num_inference_steps=3, guidance_scale=2.0, strength=0.7, generator=torch.Generator().manual_seed(3),
                  output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert [s for s in seen if s[0] == "denoise"][-1] == ("denoise", 2, 2)  # int(3 · 0.7) steps
    assert own.settings["strength"] == 0.7 and own.settings["video"] == "in memory" and own.settings["pixel_frames"] == 9

    long = moving_frames(4 * (2 * NATIVE - 1) + 1)
    plain, both = (generate(pipe, GenerateRequest(prompt="a red ball", video=long, method=method, seed=3))
                   for method in ("none", "both"))
    assert plain.frames.shape == both.frames.shape == (len(long), 32, 32, 3) and both.settings["ratio"] == 2
    assert not np.array_equal(plain.frames, both.frames) and both.settings["strength"] == 0.8
    assert [m["name"] for m in both.settings["methods"]] == ["UltraViCo", "SpectralFusion"]
    assert all(type(block.attn1.processor).__name__ == "WanAttnProcessor" for block in pipe.transformer.blocks)


def test_the_cli_redraws_a_video_file_at_its_length_and_frame_rate(folders, tmp_path):
    """`vidlong generate --video` keeps the file's length (its most 4k+1 frames, or --frames of them) and frame rate, and
    a prompt timeline's seconds are the file's."""
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(15), fps=10)
    frames, fps, settings = redrawn_by_cli(folders["wan2.1"], source, tmp_path / "out.mp4", "--strength", "0.5", "--method",
                                           "ultravico")
    assert len(frames) == 13 and fps == 10 and settings["video"] == str(source) and settings["strength"] == 0.5
    frames, _, settings = redrawn_by_cli(folders["wan2.1"], source, tmp_path / "first.mp4", "--frames", "9", "--preset", "4x",
                                         "--method", "both")
    assert len(frames) == 9 and settings["ratio"] == 3 / NATIVE

    slow = tmp_path / "slow.mp4"  # 4 fps, where the model's are 8: a timeline counts the file's seconds
    write_video(slow, moving_frames(13), fps=4)
    _, fps, settings = redrawn_by_cli(folders["wan2.1"], slow, tmp_path / "timeline.mp4",
                                      prompt="0s: a red ball; 1s: a blue ball")
    assert [entry["latent_frame"] for entry in settings["timeline"]] == [0, 1] and fps == 4


@pytest.mark.parametrize("kind, args, message", [
    ("wan2.2", [], "and this one is not; this model redraws chunk by chunk: vidlong stream --video"),
    ("ti2v", [], "and this one is not; this model redraws chunk by chunk: vidlong stream --video"),
    ("wan2.1", ["--image", "IMAGE"], "takes no --image"),
    ("wan2.1", ["--method", "fifo"], "method fifo"),
    ("wan2.1", ["--ratio", "2"], "--ratio sets a length"),
    ("wan2.1", ["--strength", "0"], "--strength must be a number in (0, 1]"),
    ("wan2.1", ["--strength", "0.2", "--steps", "2"], "denoises no step"),
    ("wan2.1", ["--frames", "17"], "--frames 17 is more than the video's 13 frames"),
    ("wan2.1", ["--frames", "10"], "--frames"),
    ("wan2.1", ["--prompt", "0s: a red ball; 5s: a blue ball"], "starts a prompt at 5s but the video lasts 1.62s"),
    ("wan2.1", ["--video", "missing.mp4"], "no video file at"),
    ("wan2.1", ["--video", "IMAGE"], "is an image, not a video"),
    ("wan2.1", ["--no-video", "--strength", "0.5"], "--strength is how much of a video is redrawn"),
], ids=["two-experts", "ti2v", "image", "fifo", "ratio", "strength-0", "no-step", "too-many-frames", "not-4k+1", "timeline",
        "missing", "still-image", "strength-alone"])
def test_what_it_cannot_take_is_refused_in_one_line_before_loading(folders, image_path, tmp_path, capsys, monkeypatch,
                                                                   kind, args, message):
    import vidlong.pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(13), fps=8)
    args = [str(image_path) if a == "IMAGE" else str(tmp_path / a) if a == "missing.mp4" else a for a in args]
    video = [] if "--no-video" in args or "--video" in args else ["--video", str(source)]
    prompt = [] if "--prompt" in args else ["--prompt", "a red ball"]
    command = ["generate", "--model", str(folders[kind]), *prompt, *video, *[a for a in args if a != "--no-video"]]
    assert main([*command, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_load_and_call_refusals_and_a_saved_video_to_video_folder(folders, tmp_path):
    """``task="v2v"`` refuses a two-expert folder in one line; the call refuses more frames than the video holds; a
    folder saved from the video-to-video pipeline loads as it, and a text-to-video generate from it is refused, and so is
    the app on it."""
    with pytest.raises(VidlongError, match="two experts"):
        load_pipeline(folders["wan2.2"], device="cpu", task="v2v")
    pipe = load_pipeline(folders["wan2.1"], device="cpu", task="v2v")
    with pytest.raises(VidlongError, match="num_frames 13 is more than the video's 9 frames"):
        pipe(prompt="a red ball", video=list(moving_frames(9)), num_frames=13)
    pipe.save_pretrained(tmp_path)
    (tmp_path / "vidlong.yaml").write_text((folders["wan2.1"] / "vidlong.yaml").read_text())
    again = load_pipeline(tmp_path, device="cpu")
    assert type(again).__name__ == "VidLongWanVideoToVideoPipeline" and again.task == "v2v"
    with pytest.raises(VidlongError, match="pass the video to redraw"):
        generate(again, GenerateRequest(prompt="a red ball"))
    from vidlong.apps.gradio_app import launch

    with pytest.raises(VidlongError, match="the app redraws videos through a text-to-video pipeline"):  # before loading
        launch(model=str(tmp_path), prevent_thread_lock=True)


def test_a_text_to_video_pipeline_redraws_through_its_twin(folders):
    """`generate` with a video on the Wan2.1 text-to-video pipeline runs its `video_to_video` twin (its own modules):
    the video-to-video pipeline's result bit for bit; Wan2.2's two experts are refused in one line."""
    t2v = load_pipeline(folders["wan2.1"], device="cpu")
    v2v = load_pipeline(folders["wan2.1"], device="cpu", task="v2v")
    request = GenerateRequest(prompt="a red ball", video=moving_frames(13), strength=0.6, method="both", seed=2)
    assert t2v.redraws() and t2v.video_to_video().transformer is t2v.transformer
    assert np.array_equal(generate(t2v, request).frames, generate(v2v, request).frames)
    two = load_pipeline(folders["wan2.2"], device="cpu")
    with pytest.raises(VidlongError, match="needs a Wan2.1 or CogVideoX-2B/5B text-to-video model"):
        generate(two, request)


def test_the_direct_call_reads_uint8_frames_and_refuses_what_diffusers_would_fail_on(folders, tmp_path):
    """`pipe(video=...)`: uint8 frames as an array give what PIL images give (diffusers would read them as 0-1); a
    strength that leaves no step, an empty video and frames of two sizes are refused in one line; a saved
    video-to-video folder does not stream or extend (one line, from Python and from the CLI)."""
    from PIL import Image

    pipe = load_pipeline(folders["wan2.1"], device="cpu", task="v2v")
    pipe.set_progress_bar_config(disable=True)
    frames = moving_frames(9)
    call = dict(prompt="a red ball", strength=0.5, output_type="np")
    as_pil = pipe(video=[Image.fromarray(f) for f in frames], generator=torch.Generator().manual_seed(1), **call).frames[0]
    as_uint8 = pipe(video=frames, generator=torch.Generator().manual_seed(1), **call).frames[0]
    assert np.array_equal(as_pil, as_uint8)
    with pytest.raises(VidlongError, match=r"strength \(--strength\) 0.1 of 2 steps denoises no step; use num_inference_steps 10 "
                                           r"or more at this strength, or strength \(--strength\) 0.5 or more"):
        pipe(video=frames, prompt="a red ball", strength=0.1)
    with pytest.raises(VidlongError, match="video holds no frames"):
        pipe(video=[], prompt="a red ball")
    with pytest.raises(VidlongError, match="WanVideoToVideoPipeline's call makes one video per prompt"):
        pipe(video=frames, prompt="a red ball", num_videos_per_prompt=2)  # diffusers' sets it to 1 whatever is given
    with pytest.raises(VidlongError, match="frames of different sizes"):
        generate(pipe, GenerateRequest(prompt="a red ball", video=[frames[0], frames[0][:16]]))
    pipe.save_pretrained(tmp_path / "v2v")
    (tmp_path / "v2v" / "vidlong.yaml").write_text((folders["wan2.1"] / "vidlong.yaml").read_text())
    saved = load_pipeline(tmp_path / "v2v", device="cpu")
    with pytest.raises(VidlongError, match="does not stream or extend"):
        next(iter(saved.stream("a red ball", chunks=1)))
    assert main(["stream", "--model", str(tmp_path / "v2v"), "--prompt", "a red ball", "--chunks", "1",
                 "--out", str(tmp_path / "s.mp4")]) == 2
    assert not (tmp_path / "s.mp4").exists()


def test_a_variable_frame_rate_file_is_read_as_stored(tmp_path):
    """A file whose frames are stored at uneven times is read frame by frame as stored (ffmpeg's passthrough), so
    that the frames read are the frames counted, not the file resampled to a constant rate with repeats."""
    import subprocess

    from vidlong.video_io import _ffmpeg, count_frames

    source = tmp_path / "cfr.mp4"
    write_video(source, moving_frames(12), fps=8)
    uneven = tmp_path / "vfr.mp4"  # each frame shown for a time that grows with its index
    subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-loglevel", "error", "-i", str(source), "-vf", "setpts=N*N/20/TB",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(uneven)], check=True)
    frames, fps = read_video(uneven)
    assert len(frames) == count_frames(uneven) == 12 and fps > 0


def test_a_method_switch_keeps_its_place_in_the_full_schedule(folders):
    """`both-then-window` switches after half of the steps of the whole schedule: a redraw that starts past that point
    (strength 0.5 of 4 steps) runs the window from its first step; one from pure noise switches after step 2."""
    pipe = load_pipeline(folders["wan2.1"], device="cpu", task="v2v")
    request = GenerateRequest(prompt="a red ball", video=moving_frames(9), method="both-then-window", steps=4, strength=0.5)
    late = generate(pipe, request).settings
    assert [m["name"] for m in late["methods"]] == ["SlidingWindow"] and late["methods_after_step"] is None
    whole = generate(pipe, GenerateRequest(**{**request.__dict__, "strength": 1.0})).settings
    assert [m["name"] for m in whole["methods"]] == ["UltraViCo", "SpectralFusion"] and whole["methods_after_step"]["step"] == 2


@pytest.fixture(scope="module")
def cogvideox_folders(tmp_path_factory):
    """A tiny CogVideoX text-to-video folder ("t2v": native 3 latent frames, 32x48, 2 steps, guidance 2) and the same
    weights saved by diffusers' `CogVideoXVideoToVideoPipeline` ("v2v"), each with that vidlong.yaml."""
    from diffusers import CogVideoXVideoToVideoPipeline
    from tiny_pipeline import tiny_cogvideox_pipeline

    spec = yaml.safe_dump(dict(name="tiny-cogvideox", native_frames=NATIVE, height=32, width=48, fps=8, num_inference_steps=2,
                               guidance_scale=2.0))
    folders = {kind: tmp_path_factory.mktemp(f"cogvideox-{kind}") for kind in ("t2v", "v2v")}
    t2v = tiny_cogvideox_pipeline()
    t2v.save_pretrained(folders["t2v"], safe_serialization=True)
    CogVideoXVideoToVideoPipeline(**t2v.components).save_pretrained(folders["v2v"], safe_serialization=True)
    for folder in folders.values():
        (folder / "vidlong.yaml").write_text(spec)
    return folders


@pytest.mark.parametrize("sampler", ["ddim", "dpm"])
def test_cogvideox_generate_is_its_call_with_the_seed_bit_for_bit_and_the_methods_act_on_a_long_video(cogvideox_folders,
                                                                                                      sampler):
    """A folder saved as `CogVideoXVideoToVideoPipeline` loads as vidlong's class. With no method, `generate` of a video of
    11 frames (its first 9: 8k+1) = diffusers' call with the same seed, strength and frames, bit for bit, with the DDIM
    sampler and with the DPM-solver++ that draws from the generator at every step (its call draws the video's latent from
    the VAE's posterior, then its noise, then the sampler's). The text-to-video folder redraws through its twin (its own
    modules): the same video. On 25 frames (7 latent frames, past twice the native 3), `both` changes the output."""
    from diffusers import CogVideoXDPMScheduler, CogVideoXVideoToVideoPipeline
    from PIL import Image

    pipe = load_pipeline(cogvideox_folders["v2v"], device="cpu")
    stock = CogVideoXVideoToVideoPipeline.from_pretrained(cogvideox_folders["v2v"], local_files_only=True)
    assert type(pipe).__name__ == "VidLongCogVideoXVideoToVideoPipeline" and pipe.task == "v2v"
    if sampler == "dpm":
        for each in (pipe, stock):
            each.scheduler = CogVideoXDPMScheduler.from_config(each.scheduler.config)
    stock.set_progress_bar_config(disable=True)
    frames = moving_frames(11)
    request = GenerateRequest(prompt="a red ball", video=frames, strength=0.7, steps=3, seed=3)
    own = generate(pipe, request)
    video = stock(prompt="a red ball", video=[Image.fromarray(f) for f in frames[:9]], height=32, width=32,
                  num_inference_steps=3, guidance_scale=2.0, strength=0.7, generator=torch.Generator().manual_seed(3),
                  output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert own.settings["pixel_frames"] == 9 and own.settings["strength"] == 0.7
    if sampler == "dpm":
        return
    t2v = load_pipeline(cogvideox_folders["t2v"], device="cpu")
    assert t2v.redraws() and t2v.video_to_video().transformer is t2v.transformer
    assert np.array_equal(generate(t2v, request).frames, own.frames)

    long = moving_frames(27)
    plain, both = (generate(t2v, GenerateRequest(prompt="a red ball", video=long, method=method, seed=3))
                   for method in ("none", "both"))
    assert plain.frames.shape == both.frames.shape == (25, 32, 32, 3) and both.settings["ratio"] == 7 / NATIVE
    assert not np.array_equal(plain.frames, both.frames)
    assert [m["name"] for m in both.settings["methods"]] == ["UltraViCo", "SpectralFusion"]
    stock_processors = {type(block.attn1.processor).__name__ for block in t2v.transformer.transformer_blocks}
    assert stock_processors == {"CogVideoXAttnProcessor2_0"}


def test_cogvideox_cli_redraws_a_video_file_with_both_methods(cogvideox_folders, tmp_path):
    """`vidlong generate --video in.mp4 --strength 0.8 --method both` on the CogVideoX text-to-video folder writes the
    redrawn mp4: the file's most 8k+1 frames (25 of 27, 7 latent frames) at its frame rate."""
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(27), fps=10)
    frames, fps, settings = redrawn_by_cli(cogvideox_folders["t2v"], source, tmp_path / "out.mp4", "--strength", "0.8",
                                           "--method", "both")
    assert frames.shape == (25, 32, 32, 3) and fps == 10 and settings["strength"] == 0.8 and settings["latent_frames"] == 7
    assert [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"]


def test_cogvideox_what_its_video_to_video_cannot_take_is_refused_in_one_line_before_loading(cogvideox_folders, tmp_path,
                                                                                             capsys, monkeypatch):
    """CogVideoX-5B-I2V's layout (an image-to-video folder) and CogVideoX1.5's temporal patch (its call takes an even
    number of latent frames alone, which the VAE decodes to 4F frames) have no video-to-video pipeline, and a length that
    is no 8k+1 frames (an even number of latent frames) would not come back as itself: one line each, before loading,
    from the CLI, `load_pipeline` and the call; so are fifo (no timestep per token), a stream redrawing the video (the
    Wan VAE's streaming encoder) and the video-to-video pipeline's own streams and extensions."""
    import shutil

    import vidlong.pipeline
    from tiny_pipeline import tiny_cogvideox_i2v_pipeline

    i2v, patched = tmp_path / "i2v", tmp_path / "cogvideox1.5"
    tiny_cogvideox_i2v_pipeline().save_pretrained(i2v, safe_serialization=True)
    shutil.copytree(cogvideox_folders["t2v"], patched)
    config = patched / "transformer" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), patch_size_t=2)))
    for folder in (i2v, patched):
        shutil.copy(cogvideox_folders["t2v"] / "vidlong.yaml", folder)
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(17), fps=8)
    load = vidlong.pipeline.load_pipeline
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    refused = "--video (video-to-video) needs a Wan2.1 or CogVideoX-2B/5B text-to-video model"
    capsys.readouterr()
    t2v = cogvideox_folders["t2v"]
    for command, folder, args, message in [
            ("generate", i2v, [], refused), ("generate", i2v, ["--image", str(tmp_path / "none.png")], refused),
            ("generate", patched, [], refused),
            ("generate", t2v, ["--frames", "13"], "13 frames can't be decoded by this VAE (needs 8k+1); use --frames 9 or "
                                                  "--frames 17"),
            ("generate", t2v, ["--method", "fifo"], "fifo (diagonal denoising) needs a timestep per token"),
            ("stream", t2v, [], "this one is not: drop --video, or use such a model; this model redraws in one call: vidlong "
                                "generate --video")]:
        assert main([command, "--model", str(folder), "--prompt", "a red ball", "--video", str(source), *args,
                     "--out", str(tmp_path / "x.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    for folder, held in [(i2v, "a CogVideoXImageToVideoPipeline:"), (patched, "with a temporal patch of 2 latent frames")]:
        with pytest.raises(VidlongError, match=f"{held}.* use a Wan2.1 or CogVideoX-2B/5B text-to-video folder"):
            load(folder, device="cpu", task="v2v")
    pipe = load(cogvideox_folders["v2v"], device="cpu")
    with pytest.raises(VidlongError, match=r"13 frames can't be decoded by this VAE \(needs 8k\+1\); use num_frames 9"):
        pipe(prompt="a red ball", video=moving_frames(13), num_frames=13)
    with pytest.raises(VidlongError, match="does not stream or extend"):
        next(iter(pipe.stream("a red ball", chunks=1)))
    with pytest.raises(VidlongError, match="does not stream or extend"):
        next(iter(pipe.extend("a red ball", video=moving_frames(9), chunks=1)))
