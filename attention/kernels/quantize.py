"""Low-precision operands for the fused kernel's opt-in quantized paths (FP8 e4m3 and INT8).

SageAttention's recipe: the keys are smoothed first (the mean key subtracted, which shifts every logit
of a query by the same amount and so leaves its softmax unchanged), then Q and K are stored in e4m3
or int8 with one float32 scale per block of tokens (the kernel's query and key blocks), so that
``q·k ≈ (q8·k8)·scale_q·scale_k``. Values, when they are quantized too (e4m3 only: probabilities in
``[0, 1]`` need a floating format), get one scale per channel (a scale along the summed axis would
not factor out of ``P·V``) and are stored channel-major, ``[B, H, D, N]``, the layout Hopper's FP8
matrix units want for the right operand.
"""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

#: storage dtype and largest magnitude of each format
FORMATS = {"fp8": (torch.float8_e4m3fn, 448.0), "int8": (torch.int8, 127.0)}
#: the scale of the probabilities in FP8 P·V: ``p·P_SCALE`` in e4m3 keeps small ``p`` out of subnormals
P_SCALE = 448.0


def required_capability(qk: Optional[str], pv: Optional[str]) -> tuple:
    """The CUDA compute capability the fused kernel's products need with these formats (None: the
    inputs' dtype): FP8 8.9 (Ada, Hopper), INT8 8.0 (Ampere)."""
    return (8, 9) if "fp8" in (qk, pv) else (8, 0) if qk else (0, 0)


def _to_format(x: torch.Tensor, fmt: str) -> torch.Tensor:
    dtype, _ = FORMATS[fmt]
    return (x.round() if fmt == "int8" else x).to(dtype)


def _scale(amax: torch.Tensor, fmt: str) -> torch.Tensor:
    return amax.div_(FORMATS[fmt][1]).clamp_(min=torch.finfo(torch.float32).tiny)


def quantize_token_blocks(x: torch.Tensor, block: int, fmt: str, shift: Optional[torch.Tensor] = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """``[B, H, N, D]`` (less `shift`, ``[B, H, D]``, when given) -> (``[B, H, N, D]`` in `fmt`
    ("fp8" or "int8"), contiguous; ``[B, H, ceil(N / block)]`` float32 scales): tokens
    ``[i·block, (i+1)·block)`` of a (batch, head) share scale ``i``, their largest magnitude mapped to
    the format's largest value."""
    batch, heads, n_tokens, dim = x.shape
    blocks = -(-n_tokens // block)
    x = x.float() if shift is None else x.float() - shift[:, :, None, :]
    padded = F.pad(x, (0, 0, 0, blocks * block - n_tokens)).view(batch, heads, blocks, block, dim)
    scale = _scale(padded.abs().amax(dim=(3, 4)), fmt)
    quantized = _to_format(padded / scale[..., None, None], fmt).view(batch, heads, blocks * block, dim)
    return quantized[:, :, :n_tokens].contiguous(), scale


def quantize_channels_transposed(*values: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``[B, H, N_i, D]`` tensors sharing one scale per (batch, head, channel) -> (each as
    ``[B, H, D, N_i]`` e4m3, contiguous; ``[B, H, D]`` float32 scales)."""
    scale = _scale(torch.stack([v.abs().amax(dim=2).float() for v in values]).amax(dim=0), "fp8")
    quantized = [_to_format(v.float() / scale[:, :, None, :], "fp8").transpose(2, 3).contiguous() for v in values]
    return quantized, scale


def dequantize_token_blocks(quantized: torch.Tensor, scale: torch.Tensor, block: int) -> torch.Tensor:
    """The inverse of `quantize_token_blocks` (without its shift): ``[B, H, N, D]`` float32."""
    per_token = scale.repeat_interleave(block, dim=2)[:, :, :quantized.shape[2], None]
    return quantized.float() * per_token
