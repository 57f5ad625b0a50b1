"""One small adapter per model family: what the one attention processor and the hooks must know about
a diffusers video transformer (see `FamilyAdapter`). A new family is one module here, one
``configs/models/*.yaml`` and its tests."""
from __future__ import annotations

from ...errors import VidlongError, expert_calls
from .allegro import ALLEGRO
from .anyflow import ANYFLOW
from .anyflow_far import ANYFLOW_FAR
from .base import FamilyAdapter
from .chronoedit import CHRONOEDIT
from .cogvideox import COGVIDEOX
from .consisid import CONSISID
from .cosmos import COSMOS
from .cosmos3 import COSMOS3
from .cosmos_controlnet import COSMOS_CONTROLNET
from .easyanimate import EASYANIMATE
from .framepack import FRAMEPACK
from .helios import HELIOS
from .hunyuan import HUNYUAN_VIDEO
from .hunyuan15 import HUNYUAN_VIDEO_15
from .kandinsky5 import KANDINSKY_5
from .kandinsky6 import KANDINSKY_6
from .latte import LATTE
from .ltx import LTX_VIDEO
from .ltx2 import LTX_2
from .mochi import MOCHI
from .motif import MOTIF_VIDEO
from .sana import SANA_VIDEO
from .sana_wm import SANA_WM
from .skyreels import SKYREELS_V2
from .wan import WAN
from .wan_animate import WAN_ANIMATE
from .wan_vace import WAN_VACE

#: every family vidlong serves
ADAPTERS: tuple[FamilyAdapter, ...] = (WAN, WAN_VACE, WAN_ANIMATE, SKYREELS_V2, LTX_VIDEO, LTX_2, COGVIDEOX, HUNYUAN_VIDEO,
                                       HUNYUAN_VIDEO_15, MOCHI, KANDINSKY_5, KANDINSKY_6, MOTIF_VIDEO, EASYANIMATE, ALLEGRO,
                                       ANYFLOW, ANYFLOW_FAR, HELIOS, FRAMEPACK, COSMOS, COSMOS_CONTROLNET, COSMOS3,
                                       SANA_VIDEO, SANA_WM, LATTE, CONSISID, CHRONOEDIT)


def adapter_for(transformer, call: str = "vidlong.apply") -> FamilyAdapter:
    """The adapter of `transformer`'s class, or a one-line error naming the classes vidlong serves (`call`: the function
    that was handed it)."""
    for adapter in ADAPTERS:
        if type(transformer).__name__ == adapter.transformer_class:
            return adapter
    served = ", ".join(a.transformer_class for a in ADAPTERS)
    compiled = getattr(transformer, "_orig_mod", None)  # torch.compile's wrapper of a model
    if compiled is not None:
        raise VidlongError(f"{call} got a {type(compiled).__name__} wrapped by torch.compile; pass the model itself (its "
                           "_orig_mod), and compile it in place (model.compile() or model.compile_repeated_blocks()): vidlong's "
                           "hooks go on the model")
    if transformer is None:
        raise VidlongError(f"{call} got None, not a transformer (a modular pipeline's is None until pipe.load_components())")
    if hasattr(transformer, "transformer"):  # a pipeline handed over whole (a standard or a modular one)
        method = call.removeprefix("vidlong.")
        each = expert_calls(transformer, call + "(pipe.{}" + ", ..." * (method == "apply") + ")")
        raise VidlongError(f"{call} takes the pipeline's transformer, not the {type(transformer).__name__}: {each}, "
                           f"or pipe.{method}(...) on a vidlong pipeline")
    raise VidlongError(f"vidlong supports diffusers' {served}; got {type(transformer).__name__}")


def adapter_named(family: str) -> FamilyAdapter:
    """The adapter whose `FamilyAdapter.name` is `family`."""
    return next(a for a in ADAPTERS if a.name == family)


def family_of_class(class_name: str) -> str | None:
    """The family name of a diffusers transformer class name (as saved in a config.json), or None."""
    return next((a.name for a in ADAPTERS if a.transformer_class == class_name), None)


__all__ = ["ADAPTERS", "FamilyAdapter", "adapter_for", "adapter_named", "family_of_class"]
