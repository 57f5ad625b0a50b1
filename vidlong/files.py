"""Small file helpers: atomic writes of text files, fingerprints of weight folders."""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and `os.replace`."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write `text` to `path` atomically (see `atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode())


#: `weights_fingerprint` hashes a weight file up to `FINGERPRINT_WHOLE` bytes whole; a larger one at its first and last
#: `FINGERPRINT_SPAN` bytes and at `FINGERPRINT_SAMPLES` spans of `FINGERPRINT_SAMPLE` bytes evenly spaced between
FINGERPRINT_WHOLE = 1 << 30
FINGERPRINT_SPAN = 1 << 20
FINGERPRINT_SAMPLES, FINGERPRINT_SAMPLE = 1024, 1 << 16

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_fingerprint(folder) -> str:
    """12 hex digits that change when any weight file under `folder` (or the file `folder`) changes.

    Hashes each weight file's relative path, size and bytes: whole up to `FINGERPRINT_WHOLE` (1 GiB), else its first and
    last `FINGERPRINT_SPAN` bytes (a safetensors header, the first and last tensors) and 1024 evenly spaced 64 KiB spans
    (64 MiB read from a file of any size: a tensor changed anywhere in a multi-GB file, as a partial fine-tune or a
    merged LoRA changes whole tensors of tens of MB, is read). "none" for a folder without weight files.
    """
    folder = Path(folder)
    if folder.is_file():
        folder, files = folder.parent, [folder]
    else:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return "none"
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        whole = size <= FINGERPRINT_WHOLE
        middle = size - 2 * FINGERPRINT_SPAN - FINGERPRINT_SAMPLE  # where the samples start, past the first span
        spans = [(0, size)] if whole else [(0, FINGERPRINT_SPAN), *(
            (FINGERPRINT_SPAN + middle * i // (FINGERPRINT_SAMPLES - 1), FINGERPRINT_SAMPLE) for i in range(FINGERPRINT_SAMPLES)),
            (size - FINGERPRINT_SPAN, FINGERPRINT_SPAN)]
        with path.open("rb") as f:
            for offset, length in spans:
                f.seek(offset)
                while length > 0 and (block := f.read(min(length, 1 << 24))):
                    digest.update(block)
                    length -= len(block)
    return digest.hexdigest()[:12]
