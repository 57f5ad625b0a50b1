"""SkyReels-V2 under vidlong (`vidlong.families`): diffusers' `SkyReelsV2Pipeline` (text to video),
`SkyReelsV2ImageToVideoPipeline`, and `SkyReelsV2DiffusionForcingPipeline` with its image-to-video twin and its video
continuation (`SkyReelsV2DiffusionForcingVideoToVideoPipeline`; its diffusion-forcing models).
Its transformer, VAE, text encoder, sampler and image condition are Wan's in layout, so vidlong's Wan surface serves it as
it is: its latents are ``[B, C, F, h, w]``, its prompts Wan's padded T5 states, its VAE Wan's (decoded a few latent frames
at a time), its image condition Wan2.1 I2V's (`WanImageCondition`); diagonal denoising's timesteps go in one per latent
frame, and the frame rate in every forward of a transformer that takes it (the DF 1.3B's; `SkyReelsV2Family`)."""
from __future__ import annotations

import inspect

import torch
from diffusers import (SkyReelsV2DiffusionForcingImageToVideoPipeline, SkyReelsV2DiffusionForcingPipeline,
                       SkyReelsV2DiffusionForcingVideoToVideoPipeline, SkyReelsV2ImageToVideoPipeline, SkyReelsV2Pipeline)

from ..errors import VidlongError
from ..image_condition import FirstFrameLatent
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..pipeline_i2v import WanImageCondition
from ..pipeline_v2v import frame_list
from ..streaming import StreamText
from ..video_to_video import CONTINUED_FRAMES, continued_latent_frames


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
    ``latents=`` (the first window's noise: `forward_frames`) are copied (the call writes into them). Its
    asynchronous mode (``causal_block_size``) holds for that call only: diffusers leaves the transformer block-causal
    after it (``num_frame_per_block``), which vidlong's call puts back."""

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), fps=self.spec.fps)

    def forward_frames(self, arguments: dict) -> int:
        """With ``overlap_history`` a forward spans one window of ``base_num_frames``, whatever the video's length."""
        if arguments.get("overlap_history") is None:
            return arguments["num_frames"]
        return min(arguments["num_frames"], arguments.get("base_num_frames", self._default_window()))

    def one_window(self, arguments: dict) -> bool:
        """Whether the call makes its video in one window (``base_num_frames`` = ``num_frames`` unless given): without
        ``overlap_history``, which the windows of its own long-video mode overlap by."""
        return arguments.get("overlap_history") is None

    @staticmethod
    def _default_window() -> int:
        """diffusers' ``base_num_frames`` when the call leaves it out."""
        return inspect.signature(SkyReelsV2DiffusionForcingPipeline.__call__).parameters["base_num_frames"].default

    def complete_call(self, arguments: dict) -> None:
        arguments.setdefault("prompt", None)  # its call requires one, even with prompt_embeds (a prompt timeline's)
        if self.one_window(arguments):
            arguments.setdefault("base_num_frames", arguments["num_frames"])
        if arguments.get("latents") is not None:  # its shape is checked after this (`latents_frames`: the first window's)
            arguments["latents"] = arguments["latents"].clone()

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


class VidLongSkyReelsV2DiffusionForcingVideoToVideoPipeline(DiffusionForcing, SkyReelsV2Family, VidlongPipelineMixin,
                                                            SkyReelsV2DiffusionForcingVideoToVideoPipeline):
    """diffusers' `SkyReelsV2DiffusionForcingVideoToVideoPipeline` (the DF weights continuing a given video) with vidlong's
    surface. Its call resizes the whole ``video`` to ``height`` x ``width``, encodes its last ``overlap_history`` pixel frames
    (the VAE posterior's mode) as the window's first latent frames, kept clean (timestep 0, or ``addnoise_condition``),
    makes the rest, and returns the input's frames, then the decoded window: those last frames once more (through the
    VAE), then the new ones (`generate` keeps the input's frames and the new ones: `repeated_frames`). ``num_frames`` (pixel
    frames) counts that window, the encoded frames in it: a call makes ``num_frames`` minus their worth of new frames.
    vidlong makes it in one window of ``num_frames`` (``base_num_frames`` set to it unless given; with it, the call's own
    windows), ``overlap_history`` defaults to diffusers' recommended 17 (its call has no default that runs), uint8 frames
    (``[T, H, W, 3]`` or a list) are read as 0-255 as PIL images are, and ``latents=`` (the window's noise, which diffusers'
    call cannot take with a video) start it as a draw would. Streams and extensions are the DF weights' own: those of
    `VidLongSkyReelsV2DiffusionForcingPipeline`."""

    task = "v2v"
    continues_video = True
    videos_per_prompt = False  # its call sets num_videos_per_prompt to 1
    #: the window's noise given as ``latents=`` (set for one call by `complete_call`), or None: a draw from the generator
    _vidlong_noise = None

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), overlap_history=CONTINUED_FRAMES)

    def one_window(self, arguments: dict) -> bool:
        """One window unless ``base_num_frames`` is given: ``overlap_history`` also says how much of the video it continues."""
        return True

    def complete_call(self, arguments: dict) -> None:
        super().complete_call(arguments)
        video = arguments.get("video")
        frames = None if video is None else frame_list(video)
        if frames is not None:
            if not frames:
                raise VidlongError("video holds no frames; pass a video with at least 1 frame")
            arguments["video"] = frames
            if arguments["base_num_frames"] >= arguments["num_frames"]:  # one window: its frames encode the same
                arguments["overlap_history"] = min(arguments["overlap_history"], len(frames))
            check_window_leaves_new_frames(arguments, self.vae_scale_factor_temporal, self.forward_frames(arguments))
        self._vidlong_noise, arguments["latents"] = arguments.get("latents"), None

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._vidlong_noise = None

    def decodes_in_chunks(self) -> bool:
        """`generate` takes its call's own output: the input's frames come before the decoded window."""
        return False

    def repeated_frames(self, video_frames: int) -> int:
        """Pixel frames at the front of the decoded window of a call with its defaults (``overlap_history``, the
        transformer's causal block) on a `video_frames`-frame video: those the window's first latent frames, the video's
        last frames encoded (`prefix_latent_frames`), decode to again (0 for none)."""
        temporal = self.vae_scale_factor_temporal
        prefix = prefix_latent_frames(video_frames, self.call_defaults()["overlap_history"], temporal,
                                      self.transformer.config.num_frame_per_block)
        return pixel_frames(prefix, temporal) if prefix else 0

    def prepare_latents(self, video, batch_size=1, num_channels_latents=16, height=480, width=832, num_frames=97, dtype=None,
                        device=None, generator=None, latents=None, **windows):
        """diffusers' window (its noise, length and the video's encoded frames), the first window's noise the given
        ``latents=`` where there are some (the call's own draw, from a generator of its own, left unused)."""
        noise = self._vidlong_noise
        first = noise is not None and windows.get("long_video_iter") == 0
        drawn, *window = super().prepare_latents(video, batch_size, num_channels_latents, height, width, num_frames, dtype,
                                                 device, torch.Generator() if first else generator, latents, **windows)
        return (noise.to(device=device, dtype=dtype) if first else drawn, *window)


def prefix_latent_frames(video_frames: int, overlap_history: int, temporal: int, block: int) -> int:
    """Latent frames the call's window starts with: the last `overlap_history` of a `video_frames`-frame video encoded
    (``(n - 1) // temporal + 1`` of its ``n``), cut to whole causal blocks of `block` latent frames, as its call cuts them."""
    encoded = continued_latent_frames(overlap_history, video_frames, temporal)
    return encoded - encoded % block


def check_window_leaves_new_frames(arguments: dict, temporal: int, window: int) -> None:
    """The call's first window (`window` pixel frames) holds more latent frames than its ``overlap_history`` pixel frames
    take (``(n - 1) // temporal + 1``, the count its call divides the window's by: as many or more fail inside it), or one
    line naming the length that does. A one-window call's ``overlap_history`` is at most the video's length (set by
    `complete_call`: the same frames are encoded, and a short video needs no window past 17 frames' worth)."""
    overlap = arguments["overlap_history"]
    encoded = (overlap - 1) // temporal + 1  # its call's count, of overlap_history alone
    if (window - 1) // temporal + 1 <= encoded:
        raise VidlongError(f"the call's window of {window} pixel frames has no latent frame past the {encoded} the video's "
                           f"last frames (overlap_history {overlap}) take: ask for num_frames {encoded * temporal + 1} or "
                           "more, or a smaller overlap_history")


def frame_rate_code(fps: float) -> int:
    """SkyReels-V2's frame-rate input: 0 for 16 fps, 1 for any other (its diffusion-forcing pipelines' rule)."""
    return 0 if fps == 16 else 1
