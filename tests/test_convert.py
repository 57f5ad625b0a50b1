"""`vidlong convert`: checkpoints written in Self-Forcing's, CausVid's and LongLive's layouts (original Wan
keys under generator/generator_ema, `model.` and wrapper prefixes, LongLive's peft LoRA) from a tiny
diffusers transformer convert back to it bit for bit; unknown layouts are refused naming the key."""
import json
import os
import re
import stat

import pytest
import torch
import yaml

from tiny_pipeline import save_tiny_pipeline
from vidlong.cli import main
from vidlong.pipeline import load_pipeline

#: diffusers -> original Wan names (the inverse of diffusers' convert_wan_transformer_to_diffusers), in order
TO_ORIGINAL = [
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    (".attn1.", ".self_attn."), (".attn2.", ".cross_attn."),
    (".to_out.0.", ".o."), (".to_q.", ".q."), (".to_k.", ".k."), (".to_v.", ".v."),
    ("ffn.net.0.proj", "ffn.0"), ("ffn.net.2", "ffn.2"),
    (".norm2.", ".norm__swap."), (".norm3.", ".norm2."), (".norm__swap.", ".norm3."),
    ("proj_out", "head.head"),
]


def to_original(key: str) -> str:
    for new, old in TO_ORIGINAL:
        key = key.replace(new, old)
    if key == "scale_shift_table":
        return "head.modulation"
    return re.sub(r"^(blocks\.\d+)\.scale_shift_table$", r"\1.modulation", key)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="module")
def reference(base):
    return {k: v.clone() for k, v in load_pipeline(base).transformer.state_dict().items()}


def original_layout(reference, prefix="model."):
    return {prefix + to_original(k): v.clone() for k, v in reference.items()}


def converted(folder):
    return load_pipeline(folder).transformer.state_dict()


def test_self_forcing_round_trip_and_stream(base, reference, tmp_path):
    noisy = {k: v + 1 for k, v in original_layout(reference, "model._fsdp_wrapped_module.").items()}
    torch.save({"generator": noisy, "generator_ema": original_layout(reference), "critic": {}}, tmp_path / "sf.pt")
    out = tmp_path / "sf"
    assert main(["convert", "--source", "self-forcing", "--checkpoint", str(tmp_path / "sf.pt"), "--base", str(base),
                 "--out", str(out)]) == 0
    state = converted(out)
    assert state.keys() == reference.keys() and all(torch.equal(state[k], reference[k]) for k in reference)  # the EMA weights
    spec = yaml.safe_load((out / "vidlong.yaml").read_text())
    assert (spec["stream_sampler"], spec["stream_timesteps"], spec["stream_shift"]) == ("causal", [1000, 750, 500, 250], 5.0)
    assert (spec["native_frames"], spec["fps"], spec["height"], spec["width"]) == (3, 8, 32, 32)  # the base's, not Wan2.1's
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~umask  # as mkdir would make it, not mkdtemp's 0o700
    assert (out / "vae").is_symlink() and json.loads((out / "model_index.json").read_text())["transformer"]
    video = tmp_path / "sf.mp4"
    assert main(["stream", "--model", str(out), "--prompt", "a red circle", "--chunks", "2", "--out", str(video)]) == 0
    assert json.loads(video.with_suffix(".json").read_text())["streaming"]["sampler"] == "causal"
    # the generator entry, with FSDP's prefix, on request
    assert main(["convert", "--source", "self-forcing", "--checkpoint", str(tmp_path / "sf.pt"), "--base", str(base),
                 "--out", str(out), "--weights", "generator", "--overwrite", "--copy"]) == 0
    state = converted(out)
    assert all(torch.equal(state[k], reference[k] + 1) for k in reference) and not (out / "vae").is_symlink()


def test_causvid_round_trip(base, reference, tmp_path):
    torch.save({"generator": original_layout(reference), "critic": {}}, tmp_path / "model.pt")
    out = tmp_path / "cv"
    assert main(["convert", "--source", "causvid", "--checkpoint", str(tmp_path / "model.pt"), "--base", str(base),
                 "--out", str(out)]) == 0
    state = converted(out)
    assert all(torch.equal(state[k], reference[k]) for k in reference)
    assert yaml.safe_load((out / "vidlong.yaml").read_text())["stream_timesteps"] == [1000, 757, 522]


def test_longlive_merges_its_lora(base, reference, tmp_path):
    torch.save({"generator": original_layout(reference)}, tmp_path / "longlive_base.pt")
    gen = torch.Generator().manual_seed(0)
    lora, expected = {}, dict(reference)
    for original, diffusers in (("blocks.0.self_attn.q", "blocks.0.attn1.to_q"), ("blocks.1.ffn.2", "blocks.1.ffn.net.2")):
        out_dim, in_dim = reference[f"{diffusers}.weight"].shape
        a, b = torch.randn(4, in_dim, generator=gen), torch.randn(out_dim, 4, generator=gen)
        lora[f"base_model.model.{original}.lora_A.weight"], lora[f"base_model.model.{original}.lora_B.weight"] = a, b
        expected[f"{diffusers}.weight"] = (reference[f"{diffusers}.weight"].double() + b.double() @ a.double()).float()
    torch.save({"generator_lora": lora}, tmp_path / "lora.pt")
    out = tmp_path / "ll"
    assert main(["convert", "--source", "longlive", "--checkpoint", str(tmp_path / "longlive_base.pt"), "--lora",
                 str(tmp_path / "lora.pt"), "--base", str(base), "--out", str(out)]) == 0
    state = converted(out)
    assert all(torch.equal(state[k], expected[k]) for k in reference)
    assert yaml.safe_load((out / "vidlong.yaml").read_text())["stream_preset"] == "longlive"
    assert load_pipeline(out).spec.stream_preset == "longlive"


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.pop("model.blocks.0.self_attn.q.weight"), "has no weight for 'blocks.0.attn1.to_q.weight' (1 missing)"),
    (lambda s: s.update({"model.blocks.0.extra.weight": torch.zeros(1)}), "has a weight the model in --base lacks: 'blocks.0.extra.weight'"),
])
def test_unknown_layouts_are_refused_naming_the_key(base, reference, tmp_path, capsys, damage, message):
    state = original_layout(reference)
    damage(state)
    torch.save({"generator": state}, tmp_path / "odd.pt")
    assert main(["convert", "--source", "causvid", "--checkpoint", str(tmp_path / "odd.pt"), "--base", str(base),
                 "--out", str(tmp_path / "odd")]) == 2
    assert message in capsys.readouterr().err and not (tmp_path / "odd").exists()


@pytest.mark.parametrize("args, message", [
    (["--source", "longlive"], "a longlive checkpoint needs its LoRA: pass --lora lora.pt"),
    (["--source", "causvid", "--weights", "generator_ema"], "has no 'generator_ema' entry of weights (its entries: generator)"),
    (["--source", "causvid", "--saved", "tensor"], "holds a Tensor, not a dict of weights"),
    (["--source", "causvid", "--saved", "list entry"], "'generator' entry is a list, not a dict of weights"),
    (["--source", "causvid", "--out", "{tmp}/" + "c" * 240], "its name is 240 bytes, and this file system takes"),
])
def test_bad_convert_input_is_one_line(base, reference, tmp_path, capsys, args, message):
    saved = {"tensor": torch.zeros(2), "list entry": {"generator": [1]}}
    what = args.pop(args.index("--saved") + 1) if "--saved" in args else None
    args = [a.replace("{tmp}", str(tmp_path)) for a in args if a != "--saved"]
    torch.save(saved[what] if what else {"generator": original_layout(reference)}, tmp_path / "x.pt")
    assert main(["convert", "--checkpoint", str(tmp_path / "x.pt"), "--base", str(base), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("where", ["base", "inside", "around"])
def test_out_overlapping_the_base_is_refused_and_the_base_kept(tmp_path, reference, capsys, where):
    base = save_tiny_pipeline(tmp_path / "models" / "base")
    before = sorted(p.relative_to(base) for p in base.rglob("*"))
    torch.save({"generator": original_layout(reference)}, tmp_path / "x.pt")
    out = {"base": base, "inside": base / "vae", "around": tmp_path / "models"}[where]
    assert main(["convert", "--source", "causvid", "--checkpoint", str(tmp_path / "x.pt"), "--base", str(base),
                 "--out", str(out), "--overwrite"]) == 2
    assert "overlaps --base" in capsys.readouterr().err
    assert sorted(p.relative_to(base) for p in base.rglob("*")) == before


def test_out_holding_the_checkpoint_or_lora_is_refused_and_kept(base, reference, tmp_path, capsys):
    folder = tmp_path / "weights"
    folder.mkdir()
    torch.save({"generator": original_layout(reference)}, folder / "model.pt")
    torch.save({"generator_lora": {}}, folder / "lora.pt")
    assert main(["convert", "--source", "longlive", "--checkpoint", str(folder / "model.pt"), "--lora", str(folder / "lora.pt"),
                 "--base", str(base), "--out", str(folder), "--overwrite"]) == 2
    assert "overlaps --checkpoint" in capsys.readouterr().err
    assert (folder / "model.pt").is_file() and (folder / "lora.pt").is_file()
    lora_only = tmp_path / "lora-only"
    lora_only.mkdir()
    (folder / "lora.pt").rename(lora_only / "lora.pt")
    assert main(["convert", "--source", "longlive", "--checkpoint", str(folder / "model.pt"), "--lora", str(lora_only / "lora.pt"),
                 "--base", str(base), "--out", str(lora_only), "--overwrite"]) == 2
    assert "overlaps --lora" in capsys.readouterr().err and (lora_only / "lora.pt").is_file()
