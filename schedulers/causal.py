"""The few-step sampler of block-causal streaming models (Self-Forcing, CausVid, LongLive).

A chunk is sampled at a short list of noise levels (e.g. timesteps 1000, 750, 500, 250): at each, the
model's flow prediction ``v = ε - x₀`` gives the clean chunk ``x₀ = x_t - σ·v``; it is re-noised with
fresh noise to the next level, ``x = (1 - σ')·x₀ + σ'·ε'``; the last level's ``x₀`` is the chunk. The
timesteps are warped by the flow-matching shift like the models' training schedule:
``σ = shift·s / (1 + (shift - 1)·s)`` with ``s = t / num_train_timesteps``.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from ..errors import VidlongError
from ..scalars import is_whole

#: the causal sampler's steps when none are given
CAUSAL_STEPS = 4


def even_timesteps(steps: int, num_train_timesteps: int = 1000) -> tuple[int, ...]:
    """`steps` evenly spaced timesteps from the top: 4 -> (1000, 750, 500, 250)."""
    return tuple(round(num_train_timesteps * (1 - i / steps)) for i in range(steps))


def check_timesteps(timesteps: Sequence, num_train_timesteps: int = 1000, field: str = "--timesteps") -> tuple[int, ...]:
    """A strictly decreasing list of whole timesteps in (0, num_train_timesteps] from num_train_timesteps (a chunk starts
    from pure noise), else one line naming it as `field`."""
    values = tuple(timesteps)
    if not values or any(not is_whole(t) or not 0 < t <= num_train_timesteps for t in values) \
            or any(a <= b for a, b in zip(values, values[1:])):
        raise VidlongError(f"{field} must be whole numbers in 1..{num_train_timesteps}, strictly decreasing "
                           f"(e.g. 1000,750,500,250), got {','.join(map(str, values)) or 'none'}")
    if values[0] != num_train_timesteps:
        raise VidlongError(f"{field} must start at {num_train_timesteps}: a chunk starts from pure noise (a redraw's "
                           f"--strength picks the level it starts at), got {','.join(map(str, values))}")
    return tuple(int(t) for t in values)


def causal_levels(streaming, spec) -> tuple[int, ...]:
    """The causal sampler's levels for a `vidlong.Streaming` config at the model's `spec`: the config's, else its steps
    evenly spaced, else the model's (`stream_timesteps`, named so where it is wrong), else `CAUSAL_STEPS` evenly spaced;
    checked."""
    if not (streaming.timesteps or streaming.steps) and spec.stream_timesteps:
        return check_timesteps(spec.stream_timesteps, field="the model's stream_timesteps (its vidlong.yaml)")
    return check_timesteps(streaming.timesteps or (streaming.steps and even_timesteps(streaming.steps))
                           or even_timesteps(CAUSAL_STEPS))


class CausalSampler:
    """Samples one chunk at `timesteps` (warped by `shift`); answers the two calls the streamer makes of
    a diffusers scheduler: ``timesteps`` (the model's timestep inputs, 0..1000 floats) and
    ``step(prediction, timestep, sample)``.

    Args:
        timesteps: the noise levels, e.g. (1000, 750, 500, 250).
        shift: the flow-matching shift of the model's training schedule (1: no warp).
        generator: CPU generator of the re-noising noise.
    """

    def __init__(self, timesteps: Sequence[int], shift: float = 1.0, num_train_timesteps: int = 1000,
                 generator: Optional[torch.Generator] = None, device=None):
        s = torch.tensor(check_timesteps(timesteps, num_train_timesteps), dtype=torch.float64) / num_train_timesteps
        self.sigmas = shift * s / (1 + (shift - 1) * s)
        self.timesteps = (self.sigmas * num_train_timesteps).float().to(device)
        self.generator = generator

    def step(self, model_output: torch.Tensor, timestep, sample: torch.Tensor, return_dict: bool = False) -> tuple:
        """``(next sample,)``: the clean chunk re-noised to the next level, or the clean chunk at the last."""
        i = int(torch.argmin((self.timesteps.cpu() - float(timestep)).abs()))
        sigma = float(self.sigmas[i])
        clean = sample.float() - sigma * model_output.float()
        if i + 1 == len(self.sigmas):
            return (clean,)
        following = float(self.sigmas[i + 1])
        noise = torch.randn(clean.shape, generator=self.generator).to(clean.device)
        return ((1 - following) * clean + following * noise,)
