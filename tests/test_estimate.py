"""Run estimates: FLOPs grow with the square of the length through attention, memory with the video;
a run estimated above the free memory is refused in one line naming the limit."""
import pytest
import torch

import vidlong
from tiny_pipeline import save_tiny_pipeline
from vidlong.estimate import Pace, check_fits, check_stream_fits, run_cost
from vidlong.generate import GenerateRequest, generate


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return vidlong.load_pipeline(save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan")), device="cpu")


def cost(pipe, latent, **fields):
    return run_cost(pipe, GenerateRequest(prompt="a red circle", **fields), latent)


def test_compute_grows_faster_than_length_and_with_fusion_branches(pipe):
    size = dict(height=512, width=512)  # 1024 tokens a latent frame: attention outweighs the 512 text tokens
    short, long = cost(pipe, 3, **size).flops, cost(pipe, 6, **size).flops
    assert 2.5 < long / short < 4  # linear parts double, attention quadruples
    assert cost(pipe, 6, method="freelong", **size).flops > 1.5 * long  # one attention per fusion window
    assert cost(pipe, 6, steps=2, **size).flops == pytest.approx(long * 2 / pipe.spec.num_inference_steps)


def test_memory_covers_the_decoded_video(pipe):
    latent = 12
    estimate = cost(pipe, latent).peak_bytes
    frames = generate(pipe, GenerateRequest(prompt="a red circle", frames=4 * (latent - 1) + 1, steps=1)).frames
    chunk = (4 * (4 - 1) + 1) * frames[0].nbytes  # 4 latent frames decode to 13 pixel frames
    assert pipe.decodes_in_chunks() and estimate >= frames.nbytes + 8 * chunk  # uint8 video, two float32 chunk copies


def test_the_wan_decoders_working_memory_grows_with_the_frame_not_the_length(pipe):
    """The Wan VAE decoder's own working memory (its convolutions' cache, a frame's activations) is counted once per run:
    `wan_decoder_bytes`, from its base width and the frame's area, the same at 12 and 48 latent frames; at Wan2.1's width
    and 480x832 in bfloat16, the 3.10 GiB measured on an H200."""
    from types import SimpleNamespace

    from vidlong.estimate import wan_decoder_bytes

    working = wan_decoder_bytes(pipe.vae, 256, 256)
    assert working == pytest.approx(43.5 * pipe.vae.config.base_dim * 256 * 256 * 4, rel=1e-6)
    video = {latent: 3 * 256 * 256 * (4 * (latent - 1) + 1) for latent in (12, 48)}
    short, long = (cost(pipe, latent, height=256, width=256).peak_bytes for latent in (12, 48))
    assert short >= working + video[12] and long - short == video[48] - video[12]
    wan21 = SimpleNamespace(config=SimpleNamespace(get=lambda *_: None, base_dim=96), dtype=torch.bfloat16)
    assert wan_decoder_bytes(wan21, 480, 832) / 2**30 == pytest.approx(3.10, rel=0.01)


def test_fusion_memory_counts_every_branch_output_and_the_fusion_buffers(pipe):
    """FreeLong++ holds one attention output per branch and, in the model's dtype, its differences and
    products while it fuses (measured: 1.22x the stock peak at 4x on 14B shapes, RESULTS.md); the
    estimate must carry them."""
    latent, size = 24, dict(height=256, width=256)
    config = pipe.transformer.config
    tokens, dim = latent * (256 // 8 // 2) ** 2, config.num_attention_heads * config.attention_head_dim
    fused = cost(pipe, latent, method="freelong", **size).peak_bytes
    branches = 3  # the default windows (2, 1) of a native window of 3 at 24 latent frames: {F, 6, 3}
    logits = config.num_attention_heads * 2048 * tokens * 4 * branches  # the CPU runs plans on the dense kernel
    itemsize = pipe.transformer.dtype.itemsize
    assert fused - logits >= tokens * dim * (branches + branches + 1) * itemsize
    assert fused > cost(pipe, latent, method="ultravico", **size).peak_bytes  # one branch: its logits and output


def test_a_run_that_will_not_fit_is_refused_naming_the_limit(pipe):
    big = cost(pipe, 12)
    check_fits(big, free=big.peak_bytes)
    with pytest.raises(vidlong.VidlongError, match=r"needs about .* GiB of RAM beyond the loaded model and 0.0 GiB is free; "
                                                   "shorten the length or lower the height and width"):
        check_fits(big, free=1000)


def test_a_stream_whose_chunks_will_not_fit_is_refused_whatever_its_length(pipe, tmp_path, monkeypatch, capsys):
    """A stream's chunks attend to at most the native window: their memory is `generate`'s over it at the stream's size
    (larger at a larger size), and a size whose chunks will not fit is refused saying the length would not help; `vidlong
    extend` refuses a video so large before its end is encoded, as `vidlong stream` before its first chunk."""
    import numpy as np

    from vidlong import estimate
    from vidlong.cli import main
    from vidlong.video_io import write_video

    renoised, cached = vidlong.Streaming(chunk=1, context="renoise"), vidlong.Streaming(chunk=1, context="cache")
    native = cost(pipe, pipe.spec.native_frames).peak_bytes
    check_stream_fits(pipe, renoised, None, None, free=native)  # chunk 1 + 1 sink + 1 window frame: the native window
    with pytest.raises(vidlong.VidlongError, match=r"GiB is free; a stream's chunks take the same memory however long it "
                                                   r"runs: lower the height and width, or the chunk and window \(a video "
                                                   r"to continue: resize it first\)$"):
        check_stream_fits(pipe, renoised, 256, 256, free=native)
    with pytest.raises(vidlong.VidlongError):  # a chunk of the whole window sees twice the native window
        check_stream_fits(pipe, vidlong.Streaming(context="renoise", chunk=3), None, None, free=native)
    kv = 2 * (2 * 4) * 32 * 2 * 2 * 4  # K and V of 2 frames of 4 tokens, 32 wide, 2 layers, 2 guided samples, float32
    check_stream_fits(pipe, cached, None, None, free=native + kv)  # its first chunk's native window beside the cache
    with pytest.raises(vidlong.VidlongError):
        check_stream_fits(pipe, cached, None, None, free=native + kv - 1)
    video = write_video(tmp_path / "in.mp4", np.zeros((9, 32, 32, 3), np.uint8), fps=8)
    monkeypatch.setattr(estimate, "free_bytes", lambda device: 1000)
    monkeypatch.setattr(type(pipe), "extend", lambda *a, **k: pytest.fail("the input was encoded"))
    folder = str(pipe.config._name_or_path)
    for command in (["extend", "--video", str(video)], ["stream"]):
        assert main([*command, "--model", folder, "--prompt", "a red circle", "--chunks", "1",
                     "--out", str(tmp_path / "out.mp4")]) == 2
        assert "a stream's chunks take the same memory however long it runs" in capsys.readouterr().err
        assert not (tmp_path / "out.mp4").exists()


def test_pace_turns_flops_into_seconds_after_a_run(pipe):
    pace, one = Pace(), cost(pipe, 3)
    assert pace.seconds(one) is None
    pace.record(one, 2.0)
    assert pace.seconds(cost(pipe, 6)) == pytest.approx(2.0 * cost(pipe, 6).flops / one.flops)


def test_pace_keeps_the_decode_apart(pipe):
    """A run that was mostly decoding (a small model): more steps scale the transformer's share only."""
    short, more_steps = run_cost(pipe, GenerateRequest(prompt="x", steps=2), 3), run_cost(pipe, GenerateRequest(prompt="x", steps=20), 3)
    pace = Pace()
    pace.record(short, 10.0, decode_seconds=9.0)  # 1 s of steps, 9 s of decode (3 latent frames)
    assert pace.seconds(short) == pytest.approx(10.0)
    assert pace.seconds(more_steps) == pytest.approx(10.0 + 9.0)  # ten times the steps: 10 s of them, the same 9 s of decode
    assert pace.seconds(run_cost(pipe, GenerateRequest(prompt="x", steps=2), 6)) > 9.0 * 2  # twice the frames to decode


def test_diagonal_denoising_compute_grows_with_length_and_memory_stays_at_the_native_window(pipe):
    """`fifo` runs native windows only: each frame past the native video costs the same forwards, and
    the forward's activations do not grow with the length (the decoded video does)."""
    size = dict(height=512, width=512, method="fifo")
    costs = [cost(pipe, latent, **size) for latent in (6, 12, 18)]
    assert costs[2].flops - costs[1].flops == pytest.approx(costs[1].flops - costs[0].flops)
    native = cost(pipe, 3, **dict(size, method="none"))
    per_frame = (costs[1].flops - costs[0].flops) / 6  # forwards per frame made x one native forward's
    assert per_frame == pytest.approx(vidlong.DiagonalDenoising().partitions * native.flops / pipe.spec.num_inference_steps)
    assert cost(pipe, 120, **size).flops < cost(pipe, 120, height=512, width=512).flops / 2
    request = GenerateRequest(prompt="a red circle", guidance=3.0, **size)
    queue = [run_cost(pipe, request, 12, vidlong.DiagonalDenoising(guidance_by_partition=scales)).flops - run_cost(
        pipe, request, 6, vidlong.DiagonalDenoising(guidance_by_partition=scales)).flops for scales in (None, (1, 3, 3), (1, 1, 1))]
    assert queue[1] == pytest.approx(queue[0] * 5 / 6) and queue[2] == pytest.approx(queue[0] / 2)  # unguided partitions: one forward
    look = [run_cost(pipe, request, 12, vidlong.DiagonalDenoising(lookahead=True, guidance_by_partition=scales)).flops - run_cost(
        pipe, request, 6, vidlong.DiagonalDenoising(lookahead=True, guidance_by_partition=scales)).flops for scales in (None, (3, 3, 1))]
    assert look[1] == pytest.approx(look[0] * 11 / 12)  # of 6 lookahead windows, one sees only the noisiest partition's frames


def test_wan_vace_counts_its_vace_blocks_and_their_hints(pipe, tmp_path):
    """A VACE model's estimate counts its VACE blocks' compute: above its Wan sibling's (same blocks and sizes) by the
    VACE blocks' share (the hints they hold through the main blocks count in its activations; at this size the
    decoded video's memory is the peak either way)."""
    from tiny_pipeline import tiny_vace_pipeline

    vace = tiny_vace_pipeline()
    vace.save_pretrained(tmp_path)
    (tmp_path / "vidlong.yaml").write_text((save_tiny_pipeline(tmp_path / "wan") / "vidlong.yaml").read_text())
    vace = vidlong.load_pipeline(tmp_path, device="cpu")
    size = dict(height=512, width=512)
    sibling, with_vace = cost(pipe, 6, **size), cost(vace, 6, **size)
    assert with_vace.flops == pytest.approx(sibling.flops * 3 / 2)  # 2 blocks + 1 VACE block
    assert with_vace.peak_bytes >= sibling.peak_bytes
