"""LTX-Video under vidlong (`vidlong.families`): diffusers' `LTXPipeline` and `LTXImageToVideoPipeline` (0.9.x), and
`LTXConditionPipeline` (0.9.5 and later) for text and, with an image, image to video."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import LTXConditionPipeline, LTXImageToVideoPipeline, LTXPipeline

from ..image_condition import FirstFrameLatent
from ..pipeline import VidlongPipelineMixin
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP, call_pixels, quiet


class LTXFamily:
    """What LTX-Video's pipelines (text- and image-to-video) share under vidlong: its ``frame_rate`` (which
    scales its RoPE in time) defaults to the spec's fps; its latents are packed tokens ``[B, S, C]``."""

    def call_defaults(self) -> dict:
        return dict(super().call_defaults(), frame_rate=self.spec.fps)

    def __call__(self, *args, **kwargs):
        """Its call (`VidlongPipelineMixin`), under context parallelism without diffusers' warning that a timestep of one
        per sample stays whole (`vidlong.parallel.token_plan` splits one per token, as its image-to-video calls give it)."""
        with quiet("diffusers.hooks.context_parallel"):
            return super().__call__(*args, **kwargs)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        return self._pack_latents(latents, self.transformer_spatial_patch_size, self.transformer_temporal_patch_size)

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        return self._unpack_latents(latents, frames // pt, height // p, width // p, p, pt)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        from ..streaming import StreamText

        positive, positive_mask, negative, negative_mask = self.encode_prompt(
            prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided, device=self.device)
        states, mask = (torch.cat([negative, positive]), torch.cat([negative_mask, positive_mask])) if guided \
            else (positive, positive_mask)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype),
                                                encoder_attention_mask=mask))

    #: the text tokens its call encodes a prompt to (its ``max_sequence_length``)
    text_tokens = 128

    def timeline_prompt_arguments(self, prompts, negative_prompt, guided, encoder=None):
        """As its call encodes a prompt (`text_tokens`), every segment's after another, with the padding masks; `encoder`: the
        LTX-Video pipeline whose ``encode_prompt`` encodes them (None: its own; `vidlong.refine`'s `LTXConditionPipeline`,
        whose T5 encoder takes the padding mask, where the text-to-video pipelines' does not)."""
        from ..pipeline import joined_segments

        embeds, mask, negative, negative_mask = (encoder or self).encode_prompt(
            prompts, negative_prompt=[negative_prompt or ""] * len(prompts), do_classifier_free_guidance=guided,
            max_sequence_length=self.text_tokens, device=self._execution_device)
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
        """As the call decodes (`decode_raw`) its normalised latents."""
        vae = self.vae
        return self.decode_raw(self._denormalize_latents(latents.to(vae.device), vae.latents_mean, vae.latents_std,
                                                         vae.config.scaling_factor))

    def decode_raw(self, latents: torch.Tensor) -> torch.Tensor:
        """De-normalised latents ``[B, C, F, h, w]`` -> pixels ``[B, 3, T, H, W]`` in [-1, 1], as the call decodes (its
        default ``decode_timestep`` 0: no decode noise), on the device the VAE takes its inputs on (`common.input_device`:
        its own, or the execution device under offload)."""
        from .common import input_device

        vae = self.vae
        z = latents.to(input_device(self, vae), vae.dtype)
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

    call_redraws_from = "noise"

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
