"""The vidlong Gradio app: one page over `vidlong.generate`, every control one `GenerateRequest` field.

    from vidlong.apps.gradio_app import build_app, launch
    launch(model="path/to/wan_folder")          # or `vidlong app --model path/to/wan_folder`

The event is also a named API endpoint, ``/generate``, for `gradio_client`::

    Client("http://127.0.0.1:7860").predict(prompt="a red circle", method="both", ratio=2, api_name="/generate")

Only one generation runs at a time (the event's queue has one worker and a lock guards the pipeline).
A `VidlongError` reaches the user as its one-line message, never a traceback.
"""
from __future__ import annotations

import atexit
import html
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a local tool

import gradio as gr  # noqa: E402

from vidlong.errors import VidlongError  # noqa: E402
from vidlong.generate import GenerateRequest, generate, resolve_latent_frames  # noqa: E402
from vidlong.methods import METHOD_NAMES, load_preset, preset_names  # noqa: E402
from vidlong.models import pixel_frames  # noqa: E402
from vidlong.validate import MAX_STEPS, limits_for_pipeline  # noqa: E402
from vidlong.video_io import write_video  # noqa: E402

log = logging.getLogger(__name__)

#: The dropdown value meaning "no preset" / "the preset's noise".
NO_PRESET = "none"
AUTO_NOISE = "auto"
#: Videos kept in the app's temporary folder (Gradio serves its own copy from its cache).
KEEP_VIDEOS = 8

#: One phrase per method name, for the method control's help line (names not listed show bare).
METHOD_HELP = {
    "none": "the stock model, just longer",
    "direct": "baseline, the same as none",
    "ultravico": "UltraViCo attention decay",
    "freelong": "FreeLong++ spectral fusion",
    "both": "UltraViCo + FreeLong++",
    "riflex": "RIFLEx baseline (RoPE frequency)",
    "window": "sliding-window attention baseline",
}


def _user_message(err: Exception) -> str:
    """One line for the error toast, naming fields as the page does ("height", not the CLI's "--height");
    the toast renders HTML, so markup is escaped but quotes are kept."""
    text = str(err).strip().splitlines()
    line = re.sub(r"--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)", lambda m: m.group(1).replace("-", " "), text[0] if text else type(err).__name__)
    return html.escape(line, quote=False)


def _seed(value) -> int:
    """The seed to use: the field's, or a random one for an empty field or -1 (the dice)."""
    if value is None or int(value) == -1:
        return secrets.randbelow(2**31)
    return int(value)


class _VideoFolder:
    """A temporary folder of the app's mp4 files, pruned to the newest few and removed at exit."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="vidlong-app-"))
        self._count = 0
        atexit.register(shutil.rmtree, self.path, True)

    def next_path(self) -> Path:
        self._count += 1
        videos = sorted(self.path.glob("video-*.mp4"), key=lambda p: p.stat().st_mtime)
        for old in videos[: max(0, len(videos) - KEEP_VIDEOS + 1)]:
            old.unlink(missing_ok=True)
        return self.path / f"video-{self._count:05d}-{int(time.time())}.mp4"


def _length_note(spec, ratio: float) -> str:
    """Markdown: the length a ratio gives on this model."""
    try:
        latent = resolve_latent_frames(GenerateRequest(prompt="", ratio=float(ratio)), spec.native_frames)
    except (VidlongError, TypeError, ValueError):
        return ""
    frames = pixel_frames(latent, spec.temporal_ratio)
    return (f"{latent} latent frames = **{frames} frames**, {frames / spec.fps:.1f} s at {spec.fps} fps "
            f"({latent / spec.native_frames:.2g}× the native {spec.native_frames})")


def build_app(pipe) -> gr.Blocks:
    """The app's page for `pipe` (a vidlong pipeline from `vidlong.load_pipeline`; an image-to-video one
    shows a first-frame input)."""
    spec = pipe.spec
    lock = threading.Lock()
    videos = _VideoFolder()
    limits = limits_for_pipeline(pipe)
    multiple, largest = limits.geometry.pixel_multiple, limits.rope_positions * limits.geometry.pixel_multiple

    def run(prompt: str, method: str, preset: str, ratio: float, steps: Optional[float], guidance: Optional[float],
            seed: Optional[float], noise: str, negative_prompt: str, height: Optional[float], width: Optional[float],
            image: Optional[str] = None, progress=gr.Progress()):
        """Generate one video; returns (mp4 path, settings used). Seed -1 (or empty) picks a random seed,
        which the settings show."""
        try:
            request = GenerateRequest(
                prompt=prompt or "",
                method=method,
                preset=None if preset in (None, "", NO_PRESET) else preset,
                ratio=float(ratio),
                steps=None if steps is None else int(steps),
                guidance=None if guidance is None else float(guidance),
                seed=_seed(seed),
                noise=None if noise in (None, "", AUTO_NOISE) else noise,
                negative_prompt=negative_prompt or "",
                height=None if height is None else int(height),
                width=None if width is None else int(width),
                image=image or None,
            )
            progress(0, desc="waiting for the model" if lock.locked() else "starting")
            with lock:
                progress(0, desc="denoising")
                result = generate(pipe, request, step_callback=lambda step, total: progress((step, total), desc="denoising"))
                progress(1, desc="writing mp4")
                path = write_video(videos.next_path(), result.frames, fps=spec.fps)
        except VidlongError as err:
            raise gr.Error(_user_message(err), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as err:  # noqa: BLE001 - the user sees one line, the log keeps the traceback
            log.exception("generation failed")
            raise gr.Error(f"{type(err).__name__}: {_user_message(err)}", print_exception=False) from None
        return str(path), result.settings

    def on_preset(preset: str, ratio: float):
        """Choosing a preset moves the length slider to the preset's ratio."""
        if preset in (None, "", NO_PRESET):
            return gr.update()
        return gr.update(value=load_preset(preset)["ratio"])

    presets = preset_names()
    with gr.Blocks(title="vidlong", analytics_enabled=False) as demo:
        gr.Markdown(
            "# vidlong: long videos from a short-video model\n"
            f"Model **{spec.name}** on `{pipe.device}`: native window {spec.native_frames} latent frames "
            f"= {spec.native_pixel_frames} frames at {spec.width}×{spec.height}, {spec.fps} fps. "
            "Pick a length ratio and a training-free method; presets carry the method settings tuned per ratio."
        )
        with gr.Row():
            with gr.Column(scale=1):
                prompt = gr.Textbox(label="Prompt", lines=2, placeholder="a red circle bouncing on a dark background",
                                    elem_id="prompt")
                image = gr.Image(type="filepath", label="First frame (image-to-video)", visible=pipe.task == "i2v",
                                 elem_id="image")
                with gr.Row():
                    method = gr.Radio(list(METHOD_NAMES), value="both", label="Method",
                                      info="; ".join(f"{k}: {METHOD_HELP[k]}" if k in METHOD_HELP else k for k in METHOD_NAMES), elem_id="method")
                with gr.Row():
                    preset = gr.Dropdown([NO_PRESET, *presets], value=NO_PRESET, label="Preset",
                                         info="method settings and noise tuned for a ratio", elem_id="preset")
                    noise = gr.Dropdown([AUTO_NOISE, "plain", "specmix"], value=AUTO_NOISE, label="Initial noise",
                                        info="auto: the preset's, else plain", elem_id="noise")
                ratio = gr.Slider(1, 8, value=2, step=0.5, label="Length (× native window)", elem_id="ratio")
                length_note = gr.Markdown(_length_note(spec, 2))
                with gr.Row():
                    steps = gr.Number(value=spec.num_inference_steps, precision=0, minimum=1, maximum=MAX_STEPS, label="Steps")
                    guidance = gr.Number(value=spec.guidance_scale, minimum=0, maximum=30, label="Guidance")
                    seed = gr.Number(value=0, precision=0, label="Seed (-1: random)")
                with gr.Accordion("More", open=False):
                    negative_prompt = gr.Textbox("", label="Negative prompt", lines=1)
                    with gr.Row():
                        height = gr.Number(value=spec.height, precision=0, minimum=multiple, maximum=largest, step=multiple,
                                           label=f"Height (multiple of {multiple})")
                        width = gr.Number(value=spec.width, precision=0, minimum=multiple, maximum=largest, step=multiple,
                                          label=f"Width (multiple of {multiple})")
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column(scale=1):
                video = gr.Video(label="Video", format="mp4", autoplay=True, loop=True, interactive=False, height=440,
                                 elem_id="video")
                settings = gr.JSON(label="Settings used", max_height=420, elem_id="settings")

        preset.change(on_preset, [preset, ratio], ratio, api_name=False, queue=False)
        ratio.change(lambda r: _length_note(spec, r), ratio, length_note, api_name=False, queue=False)
        button.click(
            run,
            [prompt, method, preset, ratio, steps, guidance, seed, noise, negative_prompt, height, width, image],
            [video, settings],
            api_name="generate",
            concurrency_limit=1,
        )
    demo.vidlong_video_folder = videos.path  # for tests and cleanup
    return demo


def launch(model: Optional[str] = None, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           device: Optional[str] = None, **launch_kwargs) -> gr.Blocks:
    """Load `model` (a local diffusers Wan folder; None: the embedded default) and serve the app.

    Blocks until the server stops (Ctrl-C) unless ``prevent_thread_lock=True`` is passed.
    """
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(model, device=device)
    demo = build_app(pipe)
    demo.queue(default_concurrency_limit=1)
    try:
        demo.launch(server_name=host, server_port=port, share=share, show_error=True, **launch_kwargs)
    except OSError as err:
        if "empty port" in str(err):
            raise VidlongError(f"port {port} on {host} is already in use; pass another --port") from None
        raise VidlongError(f"cannot serve on {host}:{port}: {_user_message(err)}") from None
    return demo
