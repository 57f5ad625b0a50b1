"""One validation layer for every entry point: each bad input refused in one line naming the field,
exit code 2, nothing written and no model loaded; SIGTERM ends a stream as Ctrl-C does."""
import json
import signal
import subprocess
import sys
import time

import pytest

import vidlong
from vidlong import pipeline as pipeline_module
from vidlong.cli import main
from vidlong.video_io import read_video
from conftest import tiny_transformer
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


GENERATE = [
    (["--ratio", "nan"], "--ratio must be a finite number > 0"),
    (["--ratio", "-1"], "--ratio must be a finite number > 0"),
    (["--ratio", "inf"], "--ratio must be a finite number > 0"),
    (["--ratio", "30"], "RoPE table"),  # 90 latent frames > the tiny model's 64 positions
    (["--seed", str(2**64)], "--seed must be a whole number from 0"),
    (["--seed", "-1"], "--seed must be a whole number from 0"),
    (["--guidance", "nan"], "--guidance must be a finite number"),
    (["--guidance", "-2"], "--guidance must be >= 0"),
    (["--steps", "0"], "--steps must be a whole number from 1"),
    (["--steps", "5000"], "--steps must be a whole number from 1"),
    (["--height", "2048"], "--height 2048 is more than this model's 1024 pixels"),
    (["--noise", "plain", "--method", "warp"], "unknown method 'warp'"),
    (["--model", "{model_dir}/model_index.json"], "is a file"),
    (["--device", "gpu"], "is not a device"),
]

STREAM = [
    (["--seed", "-5"], "--seed must be a whole number from 0"),
    (["--guidance", "nan"], "--guidance must be a finite number"),
    (["--chunk", "0"], "chunk (--chunk) must be a whole number >= 1"),
    (["--sinks", "-1"], "sinks (--sinks) must be a whole number >= 0"),
    (["--first-chunk", "0"], "first_chunk (--first-chunk) must be a whole number >= 1"),
    (["--height", "40"], "--height 40 must be a multiple of 16"),
    (["--seconds", "nan"], "--seconds must be a finite number"),
]


def run_refused(capsys, monkeypatch, tmp_path, argv):
    monkeypatch.setattr(pipeline_module, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main([*argv, "--out", str(out_dir / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert list(out_dir.iterdir()) == []
    return err


@pytest.mark.parametrize("args, message", GENERATE)
def test_bad_generate_input(model_dir, tmp_path, capsys, monkeypatch, args, message):
    args = [a.replace("{model_dir}", str(model_dir)) for a in args]
    model = [] if "--model" in args else ["--model", str(model_dir)]
    err = run_refused(capsys, monkeypatch, tmp_path, ["generate", "--prompt", "a red circle", *model, *args])
    assert len(err) == 1 and err[0].startswith("vidlong: error:") and message in err[0], err


@pytest.mark.parametrize("args, message", STREAM)
def test_bad_stream_input(model_dir, tmp_path, capsys, monkeypatch, args, message):
    err = run_refused(capsys, monkeypatch, tmp_path, ["stream", "--prompt", "a red circle", "--model", str(model_dir), *args])
    assert len(err) == 1 and message in err[0], err


def test_bad_model_spec_is_one_line(model_dir, tmp_path, capsys):
    import shutil

    broken = shutil.copytree(model_dir, tmp_path / "broken")
    (broken / "vidlong.yaml").write_text("native_frames: 0\n")
    assert main(["generate", "--prompt", "a red circle", "--model", str(broken), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "native_frames of model 'broken' must be a whole number >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("make, message", [
    (lambda: vidlong.Streaming(chunk=0), "chunk"),
    (lambda: vidlong.Streaming(window=-2), "window"),
    (lambda: vidlong.Streaming(context="magic"), "context"),
    (lambda: vidlong.SpectralFusion(spatial_cutoff=-1), "spatial_cutoff"),
    (lambda: vidlong.SpectralFusion(windows=(0,)), "windows"),
    (lambda: vidlong.SpectralFusion(windows=(1,), bands=(2.0,)), "bands"),
    (lambda: vidlong.UltraViCo(alpha=float("nan")), "alpha"),
    (lambda: vidlong.apply(tiny_transformer(), vidlong.UltraViCo(), native_frames=0), "native_frames"),
])
def test_api_configs_name_the_wrong_field(make, message):
    with pytest.raises(vidlong.VidlongError, match=message):
        make()


def test_cuda_kernels_are_refused_on_a_cpu_model(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    for kernel in ("fused", "flex"):
        with pytest.raises(vidlong.VidlongError, match=f"kernel='{kernel}' runs on CUDA"):
            vidlong.apply(tiny_transformer(), vidlong.UltraViCo(), native_frames=3, kernel=kernel)


def test_help_imports_no_model_code():
    code = "import sys, vidlong.cli; vidlong.cli.build_parser(); print(sorted({'torch', 'diffusers'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]" and result.stderr == ""


def test_stale_temps_of_the_output_are_swept(tmp_path):
    import numpy as np

    from vidlong.video_io import write_video

    stale = tmp_path / ".x.mp4.0badcafe.tmp"
    stale.write_bytes(b"half a video")
    other = tmp_path / ".y.mp4.0badcafe.tmp"
    other.write_bytes(b"someone else's")
    write_video(tmp_path / "x.mp4", np.zeros((3, 16, 16, 3), np.uint8), fps=8)
    assert not stale.exists() and other.exists()


def test_sigterm_ends_a_stream_like_ctrl_c(model_dir, tmp_path):
    out = tmp_path / "s.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "vidlong.cli", "stream", "--prompt", "a red circle", "--model", str(model_dir),
                             "--forever", "--out", str(out)], stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not (out.exists() and out.stat().st_size > 2000):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err and "interrupted" in err
    frames, _ = read_video(out)
    assert len(frames) >= 9
    assert json.loads(out.with_suffix(".json").read_text())["pixel_frames"] >= len(frames)
