"""LTX-2.5 under vidlong (`vidlong.families`): diffusers' `LTX2DFRPipeline` ("Lightricks/LTX-2.5-Diffusers"), one
Diffusion Fidelity Rendering pass, text to video with its sound: LTX-2's transformer with a learned marker for
single-pixel-frame latents (``use_keyframes_abs_pos_embedding``), its 8 distilled sigmas run unguided (one forward a
step, no negative prompt).

Its call pads the request to whole keyframe segments of 3 or 4 latent frames (`dfr_layout.resolve_canvas`, units: pixel
frames ``8k + 1``) and denoises packed tokens ``[B, N, C]``: the canvas's, frame-major (``N_c = F·h·w``, F latent frames
of the padded canvas), then with ``generate_slots`` (its default, kept) one latent frame of keyframe-slot tokens a segment
(``h·w`` each, placed by RoPE at the segment's last pixel frame, with a time extent of one pixel frame); it decodes the
canvas trimmed to the request (`trim_canvas`) and drops the slots. Its forward is given RoPE coordinates alone
(``video_coords`` ``[B, 3, N, 2]``), so while its call runs a pre-hook hands the forward the canvas's latent sizes too:
the methods lay the canvas's tokens out as LTX-2's video (`vidlong.attention.adapters.ltx2`) and take the slots as the
tokens after it, as `LTX2ConditionPipeline`'s keyframes (every canvas query sees them unmodified, their own rows attend
as the stock model's). The slots are not frames of the grid: each sits in time inside a canvas latent frame, which holds
the same pixel frame, so the grid's frame distances would count it twice.

Its call draws its noise over the whole packed sequence from its generator (its ``latents=`` are multiplied by 0 at its
first sigma 1), so `generate` hands it no ``latents=`` and the generator as it was before its own draw
(`call_redraws_from`): with no method, the stock call with that seed. vidlong always gives ``num_frames`` (the request's
length), so its duration head is never asked; it and the prompt enhancer (a Gemma 4 model that its call runs only with
``enable_prompt_enhancement``) are not loaded (`VidlongPipelineMixin.unloaded_parts`).

Its ``conditions`` (`LTX2VideoCondition`, ``index`` a latent frame of its canvas) as `LTX2ConditionPipeline`'s: one at
latent frame 0 sets the clean target of the canvas's first latent frames in place (conditioning mask = strength, those
tokens' timestep ``t·(1 - strength)``, its x0 blended back each step: at strength 1 kept as encoded), so the methods see
them as the canvas's; one at a later frame is appended after the canvas, before the slots (``[canvas | conditions |
slots]``, at its own RoPE time), more trailing tokens. vidlong's ``image=`` and ``last_image=`` are conditions at latent
frame 0 and at the request's last latent frame (`ConditionImages`; its call reads -1 on the padded canvas, whose frames past
the request it trims); `VidLongLTX2DFRImageToVideoPipeline` is the folder given an image (`generate --image`).
"""
from __future__ import annotations

import contextlib
import inspect
from typing import Optional

import torch
from diffusers import LTX2DFRPipeline, LTX2DFRTemporalRefinePipeline
from diffusers.pipelines.ltx2.dfr_layout import resolve_canvas
from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES

from ..errors import VidlongError, named
from ..pipeline import VidlongPipelineMixin
from .ltx2 import LTX2Family
from .ltx2_condition import ConditionImages

#: the steps of its pass: its distilled sigmas (diffusers' DISTILLED_SIGMA_VALUES, the call's default ``sigmas``)
DFR_STEPS = len(DISTILLED_SIGMA_VALUES)


def check_dfr_request(request) -> None:
    """One line, before any model loads, for what LTX-2.5's single DFR pass does not take: ``steps`` other than its
    `DFR_STEPS` distilled sigmas, a ``guidance`` other than 1 (it runs unguided), ``noise`` other than plain (its call draws
    its noise itself); its prompt timeline, ``upsample`` and ``refine`` are refused by their own checks
    (`vidlong.validate.check_prompt_timeline`, `vidlong.validate.DFR_RECIPE`)."""
    from ..control_video import check_own_noise

    if request.steps is not None and request.steps != DFR_STEPS:
        raise VidlongError(f"LTX-2.5's DFR pass runs its {DFR_STEPS} distilled sigmas (diffusers' "
                           f"DISTILLED_SIGMA_VALUES), no other step count: drop {named('steps')}")
    if request.guidance is not None and request.guidance != 1:
        raise VidlongError(f"LTX-2.5's DFR pass is distilled to run unguided (one forward a step): drop {named('guidance')}")
    check_own_noise(request, "LTX-2.5's call draws its noise over its canvas and keyframe slots")


class CanvasSizes:
    """A pipeline of LTX-2.5's DFR passes (`LTX2DFRPipeline`; `LTX2DFRTemporalRefinePipeline`, whose tiles are canvases too:
    `vidlong.families.ltx2_temporal`), before it in the bases, whose transformer's forwards are given RoPE coordinates
    alone: while its call runs (`canvas_sizes_handed`) each forward is also handed the latent sizes of the canvas its last
    `prepare_latents` laid out."""

    #: the latent sizes (frames, height, width) of the canvas its running call laid out (`prepare_latents`), else None
    vidlong_canvas: Optional[tuple] = None

    def prepare_latents(self, *args, **kwargs):
        """Its own, the canvas's latent sizes kept (`vidlong_canvas`) for its forwards (`hand_canvas_sizes`)."""
        bound = inspect.signature(super().prepare_latents).bind(*args, **kwargs)
        bound.apply_defaults()
        frames, height, width = (bound.arguments[name] for name in ("num_frames", "height", "width"))
        self.vidlong_canvas = ((frames - 1) // self.vae_temporal_compression_ratio + 1,
                                    height // self.vae_spatial_compression_ratio, width // self.vae_spatial_compression_ratio)
        return super().prepare_latents(*args, **kwargs)

    @contextlib.contextmanager
    def canvas_sizes_handed(self):
        """Within it (its call), its transformer's forwards are handed the canvas's sizes (`hand_canvas_sizes`)."""
        handle = self.transformer.register_forward_pre_hook(self.hand_canvas_sizes, with_kwargs=True)
        try:
            yield
        finally:
            handle.remove()
            self.vidlong_canvas = None

    def hand_canvas_sizes(self, transformer, args, kwargs):
        """A forward pre-hook (torch's, with keyword arguments) on its transformer while its call runs: a forward given
        ``video_coords`` alone is also handed the canvas's latent sizes ``num_frames``, ``height``, ``width``
        (`vidlong_canvas`; its forward reads them only without ``video_coords``), so that vidlong lays out the canvas's
        tokens and takes those after them (the keyframe slots) as trailing tokens."""
        if self.vidlong_canvas is not None and kwargs.get("num_frames") is None:
            kwargs.update(zip(("num_frames", "height", "width"), self.vidlong_canvas))
        return args, kwargs


class VidLongLTX2DFRPipeline(CanvasSizes, ConditionImages, LTX2Family, VidlongPipelineMixin, LTX2DFRPipeline):
    """diffusers' `LTX2DFRPipeline` (LTX-2.5) with vidlong's surface: one DFR pass, its keyframe slots generated as its call
    does, the canvas's tokens the methods' video, its ``conditions`` also given as ``image=`` and ``last_image=`` (see the
    module)."""

    call_redraws_from = "noise"
    unloaded_parts = ("prompt_enhancer", "processor", "duration_head")

    def call_defaults(self) -> dict:
        """The spec's size, length and frame rate; no steps or guidance (its call takes its distilled ``sigmas``)."""
        defaults = super().call_defaults()
        for name in ("num_inference_steps", "guidance_scale"):
            defaults.pop(name)
        return defaults

    def last_image_index(self, arguments: dict) -> int:
        """The request's last latent frame (``num_frames``, else the spec's): its call reads -1 on its padded canvas."""
        frames = arguments.get("num_frames") or self.call_defaults()["num_frames"]
        return (frames - 1) // self.vae_temporal_compression_ratio

    @classmethod
    def forward_latent_frames(cls, frames: int, request, temporal_ratio: int) -> int:
        """Its padded canvas's latent frames for `request` made `frames` latent frames long (`resolve_canvas`, in pixel
        frames of `temporal_ratio` a latent frame)."""
        return (resolve_canvas(temporal_ratio * (frames - 1) + 1, temporal_ratio)[0] - 1) // temporal_ratio + 1

    @classmethod
    def appended_latent_frames(cls, request, frames: int, temporal_ratio: int) -> int:
        """Latent frames of tokens after its canvas (``[canvas | conditions | slots]``): its last image's
        (`ConditionImages.appended_latent_frames`) and one a keyframe slot (`resolve_canvas`)."""
        slots = resolve_canvas(temporal_ratio * (frames - 1) + 1, temporal_ratio)[2]
        return super().appended_latent_frames(request, frames, temporal_ratio) + len(slots)

    def forwards_per_step(self, guidance: float) -> int:
        """One: its distilled pass runs no guidance."""
        return 1

    def call_latents(self, latents: torch.Tensor) -> None:
        """None: its call draws its noise over its canvas and slots itself (`call_redraws_from`)."""
        return None

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """The first `frames` latent frames of its packed canvas ``[B, N, C]`` (the slots after it dropped) as
        ``[B, C, F, h, w]``, VAE-normalised as its loop holds them."""
        p, pt = self.transformer_spatial_patch_size, self.transformer_temporal_patch_size
        return super().grid_latents(latents[:, :(frames // pt) * (height // p) * (width // p)], frames, height, width)

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """Its canvas's raw latents ``[B, C, F, h, w]`` (F: the padded canvas's latent frames), the one shape its call
        takes; () where the arguments do not say."""
        grid = self.latents_grid(arguments, batch)
        if grid is None:
            return ()
        canvas = resolve_canvas(arguments["num_frames"], self.vae_temporal_compression_ratio)[0]
        return ((*grid[:2], (canvas - 1) // self.vae_temporal_compression_ratio + 1, *grid[3:]),)

    def latent_output(self, latents, audio_latents, num_frames: int, frame_rate: float) -> tuple:
        """LTX-2's (`LTX2Family.latent_output`), cut to the request as its decoding call cuts them: the padded canvas's
        latents to the latent frames `num_frames` pixel frames fill (diffusers' `trim_canvas`), the waveform to
        ``num_frames / frame_rate`` seconds at its vocoder's rate."""
        from diffusers.pipelines.ltx2.utils import trim_canvas

        video, audio = super().latent_output(latents, audio_latents, num_frames, frame_rate)
        samples = min(audio.shape[-1], round(num_frames / frame_rate * self.vocoder.config.output_sampling_rate))
        return trim_canvas(video, num_frames, self.vae_temporal_compression_ratio), audio[..., :samples]

    def audio_latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """Its audio VAE's latents ``[B, C, L, M]`` of any length (its call refuses packed ones)."""
        return super().audio_latents_shapes(arguments, batch)[:1]

    def __call__(self, *args, num_inference_steps=None, guidance_scale=None, negative_prompt=None, **kwargs):
        """vidlong's call (`VidlongPipelineMixin`), also taking what `generate` hands every call: ``num_inference_steps``
        (None or the number of its ``sigmas``), ``guidance_scale`` (None or 1: it runs unguided) and ``negative_prompt``
        (None: it reads none), other values refused in one line; its transformer's forwards given the canvas's sizes while
        it runs (`hand_canvas_sizes`)."""
        steps = len(kwargs.get("sigmas") or DISTILLED_SIGMA_VALUES)
        if num_inference_steps not in (None, steps):
            raise VidlongError(f"LTX2DFRPipeline runs its {steps} sigmas (sigmas=), not num_inference_steps="
                               f"{num_inference_steps!r:.40}; drop num_inference_steps or pass sigmas")
        if guidance_scale not in (None, 1):
            raise VidlongError(f"LTX2DFRPipeline runs unguided (one forward a step), not guidance_scale={guidance_scale!r:.40}; "
                               "drop guidance_scale")
        if negative_prompt:
            raise VidlongError("LTX2DFRPipeline reads no negative prompt (it runs unguided); drop negative_prompt")
        with self.canvas_sizes_handed():
            return super().__call__(*args, **kwargs)


class VidLongLTX2DFRImageToVideoPipeline(VidLongLTX2DFRPipeline):
    """`VidLongLTX2DFRPipeline` given an image for its first frame (`generate --image` hands it as ``image=``: a condition
    at latent frame 0, strength 1, as its call's ``conditions=[LTX2VideoCondition(image, 0)]``). Its call encodes it at the
    VAE's mode (no draw) and draws its noise after, from the generator `generate` hands it (`call_redraws_from`)."""

    task = "i2v"


class VidLongLTX2DFRTemporalRefinePipeline(CanvasSizes, LTX2DFRTemporalRefinePipeline):
    """diffusers' `LTX2DFRTemporalRefinePipeline` whose transformer's forwards, while its call runs, are handed the latent
    sizes of each tile's canvas (`CanvasSizes`: the methods lay out its tokens, its anchors and slots trailing)."""

    def __call__(self, *args, **kwargs):
        with self.canvas_sizes_handed():
            return super().__call__(*args, **kwargs)
