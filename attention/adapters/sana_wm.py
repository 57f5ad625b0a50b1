"""Sana-WM (`SanaWMTransformer3DModel`, the camera-controlled world model): every ``softmax_every_n``-th block's attention
(`_SoftmaxUCPESinglePathLiteLA`) runs two softmax self-attentions over the frame-major tokens of its latents
``[B, C, F, H, W]`` (patch ``(1, 1, 1)``): the main branch (``block.attn.attn``, a `SanaWMSoftmaxAttention`: its q and k
rotated by its complex RoPE) and the camera branch (``block.attn.cam_attn``, a `SanaWMSoftmaxCamAttention`: q, k and v
through UCPE's per-token ray transforms, their first half by a 4x4 matrix a token, their second half by its RoPE, shrunk
to their pre-transform RMS; the output decoded back by the inverse transforms). The other blocks' attention is a
bidirectional gated delta rule (a recurrence over frames with a learned decay: no softmax logits to damp, no window to
band), left to its own forward: the methods act on the softmax branches alone.

Those branch modules hold no parameters: their block hands them q, k, v and the positions, so they are the family's
processors. A `SanaWMBranch` gives each the ``processor`` slot vidlong's hooks swap: vidlong's processor goes in its
place wrapped by `BranchCall`, which hands it the call as ``(branch, query, attention_mask=token mask,
rotary_emb=positions)`` with key and value on the branch; `StockBranch` calls the branch's own module that way.

Its stock attention rounds float32 q, k, v to bfloat16 before SDPA, and the camera branch zero-pads heads whose size is
not one of FlashAttention's (32, 64, 128, 256) to 128 or 256 channels, so that SDPA scales its logits by that padded size:
`qkv` pads them so (the methods' logits are the stock's), the methods' kernels run in the q/k/v's own float32."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..layout import TokenLayout
from .base import FamilyAdapter

#: FlashAttention's head sizes, which Sana-WM's camera branch does not pad
FLASH_HEAD_SIZES = (32, 64, 128, 256)


def padded_head_size(head_dim: int) -> int:
    """The channels Sana-WM's camera branch gives SDPA for heads of `head_dim`: `head_dim` itself where FlashAttention takes
    it (or past 256), else 128 or 256, whichever first holds it."""
    if head_dim in FLASH_HEAD_SIZES or head_dim >= 256:
        return head_dim
    return 128 if head_dim <= 128 else 256


class StockBranch:
    """A Sana-WM branch's own module called as a processor is: ``(branch, query, None, token mask, positions)``, its key
    and value on the branch (`SanaWMBranch.pending`). Equal to another of the same module (the hooks compare slots)."""

    def __init__(self, module):
        self.module = module

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary=None):
        key, value, _ = attn.pending
        return self.module(hidden_states, key, value, rotary, token_valid_mask=attention_mask)

    def __eq__(self, other):
        return isinstance(other, StockBranch) and other.module is self.module

    def __hash__(self):
        return hash(id(self.module))


class BranchCall(torch.nn.Module):
    """Stands in a Sana-WM attention for one of its branch modules while another processor is on (vidlong's, a test's
    reference): its block's call ``(query, key, value, positions, token_valid_mask=...)``, q/k/v ``[B, N, H, D]``, goes
    to ``processor(branch, query, attention_mask=token mask, rotary_emb=positions)`` with key, value and positions on
    `branch` for the call's length."""

    def __init__(self, branch: "SanaWMBranch", processor):
        super().__init__()
        self.branch, self.processor = branch, processor

    def forward(self, query, key, value, positions=None, rotary_emb=None, token_valid_mask=None):
        positions = rotary_emb if positions is None else positions
        self.branch.pending = (key, value, positions)
        try:
            return self.processor(self.branch, query, attention_mask=token_valid_mask, rotary_emb=positions)
        finally:
            self.branch.pending = None


class SanaWMBranch:
    """The processor slot of one softmax branch of a Sana-WM attention `parent` (its child ``name``: "attn", the main
    branch, or "cam_attn", the camera branch): ``processor`` reads as a `StockBranch` of the child module or the processor
    a `BranchCall` holds, and set puts a `BranchCall` in the child's place (a `StockBranch`: its module back).

    Attributes:
        camera: whether it is the camera branch (UCPE positions: ``(P, P_T, P_inv, rope)``; else a RoPE table or None).
        heads: its heads.
        pending: ``(key, value, positions)`` of the call in progress (key and value ``[B, N, H, D]``), else None.
    """

    def __init__(self, parent, name: str):
        self.parent, self.name = parent, name
        self.camera = name == "cam_attn"
        self.heads = parent.cam_heads if self.camera else parent.heads
        self.pending = None

    @property
    def processor(self):
        child = getattr(self.parent, self.name)
        return child.processor if isinstance(child, BranchCall) else StockBranch(child)

    @processor.setter
    def processor(self, processor):
        setattr(self.parent, self.name, processor.module if isinstance(processor, StockBranch) else BranchCall(self, processor))


def rotated_heads(x: torch.Tensor, rotary) -> torch.Tensor:
    """Sana-WM's RoPE on ``[B, N, H, D]`` as its main branch applies it (diffusers' `_apply_rotary_emb` on its ``[B, H, D,
    N]`` view); None: `x` as it is."""
    from diffusers.models.transformers.transformer_sana_wm import _apply_rotary_emb

    return x if rotary is None else _apply_rotary_emb(x.permute(0, 2, 3, 1), rotary).permute(0, 3, 1, 2)


def ray_space(query, key, value, positions) -> tuple:
    """The camera branch's q, k, v ``[B, N, H, D]`` in ray space as `SanaWMSoftmaxCamAttention` makes them: q by ``P_T``,
    k and v by ``P_inv`` (UCPE, `positions` ``(P, P_T, P_inv, rope)``), each shrunk to its pre-transform RMS, in float32;
    each ``[B, H, N, D]``."""
    from diffusers.models.transformers.transformer_sana_wm import _apply_ucpe_transform, _downscale_to_reference_rms

    _, to_query, to_keys, rope = positions
    query, key, value = (x.permute(0, 2, 3, 1).contiguous() for x in (query, key, value))  # [B, H, D, N]
    query_ray = _apply_ucpe_transform(query.transpose(-1, -2), to_query, rope).transpose(-1, -2).contiguous()
    key_value = _apply_ucpe_transform(torch.cat([key, value], dim=1).transpose(-1, -2), to_keys, rope)
    key_ray, value_ray = key_value.transpose(-1, -2).contiguous().chunk(2, dim=1)
    shrunk = (_downscale_to_reference_rms(x, ray) for x, ray in ((query, query_ray), (key, key_ray), (value, value_ray)))
    return tuple(x.transpose(-1, -2).float() for x in shrunk)


class SanaWMAdapter(FamilyAdapter):
    name = "sana-wm"
    transformer_class = "SanaWMTransformer3DModel"
    no_stream_reason = ("its camera conditioning is relative to the video's first pose and packed 8 pixel frames a latent "
                        "frame over the whole trajectory, which vidlong's streams and extensions do not re-anchor per window")
    #: its RoPE table's rows (`SanaWMRotaryPosEmbed`'s ``max_seq_len``, fixed at 1024): the most token frames, rows or columns
    rope_positions = 1024

    def self_attentions(self, transformer) -> list:
        """The main and camera branches of each softmax block (`SanaWMBranch`)."""
        return [SanaWMBranch(block.attn, name) for block in transformer.blocks
                if type(block.attn).__name__ == "_SoftmaxUCPESinglePathLiteLA" for name in ("attn", "cam_attn")]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        latents = args[0] if args else kwargs["hidden_states"]
        return TokenLayout.from_latents(latents.shape, transformer.config.patch_size, native_frames)

    def qkv(self, attn, hidden_states, rotary, text=None):
        """q, k, v ``[B, N, H, D]`` as its branch hands them to SDPA, before its bfloat16 rounding: the main branch's q and k
        rotated by its RoPE (`rotary`); the camera branch's in ray space (`ray_space`, `rotary` its positions), zero-padded
        to `padded_head_size`."""
        key, value, _ = attn.pending
        if not attn.camera:
            return rotated_heads(hidden_states, rotary), rotated_heads(key, rotary), value
        tensors = ray_space(hidden_states, key, value, rotary)
        extra = padded_head_size(tensors[0].shape[-1]) - tensors[0].shape[-1]
        return tuple((F.pad(x, (0, extra)) if extra else x).transpose(1, 2) for x in tensors)

    def stock_attention(self, query, key, value, attention_mask, video_tokens, backend=None, parallel_config=None):
        """As its branches: SDPA over q/k/v ``[B, N, H, D]`` rounded to bfloat16 where they are float32; ``[B, N, H, D]``."""
        query, key, value = (x.transpose(1, 2) for x in (query, key, value))
        if query.dtype == torch.float32:
            query, key, value = query.bfloat16(), key.bfloat16(), value.bfloat16()
        return F.scaled_dot_product_attention(query, key, value).transpose(1, 2)

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """``[B, N, H·D]`` in its value's dtype, as its branch returns it: the main branch's heads joined; the camera branch's
        padding cut and the output decoded out of ray space (``P``, its RoPE inverted)."""
        from diffusers.models.transformers.transformer_sana_wm import _apply_ucpe_transform

        _, value, positions = attn.pending
        batch, tokens, heads, head_dim = value.shape
        if not attn.camera:
            return out.reshape(batch, tokens, heads * head_dim).to(value.dtype)
        out = out[..., :head_dim].transpose(1, 2).to(value.dtype)  # [B, H, N, D]
        decoded = _apply_ucpe_transform(out, positions[0], positions[3], inverse_rope=True).transpose(-1, -2).contiguous()
        return decoded.reshape(batch, heads * head_dim, tokens).permute(0, 2, 1)

    def methods_refusal(self, config) -> Optional[str]:
        """A transformer with no softmax block (``softmax_every_n`` 0, or past its layers): its gated delta rule alone, no
        attention the methods act on."""
        every, layers = config.get("softmax_every_n", 4), config.get("num_layers", 20)
        if every <= 0 or every > layers:
            return (f"this Sana-WM transformer has no softmax attention block (softmax_every_n {every}, {layers} layers): "
                    "vidlong's methods act on its softmax blocks, not on its gated delta rule; drop the method")
        return None


SANA_WM = SanaWMAdapter()
