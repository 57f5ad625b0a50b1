"""LTX-2 under vidlong (`vidlong.families`): diffusers' `LTX2Pipeline` (LTX-2.0, 2.3), text to video with its audio track.

vidlong's methods act on the video's self-attention (`vidlong.attention.adapters.ltx2`); the audio's own attention, and
the attention between audio and video, stay the model's. Its call makes the video and the audio of the same length in
one go, with its guidance as diffusers sets it (classifier-free, spatio-temporal and modality guidance: up to three
forwards a step, each through the methods). Streams and extensions are refused in one line (its adapter's
``no_stream_reason``): the audio is made in one piece with the video.
"""
from __future__ import annotations

import contextlib
from typing import Optional

from diffusers import LTX2Pipeline

from ..pipeline import VidlongPipelineMixin
from ..video_io import Soundtrack
from .common import quiet
from .ltx import LTXFamily


class VidLongLTX2Pipeline(LTXFamily, VidlongPipelineMixin, LTX2Pipeline):
    """diffusers' `LTX2Pipeline` with vidlong's surface. As LTX-Video's: ``frame_rate`` defaults to the spec's fps, its
    latents are packed tokens ``[B, N, C]``; given ``latents=`` it still draws (and drops) its noise, so `generate`
    hands it the generator as it was before its own noise draw (`call_redraws_from`) and the audio's noise is the
    stock call's with that seed."""

    call_redraws_from = "noise"

    def __call__(self, *args, **kwargs):
        """Its call (`VidlongPipelineMixin`); given packed latents, as `generate` gives them, without its warning that it
        cannot read their grid from them (its size arguments give it)."""
        latents = kwargs.get("latents")
        with quiet(LTX2Pipeline.__module__) if latents is not None and latents.ndim == 3 else contextlib.nullcontext():
            return super().__call__(*args, **kwargs)

    def forwards_per_step(self, guidance: float) -> int:
        """With its call's guidance settings as diffusers sets them: classifier-free guidance (its audio's scale 7 runs it
        even at a video guidance of 1: two samples), spatio-temporal guidance (one more) and modality isolation (one
        more)."""
        return 4

    def soundtrack(self, output) -> Optional[Soundtrack]:
        """The first video's audio of a call's `output` (its vocoder's waveform ``[B, channels, samples]`` at the vocoder's
        rate), or None where the call returned latents."""
        audio = getattr(output, "audio", None)
        if audio is None or audio.ndim != 3:
            return None
        return Soundtrack(audio[0].float().clamp(-1, 1).cpu().numpy(), int(self.vocoder.config.output_sampling_rate))
