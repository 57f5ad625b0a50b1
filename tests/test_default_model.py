"""The embedded default model (vidlong/default_model): loads offline, generates, passes the checker.

Also: the trainer's --smoke mode writes a loadable WanPipeline, and a damaged weight file fails to
load (the core package turns that failure into a one-line message).
"""

import json
import os
import shutil

import pytest
import torch
import yaml

MODEL = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vidlong",
                     "default_model")


def _load(folder):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """(summary, --out folder) of one default `training.train --smoke` run. It is seeded, so each test
    that starts from such a run would train this same one; the tests read it (or change a copy)."""
    from training.train import main as train

    out = tmp_path_factory.mktemp("smoke")
    return train(["--smoke", "--out", str(out)]), out


@pytest.fixture(scope="module")
def reused_vae_run(smoke_run, tmp_path_factory):
    """(summary, --out folder) of a seeded `--smoke --seed 1 --vae-from` run on `smoke_run`'s pipeline: its VAE reused, its
    DiT trained afresh on another seed's clips; one test checks the reuse, another compares a continued DiT with it."""
    from training.train import main as train

    out = tmp_path_factory.mktemp("reused-vae")
    return train(["--smoke", "--seed", "1", "--out", str(out), "--vae-from", str(smoke_run[1] / "pipeline")]), out


def test_training_smoke_run_writes_a_loadable_pipeline(smoke_run):
    summary, run = smoke_run
    assert summary["dit"]["steps"] == 4
    folder = run / "pipeline"
    for sub in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (folder / sub).is_dir()
    cfg = yaml.safe_load((folder / "vidlong.yaml").read_text())
    assert cfg["native_frames"] == 3
    pipe = _load(str(folder))
    out = pipe("a red circle", height=64, width=64, num_frames=9, num_inference_steps=2,
               guidance_scale=3.0, output_type="np", max_sequence_length=32,
               generator=torch.Generator().manual_seed(0))
    assert out.frames.shape == (1, 9, 64, 64, 3)
    assert (run / "train_log.csv").read_text().count("\n") > 4


def test_decoder_finetune_changes_the_decoder_only(smoke_run, tmp_path):
    from diffusers import AutoencoderKLWan

    from training.finetune_decoder import main as finetune

    shutil.copytree(smoke_run[1] / "pipeline", tmp_path / "pipeline")  # the fine-tune rewrites its model folder
    vae_dir = tmp_path / "pipeline" / "vae"
    before = AutoencoderKLWan.from_pretrained(str(vae_dir)).state_dict()
    summary = finetune(["--model", str(tmp_path / "pipeline"), "--clips", "2", "--frames", "9",
                        "--crop", "32", "--batch", "1", "--steps", "2", "--lr", "1e-2"])
    assert summary["steps_run"] == 2
    after = AutoencoderKLWan.from_pretrained(str(vae_dir)).state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("decoder.", "post_quant_conv.")) for k in changed)
    assert "decoder" in (tmp_path / "pipeline" / "train_log.csv").read_text()


def test_training_can_reuse_a_trained_vae(smoke_run, reused_vae_run):
    from diffusers import AutoencoderKLWan

    first_vae = smoke_run[1] / "pipeline"
    summary, run = reused_vae_run
    assert summary["vae"]["reused_from"] == str(first_vae) and "steps" not in summary["vae"]
    assert summary["dit"]["steps"] == 4
    first, second = (AutoencoderKLWan.from_pretrained(str(folder / "vae")).state_dict()
                     for folder in (first_vae, run / "pipeline"))
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert "vae," not in (run / "train_log.csv").read_text()


def test_training_can_continue_a_trained_vae(smoke_run, tmp_path):
    from diffusers import AutoencoderKLWan

    from training.train import main as train

    first_vae = smoke_run[1] / "pipeline"
    summary = train(["--smoke", "--out", str(tmp_path / "second"), "--vae-init", str(first_vae), "--vae-lr", "1e-2"])
    assert summary["vae"]["initialised_from"] == str(first_vae) and summary["vae"]["steps"] == 3
    first, second = (AutoencoderKLWan.from_pretrained(str(folder / "vae")).state_dict()
                     for folder in (first_vae, tmp_path / "second" / "pipeline"))
    changed = {k for k in first if not torch.equal(first[k], second[k])}
    assert any(k.startswith("encoder.") for k in changed) and any(k.startswith("decoder.") for k in changed)
    # a fresh VAE from the same seed lands elsewhere: the second run started from the first's weights
    fresh = train(["--smoke", "--out", str(tmp_path / "fresh"), "--vae-lr", "1e-2"])
    assert "initialised_from" not in fresh["vae"]
    third = AutoencoderKLWan.from_pretrained(str(tmp_path / "fresh" / "pipeline" / "vae")).state_dict()
    assert not all(torch.equal(second[k], third[k]) for k in second)


def test_training_can_continue_a_trained_transformer_with_its_text_encoder(smoke_run, reused_vae_run, tmp_path):
    from diffusers import WanTransformer3DModel
    from transformers import UMT5EncoderModel

    from training.train import main as train

    first = smoke_run[1] / "pipeline"
    # another seed draws other clips, but the frozen random text encoder must stay the first run's
    summary = train(["--smoke", "--seed", "1", "--out", str(tmp_path / "second"), "--vae-from", str(first),
                     "--dit-init", str(first)])
    assert summary["dit"]["initialised_from"] == str(first) and summary["dit"]["steps"] == 4
    second = tmp_path / "second" / "pipeline"
    encoders = [UMT5EncoderModel.from_pretrained(str(p / "text_encoder")).state_dict() for p in (first, second)]
    assert all(torch.equal(encoders[0][k], encoders[1][k]) for k in encoders[0])
    before, after = (WanTransformer3DModel.from_pretrained(str(p / "transformer")).state_dict() for p in (first, second))
    assert not all(torch.equal(before[k], after[k]) for k in before)
    # its inputs keep the scale it learned: the first run's latent normalisation, not one re-measured
    configs = [json.loads((p / "vae" / "config.json").read_text()) for p in (first, second)]
    assert [c["latents_mean"] for c in configs] == [configs[0]["latents_mean"]] * 2
    assert [c["latents_std"] for c in configs] == [configs[0]["latents_std"]] * 2
    # trained further, not afresh: closer to the first run's weights than a fresh seed-1 run (`--vae-from` alone) is
    fresh_w = WanTransformer3DModel.from_pretrained(str(reused_vae_run[1] / "pipeline" / "transformer")).state_dict()
    distance = lambda a: sum((a[k].float() - before[k].float()).norm() ** 2 for k in before)  # noqa: E731
    assert distance(after) < distance(fresh_w)


def test_vae_from_and_vae_init_exclude_each_other(capsys):
    from training.train import parse_args

    with pytest.raises(SystemExit) as err:
        parse_args(["--out", "x", "--vae-from", "a", "--vae-init", "b"])
    assert err.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_default_model_folder_is_complete_and_small():
    if not os.path.exists(os.path.join(MODEL, "model_index.json")):
        pytest.fail("vidlong/default_model has no model_index.json: the trained weights are missing")
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(MODEL) for f in fs)
    assert total <= 40 * 1024 * 1024
    cfg = yaml.safe_load(open(os.path.join(MODEL, "vidlong.yaml")))
    assert cfg["native_frames"] == 9 and cfg["height"] == 128 and cfg["width"] == 128
    assert cfg["fps"] > 0 and cfg["num_inference_steps"] > 0 and cfg["guidance_scale"] >= 1
    assert os.path.exists(os.path.join(MODEL, "README.md"))


@pytest.mark.slow
def test_cli_check_scores_what_vidlong_generate_wrote(tmp_path):
    """A one-video version of the model's target as a user meets it (all prompted objects, in their
    colours, in >= 90% of frames; the full version is ``training/evaluate.py``: 8 prompts x 2 seeds):
    a `vidlong generate` process, its mp4 read back, checked."""
    from training.cli_check import main as cli_check

    cli_check(["--num-prompts", "1", "--seeds", "0", "--out", str(tmp_path / "check.json")])
    result = json.loads((tmp_path / "check.json").read_text())
    (video,) = result["videos"]
    assert video["prompt"] == "a red circle and a blue square" and video["num_frames"] == 33
    assert video["frac_frames_all_present"] >= 0.9 and video["colour_fidelity"] >= 0.9, video
    assert result["max_wall_seconds"] > 0


def test_truncated_weight_file_fails_to_load(tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(MODEL, broken)
    weights = broken / "transformer" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(Exception):
        _load(str(broken))


def test_garbage_weight_file_fails_to_load(tmp_path):
    broken = tmp_path / "model"
    shutil.copytree(MODEL, broken)
    (broken / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(Exception):
        _load(str(broken))


def test_diffusers_torch_dtype_is_taken_as_dtype():
    """``load_pipeline(torch_dtype=...)``, as diffusers' from_pretrained is called, loads in that dtype (a TypeError before)."""
    import vidlong

    pipe = vidlong.load_pipeline(torch_dtype=torch.bfloat16)
    assert pipe.transformer.dtype == pipe.vae.dtype == torch.bfloat16


def test_loss_plot_draws_continued_runs_after_the_run_they_continue(tmp_path):
    from training.plot import panels, plot_log, read_stages

    log = tmp_path / "train_log.csv"
    log.write_text("stage,step,loss,lr,seconds\nvae,0,1.0,1e-3,1\nvae,25,0.5,1e-3,2\n"
                   "dit,0,0.9,1e-3,3\ndit,100,0.3,1e-3,4\ndit_run5,0,0.25,1e-4,5\ndit_run5,50,0.2,1e-4,6\n")
    parts = panels(read_stages(str(log)))
    assert list(parts) == ["vae", "dit"]
    assert [(stage, steps) for stage, steps, _ in parts["dit"]] == [("dit", [0, 100]),
                                                                    ("dit_run5", [101, 151])]
    plot_log(str(log), str(tmp_path / "loss.png"))
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_group_offload_generates_the_same_video_with_the_weights_in_cpu_memory():
    """`load_pipeline(..., offload="group")`: the transformer's weights wait in CPU memory; the video is the
    one the GPU-resident pipeline makes (bf16: within a few grey levels)."""
    import numpy as np

    from vidlong.generate import GenerateRequest, generate
    from vidlong.pipeline import load_pipeline

    request = GenerateRequest(prompt="a red circle and a blue square", ratio=2, method="both", preset="2x", steps=4)
    resident = generate(load_pipeline("default", device="cuda"), request).frames
    pipe = load_pipeline("default", device="cuda", offload="group")
    offloaded = generate(pipe, request).frames
    assert next(pipe.transformer.parameters()).device.type == "cpu"
    assert offloaded.shape == resident.shape and np.abs(offloaded.astype(int) - resident.astype(int)).mean() < 2.0
