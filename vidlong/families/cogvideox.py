"""CogVideoX under vidlong (`vidlong.families`): diffusers' `CogVideoXPipeline` (2B, 5B, 1.5),
`CogVideoXImageToVideoPipeline`, `CogVideoXVideoToVideoPipeline` and `CogVideoXFunControlPipeline` (CogVideoX-Fun's
control models)."""
from __future__ import annotations

from typing import Optional

import torch
from diffusers import (CogVideoXFunControlPipeline, CogVideoXImageToVideoPipeline, CogVideoXPipeline,
                       CogVideoXVideoToVideoPipeline)
from diffusers.utils.torch_utils import randn_tensor

from ..errors import VidlongError
from ..image_condition import ChannelCondition
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..pipeline_v2v import VideoToVideoCall, check_noise_shape
from ..schedulers.noise import initial_noise
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP, call_pixels


class DPMSolverStep:
    """CogVideoX's stochastic DPM-solver++ (`CogVideoXDPMScheduler`) behind the one-call
    ``step(pred, t, latents)`` a stream makes: it carries the previous step's predicted clean sample and
    timestep, as the pipeline's loop does, and draws its noise from the stream's `generator`, in the
    pipeline's ``[B, F, C, h, w]`` layout so that each draw lands where the call's does (the stream's
    latents are ``[B, C, F, h, w]``). `timesteps` are the scheduler's."""

    def __init__(self, scheduler, generator=None):
        self.scheduler, self.timesteps, self.generator = scheduler, scheduler.timesteps, generator
        self.previous_sample = self.previous_timestep = None

    def step(self, pred, timestep, latents, return_dict=False):
        latents, self.previous_sample = self.scheduler.step(pred.transpose(1, 2), self.previous_sample, timestep,
                                                            self.previous_timestep, latents.transpose(1, 2),
                                                            generator=self.generator, return_dict=False)
        self.previous_timestep = timestep
        return (latents.transpose(1, 2),)


class CogVideoXFamily:
    """What CogVideoX's pipelines (text- and image-to-video) share under vidlong. Its latents are
    ``[B, F, C, h, w]`` (frames before channels); CogVideoX1.5's noise has extra leading frames up to a
    multiple of its temporal patch, dropped before decoding, as the pipeline does."""

    videos_per_prompt = False  # its calls set num_videos_per_prompt to 1
    converts_latents = False  # its calls move given latents to the device alone

    def noise_frames(self, frames: int) -> int:
        patch = self.transformer.config.get("patch_size_t") or 1  # ConsisID's config names none
        return -(-frames // patch) * patch

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for latents `shape` ``[1, C, F, h, w]``: plain noise as its call draws it, frames before channels
        (then as ``[1, C, F, h, w]``), so that `generate` with no method makes its call's video for the same seed; SpecMix
        and FreeNoise as vidlong draws them for every model."""
        if kind != "plain":
            return initial_noise(kind, shape, native_frames, generator)
        batch, channels, frames, height, width = shape
        return torch.randn((batch, frames, channels, height, width), generator=generator).transpose(1, 2)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        return latents.transpose(1, 2)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from ..streaming import StreamText

        positive, negative = self.encode_prompt(prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                                                device=self.device)
        states = (torch.cat([negative, positive]) if guided else positive).to(self.transformer.dtype)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Frames before channels, its 3D RoPE for the window's size and CogVideoX1.5-I2V's ``ofs``, as the call makes them."""
        frames, height, width = latents.shape[2:]
        spatial = self.vae_scale_factor_spatial
        rotary = self._prepare_rotary_positional_embeddings(height * spatial, width * spatial, frames, latents.device) \
            if transformer.config.use_rotary_positional_embeddings else None
        ofs = {} if transformer.config.get("ofs_embed_dim") is None else {"ofs": latents.new_full((1,), 2.0, dtype=torch.float32)}
        out = transformer(hidden_states=self.call_latents(latents), timestep=timestep, image_rotary_emb=rotary,
                          return_dict=False, **ofs, **text.kwargs, **extra)[0]
        return self.grid_latents(out, frames, height, width)

    def stream_scheduler(self, steps, window, generator=None):
        from diffusers import CogVideoXDPMScheduler

        scheduler = self.fresh_scheduler(steps)
        return DPMSolverStep(scheduler, generator) if isinstance(scheduler, CogVideoXDPMScheduler) else scheduler

    def stream_renoise(self, clean, noise, timestep):
        """Its DDPM forward process, ``sqrt(ᾱ_t)·x_0 + sqrt(1 - ᾱ_t)·ε`` (its samplers predict v)."""
        return self.scheduler.add_noise(clean.float(), noise, torch.tensor([int(timestep)], device=clean.device))

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_scale_factor_temporal, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        return self.decode_latents(self.call_latents(latents.to(self.vae.device, self.vae.dtype)))  # the pipeline's own

    def stream_encode(self, pixels):
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * self.vae_scaling_factor_image


def one_frame_patch(transformer) -> bool:
    """Whether a CogVideoX transformer's token frames are single latent frames (not CogVideoX1.5's temporal patch of 2):
    what diffusers' `CogVideoXVideoToVideoPipeline` redraws. There its call takes an even number of latent frames alone,
    and the VAE decodes an even number F to 4F pixel frames (its text-to-video call pads a latent frame and drops it
    before decoding; the video-to-video call does not), so a 4k+1-frame video would not come back as itself."""
    return (transformer.config.get("patch_size_t") or 1) == 1


class VidLongCogVideoXPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXPipeline):
    """diffusers' `CogVideoXPipeline` (CogVideoX-2B/5B, 1.5) with vidlong's surface; CogVideoX-2B/5B redraw a video
    through their `video_to_video` twin (`VidLongCogVideoXVideoToVideoPipeline`)."""

    def redraws(self) -> bool:
        return one_frame_patch(self.transformer)


class VidLongCogVideoXVideoToVideoPipeline(CogVideoXFamily, VideoToVideoCall, VidlongPipelineMixin,
                                           CogVideoXVideoToVideoPipeline):
    """diffusers' `CogVideoXVideoToVideoPipeline` (CogVideoX-2B/5B weights; not 1.5, `one_frame_patch`) with vidlong's
    surface (`VideoToVideoCall`): a CogVideoX text-to-video folder loaded with ``task="v2v"``, or a folder saved as this
    class. It redraws the video's first 8k+1 frames, ``F = 2k + 1`` latent frames (diffusers' call encodes any count of
    frames, but its VAE decodes an even number F of latent frames to 4F pixel frames, not the video's 4F - 3: a 13-frame
    video would come back as 16). Its ``latents=`` with ``video=`` is the noise ``[B, F, C, h, w]`` (frames before
    channels, as its call draws it).

    Its call draws from ``generator``, in this order: the video's latent from the VAE's posterior (its mean plus its
    std times a standard normal draw, where the Wan pipeline takes the mean), the noise ``[B, F, C, h, w]``, then a
    stochastic sampler's noise at every step (`CogVideoXDPMScheduler`). Given noise takes the place of the second
    draw, which the call still makes, so that the sampler's draws are those of the call without it; `generate` draws
    its noise after a draw of the video latent's size and hands the call the generator as it was before both
    (`start_noise`): with plain noise, the video of diffusers' own call with the same seed."""

    call_redraws_from = "noise"  # the video latent's sample and its own noise, even when given the noise

    def redraws(self) -> bool:
        return one_frame_patch(self.transformer)

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for the video's latents `shape` ``[1, C, F, h, w]``, drawn after a draw of the size and dtype
        of the call's sample of the video's latent (which the call then makes from the same generator state): plain noise
        as the call draws it, frames before channels (then as ``[1, C, F, h, w]``), SpecMix and FreeNoise as vidlong draws
        them for every model."""
        torch.randn(shape, generator=generator, dtype=self.vae.dtype)  # the posterior's draw (CPU generator: on the CPU)
        return super().start_noise(kind, shape, native_frames, generator)

    def prepare_latents(self, video=None, batch_size=1, num_channels_latents=16, height=60, width=90, dtype=None, device=None,
                        generator=None, latents=None, timestep=None):
        """diffusers' start ``[B, F, C, h, w]`` (the video's latents sampled from the VAE's posterior with `generator`,
        scaled, then noised to `timestep` by the scheduler's DDPM forward process) with the call's given noise, where
        there is one, in place of its noise draw (still made)."""
        noise = self._vidlong_noise
        if video is None or noise is None:
            return super().prepare_latents(video, batch_size, num_channels_latents, height, width, dtype, device, generator,
                                           latents, timestep)
        vae, spatial = self.vae, self.vae_scale_factor_spatial
        clean = torch.cat([vae.encode(v[None]).latent_dist.sample(generator) for v in video]).to(dtype).permute(0, 2, 1, 3, 4)
        clean = self.vae_scaling_factor_image * clean
        shape = (batch_size, clean.shape[1], num_channels_latents, height // spatial, width // spatial)
        randn_tensor(shape, generator=generator, device=device, dtype=dtype)  # the call's noise draw, in place of which...
        check_noise_shape(noise, shape)
        latents = self.scheduler.add_noise(clean, noise.to(device, dtype), timestep)  # ...the given noise goes
        return latents * self.scheduler.init_noise_sigma


class CogVideoXImageFamily(CogVideoXFamily):
    """What CogVideoX's image-to-video calls share (CogVideoX-5B-I2V's, CogVideoX1.5-5B-I2V's, ConsisID's): the image's
    latent, then zeros, as extra input channels of every latent frame. Its call samples the image's latent from the
    VAE's posterior, then draws its noise: `generate` and streams draw them in that order, and `generate` hands the call
    its generator from before the image's draw, so that with a deterministic sampler (DDIM, its releases') no method with a
    seed is its call's video with that seed (a stochastic one's later draws come one noise draw early: its call skips the
    draw of the noise it is given)."""

    task = "i2v"
    image_in_start_latents = True  # the image's latent drawn before the noise, as its call draws them
    call_redraws_from = "image"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C, F, h, w]``: the image's latent (drawn from its VAE's distribution with
        `generator` and scaled as the call's `prepare_latents` does) on frame 0, zeros after (`latent` unused); F is
        `frames` padded to CogVideoX1.5's temporal patch, whose calls put the image on their padded video's first frame.

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        pixels = call_pixels(self, image, height, width)
        no_noise = torch.zeros(1)  # given latents: the call's `prepare_latents` draws the image's latent alone
        padded = pixel_frames(self.noise_frames(frames), self.vae_scale_factor_temporal)
        _, image_latents = self.prepare_latents(pixels, 1, self.transformer.config.in_channels // 2, padded, height, width,
                                                pixels.dtype, self._execution_device, generator, no_noise)
        return ChannelCondition(image_latents.transpose(1, 2))


class VidLongCogVideoXImageToVideoPipeline(CogVideoXImageFamily, VidlongPipelineMixin, CogVideoXImageToVideoPipeline):
    """diffusers' `CogVideoXImageToVideoPipeline` (CogVideoX-5B-I2V, CogVideoX1.5-5B-I2V) with vidlong's surface
    (`CogVideoXImageFamily`)."""


class VidLongCogVideoXFunControlPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXFunControlPipeline):
    """diffusers' `CogVideoXFunControlPipeline` (CogVideoX-Fun's control models: a CogVideoX transformer that takes the
    control video's latents as extra input channels) with vidlong's surface. Its video is as long as its control video
    (`vidlong generate --control-video`, `GenerateRequest(control_video=...)`), any length with vidlong's methods; it
    generates only. Its call has no ``num_frames``: vidlong's takes one, which must be the control video's length."""

    def call_defaults(self) -> dict:
        """The spec's, but the length: the control video's."""
        return {name: value for name, value in super().call_defaults().items() if name != "num_frames"}

    def __call__(self, *args, num_frames=None, **kwargs):
        video = kwargs.get("control_video")
        if isinstance(video, (list, tuple)) and video and isinstance(video[0], (list, tuple)):  # one per prompt: the first
            video = video[0]
        if num_frames is not None and video is not None and len(video) != num_frames:
            raise VidlongError(f"num_frames {num_frames} is not the control video's {len(video)} frames: its call makes a video "
                               "as long as its control video; drop num_frames or pass that many control frames")
        return super().__call__(*args, **kwargs)

    def latents_frames(self, arguments: dict) -> Optional[int]:
        """Latent frames of its control video's length, as its call counts it (its first video's frames); None for
        ``control_video_latents`` alone, whose latent frames its call counts as pixel frames (its noise would not fit them,
        whatever its shape)."""
        from PIL import Image

        video = arguments.get("control_video")
        if video is None or not len(video):
            return None
        count = len(video) if isinstance(video[0], Image.Image) else len(video[0])
        return self.noise_frames((count - 1) // self.spec.temporal_ratio + 1)
