"""An offline prompt timeline: ``"0s: a red ball; 4s: a blue ball"`` for one video generated in one go,
turned into the latent frames where each prompt starts."""
from __future__ import annotations

import math
import re

from ..errors import VidlongError, named
from .stream import NEGATIVE_START, check_schedule

_ENTRY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*s\s*:(.*)$", re.S)
_CHUNK_ENTRY = re.compile(r"^\s*(\d+)\s*:(?!\d)", re.S)  # a stream schedule's "20: a blue ball" (not "16:9", "10:30")


def parse_prompt_timeline(text: str) -> list[tuple[float, str]]:
    """``"0s: a red ball; 4s: a blue ball"`` -> ``[(0.0, "a red ball"), (4.0, "a blue ball")]`` (second,
    prompt). A text with no ``Ns:`` entry is one prompt from 0 s (semicolons and colons in it are kept),
    unless it is a stream's schedule (several chunk-numbered prompts from chunk 0), refused in one line."""
    parts = [p for p in str(text).split(";") if p.strip()]
    entries = [_ENTRY.match(p) for p in parts]
    if not any(entries):
        chunks = [_CHUNK_ENTRY.match(p) for p in parts]
        if len(parts) > 1 and all(chunks) and min(int(m.group(1)) for m in chunks) == 0:
            raise VidlongError("a prompt timeline marks its starts in seconds, not chunks (that is vidlong stream's "
                               "schedule): write \"0s: a red ball; 4s: a blue ball\"")
        return [(0.0, str(text).strip())]
    if not all(entries):
        bad = next(p.strip() for p, m in zip(parts, entries) if not m)
        if NEGATIVE_START.match(bad):
            raise VidlongError(f"prompt timeline entry {bad!r} starts before 0s; give each prompt its start in seconds from the "
                               "video's beginning: \"0s: a red ball; 4s: a blue ball\"")
        raise VidlongError(f"prompt timeline entry {bad!r} needs a start in seconds: \"0s: a red ball; 4s: a blue ball\"")
    return check_schedule([(float(m.group(1)), m.group(2).strip()) for m in entries], "prompt timeline",
                          lambda second: f"{second:g}s", "\"0s: a red ball; 4s: a blue ball\"")


def timeline_latent_starts(timeline: list[tuple[float, str]], fps: float, temporal_ratio: int, latent_frames: int) -> list[int]:
    """The latent frame where each timeline prompt starts: pixel frame ``second·fps`` lies in latent frame
    ``ceil(pixel / temporal_ratio)`` (latent frame 0 decodes to pixel frame 0, latent frame j >= 1 to
    pixel frames 4j-3 .. 4j for Wan). A start past the video's end is a one-line error."""
    starts = [math.ceil(round(second * fps, 6) / temporal_ratio) for second, _ in timeline]
    seconds = (temporal_ratio * (latent_frames - 1) + 1) / fps
    late = next((second for (second, _), start in zip(timeline, starts) if start >= latent_frames), None)
    if late is not None:
        raise VidlongError(f"the prompt timeline starts a prompt at {late:g}s but the video lasts {seconds:.2f}s; "
                           f"make the video longer ({named('ratio')}; a redrawn {named('video')}: a longer one) or start it earlier")
    if len(set(starts)) < len(starts):
        raise VidlongError("two prompt-timeline entries fall in the same latent frame; space them at least "
                           f"{temporal_ratio / fps:.2f}s apart")
    return starts


def window_segments(frames: list, starts: list) -> tuple[list[int], list[int]]:
    """The timeline segments a window of latent frames spans: for the window's frames' indices in the
    video `frames` (non-decreasing) and the segments' latent `starts`, the segments present (ascending)
    and the window position where each begins (the first 0). E.g. frames ``[0, 7, 8, 9]``, starts
    ``[0, 8]`` -> ``([0, 1], [0, 2])``."""
    owners = [sum(1 for start in starts[1:] if start <= frame) for frame in frames]
    segments = sorted(set(owners))
    return segments, [owners.index(segment) for segment in segments]
