"""The project's one mp4 layer: H.264 mp4 files written and read through the ffmpeg of imageio-ffmpeg.

Frames are uint8 arrays ``[T, H, W, 3]`` (RGB). Writers also take floats in ``[0, 1]``, which are
clipped and rounded to uint8. H.264 4:2:0 (yuv420p, the format every player reads) needs even sizes,
so a frame with an odd height or width is padded by repeating its last row or column; reading such a
file back gives the padded, even size.

``write_video`` is atomic: the file appears complete or not at all; given a `Soundtrack` (LTX-2's audio) it adds an
AAC audio track. ``StreamingVideoWriter`` writes a fragmented mp4 chunk by chunk, so that a run killed midway still
leaves a playable file.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import re
import secrets
import subprocess
import tempfile
import time
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path
from typing import Optional

import numpy as np

from vidlong.errors import VidlongError
from vidlong.files import check_name_fits

_CRF = 18  # x264 constant-quality setting: visually lossless for generated frames
_FRAGMENTED = "+frag_every_frame+empty_moov+default_base_moof"


def _ffmpeg():
    """imageio-ffmpeg, imported when a file is first written or read (importing vidlong needs no ffmpeg); its warning that a
    rotated (phone) video's frames come out turned (ffmpeg turns them upright, as players show them) left out.

    Its reader starts ffmpeg with ``preexec_fn=os.setpgrp`` (keeping Ctrl-C from the reader), Python run in the forked child
    before ffmpeg starts, which Python's docs call unsafe with threads: in the app (Gradio's server threads) a read of a
    video hung there for good (the child never reached ffmpeg; seen once in the test suite). Its own switch
    ``IMAGEIO_FFMPEG_NO_PREVENT_SIGINT`` (imageio-ffmpeg's fix for that hang) is set unless the environment sets it: the
    reader's ffmpeg then shares vidlong's Ctrl-C, which ends the read as it ends the run (the writer's ffmpeg, started
    here in a session of its own without Python in the child, still outlives it to finish a stream's file)."""
    import imageio_ffmpeg

    os.environ.setdefault("IMAGEIO_FFMPEG_NO_PREVENT_SIGINT", "1")
    logging.getLogger("imageio_ffmpeg").addFilter(_upright_frames_filter)  # once: a filter already there is not added
    return imageio_ffmpeg


def _upright_frames_filter(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("The frame size for reading")


def _named(path) -> str:
    """`path` as ffmpeg is given it: absolute, so that a name with a colon (``take2:final.mp4``, ``12:30.mp4``) is a
    file, not a protocol's address."""
    return os.path.abspath(path)


def check_output_path(path) -> Path:
    """`path` as a Path if an mp4 can be written there, else a one-line `VidlongError` naming the fix."""
    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise VidlongError(f"cannot write video to {path}: name the output file with a .mp4 extension")
    if not path.parent.is_dir():
        raise VidlongError(f"cannot write video to {path}: folder {path.parent} does not exist; create it first")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise VidlongError(f"cannot write video to {path}: folder {path.parent} is not writable; choose another --out")
    if path.is_dir():
        raise VidlongError(f"cannot write video to {path}: it is a folder; name an .mp4 file")
    check_name_fits(path, f"cannot write video to {path}")
    return path


def sweep_stale_temps(path: Path) -> None:
    """Remove the hidden temporary files an earlier, killed write of `path` left beside it
    (``.NAME.XXXXXXXX.tmp``; one writer per output path is assumed)."""
    for stale in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):  # the name may hold [ or *
        try:
            stale.unlink()
        except OSError:
            pass


def rounded_uint8(frames: np.ndarray) -> np.ndarray:
    """uint8 values of float frames in 0-1 (any layout: a frame ``[H, W, 3]``, a video ``[T, H, W, 3]``), as vidlong rounds
    every decoded video: ``round(clip(x, 0, 1) · 255)``, halves to even."""
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def uint8_frames(video) -> np.ndarray:
    """uint8 frames ``[T, H, W, 3]`` of a decoded video tensor ``[T, 3, H, W]`` in 0-1, rounded as `rounded_uint8` rounds
    them (the same bits) on the tensor's own device, so that one uint8 copy reaches the CPU, not a float32 one."""
    import torch

    return (video.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _to_uint8_even(frame) -> np.ndarray:
    """One RGB frame as uint8 [H, W, 3] with even H and W (edge-padded by one row/column if odd)."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"expected an RGB frame of shape [H, W, 3], got {frame.shape}")
    if frame.dtype != np.uint8:
        if not np.issubdtype(frame.dtype, np.floating):
            raise ValueError(f"expected uint8 frames or floats in [0, 1], got dtype {frame.dtype}")
        frame = rounded_uint8(frame)
    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
    return np.pad(frame, pad, mode="edge") if any(p[1] for p in pad) else frame


@dataclass(frozen=True)
class Soundtrack:
    """A video's audio: float samples ``[channels, samples]`` in [-1, 1] at `rate` Hz."""

    samples: np.ndarray
    rate: int

    def __post_init__(self):
        shape, rate = np.shape(self.samples), self.rate
        whole = isinstance(rate, (int, np.integer)) and not isinstance(rate, bool) and rate >= 1
        if len(shape) != 2 or not 0 < shape[0] <= 8 or shape[1] < 1 or not whole:
            raise ValueError(f"a Soundtrack takes samples [channels, samples] (1 to 8 channels, at least one sample) and a "
                             f"whole rate in Hz, got shape {shape} at {rate!r}")

    @classmethod
    def joined(cls, pieces, seconds: Optional[float] = None) -> Optional["Soundtrack"]:
        """`pieces` (Soundtracks of one rate and channel count, or None, skipped) one after another, cut at `seconds`;
        None where none has a sample."""
        pieces = [piece for piece in pieces if piece is not None]
        if not pieces:
            return None
        samples = np.concatenate([piece.samples for piece in pieces], axis=1)
        if seconds is not None:
            samples = samples[:, : max(1, round(seconds * pieces[0].rate))]
        return cls(samples, pieces[0].rate)

    def pcm16(self) -> np.ndarray:
        """The samples as 16-bit PCM ``[channels, samples]``, little-endian."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).round().astype("<i2")

    def write_wav(self, path: Path) -> None:
        """The samples as a 16-bit PCM WAV file at `path` (ffmpeg's audio input)."""
        with pcm_wav(path, self.samples.shape[0], self.rate) as out:
            out.writeframes(self.pcm16().T.tobytes())  # interleaved, sample by sample


def pcm_wav(path: Path, channels: int, rate: int) -> wave.Wave_write:
    """A 16-bit PCM WAV file opened for writing at `path` (`Soundtrack.pcm16` samples, interleaved)."""
    out = wave.open(str(path), "wb")
    out.setnchannels(channels)
    out.setsampwidth(2)
    out.setframerate(int(rate))
    return out


class _Encoder:
    """An ffmpeg process that encodes raw RGB frames from its stdin into one H.264 mp4 file.

    ffmpeg runs in its own session, so Ctrl-C in the terminal does not reach it and the death of
    this Python process only closes its stdin: ffmpeg then encodes every frame already sent and
    finishes the file.
    """

    def __init__(self, path: Path, fps: float, height: int, width: int, movflags: str, low_latency: bool = False,
                 audio: Optional[Path] = None):
        self.size = (height, width)
        # x264's look-ahead and B-frames hold ~40 frames inside the encoder; without them each frame
        # is encoded and written the moment it arrives, so killing ffmpeg loses nothing already sent
        latency = ["-tune", "zerolatency"] if low_latency else []
        cmd = [
            _ffmpeg().get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps}", "-i", "pipe:0",
            *(["-i", _named(audio), "-map", "0:v", "-map", "1:a", "-c:a", "aac"] if audio is not None else ["-an"]),
            "-c:v", "libx264", *latency, "-crf", str(_CRF), "-pix_fmt", "yuv420p",
            "-movflags", movflags, "-flush_packets", "1", "-f", "mp4", _named(path),
        ]  # fmt: skip
        self._log = tempfile.TemporaryFile()
        self.path = Path(path)
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=self._log, start_new_session=True)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape[:2] != self.size:
            raise ValueError(f"frame size {frame.shape[:2]} differs from the first frame's {self.size}")
        try:
            self._proc.stdin.write(frame.tobytes())
        except BrokenPipeError:
            self._proc.wait()
            raise VidlongError(f"ffmpeg stopped while encoding: {self._error()}") from None

    def flush(self) -> None:
        try:
            self._proc.stdin.flush()
        except BrokenPipeError:
            self._proc.wait()
            raise VidlongError(f"ffmpeg stopped while encoding: {self._error()}") from None

    def wait_for_header(self, timeout: float = 10.0) -> None:
        """Wait, at most `timeout` s, until ffmpeg has begun the file (its header is written as the first
        frame is encoded): its start can take longer than a chunk, and a chunk reported done should be
        one that a killed ffmpeg leaves behind."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._proc.poll() is None:
            if self.path.is_file() and self.path.stat().st_size > 0:
                return
            time.sleep(0.005)

    def close(self) -> None:
        """Finish the file; raises VidlongError if ffmpeg failed."""
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        if self._proc.wait() != 0:
            raise VidlongError(f"ffmpeg failed to write the video: {self._error()}")
        self._log.close()

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self._log.close()

    def _error(self) -> str:
        self._log.seek(0)
        lines = self._log.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else f"exit code {self._proc.returncode}"


def write_video(path, frames: Iterable, fps: float, audio: Optional[Soundtrack] = None) -> Path:
    """Write ``frames`` (uint8 [T, H, W, 3], floats in [0, 1], or any iterable of such frames) to
    the mp4 file ``path`` at ``fps`` frames per second, atomically; with `audio`, an AAC track of it beside.

    The video is encoded into a hidden temporary file in the same folder, then moved onto ``path``
    with ``os.replace``. If anything fails (including the frame iterable raising, or Ctrl-C), the
    temporary file is removed and an existing file at ``path`` is left untouched. Odd heights or
    widths are edge-padded to even (see the module docstring).
    """
    path = check_output_path(path)
    sweep_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    wav = None if audio is None else path.with_name(f".{path.name}.{secrets.token_hex(4)}.wav.tmp")
    encoder = None
    try:
        if audio is not None:
            audio.write_wav(wav)
        for frame in frames:
            frame = _to_uint8_even(frame)
            if encoder is None:
                encoder = _Encoder(tmp, fps, *frame.shape[:2], movflags="+faststart", audio=wav)
            encoder.write(frame)
        if encoder is None:
            raise ValueError("write_video needs at least one frame")
        encoder.close()
        os.replace(tmp, path)
    except BaseException:
        try:  # cleanup must not hide the error that got us here
            if encoder is not None:
                encoder.kill()
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    finally:
        if wav is not None:
            wav.unlink(missing_ok=True)
    return path


def _add_sound(path: Path, sound: Path) -> None:
    """The mp4 at `path` with the WAV file `sound` as its AAC track, its video copied as it is; atomically (a
    temporary file moved onto `path`; on a failure `path` stays the video alone)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        done = subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-y", "-nostdin", "-loglevel", "error", "-i", _named(path),
                               "-i", _named(sound), "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac",
                               "-movflags", "+faststart", "-f", "mp4", _named(tmp)], capture_output=True)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise VidlongError(f"ffmpeg failed to add the sound to {path} (the video is kept without it): "
                               f"{lines[-1] if lines else done.returncode}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class StreamingVideoWriter:
    """Write an mp4 chunk by chunk, as a long video is generated, so that a crash keeps what was made.

    ``with StreamingVideoWriter("out.mp4", fps=16) as w: w.append(chunk)`` with each chunk uint8
    [T, H, W, 3] (or floats in [0, 1]); every chunk must have the size of the first.

    The file is a fragmented mp4 (an empty index, then one self-describing fragment per frame),
    which is playable however it ends. When ``append`` returns, the chunk is in ffmpeg's input pipe
    (and, after the first, ffmpeg has begun the file: its start can outlast a fast chunk);
    if this process then crashes, is interrupted or is SIGKILLed, ffmpeg reads the rest of the pipe
    and finishes the file with every frame appended so far. If ffmpeg itself is killed too, the
    file stays playable and holds every frame ffmpeg had read but the last one: the encoder runs
    without look-ahead (x264's zerolatency tuning), so each frame is written as the next arrives.
    The file appears at the first ``append`` and overwrites any file at ``path`` (the CLI refuses an
    existing file without ``--overwrite``); leaving the ``with`` block, normally or by an exception,
    finishes it.

    Chunks may carry their sound (``append(frames, audio=Soundtrack)``, each the sound of its frames: LTX-2's
    streams): it goes to a hidden WAV file beside ``path`` as it comes (memory stays flat), and ``close`` puts it
    into the file as an AAC track (the video copied as it is, into a temporary file moved onto ``path``). Until
    then, and if the process dies first, the file is the video without its sound.
    """

    def __init__(self, path, fps: float):
        self.path = check_output_path(path)
        self.fps = fps
        self._encoder: _Encoder | None = None
        self._frames_written = 0
        self._sound: Optional[wave.Wave_write] = None
        self._sound_path: Optional[Path] = None

    @property
    def frames_written(self) -> int:
        """Frames handed to the encoder so far (all of them end up in the file)."""
        return self._frames_written

    def append(self, frames, audio: Optional[Soundtrack] = None) -> None:
        """Append a chunk of frames, uint8 [T, H, W, 3] or floats in [0, 1] (none: sound alone), and the sound that goes
        with them (the chunks' rate and channels). The first returns once ffmpeg has begun the file."""
        if self._encoder is None and self._sound is None:
            sweep_stale_temps(self.path)  # an earlier, killed writer's sound or mux
        if audio is not None:
            self._check_sound(audio)
        first = self._encoder is None
        for frame in frames:
            frame = _to_uint8_even(frame)
            if self._encoder is None:  # the file it replaces goes first: `wait_for_header` then sees this one begin, and a
                self.path.unlink(missing_ok=True)  # link at `path` is replaced, not written through (as `write_video` does)
                self._encoder = _Encoder(self.path, self.fps, *frame.shape[:2], movflags=_FRAGMENTED, low_latency=True)
            self._encoder.write(frame)
            self._frames_written += 1
        if self._encoder is not None:
            self._encoder.flush()
            if first:
                self._encoder.wait_for_header()
        if audio is not None:
            self._sound.writeframes(audio.pcm16().T.tobytes())

    def _check_sound(self, audio: Soundtrack) -> None:
        """A chunk's sound has the first's channels and rate (the first opens the hidden WAV file)."""
        if self._sound is None:
            self._sound_path = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.wav.tmp")
            self._sound = pcm_wav(self._sound_path, audio.samples.shape[0], audio.rate)
        elif (audio.samples.shape[0], audio.rate) != (self._sound.getnchannels(), self._sound.getframerate()):
            raise ValueError(f"a chunk's sound has {audio.samples.shape[0]} channels at {audio.rate} Hz, the first "
                             f"{self._sound.getnchannels()} at {self._sound.getframerate()} Hz")

    def close(self) -> None:
        """Finish the file, with its sound where chunks carried one (safe to call twice)."""
        try:
            if self._encoder is not None:
                encoder, self._encoder = self._encoder, None
                encoder.close()
                if self._sound is not None:
                    self._sound.close()
                    _add_sound(self.path, self._sound_path)
        finally:
            if self._sound is not None:
                self._sound.close()
                self._sound = None
                self._sound_path.unlink(missing_ok=True)

    def __enter__(self) -> StreamingVideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _check_input_path(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise VidlongError(f"no video file at {path}: check the path")
    return path


#: ffmpeg's conversion of the file's YUV to RGB rounded, not truncated, and its chroma brought to every pixel: its default
#: darkens every read by about one grey level, so a video written and read again (an extension of an extension) drifts
_ACCURATE_RGB = ["-sws_flags", "accurate_rnd+full_chroma_int"]


def _frame_reader(path):
    """ffmpeg's frames of a video file as they are stored (``-fps_mode passthrough``: a variable-frame-rate file is not
    resampled to a constant rate, which would repeat frames), so that they are the frames `count_frames` counts; in RGB
    as exact as ffmpeg's conversion gives them (`_ACCURATE_RGB`)."""
    return _ffmpeg().read_frames(_named(_check_input_path(path)), pix_fmt="rgb24",
                                 output_params=["-fps_mode", "passthrough", *_ACCURATE_RGB])


@contextlib.contextmanager
def _opened(path):
    """(ffmpeg's header of a video file, its frames uint8 ``[H, W, 3]`` RGB decoded as they are asked for); closed after."""
    reader = _frame_reader(path)
    try:
        meta = next(reader)
        width, height = meta["size"]
        yield meta, (np.frombuffer(raw, np.uint8).reshape(height, width, 3) for raw in reader)
    finally:
        reader.close()


def _described(path) -> bytes:
    """The header of the media file at `path` as ffmpeg prints it (``ffmpeg -i``'s stderr)."""
    return subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", _named(path)], capture_output=True).stderr


def _holds_audio(header: bytes) -> bool:
    """Whether a `_described` header names an audio stream (a stream line of kind Audio, not the word in a name or metadata)."""
    return re.search(rb"^\s*Stream #\d+:\d+\S*: Audio:", header, re.MULTILINE) is not None


def _video_start(header: bytes) -> float:
    """Seconds from the start of a file's timeline (its Duration line's ``start:``) to its first video stream's first frame
    (the stream line's ``start``), as a `_described` header gives them; 0 where either is not named."""
    file_start = re.search(rb"^\s*Duration: .*?, start: (-?[\d.]+)", header, re.MULTILINE)
    video_start = re.search(rb"^\s*Stream #\d+:\d+\S*: Video: [^\n]*?, start (-?[\d.]+)", header, re.MULTILINE)
    if file_start is None or video_start is None:
        return 0.0
    return max(0.0, float(video_start[1]) - float(file_start[1]))


def has_sound(path) -> bool:
    """Whether the media file at `path` holds an audio stream (as ffmpeg reads its header: `_holds_audio`)."""
    return _holds_audio(_described(path))


def read_sound(path, seconds: float, rate: int, channels: int) -> Soundtrack:
    """The first sound track of the media file at `path` as a `Soundtrack` ``[channels, round(seconds·rate)]`` at `rate`
    Hz (ffmpeg's resampling and channel mix), `seconds` long from the first video frame, as a player plays them together:
    a track that starts after it (a cut, a muxer's offset) is led by silence, one that starts before it is read from it
    (`_video_start`); cut there, or padded with silence after its end (a file with no sound track: silence alone). Held
    whole (4·channels bytes a sample: 11 MB a minute at 24 kHz stereo)."""
    samples = max(1, round(seconds * rate))
    sound = np.zeros((channels, samples), np.float32)
    header = _described(path)
    if _holds_audio(header):
        done = subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", _named(path), "-map", "0:a:0",
                               "-af", "aresample=async=1:first_pts=0", "-ss", f"{_video_start(header):.6f}", "-t",
                               f"{seconds:.6f}", "-f", "s16le", "-acodec", "pcm_s16le", "-ac", str(channels), "-ar", str(rate),
                               "pipe:1"], capture_output=True)
        if done.returncode != 0:
            lines = done.stderr.decode(errors="replace").strip().splitlines()
            raise VidlongError(f"ffmpeg could not read the sound of {path}: {lines[-1] if lines else done.returncode}")
        read = np.frombuffer(done.stdout, "<i2").reshape(-1, channels).T[:, :samples]
        sound[:, : read.shape[1]] = read / 32767.0
    return Soundtrack(sound, int(rate))


def read_video(path, max_frames: Optional[int] = None) -> tuple[np.ndarray, float]:
    """Read a video file into (frames uint8 [T, H, W, 3] RGB, frames per second: the file's average); with `max_frames`,
    its first frames alone (the rest is not decoded)."""
    with _opened(path) as (meta, decoded):
        width, height = meta["size"]
        estimate = int(float(meta.get("duration") or 0) * float(meta["fps"])) + 2  # the header's count, about
        frames = _filled(itertools.islice(decoded, max_frames), min(estimate, max_frames or estimate), (height, width, 3))
    return frames, float(meta["fps"])


def _filled(frames: Iterator[np.ndarray], expected: int, shape: tuple) -> np.ndarray:
    """`frames` (uint8 `shape`) in one array filled as they are decoded, grown by half where `expected` was short: a long
    video held about once, not as a list of frames and then their stacked copy."""
    out, count = np.empty((max(1, expected), *shape), np.uint8), 0
    for frame in frames:
        if count == len(out):
            out = np.concatenate([out, np.empty((len(out) // 2 + 1, *shape), np.uint8)])
        out[count] = frame
        count += 1
    return out[:count].copy() if count < len(out) // 2 else out[:count]


def iter_frames(path) -> Iterator[np.ndarray]:
    """The frames of a video file one at a time, uint8 ``[H, W, 3]`` RGB as `read_video` reads them, each decoded when it
    is asked for (a long video is never held whole)."""
    with _opened(path) as (_, frames):
        yield from frames


class VideoFileFrames:
    """The frames of a video file, uint8 ``[T, H, W, 3]`` RGB as `read_video` reads them, without holding them all: one
    pass counts them and keeps the first `head` and the last `tail`; iterating reads the file again, frame by frame (a
    long video's memory stays that of a few frames). An index inside the kept frames reads nothing; any other, and
    ``numpy.asarray``, reads the whole file.

    Attributes:
        path: the file.
        fps: its frames per second (its average, as `frame_rate`).
        shape: ``(T, H, W, 3)``.
    """

    ndim, dtype = 4, np.dtype(np.uint8)

    def __init__(self, path, head: int = 1, tail: int = 1):
        with _opened(path) as (meta, decoded):
            first, last, count = [], collections.deque(maxlen=max(1, tail)), 0
            for frame in decoded:
                if count < head:
                    first.append(frame)
                last.append(frame)
                count += 1
        width, height = meta["size"]
        self.path, self.fps, self.shape = Path(os.path.abspath(path)), float(meta["fps"]), (count, height, width, 3)
        self._head, self._tail = (np.array(kept, np.uint8).reshape(-1, height, width, 3) for kept in (first, last))

    def __len__(self) -> int:
        return self.shape[0]

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter_frames(self.path)

    def __getitem__(self, key):
        """A frame ``[H, W, 3]`` (an int) or frames ``[t, H, W, 3]`` (a slice), from the kept ones where they hold it."""
        count, tail_start = len(self), len(self) - len(self._tail)
        if isinstance(key, (int, np.integer)):
            if not -count <= key < count:
                raise IndexError(f"frame {key} of a {count}-frame video")
            index = int(key) % count
            if index >= tail_start:
                return self._tail[index - tail_start]
            if index < len(self._head):
                return self._head[index]
        if isinstance(key, slice):
            wanted = range(count)[key]
            if wanted.step == 1 and (not wanted or wanted.start >= tail_start):
                return self._tail[max(0, wanted.start - tail_start):max(0, wanted.stop - tail_start)]
            if wanted.step == 1 and wanted.stop <= len(self._head):
                return self._head[wanted.start:wanted.stop]
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        frames = read_video(self.path)[0]
        return frames if dtype is None else frames.astype(dtype)


#: what ffmpeg writes for a packet that has no timestamp (AV_NOPTS_VALUE)
NO_TIMESTAMP = -(2**63)


def frame_intervals(path) -> np.ndarray:
    """Seconds between the consecutive frames of the video file's first video stream, in the order they are shown, from
    its packets' timestamps (ffmpeg copies them; nothing is decoded). Empty for fewer than 2 frames, or where some
    packets carry no timestamp."""
    listing = subprocess.run([_ffmpeg().get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i",
                              _named(_check_input_path(path)), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-"],
                             capture_output=True, text=True).stdout.splitlines()
    base = next((line.split(":")[1].strip() for line in listing if line.startswith("#tb 0:")), "1/1")
    numerator, denominator = (int(part) for part in base.split("/"))
    stamps = [fields[2].strip() for fields in (line.split(",") for line in listing if not line.startswith("#")) if len(fields) > 2]
    times = [int(stamp) for stamp in stamps if stamp.lstrip("-").isdigit() and int(stamp) != NO_TIMESTAMP]
    if len(times) < len(stamps):  # packets without their time (an AVI's B-frames): their spacing is not known
        return np.empty(0)
    return np.diff(np.sort(np.asarray(times, dtype=np.float64))) * numerator / denominator


def frame_rate(path) -> float:
    """Frames per second of the video file (its average), from its header (nothing decoded)."""
    return float(_header(path)["fps"])


def frame_size(path) -> tuple[int, int]:
    """(height, width) of the video file's frames as `read_video` reads them (a rotated video's upright), from its header
    (nothing decoded)."""
    width, height = _header(path)["size"]
    return height, width


def _header(path) -> dict:
    """ffmpeg's header of a video file (imageio-ffmpeg's meta: ``fps``, ``size`` as read, ...)."""
    reader = _frame_reader(path)
    try:
        return next(reader)
    finally:
        reader.close()


def count_frames(path) -> int:
    """Number of video frames in the file, as `read_video` reads them (ffmpeg counts its packets, decoding nothing)."""
    return _ffmpeg().count_frames_and_secs(_named(_check_input_path(path)))[0]
