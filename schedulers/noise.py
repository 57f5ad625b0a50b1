"""Initial noise for long generations: plain, FreeLong++'s SpecMix, and FreeNoise-style rescheduled noise.

Latent shapes are ``[B, C, F, H, W]`` in latent frames.
"""
from __future__ import annotations

from typing import Optional

import torch

from ..method_names import NOISE_KINDS
from .bands import make_bands


def plain_noise(shape, generator: Optional[torch.Generator] = None, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """i.i.d. standard normal latents of `shape` ``[B, C, F, H, W]``."""
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def shared_noise(shape, native_frames: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """FreeNoise-style long noise: one native-length block, repeated along time with the frames of
    each repeat shuffled, so every window sees the same noise statistics. ``[B, C, F, H, W]``."""
    batch, channels, frames, height, width = shape
    block = torch.randn((batch, channels, native_frames, height, width), generator=generator)
    repeats = [block]
    while sum(r.shape[2] for r in repeats) < frames:
        order = torch.randperm(native_frames, generator=generator)
        repeats.append(block[:, :, order])
    return torch.cat(repeats, dim=2)[:, :, :frames]


def specmix_noise(shape, native_frames: int, generator: Optional[torch.Generator] = None,
                  temporal_cutoff: float = 0.25, spatial_cutoff: float = 0.25) -> torch.Tensor:
    """SpecMix: low frequencies of `shared_noise`, high frequencies of independent noise.

    ``Z = IFFT(a · FFT(Z_shared) + b · FFT(Z_indep))`` over (F, H, W), with the Gaussian low-pass
    ``G`` and ``a = G / r``, ``b = (1 - G) / r``, ``r = sqrt(G² + (1 - G)²)``, so that each frequency
    keeps unit variance when the two inputs are independent. Returns float32 ``[B, C, F, H, W]``.
    """
    batch, channels, frames, height, width = shape
    z_shared = shared_noise(shape, native_frames, generator)
    z_indep = torch.randn(shape, generator=generator)
    low = make_bands(frames, height, width, (temporal_cutoff,), spatial_cutoff).lowpasses()[0][..., : width // 2 + 1]
    norm = torch.sqrt(low**2 + (1 - low) ** 2)
    dims = (2, 3, 4)
    mixed = torch.fft.rfftn(z_shared.double(), dim=dims) * (low / norm) + torch.fft.rfftn(z_indep.double(), dim=dims) * ((1 - low) / norm)
    return torch.fft.irfftn(mixed, s=(frames, height, width), dim=dims).float()


def initial_noise(kind: str, shape, native_frames: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Noise of `kind` (`vidlong.method_names.NOISE_KINDS`: "plain", "specmix", or "freenoise": `shared_noise`,
    FreeNoise-style rescheduling) for latents `shape` ``[B, C, F, H, W]`` (float32, CPU)."""
    if kind == "plain":
        return plain_noise(shape, generator)
    if kind == "specmix":
        return specmix_noise(shape, native_frames, generator)
    if kind == "freenoise":
        return shared_noise(shape, native_frames, generator)
    raise ValueError(f"noise must be one of {', '.join(NOISE_KINDS)}, got {kind!r}")
