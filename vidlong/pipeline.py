"""vidlong's diffusers pipelines: every Wan pipeline, and LTX-Video, CogVideoX and HunyuanVideo, with
its spec, methods, streaming and extension one call away, loaded offline from local folders.

`VidlongPipelineMixin` gives a diffusers pipeline the same surface whatever the family
(`spec`, `native_frames`, `experts`, `apply`, `remove`, `stream`, `extend`, call defaults from the
spec, and the latent layout its ``latents=`` takes); `load_pipeline` picks the subclass from the
folder's ``model_index.json`` (`PIPELINE_CLASSES`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import torch
from diffusers import WanPipeline, WanVACEPipeline

from . import hooks
from .errors import VidlongError, expert_calls, named
from .control_video import CONTROL_MODELS, CONTROL_PIPELINES
from .lora import LoraFile, check_lora_file, fuse_lora_link, fuse_modules
from .models import (EMBEDDED_MODELS, PIPELINE_CLASSES, Geometry, ModelSpec, check_model_folder, control_video_twin, family_of,
                     folder_class_name, geometry_from_configs, image_to_video_twin, latent_frames, lora_link, model_facts,
                     pipeline_folder, pipeline_task, spec_for_facts, spec_for_folder, video_to_video_twin, what_folder_holds)
from .scalars import plain
from .validate import (check_compile, check_control_twin, check_cpu_bfloat16_forward, check_device, check_dtype,
                       check_model_size, check_offload, limits_for_pipeline)
from .video_to_video import REDRAWING_MODELS

#: latent frames `VidlongPipelineMixin.decode_uint8` decodes at a time
DECODE_CHUNK = 4

#: the numeric arguments of the diffusers call that vidlong checks (NumPy numbers become Python ones)
NUMBER_ARGUMENTS = {"num_frames", "frames", "video_length", "height", "width", "num_inference_steps", "guidance_scale",
                    "guidance_scale_2", "segment_frame_length", "prev_segment_conditioning_frames"}

#: The embedded default model, shipped inside the package.
DEFAULT_MODEL_DIR = EMBEDDED_MODELS["default"]


#: the call arguments a vidlong pipeline fills from its spec when they are left out or None (`call_defaults`, in some family)
SPEC_FILLED_ARGUMENTS = frozenset({"height", "width", "num_frames", "frames", "video_length", "num_inference_steps",
                                   "guidance_scale", "guidance_scale_2", "frame_rate", "fps", "segment_frame_length"})


def shown_call_signature(own, diffusers_call) -> inspect.Signature:
    """The signature a vidlong pipeline's call shows: diffusers' call's parameters (those the spec fills defaulting to None,
    as vidlong reads them), then the keywords vidlong's own call (`own`) takes that diffusers' does not."""
    theirs = inspect.signature(diffusers_call).parameters
    shown = [p.replace(default=None) if p.name in SPEC_FILLED_ARGUMENTS else p for p in theirs.values()]
    added = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in inspect.signature(own).parameters.values()
             if p.name not in theirs and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    variadic = [p for p in shown if p.kind == inspect.Parameter.VAR_KEYWORD]
    return inspect.Signature([p for p in shown if p not in variadic] + added + variadic)


class VidlongPipelineMixin:
    """What vidlong adds to a diffusers video pipeline.

    ``pipe.spec`` is the model's `ModelSpec` (native window in latent frames, fps, resolution,
    sampling defaults) and ``pipe(...)`` takes its defaults from it (diffusers' own defaults are the
    largest model's, e.g. Wan2.1-14B's 480x832, 81 frames, 50 steps). Wan2.2's two experts share every
    method; each keeps its own hooks and state. A family whose ``latents=`` are not ``[B, C, F, h, w]``
    overrides `call_latents` and `grid_latents` (the call checks given ``latents=`` against `latents_shapes`, which
    follows `call_latents`).
    """

    vidlong_spec: Optional[ModelSpec] = None
    task = "t2v"
    #: whether `generate` and a stream draw the image's condition before the start noise, as the call draws them, and
    #: give it to the latents a call starts from (``condition.first_frame``: LTX-Video's call takes given latents as they
    #: are, so the image goes into their first frame; a condition of channels, SkyReels V1's, leaves them as they are);
    #: image-to-video pipelines also have ``image_condition(image, height, width, frames, generator=None, latent=None)``,
    #: the condition of a stream's or a fifo queue's windows (`vidlong.image_condition`)
    image_in_start_latents = False
    #: where a call that draws again from its generator even when given ``latents=`` (and starts from those) has
    #: `generate` hand it the generator, so that the call's draws are those of diffusers' call with that seed: "noise"
    #: (as it was before `generate`'s noise draw: LTX-Video 0.9.5+ draws its noise, CogVideoX video-to-video its video
    #: latent's sample and its noise), "image" (before the image condition's draw: SkyReels V1 draws the image's latent
    #: first, as `generate` does with `image_in_start_latents`), or None (the generator after `generate`'s draws)
    call_redraws_from: Optional[str] = None
    #: whether its call continues a given ``video`` (its frames, then new ones: SkyReels-V2 DF's video-to-video) where
    #: other video-to-video calls redraw it (`vidlong.models.CONTINUING_PIPELINES`); it streams and extends as text to video
    continues_video = False
    #: whether its call edits a given ``video`` by the prompt, the video's latents a condition of every forward's channels
    #: (Lucy Edit: `vidlong.models.EDITING_PIPELINES`): as long as the video, every step run, no strength; it streams that
    #: edit alone (``stream(prompt, video=...)``: `vidlong.edit_stream`), and does not extend
    edits_video = False
    #: whether its call makes an audio track with the video (LTX-2: `soundtrack`), decoded in the same call
    makes_audio = False
    #: whether its call's ``output_type="np"`` frames are linear HDR light in ``[0, inf)`` (LTX-2's HDR IC-LoRA pipeline:
    #: `vidlong.families.ltx2_hdr`), which `generate` keeps (``GenerateResult.hdr``) and tone-maps (`vidlong.hdr_video`)
    makes_hdr = False
    #: whether its text encoder reads the image with every prompt (HunyuanVideo-I2V's LLaVA): its `stream_text` then
    #: also takes ``image=``, the windows' first frame (a PIL image)
    text_reads_image = False
    #: whether a stream hands its `stream_forward` a window's latents in float32, which it casts to the transformer's dtype
    #: itself (Cosmos-Predict2's EDM latents ``x_0 + σ·ε``, σ up to 80: rounded to bfloat16 they would be off by more than
    #: its denoised estimate's scale), rather than in the transformer's dtype
    stream_float_latents = False
    #: the LoRA files `load_pipeline` merged into its transformers (`vidlong.lora.LoraFile`)
    vidlong_loras: tuple = ()
    #: the LoRA files its folder's ``vidlong.yaml`` chain merged before them (`linked_loras`)
    vidlong_linked_loras: tuple = ()
    #: whether its call converts given ``latents=`` to its dtype, as most diffusers calls do (CogVideoX's and EasyAnimate's
    #: image-to-video call move them to its device alone: there they must be in the transformer's dtype, `check_call_latents`)
    converts_latents = True
    #: whether its diffusers call makes ``num_videos_per_prompt`` videos a prompt (CogVideoX's and Wan video-to-video's set it
    #: to 1 whatever they are given: vidlong's call refuses another count in one line rather than ignore it)
    videos_per_prompt = True
    #: the stream class of its chunk-by-chunk streams where its family has its own (`vidlong.streaming.VideoStreamer`'s
    #: subclasses: LTX-2's and Kandinsky 6's calls with their sound, Helios's and FramePack's histories, ...), else None
    chunk_streamer = None
    #: its diffusers call's argument that takes the video's length in pixel frames (Sana-Video's call names it ``frames``;
    #: vidlong's call takes ``num_frames`` for it too)
    frames_argument = "num_frames"
    #: its call's argument that takes the integer seed, which `generate` hands it (the request's) where given:
    #: LTXI2VLongMultiPromptPipeline's ``seed``, from which its call seeds each window's noise; None: its generator alone
    seed_argument: Optional[str] = None
    #: whether `load_pipeline` tiles its VAE's decode in space (diffusers' ``vae.enable_tiling()``, as its examples do for
    #: a VAE whose memory grows with the square of a frame's area: HunyuanVideo's); tiles start past 256 pixels
    tiled_vae = False
    #: optional parts of its folder that `load_pipeline` does not load (LTX-2.5's prompt enhancer and duration head, which
    #: its call does not run with vidlong's arguments)
    unloaded_parts: tuple = ()

    def __init_subclass__(cls, **kwargs):
        """Shows diffusers' call on a vidlong pipeline class: its ``__call__`` (the mixin's, or a vidlong class's own) gets
        the signature and, after vidlong's docstrings, the docstring of the diffusers pipeline's ``__call__`` it hands on to, so
        ``help(pipe)``, ``inspect.signature(pipe)`` and IPython/Jupyter list the call's arguments rather than ``*args, **kwargs``
        (`shown_call_signature`). A user's subclass with a ``__call__`` of its own keeps it as it is."""
        super().__init_subclass__(**kwargs)
        own = cls.__call__
        diffusers_call = next((vars(base)["__call__"] for base in cls.__mro__
                               if base.__module__.startswith("diffusers.") and "__call__" in vars(base)), None)
        if (diffusers_call is None or not own.__module__.startswith("vidlong.")
                or getattr(own, "vidlong_shows", None) is diffusers_call):
            return

        @functools.wraps(own)
        def __call__(self, *args, **kwargs):
            return own(self, *args, **kwargs)

        __call__.__signature__ = shown_call_signature(own, diffusers_call)
        vidlong_calls = [getattr(f, "vidlong_own", f) for base in cls.__mro__ if (f := vars(base).get("__call__"))
                         and base.__module__.startswith("vidlong.")]
        docs = [inspect.cleandoc(f.__doc__) for f in dict.fromkeys(vidlong_calls) if f.__doc__]
        __call__.__doc__ = "\n\n".join([*docs, "diffusers' call:", inspect.cleandoc(diffusers_call.__doc__ or "")])
        __call__.vidlong_shows, __call__.vidlong_own = diffusers_call, own
        __call__.__qualname__, __call__.__module__ = f"{cls.__qualname__}.__call__", cls.__module__  # as pickle finds it
        del __call__.__wrapped__  # `inspect.signature` reads `__signature__`, not the wrapped call's ``*args, **kwargs``
        cls.__call__ = __call__

    @property
    def spec(self) -> ModelSpec:
        if self.vidlong_spec is None:
            folder = self._spec_folder()
            if folder is not None:
                self.vidlong_spec = spec_for_folder(folder)
            else:
                spec = spec_for_facts(self.facts())
                if spec is None:
                    raise VidlongError("vidlong does not know this pipeline's model; set pipe.vidlong_spec = "
                                       "vidlong.models.ModelSpec(name=..., native_frames=...) (vidlong.from_pipe(pipe, spec=...)) "
                                       "or save it with a vidlong.yaml")
                self.vidlong_spec = spec
        temporal = self.geometry().temporal if getattr(self, "vae", None) is not None else self.vidlong_spec.temporal_ratio
        if self.vidlong_spec.temporal_ratio != temporal:  # the VAE's config is the truth (as `spec_for_folder` holds): a
            self.vidlong_spec = dataclasses.replace(self.vidlong_spec, temporal_ratio=temporal)  # spec by hand need not say it
        return self.vidlong_spec

    def _spec_folder(self) -> Optional[Path]:
        """The folder whose ``vidlong.yaml`` describes this model: the pipeline's own, or, for a pipeline
        built from its components (``VidLongWanPipeline(**components)``), its transformer's pipeline folder."""
        experts = self.experts()
        transformer = getattr(experts[0].config, "_name_or_path", None) if experts else None
        candidates = [self.config.get("_name_or_path")] + ([transformer, Path(transformer).parent] if transformer else [])
        return next((Path(c) for c in candidates if c and (Path(c) / "vidlong.yaml").is_file()), None)

    def run_settings(self) -> dict:
        """What every sidecar records of the model a video was made with: its spec's name, device, dtype and the LoRA
        files merged into it."""
        return dict(model=self.spec.name, device=str(self.device), dtype=str(self.dtype).removeprefix("torch."),
                    loras=[lora.describe() for lora in self.vidlong_loras])

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """diffusers' save, as the diffusers pipeline this one wraps: its ``model_index.json`` names that class, so that
        ``DiffusionPipeline.from_pretrained`` and `vidlong.load_pipeline` load the folder, and a ``vidlong.yaml`` of its
        spec (where it has one) goes beside it, so that the folder is this model for vidlong too (an image-to-video
        pipeline diffusers has no class of its own for, LTX-Video 0.9.5's condition pipeline with an image, saves as that
        pipeline, as its releases are: `load_pipeline` with ``task="i2v"`` or an image takes it as image-to-video again).
        The weights are saved stock whatever methods are applied (the LoRA files merged into them included);
        ``push_to_hub`` is refused (vidlong runs offline: upload the saved folder)."""
        import json

        import yaml

        from .files import atomic_write_text

        if kwargs.get("push_to_hub"):
            raise VidlongError("save_pretrained(push_to_hub=True): vidlong runs offline; save to a folder, then upload it")
        super().save_pretrained(save_directory, *args, **kwargs)
        index = Path(save_directory) / "model_index.json"
        config = json.loads(index.read_text())
        config["_class_name"] = diffusers_class(self).__name__
        atomic_write_text(index, json.dumps(config, indent=2, sort_keys=True) + "\n")
        try:
            spec = self.spec
        except VidlongError:  # a model vidlong does not know: the folder is diffusers' alone
            return
        fields = {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(spec).items()
                  if value is not None and key != "temporal_ratio"}  # the VAE's config says the temporal ratio
        atomic_write_text(Path(save_directory) / "vidlong.yaml", yaml.safe_dump(fields, sort_keys=False))

    def facts(self) -> dict:
        """What `configs/models` match rules test (see `vidlong.models`)."""
        return model_facts(self.experts()[0].config, len(self.experts()), self.config.get("expand_timesteps", False),
                           self.task, family_of(self.experts()[0]), type(self).__name__, type(self.scheduler).__name__)

    @property
    def native_frames(self) -> int:
        """Native window in latent frames."""
        return self.spec.native_frames

    @property
    def latent_channels(self) -> int:
        """Channels of the noise latents (the VAE's; the I2V transformer takes more, its condition)."""
        return self.geometry().channels

    def geometry(self) -> Geometry:
        """The latent grid: VAE channels and factors, transformer patch, its family's multiple of sides (the transformer's
        class: a held pipeline's config names none, `from_pipe`)."""
        transformer = self.experts()[0]
        return geometry_from_configs(self.vae.config, transformer.config, family_of(transformer))

    def noise_frames(self, frames: int) -> int:
        """Latent frames of the starting noise for a video of `frames` latent frames (CogVideoX1.5 pads
        to its temporal patch and drops the padding before decoding)."""
        return frames

    @classmethod
    def forward_latent_frames(cls, frames: int, request, temporal_ratio: int) -> int:
        """Latent frames of the video's token grid one forward of its call holds for `request` (a `GenerateRequest`) made
        `frames` latent frames long, `temporal_ratio` its VAE's pixel frames a latent frame (a class method: the run
        estimate's, `vidlong.estimate.forward_tokens`, and the context-parallel split's, read before any model loads,
        `vidlong.parallel_split`): `frames` (LTX-2.5: its padded canvas); the tokens its call appends after the grid:
        `appended_latent_frames`, `appended_tokens`."""
        return frames

    @classmethod
    def appended_latent_frames(cls, request, frames: int, temporal_ratio: int) -> int:
        """Latent frames of tokens at the video's size its call appends after the grid for `request` made `frames` latent
        frames long (a class method, as `forward_latent_frames`): none (LTX-2's and LTX-2.5's last image,
        `vidlong.families.ltx2_condition.ConditionImages.appended_latent_frames`; LTX-2.5's keyframe slots)."""
        return 0

    def appended_tokens(self, request, frames: int, height: int, width: int) -> int:
        """Tokens one forward of its call holds after the video's grid for `request` made `frames` latent frames long at
        `height` x `width` pixels (the run estimate's, `vidlong.estimate.forward_tokens`): none (LTX-2's and LTX-2.5's
        keyframes and LTX-2.5's keyframe slots: `vidlong.families.ltx2_condition.ConditionImages.appended_tokens`; an
        IC-LoRA's or the HDR IC-LoRA's reference video: `vidlong.families.ltx2_in_context.ReferenceVideo.appended_tokens`)."""
        return 0

    def draws_before_noise(self, images: dict, shape, generator: torch.Generator) -> None:
        """Makes from `generator` the draws its call makes before its noise (`images`: the call's image arguments by name;
        `shape`: its noise's ``[1, C, F, h, w]``), so that `start_noise` then draws what its call would: none by default
        (FramePack's: its images' latents; Cosmos-Predict2 Video2World's: its image latent's sample)."""

    def start_noise(self, kind: str, shape, native_frames: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """The noise of `kind` (`vidlong.schedulers.noise.initial_noise`) ``[1, C, F, h, w]`` (`shape`, latent frames) a
        call starts from, drawn from `generator`; `native_frames` sets SpecMix's and FreeNoise's repeats."""
        from .schedulers.noise import initial_noise

        return initial_noise(kind, shape, native_frames, generator)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, C, F, h, w]`` in the layout this pipeline's ``latents=`` argument takes."""
        return latents

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """This pipeline's latents inside its denoising loop (and out of its call, ``output_type="latent"``) as
        ``[B, C, F, h, w]`` (`frames` latent frames, `height` x `width` latent cells)."""
        return latents

    def loop_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """The latents its denoising loop hands a step's ``callback_on_step_end`` as ``[B, C, F, h, w]``: `grid_latents`,
        but where the loop holds them in another layout than its call's output (AnyFlow: frames first in its loop)."""
        return self.grid_latents(latents, frames, height, width)

    def repeated_frames(self, video_frames: int) -> int:
        """Pixel frames its call's output shows again right after a continued video's `video_frames` (`continues_video`:
        the video's last frames, encoded and decoded; `generate` drops them); 0 for a call that continues no video."""
        return 0

    def continued_frames(self, video, frames):
        """The output of its call continuing `video` (`continues_video`; uint8 ``[T, H, W, 3]``) from the call's uint8 `frames`
        ``[t, H, W, 3]``: here its call's own, which hold the video's frames first, then the window, less the
        `repeated_frames` the window starts with (SkyReels-V2 DF's)."""
        kept = len(video)
        return np.concatenate([frames[:kept], frames[kept + self.repeated_frames(kept):]])

    def decodes_in_chunks(self) -> bool:
        """Whether `generate` decodes through `decode_uint8` (not the pipeline's call): Wan's causal VAE, resident
        on the execution device (with offloading the pipeline's own decode runs), its spatial tiling off (diffusers'
        ``vae.enable_tiling()``: the pipeline's own decode tiles, `decode_uint8` would not)."""
        return (self._wan_vae() and not getattr(self.vae, "use_tiling", False)
                and next(self.vae.parameters()).device == self._execution_device)

    def _wan_vae(self) -> bool:
        return type(self.vae).__name__ == "AutoencoderKLWan"

    @torch.no_grad()
    def decode_uint8(self, latents: torch.Tensor, chunk: int = DECODE_CHUNK, fast: bool = False):
        """The pipeline's normalised latents ``[1, C, F, h, w]`` -> uint8 frames ``[T, H, W, 3]``, `chunk`
        latent frames at a time through the VAE's feature cache (`vidlong.vae_stream`): the pipeline's
        own decode and post-processing to float rounding (identical in the tests at the default chunk;
        at most one grey level on a few pixels at others), with only one chunk's float frames in memory
        at once: the whole video is kept as uint8 on the CPU, 1 byte a value instead of float32 copies.
        `fast`: the streaming decoder's own paths (oneDNN on the CPU, channels-last bf16 on CUDA; about
        twice as fast on 2 CPU cores), equal to float rounding rather than to the pipeline's kernels.
        Another family's VAE (a fifo video of LTX-Video) decodes through its `stream_decoder`, as its streams
        do: flat memory, frames near each chunk's start a little off a whole-video decode."""
        import numpy as np

        from .extend import check_latent_tensor
        from .scalars import is_whole
        from .vae_stream import StreamingWanDecoder
        from .video_io import uint8_frames

        check_latent_tensor(latents, self.geometry().channels)  # any grid: a transformer that pads made them
        if not is_whole(chunk) or chunk < 1:
            raise VidlongError(f"decode_uint8 chunk must be a whole number of latent frames >= 1, got {chunk!r}")
        plain = None if fast else False  # None: the decoder picks its fast paths where they exist
        wan = self._wan_vae()
        decoder, pieces = StreamingWanDecoder(self.vae, onednn=plain, channels_last=plain) if wan else self.stream_decoder(), []
        for start in range(0, latents.shape[2], chunk):
            piece = latents[:, :, start:start + chunk]
            pixels = decoder.decode(piece if wan else piece.to(self.vae.device))   # [1, 3, t, H, W] in [-1, 1]
            pixels = (pixels * 0.5 + 0.5).clamp(0, 1).float()                       # as diffusers' post-processing
            pieces.append(uint8_frames(pixels[0].transpose(0, 1)))                 # [t, 3, H, W] in, [t, H, W, 3] out
        return np.concatenate(pieces)

    def segmented_text(self, segments: int):
        """A context within which its call runs a prompt timeline's `segments` texts apart where it takes a prompt's
        encoding through more layers of its own (LTX-2's text connectors); nothing by default."""
        return contextlib.nullcontext()

    def forwards_per_step(self, guidance: float) -> int:
        """Transformer forwards (of one sample each) its call runs per denoising step at `guidance`: the prompt's and,
        with classifier-free guidance, the negative prompt's."""
        return 2 if guidance > 1 else 1

    def decoded_latents(self) -> Optional[torch.Tensor]:
        """The latents ``[B, C, F, h, w]`` its last call decoded, where its step callback saw others (a call that makes
        its video window by window and joins the windows before decoding: LTX-Video's long multi-prompt); None: the last
        step's, as the callback saw them, are the video's."""
        return None

    def batched_frames(self, frames):
        """Its call's ``output.frames`` as a batch of videos (``[B, T, H, W, 3]`` for ``output_type="np"``): as they are
        (Sana-WM's call returns its one video unbatched)."""
        return frames

    def soundtrack(self, output):
        """The audio of a call's `output` as a `vidlong.video_io.Soundtrack`, or None: this pipeline makes video alone
        (LTX-2 makes both)."""
        return None

    def clear_vae_cache(self) -> None:
        """Empty the VAE's feature cache (Wan's causal VAE keeps one; a decode stopped midway leaves it filled)."""
        clear = getattr(self.vae, "clear_cache", None)
        if clear is not None:
            clear()

    # ---- what a stream needs from the family: Wan's here; `vidlong.families` overrides per family ----

    def stream_guided(self, guidance: float) -> bool:
        """Whether a stream at `guidance` runs classifier-free guidance (negative and positive prompt in
        one batch of 2)."""
        return guidance > 1.0

    def stream_text(self, prompt: str, negative_prompt: Optional[str], guided: bool, guidance: float):
        """A `StreamText`: the transformer's text arguments for `prompt`, negative first when `guided`.
        Wan's prompts are padded to `TEXT_TOKENS`, as its pipelines' calls pad them."""
        from .streaming import TEXT_TOKENS, StreamText

        positive, negative = self.encode_prompt(prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=guided,
                                                device=self.device, max_sequence_length=TEXT_TOKENS)
        states = (torch.cat([negative, positive]) if guided else positive).to(self.experts()[0].dtype)
        return StreamText(states.shape[0], dict(encoder_hidden_states=states))

    def timeline_prompt_arguments(self, prompts: list, negative_prompt: Optional[str], guided: bool) -> dict:
        """The call's prompt arguments for a prompt timeline: every segment's text encoding one after another
        ``[1, S·T, D]`` (and the negative prompt's, repeated), for `vidlong.timeline`. Wan's: padded to 512."""
        embeds, negative = self.encode_prompt(prompts, [negative_prompt or ""] * len(prompts), do_classifier_free_guidance=guided,
                                              max_sequence_length=512, device=self._execution_device)
        return dict(prompt_embeds=joined_segments(embeds), negative_prompt_embeds=joined_segments(negative))

    def stream_forward(self, transformer, latents: torch.Tensor, timestep: torch.Tensor, text, **extra) -> torch.Tensor:
        """`transformer`'s raw prediction ``[B, C, f, h, w]`` for latents ``[B, C, f, h, w]`` at `timestep`
        (``[B]``, or per token), with a `StreamText` and the image condition's `extra` arguments."""
        return transformer(hidden_states=latents, timestep=timestep, return_dict=False, **text.kwargs, **extra)[0]

    def stream_scheduler(self, steps: int, window: tuple, generator: Optional[torch.Generator] = None):
        """A fresh copy of the pipeline's scheduler set to `steps` for one chunk whose forwards see
        latents of shape `window` ``(B, C, f, h, w)``; a stochastic sampler draws from `generator`."""
        return self.fresh_scheduler(steps)

    def fresh_scheduler(self, *args, **kwargs):
        """A copy of the pipeline's scheduler (its state stays untouched) after ``set_timesteps(*args,
        **kwargs)`` on the pipeline's device."""
        import copy

        scheduler = copy.deepcopy(self.scheduler)
        scheduler.set_timesteps(*args, device=self.device, **kwargs)
        return scheduler

    def stream_renoise(self, clean: torch.Tensor, noise: torch.Tensor, timestep) -> torch.Tensor:
        """Clean latents brought to the noise level of `timestep` by the sampler's forward process:
        flow matching's ``x_t = (1 - σ)·x_0 + σ·ε`` with ``σ = t / num_train_timesteps``."""
        sigma = float(timestep) / self.scheduler.config.num_train_timesteps
        return (1 - sigma) * clean.float() + sigma * noise

    def stream_decoder(self):
        """A chunk-by-chunk decoder of normalised latents (``decode(latents [1, C, f, h, w])`` ->
        ``[1, 3, T, H, W]`` in [-1, 1]): Wan's causal VAE, its feature cache kept between chunks."""
        from .vae_stream import StreamingWanDecoder

        return StreamingWanDecoder(self.vae)

    def stream_encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel frames ``[1, 3, T, H, W]`` in [-1, 1] -> the pipeline's normalised latents ``[1, C, F, h, w]``."""
        from .vae_stream import encode_frames

        return encode_frames(self.vae, pixels)

    def redraws(self) -> bool:
        """Whether `generate` redraws a given video with it (`vidlong.validate.ModelLimits.redraws`): a video-to-video
        pipeline, or a text-to-video one with a `video_to_video` twin."""
        return False

    def continuing_twin(self) -> bool:
        """Whether its video-to-video twin continues a given video (`vidlong.models.CONTINUING_PIPELINES`: Cosmos-Predict2.5's
        Video2World), where other twins redraw it."""
        from .models import twin_continues

        return self.task == "t2v" and twin_continues(type(self).__name__)

    def video_to_video(self):
        """vidlong's video-to-video pipeline of this text-to-video pipeline's own modules (its class from
        `vidlong.models.VIDEO_TO_VIDEO_TWINS`; no copy: methods applied to one act in both, and its offloading), with its
        spec and progress bar; a one-line error where it neither redraws (`redraws`) nor continues (`continuing_twin`)."""
        from .models import VIDEO_TO_VIDEO_TWINS

        if self.task != "t2v" or not (self.redraws() or self.continuing_twin()):
            raise VidlongError(f"video-to-video runs {REDRAWING_MODELS}; this {type(self).__name__} has no video-to-video "
                               "twin")
        twin = over_modules(pipeline_class(VIDEO_TO_VIDEO_TWINS[type(self).__name__.removeprefix("VidLong")]), self)
        twin.vidlong_spec = self.spec
        return twin

    def experts(self) -> list:
        """The transformers, high-noise first (Wan2.2 A14B has two, `transformer` and `transformer_2`)."""
        return [t for t in (getattr(self, "transformer", None), getattr(self, "transformer_2", None)) if t is not None]

    def expert_at(self, timestep: float) -> int:
        """Index into `experts()` of the transformer that denoises at `timestep` (diffusers' rule:
        `transformer` from ``boundary_ratio · num_train_timesteps`` up, `transformer_2` below)."""
        ratio = self.config.get("boundary_ratio")
        if ratio is None or len(self.experts()) == 1:
            return 0
        return 0 if timestep >= ratio * self.scheduler.config.num_train_timesteps else 1

    def apply(self, *methods, kernel: str = "auto") -> None:
        """Apply `methods` to every expert (see `vidlong.apply`)."""
        from .streaming import refuse_call_while_streaming

        refuse_call_while_streaming(self)
        for transformer in self.experts():
            hooks.apply(transformer, *methods, native_frames=self.native_frames, kernel=kernel)

    def enable_parallelism(self, ulysses_degree: Optional[int] = None) -> None:
        """Spread every expert's attention over the default process group with diffusers' context
        parallelism (Ulysses: each rank holds every token of ``heads / degree`` heads, so vidlong's
        methods stay exact; `vidlong.parallel`). Call in every rank, e.g. under torchrun; default
        degree: the whole group. Refused in one line for a pipeline whose call vidlong does not split
        (`vidlong.parallel.check_parallel_pipeline`: LTX-Video's long multi-prompt one, LTX-2's IC-LoRA and HDR ones)."""
        from .parallel import check_parallel_pipeline, enable_context_parallel

        check_parallel_pipeline(*(base.__name__ for base in type(self).__mro__))
        for transformer in self.experts():
            enable_context_parallel(transformer, ulysses_degree)

    def remove(self) -> None:
        """Remove vidlong's methods from every expert."""
        from .streaming import refuse_call_while_streaming

        refuse_call_while_streaming(self)
        for transformer in self.experts():
            hooks.remove(transformer)

    def call_defaults(self) -> dict:
        """Call arguments taken from the spec when the caller leaves them out."""
        spec = self.spec
        defaults = {"height": spec.height, "width": spec.width, self.frames_argument: spec.native_pixel_frames,
                    "num_inference_steps": spec.num_inference_steps, "guidance_scale": spec.guidance_scale}
        if spec.guidance_scale_2 is not None and len(self.experts()) == 2:
            defaults["guidance_scale_2"] = spec.guidance_scale_2
        return defaults

    def call_num_frames(self, request, made: int) -> int:
        """The ``num_frames`` `generate` hands its call to make `made` latent frames for `request`
        (`vidlong.generate.call_pixel_frames`; a family whose call makes whole chunks: their frames)."""
        from .generate import call_pixel_frames

        return call_pixel_frames(request, made, self.spec.temporal_ratio)

    def generate_arguments(self, steps: int) -> dict:
        """Arguments of its own that `generate` hands its call of `steps` denoising steps: none by default (ChronoEdit's
        temporal reasoning through every step)."""
        return {}

    def forward_frames(self, arguments: dict) -> int:
        """Pixel frames one transformer forward of a call with `arguments` (by name, completed) spans: its ``num_frames``
        (`frames_argument`; a family whose call makes the video window by window: a window's)."""
        return arguments[self.frames_argument]

    def steps_reported(self, steps: int, latent_frames: int, methods: tuple = ()) -> int:
        """The denoising steps its call reports (``callback_on_step_end``) making `latent_frames` latent frames with `steps`
        steps and `methods` applied: `steps` (a call that denoises chunk after chunk: each chunk's, Helios's and FramePack's;
        Cosmos-Transfer2.5's, whose chunk the methods set)."""
        return steps

    def check_parts(self) -> None:
        """One line where its transformer and VAE cannot run in this pipeline class (their family's
        `FamilyAdapter.parts_refusal`, which `vidlong.models.check_model_folder` asks of a folder's configs before loading)
        or a package its transformer's forward calls is not installed (`FamilyAdapter.package_refusal`):
        a pipeline built from parts in Python is refused at its call, stream or extension."""
        from .attention.adapters import adapter_named

        transformer, vae = self.experts()[0], getattr(self, "vae", None)
        if vae is None:  # built without one (latents out): nothing to check it against
            return
        adapter, pipeline = adapter_named(family_of(transformer)), type(self).__name__.removeprefix("VidLong")
        refusal = (adapter.parts_refusal(pipeline, transformer.config, vae.config)
                   or adapter.package_refusal(pipeline, transformer.config))
        if refusal:
            raise VidlongError(refusal)

    def complete_call(self, arguments: dict) -> None:
        """A family's own rule for the call's arguments once the spec's defaults are in (`arguments`, by name, is changed in
        place); none by default."""

    def latents_frames(self, arguments: dict) -> Optional[int]:
        """Latent frames of the ``latents=`` a call with `arguments` (by name, completed) takes: those of one forward's
        pixel frames (`forward_frames`), padded as its noise is (`noise_frames`); None where its arguments do not say."""
        if arguments.get(self.frames_argument) is None:
            return None
        return self.noise_frames((self.forward_frames(arguments) - 1) // self.spec.temporal_ratio + 1)

    def latents_grid(self, arguments: dict, batch: int) -> Optional[tuple]:
        """The grid ``(B, C, F, h, w)`` of the noise a call with `arguments` (by name, completed) making `batch` videos starts
        from: the VAE's channels, `latents_frames`, the latent cells of height x width; None where the arguments do not say."""
        frames, height, width = self.latents_frames(arguments), arguments.get("height"), arguments.get("width")
        if frames is None or height is None or width is None:
            return None
        geometry = self.geometry()
        return batch, geometry.channels, frames, height // geometry.spatial, width // geometry.spatial

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """The shapes its call's ``latents=`` may have in a call with `arguments` (by name, completed) making `batch`
        videos: first the layout vidlong hands it (`call_latents` of the `latents_grid`), then any other its call takes;
        () where the arguments do not say."""
        grid = self.latents_grid(arguments, batch)
        return () if grid is None else (tuple(self.call_latents(torch.empty(grid, device="meta")).shape),)

    def __call__(self, *args, **kwargs):
        """diffusers' call with the spec's defaults for size, length, steps and guidance; a step count
        that is not a whole number >= 1, a guidance that is not a finite number, a length past the transformer's RoPE
        table, start `latents` that are not finite, a `generator` that is no torch.Generator and a video count below 1 are
        refused in one line (diffusers would fail deep in its loop, or make a video of NaN), and so are start `latents` of
        a shape the call does not take (`latents_shapes`) or a dtype it would not convert (`converts_latents`), an
        `output_type` diffusers refuses only after the last step, a video count above 1 where diffusers' call sets it to 1
        (`videos_per_prompt`), a call while a stream of this pipeline is paused mid-way, a transformer in a dtype its forward
        cannot run in on its device (`vidlong.validate.check_forward_here`: Sana-WM's in bfloat16 on the CPU), and a prompt
        given by position where diffusers' call takes an image or a video first. ``image=`` and ``last_image=`` take an
        image file's path too (`load_call_images`), as streams do."""
        from .streaming import refuse_call_while_streaming
        from .validate import (LATENTS_ARGUMENTS, MAX_GUIDANCE, check_call_inputs, check_call_latents, check_finite,
                               check_forward_here, check_latent_length, check_steps, frame_counts, load_call_images)

        refuse_call_while_streaming(self)
        self.check_parts()
        check_forward_here(self.experts())
        call = super().__call__
        bound = inspect.signature(call).bind_partial(*args, **kwargs)
        for name, value in self.call_defaults().items():  # a None too, but guidance_scale_2's (None: guidance_scale)
            if name not in bound.arguments or (bound.arguments[name] is None and name != "guidance_scale_2"):
                bound.arguments[name] = value
        arguments = bound.arguments
        load_call_images(arguments, next(iter(bound.signature.parameters)) if args else None, diffusers_class(self).__name__)
        check_call_inputs(arguments)
        if not self.videos_per_prompt and arguments.get("num_videos_per_prompt", 1) != 1:
            raise VidlongError(f"{diffusers_class(self).__name__}'s call makes one video per prompt (diffusers sets "
                               "num_videos_per_prompt to 1 whatever it is given); drop num_videos_per_prompt and call it once "
                               "per video")
        given = {name: arguments.get(name) for name in LATENTS_ARGUMENTS}  # before the family's rule may hand them on
        self.complete_call(arguments)
        for name in NUMBER_ARGUMENTS & arguments.keys():
            arguments[name] = plain(arguments[name])
        limits = limits_for_pipeline(self)
        check_steps(arguments.get("num_inference_steps"), "num_inference_steps", limits.family)
        for name in ("guidance_scale", "guidance_scale_2"):  # the range streams and generate take too
            check_finite(name, arguments.get(name), 0, MAX_GUIDANCE)
        length = self.frames_argument
        if arguments.get(length) is not None:  # diffusers would round it down to k·ratio + 1 quietly
            ratio = self.spec.temporal_ratio
            latent_frames(arguments[length], ratio, length, counts=frame_counts(limits))
            check_latent_length((self.forward_frames(arguments) - 1) // ratio + 1, limits)  # what one forward places
        if arguments.get("height") is not None or arguments.get("width") is not None:  # the other the spec's
            check_model_size(limits, arguments.get("height"), arguments.get("width"))
        for name, latents in given.items():
            if latents is not None:
                check_call_latents(self, latents, arguments, name)
        return call(*bound.args, **bound.kwargs)

    def _stream_config(self, call: str, streaming, chunks, seconds, kwargs: dict, video: bool = False):
        """What `stream` and `extend` (`call`) check first, before any model work: no stream of this
        pipeline paused, a pipeline that streams at all (not one redrawing a given video in one call, nor one editing it
        but in a stream given the `video`, `vidlong.validate.check_not_redrawing`, whose refusal comes before its
        settings'), the length and extra arguments.
        Returns `streaming` (or the model's defaults, `vidlong.methods.model_streaming`), `chunks` and `seconds`; NumPy
        numbers become Python ones, in `kwargs` too, and a ``negative_prompt`` of None ""."""
        from .methods import model_streaming
        from .streaming import refuse_call_while_streaming, refuse_diffusers_cache
        from .validate import (check_not_redrawing, check_stream_arguments, check_stream_length, check_streaming_config,
                               check_streams)

        refuse_call_while_streaming(self)
        self.check_parts()
        limits = limits_for_pipeline(self)
        check_not_redrawing(limits, video, extension=call == "pipe.extend")
        check_streams(limits.family)  # a family that does not stream (ChronoEdit's edit), before an extension's input is read
        refuse_diffusers_cache(self, "streams and extensions")
        refuse_offloading(self, "streams and extensions", "load the pipeline without offload (a stream's memory stays flat "
                          "with its length)")
        check_stream_length(chunks, seconds)
        check_stream_arguments(kwargs, call)
        check_streaming_config(streaming)
        for name in ("guidance", "guidance_2", "seed", "height", "width") & kwargs.keys():
            kwargs[name] = plain(kwargs[name])
        if "negative_prompt" in kwargs and kwargs["negative_prompt"] is None:  # none, as diffusers' call and generate take it
            kwargs["negative_prompt"] = ""
        return streaming or model_streaming(self.spec), plain(chunks), plain(seconds)

    def stream(self, prompt: str, streaming=None, chunks=None, seconds=None, video=None, strength=None, **kwargs):
        """Stream a video chunk by chunk: an iterator of `StreamChunk` (decoded frames as they are made).

        Args:
            prompt: a prompt or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt).
            streaming: a `vidlong.Streaming` config (default: the preset the model names, else the defaults, with the
                model's own chunk where it names one: `vidlong.methods.model_streaming`), or a `vidlong.DiagonalDenoising`
                to stream by diagonal denoising (`vidlong.fifo_stream`: Wan, SkyReels-V2, LTX-Video; for one prompt,
                ``generate``'s fifo video chunk by chunk).
            chunks: number of chunks; or `seconds` of video; neither streams until you stop iterating.
            video: a video to redraw chunk by chunk at any length (a file's path or uint8 frames ``[T, H, W, 3]``; a Wan or
                SkyReels-V2 text-to-video model; `vidlong.redraw_stream`), or to edit so (Lucy Edit: `vidlong.edit_stream`,
                which streams nothing else): the stream is as long as it, or its first `chunks`.
            strength: with `video`, how much of it is redrawn, in (0, 1] (default 0.8); none for an edit.
            kwargs: guidance, guidance_2, seed, height, width, negative_prompt; image (an image-to-video model's first
                frame, required there: a path or a PIL image).
        """
        from .fifo_stream import chunk_layout
        from .methods import DiagonalDenoising
        from .schedulers.stream import stream_chunk_count

        streaming, chunks, seconds = self._stream_config("pipe.stream", streaming, chunks, seconds, kwargs, video is not None)
        if video is None:
            if strength is not None:
                raise VidlongError(f"{named('strength')} is how much of a video a stream redraws: pass {named('video')}, "
                                   f"or drop {named('strength')}")
            chunks = stream_chunk_count(limits_for_pipeline(self), chunk_layout(streaming), chunks, seconds)
            return self.streamer(streaming)(self, prompt, streaming, chunks=chunks, **kwargs)
        if isinstance(streaming, DiagonalDenoising) or seconds is not None:
            raise VidlongError(f"a stream redrawing or editing a {named('video')} is chunked and as long as the video: drop "
                               f"{'the DiagonalDenoising config' if seconds is None else named('seconds')} "
                               f"({named('chunks')} N takes its first N chunks)")
        return self.video_streamer()(self, prompt, streaming, video, strength=plain(strength), chunks=chunks, **kwargs)

    def extend(self, prompt: str, video=None, latents=None, streaming=None, chunks=None, seconds=None, fps=None, **kwargs):
        """Continue a video: an iterator whose first `StreamChunk` (``is_input``) holds the input's frames,
        unchanged, followed by the new chunks as they are made.

        Args:
            prompt: a prompt or a prompt schedule for the new chunks (chunk 0 = the first new chunk).
            video: uint8 frames ``[T, H, W, 3]`` to continue (the last frames are encoded once), or the
                path of a video file (its frame rate then counts `seconds` unless `fps` is given; the input's item
                then holds a `vidlong.video_io.VideoFileFrames`, which reads the file's frames as they are asked for,
                and ``numpy.asarray`` of it all of them, so that a long input is never held whole).
            latents: the video's saved latents ``[1, C, F, h, w]`` instead (no VAE round trip); with
                `video` too, `video` gives the output's first frames and `latents` the continuation.
            streaming, chunks, seconds, kwargs: as for `stream` (height and width follow the input); by
                diagonal denoising the queue starts from the input's last native window (`vidlong.fifo_stream`).
            fps: the input's frame rate, which `seconds` of new video are counted in (default: the model's).
        """
        from .extend import extension_prefix, input_video_file
        from .fifo_stream import chunk_layout
        from .methods import DiagonalDenoising
        from .schedulers.stream import check_prompt_starts, parse_prompt_schedule, stream_chunk_count
        from .validate import check_diagonal_stream, check_fps, check_keeps_latents, check_sampling, limits_for_pipeline

        streaming, chunks, seconds = self._stream_config("pipe.extend", streaming, chunks, seconds, kwargs)
        limits = limits_for_pipeline(self)
        if latents is not None:
            check_keeps_latents(limits, named("latents"))
        check_sampling(**{name: kwargs[name] for name in ("guidance", "guidance_2", "seed") if name in kwargs})
        if isinstance(streaming, DiagonalDenoising):  # before the input is read
            check_diagonal_stream(streaming, limits)
        fps = plain(fps)
        check_fps(fps)
        if isinstance(video, (str, os.PathLike)):
            video = input_video_file(video, self.spec, streaming, self.facts()["family"])
            fps = fps or video.fps
        chunks = stream_chunk_count(limits, chunk_layout(streaming), chunks, seconds, input_fps=fps or self.spec.fps)
        check_prompt_starts(parse_prompt_schedule(prompt), chunks)  # refused before the input is encoded
        prefix = extension_prefix(self, streaming, video=video, latents=latents, fps=fps)
        return self.streamer(streaming)(self, prompt, streaming, chunks=chunks, prefix=prefix, **kwargs)

    def streamer(self, streaming):
        """The stream class of a `_stream_config` result: `DiagonalStreamer` for a `DiagonalDenoising`, else its family's
        `chunk_streamer`, or `VideoStreamer`."""
        from .fifo_stream import DiagonalStreamer
        from .methods import DiagonalDenoising
        from .streaming import VideoStreamer

        return DiagonalStreamer if isinstance(streaming, DiagonalDenoising) else self.chunk_streamer or VideoStreamer

    def video_streamer(self):
        """The stream class of a stream given a video: `EditStreamer` where the call edits it (`edits_video`: Lucy Edit),
        else `RedrawStreamer`."""
        from .edit_stream import EditStreamer
        from .redraw_stream import RedrawStreamer

        return EditStreamer if self.edits_video else RedrawStreamer


class VidLongWanPipeline(VidlongPipelineMixin, WanPipeline):
    """diffusers' `WanPipeline` (Wan2.1 T2V, Wan2.2 T2V A14B and TI2V-5B) with vidlong's surface."""

    def redraws(self) -> bool:
        """Wan2.1's layout (one transformer, one timestep per sample) is what `WanVideoToVideoPipeline` runs."""
        return len(self.experts()) == 1 and not self.config.get("expand_timesteps", False)


class VidLongWanVACEPipeline(VidlongPipelineMixin, WanVACEPipeline):
    """diffusers' `WanVACEPipeline` (Wan2.1 VACE, Wan2.2 VACE-Fun A14B) with vidlong's surface: the methods act on its
    blocks and its VACE blocks alike (the control video's tokens share the video's grid); its call's ``video=``,
    ``mask=`` and ``reference_images=`` go through as they are (reference images' latent frames come first in the
    grid, so the methods count them among the video's frames). It generates; it does not stream."""

    def __call__(self, *args, **kwargs):
        """With a control ``video=`` (a list of frames) and no ``num_frames``, the video is as long as it (the spec's
        native length would not match it)."""
        if kwargs.get("video") is not None and kwargs.get("num_frames") is None:
            kwargs["num_frames"] = len(kwargs["video"])
        return super().__call__(*args, **kwargs)

    def latents_frames(self, arguments: dict) -> Optional[int]:
        """The video's latent frames after one per reference image (of a video: diffusers' call takes one image, a list
        of them, or a list per video)."""
        frames, images = super().latents_frames(arguments), arguments.get("reference_images")
        if frames is None or images is None:
            return frames
        if not isinstance(images, (list, tuple)):  # one image
            return frames + 1
        per_video = images[0] if images and isinstance(images[0], (list, tuple)) else images
        return frames + len(per_video)


def diffusers_class(pipe) -> type:
    """The diffusers pipeline class a vidlong pipeline wraps (the first of diffusers' classes in its MRO)."""
    return next(base for base in type(pipe).__mro__ if base.__module__.startswith("diffusers."))


def over_modules(cls: type, pipe, **given):
    """A pipeline of class `cls` built on `pipe`'s own modules (no copy: the same transformer, VAE and encoders; those
    `given` in place of them or beside them) and the
    settings of its config that `cls` takes (Wan2.2's ``boundary_ratio``, ``expand_timesteps``), with its config's
    ``_name_or_path`` (where its ``vidlong.yaml`` is looked for), its progress bar settings and its
    ``tokenizer_padding_side`` where both have one (LTX-2's condition, in-context and DFR pipelines read the tokenizer's
    side as they are built, and their prompt encoding sets the tokenizer's to left: built after a call, `cls` would tell its
    connectors another side than `pipe` does)."""
    takes = inspect.signature(cls.__init__).parameters
    modules = pipe.components
    settings = {name: value for name, value in pipe.config.items() if not name.startswith("_") and name not in modules}
    made = cls(**{name: value for name, value in {**settings, **modules, **given}.items() if name in takes})
    if hasattr(pipe, "tokenizer_padding_side") and hasattr(made, "tokenizer_padding_side"):
        made.tokenizer_padding_side = pipe.tokenizer_padding_side
    if pipe.config.get("_name_or_path"):
        made.register_to_config(_name_or_path=pipe.config["_name_or_path"])
    made.set_progress_bar_config(**getattr(pipe, "_progress_bar_config", {}))
    return made


def from_pipe(pipe, spec: Optional[ModelSpec] = None) -> VidlongPipelineMixin:
    """vidlong's pipeline over a diffusers pipeline you already hold: its subclass of the pipeline's class
    (`PIPELINE_CLASSES`) built on the same modules and settings, nothing copied or loaded (your LoRA, quantized weights,
    a transformer compiled in place, scheduler and dtype stay; methods applied to one act in both). A vidlong pipeline
    comes back as it is (with `spec`, if given).

    Args:
        pipe: a diffusers pipeline of a class vidlong wraps (`WanPipeline`, `LTXPipeline`, `HunyuanVideoPipeline`, ...),
            with no offloading enabled yet (enable it on the pipeline this returns) and its transformers as modules
            (``torch.compile(module)`` wraps one: compile in place instead, ``module.compile()``). A Modular Diffusers
            pipeline is refused in one line (`refuse_modular`): `vidlong.apply` on its transformers runs the methods in it.
        spec: the model's `ModelSpec`; default: the ``vidlong.yaml`` of the folder its modules came from, else the
            spec vidlong knows for their configs (`vidlong.models.spec_for_facts`), else it is asked for when used.
    """
    from diffusers import DiffusionPipeline

    if spec is not None and not isinstance(spec, ModelSpec):
        raise VidlongError(f"spec is a {type(spec).__name__}; pass a vidlong.models.ModelSpec (name=..., native_frames=...) "
                           "or None")
    if isinstance(pipe, VidlongPipelineMixin):
        if spec is not None:
            pipe.vidlong_spec = spec
        return pipe
    name = type(pipe).__name__
    refuse_modular(pipe, "vidlong.from_pipe")
    if not isinstance(pipe, DiffusionPipeline):
        raise VidlongError(f"pipe is a {name}; pass a diffusers pipeline (for a model folder: vidlong.load_pipeline(path))")
    if name not in PIPELINE_CLASSES:
        raise VidlongError(f"pipe is a {name}, not a pipeline class vidlong wraps (WanPipeline, LTXPipeline, CogVideoXPipeline, "
                           "HunyuanVideoPipeline, ...: vidlong.pipeline.PIPELINE_CLASSES); for a subclass of one, subclass "
                           "vidlong's class for it (vidlong.pipeline.pipeline_class(name))")
    check_held_modules(pipe)
    made = over_modules(pipeline_class(name), pipe)
    made.vidlong_spec = spec
    return made


def refuse_modular(pipe, what: str) -> None:
    """A one-line refusal of `what` (``vidlong.from_pipe``, ``generate``) given a pipeline of Modular Diffusers (a
    ``ModularPipeline``: vidlong's pipeline classes subclass the standard ones, not it), naming what runs vidlong's methods
    on it; nothing for anything else."""
    if any(cls.__name__ == "ModularPipeline" for cls in type(pipe).__mro__):
        each = expert_calls(pipe, "vidlong.apply(pipe.{}, ...)")
        raise VidlongError(f"{what} takes a standard diffusers pipeline or a vidlong one, not diffusers' modular "
                           f"{type(pipe).__name__}; apply the methods to its transformers ({each}) and call it as it is, or "
                           "load the standard folder its parts came from with vidlong.load_pipeline(path)")


def check_vidlong_pipeline(pipe, what: str) -> None:
    """A one-line refusal of `what` (``generate``, ``diagonal_latents``) given anything but a vidlong pipeline: a stock
    diffusers pipeline is wrapped by `from_pipe`, a model folder loaded by `load_pipeline`."""
    refuse_modular(pipe, what)
    if not isinstance(pipe, VidlongPipelineMixin):
        raise VidlongError(f"{what} takes a vidlong pipeline, got a {type(pipe).__name__}; wrap it with vidlong.from_pipe(pipe) "
                           "(a diffusers pipeline), or load a model folder with vidlong.load_pipeline(path)")


def check_held_modules(pipe) -> None:
    """A one-line refusal for a held pipeline whose modules vidlong could not take as they are: offloading already enabled
    (its hooks would stay on the shared modules, unknown to the new pipeline; accelerate's device placement of a
    multi-GPU or quantized model is no offloading) or a component wrapped by ``torch.compile`` (vidlong's hooks go on the
    model itself)."""
    offloading = offloading_component(pipe)
    if offloading is not None:
        raise VidlongError(f"pipe.{offloading} has offloading enabled; call vidlong.from_pipe before enabling it, then enable "
                           "it on the pipeline it returns (enable_model_cpu_offload, enable_group_offload)")
    for name, module in pipe.components.items():
        if isinstance(module, torch._dynamo.eval_frame.OptimizedModule):
            blocks = f" or pipe.{name}.compile_repeated_blocks()" if getattr(module._orig_mod, "_repeated_blocks", None) else ""
            raise VidlongError(f"pipe.{name} is wrapped by torch.compile; pass it uncompiled and compile it in place "
                               f"(pipe.{name}.compile(){blocks})")


def offloading_component(pipe) -> Optional[str]:
    """The name of the first of `pipe`'s components with offloading enabled (accelerate's model or sequential CPU offload,
    diffusers' group offloading), or None."""
    from diffusers.hooks.group_offloading import _is_group_offload_enabled

    return next((name for name, module in pipe.components.items() if isinstance(module, torch.nn.Module)
                 and (_offloads(getattr(module, "_hf_hook", None)) or _is_group_offload_enabled(module))), None)


def refuse_offloading(pipe, what: str, fix: str) -> None:
    """A one-line refusal of `what` (which runs the transformers and the VAE itself, outside the pipeline's offload hooks:
    its inputs would stay on the CPU where the hooks put the weights) on a pipeline with offloading enabled, saying `fix`."""
    offloading = offloading_component(pipe)
    if offloading is not None:
        raise VidlongError(f"{what} run the transformer and the VAE outside the pipeline's offload hooks, and "
                           f"pipe.{offloading} has offloading enabled; {fix}")


def _offloads(hook) -> bool:
    """Whether an accelerate hook (or a chain of them) moves its module's weights off the device between calls: model
    CPU offload, or sequential offload's placement with ``offload``."""
    if hook is None:
        return False
    if hasattr(hook, "hooks"):  # accelerate's SequentialHook
        return any(_offloads(inner) for inner in hook.hooks)
    return type(hook).__name__ == "CpuOffload" or bool(getattr(hook, "offload", False))


def pipeline_class(class_name: str) -> type:
    """vidlong's pipeline class for a diffusers pipeline class name (or vidlong's own name for it)."""
    import importlib

    stock = class_name.replace("VidLong", "", 1) if class_name.startswith("VidLong") else class_name
    module, name = PIPELINE_CLASSES[stock].split(":")
    return getattr(importlib.import_module(module), name)


@contextlib.contextmanager
def hidden_progress_bars(pipe):
    """Within it, `pipe`'s own calls show no progress bar (diffusers' ``set_progress_bar_config``); its
    settings before are restored on exit."""
    before = dict(getattr(pipe, "_progress_bar_config", {}))
    pipe.set_progress_bar_config(**{**before, "disable": True})
    try:
        yield
    finally:
        pipe.set_progress_bar_config(**before)


def pipeline_class_name(folder: Path, task: Optional[str] = None) -> str:
    """The diffusers pipeline class a checked `folder` loads as for `task` (`load_pipeline`), or a one-line error."""
    name = folder_class_name(folder)
    if task not in (None, "t2v", "i2v", "v2v", "animate", "control"):
        raise VidlongError(f"{named('task')} is 't2v', 'i2v', 'v2v', 'animate' or 'control', got {task!r}")
    if task is not None and (task == "animate") != (pipeline_task(folder) == "animate"):
        holds = "a character-animation" if pipeline_task(folder) == "animate" else "no character-animation"
        raise VidlongError(f"model folder {folder} holds {holds} pipeline ({name}); drop {named('task')} {task}")
    if task == "control" and name.removeprefix("VidLong") not in CONTROL_PIPELINES:
        twin = control_video_twin(folder)
        if twin is None:
            raise VidlongError(f"{named('task')} control loads a pipeline that follows a control video: {CONTROL_MODELS}, or "
                               f"LTX-2's own folder (LTX2Pipeline, LTX2ConditionPipeline) with an IC-LoRA; model folder "
                               f"{folder} holds {what_folder_holds(folder)}: drop {named('task')} control")
        return twin
    if task == "v2v" and pipeline_task(folder) != "v2v":
        twin = video_to_video_twin(folder)
        if twin is None:
            raise VidlongError(f"video-to-video runs {REDRAWING_MODELS}; model folder {folder} holds "
                               f"{what_folder_holds(folder)}: use a Wan2.1 or CogVideoX-2B/5B text-to-video folder, or drop "
                               f"{named('task')} v2v")
        return twin
    if task in ("t2v", "i2v") and pipeline_task(folder) == "v2v":
        raise VidlongError(f"model folder {folder} holds a video-to-video {name}; drop {named('task')} {task}, or load it "
                           "with task='v2v'")
    if task == "t2v" and pipeline_task(folder) == "i2v":
        raise VidlongError(f"model folder {folder} holds an image-to-video {name}; drop {named('task')} t2v, or use a "
                           "text-to-video model folder")
    if task == "i2v" and pipeline_task(folder) == "t2v":
        twin = image_to_video_twin(folder)
        if twin is None:
            raise VidlongError(f"model folder {folder} holds a text-to-video {name} whose weights no image-to-video pipeline "
                               f"takes; use an image-to-video model folder, or drop {named('task')} i2v")
        return twin
    return name


def linked_loras(folder: Path) -> list:
    """The `LoraFile`s a checked folder's ``vidlong.yaml`` chain merges as it loads (`lora_link`), from the pipeline folder
    outwards; none for a plain pipeline folder."""
    link = lora_link(folder)
    return [] if link is None else [LoraFile(path, scale) for path, scale in link.loras]


def check_loras(folder: Path, loras: Sequence, loader) -> list:
    """``[(LoraFile, its LoraModules)]`` of `loras` (`LoraFile`s or paths), each read once and checked against `folder`'s
    weights (`check_lora_file`; its `loader`: the pipeline class whose diffusers LoRA loader reads it, and whose
    ``check_lora_metadata``, where it has one, checks what else it reads from them and from the folder's own, `linked_loras`)
    and experts, before any model loads."""
    from .models import folder_configs, weight_shapes

    if isinstance(loras, (str, os.PathLike, LoraFile)):
        raise VidlongError(f"loras takes a list of LoRA files, got one ({loras!s:.80}); pass loras=[...]")
    experts, checked = folder_configs(folder)[2], []
    for lora in (lora if isinstance(lora, LoraFile) else LoraFile(lora) for lora in loras):
        if lora.expert not in range(experts):
            raise VidlongError(f"{named('lora_2')} merges into a second transformer (Wan2.2 A14B's low-noise "
                               f"transformer_2), which this model has not; use {named('lora')}")
        checked.append((lora, check_lora_file(lora, weight_shapes(folder, lora.expert), loader)))
    if hasattr(loader, "check_lora_metadata"):  # a pipeline that reads more than weights from its LoRAs
        loader.check_lora_metadata(linked_loras(folder) + [lora for lora, _ in checked])
    return checked


def load_pipeline(path: Union[str, Path, None] = None, device: Union[str, torch.device, None] = None,
                  dtype: Optional[torch.dtype] = None, offload: Optional[str] = None,
                  compile: Optional[str] = None, task: Optional[str] = None, loras: Sequence = (),
                  torch_dtype: Optional[torch.dtype] = None) -> VidlongPipelineMixin:
    """Load a video pipeline from a local folder (default: the embedded model), never from a hub.

    Returns the vidlong subclass of the folder's diffusers pipeline (`PIPELINE_CLASSES`): e.g. a
    `VidLongWanPipeline` for a ``WanPipeline`` folder, a ``VidLongLTXPipeline`` for an ``LTXPipeline``;
    with ``task="i2v"``, a text-to-video folder whose weights diffusers also runs as image-to-video loads as
    that pipeline (`vidlong.models.IMAGE_TO_VIDEO_TWINS`: an ``LTXPipeline`` folder as
    ``VidLongLTXImageToVideoPipeline``, Wan2.2 TI2V-5B's ``WanPipeline`` as ``VidLongWanImageToVideoPipeline``).

    A folder whose ``vidlong.yaml`` names a ``base`` and a ``lora`` loads the base and merges the LoRA
    into its transformer (in float64, each weight then rounded once to its dtype).

    Args:
        path: a model folder, or an embedded model's name ("default", "default-causal", "default-distilled"); None: "default".
        device: default "cuda" when available, else "cpu".
        dtype: a torch dtype or its name ("float32", "bfloat16", "float16"); default bfloat16 on CUDA,
            float32 on the CPU. On a CPU with bfloat16 instructions (AVX512-BF16, AMX), bfloat16 streams
            faster (the streaming decoder's oneDNN path takes it too).
        offload: None (everything on `device`), "model" (diffusers' model CPU offload) or "group"
            (diffusers' group offloading of each component, block by block): the weights wait in CPU
            memory and come to the GPU when used, for models larger than the GPU.
        compile: None, or a torch.compile backend ("inductor", "eager", ...): each transformer's repeated
            blocks compiled (diffusers' `compile_repeated_blocks`); one compiled block serves every layer
            with vidlong's methods or a stream's KV cache, and the first calls pay the compilation.
        task: None (the folder's own pipeline), "t2v" (a text-to-video folder's own), "i2v" (image-to-video: the
            folder's own, or its twin), "v2v" (video-to-video: the folder's own, or its twin: a Wan2.1 text-to-video
            folder as ``VidLongWanVideoToVideoPipeline``, a CogVideoX-2B/5B one as ``VidLongCogVideoXVideoToVideoPipeline``)
            or "animate" (a Wan Animate folder's own ``VidLongWanAnimatePipeline``) or "control" (a pipeline that follows
            a control video: the folder's own where its call takes one, `vidlong.control_video.CONTROL_PIPELINES`, or its
            twin, `vidlong.models.CONTROL_VIDEO_TWINS`: an LTX-2 ``LTX2Pipeline`` or ``LTX2ConditionPipeline`` folder as
            ``VidLongLTX2InContextPipeline``, its IC-LoRA in `loras` or its ``vidlong.yaml``, else refused in one line;
            the loaded pipeline's own task is "t2v", its reference video ``reference_video=``, generate's ``control_video``).
        loras: LoRA files merged into the transformers as they load (`vidlong.lora.LoraFile`, or a file's path: scale 1,
            the first transformer), after a ``vidlong.yaml``'s; each checked against the folder's weights before any loads.
        torch_dtype: diffusers' ``from_pretrained`` name for `dtype`, taken as it (one of the two).
    """
    if torch_dtype is not None and dtype is not None:
        raise VidlongError(f"load_pipeline got dtype={dtype!r} and torch_dtype={torch_dtype!r}; pass one of them")
    dtype = dtype if dtype is not None else torch_dtype
    folder = check_model_folder(path)
    class_name = pipeline_class_name(folder, task)
    spec, link = spec_for_folder(folder), lora_link(folder)
    device = check_device(device)
    check_offload(offload, device)
    check_compile(compile, folder, offload)
    dtype = check_dtype(dtype, device)
    check_cpu_bfloat16_forward(folder, device, dtype)
    if class_name == control_video_twin(folder):  # LTX-2's own weights, to follow a reference video by an IC-LoRA
        check_control_twin(folder, loras)
    loras = check_loras(folder, loras, pipeline_class(class_name))
    try:
        cls = pipeline_class(class_name)
        pipe = cls.from_pretrained(pipeline_folder(folder), dtype=dtype, local_files_only=True,
                                   **dict.fromkeys(cls.unloaded_parts))
    except (OSError, ValueError, RuntimeError, EnvironmentError) as err:
        raise VidlongError(f"could not load the pipeline in {pipeline_folder(folder)}: {_first_line(err)}") from None
    if link is not None:
        fuse_lora_link(pipe.transformer, link, type(pipe))
        for part in (pipe, pipe.transformer):  # the spec follows this folder, not the base
            part.register_to_config(_name_or_path=str(folder.resolve()))
    for lora, modules in loras:  # as checked: each file read once
        fuse_modules(pipe.experts()[lora.expert], modules)
    pipe.vidlong_loras = tuple(lora for lora, _ in loras)  # the sidecars record them
    pipe.vidlong_linked_loras = tuple(linked_loras(folder))
    if pipe.tiled_vae:
        pipe.vae.enable_tiling()
    pipe.vidlong_spec = spec
    pipe.set_progress_bar_config(leave=False)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(onload_device=device, offload_type="block_level", num_blocks_per_group=1)
    else:
        pipe.to(device)
    if compile is not None:
        for transformer in pipe.experts():
            transformer.compile_repeated_blocks(backend=compile)
    return pipe


def joined_segments(x: Optional[torch.Tensor]) -> Optional[torch.Tensor]:
    """The segments' text encodings (or masks) ``[S, T, ...]`` one after another: ``[1, S·T, ...]``."""
    return None if x is None else x.reshape(1, -1, *x.shape[2:])


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
