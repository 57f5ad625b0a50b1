"""NVIDIA Cosmos 3 under vidlong (`vidlong.families`): diffusers' `Cosmos3OmniPipeline`, from text, from an image
(`VidLongCosmos3OmniImageToVideoPipeline`) and continuing a video (`VidLongCosmos3OmniVideoToVideoPipeline`), twins of the
same folder's weights (`vidlong.models.IMAGE_TO_VIDEO_TWINS`, `vidlong.models.VIDEO_TO_VIDEO_TWINS`). Its call tokenizes
the prompt (its chat template, the video's duration and size appended) into the transformer's own text tokens, packs them
with the video's tokens into one sequence per forward (the methods: `vidlong.attention.adapters.cosmos3`), guides by
``uncond + g·(cond - uncond)``, steps UniPC and decodes by Wan's VAE; its latents are normalised by the VAE's statistics as
Wan's are, so `generate` decodes through Wan's streaming decoder.

An image or a video conditions it through its condition mask ``m`` (1 at the latent frames kept clean, ``[F, 1, 1]``): its
call encodes a conditioning video of the output's length (the image, or the video's first or last frames, then its last
frame repeated; the posterior's mode, normalised), starts from ``m·x_0 + (1 - m)·ε``, zeroes the velocity where m is 1 and
gives those frames' tokens no timestep. Units: latent frames unless named pixel."""
from __future__ import annotations

import torch
from diffusers import Cosmos3OmniPipeline

from ..errors import VidlongError
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..pipeline_v2v import LastFramesContinuation, check_continued_length, frame_list
from .common import OneVideoOutput

#: its call's arguments vidlong does not serve, and why: what it makes besides a video
UNSERVED = {"enable_sound": "its sound", "action": "its action-conditioned runs"}
#: its call's default ``condition_frame_indexes_vision``: the latent frames of a given video kept clean
CONDITION_FRAMES = (0, 1)


class VidLongCosmos3OmniPipeline(OneVideoOutput, VidlongPipelineMixin, Cosmos3OmniPipeline):
    """diffusers' `Cosmos3OmniPipeline` with vidlong's surface: its call takes vidlong's start noise as ``latents=`` (in
    float32, as its call holds them) and, given an image or a video too, puts their clean latent frames in it as it puts
    them in its own noise (`prepare_latents`), so `generate` with no method is its call from that noise, bit for bit; its
    output's video is also its ``frames``, as vidlong reads every call's. Its sound (``enable_sound``) and actions are
    refused in one line (`UNSERVED`); it generates only (its family streams nothing:
    `vidlong.attention.adapters.cosmos3.Cosmos3Adapter.no_stream_reason`)."""

    def __call__(self, *args, **kwargs):
        output = super().__call__(*args, **kwargs)
        if hasattr(output, "video"):
            output.frames = output.video
        return output

    def complete_call(self, arguments: dict) -> None:
        """`UNSERVED` arguments refused, where given (``enable_sound`` where true); an image with a video too."""
        for name, what in UNSERVED.items():
            if arguments.get(name) is not None and arguments.get(name) is not False:
                raise VidlongError(f"vidlong serves Cosmos 3's videos; {what} ({name}) are not served: drop {name}")
        if arguments.get("image") is not None and arguments.get("video") is not None:
            raise VidlongError("Cosmos3OmniPipeline conditions on an image or on a video, not both: drop image= or video=")

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[1, C, F, h, w]`` in float32, as its call holds its latents whatever the transformer's dtype."""
        return latents.float()

    def prepare_latents(self, *args, latents=None, **kwargs):
        """Its own; given noise `latents` ``[1, C, F, h, w]`` with an image or a video to condition on (its call would take
        that noise as it is, the condition left out), its start ``m·x_0 + (1 - m)·ε`` from that noise ε: its own start ``x``
        made first (its own noise drawn and dropped), then ``m·x + (1 - m)·ε``, bit for bit its own sum (``x`` is ``x_0``
        where m is 1)."""
        if latents is None or (kwargs.get("image") is None and kwargs.get("video") is None):
            return super().prepare_latents(*args, latents=latents, **kwargs)
        made = super().prepare_latents(*args, **kwargs)
        start, mask = made[0], made[5]
        return (mask * start + (1.0 - mask) * latents.to(start), *made[1:])


class VidLongCosmos3OmniImageToVideoPipeline(VidLongCosmos3OmniPipeline):
    """`Cosmos3OmniPipeline` given an image (its ``image=``: a PIL image, a uint8 frame or a file's path), loaded for one
    (``task="i2v"``): its call resizes and centre-crops the image to the video's size, encodes it repeated to the video's
    length and keeps the first latent frame (Wan's causal VAE encodes it from the image alone) clean under its condition
    mask. No draw precedes the noise (the posterior's mode), so `generate` with no method is its ``image=`` call with that
    seed, bit for bit, at any length."""

    task = "i2v"


class VidLongCosmos3OmniVideoToVideoPipeline(LastFramesContinuation, VidLongCosmos3OmniPipeline):
    """`Cosmos3OmniPipeline` given a video to continue (`vidlong.models.CONTINUING_PIPELINES`): its ``video=`` with
    ``condition_video_keep="last"`` (vidlong's default), which resizes the video to ``height`` x ``width``, encodes its last
    ``4·(n - 1) + 1`` pixel frames (``condition_frame_indexes_vision`` its default (0, 1): n 2, 5 frames) as the window's
    first n latent frames, kept clean, and makes the rest; the window of ``num_frames`` counts them. uint8 frames
    (``[T, H, W, 3]`` or a list) are read as 0-255, as PIL images are (`vidlong.pipeline_v2v.frame_list`). `generate`
    returns the video's frames (as its call resizes them), then the window's past those 5
    (`vidlong.pipeline_v2v.LastFramesContinuation`); with no method, the window is its call's, bit for bit."""

    continued_latent_frames = len(CONDITION_FRAMES)

    def call_defaults(self) -> dict:
        """The spec's, and ``condition_video_keep`` "last": the video's last frames are the window's first."""
        return dict(super().call_defaults(), condition_video_keep="last")

    def complete_call(self, arguments: dict) -> None:
        """uint8 frames as PIL images; one line for a video shorter than the 5 frames its call continues from (its call
        would repeat its last frame into them), for its first frames kept (``condition_video_keep`` "first": it continues
        the last) and for other kept latent frames than (0, 1)."""
        super().complete_call(arguments)
        frames = None if arguments.get("video") is None else frame_list(arguments["video"])
        if frames is None:
            return
        if arguments["condition_video_keep"] != "last":
            raise VidlongError("vidlong's Cosmos 3 video to video continues a video from its last frames: drop "
                               "condition_video_keep")
        if tuple(arguments.get("condition_frame_indexes_vision", CONDITION_FRAMES)) != CONDITION_FRAMES:
            raise VidlongError(f"vidlong's Cosmos 3 video to video keeps its call's latent frames {CONDITION_FRAMES} clean: "
                               "drop condition_frame_indexes_vision")
        arguments["video"] = frames
        check_continued_length(len(frames), pixel_frames(len(CONDITION_FRAMES), self.vae_scale_factor_temporal),
                               f"condition_frame_indexes_vision {CONDITION_FRAMES}")
