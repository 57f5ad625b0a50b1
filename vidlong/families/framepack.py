"""FramePack under vidlong (`vidlong.families`): diffusers' `HunyuanVideoFramepackPipeline` (FramePack's transformer,
HunyuanVideo's VAE of 4x time and 8x space, Llama + CLIP text, SigLIP image states), image to video section by section.

Its call makes ``K = max(1, ceil(num_frames / (4·(w - 1) + 1)))`` sections of ``latent_window_size`` latent frames (``w``),
each from noise drawn from its generator when the section starts (after the image's latent, drawn first from its VAE's
distribution), each forward reading the image's latent (its prefix) and its latest 16 + 2 + 1 clean latent frames (4x, 2x
and 1x: its history, zeros before there are that many) in one of two orders (``sampling_type``): "inverted_anti_drifting"
(its default: the video's end first, back towards the image, the history the sections after it) or "vanilla" (forwards in
time, the history the frames before it, the image's latent its latest before the first section). The video is the
image's latent frame and the sections' (``K·w + 1`` latent, ``4·K·w + 1`` pixel frames); each section is decoded with the
one before it in the call's order (``2w`` latent frames; the first alone, with the image's frame where it is the
video's start) and blended into the video over ``4·(w - 1) + 1`` pixel frames (its ``_soft_append``). Its call keeps every
latent and decoded frame until its end.

vidlong's surface: the model's native window is one section (`configs/models/framepack.yaml`); vidlong's lengths are whole
sections after the image's frame (`attention.adapters.framepack.FramePackAdapter.whole_chunk_lengths`); its call's
``latents=`` are the sections' noise one after another; `generate` runs its call in the spec's order (``sampling_type``,
None: its call's default, "inverted_anti_drifting") and decodes as its call does; its streams (`FramePackStreamer`) make its
vanilla sections keeping only the history the next section reads and decode them as its call does, so memory and time per
section stay flat; its extensions (vanilla too) go on from a video as its call would go on after it: the video's first frame
its start image, its last latent frames (encoded once) its history. Units: latent frames unless pixel frames are said.
"""
from __future__ import annotations

import copy
import inspect
import math

import numpy as np
import torch
from diffusers import HunyuanVideoFramepackPipeline
from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video_framepack import calculate_shift, retrieve_timesteps
from diffusers.utils.torch_utils import randn_tensor

from ..generate import load_image
from ..models import SAMPLING_TYPES
from ..pipeline import VidlongPipelineMixin
from ..progress import stream_steps
from ..streaming import SeamBlend, StreamText, VideoStreamer, rolled_in, to_uint8
from ..video_io import rounded_uint8
from .hunyuan import HunyuanVideoVAE

INVERTED, VANILLA = SAMPLING_TYPES

#: its call's order when none is given
DEFAULT_ORDER = inspect.signature(HunyuanVideoFramepackPipeline.__call__).parameters["sampling_type"].default.value

#: its call's history in the vanilla order, oldest part first (latent frames at 4x, 2x and 1x)
HISTORY_SIZES = (16, 2, 1)

#: the largest mu its call's schedule shift takes (``log(exp_max)``, its ``exp_max`` 7)
MAX_MU = math.log(7.0)


def section_slices(frames: int, window: int, order: str) -> list:
    """The latent frames (slices of a video of `frames` = ``K·window + 1``, its image's frame first) its call decodes after
    each of its `K` sections, in the order it makes them: the first section alone (with the image's frame where it starts
    the video), then each with the one before it in that order (``2·window``, with the image's frame for the inverted
    order's last)."""
    count = (frames - 1) // window
    if order == VANILLA:
        return [slice(0, window + 1)] + [slice(1 + (k - 1) * window, 1 + (k + 1) * window) for k in range(1, count)]
    made = [(k + 1) * window + (k == count - 1) for k in range(count)]  # its history's frames after section k
    return [slice(frames - made[0], frames)] + [slice(frames - made[k], frames - made[k] + 2 * window + (k == count - 1))
                                                for k in range(1, count)]


class SectionDecoder:
    """A vanilla stream's sections ``[1, C, w, h, w']`` decoded as its call decodes them: each with the latent frames
    before it (the image's for the first, then the section before), the decoded frames blended into the last
    ``4·(w - 1) + 1`` of the video so far by its call's ``_soft_append``. Those last frames are held back (``held``), as the
    next section blends into them, unless the section is the stream's last (``last``, set by its streamer); returns the
    finished frames ``[1, 3, T, H, W]`` in [-1, 1]. Holds one section's latents and those frames: flat per section.

    An extension's decoder starts after the input's last section (`continue_after`): its first new section is decoded
    after it, as its call decodes a section after the one before; the frames that decode the input's own (shown
    unchanged) are dropped, their last kept as ``seam_frame`` (the input's last frame as this decode makes it)."""

    def __init__(self, pipe, window: int):
        self.pipe, self.overlap = pipe, pipe.spec.temporal_ratio * (window - 1) + 1
        self.before = None  # [1, C, f, h, w]: the latent frames the next section is decoded after (the image's, first)
        self.held = None  # [1, 3, overlap, H, W]: decoded frames the next section blends into
        self.last = False
        self.shown = 0  # pixel frames the next decode starts with that are out already (an extension's input's last)
        self.seam_frame = None  # [1, 3, H, W]: the last of them, as that decode made it

    def continue_after(self, latents: torch.Tensor) -> None:
        """Decode the next section after `latents` ``[1, C, f, h, w]``, the input's last latent frames, whose
        ``temporal·(f - 1) + 1`` pixel frames are the input's, already shown."""
        self.before, self.shown = latents, self.pipe.spec.temporal_ratio * (latents.shape[2] - 1) + 1

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        current = self.pipe._decode_chunk(torch.cat([self.before, latents.to(self.before.device)], dim=2))
        if self.shown:
            self.seam_frame, current, self.shown = current[:, :, self.shown - 1], current[:, :, self.shown:], 0
        video = current if self.held is None else self.pipe._soft_append(self.held, current, self.overlap)
        self.before = latents.to(self.before.device)
        self.held = None if self.last else video[:, :, -self.overlap:]
        return video if self.last else video[:, :, :-self.overlap]


class SectionSeam:
    """An extension's seam (`vidlong.streaming.SeamBlend` over `frames` new pixel frames) from the input's last frame
    `input_last` uint8 ``[H, W, 3]`` and that frame as `decoder` decodes it with the first new section (its
    ``seam_frame``, known once that section is decoded), applied to the new frames uint8 ``[T, H, W, 3]`` in order."""

    def __init__(self, input_last: np.ndarray, decoder: SectionDecoder, frames: int):
        self.input_last, self.decoder, self.frames, self.blend = input_last, decoder, frames, None

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if self.blend is None:
            self.blend = SeamBlend(self.input_last, to_uint8(self.decoder.seam_frame[:, :, None])[0], self.frames)
        return self.blend(chunk)


class FramePackStreamer(VideoStreamer):
    """A FramePack stream: its call's sections in the vanilla order (the only order that streams: the inverted order's first
    section is the video's end), each of ``chunk`` latent frames (the stream's ``--chunk``, its call's
    ``latent_window_size``), each forward reading the history its call's forward reads there: the image's latent and the
    latest ``sum(HISTORY_SIZES)`` latent frames (16 + 2 + 1) in one buffer of that size, rolled after every section. The
    image's latent and states come first from the stream's generator, then each section's noise, as its call draws them,
    so that from the same seed its sections are its call's bit for bit, and decoded as its call decodes them
    (`SectionDecoder`). Nothing else is kept: memory and time per section are flat however long it runs (`footprints`
    records, per section, the history's latent frames and the numbers held in it, the image's latent and the decoder).

    An extension continues a video as its call would go on after it (`_start_from_prefix`): the video's first frame is
    the start image, its last latent frames the history, its last section the one the first new section is decoded
    after."""

    def __init__(self, pipe, prompt, streaming=None, **kwargs):
        from ..methods import Streaming

        super().__init__(pipe, prompt, streaming or Streaming(), **kwargs)
        self.first_chunk = self.schedule.chunk  # every section is its call's section
        self.history = None  # [1, C, sum(HISTORY_SIZES), h, w] float32: its call's history_latents[-19:]
        self.first = None  # [1, C, 1, h, w] float32: the image's latent
        self.image_embeds = None  # [1, N, D]: the image's SigLIP states
        self.decoder = None
        self.footprints: list[tuple] = []

    def settings(self) -> dict:
        return dict(super().settings(), sampler="scheduler", context="history", history_sizes=list(HISTORY_SIZES),
                    sampling_type=VANILLA, sinks=None, window=None)

    def _attach(self, transformer, context) -> None:
        """None: its forwards read their history as inputs; no cache."""

    def _write(self, latents, text, frames) -> None:
        """None: no cache; the next section reads the history latents."""

    def _recache(self, text) -> None:
        """None: no cache; each section's forwards read the history under its own prompt."""

    def _decoder(self) -> SectionDecoder:
        self.decoder = SectionDecoder(self.pipe, self.schedule.chunk)
        return self.decoder

    def _chunk_frames(self, index: int) -> int:
        """Every section's latent frames; the decoder holds no frames back after the stream's last section."""
        self.decoder.last = self.chunks is not None and index == self.chunks - 1
        return self.schedule.chunk

    def _start_from_prefix(self, decoder: SectionDecoder) -> np.ndarray:
        """An extension's start: the input's first frame as the start image (`_start_image`: its latent drawn with the
        stream's generator and its SigLIP states, as its call makes them from an image), the input's last latent frames
        (`extension_frames`, encoded once: `vidlong.extend.extension_prefix`) as the history (zeros before them where
        there are fewer, as its call's history holds zeros before its image), and its last section's (``chunk`` latent
        frames) as what the first new section is decoded after (`SectionDecoder.continue_after`); the new frames take
        on the input's last frame's difference to its decode (`SectionSeam`). Returns the input frames."""
        frames = self.prefix.frames
        self.image = load_image(np.asarray(frames[0]))
        self._start_image()
        tail = self.prefix.cache_latents(sum(HISTORY_SIZES)).float()
        self.history = rolled_in(torch.zeros_like(self.history), tail)
        decoder.continue_after(self.prefix.latents[:, :, -self.schedule.chunk:].float().to(self.first.device))
        self.seam = SectionSeam(frames[-1], decoder, self.streaming.seam_frames)
        return frames

    def _start_image(self) -> None:
        """The image's latent (drawn from its VAE's distribution with the stream's generator) and SigLIP states, as its
        call makes them; the history its first section reads: zeros, then the image's latent."""
        pipe = self.pipe
        pixels = pipe.video_processor.preprocess(self.image, self.height, self.width)
        self.image_embeds = pipe.encode_image(pixels, device=pipe.device).to(pipe.transformer.dtype)
        self.first = pipe.prepare_image_latents(pixels, dtype=torch.float32, device=pipe.device, generator=self.generator)
        zeros = self.first.new_zeros(1, self.first.shape[1], sum(HISTORY_SIZES) - 1, *self.first.shape[3:])
        self.history = torch.cat([zeros, self.first], dim=2)
        self.decoder.before = self.first

    def _history_inputs(self, frames: int) -> dict:
        """Its transformer's history arguments for a section of `frames` latent frames, as its call builds them."""
        dtype = self.pipe.transformer.dtype
        far, mid, near = self.history.split(HISTORY_SIZES, dim=2)
        prefix, at_4x, at_2x, at_1x, section = torch.arange(0, 1 + sum(HISTORY_SIZES) + frames).split([1, *HISTORY_SIZES, frames])
        return dict(indices_latents=section, latents_clean=torch.cat([self.first, near], dim=2).to(dtype),
                    indices_latents_clean=torch.cat([prefix, at_1x]), latents_history_2x=mid.to(dtype),
                    indices_latents_history_2x=at_2x, latents_history_4x=far.to(dtype), indices_latents_history_4x=at_4x)

    def _denoise(self, text: StreamText, frames: int) -> torch.Tensor:
        """A new section ``[1, C, f, h, w]`` float32 as its call makes one: its noise drawn from the stream's generator when
        it starts, its scheduler's steps, each forward reading the image's states and latent and the history."""
        pipe, transformer = self.pipe, self.pipe.transformer
        if self.first is None:
            self._start_image()
        spatial = pipe.vae_scale_factor_spatial
        latents = pipe.prepare_latents(1, transformer.config.in_channels, self.height, self.width,
                                       pipe.spec.temporal_ratio * (frames - 1) + 1, torch.float32, pipe.device, self.generator)
        history = self._history_inputs(frames)
        held = self.decoder.held
        self.footprints.append((self.history.shape[2], sum(x.numel() for x in (self.history, self.first, self.decoder.before,
                                                                                 held) if x is not None)))
        scheduler = copy.deepcopy(pipe.scheduler)
        tokens = frames * (self.height // spatial) * (self.width // spatial) / transformer.config.patch_size ** 2
        config = scheduler.config
        mu = min(MAX_MU, calculate_shift(tokens, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                                         config.get("base_shift", 0.5), config.get("max_shift", 1.15)))
        timesteps, _ = retrieve_timesteps(scheduler, self.steps, pipe.device, sigmas=np.linspace(1.0, 0.0, self.steps + 1)[:-1],
                                          mu=mu)
        steps = stream_steps(self, len(timesteps))
        steps.start()
        for t in timesteps:
            pred = transformer(hidden_states=latents.to(transformer.dtype), timestep=t.expand(1), image_embeds=self.image_embeds,
                               return_dict=False, **text.kwargs, **history)[0]
            latents = scheduler.step(pred.float(), t, latents, return_dict=False)[0]
            steps.step()
        return latents

    def remaining_frames(self) -> list:
        """The last section's frames its decoder held back for the next section to blend into (``4·(w - 1) + 1``; none after
        the stream's last section), uint8 ``[T, H, W, 3]`` (an extension's seam carried into them), once: for a stream that
        stops before its last section."""
        if self.decoder is None:
            return []
        held, self.decoder.held = self.decoder.held, None
        return [] if held is None else self.seam(to_uint8(held))

    def _remember(self, latents: torch.Tensor) -> None:
        """Clean latents ``[1, C, f, h, w]`` into the history, its oldest frames out (its size stays ``sum(HISTORY_SIZES)``)."""
        self.history = rolled_in(self.history, latents)

    def _context_latents(self) -> list:
        return [self.history]


class VidLongHunyuanVideoFramepackPipeline(HunyuanVideoVAE, VidlongPipelineMixin, HunyuanVideoFramepackPipeline):
    """diffusers' `HunyuanVideoFramepackPipeline` (FramePack, image to video) with vidlong's surface: its call's section is
    the model's native window (``latent_window_size`` where none is given), its order the spec's (``sampling_type`` where
    none is given; None: its call's), its ``latents=`` the sections' noise, `generate` decodes as its call does, and it
    streams its vanilla sections and extends a video keeping only its call's history (`FramePackStreamer`). ``guidance``
    is its embedded guidance (``guidance_scale``; true classifier-free guidance, ``true_cfg_scale``, stays its call's 1).
    vidlong's methods do not act on it (its adapter's refusal)."""

    task = "i2v"
    chunk_streamer = FramePackStreamer
    call_redraws_from = "noise"  # its call draws the image's latent from its generator, then its sections' noise
    _section_noise = None  # the noise of the call's sections not started yet ``[B, C, F, h, w]``, while a call runs

    def __call__(self, *args, latents=None, **kwargs):
        """Its call; given ``latents=`` ``[B, C, K·w, h, w]`` (w: its section), section ``i`` starts from their latent frames
        ``i·w`` to ``(i + 1)·w`` instead of noise drawn from its generator (diffusers' call takes no start latents); others
        refused in one line before any model work (`vidlong.validate.check_call_latents`)."""
        if latents is not None:
            from ..validate import check_call_latents

            arguments = {**self.call_defaults(), **{name: value for name, value in kwargs.items() if value is not None}}
            self.complete_call(arguments)
            check_call_latents(self, latents, arguments)
        self._section_noise = latents
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._section_noise = None

    def prepare_latents(self, batch_size=1, num_channels_latents=16, height=720, width=1280, num_frames=129, dtype=None,
                        device=None, generator=None, latents=None):
        """A section's start: the next section of the call's given ``latents=``, else diffusers' draw."""
        if self._section_noise is None:
            return super().prepare_latents(batch_size, num_channels_latents, height, width, num_frames, dtype, device,
                                           generator, latents)
        frames = (num_frames - 1) // self.vae_scale_factor_temporal + 1  # its call's latents= are checked whole
        start, self._section_noise = self._section_noise[:, :, :frames], self._section_noise[:, :, frames:]
        return start.to(device=device, dtype=dtype)

    def noise_frames(self, frames: int) -> int:
        """The sections' noise of a video of `frames` latent frames: all but the image's frame."""
        return frames - 1

    def draws_before_noise(self, images: dict, shape, generator: torch.Generator) -> None:
        """Its image's latent (from the VAE's distribution, in its dtype), and its last image's where one is given, each
        ``[1, C, 1, h, w]``, drawn from `generator` and dropped, as its call draws them before its sections' noise."""
        for _ in range(1 + (images.get("last_image") is not None)):
            randn_tensor((1, shape[1], 1, *shape[3:]), generator=generator, device=self.vae.device, dtype=self.vae.dtype)

    def start_noise(self, kind: str, shape, native_frames: int, generator=None) -> torch.Tensor:
        """Plain noise ``[1, C, K·w, h, w]`` drawn as its call draws it from `generator`, section after section (of the
        native window)."""
        if kind != "plain" or generator is None:
            return super().start_noise(kind, shape, native_frames, generator)
        window = self.native_frames
        return torch.cat([randn_tensor((*shape[:2], window, *shape[3:]), generator=generator, device=self._execution_device,
                                       dtype=torch.float32) for _ in range(shape[2] // window)], dim=2)

    def complete_call(self, arguments: dict) -> None:
        """Its section, the model's native window, and the spec's order, where none is given."""
        arguments["latent_window_size"] = self._window(arguments)
        if arguments.get("sampling_type") is None and self.spec.sampling_type is not None:
            arguments["sampling_type"] = self.spec.sampling_type

    def _window(self, arguments: dict) -> int:
        window = arguments.get("latent_window_size")
        return self.native_frames if window is None else window

    def steps_reported(self, steps: int, latent_frames: int, methods: tuple = ()) -> int:
        """Each section's steps, section after section (`latent_frames`: the image's, then the sections')."""
        return (latent_frames - 1) // self.native_frames * steps

    def forward_frames(self, arguments: dict) -> int:
        """One forward spans one section (its history's latents aside)."""
        return self.spec.temporal_ratio * (self._window(arguments) - 1) + 1

    def latents_frames(self, arguments: dict):
        """Its sections' latent frames: ``ceil(num_frames / a section's pixel frames)`` sections of ``w``."""
        if arguments.get("num_frames") is None:
            return None
        return max(1, -(-int(arguments["num_frames"]) // self.forward_frames(arguments))) * self._window(arguments)

    def call_num_frames(self, request, made: int) -> int:
        """The ``num_frames`` that makes its call make `made` latent frames (the image's frame and whole sections of the
        native window): that many sections' pixel frames."""
        return (made - 1) // self.native_frames * self.forward_frames({})

    def forwards_per_step(self, guidance: float) -> int:
        """One: its guidance is embedded."""
        return 1

    def decodes_in_chunks(self) -> bool:
        """Always: `generate` takes its call's latents and decodes them as its call does (`decode_uint8`), so that it keeps
        the whole video's latents (its call's latent output is one tensor a section)."""
        return True

    def grid_latents(self, latents, frames: int, height: int, width: int) -> torch.Tensor:
        """Its call's latent output, the video's latents after each section: the last, the whole video ``[B, C, F, h, w]``."""
        return latents[-1] if isinstance(latents, list) else latents

    @torch.no_grad()
    def decode_uint8(self, latents: torch.Tensor, chunk=None, fast: bool = False) -> np.ndarray:
        """Latents ``[1, C, K·w + 1, h, w]`` (w: the native window) -> uint8 frames ``[T, H, W, 3]`` as its call decodes them
        in the spec's order (`section_slices`, blended by its ``_soft_append``), post-processed by its video processor (its
        call's frames bit for bit)."""
        order, window = self.spec.sampling_type or DEFAULT_ORDER, self.native_frames
        overlap, video = self.forward_frames({}), None
        for piece in section_slices(latents.shape[2], window, order):
            current = self._decode_chunk(latents[:, :, piece])
            if video is None:
                video = current
            else:
                video = self._soft_append(video, current, overlap) if order == VANILLA else \
                    self._soft_append(current, video, overlap)
        frames = self.video_processor.postprocess_video(video, output_type="np")[0]
        return rounded_uint8(frames)

    def stream_guided(self, guidance: float) -> bool:
        return False

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Its prompt as its call hands it to its transformer: Llama's states and mask, CLIP's pooled states (all in the
        transformer's dtype) and its embedded guidance (``guidance · 1000``)."""
        dtype = self.transformer.dtype
        states, pooled, mask = self.encode_prompt(prompt=prompt, device=self.device)
        guidance = torch.tensor([guidance], dtype=dtype, device=self.device) * 1000.0
        return StreamText(1, dict(encoder_hidden_states=states.to(dtype), encoder_attention_mask=mask.to(dtype),
                                  pooled_projections=pooled.to(dtype), guidance=guidance))
