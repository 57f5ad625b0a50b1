"""The offline prompt timeline: parsing, where each prompt starts, the segmented cross-attention, and
`vidlong generate --prompt "0s: ...; 1s: ..."` end to end on a tiny Wan pipeline."""
import json

import pytest
import torch

from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline
from vidlong.schedulers.timeline import parse_prompt_timeline, timeline_latent_starts
from vidlong.timeline import apply_prompt_timeline, remove_prompt_timeline
from conftest import tiny_transformer, transformer_inputs
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def test_parse_and_latent_starts():
    assert parse_prompt_timeline("a red ball: bouncing; fast") == [(0.0, "a red ball: bouncing; fast")]
    assert parse_prompt_timeline("4s: a blue ball; 0s: a red ball") == [(0.0, "a red ball"), (4.0, "a blue ball")]
    # 16 fps, 4 pixel frames per latent frame: 1 s = pixel 16 = latent 4; 1.1 s = pixel 17.6 -> latent 5
    assert timeline_latent_starts([(0, "a"), (1, "b"), (1.1, "c")], 16, 4, 9) == [0, 4, 5]
    # colons in ordinary prompts stay text; only a stream's chunk schedule (from chunk 0) is refused
    for text in ["10:30 sunrise over a lake; 18:45 sunset", "16:9 wide shot; 4:3 inset", "2001: a city; 1984: a street"]:
        assert parse_prompt_timeline(text) == [(0.0, text)]
    for text, message in [("1s: a; 2s: b", "must start at 0s"), ("0s: a; b", "needs a start in seconds"),
                          ("0s: a; 0.0s: b", "two prompts at 0s"), ("0s: a; 2s:", "needs a prompt"),
                          ("0: a red ball; 20: a blue ball", "marks its starts in seconds, not chunks")]:
        with pytest.raises(VidlongError, match=message):
            parse_prompt_timeline(text)
    with pytest.raises(VidlongError, match="starts a prompt at 3s but the video lasts 2.06s"):
        timeline_latent_starts([(0, "a"), (3, "b")], 16, 4, 9)
    with pytest.raises(VidlongError, match="same latent frame"):
        timeline_latent_starts([(0, "a"), (0.1, "b"), (0.2, "c")], 16, 4, 9)


def test_each_segments_frames_attend_to_their_own_text_only():
    """A block's cross-attention under the timeline = the stock one per segment; changing segment 1's text
    leaves segment 0's rows bit for bit and changes segment 1's."""
    model = tiny_transformer()
    inputs = transformer_inputs(4)
    text_tokens = inputs["encoder_hidden_states"].shape[1]
    inputs["encoder_hidden_states"] = inputs["encoder_hidden_states"].repeat(1, 2, 1)  # two segments' text
    tokens_per_frame = 4  # 4x4 latents over the 2x2 patch
    attn2 = model.blocks[0].attn2
    gen = torch.Generator().manual_seed(3)
    hidden = torch.randn(1, 4 * tokens_per_frame, attn2.to_q.in_features, generator=gen)
    texts = [torch.randn(1, text_tokens, attn2.to_k.in_features, generator=gen) for _ in range(2)]
    with torch.no_grad():
        stock = [attn2(hidden[:, :tokens_per_frame], texts[0]), attn2(hidden[:, tokens_per_frame:], texts[1])]
    apply_prompt_timeline(model, starts=(0, 1), text_tokens=text_tokens)
    with torch.no_grad():
        model(**inputs)  # the transformer-level hook reads the token grid
        out = attn2(hidden, torch.cat(texts, dim=1))
        changed = attn2(hidden, torch.cat([texts[0], texts[1] + 1], dim=1))
    assert torch.equal(out, torch.cat(stock, dim=1))
    assert torch.equal(changed[:, :tokens_per_frame], out[:, :tokens_per_frame])
    assert not torch.allclose(changed[:, tokens_per_frame:], out[:, tokens_per_frame:])
    remove_prompt_timeline(model)
    with torch.no_grad():
        assert torch.equal(attn2(hidden, texts[0]), vidlong_free_attn2(texts[0], hidden))


def test_image_tokens_go_with_every_segments_text():
    """Wan2.1 image-to-video: the CLIP image tokens before the text in cross-attention go with each segment's
    text (diffusers' processor takes the text as the last 512 tokens), so each segment's rows are the stock
    cross-attention against [image, its own text]."""
    model = tiny_transformer(image_dim=16)
    attn2 = model.blocks[0].attn2
    gen = torch.Generator().manual_seed(4)
    dim, tokens_per_frame = attn2.to_q.in_features, 4
    hidden = torch.randn(1, 3 * tokens_per_frame, dim, generator=gen)
    image, texts = torch.randn(1, 7, dim, generator=gen), [torch.randn(1, 512, dim, generator=gen) for _ in range(2)]
    with torch.no_grad():
        stock = [attn2(hidden[:, :2 * tokens_per_frame], torch.cat([image, texts[0]], dim=1)),
                 attn2(hidden[:, 2 * tokens_per_frame:], torch.cat([image, texts[1]], dim=1))]
    state = apply_prompt_timeline(model, starts=(0, 2), text_tokens=512)
    state.tokens_per_frame = tokens_per_frame
    with torch.no_grad():
        assert torch.equal(attn2(hidden, torch.cat([image, *texts], dim=1)), torch.cat(stock, dim=1))
    remove_prompt_timeline(model)


def vidlong_free_attn2(text, hidden):
    """A fresh transformer's first cross-attention: removal must leave the module as built."""
    with torch.no_grad():
        return tiny_transformer().blocks[0].attn2(hidden, text)


def test_a_timeline_of_one_repeated_prompt_is_the_single_prompt(model_dir):
    pipe = load_pipeline(model_dir, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    one = generate(pipe, GenerateRequest(prompt="a red circle", ratio=2, method="both"))
    twice = generate(pipe, GenerateRequest(prompt="0s: a red circle; 1s: a red circle", ratio=2, method="both"))
    other = generate(pipe, GenerateRequest(prompt="0s: a red circle; 1s: a blue square", ratio=2, method="both"))
    assert twice.settings["timeline"][1] == dict(second=1.0, prompt="a red circle", latent_frame=2)
    assert (twice.latents - one.latents).abs().max() < 1e-5
    assert (other.latents - one.latents).abs().max() > 1e-3
    assert not pipe.transformer._diffusers_hook.get_hook("vidlong_timeline_frames")  # removed after the call


def test_cli_generate_with_a_timeline_and_its_refusals(model_dir, tmp_path, capsys):
    out = tmp_path / "t.mp4"
    assert main(["generate", "--model", str(model_dir), "--prompt", "0s: a red circle; 1s: a blue square", "--ratio", "2",
                 "--method", "both", "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert [entry["latent_frame"] for entry in settings["timeline"]] == [0, 2]
    capsys.readouterr()
    assert main(["generate", "--model", str(model_dir), "--prompt", "0s: a red circle; 9s: a blue square", "--ratio", "2",
                 "--out", str(tmp_path / "late.mp4")]) == 2
    assert "starts a prompt at 9s but the video lasts" in capsys.readouterr().err
    assert main(["generate", "--model", str(model_dir), "--prompt", "0s: a red circle; 1s: a blue square", "--ratio", "2",
                 "--parallel", "ulysses", "--out", str(tmp_path / "p.mp4")]) == 2
    assert "a prompt timeline does not run with --parallel" in capsys.readouterr().err
    import numpy as np
    from PIL import Image

    i2v = save_tiny_pipeline(tmp_path / "i2v", "i2v")
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "start.png")
    capsys.readouterr()
    assert main(["generate", "--model", str(i2v), "--prompt", "0s: a red circle; 1s: a blue square", "--ratio", "2",
                 "--image", str(tmp_path / "start.png"), "--out", str(tmp_path / "i.mp4")]) == 2
    message = "a prompt timeline (\"0s: ...; 4s: ...\") makes a video from text alone; give one prompt, or drop --image"
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["t.mp4"]
