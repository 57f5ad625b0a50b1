"""Issue 15: every bad input is refused in one line naming the field and the fix, with exit code 2,
nothing written and no model loaded (a table of CLI cases and one of Python API cases); and a fuzz of
every field of `GenerateRequest` and `Streaming`, through the CLI and the dataclasses: exit codes
0/2/130 only, never a traceback, never an exception other than `VidlongError`."""
import contextlib
import json
import os
import random
import shutil
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import WanPipeline

import vidlong
from vidlong import pipeline as pipeline_module
from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.diagonal import diagonal_latents
from vidlong.files import exclusive_lock
from vidlong.generate import GenerateRequest, generate
from conftest import fuzz_value, tiny_transformer
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


@pytest.fixture(scope="module")
def zero_native_dir(model_dir, tmp_path_factory):
    """The tiny model with ``native_frames: 0`` in its vidlong.yaml."""
    folder = shutil.copytree(model_dir, tmp_path_factory.mktemp("zero-native") / "tiny-zero")
    spec = folder / "vidlong.yaml"
    spec.write_text("\n".join("native_frames: 0" if line.startswith("native_frames:") else line
                              for line in spec.read_text().splitlines()) + "\n")
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """Input files the rows name: a text file, a PNG, a torch file that is no latents file, two 9-frame videos
    without .json sidecars, at 32x32 and at 40x40 (no multiple of the model's 16), and a model folder with an empty
    model_index.json."""
    import numpy as np
    from PIL import Image

    from vidlong.video_io import write_video

    folder = tmp_path_factory.mktemp("inputs")
    write_video(folder / "clip.mp4", np.full((9, 32, 32, 3), 120, np.uint8), fps=8)
    write_video(folder / "clip40.mp4", np.full((9, 40, 40, 3), 120, np.uint8), fps=8)
    (folder / "notes.txt").write_text("not a video\n")
    Image.new("RGB", (32, 32), (200, 30, 30)).save(folder / "frame.png")
    torch.save({"something": 1}, folder / "other.pt")
    (folder / "no_class").mkdir()  # a model folder whose model_index.json names no pipeline class
    (folder / "no_class" / "model_index.json").write_text("{}\n")
    return folder


def run_main(argv):
    """The exit code of an in-process `vidlong` run, argparse's exits included."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code


def files_under(folder: Path) -> list:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# --------------------------------------------------------------------------------------------------
# A. The CLI table. Each row: (subcommand, its arguments, a substring the error line must hold, a setup
# named in `_setup` or ARGPARSE).
# Placeholders: {model} the tiny model, {out} OUT/x.mp4, {outdir} OUT, {zero_native} a model folder
# whose vidlong.yaml says native_frames: 0, {inputs} a folder of input files, {ro} a read-only folder.
# Rows without --model get the tiny model, without --prompt (generate/stream) "a red circle", without
# --out {out}.  Rows marked ARGPARSE are refused by argparse (usage lines, then one "error:" line).
# --------------------------------------------------------------------------------------------------

ARGPARSE = "argparse"

CLI_ROWS = [
    # the list
    ("generate", ["--ratio", "nan"], "--ratio must be a finite number > 0", None),
    ("generate", ["--pose-video", "{inputs}/clip.mp4"], "--pose-video drives a Wan Animate model (WanAnimatePipeline)", None),
    ("generate", ["--mask-video", "{inputs}/notes.txt"], "--mask-video drives a Wan Animate model", None),
    ("generate", ["--control-video", "{inputs}/clip.mp4"], "--control-video guides a Wan VACE model (WanVACEPipeline)", None),
    ("stream", ["--control-video", "{inputs}/clip.mp4", "--chunks", "1"],
     "a stream follows a --control-video with Cosmos-Transfer2.5 alone", None),
    ("generate", ["--seed", "18446744073709551616"], "--seed must be a whole number from 0", None),
    ("generate", ["--seed", "-1"], "--seed must be a whole number from 0", None),
    ("generate", ["--guidance", "nan"], "--guidance must be a finite number", None),
    ("generate", ["--guidance", "-1"], "--guidance must be >= 0", None),
    ("generate", ["--guidance", "1e308"], "--guidance must be <= 100", None),
    ("stream", ["--guidance", "1e308"], "--guidance must be <= 100", None),
    ("generate", ["--ratio", "30"], "RoPE table", None),
    ("generate", ["--method", "fifo", "--ratio", "2", "--prompt", "0s: a red ball; 9s: a blue ball"],
     "starts a prompt at 9s but the video lasts", None),
    ("generate", ["--model", "{zero_native}"], "native_frames of model 'tiny-wan2.1' must be a whole number >= 1", None),
    ("generate", ["--out", "{ro}/x.mp4"], "{ro_message}", "readonly"),
    ("generate", ["--out", "{outdir}/" + "v" * 240 + ".mp4"], "its name is 244 bytes, and this file system takes", None),
    ("stream", ["--save-latents", "{outdir}/" + "l" * 240 + ".pt"], "its name is 243 bytes, and this file system takes", None),
    ("generate", ["--model", "{model}/model_index.json"], "is a file; pass the diffusers pipeline folder", None),
    ("generate", ["--device", "cuda"], "--device cuda was asked for but this machine has no CUDA device", "no_cuda"),
    ("generate", ["--steps", "0"], "--steps must be a whole number from 1", None),
    ("generate", ["--refine"], "this model (WanPipeline) has none in vidlong: drop --refine", None),
    ("generate", ["--refine-lora", "{inputs}/notes.txt"], "--refine-lora sets the refine pass: add --refine", None),
    ("generate", ["--height", "0"], "--height 0 must be at least 16 pixels (a multiple of 16); use --height 16 or more", None),
    ("generate", ["--width", "0"], "--width 0 must be at least 16 pixels", None),
    ("generate", [], "it is a folder; name an .mp4 file", "out_is_folder"),
    ("generate", [], "exists; pass --overwrite", "out_exists"),
    ("generate", [], "x.json exists (--out {out} would replace it too); pass --overwrite", "json_exists"),
    ("generate", ["--overwrite"], "x.json is a folder (--out {out} would write its settings there); choose another --out",
     "json_folder"),
    ("stream", ["--prompt", "0:a red ball; 0:a blue ball"], "two prompts at chunk 0", None),
    ("stream", ["--prompt", "0:a red ball; 5:a blue ball", "--chunks", "5"], "switches at chunk 5 but the stream has 5 chunks (0-4)", None),
    ("stream", ["--prompt", "0s: a red ball; 4s: a blue ball"], "counts chunks, not seconds", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "0:a; 3:b", "--chunks", "2"], "switches at chunk 3 but the stream has 2 chunks", None),
    ("stream", ["--prompt", "0:a red ball; 40:a blue ball", "--seconds", "2"], "switches at chunk 40 but the stream has", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "0:a; 40:b", "--seconds", "1"], "switches at chunk 40 but the stream has", None),
    ("stream", ["--window", "1000"], "--chunk 3 and its default 3 sink frames already fill the model's native window of 3; "
     "use --window 0", None),
    ("stream", ["--sinks", "1000"], "--sinks 1000 + --chunk 3 = 1003 latent frames exceed the model's native window of 3; "
     "drop --sinks", None),
    ("stream", ["--chunk", "1", "--sinks", "3"], "--sinks 3 + --chunk 1 = 4 latent frames exceed the model's native window of 3; use --sinks 2 or less", None),
    ("stream", ["--chunk", "2", "--window", "1"], "the default 1 sink frame + --window 1 + --chunk 2 = 4 latent frames "
     "exceed the model's native window of 3; use --window 0", None),
    ("stream", ["--chunk", "1", "--sinks", "1", "--window", "2"],
     "--sinks 1 + --window 2 + --chunk 1 = 4 latent frames exceed the model's native window of 3; use --window 1 or less", None),
    ("stream", ["--seconds", "-5"], "--seconds must be > 0 (a length), got -5.0; --seconds 0 or --forever runs until stopped", None),
    ("stream", ["--seconds", "nan"], "--seconds must be a finite number", None),
    ("stream", ["--seconds", "1e308"], "--seconds must be at most 1e+07, got 1e+308; use --forever", None),
    ("stream", ["--chunks", "0"], "--chunks must be a whole number >= 1", None),
    ("stream", ["--first-chunk", "0"], "error: --first-chunk must be a whole number >= 1, got 0", None),
    ("stream", ["--first-chunk", "4"], "--first-chunk 4 exceeds the model's native window of 3", None),
    ("generate", ["--height", "33"], "--height 33 must be a multiple of 16; use --height 32 or 48", None),
    ("generate", ["--image", "{inputs}/frame.png"], "text-to-video and takes no --image", None),
    ("generate", ["--video", "{inputs}/notes.txt"], "is not a readable video", None),
    ("generate", ["--video", "{inputs}/notes.txt", "--steps", "1"], "is not a readable video", None),  # the file before the steps
    ("generate", ["--video", "{inputs}/clip.mp4", "--strength", "nan"], "--strength must be a number in (0, 1]", None),
    ("generate", ["--video", "{inputs}/clip.mp4", "--image", "{inputs}/frame.png"],
     "redraws, continues or edits the given video and takes no --image", None),
    ("stream", ["--video", "{inputs}/notes.txt"], "is not a readable video", None),
    ("stream", ["--video", "{inputs}/clip.mp4", "--strength", "nan"], "--strength must be a number in (0, 1]", None),
    ("stream", ["--strength", "0.5"], "--strength is how much of a video a stream redraws: pass --video in.mp4", None),
    ("stream", ["--video", "{inputs}/clip.mp4", "--forever"], "as long as the video", None),
    ("extend", [], "extend needs the video to continue: pass --video in.mp4 or --latents in.pt", None),
    ("extend", ["--video", "{inputs}/notes.txt"], "is not a readable video", None),
    ("extend", ["--video", "{inputs}/frame.png"], "is an image, not a video; to start a video from it use vidlong generate --image", None),
    ("generate", ["--save-latents", "{outdir}/x.txt"], "--save-latents {outdir}/x.txt: name the file with a .pt extension", None),
    ("generate", ["--noise", "bogus"], "--noise", ARGPARSE),
    ("generate", ["--method", "bogus"], "unknown method 'bogus'; choose one of", None),
    ("generate", ["--preset", "bogus"], "unknown preset 'bogus'; choose one of", None),
    # added
    ("generate", ["--ratio", "-1"], "--ratio must be a finite number > 0", None),
    ("generate", ["--ratio", "inf"], "--ratio must be a finite number > 0", None),
    ("generate", ["--height", "2048"], "--height 2048 is more than this model's 1024 pixels", None),
    ("generate", ["--model", "{zero_native}"], "native_frames of model 'tiny-wan2.1' must be a whole number >= 1", None),
    ("stream", ["--sinks", "-1"], "error: --sinks must be a whole number >= 0, got -1", None),
    ("stream", ["--height", "40"], "--height 40 must be a multiple of 16", None),
    ("generate", ["--ratio", "1e308"], "--ratio 1e+308 asks for more latent frames than this model's RoPE table", None),
    ("generate", ["--frames", "1001"], "RoPE table", None),
    ("generate", ["--frames", "0"], "use --frames 1 or --frames 5", None),
    ("generate", ["--ratio", "0"], "--ratio must be a finite number > 0", None),
    ("generate", ["--seed", str(2**63)], "--seed must be a whole number from 0", None),
    ("generate", ["--guidance-2", "inf"], "--guidance-2 must be a finite number", None),
    ("generate", ["--steps", "1001"], "--steps must be a whole number from 1 to 1000", None),
    ("generate", ["--width", "-16"], "--width -16 must be at least 16 pixels", None),
    ("generate", ["--prompt", "   "], "the prompt is empty", None),
    ("generate", ["--device", "gpu"], "--device 'gpu' is not a device", None),
    ("generate", ["--device", "mps"], "--device mps is not one vidlong runs on; use cpu, cuda or cuda:N", None),
    ("generate", ["--prompt", "0: a red ball; 1: a blue ball"], "marks its starts in seconds, not chunks", None),
    ("generate", ["--dtype", "float16", "--device", "cpu"], "--dtype float16 runs on CUDA only; on the CPU use bfloat16", None),
    ("stream", ["--dtype", "float16", "--device", "cpu"], "--dtype float16 runs on CUDA only", None),
    ("extend", ["--dtype", "float64"], "--dtype", ARGPARSE),
    ("generate", ["--out", "{outdir}/x.avi"], "name the output file with a .mp4 extension", None),
    ("generate", ["--out", "{outdir}/missing/x.mp4"], "does not exist; create it first", None),
    ("generate", ["--save-latents", "{outdir}/missing/x.pt"], "does not exist; create it first", None),
    ("generate", ["--save-latents", "{outdir}/x.pt"], "--save-latents {outdir}/x.pt exists; pass --overwrite to replace it, or "
     "choose another --save-latents", "latents_exist"),
    ("generate", ["--save-latents", "{outdir}/l.pt"], "--save-latents {outdir}/l.pt is a folder; name a file in it, e.g. "
     "{outdir}/l.pt/latents.pt", "latents_folder"),
    ("stream", [], "another vidlong run is writing {outdir}/x.mp4; wait for it to end, or choose another --out", "out_held"),
    ("stream", ["--out", "{outdir}/x.MP4"], "another vidlong run is writing {outdir}/x.json; wait for it to end, or choose "
     "another --out", "out_held"),  # x.mp4's run writes the same sidecar
    ("generate", ["--save-latents", "{outdir}/y.pt"], "another vidlong run is writing {outdir}/y.pt; wait for it to end, or "
     "choose another --save-latents", "latents_held"),
    ("generate", ["--model", "{outdir}/nowhere"], "does not exist; pass a local diffusers pipeline folder", None),
    ("generate", ["--model", "{model}/transformer"], "--model {model}/transformer is one component of the pipeline folder "
     "{model}; pass that folder", None),
    ("stream", ["--model", "{inputs}"], "--model {inputs} is not a diffusers pipeline folder (no model_index.json)", None),
    ("generate", ["--ratio", "2", "--frames", "9"], "--frames: not allowed with argument --ratio", ARGPARSE),
    ("generate", ["--steps", "abc"], "--steps: invalid int value", ARGPARSE),
    ("stream", ["--prompt", ""], "the prompt is empty", None),
    ("stream", ["--prompt", "2:a red ball"], "must start at chunk 0", None),
    ("stream", ["--prompt", "0:a red ball; -2:a blue ball"], "prompt schedule entry '-2:a blue ball' starts before chunk 0; "
     "number each prompt's first chunk from 0", None),
    ("generate", ["--prompt", "0s: a red ball; -1s: a blue ball", "--ratio", "2"], "prompt timeline entry '-1s: a blue ball' "
     "starts before 0s; give each prompt its start in seconds", None),
    ("stream", ["--chunk", "0"], "error: --chunk must be a whole number >= 1, got 0", None),
    ("stream", ["--chunk", "4"], "--chunk 4 exceeds the model's native window of 3", None),
    ("stream", ["--window", "-1"], "error: --window must be a whole number >= 0, got -1", None),
    ("stream", ["--steps", "0"], "error: --steps must be a whole number >= 1, got 0", None),
    ("stream", ["--height", "0"], "--height 0 must be at least 16 pixels", None),
    ("stream", ["--model", "default-distilled", "--video", "{inputs}/clip.mp4", "--strength", "0.2"],
     "--strength 0.2 of 4 steps denoises no step", None),  # its causal sampler's 4 levels, before the model loads
    ("stream", ["--preset", "longlive"], "(--chunk, --sinks: --preset longlive's; override them with the options named)", None),
    ("stream", ["--preset", "longlive", "--chunk", "1"], "use --sinks 2 or less (--sinks: --preset longlive's; override them", None),
    ("generate", ["--frames", "8002"], "2001 latent frames is more than this model's RoPE table places", None),  # no hint past it
    ("generate", ["--video", "{inputs}/clip.mp4", "--steps", "1"], "denoises no step; use --steps 2 or more at this strength, or "
     "--strength 1", None),
    ("stream", ["--width", "33"], "--width 33 must be a multiple of 16", None),
    ("stream", ["--guidance-2", "-3"], "--guidance-2 must be >= 0", None),
    ("stream", ["--guidance-2", "3"], "--guidance-2 is the low-noise expert's guidance of a two-expert model (Wan2.2 A14B); "
     "tiny-wan2.1 has one transformer: use --guidance alone", None),
    ("generate", ["--guidance-2", "3"], "tiny-wan2.1 has one transformer: use --guidance alone", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "a", "--guidance-2", "3"], "has one transformer", None),
    ("stream", ["--seed", str(2**64)], "--seed must be a whole number from 0", None),
    ("stream", ["--image", "{inputs}/frame.png"], "text-to-video and takes no --image", None),
    ("stream", ["--context", "bogus"], "--context", ARGPARSE),
    ("stream", ["--seconds", "1", "--chunks", "2"], "--chunks: not allowed with argument --seconds", ARGPARSE),
    ("stream", ["--model", "{zero_native}"], "native_frames of model 'tiny-wan2.1' must be a whole number >= 1", None),
    ("stream", [], "exists; pass --overwrite", "out_exists"),
    ("extend", ["--latents", "{outdir}/missing.pt"], "--latents: no latents file at {outdir}/missing.pt; check the path", None),
    ("extend", ["--latents", "{inputs}", "--prompt", "a"], "--latents {inputs} is a folder; name the file in it", None),
    ("generate", ["--model", "{inputs}/no_class"], "model_index.json names no pipeline class", None),
    ("generate", ["--model", "{damaged}"], "{damaged}/transformer holds a model's config.json and no weights file", "no_weights"),
    ("stream", ["--model", "{damaged}"], "{damaged}/transformer/diffusion_pytorch_model.safetensors is not a whole safetensors "
     "file", "cut_weights"),
    ("extend", ["--latents", "{inputs}/other.pt"], "--latents {inputs}/other.pt is not a vidlong latents file; pass one written "
     "by --save-latents", None),
    ("extend", ["--latents", "{inputs}/notes.txt"], "--latents {inputs}/notes.txt is not a readable latents file", None),
    ("extend", ["--video", "{inputs}"], "--video {inputs} is a folder; pass a video file", None),
    ("generate", ["--video", "{inputs}"], "--video {inputs} is a folder; pass a video file", None),
    ("extend", ["--video", "{inputs}/notes.txt", "--chunks", "0"], "--chunks must be a whole number >= 1", None),
    ("extend", ["--video", "{inputs}/notes.txt", "--seconds", "inf"], "--seconds must be a finite number", None),
    ("extend", ["--video", "{inputs}/notes.txt", "--window", "9"], "already fill the model's native window of 3; use --window 0",
     None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "0:a; 0:b"], "two prompts at chunk 0", None),
    ("extend", ["--video", "{inputs}/clip40.mp4", "--prompt", "a red ball"], "is 40x40; this model needs sizes in multiples of 16", None),
    ("extend", ["--video", "{inputs}/clip40.mp4", "--prompt", "a red ball"],
     "e.g. ffmpeg -i {inputs}/clip40.mp4 -vf crop=32:32 {inputs}/clip40_32x32.mp4", None),  # the user's file, beside it
    ("extend", ["--video", "{inputs}/clip.mp4"], "extend needs --prompt", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--latents", "{inputs}/other.pt"], "--latents {inputs}/other.pt is not a vidlong "
     "latents file", None),
    ("extend", ["--video", "{inputs}/notes.txt", "--first-chunk", "2"],
     "unrecognized arguments: --first-chunk (see vidlong extend --help)", ARGPARSE),
    ("stream", ["--method", "fifo", "--sinks", "2"], "--sinks is an option of --method chunked; --method fifo keeps one sink frame", None),
    ("stream", ["--method", "fifo", "--prompt", "0:a red ball; 5:a blue ball", "--chunks", "4"], "switches at chunk 5 but the stream has 4 chunks", None),
    ("stream", ["--method", "fifo", "--prompt", "0s: a red ball; 2s: a blue ball"], "a stream's schedule counts chunks", None),
    ("stream", ["--cut-on-switch"], "--cut-on-switch is an option of --method fifo", None),
    ("generate", ["--method", "fifo", "--partition-guidance", "4.5,6"], "--partition-guidance takes 3 numbers from 1 to 100", None),
    ("generate", ["--method", "fifo", "--partition-guidance", "4.5,6,inf"], "--partition-guidance takes 3 numbers from 1 to 100", None),
    ("generate", ["--method", "both", "--partition-guidance", "4.5,6,7.5"], "--partition-guidance is an option of --method fifo", None),
    ("stream", ["--method", "fifo", "--partition-guidance", "4.5,six,7.5"], "--partition-guidance takes 3 numbers from 1 to 100", None),
    ("stream", ["--partition-guidance", "4.5,6,7.5"], "--partition-guidance is an option of --method fifo", None),
    ("generate", ["--method", "fifo", "--noise-correlation", "1"], "--noise-correlation must be a number from 0 up to (not including) 1",
     None),
    ("stream", ["--method", "fifo", "--noise-correlation", "nan"], "--noise-correlation must be a number from 0 up to", None),
    ("generate", ["--method", "both", "--noise-correlation", "0.5"], "--noise-correlation is an option of --method fifo", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "a", "--method", "fifo", "--partition-guidance", "0.5,6,7.5"],
     "--partition-guidance takes 3 numbers from 1 to 100", None),
    ("extend", ["--video", "{inputs}/clip.mp4", "--prompt", "a", "--method", "fifo", "--window", "4"],
     "--window is an option of --method chunked", None),
    ("stream", ["--method", "fifo", "--steps", "0"], "--steps must be a whole number from 1 to 1000", None),
    ("stream", ["--method", "bogus"], "--method", ARGPARSE),
]


def _setup(kind, tmp_path, out_dir, subs, monkeypatch, request):
    """Prepare the row's situation; may add substitutions."""
    if kind == "readonly":
        ro = tmp_path / "readonly"
        ro.mkdir()
        ro.chmod(0o555)
        if os.access(ro, os.W_OK):  # root writes anywhere: name a folder that does not exist instead
            ro.chmod(0o755)
            ro = tmp_path / "absent"
            subs["{ro_message}"] = f"folder {ro} does not exist; create it first"
        else:
            subs["{ro_message}"] = f"folder {ro} is not writable; choose another --out"
        subs["{ro}"] = str(ro)
    elif kind in ("no_weights", "cut_weights"):  # an incomplete download: the transformer's weights gone, or cut short
        damaged = shutil.copytree(subs["{model}"], tmp_path / "damaged")
        weights = damaged / "transformer" / "diffusion_pytorch_model.safetensors"
        if kind == "no_weights":
            weights.unlink()
        else:
            weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        subs["{damaged}"] = str(damaged)
    elif kind == "no_cuda":  # the row runs on GPU machines too: CUDA is hidden from it
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    elif kind == "out_is_folder":
        (out_dir / "x.mp4").mkdir()
    elif kind == "out_exists":
        (out_dir / "x.mp4").write_bytes(b"an earlier video")
    elif kind == "json_exists":
        (out_dir / "x.json").write_text("{}\n")
    elif kind == "json_folder":  # no --overwrite replaces a folder
        (out_dir / "x.json").mkdir()
    elif kind == "latents_exist":
        (out_dir / "x.pt").write_bytes(b"earlier latents")
    elif kind == "latents_folder":
        (out_dir / "l.pt").mkdir()
    elif kind in ("out_held", "latents_held"):  # another run's lock on the output, held until the row ends
        held = contextlib.ExitStack()
        for name in ((".x.mp4.lock", ".x.json.lock") if kind == "out_held" else (".y.pt.lock",)):
            held.enter_context(exclusive_lock(out_dir / name, "held"))
        request.addfinalizer(held.close)


def _row_id(row):
    command, args, _, kind = row
    return "-".join([command, *[a.rsplit("/", 1)[-1] for a in args], *([kind] if kind and kind != ARGPARSE else [])])[:60]


@pytest.fixture
def no_model_load(monkeypatch):
    """Any model load fails the row (the CLI imports load_pipeline from vidlong.pipeline when it runs)."""
    def refuse(*args, **kwargs):
        raise AssertionError("model loaded")

    monkeypatch.setattr(pipeline_module, "load_pipeline", refuse)
    monkeypatch.delenv("VIDLONG_DEBUG", raising=False)


@pytest.mark.parametrize("command, args, message, kind", CLI_ROWS, ids=[_row_id(r) for r in CLI_ROWS])
def test_cli_bad_input(command, args, message, kind, model_dir, zero_native_dir, inputs, tmp_path, capsys, monkeypatch,
                      no_model_load, request):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    subs = {"{model}": str(model_dir), "{zero_native}": str(zero_native_dir), "{inputs}": str(inputs),
            "{outdir}": str(out_dir), "{out}": str(out_dir / "x.mp4")}
    _setup(kind, tmp_path, out_dir, subs, monkeypatch, request)

    def fill(text):
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    argv = [command, *[fill(a) for a in args]]
    if "--model" not in args:
        argv += ["--model", str(model_dir)]
    if "--prompt" not in args and command != "extend":
        argv += ["--prompt", "a red circle"]
    if "--out" not in args:
        argv += ["--out", str(out_dir / "x.mp4")]
    before = files_under(tmp_path)
    capsys.readouterr()

    code = run_main(argv)

    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert code == 2, (code, captured.err)
    assert "Traceback" not in captured.err and captured.out == ""
    if kind == ARGPARSE:  # argparse: one line naming the flag and where the usage is
        assert len(err) == 1 and err[0].startswith("vidlong") and "error:" in err[0] and message in err[0], err
        assert err[0].endswith(" --help)"), err
    else:
        assert len(err) == 1 and err[0].startswith("vidlong: error:") and fill(message) in err[0], err
    assert files_under(tmp_path) == before  # nothing written
    if kind == "readonly" and Path(subs["{ro}"]).exists():
        Path(subs["{ro}"]).chmod(0o755)  # let pytest clean it up


@pytest.mark.parametrize("command", ["generate", "stream"])
def test_a_full_disk_after_the_video_keeps_it_and_says_so_in_one_line(command, model_dir, tmp_path, capsys, monkeypatch):
    """Where the file system refuses the .json beside a finished video (a full disk), the video stays and one line says
    what is missing (exit 2), not a system error after the run (exit 1)."""
    import errno

    from vidlong import files

    def full_disk(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(files, "atomic_write_text", full_disk)
    out = tmp_path / "x.mp4"
    args = ["--steps", "1", "--frames", "5"] if command == "generate" else ["--steps", "1", "--chunks", "1"]
    assert run_main([command, "--model", str(model_dir), "--prompt", "a red circle", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"vidlong: error: {out} is written and kept, but not the files beside it (its .json settings, any "
                       f"--save-latents): No space left on device; free space in {tmp_path} (a run again needs --overwrite)")
    assert "Traceback" not in "\n".join(err) and out.stat().st_size > 0 and not out.with_suffix(".json").exists()


def test_a_sharded_part_needs_one_whole_index(model_dir, tmp_path):
    """A sharded part passes where one of its ``*.index.json`` files has every shard it names (a folder may hold a
    variant's index without its shards), and is refused, naming the first missing shard, where none does."""
    from vidlong.folder_weights import check_folder_weights

    folder = shutil.copytree(model_dir, tmp_path / "sharded")
    part = folder / "transformer"
    (part / "diffusion_pytorch_model.safetensors").rename(part / "diffusion_pytorch_model-00001-of-00001.safetensors")
    index = {"weight_map": {"a": "diffusion_pytorch_model-00001-of-00001.safetensors"}}
    (part / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    variant = {"weight_map": {"a": "diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                              "b": "diffusion_pytorch_model.fp16-00002-of-00002.safetensors"}}
    (part / "diffusion_pytorch_model.safetensors.index.fp16.json").write_text(json.dumps(variant))
    check_folder_weights(folder)
    (part / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(variant))
    with pytest.raises(VidlongError, match=r"transformer lacks diffusion_pytorch_model\.fp16-00001-of-00002\.safetensors "
                                           r"\(2 of the 2 weight files diffusion_pytorch_model\.safetensors\.index"):
        check_folder_weights(folder)


# --------------------------------------------------------------------------------------------------
# B. The Python API table: each call raises VidlongError whose message names the field.
# --------------------------------------------------------------------------------------------------

def _apply(*methods, **kwargs):
    kwargs.setdefault("native_frames", 3)
    return vidlong.apply(tiny_transformer(), *methods, **kwargs)


API_ROWS = [
    # the list
    ("two-ultravico", lambda: _apply(vidlong.UltraViCo(), vidlong.UltraViCo()), "UltraViCo is given twice"),
    ("apply-compiled", lambda: vidlong.apply(torch.compile(tiny_transformer()), vidlong.UltraViCo(), native_frames=3),
     r"vidlong.apply got a WanTransformer3DModel wrapped by torch.compile; pass the model itself \(its _orig_mod\)"),
    ("remove-compiled", lambda: vidlong.remove(torch.compile(tiny_transformer())),
     "vidlong.remove got a WanTransformer3DModel wrapped"),
    ("fusion-and-window", lambda: _apply(vidlong.SpectralFusion(), vidlong.SlidingWindow()), "SpectralFusion .* or SlidingWindow, not both"),
    ("window-nan", lambda: vidlong.SlidingWindow(window=float("nan")), "SlidingWindow window must be > 0"),
    ("fusion-windows-0", lambda: vidlong.SpectralFusion(windows=(0,)), "SpectralFusion windows"),
    ("stream-chunk-0", lambda: vidlong.Streaming(chunk=0), r"Streaming chunk \(--chunk\)"),
    ("native-frames-0", lambda: _apply(vidlong.UltraViCo(), native_frames=0), "native_frames= must be a whole number"),
    ("spatial-cutoff", lambda: vidlong.SpectralFusion(spatial_cutoff=-1), "SpectralFusion spatial_cutoff"),
    ("guard-as-text", lambda: vidlong.UltraViCo(guard_first_frame="False"),  # a string reads as true: the guard stayed on
     "UltraViCo guard_first_frame must be True or False, got 'False'"),
    ("centre-as-number", lambda: vidlong.UltraViCo(center_keys=0), "UltraViCo center_keys must be True or False, got 0"),
    ("window-as-text", lambda: vidlong.SlidingWindow(window="1"), r"SlidingWindow window must be > 0 .*, got '1'"),
    ("timesteps-from-python", lambda: vidlong.Streaming(timesteps=(900, 500)),  # was named as the CLI's flag alone
     r"Streaming timesteps \(--timesteps\) must start at 1000"),
    ("dtype-twice", lambda: vidlong.load_pipeline(dtype="float32", torch_dtype=torch.float32),
     "load_pipeline got dtype='float32' and torch_dtype=torch.float32; pass one of them"),
    ("kernel-fused-cpu", lambda: _apply(vidlong.UltraViCo(), kernel="fused"), "kernel='fused' runs on CUDA"),
    ("kernel-flex-cpu", lambda: _apply(vidlong.UltraViCo(), kernel="flex"), "kernel='flex' runs on CUDA"),
    # added
    ("two-fusions", lambda: _apply(vidlong.SpectralFusion(), vidlong.SpectralFusion(windows=(1,))), "SpectralFusion is given twice"),
    ("two-riflex", lambda: _apply(vidlong.RIFLEx(), vidlong.RIFLEx()), "RIFLEx is given twice"),
    ("not-a-method", lambda: _apply("ultravico"), "not a vidlong method"),
    ("kernel-bogus", lambda: _apply(vidlong.UltraViCo(), kernel="bogus"), "unknown kernel 'bogus'"),
    ("native-frames-float", lambda: _apply(vidlong.UltraViCo(), native_frames=2.5), "native_frames="),
    ("alpha-0", lambda: vidlong.UltraViCo(alpha=0), "UltraViCo alpha"),
    ("alpha-nan", lambda: vidlong.UltraViCo(alpha=float("nan")), "UltraViCo alpha"),
    ("region", lambda: vidlong.UltraViCo(region="pixel"), "UltraViCo region"),
    ("fusion-windows-scalar", lambda: vidlong.SpectralFusion(windows=2.0), "SpectralFusion windows"),
    ("fusion-bands-scalar", lambda: vidlong.SpectralFusion(windows=(1.0,), bands=0.5), "SpectralFusion bands"),
    ("fusion-bands-2", lambda: vidlong.SpectralFusion(windows=(1.0,), bands=(2.0,)), "SpectralFusion bands"),
    ("fusion-bands-count", lambda: vidlong.SpectralFusion(windows=(2.0, 1.0), bands=(0.5,)), "one band cut-off per window"),
    ("window-0", lambda: vidlong.SlidingWindow(window=0), "SlidingWindow window"),
    ("stream-window-neg", lambda: vidlong.Streaming(window=-1), r"Streaming window \(--window\)"),
    ("stream-sinks-float", lambda: vidlong.Streaming(sinks=1.5), r"Streaming sinks \(--sinks\)"),
    ("stream-steps-0", lambda: vidlong.Streaming(steps=0), r"Streaming steps \(--steps\)"),
    ("stream-first-chunk-bool", lambda: vidlong.Streaming(first_chunk=True), r"Streaming first_chunk"),
    ("stream-seam-neg", lambda: vidlong.Streaming(seam_frames=-1), r"Streaming seam_frames"),
    ("stream-context", lambda: vidlong.Streaming(context="magic"), "Streaming context"),
    ("stream-recache", lambda: vidlong.Streaming(recache_on_prompt_switch="no"), "recache_on_prompt_switch"),
    ("preset-bogus", lambda: vidlong.load_preset("5x"), "unknown preset '5x'"),
]


@pytest.mark.parametrize("argv, names", [
    (["--bogus"], "vidlong: error: unrecognized arguments: --bogus (see vidlong --help)"),
    (["generate", "--bogus", "1"], "vidlong generate: error: unrecognized arguments: --bogus (see vidlong generate --help)"),
    (["stream", "--prompt", "a", "--out", "x.mp4", "--ratios=2"], "unrecognized arguments: --ratios=2 (see vidlong stream --help)"),
])
def test_an_unknown_flag_is_named_before_a_missing_argument(argv, names, capsys):
    """A mistyped flag is the error, also where a required argument is missing too (argparse names only the missing
    one); an abbreviation of a known flag still reads as the flag."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and err[0].endswith(names), err
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--promp", "a red ball"])  # abbreviates --prompt: only --out is missing
    assert exit_.value.code == 2 and "required: --out" in capsys.readouterr().err
    assert main(["generate", "--prompt", "--a fox in snow", "--out", "x.mp4", "--model", "nothere"]) == 2  # a value, as argparse
    assert "model folder nothere does not exist" in capsys.readouterr().err


@pytest.mark.parametrize("make, message", [(m, msg) for _, m, msg in API_ROWS], ids=[r[0] for r in API_ROWS])
def test_api_bad_input(make, message, monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # the CUDA-only kernels are refused off CUDA
    with pytest.raises(vidlong.VidlongError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


PIPELINE_ROWS = [  # a loaded pipeline's own calls, which a Python user reaches without the CLI
    ("call-steps-0", lambda pipe: pipe("a", num_inference_steps=0), "num_inference_steps must be a whole number"),
    ("call-steps-float", lambda pipe: pipe("a", num_inference_steps=2.5), "num_inference_steps must be a whole number"),
    ("call-guidance-nan", lambda pipe: pipe("a", guidance_scale=float("nan")), "guidance_scale must be a finite number"),
    ("stream-guidance-inf", lambda pipe: pipe.stream("a", chunks=1, guidance=float("inf")), r"guidance \(--guidance\) must be a finite"),
    ("stream-guidance-neg", lambda pipe: pipe.stream("a", chunks=1, guidance=-1.0), r"guidance \(--guidance\) must be >= 0"),
    ("stream-seed-neg", lambda pipe: pipe.stream("a", chunks=1, seed=-1), r"seed \(--seed\) must be a whole number"),
    ("call-frames-6", lambda pipe: pipe("a", num_frames=6), "6 frames can't be decoded by this VAE .*; use num_frames 5 or num_frames 9"),
    ("call-frames-float", lambda pipe: pipe("a", num_frames=5.0), "num_frames must be a whole number"),
    ("decode-numpy", lambda pipe: pipe.decode_uint8(np.zeros((1, pipe.geometry().channels, 2, 4, 4), np.float32)),
     r"latents \(--latents\) is a ndarray; pass the torch tensor"),
    ("decode-batch-2", lambda pipe: pipe.decode_uint8(torch.zeros(2, pipe.geometry().channels, 2, 4, 4)),
     r"holds latents of shape \(2, "),  # a batch of two decoded the first video alone
    ("decode-chunk-0", lambda pipe: pipe.decode_uint8(torch.zeros(1, pipe.geometry().channels, 2, 4, 4), chunk=0),
     "decode_uint8 chunk must be a whole number of latent frames >= 1, got 0"),
    ("call-frames-past-rope", lambda pipe: pipe("a", num_frames=257), "65 latent frames is more than this model's RoPE table"),
    ("call-latents-nan", lambda pipe: pipe("a", latents=torch.full((1, 4, 3, 4, 4), float("nan"))), "latents hold NaN"),
    ("call-latents-list", lambda pipe: pipe("a", latents=[0.0]), "latents must be a torch tensor"),
    ("call-latents-meta", lambda pipe: pipe("a", latents=torch.empty(1, 4, 3, 4, 4, device="meta")),
     "latents are on the meta device, which holds no values"),
    ("extend-latents-int", lambda pipe: pipe.extend("a", latents=torch.zeros(1, 4, 3, 4, 4, dtype=torch.int64), chunks=1),
     r"latents \(--latents\) holds torch.int64 latents; pass the floating-point latents that load_latents returns"),
    ("call-generator-int", lambda pipe: pipe("a", generator=0), "generator must be a torch.Generator"),
    ("call-output-type-mp4", lambda pipe: pipe("a", output_type="mp4"),
     "output_type must be 'np', 'pil', 'pt' or 'latent', got 'mp4'"),
    ("generate-progress-int", lambda pipe: generate(pipe, GenerateRequest(prompt="a"), progress=5),
     r"progress must be a function progress\(stage, done, total\), got int"),
    ("generate-prompt-int", lambda pipe: generate(pipe, GenerateRequest(prompt=5)), r"prompt \(--prompt\) must be text, got int"),
    ("generate-refine-text", lambda pipe: generate(pipe, GenerateRequest(prompt="a", refine="yes")),
     r"refine \(--refine\) is True or False, got 'yes'"),
    ("extend-video-int", lambda pipe: pipe.extend("a", video=123, chunks=1),
     r"video \(--video\) must be RGB frames .* or a video file's path, got int"),
    ("load-loras-one-path", lambda pipe: vidlong.load_pipeline(loras="style.safetensors"), r"loras takes a list of LoRA files"),
    ("load-path-int", lambda pipe: vidlong.load_pipeline(123), r"path \(--model\) must be a folder's path"),
    ("ultravico-alpha-text", lambda pipe: vidlong.UltraViCo(alpha="0.9"), r"UltraViCo alpha must be in \(0, 1\], got '0.9'"),
    ("save-latents-4d", lambda pipe: vidlong.extend.save_latents("x.pt", torch.zeros(4, 3, 4, 4)), r"save_latents takes latents "
     r"\[1, C, frames, h, w\] .*, got \[4, 3, 4, 4\]"),
    ("call-videos-0", lambda pipe: pipe("a", num_videos_per_prompt=0), "num_videos_per_prompt must be a whole number >= 1"),
    ("call-height-100", lambda pipe: pipe("a", height=100), r"height \(--height\) 100 must be a multiple of 16"),
    ("stream-chunks-and-seconds", lambda pipe: pipe.stream("a", chunks=1, seconds=2), r"chunks \(--chunks\) or seconds \(--seconds\), not both"),
    ("stream-seconds-0", lambda pipe: pipe.stream("a", seconds=0),
     r"seconds \(--seconds\) must be > 0, got 0; give neither chunks nor seconds to stream until stopped"),
    ("extend-seconds-0", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), seconds=0), r"must be > 0, got 0"),
    ("stream-switch-past-end", lambda pipe: pipe.stream("0:a; 3:b", chunks=2), r"switches at chunk 3 but the stream has 2 chunks \(0-1\)"),
    ("extend-one-frame", lambda pipe: pipe.extend("a", video=np.zeros((32, 32, 3), np.uint8), chunks=1), r"is one frame \[32, 32, 3\]"),
    ("extend-float-tensor", lambda pipe: pipe.extend("a", video=torch.zeros(9, 32, 32, 3), chunks=1), "holds float32 values; pass uint8"),
    ("stream-seed-numpy-ok-prompt-int", lambda pipe: pipe.stream(5, chunks=1, seed=np.int64(3)), r"prompt \(--prompt\) must be text, got int"),
    ("stream-streaming-str", lambda pipe: pipe.stream("a", streaming="longlive", chunks=1), "streaming= takes a vidlong.Streaming or a vidlong.DiagonalDenoising, got str"),
    ("stream-negative-int", lambda pipe: pipe.stream("a", chunks=1, negative_prompt=5), r"negative_prompt \(--negative-prompt\) must be text"),
    ("extend-no-context", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), chunks=1,
                                                   streaming=vidlong.Streaming(sinks=0, window=0)), "keeps none; give a window"),
    ("extend-no-room", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), chunks=1,
                                                streaming=vidlong.Streaming(chunk=3, sinks=0, window=0)),
     r"keeps none; give a window of at least 1 latent frame and a chunk \(--chunk\) of at most 2, so that the three fit"),
    ("generate-not-a-request", lambda pipe: generate(pipe, "a red ball"),
     r"generate takes a vidlong\.generate\.GenerateRequest, got str"),
    ("generate-stock-pipeline", lambda pipe: generate(WanPipeline(**pipe.components), GenerateRequest(prompt="a")),
     r"generate takes a vidlong pipeline, got a WanPipeline; wrap it with vidlong.from_pipe\(pipe\)"),
    ("diagonal-stock-pipeline", lambda pipe: diagonal_latents(WanPipeline(**pipe.components), torch.zeros(1, 4, 3, 4, 4), "a", 6),
     r"diagonal_latents takes a vidlong pipeline, got a WanPipeline"),
    ("call-guidance-neg", lambda pipe: pipe("a", guidance_scale=-5), "guidance_scale must be >= 0"),
    ("extend-fps-nan", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), seconds=1, fps=float("nan")),
     "fps must be a finite number"),
    ("extend-fps-0", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), seconds=1, fps=0), "fps must be > 0"),
    ("switch-to-a-schedule", lambda pipe: pipe.stream("a", chunks=2).switch_prompt("0:a; 1:b"), "takes one prompt, not a schedule"),
    ("switch-to-a-number", lambda pipe: pipe.stream("a", chunks=2).switch_prompt(5), "the new prompt must be text, got int"),
    ("stream-on-step-number", lambda pipe: setattr(pipe.stream("a", chunks=1), "on_step", 5),  # failed inside a chunk
     r"on_step must be a function on_step\(done, total\) or None, got int"),
    ("fifo-on-step-number", lambda pipe: setattr(pipe.stream("a", chunks=1, streaming=vidlong.DiagonalDenoising()), "on_step", 5),
     r"on_step must be a function on_step\(done, total\) or None, got int"),
    ("generate-decode-text", lambda pipe: generate(pipe, GenerateRequest(prompt="a"), decode="no"),  # "no" read as true
     "decode must be True or False, got 'no'"),
    ("extend-height", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), chunks=1, height=48),
     "pipe.extend takes the input's size from the video it continues; drop height="),
    ("extend-image", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), chunks=1, image=np.zeros((32, 32, 3), np.uint8)),
     "the input's first frame"),
    ("extend-latents-numpy", lambda pipe: pipe.extend("a", latents=np.zeros((1, 4, 3, 4, 4), np.float32), chunks=1),
     r"latents \(--latents\) is a ndarray; pass the torch tensor"),
    ("extend-guidance-2-nan", lambda pipe: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8), chunks=1,
                                                         guidance_2=float("nan")), r"guidance_2 \(--guidance-2\)"),
]


@pytest.fixture(scope="module")
def tiny_pipe(model_dir):
    from vidlong import load_pipeline

    return load_pipeline(str(model_dir), device="cpu")


@pytest.mark.parametrize("make, message", [(m, msg) for _, m, msg in PIPELINE_ROWS], ids=[r[0] for r in PIPELINE_ROWS])
def test_pipeline_bad_input_is_refused_before_any_step(make, message, tiny_pipe, monkeypatch):
    """The pipeline's call, `stream` and `extend` refuse a bad step count, guidance or seed in one line
    before the VAE or the transformer runs (diffusers' own call would fail deep in its loop or make NaN frames)."""
    def refuse(*args, **kwargs):
        raise AssertionError("the transformer ran")
    monkeypatch.setattr(tiny_pipe.transformer, "forward", refuse)
    monkeypatch.setattr(tiny_pipe.vae, "encode", refuse)
    with pytest.raises(vidlong.VidlongError, match=message) as info:
        make(tiny_pipe)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------------
# C. Fuzz: random values for every field of GenerateRequest and Streaming.
# --------------------------------------------------------------------------------------------------

#: values no field should crash on, as CLI text
NASTY = ["nan", "inf", "-inf", "-1", "0", "-0", "1", "3.5", " 7 ", "1e-300", "1e308", "0x10", str(2**63 - 1),
         str(2**63), str(2**64), "9" * 400, "", "abc", "ünïcødé 🎥 \u202e", "x" * 5000, "a; b", "0:a; 0:b", "-"]

#: valid CLI values per option, kept tiny so a run that passes every check takes well under a second
VALID = {
    "--prompt": ["a red circle", "a blue ball bouncing", "0:a red ball; 1:a blue ball"],
    "--ratio": ["1", "2", "0.5", "1.5"],
    "--frames": ["1", "5", "9"],
    "--method": ["none", "direct", "ultravico", "freelong", "both", "riflex", "window"],
    "--preset": ["2x"],
    "--noise": ["plain", "specmix"],
    "--steps": ["1", "2"],
    "--guidance": ["0", "1", "2.5"],
    "--guidance-2": [],  # the tiny model has one transformer: every second expert's guidance is refused
    "--seed": ["0", "7", str(2**63 - 1)],
    "--height": ["16", "32"],
    "--width": ["16", "32"],
    "--negative-prompt": ["", "blurry"],
    "--image": [],  # the tiny model is text-to-video: every image is refused
    "--video": [],  # fuzz_argv gives the 9-frame clip (video-to-video), or a nasty value
    "--strength": ["0.5", "1"],
    "--chunk": ["1", "2", "3"],
    "--sinks": ["0", "1"],
    "--window": ["0", "1", "2"],
    "--context": ["cache", "renoise"],
    "--first-chunk": ["1", "3"],
    "--seconds": ["0.5", "1"],
    "--chunks": ["1", "2"],
    # the tiny model is Wan's: every upsampler and refine knob is refused (the bare --upsample and --refine too, `fuzz_argv`)
    "--upsample": [],
    "--refine-steps": [],
    "--refine-strength": [],
    "--refine-lora": [],
}
GENERATE_FIELDS = ["--prompt", "--ratio", "--frames", "--method", "--preset", "--noise", "--steps", "--guidance",
                   "--seed", "--height", "--width", "--negative-prompt", "--image", "--guidance-2", "--video", "--strength",
                   "--upsample", "--refine-steps", "--refine-strength", "--refine-lora"]
STREAM_FIELDS = ["--prompt", "--chunk", "--sinks", "--window", "--steps", "--context", "--first-chunk", "--seconds",
                 "--chunks", "--guidance", "--guidance-2", "--seed", "--height", "--width", "--negative-prompt", "--image",
                 "--video", "--strength"]

#: seconds a fuzzed run may take before it is interrupted as Ctrl-C would (valid huge --chunks or
#: --seconds stream for ever), at least (more where a plain run here takes more than a quarter of it: `test_fuzz_cli`); an
#: interrupted run must exit 130
RUN_LIMIT_S = 2.0


def fuzz_argv(rng, case, model_dir, out, inputs):
    """Argv of `generate` (even cases) or `stream` (odd): each field left out or given a valid value (the 9-frame clip
    as --video three times in ten), then one to three fields (all of them one time in eight) given a value from `NASTY`;
    a generate's flags without a value, ``--upsample`` and ``--refine``, each one time in six."""
    command = "generate" if case % 2 == 0 else "stream"
    fields = GENERATE_FIELDS if command == "generate" else STREAM_FIELDS
    values = {flag: rng.choice(VALID[flag]) for flag in fields if VALID[flag] and rng.random() < 0.5}
    values["--prompt"] = values.get("--prompt", VALID["--prompt"][0])  # required
    if rng.random() < 0.3:  # generate's video-to-video, a stream's redraw
        values["--video"] = str(inputs / "clip.mp4")
    nasty = fields if rng.random() < 0.125 else rng.sample(fields, rng.choice([1, 1, 2, 3]))
    for flag in nasty:
        files = [str(inputs / name) for name in ("frame.png", "notes.txt", "missing.png", "clip.mp4")]
        values[flag] = rng.choice(NASTY + files if flag in ("--image", "--video") else NASTY)
    for pair in (("--ratio", "--frames"), ("--seconds", "--chunks")):  # argparse refuses both: mostly keep one
        if all(flag in values for flag in pair) and rng.random() < 0.8:
            del values[rng.choice(pair)]
    argv = [command, "--model", str(model_dir), "--out", str(out), *(f"{flag}={value}" for flag, value in values.items())]
    if command == "generate":
        argv += [flag for flag in ("--upsample", "--refine") if flag not in values and rng.random() < 1 / 6]
    if command == "stream":
        if rng.random() < 0.3:
            argv.append("--no-recache")
        if "--seconds" not in values and "--chunks" not in values:
            argv.append("--chunks=1")  # the default, 10 s, is many chunks on a 3-frame window
    return argv


class _Interrupt:
    """Interrupts the main thread as Ctrl-C does after `seconds` (SIGALRM); the alarm it took over (pytest-timeout's, the
    same SIGALRM timer) is set again on exit for the seconds it had left, so that the test stays bounded by it."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        self.outer, self.start = signal.setitimer(signal.ITIMER_REAL, self.seconds)[0], time.monotonic()
        return self

    @staticmethod
    def _fire(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        left = self.outer - (time.monotonic() - self.start)
        if self.outer and left > 0:
            signal.setitimer(signal.ITIMER_REAL, left)
        elif self.outer:  # its time ran out meanwhile: it fires now (set again, the next run would take it over first)
            signal.raise_signal(signal.SIGALRM)
        return False


FUZZ_CASES = 60


def test_fuzz_cli(model_dir, inputs, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VIDLONG_DEBUG", raising=False)
    start = time.monotonic()  # a plain run's time here: on a loaded machine every run takes longer, in proportion
    assert run_main(["generate", "--model", str(model_dir), "--prompt", "a red circle", "--out", str(tmp_path / "plain.mp4")]) == 0
    limit = max(RUN_LIMIT_S, 4 * (time.monotonic() - start))
    rng = random.Random(0)
    codes = []
    for case in range(FUZZ_CASES):
        out = tmp_path / f"case{case}.mp4"
        argv = fuzz_argv(rng, case, model_dir, out, inputs)
        capsys.readouterr()
        try:
            with _Interrupt(limit):
                code = run_main(argv)
        except KeyboardInterrupt:
            pytest.fail(f"a KeyboardInterrupt escaped main: {argv}")
        err = capsys.readouterr().err
        shown = " ".join(a[:80] for a in argv)
        assert code in (0, 2, 130), (shown, code, err[-2000:])
        assert "Traceback" not in err, (shown, err[-2000:])
        if code == 2:  # refused: one line naming something, nothing written
            last = err.strip().splitlines()[-1]
            assert "error:" in last and last.split("error:", 1)[1].strip(), (shown, last)
            assert not out.exists() and not out.with_suffix(".json").exists(), shown
        if code == 0:
            assert out.exists() and out.with_suffix(".json").exists(), shown
        codes.append(code)
    assert codes.count(2) > FUZZ_CASES // 3 and 0 in codes  # both refusals and real runs were exercised


STREAMING_FIELDS = ["chunk", "sinks", "window", "recache_on_prompt_switch", "steps", "context", "first_chunk", "seam_frames"]
REQUEST_FIELDS = ["prompt", "ratio", "frames", "method", "preset", "noise", "steps", "guidance", "seed", "height",
                  "width", "negative_prompt", "image", "guidance_2", "video", "strength", "pose_video", "face_video",
                  "background_video", "mask_video", "control_video", "segment_overlap", "reference_images", "identity",
                  "camera", "upsample", "refine", "refine_steps", "refine_strength", "refine_lora", "decoder"]
VALID_FIELDS = {"prompt": "a red circle", "ratio": 1.0, "frames": None, "method": "none", "preset": None, "noise": None,
                "steps": 2, "guidance": 2.0, "seed": 0, "height": 32, "width": 32, "negative_prompt": "",
                "image": None, "guidance_2": None, "video": None, "strength": None, "pose_video": None, "face_video": None,
                "background_video": None, "mask_video": None, "control_video": None, "segment_overlap": None, "reference_images": None,
                "identity": None, "camera": None, "upsample": None, "refine": False, "refine_steps": None,
                "refine_strength": None, "refine_lora": None, "decoder": None,
                "chunk": 1, "sinks": 1, "window": 1,
                "recache_on_prompt_switch": True, "context": None, "first_chunk": None, "seam_frames": 8}


def _fields(rng, names):
    """Mostly valid fields with a few random ones (all random one time in five)."""
    wild = 1.0 if rng.random() < 0.2 else 0.07
    return {name: fuzz_value(rng) if rng.random() < wild else VALID_FIELDS[name] for name in names}


def test_fuzz_dataclasses(model_dir):
    from vidlong.generate import GenerateRequest
    from vidlong.validate import check_generate, check_stream, limits_for_folder

    limits = limits_for_folder(model_dir)
    rng = random.Random(0)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range(400):
        fields = _fields(rng, STREAMING_FIELDS)
        size = {k: fuzz_value(rng) if rng.random() < 0.3 else None for k in ("height", "width")}
        try:
            check_stream(vidlong.Streaming(**fields), limits, **size)
            outcomes["ok"] += 1
        except vidlong.VidlongError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"Streaming({fields!r:.500}) + check_stream({size}) raised {type(err).__name__}: {err}")

        fields = _fields(rng, REQUEST_FIELDS)
        try:
            check_generate(GenerateRequest(**fields), limits)
            outcomes["ok"] += 1
        except vidlong.VidlongError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"check_generate(GenerateRequest({fields!r:.500})) raised {type(err).__name__}: {err}")
    assert outcomes["ok"] > 50 and outcomes["refused"] > 50, outcomes


def test_numpy_numbers_are_taken_wherever_python_numbers_are(tiny_pipe):
    """A NumPy number (`np.int64(9)`, `np.float32(0.5)`) passes every check a Python one passes and is
    stored as the Python number (settings stay JSON-ready); the video is the same. (Before, configs and
    `generate` refused them while `pipe.stream` took them.)"""
    assert vidlong.UltraViCo(alpha=np.float32(0.5)) == vidlong.UltraViCo(alpha=0.5)
    assert vidlong.SpectralFusion(windows=(np.float32(2), 1), spatial_cutoff=np.float64(0.25)) == vidlong.SpectralFusion()
    streaming = vidlong.Streaming(chunk=np.int64(1), sinks=np.int32(1), window=np.int64(1), steps=np.int64(1),
                                  timesteps=np.array([1000, 500]))
    assert streaming == vidlong.Streaming(chunk=1, sinks=1, window=1, steps=1, timesteps=(1000, 500))
    assert all(type(getattr(streaming, name)) is int for name in ("chunk", "sinks", "window", "steps"))
    assert all(type(t) is int for t in streaming.timesteps)
    with pytest.raises(vidlong.VidlongError, match="chunk"):
        vidlong.Streaming(chunk=np.bool_(True))  # a bool is not a number of frames, NumPy's neither

    def made(number, real):
        result = generate(tiny_pipe, GenerateRequest(prompt="a red ball", frames=number(9), steps=number(1),
                                                     seed=number(3), guidance=real(2.0)))
        json.dumps(result.settings)
        return result.frames
    assert np.array_equal(made(np.int64, np.float32), made(int, float))

    def first(seed, chunks):
        return next(iter(tiny_pipe.stream("a red ball", chunks=chunks, seed=seed, guidance=np.float32(2),
                                          streaming=vidlong.Streaming(steps=1)))).latents
    assert torch.equal(first(np.int64(3), np.int64(1)), first(3, 1))


def test_a_refusal_is_a_value_error_as_diffusers_own_are(tiny_pipe):
    """A height diffusers' call refuses with a ValueError (no multiple of 16), vidlong's refuses with a `VidlongError`
    that is a ValueError too: ``except ValueError`` around a pipeline call catches either."""
    stock = WanPipeline(**tiny_pipe.components)
    for pipe in (stock, tiny_pipe):
        with pytest.raises(ValueError, match="16"):
            pipe("a red ball", height=100, width=32, num_frames=5, num_inference_steps=1)


def test_a_negative_prompt_of_none_in_a_stream_or_an_extension_is_none_given(tiny_pipe):
    """``negative_prompt=None`` in `pipe.stream` and `pipe.extend` is no negative prompt, as in diffusers' call and in
    `GenerateRequest` (it was refused as no text)."""
    def last(run, **given):
        return list(run("a red ball", chunks=1, streaming=vidlong.Streaming(steps=1), **given))[-1].latents
    video = np.zeros((9, 32, 32, 3), np.uint8)
    assert torch.equal(last(tiny_pipe.stream, negative_prompt=None), last(tiny_pipe.stream))
    assert torch.equal(last(tiny_pipe.extend, video=video, negative_prompt=None), last(tiny_pipe.extend, video=video))


def test_none_in_the_pipeline_call_takes_the_models_default(tiny_pipe):
    """`pipe(height=None, ...)`: None is the spec's value, as in `GenerateRequest` (diffusers failed on it)."""
    def latents(**given):
        return tiny_pipe("a red ball", num_inference_steps=1, output_type="latent",
                         generator=torch.Generator().manual_seed(0), **given).frames
    assert torch.equal(latents(height=None, width=None, num_frames=None, guidance_scale=None), latents())


def test_every_streamer_refuses_a_step_callback_that_is_not_a_function():
    """`on_step` is called inside a chunk: a number set there is refused when set, on each kind of stream."""
    from vidlong.families.cosmos_transfer_stream import TransferStreamer
    from vidlong.fifo_stream import DiagonalStreamer
    from vidlong.streaming import VideoStreamer

    for kind in (VideoStreamer, DiagonalStreamer, TransferStreamer):
        stream = kind.__new__(kind)
        with pytest.raises(vidlong.VidlongError, match=r"^on_step must be a function on_step\(done, total\) or None, got int$"):
            stream.on_step = 5
        assert stream.on_step is None
        stream.on_step = print
        assert stream.on_step is print
