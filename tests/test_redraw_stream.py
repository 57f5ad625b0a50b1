"""Redrawing a video of any length chunk by chunk (`vidlong.redraw_stream`): the streaming encoder equals one encode of
the whole video; a native-length first chunk is `generate`'s video-to-video redraw of those frames; the stream is as long
as the video, its later chunks follow their context; `vidlong stream --video` writes it at the video's frame rate; bad
input is refused in one line before any model loads."""
import json

import numpy as np
import pytest
import torch
from tiny_pipeline import NATIVE_LATENT_FRAMES, save_tiny_pipeline, tiny_vae

import vidlong
from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.vae_stream import StreamingWanEncoder, encode_frames
from vidlong.video_io import read_video, write_video

FRAMES = 23  # pixel frames of the input: its most 4k+1 are 21, 6 latent frames


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("wan"))


@pytest.fixture(scope="module")
def video():
    """uint8 frames [23, 32, 32, 3]: a square drifting across noise."""
    frames = (np.random.default_rng(0).random((FRAMES, 32, 32, 3)) * 80).astype(np.uint8)
    for t in range(FRAMES):
        frames[t, 8:20, t:t + 12] = (220, 40, 40)
    return frames


@pytest.mark.parametrize("kind", ["wan2.1", "ti2v"])
def test_the_streaming_encoder_is_one_encode_of_the_whole_video(kind):
    """Chunks of 1 + 8, 8 and 4 pixel frames through the encoder's cache = `AutoencoderKLWan.encode` of all 21: bit for
    bit with Wan2.1's VAE and the stock kernels, to float rounding with Wan2.2's patchified one or the CPU's fast paths; a
    later chunk that is not 4k frames is refused."""
    vae = tiny_vae(kind)
    pixels = torch.rand(1, 3, 21, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    whole = encode_frames(vae, pixels)
    for onednn in (False, None):  # the stock kernels, and the CPU's fast paths where it has them (to float rounding)
        encoder = StreamingWanEncoder(vae, onednn=onednn)
        chunked = torch.cat([encoder.encode(pixels[:, :, start:stop]) for start, stop in ((0, 9), (9, 17), (17, 21))], 2)
        exact = kind == "wan2.1" and onednn is False
        assert torch.equal(chunked, whole) if exact else (chunked - whole).abs().max() < 1e-5
    with pytest.raises(ValueError, match="multiple of 4"):
        encoder.encode(pixels[:, :, :3])


def test_a_native_first_chunk_is_generates_redraw_and_the_stream_is_the_videos_length(pipe, video):
    """With its first chunk as long as the native window, a redraw stream starts with `generate`'s video-to-video redraw of
    those frames (same seed, strength and steps; uint8 rounding aside); chunks of 2 latent frames cover the video's 21
    frames (5 + 8 + 8); a later chunk depends on its context and on the video."""
    native = NATIVE_LATENT_FRAMES
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, video=video[:4 * native - 3], strength=0.5))
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=native), seed=3, video=video,
                                  strength=0.5)))
    assert first.frames.shape == own.frames.shape and np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    redrawn = [c.frames for c in pipe.stream("a red ball", vidlong.Streaming(chunk=2), seed=3, video=video, strength=0.5)]
    alone = [c.frames for c in pipe.stream("a red ball", vidlong.Streaming(chunk=2, sinks=0, window=0), seed=3, video=video,
                                           strength=0.5)]
    other = [c.frames for c in pipe.stream("a red ball", vidlong.Streaming(chunk=2), seed=3, video=video[::-1].copy(),
                                           strength=0.5)]
    assert [len(c) for c in redrawn] == [5, 8, 8]
    assert np.array_equal(redrawn[0], alone[0]) and not np.array_equal(redrawn[2], alone[2])
    assert not np.array_equal(redrawn[2], other[2])
    assert [len(c.frames) for c in pipe.stream("a red ball", vidlong.Streaming(chunk=2), chunks=2, video=video)] == [5, 8]


def test_the_python_call_refuses_what_a_redraw_cannot_take(pipe, video):
    with pytest.raises(VidlongError, match="drop seconds"):
        pipe.stream("a red ball", video=video, seconds=3)
    with pytest.raises(VidlongError, match="is how much of a video a stream redraws"):
        pipe.stream("a red ball", strength=0.5)
    with pytest.raises(VidlongError, match="must be a number in"):
        pipe.stream("a red ball", video=video, strength=0)


def test_the_cli_streams_a_redraw_at_the_videos_frame_rate(folder, video, tmp_path):
    given = tmp_path / "in.mp4"
    write_video(given, video, fps=12)
    out = tmp_path / "out.mp4"
    assert main(["stream", "--model", str(folder), "--video", str(given), "--strength", "0.6", "--prompt", "a red ball",
                 "--chunk", "2", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (21, 32, 32, 3) and fps == 12
    assert settings["video"] == str(given) and settings["streaming"]["strength"] == 0.6 and settings["chunks"] == 3


@pytest.mark.parametrize("args, message", [
    (["--strength", "1.5"], "--strength must be a number in"),
    (["--seconds", "3"], "drop --seconds"),
    (["--method", "fifo"], "drop --method fifo"),
    (["--prompt", "0:a red ball; 9:a blue ball"], "switches at chunk 9 but the stream has 2 chunks"),
])
def test_bad_redraw_input_is_refused_in_one_line_before_loading(folder, video, tmp_path, capsys, monkeypatch, args, message):
    import vidlong.pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    write_video(tmp_path / "in.mp4", video, fps=12)
    prompt = [] if "--prompt" in args else ["--prompt", "a red ball"]
    assert main(["stream", "--model", str(folder), "--video", str(tmp_path / "in.mp4"), *prompt, *args,
                 "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("kind", ["wan2.2", "ti2v"])
def test_wan22_models_redraw_in_a_stream_too(kind, video, tmp_path):
    """The stream is vidlong's own sampler, so Wan2.2's two experts and TI2V-5B (per-token timesteps, its 16x VAE) redraw
    chunk by chunk though diffusers' video-to-video pipeline takes neither: the video's length, its frame rate."""
    folder = save_tiny_pipeline(tmp_path / kind, kind=kind)
    write_video(tmp_path / "in.mp4", video, fps=12)
    out = tmp_path / "o.mp4"
    assert main(["stream", "--model", str(folder), "--video", str(tmp_path / "in.mp4"), "--prompt", "a red ball", "--chunk", "2",
                 "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert len(frames) == 21 and fps == 12


def test_a_model_without_wans_vae_is_refused_before_loading(video, tmp_path, capsys, monkeypatch):
    """LTX-Video's VAE has no streaming encoder here: refused in one line, before any model loads."""
    import vidlong.pipeline
    from tiny_pipeline import tiny_ltx_pipeline

    folder = tmp_path / "ltx"
    tiny_ltx_pipeline().save_pretrained(folder)
    capsys.readouterr()
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    write_video(tmp_path / "in.mp4", video, fps=12)
    assert main(["stream", "--model", str(folder), "--video", str(tmp_path / "in.mp4"), "--prompt", "a red ball",
                 "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a stream redraws a video with a Wan or SkyReels-V2 text-to-video model" in err[0], err
