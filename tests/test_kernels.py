"""Which kernel runs a plan: the dense kernel off CUDA; on CUDA the fused kernel where it applies, else
the dense kernel below a token count and FlexAttention from there up."""
import pytest
import torch

from vidlong.attention.execute import FLEX_MIN_TOKENS, AutoKernel, make_kernel
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.attention.plan import AttentionPlan


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


def test_dense_blocks_cut_to_the_visible_keys_equal_the_whole_softmax():
    """A window mask and a decay score_mod over small query blocks (each cut to the span of keys its
    mask shows) against one float64 softmax over every key, written out; queries that see no key: zeros."""
    from vidlong.attention.kernels.dense import dense_attention

    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 96, 8, generator=gen, dtype=torch.float64) for _ in range(3))
    window = lambda b, h, qi, ki: ((qi - ki).abs() <= 10) & (qi < 90)  # noqa: E731 - the last 6 queries see nothing
    decay = lambda s, b, h, qi, ki: torch.where((qi - ki).abs() > 4, torch.minimum(s, 0.5 * s), s)  # noqa: E731
    idx = torch.arange(96)
    scores = decay(q @ k.transpose(-1, -2) / 8 ** 0.5, 0, 0, idx[:, None], idx[None, :])
    keep = window(0, 0, idx[:, None], idx[None, :])
    expected = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1).nan_to_num(0.0) @ v
    for mods in ((window, decay), (window, None)):
        out = dense_attention(q, k, v, *mods, query_block=16)
        reference = expected if mods[1] else torch.softmax((q @ k.transpose(-1, -2) / 8 ** 0.5).masked_fill(
            ~keep, float("-inf")), dim=-1).nan_to_num(0.0) @ v
        assert torch.allclose(out, reference, atol=1e-12) and torch.all(out[:, :, 90:] == 0)


def test_cpu_query_blocks_keep_their_logits_small():
    from vidlong.attention.kernels.dense import CPU_BLOCK_BYTES, auto_query_block

    cpu = torch.device("cpu")
    assert auto_query_block(5 * 4608, cpu) == 128  # the embedded model at 8x: 11.8 MB of logits a block
    assert auto_query_block(10, cpu) == 2048 and auto_query_block(10**9, cpu) == 64
    for per_query in (100, 5 * 4608, 2 * 5 * 9216, 40 * 75_000):
        block = auto_query_block(per_query, cpu)
        assert block == 64 or 4 * per_query * block <= CPU_BLOCK_BYTES
    assert auto_query_block(5 * 4608, torch.device("cuda")) == 2048
