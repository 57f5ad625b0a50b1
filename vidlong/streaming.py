"""Streaming generation: unbounded videos chunk by chunk, with flat memory and time per chunk.

For each chunk of C latent frames: noise -> denoising steps with the chunk attending to
``[sinks | window | itself]`` through the rolling KV cache -> one more forward of the clean chunk at
timestep 0 that writes its K/V into the cache (the window rolls) -> decode the chunk with the causal
VAE (its feature cache kept) -> yield its pixel frames.
"""
from __future__ import annotations

import copy
import itertools
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterator, Optional

import numpy as np
import torch

from . import hooks
from .attention.stream_attention import StreamContext
from .errors import VidlongError
from .methods import Streaming
from .schedulers.stream import StreamSchedule, parse_prompt_schedule, prompt_at
from .vae_stream import StreamingWanDecoder


@dataclass
class StreamChunk:
    """One finished chunk: `frames` uint8 ``[T, H, W, 3]`` (T = 4·C, or 4·C - 3 for the first chunk),
    `index` (0-based), `prompt`, `seconds` of wall time spent on it, `latents` ``[1, C_lat, C, h, w]``."""

    index: int
    frames: np.ndarray
    prompt: str
    seconds: float
    latents: torch.Tensor


def chunks_for_seconds(seconds: float, fps: float, chunk: int, temporal_ratio: int = 4) -> int:
    """Smallest chunk count whose video lasts at least `seconds` (pixel frames ``4·n·C - 3``)."""
    frames_needed = max(1, int(np.ceil(seconds * fps)))
    per_chunk = temporal_ratio * chunk
    return max(1, int(np.ceil((frames_needed + temporal_ratio - 1) / per_chunk)))


def to_uint8(video: torch.Tensor) -> np.ndarray:
    """``[1, 3, T, H, W]`` in [-1, 1] -> uint8 ``[T, H, W, 3]``."""
    return ((video[0].permute(1, 2, 3, 0).float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


class VideoStreamer:
    """Generates one stream with a `VidLongWanPipeline`; iterate it for `StreamChunk`s.

    Args:
        pipe: the pipeline.
        prompt: one prompt, or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt).
        streaming: the `Streaming` config.
        chunks: how many chunks; None streams until the consumer stops iterating.
        guidance, seed, height, width: as for `generate` (None: the model's defaults).
    """

    def __init__(self, pipe, prompt: str, streaming: Streaming = Streaming(), chunks: Optional[int] = None,
                 guidance: Optional[float] = None, seed: int = 0, height: Optional[int] = None,
                 width: Optional[int] = None, negative_prompt: str = ""):
        spec = pipe.spec
        if getattr(pipe, "transformer_2", None) is not None:
            raise VidlongError("streaming supports single-transformer Wan pipelines (Wan2.1-style), not Wan2.2's two experts")
        self.pipe, self.streaming, self.chunks = pipe, streaming, chunks
        self.schedule = StreamSchedule.resolve(spec.native_frames, streaming.chunk, streaming.sinks, streaming.window)
        self.prompts = parse_prompt_schedule(prompt)
        self.guidance = spec.guidance_scale if guidance is None else guidance
        self.steps = streaming.steps or spec.num_inference_steps
        self.height, self.width = height or spec.height, width or spec.width
        self.negative_prompt = negative_prompt
        self.generator = torch.Generator().manual_seed(seed)
        self.context = StreamContext(sinks=self.schedule.sinks, window=self.schedule.window)
        self.sink_latents: list[torch.Tensor] = []  # clean latent frames kept for re-caching
        self.window_latents: deque = deque(maxlen=max(self.schedule.window, 0) or None)

    @property
    def cfg(self) -> bool:
        return self.guidance > 1.0

    def _encode(self, prompt: str) -> torch.Tensor:
        """Text states, ``[2, L, D]`` (negative, positive) with guidance, else ``[1, L, D]``."""
        pipe = self.pipe
        positive, negative = pipe.encode_prompt(prompt, negative_prompt=self.negative_prompt or None,
                                                do_classifier_free_guidance=self.cfg, device=pipe.device)
        states = torch.cat([negative, positive]) if self.cfg else positive
        return states.to(pipe.transformer.dtype)

    def _forward(self, latents: torch.Tensor, timestep: float, text: torch.Tensor, writing: bool) -> torch.Tensor:
        """One transformer forward on chunk latents ``[1, C, f, h, w]``; returns the guided prediction."""
        pipe = self.pipe
        batch = text.shape[0]
        x = latents.to(pipe.device, pipe.transformer.dtype).expand(batch, -1, -1, -1, -1)
        t = torch.full((batch,), float(timestep), device=pipe.device)
        self.context.writing = writing
        try:
            pred = pipe.transformer(hidden_states=x, timestep=t, encoder_hidden_states=text, return_dict=False)[0]
        finally:
            self.context.writing = False
        if not self.cfg:
            return pred
        uncond, cond = pred.float().chunk(2)
        return uncond + self.guidance * (cond - uncond)

    def _remember(self, latents: torch.Tensor) -> None:
        for i in range(latents.shape[2]):
            frame = latents[:, :, i : i + 1]
            if len(self.sink_latents) < self.schedule.sinks:
                self.sink_latents.append(frame)
            elif self.schedule.window:
                self.window_latents.append(frame)

    def _recache(self, text: torch.Tensor) -> None:
        """Rebuild the cache: re-encode the cached frames' K/V under `text` (same positions)."""
        frames = self.sink_latents + list(self.window_latents)
        self.context.cache.reset()
        for start in range(0, len(frames), self.schedule.chunk):
            self._forward(torch.cat(frames[start : start + self.schedule.chunk], dim=2), 0.0, text, writing=True)

    def _denoise(self, text: torch.Tensor) -> torch.Tensor:
        pipe = self.pipe
        shape = (1, pipe.transformer.config.in_channels, self.schedule.chunk,
                 self.height // pipe.vae_scale_factor_spatial, self.width // pipe.vae_scale_factor_spatial)
        latents = torch.randn(shape, generator=self.generator).to(pipe.device)
        scheduler = copy.deepcopy(pipe.scheduler)
        scheduler.set_timesteps(self.steps, device=pipe.device)
        for t in scheduler.timesteps:
            pred = self._forward(latents, t, text, writing=False)
            latents = scheduler.step(pred, t, latents.float(), return_dict=False)[0]
        return latents

    def __iter__(self) -> Iterator[StreamChunk]:
        pipe = self.pipe
        hooks.apply(pipe.transformer, native_frames=pipe.native_frames, stream=self.context)
        decoder = StreamingWanDecoder(pipe.vae)
        prompt, text = None, None
        try:
            for index in itertools.count() if self.chunks is None else range(self.chunks):
                start = time.perf_counter()
                with torch.no_grad():
                    wanted = prompt_at(self.prompts, index)
                    if wanted != prompt:
                        prompt, text = wanted, self._encode(wanted)
                        if index > 0 and self.streaming.recache_on_prompt_switch:
                            self._recache(text)
                    latents = self._denoise(text)
                    self._forward(latents, 0.0, text, writing=True)
                    self._remember(latents.cpu())
                    frames = to_uint8(decoder.decode(latents))
                yield StreamChunk(index, frames, prompt, time.perf_counter() - start, latents.cpu())
        finally:
            hooks.remove(pipe.transformer)
