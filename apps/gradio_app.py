"""The vidlong Gradio app: generate, compare methods side by side, or stream live, on one model.

    from vidlong.apps.gradio_app import build_app, launch
    launch(model="path/to/wan_folder")          # or `vidlong app --model path/to/wan_folder`

Every run is a stoppable job (`vidlong.apps.jobs`): Stop, a client's cancel or a closed tab ends it at
its next denoising step (a stream keeps a playable mp4 of the chunks it made). The progress bar
names the stage (encode prompt, denoise, decode, write) with an ETA. Outputs go to a history gallery
(click one to reload its settings; each has its settings as a downloadable .json).

Two named API endpoints for `gradio_client`, whose errors are one-line `AppError`s::

    Client(url).predict(prompt="a red circle", method="both", ratio=2, api_name="/generate")  # (mp4, settings)
    Client(url).submit(prompt="a red circle", seconds=4, api_name="/stream")               # live clips, then the mp4

Only one run computes at a time (events queue on one worker, and a lock guards the pipeline). On a Lucy Edit folder
the page edits an uploaded video, which both tabs require: Generate in one call, Stream chunk by chunk (no strength). On a
ChronoEdit folder it edits an uploaded image: Generate shows the edit (its video's last frame) and its PNG, and /generate
returns that PNG third: ``(mp4, settings, png)``. On an LTX-2 HDR IC-LoRA folder (`LTX2HDRPipeline`) Generate follows an
uploaded SDR video, its text the prompt or uploaded connector embeddings (a .safetensors of video_context and audio_context,
whose upload sets Guidance to 1: unguided; /generate's guidance=1 with them), shows the tone-mapped mp4 and offers its
linear HDR frames as a download (float16 ``[T, H, W, 3]`` in a .hdr.npy beside the mp4, as `vidlong generate` writes
them), which /generate returns third: ``(mp4, settings, npy)``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import errno
import html
import logging
import os
import queue
import re
import secrets
import socket
import threading
import time
from collections import deque
from pathlib import Path
from typing import Iterator, Optional, Union

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local tool

import gradio as gr  # noqa: E402

from vidlong.apps import fields  # noqa: E402
from vidlong.apps.jobs import Job, Jobs, StageProgress, duration_text, in_worker  # noqa: E402
from vidlong.apps.outputs import History, Output, OutputFolder, gradio_cache_folder  # noqa: E402
from vidlong.attention.adapters import adapter_named  # noqa: E402
from vidlong.errors import Stopped, VidlongError, named  # noqa: E402
from vidlong.estimate import Pace, check_fits, check_stream_fits, run_cost, together, upsampled_text  # noqa: E402
from vidlong.edited_image import edited_image_path, write_edited_image  # noqa: E402
from vidlong.families.ltx2_decoder import decoder_folder  # noqa: E402
from vidlong.families.ltx2_temporal import made_frames, temporal_upsampler_folder  # noqa: E402
from vidlong.families.sana_wm_refiner import check_refiner  # noqa: E402
from vidlong.generate import GenerateRequest, generate, load_image  # noqa: E402
from vidlong.hdr_video import hdr_path, write_hdr  # noqa: E402
from vidlong.camera import CAMERA_PIPELINES  # noqa: E402
from vidlong.identity import stream_identity  # noqa: E402
from vidlong.methods import (METHOD_NAMES, STREAM_CONTEXTS, WINDOW_CONTEXTS, Streaming, load_preset,  # noqa: E402
                             methods_for, model_streaming, preset_names)
from vidlong.method_names import NOISE_KINDS  # noqa: E402
from vidlong.panels import side_by_side  # noqa: E402
from vidlong.progress import step_status  # noqa: E402
from vidlong.fifo_stream import DiagonalStreamer, chunk_layout  # noqa: E402
from vidlong.methods import DiagonalDenoising, diagonal_of  # noqa: E402
from vidlong.schedulers.stream import one_prompt_text, stream_chunk_count  # noqa: E402
from vidlong.streaming import StreamSampling, VideoStreamer, held_frames, held_sound, resolve_context  # noqa: E402
from vidlong.families.kandinsky6_sr import call_default as sr_call_default  # noqa: E402
from vidlong.upsample import spatial_scale  # noqa: E402
from vidlong.validate import (MAX_GUIDANCE, MAX_SECONDS, MAX_SEED, MAX_STEPS, call_pixel_count, check_diagonal,  # noqa: E402
                              check_diagonal_stream, check_generate, check_methods_run, check_not_redrawing, check_seed,
                              check_streams, check_upsample, limits_for_pipeline, REFINE_PIPELINES,
                              DFR_PIPELINES, SEPARATE_REFINER_PIPELINES, SUPER_RESOLUTION_FAMILY, streams, video_size)
from vidlong.video_io import StreamingVideoWriter, write_video  # noqa: E402
from vidlong.extend import count_input_frames, input_frame_size  # noqa: E402
from vidlong.animate import ANIMATE_VIDEOS  # noqa: E402
from vidlong.video_to_video import DEFAULT_STRENGTH, frame_count, stream_redraws, video_fps  # noqa: E402

log = logging.getLogger(__name__)

#: The dropdown value meaning "no preset" / "the preset's noise" / "the model's stream context".
NO_PRESET = "none"
AUTO = "auto"
#: seconds of the newest frames a stream's live view shows
LIVE_SECONDS = 4.0
#: what an image field takes, as its refusal says
IMAGE_FILE = "an image file (PNG, JPEG, WebP)"
#: the Stream tab's methods: chunk by chunk (`VideoStreamer`), or diagonal denoising (`DiagonalStreamer`, Wan, LTX-Video)
STREAM_METHODS = ("chunked", "fifo")
#: the Stream tab's fields, in the order its handler and `App.streamer` take them
STREAM_FIELDS = ("prompt", "timeline", "seconds", "chunk", "context", "recache", "steps", "guidance", "seed", "image", "method",
                 "cut", "partition_guidance", "noise_correlation", "video", "strength", "extend_video", "control_video",
                 "identity", "upsample", "decoder", "temporal_refine")
#: the fifo method's fields in both tabs, as messages name them: guidance by partition (as written, "4.5,6,7.5") and
#: noise correlation (up to `MAX_NOISE_CORRELATION`; `DiagonalDenoising` takes up to, not including, 1)
FIFO_FIELDS = ("Guidance by partition", "Noise correlation")
MAX_NOISE_CORRELATION = 0.95
#: methods one comparison may render
COMPARE_MIN, COMPARE_MAX = 2, 4

#: The control models' names on the "Follow a control video" accordion, by `ModelLimits.control`
CONTROL_PAGE_NAMES = {"vace": "Wan VACE", "fun": "CogVideoX-Fun", "transfer": "Cosmos-Transfer2.5", "in-context": "LTX-2 IC-LoRA",
                      "hdr": "LTX-2 HDR IC-LoRA"}
#: The control video field's label on that accordion, LTX-2 IC-LoRA's its reference video (`ModelLimits.control`)
CONTROL_VIDEO_LABEL = ("Control video (depth, pose, edges, or frames to keep): the video has its length (the Length field is "
                       "not used), frame rate and aspect")
REFERENCE_VIDEO_LABEL = ("Reference video (IC-LoRA: a pose, depth or edge video, as its LoRA was trained): the video has its "
                         "length (the Length field is not used), frame rate and aspect")
#: an LTX-2 HDR IC-LoRA page's (`App.makes_hdr`): its SDR video's label on that accordion, the upload of the HDR LoRA's
#: connector embeddings (`GenerateRequest.connector_embeds`) and the download of its linear HDR frames (`vidlong.hdr_video`)
SDR_VIDEO_LABEL = ("SDR video (the HDR IC-LoRA makes it linear HDR): the video has its length (the Length field is not used), "
                   "frame rate and aspect")
CONNECTOR_EMBEDS_LABEL = ("Connector embeddings (optional; the HDR LoRA's .safetensors of video_context and audio_context: its "
                          "text in the prompt's place, unguided, Guidance set to 1; the prompt may then be empty)")
HDR_FILE_LABEL = "Linear HDR frames (.hdr.npy: float16 [frames, height, width, 3], numpy.load; the video is their tone map)"

#: One phrase per method name, for the method control's help line (names not listed show bare).
METHOD_HELP = {
    "none": "the stock model, just longer",
    "direct": "baseline, the same as none",
    "ultravico": "UltraViCo attention decay",
    "freelong": "FreeLong++ spectral fusion",
    "both": "UltraViCo + FreeLong++",
    "both-global": "UltraViCo in FreeLong++'s global branch only",
    "freelong-anchored": "FreeLong++, local windows also see the first frames",
    "both-anchored": "UltraViCo + FreeLong++, local windows also see the first frames",
    "freelong-sinks": "FreeLong++, local windows see the first frames just before them, as a stream's sinks",
    "both-sinks": "UltraViCo (global branch) + FreeLong++ with sinks before each local window",
    "riflex": "RIFLEx baseline (RoPE frequency)",
    "window": "sliding-window attention baseline",
    "window-sinks": "a stream's attention in one pass: a window plus the first frames as sinks",
    "both-then-window": "UltraViCo + FreeLong++ for the first half of the steps, then the sliding window",
    "fifo": "diagonal denoising (FIFO-Diffusion) with a sink: native windows only, any length (Wan, LTX-Video)",
}

#: the `GenerateRequest` fields of the Generate tab's panel of inputs that drive a model (Wan Animate's four videos, Wan
#: VACE's mask and control video and its reference images), in the API's order
DRIVING_FIELDS = (*ANIMATE_VIDEOS, "control_video", "reference_images")

#: the Length slider's range (multiples of the native window)
LENGTH_RANGE = (1, 8)

#: the form fields a generation's settings reload into (settings key per field, in the page's order)
FORM_FIELDS = ("prompt", "method", "preset", "ratio", "steps", "guidance", "seed", "noise", "negative_prompt",
               "height", "width", "partition_guidance", "noise_correlation")
#: the Stream tab's fields its method shows or hides (`App.method_fields`), in its order
STREAM_METHOD_FIELDS = ("chunk", "context", "steps", "recache", "cut", "guidance", "partition_guidance", "noise_correlation")
#: the Stream tab's fields a stream's (or a continuation's) settings reload into (`App.stream_form`); of its uploads, the
#: first-frame image alone is refilled (`_image_update`), as of a generation's the first and last frames alone are
STREAM_FORM_FIELDS = ("prompt", "timeline", "seconds", "method", "seed", *STREAM_METHOD_FIELDS)


#: the image field's label on a page whose model edits the image (ChronoEdit: `App.edits_image`)
EDITED_IMAGE_LABEL = "Image to edit (its video runs from it to the edit, its last frame)"

#: the label of the face identity file a ConsisID transformer with ``is_train_face`` needs (`vidlong.identity`), on both tabs
IDENTITY_LABEL = "Face identity"
#: the label of the camera file a Sana-WM page takes (`vidlong.camera`: the JSON of vidlong generate --camera), on Generate
CAMERA_LABEL = "Camera"
#: the label of the box beside an LTX-Video or LTX-2 page's upsample box ("Upsample 2x", `App.upsample_label`) where its
#: pipeline has stage 2 in vidlong (`vidlong.validate.REFINE_PIPELINES`), or alone on a Sana-WM page whose folder has its
#: refiner (`App.refines`)
REFINE_LABEL = "Refine"
#: the label of the box of an LTX-2 or LTX-2.5 page served with ``vidlong app --decoder FOLDER`` (`App.decodes`): the video's
#: latents decoded by LTX-2.5's diffusion decoder instead of the VAE
DECODER_LABEL = "Diffusion decoder"
#: the label of the control of an LTX-2.5 page served with ``vidlong app --temporal-refine FOLDER`` (`App.temporal_refines`):
#: its temporal refine rounds after the DFR pass, and its choices, (label, rounds: 0 off) as /generate's `temporal_refine`
TEMPORAL_LABEL = "Temporal refine"
TEMPORAL_CHOICES = [("off", 0), ("1 round (2x frames and fps)", 1), ("2 rounds (4x)", 2)]

#: the command lines and arguments that shared refusals point to for a video or a first frame, as the page's places that do
#: the same (the command's flags would otherwise lose their dashes with the fields' names: "vidlong extend video")
APP_PLACES = {
    "vidlong extend --video": 'the Stream tab\'s "Continue a video" (/stream\'s extend_video)',
    "vidlong stream --video": 'the Stream tab\'s "Redraw a video, chunk by chunk" (/stream\'s video)',
    "vidlong generate --video": 'the Generate tab\'s "Redraw a video" (/generate\'s video)',
    "vidlong stream --image": 'the Stream tab from a first frame (/stream\'s image)',
    "vidlong generate --image": 'the "First frame (image-to-video)" field (/generate\'s image)',
    "image (--image) start.png": 'the "First frame (image-to-video)" field (the API\'s image)',
    "identity (--identity) face_id.pt": f'the "{IDENTITY_LABEL}" file (the API\'s identity)',
    "upsample (--upsample) path/to/upsampler": "serve the page with vidlong app --upsample FOLDER",
    "refine (--refine) path/to/SANA-WM-refiner": "serve the page with vidlong app --refine FOLDER",
    "decoder (--decoder) path/to/decoder": "serve the page with vidlong app --decoder FOLDER",
    "temporal_refine (--temporal-refine) path/to/temporal-upsampler": "serve the page with vidlong app --temporal-refine FOLDER",
}
#: the places of a page whose model edits a given video (Lucy Edit: `ModelLimits.edits`), its video fields' titles
EDIT_PLACES = dict(APP_PLACES, **{
    "vidlong stream --video": 'the Stream tab\'s "Edit a video, chunk by chunk" (/stream\'s video)',
    "vidlong generate --video": 'the Generate tab\'s "Edit a video" (/generate\'s video)',
})


def box_places(upsample_label: Optional[str], refines: bool, decodes: bool = False, temporal: bool = False) -> dict:
    """The places of a page's upsample box (labelled `upsample_label`; None where the page shows none), "Refine" box
    (where `refines`), "Diffusion decoder" box (where `decodes`) and "Temporal refine" control (where `temporal`): their
    fields, as shared refusals name them ("refine (--refine) ... add upsample (--upsample)"), by the boxes' labels in
    quotes."""
    return {**({"upsample (--upsample)": f'"{upsample_label}"'} if upsample_label else {}),
            **({"refine (--refine)": f'"{REFINE_LABEL}"'} if refines else {}),
            **({"decoder (--decoder)": f'"{DECODER_LABEL}"'} if decodes else {}),
            **({"temporal_refine (--temporal-refine)": f'"{TEMPORAL_LABEL}"'} if temporal else {})}


def _user_message(err: Exception, places: dict = APP_PLACES) -> str:
    """One line for the user, naming fields as the page does ("height", not the CLI's "--height" or the
    Python "height (--height)", `vidlong.errors.named`), a command line's way with a video (and the file it names)
    as the page's place that does the same (`places`: `APP_PLACES`, or a video-editing page's `EDIT_PLACES`), and an
    uploaded file by its name (not its path in the server's Gradio cache)."""
    text = str(err).strip().splitlines()
    commands = "|".join(re.escape(command) for command in places)
    file = r"(?: [^\s()`;,]+\.[A-Za-z0-9]{2,4}\b)?"  # the command's file (in.mp4, an upload's path): the place holds it
    text = [re.sub(fr"`?({commands})`?{file}", lambda m: places[m.group(1)], text[0])] if text else text
    line = re.sub(r"\b([a-z][a-z0-9_]*) \(--[a-z0-9-]+\)", lambda m: m.group(1).replace("_", " "),
                  text[0] if text else type(err).__name__)
    line = re.sub(re.escape(str(gradio_cache_folder())) + r"/\S*/([^/\s]+)", r"\1", line)
    # a flag of vidlong app itself (how to serve the page) keeps its dashes
    return re.sub(r"(?<!vidlong app )--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)", lambda m: m.group(1).replace("-", " "), line)


def _one_line(err: BaseException, places: dict = APP_PLACES) -> str:
    """The user's line for any failure: a `VidlongError`'s message, else the exception's type and first line."""
    line = _user_message(err, places)
    return line if isinstance(err, VidlongError) else f"{type(err).__name__}: {line}"


def _as_app_error(err: Exception, places: dict = APP_PLACES) -> gr.Error:
    """The one-line `gr.Error` of any failure (a traceback goes to the server log for unexpected ones)."""
    if isinstance(err, gr.Error):
        return err
    if not isinstance(err, VidlongError):
        log.error("run failed", exc_info=err)
    return gr.Error(_one_line(err, places), print_exception=False)


def _toast(error: gr.Error) -> None:
    """A warning toast of `error` on the page (which renders HTML: markup escaped, quotes kept)."""
    gr.Warning(html.escape(error.message, quote=False))


def _seed(value) -> int:
    """The seed to use: the field's, or a random one for an empty field or -1 (the dice); one line for another (the
    field's own range, -1 included)."""
    if value is None or int(value) == -1:
        return secrets.randbelow(2**31)
    if not -1 <= int(value) <= MAX_SEED:
        raise VidlongError(f"Seed must be -1 (a random seed) or a whole number from 0 to {MAX_SEED}, got {value}")
    return int(value)


def _session(request: Optional[gr.Request]) -> str:
    return getattr(request, "session_hash", None) or "no-session"


def _caption(settings: dict) -> str:
    methods = settings.get("compared") or [settings.get("method") or settings.get("command", "stream")]
    length = f"{settings['pixel_frames'] / settings['fps']:.1f} s" if settings.get("fps") else ""
    return f"{' | '.join(methods)} · {length} · seed {settings.get('seed')} · {settings.get('prompt', '')[:40]}"


def _request_of(prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width,
                image=None, last_image=None, video=None, strength=None, *inputs, upsampler=True,
                refiner=True, decoder=True, temporal=True) -> GenerateRequest:
    """The page's fields as a `GenerateRequest` (unchecked); the dropdowns' "none"/"auto" and empty
    numbers are the model's defaults; with a `video` to redraw (or a control video), the video sets the length (the length
    field is not used); `inputs`: the `DRIVING_FIELDS` (uploaded files, or empty), then Wan Animate's segment overlap (1, 5,
    or empty), then ConsisID's face identity file (or empty), then Sana-WM's camera file (or empty: vidlong's default), then
    the "Upsample 2x" box, which ticked (True) gives the request's `upsample` the page's `upsampler` (`App.upsampler`), then
    the "Refine" box (the request's `refine`: stage 2 after the upsampler, `vidlong.refine`; on a Sana-WM page, its refiner,
    `vidlong.families.sana_wm_refiner`: ticked, the page's `refiner`, `App.refiner_folder`: True for the one beside the model
    folder or inside it, or a folder's path), then the "Diffusion decoder" box, which ticked gives the request's `decoder` the
    page's `decoder` (`App.decoder`: the folder ``vidlong app --decoder`` named, else True, refused in one line), then the
    "Temporal refine" control's rounds (0: off), which set the request's `temporal_rounds` and give its `temporal_refine` the
    page's `temporal` (`App.temporal_folder`: the folder ``vidlong app --temporal-refine`` named, else True, refused in one
    line), then LTX-2 HDR's connector embeddings file (or empty: its call encodes the prompt)."""
    given = dict(zip((*DRIVING_FIELDS, "segment_overlap", "identity", "camera", "upsample", "refine", "decoder",
                      "temporal_refine", "connector_embeds"), inputs))
    rounds = given.get("temporal_refine")
    driving = {name: _uploaded_path(given.get(name)) for name in DRIVING_FIELDS[:-1]}
    references = given.get("reference_images")
    driving["reference_images"] = [_uploaded_path(file) for file in references] if references else None
    overlap = given.get("segment_overlap")
    driving["segment_overlap"] = None if overlap in (None, "") else int(overlap)
    if video or driving.get("control_video"):
        ratio = 1.0
    if ratio is None:
        raise VidlongError("Length is empty; set a multiple of the native window, e.g. 2")
    return GenerateRequest(
        prompt=prompt or "", method=method, preset=None if preset in (None, "", NO_PRESET) else preset,
        ratio=float(ratio), steps=None if steps is None else int(steps),
        guidance=None if guidance is None else float(guidance), seed=_seed(seed),
        noise=None if noise in (None, "", AUTO) else noise, negative_prompt=negative_prompt or "",
        height=None if height is None else int(height), width=None if width is None else int(width),
        image=image or None, last_image=last_image or None, video=video or None,
        strength=None if not video or strength is None else float(strength),
        identity=_uploaded_path(given.get("identity")), camera=_uploaded_path(given.get("camera")),
        upsample=upsampler if given.get("upsample") is True else None,
        refine=refiner if given.get("refine") is True else False,
        decoder=decoder if given.get("decoder") is True else None,
        temporal_refine=temporal if rounds else None, temporal_rounds=rounds or None,
        connector_embeds=_uploaded_path(given.get("connector_embeds")), **driving,
    )


def _uploaded_path(value) -> Optional[str]:
    """The file of a video or file field as the page sends it unprocessed (Gradio's file data ``{"path": ...}``, or one inside
    ``{"video": ...}``) or processed (a path); None when empty."""
    if isinstance(value, dict):
        value = value.get("video", value)
        value = value.get("path") if isinstance(value, dict) else value
    return value or None


def _diagonal_of(methods, partition_guidance: Optional[str], noise_correlation: Optional[float],
                 cut: bool = False) -> Optional[DiagonalDenoising]:
    """The fifo method's `DiagonalDenoising` of the page's fields (`FIFO_FIELDS`: guidance by partition as written,
    empty for the run's guidance at every level, and noise correlation), or None where no method of `methods` is
    fifo, which refuses either field set (the page hides them and puts them back to their defaults)."""
    text = (partition_guidance or "").strip() or None
    if "fifo" not in methods:
        given = [name for name, value in zip(FIFO_FIELDS, (text, noise_correlation)) if value]
        if given:
            raise VidlongError(f"{given[0]} is an option of the fifo method: clear it, or pick method fifo")
        return None
    return diagonal_of(text, noise_correlation, cut, names=FIFO_FIELDS)


def _fifo_fields(method: str) -> list:
    """Updates of the fifo method's two fields: shown for "fifo", else hidden and back at their defaults."""
    fifo = method == "fifo"
    return [gr.update(visible=True) if fifo else gr.update(visible=False, value=default) for default in ("", 0)]


def _fifo_values(diagonal: dict) -> dict:
    """The fifo fields as the page shows them, from the `DiagonalDenoising` a generation's settings record (or a fifo
    stream's ``streaming``; empty for another method): guidance by partition as written ("4.5,6,7.5"; empty: none) and
    noise correlation (0 for another method)."""
    return dict(partition_guidance=",".join(f"{g:g}" for g in diagonal.get("guidance_by_partition") or ()),
                noise_correlation=diagonal.get("noise_correlation", 0))


def _fifo_inputs(prefix: str = "") -> tuple:
    """The fifo method's two fields (`FIFO_FIELDS`) in a row, hidden until the method is fifo; their element ids
    start with `prefix`."""
    with gr.Row():
        partition = gr.Textbox("", label=FIFO_FIELDS[0], placeholder="4.5,6,7.5", visible=False,
                               elem_id=f"{prefix}partition-guidance",
                               info=f"fifo: {DiagonalDenoising().partitions} guidance scales, one per partition of the queue, "
                                    "cleanest first; empty: Guidance at every level. On the default model Guidance 4.5 with "
                                    "4.5,6,7.5 kept the most prompted objects")
        correlation = fields.Slider(0, MAX_NOISE_CORRELATION, value=0, step=0.05, label=FIFO_FIELDS[1], visible=False,
                                    elem_id=f"{prefix}noise-correlation",
                                    info="fifo: each frame joining the queue starts from noise correlated by this with the "
                                         "frame before it; 0: independent. 0.5 kept more objects at 4x-8x, with less motion")
    return partition, correlation


class App:
    """The page's handlers around one pipeline: one run computes at a time (`lock`); each page session
    has at most one job (`jobs`); outputs land in `folder` and `history`; `upsample`: the latent upsampler's folder
    ``vidlong app --upsample`` gave (checked), else None; `refine`: Sana-WM's refiner's folder ``vidlong app --refine`` gave
    (checked: `app_refiner`), else None; `decoder`: LTX-2.5's diffusion decoder's folder ``vidlong app --decoder`` gave
    (checked: `vidlong.families.ltx2_decoder.decoder_folder`), else None; `temporal`: LTX-2.5's temporal latent upsampler's
    folder ``vidlong app --temporal-refine`` gave (checked: `vidlong.families.ltx2_temporal.temporal_upsampler_folder`), else None."""

    def __init__(self, pipe, folder: Optional[OutputFolder] = None, upsample: Optional[Path] = None,
                 refine: Optional[Path] = None, decoder: Optional[Path] = None, temporal: Optional[Path] = None):
        self.pipe, self.spec = pipe, pipe.spec
        self.limits = limits_for_pipeline(pipe)
        #: what a ticked "Upsample 2x" gives `GenerateRequest.upsample`: the folder `upsample`, else True (the model folder's
        #: own ``latent_upsampler/``, which `check_upsample` refuses in one line where there is none); `upsamples`: whether
        #: it upsamples on this page (an LTX-Video or LTX-2 model with an upsampler), which then shows the box
        self.upsampler = True if upsample is None else str(upsample)
        try:
            upsampler = check_upsample(self.upsampler, self.limits)
        except VidlongError:
            upsampler = None
        self.upsamples = upsampler is not None
        #: whether that upsampler is Kandinsky 6's video super-resolution (`vidlong.families.kandinsky6_sr`: on its frames)
        self.super_resolution = self.upsamples and self.limits.family == SUPER_RESOLUTION_FAMILY
        #: the scale of its upsampler (`vidlong.upsample.spatial_scale`: LTX-2's 1.5x ones too; Kandinsky 6's video
        #: super-resolution's call's default, 2.25), which its box's label names
        self.upsample_scale = (sr_call_default("resolution_scale") if self.super_resolution else spatial_scale(upsampler)
                               ) if self.upsamples else 2.0
        #: the label of its upsample box (on Generate; /stream's, hidden, refuses a ticked one): "Upsample 2x", or its scale
        self.upsample_label = f"Upsample {self.upsample_scale:g}x"
        #: whether its model has a refiner pipeline of its own (`separate_refiner`: Sana-WM); whether its "Refine" box shows:
        #: with the upsample box (LTX's stage 2), or alone on a Sana-WM page that has its refiner; `refiner_folder`: what a
        #: ticked box gives a Sana-WM run's `refine`, the folder `refine`, else True (the one beside or inside the model folder)
        self.separate_refiner = self.limits.pipeline in SEPARATE_REFINER_PIPELINES
        self.refiner_folder = True if refine is None else str(refine)
        try:
            if self.separate_refiner:
                check_refiner(self.refiner_folder, self.limits)  # one line where it has none (beside, inside, or given)
            self.refines = self.separate_refiner or (self.upsamples and self.limits.pipeline in REFINE_PIPELINES)
        except VidlongError:
            self.refines = False
        #: what a ticked "Diffusion decoder" gives `GenerateRequest.decoder`: the folder `decoder`, else True (no model folder
        #: holds one: `decoder_folder` refuses it in one line); `decodes`: whether the page shows the box (that folder given,
        #: on an LTX-2 or LTX-2.5 model)
        self.decoder = True if decoder is None else str(decoder)
        try:
            self.decodes = decoder is not None and decoder_folder(self.decoder, self.limits) is not None
        except VidlongError:
            self.decodes = False
        #: what rounds chosen in "Temporal refine" give `GenerateRequest.temporal_refine`: the folder `temporal`, else True
        #: (refused in one line by `temporal_upsampler_folder`); `temporal_refines`: whether the page shows the control
        #: (that folder given, on an LTX-2.5 model)
        self.temporal_folder = True if temporal is None else str(temporal)
        try:
            self.temporal_refines = temporal is not None and temporal_upsampler_folder(temporal, self.limits) is not None
        except VidlongError:
            self.temporal_refines = False
        #: the page's places for a video, as its messages name them (a model that edits a given video: Lucy Edit's), and the
        #: boxes it shows, by their labels (`box_places`)
        self.places = dict(EDIT_PLACES if self.limits.edits else APP_PLACES,
                           **box_places(self.upsample_label if self.upsamples else None, self.refines, self.decodes,
                                        self.temporal_refines))
        #: whether its runs edit the given image, the edit their video's last frame (ChronoEdit: `ModelLimits.edits_image`),
        #: written as a PNG beside the mp4 and shown; /generate's outputs then end with that PNG
        self.edits_image = self.limits.edits_image
        #: whether its runs make linear HDR frames (LTX-2's HDR IC-LoRA: `ModelLimits.control` "hdr"), written as a .hdr.npy
        #: beside the mp4 (its tone map) and offered as a download; /generate's outputs then end with that file
        self.makes_hdr = self.limits.control == "hdr"
        self.api_outputs = 3 if self.edits_image or self.makes_hdr else 2
        #: the methods the page offers, those this model runs (`runs_method`), and its default: both, else the first (none)
        self.methods = [name for name in METHOD_NAMES if runs_method(name, self.limits)]
        #: whether its call takes no steps, guidance or noise but its own (LTX-2.5's one DFR pass: its distilled sigmas,
        #: unguided, its noise drawn over its canvas, `vidlong.families.ltx2_dfr.check_dfr_request`): Generate's Steps,
        #: Guidance and Initial noise hidden at the values it takes (the noise plain: a preset's method settings alone)
        self.own_sampling = self.limits.pipeline in DFR_PIPELINES
        self.method = "both" if "both" in self.methods else self.methods[0]
        self.lock = threading.Lock()
        self.jobs = Jobs()
        self.folder = folder or OutputFolder()
        self.history = History(self.folder)
        self.pace = Pace()
        #: the Stream tab's chunk, steps and guidance shown by default: the model's streaming defaults (its own chunk,
        #: at most its native window: `model_streaming`'s; a causal sampler's levels at its guidance, else the model's steps
        #: and guidance)
        default = model_streaming(self.spec)
        sampling = StreamSampling.resolve(default, self.spec, resolve_context(default, self.limits) in WINDOW_CONTEXTS)
        self.stream_chunk = default.chunk
        self.stream_steps, self.stream_guidance = sampling.step_count, sampling.guidances[0]
        adapter = adapter_named(self.limits.family)
        #: whether the Stream tab redraws an uploaded video (`vidlong.redraw_stream`), and continues one (`pipe.extend`: where
        #: it streams, `vidlong.validate.streams`)
        self.stream_redraws = stream_redraws(self.limits)
        #: whether the Stream tab follows an uploaded control video, its call's chunks one by one (Cosmos-Transfer2.5:
        #: `pipe.stream(control_video=...)`, `vidlong.families.cosmos_transfer_stream`), the one stream its page has, and
        #: continues a video along one (`pipe.extend(video=..., control_video=...)`)
        self.stream_controls = self.limits.control == "transfer"
        self.stream_extends = streams(self.limits) or self.stream_controls
        #: the Stream tab's contexts: its pipeline's (`FamilyAdapter.stream_contexts_of`: Cosmos-Predict2.5's clean one too)
        self.stream_contexts = adapter.stream_contexts_of(self.limits.pipeline)
        #: whether "Re-encode the cache on a prompt switch" acts: a stream keeps a KV cache that a switch may keep (an
        #: image-to-video pipeline, and a family with no cache, stream with the re-noised context alone; AnyFlow FAR's
        #: encodes its cache again at every chunk, refusing to keep it: the field is hidden)
        self.stream_caches = ("cache" in adapter.stream_contexts and pipe.task != "i2v"
                              and adapter.stream_refusal(Streaming(recache_on_prompt_switch=False)) is None)

    def length_note(self, ratio, method="none", preset=NO_PRESET, steps=None, height=None, width=None, video=None,
                    strength=None, *driving_videos) -> str:
        """Markdown: the length a ratio gives on this model (or an uploaded `video` to redraw, to edit or control video has;
        on Wan Animate, the segments it sets and the pose video's length), and the run's estimated time and memory (the time
        once a run on this device has finished); says so when the run will not fit, and why when a field is refused; on a
        model that edits a given video (Lucy Edit), with none uploaded, that the edit is as long as it. Takes the fields as
        the page sends them (unchecked, `preprocess=False`)."""
        spec = self.spec
        if self.limits.edits and not _uploaded_path(video):
            return "Upload the video to edit: the edit is as long as it, at its frame rate and aspect."
        low, high = LENGTH_RANGE
        if isinstance(ratio, (int, float)) and not low <= ratio <= high:  # the slider's box takes any number
            return f"**Length must be from {low:g} to {high:g}, got {ratio:g}**"
        try:
            image = "first-frame" if self.pipe.task in ("i2v", "animate") else None  # the estimate needs no image, the check one
            last = "last-frame" if self.limits.last_frame == "required" else None
            video = _uploaded_path(video)
            noise = "plain" if self.own_sampling else AUTO  # as its hidden field's, else the one a preset's noise refuses
            request = _request_of("-", method, preset, ratio, steps, None, 0, noise, "", height, width, image, last, video,
                                  strength, *driving_videos, upsampler=self.upsampler,
                                  refiner=self.refiner_folder, decoder=self.decoder, temporal=self.temporal_folder)
            latent = check_generate(request, self.limits)
            cost = run_cost(self.pipe, request, latent)
            given = video or request.control_video
            fps = spec.fps if given is None else video_fps(given, spec.fps)
            if self.pipe.task == "animate":
                note = self._animate_length(request, latent)
        except VidlongError as err:  # the reason, where the note would have been
            return f"**{html.escape(_user_message(err, self.places), quote=False)}**"
        except (TypeError, ValueError):
            return ""
        if self.pipe.task != "animate":
            frames = call_pixel_count(latent, self.limits)  # the frames its call returns (Helios's: whole chunks)
            note = ("The edit is as long as the video to edit: " if self.limits.edits else
                    "The video from the image to its edit (its last frame): " if self.edits_image else
                    "The video to redraw (the Length field is not used): " if video else
                    "The control video (the Length field is not used): " if request.control_video else "")
            note += (f"{latent} latent frames = **{frames} frames**, {frames / fps:.1f} s at {fps:g} fps "
                     f"({latent / spec.native_frames:.2g}× the native {spec.native_frames}). ")
        if request.refine and self.separate_refiner:  # Sana-WM's refiner: not in `run_cost`
            note += (f"Then refined by its refiner at the same size, without the image's frame: **{frames - 1} frames** "
                     "(not in the estimate). ")
        elif cost.upsampled is not None:  # the estimate counts stage 2's steps at the upsampler's size (`run_cost`)
            note += (f"Then upsampled {cost.upsampled[0]:g}x by its "
                     + ("video super-resolution" if self.super_resolution else "latent upsampler")
                     + (" and refined at that size (its steps in the estimate). " if request.refine else ". "))
        elif cost.decoder:  # its weights and diffusion stage in the estimate's memory (`run_cost`)
            note += "Then decoded by LTX-2.5's diffusion decoder instead of the VAE. "
        elif request.temporal_refine is not None:  # each round 2x the frames and the frame rate: the same seconds
            rounds = request.temporal_rounds
            note += (f"Then {rounds} temporal refine round{'s' if rounds > 1 else ''}: **{made_frames(frames, rounds)} frames** "
                     f"at {fps * 2 ** rounds:g} fps. ")
        seconds = self.pace.seconds(cost)
        note += (f"Estimate: about **{duration_text(max(seconds, 1))}** and " if seconds is not None
                 else "Estimate (time after the first run): ")
        note += f"{cost.peak_bytes / 2**30:.2g} GiB beyond the model{upsampled_text(cost)}."
        try:
            check_fits(cost)
        except VidlongError as err:
            note += f" **Will not fit:** {html.escape(_user_message(err, self.places), quote=False)}"
        return note

    def _animate_length(self, request: GenerateRequest, latent: int) -> str:
        """The length note's first sentence for a checked Wan Animate `request` whose segments' grid is `latent` frames."""
        from vidlong.animate import request_segments

        frames, fps = frame_count(request.pose_video, "pose_video"), video_fps(request.pose_video, self.spec.fps, "pose_video")
        return (f"As long as the pose video: **{frames} frames**, {frames / fps:.1f} s at {fps:g} fps, in "
                f"{request_segments(self.pipe, request, latent)} segments of {self.pipe.segment_frames(latent)} frames "
                f"({latent / self.spec.native_frames:.2g}× the native window of {self.spec.native_frames} latent frames). ")

    # ---- one video, or several methods side by side ----------------------------------------------

    def run(self, prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width,
            image=None, last_image=None, partition_guidance=None, noise_correlation=0.0, video=None, strength=None,
            *driving_videos) -> tuple:
        """The page's fields as a checked run estimated to fit in memory: the `GenerateRequest` (seed -1 or empty:
        a random one) and the fifo method's `DiagonalDenoising` (None for another method)."""
        self.check_edited(video, image, "/generate")
        request = _request_of(prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width, image,
                              last_image, video, strength, *driving_videos, upsampler=self.upsampler,
                              refiner=self.refiner_folder, decoder=self.decoder, temporal=self.temporal_folder)
        diagonal = _diagonal_of([request.method], partition_guidance, noise_correlation)
        check_fits(run_cost(self.pipe, request, check_generate(request, self.limits), diagonal))
        return request, diagonal

    def _generate(self, job: Job, runs: list[tuple], progress) -> Output:
        """Worker: generate each run (one, or one per compared method: a request and fifo's `DiagonalDenoising` or
        None), write the mp4 (where the model edits the image, `edits_image`, its last frame too: the edit, side by side
        for a comparison, a PNG beside it named in the settings, as `vidlong generate` writes it; where it makes linear HDR
        frames, `makes_hdr`, a run's beside it as a .hdr.npy named in the settings, as `vidlong generate` writes them: a
        comparison's mp4 shows the methods' tone maps alone) and record it."""
        progress(0, desc="waiting for the model" if self.lock.locked() else "starting")
        with self.lock:
            job.check()
            results = {}
            for i, (request, diagonal) in enumerate(runs, 1):
                prefix = f"{request.method} ({i}/{len(runs)}): " if len(runs) > 1 else ""
                start, stages = time.monotonic(), StageProgress(progress, job, prefix)
                results[request.method] = generate(self.pipe, request, progress=stages, diagonal=diagonal)
                # an upsampled, Sana-WM refined, diffusion-decoded or temporally refined run's time holds its upsampler's,
                # refiner's, decoder's or rounds', which `run_cost` leaves out
                if (request.upsample is None and not request.refine and request.decoder is None
                        and request.temporal_refine is None):
                    self.pace.record(run_cost(self.pipe, request, results[request.method].settings["latent_frames"],
                                              diagonal), time.monotonic() - start, stages.seconds_in("decode"))
            progress(1.0, desc="write mp4")
            first = next(iter(results.values()))
            audio = first.audio if len(results) == 1 else None  # side by side: the methods' videos, no one soundtrack
            if len(results) == 1:
                frames, settings = first.frames, first.settings
            else:
                frames = side_by_side({method: result.frames for method, result in results.items()})
                settings = dict(first.settings, method=None, methods=None, compared=list(results),
                                runs={method: result.settings for method, result in results.items()})
            # at the run's frame rate (a redrawn video's own)
            path = write_video(self.folder.new_path("video"), frames, fps=first.settings["fps"], audio=audio)
            if self.edits_image:
                settings = dict(settings, edited_image=str(write_edited_image(edited_image_path(path), frames[-1])))
            if self.makes_hdr and len(results) == 1:
                settings = dict(settings, hdr_video=str(write_hdr(hdr_path(path), first.hdr)))
        return self.history.add(path, settings, _caption(settings))

    async def generate_event(self, runs_of, args, request: Optional[gr.Request], progress, page: bool):
        """Shared body of the Generate and Compare events: on the page, errors are toasts and the last
        video stays; through the API, they are one-line `AppError`s."""
        session = _session(request)
        job = self.jobs.claim(session)
        try:
            job.check()  # stopped while it waited in the queue
            output = await in_worker(job, self._generate, job, runs_of(*args), progress)
        except Stopped:
            gr.Info("Stopped: the model is free for the next run")
            return (gr.update(),) * (PAGE_OUTPUTS if page else self.api_outputs)
        except Exception as err:  # noqa: BLE001 - one line to the user
            error = _as_app_error(err, self.places)
            if not page:
                raise error from None
            _toast(error)
            return (gr.update(),) * PAGE_OUTPUTS
        finally:
            self.jobs.finish(session, job)
        if not page:  # its file third: an image editor's edit's PNG, or LTX-2 HDR's linear frames
            edited, png, hdr = file_outputs(output)
            return (str(output.video), output.settings, *([png] if self.edits_image else [hdr] if self.makes_hdr else []))
        return str(output.video), output.settings, str(output.sidecar), self.history.gallery(), *file_outputs(output)

    def single_run(self, *fields) -> list[tuple]:
        return [self.run(*fields)]

    def check_edited(self, video, image, endpoint: str) -> None:
        """On a model that edits a given video (`ModelLimits.edits`: Lucy Edit) or image (`edits_image`: ChronoEdit), one
        line naming the field unless `video` or `image` (the uploads of the tab whose API is `endpoint`) is given."""
        if self.limits.edits and not _uploaded_path(video):
            raise VidlongError(f"Video to edit is empty: Lucy Edit edits a given video by the prompt; upload it ({endpoint}'s "
                               "video)")
        if self.edits_image and not image:
            raise VidlongError(f"Image to edit is empty: ChronoEdit edits a given image by the prompt; upload it ({endpoint}'s "
                               "image)")

    def compare_runs(self, methods, *fields) -> list[tuple]:
        """One run per chosen method, all with the same prompt, seed and settings (the fifo fields: fifo's run's)."""
        methods = list(methods or [])
        if not COMPARE_MIN <= len(methods) <= COMPARE_MAX:
            raise VidlongError(f"compare needs {COMPARE_MIN} to {COMPARE_MAX} methods, got {len(methods)}; "
                               "tick them in Compare methods")
        request_fields, (partition_guidance, noise_correlation, video, strength) = fields[:13], fields[13:17]
        self.check_edited(video, request_fields[11], "/generate")  # its image: the 12th of `_request_of`'s fields
        first = _request_of(*request_fields, video, strength, *fields[17:], upsampler=self.upsampler,  # and the driving videos
                            refiner=self.refiner_folder, decoder=self.decoder, temporal=self.temporal_folder)
        check_methods(methods, first)
        diagonal = _diagonal_of(methods, partition_guidance, noise_correlation)
        runs = [(dataclasses.replace(first, method=method), diagonal if method == "fifo" else None) for method in methods]
        latent = max(check_generate(request, self.limits) for request, _ in runs)
        check_fits(together([run_cost(self.pipe, request, latent, fifo) for request, fifo in runs]))
        return runs

    # ---- streams ---------------------------------------------------------------------------------

    def streamer(self, prompt, timeline, seconds, chunk, context, recache, steps, guidance, seed, image=None,
                 method: str = "chunked", cut: bool = False, partition_guidance: Optional[str] = None,
                 noise_correlation: float = 0.0, video: Optional[str] = None, strength: Optional[float] = None,
                 extend_video: Optional[str] = None, control_video: Optional[str] = None, identity: Optional[str] = None,
                 upsample: bool = False, decoder: bool = False, temporal_refine: int = 0):
        """(streamer, chunks or None, timeline rows) of the Stream tab's fields, checked before anything
        runs. The stream prompt holds from 0 s, the timeline's prompts from their seconds on; either may
        be empty, not both. `method` "fifo" streams by diagonal denoising (Wan, LTX-Video; `DiagonalStreamer`), which
        takes none of the chunked method's fields (chunk, context, re-encode, steps: hidden on the page);
        `cut`, `partition_guidance` and `noise_correlation` are fifo's alone (a prompt switch cuts to the new prompt's
        own native video, else blends; `_diagonal_of`). A `video` (chunked, a model that redraws) is redrawn chunk by
        chunk at `strength` (`vidlong.redraw_stream.RedrawStreamer`): the stream is as long as it (Seconds is not used), at
        its frame rate; on a model that edits a given video (Lucy Edit) the `video` is required and edited so, with no
        strength (`vidlong.edit_stream.EditStreamer`), and there is no `extend_video`. An `extend_video` is continued
        (`pipe.extend`, either method): the stream is its frames, then Seconds of new ones (and the timeline's seconds) at
        its frame rate and size. On a Cosmos-Transfer2.5 page the stream follows `control_video` (`control_streamer`); on
        another a control video is refused in one line. `identity`: the face's tensors file a ConsisID transformer with
        ``is_train_face`` needs, given to every window of the stream or the continuation, checked as the CLI's --identity
        (`vidlong.identity.stream_identity`), refused in one line where the model takes none. `upsample`, `decoder` and
        `temporal_refine` (its rounds; /stream's, the Generate tab's alone) are refused in one line, as vidlong stream
        --upsample, --decoder and --temporal-refine are."""
        check_streams(self.limits.family)
        for ticked, name, does, shown, label, instead in (
                (upsample, "upsample", "upsamples", self.upsamples, self.upsample_label, "does not upsample its chunks"),
                (decoder, "decoder", "decodes", self.decodes, DECODER_LABEL, "decodes its chunks by the VAE as they come"),
                (temporal_refine, "temporal_refine", "runs LTX-2.5's temporal refine rounds on", self.temporal_refines,
                 TEMPORAL_LABEL, "runs none on its chunks")):
            if ticked:  # /stream's
                where = f" (the Generate tab's {label})" if shown else ""
                raise VidlongError(f"{name} {does} a whole generated video's latents{where}; a stream {instead}: drop {name}")
        video, extend_video, control_video = _uploaded_path(video), _uploaded_path(extend_video), _uploaded_path(control_video)
        if control_video and not self.stream_controls:
            raise VidlongError(f"{named('control_video')} guides a Cosmos-Transfer2.5 stream (its call's chunks); this model's "
                               "stream takes none: remove it")
        identity = _uploaded_path(identity)
        faces = stream_identity(identity, self.limits.identity)  # the face's tensors, before anything runs
        if extend_video:
            check_not_redrawing(self.limits, extension=True)  # an edit does not extend
            count_input_frames(extend_video, "extend_video")  # a file that is no video, named as this field
            for given, field in ((video, "the video to redraw"), (image, "the first-frame image")):
                if given:
                    raise VidlongError(f"Video to continue: the continuation starts from its own last frames; remove {field}, "
                                       "or the video to continue")
        self.check_edited(video, image, "/stream")
        if video and method == "fifo":
            raise VidlongError(f"a video is {'edited' if self.limits.edits else 'redrawn'} by the chunked method; choose Stream "
                               "method chunked" + ("" if self.limits.edits else ", or remove the video"))
        if cut and method != "fifo":
            raise VidlongError("cut on a prompt switch is the fifo method's; the chunked method re-encodes its cache on a switch")
        diagonal = _diagonal_of([method], partition_guidance, noise_correlation, bool(cut))
        if seconds is None:
            raise VidlongError("Seconds is empty; give the seconds to stream, e.g. 10, or 0 to stream until stopped")
        if not float(seconds) >= 0 or float(seconds) == float("inf"):
            raise VidlongError(f"seconds must be a finite number >= 0 (0: until stopped), got {seconds!r}")
        if self.stream_controls:
            return self.control_streamer(prompt, timeline, seconds, steps, guidance, seed, image, method, video,
                                         extend_video, control_video)
        unchanged = self.spec.guidance_scale if method == "fifo" else self.stream_guidance  # the model's own default
        guidance = None if guidance is None or float(guidance) == unchanged else float(guidance)
        if diagonal is not None:
            config = diagonal
            check_diagonal_stream(config, self.limits)
        else:
            if chunk is None:
                raise VidlongError("Chunk is empty; give the latent frames per chunk, e.g. 3")
            steps = None if steps is None or int(steps) == self.stream_steps else int(steps)  # unchanged: the model's own
            changes = dict(chunk=int(chunk), steps=steps,
                           context=None if context in (None, "", AUTO) else context, recache_on_prompt_switch=bool(recache))
            config = model_streaming(self.spec,  # the model's preset (a converted LongLive: longlive) and chunk
                                     **{name: value for name, value in changes.items() if value is not None})
        seed = _seed(seed)
        check_seed(seed)
        rows = _timeline_rows(timeline)
        if (prompt or "").strip():  # the prompt box is one prompt, as typed (colons and semicolons its own)
            rows = [(0.0, prompt.strip()), *rows]
        if not rows:
            raise VidlongError("the prompt is empty; describe the video, or give the prompt timeline's prompts")
        first_prompt, guidance = [(0, rows[0][1])], None if guidance is None else float(guidance)  # the streamers' schedule
        if extend_video:  # its frames, then Seconds of new video at its frame rate and size (0: until stopped); it encodes
            check_stream_fits(self.pipe, config, *input_frame_size(extend_video, "extend_video"))  # chunks that fit, first
            with self.lock:  # the video's last frames: not beside another run (a stopped one finishing its step)
                try:
                    streamer = self.pipe.extend(first_prompt, video=extend_video, streaming=config,
                                                seconds=float(seconds) or None, seed=seed, guidance=guidance,
                                                **({} if identity is None else {"identity": identity}))
                except VidlongError as err:  # its video named as this field, not as /stream's video (the one to redraw)
                    raise VidlongError(str(err).replace(named("video"), named("extend_video"))) from None
        elif video:  # as long as the video (an edit takes no strength: None)
            make = self.pipe.video_streamer()
            streamer = make(self.pipe, first_prompt, config, video=video, strength=None if strength is None else float(strength),
                            seed=seed, guidance=guidance)
        else:  # the stream knows its length (LTX-2's gives its last chunk the sound it holds back)
            counted = stream_chunk_count(self.limits, chunk_layout(config), None, float(seconds))
            make = self.pipe.streamer(config)  # the family's own (LTX-2's), or diagonal denoising's
            streamer = make(self.pipe, first_prompt, config, seed=seed, guidance=guidance, image=image or None,
                            chunks=None if float(seconds) == 0 else counted)
            if faces is not None:  # ConsisID's: every window's forwards take them (its `IdentityStreamer`)
                streamer.identity = faces
        if not extend_video:  # made lazily: its size is known before anything runs
            check_stream_fits(self.pipe, config, getattr(streamer, "height", None), getattr(streamer, "width", None))
        streamer.follow_timeline(rows)
        chunks = streamer.chunks
        late = [second for second, _ in rows if chunks is not None and streamer.first_chunk_from(second) >= chunks]
        if late:  # a prompt switches where a chunk starts: the first one at or after its second
            raise VidlongError(f"prompt timeline entry at {max(late):g} s would start with chunk "
                               f"{streamer.first_chunk_from(max(late)) + 1}, after the last of this {float(seconds):g} s "
                               f"stream's {chunks} (a prompt switches where a chunk starts); set Seconds longer or the entry "
                               "earlier")
        return streamer, chunks, rows

    def control_streamer(self, prompt, timeline, seconds, steps, guidance, seed, image, method, video, extend_video,
                         control_video) -> tuple:
        """(streamer, chunks, timeline rows) of a Cosmos-Transfer2.5 page's Stream tab: its call's chunks over `control_video`
        one by one (`pipe.stream`: as long as the control video, at its frame rate and aspect; `seconds` not used), or with
        an `extend_video` its frames, then `seconds` of new ones along the control video covering both (`pipe.extend`: 0,
        to the control video's end; at its frame rate and size); at `steps` per chunk, `guidance` and `seed`; one prompt
        (the prompt box, or the timeline's one row at 0 s). The chunked method's chunk, context and re-encode (hidden on
        its page) are not used: its chunk is its call's. A timeline of several prompts, the fifo method, a first frame and
        a video to redraw are refused in one line (the fifo method's fields and a cut on a switch already, by `streamer`)."""
        rows = _timeline_rows(timeline)
        if (prompt or "").strip():
            rows = [(0.0, prompt.strip()), *rows]
        if len(rows) > 1:
            raise VidlongError("a Cosmos-Transfer2.5 stream takes one prompt (its call's), not a timeline: clear the prompt "
                               "timeline, or give its one prompt at 0 s alone")
        for given, field in ((method == "fifo", "choose Stream method chunked"), (image, "remove the first-frame image"),
                             (video, "remove the video to redraw")):
            if given:
                raise VidlongError(f"a Cosmos-Transfer2.5 stream is its call's chunks over its control video: {field}")
        seed = _seed(seed)
        check_seed(seed)
        steps = None if steps is None or int(steps) == self.stream_steps else int(steps)
        guidance = None if guidance is None or float(guidance) == self.stream_guidance else float(guidance)
        given = dict(streaming=model_streaming(self.spec, steps=steps), control_video=control_video, seed=seed, guidance=guidance)
        if not extend_video:
            streamer = self.pipe.stream(rows[0][1] if rows else "", **given)
            return streamer, streamer.chunks, rows
        with self.lock:  # not beside another run (a stopped one finishing its step)
            try:
                streamer = self.pipe.extend(rows[0][1] if rows else "", video=extend_video, seconds=float(seconds) or None,
                                            **given)
            except VidlongError as err:  # its video named as this field, not as /stream's video (the one to redraw)
                raise VidlongError(str(err).replace(named("video"), named("extend_video"))) from None
        return streamer, streamer.chunks, rows

    def _stream(self, job: Job, streamer: Union[VideoStreamer, DiagonalStreamer], chunks: Optional[int], events: queue.Queue,
                settings: dict) -> None:
        """Worker: run the stream into a growing mp4, sending a live clip of the newest frames per chunk;
        ends after `chunks` (None: until stopped) or at the next denoising step after a stop. The chunks made are
        kept (in the history) however it ends, an error included."""
        fps = getattr(streamer, "fps", self.spec.fps)  # a redraw stream keeps its video's
        recent = deque(maxlen=max(1, int(LIVE_SECONDS * fps)))
        path, made, error, writer = self.folder.new_path("stream"), 0, None, None
        try:
            events.put(("status", "waiting for the model" if self.lock.locked() else "starting"))
            with self.lock, StreamingVideoWriter(path, fps=fps) as writer:
                job.streamer = streamer
                streamer.on_step = lambda done, total: events.put(  # Stop holds at the next step, inside a chunk too
                    ("status", step_status(streamer.step_kind, done, total))) or job.check()
                iterator = iter(streamer)
                try:
                    while (chunks is None or made < chunks) and not job.stop.is_set():
                        chunk = next(iterator)
                        # the whole video's sound (LTX-2; the live clips are silent); a continued video's frames are read from
                        # its file a frame at a time, once: written and kept for the live clip in one pass
                        writer.append(_kept_in(recent, chunk.frames), audio=chunk.audio)
                        made += not chunk.is_input
                        live = write_video(self.folder.new_path("live"), list(recent), fps=fps)
                        events.put(("input" if chunk.is_input else "chunk", (live, made, writer.frames_written, chunk)))
                except Stopped:  # a Stop in the middle of a chunk, or of a call it makes (a fifo stream's native video)
                    pass
                finally:
                    iterator.close()  # the stream's hooks come off the transformer
                    # the frames and sound its last chunk held back for one it did not make (FramePack, LTX-2)
                    writer.append(held_frames(streamer), audio=held_sound(streamer))
        except BaseException as err:  # noqa: BLE001 - handed to the event, which shows one line
            error = err
        output = None
        if made:
            settings = dict(settings, chunks=made, pixel_frames=writer.frames_written, fps=fps,
                            prompts=[list(entry) for entry in streamer.prompts if entry[0] < made],
                            error=None if error is None else _one_line(error, self.places))
            output = self.history.add(path, settings, _caption(settings))
        else:
            path.unlink(missing_ok=True)
        events.put(("error", error) if error is not None else ("done", output))
    async def stream_event(self, args, request: Optional[gr.Request], progress, page: bool):
        """Shared body of the Stream event (page and API): yields (live clip, status, full video, sidecar, gallery)."""
        session = _session(request)
        job = self.jobs.claim(session)
        stopped = gr.update(), "stopped before the first chunk: nothing was made", gr.update(), gr.update(), gr.update()
        try:
            continued = _uploaded_path(args[STREAM_FIELDS.index("extend_video")])  # recorded as vidlong extend's sidecar
            if page and continued:  # its last frames are encoded first (a minute and more for a large video on a CPU)
                yield None, "encoding the end of the video to continue", None, None, gr.update()
            streamer, chunks, rows = await asyncio.to_thread(self.streamer, *args)
            if job.stop.is_set():  # Stop pressed while the video to continue was encoded
                yield stopped
                return
            settings = dict(command="extend" if continued else "stream", prompt=streamer.prompts[0][1],
                            timeline=[list(row) for row in rows], **self.pipe.run_settings(), seed=streamer.seed,
                            guidance=list(streamer.guidances), image=args[STREAM_FIELDS.index("image")],
                            streaming=streamer.settings(), seconds=float(args[STREAM_FIELDS.index("seconds")]),
                            video=continued or _uploaded_path(args[STREAM_FIELDS.index("video")]),
                            control_video=_uploaded_path(args[STREAM_FIELDS.index("control_video")]))
            identity = _uploaded_path(args[STREAM_FIELDS.index("identity")])
            if identity:  # as vidlong stream / extend --identity records it
                settings["identity"] = identity
            if continued:  # a chunked stream's prefix, or a Cosmos-Transfer2.5 extension's input
                given = getattr(streamer, "input_video", None)
                settings["input_frames"] = len(streamer.prefix.frames if given is None else given)
            events: queue.Queue = queue.Queue()
            worker = threading.Thread(target=self._stream, args=(job, streamer, chunks, events, settings), daemon=True)
            worker.start()
            started = time.monotonic()
            if page:  # the last stream's clip, status and video leave the page now, not at this one's first chunk
                yield None, "starting", None, None, gr.update()
            made = 0
            while True:
                kind, payload = await asyncio.to_thread(events.get)
                if kind == "status":  # a step of the next chunk: the bar keeps the chunks made (a count where no end is set)
                    progress((made, chunks), desc=payload, unit="chunks")
                elif kind == "input":  # a continued video's own frames, written first
                    live, _, frames, _ = payload
                    yield str(live), f"continuing a video of {frames} frames", gr.update(), gr.update(), gr.update()
                elif kind == "chunk":
                    live, made, frames, chunk = payload
                    total = f"/{chunks}" if chunks else ""
                    seconds = frames / getattr(streamer, "fps", self.spec.fps)
                    status = (f"chunk {made}{total}: {frames} frames = {seconds:.1f} s of video, "
                              f"{(time.monotonic() - started) / made:.1f} s per chunk; prompt: {chunk.prompt}")
                    progress((made, chunks), desc="stream", unit="chunks")
                    yield str(live), status, gr.update(), gr.update(), gr.update()
                elif kind == "error":
                    raise payload
                else:
                    if payload is None:  # stopped before its first chunk: the page's "starting" gives way
                        yield stopped
                        return
                    stopped = "stopped; " if job.stop.is_set() else ""
                    yield (gr.update(), f"{stopped}{payload.settings['chunks']} chunks, {payload.settings['pixel_frames']} "
                           f"frames: the whole video is below", str(payload.video), str(payload.sidecar), self.history.gallery())
                    return
        except Exception as err:  # noqa: BLE001 - one line to the user
            error = _as_app_error(err, self.places)
            if not page:
                raise error from None
            _toast(error)
            yield gr.update(), error.message, gr.update(), gr.update(), gr.update()  # the status no longer says it runs
        finally:
            job.stop.set()  # a closed page or a cancelled client ends the stream at its next step
            self.jobs.finish(session, job)

    def image_size(self, image: Optional[str]) -> list:
        """The Generate tab's height and width for a first frame just given: its aspect at the model's native pixel
        area (`vidlong.validate.video_size`, what the CLI and the API use when no size is given), else unchanged."""
        if not image:
            return [gr.update(), gr.update()]
        height, width = video_size(self.limits, image=load_image(image))
        return [gr.update(value=height), gr.update(value=width)]

    def method_fields(self, method: str) -> list:
        """The Stream tab's chunked-only fields shown for "chunked" (re-encode on a switch: where a stream keeps a cache,
        `stream_caches`), fifo's (cut on a switch: text-to-video; guidance by partition, noise correlation) for "fifo",
        and the guidance set to the method's default (the model's streaming guidance, or its generate guidance)."""
        chunked = method != "fifo"  # a control video's stream (its call's chunks) has no chunk or context field
        return [*[gr.update(visible=chunked and not self.stream_controls)] * 2, gr.update(visible=chunked),
                gr.update(visible=chunked and self.stream_caches),
                gr.update(visible=not chunked and self.pipe.task == "t2v", value=False),
                gr.update(value=self.stream_guidance if chunked else self.spec.guidance_scale), *_fifo_fields(method)]

    def switch_prompt(self, prompt: str, request: gr.Request) -> str:
        """The Stream tab's "Switch prompt": the running stream takes `prompt`, as typed, from its next chunk."""
        job = self.jobs.get(_session(request))
        if job is None or job.streamer is None:
            return "no stream is running on this page"
        try:
            start = job.streamer.switch_prompt(one_prompt_text(prompt) if isinstance(prompt, str) else prompt)
            return html.escape(f"prompt switches at chunk {start + 1}: {prompt.strip()}")
        except VidlongError as err:
            return html.escape(_user_message(err, self.places))

    def reserve(self, request: gr.Request, *fields) -> None:
        """A page's click, before its run is queued: the session's job exists from now, so Stop reaches it
        even while it waits behind another tab's run. `fields`: the click's inputs, unused here but checked by their own
        preprocessing first (`vidlong.apps.fields`), so a refused field is a toast of this step, which has no outputs: the
        page keeps its last video, status and history in view (not Gradio's "Error" over each), and a running job runs on."""
        self.jobs.start(_session(request))

    def stop(self, request: gr.Request) -> None:
        if self.jobs.stop(_session(request)):
            gr.Info("Stopping at the next step")

    def closed(self, request: gr.Request) -> None:
        """A closed or reloaded tab ends its job."""
        self.jobs.stop(_session(request))

    def reload(self, evt: gr.SelectData) -> tuple:
        """A clicked history item: its video, settings and sidecar, its settings back in the form (`FORM_FIELDS`, the
        compared methods, Wan Animate's segment overlap, the "Upsample 2x", "Refine" and "Diffusion decoder" boxes and the
        "Temporal refine" rounds), the first-frame and last-frame images it was made from (`_image_update`; a stream's first
        frame alone, the last frame the Generate tab's), a stream's settings back in the Stream tab's form (`stream_form`)
        and its video and sidecar on that tab, the tab it was made on shown (the gallery sits below both), and its edited
        image and PNG and its linear HDR frames (`file_outputs`)."""
        clicked = str(evt.value)  # the gallery as this page shows it: its item names the video file
        item = next((item for item in self.history.items() if item.video.name in clicked), None)
        if item is None:
            return (gr.update(),) * (3 + len(FORM_FIELDS) + len(STREAM_FORM_FIELDS) + 14)
        settings = item.settings
        if "runs" in settings:  # a comparison: the first run's settings, the compared methods ticked
            settings = dict(next(iter(settings["runs"].values())), compared=settings["compared"])
        streamed = settings.get("command") in ("stream", "extend")
        if streamed:
            fields = [gr.update()] * len(FORM_FIELDS)
        else:
            diagonal = next((m for m in settings.get("methods") or [] if m.get("name") == "DiagonalDenoising"), {})
            values = dict(settings, preset=settings.get("preset") or NO_PRESET,
                          ratio=settings.get("ratio_requested") or settings.get("ratio"), **_fifo_values(diagonal))
            fields = [gr.update(value=values.get(name)) for name in FORM_FIELDS]
        compared = gr.update(value=settings["compared"]) if "compared" in settings else gr.update()
        overlap = gr.update(value=settings["segment_overlap"]) if "segment_overlap" in settings else gr.update()
        upsampled = gr.update() if streamed else gr.update(value=bool(settings.get("upsample")))  # generate records its upsampler
        refined = gr.update() if streamed else gr.update(value=bool(settings.get("refine")))
        decoded = gr.update() if streamed else gr.update(value=bool(settings.get("decoder")))  # generate records its folder
        rounds = gr.update() if streamed else gr.update(value=settings.get("temporal_rounds") or 0)  # and its rounds
        images = (_image_update(settings, "image"), gr.update() if streamed else _image_update(settings, "last_image"))
        stream = (str(item.video), str(item.sidecar)) if streamed else (gr.update(), gr.update())
        stream_fields = self.stream_form(settings) if streamed else [gr.update()] * len(STREAM_FORM_FIELDS)
        tab = gr.Tabs(selected="stream-tab" if streamed else "generate-tab")
        return (str(item.video), item.settings, str(item.sidecar), *fields, compared, overlap, upsampled, refined, decoded,
                rounds, *images, *stream_fields, *stream, tab, *file_outputs(item))

    def stream_form(self, settings: dict) -> list:
        """Updates of the Stream tab's fields (`STREAM_FORM_FIELDS`) to a stream's `settings` as its sidecar records them,
        each field shown as its method shows it (`method_fields`): the prompt at 0 s in the prompt box and the later
        ones in the timeline (a timeline whose first prompt starts later: all in it, the box empty), the seconds asked for
        (a sidecar without them: unchanged), the method, the seed, the chunked method's chunk, context, steps (the model's
        where the stream left them to it) and re-encode, or fifo's cut and fields, and the first guidance."""
        streaming = settings.get("streaming") or {}
        method = "fifo" if streaming.get("method") == "fifo" else "chunked"
        rows = [list(row) for row in settings.get("timeline") or [[0, settings.get("prompt", "")]]]
        prompt = rows.pop(0)[1] if rows and rows[0][0] == 0 else ""
        values = dict(cut=bool(streaming.get("cut_on_prompt_switch")), **_fifo_values(streaming if method == "fifo" else {}))
        if settings.get("guidance"):
            values["guidance"] = settings["guidance"][0]
        if method == "chunked":
            context = streaming.get("context")
            values.update(chunk=streaming.get("chunk"), context=context if context in self.stream_contexts else AUTO,
                          steps=streaming.get("steps") or self.stream_steps, recache=streaming.get("recache_on_prompt_switch"))
        shown = zip(STREAM_METHOD_FIELDS, self.method_fields(method))
        return [gr.update(value=prompt), gr.update(value=rows),
                gr.update(value=settings["seconds"]) if "seconds" in settings else gr.update(), gr.update(value=method),
                gr.update(value=settings.get("seed")),
                *[dict(update, **({"value": values[name]} if values.get(name) is not None else {})) for name, update in shown]]


def _image_update(settings: dict, name: str) -> dict:
    """The update of the image field `name` ("image" or "last_image") to the file a history item's `settings` record it was
    made from (the path the run was given: a page's upload, kept in Gradio's cache while the server runs): none recorded,
    emptied; a file no longer on disk, or an image given in memory, left as it is."""
    given = settings.get(name)
    if given is None:
        return gr.update(value=None)
    return gr.update(value=given) if Path(given).is_file() else gr.update()


#: the Generate tab's outputs of a run on the page: video, settings, sidecar, history, and `file_outputs`
PAGE_OUTPUTS = 7


def file_outputs(output: Output) -> tuple:
    """The Generate tab's edited image and its PNG download of `output` (an image editor's: `App.edits_image`), and its
    linear HDR frames' download (LTX-2 HDR's: `App.makes_hdr`), each None (empty) for another's."""
    edited = None if output.edited_image is None else str(output.edited_image)
    return edited, edited, None if output.hdr_video is None else str(output.hdr_video)


def _kept_in(recent: deque, frames) -> Iterator:
    """`frames`, each also appended to `recent` as it passes (one read of a video file's frames serves both)."""
    for frame in frames:
        recent.append(frame)
        yield frame


def runs_method(name: str, limits) -> bool:
    """Whether method `name` runs on the model of `limits` (`vidlong.validate.check_methods_run`; fifo, which takes no video,
    not on a video-to-video model, whose every run is given one: Lucy Edit): the page offers no method it would refuse."""
    try:
        check_methods_run(name, methods_for(name, None), limits)
        if name == "fifo":
            check_diagonal(limits, video=limits.task == "v2v")
    except VidlongError:
        return False
    return True


def check_methods(methods: list, request: GenerateRequest) -> None:
    """Each compared method is known and distinct, else a one-line error naming the field."""
    if len(set(methods)) != len(methods):
        raise VidlongError("compare methods must differ; tick each method once")
    for method in methods:
        methods_for(method, request.preset)


def _timeline_rows(timeline) -> list[tuple[float, str]]:
    """(second, prompt) rows of the timeline table (rows of [second, prompt]), blank rows skipped."""
    out = []
    for row in timeline or []:
        second, prompt = (list(row) + [None, None])[:2]
        if second in (None, "") and not str(prompt or "").strip():
            continue
        try:
            second = float(second)
        except (TypeError, ValueError):
            raise VidlongError(f"prompt timeline: {second!r} is not a number of seconds; write e.g. 4") from None
        out.append((second, str(prompt or "")))
    return out


def build_app(pipe, folder: Optional[OutputFolder] = None, upsampler: Optional[Path] = None,
              refiner: Optional[Path] = None, decoder: Optional[Path] = None, temporal: Optional[Path] = None) -> gr.Blocks:
    """The app's page for `pipe` (a vidlong pipeline from `vidlong.load_pipeline`; an image-to-video one
    shows a first-frame input, a Wan Animate one the character's and its driving videos; an LTX-Video or LTX-2 one with a
    latent upsampler, its folder's own or the folder `upsampler`, an "Upsample 2x" box; a Sana-WM one with its refiner, the
    one beside or inside its folder or the folder `refiner`, a "Refine" box; an LTX-2 or LTX-2.5 one given LTX-2.5's diffusion
    decoder's folder `decoder`, a "Diffusion decoder" box; an LTX-2.5 one given its temporal latent upsampler's folder
    `temporal`, a "Temporal refine" control); outputs go to `folder` (default: a new folder in Gradio's cache)."""
    app = App(pipe, folder, upsampler, refiner, decoder, temporal)
    spec = app.spec
    multiple, least = app.limits.geometry.pixel_multiple, app.limits.geometry.min_pixels
    largest = None if app.limits.rope_positions is None else app.limits.rope_positions * multiple  # None: no RoPE table

    presets = preset_names()
    edits = app.limits.edits  # Lucy Edit: the Generate and Stream tabs edit an uploaded video, which they require
    streaming = streams(app.limits) or app.stream_controls  # Cosmos-Transfer2.5: its call's chunks over a control video
    if edits:
        about = ("Edit a video by the prompt: in one call, a training-free method acting past the native window (compare "
                 "methods side by side), or chunk by chunk at any length in the Stream tab.")
    else:
        about = (("Edit an image by the prompt: its video runs from the uploaded image to the edit, its last frame (shown "
                  "as an image, its PNG to download); Length sets its reasoning frames, which a training-free method takes "
                  "past the native window; compare methods side by side" if app.edits_image else
                  "Generate a long video with a training-free method, compare methods side by side"
                  if app.limits.no_methods_reason is None else
                  "Generate a long video (vidlong's methods do not act on this model: its own call, longer)")
                 + (", or stream its call's chunks over a control video in the Stream tab, each shown as it is made."
                    if app.stream_controls else ", or stream one live." if streaming else
                    ". (This model does not stream: its Stream tab is hidden.)"))
        about += _twin_hints(pipe)
        if app.makes_hdr:
            about += (" It makes an uploaded SDR video linear HDR: the video shows their tone map, and Generate offers the linear "
                      "frames to download (.hdr.npy).")
    with gr.Blocks(title="vidlong", analytics_enabled=False) as demo:
        gr.Markdown(
            "# vidlong: long videos from a short-video model\n"
            f"Model **{spec.name}** on `{pipe.device}`: native window {spec.native_frames} latent frames "
            f"= {spec.native_pixel_frames} frames at {spec.width}×{spec.height}, {spec.fps} fps. " + about
        )
        with gr.Row():
            image = fields.guarded(gr.Image(
                type="filepath", visible=pipe.task in ("i2v", "animate"), elem_id="image",
                label="The character (Wan Animate)" if pipe.task == "animate" else EDITED_IMAGE_LABEL if app.edits_image
                else "First frame (image-to-video)"), IMAGE_FILE)
            last_image = fields.guarded(gr.Image(type="filepath", label="Last frame (first-last-frame models; Generate tab)",
                                                 visible=app.limits.last_frame != "no", elem_id="last-image"), IMAGE_FILE)
            # ConsisID with is_train_face: the face's tensors, for Generate, Stream and Continue a video alike
            identity = gr.File(type="filepath", label=f"{IDENTITY_LABEL} (face_id.pt: the face's id_cond and id_vit_hidden, "
                               "and kps_cond, as ConsisID's process_face_embeddings_infer makes them; see vidlong.identity)",
                               visible=app.limits.identity is not None, elem_id="identity")
            # Sana-WM: its camera trajectory, optional (its page generates only: it does not stream)
            camera = gr.File(type="filepath", label=f"{CAMERA_LABEL} (optional; cam.json of c2w poses or an action string such "
                             "as w-80,jw-40, and intrinsics, as vidlong generate --camera takes it; see vidlong.camera; "
                             "empty: a steady walk forward and a 90 degree view of the image)",
                             visible=app.limits.pipeline in CAMERA_PIPELINES, elem_id="camera")
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        prompt = gr.Textbox(label="Prompt", lines=2, elem_id="prompt",
                                            placeholder="make it snowy" if edits else "a red circle bouncing on a dark background")
                        method = fields.Radio(app.methods, value=app.method, label="Method", accepts=METHOD_NAMES,
                                          info="; ".join(f"{k}: {METHOD_HELP[k]}" if k in METHOD_HELP else k
                                                         for k in app.methods),
                                          elem_id="method")
                        with gr.Row():
                            preset = fields.Dropdown([NO_PRESET, *presets], value=NO_PRESET, label="Preset",
                                                 info="method settings tuned for a ratio (the model draws its own noise)"
                                                 if app.own_sampling else "method settings and noise tuned for a ratio",
                                                 elem_id="preset",
                                                 visible=app.limits.no_methods_reason is None)  # a model no method acts on
                            noise = fields.Dropdown([AUTO, *NOISE_KINDS], value="plain" if app.own_sampling else AUTO,
                                                    label="Initial noise", info="auto: the preset's, else plain", elem_id="noise",
                                                    visible=not app.own_sampling)
                        ratio = fields.Slider(*LENGTH_RANGE, value=2, step=0.5, label="Length (× native window)", elem_id="ratio",
                                              visible=not edits, info=length_info(streaming))  # an edit: as long as its video
                        length_note = gr.Markdown(app.length_note(2, app.method), elem_id="length-note")
                        # LTX-Video, LTX-2: their latent upsampler after the video (`vidlong.upsample`), for Generate and Compare;
                        # Kandinsky 6: its video super-resolution on the video's frames (`vidlong.families.kandinsky6_sr`)
                        upsample = fields.Checkbox(
                            value=False, label=app.upsample_label, visible=app.upsamples, elem_id="upsample",
                            info=(f"the video's frames through its video super-resolution {Path(app.upsampler).name}, in "
                                  "windows of its length: " if app.super_resolution else
                                  "the video's latents through " + ("the model folder's own latent_upsampler/"
                                                                    if app.upsampler is True else "the latent upsampler "
                                                                    f"{Path(app.upsampler).name}") + ", then decoded at ")
                                 + ("twice" if app.upsample_scale == 2 else f"{app.upsample_scale:g} times")
                                 + " the width and height, the same frames" + (", its sound kept" if pipe.makes_audio
                                                                                  else ""))
                        refine = fields.Checkbox(  # stage 2 after the upsampler (`vidlong.refine`), checked by check_refine
                            value=False, label=REFINE_LABEL, elem_id="refine",
                            visible=app.refines,
                            info=f"Sana-WM's refiner{'' if app.refiner_folder is True else ' ' + Path(app.refiner_folder).name}"
                                 " on the video's latents at the same size, as diffusers' two-stage flow runs it (its defaults)"
                                 if app.separate_refiner else
                                 f"with {app.upsample_label}: the upsampled latents denoised again for a few steps at the "
                                 "new size, as diffusers' two-stage flow does (its defaults)")
                        decoder = fields.Checkbox(  # in place of the VAE (`vidlong.families.ltx2_decoder`), checked by check_decoder
                            value=False, label=DECODER_LABEL, elem_id="decoder", visible=app.decodes,
                            info="the video's latents decoded by LTX-2.5's diffusion decoder "
                                 f"{Path(app.decoder).name if app.decodes else ''} instead of the VAE, seeded with the seed, "
                                 "its sound kept; not with the upsample or refine boxes")
                        # LTX-2.5: its temporal refine rounds after the DFR pass (`vidlong.families.ltx2_temporal`)
                        temporal_refine = fields.Radio(
                            TEMPORAL_CHOICES, value=0, label=TEMPORAL_LABEL, elem_id="temporal-refine",
                            visible=app.temporal_refines,
                            info="rounds of LTX-2.5's temporal refine after its pass, by the temporal latent upsampler "
                                 f"{Path(app.temporal_folder).name if app.temporal_refines else ''}: each doubles the frames "
                                 "and the frame rate (the same seconds), its sound kept; not with the diffusion decoder")
                        animating, control = pipe.task == "animate", app.limits.control
                        controlled, vace = control is not None, control == "vace"
                        with gr.Accordion("Animate the character (Wan Animate)" if animating else "Follow a control video "
                                          f"({CONTROL_PAGE_NAMES.get(control)})", visible=animating or controlled):
                            driving_videos = [
                                gr.Video(label=label, sources=["upload"], elem_id=name.replace("_", "-"), visible=shown)
                                for name, label, shown in zip(DRIVING_FIELDS, (
                                    "Pose video: the character moves as it does; the video has its length and frame rate "
                                    "(Length sets the segments it is made in)", "Face video: its face follows this one",
                                    "Background video (replace mode, with a mask video)",
                                    "Mask video (replace mode): white where the character goes" if animating else
                                    "Mask video (optional): white where the model generates, black where it keeps the control "
                                    "video", {"in-context": REFERENCE_VIDEO_LABEL, "hdr": SDR_VIDEO_LABEL}.get(control,
                                                                                               CONTROL_VIDEO_LABEL)),
                                    (animating, animating, animating, animating or vace, controlled))]
                            driving_videos.append(gr.File(file_count="multiple", file_types=["image"], visible=vace,
                                                          label="Reference images (optional): subjects or a background to "
                                                                "put in the video", elem_id="reference-images"))
                            driving_videos.append(fields.Radio(
                                [1, 5], value=1 if animating else None, visible=animating, elem_id="segment-overlap",
                                label="Segment overlap (frames each segment after the first starts from, of the one before)"))
                            # no file_types: Gradio's own refusal of another file names no field; check_generate's does
                            connector_embeds = fields.guarded(gr.File(
                                type="filepath", label=CONNECTOR_EMBEDS_LABEL, visible=app.makes_hdr, elem_id="connector-embeds"),
                                "a .safetensors file of video_context and audio_context")
                        with gr.Accordion("Edit a video" if edits else "Redraw a video (video-to-video)", open=edits,
                                          visible=app.limits.redraws):
                            redraw = gr.Video(label="Video to edit: the prompt edits it; the edit is as long as it, at its frame "
                                              "rate and aspect" if edits else "Video to redraw: the prompt redraws it, at its "
                                              "length (the Length field is not used), frame rate and aspect",
                                              sources=["upload"], elem_id="redraw")
                            strength = _strength_input(edits, "strength")
                        with gr.Row():
                            steps = fields.Number(value=spec.num_inference_steps, precision=0, minimum=1, maximum=MAX_STEPS,
                                                  label="Steps", elem_id="steps", visible=not app.own_sampling)
                            guidance = fields.Number(value=spec.guidance_scale, minimum=0, maximum=MAX_GUIDANCE, label="Guidance",
                                                     elem_id="guidance", visible=not app.own_sampling)
                            seed = fields.Number(value=0, precision=0, label="Seed (-1: random)")
                        partition_guidance, noise_correlation = _fifo_inputs()
                        with gr.Accordion("More", open=False):
                            negative_prompt = gr.Textbox("", label="Negative prompt", lines=1,  # not where its call ignores one
                                                         visible="generate" not in app.limits.negative_prompt_unread)
                            with gr.Row():
                                height = fields.Number(value=spec.height, precision=0, minimum=least, maximum=largest, step=multiple,
                                                   label=f"Height (multiple of {multiple})")
                                width = fields.Number(value=spec.width, precision=0, minimum=least, maximum=largest, step=multiple,
                                                  label=f"Width (multiple of {multiple})")
                        with gr.Row():
                            button = gr.Button("Generate", variant="primary", elem_id="generate")
                            stop = gr.Button("Stop", variant="stop", elem_id="stop")
                        # hidden where no method acts on the model (its none and direct are one video)
                        with gr.Accordion("Compare methods", open=False, visible=app.limits.no_methods_reason is None):
                            compared = fields.CheckboxGroup(app.methods, value=list(dict.fromkeys(["none", app.method])),
                                                            elem_id="compared", accepts=METHOD_NAMES,
                                                            label=f"Methods ({COMPARE_MIN}-{COMPARE_MAX}), same prompt and seed"
                                                            + ("; side by side without sound (Generate keeps it)"
                                                               if pipe.makes_audio else ""))  # one soundtrack per method
                            compare = gr.Button("Compare side by side", elem_id="compare")
                    with gr.Column(scale=1):
                        # an image editor's edit (ChronoEdit): the video's last frame, and its PNG beside the mp4
                        edited = gr.Image(label="Edited image (the video's last frame)", type="filepath", interactive=False,
                                          height=440, visible=app.edits_image, elem_id="edited-image")
                        edited_file = gr.File(label="Edited image (.png)", interactive=False, visible=app.edits_image,
                                              elem_id="edited-file")
                        video = gr.Video(label="Video", format="mp4", autoplay=True, loop=True, interactive=False, height=440,
                                         elem_id="video")
                        # LTX-2 HDR's linear frames, whose tone map the video shows, beside the mp4
                        hdr_file = gr.File(label=HDR_FILE_LABEL, interactive=False, visible=app.makes_hdr, elem_id="hdr-file")
                        sidecar = gr.File(label="Settings (.json)", interactive=False, elem_id="sidecar")
                        settings = gr.JSON(label="Settings used", max_height=320, elem_id="settings")
            with gr.Tab("Stream", id="stream-tab", visible=streaming or app.stream_redraws):  # Lucy Edit: an edit alone
                with gr.Row():
                    with gr.Column(scale=1):
                        s_prompt = gr.Textbox(label="Stream prompt", lines=2, elem_id="stream-prompt",
                                              placeholder="a red circle bouncing on a dark background")
                        s_method = fields.Radio(list(STREAM_METHODS), value="chunked", label="Stream method",
                                                info="chunked: chunk by chunk through sinks and a rolling window (the fields "
                                                     "below); fifo: diagonal denoising, generate's fifo video shown as it "
                                                     "is made, fewer vanishing objects, less motion", elem_id="stream-method",
                                                visible=adapter_named(app.limits.family).timestep_per_token and not edits)
                        controls = app.stream_controls  # its call's chunks, one prompt: no timeline, chunk or context
                        timeline = fields.guarded(gr.Dataframe(
                            headers=["from second", "prompt"], datatype=["number", "str"], row_count=(1, "dynamic"),
                            column_count=(2, "fixed"), type="array", label="Prompt timeline (optional: the prompt from each "
                            "second on)", elem_id="timeline", visible=not controls), 'a table of [second, prompt] rows '
                            '(through the API: {"headers": ["from second", "prompt"], "data": [[4, "a blue ball"]]})')
                        with gr.Row():
                            s_seconds = fields.Number(value=10, minimum=0, maximum=MAX_SECONDS, label="Seconds (0: until stopped)",
                                                      elem_id="stream-seconds", visible=not edits,  # an edit: its video's
                                                      info="a video to continue: its new seconds (0: to the control video's "
                                                           "end); else not used" if controls else None)
                            s_chunk = fields.Number(value=app.stream_chunk, precision=0, minimum=1, visible=not controls,
                                                maximum=spec.native_frames, label="Chunk (latent frames)")
                            s_context = fields.Dropdown([AUTO, *app.stream_contexts], value=AUTO, label="Context",
                                                        accepts=(AUTO, *STREAM_CONTEXTS), visible=not controls,
                                                    info="how a chunk sees earlier frames")
                        with gr.Row():
                            s_steps = fields.Number(value=app.stream_steps, precision=0, minimum=1, maximum=MAX_STEPS,
                                                    label="Steps per chunk")
                            s_guidance = fields.Number(value=app.stream_guidance, minimum=0, maximum=MAX_GUIDANCE, label="Guidance")
                            s_seed = fields.Number(value=0, precision=0, label="Seed (-1: random)")
                        s_recache = gr.Checkbox(value=True, label="Re-encode the cache on a prompt switch", visible=app.stream_caches)
                        s_cut = gr.Checkbox(value=False, label="Cut to the new prompt's own video on a switch (else blend)",
                                            visible=False, elem_id="stream-cut")
                        s_partition_guidance, s_noise_correlation = _fifo_inputs("stream-")
                        # /stream's upsample, refused (`App.streamer`): a stream's chunks are not upsampled
                        s_upsample = fields.Checkbox(value=False, label=app.upsample_label, visible=False,
                                                     elem_id="stream-upsample")
                        # /stream's decoder, refused likewise: a stream's chunks are decoded by the VAE as they come
                        s_decoder = fields.Checkbox(value=False, label=DECODER_LABEL, visible=False, elem_id="stream-decoder")
                        # /stream's temporal refine rounds, refused likewise: they refine a whole generated video
                        s_temporal_refine = fields.Radio(TEMPORAL_CHOICES, value=0, label=TEMPORAL_LABEL, visible=False,
                                                         elem_id="stream-temporal-refine")
                        with gr.Accordion(f"{'Edit' if edits else 'Redraw'} a video, chunk by chunk", open=edits,
                                          visible=app.stream_redraws):
                            s_redraw = gr.Video(label="Video to edit: the prompt edits it chunk by chunk, at any length (the "
                                                "stream is as long as it), at its frame rate and aspect" if edits else
                                                "Video to redraw: the prompt redraws it chunk by chunk, at any length (the "
                                                "stream is as long as it; Seconds is not used), at its frame rate and aspect",
                                                sources=["upload"], elem_id="stream-redraw")
                            s_strength = _strength_input(edits, "stream-strength")
                        with gr.Accordion("Follow a control video, chunk by chunk (Cosmos-Transfer2.5)", visible=controls):
                            s_control = gr.Video(label="Control video (edges, depth, segmentation or blur): the stream is its "
                                                 "call's chunks over it, each shown as it is made, as long as it, at its frame "
                                                 "rate and aspect", sources=["upload"], elem_id="stream-control-video")
                        with gr.Accordion("Continue a video", open=False, visible=app.stream_extends):
                            s_extend = gr.Video(label="Video to continue: the stream is its frames, then Seconds of new ones "
                                                "(the timeline's seconds count the new part) from its last frames, at its "
                                                "frame rate and size", sources=["upload"], elem_id="stream-extend")
                        with gr.Row():
                            s_start = gr.Button("Start stream", variant="primary", elem_id="stream-start")
                            s_stop = gr.Button("Stop", variant="stop", elem_id="stream-stop")
                        with gr.Row():  # not for a control video's stream: one prompt, its call's
                            next_prompt = gr.Textbox(label="Next prompt (while streaming)", scale=3, elem_id="next-prompt",
                                                     visible=not controls)
                            switch = gr.Button("Switch prompt", scale=1, elem_id="switch", visible=not controls)
                    with gr.Column(scale=1):
                        live = gr.Video(label=f"Live: the newest {LIVE_SECONDS:g} s", format="mp4", autoplay=True, loop=True,
                                        interactive=False, height=300, elem_id="live")
                        status = gr.Markdown("", elem_id="stream-status")
                        full = gr.Video(label="Whole stream (after it ends or stops)", format="mp4", interactive=False,
                                        height=300, elem_id="stream-video")
                        s_sidecar = gr.File(label="Settings (.json)", interactive=False, elem_id="stream-sidecar")
        # six fixed columns: a lone item stays a thumbnail (not the panel's width), each with its caption inside the panel
        gallery = gr.Gallery(label="History (this server's newest outputs; click one to reload its settings)",
                             columns=6, fit_columns=False, height=260, allow_preview=False, elem_id="history")

        reloaded = [prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width,
                    partition_guidance, noise_correlation]  # FORM_FIELDS
        form = [*reloaded[:-2], image, last_image, *reloaded[-2:], redraw, strength, *driving_videos, identity,
                camera, upsample, refine, decoder, temporal_refine, connector_embeds]  # older order kept
        stream_reloaded = [s_prompt, timeline, s_seconds, s_method, s_seed, s_chunk, s_context, s_steps, s_recache, s_cut,
                           s_guidance, s_partition_guidance, s_noise_correlation]  # STREAM_FORM_FIELDS
        stream_form = [s_prompt, timeline, s_seconds, s_chunk, s_context, s_recache, s_steps, s_guidance, s_seed, image, s_method,
                       s_cut, s_partition_guidance, s_noise_correlation, s_redraw, s_strength, s_extend, s_control, identity,
                       s_upsample, s_decoder, s_temporal_refine]

        def generate_handler(page: bool):
            async def generate_video(prompt: str, method: str = app.method, preset: str = NO_PRESET, ratio: float = 2.0,
                                     steps: Optional[float] = None, guidance: Optional[float] = None,
                                     seed: Optional[float] = 0, noise: str = AUTO, negative_prompt: str = "",
                                     height: Optional[float] = None, width: Optional[float] = None,
                                     image: Optional[str] = None, last_image: Optional[str] = None,
                                     partition_guidance: str = "", noise_correlation: float = 0.0, video: Optional[str] = None,
                                     strength: Optional[float] = None, pose_video: Optional[str] = None,
                                     face_video: Optional[str] = None, background_video: Optional[str] = None,
                                     mask_video: Optional[str] = None, control_video: Optional[str] = None,
                                     reference_images: Optional[list] = None, segment_overlap: Optional[int] = None,
                                     identity: Optional[str] = None, camera: Optional[str] = None, upsample: bool = False,
                                     refine: bool = False, decoder: bool = False, temporal_refine: int = 0,
                                     connector_embeds: Optional[str] = None, request: gr.Request = None,
                                     progress=gr.Progress()):
                args = (prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width, image,
                        last_image, partition_guidance, noise_correlation, video, strength, pose_video, face_video,
                        background_video, mask_video, control_video, reference_images, segment_overlap, identity, camera,
                        upsample, refine, decoder, temporal_refine, connector_embeds)
                return await app.generate_event(app.single_run, args, request, progress, page=page)
            return generate_video

        async def compare_page(compared: list, prompt: str, method: str, preset: str, ratio: float, steps, guidance, seed,
                               noise: str, negative_prompt: str, height, width, image=None, last_image=None,
                               partition_guidance: str = "", noise_correlation: float = 0.0, video: Optional[str] = None,
                               strength: Optional[float] = None, pose_video=None, face_video=None, background_video=None,
                               mask_video=None, control_video=None, reference_images=None, segment_overlap=None,
                               identity=None, camera=None, upsample=False, refine=False, decoder=False, temporal_refine=0,
                               connector_embeds=None, request: gr.Request = None, progress=gr.Progress()):
            args = (compared, prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width, image,
                    last_image, partition_guidance, noise_correlation, video, strength, pose_video, face_video,
                    background_video, mask_video, control_video, reference_images, segment_overlap, identity, camera, upsample,
                    refine, decoder, temporal_refine, connector_embeds)
            return await app.generate_event(app.compare_runs, args, request, progress, page=True)

        def stream_handler(page: bool):
            async def stream(prompt: str, timeline: Optional[list] = None, seconds: float = 10.0, chunk: float = 3,
                             context: str = AUTO, recache: bool = True, steps: Optional[float] = None,
                             guidance: Optional[float] = None, seed: Optional[float] = 0, image: Optional[str] = None,
                             method: str = "chunked", cut: bool = False, partition_guidance: str = "",
                             noise_correlation: float = 0.0, video: Optional[str] = None, strength: Optional[float] = None,
                             extend_video: Optional[str] = None, control_video: Optional[str] = None,
                             identity: Optional[str] = None, upsample: bool = False, decoder: bool = False,
                             temporal_refine: int = 0, request: gr.Request = None, progress=gr.Progress()):
                args = (prompt, timeline, seconds, chunk, context, recache, steps, guidance, seed, image, method, cut,
                        partition_guidance, noise_correlation, video, strength, extend_video, control_video, identity,
                        upsample, decoder, temporal_refine)
                async for update in app.stream_event(args, request, progress, page=page):
                    yield update
            return stream

        outputs = [video, settings, sidecar, gallery, edited, edited_file, hdr_file]  # PAGE_OUTPUTS
        note_fields = [ratio, method, preset, steps, height, width, redraw, strength, *driving_videos, identity, camera,
                       upsample, refine, decoder, temporal_refine, connector_embeds]
        def queued(trigger, handler, inputs, outputs):
            """`handler` queued on the model's one worker after `trigger`, its job reserved at the click once its `inputs`
            pass their checks (queued, as Stop is, to run at once with its refusal reaching the page)."""
            return trigger(app.reserve, inputs, None, api_name=False, concurrency_limit=None).success(
                handler, inputs, outputs, api_name=False, concurrency_limit=1, concurrency_id="model")

        for run in (queued(button.click, generate_handler(True), form, outputs),
                    queued(compare.click, compare_page, [compared, *form], outputs)):
            run.then(app.length_note, note_fields, length_note, api_name=False, queue=False, preprocess=False)  # with the pace
        queued(s_start.click, stream_handler(True), stream_form, [live, status, full, s_sidecar, gallery])
        # Stop is queued, run at once (no concurrency limit), so that its message reaches the page: an
        # event outside the queue drops it
        for stop_button in (stop, s_stop):
            stop_button.click(app.stop, None, None, api_name=False, concurrency_limit=None)
        switch.click(app.switch_prompt, next_prompt, status, api_name=False, queue=False)
        # the user's choice alone (`input`): a history click sets the method with its own fields' values (`stream_form`)
        s_method.input(app.method_fields, s_method, stream_reloaded[-len(STREAM_METHOD_FIELDS):], api_name=False, queue=False)
        method.change(_fifo_fields, method, [partition_guidance, noise_correlation], api_name=False, queue=False)
        image.upload(app.image_size, image, [height, width], api_name=False, queue=False)
        gallery.select(app.reload, None, [video, settings, sidecar, *reloaded, compared, driving_videos[-1], upsample, refine,
                                          decoder, temporal_refine, image, last_image, *stream_reloaded, full, s_sidecar, tabs,
                                          edited, edited_file, hdr_file],
                       api_name=False, queue=False)  # the last driving field: the overlap
        # the embeddings are one sample's text: their run is unguided (a guidance above 1 refused in one line)
        connector_embeds.upload(lambda: gr.update(value=1), None, guidance, api_name=False, queue=False)
        preset.input(_on_preset, preset, ratio, api_name=False, queue=False)
        for field in note_fields:
            field.change(app.length_note, note_fields, length_note, api_name=False, queue=False, preprocess=False)
        demo.load(app.history.gallery, None, gallery, api_name=False, queue=False)
        demo.unload(app.closed)

        # API-only endpoints (hidden triggers): their errors are one-line AppErrors for gradio_client
        api = gr.Button(visible=False)
        api.click(generate_handler(False), form, [video, settings, edited_file if app.edits_image else hdr_file][:app.api_outputs],
                  api_name="generate", concurrency_limit=1, concurrency_id="model")  # its edit's PNG or HDR frames third
        api_stream = gr.Button(visible=False)
        api_stream.click(stream_handler(False), stream_form, [live, status, full, s_sidecar, gallery], api_name="stream",
                         concurrency_limit=1, concurrency_id="model")
    demo.vidlong_app = app  # for tests
    return demo


def length_info(streaming: bool) -> str:
    """The Length slider's note: its range, and that the browser sets a number typed past its end to the end when the box
    is left (Gradio's slider does so without a word, and the run is the shorter video), with where a longer video is made
    (`streaming`: the page's Stream tab too)."""
    low, high = LENGTH_RANGE
    return (f"{low:g} to {high:g}: a number typed past {high:g} becomes {high:g} when you leave the box (the page's longest "
            "video in one call; longer: vidlong generate --ratio" + (", or the Stream tab, any length)" if streaming else ")"))


def _own_folder(pipe) -> Optional[Path]:
    """The model folder `pipe` was loaded from where it runs that folder's own pipeline (not a twin), else None."""
    from vidlong.models import folder_class_name

    folder = pipe.config.get("_name_or_path")
    if not folder or not Path(folder).is_dir():
        return None
    own = folder_class_name(Path(folder)).removeprefix("VidLong") == type(pipe).__name__.removeprefix("VidLong")
    return Path(folder) if own else None


def _twin_hints(pipe) -> str:
    """What else the folder `pipe` runs as its own pipeline serves, as `vidlong app` flags: a first frame (`image_to_video_twin`:
    LTX-Video, Wan2.2 TI2V-5B, Kandinsky 6, ...; `--task i2v`), a reference video with an IC-LoRA (`control_video_twin`:
    LTX-2's; `--task control --lora`)."""
    from vidlong.models import control_video_twin, image_to_video_twin

    folder = _own_folder(pipe) if pipe.task == "t2v" else None
    if folder is None:
        return ""
    hints = (" To start from a first frame, serve this folder with `vidlong app --task i2v`." if image_to_video_twin(folder)
             else "")
    return hints + (" To follow a reference video with an IC-LoRA, serve it with `vidlong app --task control --lora "
                    "ic-lora.safetensors`." if control_video_twin(folder) else "")


def _strength_input(edits: bool, elem_id: str):
    """A redraw's Strength slider; where the model edits a given video instead (`edits`: Lucy Edit, every step run), a
    hidden empty field, so that the page and the API's default send no strength (one given through the API is refused
    in one line, as the CLI's --strength is)."""
    if edits:
        return fields.Number(None, visible=False, elem_id=elem_id, label="Strength (an edit takes none)")
    return fields.Slider(0.05, 1, value=DEFAULT_STRENGTH, step=0.05, elem_id=elem_id,
                         label="Strength (how much is redrawn; 1: from pure noise)")


def _on_preset(preset: str):
    """Choosing a preset moves the length slider to the preset's ratio."""
    if preset in (None, "", NO_PRESET):
        return gr.update()
    return gr.update(value=load_preset(preset)["ratio"])


def app_refiner(refine: Union[str, Path], limits) -> Path:
    """The folder of the Sana-WM refiner that ``vidlong app --refine FOLDER`` names for the page's "Refine" box, checked
    from its configs before the model loads (`vidlong.families.sana_wm_refiner.check_refiner`); one line on a model of
    `limits` (`vidlong.validate.ModelLimits`) that is no Sana-WM (LTX's stage 2, its "Refine" beside "Upsample 2x", takes
    no folder)."""
    if limits.pipeline not in SEPARATE_REFINER_PIPELINES:
        ltx = " (its page's \"Refine\", LTX's stage 2, takes none)" if limits.pipeline in REFINE_PIPELINES else ""
        raise VidlongError(f"--refine FOLDER names Sana-WM's refiner for its page's \"Refine\"; this model ({limits.pipeline}) "
                           f"is no Sana-WM{ltx}: drop --refine")
    return check_refiner(refine, limits)


def check_address(host: str, port: int) -> None:
    """Refuse, before a model loads, an address the page cannot be served on: a `host` that names no address or none of
    this machine's (``--host``), a `port` something already listens on (``--port``). The port is bound the way Gradio's
    server binds it (address reuse on, so a port left waiting by a closed server passes), then let go."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise VidlongError(f"--host {host} names no address; use 127.0.0.1 (this machine only) or 0.0.0.0 (every "
                           f"interface)") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise VidlongError(f"port {port} on {host} is already in use; pass another --port") from None
            if err.errno == errno.EADDRNOTAVAIL:
                raise VidlongError(f"--host {host} is not an address of this machine; use 127.0.0.1 or 0.0.0.0") from None
            raise VidlongError(f"cannot serve on {host}:{port} ({err.strerror}); pass another --port or --host") from None


def launch(model: Optional[str] = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           device: Optional[str] = None, dtype: Optional[str] = None, task: Optional[str] = None, loras=(),
           upsample: Optional[Union[str, Path]] = None, refine: Optional[Union[str, Path]] = None,
           decoder: Optional[Union[str, Path]] = None, temporal_refine: Optional[Union[str, Path]] = None,
           **launch_kwargs) -> gr.Blocks:
    """Load `model` (a local diffusers pipeline folder; None: the embedded default) on `device` in `dtype`
    as the pipeline of `task` (`vidlong.load_pipeline`'s defaults; "i2v" loads a text-to-video folder whose weights also
    run image to video, `vidlong.models.IMAGE_TO_VIDEO_TWINS`, as its image-to-video pipeline; "control" an LTX-2 folder as
    its in-context pipeline, `vidlong.models.CONTROL_VIDEO_TWINS`, its IC-LoRA in `loras`, its page the in-context folder's:
    Generate follows an uploaded reference video, no Stream), with `loras` merged (`vidlong.lora.LoraFile`s), and serve the
    app. `upsample`: the folder of an LTX-Video or LTX-2 latent upsampler (`vidlong.validate.check_upsample`, before the model
    loads) that the page's "Upsample 2x" runs, where the model folder has no ``latent_upsampler/`` of its own (or another).
    `refine`: the folder of a Sana-WM model's refiner (`app_refiner`, before the model loads) that the page's "Refine"
    runs, where it sits neither beside the model folder nor inside it (or another). `decoder`: the folder of LTX-2.5's
    diffusion decoder (`vidlong.families.ltx2_decoder.decoder_folder`, before the model loads) that the page's "Diffusion
    decoder" box decodes by, on an LTX-2 or LTX-2.5 model. `temporal_refine`: the folder of LTX-2.5's temporal latent
    upsampler (`vidlong.families.ltx2_temporal.temporal_upsampler_folder`, before the model loads) whose rounds the page's
    "Temporal refine" runs, on LTX-2.5.
    A video-to-video folder is refused in one line (the page redraws and continues through the text-to-video one), but
    Lucy Edit's, whose page edits an uploaded video.

    Blocks until the server stops (Ctrl-C; `vidlong app` also takes SIGTERM so) unless ``prevent_thread_lock=True`` is passed.
    """
    from vidlong.models import check_model_folder, folder_continues, folder_edits, pipeline_task
    from vidlong.pipeline import load_pipeline
    from vidlong.validate import limits_for_folder

    block = not launch_kwargs.pop("prevent_thread_lock", False)
    quiet = launch_kwargs.pop("quiet", False)
    folder = check_model_folder(model)
    if folder_continues(folder):
        raise VidlongError("the app continues videos through a text-to-video pipeline, not SkyReels-V2 DF's video-to-video "
                           "folder: open the DF text-to-video folder, or use vidlong generate --video, extend or stream on it")
    if (task == "v2v" or pipeline_task(folder) == "v2v") and not folder_edits(folder):  # a Lucy Edit folder's page edits
        raise VidlongError("the app redraws videos through a text-to-video pipeline; open the model's text-to-video folder "
                           "(its Generate tab's \"Redraw a video\")")
    upsampler = None if upsample is None else check_upsample(upsample, limits_for_folder(folder))
    refiner = None if refine is None else app_refiner(refine, limits_for_folder(folder))
    decoder = None if decoder is None else decoder_folder(decoder, limits_for_folder(folder))
    temporal = None if temporal_refine is None else temporal_upsampler_folder(temporal_refine, limits_for_folder(folder))
    check_address(host, port)
    pipe = load_pipeline(model, device=device, dtype=dtype, task=task, loras=loras)
    demo = build_app(pipe, upsampler=upsampler, refiner=refiner, decoder=decoder, temporal=temporal)
    demo.queue(default_concurrency_limit=1)
    try:
        demo.launch(server_name=host, server_port=port, share=share, show_error=True, prevent_thread_lock=True, quiet=True,
                    **launch_kwargs)
    except OSError as err:
        if "empty port" in str(err):
            raise VidlongError(f"port {port} on {host} is already in use; pass another --port") from None
        raise VidlongError(f"cannot serve on {host}:{port}: {_user_message(err)}") from None
    if not quiet:
        print(serving_line(demo), flush=True)
    if block:
        _serve_until_interrupted(demo)
    return demo


def serving_line(demo: gr.Blocks) -> str:
    """The line `launch` prints once the page is served: its address (and the public link where --share made one), in
    vidlong's words where Gradio's own lines ask for ``share=True`` in ``launch()``, which a `vidlong app` user does not call."""
    public = f" and {demo.share_url}" if demo.share_url else " (vidlong app --share: a public gradio.live link too)"
    return f"vidlong app: open {demo.local_url} in a browser{public}; Ctrl-C stops it"


def _serve_until_interrupted(demo: gr.Blocks) -> None:
    """Wait while `demo` serves; on Ctrl-C (or SIGTERM under `vidlong app`) close it and return.

    Gradio's own wait (``Blocks.block_thread``) only stops the server on Ctrl-C: the heartbeat (SSE)
    stream each open tab or `gradio_client` holds stays open, uvicorn waits for it, and Gradio gives up
    on the server only after its 5 s join limit (a SIGTERM exit took 7.4 s with a client connected,
    2.4 s without). `demo.close()` first sets the stop event that ends those streams, so the exit
    no longer waits on connected clients.
    """
    try:
        while demo.is_running:
            time.sleep(0.1)
    except KeyboardInterrupt:
        print("Keyboard interruption in main thread... closing server.")  # Gradio's own line, as before
        demo.close(verbose=False)
