"""`training.train_fifo`: the default model taught diagonal denoising's windows (a clean sink, queue frames at
rising noise levels), and the LoRA folder it writes."""
import torch
import yaml

from training.train_fifo import LAYOUT_FRAMES, QUEUE, QUEUE_LEVELS, main as train, shifted, window_frames, window_sigmas


def test_a_fifo_window_is_a_clean_sink_and_queue_frames_one_level_apart():
    """Each fifo row is 0 (the sink), then 8 levels one step of 1/n apart on the flow-shifted schedule of a
    queue of n levels, n one of `QUEUE_LEVELS`; the plain rows (about a quarter) are one level throughout."""
    shift = 2.0
    sigmas = window_sigmas(2000, 0.25, shift, torch.Generator().manual_seed(0))
    plain = (sigmas == sigmas[:, :1]).all(dim=1)
    assert 0.2 < plain.float().mean() < 0.3
    assert bool((sigmas[plain] > 0).all())
    fifo = sigmas[~plain].double()
    assert bool((fifo[:, 0] == 0).all()) and bool((fifo[:, 1:].diff(dim=1) > 0).all()) and bool((fifo <= 1).all())
    t = fifo[:, 1:] / (shift - (shift - 1) * fifo[:, 1:])  # shifted's inverse: the schedule positions
    steps = t.diff(dim=1)
    assert float((steps - steps[:, :1]).abs().max()) < 1e-5  # evenly spaced within a window
    counts = (1 / steps[:, 0]).round()
    assert set(counts.tolist()) == set(QUEUE_LEVELS)
    assert float(((1 / steps[:, 0]) - counts).abs().max()) < 1e-3
    assert float(t[:, 0].min()) >= 1 / max(QUEUE_LEVELS) - 1e-6 and float(t[:, -1].max()) <= 1 + 1e-6
    assert torch.allclose(shifted(torch.tensor([0.0, 0.5, 1.0]), shift), torch.tensor([0.0, 2 / 3, 1.0]))


def test_a_fifo_window_takes_the_first_frame_then_a_later_run_of_frames():
    """The sink is the clip's latent frame 0 and the queue frames ``j .. j+7`` follow (j >= 1); a plain clip is frames 0..8."""
    clips = torch.arange(17.0).view(1, 1, 17, 1, 1).repeat(6, 2, 1, 3, 3)
    sigmas = torch.tensor([[0.0] + [0.1 * (k + 1) for k in range(QUEUE)]] * 3 + [[0.5] * LAYOUT_FRAMES] * 3)
    frames = window_frames(clips, sigmas, torch.Generator().manual_seed(1))[:, 0, :, 0, 0]
    for row in frames[:3]:
        j = int(row[1])
        assert row[0] == 0 and j >= 1 and row[1:].tolist() == list(range(j, j + QUEUE))
    many = window_frames(clips[:3].repeat(8, 1, 1, 1, 1), sigmas[:3].repeat(8, 1), torch.Generator().manual_seed(2))
    assert len({int(j) for j in many[:, 0, 1, 0, 0]}) > 1  # the queue's start varies
    for row in frames[3:]:
        assert row.tolist() == list(range(LAYOUT_FRAMES))


def test_fifo_training_smoke_run_writes_a_lora_folder_on_the_default_model(tmp_path):
    """`training.train_fifo --smoke` writes a LoRA folder that loads as the default model with only its
    LoRA'd layers (``--targets``: here all but the cross-attention) changed, under its own name and fifo's guidance."""
    from vidlong.pipeline import load_pipeline

    targets = ["attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "ffn.net.0.proj", "ffn.net.2"]
    summary = train(["--smoke", "--base", "vidlong/default_model", "--out", str(tmp_path / "run"), "--targets", *targets])
    assert summary["train"]["steps"] == 3
    model = tmp_path / "run" / "model"
    settings = yaml.safe_load((model / "vidlong.yaml").read_text())
    assert (settings["name"], settings["base"], settings["guidance_scale"]) == ("default-fifo", "default", 4.5)
    taught, default = load_pipeline(str(model), device="cpu"), load_pipeline("default", device="cpu")
    assert taught.spec.name == "default-fifo" and taught.spec.guidance_scale == 4.5
    stock = default.transformer.state_dict()
    changed = [k for k, v in taught.transformer.state_dict().items() if not torch.equal(v, stock[k])]
    assert len(changed) == 8 * len(targets)  # the adapted Linears of the 8 blocks, nothing else
    assert {k.split(".")[2] for k in changed} == {"attn1", "ffn"}
