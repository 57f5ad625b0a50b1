"""`generate` for Wan Animate: a character image animated by a pose and a face video (or put in place of a person in a
background video) in one call of `VidLongWanAnimatePipeline`, whose segments a request's ratio lengthens.

A request's ``ratio`` sets the grid of each segment (the reference latent frame and the segment's, `ratio` × the native
window: 1 is diffusers' 77-frame segment on Wan2.2-Animate-14B); the video is as long as the pose video, at its frame
rate where it is a file (else the model's). With ``background_video`` and ``mask_video`` the call runs in "replace" mode.
"""
from __future__ import annotations

import time

import torch

from .errors import VidlongError, named
from .models import pixel_frames
from .video_io import rounded_uint8

#: a request's driving videos: the two the call needs, and the two of "replace" mode
ANIMATE_VIDEOS = ("pose_video", "face_video", "background_video", "mask_video")


def driving_videos(request) -> dict:
    """The request's driving videos that are given, by field name."""
    return {name: getattr(request, name) for name in ANIMATE_VIDEOS if getattr(request, name) is not None}


def check_animate_request(request, limits) -> None:
    """The driving videos of a request against the model's task (before any model loads): a Wan Animate model needs a pose
    and a face video (and both or neither of a background and a mask video), readable, the pose video longer than one
    frame; its length is the pose video's, so ``frames`` is refused; another model takes none of them."""
    from .generate import resolve_latent_frames
    from .methods import method_switch
    from .video_to_video import frame_count

    given = driving_videos(request)
    if limits.task != "animate":
        if request.segment_overlap is not None:
            raise VidlongError(f"{named('segment_overlap')} is how many frames a Wan Animate segment starts from; this model "
                               "makes no segments: drop it")
        for name in given:  # a VACE model's mask video goes with its control video (`vidlong.control_video`)
            if not (name == "mask_video" and limits.control is not None):  # its own refusal there
                check_takes_driving_videos(limits, name)
        return
    check_driving_set(given)
    if method_switch(request.method, 2) is not None:
        raise VidlongError(f"{named('method')} {request.method} changes its methods part way through one run of steps, and a "
                           "Wan Animate call runs its steps again for every segment: use another method")
    if request.noise not in (None, "plain"):
        raise VidlongError(f"{named('noise')} {request.noise}: a Wan Animate call draws every segment's noise itself (plain "
                           f"Gaussian); drop {named('noise')}")
    if request.frames is not None:
        raise VidlongError(f"a Wan Animate video is as long as its {named('pose_video')}; drop {named('frames')} "
                           f"({named('ratio')} sets the length of the segments it is made in)")
    check_driving_lengths({name: frame_count(video, name) for name, video in given.items()})  # each one readable
    overlap = check_segment_overlap(request.segment_overlap, "segment_overlap")
    grid = resolve_latent_frames(request, limits.spec.native_frames, limits.spec.temporal_ratio)
    segment = pixel_frames(grid - 1, limits.spec.temporal_ratio) if grid >= 2 else 0
    if grid >= 2 and segment <= overlap:
        raise VidlongError(f"{named('ratio')} {request.ratio:g} makes segments of {segment} frames, no longer than the "
                           f"{overlap} of {named('segment_overlap')} each starts from: use a longer {named('ratio')} or "
                           f"{named('segment_overlap')} 1")
    if grid < 2:
        smallest = 2 / limits.spec.native_frames
        raise VidlongError(f"{named('ratio')} {request.ratio:g} leaves a Wan Animate segment no video frame (its window holds "
                           f"the reference latent frame and at least one more); use {named('ratio')} {smallest:.2g} or more")


#: the segment overlaps (pixel frames) diffusers' Wan Animate call takes
OVERLAPS = (1, 5)


def check_segment_overlap(overlap, field: str) -> int:
    """The pixel frames each Wan Animate segment after the first starts from: `overlap` (None: 1), or one line naming
    `field` unless it is one of `OVERLAPS`."""
    overlap = 1 if overlap is None else overlap
    if isinstance(overlap, bool) or overlap not in OVERLAPS:
        raise VidlongError(f"{named(field)} must be 1 or 5 (pixel frames a segment starts from), got {overlap!r}")
    return int(overlap)


def check_driving_set(given) -> None:
    """The driving videos given (names) make a Wan Animate call: a pose and a face video, and both or neither of a background
    and a mask video (its "replace" mode); else one line naming the missing one."""
    for name in ("pose_video", "face_video"):
        if name not in given:
            raise VidlongError(f"this Wan Animate model moves the character of {named('image')} with a pose and a face video: "
                               f"pass {named(name)} {name.removesuffix('_video')}.mp4")
    if ("background_video" in given) != ("mask_video" in given):
        missing = "mask_video" if "background_video" in given else "background_video"
        raise VidlongError(f"replacing a person in a background video takes both its {named('background_video')} and its "
                           f"{named('mask_video')}: pass {named(missing)} too, or drop the other")


def check_driving_lengths(frames: dict) -> None:
    """The driving videos' frame counts (by name): a pose video of at least 2 frames, and every other one at least as long
    (a frame for each pose frame: diffusers would pad a shorter one by playing it back and forth, and fails on one frame)."""
    pose = frames["pose_video"]
    if pose < 2:
        raise VidlongError(f"{named('pose_video')} has {pose} frame{'s' * (pose != 1)}; Wan Animate needs at least 2")
    for name, count in frames.items():
        if count < pose:
            raise VidlongError(f"{named(name)} has {count} frames, fewer than the pose video's {pose}; give it a frame for "
                               "each pose frame")

def check_takes_driving_videos(limits, field: str = "pose_video") -> None:
    """One line unless the pipeline of `limits` takes driving videos (Wan Animate's), naming the one given (`field`)."""
    if limits.task != "animate":
        takers = ("a Wan Animate model (WanAnimatePipeline; with a background video) or a Wan VACE model's control video"
                  if field == "mask_video" else "a Wan Animate model (WanAnimatePipeline)")
        raise VidlongError(f"{named(field)} drives {takers}; this model takes none: drop it")


def animate(pipe, request, methods, progress=None):
    """The `GenerateResult` of a Wan Animate `request` (checked by `vidlong.validate.check_generate`) with `methods`
    applied for this call only; `progress` as `vidlong.generate.generate`'s ("denoise" counts every segment's steps)."""
    from .generate import GenerateResult, generate_settings, load_image, resolve_latent_frames
    from .hooks import set_aside
    from .pipeline_animate import driving_frames
    from .progress import StepCount
    from .validate import limits_for_pipeline, video_size
    from .video_to_video import video_fps

    spec = pipe.spec
    grid = resolve_latent_frames(request, spec.native_frames, spec.temporal_ratio)
    segment = pipe.segment_frames(grid)
    videos = {name: driving_frames(video, name) for name, video in driving_videos(request).items()}
    fps = video_fps(request.pose_video, spec.fps, "pose_video")
    height, width = video_size(limits_for_pipeline(pipe), request.height, request.width, videos["pose_video"][0])
    steps = request.steps or spec.num_inference_steps
    guidance = spec.guidance_scale if request.guidance is None else request.guidance
    overlap = check_segment_overlap(request.segment_overlap, "segment_overlap")
    segments = segment_count(len(videos["pose_video"]), segment, overlap)
    report = progress or (lambda stage, done, total: None)
    denoising = StepCount("denoise", segments * steps, report)  # 0 done at the first forward, then after each step
    start = time.perf_counter()
    report("encode prompt", 0, 1)
    with set_aside(pipe.experts()), denoising.started_by(pipe.experts()):
        pipe.apply(*methods)
        video = pipe(image=load_image(request.image), **videos, prompt=request.prompt,
                     negative_prompt=request.negative_prompt or None, height=height, width=width, segment_frame_length=segment,
                     num_inference_steps=steps, guidance_scale=guidance, mode="replace" if "mask_video" in videos else "animate",
                     prev_segment_conditioning_frames=overlap,
                     generator=torch.Generator().manual_seed(int(request.seed)), output_type="np",
                     callback_on_step_end=denoising.on_step_end).frames[0]
    frames = rounded_uint8(video)
    report("decode", 1, 1)
    settings = generate_settings(pipe, request, methods, grid, frames=frames, height=height, width=width, steps=steps,
                                 guidance=guidance, noise="plain", fps=fps, seconds=time.perf_counter() - start)
    settings.update(segment_frames=segment, segments=segments, segment_overlap=overlap,
                    mode="replace" if "mask_video" in videos else "animate")
    return GenerateResult(frames=frames, settings=settings)


def request_segments(pipe, request, grid_frames: int) -> int:
    """Segments of a checked request whose segments' grid is `grid_frames` latent frames."""
    from .video_to_video import frame_count

    return segment_count(frame_count(request.pose_video, "pose_video"), pipe.segment_frames(grid_frames),
                         check_segment_overlap(request.segment_overlap, "segment_overlap"))


def segment_count(pose_frames: int, segment_frames: int, overlap: int = 1) -> int:
    """Segments diffusers' call makes for a pose video of `pose_frames` in segments of `segment_frames`, each after the
    first starting from `overlap` frames of the one before."""
    return -(-(pose_frames - overlap) // (segment_frames - overlap))
