"""The validation layer beyond the table of bad inputs (tests/test_bad_inputs.py): `vidlong --help` loads no
model code, stale temp files are swept, SIGTERM ends a stream as Ctrl-C does."""
import json
import signal
import subprocess
import sys
import time

import pytest

from vidlong.video_io import read_video
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


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
