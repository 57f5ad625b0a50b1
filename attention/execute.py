"""Run an attention plan with a kernel: the one place where plans meet kernels."""
from __future__ import annotations

import torch

from .fusion import fuse_bands
from .kernels.dense import DenseKernel
from .plan import AttentionPlan

KERNELS = ("auto", "dense", "flex")


def make_kernel(name: str, device: torch.device):
    """A kernel instance by name; "auto" is FlexAttention on CUDA and the dense kernel elsewhere."""
    if name == "auto":
        name = "flex" if device.type == "cuda" else "dense"
    if name == "dense":
        return DenseKernel()
    if name == "flex":
        from .kernels.flex import FlexKernel

        return FlexKernel()
    raise ValueError(f"kernel must be one of {KERNELS}, got {name!r}")


def center_keys(key: torch.Tensor) -> torch.Tensor:
    """Subtract the mean key over the sequence: ``[B, N, H, D]`` -> same, mean taken in float32."""
    return (key.float() - key.float().mean(dim=1, keepdim=True)).to(key.dtype)


def run_plan(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, plan: AttentionPlan, kernel) -> torch.Tensor:
    """Execute `plan` on ``[B, N, H, D]`` query/key/value (diffusers layout); returns ``[B, N, H, D]``."""
    if plan.center_keys:
        key = center_keys(key)
    outputs = kernel(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), plan)
    outputs = [out.transpose(1, 2) for out in outputs]
    if plan.num_branches == 1:
        return outputs[0]
    return fuse_bands(outputs, plan.bands, plan.layout)
