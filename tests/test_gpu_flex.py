"""FlexAttention kernel (CUDA) against the dense reference kernel. Skipped without a GPU."""
import pytest
import torch

import vidlong
from vidlong.attention.execute import run_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.kernels.flex import FlexKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan
from reference import rel_err

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

NATIVE = 4


CASES = [
    ([vidlong.UltraViCo()], (5, 7)),                                   # frames unaligned to 128-token blocks
    ([vidlong.UltraViCo(region="frame", center_keys=False)], (8, 16)),
    ([vidlong.SpectralFusion(windows=(2, 1))], (8, 16)),
    ([vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))], (5, 7)),
    ([vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1), anchors=0.5)], (5, 7)),  # anchored rings
]


@pytest.mark.parametrize("methods, grid", CASES)
def test_flex_matches_dense(methods, grid):
    layout = TokenLayout(16, *grid, NATIVE)
    gen = torch.Generator(device="cuda").manual_seed(0)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 64, device="cuda", generator=gen) for _ in range(3))
    k = k + 0.3
    plan = build_plan(layout, methods)
    dense = run_plan(q, k, v, plan, DenseKernel())
    flex = run_plan(q, k, v, plan, FlexKernel())
    assert rel_err(flex, dense) < 2e-3
    flex_bf16 = run_plan(q.bfloat16(), k.bfloat16(), v.bfloat16(), plan, FlexKernel())
    assert rel_err(flex_bf16, dense) < 3e-2


def test_ring_merge_gives_every_branch():
    layout = TokenLayout(16, 4, 8, NATIVE)
    q, k, v = (torch.randn(1, 2, layout.num_tokens, 32, device="cuda") for _ in range(3))
    plan = build_plan(layout, [vidlong.UltraViCo(center_keys=False), vidlong.SpectralFusion(windows=(2, 1))])
    for a, b in zip(FlexKernel()(q, k, v, plan), DenseKernel()(q, k, v, plan)):
        assert rel_err(a, b) < 2e-3


def test_transformer_on_cuda_flex_matches_dense():
    from conftest import tiny_transformer, transformer_inputs

    outs = []
    for kernel in ("flex", "dense"):
        model = tiny_transformer().cuda()
        vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(), native_frames=NATIVE, kernel=kernel)
        inputs = {k: v.cuda() if torch.is_tensor(v) else v for k, v in transformer_inputs(16, 8, 8).items()}
        with torch.no_grad():
            outs.append(model(**inputs)[0])
    assert rel_err(outs[0], outs[1]) < 2e-3


def test_auto_runs_flex_from_its_threshold_for_plans_the_fused_kernel_declines():
    from vidlong.attention.execute import AutoKernel
    from vidlong.attention.plan import AttentionPlan

    layout = TokenLayout(16, 4, 8, NATIVE)
    q, k, v = (torch.randn(1, 2, layout.num_tokens, 32, device="cuda") for _ in range(3))
    plan = AttentionPlan(layout, base_mask=lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, key="causal")
    auto = AutoKernel(min_tokens=layout.num_tokens)
    (out,) = auto(q, k, v, plan)
    assert auto._flex is not None and auto._fused is None
    assert torch.equal(out, auto._flex(q, k, v, plan)[0])
    assert rel_err(out, DenseKernel()(q, k, v, plan)[0]) < 2e-3
