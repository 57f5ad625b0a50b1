"""Loading Wan pipelines offline, and `VidLongWanPipeline`, a `WanPipeline` that knows its native length."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Union

import torch
from diffusers import WanPipeline

from . import hooks
from .errors import VidlongError
from .models import ModelSpec, spec_for_folder

#: The embedded default model, shipped inside the package.
DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"

_WAN_PIPELINES = ("WanPipeline", "VidLongWanPipeline")


class VidLongWanPipeline(WanPipeline):
    """A diffusers `WanPipeline` with vidlong's methods one call away.

    ``pipe.native_frames`` is the model's native window in latent frames and ``pipe.spec`` its
    `ModelSpec` (frame rate, resolution, sampling defaults).
    """

    vidlong_spec: Optional[ModelSpec] = None

    @property
    def spec(self) -> ModelSpec:
        if self.vidlong_spec is None:
            self.vidlong_spec = spec_for_folder(Path(self.config._name_or_path or "."), self.transformer)
        return self.vidlong_spec

    @property
    def native_frames(self) -> int:
        """Native window in latent frames."""
        return self.spec.native_frames

    def transformers(self) -> list:
        """Every Wan transformer of the pipeline (Wan2.2 has two)."""
        return [t for t in (self.transformer, getattr(self, "transformer_2", None)) if t is not None]

    def apply(self, *methods, kernel: str = "auto") -> None:
        """Apply `methods` to every transformer (see `vidlong.apply`)."""
        for transformer in self.transformers():
            hooks.apply(transformer, *methods, native_frames=self.native_frames, kernel=kernel)

    def remove(self) -> None:
        """Remove vidlong's methods from every transformer."""
        for transformer in self.transformers():
            hooks.remove(transformer)

    def stream(self, prompt: str, streaming=None, chunks=None, seconds=None, **kwargs):
        """Stream a video chunk by chunk: an iterator of `StreamChunk` (decoded frames as they are made).

        Args:
            prompt: a prompt or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt).
            streaming: a `vidlong.Streaming` config (default: its defaults).
            chunks: number of chunks; or `seconds` of video; neither streams until you stop iterating.
            kwargs: guidance, seed, height, width, negative_prompt.
        """
        from .methods import Streaming
        from .streaming import VideoStreamer, chunks_for_seconds

        streaming = streaming or Streaming()
        if chunks is None and seconds:
            chunks = chunks_for_seconds(seconds, self.spec.fps, streaming.chunk, self.spec.temporal_ratio)
        return VideoStreamer(self, prompt, streaming, chunks=chunks, **kwargs)


def check_model_folder(path: Union[str, Path]) -> Path:
    """A local diffusers Wan pipeline folder, or a one-line `VidlongError` naming the fix."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise VidlongError(f"model folder {folder} does not exist; pass a local diffusers Wan folder to --model")
    index = folder / "model_index.json"
    if not index.is_file():
        raise VidlongError(f"{folder} is not a diffusers pipeline folder (no model_index.json); save one with pipe.save_pretrained()")
    try:
        class_name = json.loads(index.read_text()).get("_class_name")
    except json.JSONDecodeError:
        raise VidlongError(f"{index} is not valid JSON; re-save the pipeline with save_pretrained()") from None
    if class_name not in _WAN_PIPELINES:
        raise VidlongError(f"{folder} holds a {class_name}; vidlong needs a WanPipeline folder")
    return folder


def load_pipeline(path: Union[str, Path, None] = None, device: Union[str, torch.device, None] = None,
                  dtype: Optional[torch.dtype] = None) -> VidLongWanPipeline:
    """Load a Wan pipeline from a local folder (default: the embedded model), never from a hub.

    Args:
        path: a diffusers Wan pipeline folder; None for the embedded default model.
        device: default "cuda" when available, else "cpu".
        dtype: default bfloat16 on CUDA, float32 on CPU.
    """
    folder = check_model_folder(DEFAULT_MODEL_DIR if path is None else path)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = dtype or (torch.bfloat16 if device.type == "cuda" else torch.float32)
    try:
        pipe = VidLongWanPipeline.from_pretrained(folder, dtype=dtype, local_files_only=True)
    except (OSError, ValueError, RuntimeError, EnvironmentError) as err:
        raise VidlongError(f"could not load the pipeline in {folder}: {_first_line(err)}") from None
    pipe.vidlong_spec = spec_for_folder(folder, pipe.transformer)
    pipe.set_progress_bar_config(leave=False)
    return pipe.to(device)


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
