"""`VidLongWanAnimatePipeline`: diffusers' `WanAnimatePipeline` (Wan2.2-Animate-14B) with vidlong's surface, in its own
module so that other users never import it."""
from __future__ import annotations

from diffusers import WanAnimatePipeline

from .animate import ANIMATE_VIDEOS, check_driving_lengths, check_driving_set, check_segment_overlap
from .errors import VidlongError, named
from .models import latent_frames, pixel_frames
from .pipeline import VidlongPipelineMixin


class VidLongWanAnimatePipeline(VidlongPipelineMixin, WanAnimatePipeline):
    """diffusers' `WanAnimatePipeline` with vidlong's surface.

    Its call animates the character of ``image`` with ``pose_video`` and ``face_video`` (``mode="replace"``: puts it in
    ``background_video`` where ``mask_video`` is white) into a video as long as the pose video, made segment after segment
    of ``segment_frame_length`` pixel frames, each after the first starting from the last
    ``prev_segment_conditioning_frames`` of the one before. Each segment's grid has the reference image's latent as an
    extra first latent frame: the spec's ``native_frames`` counts it (Wan2.2-Animate-14B: 21 = 1 + the 20 of a 77-frame
    segment). vidlong's methods act on its blocks, so a segment may be longer than the native one: fewer segments, fewer
    joins where the video restarts from a few frames. The spec gives the call's defaults (the segment: the native one);
    the videos may also be given as a video file's path or uint8 frames ``[T, H, W, 3]``. It does not stream.
    """

    task = "animate"

    def native_segment_frames(self) -> int:
        """Pixel frames of the native segment: the native window less its reference latent frame."""
        return pixel_frames(self.spec.native_frames - 1, self.spec.temporal_ratio)

    def segment_frames(self, grid_frames: int) -> int:
        """Pixel frames of a segment whose grid (reference frame included) has `grid_frames` latent frames."""
        if grid_frames < 2:
            raise VidlongError(f"a Wan Animate segment's grid holds the reference latent frame and at least one of video; "
                               f"got {grid_frames} latent frames: ask for a longer segment")
        return pixel_frames(grid_frames - 1, self.spec.temporal_ratio)

    def latents_frames(self, arguments: dict) -> int:
        """A segment's grid: the reference latent frame, then the segment's (its call's ``latents=`` start the first)."""
        return 1 + latent_frames(arguments["segment_frame_length"], self.spec.temporal_ratio, "segment_frame_length")

    def call_defaults(self) -> dict:
        spec = self.spec
        return dict(height=spec.height, width=spec.width, segment_frame_length=self.native_segment_frames(),
                    num_inference_steps=spec.num_inference_steps, guidance_scale=spec.guidance_scale)

    def complete_call(self, arguments: dict) -> None:
        """The videos as the PIL frames its call takes, and ``mode`` "replace" where a background and a mask video are given
        (else "animate"). Refused in one line (diffusers would loop forever, fail an assertion or an index, round quietly
        or ignore a video): a segment that is not ``ratio·k + 1`` pixel frames or no longer than the frames it starts from
        (``prev_segment_conditioning_frames``: 1 or 5), a pose or face video missing, a pose video no longer than those
        frames, another video shorter than it, and a mode its videos do not fit."""
        given = {name for name in ANIMATE_VIDEOS if arguments.get(name) is not None}
        check_driving_set(given)
        for name in given:
            arguments[name] = driving_frames(arguments[name], name)
        check_driving_lengths({name: len(arguments[name]) for name in given})
        replacing = "mask_video" in given
        mode = arguments["mode"] = arguments.get("mode") or ("replace" if replacing else "animate")  # None: by its videos
        if mode not in ("animate", "replace") or (mode == "replace") != replacing:
            raise VidlongError(f"{named('mode')} {mode!r} does not fit the videos given: \"replace\" takes a "
                               f"{named('background_video')} and a {named('mask_video')}, \"animate\" neither")
        segment = arguments["segment_frame_length"]
        latent_frames(segment, self.spec.temporal_ratio, "segment_frame_length")
        overlap = arguments["prev_segment_conditioning_frames"] = check_segment_overlap(
            arguments.get("prev_segment_conditioning_frames"), "prev_segment_conditioning_frames")
        if segment <= overlap:
            raise VidlongError(f"{named('segment_frame_length')} {segment} must be longer than the "
                               f"{named('prev_segment_conditioning_frames')} ({overlap}) it starts from")
        if len(arguments["pose_video"]) <= overlap:
            raise VidlongError(f"{named('pose_video')} has {len(arguments['pose_video'])} frames; Wan Animate needs more than "
                               f"{named('prev_segment_conditioning_frames')} ({overlap})")


def driving_frames(video, field: str) -> list:
    """A driving video as a list of RGB PIL images, from such a list, uint8 frames ``[T, H, W, 3]`` or a video file's path;
    a one-line error naming `field` otherwise."""
    from PIL import Image

    from .video_to_video import input_video

    return [Image.fromarray(frame) for frame in input_video(video, field=field)[0]]
