"""Which kernel runs a plan: the dense kernel off CUDA, FlexAttention on CUDA from a token count up."""
import pytest
import torch

import vidlong
from vidlong.attention.execute import FLEX_MIN_TOKENS, SizeDispatchKernel, make_kernel
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan


def test_auto_is_dense_on_cpu_and_size_dispatch_on_cuda():
    assert isinstance(make_kernel("auto", torch.device("cpu")), DenseKernel)
    auto_cuda = make_kernel("auto", torch.device("cuda"))
    assert isinstance(auto_cuda, SizeDispatchKernel) and auto_cuda.min_tokens == FLEX_MIN_TOKENS
    with pytest.raises(ValueError, match="kernel must be one of"):
        make_kernel("triton", torch.device("cpu"))


def test_size_dispatch_below_threshold_is_the_dense_kernel_bit_for_bit():
    layout = TokenLayout(8, 2, 3, 4)
    plan = build_plan(layout, [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))])
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, layout.num_tokens, 8, generator=gen) for _ in range(3))
    small = SizeDispatchKernel(min_tokens=layout.num_tokens + 1)
    for a, b in zip(small(q, k, v, plan), DenseKernel()(q, k, v, plan)):
        assert torch.equal(a, b)
    assert small._flex is None  # FlexAttention was never built
