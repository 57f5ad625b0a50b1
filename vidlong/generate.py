"""One long generation as a plain request -> frames job; the CLI and the app are thin layers on it."""
from __future__ import annotations

import dataclasses
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np
import torch

from .control_video import control_arguments
from .errors import VidlongError, named
from .camera import CAMERA_PIPELINES, camera_given, default_camera_text, read_camera
from .identity import load_identity
from .methods import DiagonalDenoising, default_noise, method_switch, methods_for
from .models import latent_frames, pixel_frames
from .progress import StepCount
from .scalars import is_real, plain
from .schedulers.noise import initial_noise
from .schedulers.diagonal import queue_segments, queue_source
from .schedulers.timeline import parse_prompt_timeline, timeline_latent_starts
from .hdr_video import tone_mapped_uint8
from .video_io import Soundtrack, rounded_uint8
from .video_to_video import DEFAULT_STRENGTH, denoised_steps, input_video


@dataclass
class GenerateRequest:
    """Everything that decides one generated video.

    Attributes:
        prompt: the text prompt, or a prompt timeline ``"0s: a red ball; 4s: a blue ball"`` (Wan, SkyReels-V2,
            LTX-Video and LTX-2 text-to-video, and a redrawn `video`, in its own seconds: each segment's frames follow its
            prompt, `vidlong.timeline`; LTX-2's sound too); empty ("") only with `connector_embeds`.
        ratio: length as a multiple of the native window (used when `frames` is None).
        frames: pixel frames (must be 4k+1 for Wan); overrides `ratio`.
        method: a `vidlong.method_names.METHOD_NAMES` name ("none", "ultravico", "freelong", "both", ...); None: "both" with a
            `preset` (its settings are UltraViCo's and FreeLong++'s), else "none".
        preset: a preset name ("2x", "4x", ...) for method settings (and FreeLong++'s noise); None for defaults.
        noise: "plain", "specmix" or "freenoise" (`NOISE_KINDS`); None: the method's own (`vidlong.methods.default_noise`: the
            preset's SpecMix for FreeLong++ and its combinations, plain for the others).
        steps, guidance, height, width: None takes the model's defaults.
        seed: random seed.
        negative_prompt: optional negative prompt.
        image: the first frame, for image-to-video models (None for text-to-video): the path of a PNG/JPEG
            file, or from Python a PIL image or uint8 ``[H, W, 3]`` frame (`load_image`; the settings record
            a path, or "in memory").
        last_image: the last frame too, as `image` (Wan2.1 FLF2V, Wan2.2 I2V A14B: the pipeline conditions the
            video's last frame on it), or None.
        guidance_2: guidance of Wan2.2's low-noise expert; None takes the model's (or `guidance`).
        video: the video to redraw (video-to-video on a Wan2.1 or CogVideoX-2B/5B text-to-video model: its latents noised
            to `strength`, then denoised with the prompt, `vidlong.pipeline_v2v`): the path of a video file, or from
            Python uint8 frames ``[T, H, W, 3]`` (or a list of PIL images). The output is as long as it (its first
            `frames`, or the most 4k+1 frames it holds, 8k+1 on CogVideoX; `ratio` stays 1) and, without
            `height`/`width`, its aspect at the model's pixel area; a file's frame rate is the output's. On a SkyReels-V2 DF
            video-to-video folder (`vidlong.models.CONTINUING_PIPELINES`) the video is continued instead in the call's
            window of `frames` (or `ratio` x native) pixel frames, whose first latent frames are its last 17 frames encoded:
            the output is its frames unchanged, then the window's new ones (the window's latent frames past those, r each;
            the call's decode of those encoded frames is dropped, `repeated_frames`); on a Cosmos-Predict2.5 text-to-world
            pipeline (its Video2World twin) and a Cosmos 3 one (its ``video=`` from the video's last frames) likewise, from its
            last 5 frames (the output: its frames as the call resizes them, then the window's past those 5,
            `continued_frames`). On a Lucy Edit folder
            (`vidlong.models.EDITING_PIPELINES`) it is edited by the prompt: its latents condition every step, all of which
            run (no `strength`); the output is as long as it, as a redrawn video.
        strength: how much of `video` is redrawn, in (0, 1] (1: from pure noise; None: diffusers' 0.8): the call runs
            the last ``int(steps · strength)`` of its steps.
        pose_video, face_video: a Wan Animate model's driving videos (`vidlong.animate`: the character of `image` moves as
            they do; the video is as long as the pose video, `ratio` sets its segments' length), each the path of a video
            file, or from Python uint8 frames ``[T, H, W, 3]`` or a list of PIL images.
        background_video, mask_video: with Wan Animate, a video to put the character in where the mask video is white,
            as the pose video ("replace" mode), or None. With Wan VACE, `mask_video` is white where the model generates over
            its `control_video` and black where it keeps it.
        reference_images: a Wan VACE model's reference images (subjects or a background to put in the video), each as
            `image` is given; their latent frames come before the video's in its grid (the methods count them), as its call
            places them.
        segment_overlap: with Wan Animate, the pixel frames each segment after the first starts from, 1 or 5 (its call's
            ``prev_segment_conditioning_frames``; None: 1).
        control_video: a control model's control video (`vidlong.control_video`: Wan VACE's depth, pose, edges, or frames
            to keep where `mask_video` is black; CogVideoX-Fun's, which its call needs), as `video` is given; the output is
            as long as it (its first `frames`, or the most 4k+1 frames it holds, CogVideoX's 8k+1; `ratio` stays 1), at
            its frame rate and, without `height`/`width`, its aspect.
        identity: a ConsisID model's face tensors (`vidlong.identity`: ``id_cond``, ``id_vit_hidden`` and optional
            ``kps_cond``, as ConsisID's ``process_face_embeddings_infer`` returns them): the path of the torch file they are
            saved in, or from Python a dict of them; needed where its transformer has ``is_train_face``, refused elsewhere.
        camera: a Sana-WM model's camera trajectory (`vidlong.camera`: ``c2w`` poses or an ``action`` string, optional
            ``intrinsics``): the path of a JSON file of them, or from Python a dict of them; without one its call gets a
            steady walk forward and a 90° view of the image, which the settings record (`vidlong.camera.default_camera_text`);
            refused for other models.
        upsample: LTX-Video's and LTX-2's latent upsampler after the video is made (`vidlong.upsample`): True, the model
            folder's own ``latent_upsampler`` subfolder; the path of an upsampler's folder (or of a folder holding one in
            ``latent_upsampler/``); None or False: none. The video's latents are upsampled (2x in space for the released
            upsamplers) and decoded at that size; LTX-2's sound is unchanged. Kandinsky 6's: the path of its video
            super-resolution's folder (`Kandinsky6SRPipeline`, `vidlong.families.kandinsky6_sr`), run on the decoded frames
            in windows of its native length, its sound unchanged. Refused for other models.
        upsample_scale: Kandinsky 6's video super-resolution's ``resolution_scale``, 2, 2.25 or 4 (None: its call's 2.25);
            refused elsewhere.
        refine: with `upsample`, stage 2 of LTX-Video's and LTX-2's two-stage generation (`vidlong.refine`): the upsampled
            latents denoised again for a few steps at the new size by the family's own diffusers call, as diffusers' docs
            do, the request's methods still applied, then decoded (LTX-2's sound is stage 2's); text- and image-to-video
            (and LTX-Video's condition) pipelines alone. Sana-WM's, without `upsample`: its refiner pipeline
            (`SanaWMLTX2Refiner`) on the video's latents at the same size, then decoded without the image's frame
            (`vidlong.families.sana_wm_refiner`; the methods act on stage 1 alone): True, the refiner beside the model
            folder (``<folder>-refiner``) or in its ``refiner/``; a path, the refiner's folder. The result's latents stay
            stage 1's.
        refine_steps, refine_strength: LTX-Video's stage 2: its ``num_inference_steps`` (None: 10) and ``denoise_strength``
            in (0, 1) (None: 0.4), which runs the last ``int(steps · strength)`` of them; LTX-2's runs its 3 distilled sigmas.
        decoder: LTX-2's and LTX-2.5's: the path of LTX-2.5's diffusion decoder's folder (`LTX2VideoDiffusionDecodePipeline`,
            `vidlong.families.ltx2_decoder`), which decodes the video's latents in place of the VAE's decoder, as diffusers'
            two calls do (the pipeline's ``output_type="latent"``, then the decode pipeline with ``denormalize=False`` and a
            generator seeded with `seed`); the sound unchanged; None: the VAE decodes. Not with `upsample` or `refine`.
        temporal_refine: LTX-2.5's: the path of its temporal latent upsampler's folder (`LTX2LatentUpsamplerModel` with
            ``temporal_upsample``, or a folder holding one in ``temporal_latent_upsampler/``), which runs diffusers'
            `LTX2DFRTemporalRefinePipeline` after the DFR pass (`vidlong.families.ltx2_temporal`): each round doubles the
            frames (``N -> 2(N - 1) + 1``) and the frame rate, the methods still applied, the sound unchanged; the result's
            latents are the last round's, cut to the video. None: no rounds. Not with `decoder`.
        temporal_rounds: with `temporal_refine`, 1 or 2 rounds (2x, 4x; None: 1).
        connector_embeds: LTX-2's HDR IC-LoRA pipeline's text in place of the prompt's (`vidlong.families.ltx2_hdr`): the HDR
            LoRA's pre-computed connector embeddings, the path of a safetensors file of ``video_context`` and
            ``audio_context`` (each ``[1, S, D]``), or from Python a dict of them; its call runs unguided with them (the
            guidance 1; no negative prompt), the prompt not read but recorded as given (it may then be empty, ""). None: its
            call encodes the prompt. Refused elsewhere.
        refine_lora: LTX-2's stage-2 LoRA (the dev checkpoint's distilled LoRA, a local ``.safetensors``), ``FILE`` or
            ``FILE:SCALE`` (`vidlong.lora.LoraFile.parse`), merged into the transformer for stage 2 alone; None: none (a
            distilled checkpoint needs none).
    """

    prompt: str
    ratio: float = 1.0
    frames: Optional[int] = None
    method: Optional[str] = None
    preset: Optional[str] = None
    noise: Optional[str] = None
    steps: Optional[int] = None
    guidance: Optional[float] = None
    seed: int = 0
    height: Optional[int] = None
    width: Optional[int] = None
    negative_prompt: str = ""
    image: Optional[Union[str, Any]] = None
    guidance_2: Optional[float] = None
    last_image: Optional[Union[str, Any]] = None
    video: Optional[Union[str, Any]] = None
    strength: Optional[float] = None
    pose_video: Optional[Union[str, Any]] = None
    face_video: Optional[Union[str, Any]] = None
    background_video: Optional[Union[str, Any]] = None
    mask_video: Optional[Union[str, Any]] = None
    control_video: Optional[Union[str, Any]] = None
    segment_overlap: Optional[int] = None
    reference_images: Optional[list] = None
    identity: Optional[Union[str, dict]] = None
    camera: Optional[Union[str, dict]] = None
    upsample: Optional[Union[bool, str]] = None
    upsample_scale: Optional[float] = None
    refine: Union[bool, str] = False
    refine_steps: Optional[int] = None
    refine_strength: Optional[float] = None
    refine_lora: Optional[str] = None
    decoder: Optional[str] = None
    temporal_refine: Optional[str] = None
    temporal_rounds: Optional[int] = None
    connector_embeds: Optional[Union[str, dict]] = None

    def __post_init__(self):  # NumPy numbers as Python ones, so that the settings stay JSON-ready
        for name in ("ratio", "frames", "steps", "guidance", "seed", "height", "width", "guidance_2", "strength",
                     "segment_overlap", "refine_steps", "refine_strength", "upsample_scale", "temporal_rounds"):
            setattr(self, name, plain(getattr(self, name)))
        for name in ("upsample", "refine", "refine_lora", "decoder", "temporal_refine",
                     "connector_embeds"):  # a path as text: the settings JSON-ready
            if isinstance(getattr(self, name), os.PathLike):
                setattr(self, name, os.fspath(getattr(self, name)))
        if self.method is None:  # a preset alone runs both methods at its settings
            self.method = "both" if self.preset else "none"


@dataclass
class GenerateResult:
    """frames: uint8 ``[T, H, W, 3]`` pixel frames (None from ``generate(..., decode=False)``); settings: every setting used (JSON-ready; ``ratio`` is the
    length made, whole latent frames over the native window, ``ratio_requested`` the one asked for; after LTX-2.5's temporal
    rounds ``latent_frames`` and ``ratio`` stay the DFR pass's, the same seconds, and ``pixel_frames`` and ``fps`` are the
    video's, ``2^r·(n - 1) + 1`` frames at ``2^r`` times the rate);
    latents: the final normalised latents ``[1, C, F, h, w]`` (for `--save-latents`; of a continued video, the call's window:
    the input's last frames encoded, then the new ones, as an extension's saved latents; of an upsampled video, the made
    size's, before the upsampler; of LTX-2.5's temporal rounds, the last round's cut to the video); audio: the video's
    `vidlong.video_io.Soundtrack` where the model makes one (LTX-2), else None; hdr: the linear HDR frames float32
    ``[T, H, W, 3]`` in ``[0, inf)`` where the model makes them (LTX-2's HDR IC-LoRA pipeline: ``frames`` are then their
    tone-mapped sRGB, `vidlong.hdr_video`), else None."""

    frames: Optional[np.ndarray]
    settings: dict
    latents: Optional[torch.Tensor] = None
    audio: Optional[Soundtrack] = None
    hdr: Optional[np.ndarray] = None


def resolve_guidance(spec, guidance: Optional[float], guidance_2: Optional[float]) -> tuple[float, float]:
    """(guidance, low-noise expert's guidance): the given values, else the model's, the second falling
    back to the first."""
    guidance = spec.guidance_scale if guidance is None else guidance
    return guidance, guidance_2 if guidance_2 is not None else (spec.guidance_scale_2 or guidance)


def load_image(image, field: str = "image"):
    """The first frame (or the one `field` names) as an RGB PIL image, from the path of a PNG/JPEG file, a PIL
    image or uint8 ``[H, W, 3]`` frame; or a one-line error naming the field."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
            raise VidlongError(f"{named(field)} is a {image.dtype} array of shape {list(image.shape)}; pass one uint8 RGB "
                               "frame [H, W, 3] (or a PIL image, or the path of a PNG/JPEG file)")
        return Image.fromarray(image)
    if not isinstance(image, (str, os.PathLike)):
        raise VidlongError(f"{named(field)} is a {type(image).__name__}; pass the path of a PNG/JPEG file, a PIL image "
                           "or a uint8 frame [H, W, 3]")
    if not os.path.exists(image):
        raise VidlongError(f"{named(field)}: no image file at {image}; check the path")
    if os.path.isdir(image):
        raise VidlongError(f"{named(field)} {image} is a folder; pass a PNG or JPEG file")
    try:
        with Image.open(image) as opened:
            return opened.convert("RGB")
    except (OSError, UnidentifiedImageError) as err:
        if _is_video(image):
            raise VidlongError(_video_for_image(image, field)) from None
        raise VidlongError(f"{named(field)} {image} is not a readable image ({type(err).__name__}); pass a PNG or JPEG file") from None


def _is_video(path) -> bool:
    """Whether ffmpeg reads the file at `path` as a video (its header alone: nothing decoded)."""
    from .video_io import frame_size

    try:
        frame_size(path)
    except Exception:  # noqa: BLE001 - ffmpeg's readers raise many types for a file that is no video
        return False
    return True


def _video_for_image(path, field: str) -> str:
    """The one line refusing a video given where an image is asked for: the ffmpeg line taking its first frame, and for the
    first frame (`field` image) `vidlong extend`, which continues a video."""
    frame = shlex.quote(str(Path(path).with_name(f"{Path(path).stem}_first_frame.png")))  # never the video's own name
    extend = f", or continue the video itself with vidlong extend --video {shlex.quote(str(path))}" if field == "image" else ""
    return (f"{named(field)} {path} is a video, not an image; pass one frame of it as a PNG (its first: ffmpeg -i "
            f"{shlex.quote(str(path))} -frames:v 1 {frame}){extend}")


def has_image(image) -> bool:
    """Whether an image was given (None and an empty path are none)."""
    return image is not None and not (isinstance(image, str) and not image)


def check_task(task: str, has_image: bool, extends: Optional[int] = 1) -> None:
    """Image-to-video models need an image; text-to-video models take none (the refusal names `vidlong extend` from a video
    of the image where the model extends videos of at least `extends` pixel frames, None: it extends none), nor do
    video-to-video ones."""
    if task == "i2v" and not has_image:
        raise VidlongError(f"this model is image-to-video: pass the first frame with {named('image')} start.png")
    if task == "animate" and not has_image:
        raise VidlongError(f"this Wan Animate model moves a character: pass its picture with {named('image')} character.png")
    if task == "v2v" and has_image:
        raise VidlongError(f"video-to-video redraws, continues or edits the given video and takes no {named('image')}; drop it")
    if task == "t2v" and has_image:
        video = "a 1-frame video" if extends == 1 else f"a video of at least {extends} frames"
        extend = f", or `vidlong extend --video` from {video}" if extends else ""
        raise VidlongError(f"this model is text-to-video and takes no {named('image')}; use an image-to-video model folder "
                           "(Wan, SkyReels-V2, LTX-Video, LTX-2, CogVideoX, HunyuanVideo, Kandinsky 5 and 6, Motif-Video, "
                           f"EasyAnimate, FramePack, Cosmos-Predict2.5, Cosmos-Predict2 and 1.0 Video2World, Cosmos 3 or Sana-Video)"
                           f"{extend}")


def resolve_latent_frames(request: GenerateRequest, native_frames: int, temporal_ratio: int = 4,
                          most: Optional[int] = None, odd: bool = False, counts: tuple = (1,)) -> int:
    """Latent frames of the request: from `frames` (pixel, 4k+1, with `odd` 8k+1: an odd latent count; `counts`: the
    family's own lengths, `vidlong.models.latent_frames`; a hint for other counts suggests no length past `most` latent
    frames) or `ratio` × native (`ratio_latent_frames`)."""
    if request.frames is not None:
        if odd:  # a VAE that decodes only an odd latent count back to its frames (`ratio_latent_frames`): 8k+1 of them
            latent_frames(request.frames, 2 * temporal_ratio, most=most)
        return latent_frames(request.frames, temporal_ratio, most=most, counts=counts)
    check_ratio(request.ratio)
    return ratio_latent_frames(request.ratio, native_frames, odd, most)


def check_ratio(ratio) -> None:
    """A request's `ratio` (of the native window) a finite number > 0, else one line."""
    if not is_real(ratio) or ratio <= 0:
        raise VidlongError(f"{named('ratio')} must be a finite number > 0, got {ratio!r}")


def ratio_latent_frames(ratio: float, native_frames: int, odd: bool = False, most: Optional[int] = None) -> int:
    """Latent frames of `ratio` × the native window: the nearest whole count, at least 1; with `odd` (a VAE that decodes
    an even count F to 4·F frames, not 4·F - 3: CogVideoX, `vidlong.validate.odd_latents`) the next odd count, or
    the one below where that passes `most`."""
    latent = max(1, round(ratio * native_frames))
    if odd and latent % 2 == 0:
        latent += 1 if most is None or latent < most else -1
    return latent


def call_pixel_frames(request: GenerateRequest, made: int, temporal_ratio: int) -> int:
    """Pixel frames the pipeline's call makes of `made` latent frames: the request's exact `frames` where they hold that
    many (a family's own lengths, `vidlong.models.latent_frames`: Allegro's 4k too), else ``temporal_ratio·(made - 1) + 1``."""
    exact = None if request.frames is None else int(request.frames)
    return exact if exact is not None and (exact - 1) // temporal_ratio + 1 == made else pixel_frames(made, temporal_ratio)


#: a progress callback: (stage, done, total), stages "encode prompt", "denoise" (steps), "refine" (stage 2's steps, after
#: ``upsample``: `vidlong.refine`; Sana-WM's refiner's, a block's at a time: `vidlong.families.sana_wm_refiner`), "temporal
#: refine" (LTX-2.5's temporal rounds' tiles' steps), "diffusion decode" (its diffusion decoder's steps), "upsample"
#: (Kandinsky 6's video super-resolution's windows: `vidlong.families.kandinsky6_sr`), "decode" (latent frames); one with a
#: ``plan(steps)`` method is handed the stages counted in steps first (`planned_steps`, `vidlong.progress`)
Progress = Callable[[str, int, int], None]


class _DecodeProgress:
    """Reports ``("decode", done, latent frames)`` as the VAE decodes, from a forward pre-hook on its
    decoder: Wan's runs once per latent frame (so ``done`` counts frames), CogVideoX's once per two, the
    others' once (``done`` stays 0 until the decode ends)."""

    def __init__(self, vae, total: int, progress: Progress):
        self.total, self.done, self.progress = total, 0, progress
        self._handle = vae.decoder.register_forward_pre_hook(self._before)

    def _before(self, module, args):
        self.progress("decode", min(self.done, self.total), self.total)
        self.done += 1

    def remove(self) -> None:
        self._handle.remove()


def planned_steps(pipe, request: GenerateRequest, denoise: int, made: int, temporal, decoder, refined: Optional[dict]) -> dict:
    """``{stage: total}`` of the stages counted in steps (`vidlong.progress.STAGE_UNITS`) that `generate` runs for `request`
    with `pipe`, in their order, each as its reports count it: `denoise` the denoising steps; stage 2's after the latent
    upsampler (`refined`: its resolved settings, `vidlong.refine.stage_steps`); LTX-2.5's temporal rounds' on the call's
    `made` latent frames (`temporal`: its upsampler's folder, `rounds_steps`) and its diffusion decoder's (`decoder`: its
    folder, `decoder_steps`); none loaded. Sana-WM's refiner's blocks are known at its call alone: not planned."""
    steps = {"denoise": denoise}
    if refined is not None:
        from .refine import stage_steps

        steps["refine"] = stage_steps(refined, 1)[0]
    if temporal is not None:
        from .families.ltx2_temporal import rounds_of, rounds_steps

        steps["temporal refine"] = rounds_steps(pipe.call_num_frames(request, made), pipe.vae_temporal_compression_ratio,
                                                rounds_of(request))
    if decoder is not None:
        from .families.ltx2_decoder import decoder_steps

        steps["diffusion decode"] = decoder_steps(decoder)
    return steps


def _prompt_arguments(pipe, timeline, negative_prompt: str, guided: bool) -> dict:
    """The pipeline's prompt arguments: the prompt itself, or for a timeline every segment's text
    encoding one after another (and the negative prompt's, repeated), for `vidlong.timeline`."""
    if len(timeline) == 1:
        return dict(prompt=timeline[0][1], negative_prompt=negative_prompt or None)
    return pipe.timeline_prompt_arguments([prompt for _, prompt in timeline], negative_prompt, guided)


def steps_of(request: GenerateRequest, spec, latent_frames: int, diagonal=None, every_step: bool = False) -> int:
    """Denoising iterations `generate` reports: the steps (of a redrawn video, those its strength leaves; a pipeline whose
    call runs `every_step` with a video, one that continues or edits it, runs them all), and with diagonal denoising
    those of each timeline segment's own native video (`diagonal_segments`) and one per latent frame past the sink's
    (the native video's first frames; none without a sink)."""
    steps = request.steps or spec.num_inference_steps
    if request.video is not None and not every_step:
        return denoised_steps(steps, DEFAULT_STRENGTH if request.strength is None else request.strength)
    if diagonal is None:
        return steps
    videos = 1 + len(diagonal_segments(request.prompt, spec, latent_frames, diagonal))
    return videos * steps + latent_frames - diagonal.sink_frames


def diagonal_segments(prompt: str, spec, latent_frames: int, diagonal) -> list[int]:
    """The prompt timeline's segments that diagonal denoising makes a native video of before its queue
    starts: those starting past the first native video but inside the queue's first frames, whose
    frames the queue starts from (`vidlong.schedulers.diagonal.queue_segments`)."""
    starts = timeline_latent_starts(parse_prompt_timeline(prompt), spec.fps, spec.temporal_ratio, latent_frames)
    return queue_segments(starts, spec.native_frames, diagonal.span(spec.native_frames))


def segment_seed(seed: int, segment: int) -> int:
    """The seed of a timeline segment's own native video, mixed from (`seed`, `segment`): it shares no
    draws with the run's own noise (`seed`), its queue's (`seed + 1`) or another seed's run."""
    return int(np.random.SeedSequence([int(seed), int(segment)]).generate_state(1)[0])


#: a request's fields that hold videos: the settings record each one's path, or "in memory"
VIDEO_FIELDS = ("video", "pose_video", "face_video", "background_video", "mask_video", "control_video")


def generate_settings(pipe, request: GenerateRequest, methods, latent_frames: int, frames: Optional[np.ndarray], **values) -> dict:
    """The settings a generated video records (JSON-ready): the request's fields (its images and videos as their paths, or
    "in memory"), the model, the length made in `latent_frames` (``ratio``: over the native window; ``pixel_frames``:
    `frames`' count, or those `latent_frames` decode to), the `methods` and the run's own `values` (size, steps, ...)."""
    spec = pipe.spec
    settings = dict(
        dataclasses.asdict(dataclasses.replace(request, reference_images=None, identity=None, camera=None, connector_embeds=None,
                                                     **dict.fromkeys(VIDEO_FIELDS))),
        **pipe.run_settings(), native_frames=spec.native_frames, latent_frames=latent_frames,
        pixel_frames=pixel_frames(latent_frames, spec.temporal_ratio) if frames is None else int(frames.shape[0]),
        ratio=latent_frames / spec.native_frames, ratio_requested=None if request.frames is not None else request.ratio,
        methods=_described(methods), **values)
    settings["seconds"] = round(settings["seconds"], 3)
    settings.pop("frames")
    for name in ("image", "last_image", *VIDEO_FIELDS):
        given = getattr(request, name)
        if has_image(given) and not isinstance(given, (str, os.PathLike)):
            settings[name] = "in memory"
        elif given is not None:
            settings[name] = str(given)
    for name in ("identity", "connector_embeds"):  # a file's path, or tensors given from Python
        given = getattr(request, name)
        if given is not None:
            settings[name] = str(given) if isinstance(given, (str, os.PathLike)) else "in memory"
    if request.camera is not None:
        settings["camera"] = camera_given(request.camera)
    if request.reference_images:
        settings["reference_images"] = [str(image) if isinstance(image, (str, os.PathLike)) else "in memory"
                                         for image in request.reference_images]
    return settings


def _described(methods) -> list[dict]:
    """Method configs as the sidecar records them: each one's class name and fields."""
    return [{"name": type(m).__name__, **dataclasses.asdict(m)} for m in methods]


def generate(pipe, request: GenerateRequest, progress: Optional[Progress] = None, decode: bool = True,
             diagonal: Optional[DiagonalDenoising] = None) -> GenerateResult:
    """Generate the video of `request` with `pipe` (a vidlong pipeline, text- or image-to-video; with a `request.video`,
    video-to-video, through a text-to-video pipeline's `video_to_video` twin where `pipe` is not one; Wan Animate's from its
    driving videos, `vidlong.animate`).

    The request's methods are applied for this call only, even on error; methods the caller applied to
    `pipe` before are set aside for it and put back afterwards.
    `progress(stage, done, total)` is called before the prompt is encoded, as the denoising starts (0 steps done, at a
    transformer's first forward: `vidlong.progress.StepCount.started_by`), after each denoising step (a second stage's
    too; fifo's queue: after each frame it makes) and before each latent frame is decoded; one that raises
    (`vidlong.errors.Stopped`) ends the run there. One with a ``plan`` method is handed the run's stages counted in steps
    before (`planned_steps`).
    With ``decode=False`` the latents come alone (``frames`` None): a caller that decodes them itself (a fifo
    stream's streaming decoder) saves the whole-video decode; a pipeline whose call makes sound too (LTX-2) refuses it.
    `diagonal`: the `DiagonalDenoising` settings of ``method="fifo"`` (default: its defaults).
    """
    from .diagonal import diagonal_latents
    from .hooks import set_aside
    from .parallel import check_parallel_stages, ulysses_degree
    from .pipeline import check_vidlong_pipeline, refuse_offloading
    from .streaming import refuse_call_while_streaming, refuse_diffusers_cache
    from .timeline import apply_prompt_timeline, remove_prompt_timeline  # diffusers' hooks: not before a run
    from .validate import (SEPARATE_REFINER_PIPELINES, SUPER_RESOLUTION_FAMILY, check_generate, limits_for_pipeline,
                           upsampler_folder, video_size)
    from .families.ltx2_decoder import check_decoder
    from .families.ltx2_temporal import check_temporal_refine

    check_vidlong_pipeline(pipe, "generate")
    if not isinstance(request, GenerateRequest):
        raise VidlongError(f"generate takes a vidlong.generate.GenerateRequest, got {type(request).__name__}; e.g. "
                           "generate(pipe, GenerateRequest(prompt=\"a red ball\", ratio=2))")
    if progress is not None and not callable(progress):
        raise VidlongError(f"progress must be a function progress(stage, done, total), got {type(progress).__name__}")
    if not isinstance(decode, bool):  # "no" would read as true
        raise VidlongError(f"decode must be True or False, got {decode!r}")
    refuse_call_while_streaming(pipe)  # before anything is set aside: the paused stream's hooks stay
    if request.video is not None and pipe.continuing_twin():  # its twin's limits check a continued video
        pipe = pipe.video_to_video()
    spec = pipe.spec
    limits = limits_for_pipeline(pipe)
    n_latent = check_generate(request, limits)
    degree = max(ulysses_degree(expert) for expert in pipe.experts())
    if degree > 1:
        from .parallel_split import check_parallel_split

        check_parallel_stages(request)
        check_parallel_split(request, limits, n_latent, degree, pipe.experts()[0].config.num_attention_heads)
    if pipe.makes_audio and not decode:
        raise VidlongError(f"{type(pipe).__name__} decodes its video and its audio in one call: decode=False would leave the "
                           "audio out; drop it")
    upsampler = upsampler_folder(request.upsample, limits)  # its folder (checked by check_generate), or None
    refine = upsampler is not None and bool(request.refine)  # stage 2 after the upsampler (checked by check_generate)
    refiner = None  # Sana-WM's refiner's folder (checked by check_generate): its stage 2, at the same size
    if request.refine and limits.pipeline in SEPARATE_REFINER_PIPELINES:
        from .families.sana_wm_refiner import refiner_folder

        refiner = refiner_folder(request.refine, limits)
    if refine:  # its LoRA read once, against the loaded transformer, before stage 1 runs
        from .lora import LoraFile
        from .refine import lora_modules_of

        refine_lora = None if request.refine_lora is None else LoraFile.parse(request.refine_lora)
        refine_modules = lora_modules_of(pipe, refine_lora, request)
    if upsampler is not None and not decode:
        raise VidlongError(f"{named('upsample')} decodes the upsampled latents: drop decode=False, or {named('upsample')}")
    if refiner is not None and not decode:
        raise VidlongError(f"{named('refine')} decodes the refined latents: drop decode=False, or {named('refine')}")
    decoder = check_decoder(request, limits)  # LTX-2.5's diffusion decoder's folder (checked by check_generate), or None
    temporal = check_temporal_refine(request, limits)  # its temporal latent upsampler's folder (decode=False refused: its sound)
    if pipe.task == "animate":  # its call drives segment after segment from the pose and face videos
        from .animate import animate

        if diagonal is not None or not decode:
            raise VidlongError("a Wan Animate call decodes each segment itself and runs no diagonal denoising: drop "
                               f"{'diagonal=' if diagonal is not None else 'decode=False'}")
        return animate(pipe, request, methods_for(request.method, request.preset), progress)
    if request.video is not None and pipe.task != "v2v":  # a text-to-video pipeline redraws by its twin
        pipe = pipe.video_to_video()
    methods = methods_for(request.method, request.preset)
    if diagonal is not None and not isinstance(diagonal, DiagonalDenoising):
        raise VidlongError(f"diagonal= takes a vidlong.DiagonalDenoising, got {type(diagonal).__name__}")
    if diagonal is not None and diagonal.native_steps is not None:
        raise VidlongError("DiagonalDenoising native_steps sets a fifo stream's native videos; generate's is the request's "
                           f"{named('steps')}: give GenerateRequest(steps={diagonal.native_steps}) and drop native_steps")
    if diagonal is not None and request.method != "fifo":
        raise VidlongError(f"diagonal= sets method fifo's settings; this request's method is {request.method!r}")
    diagonal = next((diagonal or m for m in methods if isinstance(m, DiagonalDenoising)), None)
    if diagonal is not None:  # a sampler: the pipeline makes the native video its queue starts from
        refuse_offloading(pipe, "diagonal denoising (method fifo) and streams", f"use another {named('method')}, or load "
                          "the pipeline without offload")
        refuse_diffusers_cache(pipe, "diagonal denoising (method fifo) and streams")
        methods = ()
    made = spec.native_frames if diagonal is not None else n_latent  # latent frames of the pipeline's own call
    every_step = pipe.continues_video or pipe.edits_video  # a call that takes a video but no strength
    redraw = request.video is not None and not every_step  # else the call continues or edits the video
    total_steps = steps_of(request, spec, n_latent, diagonal, every_step)
    if diagonal is None:  # a call that denoises chunk after chunk reports each chunk's steps
        total_steps = pipe.steps_reported(total_steps, n_latent, methods)
    noise = request.noise or default_noise(request.method, request.preset)
    extra = {name: load_image(getattr(request, name), name) for name in ("image", "last_image") if has_image(getattr(request, name))}
    fps, first_frame = float(spec.fps), extra.get("image")
    if request.video is not None:  # video-to-video: its first frames (all, to continue it), at its aspect unless a size is given
        from PIL import Image

        taken = None if pipe.continues_video else pixel_frames(n_latent, spec.temporal_ratio)  # the rest not decoded
        extra["video"], file_fps = input_video(request.video, taken)
        if redraw:
            extra["strength"] = DEFAULT_STRENGTH if request.strength is None else request.strength
        fps, first_frame = file_fps or fps, Image.fromarray(extra["video"][0])
    if request.control_video is not None:  # a control model's: its length, frame rate and aspect, as a redrawn video's
        from PIL import Image

        first_frame = Image.fromarray(input_video(request.control_video, 1, "control_video")[0][0])
    height, width = video_size(limits, request.height, request.width, first_frame, request.control_video is not None)
    if request.control_video is not None:
        controls, file_fps = control_arguments(request, limits.control, pixel_frames(n_latent, spec.temporal_ratio), height,
                                               width)
        extra, fps = {**extra, **controls}, file_fps or fps
    if request.reference_images:  # Wan VACE: their latent frames lead the grid (its call drops them before decoding)
        extra["reference_images"] = [load_image(image, "reference_images") for image in request.reference_images]
    if request.identity is not None:  # ConsisID's face tensors (checked against its transformer by check_generate)
        extra.update(load_identity(request.identity, limits.identity))
    if request.camera is not None:  # Sana-WM's trajectory (checked against the video's length by check_generate)
        extra.update(read_camera(request.camera, spec.temporal_ratio))
    if request.connector_embeds is not None:  # LTX-2 HDR's text in place of the prompt's (checked by check_generate)
        from .hdr_request import read_connector_embeds

        extra.update(read_connector_embeds(request.connector_embeds).arguments())
    steps = request.steps or spec.num_inference_steps
    switch = method_switch(request.method, steps, request.preset)
    skipped = steps - total_steps if redraw else 0  # a video-to-video call starts that far in
    if switch is not None and switch[0] <= skipped:  # the methods after the switch from the start
        methods, switch = switch[1], None
    guidance, guidance_2 = resolve_guidance(spec, request.guidance, request.guidance_2)
    if request.connector_embeds is not None:  # one sample's text: unguided (a guidance above 1 refused by check_generate)
        guidance = 1.0
    if refine:  # stage 2's settings, resolved before stage 1 runs
        from .refine import refine_settings

        refined = refine_settings(limits.family, request.refine_steps, request.refine_strength, guidance, refine_lora)

    generator = torch.Generator().manual_seed(int(request.seed))  # a NumPy integer too
    geometry = pipe.geometry()
    leading = len(extra.get("reference_images", ()))
    grid = (pipe.noise_frames(made) + leading, height // geometry.spatial, width // geometry.spatial)
    before_image = generator.get_state()
    condition = None  # the image condition of a fifo queue's windows, or of the start latents (LTX-Video)
    if "image" in extra and pipe.image_in_start_latents:  # the image's latent drawn before the noise, as its call draws them
        condition = pipe.image_condition(extra["image"], height, width, spec.native_frames, generator)
    before_noise = generator.get_state()
    pipe.draws_before_noise(extra, (1, geometry.channels, *grid), generator)
    latents = pipe.start_noise(noise, (1, geometry.channels, *grid), spec.native_frames, generator)
    if condition is not None:
        latents = condition.first_frame(latents)

    final = {}

    def on_step(_pipe, step, _t, kwargs):
        final["latents"] = pipe.loop_latents(kwargs["latents"], *grid)[:, :, -made:]
        if switch is not None and skipped + step + 1 == switch[0]:
            pipe.remove()
            pipe.apply(*switch[1])
        denoising.step()  # the call's steps so far: its step counter starts again each chunk of a chunked call (Helios)
        return {}

    def report(stage: str, done: int, total: int) -> None:
        if progress is not None:
            progress(stage, done, total)

    denoising = StepCount("denoise", total_steps, report)  # 0 done as the call's first forward starts, not at its first step's end

    if len(pipe.experts()) == 2:
        extra["guidance_scale_2"] = guidance_2
    if pipe.seed_argument is not None:  # a call that seeds its own draws from an integer too
        extra[pipe.seed_argument] = int(request.seed)
    extra.update(pipe.generate_arguments(steps))

    planned = planned_steps(pipe, request, total_steps, made, temporal, decoder, refined if refine else None)
    if callable(getattr(progress, "plan", None)):  # a bar over the whole run (`vidlong.progress.RunBar`): its total first
        progress.plan(planned)
    start = time.perf_counter()
    report("encode prompt", 0, 1)
    timeline = parse_prompt_timeline(request.prompt)
    starts = timeline_latent_starts(timeline, fps, spec.temporal_ratio, n_latent)  # a redrawn video's seconds
    native_segments = sum(1 for start in starts if start < made)  # in the pipeline's own call: all, but for fifo's native video
    guided = max(guidance, guidance_2) > 1
    prompts = _prompt_arguments(pipe, timeline[:native_segments], request.negative_prompt, guided)
    decoding = _DecodeProgress(pipe.vae, n_latent, report)
    chunked = pipe.decodes_in_chunks()  # Wan: decode a few latent frames at a time, straight to uint8

    def native_video(prompt_arguments: dict, initial: torch.Tensor, noise_generator, callback, output_type: str,
                     first_draw: torch.Tensor):
        """The pipeline's own call over `made` latent frames from `initial` noise ``[1, C, f, h, w]``, drawn from
        `noise_generator` (its state `first_draw` before the draws the call makes again: its noise, or its image's
        latent and noise)."""
        if pipe.call_redraws_from is not None:  # its call draws them even when given latents: it starts there
            noise_generator = torch.Generator().set_state(first_draw)
        output = pipe(
            **prompt_arguments, height=height, width=width,
            num_frames=pipe.call_num_frames(request, made), num_inference_steps=steps,
            guidance_scale=guidance, latents=pipe.call_latents(initial.to(pipe.device, pipe.experts()[0].dtype)),
            output_type=output_type, callback_on_step_end=callback,
            generator=noise_generator, **extra,  # after the initial noise: stochastic samplers (CogVideoX's DPM) draw from it
        )
        final.setdefault("audio", pipe.soundtrack(output))  # the whole video's (LTX-2), where there is one
        if output_type == "latent" and pipe.makes_audio:  # its sound's latents, for a refine pass (LTX-2's, de-normalised)
            final["audio_latents"] = output.audio
        if output_type == "latent" and temporal is not None:  # LTX-2.5's whole latent output: its canvas, keyframes, sound
            final["dfr_output"] = output
        return pipe.batched_frames(output.frames)

    try:
        with set_aside(pipe.experts()):  # this call's methods only; those the caller applied come back after
            pipe.apply(*methods)
            if native_segments > 1:
                for transformer in pipe.experts():
                    apply_prompt_timeline(transformer, starts[:native_segments], prompts["prompt_embeds"].shape[1] // native_segments)
            # fifo's queue starts from the native video's latents; an upsampled video is decoded at its new size alone (where
            # the call makes sound too, LTX-2's, it decodes both: its video is dropped; but a refined one's sound is stage 2's)
            as_latents = (chunked or diagonal is not None or not decode or refiner is not None or decoder is not None
                          or temporal is not None or (upsampler is not None and (refine or not pipe.makes_audio)))
            with pipe.segmented_text(native_segments), denoising.started_by(pipe.experts()):
                video = native_video(prompts, latents, generator, on_step, "latent" if as_latents else "np",
                                     before_image if pipe.call_redraws_from == "image" else before_noise)
            if as_latents and not (refine and pipe.makes_audio) and decoder is None and temporal is None:  # its final latents
                video = final["latents"] = pipe.grid_latents(video, *grid)[:, :, -made:]  # (TI2V's image in frame 0)
            if temporal is not None:  # LTX-2.5's temporal rounds on its call's latent output, the methods still applied
                from .families.ltx2_condition import image_conditions
                from .families.ltx2_temporal import made_frames, rounds_of, temporal_rounds

                rounds, frames_made = rounds_of(request), pipe.call_num_frames(request, made)
                images = image_conditions(None, extra.get("image"), extra.get("last_image"),
                                          pipe.last_image_index(dict(num_frames=frames_made)))
                call = dict(prompt=prompts["prompt"], height=height, width=width, num_frames=frames_made, frame_rate=spec.fps,
                            conditions=images or None)
                video = temporal_rounds(pipe, final["dfr_output"], temporal, rounds, call, request.seed,
                                        StepCount("temporal refine", planned["temporal refine"], report))
                frames_made, fps = made_frames(frames_made, rounds), float(spec.fps) * 2 ** rounds
            if refine:  # stage 2 at the upsampled size, the methods still applied (`vidlong.refine`)
                from .refine import refined_video

                call = dict(height=height, width=width, num_frames=pipe.call_num_frames(request, made), frame_rate=spec.fps,
                            **({"image": extra["image"]} if "image" in extra else {}))
                with pipe.segmented_text(native_segments):
                    frames, output = refined_video(pipe, final["latents"], final.get("audio_latents"), upsampler, prompts, call,
                                                   refined, request.seed, refine_modules,
                                                   lambda done, total: report("refine", done, total),
                                                   tuple(prompt for _, prompt in timeline[:native_segments]), request.negative_prompt)
                final["audio"] = pipe.soundtrack(output)
            if refiner is not None:  # Sana-WM's refiner on the video's latents (`vidlong.families.sana_wm_refiner`)
                from .families.sana_wm_refiner import refined_video as refiner_video, refiner_settings

                refined = refiner_settings(refiner)
                video = refiner_video(pipe, final["latents"], refiner, request.prompt, fps, request.seed,
                                      lambda done, total: report("refine", done, total))
            if diagonal is not None:
                for transformer in pipe.experts():  # the queue sets its own timeline per window
                    remove_prompt_timeline(transformer)
                if "image" in extra and condition is None:
                    condition = pipe.image_condition(extra["image"], height, width, spec.native_frames, latent=video[:, :, :1])
                pieces = [(0, video)]  # (first latent frame, native video) the queue starts from
                for count, segment in enumerate(queue_segments(starts, made, diagonal.span(made)), start=1):
                    segment_noise = torch.Generator().manual_seed(segment_seed(request.seed, segment))
                    segment_start = segment_noise.get_state()
                    pieces.append((starts[segment], pipe.grid_latents(native_video(
                        _prompt_arguments(pipe, timeline[segment:segment + 1], request.negative_prompt, guided),
                        initial_noise(noise, latents.shape, spec.native_frames, segment_noise), segment_noise,
                        lambda _p, step, _t, _k, done=count * steps: report("denoise", done + step + 1, total_steps) or {}, "latent",
                        segment_start), *grid)))
                steps_before_queue = len(pieces) * steps
                first = queue_source(pieces, diagonal.span(made)) if len(pieces) > 1 else video
                video = diagonal_latents(pipe, first, request.prompt, n_latent, diagonal, request.negative_prompt,
                                         (guidance, guidance_2), request.seed, condition,
                                         on_frame=lambda done: report("denoise", steps_before_queue + done, total_steps))
                final["latents"] = video
        if not as_latents:  # the pipeline decoded its own call
            if pipe.decoded_latents() is not None:
                final["latents"] = pipe.decoded_latents()
            if pipe.makes_hdr:  # linear light: kept, and tone-mapped for the mp4
                final["hdr"] = video[0]
                frames = tone_mapped_uint8(video[0])
            else:
                frames = rounded_uint8(video[0])
            if pipe.continues_video:  # the input's frames, then the new ones: not its last frames decoded once more
                frames = pipe.continued_frames(extra["video"], frames)
        elif decoder is not None:  # its de-normalised latents and audio latents: LTX-2.5's diffusion decoder, its sound
            from .families.ltx2_decoder import decoded_video

            frames, final["audio"], decoder_pass = decoded_video(
                pipe, video, final["audio_latents"], decoder, pipe.call_num_frames(request, made), spec.fps, request.seed,
                StepCount("diffusion decode", planned["diffusion decode"], report))
        elif temporal is not None:  # the last round's canvas cut to the video, decoded by the VAE; the sound
            from .families.ltx2_temporal import temporal_frames

            frames, final["audio"], final["latents"] = temporal_frames(pipe, video, frames_made, fps)
        elif refiner is not None:  # decoded by `refiner_video`
            from .video_io import uint8_frames

            frames = uint8_frames(video)
        elif not refine:
            frames = pipe.decode_uint8(video) if decode and upsampler is None else None
        if upsampler is not None and limits.family == SUPER_RESOLUTION_FAMILY:  # its frames through its video super-resolution
            from .families.kandinsky6_sr import sr_frames

            frames, sr_pass = sr_frames(pipe, frames, upsampler, request.upsample_scale, request.seed,
                                        lambda done, total: report("upsample", done, total))
        elif upsampler is not None and not refine:  # the whole video's latents, upsampled and decoded (`vidlong.upsample`)
            from .upsample import upsampled_frames

            frames = upsampled_frames(pipe, final["latents"], upsampler, height, width, request.seed)
    finally:
        decoding.remove()
        for transformer in pipe.experts():
            remove_prompt_timeline(transformer)
        pipe.clear_vae_cache()
    report("decode", n_latent, n_latent)
    settings = generate_settings(
        pipe, request, methods if diagonal is None else (diagonal,), n_latent, frames, height=height, width=width, steps=steps,
        guidance=guidance, guidance_2=guidance_2 if len(pipe.experts()) == 2 else None, noise=noise, fps=fps,
        methods_after_step=None if switch is None else dict(step=switch[0], methods=_described(switch[1])),
        seconds=time.perf_counter() - start,
        timeline=[dict(second=second, prompt=prompt, latent_frame=frame) for (second, prompt), frame in zip(timeline, starts)]
        if len(timeline) > 1 else None,
    )
    if redraw:
        settings["strength"] = extra["strength"]
    if upsampler is not None:  # the made size stays height and width
        settings.update(upsample=str(upsampler), upsampled_height=int(frames.shape[1]), upsampled_width=int(frames.shape[2]))
        if limits.family == SUPER_RESOLUTION_FAMILY:  # its video super-resolution's own settings, resolved
            settings["upsample_pass"] = sr_pass
    if decoder is not None:  # the folder that decoded it and its run's settings
        settings.update(decoder=str(decoder), decoder_pass=decoder_pass)
    if temporal is not None:  # its upsampler's folder and its rounds (``fps``: the doubled rate the video runs at)
        settings.update(temporal_refine=str(temporal), temporal_rounds=rounds)
    if refine or refiner is not None:  # stage 2's own settings, resolved
        settings["refine_pass"] = refined
    if request.camera is None and limits.pipeline in CAMERA_PIPELINES:  # the camera vidlong gave its call (Sana-WM's)
        settings["camera"] = default_camera_text(pipe.call_num_frames(request, made), *extra["image"].size)
    latents_out = final.get("latents")
    return GenerateResult(frames=frames, settings=settings, latents=None if latents_out is None else latents_out.float().cpu(),
                          audio=final.get("audio"), hdr=final.get("hdr"))
