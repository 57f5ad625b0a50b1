"""LTX-Video (`LTXVideoTransformer3DModel`): self-attention ``transformer_blocks[i].attn1`` over the
pipeline's packed tokens ``[B, N, C]``, frame-major (``N = F·H·W`` after its patch ``(patch_size_t,
patch_size, patch_size)``, 1 in LTX-Video's releases); text by cross-attention. The token grid comes
from the forward's ``num_frames``, ``height``, ``width`` (latent sizes), or its ``video_coords`` (LTX-Video
0.9.5+'s `LTXConditionPipeline`; `LTXI2VLongMultiPromptPipeline`'s windows). Its forward takes a timestep per token
(``[B, N]``), which diagonal denoising needs. The condition frames `LTXI2VLongMultiPromptPipeline` appends after a
window's frames (the previous window's last frames, at the window's start in time; its index latent, before it) are
left out of the grid: the methods treat them as joint attention treats text at the end (`FamilyAdapter.trailing_tokens`),
every video query seeing them unmodified, their own rows stock."""
from __future__ import annotations

import inspect

from ...errors import VidlongError
from ...parallel import token_plan
from ..layout import TokenLayout
from .base import FamilyAdapter


class LTXVideoAdapter(FamilyAdapter):
    name = "ltx-video"
    stream_contexts = ("renoise",)
    no_cache_reason = "its rolling KV cache (keys re-placed with its RoPE on joined heads) is not implemented yet"
    transformer_class = "LTXVideoTransformer3DModel"
    no_stream_pipelines = dict.fromkeys(("LTXI2VLongMultiPromptPipeline", "LTXI2VLongMultiPromptImageToVideoPipeline"), (
        "LTX-Video's long multi-prompt pipeline makes its windows one after another, but no window's frames are final before "
        "its call ends: the next window cross-fades into its last latent frames and the call decodes the whole video once "
        "(spatial tiles, decode noise drawn over every latent frame); it generates, it does not stream or extend"))
    timestep_per_token = True  # its time embedding is read per token (diagonal denoising, method fifo)
    prompt_timeline = True  # text by cross-attention, its padding masked (`vidlong.timeline` splits the mask too)
    trailing_tokens = True  # LTXI2VLongMultiPromptPipeline's condition frames, after a window's
    text_at_end = True

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def cross_attentions(self, transformer) -> list:
        return [block.attn2 for block in transformer.transformer_blocks]

    def context_parallel_plan(self, transformer) -> dict:
        """diffusers' plan with its text whole on every rank (`whole_key_attentions`) and a timestep per token (``[B, N]``:
        its image-to-video and condition calls') split with the tokens (`vidlong.parallel.token_plan`)."""
        return token_plan(transformer, {"timestep": 2}, ("rope",))

    def whole_key_attentions(self, transformer) -> list:
        return self.cross_attentions(transformer)

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """From the forward's ``num_frames``, ``height``, ``width`` (latent sizes; `LTXPipeline`), else from its
        ``video_coords`` ``[B, 3, N]`` (`LTXConditionPipeline`: a frame-major grid of as many rows and columns as
        its distinct coordinates, each frame's tokens at one time, later frames at later times). Sizes that do not count
        its tokens with ``video_coords`` (`LTXI2VLongMultiPromptPipeline`'s 1, 1, 1: each window's forward) make a grid of
        the frames whose times rise from the first, the window's own; those its call appends after them as conditions
        (times back at the window's start or before it) are the forward's trailing tokens."""
        p_t, p = transformer.config.patch_size_t, transformer.config.patch_size
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        frames, height, width = (bound.get(name) for name in ("num_frames", "height", "width"))
        coords = bound.get("video_coords")
        sized = None not in (frames, height, width)
        if sized and (coords is None or (frames // p_t) * (height // p) * (width // p) == coords.shape[-1]):
            return TokenLayout(frames // p_t, height // p, width // p, max(1, native_frames // p_t))
        if coords is None:
            raise VidlongError("vidlong needs num_frames, height and width (latent sizes) or video_coords in an LTX-Video "
                               "transformer's forward to lay out its tokens; pass them as LTXPipeline or LTXConditionPipeline does")
        rows, columns = (coords[0, axis].unique().numel() for axis in (1, 2))
        times = coords[0, 0]
        per_frame = times.reshape(-1, rows * columns) if times.numel() % (rows * columns) == 0 else None
        if per_frame is None or (per_frame != per_frame[:, :1]).any():
            raise VidlongError("vidlong lays out LTX-Video's tokens as one frame-major grid of rising times; a condition "
                               "at a frame other than the first adds tokens outside it: condition the first frame only")
        falls = (per_frame[1:, 0] <= per_frame[:-1, 0]).nonzero()
        if falls.numel() and not sized:  # sizes that do not count its tokens (1, 1, 1): `LTXI2VLongMultiPromptPipeline`'s
            raise VidlongError("vidlong lays out LTX-Video's tokens as one frame-major grid of rising times; a condition "
                               "at a frame other than the first adds tokens outside it: condition the first frame only")
        own = per_frame.shape[0] if not falls.numel() else int(falls[0, 0]) + 1  # the window's frames, conditions after
        return TokenLayout(own, rows, columns, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `LTXVideoAttnProcessor`: projections, RMS norms across heads, RoPE on the
        joined heads, then the head split."""
        from diffusers.models.transformers.transformer_ltx import apply_rotary_emb

        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        if rotary is not None:
            query, key = apply_rotary_emb(query, rotary), apply_rotary_emb(key, rotary)
        return tuple(x.unflatten(2, (attn.heads, -1)) for x in (query, key, value))


LTX_VIDEO = LTXVideoAdapter()
