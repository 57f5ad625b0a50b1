"""The page's bounded fields, refusing an out-of-range value or an unknown choice with a message that
names the field ("Steps must be from 1 to 1000, got 0"), where Gradio's own names only the value.

Each is the Gradio component itself (same look in the browser) with its preprocessing wrapped: the
check runs when a value arrives from the page or through the API, before any handler.
"""
from __future__ import annotations

import math
import re

import gradio as gr


def field_name(label: str) -> str:
    """The field's name in messages: its label without a parenthesised note ("Height (multiple of 16)" -> "Height")."""
    return re.sub(r"\s*\(.*\)\s*$", "", label or "value")


def _check_bounds(component, value) -> None:
    if value is None:
        if isinstance(component, gr.Slider):  # Gradio's own refusal of an empty slider is several lines
            raise gr.Error(f"{field_name(component.label)} is empty; give a number from {component.minimum:g} to "
                           f"{component.maximum:g}", print_exception=False)
        return  # an empty field: the model's default, or a one-line refusal where one is needed
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise gr.Error(f"{field_name(component.label)} must be a number, got {value!r}", print_exception=False)
    if not math.isfinite(value):  # the API takes NaN and Infinity
        raise gr.Error(f"{field_name(component.label)} must be a finite number, got {value}", print_exception=False)
    if getattr(component, "precision", None) == 0 and value != int(value):  # Gradio would round it quietly
        raise gr.Error(f"{field_name(component.label)} must be a whole number, got {value:g}", print_exception=False)
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


def _check_flag(component, value) -> None:
    if value is not None and not isinstance(value, bool):  # Gradio would hand on any JSON value (a path, "yes") as it is
        raise gr.Error(f"{field_name(component.label)} must be true or false, got {value!r:.80}", print_exception=False)


def named(component, accepts=()):
    """`component` (a Gradio Number, Slider, Radio, Dropdown, CheckboxGroup or Checkbox) with its value checked
    before its own preprocessing, so a refusal names the field; returns it. `accepts`: values taken beyond the choices
    the page offers, handed on as they are (the API's method a model does not run reaches the handler, whose refusal
    says why). (Wrapped on the instance: a subclass would make Gradio write a .pyi file beside this module.)"""
    preprocess = component.preprocess
    multiple = isinstance(component, gr.CheckboxGroup)

    def checked(payload):
        if isinstance(component, gr.Checkbox):
            _check_flag(component, payload)
            return preprocess(payload)
        if hasattr(component, "minimum"):
            _check_bounds(component, payload)
            return preprocess(payload)
        values = (payload or []) if multiple else [] if payload is None else [payload]
        _check_choices(component, [value for value in values if value not in accepts])
        offered = [value for _, value in component.choices]
        return payload if any(value not in offered for value in values) else preprocess(payload)

    component.preprocess = checked
    return component


def guarded(component, expects: str):
    """`component` (an Image, Video or Dataframe input) with a payload Gradio cannot read (a file that is no image, a
    timeline sent as text through the API) refused in one line that names the field and what it `expects` ("First frame
    must be an image file (PNG, JPEG)"), where Gradio's own error is several lines and a server traceback; returns it.
    Both Gradio's reading of the payload (its data model) and the component's preprocessing are guarded."""
    def refusal():
        return gr.Error(f"{field_name(component.label)} must be {expects}", print_exception=False)

    preprocess = component.preprocess

    def checked(payload):
        try:
            return preprocess(payload)
        except gr.Error:
            raise
        except Exception:  # noqa: BLE001 - Gradio's reading of an unreadable file, in one line
            raise refusal() from None

    component.preprocess = checked
    if getattr(component, "data_model", None) is not None:
        component.data_model = _GuardedModel(component.data_model, refusal)
    return component


class _GuardedModel:
    """A component's Gradio data model whose validation of a payload of the wrong shape raises `refusal()` (the rest
    is the model's own)."""

    def __init__(self, model, refusal):
        self.model, self.refusal = model, refusal

    def model_validate(self, *args, **kwargs):
        from pydantic import ValidationError

        try:
            return self.model.model_validate(*args, **kwargs)
        except ValidationError:
            raise self.refusal() from None

    def __getattr__(self, name):
        if name in ("model", "refusal") or name.startswith("__"):  # not set yet (a copy): not the model's
            raise AttributeError(name)
        return getattr(self.model, name)


def _factory(cls):
    def make(*args, accepts=(), **kwargs):
        return named(cls(*args, **kwargs), accepts)

    make.__name__, make.__doc__ = cls.__name__, f"A gr.{cls.__name__} whose refusals name the field (see `named`)."
    return make


Number, Slider, Radio, Dropdown, CheckboxGroup, Checkbox = map(_factory, (gr.Number, gr.Slider, gr.Radio, gr.Dropdown,
                                                                     gr.CheckboxGroup, gr.Checkbox))
