"""What a model family tells vidlong: its video self-attentions, their token layout, their q/k/v and
how an attention output goes back."""
from __future__ import annotations

import torch

from ..layout import TokenLayout


class FamilyAdapter:
    """One diffusers video transformer family.

    Attributes:
        name: the family's name in `configs/models` match rules (``family: ...``).
        transformer_class: the diffusers transformer class it serves.
        streams: whether chunk-by-chunk streaming with the rolling KV cache is implemented for it.
    """

    name: str = ""
    transformer_class: str = ""
    streams: bool = False

    def self_attentions(self, transformer) -> list:
        """The video self-attention modules whose processor vidlong replaces."""
        raise NotImplementedError

    def layout(self, transformer, args: tuple, kwargs: dict, native_frames: int) -> TokenLayout:
        """The token grid of one forward of `transformer`, from that forward's arguments.
        `native_frames` in latent frames."""
        raise NotImplementedError

    def qkv(self, attn, hidden_states: torch.Tensor, rotary) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v ``[B, N, H, D]`` exactly as the family's own processor computes them for
        self-attention, its RoPE applied (none when `rotary` is None)."""
        raise NotImplementedError

    def output(self, attn, out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """An attention output ``[B, N, H, D]`` back to the block: heads joined, then the output projection."""
        out = attn.to_out[0](out.flatten(2, 3).to(dtype))
        return attn.to_out[1](out)

    def rope_module(self, transformer):
        """The RoPE module whose temporal tables RIFLEx replaces, or None where RIFLEx is not implemented."""
        return None
