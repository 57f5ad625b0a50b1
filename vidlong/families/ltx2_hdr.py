"""LTX-2 with its HDR IC-LoRA under vidlong (`vidlong.families`): diffusers' `LTX2HDRPipeline` (the weights of
`LTX2Pipeline`, with an HDR IC-LoRA loaded), which turns an SDR reference video into a linear HDR one (``[0, inf)``, LogC3's
inverse of its VAE's decode), with vidlong's ``reference_video=`` (`vidlong.families.ltx2_in_context.ReferenceVideo`), which
`generate` gives from a control video (``control_video``, the CLI's --control-video; needed).

What differs from `LTX2InContextPipeline` in what vidlong follows: its reference is resized keeping its aspect and
reflect-padded to the video's size (not cropped), its tokens after the video's as the in-context pipeline's (no keyframes
before them), treated by the methods as text at the end (`vidlong.attention.adapters.ltx2`); its call runs the audio branch
but returns no sound, and guides the video alone (classifier-free guidance only above 1). Its text comes from a prompt, or
from the HDR LoRA's pre-computed connector embeddings (``connector_embeds``, the CLI's --connector-embeds FILE.safetensors
with ``video_context`` and ``audio_context``: `vidlong.hdr_request`), which its call takes in place of the prompt's,
unguided. Its ``output_type="np"`` frames are linear light: `generate` keeps them (``hdr``) and
tone-maps them to uint8 (`vidlong.hdr_video`).
"""
from __future__ import annotations

from diffusers import LTX2HDRPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_hdr_lora import LTX2HDRReferenceCondition

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from .ltx2 import LTX2Family
from .ltx2_condition import LTX2AppendedTokens
from .ltx2_in_context import ReferenceVideo


class VidLongLTX2HDRPipeline(ReferenceVideo, LTX2AppendedTokens, LTX2Family, VidlongPipelineMixin, LTX2HDRPipeline):
    """diffusers' `LTX2HDRPipeline` with vidlong's surface, from text or the HDR LoRA's connector embeddings: its reference
    videos given by ``reference_conditions=`` and ``reference_video=`` (`ReferenceVideo`); its ``output_type="np"`` frames
    linear HDR ``[B, T, H, W, 3]`` in ``[0, inf)`` (`makes_hdr`), no sound."""

    makes_audio = False
    makes_hdr = True
    reference_condition = LTX2HDRReferenceCondition

    def forwards_per_step(self, guidance: float) -> int:
        """Its video's guidance alone: classifier-free guidance above 1 (two samples a forward); spatio-temporal and
        modality guidance off at its call's defaults."""
        return 2 if guidance > 1 else 1

    def __call__(self, *args, **kwargs):
        """Its call (`ReferenceVideo`); given connector embeddings with no ``guidance_scale``, unguided (its call's own 1, not
        the spec's); one line for a guidance above 1 with them (its call would pair one sample's embeddings with two)."""
        if kwargs.get("connector_video_embeds") is not None:
            if kwargs.get("guidance_scale") is None:
                kwargs["guidance_scale"] = 1.0
            if kwargs["guidance_scale"] > 1:
                raise VidlongError("connector_video_embeds are one sample's text, unguided: pass guidance_scale=1 with them "
                                   "(or a prompt in their place)")
        return super().__call__(*args, **kwargs)
