"""FreeLong++ spectral fusion against float64 references."""
import dataclasses

import pytest
import torch

import vidlong
from vidlong.attention.execute import run_plan
from vidlong.attention.fusion import fuse_bands
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan
from vidlong.schedulers.bands import default_cutoffs, make_bands
from vidlong.schedulers.windows import branch_windows
from reference import (band_fusion, gaussian_lowpass_shifted, local_window_allowed, plain_attention, rel_err,
                       sinks_window_attention, ultravico_attention)

NATIVE = 3


@pytest.mark.parametrize("grid", [(12, 3, 4), (9, 5, 5), (8, 4, 6)])
@pytest.mark.parametrize("cutoffs", [(0.25,), (0.1, 0.3), (0.05, 0.2, 0.6)])
def test_band_filters_partition_unity(grid, cutoffs):
    filters = make_bands(*grid, cutoffs, 0.25).dense(torch.float64)
    assert filters.shape == (len(cutoffs) + 1, *grid)
    assert torch.allclose(filters.sum(0), torch.ones((), dtype=torch.float64), atol=1e-12)
    assert (filters >= -1e-12).all()


@pytest.mark.parametrize("grid", [(12, 3, 4), (9, 5, 5)])
@pytest.mark.parametrize("cutoffs", [(0.25,), (0.1, 0.3), (0.05, 0.2, 0.6)])
def test_fusion_matches_float64_reference(grid, cutoffs):
    layout = TokenLayout(grid[0], grid[1], grid[2], NATIVE)
    outputs = [torch.randn(2, layout.num_tokens, 2, 3) for _ in range(len(cutoffs) + 1)]
    fused = fuse_bands(outputs, make_bands(*grid, cutoffs, 0.25), layout)
    ref = band_fusion(outputs, *grid, cutoffs, 0.25)
    assert rel_err(fused, ref) < 1e-6


def test_identity_when_branches_equal():
    layout = TokenLayout(12, 3, 4, NATIVE)
    out = torch.randn(1, layout.num_tokens, 2, 4)
    fused = fuse_bands([out, out.clone(), out.clone()], make_bands(12, 3, 4, (0.1, 0.3), 0.25), layout)
    assert (fused - out).abs().max() < 1e-6


def test_two_branches_is_freelong_gaussian_blend():
    """K = 2: fused = IFFT(G·FFT(O_g) + (1 - G)·FFT(O_l)), FreeLong's SpectralBlend, d_s = d_t = 0.25."""
    f, h, w = 12, 4, 4
    layout = TokenLayout(f, h, w, NATIVE)
    o_g, o_l = torch.randn(1, layout.num_tokens, 2, 3), torch.randn(1, layout.num_tokens, 2, 3)
    g = gaussian_lowpass_shifted(f, h, w, 0.25, 0.25)
    to_grid = lambda o: o.double().reshape(1, f, h, w, 6).permute(0, 4, 1, 2, 3)
    spec = lambda o: torch.fft.fftshift(torch.fft.fftn(to_grid(o), dim=(-3, -2, -1)), dim=(-3, -2, -1))
    blend = torch.fft.ifftn(torch.fft.ifftshift(g * spec(o_g) + (1 - g) * spec(o_l), dim=(-3, -2, -1)), dim=(-3, -2, -1)).real
    ref = blend.permute(0, 2, 3, 4, 1).reshape(1, -1, 2, 3)
    assert rel_err(fuse_bands([o_g, o_l], make_bands(f, h, w, (0.25,), 0.25), layout), ref) < 1e-6


def test_band_energy_comes_from_its_branch():
    """Each branch supplies only its band: a branch that is zero contributes nothing to the spectrum,
    and the fused spectrum at DC equals the global branch's."""
    layout = TokenLayout(16, 4, 4, NATIVE)
    grid = (16, 4, 4)
    bands = make_bands(*grid, (0.1, 0.4), 0.25)
    filters = bands.dense(torch.float64)
    outputs = [torch.randn(1, layout.num_tokens, 1, 2, dtype=torch.float64) for _ in range(3)]
    fused = fuse_bands(outputs, bands, layout)
    spec = lambda o: torch.fft.fftn(o.reshape(1, *grid, 2), dim=(1, 2, 3))
    expected = sum(filters[k].unsqueeze(-1) * spec(outputs[k]) for k in range(3))
    assert torch.allclose(spec(fused), expected, atol=1e-9)
    assert torch.allclose(spec(fused)[0, 0, 0, 0], spec(outputs[0])[0, 0, 0, 0], atol=1e-9)  # DC: H_1 = 1
    per_band = [(filters[k].unsqueeze(-1) * spec(fused)).abs().pow(2).sum() for k in range(3)]
    assert all(e > 0 for e in per_band)


def test_windows_and_default_cutoffs():
    assert branch_windows(12, 3, (2, 1)) == (None, 6, 3)
    assert branch_windows(6, 3, (2, 1)) == (None, 3)  # 2L spans the whole video: dropped
    assert branch_windows(3, 3, (2, 1)) == (None,)
    assert default_cutoffs((None, 6, 3), 3) == (0.125, 0.25)


@pytest.mark.parametrize("windows", [(1,), (2, 1), (4, 2, 1)])
def test_fused_attention_matches_reference(windows):
    """Windowed branches + fusion vs float64 dense attention with explicit window masks."""
    frames, h, w = 4 * NATIVE, 2, 3
    layout = TokenLayout(frames, h, w, NATIVE)
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 8, generator=gen) for _ in range(3))
    method = vidlong.SpectralFusion(windows=windows)
    plan = build_plan(layout, [method])
    out = run_plan(q, k, v, plan, DenseKernel())
    branches = [plain_attention(q, k, v)] + [
        plain_attention(q, k, v, local_window_allowed(frames, h * w, win)) for win in plan.windows[1:]
    ]
    cutoffs = [0.25 * NATIVE / win for win in plan.windows[1:]]
    ref = band_fusion(branches, frames, h, w, cutoffs, 0.25)
    assert rel_err(out, ref) < 1e-5


@pytest.mark.parametrize("anchors, frames_seen", [(1 / 3, 1), (2 / 3, 2), (1.0, 3)])
def test_anchored_windows_match_reference(anchors, frames_seen):
    """`SpectralFusion(anchors=...)`: every local window also sees the video's first round(anchors·L) frames;
    with UltraViCo in every branch (the `both-anchored` method) against float64 dense attention."""
    from vidlong.attention.kernels import fused

    frames, h, w = 4 * NATIVE, 2, 3
    layout = TokenLayout(frames, h, w, NATIVE)
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 8, generator=gen) * 2 for _ in range(3))
    decay, fusion = vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(2, 1), anchors=anchors)
    plan = build_plan(layout, [decay, fusion])
    assert plan.anchor_frames == frames_seen
    out = run_plan(q, k, v, plan, DenseKernel())
    tpf = h * w
    anchor_keys = (torch.arange(layout.num_tokens) // tpf < frames_seen).view(1, -1)
    branches = [ultravico_attention(q, k, v, frames, tpf, NATIVE, 0.8)] + [
        ultravico_attention(q, k, v, frames, tpf, NATIVE, 0.8, allowed=local_window_allowed(frames, tpf, win) | anchor_keys)
        for win in (2 * NATIVE, NATIVE)]
    assert rel_err(out, band_fusion(branches, frames, h, w, (0.125, 0.25), 0.25)) < 1e-5
    plain = run_plan(q, k, v, build_plan(layout, [decay, vidlong.SpectralFusion(windows=(2, 1))]), DenseKernel())
    assert rel_err(out, plain) > 1e-3
    assert not fused.supports(plan, q.transpose(1, 2).cuda() if torch.cuda.is_available() else q.transpose(1, 2))
    assert build_plan(layout, [vidlong.SpectralFusion(windows=(2, 1))]).anchor_frames == 0
    assert build_plan(TokenLayout(NATIVE, h, w, NATIVE), [fusion]).anchor_frames == 0  # no local window at 1x
    assert vidlong.methods.methods_for("both-anchored", "4x")[1].anchors == pytest.approx(1 / 3)
    assert vidlong.methods.methods_for("freelong-anchored")[0] == vidlong.SpectralFusion(anchors=1 / 3)
    for bad in (-0.1, 1.5, "a third"):
        with pytest.raises(vidlong.VidlongError, match="anchors must be a multiple of the native length"):
            vidlong.SpectralFusion(anchors=bad)


def test_composition_matches_reference():
    """UltraViCo decay inside every FreeLong++ branch, then fusion."""
    frames, h, w = 4 * NATIVE, 2, 3
    layout = TokenLayout(frames, h, w, NATIVE)
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 8, generator=gen) * 2 for _ in range(3))
    k = k + 0.5
    decay, fusion = vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(2, 1))
    out = run_plan(q, k, v, build_plan(layout, [decay, fusion]), DenseKernel())
    tpf = h * w
    branches = [ultravico_attention(q, k, v, frames, tpf, NATIVE, 0.8)] + [
        ultravico_attention(q, k, v, frames, tpf, NATIVE, 0.8, allowed=local_window_allowed(frames, tpf, win))
        for win in (2 * NATIVE, NATIVE)
    ]
    ref = band_fusion(branches, frames, h, w, (0.125, 0.25), 0.25)
    assert rel_err(out, ref) < 1e-5
    decay_only = run_plan(q, k, v, build_plan(layout, [decay]), DenseKernel())
    assert rel_err(decay_only, ref) > 1e-3


def test_decay_in_the_global_branch_only_matches_reference():
    """`UltraViCo(branches="global")`: decay, guard and centring in the global branch; the local windows
    plain (as neither paper combines them); "auto" routes it to the dense kernel, fused and flex decline."""
    from vidlong.attention.execute import AutoKernel

    frames, h, w = 4 * NATIVE, 2, 3
    layout = TokenLayout(frames, h, w, NATIVE)
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 8, generator=gen) * 2 for _ in range(3))
    k = k + 0.5
    plan = build_plan(layout, [vidlong.UltraViCo(alpha=0.8, branches="global"), vidlong.SpectralFusion(windows=(2, 1))])
    out = run_plan(q, k, v, plan, DenseKernel())
    tpf = h * w
    branches = [ultravico_attention(q, k, v, frames, tpf, NATIVE, 0.8)] + [
        plain_attention(q, k, v, allowed=local_window_allowed(frames, tpf, win)) for win in (2 * NATIVE, NATIVE)]
    assert rel_err(out, band_fusion(branches, frames, h, w, (0.125, 0.25), 0.25)) < 1e-5
    every_branch = run_plan(q, k, v, build_plan(layout, [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(2, 1))]),
                            DenseKernel())
    assert rel_err(out, every_branch) > 1e-3
    assert isinstance(AutoKernel(min_tokens=1).pick(q.transpose(1, 2), k.transpose(1, 2), plan), DenseKernel)
    assert build_plan(layout, [vidlong.UltraViCo(alpha=0.8, branches="global")]).decayed_branches is None  # one branch
    with pytest.raises(vidlong.VidlongError, match="branches must be 'all' or 'global'"):
        vidlong.UltraViCo(branches="local")


def test_explicit_bands_and_presets():
    fusion = vidlong.SpectralFusion(windows=(1, 2), bands=(0.3, 0.1))
    assert fusion.windows == (2.0, 1.0)
    layout = TokenLayout(12, 2, 2, NATIVE)
    bands = fusion.bands_for(layout, fusion.windows_for(layout))
    assert torch.allclose(bands.dense(), make_bands(12, 2, 2, (0.1, 0.3), 0.25).dense())
    assert vidlong.SpectralFusion.preset("8x").windows == (4.0, 2.0, 1.0)
    assert vidlong.UltraViCo.preset("4x") == vidlong.load_preset("4x")["ultravico"] == vidlong.UltraViCo(alpha=0.9)
    for method in (vidlong.SpectralFusion, vidlong.UltraViCo):
        with pytest.raises(vidlong.VidlongError, match="unknown preset"):
            method.preset("5x")


def _rotated_inputs(layout, seed: int, head_dim: int = 12):
    """(q, k rotated at their own frames, v, raw k, Wan's RoPE module, rope_at) in float64, where
    ``rope_at(x [B, n, H, D], frame_positions)`` rotates x as tokens of those frames of `layout`'s grid."""
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed
    from vidlong.attention.rope import apply_wan_rotary, wan_rotary_at

    rope = WanRotaryPosEmbed(head_dim, (1, 2, 2), 64)

    def rope_at(x, positions):
        cos, sin = wan_rotary_at(rope, positions, layout.height, layout.width)
        return apply_wan_rotary(x, cos.double(), sin.double())

    gen = torch.Generator().manual_seed(seed)
    q_raw, k_raw, v = (torch.randn(1, layout.num_tokens, 2, head_dim, generator=gen, dtype=torch.float64) for _ in range(3))
    own = torch.arange(layout.frames)
    return rope_at(q_raw, own), rope_at(k_raw, own), v, k_raw, rope, rope_at


@pytest.mark.parametrize("method, window", [(vidlong.SlidingWindow(window=2 / 3, anchors=1 / 3, anchor_positions="adjacent"), 2),
                                            (vidlong.SlidingWindow(window=1, anchors=2 / 3, anchor_positions="adjacent"), 3)])
def test_a_window_with_sinks_matches_reference(method, window):
    """`anchor_positions="adjacent"`: every window sees the video's first frames re-placed (RoPE) at the
    frames just before it, as a stream's sinks; against float64 attention with the keys rotated at
    those positions from their raw values (RoPE's move by a rotation is not what the reference uses)."""
    from vidlong.attention.execute import AutoKernel
    from vidlong.attention.rope import wan_temporal_shift

    layout = TokenLayout(4 * NATIVE, 2, 3, NATIVE)
    q, k, v, k_raw, rope, rope_at = _rotated_inputs(layout, seed=3)
    plan = build_plan(layout, [method], wan_temporal_shift(rope))
    assert plan.windows == (window,) and plan.anchor_shift is not None
    out = run_plan(q, k, v, plan, DenseKernel())
    anchors = plan.anchor_frames
    ref = sinks_window_attention(q, k_raw, v, layout.frames, layout.tokens_per_frame, window, anchors, rope_at)
    assert rel_err(out, ref) < 1e-6
    at_own_positions = run_plan(q, k, v, build_plan(layout, [dataclasses.replace(method, anchor_positions="own")]), DenseKernel())
    assert rel_err(at_own_positions, ref) > 1e-3
    assert AutoKernel().pick(q.transpose(1, 2), k.transpose(1, 2), plan).name == "dense"


def test_fusion_with_sinks_matches_reference():
    """The `both-sinks` layout: UltraViCo in the global branch only, each local window with the first
    third re-placed just before it; band fusion as always (float64 reference, float32 run)."""
    from vidlong.attention.rope import wan_temporal_shift

    layout = TokenLayout(4 * NATIVE, 2, 3, NATIVE)
    q, k, v, k_raw, rope, rope_at = _rotated_inputs(layout, seed=4)
    decay, fusion = vidlong.methods.methods_for("both-sinks", "4x")
    assert fusion.anchor_positions == "adjacent" and fusion.anchors == pytest.approx(1 / 3)
    plan = build_plan(layout, [decay, fusion], wan_temporal_shift(rope))
    assert plan.decayed_branches == 1 and plan.anchor_frames == 1
    out = run_plan(q.float(), k.float(), v.float(), plan, DenseKernel())
    tpf = layout.tokens_per_frame
    branches = [ultravico_attention(q, k, v, layout.frames, tpf, NATIVE, decay.alpha)] + [
        sinks_window_attention(q, k_raw, v, layout.frames, tpf, win, 1, rope_at) for win in (2 * NATIVE, NATIVE)]
    assert rel_err(out, band_fusion(branches, layout.frames, 2, 3, default_cutoffs((None, 2 * NATIVE, NATIVE), NATIVE), 0.25)) < 1e-5


def test_sinks_need_a_movable_rope_and_the_dense_kernel():
    """One line each: a family whose RoPE vidlong cannot move, a kernel other than auto/dense, an unknown
    position rule; the flex kernel refuses such a plan outright."""
    from vidlong.attention.kernels.flex import FlexKernel
    from conftest import tiny_transformer

    sinks = vidlong.SlidingWindow(window=2 / 3, anchors=1 / 3, anchor_positions="adjacent")
    layout = TokenLayout(4 * NATIVE, 2, 3, NATIVE)
    with pytest.raises(vidlong.VidlongError, match="needs a family whose RoPE"):
        build_plan(layout, [sinks])
    with pytest.raises(vidlong.VidlongError, match="runs on the dense kernel"):
        vidlong.apply(tiny_transformer(), sinks, native_frames=NATIVE, kernel="fused")
    with pytest.raises(vidlong.VidlongError, match="anchor_positions must be one of own, adjacent"):
        vidlong.SpectralFusion(anchors=1 / 3, anchor_positions="next")
    plan = build_plan(layout, [sinks], lambda keys, frames: keys)
    q = torch.zeros(1, 2, layout.num_tokens, 8)
    with pytest.raises(ValueError, match="anchors at their own positions only"):
        FlexKernel()(q, q, q, plan)
