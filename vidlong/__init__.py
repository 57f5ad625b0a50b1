"""vidlong: training-free long and streaming video generation for diffusers video transformers.

    import vidlong
    pipe = vidlong.load_pipeline()                         # embedded default, or a local folder
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), vidlong.SpectralFusion.preset("4x"))
"""
from .errors import VidlongError
from .hooks import apply, remove
from .methods import RIFLEx, SlidingWindow, SpectralFusion, Streaming, UltraViCo, load_preset, preset_names
from .pipeline import VidLongWanPipeline, load_pipeline

__all__ = ["RIFLEx", "SlidingWindow", "SpectralFusion", "Streaming", "UltraViCo", "VidLongWanPipeline", "VidlongError", "apply", "remove",
           "load_pipeline", "load_preset", "preset_names"]
__version__ = "0.1.0"
