"""SkyReels-V2 under vidlong (`vidlong.families`): diffusers' `SkyReelsV2Pipeline` (text to video),
`SkyReelsV2ImageToVideoPipeline`, and `SkyReelsV2DiffusionForcingPipeline` and its image-to-video twin (its
diffusion-forcing models).
Its transformer, VAE, text encoder, sampler and image condition are Wan's in layout, so vidlong's Wan surface serves it as
it is: its latents are ``[B, C, F, h, w]``, its prompts Wan's padded T5 states, its VAE Wan's (decoded a few latent frames
at a time), its image condition Wan2.1 I2V's (`WanImageCondition`); diagonal denoising's timesteps go in one per latent
frame, and the frame rate in every forward of a transformer that takes it (the DF 1.3B's; `SkyReelsV2Family`)."""
from __future__ import annotations

import inspect

import torch
from diffusers import (SkyReelsV2DiffusionForcingImageToVideoPipeline, SkyReelsV2DiffusionForcingPipeline,
                       SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline)

from ..errors import VidlongError
from ..image_condition import FirstFrameLatent
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..pipeline_i2v import WanImageCondition
from ..streaming import StreamText


class SkyReelsV2Family:
    """What SkyReels-V2's pipelines share under vidlong: a timestep per token (diagonal denoising, ``[B, tokens]``) goes
    into its transformer as its diffusion-forcing forward takes it, one per latent frame (``[B, F]``,
    ``enable_diffusion_forcing=True``); a transformer trained with the frame rate as an input (``inject_sample_info``: the
    diffusion-forcing 1.3B release) gets the spec's, coded as its pipeline codes it (16 fps: 0, any other: 1)."""

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        if transformer.config.get("inject_sample_info"):
            extra = dict(extra, fps=[frame_rate_code(self.spec.fps)] * latents.shape[0])
        if timestep.ndim == 2:
            per_frame = timestep.view(timestep.shape[0], latents.shape[2], -1)
            if not (per_frame == per_frame[:, :, :1]).all():
                raise VidlongError("SkyReels-V2 takes one timestep per latent frame; this window's tokens of one frame "
                                   "have different timesteps")
            timestep, extra = per_frame[:, :, 0], dict(extra, enable_diffusion_forcing=True)
            if "fps" in extra and latents.shape[0] > 1:  # its forward adds the frame rate per frame for one sample only
                return torch.cat([super(SkyReelsV2Family, self).stream_forward(
                    transformer, latents[i:i + 1], timestep[i:i + 1], StreamText(1, one_sample(text.kwargs, i, text.batch)),
                    **one_sample(extra, i, latents.shape[0])) for i in range(latents.shape[0])])
        return super().stream_forward(transformer, latents, timestep, text, **extra)


def one_sample(arguments: dict, index: int, batch: int) -> dict:
    """Keyword arguments of a batch of `batch` cut to its sample `index`: the tensors and lists as long as the batch."""
    def batched(value) -> bool:
        return (isinstance(value, torch.Tensor) and value.ndim > 0 and value.shape[0] == batch
                or isinstance(value, list) and len(value) == batch)

    return {name: value[index:index + 1] if batched(value) else value for name, value in arguments.items()}


class VidLongSkyReelsV2Pipeline(SkyReelsV2Family, VidlongPipelineMixin, SkyReelsV2Pipeline):
    """diffusers' `SkyReelsV2Pipeline` (SkyReels-V2 T2V 14B, 540P and 720P) with vidlong's surface."""


class VidLongSkyReelsV2ImageToVideoPipeline(SkyReelsV2Family, WanImageCondition, VidlongPipelineMixin,
                                            SkyReelsV2ImageToVideoPipeline):
    """diffusers' `SkyReelsV2ImageToVideoPipeline` (SkyReels-V2 I2V 1.3B and 14B, CLIP image states) with vidlong's
    surface; the image conditions the first frame as the pipeline does natively."""


class DiffusionForcing:
    """What SkyReels-V2's diffusion-forcing pipelines (DF 1.3B and 14B, trained with a noise level per latent frame; the
    1.3B also takes the frame rate) do under vidlong. Without ``overlap_history`` their call makes the whole video in one
    window, as every vidlong pipeline does, so that the methods act on it (``base_num_frames`` is set to ``num_frames``,
    or its check would ask for ``overlap_history`` past 97 frames); with it, the call makes the video its own way
    (windows of ``base_num_frames`` continuing each other's last frames). ``fps`` defaults to the spec's. Given
    ``latents=`` (the first window's noise) are checked for its length and copied (the call writes into them). Its
    asynchronous mode (``causal_block_size``) holds for that call only: diffusers leaves the transformer block-causal
    after it (``num_frame_per_block``), which vidlong's call puts back."""

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), fps=self.spec.fps)

    def forward_frames(self, arguments: dict) -> int:
        """With ``overlap_history`` a forward spans one window of ``base_num_frames``, whatever the video's length."""
        if arguments.get("overlap_history") is None:
            return arguments["num_frames"]
        return min(arguments["num_frames"], arguments.get("base_num_frames", self._default_window()))

    @staticmethod
    def _default_window() -> int:
        """diffusers' ``base_num_frames`` when the call leaves it out."""
        return inspect.signature(SkyReelsV2DiffusionForcingPipeline.__call__).parameters["base_num_frames"].default

    def complete_call(self, arguments: dict) -> None:
        arguments.setdefault("prompt", None)  # its call requires one, even with prompt_embeds (a prompt timeline's)
        windowed = arguments.get("overlap_history") is not None
        if not windowed and "base_num_frames" not in arguments:
            arguments["base_num_frames"] = arguments["num_frames"]
        latents = arguments.get("latents")
        if latents is not None:
            first_window = self.forward_frames(arguments)
            frames = (first_window - 1) // self.vae_scale_factor_temporal + 1
            if latents.shape[2] != frames:
                raise VidlongError(f"latents= holds {latents.shape[2]} latent frames; the call's first window has {frames} "
                                   f"({first_window} pixel frames): pass noise of that length")
            arguments["latents"] = latents.clone()

    def __call__(self, *args, **kwargs):
        block = self.transformer.config.num_frame_per_block
        try:
            return super().__call__(*args, **kwargs)
        finally:
            if self.transformer.config.num_frame_per_block != block:
                self.transformer.register_to_config(num_frame_per_block=block)


class VidLongSkyReelsV2DiffusionForcingPipeline(DiffusionForcing, SkyReelsV2Family, VidlongPipelineMixin,
                                                SkyReelsV2DiffusionForcingPipeline):
    """diffusers' `SkyReelsV2DiffusionForcingPipeline` (SkyReels-V2 DF, text to video) with vidlong's surface."""

    def prepare_latents(self, batch_size, num_channels_latents=16, height=480, width=832, num_frames=97, dtype=None,
                        device=None, generator=None, latents=None, **windows):
        """Given ``latents=`` (the first window's noise, checked and copied by `complete_call`) come back with the window's
        facts, as drawn noise does (diffusers returns the tensor alone, which its call cannot unpack)."""
        if latents is None:
            return super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device,
                                           generator, None, **windows)
        return latents.to(device=device, dtype=dtype), latents.shape[2], None, 0


class VidLongSkyReelsV2DiffusionForcingImageToVideoPipeline(DiffusionForcing, SkyReelsV2Family, VidlongPipelineMixin,
                                                            SkyReelsV2DiffusionForcingImageToVideoPipeline):
    """diffusers' `SkyReelsV2DiffusionForcingImageToVideoPipeline` (the same weights, the image as the video's first latent
    frame, clean: timestep 0) with vidlong's surface."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`FirstFrameLatent` of the image's latent ``[1, C, 1, h, w]`` (its VAE's mean, as the call's `prepare_latents`
        encodes it: no draw, so `generator` and `latent` go unused) for windows of up to `frames` latent frames."""
        from ..generate import load_image

        device, spatial, channels = self.device, self.vae_scale_factor_spatial, self.vae.config.z_dim
        pixels = self.video_processor.preprocess(load_image(image), height=height, width=width).to(device, dtype=torch.float32)
        zeros = torch.zeros(1, channels, frames, height // spatial, width // spatial, device=device)  # no noise drawn
        condition = self.prepare_latents(pixels, 1, channels, height, width, pixel_frames(frames, self.vae_scale_factor_temporal),
                                         torch.float32, device, None, zeros)[2]
        return FirstFrameLatent(condition)


def frame_rate_code(fps: float) -> int:
    """SkyReels-V2's frame-rate input: 0 for 16 fps, 1 for any other (its diffusion-forcing pipelines' rule)."""
    return 0 if fps == 16 else 1
