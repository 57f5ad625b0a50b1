"""vidlong's user-facing errors, and how their one line names an argument (`named`) and the calls on a pipeline's
transformers (`expert_calls`)."""
from __future__ import annotations

import contextvars
from contextlib import contextmanager
from typing import Optional


class VidlongError(ValueError):
    """A user-facing error: its message is one line that names the fix. A ValueError, as diffusers' refusals of bad input
    are, so that ``except ValueError`` around a pipeline call catches vidlong's too."""


class Stopped(Exception):
    """A run ended early because its user asked (the app's Stop, a cancelled API call, a closed tab).
    A progress callback raises it; the run undoes what it applied and stops at that point."""


#: whether errors name arguments by their command-line flags alone (inside `flag_names`, the CLI's)
_FLAG_NAMES = contextvars.ContextVar("vidlong_flag_names", default=False)
#: arguments a command names by other flags (inside `renamed`: `vidlong eval`'s ``--methods`` for a request's method)
_RENAMED = contextvars.ContextVar("vidlong_renamed", default={})


@contextmanager
def flag_names():
    """Within it, errors name arguments by their flags alone (``--first-chunk``): the CLI runs in it."""
    token = _FLAG_NAMES.set(True)
    try:
        yield
    finally:
        _FLAG_NAMES.reset(token)


@contextmanager
def renamed(**flags: str):
    """Within it, `named` gives each argument in `flags` its flag there (``renamed(method="--methods")``: a command
    that checks its own arguments as another's request)."""
    token = _RENAMED.set({**_RENAMED.get(), **flags})
    try:
        yield
    finally:
        _RENAMED.reset(token)


def naming_flags() -> bool:
    """Whether errors name flags alone here (inside `flag_names`)."""
    return _FLAG_NAMES.get()


def named(python: str, flag: Optional[str] = None) -> str:
    """How an error names an argument: from Python, its name with its flag in brackets (``first_chunk
    (--first-chunk)``); inside `flag_names`, the flag alone. `flag` defaults to ``--`` + the name with
    dashes (within `renamed`, the flag it gives)."""
    flag = flag or _RENAMED.get().get(python) or "--" + python.replace("_", "-")
    return flag if _FLAG_NAMES.get() else f"{python} ({flag})"


def expert_calls(pipe, call: str) -> str:
    """`call` (a format string taking an attribute name) for each transformer `pipe` holds, joined by "and": its
    ``transformer`` and, where it has one (Wan2.2's low-noise expert), its ``transformer_2``."""
    names = ["transformer"] + ["transformer_2"] * (getattr(pipe, "transformer_2", None) is not None)
    return " and ".join(call.format(name) for name in names)
