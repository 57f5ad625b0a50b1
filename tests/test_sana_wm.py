"""Sana-WM (the camera-controlled world model) through its family adapter and pipeline: the methods act on the two softmax
branches of its softmax blocks (the main branch, RoPE on q and k; the camera branch, q/k/v in UCPE's ray space, heads padded
to 128 channels), its gated-delta-rule blocks stock. Methods off = the stock model bit for bit; each method equal to a
float64 reference (RoPE and UCPE written out, attention from `reference`); `generate` with no method = diffusers'
`SanaWMPipeline` bit for bit; `vidlong generate --camera` with each method writes the mp4; bad camera files, streams,
extensions and the refiner refused in one line before loading."""

import pytest
import torch
from conftest import sana_wm_inputs, tiny_sana_wm_transformer
from family_checks import check_float64_reference, check_methods_off_and_removed
from reference import method_attention

import vidlong
from vidlong.attention.adapters.sana_wm import SANA_WM

NATIVE = 2  # latent frames
GRID = (4, 6)  # token rows, columns (patch 1)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def run(model, frames=4 * NATIVE, dtype=torch.float32):
    return model(**sana_wm_inputs(frames, dtype=dtype))[0]


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """Its branch modules take vidlong's processor in their place and come back on removal; a neutral plan runs their own
    bfloat16 SDPA (the camera branch's padded heads too). Two softmax blocks of four: four branches."""
    check_methods_off_and_removed(lambda: tiny_sana_wm_transformer(layers=4), run, SANA_WM.self_attentions, "StockBranch", 4,
                                  NATIVE)


def rope_pairs(x, table):
    """Complex RoPE in float64 on channel pairs ``(x[2i], x[2i + 1])`` of ``[B, N, H, D']`` (`table` ``[1, 1, N, D' / 2]``)."""
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * table[0, 0, :, None].to(torch.complex128)).flatten(-2)


def ucpe(x, matrix, table, inverse=False):
    """UCPE in float64 on ``[B, N, H, D]``: the first half of each head's channels in groups of 4 times its token's 4x4
    `matrix` ``[B, N, 4, 4]``, the second half rotated by `table` (conjugated where `inverse`)."""
    half = x.shape[-1] // 2
    grouped = x[..., :half].unflatten(-1, (-1, 4))
    projected = torch.einsum("bnij,bnhkj->bnhki", matrix.double(), grouped).flatten(-2)
    return torch.cat([projected, rope_pairs(x[..., half:], table.conj() if inverse else table)], dim=-1)


def shrunk(reference, x):
    """`x` scaled down per token and head to `reference`'s RMS over the channels (never up), float64."""
    def rms(t):
        return (t.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()

    return x * (rms(reference) / rms(x).clamp_min(1e-6)).clamp(max=1.0)


class ReferenceAttention:
    """The methods' float64 math on one Sana-WM softmax branch: the main branch's q and k rotated by its RoPE; the camera
    branch's q/k/v through UCPE (q by ``P_T``, k and v by ``P_inv``) shrunk to their RMS, zero-padded to 128 channels, the
    output cut back and decoded by ``P``; heads joined."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, attention_mask=None, rotary_emb=None):
        key, value, _ = attn.pending
        q, k, v = hidden_states.double(), key.double(), value.double()
        if not attn.camera:
            q, k = rope_pairs(q, rotary_emb), rope_pairs(k, rotary_emb)
            return method_attention(self.method, q, k, v, self.frames, GRID, NATIVE).flatten(2)
        to_world, to_query, to_keys, table = rotary_emb
        q, k, v = (shrunk(x, ucpe(x, m, table)) for x, m in ((q, to_query), (k, to_keys), (v, to_keys)))
        q, k, v = (torch.nn.functional.pad(x, (0, 128 - x.shape[-1])) for x in (q, k, v))
        out = method_attention(self.method, q, k, v, self.frames, GRID, NATIVE)[..., :key.shape[-1]]
        return ucpe(out, to_world, table, inverse=True).flatten(2)


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch, both branches of its
    softmax block (its gated-delta-rule block runs its recurrence in float32 either way)."""
    check_float64_reference(tiny_sana_wm_transformer, lambda model, frames, dtype: run(model, frames, dtype),
                            SANA_WM.self_attentions, ReferenceAttention, method, NATIVE)


def test_padded_heads_scale_the_camera_logits_as_its_sdpa_does():
    """Heads of other sizes than FlashAttention's reach its camera branch's SDPA zero-padded to 128 or 256 channels (the
    release's 112 to 128), so its logits are ``q·k / √128``: `qkv` pads them as the stock branch does."""
    from vidlong.attention.adapters.sana_wm import padded_head_size

    assert [padded_head_size(d) for d in (24, 112, 128, 160, 256, 320)] == [128, 128, 128, 256, 256, 320]


def test_a_transformer_without_softmax_blocks_is_refused():
    """``softmax_every_n`` 0: its gated delta rule alone; a method is refused in one line naming the field."""
    model = tiny_sana_wm_transformer(softmax_every_n=0)
    with pytest.raises(vidlong.VidlongError, match="softmax_every_n 0"):
        vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
