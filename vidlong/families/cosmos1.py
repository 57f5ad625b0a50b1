"""NVIDIA Cosmos 1.0 (Cosmos-Predict1) under vidlong (`vidlong.families`): diffusers' `CosmosTextToWorldPipeline` (from text)
and `CosmosVideoToWorldPipeline` (from an image; its ``video=`` condition is not vidlong's), what they share with
Predict2's and Predict2.5's in `cosmos` (the guardrail).

Both calls hold their latents as EDM's ``x = x_0 + σ·ε`` (σ from 80 down its `EDMEulerScheduler`'s Karras σ), the
transformer's input ``c_in·x`` at the timestep ``0.25·log σ``, its output ``F`` made the denoised ``c_skip·x + c_out·F``,
guided by ``cond + g·(cond - uncond)`` on the denoised, and an Euler step on ``(x - denoised) / σ``. Their VAE
(`AutoencoderKLCosmos`, 8x time and 8x space) normalises latent frame ``i`` by the ``i``-th of its config's per-frame
statistics (``latents_mean``, ``latents_std``: 16 frames in diffusers' default, 121 pixel frames), which diffusers' calls
cannot broadcast over a longer video: vidlong's calls hold the last frame's statistics over the frames past them
(`held_statistics`). Units: latent frames."""
from __future__ import annotations

from contextlib import contextmanager

from diffusers import CosmosTextToWorldPipeline, CosmosVideoToWorldPipeline
from diffusers.configuration_utils import FrozenDict

from ..attention.adapters.cosmos import COSMOS
from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from .common import replaced
from .cosmos import CosmosFamily


def held_table(values: list, channels: int, frames: int) -> list:
    """A per-frame statistic `values` (``channels`` rows of ``T`` frames, flattened, as a VAE config holds it) over at least
    `frames` frames: each channel's last value repeated past its ``T`` (the values themselves, not rounded)."""
    per_channel = len(values) // channels
    extra = max(frames - per_channel, 0)
    rows = (values[c * per_channel:(c + 1) * per_channel] for c in range(channels))
    return [value for row in rows for value in [*row, *[row[-1]] * extra]]


@contextmanager
def held_statistics(vae, frames: int):
    """Within it, `vae`'s config holds per-frame ``latents_mean`` and ``latents_std`` for `frames` latent frames (the last
    frame's repeated past its own table, `held_table`), so that a call normalises a video longer than the table; a config
    with no statistics, or a table as long already, is left as it is (a call then computes exactly what diffusers' does)."""
    config, channels = vae.config, vae.config.latent_channels
    if config.get("latents_mean") is None or len(config.latents_mean) >= channels * frames:
        yield
        return
    held = {name: held_table(list(config[name]), channels, frames) for name in ("latents_mean", "latents_std")}
    with replaced(vae, "_internal_dict", FrozenDict({**config, **held})):
        yield


class Cosmos1Family(CosmosFamily):
    """What vidlong's Cosmos 1.0 pipelines share: their calls check every decoded video with whichever safety checker they
    have (`guards_video`: `generate` decodes through the call), take the spec's ``fps`` (its transformer's RoPE scales time
    by it) and normalise their latents by their VAE's per-frame statistics held over as many latent frames as one forward
    places (`held_statistics`; the transformer's table, `CosmosAdapter.table_positions`)."""

    def __call__(self, *args, **kwargs):
        """Its call, its VAE's per-frame statistics held past their table over the most latent frames one forward places."""
        placed = COSMOS.table_positions(self.transformer.config) * self.transformer.config.patch_size[0]
        with held_statistics(self.vae, placed):
            return super().__call__(*args, **kwargs)

    def guards_video(self) -> bool:
        return self.safety_checker is not None

    def call_defaults(self) -> dict:
        """The spec's, and its frame rate as the call's ``fps``."""
        return dict(super().call_defaults(), fps=self.spec.fps)


class VidLongCosmosTextToWorldPipeline(Cosmos1Family, VidlongPipelineMixin, CosmosTextToWorldPipeline):
    """diffusers' `CosmosTextToWorldPipeline` (Cosmos-1.0-Diffusion 7B/14B Text2World: a T5 prompt by cross-attention, a
    learnable absolute position embedding beside its RoPE, the Cosmos VAE of 8x time and 8x space) with vidlong's surface."""


class VidLongCosmosVideoToWorldPipeline(Cosmos1Family, VidlongPipelineMixin, CosmosVideoToWorldPipeline):
    """diffusers' `CosmosVideoToWorldPipeline` (Cosmos-1.0-Diffusion 7B/14B Video2World) with vidlong's surface, given an
    image: its call encodes the image followed by black frames to the video's length, keeps the image's latent frame as
    its condition (mask 1 there) and draws the condition's augmentation noise from its generator at every step, after its
    start noise; `generate` hands the call its generator after its own draw of that noise, so that with no method it is the
    stock call with that seed, bit for bit."""

    task = "i2v"

    def __call__(self, *args, **kwargs):
        """Its call, a ``video=`` condition refused in one line (vidlong serves its image; `vidlong extend` continues a
        video)."""
        if kwargs.get("video") is not None:
            raise VidlongError("vidlong serves Cosmos 1.0 Video2World from an image (image=); its video= condition is not "
                               "served: continue a video with vidlong extend, or pass its first frame as image=")
        return super().__call__(*args, **kwargs)
