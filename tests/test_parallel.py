"""vidlong's plans under diffusers' context parallelism (Ulysses), 2 CPU processes over gloo: each
method's output equals the one-process output, and with no method the output is diffusers' own
context-parallel output bit for bit; LTX-Video's and LTX-2's forwards (their text masks, LTX-2's audio, LTX-2.3's split
RoPE, LTX-2.5's keyframe marker) and a tiny LTX-2.3 `generate` by their families' plans."""
import dataclasses
import os
import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import vidlong
from vidlong.errors import VidlongError
from vidlong.methods import methods_for
from vidlong.parallel import check_parallel_class, check_parallel_request, enable_context_parallel
from conftest import ltx2_inputs, ltx_inputs, tiny_ltx2_transformer, tiny_ltx_transformer, tiny_transformer, transformer_inputs
from reference import rel_err

NATIVE = 2
FRAMES = 6          # 3x the native window: the decay and the fusion both act
METHODS = ("none", "ultravico", "freelong", "both")
#: seconds the two spawned ranks have for all their checks (about 30 on 2 loaded CPU cores)
RANKS_S = 240


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def outputs(model, inputs=None) -> dict:
    """The transformer's output with no vidlong hooks ("stock") and with each method applied (`inputs`: a tiny Wan
    transformer's by default)."""
    inputs = inputs or transformer_inputs(FRAMES)
    out = {}
    with torch.no_grad():
        out["stock"] = model(**inputs)[0]
        for name in METHODS:
            vidlong.apply(model, *methods_for(name), native_frames=NATIVE)
            out[name] = model(**inputs)[0]
            vidlong.remove(model)
    return out


def split_outputs() -> dict:
    """On a rank: `outputs` of a tiny transformer whose tokens are split over the process group."""
    model = tiny_transformer()
    enable_context_parallel(model)
    return outputs(model)


#: a text mask of 5 tokens, the last 2 padding
PADDED = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]])


def ltx_split_inputs() -> dict:
    """A tiny LTX-Video transformer's inputs, its text's last 2 tokens padding (its family's plan keeps the text whole on
    every rank: `LTXVideoAdapter.context_parallel_plan`)."""
    return dict(ltx_inputs(FRAMES), encoder_attention_mask=PADDED)


def ltx_outputs(split: bool) -> dict:
    """`outputs` of a tiny LTX-Video transformer (its adapter reads trailing tokens past its grid: none here), its
    tokens split over the process group where `split`."""
    model = tiny_ltx_transformer()
    if split:
        enable_context_parallel(model)
    return {name: out.clone() for name, out in outputs(model, ltx_split_inputs()).items()}


def ltx2_marked_inputs() -> dict:
    """A tiny LTX-2 forward's inputs (`ltx2_inputs`) with what its plain call does not give: a timestep per video token
    (image-to-video's, condition's), LTX-2.5's keyframe marker ``[B, N, 1]`` (the first latent frame), and its video's and
    audio's text padded (`PADDED`)."""
    inputs = ltx2_inputs(FRAMES)
    tokens = inputs["hidden_states"].shape[1]
    return dict(inputs, timestep=torch.linspace(0.0, 900.0, tokens)[None], audio_timestep=torch.tensor([500.0]),
                video_keyframes_mask=(torch.arange(tokens) < tokens // FRAMES).float()[None, :, None],
                encoder_attention_mask=PADDED, audio_encoder_attention_mask=PADDED)


def ltx2_outputs(split: bool) -> dict:
    """`outputs` (video) of a tiny LTX-2.5-style transformer (LTX-2.0's interleaved RoPE, the keyframe marker) on
    `ltx2_marked_inputs`, its tokens split over the process group where `split`."""
    model = tiny_ltx2_transformer(keyframes=True)
    if split:
        enable_context_parallel(model)
    return {name: out.clone() for name, out in outputs(model, ltx2_marked_inputs()).items()}


def ltx2_generate(folder: str, split: bool) -> dict:
    """Frames ``[T, H, W, 3]`` and waveform of a tiny LTX-2.3 `generate` at 2x native (its split RoPE, gates, STG and
    modality guidance, its text padded) with no method and with both, split over the process group where `split`."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    if split:
        pipe.enable_parallelism()
    made = {name: generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method=name, seed=3)) for name in ("none", "both")}
    return {name: (torch.from_numpy(run.frames), torch.from_numpy(run.audio.samples)) for name, run in made.items()}


def applied_first_output() -> torch.Tensor:
    """On a rank: the output of a tiny transformer given vidlong's processors before the split (they take
    its config too)."""
    model = tiny_transformer()
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    enable_context_parallel(model)
    with torch.no_grad():
        return model(**transformer_inputs(FRAMES))[0]


def stream_on_ranks(folder: str) -> dict:
    """On a rank: 4 streamed chunks of the tiny pipeline with its attention spread over the ranks, and the
    heads its rolling KV cache holds."""
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(folder, device="cpu")
    pipe.enable_parallelism()
    streamer = pipe.stream("a red circle", chunks=4, seed=0)
    frames, heads = chunks_and_cache_heads(streamer)
    return dict(frames=torch.from_numpy(frames), cache_heads=heads)


def chunks_and_cache_heads(streamer) -> tuple:
    """(a stream's frames ``[T, H, W, 3]``, the heads its rolling KV cache holds, read while it streams: its storage
    goes at its end)."""
    import numpy as np

    frames = []
    for chunk in streamer:
        frames.append(chunk.frames)
        heads = streamer.context.cache.layers[0].keys.shape[2]
    return np.concatenate(frames), heads


def rank_checks(rank: int, world: int, port: int, folder: str, ltx2_folder: str, path: str) -> None:
    """Every two-rank run of the tests below, in one process group (one spawn: the ranks' start-up, the
    imports, costs more than the runs); rank 0 saves the results to `path`."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        result = dict(methods=split_outputs(), applied_first=applied_first_output(), stream=stream_on_ranks(folder),
                      ltx=ltx_outputs(split=True), ltx2=ltx2_outputs(split=True),
                      ltx2_generate=ltx2_generate(ltx2_folder, split=True))
        if rank == 0:
            torch.save(result, path)
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """The tiny pipeline folder of the two-rank and torchrun runs (they only read it)."""
    from tiny_pipeline import save_tiny_pipeline

    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def two_ranks(tiny_folder, ltx2_folder, tmp_path_factory) -> dict:
    """`rank_checks`' results from 2 spawned CPU ranks (gloo)."""
    path = str(tmp_path_factory.mktemp("ranks") / "rank0.pt")
    ranks = mp.start_processes(rank_checks, args=(2, free_port(), str(tiny_folder), str(ltx2_folder), path), nprocs=2, join=False,
                               start_method="spawn")
    deadline = time.monotonic() + RANKS_S
    try:
        while not ranks.join(timeout=1):  # a rank's error is raised here
            if time.monotonic() > deadline:
                pytest.fail(f"the two ranks did not finish within {RANKS_S} s (a rank stuck in gloo waits 30 minutes)")
    finally:  # none left running: multiprocessing would join it as the test process exits
        for process in ranks.processes:
            process.kill()
            process.join(timeout=10)
    return torch.load(path)


def test_every_method_on_two_ranks_equals_one_process(two_ranks):
    parallel, single = two_ranks["methods"], outputs(tiny_transformer())
    assert torch.equal(parallel["none"], parallel["stock"])  # no method: diffusers' own context-parallel path
    for name in ("stock", *METHODS):
        assert rel_err(parallel[name], single[name]) < 1e-5, name
    assert rel_err(single["both"], single["stock"]) > 1e-3  # the methods act at this length


def test_ltx_video_on_two_ranks_equals_one_process(two_ranks):
    """A tiny LTX-Video transformer split over 2 ranks: stock and no method bit for bit, each method within 1e-5 of one
    process (its adapter counts the tokens past its grid over every rank's share, none here: before, a rank's share alone
    counted, and every method was refused as tokens beside the video's)."""
    one = ltx_outputs(split=False)
    for name in ("stock", "none"):
        assert torch.equal(two_ranks["ltx"][name], one[name]), name
    for name in METHODS[1:]:
        assert rel_err(two_ranks["ltx"][name], one[name]) < 1e-5, name
        assert not torch.equal(one[name], one["stock"]), name


def test_ltx2_on_two_ranks_equals_one_process(two_ranks, ltx2_folder):
    """LTX-2 by its family's plan (`LTX2Adapter.context_parallel_plan`): a tiny transformer's forward with a timestep per
    token, LTX-2.5's keyframe marker and its text padded, stock and each method within 1e-5 of one process (before, its
    text mask of every head failed in the first cross-attention, its marker stayed whole); a tiny LTX-2.3 `generate` (its
    split RoPE, before unsplit) with no method and with both: the frames within uint8 rounding, the waveform within 1e-5."""
    one = ltx2_outputs(split=False)
    for name in ("stock", *METHODS):
        assert rel_err(two_ranks["ltx2"][name], one[name]) < 1e-5, name
    assert rel_err(one["both"], one["stock"]) > 1e-3
    made = ltx2_generate(str(ltx2_folder), split=False)
    for name, (frames, audio) in made.items():
        two_frames, two_audio = two_ranks["ltx2_generate"][name]
        assert two_frames.shape == frames.shape and (two_frames.int() - frames.int()).abs().max() <= 1, name
        assert rel_err(two_audio, audio) < 1e-5, name
    assert (made["both"][0].int() - made["none"][0].int()).abs().float().mean() > 0.1  # the methods act


def test_methods_applied_before_the_split_work_the_same(two_ranks):
    model = tiny_transformer()
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    with torch.no_grad():
        single = model(**transformer_inputs(FRAMES))[0]
    assert rel_err(two_ranks["applied_first"], single) < 1e-5


def test_streaming_on_two_ranks_keeps_each_ranks_heads_and_matches_one_process(two_ranks, tiny_folder):
    """The rolling KV cache holds this rank's heads only (1 of 2); the stream's frames match one process."""
    import numpy as np

    from vidlong.pipeline import load_pipeline

    parallel = two_ranks["stream"]
    streamer = load_pipeline(tiny_folder, device="cpu").stream("a red circle", chunks=4, seed=0)
    single, heads = chunks_and_cache_heads(streamer)
    assert parallel["cache_heads"] == 1 and heads == 2
    two = parallel["frames"].numpy()
    assert two.shape == single.shape and np.abs(two.astype(int) - single.astype(int)).mean() < 0.5


def test_refusals_are_one_line():
    with pytest.raises(VidlongError, match="needs torch.distributed initialised"):
        enable_context_parallel(tiny_transformer())
    with pytest.raises(VidlongError, match="2 attention heads do not split over 3 ranks"):
        check_parallel_request(3, 2, torch.device("cpu"))
    with pytest.raises(VidlongError, match="at least 2 processes"):
        check_parallel_request(1, 2, torch.device("cpu"))
    if torch.cuda.device_count() < 64:
        with pytest.raises(VidlongError, match="64 ranks asked for"):
            check_parallel_request(64, 128, torch.device("cuda"))
    for name in ("WanVACETransformer3DModel", "CogVideoXTransformer3DModel", "HunyuanVideo15Transformer3DModel"):
        with pytest.raises(VidlongError, match=f"diffusers' {name} has no context-parallel plan"):
            check_parallel_class(name)
    check_parallel_class("WanTransformer3DModel")
    from tiny_pipeline import tiny_vace_pipeline
    from vidlong.generate import GenerateRequest
    from vidlong.parallel import check_parallel_pipeline, check_parallel_stages

    with pytest.raises(VidlongError, match="WanVACETransformer3DModel has no context-parallel plan"):  # from Python too
        enable_context_parallel(tiny_vace_pipeline().transformer)
    with pytest.raises(VidlongError, match="IC-LoRA and HDR pipelines may mask .* run LTX2InContextPipeline on one device"):
        check_parallel_pipeline("LTX2InContextPipeline")  # its call, not its class
    with pytest.raises(VidlongError, match="Helios's forwards hold its compressed history's tokens .* on one device"):
        check_parallel_pipeline("VidLongHeliosPyramidPipeline", "HeliosPyramidPipeline")
    check_parallel_pipeline("LTX2Pipeline", "LTX2DFRPipeline", "LTXConditionPipeline")
    with pytest.raises(VidlongError, match="splits the main pass only; --upsample runs on one device: drop --upsample or"):
        check_parallel_stages(GenerateRequest(prompt="a red ball", upsample=True, refine=True))


def test_a_split_that_does_not_divide_is_refused_before_loading(ltx2_folder):
    """Each forward's video tokens against the ranks (`vidlong.parallel_split`), from the folder's configs alone: the tiny
    LTX-2.3's 2 latent frames of 2 x 2 tokens (8) over 3 ranks refused in one line naming a --frames, a --height or --width
    and a --nproc-per-node, each of which then passes; a 2.0-style condition call's last image (a latent frame appended)
    counted in its forwards' tokens (12: 3 ranks pass, 8 do not)."""
    from vidlong.errors import flag_names
    from vidlong.generate import GenerateRequest
    from vidlong.parallel_split import check_parallel_split, split_tokens
    from vidlong.validate import check_generate, limits_for_folder

    limits, plain = limits_for_folder(ltx2_folder), GenerateRequest(prompt="a red ball")
    assert split_tokens(plain, limits, check_generate(plain, limits)).tokens == 8
    with flag_names(), pytest.raises(VidlongError) as refused:
        check_parallel_split(plain, limits, 2, ranks=3, heads=2)
    assert str(refused.value).count("\n") == 0 and "8 video tokens (2 latent frames at 64x64)" in str(refused.value)
    assert "does not divide by 3: use --frames 17; or --height 96 or --width 96; or --nproc-per-node 2" in str(refused.value)
    for fixed in (dict(frames=17), dict(height=96), dict(width=96)):
        request = GenerateRequest(prompt="a red ball", **fixed)
        check_parallel_split(request, limits, check_generate(request, limits), ranks=3, heads=2)
    check_parallel_split(plain, limits, 2, ranks=2, heads=2)
    conditioned = dataclasses.replace(limits, pipeline="LTX2ConditionPipeline")
    last = GenerateRequest(prompt="a red ball", last_image="last.png")
    assert split_tokens(last, conditioned, 2).tokens == 12
    check_parallel_split(last, conditioned, 2, ranks=3, heads=2)
    with pytest.raises(VidlongError, match="12 video tokens .* does not divide by 8"):
        check_parallel_split(last, conditioned, 2, ranks=8, heads=8)


def test_torchrun_generate_refuses_a_split_that_does_not_divide_before_loading(tiny_folder, tmp_path, capsys, monkeypatch):
    """`vidlong generate --parallel ulysses` as torchrun starts it (its RANK and WORLD_SIZE): the tiny Wan2.1's --frames 5
    (2 latent frames of 2 x 2 tokens) over 3 ranks refused in one line, exit 2, before its process group starts or its
    model loads (no torch.distributed group; no MASTER_ADDR, which that start would need)."""
    from vidlong.cli import main

    monkeypatch.setenv("WORLD_SIZE", "3")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    capsys.readouterr()
    assert main(["generate", "--model", str(tiny_folder), "--prompt", "a red circle", "--frames", "5", "--device", "cpu",
                 "--parallel", "ulysses", "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "8 video tokens (2 latent frames at 32x32)" in err[0] and "does not divide by 3" in err[0]
    assert "--frames 9" in err[0] and "--nproc-per-node 2" in err[0] and not dist.is_initialized()
    assert not (tmp_path / "x.mp4").exists()


def test_torchrun_generate_with_parallel_ulysses_writes_the_video_once(tiny_folder, tmp_path):
    """`torchrun --nproc-per-node 2 -m vidlong generate ... --parallel ulysses` on CPU (gloo), both methods at the 2x preset
    and a seed: rank 0 writes the mp4 and its .json and draws the one progress bar; the frames match a one-process run
    (same seed) up to uint8 rounding."""
    import subprocess
    import sys

    import numpy as np

    from vidlong.cli import main
    from vidlong.video_io import read_video

    common = ["generate", "--model", str(tiny_folder), "--prompt", "a red circle", "--ratio", "2", "--method", "both",
              "--preset", "2x", "--seed", "5", "--device", "cpu"]
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_MININTERVAL="1000")  # a bar redraws only as its stage changes: one
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-port", str(free_port()),
                          "-m", "vidlong", *common, "--parallel", "ulysses", "--out", str(tmp_path / "two.mp4")],
                         capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stderr.count("encode prompt:") == 1  # the bar's first stage, drawn once, by rank 0 alone
    assert main([*common, "--out", str(tmp_path / "one.mp4")]) == 0  # the one-process run, here: no second start-up
    two, one = read_video(tmp_path / "two.mp4")[0], read_video(tmp_path / "one.mp4")[0]
    assert two.shape == one.shape and np.abs(two.astype(int) - one.astype(int)).mean() < 1.0
    assert (tmp_path / "two.json").is_file() and sorted(p.name for p in tmp_path.glob("*.mp4")) == ["one.mp4", "two.mp4"]


def test_parallel_outside_torchrun_is_one_line(tmp_path, capsys, monkeypatch):
    from tiny_pipeline import save_tiny_pipeline
    from vidlong.cli import main

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    folder = save_tiny_pipeline(tmp_path / "tiny")
    capsys.readouterr()
    assert main(["generate", "--model", str(folder), "--prompt", "a red circle", "--parallel", "ulysses",
                 "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--parallel ulysses runs under torchrun" in err[0]
