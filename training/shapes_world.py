"""Shapes world: a deterministic procedural video generator with known ground truth.

Each clip shows 1-3 coloured shapes (circle, square, triangle) in distinct saturated colours,
moving at constant velocity and bouncing off the frame's walls; squares and triangles may spin.
Backgrounds are neutral (plain grey levels or a vertical gradient between two of them), so they can
never be mistaken for a shape colour by a hue/saturation segmenter (see ``vidlong.eval.shapes``).

Everything here is in *pixel* frames (the VAE later compresses time 4x: 33 pixel frames = 9 latent).
Positions are (x, y) in pixels, origin at the top-left corner, x to the right, y down.

The generator is pure numpy and deterministic: ``make_clip(seed, index)`` always returns the same
frames, ground truth and prompt for the same arguments, whatever process renders it.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from vidlong.eval.shapes import COLOUR_HUES

# --------------------------------------------------------------------------------------------
# The world's vocabulary
# --------------------------------------------------------------------------------------------

#: Shape colours by hue (degrees): the checker's palette, so generator and checker cannot drift apart.
COLOUR_SATURATION = 0.85
COLOUR_VALUE = 0.9


def _hsv_to_rgb255(h_deg: float, s: float, v: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h_deg / 360.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


#: Shape colours as uint8 RGB.
PALETTE: dict[str, tuple[int, int, int]] = {
    name: _hsv_to_rgb255(h, COLOUR_SATURATION, COLOUR_VALUE) for name, h in COLOUR_HUES.items()
}

#: Neutral background tones (grey levels, 0..255). Saturation is zero, so no palette colour matches.
BACKGROUND_TONES: dict[str, int] = {
    "black": 12,
    "dark gray": 60,
    "gray": 110,
    "light gray": 165,
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle")

#: Words a prompt may use for a shape (the first is the canonical one).
SHAPE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "circle": ("circle", "ball", "disc"),
    "square": ("square", "box"),
    "triangle": ("triangle",),
}

#: Every word the prompt templates can produce (the tokenizer's vocabulary is built from this).
VOCABULARY: tuple[str, ...] = tuple(
    sorted(
        {"a", "an", "and", "on", "background", "gradient", "to", "from", "spinning", "moving",
         "bouncing", "rotating", "the", "with", "in", "video", "of", "shapes", "shape", "dark",
         "light", ",", "."}
        | set(COLOUR_HUES)
        | {w for syn in SHAPE_SYNONYMS.values() for w in syn}
        | {w for tone in BACKGROUND_TONES for w in tone.split()}
    )
)

DEFAULT_FPS = 16


# --------------------------------------------------------------------------------------------
# Clip specification and ground truth
# --------------------------------------------------------------------------------------------


@dataclass
class ObjectSpec:
    """One shape's parameters, in pixels and pixel frames."""

    colour: str
    shape: str
    size: float  # circle radius / square half-side / triangle circumradius, pixels
    start: tuple[float, float]  # (x, y) centre at frame 0, pixels
    velocity: tuple[float, float]  # pixels per pixel frame
    angle0: float  # radians
    spin: float  # radians per pixel frame (0 = not spinning)

    @property
    def bound(self) -> float:
        """Radius of the circle that contains the shape at any angle (used for bouncing)."""
        if self.shape == "circle":
            return self.size
        if self.shape == "square":
            return self.size * float(np.sqrt(2.0))
        return self.size


@dataclass
class ClipSpec:
    """Everything needed to render a clip."""

    objects: list[ObjectSpec]
    background: tuple[str, str | None]  # (tone, None) plain, or (top tone, bottom tone) gradient
    prompt: str
    num_frames: int
    height: int
    width: int


@dataclass
class ObjectTruth:
    """Ground truth for one object over the clip.

    centers: float32 [T, 2], (x, y) geometric centre per pixel frame.
    visible_area: float32 [T], visible pixels (anti-aliased coverage, after occlusion).
    """

    colour: str
    shape: str
    spinning: bool
    centers: np.ndarray
    visible_area: np.ndarray


@dataclass
class Clip:
    """A rendered clip: frames uint8 [T, H, W, 3] plus its ground truth and prompt."""

    frames: np.ndarray
    prompt: str
    objects: list[ObjectTruth]
    background: tuple[str, str | None]
    fps: int = DEFAULT_FPS
    spec: ClipSpec | None = field(default=None, repr=False)

    @property
    def colours(self) -> list[str]:
        return [o.colour for o in self.objects]


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def _object_phrase(obj: ObjectSpec, rng: np.random.Generator) -> str:
    shape_word = SHAPE_SYNONYMS[obj.shape][0]
    if rng.random() < 0.2:
        shape_word = str(rng.choice(SHAPE_SYNONYMS[obj.shape]))
    spin = "spinning " if obj.spin != 0.0 and rng.random() < 0.8 else ""
    return f"a {spin}{obj.colour} {shape_word}"


def _join_objects(phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    if len(phrases) == 2:
        return f"{phrases[0]} and {phrases[1]}"
    return ", ".join(phrases[:-1]) + f" and {phrases[-1]}"


def _background_phrase(background: tuple[str, str | None]) -> str:
    top, bottom = background
    if bottom is None:
        return f"a {top} background"
    return f"a {top} to {bottom} gradient background"


def make_prompt(objects: list[ObjectSpec], background: tuple[str, str | None],
                rng: np.random.Generator) -> str:
    """A template prompt; the background is omitted in about 20% of prompts."""
    objs = _join_objects([_object_phrase(o, rng) for o in objects])
    verb = ""
    r = rng.random()
    if r < 0.15:
        verb = " moving"
    elif r < 0.3:
        verb = " bouncing"
    if rng.random() < 0.2:
        return f"{objs}{verb}"
    return f"{objs}{verb} on {_background_phrase(background)}"


def _min_separation(objects: list[ObjectSpec], num_frames: int, height: int, width: int) -> float:
    """Smallest over frames and object pairs of centre distance / (sum of bounding radii)."""
    if len(objects) < 2:
        return float("inf")
    paths = [trajectory(o, num_frames, height, width) for o in objects]
    best = float("inf")
    for i in range(len(objects)):
        for j in range(i + 1, len(objects)):
            d = np.linalg.norm(paths[i] - paths[j], axis=-1).min()
            best = min(best, float(d) / (objects[i].bound + objects[j].bound))
    return best


#: Specs whose objects come closer than this fraction of their summed bounding radii are redrawn
#: (up to ``_MAX_TRIES`` times; then the best-separated draw is kept) so occlusion stays partial.
MIN_SEPARATION = 0.7
_MAX_TRIES = 30


def sample_spec(rng: np.random.Generator, num_frames: int = 33, height: int = 128,
                width: int = 128, num_objects: int | None = None) -> ClipSpec:
    """Draw a random clip specification. Sizes and speeds scale with min(height, width) / 128.

    Object layouts are redrawn while two objects would overlap heavily, so every prompted object
    stays mostly visible in every frame (the ground truth's ``visible_area`` says how much).
    """
    scale = min(height, width) / 128.0
    n = num_objects if num_objects is not None else int(rng.choice([1, 2, 3], p=[0.35, 0.4, 0.25]))
    best_objs, best_sep = None, -1.0
    for _ in range(_MAX_TRIES):
        objects = _sample_objects(rng, n, scale, height, width)
        sep = _min_separation(objects, num_frames, height, width)
        if sep > best_sep:
            best_objs, best_sep = objects, sep
        if sep >= MIN_SEPARATION:
            break
    objects = best_objs
    tones = list(BACKGROUND_TONES)
    if rng.random() < 0.6:
        background: tuple[str, str | None] = (str(rng.choice(tones)), None)
    else:
        top, bottom = rng.choice(len(tones), size=2, replace=False)
        background = (tones[top], tones[bottom])
    prompt = make_prompt(objects, background, rng)
    return ClipSpec(objects=objects, background=background, prompt=prompt,
                    num_frames=num_frames, height=height, width=width)


def _sample_objects(rng: np.random.Generator, n: int, scale: float, height: int,
                    width: int) -> list[ObjectSpec]:
    colours = rng.choice(list(COLOUR_HUES), size=n, replace=False)
    objects = []
    for colour in colours:
        shape = str(rng.choice(SHAPES))
        size = float(rng.uniform(9.0, 15.0) * scale)
        if shape == "triangle":
            size *= 1.3  # equal-ish area with the other shapes
        speed = float(rng.uniform(0.6, 2.4) * scale)
        theta = float(rng.uniform(0, 2 * np.pi))
        spin = 0.0
        if shape != "circle" and rng.random() < 0.4:
            spin = float(rng.uniform(0.04, 0.15) * rng.choice([-1.0, 1.0]))
        obj = ObjectSpec(colour=str(colour), shape=shape, size=size, start=(0.0, 0.0),
                         velocity=(speed * np.cos(theta), speed * np.sin(theta)),
                         angle0=float(rng.uniform(0, 2 * np.pi)), spin=spin)
        b = obj.bound
        obj.start = (float(rng.uniform(b, width - b)), float(rng.uniform(b, height - b)))
        objects.append(obj)
    return objects


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _fold(u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect a free coordinate into [lo, hi] (elastic bounces off both walls)."""
    span = max(hi - lo, 1e-6)
    w = np.mod(u - lo, 2 * span)
    return lo + span - np.abs(w - span)


def trajectory(obj: ObjectSpec, num_frames: int, height: int, width: int) -> np.ndarray:
    """Centre per pixel frame, float32 [T, 2] (x, y), bouncing inside the frame."""
    t = np.arange(num_frames, dtype=np.float64)
    b = obj.bound
    x = _fold(obj.start[0] + obj.velocity[0] * t, b, width - b)
    y = _fold(obj.start[1] + obj.velocity[1] * t, b, height - b)
    return np.stack([x, y], axis=-1).astype(np.float32)


def _signed_distance(obj: ObjectSpec, dx: np.ndarray, dy: np.ndarray,
                     angle: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, negative inside) of pixel offsets [T, H, W] from the shape."""
    if obj.shape == "circle":
        return np.sqrt(dx * dx + dy * dy) - obj.size
    c = np.cos(angle)[:, None, None].astype(np.float32)
    s = np.sin(angle)[:, None, None].astype(np.float32)
    if obj.shape == "square":
        u = c * dx + s * dy
        v = -s * dx + c * dy
        return np.maximum(np.abs(u), np.abs(v)) - obj.size
    # equilateral triangle, circumradius = size, inradius = size / 2: max of three half-planes
    d = None
    for k in range(3):
        phi = angle + (-np.pi / 2 + np.pi + 2 * np.pi * k / 3)  # outward edge normals
        nx = np.cos(phi)[:, None, None].astype(np.float32)
        ny = np.sin(phi)[:, None, None].astype(np.float32)
        dk = nx * dx + ny * dy - obj.size / 2
        d = dk if d is None else np.maximum(d, dk)
    return d


def render(spec: ClipSpec) -> Clip:
    """Render a spec to frames uint8 [T, H, W, 3] with per-object ground truth."""
    T, H, W = spec.num_frames, spec.height, spec.width
    top, bottom = spec.background
    top_v = BACKGROUND_TONES[top] / 255.0
    bot_v = BACKGROUND_TONES[bottom] / 255.0 if bottom is not None else top_v
    ramp = np.linspace(top_v, bot_v, H, dtype=np.float32)[:, None, None]
    img = np.broadcast_to(ramp, (H, W, 3)).astype(np.float32)
    img = np.broadcast_to(img, (T, H, W, 3)).copy()

    ys = np.arange(H, dtype=np.float32) + 0.5
    xs = np.arange(W, dtype=np.float32) + 0.5
    alphas, centers_all = [], []
    for obj in spec.objects:
        centers = trajectory(obj, T, H, W)
        angle = obj.angle0 + obj.spin * np.arange(T, dtype=np.float64)
        dx = xs[None, None, :] - centers[:, 0, None, None]
        dy = ys[None, :, None] - centers[:, 1, None, None]
        dist = _signed_distance(obj, dx, dy, angle)
        alpha = np.clip(0.5 - dist, 0.0, 1.0).astype(np.float32)  # anti-aliased coverage [T,H,W]
        colour = np.asarray(PALETTE[obj.colour], dtype=np.float32) / 255.0
        img = img * (1.0 - alpha[..., None]) + colour * alpha[..., None]
        alphas.append(alpha)
        centers_all.append(centers)

    truths = []
    for i, obj in enumerate(spec.objects):
        vis = alphas[i]
        for j in range(i + 1, len(alphas)):  # later objects are drawn on top
            vis = vis * (1.0 - alphas[j])
        truths.append(ObjectTruth(colour=obj.colour, shape=obj.shape, spinning=obj.spin != 0.0,
                                  centers=centers_all[i],
                                  visible_area=vis.sum(axis=(1, 2)).astype(np.float32)))
    frames = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return Clip(frames=frames, prompt=spec.prompt, objects=truths, background=spec.background,
                spec=spec)


def clip_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for clip ``index`` of dataset ``seed`` (independent streams per clip)."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)]))


def make_clip(seed: int, index: int = 0, num_frames: int = 33, height: int = 128,
              width: int = 128, num_objects: int | None = None) -> Clip:
    """Deterministic clip ``index`` of the dataset with ``seed``: frames uint8 [T, H, W, 3]."""
    spec = sample_spec(clip_rng(seed, index), num_frames, height, width, num_objects)
    return render(spec)


def make_clips(seed: int, start: int, count: int, **kw) -> tuple[np.ndarray, list[str]]:
    """Frames uint8 [count, T, H, W, 3] and prompts of clips ``start .. start+count-1``."""
    clips = [make_clip(seed, start + i, **kw) for i in range(count)]
    return np.stack([c.frames for c in clips]), [c.prompt for c in clips]
