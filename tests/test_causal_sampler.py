"""The causal (Self-Forcing) sampler against a float64 loop written from its math, and streams with it."""
import pytest
import torch

import vidlong
from tiny_pipeline import save_tiny_pipeline
from vidlong.cli import main
from vidlong.schedulers.causal import CausalSampler, causal_levels, even_timesteps
from vidlong.video_io import read_video


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def reference_chunk(predict, timesteps, shift, noise, renoise):
    """x at the top level, then per level: x0 = x - σ v, x = (1-σ') x0 + σ' ε' (float64)."""
    sigmas = [shift * (t / 1000) / (1 + (shift - 1) * t / 1000) for t in timesteps]
    x = noise.double()
    for i, sigma in enumerate(sigmas):
        clean = x - sigma * predict(x, sigma * 1000)
        if i + 1 == len(sigmas):
            return clean
        x = (1 - sigmas[i + 1]) * clean + sigmas[i + 1] * renoise[i].double()


def test_sampler_matches_the_float64_reference():
    weight = torch.randn(4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.3

    def predict(x, t):  # a flow prediction that depends on x and t
        return torch.einsum("ij,bjfhw->bifhw", weight, x) * (t / 1000) + 0.1

    timesteps, shift = (1000, 750, 500, 250), 5.0
    sampler = CausalSampler(timesteps, shift, generator=torch.Generator().manual_seed(7))
    assert [round(float(t), 3) for t in sampler.timesteps] == [1000.0, 937.5, 833.333, 625.0]  # the shift's warp
    noise = torch.randn(1, 4, 2, 3, 3, generator=torch.Generator().manual_seed(3))
    x = noise.clone()
    for t in sampler.timesteps:
        x = sampler.step(predict(x.double(), float(t)).float(), t, x)[0]
    draws = torch.Generator().manual_seed(7)
    renoise = [torch.randn(noise.shape, generator=draws) for _ in timesteps[1:]]
    expected = reference_chunk(predict, timesteps, shift, noise, renoise)
    assert (x.double() - expected).abs().max() < 1e-5


def test_even_timesteps():
    assert even_timesteps(4) == (1000, 750, 500, 250) and even_timesteps(1) == (1000,)


def test_wrong_timesteps_are_named_where_they_come_from():
    """The causal levels from a model's vidlong.yaml are named as its field, the user's as the flag (Python: the field)."""
    from types import SimpleNamespace

    spec = SimpleNamespace(stream_timesteps=(900, 500))
    with pytest.raises(vidlong.VidlongError, match=r"^the model's stream_timesteps \(its vidlong.yaml\) must start at 1000"):
        causal_levels(vidlong.Streaming(), spec)
    assert causal_levels(vidlong.Streaming(timesteps=(1000, 500)), spec) == (1000, 500)
    with pytest.raises(vidlong.VidlongError, match=r"^Streaming timesteps \(--timesteps\) must start at 1000"):
        vidlong.Streaming(timesteps=(900, 500))


def test_causal_stream_runs_one_forward_per_level_without_guidance(model_dir):
    """One forward a level, batch 1 (guidance 1), at the levels warped by the model's own shift (its scheduler's 3:
    σ = 3s / (1 + 2s), s = t / 1000; 1000 -> 1000, 500 -> 750), then the clean write at timestep 0."""
    pipe = vidlong.load_pipeline(model_dir)
    calls = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda m, a, kw: calls.append((kw["hidden_states"].shape[0], *kw["timestep"].flatten().unique().tolist())),
        with_kwargs=True)
    try:
        streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, context="cache", sampler="causal", timesteps=(1000, 500))
        chunks = list(pipe.stream("a red circle", streaming=streaming, chunks=3))
    finally:
        hook.remove()
    assert len(chunks) == 3 and all(len(c.frames) for c in chunks)
    assert pipe.scheduler.config.shift == 3.0
    assert calls == [(1, 1000.0), (1, 750.0), (1, 0.0)] * 3  # per chunk: 2 levels + 1 clean write, batch 1 (no CFG)


def test_cli_sampler_and_bad_timesteps(model_dir, tmp_path, capsys):
    out = tmp_path / "causal.mp4"
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "2", "--sampler", "causal",
                 "--timesteps", "1000,600,300", "--out", str(out)]) == 0
    assert read_video(out)[0].shape[0] == 9 + 12
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "2", "--sampler", "causal",
                 "--timesteps", "500,750", "--out", str(tmp_path / "bad.mp4")]) == 2
    assert "--timesteps must be whole numbers in 1..1000, strictly decreasing" in capsys.readouterr().err
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "2", "--sampler", "causal",
                 "--timesteps", "900,500", "--out", str(tmp_path / "bad.mp4")]) == 2  # the model told 900 of pure noise
    assert "--timesteps must start at 1000: a chunk starts from pure noise" in capsys.readouterr().err
    assert not (tmp_path / "bad.mp4").exists()


@pytest.mark.parametrize("keep_sinks", [True, False])
def test_prompt_switch_keeps_the_sinks_or_reencodes_all(model_dir, keep_sinks):
    pipe = vidlong.load_pipeline(model_dir)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, context="cache", keep_sinks_on_switch=keep_sinks)
    stream = pipe.stream("0:a red circle; 2:a blue square", streaming=streaming, chunks=3)
    sinks = []
    for chunk in stream:
        cache = stream.context.cache
        sinks.append(cache.layers[-1].keys[:, : cache.tokens_per_frame].clone())  # the last layer sees the prompt
        positions = cache.positions().tolist()
    assert torch.equal(sinks[0], sinks[1])  # no switch yet: sinks never rewritten
    assert torch.equal(sinks[1], sinks[2]) == keep_sinks  # the switch at chunk 2 re-encodes them, or keeps them
    assert positions == [0, 1]  # sink + window, in place after the re-encode
    assert stream.context.cache is None  # its storage freed as the stream ended


def test_longlive_preset_and_cli(model_dir, tmp_path):
    longlive = vidlong.Streaming.preset("longlive")  # the attention layout; the sampler is the model's
    assert (longlive.chunk, longlive.sinks, longlive.window, longlive.context, longlive.keep_sinks_on_switch) \
        == (3, 3, 6, "cache", True) and longlive.sampler is None
    assert vidlong.Streaming.preset("longlive", window=3).window == 3
    with pytest.raises(vidlong.VidlongError, match="unknown streaming preset 'x'"):
        vidlong.Streaming.preset("x")
    out = tmp_path / "ll.mp4"  # the tiny model's native window is 3 frames: sinks and window shrink to fit
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--preset", "longlive", "--chunk", "1",
                 "--sinks", "1", "--window", "1", "--chunks", "3", "--sampler", "causal", "--out", str(out)]) == 0
    import json
    settings = json.loads(out.with_suffix(".json").read_text())["streaming"]
    assert (settings["sampler"], settings["keep_sinks_on_switch"], settings["chunk"]) == ("causal", True, 1)
    assert settings["timesteps"] == [1000, 750, 500, 250]
    # what the stream resolved, not the config's None: the KV cache context, the chunk as the first chunk
    assert (settings["context"], settings["first_chunk"], settings["sinks"], settings["window"]) == ("cache", 1, 1, 1)
    steps = tmp_path / "steps.mp4"  # --steps sets the levels over the preset's
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--preset", "longlive", "--chunk", "1",
                 "--sinks", "1", "--window", "1", "--chunks", "1", "--steps", "2", "--sampler", "causal",
                 "--out", str(steps)]) == 0
    assert json.loads(steps.with_suffix(".json").read_text())["streaming"]["timesteps"] == [1000, 500]


@pytest.mark.parametrize("args, message", [
    (["--sampler", "causal", "--context", "renoise"], "the causal sampler streams with the K/V cache"),
    (["--timesteps", "1000,500"], "--timesteps are the causal sampler's; add --sampler causal"),
    (["--sampler", "causal", "--steps", "2", "--timesteps", "1000,500"], "give --steps or --timesteps, not both"),
])
def test_sampler_settings_that_do_not_go_together(model_dir, tmp_path, capsys, monkeypatch, args, message):
    import vidlong.pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "1",
                 "--out", str(tmp_path / "x.mp4"), *args]) == 2
    assert message in capsys.readouterr().err and not list(tmp_path.iterdir())
