"""NVIDIA Cosmos 1.0, Predict2 and Predict2.5 (`CosmosTransformer3DModel`): self-attention ``transformer_blocks[i].attn1``
(its `CosmosAttnProcessor2_0` in every release: projections, per-head RMS norms, RoPE, no mask) over frame-major tokens of the
patched latents ``[B, C, F, H, W]`` (patch ``(1, 2, 2)``; the call's condition mask and padding mask go in as channels);
the text enters by cross-attention ``attn2`` (Predict2.5's `CosmosAttnProcessor2_5` where it also reads an image context),
left to its own processor. Its RoPE is built at every forward from a table of ``max(max_size / patch)`` rows an axis (128
in every release's config): the most token frames, rows or columns one forward places (`CosmosAdapter.table_positions`); a
config with the learnable absolute embedding (``extra_pos_embed_type: learnable``, Cosmos 1.0's, none of Predict2's or
Predict2.5's) holds ``max_size / patch`` rows an axis of it (128 token frames, 120 rows and columns in 1.0's), added to the
tokens before each block's attention, which bound them too: vidlong bounds all three by the fewest, 120."""
from __future__ import annotations

import importlib.util
import inspect
from types import MappingProxyType
from typing import Optional

from ..layout import TokenLayout
from .base import FamilyAdapter


class CosmosAdapter(FamilyAdapter):
    name = "cosmos"
    transformer_class = "CosmosTransformer3DModel"
    stream_contexts = ("renoise",)
    #: Cosmos-Predict2.5's streams, from text or an image (its Image2World twin's: the image's latent the context's first
    #: frame), keep their context clean under its condition mask, as its Video2World call conditions
    #: (`vidlong.families.cosmos`), or re-noise it
    pipeline_stream_contexts = MappingProxyType(dict.fromkeys(("Cosmos2_5_PredictBasePipeline",
                                                               "Cosmos2_5_PredictImageToWorldPipeline"), ("clean", "renoise")))
    no_cache_reason = "its rolling KV cache (keys re-placed with its fps-scaled RoPE) is not implemented yet"
    no_stream_pipelines = {"Cosmos2_5_TransferPipeline": (
        "Cosmos-Transfer2.5 follows a control video, chunk after chunk: it generates, streams that video's chunks (vidlong "
        "stream --control-video) and continues a video along one (vidlong extend --control-video), with no chunked stream of "
        "its own")}
    no_latents_pipelines = dict.fromkeys(("CosmosTextToWorldPipeline", "CosmosVideoToWorldPipeline"), (
        "Cosmos 1.0's latents are normalised by its VAE's statistics of their frame's place in the video, which saved "
        "latents' replay from their tail would not follow"))
    #: the module list of its blocks, and the name of its forward's first argument (the latents ``[B, C, F, H, W]``)
    blocks, latents_argument = "transformer_blocks", "hidden_states"

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in getattr(transformer, self.blocks)]

    def layout(self, transformer, args, kwargs, native_frames) -> TokenLayout:
        """The grid of its latents ``[B, C, F, H, W]`` (its forward's first argument, `latents_argument`)."""
        latents = args[0] if args else kwargs[self.latents_argument]
        return TokenLayout.from_latents(latents.shape, transformer.config.patch_size, native_frames)

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `CosmosAttnProcessor2_0` for self-attention, in its order and layout (heads first, so that the
        stock path hands diffusers' dispatch the very tensors its processor does): projections, head split, per-head RMS
        norms, its RoPE (``(cos, sin)`` ``[N, D]``, halves rotated), the keys' and values' repeat to the queries' width;
        ``[B, N, H, D]`` each."""
        from diffusers.models.embeddings import apply_rotary_emb

        query, key, value = (proj(hidden_states).unflatten(2, (attn.heads, -1)).transpose(1, 2)
                             for proj in (attn.to_q, attn.to_k, attn.to_v))
        query, key = attn.norm_q(query), attn.norm_k(key)
        if rotary is not None:
            query, key = (apply_rotary_emb(x, rotary, use_real=True, use_real_unbind_dim=-2) for x in (query, key))
        key = key.repeat_interleave(query.size(3) // key.size(3), dim=3)
        value = value.repeat_interleave(query.size(3) // value.size(3), dim=3)
        return query.transpose(1, 2), key.transpose(1, 2), value.transpose(1, 2)

    def package_refusal(self, pipeline, transformer) -> Optional[str]:
        """A transformer that takes the padding mask as a channel (``concat_padding_mask``, every release's) resizes it with
        torchvision in its forward: refused where torchvision is not installed. Cosmos-Transfer2.5's control branch
        (`CosmosControlNetModel`) always does, through the ``transforms`` its module imports where torchvision is installed:
        refused where that module has none."""
        if transformer.get("concat_padding_mask", True) and importlib.util.find_spec("torchvision") is None:
            return ("this Cosmos transformer (concat_padding_mask) resizes its padding mask with torchvision, which is not "
                    "installed: pip install torchvision (or vidlong[cosmos])")
        if pipeline == "Cosmos2_5_TransferPipeline":
            from diffusers.models.controlnets import controlnet_cosmos

            if getattr(controlnet_cosmos, "transforms", None) is None:
                return ("Cosmos-Transfer2.5's control branch (CosmosControlNetModel) resizes its padding mask with "
                        "torchvision, which is not installed: pip install torchvision (or vidlong[cosmos])")
        return None

    def index_refusal(self, index) -> Optional[str]:
        """A folder whose ``safety_checker`` is left out, null or cosmos_guardrail's: its pipeline builds NVIDIA's guardrail
        as it loads (`CosmosSafetyChecker`), refused where cosmos_guardrail is not installed. A folder naming another
        library's checker loads that one."""
        from diffusers.utils import is_cosmos_guardrail_available

        library = (index.get("safety_checker") or [None])[0]
        if library in (None, "cosmos_guardrail") and not is_cosmos_guardrail_available():
            return ("this Cosmos folder's pipeline builds NVIDIA's guardrail (cosmos_guardrail's CosmosSafetyChecker) as it "
                    "loads, which is not installed: pip install cosmos_guardrail")
        return None

    def table_positions(self, config) -> Optional[int]:
        """Its RoPE table's rows, ``max(max_size / patch)`` (`CosmosRotaryPosEmbed`); with the learnable absolute embedding,
        the fewest rows of its three axes' tables (``min(max_size / patch)``). What a config.json leaves out is diffusers'
        default, as diffusers loads it (`_with_defaults`)."""
        config = _with_defaults(config)
        rows = [size // patch for size, patch in zip(config["max_size"], config["patch_size"])]
        return min(rows) if config["extra_pos_embed_type"] == "learnable" else max(rows)


def _with_defaults(config) -> dict:
    """`config` (a mapping) with `CosmosTransformer3DModel`'s own defaults where it leaves its arguments out."""
    from diffusers import CosmosTransformer3DModel

    defaults = {name: parameter.default for name, parameter in
                inspect.signature(CosmosTransformer3DModel.__init__).parameters.items() if parameter.default is not parameter.empty}
    return {**defaults, **config}


COSMOS = CosmosAdapter()
