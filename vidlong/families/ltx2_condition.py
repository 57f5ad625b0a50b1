"""LTX-2 with keyframe and video conditions under vidlong (`vidlong.families`): diffusers' `LTX2ConditionPipeline` (the
weights of `LTX2Pipeline`; ``conditions=[LTX2VideoCondition(frames, index, strength, crf)]``), as `vidlong.families.ltx2`
serves LTX-2's other pipelines, with two arguments of vidlong's own: ``image=`` (a condition at the first latent frame)
and ``last_image=`` (one at the last).

What differs from `LTX2Pipeline` in what vidlong follows: diffusers' call reads a condition's ``index`` as a latent frame
(pixel frame ``8·(index - 1) + 1`` in its RoPE time past the first; -1: the last latent frame); a condition at latent
frame 0 replaces that frame's tokens, one at a later frame is appended after the video's tokens with its own positions
(the methods treat those as text at the end: `vidlong.attention.adapters.ltx2`); its noise is drawn over the packed tokens
``[B, N + K, C]`` (K: the appended tokens), at ``noise_scale`` 1 replacing what it is given (vidlong's call starts from
the given latents instead: `prepare_latents`); its latents argument is ``[B, C, F, h, w]``.
"""
from __future__ import annotations

import inspect

import torch
from diffusers import LTX2ConditionPipeline
from diffusers.pipelines.ltx2.pipeline_ltx2_condition import LTX2VideoCondition, retrieve_latents

from ..image_condition import FirstFrameLatent
from ..pipeline import VidlongPipelineMixin
from .ltx2 import LTX2Family


def image_conditions(conditions, image=None, last_image=None, last: int = -1) -> list:
    """diffusers' ``conditions`` (one, a list or None) as a list, with `image` at latent frame 0 and `last_image` at latent
    frame `last` (-1: the call's last) after them, each at strength 1 and the release's CRF."""
    given = [conditions] if isinstance(conditions, LTX2VideoCondition) else list(conditions or [])
    return given + [LTX2VideoCondition(frames, index) for frames, index in ((image, 0), (last_image, last)) if frames is not None]


class ConditionImages:
    """vidlong's ``image=`` and ``last_image=`` on a call taking diffusers' ``conditions`` (`LTX2VideoCondition`) first:
    LTX-2's (`LTX2Conditioned`) and LTX-2.5's (`vidlong.families.ltx2_dfr`), before `LTX2Family` in their bases."""

    def last_image_index(self, arguments: dict) -> int:
        """The latent frame `last_image` conditions in a call with `arguments` (by name): -1, its call's last."""
        return -1

    @classmethod
    def appended_latent_frames(cls, request, frames: int, temporal_ratio: int) -> int:
        """Latent frames of tokens its call appends after the video's for `request` made `frames` latent frames long: one for
        a `last_image` (an image is one latent frame; it conditions the last latent frame, past 0: appended, with its own
        positions), else none (an `image`, at latent frame 0, replaces that frame's tokens, as a last image does in a video
        of one latent frame)."""
        return int(request.last_image is not None and frames > 1)

    def appended_tokens(self, request, frames: int, height: int, width: int) -> int:
        """Its conditions' tokens after the video's grid, its `appended_latent_frames` at the video's `height` x `width`
        pixels (its call resizes an image to the video's size), beside those of the bases after it."""
        from ..estimate import video_tokens

        geometry = self.geometry()
        appended = video_tokens(geometry, self.appended_latent_frames(request, frames, geometry.temporal), height, width)
        return super().appended_tokens(request, frames, height, width) + appended

    def __call__(self, *args, image=None, last_image=None, **kwargs):
        """Its call (`VidlongPipelineMixin`), `image` (a PIL image or an image file's path) conditioning the first latent frame
        and `last_image` the last (`last_image_index`), after any ``conditions`` given, by name or by position
        (`image_conditions`); a prompt given by position, where its call takes ``conditions`` first, refused in one line as
        the mixin refuses it."""
        from ..pipeline import diffusers_class
        from ..validate import load_call_images

        if image is None and last_image is None:
            return super().__call__(*args, **kwargs)
        stock = diffusers_class(self)
        signature = inspect.signature(stock.__call__)
        arguments = signature.bind_partial(self, *args, **kwargs).arguments
        del arguments["self"]
        arguments.update(image=image, last_image=last_image)
        load_call_images(arguments, list(signature.parameters)[1] if args else None, stock.__name__)
        arguments["conditions"] = image_conditions(arguments.get("conditions"), arguments.pop("image"), arguments.pop("last_image"),
                                                   self.last_image_index(arguments))
        return super().__call__(**arguments)


class LTX2AppendedTokens:
    """What vidlong's LTX-2 pipelines whose call appends tokens after the video's share (diffusers' `LTX2ConditionPipeline`
    its keyframes', `LTX2InContextPipeline` and `LTX2HDRPipeline` a reference video's: `vidlong.families.ltx2_in_context`,
    `vidlong.families.ltx2_hdr`), before `LTX2Family` in their bases: their call takes latents ``[B, C, F, h, w]`` and draws
    its noise over the packed tokens ``[B, N + K, C']`` even when given them, so `generate` hands it the generator as it was
    before its own draw (`call_redraws_from`): the noise (and the audio's noise after it) is the stock call's for that seed."""

    call_redraws_from = "noise"

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for latents `shape` ``[1, C, F, h, w]``: plain noise as its call draws it, over its packed tokens
        ``[1, N, C']`` (then as ``[1, C, F, h, w]``): the first of the numbers its call draws over ``N + K`` tokens where
        ``N·C'`` is a multiple of 16 (PyTorch's CPU normal draws 16 at a time; LTX-2's releases have 128 channels); SpecMix
        and FreeNoise as vidlong draws them for every model."""
        if kind != "plain":
            return super().start_noise(kind, shape, native_frames, generator)
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        batch, channels, frames, height, width = shape
        tokens = (frames // pt) * (height // p) * (width // p)
        packed = torch.randn((batch, tokens, channels * p * p * pt), generator=generator)
        return self._unpack_latents(packed, frames // pt, height // p, width // p, p, pt)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, C, F, h, w]``, as its call takes them (`prepare_latents` starts from them)."""
        return latents

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Its output latents ``[B, C, F, h, w]`` as they are; its loop's packed tokens without the conditions' tokens after
        the video's."""
        if latents.ndim == 5:
            return latents
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        return super().grid_latents(latents[:, :(frames // pt) * (height // p) * (width // p)], frames, height, width)

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """``[B, C, F, h, w]`` alone, the layout its call takes (its own check refuses packed latents)."""
        return VidlongPipelineMixin.latents_shapes(self, arguments, batch)

    def prepare_latents(self, *args, noise_scale: float = 1.0, latents=None, **kwargs):
        """Its own (the conditions encoded, its noise drawn over the video's and the conditions' tokens), then, where given
        ``latents`` ``[B, C, F, h, w]`` at `noise_scale` 1 (where its own would drop them for its noise), the video's tokens
        mixed by the conditioning mask from them in place of its noise, as its own mixes its noise: at the same values, the
        same numbers (the rest of what its own returns as it is). At another `noise_scale` its own rule (given latents are a
        VAE's, partly noised)."""
        if latents is not None and noise_scale != 1.0:
            return super().prepare_latents(*args, noise_scale=noise_scale, latents=latents, **kwargs)
        prepared = super().prepare_latents(*args, noise_scale=noise_scale, **kwargs)
        if latents is None:
            return prepared
        noised, mask, clean = prepared[:3]
        start = self._pack_latents(latents.to(noised), self.transformer_spatial_patch_size, self.transformer_temporal_patch_size)
        video = start.shape[1]
        scaled = (1.0 - mask[:, :video]) * noise_scale
        return (torch.cat([start * scaled + clean[:, :video] * (1 - scaled), noised[:, video:]], dim=1), *prepared[1:])


class LTX2Conditioned(ConditionImages, LTX2AppendedTokens):
    """What vidlong's LTX-2 pipelines with frame conditions share (diffusers' `LTX2ConditionPipeline`, and
    `LTX2InContextPipeline`), before `LTX2Family` in their bases: ``image=`` and ``last_image=`` (`ConditionImages`), their
    appended tokens' noise (`LTX2AppendedTokens`)."""


class VidLongLTX2ConditionPipeline(LTX2Conditioned, LTX2Family, VidlongPipelineMixin, LTX2ConditionPipeline):
    """diffusers' `LTX2ConditionPipeline` with vidlong's surface, from text (its conditions given by ``conditions=``,
    ``image=`` and ``last_image=``: `LTX2Conditioned`)."""


class VidLongLTX2ConditionImageToVideoPipeline(VidLongLTX2ConditionPipeline):
    """`VidLongLTX2ConditionPipeline` given an image for its first frame (`generate` and its streams hand it as ``image=``: a
    condition at latent frame 0, strength 1, its tokens clean at timestep 0). Its latent is put into the start latents'
    first frame too (`image_in_start_latents`: no draw), as LTX-2's image-to-video streams keep it, clean, on every
    window's first frame."""

    task = "i2v"
    image_in_start_latents = True

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`FirstFrameLatent` of the image's latent as its call makes it from a condition at latent frame 0
        (`preprocess_conditions`: re-compressed at the release's CRF, resized and cropped; the VAE's mode, normalised;
        `frames` and `generator` unused), or of `latent` ``[1, C, 1, h, w]`` where it is made already."""
        from ..generate import load_image

        if latent is not None:
            return FirstFrameLatent(latent)
        device = self._execution_device
        pixels = self.preprocess_conditions([LTX2VideoCondition(load_image(image), 0)], height, width, 1, device)[0][0]
        vae = self.vae
        z = retrieve_latents(vae.encode(pixels), generator, "argmax").float()
        return FirstFrameLatent(self._normalize_latents(z, vae.latents_mean, vae.latents_std))
