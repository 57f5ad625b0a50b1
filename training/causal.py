"""Block-causal teacher forcing for a diffusers Wan transformer, and the LoRA it trains.

One forward sees a clip twice, as CausVid's teacher forcing does: a clean copy (timestep 0) and a
noisy copy (each chunk of `chunk` latent frames at its own noise level, diffusion forcing). A clean
chunk attends to the clean chunks up to itself; a noisy chunk attends to the clean chunks before it
and to itself. That is what streaming with the rolling KV cache computes (`attention/stream_attention.py`):
a chunk being denoised sees the clean K/V written by the earlier chunks' t = 0 forwards, and those
were written attending to their own past; `tests/test_train_causal.py` checks the two agree. Both
copies take the same temporal RoPE positions ``0 .. F-1``.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager

import torch

from vidlong.attention.rope import wan_rotary_at

#: the Linear layers of each Wan block that the LoRA adapts
LORA_TARGETS = ("attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
                "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0", "ffn.net.0.proj", "ffn.net.2")


def teacher_forcing_mask(frames: int, chunk: int, tokens_per_frame: int, device=None) -> torch.Tensor:
    """``[2N, 2N]`` bool (True: may attend) over the clean then the noisy copy of `frames` latent
    frames, ``N = frames · tokens_per_frame``."""
    frame = torch.arange(2 * frames, device=device)
    noisy = frame >= frames
    block = (frame % frames) // chunk
    q_block, k_block = block[:, None], block[None, :]
    q_noisy, k_noisy = noisy[:, None], noisy[None, :]
    clean_context = ~k_noisy & torch.where(q_noisy, k_block < q_block, k_block <= q_block)
    own_noisy_chunk = k_noisy & q_noisy & (k_block == q_block)
    mask = clean_context | own_noisy_chunk
    return mask.repeat_interleave(tokens_per_frame, 0).repeat_interleave(tokens_per_frame, 1)


class _MaskedSelfAttention:
    """diffusers' own Wan attention processor, called with a fixed attention mask."""

    def __init__(self, processor, mask: torch.Tensor):
        self.processor, self.mask = processor, mask

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        return self.processor(attn, hidden_states, encoder_hidden_states, self.mask, rotary_emb)


class _FixedRope(torch.nn.Module):
    """Stands in for `transformer.rope`: returns precomputed cos/sin tables whatever the input."""

    def __init__(self, tables):
        super().__init__()
        self.tables = tables

    def forward(self, hidden_states):
        return self.tables


@contextmanager
def teacher_forcing(transformer, frames: int, chunk: int, height: int, width: int):
    """Within it, `transformer` runs on ``[B, C, 2·frames, h, w]`` inputs (clean copy, then noisy
    copy) with the teacher-forcing mask and RoPE positions ``0 .. frames-1`` for both copies.
    `height`, `width`: token rows and columns per frame (latent size / patch)."""
    rope = transformer.rope
    positions = torch.arange(frames).repeat(2)
    mask = teacher_forcing_mask(frames, chunk, height * width, device=rope.freqs_cos.device)
    stock = [block.attn1.processor for block in transformer.blocks]
    for block in transformer.blocks:
        block.attn1.processor = _MaskedSelfAttention(block.attn1.processor, mask)
    transformer.rope = _FixedRope(wan_rotary_at(rope, positions, height, width))
    try:
        yield
    finally:
        transformer.rope = rope
        for block, processor in zip(transformer.blocks, stock):
            block.attn1.processor = processor


def teacher_forced_prediction(transformer, clean: torch.Tensor, noisy: torch.Tensor, timesteps: torch.Tensor,
                              text: torch.Tensor, chunk: int) -> torch.Tensor:
    """The flow prediction for each noisy frame given the clean frames of the chunks before it.

    Args:
        clean, noisy: latents ``[B, C, F, h, w]`` (F a multiple of `chunk`).
        timesteps: ``[B, F]`` the noisy copy's timestep of each frame (0..1000).
        text: encoder hidden states ``[B, L, D]``.
    Returns:
        ``[B, C, F, h, w]`` prediction for `noisy`.
    """
    batch, _, frames, height, width = noisy.shape
    p_t, p_h, p_w = transformer.config.patch_size
    rows, cols = height // p_h, width // p_w
    per_frame = torch.cat([torch.zeros_like(timesteps), timesteps], dim=1)  # [B, 2F]
    per_token = per_frame.repeat_interleave(rows * cols, dim=1)
    with teacher_forcing(transformer, frames // p_t, chunk // p_t, rows, cols):
        out = transformer(hidden_states=torch.cat([clean, noisy], dim=2), timestep=per_token,
                          encoder_hidden_states=text, return_dict=False)[0]
    return out[:, :, frames:]


class LoRALinear(torch.nn.Module):
    """``base(x) + B(A(x))`` with `base` frozen; B starts at zero, so the model starts unchanged.
    Saved with scale 1 (diffusers' LoRA format)."""

    def __init__(self, base: torch.nn.Linear, rank: int):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.lora_A = torch.nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        torch.nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.t().to(x.dtype)) @ self.lora_B.t().to(x.dtype)


def add_lora(transformer, rank: int, init_folder: str | None = None, targets=LORA_TARGETS) -> dict:
    """Freeze `transformer` and wrap the `targets` layers (a subset of `LORA_TARGETS`) of each of its blocks;
    returns the LoRA parameters by diffusers LoRA key (``transformer.blocks.0.attn1.to_q.lora_A.weight`` ...).
    `init_folder`: a model folder whose ``pytorch_lora_weights.safetensors`` (same rank) the LoRA starts
    from, to continue a run."""
    transformer.requires_grad_(False)
    params = {}
    for index, block in enumerate(transformer.blocks):
        for target in targets:
            parent_name, _, leaf = target.rpartition(".")
            parent = block.get_submodule(parent_name)
            wrapped = LoRALinear(getattr(parent, leaf), rank)
            setattr(parent, leaf, wrapped)
            key = f"transformer.blocks.{index}.{target}"
            params[f"{key}.lora_A.weight"], params[f"{key}.lora_B.weight"] = wrapped.lora_A, wrapped.lora_B
    if init_folder is not None:
        from safetensors.torch import load_file

        start = load_file(os.path.join(init_folder, "pytorch_lora_weights.safetensors"))
        for key, p in params.items():
            p.data.copy_(start[key].float())
    return params
