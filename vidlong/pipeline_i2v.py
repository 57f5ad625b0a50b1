"""`VidLongWanImageToVideoPipeline`: diffusers' `WanImageToVideoPipeline` with vidlong's surface (its own
module, so that text-to-video users never import diffusers' image-to-video pipeline and its CLIP parts)."""
from __future__ import annotations

from diffusers import WanImageToVideoPipeline

from .pipeline import VidlongPipelineMixin


class VidLongWanImageToVideoPipeline(VidlongPipelineMixin, WanImageToVideoPipeline):
    """diffusers' `WanImageToVideoPipeline` (Wan2.1 I2V with CLIP, Wan2.2 I2V A14B, TI2V-5B's image mode)
    with vidlong's surface; the image conditions the first frame as the pipeline does natively."""

    task = "i2v"
