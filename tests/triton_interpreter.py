"""Run Triton kernels on CPU tensors through Triton's interpreter, for the CPU tests.

conftest.py imports it before anything imports Triton: Triton reads ``TRITON_INTERPRET`` when a
kernel (its own `tl.sum` included) is decorated. With CUDA present nothing changes and the kernels
compile for the GPU.
"""
import os

import torch

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

if DEVICE == "cpu":
    os.environ["TRITON_INTERPRET"] = "1"
    try:
        import triton.runtime.interpreter as _interpreter
    except ImportError:  # no Triton: the tests that need it skip
        _interpreter = None
    if _interpreter is not None and hasattr(_interpreter, "_patch_lang_tensor"):
        _patch_tensor = _interpreter._patch_lang_tensor

        def _patch_tensor_with_numpy2_index(tensor, scope):
            # Triton 3.6's interpreter keeps scalars as 1-element arrays and converts them with
            # int(array), which NumPy 2 refuses; loops with run-time bounds need it
            _patch_tensor(tensor, scope)
            scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))

        _interpreter._patch_lang_tensor = _patch_tensor_with_numpy2_index
