"""HunyuanVideo under vidlong (`vidlong.families`): diffusers' `HunyuanVideoPipeline`, `HunyuanVideoImageToVideoPipeline`
and `HunyuanSkyreelsImageToVideoPipeline` (1.0's transformer), and `HunyuanVideo15Pipeline` and
`HunyuanVideo15ImageToVideoPipeline` (1.5)."""
from __future__ import annotations

import contextlib
import dataclasses
import itertools

import numpy as np
import torch
from diffusers import (HunyuanSkyreelsImageToVideoPipeline, HunyuanVideo15ImageToVideoPipeline, HunyuanVideo15Pipeline,
                       HunyuanVideoImageToVideoPipeline, HunyuanVideoPipeline)

from ..errors import VidlongError
from ..image_condition import ChannelCondition, FirstFrameLatent
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..scalars import plain
from ..validate import check_model_size, limits_for_pipeline
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP, replaced
from .guider import GuiderGuidance


class HunyuanVideoVAE:
    """What the pipelines of HunyuanVideo's causal VAEs (1.0's, 1.5's; Kandinsky 5 uses 1.0's) share under vidlong: a
    stream's chunks decoded and encoded by its ``scaling_factor``, and the VAE tiled as it loads (1.0's mid-block
    attention masks every latent pixel of a window against every other: untiled, a 960x960 decode of a tiny model took
    24 GB; diffusers' examples tile them)."""

    tiled_vae = True

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_scale_factor_temporal, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        vae = self.vae
        return vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]

    def stream_encode(self, pixels):
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * vae.config.scaling_factor


class HunyuanVideoFamily(HunyuanVideoVAE):
    """What HunyuanVideo's pipelines (1.0 and 1.5) share under vidlong: their VAEs' (`HunyuanVideoVAE`) and their calls'
    sigmas (1 down to 1/steps, shifted by the scheduler's own shift)."""

    def stream_scheduler(self, steps, window, generator=None):
        return self.fresh_scheduler(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])


class EmbeddedGuidance:
    """A stream of HunyuanVideo 1.0's (text to video, SkyReels V1's image to video): its guidance is an input of its
    transformer (``guidance_scale``, embedded), not a second batch; true classifier-free guidance (``true_cfg_scale``)
    stays off in streams. Its prompt: Llama states and mask, CLIP's pooled states."""

    def stream_guided(self, guidance):
        return False

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from ..streaming import StreamText

        dtype = self.transformer.dtype
        states, pooled, mask = self.encode_prompt(prompt, device=self.device)
        return StreamText(1, dict(encoder_hidden_states=states.to(dtype), encoder_attention_mask=mask,
                                  pooled_projections=pooled.to(dtype),
                                  guidance=torch.tensor([guidance * 1000.0], dtype=dtype, device=self.device)))


class VidLongHunyuanVideoPipeline(EmbeddedGuidance, HunyuanVideoFamily, VidlongPipelineMixin, HunyuanVideoPipeline):
    """diffusers' `HunyuanVideoPipeline` with vidlong's surface; ``guidance`` is its embedded guidance
    (``guidance_scale``; true classifier-free guidance, ``true_cfg_scale``, stays the pipeline's 1)."""


class VidLongHunyuanSkyreelsImageToVideoPipeline(EmbeddedGuidance, HunyuanVideoFamily, VidlongPipelineMixin,
                                                 HunyuanSkyreelsImageToVideoPipeline):
    """diffusers' `HunyuanSkyreelsImageToVideoPipeline` (SkyReels V1, HunyuanVideo's transformer taking the image's latent
    as 16 more input channels of the first latent frame, zeros after) with vidlong's surface. Its call draws the image's
    latent from its generator first, then its noise, so `generate` and streams draw them in that order and `generate`
    hands the call its generator as it was before the image's draw: `generate` = its call with that seed, bit for bit.
    ``guidance`` is its embedded guidance; its true classifier-free guidance (``true_cfg_scale`` 6) runs in `generate`
    where a negative prompt is given, not in streams."""

    task = "i2v"
    image_in_start_latents = True
    call_redraws_from = "image"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C, frames, h, w]``: the image's latent drawn from its VAE's distribution with
        `generator` and scaled as the call's `prepare_latents` does, on frame 0, zeros after (`latent` unused)."""
        from ..generate import load_image

        pixels = self.video_processor.preprocess(load_image(image), height=height, width=width)
        pixels = pixels.to(self._execution_device, self.vae.dtype)
        no_noise = torch.zeros(1)  # given latents: its `prepare_latents` draws the image's latent alone
        _, image_latents = self.prepare_latents(pixels, 1, self.transformer.config.in_channels // 2, height, width,
                                                pixel_frames(frames, self.vae_scale_factor_temporal), torch.float32,
                                                self._execution_device, generator, no_noise)
        return ChannelCondition(image_latents)


def image_traced(noise: torch.Tensor, latent: torch.Tensor) -> torch.Tensor:
    """A chunk's start noise ``[1, C, f, h, w]`` holding 0.1% of the image's latent ``[1, C, 1, h, w]`` on every frame, as
    HunyuanVideo-I2V's `prepare_latents` mixes it into its noise."""
    keep = torch.tensor([0.999], device=noise.device)  # the call's mix, in its float32
    return noise * keep + latent.to(noise) * (1 - keep)


class TokenReplacedImage(FirstFrameLatent):
    """HunyuanVideo-I2V's ``token_replace`` image: its latent ``[1, C, 1, h, w]`` is every window's first latent frame,
    whose tokens its transformer itself modulates as clean (one timestep a sample, no per-token timesteps), and a chunk's
    start noise holds 0.1% of it (`image_traced`)."""

    def timestep_mask(self, frames: int, patch) -> None:
        return None

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        return image_traced(noise, self.latent)


class ConcatenatedImage(ChannelCondition):
    """HunyuanVideo-I2V's ``latent_concat`` image (its 33-channel release): after a window's latents, C channels holding the
    image's latent ``[1, C, 1, h, w]`` on its first frame and zeros after, then a mask channel (1 on that frame), as its
    call builds them; the first frame is denoised with the rest; a chunk's start noise holds 0.1% of the latent
    (`image_traced`). `frames`: the longest window, in latent frames."""

    def __init__(self, latent: torch.Tensor, frames: int):
        _, channels, _, height, width = latent.shape
        condition = latent.new_zeros(1, channels + 1, frames, height, width)
        condition[:, :channels, :1], condition[:, channels, 0] = latent, 1.0
        super().__init__(condition)
        self.latent = latent

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        return image_traced(noise, self.latent)


class VidLongHunyuanVideoImageToVideoPipeline(HunyuanVideoFamily, VidlongPipelineMixin, HunyuanVideoImageToVideoPipeline):
    """diffusers' `HunyuanVideoImageToVideoPipeline` (HunyuanVideo-I2V) with vidlong's surface: the methods act on its
    transformer as on the text-to-video one's (the image's LLaVA tokens ride with the text, whose pairs stay stock). Its
    image enters as its transformer's ``image_condition_type`` says: ``token_replace`` (the image's latent replaces the
    first latent frame; embedded guidance) or ``latent_concat`` (the image's latent and a mask as 17 more channels; the
    call returns the video after that first latent frame, 4 pixel frames fewer). Both stream and extend: every window's
    first frame is the image's latent (`TokenReplacedImage`) or carries it in its channels (`ConcatenatedImage`; a stream's
    first chunk drops 4 pixel frames, as the call does, `ModelLimits.dropped_frames`), and its LLaVA reads that image with
    every prompt (``text_reads_image``); true classifier-free guidance (``true_cfg_scale``) stays off in streams."""

    task = "i2v"
    text_reads_image = True

    def stream_guided(self, guidance):
        return False

    def stream_text(self, prompt, negative_prompt, guided, guidance, image=None):
        """Its LLaVA's states and mask for `image` (the windows' first frame: a PIL image) with `prompt`, interleaving the
        image's tokens as its call does, CLIP's pooled states, and its embedded guidance where its transformer embeds one."""
        from ..streaming import StreamText

        condition = self.transformer.config.image_condition_type
        states, pooled, mask = self.encode_prompt(image=image, prompt=prompt, device=self.device,
                                                  image_embed_interleave={"latent_concat": 2, "token_replace": 4}.get(condition, 1))
        dtype = self.transformer.dtype
        kwargs = dict(encoder_hidden_states=states.to(dtype), encoder_attention_mask=mask.to(dtype),
                      pooled_projections=pooled.to(dtype))
        if self.transformer.config.guidance_embeds:  # as its call makes it
            kwargs["guidance"] = torch.tensor([guidance], dtype=dtype, device=self.device) * 1000.0
        return StreamText(1, kwargs)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`TokenReplacedImage` or `ConcatenatedImage` (windows of up to `frames` latent frames), as its transformer's
        ``image_condition_type`` says, of the image's latent (its VAE's mode, scaled, as the call's `prepare_latents` makes
        it from the image resized to `height` x `width`), or of `latent` ``[1, C, 1, h, w]`` (an extension's context's
        first latent frame); `generator` unused (the call draws nothing for the image)."""
        from ..generate import load_image

        condition = self.transformer.config.image_condition_type
        if latent is None:
            channels = self.transformer.config.in_channels
            channels = (channels - 1) // 2 if condition == "latent_concat" else channels
            pixels = self.video_processor.preprocess(load_image(image), height, width).to(self._execution_device, self.vae.dtype)
            no_noise = torch.zeros(1)  # given latents: its `prepare_latents` makes the image's latent alone
            _, latent = self.prepare_latents(pixels, 1, channels, height, width, 1, torch.float32, self._execution_device, None,
                                             no_noise, condition)
        return ConcatenatedImage(latent, frames) if condition == "latent_concat" else TokenReplacedImage(latent)


def step_callback(pipe, callback):
    """Within it, every ``pipe.scheduler.step`` calls ``callback(pipe, step, timestep, {"latents": latents})``
    after it, as diffusers' ``callback_on_step_end`` does (its ``latents``, when returned, replace the step's),
    for a call that takes no callback (HunyuanVideo 1.5's). `callback` None: nothing changes."""
    if callback is None:
        return contextlib.nullcontext()
    step, counter = pipe.scheduler.step, itertools.count()

    def stepped(model_output, timestep, sample, *args, **kwargs):
        out = step(model_output, timestep, sample, *args, **kwargs)
        latents = out[0] if isinstance(out, tuple) else out.prev_sample
        changed = callback(pipe, next(counter), timestep, {"latents": latents}) or {}
        if "latents" not in changed:
            return out
        if isinstance(out, tuple):
            return (changed["latents"], *out[1:])
        return dataclasses.replace(out, prev_sample=changed["latents"])

    return replaced(pipe.scheduler, "step", stepped)


class HunyuanVideo15Family(GuiderGuidance, HunyuanVideoFamily):
    """What HunyuanVideo 1.5's pipelines (text- and image-to-video) share under vidlong. Their calls take the
    guidance from their ``guider`` component (`GuiderGuidance`) and no step callback; vidlong's call takes
    ``callback_on_step_end=`` as the other families' do (handed the latents:
    ``callback_on_step_end_tensor_inputs=["latents"]``, the default). Its transformer's input is
    the latents, then as many channels of image condition and one of its mask (zeros for text to video), and
    image states (zeros for text to video, which it masks)."""

    def __call__(self, *args, guidance_scale=None, callback_on_step_end=None, callback_on_step_end_tensor_inputs=("latents",),
                 **kwargs):
        if isinstance(callback_on_step_end_tensor_inputs, str):  # one name
            callback_on_step_end_tensor_inputs = [callback_on_step_end_tensor_inputs]
        if not set(callback_on_step_end_tensor_inputs or ()) <= {"latents"}:
            raise VidlongError(f"callback_on_step_end_tensor_inputs={list(callback_on_step_end_tensor_inputs)!r}: HunyuanVideo "
                               "1.5's step callback is handed its latents alone; pass ['latents']")
        with step_callback(self, callback_on_step_end):
            return super().__call__(*args, guidance_scale=guidance_scale, **kwargs)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Its two encoders' states and masks (Qwen2.5-VL, ByT5), negative first when `guided`, and the image
        states of text to video (zeros; an image condition's own replace them, `stream_forward`); refused in one
        line where a stream would not follow its guider (`check_plain_guider`; a step-distilled transformer is refused
        before, `vidlong.validate.ModelLimits.no_stream_reason`)."""
        from ..streaming import StreamText

        self.check_plain_guider()

        names = ("encoder_hidden_states", "encoder_attention_mask", "encoder_hidden_states_2", "encoder_attention_mask_2")
        texts = [negative_prompt, prompt] if guided else [prompt]
        encoded = [self.encode_prompt(text, device=self.device, dtype=self.transformer.dtype) for text in texts]
        kwargs = {name: torch.cat([parts[i] for parts in encoded]) for i, name in enumerate(names)}
        kwargs["image_embeds"] = torch.zeros(len(texts), self.vision_num_semantic_tokens, self.transformer.config.image_embed_dim,
                                             dtype=self.transformer.dtype, device=self.device)
        return StreamText(len(texts), kwargs)

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """`latents` ``[B, C(+K), f, h, w]`` with zeros for the condition channels a text-to-video forward leaves
        empty, as its call builds them; the timestep in the transformer's dtype, as its call gives it (its time
        embedding computes in that dtype); an image condition's `extra` (its image states) replace the text's zeros."""
        empty = transformer.config.in_channels - latents.shape[1]
        hidden = torch.cat([latents, latents.new_zeros(latents.shape[0], empty, *latents.shape[2:])], dim=1)
        return transformer(hidden_states=hidden.to(transformer.dtype), timestep=timestep.to(transformer.dtype),
                           return_dict=False, **{**text.kwargs, **extra})[0]


class VidLongHunyuanVideo15Pipeline(HunyuanVideo15Family, VidlongPipelineMixin, HunyuanVideo15Pipeline):
    """diffusers' `HunyuanVideo15Pipeline` (HunyuanVideo 1.5, text to video) with vidlong's surface."""


def sized(video_processor, height: int, width: int):
    """Within it, `video_processor` picks ``height`` x ``width`` where HunyuanVideo 1.5's image-to-video call asks it for
    the size bucket nearest the image's aspect (the image is then cropped to it, as the call crops it to its bucket)."""
    return replaced(video_processor, "calculate_default_height_width", lambda *args, **kwargs: (height, width))


class VidLongHunyuanVideo15ImageToVideoPipeline(HunyuanVideo15Family, VidlongPipelineMixin, HunyuanVideo15ImageToVideoPipeline):
    """diffusers' `HunyuanVideo15ImageToVideoPipeline` (HunyuanVideo 1.5, image to video) with vidlong's surface: the
    image's latent on frame 0 of the condition channels (zeros after) with its mask, and its SigLIP states, as the
    pipeline conditions it. Its call sizes the video by the image's aspect at the transformer's ``target_size``;
    vidlong's takes ``height=``/``width=`` as the other families' do (default: the spec's), the image cropped to them."""

    task = "i2v"

    def call_defaults(self) -> dict:
        defaults = super().call_defaults()
        for name in ("height", "width"):  # not arguments of its call: `__call__` sets them
            defaults.pop(name)
        return defaults

    #: the call's height and width in pixels while it runs (not arguments of diffusers' call: `__call__` holds it to them)
    _vidlong_size = None

    def __call__(self, *args, height=None, width=None, **kwargs):
        height, width = plain(height or self.spec.height), plain(width or self.spec.width)
        check_model_size(limits_for_pipeline(self), height, width)
        with sized(self.video_processor, height, width), replaced(self, "_vidlong_size", (height, width)):
            return super().__call__(*args, **kwargs)

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """As the other pipelines', at the size its call is held to (while it runs)."""
        size = dict(zip(("height", "width"), self._vidlong_size or ()))
        return super().latents_shapes({**arguments, **size}, batch)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C + 1, frames, h, w]`` (the image's latent, its VAE's mean, on frame 0 and zeros
        after, then the mask) with the image's SigLIP states, as the call's `prepare_cond_latents_and_mask` and
        `encode_image` make them from the image cropped to `height` x `width` (`generator`, `latent` unused).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from ..generate import load_image

        image = self.video_processor.resize(load_image(image), height=height, width=width, resize_mode="crop")
        spatial, dtype, device = self.vae_scale_factor_spatial, self.transformer.dtype, self._execution_device
        grid = torch.zeros(1, self.num_channels_latents, frames, height // spatial, width // spatial, device=device)
        condition, mask = self.prepare_cond_latents_and_mask(grid, image, 1, height, width, dtype, device)
        return ChannelCondition(torch.cat([condition, mask], dim=1), self.encode_image(image, 1, device, dtype), "image_embeds")
