import contextlib
import multiprocessing
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from vidlong.errors import VidlongError
from vidlong.video_io import StreamingVideoWriter, count_frames, read_video, write_video

def _clip(t=12, h=48, w=64):
    """A smooth gradient with a bright square moving right one pixel per frame (uint8 [t, h, w, 3])."""
    y, x = np.mgrid[0:h, 0:w]
    frames = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        frames[i] = np.stack([x * 3, y * 4, np.full_like(x, 90)], -1).clip(0, 255)
        frames[i, 10:26, 4 + i : 20 + i] = 230
    return frames


def test_round_trip(tmp_path):
    frames = _clip()
    path = write_video(tmp_path / "a.mp4", frames, fps=8)
    back, fps = read_video(path)
    assert back.shape == frames.shape
    assert fps == 8
    assert count_frames(path) == len(frames)
    assert np.abs(back.astype(float) - frames).mean() < 3


def test_a_video_written_and_read_again_and_again_keeps_its_colours(tmp_path):
    """Each read of an H.264 file rounds its YUV to RGB (ffmpeg's default conversion darkened every read by about a grey
    level: an extension of an extension of a video got darker each time); a flat colour reads back within a level."""
    for frames in (_clip(), np.broadcast_to(np.array([200, 60, 30], np.uint8), (4, 32, 32, 3))):
        video = frames
        for _ in range(3):
            video = read_video(write_video(tmp_path / "a.mp4", video, fps=8))[0]
        drift = video.reshape(-1, 3).mean(0) - frames.reshape(-1, 3).mean(0)
        assert np.abs(drift).max() <= 1.0, drift


def test_a_rotated_phone_video_reads_upright_without_a_warning(tmp_path, caplog):
    """A file marked to be shown turned (a phone held upright) reads as players show it, with no stray imageio warning."""
    import imageio_ffmpeg

    wide = np.zeros((3, 32, 64, 3), np.uint8)
    wide[:, :, :32] = 255  # the left half white
    write_video(tmp_path / "wide.mp4", wide, fps=8)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-display_rotation", "90", "-i", str(tmp_path / "wide.mp4"),
                    "-c", "copy", str(tmp_path / "upright.mp4")], check=True)
    frames = read_video(tmp_path / "upright.mp4")[0]
    assert frames.shape == (3, 64, 32, 3) and frames[0, :8, :, 0].mean() < 10 and frames[0, -8:, :, 0].mean() > 245
    assert not [r for r in caplog.records if r.name.startswith("imageio")]


def test_float_frames_in_unit_range(tmp_path):
    frames = _clip()
    write_video(tmp_path / "f.mp4", frames / 255.0, fps=8)
    back, _ = read_video(tmp_path / "f.mp4")
    assert np.abs(back.astype(float) - frames).mean() < 3


def test_decoded_frames_are_rounded_to_uint8_one_way_on_either_array_library():
    """`rounded_uint8` (numpy, any layout) and `uint8_frames` (a torch video ``[T, 3, H, W]``, on its device) give the same
    bits: clipped to 0-1, times 255, halves to even (127.5 -> 128, 0.5 -> 0), on values in range, out of it and at
    every rounding boundary of float32."""
    import torch

    from vidlong.video_io import rounded_uint8, uint8_frames

    rng = np.random.default_rng(0)
    halves = (np.arange(256, dtype=np.float32) + 0.5) / 255  # x·255 at (or a rounding off) each k + 0.5
    values = np.concatenate([rng.uniform(-0.5, 1.5, 4 * 3 * 5 * 8 - 261).astype(np.float32), halves,
                             np.float32([0, 1, 0.5, 0.5 / 255, -1])]).reshape(4, 5, 8, 3)
    numpy_frames = rounded_uint8(values)
    assert numpy_frames.dtype == np.uint8 and numpy_frames.shape == (4, 5, 8, 3)
    assert np.array_equal(numpy_frames, uint8_frames(torch.from_numpy(values).permute(0, 3, 1, 2)))
    assert rounded_uint8(np.float32([0, 1, 0.5, 0.5 / 255, -1, 2])).tolist() == [0, 255, 128, 0, 0, 255]


def test_odd_sizes_are_edge_padded(tmp_path):
    frames = _clip(t=5, h=33, w=47)
    back, _ = read_video(write_video(tmp_path / "odd.mp4", frames, fps=8))
    assert back.shape == (5, 34, 48, 3)
    assert np.abs(back[:, :33, :47].astype(float) - frames).mean() < 3


def _raising_frames():
    yield from _clip(t=3)
    raise RuntimeError("generation failed")


def _mixed_sizes():
    yield from _clip(t=3)
    yield _clip(t=1, h=32)[0]


@pytest.mark.parametrize("frames, error", [(_raising_frames, RuntimeError), (_mixed_sizes, ValueError)])
def test_failed_write_leaves_nothing_behind(tmp_path, frames, error):
    with pytest.raises(error):
        write_video(tmp_path / "new.mp4", frames(), fps=8)
    assert os.listdir(tmp_path) == []

    (tmp_path / "old.mp4").write_bytes(b"previous video")
    with pytest.raises(error):
        write_video(tmp_path / "old.mp4", frames(), fps=8)
    assert os.listdir(tmp_path) == ["old.mp4"]
    assert (tmp_path / "old.mp4").read_bytes() == b"previous video"


@pytest.mark.parametrize("name, fix", [("missing/a.mp4", "create it first"), ("a.avi", ".mp4 extension")])
def test_bad_output_paths_name_the_fix(tmp_path, name, fix):
    with pytest.raises(VidlongError, match=fix):
        write_video(tmp_path / name, _clip(t=2), fps=8)
    with pytest.raises(VidlongError, match=fix):
        StreamingVideoWriter(tmp_path / name, fps=8)
    assert os.listdir(tmp_path) == []


def test_missing_input_names_the_path(tmp_path):
    with pytest.raises(VidlongError, match="no video file"):
        read_video(tmp_path / "nope.mp4")
    with pytest.raises(VidlongError, match="no video file"):
        count_frames(tmp_path / "nope.mp4")


def test_reading_starts_ffmpeg_without_python_in_the_forked_child(tmp_path, monkeypatch):
    """A read's ffmpeg is started with no ``preexec_fn`` (Python run between fork and exec, which hung a read in the app's
    threaded server once): imageio-ffmpeg's own switch for it is set where the environment does not set it."""
    started = []
    popen = subprocess.Popen

    def recording(*args, **kwargs):
        started.append(kwargs.get("preexec_fn"))
        return popen(*args, **kwargs)

    path = write_video(tmp_path / "v.mp4", np.zeros((3, 16, 16, 3), np.uint8), fps=8)
    monkeypatch.delenv("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", raising=False)
    monkeypatch.setattr(subprocess, "Popen", recording)
    assert read_video(path)[0].shape == (3, 16, 16, 3)
    assert started and started == [None] * len(started)


def test_streaming_writer_appends_chunks(tmp_path):
    frames = _clip(t=12)
    with StreamingVideoWriter(tmp_path / "s.mp4", fps=8) as writer:
        for chunk in np.split(frames, 3):
            writer.append(chunk)
            assert (tmp_path / "s.mp4").stat().st_size > 0  # ffmpeg has begun the file when append returns
        assert writer.frames_written == 12
    back, fps = read_video(tmp_path / "s.mp4")
    assert back.shape == frames.shape and fps == 8
    assert np.abs(back.astype(float) - frames).mean() < 3


def test_streaming_writer_adds_the_chunks_sound_at_the_end_and_on_an_error(tmp_path):
    """Chunks with their sound: the file is the video alone while it grows (the sound in a hidden WAV beside it), then
    gets an AAC track of every chunk's samples one after another, also when the stream stops by an exception; no
    temporary file is left, and a killed writer's is swept by the next, silent or not; a chunk whose sound has other
    channels is refused."""
    from conftest import mp4_audio

    from vidlong.video_io import Soundtrack

    rate, frames = 16000, _clip(t=12)
    tone = np.sin(2 * np.pi * 440 * np.arange(rate * 12 // 8) / rate).astype(np.float32) * 0.5
    parts = np.split(np.stack([tone, -tone]), 3, axis=1)
    for stop in (False, True):
        out = tmp_path / f"sound-{stop}.mp4"
        with pytest.raises(KeyboardInterrupt) if stop else contextlib.nullcontext():
            with StreamingVideoWriter(out, fps=8) as writer:
                for k, (chunk, sound) in enumerate(zip(np.split(frames, 3), parts)):
                    writer.append(chunk, audio=Soundtrack(sound, rate))
                    assert len(list(tmp_path.glob(f".{out.name}.*.wav.tmp"))) == 1
                    with pytest.raises(subprocess.CalledProcessError):  # no sound in the file yet
                        mp4_audio(out, rate)
                    if stop and k == 1:
                        raise KeyboardInterrupt
        heard = mp4_audio(out, rate)
        made = np.concatenate(parts[:2] if stop else parts, axis=1)
        assert abs(heard.shape[1] - made.shape[1]) <= 2048  # AAC's priming and last frame
        n = min(heard.shape[1], made.shape[1]) - 2048
        assert np.corrcoef(heard[:, 1024:n].ravel(), made[:, 1024:n].ravel())[0, 1] > 0.99
        assert read_video(out)[0].shape[0] == (8 if stop else 12)
        assert not list(tmp_path.glob(".*.tmp"))
    stale = tmp_path / ".silent.mp4.0123abcd.wav.tmp"   # a killed writer's sound
    stale.write_bytes(b"RIFF")
    with StreamingVideoWriter(tmp_path / "silent.mp4", fps=8) as writer:
        writer.append(frames[:4])
    assert not stale.exists()
    with StreamingVideoWriter(tmp_path / "mixed.mp4", fps=8) as writer:
        writer.append(frames[:4], audio=Soundtrack(parts[0], rate))
        with pytest.raises(ValueError, match="1 channels at 16000 Hz, the first 2"):
            writer.append(frames[4:8], audio=Soundtrack(parts[1][:1], rate))


CHUNK = 16  # frames per chunk in the kill tests; chunk k is a flat grey of level _LEVELS[k]
_LEVELS = [40, 120, 200, 80, 160, 240]


def _writer_process(path, conn):
    """Append chunk k, report (frames written, ffmpeg pid), wait for the parent's go, repeat."""
    writer = StreamingVideoWriter(path, fps=8)
    for level in _LEVELS:
        writer.append(np.full((CHUNK, 32, 48, 3), level, np.uint8))
        conn.send((writer.frames_written, writer._encoder._proc.pid))
        conn.recv()


#: seconds a forked writer has to append a chunk and report it (ffmpeg's start included, on a loaded machine)
CHUNK_REPORT_S = 60


@pytest.fixture
def write_chunks():
    """`_write_chunks` for this test; each writer it forked is killed at teardown, so that a test failing before its own
    kill leaves none waiting for a go (multiprocessing would join it as the test process exits)."""
    started = []
    yield lambda path, n: _write_chunks(path, n, started)
    for writer in started:
        writer.kill()
        writer.join(timeout=10)


def _write_chunks(path, n, started):
    """Fork a writer that appends n chunks then waits (appended to `started`); returns (writer process, ffmpeg pid).
    Fails the test if a chunk is not reported within `CHUNK_REPORT_S` s or the writer dies first."""
    ctx = multiprocessing.get_context("fork")  # the child reuses the parent's imports: no slow start
    parent, child = ctx.Pipe()
    writer = ctx.Process(target=_writer_process, args=(path, child), daemon=True)
    writer.start()
    started.append(writer)
    child.close()  # the writer's end: its death reads as the end of the pipe here
    for k in range(n):
        if k:
            parent.send("go")
        try:
            if not parent.poll(CHUNK_REPORT_S):
                pytest.fail(f"the forked writer reported no chunk {k + 1} of {n} within {CHUNK_REPORT_S} s")
            frames_written, ffmpeg_pid = parent.recv()
        except EOFError:
            writer.join(timeout=10)
            pytest.fail(f"the forked writer ended (exit code {writer.exitcode}) before reporting chunk {k + 1} of {n}")
    assert frames_written == n * CHUNK
    return writer, ffmpeg_pid


def _frames_or_zero(path):
    try:
        return count_frames(path)
    except Exception:  # the file may not have its header yet
        return 0


def _wait_for_frames(path, predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate(n := _frames_or_zero(path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return n


def test_sigkill_of_writer_keeps_every_appended_frame(tmp_path, write_chunks):
    path = tmp_path / "killed.mp4"
    writer, _ = write_chunks(path, 2)
    writer.kill()
    writer.join()
    assert _wait_for_frames(path, lambda n: n >= 2 * CHUNK) == 2 * CHUNK
    frames, _ = read_video(path)
    assert frames.shape == (2 * CHUNK, 32, 48, 3)
    assert np.allclose(frames.reshape(2, -1).mean(1), _LEVELS[:2], atol=3)


def test_sigkill_of_writer_and_ffmpeg_leaves_a_playable_file(tmp_path, write_chunks):
    path = tmp_path / "killed.mp4"
    writer, ffmpeg_pid = write_chunks(path, len(_LEVELS))
    seen = _wait_for_frames(path, lambda n: n > 0)
    assert seen > 0, "ffmpeg wrote no fragment before the kill"
    os.kill(ffmpeg_pid, signal.SIGKILL)
    writer.kill()
    writer.join()
    frames, _ = read_video(path)
    assert seen <= len(frames) <= len(_LEVELS) * CHUNK
    assert frames.shape[1:] == (32, 48, 3)
    assert np.allclose(frames[:CHUNK].mean((1, 2, 3)), _LEVELS[0], atol=3)


def test_frames_are_filled_into_one_array_whatever_the_headers_count():
    """`read_video` fills one array as it decodes (a long video held once, not as a list and its stacked copy): the
    frames in order whether the header's count was short (the array grows) or long (it is cut)."""
    from vidlong.video_io import _filled

    frames = [np.full((2, 3, 3), i, np.uint8) for i in range(7)]
    for expected in (0, 1, 3, 7, 20):
        out = _filled(iter(frames), expected, (2, 3, 3))
        assert out.shape == (7, 2, 3, 3) and np.array_equal(out, np.stack(frames)), expected
    assert _filled(iter([]), 5, (2, 3, 3)).shape == (0, 2, 3, 3)


def test_a_video_files_frames_index_like_the_read_array_and_only_a_read_past_the_kept_ones_reads_the_file(tmp_path, monkeypatch):
    """`VideoFileFrames` (an extension's input, counted in one pass) is its file's frames as `read_video` gives them:
    ints, slices and iteration; its first and last frames come from memory, any other index reads the whole file."""
    from vidlong import video_io
    from vidlong.video_io import VideoFileFrames

    frames = np.stack([np.full((16, 16, 3), 10 * i, np.uint8) for i in range(12)])
    write_video(tmp_path / "v.mp4", frames, fps=8)
    whole = read_video(tmp_path / "v.mp4")[0]
    video = VideoFileFrames(tmp_path / "v.mp4", head=2, tail=3)
    assert video.shape == whole.shape and len(video) == 12 and video.fps == 8
    assert np.array_equal(np.stack(list(video)), whole) and np.array_equal(np.asarray(video), whole)
    monkeypatch.setattr(video_io, "read_video", lambda *a, **k: pytest.fail("the whole file was read"))
    for key in (0, 1, -1, -3, 11, 9, slice(-3, None), slice(9, 12), slice(0, 2), slice(None, 1), slice(5, 5)):
        assert np.array_equal(video[key], whole[key]), key
    monkeypatch.undo()
    for key in (5, -4, slice(1, 4), slice(None, None, 2), slice(None, None, -1)):
        assert np.array_equal(video[key], whole[key]), key
    with pytest.raises(IndexError):
        video[12]


def test_a_relative_name_with_a_colon_is_a_file_to_ffmpeg(tmp_path, monkeypatch):
    """``take2:final.mp4`` or ``12:30.mp4`` given relative would read as a protocol's address to ffmpeg: every read and
    write names files absolutely; and a file whose name holds "Audio:" has no sound for that."""
    from vidlong.video_io import frame_intervals, has_sound

    monkeypatch.chdir(tmp_path)
    frames = np.zeros((5, 16, 16, 3), np.uint8)
    write_video("take2:final.mp4", frames, fps=8)
    with StreamingVideoWriter("12:30.mp4", fps=8) as writer:
        writer.append(frames)
    for name in ("take2:final.mp4", "12:30.mp4"):
        assert read_video(name)[0].shape == (5, 16, 16, 3) and count_frames(name) == 5 and len(frame_intervals(name)) == 4
    os.rename("take2:final.mp4", "Audio: take1.mp4")
    assert not has_sound("Audio: take1.mp4")


@pytest.fixture
def full_disk(tmp_path):
    """A 40 KiB file system (tmpfs, mounted for the test: root only), that a stream fills."""
    folder = tmp_path / "full"
    folder.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small file system needs root")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_stops_a_stream_at_the_chunk_that_does_not_fit(full_disk):
    """A stream onto a disk that fills stops within a chunk or two of it, in one line naming the cause (ffmpeg ends on the
    failed write and the next chunk's frames meet its closed pipe), not after every later chunk was made for nothing."""
    ramp = np.linspace(0, 255, 128)
    writer, error = StreamingVideoWriter(full_disk / "out.mp4", fps=8), None
    for chunk in range(40):  # about 5 KB a chunk of this gradient: the disk is full by the 9th
        try:
            writer.append(np.stack([np.broadcast_to((ramp[None, :, None] + 7 * t + 13 * chunk) % 256, (128, 128, 3))
                                    for t in range(12)]).astype(np.uint8))
        except VidlongError as err:
            error = err
            break
        time.sleep(0.3)  # ffmpeg writes what it was handed
    assert error is not None and "No space left on device" in str(error) and chunk < 12, chunk
    with contextlib.suppress(VidlongError):
        writer.close()


def test_a_stream_onto_a_link_replaces_the_link_as_write_video_does(tmp_path):
    """An output path that is a symbolic link is replaced by the new video, by both writers; the file it pointed to is
    left as it was."""
    target = tmp_path / "elsewhere.mp4"
    target.write_bytes(b"someone's video")
    frames = np.zeros((3, 16, 16, 3), np.uint8)
    streamed, written = tmp_path / "streamed.mp4", tmp_path / "written.mp4"
    for link in (streamed, written):
        link.symlink_to(target)
    with StreamingVideoWriter(streamed, fps=8) as writer:
        writer.append(frames)
    write_video(written, frames, fps=8)
    for link in (streamed, written):
        assert not link.is_symlink() and read_video(link)[0].shape == (3, 16, 16, 3), link.name
    assert target.read_bytes() == b"someone's video"


def test_packets_without_timestamps_give_no_frame_intervals(tmp_path):
    """An AVI with B-frames (Xvid, DivX) stores packets without their time (ffmpeg's "no timestamp" value): their spacing
    is not known, so no interval is made up from that value (a constant-rate file would get a variable-rate note)."""
    from vidlong.video_io import _ffmpeg, frame_intervals

    avi = tmp_path / "bframes.avi"
    subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=16", "-t", "1",
                    "-c:v", "mpeg4", "-bf", "2", str(avi)], check=True)
    assert len(frame_intervals(avi)) == 0
    write_video(tmp_path / "even.mp4", np.zeros((9, 16, 16, 3), np.uint8), fps=8)
    assert np.allclose(frame_intervals(tmp_path / "even.mp4"), 1 / 8)



@pytest.mark.parametrize("late, heard_from, heard_to", [("sound", 0.25, 0.75), ("video", 0.0, 0.25)])
def test_a_sound_track_is_read_from_the_first_video_frame_on_as_a_player_plays_them(tmp_path, late, heard_from, heard_to):
    """`read_sound` of a file whose sound track starts 0.25 s after its video, or its video 0.25 s after its sound (as a
    cut or a muxer leaves them), the sound a 0.5 s tone then silence: the tone where a player plays it beside the first
    video frame's second on (silence before a late track), not the track's first sample at the first frame."""
    import imageio_ffmpeg

    from vidlong.video_io import Soundtrack, read_sound

    rate = 16000
    tone = np.where(np.arange(rate) < rate // 2, 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate), 0.0)
    write_video(tmp_path / "silent.mp4", _clip(t=24), fps=24)
    write_video(tmp_path / "tone.mp4", _clip(t=24), fps=24, audio=Soundtrack(np.repeat(tone[None], 2, 0).astype(np.float32), rate))
    offset = {"video": [], "sound": []}
    offset[late] = ["-itsoffset", "0.25"]
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", *offset["video"], "-i", str(tmp_path / "silent.mp4"),
                    *offset["sound"], "-i", str(tmp_path / "tone.mp4"), "-map", "0:v", "-map", "1:a", "-c", "copy",
                    str(tmp_path / "late.mp4")], check=True)
    heard = read_sound(tmp_path / "late.mp4", 1.0, rate, 2).samples
    assert heard.shape == (2, rate)
    second = np.arange(rate) / rate
    assert np.sqrt((heard[:, (second > heard_from + 0.08) & (second < heard_to - 0.08)] ** 2).mean()) > 0.3  # the tone
    assert np.abs(heard[:, (second < heard_from - 0.08) | (second > heard_to + 0.08)]).max() < 0.05  # silence around it
