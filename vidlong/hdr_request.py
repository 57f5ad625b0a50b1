"""The request inputs of LTX-2's HDR IC-LoRA pipeline (`vidlong.families.ltx2_hdr`), read and checked before any model
loads (no diffusers here): the HDR LoRA's pre-computed connector embeddings (``connector_embeds``, the CLI's
--connector-embeds FILE.safetensors of ``video_context`` and ``audio_context``, as diffusers' example reads them), which its
call takes in place of the prompt's encoding, unguided; and what an HDR request refuses (`check_hdr_request`)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import VidlongError, named

if TYPE_CHECKING:
    import torch

#: the keys of the connector embeddings' file, as diffusers' example reads them, by its call's argument
CONNECTOR_KEYS = {"connector_video_embeds": "video_context", "connector_audio_embeds": "audio_context"}
#: why an HDR pipeline's latents take no second stage (`vidlong.validate.upsampler_folder`, `check_hdr_request`)
HDR_DECODE = ("LTX-2's HDR pipeline decodes its latents to linear light by LogC3's inverse, where a latent upsampler and a "
              "diffusion decoder decode theirs to the VAE's SDR range")
#: how to make the file, for refusals
MAKE_IT = ("save the HDR LoRA's connector embeddings [1, S, D] with safetensors.torch.save_file({'video_context': ..., "
           "'audio_context': ...}, 'embeds.safetensors')")


@dataclass(frozen=True)
class ConnectorEmbeds:
    """The HDR LoRA's pre-computed connector embeddings: its text connectors' video and audio outputs, each ``[1, S, D]``
    float (one video's), which its call takes as ``connector_video_embeds`` and ``connector_audio_embeds``."""

    video: "torch.Tensor"
    audio: "torch.Tensor"

    def arguments(self) -> dict:
        """Its call's arguments."""
        return dict(connector_video_embeds=self.video, connector_audio_embeds=self.audio)


def read_connector_embeds(given) -> ConnectorEmbeds:
    """`ConnectorEmbeds` of `given`: the path of a safetensors file holding ``video_context`` and ``audio_context``, or a
    dict of those two tensors. One line naming the field and the fix where no file is there, safetensors cannot read it, a
    key is missing, or a tensor is not ``[1, S, D]`` float."""
    import torch

    if isinstance(given, (str, os.PathLike)):
        where, fields = f"{named('connector_embeds')} {given}", _read_safetensors(given)
    else:
        where, fields = named("connector_embeds"), given
    if not isinstance(fields, dict):
        raise VidlongError(f"{where} is a {type(fields).__name__}, not a file's path or a dict of video_context and "
                           f"audio_context; {MAKE_IT}")
    tensors = []
    for key in CONNECTOR_KEYS.values():
        value = fields.get(key)
        if value is None:
            raise VidlongError(f"{where} has no {key} (it holds {', '.join(sorted(fields)) or 'nothing'}); {MAKE_IT}")
        if not isinstance(value, torch.Tensor) or value.ndim != 3 or value.shape[0] != 1 or not value.is_floating_point():
            shape = list(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            raise VidlongError(f"{where}: {key} must be a float tensor [1, S, D] (one video's), got {shape}; {MAKE_IT}")
        tensors.append(value)
    return ConnectorEmbeds(*tensors)


def _read_safetensors(path) -> dict:
    """The tensors of the safetensors file at `path`, on the CPU; one line where there is no file or it is not one."""
    from pathlib import Path

    from safetensors.torch import load_file

    if not Path(path).is_file():
        raise VidlongError(f"{named('connector_embeds')}: no file at {path}; {MAKE_IT}")
    try:
        return load_file(str(path))
    except Exception as err:  # noqa: BLE001 - safetensors raises its own and OS errors for a damaged or foreign file
        raise VidlongError(f"{named('connector_embeds')} {path} is not a safetensors file safetensors can read "
                           f"({type(err).__name__}); {MAKE_IT}") from None


def check_hdr_request(request, limits) -> None:
    """A request's HDR inputs against `limits` (`vidlong.validate.ModelLimits`), before any model loads: its
    ``connector_embeds`` readable (`read_connector_embeds`), for an HDR pipeline alone, given without a negative prompt,
    a guidance above 1 or a prompt timeline (its call reads one unguided sample's embeddings in place of the prompt's);
    no diffusion decoder on an HDR pipeline (`HDR_DECODE`; its latent upsampler: `vidlong.validate.upsampler_folder`)."""
    from .schedulers.timeline import parse_prompt_timeline

    hdr = limits.control == "hdr"
    if request.connector_embeds is not None:
        if not hdr:
            describe = "" if request.prompt.strip() else f" and describe the video with {named('prompt')}"
            raise VidlongError(f"{named('connector_embeds')} gives LTX-2's HDR IC-LoRA pipeline (LTX2HDRPipeline) its text; this "
                               f"model takes none: drop {named('connector_embeds')}{describe}")
        read_connector_embeds(request.connector_embeds)
        if request.negative_prompt:
            raise VidlongError(f"with {named('connector_embeds')} its call reads them in place of the prompt's text, unguided: "
                               f"drop {named('negative_prompt')}")
        if len(parse_prompt_timeline(request.prompt)) > 1:
            raise VidlongError(f"with {named('connector_embeds')} its call reads them in place of the prompt's text, which a "
                               f"timeline would split: give one {named('prompt')}")
        if request.guidance is not None and request.guidance > 1:
            raise VidlongError(f"with {named('connector_embeds')} its call runs unguided (the embeddings are one sample's, no "
                               f"negative's): drop {named('guidance')} {request.guidance:g} (or pass 1)")
    if hdr and request.decoder is not None:
        raise VidlongError(f"{named('decoder')}: {HDR_DECODE}; drop {named('decoder')}")
