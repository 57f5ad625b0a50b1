"""What vidlong's pipelines of the families beyond Wan share (`vidlong.families`): the decode overlap of their chunk
decoders, the first frame as their image-to-video calls take it, the start noise of calls that draw it channels last, and
two small contexts that set something for a call and put it back."""
from __future__ import annotations

import contextlib
import logging

import torch

#: latent frames of the previous chunk an `OverlapDecoder` decodes again with each chunk
DECODE_OVERLAP = 2


def call_pixels(pipe, image, height: int, width: int) -> torch.Tensor:
    """The first frame as LTX-Video's and CogVideoX's image-to-video calls take it: ``[1, 3, height, width]`` in
    [-1, 1] on the execution device, in the prompt's (text encoder's) dtype; `image` as `load_image` takes it."""
    from ..generate import load_image

    pixels = pipe.video_processor.preprocess(load_image(image), height=height, width=width)
    return pixels.to(pipe._execution_device, pipe.text_encoder.dtype)


class ChannelsLastNoise:
    """The start noise of a pipeline whose call draws its noise channels last, ``[B, F, h, w, C]`` (Kandinsky 5's and 6's)."""

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Noise of `kind` for latents `shape` ``[1, C, F, h, w]``: plain noise as its call draws it, channels last (then as
        ``[1, C, F, h, w]``, a view), so that `generate` with no method makes its call's video for the same seed; SpecMix and
        FreeNoise as vidlong draws them for every model."""
        from ..schedulers.noise import initial_noise

        if kind != "plain":
            return initial_noise(kind, shape, native_frames, generator)
        batch, channels, frames, height, width = shape
        return torch.randn((batch, frames, height, width, channels), generator=generator).permute(0, 4, 1, 2, 3)


@contextlib.contextmanager
def replaced(owner, name: str, value):
    """Within it, ``owner.name`` is `value`; after it, what `owner` itself held there before (or, where it held
    nothing of its own, its class's again)."""
    missing = object()
    before = vars(owner).get(name, missing)
    setattr(owner, name, value)
    try:
        yield
    finally:
        if before is missing:
            delattr(owner, name)
        else:
            setattr(owner, name, before)


@contextlib.contextmanager
def quiet(module: str):
    """Within it, the logger of diffusers' `module` logs errors only (a warning about a choice its user did not make,
    repeated at every chunk of a stream: LTX-Video 0.9.5+'s timesteps given without sigmas, a guider's "experimental
    feature" at every copy)."""
    log = logging.getLogger(module)
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)
