"""Which kernel runs a plan: the dense kernel off CUDA; on CUDA the fused kernel where it applies, else
the dense kernel below a token count and FlexAttention from there up."""
import pytest
import torch

import vidlong
from vidlong.attention.execute import FLEX_MIN_TOKENS, AutoKernel, make_kernel
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.attention.plan import AttentionPlan
from vidlong.plans import build_plan


def test_auto_is_dense_on_cpu_and_the_dispatching_kernel_on_cuda():
    assert isinstance(make_kernel("auto", torch.device("cpu")), DenseKernel)
    auto_cuda = make_kernel("auto", torch.device("cuda"))
    assert isinstance(auto_cuda, AutoKernel) and auto_cuda.min_tokens == FLEX_MIN_TOKENS
    with pytest.raises(ValueError, match="kernel must be one of"):
        make_kernel("cudnn", torch.device("cpu"))


def test_plans_the_fused_kernel_declines_run_dense_below_the_threshold_bit_for_bit():
    layout = TokenLayout(8, 2, 3, 4)
    causal = AttentionPlan(layout, base_mask=lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, key="causal")
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 2, layout.num_tokens, 8, generator=gen) for _ in range(3))
    small = AutoKernel(min_tokens=layout.num_tokens + 1)
    for a, b in zip(small(q, k, v, causal), DenseKernel()(q, k, v, causal)):
        assert torch.equal(a, b)
    assert small._flex is None and small._fused is None  # neither was built
