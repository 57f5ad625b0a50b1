"""The streaming schedule: chunk sizes, sink and window frames, and prompt switches.

All counts are latent frames (Wan: 1 latent frame = 4 pixel frames, the first decodes to 1).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Optional

from ..errors import VidlongError, named
from ..scalars import is_whole


@dataclass(frozen=True)
class StreamSchedule:
    """What each chunk attends to: ``[sinks | window | chunk]``, at most the native window in total.

    Attributes:
        chunk: C, latent frames generated per chunk.
        sinks: S, first frames kept forever (attention sinks).
        window: W, most recent frames kept in the rolling cache.
    """

    chunk: int
    sinks: int
    window: int

    @classmethod
    def resolve(cls, native_frames: int, chunk: int = 3, sinks: Optional[int] = None,
                window: Optional[int] = None) -> "StreamSchedule":
        """Defaults: one chunk of sinks and a window that fills the native length `native_frames`: ``S + W + C = L``; a
        chunk over half the native length takes the sinks it leaves room for (``L - C``) and no window, one of the whole
        native length one chunk of sinks (its positions then pass the native length: it could not continue otherwise)."""
        if chunk < 1:
            raise VidlongError(f"{named('chunk')} must be >= 1 latent frame, got {chunk}")
        sinks = (chunk if chunk >= native_frames else min(chunk, native_frames - chunk)) if sinks is None else sinks
        window = max(0, native_frames - sinks - chunk) if window is None else window
        if sinks < 0 or window < 0:
            which = "sinks" if sinks < 0 else "window"
            raise VidlongError(f"{named(which)} must be >= 0 latent frames, got {sinks if sinks < 0 else window}")
        return cls(chunk=chunk, sinks=sinks, window=window)

    @property
    def context_frames(self) -> int:
        """Frames one chunk attends to, itself included (the largest temporal position + 1)."""
        return self.sinks + self.window + self.chunk


#: a start written in seconds ("4s", "2.5s"): a generate timeline's, not a stream schedule's
_SECONDS = re.compile(r"\d+(\.\d+)?\s*s")
#: a schedule's or a timeline's entry whose start is a negative number ("-2: a blue ball", "-1s: a blue ball")
NEGATIVE_START = re.compile(r"\s*-\s*\d+(\.\d+)?\s*s?\s*:")


def parse_prompt_schedule(text: str) -> list[tuple[int, str]]:
    """``"0:a red ball; 20:a blue ball"`` -> ``[(0, "a red ball"), (20, "a blue ball")]`` (chunk, prompt).

    A text none of whose ``;``-separated parts starts with ``N:`` is one prompt from chunk 0, its semicolons and colons
    its own (``"a cat walks in; the camera pans"``); one that begins with a number and a colon is written after ``0:``
    (``"0:16:9 shot of a cat"``). From Python the schedule may be given as its entries, ``[(0, "a red ball"), (20, "a blue
    ball")]``, each prompt as it is.
    """
    if isinstance(text, (list, tuple)):
        return _given_schedule(text)
    if not isinstance(text, str):
        raise VidlongError(f"{named('prompt')} must be text, got {type(text).__name__}; pass \"a red ball\" or "
                           "\"0:a red ball; 20:a blue ball\"")
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not parts:
        raise VidlongError(f"the prompt is empty; pass {named('prompt')} \"a red ball\" or \"0:a red ball; 20:a blue ball\"")
    heads = [part.partition(":")[0].strip() if ":" in part else "" for part in parts]
    timed = next((part for part, head in zip(parts, heads) if _SECONDS.fullmatch(head)), None)
    if timed is not None:
        raise VidlongError(f"prompt schedule entry {timed!r} starts at a time; a stream's schedule counts chunks, "
                           "not seconds: \"0:a red ball; 20:a blue ball\" (vidlong generate's timelines take seconds)")
    if not any(head.isdigit() for head in heads):
        return [(0, text.strip())]
    if len(parts) == 1 and int(heads[0]) != 0:
        raise VidlongError(f"prompt schedule {text.strip()!r} must start at chunk 0: \"0:a red ball; 20:a blue ball\" (a "
                           f"prompt that begins with {heads[0]}: is written after 0:, \"0:{parts[0]}\")")
    negative = next((part for part in parts if NEGATIVE_START.match(part)), None)
    if negative is not None:
        raise VidlongError(f"prompt schedule entry {negative!r} starts before chunk 0; number each prompt's first chunk from 0: "
                           "\"0:a red ball; 20:a blue ball\"")
    unnumbered = next((part for part, head in zip(parts, heads) if not head.isdigit()), None)
    if unnumbered is not None:
        raise VidlongError(f"prompt schedule entry {unnumbered!r} needs a chunk number: \"0:a red ball; 20:a blue ball\"")
    schedule = [(int(head), part.partition(":")[2].strip()) for part, head in zip(parts, heads)]
    return check_schedule(schedule, "prompt schedule", lambda start: f"chunk {start}", "\"0:a red ball; 20:a blue ball\"")


def one_prompt_text(prompt: str) -> str:
    """A text `parse_prompt_schedule` reads as the one prompt `prompt` (``0:`` before one it would read as a schedule,
    where the prompt holds no ``;``)."""
    try:
        if parse_prompt_schedule(prompt) == [(0, prompt.strip())]:
            return prompt
    except VidlongError:
        pass
    return prompt if ";" in prompt else f"0:{prompt}"


def _given_schedule(entries) -> list[tuple[int, str]]:
    """A schedule given as its entries ``[(chunk, prompt), ...]``, checked as a written one is."""
    pairs = [entry for entry in entries if isinstance(entry, (list, tuple)) and len(entry) == 2]
    if not entries or len(pairs) < len(entries) or not all(is_whole(start) and start >= 0 and isinstance(prompt, str)
                                                           for start, prompt in pairs):
        raise VidlongError(f"{named('prompt')} given as a schedule takes (chunk, prompt) pairs, whole chunks >= 0 and text: "
                           "[(0, \"a red ball\"), (20, \"a blue ball\")]")
    return check_schedule([(int(start), prompt.strip()) for start, prompt in pairs], "prompt schedule",
                          lambda start: f"chunk {start}", "[(0, \"a red ball\"), (20, \"a blue ball\")]")


def check_prompt_starts(schedule: list[tuple[int, str]], chunks: Optional[int]) -> None:
    """A one-line error if a prompt schedule's last entry starts at or after a stream's `chunks` (None:
    a stream with no end, where any start comes; a count below 1 is `check_stream_length`'s to refuse)."""
    last = schedule[-1][0]
    if isinstance(chunks, int) and 1 <= chunks <= last:
        raise VidlongError(f"the prompt schedule switches at chunk {last} but the stream has {chunks} chunk"
                           f"{'s' if chunks != 1 else ''} (0-{chunks - 1}); start it earlier or stream longer "
                           "(schedule numbers count chunks, not seconds)")


def check_schedule(entries: list, what: str, at, example: str) -> list:
    """`entries` ``(start, prompt)`` sorted by start, or a one-line error: the first must start at 0, no
    two at one start, none without a prompt. `at(start)` names a start ("chunk 3", "4s") in messages."""
    entries = sorted(entries)
    if entries[0][0] != 0:
        raise VidlongError(f"a {what} must start at {at(0)}: {example}")
    starts = [start for start, _ in entries]
    twice = next((start for start in starts if starts.count(start) > 1), None)
    if twice is not None:
        raise VidlongError(f"the {what} has two prompts at {at(twice)}; give each start one prompt")
    if any(not prompt for _, prompt in entries):
        raise VidlongError(f"every {what} entry needs a prompt after its start: {example}")
    return entries


def prompt_at(schedule: list[tuple[float, str]], at: float) -> str:
    """The prompt in force at `at` (a chunk index of a stream's schedule, a second of a timeline): its last entry starting
    there or before, else its first."""
    return ([prompt for start, prompt in schedule if start <= at] or [schedule[0][1]])[-1]


def fewest_shown_latent_frames(temporal_ratio: int, dropped: int) -> int:
    """The fewest latent frames of a new stream's first chunk that leave a pixel frame to show after the `dropped` pixel
    frames its pipeline's call drops from a video's start (1 where it drops none)."""
    return 1 + max(0, math.ceil(dropped / temporal_ratio))


def _chunk_pixels(chunk: int, temporal_ratio: int, continuing: bool, first_chunk: Optional[int],
                  dropped: int = 0, alone: bool = False) -> tuple[int, int]:
    """(pixel frames of a stream's first chunk, of every later one): a new stream's first chunk of F latent
    frames (`first_chunk`, default `chunk`, at least `fewest_shown_latent_frames`) gives ``4·F - 3`` pixel frames less the
    `dropped` ones its call drops, and every later chunk ``4·chunk``; a continuation's (`continuing`) chunks all give
    ``4·chunk``. Chunks each decoded on its own (`alone`: Helios's, whose first chunk is a chunk too) all give
    ``4·(chunk - 1) + 1``."""
    if alone:
        return (temporal_ratio * (chunk - 1) + 1,) * 2
    per_chunk = temporal_ratio * chunk
    if continuing:
        return per_chunk, per_chunk
    first = max(first_chunk or chunk, fewest_shown_latent_frames(temporal_ratio, dropped))
    return temporal_ratio * (first - 1) + 1 - dropped, per_chunk


def chunks_for_seconds(seconds: float, fps: float, chunk: int, temporal_ratio: int = 4, continuing: bool = False,
                       first_chunk: Optional[int] = None, dropped: int = 0, alone: bool = False) -> int:
    """Smallest chunk count whose video lasts at least `seconds` (chunk sizes as `_chunk_pixels` counts them)."""
    first, per_chunk = _chunk_pixels(chunk, temporal_ratio, continuing, first_chunk, dropped, alone)
    return 1 + max(0, math.ceil((max(1, math.ceil(seconds * fps)) - first) / per_chunk))


def first_chunk_from(second: float, fps: float, chunk: int, temporal_ratio: int = 4, continuing: bool = False,
                     first_chunk: Optional[int] = None, dropped: int = 0, alone: bool = False) -> int:
    """Index of a stream's first chunk starting at or after `second` seconds of new video (chunk sizes as
    `_chunk_pixels` counts them)."""
    frame = second * fps - 1e-9
    if frame <= 0:
        return 0
    first, per_chunk = _chunk_pixels(chunk, temporal_ratio, continuing, first_chunk, dropped, alone)
    return 1 + max(0, math.ceil((frame - first) / per_chunk))


def stream_chunk_count(limits, streaming, chunks: Optional[int], seconds: Optional[float],
                       input_fps: Optional[float] = None) -> Optional[int]:
    """The chunks a stream makes: `chunks`, else enough for `seconds` of video by the model's `limits`
    (`vidlong.validate.ModelLimits`: its spec's fps, temporal ratio and first chunk (`counted_first_chunk`: with its image's
    frame where its streams return it first), less the pixel frames its call drops from a video's start, `dropped_frames`,
    its chunks each decoded on its own where they are, `chunks_alone`) with
    `streaming`'s chunk, or, for an extension (the input's frame rate `input_fps` given), enough new chunks for `seconds`
    at that rate; None: until stopped."""
    if chunks is not None or not seconds:
        return chunks
    spec = limits.spec
    if input_fps:
        return chunks_for_seconds(seconds, input_fps, streaming.chunk, spec.temporal_ratio, continuing=True,
                                  alone=limits.chunks_alone)
    first_chunk = limits.counted_first_chunk(streaming.first_chunk or spec.stream_first_chunk or streaming.chunk)
    return chunks_for_seconds(seconds, spec.fps, streaming.chunk, spec.temporal_ratio, first_chunk=first_chunk,
                              dropped=limits.dropped_frames, alone=limits.chunks_alone)
