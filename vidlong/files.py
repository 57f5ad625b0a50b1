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


#: bytes read from each end of a weight file by `weights_fingerprint`
FINGERPRINT_SPAN = 1 << 20

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def weights_fingerprint(folder) -> str:
    """12 hex digits that change when any weight file under `folder` (or the file `folder`) changes.

    Hashes each weight file's relative path, size, first and last `FINGERPRINT_SPAN` bytes (a
    safetensors header and the first and last tensors' values): cheap for multi-GB models, and
    retraining changes those bytes. "none" for a folder without weight files.
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
        with path.open("rb") as f:
            digest.update(f.read(FINGERPRINT_SPAN))
            if size > FINGERPRINT_SPAN:
                f.seek(max(FINGERPRINT_SPAN, size - FINGERPRINT_SPAN))
                digest.update(f.read())
    return digest.hexdigest()[:12]
