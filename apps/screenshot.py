"""Screenshots of the app for the README: a generation (`docs/app.png`), a comparison of methods
(`docs/app-compare.png`) and a stream stopped after a few chunks (`docs/app-stream.png`).

    python -m vidlong.apps.screenshot --out docs/app.png [--model FOLDER] [--prompt ...] [--ratio 2] \
        [--compare none,both] [--stream-chunks 3]

Serves the app on a free localhost port in this process, drives a headless Chromium with Playwright
(Debian's `chromium` package; no `playwright install`), fills the page as a person would and saves PNGs.
"""
from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _open(browser, url: str, width: int, height: int, timeout_s: float):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(timeout_s * 1000)
    page.goto(url, wait_until="load")
    return page


def _wait_for_video(page, selector: str, timeout_s: float) -> None:
    from playwright.sync_api import expect

    expect(page.locator(f"{selector} video[src]")).to_be_attached(timeout=timeout_s * 1000)
    page.wait_for_function(f"document.querySelector('{selector} video').readyState >= 2")
    page.wait_for_timeout(1500)  # let the video play a little and the progress UI settle


def _fill_generate(page, prompt: str, method: str, ratio: float) -> None:
    page.get_by_label("Prompt").fill(prompt)
    page.locator("#method").get_by_text(method, exact=True).click()
    ratio_box = page.locator("#ratio input[type=number]")
    ratio_box.fill(str(ratio))
    ratio_box.press("Enter")


def screenshot(url: str, out: Path, prompt: str, method: str = "both", ratio: float = 2.0,
               chromium: str = "/usr/bin/chromium", width: int = 1280, height: int = 900,
               timeout_s: float = 600, compare: tuple = (), stream_chunks: int = 0) -> list[Path]:
    """Through a headless browser on the app at `url`: generate once and save the page to `out`; with
    `compare` methods, also a comparison (``OUT-compare.png``); with `stream_chunks`, a stream stopped
    after that many chunks (``OUT-stream.png``). Returns the files written."""
    from playwright.sync_api import expect, sync_playwright

    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = _open(browser, url, width, height, timeout_s)
            _fill_generate(page, prompt, method, ratio)
            page.get_by_role("button", name="Generate").click()
            _wait_for_video(page, "#video", timeout_s)
            page.screenshot(path=str(out))
            written.append(out)
            if compare:
                page.get_by_role("button", name="Compare methods").click()
                for box in page.locator("#compared input[type=checkbox]").all():
                    box.set_checked(box.locator("xpath=..").inner_text().strip() in compare)
                first_src = page.locator("#video video").get_attribute("src")
                page.get_by_role("button", name="Compare side by side").click()
                page.wait_for_function(f"document.querySelector('#video video')?.getAttribute('src') !== {first_src!r}",
                                       timeout=timeout_s * 1000)
                _wait_for_video(page, "#video", timeout_s)
                written.append(out.with_name(f"{out.stem}-compare{out.suffix}"))
                page.screenshot(path=str(written[-1]), full_page=True)
            if stream_chunks:
                page.get_by_role("tab", name="Stream").click()
                page.get_by_label("Stream prompt").fill(prompt)
                seconds = page.get_by_label("Seconds (0: until stopped)", exact=True)
                seconds.fill("0")
                seconds.press("Tab")
                page.get_by_role("button", name="Start stream").click()
                expect(page.locator("#stream-status")).to_contain_text(f"chunk {stream_chunks}:", timeout=timeout_s * 1000)
                page.locator("#stream-stop").click()
                _wait_for_video(page, "#stream-video", timeout_s)
                written.append(out.with_name(f"{out.stem}-stream{out.suffix}"))
                page.screenshot(path=str(written[-1]), full_page=True)
        finally:
            browser.close()
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/app.png")
    parser.add_argument("--model", default=None, help="local diffusers Wan folder (default: the embedded model)")
    parser.add_argument("--prompt", default="a red circle and a blue square bouncing on a dark background")
    parser.add_argument("--method", default="both")
    parser.add_argument("--ratio", type=float, default=2.0)
    parser.add_argument("--compare", default="none,both", help="methods of the comparison shot (empty: none)")
    parser.add_argument("--stream-chunks", type=int, default=3, help="chunks before Stop in the stream shot (0: none)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from vidlong.apps.gradio_app import build_app
    from vidlong.pipeline import load_pipeline

    demo = build_app(load_pipeline(args.model, device=args.device))
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        paths = screenshot(demo.local_url, Path(args.out), args.prompt, args.method, args.ratio, args.chromium,
                           compare=tuple(m for m in args.compare.split(",") if m), stream_chunks=args.stream_chunks)
    finally:
        demo.close()
    print("wrote " + ", ".join(map(str, paths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
