"""`vidlong convert`: published block-causal checkpoints of Wan2.1-T2V-1.3B (Self-Forcing, CausVid,
LongLive) into a diffusers pipeline folder that `vidlong stream` runs with their sampler.

Their `.pt` files hold the original Wan key layout under a ``generator`` (or ``generator_ema``) entry,
prefixed ``model.`` (their wrapper's attribute; FSDP or compile wrappers may add more). The weights
are the stock transformer's: no layer is added or removed. LongLive adds a LoRA (``lora.pt``, peft
keys under ``generator_lora``), merged here as ``W + (alpha / rank)·B·A``. The keys are mapped by
diffusers' own `convert_wan_transformer_to_diffusers`; the other components (text encoder, VAE,
tokenizer, scheduler) come from a diffusers Wan2.1-T2V-1.3B folder, linked (or copied), and a
`vidlong.yaml` records the source's sampler and streaming settings.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .errors import VidlongError
from .files import check_name_fits, check_writable_folder
from .lora import clean_name, merge_lora
from .models import spec_for_folder

@dataclass(frozen=True)
class Source:
    """One published layout: which entry of the checkpoint holds the weights, and the settings its
    streams run with (`vidlong.yaml` fields)."""

    weights: str
    stream: dict = field(default_factory=dict)
    lora: bool = False


#: the native window, fps and size are the base folder's (`--base`), not repeated here
_WAN_13B = dict(stream_context="cache", stream_sampler="causal")
SOURCES = {
    # Self-Forcing: README's --use_ema; 4 levels warped by its shift of 5; chunks of 3 over all 21 frames
    "self-forcing": Source("generator_ema", dict(_WAN_13B, stream_timesteps=[1000, 750, 500, 250], stream_shift=5.0)),
    # CausVid: 3 levels, used as given (no warp); chunks of 3 over all 21 frames
    "causvid": Source("generator", dict(_WAN_13B, stream_timesteps=[1000, 757, 522], stream_shift=1.0)),
    # LongLive: Self-Forcing's sampler; 3 sinks + 9 recent frames; its LoRA merged (`--lora`)
    "longlive": Source("generator", dict(_WAN_13B, stream_timesteps=[1000, 750, 500, 250], stream_shift=5.0,
                                         stream_preset="longlive"), lora=True),
}


def strip_prefixes(state: dict) -> dict:
    """`state` with every name cleaned (`clean_name`)."""
    return {clean_name(key): value for key, value in state.items()}


def _load(path: Path) -> dict:
    from .torch_file import read_torch_file

    missing = f"no checkpoint at {path}: check the path"
    if not path.is_file():
        raise VidlongError(missing)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return read_torch_file(path, "--checkpoint", missing,
                           f"{path} is not a readable PyTorch checkpoint ({{error}}); pass the .pt file")


def pick_weights(checkpoint: dict, entry: Optional[str], path: Path, explicit: bool = False) -> dict:
    """The state dict inside a loaded checkpoint: its `entry` (e.g. ``generator_ema``), else the file itself
    when it holds tensors directly (unless the entry was asked for `explicit`ly)."""
    import torch

    if not isinstance(checkpoint, dict):
        raise VidlongError(f"{path} holds a {type(checkpoint).__name__}, not a dict of weights; pass the .pt file "
                           "the training run saved (--checkpoint)")
    if entry is not None and entry in checkpoint and not isinstance(checkpoint[entry], dict):
        raise VidlongError(f"{path}'s '{entry}' entry is a {type(checkpoint[entry]).__name__}, not a dict of weights; "
                           "pass --weights with the entry that holds them")
    if entry is not None and isinstance(checkpoint.get(entry), dict):
        return checkpoint[entry]
    if not explicit and checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return checkpoint
    entries = ", ".join(k for k, v in checkpoint.items() if isinstance(v, dict)) or "none"
    raise VidlongError(f"{path} has no '{entry}' entry of weights (its entries: {entries}); pass --weights with one of them")


def check_base(base: Path) -> dict:
    """The base folder's model_index.json (a diffusers WanPipeline folder), or a one-line error."""
    index = base / "model_index.json"
    if not index.is_file() or not (base / "transformer" / "config.json").is_file():
        raise VidlongError(f"--base {base} is not a diffusers Wan pipeline folder (no model_index.json and "
                           "transformer/config.json); pass Wan2.1-T2V-1.3B-Diffusers")
    return json.loads(index.read_text())


def _overlaps(out: Path, other: Path) -> bool:
    """Whether writing (or replacing) folder `out` would touch `other` (a file or folder), or the reverse."""
    out, other = out.resolve(), other.resolve()
    return out == other or out in other.parents or other in out.parents


def convert(source: str, checkpoint: Path, base: Path, out: Path, lora: Optional[Path] = None,
            weights: Optional[str] = None, lora_scale: float = 1.0, copy: bool = False, overwrite: bool = False) -> Path:
    """Write the diffusers folder `out` for `checkpoint` of `source` ("self-forcing", "causvid", "longlive"),
    with the components of `base` other than its transformer; returns `out`."""
    from diffusers import WanTransformer3DModel
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    if source not in SOURCES:
        raise VidlongError(f"--source must be one of {', '.join(SOURCES)}, got {source!r}")
    spec = SOURCES[source]
    if lora is not None and not spec.lora:
        raise VidlongError(f"--lora is for longlive checkpoints; {source} has none")
    if spec.lora and lora is None:
        raise VidlongError("a longlive checkpoint needs its LoRA: pass --lora lora.pt")
    index = check_base(base)
    window = spec_for_folder(base)
    for flag, given in (("--base", base), ("--checkpoint", checkpoint), ("--lora", lora)):
        if given is not None and _overlaps(out, given):
            raise VidlongError(f"--out {out} overlaps {flag} {given}; write the converted folder somewhere else")
    if out.exists() and not overwrite:
        raise VidlongError(f"--out {out} exists; pass --overwrite to replace it, or choose another --out")
    if out.exists() and not out.is_dir():
        raise VidlongError(f"--out {out} is a file; name a folder")
    check_writable_folder(out.parent, f"--out {out}")  # its staging folder is made beside it, then renamed
    check_name_fits(out, f"--out {out}")

    state = strip_prefixes(pick_weights(_load(checkpoint), weights or spec.weights, checkpoint, explicit=weights is not None))
    if lora is not None:
        lora_file = _load(lora)
        merge_lora(state, lora_file.get("generator_lora", lora_file), lora_scale)
    state = convert_wan_transformer_to_diffusers(dict(state))
    transformer = WanTransformer3DModel.from_config(WanTransformer3DModel.load_config(base / "transformer"))
    expected = transformer.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise VidlongError(f"{checkpoint} has no weight for {missing[0]!r} ({len(missing)} missing); is it a "
                           f"{source} checkpoint of the model in --base?")
    extra = [k for k in state if k not in expected]
    if extra:
        raise VidlongError(f"{checkpoint} has a weight the model in --base lacks: {extra[0]!r} ({len(extra)} in all); "
                           "check --source and --base")
    transformer.load_state_dict(state, strict=True, assign=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # renamed into place when complete
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # a folder as mkdir makes it (mkdtemp's is private)
    try:
        transformer.save_pretrained(staging / "transformer")
        (staging / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
        for name in index:
            component = base / name
            if name.startswith("_") or name == "transformer" or not component.is_dir():
                continue
            if copy:
                shutil.copytree(component, staging / name)
            else:
                os.symlink(component.resolve(), staging / name, target_is_directory=True)
        settings = dict(name=f"{source}-{out.name}", native_frames=window.native_frames, fps=window.fps,
                        height=window.height, width=window.width, **spec.stream, converted_from=str(checkpoint), source=source)
        (staging / "vidlong.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
