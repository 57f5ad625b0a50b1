"""Rolling KV cache for streaming: attention-sink frames plus a ring buffer of recent frames.

Keys are stored *before* RoPE, so a cached frame can be re-placed at a new temporal position as the
window rolls (StreamingLLM's re-indexing). Every buffer is allocated once; nothing grows per chunk.
"""
from __future__ import annotations

from typing import Optional

import torch


class LayerKV:
    """One self-attention's cache storage, held by its processor: pre-RoPE `keys` and `values`
    ``[B, (sinks + window)·tokens_per_frame, H, D]``, None until a `RollingKVCache` allocates them.

    A processor reaches its layer's storage through this object rather than through a layer index: under
    torch.compile an int would be guarded, one graph per layer; tensors reached by attribute are graph
    inputs, so one compiled block serves every layer."""

    def __init__(self):
        self.keys: torch.Tensor | None = None
        self.values: torch.Tensor | None = None


class RollingKVCache:
    """K/V of `sinks` + `window` latent frames for each self-attention's `LayerKV` in `layers`.

    Storage per layer: ``[B, (sinks + window)·tokens_per_frame, H, D]`` for keys and for values (allocated
    here, into the given `LayerKV`s); frame slots ``0 .. sinks-1`` hold the first frames ever written
    (never evicted), slots after them form a ring over the most recent `window` frames.
    """

    def __init__(self, layers: list[LayerKV], batch: int, heads: int, head_dim: int, tokens_per_frame: int,
                 sinks: int, window: int, device, dtype):
        self.sinks, self.window, self.tokens_per_frame = sinks, window, tokens_per_frame
        shape = (batch, (sinks + window) * tokens_per_frame, heads, head_dim)
        self.layers = layers
        for layer in layers:
            layer.keys = torch.zeros(shape, device=device, dtype=dtype)
            layer.values = torch.zeros(shape, device=device, dtype=dtype)
        self.sinks_filled = 0
        self.window_filled = 0
        self.window_head = 0  # ring slot of the oldest window frame

    def bind(self, layers: list[LayerKV]) -> None:
        """Hand this cache's storage to another set of processors' `LayerKV`s (the transformer's hooks
        were removed and applied again with the same stream), in layer order."""
        if layers is not self.layers:
            for new, old in zip(layers, self.layers, strict=True):
                new.keys, new.values = old.keys, old.values
            self.layers = layers

    @property
    def frames(self) -> int:
        """Frames currently cached (sinks + window)."""
        return self.sinks_filled + self.window_filled

    def nbytes(self) -> int:
        """Bytes of cache storage (constant for the cache's life)."""
        return sum(t.numel() * t.element_size() for layer in self.layers for t in (layer.keys, layer.values))

    def frame_slots(self, frames: int) -> list[Optional[int]]:
        """Slots the next `frames` written frames go to (sinks first, then the ring), in order; None for a
        frame no slot keeps (no window)."""
        return self._walk(frames)[0]

    def _walk(self, frames: int) -> tuple[list, tuple[int, int, int]]:
        """(slots of the next `frames` frames, None where none is kept; the (sinks_filled, window_filled,
        window_head) they leave): the ring's one set of rules, for `frame_slots` and `advance`."""
        slots, sinks, filled, head = [], self.sinks_filled, self.window_filled, self.window_head
        for _ in range(frames):
            if sinks < self.sinks:
                slots.append(sinks)
                sinks += 1
            elif self.window == 0:
                slots.append(None)
            elif filled < self.window:
                slots.append(self.sinks + (head + filled) % self.window)
                filled += 1
            else:
                slots.append(self.sinks + head)
                head = (head + 1) % self.window
        return slots, (sinks, filled, head)

    def write_indices(self, frames: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, target) token indices ``[n]`` for writing the next `frames` frames (`frame_slots`): token
        ``source[i]`` of a chunk goes to storage token ``target[i]``; frames with no slot are left out, and
        where a chunk longer than the ring reuses a slot, the latest frame takes it. Made before a forward,
        so that the forward itself holds no slot number (under torch.compile an int would be guarded: one
        graph per ring position)."""
        latest = {slot: i for i, slot in enumerate(self.frame_slots(frames)) if slot is not None}
        tpf, source, target = self.tokens_per_frame, [], []
        for slot, i in latest.items():
            source.extend(range(i * tpf, (i + 1) * tpf))
            target.extend(range(slot * tpf, (slot + 1) * tpf))
        return (torch.tensor(source, dtype=torch.long, device=device),
                torch.tensor(target, dtype=torch.long, device=device))

    def write(self, layer: LayerKV, key: torch.Tensor, value: torch.Tensor, indices) -> None:
        """Store pre-RoPE `key`/`value` ``[B, frames·tokens_per_frame, H, D]`` of one chunk in `layer`, at
        the `write_indices` made for it (in the cache's dtype)."""
        source, target = indices
        if source.numel() != key.shape[1]:  # frames left out or overwritten: pick the ones kept
            key, value = key.index_select(1, source), value.index_select(1, source)
        layer.keys.index_copy_(1, target, key.to(layer.keys.dtype))
        layer.values.index_copy_(1, target, value.to(layer.values.dtype))

    def advance(self, frames: int) -> None:
        """Commit the slot bookkeeping of `frames` just written to every layer (evicts the oldest)."""
        self.sinks_filled, self.window_filled, self.window_head = self._walk(frames)[1]

    def positions(self) -> torch.Tensor:
        """Temporal position (frames) of each cached frame in storage order, ``[frames]`` long.

        Sinks sit at ``0 .. sinks-1``; window frames follow oldest to newest, so the newest cached
        frame is at ``frames - 1`` and the next chunk starts at ``frames``.
        """
        ring = [self.sinks + (i - self.window_head) % self.window for i in range(self.window_filled)]
        return torch.tensor(list(range(self.sinks_filled)) + ring, dtype=torch.long)

    def read(self, layer: LayerKV):
        """Cached pre-RoPE keys and values of `layer` in storage order (views, no copy), each
        ``[B, frames·tokens_per_frame, H, D]``; see `positions` for their temporal order."""
        span = slice(0, self.frames * self.tokens_per_frame)
        return layer.keys[:, span], layer.values[:, span]

    def reset(self) -> None:
        """Forget every cached frame (storage is kept)."""
        self.sinks_filled = self.window_filled = self.window_head = 0

    def reset_window(self) -> None:
        """Forget the window's frames and keep the sinks (the next frames written fill the window)."""
        self.window_filled = self.window_head = 0
