"""Latte under vidlong (`vidlong.families`): diffusers' `LattePipeline` (Latte-1, text to video).

Its call takes the length as ``video_length`` (vidlong's call takes ``num_frames`` for it too), latents ``[B, C, F, h, w]``
as vidlong's, the prompt as T5 states cut to the prompt's unpadded tokens (its ``mask_feature``; no mask to the transformer),
and a sampler of the DDPM family (its release's `DDIMScheduler`: ``init_noise_sigma``, ``scale_model_input``, ``eta`` and the
call's generator at each step); a transformer of ``2C`` output channels has its learned variance dropped where its sampler
learns none. Its VAE is SD's image `AutoencoderKL` (8x space, no time: latent frames = pixel frames), each frame decoded and
encoded alone.

Its transformer adds a sin-cos temporal table of ``video_length`` rows (16) before its first temporal block, a
non-persistent buffer that fails to broadcast over any other frame count. Past it (and below it) vidlong's calls and streams
evaluate the same sin-cos formula at the forward's positions 0 .. F - 1 (`sincos_positions`): that is vidlong's choice, as
the table has no RoPE to extrapolate or interpolate; the first 16 rows are its own bit for bit, and at 16 frames the stock
table is used as it is. Units: latent frames (= pixel frames)."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from diffusers import LattePipeline

from ..pipeline import DECODE_CHUNK, VidlongPipelineMixin
from .allegro import AllegroStreamer, ChunkSampler
from .common import EmptyNegativePrompt, LengthNamed


def sincos_table(stock: torch.Tensor, frames: int, device=None) -> torch.Tensor:
    """Latte's temporal table ``[1, frames, C]`` for a forward of `frames` latent frames: `stock` (its buffer ``[1, L, C]``)
    where `frames` is L; else diffusers' 1D sin-cos embedding (`get_1d_sincos_pos_embed_from_grid`, as its transformer builds
    the buffer) at positions ``0 .. frames - 1``, in `stock`'s dtype, on `device` (None: `stock`'s; a forward's is its
    latents', which an offloaded buffer's may not be), its first L rows `stock`'s."""
    from diffusers.models.embeddings import get_1d_sincos_pos_embed_from_grid

    if frames == stock.shape[1]:
        return stock
    table = get_1d_sincos_pos_embed_from_grid(stock.shape[2], torch.arange(0, frames).unsqueeze(1), output_type="pt")
    return table.float().unsqueeze(0).to(device=stock.device if device is None else device, dtype=stock.dtype)


@contextmanager
def sincos_positions(transformer):
    """Within it, every forward of a `LatteTransformer3DModel` adds the temporal table of its latents' frame count
    (`sincos_table`, on the latents' device, where group offloading may hold the stock buffer elsewhere: the stock table at
    its own length); after it, on an error too, the stock table is back."""
    stock = transformer.temp_pos_embed

    def placed(module, args, kwargs):
        latents = args[0] if args else kwargs["hidden_states"]  # [B, C, F, h, w]
        module.temp_pos_embed = sincos_table(stock, latents.shape[2], latents.device)

    handle = transformer.register_forward_pre_hook(placed, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()
        transformer.temp_pos_embed = stock


class FrameDecoder:
    """A stream's decoder for an image VAE: each chunk's latent frames ``[1, C, f, h, w]`` decoded each alone by its call's
    `decode_latents` (``DECODE_CHUNK`` frames a batch, where its call batches 14), to pixels ``[1, 3, f, H, W]`` in [-1, 1];
    nothing kept between chunks."""

    def __init__(self, pipe):
        self.pipe = pipe

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        pixels = self.pipe.decode_latents(latents.to(vae.device, vae.dtype), latents.shape[2], DECODE_CHUNK)
        return torch.clamp(pixels, -1.0, 1.0)


class VidLongLattePipeline(LengthNamed, EmptyNegativePrompt, VidlongPipelineMixin, LattePipeline):
    """diffusers' `LattePipeline` (Latte: spatial and temporal blocks alternating, a T5 prompt by the spatial blocks'
    cross-attention, an image VAE) with vidlong's surface; its calls and streams place the temporal table of each forward's
    frame count (the module's docstring).

    It streams and extends with the re-noised context through its DDPM-family sampler (`AllegroStreamer`, `ChunkSampler`:
    the start noise scaled by ``init_noise_sigma``, each window by ``scale_model_input``, the context re-noised by the
    chunk's scheduler's ``add_noise``), its prompt as its call encodes it, chunks decoded frame by frame (`FrameDecoder`: an
    image VAE reads nothing across frames, so a chunk's frames are a whole decode's, but for the batching's last bits)."""

    chunk_streamer = AllegroStreamer
    frames_argument = "video_length"
    videos_per_prompt = False  # its call takes num_images_per_prompt, not num_videos_per_prompt
    converts_latents = False  # its call moves given latents to the device alone, not to the transformer's dtype

    def __call__(self, *args, **kwargs):
        """Its call, the temporal table of its video's length placed (`sincos_positions`)."""
        with sincos_positions(self.transformer):
            return super().__call__(*args, **kwargs)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """T5 states ``[B, T, D]`` cut to the prompt's unpadded T tokens as its call cuts them (``mask_feature``), the negative
        prompt's (the empty prompt where none is given) first when `guided`; the caption cleaned as its call cleans it."""
        from ..streaming import StreamText

        states, negative = self.encode_prompt(prompt, guided, negative_prompt=negative_prompt or "", device=self.device,
                                              clean_caption=True)
        states = torch.cat([negative, states]) if guided else states
        return StreamText(states.shape[0], dict(encoder_hidden_states=states.to(self.transformer.dtype)))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]`` -> its prediction ``[B, C, f, h, w]`` (the window's temporal table placed; the learned
        variance's channels dropped as its call drops them)."""
        with sincos_positions(transformer):
            out = transformer(hidden_states=latents, timestep=timestep, return_dict=False, **text.kwargs, **extra)[0]
        learned = self.scheduler.config.get("variance_type") in ("learned", "learned_range")
        return out if learned else out.chunk(2, dim=1)[0]

    def stream_scheduler(self, steps, window, generator=None):
        return ChunkSampler(self.fresh_scheduler(steps), generator)

    def stream_decoder(self):
        return FrameDecoder(self)

    def stream_encode(self, pixels):
        """Pixels ``[1, 3, T, H, W]`` in [-1, 1] -> scaled latents ``[1, C, T, H / 8, W / 8]``: each frame encoded alone
        (the posterior's mode), times its VAE's ``scaling_factor``."""
        vae = self.vae
        frames = pixels[0].transpose(0, 1).to(vae.device, vae.dtype)  # [T, 3, H, W]
        latents = vae.encode(frames).latent_dist.mode() * vae.config.scaling_factor
        return latents.transpose(0, 1).unsqueeze(0)
