"""Run an attention plan with a kernel: the one place where plans meet kernels."""
from __future__ import annotations

import torch

from .fusion import fuse_bands
from .kernels.dense import DenseKernel
from .plan import AttentionPlan

KERNELS = ("auto", "dense", "flex")

#: On CUDA, "auto" runs attentions of fewer tokens than this with the dense kernel: its logits
#: (``[B, H, 2048, N]`` per query block) are small there, and FlexAttention would compile its
#: kernels for every new token count before running them.
FLEX_MIN_TOKENS = 8192


class SizeDispatchKernel:
    """The dense kernel below `min_tokens` keys, FlexAttention from there on (CUDA's "auto")."""

    name = "auto"

    def __init__(self, min_tokens: int = FLEX_MIN_TOKENS):
        self.min_tokens = min_tokens
        self.dense = DenseKernel()
        self._flex = None

    def __call__(self, query, key, value, plan):
        """query/key/value ``[B, H, N, D]`` -> one ``[B, H, N, D]`` output per branch."""
        if key.shape[2] < self.min_tokens:
            return self.dense(query, key, value, plan)
        if self._flex is None:
            from .kernels.flex import FlexKernel

            self._flex = FlexKernel()
        return self._flex(query, key, value, plan)


def make_kernel(name: str, device: torch.device, flex_options: dict | None = None):
    """A kernel instance by name.

    "auto" is the dense kernel off CUDA; on CUDA it is FlexAttention from `FLEX_MIN_TOKENS` keys up
    and the dense kernel below. `flex_options` are FlexAttention ``kernel_options`` for "flex".
    """
    if name == "auto":
        if device.type != "cuda":
            return DenseKernel()
        return SizeDispatchKernel()
    if name == "dense":
        return DenseKernel()
    if name == "flex":
        from .kernels.flex import FlexKernel

        return FlexKernel(flex_options)
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
