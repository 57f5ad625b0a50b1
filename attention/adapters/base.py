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
        joint_text: whether its video self-attention also holds the text tokens (joint attention:
            the processor receives them as ``encoder_hidden_states``, placed first in q/k/v).
    """

    name: str = ""
    transformer_class: str = ""
    streams: bool = False
    joint_text: bool = False

    def self_attentions(self, transformer) -> list:
        """The video self-attention modules whose processor vidlong replaces."""
        raise NotImplementedError

    def layout(self, transformer, args: tuple, kwargs: dict, native_frames: int) -> TokenLayout:
        """The token grid of one forward of `transformer`, from that forward's arguments.
        `native_frames` in latent frames."""
        raise NotImplementedError

    def qkv(self, attn, hidden_states: torch.Tensor, rotary, text=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v ``[B, N, H, D]`` exactly as the family's own processor computes them for
        self-attention, its RoPE applied (none when `rotary` is None); with joint `text` states
        ``[B, T, C]``, ``[B, T + N, H, D]`` with the text tokens first."""
        raise NotImplementedError

    def output(self, attn, out: torch.Tensor, dtype: torch.dtype, text_tokens: int = 0):
        """An attention output ``[B, N, H, D]`` back to the block: heads joined, then the output
        projection (a joint family splits off its `text_tokens`)."""
        out = attn.to_out[0](out.flatten(2, 3).to(dtype))
        return attn.to_out[1](out)

    def rope_module(self, transformer):
        """The RoPE module whose temporal tables RIFLEx replaces, or None where RIFLEx is not implemented."""
        return None
