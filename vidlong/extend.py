"""Extension: continue a video you already have, from its frames or from its saved latents.

Extension is streaming with a pre-filled start: the input's last frames are encoded once with the
model's VAE (or taken from saved latents), written into the sinks and window of every expert's rolling
KV cache by one clean forward, and replayed through the streaming decoder so the continuation decodes
with the input's history. The output is the input's frames unchanged, then the new chunks.

Units: latent frames unless named pixel; a clip of 4k+1 pixel frames encodes to k+1 latent frames.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from .errors import VidlongError, named
from .files import atomic_write_bytes, check_name_fits, check_writable_folder
from .models import Geometry, pixel_frames


@dataclass
class ExtensionPrefix:
    """Where a continuation starts.

    Attributes:
        latents: normalised latents ``[1, C, F, h, w]`` whose last frames fill the caches.
        history: latents the streaming decoder replays first (the input's own decode history).
        frames: uint8 ``[T, H, W, 3]`` the output starts with, or None to use the decoded `history`.
        start: the video's first latent frames ``[1, C, k, h, w]`` where `latents` hold only its tail
            (diagonal denoising's sink, `vidlong.fifo_stream`), else None (`latents` start with them).
        fps: the input's frames per second, which the whole video is shown at (None: the model's).
    """

    latents: torch.Tensor
    history: torch.Tensor
    frames: Optional[np.ndarray] = None
    start: Optional[torch.Tensor] = None
    fps: Optional[float] = None

    def cache_latents(self, frames: int) -> torch.Tensor:
        """The last `frames` latent frames (fewer if the input is shorter)."""
        return self.latents[:, :, max(0, self.latents.shape[2] - frames):]

    def pixel_size(self, spatial: int) -> tuple[int, int]:
        """(height, width) in pixels of the continuation."""
        return self.latents.shape[3] * spatial, self.latents.shape[4] * spatial

    def replayed(self, context: int) -> torch.Tensor:
        """The latents ``[1, C, F, h, w]`` the streaming decoder replays before the new chunks: all of `history` where the
        input's frames are decoded from them (no `frames`), else its last `context` latent frames and `ENCODE_WARMUP` before
        them, as many as a video file's tail is encoded to (`encoded_frames`), so that a video continued with its saved
        latents costs the decode of its context, not of the whole video."""
        if self.frames is None:
            return self.history
        return self.history[:, :, max(0, self.history.shape[2] - max(1, context) - ENCODE_WARMUP):]


#: still-image files, refused as a video to continue
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")  # not .gif or .webp, which may be animated


def read_input_video(path, max_frames: Optional[int] = None, field: str = "video") -> tuple[np.ndarray, float]:
    """(uint8 frames ``[T, H, W, 3]``, frames per second) of the video file to continue (its first `max_frames`, where
    given), or one line naming `field` (for a still image too: it has no frame rate, and starting a video from one is
    image-to-video's job)."""
    from .video_io import read_video

    return _read_input(path, lambda readable: read_video(readable, max_frames), field)


def input_video_file(path, spec, streaming, family: str = "wan", field: str = "video"):
    """The video file to continue as `vidlong.video_io.VideoFileFrames` (counted, its frames read again as the output is
    written, so a long input is never held whole), keeping the frames an extension by `streaming` of a model of `family`
    reads: its last ones, whose latents fill the context (`encoded_frames`), and its first (diagonal denoising's sink
    frames); with `read_input_video`'s refusals."""
    from .methods import DiagonalDenoising
    from .video_io import VideoFileFrames

    sink = streaming.sink_frames if isinstance(streaming, DiagonalDenoising) else 0
    head = pixel_frames(max(1, sink), spec.temporal_ratio)
    tail = encoded_frames(spec, extension_context(spec, streaming, family), decoded_chunk(family, spec))
    return _read_input(path, lambda readable: VideoFileFrames(readable, head, tail), field)


def count_input_frames(path, field: str = "video") -> int:
    """The frames of a video file, counted (not decoded), with `read_input_video`'s refusals."""
    from .video_io import count_frames

    return _read_input(path, count_frames, field)


def input_frame_rate(path, field: str = "video") -> float:
    """The frames per second of a video file, with `read_input_video`'s refusals."""
    from .video_io import frame_rate

    return _read_input(path, frame_rate, field)


def input_frame_size(path, field: str = "video") -> tuple[int, int]:
    """(height, width) of a video file's frames as read (from its header), with `read_input_video`'s refusals."""
    from .video_io import frame_size

    return _read_input(path, frame_size, field)


def _read_input(path, reader, field: str = "video"):
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        hint = (f"to start a video from it use vidlong generate --image {path} with an image-to-video model"
                if field == "video" else "pass a video file")
        raise VidlongError(f"{named(field)} {path} is an image, not a video; {hint}")
    try:
        if Path(path).is_dir():
            raise VidlongError(f"{named(field)} {path} is a folder; pass a video file (mp4 or any file ffmpeg reads)")
        if not Path(path).is_file():
            raise VidlongError(f"{named(field)}: no video file at {path}; check the path")
        return reader(path)
    except VidlongError:
        raise
    except Exception as err:  # noqa: BLE001 - ffmpeg's readers raise many types for a bad file
        raise VidlongError(f"{named(field)} {path} is not a readable video ({type(err).__name__}); pass an mp4 file") from None


def as_video_frames(video, field: str = "video") -> np.ndarray:
    """`video` given from Python (uint8 ``[T, H, W, 3]`` as a NumPy array, a torch tensor or a list of
    frames) as a NumPy array, or a one-line error naming `field` and what it is instead."""
    if isinstance(video, torch.Tensor):
        video = video.detach().cpu().numpy()
    try:
        video = np.asarray(video)
    except ValueError:  # frames of different sizes
        raise VidlongError(f"{named(field)} holds frames of different sizes; pass frames of one size [T, H, W, 3]") from None
    if video.ndim == 3 and video.shape[-1] == 3:
        raise VidlongError(f"{named(field)} is one frame {list(video.shape)}; pass frames [T, H, W, 3] "
                           "(one frame: frame[None])")
    if video.ndim == 0:
        raise VidlongError(f"{named(field)} must be RGB frames [T, H, W, 3] (a NumPy array or tensor of uint8) or a video "
                           f"file's path, got {type(video.item()).__name__}")
    if video.ndim != 4 or video.shape[-1] != 3:
        raise VidlongError(f"{named(field)} has shape {list(video.shape)}; pass RGB frames [T, H, W, 3]")
    if video.dtype != np.uint8:
        raise VidlongError(f"{named(field)} holds {video.dtype} values; pass uint8 frames (0-255), e.g. "
                           "(frames * 255).round().astype(numpy.uint8) for frames in 0-1")
    return video


def check_video_for_model(frames: np.ndarray, geometry: Geometry, fewest: tuple = (1, "")) -> None:
    """A one-line error unless `frames` ``[T, H, W, 3]`` can be continued by a model of `geometry`: at least one frame, or
    the `fewest` its family continues (`fewest_input_frames`: (pixel frames, why): Helios's whole chunk, FramePack's image
    frame and one section).

    The continuation is made at the input's own size (so the two can be joined); a size that is not a
    multiple of the model's grid is refused rather than resized, since resizing would change the input. The ffmpeg line
    the refusal gives names the input's file where the frames are read from one (`VideoFileFrames`), its output beside it.
    """
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise VidlongError(f"{named('video')} holds no frames; pass a video with at least 1 frame")
    least, why = fewest
    if frames.shape[0] < least:
        count = frames.shape[0]
        raise VidlongError(f"{named('video')} has {count} frame{'' if count == 1 else 's'}; {why}: pass a video of at least "
                           f"{least} frames")
    height, width, multiple, least = frames.shape[1], frames.shape[2], geometry.pixel_multiple, geometry.min_pixels
    if height % multiple or width % multiple or min(height, width) < least:
        h, w = max(least, height // multiple * multiple), max(least, width // multiple * multiple)
        fix = f"crop={w}:{h}" if min(height, width) >= least else f"scale={w}:{h}"  # cropping keeps the aspect
        how = "crop its edges" if fix.startswith("crop") else "resize it"
        source = Path(getattr(frames, "path", "in.mp4"))
        raise VidlongError(f"{named('video')} is {width}x{height}; this model needs sizes in multiples of {multiple}, at "
                           f"least {least}: {how} first, e.g. ffmpeg -i {shlex.quote(str(source))} -vf {fix} "
                           f"{shlex.quote(str(source.with_name(f'{source.stem}_{w}x{h}.mp4')))}")


#: a video's last frame as block means ``[THUMBNAIL, THUMBNAIL, 3]`` identifies it beside its latents
THUMBNAIL = 8
#: largest difference of two thumbnails' blocks (grey levels, 0-255, mean of the 3 channels) above which
#: they are of different videos: an H.264 round trip of the default model's videos moves a block by at
#: most about 2 levels, while another video of the same dark background moved its blocks by 4.5 levels
#: on average but one by 211 (a check against mix-ups, not a proof: two near-identical videos pass)
THUMBNAIL_TOLERANCE = 24.0


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """A frame ``[H, W, 3]`` as its `THUMBNAIL` x `THUMBNAIL` block means ``[THUMBNAIL, THUMBNAIL, 3]``."""
    frame = frame.astype(np.float32)
    h, w = frame.shape[0] // THUMBNAIL * THUMBNAIL, frame.shape[1] // THUMBNAIL * THUMBNAIL
    return frame[:h, :w].reshape(THUMBNAIL, h // THUMBNAIL, THUMBNAIL, w // THUMBNAIL, 3).mean(axis=(1, 3))


def video_identity(last_frame: np.ndarray, pixel_frames: int) -> dict:
    """What a latents file records of the video saved with it (`save_latents` meta): its pixel frame
    count and its last frame's `thumbnail` (plain lists)."""
    return dict(pixel_frames=int(pixel_frames), last_frame=np.round(thumbnail(last_frame), 1).tolist())


def decoded_chunk(family: str, spec) -> Optional[int]:
    """The latent frames of each chunk a model of `family` (its `spec`) decodes on its own, where its call makes whole chunks
    of its native window, each decoded alone (`FamilyAdapter.chunks_decoded_alone`: Helios), else None."""
    from .attention.adapters import adapter_named

    return spec.native_frames if adapter_named(family).chunks_decoded_alone else None


def check_latents_decoding(saved: Optional[int], chunk: Optional[int], made_by: Optional[str] = None) -> None:
    """One line unless latents saved by a model that decodes them `saved` latent frames at a time (`decoded_chunk` when they
    were saved; None: as one video) are continued by one that decodes them `chunk` at a time: their frames line up with
    the video's only where both decode them alike."""
    def decodes(frames):
        return "as one video" if frames is None else f"{frames} latent frames at a time, each on its own"

    if saved != chunk:
        maker = made_by if isinstance(made_by, str) and made_by else "the model that made them"
        raise VidlongError(f"{named('latents')} were saved by {maker}, which decodes them {decodes(saved)}, and this model "
                           f"decodes them {decodes(chunk)}: continue them with {maker}'s folder (--model), or extend the "
                           f"video file alone (drop {named('latents')})")


def fewest_input_frames(family: str, spec) -> tuple:
    """(the fewest pixel frames of a video an extension by a model of `family` (its `spec`) continues, why: "" for one):
    those its family fixes (`FamilyAdapter.fewest_extended`: Helios's whole chunk, FramePack's image frame and section),
    else 1."""
    from .attention.adapters import adapter_named

    return adapter_named(family).fewest_extended(spec) or (1, "")


def check_video_matches_latents(frames: np.ndarray, latents: torch.Tensor, geometry: Geometry, meta: dict = None,
                                chunk: Optional[int] = None) -> None:
    """`--video` and `--latents` together must be the same video: same size, latents no longer than the
    frames (`chunk`: a model's `decoded_chunk`, whose latents decode chunk by chunk, else None) and, where the latents file
    recorded its video (`video_identity`), the same frame count and last frame."""
    from .validate import whole_chunk_pixel_frames

    size = (latents.shape[3] * geometry.spatial, latents.shape[4] * geometry.spatial)
    if tuple(frames.shape[1:3]) != size:
        raise VidlongError(f"{named('video')} is {frames.shape[2]}x{frames.shape[1]} but {named('latents')} decode to {size[1]}x{size[0]}; "
                           "pass the latents saved with that video")
    count = latents.shape[2]
    decoded = pixel_frames(count, geometry.temporal) if chunk is None else \
        whole_chunk_pixel_frames(count // chunk, chunk, geometry.temporal)
    if decoded > len(frames):
        raise VidlongError(f"{named('latents')} hold {count} latent frames ({decoded} pixel frames), more than the video's "
                           f"{len(frames)} pixel frames; pass the latents saved with that video")
    recorded = (meta or {}).get("pixel_frames")
    if isinstance(recorded, int) and recorded != len(frames):
        raise VidlongError(f"{named('video')} has {len(frames)} frames but {named('latents')} were saved with a video of {recorded}; "
                           "pass the latents saved with that video")
    recorded_thumbnail = (meta or {}).get("last_frame")
    if recorded_thumbnail is not None:
        difference = float(np.abs(np.round(thumbnail(frames[-1]), 1) - np.asarray(recorded_thumbnail)).mean(axis=-1).max())
        if difference > THUMBNAIL_TOLERANCE:
            raise VidlongError(f"{named('video')}: its last frame is not the one {named('latents')} were saved with (a part of it {difference:.0f} "
                               "grey levels apart); pass the latents saved with that video")


#: latent frames encoded before an extension's context, so that the causal VAE's cache has seen the
#: frames before it: a clip's first latent frame encodes one pixel frame (an "image" latent) and the next
#: few lack their history. Measured on the default model (two native videos): the re-encoded context's
#: distance to the generation's own latents, relative to their norm, 0.48 -> 0.25 at 1x (1 extra
#: frame: most of the gain; the whole video: 0.23)
ENCODE_WARMUP = 4


def encoded_frames(spec, context: int, chunk: Optional[int] = None) -> int:
    """Pixel frames at a continued video's end whose latents fill an extension's `context` latent frames
    (`extension_context`): theirs and `ENCODE_WARMUP` latent frames' more before them, or, where its model's call encodes
    a video in whole chunks of `chunk` latent frames each alone (`decoded_chunk`: Helios), the fewest whole chunks that
    hold them (no warm-up: nothing is carried from one chunk to the next)."""
    if chunk is None:
        return pixel_frames(max(1, context) + ENCODE_WARMUP, spec.temporal_ratio)
    return -(-context // chunk) * pixel_frames(chunk, spec.temporal_ratio)


def tail_pixel_frames(total: int, latent_count: int, temporal_ratio: int = 4) -> int:
    """Pixel frames at the end of a `total`-frame video that encode to at most `latent_count` latent
    frames: the largest ``4k+1 <= total`` with ``k+1 <= latent_count``."""
    return min(pixel_frames(latent_count, temporal_ratio), (total - 1) // temporal_ratio * temporal_ratio + 1)


def check_extension_source(video, latents) -> None:
    """An extension needs frames or latents to continue."""
    if video is None and latents is None:
        raise VidlongError("extend needs the video to continue: pass --video in.mp4 or --latents in.pt "
                           "(pipe.extend: video= or latents=)")


def extension_context(spec, streaming, family: str = "wan") -> int:
    """Latent frames of the input an extension keeps in its cache (sinks + window), or a one-line error
    for none; by diagonal denoising (a `DiagonalDenoising` `streaming`), the native window its queue starts from; of a
    model whose `family` fixes what its streams read of a continued video (`FamilyAdapter.extension_frames`: Helios's
    history), those."""
    from .attention.adapters import adapter_named
    from .methods import DiagonalDenoising
    from .schedulers.stream import StreamSchedule

    if isinstance(streaming, DiagonalDenoising):
        return spec.native_frames
    if adapter_named(family).extension_frames is not None:
        return adapter_named(family).extension_frames

    schedule = StreamSchedule.resolve(spec.native_frames, streaming.chunk, streaming.sinks, streaming.window)
    if schedule.sinks + schedule.window < 1:
        room = (f" and a {named('chunk')} of at most {spec.native_frames - 1}, so that the three fit the native window of "
                f"{spec.native_frames}" if schedule.chunk >= spec.native_frames else "")
        raise VidlongError(f"an extension continues from its input's last frames, and {named('sinks')} 0 with "
                           f"{named('window')} 0 keeps none; give a window of at least 1 latent frame{room}")
    return schedule.sinks + schedule.window


def extension_prefix(pipe, streaming, video: Optional[np.ndarray] = None, latents: Optional[torch.Tensor] = None,
                     fps: Optional[float] = None) -> ExtensionPrefix:
    """The `ExtensionPrefix` of `video` (uint8 ``[T, H, W, 3]``, or a file's `input_video_file`) or of saved `latents`
    for `pipe`, shown at `fps` (None: the model's)."""
    from .methods import DiagonalDenoising
    from .video_io import VideoFileFrames

    check_extension_source(video, latents)
    if video is not None and not isinstance(video, VideoFileFrames):
        video = as_video_frames(video)
    spec, geometry, family = pipe.spec, pipe.geometry(), pipe.facts()["family"]
    context, chunk = extension_context(spec, streaming, family), decoded_chunk(family, spec)
    fewest = fewest_input_frames(family, spec)
    if latents is not None:
        check_latents_for_model(latents, geometry)
        if video is not None:
            check_video_for_model(video, geometry, fewest)
            check_video_matches_latents(video, latents, geometry, chunk=chunk)
        return ExtensionPrefix(latents=latents, history=latents, frames=video, fps=fps)
    check_video_for_model(video, geometry, fewest)
    if chunk is None:  # 4k + 1 frames, encoded as one clip
        tail = video[-tail_pixel_frames(len(video), max(1, context) + ENCODE_WARMUP, spec.temporal_ratio):]
    else:  # whole chunks from its end (`stream_encode`)
        tail = video[-min(len(video), encoded_frames(spec, context, chunk)):]
    encoded = pipe.stream_encode(_pixels(tail)).float().cpu()
    start = None
    if isinstance(streaming, DiagonalDenoising) and streaming.sink_frames and len(tail) < len(video):
        first = video[:tail_pixel_frames(len(video), streaming.sink_frames, spec.temporal_ratio)]  # the sink: encoded alone
        start = pipe.stream_encode(_pixels(first)).float().cpu()
    return ExtensionPrefix(latents=encoded, history=encoded, frames=video, start=start, fps=fps)


def _pixels(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames ``[T, H, W, 3]`` -> ``[1, 3, T, H, W]`` in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0


def check_latent_tensor(latents: torch.Tensor, channels: int, made_by: Optional[str] = None) -> None:
    """A one-line error unless `latents` are finite floating-point ``[1, C, F, h, w]`` with `channels` channels (a VAE's);
    `made_by`: the name of the model their file says made them (`save_latents`' ``model``), for the error to name."""
    if not isinstance(latents, torch.Tensor):
        raise VidlongError(f"{named('latents')} is a {type(latents).__name__}; pass the torch tensor [1, C, frames, h, w] "
                           "that load_latents returns (torch.from_numpy(array) for a NumPy array)")
    if latents.ndim != 5 or latents.shape[0] != 1 or latents.shape[2] < 1:
        raise VidlongError(f"{named('latents')} holds latents of shape {tuple(latents.shape)}; expected [1, C, frames, h, w] "
                           "as saved by --save-latents")
    if latents.is_meta or not latents.is_floating_point():
        where = " on the meta device, which holds no values" if latents.is_meta else ""
        raise VidlongError(f"{named('latents')} holds {latents.dtype} latents{where}; pass the floating-point latents that "
                           "load_latents returns")
    if latents.shape[1] != channels:
        maker = f"{made_by}'s folder" if isinstance(made_by, str) and made_by else "the model that made them"
        raise VidlongError(f"{named('latents')} holds {latents.shape[1]}-channel latents but this model's VAE has "
                           f"{channels}; continue them with {maker} (--model)")
    if not torch.isfinite(latents).all():
        raise VidlongError(f"{named('latents')} holds NaN or infinite values; save the latents again")


def check_latents_for_model(latents: torch.Tensor, geometry: Geometry, made_by: Optional[str] = None) -> None:
    """`check_latent_tensor` with this model's channel count, and a one-line error unless their grid is whole patches of
    its transformer (latents to continue)."""
    check_latent_tensor(latents, geometry.channels, made_by)
    if latents.shape[3] % geometry.patch[1] or latents.shape[4] % geometry.patch[2]:
        raise VidlongError(f"{named('latents')} has a latent grid of {latents.shape[3]}x{latents.shape[4]}, not a multiple of "
                           f"this model's patch {geometry.patch[1]}x{geometry.patch[2]}; use the model that made them")


#: the keys of a latents file written by `save_latents`
LATENTS_FORMAT = "vidlong-latents-1"


def check_latents_path(path, name: str) -> Path:
    """`path` as a Path if a latents file can be written there (not a folder, in a folder that exists and is writable),
    else one line naming `name` (``--save-latents``, ``save_latents``) and the fix."""
    path = Path(path)
    if not path.parent.is_dir():
        raise VidlongError(f"{name} {path}: folder {path.parent} does not exist; create it first")
    if path.is_dir():
        raise VidlongError(f"{name} {path} is a folder; name a file in it, e.g. {path / 'latents.pt'}")
    check_writable_folder(path.parent, f"{name} {path}")
    check_name_fits(path, f"{name} {path}")
    return path


def save_latents(path, latents: torch.Tensor, **meta) -> Path:
    """Save normalised latents ``[1, C, F, h, w]`` and `meta` (model, prompt, fps: plain values) to
    `path` atomically, as a torch file that `load_latents` reads."""
    import io
    import json

    if not isinstance(latents, torch.Tensor) or latents.ndim != 5 or latents.shape[0] != 1:
        shape = list(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__
        raise VidlongError(f"save_latents takes latents [1, C, frames, h, w] (a stream chunk's .latents, generate's "
                           f"result.latents), got {shape}")
    reserved = sorted({"format", "latents"} & meta.keys())
    if reserved:
        raise VidlongError(f"save_latents: {reserved[0]}= is the file's own entry; give your metadata another name")
    path = check_latents_path(path, "save_latents")
    meta = {key: value.item() if isinstance(value, np.generic) else value for key, value in meta.items()}  # NumPy scalars
    try:  # `load_latents` reads with weights_only: plain values only, so a saved file always loads
        json.dumps(meta)
    except (TypeError, ValueError):
        raise VidlongError(f"latents metadata must be plain values (text, numbers, lists, dicts), got {meta!r:.120}") from None
    buffer = io.BytesIO()
    torch.save({"format": LATENTS_FORMAT, "latents": latents.detach().float().cpu().contiguous(), **meta}, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_latents(path) -> tuple[torch.Tensor, dict]:
    """(latents ``[1, C, F, h, w]``, the file's other entries) of a file written by `save_latents`;
    a one-line error for anything else."""
    from .torch_file import read_torch_file

    path = Path(path)
    data = read_torch_file(path, "--latents", f"--latents: no latents file at {path}; check the path (write one with --save-latents)",
                           f"--latents {path} is not a readable latents file ({{error}}); pass one written by --save-latents")
    if not isinstance(data, dict) or data.get("format") != LATENTS_FORMAT or not isinstance(data.get("latents"), torch.Tensor):
        raise VidlongError(f"--latents {path} is not a vidlong latents file; pass one written by --save-latents")
    meta = {k: v for k, v in data.items() if k not in ("format", "latents")}
    return data["latents"].float(), meta

