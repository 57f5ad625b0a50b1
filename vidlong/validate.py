"""One validation layer for every entry point: a generation request is checked against the model's
facts (its spec, latent grid, RoPE table and task), which can be read from a model folder's JSON
files before any weights load (`limits_for_folder`) or from a loaded pipeline (`limits_for_pipeline`).
The CLI runs it before loading a model, `vidlong.generate.generate` (the API and the app) before
generating; every refusal is one `VidlongError` line naming the field and the fix. It imports neither
torch nor diffusers at module level (the model folder's own checks are `vidlong.models.check_model_folder`),
so a bad command line is refused in about a second.
"""
from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from .control_video import CONTROL_PIPELINES
from .errors import VidlongError, named, naming_flags
from .identity import FaceInputs, face_inputs
from .scalars import is_real, is_whole
from .method_names import NOISE_KINDS
from .schedulers.stream import StreamSchedule, fewest_shown_latent_frames
from .schedulers.timeline import parse_prompt_timeline, timeline_latent_starts
from .models import (IMAGE_EDITING_PIPELINES, NEGATIVE_PROMPT_UNREAD, Geometry, ModelSpec, folder_configs, folder_continues,
                     folder_edits, folder_geometry, folder_redraws, pipeline_facts, pipeline_folder, pipeline_task, pixel_frames,
                     spec_for_folder)

if TYPE_CHECKING:  # annotations only: the checks run before torch, diffusers and any model load
    import torch

    from .methods import Streaming

#: seeds are torch generator seeds: non-negative 63-bit integers
MAX_SEED = 2**63 - 1
#: denoising steps beyond this are refused as a typo (the schedulers train on 1000 timesteps)
MAX_STEPS = 1000
#: a stream's --seconds beyond this (about four months) is refused: --forever streams until interrupted
MAX_SECONDS = 1e7
#: classifier-free guidance beyond this is refused (the models use 1-10; huge values give NaN frames)
MAX_GUIDANCE = 100.0


@dataclass(frozen=True)
class ModelLimits:
    """What a request is checked against.

    Attributes:
        spec: the model's spec (native window in latent frames, defaults).
        geometry: latent channels, VAE factors, transformer patch.
        rope_positions: positions in the transformer's RoPE tables (Wan's ``rope_max_seq_len``): the most
            token frames, and token rows or columns, one forward can place; None where the family
            computes its RoPE for any size.
        task: "t2v", "i2v", "v2v" or "animate" (Wan Animate).
        family: the transformer's family (`vidlong.attention.adapters`), which says whether it streams.
        experts: transformers the sampler switches between (2: Wan2.2 A14B's high- and low-noise experts).
        last_frame: whether the pipeline takes a last frame too: "required" (Wan2.1 FLF2V, whose transformer
            takes both images' CLIP tokens), "optional" (Wan2.2 I2V A14B: condition channels alone; FramePack's call, in
            its inverted order: `check_last_image`; LTX-2's `LTX2ConditionPipeline`, a condition at its last latent frame,
            from text or an image, and LTX-2.5's `LTX2DFRPipeline`) or "no" (the others; Wan2.1 I2V's CLIP input takes one image,
            TI2V-5B's call ignores it).
        fixed_size: the one (height, width) in pixels the transformer takes, where a learned position table
            fixes it (CogVideoX-5B-I2V), else None.
        redraws: whether it redraws a given video (video-to-video): a video-to-video pipeline, or a text-to-video one
            whose weights diffusers' `WanVideoToVideoPipeline` or `CogVideoXVideoToVideoPipeline` runs (Wan2.1's layout,
            CogVideoX-2B/5B's; `vidlong.models.folder_redraws`).
        no_stream_reason: why this pipeline does not stream though its family does (`_no_stream_reason`), else None.
        control: the control inputs its call takes (`vidlong.control_video.CONTROL_PIPELINES`: "vace", "fun", "transfer",
            "in-context"), else None.
        dropped_frames: pixel frames its call drops from the front of a video (`_dropped_frames`), which a stream's first
            chunk drops too.
        no_methods_reason: why vidlong's methods do not run on its transformer (`_no_methods_reason`), else None.
        continues: whether its call continues a given video rather than redrawing it (`vidlong.models.CONTINUING_PIPELINES`:
            the output is the video's frames, then new ones); it streams and extends as its weights' text-to-video class.
        edits: whether its call edits a given video by the prompt, the video's latents a condition of every forward's
            channels (`vidlong.models.EDITING_PIPELINES`: Lucy Edit; the output as long as the video, no strength).
        negative_prompt_unread: the commands ("generate", "stream": extensions too) whose video its pipeline makes without
            a negative prompt (`vidlong.models.NEGATIVE_PROMPT_UNREAD`), where one is refused (`check_negative_prompt`).
        no_latents_reason: why its extensions do not continue saved latents, where its pipeline says so and its family does
            not (`_no_latents_reason`), else None.
        pipeline: its diffusers pipeline class's name (vidlong's own twin's, given an image), for a pipeline's own checks.
        identity: the face tensors its call needs (`vidlong.identity.FaceInputs`: ConsisID's with ``is_train_face``), else
            None.
        folder: the model folder it was read from (a loaded pipeline's ``_name_or_path``, where that is a folder), else None:
            where an ``upsample`` of True looks for the folder's own latent upsampler (`check_upsample`).
        reference_downscale: the ``reference_downscale_factor`` its LoRAs record, at which LTX-2's IC-LoRA and HDR pipelines
            encode a control video as a reference (`vidlong.reference_size`), else 1.
    """

    spec: ModelSpec
    geometry: Geometry
    rope_positions: Optional[int]
    task: str
    family: str = "wan"
    experts: int = 1
    last_frame: str = "no"
    fixed_size: Optional[tuple] = None
    redraws: bool = False
    no_stream_reason: Optional[str] = None
    control: Optional[str] = None
    dropped_frames: int = 0
    no_methods_reason: Optional[str] = None
    continues: bool = False
    edits: bool = False
    negative_prompt_unread: tuple = ()
    no_latents_reason: Optional[str] = None
    pipeline: str = ""
    identity: Optional[FaceInputs] = None
    folder: Optional[Path] = None
    reference_downscale: int = 1

    @property
    def edits_image(self) -> bool:
        """Whether its call edits the given image, the edit its video's last frame (`vidlong.models.IMAGE_EDITING_PIPELINES`:
        ChronoEdit), which `vidlong generate` and the app write as a PNG beside the video (`vidlong.edited_image`)."""
        from .models import IMAGE_EDITING_PIPELINES

        return self.pipeline in IMAGE_EDITING_PIPELINES

    @property
    def own_windows(self) -> bool:
        """Whether its call makes the video from windows of its own, a prompt a window by ``|`` (LTX-Video's long
        multi-prompt pipeline and its image twin, `vidlong.families.ltx_long`): no prompt schedule, no diagonal denoising."""
        return self.pipeline.startswith("LTXI2VLongMultiPrompt")

    @property
    def chunks_alone(self) -> bool:
        """Whether its streams' chunks are each decoded on its own, ``temporal·(c - 1) + 1`` pixel frames a chunk of c
        latent frames, as its call's whole chunks are (`FamilyAdapter.chunks_decoded_alone`: Helios), not ``temporal·c``
        after the first (FramePack's sections, blended into the frames before them, too)."""
        from .attention.adapters import adapter_named

        return adapter_named(self.family).chunks_decoded_alone

    def counted_first_chunk(self, first: int) -> int:
        """Latent frames of a new stream's first chunk of `first` as its pixel frames count them: one more where its streams
        return their image's frame before it (`FamilyAdapter.image_frame_first`: FramePack's ``temporal·first + 1``)."""
        from .attention.adapters import adapter_named

        return first + 1 if adapter_named(self.family).image_frame_first else first


def limits_for_folder(folder, image: bool = False, video: bool = False, control: bool = False, loras=()) -> ModelLimits:
    """`ModelLimits` of a checked pipeline folder, from its JSON configs alone; with an `image`, a `video` to redraw or a
    `control` video, of the pipeline it loads as for one (`vidlong.models.pipeline_task`; a control-video twin's,
    `vidlong.models.control_video_twin`: an LTX-2 folder's in-context pipeline); its reference downscale factor from the
    headers of its ``vidlong.yaml``'s LoRA files and `loras` (`vidlong.lora.LoraFile`s merged as it loads)."""
    from .models import control_video_twin, lora_link
    from .reference_size import REFERENCE_KINDS, lora_downscale_factor

    config = folder_configs(Path(folder))[1]
    twin = control_video_twin(Path(folder)) if control else None
    facts = dict(pipeline_facts(Path(folder)), **({"pipeline": twin} if twin else {}))
    task, geometry = pipeline_task(folder, image, video, control), folder_geometry(folder)
    kind = CONTROL_PIPELINES.get(facts["pipeline"])
    factor = None
    if kind in REFERENCE_KINDS:  # the factor its LoRAs' headers record
        link = lora_link(Path(folder))
        factor = lora_downscale_factor([path for path, _ in (link.loras if link else ())] + [lora.path for lora in loras])
    return ModelLimits(spec_for_folder(folder), geometry, _rope_positions(facts), task, facts["family"],
                       facts["experts"], _takes_last_frame(dict(facts, task=task)), _fixed_size(config, geometry),
                       folder_redraws(folder), _no_stream_reason(dict(facts, task=task)), kind,
                       _dropped_frames(dict(facts, task=task)), _no_methods_reason(facts), folder_continues(folder, video),
                       folder_edits(folder), NEGATIVE_PROMPT_UNREAD.get(facts["pipeline"], ()),
                       _no_latents_reason(facts), task_pipeline(facts["pipeline"], task),
                       face_inputs(facts), Path(folder), factor or 1)


def task_pipeline(pipeline: str, task: str) -> str:
    """The pipeline class name a folder of `pipeline` loads as for `task` (its image-to-video twin's for "i2v", its
    video-to-video twin's for "v2v")."""
    from .models import IMAGE_TO_VIDEO_TWINS, VIDEO_TO_VIDEO_TWINS

    twins = {"i2v": IMAGE_TO_VIDEO_TWINS, "v2v": VIDEO_TO_VIDEO_TWINS}.get(task, {})
    return twins.get(pipeline, pipeline)


def check_control_twin(folder, loras=(), image: bool = False) -> None:
    """A checked `folder` loaded as its control-video twin (`vidlong.models.control_video_twin`: an LTX-2 folder as its
    in-context pipeline), before any model loads: one line without an IC-LoRA to follow the control video by, neither in
    `loras` (`vidlong.lora.LoraFile`s or paths) nor its ``vidlong.yaml`` (LTX-2's own weights were not trained to follow a
    reference video), or with an `image` (its in-context pipeline is loaded as text-to-video, as its own folders are)."""
    from .models import folder_class_name, lora_link

    name = folder_class_name(Path(folder))
    if not loras and lora_link(Path(folder)) is None:
        raise VidlongError(f"an {name} folder follows {named('control_video')} as LTX-2's in-context pipeline, by an IC-LoRA "
                           f"trained on such references (pose, depth, edges), which its own weights are not: merge the "
                           f"IC-LoRA's .safetensors file by {named('loras', '--lora')}")
    if image:
        raise VidlongError(f"an {name} folder follows {named('control_video')} as LTX-2's in-context pipeline, from text: it "
                           f"takes no {named('image')} with it; drop {named('image')} (or {named('control_video')})")


def limits_for_pipeline(pipe) -> ModelLimits:
    """`ModelLimits` of a loaded vidlong pipeline."""
    facts, geometry = pipe.facts(), pipe.geometry()
    return ModelLimits(pipe.spec, geometry, _rope_positions(facts), pipe.task, facts["family"], facts["experts"],
                       _takes_last_frame(facts), _fixed_size(facts, geometry), pipe.redraws(), _no_stream_reason(facts),
                       CONTROL_PIPELINES.get(facts["pipeline"]), _dropped_frames(facts), _no_methods_reason(facts),
                       pipe.continues_video, pipe.edits_video, NEGATIVE_PROMPT_UNREAD.get(facts["pipeline"], ()),
                       _no_latents_reason(facts), facts["pipeline"], face_inputs(facts), _pipeline_folder(pipe),
                       pipe.reference_downscale() if hasattr(pipe, "reference_downscale") else 1)


def _pipeline_folder(pipe) -> Optional[Path]:
    """The folder a loaded pipeline was read from (its ``_name_or_path``, `load_pipeline`'s model folder), else None."""
    path = pipe.config.get("_name_or_path")
    return Path(path) if path and Path(path).is_dir() else None


def _no_methods_reason(facts: dict) -> Optional[str]:
    """`ModelLimits.no_methods_reason`: why vidlong's methods do not run on the pipeline's transformer (its family's
    `FamilyAdapter.methods_refusal` of its config: Kandinsky 5's NABLA releases), else None."""
    from .attention.adapters import adapter_named

    return adapter_named(facts["family"]).methods_refusal(facts)


def _dropped_frames(facts: dict) -> int:
    """`ModelLimits.dropped_frames` from a pipeline's `vidlong.models.model_facts`: 4 for HunyuanVideo-I2V's 33-channel
    release (its transformer's ``image_condition_type`` ``latent_concat``), whose call returns its video after the image's
    latent frame and three more pixel frames; else 0."""
    concatenated = (facts["family"], facts["task"], facts.get("image_condition_type")) == ("hunyuan-video", "i2v", "latent_concat")
    return 4 if concatenated else 0


def _no_stream_reason(facts: dict) -> Optional[str]:
    """`ModelLimits.no_stream_reason` from a pipeline's `vidlong.models.model_facts`: a step-distilled (MeanFlow) HunyuanVideo
    1.5 transformer (``use_meanflow``); its pipeline's, where its family declares one (`FamilyAdapter.no_stream_pipelines`:
    CogVideoX-Fun's control pipeline, LTX-2's in-context one, Cosmos-Transfer2.5, LTX-Video's long multi-prompt one); a
    SkyReels-V2 transformer left block-causal (``num_frame_per_block`` above 1: a stream's windows would not fit its blocks)."""
    from .attention.adapters import adapter_named

    if facts.get("use_meanflow"):
        return ("this HunyuanVideo 1.5 model is step-distilled (use_meanflow): its streams and extensions are not wired "
                "(each forward also takes the next step's timestep)")
    reason = adapter_named(facts["family"]).no_stream_pipelines.get(facts["pipeline"])
    if reason is not None:
        return reason
    if facts.get("num_frame_per_block", 1) > 1:
        return (f"this SkyReels-V2 transformer attends block-causally ({facts['num_frame_per_block']} latent frames a block); "
                "set transformer.config num_frame_per_block back to 1 to stream")
    return None


def _no_latents_reason(facts: dict) -> Optional[str]:
    """`ModelLimits.no_latents_reason` from a pipeline's `vidlong.models.model_facts`: its pipeline's, where its family declares
    one (`FamilyAdapter.no_latents_pipelines`: Cosmos 1.0's), else None."""
    from .attention.adapters import adapter_named

    return adapter_named(facts["family"]).no_latents_pipelines.get(facts["pipeline"])


def _fixed_size(transformer_config, geometry: Geometry) -> Optional[tuple]:
    """`ModelLimits.fixed_size`: a CogVideoX transformer with learned positions takes its sample size alone."""
    if not transformer_config.get("use_learned_positional_embeddings"):
        return None
    return (transformer_config["sample_height"] * geometry.spatial, transformer_config["sample_width"] * geometry.spatial)


def _takes_last_frame(facts: dict) -> str:
    """`ModelLimits.last_frame` from a pipeline's `vidlong.models.model_facts`: Wan's image-to-video by condition
    channels whose transformer takes two images' CLIP tokens (FLF2V's ``pos_embed_seq_len``) or none (Wan2.2 I2V A14B);
    FramePack's call, in its inverted order (`check_last_image`); LTX-2's condition pipeline (a condition at its last latent
    frame, with or without an image; its in-context pipeline's too), and LTX-2.5's (at the request's last latent frame)."""
    if facts["family"] == "framepack" or facts["pipeline"].startswith(("LTX2Condition", "LTX2InContext", "LTX2DFR")):
        return "optional"
    if facts["family"] != "wan" or facts["task"] != "i2v" or facts["expand_timesteps"]:
        return "no"
    if facts.get("pos_embed_seq_len") is not None:
        return "required"
    return "optional" if facts.get("image_dim") is None else "no"


def check_no_stream_between_two_frames(limits: ModelLimits) -> None:
    """A model that needs a last frame (FLF2V) makes whole videos between two frames: no stream or extension."""
    if limits.last_frame == "required":
        raise VidlongError("this first-last-frame model (Wan2.1 FLF2V) makes a video between two given frames; it does not "
                           "stream or extend: use vidlong generate --image first.png --last-image last.png")


def _rope_positions(facts: dict) -> Optional[int]:
    """`ModelLimits.rope_positions` from a pipeline's `vidlong.models.model_facts`: its config's ``rope_max_seq_len``
    (Wan's), else its family's table (`FamilyAdapter.table_positions`: Kandinsky 5's 128, Cosmos's from its ``max_size``),
    else None."""
    from .attention.adapters import adapter_named

    positions = facts.get("rope_max_seq_len") or adapter_named(facts["family"]).table_positions(facts)
    return None if positions is None else int(positions)


def check_streams(family: str, context: Optional[str] = None, pipeline: str = "") -> None:
    """A one-line refusal unless the family streams (`FamilyAdapter.stream_contexts`), with `context`
    ("cache", "renoise" or "clean") where one is given, on its pipeline named `pipeline` (a diffusers class name; "": the
    family's contexts, `FamilyAdapter.stream_contexts_of`)."""
    from .attention.adapters import adapter_named

    adapter = adapter_named(family)
    if not adapter.stream_contexts:
        raise VidlongError(f"streaming is not available for {adapter.transformer_class}: {adapter.no_stream_reason}; "
                           "use vidlong generate for this model")
    contexts = adapter.stream_contexts_of(pipeline)
    if context is not None and context not in contexts:
        clean = context == "clean"  # a pipeline's own (`FamilyAdapter.pipeline_stream_contexts`), else the family's
        reason = ("it keeps the context clean under a condition mask that only Cosmos-Predict2.5's and Cosmos 3's streams "
                  "take (their calls' conditioning on a video)" if clean else adapter.no_cache_reason)
        raise VidlongError(f"{named('context')} {context} is not available for "
                           f"{pipeline if clean and pipeline else adapter.transformer_class}: {reason}; stream with "
                           f"{named('context')} {contexts[0]} (its default)")


def fewest_frames_extended(limits: ModelLimits) -> Optional[int]:
    """The fewest pixel frames of a video vidlong extend continues on the model of `limits`
    (`vidlong.extend.fewest_input_frames`: 1, one whole chunk's for Helios, the image's frame and one section for FramePack);
    None where it does not extend (it does not stream: `streams`)."""
    from .extend import fewest_input_frames

    if not streams(limits):
        return None
    return fewest_input_frames(limits.family, limits.spec)[0]


def streams(limits: ModelLimits) -> bool:
    """Whether the pipeline of `limits` streams at all (its family has a stream context, and the pipeline no
    `ModelLimits.no_stream_reason`, no spec its streams cannot follow, `FamilyAdapter.spec_stream_refusal`, and no edit of a
    given video, `ModelLimits.edits`, which streams that edit alone: `check_not_redrawing`): a pipeline that streams
    extends too (an extension is a stream with a pre-filled start)."""
    from .attention.adapters import adapter_named

    adapter = adapter_named(limits.family)
    return (bool(adapter.stream_contexts) and limits.no_stream_reason is None and not limits.edits
            and adapter.spec_stream_refusal(limits.spec) is None)


def continue_hint(limits: ModelLimits) -> str:
    """The refusals' pointer to `vidlong extend` for continuing a video, where the pipeline of `limits` extends (it `streams`:
    an extension is a stream with a pre-filled start; one whose call `continues` a video: `vidlong generate --video` too);
    else ""."""
    if not streams(limits):
        return ""
    one_call = " (or in one window: vidlong generate --video)" if limits.continues else ""
    return f"; to continue a video use vidlong extend --video{one_call}"


def default_stream_context(family: str, pipeline: str = "") -> str:
    """The stream context a family's pipeline named `pipeline` (a diffusers class name; "": the family's) uses when
    neither the request nor the model names one (`FamilyAdapter.stream_contexts_of`)."""
    from .attention.adapters import adapter_named

    contexts = adapter_named(family).stream_contexts_of(pipeline)
    return contexts[0] if contexts else "cache"


def check_stream_length(chunks, seconds) -> None:
    """A stream's or an extension's length: `chunks` a whole number >= 1, `seconds` finite, over 0 and at most
    `MAX_SECONDS`; either may be None (both: until stopped; the CLI's ``--seconds 0`` is None here). Else one line."""
    if chunks is not None and (not is_whole(chunks) or chunks < 1):
        raise VidlongError(f"{named('chunks')} must be a whole number >= 1, got {chunks!r}")
    check_finite(named("seconds"), seconds)
    if seconds is not None and not seconds > 0:
        if naming_flags():  # the CLI's 0 means until stopped, so only a negative length reaches here
            raise VidlongError(f"{named('seconds')} must be > 0 (a length), got {seconds!r}; --seconds 0 or --forever "
                               "runs until stopped")
        raise VidlongError(f"{named('seconds')} must be > 0, got {seconds!r}; give neither chunks nor seconds to stream until "
                           "stopped")
    if chunks is not None and seconds is not None:
        raise VidlongError(f"give {named('chunks')} or {named('seconds')}, not both")
    if seconds is not None and seconds > MAX_SECONDS:
        until_stopped = "use --forever" if naming_flags() else "pass neither chunks nor seconds"
        raise VidlongError(f"{named('seconds')} must be at most {MAX_SECONDS:g}, got "
                           f"{seconds:g}; {until_stopped} to stream until interrupted")


#: the diffusers call's names for what a stream or an extension takes under its own
STREAM_ARGUMENT_NAMES = {"generator": "seed=<int>", "guidance_scale": "guidance=", "guidance_scale_2": "guidance_2=",
                         "num_inference_steps": "streaming=vidlong.Streaming(steps=...)", "num_frames": "chunks= or seconds="}
#: the keyword arguments `pipe.stream` and `pipe.extend` pass on to the stream
STREAM_ARGUMENTS = ("guidance", "guidance_2", "seed", "height", "width", "negative_prompt", "image")


#: what `pipe.extend` takes from its input instead of an argument
EXTENSION_TAKES = {"height": "the input's size", "width": "the input's size", "image": "the input's first frame"}


def check_stream_arguments(kwargs: dict, call: str) -> None:
    """`call`'s (``pipe.stream`` / ``pipe.extend``) extra keyword arguments: one line for a diffusers
    call's name (``generator=``, ``guidance_scale=``...) naming the stream's own, for an unknown one, or
    for one an extension takes from its input."""
    for name in kwargs:
        if call == "pipe.extend" and name in EXTENSION_TAKES:
            raise VidlongError(f"pipe.extend takes {EXTENSION_TAKES[name]} from the video it continues; drop {name}=")
        if name in STREAM_ARGUMENT_NAMES:
            raise VidlongError(f"{call} takes {STREAM_ARGUMENT_NAMES[name]} where the diffusers call takes {name}=")
        if name not in STREAM_ARGUMENTS:
            raise VidlongError(f"{call} got an unknown argument {name}=; it takes {', '.join(STREAM_ARGUMENTS)}")


def check_streaming_config(streaming) -> None:
    """A one-line error unless `streaming` is None, a `vidlong.Streaming` or a `vidlong.DiagonalDenoising`."""
    from .methods import DiagonalDenoising, Streaming

    if streaming is not None and not isinstance(streaming, (Streaming, DiagonalDenoising)):
        raise VidlongError(f"streaming= takes a vidlong.Streaming or a vidlong.DiagonalDenoising, got {type(streaming).__name__} "
                           f"{streaming!r:.40}; e.g. vidlong.Streaming(chunk=3), vidlong.Streaming.preset(\"longlive\") or "
                           "vidlong.DiagonalDenoising()")


def check_second_expert(guidance_2, limits: ModelLimits) -> None:
    """A one-line error for a second expert's guidance (`guidance_2`) given to a one-transformer model."""
    if guidance_2 is not None and limits.experts < 2:
        raise VidlongError(f"{named('guidance_2')} is the low-noise expert's guidance of a two-expert model (Wan2.2 "
                           f"A14B); {limits.spec.name} has one transformer: use {named('guidance')} alone")


def check_sampling(guidance=None, guidance_2=None, seed=0) -> None:
    """The sampling arguments of a generation, a stream or an extension: guidances finite from 0 to
    `MAX_GUIDANCE`, a seed from 0 to `MAX_SEED`."""
    check_finite(named("guidance"), guidance, 0, MAX_GUIDANCE)
    check_finite(named("guidance_2"), guidance_2, 0, MAX_GUIDANCE)
    check_seed(seed, named("seed"))


def check_finite(name: str, value, low: float | None = None, high: float | None = None) -> None:
    """`value` is a finite number (within `low`..`high`), else one line naming `name` (a flag such as
    ``--guidance``, or a Python argument)."""
    if value is None:
        return
    if not is_real(value):
        raise VidlongError(f"{name} must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise VidlongError(f"{name} must be >= {low:g}, got {value!r}")
    if high is not None and value > high:
        raise VidlongError(f"{name} must be <= {high:g}, got {value!r}")


def check_fps(fps) -> None:
    """An extension's `fps` (its input's frame rate, which its seconds are counted in; None: its file's, else the model's):
    a finite number > 0, else one line."""
    check_finite("fps", fps)
    if fps is not None and not fps > 0:
        raise VidlongError(f"fps must be > 0 frames per second, got {fps!r}")


#: the dtypes a pipeline loads in, by name
DTYPE_NAMES = ("float32", "bfloat16", "float16")


def check_dtype(dtype, device):
    """`dtype` (a torch dtype, float64 included, or one of `DTYPE_NAMES`; None: bfloat16 on CUDA,
    float32 elsewhere) for a pipeline on the torch `device`, as a torch dtype, or one line."""
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, str) and dtype in DTYPE_NAMES:
        dtype = getattr(torch, dtype)
    if dtype not in (torch.float32, torch.bfloat16, torch.float16, torch.float64):
        raise VidlongError(f"dtype (--dtype) {dtype!r} is not one of {', '.join(DTYPE_NAMES)} (or torch.float64 "
                           "from Python)")
    if dtype == torch.float16 and device.type == "cpu":
        raise VidlongError(f"{named('dtype')} float16 runs on CUDA only; on the CPU use bfloat16 or float32")
    return dtype


#: VAE classes whose encoder torch cannot run in bfloat16 on the CPU (Cosmos 1.0's: `avg_pool3d` has no bfloat16 CPU kernel)
NO_CPU_BFLOAT16_ENCODERS = ("AutoencoderKLCosmos",)


def check_cpu_bfloat16_encode(folder, device, dtype: Optional[str], encodes: bool) -> None:
    """One line where a run that `encodes` pixels (a first frame, a video to continue or redraw) would run, on the CPU in
    bfloat16 (`dtype` as the CLI names it), a VAE encoder torch has no bfloat16 CPU kernel for (`NO_CPU_BFLOAT16_ENCODERS`)."""
    from .models import folder_configs

    if not encodes or dtype != "bfloat16" or device.type != "cpu":
        return
    vae = (folder_configs(Path(folder))[0].get("vae") or [None, None])[-1]
    if vae in NO_CPU_BFLOAT16_ENCODERS:
        raise VidlongError(_cpu_bfloat16_encode_refusal(vae))


#: transformer classes whose forward torch cannot run in bfloat16 on the CPU, and why (Sana-WM's camera geometry: diffusers'
#: `create_grid` refuses a CPU dtype other than float32 and float64)
NO_CPU_BFLOAT16_TRANSFORMERS = {"SanaWMTransformer3DModel": "its camera geometry (diffusers' create_grid) runs on the CPU in "
                                                            "float32 or float64 alone"}


def check_cpu_bfloat16_forward(folder, device, dtype) -> None:
    """One line where a pipeline folder's transformer (`NO_CPU_BFLOAT16_TRANSFORMERS`) would run on the CPU in bfloat16
    (`dtype` a torch dtype or its name as the CLI takes it), before it loads."""
    from .models import folder_configs

    if str(dtype).removeprefix("torch.") != "bfloat16" or device.type != "cpu":
        return
    transformer = (folder_configs(Path(folder))[0].get("transformer") or [None, None])[-1]
    if transformer in NO_CPU_BFLOAT16_TRANSFORMERS:
        raise VidlongError(_cpu_bfloat16_forward_refusal(transformer))


def check_forward_here(transformers) -> None:
    """`check_cpu_bfloat16_forward` for loaded `transformers` (a pipeline's experts) about to run (from Python: a call of a
    pipeline `vidlong.from_pipe` wrapped, or one moved to bfloat16 after loading)."""
    import torch

    for transformer in transformers:
        name = type(transformer).__name__
        if name in NO_CPU_BFLOAT16_TRANSFORMERS and transformer.device.type == "cpu" and transformer.dtype == torch.bfloat16:
            raise VidlongError(_cpu_bfloat16_forward_refusal(name))


def _cpu_bfloat16_forward_refusal(transformer: str) -> str:
    return (f"{named('dtype')} bfloat16: this model's transformer ({transformer}) cannot run in bfloat16 on the CPU: "
            f"{NO_CPU_BFLOAT16_TRANSFORMERS[transformer]}; on the CPU use float32")


def check_vae_encodes_here(vae) -> None:
    """`check_cpu_bfloat16_encode` for a loaded `vae` about to encode (from Python: a call, a stream or an extension)."""
    import torch

    if type(vae).__name__ in NO_CPU_BFLOAT16_ENCODERS and vae.device.type == "cpu" and vae.dtype == torch.bfloat16:
        raise VidlongError(_cpu_bfloat16_encode_refusal(type(vae).__name__))


def _cpu_bfloat16_encode_refusal(vae: str) -> str:
    return (f"{named('dtype')} bfloat16: this model's VAE ({vae}) encodes with avg_pool3d, which torch runs in bfloat16 on "
            "CUDA only; on the CPU use float32")


def check_device(device):
    """`device` (None: cuda when available, else cpu) as a torch device that exists here, or one line."""
    import torch

    try:
        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except (RuntimeError, TypeError):
        raise VidlongError(f"{named('device')} {device!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise VidlongError(f"{named('device')} {device} is not one vidlong runs on; use cpu, cuda or cuda:N")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise VidlongError(f"{named('device')} {device} was asked for but this machine has no CUDA device; use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise VidlongError(f"{named('device')} {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                           f"use cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    return device


def check_seed(seed, name: Optional[str] = None) -> None:
    name = name or named("seed")
    if not is_whole(seed) or not 0 <= seed <= MAX_SEED:
        raise VidlongError(f"{name} must be a whole number from 0 to {MAX_SEED}, got {seed!r}")


def check_steps(steps, name: Optional[str] = None, family: Optional[str] = None) -> None:
    """`steps` a whole number from 1 (or the fewest the `family`'s sampler takes: `FamilyAdapter.fewest_steps`) to
    `MAX_STEPS`, or None (the model's)."""
    from .attention.adapters import adapter_named

    name = name or named("steps")
    fewest = 1 if family is None else adapter_named(family).fewest_steps
    if steps is not None and (not is_whole(steps) or not fewest <= steps <= MAX_STEPS):
        why = "" if fewest == 1 else f" (the fewest {family}'s sampler takes)"
        raise VidlongError(f"{name} must be a whole number from {fewest} to {MAX_STEPS}{why}, got {steps!r}")


def check_size(height: int, width: int, multiple: int, rope_positions: int | None = None, minimum: int | None = None) -> None:
    """Heights and widths are multiples of `multiple` (pixels per token), at least `minimum` pixels (None: one token; see
    `Geometry.min_pixels`), with at most `rope_positions` tokens."""
    minimum = minimum or multiple
    for name, value in (("height", height), ("width", width)):
        if not is_whole(value):
            raise VidlongError(f"{named(name)} must be a whole number of pixels, got {value!r}")
        if value < minimum:
            raise VidlongError(f"{named(name)} {value} must be at least {minimum} pixels (a multiple of {multiple}); "
                               f"use {named(name)} {minimum} or more")
        if value % multiple:
            lower = value // multiple * multiple
            raise VidlongError(f"{named(name)} {value} must be a multiple of {multiple}; use {named(name)} {lower} or {lower + multiple}")
        if rope_positions is not None and value // multiple > rope_positions:  # None: no RoPE table
            raise VidlongError(f"{named(name)} {value} is more than this model's {rope_positions * multiple} pixels "
                               f"({rope_positions} RoPE positions); use {named(name)} {rope_positions * multiple} or less")


def video_size(limits: ModelLimits, height=None, width=None, image=None, reference: bool = False) -> tuple:
    """The video's ``(height, width)`` in pixels: as given (either one alone: the spec's other side); else, with a first
    frame (`image`, a PIL image: an image-to-video request's, or a redrawn video's first), the image's aspect at the
    spec's pixel area, each side floored to the model's pixel multiple (at least `Geometry.min_pixels`), as diffusers' image-to-video
    examples size a video (so the image is not squeezed or cropped to the spec's aspect); a model of one size
    (`ModelLimits.fixed_size`) and a video with no image: the spec's. `reference`: the image is the first frame of a control
    video its call encodes as a reference at its LoRAs' downscale factor (LTX-2's IC-LoRA and HDR pipelines), whose sides
    are floored to that reference's multiple and least instead (`vidlong.reference_size.reference_sides`)."""
    from .reference_size import reference_sides

    spec = limits.spec
    if height is not None or width is not None or image is None or limits.fixed_size is not None:
        return (spec.height if height is None else height), (spec.width if width is None else width)
    geometry, aspect = limits.geometry, image.height / image.width
    multiple, least = reference_sides(limits) if reference else (geometry.pixel_multiple, geometry.min_pixels)
    area = spec.height * spec.width
    return tuple(max(least, int(math.sqrt(area * ratio)) // multiple * multiple) for ratio in (aspect, 1 / aspect))


def check_model_size(limits: ModelLimits, height=None, width=None) -> None:
    """A video's size in pixels (None: the model's) against `limits`: `check_size`, and the one size a learned
    position table allows (`ModelLimits.fixed_size`)."""
    height = limits.spec.height if height is None else height
    width = limits.spec.width if width is None else width
    check_size(height, width, limits.geometry.pixel_multiple, limits.rope_positions, limits.geometry.min_pixels)
    if limits.fixed_size is not None and (height, width) != tuple(limits.fixed_size):
        fixed_height, fixed_width = limits.fixed_size
        raise VidlongError(f"this model's learned position table (CogVideoX-5B-I2V's) takes {fixed_width}x{fixed_height} pixels "
                           f"alone; use {named('height')} {fixed_height} and {named('width')} {fixed_width}")


def check_diagonal(limits: ModelLimits, instead: Optional[str] = None, video: bool = False) -> None:
    """Diagonal denoising (``--method fifo``) needs a timestep per token from the model's family; `instead`: the method
    its refusal suggests (a stream's: chunked; by default both, freelong where the model's attention is linear, or none
    where vidlong's methods do not run on the model);
    `video`: generate's request gives a video, which it does not take (a video-to-video model's call redraws or continues
    it in one window)."""
    from .attention.adapters import adapter_named

    adapter = adapter_named(limits.family)
    instead = instead or ("none" if limits.no_methods_reason is not None else "freelong" if adapter.linear else "both")
    if not adapter.timestep_per_token:
        why = adapter.no_fifo_reason or f"needs a timestep per token, which {adapter.transformer_class} does not take"
        raise VidlongError(f"{named('method')} fifo (diagonal denoising) {why}; it runs on Wan, SkyReels-V2 and LTX-Video "
                           f"models. Use another method for this model (e.g. {named('method')} {instead})")
    if limits.own_windows:
        raise VidlongError(f"{named('method')} fifo (diagonal denoising) runs the model's own call on its native window, and "
                           "this pipeline's call makes windows of its own; use another method for this model (e.g. "
                           f"{named('method')} both: one window over the whole video)")
    if limits.geometry.patch[0] != 1:  # e.g. an LTX-Video config with patch_size_t 2
        raise VidlongError(f"{named('method')} fifo (diagonal denoising) gives each latent frame its own timestep, which a "
                           f"temporal patch of {limits.geometry.patch[0]} frames joins; use another method "
                           f"(e.g. {named('method')} {instead})")
    if video:
        done = "continued" if limits.continues else "edited" if limits.edits else "redrawn"
        raise VidlongError(f"method fifo makes the frames past the native window from noise; a {named('video')} is {done} in "
                           "one call: use another method (both, ultravico, freelong, ...)")


def check_diagonal_offload(offload: Optional[str]) -> None:
    """Diagonal denoising runs the transformers itself, outside the pipeline's offload hooks."""
    if offload is not None:
        raise VidlongError(f"{named('method')} fifo runs the transformer outside the pipeline's offload hooks; drop "
                           f"{named('offload')} {offload}, or use another {named('method')}")


def check_negative_prompt(limits: ModelLimits, negative_prompt, command: str) -> None:
    """One line where a negative prompt is given to a `command` ("generate" or "stream") whose video the pipeline of
    `limits` makes without one (`ModelLimits.negative_prompt_unread`), rather than leave it unread."""
    if negative_prompt and command in limits.negative_prompt_unread:
        where = "" if len(limits.negative_prompt_unread) > 1 else f" in its {command}s"
        why = ("its DFR pass is distilled to run unguided" if limits.pipeline in DFR_PIPELINES else
               "its guidance is embedded in its transformer; the classifier-free guidance that reads one is off")
        raise VidlongError(f"this model makes its video without a negative prompt{where} ({why}): drop "
                           f"{named('negative_prompt')}")


def check_stream_call(limits: ModelLimits, guidance, guidance_2, seed, negative_prompt, image, extension: bool) -> None:
    """What a stream takes besides its method's config, against `limits` (either streamer): sampling values,
    the low-noise expert's guidance, a negative prompt in text, and an image where the model needs one (an
    extension's image is its input's first frame)."""
    from .generate import check_task

    check_sampling(guidance, guidance_2, seed)
    check_second_expert(guidance_2, limits)
    if not isinstance(negative_prompt, str):
        raise VidlongError(f"{named('negative_prompt')} must be text, got {type(negative_prompt).__name__}")
    check_negative_prompt(limits, negative_prompt, "stream")
    if not extension:
        check_task(limits.task, image is not None, fewest_frames_extended(limits))
        check_image_codec(limits, image is not None)


def check_diagonal_stream(config, limits: ModelLimits, height=None, width=None, video: bool = False) -> None:
    """A stream or extension by diagonal denoising (`vidlong.fifo_stream`): a Wan or LTX-Video model, a sink
    that leaves the queue some of the native window (image-to-video: a sink, the image's frame, and switches
    that blend), sizes as for generate; `video`: a stream given a video (`check_not_redrawing`)."""
    check_not_redrawing(limits, video)
    check_no_stream_reason(limits)
    check_diagonal(limits, "chunked")
    check_no_stream_between_two_frames(limits)
    if limits.task == "i2v" and not config.sink:
        raise VidlongError("an image-to-video model streams by diagonal denoising with DiagonalDenoising sink=True: "
                           "the sink is the image's frame")
    if limits.task == "i2v" and config.cut_on_prompt_switch:
        raise VidlongError("a prompt switch cuts to a text-to-video native video; an image-to-video stream by diagonal "
                           "denoising blends its switches: drop --cut-on-switch (cut_on_prompt_switch=False)")
    config.window(limits.spec.native_frames)
    check_model_size(limits, height, width)


def longest_latent_frames(limits: ModelLimits) -> Optional[int]:
    """The most latent frames one forward of the transformer places in its RoPE table, or None where it has none."""
    return None if limits.rope_positions is None else limits.rope_positions * limits.geometry.patch[0]


#: the ``output_type`` values a diffusers video pipeline's call takes (its video processor's, and "latent")
OUTPUT_TYPES = ("np", "pil", "pt", "latent")


def check_call_inputs(arguments: dict) -> None:
    """The inputs of a pipeline call (its `arguments` by name) that diffusers takes as they come and fails on deep in its
    loop, or turns into a video of NaN: a ``generator`` that is no torch.Generator (nor a list of them), a
    ``num_videos_per_prompt`` below 1, start ``latents`` that are no tensor or hold NaN or infinities, and an ``output_type``
    its video processor refuses only once the last step is done."""
    import torch

    output_type = arguments.get("output_type", "np")
    if not isinstance(output_type, str) or output_type not in OUTPUT_TYPES:
        raise VidlongError(f"output_type must be 'np', 'pil', 'pt' or 'latent', got {output_type!r}")
    generator = arguments.get("generator")
    generators = generator if isinstance(generator, list) else [generator]
    if generator is not None and not all(isinstance(g, torch.Generator) for g in generators):
        raise VidlongError(f"generator must be a torch.Generator (torch.Generator().manual_seed(0)) or a list of them, "
                           f"got {type(generator).__name__}")
    count = arguments.get("num_videos_per_prompt")
    if count is not None and (not is_whole(count) or count < 1):
        raise VidlongError(f"num_videos_per_prompt must be a whole number >= 1, got {count!r}")
    for name in LATENTS_ARGUMENTS:
        latents = arguments.get(name)
        if latents is not None and not isinstance(latents, torch.Tensor):
            raise VidlongError(f"{name} must be a torch tensor (the pipeline's own latent layout), got {type(latents).__name__}")
        if latents is not None and latents.is_meta:
            raise VidlongError(f"{name} are on the meta device, which holds no values; pass {name} with values (or leave "
                               f"{name} out)")
        if latents is not None and not torch.isfinite(latents).all():
            raise VidlongError(f"{name} hold NaN or infinite values; start from finite {name} (or leave {name} out)")


#: a call's arguments that take a picture, which vidlong's calls take as an image file path too (as its streams take `image`)
IMAGE_ARGUMENTS = ("image", "last_image")


def load_call_images(arguments: dict, first: Optional[str], pipeline: str) -> None:
    """A call's `arguments` (by name) with the image file paths given for `IMAGE_ARGUMENTS` loaded (`load_image`: RGB PIL
    images). A text (or a list of texts: a batch of prompts) given as the call's first positional argument where `pipeline`'s
    call takes another input first (`first`: that parameter's name, e.g. ``image``, ``video``, ``conditions``; None where
    nothing was given by position) is refused in one line naming the prompt's keyword: diffusers would take it for a picture
    and fail deep in its call."""
    import os

    from .generate import load_image

    given = arguments.get(first) if first not in (None, "prompt") else None
    texts = given if isinstance(given, list) and given else [given]
    if all(isinstance(text, str) and not (first in IMAGE_ARGUMENTS and os.path.isfile(text)) for text in texts):
        raise VidlongError(f"prompt given by position: {pipeline}'s call takes {first} first, so the text {texts[0][:40]!r} "
                           f"went to {first}; pass the prompt by name, pipe(prompt=...)")
    for name in IMAGE_ARGUMENTS:
        if isinstance(arguments.get(name), (str, os.PathLike)):
            arguments[name] = load_image(arguments[name], name)


#: a call's arguments that take start latents (LTX-2's call takes its sound's too): each checked before any model work, its
#: shape against the pipeline's ``<name>_shapes`` (`check_call_latents`)
LATENTS_ARGUMENTS = ("latents", "audio_latents")
#: the call's arguments that set each one's shape, as a refusal names them (besides the prompts and the size)
LATENTS_LENGTH_ARGUMENTS = {"latents": ("num_frames", "frames", "segment_frame_length", "base_num_frames"),
                            "audio_latents": ("num_frames", "frame_rate")}


def check_call_latents(pipe, latents, arguments: dict, name: str = "latents") -> None:
    """One line unless a call's start latents `latents` given as its argument `name` (`LATENTS_ARGUMENTS`) have a shape its
    call takes (`pipe.latents_shapes`, `pipe.audio_latents_shapes`... for its `arguments`, by name, completed: its batch the
    prompts times ``num_videos_per_prompt``; None in a shape: any size there) and a floating-point dtype (for ``latents``
    its transformer's, where its call does not convert them: `converts_latents`; the others its calls convert), refused
    before any model work: diffusers would fail deep in its loop. A call whose prompts are not counted here (given as
    states of another name) takes the latents' own batch."""
    prompt, states = arguments.get("prompt"), arguments.get("prompt_embeds")
    prompts = 1 if isinstance(prompt, str) else len(prompt) if isinstance(prompt, list) else \
        states.shape[0] if hasattr(states, "shape") and len(states.shape) else None
    videos = arguments.get("num_videos_per_prompt") or 1
    batch = prompts * videos if prompts is not None else latents.shape[0] if latents.ndim else 1
    shapes = getattr(pipe, f"{name}_shapes")(arguments, batch)
    if shapes and not any(len(shape) == latents.ndim and all(size in (None, given) for size, given in zip(shape, latents.shape))
                          for shape in shapes):
        call = [f"{prompts} prompt{'s' * (prompts != 1)} x num_videos_per_prompt={videos}"] if prompts is not None else []
        call += [f"{length}={arguments[length]}" for length in LATENTS_LENGTH_ARGUMENTS[name] if arguments.get(length) is not None
                 and (length != "base_num_frames" or arguments[length] != arguments.get("num_frames"))]
        call += [f"{video} of {len(arguments[video])} frames" for video in ("video", "control_video")
                 if isinstance(arguments.get(video), list) and arguments[video] and not isinstance(arguments[video][0], list)]
        call += [f"{arguments['height']}x{arguments['width']}"] if "height" in arguments and "width" in arguments else []
        takes = " or ".join("[" + ", ".join("any" if size is None else str(size) for size in shape) + "]" for shape in shapes)
        raise VidlongError(f"{name} has shape {list(latents.shape)}; this call ({', '.join(call)}) takes {takes}: pass "
                           f"{name} of {'that shape' if len(shapes) == 1 else 'one of those shapes'}, set the call's arguments "
                           f"to match your {name}, or leave {name} out")
    dtype, converts = pipe.experts()[0].dtype, pipe.converts_latents or name != "latents"
    if not latents.is_floating_point() or (not converts and latents.dtype != dtype):
        takes = f"floating-point {name}" if converts else f"latents in its transformer's {dtype} as they are"
        raise VidlongError(f"{name} are {latents.dtype}; this {type(pipe).__name__}'s call takes {takes}: pass "
                           f"{name}.to({dtype})")


def check_latent_length(latent: int, limits: ModelLimits) -> None:
    """A video of `latent` latent frames fits the transformer's RoPE table (where it has one); the refusal points to
    vidlong stream where the pipeline streams (`streams`; one that edits a given video: vidlong stream --video)."""
    most = longest_latent_frames(limits)
    if most is not None and latent > most:
        native = limits.spec.native_frames
        stream = " or stream it (vidlong stream has no length limit)" if streams(limits) else ""
        stream = " or edit it chunk by chunk (vidlong stream --video has no length limit)" if limits.edits else stream
        raise VidlongError(f"{latent} latent frames is more than this model's RoPE table places ({most}, "
                           f"{most / native:.0f}x its native {native}); ask for a shorter video{stream}")


def check_new_outputs(out: Path, latents: Optional[Path] = None, overwrite: bool = False) -> None:
    """Nothing that a run writes (the video `out`, its ``.json`` settings beside it, the `latents` file of
    ``--save-latents``) exists already, unless `overwrite`: files are never replaced silently."""
    if overwrite:
        return
    sidecar = out.with_suffix(".json")
    for path, what in ((out, f"--out {out} exists"), (sidecar, f"{sidecar} exists (--out {out} would replace it too)"),
                       (latents, f"--save-latents {latents} exists")):
        if path is not None and Path(path).exists():
            flag = "--save-latents" if path is latents else "--out"
            raise VidlongError(f"{what}; pass --overwrite to replace it, or choose another {flag}")


def shown_first_chunk(limits: ModelLimits) -> int:
    """The fewest latent frames of a stream's first chunk that leave a frame to show after its call's
    `ModelLimits.dropped_frames` (1 where it drops none)."""
    return fewest_shown_latent_frames(limits.spec.temporal_ratio, limits.dropped_frames)


def odd_latents(limits: ModelLimits) -> bool:
    """Whether exact frame counts take an odd number of latent frames (8k+1 frames): CogVideoX, whose VAE decodes an even
    count F to 4·F frames, not 4·F - 3 (CogVideoX1.5 too: its call pads an odd count to its temporal patch and drops the
    padding after decoding, but decodes an even count as it is: 13 frames come back as 16)."""
    from .video_to_video import ODD_LATENT_FAMILIES

    return limits.family in ODD_LATENT_FAMILIES


def frame_counts(limits: ModelLimits) -> tuple:
    """The pixel-frame counts its call makes, by its family (`FamilyAdapter.frame_counts`: Allegro's 4k, 4k+1 and 4k+2;
    the others' ``ratio·k + 1``, their VAE's ratio: 4k+1, 6k+1 for Mochi, 8k+1 for LTX-Video and LTX-2)."""
    from .attention.adapters import adapter_named

    return adapter_named(limits.family).frame_counts


def check_keeps_latents(limits: ModelLimits, flag: str, fix: Optional[str] = None) -> None:
    """One line where a model's saved latents are not what its extensions continue: its videos do not start at its latents'
    first frame (`ModelLimits.dropped_frames`), so that they would not line up with their video, or its family says why not
    (`FamilyAdapter.no_latents_reason`: LTX-2's sound), or its pipeline (`ModelLimits.no_latents_reason`: Cosmos 1.0's);
    `flag`: the argument that asks for them, `fix`: what to do instead (None: extend the video file)."""
    from .attention.adapters import adapter_named

    fix = fix or "extend the video file instead (vidlong extend --video)"
    if limits.dropped_frames:
        raise VidlongError(f"{flag}: this model's call drops the first {limits.dropped_frames} frames of a video "
                           f"(HunyuanVideo-I2V's 33-channel release), so its latents do not line up with its videos; {fix}")
    reason = limits.no_latents_reason or adapter_named(limits.family).no_latents_reason
    if reason is not None:
        raise VidlongError(f"{flag}: {reason}; {fix}")


def check_stream(streaming, limits: ModelLimits, height=None, width=None, extension: bool = False,
                 video: bool = False) -> None:
    """A `Streaming` config (and a stream's size) against `limits`: chunks, sinks and window each within
    the native window, and no window that takes a chunk's view (sinks + window + chunk) past it; a new stream's (not an
    `extension`'s) first chunk that leaves a frame to show; steps within `MAX_STEPS`, sizes as for generate. A
    `DiagonalDenoising` config: `check_diagonal_stream` (`video`: a stream given a video to redraw or edit). A family's own
    streams refuse what does not fit them (`FamilyAdapter.stream_refusal`: AnyFlow FAR's)."""
    from .attention.adapters import adapter_named
    from .methods import DiagonalDenoising

    if isinstance(streaming, DiagonalDenoising):
        check_diagonal_stream(streaming, limits, height, width, video)
        return
    check_no_stream_between_two_frames(limits)
    check_streams(limits.family, streaming.context, limits.pipeline)
    adapter = adapter_named(limits.family)
    refusal = adapter.stream_refusal(streaming)
    if refusal is not None:
        raise VidlongError(refusal)
    if limits.geometry.patch[0] > 1 and limits.family != "cogvideox":  # CogVideoX's calls pad to the patch; streams follow
        raise VidlongError(f"streaming a {limits.family} transformer whose temporal patch spans {limits.geometry.patch[0]} latent "
                           "frames is not implemented (CogVideoX1.5's is); use vidlong generate for this model")
    native = limits.spec.native_frames
    for name in ("chunk", "first_chunk"):  # sinks and window: below, against what the chunk leaves them
        value = getattr(streaming, name)
        if value is not None and value > native:
            raise VidlongError(f"{named(name)} {value} exceeds the model's native window of {native} "
                               f"latent frames; use at most {native}")
    if not extension and streaming.first_chunk is not None and streaming.first_chunk < shown_first_chunk(limits):
        made = pixel_frames(streaming.first_chunk, limits.spec.temporal_ratio)
        raise VidlongError(f"{named('first_chunk')} {streaming.first_chunk} makes {made} frame(s), and this model's call drops "
                           f"the first {limits.dropped_frames} of a video (HunyuanVideo-I2V's 33-channel release); use "
                           f"{named('first_chunk')} {shown_first_chunk(limits)} or more")
    schedule = StreamSchedule.resolve(native, streaming.chunk, streaming.sinks, streaming.window)
    # a chunk's view past native reaches positions the model was not trained on; the one exception is a chunk of the
    # whole native window with its default one chunk of sinks and no window (given back as a sidecar records them, too)
    whole = schedule.chunk == native and schedule.sinks == native and schedule.window == 0
    if streaming.sinks is not None and not whole and schedule.sinks + schedule.chunk > native:
        raise VidlongError(f"{named('sinks')} {schedule.sinks} + {named('chunk')} {schedule.chunk} = "
                           f"{schedule.sinks + schedule.chunk} latent frames exceed the model's native window of "
                           f"{native}; " + (f"use {named('sinks')} {native - schedule.chunk} or less" if native > schedule.chunk
                                             else f"drop {named('sinks')} (a chunk of the whole window takes no window), "
                                                  f"or use a smaller {named('chunk')}"))
    if schedule.sinks + schedule.chunk > native and schedule.window > 0:
        raise VidlongError(f"{named('chunk')} {schedule.chunk} and its default {schedule.sinks} sink frames already fill "
                           f"the model's native window of {native}; use {named('window')} 0, or give {named('sinks')}")
    if schedule.sinks + schedule.chunk <= native < schedule.context_frames:
        sinks = f"{named('sinks')} {schedule.sinks}" if streaming.sinks is not None else \
            f"the default {schedule.sinks} sink frame" + "s" * (schedule.sinks != 1)
        raise VidlongError(f"{sinks} + {named('window')} {schedule.window} + {named('chunk')} "
                           f"{schedule.chunk} = {schedule.context_frames} latent frames exceed the model's native window "
                           f"of {native}; use {named('window')} {native - schedule.sinks - schedule.chunk}"
                           + (" or less" if native > schedule.sinks + schedule.chunk else ""))
    check_steps(streaming.steps, family=limits.family)
    check_model_size(limits, height, width)


def check_last_image(limits: ModelLimits, given: bool, diagonal: bool) -> None:
    """A last frame (`given` or not) where the pipeline takes one (`ModelLimits.last_frame`), with a method that makes
    the video in one call (diagonal denoising makes it frame by frame past the native window); FramePack's call takes it
    in its inverted order alone (its default)."""
    if limits.last_frame == "required" and not given:
        raise VidlongError(f"this first-last-frame model (Wan2.1 FLF2V) takes the last frame too: pass it with "
                           f"{named('last_image')} last.png")
    if not given:
        return
    if limits.last_frame == "no":
        raise VidlongError(f"{named('last_image')} needs a model that takes a last frame (Wan2.1 FLF2V, Wan2.2 I2V "
                           "A14B, FramePack, LTX-2's LTX2ConditionPipeline, LTX-2.5); this model takes no last frame: drop it")
    if limits.family == "framepack" and limits.spec.sampling_type == "vanilla":
        raise VidlongError(f"{named('last_image')}: FramePack's call takes a last frame in its inverted order alone "
                           "(inverted_anti_drifting, its default), and this folder's vidlong.yaml sets sampling_type: vanilla: "
                           "drop the last frame or that line")
    if diagonal:
        raise VidlongError(f"{named('last_image')} conditions the last frame of one whole-video call; method fifo makes the "
                           "video frame by frame: use another method, or drop the last frame")


def check_image_codec(limits: ModelLimits, image: bool, field: str = "image") -> None:
    """An image given to LTX-2 (the one `field` names), which re-compresses it with H.264 as it was trained (diffusers does
    it through PyAV): one line where PyAV is not installed."""
    if image and limits.family == "ltx-2" and importlib.util.find_spec("av") is None:
        raise VidlongError(f"LTX-2 re-compresses the {named(field)} with H.264 as it was trained, through PyAV, which "
                           "is not installed: pip install av (or vidlong[ltx2])")


def check_generate(request, limits: ModelLimits) -> int:
    """Every field of a `GenerateRequest` against `limits`; returns the video's latent frames."""
    from .animate import check_animate_request
    from .control_video import check_control_given, check_control_request, check_reference_images
    from .families.ltx2_decoder import check_decoder
    from .families.ltx2_temporal import check_temporal_refine
    from .generate import check_task, has_image, resolve_latent_frames
    from .hdr_request import check_hdr_request
    from .identity import check_identity_given, load_identity
    from .attention.adapters import adapter_named
    from .camera import check_camera
    from .methods import DiagonalDenoising, methods_for
    from .reference_size import check_reference_size
    from .video_to_video import check_redraws, check_video_request, video_fps

    if not isinstance(request.prompt, str):
        raise VidlongError(f"{named('prompt')} must be text, got {type(request.prompt).__name__}; describe the video, e.g. "
                           "\"a red circle and a blue square\"")
    if not request.prompt.strip() and request.connector_embeds is None:  # LTX-2 HDR's embeddings: its text in the prompt's place
        raise VidlongError("the prompt is empty; describe the video, e.g. \"a red circle and a blue square\"")
    if request.negative_prompt is not None and not isinstance(request.negative_prompt, str):
        raise VidlongError(f"{named('negative_prompt')} must be text, got {request.negative_prompt!r:.80}")
    check_negative_prompt(limits, request.negative_prompt, "generate")
    if request.video is not None and not limits.continues:  # before the task's own input: an image-to-video model's names it
        check_redraws(limits)
    check_task(limits.task, has_image(request.image), fewest_frames_extended(limits))
    check_image_codec(limits, has_image(request.image))
    methods = methods_for(request.method, request.preset)
    check_animate_request(request, limits)
    check_methods_run(request.method, methods, limits)
    diagonal = any(isinstance(m, DiagonalDenoising) for m in methods)
    check_last_image(limits, has_image(request.last_image), diagonal)
    check_image_codec(limits, has_image(request.last_image), "last_image")
    if diagonal:
        check_diagonal(limits, video=request.video is not None)
    if request.noise not in (None, *NOISE_KINDS):
        raise VidlongError(f"{named('noise')} must be one of {', '.join(NOISE_KINDS)}, got {request.noise!r}")
    check_sampling(request.guidance, request.guidance_2, request.seed)
    check_second_expert(request.guidance_2, limits)
    check_steps(request.steps, family=limits.family)
    spec = limits.spec
    check_model_size(limits, request.height, request.width)
    if request.control_video is not None and (request.height is not None or request.width is not None):  # the other the spec's
        check_reference_size(limits, *video_size(limits, request.height, request.width))
    latent = check_video_request(request, limits)
    controlled = check_control_request(request, limits)  # a control model's control video sets the length
    check_reference_images(request, limits)
    check_hdr_request(request, limits)
    latent = latent if controlled is None else controlled
    most = None if diagonal else longest_latent_frames(limits)  # diagonal denoising only ever runs the native window
    if latent is None and adapter_named(limits.family).whole_chunks:
        latent = whole_chunk_latent_frames(request, spec, adapter_named(limits.family))
    if latent is None and most is not None and is_whole(request.frames) and request.frames >= 1:
        check_latent_length((int(request.frames) - 1) // spec.temporal_ratio + 1, limits)  # before a 4k+1 hint past it
    try:
        if latent is None:
            latent = resolve_latent_frames(request, spec.native_frames, spec.temporal_ratio, most, odd_latents(limits),
                                           frame_counts(limits))
    except OverflowError:  # a finite ratio whose frame count is no finite number (1e308 x native)
        raise VidlongError(f"{named('ratio')} {request.ratio!r} asks for more latent frames than this model's RoPE table places; "
                           "ask for a shorter video or stream it (vidlong stream has no length limit)") from None
    if not diagonal:  # diagonal denoising only ever runs the native window
        check_latent_length(latent, limits)
    check_edit_length(latent, limits)
    timeline = parse_prompt_timeline(request.prompt)
    if len(timeline) > 1:
        check_prompt_timeline(limits)
        fps = spec.fps if request.video is None else video_fps(request.video, spec.fps)  # a redrawn video's own seconds
        timeline_latent_starts(timeline, fps, spec.temporal_ratio, latent)
    if limits.own_windows:  # a prompt a window, by its call's '|'
        from .families.ltx_long import check_window_request, check_window_steps

        check_window_request(request.prompt, latent, bool(methods))
        check_window_steps(request.steps or spec.num_inference_steps, named("steps"))
    check_control_given(request, limits)
    check_identity_given(request.identity, limits.identity)
    if request.identity is not None:
        load_identity(request.identity, limits.identity)
    check_camera(request.camera, limits.pipeline, call_pixel_count(latent, limits), limits.spec.temporal_ratio)
    if limits.pipeline in DFR_PIPELINES:  # its one DFR pass: its own steps, no guidance, its own noise
        from .families.ltx2_dfr import check_dfr_request

        check_dfr_request(request)
    check_temporal_refine(request, limits)  # before the decoder's own check: its line names the pair
    check_decoder(request, limits)  # before upsample's and refine's own checks: its line names the pair
    known_size = not has_image(request.image) or request.height is not None or request.width is not None
    check_upsample(request.upsample, limits, request.upsample_scale,
                   video_size(limits, request.height, request.width) if known_size else None)
    check_refine(request, limits, latent)
    return latent


def check_edit_length(latent: int, limits: ModelLimits) -> None:
    """One line where an image editor's video (`vidlong.models.IMAGE_EDITING_PIPELINES`: ChronoEdit's, the edit its last
    frame, after the input image's) of `latent` latent frames has 1: that frame is the input image's alone, no edit in it."""
    if limits.pipeline in IMAGE_EDITING_PIPELINES and latent < 2:
        raise VidlongError(f"a video of 1 latent frame (1 pixel frame) is the input image alone: this model's edit is its "
                           f"video's last frame, after the image's; ask for {named('frames')} "
                           f"{limits.spec.temporal_ratio + 1} or more (2 latent frames)")


def whole_chunk_pixel_frames(chunks: int, chunk: int, temporal_ratio: int) -> int:
    """Pixel frames a call that decodes each of its `chunks` chunks of `chunk` latent frames on its own returns (Helios):
    ``temporal_ratio·(chunk - 1) + 1`` a chunk, the whole cut to ``temporal_ratio·k + 1``."""
    made = chunks * (temporal_ratio * (chunk - 1) + 1)
    return (made - 1) // temporal_ratio * temporal_ratio + 1


def call_pixel_count(latent: int, limits: ModelLimits) -> int:
    """Pixel frames the call of the pipeline of `limits` returns of `latent` latent frames: where its lengths are whole chunks
    (`FamilyAdapter.whole_chunks`), those of the count of chunks that makes them (`FamilyAdapter.whole_chunk_lengths`:
    Helios's cut to 4k+1, not ``temporal·(latent - 1) + 1``); else ``temporal·(latent - 1) + 1`` less the frames its call
    drops (`ModelLimits.dropped_frames`)."""
    from .attention.adapters import adapter_named

    adapter, spec = adapter_named(limits.family), limits.spec
    if adapter.whole_chunks:
        chunks = 1
        while adapter.whole_chunk_lengths(chunks, spec.native_frames, spec.temporal_ratio)[0] < latent:
            chunks += 1
        made, frames = adapter.whole_chunk_lengths(chunks, spec.native_frames, spec.temporal_ratio)
        if made == latent:
            return frames
    return pixel_frames(latent, spec.temporal_ratio) - limits.dropped_frames


def whole_chunk_latent_frames(request, spec, adapter) -> int:
    """Latent frames of a request to a model whose call makes whole chunks of its native window (`FamilyAdapter.whole_chunks`;
    `adapter`: its family's, whose `FamilyAdapter.whole_chunk_lengths` says what a count of chunks makes): ``--frames`` must
    be a length its call returns, another refused naming the nearest two; ``--ratio`` the nearest whole count of chunks, at
    least one."""
    from .generate import check_ratio

    chunk, ratio = spec.native_frames, spec.temporal_ratio

    def made(chunks: int) -> tuple[int, int]:
        return adapter.whole_chunk_lengths(chunks, chunk, ratio)

    if request.frames is None:
        check_ratio(request.ratio)
        return made(max(1, round(request.ratio)))[0]
    if not is_whole(request.frames) or request.frames < 1:
        raise VidlongError(f"{named('frames')} must be a whole number of pixel frames >= 1, got {request.frames!r}")
    first, step = made(1)[1], made(2)[1] - made(1)[1]
    chunks = max(1, (int(request.frames) - first) // step)  # a few below the count that holds them
    while made(chunks)[1] < request.frames:
        chunks += 1
    if made(chunks)[1] != request.frames:
        lower = [made(n)[1] for n in (chunks - 1, chunks) if n >= 1]
        near = f"{named('frames')} {lower[0]} or {lower[-1]}" if len(lower) == 2 else f"{named('frames')} {lower[-1]}"
        raise VidlongError(f"{request.frames} frames are not a length this model's call makes (whole chunks of "
                           f"{first} frames for the first, {step} after); use {near}")
    return made(chunks)[0]


def check_methods_run(name: str, methods: list, limits: ModelLimits) -> None:
    """One line unless the methods of method `name` (`vidlong.methods.methods_for`'s) run on the model of `limits`: none
    where vidlong's methods do not act on it (`ModelLimits.no_methods_reason`; diagonal denoising is a sampler), what its
    family implements of RIFLEx and moved RoPE, diagonal denoising where its family takes a timestep per token."""
    from .attention.adapters import adapter_named
    from .methods import DiagonalDenoising, check_family_methods

    if limits.no_methods_reason is not None and any(not isinstance(m, DiagonalDenoising) for m in methods):
        raise VidlongError(f"{named('method')} {name}: vidlong's methods do not run on this model: {limits.no_methods_reason}")
    check_family_methods(methods, adapter_named(limits.family))
    if any(isinstance(m, DiagonalDenoising) for m in methods):
        check_diagonal(limits)


#: the models whose text cross-attention follows a prompt timeline (`FamilyAdapter.prompt_timeline`), as refusals name them
TIMELINE_MODELS = "Wan (not VACE or Animate), SkyReels-V2, LTX-Video or LTX-2 text-to-video"


def check_prompt_timeline(limits: ModelLimits) -> None:
    """One line unless the pipeline of `limits` follows a prompt timeline in `generate` (its family splits its text
    cross-attention by frames, `FamilyAdapter.prompt_timeline`, and it makes the video from text alone; not LTX-Video's
    long multi-prompt pipeline, whose call takes a prompt a window, nor LTX-2.5's `LTX2DFRPipeline`)."""
    from .attention.adapters import adapter_named

    if limits.own_windows:  # its call's own prompts: one a window, by '|'
        from .families.ltx_long import schedule_refusal

        raise schedule_refusal()
    if limits.pipeline in DFR_PIPELINES:
        raise VidlongError("a prompt timeline (\"0s: ...; 4s: ...\") is not wired for LTX-2.5's DFR pass (its keyframe slots "
                           "after the canvas are in no segment); give one prompt")
    if not adapter_named(limits.family).prompt_timeline:
        raise VidlongError(f"a prompt timeline (\"0s: ...; 4s: ...\") needs a {TIMELINE_MODELS} model; give one prompt")
    if limits.continues:
        raise VidlongError("a prompt timeline (\"0s: ...; 4s: ...\") is not wired for a continued video, whose window "
                           "starts with the video's last frames; give one prompt")
    if limits.task == "i2v":
        raise VidlongError(f"a prompt timeline (\"0s: ...; 4s: ...\") makes a video from text alone; give one prompt, "
                           f"or drop {named('image')} (a text-to-video model)")


#: `load_pipeline`'s ``offload`` choices: diffusers' model CPU offload (whole components to the GPU in
#: turn; needs accelerate) and group offloading (the transformer's blocks to the GPU one at a time)
OFFLOADS = ("model", "group")


def check_offload(offload: Optional[str], device: torch.device) -> None:
    """A one-line refusal of an offload that cannot run here."""
    import importlib.util

    if offload is None:
        return
    if offload not in OFFLOADS:
        raise VidlongError(f"{named('offload')} must be one of {', '.join(OFFLOADS)}, got {offload!r}")
    if device.type != "cuda":
        raise VidlongError(f"{named('offload')} {offload} moves weights between the CPU and a GPU; it needs {named('device')} cuda")
    if offload == "model" and importlib.util.find_spec("accelerate") is None:
        raise VidlongError(f"{named('offload')} model uses accelerate, which is not installed; pip install accelerate, or use group")


def check_compile(backend: Optional[str], folder: Path, offload: Optional[str] = None) -> None:
    """A one-line refusal, from the folder's configs, of a `compile` that cannot run: a backend torch does
    not have, a transformer without repeated blocks for diffusers' regional compilation (CogVideoX), or
    offloading (its hooks move the blocks' weights; not combined here)."""
    if backend is None:
        return
    import diffusers
    import torch._dynamo

    if backend not in torch._dynamo.list_backends(exclude_tags=()):
        raise VidlongError(f"{named('compile')} {backend}: not a torch.compile backend; use inductor (the default) or eager")
    if offload is not None:
        raise VidlongError(f"{named('compile')} with {named('offload')} {offload}: not supported together; drop one of them")
    for part in ("transformer", "transformer_2"):
        config = pipeline_folder(folder) / part / "config.json"
        if config.is_file():
            name = json.loads(config.read_text()).get("_class_name", "")
            if not getattr(getattr(diffusers, name, None), "_repeated_blocks", None):
                raise VidlongError(f"{named('compile')}: {name} has no repeated blocks for diffusers' regional compilation; "
                                   f"run without it")


def resolve_context(streaming: Streaming, limits: ModelLimits) -> str:
    """The stream context in force on the pipeline of `limits`: the config's, else the model's (`limits.spec`), else its
    pipeline's own default where its family names one (`FamilyAdapter.pipeline_stream_contexts`: "clean" for
    Cosmos-Predict2.5 and Cosmos 3, from text or an image), else "renoise" for image-to-video pipelines (the only one the
    others stream with), else its family's default ("cache" for Wan, "renoise" for the families with no KV cache)."""
    from .attention.adapters import adapter_named

    own = limits.pipeline in adapter_named(limits.family).pipeline_stream_contexts
    return (streaming.context or limits.spec.stream_context
            or ("renoise" if limits.task == "i2v" and not own else default_stream_context(limits.family, limits.pipeline)))


def uses_causal_sampler(streaming: Streaming, spec, windowed: bool) -> bool:
    """Whether a stream samples with the causal sampler (the config's choice, else the model's), or a
    one-line error for settings that do not go together (`windowed`: a context its chunks' windows hold again,
    `vidlong.methods.WINDOW_CONTEXTS`)."""
    causal = (streaming.sampler or spec.stream_sampler or "scheduler") == "causal"
    if causal and windowed:
        raise VidlongError("the causal sampler streams with the K/V cache (--context cache, on models that have one): a "
                           "re-noised or clean context in each window is no block-causal model's, whose weights need their "
                           "cache; drop --sampler causal")
    if streaming.timesteps is not None and not causal:
        raise VidlongError(f"{named('timesteps')} are the causal sampler's; add {named('sampler')} causal, or give "
                           f"{named('steps')} instead")
    return causal


#: why a video-editing pipeline (`ModelLimits.edits`: Lucy Edit) streams only when given the video it edits
EDIT_STREAM_REFUSAL = ("Lucy Edit conditions every forward on the input video's latents of the same frames: its stream edits a "
                       "given video chunk by chunk; pass the video (vidlong stream --video in.mp4, pipe.stream(prompt, "
                       "video=...))")
#: why a video-editing pipeline does not extend
EDIT_EXTEND_REFUSAL = ("Lucy Edit edits the frames of a given video, each forward conditioned on the input's latents of the same "
                       "frames, and an extension's new frames have no input frames: it does not extend; edit a video of any "
                       "length chunk by chunk with vidlong stream --video in.mp4")


def check_not_redrawing(limits: ModelLimits, video: bool = False, extension: bool = False) -> None:
    """A video-to-video pipeline redraws one given video in one call: no stream or extension (its text-to-video twin has them);
    one that edits it (`ModelLimits.edits`) streams an edit of a given `video` (`vidlong.edit_stream`), nothing else
    (`EDIT_STREAM_REFUSAL`), and no `extension` (`EDIT_EXTEND_REFUSAL`); one that continues it streams and extends as its
    weights' text-to-video pipeline (`ModelLimits.continues`)."""
    if limits.edits:
        if extension or not video:
            raise VidlongError(EDIT_EXTEND_REFUSAL if extension else EDIT_STREAM_REFUSAL)
        return
    if limits.task == "v2v" and not limits.continues:
        raise VidlongError("a video-to-video pipeline redraws a given video in one call and does not stream or extend; "
                           "stream with the model's text-to-video folder (load_pipeline without task='v2v')")


def check_no_stream_reason(limits: ModelLimits) -> None:
    """One line where the pipeline of `limits` does not stream though its family does (`ModelLimits.no_stream_reason`)."""
    if limits.no_stream_reason is not None:
        raise VidlongError(f"{limits.no_stream_reason}; use vidlong generate")


def check_plain_guider(class_name: str, settings: dict, fix: str) -> None:
    """One line where a guider (its class's `class_name` and `settings`: its config's ``guidance_rescale``,
    ``use_original_formulation``, ``start``, ``stop``, ``enabled``) is not plain classifier-free guidance, which streams and
    extensions follow (they combine their two predictions as ``uncond + g·(cond - uncond)`` at every step); `fix`: what
    to do instead."""
    plain = (class_name == "ClassifierFreeGuidance" and settings.get("enabled", True)
             and not settings.get("use_original_formulation", False) and settings.get("guidance_rescale", 0.0) == 0
             and (settings.get("start", 0.0), settings.get("stop", 1.0)) == (0.0, 1.0))
    if not plain:
        shown = ", ".join(f"{name}={settings.get(name)!r}" for name in
                          ("guidance_rescale", "use_original_formulation", "start", "stop", "enabled"))
        raise VidlongError(f"this model's guider ({class_name}: {shown}) is not plain classifier-free guidance, which its "
                           f"streams and extensions follow; {fix}")


def check_folder_guider(folder) -> None:
    """`check_plain_guider` of the guider a pipeline folder is saved with (none: nothing to check), before it loads."""
    from .models import folder_guider

    config = folder_guider(folder)
    if config is not None:
        check_plain_guider(str(config.get("_class_name")), config, "use vidlong generate, or save the folder's guider as "
                           "plain ClassifierFreeGuidance (guider/guider_config.json)")


def check_streamable(limits: ModelLimits, context: str, sinks: Optional[int] = None, video: bool = False,
                     extension: bool = False) -> None:
    """The pipeline of `limits` streams with `context` (`check_streams`, `ModelLimits.no_stream_reason`); image-to-video
    pipelines stream only with a context each window holds (re-noised; clean where the pipeline takes it: Cosmos-Predict2.5
    Image2World's, Cosmos 3's) and at least one sink frame: every window must start at the video's first frame, where their image
    condition sits (`vidlong.image_condition`; the clean context's first frame); a spec its family's streams cannot
    follow is refused (`FamilyAdapter.spec_stream_refusal`: FramePack's inverted order); video-to-video ones do not stream,
    but for an edit of a given `video` (not an `extension`: `check_not_redrawing`)."""
    from .attention.adapters import adapter_named

    task = limits.task
    check_not_redrawing(limits, video, extension)
    check_no_stream_reason(limits)
    check_streams(limits.family, context, limits.pipeline)
    refusal = adapter_named(limits.family).spec_stream_refusal(limits.spec)  # what its spec cannot stream: FramePack's order
    if refusal is not None:
        raise VidlongError(refusal)
    if task != "i2v":
        return
    if context == "cache":  # "clean" where `check_streams` lets the pipeline take it
        raise VidlongError("an image-to-video model streams and extends only with --context renoise (the image "
                           "conditions the first frame of every window, which a cache of past K/V cannot carry)")
    if sinks == 0:
        raise VidlongError("an image-to-video model needs --sinks >= 1: the image sits on the first sink frame")


#: the latent upsampler of each family that has one: (the model's name, its diffusers model class, the diffusers latent
#: upsample pipeline that runs it), the model class that LTX-Video's (0.9.x) and LTX-2's releases save in their
#: ``latent_upsampler`` subfolder (`check_upsample`), the classes `vidlong.upsample.upsample_classes` imports
LATENT_UPSAMPLERS = {"ltx-video": ("LTX-Video", "LTXLatentUpsamplerModel", "LTXLatentUpsamplePipeline"),
                     "ltx-2": ("LTX-2", "LTX2LatentUpsamplerModel", "LTX2LatentUpsamplePipeline")}
#: the subfolder of a model folder (or of a diffusers latent upsample pipeline's folder) that holds its latent upsampler
UPSAMPLER_SUBFOLDER = "latent_upsampler"
#: the family whose ``upsample`` is a video super-resolution pipeline of its own run on the decoded frames (Kandinsky 6's,
#: `vidlong.families.kandinsky6_sr`), not a latent upsampler
SUPER_RESOLUTION_FAMILY = "kandinsky6"
#: LTX-2.5's pipelines (`vidlong.families.ltx2_dfr`): its folder's and the image-to-video twin it loads as given an image
DFR_PIPELINES = ("LTX2DFRPipeline", "LTX2DFRImageToVideoPipeline")
#: why LTX-2.5's folders (`LTX2DFRPipeline`) take neither ``upsample`` nor ``refine`` (`upsampler_folder`, `check_refine`)
DFR_RECIPE = ("LTX-2.5's 1080p recipe is not LTX-2's upsample then refine: after its latent upsampler it runs its DFR pass "
              "again at full size on the upsampled keyframe slots, with the half-size video as an IC-LoRA reference, which "
              "vidlong does not run (its temporal rounds it does: temporal_refine)")


def own_upsampler(folder: Path, subfolder: str = UPSAMPLER_SUBFOLDER) -> Optional[Path]:
    """A model folder's own latent upsampler folder (its `subfolder`, ``latent_upsampler`` or LTX-2.5's
    ``temporal_latent_upsampler``, with a config.json; a LoRA link's base's), else None."""
    for place in dict.fromkeys([Path(folder), pipeline_folder(Path(folder))]):
        if (place / subfolder / "config.json").is_file():
            return place / subfolder
    return None


def upsampler_folder(upsample, limits: ModelLimits) -> Optional[Path]:
    """The folder of the latent upsampler that `upsample` names, its config not read (`check_upsample` checks it); None for
    no upsampling (None, False). True: the model folder's own ``latent_upsampler`` subfolder (`own_upsampler`); a path: that
    folder, or its ``latent_upsampler`` subfolder (a diffusers latent upsample pipeline's folder). One line for a family
    without a latent upsampler (`LATENT_UPSAMPLERS`), LTX-2.5 (`DFR_RECIPE`), LTX-2 HDR (`vidlong.hdr_request.HDR_DECODE`), a
    model folder without one where True asks for it, a path that is no folder, and another value. Kandinsky 6's: the folder
    of its video super-resolution, its configs read (`vidlong.families.kandinsky6_sr.check_sr`)."""
    if upsample is None or upsample is False:
        return None
    if limits.family == SUPER_RESOLUTION_FAMILY:  # its video super-resolution, a pipeline folder of its own
        from .families.kandinsky6_sr import check_sr

        return check_sr(upsample, limits)
    if limits.family not in LATENT_UPSAMPLERS:
        raise VidlongError(f"{named('upsample')} upsamples LTX-Video's and LTX-2's latents by their latent upsampler; this "
                           f"model ({limits.pipeline or limits.family}) has none: drop {named('upsample')}")
    if limits.pipeline in DFR_PIPELINES:
        raise VidlongError(f"{named('upsample')}: {DFR_RECIPE}; drop {named('upsample')}")
    if limits.control == "hdr":
        from .hdr_request import HDR_DECODE

        raise VidlongError(f"{named('upsample')}: {HDR_DECODE}; drop {named('upsample')}")
    model = LATENT_UPSAMPLERS[limits.family][0]
    if upsample is True:
        folder = None if limits.folder is None else own_upsampler(limits.folder)
        if folder is None:
            where = "this pipeline was loaded from no folder and" if limits.folder is None else f"{limits.folder}"
            raise VidlongError(f"{named('upsample')}: {where} has no {UPSAMPLER_SUBFOLDER}/ folder; pass the folder of "
                               f"{model}'s latent upsampler ({named('upsample')} path/to/upsampler)")
        return folder
    if isinstance(upsample, (str, Path)) and str(upsample):
        folder = Path(upsample)
        if not folder.is_dir():
            raise VidlongError(f"{named('upsample')}: no folder at {folder}; pass the folder of {model}'s latent upsampler")
        if not (folder / "config.json").is_file() and (folder / UPSAMPLER_SUBFOLDER / "config.json").is_file():
            return folder / UPSAMPLER_SUBFOLDER
        return folder
    raise VidlongError(f"{named('upsample')} is True (the model folder's own {UPSAMPLER_SUBFOLDER}/) or the path of a "
                       f"latent upsampler's folder, got {upsample!r:.80}")


def check_upsample(upsample, limits: ModelLimits, scale=None, size: Optional[tuple] = None) -> Optional[Path]:
    """The folder of the latent upsampler (its config.json and weights) that `upsample` names (`upsampler_folder`), checked
    from its config before any model loads; None for no upsampling (None, False). One line for what `upsampler_folder`
    refuses, a folder holding none or another class (another family's upsampler, a transformer, Kandinsky 6's video
    super-resolution), a temporal upsampler (it would make more frames, not larger ones) and another latent channel count
    than the model's VAE. `scale`: the request's ``upsample_scale``, Kandinsky 6's alone (refused without ``upsample`` and
    for LTX's, whose scale is its upsampler's); `size`: the video's ``(height, width)`` in pixels where known, which
    Kandinsky 6's checks against its tiles (`vidlong.families.kandinsky6_sr.check_sr`)."""
    from .families.common import pipeline_class_of
    from .families.kandinsky6_sr import SR_CLASS, check_sr

    if scale is not None and (upsample is None or upsample is False):
        raise VidlongError(f"{named('upsample_scale')} sets the scale of Kandinsky 6's video super-resolution: add "
                           f"{named('upsample')} FOLDER, or drop {named('upsample_scale')}")
    if limits.family == SUPER_RESOLUTION_FAMILY and upsample is not None and upsample is not False:
        return check_sr(upsample, limits, scale, size)
    folder = upsampler_folder(upsample, limits)
    if folder is None:
        return None
    model, class_name, _ = LATENT_UPSAMPLERS[limits.family]
    if pipeline_class_of(folder) == SR_CLASS:
        raise VidlongError(f"{named('upsample')}: {folder} holds Kandinsky 6's video super-resolution ({SR_CLASS}), which "
                           f"sharpens Kandinsky 6's videos; pass {model}'s latent upsampler folder")
    if scale is not None:
        raise VidlongError(f"{named('upsample_scale')} sets the scale of Kandinsky 6's video super-resolution; {model}'s "
                           f"latent upsampler scales by its own config's factor: drop {named('upsample_scale')}")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        raise VidlongError(f"{named('upsample')}: {folder} holds no readable config.json of a latent upsampler; pass the "
                           f"folder of {model}'s latent upsampler ({class_name})") from None
    found = config.get("_class_name") if isinstance(config, dict) else None
    if found != class_name:
        raise VidlongError(f"{named('upsample')}: {folder} holds a {found}, not the {class_name} that upsamples {model}'s "
                           f"latents; pass {model}'s latent upsampler folder")
    if config.get("temporal_upsample"):
        raise VidlongError(f"{named('upsample')}: {folder} is a temporal latent upsampler (more frames, not larger ones), "
                           "which vidlong does not run; pass a spatial one")
    channels = config.get("in_channels", 128)
    if channels != limits.geometry.channels:
        raise VidlongError(f"{named('upsample')}: {folder} upsamples latents of {channels} channels, this model's VAE makes "
                           f"{limits.geometry.channels}; pass the latent upsampler of this model's release")
    return folder


#: the pipelines whose two-stage flow's stage 2 `vidlong.refine` runs (`check_refine`): LTX-Video's and LTX-2's text- and
#: image-to-video pipelines and LTX-Video's condition pipeline (its image twin too)
REFINE_PIPELINES = ("LTXPipeline", "LTXImageToVideoPipeline", "LTXConditionPipeline", "LTXConditionImageToVideoPipeline",
                    "LTX2Pipeline", "LTX2ImageToVideoPipeline")
#: the pipelines whose stage 2 is a refiner pipeline of its own, at the same size, without ``upsample``
#: (`vidlong.families.sana_wm_refiner`): Sana-WM's
SEPARATE_REFINER_PIPELINES = ("SanaWMPipeline",)


def check_refine(request, limits: ModelLimits, latent: Optional[int] = None):
    """The `vidlong.lora.LoraFile` of the request's ``refine_lora`` (checked against the model folder's transformer where
    there is one, else at the run against the loaded one), or None; one line, before any model loads, for a refine pass
    that cannot run: ``refine`` that is no bool (nor, for Sana-WM, its refiner's folder); Sana-WM's
    (`SEPARATE_REFINER_PIPELINES`: `vidlong.families.sana_wm_refiner.check_refiner_request`, over `latent` latent frames
    where given; LTX's knobs there with or without ``refine``); LTX's without ``upsample``; a pipeline without its stage 2
    in vidlong (`REFINE_PIPELINES`: not LTX-Video's long multi-prompt pipeline, LTX-2's condition and in-context ones,
    other families); method fifo; its knobs without ``refine``; LTX-Video's steps that are not whole from 1, a strength
    outside (0, 1) or one leaving no step; LTX-2.5's (`DFR_RECIPE`); LTX-2's steps or strength (its distilled sigmas are
    fixed); a LoRA on LTX-Video, or one missing or not of this model."""
    from .lora import LoraFile, check_lora_file
    from .models import weight_shapes
    from .refine import LTX_VIDEO_STRENGTH, checked_lora, lora_reads, refine_settings, stage_steps

    refine, knobs = request.refine, [name for name in ("refine_steps", "refine_strength", "refine_lora")
                                     if getattr(request, name) is not None]
    separate = limits.pipeline in SEPARATE_REFINER_PIPELINES  # Sana-WM's: its refiner, a pipeline of its own
    if not (refine is None or isinstance(refine, bool) or (isinstance(refine, str) and separate)):
        raise VidlongError(f"{named('refine')} is True or False, got {refine!r:.80} (a folder: Sana-WM's refiner's alone)")
    if separate and (refine or knobs):  # LTX's knobs refused there with or without it
        from .families.sana_wm_refiner import check_refiner_request

        return check_refiner_request(request, limits, knobs, latent)
    if not refine:
        if knobs:
            raise VidlongError(f"{named(knobs[0])} sets the refine pass: add {named('refine')} (with {named('upsample')}), "
                               f"or drop {named(knobs[0])}")
        return None
    if limits.pipeline in DFR_PIPELINES:
        raise VidlongError(f"{named('refine')}: {DFR_RECIPE}; drop {named('refine')}")
    if limits.pipeline not in REFINE_PIPELINES:
        raise VidlongError(f"{named('refine')} runs stage 2 of LTX-Video's and LTX-2's text- and image-to-video two-stage flow "
                           f"and Sana-WM's refiner; this model ({limits.pipeline or limits.family}) has none in vidlong: drop "
                           f"{named('refine')}")
    if request.upsample is None or request.upsample is False:
        raise VidlongError(f"{named('refine')} denoises the upsampled latents again at their new size (LTX's stage 2): add "
                           f"{named('upsample')}, or drop {named('refine')}")
    if request.method == "fifo":
        raise VidlongError(f"{named('refine')} keeps the request's methods for stage 2, and method fifo's diagonal denoising "
                           f"runs no whole-video call: use another {named('method')}, or drop {named('refine')}")
    if limits.family == "ltx-2":
        fixed = next((name for name in knobs if name != "refine_lora"), None)
        if fixed is not None:
            raise VidlongError(f"LTX-2's refine pass runs its 3 distilled stage-2 sigmas (diffusers' "
                               f"STAGE_2_DISTILLED_SIGMA_VALUES), no steps or strength: drop {named(fixed)}")
    else:
        if request.refine_lora is not None:
            raise VidlongError(f"{named('refine_lora')} loads LTX-2's distilled LoRA for its stage 2; LTX-Video's refine pass "
                               f"takes none: drop {named('refine_lora')}")
        check_steps(request.refine_steps, named("refine_steps"))
        strength = request.refine_strength
        if strength is not None and (not is_real(strength) or not 0 < strength < 1):
            raise VidlongError(f"{named('refine_strength')} must be a number in (0, 1) (diffusers' docs: "
                               f"{LTX_VIDEO_STRENGTH}), got {strength!r:.80}")
        settings = refine_settings(limits.family, request.refine_steps, strength, guidance=1.0)
        if stage_steps(settings, 1)[0] < 1:
            raise VidlongError(f"{named('refine_strength')} {settings['strength']} of {settings['steps']} steps runs none "
                               f"(int(steps · strength) = 0): raise {named('refine_strength')} or {named('refine_steps')}")
    if request.refine_lora is None:
        return None
    if not isinstance(request.refine_lora, str) or not request.refine_lora:
        raise VidlongError(f"{named('refine_lora')} is the path of a .safetensors LoRA (FILE or FILE:SCALE), got "
                           f"{request.refine_lora!r:.80}")
    lora = LoraFile.parse(request.refine_lora)
    if limits.folder is not None:  # read once, kept on the request for its run (`vidlong.refine.lora_reads`)
        from .pipeline import pipeline_class  # diffusers: only for a refine LoRA's keys, not for `vidlong info`'s answers

        checked_lora(lora, weight_shapes(limits.folder), pipeline_class(limits.pipeline), lora_reads(request))
    elif not lora.path.is_file():
        check_lora_file(lora, {}, None, field="refine_lora")  # its one line for a missing file
    return lora
