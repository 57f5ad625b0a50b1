"""Tiny models built locally for the tests (no downloads)."""
from __future__ import annotations

import triton_interpreter  # noqa: F401  (first: Triton must see TRITON_INTERPRET before diffusers imports it)

import pytest
import torch
from diffusers import WanTransformer3DModel

#: latent channels / patch of every tiny transformer here
IN_CHANNELS = 4
TEXT_DIM = 16


def tiny_transformer(seed: int = 0, layers: int = 2, heads: int = 2, head_dim: int = 16, channels: int = IN_CHANNELS,
                     out_channels=None, image_dim=None) -> WanTransformer3DModel:
    """A random WanTransformer3DModel small enough for exact CPU checks (patch (1, 2, 2)); `channels`
    in (I2V: noise + mask + condition), `out_channels` (default `channels`), `image_dim` for a CLIP input."""
    torch.manual_seed(seed)
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=channels,
        out_channels=out_channels or channels, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=layers,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=64, image_dim=image_dim,
    )
    # random init of the zero-initialised parts, so every path carries signal
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def transformer_inputs(frames: int, height: int = 4, width: int = 4, seed: int = 1, dtype=torch.float32):
    """Latents ``[1, C, F, H, W]`` (latent frames), a timestep and text states for `tiny_transformer`."""
    gen = torch.Generator().manual_seed(seed)
    return dict(
        hidden_states=torch.randn(1, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
        timestep=torch.tensor([500.0]),
        encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
        return_dict=False,
    )


@pytest.fixture
def transformer():
    return tiny_transformer()
