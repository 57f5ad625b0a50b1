"""NVIDIA Cosmos under vidlong (`vidlong.families`): what its pipelines share (`CosmosFamily`: NVIDIA's guardrail on a
stream's prompt and on every decoded video, the stream `CosmosStreamer` over its sampler's noise levels) and diffusers'
`Cosmos2_5_PredictBasePipeline` (Cosmos-Predict2.5, from text; its image and video conditions are `cosmos_world`'s);
Cosmos-Predict2's Video2World is `cosmos_video2world`."""
from __future__ import annotations

from contextlib import ExitStack

import numpy as np
import torch
from diffusers import Cosmos2_5_PredictBasePipeline
from diffusers.pipelines.cosmos import pipeline_cosmos2_5_predict

from ..errors import VidlongError
from ..image_condition import ImageCondition
from ..pipeline import VidlongPipelineMixin
from ..streaming import VideoStreamer
from .common import replaced


def refusing_unsafe(check_text_safety):
    """The guardrail's text check `check_text_safety` (a prompt -> whether it passes), refusing in one line a prompt it finds
    unsafe, where its call would raise a ValueError of its own."""
    def checked(prompt):
        if not check_text_safety(prompt):
            raise VidlongError("Cosmos Guardrail found the prompt unsafe; it must abide by the NVIDIA Open Model License "
                               "Agreement: change --prompt")
        return True
    return checked


def refusing_blocked(check_video_safety):
    """The guardrail's video check `check_video_safety` (uint8 frames ``[T, H, W, 3]`` -> the frames it passes, faces
    blurred), refusing in one line a video it blocks: NVIDIA's answers it with None, which its call would hand on."""
    def checked(frames):
        passed = check_video_safety(frames)
        if passed is None:
            raise VidlongError("Cosmos Guardrail blocked the video as unsafe (NVIDIA Open Model License Agreement); change "
                               "--prompt or --seed")
        return passed
    return checked


class GuardedDecoder:
    """A chunk decoder whose frames pass the pipeline's guardrail as its call's do: ``decode(latents)`` -> the wrapped
    `decoder`'s pixels ``[1, 3, T, H, W]`` in [-1, 1], brought to [0, 1] in their dtype and cut (not rounded) to uint8 as its
    call's post-processing does, then checked by ``check_video_safety`` (a video it blocks refused in one line:
    `refusing_blocked`)."""

    def __init__(self, decoder, checker):
        self.decoder, self.check = decoder, refusing_blocked(checker.check_video_safety)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        pixels = self.decoder.decode(latents)
        frames = ((pixels[0] * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 3, 0).float() * 255).to(torch.uint8)
        checked = np.asarray(self.check(frames.cpu().numpy()))
        return (torch.from_numpy(checked).float() / 255 * 2 - 1).permute(3, 0, 1, 2)[None].to(pixels)


class CosmosStreamer(VideoStreamer):
    """A Cosmos stream: each forward of a chunk's window takes the noise level (σ) of the step's timestep from the chunk's
    sampler (the pipeline's `stream_forward` makes its call's timestep input of it), a chunk starts and the re-noised
    context is brought to σ by the pipeline's forward process (`sigma_start`, `sigma_renoise`), the clean context
    (Cosmos-Predict2.5's) goes to its forward as its ``condition_latent`` (kept clean under its condition mask), and
    guidance is its calls' ``cond + g·(cond - uncond)``."""

    sampler = None  # the chunk's scheduler, while it is denoised

    def _starting_point(self, noise, scheduler):
        self.sampler = scheduler
        return self.pipe.sigma_start(noise, scheduler), scheduler.timesteps

    def _sigma(self, timestep) -> float:
        """σ of `timestep` in the chunk's sampler (its timesteps are σ·1000)."""
        index = int((self.sampler.timesteps == torch.as_tensor(timestep)).nonzero()[0, 0])
        return float(self.sampler.sigmas[index])

    def _step_arguments(self, timestep) -> dict:
        clean = {} if self.clean_context is None else dict(condition_latent=self.clean_context)
        return dict(sigma=self._sigma(timestep), **clean)

    def _renoise(self, clean, noise, timestep):
        return self.pipe.sigma_renoise(clean, noise, self._sigma(timestep))

    def _guided(self, uncond, cond, guidance):
        return cond + guidance * (cond - uncond)

    def _image_condition(self, image, latent=None):
        """The image condition of an image-to-world stream's windows: where the image is encoded (a new stream), its latent
        drawn as its call draws it, the seed's first draw, over the first chunk's latent frames (its call samples the image's
        latent over the whole video's before its noise, and `draws_before_noise` draws that size before a chunk's noise); an
        extension's: its context's first latent frame `latent` ``[1, C, 1, h, w]``."""
        generator = None if latent is not None else torch.Generator().manual_seed(self.seed)
        return self.pipe.image_condition(image, self.height, self.width, self._chunk_frames(0), generator, latent=latent)


class ConditioningFrame(ImageCondition):
    """The image's latent ``[1, C, 1, h, w]`` as each window's first latent frame, kept clean by the pipeline's
    `stream_forward` as its call keeps its conditioning frames (``condition_latent``: Predict2 Video2World's, Predict2.5
    Image2World's): the window's latents are handed on as they are (the forward puts the image there), no per-token
    timesteps, a window that starts the video left as its loop leaves it."""

    def __init__(self, latent: torch.Tensor):
        self.latent = latent

    def hidden_states(self, latents: torch.Tensor, frames=None) -> torch.Tensor:
        return latents

    def timestep_mask(self, frames: int, patch) -> None:
        return None

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        return latents

    def extra(self, batch: int) -> dict:
        return dict(condition_latent=self.latent)


#: its call's default ``conditional_frame_timestep`` (Predict2.5's): the timestep its transformer is told its clean
#: conditioning frames are at
CONDITIONAL_FRAME_TIMESTEP = 0.0001


class FlowSigmas:
    """A Cosmos pipeline whose sampler steps flow matching's latents (Predict2.5's, Cosmos 3's): `CosmosStreamer`'s start and
    forward process at a noise level σ."""

    def sigma_start(self, noise: torch.Tensor, scheduler) -> torch.Tensor:
        """A chunk's latents ``[1, C, f, h, w]`` before its first step from standard normal `noise`: flow matching's, the
        noise itself (σ = 1)."""
        return noise

    def sigma_renoise(self, clean: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        """Clean latents ``[1, C, f, h, w]`` at noise level `sigma`: flow matching's ``(1 - σ)·x_0 + σ·ε``."""
        return (1 - sigma) * clean.float() + sigma * noise


class GuardrailChecks:
    """A Cosmos pipeline whose call checks its prompt and the video it decodes by its safety checker (Predict2.5's and the
    others' of `CosmosFamily`, Cosmos 3's). Each has ``guards_video()``: whether its call runs the checker's video check on
    every video it decodes; `generate` then decodes through its call, a stream's chunks through `GuardedDecoder`."""

    def __call__(self, *args, **kwargs):
        """Its own call, a prompt its safety checker finds unsafe refused in one line (`refusing_unsafe`) where its call
        raises a ValueError, and a video it blocks (`refusing_blocked`) where its post-processing would fail on the checker's
        None."""
        checker = self.safety_checker
        if checker is None:  # its call refuses it
            return super().__call__(*args, **kwargs)
        with ExitStack() as checks:
            checks.enter_context(replaced(checker, "check_text_safety", refusing_unsafe(checker.check_text_safety)))
            if self.guards_video():
                checks.enter_context(replaced(checker, "check_video_safety", refusing_blocked(checker.check_video_safety)))
            return super().__call__(*args, **kwargs)

    def decodes_in_chunks(self) -> bool:
        return not self.guards_video() and super().decodes_in_chunks()

    def stream_decoder(self):
        decoder = super().stream_decoder()
        return GuardedDecoder(decoder, self.safety_checker) if self.guards_video() else decoder


class CosmosFamily(GuardrailChecks, FlowSigmas):
    """What vidlong's Cosmos pipelines share: its guardrail's checks (`GuardrailChecks`), `sigma_start` and `sigma_renoise`
    (its sampler's start and forward process at a noise level σ) and its own `stream_forward`. Its calls hold their latents
    in float32 whatever the transformer's dtype, refuse a prompt NVIDIA's guardrail finds unsafe, and guide by
    ``cond + g·(cond - uncond)`` (`CosmosStreamer`)."""

    chunk_streamer = CosmosStreamer

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[B, C, F, h, w]`` in float32, as its call holds its latents whatever the transformer's dtype."""
        return latents.float()

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Its text encoder's states ``[B, 512, D]`` (as its call encodes the prompt; its default negative prompt where none
        is given), negative first when `guided`; a prompt the guardrail finds unsafe, or no safety checker (None), is refused
        in one line, as its call refuses them."""
        from ..streaming import StreamText

        if self.safety_checker is None:
            raise VidlongError("this Cosmos pipeline's safety checker is off (safety_checker=None), which its call refuses too "
                               "(NVIDIA Open Model License Agreement): keep NVIDIA's guardrail (pip install cosmos_guardrail)")
        refusing_unsafe(self.safety_checker.check_text_safety)(prompt)
        states, negative = self.encode_prompt(prompt, negative_prompt, do_classifier_free_guidance=guided, device=self.device)
        states = torch.cat([negative, states]) if guided else states
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype)))


class EDMLatents:
    """A Cosmos pipeline whose call holds EDM's latents (Predict2 Video2World's, 1.0's): ``x = x_0 + σ·ε`` from σ_max
    down, handed to its stream's forwards in float32 (`stream_float_latents`: σ up to 80, where bfloat16 rounding would be
    off by more than the denoised estimate's scale)."""

    stream_float_latents = True

    def sigma_start(self, noise: torch.Tensor, scheduler) -> torch.Tensor:
        """EDM's start ``σ_max·ε`` (its config's ``sigma_max``, 80), as its call scales its noise."""
        return noise * scheduler.config.sigma_max

    def sigma_renoise(self, clean: torch.Tensor, noise: torch.Tensor, sigma: float) -> torch.Tensor:
        """EDM's forward process ``x_0 + σ·ε``, its latents' scale."""
        return clean.float() + sigma * noise


class VidLongCosmos2_5_PredictBasePipeline(CosmosFamily, VidlongPipelineMixin, Cosmos2_5_PredictBasePipeline):
    """diffusers' `Cosmos2_5_PredictBasePipeline` (Cosmos-Predict2.5: a Qwen2.5-VL prompt, every layer's states joined, by
    cross-attention; Wan2.1's VAE of 4x time and 8x space; its transformer's input the latents, a condition-mask channel
    and, inside its forward, a padding-mask channel) with vidlong's surface, from text (its ``image=`` and ``video=``
    conditions: vidlong's twins of it, `vidlong.families.cosmos_world`). `generate` decodes through Wan's streaming decoder,
    as for Wan, unless its safety checker is NVIDIA's guardrail, whose video check its own call runs (`guards_video`).

    It streams and extends with the clean context by default (`CosmosStreamer`, `vidlong.Streaming.context` "clean"): each
    window's context latents (sinks, then window) clean under a condition mask of 1 at ``conditional_frame_timestep``, the
    chunk's frames at the step's σ, as its Video2World call conditions a video it continues; or with the re-noised
    context ("renoise": every frame of a window at σ under an all-zero mask, as its text-to-world call gives them). Either
    way: its prompt's states (its call's default negative prompt where none is given; the guardrail's text check as its
    call runs it), its call's sampler (UniPC over flow σ), chunks decoded and encoded by Wan's VAE (the mixin's; through the
    guardrail's video check where it is the pipeline's)."""

    def guards_video(self) -> bool:
        """Whether its safety checker is NVIDIA's guardrail (cosmos_guardrail's `CosmosSafetyChecker`), whose video check
        its call runs on every decoded video (on the frames as uint8 ``[T, H, W, 3]``); it runs no other checker's."""
        return isinstance(self.safety_checker, pipeline_cosmos2_5_predict.CosmosSafetyChecker)

    def stream_forward(self, transformer, latents, timestep, text, *, sigma, condition_latent=None, **extra):
        """Latents ``[B, C, f, h, w]`` at noise level `sigma` -> its velocity ``[B, C, f, h, w]`` as its call makes it, with a
        zero padding mask of the window's pixel size (`timestep`, the sampler's whole-number σ·1000, is not its input).
        Given `condition_latent` ``[1, C, n, h, w]`` (an image's latent, a clean context's), the window's first n frames are
        those clean latents under a condition mask of 1, at timestep ``conditional_frame_timestep``, their velocity the
        flow's from them, ``(x - x_cond) / σ`` (its call's ``noise - x_cond``, along which its sampler keeps them), the
        others' the transformer's at σ, as its Image2World and Video2World calls condition; without one, an all-zero mask
        and σ for every frame ``[B, 1, f, 1, 1]``, as its text-to-world call."""
        batch, _, frames, height, width = latents.shape
        dtype, spatial = transformer.dtype, self.vae_scale_factor_spatial
        kept = 0 if condition_latent is None else condition_latent.shape[2]
        x = latents.float()
        clean = x[:, :, :kept] if condition_latent is None else \
            condition_latent.to(latents.device, torch.float32).expand(batch, -1, -1, -1, -1)
        conditioned = x.new_zeros(batch, 1, frames, 1, 1)
        conditioned[:, :, :kept] = 1
        velocity = transformer(hidden_states=torch.cat([clean, x[:, :, kept:]], dim=2).to(dtype),
                               condition_mask=conditioned.expand(-1, -1, -1, height, width).to(dtype),
                               timestep=conditioned * CONDITIONAL_FRAME_TIMESTEP + (1 - conditioned) * sigma,
                               padding_mask=latents.new_zeros(1, 1, height * spatial, width * spatial, dtype=dtype),
                               return_dict=False, **text.kwargs, **extra)[0]
        if not kept:
            return velocity
        return torch.cat([(x[:, :, :kept] - clean) / sigma, velocity[:, :, kept:].float()], dim=2)
