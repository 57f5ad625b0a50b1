"""LoRA weights merged into a transformer: ``W + scale·B·A`` for each ``lora_A``/``lora_B`` pair (and ``b + scale·b_B``
where ``lora_B`` has a bias).

Three users: `vidlong convert` (LongLive's ``lora.pt``, peft keys); model folders whose ``vidlong.yaml`` names a
``base`` model and a ``lora`` file (the embedded ``default-causal`` model is the default model plus a LoRA, in
diffusers' format: ``transformer.<module>.lora_A.weight`` ``[r, in]`` and ``lora_B.weight`` ``[out, r]``, scale 1);
and a user's LoRA files (`LoraFile`: ``--lora FILE[:SCALE]``, `vidlong.load_pipeline(..., loras=...)`), read by the
family's own diffusers loader, which converts the formats it knows (Kohya's, ComfyUI's, the model's original names).
Merged weights need no peft and leave vidlong's attention processors as they are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from .errors import VidlongError, named

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


@dataclass(frozen=True)
class LoraFile:
    """A LoRA file merged into a pipeline's transformer as it loads (`vidlong.load_pipeline`'s ``loras``).

    Attributes:
        path: a ``.safetensors`` LoRA file in any format the family's diffusers loader reads.
        scale: the LoRA's weight (1: as trained).
        expert: 0 for ``transformer``; 1 for Wan2.2 A14B's low-noise ``transformer_2`` (``--lora-2``).
    """

    path: Path
    scale: float = 1.0
    expert: int = 0

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))  # a str given from Python too

    @classmethod
    def parse(cls, text: str, expert: int = 0) -> "LoraFile":
        """``FILE`` or ``FILE:SCALE`` (a name whose part after its last colon is no number is a file name)."""
        path, _, tail = str(text).rpartition(":")
        try:
            return cls(path, float(tail), expert) if path else cls(text, 1.0, expert)
        except ValueError:
            return cls(text, 1.0, expert)

    def describe(self) -> dict:
        """As a sidecar records it."""
        return dict(path=str(self.path), scale=self.scale, expert=self.expert)


#: the pipeline components besides the transformer a LoRA file may also adapt (vidlong merges the transformer's alone)
OTHER_COMPONENTS = ("text_encoder", "text_encoder_2", "connectors", "image_encoder", "vae", "audio_vae", "vocoder")


def lora_header(path: Path, name: Optional[str] = None) -> tuple[list, dict]:
    """(its tensors' names, its metadata) of the LoRA file at `path`, from its header alone; a one-line error naming it as
    `name` (default: its path) where safetensors cannot read it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np") as handle:
            return list(handle.keys()), handle.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise VidlongError(f"{name or path} is not a readable safetensors LoRA ({type(err).__name__}); pass a LoRA saved as "
                           ".safetensors") from None


def read_lora(path: Path, loader=None, name: Optional[str] = None) -> tuple[dict, Optional[float]]:
    """(the transformer's LoRA tensors in `path`, in diffusers' names; the peft ``lora_alpha`` saved with them, or None).
    `loader`: a diffusers pipeline class whose ``lora_state_dict`` converts the family's other formats; None, or one without
    a LoRA loader (HunyuanVideo 1.5's): diffusers' format as written. A one-line error for a file it cannot read, one its
    loader does not convert, a DoRA, peft scalings the merge does not follow (rsLoRA, per-module alphas or ranks) and
    weights of another component (a text encoder's, LTX-2's connectors), each naming the file as `name` (default: its
    path; the CLI's, its flag and path)."""
    import json

    from safetensors.torch import load_file

    name = name or str(path)
    keys, metadata = lora_header(path, name)
    dora = next((key for key in keys if "dora_scale" in key or "lora_magnitude_vector" in key), None)
    if dora is not None:  # diffusers' loaders drop DoRA's magnitudes with a warning: merged without them, it would be wrong
        raise VidlongError(f"{name} is a DoRA ({dora}), which vidlong does not merge; use a plain LoRA")
    peft = json.loads(metadata.get("lora_adapter_metadata") or "{}")  # peft's config, as diffusers saves it
    peft = peft if isinstance(peft, dict) else {}
    scaled = [name for name in ("use_rslora", "alpha_pattern", "rank_pattern")
              if any(key.endswith(name) and value for key, value in peft.items())]
    if scaled:
        raise VidlongError(f"{name} sets peft's {scaled[0]}, which vidlong's merge does not follow; merge it with peft "
                           "(pipe.load_lora_weights, pipe.fuse_lora) instead")
    try:
        if hasattr(loader, "lora_state_dict"):
            tensors, adapter = loader.lora_state_dict(str(path), return_lora_metadata=True)
        else:
            tensors, adapter = load_file(str(path)), peft
    except Exception as err:  # noqa: BLE001 - diffusers' converters raise KeyError, ValueError, ... for another model's keys
        raise VidlongError(f"{name} is not a LoRA that {loader.__name__} reads ({type(err).__name__}: "
                           f"{str(err).splitlines()[0] if str(err) else 'no message'}); is it made for this model?") from None
    adapter = adapter if isinstance(adapter, dict) else {}  # diffusers' loaders hand back the metadata as they read it
    alpha = adapter.get("transformer.lora_alpha", adapter.get("lora_alpha"))  # diffusers packs it under the component
    others = [key for key in tensors if key.split(".")[0] in OTHER_COMPONENTS]
    if others:
        raise VidlongError(f"{name} also holds weights of its {others[0].split('.')[0]} ({others[0]}), which vidlong does not "
                           "merge; use a LoRA of the transformer alone")
    return tensors, None if alpha is None else float(alpha)


@dataclass
class LoraModule:
    """One adapted module of a LoRA: its base `weight`'s name, ``A`` ``[r, in]``, ``B`` ``[out, r]``, ``B``'s `bias` ``[out]``
    (or None), and the `factor` its product is added with (scale · alpha / r)."""

    weight: str
    a: torch.Tensor
    b: torch.Tensor
    bias: Optional[torch.Tensor]
    factor: float


def lora_modules(lora: dict, shapes: dict, scale: float, alpha: Optional[float] = None) -> list[LoraModule]:
    """The adapted modules of `lora` (``...<module>.lora_A.weight`` / ``lora_B.weight`` / ``lora_B.bias`` / ``alpha``
    entries), each checked against `shapes` (the model's weight and bias names -> shapes): a one-line error for a module
    the model lacks, a size it does not have, an entry that is no LoRA pair, or an alpha of no pair. The factor's alpha is
    a ``<module>.alpha`` entry (kohya's files), else `alpha` (peft's ``lora_alpha``), else r (scale 1: diffusers' format)."""
    lora = {key.replace(".default.", "."): value for key, value in lora.items()}  # peft's adapter name, if kept
    known = ("lora_A.weight", "lora_B.weight", "lora_B.bias", "alpha")
    strange = [key for key in lora if not key.endswith(known)]
    if strange:
        raise VidlongError(f"LoRA entry {strange[0]!r} is not a LoRA pair vidlong merges (lora_A/lora_B weights, lora_B biases, "
                           "alphas) nor one this model's diffusers loader converts; is the LoRA made for this model?")
    pairs = {key[: -len(".lora_A.weight")] for key in lora if key.endswith("lora_A.weight")}
    lost = [key for key in lora if key.endswith(".alpha") and key[: -len(".alpha")] not in pairs]
    if lost:  # e.g. diffusers' HunyuanVideo converter splits a fused module but keeps its alpha under the old name
        raise VidlongError(f"LoRA alpha {lost[0]!r} belongs to no lora_A/lora_B pair after diffusers' conversion, so its "
                           "modules' scale is unknown; merge it with peft (pipe.load_lora_weights) instead")
    modules = []
    for key_a in [k for k in lora if k.endswith("lora_A.weight")]:
        module = key_a[: -len(".lora_A.weight")]
        key_b = f"{module}.lora_B.weight"
        target = lora_target(module)
        if key_b not in lora or target not in shapes:
            raise VidlongError(f"LoRA module {module!r} has no {'lora_B' if key_b not in lora else 'base weight'}; "
                               "is the LoRA made for this model?")
        a, b, bias = lora[key_a], lora[key_b], lora.get(f"{module}.lora_B.bias")
        if a.ndim != 2 or b.ndim != 2 or (b.shape[0], a.shape[1]) != tuple(shapes[target]) or a.shape[0] != b.shape[1]:
            raise VidlongError(f"LoRA module {module!r} is {tuple(b.shape)} x {tuple(a.shape)} but its weight is "
                               f"{tuple(shapes[target])}; is the LoRA made for this model?")
        if bias is not None and tuple(shapes.get(target[: -len("weight")] + "bias", ())) != tuple(bias.shape):
            raise VidlongError(f"LoRA module {module!r} has a bias of {tuple(bias.shape)}, which its module has not; is the "
                               "LoRA made for this model?")
        module_alpha = lora.get(f"{module}.alpha")
        module_alpha = float(module_alpha) if module_alpha is not None else alpha
        modules.append(LoraModule(target, a, b, bias, scale * (module_alpha / a.shape[0] if module_alpha is not None else 1.0)))
    if not modules:
        raise VidlongError("the LoRA file holds no lora_A/lora_B weights")
    return modules


def merge_lora(state: dict, lora: dict, scale: float, alpha: Optional[float] = None) -> int:
    """Merge the LoRA pairs of `lora` (`lora_modules`) into `state` in place (`add_modules`); returns how many modules were
    merged."""
    modules = lora_modules(lora, {name: tuple(value.shape) for name, value in state.items()}, scale, alpha)
    add_modules(state, modules)
    return len(modules)


def add_modules(state: dict, modules: list) -> None:
    """`modules` (`LoraModule`s) added to `state` in place: ``W + factor·B·A`` and ``b + factor·b_B`` (in float64 on the
    weight's device, then the weight's dtype; the LoRA's tensors, read into CPU memory, brought there)."""
    for module in modules:
        weight = state[module.weight]
        b, a = (x.to(weight.device, torch.float64) for x in (module.b, module.a))
        state[module.weight] = (weight.double() + module.factor * (b @ a)).to(weight.dtype)
        if module.bias is not None:
            name = module.weight[: -len("weight")] + "bias"
            bias = state[name]
            state[name] = (bias.double() + module.factor * module.bias.to(bias.device, torch.float64)).to(bias.dtype)


def fuse_lora_link(transformer: torch.nn.Module, link, loader=None) -> None:
    """Merge every LoRA of a `vidlong.models.LoraLink` chain into `transformer`, pipeline side first (`loader`: as
    `read_lora`'s)."""
    for path, scale in link.loras:
        fuse_lora_file(transformer, path, scale, loader)


def fuse_lora_file(transformer: torch.nn.Module, path: Path, scale: float = 1.0, loader=None) -> None:
    """Merge the LoRA safetensors file `path` (`read_lora` with `loader`) into `transformer`'s weights (`merge_lora`)."""
    lora, alpha = read_lora(path, loader)
    state = transformer.state_dict()
    merge_lora(state, lora, scale, alpha)
    transformer.load_state_dict(state)


def fuse_modules(transformer: torch.nn.Module, modules: list) -> None:
    """Merge checked `modules` (`check_lora_file`'s) into `transformer`'s weights."""
    state = transformer.state_dict()
    add_modules(state, modules)
    transformer.load_state_dict(state)


def check_lora_file(lora: LoraFile, shapes: dict, loader=None, field: Optional[str] = None) -> list:
    """`lora`'s `LoraModule`s, read once, or a one-line error unless it merges into a transformer of weight `shapes` (name ->
    shape, `vidlong.models.weight_shapes`): its file, scale and every module's name and size, before any model loads. The
    error names `field` (default: ``lora``, or ``lora_2`` for the second transformer's)."""
    from .validate import check_finite

    flag = named(field or ("lora_2" if lora.expert else "lora"))
    if not lora.path.is_file():
        path, colon, tail = str(lora.path).rpartition(":")
        scale = f" ({tail!r} after the colon is no number: FILE:SCALE takes one, as 0.8)" if colon and Path(path).is_file() else ""
        raise VidlongError(f"{flag} {lora.path} does not exist{scale}; pass a .safetensors LoRA file (FILE or FILE:SCALE)")
    check_finite(f"{flag} {lora.path}'s scale", lora.scale, -100, 100)
    tensors, alpha = read_lora(lora.path, loader, f"{flag} {lora.path}")
    return lora_modules(tensors, shapes, lora.scale, alpha)
