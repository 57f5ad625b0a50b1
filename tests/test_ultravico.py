"""UltraViCo decay against the float64 reference written from the formula."""
import pytest
import torch

import vidlong
from vidlong.attention.execute import run_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan
from conftest import tiny_transformer, transformer_inputs
from reference import rel_err, ultravico_attention

NATIVE, HEIGHT, WIDTH = 4, 2, 3  # latent frames; token grid per frame


def qkv(frames, seed=0, offset=0.3):
    gen = torch.Generator().manual_seed(seed)
    n = frames * HEIGHT * WIDTH
    # an offset on the keys makes mean-centring matter
    q, k, v = (torch.randn(2, n, 3, 8, generator=gen) for _ in range(3))
    return q * 2, k * 2 + offset, v


@pytest.mark.parametrize("ratio", [1, 2, 4])
@pytest.mark.parametrize("region", ["token", "frame"])
@pytest.mark.parametrize("guard, center", [(True, True), (False, False), (True, False), (False, True)])
def test_matches_float64_reference(ratio, region, guard, center):
    frames = NATIVE * ratio
    method = vidlong.UltraViCo(alpha=0.7, region=region, guard_first_frame=guard, center_keys=center)
    layout = TokenLayout(frames, HEIGHT, WIDTH, NATIVE)
    q, k, v = qkv(frames)
    out = run_plan(q, k, v, build_plan(layout, [method]), DenseKernel())
    ref = ultravico_attention(q, k, v, frames, HEIGHT * WIDTH, NATIVE, 0.7, region, guard, center)
    assert out.dtype == torch.float32
    assert rel_err(out, ref) < 1e-5
    # and the decay is not a no-op: plain attention differs from it
    plain = ultravico_attention(q, k, v, frames, HEIGHT * WIDTH, NATIVE, 1.0, region, False, False)
    assert rel_err(plain, ref) > 1e-3


def test_guard_hides_far_keys_from_first_frame():
    frames = 3 * NATIVE
    layout = TokenLayout(frames, HEIGHT, WIDTH, NATIVE)
    q, k, v = qkv(frames)
    v_far = v.clone()
    v_far[:, NATIVE * HEIGHT * WIDTH :] += 100.0  # change every value beyond the native window
    plan = build_plan(layout, [vidlong.UltraViCo(guard_first_frame=True)])
    first = slice(0, HEIGHT * WIDTH)
    a = run_plan(q, k, v, plan, DenseKernel())[:, first]
    b = run_plan(q, k, v_far, plan, DenseKernel())[:, first]
    assert torch.equal(a, b)
    unguarded = build_plan(layout, [vidlong.UltraViCo(guard_first_frame=False)])
    assert not torch.allclose(run_plan(q, k, v, unguarded, DenseKernel())[:, first],
                              run_plan(q, k, v_far, unguarded, DenseKernel())[:, first])


def test_token_and_frame_regions_differ():
    frames = 2 * NATIVE
    layout = TokenLayout(frames, HEIGHT, WIDTH, NATIVE)
    q, k, v = qkv(frames)
    outs = [run_plan(q, k, v, build_plan(layout, [vidlong.UltraViCo(region=r)]), DenseKernel()) for r in ("token", "frame")]
    assert rel_err(outs[0], outs[1]) > 1e-4


def test_transformer_float32_matches_float64():
    """The whole transformer with UltraViCo: float32 path vs the same model in float64."""
    frames = 3 * NATIVE
    outs = []
    for dtype in (torch.float32, torch.float64):
        model = tiny_transformer().to(dtype)
        vidlong.apply(model, vidlong.UltraViCo(alpha=0.8), native_frames=NATIVE, kernel="dense")
        with torch.no_grad():
            outs.append(model(**transformer_inputs(frames, dtype=dtype))[0])
    assert rel_err(outs[0], outs[1]) < 1e-5


@pytest.mark.parametrize("bad", [dict(alpha=0.0), dict(alpha=1.5), dict(region="pixel")])
def test_bad_settings_are_user_errors(bad):
    with pytest.raises(vidlong.VidlongError):
        vidlong.UltraViCo(**bad)
