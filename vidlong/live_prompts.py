"""A stream's prompt per chunk, which another thread may change while the stream runs (the app's
prompt box, a caller's ``switch_prompt``): the schedule ``[(chunk, prompt), ...]`` and the first
chunk whose prompt is not fixed yet. Units: chunks of the stream (0 = its first chunk of new video)."""
from __future__ import annotations

import math
import threading
from typing import Callable, Optional

from .errors import VidlongError
from .schedulers.stream import check_prompt_starts, parse_prompt_schedule, prompt_at


class LivePrompts:
    """The prompt schedule of one stream; `switch` and `follow_timeline` may be called from another thread
    while it runs, and the stream calls `take(index)` as chunk `index` begins, whose prompt is then fixed.

    Args:
        prompt: one prompt, or a schedule ``"0:a red ball; 20:a blue ball"`` (chunk: prompt).
        chunks: the stream's chunk count, which the schedule's starts must fall within (None: no end).
        chunk_of_second: a second of new video -> the index of the stream's first chunk starting at or after it
            (`vidlong.schedulers.stream.first_chunk_from` with the stream's chunk sizes).
    """

    def __init__(self, prompt: str, chunks: Optional[int], chunk_of_second: Callable[[float], int]):
        self.entries = parse_prompt_schedule(prompt)
        check_prompt_starts(self.entries, chunks)
        self.chunks, self.chunk_of_second = chunks, chunk_of_second
        self.next_index = 0  # the first chunk whose prompt is not fixed yet
        self._lock = threading.Lock()

    def snapshot(self) -> list[tuple[int, str]]:
        """The schedule now, ``[(chunk, prompt), ...]`` from chunk 0."""
        with self._lock:
            return list(self.entries)

    def take(self, index: int) -> str:
        """The prompt of chunk `index`, which no switch can change from now on."""
        with self._lock:
            self.next_index = index + 1
            return prompt_at(self.entries, index)

    def switch(self, prompt: str) -> int:
        """`prompt` from the next chunk not begun yet, in place of the schedule's later entries; returns
        that chunk's index (a one-line error once the stream's last chunk has begun: no chunk would take it)."""
        if not isinstance(prompt, str):
            raise VidlongError(f"the new prompt must be text, got {type(prompt).__name__}; e.g. switch_prompt(\"a blue ball\")")
        if not prompt.strip():
            raise VidlongError("the new prompt is empty; describe what the stream should show next")
        entries = parse_prompt_schedule(prompt)  # as a stream's prompt is read: "0:16:9 shot" is the prompt "16:9 shot"
        if len(entries) > 1:
            raise VidlongError("switch_prompt takes one prompt, not a schedule (\"0:...; 20:...\"); a schedule is "
                               "for pipe.stream, or call switch_prompt when each change should come")
        with self._lock:
            start = self.next_index
            if self.chunks is not None and start >= self.chunks:
                raise VidlongError(f"the switch would start at chunk {start} but the stream has {self.chunks} chunks "
                                   f"(0-{self.chunks - 1}) and its last has begun; switch before it, or stream more chunks")
            self.entries = [(chunk, text) for chunk, text in self.entries if chunk < start] + [(start, entries[0][1])]
        return start

    def follow_timeline(self, timeline: list[tuple[float, str]]) -> None:
        """Replace the schedule by a timeline in seconds of new video: each ``(second, prompt)`` holds from
        the first chunk starting at or after that second (the first entry is moved to 0 s; of two entries
        that land on one chunk, the later wins)."""
        if not timeline:
            return
        entries = sorted((float(second), str(prompt).strip()) for second, prompt in timeline)
        for second, prompt in entries:
            if not math.isfinite(second) or second < 0 or not prompt:
                raise VidlongError(f"prompt timeline entry ({second:g} s, {prompt!r}) needs seconds >= 0 and a prompt")
        for (second, first), (again, then) in zip(entries, entries[1:]):
            if second == again:
                raise VidlongError(f"prompt timeline: two prompts at {second:g} s ({first!r}, {then!r}); give each its own second")
        by_chunk = {0 if i == 0 else self.chunk_of_second(second): prompt for i, (second, prompt) in enumerate(entries)}
        with self._lock:
            self.entries = sorted(by_chunk.items())


class PromptSwitching:
    """What a streamer with a `LivePrompts` (``self.live``) offers its caller: the schedule, live switches
    and a timeline in seconds."""

    live: LivePrompts

    @property
    def fps(self) -> float:
        """Frames per second the stream is shown at, which its timeline's seconds count: an extension's input's
        (`vidlong.extend.ExtensionPrefix.fps`, where known), else the model's (a redraw stream's: its video's)."""
        prefix = getattr(self, "prefix", None)
        return float(prefix.fps if prefix is not None and prefix.fps else self.pipe.spec.fps)

    @property
    def prompts(self) -> list[tuple[int, str]]:
        """The prompt schedule now, ``[(chunk, prompt), ...]``."""
        return self.live.snapshot()

    def switch_prompt(self, prompt: str) -> int:
        """Stream `prompt` from the next chunk not begun yet, in place of the schedule's later entries;
        returns that chunk's index. Safe to call from another thread while the stream runs."""
        return self.live.switch(prompt)

    def follow_timeline(self, timeline: list[tuple[float, str]]) -> None:
        """Replace the prompt schedule by a timeline in seconds of new video (`LivePrompts.follow_timeline`)."""
        self.live.follow_timeline(timeline)

    def first_chunk_from(self, second: float) -> int:
        """Index of the first chunk of this stream that starts at or after `second` seconds of new video."""
        return self.live.chunk_of_second(second)
