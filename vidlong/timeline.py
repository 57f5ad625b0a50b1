"""The offline prompt timeline's cross-attention: one long video whose frames follow different prompts.

The text of every segment rides in one ``encoder_hidden_states`` (the segments' text tokens one after
another, each `text_tokens` long; the negative prompt repeated the same way). A hook on each block's
cross-attention (`attn2`, in the style of diffusers' `hooks/`) gives the video tokens of each segment's
latent frames the stock cross-attention against their own segment's text only. Self-attention is
untouched: every frame still sees the whole video, so with FreeLong++ the global branch carries what
the segments share (identity, layout, motion) while the local windows and the cross-attention follow
each segment's prompt. One segment is the stock model bit for bit. Wan, SkyReels-V2, LTX-Video and LTX-2 models (the
cross-attentions their adapters name); Wan2.1 image-to-video's CLIP image tokens (before the text in its
cross-attention) go with every segment's text; LTX-Video's text padding mask is split with the text; LTX-2's audio
tokens follow the segment of their time in its audio's cross-attention too, and so do its tokens after the video's (its
conditions' keyframes, its IC-LoRA and HDR pipelines' reference videos) in the video's (`FamilyAdapter.trailing_segments`).
(`generate` takes a timeline for their text-to-video models; a fifo stream's prompt switches use it.)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from diffusers.hooks import HookRegistry, ModelHook

from .attention.adapters import adapter_for
from .errors import VidlongError

_BLOCK_HOOK = "vidlong_timeline"
_MODEL_HOOK = "vidlong_timeline_frames"


@dataclass
class TimelineState:
    """starts: latent (token) frame where each segment starts; text_tokens: tokens per segment's text;
    tokens_per_frame: set by the transformer-level hook before each forward; image_tokens: whether CLIP
    image tokens come before the texts (Wan2.1 image-to-video); audio_starts: the audio token where each segment
    starts (LTX-2's, one token per audio latent frame), and trailing: the segment of each token after the video's grid
    (``[T]``; None: none, or in the last segment: `FamilyAdapter.trailing_segments`), set by the transformer-level hook too."""

    starts: tuple
    text_tokens: int
    tokens_per_frame: int = 0
    image_tokens: bool = False
    audio_starts: list = field(default_factory=list)
    trailing: Optional[torch.Tensor] = None


def video_token_starts(state: TimelineState) -> list:
    """The video token where each segment starts (its first latent frame's first token)."""
    return [start * state.tokens_per_frame for start in state.starts]


class _FrameHook(ModelHook):
    """Reads the token grid of each forward (its family's `layout`: Wan's ``[B, C, F, H, W]`` latents over the
    patch, LTX-Video's ``num_frames``, ``height``, ``width``)."""

    def __init__(self, state: TimelineState, adapter):
        super().__init__()
        self.state, self.adapter = state, adapter

    def pre_forward(self, module, *args, **kwargs):
        state = self.state
        layout = self.adapter.layout(module, args, kwargs, 1)
        state.tokens_per_frame = layout.tokens_per_frame
        if self.adapter.audio_cross_attentions(module):
            state.audio_starts = self.adapter.audio_starts(module, args, kwargs, video_token_starts(state))
        state.trailing = self.adapter.trailing_segments(module, args, kwargs, layout.frames * layout.tokens_per_frame,
                                                        video_token_starts(state))
        return args, kwargs


class _SegmentedCrossAttention(ModelHook):
    """A block's cross-attention, per segment: queries of segment s's frames and of the tokens after them in its time
    (`TimelineState.trailing`), or, `audio`, of its audio tokens, against segment s's text."""

    def __init__(self, state: TimelineState, audio: bool = False):
        super().__init__()
        self.state, self.audio = state, audio

    def new_forward(self, module, hidden_states, encoder_hidden_states=None, *args, **kwargs):
        original = self.fn_ref.original_forward
        state, n = self.state, hidden_states.shape[1]
        segments = len(state.starts)
        image = -1 if encoder_hidden_states is None else encoder_hidden_states.shape[1] - segments * state.text_tokens
        if image < 0 or (image and not state.image_tokens):
            raise VidlongError(f"the prompt timeline expects {segments} x {state.text_tokens} text tokens in cross-attention "
                               f"(after the image tokens of an image-to-video model), got "
                               f"{None if encoder_hidden_states is None else encoder_hidden_states.shape[1]}")
        images, texts = encoder_hidden_states[:, :image], encoder_hidden_states[:, image:]

        def context(s: int) -> torch.Tensor:
            """Segment `s`'s text, after the image tokens where there are any (a view of the input otherwise)."""
            text = texts[:, s * state.text_tokens:(s + 1) * state.text_tokens]
            return torch.cat([images, text], dim=1) if image else text

        mask = kwargs.pop("attention_mask", None)  # LTX-Video's over the text's padding ``[B, 1, S·T]``: split with the text
        if mask is not None and mask.shape[-1] != encoder_hidden_states.shape[1]:
            raise VidlongError(f"the prompt timeline's text mask covers {mask.shape[-1]} tokens, its text "
                               f"{encoder_hidden_states.shape[1]}; pass one mask entry per text token")

        def text_mask(s: int) -> dict:
            """Segment `s`'s part of the text mask, as the keyword the module takes (nothing without one)."""
            if mask is None:
                return {}
            return dict(attention_mask=torch.cat([mask[..., :image], mask[..., image + s * state.text_tokens:
                                                                          image + (s + 1) * state.text_tokens]], dim=-1))

        trailing = None if self.audio else state.trailing
        grid = n if trailing is None else n - trailing.numel()  # the video's tokens; those after it by their segments
        bounds = [*(state.audio_starts if self.audio else video_token_starts(state)), grid]
        spans = list(zip(bounds, bounds[1:]))
        after = [] if trailing is None else [(trailing == s).nonzero()[:, 0] + grid for s in range(segments)]

        def queries(s: int, lo: int, hi: int) -> torch.Tensor:
            """Segment `s`'s queries: its tokens from `lo` to `hi`, then those after the grid in its time."""
            return hidden_states[:, lo:hi] if trailing is None else torch.cat([hidden_states[:, lo:hi],
                                                                               hidden_states[:, after[s]]], dim=1)

        pieces = [original(queries(s, lo, hi), context(s), *args, **kwargs, **text_mask(s)) for s, (lo, hi) in enumerate(spans)]
        out = torch.cat([piece[:, :hi - lo] for piece, (lo, hi) in zip(pieces, spans)], dim=1)
        if trailing is None:
            return out
        rest = torch.cat([piece[:, hi - lo:] for piece, (lo, hi) in zip(pieces, spans)], dim=1)
        return torch.cat([out, rest[:, torch.argsort(torch.cat(after))]], dim=1)  # each in its place


def apply_prompt_timeline(transformer, starts, text_tokens: int) -> TimelineState:
    """Give each segment (latent frames from ``starts[s]`` to the next start) its own text in every
    block's cross-attention of a Wan, LTX-Video or LTX-2 transformer (its adapter's `cross_attentions`, and LTX-2's
    `audio_cross_attentions` by the audio's time); undone
    by `remove_prompt_timeline`. Returns the hooks' state (a caller running windows of one video sets
    ``starts`` per forward)."""
    adapter = adapter_for(transformer)
    if not adapter.prompt_timeline:
        raise VidlongError(f"the prompt timeline serves Wan, SkyReels-V2, LTX-Video and LTX-2 models, not "
                           f"{adapter.transformer_class}; use one "
                           "prompt with this model, or stream it (vidlong stream takes a prompt schedule)")
    state = TimelineState(tuple(int(s) for s in starts), int(text_tokens), image_tokens=bool(transformer.config.get("image_dim")))
    HookRegistry.check_if_exists_or_initialize(transformer).register_hook(_FrameHook(state, adapter), _MODEL_HOOK)
    for attention in adapter.cross_attentions(transformer):
        HookRegistry.check_if_exists_or_initialize(attention).register_hook(_SegmentedCrossAttention(state), _BLOCK_HOOK)
    for attention in adapter.audio_cross_attentions(transformer):
        HookRegistry.check_if_exists_or_initialize(attention).register_hook(_SegmentedCrossAttention(state, audio=True),
                                                                            _BLOCK_HOOK)
    return state


def remove_prompt_timeline(transformer) -> None:
    """Undo `apply_prompt_timeline` (nothing to do when it was not applied, whatever the model)."""
    registry = getattr(transformer, "_diffusers_hook", None)
    if registry is None or registry.get_hook(_MODEL_HOOK) is None:
        return
    adapter = adapter_for(transformer)
    attentions = adapter.cross_attentions(transformer) + adapter.audio_cross_attentions(transformer)
    for module, name in [(transformer, _MODEL_HOOK), *((attention, _BLOCK_HOOK) for attention in attentions)]:
        registry = getattr(module, "_diffusers_hook", None)
        if registry is not None and registry.get_hook(name) is not None:
            registry.remove_hook(name, recurse=False)
