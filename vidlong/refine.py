"""Stage 2 of LTX-Video's and LTX-2's two-stage generation (`GenerateRequest.refine`, ``vidlong generate --upsample
--refine``): the upsampled latents ``[1, C, F, s·h, s·w]`` (`vidlong.upsample`) denoised again for a few steps at the new
size by the family's own diffusers call, as diffusers' docs run it, then decoded there.

- LTX-Video: diffusers' `LTXConditionPipeline` over the loaded modules (``from_pipe``, for all: the text-to-video and 0.9.x
  image-to-video pipelines' calls take no ``denoise_strength``) with the upsampled normalised latents, ``denoise_strength``
  0.4 of ``num_inference_steps`` 10 (4 steps), ``decode_timestep`` 0.05, ``image_cond_noise_scale`` 0.025, the request's
  guidance, and the image as a frame-0 condition (``image=``, strength 1) for image-to-video.
- LTX-2: its own pipeline class (text- or image-to-video, the image still frame 0's condition) over the loaded modules with
  a copy of the scheduler without dynamic shifting or terminal shift, the de-normalised upsampled latents and stage 1's
  sound latents ``[1, C, L, M]``, noised to the first of ``STAGE_2_DISTILLED_SIGMA_VALUES`` (``noise_scale``) and denoised
  along them (3 steps) unguided (`LTX2_UNGUIDED`: every guidance knob off, not ``guidance_scale`` alone); its sound is stage
  2's. A distilled LoRA (`LoraFile`: a dev checkpoint's stage-2
  LoRA; a distilled checkpoint needs none) is merged into the transformer for stage 2 alone and its weights put back after.

The request's vidlong methods stay applied (they are temporal: the same latent frame count, the same native window); each
forward reads its own token grid, as a prompt timeline's hooks do (its segments' texts encoded as the stage's pipeline
encodes a prompt: `stage_prompts`). Its noise comes from a generator seeded with the request's seed, as the docs' stage 2
has its own. The decode runs through the VAE's spatial tiles (`vidlong.upsample.tiled_decode`). What cannot refine is
refused before any model loads (`vidlong.validate.check_refine`).
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional

import numpy as np
import torch

#: LTX-Video's stage 2, as diffusers' docs call `LTXConditionPipeline` on the upsampled latents
LTX_VIDEO_STEPS, LTX_VIDEO_STRENGTH, LTX_VIDEO_DECODE_TIMESTEP, LTX_VIDEO_IMAGE_NOISE = 10, 0.4, 0.05, 0.025

#: LTX-2's stage 2 unguided (the positive prompt alone: one forward a step), as Lightricks' two-stage pipelines denoise it
#: with the distilled weights: its call's guidance set off one knob at a time, since ``guidance_scale=1.0`` alone (the docs'
#: sample) leaves diffusers' other defaults on (audio guidance 7, spatio-temporal 1, modality 3, rescale 0.7: three
#: forwards and four samples a step; diffusers issue #14649)
LTX2_UNGUIDED = dict(guidance_scale=1.0, audio_guidance_scale=1.0, stg_scale=0.0, audio_stg_scale=0.0, modality_scale=1.0,
                     audio_modality_scale=1.0, guidance_rescale=0.0, audio_guidance_rescale=0.0)


def ltx2_sigmas() -> list:
    """LTX-2's stage-2 sigmas (diffusers' ``STAGE_2_DISTILLED_SIGMA_VALUES``), first the noise level of its start."""
    from diffusers.pipelines.ltx2.utils import STAGE_2_DISTILLED_SIGMA_VALUES

    return list(STAGE_2_DISTILLED_SIGMA_VALUES)


def refine_settings(family: str, steps: Optional[int], strength: Optional[float], guidance: float, lora=None) -> dict:
    """The stage-2 settings a refined video records (JSON-ready): LTX-Video's steps, strength, guidance, decode timestep and
    image noise (`steps` and `strength` None: the docs'); LTX-2's sigmas, noise scale, guidance (`LTX2_UNGUIDED`) and LoRA
    (a `LoraFile`)."""
    if family == "ltx-video":
        return dict(steps=steps or LTX_VIDEO_STEPS, strength=LTX_VIDEO_STRENGTH if strength is None else strength,
                    guidance=guidance, decode_timestep=LTX_VIDEO_DECODE_TIMESTEP, image_cond_noise_scale=LTX_VIDEO_IMAGE_NOISE)
    sigmas = ltx2_sigmas()
    return dict(sigmas=sigmas, noise_scale=sigmas[0], guidance=dict(LTX2_UNGUIDED), lora=None if lora is None else lora.describe())


def stage_steps(settings: dict, guided_forwards: int) -> tuple:
    """(the steps stage 2 runs, the transformer's forwards a step) for its `settings` (`refine_settings`): LTX-Video's
    ``int(steps · strength)`` of its steps at the request's guidance (`guided_forwards`, its pipeline's `forwards_per_step`);
    LTX-2's sigmas unguided, one forward each."""
    if "sigmas" in settings:
        return len(settings["sigmas"]), 1
    return min(int(settings["steps"] * settings["strength"]), settings["steps"]), guided_forwards


def stage_pipeline(pipe):
    """The diffusers pipeline stage 2 calls, over `pipe`'s own modules (no copy: the methods applied to its transformer act):
    LTX-Video's `LTXConditionPipeline` (a dynamically shifting scheduler copied without it: its call sets its own
    unshifted timesteps and passes no shift), LTX-2's own class with a copy of the scheduler without dynamic shifting or
    terminal shift, as the docs swap it."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline

    from .pipeline import diffusers_class

    config = pipe.scheduler.config
    if pipe.facts()["family"] == "ltx-video":
        stage_class, overrides = LTXConditionPipeline, dict(use_dynamic_shifting=False) if config.get("use_dynamic_shifting") else {}
    else:
        stage_class, overrides = diffusers_class(pipe), dict(use_dynamic_shifting=False, shift_terminal=None)
    scheduler = FlowMatchEulerDiscreteScheduler.from_config(config, **overrides) if overrides else pipe.scheduler
    stage = stage_class.from_pipe(pipe, scheduler=scheduler)
    stage.set_progress_bar_config(disable=True)
    return stage


def adapted(module) -> list:
    """The parameter names a `vidlong.lora.LoraModule` changes: its weight's, and its bias's where it has one."""
    return [module.weight] + ([module.weight[: -len("weight")] + "bias"] if module.bias is not None else [])


@contextlib.contextmanager
def merged_lora(transformer, modules: list):
    """Within it, the `vidlong.lora.LoraModule`s `modules` are merged into `transformer`'s weights (`add_modules`, on each
    weight's device); after, the weights they touched are put back as they were, bit for bit, from copies kept in CPU
    memory. Only those weights are read and written, in place (no copy of the others, no load of the whole state: a
    19B transformer's untouched weights stay as they are), and device memory grows by one weight's merge at a time."""
    from .lora import add_modules

    if not modules:
        yield
        return
    params = {name: transformer.get_parameter(name) for module in modules for name in adapted(module)}
    kept = {name: param.detach().to("cpu", copy=True) for name, param in params.items()}
    try:
        with torch.no_grad():
            for module in modules:
                merged = {name: params[name].detach() for name in adapted(module)}
                add_modules(merged, [module])
                for name, value in merged.items():
                    params[name].copy_(value)
        yield
    finally:
        with torch.no_grad():
            for name, param in params.items():
                param.copy_(kept[name])


def lora_key(lora) -> tuple:
    """What identifies a read of the `LoraFile` `lora`: its resolved path, size and modification time, and its scale."""
    stat = lora.path.stat()
    return str(lora.path.resolve()), stat.st_size, stat.st_mtime_ns, lora.scale


def lora_reads(request) -> dict:
    """The stage-2 LoRA's read that a `GenerateRequest` carries from its check to its run (`lora_key` -> its `LoraModule`s,
    at most one): state of the request itself, which the check before loading (`vidlong.validate.check_refine`) and
    `generate`'s run share, so that the file is read once a run (a read of a 19B model's LoRA takes gigabytes)."""
    return vars(request).setdefault("_refine_lora_read", {})


def checked_lora(lora, shapes: dict, loader, reads: dict) -> list:
    """The `LoraModule`s of the `LoraFile` `lora` checked against a transformer of weight `shapes` (name -> shape), read by
    `loader`'s diffusers LoRA loader (`vidlong.lora.check_lora_file`, naming ``refine_lora``) unless `reads` (a request's
    `lora_reads`) holds the same file's modules and they fit `shapes`; kept in `reads` in place of any kept before."""
    from .lora import check_lora_file

    kept = reads.get(lora_key(lora)) if lora.path.is_file() else None
    fits = kept is not None and all(shapes.get(module.weight) == (module.b.shape[0], module.a.shape[1]) and (
        module.bias is None or shapes.get(adapted(module)[1]) == tuple(module.bias.shape)) for module in kept)
    if not fits:
        kept = check_lora_file(lora, shapes, loader, field="refine_lora")
        reads.clear()
        reads[lora_key(lora)] = kept
    return kept


def lora_modules_of(pipe, lora, request) -> list:
    """The checked `LoraModule`s of the `LoraFile` `lora` against `pipe`'s transformer (none for None): those the check of
    `request` before loading read where they fit it (`checked_lora`), taken (no longer kept on the request) for its run."""
    from .pipeline import diffusers_class

    if lora is None:
        return []
    shapes = {name: tuple(value.shape) for name, value in pipe.transformer.named_parameters()}
    modules = checked_lora(lora, shapes, diffusers_class(pipe), lora_reads(request))
    lora_reads(request).clear()
    return modules


def stage_prompts(pipe, stage, prompts: dict, texts: tuple, negative_prompt: Optional[str], guided: bool) -> dict:
    """Stage 2's prompt arguments: stage 1's `prompts` (one prompt, which the stage's call encodes itself, as the docs' does;
    or a timeline's encodings, ``[1, S·T, D]``, where `stage` is of `pipe`'s own diffusers class, which encodes as its call
    did), else the timeline's segment `texts` encoded again by `stage` at the same ``T`` tokens (LTX-Video's text-to-video
    and image-to-video pipelines, whose T5 encoder reads the padding, under `LTXConditionPipeline`, whose encoder masks it:
    its call's own encoding of each text, the timeline's hooks still splitting ``T`` tokens a segment)."""
    if "prompt_embeds" not in prompts or isinstance(pipe, type(stage)):
        return prompts
    return pipe.timeline_prompt_arguments(list(texts), negative_prompt, guided, encoder=stage)


@torch.no_grad()
def refined_video(pipe, latents: torch.Tensor, audio_latents: Optional[torch.Tensor], upsampler, prompts: dict, call: dict,
                  settings: dict, seed: int, lora_modules: tuple = (), progress: Optional[Callable[[int, int], None]] = None,
                  texts: tuple = (), negative_prompt: Optional[str] = None) -> tuple:
    """(uint8 frames ``[T, s·H, s·W, 3]``, the call's output) of stage 2 on the normalised stage-1 latents ``[1, C, F, h, w]``
    (and LTX-2's de-normalised sound latents ``[1, C, L, M]``) of a ``call["height"]`` x ``call["width"]`` pixel video
    upsampled by the latent upsampler in the folder `upsampler` (`vidlong.upsample.upsampled`, latents out).
    `prompts`: the prompt arguments of stage 1 (a prompt, or the encodings of a timeline of the segment `texts` with the
    `negative_prompt`: `stage_prompts`); `call`: ``height``, ``width``,
    ``num_frames``, ``frame_rate`` and, for image-to-video, ``image``; `settings`: `refine_settings`; `lora_modules`: the
    stage-2 LoRA's (`lora_modules_of`), merged for this call alone; `progress(done, total)` as it starts (0 done: the
    stage runs from its upsampling on) and after each step. The frames as `vidlong.video_io.uint8_frames` makes them."""
    from .upsample import tiled_decode, upsampled
    from .video_io import uint8_frames

    family = pipe.facts()["family"]
    device = pipe._execution_device
    total = stage_steps(settings, 1)[0]
    if progress is not None:
        progress(0, total)
    upsampled_latents = upsampled(pipe, latents, upsampler, output_type="latent")
    height, width = (side * pipe.vae_spatial_compression_ratio for side in upsampled_latents.shape[3:])
    stage = stage_pipeline(pipe)
    if family == "ltx-video":
        steps = dict(denoise_strength=settings["strength"], num_inference_steps=settings["steps"],
                     guidance_scale=settings["guidance"], decode_timestep=settings["decode_timestep"],
                     image_cond_noise_scale=settings["image_cond_noise_scale"])
        prompts = stage_prompts(pipe, stage, prompts, texts, negative_prompt, settings["guidance"] > 1)
    else:
        steps = dict(audio_latents=audio_latents.to(device), sigmas=settings["sigmas"], num_inference_steps=len(settings["sigmas"]),
                     noise_scale=settings["noise_scale"], **settings["guidance"])

    def on_step(_pipe, step, _t, _kwargs):
        if progress is not None:
            progress(step + 1, total)
        return {}

    with merged_lora(pipe.transformer, lora_modules), tiled_decode(pipe.vae):
        output = stage(**prompts, **{**call, "height": height, "width": width}, latents=upsampled_latents, **steps,
                       generator=torch.Generator().manual_seed(int(seed)), output_type="pt", callback_on_step_end=on_step)
    return np.ascontiguousarray(uint8_frames(output.frames[0])), output
