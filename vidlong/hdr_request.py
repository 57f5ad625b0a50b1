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


def check_connector_embeds(given) -> None:
    """One line naming the field and the fix where `given` (``connector_embeds``: the path of a safetensors file holding
    ``video_context`` and ``audio_context``, or a dict of those two tensors) names no file, one safetensors cannot read, a
    key is missing, or a tensor is not ``[1, S, D]`` float. A file's header alone is read (its keys, shapes and dtypes):
    the run reads its two tensors (`read_connector_embeds`)."""
    if isinstance(given, (str, os.PathLike)):
        where, fields = f"{named('connector_embeds')} {given}", _header_layouts(given)
    elif isinstance(given, dict):
        where, fields = named("connector_embeds"), {key: _layout(value) for key, value in given.items() if value is not None}
    else:
        raise VidlongError(f"{named('connector_embeds')} is a {type(given).__name__}, not a file's path or a dict of "
                           f"video_context and audio_context; {MAKE_IT}")
    for key in CONNECTOR_KEYS.values():
        if key not in fields:
            raise VidlongError(f"{where} has no {key} (it holds {', '.join(sorted(fields)) or 'nothing'}); {MAKE_IT}")
        shape, kind, floating = fields[key]
        if shape is None or len(shape) != 3 or shape[0] != 1 or not floating:
            got = kind if shape is None else f"{list(shape)} {kind}"
            raise VidlongError(f"{where}: {key} must be a float tensor [1, S, D] (one video's), got {got}; {MAKE_IT}")


def read_connector_embeds(given) -> ConnectorEmbeds:
    """`ConnectorEmbeds` of `given` (checked by `check_connector_embeds`): a file's two tensors read on the CPU (its other
    tensors not read), or the dict's."""
    if isinstance(given, dict):
        return ConnectorEmbeds(*(given[key] for key in CONNECTOR_KEYS.values()))
    from safetensors import safe_open

    with safe_open(str(given), framework="pt") as handle:
        return ConnectorEmbeds(*(handle.get_tensor(key) for key in CONNECTOR_KEYS.values()))


def _layout(value) -> tuple:
    """(shape, dtype's name, whether floating) of a tensor given from Python; (None, its type's name, False) for anything
    else."""
    import torch

    if not isinstance(value, torch.Tensor):
        return None, type(value).__name__, False
    return tuple(value.shape), str(value.dtype).removeprefix("torch."), value.is_floating_point()


def _header_layouts(path) -> dict:
    """``{key: (shape, dtype's name, whether floating)}`` of the tensors of the safetensors file at `path`, from its header
    alone (safetensors' dtype names: F32, BF16, F8_E4M3, I64, ...); one line where there is no file or it is not one."""
    from pathlib import Path

    from safetensors import SafetensorError, safe_open

    if not Path(path).is_file():
        raise VidlongError(f"{named('connector_embeds')}: no file at {path}; {MAKE_IT}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            slices = {key: handle.get_slice(key) for key in handle.keys()}
            return {key: (tuple(part.get_shape()), part.get_dtype(), part.get_dtype().startswith(("F", "BF")))
                    for key, part in slices.items()}
    except (SafetensorError, OSError, ValueError) as err:
        raise VidlongError(f"{named('connector_embeds')} {path} is not a safetensors file safetensors can read "
                           f"({type(err).__name__}); {MAKE_IT}") from None


def check_hdr_request(request, limits) -> None:
    """A request's HDR inputs against `limits` (`vidlong.validate.ModelLimits`), before any model loads: its
    ``connector_embeds`` readable (`check_connector_embeds`), for an HDR pipeline alone, given without a negative prompt,
    a guidance above 1 or a prompt timeline (its call reads one unguided sample's embeddings in place of the prompt's);
    no diffusion decoder on an HDR pipeline (`HDR_DECODE`; its latent upsampler: `vidlong.validate.upsampler_folder`)."""
    from .schedulers.timeline import parse_prompt_timeline

    hdr = limits.control == "hdr"
    if request.connector_embeds is not None:
        if not hdr:
            describe = "" if request.prompt.strip() else f" and describe the video with {named('prompt')}"
            raise VidlongError(f"{named('connector_embeds')} gives LTX-2's HDR IC-LoRA pipeline (LTX2HDRPipeline) its text; this "
                               f"model takes none: drop {named('connector_embeds')}{describe}")
        check_connector_embeds(request.connector_embeds)
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
