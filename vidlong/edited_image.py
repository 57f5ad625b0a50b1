"""The edit of an image editor's video as a picture beside it: ChronoEdit's call (`vidlong.models.IMAGE_EDITING_PIPELINES`)
denoises a short video from the input image to the edited one, which is its last frame; `vidlong generate` writes that
frame as a PNG next to the mp4 (``edit.mp4`` -> ``edit.edited.png``), atomically, as it writes its other files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes

#: what the edited image's file name puts in place of the video's suffix
EDITED_SUFFIX = ".edited.png"


def edited_image_path(out: Path) -> Path:
    """The PNG beside the video `out` that holds its edit: ``edit.mp4`` -> ``edit.edited.png``."""
    return Path(out).with_suffix(EDITED_SUFFIX)


def write_edited_image(path: Path, frame: np.ndarray) -> Path:
    """The uint8 frame ``[H, W, 3]`` (the video's last: the edit) as a PNG at `path`, atomically (`atomic_write_bytes`)."""
    from PIL import Image

    data = io.BytesIO()
    Image.fromarray(frame).save(data, format="PNG")
    return atomic_write_bytes(path, data.getvalue())
