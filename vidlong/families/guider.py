"""Pipelines whose calls take their classifier-free guidance from a ``guider`` component, not from an argument
(diffusers' newer calls: HunyuanVideo 1.5's, Motif-Video's): vidlong's call takes ``guidance_scale=`` as the other
families' do, and a stream guides as the guider would where it is plain classifier-free guidance."""
from __future__ import annotations

import math

from ..scalars import plain
from ..validate import MAX_GUIDANCE, check_finite, check_plain_guider
from .common import quiet, replaced


def guidance_of(pipe, guidance: float):
    """Within it, `pipe`'s ``guider`` component guides at `guidance` (a copy with that scale and its other settings)."""
    with quiet("diffusers.guiders"):
        guider = pipe.guider.new(guidance_scale=guidance)
    return replaced(pipe, "guider", guider)


class GuiderGuidance:
    """vidlong's call takes ``guidance_scale=`` (default: the spec's, which a folder's own ``guider_config.json`` sets) and
    runs diffusers' call with a copy of its guider at that scale (the pipeline's guider is put back after)."""

    def call_defaults(self) -> dict:
        defaults = super().call_defaults()
        defaults.pop("guidance_scale")  # not an argument of its call: `__call__` sets the guider
        return defaults

    def __call__(self, *args, guidance_scale=None, **kwargs):
        guidance = self.spec.guidance_scale if guidance_scale is None else plain(guidance_scale)
        check_finite("guidance_scale", guidance, 0, MAX_GUIDANCE)
        with guidance_of(self, guidance):
            return super().__call__(*args, **kwargs)

    def stream_guided(self, guidance):
        """Guided wherever its guider would be at `guidance` (any scale but 1)."""
        return not math.isclose(guidance, 1.0)

    def check_plain_guider(self) -> None:
        """A one-line refusal where a stream would not follow its call: a guider other than plain classifier-free
        guidance (`vidlong.validate.check_plain_guider`)."""
        guider = self.guider
        settings = {name: getattr(guider, attribute, None) for name, attribute in  # as it is now, not as it was made
                    (("guidance_rescale", "guidance_rescale"), ("use_original_formulation", "use_original_formulation"),
                     ("start", "_start"), ("stop", "_stop"), ("enabled", "_enabled"))}
        check_plain_guider(type(guider).__name__, settings,
                           "use generate, or set pipe.guider = diffusers.ClassifierFreeGuidance(guidance_scale=...)")
