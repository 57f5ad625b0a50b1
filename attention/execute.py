"""Run an attention plan with a kernel: the one place where plans meet kernels."""
from __future__ import annotations

import torch

from .fusion import fuse_bands
from .kernels.dense import DenseKernel
from .plan import AttentionPlan

#: the fused kernel's names and its low-precision operands (`FusedKernel`'s ``qk``, ``pv``)
FUSED_KERNELS = {"fused": (None, None), "fused-fp8": ("fp8", None), "fused-int8": ("int8", None),
                 "fused-fp8-fp8pv": ("fp8", "fp8"), "fused-int8-fp8pv": ("int8", "fp8"),
                 "fused-triton": (None, None)}  # the Triton kernel where "fused" takes the Gluon one (Hopper)
KERNELS = ("auto", "dense", "flex", *FUSED_KERNELS)

#: On CUDA, "auto" runs plans the fused kernel cannot take with the dense kernel below this many
#: tokens: its logits (``[B, H, 2048, N]`` per query block) are small there, and FlexAttention would
#: compile its kernels for every new token count before running them.
FLEX_MIN_TOKENS = 8192


class AutoKernel:
    """CUDA's "auto": the fused Triton kernel for every plan it supports (`fused.supports`); other
    plans run on the dense kernel below `min_tokens` keys and on FlexAttention from there on (plans
    whose modifier acts in some branches only, or whose anchors are re-placed, on the dense kernel at
    any size)."""

    name = "auto"

    def __init__(self, min_tokens: int = FLEX_MIN_TOKENS):
        self.min_tokens = min_tokens
        self.dense = DenseKernel()
        self._fused = self._flex = None

    def pick(self, query, key, plan):
        """The kernel that runs `plan` on these inputs."""
        from .kernels import fused

        if fused.supports(plan, query):
            if self._fused is None:
                self._fused = fused.FusedKernel()
            return self._fused
        if key.shape[2] < self.min_tokens or plan.decayed_branches is not None or plan.anchor_shift is not None:
            return self.dense
        if self._flex is None:
            from .kernels.flex import FlexKernel

            self._flex = FlexKernel()
        return self._flex

    def __call__(self, query, key, value, plan):
        """query/key/value ``[B, H, N, D]`` -> one ``[B, H, N, D]`` output per branch."""
        return self.pick(query, key, plan)(query, key, value, plan)


def make_kernel(name: str, device: torch.device, flex_options: dict | None = None):
    """A kernel instance by name.

    "auto" is the dense kernel off CUDA and `AutoKernel` on CUDA. `flex_options` are FlexAttention
    ``kernel_options`` for "flex".
    """
    if name == "auto":
        return DenseKernel() if device.type != "cuda" else AutoKernel()
    if name == "dense":
        return DenseKernel()
    if name == "flex":
        from .kernels.flex import FlexKernel

        return FlexKernel(flex_options)
    if name in FUSED_KERNELS:
        from .kernels.fused import FusedKernel

        qk, pv = FUSED_KERNELS[name]
        return FusedKernel(qk=qk, pv=pv, warp_specialized=False if name == "fused-triton" else None)
    raise ValueError(f"kernel must be one of {KERNELS}, got {name!r}")


def run_plan(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, plan: AttentionPlan, kernel) -> torch.Tensor:
    """Execute `plan` on ``[B, N, H, D]`` query/key/value (diffusers layout); returns ``[B, N, H, D]``.
    The kernel runs every branch (key centring included); the band fusion joins them."""
    outputs = kernel(query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2), plan)
    outputs = [out.transpose(1, 2) for out in outputs]
    if plan.num_branches == 1:
        return outputs[0]
    return fuse_bands(outputs, plan.bands, plan.layout)
