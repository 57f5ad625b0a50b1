"""Redrawing a video of any length chunk by chunk (``pipe.stream(prompt, video=...)``, ``vidlong stream --video``).

Video-to-video (`vidlong.pipeline_v2v`) redraws a whole video in one call, so one forward must hold all of it. A redraw
stream is a stream whose every chunk starts from the input's own latents instead of noise: the chunk's pixel frames
(the stream's first chunk ``4·(f - 1) + 1`` of them, every later one ``4·f``) are resized to the stream's size, encoded
once through the Wan VAE's encoder cache (`vidlong.vae_stream.StreamingWanEncoder`, which gives one encode of the whole
video), brought to the noise level of the step that `strength` starts at (SDEdit, as diffusers'
`WanVideoToVideoPipeline`: the last ``int(steps · strength)`` steps run) and denoised with the stream's context (sink
frames and rolling window, through the KV cache or re-noised). Time and memory per chunk stay flat: the input is
decoded frame by frame as the chunks ask for it. Models: the text-to-video ones with Wan's VAE whose family streams
(`vidlong.video_to_video.STREAM_REDRAWING_MODELS`: Wan2.1, Wan2.2 A14B and TI2V-5B, SkyReels-V2), since the stream is
vidlong's own sampler (diffusers' `WanVideoToVideoPipeline`, which the one-call redraw runs, takes Wan2.1's layout alone).
A pipeline that edits its video (Lucy Edit) streams through this module's source and chunking too, from noise, its
forwards conditioned on the video's latents of their frames (`vidlong.edit_stream`).
"""
from __future__ import annotations

from typing import Optional

import torch

from .errors import VidlongError, named
from .streaming import VideoStreamer
from .vae_stream import StreamingWanEncoder
from .video_to_video import (DEFAULT_STRENGTH, check_strength, denoised_steps, frame_count, is_video_path,
                             check_stream_redraws, redraw_chunk_count)

class RedrawSource:
    """The video a stream redraws, handed out chunk by chunk as normalised latents.

    Args:
        pipe: the stream's pipeline (its VAE and video processor).
        video: a video file's path (decoded frame by frame), or uint8 frames ``[T, H, W, 3]``.
        height, width: pixels of the stream; each frame is resized to them as the video-to-video call resizes.
        onednn: the encoder's CPU fast paths (`StreamingWanEncoder`'s; None: where they exist, equal to float rounding).
    """

    def __init__(self, pipe, video, height: int, width: int, onednn: Optional[bool] = None):
        from .extend import as_video_frames
        from .video_io import iter_frames

        self.pipe, self.height, self.width = pipe, height, width
        self.ratio = pipe.spec.temporal_ratio
        count = frame_count(video)
        if count < 1:
            raise VidlongError(f"{named('video')} holds no frames; pass a video with at least 1 frame")
        self.latent_frames = (count - 1) // self.ratio + 1  # of its most 4k+1 frames, the VAE's causal grid
        self.frames = iter_frames(video) if is_video_path(video) else iter(as_video_frames(video))
        self.encoder = StreamingWanEncoder(pipe.vae, onednn=onednn)
        self.handed_out = 0  # latent frames

    def next_latents(self, frames: int) -> torch.Tensor:
        """The next `frames` latent frames of the video ``[1, C, frames, h, w]`` (its next ``4·frames`` pixel frames, or
        ``4·(frames - 1) + 1`` for the first chunk), normalised by the VAE's mean and std."""
        return self.encoder.encode(self.next_pixels(frames))

    def next_pixels(self, frames: int) -> torch.Tensor:
        """The pixels ``[1, 3, T, H, W]`` in [-1, 1] of the next `frames` latent frames (`next_latents`), resized."""
        from PIL import Image

        count = self.ratio * (frames - 1) + 1 if self.handed_out == 0 else self.ratio * frames
        pixels = [Image.fromarray(next(self.frames)) for _ in range(count)]
        self.handed_out += frames
        return self.pipe.video_processor.preprocess_video(pixels, height=self.height, width=self.width)


class RedrawStreamer(VideoStreamer):
    """A `VideoStreamer` that redraws `video` with the prompt, chunk by chunk, at `strength` (default
    `DEFAULT_STRENGTH`; 1: from pure noise). Its length is the video's (its most 4k+1 frames: the chunks its latent
    frames fill, the last one shorter where they do not divide), or its first `chunks` chunks; its size the video's
    aspect at the model's pixel area unless `height` and `width` are given; its frame rate (`fps`) and the seconds of a
    prompt timeline the video's. Other arguments as `VideoStreamer`'s."""

    #: the video encoder's CPU fast paths (`RedrawSource`'s `onednn`)
    encoder_fast_paths: Optional[bool] = None
    given_video = True

    def __init__(self, pipe, prompt: str, streaming, video, strength: Optional[float] = None, chunks: Optional[int] = None,
                 height: Optional[int] = None, width: Optional[int] = None, **kwargs):
        from PIL import Image

        from .validate import limits_for_pipeline, video_size
        from .video_to_video import input_video, video_fps

        limits = limits_for_pipeline(pipe)
        check_stream_redraws(limits)
        if kwargs.get("image") is not None:
            raise VidlongError(f"a stream given a video redraws or edits it and takes no {named('image')}; drop it")
        first, _ = input_video(video, 1)
        if not len(first):
            raise VidlongError(f"{named('video')} holds no frames; pass a video with at least 1 frame")
        height, width = video_size(limits, height, width, Image.fromarray(first[0]))
        self.video_fps = video_fps(video, pipe.spec.fps)  # before the prompts' seconds are counted in it
        super().__init__(pipe, prompt, streaming, chunks=chunks, height=height, width=width, **kwargs)
        self.strength = self._strength(strength)
        self.source = RedrawSource(pipe, video, self.height, self.width, self.encoder_fast_paths)
        self.first_chunk = min(self.first_chunk, self.source.latent_frames)
        whole = redraw_chunk_count(self.source.latent_frames, self.first_chunk, self.schedule.chunk)
        self.chunks = whole if chunks is None else min(chunks, whole)

    @property
    def fps(self) -> float:
        """The video's frame rate (a file's own; frames from Python: the model's): the redraw keeps it."""
        return self.video_fps

    def settings(self) -> dict:
        return dict(super().settings(), strength=self.strength, video_latent_frames=self.source.latent_frames)

    def _strength(self, strength: Optional[float]) -> float:
        """The strength the stream redraws at (given, else `DEFAULT_STRENGTH`), checked against its steps."""
        strength = DEFAULT_STRENGTH if strength is None else strength
        check_strength(strength, self.steps if not self.causal else len(self.timesteps))
        return strength

    def _chunk_frames(self, index: int) -> int:
        return min(super()._chunk_frames(index), self.source.latent_frames - self.source.handed_out)

    def _starting_point(self, noise: torch.Tensor, scheduler) -> tuple:
        """The video's next latents brought to the level of the first step `strength` leaves, and the steps from there."""
        timesteps = scheduler.timesteps
        timesteps = timesteps[len(timesteps) - denoised_steps(len(timesteps), self.strength):]
        clean = self.source.next_latents(noise.shape[2]).to(noise.device)
        return self.pipe.stream_renoise(clean, noise, timesteps[0]), timesteps
