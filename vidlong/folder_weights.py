"""A pipeline folder's weight files, checked before it loads: every model part holds weights, every shard its index names
is there, every safetensors file is whole. An incomplete download or copy is then named in one line, instead of failing
in diffusers' loader after the parts before it have loaded (and with a `.bin` file named that the folder never had)."""
from __future__ import annotations

import json
from pathlib import Path

from .errors import VidlongError
from .files import WEIGHT_SUFFIXES

#: the libraries whose models keep their weights in their part's folder (another's part, as Cosmos's guardrail, may fetch
#: its own)
WEIGHT_LIBRARIES = ("diffusers", "transformers")

#: what a fresh copy of a folder fixes
FETCH_AGAIN = "an incomplete download or copy; fetch the model folder again"


def _model_config(path: Path) -> bool:
    """Whether `path` is a model's config.json (diffusers' or transformers'), not another part's."""
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return False  # the loader's own checks name a config it cannot read
    return isinstance(config, dict) and any(key in config for key in ("_diffusers_version", "model_type", "architectures"))


def check_folder_weights(folder: Path) -> None:
    """One line naming the first model part of pipeline folder `folder` (the folders its ``model_index.json`` lists from
    `WEIGHT_LIBRARIES` that hold a model's config.json) whose every ``*.index.json`` names a weight file it lacks, that
    holds no weight file, or that holds a safetensors file cut short."""
    index = json.loads((folder / "model_index.json").read_text())
    for name, entry in index.items():
        part = folder / name
        if (name.startswith("_") or not isinstance(entry, list) or entry[0] not in WEIGHT_LIBRARIES
                or not _model_config(part / "config.json")):
            continue
        files = [path for path in part.iterdir() if path.is_file()]
        indexes = [path for path in files if path.name.endswith(".index.json")]
        missing = [_missing_shards(part, index) for index in indexes]
        if indexes and all(missing):  # one whole index will do: a folder may hold a variant's index without its shards
            first, count, named = missing[0]
            raise VidlongError(f"{part} lacks {first} ({count} of the {named} weight files {indexes[0].name} names): "
                               f"{FETCH_AGAIN}")
        weights = [path for path in files if path.suffix in WEIGHT_SUFFIXES]
        if not weights:
            raise VidlongError(f"{part} holds a model's config.json and no weights file ({', '.join(WEIGHT_SUFFIXES)}): "
                               f"{FETCH_AGAIN}")
        for path in weights:
            if path.suffix == ".safetensors":
                _check_safetensors(path)


def _missing_shards(part: Path, index: Path):
    """(the first missing, how many are missing, how many are named) of the weight files that `index` (a sharded model's
    ``*.index.json``) maps tensors to in `part`, or None where all are there."""
    try:
        names = set(json.loads(index.read_text())["weight_map"].values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise VidlongError(f"{index} is not a readable weight index (no weight_map): {FETCH_AGAIN}") from None
    missing = sorted(str(name) for name in names if not (part / str(name)).is_file())
    return (missing[0], len(missing), len(names)) if missing else None


def _check_safetensors(path: Path) -> None:
    """One line where safetensors cannot read `path`'s header or the header's tensors run past the file's end."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="np"):
            pass
    except (SafetensorError, OSError, ValueError) as err:
        reason = str(err).split(":")[-1].strip() or type(err).__name__
        raise VidlongError(f"{path} is not a whole safetensors file ({reason}, {path.stat().st_size} bytes): "
                           f"{FETCH_AGAIN}") from None
