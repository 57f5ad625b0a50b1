"""Ground-truth checker for the shapes world (the default model's training data).

Segments the shapes-world palette colours in each frame (HSV thresholds), finds the objects of each
colour, classifies their shape from how much of their enclosing circle they fill, and compares with
the objects a prompt asks for. Pure numpy + OpenCV: no learned metric, no download.

    report = check_video(frames, "a red circle and a blue square")   # frames uint8 [T, H, W, 3]
    report.summary()   # {"frac_frames_all_present": ..., "colour_fidelity": ..., ...}

Frames here are *pixel* frames; positions are (x, y) pixels from the top-left corner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from ..video_io import rounded_uint8

#: Palette hues in degrees of the shapes world (``training/shapes_world.py`` draws with these).
COLOUR_HUES: dict[str, float] = {
    "red": 0.0,
    "yellow": 55.0,
    "green": 120.0,
    "cyan": 185.0,
    "blue": 235.0,
    "magenta": 300.0,
}
#: Prompt words naming a shape -> canonical shape.
SHAPE_WORDS: dict[str, str] = {"circle": "circle", "ball": "circle", "disc": "circle",
                               "square": "square", "box": "square", "triangle": "triangle"}

MIN_SATURATION = 0.40  # fraction; palette colours have 0.85, backgrounds 0
MIN_VALUE = 0.30
MAX_HUE_DISTANCE = 25.0  # degrees from the nearest palette hue
MIN_AREA_FRACTION = 0.003  # of the frame; ~49 px at 128x128 (the smallest shape covers ~180 px)


@dataclass
class Detection:
    """One connected region of a palette colour in one frame."""

    colour: str
    shape: str  # "circle" | "square" | "triangle", from the fill ratio
    centroid: tuple[float, float]  # (x, y) pixels
    area: int  # pixels
    fill_ratio: float  # area / area of the minimum enclosing circle


@dataclass
class ShapesReport:
    """Per-frame detections and per-video statistics for one video and prompt.

    ``frames[t]`` lists the detections of pixel frame t (largest region first per colour);
    ``prompted`` is [(colour, shape or None)] parsed from the prompt.
    """

    prompt: str
    prompted: list[tuple[str, str | None]]
    frames: list[list[Detection]]
    height: int
    width: int
    colour_pixels: np.ndarray = field(repr=False)  # [T, n_colours] pixel counts per palette colour
    hue_error: np.ndarray = field(repr=False)  # [T] mean |hue - palette hue| of coloured pixels

    # ---- per frame -------------------------------------------------------------------------
    def main_detection(self, t: int, colour: str) -> Detection | None:
        """The largest region of ``colour`` in frame t (None if absent)."""
        for d in self.frames[t]:
            if d.colour == colour:
                return d
        return None

    def presence(self) -> np.ndarray:
        """bool [T, n_prompted]: the prompted colour is present in frame t."""
        return np.array([[self.main_detection(t, c) is not None for c, _ in self.prompted]
                         for t in range(len(self.frames))], dtype=bool).reshape(
                             len(self.frames), len(self.prompted))

    def shape_match(self) -> np.ndarray:
        """bool [T, n_prompted]: present and with the prompted shape (True if none prompted)."""
        out = np.zeros((len(self.frames), len(self.prompted)), dtype=bool)
        for t in range(len(self.frames)):
            for k, (c, s) in enumerate(self.prompted):
                d = self.main_detection(t, c)
                out[t, k] = d is not None and (s is None or d.shape == s)
        return out

    def centroids(self) -> np.ndarray:
        """float [T, n_prompted, 2] centroids (x, y) of the prompted objects, NaN where absent."""
        out = np.full((len(self.frames), len(self.prompted), 2), np.nan)
        for t in range(len(self.frames)):
            for k, (c, _) in enumerate(self.prompted):
                d = self.main_detection(t, c)
                if d is not None:
                    out[t, k] = d.centroid
        return out

    # ---- per video -------------------------------------------------------------------------
    def summary(self) -> dict:
        """Scalar statistics (floats/ints) for the whole video; see the keys' names."""
        T = len(self.frames)
        pres = self.presence()
        shp = self.shape_match()
        cent = self.centroids()
        prompted_colours = {c for c, _ in self.prompted}
        idx = [i for i, c in enumerate(COLOUR_HUES) if c in prompted_colours]
        total_px = self.colour_pixels.sum()
        in_prompt_px = self.colour_pixels[:, idx].sum() if idx else 0
        extra = np.array([any(d.colour not in prompted_colours for d in fr) for fr in self.frames])
        dup = np.array([any(sum(d.colour == c for d in fr) > 1 for c in prompted_colours)
                        for fr in self.frames]) if T else np.zeros(0, bool)
        n_found = np.array([len({d.colour for d in fr}) for fr in self.frames])

        accel, speed = [], []
        for k in range(len(self.prompted)):
            c = cent[:, k]
            v = c[1:] - c[:-1]
            a = c[2:] - 2 * c[1:-1] + c[:-2]
            speed += list(np.linalg.norm(v[~np.isnan(v).any(-1)], axis=-1))
            accel += list(np.linalg.norm(a[~np.isnan(a).any(-1)], axis=-1))
        vanish = appear = 0
        for k in range(len(self.prompted)):
            p = pres[:, k]
            vanish += int(np.sum(p[:-1] & ~p[1:]))
            appear += int(np.sum(~p[:-1] & p[1:]))
        diag = float(np.hypot(self.height, self.width))
        return {
            "num_frames": T,
            "num_prompted": len(self.prompted),
            "frac_frames_all_present": float(pres.all(axis=1).mean()) if T else 0.0,
            "frac_objects_present": float(pres.mean()) if pres.size else 0.0,
            "frac_frames_all_shapes_correct": float(shp.all(axis=1).mean()) if T else 0.0,
            "frac_frames_extra_colour": float(extra.mean()) if T else 0.0,
            "frac_frames_duplicate_object": float(dup.mean()) if T else 0.0,
            "frac_frames_count_correct": float((n_found == len(prompted_colours)).mean()) if T else 0.0,
            "colour_fidelity": float(in_prompt_px / total_px) if total_px else 0.0,
            "hue_error_deg": float(np.nanmean(self.hue_error)) if np.isfinite(self.hue_error).any() else float("nan"),
            "mean_speed_px": float(np.mean(speed)) if speed else float("nan"),
            "mean_accel_px": float(np.mean(accel)) if accel else float("nan"),
            "p95_accel_px": float(np.percentile(accel, 95)) if accel else float("nan"),
            "mean_accel_rel_diag": float(np.mean(accel) / diag) if accel else float("nan"),
            "vanish_events": vanish,
            "appear_events": appear,
        }


def parse_prompt(prompt: str) -> list[tuple[str, str | None]]:
    """[(colour, shape or None)] for each palette colour word in the prompt, in order.

    A colour's shape is the first shape word within the next three words ("a red spinning box").
    Colours are unique: a repeated colour word is ignored.
    """
    words = re.findall(r"[a-z]+", prompt.lower())
    out, seen = [], set()
    for i, w in enumerate(words):
        if w in COLOUR_HUES and w not in seen:
            shape = None
            for w2 in words[i + 1:i + 4]:
                if w2 in SHAPE_WORDS:
                    shape = SHAPE_WORDS[w2]
                    break
                if w2 in COLOUR_HUES:
                    break
            out.append((w, shape))
            seen.add(w)
    return out


def _classify(fill_ratio: float) -> str:
    # ideal: circle 1.0, square 2/pi = 0.64, equilateral triangle 3*sqrt(3)/(4*pi) = 0.41;
    # measured on rendered 128x128 clips (pixelation, opened masks): circle 0.85-0.95,
    # square 0.62-0.77, triangle 0.46-0.56
    if fill_ratio >= 0.815:
        return "circle"
    if fill_ratio >= 0.59:
        return "square"
    return "triangle"


def _label_colours(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """frame uint8 [H, W, 3] RGB -> (label int [H, W]: palette index or -1, hue error deg [H, W])."""
    import cv2

    hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV_FULL)  # H in 0..255
    h = hsv[..., 0].astype(np.float32) * (360.0 / 256.0)
    s = hsv[..., 1].astype(np.float32) / 255.0
    v = hsv[..., 2].astype(np.float32) / 255.0
    hues = np.array(list(COLOUR_HUES.values()), dtype=np.float32)
    dist = np.abs((h[..., None] - hues + 180.0) % 360.0 - 180.0)  # [H, W, n]
    best = dist.argmin(-1)
    err = np.take_along_axis(dist, best[..., None], -1)[..., 0]
    ok = (s >= MIN_SATURATION) & (v >= MIN_VALUE) & (err <= MAX_HUE_DISTANCE)
    return np.where(ok, best, -1), np.where(ok, err, np.nan)


def analyze_frame(frame: np.ndarray, min_area: int | None = None
                  ) -> tuple[list[Detection], np.ndarray, float]:
    """Detections of one frame uint8 [H, W, 3], pixel counts per colour, mean hue error (deg)."""
    import cv2

    H, W = frame.shape[:2]
    min_area = min_area if min_area is not None else max(8, int(MIN_AREA_FRACTION * H * W))
    labels, err = _label_colours(frame)
    counts = np.array([(labels == i).sum() for i in range(len(COLOUR_HUES))])
    dets: list[Detection] = []
    kernel = np.ones((3, 3), np.uint8)
    for i, colour in enumerate(COLOUR_HUES):
        if counts[i] < min_area:
            continue
        mask = cv2.morphologyEx((labels == i).astype(np.uint8), cv2.MORPH_OPEN, kernel)
        n, lab, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8)
        comps = sorted(range(1, n), key=lambda j: -stats[j, cv2.CC_STAT_AREA])
        for j in comps:
            area = int(stats[j, cv2.CC_STAT_AREA])
            if area < min_area:
                break
            pts = np.argwhere(lab == j)[:, ::-1].astype(np.float32)  # (x, y)
            (_, _), r = cv2.minEnclosingCircle(pts)
            fill = float(area / (np.pi * (r + 0.5) ** 2))
            dets.append(Detection(colour=colour, shape=_classify(fill),
                                  centroid=(float(cents[j][0]) + 0.5, float(cents[j][1]) + 0.5),
                                  area=area, fill_ratio=fill))
    hue_err = float(np.nanmean(err)) if np.isfinite(err).any() else float("nan")
    return dets, counts, hue_err


def check_video(frames: np.ndarray, prompt: str, min_area: int | None = None) -> ShapesReport:
    """Check a video uint8 [T, H, W, 3] (RGB) against a shapes-world prompt."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        if frames.max() <= 1.0 + 1e-6:  # float in [0, 1], e.g. WanPipeline(output_type="np")
            frames = rounded_uint8(frames)  # clipped before rounding or after: the same bits
        else:
            frames = np.clip(np.round(frames), 0, 255).astype(np.uint8)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected frames [T, H, W, 3], got {frames.shape}")
    per_frame, counts, errs = [], [], []
    for fr in frames:
        d, c, e = analyze_frame(fr, min_area)
        per_frame.append(d)
        counts.append(c)
        errs.append(e)
    return ShapesReport(prompt=prompt, prompted=parse_prompt(prompt), frames=per_frame,
                        height=frames.shape[1], width=frames.shape[2],
                        colour_pixels=np.array(counts).reshape(len(frames), len(COLOUR_HUES)),
                        hue_error=np.array(errs, dtype=np.float64))


def aggregate(summaries: list[dict]) -> dict:
    """Mean of each numeric key over several videos' summaries (NaNs ignored)."""
    keys = summaries[0].keys() if summaries else []
    out = {}
    for k in keys:
        vals = np.array([s[k] for s in summaries], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out["num_videos"] = len(summaries)
    return out
