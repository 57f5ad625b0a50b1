"""A run's progress (`vidlong.generate.Progress`: ``progress(stage, done, total)``) as its stages report it: what each stage
counts (`STAGE_UNITS`), a stage's steps reported as they run (`StepCount`: the denoising's from its first forward, LTX-2.5's
temporal refine rounds, its diffusion decoder), `vidlong generate`'s one bar over every step of the run (`RunBar`), and a
stream's text for its steps within a chunk (`step_status`).

A progress callback may also take the run's plan: `vidlong.generate.generate` calls its ``plan(steps)``, where it has one,
once before its first report, ``steps`` the ``{stage: total}`` of the stages counted in steps that it knows it will run, in
their order; so a bar over all of them knows its total from the start.
"""
from __future__ import annotations

import contextlib
from typing import Callable

from .errors import VidlongError

#: what a run's progress counts in each stage of `vidlong.generate.generate` (the app's bar names it; the CLI's bar adds up
#: the stages counted in steps)
STAGE_UNITS = {"denoise": "steps", "refine": "steps", "temporal refine": "steps", "diffusion decode": "steps",
               "upsample": "windows", "decode": "latent frames"}


class StepCallback:
    """A stream's ``on_step`` attribute: None or a function ``on_step(done, total)``; anything else is refused in one line
    when it is set (called mid-stream, a number would fail inside a chunk)."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, stream, owner=None):
        return self if stream is None else getattr(stream, self.slot, None)

    def __set__(self, stream, callback):
        if callback is not None and not callable(callback):
            raise VidlongError(f"on_step must be a function on_step(done, total) or None, got {type(callback).__name__}")
        setattr(stream, self.slot, callback)


def counts_steps(stage: str) -> bool:
    """Whether `stage` of a run's progress counts denoising steps (`STAGE_UNITS`)."""
    return STAGE_UNITS.get(stage) == "steps"


def step_status(kind: str, done: int, total: int) -> str:
    """A stream's progress text after its ``on_step(done, total)`` (`kind`: its ``step_kind``): a "chunk"'s denoising steps,
    its decode after its last; a fifo stream's "native video"'s steps, its "queue"'s latent frames, then their decode."""
    unit = "latent frame" if kind == "queue" else "step"
    return f"{kind}: {unit} {done}/{total}" + ("; decoding" if kind in ("chunk", "queue") and done == total else "")


class StepCount:
    """The `total` steps of a stage `stage` reported to `progress` (a `vidlong.generate.Progress`) as they run: 0 done as
    it starts (`start`: a second stage's before its model loads; the denoising's at its first forward, `started_by`), then
    one more after each step, counted by diffusers' ``callback_on_step_end`` (`on_step_end`) where its call takes one,
    else by a forward hook on a module its step runs once (`hooked`). A report that raises (the app's Stop:
    `vidlong.errors.Stopped`) ends the run there."""

    def __init__(self, stage: str, total: int, progress: Callable[[str, int, int], None]):
        self.stage, self.total, self.progress, self.done = stage, int(total), progress, 0

    def start(self) -> None:
        """Report 0 of its steps done."""
        self.done = 0
        self.progress(self.stage, 0, self.total)

    def step(self) -> None:
        """Report one more step done."""
        self.done += 1
        self.progress(self.stage, self.done, self.total)

    def on_step_end(self, _pipe, _step, _timestep, _kwargs) -> dict:
        """diffusers' ``callback_on_step_end``: `step`, the call's tensors unchanged."""
        self.step()
        return {}

    def hooked(self, module):
        """Within it, each forward of `module` (a module the stage's step runs once, at its end) is a `step`."""
        return _hooked([module.register_forward_hook], lambda *_: self.step())

    def started_by(self, modules):
        """Within it, the first forward of any of `modules` (the transformers its steps run) is its `start`, once: the
        stage is named as its first step runs, not after it, and not before (the prompt's encoding, its text encoder's
        forwards, comes first)."""
        started = []

        def begin(*_):
            if not started:
                started.append(True)
                self.start()

        return _hooked([module.register_forward_pre_hook for module in modules], begin)


def stream_steps(stream, total: int) -> StepCount:
    """The `total` denoising steps of a chunk of `stream` (a `vidlong.streaming.VideoStreamer`, or a family's streamer with
    its ``on_step`` and ``step_kind``) counted to its ``on_step(done, total)``, none where it has none: `StepCount.start`
    as its first step begins (`StepCount.started_by` where a pipeline's call runs them, its prompt's encoding first),
    `StepCount.step` after each."""
    def report(_kind: str, done: int, total: int) -> None:
        if stream.on_step is not None:
            stream.on_step(done, total)

    return StepCount(stream.step_kind, total, report)


@contextlib.contextmanager
def _hooked(registers: list, hook: Callable):
    """Within it, `hook` registered by each of `registers` (modules' ``register_forward_hook`` or
    ``register_forward_pre_hook``); the hooks come off as it ends, a raise too."""
    handles = [register(hook) for register in registers]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


class RunBar:
    """`vidlong generate`'s progress bar (tqdm, on stderr), a `vidlong.generate.Progress` callback: one count over the steps
    of every stage counted in steps (`counts_steps`: its denoising steps, then a second stage's: LTX-2.5's temporal rounds'
    tiles' steps, its diffusion decoder's), to the total of the run's plan (`plan`); a stage the plan did not name adds
    its total as it reports. Nothing is drawn before a total is known (no count of 0 steps without one). The bar's text
    names the stage running (the VAE's decode too, at its end)."""

    def __init__(self, disable: bool = False):
        self.disable, self.bar = disable, None  # its tqdm, drawn from the first total (`_show`)
        self.stage, self.shown = "", None  # the stage running; the (stage, total) the bar last drew
        self.totals: dict = {}
        self.done: dict = {}

    def plan(self, steps: dict) -> None:
        """The run's plan: ``{stage: total}`` of the stages counted in steps it will run."""
        self.totals.update({stage: int(total) for stage, total in steps.items() if counts_steps(stage)})
        self._show()

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.stage = stage
        if counts_steps(stage):
            self.totals[stage], self.done[stage] = int(total), int(done)
        self._show()

    def _show(self) -> None:
        """The bar at the run's count of steps: nothing before a total is known (no count of 0 steps), drawn at once where
        its stage or total changes, else as tqdm paces it."""
        total = sum(self.totals.values())
        if total == 0:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="step", dynamic_ncols=True, leave=False, disable=self.disable)
        changed, self.shown, self.bar.total = self.shown != (self.stage, total), (self.stage, total), total
        self.bar.update(sum(self.done.values()) - self.bar.n)
        if changed:
            self.bar.set_description(self.stage)  # redraws

    def __enter__(self) -> "RunBar":
        return self

    def __exit__(self, *_) -> bool:
        if self.bar is not None:
            self.bar.close()
        return False
