"""LTX-2 (`LTX2VideoTransformer3DModel`: audio and video in one transformer): the methods act on its video
self-attention ``transformer_blocks[i].attn1`` over packed video tokens ``[B, N, C]``, frame-major (``N = F·H·W`` after
its patch, 1 in LTX-2's releases). Its audio self-attention, its audio-video cross-attentions and its text
cross-attention keep their own processors. The token grid comes from the forward's ``num_frames``, ``height``, ``width``
(latent sizes), or its ``video_coords`` ``[B, 3, N, 2]`` (each token's start and end, pixel frames over the frame rate
in time). Its attention may be gated per head (``to_gate_logits``, LTX-2.3) and perturbed by spatio-temporal guidance
(STG: in the perturbed blocks of a guidance forward the attention is skipped for the values).

`LTX2ConditionPipeline` appends a condition at a later latent frame (a keyframe) after the video's tokens, at its own RoPE
positions, and `LTX2InContextPipeline` an IC-LoRA's reference video after those (at the RoPE positions of a video of its
latent sizes from time 0: the generated video's own, where both are as long), as `LTX2HDRPipeline` its SDR reference's
(`vidlong.families.ltx2_hdr`): the methods treat those tokens as joint
attention treats text at the end (`FamilyAdapter.trailing_tokens`): every video query sees them unmodified, and their own
rows attend to every key as the stock model's do. (Its ``conditioning_attention_strength`` below 1 masks the
self-attention, where the processor falls back to the stock one: `vidlong.families.ltx2_in_context` refuses it under the
methods.) `LTX2DFRPipeline` (LTX-2.5) appends its generated keyframe slots after its padded canvas likewise, its forward
given ``video_coords`` and, by `vidlong.families.ltx2_dfr`, the canvas's latent sizes."""
from __future__ import annotations

import inspect

import torch

from ...errors import VidlongError
from ...parallel import token_plan
from ..layout import TokenLayout
from .base import FamilyAdapter


class LTX2Adapter(FamilyAdapter):
    name = "ltx-2"
    transformer_class = "LTX2VideoTransformer3DModel"
    stream_contexts = ("renoise",)  # each chunk one call of its pipeline (`vidlong.families.ltx2_stream`)
    no_cache_reason = "each chunk is a call of its pipeline (its sound and its guidance's forwards), the context re-noised into it"
    no_latents_reason = "LTX-2's saved latents would hold its video but not its sound"
    no_stream_pipelines = {"LTX2InContextPipeline": (
        "LTX-2's in-context (IC-LoRA) pipeline follows one whole reference video in a call, its tokens beside the video's; "
        "LTX-2's streams and extensions make each chunk by a call of its own, which vidlong does not hand a slice of that "
        "video: it generates (with --control-video), it does not stream or extend"),
        "LTX2HDRPipeline": (
            "LTX-2's HDR IC-LoRA pipeline turns one whole reference video into HDR in a call, its tokens beside the video's; "
            "LTX-2's streams and extensions make each chunk by a call of its own, which vidlong does not hand a slice of that "
            "video: it generates (with --control-video), it does not stream or extend"),
        "LTX2DFRPipeline": (
            "LTX-2.5's DFR pass pads its canvas to whole keyframe segments and generates a keyframe slot a segment beside the "
            "video; LTX-2's streams and extensions make each chunk by a call with a given context, which vidlong does not "
            "wire into its slots and canvas: it generates")}
    makes_sound = True
    prompt_timeline = True  # video and audio each by cross-attention to the text, its padding masked
    trailing_tokens = True  # LTX2ConditionPipeline's keyframe conditions, LTX2InContextPipeline's references, after the video
    text_at_end = True

    def cross_attentions(self, transformer) -> list:
        return [block.attn2 for block in transformer.transformer_blocks]

    def audio_cross_attentions(self, transformer) -> list:
        return [block.audio_attn2 for block in transformer.transformer_blocks]

    def context_parallel_plan(self, transformer) -> dict:
        """diffusers' plan with its text whole on every rank (`whole_key_attentions`), and split with the video's tokens: a
        timestep per token (``[B, N]``: its image-to-video, condition and DFR calls'), LTX-2.5's keyframe marker
        ``[B, N, 1]`` (where its transformer has one: diffusers' engine needs it in every forward, as LTX2DFRPipeline's
        call passes it), and its video RoPE's and its audio-video cross-attention's video RoPE (``[B, N, D]``, or
        LTX-2.3's split ``[B, H, N, D / 2]``) (`vidlong.parallel.token_plan`). Its audio stays whole on every rank."""
        config = transformer.config
        inputs = dict(timestep=2, **dict(video_keyframes_mask=3) if config.get("use_keyframes_abs_pos_embedding") else {})
        return token_plan(transformer, inputs, ("rope", "cross_attn_rope"), 4 if config.rope_type == "split" else 3)

    def whole_key_attentions(self, transformer) -> list:
        """Its text cross-attentions, its audio self-attention and the audio-to-video cross-attention (audio keys); the
        video-to-audio one (video keys) runs diffusers' Ulysses exchange, each rank's whole audio as its queries (a rank's
        copy of them attends as one device's: the same queries, keys and values)."""
        return [attention for block in transformer.transformer_blocks
                for attention in (block.attn2, block.audio_attn1, block.audio_attn2, block.audio_to_video_attn)]

    def audio_starts(self, transformer, args, kwargs, token_starts) -> list:
        """By the times its RoPE gives the tokens (the forward's ``video_coords`` and ``audio_coords`` in seconds, or its
        own from the sizes, as its forward makes them): a segment's audio starts at the first audio token that ends after
        its first latent frame begins."""
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        device = bound["hidden_states"].device
        video, audio = bound.get("video_coords"), bound.get("audio_coords")
        if video is None:
            video = transformer.rope.prepare_video_coords(1, bound["num_frames"], bound["height"], bound["width"], device,
                                                          fps=bound.get("fps", 24.0))
        if audio is None:
            frames = bound.get("audio_num_frames") or bound["audio_hidden_states"].shape[1]
            audio = transformer.audio_rope.prepare_audio_coords(1, frames, device)
        begins = video[0, 0, token_starts, 0].float()
        ends = audio[0, 0, :, 1].float().contiguous()
        return torch.searchsorted(ends, begins, right=True).tolist()

    def trailing_segments(self, transformer, args, kwargs, grid_tokens, token_starts):
        """By the times its RoPE gives them (the forward's ``video_coords``, in seconds, as `LTX2InContextPipeline` and
        `LTX2HDRPipeline` give their references' and `LTX2ConditionPipeline` its keyframes' after the video's): a token
        after the video's is in the last segment that begins at or before its own start (the first, before the first)."""
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        coords = bound.get("video_coords")
        if coords is None or bound["hidden_states"].shape[1] <= grid_tokens:
            return None
        times = coords[0, 0, :, 0].float()
        begins = times[token_starts].contiguous()
        return (torch.searchsorted(begins, times[grid_tokens:].contiguous(), right=True) - 1).clamp(min=0)

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """From the forward's ``num_frames``, ``height``, ``width`` (latent sizes; LTX-2's pipelines give them), the tokens
        after that grid a condition's (`LTX2ConditionPipeline`'s keyframes, LTX-2.5's keyframe slots); else from its
        ``video_coords`` (a frame-major grid of as many rows and columns as distinct token starts, every token in it), but
        for an LTX-2.5 DFR forward (a ``video_keyframes_mask``), whose slots those do not tell from the canvas's frames."""
        p_t, p = transformer.config.patch_size_t, transformer.config.patch_size
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        tokens = bound["hidden_states"].shape[1]
        frames, height, width = (bound.get(name) for name in ("num_frames", "height", "width"))
        coords = bound.get("video_coords")
        if None not in (frames, height, width):
            grid = (frames // p_t, height // p, width // p)
        elif coords is not None and bound.get("video_keyframes_mask") is not None:
            raise VidlongError("an LTX-2.5 DFR forward (video_keyframes_mask) holds keyframe slots after its canvas, which its "
                               "video_coords alone do not tell apart: pass num_frames, height and width (the canvas's latent "
                               "sizes), as VidLongLTX2DFRPipeline's call does (vidlong.load_pipeline)")
        elif coords is not None:
            grid = tuple(coords[0, axis, :, 0].unique().numel() for axis in (0, 1, 2))
        else:
            raise VidlongError("vidlong needs num_frames, height and width (latent sizes) or video_coords in an LTX-2 "
                               "transformer's forward to lay out its tokens; pass them as LTX2Pipeline does")
        if grid[0] * grid[1] * grid[2] > tokens or (None in (frames, height, width) and grid[0] * grid[1] * grid[2] != tokens):
            raise VidlongError(f"vidlong lays out LTX-2's video tokens as one frame-major grid; {tokens} tokens do not hold "
                               f"its {grid[0]}x{grid[1]}x{grid[2]}: pass num_frames, height and width (latent sizes) with "
                               "condition tokens after the video's, as LTX2ConditionPipeline does")
        return TokenLayout(*grid, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `LTX2AudioVideoAttnProcessor` in self-attention: projections, RMS norms across heads, the
        attention's RoPE kind (interleaved or split) on the joined heads, then the head split."""
        from diffusers.models.transformers.transformer_ltx2 import apply_interleaved_rotary_emb, apply_split_rotary_emb

        query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        if rotary is not None:
            rotate = apply_interleaved_rotary_emb if attn.rope_type == "interleaved" else apply_split_rotary_emb
            query, key = rotate(query, rotary), rotate(key, rotary)
        return tuple(x.unflatten(2, (attn.heads, -1)) for x in (query, key, value))

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """Heads joined, its per-head gates (``2·sigmoid(to_gate_logits(states))``, where the attention has them), then
        the output projection."""
        out = out.flatten(2, 3).to(dtype)
        if getattr(attn, "to_gate_logits", None) is not None:  # LTX-2.3's; diffusers before 0.42 has none
            gates = 2.0 * attn.to_gate_logits(states).sigmoid()
            out = (out.unflatten(2, (attn.heads, -1)) * gates.unsqueeze(-1)).flatten(2, 3)
        return attn.to_out[1](attn.to_out[0](out))


LTX_2 = LTX2Adapter()
