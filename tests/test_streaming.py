"""Streaming: rolling KV cache against a dense block-causal reference, flat memory, the CLI."""
import json
import re

import numpy as np
import pytest
import torch

import vidlong
from vidlong.attention.stream_attention import StreamContext
from vidlong.cli import main
from vidlong.video_io import read_video
from conftest import IN_CHANNELS, TEXT_DIM, tiny_transformer
from reference import BlockCausalReference, RollingCacheReference, StreamPlan, rel_err
from tiny_pipeline import save_tiny_pipeline

GRID = (4, 4)  # latent height, width -> 2x2 tokens per frame
TPF = 4


def frames(count, seed):
    return torch.randn(1, IN_CHANNELS, count, *GRID, generator=torch.Generator().manual_seed(seed))


def text():
    return torch.randn(1, 5, TEXT_DIM, generator=torch.Generator().manual_seed(9))


def stream_forward(model, latents, t):
    return model(hidden_states=latents, timestep=torch.tensor([float(t)]), encoder_hidden_states=text(), return_dict=False)[0]


def reference_forward(model, latents, timesteps, chunk_of_frame):
    """Dense forward over all frames with per-token timesteps and a block-causal mask."""
    for block in model.blocks:
        block.attn1.set_processor(BlockCausalReference(chunk_of_frame, TPF))
    per_token = torch.tensor(timesteps, dtype=torch.float32).repeat_interleave(TPF)[None]
    return model(hidden_states=latents, timestep=per_token, encoder_hidden_states=text(), return_dict=False)[0]


@torch.no_grad()
def test_chunk_matches_dense_block_causal_reference():
    """Two chunks written (2 layers, nothing evicted yet), a third denoised: same as one dense forward."""
    c0, c1, c2 = frames(2, 0), frames(2, 1), frames(2, 2)
    model = tiny_transformer(layers=2)
    ctx = StreamContext(sinks=2, window=4)
    vidlong.apply(model, native_frames=8, stream=ctx)
    for clean in (c0, c1):
        ctx.writing = True
        stream_forward(model, clean, 0)
    ctx.writing = False
    out = stream_forward(model, c2, 700)
    assert ctx.cache.positions().tolist() == [0, 1, 2, 3]
    ref = reference_forward(tiny_transformer(layers=2), torch.cat([c0, c1, c2], 2), [0, 0, 0, 0, 700, 700],
                            torch.tensor([0, 0, 1, 1, 2, 2]))
    assert rel_err(out, ref[:, :, 4:]) < 1e-5


@pytest.mark.parametrize("sinks, window, chunks, batch", [
    (1, 2, [2, 2, 2, 2, 2], 1),  # the ring wraps
    (2, 3, [3, 2, 2, 2, 2, 2], 1),  # a larger first chunk
    (1, 2, [3, 3, 3, 3], 1),  # chunks longer than the window
    (0, 3, [2, 2, 2, 2], 1),  # no sinks
    (2, 0, [1, 2, 2, 2], 1),  # no window
    (0, 0, [2, 2, 2], 1),  # no context at all
    (3, 2, [1, 1, 2, 3, 3, 1], 1),  # a first chunk shorter than the sinks
    (2, 4, [5, 2, 2, 2], 2),  # a guidance batch: each row its own text
])
@torch.no_grad()
def test_every_chunk_equals_the_float64_reference_of_sinks_window_and_itself(sinks, window, chunks, batch):
    """Two layers in float64, each chunk denoised (t = 700) then written clean (t = 0) as a stream does: every forward's
    output equals a reference that keeps each frame's clean K/V by its number and attends to the first `sinks` frames
    ever written, the last `window` after them and the chunk, at positions 0, 1, ... (`reference.RollingCacheReference`):
    the eviction, the re-placed positions and the storage order, with K/V that depend on since-evicted frames."""
    g = torch.Generator().manual_seed(sinks * 10 + window)
    latents = [torch.randn(batch, IN_CHANNELS, n, *GRID, generator=g, dtype=torch.float64) for n in chunks]
    prompts = torch.randn(batch, 5, TEXT_DIM, generator=g, dtype=torch.float64)
    model, reference = tiny_transformer(layers=2).double(), tiny_transformer(layers=2).double()
    context = StreamContext(sinks=sinks, window=window)
    vidlong.apply(model, native_frames=64, stream=context)
    plan = StreamPlan()
    for block in reference.blocks:
        block.attn1.set_processor(RollingCacheReference(plan, reference.rope, GRID, TPF))
    written = []
    for chunk in latents:
        plan.next_chunk(written, chunk.shape[2], sinks, window)
        for t, writing in ((700.0, False), (0.0, True)):
            context.writing = plan.writing = writing
            run = [m(hidden_states=chunk, timestep=torch.full((batch,), t), encoder_hidden_states=prompts, return_dict=False)[0]
                   for m in (model, reference)]
            assert rel_err(*run) < 1e-12, (len(written), t)
        written += plan.chunk
    plan.next_chunk(written, 0, sinks, window)
    assert sorted(context.cache.positions().tolist()) == list(range(len(plan.context)))  # the ring in storage order


@torch.no_grad()
def test_after_eviction_chunk_sees_sinks_window_itself_reindexed():
    """sinks 1, window 1, chunk 1: after frames 0, 1, 2 are written, frame 1 is gone and frame 3 attends
    to [0 | 2 | 3] at positions 0, 1, 2. With one layer a frame's K/V do not depend on its context,
    so a dense forward over [0, 2, 3] is the exact reference."""
    f = [frames(1, s) for s in range(4)]
    model = tiny_transformer(layers=1)
    ctx = StreamContext(sinks=1, window=1)
    vidlong.apply(model, native_frames=3, stream=ctx)
    for clean in f[:3]:
        ctx.writing = True
        stream_forward(model, clean, 0)
    ctx.writing = False
    out = stream_forward(model, f[3], 500)
    assert ctx.cache.positions().tolist() == [0, 1]
    ref = reference_forward(tiny_transformer(layers=1), torch.cat([f[0], f[2], f[3]], 2), [0, 0, 500], torch.tensor([0, 1, 2]))
    assert rel_err(out, ref[:, :, 2:]) < 1e-5


@torch.no_grad()
def test_first_chunk_is_the_stock_forward():
    c0 = frames(3, 5)
    stock = stream_forward(tiny_transformer(), c0, 300)
    model = tiny_transformer()
    vidlong.apply(model, native_frames=9, stream=StreamContext(sinks=3, window=3))
    assert rel_err(stream_forward(model, c0, 300), stock) < 1e-6


@torch.no_grad()
def test_cache_memory_is_flat_after_filling():
    model = tiny_transformer()
    ctx = StreamContext(sinks=1, window=2)
    vidlong.apply(model, native_frames=4, stream=ctx)

    def chunk(i):
        ctx.writing = False
        stream_forward(model, frames(1, i), 800)
        ctx.writing = True
        stream_forward(model, frames(1, i), 0)
        ctx.writing = False

    for i in range(5):
        chunk(i)
    storage = [(t.data_ptr(), t.untyped_storage().nbytes()) for layer in ctx.cache.layers for t in (layer.keys, layer.values)]
    nbytes = ctx.cache.nbytes()
    for i in range(5, 55):
        chunk(i)
        assert int(ctx.cache.positions().max()) <= 2  # never beyond sinks + window
    assert ctx.cache.nbytes() == nbytes
    assert [(t.data_ptr(), t.untyped_storage().nbytes()) for layer in ctx.cache.layers for t in (layer.keys, layer.values)] == storage
    vidlong.remove(model)
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for b in model.blocks)


@torch.no_grad()
@pytest.mark.parametrize("onednn", [False, True])
def test_chunked_decode_is_the_whole_decode(onednn):
    """The streaming decoder's chunks (3, 2, then 1 latent frames) decode to the VAE's whole-video
    decode: bit for bit on PyTorch's own convolutions, to float32 rounding through oneDNN (the CPU default)."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import StreamingWanDecoder, onednn_available

    vae = tiny_vae()
    assert onednn_available(vae)  # PyTorch's CPU wheels ship oneDNN: the streaming decoder's CPU default
    latents = torch.randn(1, 4, 6, 8, 8, generator=torch.Generator().manual_seed(4))
    whole = vae.decode(latents, return_dict=False)[0]
    decoder = StreamingWanDecoder(vae, onednn=onednn)
    chunked = torch.cat([decoder.decode(latents[:, :, a:b]) for a, b in ((0, 3), (3, 5), (5, 6))], dim=2)
    assert chunked.shape == whole.shape == (1, 3, 21, 64, 64)
    if onednn:
        assert (chunked - whole).abs().max() < 1e-5
    else:
        assert torch.equal(chunked, whole)
    assert not any("_conv_forward" in vars(m) for m in vae.modules())  # the oneDNN path is undone after each chunk
    assert not any("forward" in vars(m) for m in vae.modules())  # and so are the summed-square RMS norms


@torch.no_grad()
@pytest.mark.parametrize("wrapped", [False, True], ids=["in-place", "wrapped"])
def test_a_vae_compiled_in_place_streams_on_the_cpu_through_pytorchs_own_path(wrapped):
    """The README's ``pipe.vae.decoder.compile()`` (and the encoder's; or each wrapped, ``vae.decoder =
    torch.compile(vae.decoder)``) on the CPU: the streaming decoder and encoder leave their oneDNN fast paths, whose direct
    calls dynamo cannot trace (a stream raised there; wrapped, it still did), to the compiled module, which gives the whole
    decode and encode bit for bit (dynamo's eager backend: its graph runs PyTorch's own convolutions)."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import StreamingWanDecoder, StreamingWanEncoder, encode_frames

    vae = tiny_vae()
    latents = torch.randn(1, 4, 2, 4, 4, generator=torch.Generator().manual_seed(4))
    pixels = torch.rand(1, 3, 5, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1
    whole, encoded = vae.decode(latents, return_dict=False)[0], encode_frames(vae, pixels)
    for part in ("decoder", "encoder"):
        module = getattr(vae, part)
        if wrapped:
            setattr(vae, part, torch.compile(module, backend="eager"))
        else:
            module.compile(backend="eager")
    decoder, encoder = StreamingWanDecoder(vae), StreamingWanEncoder(vae)
    assert not decoder.onednn and not encoder.onednn
    assert torch.equal(torch.cat([decoder.decode(latents[:, :, :1]), decoder.decode(latents[:, :, 1:])], dim=2), whole)
    assert torch.equal(torch.cat([encoder.encode(pixels[:, :, :1]), encoder.encode(pixels[:, :, 1:])], dim=2), encoded)


@torch.no_grad()
def test_channels_last_chunks_are_the_whole_decode_to_float32_rounding():
    """Channels-last convolution weights during each chunk (the CUDA bfloat16 default) give the whole
    decode to float32 rounding; the copies are made once per decoder, and again when a weight changes;
    the VAE gets its own weight tensors back after each chunk (the pipeline's own decode shares them)."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import StreamingWanDecoder

    vae = tiny_vae()
    latents = torch.randn(1, 4, 6, 8, 8, generator=torch.Generator().manual_seed(4))
    whole = vae.decode(latents, return_dict=False)[0]
    weights = {name: p.data_ptr() for name, p in vae.named_parameters()}
    decoder = StreamingWanDecoder(vae, onednn=False, channels_last=True)
    seen = []
    conv = next(m for m in vae.decoder.modules() if isinstance(m, torch.nn.Conv3d) and m.kernel_size == (3, 3, 3))
    conv.register_forward_pre_hook(lambda m, args: seen.append((m.weight.is_contiguous(memory_format=torch.channels_last_3d),
                                                                m.weight.data_ptr())))
    chunked = torch.cat([decoder.decode(latents[:, :, a:b]) for a, b in ((0, 3), (3, 6))], dim=2)
    assert seen and all(layout for layout, _ in seen) and len({ptr for _, ptr in seen}) == 1  # one copy, reused
    assert (chunked - whole).abs().max() < 1e-5
    assert weights == {name: p.data_ptr() for name, p in vae.named_parameters()}
    conv.weight.mul_(2)  # changed in place (a LoRA fused, say): its copy is made again
    decoder.decode(latents[:, :, :1])
    assert torch.equal(decoder._channels_last_copies[conv]["weight"], conv.weight)
    assert not StreamingWanDecoder(vae).channels_last  # not on the CPU, which has its own (oneDNN) path


@torch.no_grad()
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bfloat16_decoder_goes_channels_last_by_default_and_stays_near_the_whole_decode():
    """The shipped default on a CUDA bfloat16 VAE: channels-last weights during each chunk's decode,
    within bfloat16 rounding of the VAE's own whole decode, its own weight tensors back afterwards."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import StreamingWanDecoder

    torch.manual_seed(0)
    vae = tiny_vae().to("cuda", torch.bfloat16)
    latents = torch.randn(1, 4, 6, 8, 8, generator=torch.Generator().manual_seed(4)).to("cuda", torch.bfloat16)
    whole = vae.decode(latents, return_dict=False)[0].float()
    weights = {name: p.data_ptr() for name, p in vae.named_parameters()}
    decoder = StreamingWanDecoder(vae)
    assert decoder.channels_last
    chunked = torch.cat([decoder.decode(latents[:, :, a:b]).float() for a, b in ((0, 3), (3, 6))], dim=2)
    assert decoder._channels_last_copies
    assert (chunked - whole).abs().mean() < 0.01 and (chunked - whole).abs().max() < 0.1
    assert weights == {name: p.data_ptr() for name, p in vae.named_parameters()}


def test_channels_last_weights_are_given_back_when_a_copy_fails_part_way(monkeypatch):
    """A copy that fails part way through the swap (out of memory, an interrupt) leaves every
    convolution with its own weight."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import channels_last_conv3d_weights

    decoder = tiny_vae().decoder
    own = {name: p.data_ptr() for name, p in decoder.named_parameters()}
    copy, calls = torch.Tensor.contiguous, []

    def failing(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("out of memory")
        return copy(self, *args, **kwargs)
    monkeypatch.setattr(torch.Tensor, "contiguous", failing)
    with pytest.raises(RuntimeError, match="out of memory"):
        with channels_last_conv3d_weights(decoder, {}):
            pass
    assert len(calls) == 3 and own == {name: p.data_ptr() for name, p in decoder.named_parameters()}


@torch.no_grad()
@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="needs a CPU with bfloat16 instructions")
def test_bfloat16_chunks_take_onednn_channels_last_and_stay_near_the_whole_decode(monkeypatch):
    """On a CPU with bfloat16 instructions a bfloat16 VAE gets the oneDNN path too (channels-last
    convolutions, norms in float32): its chunks are within bfloat16 rounding of its own whole decode."""
    called, direct = [], torch.mkldnn_convolution

    def spy(x, *args):
        called.append(x.is_contiguous(memory_format=torch.channels_last_3d))
        return direct(x, *args)
    monkeypatch.setattr(torch, "mkldnn_convolution", spy)
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import StreamingWanDecoder, onednn_available

    torch.manual_seed(0)
    vae = tiny_vae().to(torch.bfloat16)
    assert onednn_available(vae)
    latents = torch.randn(1, 4, 6, 8, 8, generator=torch.Generator().manual_seed(4)).bfloat16()
    whole = vae.decode(latents, return_dict=False)[0].float()
    decoders = [StreamingWanDecoder(vae, onednn=onednn) for onednn in (True, False)]
    fast, stock = (torch.cat([d.decode(latents[:, :, a:b]).float() for a, b in ((0, 3), (3, 6))], dim=2) for d in decoders)
    assert called and all(called)  # the fast decoder's convolutions: oneDNN's, channels-last (where PyTorch's own
    # bfloat16 convolution picks oneDNN too, as on CPUs with AMX, the two decodes can be equal)
    assert (fast - whole).abs().mean() < 0.01 and (fast - whole).abs().max() < 0.1
    assert (fast - whole).abs().mean() < 2 * (stock - whole).abs().mean() + 1e-3


@torch.no_grad()
@pytest.mark.parametrize("dtype", [torch.float32, pytest.param(torch.bfloat16, marks=pytest.mark.skipif(
    not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="needs a CPU with bfloat16 instructions"))])
def test_onednn_convolutions_follow_a_weight_changed_in_place(dtype):
    """The channels-last copy of a bfloat16 weight is made again when the weight changes."""
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import onednn_conv3d

    conv = next(m for m in tiny_vae().to(dtype).decoder.modules() if isinstance(m, torch.nn.Conv3d) and m.kernel_size == (3, 3, 3))
    x = torch.randn(1, conv.in_channels, 3, 6, 6, generator=torch.Generator().manual_seed(0)).to(dtype)
    with onednn_conv3d(conv):
        before = conv(x)
        conv.weight.mul_(2)
        after = conv(x)
    stock = conv(x)
    assert not torch.equal(before, after)
    assert (after.float() - stock.float()).abs().max() <= 0.05 * stock.float().abs().max()


@torch.no_grad()
def test_summed_square_rms_norm_is_the_vaes_own_to_float32_rounding():
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm
    from tiny_pipeline import tiny_vae
    from vidlong.vae_stream import summed_square_rms_norm

    vae = tiny_vae()
    norms = [m for m in vae.decoder.modules() if isinstance(m, WanRMS_norm)]
    gamma = norms[0].gamma  # [C, 1, 1, 1] for video features [B, C, T, H, W], [C, 1, 1] for images
    x = torch.randn(1, gamma.shape[0], *[6] * (gamma.dim() - 1), generator=torch.Generator().manual_seed(5))
    own = norms[0](x)
    with summed_square_rms_norm(vae.decoder):
        assert all("forward" in vars(m) for m in norms if m.channel_first)
        summed = norms[0](x)
    assert not torch.equal(summed, own) and (summed - own).abs().max() < 1e-6
    assert torch.equal(norms[0](x), own)  # restored
    half = x.bfloat16()  # normalised in float32, as the VAE's own norm does for half inputs
    with summed_square_rms_norm(vae.decoder):
        summed_half = norms[0](half)
    stock_half = norms[0](half)
    assert summed_half.dtype == stock_half.dtype and (summed_half.float() - stock_half.float()).abs().max() < 0.02


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def test_pipeline_stream_yields_decoded_chunks_and_switches_prompts(model_dir):
    pipe = vidlong.load_pipeline(model_dir)
    schedule = "0:a red circle; 2:a blue square"
    chunks = list(pipe.stream(schedule, streaming=vidlong.Streaming(chunk=1, sinks=1, window=1), chunks=4, seed=3))
    assert [c.frames.shape[0] for c in chunks] == [1, 4, 4, 4]
    assert [c.prompt for c in chunks] == ["a red circle", "a red circle", "a blue square", "a blue square"]
    kept = list(pipe.stream(schedule, streaming=vidlong.Streaming(chunk=1, sinks=1, window=1, recache_on_prompt_switch=False),
                            chunks=4, seed=3))
    assert torch.equal(kept[1].latents, chunks[1].latents)  # identical before the switch
    assert not torch.equal(kept[2].latents, chunks[2].latents)  # re-caching changes what follows it
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for b in pipe.transformer.blocks)


def test_a_switch_once_the_last_chunk_has_begun_is_refused_in_one_line(model_dir):
    """`switch_prompt` returns the chunk the new prompt starts at; once a stream of N chunks has begun its last one, no
    chunk would take it, and the switch is refused in one line (it returned chunk N, which is never made)."""
    pipe = vidlong.load_pipeline(model_dir)
    stream = pipe.stream("a red circle", streaming=vidlong.Streaming(chunk=1, sinks=1, window=1, steps=1), chunks=2)
    starts = [stream.switch_prompt("a blue square") for chunk in stream if chunk.index == 0]
    assert starts == [1] and stream.live.snapshot()[-1] == (1, "a blue square")
    with pytest.raises(vidlong.VidlongError, match=r"the switch would start at chunk 2 but the stream has 2 chunks \(0-1\) and "
                                                   r"its last has begun") as info:
        stream.switch_prompt("a green triangle")
    assert "\n" not in str(info.value)


def test_stream_cli_writes_growing_mp4(model_dir, tmp_path):
    out = tmp_path / "stream.mp4"
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--chunks", "5", "--out", str(out)]) == 0
    video, fps = read_video(out)
    assert video.shape == (4 * 5 * 3 - 3, 32, 32, 3)


def test_interrupted_stream_keeps_finished_chunks(model_dir, tmp_path, monkeypatch, capsys):
    from vidlong import streaming

    real_iter = streaming.VideoStreamer.__iter__

    def interrupted(self):
        for chunk in real_iter(self):
            yield chunk
            if chunk.index == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(streaming.VideoStreamer, "__iter__", interrupted)
    out = tmp_path / "cut.mp4"
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--forever", "--out", str(out)]) == 130
    assert "holds 21 frames" in capsys.readouterr().err
    assert read_video(out)[0].shape[0] == 9 + 12


def test_an_interrupt_while_a_chunk_is_written_waits_for_the_whole_chunk(model_dir, tmp_path, monkeypatch, capsys):
    """Ctrl-C (a real SIGINT) in the middle of writing a chunk's frames: the chunk is written whole, then the stream
    stops, so the mp4, its sidecar and its latents file agree (a half chunk would leave the file longer than both)."""
    import os
    import signal

    from vidlong import streaming
    from vidlong.extend import load_latents

    class InterruptedMidway(np.ndarray):
        def __iter__(self):
            for index, frame in enumerate(np.asarray(self)):
                if index == 2:
                    os.kill(os.getpid(), signal.SIGINT)
                yield frame

    real_iter = streaming.VideoStreamer.__iter__

    def interrupted(self):
        for chunk in real_iter(self):
            if chunk.index == 1:
                chunk.frames = chunk.frames.view(InterruptedMidway)
            yield chunk

    monkeypatch.setattr(streaming.VideoStreamer, "__iter__", interrupted)
    out = tmp_path / "cut.mp4"
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--forever", "--out", str(out),
                 "--save-latents", str(tmp_path / "cut.pt")]) == 130
    assert "holds 21 frames" in capsys.readouterr().err
    settings = json.loads(out.with_suffix(".json").read_text())
    latents, meta = load_latents(tmp_path / "cut.pt")
    assert read_video(out)[0].shape[0] == settings["pixel_frames"] == meta["pixel_frames"] == 9 + 12
    assert settings["chunks"] == 2 and latents.shape[2] == 3 + 3


def test_stream_interrupted_before_its_first_chunk_writes_nothing(model_dir, tmp_path, monkeypatch, capsys):
    """Nothing is written, and with --overwrite the video it would replace keeps its sidecar (the sidecar goes when the
    new video's first frames do)."""
    from vidlong import streaming

    def interrupted(self):
        raise KeyboardInterrupt
        yield

    monkeypatch.setattr(streaming.VideoStreamer, "__iter__", interrupted)
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--forever",
                 "--out", str(tmp_path / "never.mp4")]) == 130
    assert "interrupted before the first chunk; nothing written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "kept.mp4").write_bytes(b"an earlier video")
    (tmp_path / "kept.json").write_text("{}\n")
    assert main(["stream", "--prompt", "a red circle", "--model", str(model_dir), "--forever", "--overwrite",
                 "--out", str(tmp_path / "kept.mp4")]) == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.json", "kept.mp4"]
    assert (tmp_path / "kept.mp4").read_bytes() == b"an earlier video"


@pytest.mark.parametrize("args, message", [(["--prompt", "0:a; b"], "needs a chunk number"),
                                           (["--prompt", "3:a red ball"], "must start at chunk 0"),
                                           (["--prompt", "16:9 shot of a cat"], "is written after 0:, \"0:16:9 shot of a cat\""),
                                           (["--chunks", "0"], "--chunks must be a whole number >= 1")])
def test_stream_bad_input(model_dir, tmp_path, capsys, args, message):
    base = ["stream", "--model", str(model_dir), "--out", str(tmp_path / "x.mp4")]
    if "--prompt" not in args:
        base += ["--prompt", "a red ball"]
    assert main(base + args) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_first_chunk_length_and_chunk_counts(model_dir):
    from vidlong.schedulers.stream import chunks_for_seconds, first_chunk_from

    pipe = vidlong.load_pipeline(model_dir)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, first_chunk=3, context="renoise")
    chunks = list(pipe.stream("a red circle", streaming=streaming, chunks=3))
    assert [c.latents.shape[2] for c in chunks] == [3, 1, 1] and [len(c.frames) for c in chunks] == [9, 4, 4]
    assert chunks_for_seconds(2.0, 8, chunk=1, first_chunk=3) == 3  # 16 frames: 9 + 4 + 4
    assert chunks_for_seconds(1.0, 8, chunk=1, first_chunk=3) == 1
    assert chunks_for_seconds(2.0, 8, chunk=1, continuing=True) == 4
    # the chunk starting at or after a second: chunks start at frames 0, 9, 13, 17 (8 fps), a continuation's at 0, 4, 8
    assert [first_chunk_from(t, 8, chunk=1, first_chunk=3) for t in (0, 1.0, 1.125, 1.2, 1.625)] == [0, 1, 1, 2, 2]
    assert [first_chunk_from(t, 8, chunk=1, continuing=True) for t in (0.1, 0.5, 0.6)] == [1, 1, 2]
    with pytest.raises(vidlong.VidlongError, match=r"^first_chunk \(--first-chunk\) 4 exceeds"):
        pipe.stream("a red circle", streaming=vidlong.Streaming(first_chunk=4), chunks=1)
    with pytest.raises(vidlong.VidlongError, match="first_chunk .* must be a whole number >= 1"):
        vidlong.Streaming(first_chunk=0)


def test_renoised_context_runs_stock_forwards_on_the_whole_window(model_dir):
    """With context="renoise" no cache hook is installed and each step's forward sees
    [sinks | window | chunk] (here 1 + 1 + 1 frames once the window has filled)."""
    pipe = vidlong.load_pipeline(model_dir)
    frames_seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: frames_seen.append(k["hidden_states"].shape[2]), with_kwargs=True)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, steps=2, context="renoise")
    for chunk in pipe.stream("a red circle", streaming=streaming, chunks=4):
        assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for b in pipe.transformer.blocks)
    assert frames_seen == [1, 1, 2, 2, 3, 3, 3, 3]  # no clean write passes
    frames_seen.clear()
    list(pipe.stream("a red circle", streaming=vidlong.Streaming(chunk=1, sinks=0, window=2, steps=1, context="renoise"), chunks=4))
    assert frames_seen == [1, 2, 3, 3]  # without sinks the window alone is the context


def test_overlap_decoder_keeps_each_chunks_own_frames():
    """`OverlapDecoder` (the families whose VAE keeps no cache): with a decode that gives the first latent
    frame 1 pixel frame and every later one r, chunk-by-chunk decoding through the overlap returns the
    whole video's frames, each once."""
    from vidlong.vae_stream import OverlapDecoder

    r = 4

    def decode(z):  # [1, C, f, h, w] -> [1, 3, r·(f - 1) + 1, h, w]
        return torch.cat([z[:, :3, :1], z[:, :3, 1:].repeat_interleave(r, dim=2)], dim=2)

    latents = torch.rand(1, 3, 7, 2, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1
    decoder = OverlapDecoder(decode, r, overlap=2)
    pieces = [decoder.decode(latents[:, :, start:start + size]) for start, size in ((0, 3), (3, 1), (4, 3))]
    assert [p.shape[2] for p in pieces] == [9, 4, 12]
    assert torch.equal(torch.cat(pieces, dim=2), decode(latents))
    with pytest.raises(ValueError, match="overlap must be at least 1"):
        OverlapDecoder(decode, r, overlap=0)


@pytest.mark.parametrize("context", ["cache", "renoise"])
def test_text_projections_run_once_per_prompt_and_the_stream_is_unchanged(model_dir, monkeypatch, context):
    """`vidlong.text_memo`: a stream's text embedder and cross-attention K/V projections compute once per
    prompt (a switch computes them again), the chunks are bit for bit those of a stream that recomputes
    them at every forward, and the modules are restored after the stream."""
    import vidlong.streaming
    from vidlong.text_memo import HOOK_NAME, apply_text_memo

    pipe = vidlong.load_pipeline(model_dir)
    schedule = "0:a red circle; 2:a blue square"
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, context=context)
    embedder = pipe.transformer.condition_embedder.text_embedder
    memos = []
    monkeypatch.setattr(vidlong.streaming, "apply_text_memo", lambda t: memos.extend(apply_text_memo(t)))
    memoised = list(pipe.stream(schedule, streaming=streaming, chunks=4, seed=3))
    assert len(memos) == 1 + 2 * len(pipe.transformer.blocks)  # the embedder, each block's to_k and to_v
    assert all(memo.calls == 2 for memo in memos)  # two prompts, many forwards each
    assert not hasattr(embedder, "_diffusers_hook") or embedder._diffusers_hook.get_hook(HOOK_NAME) is None
    monkeypatch.setattr(vidlong.streaming, "apply_text_memo", lambda t: [])
    recomputed = list(pipe.stream(schedule, streaming=streaming, chunks=4, seed=3))
    assert all(torch.equal(a.latents, b.latents) for a, b in zip(memoised, recomputed))


def test_text_memo_recomputes_after_any_in_place_change():
    """`TextMemoHook`: the same unchanged input returns the last output; an in-place change of the input
    or of the returned output, another tensor, or an inference-mode tensor computes afresh."""
    from diffusers.hooks import HookRegistry
    from vidlong.text_memo import HOOK_NAME, TextMemoHook

    linear = torch.nn.Linear(4, 3)
    memo = TextMemoHook()
    HookRegistry.check_if_exists_or_initialize(linear).register_hook(memo, HOOK_NAME)
    x = torch.randn(2, 4)
    with torch.no_grad():
        first = linear(x)
        assert linear(x) is first and memo.calls == 1
        x.mul_(2)
        assert torch.allclose(linear(x), x @ linear.weight.T + linear.bias) and memo.calls == 2
        linear(x).zero_()  # the cached output, changed in place by its caller
        assert torch.allclose(linear(x), x @ linear.weight.T + linear.bias) and memo.calls == 3
        linear(x.clone())
        assert memo.calls == 4
    with torch.inference_mode():
        y = torch.randn(2, 4)
        linear(y), linear(y)
    assert memo.calls == 6
    linear._diffusers_hook.remove_hook(HOOK_NAME)
    assert memo._input is None and memo._output is None


@torch.no_grad()
def test_regional_compilation_of_a_stream_compiles_one_block_for_every_layer():
    """diffusers' `compile_repeated_blocks` on a streaming transformer: each processor reaches its layer's
    cache storage by object (`LayerKV`), not by an index dynamo would guard, so the graphs compiled
    depend on the cache's fill state only (a 3-layer model compiles as many as a 1-layer one) and the
    chunks equal the eager stream's."""
    from torch._dynamo.utils import counters

    def stream(layers, compiled):
        model = tiny_transformer(layers=layers)
        ctx = StreamContext(sinks=1, window=1)
        vidlong.apply(model, native_frames=3, stream=ctx)
        if compiled:
            torch._dynamo.reset()
            counters.clear()
            model.compile_repeated_blocks(backend="eager", fullgraph=True)
        chunks = []
        for i in range(3):  # the cache empty, one frame, full
            chunks.append(stream_forward(model, frames(1, i), 600))
            ctx.writing = True
            stream_forward(model, frames(1, i), 0)
            ctx.writing = False
        return chunks, counters["stats"]["unique_graphs"]

    eager, _ = stream(3, compiled=False)
    compiled, graphs = stream(3, compiled=True)
    _, graphs_one_layer = stream(1, compiled=True)
    assert graphs == graphs_one_layer
    assert all(torch.allclose(c, e, atol=1e-6, rtol=1e-5) for c, e in zip(compiled, eager))


def test_a_chunk_longer_than_the_ring_leaves_its_latest_frames_in_it():
    """Writing 5 one-token frames into 1 sink + a 2-frame ring reuses ring slots: each slot gets the
    latest frame written to it (frames 0, 3, 4), as frame-by-frame writes in order would leave it, and
    keys in another dtype are stored in the cache's."""
    from vidlong.attention.kv_cache import LayerKV, RollingKVCache

    layer = LayerKV()
    cache = RollingKVCache([layer], batch=1, heads=1, head_dim=2, tokens_per_frame=1, sinks=1, window=2,
                           device="cpu", dtype=torch.float32)
    chunk = torch.arange(10, dtype=torch.float64).view(1, 5, 1, 2)
    source, target = cache.write_indices(5, "cpu")
    assert sorted(target.tolist()) == [0, 1, 2]
    cache.write(layer, chunk, chunk, (source, target))
    assert layer.keys.dtype == torch.float32
    assert layer.keys[0, :, 0, 0].tolist() == [0.0, 6.0, 8.0]


def test_a_compiled_stream_compiles_nothing_new_once_its_window_is_full():
    """The ring's write position moves every chunk; the slots are index tensors made before the forward,
    not ints dynamo would guard, so once the window is full the rolling chunks reuse the graphs compiled
    (before: one more graph per ring position)."""
    from torch._dynamo.utils import counters

    model = tiny_transformer(layers=1)
    ctx = StreamContext(sinks=1, window=3)
    vidlong.apply(model, native_frames=3, stream=ctx)
    torch._dynamo.reset()
    counters.clear()
    model.compile_repeated_blocks(backend="eager", fullgraph=True)
    graphs = []
    with torch._dynamo.config.patch(recompile_limit=64):  # a graph per fill level, reading and writing
        for i in range(9):  # chunks 0-3 fill the cache, 4-8 roll the window round more than once
            stream_forward(model, frames(1, i), 600)
            ctx.writing = True
            stream_forward(model, frames(1, i), 0)
            ctx.writing = False
            graphs.append(counters["stats"]["unique_graphs"])
    assert graphs[-1] == graphs[4]


@torch.no_grad()
def test_a_stream_continues_when_the_hooks_are_applied_again():
    """`vidlong.remove` then `vidlong.apply` with the same `StreamContext` (new processors): the cache's
    storage passes to the new processors and the next chunk is the one an unbroken stream makes."""
    def run(reapply):
        model = tiny_transformer(layers=2)
        ctx = StreamContext(sinks=1, window=1)
        vidlong.apply(model, native_frames=3, stream=ctx)
        ctx.writing = True
        stream_forward(model, frames(1, 0), 0)
        ctx.writing = False
        if reapply:
            vidlong.remove(model)
            vidlong.apply(model, native_frames=3, stream=ctx)
        return stream_forward(model, frames(1, 1), 500)

    assert torch.equal(run(reapply=True), run(reapply=False))


def test_a_stream_sets_the_pipelines_methods_aside_and_gives_them_back(model_dir):
    """A stream (and `generate`) runs with its own hooks and then puts back the methods the caller
    applied, bit for bit; it runs once; calling the pipeline, or applying or removing methods on it or its transformer,
    while it is paused is refused."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.hooks import state_of
    from vidlong.models import pixel_frames

    pipe = vidlong.load_pipeline(model_dir, device="cpu")
    call = dict(prompt="a red circle", num_frames=pixel_frames(2 * pipe.native_frames), num_inference_steps=1,
                output_type="latent")
    pipe.apply(vidlong.UltraViCo(alpha=0.5))
    before = pipe(**call, generator=torch.Generator().manual_seed(0)).frames
    settings = dict(streaming=vidlong.Streaming(chunk=1, sinks=1, window=1), chunks=3)
    stream, other = pipe.stream("a red circle", **settings), pipe.stream("a red circle", **settings)
    chunks = iter(stream)
    made = [next(chunks).latents]
    # nothing that would take the paused stream's cache hooks off runs: each is refused, nothing changed
    for while_paused in (lambda: pipe(**call), lambda: generate(pipe, GenerateRequest(prompt="a", steps=1)),
                         lambda: pipe.stream("a", chunks=1), lambda: pipe.extend("a", video=np.zeros((9, 32, 32, 3), np.uint8)),
                         lambda: pipe.apply(vidlong.UltraViCo()), pipe.remove, lambda: vidlong.remove(pipe.transformer),
                         lambda: vidlong.apply(pipe.transformer, vidlong.UltraViCo(), native_frames=3),
                         lambda: next(iter(other))):  # a stream made before this one paused
        with pytest.raises(vidlong.VidlongError, match="paused mid-way"):
            while_paused()
    with pytest.raises(vidlong.VidlongError, match="this stream is paused mid-way: go on with the iterator you took from it"):
        next(iter(stream))  # a second loop over it, not the one paused
    made += [chunk.latents for chunk in chunks]
    unbroken = [chunk.latents for chunk in pipe.stream("a red circle", **settings)]
    assert len(made) == 3 and all(torch.equal(a, b) for a, b in zip(made, unbroken))
    with pytest.raises(vidlong.VidlongError, match="has run already"):
        next(iter(stream))
    generate(pipe, GenerateRequest(prompt="a red circle", steps=1, method="none"))
    assert state_of(pipe.transformer).methods == (vidlong.UltraViCo(alpha=0.5),)
    assert torch.equal(pipe(**call, generator=torch.Generator().manual_seed(0)).frames, before)
    pipe.remove()
    assert not torch.equal(pipe(**call, generator=torch.Generator().manual_seed(0)).frames, before)  # they acted


def test_a_pipeline_built_from_components_finds_its_models_spec(model_dir):
    """``VidLongWanPipeline(**components)`` reads the vidlong.yaml of the folder its transformer came from."""
    pipe = vidlong.load_pipeline(model_dir, device="cpu")
    assert type(pipe)(**pipe.components).spec == pipe.spec


def test_diffusers_caches_run_in_generate_and_are_refused_where_vidlong_runs_the_transformer_itself(tmp_path):
    """diffusers' caching (``transformer.enable_cache``) works in `generate`, which runs the pipeline's own call with its
    cache contexts; streams, extensions and diagonal denoising, which call the transformer window by window, refuse it in
    one line, and run once it is off."""
    from diffusers import FirstBlockCacheConfig

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(save_tiny_pipeline(tmp_path / "model"))
    pipe.set_progress_bar_config(disable=True)
    request = GenerateRequest(prompt="a red ball", ratio=2, method="both", seed=1, steps=4)
    plain = generate(pipe, request)
    pipe.transformer.enable_cache(FirstBlockCacheConfig(threshold=0.5))
    cached = generate(pipe, request)
    assert cached.latents.shape == plain.latents.shape and not torch.equal(cached.latents, plain.latents)  # it skipped blocks
    refused = "the transformer has diffusers' cache on (FirstBlockCacheConfig)"
    for run in (lambda: pipe.stream("a red ball", chunks=1), lambda: pipe.extend("a red ball", video=plain.frames, chunks=1),
                lambda: generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="fifo"))):
        with pytest.raises(vidlong.VidlongError, match=re.escape(refused)):
            run()
    pipe.transformer.disable_cache()
    assert len(list(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=2))) == 2


def test_no_chunk_sees_past_the_native_window_by_default(tmp_path):
    """A chunk over half the native window takes as many sinks as it leaves room for, and no window; a chunk of the whole
    window one chunk of sinks, the one case past the native window (its sidecar records them; given back, they stand), or
    none where sinks 0 are asked for; more sinks than fit are refused in one line."""
    from vidlong.schedulers.stream import StreamSchedule
    from vidlong.validate import check_stream, limits_for_folder

    limits = limits_for_folder(save_tiny_pipeline(tmp_path / "model"))  # native 3 latent frames
    assert StreamSchedule.resolve(3, 2) == StreamSchedule(chunk=2, sinks=1, window=0)
    assert StreamSchedule.resolve(21, 11) == StreamSchedule(chunk=11, sinks=10, window=0)
    assert StreamSchedule.resolve(21, 3) == StreamSchedule(chunk=3, sinks=3, window=15)
    assert StreamSchedule.resolve(3, 3) == StreamSchedule(chunk=3, sinks=3, window=0)
    for streaming in (vidlong.Streaming(chunk=2), vidlong.Streaming(chunk=2, sinks=1), vidlong.Streaming(chunk=3),
                      vidlong.Streaming(chunk=3, sinks=3), vidlong.Streaming(chunk=3, sinks=0, window=0)):
        check_stream(streaming, limits)
    with pytest.raises(vidlong.VidlongError, match=re.escape("sinks (--sinks) 2 + chunk (--chunk) 3 = 5 latent frames exceed")):
        check_stream(vidlong.Streaming(chunk=3, sinks=2), limits)
    with pytest.raises(vidlong.VidlongError,
                       match=re.escape("sinks (--sinks) 2 + chunk (--chunk) 2 = 4 latent frames exceed the model's native window")):
        check_stream(vidlong.Streaming(chunk=2, sinks=2), limits)
    pipe = vidlong.load_pipeline(tmp_path / "model")
    stream = pipe.stream("a red ball", vidlong.Streaming(chunk=2, context="cache"), chunks=3)
    for _ in stream:
        assert stream.context.cache.frames + 2 <= 3  # every chunk's positions within the native window


def test_no_clean_forward_writes_frames_the_cache_would_not_keep(tmp_path):
    """With one sink and no window only the first chunk's clean forward keeps anything: later chunks take their steps
    alone (2 steps x 4 chunks + 1 write); the cache's storage is freed when the stream ends."""
    pipe = vidlong.load_pipeline(save_tiny_pipeline(tmp_path / "model"))
    pipe.set_progress_bar_config(disable=True)
    forwards = []
    handle = pipe.transformer.register_forward_pre_hook(lambda module, args: forwards.append(1))
    stream = pipe.stream("a red ball", vidlong.Streaming(chunk=1, sinks=1, window=0, steps=2, context="cache"), chunks=4)
    assert len(list(stream)) == 4 and len(forwards) == 2 * 4 + 1
    assert stream.context.cache is None
    handle.remove()


def test_a_prompt_is_one_prompt_unless_its_parts_are_numbered_and_every_reader_takes_it_so():
    """A stream's prompt with no ``N:`` part is one prompt, semicolons and colons its own; a schedule's parts are all
    numbered, in any order, one of them at 0 (a mix, or one part at another chunk, is refused naming the fix, "0:" before a
    prompt that begins with a number and a colon); a live switch reads its prompt the same way; a sidecar's last prompt
    is handed on as a text read back as that one prompt; from Python a schedule may be its entries, each prompt as it is."""
    from vidlong.cli import _prompt_at_end
    from vidlong.errors import VidlongError
    from vidlong.live_prompts import LivePrompts
    from vidlong.schedulers.stream import parse_prompt_schedule

    assert parse_prompt_schedule("a cat walks in; the camera pans") == [(0, "a cat walks in; the camera pans")]
    assert parse_prompt_schedule("20:a blue ball; 0:a red ball") == [(0, "a red ball"), (20, "a blue ball")]
    assert parse_prompt_schedule("0:16:9 shot of a cat") == [(0, "16:9 shot of a cat")]
    assert parse_prompt_schedule([(0, "16:9 shot; a cat"), (3, "b")]) == [(0, "16:9 shot; a cat"), (3, "b")]
    for text, says in (("16:9 shot of a cat", 'is written after 0:, "0:16:9 shot of a cat"'),
                       ("a red ball; 20:a blue ball", "'a red ball' needs a chunk number"),
                       ("0:a; 10s:b", "'10s:b' starts at a time")):
        with pytest.raises(VidlongError, match=re.escape(says)):
            parse_prompt_schedule(text)
    live = LivePrompts("a red ball", None, lambda second: 0)
    live.take(0)
    assert live.switch("0:16:9 shot of a dog") == 1 and live.snapshot() == [(0, "a red ball"), (1, "16:9 shot of a dog")]
    for prompt in ("16:9 shot of a dog", "10:30 am, a busy street", "a dog; a cat"):  # the last chunk's prompt goes on
        told = _prompt_at_end({"prompt": f"0:a cat; 2:{prompt}" if ";" not in prompt else prompt, "chunks": 3})
        assert parse_prompt_schedule(told) == [(0, prompt)], prompt


def test_a_default_chunk_past_a_small_native_window_is_the_window():
    """A model whose native window is smaller than the default preset's chunk (3 latent frames) streams chunks of its whole
    window where none is given, where `vidlong stream` was refused naming a --chunk 3 nobody gave; a chunk given stays."""
    from vidlong.methods import model_streaming
    from vidlong.models import ModelSpec

    small, usual = ModelSpec(name="small", native_frames=2), ModelSpec(name="usual", native_frames=9)
    assert [model_streaming(small).chunk, model_streaming(small, chunk=1).chunk, model_streaming(small, chunk=3).chunk] == [2, 1, 3]
    assert model_streaming(usual).chunk == 3
