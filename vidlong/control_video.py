"""A control video from `generate`, the CLI and the app (``control_video``): the video a control model follows (depth, pose,
edges, ...), whose length the output takes; Wan VACE's also with ``mask_video`` (frames it keeps where the mask is black)
and ``reference_images``, CogVideoX-Fun's control pipeline and Cosmos-Transfer2.5 the video alone. vidlong's methods let
that video be longer than the native window in one call (Cosmos-Transfer2.5's: in one chunk of its call)."""
from __future__ import annotations

import math
import shlex
from pathlib import Path
from typing import Optional

from .errors import VidlongError, named
from .models import latent_frames

#: the pipelines whose call takes a control video, and what else it takes (`ModelLimits.control`): "vace" (a mask video
#: and reference images too), "fun" and "transfer" (the control video alone, which their calls need), "in-context" (LTX-2's
#: IC-LoRA reference video, ``reference_video=``: `vidlong.families.ltx2_in_context`; optional), "hdr" (LTX-2's HDR IC-LoRA
#: pipeline's SDR reference video, as the in-context one's: `vidlong.families.ltx2_hdr`; needed)
CONTROL_PIPELINES = {"WanVACEPipeline": "vace", "CogVideoXFunControlPipeline": "fun", "Cosmos2_5_TransferPipeline": "transfer",
                     "LTX2InContextPipeline": "in-context", "LTX2HDRPipeline": "hdr"}
#: what --control-video is to each kind of control pipeline, and what it sets (`vidlong info`'s line)
CONTROL_VIDEO_ROLES = {
    "vace": ("--control-video: the video it follows (depth, pose, edges, or frames to keep; with --mask-video and "
             "--reference-images, optional); the video takes its length (--frames N: its first N), frame rate and aspect"),
    "fun": ("needs --control-video: the video it follows (depth, pose, edges); the video takes its length (--frames N: its "
            "first N), frame rate and aspect"),
    "transfer": ("needs --control-video: the video it follows (edges, depth, segmentation or blur), a frame of it for each "
                 "frame of the video (its call is told no frame rate); the video takes its length (generate's --frames N: its "
                 "first N), frame rate and aspect, a stream its call's chunks over it; an extension runs along it at --video's "
                 "frame rate, which it must share"),
    "in-context": ("--control-video (optional): its IC-LoRA reference video (a pose, depth or edge video, as its LoRA was "
                   "trained), its tokens beside the video's; the video takes its length (--frames N: its first N), frame "
                   "rate and aspect; it does not stream or extend, since one call follows the whole reference video "
                   "(stream: below)"),
    "hdr": ("needs --control-video: the SDR video it turns into linear HDR (its HDR IC-LoRA's reference, resized keeping its "
            "aspect and reflect-padded); its text from --prompt (a prompt timeline too: each segment's frames and the "
            "reference's of their time follow its prompt), or the HDR LoRA's connector embeddings in its place "
            "(--connector-embeds FILE.safetensors of video_context and audio_context: unguided, --prompt then optional, no "
            "--negative-prompt or prompt timeline); the "
            "video takes its length (--frames N: its first N), frame rate and aspect; written as a tone-mapped SDR mp4 and "
            "its linear HDR frames beside it (OUT.hdr.npy, float16), no sound; it does not stream or extend (stream: below)"),
}
#: what --control-video is to a folder with a control-video twin (`vidlong.models.control_video_twin`: LTX-2's own
#: folders), `vidlong info`'s line
CONTROL_TWIN_ROLE = ("--control-video with an IC-LoRA (--lora ic-lora.safetensors, or one its vidlong.yaml names): its reference "
                     "video (a pose, depth or edge video, as its LoRA was trained), this folder then loaded as LTX-2's "
                     "in-context pipeline (VidLongLTX2InContextPipeline; from Python load_pipeline(folder, task='control', "
                     "loras=[...])); the video takes its length (--frames N: its first N), frame rate and aspect; with it, "
                     "it does not stream or extend (one call follows the whole reference video)")
#: the one-line name of the control models, for refusals
CONTROL_MODELS = ("a Wan VACE model (WanVACEPipeline), a CogVideoX-Fun control model (CogVideoXFunControlPipeline), "
                  "Cosmos-Transfer2.5 (Cosmos2_5_TransferPipeline), LTX-2 with an IC-LoRA (LTX2InContextPipeline) or its "
                  "HDR IC-LoRA (LTX2HDRPipeline)")
#: the control models that follow a control video alone, which their calls need, by `ModelLimits.control`
VIDEO_ONLY_MODELS = {"fun": "a CogVideoX-Fun control model", "transfer": "a Cosmos-Transfer2.5 model",
                     "hdr": "LTX-2's HDR IC-LoRA pipeline"}


def check_control_request(request, limits) -> Optional[int]:
    """A request's control video (and mask video) against `limits` (`vidlong.validate.ModelLimits`), before any model loads;
    returns the latent frames of the video it makes (the control video's first `request.frames` pixel frames, or the most
    ``step·k + 1`` it holds: 4k+1, CogVideoX's 8k+1), or None without a control video."""
    from .video_to_video import frame_count, frames_taken, redrawn_frame_step

    if request.mask_video is not None and limits.control in VIDEO_ONLY_MODELS:
        raise VidlongError(f"{named('mask_video')} marks where a VACE model generates; {VIDEO_ONLY_MODELS[limits.control]} "
                           f"follows its {named('control_video')} alone: drop {named('mask_video')}")
    if request.control_video is None:
        if request.mask_video is not None and limits.control == "vace":
            raise VidlongError(f"{named('mask_video')} marks where a VACE model generates over its control video: pass "
                               f"{named('control_video')} too")
        return None
    check_takes_control_video(limits)
    if limits.control == "transfer":
        check_own_noise(request, "Cosmos-Transfer2.5's call draws every chunk's noise")
    if limits.control == "fun" and limits.geometry.patch[0] > 1:
        raise VidlongError("a CogVideoX-Fun control model in CogVideoX1.5's layout (a temporal patch of "
                           f"{limits.geometry.patch[0]} latent frames) is not implemented: use a CogVideoX-Fun 1.0/1.1 model")
    if request.ratio != 1:
        raise VidlongError(f"{named('ratio')} sets a length from the native window; a controlled video is as long as its "
                           f"{named('control_video')}: drop {named('ratio')} ({named('frames')} N takes its first N frames)")
    ratio = limits.spec.temporal_ratio
    frames = frames_taken(request.control_video, "control_video", request.frames, redrawn_frame_step(limits.family, ratio))
    if request.mask_video is not None and frame_count(request.mask_video, "mask_video") < frames:
        raise VidlongError(f"{named('mask_video')} has fewer frames than the {frames} of the control video it masks; pass a "
                           "mask frame for each")
    if request.frames is None and frames == 1 < frame_count(request.control_video, "control_video"):
        step = redrawn_frame_step(limits.family, ratio)
        raise VidlongError(f"{named('control_video')} is too short for this model, which takes {step}k+1 of its frames: pass "
                           f"one of at least {step + 1} frames")
    return latent_frames(frames, ratio)


def check_own_noise(request, draws: str) -> None:
    """One line where a request would start from noise other than plain (its ``noise``, or a preset's for FreeLong++) for a
    model whose call `draws` its noise itself, from the seed, which vidlong's noise kinds would not reach (Cosmos-Transfer2.5's
    every chunk's, LTX-2.5's over its canvas and keyframe slots)."""
    from .methods import default_noise

    noise = request.noise or default_noise(request.method, request.preset)
    if noise != "plain":
        raise VidlongError(f"{draws} itself from {named('seed')}, so {noise} noise would not be used: pass {named('noise')} "
                           "plain")


def check_control_given(request, limits) -> None:
    """One line where the pipeline of `limits` needs a control video (CogVideoX-Fun's, Cosmos-Transfer2.5's) and `request`
    gives none; last of a request's checks, so that what the model does not take at all is named first."""
    if limits.control in VIDEO_ONLY_MODELS and request.control_video is None:
        raise VidlongError(f"{VIDEO_ONLY_MODELS[limits.control]} follows a control video: pass {named('control_video')} (its "
                           "length is the video's)")


def check_reference_images(request, limits) -> None:
    """A request's reference images (Wan VACE's: a list of images, each readable) against `limits`, before any model
    loads."""
    from .generate import load_image

    images = request.reference_images
    if images is None:
        return
    check_takes_control_video(limits, "reference_images")
    if not isinstance(images, (list, tuple)) or not images:
        raise VidlongError(f"{named('reference_images')} is a list of images (paths of PNG/JPEG files, PIL images or uint8 "
                           f"frames [H, W, 3]), got {type(images).__name__}")
    for image in images:
        load_image(image, "reference_images")


def check_takes_control_video(limits, field: str = "control_video") -> None:
    """One line unless the pipeline of `limits` takes `field`: a control video (`CONTROL_PIPELINES`; a pipeline loaded from a
    folder with a control-video twin, `vidlong.models.CONTROL_VIDEO_TWINS`, is told to load that), or reference images
    (Wan VACE's alone)."""
    from .models import CONTROL_VIDEO_TWINS

    if field == "reference_images" and limits.control != "vace":
        raise VidlongError(f"{named(field)} guide a Wan VACE model (WanVACEPipeline); this model takes none: drop it")
    if limits.control is None and limits.pipeline in CONTROL_VIDEO_TWINS:
        raise VidlongError(f"{named(field)} is followed by LTX-2's in-context pipeline with an IC-LoRA, which this "
                           f"{limits.pipeline} is not: load its folder with task='control' and loras=[the IC-LoRA file] "
                           "(vidlong app --task control --lora FILE)")
    if limits.control is None:
        raise VidlongError(f"{named(field)} guides {CONTROL_MODELS}; this model takes none: drop it")


def control_arguments(request, kind: str, frames: int, height: int, width: int) -> tuple[dict, Optional[float]]:
    """The call's control arguments of a checked request for a pipeline of `kind` (`CONTROL_PIPELINES`): the first `frames`
    of its control video (and mask video) as PIL images resized to `width` x `height` (the control video bilinear, the mask
    nearest: diffusers' VACE call would keep a smaller video's own size, which the latents of that size would not match;
    Cosmos-Transfer2.5's would resize it to its height and a width of the video's aspect), as VACE's ``video=`` and
    ``mask=``, CogVideoX-Fun's ``control_video=``, Cosmos-Transfer2.5's ``controls=`` or LTX-2 IC-LoRA's (and HDR's)
    ``reference_video=``
    (its call would resize and crop it to the video's size; with the file's frame rate as its ``frame_rate``, the rate the
    video is written at, so its sound lasts as long; the HDR pipeline's at the video's own size, its call resizing it keeping
    its aspect and reflect-padding it); and the control video file's frame rate (None for frames from Python)."""
    from PIL import Image

    from .video_to_video import input_video

    video, fps = input_video(request.control_video, frames, "control_video")
    if kind == "hdr":  # at its own size: its call resizes it keeping its aspect and reflect-pads it, as its LoRA was trained
        frames_in = [Image.fromarray(frame) for frame in video]
    else:
        frames_in = [control_frame(frame, height, width) for frame in video]
    references = kind in ("in-context", "hdr")  # LTX-2's IC-LoRA pipelines: a reference video
    arguments = {{"vace": "video", "transfer": "controls"}.get(kind, "reference_video" if references else "control_video"): frames_in}
    if request.mask_video is not None:
        masks = input_video(request.mask_video, frames, "mask_video")[0]
        arguments["mask"] = [Image.fromarray(frame).resize((width, height), Image.NEAREST) for frame in masks]
    if references and fps is not None:  # the video takes its reference's rate: its call's seconds (sound, RoPE) too
        arguments["frame_rate"] = fps
    return arguments, fps


def control_frame(frame, height: int, width: int):
    """A control video's frame, uint8 ``[H', W', 3]``, as the call takes it: a PIL image resized to `width` x `height`
    (bilinear)."""
    from PIL import Image

    return Image.fromarray(frame).resize((width, height), Image.BILINEAR)


def control_stream_shape(control_video, limits, height=None, width=None, guidance_2=None) -> tuple:
    """A Cosmos-Transfer2.5 stream's ``(frames, height, width)`` over `control_video` (a file or frames), checked before any
    model loads: its pixel frames the most ``4k + 1`` it holds, at least ``4 + 1`` (a stream's first chunk takes its first
    frame and at least one more latent frame); its pixel size `height` x `width` where given, else its first frame's aspect at
    the model's area (`vidlong.validate.video_size`), one the model takes; no `guidance_2` (one transformer). One line
    otherwise."""
    from PIL import Image

    from .validate import check_model_size, check_second_expert, video_size
    from .video_to_video import frames_taken, input_video, redrawn_frame_step

    check_second_expert(guidance_2, limits)
    ratio = limits.spec.temporal_ratio
    frames = frames_taken(control_video, "control_video", None, redrawn_frame_step(limits.family, ratio))
    if frames == 1:
        raise VidlongError(f"{named('control_video')} is too short for a stream of its chunks: pass one of at least "
                           f"{ratio + 1} frames")
    first = Image.fromarray(input_video(control_video, 1, "control_video")[0][0])
    height, width = video_size(limits, height, width, first)
    check_model_size(limits, height, width)
    return frames, height, width


def check_control_stream_prompt(prompt) -> None:
    """One line for a prompt schedule given to a Cosmos-Transfer2.5 stream, which takes one prompt (its call's)."""
    from .schedulers.stream import parse_prompt_schedule

    if len(parse_prompt_schedule(prompt)) > 1:
        raise VidlongError(f"a Cosmos-Transfer2.5 stream takes one {named('prompt')} (its call's), not a schedule: give one "
                           "prompt")


def control_extension_fps(control_video, fps: Optional[float], default: float) -> float:
    """The frame rate of a Cosmos-Transfer2.5 extension (frames a second), checked before any model loads: its input's `fps`
    (a rate given, else its file's; None: unknown, frames from Python), which a control video file must share within 1%
    (its frame i is the output's frame i: at another rate its frames would drive the new ones at other times than they
    show, and its call is told no rate to make up for it); with no `fps`, the control video file's, as `generate` and a
    stream take theirs; else `default` (the model's). One line naming both rates and the ffmpeg line that converts the
    control video where they differ."""
    from .video_to_video import is_video_path, video_fps

    if not is_video_path(control_video):
        return float(fps or default)
    control = video_fps(control_video, default, "control_video")
    if fps is None:
        return control
    if not math.isclose(fps, control, rel_tol=0.01):
        converted = Path(control_video).with_name(f"{Path(control_video).stem}_{fps:g}fps.mp4")
        raise VidlongError(f"{named('control_video')} runs at {control:g} fps and the {named('video')} it continues at "
                           f"{fps:g}: its frame i is the output's frame i, so they must share a rate; convert it first: "
                           f"ffmpeg -i {shlex.quote(str(control_video))} -r {fps:g} {shlex.quote(str(converted))}")
    return float(fps)


def control_extension_frames(control_video, input_frames: int, fps: float, seconds: Optional[float] = None) -> int:
    """Pixel frames of a Cosmos-Transfer2.5 extension's video, its input's `input_frames` then the new ones
    (`vidlong.families.cosmos_transfer_stream.TransferStreamer`), checked before any model loads: `control_video` (a file or
    frames) covers both, its frame i the output's frame i (a file at the input's rate: `control_extension_fps`); the new
    frames are `seconds` at the input's `fps`, rounded to whole frames (None: to the control video's end). One line naming
    the control video or the seconds, and the fix, where it is too short."""
    from .validate import check_finite
    from .video_to_video import frame_count

    held = frame_count(control_video, "control_video")
    if held <= input_frames:
        raise VidlongError(f"{named('control_video')} has {held} frames, no more than the {input_frames} of the "
                           f"{named('video')} it continues: pass one covering that video, then its continuation")
    if seconds is None:
        return held
    check_finite(named("seconds"), seconds)
    new = round(seconds * fps)
    if new < 1:
        raise VidlongError(f"{named('seconds')} {seconds:g} is less than a frame at the video's {fps:g} fps: pass at least "
                           f"{1 / fps:.3g}")
    if input_frames + new > held:
        raise VidlongError(f"{named('control_video')} has {held} frames, fewer than the {input_frames} of {named('video')} "
                           f"and the {new} new ones of {named('seconds')} {seconds:g} ({input_frames + new}): pass a control "
                           f"video covering both, or {named('seconds')} {(held - input_frames) / fps:g} at most")
    return input_frames + new


def control_extension_shape(control_video, limits, video, fps: float, seconds: Optional[float] = None,
                            guidance_2=None) -> tuple:
    """A Cosmos-Transfer2.5 extension's ``(frames, height, width)``, checked before any model loads: the pixel frames of its
    `video` (uint8 ``[T, H, W, 3]``, or a file's `vidlong.video_io.VideoFileFrames`) and of the `seconds` of new ones at
    `fps` (`control_extension_frames`), at the video's size, one the model takes; no `guidance_2` (one transformer). One
    line otherwise."""
    from .extend import check_video_for_model
    from .validate import check_model_size, check_second_expert

    check_second_expert(guidance_2, limits)
    check_video_for_model(video, limits.geometry)
    check_model_size(limits, *video.shape[1:3])
    return control_extension_frames(control_video, len(video), fps, seconds), *video.shape[1:3]
