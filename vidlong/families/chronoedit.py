"""ChronoEdit under vidlong: diffusers' `ChronoEditPipeline`, an image editor made of Wan2.1-I2V-14B. Its call denoises a
short video from the input image to the edited one and returns the edit as its last frame: without
``enable_temporal_reasoning`` 5 pixel frames (2 latent: the image's and the edit's, whatever ``num_frames`` says); with it
``num_frames`` (4k+1) for its first ``num_temporal_reasoning_steps`` steps, the frames between them the edit's "reasoning"
trajectory, then (where steps remain) the first and last latent frames alone. Its latents ``[B, C, F, h, w]`` and image
condition (4 mask + C image channels, CLIP states) are Wan I2V's; its transformer's attention Wan's
(`vidlong.attention.adapters.chronoedit`). vidlong's methods act on the reasoning frames' forwards: a video of more of them
than its native window (``num_frames`` past 29 pixel frames: ``vidlong generate --ratio 2``). An edit is one short clip: it
does not stream or extend.
"""
from __future__ import annotations

from diffusers import ChronoEditPipeline

from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin

#: pixel frames its call makes without temporal reasoning (the input image's latent frame and the edit's)
EDIT_FRAMES = 5


class VidLongChronoEditPipeline(VidlongPipelineMixin, ChronoEditPipeline):
    """diffusers' `ChronoEditPipeline` with vidlong's surface: its call as diffusers' with the spec's defaults (size, steps,
    guidance and ``num_frames``, which its call reads only with ``enable_temporal_reasoning``); `generate` runs its temporal
    reasoning through every step (`generate_arguments`: the whole reasoning video comes back, the edit last, as diffusers'
    documentation's example with ``num_frames=29``), so the methods act at every step of a longer one. Its call decodes the
    edit (first and last latent frames) apart from the reasoning frames, so `generate` takes its call's own decode."""

    task = "i2v"

    def complete_call(self, arguments: dict) -> None:
        """One line, before any work, where its call would end its temporal reasoning before its last step with a sampler
        that keeps no history to trim there (diffusers' call reads UniPC's ``model_outputs`` at that step and fails with an
        AttributeError: `FlowMatchEulerDiscreteScheduler`, its pipeline's annotated sampler, has none)."""
        steps, total = arguments.get("num_temporal_reasoning_steps", 0), arguments["num_inference_steps"]
        if arguments.get("enable_temporal_reasoning") and steps < total and not hasattr(self.scheduler, "model_outputs"):
            raise VidlongError(f"num_temporal_reasoning_steps: its call ends temporal reasoning at step {steps} of {total} by "
                               f"trimming its sampler's history, which this {type(self.scheduler).__name__} does not keep; "
                               f"give num_temporal_reasoning_steps={total} (reasoning to the end), or load a "
                               "UniPCMultistepScheduler")

    def forward_frames(self, arguments: dict) -> int:
        """Pixel frames of its forwards: ``num_frames`` with ``enable_temporal_reasoning``, else `EDIT_FRAMES` (its call's
        own, whatever ``num_frames`` is)."""
        return arguments[self.frames_argument] if arguments.get("enable_temporal_reasoning") else EDIT_FRAMES

    def generate_arguments(self, steps: int) -> dict:
        """Temporal reasoning through all `steps`: the video of ``num_frames`` frames, each step's forward over all of them
        (with 5 frames, 2 latent, the plain edit: its call decodes them as it does without reasoning)."""
        return dict(enable_temporal_reasoning=True, num_temporal_reasoning_steps=steps)

    def decodes_in_chunks(self) -> bool:
        """False: its call decodes the reasoning frames, then the first and last latent frames apart for the edit's last
        pixel frames; a whole-video decode would give other last frames."""
        return False
