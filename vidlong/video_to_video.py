"""Video-to-video requests (``generate`` with ``video=``; ``vidlong generate --video``): the input video's frames counted,
its length and the steps its ``strength`` leaves checked before any model loads, then only the frames used read
(`vidlong.pipeline_v2v` runs them)."""
from __future__ import annotations

import math
import os
from typing import Optional

import numpy as np

from .errors import VidlongError, named
from .models import CONTINUING_PIPELINES, latent_frames, pixel_frames
from .scalars import is_real

#: diffusers' ``WanVideoToVideoPipeline``'s and ``CogVideoXVideoToVideoPipeline``'s default: how much of the video is redrawn
DEFAULT_STRENGTH = 0.8
#: the input video's last pixel frames SkyReels-V2 DF's video-to-video call encodes as its window's first latent frames (its
#: ``overlap_history``: vidlong's default, diffusers' recommended value; `vidlong.models.CONTINUING_PIPELINES`)
CONTINUED_FRAMES = CONTINUING_PIPELINES["SkyReelsV2DiffusionForcingVideoToVideoPipeline"][1]
#: the models that redraw a video, as the refusals name them
REDRAWING_MODELS = ("a Wan2.1 or CogVideoX-2B/5B text-to-video model (diffusers' WanVideoToVideoPipeline, "
                    "CogVideoXVideoToVideoPipeline; not Wan2.2's two experts or per-token timesteps, nor CogVideoX1.5's "
                    "temporal patch)")


#: families whose VAE decodes an even number F of latent frames to 4F pixel frames, not 4F - 3 (CogVideoX's: its first
#: latent frame is one pixel frame only in an odd count), so that a redrawn video keeps its length at an odd count alone
ODD_LATENT_FAMILIES = ("cogvideox", "consisid")  # ConsisID: CogVideoX's VAE


def continued_latent_frames(overlap_history: int, video_frames: int, temporal: int) -> int:
    """Latent frames a continued video's last `overlap_history` pixel frames (of its `video_frames`) encode to, the count its
    call's window must pass (``(n - 1) // temporal + 1`` of their ``n``; SkyReels-V2 DF's video to video)."""
    return (min(overlap_history, video_frames) - 1) // temporal + 1


def redrawn_frame_step(family: str, temporal_ratio: int) -> int:
    """The lengths a redraw keeps are ``step·k + 1`` pixel frames: `step` the VAE's `temporal_ratio` (4k+1), twice it for
    `ODD_LATENT_FAMILIES` (8k+1: an odd number of latent frames)."""
    return temporal_ratio * (2 if family in ODD_LATENT_FAMILIES else 1)


def redrawn_frames(available: int, frames: Optional[int], step: int, name: str) -> int:
    """The pixel frames a redraw of a video of `available` frames takes: its first `frames` (a length ``step·k + 1``,
    `redrawn_frame_step`), default the most of those it holds; or one line naming the field `name`."""
    frames = (available - 1) // step * step + 1 if frames is None else frames
    latent_frames(frames, step, name)  # the message names step·k + 1
    if frames > available:
        raise VidlongError(f"{name} {frames} is more than the video's {available} frames; ask for {available} or fewer")
    return frames


def is_video_path(video) -> bool:
    """Whether `video` names a file (else it holds frames)."""
    return isinstance(video, (str, os.PathLike))


def input_video(video, max_frames: Optional[int] = None, field: str = "video") -> tuple[np.ndarray, Optional[float]]:
    """(uint8 frames ``[T, H, W, 3]``, frames per second or None) of the video to redraw (or the one `field` names), its
    first `max_frames` where given: the path of a video file (the rest not decoded), or frames from Python (uint8
    ``[T, H, W, 3]``, a list of frames or of PIL images)."""
    from .extend import as_video_frames, read_input_video

    if is_video_path(video):
        return read_input_video(video, max_frames, field)
    if isinstance(video, (list, tuple)) and video and not isinstance(video[0], np.ndarray):
        video = [np.asarray(frame.convert("RGB")) if hasattr(frame, "convert") else frame for frame in video]
    return as_video_frames(video, field)[:max_frames], None


def frame_count(video, field: str = "video") -> int:
    """Frames in the video to redraw (or the one `field` names), without keeping them (a file's are counted, not decoded)."""
    from .extend import count_input_frames

    return count_input_frames(video, field) if is_video_path(video) else len(input_video(video, field=field)[0])


def video_fps(video, default: float, field: str = "video") -> float:
    """The frame rate a redrawn video (or the one `field` names) keeps: a file's own, else `default` (frames from Python
    carry none)."""
    from .extend import input_frame_rate

    return input_frame_rate(video, field) if is_video_path(video) else float(default)


def denoised_steps(steps: int, strength: float) -> int:
    """Steps a call with `strength` runs of `steps` (diffusers': the last ``int(steps · strength)``)."""
    return min(int(steps * strength), steps)


def check_strength(strength, steps: int, steps_name: Optional[str] = None) -> None:
    """`strength` in (0, 1], leaving at least one of `steps` to denoise, or one line naming the smallest that does (and
    the steps that would, where there can be that many: `steps_name`, default ``steps`` / ``--steps``, names them)."""
    from .validate import MAX_STEPS

    if not is_real(strength) or not 0 < strength <= 1:
        raise VidlongError(f"{named('strength')} must be a number in (0, 1] (1: redraw from pure noise), got {strength!r}")
    if denoised_steps(steps, strength) < 1:
        smallest = math.ceil(1000 / steps) / 1000  # three decimals that still leave a step
        enough = max(steps + 1, math.ceil(1 / strength))
        while denoised_steps(enough, strength) < 1:  # float rounding of steps · strength
            enough += 1
        more = f"{steps_name or named('steps')} {enough} or more at this strength, or " if enough <= MAX_STEPS else ""
        raise VidlongError(f"{named('strength')} {strength} of {steps} steps denoises no step; use {more}{named('strength')} "
                           f"{smallest:g}" + (" or more" if smallest < 1 else ""))


def check_redraws(limits) -> None:
    """The model of `limits` (`vidlong.validate.ModelLimits`) redraws a given video, or one line naming what does (one
    that continues its video instead, `check_continued_video`: the line refusing a redraw's strength)."""
    if limits.continues:
        raise VidlongError(f"{named('strength')} is how much of a video is redrawn, and this model continues its "
                           f"{named('video')} ({continued_tail(limits)[0]}: its frames, then new ones): drop {named('strength')}")
    if not limits.redraws:

        from .validate import continue_hint

        instead = "; this model redraws chunk by chunk: vidlong stream --video" if stream_redraws(limits) else continue_hint(limits)
        raise VidlongError(f"{named('video')} (video-to-video) needs {REDRAWING_MODELS}, and this one is not{instead}")


def check_video_request(request, limits) -> int:
    """A request's video, length and strength against `limits` (`vidlong.validate.ModelLimits`) of a model that redraws
    (`check_redraws`, which `vidlong.validate.check_generate` runs first; one that edits it takes no strength); returns its
    latent frames: those of the video's first `request.frames` pixel frames, or of the most it holds of the lengths a
    redraw keeps (`redrawn_frames`)."""
    if limits.continues:
        return check_continued_video(request, limits)
    if limits.edits:
        check_edit_strength(request.strength)
    strength = DEFAULT_STRENGTH if request.strength is None else request.strength
    if request.video is None:
        if request.strength is not None:
            raise VidlongError(f"{named('strength')} is how much of a video is redrawn: pass the video with {named('video')} "
                               f"in.mp4, or drop {named('strength')}")
        if limits.task == "v2v":
            raise VidlongError(f"this model folder is video-to-video: pass the video to {'edit' if limits.edits else 'redraw'} "
                               f"with {named('video')} in.mp4")
        return None
    ratio = limits.spec.temporal_ratio
    taken = frames_taken(request.video, "video", request.frames, redrawn_frame_step(limits.family, ratio))  # the file first
    if not limits.edits:
        check_strength(strength, request.steps or limits.spec.num_inference_steps)
    if request.ratio != 1:
        raise VidlongError(f"{named('ratio')} sets a length from the native window; a redrawn or edited video is as long "
                           f"as the input: drop {named('ratio')} ({named('frames')} N takes its first N frames)")
    return latent_frames(taken, ratio)


def check_edit_strength(strength) -> None:
    """No `strength` for a pipeline that edits its video (`vidlong.validate.ModelLimits.edits`), in one call or a stream."""
    if strength is not None:
        raise VidlongError(f"{named('strength')} is how much of a video is redrawn, and Lucy Edit edits the whole video by the "
                           f"prompt (every step runs): drop {named('strength')}")


def continued_tail(limits) -> tuple:
    """(the model's name, the last pixel frames of a video its call encodes, the fewest it takes) of a pipeline that
    continues its video (`vidlong.validate.ModelLimits.continues`; `vidlong.models.CONTINUING_PIPELINES`)."""
    return CONTINUING_PIPELINES[limits.pipeline]


def check_continued_video(request, limits) -> int:
    """A request to a pipeline that continues its video (`vidlong.validate.ModelLimits.continues`): a readable video of at
    least the frames its call takes (`continued_tail`), no strength (`check_redraws` refuses it), and a window (`frames`, or
    `ratio` x native) of more latent frames than the video's last frames its call encodes take in it; returns the window's
    latent frames."""
    from .generate import resolve_latent_frames
    from .validate import longest_latent_frames

    model, tail, fewest = continued_tail(limits)
    if request.video is None:
        raise VidlongError(f"this model folder continues a video ({model}): pass it with {named('video')} in.mp4")
    if request.strength is not None:
        check_redraws(limits)
    count = frame_count(request.video)
    if count < fewest:
        image = f", or start from its last frame as {named('image')}" if fewest > 1 else ""
        raise VidlongError(f"{named('video')} holds {count} frames and {model} continues from its last {fewest}; pass a video "
                           f"with at least {fewest} frames{image}")
    ratio = limits.spec.temporal_ratio
    latent = resolve_latent_frames(request, limits.spec.native_frames, ratio, longest_latent_frames(limits))
    encoded = continued_latent_frames(tail, count, ratio)
    if latent <= encoded:
        raise VidlongError(f"the video's last {min(tail, count)} frames take {encoded} latent frames of the "
                           f"{latent} made, leaving none new: ask for {named('frames')} {pixel_frames(encoded + 1, ratio)} or more")
    return latent


def frames_taken(video, field: str, frames: Optional[int], step: int) -> int:
    """The pixel frames a call takes of `video` (a file or frames; the request's `field`): its first `frames`, or the most
    ``step·k + 1`` it holds (`redrawn_frames`); one line for a video with none."""
    count = frame_count(video, field)
    if count < 1:
        raise VidlongError(f"{named(field)} holds no frames; pass a video with at least 1 frame")
    return redrawn_frames(count, frames, step, named("frames"))


#: the families whose text-to-video models a stream redraws with (Wan's VAE: `StreamingWanEncoder`), as refusals name them
STREAM_REDRAWING_FAMILIES = ("wan", "skyreels-v2")
STREAM_REDRAWING_MODELS = "a Wan or SkyReels-V2 text-to-video model (Wan's VAE)"


def stream_redraws(limits) -> bool:
    """Whether the pipeline of `limits` (`vidlong.validate.ModelLimits`) redraws a video in a stream, or edits it there
    (`ModelLimits.edits`: Lucy Edit, `vidlong.edit_stream`)."""
    return limits.family in STREAM_REDRAWING_FAMILIES and (limits.task == "t2v" or limits.edits)


def check_stream_redraws(limits) -> None:
    """One line unless the pipeline of `limits` redraws a video in a stream (`stream_redraws`)."""
    if not stream_redraws(limits):
        from .validate import continue_hint

        instead = "; this model redraws in one call: vidlong generate --video" if limits.redraws else continue_hint(limits)
        raise VidlongError(f"a stream redraws a video with {STREAM_REDRAWING_MODELS} (or edits it with Lucy Edit), and this "
                           f"one is not: drop {named('video')}, or use such a model{instead}")


def redraw_chunk_count(latent_frames: int, first_chunk: int, chunk: int) -> int:
    """Chunks of a stream redrawing a video of `latent_frames`: a first chunk of `first_chunk` (at most the video's), then
    chunks of `chunk` latent frames, the last one shorter where they do not divide."""
    return 1 + -(-(latent_frames - min(first_chunk, latent_frames)) // chunk)


def stream_redraw_chunks(spec, streaming, video) -> int:
    """Chunks of a stream redrawing `video` (a path or uint8 frames) with a `Streaming` config at the model's `spec`,
    counted before any model loads (the first chunk and chunk as `VideoStreamer` resolves them)."""
    from .schedulers.stream import StreamSchedule

    chunk = StreamSchedule.resolve(spec.native_frames, streaming.chunk, streaming.sinks, streaming.window).chunk
    latent = (frame_count(video) - 1) // spec.temporal_ratio + 1
    return redraw_chunk_count(latent, streaming.first_chunk or spec.stream_first_chunk or chunk, chunk)
