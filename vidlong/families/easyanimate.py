"""EasyAnimate under vidlong (`vidlong.families`): diffusers' `EasyAnimatePipeline` (text to video) and
`EasyAnimateInpaintPipeline` (image to video: the first frame kept by its mask). `EasyAnimateControlPipeline` (a
control video's latents as extra channels) is not served.

Both calls take their latents ``[B, C, F, h, w]`` (as vidlong's), the prompt as Qwen2-VL's second-last hidden states of
its chat template padded to 256 tokens (no mask reaches the transformer: every query sees every text token), flow
matching's sigmas as the scheduler sets them (``mu=1``), and decode with the MagVIT VAE (8x space, 4x time, causal in
time). A guided call of diffusers' with no negative prompt fails (it iterates over None): vidlong's gives the empty
prompt there. Units: latent frames unless pixel frames are said."""
from __future__ import annotations

import torch
from diffusers import EasyAnimateInpaintPipeline, EasyAnimatePipeline, FlowMatchEulerDiscreteScheduler

from ..errors import VidlongError
from ..image_condition import ChannelCondition
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..vae_stream import StreamingMagvitDecoder
from .common import replaced

#: the noise its inpaint call adds to the kept frame's pixels (its ``noise_aug_strength`` default), where the transformer's
#: config says so (``add_noise_in_inpaint_model``)
NOISE_AUG_STRENGTH = 0.0563


class EasyAnimateFamily:
    """What EasyAnimate's pipelines share under vidlong: the negative prompt a guided call needs, and their streams and
    extensions with the re-noised context (the prompt's Qwen2-VL states, negative first when guided; one transformer
    forward whose extra input channels, an image condition's, go in as its ``inpaint_latents``; its call's sigmas; each
    chunk decoded through the VAE's causal features the chunks before it left, as one whole decode; the VAE's latents
    scaled by its ``scaling_factor``)."""

    def complete_call(self, arguments: dict) -> None:
        """A guided call with neither a negative prompt nor its states gets the empty prompt (one per prompt), which
        diffusers' encoding needs (it iterates over the negative prompt)."""
        if (arguments["guidance_scale"] > 1 and arguments.get("negative_prompt") is None
                and arguments.get("negative_prompt_embeds") is None):
            prompt = arguments.get("prompt")
            arguments["negative_prompt"] = [""] * len(prompt) if isinstance(prompt, list) else ""

    def clear_vae_cache(self) -> None:
        """Empty the MagVIT VAE's causal convolution caches (a decode stopped midway leaves them filled, and its next
        decode would start from them)."""
        self.vae._clear_conv_cache()

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Qwen2-VL states ``[B, 256, D]``, negative first when `guided` (the empty prompt where none is given)."""
        from ..streaming import StreamText

        states, negative, _, _ = self.encode_prompt(prompt, do_classifier_free_guidance=guided,
                                                    negative_prompt=(negative_prompt or "") if guided else None,
                                                    device=self.device, dtype=self.transformer.dtype)
        if guided:
            states = torch.cat([negative, states])
        return StreamText(states.shape[0], dict(encoder_hidden_states=states))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]``, or with an image condition's channels ``[B, C + K, f, h, w]`` (its mask and
        masked video's latents, handed over as ``inpaint_latents``) -> its prediction ``[B, C, f, h, w]``."""
        channels = self.vae.config.latent_channels
        inpaint = latents[:, channels:] if latents.shape[1] > channels else None
        return transformer(latents[:, :channels], timestep, encoder_hidden_states=text.kwargs["encoder_hidden_states"],
                           inpaint_latents=inpaint, return_dict=False, **extra)[0]

    def stream_scheduler(self, steps, window, generator=None):
        """Its call's schedule: flow matching's sigmas set with ``mu=1`` (which a scheduler that shifts by the
        resolution reads), another scheduler's as it sets them."""
        if isinstance(self.scheduler, FlowMatchEulerDiscreteScheduler):
            return self.fresh_scheduler(steps, mu=1)
        return self.fresh_scheduler(steps)

    def stream_decoder(self):
        """The MagVIT VAE's causal features kept between chunks (`StreamingMagvitDecoder`): the chunks' frames are its
        whole-video decode's."""
        return StreamingMagvitDecoder(self.vae)

    def stream_encode(self, pixels):
        """Pixels ``[1, 3, 4k + 1, H, W]`` in [-1, 1] -> latents ``[1, C, k + 1, h, w]`` (the posterior's mode, scaled)."""
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * vae.config.scaling_factor


class VidLongEasyAnimatePipeline(EasyAnimateFamily, VidlongPipelineMixin, EasyAnimatePipeline):
    """diffusers' `EasyAnimatePipeline` (EasyAnimate V5.1: a Qwen2-VL prompt joined to the video in every self-attention,
    a MagVIT VAE of 4x time and 8x space) with vidlong's surface (`EasyAnimateFamily`)."""


class VidLongEasyAnimateInpaintPipeline(EasyAnimateFamily, VidlongPipelineMixin, EasyAnimateInpaintPipeline):
    """diffusers' `EasyAnimateInpaintPipeline` as image to video (EasyAnimate V5.1 InP), with vidlong's surface: its call
    also takes ``image=``, the first frame, which it turns into the ``video=`` and ``mask_video=`` diffusers' docstring
    example makes (`get_image_to_video_latent`: the image in every frame, kept on the first alone). Its transformer
    takes, after the latents, the mask's latent channel (1 on the first latent frame, scaled) and the latents of the
    masked video (the image, noised a little, then frames of -1); its call draws that noise from its generator after the
    latents, so `generate` with no method is its call with the same seed, bit for bit. It streams and extends: every
    window's frames carry the channels of the image's condition (`image_condition`; an extension's image: its context's
    first frame)."""

    task = "i2v"
    converts_latents = False  # its call moves given latents to the device alone
    #: the first frame its call was given (``image=``), while the call runs
    _vidlong_image = None

    def __call__(self, *args, image=None, **kwargs):
        """``image``: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path), in place of
        ``video=`` and ``mask_video=``."""
        with replaced(self, "_vidlong_image", image):
            return super().__call__(*args, **kwargs)

    def complete_call(self, arguments: dict) -> None:
        """The negative prompt (`EasyAnimateFamily`), and the image as its call's ``video`` and ``mask_video`` at the
        call's length and size."""
        super().complete_call(arguments)
        if self._vidlong_image is None:
            return
        if arguments.get("video") is not None or arguments.get("mask_video") is not None:
            raise VidlongError("give the first frame as image= or as video= and mask_video=, not both")
        arguments["video"], arguments["mask_video"] = self._first_frame_video(self._vidlong_image, arguments["num_frames"],
                                                                              arguments["height"], arguments["width"])

    def prepare_latents(self, batch_size, num_channels_latents, height, width, num_frames, dtype, device, generator,
                        latents=None, **kwargs):
        """diffusers' start latents; given ``latents=`` with a scheduler that has no ``init_noise_sigma`` (flow
        matching's, its releases'), those latents as they are and as its noise, where diffusers' call fails (its noise
        is unbound there). vidlong's image-to-video calls never ask for the video's latents with them (a transformer
        that takes the latents alone is refused)."""
        if latents is None or hasattr(self.scheduler, "init_noise_sigma"):
            return super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device,
                                           generator, latents, **kwargs)
        latents = latents.to(device)
        return (latents, latents) if kwargs.get("return_noise") else (latents,)

    def prepare_mask_latents(self, mask, masked_image, batch_size, height, width, dtype, device, generator,
                             do_classifier_free_guidance, noise_aug_strength):
        """diffusers' ``(mask latents, masked video latents)``: each through the VAE a sample at a time, the posterior's
        mode, scaled; the masked video first noised by `noise_aug_strength` where the transformer's config says so. The
        noise is drawn on the generator's device, then moved: vidlong's generators are the CPU's, and diffusers' draw on the
        video's device fails with one on a GPU (on the CPU the two are one)."""
        from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import add_noise_to_reference_video

        vae = self.vae

        def encoded(pixels):
            pixels = pixels.to(device, dtype)
            latents = torch.cat([vae.encode(pixels[i:i + 1])[0].mode() for i in range(pixels.shape[0])])
            return latents * vae.config.scaling_factor

        if masked_image is not None and self.transformer.config.add_noise_in_inpaint_model:
            drawn_on = generator.device if isinstance(generator, torch.Generator) else device
            masked_image = add_noise_to_reference_video(masked_image.to(drawn_on, dtype), ratio=noise_aug_strength,
                                                        generator=generator)
        return (None if mask is None else encoded(mask),
                None if masked_image is None else encoded(masked_image).to(device, dtype))

    def _first_frame_video(self, image, frames: int, height: int, width: int) -> tuple:
        """``(video [1, 3, frames, H, W] in [0, 1], mask_video [1, 1, frames, H, W])``: `image` in every pixel frame, the
        mask 0 on the first (kept) and 255 after, as diffusers' `get_image_to_video_latent` makes them."""
        from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import get_image_to_video_latent

        from ..generate import load_image

        return get_image_to_video_latent([load_image(image)], None, frames, (height, width))

    @staticmethod
    def _processed(processor, video: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``[1, K, T, H, W]`` through an image `processor` frame by frame, in float32, as its call processes a video."""
        frames = processor.preprocess(video.permute(0, 2, 1, 3, 4).flatten(0, 1), height=height, width=width)
        return frames.to(torch.float32).unflatten(0, (video.shape[0], -1)).permute(0, 2, 1, 3, 4)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> ChannelCondition:
        """`ChannelCondition` ``[1, K, F, h, w]`` of windows of up to `frames` latent frames, as its call makes its
        ``inpaint_latents`` for a video of that many (`latent` unused: an extension's image, its context's first frame, is
        conditioned on as its call's image): the mask's latent (1 channel resized, or C encoded, per its transformer's
        ``resize_inpaint_mask_directly``) then the latents of the masked video (the image noised from `generator` where
        its transformer's ``add_noise_in_inpaint_model`` says so, then frames of -1). The VAE is causal in time, so a
        window of its first n latent frames takes the first n of these as a call of n would make them.

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from diffusers.pipelines.easyanimate.pipeline_easyanimate_inpaint import resize_mask

        device, dtype = self._execution_device, self.text_encoder.dtype  # its call's latents' dtype
        video, mask = self._first_frame_video(image, pixel_frames(frames, self.vae_temporal_compression_ratio), height, width)
        pixels = self._processed(self.image_processor, video, height, width)
        dropped = self._processed(self.mask_processor, mask, height, width)  # 0 on the kept frame, 1 after
        masked = torch.where(dropped < 0.5, pixels, -1.0)
        if self.transformer.config.resize_inpaint_mask_directly:
            _, masked_latents = self.prepare_mask_latents(None, masked, 1, height, width, dtype, device, generator, False,
                                                          NOISE_AUG_STRENGTH)
            mask_latents = resize_mask(1 - dropped, masked_latents, self.vae.config.cache_mag_vae)
            mask_latents = mask_latents.to(device, dtype) * self.vae.config.scaling_factor
        else:
            mask_latents, masked_latents = self.prepare_mask_latents(dropped.tile(1, 3, 1, 1, 1), masked, 1, height, width,
                                                                     dtype, device, generator, False, NOISE_AUG_STRENGTH)
        return ChannelCondition(torch.cat([mask_latents, masked_latents], dim=1).to(dtype))
