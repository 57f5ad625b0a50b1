"""The pipeline layer of the families beyond Wan (LTX-Video, CogVideoX, HunyuanVideo): `load_pipeline`
on a tiny folder saved by the test returns vidlong's subclass; `vidlong generate` with no method is
the stock diffusers pipeline bit for bit; `vidlong generate` and `vidlong eval` run end to end;
every family streams and extends with the re-noised context (a one-chunk stream is the pipeline's own
generation); the KV cache, which none of them has, is refused in one line before any model loads."""
import csv
import json

import numpy as np
import pytest
import torch
import yaml

from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.models import folder_geometry, spec_for_folder
from vidlong.pipeline import load_pipeline
from vidlong.video_io import read_video

#: family: (tiny pipeline builder, its vidlong.yaml, vidlong's class, diffusers' class)
FAMILIES = {
    "ltx-video": ("tiny_ltx_pipeline", dict(native_frames=2, height=64, width=64, fps=25), "VidLongLTXPipeline", "LTXPipeline"),
    "cogvideox": ("tiny_cogvideox_pipeline", dict(native_frames=3, height=32, width=48, fps=8), "VidLongCogVideoXPipeline",
                  "CogVideoXPipeline"),
    "hunyuan-video": ("tiny_hunyuan_pipeline", dict(native_frames=3, height=32, width=48, fps=24), "VidLongHunyuanVideoPipeline",
                      "HunyuanVideoPipeline"),
    "skyreels-v2": ("tiny_skyreels_pipeline", dict(native_frames=3, height=32, width=32, fps=24), "VidLongSkyReelsV2Pipeline",
                    "SkyReelsV2Pipeline"),
    "hunyuan-video-1.5": ("tiny_hunyuan15_pipeline", dict(native_frames=3, height=32, width=48, fps=24),
                          "VidLongHunyuanVideo15Pipeline", "HunyuanVideo15Pipeline"),
}


def saved_family(family: str, tmp_path_factory):
    """A saved tiny pipeline folder of `family` with a vidlong.yaml: 2 steps, guidance 2; no temporal_ratio,
    which comes from the VAE."""
    import tiny_pipeline

    builder, spec = FAMILIES[family][:2]
    folder = tmp_path_factory.mktemp(family)
    getattr(tiny_pipeline, builder)().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name=f"tiny-{family}", num_inference_steps=2,
                                                             guidance_scale=2.0, **spec)))
    return folder


@pytest.fixture(scope="module", params=list(FAMILIES))
def family_folder(request, tmp_path_factory):
    """(family, its `saved_family` folder)."""
    return request.param, saved_family(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def ltx_folder(tmp_path_factory):
    """The tiny LTX-Video folder, for diagonal denoising (the other families take no timestep per token)."""
    return saved_family("ltx-video", tmp_path_factory)


def test_load_pipeline_gives_vidlongs_class_with_the_folders_geometry(family_folder):
    family, folder = family_folder
    pipe = load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == FAMILIES[family][2]
    assert pipe.facts()["family"] == family
    assert pipe.geometry() == folder_geometry(folder)
    assert spec_for_folder(folder).temporal_ratio == pipe.geometry().temporal == (8 if family == "ltx-video" else 4)


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(family_folder):
    """Same noise, same settings: vidlong's `generate` (spec defaults, latent layout, progress hooks)
    returns the frames diffusers' own class makes from the same folder."""
    import diffusers

    family, folder = family_folder
    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))

    stock = getattr(diffusers, FAMILIES[family][3]).from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    spec, geometry = pipe.spec, pipe.geometry()
    frames = result.settings["latent_frames"]
    noise = torch.randn(1, geometry.channels, frames, spec.height // geometry.spatial, spec.width // geometry.spatial,
                        generator=torch.Generator().manual_seed(3))
    extra = dict(guidance_scale=2.0, **(dict(frame_rate=spec.fps) if family == "ltx-video" else {}))
    if family == "hunyuan-video-1.5":  # its call takes the guidance from its guider
        stock.guider, extra = stock.guider.new(guidance_scale=2.0), {}
    latents = stock._pack_latents(noise, 1, 1) if family == "ltx-video" else noise
    if family == "cogvideox":  # its call draws its noise frames before channels: the seed alone gives generate's video
        latents, extra["generator"] = None, torch.Generator().manual_seed(3)
    video = stock(prompt="a red ball", height=spec.height, width=spec.width, num_frames=4 * (frames - 1) + 1 if family != "ltx-video"
                  else 8 * (frames - 1) + 1, num_inference_steps=2, latents=latents, output_type="np", **extra).frames[0]
    assert np.array_equal(result.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert result.latents.shape == noise.shape  # saved latents are [1, C, F, h, w] whatever the pipeline's layout


def test_cli_generate_with_both_methods_writes_the_mp4(family_folder, tmp_path):
    """`--ratio 2` with both methods: an mp4 of the model's size and frame rate, 2x its native latent frames (on
    CogVideoX the next odd count, which its VAE decodes to 4k+1 frames), both methods in the sidecar, the latents saved."""
    family, folder = family_folder
    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--method", "both",
                 "--out", str(out), "--save-latents", str(tmp_path / "long.pt")]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    spec = FAMILIES[family][1]
    assert frames.shape[0] == settings["pixel_frames"] and frames.shape[1:] == (spec["height"], spec["width"], 3)
    latent = 2 * spec["native_frames"] + (family == "cogvideox")  # its VAE decodes an odd count only to 4k+1 frames
    assert fps == pytest.approx(spec["fps"]) and settings["latent_frames"] == latent
    assert settings["pixel_frames"] == spec_for_folder(folder).temporal_ratio * (latent - 1) + 1
    assert [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"]
    assert torch.load(tmp_path / "long.pt")["latents"].shape[2] == settings["latent_frames"]


@pytest.mark.parametrize("command", ["stream", "extend"])
def test_the_kv_cache_streams_where_the_family_has_one_and_is_refused_in_one_line_elsewhere(family_folder, tmp_path, capsys,
                                                                                           monkeypatch, command):
    """The KV-cache context (`--context cache`): SkyReels-V2 (Wan's layout) streams and extends with it; the other families
    have none and refuse it in one line before any model loads."""
    import vidlong.pipeline
    from vidlong.attention.adapters import adapter_named

    family, folder = family_folder
    cached = "cache" in adapter_named(family).stream_contexts
    if not cached:
        monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    source = ["--video", str(tmp_path / "in.mp4")] if command == "extend" else []
    if command == "extend":
        from vidlong.video_io import write_video

        write_video(tmp_path / "in.mp4", np.zeros((9, FAMILIES[family][1]["height"], FAMILIES[family][1]["width"], 3), np.uint8), fps=8)
    code = main([command, "--model", str(folder), "--prompt", "a red ball", "--chunks", "2", *source, "--context", "cache",
                 "--out", str(tmp_path / "s.mp4")])
    if cached:
        assert code == 0 and json.loads((tmp_path / "s.json").read_text())["streaming"]["context"] == "cache"
        assert len(read_video(tmp_path / "s.mp4")[0]) == (9 + 12 if command == "stream" else 9 + 2 * 12)  # chunks of 3 latent frames
        return
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--context cache is not available for" in err[0] and "--context renoise" in err[0], err
    assert not (tmp_path / "s.mp4").exists()


def test_rope_moving_methods_run_where_the_adapter_moves_rope_and_are_refused_elsewhere(family_folder, tmp_path, capsys,
                                                                                        monkeypatch):
    """The -sinks methods move the keys' RoPE, which vidlong implements for Wan's RoPE tables (Wan, SkyReels-V2): there
    `vidlong generate --method window-sinks` writes the video; elsewhere it is refused in one line before loading."""
    import vidlong.pipeline
    from vidlong.attention.adapters import adapter_named

    family, folder = family_folder
    moves = adapter_named(family).moves_rope
    if not moves:
        monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    code = main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--method", "window-sinks",
                 "--out", str(tmp_path / "g.mp4")])
    if moves:
        assert code == 0 and len(read_video(tmp_path / "g.mp4")[0]) == json.loads((tmp_path / "g.json").read_text())["pixel_frames"]
        return
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "windows with sinks" in err[0] and "without -sinks" in err[0], err


def test_exact_frames_are_lengths_its_vae_decodes_back(family_folder, tmp_path, capsys, monkeypatch):
    """`--frames` takes 4k+1 frames (LTX-Video: 8k+1, its VAE's ratio), and on CogVideoX 8k+1 (an odd count of latent
    frames: its VAE decodes an even count F to 4·F frames, so 21 frames would come out 24): others refused in one line
    before loading, naming the two nearest lengths."""
    import vidlong.pipeline

    family, folder = family_folder
    ratio = spec_for_folder(folder).temporal_ratio * (2 if family == "cogvideox" else 1)
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--frames", str(ratio + 5 if ratio > 4 else 7),
                 "--out", str(tmp_path / "g.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"(needs {ratio}k+1); use --frames {ratio + 1} or --frames {2 * ratio + 1}" in err[0], err


def test_fifo_runs_where_the_transformer_takes_a_timestep_per_token(family_folder, tmp_path, capsys):
    """Diagonal denoising gives each latent frame its own timestep: `vidlong generate --method fifo` writes
    the whole video on LTX-Video, whose transformer reads a timestep per token, and is refused in one line,
    before any model loads, where the transformer takes one per sample (CogVideoX, HunyuanVideo)."""
    from vidlong.attention.adapters import adapter_named

    family, folder = family_folder
    out = tmp_path / "g.mp4"
    code = main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "3", "--method", "fifo",
                 "--out", str(out)])
    if adapter_named(family).timestep_per_token:
        native = FAMILIES[family][1]["native_frames"]
        assert code == 0 and read_video(out)[0].shape[0] == spec_for_folder(folder).temporal_ratio * (3 * native - 1) + 1
    else:
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and not out.exists() and len(err) == 1, err
        assert "--method fifo (diagonal denoising) needs a timestep per token" in err[0] and "e.g. --method both" in err[0]
        code = main(["eval", "--model", str(folder), "--methods", "fifo", "--out", str(tmp_path / "eval")])
        err = capsys.readouterr().err.strip().splitlines()  # vidlong eval's line names its own flag
        assert code == 2 and len(err) == 1 and "--methods fifo (diagonal" in err[0] and "e.g. --methods both" in err[0], err


def test_a_native_length_stream_chunk_is_the_pipelines_own_generation(family_folder):
    """With its first chunk as long as the native window, a stream starts with exactly what the pipeline
    generates (same noise, steps, timesteps, text and decode; uint8 rounding aside)."""
    family, folder = family_folder
    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert_first_chunk_is_the_pipelines_generation(pipe)


def assert_first_chunk_is_the_pipelines_generation(pipe):
    native = pipe.spec.native_frames
    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=native), chunks=1, seed=3)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3))
    assert first.frames.shape == own.frames.shape
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1


def test_cogvideox_streams_with_the_dpm_solver_it_ships(tmp_path):
    """CogVideoX-5B ships `CogVideoXDPMScheduler`, whose step carries the previous step's state: a
    native-length first chunk is still the pipeline's own generation, and later chunks run."""
    from diffusers import CogVideoXDPMScheduler
    from tiny_pipeline import tiny_cogvideox_pipeline

    stock = tiny_cogvideox_pipeline()
    stock.scheduler = CogVideoXDPMScheduler.from_config(stock.scheduler.config)
    stock.save_pretrained(tmp_path, safe_serialization=True)
    (tmp_path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cogvideox-dpm", num_inference_steps=2,
                                                               guidance_scale=2.0, **FAMILIES["cogvideox"][1])))
    pipe = load_pipeline(tmp_path, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
    assert_first_chunk_is_the_pipelines_generation(pipe)
    assert [len(c.frames) for c in pipe.stream("a red ball", Streaming(chunk=1), chunks=3, seed=0)] == [1, 4, 4]


# HunyuanVideo 1.5's stream and extension run in test_hunyuan_video15's image-to-video test (the same streamer); its
# text-to-video forwards carry 1985 text and image tokens, about a second each on a CPU core even at this size
@pytest.mark.parametrize("family_folder", [f for f in FAMILIES if f != "hunyuan-video-1.5"], indirect=True)
def test_streams_continue_from_the_renoised_context_and_extend_a_video(family_folder, tmp_path):
    """`vidlong stream` writes r·(C - 1) + 1 then r·C frames per chunk (r: the VAE's frames per latent
    frame); later chunks depend on the context; `vidlong extend` keeps the input's frames and adds chunks."""
    from family_checks import check_cli_extension, check_stream_follows_its_context

    family, folder = family_folder
    pipe = load_pipeline(folder, device="cpu")
    spec = FAMILIES[family][1]
    size = (spec["height"], spec["width"], 3)
    check_stream_follows_its_context(pipe, folder, tmp_path, pipe.spec.temporal_ratio, size)
    check_cli_extension(folder, tmp_path, pipe.spec.temporal_ratio, spec["fps"], size)


# the runner sizes each length by the family's frame rule: LTX-Video's 8k+1 frames and CogVideoX's odd latent counts
# differ from the 4k+1 of the others, whose generate is checked above
@pytest.mark.parametrize("family_folder", ["ltx-video", "cogvideox"], indirect=True)
def test_eval_runs_direct_and_both_at_two_lengths(family_folder, tmp_path):
    _, folder = family_folder
    (tmp_path / "prompts.txt").write_text("a red circle\n")
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(folder), "--ratios", "1,2", "--methods", "direct,both", "--seeds", "1",
                 "--prompts", str(tmp_path / "prompts.txt"), "--out", str(out), "--no-plots", "--no-progress"]) == 0
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["method"], float(r["ratio"])) for r in rows) == [("both", 1.0), ("both", 2.0), ("direct", 1.0), ("direct", 2.0)]


def test_a_family_that_declares_no_stream_context_is_refused(monkeypatch):
    """A new family's adapter streams nothing until it names its `stream_contexts`: one line saying why."""
    import vidlong.attention.adapters as adapters
    from vidlong.validate import check_streams, default_stream_context

    class NewFamily(adapters.FamilyAdapter):
        name, transformer_class, no_stream_reason = "new", "NewTransformer3DModel", "its sampler is not wired yet"

    monkeypatch.setattr(adapters, "ADAPTERS", (*adapters.ADAPTERS, NewFamily()))
    with pytest.raises(VidlongError, match="streaming is not available for NewTransformer3DModel: its sampler is not wired yet; "
                                           "use vidlong generate"):
        check_streams("new")
    assert default_stream_context("wan") == "cache" and default_stream_context("ltx-video") == "renoise"


@pytest.fixture()
def ltx_pipe(ltx_folder):
    """The tiny LTX-Video pipeline, loaded."""
    pipe = load_pipeline(ltx_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_ltx_reads_a_timestep_per_token_frame_by_frame(ltx_pipe):
    """Without its blocks, LTX-Video's output at a token depends on that token and its timestep alone; so a
    window whose latent frame k is at level t_k (one timestep per token, frame-major, as diagonal denoising
    gives them) must give, frame by frame, what the whole window gives at t_k, and the window at one level
    what the stock per-sample timestep gives."""
    from vidlong.streaming import StreamText

    transformer = ltx_pipe.transformer
    transformer.transformer_blocks = torch.nn.ModuleList()
    z = torch.randn(1, ltx_pipe.geometry().channels, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    text = StreamText(1, dict(encoder_hidden_states=torch.zeros(1, 1, transformer.config.caption_channels),
                              encoder_attention_mask=torch.ones(1, 1)))
    levels = torch.tensor([0.0, 400.0, 900.0])
    per_token = levels.repeat_interleave(4)[None]  # 2 x 2 tokens a frame
    mixed = ltx_pipe.stream_forward(transformer, z, per_token, text)
    for k, level in enumerate(levels):
        whole = ltx_pipe.stream_forward(transformer, z, level.view(1), text)
        assert torch.allclose(mixed[:, :, k], whole[:, :, k], atol=1e-6, rtol=0)
        assert not torch.allclose(mixed[:, :, (k + 1) % 3], whole[:, :, (k + 1) % 3], atol=1e-3)
    assert torch.allclose(ltx_pipe.stream_forward(transformer, z, torch.full((1, 12), 400.0), text),
                          ltx_pipe.stream_forward(transformer, z, torch.tensor([400.0]), text), atol=1e-6, rtol=0)


def test_ltx_fifo_starts_from_its_own_video_streams_and_extends(ltx_pipe, tmp_path):
    """On LTX-Video, fifo's first latent frame (the sink) is the pipeline's own native video's, bit for bit,
    and a seed gives one video; a fifo stream is that video chunk by chunk, bit for bit, and an extension
    keeps its input."""
    import vidlong
    from vidlong.video_io import write_video

    pipe, native = ltx_pipe, ltx_pipe.spec.native_frames
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3))
    request = GenerateRequest(prompt="a red ball", ratio=3, method="fifo", seed=3)
    made = generate(pipe, request)
    assert made.latents.shape[2] == 3 * native and made.frames.shape[0] == pipe.spec.temporal_ratio * (3 * native - 1) + 1
    assert torch.equal(made.latents[:, :, :1], own.latents[:, :, :1])
    assert torch.equal(generate(pipe, request).latents, made.latents)

    streamed = list(pipe.stream("a red ball", vidlong.DiagonalDenoising(), chunks=2, seed=3))  # 3 latent frames a chunk
    assert torch.equal(torch.cat([c.latents for c in streamed], dim=2), made.latents[:, :, :6])  # generate's, chunk by chunk
    given = made.frames[:pipe.spec.temporal_ratio * 2 + 1]
    write_video(tmp_path / "in.mp4", given, fps=pipe.spec.fps)
    extended = [c.frames for c in pipe.extend("a red ball", str(tmp_path / "in.mp4"), streaming=vidlong.DiagonalDenoising(), chunks=1)]
    assert np.array_equal(extended[0], read_video(tmp_path / "in.mp4")[0]) and len(extended) == 2


def test_ltx_cross_attention_follows_each_segments_text_and_mask(ltx_pipe):
    """A prompt timeline on LTX-Video: a block's cross-attention = the stock one per segment, each against its
    own text and its own part of the padding mask (the mask matters: padded keys are masked out)."""
    from vidlong.timeline import apply_prompt_timeline, remove_prompt_timeline

    transformer = ltx_pipe.transformer
    attn2 = transformer.transformer_blocks[0].attn2
    gen = torch.Generator().manual_seed(5)
    tokens_per_frame, text_tokens, dim = 4, 6, attn2.to_q.in_features
    hidden = torch.randn(1, 3 * tokens_per_frame, dim, generator=gen)
    texts = [torch.randn(1, text_tokens, attn2.to_k.in_features, generator=gen) for _ in range(2)]
    masks = [torch.tensor([[[0.0] * 4 + [-10000.0] * 2]]), torch.tensor([[[0.0] * 2 + [-10000.0] * 4]])]  # [B, 1, T] bias
    with torch.no_grad():
        stock = [attn2(hidden[:, :tokens_per_frame], encoder_hidden_states=texts[0], attention_mask=masks[0]),
                 attn2(hidden[:, tokens_per_frame:], encoder_hidden_states=texts[1], attention_mask=masks[1])]
        unmasked = attn2(hidden[:, tokens_per_frame:], encoder_hidden_states=texts[1])
    state = apply_prompt_timeline(transformer, starts=(0, 1), text_tokens=text_tokens)
    state.tokens_per_frame = tokens_per_frame
    with torch.no_grad():
        out = attn2(hidden, encoder_hidden_states=torch.cat(texts, dim=1), attention_mask=torch.cat(masks, dim=-1))
    remove_prompt_timeline(transformer)
    assert torch.allclose(out, torch.cat(stock, dim=1), atol=1e-6, rtol=0)
    assert not torch.allclose(out[:, tokens_per_frame:], unmasked, atol=1e-3)


def test_ltx_generates_a_prompt_timeline_and_fifo_streams_switch(ltx_pipe, ltx_folder, tmp_path):
    """LTX-Video follows a prompt timeline (its texts encoded as its call encodes them, 128 tokens with their
    masks): one repeated prompt is the single prompt, two prompts differ, the hooks go after the call;
    `vidlong generate` takes a timeline, a fifo stream a schedule and a live switch."""
    import vidlong

    from conftest import assert_a_prompt_timeline_follows_its_segments

    pipe = ltx_pipe
    assert_a_prompt_timeline_follows_its_segments(pipe)

    alone = list(pipe.stream("a red ball", vidlong.DiagonalDenoising(), chunks=3, seed=3))
    scheduled = list(pipe.stream("0:a red ball; 2:a blue ball", vidlong.DiagonalDenoising(), chunks=3, seed=3))
    repeated = list(pipe.stream("0:a red ball; 2:a red ball", vidlong.DiagonalDenoising(), chunks=3, seed=3))
    assert not torch.allclose(scheduled[2].latents, alone[2].latents, atol=1e-4)
    assert all(torch.equal(a.latents, r.latents) for a, r in zip(alone, repeated))  # one prompt twice: no switch
    assert main(["stream", "--model", str(ltx_folder), "--method", "fifo", "--prompt", "0:a red ball; 1:a blue ball",
                 "--chunks", "2", "--out", str(tmp_path / "s.mp4")]) == 0
    live = pipe.stream("a red ball", vidlong.DiagonalDenoising(), chunks=3, seed=3)
    chunks = []
    for chunk in live:
        chunks.append(chunk)
        if chunk.index == 0:
            live.switch_prompt("a blue ball")
    assert len(chunks) == 3 and live.prompts[-1][1] == "a blue ball"
    out = tmp_path / "t.mp4"
    assert main(["generate", "--model", str(ltx_folder), "--prompt", "0s: a red circle; 0.4s: a blue square", "--ratio", "2",
                 "--method", "fifo", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["timeline"][1]["prompt"] == "a blue square"


def test_ltx_fifo_takes_its_samplers_shifted_levels(ltx_pipe):
    """LTX-Video's scheduler as released shifts its sigmas by the token count (dynamic shifting) and stretches
    them to a terminal value: the queue's levels are its call's for the native window, ascending from 0."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    import vidlong
    from vidlong.schedulers.diagonal import queue_sigmas

    pipe = ltx_pipe
    pipe.scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
                                                     base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1)
    levels = vidlong.DiagonalDenoising().levels(pipe.spec.native_frames)
    window = (1, pipe.geometry().channels, pipe.spec.native_frames, 2, 2)
    sigmas = queue_sigmas(pipe.stream_scheduler(levels, window).sigmas)
    assert sigmas.shape == (levels + 1,) and sigmas[0] == 0 and bool((sigmas[1:] > sigmas[:-1]).all())
    assert abs(float(sigmas[1]) - 0.1) < 1e-6 and float(sigmas[-1]) == 1.0
    made = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="fifo", seed=0))
    assert made.latents.shape[2] == 2 * pipe.spec.native_frames and bool(made.latents.isfinite().all())


def test_fifo_refuses_offload(ltx_pipe):
    """Diagonal denoising runs the transformers outside the pipeline's offload hooks: refused in one line (the CLI checks
    `--offload` before loading; `generate` a pipeline with offloading enabled, here diffusers' group offloading onto the
    CPU, as `load_pipeline(..., offload="group")` enables it onto a GPU)."""
    from vidlong.validate import check_diagonal_offload

    check_diagonal_offload(None)
    with pytest.raises(VidlongError, match="fifo runs the transformer outside the pipeline's offload hooks; drop offload"):
        check_diagonal_offload("model")
    ltx_pipe.transformer.enable_group_offload(onload_device=torch.device("cpu"), offload_type="block_level",
                                              num_blocks_per_group=1)
    with pytest.raises(VidlongError, match=r"^diagonal denoising \(method fifo\) and streams run the transformer and the "
                                           "VAE outside the pipeline's offload hooks, and pipe.transformer has offloading"):
        generate(ltx_pipe, GenerateRequest(prompt="a red ball", ratio=2, method="fifo"))


def test_fifo_refuses_a_temporal_patch(ltx_folder):
    """A temporal patch (an LTX-Video config with ``patch_size_t`` 2) joins latent frames in one token frame,
    which diagonal denoising cannot give two levels: refused in one line from the folder's limits."""
    import dataclasses

    from vidlong.validate import check_diagonal, limits_for_folder

    limits = limits_for_folder(ltx_folder)
    check_diagonal(limits)
    patched = dataclasses.replace(limits, geometry=dataclasses.replace(limits.geometry, patch=(2, 1, 1)))
    with pytest.raises(VidlongError, match="a temporal patch of 2 frames joins"):
        check_diagonal(patched)


@pytest.fixture(scope="module")
def ltx_i2v_folder(tmp_path_factory):
    """A saved tiny `LTXImageToVideoPipeline` folder (LTX-Video's text-to-video parts) with the LTX vidlong.yaml."""
    from tiny_pipeline import tiny_ltx_i2v_pipeline

    folder = tmp_path_factory.mktemp("ltx-i2v")
    tiny_ltx_i2v_pipeline().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-ltx-i2v", num_inference_steps=2, guidance_scale=2.0,
                                                             **FAMILIES["ltx-video"][1])))
    return folder


def test_ltx_image_to_video_generates_as_its_pipeline_does(ltx_i2v_folder, image_path):
    """`LTXImageToVideoPipeline` folders load as vidlong's image-to-video class; `generate` with an image and no
    method is diffusers' own call with the same seed bit for bit (the image's latent drawn first, then the noise);
    the first latent frame is the image's latent at any length and with the methods, and the image matters."""
    import diffusers
    from PIL import Image

    pipe = load_pipeline(ltx_i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTXImageToVideoPipeline" and pipe.task == "i2v" and pipe.spec.native_frames == 2
    image = Image.open(image_path).convert("RGB")
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(image_path)))

    stock = diffusers.LTXImageToVideoPipeline.from_pretrained(ltx_i2v_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    video = stock(image=image, prompt="a red ball", height=64, width=64, num_frames=9, num_inference_steps=2, guidance_scale=2.0,
                  frame_rate=25, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))

    latent = pipe.image_condition(image, 64, 64, 2, torch.Generator().manual_seed(3)).latent
    longer = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=image, method="both"))
    assert longer.latents.shape[2] == 4 and torch.equal(longer.latents[:, :, :1], latent)
    assert torch.equal(own.latents[:, :, :1], latent)
    other = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=np.zeros((32, 32, 3), np.uint8)))
    assert not torch.equal(other.latents[:, :, :1], own.latents[:, :, :1])


def test_a_call_takes_an_image_files_path_and_refuses_a_prompt_given_where_it_takes_the_image(ltx_i2v_folder, image_path):
    """vidlong's call of a pipeline whose diffusers call takes ``image`` first: ``image=`` given as a file's path is that
    file's picture (the same video as its PIL image, bit for bit); a prompt given by position, which diffusers would take
    for the image, is refused in one line naming the keyword, before any step, and so is a batch of them (a list: diffusers
    raised its ValueError for want of a prompt); so is a text where no file is."""
    from PIL import Image

    pipe = load_pipeline(ltx_i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    call = dict(prompt="a red ball", num_frames=9, output_type="latent", num_inference_steps=1)
    by_path = pipe(image=str(image_path), generator=torch.Generator().manual_seed(1), **call).frames
    by_picture = pipe(image=Image.open(image_path), generator=torch.Generator().manual_seed(1), **call).frames
    assert torch.equal(by_path, by_picture)
    pipe.transformer.forward = None  # any step would fail
    with pytest.raises(VidlongError, match=r"^prompt given by position: LTXImageToVideoPipeline's call takes image first, so "
                                           r"the text 'a red ball' went to image; pass the prompt by name, pipe\(prompt=\.\.\.\)$"):
        pipe("a red ball", num_frames=9)
    with pytest.raises(VidlongError, match=r"^prompt given by position: LTXImageToVideoPipeline's call takes image first, so "
                                           r"the text 'a red ball' went to image"):
        pipe(["a red ball", "a blue ball"], num_frames=9)
    with pytest.raises(VidlongError, match=r"^image \(--image\): no image file at no-such\.png; check the path$"):
        pipe(image="no-such.png", prompt="a red ball")


def test_ltx_image_to_video_fifo_streams_and_extends_from_the_image(ltx_i2v_folder, image_path, tmp_path, capsys):
    """Diagonal denoising from an image on LTX-Video: the sink is the image's latent (the native video's first
    frame), a fifo stream is `generate --method fifo --image`'s latents chunk by chunk; the re-noised stream's
    every forward carries the image's latent at window position 0 with timestep 0 there (and a native-length
    first chunk is the pipeline's own generation); the CLI generates, streams and extends, and asks for --image."""
    import vidlong
    from PIL import Image

    pipe = load_pipeline(ltx_i2v_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=2, image=str(image_path)))
    made = generate(pipe, GenerateRequest(prompt="a red ball", ratio=3, method="fifo", seed=2, image=str(image_path)))
    assert made.latents.shape[2] == 6 and torch.equal(made.latents[:, :, :1], own.latents[:, :, :1])
    streamed = list(pipe.stream("a red ball", vidlong.DiagonalDenoising(), chunks=2, seed=2, image=Image.open(image_path)))
    assert torch.equal(torch.cat([c.latents for c in streamed], dim=2), made.latents)

    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=2), chunks=1, seed=3, image=str(image_path))))
    native = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(image_path)))
    assert np.abs(first.frames.astype(int) - native.frames.astype(int)).max() <= 1
    seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append((k["hidden_states"], k["timestep"])), with_kwargs=True)
    chunks = list(pipe.stream("a red ball", Streaming(chunk=1, sinks=1, window=0, steps=2), chunks=3, seed=1, image=str(image_path)))
    assert [len(c.frames) for c in chunks] == [1, 8, 8]
    assert [x.shape[1] // 4 for x, _ in seen] == [1, 1, 2, 2, 2, 2]  # [sink | chunk] of 2 x 2 tokens a frame, 2 steps
    image_latent = pipe.call_latents(chunks[0].latents)  # the first chunk is the image's frame alone
    for x, t in seen:  # the video's first frame at window position 0: the image's latent, clean
        assert (x[:, :4] == image_latent.to(x)).all() and (t[:, :4] == 0).all() and (t[:, 4:] > 0).all()

    out = tmp_path / "i2v.mp4"
    assert main(["generate", "--model", str(ltx_i2v_folder), "--prompt", "a red ball", "--image", str(image_path),
                 "--ratio", "2", "--method", "both", "--out", str(out)]) == 0
    assert len(read_video(out)[0]) == 8 * 3 + 1
    assert main(["stream", "--model", str(ltx_i2v_folder), "--prompt", "a red ball", "--image", str(image_path),
                 "--method", "fifo", "--chunks", "1", "--out", str(tmp_path / "s.mp4")]) == 0
    assert main(["extend", "--model", str(ltx_i2v_folder), "--video", str(tmp_path / "s.mp4"), "--prompt", "a red ball",
                 "--chunk", "1", "--chunks", "1", "--out", str(tmp_path / "longer.mp4")]) == 0
    assert len(read_video(tmp_path / "longer.mp4")[0]) == len(read_video(tmp_path / "s.mp4")[0]) + 8
    capsys.readouterr()
    assert main(["generate", "--model", str(ltx_i2v_folder), "--prompt", "a red ball", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "pass the first frame with --image" in capsys.readouterr().err

    seen.clear()  # an extension's windows start at its context's first latent frame, the condition itself
    list(pipe.extend("a red ball", latents=own.latents, streaming=Streaming(chunk=1, sinks=1, window=0, steps=2), chunks=1))
    context = pipe.call_latents(own.latents[:, :, -1:])
    assert seen and all((x[:, :4] == context.to(x)).all() and (t[:, :4] == 0).all() for x, t in seen)
    with pytest.raises(VidlongError, match="holds an image-to-video LTXImageToVideoPipeline; drop task"):
        load_pipeline(ltx_i2v_folder, device="cpu", task="t2v")


def test_an_ltx_text_to_video_folder_takes_an_image_as_its_image_to_video_pipeline(ltx_folder, ltx_i2v_folder, image_path, tmp_path):
    """LTX-Video's two pipelines share their weights: its `LTXPipeline` folder with an image loads as vidlong's
    `LTXImageToVideoPipeline` (`task="i2v"`, and `vidlong generate --image` on the folder as it is), whose video is
    that of the same weights saved as one, bit for bit; without an image it stays text-to-video."""
    request = GenerateRequest(prompt="a red ball", ratio=1, seed=4, image=str(image_path))
    twin = load_pipeline(ltx_folder, device="cpu", task="i2v")
    assert type(twin).__name__ == "VidLongLTXImageToVideoPipeline"
    assert type(load_pipeline(ltx_folder, device="cpu")).__name__ == "VidLongLTXPipeline"
    saved = load_pipeline(ltx_i2v_folder, device="cpu")
    assert torch.equal(generate(twin, request).latents, generate(saved, request).latents)
    assert main(["generate", "--model", str(ltx_folder), "--prompt", "a red ball", "--image", str(image_path),
                 "--out", str(tmp_path / "x.mp4")]) == 0
    assert json.loads((tmp_path / "x.json").read_text())["image"] == str(image_path)


@pytest.mark.parametrize("patch_size_t", [None, 2], ids=["cogvideox", "cogvideox1.5"])
def test_cogvideox_image_to_video_generates_streams_and_extends(tmp_path, capsys, patch_size_t):
    """`CogVideoXImageToVideoPipeline` folders load as vidlong's image-to-video class; `generate` with an image and
    no method is diffusers' own call with the same seed bit for bit (and the image matters); a
    re-noised stream's every forward carries the image's latent on the window's first frame and zeros after it, as
    extra channels (CogVideoX1.5: windows padded at the front to whole temporal patches, the image on the first, as its
    call places it on its padded video's first frame; its ``ofs`` as its call gives it); the CLI generates with the
    methods, streams and extends."""
    import diffusers
    from conftest import cli_generates_and_extends_from_an_image
    from PIL import Image
    from tiny_pipeline import tiny_cogvideox_i2v_pipeline

    folder = tmp_path / "cog-i2v"
    tiny_cogvideox_i2v_pipeline(patch_size_t).save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cog-i2v", num_inference_steps=2, guidance_scale=2.0,
                                                             **FAMILIES["cogvideox"][1])))
    image_path = tmp_path / "wide.png"  # the spec's aspect: generate sizes a video by its image's (`validate.video_size`)
    Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 48, 3), dtype=np.uint8)).save(image_path)
    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongCogVideoXImageToVideoPipeline" and pipe.task == "i2v"
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=str(image_path)))
    stock = diffusers.CogVideoXImageToVideoPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    pad = 1 if patch_size_t else 0  # its call pads 3 latent frames to 4
    video = stock(image=Image.open(image_path).convert("RGB"), prompt="a red ball", height=32, width=48, num_frames=9,
                  num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(3),
                  output_type="np").frames[0]  # its own draws: the image's latent, then the noise
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    other = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3, image=np.zeros((32, 48, 3), np.uint8)))
    assert not np.array_equal(other.frames, own.frames)

    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=3), chunks=1, seed=3, image=str(image_path))))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1  # the image's latent drawn as generate draws it

    seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append(k["hidden_states"]), with_kwargs=True)
    chunks = list(pipe.stream("a red ball", Streaming(chunk=1, sinks=1, window=1, steps=2), chunks=3, seed=1, image=str(image_path)))
    assert [len(c.frames) for c in chunks] == [1, 4, 4]
    windows = [1, 1, 2, 2, 3, 3] if pad == 0 else [2, 2, 2, 2, 4, 4]  # [sink | window | chunk] (padded), 2 steps
    assert [x.shape[1] for x in seen] == windows  # frames before channels
    image_latent = seen[0][:, :1, 4:]
    assert image_latent.abs().sum() > 0
    for x in seen:  # the condition channels: the image's latent on the video's first frame, zeros after
        assert x.shape[2] == 8 and (x[:, :1, 4:] == image_latent).all() and (x[:, 1:, 4:] == 0).all()

    cli_generates_and_extends_from_an_image(folder, image_path, tmp_path, 4)

    config_file = folder / "transformer" / "config.json"  # CogVideoX-5B-I2V's learned positions: one size, refused before loading
    config_file.write_text(json.dumps(dict(json.loads(config_file.read_text()), use_learned_positional_embeddings=True)))
    capsys.readouterr()
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path),
                 "--out", str(tmp_path / "x.mp4")]) == 2
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--height", "32",
                 "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["vidlong: error: this model's learned position table (CogVideoX-5B-I2V's) takes 64x64 pixels alone; use "
                   "--height 64 and --width 64"] * 2
    from vidlong.validate import limits_for_folder, video_size

    assert video_size(limits_for_folder(folder), image=Image.open(image_path)) == (32, 48)  # the spec's, whatever the image


def test_an_image_sets_the_videos_aspect_unless_a_size_is_given(ltx_folder, tmp_path):
    """With a first frame and no size, a video takes the image's aspect at the spec's pixel area (64x64: a 2:1 portrait
    image gives 64x32, each side floored to LTX-Video's 32-pixel multiple), in `generate` and in streams by either
    method; a given size wins; with no image, the spec's."""
    from PIL import Image

    from vidlong.methods import DiagonalDenoising
    from vidlong.validate import limits_for_pipeline, video_size

    portrait = tmp_path / "portrait.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(portrait)
    pipe = load_pipeline(ltx_folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    assert generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=0, image=str(portrait))).frames.shape[1:3] == (64, 32)
    for streaming in (Streaming(chunk=1), DiagonalDenoising()):
        chunk = next(iter(pipe.stream("a red ball", streaming, chunks=1, seed=0, image=str(portrait))))
        assert chunk.frames.shape[1:3] == (64, 32)
    given = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=0, image=str(portrait), height=64, width=64))
    assert given.frames.shape[1:3] == (64, 64)
    limits = limits_for_pipeline(pipe)
    assert video_size(limits, image=Image.open(portrait).transpose(Image.Transpose.ROTATE_90)) == (32, 64)
    assert video_size(limits) == (64, 64) and video_size(limits, height=32) == (32, 64)


def test_a_streams_decoder_takes_latents_on_another_device_than_its_vae(family_folder):
    """A stream's decoder moves the latents it is given to its VAE's device: an extension decodes its input's latents,
    kept on the CPU, beside a VAE on CUDA (which failed on a GPU). Here the VAE is on the meta device, which refuses a
    CPU tensor as CUDA does; the decode then runs on shapes alone."""
    _, folder = family_folder
    pipe = load_pipeline(folder, device="cpu")
    geometry, spec = pipe.geometry(), pipe.spec
    latents = torch.randn(1, geometry.channels, 2, spec.height // geometry.spatial, spec.width // geometry.spatial)
    pipe.vae.to("meta")
    frames = pipe.stream_decoder().decode(latents)
    assert frames.device.type == "meta" and frames.shape[:2] == (1, 3) and frames.shape[3:] == (spec.height, spec.width)


def test_every_served_class_has_a_task_and_a_vidlong_class_and_a_vidlong_class_name_its_diffusers_task():
    """The two registries a family adds its pipelines to name the same classes (one forgotten fails here, not at a user's
    folder), each vidlong class is a subclass of the diffusers class it serves (vidlong's own twins, such as its LTX condition
    image-to-video class, of the pipeline whose twin they are), and a folder saved under a vidlong class's name has its
    diffusers class's task."""
    import importlib

    import diffusers

    from vidlong.models import IMAGE_TO_VIDEO_TWINS, PIPELINE_TASKS, VIDEO_TO_VIDEO_TWINS, task_of
    from vidlong.pipeline import PIPELINE_CLASSES

    assert set(PIPELINE_CLASSES) == set(PIPELINE_TASKS)
    twin_of = {twin: base for twins in (IMAGE_TO_VIDEO_TWINS, VIDEO_TO_VIDEO_TWINS) for base, twin in twins.items()}
    for name, path in PIPELINE_CLASSES.items():
        module, class_name = path.split(":")
        served = getattr(diffusers, name, None) or getattr(diffusers, twin_of[name])
        assert issubclass(getattr(importlib.import_module(module), class_name), served), name
        assert task_of(class_name) == task_of(name) == PIPELINE_TASKS[name]
    assert task_of("FluxPipeline") is None and task_of(None) is None and task_of(["WanPipeline"]) is None


def test_every_pipeline_an_adapter_declares_unstreamed_or_without_latents_is_served_and_of_its_family():
    """Each pipeline class an adapter names in `FamilyAdapter.no_stream_pipelines` or `no_latents_pipelines` is one vidlong
    serves, whose transformer is of that adapter's family (so the lookup by a folder's family reaches it; a misspelt or
    misplaced name fails here rather than letting a stream through that its own module says it cannot make)."""
    import importlib
    import inspect

    from vidlong.attention.adapters import ADAPTERS, adapter_named, family_of_class
    from vidlong.pipeline import PIPELINE_CLASSES

    declared = [(adapter, declaration, name) for adapter in ADAPTERS
                for declaration in ("no_stream_pipelines", "no_latents_pipelines") for name in getattr(adapter, declaration)]
    assert {name for _, _, name in declared} >= {"CogVideoXFunControlPipeline", "LTX2InContextPipeline",
                                                 "LTXI2VLongMultiPromptPipeline", "LTXI2VLongMultiPromptImageToVideoPipeline",
                                                 "Cosmos2_5_TransferPipeline", "CosmosTextToWorldPipeline",
                                                 "CosmosVideoToWorldPipeline"}
    for adapter, declaration, name in declared:
        module, class_name = PIPELINE_CLASSES[name].split(":")
        transformer = inspect.signature(getattr(importlib.import_module(module), class_name).__init__).parameters["transformer"]
        family = adapter_named(family_of_class(getattr(transformer.annotation, "__name__", transformer.annotation)))
        assert getattr(family, declaration)[name] == getattr(adapter, declaration)[name], (adapter.name, name)


def test_every_pipeline_class_shows_its_diffusers_calls_arguments():
    """`inspect.signature` (so ``help(pipe)`` and IPython) of every vidlong pipeline's call lists its diffusers call's
    arguments rather than ``*args, **kwargs``, those the spec fills defaulting to None, and the keywords vidlong's own call
    adds (HunyuanVideo 1.5 I2V's ``height``, ``width``); its docstring is vidlong's then diffusers'. A user's subclass with a
    call of its own shows that one; one without shows its parent's."""
    import importlib
    import inspect

    from vidlong.pipeline import PIPELINE_CLASSES, VidLongWanPipeline

    for path in PIPELINE_CLASSES.values():
        module, name = path.split(":")
        cls = getattr(importlib.import_module(module), name)
        diffusers_class = next(base for base in cls.__mro__ if base.__module__.startswith("diffusers."))
        shown, theirs = (inspect.signature(c.__call__).parameters for c in (cls, diffusers_class))
        assert set(theirs) <= set(shown) and shown["num_inference_steps"].default is None, name
        assert "spec's defaults" in cls.__call__.__doc__ and inspect.cleandoc(diffusers_class.__call__.__doc__)[:40] \
            in cls.__call__.__doc__, name
    from vidlong.families.hunyuan import VidLongHunyuanVideo15ImageToVideoPipeline
    assert {"height", "width"} <= set(inspect.signature(VidLongHunyuanVideo15ImageToVideoPipeline.__call__).parameters)

    class Mine(VidLongWanPipeline):
        def __call__(self, prompt, strength=0.5):
            return super().__call__(prompt)

    class Plain(VidLongWanPipeline):
        pass

    assert str(inspect.signature(Mine.__call__)) == "(self, prompt, strength=0.5)"
    assert inspect.signature(Plain.__call__) == inspect.signature(VidLongWanPipeline.__call__)
