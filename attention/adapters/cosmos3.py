"""NVIDIA Cosmos 3 (`Cosmos3OmniTransformer`): a mixture-of-transformers decoder (``layers[i].self_attn``, a
`Cosmos3PackedMoTAttention` whose `Cosmos3AttnProcessor` takes ``(attn, und_seq, gen_seq, rotary_emb)``), its sequence packed
without a batch dimension: the "und" tokens (the prompt's, ``[T, C]``) attend causally among themselves through ``to_q/k/v``,
``norm_q/k`` and ``to_out``; the "gen" tokens (the video's, ``[N, C]``, frame-major over its latents' 2x2 patches) through
``add_q/k/v_proj``, ``norm_added_q/k`` and ``to_add_out`` attend to every und key (normed for them by ``k_norm_und_for_gen``
where a release has it) and every gen key, with grouped-query attention (``num_key_value_heads`` may be fewer than the
heads), each pathway rotated by its own rows of the multimodal RoPE (``(cos_und, sin_und, cos_gen, sin_gen)``, halves
rotated).

The methods act on the gen queries and keys; the und keys are joint text keys for them (`FamilyAdapter.joint_text`, text
first), seen unmodified by every video query, and the und rows stay stock: no und query sees a gen key. `self_attentions`
gives each attention's processor slot (`Cosmos3Slot`): vidlong's processor goes on wrapped by `Cosmos3Call`, which runs the
und pathway as the stock processor does and hands vidlong's processor the gen tokens, the und tokens as the text (their
keys and values, already made, on the slot). The key and value heads are repeated to the query heads (`qkv`), as
grouped-query attention reads them, since vidlong's kernels take one key head a query head; a stock plan hands those to
diffusers' dispatch, as its processor hands the grouped ones with ``enable_gqa``.

Its forwards may also carry sound and action tokens among the gen tokens (``enable_sound``, ``action``), which vidlong
does not serve: `layout` refuses them."""
from __future__ import annotations

import inspect
from types import MappingProxyType

import torch

from ...errors import VidlongError
from ..layout import TokenLayout
from .base import FamilyAdapter
from .cosmos import COSMOS


def rotated(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Cosmos 3's RoPE on ``[S, H, D]`` (`cos`, `sin` ``[S, D]``), its halves rotated, as its processor applies it."""
    from diffusers.models.transformers.transformer_cosmos3 import _rotate_half

    return x * cos.unsqueeze(1) + _rotate_half(x) * sin.unsqueeze(1)


def heads(x: torch.Tensor, count: int, head_dim: int) -> torch.Tensor:
    """Projected tokens ``[S, count·head_dim]`` as ``[S, count, head_dim]``."""
    return x.view(-1, count, head_dim)


class Cosmos3Slot:
    """The processor slot of one `Cosmos3PackedMoTAttention` `attn`: ``processor`` reads as
    the attention's own processor, or the processor a `Cosmos3Call` on it holds; set, a `Cosmos3AttnProcessor` goes on as it
    is and any other wrapped by a `Cosmos3Call`.

    Attributes:
        pending: the und keys (normed for the gen queries) and values of the call in progress, ``[T, H_kv, D]`` each, RoPE
            on the keys; else None.
    """

    def __init__(self, attn):
        self.attn, self.pending = attn, None

    @property
    def processor(self):
        own = self.attn.processor
        return own.processor if isinstance(own, Cosmos3Call) else own

    @processor.setter
    def processor(self, processor):
        stock = type(processor).__name__ == "Cosmos3AttnProcessor"
        self.attn.set_processor(processor if stock else Cosmos3Call(self, processor))


class Cosmos3Call:
    """Stands on a Cosmos 3 attention for another processor `processor` (vidlong's, a test's reference): its call
    ``(attn, und_seq [T, C], gen_seq [N, C], (cos_und, sin_und, cos_gen, sin_gen))`` runs the und pathway as its stock
    processor does (`und_pathway`, with `processor`'s attention backend) and hands `processor` the gen tokens as
    ``(slot, gen [1, N, C], und [1, T, C], rotary_emb=(cos_gen, sin_gen))``, the und keys and values on the slot; returns
    ``(und_out [T, C], gen_out [N, C])``."""

    def __init__(self, slot: Cosmos3Slot, processor):
        self.slot, self.processor = slot, processor

    @property
    def _attention_backend(self):  # diffusers' set_attention_backend sets it on the processor a module holds
        return getattr(self.processor, "_attention_backend", None)

    @_attention_backend.setter
    def _attention_backend(self, backend):
        self.processor._attention_backend = backend

    def __call__(self, attn, und_seq, gen_seq, rotary_emb):
        cos_und, sin_und, cos_gen, sin_gen = rotary_emb
        und_out, self.slot.pending = und_pathway(attn, und_seq, cos_und, sin_und, self._attention_backend,
                                                 getattr(self.processor, "_parallel_config", None))
        try:
            gen_out = self.processor(self.slot, gen_seq[None], und_seq[None], rotary_emb=(cos_gen, sin_gen))
        finally:
            self.slot.pending = None
        return und_out, gen_out[0]


def und_pathway(attn, und_seq, cos, sin, backend=None, parallel_config=None) -> tuple:
    """The und tokens' causal self-attention as `Cosmos3AttnProcessor` runs it (`und_seq` ``[T, C]``, RoPE `cos`, `sin`
    ``[T, D]``): ``(und_out [T, C], (keys, values))``, the und keys normed for the gen queries and rotated, and the und
    values, ``[T, H_kv, D]`` each."""
    from diffusers.models.attention_dispatch import dispatch_attention_fn

    q = attn.norm_q(heads(attn.to_q(und_seq), attn.num_attention_heads, attn.head_dim))
    k = attn.norm_k(heads(attn.to_k(und_seq), attn.num_key_value_heads, attn.head_dim))
    v = heads(attn.to_v(und_seq), attn.num_key_value_heads, attn.head_dim)
    k_for_gen = attn.k_norm_und_for_gen(k) if attn.k_norm_und_for_gen is not None else k
    q, k, k_for_gen = (rotated(x, cos, sin) for x in (q, k, k_for_gen))
    out = dispatch_attention_fn(q[None], k[None], v[None], is_causal=True, enable_gqa=True, backend=backend,
                                parallel_config=parallel_config)
    return attn.to_out(out[0].flatten(-2, -1)), (k_for_gen, v)


class Cosmos3Adapter(FamilyAdapter):
    name = "cosmos3"
    transformer_class = "Cosmos3OmniTransformer"
    stream_contexts = ("renoise",)
    #: its streams, from text or an image (its image-to-video twin's: the image's latent the context's first frame), keep
    #: their context clean under its condition mask, as its ``video=`` call keeps a video's frames (`vidlong.families.cosmos3`),
    #: or re-noise it
    pipeline_stream_contexts = MappingProxyType(dict.fromkeys(("Cosmos3OmniPipeline", "Cosmos3OmniImageToVideoPipeline"),
                                                              ("clean", "renoise")))
    no_cache_reason = "its rolling KV cache (a packed sequence with the prompt's tokens first) is not implemented yet"
    pads_patch = True  # its 720-pixel sides: 45 cells of Wan2.2's VAE, 23 patches
    joint_text = True  # the und tokens: keys alone for the video queries (`qkv`), their own rows run apart (`Cosmos3Call`)

    def self_attentions(self, transformer) -> list:
        """Each layer's `Cosmos3Slot`."""
        return [Cosmos3Slot(layer.self_attn) for layer in transformer.layers]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """The patch grid of its one video (``vision_token_shapes`` ``[(F, h, w)]``, latent frames, 2x2 latent cells a token),
        which must fill the gen tokens (``sequence_length - und_len``): sound and action tokens refused."""
        bound = inspect.signature(transformer.forward).bind_partial(*args, **kwargs).arguments
        shapes = bound["vision_token_shapes"]
        extra = [name for name in ("sound_tokens", "action_tokens") if bound.get(name) is not None]
        if len(shapes) != 1 or extra:
            raise VidlongError(f"vidlong lays out Cosmos 3's generation tokens as one video's; this forward holds "
                               f"{len(shapes)} videos{' and ' + ', '.join(extra) if extra else ''}: generate one video "
                               "without sound (enable_sound=False) or actions")
        frames, height, width = shapes[0]
        return TokenLayout(frames, height, width, native_frames)

    def index_refusal(self, index):
        """A folder whose pipeline builds NVIDIA's guardrail as it loads (``enable_safety_checker``, true by default, with no
        checker of another library named), refused where cosmos_guardrail is not installed, as Cosmos-Predict2.5's
        (`CosmosAdapter.index_refusal`); one whose ``enable_safety_checker`` is false loads without it."""
        refusal = COSMOS.index_refusal(index) if index.get("enable_safety_checker", True) else None
        return refusal and f"{refusal}, or set enable_safety_checker to false in its model_index.json"

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As `Cosmos3AttnProcessor`'s gen pathway (`hidden_states` the gen tokens ``[1, N, C]``, `rotary` their
        ``(cos, sin)``): the queries ``[1, N, H, D]``, and the keys and values ``[1, T + N, H, D]``, the und ones first (the
        slot's, made by `und_pathway`), their heads repeated to the query heads."""
        module, gen = attn.attn, hidden_states[0]
        count, size = module.num_key_value_heads, module.head_dim
        q = module.norm_added_q(heads(module.add_q_proj(gen), module.num_attention_heads, size))
        k = module.norm_added_k(heads(module.add_k_proj(gen), count, size))
        v = heads(module.add_v_proj(gen), count, size)
        if rotary is not None:
            q, k = rotated(q, *rotary), rotated(k, *rotary)
        und_k, und_v = attn.pending
        key, value = (torch.cat(pair, dim=0).repeat_interleave(module.num_key_value_groups, dim=1)
                      for pair in ((und_k, k), (und_v, v)))
        return q[None], key[None], value[None]

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """The gen rows ``[1, N, H, D]``, heads joined, through ``to_add_out``: ``[1, N, C]``."""
        return attn.attn.to_add_out(out.flatten(2, 3).to(dtype))


COSMOS3 = Cosmos3Adapter()
