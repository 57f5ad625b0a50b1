"""Sana-WM under vidlong (`vidlong.families`): diffusers' `SanaWMPipeline`, the camera-controlled world model's first stage
(its call: an image, a prompt and a camera trajectory to a video; its second stage, the refiner `SanaWMLTX2Refiner`, a
pipeline of its own, runs after it on its latents: `vidlong.families.sana_wm_refiner`, not as a model: `REFINER_REFUSAL`).

Its call encodes the prompt with Gemma 2 after its default instruction, puts the image's latent (its LTX-2 VAE's mode,
normalised) on latent frame 0 with timestep 0 there, packs the camera (``c2w`` or ``action``, and ``intrinsics``:
`vidlong.camera`) as a per-latent-frame raymap and Plücker maps of 8 pixel frames a latent frame, guides by ``uncond +
g·(cond - uncond)`` and decodes by LTX-2's VAE (8x time, 32x space). Units: latent frames unless named pixel."""
from __future__ import annotations

import torch
from diffusers import SanaWMPipeline

from ..camera import CAMERA_PIPELINES, check_camera, default_action, default_intrinsics
from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from .common import EmptyNegativePrompt, OneVideoOutput, replaced

#: why a folder of its refiner is refused as a model, and how it runs (`vidlong.models.check_model_folder`: ``{folder}``)
REFINER_REFUSAL = ("Sana-WM's second stage, which refines the latents of its first (SanaWMPipeline), is no model of its own: "
                   "pass the Sana-WM folder as --model with --refine {folder} (or --refine alone where this folder lies "
                   "beside it as <its name>-refiner/ or inside it as refiner/)")


class VidLongSanaWMPipeline(EmptyNegativePrompt, OneVideoOutput, VidlongPipelineMixin, SanaWMPipeline):
    """diffusers' `SanaWMPipeline` with vidlong's surface: image to video only (its call needs the first frame); the methods
    on its softmax blocks' two self-attentions (`vidlong.attention.adapters.sana_wm`). Where its call is given neither
    ``c2w`` nor ``action`` vidlong gives it a steady walk forward as long as the video, and without ``intrinsics`` a 90°
    view of the image (`vidlong.camera`). It takes vidlong's start noise as ``latents=`` (its call draws it otherwise), so
    `generate` with no method is its call with the same seed, bit for bit. It generates only (its family streams nothing:
    `vidlong.attention.adapters.sana_wm.SanaWMAdapter.no_stream_reason`)."""

    task = "i2v"

    def __call__(self, *args, latents=None, **kwargs):
        """``latents``: the start noise ``[1, C, F, h, w]`` (its call draws it from ``generator`` otherwise), the image's
        latent put on its frame 0 as its call puts it on its own draw."""
        with replaced(self, "start_latents", latents):
            return super().__call__(*args, **kwargs)

    def complete_call(self, arguments: dict) -> None:
        """The empty negative prompt for None (`EmptyNegativePrompt`), and the camera its call needs where none is given:
        `default_action` over its frames, `default_intrinsics` of its image; a camera given to it checked as ``--camera``
        is (`vidlong.camera.check_camera`: its call would cut the video to a shorter trajectory, and make non-finite or
        flipped rays of a focal length that is not positive, silently)."""
        super().complete_call(arguments)
        if arguments.get("c2w") is None and arguments.get("action") is None:
            arguments["action"] = default_action(arguments["num_frames"])
        image = arguments.get("image")
        if arguments.get("intrinsics") is None and hasattr(image, "size"):
            arguments["intrinsics"] = default_intrinsics(*image.size)
        camera = {name: arguments[name] for name in ("c2w", "action", "intrinsics") if arguments.get(name) is not None}
        check_camera(camera, CAMERA_PIPELINES[0], arguments["num_frames"], self.spec.temporal_ratio)

    def prepare_latents(self, first_latent, num_frames, height, width, dtype, device, generator):
        """Its call's start latents and condition mask, from vidlong's ``latents=`` where given (checked against the grid its
        call draws), else its own draw."""
        given = getattr(self, "start_latents", None)
        if given is None:
            return super().prepare_latents(first_latent, num_frames, height, width, dtype, device, generator)
        shape = (1, first_latent.shape[1], (num_frames - 1) // self.vae_temporal_compression_ratio + 1,
                 height // self.vae_spatial_compression_ratio, width // self.vae_spatial_compression_ratio)
        if tuple(given.shape) != shape:
            raise VidlongError(f"latents of shape {list(given.shape)}; this call of {num_frames} frames at {height}x{width} "
                               f"starts from {list(shape)}")
        latents = given.to(device, dtype).clone()
        latents[:, :, :1] = first_latent
        condition_mask = torch.zeros_like(latents)
        condition_mask[:, :, :1] = 1.0
        return latents, condition_mask
