"""The size of the reference video LTX-2's IC-LoRA pipelines encode (`LTX2InContextPipeline`'s, `LTX2HDRPipeline`'s: a control
video), read and checked before any model loads (no diffusers here): the ``reference_downscale_factor`` f their LoRAs record
(`lora_downscale_factor`, from their headers: `vidlong.lora.lora_header`), and the video sizes in pixels whose reference at
``height // f`` x ``width // f`` their calls encode (`reference_sides`, `check_reference_size`).

Their calls encode it at the video's size over f: the in-context call resizes and crops it there, each side rounded down to
the VAE's multiple (none left below one multiple, where its encode fails); the HDR call takes a video whose sides f divides
and reflect-pads the reference to exactly that size, which its VAE encodes only in multiples of its own factor.
"""
from __future__ import annotations

import math
from typing import Optional

from .errors import VidlongError, named

#: the safetensors metadata entry where an IC-LoRA keeps the ratio of its videos' size to its references'
DOWNSCALE_KEY = "reference_downscale_factor"
#: the pipelines (`vidlong.control_video.CONTROL_PIPELINES`' kinds) that encode a control video as a reference, by name
REFERENCE_KINDS = {"in-context": "LTX-2's in-context (IC-LoRA) pipeline", "hdr": "LTX-2's HDR IC-LoRA pipeline"}


def lora_downscale_factor(paths) -> Optional[int]:
    """The ``reference_downscale_factor`` recorded in the metadata of the LoRA files at `paths` (`Path`s), None where none
    records one; a one-line error for a file safetensors cannot read, a factor that is no whole number from 1 or two LoRAs
    that record different ones. (A LoRA file that is not there: `vidlong.lora.check_lora_file`'s line, as it loads.)"""
    from .lora import lora_header

    found = {}
    for path in paths:
        if not path.is_file():
            continue
        text = lora_header(path, f"LoRA file {path}")[1].get(DOWNSCALE_KEY)
        if text is None:
            continue
        if not text.strip().isdigit() or int(text) < 1:
            raise VidlongError(f"LoRA file {path} records {DOWNSCALE_KEY}={text!r}, not a whole number from 1; save it "
                               f"with the factor its references were trained at in its metadata's {DOWNSCALE_KEY}")
        found[path] = int(text)
    if len(set(found.values())) > 1:
        listed = ", ".join(f"{path.name}: {factor}" for path, factor in found.items())
        raise VidlongError(f"the LoRAs record different {DOWNSCALE_KEY}s ({listed}); merge one IC-LoRA at a time")
    return next(iter(found.values()), None)


def reference_sides(limits, factor: Optional[int] = None) -> tuple[int, int]:
    """``(multiple, least)``: what each side of a video in pixels must be a multiple of, and at least, for the pipeline of
    `limits` (`vidlong.validate.ModelLimits`) to encode its control video as a reference at `factor` (None: its LoRAs',
    ``limits.reference_downscale``): the HDR call's a multiple of the VAE's factor x f (f divides the side, the VAE takes
    the reference's), the in-context call's at least that (its crop rounds the reference down to the VAE's multiple); a
    model's own (`Geometry.pixel_multiple`, `Geometry.min_pixels`) for other pipelines and at f = 1."""
    geometry = limits.geometry
    factor = limits.reference_downscale if factor is None else factor
    multiple = geometry.pixel_multiple
    if limits.control == "hdr":
        multiple = math.lcm(multiple, geometry.spatial * factor)
    reference = geometry.spatial * factor if limits.control in REFERENCE_KINDS else 0
    return multiple, -(-max(geometry.min_pixels, reference) // multiple) * multiple


def check_reference_size(limits, height: int, width: int, factor: Optional[int] = None) -> None:
    """One line naming each side of a `height` x `width` pixel video whose reference the pipeline of `limits` would not
    encode at `factor` (`reference_sides`) and the nearest sides that work; nothing for other pipelines or at f = 1."""
    factor = limits.reference_downscale if factor is None else factor
    if limits.control not in REFERENCE_KINDS or factor == 1:
        return
    multiple, least = reference_sides(limits, factor)
    wrong = {name: value for name, value in (("height", height), ("width", width)) if value < least or value % multiple}
    if not wrong:
        return
    fixes = []
    for name, value in wrong.items():
        lower = value // multiple * multiple
        fixes.append(f"{named(name)} {least}" if value < least else f"{named(name)} {lower} or {lower + multiple}")
    sides = " and ".join(f"{named(name)} {value}" for name, value in wrong.items())
    rule = f"a multiple of {multiple} pixels from {least}" if limits.control == "hdr" else f"at least {least} pixels"
    raise VidlongError(f"{sides}: {REFERENCE_KINDS[limits.control]} encodes its reference at the video's size over its "
                       f"{DOWNSCALE_KEY} {factor}, for its VAE: each side {rule}; use {' and '.join(fixes)}")
