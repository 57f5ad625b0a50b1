"""Helios-Mid and Helios-Distilled under vidlong (`vidlong.families`): diffusers' `HeliosPyramidPipeline`, Helios-Base's
transformer, chunks and history (`vidlong.families.helios`) with each chunk denoised through a spatial pyramid.

Its call draws a chunk's noise ``[B, C, c, h, w]`` at full size, halves it ``S - 1`` times (bilinear, times 2; ``S``: its
scheduler's ``stages``), then runs ``pyramid_num_inference_steps_list[s]`` steps at stage ``s`` of each size, from the
smallest: before each stage past the first it doubles the latents (nearest) and mixes in block noise drawn from its
generator (`HeliosPyramidPipeline.sample_block_noise`, ``alpha·x + beta·noise``). Helios-Distilled (``is_distilled``) steps
by DMD (`HeliosDMDScheduler`, each stage's start its ``dmd_noisy_tensor``); guidance above 1 with ``is_cfg_zero_star`` is
CFG-Zero* (`VidLongHeliosPyramidPipeline.guided`). Everything else (the history each forward reads, each
chunk decoded alone, lengths, extension) is Helios-Base's, shared (`HeliosFamily`, `HeliosStreamer`).

vidlong's steps (``--steps``, ``num_inference_steps``) are the steps of each stage: its call's
``pyramid_num_inference_steps_list`` is that many for each of its scheduler's stages where none is given
(`configs/models/helios-pyramid.yaml`: Helios-Distilled's). Units: latent frames unless pixel frames are said.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import logging
import math

import torch
import torch.nn.functional as F
from diffusers import HeliosPyramidPipeline
from diffusers.pipelines.helios.pipeline_helios_pyramid import optimized_scale

from ..pipeline import VidlongPipelineMixin
from ..progress import stream_steps
from .helios import HeliosFamily, HeliosStreamer, shift_mu

#: diffusers' call defaults its streams take (CFG-Zero*'s zero-init steps)
PYRAMID_CALL_DEFAULTS = {name: p.default for name, p in inspect.signature(HeliosPyramidPipeline.__call__).parameters.items()}


def per_frame(latents: torch.Tensor, size: tuple, mode: str) -> torch.Tensor:
    """Latents ``[B, C, f, h, w]`` resized frame by frame to ``size`` ``(h', w')`` (`F.interpolate`'s `mode`), as its call
    resizes them: ``[B, C, f, h', w']``."""
    b, c, f, h, w = latents.shape
    flat = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    return F.interpolate(flat, size=size, mode=mode).reshape(b, f, c, *size).permute(0, 2, 1, 3, 4)


def block_noise(pipe, batch_size, channel, num_frames, height, width, patch_size=(1, 2, 2), device=None, generator=None):
    """Its call's block noise ``[B, C, f, h, w]`` (`HeliosPyramidPipeline.sample_block_noise`: each ``ph x pw`` patch's
    values correlated by ``(1+γ)·I - γ·J``), drawn the same way where its float32 Cholesky factor fails. At its scheduler's
    γ = 1/3 that matrix is singular and the 1e-8 it adds to the diagonal is below float32's resolution at 1, so strict
    LAPACK builds reject it (seen on an AMD EPYC CPU; others return a factor): there the factor is taken in float64, where
    the 1e-8 holds, and the same normal draws from `generator` are mixed by it. Elsewhere its own noise, bit for bit."""
    try:
        return HeliosPyramidPipeline.sample_block_noise(pipe, batch_size, channel, num_frames, height, width, patch_size,
                                                        device, generator)
    except torch.linalg.LinAlgError:  # raised before its draw: `generator` is untouched
        pass
    gamma, (_, ph, pw) = pipe.scheduler.config.gamma, patch_size
    generator = generator[0] if isinstance(generator, list) else generator  # as its call takes a list
    generator = generator if generator is not None else torch.Generator(device=device)
    n = ph * pw
    covariance = torch.eye(n, dtype=torch.float64) * (1 + gamma + 1e-8) - gamma
    factor = torch.linalg.cholesky(covariance).float().to(device)
    blocks = batch_size * channel * num_frames * (height // ph) * (width // pw)
    draws = torch.randn(blocks, n, generator=generator, device=generator.device).to(device)
    mixed = (draws @ factor.T).view(batch_size, channel, num_frames, height // ph, width // pw, ph, pw)
    return mixed.permute(0, 1, 2, 3, 5, 4, 6).reshape(batch_size, channel, num_frames, height, width)


def stage_sizes(height: int, width: int, stages: int) -> list:
    """The latent ``(h, w)`` of each of `stages` stages, smallest first, as its call halves and doubles them."""
    for _ in range(stages - 1):
        height, width = height // 2, width // 2
    return [(height << s, width << s) for s in range(stages)]


class HeliosPyramidStreamer(HeliosStreamer):
    """A Helios-Mid or -Distilled stream: `HeliosStreamer` (its call's chunks keeping only their history, flat per chunk;
    an extension through its call's video path) whose chunks are denoised through its call's pyramid (`_chunk_loop`),
    each stage's block noise drawn from the stream's generator with the chunk's noise, in its call's order
    (`VidLongHeliosPyramidPipeline.chunk_draws`). From the same seed its chunks are its call's bit for bit. Its call's
    ``is_amplify_first_chunk`` stays its default (off)."""

    def settings(self) -> dict:
        return dict(super().settings(), pyramid_steps=self.pipe.pyramid_steps(self.steps))

    def _chunk_loop(self, latents: torch.Tensor, draws, text, history: dict) -> torch.Tensor:
        """Noise ``[1, C, f, h, w]`` -> the chunk through its call's pyramid; `draws`: each later stage's block noise."""
        pipe = self.pipe
        steps, dtype, distilled = pipe.pyramid_steps(self.steps), pipe.transformer.dtype, pipe.config.is_distilled
        sizes = stage_sizes(*latents.shape[3:], len(steps))
        for size in reversed(sizes[:-1]):
            latents = per_frame(latents, size, "bilinear") * 2
        starts = [latents]  # each stage's start, DMD's noisy tensor
        scheduler = copy.deepcopy(pipe.scheduler)
        counted = stream_steps(self, sum(steps))
        counted.start()
        for stage, count in enumerate(steps):
            scheduler.set_timesteps(count, stage, device=pipe.device, mu=shift_mu(pipe, latents.shape[2:]))
            if stage:
                signal = 1 - scheduler.ori_start_sigmas[stage]
                gamma = scheduler.config.gamma
                alpha = 1 / (math.sqrt(1 + 1 / gamma) * (1 - signal) + signal)
                beta = alpha * (1 - signal) / math.sqrt(gamma)
                latents = alpha * per_frame(latents, sizes[stage], "nearest") + beta * draws[stage - 1].to(pipe.device, dtype)
                starts.append(latents)
            timesteps = scheduler.timesteps
            for step, t in enumerate(timesteps):
                pred, uncond = self._predictions(latents, t.expand(1).to(torch.int64), text, history)
                if uncond is not None:
                    pred = pipe.guided(pred, uncond, self.guidances[0], stage, step)
                extra = dict(cur_sampling_step=step, dmd_noisy_tensor=starts[stage], dmd_sigmas=scheduler.sigmas,
                             dmd_timesteps=timesteps, all_timesteps=timesteps) if distilled else {}
                latents = scheduler.step(pred, t, latents, generator=self.generator, return_dict=False, **extra)[0]
                counted.step()
        return latents


def _untrue_guidance_warning(record: logging.LogRecord) -> bool:
    """False for diffusers' "Guidance scale ... is ignored for step-wise distilled models": its call runs classifier-free
    guidance at any guidance above 1, distilled or not (``do_classifier_free_guidance``), so the video follows it."""
    return "is ignored for step-wise distilled models" not in record.getMessage()


class VidLongHeliosPyramidPipeline(HeliosFamily, VidlongPipelineMixin, HeliosPyramidPipeline):
    """diffusers' `HeliosPyramidPipeline` (Helios-Mid, Helios-Distilled; text to video here: its call's ``image=`` and
    ``video=`` go through as diffusers takes them, untested, and `HeliosPyramidStreamer` follows its video path to extend a
    video) with vidlong's surface (`HeliosFamily`): ``num_inference_steps`` are each stage's steps, and `generate` hands its
    call the generator as it was before its noise (its call draws block noise between its chunks' noise)."""

    call_redraws_from = "noise"
    chunk_streamer = HeliosPyramidStreamer

    def __call__(self, *args, num_inference_steps=None, **kwargs):
        """Its call; ``num_inference_steps`` (default: the spec's) are the steps of each of its scheduler's stages where
        ``pyramid_num_inference_steps_list`` is not given (`pyramid_steps`). diffusers' warning that a guidance above 1 is
        ignored by a distilled model is not shown: its call guides all the same (`_untrue_guidance_warning`)."""
        if num_inference_steps is not None and kwargs.get("pyramid_num_inference_steps_list") is None:
            from ..validate import check_steps

            check_steps(num_inference_steps, "num_inference_steps")
            kwargs["pyramid_num_inference_steps_list"] = self.pyramid_steps(num_inference_steps)
        logger = logging.getLogger(HeliosPyramidPipeline.__module__)
        logger.addFilter(_untrue_guidance_warning)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            logger.removeFilter(_untrue_guidance_warning)

    def sample_block_noise(self, *args, **kwargs) -> torch.Tensor:
        """Its call's block noise, also where its float32 Cholesky factor fails (`block_noise`)."""
        return block_noise(self, *args, **kwargs)

    def complete_call(self, arguments: dict) -> None:
        """Its chunk, and the spec's steps at each stage, where none are given."""
        super().complete_call(arguments)
        if arguments.get("pyramid_num_inference_steps_list") is None:
            arguments["pyramid_num_inference_steps_list"] = self.pyramid_steps(arguments["num_inference_steps"])

    def guided(self, pred: torch.Tensor, uncond: torch.Tensor, guidance: float, stage: int, step: int) -> torch.Tensor:
        """A guided prediction ``[1, C, f, h, w]`` of stage `stage`'s step `step`, as its call guides: CFG-Zero* where its
        config says ``is_cfg_zero_star`` (the unconditional prediction scaled by ``<pred, uncond> / |uncond|²``; the first
        stage's first ``zero_steps + 1`` steps zero with ``use_zero_init``, its call's defaults), else plain guidance."""
        if not self.config.is_cfg_zero_star:
            return uncond + guidance * (pred - uncond)
        if stage == 0 and step <= PYRAMID_CALL_DEFAULTS["zero_steps"] and PYRAMID_CALL_DEFAULTS["use_zero_init"]:
            return pred * 0.0
        alpha = optimized_scale(pred.reshape(len(pred), -1), uncond.reshape(len(uncond), -1))
        alpha = alpha.view(len(pred), *[1] * (pred.dim() - 1)).to(pred.dtype)
        return uncond * alpha + guidance * (pred - uncond * alpha)

    def geometry(self):
        """Its latent grid, halved ``stages - 1`` times by its pyramid (`vidlong.models.PYRAMID_PIPELINES`): heights and
        widths a multiple of the VAE's factor x patch x 2 each halving, as its folder's is checked before loading."""
        return dataclasses.replace(super().geometry(), halvings=self.scheduler.config.stages - 1)

    def chunk_steps(self, steps: int) -> int:
        """The steps its call reports a chunk: `steps` at each of its stages (`pyramid_steps`)."""
        return sum(self.pyramid_steps(steps))

    def pyramid_steps(self, steps: int) -> list:
        """`steps` at each of its scheduler's stages (its call's ``pyramid_num_inference_steps_list``)."""
        return [int(steps)] * self.scheduler.config.stages

    def chunk_draws(self, shape, generator=None) -> tuple:
        """The chunk's noise, then each later stage's block noise (``[1, C, f, h_s, w_s]``), as its call draws them."""
        noise, _ = super().chunk_draws(shape, generator)
        patch = self.transformer.config.patch_size
        blocks = tuple(self.sample_block_noise(*shape[:3], *size, patch, noise.device, generator)
                       for size in stage_sizes(*shape[3:], self.scheduler.config.stages)[1:])
        return noise, blocks
