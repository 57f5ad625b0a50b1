"""Allegro (`AllegroTransformer3DModel`): self-attention ``transformer_blocks[i].attn1`` over the video tokens alone (the
T5 text enters by cross-attention, ``attn2``, which keeps its own processor), frame-major from its latents
``[B, C, F, H, W]``: each latent frame patched on its own (`PatchEmbed`, ``patch_size`` x ``patch_size``), rows then
columns within a frame. Its 3D RoPE comes with every forward from the pipeline (``image_rotary_emb``: three cos/sin
tables, one per axis, and each token's frame, row and column, `AllegroPipeline._prepare_rotary_positional_embeddings`
for the forward's grid); it turns the three thirds of each head's channels (time, rows, columns) by diffusers'
`apply_rotary_emb_allegro`. No self-attention mask: its pipeline passes none."""
from __future__ import annotations

from .base import FamilyAdapter


class AllegroAdapter(FamilyAdapter):
    name = "allegro"
    transformer_class = "AllegroTransformer3DModel"
    stream_contexts = ("renoise",)
    #: its VAE decodes F latent frames to 4F pixel frames of which its call keeps ``num_frames``, made from
    #: ``ceil(n / 4)`` latent frames for an even count n and ``ceil((n - 1) / 4) + 1`` for an odd one: the fewest that
    #: hold them for 4F (its default 88), 4F - 2 and 4F - 3, but F + 1 for 4F - 1 (a last latent frame whose frames it
    #: drops whole), which is refused
    frame_counts = (1, 2, 4)
    no_cache_reason = ("its RoPE comes from the pipeline with every forward, per frame, row and column, which a rolling KV "
                       "cache would have to re-place; not implemented yet")

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `AllegroAttnProcessor2_0` for self-attention: projections, head split, its RoPE on q and k
        (`rotary`: ``((cos, sin) per axis, positions [3, 1, N])``); ``[B, N, H, D]`` each."""
        from diffusers.models.embeddings import apply_rotary_emb_allegro

        batch = hidden_states.shape[0]
        query, key, value = (proj(hidden_states).view(batch, -1, attn.heads, proj.out_features // attn.heads).transpose(1, 2)
                             for proj in (attn.to_q, attn.to_k, attn.to_v))
        if rotary is not None:
            query, key = apply_rotary_emb_allegro(query, *rotary), apply_rotary_emb_allegro(key, *rotary)
        return tuple(x.transpose(1, 2) for x in (query, key, value))


ALLEGRO = AllegroAdapter()
