"""The linear HDR video of LTX-2's HDR IC-LoRA pipeline (`vidlong.families.ltx2_hdr`): its frames are linear light
``[T, H, W, 3]`` in ``[0, inf)``, which `generate` tone-maps to the uint8 sRGB frames of the mp4 as diffusers'
``encode_hdr_tensor_to_mp4`` does by default (clipped to [0, 1], then sRGB's transfer function), and which `vidlong generate`
keeps beside the mp4 as a float16 NumPy file (``hdr.mp4`` -> ``hdr.hdr.npy``: ``numpy.load`` reads it back as written; no
EXR writer is installed with vidlong), atomically, as it writes its other files."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes

#: what the linear HDR file's name puts in place of the video's suffix
HDR_SUFFIX = ".hdr.npy"


def hdr_path(out: Path) -> Path:
    """The NumPy file beside the video `out` that holds its linear HDR frames: ``hdr.mp4`` -> ``hdr.hdr.npy``."""
    return Path(out).with_suffix(HDR_SUFFIX)


def tone_mapped_uint8(hdr: np.ndarray) -> np.ndarray:
    """uint8 sRGB frames of linear HDR frames (any layout, float, ``[T, H, W, 3]``), as diffusers' ``encode_hdr_tensor_to_mp4``
    makes them with its default tone map: clipped to [0, 1], sRGB's transfer function (Rec.709's OETF), ``x·255 + 0.5``
    truncated."""
    linear = np.clip(hdr, 0.0, 1.0)
    srgb = np.where(linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1.0 / 2.4) - 0.055)
    return (srgb * 255.0 + 0.5).astype(np.uint8)


def write_hdr(path: Path, hdr: np.ndarray) -> Path:
    """The linear HDR frames ``[T, H, W, 3]`` as float16 in a NumPy ``.npy`` file at `path`, atomically
    (`atomic_write_bytes`)."""
    data = io.BytesIO()
    np.save(data, np.asarray(hdr, dtype=np.float16))
    return atomic_write_bytes(path, data.getvalue())
