"""Small file helpers: atomic writes of text files, exclusive locks, fingerprints of weight folders."""
from __future__ import annotations

import hashlib
import os
import secrets
from contextlib import contextmanager
from pathlib import Path

from .errors import VidlongError


def user_path(text: str) -> str:
    """A path a user typed, with a leading ``~`` or ``~user`` expanded to the home folder, as a shell would have where it
    did not (``--out=~/x.mp4``, a quoted ``"~/x.mp4"``): the argparse type of the CLI's file and folder options."""
    return os.path.expanduser(text)


#: bytes that the hidden files written beside an output add to its name, at most: ``.NAME.XXXXXXXX.wav.tmp`` (a video's
#: sound while it is written); ``.NAME.XXXXXXXX.tmp`` (`atomic_write_bytes`, the video's writer), ``.NAME.lock`` and a
#: converted folder's ``.NAME.XXXXXXXX`` staging folder add less
HIDDEN_NAME_EXTRA = 18


def check_name_fits(path: Path, what: str) -> None:
    """One line (`what` and the fix) where `path`'s name is too long for its folder's file system, counting the hidden
    temporary file written beside it (`HIDDEN_NAME_EXTRA`); the system's own error would come only at the write."""
    try:
        limit = os.pathconf(nearest_folder(path.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    size = len(os.fsencode(path.name))
    if size + HIDDEN_NAME_EXTRA > limit:
        raise VidlongError(f"{what}: its name is {size} bytes, and this file system takes {limit - HIDDEN_NAME_EXTRA} at "
                           f"most there (with vidlong's temporary file beside it); shorten the name")


def nearest_folder(path: Path) -> Path:
    """`path` if it is a folder, else the nearest folder above it that exists (the one a new folder would be made in)."""
    path = Path(os.path.abspath(path))
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def check_writable_folder(folder: Path, what: str) -> None:
    """One line (`what` and the fix) where nothing can be written into `folder`, or, where it does not exist yet, into the
    nearest folder above it that does (where it would be made)."""
    place = nearest_folder(folder)
    if not os.access(place, os.W_OK | os.X_OK):
        raise VidlongError(f"{what}: folder {place} is not writable; choose another")


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


@contextmanager
def exclusive_lock(path, refusal: str, remove: bool = False):
    """Holds an exclusive lock on the file `path` (made if missing) for the body, for one holder at a time: while another
    holds it (another process, or this one elsewhere) the body is refused with ``VidlongError(refusal)``. The system drops
    the lock when its process ends, killed or not. `remove`: the file goes when the body ends (a lock beside a user's
    file, not to be left there; a run that finds it removed under its new lock locks the new file). Where the system or
    the file system has no such locks (Windows, NFS without its lock daemon), nothing is held."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    while True:
        handle = open(path, "a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise VidlongError(refusal) from None
        except OSError:  # no locks on this file system: nothing held, nothing left behind
            handle.close()
            if remove:
                path.unlink(missing_ok=True)
            yield
            return
        try:
            if not remove or os.path.samestat(os.fstat(handle.fileno()), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        handle.close()  # its last holder removed it between our open and our lock: lock the file now at `path`
    try:
        yield
    finally:
        if remove:
            path.unlink(missing_ok=True)
        handle.close()


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
