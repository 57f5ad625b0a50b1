"""vidlong: training-free long and streaming video generation for diffusers video transformers.

    import vidlong
    pipe = vidlong.load_pipeline()                         # embedded default, or a local folder
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), vidlong.SpectralFusion.preset("4x"))

The public names load on first use, so that `import vidlong` (and `vidlong --help`) stays fast; so do its submodules
(``vidlong.parallel.enable_context_parallel``, ``vidlong.models.ModelSpec``), as after ``import vidlong.parallel``.
"""
from importlib import import_module
from importlib.util import find_spec

from .errors import VidlongError

#: public name -> the module (relative to this package) that defines it
_PUBLIC = {
    "apply": ".hooks", "remove": ".hooks",
    "DiagonalDenoising": ".methods", "RIFLEx": ".methods", "SlidingWindow": ".methods", "SpectralFusion": ".methods", "Streaming": ".methods",
    "UltraViCo": ".methods", "load_preset": ".methods", "preset_names": ".methods",
    "VidLongWanPipeline": ".pipeline", "VidlongPipelineMixin": ".pipeline", "load_pipeline": ".pipeline",
    "from_pipe": ".pipeline", "LoraFile": ".lora",
    "VidLongWanImageToVideoPipeline": ".pipeline_i2v", "VidLongWanVideoToVideoPipeline": ".pipeline_v2v",
}

__all__ = ["VidlongError", *_PUBLIC]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name], __name__), name)
    elif not name.startswith("_") and find_spec(f"{__name__}.{name}") is not None:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'vidlong' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
