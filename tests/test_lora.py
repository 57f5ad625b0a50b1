"""A user's LoRA files merged as the model loads (`vidlong.load_pipeline(..., loras=...)`, ``--lora FILE[:SCALE]`` and
``--lora-2`` on generate, stream, extend and the app): the weights become ``W + scale·(alpha / r)·B·A`` (biases
``b + scale·b_B``) in any format diffusers' loader of the family converts, the sidecar records them, a second expert takes
its own, and a LoRA that does not fit the model is refused in one line before any model loads."""
import dataclasses
import json

import pytest
import torch
from safetensors.torch import save_file

import vidlong
from vidlong.cli import main
from vidlong.lora import LoraFile

RANK, WIDTH = 2, 32  # the tiny Wan transformer's attention is 32 wide


def pairs(seed: int) -> dict:
    """A LoRA's tensors for block 0's self-attention query: A ``[r, in]``, B ``[out, r]``, B's bias ``[out]``."""
    g = torch.Generator().manual_seed(seed)
    return {"A": torch.randn(RANK, WIDTH, generator=g), "B": torch.randn(WIDTH, RANK, generator=g) / 4,
            "bias": torch.randn(WIDTH, generator=g) / 4}


def diffusers_file(path, lora: dict, module: str = "blocks.0.attn1.to_q", alpha=None):
    """`lora` in diffusers' names (a kohya-style ``alpha`` entry where given)."""
    tensors = {f"transformer.{module}.lora_A.weight": lora["A"], f"transformer.{module}.lora_B.weight": lora["B"],
               f"transformer.{module}.lora_B.bias": lora["bias"]}
    if alpha is not None:
        tensors[f"transformer.{module}.alpha"] = torch.tensor(float(alpha))
    save_file(tensors, str(path))
    return path


def original_file(path, lora: dict):
    """`lora` in Wan's original names, as ComfyUI and Wan's own trainers save them (``diff_b``: the bias)."""
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": lora["A"],
               "diffusion_model.blocks.0.self_attn.q.lora_B.weight": lora["B"],
               "diffusion_model.blocks.0.self_attn.q.diff_b": lora["bias"]}, str(path))
    return path


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from tiny_pipeline import save_tiny_pipeline

    root = tmp_path_factory.mktemp("lora")
    return {kind: save_tiny_pipeline(root / kind, kind) for kind in ("wan2.1", "wan2.2")}


def query(transformer):
    attn = transformer.blocks[0].attn1.to_q
    return attn.weight.detach().clone(), attn.bias.detach().clone()


def test_a_lora_is_merged_as_its_math_says_in_any_format_its_loader_reads(folders, tmp_path):
    lora = pairs(1)
    stock_weight, stock_bias = query(vidlong.load_pipeline(folders["wan2.1"]).transformer)
    expected_weight = (stock_weight.double() + 0.5 * lora["B"].double() @ lora["A"].double()).float()
    expected_bias = (stock_bias.double() + 0.5 * lora["bias"].double()).float()
    for path in (diffusers_file(tmp_path / "d.safetensors", lora), original_file(tmp_path / "o.safetensors", lora)):
        pipe = vidlong.load_pipeline(folders["wan2.1"], loras=[LoraFile(str(path), 0.5)])  # a str path, as from Python
        weight, bias = query(pipe.transformer)
        assert torch.equal(weight, expected_weight) and torch.equal(bias, expected_bias), path.name
        assert torch.equal(pipe.transformer.blocks[1].attn1.to_q.weight,
                           vidlong.load_pipeline(folders["wan2.1"]).transformer.blocks[1].attn1.to_q.weight)  # only its module
    # a kohya alpha scales by alpha / r; two files add up, in order
    pipe = vidlong.load_pipeline(folders["wan2.1"], loras=[diffusers_file(tmp_path / "a.safetensors", lora, alpha=1.0),
                                                           LoraFile(diffusers_file(tmp_path / "b.safetensors", pairs(2)), -1.0)])
    other = pairs(2)
    expected = (stock_weight.double() + (1.0 / RANK) * lora["B"].double() @ lora["A"].double()).float()
    expected = (expected.double() - other["B"].double() @ other["A"].double()).float()
    assert torch.equal(query(pipe.transformer)[0], expected)
    assert [lora.scale for lora in pipe.vidlong_loras] == [1.0, -1.0]


def test_the_cli_merges_it_and_the_sidecar_records_it_and_a_second_expert_takes_its_own(folders, tmp_path):
    from vidlong.video_io import read_video

    path = diffusers_file(tmp_path / "style.safetensors", pairs(3))
    plain, merged = tmp_path / "plain.mp4", tmp_path / "merged.mp4"
    assert main(["generate", "--model", str(folders["wan2.1"]), "--prompt", "a red ball", "--out", str(plain)]) == 0
    assert main(["generate", "--model", str(folders["wan2.1"]), "--prompt", "a red ball", "--lora", f"{path}:2",
                 "--out", str(merged)]) == 0
    assert json.loads(merged.with_suffix(".json").read_text())["loras"] == [dict(path=str(path), scale=2.0, expert=0)]
    assert json.loads(plain.with_suffix(".json").read_text())["loras"] == []
    assert (read_video(plain)[0] != read_video(merged)[0]).any()
    streamed = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(folders["wan2.1"]), "--prompt", "a red ball", "--chunks", "2", "--lora", str(path),
                 "--out", str(streamed)]) == 0
    assert json.loads(streamed.with_suffix(".json").read_text())["loras"] == [dict(path=str(path), scale=1.0, expert=0)]

    import csv

    (tmp_path / "prompts.txt").write_text("a red ball\n")
    evaluated = tmp_path / "eval"
    for lora in ([], ["--lora", str(path)]):  # a LoRA's cells are new cells: its file and scale join their weights
        assert main(["eval", "--model", str(folders["wan2.1"]), "--out", str(evaluated), "--methods", "direct", "--ratios", "1",
                     "--seeds", "1", "--steps", "1", "--prompts", str(tmp_path / "prompts.txt"), "--no-plots", "--no-progress",
                     *lora]) == 0
    with open(evaluated / "results.csv", newline="") as f:
        weights = [row["weights"] for row in csv.DictReader(f)]
    assert len(weights) == 2 and weights[1].startswith(weights[0] + "+") and weights[1].endswith("x1@0")
    from vidlong.eval.runner import EvalConfig, run_eval

    config = EvalConfig(model=str(folders["wan2.1"]), out=str(tmp_path / "eval-pipe"), methods=("direct",), ratios=(1,),
                        seeds=1, steps=1, prompts=["a red ball"], plots=False)  # a loaded pipe's LoRAs are its cells' too
    outcome = run_eval(config, progress=False, pipe=vidlong.load_pipeline(folders["wan2.1"], loras=[LoraFile(path)]))
    assert outcome.generated == 1 and [row["weights"] for row in outcome.rows] == weights[1:]
    with pytest.raises(vidlong.VidlongError, match="differ from the LoRAs merged into the given pipe"):
        run_eval(dataclasses.replace(config, loras=[LoraFile(path, 2.0)]), progress=False,
                 pipe=vidlong.load_pipeline(folders["wan2.1"], loras=[LoraFile(path)]))

    stock = vidlong.load_pipeline(folders["wan2.2"])
    pipe = vidlong.load_pipeline(folders["wan2.2"], loras=[LoraFile(path, 1.0, expert=1)])
    assert torch.equal(query(pipe.transformer)[0], query(stock.transformer)[0])
    assert not torch.equal(query(pipe.transformer_2)[0], query(stock.transformer_2)[0])


@pytest.mark.parametrize("case, message", [
    ("missing", "--lora {tmp}/missing.safetensors does not exist; pass a .safetensors LoRA file (FILE or FILE:SCALE)"),
    ("text", "--lora {tmp}/notes.safetensors is not a readable safetensors LoRA (SafetensorError); pass a LoRA saved as "
     ".safetensors"),
    ("module", "LoRA module 'transformer.blocks.9.attn1.to_q' has no base weight; is the LoRA made for this model?"),
    ("shape", "LoRA module 'transformer.blocks.0.attn1.to_q' is (32, 2) x (2, 16) but its weight is (32, 32)"),
    ("dora", "--lora {tmp}/x.safetensors is a DoRA (transformer.blocks.0.attn1.to_q.dora_scale), which vidlong does not merge; "
     "use a plain LoRA"),
    ("text-encoder", "--lora {tmp}/x.safetensors also holds weights of its text_encoder (text_encoder."),
    ("alpha", "LoRA alpha 'transformer.blocks.0.attn1.to_qkv.alpha' belongs to no lora_A/lora_B pair"),
    ("rslora", "--lora {tmp}/x.safetensors sets peft's use_rslora, which vidlong's merge does not follow"),
    ("scale", "--lora {tmp}/style.safetensors's scale must be a finite number, got inf"),
    ("second", "--lora-2 merges into a second transformer (Wan2.2 A14B's low-noise transformer_2), which this model has not"),
])
def test_a_lora_that_does_not_fit_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, case, message):
    from diffusers import DiffusionPipeline

    lora = pairs(4)
    style = diffusers_file(tmp_path / "style.safetensors", lora)
    given = {"missing": ["--lora", str(tmp_path / "missing.safetensors")], "scale": ["--lora", f"{style}:inf"],
             "second": ["--lora-2", str(style)]}
    if case == "text":
        (tmp_path / "notes.safetensors").write_text("not a LoRA")
        given[case] = ["--lora", str(tmp_path / "notes.safetensors")]
    elif case == "module":
        given[case] = ["--lora", str(diffusers_file(tmp_path / "m.safetensors", lora, module="blocks.9.attn1.to_q"))]
    elif case == "shape":
        save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": torch.zeros(RANK, 16),
                   "transformer.blocks.0.attn1.to_q.lora_B.weight": torch.zeros(WIDTH, RANK)}, str(tmp_path / "s.safetensors"))
        given[case] = ["--lora", str(tmp_path / "s.safetensors")]
    elif case in ("dora", "text-encoder", "alpha", "rslora"):
        extra = {"dora": "transformer.blocks.0.attn1.to_q.dora_scale",  # diffusers' loaders drop these with a warning
                 "text-encoder": "text_encoder.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight",
                 "alpha": "transformer.blocks.0.attn1.to_qkv.alpha", "rslora": "transformer.blocks.0.attn1.to_q.alpha"}[case]
        metadata = {"lora_adapter_metadata": json.dumps({"transformer.use_rslora": True})} if case == "rslora" else None
        save_file({"transformer.blocks.0.attn1.to_q.lora_A.weight": lora["A"],
                   "transformer.blocks.0.attn1.to_q.lora_B.weight": lora["B"], extra: torch.zeros(WIDTH if case != "alpha" else ())},
                  str(tmp_path / "x.safetensors"), metadata=metadata)
        given[case] = ["--lora", str(tmp_path / "x.safetensors")]
    monkeypatch.setattr(DiffusionPipeline, "from_pretrained", classmethod(lambda *a, **k: pytest.fail("a model was loaded")))
    message = message.replace("{tmp}", str(tmp_path))
    commands = [["generate", "--prompt", "a red ball", "--out", str(tmp_path / "g.mp4")],
                ["stream", "--prompt", "a red ball", "--chunks", "1", "--out", str(tmp_path / "s.mp4")],
                ["app", "--port", "1"], ["eval", "--out", str(tmp_path / "eval")]]
    for command in commands if case in ("missing", "module") else commands[:1]:  # one check, every entry point
        assert main([*command, "--model", str(folders["wan2.1"]), *given[case]]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], (command[0], err)
