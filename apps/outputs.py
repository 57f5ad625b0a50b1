"""Where the app's videos live, and the history of this server's outputs.

The folder sits inside Gradio's own cache folder, so Gradio serves the files in place instead of
keeping a copy of each: pruning the folder to the newest few outputs bounds the app's disk use. It is
removed when the server stops (Ctrl-C, SIGTERM or a normal exit).
"""
from __future__ import annotations

import atexit
import json
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from vidlong.files import atomic_write_text

#: outputs (videos with their settings) kept in the history and on disk
KEEP_OUTPUTS = 8
#: live clips of a running stream kept on disk (the page may still be loading the previous one)
KEEP_LIVE = 3


def gradio_cache_folder() -> Path:
    """Gradio's cache folder (``GRADIO_TEMP_DIR``, else the system temp folder's ``gradio``)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


class OutputFolder:
    """A folder of the app's files under Gradio's cache, removed at exit; names never repeat."""

    def __init__(self, parent: Optional[Path] = None):
        parent = Path(parent) if parent is not None else gradio_cache_folder()
        parent.mkdir(parents=True, exist_ok=True)
        self.path = parent / f"vidlong-{secrets.token_hex(4)}"
        self.path.mkdir()
        self._count = 0
        self._lock = threading.Lock()
        atexit.register(self.remove)

    def new_path(self, kind: str, suffix: str = ".mp4") -> Path:
        """A fresh file name ``KIND-00001-<time>.mp4``; the oldest live clips beyond `KEEP_LIVE` are removed."""
        with self._lock:
            self._count += 1
            count = self._count
        if kind == "live":
            self.prune("live", KEEP_LIVE - 1)
        return self.path / f"{kind}-{count:05d}-{int(time.time())}{suffix}"

    def prune(self, kind: str, keep: int) -> None:
        """Remove all but the newest `keep` files of `kind` (with their .json settings)."""
        files = sorted(self.path.glob(f"{kind}-*.mp4"))
        for old in files[: max(0, len(files) - keep)]:
            old.unlink(missing_ok=True)
            old.with_suffix(".json").unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@dataclass
class Output:
    """One finished video of the app: the mp4, its settings (as in the CLI's .json sidecar) and that
    sidecar file, and a short caption; an image editor's edit (ChronoEdit's: the video's last frame, a PNG beside the mp4,
    its settings' ``edited_image``), else None; LTX-2 HDR's linear frames (float16 ``[T, H, W, 3]`` in a ``.hdr.npy`` beside
    the mp4, its settings' ``hdr_video``: `vidlong.hdr_video`), else None."""

    video: Path
    settings: dict
    sidecar: Path
    caption: str
    edited_image: Optional[Path] = None
    hdr_video: Optional[Path] = None


class History:
    """This server's newest outputs (newest first), shared by every page; older ones leave the disk."""

    def __init__(self, folder: OutputFolder, keep: int = KEEP_OUTPUTS):
        self.folder, self.keep = folder, keep
        self._items: list[Output] = []
        self._lock = threading.Lock()

    def add(self, video: Path, settings: dict, caption: str) -> Output:
        """Record `video` with `settings`, written beside it as ``.json`` (the edited image and linear HDR frames its settings
        name kept with it); drops the oldest beyond `keep`, their files too."""
        sidecar = atomic_write_text(video.with_suffix(".json"), json.dumps(settings, indent=2) + "\n")
        edited, hdr = (settings.get(name) for name in ("edited_image", "hdr_video"))
        item = Output(video, settings, sidecar, caption, None if edited is None else Path(edited), None if hdr is None else Path(hdr))
        with self._lock:
            self._items.insert(0, item)
            dropped, self._items = self._items[self.keep :], self._items[: self.keep]
        for old in dropped:
            for path in (old.video, old.sidecar, old.edited_image, old.hdr_video):
                if path is not None:
                    path.unlink(missing_ok=True)
        return item

    def items(self) -> list[Output]:
        with self._lock:
            return list(self._items)

    def gallery(self) -> list[tuple[str, str]]:
        """(video path, caption) pairs for a ``gr.Gallery``."""
        return [(str(item.video), item.caption) for item in self.items()]
