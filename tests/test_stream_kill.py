"""A stream killed together with its encoder (SIGKILL to both: power loss, `docker kill`) leaves a
playable mp4 holding at least every chunk but the last one the CLI reported."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from tiny_pipeline import save_tiny_pipeline
from vidlong.video_io import read_video

CHUNKS = 8
FIRST, PER_CHUNK = 9, 12  # pixel frames of the tiny model's first chunk and of every later one (chunk 3)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def _frames_of(chunks: int) -> int:
    return 0 if chunks == 0 else FIRST + PER_CHUNK * (chunks - 1)


def _kill_after(process: subprocess.Popen, chunks: int, timeout: float = 120.0) -> int:
    """Read the CLI's progress bar until it reports `chunks` finished chunks, then SIGKILL the CLI and
    its ffmpeg at once; returns the chunk count last reported."""
    reported = [0]

    def read():
        for piece in iter(lambda: process.stderr.read1(4096), b""):
            for done in re.findall(rb"(\d+)/%d" % CHUNKS, piece):
                reported[0] = max(reported[0], int(done))

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    while reported[0] < chunks and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the stream ended before it could be killed"
    encoders = psutil.Process(process.pid).children(recursive=True)
    assert encoders, "no ffmpeg process under the stream"
    for proc in [process, *encoders]:
        os.kill(proc.pid, signal.SIGKILL)
    process.wait(timeout=30)
    psutil.wait_procs(encoders, timeout=10)
    return reported[0]


def test_sigkill_of_stream_and_encoder_keeps_all_but_the_last_chunk(model_dir, tmp_path, reaped, after=3):
    out = tmp_path / "killed.mp4"
    env = dict(os.environ, TQDM_MININTERVAL="0")
    process = reaped(subprocess.Popen(
        [sys.executable, "-m", "vidlong.cli", "stream", "--prompt", "a red circle", "--model", str(model_dir),
         "--chunks", str(CHUNKS), "--out", str(out)],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env))
    reported = _kill_after(process, after)
    assert reported < CHUNKS
    frames, _ = read_video(out)
    # every chunk before the last reported one, but for its final frame: the muxer writes a frame once
    # the next one reaches ffmpeg, and the next chunk's first frame may still be in the pipe at the kill
    assert len(frames) >= _frames_of(reported - 1) - 1, f"{len(frames)} frames after {reported} chunks"
    assert frames.shape[1:] == (32, 32, 3)
