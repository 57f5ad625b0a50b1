"""The block-causal default model: its training (teacher forcing equals streaming through the KV cache),
model folders that are a base plus a LoRA, and the embedded `default-causal` model end to end."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from conftest import TEXT_DIM, tiny_transformer
from safetensors.torch import save_file
from tiny_pipeline import save_tiny_pipeline

from training.causal import teacher_forced_prediction
from vidlong import hooks
from vidlong.attention.stream_attention import StreamContext
from vidlong.errors import VidlongError


def test_teacher_forcing_equals_streaming_through_the_kv_cache():
    """Each noisy chunk's prediction in one teacher-forced forward equals what a stream computes for it
    (float64): the chunk denoised against the clean K/V that the earlier chunks' t = 0 forwards wrote."""
    model = tiny_transformer(seed=3).double()
    gen = torch.Generator().manual_seed(0)
    clean = torch.randn(1, 4, 9, 4, 4, generator=gen, dtype=torch.float64)
    noisy = torch.randn(1, 4, 9, 4, 4, generator=gen, dtype=torch.float64)
    levels = [900.0, 500.0, 120.0]
    text = torch.randn(1, 5, TEXT_DIM, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        taught = teacher_forced_prediction(model, clean, noisy, torch.tensor([levels]).repeat_interleave(3, 1).double(),
                                           text, chunk=3)
        context = StreamContext(sinks=3, window=3)
        hooks.apply(model, native_frames=9, stream=context)
        try:
            for index, level in enumerate(levels):
                part = slice(3 * index, 3 * index + 3)
                streamed = model(hidden_states=noisy[:, :, part], timestep=torch.tensor([level]).double(),
                                 encoder_hidden_states=text, return_dict=False)[0]
                assert (taught[:, :, part] - streamed).abs().max() < 1e-12, index
                context.writing = True
                model(hidden_states=clean[:, :, part], timestep=torch.tensor([0.0]).double(), encoder_hidden_states=text)
                context.writing = False
        finally:
            hooks.remove(model)
    assert not torch.allclose(taught[:, :, 6:], taught[:, :, :3])


def _lora_folder(folder: Path, base: str, pairs: dict) -> Path:
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in pairs.items()}, str(folder / "adapter.safetensors"))
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-lora", base=base, lora="adapter.safetensors",
                                                             lora_scale=0.5, native_frames=3, fps=8, height=32,
                                                             width=32, num_inference_steps=2, guidance_scale=1.0)))
    return folder


def test_a_lora_folder_loads_as_its_base_with_the_lora_merged(tmp_path):
    from vidlong.models import spec_for_transformer
    from vidlong.pipeline import load_pipeline

    base = save_tiny_pipeline(tmp_path / "base")
    stock = load_pipeline(base, device="cpu").transformer.state_dict()
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(2, 32, generator=gen), torch.randn(32, 2, generator=gen)
    folder = _lora_folder(tmp_path / "lora", "../base", {"transformer.blocks.1.attn1.to_q.lora_A.weight": a,
                                                         "transformer.blocks.1.attn1.to_q.lora_B.weight": b})
    pipe = load_pipeline(folder, device="cpu")
    merged = pipe.transformer.state_dict()
    expected = (stock["blocks.1.attn1.to_q.weight"].double() + 0.5 * b.double() @ a.double()).float()
    assert torch.equal(merged["blocks.1.attn1.to_q.weight"], expected)
    assert all(torch.equal(merged[k], v) for k, v in stock.items() if k != "blocks.1.attn1.to_q.weight")
    assert pipe.spec.name == "tiny-lora" and spec_for_transformer(pipe.transformer).name == "tiny-lora"


def test_a_lora_folder_on_a_lora_folder_merges_both_in_order(tmp_path):
    """A chain (`default-distilled` is `default-causal` plus a LoRA): the pipeline folder's weights plus
    the first LoRA, then the second; settings overlaid outwards; every folder in the weights' fingerprint."""
    from vidlong.models import lora_link, spec_for_transformer, weight_folders
    from vidlong.pipeline import load_pipeline

    base = save_tiny_pipeline(tmp_path / "base")
    stock = load_pipeline(base, device="cpu").transformer.state_dict()["blocks.0.attn1.to_q.weight"].double()
    gen = torch.Generator().manual_seed(2)
    a1, b1, a2, b2 = (torch.randn(shape, generator=gen) for shape in ((2, 32), (32, 2), (3, 32), (32, 3)))
    key = "transformer.blocks.0.attn1.to_q.lora_"
    first = _lora_folder(tmp_path / "first", "../base", {key + "A.weight": a1, key + "B.weight": b1})
    second = tmp_path / "second"
    second.mkdir()
    save_file({key + "A.weight": a2, key + "B.weight": b2}, str(second / "b.safetensors"))
    (second / "vidlong.yaml").write_text("base: ../first\nlora: b.safetensors\nguidance_scale: 4.5\n")
    pipe = load_pipeline(second, device="cpu")
    expected = stock + 0.5 * b1.double() @ a1.double() + b2.double() @ a2.double()
    assert torch.allclose(pipe.transformer.state_dict()["blocks.0.attn1.to_q.weight"].double(), expected, atol=1e-5)
    assert (pipe.spec.name, pipe.spec.native_frames, pipe.spec.fps, pipe.spec.guidance_scale) == ("second", 3, 8, 4.5)
    assert spec_for_transformer(pipe.transformer) == pipe.spec  # `vidlong.apply` on the transformer alone
    assert weight_folders(second) == [second.resolve(), first.resolve(), base.resolve()]
    (first / "vidlong.yaml").write_text("base: ../second\nlora: adapter.safetensors\n")  # a cycle
    with pytest.raises(VidlongError, match=r"first/vidlong.yaml names base '\.\./second', whose chain of bases leads back to it; fix base:"):
        lora_link(second)


@pytest.mark.parametrize("base, lora, message", [
    ("../nowhere", "adapter.safetensors", "names base '../nowhere', which is no diffusers pipeline folder nor a model folder"),
    ("../base", "missing.safetensors", "names lora 'missing.safetensors', which is not in"),
])
def test_a_lora_folder_naming_a_missing_file_is_one_line_exit_2(tmp_path, base, lora, message):
    save_tiny_pipeline(tmp_path / "base")
    folder = _lora_folder(tmp_path / "lora", "../base", {"transformer.blocks.0.attn1.to_q.lora_A.weight": torch.zeros(1, 32),
                                                         "transformer.blocks.0.attn1.to_q.lora_B.weight": torch.zeros(32, 1)})
    raw = yaml.safe_load((folder / "vidlong.yaml").read_text())
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(raw, base=base, lora=lora)))
    run = subprocess.run([sys.executable, "-m", "vidlong", "generate", "--model", str(folder), "--prompt", "a ball",
                          "--out", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert run.returncode == 2 and message in run.stderr and len(run.stderr.strip().splitlines()) == 1, run.stderr


def test_a_lora_for_another_model_is_a_one_line_error(tmp_path):
    from vidlong.pipeline import load_pipeline

    save_tiny_pipeline(tmp_path / "base")
    folder = _lora_folder(tmp_path / "lora", "../base", {"transformer.blocks.7.attn1.to_q.lora_A.weight": torch.zeros(1, 32),
                                                         "transformer.blocks.7.attn1.to_q.lora_B.weight": torch.zeros(32, 1)})
    with pytest.raises(VidlongError, match="has no base weight; is the LoRA made for this model"):
        load_pipeline(folder, device="cpu")


def test_causal_training_smoke_run_writes_a_model_that_streams(tmp_path):
    """`training.train_causal --smoke` (teacher forcing, then self-rollouts) writes a LoRA folder on the
    default model; `training.compare_streams` streams and scores it."""
    from training.compare_streams import main as compare
    from training.train_causal import main as train

    summary = train(["--smoke", "--base", "vidlong/default_model", "--out", str(tmp_path / "run")])
    assert summary["train"]["steps"] == 3 and summary["train"]["rollout_examples"] == 3
    model = tmp_path / "run" / "model"
    assert yaml.safe_load((model / "vidlong.yaml").read_text())["base"] == "default"
    compare(["--models", str(model), "--ratios", "0.67", "--seeds", "20", "--prompts", "0", "--device", "cpu",
             "--sinks", "1", "--steps", "2", "--out", str(tmp_path / "rows.json")])  # two chunks of 2 steps
    rows = json.loads((tmp_path / "rows.json").read_text())
    # the shipped stream settings, with the sinks and steps asked for
    assert [(r["ratio"], r["seed"], r["guidance"], r["sinks"]) for r in rows] == [(0.67, 20, 3.0, 1)]
    assert 0.0 <= rows[0]["shapes_frac_frames_all_present"] <= 1.0


@pytest.fixture(scope="module")
def causal_pipe():
    """The embedded `default-causal` pipeline on the CPU (the default model with a LoRA merged), loaded once for the tests
    that read its spec and weights."""
    from vidlong.pipeline import load_pipeline

    return load_pipeline("default-causal", device="cpu")


def test_the_embedded_causal_model_streams_with_its_own_settings(causal_pipe, tmp_path):
    from vidlong.cli import main
    from vidlong.pipeline import load_pipeline

    causal = causal_pipe
    default = load_pipeline("default", device="cpu")
    spec = causal.spec
    assert (spec.name, spec.stream_context, spec.stream_sampler, spec.stream_first_chunk) == \
        ("default-causal", "cache", "scheduler", 3)
    assert (spec.stream_guidance, spec.guidance_scale) == (4.5, 3.0)  # a stream's guidance; generate's
    changed = [k for k, v in default.transformer.state_dict().items() if not torch.equal(v, causal.transformer.state_dict()[k])]
    assert len(changed) == 8 * 10  # every adapted Linear of the 8 blocks, nothing else
    assert main(["stream", "--model", "default-causal", "--prompt", "a red circle", "--seconds", "1", "--steps", "2",
                 "--out", str(tmp_path / "s.mp4")]) == 0
    sidecar = json.loads((tmp_path / "s.json").read_text())
    assert (sidecar["model"], sidecar["model_path"], sidecar["streaming"]["sampler"]) == ("default-causal", "default-causal", "scheduler")
    assert sidecar["streaming"]["steps"] == 2 and sidecar["guidance"] == [4.5, 4.5]  # its stream guidance, not generate's 3


def test_the_embedded_distilled_model_streams_with_the_causal_sampler_at_guidance_1(causal_pipe, tmp_path):
    """`default-distilled` is `default-causal` plus the student's LoRA (a chain): it changes the same 80
    Linears again, and streams with the causal sampler at guidance 1 by default."""
    from vidlong.cli import main
    from vidlong.pipeline import load_pipeline

    distilled, causal = load_pipeline("default-distilled", device="cpu"), causal_pipe
    assert (distilled.spec.stream_sampler, distilled.spec.stream_context, distilled.spec.native_frames) == ("causal", "cache", 9)
    assert distilled.spec.stream_guidance is None  # its base's 4.5 not inherited: the causal sampler's 1
    causal_state = causal.transformer.state_dict()
    changed = [k for k, v in distilled.transformer.state_dict().items() if not torch.equal(v, causal_state[k])]
    assert len(changed) == 8 * 10
    assert main(["stream", "--model", "default-distilled", "--prompt", "a red circle", "--seconds", "1",
                 "--out", str(tmp_path / "s.mp4")]) == 0
    sidecar = json.loads((tmp_path / "s.json").read_text())
    assert (sidecar["model"], sidecar["streaming"]["sampler"]) == ("default-distilled", "causal")
    assert set(sidecar["guidance"]) == {1.0}


def test_a_lora_folder_needs_only_what_differs_from_its_base(tmp_path):
    """A vidlong.yaml with base: and lora: alone takes the base's spec (under the folder's name); a LoRA
    whose shapes do not fit the base is a one-line error."""
    from vidlong.models import spec_for_folder
    from vidlong.pipeline import load_pipeline

    save_tiny_pipeline(tmp_path / "base")
    (tmp_path / "lora").mkdir()
    save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": torch.zeros(2, 32),
               "transformer.blocks.0.attn1.to_q.lora_B.weight": torch.zeros(32, 2)}, str(tmp_path / "lora" / "a.safetensors"))
    (tmp_path / "lora" / "vidlong.yaml").write_text("base: ../base\nlora: a.safetensors\nguidance_scale: 4.5\n")
    spec, base = spec_for_folder(tmp_path / "lora"), spec_for_folder(tmp_path / "base")
    assert (spec.name, spec.native_frames, spec.height, spec.guidance_scale) == ("lora", base.native_frames, base.height, 4.5)
    save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": torch.zeros(2, 31),
               "transformer.blocks.0.attn1.to_q.lora_B.weight": torch.zeros(32, 2)}, str(tmp_path / "lora" / "a.safetensors"))
    with pytest.raises(VidlongError, match=r"is \(32, 2\) x \(2, 31\) but its weight is \(32, 32\)"):
        load_pipeline(tmp_path / "lora", device="cpu")


@pytest.mark.parametrize("how", ["metadata", "alpha-entry"])
def test_a_lora_with_an_alpha_merges_at_alpha_over_rank(tmp_path, how):
    """diffusers/peft save `lora_alpha` in the file's metadata, other trainers an `<module>.alpha` entry:
    either scales B·A by alpha / rank (here 1 / 2)."""
    from vidlong.pipeline import load_pipeline

    base = save_tiny_pipeline(tmp_path / "base")
    stock = load_pipeline(base, device="cpu").transformer.state_dict()["blocks.0.attn1.to_q.weight"]
    gen = torch.Generator().manual_seed(2)
    a, b = torch.randn(2, 32, generator=gen), torch.randn(32, 2, generator=gen)
    pairs = {"transformer.blocks.0.attn1.to_q.lora_A.weight": a, "transformer.blocks.0.attn1.to_q.lora_B.weight": b}
    metadata = None
    if how == "metadata":
        metadata = {"format": "pt", "lora_adapter_metadata": json.dumps({"transformer.lora_alpha": 1, "transformer.r": 2})}
    else:
        pairs["transformer.blocks.0.attn1.to_q.alpha"] = torch.tensor(1.0)
    (tmp_path / "lora").mkdir()
    save_file(pairs, str(tmp_path / "lora" / "a.safetensors"), metadata=metadata)
    (tmp_path / "lora" / "vidlong.yaml").write_text("base: ../base\nlora: a.safetensors\n")
    merged = load_pipeline(tmp_path / "lora", device="cpu").transformer.state_dict()["blocks.0.attn1.to_q.weight"]
    assert torch.equal(merged, (stock.double() + 0.5 * b.double() @ a.double()).float())


def test_dmd_moves_a_sample_only_where_the_critic_and_the_guided_teacher_disagree():
    """`training.distill_causal.dmd_target`: with the critic equal to the teacher and guidance 1 the
    sample is already where DMD wants it; with a different critic it moves, by a step normalised to the
    sample's mean distance from the teacher's prediction."""
    import copy

    from training.distill_causal import dmd_target

    teacher = tiny_transformer()
    gen = torch.Generator().manual_seed(3)
    context, sample = torch.randn(1, 4, 6, 4, 4, generator=gen), torch.randn(1, 4, 3, 4, 4, generator=gen)
    text, empty = torch.randn(1, 5, TEXT_DIM, generator=gen), torch.zeros(1, 5, TEXT_DIM)
    same = dmd_target(teacher, copy.deepcopy(teacher), sample, context, text, empty, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(same, sample, atol=1e-5)
    critic = tiny_transformer(seed=1)
    moved = dmd_target(teacher, critic, sample, context, text, empty, 3.0, torch.Generator().manual_seed(0))
    assert (moved - sample).abs().mean() > 1e-2


def test_the_students_own_stream_gives_each_chunk_the_first_chunk_and_the_one_before(monkeypatch):
    """`training.distill_causal.student_stream` (`--self-context`) runs as `vidlong stream` does with 3
    sinks and a window of 3: chunk k after chunk 0 (the sinks) and chunk k - 1 (the window)."""
    import training.distill_causal as distill

    seen = []

    def fake_sample(student, context, text, levels, exit_level, gen, grad):
        assert exit_level == len(levels) - 1 and not grad  # the whole sampler, no gradient
        seen.append([int(v) for v in context[0, 0, ::3, 0, 0]])  # each context chunk's id
        return torch.full((2, 4, 3, 5, 5), float(len(seen) - 1))

    monkeypatch.setattr(distill, "student_sample", fake_sample)
    stream = distill.student_stream(None, torch.zeros(2, 7, 8), torch.ones(4), 5, (4, 5, 5), None)
    assert seen == [[], [0], [0, 1], [0, 2], [0, 3]]
    assert stream.shape == (2, 4, 15, 5, 5) and stream[:, :, 12:].eq(4).all()


def test_distillation_smoke_run_writes_a_few_step_model_that_streams(tmp_path):
    """`training.distill_causal --smoke` writes the student's LoRA (rank 4) on the teacher
    (`default-causal`, itself a LoRA on the default model), with the causal sampler; vidlong loads the
    chain and streams it. With a critic warm-up of one update the student takes one of the two."""
    from safetensors.torch import load_file

    from training.distill_causal import main as distill
    from vidlong.pipeline import load_pipeline

    summary = distill(["--smoke", "--critic-warmup", "1", "--out", str(tmp_path / "run")])
    assert summary["distill"]["steps"] == 2 and summary["distill"]["student_steps"] == 1
    model = tmp_path / "run" / "model"
    spec = yaml.safe_load((model / "vidlong.yaml").read_text())
    assert (spec["name"], spec["base"], spec["stream_sampler"]) == ("default-distilled", "default-causal", "causal")
    lora = load_file(str(model / "pytorch_lora_weights.safetensors"))
    assert lora["transformer.blocks.0.attn1.to_q.lora_A.weight"].shape == (4, 320)
    pipe = load_pipeline(model, device="cpu")
    assert pipe.spec.stream_sampler == "causal"
    chunk = next(iter(pipe.stream("a red circle", chunks=1)))
    assert chunk.frames.shape[0] > 0


def test_a_lora_continues_from_a_model_folders_weights(tmp_path):
    """`training.causal.add_lora(init_folder=...)` (train_causal's `--lora-init`, distill_causal's
    `--student-init`) starts every LoRA matrix from the folder's saved one."""
    from training.causal import add_lora

    saved = add_lora(tiny_transformer(), rank=2)
    for p in saved.values():
        p.data.normal_()
    save_file({k: p.detach().half() for k, p in saved.items()}, str(tmp_path / "pytorch_lora_weights.safetensors"))
    fresh, continued = add_lora(tiny_transformer(), rank=2), add_lora(tiny_transformer(), rank=2, init_folder=str(tmp_path))
    assert all(torch.equal(continued[k], saved[k].detach().half().float()) for k in saved)
    assert not torch.equal(fresh[next(iter(fresh))], continued[next(iter(fresh))])
