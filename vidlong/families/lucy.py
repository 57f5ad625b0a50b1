"""Lucy Edit under vidlong (`vidlong.families`): diffusers' `LucyEditPipeline`, which edits a given video by a text
instruction. Its transformer is Wan's (`WanTransformer3DModel`: Wan2.2 TI2V-5B's layout in its release, with
``expand_timesteps``, optionally two experts switched at ``boundary_ratio``), its VAE, text encoder and sampler Wan's, so
Wan's attention adapter serves it as it is: every forward takes ``[B, 2C, F, h, w]``, the noisy latents ``[B, C, F, h, w]``
and the input video's normalised latents (the VAE posterior's mode) concatenated on the channels; the methods act on the
F latent frames of the whole video, so one call edits a video longer than the native window. Its stream edits a video of
any length chunk by chunk (`vidlong.edit_stream`), each forward given the condition of its window's frames.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from diffusers import LucyEditPipeline

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from ..pipeline_v2v import VideoLengthCall, first_frames, frame_list


class VidLongLucyEditPipeline(VideoLengthCall, VidlongPipelineMixin, LucyEditPipeline):
    """diffusers' `LucyEditPipeline` with vidlong's surface.

    Its call encodes the whole ``video`` (resized to ``height`` x ``width``) and denoises noise of its latent grid with
    those latents as condition channels through every step: the output has the video's length, and diffusers' call reads
    that length from the video alone (its ``num_frames`` is not used past a warning). vidlong's call takes the video's
    first ``num_frames`` pixel frames (4k+1, as the VAE's causal grid encodes them; default: the most of those it holds),
    reads uint8 frames (an array ``[T, H, W, 3]`` or a list) as 0-255 as PIL images are and float frames in 0-1 as
    diffusers' call does (`float_frames`), takes ``latents=`` (the noise ``[1, C, F, h, w]``) in the float32 of its own
    draw, encodes the video in the VAE's dtype, and refuses in one line what it cannot trim or diffusers would fail on
    inside the call (no video, or a video of another type, a tensor among them, before any work; more than one video a
    call, before any forward). Its length and `generate`'s video: `VideoLengthCall`. It streams an edit of a given video
    (``stream(prompt, video=...)``: `vidlong.edit_stream`, its condition by `edit_condition`) and nothing else, and does
    not extend (`vidlong.validate.EDIT_STREAM_REFUSAL`, `EDIT_EXTEND_REFUSAL`).
    """

    edits_video = True

    def complete_call(self, arguments: dict) -> None:
        """The video's first ``num_frames`` frames (PIL images, or float frames as given), and ``num_frames`` their count
        (the length one forward places, which the RoPE check and ``latents=``'s shape follow); one line for a call
        diffusers would fail in."""
        video = arguments.get("video")
        frames = None if video is None else frame_list(video)
        frames = float_frames(video) if frames is None else frames
        if frames is None:
            given = "none" if video is None else type(video).__name__
            raise VidlongError(f"video: Lucy Edit edits a video given as PIL images, uint8 frames [T, H, W, 3] or float frames "
                               f"in 0-1, got {given}; pass its frames (a video file: vidlong generate --video in.mp4)")
        arguments["video"] = first_frames(self, frames, arguments.get("num_frames"))
        arguments["num_frames"] = len(arguments["video"])

    def prepare_latents(self, video=None, batch_size=1, num_channels_latents=16, height=480, width=832, dtype=None,
                        device=None, generator=None, latents=None):
        """diffusers' start (its noise and the video's condition latents), given ``latents=`` in the dtype of its own draw
        (float32), as Wan's calls take them: diffusers' moves them to the device alone, and would step bfloat16 noise in
        bfloat16; the `video` pixels ``[1, 3, T, H, W]`` in the VAE's dtype (diffusers' hands it float32 pixels, which a
        VAE in bfloat16, as `vidlong.load_pipeline` loads one on a GPU, refuses: its example loads the VAE in float32).
        One line, before any forward (after given ``latents=`` are checked, and the prompts encoded), for a call making
        more videos (`batch_size`: prompts x ``num_videos_per_prompt``) than the one it edits, where diffusers fails an
        assertion."""
        if batch_size != video.shape[0]:
            raise VidlongError(f"Lucy Edit's call edits one video a call, and this one makes {batch_size} (prompts x "
                               "num_videos_per_prompt); give one prompt and num_videos_per_prompt 1, and call it once per edit")
        latents = None if latents is None else latents.to(dtype)
        return super().prepare_latents(video.to(self.vae.dtype), batch_size, num_channels_latents, height, width, dtype,
                                       device, generator, latents)

    def edit_condition(self, mode: torch.Tensor) -> torch.Tensor:
        """The VAE posterior's mode of frames of the edited video ``[1, C, f, h, w]`` (latent frames) -> the condition
        latents that its call concatenates to those frames' noise: float32, ``(mode - mean) · (1 / std)`` by the VAE's
        config, as diffusers' `prepare_latents` normalises them (a stream's, `vidlong.edit_stream`, so the call's)."""
        from ..vae_stream import LatentScaling

        return LatentScaling(self.vae, mode.device, torch.float32).from_vae(mode.float())


def float_frames(video) -> Optional[list]:
    """Float frames in 0-1 (``[T, H, W, 3]`` or a list of ``[H, W, 3]``), which diffusers' call reads as they are, as the
    list of their frames; None for anything else."""
    frames = list(video) if isinstance(video, np.ndarray) and video.ndim == 4 else video
    if isinstance(frames, (list, tuple)) and frames and all(
            isinstance(f, np.ndarray) and f.ndim == 3 and f.shape[-1] == 3 and np.issubdtype(f.dtype, np.floating) for f in frames):
        return list(frames)
    return None
