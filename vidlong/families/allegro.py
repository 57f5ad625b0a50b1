"""Allegro under vidlong (`vidlong.families`): diffusers' `AllegroPipeline` (rhymes-ai's Allegro, text to video).

Its call takes latents ``[B, C, F, h, w]`` (as vidlong's), the prompt as T5 states with their padding mask (cross-attention
alone; 512 tokens), the RoPE its pipeline makes for the whole video's grid with every forward, and a sampler of the DDPM
family (its release's `EulerAncestralDiscreteScheduler`: noise of scale ``init_noise_sigma``, each forward's input scaled
by ``scale_model_input``, an ancestral draw from the call's generator at every step). Its VAE (`AutoencoderKLAllegro`,
8x space, 4x time, not causal in time) decodes F latent frames to 4F pixel frames of which its call keeps the first
``num_frames`` (its default 88 = 4·22); vidlong takes the lengths its call makes from their fewest latent frames
(``AllegroAdapter.frame_counts``: 4F, 4F - 2 and 4F - 3 for F latent frames; a length from a ratio is ``4(F - 1) + 1``,
85 for 22) and refuses ``4k + 3`` in one line (its call makes one latent frame more for them); it decodes by tiles
alone (``vae.enable_tiling()``, as diffusers' example calls it, and
`load_pipeline` does): tiles of 6 latent frames (24 pixel frames) overlapping by 2, and of ``sample_size`` pixels square
overlapping by 120 rows and 80 columns, so that diffusers leaves the pixels past the last whole tile at zero (mid grey):
the frames past it where F is not 6 + 4k, the rows and columns past it at a size off its tiles' grid (at the class's
default ``sample_size``, 320: 320 + 200k rows, 320 + 240k columns; 720x1280 is on it). vidlong's call decodes them: the latents
are padded with their last frame, row and column up to whole tiles and the padding's pixels dropped (latents on the grid:
diffusers' decode, bit for bit). Units: latent frames unless pixel frames are said."""
from __future__ import annotations

import torch
from diffusers import AllegroPipeline

from ..errors import VidlongError
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..streaming import VideoStreamer
from ..vae_stream import OverlapDecoder
from .common import DECODE_OVERLAP, EmptyNegativePrompt


def tiles_extent(size: int, kernel: int, stride: int) -> int:
    """The fewest cells ``>= size`` that tiles of `kernel` cells placed every `stride` cover whole (`size` itself where a
    stride of at most 0, a tile overlapping more than its size, lets one tile alone be placed)."""
    if stride <= 0:
        return max(size, kernel)
    return kernel + max(0, -(-(size - kernel) // stride)) * stride


def padded_to_tiles(x: torch.Tensor, vae, per_cell: tuple = (1, 1)) -> torch.Tensor:
    """`x` ``[B, C, T, H, W]`` with its last frame, row and column repeated up to what the Allegro `vae`'s tiles (its
    ``kernel`` and ``stride`` in pixels: 24 frames every 16, ``sample_size`` pixels square every ``sample_size`` - 120
    rows and - 80 columns) cover whole; `per_cell`: pixel frames and pixels per cell of `x` (latents: the VAE's ratios)."""
    import torch.nn.functional as F

    scales = (per_cell[0], per_cell[1], per_cell[1])
    extents = [tiles_extent(size, kernel // scale, stride // scale)
               for size, kernel, stride, scale in zip(x.shape[2:], vae.kernel, vae.stride, scales)]
    pads = [extent - size for extent, size in zip(extents, x.shape[2:])]
    return F.pad(x, (0, pads[2], 0, pads[1], 0, pads[0]), mode="replicate") if any(pads) else x


class ChunkSampler:
    """A chunk's sampler as diffusers' Allegro loop runs it: its scheduler (set to the stream's steps), its extra step
    arguments (``eta`` 0 and the stream's generator, where its ``step`` takes them: the ancestral draws), the start noise
    scaled by its ``init_noise_sigma``, each forward's input by its ``scale_model_input``, and clean latents brought to a
    step's noise level by its own forward process (``add_noise``: ``x_0 + σ_t·ε`` for the Euler samplers, DDPM's
    ``sqrt(ᾱ_t)·x_0 + sqrt(1 - ᾱ_t)·ε`` for DDIM's), in the same sample space as the chunk's latents."""

    def __init__(self, scheduler, generator=None):
        import inspect

        taken = inspect.signature(scheduler.step).parameters
        self.scheduler, self.timesteps = scheduler, scheduler.timesteps
        self.extra = {name: value for name, value in (("eta", 0.0), ("generator", generator)) if name in taken}

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        """Unit Gaussian noise ``[1, C, f, h, w]`` -> the chunk's start latents, scaled by ``init_noise_sigma``."""
        return noise * self.scheduler.init_noise_sigma

    def model_input(self, latents: torch.Tensor, timestep) -> torch.Tensor:
        """A forward's window ``[B, C, f, h, w]`` at `timestep` (the scheduler's, 0-1000) scaled as its loop scales it."""
        return self.scheduler.scale_model_input(latents, timestep)

    def renoise(self, clean: torch.Tensor, noise: torch.Tensor, timestep) -> torch.Tensor:
        """Clean context latents ``[1, C, f, h, w]`` brought to `timestep`'s noise level with `noise` (its ``add_noise``)."""
        return self.scheduler.add_noise(clean, noise, torch.as_tensor(timestep).reshape(1))

    def step(self, pred, timestep, latents, return_dict=False):
        """One step of the chunk's latents ``[1, C, f, h, w]`` from the guided prediction `pred` (same shape): the
        scheduler's tuple, its ancestral noise drawn from the stream's generator."""
        return self.scheduler.step(pred, timestep, latents, return_dict=False, **self.extra)


class AllegroStreamer(VideoStreamer):
    """An Allegro stream: each chunk's `ChunkSampler` starts its noise, scales its forwards' windows (the re-noised context
    and the chunk) and re-noises the context to each step's level, as diffusers' loop treats its latents."""

    sampler: ChunkSampler = None  # the chunk's, while it is denoised

    def _starting_point(self, noise, scheduler):
        self.sampler = scheduler
        return scheduler.start(noise), scheduler.timesteps

    def _predict(self, latents, timestep, text, frames):
        return super()._predict(self.sampler.model_input(latents, timestep), timestep, text, frames)

    def _renoise(self, clean, noise, timestep):
        """Clean latents brought to `timestep`'s noise level by the chunk's sampler."""
        return self.sampler.renoise(clean.float(), noise, timestep)


class VidLongAllegroPipeline(EmptyNegativePrompt, VidlongPipelineMixin, AllegroPipeline):
    """diffusers' `AllegroPipeline` (Allegro: a T5 prompt by cross-attention, its 3D RoPE from the pipeline, a VAE of 4x
    time and 8x space that decodes by tiles) with vidlong's surface. Its call decodes every pixel (the module's docstring).

    It streams and extends with the re-noised context (`AllegroStreamer`): its prompt as T5 states and their mask, its
    RoPE made for each window's grid, its call's sampler (`ChunkSampler`, which re-noises the context in place of
    `stream_renoise`, flow matching's, which its streams do not call), each chunk decoded with the 2 latent frames
    before it (`OverlapDecoder`: its VAE is not causal, so frames near a chunk's start and end differ from a whole-video
    decode), the latents scaled by its VAE's ``scaling_factor``."""

    chunk_streamer = AllegroStreamer
    videos_per_prompt = False  # its call sets num_videos_per_prompt to 1
    converts_latents = False  # its call moves given latents to the device alone, not to the transformer's dtype
    tiled_vae = True  # its VAE decodes and encodes by tiles alone

    def check_parts(self) -> None:
        """Its parts' refusals (`VidlongPipelineMixin.check_parts`), and a VAE left untiled (a pipeline built without
        ``vae.enable_tiling()``, which `load_pipeline` calls): it decodes and encodes by tiles alone, and diffusers' call
        would fail on it after the last step."""
        super().check_parts()
        if getattr(self, "vae", None) is not None and not self.vae.use_tiling:
            raise VidlongError("Allegro's VAE decodes and encodes by tiles alone: call pipe.vae.enable_tiling() first, as "
                               "diffusers' example does (vidlong.load_pipeline does it)")

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Scaled latents ``[B, C, F, h, w]`` -> pixels ``[B, 3, 4F, 8h, 8w]``: diffusers' decode of the latents padded to
        whole tiles (`padded_to_tiles`), the padding's frames, rows and columns dropped."""
        frames, height, width = latents.shape[2:]
        temporal, spatial = self.vae_scale_factor_temporal, self.vae_scale_factor_spatial
        decoded = super().decode_latents(padded_to_tiles(latents, self.vae, (temporal, spatial)))
        return decoded[:, :, :temporal * frames, :spatial * height, :spatial * width]

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """T5 states ``[B, 1, 512, D]`` and mask ``[B, 512]``, negative first when `guided` (the empty prompt where none is
        given), cleaned as its call cleans a caption by default."""
        from ..streaming import StreamText

        states, mask, negative, negative_mask = self.encode_prompt(prompt, guided, negative_prompt=negative_prompt or "",
                                                                   device=self.device, clean_caption=True)
        if guided:
            states, mask = torch.cat([negative, states]), torch.cat([negative_mask, mask])
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.unsqueeze(1).to(self.transformer.dtype),
                                                encoder_attention_mask=mask))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]`` -> its prediction, with the RoPE its call makes for a video of the window's grid."""
        frames, height, width = latents.shape[2:]
        spatial = self.vae_scale_factor_spatial
        rotary = self._prepare_rotary_positional_embeddings(latents.shape[0], height * spatial, width * spatial, frames,
                                                            latents.device)
        return transformer(hidden_states=latents, timestep=timestep, image_rotary_emb=rotary, return_dict=False,
                           **text.kwargs, **extra)[0]

    def stream_scheduler(self, steps, window, generator=None):
        return ChunkSampler(self.fresh_scheduler(steps), generator)


    def stream_decoder(self):
        return OverlapDecoder(self._decode_chunk, self.vae_scale_factor_temporal, DECODE_OVERLAP)

    def _decode_chunk(self, latents):
        """Scaled latents ``[1, C, f, h, w]`` -> pixels ``[1, 3, 4(f - 1) + 1, H, W]``, as its call keeps them."""
        latents = latents.to(self.vae.device, self.vae.dtype)
        return self.decode_latents(latents)[:, :, :pixel_frames(latents.shape[2], self.vae_scale_factor_temporal)]

    def stream_encode(self, pixels):
        """Pixels ``[1, 3, 4k + 1, H, W]`` in [-1, 1] -> scaled latents ``[1, C, k + 1, H / 8, W / 8]`` (the posterior's
        mode): the last frame, row and column repeated up to whole tiles (the 4(k + 1) frames its VAE encodes into k + 1
        latent frames at least), the latents of the padding dropped."""
        vae, temporal, spatial = self.vae, self.vae_scale_factor_temporal, self.vae_scale_factor_spatial
        frames, height, width = -(-pixels.shape[2] // temporal), pixels.shape[3] // spatial, pixels.shape[4] // spatial
        pixels = padded_to_tiles(pixels.to(vae.device, vae.dtype), vae)
        latents = vae.encode(pixels).latent_dist.mode()[:, :, :frames, :height, :width]
        return latents * vae.config.scaling_factor
