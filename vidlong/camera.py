"""A camera trajectory for Sana-WM (``camera``: `GenerateRequest`, ``vidlong generate --camera``): what diffusers'
`SanaWMPipeline` takes as ``c2w`` (camera-to-world poses ``[F, 4, 4]``, OpenCV axes, one a pixel frame) or ``action`` (its
WASD/IJKL action string, e.g. ``"w-80,jw-40,w-40"``: keys held for that many frames), and ``intrinsics`` (``[fx, fy, cx,
cy]``, a 3x3 K, or one of either a frame, in the input image's pixels). A JSON file of one object::

    {"c2w": [[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], ...], "intrinsics": [800, 800, 845, 464]}
    {"action": "w-80,jw-40,w-40"}

(from Python, a dict of the same). Without ``intrinsics`` (or without a camera at all, where its call needs both) vidlong
gives its call a 90° horizontal view centred on the image (``default_intrinsics``); without a camera, a steady walk forward
as long as the video (``default_action``). Its trajectory holds at least the video's pixel frames (its call would cut the
video to its poses). Checked before any model loads (`check_camera`)."""
from __future__ import annotations

import json
import math
import os
from typing import Optional

from .errors import VidlongError, named

#: the pipeline classes whose call takes a camera
CAMERA_PIPELINES = ("SanaWMPipeline",)

#: what `vidlong info` says of a folder whose call takes a camera
CAMERA_LINE = ("takes --camera cam.json (generate): its camera trajectory, c2w poses or an action string, and intrinsics "
               "(vidlong.camera); without it, a steady walk forward and a 90 degree view of the image")

#: how to write the file, for refusals
WRITE_IT = 'write a JSON object {"c2w": [F x 4 x 4 poses]} or {"action": "w-80,jw-40"}, "intrinsics" optional (see vidlong.camera)'


def default_action(pixel_frames: int) -> str:
    """Its call's action string for a steady walk forward over `pixel_frames` frames (``w`` held between every two)."""
    return f"w-{pixel_frames - 1}" if pixel_frames > 1 else "none-1"


def default_intrinsics(width: int, height: int) -> list:
    """``[fx, fy, cx, cy]`` in the pixels of a `width` x `height` image: a 90° horizontal view (``fx = fy = width / 2``)
    centred on the image (the docstring example's view is about 93°)."""
    return [width / 2, width / 2, width / 2, height / 2]


def default_camera_text(pixel_frames: int, width: int, height: int) -> str:
    """What a sidecar records where vidlong gave a call of `pixel_frames` frames from a `width` x `height` image its default
    camera: ``default: `` and the JSON object a ``--camera`` file of that camera holds (`default_action`,
    `default_intrinsics`), so that the run can be repeated from it."""
    return "default: " + json.dumps(dict(action=default_action(pixel_frames), intrinsics=default_intrinsics(width, height)))


def read_camera(camera, temporal_ratio: int) -> dict:
    """The call's camera arguments from `camera` (a JSON file's path, or a dict of its fields): ``c2w`` (a float32 array
    ``[F, 4, 4]``) or ``action`` (no longer than the longest video of the model's VAE's `temporal_ratio`: `_action`), and
    ``intrinsics`` where given; a one-line error naming the field and the fix otherwise."""
    import numpy as np

    fields, where = _fields(camera)
    unknown = sorted(set(fields) - {"c2w", "action", "intrinsics"})
    if unknown:
        raise VidlongError(f"{where} has a field {unknown[0]!r} Sana-WM's call does not take; keep c2w or action, and intrinsics")
    if ("c2w" in fields) == ("action" in fields):
        raise VidlongError(f"{where} must hold exactly one of c2w and action; {WRITE_IT}")
    arguments = {}
    if "action" in fields:
        arguments["action"] = _action(fields["action"], where, temporal_ratio)
    else:
        poses = _array(fields["c2w"], "c2w", where)
        if poses.ndim != 3 or poses.shape[1:] != (4, 4) or len(poses) < 1:
            raise VidlongError(f"{where}: c2w must be camera-to-world poses [F, 4, 4], got shape {list(poses.shape)}; {WRITE_IT}")
        _check_rigid(poses, where)
        arguments["c2w"] = poses
    if fields.get("intrinsics") is not None:
        intrinsics = _array(fields["intrinsics"], "intrinsics", where)
        if intrinsics.shape not in ((4,), (3, 3)) and not (intrinsics.ndim == 2 and intrinsics.shape[1] == 4) \
                and not (intrinsics.ndim == 3 and intrinsics.shape[1:] == (3, 3)):
            raise VidlongError(f"{where}: intrinsics must be [fx, fy, cx, cy], a 3x3 K or one of either a frame, got shape "
                               f"{list(intrinsics.shape)}")
        square = intrinsics.shape[-2:] == (3, 3)
        for name, focal in (("fx", intrinsics[..., 0, 0] if square else intrinsics[..., 0]),
                            ("fy", intrinsics[..., 1, 1] if square else intrinsics[..., 1])):
            if not (np.asarray(focal) > 0).all():
                raise VidlongError(f"{where}: intrinsics' focal length {name} must be positive (pixels of the input image)")
        arguments["intrinsics"] = intrinsics
    return arguments


#: how far a pose's rotation may be from orthonormal (``max |RᵀR - I|``), its float32 rounding well inside it
RIGID_TOLERANCE = 1e-3


def _check_rigid(poses, where: str) -> None:
    """One line unless every pose of `poses` ``[F, 4, 4]`` is rigid: an orthonormal rotation of determinant +1 and a last
    row ``[0, 0, 0, 1]`` (its call inverts the first pose as one, ``[Rᵀ, -Rᵀt]``: another matrix would be conditioned on
    silently wrong relative poses)."""
    import numpy as np

    rotations = poses[:, :3, :3].astype(np.float64)
    drift = np.abs(rotations.transpose(0, 2, 1) @ rotations - np.eye(3)).max(axis=(1, 2))
    flipped = np.linalg.det(rotations) < 0
    rows = np.abs(poses[:, 3] - np.array([0, 0, 0, 1])).max(axis=1) > RIGID_TOLERANCE
    bad = np.flatnonzero((drift > RIGID_TOLERANCE) | flipped | rows)
    if len(bad):
        i = int(bad[0])
        why = ("its last row is not [0, 0, 0, 1]" if rows[i] else
               "its rotation is not orthonormal (scaled or sheared)" if drift[i] > RIGID_TOLERANCE else
               "its rotation has determinant -1 (a reflection: one axis flipped)")
        raise VidlongError(f"{where}: c2w pose {i} is not a rigid camera-to-world transform ({why}); give rotations that are "
                           "orthonormal with determinant +1, translations in the last column and a last row [0, 0, 0, 1] "
                           "(OpenCV axes: x right, y down, z forward)")


def trajectory_frames(arguments: dict) -> int:
    """Pixel frames the camera `arguments` (`read_camera`'s) hold: its poses, or its action's steps plus the start pose."""
    if "c2w" in arguments:
        return len(arguments["c2w"])
    from diffusers.pipelines.sana_wm.cam_utils import _parse_action_string

    return len(_parse_action_string(arguments["action"])) + 1


def check_camera(camera, pipeline: str, pixel_frames: int, temporal_ratio: int) -> None:
    """One line where `camera` is given to a pipeline whose call takes none, cannot be read (`read_camera`), or holds fewer
    poses than the video's `pixel_frames` (its call would cut the video to them; the refusal names the longest video of
    more than one latent frame, of `temporal_ratio` pixel frames each, that they hold, where there is one) or a per-frame
    intrinsics shorter than them."""
    if camera is None:
        return
    if pipeline not in CAMERA_PIPELINES:
        raise VidlongError(f"{named('camera')} gives Sana-WM (SanaWMPipeline) folders their camera trajectory; this model takes "
                           f"none: drop {named('camera')}")
    arguments = read_camera(camera, temporal_ratio)
    poses = trajectory_frames(arguments)
    where = _where(camera)
    if poses < pixel_frames:
        fits = (poses - 1) // temporal_ratio * temporal_ratio + 1
        shorter = f", or ask for {named('frames')} {fits}" if fits > 1 else ""
        raise VidlongError(f"{where} holds {poses} camera poses, fewer than the video's {pixel_frames} frames (its call would cut "
                           f"the video to them): give a trajectory of {pixel_frames} poses{shorter}")
    intrinsics = arguments.get("intrinsics")
    if intrinsics is not None and intrinsics.shape not in ((4,), (3, 3)) and len(intrinsics) < pixel_frames:
        raise VidlongError(f"{where}: intrinsics holds {len(intrinsics)} frames' values, fewer than the video's {pixel_frames} "
                           "frames; give one a frame, or one [fx, fy, cx, cy] for all")


def _where(camera) -> str:
    return f"{named('camera')} {camera}" if isinstance(camera, (str, os.PathLike)) else named("camera")


def _fields(camera) -> tuple:
    """(the fields of `camera`, how refusals name it)."""
    where = _where(camera)
    if isinstance(camera, (str, os.PathLike)):
        if not os.path.isfile(camera):
            raise VidlongError(f"{where}: no file there; check the path, or {WRITE_IT}")
        try:
            with open(camera, encoding="utf-8") as handle:
                camera = json.load(handle)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise VidlongError(f"{where} is not a JSON file ({str(error).splitlines()[0]}); {WRITE_IT}") from None
    if not isinstance(camera, dict):
        raise VidlongError(f"{where} holds a {type(camera).__name__}, not an object of c2w or action (and intrinsics); {WRITE_IT}")
    return camera, where


def longest_trajectory(temporal_ratio: int) -> tuple:
    """(the most pixel frames a Sana-WM video has, of `temporal_ratio` pixel frames a latent frame past the first (its
    VAE's: the model's spec), the latent frames of its RoPE table that bound it: its adapter's ``rope_positions``)."""
    from .attention.adapters.sana_wm import SanaWMAdapter
    from .models import pixel_frames

    return pixel_frames(SanaWMAdapter.rope_positions, temporal_ratio), SanaWMAdapter.rope_positions


def _action_poses(action: str) -> int:
    """Camera poses `action` holds, counted without expanding it (diffusers' parser builds a list a frame): the start pose
    and each segment's frames (the number after its last ``-``; a segment without one left to the parser)."""
    tails = (segment.rpartition("-")[2] for segment in "".join(action.replace("，", ",").split()).split(","))
    return 1 + sum(int(tail) for tail in tails if tail.isdigit())


def _action(action, where: str, temporal_ratio: int) -> str:
    """`action` checked as its call parses it (its keys, each segment's frames), and no longer than any video it can
    drive (`longest_trajectory` at the VAE's `temporal_ratio`), counted before the parser expands it."""
    from diffusers.pipelines.sana_wm.cam_utils import _parse_action_string

    if not isinstance(action, str):
        raise VidlongError(f"{where}: action must be text such as \"w-80,jw-40\", got a {type(action).__name__}")
    poses, (longest, table) = _action_poses(action), longest_trajectory(temporal_ratio)
    if poses > longest:
        raise VidlongError(f"{where}: action holds {poses} camera poses, more than the longest Sana-WM video's {longest} "
                           f"frames (the {table} latent frames of its RoPE table); shorten it")
    try:
        _parse_action_string(action)
    except ValueError as error:
        raise VidlongError(f"{where}: action {action!r}: {error}") from None
    return action


def _array(value, field: str, where: str):
    """`value` (nested lists or an array) as a finite float32 array; else one line naming `field`."""
    import numpy as np

    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise VidlongError(f"{where}: {field} must be numbers in nested lists of equal lengths; {WRITE_IT}") from None
    if not all(math.isfinite(x) for x in array.ravel().tolist()):
        raise VidlongError(f"{where}: {field} holds NaN or infinite values")
    return array


def camera_given(camera) -> Optional[str]:
    """What a sidecar records of a given `camera`: its path, "in memory" for a dict, None for none (`generate` records
    vidlong's default, `default_camera_text`, where the model takes a camera)."""
    if camera is None:
        return None
    return str(camera) if isinstance(camera, (str, os.PathLike)) else "in memory"
