"""The prompt-timeline grid of `vidlong eval` (``--grid timeline``): videos whose prompt changes mid-way
(``"0s: a red circle and a blue square; 4.1s: a green triangle"``), each segment scored by the shapes
checker against its own prompt.

Frames are pixel frames; a segment starting at latent frame s >= 1 starts at pixel frame
``temporal_ratio * (s - 1) + 1`` (Wan's causal VAE: latent frame 0 decodes to pixel frame 0 alone).
Segments are scored where the prompt says they start; a stream switches at the first chunk that starts
at or after that second, up to one chunk later, and is scored on the same frames.
"""
from __future__ import annotations

import numpy as np

from ..models import ModelSpec, latent_frames, pixel_frames
from ..schedulers.timeline import parse_prompt_timeline, timeline_latent_starts
from . import shapes

#: (first prompt, second prompt) of the built-in timelines: no colour in both, so the checker can tell
#: the segments' objects apart.
TIMELINE_PAIRS = (
    ("a red circle and a blue square on a black background", "a green triangle bouncing on a dark gray background"),
    ("a yellow square and a magenta circle on a gray background", "a cyan ball moving on a black to gray gradient background"),
    ("a spinning magenta square on a dark gray background", "a green circle and a red triangle bouncing"),
    ("a yellow triangle and a cyan box on a black background", "a red circle and a blue square on a black background"),
)

#: per-video timeline statistics ("higher"/"lower" is better), written to results.csv with a ``timeline_`` prefix
TIMELINE_DIRECTION = {
    "own_objects": "higher",
    "worst_segment_own_objects": "higher",
    "previous_objects_after_window": "lower",
}

#: short column titles of the statistics above
TIMELINE_LABELS = {
    "own_objects": "own objects",
    "worst_segment_own_objects": "worst segment",
    "previous_objects_after_window": "previous after 1 window",
}


def is_timeline(prompt: str) -> bool:
    """Whether `prompt` is a prompt timeline of two or more segments."""
    return len(parse_prompt_timeline(prompt)) > 1


def middle_switch_prompt(first: str, second: str, spec: ModelSpec, ratio: float) -> str:
    """``"0s: first; Ts: second"`` with T the middle of a video `ratio` times the native length, in
    seconds (two decimals)."""
    latent = max(1, round(ratio * spec.native_frames))
    seconds = pixel_frames(latent, spec.temporal_ratio) / spec.fps
    return f"0s: {first}; {seconds / 2:.2f}s: {second}"


def builtin_timelines(spec: ModelSpec, ratio: float) -> list[str]:
    """The built-in timeline prompts of a video `ratio` times the native length (switch in the middle)."""
    return [middle_switch_prompt(first, second, spec, ratio) for first, second in TIMELINE_PAIRS]


def measure_timeline(frames: np.ndarray, prompt: str, spec: ModelSpec) -> dict:
    """Statistics of a timeline video, frames ``[T, H, W, 3]`` uint8 (pixel frames):

    - ``own_objects``: mean over segments of the fraction of the segment's frames in which every object of
      its own prompt is found;
    - ``worst_segment_own_objects``: the lowest of those fractions;
    - ``previous_objects_after_window``: mean over switches of the fraction of frames, from one native window
      after the switch to the segment's end, in which every object of the previous prompt is still found
      (NaN where the segment is shorter than a native window).
    """
    timeline = parse_prompt_timeline(prompt)
    latent = latent_frames(len(frames), spec.temporal_ratio)
    starts = timeline_latent_starts(timeline, spec.fps, spec.temporal_ratio, latent)
    cuts = [0 if s == 0 else pixel_frames(s, spec.temporal_ratio) for s in starts] + [len(frames)]

    def present(video: np.ndarray, text: str) -> float:
        return shapes.check_video(video, text).summary()["frac_frames_all_present"] if len(video) else float("nan")

    own = [present(frames[lo:hi], text) for (_, text), lo, hi in zip(timeline, cuts, cuts[1:])]
    previous = [present(frames[lo + spec.native_pixel_frames:hi], before)
                for (_, before), lo, hi in zip(timeline, cuts[1:], cuts[2:])]
    finite = [p for p in previous if np.isfinite(p)]
    return {"own_objects": float(np.mean(own)), "worst_segment_own_objects": float(min(own)),
            "previous_objects_after_window": float(np.mean(finite)) if finite else float("nan")}
