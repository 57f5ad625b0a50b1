"""Cosmos-Predict2.5's own conditions under vidlong (`vidlong.families`): diffusers' `Cosmos2_5_PredictBasePipeline` given an
image (Image2World, vidlong's ``Cosmos2_5_PredictImageToWorldPipeline``) or a video to continue (Video2World, vidlong's
``Cosmos2_5_PredictVideoToWorldPipeline``), the same folder's weights (`vidlong.models.IMAGE_TO_VIDEO_TWINS`,
`vidlong.models.VIDEO_TO_VIDEO_TWINS`).

Its call encodes a conditioning video of the output's length (the VAE posterior's mode, normalised), keeps its first
``n`` latent frames clean under its condition mask (1 there, their timestep ``conditional_frame_timestep``, their velocity
the flow's from them to the start noise, ``ε - x_cond``) and denoises the rest. Image2World's conditioning video is the
image, then black frames (``n`` 1); Video2World's, the video's last 1 or 5 pixel frames (``num_latent_conditional_frames``
1 or 2), then its last frame repeated. Units: latent frames unless said."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import VidlongError
from ..models import pixel_frames
from ..pipeline_v2v import LastFramesContinuation, check_continued_length, frame_list
from .cosmos import ConditioningFrame, VidLongCosmos2_5_PredictBasePipeline

#: its call's default ``num_latent_conditional_frames`` (Video2World): the video's last ``4·(n - 1) + 1`` pixel frames, 5
CONDITIONAL_LATENT_FRAMES = 2


def image_pixels(image) -> torch.Tensor:
    """An RGB PIL image as float ``[C, H, W]`` in [0, 1] (the default dtype), the values its call's
    ``torchvision.transforms.functional.to_tensor`` gives a uint8 picture: each byte / 255."""
    return torch.from_numpy(np.array(image, np.uint8)).permute(2, 0, 1).contiguous().to(torch.get_default_dtype()).div(255)


class VidLongCosmos2_5_PredictImageToWorldPipeline(VidLongCosmos2_5_PredictBasePipeline):
    """`Cosmos2_5_PredictBasePipeline` given an image (Image2World): ``image=`` (a PIL image, a uint8 frame or a file's path)
    goes to its call's Video2World path as the one-frame video its Image2World path makes of it (`complete_call`), so that
    torchvision, which its image path imports, is not needed: the image's ``to_tensor`` (`image_pixels`) and the call's
    resize and normalisation of it are the same per frame; ``num_latent_conditional_frames`` 1 keeps only its first latent
    frame under the mask, and Wan's causal VAE encodes that frame from the first pixel frame alone, whatever frames follow
    (its image path's black frames, its video path's repeats). No draw precedes the noise (the posterior's mode), so
    `generate` with no method is its ``image=`` call with that seed, bit for bit, at any length.

    It streams and extends with the clean context by default (`vidlong.families.cosmos.CosmosStreamer`, as the text-to-world
    pipeline's): a chunk with no context (a new stream's first) has its first latent frame the image's latent
    (`vidlong.families.cosmos.ConditioningFrame`) clean under the condition mask at ``conditional_frame_timestep``, as its
    call conditions it; later windows hold the context (sinks, then window) clean under that mask, the image's frame simply
    its first (an extension's: its context's first frame). With ``context="renoise"``, every window's first latent frame is
    the image's latent so, the rest of the context re-noised."""

    task = "i2v"

    def complete_call(self, arguments: dict) -> None:
        """``image=`` as the conditioning video ``[1, 3, 1, H, W]`` in [-1, 1] its Video2World path takes as it is (its call
        then repeats it to the output's length), ``num_latent_conditional_frames`` 1; one line with a ``video=`` too."""
        super().complete_call(arguments)
        image = arguments.get("image")
        if image is None:
            return
        if arguments.get("video") is not None:
            raise VidlongError("Cosmos2_5_PredictBasePipeline conditions on an image or on a video, not both: drop image= or "
                               "video=")
        arguments["image"], arguments["num_latent_conditional_frames"] = None, 1
        arguments["video"] = self.first_frame_video(image, arguments["height"], arguments["width"])

    def first_frame_video(self, image, height: int, width: int) -> torch.Tensor:
        """The image (`load_image`'s forms) as its call's Image2World path makes its first frame: ``[1, 3, 1, height,
        width]`` in [-1, 1], resized and normalised by its video processor."""
        from ..generate import load_image

        return self.video_processor.preprocess_video(image_pixels(load_image(image))[None, None], height, width)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> ConditioningFrame:
        """`ConditioningFrame` of the image's latent ``[1, C, 1, h, w]`` (float32) as its call makes it: the image at `height` x
        `width` pixels encoded alone (the posterior's mode: no draw, `generator` and `frames` unused), normalised by the
        VAE's mean and std; or of `latent` ``[1, C, 1, h, w]`` where it is made already (an extension's context's first
        frame)."""
        if latent is None:
            pixels = self.first_frame_video(image, height, width).to(self._execution_device, self.vae.dtype)
            mode = self.vae.encode(pixels).latent_dist.mode().float()
            latent = (mode - self.latents_mean.to(mode)) * self.latents_std.to(mode)
        return ConditioningFrame(latent)


class VidLongCosmos2_5_PredictVideoToWorldPipeline(LastFramesContinuation, VidLongCosmos2_5_PredictBasePipeline):
    """`Cosmos2_5_PredictBasePipeline` given a video to continue (Video2World, `vidlong.models.CONTINUING_PIPELINES`): its
    call resizes the video to ``height`` x ``width``, encodes its last ``4·(n - 1) + 1`` pixel frames
    (``num_latent_conditional_frames`` n, its default 2: 5 frames) as the window's first n latent frames, kept clean, and
    makes the rest; the window of ``num_frames`` counts them. uint8 frames (``[T, H, W, 3]`` or a list) are read as 0-255,
    as PIL images are (`vidlong.pipeline_v2v.frame_list`). `generate` returns the video's frames (as its call resizes them),
    then the window's past those frames (`vidlong.pipeline_v2v.LastFramesContinuation`); with no method, the window is its
    call's, bit for bit. Streams and extensions are the text-to-world pipeline's."""

    continued_latent_frames = CONDITIONAL_LATENT_FRAMES

    def complete_call(self, arguments: dict) -> None:
        """uint8 frames as PIL images; a video of fewer frames than its ``num_latent_conditional_frames`` encode refused in
        one line (its call's ValueError)."""
        super().complete_call(arguments)
        frames = None if arguments.get("video") is None else frame_list(arguments["video"])
        if frames is None:
            return
        arguments["video"], latent = frames, arguments.get("num_latent_conditional_frames", CONDITIONAL_LATENT_FRAMES)
        needed = pixel_frames(latent, self.vae_scale_factor_temporal) if latent in (1, 2) else 0  # else its call refuses it
        check_continued_length(len(frames), needed, f"num_latent_conditional_frames {latent}",
                               ", or num_latent_conditional_frames=1" if latent > 1 else "")
