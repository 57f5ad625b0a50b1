"""FreeLong++ spectral fusion of branch outputs on the token grid."""
from __future__ import annotations

import torch

from .layout import TokenLayout


def fuse_bands(outputs: list[torch.Tensor], band_filters: torch.Tensor, layout: TokenLayout) -> torch.Tensor:
    """Take band k of branch k's output and sum the bands.

    ``fused = IFFT(sum_k H_k · FFT(O_k))`` over the (F, H, W) token grid, per channel. Because the
    filters sum to one this equals ``O_K + IFFT(sum_{k<K} H_k · FFT(O_k - O_K))``, which saves one FFT
    and makes equal branches come back bit for bit.

    Args:
        outputs: K tensors ``[B, N, H_heads, D]`` (diffusers layout), global branch first.
        band_filters: ``[K, F, H, W // 2 + 1]`` real filters on the rfft grid.
        layout: the token grid (N = F·H·W).

    Returns:
        ``[B, N, H_heads, D]`` in the outputs' dtype; the FFTs run in float32 (float64 for float64).
    """
    last = outputs[-1]
    batch, _, heads, dim = last.shape
    grid = (layout.frames, layout.height, layout.width)
    fft_dtype = torch.float64 if last.dtype == torch.float64 else torch.float32
    filters = band_filters.to(device=last.device, dtype=fft_dtype).unsqueeze(1).unsqueeze(-1)  # [K,1,F,H,Wr,1]
    spectrum = None
    for k, out in enumerate(outputs[:-1]):
        diff = (out.to(fft_dtype) - last.to(fft_dtype)).reshape(batch, *grid, heads * dim)
        band = torch.fft.rfftn(diff, dim=(1, 2, 3)) * filters[k]
        spectrum = band if spectrum is None else spectrum + band
    correction = torch.fft.irfftn(spectrum, s=grid, dim=(1, 2, 3)).reshape(batch, -1, heads, dim)
    return (last.to(fft_dtype) + correction).to(last.dtype)
