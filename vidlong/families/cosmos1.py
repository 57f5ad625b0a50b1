"""NVIDIA Cosmos 1.0 (Cosmos-Predict1) under vidlong (`vidlong.families`): what its pipelines share (`Cosmos1Family`) and
diffusers' `CosmosTextToWorldPipeline` (from text); its `CosmosVideoToWorldPipeline` is `cosmos1_video2world`. What they
share with Predict2's and Predict2.5's is in `cosmos` (the guardrail, `CosmosStreamer`, `EDMLatents`).

Both calls hold their latents as EDM's ``x = x_0 + σ·ε`` (σ from 80 down its `EDMEulerScheduler`'s Karras σ), the
transformer's input ``c_in·x`` at the timestep ``0.25·log σ``, its output ``F`` made the denoised ``c_skip·x + c_out·F``,
guided by ``cond + g·(cond - uncond)`` on the denoised, and an Euler step on ``(x - denoised) / σ``. Their VAE
(`AutoencoderKLCosmos`, 8x time and 8x space) normalises latent frame ``i`` by the ``i``-th of its config's per-frame
statistics (``latents_mean``, ``latents_std``: 16 frames in diffusers' default, 121 pixel frames), which diffusers' calls
cannot broadcast over a longer video: vidlong's calls hold the last frame's statistics over the frames past them
(`held_statistics`). Units: latent frames."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from diffusers import CosmosTextToWorldPipeline
from diffusers.configuration_utils import FrozenDict

from ..attention.adapters.cosmos import COSMOS
from ..pipeline import VidlongPipelineMixin
from ..vae_stream import OverlapDecoder
from ..validate import check_vae_encodes_here
from .common import DECODE_OVERLAP, replaced
from .cosmos import CosmosFamily, EDMLatents


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


class FrameStatistics:
    """Its VAE's per-frame latent statistics (its config's ``latents_mean``, ``latents_std``, ``[1, C, T, 1, 1]``) as its
    calls normalise by them: latent frame ``i`` of a piece, counted from its `start`, by the ``i``-th, the last held past
    the table (as `held_statistics` holds them for a call); a VAE with none by σ_data alone, as its calls scale then."""

    def __init__(self, vae, sigma_data: float):
        config = vae.config
        self.sigma_data, self.tables = sigma_data, None
        if config.get("latents_mean") is not None:
            self.tables = [torch.tensor(config[name]).view(1, config.latent_channels, -1, 1, 1)
                           for name in ("latents_mean", "latents_std")]

    def _at(self, start: int, like: torch.Tensor) -> list:
        """[mean, std], each ``[1, C, f, 1, 1]`` for latent frames ``start .. start + f - 1`` (f: `like`'s frames, its
        dim 2), the table's last frame held past it, on `like`'s device and in its dtype."""
        index = torch.arange(start, start + like.shape[2]).clamp(max=self.tables[0].shape[2] - 1)
        return [table[:, :, index].to(like) for table in self.tables]

    def to_vae(self, latents: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Normalised latents ``[1, C, f, h, w]`` -> the VAE's: ``x·std / σ_data + mean``, as its calls de-normalise."""
        if self.tables is None:
            return latents / self.sigma_data
        mean, std = self._at(start, latents)
        return latents * std / self.sigma_data + mean

    def from_vae(self, latents: torch.Tensor, start: int = 0) -> torch.Tensor:
        """The VAE's latents ``[1, C, f, h, w]`` -> normalised: ``(z - mean)·σ_data / std``, as Video2World's call normalises
        its image's."""
        if self.tables is None:
            return latents * self.sigma_data
        mean, std = self._at(start, latents)
        return (latents - mean) * self.sigma_data / std


class StatisticsDecoder:
    """A stream's chunks of normalised latents ``[1, C, f, h, w]`` -> pixels ``[1, 3, T, H, W]`` in [-1, 1]: each latent
    frame de-normalised by its place among the frames handed to it (`FrameStatistics`: a stream's first chunk as its call
    de-normalises a video), then decoded with the last latent frames before it (`OverlapDecoder`: its VAE keeps no cache
    between calls)."""

    def __init__(self, vae, statistics: FrameStatistics):
        self.vae, self.statistics, self.handed = vae, statistics, 0
        self.overlap = OverlapDecoder(self._decode, vae.config.temporal_compression_ratio, DECODE_OVERLAP)

    def _decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents.to(self.vae.device, self.vae.dtype), return_dict=False)[0]

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """The next chunk's normalised latents ``[1, C, f, h, w]`` (the latent frames after those handed before) -> its
        pixels ``[1, 3, T, H, W]`` in [-1, 1]: T = 8·(f - 1) + 1 for a stream's first chunk, 8·f after it (its VAE's 8x
        in time)."""
        raw = self.statistics.to_vae(latents.float(), self.handed)
        self.handed += latents.shape[2]
        return self.overlap.decode(raw)


class DenoisedEuler:
    """A chunk's `EDMEulerScheduler` stepped as its calls step it, on the guided denoised estimate (``step(denoised, t, x)``:
    an Euler step on ``(x - denoised) / σ``), where streams hand a sampler the guided prediction: the family's
    `stream_forward` returns the denoised estimate and scales its own input (so the scheduler's ``scale_model_input`` is
    never called). Everything else is the scheduler's."""

    def __init__(self, scheduler):
        self.scheduler = scheduler
        scheduler.is_scale_input_called = True  # its input is scaled in the family's forward

    def __getattr__(self, name):
        return getattr(self.scheduler, name)

    def step(self, denoised: torch.Tensor, timestep, sample: torch.Tensor, return_dict: bool = False):
        """`sample` ``[B, C, f, h, w]`` at `timestep` stepped to the next σ by the guided `denoised` estimate (its shape):
        the scheduler's output (a tuple, its first the next sample, unless `return_dict`)."""
        return self.scheduler.step(denoised, timestep, sample, return_dict=return_dict, pred_original_sample=denoised)


class CosmosVAEChunks:
    """Chunk decoding and encoding by Cosmos 1.0's VAE (`AutoencoderKLCosmos`) and its per-frame statistics
    (`FrameStatistics`), under `CosmosFamily`'s guardrail."""

    def stream_decoder(self):
        """A new stream's `StatisticsDecoder` (its first chunk de-normalised from latent frame 0)."""
        return StatisticsDecoder(self.vae, FrameStatistics(self.vae, self.scheduler.config.sigma_data))

    def stream_encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixels ``[1, 3, 8k + 1, H, W]`` in [-1, 1] -> normalised latents ``[1, C, k + 1, h, w]``, each latent frame by its
        place in them (its encoder's latent, no distribution to draw from)."""
        vae = self.vae
        check_vae_encodes_here(vae)
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode().float()
        return FrameStatistics(vae, self.scheduler.config.sigma_data).from_vae(latents)


class Cosmos1Family(EDMLatents, CosmosFamily, CosmosVAEChunks):
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

    def stream_scheduler(self, steps: int, window: tuple, generator=None) -> DenoisedEuler:
        """Its call's sampler over `steps` (its scheduler's Karras σ from 80 down), stepped on the denoised estimate."""
        return DenoisedEuler(self.fresh_scheduler(steps))

    def world_forward(self, transformer, inputs: torch.Tensor, timestep: torch.Tensor, text, **condition) -> torch.Tensor:
        """The transformer's output ``[B, C, f, h, w]`` for scaled latents `inputs` ``[B, C, f, h, w]`` at `timestep` ``[B]``
        (its scheduler's ``0.25·log σ``), with the spec's fps, a zero padding mask of the window's pixel size and the
        `condition` (Video2World's mask), in the transformer's dtype, as its calls hand them."""
        dtype, spatial = transformer.dtype, self.vae_scale_factor_spatial
        height, width = inputs.shape[-2:]
        return transformer(hidden_states=inputs.to(dtype), timestep=timestep.to(dtype), fps=self.spec.fps,
                           padding_mask=inputs.new_zeros(1, 1, height * spatial, width * spatial, dtype=dtype),
                           return_dict=False, **text.kwargs, **{name: value.to(dtype) for name, value in condition.items()})[0]


class VidLongCosmosTextToWorldPipeline(Cosmos1Family, VidlongPipelineMixin, CosmosTextToWorldPipeline):
    """diffusers' `CosmosTextToWorldPipeline` (Cosmos-1.0-Diffusion 7B/14B Text2World: a T5 prompt by cross-attention, a
    learnable absolute position embedding beside its RoPE, the Cosmos VAE of 8x time and 8x space) with vidlong's surface.

    It streams and extends with the re-noised context (`vidlong.families.cosmos.CosmosStreamer`): its prompt's T5 states
    (its call's default negative prompt where none is given), each window's latents ``x = x_0 + σ·ε`` scaled by ``c_in``, its
    call's sampler (`DenoisedEuler`), the context brought to each step's σ by EDM's forward process, chunks decoded by
    `StatisticsDecoder` (through the guardrail's video check, as its call checks every video)."""

    def stream_forward(self, transformer, latents, timestep, text, *, sigma):
        """Latents ``x`` ``[B, C, f, h, w]`` at noise level `sigma` -> its denoised estimate ``c_skip·x + c_out·F``
        ``[B, C, f, h, w]`` (float32), ``F`` the transformer's output for ``c_in·x`` (`world_forward`), each factor as its
        scheduler computes it at the float32 σ its call steps at."""
        x, sigma = latents.float(), torch.tensor(sigma, dtype=torch.float32)
        output = self.world_forward(transformer, self.scheduler.precondition_inputs(x, sigma), timestep, text)
        return self.scheduler.precondition_outputs(x, output, sigma)
