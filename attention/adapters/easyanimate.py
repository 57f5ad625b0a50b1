"""EasyAnimate (`EasyAnimateTransformer3DModel`): joint self-attention ``transformer_blocks[i].attn1`` over the text
tokens followed by the video tokens. Its MMDiT blocks (the first ``mmdit_layers``) take the text through projections
and per-head norms of their own (``add_q/k/v_proj``, ``norm_added_q/k``) and give it back through ``to_add_out``; the
others take it through the video's projections and norms and give it back unprojected. Video tokens frame-major from its
latents ``[B, C, F, H, W]`` (patch ``(1, patch_size, patch_size)``), its 3D RoPE (diffusers' `get_3d_rotary_pos_embed`,
made for each forward's grid) on the video tokens alone; no mask (its call pads every prompt to 256 tokens and every
query sees every one of them)."""
from __future__ import annotations

import torch

from .base import FamilyAdapter, rotate_video_tokens


def _heads(x: torch.Tensor, attn) -> torch.Tensor:
    """``[B, S, H·D]`` -> ``[B, H, S, D]``, as its processor splits the heads."""
    return x.unflatten(2, (attn.heads, -1)).transpose(1, 2)


def _projected(attn, states: torch.Tensor, projections, norms) -> list:
    """q, k, v ``[B, H, S, D]`` of `states` through `projections` (q, k, v), q and k through `norms` where they are set."""
    query, key, value = (_heads(proj(states), attn) for proj in projections)
    return [query if norms[0] is None else norms[0](query), key if norms[1] is None else norms[1](key), value]


class EasyAnimateAdapter(FamilyAdapter):
    name = "easyanimate"
    transformer_class = "EasyAnimateTransformer3DModel"
    stream_contexts = ("renoise",)
    no_cache_reason = ("its text tokens join every video self-attention, so each chunk would re-run them against the cache; "
                       "not implemented yet")
    joint_text = True

    def self_attentions(self, transformer) -> list:
        return [block.attn1 for block in transformer.transformer_blocks]

    def qkv(self, attn, hidden_states, rotary, text=None):
        """As diffusers' `EasyAnimateAttnProcessor2_0`: ``[B, T + N, H, D]`` each, text then video; in an MMDiT block the
        text through its own projections and norms, else text and video joined before the shared ones; the RoPE on the
        video tokens."""
        video_parts = (attn.to_q, attn.to_k, attn.to_v), (attn.norm_q, attn.norm_k)
        if attn.add_q_proj is None:
            joint = _projected(attn, torch.cat([text, hidden_states], dim=1), *video_parts)
        else:
            words = _projected(attn, text, (attn.add_q_proj, attn.add_k_proj, attn.add_v_proj),
                               (attn.norm_added_q, attn.norm_added_k))
            joint = [torch.cat(pair, dim=2) for pair in zip(words, _projected(attn, hidden_states, *video_parts))]
        if rotary is not None:
            video = slice(text.shape[1], None)
            joint[0], joint[1] = rotate_video_tokens(joint[0], rotary, video, 2), rotate_video_tokens(joint[1], rotary, video, 2)
        return tuple(x.transpose(1, 2) for x in joint)

    def output(self, attn, out, dtype, text_tokens=0, states=None):
        """``(video, text)`` hidden states as its blocks take them back: the video through ``to_out``, the text through
        ``to_add_out`` where the block has it (its MMDiT blocks)."""
        joint = out.flatten(2, 3).to(dtype)
        text, video = joint[:, :text_tokens], joint[:, text_tokens:]
        video = attn.to_out[1](attn.to_out[0](video))
        if getattr(attn, "to_add_out", None) is not None:
            text = attn.to_add_out(text)
        return video, text


    def parts_refusal(self, pipeline, transformer, vae):
        """What diffusers' two calls fail on: `EasyAnimatePipeline` gives its transformer latents of the transformer's
        ``in_channels`` and reshapes its prediction to them, which an InP transformer (more input channels than the
        VAE's latents, fewer out) cannot give back; `EasyAnimateInpaintPipeline` (an image's video and mask) gives it
        the latents, the mask's latent (1 channel where ``resize_inpaint_mask_directly``, else the VAE's channels) and the
        masked video's latents, a text-to-video transformer's other path failing, and reads the VAE config's
        ``cache_mag_vae`` to resize the mask (`AutoencoderKLMagvit` registers none: a release's config writes it)."""
        taken, latents = transformer.get("in_channels"), vae.get("latent_channels")
        resized = transformer.get("resize_inpaint_mask_directly", True)
        inpaint = 2 * latents + (1 if resized else latents)
        field = "transformer/config.json in_channels"
        if pipeline == "EasyAnimatePipeline" and taken != latents:
            return (f"this EasyAnimatePipeline's transformer takes {taken} input channels ({field}), not the VAE's {latents} "
                    + ("latent channels alone: it is an InP (image-to-video) transformer, which EasyAnimatePipeline's call "
                       "cannot run; set model_index.json's _class_name to EasyAnimateInpaintPipeline and give it an image"
                       if taken == inpaint else "latent channels its call gives it; use a transformer and VAE of one release"))
        if pipeline != "EasyAnimateInpaintPipeline":
            return None
        if taken == latents:
            return (f"this EasyAnimateInpaintPipeline's transformer takes {taken} input channels ({field}), the latents "
                    "alone: it is a text-to-video transformer; set model_index.json's _class_name to EasyAnimatePipeline, "
                    "or use an InP (inpaint) release")
        if taken != inpaint:
            return (f"this EasyAnimateInpaintPipeline's transformer takes {taken} input channels ({field}), not the "
                    f"{inpaint} its call gives it (the VAE's {latents} latent channels, the mask's {inpaint - 2 * latents}, "
                    f"the masked video's {latents}); use a transformer and VAE of one release")
        if resized and vae.get("cache_mag_vae") is None:
            return ("vae/config.json has no cache_mag_vae, which diffusers' EasyAnimateInpaintPipeline reads to resize the "
                    "mask (its transformer's resize_inpaint_mask_directly): add \"cache_mag_vae\": true to vae/config.json")
        return None


EASYANIMATE = EasyAnimateAdapter()
