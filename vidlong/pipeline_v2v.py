"""Video-to-video (SDEdit: a video's latents noised to ``strength``, then denoised with the prompt) with vidlong's
surface, so that the methods act on a long input video's one call (`generate` with ``video=``; ``vidlong generate
--video``): `VideoToVideoCall`, what vidlong's video-to-video pipelines add to diffusers' call, and
`VidLongWanVideoToVideoPipeline` (diffusers' `WanVideoToVideoPipeline`); CogVideoX's is in `vidlong.families.cogvideox`.
`VideoLengthCall`: what they share with Lucy Edit's call (`vidlong.families.lucy`), a video as long as the given one.
`LastFramesContinuation`: calls that continue a video from its last frames, kept clean (Cosmos-Predict2.5's Video2World,
Cosmos 3's ``video=``)."""
from __future__ import annotations

import inspect
from typing import Optional

import numpy as np
import torch
from diffusers import WanVideoToVideoPipeline

from .errors import VidlongError
from .families.common import replaced
from .models import family_of, pixel_frames
from .pipeline import VidlongPipelineMixin


class VideoLengthCall:
    """A video-to-video call whose video is as long as the one it is given (its first ``num_frames``, `first_frames`), so
    that ``num_frames`` takes no default from the spec, and which `generate` hands the video (`redraws`): the redrawing
    calls' (`VideoToVideoCall`) and Lucy Edit's. Before `VidlongPipelineMixin` in a pipeline's bases."""

    task = "v2v"

    def redraws(self) -> bool:
        """`generate` hands its call a given video (redrawn at a strength, or edited: `edits_video`)."""
        return True

    def call_defaults(self) -> dict:
        """The spec's defaults, but the length: the video's."""
        defaults = super().call_defaults()
        del defaults["num_frames"]
        return defaults


class LastFramesContinuation:
    """A call that continues a given video (`vidlong.models.CONTINUING_PIPELINES`) from its last
    ``4·(n - 1) + 1`` pixel frames, encoded as its window's first `continued_latent_frames` n latent frames and kept clean
    (Cosmos-Predict2.5's Video2World, Cosmos 3's ``video=`` with ``condition_video_keep="last"``): `generate` takes its
    call's own decoded window and puts before it the video's frames as its call resizes them (`continued_frames`). Before
    `VidlongPipelineMixin` in a pipeline's bases."""

    task = "v2v"
    continues_video = True
    #: the latent frames its call keeps clean at the window's start (its default): the video's last 4·(n - 1) + 1 frames
    continued_latent_frames = 2

    def decodes_in_chunks(self) -> bool:
        """`generate` takes its call's own output, after which it puts the video's frames."""
        return False

    def repeated_frames(self, video_frames: int) -> int:
        """The video's last pixel frames its call's window starts with again (``4·(n - 1) + 1``: 5 for n = 2)."""
        return pixel_frames(self.continued_latent_frames, self.vae_scale_factor_temporal)

    def continued_frames(self, video, frames: np.ndarray) -> np.ndarray:
        """uint8 ``[T, H, W, 3]``: the continued `video`'s frames resized as its call resizes them (through its video
        processor, to the window's size), then its call's window `frames` (uint8 ``[t, H, W, 3]``) past its first
        `repeated_frames` (the video's last frames, encoded and decoded)."""
        from .video_io import rounded_uint8

        height, width = frames.shape[1:3]
        pixels = self.video_processor.preprocess_video(frame_list(video), height, width)
        kept = self.video_processor.postprocess_video(pixels, output_type="np")[0]
        return np.concatenate([rounded_uint8(kept), frames[self.repeated_frames(len(video)):]])


def check_continued_length(frames: int, needed: int, setting: str, fewer: str = "") -> None:
    """One line where a video of `frames` pixel frames is shorter than the `needed` last frames a continuing call encodes
    (by its `setting`, as the line names it; `fewer`: how to ask for fewer, where it can)."""
    if frames < needed:
        raise VidlongError(f"video holds {frames} frames and {setting} continues from its last {needed}; pass a longer video"
                           f"{fewer}")


class VideoToVideoCall(VideoLengthCall):
    """What vidlong adds to a diffusers video-to-video call (before `VidlongPipelineMixin` in a pipeline's bases). It
    generates; streams and extensions are refused (its text-to-video folder streams).

    Three additions to diffusers' call: uint8 frames (an array ``[T, H, W, 3]`` or a list) are read as 0-255, as PIL
    images are (diffusers reads a NumPy array as 0-1); ``num_frames=`` takes the video's first `num_frames` pixel frames
    (4k+1, as the VAE's causal grid encodes them; 8k+1 for CogVideoX, `vidlong.video_to_video.redrawn_frame_step`;
    default: the most of those it holds); and ``latents=`` given with ``video=`` (a pair diffusers' call refuses) is the
    noise the video's latents are noised with, in the call's latent layout, in place of a draw from ``generator`` (so
    that `generate`'s noise kinds reach it; the pipeline's ``prepare_latents`` reads it from ``_vidlong_noise``), of
    the shape of its draw (refused before the video is encoded otherwise, `latents_shapes`)."""

    videos_per_prompt = False  # diffusers' Wan and CogVideoX video-to-video calls set num_videos_per_prompt to 1
    #: the noise `prepare_latents` noises the video's latents with (set for one call), or None: a draw from the generator
    _vidlong_noise = None

    def __call__(self, *args, num_frames=None, **kwargs):
        from .video_to_video import DEFAULT_STRENGTH, check_strength

        stock = super(VidlongPipelineMixin, self).__call__  # diffusers' own, for its argument names
        bound = inspect.signature(stock).bind_partial(*args, **kwargs).arguments
        video, noise = bound.get("video"), bound.get("latents")
        frames = None if video is None else frame_list(video)
        if frames is not None:
            bound["video"] = first_frames(self, frames, num_frames)
        elif video is not None and num_frames is not None:
            raise VidlongError("num_frames takes the first frames of a video given as PIL images or uint8 frames "
                               "[T, H, W, 3]; trim a tensor yourself, or drop num_frames")
        check_strength(bound.get("strength", DEFAULT_STRENGTH), bound.get("num_inference_steps") or self.spec.num_inference_steps,
                       "num_inference_steps")
        with replaced(self, "_vidlong_noise", noise if video is not None else None):
            return super().__call__(**bound)

    def complete_call(self, arguments: dict) -> None:
        """``latents=`` given with ``video=`` go to `prepare_latents` as the noise (``_vidlong_noise``), not to diffusers'
        call, which refuses the pair; checked first as the call's latents (`latents_shapes`)."""
        super().complete_call(arguments)
        if arguments.get("video") is not None:
            arguments["latents"] = None

    def latents_frames(self, arguments: dict) -> Optional[int]:
        """With ``video=`` as frames (`frame_list`, trimmed to its redrawn length): the latent frames of its latents, those
        of the noise ``latents=``; None for a video given as a tensor (its noise is checked once the video is encoded,
        `check_noise_shape`)."""
        video = arguments.get("video")
        if video is None:
            return super().latents_frames(arguments)
        frames = frame_list(video)
        return None if frames is None else self.noise_frames((len(frames) - 1) // self.spec.temporal_ratio + 1)

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """With ``video=``: the shape of the noise of its latents (`latents_frames`). Without: diffusers' start latents,
        whose own frames set the video's length: any count there (None), the rest as for a video of 1 or 2 latent frames."""
        if arguments.get("video") is not None:
            return super().latents_shapes(arguments, batch)
        one, two = (super(VideoToVideoCall, self).latents_shapes(dict(arguments, num_frames=frames), batch)
                    for frames in (1, self.spec.temporal_ratio + 1))
        return tuple(tuple(size if size == other else None for size, other in zip(shape, longer)) for shape, longer in zip(one, two))


class VidLongWanVideoToVideoPipeline(VideoToVideoCall, VidlongPipelineMixin, WanVideoToVideoPipeline):
    """diffusers' `WanVideoToVideoPipeline` with vidlong's surface (`VideoToVideoCall`): a Wan2.1 text-to-video folder
    loaded with ``task="v2v"`` (diffusers' pipeline has one transformer and one timestep per sample, so Wan2.2's two
    experts and TI2V-5B are not served). Its ``latents=`` with ``video=`` is the noise ``[B, C, F, h, w]``."""

    def prepare_latents(self, video=None, batch_size=1, num_channels_latents=16, height=480, width=832, dtype=None,
                        device=None, generator=None, latents=None, timestep=None):
        """diffusers' start (the video's latents, the VAE posterior's mode normalised, noised to `timestep`) with the
        call's given noise where there is one."""
        noise = self._vidlong_noise
        if video is None or noise is None:
            return super().prepare_latents(video, batch_size, num_channels_latents, height, width, dtype, device, generator,
                                           latents, timestep)
        vae = self.vae
        clean = torch.cat([vae.encode(v[None].to(device, vae.dtype)).latent_dist.mode() for v in video]).to(dtype)
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(device, dtype)
        inverse_std = (1.0 / torch.tensor(vae.config.latents_std)).view(1, -1, 1, 1, 1).to(device, dtype)
        clean = (clean - mean) * inverse_std  # as diffusers' call normalises
        check_noise_shape(noise, (batch_size, *clean.shape[1:]))
        noise = noise.to(device, dtype)
        if hasattr(self.scheduler, "add_noise"):
            return self.scheduler.add_noise(clean, noise, timestep)
        return self.scheduler.scale_noise(clean, timestep, noise)


def check_noise_shape(noise: torch.Tensor, shape: tuple) -> None:
    """The noise given as ``latents=`` has the `shape` of the noise the call draws for the video's latents (its batch, the
    latents' grid, in the call's layout), or one line: what a video given as a tensor is checked by once encoded."""
    if tuple(noise.shape) != tuple(shape):
        raise VidlongError(f"latents has shape {list(noise.shape)} (the noise for the video); the call noises the video's "
                           f"latents with noise of {list(shape)}: pass latents of that shape, or leave latents out")


def first_frames(pipe, frames: list, num_frames) -> list:
    """The first `num_frames` of a video's `frames` (`frame_list`'s PIL images) that `pipe`'s call takes (``4k + 1``, as its
    VAE's causal grid encodes them; 8k+1 for CogVideoX, `vidlong.video_to_video.redrawn_frame_step`), default the most of
    those it holds; one line for a video with none, or for a `num_frames` it cannot take."""
    from .video_to_video import redrawn_frame_step, redrawn_frames

    if not frames:
        raise VidlongError("video holds no frames; pass a video with at least 1 frame")
    step = redrawn_frame_step(family_of(pipe.experts()[0]), pipe.vae_scale_factor_temporal)
    return frames[:redrawn_frames(len(frames), num_frames, step, "num_frames")]


def frame_list(video):
    """`video` as the list of PIL images diffusers' call reads as 0-255 frames: PIL images as they are, uint8 frames
    (``[T, H, W, 3]`` or a list of ``[H, W, 3]``; diffusers would read a NumPy array as values in 0-1) as PIL images;
    None for what diffusers' call takes as it is (a tensor, float frames in 0-1)."""
    from PIL import Image

    if isinstance(video, np.ndarray) and video.dtype == np.uint8 and video.ndim == 4:
        return [Image.fromarray(frame) for frame in video]
    if isinstance(video, (list, tuple)):
        if all(isinstance(frame, Image.Image) for frame in video):
            return list(video)
        if all(isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3 for frame in video):
            return [Image.fromarray(frame) for frame in video]
    return None
