"""The fused kernel's low-precision paths (FP8 e4m3 / INT8 Q·K, FP8 P·V) against float64 references
(Triton's interpreter on CPU; the GPU tests compile them for the device's FP8 / INT8 matrix units)."""
import pytest
import torch

import vidlong
from vidlong.attention.execute import FUSED_KERNELS, make_kernel, run_plan
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.kernels.quantize import (FORMATS, dequantize_token_blocks, quantize_channels_transposed,
                                                quantize_token_blocks, required_capability)
from vidlong.attention.layout import TokenLayout
from vidlong.errors import VidlongError
from vidlong.plans import build_plan
from triton_interpreter import DEVICE
from reference import rel_err

fused = pytest.importorskip("vidlong.attention.kernels.fused")
pytestmark = [pytest.mark.skipif(fused.triton is None, reason="needs Triton"),
              pytest.mark.skipif(DEVICE == "cuda" and torch.cuda.get_device_capability() < (8, 9),
                                 reason="FP8 needs compute capability 8.9+ (Ada, Hopper)")]

NATIVE = 4
BLOCK = 16
PLANS = {
    "decay": [vidlong.UltraViCo(alpha=0.6)],
    "decay-uncentred": [vidlong.UltraViCo(alpha=0.6, center_keys=False)],
    "both": [vidlong.UltraViCo(alpha=0.6), vidlong.SpectralFusion(windows=(2, 1))],
    "plain": [],
}


def qkv(layout, dim=32, seed=0, device=DEVICE, batch=1):
    """``[B, N, H, D]`` (the processor's layout) with two heads, keys off-centre so the smoothing matters."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, layout.num_tokens, 2, dim, generator=gen) for _ in range(3))
    return q.to(device), (k + 0.5).to(device), v.to(device)


def dequantized(q, k, fmt, block=BLOCK):
    """The kernel's quantized Q and (smoothed, then un-smoothed) K as float64 ``[B, N, H, D]``."""
    q, k = (t.transpose(1, 2) for t in (q, k))
    mean_k = k.float().mean(dim=2)
    q_dq = dequantize_token_blocks(*quantize_token_blocks(q, block, fmt), block)
    k_dq = dequantize_token_blocks(*quantize_token_blocks(k, block, fmt, shift=mean_k), block) + mean_k[:, :, None]
    return q_dq.double().transpose(1, 2), k_dq.double().transpose(1, 2)


@pytest.mark.parametrize("fmt", ["fp8", "int8"])
def test_block_quantization_round_trips_within_the_formats_precision(fmt):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 40, 16, generator=gen) * torch.linspace(0.1, 10, 40)[:, None]  # blocks of very different sizes
    quantized, scale = quantize_token_blocks(x, BLOCK, fmt)
    assert quantized.dtype == FORMATS[fmt][0] and scale.shape == (2, 3, 3)
    block_max = torch.nn.functional.pad(x.abs(), (0, 0, 0, 8)).view(2, 3, 3, 16, 16).amax(dim=(3, 4))
    assert torch.allclose(scale * FORMATS[fmt][1], block_max)
    error = (dequantize_token_blocks(quantized, scale, BLOCK) - x).abs()
    step = scale.repeat_interleave(BLOCK, dim=2)[:, :, :40, None]
    # e4m3: half of 3 mantissa bits, or half its subnormal spacing (2^-9); int8: half a step
    bound = torch.maximum(x.abs() / 16, step * 2.0**-10) if fmt == "fp8" else step / 2
    assert (error <= bound * (1 + 1e-6)).all()
    (v8,), v_scale = quantize_channels_transposed(x)
    assert v8.shape == (2, 3, 16, 40) and torch.allclose(v_scale * 448.0, x.abs().amax(dim=2))


@pytest.mark.parametrize("fmt", ["fp8", "int8"])
@pytest.mark.parametrize("plan_name", PLANS)
def test_quantized_logits_are_the_float64_attention_of_the_dequantized_inputs(fmt, plan_name):
    """The kernel's only approximation is the quantization: with its Q and K rounded and put back, the
    float64 dense plan gives the same output (up to the centring mean, which the dense kernel takes
    from the rounded keys); and the rounding is visible against the exact inputs."""
    layout = TokenLayout(16, 2, 3, NATIVE)
    plan = build_plan(layout, PLANS[plan_name])
    q, k, v = qkv(layout, batch=2 if plan_name == "plain" else 1)  # each batch's own scales, in the cheapest plan
    out = run_plan(q, k, v, plan, fused.FusedKernel(BLOCK, BLOCK, qk=fmt))
    q_dq, k_dq = dequantized(q, k, fmt)
    emulated = run_plan(q_dq, k_dq, v.double(), plan, DenseKernel())
    exact = run_plan(q.double(), k.double(), v.double(), plan, DenseKernel())
    assert rel_err(out, emulated) < 2e-3
    assert rel_err(out, exact) > 1e-3
    assert rel_err(out, exact) < (0.02 if fmt == "int8" else 0.06)


def test_joint_text_keys_are_smoothed_and_quantized_with_the_video_keys(fmt="fp8"):
    """Text keys (20, more than one block, 3 padded out) share the video keys' smoothing vector, so the
    two kinds of logits stay comparable within each query's softmax."""
    text = 20
    layout = TokenLayout(2 * NATIVE, 2, 3, NATIVE)
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, text + layout.num_tokens, 2, 32, generator=gen).to(DEVICE) for _ in range(3))
    k = k + 0.5
    visible = torch.ones(2, text + layout.num_tokens, dtype=torch.bool, device=DEVICE)
    visible[0, text - 3:text] = False
    plan = build_plan(layout, PLANS["both"])
    out = run_joint_plan(q, k, v, plan, text, visible=visible, kernel=fused.FusedKernel(BLOCK, BLOCK, qk=fmt))
    exact = run_joint_plan(q.double(), k.double(), v.double(), plan, text, visible=visible, kernel=DenseKernel())
    unquantized = run_joint_plan(q, k, v, plan, text, visible=visible, kernel=fused.FusedKernel(BLOCK, BLOCK))
    assert rel_err(unquantized, exact) < 1e-5
    assert 1e-3 < rel_err(out, exact) < (0.02 if fmt == "int8" else 0.06)
    # the text's values share the video's per-channel scales in FP8 P·V
    with_pv = run_joint_plan(q, k, v, plan, text, visible=visible, kernel=fused.FusedKernel(BLOCK, BLOCK, qk=fmt, pv="fp8"))
    assert rel_err(with_pv, out) > 1e-3 and rel_err(with_pv, exact) < 0.1


@pytest.mark.parametrize("fmt", ["int8", "fp8"])
def test_fp8_probabilities_and_values(fmt):
    """P·V in e4m3 (values scaled per channel, stored channel-major) adds its own rounding, bounded."""
    layout = TokenLayout(8, 2, 3, NATIVE)
    plan = build_plan(layout, PLANS["both"])
    q, k, v = qkv(layout)
    v = v * torch.linspace(0.1, 4.0, 32, device=DEVICE)             # channels of different sizes
    exact = run_plan(q.double(), k.double(), v.double(), plan, DenseKernel())
    qk_only = run_plan(q, k, v, plan, fused.FusedKernel(BLOCK, BLOCK, qk=fmt))
    both = run_plan(q, k, v, plan, fused.FusedKernel(BLOCK, BLOCK, qk=fmt, pv="fp8"))
    assert rel_err(both, qk_only) > 1e-3
    assert rel_err(both, exact) < 0.1
    # quantized keys (and values in the inputs' dtype) read through tensor descriptors: the same output
    for kernel, expected in ((fused.FusedKernel(BLOCK, BLOCK, qk=fmt, tma=True), qk_only),
                             (fused.FusedKernel(BLOCK, BLOCK, qk=fmt, pv="fp8", tma=True), both)):
        assert torch.equal(run_plan(q, k, v, plan, kernel), expected)


def test_kernel_names_and_bad_settings():
    assert {name: (k.qk, k.pv) for name, k in ((n, make_kernel(n, torch.device("cuda"))) for n in FUSED_KERNELS)} == FUSED_KERNELS
    assert all(make_kernel(n, torch.device("cuda")).name == n for n in FUSED_KERNELS)
    with pytest.raises(ValueError, match="qk must be"):
        fused.FusedKernel(qk="int4")
    with pytest.raises(ValueError, match="qk must be"):
        fused.FusedKernel(pv="int8")
    # FP8 products need Ada/Hopper, INT8 Ampere (vidlong.apply refuses an older GPU in one line)
    assert [required_capability(*FUSED_KERNELS[n]) for n in FUSED_KERNELS] == [(0, 0), (8, 9), (8, 0), (8, 9), (8, 9), (0, 0)]
    # "fused" takes the Gluon kernel where it can (Hopper, head size 128); "fused-triton" never does
    assert make_kernel("fused", torch.device("cuda")).warp_specialized is None
    assert make_kernel("fused-triton", torch.device("cuda")).warp_specialized is False


def test_a_quantized_kernel_on_a_cpu_model_is_refused_in_one_line(monkeypatch):
    from conftest import tiny_transformer

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(VidlongError, match="kernel='fused-int8' runs on CUDA"):
        vidlong.apply(tiny_transformer(), vidlong.UltraViCo(), native_frames=NATIVE, kernel="fused-int8")


def test_transformer_with_a_quantized_kernel_stays_close_to_the_dense_kernel():
    from conftest import tiny_transformer, transformer_inputs

    outs = {}
    for kernel in ("fused-int8", "dense"):
        model = tiny_transformer(head_dim=32).to(DEVICE)
        vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE, kernel=kernel)
        inputs = {k: v.to(DEVICE) if torch.is_tensor(v) else v for k, v in transformer_inputs(8).items()}
        with torch.no_grad():
            outs[kernel] = model(**inputs)[0]
    assert 1e-5 < rel_err(outs["fused-int8"], outs["dense"]) < 0.05


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
@pytest.mark.parametrize("name", [n for n in FUSED_KERNELS if FUSED_KERNELS[n] != (None, None)])
@pytest.mark.parametrize("plan_name", ["decay", "both"])
def test_quantized_kernels_in_bf16_at_wan_head_size_on_cuda(name, plan_name):
    """Compiled for the device (128-query blocks straddling frames of 35 tokens, head size 128, bf16):
    INT8 logits within 1.5x the error of the published kernel's INT8 rounding (emulated, float64), every
    path within 0.1 of the float64 output (the module's mark skips GPUs without FP8 units)."""
    layout = TokenLayout(16, 5, 7, NATIVE)
    plan = build_plan(layout, PLANS[plan_name])
    q, k, v = qkv(layout, dim=128, batch=2)
    exact = run_plan(q.double(), k.double(), v.double(), plan, DenseKernel())
    out = run_plan(q.bfloat16(), k.bfloat16(), v.bfloat16(), plan, make_kernel(name, q.device))
    recipe = run_plan(*dequantized(q, k, "int8", block=128), v.double(), plan, DenseKernel())
    if FUSED_KERNELS[name] == ("int8", None):
        assert rel_err(out, exact) < 1.5 * rel_err(recipe, exact)
    assert rel_err(out, exact) < 0.1
