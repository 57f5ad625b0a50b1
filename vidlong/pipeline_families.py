"""vidlong's pipelines for the families beyond Wan: diffusers' `LTXPipeline`, `LTXImageToVideoPipeline`,
`LTXConditionPipeline`, `CogVideoXPipeline`, `CogVideoXImageToVideoPipeline`, `HunyuanVideoPipeline`,
`HunyuanVideo15Pipeline` and `HunyuanVideo15ImageToVideoPipeline` with the surface of `VidlongPipelineMixin`. Each
states how its ``latents=`` argument is laid out and what a stream needs where it differs from Wan's (its prompt
encoding, one transformer forward on ``[B, C, f, h, w]`` latents, its sampler's timesteps, the forward process that
re-noises the context, chunk decoding and encoding); the attention side of each family is its adapter in
`vidlong.attention.adapters`. All of them stream and extend with the re-noised context (stock forwards over the
context and the chunk, no KV cache); CogVideoX1.5's temporal patch is refused.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math

import numpy as np
import torch
from diffusers import (CogVideoXImageToVideoPipeline, CogVideoXPipeline, HunyuanVideo15ImageToVideoPipeline,
                       HunyuanVideo15Pipeline, HunyuanVideoPipeline, LTXConditionPipeline, LTXImageToVideoPipeline, LTXPipeline)

from .image_condition import ChannelCondition, FirstFrameLatent
from .models import pixel_frames
from .errors import VidlongError
from .pipeline import VidlongPipelineMixin
from .scalars import plain
from .validate import MAX_GUIDANCE, check_finite, check_model_size, limits_for_pipeline
from .vae_stream import OverlapDecoder

#: latent frames of the previous chunk an `OverlapDecoder` decodes again with each chunk
DECODE_OVERLAP = 2


def call_pixels(pipe, image, height: int, width: int) -> torch.Tensor:
    """The first frame as LTX-Video's and CogVideoX's image-to-video calls take it: ``[1, 3, height, width]`` in
    [-1, 1] on the execution device, in the prompt's (text encoder's) dtype; `image` as `load_image` takes it."""
    from .generate import load_image

    pixels = pipe.video_processor.preprocess(load_image(image), height=height, width=width)
    return pixels.to(pipe._execution_device, pipe.text_encoder.dtype)


class LTXFamily:
    """What LTX-Video's pipelines (text- and image-to-video) share under vidlong: its ``frame_rate`` (which
    scales its RoPE in time) defaults to the spec's fps; its latents are packed tokens ``[B, S, C]``."""

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), frame_rate=self.spec.fps)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self._pack_latents(latents, self.transformer_spatial_patch_size, self.transformer_temporal_patch_size)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        return self._unpack_latents(latents, frames // pt, height // p, width // p, p, pt)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from .streaming import StreamText

        positive, positive_mask, negative, negative_mask = self.encode_prompt(
            prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided, device=self.device)
        states, mask = (torch.cat([negative, positive]), torch.cat([negative_mask, positive_mask])) if guided \
            else (positive, positive_mask)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype),
                                                encoder_attention_mask=mask))

    def timeline_prompt_arguments(self, prompts, negative_prompt, guided):
        """As its call encodes a prompt (128 tokens), every segment's after another, with the padding masks."""
        from .pipeline import joined_segments

        embeds, mask, negative, negative_mask = self.encode_prompt(
            prompts, negative_prompt=[negative_prompt or ""] * len(prompts), do_classifier_free_guidance=guided,
            max_sequence_length=128, device=self._execution_device)
        return dict(prompt_embeds=joined_segments(embeds), prompt_attention_mask=joined_segments(mask),
                    negative_prompt_embeds=joined_segments(negative), negative_prompt_attention_mask=joined_segments(negative_mask))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Packs ``[B, C, f, h, w]`` to its tokens and back; RoPE scaled by the spec's fps, as the call does."""
        frames, height, width = latents.shape[2:]
        spatial = self.vae_spatial_compression_ratio
        out = transformer(hidden_states=self.call_latents(latents), timestep=timestep, num_frames=frames, height=height,
                          width=width, rope_interpolation_scale=(self.vae_temporal_compression_ratio / self.spec.fps,
                                                                 spatial, spatial),
                          return_dict=False, **text.kwargs, **extra)[0]
        return self.grid_latents(out, frames, height, width)

    def stream_scheduler(self, steps, window, generator=None):
        """Its call's sigmas, shifted by the token count of the window the forwards see (`calculate_shift`)."""
        from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

        config = self.scheduler.config
        mu = calculate_shift(int(np.prod(window[2:])), config.get("base_image_seq_len", 256),
                             config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                             config.get("max_shift", 1.15))
        return self.fresh_scheduler(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_temporal_compression_ratio, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        """As the call decodes (its default ``decode_timestep`` 0: no decode noise)."""
        vae = self.vae
        z = self._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor).to(vae.dtype)
        timestep = torch.zeros(z.shape[0], device=z.device, dtype=z.dtype) if vae.config.timestep_conditioning else None
        return vae.decode(z, timestep, return_dict=False)[0]

    def stream_encode(self, pixels):
        vae = self.vae
        z = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        return self._normalize_latents(z, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)


class VidLongLTXPipeline(LTXFamily, VidlongPipelineMixin, LTXPipeline):
    """diffusers' `LTXPipeline` (LTX-Video 0.9.x) with vidlong's surface."""


class LTXFirstFrameImage:
    """An image as the first latent frame of an LTX-Video video under vidlong: its latent drawn from the VAE's
    distribution and normalised as LTX-Video's image-to-video calls do, clean in every window (its tokens at
    timestep 0)."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`FirstFrameLatent` of the image's latent drawn from its VAE's distribution with `generator`, normalised
        as the call does (`frames` unused: one latent frame conditions any window), or of `latent` ``[1, C, 1, h, w]``
        where the video's first latent frame is made already (a fifo queue's sink: the same draw).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from diffusers.pipelines.ltx.pipeline_ltx_image2video import retrieve_latents

        if latent is not None:
            return FirstFrameLatent(latent)
        vae = self.vae
        z = retrieve_latents(vae.encode(call_pixels(self, image, height, width).unsqueeze(2)), generator).float()
        return FirstFrameLatent(self._normalize_latents(z, vae.latents_mean, vae.latents_std))


class VidLongLTXImageToVideoPipeline(LTXFirstFrameImage, LTXFamily, VidlongPipelineMixin, LTXImageToVideoPipeline):
    """diffusers' `LTXImageToVideoPipeline` (LTX-Video 0.9.x, the same weights as text-to-video) with
    vidlong's surface: the image's latent is the video's first latent frame, clean (its tokens at timestep 0),
    as the pipeline conditions it. Its call leaves given ``latents=`` as they are, so vidlong puts the
    image's latent into their first frame (`image_in_start_latents`)."""

    image_in_start_latents = True


@contextlib.contextmanager
def quiet(module: str):
    """Within it, the logger of diffusers' `module` logs errors only (a warning about a choice its user did not make,
    repeated at every chunk of a stream: LTX-Video 0.9.5+'s timesteps given without sigmas, a guider's "experimental
    feature" at every copy)."""
    log = logging.getLogger(module)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class PerTokenEulerStep:
    """LTX-Video 0.9.5+'s Euler step behind a stream's one-call ``step(pred, t, latents)``, as its call steps (diffusers'
    per-token rule): from the level ``t / 1000`` its transformer is told to the largest of the scheduler's sigmas below
    it, in float32 (where the scheduler shifts its sigmas, those differ from its own step's). `timesteps` are the
    scheduler's; `sigmas` the levels ``t / 1000`` then 0 (a fifo queue's)."""

    def __init__(self, scheduler):
        self.scheduler, self.timesteps = scheduler, scheduler.timesteps
        levels = self.timesteps.float() / scheduler.config.num_train_timesteps
        self.sigmas = torch.cat([levels, levels.new_zeros(1)])

    def step(self, pred, timestep, latents, return_dict=False):
        current = torch.as_tensor(timestep, dtype=torch.float32, device=latents.device) / self.scheduler.config.num_train_timesteps
        table = self.scheduler.sigmas.to(latents.device)
        below = table[table < current - 1e-6]
        following = below.max() if below.numel() else table.new_zeros(())
        return (latents.float() + (current - following) * -pred,)


class VidLongLTXConditionPipeline(LTXFamily, VidlongPipelineMixin, LTXConditionPipeline):
    """diffusers' `LTXConditionPipeline` (LTX-Video 0.9.5 and later releases save as it) with vidlong's surface, for
    text to video. Its call differs from `LTXPipeline`'s in what vidlong must follow: its timesteps (a linear then
    quadratic schedule, unshifted), its RoPE positions (``video_coords``: pixel frames from the causal VAE's first,
    over the frame rate), latents ``[B, C, F, h, w]`` in and out (packed tokens inside its loop), and given
    ``latents=`` unused unless a strength is set: vidlong's call starts from them, as the other pipelines do."""

    call_draws_noise = True

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Its output latents are ``[B, C, F, h, w]`` already; its loop's are packed tokens."""
        return latents if latents.ndim == 5 else super().grid_latents(latents, frames, height, width)

    def prepare_latents(self, *args, sigma=None, latents=None, **kwargs):
        """Given ``latents=`` with no strength (``sigma`` None) are the start: at ``sigma`` 0 its own mix keeps them
        exactly (it still draws and drops its noise, as its call does when given latents)."""
        if latents is not None and sigma is None:
            sigma = torch.zeros(())
        return super().prepare_latents(*args, sigma=sigma, latents=latents, **kwargs)

    def stream_scheduler(self, steps, window, generator=None):
        """Its call's timesteps (`linear_quadratic_schedule` x 1000, set as its call sets them) and its step rule
        (`PerTokenEulerStep`)."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule

        with quiet(type(self.scheduler).__module__):
            return PerTokenEulerStep(self.fresh_scheduler(timesteps=(linear_quadratic_schedule(steps) * 1000).tolist()))

    def video_coords(self, batch: int, frames: int, height: int, width: int, device) -> torch.Tensor:
        """Its RoPE positions ``[B, 3, N]`` for a video of `frames` x `height` x `width` latent cells, as its call
        makes them: pixel units, frames from the causal VAE's first pixel frame, time over the frame rate."""
        ids = self._prepare_video_ids(batch, frames, height, width, patch_size=self.transformer_spatial_patch_size,
                                      patch_size_t=self.transformer_temporal_patch_size, device=device)
        coords = self._scale_video_ids(ids, scale_factor=self.vae_spatial_compression_ratio,
                                       scale_factor_t=self.vae_temporal_compression_ratio, frame_index=0, device=device).float()
        coords[:, 0] = coords[:, 0] * (1.0 / self.spec.fps)
        return coords

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Packs ``[B, C, f, h, w]`` to its tokens and back, its RoPE from `video_coords`."""
        frames, height, width = latents.shape[2:]
        coords = self.video_coords(latents.shape[0], frames, height, width, latents.device)
        out = transformer(hidden_states=LTXFamily.call_latents(self, latents), timestep=timestep, video_coords=coords,
                          return_dict=False, **text.kwargs, **extra)[0]
        return LTXFamily.grid_latents(self, out, frames, height, width)


class VidLongLTXConditionImageToVideoPipeline(LTXFirstFrameImage, VidLongLTXConditionPipeline):
    """`VidLongLTXConditionPipeline` with an image as its first frame: `generate` hands the image to its call
    (``image=``, frame 0, strength 1: its latent replaces frame 0's noise and its tokens are not denoised, with the
    call's small noise on them at each step); streams and extensions keep the image's latent clean on every window's
    first frame (`FirstFrameLatent`)."""


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

    def noise_frames(self, frames: int) -> int:
        patch = self.transformer.config.patch_size_t or 1
        return -(-frames // patch) * patch

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.transpose(1, 2)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        return latents.transpose(1, 2)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from .streaming import StreamText

        positive, negative = self.encode_prompt(prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                                                device=self.device)
        states = (torch.cat([negative, positive]) if guided else positive).to(self.transformer.dtype)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Frames before channels, and its 3D RoPE for the window's size, as the call makes them."""
        frames, height, width = latents.shape[2:]
        spatial = self.vae_scale_factor_spatial
        rotary = self._prepare_rotary_positional_embeddings(height * spatial, width * spatial, frames, latents.device) \
            if transformer.config.use_rotary_positional_embeddings else None
        out = transformer(hidden_states=self.call_latents(latents), timestep=timestep, image_rotary_emb=rotary,
                          return_dict=False, **text.kwargs, **extra)[0]
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
        return self.decode_latents(self.call_latents(latents.to(self.vae.dtype)))  # the pipeline's own decode

    def stream_encode(self, pixels):
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * self.vae_scaling_factor_image


class VidLongCogVideoXPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXPipeline):
    """diffusers' `CogVideoXPipeline` (CogVideoX-2B/5B, 1.5) with vidlong's surface."""


class VidLongCogVideoXImageToVideoPipeline(CogVideoXFamily, VidlongPipelineMixin, CogVideoXImageToVideoPipeline):
    """diffusers' `CogVideoXImageToVideoPipeline` (CogVideoX-5B-I2V, CogVideoX1.5-5B-I2V) with vidlong's surface:
    the image's latent, then zeros, as extra input channels of every latent frame, as the pipeline conditions it."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C, frames, h, w]``: the image's latent (drawn from its VAE's distribution with
        `generator` and scaled as the call's `prepare_latents` does) on frame 0, zeros after (`latent` unused).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        pixels = call_pixels(self, image, height, width)
        no_noise = torch.zeros(1)  # given latents: the call's `prepare_latents` draws the image's latent alone
        _, image_latents = self.prepare_latents(pixels, 1, self.transformer.config.in_channels // 2,
                                                pixel_frames(frames, self.vae_scale_factor_temporal), height, width,
                                                pixels.dtype, self._execution_device, generator, no_noise)
        return ChannelCondition(image_latents.transpose(1, 2))


class HunyuanVideoFamily:
    """What HunyuanVideo's pipelines (1.0 and 1.5) share under vidlong: their calls' sigmas (1 down to 1/steps,
    shifted by the scheduler's own shift) and their causal VAEs' decode and encode by ``scaling_factor``."""

    def stream_scheduler(self, steps, window, generator=None):
        return self.fresh_scheduler(sigmas=np.linspace(1.0, 0.0, steps + 1)[:-1])

    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_scale_factor_temporal, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        vae = self.vae
        return vae.decode(latents.to(vae.dtype) / vae.config.scaling_factor, return_dict=False)[0]

    def stream_encode(self, pixels):
        vae = self.vae
        return vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode() * vae.config.scaling_factor


class VidLongHunyuanVideoPipeline(HunyuanVideoFamily, VidlongPipelineMixin, HunyuanVideoPipeline):
    """diffusers' `HunyuanVideoPipeline` with vidlong's surface; ``guidance`` is its embedded guidance
    (``guidance_scale``; true classifier-free guidance, ``true_cfg_scale``, stays the pipeline's 1)."""

    def stream_guided(self, guidance):
        return False  # the guidance is an input of the transformer, not a second batch

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from .streaming import StreamText

        dtype = self.transformer.dtype
        states, pooled, mask = self.encode_prompt(prompt, device=self.device)
        return StreamText(1, dict(encoder_hidden_states=states.to(dtype), encoder_attention_mask=mask,
                                  pooled_projections=pooled.to(dtype),
                                  guidance=torch.tensor([guidance * 1000.0], dtype=dtype, device=self.device)))



@contextlib.contextmanager
def replaced(owner, name: str, value):
    """Within it, ``owner.name`` is `value`; after it, what `owner` itself held there before (or, where it held
    nothing of its own, its class's again)."""
    missing = object()
    before = vars(owner).get(name, missing)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if before is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, before)


def guidance_of(pipe, guidance: float):
    """Within it, `pipe`'s ``guider`` component guides at `guidance` (a copy with that scale and its other settings:
    diffusers' newer calls, HunyuanVideo 1.5's, take their classifier-free guidance from it, not from an argument)."""
    with quiet("diffusers.guiders"):
        guider = pipe.guider.new(guidance_scale=guidance)
    return replaced(pipe, "guider", guider)


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


class HunyuanVideo15Family(HunyuanVideoFamily):
    """What HunyuanVideo 1.5's pipelines (text- and image-to-video) share under vidlong. Their calls take the
    guidance from their ``guider`` component and no step callback; vidlong's call takes ``guidance_scale=``
    (default: the spec's) and ``callback_on_step_end=`` as the other families' do. Its transformer's input is
    the latents, then as many channels of image condition and one of its mask (zeros for text to video), and
    image states (zeros for text to video, which it masks)."""

    def call_defaults(self) -> dict:
        defaults = super().call_defaults()
        defaults.pop("guidance_scale")  # not an argument of its call: `__call__` sets the guider
        return defaults

    def __call__(self, *args, guidance_scale=None, callback_on_step_end=None, **kwargs):
        guidance = self.spec.guidance_scale if guidance_scale is None else plain(guidance_scale)
        check_finite("guidance_scale", guidance, 0, MAX_GUIDANCE)
        with guidance_of(self, guidance), step_callback(self, callback_on_step_end):
            return super().__call__(*args, **kwargs)

    def stream_guided(self, guidance):
        """Guided wherever its guider would be at `guidance` (any scale but 1)."""
        return not math.isclose(guidance, 1.0)

    def check_streamable(self) -> None:
        """A one-line refusal where a stream would not follow its call: a guider other than plain classifier-free
        guidance (a stream combines its two predictions as ``uncond + g·(cond - uncond)``), or a step-distilled
        (MeanFlow) transformer, whose forwards also take the next step's timestep."""
        guider = self.guider
        plain_guidance = (type(guider).__name__ == "ClassifierFreeGuidance" and guider._enabled
                          and not guider.use_original_formulation and guider.guidance_rescale == 0
                          and (guider._start, guider._stop) == (0.0, 1.0))
        if not plain_guidance:
            settings = ", ".join(f"{name}={guider.config.get(name)!r}" for name in
                                 ("guidance_rescale", "use_original_formulation", "start", "stop", "enabled"))
            raise VidlongError(f"this model's guider ({type(guider).__name__}: {settings}) is not plain classifier-free "
                               "guidance, which its streams and extensions follow; use generate, or set "
                               "pipe.guider = diffusers.ClassifierFreeGuidance(guidance_scale=...)")
        if self.transformer.config.get("use_meanflow", False):
            raise VidlongError("this HunyuanVideo 1.5 model is step-distilled (use_meanflow): its streams and extensions "
                               "are not wired (each forward also takes the next step's timestep); use generate")

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Its two encoders' states and masks (Qwen2.5-VL, ByT5), negative first when `guided`, and the image
        states of text to video (zeros; an image condition's own replace them, `stream_forward`); refused in one
        line where a stream would not follow its call (`check_streamable`)."""
        from .streaming import StreamText

        self.check_streamable()

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

    def __call__(self, *args, height=None, width=None, **kwargs):
        height, width = plain(height or self.spec.height), plain(width or self.spec.width)
        check_model_size(limits_for_pipeline(self), height, width)
        with sized(self.video_processor, height, width):
            return super().__call__(*args, **kwargs)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`ChannelCondition` ``[1, C + 1, frames, h, w]`` (the image's latent, its VAE's mean, on frame 0 and zeros
        after, then the mask) with the image's SigLIP states, as the call's `prepare_cond_latents_and_mask` and
        `encode_image` make them from the image cropped to `height` x `width` (`generator`, `latent` unused).

        Args:
            image: the first frame (a PIL image, uint8 ``[H, W, 3]`` frame or image file path: `load_image`).
            height, width: pixels of the video.
        """
        from .generate import load_image

        image = self.video_processor.resize(load_image(image), height=height, width=width, resize_mode="crop")
        spatial, dtype, device = self.vae_scale_factor_spatial, self.transformer.dtype, self._execution_device
        grid = torch.zeros(1, self.num_channels_latents, frames, height // spatial, width // spatial, device=device)
        condition, mask = self.prepare_cond_latents_and_mask(grid, image, 1, height, width, dtype, device)
        return ChannelCondition(torch.cat([condition, mask], dim=1), self.encode_image(image, 1, device, dtype), "image_embeds")
