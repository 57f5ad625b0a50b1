"""Wan VACE's control video from `generate`, the CLI and the app (``control_video``, with ``mask_video``): the video a VACE
model follows (depth, pose, edges, or frames it keeps where the mask is black), whose length the output takes. vidlong's
methods let that video be longer than the native window in one call."""
from __future__ import annotations

from typing import Optional

from .errors import VidlongError, named
from .models import latent_frames

#: families whose pipeline takes a control video (`vidlong.attention.adapters` names)
CONTROL_FAMILIES = ("wan-vace",)


def check_control_request(request, limits) -> Optional[int]:
    """A request's control video (and mask video) against `limits` (`vidlong.validate.ModelLimits`), before any model loads;
    returns the latent frames of the video it makes (the control video's first `request.frames` pixel frames, or the most
    ``4k + 1`` it holds), or None without a control video."""
    from .video_to_video import frame_count, frames_taken

    if request.control_video is None:
        if request.mask_video is not None and limits.family in CONTROL_FAMILIES:
            raise VidlongError(f"{named('mask_video')} marks where a VACE model generates over its control video: pass "
                               f"{named('control_video')} too")
        return None
    check_takes_control_video(limits)
    if request.ratio != 1:
        raise VidlongError(f"{named('ratio')} sets a length from the native window; a VACE video is as long as its "
                           f"{named('control_video')}: drop {named('ratio')} ({named('frames')} N takes its first N frames)")
    frames = frames_taken(request.control_video, "control_video", request.frames, limits.spec.temporal_ratio)
    if request.mask_video is not None and frame_count(request.mask_video, "mask_video") < frames:
        raise VidlongError(f"{named('mask_video')} has fewer frames than the {frames} of the control video it masks; pass a "
                           "mask frame for each")
    return latent_frames(frames, limits.spec.temporal_ratio)


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
    """One line unless the pipeline of `limits` takes a control video and reference images (`CONTROL_FAMILIES`), naming the
    one given (`field`)."""
    if limits.family not in CONTROL_FAMILIES:
        raise VidlongError(f"{named(field)} guide{'s' * (field == 'control_video')} a Wan VACE model (WanVACEPipeline); this "
                           "model takes none: drop it")


def control_arguments(request, frames: int, height: int, width: int) -> tuple[dict, Optional[float]]:
    """The VACE call's ``video=`` and ``mask=`` of a checked request: the first `frames` of its control video (and mask
    video) as PIL images resized to `width` x `height` (the control video bilinear, the mask nearest: diffusers' call would
    keep a smaller video's own size, which the latents of that size would not match); and the control video file's frame
    rate (None for frames from Python)."""
    from PIL import Image

    from .video_to_video import input_video

    video, fps = input_video(request.control_video, frames, "control_video")
    arguments = dict(video=[Image.fromarray(frame).resize((width, height), Image.BILINEAR) for frame in video])
    if request.mask_video is not None:
        masks = input_video(request.mask_video, frames, "mask_video")[0]
        arguments["mask"] = [Image.fromarray(frame).resize((width, height), Image.NEAREST) for frame in masks]
    return arguments, fps
