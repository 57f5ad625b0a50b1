"""The app as a person uses it, in a real headless Chromium (Debian's chromium, Playwright) against the
real Gradio server in this process with a tiny WanPipeline: generate, the stages of the progress bar,
Stop (and a closed tab) freeing the worker, live streaming with a prompt switch and Stop, compare, history; and a
first frame setting the size fields of a tiny WanImageToVideoPipeline's page."""
from __future__ import annotations

import re
import time

import pytest

from test_app import CHROMIUM, CHROMIUM_ARGS, EMPTY_PROMPT, NATIVE_LATENT_FRAMES, free_port, slow  # noqa: F401 - a fixture
from tiny_pipeline import save_tiny_pipeline
from vidlong.pipeline import load_pipeline
from vidlong.video_io import read_video

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium")
TIMEOUT_MS = 120_000
SIZE = 32  # the tiny model's frames are 32x32


def served(folder):
    """The app of the pipeline in `folder`, served on a free local port until the generator is closed."""
    from vidlong.apps import gradio_app

    demo = gradio_app.build_app(load_pipeline(folder, device="cpu"))
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True, show_error=True)
    try:
        yield demo
    finally:
        demo.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    yield from served(save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan")))


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def pages_closed(request):
    """Closes the pages a test left open (its own `browser.new_page` context each): a test failing part way leaves its tab,
    whose job runs until the tab closes, so that a stream of Seconds 0 or a 1000-step run would hold the app's one worker
    through the file's later tests."""
    yield
    if "browser" in request.fixturenames:
        for context in request.getfixturevalue("browser").contexts:
            context.close()


def open_page(browser, demo, tab: str = "Generate"):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(demo.local_url, wait_until="load")
    page.get_by_role("tab", name=tab).click()
    expect(page.get_by_label("Stream prompt" if tab == "Stream" else "Prompt")).to_be_visible()
    return page


def served_video(page, selector: str, path):
    """Download the mp4 that the page's video element `selector` plays; its frames."""
    from playwright.sync_api import expect

    video = page.locator(f"{selector} video[src]")
    expect(video).to_be_attached()
    page.wait_for_function(f"document.querySelector('{selector} video').readyState >= 2")
    response = page.request.get(video.get_attribute("src"))
    assert response.ok
    path.write_bytes(response.body())
    return read_video(path)[0]


def generated(page, path, steps=None):
    """The frames of the video that Generate makes for "a blue square" (with `steps`, where given), downloaded to `path`."""
    page.get_by_label("Prompt").fill("a blue square")
    if steps is not None:
        set_number(page, "Steps", steps)
    page.get_by_role("button", name="Generate").click()
    return served_video(page, "#video", path)


def set_number(page, label: str, value) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def test_generate_shows_stages_video_and_one_line_errors(demo, browser, tmp_path, slow):
    from playwright.sync_api import expect

    slow.decode_delay = 0.3  # the decode stays on the bar long enough to be seen
    page = open_page(browser, demo)
    page.get_by_label("Prompt").fill("a green triangle bouncing on the dark background")
    set_number(page, "Steps", 8)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("denoise").first).to_be_visible()
    expect(page.get_by_text("decode").first).to_be_visible()  # the bar does not sit at 100 % through the decode
    frames = served_video(page, "#video", tmp_path / "served.mp4")
    assert frames.shape == ((2 * NATIVE_LATENT_FRAMES - 1) * 4 + 1, SIZE, SIZE, 3)
    expect(page.locator("#settings")).to_contain_text("latent_frames")
    expect(page.locator("#sidecar")).to_contain_text(".json")
    expect(page.locator("#history img, #history video").first).to_be_attached()
    thumbnail, history = (page.locator(selector).bounding_box() for selector in ("#history button[aria-label^=Thumbnail]",
                                                                                 "#history"))
    assert thumbnail["width"] < history["width"] / 4, "a lone history item fills the panel's width"
    assert thumbnail["y"] + thumbnail["height"] <= history["y"] + history["height"], "its caption is cut off below the panel"
    page.screenshot(path=str(tmp_path / "app.png"), full_page=True)

    shown = page.locator("#video video").get_attribute("src")
    page.get_by_label("Prompt").fill("")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text(EMPTY_PROMPT)).to_be_visible()
    assert page.locator("#video video").get_attribute("src") == shown  # the last good video stays
    page.get_by_label("Prompt").fill("a green triangle")
    set_number(page, "Steps", 0)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("Steps must be from 1 to 1000, got 0")).to_be_visible()  # the field, named as on the page
    length = page.locator("#ratio input[type=number]")
    length.fill("20")
    length.press("Enter")
    expect(page.get_by_text("Length must be from 1 to 8, got 20")).to_be_visible()  # the slider's box takes any number
    # a field's refusal, as a handler's: a toast, the last video and the history left in view (no "Error" over them)
    assert page.locator("[data-testid=status-tracker] .error").count() == 0
    assert page.locator("#video video").get_attribute("src") == shown
    assert "Traceback" not in page.locator("body").inner_text()
    page.close()


def test_stop_during_generate_frees_the_worker_for_another_tab(demo, browser, slow):
    from playwright.sync_api import expect

    slow.delay = 0.1
    first, second = open_page(browser, demo), open_page(browser, demo)
    first.get_by_label("Prompt").fill("a long job")
    set_number(first, "Steps", 1000)  # 100 s at this pace unless stopped
    first.get_by_role("button", name="Generate").click()
    expect(first.get_by_text("denoise").first).to_be_visible()
    second.get_by_label("Prompt").fill("the next job")
    set_number(second, "Steps", 2)
    second.get_by_role("button", name="Generate").click()
    time.sleep(1.0)
    stopped_at = time.monotonic()
    first.locator("#stop").click()
    expect(first.get_by_text("Stopping at the next step")).to_be_visible()  # at once, not when the step ends
    expect(second.locator("#video video[src]")).to_be_attached()
    runs = {prompt: (start, end) for prompt, start, end in slow.spans}
    # bounds far below the 100 s the long job would run on, wide enough for a loaded 2-core machine (2.08 s seen)
    assert runs["a long job"][1] - stopped_at < 10.0, "the stopped job ran on"
    assert runs["the next job"][0] - stopped_at < 12.0, "the second tab's job did not start soon after the stop"
    expect(first.get_by_text("Stopped").first).to_be_visible()
    first.close()
    second.close()


def test_closing_the_tab_stops_its_job(demo, browser, slow):
    from playwright.sync_api import expect

    slow.delay = 0.1
    page = open_page(browser, demo)
    page.get_by_label("Prompt").fill("an abandoned job")
    set_number(page, "Steps", 1000)
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("denoise").first).to_be_visible()
    page.close()
    deadline = time.monotonic() + 60
    while not slow.spans and time.monotonic() < deadline:
        time.sleep(0.2)
    assert slow.spans, "the job of a closed tab kept running"
    assert not demo.vidlong_app.lock.locked()


@pytest.mark.parametrize("method", ["chunked", "fifo"])
def test_stream_updates_live_switches_prompt_and_stop_keeps_a_playable_file(demo, browser, tmp_path, method):
    """Either stream method: live clips, a prompt switch while it runs, Stop; fifo hides the chunked-only fields
    and shows its own (cut on a switch, guidance by partition, noise correlation)."""
    from playwright.sync_api import expect

    page = open_page(browser, demo, "Stream")
    page.get_by_label("Stream prompt").fill("a red circle")
    fifo_fields = [page.locator(selector) for selector in ("#stream-partition-guidance", "#stream-noise-correlation")]
    if method == "fifo":
        page.locator("#stream-method").get_by_label("fifo").check()
        expect(page.get_by_label("Chunk (latent frames)")).to_be_hidden()
        for field in [page.locator("#stream-cut"), *fifo_fields]:
            expect(field).to_be_visible()
    else:
        for field in fifo_fields:
            expect(field).to_be_hidden()
    set_number(page, "Seconds (0: until stopped)", 0)
    page.get_by_role("button", name="Start stream").click()
    sources = set()
    deadline = time.monotonic() + 120
    while len(sources) < 2 and time.monotonic() < deadline:
        src = page.locator("#live video[src]").first
        if src.count():
            sources.add(src.get_attribute("src"))
        time.sleep(0.05)
    assert len(sources) >= 2, "the live view did not update twice"
    page.get_by_label("Next prompt (while streaming)").fill("a blue square")
    page.locator("#switch").click()
    expect(page.locator("#stream-status")).to_contain_text("a blue square")  # switched, or a chunk with it landed
    page.locator("#stream-stop").click()
    frames = served_video(page, "#stream-video", tmp_path / "stream.mp4")
    status = page.locator("#stream-status").inner_text()
    assert "stopped" in status
    chunks = int(status.split("stopped; ")[1].split(" chunks")[0])
    assert chunks >= 2 and len(frames) == 9 + 12 * (chunks - 1)  # every chunk made, first 9 frames then 12 each
    expect(page.locator("#stream-sidecar")).to_contain_text(".json")
    assert demo.vidlong_app.history.items()[0].settings["streaming"].get("method", "chunked") == method
    page.screenshot(path=str(tmp_path / "stream.png"), full_page=True)
    shown = page.locator("#stream-video video").get_attribute("src")
    page.close()

    page = open_page(browser, demo)  # a new page's click on the stream in its history: it opens on the Stream tab
    page.locator("#history").get_by_role("button", name=re.compile(r"^Thumbnail 1 of")).click()
    expect(page.locator("#stream-video video")).to_have_attribute("src", shown)
    expect(page.locator("#stream-sidecar")).to_contain_text(".json")
    page.close()


def test_compare_shows_synchronised_panels_and_history_reloads_settings(demo, browser, tmp_path):
    from playwright.sync_api import expect

    page = open_page(browser, demo)
    page.get_by_label("Prompt").fill("a yellow star")
    set_number(page, "Steps", 2)
    fifo_guidance, fifo_noise = page.locator("#partition-guidance"), page.locator("#noise-correlation")
    expect(fifo_guidance).to_be_hidden()  # fifo's fields show for fifo alone, and leave it at their defaults
    page.locator("#method").get_by_label("fifo", exact=True).check()
    expect(fifo_noise).to_be_visible()
    fifo_guidance.get_by_label("Guidance by partition").fill("4.5,6,7.5")
    page.locator("#method").get_by_label("both", exact=True).check()
    expect(fifo_guidance).to_be_hidden()
    page.locator("#method").get_by_label("fifo", exact=True).check()
    expect(fifo_guidance.get_by_label("Guidance by partition")).to_have_value("")
    page.locator("#method").get_by_label("both", exact=True).check()
    page.get_by_role("button", name="Compare methods").click()
    page.locator("#compared").get_by_label("ultravico").check()  # none, both (default) + ultravico
    page.get_by_role("button", name="Compare side by side").click()
    frames = served_video(page, "#video", tmp_path / "compare.mp4")
    assert frames.shape == ((2 * NATIVE_LATENT_FRAMES - 1) * 4 + 1, 16 + SIZE, 3 * SIZE + 2 * 4, 3)
    panels = [frames[:, 16:, i * (SIZE + 4): i * (SIZE + 4) + SIZE] for i in range(3)]
    assert all(p.std() > 1 for p in panels)  # three rendered panels, one per method, in one video
    expect(page.locator("#settings")).to_contain_text("compared")

    page.get_by_label("Prompt").fill("something else")
    page.get_by_role("tab", name="Stream").click()  # a generation clicked in the history opens on the Generate tab
    page.locator("#history").get_by_role("button", name=re.compile(r"^Thumbnail 1 of")).click()
    expect(page.get_by_label("Prompt", exact=True)).to_be_visible()
    expect(page.get_by_label("Prompt", exact=True)).to_have_value("a yellow star")
    page.close()



@pytest.fixture(scope="module")
def i2v_demo(tmp_path_factory):
    yield from served(save_tiny_pipeline(tmp_path_factory.mktemp("tiny-i2v"), "i2v"))


def test_a_first_frame_sets_the_size_fields_to_its_aspect(i2v_demo, browser, tmp_path):
    """Uploading a 2:1 portrait first frame to an image-to-video model (32x32 native) sets Height and Width to 32x16,
    its aspect at the model's pixel area, before any run."""
    import numpy as np
    from PIL import Image
    from playwright.sync_api import expect

    portrait = tmp_path / "portrait.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 255, (64, 32, 3), dtype=np.uint8)).save(portrait)
    page = open_page(browser, i2v_demo)
    page.locator("#image input[type=file]").set_input_files(str(portrait))
    page.get_by_text("More", exact=True).first.click()
    expect(page.get_by_label("Height (multiple of 16)", exact=True)).to_have_value("32")
    expect(page.get_by_label("Width (multiple of 16)", exact=True)).to_have_value("16")
    page.close()


def test_a_video_uploaded_to_redraw_comes_back_redrawn_at_its_length(demo, browser, tmp_path):
    """The Generate tab's "Redraw a video" (a Wan2.1-layout model): an uploaded 15-frame mp4 comes back as 13 redrawn
    frames (its most 4k+1), whatever the Length field says."""
    import numpy as np
    from playwright.sync_api import expect

    from vidlong.video_io import write_video

    source = tmp_path / "upload.mp4"
    write_video(source, np.random.default_rng(5).integers(0, 255, (15, SIZE, SIZE, 3), dtype=np.uint8), fps=8)
    page = open_page(browser, demo)
    page.get_by_text("Redraw a video (video-to-video)").click()
    page.locator("#redraw input[type=file]").set_input_files(str(source))
    expect(page.locator("#redraw video")).to_be_attached()
    expect(page.locator("#length-note")).to_contain_text("The video to redraw (the Length field is not used): 4 latent frames")
    frames = generated(page, tmp_path / "redrawn.mp4", steps=2)
    assert frames.shape == (13, SIZE, SIZE, 3)
    expect(page.locator("#settings")).to_contain_text("strength")
    page.close()


def streamed_upload(demo, browser, tmp_path, accordion: str, field: str, frames: int, seconds: float):
    """The whole stream the Stream tab makes of an uploaded `frames`-frame mp4 (8 fps, random pixels) given to `field`
    (an element id) under `accordion`, with Seconds `seconds` and 2 steps a chunk."""
    import numpy as np
    from playwright.sync_api import expect

    from vidlong.video_io import write_video

    source = tmp_path / "upload.mp4"
    write_video(source, np.random.default_rng(frames).integers(0, 255, (frames, SIZE, SIZE, 3), dtype=np.uint8), fps=8)
    page = open_page(browser, demo, "Stream")
    page.get_by_label("Stream prompt").fill("a blue square")
    page.get_by_text(accordion).click()
    page.locator(f"#{field} input[type=file]").set_input_files(str(source))
    expect(page.locator(f"#{field} video")).to_be_attached()
    set_number(page, "Seconds (0: until stopped)", seconds)
    set_number(page, "Steps per chunk", 2)
    page.get_by_role("button", name="Start stream").click()
    streamed = served_video(page, "#stream-video", tmp_path / "streamed.mp4")
    expect(page.locator("#stream-sidecar")).to_contain_text(".json")
    page.close()
    return streamed


def test_a_video_uploaded_to_a_stream_is_redrawn_chunk_by_chunk(demo, browser, tmp_path):
    """The Stream tab's "Redraw a video, chunk by chunk": an uploaded 15-frame mp4 comes back as its 13 frames (its most
    4k+1), redrawn, whatever the Seconds field says."""
    frames = streamed_upload(demo, browser, tmp_path, "Redraw a video, chunk by chunk", "stream-redraw", 15, seconds=0)
    assert frames.shape == (13, SIZE, SIZE, 3)
    assert demo.vidlong_app.history.items()[0].settings["streaming"]["strength"] == 0.8


def test_a_video_uploaded_to_continue_streams_on_from_its_last_frames(demo, browser, tmp_path):
    """The Stream tab's "Continue a video": an uploaded 9-frame mp4 comes back as its frames, then a second of new ones
    (one 12-frame chunk at its 8 fps); the history records it as vidlong extend's sidecar does."""
    frames = streamed_upload(demo, browser, tmp_path, "Continue a video", "stream-extend", 9, seconds=1)
    assert frames.shape == (9 + 12, SIZE, SIZE, 3)
    settings = demo.vidlong_app.history.items()[0].settings
    assert settings["command"] == "extend" and settings["input_frames"] == 9 and settings["chunks"] == 1


@pytest.fixture(scope="module")
def animate_demo(tmp_path_factory):
    from tiny_pipeline import save_tiny_wan_animate_pipeline

    yield from served(save_tiny_wan_animate_pipeline(tmp_path_factory.mktemp("tiny-animate"), num_inference_steps=1))


def test_a_character_animated_by_uploaded_pose_and_face_videos(animate_demo, browser, tmp_path):
    """A Wan Animate model's page (no Stream tab: it does not stream): the character's picture and the pose and face videos
    uploaded, the length note says the video is as long as the pose video (11 frames at 10 fps) and asks for the face video
    until it is there; Generate makes the 11 frames."""
    from playwright.sync_api import expect
    from tiny_pipeline import write_driving_files

    given = write_driving_files(tmp_path, 11, 10, seed=4)
    page = open_page(browser, animate_demo)
    expect(page.get_by_role("tab", name="Stream")).to_have_count(0)  # it does not stream
    page.locator("#image input[type=file]").set_input_files(given["--image"])
    page.locator("#pose-video input[type=file]").set_input_files(given["--pose-video"])
    expect(page.locator("#pose-video video")).to_be_attached()
    expect(page.locator("#length-note")).to_contain_text("with a pose and a face video: pass face video face.mp4")
    page.locator("#face-video input[type=file]").set_input_files(given["--face-video"])
    expect(page.locator("#length-note")).to_contain_text("As long as the pose video: 11 frames, 1.1 s at 10 fps")
    page.locator("#segment-overlap").get_by_label("5").check()  # each segment after the first starts from 5 frames
    frames = generated(page, tmp_path / "animated.mp4")
    assert frames.shape == (11, SIZE, SIZE, 3)
    expect(page.locator("#settings")).to_contain_text('"segment_overlap": 5')
    page.locator("#segment-overlap").get_by_label("1").check()
    page.locator("#history").get_by_role("button", name=re.compile(r"^Thumbnail 1 of")).click()  # its settings back
    expect(page.locator("#segment-overlap").get_by_label("5")).to_be_checked()
    page.close()


#: per control model: its tiny folder's saver and settings, the control video's frames, the length note's latent frames
#: and the frames made (its most 4k+1, CogVideoX's 8k+1), and whether its panel shows a mask video and reference images
CONTROL_PAGES = {"vace": ("save_tiny_vace_pipeline", {}, 14, 4, 13, True),
                 "fun": ("save_tiny_cogvideox_fun_pipeline", dict(height=SIZE, width=SIZE), 20, 5, 17, False)}


@pytest.mark.parametrize("kind", list(CONTROL_PAGES))
def test_a_control_video_uploaded_to_a_control_model_sets_the_length(kind, tmp_path_factory, browser, tmp_path):
    """A Wan VACE model's page (its mask video and reference images beside the control video) and a CogVideoX-Fun control
    model's (the control video alone): an uploaded control video makes the length note name the frames the model takes of
    it, whatever Length says, and Generate makes them."""
    import numpy as np
    import tiny_pipeline
    from playwright.sync_api import expect

    from vidlong.video_io import write_video

    saver, spec, given, latent, made, vace = CONTROL_PAGES[kind]
    folder = getattr(tiny_pipeline, saver)(tmp_path_factory.mktemp(f"tiny-{kind}"), num_inference_steps=1, **spec)
    control = tmp_path / "control.mp4"
    write_video(control, np.random.default_rng(6).integers(0, 255, (given, SIZE, SIZE, 3), dtype=np.uint8), fps=10)
    for demo in served(folder):
        page = open_page(browser, demo)
        expect(page.get_by_text(f"Follow a control video ({'Wan VACE' if vace else 'CogVideoX-Fun'})")).to_be_visible()
        for field in ("#mask-video", "#reference-images"):
            (expect(page.locator(field)).to_be_visible if vace else expect(page.locator(field)).to_be_hidden)()
        page.locator("#control-video input[type=file]").set_input_files(str(control))
        expect(page.locator("#length-note")).to_contain_text(f"The control video (the Length field is not used): {latent} "
                                                             f"latent frames = {made} frames")
        frames = generated(page, tmp_path / "controlled.mp4")
        assert frames.shape == (made, SIZE, SIZE, 3)
        page.close()
