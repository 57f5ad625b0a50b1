"""The page's bounded fields, refusing an out-of-range value or an unknown choice with a message that
names the field ("Steps must be from 1 to 1000, got 0"), where Gradio's own names only the value.

Each is a template of the Gradio component it extends (same look in the browser); the check runs
when a value arrives from the page or through the API, before any handler.
"""
from __future__ import annotations

import re

import gradio as gr


def field_name(label: str) -> str:
    """The field's name in messages: its label without a parenthesised note ("Height (multiple of 16)" -> "Height")."""
    return re.sub(r"\s*\(.*\)\s*$", "", label or "value")


def _check_bounds(component, value) -> None:
    if value is None:
        return
    low, high = component.minimum, component.maximum
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"from {low:g} to {high:g}" if low is not None and high is not None else \
            f"at least {low:g}" if low is not None else f"at most {high:g}"
        raise gr.Error(f"{field_name(component.label)} must be {bounds}, got {value:g}", print_exception=False)


def _check_choices(component, values) -> None:
    allowed = [value for _, value in component.choices]
    for value in values:
        if value not in allowed:
            raise gr.Error(f"{field_name(component.label)} must be one of {', '.join(map(str, allowed))}; got {value!r}",
                           print_exception=False)

from gradio.events import Dependency

class Number(gr.Number):
    is_template = True

    def preprocess(self, payload):
        _check_bounds(self, payload)
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Slider(gr.Slider):
    is_template = True

    def preprocess(self, payload):
        _check_bounds(self, payload)
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Radio(gr.Radio):
    is_template = True

    def preprocess(self, payload):
        _check_choices(self, [] if payload is None else [payload])
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class Dropdown(gr.Dropdown):
    is_template = True

    def preprocess(self, payload):
        _check_choices(self, [] if payload is None else [payload])
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class CheckboxGroup(gr.CheckboxGroup):
    is_template = True

    def preprocess(self, payload):
        _check_choices(self, payload or [])
        return super().preprocess(payload)
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component