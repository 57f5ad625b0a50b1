"""The fused Triton kernel against the float64 dense reference (Triton's interpreter on CPU)."""
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import vidlong
from vidlong.attention.execute import AutoKernel, run_plan
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.attention.plan import AttentionPlan
from vidlong.plans import build_plan
from reference import joint_method_attention, rel_err
from triton_interpreter import DEVICE

fused = pytest.importorskip("vidlong.attention.kernels.fused")
pytestmark = pytest.mark.skipif(fused.triton is None, reason="needs Triton")

NATIVE = 4
CASES = [  # (methods, frames, grid, native frames, block_m, block_n)
    ([vidlong.UltraViCo(alpha=0.6)], 4, (2, 3), NATIVE, 16, 16),                                   # 1x: token region only
    ([vidlong.UltraViCo(alpha=0.6)], 8, (2, 3), NATIVE, 16, 16),                                   # 2x: guard + centring
    ([vidlong.UltraViCo(alpha=0.6)], 16, (2, 3), NATIVE, 32, 16),                                  # 4x
    ([vidlong.UltraViCo(alpha=0.6, region="frame", center_keys=False)], 16, (2, 3), NATIVE, 16, 32),
    ([vidlong.UltraViCo(alpha=0.6, guard_first_frame=False)], 8, (3, 3), NATIVE, 16, 16),
    ([vidlong.SpectralFusion(windows=(1,))], 8, (2, 3), NATIVE, 16, 16),                           # FreeLong: K = 2
    ([vidlong.SpectralFusion(windows=(2, 1))], 16, (2, 3), NATIVE, 16, 16),                        # K = 3
    ([vidlong.UltraViCo(alpha=0.6), vidlong.SpectralFusion(windows=(2, 1))], 16, (2, 5), NATIVE, 32, 32),
    ([vidlong.SlidingWindow(1.0)], 9, (2, 2), NATIVE, 16, 16),
    ([vidlong.UltraViCo(alpha=0.6), vidlong.SpectralFusion(windows=(8, 4, 2, 1))], 16, (1, 2), 1, 16, 16),  # K = 5: the 16x preset's bands
    # 34 tokens per native window: a block pair 17 tokens apart sits exactly on the region's edge
    ([vidlong.UltraViCo(alpha=0.6, guard_first_frame=False)], 6, (1, 17), 2, 16, 16),
    # 28 tokens: block pairs whose farthest tokens are 15 apart hold far pairs only at that distance
    ([vidlong.UltraViCo(alpha=0.6, guard_first_frame=False)], 8, (1, 7), NATIVE, 16, 16),
]


def qkv(layout, batch=2, heads=2, dim=16, seed=0):
    """``[B, N, H, D]`` tensors (the processor's layout); keys off-centre so centring matters."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(batch, layout.num_tokens, heads, dim, generator=gen) for _ in range(3))
    return q.to(DEVICE), (k + 0.5).to(DEVICE), v.to(DEVICE)


#: with the keys and values read through tensor descriptors too: the decay with the guard and centring,
#: and the 3-branch fusion with the decay
DESCRIPTOR_CASES = [CASES[i] for i in (1, 7)]


@pytest.mark.parametrize("methods, frames, grid, native, block_m, block_n, tma",
                         [(*case, False) for case in CASES] + [(*case, True) for case in DESCRIPTOR_CASES])
def test_every_branch_matches_the_float64_reference(methods, frames, grid, native, block_m, block_n, tma):
    layout = TokenLayout(frames, *grid, native)
    plan = build_plan(layout, methods)
    assert fused.supports(plan, torch.empty(1, 1, layout.num_tokens, 16))
    # two batches in the 1x case (their strides), one elsewhere: the interpreter runs every program on the CPU
    q, k, v = qkv(layout, batch=2 if frames == CASES[0][1] else 1)
    heads_first = [t.transpose(1, 2) for t in (q, k, v)]  # strided [B, H, N, D] views, as run_plan passes
    outputs = fused.FusedKernel(block_m, block_n, tma=tma)(*heads_first, plan)
    references = DenseKernel(compute_dtype=torch.float64)(*(t.double() for t in heads_first), plan)
    assert len(outputs) == plan.num_branches
    for out, ref in zip(outputs, references):
        assert out.shape == ref.shape and out.dtype == q.dtype
        assert rel_err(out, ref) < 1e-5
    fused_plan = run_plan(q, k, v, plan, fused.FusedKernel(block_m, block_n))
    assert rel_err(fused_plan, run_plan(q.double(), k.double(), v.double(), plan, DenseKernel())) < 1e-5


def test_descriptors_are_refused_in_one_line_without_them_in_triton(monkeypatch):
    """Triton before 3.4 has no tensor descriptors: asked for, they are refused naming the version;
    by default the kernel reads by pointers."""
    layout = TokenLayout(4, 2, 3, NATIVE)
    plan = build_plan(layout, [vidlong.UltraViCo(alpha=0.6)])
    q, k, v = (t.transpose(1, 2) for t in qkv(layout, batch=1, heads=1))
    monkeypatch.setattr(fused, "TensorDescriptor", None)
    with pytest.raises(RuntimeError, match="Triton 3.4"):
        fused.FusedKernel(16, 16, tma=True)(q, k, v, plan)
    assert fused.FusedKernel(16, 16)(q, k, v, plan)[0].shape == q.shape


def test_the_decay_and_its_centring_change_the_output():
    """The reference match above is not a match of plain attention: each part moves the result."""
    layout = TokenLayout(8, 2, 3, NATIVE)
    q, k, v = (t.transpose(1, 2) for t in qkv(layout))
    kernel = fused.FusedKernel(16, 16)
    full, uncentred, plain = (kernel(q, k, v, build_plan(layout, m))[0] for m in (
        [vidlong.UltraViCo(alpha=0.6)], [vidlong.UltraViCo(alpha=0.6, center_keys=False)], []))
    assert rel_err(full, plain) > 1e-2 and rel_err(full, uncentred) > 1e-3


def test_plans_outside_its_rules_are_declined_and_auto_routes_them_elsewhere():
    layout = TokenLayout(8, 2, 3, NATIVE)
    q, k, v = (t.transpose(1, 2) for t in qkv(layout))
    custom = AttentionPlan(layout, base_mask=lambda b, h, q_idx, kv_idx: q_idx >= kv_idx, key="causal")
    supported = build_plan(layout, [vidlong.UltraViCo()])
    assert not fused.supports(custom, q) and fused.supports(supported, q)
    assert not fused.supports(supported, torch.empty(1, 1, layout.num_tokens, 12))   # head dim not a power of 2
    with pytest.raises(ValueError, match="cannot run this plan"):
        fused.FusedKernel()(q, k, v, custom)
    auto = AutoKernel()
    assert auto.pick(q, k, supported).name == "fused"
    assert auto.pick(q, k, custom).name == "dense"           # below the FlexAttention threshold
    (out,) = auto(q, k, v, custom)
    assert torch.equal(out, DenseKernel()(q, k, v, custom)[0])


def test_transformer_with_the_fused_kernel_matches_the_dense_kernel():
    from conftest import tiny_transformer, transformer_inputs

    outs = []
    for kernel in ("fused", "dense"):
        model = tiny_transformer().to(DEVICE)
        vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,)), native_frames=NATIVE, kernel=kernel)
        inputs = {k: v.to(DEVICE) if torch.is_tensor(v) else v for k, v in transformer_inputs(8).items()}
        with torch.no_grad():
            outs.append(model(**inputs)[0])
    assert rel_err(outs[0], outs[1]) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
@pytest.mark.parametrize("methods", [
    [vidlong.UltraViCo()],
    [vidlong.SpectralFusion(windows=(2, 1))],
    [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))],
])
@pytest.mark.parametrize("tma", [False, True], ids=["pointers", "descriptors"])
def test_bf16_with_the_default_launch_settings_on_cuda(methods, tma):
    """Wan's head size, 128-query blocks straddling frames of 35 tokens, bf16 against float32 dense,
    keys and values read by pointers and by Hopper's bulk copies (the Triton kernel, which the default
    leaves for the Gluon one on Hopper: that is tested below)."""
    layout = TokenLayout(16, 5, 7, NATIVE)
    q, k, v = (t.to(DEVICE) for t in qkv(layout, batch=1, heads=2, dim=128))
    plan = build_plan(layout, methods)
    out = run_plan(q.bfloat16(), k.bfloat16(), v.bfloat16(), plan, fused.FusedKernel(tma=tma, warp_specialized=False))
    assert rel_err(out, run_plan(q, k, v, plan, DenseKernel())) < 1e-2


def _on_hopper_with_gluon() -> bool:
    return DEVICE == "cuda" and fused.hopper.gluon is not None and torch.cuda.get_device_capability()[0] == 9


@pytest.mark.gpu
@pytest.mark.skipif(not _on_hopper_with_gluon(), reason="needs a Hopper GPU and Triton with Gluon")
@pytest.mark.parametrize("methods, grid, dim, dtype", [
    ([], (5, 7), 128, torch.bfloat16),
    ([vidlong.UltraViCo()], (5, 7), 128, torch.bfloat16),                                     # guard + centring
    ([vidlong.UltraViCo(region="frame", center_keys=False)], (5, 7), 128, torch.float16),
    ([vidlong.UltraViCo(guard_first_frame=False)], (3, 23), 64, torch.bfloat16),
    ([vidlong.UltraViCo(alpha=0.6)], (30, 52), 128, torch.bfloat16),                          # Wan's 1560 tokens a frame
    ([vidlong.SpectralFusion(windows=(2, 1))], (5, 7), 128, torch.bfloat16),                  # rings
    ([vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))], (3, 23), 128, torch.bfloat16),
    ([vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1, 0.5))], (5, 7), 64, torch.bfloat16),      # K = 4
])
def test_warp_specialized_hopper_kernel_matches_the_float64_reference(methods, grid, dim, dtype):
    """The Gluon kernel (`hopper`): every branch, sequences that end inside a key block and a query
    program, both query halves, 64 and 128 channels, against the float64 dense plan and the Triton kernel."""
    layout = TokenLayout(16 if grid[0] * grid[1] < 1000 else 5, *grid, NATIVE)
    q, k, v = qkv(layout, batch=2, heads=3, dim=dim)
    plan = build_plan(layout, methods)
    heads_first = [t.to(dtype).transpose(1, 2) for t in (q, k, v)]
    outputs = fused.FusedKernel(warp_specialized=True)(*heads_first, plan)
    references = DenseKernel(compute_dtype=torch.float64)(*(t.double().transpose(1, 2) for t in (q, k, v)), plan)
    triton_outputs = fused.FusedKernel(warp_specialized=False)(*heads_first, plan)
    assert len(outputs) == plan.num_branches
    for out, reference, triton_out in zip(outputs, references, triton_outputs):
        assert out.dtype == dtype and out.shape == reference.shape
        assert rel_err(out, reference) < 1e-2
        assert rel_err(out, triton_out) < 1e-2


@pytest.mark.skipif(fused.hopper.gluon is None, reason="needs Triton with Gluon")
@pytest.mark.parametrize("case", [0, 1, 2], ids=["plain", "both", "decay-64"])
def test_the_warp_specialized_kernel_builds_for_an_h100_without_a_gpu(case):
    """The Gluon kernel that `FusedKernel` would launch on a Hopper GPU (its inputs as `FusedKernel` makes
    them: `hopper_build.py`) compiles here to an sm_90a binary within the H100's 227 KB of shared memory a
    block: a change to `hopper` that breaks its build fails here, not first on a GPU (where the default
    would fall back to the Triton kernel)."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    command = [sys.executable, str(Path(__file__).with_name("hopper_build.py")), str(case)]
    built = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert built.returncode == 0, built.stderr[-2000:]
    assert 0 < int(built.stdout.split()[-1]) <= 227 * 1024


def test_the_default_runs_the_triton_kernel_from_then_on_where_the_gluon_kernel_does_not_build(monkeypatch):
    """Gluon is experimental: where `hopper`'s kernel does not build (another Triton), the default
    (``warp_specialized=None``) warns once and runs the Triton kernel, the same output, from then on;
    ``warp_specialized=True`` raises the build error."""
    layout = TokenLayout(8, 2, 3, NATIVE)
    plan = build_plan(layout, [vidlong.UltraViCo(alpha=0.6)])
    q, k, v = (t.transpose(1, 2) for t in qkv(layout, batch=1, dim=128))
    builds = []

    def does_not_build(*args):
        builds.append(args)
        raise fused.TritonError("PassManager::run failed")

    monkeypatch.setattr(fused.FusedKernel, "_gluon_can_run", lambda self, *inputs: True)  # as on a Hopper GPU
    monkeypatch.setattr(fused.hopper, "fused_attention", does_not_build)
    monkeypatch.setattr(fused.FusedKernel, "gluon_failure", None)
    triton_output = fused.FusedKernel(warp_specialized=False)(q, k, v, plan)[0]
    with pytest.warns(RuntimeWarning, match="Gluon kernel did not build .*PassManager::run failed"):
        first = fused.FusedKernel()(q, k, v, plan)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = fused.FusedKernel()(q, k, v, plan)[0]
    assert len(builds) == 1
    assert torch.equal(first, triton_output) and torch.equal(second, triton_output)
    with pytest.raises(fused.TritonError, match="PassManager"):
        fused.FusedKernel(warp_specialized=True)(q, k, v, plan)


@pytest.mark.parametrize("error", [RuntimeError("Triton Error [CUDA]: an illegal memory access was encountered"),
                                   torch.cuda.OutOfMemoryError("CUDA out of memory")], ids=["cuda-error", "out-of-memory"])
def test_a_gpu_failure_in_the_gluon_kernel_is_raised_not_taken_for_a_build_failure(monkeypatch, error):
    """A CUDA error or out of memory is the GPU's failure, not this Triton's: raised, and the Gluon
    kernel stays the default's choice."""
    layout = TokenLayout(4, 2, 3, NATIVE)
    q, k, v = (t.transpose(1, 2) for t in qkv(layout, batch=1, dim=128))

    def fails_on_the_gpu(*args):
        raise error

    monkeypatch.setattr(fused.FusedKernel, "_gluon_can_run", lambda self, *inputs: True)
    monkeypatch.setattr(fused.hopper, "fused_attention", fails_on_the_gpu)
    monkeypatch.setattr(fused.FusedKernel, "gluon_failure", None)
    with pytest.raises(type(error)):
        fused.FusedKernel()(q, k, v, build_plan(layout, []))
    assert fused.FusedKernel.gluon_failure is None


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
def test_float32_at_head_size_128_with_the_default_launch_settings_on_cuda():
    """float32 inputs at head size 128 (Sana-WM's camera branch keeps its q, k, v in float32), the decay with the 3-branch
    fusion, against the dense kernel: with three stages its blocks passed an H100's shared memory (Triton's OutOfResources)."""
    layout = TokenLayout(16, 5, 7, NATIVE)
    q, k, v = (t.to(DEVICE) for t in qkv(layout, batch=1, heads=2, dim=128))
    plan = build_plan(layout, [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(2, 1))])
    assert rel_err(run_plan(q, k, v, plan, fused.FusedKernel()), run_plan(q, k, v, plan, DenseKernel())) < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
def test_inside_torch_compile_on_cuda():
    """A transformer with UltraViCo + FreeLong++ on the fused kernel, each block compiled by diffusers'
    `compile_repeated_blocks` (Inductor then launches the Triton kernel itself): the eager output."""
    from conftest import tiny_transformer, transformer_inputs

    model = tiny_transformer(head_dim=64).to(DEVICE)
    vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,)), native_frames=NATIVE, kernel="fused")
    inputs = {k: v.to(DEVICE) if torch.is_tensor(v) else v for k, v in transformer_inputs(8).items()}
    with torch.no_grad():
        eager = model(**inputs)[0]
        torch._dynamo.reset()
        model.compile_repeated_blocks()
        compiled = model(**inputs)[0]
    assert rel_err(compiled, eager) < 1e-4


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda" or fused.TensorDescriptor is None or torch.cuda.get_device_capability()[0] != 9,
                    reason="needs a Hopper GPU and Triton's tensor descriptors")
def test_compiled_bf16_blocks_build_tensor_descriptors_on_hopper():
    """bf16 on Hopper: Inductor's code for the compiled blocks builds the keys' and values' tensor
    descriptors itself (`TensorDescriptor.from_tensor`), and the output is the eager one's (which reads
    them by descriptors too) to bf16 rounding."""
    from conftest import tiny_transformer, transformer_inputs
    from torch._inductor.utils import run_and_get_code

    model = tiny_transformer(head_dim=64).to(DEVICE, torch.bfloat16)
    vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,)), native_frames=NATIVE, kernel="fused")
    inputs = {k: v.to(DEVICE) if torch.is_tensor(v) else v for k, v in transformer_inputs(8, dtype=torch.bfloat16).items()}
    with torch.no_grad():
        eager = model(**inputs)[0]
        torch._dynamo.reset()
        model.compile_repeated_blocks()
        compiled, code = run_and_get_code(lambda: model(**inputs)[0])
    assert any("TensorDescriptor.from_tensor" in c for c in code)
    assert rel_err(compiled, eager) < 2e-2


JOINT_METHODS = [[vidlong.UltraViCo(alpha=0.6)], [vidlong.SpectralFusion(windows=(1,))],
                 [vidlong.UltraViCo(alpha=0.6), vidlong.SpectralFusion(windows=(1,))]]


def joint_case(text, grid, frames, batch=1, heads=2, dim=16, device=DEVICE):
    """Joint q/k/v ``[B, T + N, H, D]`` with the T text tokens first; the last 3 text keys padded out in
    batch row 0 (a HunyuanVideo-style mask), keys off-centre."""
    layout = TokenLayout(frames, *grid, NATIVE)
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(batch, text + layout.num_tokens, heads, dim, generator=gen) for _ in range(3))
    visible = torch.ones(batch, text + layout.num_tokens, dtype=torch.bool)
    visible[0, text - 3:text] = False
    return layout, q.to(device), (k + 0.5).to(device), v.to(device), visible.to(device)


@pytest.mark.parametrize("methods", JOINT_METHODS, ids=["decay", "fusion", "both"])
def test_joint_text_keys_in_the_fused_pass_match_the_float64_reference(methods):
    """Text keys (20 of them: more than one key block, with padding) seen by every branch, undecayed."""
    text = 20
    layout, q, k, v, visible = joint_case(text, (2, 3), 4 * NATIVE, batch=2)
    out = run_joint_plan(q, k, v, build_plan(layout, methods), text, visible=visible, kernel=fused.FusedKernel(16, 16))
    dense = run_joint_plan(q.double(), k.double(), v.double(), build_plan(layout, methods), text, visible=visible,
                           kernel=DenseKernel())
    assert rel_err(out, dense) < 1e-5
    if len(methods) == 1:  # the methods' math written out (tests/reference.py)
        assert rel_err(out, joint_method_attention(methods[0], q, k, v, text, layout.frames, (2, 3), NATIVE, visible)) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(DEVICE != "cuda", reason="needs CUDA")
@pytest.mark.parametrize("methods", JOINT_METHODS, ids=["decay", "fusion", "both"])
def test_joint_text_keys_bf16_on_cuda(methods):
    """HunyuanVideo's head size, text last with padding, 128-query blocks, bf16 vs the float32 dense path;
    "auto" picks the fused kernel."""
    text = 40
    layout, q, k, v, visible = joint_case(text, (5, 7), 4 * NATIVE, dim=128)
    plan = build_plan(layout, methods)
    last = [torch.cat([t[:, text:], t[:, :text]], dim=1) for t in (q, k, v, visible)]
    out = run_joint_plan(*(t.bfloat16() for t in last[:3]), plan, text, text_at_end=True, visible=last[3], kernel=AutoKernel())
    dense = run_joint_plan(*last[:3], plan, text, text_at_end=True, visible=last[3], kernel=DenseKernel())
    assert rel_err(out, dense) < 1e-2
