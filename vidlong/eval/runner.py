"""The long-video quality table: every (method, ratio, prompt, seed) cell generated, measured, tabled.

    from vidlong.eval.runner import EvalConfig, run_eval
    run_eval(EvalConfig(model="default", ratios=(1, 2, 4), methods=("direct", "freelong", "stream"), out="eval"))

For each cell the video is generated (or, if ``DIR/videos/`` already holds it, read back), measured
with `vidlong.eval.metrics.compute_all` and, for shapes-world prompts or the embedded default model,
with the shapes checker of `vidlong.eval.shapes`, and appended to ``DIR/results.csv`` (rewritten
atomically after every cell). A cell already in ``results.csv`` is skipped, so an interrupted run
picks up where it stopped. Metrics are always computed on the frames read back from the saved mp4,
so a resumed cell measures exactly what a fresh one does.

``DIR/results.md`` is the table (mean over prompts x seeds per method and ratio) and
``DIR/<metric>.png`` the plots (metric vs length ratio, one line per method).

Method names are those of `vidlong.method_names.METHOD_NAMES` plus ``stream`` (chunk-by-chunk generation
through attention sinks and a rolling KV cache, `vidlong.Streaming`) and ``stream-fifo`` (a stream by
diagonal denoising, `vidlong.DiagonalDenoising`: for one prompt the ``fifo`` method's latents bit for bit, its
frames to within one grey level (the streaming decoder); ``stream-fifo-cut`` cuts at a switch,
`DiagonalDenoising.cut_on_prompt_switch`). The methods that have ratio presets (`PRESET_METHODS`: ultravico and
the FreeLong++ methods) take the preset's settings, as ``vidlong generate --preset Nx`` would. With
``noise="method"`` each method starts from its paper's noise
(`vidlong.methods.default_noise`: FreeLong++ and its combinations from the preset's SpecMix noise,
UltraViCo and every baseline from plain Gaussian noise); ``noise="plain"`` starts all from plain
noise. A name may force the noise with a suffix: ``direct+specmix`` is SpecMix alone,
``ultravico+specmix`` UltraViCo with it, ``freelong+plain`` FreeLong++ without it, ``both+freenoise``
with FreeNoise's rescheduled noise.

Two grids: ``lengths`` (the prompts above at every ratio) and ``timeline`` (`vidlong.eval.timeline`:
prompt timelines whose prompt changes in the middle of the video, each segment scored against its own
prompt: the offline timeline of `vidlong generate`; ``stream`` switches prompt at the first chunk that
starts at or after the switch's second, `VideoStreamer.follow_timeline`; ``stream-fifo`` likewise, every frame
not yet shown taking the new prompt, `DiagonalStreamer`).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import VidlongError, named, renamed
from ..fifo_stream import chunk_layout
from ..files import atomic_write_text, check_name_fits, check_writable_folder, exclusive_lock, weights_fingerprint
from ..generate import GenerateRequest, generate, ratio_latent_frames
from ..method_names import EVAL_DEFAULT_METHODS, EVAL_METHODS, FIFO_STREAM_EVAL_METHODS, FUSION_METHODS, STREAM_EVAL_METHODS
from ..methods import WINDOW_CONTEXTS, DiagonalDenoising, Streaming, preset_names
from ..models import (EMBEDDED_MODELS, ModelSpec, check_model_folder, folder_class_name, pipeline_folder,
                      pixel_frames, spec_for_folder, weight_folders)
from ..schedulers.timeline import parse_prompt_timeline
from ..streaming import held_sound
from ..validate import MAX_GUIDANCE, check_device, check_finite, check_seed, check_steps, limits_for_folder
from ..video_io import Soundtrack, read_video, write_video
from . import shapes
from .metrics import DIRECTION, compute_all
from .timeline import TIMELINE_DIRECTION, TIMELINE_LABELS, builtin_timelines, is_timeline, measure_timeline

#: `vidlong eval --grid` choices (see the module docstring)
GRIDS = tuple(EVAL_DEFAULT_METHODS)

#: The methods that take a ratio preset's settings (FreeLong++ and its combinations also its initial noise).
PRESET_METHODS = ("ultravico", *FUSION_METHODS)

#: suffixes of an eval method name that force its initial noise (``direct+specmix``)
NOISE_SUFFIXES = ("+specmix", "+plain", "+freenoise")

#: Eight shapes-world prompts in the default model's template language (one, two and three objects,
#: every colour and shape, plain and gradient backgrounds, spinning and bouncing).
DEFAULT_PROMPTS = (
    "a red circle and a blue square on a black background",
    "a green triangle bouncing on a dark gray background",
    "a yellow square and a magenta circle on a gray background",
    "a cyan ball moving on a black to gray gradient background",
    "a blue triangle, a red square and a yellow circle on a light gray background",
    "a spinning magenta square on a dark gray background",
    "a green circle and a red triangle bouncing",
    "a yellow triangle and a cyan box on a black background",
)

#: Shapes-checker statistics shown in the table and plotted ("higher"/"lower" is better); every key
#: of `ShapesReport.summary` still goes to results.csv with a ``shapes_`` prefix.
SHAPES_DIRECTION = {
    "frac_frames_all_present": "higher",
    "frac_frames_all_shapes_correct": "higher",
    "frac_frames_count_correct": "higher",
    "frac_frames_extra_colour": "lower",
    "frac_frames_duplicate_object": "lower",
    "colour_fidelity": "higher",
    "mean_accel_rel_diag": "lower",
    "vanish_events": "lower",
}

#: Short column titles for the shapes statistics (the CSV keeps the full ``shapes_<key>`` names).
SHAPES_LABELS = {
    "frac_frames_all_present": "all present",
    "frac_frames_all_shapes_correct": "shapes right",
    "frac_frames_count_correct": "count right",
    "frac_frames_extra_colour": "extra colour",
    "frac_frames_duplicate_object": "duplicates",
    "colour_fidelity": "colour fidelity",
    "mean_accel_rel_diag": "accel / diag",
    "vanish_events": "vanish events",
}

ARROW = {"higher": "↑", "lower": "↓", "neither": ""}
KEY_FIELDS = ("model", "weights", "method", "ratio", "prompt", "seed", "steps", "guidance", "noise_mode", "partition_guidance",
              "noise_correlation", "stream_chunk")
INFO_FIELDS = ("preset", "noise", "latent_frames", "pixel_frames", "native_pixel_frames", "seconds", "video")


@dataclass
class EvalConfig:
    """One `vidlong eval` run.

    Attributes:
        model: a local diffusers pipeline folder, or None / "default" for the embedded default model.
        out: output folder (created); holds videos/, results.csv, results.md and the plots.
        prompts: the prompts; None: the grid's own (`DEFAULT_PROMPTS`, or the built-in timelines made for
            each ratio, `vidlong.eval.timeline.builtin_timelines`). Every prompt of the timeline grid is a
            prompt timeline (``"0s: ...; 4s: ..."``).
        ratios: lengths as multiples of the native window (latent frames = round(ratio x native)).
        methods: names from `EVAL_METHODS`; None: the grid's `EVAL_DEFAULT_METHODS`.
        seeds: number of seeds per prompt (seeds first_seed .. first_seed + seeds - 1).
        first_seed: the first seed (0; choose settings on seeds that no reported number uses, e.g. 20).
        steps, guidance: sampling settings; None takes the model's defaults.
        partition_guidance: the fifo methods' guidance per partition of the queue
            (`DiagonalDenoising.guidance_by_partition`, cleanest first); None: `guidance` at every level.
        noise_correlation: the fifo methods' `DiagonalDenoising.noise_correlation` (0: independent noise).
        noise: "method" (each method's own initial noise, see the module docstring) or "plain" (all plain).
        stream_chunk: latent frames per streamed chunk; None: a third of the native window (>= 1).
        device: "cpu" / "cuda"; None picks cuda when available.
        command: the command line, recorded in results.md.
        grid: "lengths" or "timeline" (see the module docstring).
        loras: LoRA files merged into the model (`vidlong.lora.LoraFile`); their weights and scales join the cells' weights.
        plots: whether to draw ``out/<metric>.png`` (False: results.csv and results.md alone, about 1.5 s less a run on 2
            CPU cores; plots an earlier run drew are left as they were).
    """

    model: Optional[str] = None
    out: str = "eval"
    prompts: Optional[Sequence[str]] = None
    ratios: Sequence[float] = (1, 2, 4, 8, 16)
    methods: Optional[Sequence[str]] = None
    seeds: int = 2
    first_seed: int = 0
    steps: Optional[int] = None
    guidance: Optional[float] = None
    partition_guidance: Optional[tuple] = None
    noise_correlation: float = 0.0
    noise: str = "method"
    stream_chunk: Optional[int] = None
    device: Optional[str] = None
    command: str = ""
    grid: str = "lengths"
    loras: Sequence = ()
    plots: bool = True

    def __post_init__(self):
        if self.grid not in GRIDS:
            raise VidlongError(f"--grid must be one of {', '.join(GRIDS)}, got {self.grid!r}")
        if self.prompts is None and self.grid == "lengths":
            self.prompts = DEFAULT_PROMPTS
        if self.prompts is not None:
            self.prompts = [p.strip() for p in self.prompts if p and p.strip()]
            if not self.prompts:
                raise VidlongError("no prompts to evaluate; give a prompts file with one prompt per line")
            if self.grid == "timeline":
                plain = next((p for p in self.prompts if not is_timeline(p)), None)
                if plain is not None:
                    raise VidlongError(f"--grid timeline needs prompt timelines (\"0s: a red ball; 4s: a blue ball\"), "
                                       f"got {plain!r}; write one timeline per line")
        self.ratios = [float(r) for r in self.ratios]
        bad = [r for r in self.ratios if not (r > 0 and math.isfinite(r))]
        if bad or not self.ratios:
            raise VidlongError(f"every ratio must be > 0 (a multiple of the native length), got {bad[0] if bad else 'none'}")
        self.methods = list(EVAL_DEFAULT_METHODS[self.grid] if self.methods is None else self.methods)
        for m in self.methods:
            check_method(m)
        if not self.methods:
            raise VidlongError(f"no methods given; choose from: {', '.join(EVAL_METHODS)}")
        if not str(self.out).strip():
            raise VidlongError("--out is empty; give the folder for the videos and results.csv")
        if self.seeds < 1:
            raise VidlongError(f"--seeds must be >= 1 (the number of seeds per prompt), got {self.seeds}")
        check_seed(self.first_seed, "--first-seed")
        check_seed(self.first_seed + self.seeds - 1, "--first-seed + --seeds - 1 (the last seed)")
        check_steps(self.steps, "--steps")
        check_finite("--guidance", self.guidance, 0, MAX_GUIDANCE)
        check_device(self.device)  # before any folder is made
        if self.noise not in ("method", "plain"):
            raise VidlongError(f"--noise must be 'method' or 'plain', got {self.noise!r}")
        if self.stream_chunk is not None and self.stream_chunk < 1:
            raise VidlongError(f"--stream-chunk must be >= 1 latent frame, got {self.stream_chunk}")
        if self.partition_guidance is not None:
            try:
                self.partition_guidance = DiagonalDenoising(guidance_by_partition=self.partition_guidance).guidance_by_partition
            except VidlongError as err:
                raise VidlongError(str(err).replace("DiagonalDenoising guidance_by_partition", "partition_guidance")) from None
            if not any(fifo_method(m) for m in self.methods):
                raise VidlongError("--partition-guidance sets the fifo methods' guidance, and --methods has none; add fifo, "
                                   "stream-fifo or stream-fifo-cut to --methods, or drop --partition-guidance")
        try:
            self.noise_correlation = DiagonalDenoising(noise_correlation=self.noise_correlation).noise_correlation
        except VidlongError as err:
            raise VidlongError(str(err).replace("DiagonalDenoising noise_correlation", named("noise_correlation"))) from None
        if self.noise_correlation and not any(fifo_method(m) for m in self.methods):
            raise VidlongError("--noise-correlation sets the fifo methods' queue noise, and --methods has none; add fifo, "
                               "stream-fifo or stream-fifo-cut to --methods, or drop --noise-correlation")
        if self.stream_chunk is not None and "stream" not in self.methods:
            raise VidlongError("--stream-chunk sets the stream method's chunk, and --methods has no stream; "
                               "add stream to --methods or drop --stream-chunk")


@dataclass
class Cell:
    method: str
    ratio: float
    prompt: str
    seed: int


@dataclass
class EvalOutcome:
    """What `run_eval` did: cells generated, read back from existing videos, and skipped."""

    generated: int = 0
    from_video: int = 0
    skipped: int = 0
    rows: list = field(default_factory=list)
    files: list = field(default_factory=list)


# ---- parsing helpers (shared with the CLI) ---------------------------------------------------


def parse_ratios(text: str) -> list[float]:
    """``"1,2,4,8"`` -> [1.0, 2.0, 4.0, 8.0]; a one-line error for anything else."""
    out = []
    for part in str(text).split(","):
        part = part.strip().lower().removesuffix("x")
        try:
            value = float(part)
        except ValueError:
            raise VidlongError(f"--ratios takes numbers separated by commas (e.g. 1,2,4,8), got {text!r}") from None
        if not (value > 0 and math.isfinite(value)):
            raise VidlongError(f"every ratio must be > 0 (a multiple of the native length), got {part}")
        out.append(value)
    return out


def parse_methods(text: str) -> list[str]:
    """``"direct,stream"`` -> ["direct", "stream"], each checked against `EVAL_METHODS`."""
    methods = [m.strip() for m in str(text).split(",") if m.strip()]
    for m in methods:
        check_method(m)
    if not methods:
        raise VidlongError(f"--methods is empty; choose from: {', '.join(EVAL_METHODS)}")
    return methods


def check_method(method: str) -> None:
    """A one-line error unless `method` is an `EVAL_METHODS` name, or one but stream with a noise suffix."""
    base, noise = split_noise(method)
    if base not in EVAL_METHODS or (noise and base in STREAM_EVAL_METHODS):
        raise VidlongError(f"unknown method {method!r}; choose from: {', '.join(EVAL_METHODS)} (all but the streams may end in "
                           f"{' or '.join(NOISE_SUFFIXES)})")


def split_noise(method: str) -> tuple[str, Optional[str]]:
    """``"ultravico+specmix"`` -> ("ultravico", "specmix"); a name with no noise suffix -> (name, None)."""
    for suffix in NOISE_SUFFIXES:
        if method.endswith(suffix):
            return method[: -len(suffix)], suffix[1:]
    return method, None


def read_prompts(path) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are ignored."""
    path = Path(path)
    if path.is_dir():
        raise VidlongError(f"prompts file {path} is a folder; give a text file with one prompt per line")
    if not path.is_file():
        raise VidlongError(f"prompts file {path} does not exist; give a text file with one prompt per line")
    try:
        prompts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise VidlongError(f"prompts file {path} is not UTF-8 text; save it as UTF-8, one prompt per line") from None
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise VidlongError(f"prompts file {path} holds no prompts; write one prompt per line")
    return prompts


def ratio_label(ratio: float) -> str:
    return f"{ratio:g}x"


# ---- results.csv -----------------------------------------------------------------------------


def cell_key(row: dict) -> tuple:
    """What identifies one cell of results.csv (model and its weights' fingerprint, method, ratio,
    prompt, seed, sampling settings). Rows of files written before the fingerprint match nothing; rows
    written before the ``partition_guidance``, ``noise_correlation`` or ``stream_chunk`` column count as having none (a
    stream's default chunk)."""
    return (str(row["model"]), str(row.get("weights", "")), str(row["method"]), f"{float(row['ratio']):g}",
            str(row["prompt"]), int(row["seed"]), int(row["steps"]), f"{float(row['guidance']):g}",
            str(row["noise_mode"]), str(row.get("partition_guidance") or ""), str(row.get("noise_correlation") or ""),
            str(row.get("stream_chunk") or ""))


def fifo_method(method: str) -> bool:
    """Whether an eval method samples by diagonal denoising (`fifo`, its noise variants, the fifo streams)."""
    return split_noise(method)[0] == "fifo" or method in FIFO_STREAM_EVAL_METHODS


def fifo_label(method: str, value) -> str:
    """A fifo option's column in results.csv for a cell of `method`: a `partition_guidance` as ``"4.5,6,7.5"``, a
    `noise_correlation` as ``"0.5"``, for a fifo method with it set; else empty."""
    if not value or not fifo_method(method):
        return ""
    return ",".join(exact_number(v) for v in value) if isinstance(value, tuple) else exact_number(value)


def stream_chunk_label(method: str, spec: ModelSpec, chunk: Optional[int]) -> str:
    """The ``stream_chunk`` column of a cell of `method`: the latent frames per chunk of a ``stream`` cell whose chunk
    (`--stream-chunk`) is not the default one, else empty (so cells made before the column keep their key)."""
    made = stream_chunk_for(spec, chunk)
    return str(made) if method == "stream" and made != stream_chunk_for(spec, None) else ""


def exact_number(value: float) -> str:
    """`value` short (``4.5``) where that reads back as the same float, else in full (a key must not merge two)."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def read_results(path) -> list[dict]:
    """Rows of a results.csv (values as strings), [] when there is none. A row with fewer or more values than the header
    (a line cut short, or two run together) is named on stderr by its line and left out: its cell is measured again."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            if None in row or None in row.values():  # DictReader's marks of missing and extra values
                print(f"vidlong eval: {path} line {reader.line_num} is cut short; measuring its cell again", file=sys.stderr)
            else:
                rows.append(row)
    return rows


def write_results(path, rows: list[dict]) -> None:
    """Rewrite results.csv atomically; columns: key fields, info fields, then every metric seen."""
    columns = list(KEY_FIELDS) + list(INFO_FIELDS)
    for row in rows:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt_csv(v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def _fmt_csv(value):
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    return value


# ---- one cell ------------------------------------------------------------------------------------


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")
    return f"{slug}-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def video_path(out: Path, spec: ModelSpec, weights: str, cell: Cell, steps: int, guidance: float,
               noise_mode: str, partition_guidance: str = "", noise_correlation: str = "", stream_chunk: str = "") -> Path:
    """Where the cell's mp4 lives:
    ``out/videos/<model>-<weights>/<method>-<ratio>-<prompt>-seed<s>-steps<n>[...].mp4``."""
    extra = f"-cfg{guidance:g}" + ("" if noise_mode == "method" else f"-{noise_mode}")
    extra += f"-pg{partition_guidance.replace(',', '-')}" if partition_guidance else ""
    extra += f"-nc{noise_correlation}" if noise_correlation else ""
    extra += f"-chunk{stream_chunk}" if stream_chunk else ""
    name = f"{cell.method}-{ratio_label(cell.ratio)}-{_slug(cell.prompt)}-seed{cell.seed}-steps{steps}{extra}.mp4"
    return out / "videos" / re.sub(r"[^A-Za-z0-9._-]+", "_", f"{spec.name}-{weights}") / name


def preset_for(method: str, ratio: float) -> Optional[str]:
    """The ratio preset a method uses ("4x" at ratio 4 when shipped), None for baselines."""
    name = ratio_label(ratio)
    return name if method in PRESET_METHODS and name in preset_names() else None


def stream_settings(folder: Path, spec: ModelSpec, config: EvalConfig) -> tuple[int, float]:
    """(steps, guidance) of a stream cell: the config's, else the model's streaming defaults (a causal
    model's levels and guidance), as `VideoStreamer` resolves them; steps are model evaluations per chunk."""
    from ..streaming import StreamSampling

    sampling = StreamSampling.resolve(stream_config(spec, config), spec, stream_context_for(folder, spec, config) in WINDOW_CONTEXTS,
                                      config.guidance)
    return sampling.step_count, sampling.guidances[0]


def stream_config(spec: ModelSpec, config: EvalConfig) -> Streaming:
    """The `Streaming` of a stream cell: the cell's chunk and the config's steps, the rest the model's."""
    return Streaming(chunk=stream_chunk_for(spec, config.stream_chunk), steps=config.steps)


def stream_context_for(folder: Path, spec: ModelSpec, config: EvalConfig) -> str:
    """"cache", "renoise" or "clean": the context a stream cell runs with (the model's, as `VideoStreamer` resolves it)."""
    from ..validate import resolve_context

    return resolve_context(stream_config(spec, config), limits_for_folder(folder))


def stream_chunk_for(spec: ModelSpec, chunk: Optional[int]) -> int:
    """Latent frames per streamed chunk: given, or a third of the native window (sinks and window as `Streaming`'s
    defaults, so a chunk never sees more than the native window)."""
    return chunk if chunk is not None else max(1, spec.native_frames // 3)


def generate_cell(pipe, cell: Cell, spec: ModelSpec, steps: Optional[int], guidance: Optional[float], noise_mode: str,
                  stream_chunk: Optional[int], stream_sinks: Optional[int] = None,
                  partition_guidance: Optional[tuple] = None,
                  noise_correlation: float = 0.0) -> tuple[np.ndarray, Optional[Soundtrack], dict]:
    """(uint8 frames [T, H, W, 3], its sound (LTX-2's; else None), settings) of one cell. `steps`, `guidance`: None for the
    model's own (a stream's are its streaming defaults: a causal model's few levels and guidance). `stream_sinks`:
    a stream's sink frames (None: `Streaming`'s default, `vidlong.schedulers.stream.StreamSchedule.resolve`).
    `partition_guidance`, `noise_correlation`: a fifo method's `DiagonalDenoising.guidance_by_partition` (None: `guidance`
    at every level) and `noise_correlation`."""
    from ..validate import limits_for_pipeline, odd_latents

    n_latent = ratio_latent_frames(cell.ratio, spec.native_frames, odd_latents(limits_for_pipeline(pipe)))  # generate's
    if cell.method in STREAM_EVAL_METHODS:
        fifo = cell.method in FIFO_STREAM_EVAL_METHODS
        if fifo:
            streaming = DiagonalDenoising(cut_on_prompt_switch=cell.method == "stream-fifo-cut",
                                          guidance_by_partition=partition_guidance, noise_correlation=noise_correlation)
        else:
            streaming = Streaming(chunk=stream_chunk_for(spec, stream_chunk), steps=steps, sinks=stream_sinks)
        layout = chunk_layout(streaming)
        first = min(layout.first_chunk or spec.stream_first_chunk or layout.chunk, n_latent)
        chunks = 1 + -(-(n_latent - first) // layout.chunk)
        timeline = parse_prompt_timeline(cell.prompt)
        streamer = pipe.stream(timeline[0][1], streaming=streaming, chunks=chunks, guidance=guidance, seed=cell.seed)
        streamer.follow_timeline(timeline)
        frames, sounds, seconds = [], [], 0.0
        for piece in streamer:
            frames.append(piece.frames)
            sounds.append(piece.audio)
            seconds += piece.seconds
        video = np.concatenate(frames)[: pixel_frames(n_latent, spec.temporal_ratio)]
        sound = Soundtrack.joined([*sounds, held_sound(streamer)], seconds=len(video) / spec.fps)
        return video, sound, dict(preset="", noise="plain", latent_frames=n_latent, seconds=round(seconds, 3),
                           stream_chunk=layout.chunk, stream_chunks=chunks,
                           stream_sinks=streaming.sink_frames if fifo else streamer.schedule.sinks,
                           guidance=streamer.guidances[0], stream_prompts=streamer.prompts,
                           cut_on_prompt_switch=streaming.cut_on_prompt_switch if fifo else None,
                           guidance_by_partition=streaming.guidance_by_partition if fifo else None,
                           noise_correlation=streaming.noise_correlation if fifo else None,
                           steps=spec.num_inference_steps if fifo else len(streamer.timesteps) if streamer.causal else streamer.steps)
    fifo = (partition_guidance or noise_correlation) and split_noise(cell.method)[0] == "fifo"
    diagonal = DiagonalDenoising(guidance_by_partition=partition_guidance, noise_correlation=noise_correlation) if fifo else None
    result = generate(pipe, cell_request(cell, spec, steps, guidance, noise_mode), diagonal=diagonal)
    return result.frames, result.audio, cell_info(result.settings)


def cell_request(cell: Cell, spec: ModelSpec, steps: Optional[int], guidance: Optional[float], noise_mode: str) -> GenerateRequest:
    """The `generate` request of a cell other than a stream (its preset and initial noise as the module
    docstring says)."""
    method, forced_noise = split_noise(cell.method)
    return GenerateRequest(prompt=cell.prompt, ratio=max(1, round(cell.ratio * spec.native_frames)) / spec.native_frames,
                           method=method, preset=preset_for(method, cell.ratio),
                           noise=forced_noise or (None if noise_mode == "method" else "plain"),
                           steps=steps, guidance=guidance, seed=cell.seed)


def cell_info(settings: dict) -> dict:
    """What a cell's ``.json`` keeps of its `generate` settings."""
    return dict(preset=settings["preset"] or "", noise=settings["noise"], latent_frames=settings["latent_frames"],
                seconds=settings["seconds"])


def measure(frames: np.ndarray, prompt: str, spec: ModelSpec, shapes_model: bool) -> dict:
    """`compute_all` metrics plus, for shapes prompts / the shapes model, ``shapes_*`` checker stats of the
    whole video, or for a prompt timeline ``timeline_*`` statistics per segment (`measure_timeline`)."""
    row = dict(compute_all(frames, native_frames=spec.native_pixel_frames))
    if is_timeline(prompt):
        row.update({f"timeline_{k}": v for k, v in measure_timeline(frames, prompt, spec).items()})
    elif shapes_model or shapes.parse_prompt(prompt):
        summary = shapes.check_video(frames, prompt).summary()
        row.update({f"shapes_{k}": v for k, v in summary.items()})
    return row


# ---- the run -------------------------------------------------------------------------------------


def resolve_model(model: Optional[str]) -> Path:
    return check_model_folder(model)


def is_default_model(folder: Path, spec: ModelSpec) -> bool:
    """An embedded shapes-world model (the default model or one built on it), or a copy of one (same spec name)."""
    return pipeline_folder(folder).resolve() == EMBEDDED_MODELS["default"].resolve() or \
        spec.name in {path.name for path in EMBEDDED_MODELS.values()} | set(EMBEDDED_MODELS)


def run_eval(config: EvalConfig, progress: bool = True, pipe=None) -> EvalOutcome:
    """Run (or resume) the evaluation of `config`; returns what was done. `pipe`: an already loaded
    pipeline for the same model (loaded lazily otherwise, only when a cell needs generating), with the LoRAs it was
    loaded with (`load_pipeline`'s ``loras``; `config.loras`, if given, must be the same)."""
    from tqdm import tqdm

    folder = resolve_model(config.model)
    out = Path(config.out)
    if out.exists() and not out.is_dir():
        raise VidlongError(f"--out {out} is a file; give a folder")
    if not out.parent.is_dir():
        raise VidlongError(f"cannot write to {out}: folder {out.parent} does not exist; create it first")
    check_writable_folder(out, f"cannot write to {out}")  # the folder, or where it is made
    check_name_fits(out, f"cannot write to {out}")
    check_steps(config.steps, "--steps", limits_for_folder(folder).family)  # before a folder with no vidlong.yaml loads
    loras = ()
    if config.loras:
        from ..pipeline import check_loras, pipeline_class

        checked = check_loras(folder, config.loras, pipeline_class(folder_class_name(folder)))  # before any model loads
        loras = tuple(lora for lora, _ in checked)
    if pipe is not None:  # the cells are made with its weights: the LoRAs merged into it join their fingerprint
        if loras and loras != tuple(pipe.vidlong_loras):
            raise VidlongError("EvalConfig.loras differ from the LoRAs merged into the given pipe; leave loras out (the "
                               "pipe's are used) or pass no pipe")
        loras = tuple(pipe.vidlong_loras)
    try:
        spec = pipe.spec if pipe is not None else spec_for_folder(folder)
    except VidlongError:  # no vidlong.yaml: the spec comes from the transformer's config
        pipe = _load(folder, config.device, loras)
        spec = pipe.spec
    steps = config.steps or spec.num_inference_steps
    guidance = spec.guidance_scale if config.guidance is None else config.guidance
    shapes_model = is_default_model(folder, spec)
    weights = "+".join([*(weights_fingerprint(f) for f in weight_folders(folder)),
                        *(f"{weights_fingerprint(lora.path)}x{lora.scale:g}@{lora.expert}" for lora in loras)])
    if (config.stream_chunk or 0) > spec.native_frames:
        raise VidlongError(f"--stream-chunk {config.stream_chunk} exceeds the native window of {spec.name} "
                           f"({spec.native_frames} latent frames); use at most {spec.native_frames}")
    fifo_streams = [m for m in config.methods if m in FIFO_STREAM_EVAL_METHODS]
    if fifo_streams and steps != spec.num_inference_steps:
        raise VidlongError(f"{fifo_streams[0]} makes its native video with the model's {spec.num_inference_steps} steps; drop "
                           f"--steps {steps} or run {fifo_streams[0]} apart")
    too_short = [r for r in config.ratios if round(r * spec.native_frames) < 2]
    if too_short:
        raise VidlongError(f"ratio {too_short[0]:g} gives fewer than 2 latent frames of {spec.name} (native "
                           f"{spec.native_frames}); use a ratio >= {2 / spec.native_frames:.2g}")

    prompts_at = {r: config.prompts or builtin_timelines(spec, r) for r in config.ratios}
    cells = [Cell(m, r, p, s) for m in config.methods for r in config.ratios for p in prompts_at[r]
             for s in range(config.first_seed, config.first_seed + config.seeds)]
    check_cells(folder, cells)
    out.mkdir(exist_ok=True)
    with exclusive_folder(out):  # a second run into the same folder would overwrite this one's rows
        csv_path = out / "results.csv"
        rows = read_results(csv_path)
        done = {cell_key(r) for r in rows}
        outcome = EvalOutcome()

        stream_steps, stream_guidance = stream_settings(folder, spec, config)

        def settings_of(cell):
            """(steps, guidance) a cell runs with: a stream's own defaults unless asked (see `stream_settings`)."""
            return (stream_steps, stream_guidance) if cell.method == "stream" else (steps, guidance)

        def key_fields(cell) -> dict:
            """The cell's `KEY_FIELDS`, as its results.csv row holds them."""
            cell_steps, cell_guidance = settings_of(cell)
            return dict(model=spec.name, weights=weights, method=cell.method, ratio=cell.ratio, prompt=cell.prompt,
                        seed=cell.seed, steps=cell_steps, guidance=cell_guidance, noise_mode=config.noise,
                        partition_guidance=fifo_label(cell.method, config.partition_guidance),
                        noise_correlation=fifo_label(cell.method, config.noise_correlation),
                        stream_chunk=stream_chunk_label(cell.method, spec, config.stream_chunk))

        bar = tqdm(cells, unit="video", dynamic_ncols=True, disable=not progress, file=sys.stderr)
        for cell in bar:
            bar.set_postfix_str(f"{cell.method} {ratio_label(cell.ratio)} seed {cell.seed}")
            fields = key_fields(cell)
            if cell_key(fields) in done:
                outcome.skipped += 1
                continue
            path = video_path(out, spec, weights, cell, fields["steps"], fields["guidance"], config.noise,
                              fields["partition_guidance"], fields["noise_correlation"], fields["stream_chunk"])
            info_path = path.with_suffix(".json")
            saved = read_saved_cell(path, info_path)
            if saved is not None:
                frames, info = saved
                outcome.from_video += 1
            else:
                if pipe is None:
                    pipe = _load(folder, config.device, loras)
                own = cell.method == "stream"  # a stream takes the model's streaming defaults unless asked
                frames, sound, info = generate_cell(pipe, cell, spec, config.steps if own else steps,
                                                    config.guidance if own else guidance, config.noise, config.stream_chunk,
                                                    partition_guidance=config.partition_guidance,
                                                    noise_correlation=config.noise_correlation)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_video(path, frames, fps=spec.fps, audio=sound)  # LTX-2's with its sound
                atomic_write_text(info_path, json.dumps(info, indent=2) + "\n")  # written last: marks the video done
                outcome.generated += 1
                frames, _ = read_video(path)  # measured as saved (after compression), as a rerun would
            row = dict(fields, preset=info.get("preset", ""), noise=info.get("noise", ""),
                       latent_frames=info.get("latent_frames", ""), pixel_frames=int(frames.shape[0]),
                       native_pixel_frames=spec.native_pixel_frames, seconds=info.get("seconds", ""),
                       video=str(path.relative_to(out)))
            row.update(measure(frames, cell.prompt, spec, shapes_model))
            rows.append(row)
            done.add(cell_key(fields))
            write_results(csv_path, rows)
        bar.close()

        wanted = {cell_key(key_fields(c)) for c in cells}
        outcome.rows = [r for r in read_results(csv_path) if cell_key(r) in wanted]
        header = dict(model=spec.name, weights=weights, model_path=str(folder), steps=steps, guidance=guidance,
                      partition_guidance=fifo_label("fifo", config.partition_guidance),
                      noise_correlation=fifo_label("fifo", config.noise_correlation),
                      noise=config.noise, prompts=len(prompts_at[config.ratios[0]]), seeds=config.seeds,
                      first_seed=config.first_seed,
                      command=config.command,
                      native_frames=spec.native_frames, native_pixel_frames=spec.native_pixel_frames,
                      stream_chunk=stream_chunk_for(spec, config.stream_chunk) if "stream" in config.methods else None,
                      stream_first_chunk=spec.stream_first_chunk, stream_context=stream_context_for(folder, spec, config)
                      if "stream" in config.methods else None,
                      stream_steps=stream_steps, stream_guidance=stream_guidance)
        table = aggregate(outcome.rows, config.methods, config.ratios)
        atomic_write_text(out / "results.md", results_markdown(table, header))
        plots = write_plots(table, config.methods, config.ratios, out) if config.plots else []
        outcome.files = [csv_path, out / "results.md", *plots]
        return outcome


def exclusive_folder(out: Path):
    """Holds `out` for one `vidlong eval` at a time (`exclusive_lock` on ``out/.vidlong-eval.lock``): a second run into it
    is refused in one line, where it would rewrite results.csv from its own rows and drop the first run's."""
    return exclusive_lock(out / ".vidlong-eval.lock", f"another vidlong eval is writing to {out}; wait for it to end, or give "
                          "another --out")


def check_cells(folder: Path, cells: Sequence[Cell]) -> None:
    """One line, before a model loads, for a cell the model cannot make: a method its family lacks (the
    -sinks methods off Wan, fifo where the transformer takes no timestep per token), a length past its RoPE
    table, a timeline it cannot follow (a family without the segmented cross-attention, an image-to-video
    model, a switch past the video's end); a pipeline that needs more than a prompt (an image, driving videos, a
    control video). Streams are checked for their timeline, a fifo stream also for its family."""
    from ..attention.adapters import adapter_named
    from ..control_video import VIDEO_ONLY_MODELS
    from ..validate import TIMELINE_MODELS, check_generate

    as_generate = {"stream": "none", **dict.fromkeys(FIFO_STREAM_EVAL_METHODS, "fifo")}  # a stream checked as one video
    probes = {(c.method, c.ratio, c.prompt): Cell(as_generate.get(c.method, c.method), c.ratio, c.prompt, 0)  # fifo's family
              for c in cells if c.method not in STREAM_EVAL_METHODS or is_timeline(c.prompt) or c.method in FIFO_STREAM_EVAL_METHODS}
    limits = limits_for_folder(folder)
    if limits.control in VIDEO_ONLY_MODELS:
        raise VidlongError(f"vidlong eval makes its videos from its prompts alone, and {VIDEO_ONLY_MODELS[limits.control]} "
                           "follows a control video: use vidlong generate --control-video with it")
    if limits.task != "t2v":
        raise VidlongError(f"vidlong eval makes its videos from its prompts alone, and this model's pipeline ({limits.task}) "
                           "needs more (a first frame, driving videos): evaluate a text-to-video folder, or use vidlong generate")
    if not probes:
        return
    if any(is_timeline(cell.prompt) for cell in cells) and not adapter_named(limits.family).prompt_timeline:
        raise VidlongError(f"prompt timelines need a {TIMELINE_MODELS} model; drop --grid timeline (or the timeline "
                           "prompts of --prompts), or evaluate such a model")
    with renamed(method="--methods", ratio="--ratios"):  # a cell's request names this command's own flags
        for probe in probes.values():
            check_generate(cell_request(probe, limits.spec, None, None, "method"), limits)


def read_saved_cell(path: Path, info_path: Path):
    """(frames, info) of a cell an earlier run saved, or None when it is missing or damaged; a damaged
    one is named on stderr and made again."""
    if not (path.is_file() and info_path.is_file()):
        return None
    try:
        info = json.loads(info_path.read_text())
        frames, _ = read_video(path)
        if not len(frames) or not isinstance(info, dict):
            raise ValueError("no frames or no settings")
        return frames, info
    except Exception as err:  # noqa: BLE001 - ffmpeg's readers and json raise many types for a damaged file
        print(f"vidlong eval: {path} is damaged ({type(err).__name__}); making it again", file=sys.stderr)
        return None


def _load(folder: Path, device: Optional[str], loras=()):
    from ..pipeline import load_pipeline  # diffusers: imported once a model is needed, not for a bad option

    pipe = load_pipeline(folder, device=device, loras=loras)
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---- aggregation ---------------------------------------------------------------------------------


def every_metric_column() -> list[tuple[str, str]]:
    """[(column, direction)] of every metric a table may show: the video metrics, the shapes and timeline statistics."""
    return [*((k, d) for k, d in DIRECTION.items() if k != "repetition_lag"),
            *((f"{prefix}{k}", d) for prefix, directions in (("shapes_", SHAPES_DIRECTION), ("timeline_", TIMELINE_DIRECTION))
              for k, d in directions.items())]


def metric_columns(rows: list[dict]) -> list[tuple[str, str]]:
    """[(column, direction)]: the video metrics, then the shown shapes and timeline statistics present in `rows`."""
    return [(k, d) for k, d in every_metric_column()
            if k in DIRECTION or any(r.get(k, "") not in ("", None) for r in rows)]


def _floats(values) -> np.ndarray:
    out = []
    for v in values:
        try:
            out.append(float(v))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return np.array(out, dtype=np.float64)


def aggregate(rows: list[dict], methods: Sequence[str], ratios: Sequence[float]) -> dict:
    """``{"columns": [(name, direction)], "cells": {(method, ratio): {"n", "seconds", name: (mean, std)}}}``;
    means and standard deviations over prompts x seeds, NaNs ignored."""
    columns = metric_columns(rows)
    cells = {}
    for m in methods:
        for r in ratios:
            group = [row for row in rows if row["method"] == m and float(row["ratio"]) == float(r)]
            if not group:
                continue
            stats = {"n": len(group), "seconds": _mean_std(_floats(row.get("seconds") for row in group))}
            for name, _ in columns:
                stats[name] = _mean_std(_floats(row.get(name) for row in group))
            cells[(m, float(r))] = stats
    return {"columns": columns, "cells": cells}


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    return float(finite.mean()), float(finite.std())


def _short(name: str) -> str:
    for prefix, labels in (("shapes_", SHAPES_LABELS), ("timeline_", TIMELINE_LABELS)):
        if name.startswith(prefix):
            key = name.removeprefix(prefix)
            return labels.get(key, key.replace("_", " "))
    return name.replace("_", " ")


def _num(value: float) -> str:
    if not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


#: what the checker columns of each prefix mean, written under the table's header when it has them
COLUMN_NOTES = {
    "shapes_": "Shapes columns are per-frame fractions from `vidlong.eval.shapes` (all present: every prompted colour "
               "found; shapes right: each with its prompted shape; count right: as many colours as prompted; extra "
               "colour: an unprompted colour; duplicates: a prompted colour in two places), colour fidelity (share of "
               "coloured pixels in prompted colours), accel / diag (mean |centroid acceleration| per frame over the "
               "frame diagonal: jumps) and vanish events (per video).",
    "timeline_": "Timeline columns score each segment of a prompt timeline with the shapes checker against its own "
                 "prompt (`vidlong.eval.timeline`): own objects (mean over segments of the fraction of the segment's "
                 "frames with every object of its prompt), worst segment (the lowest of those), previous after 1 "
                 "window (frames from one native window after a switch on that still hold every object of the "
                 "previous prompt).",
}


def stream_sampling_note(header: dict) -> str:
    """What a stream cell's chunks ran at, where the model's stream settings differ from the header's steps and guidance
    (e.g. `default-causal`'s ``stream_guidance``), else nothing."""
    steps, guidance = header.get("stream_steps"), header.get("stream_guidance")
    if guidance is None or (steps, guidance) == (header["steps"], header["guidance"]):
        return ""
    return f"each chunk at {steps} steps and guidance {guidance:g} (a stream's own settings); "


def results_markdown(table: dict, header: dict) -> str:
    """The Markdown report: how it was made, then one table of video metrics and one of shapes stats."""
    lines = ["# vidlong eval: long-video quality", ""]
    if header.get("command"):
        lines += ["```", header["command"], "```", ""]
    lines += [f"Model `{header['model']}` (weights `{header['weights']}`; native {header['native_frames']} latent = "
              f"{header['native_pixel_frames']} pixel frames), {header['steps']} steps, "
              f"guidance {header['guidance']:g}"
              + (f" (the fifo methods' queue by partition, cleanest first: {header['partition_guidance']})"
                 if header.get("partition_guidance") else "")
              + (f" (the fifo methods' new queue frames' noise correlated by {header['noise_correlation']})"
                 if header.get("noise_correlation") else "") + ", noise mode "
              f"`{header['noise']}`. Each number is the mean over {header['prompts']} prompt(s) x {header['seeds']} "
              f"seed(s) from seed {header.get('first_seed', 0)} (n = videos in the cell); ↑ higher is better, ↓ lower is better, no arrow: neither. "
              "Repetition needs a video longer than 1.5 native windows, so it is blank at 1x.", ""]
    ran = {split_noise(m)[0] for m, _ in table["cells"]}
    fusion = [m for m in FUSION_METHODS if m in ran]
    preset_methods = [m for m in ("ultravico", *FUSION_METHODS) if m in ran]
    if header.get("noise") == "method" and preset_methods:  # only the methods this table ran
        noise = f"{', '.join(fusion)} from the preset's SpecMix noise, the others" if fusion else "all"
        lines += [f"{', '.join(preset_methods)} take the shipped ratio preset ("
                  f"{', '.join(f'`{name}`' for name in preset_names())}; "
                  f"defaults at other ratios); each method starts from its paper's noise: {noise} "
                  "(UltraViCo as published) from plain Gaussian noise; a "
                  "`+specmix` / `+plain` / `+freenoise` suffix forces it (the `noise` column of results.csv says which each video used).", ""]
    if header.get("stream_chunk"):
        chunk, first = header["stream_chunk"], header.get("stream_first_chunk") or header["stream_chunk"]
        context = {"renoise": "re-noised to each step's level and denoised with the chunk (stock bidirectional forwards)",
                   "cache": "read from the rolling KV cache",
                   "clean": "kept clean under the model's condition mask beside the chunk, as its call conditions"
                   }.get(header.get("stream_context"), "")
        lines += [f"stream: a first chunk of {first} latent frames, then chunks of {chunk}, each seeing the sink frames and "
                  f"a rolling window that fill the native window with it{', ' + context if context else ''}; "
                  f"{stream_sampling_note(header)}the video is cut to the same length as the others.", ""]
    for prefix, note in COLUMN_NOTES.items():
        if any(c[0].startswith(prefix) for c in table["columns"]):
            lines += [note, ""]
    columns = table["columns"]
    groups = [("Video metrics", [c for c in columns if not c[0].startswith(("shapes_", "timeline_"))]),
              ("Shapes-world ground truth (checker)", [c for c in columns if c[0].startswith("shapes_")]),
              ("Prompt timeline, per segment (checker)", [c for c in columns if c[0].startswith("timeline_")])]
    for title, cols in groups:
        if not cols:
            continue
        lines += [f"## {title}", ""]
        head = ["method", "ratio", "n"] + [f"{_short(n)} {ARROW[d]}".strip() for n, d in cols]
        if title == "Video metrics":
            head.append("s/video")
        lines += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["--:"] * (len(head) - 2)) + "|"]
        for (m, r), stats in table["cells"].items():
            cells = [m, ratio_label(r), str(stats["n"])] + [_num(stats[n][0]) for n, _ in cols]
            if title == "Video metrics":
                cells.append(_num(stats["seconds"][0]))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def write_plots(table: dict, methods: Sequence[str], ratios: Sequence[float], out: Path) -> list[Path]:
    """``out/<metric>.png`` for every column: mean vs length ratio, one line per method, with a band of
    ± one standard error of the mean (std / sqrt(n) over the cell's videos); plots of metric columns the table no longer
    has are removed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("vidlong eval: matplotlib is not installed, so no plots were drawn (pip install matplotlib)",
              file=sys.stderr)
        return []
    paths = []
    xs_all = sorted(set(float(r) for r in ratios))
    for name, direction in table["columns"]:
        fig, ax = plt.subplots(figsize=(5.5, 3.6), dpi=100)
        for m in methods:
            cells = [(r, table["cells"][(m, r)]) for r in xs_all if (m, r) in table["cells"]]
            pts = [(r, *cell[name], cell["n"]) for r, cell in cells if math.isfinite(cell[name][0])]
            if not pts:
                continue
            x, mean, std, n = (np.array(v, dtype=np.float64) for v in zip(*pts))
            sem = std / np.sqrt(n)
            ax.plot(x, mean, marker="o", label=m)
            ax.fill_between(x, mean - sem, mean + sem, alpha=0.15)
        if len(xs_all) > 1 and min(xs_all) > 0 and max(xs_all) / min(xs_all) >= 4:
            ax.set_xscale("log", base=2)
        ax.set_xticks(xs_all, [ratio_label(r) for r in xs_all])
        ax.set_xlabel("length / native length")
        ax.set_ylabel(_short(name))
        ax.set_title(f"{_short(name)} {ARROW[direction]}".strip() + " (mean ± std. error, prompts x seeds)", fontsize=9)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        path = out / f"{name}.png"
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp)
        plt.close(fig)
        tmp.replace(path)
        paths.append(path)
    for name, _ in every_metric_column():  # a plot of a column this table no longer has (an earlier run's grid) goes
        if out / f"{name}.png" not in paths:
            (out / f"{name}.png").unlink(missing_ok=True)
    return paths
