"""The one attention processor vidlong puts on a family's video self-attentions."""
from __future__ import annotations

from ..errors import VidlongError
from ..parallel import to_heads, to_tokens, ulysses_group
from .execute import run_plan
from .joint import run_joint_plan
from .kv_cache import LayerKV
from .linear import run_linear_plan


class VidlongAttnProcessor:
    """Replaces a family's own processor on video self-attention; executes the plan of the current forward.

    Args:
        state: the `VidlongState` shared with the transformer-level hook, which sets ``state.plan``
            before each forward. A stock plan goes through diffusers' own attention dispatch, so the
            output is the stock model's bit for bit. With ``state.stream`` set, the chunk attends to
            the rolling KV cache instead (RoPE placed by the stream, see `StreamContext`).
        stock: the processor this one replaced (its attention backend is kept for the stock path and
            for streaming; diffusers' ``set_attention_backend`` changes it as for any processor). Calls
            this one does not handle (cross-attention, an attention mask) go to it unchanged.
        kv: this self-attention's `LayerKV`, its storage in a stream's rolling KV cache.
        adapter: the family's `FamilyAdapter` (q/k/v and the output projection).
    """

    def __init__(self, state, stock, kv: LayerKV, adapter):
        self.state = state
        self.stock = stock
        self.kv = kv
        self.adapter = adapter
        # diffusers' `set_attention_backend` (e.g. "xformers", "flash") sets these on processors;
        # start from the stock processor's so a backend chosen before `apply` is kept
        self._attention_backend = getattr(stock, "_attention_backend", None)
        self._parallel_config = getattr(stock, "_parallel_config", None)

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None,
                 image_rotary_emb=None, perturbation_mask=None, all_perturbed=None, sparse_params=None, kv_cache=None,
                 kv_cache_flag=None, rotary_emb_kv=None, attn_mask=None):
        # the families name their RoPE argument rotary_emb (Wan, LTX, LTX-2: positional) or image_rotary_emb (keyword);
        # LTX-2 passes its key RoPE 6th (None in self-attention) and, in the blocks its STG perturbs, the perturbation;
        # Kandinsky 6 passes its key RoPE as rotary_emb_kv (in self-attention the query's) and attn_mask (None there)
        if attn_mask is not None:
            raise VidlongError("vidlong's processor on Kandinsky 6's video self-attention takes no attn_mask (its blocks "
                               "pass none); call it as Kandinsky6FusedTransformerDecoderBlock does")
        if self.adapter.stock_only:  # Helios: its 6th argument is its own (`apply` refuses methods there)
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb, image_rotary_emb)
        rotary = rotary_emb if rotary_emb is not None else image_rotary_emb
        if sparse_params is not None:  # Kandinsky 5's NABLA, its own sparse attention (`apply` refuses methods there)
            return self.stock(attn, hidden_states, rotary_emb=rotary, sparse_params=sparse_params)
        if kv_cache is not None:  # AnyFlow FAR's own block-causal cache (`apply` refuses methods there)
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary, kv_cache=kv_cache,
                              kv_cache_flag=kv_cache_flag)
        if self.adapter.linear:  # Sana-Video: linear attention, no logits for the kernels (`vidlong.attention.linear`)
            return self._linear(attn, hidden_states, encoder_hidden_states, attention_mask, rotary)
        joint = self.adapter.joint_text
        text = encoder_hidden_states if joint else None
        stg = {} if perturbation_mask is None and all_perturbed is None else dict(perturbation_mask=perturbation_mask,
                                                                                  all_perturbed=all_perturbed)
        if (encoder_hidden_states is not None and not joint) or (attention_mask is not None and not joint):
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary, **stg)
        if all_perturbed is not None and bool(all_perturbed):  # no attention to act on: its values pass
            return self.stock(attn, hidden_states, None, None, rotary, **stg)
        if perturbation_mask is not None and not bool((perturbation_mask == 1).all()):
            raise VidlongError("vidlong runs LTX-2's spatio-temporal guidance where it perturbs the whole batch, as "
                               "diffusers' LTX-2 pipelines call it; a perturbation_mask per sample is not implemented")
        stream = self.state.stream
        query, key, value = self.adapter.qkv(attn, hidden_states, None if stream is not None else rotary, text)
        text_tokens = 0 if text is None else text.shape[1]
        plan = self.state.plan
        stock = stream is None and (plan is None or plan.is_stock)
        group = None if stock else ulysses_group(self._parallel_config)
        if self.adapter.trailing_tokens and not stock:  # tokens past the plan's grid (Kandinsky 6's image): as text at the end
            ranks = 1 if group is None else group.size()  # context parallelism: this rank holds 1 / ranks of the tokens
            text_tokens = hidden_states.shape[1] * ranks - plan.layout.num_tokens
        if group is not None:  # context parallelism: every token of this rank's heads, as diffusers' Ulysses does
            if text is not None:  # trailing tokens are in every rank's share of the tokens, so in order after `to_heads`
                raise VidlongError("vidlong runs joint attention (the text of CogVideoX and HunyuanVideo beside the video's "
                                   "tokens) on one device; context parallelism serves Wan, LTX-Video and LTX-2: drop the "
                                   "parallel config")
            query, key, value = (to_heads(x, group) for x in (query, key, value))  # a stream's cache keeps these heads
        if stream is not None:
            out = stream.attend(self.kv, query, key, value, self._attention_backend)
        elif stock:
            out = self.adapter.stock_attention(query, key, value, attention_mask, hidden_states.shape[1],
                                               self._attention_backend, self._parallel_config)
        elif text_tokens:
            out = run_joint_plan(query, key, value, plan, text_tokens, self.adapter.text_at_end,
                                 self.adapter.visible_keys(attention_mask, hidden_states.shape[1]),
                                 self.state.kernel_for(query.device))
        else:
            out = run_plan(query, key, value, plan, self.state.kernel_for(query.device))
        if group is not None:
            out = to_tokens(out, group)
        return self.adapter.output(attn, out, query.dtype, text_tokens, hidden_states)

    def _linear(self, attn, hidden_states, encoder_hidden_states, attention_mask, rotary):
        """A linear self-attention: a stock plan (or a call it does not handle: cross-attention, a mask) through its own
        processor as it came, bit for bit; another plan's windows on its features, fused by the plan's bands (one device:
        its plans have no context-parallel path)."""
        plan = self.state.plan
        if plan is None or plan.is_stock or encoder_hidden_states is not None or attention_mask is not None:
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary)
        if ulysses_group(self._parallel_config) is not None:
            raise VidlongError("vidlong runs its windows on Sana-Video's linear attention on one device; drop context "
                               "parallelism or the method")
        features = self.adapter.linear_features(attn, hidden_states, rotary)
        return self.adapter.output(attn, run_linear_plan(*features, plan), hidden_states.dtype)
