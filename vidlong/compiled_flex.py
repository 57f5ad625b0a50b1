"""diffusers' flex attention backend with `torch.nn.attention.flex_attention.flex_attention` compiled, for the span of one
call (`compiled_flex`). AnyFlow FAR's processor (`AnyFlowCausalAttnProcessor`) calls that backend
(`attention_dispatch._native_flex_attention`), which calls flex_attention uncompiled: torch's unfused reference path, which
materialises the scores ``[B, H, N_q, N_kv]`` and is slow. Compiled, it is one fused kernel."""
from __future__ import annotations

from contextlib import contextmanager

import torch

from .families.common import SharedReplacement

#: the device types where `compiled_flex` compiles by default (CUDA: torch's uncompiled flex is its debugging path there)
DEVICE_TYPES = {"cuda"}
_compiled = None  # the one torch.compile'd flex_attention, made at first use (its graphs are kept across calls)
_BACKEND = SharedReplacement()  # diffusers' backend's module swapped while any call runs compiled


class _FlexModule:
    """`torch.nn.attention.flex_attention` as diffusers' backend reads it, its `flex_attention` the compiled one."""

    def __init__(self, module, compiled):
        self._module, self.flex_attention = module, compiled

    def __getattr__(self, name):
        return getattr(self._module, name)


def flex_compiled():
    """The compiled flex_attention, dynamo's automatic dynamic shapes: its first shapes compiled as they are, a size or
    closure value that changes (FAR's query and key lengths, its BlockMask's, chunk after chunk) compiled again once as
    dynamic (4 graphs serve a whole tiny stream and the call after it on the CPU). ``dynamic=True`` from the start fails
    in Inductor's CPU flex template (torch 2.13)."""
    global _compiled
    if _compiled is None:
        from torch.nn.attention.flex_attention import flex_attention

        _compiled = torch.compile(flex_attention)
    return _compiled


@contextmanager
def compiled_flex(device: torch.device):
    """Within: diffusers' flex backend calls the compiled flex_attention, where `device`'s type is in `DEVICE_TYPES` and
    no torch.compile is tracing already. Blocks compiled by ``--compile`` trace through it, the flex attention inlined in
    their own graphs. The module diffusers' backend reads is put back as the last call within leaves (calls in two threads
    may overlap), an error's too."""
    from diffusers.models import attention_dispatch

    module = attention_dispatch.flex_attention
    if device.type not in DEVICE_TYPES or torch.compiler.is_compiling() or module is None:
        yield
        return
    with _BACKEND.held(lambda: (attention_dispatch, "flex_attention", _FlexModule(module, flex_compiled()))):
        yield
