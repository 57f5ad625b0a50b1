"""`VidLongWanAnimatePipeline`: diffusers' `WanAnimatePipeline` (Wan2.2-Animate-14B) with vidlong's surface, in its own
module so that other users never import it."""
from __future__ import annotations

from diffusers import WanAnimatePipeline

from .errors import VidlongError, named
from .models import latent_frames, pixel_frames
from .pipeline import VidlongPipelineMixin

#: the call's videos, each a list of PIL images in diffusers' call (vidlong also takes a file's path or uint8 frames)
DRIVING_VIDEOS = ("pose_video", "face_video", "background_video", "mask_video")


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

    def call_defaults(self) -> dict:
        spec = self.spec
        return dict(height=spec.height, width=spec.width, segment_frame_length=self.native_segment_frames(),
                    num_inference_steps=spec.num_inference_steps, guidance_scale=spec.guidance_scale)

    def complete_call(self, arguments: dict) -> None:
        """The videos as the PIL frames its call takes; a segment that is not ``ratio·k + 1`` pixel frames (diffusers rounds
        it down with a warning), or no longer than the frames it starts from, and a pose video no longer than those, are
        refused in one line (diffusers would loop forever or fail an assertion)."""
        for name in DRIVING_VIDEOS:
            if arguments.get(name) is not None:
                arguments[name] = driving_frames(arguments[name], name)
        segment = arguments["segment_frame_length"]
        latent_frames(segment, self.spec.temporal_ratio, "segment_frame_length")
        overlap = arguments.get("prev_segment_conditioning_frames", 1)
        if segment <= overlap:
            raise VidlongError(f"{named('segment_frame_length')} {segment} must be longer than the "
                               f"{named('prev_segment_conditioning_frames')} ({overlap}) it starts from")
        pose = arguments.get("pose_video")
        if pose is not None and len(pose) <= overlap:
            raise VidlongError(f"{named('pose_video')} has {len(pose)} frames; Wan Animate needs more than "
                               f"{named('prev_segment_conditioning_frames')} ({overlap})")


def driving_frames(video, field: str) -> list:
    """A driving video as a list of RGB PIL images, from such a list, uint8 frames ``[T, H, W, 3]`` or a video file's path;
    a one-line error naming `field` otherwise."""
    from PIL import Image

    from .video_to_video import input_video

    return [Image.fromarray(frame) for frame in input_video(video, field=field)[0]]
