"""Text projections computed once per prompt in a stream.

A stream runs the transformer many times per chunk (every denoising step, the clean K/V-writing pass,
the re-noised window) with the same prompt states, and Wan projects those states again each time: the
text embedder over all 512 tokens, then every block's cross-attention keys and values. `apply_text_memo`
registers a `TextMemoHook` on each such module (the family adapter's `text_projections`): called again
with the very tensor it saw last, unmodified, the module returns its last output instead of recomputing
it, so the outputs are bit for bit the same. A new prompt is a new tensor, and is computed afresh.
The module's weights must not change while the hooks are on (a stream does not change them).
`remove_text_memo` restores every module. Streams apply it on the CPU only, where these projections
are a fifth of a forward of the embedded model; on a GPU they are cheap, and the outputs held (the
keys and values of every block, about 0.85 GB for a 14B expert with guidance) would cost memory.
"""
from __future__ import annotations

import torch
from diffusers.hooks import HookRegistry, ModelHook

from .attention.adapters import adapter_for

HOOK_NAME = "vidlong_text_memo"


class TextMemoHook(ModelHook):
    """Returns the module's last output while its one input is the same tensor object and neither it nor
    that output has changed in place since (`torch.Tensor._version`); computes it otherwise (and always for
    inference-mode tensors, which keep no version). `calls` counts the computations (for tests)."""

    def __init__(self):
        super().__init__()
        self._input = self._versions = self._output = None
        self.calls = 0

    def new_forward(self, module, *args, **kwargs):
        x = args[0] if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor) else None
        if x is not None and x is self._input and (x._version, self._output._version) == self._versions:
            return self._output
        output = self.fn_ref.original_forward(*args, **kwargs)
        self.calls += 1
        if x is not None and not x.is_inference() and isinstance(output, torch.Tensor):
            self._input, self._output, self._versions = x, output, (x._version, output._version)
        return output

    def deinitalize_hook(self, module):
        self._input = self._output = None
        return module


def apply_text_memo(transformer) -> list[TextMemoHook]:
    """Memoise `transformer`'s text projections (none for a family whose adapter names none, or off the
    CPU); returns the hooks."""
    memos = []
    if transformer.device.type != "cpu":
        return memos
    for module in adapter_for(transformer).text_projections(transformer):
        registry = HookRegistry.check_if_exists_or_initialize(module)
        if registry.get_hook(HOOK_NAME) is None:
            registry.register_hook(TextMemoHook(), HOOK_NAME)
        memos.append(registry.get_hook(HOOK_NAME))
    return memos


def remove_text_memo(transformer) -> None:
    """Undo `apply_text_memo`: every text projection computes again at each call."""
    for module in adapter_for(transformer).text_projections(transformer):
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None and registry.get_hook(HOOK_NAME) is not None:
            registry.remove_hook(HOOK_NAME)
