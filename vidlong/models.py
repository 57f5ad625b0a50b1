"""What vidlong knows about a model: native length, frame rate, resolution and sampling defaults.

Read from a ``vidlong.yaml`` inside the model folder (it wins), else from the entry of
`configs/models/*.yaml` whose ``match`` rule fits the pipeline. A rule's keys are transformer config
keys (``num_layers: 40``) plus the pipeline facts (`model_facts`): ``experts`` (1, or 2 for Wan2.2's high/low-noise
pair), ``expand_timesteps`` (Wan2.2 TI2V), ``task`` ("t2v", "i2v", "v2v" or "animate"), ``family``, ``pipeline`` (its
diffusers class) and ``scheduler`` (its scheduler's class: Kandinsky 6's distilled releases'); the rule with the most keys
that all fit wins. Frame counts are latent frames unless named ``pixel``.

A model folder is a diffusers pipeline folder, or a folder whose ``vidlong.yaml`` names a ``base``
model (a folder, relative to it, or an embedded model's name) and a ``lora`` file merged into the
base's transformer when it loads (`vidlong.lora`): the embedded ``default-causal`` model is one.
"""
from __future__ import annotations

import copy
import dataclasses
import functools
import json
import math
import os
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Optional, Union

import yaml

from .errors import VidlongError, named
from .folder_weights import check_folder_weights
from .scalars import is_whole

#: Wan's VAEs (2.1 and 2.2): pixel frames = 4 · (latent frames - 1) + 1.
WAN_TEMPORAL_RATIO = 4

#: FramePack's section orders (its call's ``sampling_type``), a spec's `ModelSpec.sampling_type` one of them or None
SAMPLING_TYPES = ("inverted_anti_drifting", "vanilla")

#: a down block only EasyAnimate's MagVIT VAE (`AutoencoderKLMagvit`) has, whose config writes no temporal ratio
MAGVIT_BLOCK = "SpatialTemporalDownBlock3D"

#: models shipped inside the package, by the name ``--model`` takes
EMBEDDED_MODELS = {"default": Path(__file__).parent / "default_model",
                   "default-causal": Path(__file__).parent / "default_causal_model",
                   "default-distilled": Path(__file__).parent / "default_distilled_model"}

#: the pipeline classes vidlong serves, by task: diffusers' (and vidlong's own LTXConditionImageToVideoPipeline,
#: LTX2ConditionImageToVideoPipeline, LTX2DFRImageToVideoPipeline, Kandinsky6TI2VAImageToVideoPipeline,
#: LTXI2VLongMultiPromptImageToVideoPipeline, Cosmos2_5_PredictImageToWorldPipeline and Cosmos3OmniImageToVideoPipeline:
#: diffusers' LTXConditionPipeline, LTX2ConditionPipeline, LTX2DFRPipeline, Kandinsky6TI2VAPipeline,
#: LTXI2VLongMultiPromptPipeline, Cosmos2_5_PredictBasePipeline and Cosmos3OmniPipeline given an image;
#: Cosmos2_5_PredictVideoToWorldPipeline and Cosmos3OmniVideoToVideoPipeline: Cosmos2_5_PredictBasePipeline and
#: Cosmos3OmniPipeline given a video to continue), each
#: mapped to vidlong's class by `PIPELINE_CLASSES`; a folder saved under a vidlong class's name
#: (``VidLong...``) has its diffusers class's task (`task_of`).
PIPELINE_TASKS = {"WanPipeline": "t2v", "WanImageToVideoPipeline": "i2v", "WanVACEPipeline": "t2v",
                  "WanVideoToVideoPipeline": "v2v", "WanAnimatePipeline": "animate", "SkyReelsV2Pipeline": "t2v",
                  "SkyReelsV2ImageToVideoPipeline": "i2v", "SkyReelsV2DiffusionForcingPipeline": "t2v",
                  "SkyReelsV2DiffusionForcingImageToVideoPipeline": "i2v",
                  "SkyReelsV2DiffusionForcingVideoToVideoPipeline": "v2v", "LTXPipeline": "t2v",
                  "LTXImageToVideoPipeline": "i2v", "LTXConditionPipeline": "t2v", "LTX2Pipeline": "t2v",
                  "LTX2ImageToVideoPipeline": "i2v", "LTX2ConditionPipeline": "t2v", "LTX2ConditionImageToVideoPipeline": "i2v",
                  "LTX2InContextPipeline": "t2v", "LTX2HDRPipeline": "t2v", "LTX2DFRPipeline": "t2v",
                  "LTX2DFRImageToVideoPipeline": "i2v",
                  "CogVideoXPipeline": "t2v", "CogVideoXImageToVideoPipeline": "i2v",
                  "CogVideoXVideoToVideoPipeline": "v2v", "CogVideoXFunControlPipeline": "t2v", "HunyuanVideoPipeline": "t2v",
                  "HunyuanVideoImageToVideoPipeline": "i2v", "HunyuanSkyreelsImageToVideoPipeline": "i2v",
                  "HunyuanVideo15Pipeline": "t2v", "HunyuanVideo15ImageToVideoPipeline": "i2v", "MochiPipeline": "t2v",
                  "Kandinsky5T2VPipeline": "t2v", "Kandinsky5I2VPipeline": "i2v", "LTXConditionImageToVideoPipeline": "i2v",
                  "MotifVideoPipeline": "t2v", "MotifVideoImage2VideoPipeline": "i2v", "EasyAnimatePipeline": "t2v",
                  "EasyAnimateInpaintPipeline": "i2v", "AllegroPipeline": "t2v", "AnyFlowPipeline": "t2v",
                  "AnyFlowFARPipeline": "t2v", "LucyEditPipeline": "v2v",
                  "HeliosPipeline": "t2v", "HeliosPyramidPipeline": "t2v", "HunyuanVideoFramepackPipeline": "i2v",
                  "Cosmos2_5_PredictBasePipeline": "t2v", "Cosmos2_5_PredictImageToWorldPipeline": "i2v",
                  "Cosmos2_5_PredictVideoToWorldPipeline": "v2v", "Cosmos2VideoToWorldPipeline": "i2v",
                  "Cosmos2_5_TransferPipeline": "t2v",
                  "CosmosTextToWorldPipeline": "t2v", "CosmosVideoToWorldPipeline": "i2v",
                  "Kandinsky6TI2VAPipeline": "t2v", "Kandinsky6TI2VAImageToVideoPipeline": "i2v",
                  "SanaVideoPipeline": "t2v", "SanaImageToVideoPipeline": "i2v", "LattePipeline": "t2v",
                  "LTXI2VLongMultiPromptPipeline": "t2v", "LTXI2VLongMultiPromptImageToVideoPipeline": "i2v",
                  "ConsisIDPipeline": "i2v", "ChronoEditPipeline": "i2v", "SanaWMPipeline": "i2v",
                  "Cosmos3OmniPipeline": "t2v", "Cosmos3OmniImageToVideoPipeline": "i2v",
                  "Cosmos3OmniVideoToVideoPipeline": "v2v"}

#: vidlong's pipeline class ("module:class", imported only when asked for) of each diffusers pipeline
#: class name in `PIPELINE_TASKS` (the same names: a test holds them so); here, apart from `vidlong.pipeline`, so that
#: `vidlong info` names the class without importing diffusers
PIPELINE_CLASSES = {
    "WanPipeline": "vidlong.pipeline:VidLongWanPipeline",
    "WanImageToVideoPipeline": "vidlong.pipeline_i2v:VidLongWanImageToVideoPipeline",
    "WanVACEPipeline": "vidlong.pipeline:VidLongWanVACEPipeline",
    "WanVideoToVideoPipeline": "vidlong.pipeline_v2v:VidLongWanVideoToVideoPipeline",
    "WanAnimatePipeline": "vidlong.pipeline_animate:VidLongWanAnimatePipeline",
    "SkyReelsV2Pipeline": "vidlong.families.skyreels:VidLongSkyReelsV2Pipeline",
    "SkyReelsV2ImageToVideoPipeline": "vidlong.families.skyreels:VidLongSkyReelsV2ImageToVideoPipeline",
    "SkyReelsV2DiffusionForcingPipeline": "vidlong.families.skyreels:VidLongSkyReelsV2DiffusionForcingPipeline",
    "SkyReelsV2DiffusionForcingImageToVideoPipeline":
        "vidlong.families.skyreels:VidLongSkyReelsV2DiffusionForcingImageToVideoPipeline",
    "SkyReelsV2DiffusionForcingVideoToVideoPipeline":
        "vidlong.families.skyreels:VidLongSkyReelsV2DiffusionForcingVideoToVideoPipeline",
    "LTXPipeline": "vidlong.families.ltx:VidLongLTXPipeline",
    "LTXImageToVideoPipeline": "vidlong.families.ltx:VidLongLTXImageToVideoPipeline",
    "LTXConditionPipeline": "vidlong.families.ltx:VidLongLTXConditionPipeline",
    "LTXConditionImageToVideoPipeline": "vidlong.families.ltx:VidLongLTXConditionImageToVideoPipeline",
    "LTXI2VLongMultiPromptPipeline": "vidlong.families.ltx_long:VidLongLTXI2VLongMultiPromptPipeline",
    "LTXI2VLongMultiPromptImageToVideoPipeline": "vidlong.families.ltx_long:VidLongLTXI2VLongMultiPromptImageToVideoPipeline",
    "LTX2Pipeline": "vidlong.families.ltx2:VidLongLTX2Pipeline",
    "LTX2ImageToVideoPipeline": "vidlong.families.ltx2:VidLongLTX2ImageToVideoPipeline",
    "LTX2ConditionPipeline": "vidlong.families.ltx2_condition:VidLongLTX2ConditionPipeline",
    "LTX2ConditionImageToVideoPipeline": "vidlong.families.ltx2_condition:VidLongLTX2ConditionImageToVideoPipeline",
    "LTX2InContextPipeline": "vidlong.families.ltx2_in_context:VidLongLTX2InContextPipeline",
    "LTX2HDRPipeline": "vidlong.families.ltx2_hdr:VidLongLTX2HDRPipeline",
    "LTX2DFRPipeline": "vidlong.families.ltx2_dfr:VidLongLTX2DFRPipeline",
    "LTX2DFRImageToVideoPipeline": "vidlong.families.ltx2_dfr:VidLongLTX2DFRImageToVideoPipeline",
    "CogVideoXPipeline": "vidlong.families.cogvideox:VidLongCogVideoXPipeline",
    "CogVideoXImageToVideoPipeline": "vidlong.families.cogvideox:VidLongCogVideoXImageToVideoPipeline",
    "CogVideoXVideoToVideoPipeline": "vidlong.families.cogvideox:VidLongCogVideoXVideoToVideoPipeline",
    "CogVideoXFunControlPipeline": "vidlong.families.cogvideox:VidLongCogVideoXFunControlPipeline",
    "ConsisIDPipeline": "vidlong.families.consisid:VidLongConsisIDPipeline",
    "ChronoEditPipeline": "vidlong.families.chronoedit:VidLongChronoEditPipeline",
    "HunyuanVideoPipeline": "vidlong.families.hunyuan:VidLongHunyuanVideoPipeline",
    "HunyuanVideoImageToVideoPipeline": "vidlong.families.hunyuan:VidLongHunyuanVideoImageToVideoPipeline",
    "HunyuanSkyreelsImageToVideoPipeline": "vidlong.families.hunyuan:VidLongHunyuanSkyreelsImageToVideoPipeline",
    "HunyuanVideo15Pipeline": "vidlong.families.hunyuan:VidLongHunyuanVideo15Pipeline",
    "HunyuanVideo15ImageToVideoPipeline": "vidlong.families.hunyuan:VidLongHunyuanVideo15ImageToVideoPipeline",
    "MochiPipeline": "vidlong.families.mochi:VidLongMochiPipeline",
    "Kandinsky5T2VPipeline": "vidlong.families.kandinsky5:VidLongKandinsky5T2VPipeline",
    "Kandinsky5I2VPipeline": "vidlong.families.kandinsky5_i2v:VidLongKandinsky5I2VPipeline",
    "MotifVideoPipeline": "vidlong.families.motif:VidLongMotifVideoPipeline",
    "Cosmos2_5_PredictBasePipeline": "vidlong.families.cosmos:VidLongCosmos2_5_PredictBasePipeline",
    "Cosmos2_5_PredictImageToWorldPipeline": "vidlong.families.cosmos_world:VidLongCosmos2_5_PredictImageToWorldPipeline",
    "Cosmos2_5_PredictVideoToWorldPipeline": "vidlong.families.cosmos_world:VidLongCosmos2_5_PredictVideoToWorldPipeline",
    "Cosmos2VideoToWorldPipeline": "vidlong.families.cosmos_video2world:VidLongCosmos2VideoToWorldPipeline",
    "Cosmos2_5_TransferPipeline": "vidlong.families.cosmos_transfer:VidLongCosmos2_5_TransferPipeline",
    "CosmosTextToWorldPipeline": "vidlong.families.cosmos1:VidLongCosmosTextToWorldPipeline",
    "CosmosVideoToWorldPipeline": "vidlong.families.cosmos1_video2world:VidLongCosmosVideoToWorldPipeline",
    "MotifVideoImage2VideoPipeline": "vidlong.families.motif_i2v:VidLongMotifVideoImage2VideoPipeline",
    "EasyAnimatePipeline": "vidlong.families.easyanimate:VidLongEasyAnimatePipeline",
    "EasyAnimateInpaintPipeline": "vidlong.families.easyanimate:VidLongEasyAnimateInpaintPipeline",
    "AllegroPipeline": "vidlong.families.allegro:VidLongAllegroPipeline",
    "AnyFlowPipeline": "vidlong.families.anyflow:VidLongAnyFlowPipeline",
    "AnyFlowFARPipeline": "vidlong.families.anyflow_far:VidLongAnyFlowFARPipeline",
    "LucyEditPipeline": "vidlong.families.lucy:VidLongLucyEditPipeline",
    "HeliosPipeline": "vidlong.families.helios:VidLongHeliosPipeline",
    "HeliosPyramidPipeline": "vidlong.families.helios_pyramid:VidLongHeliosPyramidPipeline",
    "HunyuanVideoFramepackPipeline": "vidlong.families.framepack:VidLongHunyuanVideoFramepackPipeline",
    "Kandinsky6TI2VAPipeline": "vidlong.families.kandinsky6:VidLongKandinsky6TI2VAPipeline",
    "Kandinsky6TI2VAImageToVideoPipeline": "vidlong.families.kandinsky6:VidLongKandinsky6TI2VAImageToVideoPipeline",
    "SanaVideoPipeline": "vidlong.families.sana:VidLongSanaVideoPipeline",
    "SanaImageToVideoPipeline": "vidlong.families.sana:VidLongSanaImageToVideoPipeline",
    "SanaWMPipeline": "vidlong.families.sana_wm:VidLongSanaWMPipeline",
    "Cosmos3OmniPipeline": "vidlong.families.cosmos3:VidLongCosmos3OmniPipeline",
    "Cosmos3OmniImageToVideoPipeline": "vidlong.families.cosmos3:VidLongCosmos3OmniImageToVideoPipeline",
    "Cosmos3OmniVideoToVideoPipeline": "vidlong.families.cosmos3:VidLongCosmos3OmniVideoToVideoPipeline",
    "LattePipeline": "vidlong.families.latte:VidLongLattePipeline",
}


def task_of(class_name) -> Optional[str]:
    """The task (`PIPELINE_TASKS`) of a pipeline folder's ``_class_name``, a vidlong class's name too; None for a class
    vidlong does not serve."""
    return PIPELINE_TASKS.get(class_name.removeprefix("VidLong")) if isinstance(class_name, str) else None


@dataclass(frozen=True)
class ModelSpec:
    """Native geometry and sampling defaults of one model.

    Attributes:
        name: model name.
        native_frames: native window in latent frames (Wan2.1: 21).
        fps: frame rate of the pixel video.
        height, width: native resolution in pixels.
        num_inference_steps, guidance_scale: sampling defaults.
        guidance_scale_2: guidance of the low-noise expert (Wan2.2 A14B); None: `guidance_scale`.
        temporal_ratio: pixel frames per latent frame step of the VAE (for a model folder, read from its VAE config).
        stream_context: how streamed chunks see earlier frames by default ("cache" or "renoise",
            see `vidlong.Streaming.context`); None: "renoise" for image-to-video pipelines, else "cache".
        stream_chunk: latent frames of a stream's chunk by default, where its call has a chunk of its own (Helios: its
            call's chunk); None: `vidlong.Streaming`'s (see `vidlong.methods.model_streaming`).
        stream_first_chunk: latent frames of a new stream's first chunk by default (None: the chunk
            size; see `vidlong.Streaming.first_chunk`).
        stream_sampler, stream_timesteps: a stream's sampler and the causal sampler's timesteps by
            default (see `vidlong.Streaming.sampler`).
        stream_shift: the flow-matching shift the causal sampler warps its timesteps with (None: the
            scheduler's ``shift`` or ``flow_shift``, else 1).
        stream_preset: the `vidlong.Streaming.preset` a stream starts from (None: "default").
        stream_guidance: a stream's guidance by default (None: 1 with the causal sampler, whose
            published models are distilled without guidance, else `guidance_scale`).
        sampling_type: FramePack's section order (its call's ``sampling_type``): "inverted_anti_drifting" (the video's end
            first, back to its image) or "vanilla" (forwards in time); None: its call's default in `generate`
            ("inverted_anti_drifting") and "vanilla" in streams, the only order that streams (`vidlong.families.framepack`).
    """

    name: str
    native_frames: int
    fps: int = 16
    height: int = 480
    width: int = 832
    num_inference_steps: int = 50
    guidance_scale: float = 5.0
    guidance_scale_2: Optional[float] = None
    temporal_ratio: int = WAN_TEMPORAL_RATIO
    stream_context: Optional[str] = None
    stream_chunk: Optional[int] = None
    stream_first_chunk: Optional[int] = None
    stream_sampler: Optional[str] = None
    stream_timesteps: Optional[tuple] = None
    stream_shift: Optional[float] = None
    stream_preset: Optional[str] = None
    stream_guidance: Optional[float] = None
    sampling_type: Optional[str] = None

    def __post_init__(self):
        if self.sampling_type not in (None, *SAMPLING_TYPES):
            raise VidlongError(f"sampling_type of model {self.name!r} must be one of FramePack's orders "
                               f"{', '.join(SAMPLING_TYPES)} (or left out), got {self.sampling_type!r}; fix its vidlong.yaml")
        if not isinstance(self.native_frames, int) or self.native_frames < 1:
            raise VidlongError(f"native_frames of model {self.name!r} must be a whole number >= 1 (latent frames), "
                               f"got {self.native_frames!r}; fix its vidlong.yaml")
        if self.stream_chunk is not None and not (is_whole(self.stream_chunk) and 1 <= self.stream_chunk <= self.native_frames):
            raise VidlongError(f"stream_chunk of model {self.name!r} must be a whole number from 1 to its native_frames "
                               f"{self.native_frames} (latent frames), got {self.stream_chunk!r}; fix its vidlong.yaml")

    @property
    def native_pixel_frames(self) -> int:
        return pixel_frames(self.native_frames, self.temporal_ratio)


def pixel_frames(latent_frames: int, temporal_ratio: int = WAN_TEMPORAL_RATIO) -> int:
    """Pixel frames decoded from `latent_frames` (Wan: 4·(F-1)+1)."""
    return temporal_ratio * (latent_frames - 1) + 1


def latent_frames(pixel_frames_: int, temporal_ratio: int = WAN_TEMPORAL_RATIO, name: Optional[str] = None,
                  most: Optional[int] = None, counts: tuple = (1,)) -> int:
    """The fewest latent frames that hold `pixel_frames_`, which must be ``temporal_ratio·(F - 1) + r`` for an ``r`` of
    `counts` (a family's `FamilyAdapter.frame_counts`; by default ``temporal_ratio·k + 1``); an error names the argument
    `name` (default: ``frames`` / ``--frames``) and the nearest lengths, suggesting none past `most` latent frames."""
    name = name or named("frames")
    if not is_whole(pixel_frames_):
        raise VidlongError(f"{name} must be a whole number of pixel frames, got {pixel_frames_!r}")
    latent = (int(pixel_frames_) - 1) // temporal_ratio + 1
    if pixel_frames_ < 1 or pixel_frames_ - temporal_ratio * (latent - 1) not in counts:
        lower, upper = _nearest_frame_counts(int(pixel_frames_), temporal_ratio, counts)
        fits = most is None or (upper - 1) // temporal_ratio + 1 <= most
        forms = [f"{temporal_ratio}k" if r == temporal_ratio else f"{temporal_ratio}k+{r}"
                 for r in sorted(counts, key=lambda r: r % temporal_ratio)]
        needs = forms[0] if len(forms) == 1 else f"{', '.join(forms[:-1])} or {forms[-1]}"
        refusal = ("can't be decoded by this VAE" if tuple(counts) == (1,) else
                   "are not a length this model's call makes from the fewest latent frames that hold them")
        raise VidlongError(f"{pixel_frames_} frames {refusal} (needs {needs}); use {name} {lower}"
                           + (f" or {name} {upper}" if fits else ""))
    return latent


def _nearest_frame_counts(pixel_frames_: int, temporal_ratio: int, counts: tuple) -> tuple:
    """The lengths of `latent_frames`' `counts` nearest `pixel_frames_` (a length they do not take): the longest below it
    and the shortest above it (the two shortest below 1)."""
    first = max(1, (pixel_frames_ - 1) // temporal_ratio)
    lengths = [temporal_ratio * (latent - 1) + r for latent in range(first, first + 3) for r in sorted(counts)]
    below = [length for length in lengths if length < pixel_frames_]
    return (below[-1], next(length for length in lengths if length > pixel_frames_)) if below else tuple(lengths[:2])


def _spec(raw: dict) -> ModelSpec:
    """The spec of a yaml mapping: its `ModelSpec` fields (a list, YAML's sequence, as the tuple the spec holds)."""
    known = {f.name for f in fields(ModelSpec)}
    return ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in known})


def known_models() -> list[tuple[dict, ModelSpec]]:
    """(match rule, spec) of every model in `vidlong.configs/models`."""
    folder = resources.files("vidlong.configs") / "models"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            raw = yaml.safe_load(entry.read_text())
            out.append((raw.get("match", {}), _spec(raw)))
    return out


def model_facts(transformer_config, experts: int = 1, expand_timesteps: bool = False, task: str = "t2v",
                family: str = "wan", pipeline: str = "", scheduler: str = "") -> dict:
    """What a match rule can test: the transformer's config plus the pipeline facts, the family
    (`vidlong.attention.adapters`: "wan", "wan-vace", "wan-animate", "skyreels-v2", "ltx-video", "ltx-2", "cogvideox",
    "hunyuan-video", "hunyuan-video-1.5", "mochi", "kandinsky5", "motif-video", "easyanimate", "allegro", "anyflow",
    "anyflow-far", "helios", "framepack", "cosmos", "cosmos3", "kandinsky6", "sana-video", "sana-wm", "latte", "consisid",
    "chronoedit"), the
    diffusers pipeline class (SkyReels-V2's diffusion-forcing 14B and text-to-video 14B transformers have one config) and
    its scheduler's class ("" where unknown; Kandinsky 6's distilled releases ship with `PiflowScheduler`)."""
    return dict(transformer_config, experts=experts, expand_timesteps=bool(expand_timesteps), task=task, family=family,
                pipeline=pipeline.removeprefix("VidLong"), scheduler=scheduler)


def family_of(transformer) -> str:
    """The family name of a transformer instance ("wan" for a class no adapter serves)."""
    from .attention.adapters import family_of_class

    return family_of_class(type(transformer).__name__) or "wan"


def spec_for_facts(facts: dict) -> Optional[ModelSpec]:
    """The known model whose rule fits `facts` best (most keys), or None. A rule's value fits the fact equal to it, or
    one of a list of them."""
    def fits(value, fact) -> bool:
        return fact in value if isinstance(value, list) else fact == value

    fitting = [(len(match), spec) for match, spec in known_models()
               if match and all(fits(v, facts.get(k)) for k, v in match.items())]
    return max(fitting, key=lambda pair: pair[0])[1] if fitting else None


@functools.lru_cache(maxsize=64)
def _parsed_yaml(text: str):
    """`text` parsed by ``yaml.safe_load``, once per distinct text: a check of a model folder reads its ``vidlong.yaml``
    from many places (its LoRA chain, class, configs, geometry), and PyYAML's parse (~1 ms) was most of that read."""
    return yaml.safe_load(text)


def read_yaml(path: Path) -> dict:
    """A ``vidlong.yaml`` as a dict (the caller's own copy), or a one-line error naming the file."""
    try:
        raw = copy.deepcopy(_parsed_yaml(path.read_text())) or {}
    except (yaml.YAMLError, OSError) as err:
        raise VidlongError(f"{path} is not a valid vidlong.yaml ({type(err).__name__}); fix or delete it") from None
    if not isinstance(raw, dict):
        raise VidlongError(f"{path} is not a valid vidlong.yaml (not a mapping); fix or delete it")
    return raw


def read_spec_file(path: Path) -> ModelSpec:
    """A ``vidlong.yaml`` as a spec, or a one-line error naming the file."""
    raw = read_yaml(path)
    raw.setdefault("name", path.parent.name)
    try:
        return _spec(raw)
    except TypeError as err:
        raise VidlongError(f"{path} is not a valid vidlong.yaml ({type(err).__name__}); fix or delete it") from None


def resolve_model(model) -> Path:
    """The folder of ``--model``: an embedded model's name (`EMBEDDED_MODELS`; None: "default") or a path."""
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise VidlongError(f"{named('path', '--model')} must be a folder's path or an embedded model's name "
                           f"({', '.join(EMBEDDED_MODELS)}), got {type(model).__name__}")
    if model is None or str(model) in ("", "default"):
        return EMBEDDED_MODELS["default"]
    return EMBEDDED_MODELS.get(str(model), Path(model).expanduser())


@dataclass(frozen=True)
class LoraLink:
    """A model folder that is another model plus a LoRA (its ``vidlong.yaml``'s ``base``, ``lora``
    and optional ``lora_scale``). The other model may itself be one (a chain: the embedded
    ``default-distilled`` is ``default-causal`` plus a LoRA, which is ``default`` plus a LoRA).

    Attributes:
        base: the diffusers pipeline folder at the chain's end (its components are loaded).
        parent: the folder this one's ``base:`` names (its settings are overlaid).
        loras: every ``(file, scale)`` from the pipeline folder outwards, merged in that order.
    """

    base: Path
    parent: Path
    loras: tuple[tuple[Path, float], ...]

    @property
    def folders(self) -> list[Path]:
        """The folders holding the chain's weights: each LoRA's, then the pipeline folder."""
        return [path.parent.resolve() for path, _ in reversed(self.loras)] + [self.base]


def lora_link(folder: Path, _seen: tuple = ()) -> Optional[LoraLink]:
    """The `LoraLink` of `folder`, or None for a plain pipeline folder; a one-line error when the
    ``vidlong.yaml`` names a base or LoRA file that is not there, or a chain that leads back to itself."""
    own = Path(folder) / "vidlong.yaml"
    raw = read_yaml(own) if own.is_file() else {}
    if "base" not in raw and "lora" not in raw:
        return None
    if not raw.get("base") or not raw.get("lora"):
        raise VidlongError(f"{own} needs both base: (a model folder or name) and lora: (a .safetensors file); add the missing one")
    base = (EMBEDDED_MODELS.get(str(raw["base"])) or (Path(folder) / str(raw["base"]))).resolve()
    lora = Path(folder) / str(raw["lora"])
    if not lora.is_file():
        raise VidlongError(f"{own} names lora {raw['lora']!r}, which is not in {folder}; fix lora:")
    seen = _seen + (Path(folder).resolve(),)
    if base in seen:
        raise VidlongError(f"{own} names base {raw['base']!r}, whose chain of bases leads back to it; fix base:")
    step = (lora, float(raw.get("lora_scale", 1.0)))
    if (base / "model_index.json").is_file():
        return LoraLink(base, base, (step,))
    inner = lora_link(base, seen)
    if inner is None:
        raise VidlongError(f"{own} names base {raw['base']!r}, which is no diffusers pipeline folder "
                           "nor a model folder with a base and a LoRA; fix base:")
    return LoraLink(inner.base, base, inner.loras + (step,))


def pipeline_folder(folder: Path) -> Path:
    """The diffusers folder holding a model's components: the folder itself, or its LoRA chain's base."""
    link = lora_link(folder)
    return link.base if link else Path(folder)


def weight_folders(folder: Path) -> list[Path]:
    """The folders whose weight files make up a model: `folder` and, for a LoRA link, every folder
    down its chain to the pipeline folder."""
    link = lora_link(folder)
    return list(dict.fromkeys([Path(folder).resolve()] + (link.folders if link else [])))


def weight_shapes(folder: Path, expert: int = 0) -> dict:
    """Every weight's name and shape in a model folder's transformer (`expert` 1: ``transformer_2``), from its safetensors
    files' headers alone (no weights read)."""
    files = sorted((pipeline_folder(folder) / ("transformer_2" if expert else "transformer")).glob("*.safetensors"))
    if not files:
        raise VidlongError(f"{pipeline_folder(folder)} has no safetensors weights for its "
                           f"{'transformer_2' if expert else 'transformer'}; re-save it with save_pretrained()")
    return safetensors_shapes(files)


def safetensors_shapes(files) -> dict:
    """Every weight's name and shape in the safetensors `files` (paths), from their headers alone (no weights read)."""
    from safetensors import safe_open

    shapes = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            shapes.update({name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()})
    return shapes


def folder_class_name(folder: Path) -> str:
    """The pipeline class name in a checked model folder's ``model_index.json``."""
    return json.loads((pipeline_folder(folder) / "model_index.json").read_text())["_class_name"]


#: text-to-video pipeline classes whose weights diffusers also runs as image-to-video, and that class: a
#: folder of one loads as its image-to-video twin when an image is given (LTX-Video's two pipelines share
#: their weights, as LTX-2's do; Wan2.2 TI2V-5B's ``WanPipeline`` folder, with ``expand_timesteps``, is also its
#: ``WanImageToVideoPipeline``; LTX-Video 0.9.5+'s ``LTXConditionPipeline`` takes the image itself, as vidlong's
#: ``LTXConditionImageToVideoPipeline``, as LTX-2's ``LTX2ConditionPipeline`` does, as ``LTX2ConditionImageToVideoPipeline``,
#: and LTX-2.5's ``LTX2DFRPipeline``, as ``LTX2DFRImageToVideoPipeline``;
#: SkyReels-V2's diffusion-forcing weights serve its three DF pipelines; Kandinsky 6's
#: ``Kandinsky6TI2VAPipeline`` takes an image itself, as vidlong's ``Kandinsky6TI2VAImageToVideoPipeline``; Sana-Video's
#: ``SanaVideoPipeline`` weights run its ``SanaImageToVideoPipeline``, as its docstring loads one release folder for both;
#: LTX-Video's ``LTXI2VLongMultiPromptPipeline`` takes the image itself, its ``cond_image``, as vidlong's
#: ``LTXI2VLongMultiPromptImageToVideoPipeline``; Cosmos-Predict2.5's ``Cosmos2_5_PredictBasePipeline`` takes an image itself, its
#: Image2World, as vidlong's ``Cosmos2_5_PredictImageToWorldPipeline``, and Cosmos 3's ``Cosmos3OmniPipeline`` its
#: ``image=``, as vidlong's ``Cosmos3OmniImageToVideoPipeline``)
IMAGE_TO_VIDEO_TWINS = {"LTXPipeline": "LTXImageToVideoPipeline", "WanPipeline": "WanImageToVideoPipeline",
                        "LTX2Pipeline": "LTX2ImageToVideoPipeline",
                        "LTXConditionPipeline": "LTXConditionImageToVideoPipeline",
                        "LTX2ConditionPipeline": "LTX2ConditionImageToVideoPipeline",
                        "LTX2DFRPipeline": "LTX2DFRImageToVideoPipeline",
                        "SkyReelsV2DiffusionForcingPipeline": "SkyReelsV2DiffusionForcingImageToVideoPipeline",
                        "Kandinsky6TI2VAPipeline": "Kandinsky6TI2VAImageToVideoPipeline",
                        "SanaVideoPipeline": "SanaImageToVideoPipeline",
                        "LTXI2VLongMultiPromptPipeline": "LTXI2VLongMultiPromptImageToVideoPipeline",
                        "Cosmos2_5_PredictBasePipeline": "Cosmos2_5_PredictImageToWorldPipeline",
                        "Cosmos3OmniPipeline": "Cosmos3OmniImageToVideoPipeline"}


def image_to_video_twin(folder: Path) -> Optional[str]:
    """The image-to-video pipeline class name that takes a checked text-to-video folder's weights
    (`IMAGE_TO_VIDEO_TWINS`: a diffusers class, or vidlong's ``LTXConditionImageToVideoPipeline``,
    ``LTX2ConditionImageToVideoPipeline``, ``LTX2DFRImageToVideoPipeline`` or ``Kandinsky6TI2VAImageToVideoPipeline``; Wan
    only with ``expand_timesteps``: TI2V-5B; Kandinsky 6 only with a transformer its call conditions on an image:
    ``visual_cond`` and two token types), or None."""
    index = json.loads((pipeline_folder(folder) / "model_index.json").read_text())
    name = index["_class_name"].removeprefix("VidLong")
    if name == "WanPipeline" and not index.get("expand_timesteps", False):
        return None
    if name == "Kandinsky6TI2VAPipeline":
        config = folder_configs(folder)[1]
        if not config.get("visual_cond", True) or (config.get("visual_token_type_num_embeddings") or 0) < 2:
            return None
    return IMAGE_TO_VIDEO_TWINS.get(name)


#: text-to-video pipeline classes whose weights diffusers also runs as video-to-video, and that class
#: (`video_to_video_twin`: not in the layouts `_unredrawn_layout` names); Cosmos-Predict2.5's ``Cosmos2_5_PredictBasePipeline``
#: takes a video itself, its Video2World continuing it (`CONTINUING_PIPELINES`), as vidlong's
#: ``Cosmos2_5_PredictVideoToWorldPipeline``, and so does Cosmos 3's ``Cosmos3OmniPipeline``, its ``video=`` from the video's
#: last frames, as vidlong's ``Cosmos3OmniVideoToVideoPipeline``
VIDEO_TO_VIDEO_TWINS = {"WanPipeline": "WanVideoToVideoPipeline", "CogVideoXPipeline": "CogVideoXVideoToVideoPipeline",
                        "Cosmos2_5_PredictBasePipeline": "Cosmos2_5_PredictVideoToWorldPipeline",
                        "Cosmos3OmniPipeline": "Cosmos3OmniVideoToVideoPipeline"}


def video_to_video_twin(folder: Path) -> Optional[str]:
    """The video-to-video pipeline class name that takes a checked text-to-video folder's weights (`VIDEO_TO_VIDEO_TWINS`:
    Wan2.1's, CogVideoX-2B/5B's: one transformer, one timestep per sample, a latent frame per token frame; Cosmos-Predict2.5's
    Video2World), else None."""
    name = folder_class_name(folder).removeprefix("VidLong")
    return VIDEO_TO_VIDEO_TWINS[name] if name in VIDEO_TO_VIDEO_TWINS and _unredrawn_layout(folder) is None else None


#: text-to-video pipeline classes whose weights diffusers also runs following a control video, and that class: LTX-2's
#: folders (``LTX2Pipeline``, ``LTX2ConditionPipeline``) as its in-context pipeline, an IC-LoRA's reference video its
#: control video, the IC-LoRA merged by ``--lora`` (`vidlong.validate.check_control_twin`); its own conditions too
CONTROL_VIDEO_TWINS = {"LTX2Pipeline": "LTX2InContextPipeline", "LTX2ConditionPipeline": "LTX2InContextPipeline"}


def control_video_twin(folder: Path) -> Optional[str]:
    """The pipeline class name that follows a control video with a checked text-to-video folder's weights
    (`CONTROL_VIDEO_TWINS`), else None."""
    return CONTROL_VIDEO_TWINS.get(folder_class_name(folder).removeprefix("VidLong"))


#: pipeline classes whose calls make their video without a negative prompt, by the commands that ignore one: HunyuanVideo
#: 1.0's and FramePack's guidance is an input of their transformer (embedded), their true classifier-free guidance, the one
#: that reads a negative prompt, off at their call's ``true_cfg_scale`` 1; SkyReels V1's call runs it (6), its streams not;
#: LTX-2.5's DFR pass is distilled to run unguided (its call takes no negative prompt)
NEGATIVE_PROMPT_UNREAD = {"HunyuanVideoPipeline": ("generate", "stream"), "HunyuanVideoImageToVideoPipeline": ("generate", "stream"),
                          "HunyuanVideoFramepackPipeline": ("generate", "stream"), "HunyuanSkyreelsImageToVideoPipeline": ("stream",),
                          "LTX2DFRPipeline": ("generate", "stream")}


#: video-to-video pipeline classes whose call continues the given video (the output: its frames, then new ones) where the
#: others redraw it, by the model's name in refusals, the last pixel frames of the video its call encodes as its window's
#: first latent frames (a shorter video: SkyReels-V2 DF's all of it) and the fewest it takes: SkyReels-V2 DF's
#: (``overlap_history``, vidlong's default 17), Cosmos-Predict2.5's Video2World (``num_latent_conditional_frames`` 2: its
#: last 5, which its call needs), Cosmos 3's video to video (``condition_frame_indexes_vision`` (0, 1): its last 5, which
#: vidlong asks, where its call would repeat the last frame into them); their folders stream and extend as their weights'
#: text-to-video class does
CONTINUING_PIPELINES = {"SkyReelsV2DiffusionForcingVideoToVideoPipeline": ("SkyReels-V2 DF video to video", 17, 1),
                        "Cosmos2_5_PredictVideoToWorldPipeline": ("Cosmos-Predict2.5 Video2World", 5, 5),
                        "Cosmos3OmniVideoToVideoPipeline": ("Cosmos 3 video to video", 5, 5)}


def twin_continues(class_name: str) -> bool:
    """Whether the video-to-video twin of the pipeline class `class_name` (diffusers' or vidlong's ``VidLong`` one) continues
    a given video (`CONTINUING_PIPELINES`: Cosmos-Predict2.5's Video2World), where other twins redraw it."""
    return VIDEO_TO_VIDEO_TWINS.get(class_name.removeprefix("VidLong")) in CONTINUING_PIPELINES


def folder_continues(folder: Path, video: bool = False) -> bool:
    """Whether a checked folder's pipeline continues a given video (`CONTINUING_PIPELINES`): its own (SkyReels-V2 DF's
    video to video), or given a `video`, the video-to-video twin it loads as for one (`twin_continues`)."""
    name = folder_class_name(folder)
    return name.removeprefix("VidLong") in CONTINUING_PIPELINES or (video and twin_continues(name))


#: video-to-video pipeline classes whose call edits the given video by the prompt, its latents a condition of every
#: forward's channels (the output: the video's length, every step run, no strength), whatever the transformer's layout
#: (two experts, per-token timesteps): Lucy Edit's
EDITING_PIPELINES = ("LucyEditPipeline",)


#: image-to-video pipeline classes whose call edits the given image, the edit its video's last frame (ChronoEdit's):
#: `vidlong generate` writes that frame as a picture beside the video (`vidlong.edited_image`)
IMAGE_EDITING_PIPELINES = ("ChronoEditPipeline",)


def folder_edits(folder: Path) -> bool:
    """Whether a checked folder's pipeline edits a given video by the prompt (`EDITING_PIPELINES`)."""
    return folder_class_name(folder).removeprefix("VidLong") in EDITING_PIPELINES


def folder_redraws(folder: Path) -> bool:
    """Whether a checked folder redraws a given video: a video-to-video folder, or a text-to-video one with a
    video-to-video twin, neither in a layout `_unredrawn_layout` names (but one that edits it, `folder_edits`, in any), nor one
    that continues it (`folder_continues`)."""
    if pipeline_task(folder, video=True) != "v2v" or folder_continues(folder, video=True):
        return False
    return folder_edits(folder) or _unredrawn_layout(folder) is None


def _unredrawn_layout(folder: Path) -> Optional[str]:
    """The layout of a checked folder that diffusers' video-to-video pipelines do not run, for refusals: "two experts
    (Wan2.2 A14B)", "per-token timesteps (Wan2.2 TI2V-5B)", "a temporal patch of N latent frames (as CogVideoX1.5's)" (see
    `vidlong.families.cogvideox.one_frame_patch`), or None."""
    index, config, experts = folder_configs(folder)
    if experts == 2:
        return "two experts (Wan2.2 A14B)"
    if index.get("expand_timesteps"):
        return "per-token timesteps (Wan2.2 TI2V-5B)"
    patch = config.get("patch_size_t") or 1
    return f"a temporal patch of {patch} latent frames (as CogVideoX1.5's)" if patch > 1 else None


def what_folder_holds(folder: Path) -> str:
    """A checked folder's pipeline in a few words, for refusals: its class, with the layouts `_unredrawn_layout` names."""
    layout = _unredrawn_layout(folder)
    return f"a {folder_class_name(folder)}" + (f" with {layout}" if layout else "")


def pipeline_task(folder: Path, image: bool = False, video: bool = False, control: bool = False) -> str:
    """"t2v", "i2v", "v2v" or "animate" for a checked model folder (see `check_model_folder`); with an `image`, "i2v" also for a
    text-to-video folder that has an image-to-video twin (`image_to_video_twin`), which then loads as it; with a
    `video` to redraw, "v2v" for a folder with a video-to-video twin (`video_to_video_twin`); with a `control` video, the
    task of a folder's control-video twin where it has one (`control_video_twin`: LTX-2's in-context pipeline, "t2v")."""
    if control and control_video_twin(folder):
        return task_of(control_video_twin(folder))
    task = task_of(folder_class_name(folder))
    if video and task == "t2v" and video_to_video_twin(folder):
        return "v2v"
    return "i2v" if image and task == "t2v" and image_to_video_twin(folder) else task


def load_task(folder: Path, image: bool = False, video: bool = False, control: bool = False) -> str:
    """`vidlong.load_pipeline`'s ``task`` for a checked folder given these inputs: "control" where a `control` video makes it
    load as its control-video twin (`control_video_twin`), else `pipeline_task`'s."""
    return "control" if control and control_video_twin(folder) else pipeline_task(folder, image, video)


def check_model_folder(path: Union[str, Path, None], packages: bool = True) -> Path:
    """A model folder (a local diffusers pipeline folder, or a base model plus a LoRA; an embedded
    model's name is resolved, None: the default model), or a one-line `VidlongError` naming the fix; with `packages`
    False, a folder that needs a package not installed here to load or run is let through (`folder_package_refusal`:
    `vidlong info`)."""
    folder = resolve_model(path)
    link = lora_link(folder) if folder.is_dir() else None
    if link is not None:
        check_model_folder(link.base, packages)
        return folder
    if folder.is_file():
        raise VidlongError(f"{named('path', '--model')} {folder} is a file; pass the diffusers pipeline folder that holds model_index.json")
    if not folder.is_dir():
        raise VidlongError(f"model folder {folder} does not exist; pass a local diffusers pipeline folder as {named('path', '--model')}, "
                           f"or one of the embedded models: {', '.join(EMBEDDED_MODELS)}")
    index = folder / "model_index.json"
    if not index.is_file() and (folder.parent / "model_index.json").is_file():
        raise VidlongError(f"{named('path', '--model')} {folder} is one component of the pipeline folder {folder.parent}; "
                           "pass that folder")
    if not index.is_file() and (folder / "modular_model_index.json").is_file():
        raise VidlongError(f"{named('path', '--model')} {folder} holds a Modular Diffusers pipeline (modular_model_index.json), "
                           "which vidlong does not load: pass the standard diffusers folder its parts came from (model_index.json), "
                           "or in Python load it with diffusers' ModularPipeline.from_pretrained and apply the methods to its "
                           "transformer: vidlong.apply(pipe.transformer, vidlong.UltraViCo(), native_frames=...)")
    if not index.is_file():
        from .families.ltx2_temporal import temporal_folder_line

        raise VidlongError(temporal_folder_line(folder) or f"{named('path', '--model')} {folder} is not a diffusers pipeline "
                           "folder (no model_index.json); save one with pipe.save_pretrained()")
    try:
        class_name = json.loads(index.read_text()).get("_class_name")
    except (json.JSONDecodeError, AttributeError):
        raise VidlongError(f"{index} is not valid JSON; re-save the pipeline with save_pretrained()") from None
    if not isinstance(class_name, str) or not class_name:
        raise VidlongError(f"{index} names no pipeline class (its \"_class_name\"); re-save the pipeline with save_pretrained()")
    if class_name == "SanaWMLTX2Refiner":  # Sana-WM's second stage, a pipeline of its own
        from .families.sana_wm import REFINER_REFUSAL

        raise VidlongError(f"{folder} holds a SanaWMLTX2Refiner: {REFINER_REFUSAL.format(folder=folder)}")
    from .validate import LATENT_UPSAMPLERS

    if class_name in [names[2] for names in LATENT_UPSAMPLERS.values()]:  # LTX's second stage, after a video
        raise VidlongError(f"{folder} holds a {class_name}, a latent upsampler, not a video model: pass it to vidlong generate "
                           f"--upsample {folder} beside an LTX-Video or LTX-2 --model")
    from .families.kandinsky6_sr import SR_CLASS

    if class_name == SR_CLASS:  # Kandinsky 6's video super-resolution, after a video
        raise VidlongError(f"{folder} holds a {class_name}, Kandinsky 6's video super-resolution, not a video model: pass it "
                           f"to vidlong generate --upsample {folder} beside a Kandinsky 6 --model")
    from .families.ltx2_decoder import DECODER_CLASS

    if class_name == DECODER_CLASS:  # LTX-2.5's diffusion decoder, in place of an LTX-2 video's VAE decode
        raise VidlongError(f"{folder} holds a {class_name}, LTX-2.5's diffusion decoder, not a video model: pass it to "
                           f"vidlong generate --decoder {folder} beside an LTX-2 or LTX-2.5 --model")
    if task_of(class_name) is None:
        from .families.ltx2_temporal import temporal_folder_line

        raise VidlongError(temporal_folder_line(folder) or f"{folder} holds a {class_name}; vidlong serves "
                           f"{', '.join(PIPELINE_TASKS)} folders")
    check_folder_parts(folder, packages)
    check_folder_weights(folder)
    return folder


def _folder_parts(folder: Path) -> Optional[tuple]:
    """(its family's adapter, its pipeline class (diffusers' name), model_index.json, the transformer's and the VAE's
    config.json) of a pipeline folder; None where they cannot be read or its transformer is of no family vidlong knows."""
    from .attention.adapters import adapter_named, family_of_class

    try:
        index, transformer, _ = folder_configs(folder)
        vae = json.loads((pipeline_folder(folder) / "vae" / "config.json").read_text())
    except (VidlongError, OSError, ValueError):
        return None
    if not (isinstance(transformer, dict) and isinstance(vae, dict)):
        return None
    family = family_of_class(transformer.get("_class_name", ""))
    if not family:
        return None
    return adapter_named(family), index["_class_name"].removeprefix("VidLong"), index, transformer, vae


def check_folder_parts(folder: Path, packages: bool = True) -> None:
    """One line where a pipeline folder's transformer and VAE cannot run in its pipeline class (the family's
    `FamilyAdapter.parts_refusal` of their config.json files: EasyAnimate's) or, with `packages`, a package is not installed
    here that its pipeline builds a part with as it loads or its forward calls (`folder_package_refusal`: Cosmos's guardrail,
    torchvision), before any weights load. A folder whose configs cannot be read is left to the checks that read them
    (`folder_configs`, `folder_geometry`), which name it."""
    parts = _folder_parts(folder)
    if not parts:
        return
    adapter, pipeline, index, transformer, vae = parts
    refusal = ((packages and adapter.index_refusal(index)) or adapter.parts_refusal(pipeline, transformer, vae)
               or (packages and adapter.package_refusal(pipeline, transformer)))
    if refusal:
        raise VidlongError(refusal)


def folder_package_refusal(folder: Path) -> Optional[str]:
    """The line a command refuses a pipeline folder with where a package is not installed here that its pipeline builds a
    part with as it loads (its family's `FamilyAdapter.index_refusal` of its model_index.json: Cosmos's guardrail) or its
    forward calls (`FamilyAdapter.package_refusal`: Cosmos's torchvision), else None."""
    parts = _folder_parts(folder)
    if not parts:
        return None
    adapter, pipeline, index, transformer, _ = parts
    return adapter.index_refusal(index) or adapter.package_refusal(pipeline, transformer)


def spec_for_transformer(transformer, native_frames: Optional[int] = None) -> ModelSpec:
    """The spec of a transformer used on its own (`vidlong.apply`).

    From the ``vidlong.yaml`` of the pipeline folder it was loaded from, else a known model whose rule
    fits its config, else a one-line error asking for ``native_frames=``.
    """
    source = getattr(transformer.config, "_name_or_path", None)
    if source:
        for folder in (Path(source), Path(source).parent):
            if (folder / "vidlong.yaml").is_file():
                return _written_spec(folder)  # a LoRA folder's settings overlay its base's
    spec = spec_for_facts(model_facts(transformer.config, family=family_of(transformer)))
    if spec is None:
        raise VidlongError(f"vidlong does not know this {type(transformer).__name__}'s native length; pass "
                           "native_frames= (latent frames) or put a vidlong.yaml in its model folder")
    return spec


def folder_configs(folder: Path) -> tuple[dict, dict, int]:
    """(model_index.json, the first expert's config.json, number of experts) of a pipeline folder, or a
    one-line error naming the folder."""
    folder = pipeline_folder(folder)
    try:
        index = json.loads((folder / "model_index.json").read_text())
        experts = [name for name in ("transformer", "transformer_2") if (index.get(name) or [None])[0]]
        config = json.loads((folder / experts[0] / "config.json").read_text())
    except (OSError, ValueError, IndexError, AttributeError) as err:
        raise VidlongError(f"cannot read the configs of {folder} ({type(err).__name__}); re-save it with save_pretrained()") from None
    return index, config, len(experts)


def pipeline_facts(folder: Path) -> dict:
    """`model_facts` read from a diffusers pipeline folder's JSON files (no weights loaded)."""
    from .attention.adapters import family_of_class

    index, config, experts = folder_configs(folder)
    scheduler = index.get("scheduler")
    return model_facts(config, experts, index.get("expand_timesteps", False), task_of(index.get("_class_name")) or "t2v",
                       family_of_class(config.get("_class_name", "")) or "wan", index.get("_class_name", ""),
                       scheduler[1] if isinstance(scheduler, list) and len(scheduler) == 2 and scheduler[1] else "")


def spec_for_folder(folder: Path) -> ModelSpec:
    """A model folder's ``vidlong.yaml`` if it has one, else the known model its files match. A base
    plus LoRA folder's settings overlay its base's spec (only what differs need be written). The
    temporal ratio is always the VAE's (its config is the truth; a yaml need not repeat it). A family whose call makes its
    video in whole chunks of its native window (`FamilyAdapter.whole_chunks`: Helios's chunks, FramePack's sections)
    streams one such chunk at a time where its yaml names no ``stream_chunk``."""
    from .attention.adapters import adapter_named

    spec = _written_spec(folder)
    temporal = folder_geometry(folder).temporal
    spec = spec if spec.temporal_ratio == temporal else dataclasses.replace(spec, temporal_ratio=temporal)
    if spec.stream_chunk is None and adapter_named(pipeline_facts(Path(folder))["family"]).whole_chunks:
        spec = dataclasses.replace(spec, stream_chunk=spec.native_frames)
    return spec


def _written_spec(folder: Path) -> ModelSpec:
    own = Path(folder) / "vidlong.yaml"
    link = lora_link(folder)
    if link is not None:
        raw = read_yaml(own)
        raw.setdefault("name", Path(folder).name)
        known = {f.name for f in fields(ModelSpec)}
        try:
            return dataclasses.replace(_written_spec(link.parent), **{k: v for k, v in raw.items() if k in known})
        except VidlongError:  # the base's own refusal
            raise
        except (TypeError, ValueError) as err:
            raise VidlongError(f"{own} is not a valid vidlong.yaml ({type(err).__name__}); fix or delete it") from None
    if own.is_file():
        return read_spec_file(own)
    spec = spec_for_facts(pipeline_facts(Path(folder)))
    if spec is None:
        raise VidlongError(f"vidlong does not know the model in {folder}; add a vidlong.yaml there with native_frames "
                           "(latent frames), fps, height and width")
    guidance = folder_guidance(folder)
    return spec if guidance is None else dataclasses.replace(spec, guidance_scale=guidance)


def folder_guider(folder: Path) -> Optional[dict]:
    """The config a pipeline folder's own ``guider`` component is saved with (``guider/guider_config.json``: its
    ``_class_name`` and settings; HunyuanVideo 1.5's, Motif-Video's), or None where it has none (or it is unreadable)."""
    try:
        config = json.loads((pipeline_folder(folder) / "guider" / "guider_config.json").read_text())
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def folder_guidance(folder: Path) -> Optional[float]:
    """The classifier-free guidance scale a pipeline folder's own ``guider`` component is saved with (HunyuanVideo
    1.5's: 6, and 1 in its guidance-distilled releases), or None where it has none; it wins over `configs/models`."""
    try:
        return float((folder_guider(folder) or {})["guidance_scale"])
    except (ValueError, KeyError, TypeError):
        return None


@dataclass(frozen=True)
class Geometry:
    """The latent grid of a pipeline folder, read from its configs before any weights load.

    Attributes:
        channels: latent channels of the VAE (z_dim).
        spatial: pixels per latent cell (VAE spatial factor, 8 for Wan2.1, 16 for Wan2.2's VAE).
        temporal: pixel frames per latent frame (4).
        patch: the transformer's patch ``(t, h, w)``.
        min_cells: latent rows (and columns) the VAE's decoder takes at the fewest: 2 where it pads in reflect mode
            (LTX-2's), which a single row cannot do; a call's tiled decode's overlap (`TILED_DECODE_CELLS`); else 1.
        halvings: how many times its pipeline halves the latent grid and doubles it back (`PYRAMID_PIPELINES`: its
            scheduler's ``stages`` - 1), else 0.
        call_multiple: pixels its family's call takes heights and widths in multiples of, whatever the grid
            (`FamilyAdapter.call_multiple`: Sana-Video's 32), else 1.
        pads_patch: whether its transformer pads the latent grid to whole patches in space (`FamilyAdapter.pads_patch`:
            Cosmos 3's), so that a side is any multiple of the VAE's factor.
    """

    channels: int
    spatial: int
    temporal: int
    patch: tuple
    min_cells: int = 1
    halvings: int = 0
    call_multiple: int = 1
    pads_patch: bool = False

    @property
    def pixel_multiple(self) -> int:
        """Heights and widths must be multiples of this (VAE factor x patch, the patch 1 where the transformer pads to it,
        x 2 for each halving, and of the call's multiple)."""
        return math.lcm(self.spatial * self._whole_cells * 2**self.halvings, self.call_multiple)

    @property
    def min_pixels(self) -> int:
        """The smallest height (and width) in pixels: the fewest whole patches that hold `min_cells` latent cells."""
        return self.pixel_multiple * -(-self.min_cells // self._whole_cells)

    @property
    def _whole_cells(self) -> int:
        """Latent cells a side is a multiple of: the patch's, or 1 where the transformer pads to it."""
        return 1 if self.pads_patch else self.patch[1]


def image_vae(vae: dict) -> bool:
    """Whether a VAE config is an image VAE's, every down block 2D (SD's `AutoencoderKL`, Latte's): it encodes each frame
    alone, so it compresses no time."""
    blocks = vae.get("down_block_types") or ()
    return bool(blocks) and all(block.endswith("2D") for block in blocks)


def geometry_from_configs(vae: dict, transformer: dict, family: Optional[str] = None) -> Geometry:
    """`Geometry` from a VAE's and a transformer's configs, in every family's spelling: channels are
    Wan's ``z_dim`` or the others' ``latent_channels``; the spatial factor Wan's ``scale_factor_spatial``,
    LTX-Video's and HunyuanVideo's ``spatial_compression_ratio`` (LTX: else its patch x 2^down-samplings),
    Mochi's product of ``spatial_expansions`` or CogVideoX's 2^(levels - 1); the temporal factor likewise (Mochi's
    product of ``temporal_expansions``, 6; EasyAnimate's MagVIT VAE's 2^(levels - 2), as its class sets it; Wan's 4 where
    an early Wan config names none; 1 for an image VAE, `image_vae`: Latte's; else one line); the patch Wan's
    ``[t, h, w]`` or the others' ``patch_size`` (h = w) with ``patch_size_t`` (None: 1), Cosmos 3's ``latent_patch_size`` in
    space alone (absent: 2); a decoder padding in reflect mode
    needs 2 latent cells a side; the call's own multiple of sides from the transformer's family (`Geometry.call_multiple`):
    `family`, else its config's ``_class_name`` (a saved config's; a held model's config has none)."""
    downs = sum(vae.get("spatio_temporal_scaling") or ())  # LTX-Video's VAE, when its ratios are not written
    spatial = (vae.get("scale_factor_spatial") or vae.get("spatial_compression_ratio")
               or (vae["patch_size"] * 2**downs if "spatio_temporal_scaling" in vae else None)
               or (math.prod(vae["spatial_expansions"]) if "spatial_expansions" in vae else None)
               or 2 ** (len(vae.get("block_out_channels") or (0,) * 4) - 1))
    temporal = (vae.get("scale_factor_temporal") or vae.get("temporal_compression_ratio")
                or (vae.get("patch_size_t", 1) * 2**downs if "spatio_temporal_scaling" in vae else None)
                or (math.prod(vae["temporal_expansions"]) if "temporal_expansions" in vae else None)
                or (2 ** (len(vae["block_out_channels"]) - 2) if MAGVIT_BLOCK in (vae.get("down_block_types") or ()) else None)
                or (WAN_TEMPORAL_RATIO if "z_dim" in vae else None)  # an early Wan VAE config's, which names none
                or (1 if image_vae(vae) else None))
    if temporal is None:  # a VAE of another spelling: a guess would give wrong frame counts
        raise VidlongError(f"the VAE ({vae.get('_class_name') or 'its config'}) names no temporal compression vidlong reads "
                           "(scale_factor_temporal, temporal_compression_ratio); it is not a VAE of a family vidlong serves")
    side = transformer.get("latent_patch_size", 2)  # Cosmos 3's, in space alone
    patch = transformer.get("patch_size", (1, side, side))
    if isinstance(patch, int):
        patch = (transformer.get("patch_size_t") or 1, patch, patch)
    reflects = "reflect" in (vae.get("decoder_spatial_padding_mode"), vae.get("spatial_padding_mode"))
    from .attention.adapters import adapter_named, family_of_class

    family = family or family_of_class(transformer.get("_class_name"))
    adapter = None if family is None else adapter_named(family)
    return Geometry(channels=int(vae.get("z_dim") or vae["latent_channels"]), spatial=int(spatial), temporal=int(temporal),
                    patch=tuple(patch), min_cells=2 if reflects else 1, call_multiple=1 if adapter is None else adapter.call_multiple,
                    pads_patch=adapter is not None and adapter.pads_patch)


#: pipeline classes that denoise each chunk through a spatial pyramid, the latent grid halved ``stages - 1`` times (its
#: scheduler config's ``stages``) and doubled back: Helios-Mid's and -Distilled's
PYRAMID_PIPELINES = {"HeliosPyramidPipeline"}

#: pipeline classes whose call decodes by spatial tiles overlapping by this many latent cells, and so takes at least as
#: many a side (a side of fewer leaves a tile narrower than its feathering, which fails after every step has run):
#: LTX-Video long's 4 x 4 tiles, its call's ``decode_overlap`` default
TILED_DECODE_CELLS = {"LTXI2VLongMultiPromptPipeline": 3}


def folder_geometry(folder: Path) -> Geometry:
    """`Geometry` of a diffusers pipeline folder, from its JSON configs (a `PYRAMID_PIPELINES` folder's halvings from its
    scheduler's; a `TILED_DECODE_CELLS` folder's fewest cells a side)."""
    transformer = folder_configs(folder)[1]
    pyramid = folder_class_name(folder) in PYRAMID_PIPELINES
    tiled = TILED_DECODE_CELLS.get(folder_class_name(folder))
    folder = pipeline_folder(folder)
    try:
        vae = json.loads((folder / "vae" / "config.json").read_text())
        geometry = geometry_from_configs(vae, transformer)
        if tiled is not None:
            geometry = dataclasses.replace(geometry, min_cells=max(geometry.min_cells, tiled))
        if pyramid:
            scheduler = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
            geometry = dataclasses.replace(geometry, halvings=int(scheduler.get("stages", 1)) - 1)
        return geometry
    except VidlongError:  # a config read but not understood: its own line
        raise
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise VidlongError(f"cannot read the configs of {folder} ({type(err).__name__}); re-save it with save_pretrained()") from None
