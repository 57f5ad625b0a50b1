"""Kandinsky 6's video super-resolution after a Kandinsky 6 video (`vidlong.families.kandinsky6_sr`, ``vidlong generate
--upsample FOLDER [--upsample-scale 2|2.25|4]``): within one window, `generate`'s frames are diffusers' own
`Kandinsky6SRPipeline` call on the video's frames bit for bit (same seed), its sound and latents the video's; a longer
video runs in windows of the SR model's length, each an SR call, blended linearly where they overlap; the CLI writes the
mp4 at the scaled size with its sound and a sidecar naming the run; the estimate counts the video at that size; what it
cannot run is refused in one line before loading. A tiny random Kandinsky 6 folder and a tiny random SR folder (a one-block
SR transformer whose flex attention runs eagerly on the CPU, a K-VAE of 4x space and time, a latent upscaler bank)."""
import functools
import json
import shutil

import numpy as np
import pytest
import torch
from family_checks import check_refused_before_loading

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate

REQUEST = dict(prompt="a red ball", seed=3)  # the tiny Kandinsky 6's native 9 frames at 32x48


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(a tiny Kandinsky 6 folder: 9 frames at 32x48, 24 fps; a tiny Kandinsky6SR folder whose vidlong.yaml sets 1 step,
    its windows the defaults': 121 frames sharing 24)."""
    from tiny_pipeline import save_tiny_kandinsky6_pipeline, save_tiny_kandinsky6_sr

    return (save_tiny_kandinsky6_pipeline(tmp_path_factory.mktemp("kandinsky6")),
            save_tiny_kandinsky6_sr(tmp_path_factory.mktemp("kandinsky6-sr"), num_inference_steps=1))


@pytest.fixture(scope="module")
def pipe(folders):
    """The tiny Kandinsky 6 folder loaded by vidlong."""
    loaded = vidlong.load_pipeline(folders[0])
    loaded.set_progress_bar_config(disable=True)
    return loaded


def as_uint8(frames):
    """A float video ``[T, H, W, 3]`` in 0-1 as vidlong rounds one."""
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def stock_sr(folder, frames, scale, steps, seed=3):
    """uint8 frames of diffusers' `Kandinsky6SRPipeline` loaded from `folder` by diffusers, called on uint8 `frames` as
    0-1 floats at `scale` with `steps`, a CPU generator seeded with `seed`."""
    from diffusers import Kandinsky6SRPipeline

    stock = Kandinsky6SRPipeline.from_pretrained(folder)
    stock.set_progress_bar_config(disable=True)
    return as_uint8(stock(video=frames.astype(np.float32) / 255, resolution_scale=scale, num_inference_steps=steps,
                          generator=torch.Generator().manual_seed(seed), output_type="np").frames[0])


def test_within_one_window_generate_upsample_is_the_stock_sr_call_bit_for_bit(folders, pipe):
    """`generate` with ``upsample`` the SR folder at 2x: its frames are the stock SR call (the folder's 1 step, seed 3) on
    the video made without ``upsample``, at 64x96; its latents and sound are that video's; the sidecar's settings name
    the folder, both sizes and the SR run (one window of 121 frames)."""
    upsampled = generate(pipe, GenerateRequest(**REQUEST, upsample=str(folders[1]), upsample_scale=2))
    plain = generate(pipe, GenerateRequest(**REQUEST))
    assert plain.frames.shape == (9, 32, 48, 3) and upsampled.frames.shape == (9, 64, 96, 3)
    assert np.array_equal(upsampled.frames, stock_sr(folders[1], plain.frames, 2, 1))
    assert torch.equal(upsampled.latents, plain.latents) and np.array_equal(upsampled.audio.samples, plain.audio.samples)
    settings = upsampled.settings
    assert (settings["upsample"], settings["upsampled_height"], settings["upsampled_width"]) == (str(folders[1]), 64, 96)
    assert settings["upsample_pass"] == dict(window_frames=121, overlap_frames=24, num_inference_steps=1, resolution_scale=2,
                                             windows=1)


def test_a_longer_video_runs_in_windows_blended_linearly(folders, pipe, tmp_path, monkeypatch):
    """A 13-frame video through an SR folder whose vidlong.yaml sets 9-frame windows sharing 4 (1 step): two SR calls, on
    frames 0-8 and 4-12 (`window_starts`: the last window ends with the video, sharing 5), the first the stock call bit
    for bit; frames one window holds are its own, the 5 shared ones ``(1 - w)·a + w·b`` with ``w = (j + 1) / 6`` at
    shared frame j (within one grey level of that float64 sum: the blend runs in float32); its progress reported before
    the first window (the app's bar then shows the upsample, not the decode before it, while the SR loads and runs) and
    after each. A 4x Kandinsky 6 video of 493 frames takes 5 windows of 121."""
    from diffusers import Kandinsky6SRPipeline
    from tiny_pipeline import save_tiny_kandinsky6_sr

    from vidlong.families.kandinsky6_sr import sr_frames, window_starts

    windowed = save_tiny_kandinsky6_sr(tmp_path / "windowed", window_frames=9, overlap_frames=4, num_inference_steps=1)
    frames = np.random.default_rng(5).integers(0, 256, (13, 32, 48, 3), dtype=np.uint8)
    calls, call = [], Kandinsky6SRPipeline.__call__

    @functools.wraps(call)
    def recorded(self, video, **kwargs):
        output = call(self, video=video, **kwargs)
        calls.append((video, output.frames[0]))
        return output

    monkeypatch.setattr(Kandinsky6SRPipeline, "__call__", recorded)
    reported = []
    made, settings = sr_frames(pipe, frames, windowed, 2, 3, lambda *done: reported.append(done))
    assert len(calls) == settings["windows"] == 2 and made.shape == (13, 64, 96, 3) and reported == [(0, 2), (1, 2), (2, 2)]
    assert [video.tolist() for video, _ in calls] == [(frames[start:start + 9] / np.float32(255)).tolist() for start in (0, 4)]
    monkeypatch.setattr(Kandinsky6SRPipeline, "__call__", call)
    (a, first), (b, second) = [(None, output.astype(np.float64)) for _, output in calls]
    assert np.array_equal(as_uint8(first), stock_sr(windowed, frames[:9], 2, 1))
    assert np.array_equal(made[:4], as_uint8(first[:4])) and np.array_equal(made[9:], as_uint8(second[5:]))
    weight = (np.arange(5) + 1)[:, None, None, None] / 6
    blend = as_uint8((1 - weight) * first[4:] + weight * second[:5])
    assert np.abs(made[4:9].astype(int) - blend).max() <= 1 and np.mean(made[4:9] == blend) > 0.99
    assert window_starts(493, 121, 24) == [0, 97, 194, 291, 372] and window_starts(9, 121, 24) == [0]


def test_vidlong_generate_upsample_writes_the_mp4_at_the_scaled_size(folders, tmp_path, capsys):
    """``vidlong generate --upsample FOLDER --upsample-scale 2``: its 9 frames at 24 fps, 96x64 from 48x32, the sidecar
    naming the folder and the SR run, the sound as long as the video, the estimate line saying what it counts."""
    from conftest import mp4_audio

    from vidlong.video_io import read_video

    out = tmp_path / "sr.mp4"
    assert main(["generate", "--model", str(folders[0]), "--prompt", "a red ball", "--upsample",
                 str(folders[1]), "--upsample-scale", "2", "--out", str(out)]) == 0
    assert ("; with Kandinsky 6's video super-resolution's 2x video at 96x64 (that video's memory and a window's in float "
            "counted; its compute and time not)\n") in capsys.readouterr().out
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (9, 64, 96, 3) and fps == 24
    assert (settings["width"], settings["upsampled_width"], settings["upsample"]) == (48, 96, str(folders[1]))
    assert settings["upsample_scale"] == 2 and settings["upsample_pass"]["windows"] == 1
    assert abs(mp4_audio(out, 16000, channels=1).shape[1] / 16000 - 9 / 24) < 0.1


def test_the_estimate_counts_the_video_at_the_size_the_sr_makes_and_steps_follow_the_scheduler(folders, pipe, tmp_path):
    """`run_cost` with the SR folder: the video at the size its call makes (2.25x of 32x48: pre-upscaled to 36x56, its
    K-VAE's 4-pixel multiple, then 2x: 72x112; its default scale), its memory that uint8 video and two float32 copies of
    its one window (its 9 frames: the 121-frame window is longer), no SR run; a release's 480x864 at each scale. Without
    a vidlong.yaml, its steps are its call's 4 with a flow-matching scheduler, 2 with a distilled release's
    PiflowScheduler."""
    from vidlong.estimate import run_cost
    from vidlong.families.kandinsky6_sr import sr_settings, sr_side

    cost = run_cost(pipe, GenerateRequest(**REQUEST, upsample=str(folders[1])), 3)
    assert cost.upsampled == (2.25, 72, 112) and cost.super_resolution and cost.video_bytes == 9 * 72 * 112 * 3
    assert cost.peak_bytes == 9 * 72 * 112 * 3 * (1 + 4 + 4)
    assert [(sr_side(480, scale, 16), sr_side(864, scale, 16)) for scale in (2, 2.25, 4)] == [(960, 1728), (1088, 1952),
                                                                                              (1920, 3456)]
    bare = shutil.copytree(folders[1], tmp_path / "bare", ignore=shutil.ignore_patterns("vidlong.yaml"))
    assert sr_settings(bare)["num_inference_steps"] == 4
    config = json.loads((bare / "scheduler" / "scheduler_config.json").read_text())
    (bare / "scheduler" / "scheduler_config.json").write_text(json.dumps(dict(config, _class_name="PiflowScheduler")))
    assert sr_settings(bare) == dict(window_frames=121, overlap_frames=24, num_inference_steps=2)


#: (the arguments after the model and prompt, "{model}": the model given, what the refusal says); "{k6}", "{sr}",
#: "{tmp}" the folders
REFUSED = {
    "true": ("{k6}", ["--upsample"], "Kandinsky 6's video super-resolution is a pipeline folder of its own "
                                     "(Kandinsky6SRPipeline, e.g. Kandinsky-6.0-VSR-distilled2steps-5s-Diffusers); pass its folder"),
    "missing": ("{k6}", ["--upsample", "{tmp}/none"], "no folder at {tmp}/none; pass the folder of Kandinsky 6's video"),
    "empty": ("{k6}", ["--upsample", "{tmp}"], "holds no diffusers pipeline, not Kandinsky 6's video super-resolution"),
    "a-model": ("{k6}", ["--upsample", "{k6}"], "holds a Kandinsky6TI2VAPipeline, not Kandinsky 6's video super-resolution"),
    "scale": ("{k6}", ["--upsample", "{sr}", "--upsample-scale", "3"],
              "--upsample-scale of Kandinsky 6's video super-resolution is 2, 2.25 or 4 (its call's resolution_scale), got 3.0"),
    "scale-alone": ("{k6}", ["--upsample-scale", "2"], "--upsample-scale sets the scale of Kandinsky 6's video "
                                                       "super-resolution: add --upsample FOLDER, or drop --upsample-scale"),
    "small": ("{k6}", ["--upsample", "{sr}", "--upsample-scale", "2", "--height", "16", "--width", "16"],
              "at 2x refines tiles of 32x32 pixels of the video, larger than its 16x16: make the video larger"),
    "window": ("{k6}", ["--upsample", "{tmp}/odd"], "window_frames in {tmp}/odd/vidlong.yaml must be 1 + 4k pixel frames"),
    "wan": ("default", ["--upsample", "{sr}"], "this model (WanPipeline) has none: drop --upsample"),
    "as-model": ("{sr}", [], "holds a Kandinsky6SRPipeline, Kandinsky 6's video super-resolution, not a video model: pass "
                             "it to vidlong generate --upsample"),
    "parallel": ("{k6}", ["--upsample", "{sr}", "--parallel", "ulysses"], "has no context-parallel plan"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_it_cannot_upsample_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, case):
    """Each refusal one line, exit code 2, no model loaded: True (the SR model is a folder of its own), a missing folder,
    one holding no pipeline or another (a Kandinsky 6 model), a scale its call does not take, a scale without
    ``--upsample``, a video smaller than its tile at that scale, a window of other than 1 + 4k frames in the folder's
    vidlong.yaml, another family's model, the SR folder given as the model, and --parallel (Kandinsky 6's transformer has no
    context-parallel plan)."""
    k6, sr = folders
    shutil.copytree(sr, tmp_path / "odd", symlinks=True)
    (tmp_path / "odd" / "vidlong.yaml").write_text("window_frames: 8\n")
    model, args, says = REFUSED[case]
    fill = dict(k6=k6, sr=sr, tmp=tmp_path / "given")
    (tmp_path / "given").mkdir()
    if case == "window":
        fill["tmp"] = tmp_path
    line = check_refused_before_loading(["generate", "--model", model.format(**fill), "--prompt", "a red ball",
                                         *[arg.format(**fill) for arg in args]], tmp_path / "x.mp4", capsys, monkeypatch)
    assert says.format(**fill) in line, line


def test_from_python_a_scale_it_does_not_take_is_refused_in_one_line(folders):
    """`GenerateRequest.upsample_scale` 3 with the SR folder: one line naming the field and the scales, before loading."""
    from vidlong.validate import check_generate, limits_for_folder

    with pytest.raises(vidlong.VidlongError, match=r"^upsample_scale \(--upsample-scale\) of Kandinsky 6's video "
                                                   r"super-resolution is 2, 2.25 or 4 \(its call's resolution_scale\), got 3"):
        check_generate(GenerateRequest(**REQUEST, upsample=str(folders[1]), upsample_scale=3), limits_for_folder(folders[0]))


def test_the_app_serves_the_sr_folder_as_its_upsample_box(folders, pipe):
    """`vidlong app --upsample FOLDER` on a Kandinsky 6 page: its box "Upsample 2.25x" (its call's scale), ticked the SR
    folder in the request, and its length note naming the video super-resolution and the estimate's size; without the
    folder the box is hidden (the SR model is a folder of its own)."""
    from vidlong.apps import gradio_app

    app = gradio_app.App(pipe, upsample=folders[1])
    assert app.upsamples and app.super_resolution and app.upsample_label == "Upsample 2.25x"
    assert not gradio_app.App(pipe).upsamples
    note = app.length_note(1, "none", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, True)
    assert "Then upsampled 2.25x by its video super-resolution. " in note and "2.25x video at 112x72" in note, note


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_the_compiled_sr_is_the_stock_call_there(folders, tmp_path):
    """On CUDA in float32, `generate` with ``upsample`` at 2x (the SR transformer's blocks compiled, `load_sr`) against the
    stock SR call there, uncompiled, on the video made without ``upsample`` (same seed): frames within 2 grey levels. Its
    SR folder's heads are of 16 channels (the compiled flex kernel takes no fewer)."""
    from diffusers import Kandinsky6SRPipeline
    from tiny_pipeline import save_tiny_kandinsky6_sr

    sr_folder = save_tiny_kandinsky6_sr(tmp_path / "sr", axes_dims=(8, 4, 4), num_inference_steps=1)
    pipe = vidlong.load_pipeline(folders[0], device="cuda", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    upsampled = generate(pipe, GenerateRequest(**REQUEST, upsample=str(sr_folder), upsample_scale=2))
    plain = generate(pipe, GenerateRequest(**REQUEST))
    stock = Kandinsky6SRPipeline.from_pretrained(sr_folder).to("cuda")
    stock.set_progress_bar_config(disable=True)
    frames = as_uint8(stock(video=plain.frames.astype(np.float32) / 255, resolution_scale=2, num_inference_steps=1,
                            generator=torch.Generator().manual_seed(3), output_type="np").frames[0])
    assert upsampled.frames.shape == frames.shape == (9, 64, 96, 3)
    assert np.abs(upsampled.frames.astype(int) - frames).max() <= 2
