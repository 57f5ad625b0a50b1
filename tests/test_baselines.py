"""Baselines beside the methods: sliding-window attention and RIFLEx."""
import math

import pytest
import torch

import vidlong
from vidlong.attention.execute import run_plan
from vidlong.attention.kernels.dense import DenseKernel
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan
from vidlong.schedulers.riflex import intrinsic_component, temporal_frequencies
from conftest import tiny_transformer, transformer_inputs
from reference import local_window_allowed, plain_attention, rel_err

NATIVE = 4


def test_sliding_window_matches_reference():
    layout = TokenLayout(12, 2, 3, NATIVE)
    q, k, v = (torch.randn(1, layout.num_tokens, 2, 8, generator=torch.Generator().manual_seed(s)) for s in range(3))
    out = run_plan(q, k, v, build_plan(layout, [vidlong.SlidingWindow(1.0)]), DenseKernel())
    ref = plain_attention(q, k, v, local_window_allowed(12, 6, NATIVE))
    assert rel_err(out, ref) < 1e-5
    assert build_plan(TokenLayout(4, 2, 3, NATIVE), [vidlong.SlidingWindow(1.0)]).is_stock
    with pytest.raises(vidlong.VidlongError, match="not both"):
        build_plan(layout, [vidlong.SlidingWindow(), vidlong.SpectralFusion()])


def test_riflex_lowers_only_the_intrinsic_frequency_and_is_removed():
    model = tiny_transformer()
    rope = model.rope
    stock_cos, stock_sin = rope.freqs_cos.clone(), rope.freqs_sin.clone()
    thetas = temporal_frequencies(stock_cos, stock_sin, rope.t_dim)
    j = intrinsic_component(thetas, NATIVE)
    assert abs(2 * math.pi / thetas[j] - NATIVE) == (2 * math.pi / thetas - NATIVE).abs().min()

    with torch.no_grad():
        stock_native = model(**transformer_inputs(NATIVE))[0]
        stock_long = model(**transformer_inputs(3 * NATIVE))[0]
    vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)
    with torch.no_grad():
        assert torch.equal(model(**transformer_inputs(NATIVE))[0], stock_native)  # inside the window: untouched
        long = model(**transformer_inputs(3 * NATIVE))[0]
    assert not torch.allclose(long, stock_long)
    new = temporal_frequencies(rope.freqs_cos, rope.freqs_sin, rope.t_dim)
    assert new[j] == pytest.approx(2 * math.pi / (3 * NATIVE))
    assert torch.equal(torch.cat([new[:j], new[j + 1:]]), torch.cat([thetas[:j], thetas[j + 1:]]))
    vidlong.remove(model)
    assert torch.equal(rope.freqs_cos, stock_cos) and torch.equal(rope.freqs_sin, stock_sin)
    with torch.no_grad():
        assert torch.equal(model(**transformer_inputs(3 * NATIVE))[0], stock_long)


def test_riflex_follows_a_move_of_the_model_after_it_is_applied():
    """A model moved after `apply` (``pipe.to``, model offload: here to float64, as a device move replaces the rope's
    buffers alike) gets RIFLEx's tables where its own are now: a long forward = RIFLEx applied after the move, and
    removal leaves the stock tables as moved."""
    model, moved_first = tiny_transformer(), tiny_transformer()
    vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)
    model.to(torch.float64)
    moved_first.to(torch.float64)
    stock_cos = moved_first.rope.freqs_cos.clone()
    vidlong.apply(moved_first, vidlong.RIFLEx(), native_frames=NATIVE)
    inputs = transformer_inputs(3 * NATIVE, dtype=torch.float64)
    with torch.no_grad():  # the same up to the tables' making in float32 before the move, not in float64 after it
        torch.testing.assert_close(model(**inputs)[0], moved_first(**inputs)[0], rtol=1e-6, atol=1e-6)
    assert model.rope.freqs_cos.dtype == model.rope.freqs_sin.dtype == torch.float64
    vidlong.remove(model)
    assert model.rope.freqs_cos.dtype == torch.float64 and torch.equal(model.rope.freqs_cos, stock_cos)


def test_method_names_cover_the_baselines():
    from vidlong.methods import methods_for

    assert methods_for("direct") == () and methods_for("riflex") == (vidlong.RIFLEx(),)
    assert methods_for("window") == (vidlong.SlidingWindow(),)
