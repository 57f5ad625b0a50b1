"""Sana-Video through its family adapter: linear self-attention (ReLU features, RoPE on q and k in the numerator only, a
normaliser of the unrotated features), softmax cross-attention to the text, a feed-forward that mixes neighbouring frames.
Methods off = the stock model bit for bit; the sliding window and FreeLong++ each equal a float64 reference of linear
attention written as its dense ``[N, N]`` weights (`reference.linear_attention`), and the prefix sums equal it on anchored
windows too; UltraViCo (no softmax logits to damp) refused in one line."""
import pytest
import torch
from conftest import sana_inputs, tiny_sana_transformer
from family_checks import check_float64_reference, check_methods_off_and_removed
from reference import linear_attention, local_window_allowed, method_attention, rel_err, rms_norm

import vidlong
from vidlong.attention.adapters.sana import SANA_VIDEO

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"window": vidlong.SlidingWindow(), "fusion": vidlong.SpectralFusion(windows=(1,))}


def cross_attention_stock(model):
    """Its blocks' text cross-attention keeps its own (softmax) processor."""
    assert type(model.transformer_blocks[0].attn2.processor).__name__ == "SanaAttnProcessor2_0"


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on each block's self-attention (not the cross-attention) and comes off; a window as long as
    the video (a stock plan) is its own processor's output bit for bit; FreeLong++ changes it."""
    check_methods_off_and_removed(tiny_sana_transformer, lambda model: model(**sana_inputs(4 * NATIVE))[0],
                                  SANA_VIDEO.self_attentions, "SanaLinearAttnProcessor3_0", 2, NATIVE,
                                  neutral=(vidlong.SlidingWindow(window=4.0),), methods=(vidlong.SpectralFusion(),),
                                  applied=cross_attention_stock)


def rotated(x, cos, sin):
    """Its RoPE in float64 on ``[B, N, H, D]`` as complex numbers: channel pair ``(x[2i], x[2i + 1])`` times ``e^{iθ}``, θ
    read from its tables ``[1, N, 1, D]`` (each pair's angle on both its channels)."""
    angle = torch.atan2(sin[..., 1::2].double(), cos[..., 0::2].double())
    pairs = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angle), angle)).flatten(-2)


class ReferenceAttention:
    """The methods' float64 math on a Sana-Video self-attention: q/k/v from its projections, RMS norms across heads, ReLU
    features, its RoPE on a copy of q and k, linear attention per branch, the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q = torch.relu(heads(rms_norm(attn.to_q(hidden_states), attn.norm_q)))
        k = torch.relu(heads(rms_norm(attn.to_k(hidden_states), attn.norm_k)))
        pairs = [(x, rotated(x, *rotary_emb)) for x in (q, k)]
        out = method_attention(self.method, *pairs, heads(attn.to_v(hidden_states)), self.frames, GRID, NATIVE,
                               attend=linear_attention)
        return attn.to_out[0](out.flatten(2, 3))


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32: a native window, and FreeLong++'s global and native branches fused."""
    check_float64_reference(tiny_sana_transformer, lambda model, frames, dtype: model(**sana_inputs(frames, dtype=dtype))[0],
                            SANA_VIDEO.self_attentions, ReferenceAttention, method, NATIVE)


def test_prefix_sums_are_the_dense_linear_attention_of_anchored_windows():
    """`vidlong.attention.linear` on random features of 10 token frames: each branch of FreeLong++ with windows of 6 and 3
    frames and 2 anchor frames (every window also sees the video's first 2 frames) is the dense float64 linear attention
    restricted to those keys, to 1e-12."""
    from vidlong.attention.layout import TokenLayout
    from vidlong.attention.linear import linear_branches
    from vidlong.plans import build_plan

    layout, frames, tpf = TokenLayout(10, 2, 3, NATIVE), 10, 6
    plan = build_plan(layout, (vidlong.SpectralFusion(windows=(2.0, 1.0), anchors=2 / 3),))
    assert plan.windows == (None, 6, 3) and plan.anchor_frames == 2
    gen = torch.Generator().manual_seed(0)
    q, k, q_rot, k_rot, v = (torch.rand(1, frames * tpf, 2, 8, generator=gen, dtype=torch.float64) for _ in range(5))
    anchors = (torch.arange(frames * tpf) // tpf < 2)[None, :]
    masks = [None, *(local_window_allowed(frames, tpf, w) | anchors for w in (6, 3))]
    for out, allowed in zip(linear_branches(q, k, q_rot, k_rot, v, plan), masks):
        assert rel_err(out, linear_attention((q, q_rot), (k, k_rot), v, allowed)) < 1e-12


@pytest.mark.parametrize("method", [vidlong.UltraViCo(), vidlong.UltraViCo(alpha=1.0, guard_first_frame=False)])
def test_ultravico_is_refused_in_one_line(method):
    """UltraViCo damps softmax logits; linear attention has none: `vidlong.apply` refuses it (neutral settings too), naming
    why and what runs instead."""
    with pytest.raises(vidlong.VidlongError, match=r"^UltraViCo is not defined for SanaVideoTransformer3DModel: its "
                                                   r"self-attention is linear[^\n]*SpectralFusion or SlidingWindow$"):
        vidlong.apply(tiny_sana_transformer(), method, vidlong.SpectralFusion(), native_frames=NATIVE)
