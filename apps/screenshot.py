"""Screenshot of the app after one generation, for the README (`docs/app.png`).

    python -m vidlong.apps.screenshot --out docs/app.png [--model FOLDER] [--prompt ...] [--ratio 2]

Serves the app on a free localhost port in this process, drives a headless Chromium with Playwright
(Debian's `chromium` package; no `playwright install`), types the prompt, clicks Generate, waits for the
video to play and saves a PNG of the page.
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


def screenshot(url: str, out: Path, prompt: str, method: str = "both", ratio: float = 2.0,
               chromium: str = "/usr/bin/chromium", width: int = 1280, height: int = 900,
               timeout_s: float = 600) -> Path:
    """Generate once in the app at `url` through a headless browser and save the page to `out`."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_s * 1000)
            page.goto(url, wait_until="load")
            page.get_by_label("Prompt").fill(prompt)
            page.locator("#method").get_by_text(method, exact=True).click()
            ratio_box = page.locator("#ratio input[type=number]")
            ratio_box.fill(str(ratio))
            ratio_box.press("Enter")
            page.get_by_role("button", name="Generate").click()
            expect(page.locator("#video video[src]")).to_be_attached(timeout=timeout_s * 1000)
            page.wait_for_function("document.querySelector('#video video').readyState >= 2")
            page.wait_for_timeout(500)
            page.wait_for_timeout(1500)  # let the video play a little and the progress UI settle
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
        finally:
            browser.close()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/app.png")
    parser.add_argument("--model", default=None, help="local diffusers Wan folder (default: the embedded model)")
    parser.add_argument("--prompt", default="a red circle and a blue square bouncing on a dark background")
    parser.add_argument("--method", default="both")
    parser.add_argument("--ratio", type=float, default=2.0)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--device", default=None)
    args = parser.parse_args(argv)

    from vidlong.apps.gradio_app import build_app
    from vidlong.pipeline import load_pipeline

    demo = build_app(load_pipeline(args.model, device=args.device))
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        path = screenshot(demo.local_url, Path(args.out), args.prompt, args.method, args.ratio, args.chromium)
    finally:
        demo.close()
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
