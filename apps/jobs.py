"""The app's runs as stoppable jobs: each runs in a worker thread, reports stages to the page's progress
bar with an ETA, and ends at its next step (or chunk) when its user presses Stop, its API client
cancels, or its tab closes.

A run's Python callbacks check its `Job` and raise `vidlong.errors.Stopped`; a cancelled Gradio event
(a client's cancel, a closed tab) sets the job's stop flag, so the worker thread ends at its next step
and frees the model for the next job.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, Optional

from vidlong.errors import Stopped
from vidlong.progress import STAGE_UNITS


class Job:
    """One run of one page session: a stop flag, and (for a stream) the streamer to switch prompts on."""

    def __init__(self):
        self.stop = threading.Event()
        self.streamer = None
        self.claimed = False

    def check(self) -> None:
        """Raise `Stopped` if the job was asked to stop."""
        if self.stop.is_set():
            raise Stopped("stopped by its user")


class Jobs:
    """The running job of each page session (Gradio's ``session_hash``); one per session."""

    def __init__(self):
        self._by_session: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> Job:
        """A new job for `session`; a job the session still runs is told to stop."""
        job = Job()
        with self._lock:
            previous, self._by_session[session] = self._by_session.get(session), job
        if previous is not None:
            previous.stop.set()
        return job

    def claim(self, session: str) -> Job:
        """The job a run of `session` is to use: the one reserved by `start` when the page's click
        queued it (so a Stop pressed while it waited in the queue holds), else a new one."""
        with self._lock:
            job = self._by_session.get(session)
            if job is not None and not job.claimed:
                job.claimed = True
                return job
        job = self.start(session)
        job.claimed = True
        return job

    def get(self, session: str) -> Optional[Job]:
        with self._lock:
            return self._by_session.get(session)

    def stop(self, session: str) -> bool:
        """Ask the session's job to stop; False when it runs none."""
        job = self.get(session)
        if job is None:
            return False
        job.stop.set()
        return True

    def finish(self, session: str, job: Job) -> None:
        with self._lock:
            if self._by_session.get(session) is job:
                del self._by_session[session]


async def in_worker(job: Job, work: Callable, *args):
    """``work(*args)`` in a worker thread, awaited; if the awaiting event is cancelled, the job is told to
    stop (the thread ends at its next step) and the cancellation goes on."""
    try:
        return await asyncio.to_thread(work, *args)
    except asyncio.CancelledError:
        job.stop.set()
        raise


def duration_text(seconds: float) -> str:
    """"42 s", "3 min 05 s", "2 h 05 min" or "3 days"."""
    seconds = max(0, round(seconds))
    if seconds >= 2 * 86400:
        return f"{seconds // 86400} days"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class StageProgress:
    """A `vidlong.generate.Progress` callback for a Gradio progress bar: "denoise: about 12 s left",
    with ``done/total`` as the bar. Every report first checks the job, so a stop lands at the next step
    or decoded frame.

    Args:
        progress: the event's ``gr.Progress``.
        job: the run's job.
        prefix: text before the stage (e.g. "ultravico (2/3): " in a comparison).
    """

    def __init__(self, progress, job: Job, prefix: str = ""):
        self.progress, self.job, self.prefix = progress, job, prefix
        self.stage, self.started, self.first_done = None, 0.0, 0
        self.spent: dict[str, float] = {}  # seconds of each stage left behind

    def seconds_in(self, stage: str) -> float:
        """Seconds spent in `stage` so far (the current stage's up to now)."""
        current = time.monotonic() - self.started if stage == self.stage else 0.0
        return self.spent.get(stage, 0.0) + current

    def eta(self, done: int, total: int) -> str:
        """Time left in the current stage, from its pace so far ("" before the pace is known)."""
        if done <= self.first_done or done >= total:
            return ""
        pace = (time.monotonic() - self.started) / (done - self.first_done)
        return f", about {duration_text(pace * (total - done))} left"

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.job.check()
        if stage != self.stage:
            if self.stage is not None:
                self.spent[self.stage] = self.seconds_in(self.stage)
            self.stage, self.started, self.first_done = stage, time.monotonic(), done
        self.progress((done, total), desc=f"{self.prefix}{stage}{self.eta(done, total)}", unit=STAGE_UNITS.get(stage, ""))

