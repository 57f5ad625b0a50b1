"""LoRA weights merged into a transformer: ``W + scale·B·A`` for each ``lora_A``/``lora_B`` pair.

Two users: `vidlong convert` (LongLive's ``lora.pt``, peft keys) and model folders whose
``vidlong.yaml`` names a ``base`` model and a ``lora`` file (the embedded ``default-causal`` model is
the default model plus a LoRA). The file format is diffusers' (``pytorch_lora_weights.safetensors``,
keys ``transformer.<module>.lora_A.weight`` ``[r, in]`` and ``lora_B.weight`` ``[out, r]``, scale 1),
so ``pipe.load_lora_weights`` reads it too where peft is installed.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import torch

from .errors import VidlongError

#: wrapper prefixes training code leaves in parameter names (FSDP, activation checkpointing, compile, DDP)
WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.", "module.")


def clean_name(key: str) -> str:
    """A parameter name without wrapper prefixes and its wrapper's leading ``model.``."""
    for prefix in WRAPPER_PREFIXES:
        key = key.replace(prefix, "")
    return key[len("model."):] if key.startswith("model.") else key


def lora_target(module: str) -> str:
    """The base weight a LoRA module name adapts: peft's ``base_model.model.`` and diffusers'
    ``transformer.`` prefixes and wrapper prefixes removed, ``.weight`` added."""
    return clean_name(re.sub(r"^(base_model\.model\.|transformer\.)+", "", module)) + ".weight"


def merge_lora(state: dict, lora: dict, scale: float, alpha: Optional[float] = None) -> int:
    """Merge LoRA pairs (``...<module>.lora_A.weight`` ``[r, in]`` and ``lora_B`` ``[out, r]``) into
    ``<module>.weight`` of `state` in place: ``W + scale·(alpha / r)·B·A`` (in float64, then the
    weight's dtype), alpha from a ``<module>.alpha`` entry (kohya's files), else `alpha` (peft's
    ``lora_alpha``), else r (scale 1, the diffusers format vidlong writes); returns how many modules
    were merged."""
    merged = 0
    lora = {key.replace(".default.", "."): value for key, value in lora.items()}  # peft's adapter name, if kept
    for key_a in [k for k in lora if k.endswith("lora_A.weight")]:
        module = key_a[: -len(".lora_A.weight")]
        key_b = f"{module}.lora_B.weight"
        target = lora_target(module)
        if key_b not in lora or target not in state:
            raise VidlongError(f"LoRA module {module!r} has no {'lora_B' if key_b not in lora else 'base weight'}; "
                               "is the LoRA made for this model?")
        weight = state[target]
        a, b = lora[key_a], lora[key_b]
        if a.ndim != 2 or b.ndim != 2 or (b.shape[0], a.shape[1]) != tuple(weight.shape) or a.shape[0] != b.shape[1]:
            raise VidlongError(f"LoRA module {module!r} is {tuple(b.shape)} x {tuple(a.shape)} but its weight is "
                               f"{tuple(weight.shape)}; is the LoRA made for this model?")
        delta = b.double() @ a.double()
        module_alpha = lora.get(f"{module}.alpha")
        module_alpha = float(module_alpha) if module_alpha is not None else alpha
        factor = scale * (module_alpha / a.shape[0] if module_alpha is not None else 1.0)
        state[target] = (weight.double() + factor * delta).to(weight.dtype)
        merged += 1
    if not merged:
        raise VidlongError("the LoRA file holds no lora_A/lora_B weights")
    return merged


def fuse_lora_link(transformer: torch.nn.Module, link) -> None:
    """Merge every LoRA of a `vidlong.models.LoraLink` chain into `transformer`, pipeline side first."""
    for path, scale in link.loras:
        fuse_lora_file(transformer, path, scale)


def fuse_lora_file(transformer: torch.nn.Module, path: Path, scale: float = 1.0) -> int:
    """Merge the LoRA safetensors file `path` into `transformer`'s weights; returns the modules merged."""
    import json

    from safetensors import SafetensorError, safe_open
    from safetensors.torch import load_file

    state = transformer.state_dict()
    try:
        tensors = load_file(str(path))
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        adapter = json.loads(metadata.get("lora_adapter_metadata") or "{}")  # peft's config, as diffusers saves it
    except (SafetensorError, OSError, ValueError) as err:
        raise VidlongError(f"{path} is not a readable safetensors LoRA ({type(err).__name__}); save it again") from None
    adapter = adapter if isinstance(adapter, dict) else {}
    alpha = adapter.get("transformer.lora_alpha", adapter.get("lora_alpha"))  # diffusers packs it under the component
    lora = {key: value for key, value in tensors.items() if not key.startswith("text_encoder.")}
    merged = merge_lora(state, lora, scale, None if alpha is None else float(alpha))
    transformer.load_state_dict(state)
    return merged
