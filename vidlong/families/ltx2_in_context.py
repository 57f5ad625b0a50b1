"""LTX-2 with in-context (IC-LoRA) reference videos under vidlong (`vidlong.families`): diffusers' `LTX2InContextPipeline`
(the weights of `LTX2Pipeline`, with an IC-LoRA loaded; ``reference_conditions=[LTX2ReferenceCondition(frames, strength)]``
beside the frame conditions of `LTX2ConditionPipeline`), with one argument of vidlong's own: ``reference_video=`` (a video
file's path, or its frames), which `generate` gives from a control video (``control_video``, the CLI's --control-video).

What differs from `LTX2ConditionPipeline` in what vidlong follows: its call encodes each reference video (resized and
cropped to the video's size over ``reference_downscale_factor``, its first ``num_frames`` pixel frames: a longer one is cut
there, a shorter one makes fewer tokens) and appends its tokens after the video's and the keyframes', at the RoPE positions
of a video of its own latent sizes from time 0 (the generated video's positions where both are as long), kept clean at
strength 1; the methods treat those tokens as text at the end, as the keyframes' (`vidlong.attention.adapters.ltx2`).
Its ``conditioning_attention_strength`` below 1 (or a ``conditioning_attention_mask``) masks the video's self-attention,
where vidlong's processor would fall back to the stock attention: refused while methods are applied.

An IC-LoRA trained on references smaller than its videos records the ratio in its safetensors metadata
(``reference_downscale_factor``), which diffusers' call takes as an argument but does not read: merged by ``--lora``
(`vidlong.load_pipeline`'s ``loras``) or named by its folder's ``vidlong.yaml``, its factor becomes the call's default
(`vidlong.reference_size.lora_downscale_factor`).
"""
from __future__ import annotations

from diffusers import LTX2InContextPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from ..reference_size import lora_downscale_factor
from .ltx2 import LTX2Family
from .ltx2_condition import LTX2Conditioned


def reference_conditions(given, reference_video=None, condition=LTX2ReferenceCondition) -> list:
    """diffusers' ``reference_conditions`` (one, a list or None) as a list, with `reference_video` (a video file's path, or
    frames: PIL images or uint8 ``[T, H, W, 3]``) after them at strength 1, as a `condition` (its call's class:
    `LTX2ReferenceCondition`, the HDR pipeline's `LTX2HDRReferenceCondition`)."""
    from ..video_to_video import input_video, is_video_path

    references = [given] if isinstance(given, condition) else list(given or [])
    if reference_video is None:
        return references
    frames = input_video(reference_video, None, "reference_video")[0] if is_video_path(reference_video) else reference_video
    return references + [condition(list(frames) if hasattr(frames, "ndim") else frames)]


class ReferenceVideo:
    """What vidlong's LTX-2 pipelines that follow IC-LoRA reference videos share (diffusers' `LTX2InContextPipeline`, and
    `LTX2HDRPipeline`: `vidlong.families.ltx2_hdr`), before `LTX2Family` in their bases: vidlong's ``reference_video=``
    beside diffusers' ``reference_conditions=`` (of its call's `reference_condition` class), the
    ``reference_downscale_factor`` its merged IC-LoRAs record, and the tokens a request's reference appends (the run
    estimate's)."""

    #: the class of its call's ``reference_conditions``
    reference_condition = LTX2ReferenceCondition

    @staticmethod
    def check_lora_metadata(loras) -> None:
        """`vidlong.pipeline.check_loras`' check, before loading: the factor its LoRAs record is one it can use."""
        lora_downscale_factor([lora.path for lora in loras])

    def reference_downscale(self) -> int:
        """The ``reference_downscale_factor`` its call takes by default: the one its merged LoRAs record, its folder's
        ``vidlong.yaml``'s too (`lora_downscale_factor`), else its call's 1."""
        return lora_downscale_factor([lora.path for lora in self.vidlong_linked_loras + self.vidlong_loras]) or 1

    def appended_tokens(self, request, frames: int, height: int, width: int) -> int:
        """Those of the bases after it (the in-context pipeline's frame conditions) and, with a control video, its reference
        video's after them: `generate` hands its call the control video's first pixel frames, as many as the video's
        (`vidlong.control_video.control_arguments`), so `frames` latent frames of ``height // f`` x ``width // f`` pixels
        (f: `reference_downscale`), each side cut to the VAE's multiple (the in-context call's resize rounds it down; the HDR
        call's VAE takes no other), as diffusers' ``_encode_reference_conditions`` encodes it."""
        from ..estimate import video_tokens

        appended = super().appended_tokens(request, frames, height, width)
        if request.control_video is None:
            return appended
        factor = self.reference_downscale()
        return appended + video_tokens(self.geometry(), frames, height // factor, width // factor)

    def __call__(self, *args, reference_video=None, **kwargs):
        """Its call, `reference_video` after any ``reference_conditions`` given by name (`reference_conditions`),
        ``reference_downscale_factor`` by default `reference_downscale`; one line for a ``height`` or ``width`` given by name
        whose reference at that factor its call would not encode (`vidlong.reference_size.check_reference_size`)."""
        from ..reference_size import check_reference_size
        from ..validate import limits_for_pipeline, video_size

        if reference_video is not None:
            if len(args) > 2:  # its call's third parameter
                raise VidlongError("reference_video= adds to reference_conditions given by name: pass reference_conditions= "
                                   "by name beside it")
            kwargs["reference_conditions"] = reference_conditions(kwargs.get("reference_conditions"), reference_video,
                                                                  self.reference_condition)
        factor = self.reference_downscale()
        if factor != 1:  # else its call's own default
            kwargs.setdefault("reference_downscale_factor", factor)
        if kwargs.get("reference_conditions") and (kwargs.get("height") is not None or kwargs.get("width") is not None):
            limits = limits_for_pipeline(self)  # the other side the spec's
            check_reference_size(limits, *video_size(limits, kwargs.get("height"), kwargs.get("width")),
                                 kwargs.get("reference_downscale_factor", factor))
        return super().__call__(*args, **kwargs)


class VidLongLTX2InContextPipeline(ReferenceVideo, LTX2Conditioned, LTX2Family, VidlongPipelineMixin, LTX2InContextPipeline):
    """diffusers' `LTX2InContextPipeline` with vidlong's surface, from text: its reference videos given by
    ``reference_conditions=`` and ``reference_video=`` (`ReferenceVideo`), its frame conditions by ``conditions=``,
    ``image=`` and ``last_image=`` (`LTX2Conditioned`)."""

    def __call__(self, *args, **kwargs):
        """Its call (`ReferenceVideo`, `LTX2Conditioned`); one line where the video's self-attention would be masked (its
        ``conditioning_attention_strength`` below 1, or a ``conditioning_attention_mask``) under vidlong's methods."""
        from ..hooks import state_of

        masked = kwargs.get("conditioning_attention_strength", 1.0) < 1.0 or kwargs.get("conditioning_attention_mask") is not None
        if masked and state_of(self.transformer) is not None:
            raise VidlongError("conditioning_attention_strength below 1 or a conditioning_attention_mask masks LTX-2's video "
                               "self-attention, which vidlong's methods do not act on: pass neither, or remove the methods")
        return super().__call__(*args, **kwargs)
