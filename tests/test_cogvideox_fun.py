"""CogVideoX-Fun's control models (`CogVideoXFunControlPipeline`): a video as long as its control video, with any method;
`generate` with no method = diffusers' call bit for bit, the CLI end to end, what it does not take refused in one line
before loading."""
import json

import numpy as np
import pytest
import torch

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.video_io import read_video, write_video

CONTROL_FRAMES = 25  # 8k + 1: 7 latent frames, 2.3x the native 3


@pytest.fixture(scope="module")
def fun_folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_cogvideox_fun_pipeline

    return save_tiny_cogvideox_fun_pipeline(tmp_path_factory.mktemp("tiny-fun"))


@pytest.fixture(scope="module")
def control_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fun-inputs") / "depth.mp4"
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (CONTROL_FRAMES, 32, 48, 3), dtype=np.uint8), fps=10)
    return path


def test_generate_follows_the_control_video_as_its_call_does(fun_folder, control_file):
    """With no method: diffusers' call given the control video's frames and the same start noise (vidlong draws it
    channels first, as for every CogVideoX pipeline), bit for bit; with both methods (7 latent frames against the native
    3) the video changes and keeps the control video's length and frame rate."""
    from diffusers import CogVideoXFunControlPipeline
    from PIL import Image

    pipe = vidlong.load_pipeline(fun_folder)
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongCogVideoXFunControlPipeline"
    plain = generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control_file), method="none", seed=4))
    assert plain.frames.shape == (CONTROL_FRAMES, 32, 48, 3) and plain.settings["fps"] == 10
    stock = CogVideoXFunControlPipeline.from_pretrained(fun_folder)
    stock.set_progress_bar_config(disable=True)
    frames = [Image.fromarray(f) for f in read_video(control_file)[0]]
    out = stock("a red ball", control_video=frames, height=32, width=48, num_inference_steps=2, guidance_scale=6.0,
                generator=torch.Generator().manual_seed(4), output_type="np").frames[0]  # its own noise draw, the same seed
    assert np.array_equal((np.clip(out, 0, 1) * 255).round().astype(np.uint8), plain.frames)
    both = generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control_file), method="both", seed=4))
    assert both.frames.shape == plain.frames.shape and not np.array_equal(both.frames, plain.frames)
    with pytest.raises(vidlong.VidlongError, match="num_frames 9 is not the control video's 25 frames"):
        pipe("a red ball", control_video=frames, num_frames=9)
    as_tensor = torch.rand(1, 9, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 2 - 1  # [B, F, C, H, W] too
    few = torch.randn(1, 3, 4, 4, 6, generator=torch.Generator().manual_seed(1))
    ours, theirs = (p("a red ball", control_video=as_tensor, latents=few, num_inference_steps=1, height=32, width=48,
                      output_type="np").frames for p in (pipe, stock))
    assert np.array_equal(ours, theirs)


def test_vidlong_generate_writes_the_controlled_video(fun_folder, control_file, tmp_path):
    out = tmp_path / "fun.mp4"
    assert main(["generate", "--model", str(fun_folder), "--control-video", str(control_file), "--frames", "17",
                 "--method", "both", "--prompt", "a red ball", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape[0] == 17 and fps == 10 and json.loads(out.with_suffix(".json").read_text())["method"] == "both"


@pytest.mark.parametrize("args, message", [
    ([], "a CogVideoX-Fun control model follows a control video: pass --control-video"),
    (["--control-video", "{control}", "--mask-video", "{control}"], "a CogVideoX-Fun control model follows its --control-video alone"),
    (["--control-video", "{control}", "--reference-images", "{control}"], "--reference-images guide a Wan VACE model"),
    (["--control-video", "{control}", "--ratio", "2"], "a controlled video is as long as its --control-video: drop --ratio"),
    (["--control-video", "{control}", "--frames", "13"], "13 frames can't be decoded by this VAE (needs 8k+1)"),
    (["stream", "--chunks", "2"], "a CogVideoX-Fun control model follows one whole control video"),
    (["--control-video", "{control}", "--image", "{control}"], "this model is text-to-video and takes no --image; use an "
     "image-to-video model folder (Wan, SkyReels-V2, LTX-Video, LTX-2, CogVideoX, HunyuanVideo, Kandinsky 5 and 6, "
     "Motif-Video, EasyAnimate, FramePack, Cosmos-Predict2.5, Cosmos-Predict2 and 1.0 Video2World, Cosmos 3 or Sana-Video)"),
], ids=["no-control", "mask", "references", "ratio", "frames", "stream", "image"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(fun_folder, control_file, tmp_path, capsys, monkeypatch,
                                                                     args, message):
    import vidlong.pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    command, flags = (args[0], args[1:]) if args[:1] == ["stream"] else ("generate", args)
    flags = [str(control_file) if f == "{control}" else f for f in flags]
    assert main([command, "--model", str(fun_folder), "--prompt", "a red ball", *flags, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "vidlong extend" not in err[0], err  # it neither streams nor extends


def test_a_short_control_video_a_temporal_patch_and_eval_are_refused_in_one_line(fun_folder, tmp_path, capsys):
    """A control video shorter than 9 frames (its 8k+1 would leave one frame), a folder in CogVideoX1.5's layout (a
    temporal patch of 2: no 8k+1 length fits it), and `vidlong eval` (its cells have no control video)."""
    import shutil

    short = tmp_path / "short.mp4"
    write_video(short, np.zeros((5, 32, 48, 3), np.uint8), fps=10)
    patched = shutil.copytree(fun_folder, tmp_path / "fun-1.5")
    config = json.loads((patched / "transformer" / "config.json").read_text())
    (patched / "transformer" / "config.json").write_text(json.dumps(dict(config, patch_size_t=2)))
    for folder, flags, message in [
        (fun_folder, ["generate", "--control-video", str(short)], "--control-video is too short for this model, which takes "
                                                                   "8k+1 of its frames: pass one of at least 9 frames"),
        (patched, ["generate", "--control-video", str(short)], "in CogVideoX1.5's layout (a temporal patch of 2 latent frames) "
                                                               "is not implemented"),
        (fun_folder, ["eval", "--ratios", "1", "--seeds", "1"], "use vidlong generate --control-video with it"),
    ]:
        assert main([flags[0], "--model", str(folder), *(["--prompt", "a red ball"] if flags[0] == "generate" else []),
                     *flags[1:], "--out", str(tmp_path / ("x.mp4" if flags[0] == "generate" else "eval"))]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_asking_for_one_frame_of_a_control_video_is_taken(fun_folder, control_file):
    """--frames 1 asks for the control video's first frame (a video of one frame), which the too-short refusal leaves
    alone; so is a control video of one frame."""
    from vidlong.validate import check_generate, limits_for_folder

    limits = limits_for_folder(fun_folder)
    assert check_generate(GenerateRequest(prompt="a red ball", control_video=str(control_file), frames=1), limits) == 1
    assert check_generate(GenerateRequest(prompt="a red ball", control_video=np.zeros((1, 32, 48, 3), np.uint8)), limits) == 1
