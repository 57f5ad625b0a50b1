"""Helios under vidlong (`vidlong.families`): diffusers' `HeliosPipeline` (Helios-Base: Wan's backbone, UMT5 text, Wan's VAE
of 4x time and 8x space, made autoregressive).

Its call makes the video in chunks of ``num_latent_frames_per_chunk`` latent frames (``c``), as many as ``num_frames``
pixel frames need at ``4·(c - 1) + 1`` pixel frames a chunk (``ceil(num_frames / (4·(c - 1) + 1))``, at least one). Each
chunk starts from its own noise, drawn from its generator when the chunk starts (diffusers' call takes no start latents),
and each forward sees the chunk after its history: the latest ``sum(history_sizes)`` latent frames it made (zeros before
there are that many), split into long, mid and short parts that its transformer compresses 4x, 2x and 1x, the short part
after the video's first latent frame (its prefix). Each chunk is decoded on its own, and the video's frames are the
chunks' one after another, cut to ``4k + 1``. Its call keeps every latent frame and every decoded frame until its end.

vidlong's surface: the model's native window is one chunk (`configs/models/helios.yaml`: ``native_frames`` is its call's
chunk, and ``stream_chunk`` a stream's by default); vidlong's lengths are whole chunks
(`vidlong.validate.whole_chunk_latent_frames`); its call's ``latents=`` are the chunks' noise one after another
(`VidLongHeliosPipeline`); its streams (`HeliosStreamer`) make its call's chunks keeping only the history the next chunk
reads, so memory and time per chunk stay flat. Units: latent frames unless pixel frames are said.
"""
from __future__ import annotations

import contextlib
import copy
import inspect

import numpy as np
import torch
from diffusers import HeliosPipeline
from diffusers.pipelines.helios.pipeline_helios import calculate_shift

from ..pipeline import VidlongPipelineMixin, diffusers_class
from ..progress import stream_steps
from ..streaming import SeamBlend, VideoStreamer, replay, rolled_in
from ..vae_stream import LatentScaling
from ..validate import whole_chunk_pixel_frames
from ..video_io import rounded_uint8

#: diffusers' call's signature, and the defaults its streams take: its history, and the noise its video-to-video path gives
#: a continued video
CALL_SIGNATURE = inspect.signature(HeliosPipeline.__call__)
CALL_DEFAULTS = {name: p.default for name, p in CALL_SIGNATURE.parameters.items()}


@contextlib.contextmanager
def no_chunk_decode(vae):
    """Inside, `vae`'s ``decode`` of latents ``[B, C, f, h, w]`` returns an empty video ``[B, 0, f, h, w]`` at once: its
    call's per-chunk decode, whose frames a call asked for latents drops, costs nothing (the chunks' frames, joined on
    their frame axis, stay empty)."""
    vae.decode = lambda latents, return_dict=False: (latents[:, :0],)
    try:
        yield
    finally:
        del vae.decode  # its class's again


class ChunkDecoder:
    """Decodes each chunk ``[1, C, c, h, w]`` on its own, as its call does (``[1, 3, 4·(c - 1) + 1, H, W]`` in [-1, 1]):
    nothing is carried from one chunk to the next."""

    def __init__(self, pipe):
        self.vae, self.scaling = pipe.vae, LatentScaling(pipe.vae, pipe.vae.device)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(self.scaling.to_vae(latents.to(self.vae.device)), return_dict=False)[0]


def encode_clip(pipe, pixels: torch.Tensor) -> torch.Tensor:
    """Pixel frames ``[1, 3, T, H, W]`` in [-1, 1] encoded as one clip (the posterior's mode), normalised as its call
    normalises: ``[1, C, (T - 1) / 4 + 1, h, w]`` float32."""
    vae = pipe.vae
    z = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
    return LatentScaling(vae, vae.device).from_vae(z).float()


def shift_mu(pipe, grid) -> float:
    """Its scheduler's shift for a chunk of latent grid ``(f, h, w)`` (its tokens under the transformer's patch), as its
    call computes it."""
    config, patch = pipe.scheduler.config, pipe.transformer.config.patch_size
    tokens = grid[0] * grid[1] * grid[2] // (patch[0] * patch[1] * patch[2])
    return calculate_shift(tokens, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                           config.get("base_shift", 0.5), config.get("max_shift", 1.15))


def noised(latents: torch.Tensor, sigma: torch.Tensor, generator) -> torch.Tensor:
    """``sigma·ε + (1 - sigma)·latents`` with ε drawn from `generator`, as its call noises a given video's latents."""
    noise = torch.randn(latents.shape, generator=generator).to(latents.device)
    return sigma.to(latents.device) * noise + (1 - sigma.to(latents.device)) * latents


def noise_level(count: int, generator, low: float, high: float) -> torch.Tensor:
    """`count` noise levels drawn uniformly in [low, high) from `generator`, as its call draws them."""
    return torch.rand(count, generator=generator) * (high - low) + low


class HeliosStreamer(VideoStreamer):
    """A Helios stream: its call's chunks, one after another, each of ``chunk`` latent frames (the stream's ``--chunk``, its
    call's ``num_latent_frames_per_chunk``), each forward reading the history its call's forward at that chunk reads: the
    latest ``sum(history_sizes)`` latent frames (its call's defaults, 16 + 2 + 1) in one buffer of that size, rolled after
    every chunk, and the video's first latent frame as its prefix. Nothing else is kept, so memory and time per chunk are
    flat however long the stream runs (`footprints` records, per chunk, the latent frames and numbers held). From the same
    seed its chunks are its call's chunks bit for bit, all of them: its call's forwards never read further back either.
    Each chunk is decoded on its own, as its call decodes it (its call also cuts the whole video's end to ``4k + 1``
    frames, which an endless stream does not). An extension continues a video through its call's video-to-video history
    path: the input's last whole chunks that hold the history (`vidlong.extend.encoded_frames`, encoded as its call
    encodes a given video, `VidLongHeliosPipeline.stream_encode`) fill the history and the input's first frame, encoded
    alone, is the prefix; both noised as its call noises them."""

    def __init__(self, pipe, prompt, streaming=None, **kwargs):
        from ..methods import model_streaming

        super().__init__(pipe, prompt, streaming or model_streaming(pipe.spec), **kwargs)
        self.first_chunk = self.schedule.chunk  # every chunk is its call's chunk
        self.sizes = sorted(CALL_DEFAULTS["history_sizes"], reverse=True)
        self.history = None  # [1, C, sum(sizes), h, w] float32 on the device: its call's history_latents[-sum(sizes):]
        self.first = None  # [1, C, 1, h, w]: its call's image_latents, the video's first latent frame
        self.footprints: list[tuple] = []  # per chunk: (history latent frames, numbers held in history and prefix)

    def settings(self) -> dict:
        return dict(super().settings(), sampler="scheduler", context="history", history_sizes=self.sizes, sinks=None,
                    window=None)

    def _attach(self, transformer, context) -> None:
        """None: its forwards read their history as inputs; no cache."""

    def _grid(self) -> tuple:
        spatial = self.pipe.geometry().spatial
        return self.height // spatial, self.width // spatial

    def _history(self) -> torch.Tensor:
        if self.history is None:
            self.history = torch.zeros(1, self.pipe.latent_channels, sum(self.sizes), *self._grid(), device=self.pipe.device)
        return self.history

    def _history_inputs(self, frames: int) -> dict:
        """Its transformer's history arguments for a chunk of `frames` latent frames, as its call builds them."""
        dtype = self.pipe.transformer.dtype
        long, mid, one = self._history().split(self.sizes, dim=2)
        first = self.first if self.first is not None else torch.zeros_like(one[:, :, :1])
        places = torch.arange(0, 1 + sum(self.sizes) + frames).split([1, *self.sizes, frames])
        return dict(indices_hidden_states=places[4].unsqueeze(0),
                    indices_latents_history_short=torch.cat([places[0], places[3]]).unsqueeze(0),
                    indices_latents_history_mid=places[2].unsqueeze(0), indices_latents_history_long=places[1].unsqueeze(0),
                    latents_history_short=torch.cat([first, one], dim=2).to(dtype), latents_history_mid=mid.to(dtype),
                    latents_history_long=long.to(dtype))

    def _scheduler(self, frames: int):
        """A copy of its scheduler set as its call sets it for a chunk of `frames` latent frames."""
        pipe = self.pipe
        scheduler = copy.deepcopy(pipe.scheduler)
        scheduler.set_timesteps(self.steps, device=pipe.device, sigmas=np.linspace(0.999, 0.0, self.steps + 1)[:-1],
                                mu=shift_mu(pipe, (frames, *self._grid())))
        return scheduler

    def _denoise(self, text, frames: int) -> torch.Tensor:
        """A new chunk ``[1, C, f, h, w]`` float32 as its call makes one: its noise (and the further draws its call makes
        during a chunk, `chunk_draws`) drawn from the stream's generator when it starts, then denoised reading the history
        (`_chunk_loop`); the first chunk's first latent frame becomes the prefix."""
        pipe = self.pipe
        latents, draws = pipe.chunk_draws((1, pipe.latent_channels, frames, *self._grid()), self.generator)
        history = self._history_inputs(frames)
        self.footprints.append((self.history.shape[2], self.history.numel() + (0 if self.first is None else self.first.numel())))
        latents = self._chunk_loop(latents.to(pipe.device), draws, text, history)
        if self.first is None:
            self.first = latents[:, :, :1]
        return latents

    def _chunk_loop(self, latents: torch.Tensor, draws, text, history: dict) -> torch.Tensor:
        """Noise ``[1, C, f, h, w]`` -> the chunk, through its scheduler's steps (Helios-Base's call; `draws`: none)."""
        scheduler = self._scheduler(latents.shape[2])
        steps = stream_steps(self, len(scheduler.timesteps))
        steps.start()
        for t in scheduler.timesteps:
            pred, uncond = self._predictions(latents, t.expand(1), text, history)
            if uncond is not None:
                pred = self._guided(uncond, pred, self.guidances[0])
            latents = scheduler.step(pred, t, latents, return_dict=False)[0]
            steps.step()
        return latents

    def _predictions(self, latents: torch.Tensor, timestep: torch.Tensor, text, history: dict) -> tuple:
        """Its transformer's predictions for `latents` ``[1, C, f, h', w']`` at `timestep` ``[1]``, each forward reading the
        history: the prompt's, and the negative prompt's (forwarded apart, as its call does) with guidance, else None."""
        transformer = self.pipe.transformer
        states = text.kwargs["encoder_hidden_states"]
        negative, positive = states.chunk(2) if self.cfg else (None, states)
        inputs = dict(hidden_states=latents.to(transformer.dtype), timestep=timestep, return_dict=False, **history)
        pred = transformer(encoder_hidden_states=positive, **inputs)[0]
        return pred, transformer(encoder_hidden_states=negative, **inputs)[0] if self.cfg else None

    def _write(self, latents, text, frames) -> None:
        """None: no cache; the next chunk reads the history latents."""

    def _recache(self, text) -> None:
        """None: no cache; each chunk's forwards read the history under its own prompt."""

    def _remember(self, latents: torch.Tensor) -> None:
        """Clean latents ``[1, C, f, h, w]`` into the history, its oldest frames out (its size stays ``sum(history_sizes)``)."""
        self.history = rolled_in(self._history(), latents)

    def _context_latents(self) -> list:
        return [self._history()]

    def _start_from_prefix(self, decoder) -> np.ndarray:
        """The input's last latent frames into the history and its first frame (encoded alone; of saved latents, their
        first frame) as the prefix, each noised as its call's video-to-video path noises them (levels drawn in
        [image_noise_sigma_min, image_noise_sigma_max) for the first frame, per frame in the video's range for the rest,
        whole chunks of the native window at a time, those that hold the history, as they were encoded: `stream_encode`);
        the input's latents replayed through the chunk decoder, a native chunk at a time as they decode (given the input's
        frames, its last chunk alone: the seam's last frame). Returns the input frames."""
        prefix, generator = self.prefix, self.generator
        frames = prefix.frames
        if frames is None:
            first = prefix.latents[:, :, :1].float()
        else:
            first = encode_clip(self.pipe, torch.from_numpy(np.asarray(frames[0])).permute(2, 0, 1)[None, :, None] / 127.5 - 1)
        level = noise_level(1, generator, CALL_DEFAULTS["image_noise_sigma_min"], CALL_DEFAULTS["image_noise_sigma_max"])
        self.first = noised(first.to(self.pipe.device), level, generator)
        chunk = self.pipe.native_frames
        tail = prefix.cache_latents(-(-sum(self.sizes) // chunk) * chunk).float()
        low, high = CALL_DEFAULTS["video_noise_sigma_min"], CALL_DEFAULTS["video_noise_sigma_max"]
        for start in range(0, tail.shape[2], chunk):
            piece = tail[:, :, start:start + chunk]
            self._remember(noised(piece, noise_level(piece.shape[2], generator, low, high).view(1, 1, -1, 1, 1), generator))
        shown = prefix.history if frames is None else prefix.history[:, :, -chunk:]  # the seam's last frame: its chunk alone
        decoded = replay(decoder, shown, chunk, keep=frames is None)
        frames = frames if frames is not None else decoded
        self.seam = SeamBlend(frames[-1], decoded[-1], self.streaming.seam_frames)
        return frames


class HeliosFamily:
    """What vidlong's Helios pipelines share, before `VidlongPipelineMixin` (`VidLongHeliosPipeline`, and
    `vidlong.families.helios_pyramid.VidLongHeliosPyramidPipeline`, whose chunks differ only in how each is denoised): its
    call's chunk is the model's native window (``num_latent_frames_per_chunk`` where none is given), its ``latents=`` the
    chunks' noise, `generate` decodes each chunk once, as its call does, its lengths are whole chunks, and it streams and
    extends keeping only its call's history (`chunk_streamer`, a `HeliosStreamer`). vidlong's methods do not act on it (its
    adapter's refusal)."""

    #: its streams' class (a fifo queue aside)
    chunk_streamer = HeliosStreamer

    _chunk_noise = None  # the noise of the call's chunks not started yet ``[B, C, F, h, w]``, while a call runs

    def __call__(self, *args, **kwargs):
        """Its call; given ``latents=`` ``[B, C, k·c, h, w]`` (c: its chunk), chunk ``i`` starts from their latent frames
        ``i·c`` to ``(i + 1)·c`` instead of noise drawn from its generator (diffusers' call would ignore them). Asked for
        latents (``output_type="latent"``: `generate`, which decodes them once, `decode_uint8`), its call decodes no chunk
        (diffusers' decodes each chunk whatever its output type, then drops the frames)."""
        self._chunk_noise = kwargs.get("latents")
        call = inspect.signature(diffusers_class(self).__call__)
        latent = call.bind_partial(self, *args, **kwargs).arguments.get("output_type") == "latent"
        try:
            with no_chunk_decode(self.vae) if latent else contextlib.nullcontext():
                return super().__call__(*args, **kwargs)
        finally:
            self._chunk_noise = None

    def prepare_latents(self, batch_size, num_channels_latents=16, height=384, width=640, num_frames=33, dtype=None,
                        device=None, generator=None, latents=None):
        """A chunk's start: the next chunk of the call's given ``latents=``, else diffusers' draw (drawn and dropped given
        them where its call draws further during a chunk, `call_redraws_from`, so those draws are its call's)."""
        if self._chunk_noise is None or self.call_redraws_from is not None:
            drawn = super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device,
                                            generator, latents)
            if self._chunk_noise is None:
                return drawn
        frames = (num_frames - 1) // self.vae_scale_factor_temporal + 1
        start, self._chunk_noise = self._chunk_noise[:, :, :frames], self._chunk_noise[:, :, frames:]
        return start.to(device=device, dtype=dtype)

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Plain noise is drawn chunk after chunk (of the native window), as its call draws its chunks' noise, so that
        `generate`'s latents are what its call would draw from the same generator."""
        if kind != "plain":
            return super().start_noise(kind, shape, native_frames, generator)
        frames, chunk = shape[2], self.native_frames
        return torch.cat([self.chunk_draws((*shape[:2], min(chunk, frames - start), *shape[3:]), generator)[0]
                          for start in range(0, frames, chunk)], dim=2)

    def chunk_draws(self, shape, generator=None) -> tuple:
        """What its call draws for a chunk of `shape` ``[1, C, f, h, w]``, in its order: the chunk's noise, and the noise
        it draws during the chunk (none: Helios-Base's steps draw nothing)."""
        return super().start_noise("plain", shape, self.native_frames, generator), ()

    def complete_call(self, arguments: dict) -> None:
        """Its chunk, the model's native window, where none is given."""
        arguments["num_latent_frames_per_chunk"] = self._chunk(arguments)

    def _chunk(self, arguments: dict) -> int:
        """The latent frames of its call's chunk: its ``num_latent_frames_per_chunk``, else the native window."""
        chunk = arguments.get("num_latent_frames_per_chunk")
        return self.native_frames if chunk is None else chunk

    def _chunk_pixel_frames(self, arguments: dict) -> int:
        return self.spec.temporal_ratio * (self._chunk(arguments) - 1) + 1

    def steps_reported(self, steps: int, latent_frames: int, methods: tuple = ()) -> int:
        """Each chunk's steps, chunk after chunk (`chunk_steps`)."""
        return latent_frames // self.native_frames * self.chunk_steps(steps)

    def chunk_steps(self, steps: int) -> int:
        """The steps its call reports a chunk: `steps`."""
        return steps

    def forward_frames(self, arguments: dict) -> int:
        """One forward spans one chunk (its history's latents aside)."""
        return self._chunk_pixel_frames(arguments)

    def latents_frames(self, arguments: dict):
        """Its chunks' latent frames: ``ceil(num_frames / chunk's pixel frames)`` chunks of ``c``."""
        if arguments.get("num_frames") is None:
            return None
        window = self._chunk_pixel_frames(arguments)
        return max(1, -(-int(arguments["num_frames"]) // window)) * self._chunk(arguments)

    def call_num_frames(self, request, made: int) -> int:
        """The ``num_frames`` that makes its call make `made` latent frames, whole chunks of the native window: the pixel
        frames its call returns for them."""
        return whole_chunk_pixel_frames(made // self.native_frames, self.native_frames, self.spec.temporal_ratio)

    @torch.no_grad()
    def decode_uint8(self, latents: torch.Tensor, chunk=None, fast: bool = False) -> np.ndarray:
        """Latents ``[1, C, k·c, h, w]`` -> uint8 frames ``[T, H, W, 3]`` as its call decodes them: each chunk of the native
        window on its own, the chunks' frames one after another cut to ``4k + 1``, post-processed by its video processor
        (its call's frames bit for bit)."""
        decoder, step = self.stream_decoder(), self.native_frames
        video = torch.cat([decoder.decode(latents[:, :, start:start + step]) for start in range(0, latents.shape[2], step)],
                          dim=2)
        ratio = self.spec.temporal_ratio
        video = video[:, :, :(video.shape[2] - 1) // ratio * ratio + 1]
        frames = self.video_processor.postprocess_video(video, output_type="np")[0]
        return rounded_uint8(frames)

    def stream_decoder(self):
        return ChunkDecoder(self)

    def stream_encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pixel frames ``[1, 3, T, H, W]`` (at least one chunk's: `vidlong.extend.check_video_for_model`) -> latents as its
        call encodes a given video: whole chunks of ``4·(c - 1) + 1`` frames (c: the native window) from its end, each
        encoded alone (the first ``T mod`` that many left out)."""
        window = self.spec.native_pixel_frames
        count = pixels.shape[2] // window
        start = pixels.shape[2] - count * window
        return torch.cat([encode_clip(self, pixels[:, :, start + i * window:start + (i + 1) * window]) for i in range(count)],
                         dim=2)


class VidLongHeliosPipeline(HeliosFamily, VidlongPipelineMixin, HeliosPipeline):
    """diffusers' `HeliosPipeline` (Helios-Base; text to video here: its call's ``image=`` and ``video=`` go through as
    diffusers takes them, untested, and `HeliosStreamer` follows its video path to extend a video) with vidlong's
    surface (`HeliosFamily`)."""
