"""The Gradio app served for real on localhost with a tiny WanPipeline, driven through `gradio_client`
and through a headless Chromium (Playwright); plus the `vidlong app` subcommand's parser."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import time
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest  # noqa: E402
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tiny_pipeline import NATIVE_LATENT_FRAMES, save_tiny_pipeline  # noqa: E402
from vidlong.apps.cli import add_app_parser  # noqa: E402
from vidlong.errors import VidlongError  # noqa: E402
from vidlong.pipeline import load_pipeline  # noqa: E402
from vidlong.video_io import read_video  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
EMPTY_PROMPT = 'the prompt is empty; describe the video, e.g. "a red circle and a blue square"'  # vidlong.generate's one-line message
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


@pytest.fixture(scope="module")
def demo(model_dir):
    """The app on a free localhost port, in this process; shut down after the module."""
    from vidlong.apps import gradio_app

    demo = gradio_app.build_app(load_pipeline(model_dir, device="cpu"))
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True,
                show_error=True)
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def server(demo):
    return demo.local_url


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server, verbose=False, analytics_enabled=False,
                  download_files=str(tmp_path_factory.mktemp("client-downloads")))


def video_path(output) -> str:
    """The file of a gr.Video output as gradio_client hands it back (a path, or a dict holding one)."""
    return output["video"] if isinstance(output, dict) else output


def test_client_generates_mp4(client):
    video, settings = client.predict(prompt="a red circle bouncing", method="both", ratio=2, api_name="/generate")
    latent = 2 * NATIVE_LATENT_FRAMES
    frames, fps = read_video(video_path(video))
    assert frames.shape == ((latent - 1) * 4 + 1, 32, 32, 3)
    assert fps == pytest.approx(8)
    assert settings["latent_frames"] == latent and settings["pixel_frames"] == frames.shape[0]
    assert settings["method"] == "both" and [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"]
    assert settings["prompt"] == "a red circle bouncing" and settings["preset"] is None


def test_client_options_map_to_request(client):
    _, settings = client.predict(prompt="a blue square", method="freelong", preset="4x", ratio=1.5, steps=1,
                                 guidance=1.0, seed=7, noise="plain", api_name="/generate")
    assert settings["latent_frames"] == round(1.5 * NATIVE_LATENT_FRAMES)
    assert (settings["preset"], settings["noise"], settings["steps"], settings["guidance"], settings["seed"]) == \
        ("4x", "plain", 1, 1.0, 7)
    assert [m["name"] for m in settings["methods"]] == ["SpectralFusion"]


def test_fifo_fields_reach_generates_diagonal_denoising_and_a_history_click_restores_them(demo, client):
    """The fifo method's fields through /generate: the `DiagonalDenoising` generate ran with (its settings' method)
    has them, the video differs from the method's defaults with the same seed, and a history click puts them back."""
    import numpy as np

    from vidlong.apps import gradio_app

    common = dict(prompt="a red circle", method="fifo", ratio=2, steps=1, seed=3, api_name="/generate")
    plain_video, plain = client.predict(**common)
    video, settings = client.predict(**common, partition_guidance=" 4.5,6,7.5 ", noise_correlation=0.5)
    ran = [(m["name"], m["guidance_by_partition"], m["noise_correlation"]) for run in (plain, settings) for m in run["methods"]]
    assert ran == [("DiagonalDenoising", None, 0), ("DiagonalDenoising", [4.5, 6, 7.5], 0.5)]
    assert not np.array_equal(read_video(video_path(video))[0], read_video(video_path(plain_video))[0])
    app = demo.vidlong_app
    for item, shown in zip(app.history.items(), [("4.5,6,7.5", 0.5), ("", 0)]):  # newest first
        form = dict(zip(gradio_app.FORM_FIELDS, app.reload(SimpleNamespace(value=item.video.name))[3:-4]))
        assert [form[name]["value"] for name in ("method", "partition_guidance", "noise_correlation")] == ["fifo", *shown]


def test_a_history_click_on_an_output_no_longer_kept_changes_nothing(demo):
    """An item the page still shows after the history dropped it (another tab's newer outputs): every output of the click
    left as it is, one update for each (not too few, which Gradio refuses)."""
    import gradio as gr

    select = next(fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == "reload")
    assert demo.vidlong_app.reload(SimpleNamespace(value="video-09999-0.mp4")) == (gr.update(),) * len(select.outputs)


def test_compare_gives_the_fifo_fields_to_its_fifo_run_alone(demo):
    app, fields = demo.vidlong_app, ("a red circle", "fifo", "none", 2, 1, None, 0, "auto", "", None, None, None, None)
    runs = app.compare_runs(["none", "fifo"], *fields, "1,3,3", 0.25, None, None)  # no video to redraw
    assert [(request.method, diagonal and (diagonal.guidance_by_partition, diagonal.noise_correlation))
            for request, diagonal in runs] == [("none", None), ("fifo", ((1, 3, 3), 0.25))]
    with pytest.raises(VidlongError, match="^Noise correlation is an option of the fifo method: clear it, or pick method fifo$"):
        app.compare_runs(["none", "both"], *fields, "", 0.25, None, None)


def test_a_video_given_to_generate_is_redrawn_at_its_length_and_frame_rate(demo, client, tmp_path):
    """Video-to-video on the page's model (Wan2.1's layout): the API's `video` and `strength` fields redraw the file at
    its own length and frame rate (the Length field is not used); the redraw inputs show where the model redraws."""
    import numpy as np
    from gradio_client import handle_file

    from vidlong.apps import gradio_app
    from vidlong.video_io import write_video

    source = tmp_path / "in.mp4"
    write_video(source, np.random.default_rng(0).integers(0, 255, (11, 32, 32, 3), dtype=np.uint8), fps=10)
    video, settings = client.predict(prompt="a red circle", method="both", ratio=3, steps=2, seed=1,
                                     video=handle_file(str(source)), strength=0.5, api_name="/generate")
    frames, fps = read_video(video_path(video))
    assert len(frames) == settings["pixel_frames"] == 9 and fps == 10 and settings["strength"] == 0.5
    assert settings["ratio"] == 1  # the video's length, not the Length field's 3
    assert demo.vidlong_app.limits.redraws
    for sent in ({"path": str(source)}, {"video": {"path": str(source)}}):  # the page's file data, or one in a dict
        note = demo.vidlong_app.length_note(3, "both", gradio_app.NO_PRESET, 2, None, None, sent, 0.5)
        assert note.startswith("The video to redraw (the Length field is not used): 3 latent frames = **9 frames**, "
                               "0.9 s at 10 fps")


def test_a_video_given_to_a_stream_is_redrawn_chunk_by_chunk_at_its_frame_rate(client, tmp_path):
    """The Stream tab's "Redraw a video" (the /stream API's `video` and `strength`): the file redrawn chunk by chunk, as
    long as it (the Seconds field is not used) and at its frame rate; the fifo method is refused with it in one line."""
    import numpy as np
    from gradio_client import handle_file

    from vidlong.video_io import write_video

    source = tmp_path / "in.mp4"
    write_video(source, np.random.default_rng(1).integers(0, 255, (23, 32, 32, 3), dtype=np.uint8), fps=10)
    streamed = client.predict(prompt="a red circle", seconds=1, chunk=2, steps=2, video=handle_file(str(source)), strength=0.5,
                              api_name="/stream")
    frames, fps = read_video(video_path(streamed[2]))
    settings = json.loads(Path(streamed[3]).read_text())
    assert len(frames) == settings["pixel_frames"] == 21 and fps == 10 and settings["fps"] == 10
    assert settings["chunks"] == 3 and settings["streaming"]["strength"] == 0.5 and settings["video"]
    with pytest.raises(AppError, match="a video is redrawn by the chunked method"):
        client.predict(prompt="a red circle", method="fifo", video=handle_file(str(source)), api_name="/stream")


def test_a_video_given_to_a_stream_to_continue_comes_first_then_the_new_chunks(demo, client, tmp_path, monkeypatch):
    """The Stream tab's "Continue a video" (the /stream API's `extend_video`, `pipe.extend`): the whole stream is the
    file's frames, then Seconds of new video at its frame rate (the timeline's seconds counting the new part), its
    sidecar vidlong extend's; the upload is decoded twice (once to count it and keep its last frames, once to write it
    into the stream and its live clip); a redraw video or a first-frame image beside it, and a file that is no video, are
    refused in one line."""
    import numpy as np
    import PIL.Image
    from gradio_client import handle_file

    from vidlong import video_io
    from vidlong.video_io import write_video

    source, junk = tmp_path / "in.mp4", tmp_path / "junk.mp4"
    ramp = np.linspace(0, 200, 32, dtype=np.float32)
    write_video(source, np.stack([np.broadcast_to((ramp[None, :, None] + 2 * t), (32, 32, 3)) for t in range(21)]).astype(np.uint8),
                fps=10)
    junk.write_bytes(b"no video")
    picture = tmp_path / "first.png"
    PIL.Image.new("RGB", (32, 32)).save(picture)
    timeline = {"headers": ["from second", "prompt"], "data": [[0.8, "a blue square"]]}  # the new part's 9th frame: chunk 1
    decoded, reader = [], video_io._frame_reader

    def counted(path):  # the frames each read hands out (a read of the header alone hands out none)
        frames = reader(path)
        yield next(frames)
        for frame in frames:
            decoded.append(Path(path).name)
            yield frame

    monkeypatch.setattr(video_io, "_frame_reader", counted)
    streamed = client.predict(prompt="a red circle", timeline=timeline, seconds=1, chunk=2, steps=2,
                              extend_video=handle_file(str(source)), api_name="/stream")
    assert decoded.count("in.mp4") == 2 * 21
    frames, fps = read_video(video_path(streamed[2]))
    settings = json.loads(Path(streamed[3]).read_text())
    assert settings["command"] == "extend" and settings["input_frames"] == 21 and settings["video"]
    assert settings["chunks"] == 2 and len(frames) == settings["pixel_frames"] == 21 + 2 * 8 and fps == settings["fps"] == 10
    assert settings["prompts"] == [[0, "a red circle"], [1, "a blue square"]]
    source_frames = read_video(source)[0]
    assert np.abs(frames[:21].astype(int) - source_frames.astype(int)).mean() < 3  # one more H.264 encode
    for continued, fields, message in (
            (source, dict(video=handle_file(str(source))), "Video to continue: the continuation starts from its own last "
             "frames; remove the video to redraw, or the video to continue"),
            (source, dict(image=handle_file(str(picture))), "Video to continue: the continuation starts from its own last "
             "frames; remove the first-frame image, or the video to continue"),
            (junk, dict(), r"^extend video junk.mp4 is not a readable video \(\w+\); pass an mp4 file$")):  # no server path
        with pytest.raises(AppError, match=message) as err:
            client.predict(prompt="a red circle", extend_video=handle_file(str(continued)), **fields, api_name="/stream")
        assert "\n" not in str(err.value)


def test_a_picture_given_as_the_video_to_redraw_names_the_first_frame_field(client, tmp_path):
    """A PNG uploaded as /generate's video: the refusal names the page's first-frame field where the CLI's says
    vidlong generate --image FILE (it read "use vidlong generate image in.png with an image-to-video model")."""
    from gradio_client import handle_file
    from PIL import Image

    picture = tmp_path / "in.png"
    Image.new("RGB", (32, 32), (200, 30, 30)).save(picture)
    with pytest.raises(AppError) as err:
        client.predict(prompt="a red circle", video=handle_file(str(picture)), api_name="/generate")
    assert str(err.value) == ('video in.png is an image, not a video; to start a video from it use the "First frame '
                              '(image-to-video)" field (/generate\'s image) with an image-to-video model')


def test_seed_minus_one_is_random_and_shown(client):
    seeds = {client.predict(prompt="a red circle", method="none", ratio=1, steps=1, seed=-1, api_name="/generate")[1]["seed"]
             for _ in range(2)}
    assert all(0 <= s < 2**31 for s in seeds) and len(seeds) == 2


@pytest.fixture
def slow(monkeypatch):
    """Every denoising step of `generate` in the app takes `delay` seconds longer, every decoded latent
    frame `decode_delay` (none unless a test watches the decode); records each run's (prompt, start, end)."""
    from vidlong.apps import gradio_app

    spans, real_generate = [], gradio_app.generate

    def slowed(pipe, request, progress=None, diagonal=None):
        start = time.monotonic()

        def report(stage, done, total):
            time.sleep({"denoise": slowed.delay, "decode": slowed.decode_delay}.get(stage, 0.0))
            progress(stage, done, total)

        try:
            return real_generate(pipe, request, progress=report, diagonal=diagonal)
        finally:
            spans.append((request.prompt, start, time.monotonic()))

    slowed.delay, slowed.decode_delay, slowed.spans = 0.05, 0.0, spans
    monkeypatch.setattr(gradio_app, "generate", slowed)
    return slowed


BAD_INPUTS = [  # (endpoint, fields, the start of the one-line message)
    ("/generate", dict(prompt="   "), EMPTY_PROMPT),
    ("/generate", dict(height=40), "height 40 must be a multiple of 16; use height 32 or 48"),
    ("/generate", dict(width=0), "Width must be from 16 to 1024, got 0"),
    ("/generate", dict(seed=2**64), f"Seed must be -1 (a random seed) or a whole number from 0 to {2**63 - 1}, got {2**64}"),
    ("/generate", dict(seed=-2), f"Seed must be -1 (a random seed) or a whole number from 0 to {2**63 - 1}, got -2"),
    ("/generate", dict(ratio=0), "Length must be from 1 to 8, got 0"),
    ("/generate", dict(ratio=1e9), "Length must be from 1 to 8, got 1e+09"),
    ("/generate", dict(ratio=None), "Length is empty; give a number from 1 to 8"),
    ("/generate", dict(steps=2.5), "Steps must be a whole number, got 2.5"),
    ("/generate", dict(seed=1.5), "Seed must be a whole number, got 1.5"),
    ("/generate", dict(steps=0), "Steps must be from 1 to 1000, got 0"),
    ("/generate", dict(steps=5000), "Steps must be from 1 to 1000, got 5000"),
    ("/generate", dict(guidance=-1), "Guidance must be from 0 to 100, got -1"),
    ("/generate", dict(guidance=1000), "Guidance must be from 0 to 100, got 1000"),
    ("/generate", dict(method="bogus"), "Method must be one of none, direct"),
    ("/generate", dict(preset="9x"), "Preset must be one of none, 2x"),
    ("/generate", dict(noise="bogus"), "Initial noise must be one of auto, plain, specmix, freenoise; got 'bogus'"),
    ("/generate", dict(method="fifo", partition_guidance="4.5,6"), "Guidance by partition takes 3 numbers from 1 to 100 separated "
     "by commas, one per partition of the queue, cleanest first (e.g. 4.5,6,7.5); got '4.5,6'"),
    ("/generate", dict(method="fifo", partition_guidance="4.5,six,7.5"), "Guidance by partition takes 3 numbers from 1 to 100"),
    ("/generate", dict(method="fifo", noise_correlation=0.99), "Noise correlation must be from 0 to 0.95, got 0.99"),
    ("/generate", dict(method="fifo", noise_correlation=None), "Noise correlation is empty; give a number from 0 to 0.95"),
    ("/generate", dict(method="both", partition_guidance="4.5,6,7.5"),
     "Guidance by partition is an option of the fifo method: clear it, or pick method fifo"),
    ("/generate", dict(method="none", noise_correlation=0.5), "Noise correlation is an option of the fifo method"),
    ("/stream", dict(prompt=""), "the prompt is empty"),
    ("/stream", dict(seconds=-5), "Seconds must be from 0 to 1e+07, got -5"),
    ("/stream", dict(seconds=1e12), "Seconds must be from 0 to 1e+07, got 1e+12"),
    ("/stream", dict(seconds=None), "Seconds is empty; give the seconds to stream, e.g. 10, or 0 to stream until stopped"),
    ("/stream", dict(chunk=0), "Chunk must be from 1 to 3, got 0"),
    ("/stream", dict(chunk=99), "Chunk must be from 1 to 3, got 99"),
    ("/stream", dict(steps=0), "Steps per chunk must be from 1 to 1000, got 0"),
    ("/stream", dict(guidance=101), "Guidance must be from 0 to 100, got 101"),
    ("/stream", dict(context="bogus"), "Context must be one of auto, cache, renoise; got 'bogus'"),
    ("/stream", dict(method="bogus"), "Stream method must be one of chunked, fifo; got 'bogus'"),
    ("/stream", dict(method="fifo", partition_guidance="0.5,6,7.5"), "Guidance by partition takes 3 numbers from 1 to 100"),
    ("/stream", dict(method="fifo", noise_correlation=-0.1), "Noise correlation must be from 0 to 0.95, got -0.1"),
    ("/stream", dict(partition_guidance="4.5,6,7.5"), "Guidance by partition is an option of the fifo method"),
    ("/stream", dict(noise_correlation=0.5), "Noise correlation is an option of the fifo method"),
    ("/stream", dict(timeline={"headers": ["from second", "prompt"], "data": [["soon", "a blue square"]]}),
     "prompt timeline: 'soon' is not a number of seconds"),
    ("/stream", dict(timeline={"headers": ["from second", "prompt"], "data": [[1, "a"], [1, "b"]]}),
     "prompt timeline: two prompts at 1 s ('a', 'b'); give each its own second"),
    ("/stream", dict(seconds=2, timeline={"headers": ["from second", "prompt"], "data": [[1e9, "a blue square"]]}),
     "prompt timeline entry at 1e+09 s would start with chunk 666666668, after the last of this 2 s stream's 2 (a prompt "
     "switches where a chunk starts)"),
    ("/stream", dict(seed=2**64), f"Seed must be -1 (a random seed) or a whole number from 0 to {2**63 - 1}"),
    ("/stream", dict(seed=-2), f"Seed must be -1 (a random seed) or a whole number from 0 to {2**63 - 1}, got -2"),
    ("/stream", dict(timeline={"headers": ["from second", "prompt"], "data": [[-1, "a blue square"]]}),
     "prompt timeline entry (-1 s, 'a blue square') needs seconds >= 0"),
]


@pytest.mark.parametrize("endpoint, fields, message", BAD_INPUTS)
def test_client_bad_input_is_one_line(demo, client, monkeypatch, endpoint, fields, message):
    """Refused in one line naming the field as the page does, before any work: nothing generated or written."""
    from vidlong.apps import gradio_app

    def fail(*args, **kwargs):
        raise AssertionError("a refused request reached the model")

    monkeypatch.setattr(gradio_app, "generate", fail)
    monkeypatch.setattr(gradio_app.VideoStreamer, "__iter__", fail)
    folder = demo.vidlong_app.folder.path
    before = sorted(folder.iterdir())
    with pytest.raises(AppError) as err:
        client.predict(**{"prompt": "a red circle", **fields}, api_name=endpoint)
    text = str(err.value)
    assert message in text and "\n" not in text and "Traceback" not in text and "--" not in text, text
    assert sorted(folder.iterdir()) == before


def test_a_payload_gradio_cannot_read_is_one_line(demo, client, tmp_path):
    """A file that is no image in an image field, a timeline sent as text (the CLI's form) through the API: refused in
    one line naming the field and what it takes (Gradio's own error is several lines and a server traceback); NaN or
    Infinity in a number field (the REST API takes them) likewise."""
    import gradio as gr
    from gradio_client import handle_file

    from vidlong.apps import fields

    not_an_image = tmp_path / "frame.png"
    not_an_image.write_text("not an image")
    for endpoint, given, message in (
            ("/generate", dict(image=handle_file(str(not_an_image))), "First frame must be an image file (PNG, JPEG, WebP)"),
            ("/generate", dict(last_image=handle_file(str(not_an_image))), "Last frame must be an image file"),
            ("/stream", dict(timeline="0: a red ball; 4: a blue ball"),
             "Prompt timeline must be a table of [second, prompt] rows")):
        with pytest.raises(AppError) as err:
            client.predict(prompt="a red circle", **given, api_name=endpoint)
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    seed = fields.Number(value=0, minimum=0, precision=0, label="Seed (-1: random)")
    for value in (float("nan"), float("inf")):
        with pytest.raises(gr.Error, match=f"Seed must be a finite number, got {value}"):
            seed.preprocess(value)


def test_one_generation_at_a_time(client, monkeypatch):
    from vidlong.apps import gradio_app

    spans, real_generate = [], gradio_app.generate

    def timed_generate(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_generate(*args, **kwargs)
        finally:
            spans.append((start, time.perf_counter()))

    monkeypatch.setattr(gradio_app, "generate", timed_generate)
    jobs = [client.submit(prompt=f"a red circle {i}", method="ultravico", ratio=1, api_name="/generate") for i in range(3)]
    results = [job.result(timeout=120) for job in jobs]
    assert [r[1]["prompt"] for r in results] == [f"a red circle {i}" for i in range(3)]
    spans.sort()
    assert len(spans) == 3 and all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def parse_app(*argv):
    parser = argparse.ArgumentParser(prog="vidlong")
    add_app_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["app", *argv])


def test_app_subcommand_options():
    args = parse_app("--model", "/some/wan", "--host", "0.0.0.0", "--port", "8000")
    assert (args.command, args.model, args.host, args.port, args.share) == ("app", "/some/wan", "0.0.0.0", 8000, False)
    defaults = parse_app()
    assert (defaults.model, defaults.host, defaults.port) == (None, "127.0.0.1", 7860)


def test_app_subcommand_errors_are_one_line(model_dir, monkeypatch):
    with pytest.raises(VidlongError, match="does not exist"):
        parse_app("--model", "/nonexistent/wan").run(parse_app("--model", "/nonexistent/wan"))
    args = parse_app("--model", str(model_dir), "--device", "cpu", "--dtype", "float16")
    with pytest.raises(VidlongError, match="float16 runs on CUDA only"):
        args.run(args)
    import vidlong.pipeline

    loaded = []
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: loaded.append(a))
    with socket.socket() as busy:  # the address refused before the model loads
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = parse_app("--model", str(model_dir), "--port", str(port))
        with pytest.raises(VidlongError, match=f"^port {port} on 127.0.0.1 is already in use; pass another --port$"):
            args.run(args)
    args = parse_app("--model", str(model_dir), "--host", "192.0.2.1", "--port", str(port))  # TEST-NET-1: no machine's
    with pytest.raises(VidlongError, match=r"^--host 192\.0\.2\.1 is not an address of this machine; use 127\.0\.0\.1"):
        args.run(args)

    def unknown_name(*_, **__):  # a resolver's answer to a mistyped name (a real lookup could wait on the network)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown_name)
    args = parse_app("--model", str(model_dir), "--host", "localhos", "--port", str(port))
    with pytest.raises(VidlongError, match="^--host localhos names no address; use 127.0.0.1"):
        args.run(args)
    assert loaded == []


@contextlib.contextmanager
def client_of(demo, downloads):
    """A client of `demo` (a built page) served on a free port, its downloads in `downloads`; the server closed afterwards."""
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, show_error=True)
    try:
        yield Client(demo.local_url, verbose=False, analytics_enabled=False, download_files=str(downloads))
    finally:
        demo.close()


@contextlib.contextmanager
def served_client(folder, downloads, task=None):
    """A client of the app served on a free port over the model folder `folder` (loaded for `task`, as ``vidlong app --task``
    loads it), closed afterwards."""
    from vidlong.apps import gradio_app

    with client_of(gradio_app.build_app(load_pipeline(folder, device="cpu", task=task)), downloads) as client:
        yield client


def test_image_to_video_model_takes_a_first_frame(tmp_path_factory):
    """An image-to-video folder gets the first-frame input (a first-last-frame one, Wan2.1 FLF2V's layout, the
    last-frame input too); the API takes the image files, and refuses a run without either in one line. A click on its
    history item puts back the first and last frames it was made from (the files the run used, in Gradio's cache), so
    Generate runs again from them."""
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image

    from vidlong.apps import gradio_app

    folder = save_tiny_pipeline(tmp_path_factory.mktemp("tiny-flf2v"), "flf2v")
    png = tmp_path_factory.mktemp("img") / "start.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(png)
    last = png.with_name("last.png")
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(last)
    with launched(folder, tmp_path_factory.mktemp("i2v-downloads")) as (demo, client):
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, steps=1, image=handle_file(str(png)),
                                         last_image=handle_file(str(last)), api_name="/generate")
        assert read_video(video_path(video))[0].shape[0] == 4 * (2 * NATIVE_LATENT_FRAMES - 1) + 1
        with pytest.raises(AppError, match="image-to-video: pass the first frame"):
            client.predict(prompt="a red circle", ratio=1, steps=1, api_name="/generate")
        with pytest.raises(AppError, match="takes the last frame too"):
            client.predict(prompt="a red circle", ratio=1, steps=1, image=handle_file(str(png)), api_name="/generate")
        app = demo.vidlong_app
        # a history click puts back the files the run was made from, so Generate runs again as it was
        shown = app.reload(SimpleNamespace(value=app.history.items()[0].video.name))
        form = {name: update["value"] for name, update in zip(gradio_app.FORM_FIELDS, shown[3:])}
        images = [update["value"] for update in shown[3 + len(gradio_app.FORM_FIELDS) + 6:][:2]]  # after its six boxes
        assert images == [settings["image"], settings["last_image"]]
        for given, kept in zip((png, last), images):
            assert np.array_equal(np.asarray(Image.open(kept)), np.asarray(Image.open(given)))
        request, _ = app.run(*[form[name] for name in gradio_app.FORM_FIELDS[:11]], *images)
        assert (request.image, request.last_image, request.seed) == (*images, settings["seed"])
        portrait = png.with_name("portrait.png")  # a first frame given on the page sets the size fields to its aspect
        Image.fromarray(np.random.default_rng(2).integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(portrait)
        assert [update["value"] for update in app.image_size(str(portrait))] == [32, 16]
        assert all("value" not in update for update in app.image_size(None))


def test_wan_animate_takes_the_character_and_its_driving_videos(tmp_path_factory):
    """A Wan Animate folder: the API's `image` (the character), `pose_video` and `face_video` make a video of the pose
    video's length and frame rate; the length note says so and names the segments; without a face video a run is refused
    in one line, and so is a stream."""
    from gradio_client import handle_file
    from tiny_pipeline import save_tiny_wan_animate_pipeline, write_driving_files

    from vidlong.apps import gradio_app

    folder = save_tiny_wan_animate_pipeline(tmp_path_factory.mktemp("tiny-animate"), num_inference_steps=1)
    given = write_driving_files(tmp_path_factory.mktemp("animate-inputs"), 11, 10, seed=3)
    files = dict(image=handle_file(given["--image"]), pose_video=handle_file(given["--pose-video"]))
    with served_client(folder, tmp_path_factory.mktemp("animate-downloads")) as client:
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, **files,
                                         face_video=handle_file(given["--face-video"]), api_name="/generate")
        frames, fps = read_video(video_path(video))
        assert len(frames) == settings["pixel_frames"] == 11 and fps == 10 and settings["segments"] == 1
        assert settings["segment_overlap"] == 1  # the page's default, its call's
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, **files, segment_overlap=5,
                                         face_video=handle_file(given["--face-video"]), api_name="/generate")
        assert settings["segment_overlap"] == 5 and len(read_video(video_path(video))[0]) == 11
        with pytest.raises(AppError, match="^ratio 1 makes segments of 5 frames, no longer than the 5 of segment overlap"):
            client.predict(prompt="a red circle", ratio=1, **files, segment_overlap=5,
                           face_video=handle_file(given["--face-video"]), api_name="/generate")
        with pytest.raises(AppError, match="^this Wan Animate model moves the character of image with a pose and a face "
                                           "video: pass face video face.mp4$"):
            client.predict(prompt="a red circle", **files, api_name="/generate")
        with pytest.raises(AppError, match="streaming is not available for WanAnimateTransformer3DModel"):
            client.predict(prompt="a red circle", seconds=1, image=files["image"], api_name="/stream")
    app = gradio_app.App(load_pipeline(folder, device="cpu"))
    note = app.length_note(1, "both", gradio_app.NO_PRESET, 1, None, None, None, 0.8, {"path": given["--pose-video"]},
                           {"path": given["--face-video"]})
    assert note.startswith("As long as the pose video: **11 frames**, 1.1 s at 10 fps, in 3 segments of 5 frames "
                           "(1× the native window of 3 latent frames). Estimate"), note


def test_wan_vace_follows_an_uploaded_control_video(tmp_path_factory):
    """A Wan VACE folder: the API's `control_video` (and `mask_video`, `reference_images`) make a video as long as the
    control video, at its frame rate, whatever the Length field says; the length note says so; a mask alone is refused in
    one line."""
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image
    from tiny_pipeline import save_tiny_vace_pipeline

    from vidlong.apps import gradio_app
    from vidlong.video_io import write_video

    folder = save_tiny_vace_pipeline(tmp_path_factory.mktemp("tiny-vace"), num_inference_steps=1)
    inputs, rng = tmp_path_factory.mktemp("vace-inputs"), np.random.default_rng(5)
    write_video(inputs / "control.mp4", rng.integers(0, 255, (14, 32, 32, 3), dtype=np.uint8), fps=10)
    write_video(inputs / "mask.mp4", np.full((14, 32, 32, 3), 255, np.uint8), fps=10)
    with served_client(folder, tmp_path_factory.mktemp("vace-downloads")) as client:
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(inputs / "subject.png")
        video, settings = client.predict(prompt="a red circle", method="both", ratio=3, api_name="/generate",
                                         control_video=handle_file(str(inputs / "control.mp4")),
                                         mask_video=handle_file(str(inputs / "mask.mp4")),
                                         reference_images=[handle_file(str(inputs / "subject.png"))])
        frames, fps = read_video(video_path(video))
        assert len(frames) == settings["pixel_frames"] == 13 and fps == 10 and settings["ratio"] == 4 / 3
        assert len(settings["reference_images"]) == 1
        with pytest.raises(AppError, match="^mask video marks where a VACE model generates over its control video: pass "
                                           "control video too$"):
            client.predict(prompt="a red circle", mask_video=handle_file(str(inputs / "mask.mp4")), api_name="/generate")
    app = gradio_app.App(load_pipeline(folder, device="cpu"))
    note = app.length_note(3, "both", gradio_app.NO_PRESET, 1, None, None, None, 0.8, None, None, None, None,
                           {"path": str(inputs / "control.mp4")})
    assert note.startswith("The control video (the Length field is not used): 4 latent frames = **13 frames**, 1.3 s at "
                           "10 fps"), note


def test_a_cogvideox_fun_control_model_follows_an_uploaded_control_video(tmp_path_factory):
    """A CogVideoX-Fun control folder: the API's `control_video` makes a video as long as the control video (its most 8k+1
    frames) at its frame rate; generating without one, or with a mask video, is refused in one line."""
    import numpy as np
    from gradio_client import handle_file
    from tiny_pipeline import save_tiny_cogvideox_fun_pipeline

    from vidlong.video_io import write_video

    folder = save_tiny_cogvideox_fun_pipeline(tmp_path_factory.mktemp("tiny-fun"), num_inference_steps=1)
    inputs = tmp_path_factory.mktemp("fun-inputs")
    write_video(inputs / "control.mp4", np.random.default_rng(6).integers(0, 255, (20, 32, 48, 3), dtype=np.uint8), fps=10)
    with served_client(folder, tmp_path_factory.mktemp("fun-downloads")) as client:
        video, settings = client.predict(prompt="a red circle", method="both", api_name="/generate",
                                         control_video=handle_file(str(inputs / "control.mp4")))
        frames, fps = read_video(video_path(video))
        assert len(frames) == settings["pixel_frames"] == 17 and fps == 10
        with pytest.raises(AppError, match="^a CogVideoX-Fun control model follows a control video: pass control video"):
            client.predict(prompt="a red circle", api_name="/generate")
        with pytest.raises(AppError, match="^mask video marks where a VACE model generates; a CogVideoX-Fun control model"):
            client.predict(prompt="a red circle", control_video=handle_file(str(inputs / "control.mp4")),
                           mask_video=handle_file(str(inputs / "control.mp4")), api_name="/generate")


def field(demo, label: str):
    """The block of `demo` labelled `label`."""
    return next(block for block in demo.blocks.values() if getattr(block, "label", None) == label)


def recache_field(demo):
    """The Stream tab's "Re-encode the cache on a prompt switch" checkbox of `demo`."""
    return field(demo, "Re-encode the cache on a prompt switch")


def test_the_length_slider_says_a_number_typed_past_its_end_becomes_its_end(demo):
    """Gradio's slider sets a number typed past its maximum to the maximum when its box is left, without a word: its note
    says so, and where a longer video is made (the Stream tab only on a page that streams)."""
    from vidlong.apps import gradio_app

    info = field_with_id(demo, "ratio").info
    assert field_with_id(demo, "ratio").maximum == 8 and "1 to 8: a number typed past 8 becomes 8 when you leave the box" in info
    assert info.endswith("longer: vidlong generate --ratio, or the Stream tab, any length)")
    assert gradio_app.length_info(False).endswith("longer: vidlong generate --ratio)")


def test_the_page_offers_what_the_model_runs_and_the_recache_field_only_where_a_switch_may_keep_a_cache(demo, tmp_path_factory):
    """"Re-encode the cache on a prompt switch" acts on a KV-cache stream that may keep its cache on a switch: shown for a
    text-to-video Wan model, hidden for an image-to-video one (it streams with the re-noised context alone), also when the
    Stream method goes back from fifo to chunked, for Motif-Video (a family with no cache), for AnyFlow FAR (each chunk
    encodes its cache again) and for Helios (no cache: each chunk reads its history). AnyFlow FAR's and Helios's pages offer
    no method their models refuse: none and direct, none by default (the API's too), no Compare nor Preset, their own
    context alone; the API still takes the others to the refusal that says why. The Stream tab's chunk is the model's
    own where it has one (Helios's page, its call's chunk of 4 latent frames), else vidlong's 3."""
    from test_anyflow_far import saved_folder as far_folder
    from test_helios import saved_folder as helios_folder
    from test_motif_video import saved_folder
    from vidlong.apps import gradio_app

    i2v = gradio_app.build_app(load_pipeline(save_tiny_pipeline(tmp_path_factory.mktemp("tiny-i2v-recache"), "i2v"),
                                             device="cpu"))
    motif = gradio_app.build_app(load_pipeline(saved_folder(tmp_path_factory.mktemp("motif-recache")), device="cpu"))
    far = gradio_app.build_app(load_pipeline(far_folder(tmp_path_factory.mktemp("far-page")), device="cpu"))
    helios = gradio_app.build_app(load_pipeline(helios_folder(tmp_path_factory.mktemp("helios-page"), native=4), device="cpu"))
    assert [field(page, "Chunk (latent frames)").value for page in (demo, helios)] == [3, 4]  # Helios's: its call's chunk
    assert [recache_field(page).visible for page in (demo, i2v, motif, far, helios)] == [True, False, False, False, False]
    assert [page.vidlong_app.method_fields("chunked")[3]["visible"] for page in (demo, i2v, far, helios)] == [True] + [False] * 3
    offered = [[choice for choice, _ in field(page, label).choices] for page in (demo, far, helios)
               for label in ("Method", "Context")]
    assert offered == [list(gradio_app.METHOD_NAMES), ["auto", "cache", "renoise"]] + [["none", "direct"], ["auto", "cache"]] * 2
    assert [field(page, "Method").value for page in (demo, far, helios)] == ["both", "none", "none"]
    for page in (far, helios):  # presets set methods, which these run none of
        assert not field(page, "Compare methods").visible and not field(page, "Preset").visible
    assert field(demo, "Compare methods").visible and field(demo, "Preset").visible
    api_methods = [next(f.fn for f in page.fns.values() if f.api_name == "generate").__defaults__[0]
                   for page in (demo, far, helios)]
    assert api_methods == ["both", "none", "none"]  # /generate's method when none is given
    assert field(far, "Method").preprocess("both") == "both"  # through the API to the model's own refusal, which says why
    with pytest.raises(gradio_app.gr.Error, match="Method must be one of none, direct; got 'bogus'"):
        field(far, "Method").preprocess("bogus")


def test_a_refusal_points_to_the_pages_place_for_a_video_not_a_garbled_command(tmp_path_factory):
    """A Motif-Video text-to-video folder (it extends, and redraws no video): an image, or a video to redraw, through the
    API is refused in one line that points to the Stream tab's "Continue a video" (/stream's extend_video), not to the
    command line's `vidlong extend --video` with its flag cut to "vidlong extend video"."""
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image
    from test_motif_video import saved_folder

    from vidlong.video_io import write_video

    inputs = tmp_path_factory.mktemp("motif-inputs")
    Image.new("RGB", (48, 32)).save(inputs / "first.png")
    write_video(inputs / "in.mp4", np.zeros((9, 32, 48, 3), np.uint8), fps=24)
    place = 'the Stream tab\'s "Continue a video" (/stream\'s extend_video)'
    with served_client(saved_folder(tmp_path_factory.mktemp("motif")), tmp_path_factory.mktemp("motif-downloads")) as client:
        for given, message in ((dict(image=handle_file(str(inputs / "first.png"))), f", or {place} from a 1-frame video"),
                               (dict(video=handle_file(str(inputs / "in.mp4"))), f"; to continue a video use {place}")):
            with pytest.raises(AppError) as err:
                client.predict(prompt="a red circle", ratio=1, **given, api_name="/generate")
            assert str(err.value).endswith(message) and "vidlong" not in str(err.value), str(err.value)


@pytest.fixture(scope="module")
def lucy_edit(tmp_path_factory):
    """(the app `launch` serves over the tiny Lucy Edit folder of `test_lucy_edit`, its client, an 11-frame 16x16 mp4 at
    10 fps to edit)."""
    import numpy as np
    from test_lucy_edit import NATIVE
    from tiny_pipeline import save_tiny_lucy_pipeline

    from vidlong.apps import gradio_app
    from vidlong.video_io import write_video

    folder = save_tiny_lucy_pipeline(tmp_path_factory.mktemp("lucy"), native_frames=NATIVE)
    source = tmp_path_factory.mktemp("lucy-inputs") / "in.mp4"
    write_video(source, np.random.default_rng(7).integers(0, 255, (11, 16, 16, 3), dtype=np.uint8), fps=10)
    demo = gradio_app.launch(model=str(folder), port=free_port(), device="cpu", prevent_thread_lock=True, quiet=True)
    try:
        yield demo, Client(demo.local_url, verbose=False, analytics_enabled=False,
                           download_files=str(tmp_path_factory.mktemp("lucy-downloads"))), source
    finally:
        demo.close()


def test_a_lucy_edit_folder_opens_on_a_page_that_edits_an_uploaded_video(lucy_edit):
    """`launch` serves a Lucy Edit folder: its Generate tab's "Edit a video" (open) takes the video to edit, with no
    Strength or Length field, and the length note asks for it; its Stream tab edits one chunk by chunk, with no Seconds,
    Stream method (fifo takes no video) or "Continue a video"; the methods offered are those it runs (no fifo), Compare
    among them; the page and the API's default send no strength."""
    from vidlong.apps import gradio_app

    demo, _, source = lucy_edit
    app = demo.vidlong_app
    assert field(demo, "Edit a video").open and field(demo, "Edit a video, chunk by chunk").open
    for label in ("Video to edit: the prompt edits it; the edit is as long as it, at its frame rate and aspect",
                  "Video to edit: the prompt edits it chunk by chunk, at any length (the stream is as long as it), at its "
                  "frame rate and aspect", "Stream", "Compare methods", "Preset"):
        assert field(demo, label).visible, label
    strengths = [block for block in demo.blocks.values() if getattr(block, "label", None) == "Strength (an edit takes none)"]
    assert len(strengths) == 2 and all(not block.visible and block.value is None for block in strengths)
    for label in ("Length (× native window)", "Seconds (0: until stopped)", "Stream method", "Continue a video"):
        assert not field(demo, label).visible, label
    assert "fifo" not in app.methods and [choice for choice, _ in field(demo, "Method").choices] == app.methods
    assert [choice for choice, _ in field(demo, "Methods (2-4), same prompt and seed").choices] == app.methods
    assert field(demo, "Length (× native window)").value == 2 and app.method == "both"
    assert app.length_note(2, "both") == "Upload the video to edit: the edit is as long as it, at its frame rate and aspect."
    note = app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, {"path": str(source)}, None)
    assert note.startswith("The edit is as long as the video to edit: 3 latent frames = **9 frames**, 0.9 s at 10 fps"), note
    fields = ("make it snowy", "both", "none", 2, None, None, 0, "auto", "", None, None, None, None)
    runs = app.compare_runs(["none", "both"], *fields, "", 0, str(source), None)  # methods over one edited video
    assert [(request.method, request.video, request.strength) for request, _ in runs] == [("none", str(source), None),
                                                                                          ("both", str(source), None)]


def test_lucy_edit_generates_an_edit_of_an_uploaded_mp4_at_its_length_and_refuses_a_missing_video_or_a_strength(lucy_edit):
    """/generate edits an 11-frame mp4 at 10 fps into its 9 frames (its most 4k+1) at 10 fps with both methods, no
    strength; with no video it is refused in one line naming the field, and so is a strength (an edit takes none, as the
    CLI's --strength is refused)."""
    from gradio_client import handle_file

    _, client, source = lucy_edit
    video, settings = client.predict(prompt="make it snowy", video=handle_file(str(source)), api_name="/generate")
    frames, fps = read_video(video_path(video))
    assert frames.shape == (9, 16, 16, 3) and fps == 10 and settings["pixel_frames"] == 9
    assert settings["strength"] is None and [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"]
    for given, message in ((dict(), "^Video to edit is empty: Lucy Edit edits a given video by the prompt; upload it "
                                    r"\(/generate's video\)$"),
                           (dict(video=handle_file(str(source)), strength=0.5), "^strength is how much of a video is "
                            r"redrawn, and Lucy Edit edits the whole video by the prompt \(every step runs\): drop strength$")):
        with pytest.raises(AppError, match=message):
            client.predict(prompt="make it snowy", **given, api_name="/generate")


def test_lucy_edit_streams_an_edit_of_an_uploaded_mp4_chunk_by_chunk_and_stop_keeps_the_chunks_made(lucy_edit):
    """/stream edits the mp4 chunk by chunk (chunks of 1 latent frame: 3), each chunk's clip shown live, the whole stream
    its 9 frames at 10 fps whatever Seconds says, no strength; Stop at the second chunk's first step keeps the first
    chunk; no video, a strength, a video to continue (it does not extend) and the fifo method are refused in one line."""
    from gradio_client import handle_file

    demo, client, source = lucy_edit
    job = client.submit(prompt="make it snowy", seconds=30, chunk=1, video=handle_file(str(source)), api_name="/stream")
    streamed = job.result()
    assert [status.split(":")[0] for _, status, *_ in job.outputs()[:-1]] == ["chunk 1/3", "chunk 2/3", "chunk 3/3"]
    frames, fps = read_video(video_path(streamed[2]))
    settings = json.loads(Path(streamed[3]).read_text())
    assert frames.shape == (9, 16, 16, 3) and fps == 10 and settings["chunks"] == 3 and settings["streaming"]["strength"] is None
    app = demo.vidlong_app
    streamer, chunks, _ = app.streamer("make it snowy", [], 10, 1, "auto", True, 2, None, 0, video=str(source))
    kinds, checks = stream_stopped_at(app, streamer, chunks, 3 + 2)  # 0 and 2 steps a chunk: the second chunk's first step
    assert [kind for kind, _ in kinds if kind != "status"] == ["chunk", "done"] and kinds[-1][1].settings["chunks"] == 1
    for given, message in (
            (dict(), r"^Video to edit is empty: Lucy Edit edits a given video by the prompt; upload it \(/stream's video\)$"),
            (dict(video=handle_file(str(source)), strength=0.5), "Lucy Edit edits the whole video by the prompt"),
            (dict(extend_video=handle_file(str(source))), "it does not extend; edit a video of any length chunk by chunk "
                                                          "with the Stream tab's \"Edit a video, chunk by chunk\" "
                                                          r"\(/stream's video\)$"),
            (dict(video=handle_file(str(source)), method="fifo"), "^a video is edited by the chunked method; choose Stream "
                                                                  "method chunked$")):
        with pytest.raises(AppError, match=message):
            client.predict(prompt="make it snowy", **given, api_name="/stream")


@pytest.fixture(scope="module")
def chronoedit(tmp_path_factory):
    """(the app `launch` serves over the tiny ChronoEdit folder of `test_chronoedit`, its client)."""
    from test_chronoedit import NATIVE
    from tiny_pipeline import save_tiny_chronoedit_pipeline

    folder = save_tiny_chronoedit_pipeline(tmp_path_factory.mktemp("chronoedit"), native_frames=NATIVE)
    with launched(folder, tmp_path_factory.mktemp("chronoedit-downloads")) as served:
        yield served


def test_a_chronoedit_page_edits_an_uploaded_image_and_gives_the_edit_as_an_image_and_a_png(chronoedit, image_path):
    """A ChronoEdit folder (`ChronoEditPipeline`, an image editor), served by `launch`: its image field is the image to edit,
    the edited image and its PNG download are shown beside the video, Compare is offered, its Stream tab (with Continue a
    video) is hidden and its header says so; its length note and /generate with both at 2x: the video from the image to
    the edit (6 latent = 21 frames at 8 fps); /generate returns it, its settings and the edit's PNG third: `generate`'s
    last frame for the same request bit for bit, the server's file beside its mp4 (``video-*.edited.png``, as `vidlong
    generate` writes it) named in the settings and the sidecar. Without the image it is refused in one line naming the
    field; /stream, with a video to continue too, in one line saying why."""
    import gradio as gr
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image

    from vidlong.apps import gradio_app
    from vidlong.generate import GenerateRequest, generate

    demo, client = chronoedit
    app = demo.vidlong_app
    shown = {block.label: block.visible for block in demo.blocks.values() if isinstance(block, (gr.Tab, gr.Accordion))}
    assert [shown[label] for label in ("Generate", "Compare methods", "Stream", "Continue a video")] == [True, True, False, False]
    for label in (gradio_app.EDITED_IMAGE_LABEL, "Edited image (the video's last frame)", "Edited image (.png)"):
        assert field(demo, label).visible, label
    assert "Edit an image by the prompt" in header(demo) and "This model does not stream: its Stream tab is hidden." in header(demo)
    note = app.length_note(2, "both")
    assert note.startswith("The video from the image to its edit (its last frame): 6 latent frames = **21 frames**"), note
    image = handle_file(str(image_path))
    video, settings, png = client.predict(prompt="a red ball", method="both", ratio=2, image=image, api_name="/generate")
    frames, fps = read_video(video_path(video))
    assert frames.shape == (21, 32, 32, 3) and fps == 8 and settings["pixel_frames"] == 21
    item = app.history.items()[0]
    assert settings["edited_image"] == str(item.video.with_suffix(".edited.png")) == str(item.edited_image)
    assert json.loads(item.sidecar.read_text())["edited_image"] == settings["edited_image"]
    assert Path(png).read_bytes() == item.edited_image.read_bytes()
    ours = generate(app.pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=0, image=str(image_path), method="both"))
    assert np.array_equal(np.asarray(Image.open(png)), ours.frames[-1])
    with pytest.raises(AppError, match=r"^Image to edit is empty: ChronoEdit edits a given image by the prompt; upload it "
                                       r"\(/generate's image\)$"):
        client.predict(prompt="a red ball", api_name="/generate")
    for given in ({}, dict(extend_video=handle_file(video_path(video)))):
        with pytest.raises(AppError, match="^streaming is not available for ChronoEditTransformer3DModel: its call edits one "
                                           "image in one short clip") as err:
            client.predict(prompt="a red ball", seconds=1, image=image, api_name="/stream", **given)
        assert "\n" not in str(err.value)


def test_a_chronoedit_comparison_shows_both_edits_and_a_history_click_brings_an_edit_back(chronoedit, image_path):
    """Compare none and both on the ChronoEdit page (its page event): the side-by-side video, and as the edited image and
    its PNG both edits side by side (`side_by_side` of each method's `generate` last frame, labelled as the video's panels),
    named in its settings; a history click brings back the comparison's edit with its video, and one on the plain run
    before it (/generate, 1x) that run's edit."""
    import asyncio

    import numpy as np
    from gradio_client import handle_file
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate
    from vidlong.panels import side_by_side

    demo, client = chronoedit
    app = demo.vidlong_app
    client.predict(prompt="a red ball", method="none", ratio=1, image=handle_file(str(image_path)), api_name="/generate")
    fields = ("a red ball", "both", "none", 2, None, None, 0, "auto", "", None, None, str(image_path), None, "", 0, None, None,
              *[None] * 8)
    outputs = asyncio.run(app.generate_event(app.compare_runs, (["none", "both"], *fields), None, lambda *a, **k: None, True))
    video, settings, sidecar, _, edited, download, hdr = outputs
    edits = {method: generate(app.pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=0, image=str(image_path),
                                                        method=method)).frames for method in settings["compared"]}
    assert settings["compared"] == ["none", "both"] and edited == download == settings["edited_image"] and hdr is None
    assert np.array_equal(np.asarray(Image.open(edited)), side_by_side(edits)[-1])
    comparison, plain = (app.history.items()[i] for i in (0, 1))
    for item in (comparison, plain):
        shown = app.reload(SimpleNamespace(value=item.video.name))
        assert shown[0] == str(item.video) and shown[-3:] == (str(item.edited_image),) * 2 + (None,)


def test_an_edited_image_leaves_the_disk_with_its_video(tmp_path):
    """The history's outputs beyond its newest `keep` leave the disk with the edited image and linear HDR frames their
    settings name."""
    from vidlong.apps.outputs import History, OutputFolder

    history = History(OutputFolder(tmp_path), keep=1)
    folder = history.folder.path
    for name in ("a", "b"):
        (folder / f"{name}.mp4").write_bytes(b"video")
        (folder / f"{name}.edited.png").write_bytes(b"png")
        (folder / f"{name}.hdr.npy").write_bytes(b"npy")
        history.add(folder / f"{name}.mp4", {"edited_image": str(folder / f"{name}.edited.png"),
                                             "hdr_video": str(folder / f"{name}.hdr.npy")}, name)
    assert sorted(path.name for path in folder.iterdir()) == ["b.edited.png", "b.hdr.npy", "b.json", "b.mp4"]


def test_another_family_generates_and_streams_and_refuses_the_cache_in_one_line(tmp_path_factory):
    """An LTX-Video folder (`LTXPipeline`): generate and stream (re-noised context, and by diagonal denoising)
    work through the API; a KV-cache stream is refused in one line."""
    import yaml
    from tiny_pipeline import tiny_ltx_pipeline

    folder = tmp_path_factory.mktemp("tiny-ltx")
    tiny_ltx_pipeline().save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-ltx", native_frames=2, height=64, width=64, fps=25,
                                                             num_inference_steps=1, guidance_scale=2.0)))
    with served_client(folder, tmp_path_factory.mktemp("ltx-downloads")) as client:
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, steps=1, api_name="/generate")
        assert read_video(video_path(video))[0].shape[0] == 8 * (2 * 2 - 1) + 1 and settings["latent_frames"] == 4
        streamed = client.predict(prompt="a red circle", seconds=1, chunk=1, steps=1, api_name="/stream")
        assert read_video(video_path(streamed[2]))[0].shape[0] >= 25  # 1 s at 25 fps, in chunks of 8 frames
        with pytest.raises(AppError, match="context cache is not available for LTXVideoTransformer3DModel"):
            client.predict(prompt="a red circle", seconds=1, chunk=1, context="cache", api_name="/stream")
        fifo = client.predict(prompt="a red circle", seconds=1, method="fifo", api_name="/stream")  # a timestep per token
        assert read_video(video_path(fifo[2]))[0].shape[0] >= 25


def test_an_ltx2_model_generates_and_streams_videos_with_their_sound(tmp_path_factory):
    """An LTX-2 folder (`LTX2Pipeline`): /generate's mp4 holds its audio track as long as the video, and so does /stream's
    whole video (its live clips are silent); the KV-cache context is refused in one line."""
    from conftest import mp4_audio
    from tiny_pipeline import save_tiny_ltx2_pipeline

    folder = save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2"), num_inference_steps=1)
    with served_client(folder, tmp_path_factory.mktemp("ltx2-downloads")) as client:
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, api_name="/generate")
        frames, fps = read_video(video_path(video))
        assert frames.shape[0] == 25 and fps == 24 and settings["latent_frames"] == 4
        assert abs(mp4_audio(video_path(video), 16000).shape[1] / 16000 - 25 / 24) < 0.1
        streamed = client.predict(prompt="a red circle", seconds=1, chunk=1, api_name="/stream")
        frames = read_video(video_path(streamed[2]))[0].shape[0]
        assert frames >= 24 and abs(mp4_audio(video_path(streamed[2]), 16000).shape[1] / 16000 - frames / 24) < 0.1
        with pytest.raises(AppError, match="context cache is not available for LTX2VideoTransformer3DModel: each chunk"):
            client.predict(prompt="a red circle", seconds=1, chunk=1, context="cache", api_name="/stream")


def test_an_ltx2_condition_model_served_for_an_image_takes_a_first_and_a_last_frame(tmp_path_factory, image_path,
                                                                                     last_image_path):
    """An `LTX2ConditionPipeline` folder served as ``vidlong app --task i2v`` serves it: /generate takes the first and the
    last frame (conditions at its first and last latent frames), with the methods at 2x, and its settings record both;
    its mp4 holds its sound."""
    from conftest import mp4_audio
    from gradio_client import handle_file
    from tiny_pipeline import save_tiny_ltx2_pipeline

    folder = save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-condition"), num_inference_steps=1, latest=True,
                                     pipeline="LTX2ConditionPipeline")
    with served_client(folder, tmp_path_factory.mktemp("ltx2-condition-downloads"), task="i2v") as client:
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, image=handle_file(str(image_path)),
                                         last_image=handle_file(str(last_image_path)), api_name="/generate")
        frames, fps = read_video(video_path(video))
        assert frames.shape[0] == 25 and fps == 24 and settings["image"] and settings["last_image"]
        assert abs(mp4_audio(video_path(video), 16000).shape[1] / 16000 - 25 / 24) < 0.1


def test_a_cosmos_predict25_folder_opens_and_its_i2v_page_makes_a_video_from_an_image(tmp_path_factory, image_path):
    """``vidlong app --task i2v`` on a Cosmos-Predict2.5 folder (`launch`, whose check refuses video-to-video folders,
    opens it: the folder's continuing twin is used only for a given video): /generate from an uploaded image (its
    Image2World twin) makes the video at 2x with the methods, its settings naming the image."""
    from gradio_client import handle_file
    from test_cosmos import NATIVE, saved_folder

    from vidlong.apps import gradio_app

    folder = saved_folder(tmp_path_factory.mktemp("cosmos-predict25"))
    demo = gradio_app.launch(model=str(folder), port=free_port(), device="cpu", task="i2v", prevent_thread_lock=True,
                             quiet=True)
    try:
        client = Client(demo.local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("cosmos-downloads")))
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, image=handle_file(str(image_path)),
                                         api_name="/generate")
        assert read_video(video_path(video))[0].shape[0] == settings["pixel_frames"] and settings["image"]
        assert settings["latent_frames"] == 2 * NATIVE
    finally:
        demo.close()


def test_an_ltx2_ic_page_follows_an_uploaded_reference_video_and_offers_no_stream(tmp_path_factory):
    """An `LTX2InContextPipeline` folder (LTX-2 with an IC-LoRA): Generate's "Follow a control video (LTX-2 IC-LoRA)" takes
    the reference video, the Stream tab hidden; /generate's control_video, a 17-frame mp4 at 24 fps, makes a video as long
    as it at its frame rate, with the methods and its sound, its sidecar naming the reference; the length note says the
    reference sets the length; /stream refuses in one line saying why (one call follows the whole reference)."""
    import numpy as np
    from conftest import mp4_audio
    from gradio_client import handle_file
    from tiny_pipeline import save_tiny_ltx2_pipeline

    from vidlong.video_io import write_video

    folder = save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-ic"), num_inference_steps=1, latest=True,
                                     pipeline="LTX2InContextPipeline")
    inputs = tmp_path_factory.mktemp("ltx2-ic-inputs")
    reference = write_video(inputs / "pose.mp4", np.random.default_rng(7).integers(0, 255, (17, 48, 48, 3), dtype=np.uint8),
                            fps=24)
    with launched(folder, tmp_path_factory.mktemp("ltx2-ic-downloads")) as (demo, client):
        assert field(demo, "Follow a control video (LTX-2 IC-LoRA)").visible and not field(demo, "Stream").visible
        upload = field(demo, "Reference video (IC-LoRA: a pose, depth or edge video, as its LoRA was trained): the video has "
                             "its length (the Length field is not used), frame rate and aspect")
        assert upload.visible
        video, settings = client.predict(prompt="a red circle", method="both", ratio=3, api_name="/generate",
                                         control_video=handle_file(str(reference)))
        frames, fps = read_video(video_path(video))
        assert frames.shape == (17, 64, 64, 3) and fps == 24 and settings["pixel_frames"] == 17
        assert Path(settings["control_video"]).name == "pose.mp4"
        assert abs(mp4_audio(video_path(video), 16000).shape[1] / 16000 - 17 / 24) < 0.1
        note = demo.vidlong_app.length_note(3, "both", "none", 1, None, None, None, None, None, None, None, None,
                                            {"path": str(reference)})
        assert note.startswith("The control video (the Length field is not used): 3 latent frames = **17 frames**"), note
        with pytest.raises(AppError, match="^LTX-2's in-context \\(IC-LoRA\\) pipeline follows one whole reference video in a "
                                           "call"):
            client.predict(prompt="a red circle", seconds=1, api_name="/stream")


def test_an_ltx2_hdr_page_takes_connector_embeddings_and_offers_the_linear_hdr_frames(tmp_path_factory):
    """An `LTX2HDRPipeline` folder (LTX-2's HDR IC-LoRA): Generate's "Follow a control video (LTX-2 HDR IC-LoRA)" takes the
    SDR video and the connector embeddings' upload, the linear frames' download beside the video, no Stream tab, its header
    says so; /generate with the embeddings and an empty prompt, a 17-frame mp4 at 24 fps: the tone-mapped mp4 as long as it,
    and third its linear frames, float16 [17, 64, 64, 3], `generate`'s for the same request bit for bit (as float16), the
    server's file beside its mp4 (``video-*.hdr.npy``, as `vidlong generate` writes it) named in the settings and sidecar,
    the prompt empty and the run unguided (guidance 1, as the upload sets the page's field); refused in one line naming the
    field: no prompt and no embeddings, a file safetensors cannot read as the embeddings, the Guidance field's 3 with them."""
    import numpy as np
    from gradio_client import handle_file
    from test_ltx2_hdr import save_embeds
    from tiny_pipeline import save_tiny_ltx2_pipeline

    from vidlong.apps import gradio_app
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import write_video

    folder = save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-hdr"), num_inference_steps=1, latest=True,
                                     pipeline="LTX2HDRPipeline")
    inputs = tmp_path_factory.mktemp("ltx2-hdr-inputs")
    sdr = write_video(inputs / "sdr.mp4", np.random.default_rng(7).integers(0, 255, (17, 48, 48, 3), dtype=np.uint8), fps=24)
    demo = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    app = demo.vidlong_app
    embeds = save_embeds(app.pipe, inputs)
    with client_of(demo, tmp_path_factory.mktemp("ltx2-hdr-downloads")) as client:
        assert field(demo, "Follow a control video (LTX-2 HDR IC-LoRA)").visible and not field(demo, "Stream").visible
        for label in (gradio_app.SDR_VIDEO_LABEL, gradio_app.CONNECTOR_EMBEDS_LABEL, gradio_app.HDR_FILE_LABEL):
            assert field(demo, label).visible, label
        assert "Generate offers the linear frames to download (.hdr.npy)" in header(demo)
        given = dict(prompt="", method="both", api_name="/generate", control_video=handle_file(str(sdr)))  # the box left empty
        video, settings, npy = client.predict(**given, connector_embeds=handle_file(str(embeds)), guidance=1)
        frames, fps = read_video(video_path(video))
        linear = np.load(npy)
        assert frames.shape == linear.shape == (17, 64, 64, 3) and fps == 24 and linear.dtype == np.float16
        item = app.history.items()[0]
        assert settings["hdr_video"] == str(item.video.with_suffix(".hdr.npy")) == str(item.hdr_video)
        assert json.loads(item.sidecar.read_text())["hdr_video"] == settings["hdr_video"]
        assert Path(npy).read_bytes() == item.hdr_video.read_bytes()
        assert settings["prompt"] == "" and settings["guidance"] == 1
        assert Path(settings["connector_embeds"]).name == "hdr-embeds.safetensors"
        ours = generate(app.pipe, GenerateRequest(prompt="", seed=0, method="both", control_video=str(sdr),
                                                  connector_embeds=str(embeds)))
        assert np.array_equal(linear, ours.hdr.astype(np.float16))
        for extra, says in ((dict(), EMPTY_PROMPT),
                            (dict(connector_embeds=handle_file(str(sdr))), "connector embeds sdr.mp4 is not a safetensors file"),
                            (dict(connector_embeds=handle_file(str(embeds))), "drop guidance 3 \\(or pass 1\\)")):  # the page's
            with pytest.raises(AppError, match=says) as err:
                client.predict(**given, **extra)
            assert "\n" not in str(err.value)


def test_an_ltx2_folder_served_with_task_control_and_its_ic_lora_is_the_ic_lora_page(tmp_path_factory):
    """`vidlong app --model LTX-2 --task control --lora ic.safetensors`: LTX-2's own folder as its in-context pipeline, the
    page an in-context folder's (Generate following an uploaded reference video, no Stream tab, no first-frame hint); without
    the LoRA refused in one line before loading; served as its own, no reference video, a Stream tab, and its header says
    how to serve both twins."""
    from test_ltx2_ic import ic_lora
    from tiny_pipeline import save_tiny_ltx2_pipeline

    from vidlong.apps import gradio_app

    folder = save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2-own"), num_inference_steps=1, latest=True)
    assert parse_app("--model", str(folder), "--task", "control").task == "control"
    with pytest.raises(VidlongError, match=r"which its own weights are not: merge the IC-LoRA's \.safetensors file by loras"):
        gradio_app.launch(model=str(folder), device="cpu", task="control", prevent_thread_lock=True)
    lora = ic_lora(tmp_path_factory.mktemp("ic-lora") / "ic.safetensors", (32, 32))
    twin = load_pipeline(folder, device="cpu", task="control", loras=[lora])
    demo = gradio_app.build_app(twin)
    assert field(demo, "Follow a control video (LTX-2 IC-LoRA)").visible and not field(demo, "Stream").visible
    assert "--task" not in header(demo)
    own = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    assert not field(own, "Follow a control video (None)").visible and field(own, "Stream").visible
    assert header(own).endswith("To start from a first frame, serve this folder with `vidlong app --task i2v`. To follow a "
                                "reference video with an IC-LoRA, serve it with `vidlong app --task control --lora "
                                "ic-lora.safetensors`.")


def test_a_kandinsky6_model_generates_and_streams_videos_with_their_sound(tmp_path_factory):
    """A Kandinsky 6 folder (`Kandinsky6TI2VAPipeline`): /generate's mp4 holds its sound as long as the video; the Stream
    tab is shown and /stream's whole video holds its sound as long as its frames (its live clips are silent); the KV-cache
    context is refused in one line."""
    from conftest import mp4_audio
    from tiny_pipeline import save_tiny_kandinsky6_pipeline

    folder = save_tiny_kandinsky6_pipeline(tmp_path_factory.mktemp("tiny-kandinsky6"))
    with launched(folder, tmp_path_factory.mktemp("kandinsky6-downloads")) as (demo, client):
        assert field(demo, "Stream").visible
        video, settings = client.predict(prompt="a red circle", method="both", ratio=2, api_name="/generate")
        frames, fps = read_video(video_path(video))
        assert frames.shape[0] == 21 and fps == 24 and settings["latent_frames"] == 6
        assert abs(mp4_audio(video_path(video), 16000, channels=1).shape[1] / 16000 - 21 / 24) < 0.1
        streamed = client.predict(prompt="a red circle", seconds=0.5, chunk=1, api_name="/stream")
        frames = read_video(video_path(streamed[2]))[0].shape[0]
        assert frames >= 12 and abs(mp4_audio(video_path(streamed[2]), 16000, channels=1).shape[1] / 16000 - frames / 24) < 0.1
        with pytest.raises(AppError, match="context cache is not available for Kandinsky6Transformer3DModel: each chunk"):
            client.predict(prompt="a red circle", seconds=1, chunk=1, context="cache", api_name="/stream")


def test_a_cosmos_transfer_page_streams_an_uploaded_control_video_chunk_by_chunk(tmp_path_factory, monkeypatch):
    """A Cosmos-Transfer2.5 folder's page: its Stream tab follows a control video ("Follow a control video, chunk by chunk"),
    with no timeline, Chunk, Context or prompt switch (one prompt; its call's chunks, as long as the video);
    /stream's control_video, a 25-frame mp4 at 10 fps, streams its call's 3 chunks, each shown as it is made (chunk 1/3 to
    3/3), the whole video its 25 frames at 10 fps frame for frame the Python stream's chunks appended to vidlong's stream
    writer, its sidecar naming the control video; Stop at the second chunk's first step keeps the first chunk's 9 frames,
    playable; "Continue a video" with it continues a 9-frame mp4 by Seconds 1 (10 frames) along it, as `pipe.extend` does;
    no control video, a timeline of two prompts and the fifo method are refused in one line; a history click on the
    continuation refills the Stream tab's form, its Chunk and Context still hidden."""
    import numpy as np
    from conftest import stand_in_torchvision_resize
    from gradio_client import handle_file
    from test_cosmos_transfer import saved_folder, written_control_video

    from vidlong.video_io import StreamingVideoWriter, write_video

    stand_in_torchvision_resize(monkeypatch)
    folder = saved_folder(tmp_path_factory.mktemp("transfer-page"))
    inputs = tmp_path_factory.mktemp("transfer-page-inputs")
    control = written_control_video(inputs / "edges.mp4")
    with launched(folder, tmp_path_factory.mktemp("transfer-page-downloads")) as (demo, client):
        assert field(demo, "Stream").visible and field(demo, "Follow a control video, chunk by chunk (Cosmos-Transfer2.5)").visible
        assert field(demo, "Continue a video").visible and field(demo, "Seconds (0: until stopped)").visible
        for label in ("Prompt timeline (optional: the prompt from each second on)", "Chunk (latent frames)", "Context",
                      "Next prompt (while streaming)"):
            hidden = [block for block in demo.blocks.values() if getattr(block, "label", None) == label]
            assert hidden and not any(block.visible for block in hidden), label
        job = client.submit(prompt="a red ball", seed=3, control_video=handle_file(str(control)), api_name="/stream")
        streamed = job.result()
        assert [status.split(":")[0] for _, status, *_ in job.outputs()[:-1]] == ["chunk 1/3", "chunk 2/3", "chunk 3/3"]
        frames, fps = read_video(video_path(streamed[2]))
        settings = json.loads(Path(streamed[3]).read_text())
        assert frames.shape == (25, 32, 48, 3) and fps == 10 and settings["chunks"] == 3
        assert Path(settings["control_video"]).name == "edges.mp4" and settings["streaming"]["chunk_pixel_frames"] == 9
        app = demo.vidlong_app
        with StreamingVideoWriter(inputs / "expected.mp4", fps=10) as writer:
            for chunk in app.pipe.stream("a red ball", control_video=str(control), seed=3):
                writer.append(chunk.frames)
        assert np.array_equal(frames, read_video(inputs / "expected.mp4")[0])
        streamer, chunks, _ = app.streamer("a red ball", [], 10, 3, "auto", True, None, None, 3, control_video=str(control))
        kinds, _ = stream_stopped_at(app, streamer, chunks, 3 + 2)  # 0 and 2 steps a chunk: the second chunk's first step
        assert [kind for kind, _ in kinds if kind != "status"] == ["chunk", "done"] and kinds[-1][1].settings["chunks"] == 1
        assert read_video(kinds[-1][1].video)[0].shape == (9, 32, 48, 3)
        given = dict(control_video=handle_file(str(control)))
        source = write_video(inputs / "in.mp4", np.random.default_rng(4).integers(0, 255, (9, 32, 48, 3), dtype=np.uint8), fps=10)
        continued = client.predict(prompt="a red ball", seconds=1, seed=3, extend_video=handle_file(str(source)), **given,
                                   api_name="/stream")
        settings = json.loads(Path(continued[3]).read_text())
        with StreamingVideoWriter(inputs / "extended.mp4", fps=10) as writer:
            for item in app.pipe.extend("a red ball", video=str(source), control_video=str(control), seconds=1, seed=3):
                writer.append(item.frames)
        assert np.array_equal(read_video(video_path(continued[2]))[0], read_video(inputs / "extended.mp4")[0])
        assert (settings["command"], settings["input_frames"], settings["pixel_frames"]) == ("extend", 9, 19)
        form = stream_form_of(app, app.history.items()[0])  # a history click: its Chunk and Context stay hidden
        assert [form[name].get("visible") for name in ("chunk", "context")] == [False, False] and form["seconds"]["value"] == 1
        for fields, message in (
                (dict(), "^Cosmos-Transfer2.5 streams the chunks of a control video: pass control video$"),
                (dict(given, timeline={"headers": ["from second", "prompt"], "data": [[1, "a blue ball"]]}),
                 r"^a Cosmos-Transfer2.5 stream takes one prompt \(its call's\), not a timeline"),
                (dict(given, method="fifo"), "its call's chunks over its control video: choose Stream method chunked$")):
            with pytest.raises(AppError, match=message):
                client.predict(prompt="a red ball", **fields, api_name="/stream")


def test_a_control_video_given_to_another_models_stream_is_refused_in_one_line(client, tmp_path):
    """/stream's control_video on a model whose stream takes none (the tiny Wan): one line naming the field."""
    import numpy as np
    from gradio_client import handle_file

    from vidlong.video_io import write_video

    control = write_video(tmp_path / "edges.mp4", np.zeros((9, 32, 32, 3), np.uint8), fps=8)
    with pytest.raises(AppError, match=r"^control video guides a Cosmos-Transfer2.5 stream \(its call's chunks\); this "
                                       "model's stream takes none: remove it$"):
        client.predict(prompt="a red circle", seconds=1, control_video=handle_file(str(control)), api_name="/stream")


def field_with_id(page, elem_id: str):
    """The block of `page` whose element id is `elem_id` ("identity": ConsisID's --identity file; "camera": Sana-WM's
    --camera file)."""
    return next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == elem_id)


#: a ConsisID transformer with is_train_face given no face identity file, as the page's refusals say it
NEEDS_IDENTITY = (r"^this ConsisID transformer \(is_train_face\) needs a face's identity tensors: pass the \"Face identity\" "
                  r"file \(the API's identity\) \(save ConsisID's process_face_embeddings_infer outputs")


def test_a_consisid_page_takes_the_face_identity_file_to_generate_stream_and_continue(demo, client, tmp_path_factory):
    """A ConsisID folder whose transformer has ``is_train_face``: its page shows the "Face identity" file (not the tiny
    Wan's, nor that of a ConsisID one without is_train_face); the API's `identity` (the CLI's --identity face_id.pt) makes
    /generate's video (another face, another video; Compare's runs take it too), a /stream from the image (its streamer
    holding the file's tensors for every window) and, with a video to continue, its extension, each sidecar naming the
    file as the CLI's does. Without it, or with a file torch cannot read or one of the wrong shape, each is refused in one
    line naming the field (the CLI's checks); the length note says so until the file is given; a model that takes none
    refuses one in one line."""
    import re

    import numpy as np
    import torch
    from conftest import consisid_faces
    from gradio_client import handle_file
    from test_consisid import saved_folder, saved_plain_folder

    from vidlong.apps import gradio_app

    folder, inputs = saved_folder(tmp_path_factory.mktemp("consisid-page")), tmp_path_factory.mktemp("consisid-inputs")
    torch.save(consisid_faces(seed=6), inputs / "other_face.pt")
    torch.save(dict(consisid_faces(), id_cond=torch.zeros(1, 5)), inputs / "bad_face.pt")
    png, face = handle_file(str(folder / "face.png")), handle_file(str(folder / "face_id.pt"))
    with served_client(folder, tmp_path_factory.mktemp("consisid-downloads")) as consisid:
        video, settings = consisid.predict(prompt="a red ball", ratio=2, image=png, identity=face, api_name="/generate")
        frames = read_video(video_path(video))[0]
        assert len(frames) == settings["pixel_frames"] == 25 and Path(settings["identity"]).name == "face_id.pt"
        other, _ = consisid.predict(prompt="a red ball", ratio=2, image=png, identity=handle_file(str(inputs / "other_face.pt")),
                                    api_name="/generate")
        assert not np.array_equal(read_video(video_path(other))[0], frames)
        for given, message in ((png, r"^identity face.png is not a torch file of tensors \(UnpicklingError\); save ConsisID"),
                               (handle_file(str(inputs / "bad_face.pt")),
                                re.escape("identity bad_face.pt: id_cond has shape [1, 5], not [1, 6] as this transformer's"))):
            with pytest.raises(AppError, match=message) as err:
                consisid.predict(prompt="a red ball", image=png, identity=given, api_name="/generate")
            assert "\n" not in str(err.value)
        with pytest.raises(AppError, match=NEEDS_IDENTITY):
            consisid.predict(prompt="a red ball", image=png, api_name="/generate")

        stream = dict(prompt="a red ball", seconds=1, chunk=1, api_name="/stream")
        _, _, streamed, sidecar, _ = consisid.submit(**stream, image=png, identity=face).result()
        recorded, made = json.loads(Path(sidecar).read_text()), len(read_video(video_path(streamed))[0])
        assert (recorded["command"], recorded["chunks"], made, Path(recorded["identity"]).name) == ("stream", 3, 9, "face_id.pt")
        continued = dict(stream, seconds=0.5, extend_video=handle_file(video_path(streamed)))
        _, _, extended, sidecar, _ = consisid.predict(**continued, identity=face)
        recorded = json.loads(Path(sidecar).read_text())
        assert (recorded["command"], recorded["input_frames"], Path(recorded["identity"]).name) == ("extend", 9, "face_id.pt")
        assert len(read_video(video_path(extended))[0]) == 9 + 4  # its frames, then a chunk of 1 latent frame
        for given in (dict(stream, image=png), continued):
            with pytest.raises(AppError, match=NEEDS_IDENTITY):
                consisid.predict(**given)

    page = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    plain = gradio_app.build_app(load_pipeline(saved_plain_folder(tmp_path_factory.mktemp("consisid-plain-page")),
                                               device="cpu"))
    assert [field_with_id(shown, "identity").visible for shown in (page, plain, demo)] == [True, False, False]
    app, path = page.vidlong_app, str(folder / "face_id.pt")
    streamer, _, _ = app.streamer("a red ball", [], 1, 1, "auto", True, None, None, 3, str(folder / "face.png"), identity=path)
    assert torch.equal(streamer.identity["id_cond"], consisid_faces()["id_cond"])
    runs = app.compare_runs(["none", "both"], "a red ball", "both", "none", 2, None, None, 0, "auto", "", None, None,
                            str(folder / "face.png"), None, "", 0, None, None, *[None] * 7, path)
    assert [request.identity for request, _ in runs] == [path, path]
    assert re.match(r"^\*\*" + NEEDS_IDENTITY[1:], app.length_note(2, "both"))
    noted = app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 7, {"path": path})
    assert noted.startswith("7 latent frames = **25 frames**, 3.1 s at 8 fps"), noted
    for endpoint, fields in (("/generate", {}), ("/stream", dict(seconds=1))):  # the tiny Wan takes no face
        with pytest.raises(AppError, match=r"^identity gives a ConsisID transformer with is_train_face its face tensors; this "
                                           "model takes none: drop identity$"):
            client.predict(prompt="a red circle", identity=face, api_name=endpoint, **fields)


def test_a_sana_wm_page_takes_an_optional_camera_file(demo, client, tmp_path_factory):
    """A Sana-WM folder's page shows the "Camera" file (not the tiny Wan's); /generate's `camera` (the JSON of vidlong generate
    --camera) moves its camera (another video than vidlong's default, the sidecar naming the file), none gives the default
    (the sidecar recording it); a camera file too short for the video or not JSON is refused in one line naming the field and
    its file, before anything runs; the tiny Wan refuses one in one line."""
    import re

    import numpy as np
    from gradio_client import handle_file
    from PIL import Image
    from tiny_pipeline import save_tiny_sana_wm_pipeline

    from vidlong.apps import gradio_app

    folder, inputs = save_tiny_sana_wm_pipeline(tmp_path_factory.mktemp("sana-wm-page")), tmp_path_factory.mktemp("wm-inputs")
    Image.fromarray(np.random.default_rng(2).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(inputs / "start.png")
    for name, content in (("turn.json", '{"action": "w-12,jw-12"}'), ("short.json", '{"action": "w-8"}'), ("bad.json", "{")):
        (inputs / name).write_text(content)
    png, turn = handle_file(str(inputs / "start.png")), handle_file(str(inputs / "turn.json"))
    page = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    assert [field_with_id(shown, "camera").visible for shown in (page, demo)] == [True, False]
    note = page.vidlong_app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 8,
                                        {"path": str(inputs / "short.json")})
    assert note.startswith("**camera ") and "holds 9 camera poses, fewer than the video's 25 frames" in note, note
    with served_client(folder, tmp_path_factory.mktemp("sana-wm-downloads")) as wm:
        run = dict(prompt="a red ball", ratio=2, image=png, method="both", api_name="/generate")
        turned, settings = wm.predict(**run, camera=turn)
        frames = read_video(video_path(turned))[0]
        assert len(frames) == settings["pixel_frames"] == 25 and Path(settings["camera"]).name == "turn.json"
        walked, settings = wm.predict(**run)
        assert settings["camera"] == 'default: {"action": "w-24", "intrinsics": [48.0, 48.0, 48.0, 32.0]}'
        assert not np.array_equal(read_video(video_path(walked))[0], frames)
        for name, says in (("short.json", "camera short.json holds 9 camera poses, fewer than the video's 25 frames"),
                           ("bad.json", "camera bad.json is not a JSON file")):
            with pytest.raises(AppError, match="^" + re.escape(says)) as err:
                wm.predict(**run, camera=handle_file(str(inputs / name)))
            assert "\n" not in str(err.value)
    with pytest.raises(AppError, match=r"^camera gives Sana-WM \(SanaWMPipeline\) folders their camera trajectory; this model "
                                       "takes none: drop camera$"):
        client.predict(prompt="a red circle", camera=turn, api_name="/generate")


def test_an_ltx_page_with_a_latent_upsampler_upsamples_2x_on_generate_and_compare_and_stream_refuses_it(demo, client,
                                                                                                          tmp_path_factory):
    """A tiny LTX-Video folder with its own ``latent_upsampler/``: its page shows the "Upsample 2x" box (not the tiny Wan's),
    the length note says the upsampler runs after the estimate's video, decoded at its size (with "Refine", that stage 2's
    steps are in the estimate); /generate's `upsample` (last in its order) makes the
    video at twice the size, the same 25 frames, the settings naming the folder's upsampler, as generate(upsample=True) does;
    unticked, the made size; Compare's runs all take it. The "Refine" box beside it (shown on this page alone) refines the
    upsampled video (`vidlong.refine`: its settings recorded), and refused without "Upsample 2x" by
    `vidlong.validate.check_refine`. A value that is not true or false, /stream's `upsample` and one given to the tiny Wan are
    each refused in one line (the last by `vidlong.validate.check_upsample`)."""
    from tiny_pipeline import save_tiny_latent_upsampler, save_tiny_ltx_pipeline

    from vidlong.apps import gradio_app

    folder = save_tiny_ltx_pipeline(tmp_path_factory.mktemp("ltx-upsample-page"))
    upsampler = save_tiny_latent_upsampler(folder / "latent_upsampler", "ltx-video")
    page = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    assert [field_with_id(shown, name).visible for name in ("upsample", "refine") for shown in (page, demo)] == [True, False] * 2
    app = page.vidlong_app
    note = app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, True)
    assert note.startswith("4 latent frames = **25 frames**") and "Then upsampled 2x by its latent upsampler" in note, note
    assert "; with the latent upsampler's 2x video decoded at 128x128 (its memory counted; the upsampler's compute" in note
    refined = app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, True, True)
    assert "Then upsampled 2x by its latent upsampler and refined at that size (its steps in the estimate)" in refined, refined
    unticked = app.length_note(2, "both", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, False, True)
    assert unticked == ('**"Refine" denoises the upsampled latents again at their new size (LTX\'s stage 2): add "Upsample 2x", '
                        'or drop "Refine"**'), unticked  # the boxes by their labels, where the page shows them
    runs = app.compare_runs(["none", "both"], "a red ball", "both", "none", 2, None, None, 0, "auto", "", None, None, None, None,
                            "", 0, None, None, *[None] * 9, True, True)
    assert [(request.upsample, request.refine) for request, _ in runs] == [(True, True)] * 2
    with served_client(folder, tmp_path_factory.mktemp("ltx-upsample-downloads")) as ltx:
        run = dict(prompt="a red ball", ratio=2, method="both", seed=3, api_name="/generate")
        video, settings = ltx.predict(**run, upsample=True)
        assert read_video(video_path(video))[0].shape == (25, 128, 128, 3)
        assert (settings["upsample"], settings["height"], settings["upsampled_height"]) == (str(upsampler), 64, 128)
        video, settings = ltx.predict(**run)
        assert read_video(video_path(video))[0].shape == (25, 64, 64, 3) and settings["upsample"] is None
        video, settings = ltx.predict(**run, upsample=True, refine=True)
        assert read_video(video_path(video))[0].shape == (25, 128, 128, 3)
        assert settings["refine"] is True and settings["refine_pass"]["strength"] == 0.4
        for fields, message in ((dict(run, upsample="yes"), r"^Upsample 2x must be true or false, got 'yes'$"),
                                (dict(run, refine="yes"), r"^Refine must be true or false, got 'yes'$"),
                                (dict(run, refine=True), r'^"Refine" denoises the upsampled latents again at their new size '
                                                         r'\(LTX\'s stage 2\): add "Upsample 2x", or drop "Refine"$'),
                                (dict(prompt="a red ball", seconds=1, upsample=True, api_name="/stream"),
                                 r"^upsample upsamples a whole generated video's latents \(the Generate tab's Upsample 2x\); "
                                 "a stream does not upsample its chunks: drop upsample$")):
            with pytest.raises(AppError, match=message):
                ltx.predict(**fields)
    with pytest.raises(AppError, match=r"^upsample upsamples LTX-Video's and LTX-2's latents by their latent upsampler; this "
                                       r"model \(WanPipeline\) has none: drop upsample$"):
        client.predict(prompt="a red circle", upsample=True, api_name="/generate")


def test_an_ltx_folder_without_an_upsampler_of_its_own_takes_one_from_vidlong_app_upsample(tmp_path_factory, capsys):
    """An LTX-Video folder without ``latent_upsampler/``: its page hides the box, and `upsample` through the API is refused
    in one line naming vidlong app --upsample FOLDER; served with that folder (`launch(upsample=...)`, the CLI's flag), the
    box shows and a ticked run takes that folder. vidlong app --upsample on a Wan folder is refused in one line, exit 2,
    before the model loads."""
    from test_upsample import without_upsampler
    from tiny_pipeline import save_tiny_latent_upsampler, save_tiny_ltx_pipeline

    from vidlong.apps import gradio_app
    from vidlong.cli import main

    made = tmp_path_factory.mktemp("ltx-no-upsampler")
    folder = without_upsampler(save_tiny_ltx_pipeline(made / "full"), made / "bare")
    upsampler = save_tiny_latent_upsampler(made / "upsampler", "ltx-video")
    pipe = load_pipeline(folder, device="cpu")
    bare, served = gradio_app.build_app(pipe), gradio_app.build_app(pipe, upsampler=upsampler)
    assert [field_with_id(shown, "upsample").visible for shown in (bare, served)] == [False, True]
    fields = ("a red ball", "both", "none", 2, None, None, 0, "auto", "", None, None, None, None, "", 0, None, None, *[None] * 9)
    with pytest.raises(VidlongError) as err:
        bare.vidlong_app.run(*fields, True)
    assert gradio_app._user_message(err.value) == (f"upsample: {folder} has no latent_upsampler/ folder; pass the folder of "
                                                   "LTX-Video's latent upsampler (serve the page with vidlong app --upsample "
                                                   "FOLDER)")
    assert served.vidlong_app.run(*fields, True)[0].upsample == str(upsampler)
    wan = save_tiny_pipeline(made / "wan")
    capsys.readouterr()  # the folders' saving bars
    assert main(["app", "--model", str(wan), "--upsample", str(upsampler), "--device", "cpu"]) == 2
    assert capsys.readouterr().err == ("vidlong: error: --upsample upsamples LTX-Video's and LTX-2's latents by their latent "
                                       "upsampler; this model (WanPipeline) has none: drop --upsample\n")


def test_an_ltx_long_page_generates_a_prompt_a_window_and_offers_no_stream(tmp_path_factory):
    """An `LTXI2VLongMultiPromptPipeline` folder: /generate with a '|' prompt and no method makes its call's 2 windows (13
    latent frames at ratio 1.3), the second window's prompt read (another video than its first prompt's alone); with a
    method, its one window of the whole video, a 2-part prompt is refused in one line naming the fix; its Stream tab (with
    Continue a video) is not offered, and /stream, with a video to continue or without, refuses in one line saying why."""
    import re

    import gradio as gr
    import numpy as np
    from gradio_client import handle_file
    from test_ltx_long import PROMPT, saved_folder

    from vidlong.apps import gradio_app

    folder = saved_folder(tmp_path_factory.mktemp("ltx-long-page"))
    page = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    shown = {block.label: block.visible for block in page.blocks.values() if isinstance(block, (gr.Tab, gr.Accordion))}
    assert (shown["Generate"], shown["Stream"], shown["Continue a video"]) == (True, False, False)
    assert "This model does not stream: its Stream tab is hidden." in header(page)
    with served_client(folder, tmp_path_factory.mktemp("ltx-long-downloads")) as ltx:
        run = dict(method="none", ratio=1.3, steps=2, seed=3, api_name="/generate")  # 2 steps: a forward a window
        video, settings = ltx.predict(prompt=PROMPT, **run)
        frames = read_video(video_path(video))[0]
        assert (settings["prompt"], settings["latent_frames"], len(frames)) == (PROMPT, 13, 97)
        one, _ = ltx.predict(prompt="a red ball", **run)
        assert not np.array_equal(read_video(video_path(one))[0], frames)
        with pytest.raises(AppError, match=re.escape("prompt gives 2 prompts (split by '|', one a window) but with a method "
                                                     "its call makes one window of the whole video: give one prompt, or "
                                                     "method none for its own windows of 80 frames, a prompt each")):
            ltx.predict(prompt=PROMPT, method="both", ratio=2, api_name="/generate")
        why = re.escape("LTX-Video's long multi-prompt pipeline makes its windows one after another, but no window's frames "
                        "are final before its call ends")
        for given in ({}, dict(extend_video=handle_file(video_path(video)))):
            with pytest.raises(AppError, match=f"^{why}") as err:
                ltx.predict(prompt="a red ball", seconds=1, api_name="/stream", **given)
            assert "\n" not in str(err.value)


def test_outputs_stay_bounded_in_gradios_cache(demo, client, tmp_path):
    """The app's files live in Gradio's cache folder (served in place, no second copy) and are pruned to the
    newest KEEP_OUTPUTS videos with their settings."""
    from vidlong.apps.outputs import KEEP_OUTPUTS, gradio_cache_folder

    folder = demo.vidlong_app.folder.path
    assert folder.parent == gradio_cache_folder()
    before = set(gradio_cache_folder().rglob("*.mp4"))
    for i in range(KEEP_OUTPUTS + 2):
        client.predict(prompt=f"a red circle {i}", method="none", ratio=1, steps=1, api_name="/generate")
    videos = sorted(folder.glob("video-*.mp4"))
    assert len(videos) == KEEP_OUTPUTS and len(list(folder.glob("video-*.json"))) == KEEP_OUTPUTS
    assert len(demo.vidlong_app.history.items()) == KEEP_OUTPUTS
    # Gradio's own copies sit in its hash-named folders under the videos' names; another app's folder (vidlong-*: a test
    # running beside this one under xdist shares the cache) holds that app's files, and that test's uploads (upload.mp4,
    # in.mp4) are not copies of these
    copies = [p for p in set(gradio_cache_folder().rglob("video-*.mp4")) - before
              if not any(parent.name.startswith("vidlong-") for parent in p.parents)]
    assert copies == [], "Gradio kept its own copies of the app's videos"


def test_sigterm_stops_the_app_and_removes_its_files(model_dir, tmp_path):
    import signal
    import subprocess
    import sys
    import urllib.request

    cache, port = tmp_path / "gradio-cache", free_port()
    env = dict(os.environ, GRADIO_TEMP_DIR=str(cache))
    app = subprocess.Popen([sys.executable, "-m", "vidlong.cli", "app", "--model", str(model_dir), "--port", str(port)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except OSError:
                assert app.poll() is None, app.stderr.read().decode()
                time.sleep(0.3)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=str(tmp_path / "downloads"))
        client.predict(prompt="a red circle", method="none", ratio=1, steps=1, api_name="/generate")
        assert list(cache.glob("vidlong-*/video-*.mp4"))
        start = time.monotonic()
        app.send_signal(signal.SIGTERM)  # the client's heartbeat stream is still open
        while list(cache.glob("vidlong-*")) and app.poll() is None and time.monotonic() - start < 60:
            time.sleep(0.05)
        stopped = time.monotonic() - start
        assert app.wait(timeout=60) in (0, 130)
        # The app's folder goes at exit, once the server is closed: 0.2 s after the signal, even on a loaded
        # machine. Closing the server without first ending the client's heartbeat waited out Gradio's 5 s limit
        # on its server thread (5.0 s here), so 3 s fails that. Timed to the folder, not to the process's end,
        # which adds the interpreter's teardown of torch and diffusers (~2 s idle, 7 s on a busy 2-core box).
        assert stopped < 3, f"the app took {stopped:.1f} s to stop: it waited on its connected client"
    finally:
        app.kill()
    assert not list(cache.glob("vidlong-*")), "the app's folder outlived a SIGTERM"
    assert "Traceback" not in app.stderr.read().decode()


def test_a_stream_asked_to_upsample_on_a_page_without_an_upsampler_names_no_box(client):
    """/stream's ``upsample`` (hidden) on the default model's page, which shows no upsample box: refused in one line that
    points to no box the page lacks."""
    with pytest.raises(AppError, match=r"^upsample upsamples a whole generated video's latents; a stream does not upsample "
                                       r"its chunks: drop upsample$"):
        client.predict(prompt="a red ball", seconds=1, upsample=True, api_name="/stream")


def test_estimate_shown_and_a_run_that_will_not_fit_refused(demo, client, monkeypatch):
    import vidlong.estimate

    app = demo.vidlong_app
    assert "Estimate" in app.length_note(2, "both") and "GiB beyond the model" in app.length_note(2, "both")
    assert app.length_note(20, "both") == "**Length must be from 1 to 8, got 20**"  # the reason where the note was
    assert "height 40 must be a multiple of 16" in app.length_note(2, "both", height=40)
    client.predict(prompt="a red circle", method="none", ratio=1, steps=1, api_name="/generate")
    assert "Estimate: about" in app.length_note(2, "both")  # a finished run gives the pace
    monkeypatch.setattr(vidlong.estimate, "free_bytes", lambda device: 1000)
    assert "Will not fit" in app.length_note(8, "both")
    with pytest.raises(AppError, match=r"this run needs about .* GiB of RAM beyond the loaded model and 0.0 GiB is free"):
        client.predict(prompt="a red circle", method="none", ratio=2, steps=1, api_name="/generate")


def test_a_cancelled_client_job_frees_the_worker_within_a_step(client, slow):
    slow.delay = 0.1
    long = client.submit(prompt="a long job", method="none", ratio=1, steps=1000, api_name="/generate")  # 100 s
    deadline = time.monotonic() + 60
    while not (long.status().progress_data or []) and time.monotonic() < deadline:
        time.sleep(0.1)
    cancelled_at = time.monotonic()
    long.cancel()
    _, settings = client.predict(prompt="the next job", method="none", ratio=1, steps=2, api_name="/generate")
    runs = {prompt: (start, end) for prompt, start, end in slow.spans}
    assert settings["prompt"] == "the next job"
    assert runs["a long job"][1] - cancelled_at < 2.0, "the cancelled job ran on"
    assert runs["the next job"][0] - cancelled_at < 3.0


def test_stream_timeline_keeps_the_stream_prompt_and_alone_is_enough(demo):
    app = demo.vidlong_app
    streamer, chunks, _ = app.streamer("a red circle", [[2, "a blue square"], [None, ""]], 4, 3, "auto", True, 1, None, 0)
    # tiny model at 8 fps: chunk 0 = 9 frames, then 12 each; 2 s = frame 16, and chunk 2 is the first to start after it
    assert streamer.prompts == [(0, "a red circle"), (2, "a blue square")] and chunks == 3
    streamer, _, _ = app.streamer("", [[0, "a green triangle"], [1.0, "a blue square"]], 0, 3, "auto", True, 1, None, 0)
    assert streamer.prompts == [(0, "a green triangle"), (1, "a blue square")]
    # the prompt box is one prompt as typed (a command line's "0:...; 20:..." chunk schedule is not read in it), as is
    # each timeline prompt, in chunked and fifo streams
    for method in ("chunked", "fifo"):
        streamer, _, _ = app.streamer("16:9 shot of a cat; then a dog", [[1, "0:3 a; b"]], 4, 3, "auto", True, 1, None, 0,
                                      None, method)
        assert streamer.prompts == [(0, "16:9 shot of a cat; then a dog"), (1, "0:3 a; b")], method
        chunks = iter(streamer)
        assert next(chunks).prompt == "16:9 shot of a cat; then a dog"
        chunks.close()


def test_a_fifo_stream_through_the_api_follows_its_timeline(demo, client):
    """The Stream tab's fifo method: a stream by diagonal denoising (generate's fifo video, 9 then 12 frames a
    chunk), recorded as such, cutting at a switch when asked, with its guidance by partition and noise correlation;
    its timeline counts chunks as the chunked stream's does."""
    from vidlong.fifo_stream import DiagonalStreamer

    streamed = client.predict(prompt="a red circle", seconds=2, method="fifo", cut=True, partition_guidance="1,3,3",
                              noise_correlation=0.5, api_name="/stream",
                              timeline={"headers": ["from second", "prompt"], "data": [[1, "a blue square"]]})
    assert read_video(video_path(streamed[2]))[0].shape[0] == 9 + 12
    settings = json.loads(Path(streamed[3]).read_text())
    assert settings["streaming"]["method"] == "fifo" and settings["streaming"]["cut_on_prompt_switch"]
    assert (settings["streaming"]["guidance_by_partition"], settings["streaming"]["noise_correlation"]) == ([1, 3, 3], 0.5)
    assert settings["chunks"] == 2 and settings["prompts"] == [[0, "a red circle"], [1, "a blue square"]]
    streamer, chunks, _ = demo.vidlong_app.streamer("a red circle", [[2, "a blue square"]], 4, None, "auto", True, None, None, 0,
                                                    None, "fifo")
    assert isinstance(streamer, DiagonalStreamer) and chunks == 3
    assert streamer.prompts == [(0, "a red circle"), (2, "a blue square")]
    form = stream_form_of(demo.vidlong_app, demo.vidlong_app.history.items()[0])  # a history click: the Stream tab's form
    assert {name: form[name].get("value") for name in ("prompt", "timeline", "seconds", "method", "cut", "partition_guidance",
                                                       "noise_correlation", "chunk")} == \
        dict(prompt="a red circle", timeline=[[1, "a blue square"]], seconds=2, method="fifo", cut=True,
             partition_guidance="1,3,3", noise_correlation=0.5, chunk=None)
    assert [form[name]["visible"] for name in ("chunk", "cut", "partition_guidance")] == [False, True, True]
    with pytest.raises(AppError, match="cut on a prompt switch is the fifo method's"):
        client.predict(prompt="a red circle", seconds=2, cut=True, api_name="/stream")


def stream_stopped_at(app, streamer, chunks, stop_at: int):
    """Runs `streamer` through the app's stream worker with Stop pressed at its `stop_at`-th step check; returns (the
    events it sent, the checks made)."""
    import queue

    from vidlong.apps.jobs import Job

    job, checks = Job(), []

    def check():
        checks.append(1)
        if len(checks) == stop_at:
            job.stop.set()
        Job.check(job)

    job.check = check
    events = queue.Queue()
    app._stream(job, streamer, chunks, events, dict(command="stream", prompt="a red circle", seed=0))
    return [events.get_nowait() for _ in range(events.qsize())], len(checks)


def test_stop_ends_a_fifo_stream_inside_the_native_video_of_its_cut(demo):
    """Stop pressed while a fifo stream makes the native video it cuts to ends it at that video's next step,
    not after all its steps; the chunk before the cut is kept, and the stream ends as stopped, not failed. The status
    names the queue while a chunk's frames come out of it, not the native video before it."""
    from vidlong.fifo_stream import CHUNK

    app = demo.vidlong_app
    streamer, chunks, _ = app.streamer("a red circle", [[1, "a blue square"]], 4, None, "auto", True, None, None, 0, None,
                                       "fifo", True)
    assert streamer.first_chunk_from(1) == 1 and chunks == 3  # the cut: chunk 1
    per_video = []  # on_step calls of the first chunk (its native video's, its queue's), counted on a stream the app does not run
    counted = app.streamer("a red circle", [], 1, None, "auto", True, None, None, 0, None, "fifo", True)[0]
    counted.on_step = lambda done, total: per_video.append(done)
    first = iter(counted)
    next(first)  # the first chunk: the native video the stream starts from
    first.close()
    stop_at = len(per_video) + 1  # Stop pressed as the cut's native video starts
    kinds, checks = stream_stopped_at(app, streamer, chunks, stop_at)
    assert [kind for kind, _ in kinds if kind != "status"] == ["chunk", "done"]
    assert len(per_video) >= 2 and checks == stop_at < 2 * len(per_video)  # the cut's remaining steps never ran
    assert ("status", f"native video: step 1/{app.spec.num_inference_steps}") in kinds
    assert [payload for kind, payload in kinds if kind == "status"][-2:] == [f"queue: latent frame {CHUNK}/{CHUNK}; decoding",
                                                                            f"native video: step 0/{app.spec.num_inference_steps}"]
    kept = kinds[-1][1].settings
    assert kept["chunks"] == 1 and kept["error"] is None


def test_stop_ends_a_chunked_stream_at_its_next_step_within_a_chunk(demo):
    """Stop pressed at the first step of a chunked stream's second chunk ends it there (that chunk's other steps never
    run: a chunk of a large model takes minutes), keeping the first chunk as a playable mp4; the stream ends as stopped,
    not failed, with its status at the step, and the model takes the next stream."""
    app = demo.vidlong_app
    streamer, chunks, _ = app.streamer("a red circle", [], 2, 3, "auto", True, 3, None, 0)  # 2 s, 3 steps a chunk
    assert chunks >= 2
    kinds, checks = stream_stopped_at(app, streamer, chunks, 4 + 2)  # from 0 as each chunk starts
    assert [kind for kind, _ in kinds if kind != "status"] == ["chunk", "done"] and checks == 4 + 2
    assert [payload for kind, payload in kinds if kind == "status"][-6:] == [
        "chunk: step 0/3", "chunk: step 1/3", "chunk: step 2/3", "chunk: step 3/3; decoding", "chunk: step 0/3", "chunk: step 1/3"]
    kept = kinds[-1][1]
    assert kept.settings["chunks"] == 1 and kept.settings["error"] is None
    assert read_video(kept.video)[0].shape[0] == 9
    again = iter(app.streamer("a red circle", [], 0, 3, "auto", True, 1, None, 0)[0])
    assert next(again).frames.shape[0] == 9
    again.close()


def test_a_new_stream_clears_the_last_ones_clip_and_video_from_the_page_as_it_starts(demo):
    """The page's first update of a stream, before its first chunk (10 s and more on a real model), empties the live
    clip, the status and the whole-stream video and sidecar of the stream before; the API's first output is a chunk's."""
    import asyncio

    app = demo.vidlong_app
    args = ("a red circle", [], 2, 3, "auto", True, 1, None, 0, None, "chunked", False, None, 0.0, None, 0.8, None, None, None)

    async def first_update(page):
        updates = app.stream_event(args, None, lambda *a, **k: None, page=page)
        try:
            return await updates.__anext__()
        finally:
            await updates.aclose()

    assert asyncio.run(first_update(True))[:4] == (None, "starting", None, None)
    live, status, *_ = asyncio.run(first_update(False))
    assert live.endswith(".mp4") and status.startswith("chunk 1/")


def test_a_stream_stopped_before_its_first_chunk_says_so_on_the_page(demo, monkeypatch):
    """Stop pressed at the first step of a stream's first chunk: the page's status, "starting" until then, says the stream
    stopped and made nothing (it stayed "starting")."""
    import asyncio

    from vidlong.apps import gradio_app

    app = demo.vidlong_app
    real_iter = gradio_app.VideoStreamer.__iter__

    def stopped_at_first_step(self):
        app.jobs.stop("no-session")  # Stop pressed on this session's page
        yield from real_iter(self)

    monkeypatch.setattr(gradio_app.VideoStreamer, "__iter__", stopped_at_first_step)
    args = ("a red circle", [], 2, 3, "auto", True, 1, None, 0, None, "chunked", False, None, 0.0, None, 0.8, None, None, None)

    async def statuses():
        return [status async for _, status, *_ in app.stream_event(args, None, lambda *a, **k: None, page=True)]

    assert asyncio.run(statuses()) == ["starting", "stopped before the first chunk: nothing was made"]


def test_a_video_to_continue_says_it_is_encoded_and_a_stop_meanwhile_holds(demo, tmp_path, monkeypatch):
    """Continue a video: the page says its end is being encoded (before, it showed nothing new for as long as that took),
    and a Stop pressed meanwhile ends the stream once the encode is done, before the input is copied or a step runs."""
    import asyncio

    import numpy as np

    from vidlong.apps import gradio_app
    from vidlong.video_io import write_video

    app = demo.vidlong_app
    video = write_video(tmp_path / "in.mp4", np.full((9, 32, 32, 3), 90, np.uint8), fps=8)
    args = ("a red circle", [], 1, 3, "auto", True, 1, None, 0, None, "chunked", False, None, 0.0, None, 0.8, str(video), None, None)
    real_streamer = gradio_app.App.streamer

    def stopped_while_encoding(self, *fields):
        made = real_streamer(self, *fields)
        app.jobs.stop("no-session")
        return made

    async def statuses():
        return [status async for _, status, *_ in app.stream_event(args, None, lambda *a, **k: None, page=True)]

    before = len(app.history.items())
    monkeypatch.setattr(gradio_app.App, "streamer", stopped_while_encoding)
    assert asyncio.run(statuses()) == ["encoding the end of the video to continue",
                                       "stopped before the first chunk: nothing was made"]
    assert len(app.history.items()) == before
    monkeypatch.setattr(gradio_app.App, "streamer", lambda *a: (_ for _ in ()).throw(VidlongError("too big to continue")))
    assert asyncio.run(statuses()) == ["encoding the end of the video to continue", "too big to continue"]  # not left "encoding"


def test_a_stream_or_a_video_to_continue_whose_chunks_will_not_fit_is_refused_first(demo, tmp_path, monkeypatch):
    """Streams are refused where their chunks will not fit, a video to continue before its end is encoded."""
    import numpy as np

    from vidlong import estimate
    from vidlong.video_io import write_video

    app = demo.vidlong_app
    video = write_video(tmp_path / "in.mp4", np.zeros((9, 32, 32, 3), np.uint8), fps=8)
    monkeypatch.setattr(estimate, "free_bytes", lambda device: 1000)
    monkeypatch.setattr(type(app.pipe), "extend", lambda *a, **k: pytest.fail("the video was encoded"))
    for fields in (dict(), dict(extend_video=str(video))):
        with pytest.raises(VidlongError, match="a stream's chunks take the same memory however long it runs"):
            app.streamer("a red circle", [], 1, 3, "auto", True, 1, None, 0, **fields)


def test_a_stream_with_no_end_counts_its_chunks_on_the_bar(demo):
    """A stream with no end (Seconds 0) shows the chunks made as a count, not a bar stuck at 0%: every update of the bar is
    (chunks made, None), a chunk's steps and its decode included; a stream of a set length shows (made, of)."""
    import asyncio

    app = demo.vidlong_app
    bars = []

    async def run(seconds):
        args = ("a red circle", [], seconds, 3, "auto", True, 1, None, 0, None, "chunked", False, None, 0.0, None, 0.8, None, None,
                None)
        updates = app.stream_event(args, None, lambda value, **kw: bars.append((value, kw["desc"])), page=True)
        async for _, status, *_ in updates:
            if status.startswith("chunk 2"):
                app.jobs.stop("no-session")

    asyncio.run(run(0))
    assert [value for value, _ in bars if value[0] == 0][0] == (0, None) and ((1, None), "chunk: step 1/1; decoding") in bars
    assert {value[1] for value, _ in bars} == {None} and ((2, None), "stream") in bars
    bars.clear()
    asyncio.run(run(1))
    (of,) = {value[1] for value, _ in bars}
    assert of >= 1 and bars[-1][0] == (of, of)


def test_a_stream_that_fails_midway_keeps_its_chunks(demo, client, monkeypatch):
    from vidlong.apps import gradio_app

    real_iter = gradio_app.VideoStreamer.__iter__

    def failing(self):
        for chunk in real_iter(self):
            yield chunk
            if chunk.index == 1:
                raise RuntimeError("out of memory")

    monkeypatch.setattr(gradio_app.VideoStreamer, "__iter__", failing)
    with pytest.raises(AppError, match="RuntimeError: out of memory"):
        client.predict(prompt="a failing stream", seconds=0, steps=1, api_name="/stream")
    kept = demo.vidlong_app.history.items()[0]
    assert kept.settings["prompt"] == "a failing stream" and kept.settings["chunks"] == 2
    assert kept.settings["error"] == "RuntimeError: out of memory"
    assert read_video(kept.video)[0].shape[0] == 9 + 12
    form = stream_form_of(demo.vidlong_app, kept)  # a history click: its settings back in the Stream tab's form
    assert {name: form[name].get("value") for name in gradio_app.STREAM_FORM_FIELDS} == \
        dict(prompt="a failing stream", timeline=[], seconds=0, method="chunked", seed=0, chunk=3, context="cache", steps=1,
             recache=True, cut=False, guidance=demo.vidlong_app.stream_guidance, partition_guidance="", noise_correlation=0)
    assert [form[name]["visible"] for name in ("chunk", "cut", "partition_guidance")] == [True, False, False]


def stream_form_of(app, item) -> dict:
    """The Stream tab's fields (`STREAM_FORM_FIELDS`) as a click on the history `item` updates them."""
    from vidlong.apps import gradio_app

    first = 3 + len(gradio_app.FORM_FIELDS) + 8  # after the video, settings, sidecar, the form, its six boxes and images
    return dict(zip(gradio_app.STREAM_FORM_FIELDS, app.reload(SimpleNamespace(value=item.video.name))[first:]))


def test_stop_pressed_while_queued_holds():
    from vidlong.apps.jobs import Jobs
    from vidlong.errors import Stopped

    jobs = Jobs()
    jobs.start("tab")  # the click reserves the job
    assert jobs.stop("tab")  # Stop while the run waits in the queue
    job = jobs.claim("tab")
    with pytest.raises(Stopped):
        job.check()
    jobs.finish("tab", job)
    assert not jobs.claim("tab").stop.is_set()  # the next run starts afresh


@contextlib.contextmanager
def launched(folder, downloads):
    """(the app `launch` serves on a free port over the model folder `folder`, its client), closed afterwards."""
    from vidlong.apps import gradio_app

    demo = gradio_app.launch(model=str(folder), port=free_port(), device="cpu", prevent_thread_lock=True, quiet=True)
    try:
        yield demo, Client(demo.local_url, verbose=False, analytics_enabled=False, download_files=str(downloads))
    finally:
        demo.close()


def test_a_helios_pages_length_note_names_the_frames_its_call_makes(tmp_path_factory):
    """A Helios folder's page (chunks of 3 latent frames decoded each on its own, the whole cut to 4k+1): Length 2 notes 2
    chunks' 6 latent frames as the 17 frames its call returns (not 4·5 + 1 = 21), and /generate makes those 17."""
    from test_helios import saved_folder

    folder = saved_folder(tmp_path_factory.mktemp("helios-note"))
    with launched(folder, tmp_path_factory.mktemp("helios-note-downloads")) as (demo, client):
        note = demo.vidlong_app.length_note(2, "none")
        assert note.startswith("6 latent frames = **17 frames**, 0.7 s at 24 fps"), note
        video, settings = client.predict(prompt="a red ball", ratio=2, api_name="/generate")
        assert read_video(video_path(video))[0].shape[0] == settings["pixel_frames"] == 17


def test_a_framepack_page_continues_a_video_and_names_its_first_frame_field(tmp_path_factory):
    """A FramePack folder's page (image to video; it streams and continues a video): "Continue a video" in its Stream tab;
    a 9-frame video to continue (its call's shortest: the image's frame and one section of 2) given through the API is
    continued by 0.5 s at its 30 fps (2 sections of 8 frames), its frames first; with a first-frame image beside it, refused
    in one line (the continuation's image is the video's first frame); a run with no first frame and no video is refused
    naming the page's field, not the CLI's --image; no Negative prompt field (its call makes its video without one)."""
    import numpy as np
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image
    from test_framepack import saved_folder

    from vidlong.video_io import write_video

    inputs = tmp_path_factory.mktemp("framepack-inputs")
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(inputs / "start.png")
    ramp = np.broadcast_to(np.linspace(40, 200, 9, dtype=np.uint8)[:, None, None, None], (9, 16, 16, 3))
    write_video(inputs / "in.mp4", ramp.copy(), fps=30)
    folder = saved_folder(tmp_path_factory.mktemp("framepack-page"))
    with launched(folder, tmp_path_factory.mktemp("framepack-downloads")) as (demo, client):
        assert field(demo, "Stream").visible and field(demo, "Continue a video").visible
        assert not field(demo, "Negative prompt").visible  # its call makes its video without one
        streamed = client.predict(prompt="a red ball", seconds=0.5, extend_video=handle_file(str(inputs / "in.mp4")),
                                  api_name="/stream")
        frames, fps = read_video(video_path(streamed[2]))
        assert len(frames) == 9 + 2 * 8 and fps == pytest.approx(30)
        assert np.abs(frames[:9].astype(int) - read_video(inputs / "in.mp4")[0].astype(int)).mean() < 3  # one more H.264 encode
        with pytest.raises(AppError, match=r"^Video to continue: the continuation starts from its own last frames; remove the "
                                           r"first-frame image, or the video to continue$"):
            client.predict(prompt="a red ball", seconds=1, extend_video=handle_file(str(inputs / "in.mp4")),
                           image=handle_file(str(inputs / "start.png")), api_name="/stream")
        for endpoint in ("/generate", "/stream"):
            with pytest.raises(AppError, match=r"^this model is image-to-video: pass the first frame with the \"First frame "
                                               r"\(image-to-video\)\" field \(the API's image\)$"):
                client.predict(prompt="a red ball", api_name=endpoint)


def test_a_video_to_continue_that_the_model_refuses_is_named_as_its_field(client, tmp_path):
    """A video given to "Continue a video" (/stream's extend_video) at a size the model does not take is refused in one line
    naming that field, "extend video", not "video" (/stream's video to redraw, empty here)."""
    import numpy as np
    from gradio_client import handle_file

    from vidlong.video_io import write_video

    odd = tmp_path / "odd.mp4"
    write_video(odd, np.zeros((5, 40, 56, 3), np.uint8), fps=8)
    with pytest.raises(AppError, match=r"^extend video is 56x40; this model needs sizes in multiples of 16, at least 16: crop its "
                                       r"edges first, e\.g\. ffmpeg -i odd\.mp4 -vf crop=48:32 odd_48x32\.mp4$"):
        client.predict(prompt="a red circle", seconds=1, extend_video=handle_file(str(odd)), api_name="/stream")


def header(demo) -> str:
    """The page's first Markdown: its title and what the model does."""
    import gradio as gr

    return next(block.value for block in demo.blocks.values() if isinstance(block, gr.Markdown))


def test_a_text_to_video_page_whose_weights_also_run_image_to_video_says_how_to_serve_its_first_frame_page(demo, tmp_path):
    """A Wan2.2 TI2V-5B folder (a `WanPipeline` whose weights also run image to video, as LTX-Video's and Kandinsky 6's) served
    as text to video: its header says that `vidlong app --task i2v` serves its page with a first-frame field, which the help
    of --task names Kandinsky 6 among; a Wan2.1 folder's (no such weights) says nothing of it."""
    from vidlong.apps import gradio_app

    hint = "To start from a first frame, serve this folder with `vidlong app --task i2v`."
    assert hint not in header(demo)  # before another page is built (Gradio adds a page's blocks to the served one's too)
    assert hint in header(gradio_app.build_app(load_pipeline(save_tiny_pipeline(tmp_path / "ti2v", "ti2v"), device="cpu")))
    app = add_app_parser(argparse.ArgumentParser(prog="vidlong").add_subparsers(dest="command"))
    assert all(name in " ".join(app.format_help().split()) for name in ("LTX-2,", "Kandinsky 6)"))  # its lines unwrapped


def test_a_sound_models_compare_field_says_its_side_by_side_video_is_silent(demo, tmp_path):
    """A Kandinsky 6 folder's page (video with its sound): the compared methods' field says that the side-by-side video has
    no sound (one soundtrack per method) and Generate's keeps it; a silent model's (Wan) says nothing of sound."""
    from tiny_pipeline import save_tiny_kandinsky6_pipeline

    from vidlong.apps import gradio_app

    assert field(demo, "Methods (2-4), same prompt and seed").visible  # before another page is built, as above
    sound = gradio_app.build_app(load_pipeline(save_tiny_kandinsky6_pipeline(tmp_path / "kandinsky6"), device="cpu"))
    assert field(sound, "Methods (2-4), same prompt and seed; side by side without sound (Generate keeps it)").visible


def test_the_app_says_where_it_serves_in_vidlongs_words(model_dir, capsys):
    """`launch` (what `vidlong app` runs) prints one line: the page's address and vidlong's --share for a public link
    (Gradio's own lines asked a `vidlong app` user to "set `share=True` in `launch()`")."""
    from vidlong.apps import gradio_app

    demo = gradio_app.launch(model=str(model_dir), port=free_port(), device="cpu", prevent_thread_lock=True)
    try:
        printed = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    finally:
        demo.close()
    assert printed == [f"vidlong app: open {demo.local_url} in a browser (vidlong app --share: a public gradio.live link too); "
                       "Ctrl-C stops it"]
