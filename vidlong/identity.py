"""A face's identity tensors for ConsisID (``identity``: `GenerateRequest`, ``vidlong generate --identity``, a stream's and an
extension's ``identity=``): what diffusers' `ConsisIDPipeline` takes as ``id_cond``, ``id_vit_hidden`` and ``kps_cond``,
computed by a caller with face-analysis libraries (insightface, facexlib, EVA-CLIP: ConsisID's own
``diffusers.pipelines.consisid.consisid_utils.process_face_embeddings_infer``), which vidlong neither needs nor runs. Save
its outputs once where those libraries are::

    id_cond, id_vit_hidden, image, face_kps = process_face_embeddings_infer(...)
    torch.save({"id_cond": id_cond.cpu(), "id_vit_hidden": [h.cpu() for h in id_vit_hidden],
                "kps_cond": torch.as_tensor(face_kps)}, "face_id.pt")
    image.save("face.png")  # the aligned face its example hands the call as its image

and give ``--identity face_id.pt --image face.png``. The file's fields are checked against the transformer's config
(`FaceInputs`) before any model loads."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from .errors import VidlongError, named

if TYPE_CHECKING:
    import torch

#: how to make the file, for refusals
MAKE_IT = ("save ConsisID's process_face_embeddings_infer outputs with torch.save({'id_cond': ..., 'id_vit_hidden': [...], "
           "'kps_cond': ...}, 'face_id.pt'), see vidlong.identity")


@dataclass(frozen=True)
class FaceInputs:
    """The face tensors a ConsisID transformer with ``is_train_face`` takes (its config's local facial extractor):
    ``id_cond`` ``[1, id_dim]`` (the face's ArcFace embedding and its EVA-CLIP embedding joined), ``id_vit_hidden`` a list of
    `scales` ``[1, T, vit_dim]`` (EVA-CLIP's hidden states, T tokens), and with `keypoints` (``is_kps``) its call's optional
    ``kps_cond`` ``[5, 2]`` (the face's five keypoints in the image's pixels)."""

    id_dim: int
    vit_dim: int
    scales: int
    keypoints: bool

    def described(self) -> str:
        """What its ``--identity`` file holds, in words: the fields this transformer's config takes and their shapes."""
        fields = (f"a torch file of the face's id_cond [1, {self.id_dim}] and id_vit_hidden (a list of {self.scales} "
                  f"[1, T, {self.vit_dim}])")
        return fields + (", kps_cond [5, 2] optional (its keypoints: generate alone)" if self.keypoints else "")


def face_inputs(facts: dict) -> Optional[FaceInputs]:
    """`FaceInputs` of a pipeline's `vidlong.models.model_facts` (its transformer's config): ConsisID's with
    ``is_train_face``; None for any other transformer, and for a ConsisID one without it (its call runs with no face)."""
    if facts.get("family") != "consisid" or not facts.get("is_train_face"):
        return None
    return FaceInputs(facts.get("LFE_id_dim", 1280), facts.get("LFE_vit_dim", 1024), facts.get("LFE_num_scale", 5),
                      bool(facts.get("is_kps")))


def check_identity_given(identity, faces: Optional[FaceInputs]) -> None:
    """One line where a model needs a face's tensors and `identity` is None, or takes none and it is given."""
    if identity is None and faces is not None:
        raise VidlongError(f"this ConsisID transformer (is_train_face) needs a face's identity tensors: pass {named('identity')} "
                           f"face_id.pt ({MAKE_IT})")
    if identity is not None and faces is None:
        raise VidlongError(f"{named('identity')} gives a ConsisID transformer with is_train_face its face tensors; this model "
                           f"takes none: drop {named('identity')}")


def load_identity(identity, faces: FaceInputs) -> dict:
    """The call's face arguments from `identity` (a torch file's path, or a dict of its fields), checked against `faces`:
    ``id_cond`` ``[1, id_dim]``, ``id_vit_hidden`` a list of ``[1, T, vit_dim]``, float, finite; ``kps_cond`` ``[5, 2]`` where
    the file has it (kept only where the transformer reads keypoints: its call drops them otherwise). A one-line error
    naming the field and the fix otherwise."""
    fields = _read(identity) if isinstance(identity, (str, os.PathLike)) else identity
    where = f"{named('identity')} {identity}" if isinstance(identity, (str, os.PathLike)) else named("identity")
    if not isinstance(fields, dict):
        raise VidlongError(f"{where} holds a {type(fields).__name__}, not a dict of id_cond, id_vit_hidden (and kps_cond); "
                           f"{MAKE_IT}")
    unknown = sorted(set(fields) - {"id_cond", "id_vit_hidden", "kps_cond"})
    if unknown:
        raise VidlongError(f"{where} has a field {unknown[0]!r} ConsisID's call does not take; keep id_cond, id_vit_hidden "
                           "and kps_cond")
    for name in ("id_cond", "id_vit_hidden"):
        if name not in fields:
            raise VidlongError(f"{where} has no {name}; {MAKE_IT}")
    id_cond = _tensor(fields["id_cond"], "id_cond", (1, faces.id_dim), where)
    hidden = fields["id_vit_hidden"]
    if not isinstance(hidden, (list, tuple)) or len(hidden) != faces.scales:
        raise VidlongError(f"{where}: id_vit_hidden must be a list of {faces.scales} tensors [1, T, {faces.vit_dim}] (EVA-CLIP's "
                           f"hidden states, as the transformer's LFE_num_scale), got {_described(hidden)}; {MAKE_IT}")
    hidden = [_tensor(h, f"id_vit_hidden[{i}]", (1, None, faces.vit_dim), where) for i, h in enumerate(hidden)]
    arguments = dict(id_cond=id_cond, id_vit_hidden=hidden)
    if fields.get("kps_cond") is not None:
        kps = _tensor(fields["kps_cond"], "kps_cond", (5, 2), where)
        if faces.keypoints:
            arguments["kps_cond"] = kps
    return arguments


def stream_identity(identity, faces: Optional[FaceInputs]) -> Optional[dict]:
    """A stream's or an extension's face arguments from `identity` (None where the model takes none), checked as
    `check_identity_given` and `load_identity` check them; keypoints refused in one line (a window's condition channels
    would need their latent on its frame 1, which vidlong's streams do not place)."""
    check_identity_given(identity, faces)
    if identity is None:
        return None
    arguments = load_identity(identity, faces)
    if "kps_cond" in arguments:
        raise VidlongError(f"a ConsisID stream with keypoints (is_kps) is not implemented: its windows' condition channels would "
                           f"need the keypoints' latent; drop kps_cond from {named('identity')}, or use vidlong generate")
    return arguments


def _read(path) -> object:
    from .torch_file import read_torch_file

    return read_torch_file(path, named('identity'), f"{named('identity')}: no file at {path}; check the path, or {MAKE_IT}",
                           f"{named('identity')} {path} is not a torch file of tensors ({{error}}); {MAKE_IT}")


def _tensor(value, field: str, shape: tuple, where: str) -> torch.Tensor:
    """`value` as a float tensor of `shape` (None: any size there), finite; else one line naming `field`."""
    import torch

    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        raise VidlongError(f"{where}: {field} must be a float tensor {_shape(shape)}, got {_described(value)}; {MAKE_IT}")
    if value.ndim != len(shape) or any(want is not None and got != want for got, want in zip(value.shape, shape)):
        raise VidlongError(f"{where}: {field} has shape {list(value.shape)}, not {_shape(shape)} as this transformer's config "
                           "takes; compute it with the face models of this ConsisID release")
    if not torch.isfinite(value).all():
        raise VidlongError(f"{where}: {field} holds NaN or infinite values; compute it again")
    return value


def _shape(shape: tuple) -> str:
    return "[" + ", ".join("T" if size is None else str(size) for size in shape) + "]"


def _described(value) -> str:
    import torch

    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor {list(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"a {type(value).__name__}"
