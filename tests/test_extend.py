"""`vidlong extend` / `pipe.extend`: the input kept bit for bit, the cache and decoder started from its
last frames (or from saved latents), and every bad input refused in one line before a model loads."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import vidlong
from vidlong import pipeline as pipeline_module
from vidlong.cli import main
from vidlong.extend import ENCODE_WARMUP, load_latents, save_latents, tail_pixel_frames
from vidlong.video_io import read_video, write_video
from tiny_pipeline import save_tiny_pipeline

SMALL = vidlong.Streaming(chunk=1, sinks=1, window=1)  # tail: 2 latent frames = 5 pixel frames


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {kind: save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind) for kind in ("wan2.1", "wan2.2", "ti2v", "i2v")}


@pytest.fixture(scope="module")
def made(folders, tmp_path_factory):
    """A 2x video of the tiny model, as `vidlong generate --save-latents` leaves it: mp4, sidecar, latents."""
    folder = tmp_path_factory.mktemp("made")
    out = folder / "in.mp4"
    assert main(["generate", "--model", str(folders["wan2.1"]), "--prompt", "a red circle", "--ratio", "2",
                 "--out", str(out), "--save-latents", str(folder / "in.pt")]) == 0
    return out


def test_tail_is_the_last_4k_plus_1_frames():
    assert tail_pixel_frames(21, 2) == 5 and tail_pixel_frames(21, 9) == 21 and tail_pixel_frames(22, 9) == 21
    assert tail_pixel_frames(1, 6) == 1 and tail_pixel_frames(4, 6) == 1


def test_a_video_shorter_than_its_family_continues_is_refused_naming_its_count():
    """`check_video_for_model`: a video of fewer frames than its family continues is refused in one line counting them
    (one frame, not "1 frames") and naming the fewest."""
    from vidlong.extend import check_video_for_model
    from vidlong.models import Geometry

    geometry = Geometry(channels=16, spatial=8, temporal=4, patch=(1, 2, 2))
    for count, said in ((1, "1 frame;"), (8, "8 frames;")):
        with pytest.raises(vidlong.VidlongError, match=fr"^video \(--video\) has {said} why: pass a video of at least 9 frames$"):
            check_video_for_model(np.zeros((count, 32, 32, 3), np.uint8), geometry, (9, "why"))


@pytest.mark.parametrize("context", ["cache", "renoise"])
@pytest.mark.parametrize("kind", ["wan2.1", "wan2.2", "ti2v"])
def test_extension_keeps_the_input_and_continues_from_its_tail(folders, made, kind, context):
    video, _ = read_video(made)
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, context=context)
    stream = pipe.extend("a red circle", video=video, streaming=streaming, chunks=3, seed=2)
    items, cached = [], []
    for item in stream:
        items.append(item)
        cached.append([c.cache.frames for c in stream.contexts] if context == "cache" else None)  # freed at its end
    assert items[0].is_input and np.array_equal(items[0].frames, video)  # bit for bit
    assert [len(c.frames) for c in items[1:]] == [4, 4, 4] and [c.index for c in items] == [-1, 0, 1, 2]
    # the context's 2 latent frames and ENCODE_WARMUP before them (the last 21 pixel frames), encoded once
    assert stream.prefix.latents.shape[2] == 2 + ENCODE_WARMUP
    assert len(stream.sink_latents) == 1 and len(stream.window_latents) == 1
    if context == "cache":
        assert cached[-1] == [2] * len(stream.contexts)  # sinks + window, on every expert


def test_extension_writes_the_prefix_with_one_clean_forward(folders, made):
    video, _ = read_video(made)
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    calls = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: calls.append((k["hidden_states"].shape[2], float(k["timestep"][0]))),
                                               with_kwargs=True)
    stream = pipe.extend("a red circle", video=video, streaming=vidlong.Streaming(chunk=1, sinks=1, window=1, steps=2), chunks=1)
    list(stream)
    assert calls[0] == (2, 0.0)  # the tail's two latent frames, clean, in one forward
    assert [shape for shape, _ in calls[1:]] == [1, 1, 1]  # then 2 steps and the chunk's clean forward


def test_extension_takes_a_video_file_and_refuses_bad_lengths_in_one_line(folders, made, tmp_path):
    """`pipe.extend(video="in.mp4")` reads the file (the same frames as passing them); a file that is no
    video and a negative length are refused in one line, as on the command line."""
    video, _ = read_video(made)
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    from_path, from_frames = (list(pipe.extend("a red circle", video=v, streaming=SMALL, chunks=1, seed=2)) for v in (str(made), video))
    assert np.array_equal(from_path[0].frames, video) and np.array_equal(from_path[1].frames, from_frames[1].frames)
    (tmp_path / "notes.txt").write_text("not a video")
    for kwargs, message in ((dict(video=str(tmp_path / "notes.txt"), chunks=1), "is not a readable video"),
                            (dict(video=video, seconds=-1), r"seconds \(--seconds\) must be > 0, got -1"),
                            (dict(video=video, chunks=0), r"chunks \(--chunks\) must be a whole number >= 1"),
                            (dict(video=video, chunks=1, generator=None), "takes seed=<int> where the diffusers call takes generator="),
                            (dict(video=video, chunks=1, colour="red"), "unknown argument colour=; it takes guidance")):
        with pytest.raises(vidlong.VidlongError, match=message) as info:
            pipe.extend("a red circle", streaming=SMALL, **kwargs)
        assert "\n" not in str(info.value)
    with pytest.raises(vidlong.VidlongError, match=r"seconds \(--seconds\) must be a finite number"):
        pipe.stream("a red circle", seconds=float("nan"))
    with pytest.raises(vidlong.VidlongError, match="takes guidance= where the diffusers call takes guidance_scale="):
        pipe.stream("a red circle", chunks=1, guidance_scale=3.0)


def test_extension_from_latents_needs_no_vae_encode(folders, made, monkeypatch):
    latents, meta = load_latents(made.with_suffix(".pt"))
    assert "decoded_chunk" in meta and meta["decoded_chunk"] is None  # how its model decodes them: as one video
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    monkeypatch.setattr(type(pipe.vae), "encode", lambda *a, **k: pytest.fail("the VAE encoder ran"))
    items = list(pipe.extend(meta["prompt"], latents=latents, streaming=SMALL, chunks=2))
    assert items[0].is_input and len(items[0].frames) == 4 * (latents.shape[2] - 1) + 1  # decoded from the latents
    assert torch.equal(items[0].latents, latents)  # the items' latents concatenated: what --save-latents saves
    assert [len(c.frames) for c in items[1:]] == [4, 4]


def test_a_video_continued_with_its_saved_latents_replays_only_their_tail(folders, made, monkeypatch):
    """`vidlong extend --video --latents` (a video given with its latents): the decoder replays the context's latent frames
    and `ENCODE_WARMUP` before them, as many as a file's tail is encoded to, not all of a long video's (whose decode made
    such an extension of a 1-minute video take minutes where one from the file alone took a second); the input's frames
    come back as given."""
    from vidlong import streaming

    latents = torch.cat([load_latents(made.with_suffix(".pt"))[0]] * 3, dim=2)
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    spatial = pipe.geometry().spatial
    video = np.zeros((4 * (latents.shape[2] - 1) + 1, latents.shape[3] * spatial, latents.shape[4] * spatial, 3), np.uint8)
    replayed, replay = [], streaming.replay
    monkeypatch.setattr(streaming, "replay", lambda decoder, history, *args, **kwargs: replayed.append(history.shape[2])
                        or replay(decoder, history, *args, **kwargs))
    items = list(pipe.extend("a red circle", video=video, latents=latents, streaming=SMALL, chunks=1))
    assert latents.shape[2] > 2 + ENCODE_WARMUP and replayed == [2 + ENCODE_WARMUP]
    assert np.array_equal(items[0].frames, video) and torch.equal(items[0].latents, latents)


def test_python_extension_refuses_a_video_and_latents_of_different_videos(folders, made):
    """`pipe.extend(video=..., latents=...)` checks, as the CLI does, that the two can be one video."""
    latents, _ = load_latents(made.with_suffix(".pt"))
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    frames, _ = read_video(made)
    with pytest.raises(vidlong.VidlongError, match="more than the video's"):
        pipe.extend("a red circle", video=frames[:3], latents=latents, streaming=SMALL, chunks=1)
    with pytest.raises(vidlong.VidlongError, match="decode to"):
        pipe.extend("a red circle", video=np.zeros((len(frames), 16, 16, 3), np.uint8), latents=latents, streaming=SMALL, chunks=1)
    assert pipe.extend("a red circle", video=frames, latents=latents, streaming=SMALL, chunks=1) is not None


def test_extend_cli_end_to_end(folders, made, tmp_path):
    out = tmp_path / "longer.mp4"
    # no --prompt: taken from in.json beside the video
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(made), "--chunks", "2", "--out", str(out),
                 "--save-latents", str(tmp_path / "longer.pt")]) == 0
    video, _ = read_video(made)
    longer, fps = read_video(out)
    assert longer.shape == (len(video) + 2 * 12, 32, 32, 3) and fps == pytest.approx(8)
    assert np.abs(longer[: len(video)].astype(int) - video.astype(int)).mean() < 3  # one more lossy mp4 encode
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["prompt"] == "a red circle" and settings["input_frames"] == len(video) and settings["chunks"] == 2
    latents, _ = load_latents(tmp_path / "longer.pt")
    assert latents.shape[2] == 6 + 2 * 3  # the encoded tail (the input's last 6 latent frames), then two chunks of 3
    again = tmp_path / "again.mp4"
    assert main(["extend", "--model", str(folders["wan2.1"]), "--latents", str(tmp_path / "longer.pt"), "--chunks", "1",
                 "--out", str(again)]) == 0
    assert read_video(again)[0].shape[0] == 4 * (latents.shape[2] - 1) + 1 + 12
    # the extension's video and its latents together: recognised as one video (frame count, last frame)
    both = tmp_path / "both.mp4"
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(out), "--latents", str(tmp_path / "longer.pt"),
                 "--chunks", "1", "--out", str(both)]) == 0
    assert read_video(both)[0].shape[0] == len(longer) + 12


def test_an_input_at_another_frame_rate_or_with_sound_gets_a_note(folders, made, tmp_path, capsys):
    """The new frames are made at the model's pace (the tiny model's 8 fps) and shown at the input's; an input's sound
    track is left out of the (silent) extension, and a note says so."""
    from vidlong.video_io import Soundtrack, has_sound

    frames = read_video(made)[0]
    write_video(tmp_path / "fast.mp4", frames, fps=24, audio=Soundtrack(np.zeros((1, 16000), np.float32) + 0.1, 16000))
    capsys.readouterr()
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(tmp_path / "fast.mp4"), "--prompt", "a red circle",
                 "--chunks", "1", "--out", str(tmp_path / "out.mp4")]) == 0
    err = capsys.readouterr().err
    assert "the input runs at 24 fps and tiny-wan2.1 makes motion for 8 fps" in err and "variable frame rate" not in err
    assert f"convert the input first: ffmpeg -i {tmp_path / 'fast.mp4'} -r 8 {tmp_path / 'fast_8fps.mp4'}" in err  # beside it
    assert f"{tmp_path / 'fast.mp4'} has a sound track, which the extension leaves out" in err
    assert read_video(tmp_path / "out.mp4")[1] == pytest.approx(24)
    assert has_sound(tmp_path / "fast.mp4") and not has_sound(tmp_path / "out.mp4") and not has_sound(made)


def test_a_variable_frame_rate_input_gets_a_note_and_is_never_read_whole(folders, made, tmp_path, capsys, monkeypatch):
    """An input whose frames are unevenly spaced (a phone's variable frame rate) is written at one constant rate: a note
    says so and how to convert it. Its frames are read twice, a frame at a time (counted keeping its last ones, then
    copied to the output), never held whole: its output's first frames are its own all the same."""
    import subprocess

    from vidlong import video_io

    uneven = tmp_path / "uneven.mp4"  # the frames after the 10th shown half a second late
    subprocess.run([video_io._ffmpeg().get_ffmpeg_exe(), "-v", "error", "-i", str(made), "-vf",
                    r"setpts=N/(8*TB)+gte(N\,10)*0.5/TB", "-fps_mode", "passthrough", str(uneven)], check=True)
    monkeypatch.setattr(video_io, "read_video", lambda *a, **k: pytest.fail("the input was read whole"))
    capsys.readouterr()
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(uneven), "--prompt", "a red circle",
                 "--chunks", "1", "--out", str(tmp_path / "out.mp4")]) == 0
    err = capsys.readouterr().err
    assert f"--video {uneven} has a variable frame rate (its frames 125-625 ms apart)" in err
    assert f"ffmpeg -i {uneven} -fps_mode cfr -r 8 {uneven.with_name('uneven_cfr.mp4')}" in err  # written beside it
    monkeypatch.undo()
    frames, out = read_video(uneven)[0], read_video(tmp_path / "out.mp4")[0]
    assert len(out) == len(frames) + 12 and np.abs(out[:len(frames)].astype(int) - frames.astype(int)).mean() < 3


def bad_inputs(tmp_path, folders, made):
    """(args, message) for every refused extension input; built on files made here."""
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    write_video(tmp_path / "odd.mp4", np.zeros((5, 24, 24, 3), np.uint8), fps=8)
    save_latents(tmp_path / "wide.pt", torch.zeros(1, 12, 3, 4, 4), prompt="x", model="wan2.2-ti2v-5b")
    (tmp_path / "junk.pt").write_bytes(b"garbage")
    save_latents(tmp_path / "no_rate.pt", torch.zeros(1, 4, 3, 4, 4), prompt="x", fps="abc")
    torch.save({"latents": torch.zeros(1, 4, 3, 4, 4)}, tmp_path / "foreign.pt")
    save_latents(tmp_path / "nan.pt", torch.full((1, 4, 3, 4, 4), float("nan")), prompt="x")
    save_latents(tmp_path / "chunked.pt", torch.zeros(1, 4, 3, 4, 4), prompt="x", model="helios", decoded_chunk=3)
    frames, fps = read_video(made)
    write_video(tmp_path / "padded.mp4", np.concatenate([frames, frames[-4:]]), fps=fps)  # 4 frames more
    write_video(tmp_path / "inverted.mp4", 255 - frames, fps=fps)  # as long, but another video
    patched = frames.copy()
    patched[-1, :frames.shape[1] // 8, :frames.shape[2] // 8] = 255  # the same but for one corner of the last frame
    write_video(tmp_path / "patched.mp4", patched, fps=fps)
    video, latents = ["--video", str(made)], ["--latents", str(made.with_suffix(".pt"))]
    return [
        (["--video", str(tmp_path / "padded.mp4"), *latents], "were saved with a video of"),
        (["--video", str(tmp_path / "inverted.mp4"), *latents], "last frame is not the one --latents were saved with"),
        (["--video", str(tmp_path / "patched.mp4"), *latents], "last frame is not the one --latents were saved with"),
        ([], "pass --video in.mp4 or --latents in.pt"),
        (["--video", str(tmp_path / "missing.mp4")], "no video file"),
        (["--video", str(tmp_path / "junk.mp4")], "not a readable video"),
        (["--latents", str(tmp_path / "no_rate.pt")], "records a frame rate of 'abc'; its file is not as save_latents wrote it"),
        (["--video", str(tmp_path / "odd.mp4"), "--prompt", "x"], "multiples of 16, at least 16: crop its edges first, e.g. "
         f"ffmpeg -i {tmp_path / 'odd.mp4'} -vf crop=16:16 {tmp_path / 'odd_16x16.mp4'}"),
        (["--latents", str(tmp_path / "wide.pt")], "12-channel latents but this model's VAE has 4; continue them with "
         "wan2.2-ti2v-5b's folder (--model)"),
        (["--latents", str(tmp_path / "junk.pt")], "not a readable latents file"),
        (["--latents", str(tmp_path / "foreign.pt")], "not a vidlong latents file"),
        (["--latents", str(tmp_path / "nan.pt")], "NaN"),
        (["--latents", str(tmp_path / "chunked.pt")], "--latents were saved by helios, which decodes them 3 latent frames at a "
         "time, each on its own, and this model decodes them as one video: continue them with helios's folder (--model), or "
         "extend the video file alone (drop --latents)"),
        (["--latents", str(tmp_path / "missing.pt")], "no latents file"),
        (["--video", str(tmp_path / "odd.mp4")], "multiples of 16"),
        ([*video, "--prompt", "3:a ball"], "must start at chunk 0"),
        ([*video, "--chunks", "0"], "--chunks must be a whole number >= 1"),
        ([*video, "--context", "cache", "--save-latents", str(tmp_path / "x.npy")], ".pt extension"),
        ([*video, "--model", str(folders["i2v"]), "--context", "cache"], "only with --context renoise"),
        ([*video, "--model", str(folders["i2v"]), "--sinks", "0"], "needs --sinks >= 1"),
    ]


def test_bad_extension_input_is_one_line_before_any_model_loads(folders, made, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(pipeline_module, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for args, message in bad_inputs(inputs, folders, made):
        out_dir = tmp_path / "out"
        out_dir.mkdir(exist_ok=True)
        base = ["extend", "--out", str(out_dir / "x.mp4")]
        if "--model" not in args:
            base += ["--model", str(folders["wan2.1"])]
        assert main(base + args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("vidlong: error:") and message in err[0], (args, err)
        assert list(out_dir.iterdir()) == []


def test_prompt_is_required_without_a_sidecar(folders, made, tmp_path, capsys):
    bare = tmp_path / "bare.mp4"
    bare.write_bytes(made.read_bytes())
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(bare), "--out", str(tmp_path / "x.mp4")]) == 2
    assert "extend needs --prompt" in capsys.readouterr().err


def test_extension_goes_on_with_the_prompt_in_force_at_the_end(folders, tmp_path):
    """A stream's sidecar holds its schedule; extending it continues with the last prompt, not the first."""
    stream = tmp_path / "s.mp4"
    assert main(["stream", "--model", str(folders["wan2.1"]), "--prompt", "0:a red circle; 1:a blue square",
                 "--chunks", "2", "--steps", "1", "--out", str(stream)]) == 0
    out = tmp_path / "x.mp4"
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(stream), "--chunks", "1", "--steps", "1",
                 "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["prompt"] == "a blue square"
    alone = tmp_path / "alone.mp4"  # from the stream's latents alone: the last prompt too, not the schedule again
    assert main(["stream", "--model", str(folders["wan2.1"]), "--prompt", "0:a red circle; 1:a blue square",
                 "--chunks", "2", "--steps", "1", "--out", str(tmp_path / "s2.mp4"), "--save-latents", str(tmp_path / "s2.pt")]) == 0
    assert main(["extend", "--model", str(folders["wan2.1"]), "--latents", str(tmp_path / "s2.pt"), "--chunks", "1",
                 "--steps", "1", "--out", str(alone)]) == 0
    assert json.loads(alone.with_suffix(".json").read_text())["prompt"] == "a blue square"


def test_extension_of_a_timeline_in_seconds_goes_on_with_its_last_prompt(folders, tmp_path):
    """`generate` with a timeline in seconds: its extension (from the mp4's sidecar, or its latents alone) continues with
    the prompt of the video's last second (it was refused, or the whole timeline handed to a stream)."""
    made = tmp_path / "t.mp4"
    assert main(["generate", "--model", str(folders["wan2.1"]), "--prompt", "0s: a red circle; 0.5s: a blue square",
                 "--ratio", "2", "--steps", "1", "--out", str(made), "--save-latents", str(tmp_path / "t.pt")]) == 0
    for source in (["--video", str(made)], ["--latents", str(tmp_path / "t.pt")]):
        out = tmp_path / f"x{len(source[1])}.mp4"
        assert main(["extend", "--model", str(folders["wan2.1"]), *source, "--chunks", "1", "--steps", "1",
                     "--out", str(out)]) == 0
        assert json.loads(out.with_suffix(".json").read_text())["prompt"] == "a blue square", source


def test_an_output_that_is_the_input_is_refused_even_with_overwrite(folders, made, tmp_path, capsys):
    """--out being --video would write the video while reading it (a run stopped mid-way leaves neither): refused in one
    line before loading, as is an --out whose sidecar is the video's; --save-latents may replace the --latents it reads (read
    whole first, replaced atomically)."""
    import shutil

    video = Path(shutil.copy(made, tmp_path / "in.mp4"))
    shutil.copy(made.with_suffix(".json"), tmp_path / "in.json")
    before = video.read_bytes()
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(video), "--chunks", "1", "--out", str(video),
                 "--overwrite"]) == 2
    assert "--video " + str(video) + " is also an output of this run" in capsys.readouterr().err
    assert video.read_bytes() == before
    sidecar = (tmp_path / "in.json").read_bytes()  # another name with the same sidecar: in.MP4 would write in.json
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(video), "--chunks", "1",
                 "--out", str(tmp_path / "in.MP4"), "--overwrite"]) == 2
    refusal = f"--out {tmp_path / 'in.MP4'} would write {tmp_path / 'in.json'}, the sidecar of --video {video}"
    assert refusal in capsys.readouterr().err
    assert (tmp_path / "in.json").read_bytes() == sidecar and not (tmp_path / "in.MP4").exists()


def test_an_extension_interrupted_while_its_input_is_copied_leaves_no_output(folders, made, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the input's frames are copied into the output, before any new chunk: no output (a part copy of the
    input under the output's name is no result), exit 130, the stream's one line."""
    from vidlong import streaming

    real_iter = streaming.VideoStreamer.__iter__

    def interrupted(self):
        for chunk in real_iter(self):
            yield chunk
            if chunk.is_input:
                raise KeyboardInterrupt

    monkeypatch.setattr(streaming.VideoStreamer, "__iter__", interrupted)
    capsys.readouterr()
    assert main(["extend", "--model", str(folders["wan2.1"]), "--video", str(made), "--chunks", "1",
                 "--out", str(tmp_path / "x.mp4")]) == 130
    assert "interrupted before the first chunk; nothing written" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["i2v", "i2v-a14b", "ti2v-i2v"])
def test_image_to_video_extension(tmp_path_factory, made, kind):
    """An image-to-video model extends with its windows conditioned on the context's first frame."""
    video, _ = read_video(made)
    pipe = vidlong.load_pipeline(save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind), device="cpu")
    stream = pipe.extend("a red circle", video=video, streaming=SMALL, chunks=2)
    items = list(stream)
    assert np.array_equal(items[0].frames, video) and [len(c.frames) for c in items[1:]] == [4, 4]
    assert stream.condition is not None and stream.context_mode == "renoise"


def test_python_video_may_be_a_tensor_or_a_list_of_frames():
    from vidlong.extend import as_video_frames

    frames = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    for given in (torch.from_numpy(frames), list(frames)):
        assert np.array_equal(as_video_frames(given), frames)


def test_latents_metadata_is_saved_as_plain_values(tmp_path):
    """NumPy scalars are saved as numbers; anything `load_latents` could not read back is refused, and so are the file's
    own entries as metadata and a path that is a folder or in none, in one line."""
    latents = torch.zeros(1, 4, 2, 4, 4)
    save_latents(tmp_path / "a.pt", latents, fps=np.float64(8), prompt="a red ball")
    assert load_latents(tmp_path / "a.pt")[1]["fps"] == 8.0
    for path, meta, message in ((tmp_path / "b.pt", dict(model=object()), "plain values"),
                                (tmp_path / "b.pt", dict(format="mine"), "format= is the file's own entry"),
                                (tmp_path, {}, f"save_latents {tmp_path} is a folder; name a file in it"),
                                (tmp_path / "no" / "b.pt", {}, f"folder {tmp_path / 'no'} does not exist; create it first")):
        with pytest.raises(vidlong.VidlongError, match=re.escape(message)):
            save_latents(path, latents, **meta)
    assert not (tmp_path / "b.pt").exists()


def test_save_latents_is_taken_wherever_vidlong_extend_runs_the_model(tmp_path, image_path, monkeypatch, capsys):
    """`--save-latents` (what `vidlong extend --latents` continues) is taken for an image-to-video model whose vidlong.yaml
    asks its streams for the KV cache (its extensions run with the re-noised context), and refused in one line before
    loading for one that does not extend (Wan VACE)."""
    import yaml
    from tiny_pipeline import save_tiny_vace_pipeline

    from vidlong.errors import VidlongError

    i2v = save_tiny_pipeline(tmp_path / "i2v", "i2v")
    spec = yaml.safe_load((i2v / "vidlong.yaml").read_text())
    (i2v / "vidlong.yaml").write_text(yaml.safe_dump(dict(spec, stream_context="cache")))
    vace = save_tiny_vace_pipeline(tmp_path / "vace")
    capsys.readouterr()  # the saves' progress
    monkeypatch.setattr(pipeline_module, "load_pipeline", lambda *a, **k: (_ for _ in ()).throw(VidlongError("LOADED")))
    for folder, extra, expected in [
        (i2v, ["--image", str(image_path)], "LOADED"),
        (vace, [], "vidlong extend does not run this model: drop --save-latents"),
    ]:
        assert main(["generate", "--model", str(folder), "--prompt", "a red ball", *extra, "--out", str(tmp_path / "x.mp4"),
                     "--save-latents", str(tmp_path / "x.pt")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0], err
