"""What vidlong knows about a model: native length, frame rate, resolution and sampling defaults.

Read from `configs/models/*.yaml` (matched on the transformer's config) or from a ``vidlong.yaml``
inside a model folder, which wins. Frame counts are latent frames unless named ``pixel``.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import yaml

from .errors import VidlongError

#: Wan's VAE: pixel frames = 4 · (latent frames - 1) + 1.
WAN_TEMPORAL_RATIO = 4


@dataclass(frozen=True)
class ModelSpec:
    """Native geometry and sampling defaults of one model.

    Attributes:
        name: model name.
        native_frames: native window in latent frames (Wan2.1: 21).
        fps: frame rate of the pixel video.
        height, width: native resolution in pixels.
        num_inference_steps, guidance_scale: sampling defaults.
        temporal_ratio: pixel frames per latent frame step of the VAE.
    """

    name: str
    native_frames: int
    fps: int = 16
    height: int = 480
    width: int = 832
    num_inference_steps: int = 50
    guidance_scale: float = 5.0
    temporal_ratio: int = WAN_TEMPORAL_RATIO

    @property
    def native_pixel_frames(self) -> int:
        return pixel_frames(self.native_frames, self.temporal_ratio)


def pixel_frames(latent_frames: int, temporal_ratio: int = WAN_TEMPORAL_RATIO) -> int:
    """Pixel frames decoded from `latent_frames` (Wan: 4·(F-1)+1)."""
    return temporal_ratio * (latent_frames - 1) + 1


def latent_frames(pixel_frames_: int, temporal_ratio: int = WAN_TEMPORAL_RATIO) -> int:
    """Latent frames that decode to `pixel_frames_`, which must be ``temporal_ratio·k + 1``."""
    if pixel_frames_ < 1 or (pixel_frames_ - 1) % temporal_ratio:
        lower = max(1, (pixel_frames_ - 1) // temporal_ratio * temporal_ratio + 1)
        raise VidlongError(
            f"{pixel_frames_} frames can't be decoded by this VAE (needs {temporal_ratio}k+1); "
            f"use --frames {lower} or --frames {lower + temporal_ratio}"
        )
    return (pixel_frames_ - 1) // temporal_ratio + 1


def _spec(raw: dict) -> ModelSpec:
    known = {f.name for f in fields(ModelSpec)}
    return ModelSpec(**{k: v for k, v in raw.items() if k in known})


def known_models() -> list[tuple[dict, ModelSpec]]:
    """(match rule, spec) of every model in `vidlong.configs/models`."""
    folder = resources.files("vidlong.configs") / "models"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            out.append((raw.get("match", {}), _spec(raw)))
    return out


def spec_for_transformer(transformer, default: str = "wan2.1-t2v-1.3b") -> ModelSpec:
    """The known model whose config matches `transformer` (e.g. layer and head counts), else Wan2.1."""
    config = transformer.config
    models = known_models()
    for match, spec in models:
        if match and all(config.get(k) == v for k, v in match.items()):
            return spec
    return next(spec for _, spec in models if spec.name == default)


def spec_for_folder(folder: Path, transformer=None) -> ModelSpec:
    """A model folder's ``vidlong.yaml`` if it has one, else the match for its transformer."""
    own = Path(folder) / "vidlong.yaml"
    if own.is_file():
        try:
            raw = yaml.safe_load(own.read_text()) or {}
            raw.setdefault("name", Path(folder).name)
            return _spec(raw)
        except (yaml.YAMLError, TypeError) as err:
            raise VidlongError(f"{own} is not a valid vidlong.yaml ({type(err).__name__}); fix or delete it") from None
    if transformer is None:
        raise VidlongError(f"{folder} has no vidlong.yaml and no transformer to recognise")
    return spec_for_transformer(transformer)
