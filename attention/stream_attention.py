"""Streaming self-attention: a chunk attends to ``[sinks | window | itself]`` through a rolling KV cache."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from diffusers.models.attention_dispatch import dispatch_attention_fn

from ..parallel import ulysses_degree
from .kv_cache import LayerKV, RollingKVCache
from .rope import apply_wan_rotary, wan_rotary_at


@dataclass
class StreamContext:
    """Streaming state shared by the hooks of one transformer.

    Attributes:
        sinks, window: cache sizes in latent (token) frames (see `StreamSchedule`).
        writing: when True, the forward also stores the chunk's K/V (the clean-latent pass at t = 0).
        paused: True while the stream has handed a chunk out and waits: no forward is its own then (a stock pipeline's
            call on the same transformer is refused by its hook).
        cache: allocated on the first forward, from the chunk's shape; never reallocated.
    """

    sinks: int
    window: int
    writing: bool = False
    paused: bool = False
    cache: Optional[RollingKVCache] = None
    _rotary_cache: Optional[tuple] = None
    _rotary_chunk: Optional[tuple] = None
    _write_indices: Optional[tuple] = None

    def prepare(self, transformer, latents: torch.Tensor, layers: list[LayerKV]) -> None:
        """Before a forward on chunk latents ``[B, C, f, h, w]``: allocate the cache once, its storage
        held by the processors' `layers` (handed over if the hooks were applied again), place the chunk
        after the cached frames and build both RoPE tables and, when writing, the chunk's cache slots
        (shared by every layer)."""
        config = transformer.config
        p_t, p_h, p_w = config.patch_size
        batch, _, frames, height, width = latents.shape
        frames, height, width = frames // p_t, height // p_h, width // p_w
        if self.cache is None:  # under Ulysses context parallelism each rank caches its own heads
            self.cache = RollingKVCache(
                layers=layers, batch=batch, heads=config.num_attention_heads // ulysses_degree(transformer),
                head_dim=config.attention_head_dim, tokens_per_frame=height * width, sinks=self.sinks,
                window=self.window, device=latents.device, dtype=transformer.dtype,
            )
        self.cache.bind(layers)
        rope = transformer.rope
        cached = self.cache.frames
        self._rotary_cache = wan_rotary_at(rope, self.cache.positions(), height, width) if cached else None
        self._rotary_chunk = wan_rotary_at(rope, torch.arange(cached, cached + frames), height, width)
        self._write_indices = self.cache.write_indices(frames, latents.device) if self.writing else None

    def attend(self, layer: LayerKV, query, key, value, backend=None) -> torch.Tensor:
        """Pre-RoPE q/k/v ``[B, n, H, D]`` of the chunk -> attention output ``[B, n, H, D]``."""
        q = apply_wan_rotary(query, *self._rotary_chunk)
        k = apply_wan_rotary(key, *self._rotary_chunk)
        v = value
        if self._rotary_cache is not None:
            cached_k, cached_v = self.cache.read(layer)
            k = torch.cat([apply_wan_rotary(cached_k, *self._rotary_cache), k], dim=1)
            v = torch.cat([cached_v, v], dim=1)
        out = dispatch_attention_fn(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, backend=backend)
        if self.writing:
            self.cache.write(layer, key, value, self._write_indices)
        return out

    def finish_forward(self, frames: int) -> None:
        """After a forward on `frames` token frames: if it was writing, commit them to the cache
        (which rolls the window)."""
        if self.writing:
            self.cache.advance(frames)
