"""FreeLong++ spectral fusion of branch outputs on the token grid, as small real matrix products.

Multiplying a spectrum by a filter is a circular convolution; with separable filters it is one
circulant ``[n, n]`` matrix per axis. So ``IFFT(H_k · FFT(x))`` over (F, H, W) becomes three batched
matrix products and no FFT at all: a few GFLOP even at Wan2.1 shapes.
"""
from __future__ import annotations

import functools
import math

import torch

from ..schedulers.bands import SeparableBands
from .layout import TokenLayout


def circulant(response: torch.Tensor) -> torch.Tensor:
    """``[n, n]`` float64 matrix M with ``M @ x == IFFT(response · FFT(x))`` for a symmetric `response` ``[n]``.

    Written out in real arithmetic: ``M[i, j] = c[(i - j) mod n]`` with the kernel ``c[m] = (1/n) Σ_k
    response[k] · cos(2π·k·m/n)`` (the imaginary parts cancel for a symmetric response), the phase
    taken modulo n in integers: no complex tensors, which Inductor cannot compile when the fusion runs
    under `torch.compile`.
    """
    n = response.shape[-1]
    index = torch.arange(n, device=response.device)
    waves = torch.cos(((index[:, None] * index[None, :]) % n).to(torch.float64) * (2 * math.pi / n))  # [k, m]
    kernel = response.to(torch.float64) @ waves / n                                                   # [m]
    return kernel[(index[:, None] - index[None, :]) % n]


def fusion_matrices(bands: SeparableBands):
    """(temporal ``[F, (K-1)·F]``, spatial h ``[H, H]``, spatial w ``[W, W]``) float64 matrices.

    The temporal block k filters the difference ``O_k - O_K`` by ``T_k - T_{k-1}``; the shared
    spatial factor is applied once to the sum.
    """
    steps = torch.diff(bands.temporal, dim=0, prepend=torch.zeros_like(bands.temporal[:1]))
    temporal = torch.cat([circulant(step) for step in steps], dim=1)
    return temporal, circulant(bands.spatial_h), circulant(bands.spatial_w)


@functools.lru_cache(maxsize=64)
def _matrices_on(bands: SeparableBands, device: torch.device, dtype: torch.dtype):
    return tuple(m.to(device=device, dtype=dtype) for m in fusion_matrices(bands))


def fuse_bands(outputs: list[torch.Tensor], bands: SeparableBands, layout: TokenLayout) -> torch.Tensor:
    """Take band k of branch k's output and sum the bands.

    ``fused = IFFT(sum_k H_k · FFT(O_k))`` over the (F, H, W) token grid, per channel. Because the
    bands sum to one this equals ``O_K + IFFT(sum_{k<K} H_k · FFT(O_k - O_K))``; equal branches come
    back bit for bit.

    Args:
        outputs: K tensors ``[B, N, H_heads, D]`` (diffusers layout), global first. The work runs on
            their ``[B, H_heads, N, D]`` transposes, so outputs that are transposed views of the
            kernels' ``[B, H_heads, N, D]`` results are read in place, with no copy.
        bands: the K bands (`make_bands`).
        layout: the token grid (N = F·H·W).

    Returns:
        ``[B, N, H_heads, D]`` in the outputs' dtype (a transposed view of a ``[B, H_heads, N, D]``
        tensor). The arithmetic is in that dtype too (the matrix products of 16-bit outputs accumulate
        in float32): on an H200 at Wan2.1-1.3B shapes, bfloat16 fusion errs 1.68-1.70e-3 against
        float64 where float32 arithmetic erred 1.66e-3, is about twice as fast at 84 latent frames and
        peaks at 1.5 instead of 4 float32 branch outputs (benchmarks/RESULTS.md, "Band fusion").
    """
    heads_first = [out.transpose(1, 2) for out in outputs]              # [B, H_heads, N, D]
    last = heads_first[-1]
    batch, heads, n, dim = last.shape
    lead, f, h, w = batch * heads, layout.frames, layout.height, layout.width
    # (under compile the matrices are built in the graph, not looked up: dynamo cannot trace the cache)
    matrices_on = _matrices_on.__wrapped__ if torch.compiler.is_compiling() else _matrices_on
    m_t, m_h, m_w = matrices_on(bands, last.device, last.dtype)
    last_wide = last.reshape(lead, f, -1)                               # [B·H_heads, F, H·W·D]
    diffs = torch.empty(lead, (len(outputs) - 1) * f, last_wide.shape[-1], dtype=last.dtype, device=last.device)
    for k, branch in enumerate(heads_first[:-1]):
        if torch.compiler.is_compiling():  # dynamo breaks the graph at an `out=` that is not contiguous
            diffs[:, k * f:(k + 1) * f] = branch.reshape(lead, f, -1) - last_wide  # (Inductor fuses the two)
        else:
            torch.sub(branch.reshape(lead, f, -1), last_wide, out=diffs[:, k * f:(k + 1) * f])
    x = torch.matmul(m_t, diffs)                                        # [B·H_heads, F, H·W·D]
    del diffs  # (K-1) copies of the output: freed before the spatial products allocate theirs
    x = torch.matmul(m_h, x.view(lead * f, h, -1))                      # [B·H_heads·F, H, W·D]
    x = torch.matmul(m_w, x.view(lead * f * h, w, dim))                 # [B·H_heads·F·H, W, D]
    return x.view(batch, heads, n, dim).add_(last).transpose(1, 2)
