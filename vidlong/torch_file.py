"""Reading a torch file a user gives (saved latents, a checkpoint, a face's identity tensors) with a one-line error."""
from __future__ import annotations

from pathlib import Path

from .errors import VidlongError


def read_torch_file(path, field: str, missing: str, unreadable: str) -> object:
    """What the torch file at `path` holds, on the CPU, tensors and plain containers alone (``weights_only``: no pickled
    code runs). One line where `path` is a folder (naming `field`, the option or argument that gave it), no file is there
    (`missing`) or torch cannot read it (`unreadable`, its ``{error}`` replaced by the error's type name: not a torch file,
    or one of objects it refuses)."""
    import torch

    if Path(path).is_dir():
        raise VidlongError(f"{field} {path} is a folder; name the file in it")
    if not Path(path).is_file():
        raise VidlongError(missing)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch.load raises many types for a damaged or foreign file
        raise VidlongError(unreadable.replace("{error}", type(err).__name__)) from None
