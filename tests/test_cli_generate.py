"""`vidlong generate` end to end on a tiny local WanPipeline, and its handling of bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from vidlong.cli import main
from vidlong.video_io import read_video
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


@pytest.mark.parametrize("args, latent", [(["--ratio", "4", "--method", "both", "--preset", "4x"], 12),
                                          (["--frames", "17", "--method", "ultravico"], 5),
                                          (["--preset", "2x", "--method", "freelong"], 6),
                                          (["--frames", "17", "--method", "both", "--dtype", "bfloat16"], 5),
                                          (["--ratio", "4", "--method", "window-sinks"], 12),
                                          (["--preset", "2x"], 6), (["--ratio", "2"], 6)])
def test_generate_writes_mp4_and_settings(model_dir, tmp_path, capsys, args, latent):
    out = tmp_path / "video.mp4"
    assert main(["generate", "--prompt", "a red circle", "--model", str(model_dir), "--out", str(out), *args]) == 0
    assert "estimate: " in capsys.readouterr().out  # the run's cost is printed before it starts
    frames, fps = read_video(out)
    assert frames.shape == (4 * (latent - 1) + 1, 32, 32, 3)
    assert fps == pytest.approx(8)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["latent_frames"] == latent and settings["pixel_frames"] == frames.shape[0]
    assert settings["prompt"] == "a red circle"
    if "--method" not in args:  # a preset alone runs both methods at its settings; no preset, none
        assert settings["method"] == ("both" if "--preset" in args else "none")
    assert settings["dtype"] == ("bfloat16" if "--dtype" in args or torch.cuda.is_available() else "float32")
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*.tmp"))


def test_stream_in_bfloat16_on_the_cpu(model_dir, tmp_path):
    out = tmp_path / "s.mp4"
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "2", "--dtype", "bfloat16",
                 "--device", "cpu", "--out", str(out)]) == 0
    frames, _ = read_video(out)
    assert frames.shape[0] > 0 and frames.std() > 0
    assert json.loads(out.with_suffix(".json").read_text())["dtype"] == "bfloat16"


def test_stream_with_compiled_blocks_is_the_eager_stream(model_dir, tmp_path, monkeypatch):
    """`--compile eager` (dynamo's tracing without Inductor's code generation, for the CPU's time): every
    block compiled by diffusers' regional compilation streams the same frames; the
    sidecar says so; the process lets dynamo keep a graph per KV-cache state (beyond its default 8)."""
    from torch._dynamo.utils import counters
    from vidlong import pipeline as pipeline_module

    loaded, load = [], pipeline_module.load_pipeline
    monkeypatch.setattr(pipeline_module, "load_pipeline", lambda *a, **k: loaded.append(load(*a, **k)) or loaded[-1])
    outs = [tmp_path / "eager.mp4", tmp_path / "compiled.mp4"]
    with torch._dynamo.config.patch(recompile_limit=8):  # dynamo's default, restored afterwards
        for out, extra in zip(outs, ([], ["--compile", "eager"])):
            torch._dynamo.reset()
            counters.clear()
            assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "3", "--device", "cpu",
                         "--out", str(out), *extra]) == 0
            assert (counters["stats"]["unique_graphs"] > 0) == bool(extra)  # compiled blocks, and only when asked
            assert loaded[-1].vae.decoder._compiled_call_impl is None  # the decoder only on CUDA (GPU test below)
        assert torch._dynamo.config.recompile_limit >= 64
    (eager, _), (compiled, _) = (read_video(out) for out in outs)
    assert eager.shape[0] > 0 and (compiled == eager).all()
    assert [json.loads(out.with_suffix(".json").read_text())["compile"] for out in outs] == [None, "eager"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_stream_compile_on_cuda_compiles_the_decoder_too():
    """On CUDA, `vidlong stream --compile` (its pipeline loader, without the mp4, which needs an ffmpeg the
    GPU machine lacks) compiles Wan's VAE decoder as well as the blocks (Inductor); the frames stay those
    of the eager stream (float32: within a grey level on average)."""
    from vidlong.cli import _load_pipeline, build_parser
    from vidlong.models import check_model_folder

    videos = []
    for backend in (None, "inductor"):  # the CLI hands it the checked folder (an embedded model's name resolved)
        args = build_parser().parse_args(["stream", "--prompt", "a red circle", "--out", "unused.mp4", "--dtype", "float32",
                                          *(["--compile", backend] if backend else [])])
        pipe = _load_pipeline(args, check_model_folder("default"), "cuda", streams=True)
        assert (pipe.vae.decoder._compiled_call_impl is not None) == (backend is not None)
        videos.append(np.concatenate([chunk.frames for chunk in pipe.stream("a red circle", chunks=3)]))
    eager, compiled = videos
    assert compiled.shape == eager.shape and np.abs(compiled.astype(int) - eager.astype(int)).mean() < 1.0


def test_compile_refusals_read_only_the_configs(tmp_path):
    """A transformer without repeated blocks (CogVideoX's) and offloading are refused in one line, naming
    the Python arguments from Python and the flags alone from the CLI (`flag_names`)."""
    from vidlong.errors import VidlongError, flag_names
    from vidlong.validate import check_compile

    (tmp_path / "transformer").mkdir()
    (tmp_path / "transformer" / "config.json").write_text(json.dumps({"_class_name": "CogVideoXTransformer3DModel"}))
    with pytest.raises(VidlongError, match="CogVideoXTransformer3DModel has no repeated blocks"):
        check_compile("inductor", tmp_path)
    with pytest.raises(VidlongError, match=r"^compile \(--compile\) with offload \(--offload\) group: not supported together"):
        check_compile("inductor", tmp_path, "group")
    with flag_names(), pytest.raises(VidlongError, match="^--compile with --offload group: not supported together"):
        check_compile("inductor", tmp_path, "group")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vidlong.cli", *args], capture_output=True, text=True, timeout=120)


BAD_INPUT = [
    (["--frames", "80"], "use --frames 77 or --frames 81"),
    (["--model", "/nonexistent/wan"], "does not exist"),
    (["--model", "{not_diffusers}"], "no model_index.json"),
    (["--preset", "5x"], "unknown preset '5x'; choose one of: 2x, 3x, 4x, 8x, 16x"),
    (["--method", "magic"], "unknown method 'magic'"),
    (["--height", "40"], "--height 40 must be a multiple of 16; use --height 32 or 48"),
    (["--offload", "group", "--device", "cpu"], "--offload group moves weights between the CPU and a GPU; it needs --device cuda"),
    (["--compile", "nosuch"], "--compile nosuch: not a torch.compile backend; use inductor (the default) or eager"),
]


def generate_args(model_dir, tmp_path, args):
    args = [a.replace("{not_diffusers}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(model_dir)]
    return ["generate", "--prompt", "a red circle", "--out", str(tmp_path / "x.mp4"), *args]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line(model_dir, tmp_path, capsys, args, message):
    assert main(generate_args(model_dir, tmp_path, args)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vidlong: error:") and message in err[-1]
    assert list(tmp_path.iterdir()) == []  # nothing written, no partial file


@pytest.mark.parametrize("case", [0, 5])  # refused before loading the model, and after
def test_process_exits_nonzero_without_traceback(model_dir, tmp_path, case):
    args, message = BAD_INPUT[case]
    result = subprocess.run([sys.executable, "-m", "vidlong.cli", *generate_args(model_dir, tmp_path, args)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_version_prints_the_package_version(capsys):
    """`vidlong --version`, a new user's first command, prints the version and exits 0 (it was an unknown argument)."""
    import vidlong

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"vidlong {vidlong.__version__}"


def test_a_path_typed_with_a_tilde_is_in_the_home_folder(model_dir, tmp_path, monkeypatch):
    """``--out=~/v.mp4`` (no shell expands a ~ after =) and a quoted "~/..." name the home folder in every file option, as
    --model's did (--out's was refused: "folder ~ does not exist; create it first"; --image's: "no image file at ~/...")."""
    from vidlong.cli import build_parser

    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["generate", "--prompt", "a red circle", "--model", str(model_dir), "--out=~/v.mp4", "--save-latents", "~/v.pt"]) == 0
    assert main(["extend", "--model", str(model_dir), "--video", "~/v.mp4", "--latents", "~/v.pt", "--chunks", "1",
                 "--out", "~/w.mp4"]) == 0
    assert len(read_video(tmp_path / "w.mp4")[0]) > len(read_video(tmp_path / "v.mp4")[0])
    home = str(tmp_path)
    parsed = build_parser().parse_args(["convert", "--source", "longlive", "--checkpoint", "~/a.pt", "--lora", "~/l.pt",
                                        "--base", "~/base", "--out", "~/sf"])
    assert [parsed.checkpoint, parsed.lora, parsed.base, parsed.out] == [f"{home}/a.pt", f"{home}/l.pt", f"{home}/base", f"{home}/sf"]
    parsed = build_parser().parse_args(["eval", "--prompts", "~/p.txt", "--out", "~/ev", "--lora", "~/s.safetensors:0.5"])
    assert [parsed.prompts, parsed.out, parsed.lora] == [f"{home}/p.txt", f"{home}/ev", [f"{home}/s.safetensors:0.5"]]
    parsed = build_parser().parse_args(["generate", "--prompt", "~/not a path", "--out", "x.mp4", "--image", "~/i.png",
                                        "--last-image", "~/j.png", "--control-video", "~/c.mp4", "--reference-images", "~/r.png"])
    assert parsed.prompt == "~/not a path"  # a prompt is no path
    assert [parsed.image, parsed.last_image, parsed.control_video, parsed.reference_images] == [
        f"{home}/i.png", f"{home}/j.png", f"{home}/c.mp4", [f"{home}/r.png"]]


def test_bad_output_path(model_dir, tmp_path, capsys):
    assert main(["generate", "--prompt", "x", "--model", str(model_dir), "--out", str(tmp_path / "missing" / "x.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["generate", "--prompt", "x", "--model", str(model_dir), "--out", str(tmp_path / "x.avi")]) == 2


def test_a_preset_alone_runs_both_methods_from_python_too():
    from vidlong.generate import GenerateRequest

    assert GenerateRequest(prompt="a red ball", preset="2x").method == "both"
    assert GenerateRequest(prompt="a red ball").method == "none"
    assert GenerateRequest(prompt="a red ball", preset="2x", method="ultravico").method == "ultravico"
