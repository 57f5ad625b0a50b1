"""AnyFlow under vidlong (`vidlong.families`): diffusers' `AnyFlowPipeline` (NVIDIA's AnyFlow, bidirectional text to
video distilled from Wan2.1; not the causal `AnyFlowFARPipeline`).

Its call takes latents ``[B, C, F, h, w]`` (as vidlong's), holds them frames first in its loop (``[B, F, C, h, w]``, the
layout its transformer takes, and so its step callbacks see them) and hands them back channels first
(``output_type="latent"``). Its sampler is a flow map (`FlowMapEulerDiscreteScheduler`): each step's forward takes the
step's timestep ``t`` and its target ``r`` (the next sigma of the schedule times ``num_train_timesteps``), one each per
latent frame ``[B, F]``, and the step moves the latents from ``t`` to ``r``, ``z_r = z_t - (σ_t - σ_r)·u``, with no
re-noising. Its releases fold classifier-free guidance into the weights: guidance 1 (its call's default) runs one
forward a step. The prompt is UMT5's (Wan's encoding, 512 tokens), its VAE Wan's. Units: latent frames unless pixel
frames are said."""
from __future__ import annotations

import torch
from diffusers import AnyFlowPipeline

from ..pipeline import VidlongPipelineMixin
from ..streaming import VideoStreamer


def flow_map_target(scheduler, timestep) -> torch.Tensor:
    """The target ``r`` of the step at `timestep` of a set `FlowMapEulerDiscreteScheduler`, in timestep units (0-d): the
    next sigma of its schedule times its ``num_train_timesteps``, as its call computes it (``scheduler.step`` with no
    ``r_timestep`` moves the latents to that sigma)."""
    return scheduler.sigmas[scheduler.index_for_timestep(timestep) + 1] * scheduler.config.num_train_timesteps


class AnyFlowStreamer(VideoStreamer):
    """An AnyFlow stream: each forward of a chunk's window (the re-noised context and the chunk) takes its step's target
    timestep from the chunk's flow-map sampler (`flow_map_target`), whose ``step`` then moves the chunk there, as its
    call's loop drives them."""

    sampler = None  # the chunk's `FlowMapEulerDiscreteScheduler`, while it is denoised

    def _starting_point(self, noise, scheduler):
        self.sampler = scheduler
        return super()._starting_point(noise, scheduler)

    def _step_arguments(self, timestep) -> dict:
        return dict(r_timestep=flow_map_target(self.sampler, timestep))


class VidLongAnyFlowPipeline(VidlongPipelineMixin, AnyFlowPipeline):
    """diffusers' `AnyFlowPipeline` (AnyFlow: Wan2.1's transformer with a flow map's two timesteps, a UMT5 prompt by
    cross-attention, Wan's VAE of 4x time and 8x space) with vidlong's surface. Its VAE is Wan's, so `generate` decodes
    through Wan's streaming decoder, as for Wan.

    It streams and extends with the re-noised context (`AnyFlowStreamer`): its prompt as Wan's, each window's latents
    frames first with the step's timestep and target one per frame (`stream_forward`), its call's flow-map sampler over
    the stream's steps (the pipeline's scheduler, its shift as configured), the context brought to each step's level by
    flow matching's ``(1 - σ)·x_0 + σ·ε`` at ``σ = t / num_train_timesteps`` (the sigma its schedule gives ``t``), chunks
    decoded and encoded by Wan's VAE (the mixin's). Its call's conditioning prefix (``video=``, ``video_latents=``: clean
    frames at timestep 0) is not what its streams use."""

    chunk_streamer = AnyFlowStreamer

    def loop_latents(self, latents, frames, height, width):
        """Its loop's latents ``[B, F, C, h, w]`` as ``[B, C, F, h, w]``."""
        return latents.transpose(1, 2)

    def stream_forward(self, transformer, latents, timestep, text, *, r_timestep, **extra):
        """Latents ``[B, C, f, h, w]`` at `timestep` (``[B]``) towards `r_timestep` (0-d, the flow map's target) -> its
        prediction ``[B, C, f, h, w]``: the latents frames first and both timesteps one per frame ``[B, f]``, as its call
        hands them."""
        batch, frames = latents.shape[0], latents.shape[2]
        t, r = (torch.as_tensor(x, device=latents.device).reshape(-1, 1).expand(batch, frames) for x in (timestep, r_timestep))
        out = transformer(hidden_states=latents.transpose(1, 2), timestep=t, r_timestep=r, return_dict=False, **text.kwargs,
                          **extra)[0]
        return out.transpose(1, 2)

