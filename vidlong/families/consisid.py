"""ConsisID under vidlong: diffusers' `ConsisIDPipeline` (CogVideoX-5B image to video that keeps a face's identity), its
latents ``[B, F, C, h, w]`` as CogVideoX's, the image's latent on frame 0 of its condition channels as CogVideoX-5B-I2V's
(`CogVideoXImageFamily`). Where its transformer has ``is_train_face`` (its releases'), every forward also takes the face's
tensors (``id_cond``, ``id_vit_hidden``: `vidlong.identity`), which its local facial extractor and perceiver
cross-attentions turn into identity tokens added to the video tokens; they hold no frame, so a stream's or an extension's
every window takes them as the call's forwards do (`IdentityStreamer`). vidlong's methods act on its video
self-attention alone (`vidlong.attention.adapters.consisid`)."""
from __future__ import annotations

from typing import Optional

import torch
from diffusers import ConsisIDPipeline

from ..errors import VidlongError
from ..identity import FaceInputs, face_inputs, stream_identity
from ..image_condition import ChannelCondition
from ..pipeline import VidlongPipelineMixin
from ..streaming import VideoStreamer
from .cogvideox import CogVideoXImageFamily
from .common import call_pixels

#: the face tensors every forward of its transformer takes (``kps_cond`` goes into its call's condition channels instead)
FORWARD_FACES = ("id_cond", "id_vit_hidden")


class IdentityCondition(ChannelCondition):
    """CogVideoX's image channels (`condition`'s ``[1, C, F, h, w]``) and the face tensors every forward of a window takes,
    as given to the call (``id_cond`` ``[1, D]``, ``id_vit_hidden`` a list of ``[1, T, D']``: its extractor runs them once
    a forward, and its cross-attention spreads them over a guided batch)."""

    def __init__(self, condition: ChannelCondition, faces: dict):
        super().__init__(condition.condition)
        self.faces = faces

    def extra(self, batch: int) -> dict:
        return {name: self.faces[name] for name in FORWARD_FACES}


class IdentityStreamer(VideoStreamer):
    """A ConsisID stream or extension: `VideoStreamer`'s re-noised context, each window's forwards given the face's tensors
    (`identity`, the call's face arguments from `vidlong.identity.load_identity`, set by the pipeline's `stream` and
    `extend`, and by the app's Stream tab, before the first chunk; None for a transformer without ``is_train_face``)."""

    identity: Optional[dict] = None

    def _image_condition(self, image, latent=None):
        condition = super()._image_condition(image, latent)
        return condition if self.identity is None else IdentityCondition(condition, self.identity)


class VidLongConsisIDPipeline(CogVideoXImageFamily, VidlongPipelineMixin, ConsisIDPipeline):
    """diffusers' `ConsisIDPipeline` with vidlong's surface: its call (``image=`` and the face's ``id_cond``,
    ``id_vit_hidden``, ``kps_cond``) as diffusers' with the spec's defaults, ``stream(..., image=, identity=)`` and
    ``extend(..., identity=)``. A transformer with ``is_train_face`` needs the face's tensors: a call, stream or extension
    without them is refused in one line (diffusers' call fails inside its forward). With ``is_kps`` (a config of its
    class; not its releases', as far as this project knows) its call draws the keypoints' latent after the image's and
    puts it on frame 1: `generate` draws it as the call does (`draws_before_noise`); streams refuse keypoints in one
    line."""

    chunk_streamer = IdentityStreamer

    def faces(self) -> Optional[FaceInputs]:
        """The face tensors its transformer takes (`vidlong.identity.FaceInputs`), or None (no ``is_train_face``)."""
        return face_inputs(self.facts())

    def complete_call(self, arguments: dict) -> None:
        """A call without the face tensors its transformer needs: one line (diffusers' fails in its forward)."""
        missing = [name for name in FORWARD_FACES if arguments.get(name) is None]
        if self.faces() is not None and missing:
            raise VidlongError(f"this ConsisID transformer (is_train_face) needs a face's {' and '.join(missing)}: pass "
                               "id_cond and id_vit_hidden as ConsisID's process_face_embeddings_infer returns them "
                               "(vidlong.identity)")

    @torch.no_grad()
    def draws_before_noise(self, images: dict, shape, generator: torch.Generator) -> None:
        """The keypoints' latent its call samples after the image's and before its noise, where it takes keypoints
        (``kps_cond`` ``[5, 2]`` in `images`, kept by `vidlong.identity.load_identity` for ``is_kps`` alone): their drawing
        (diffusers' ``draw_kps`` over the image) encoded and sampled from `generator`; `shape` ``[1, C, F, h, w]``."""
        if images.get("kps_cond") is None:
            return
        from diffusers.pipelines.consisid.pipeline_consisid import draw_kps

        spatial = self.vae_scale_factor_spatial
        pixels = call_pixels(self, draw_kps(images["image"], images["kps_cond"]), shape[3] * spatial, shape[4] * spatial)
        self.vae.encode(pixels.unsqueeze(2)).latent_dist.sample(generator)

    def stream(self, prompt: str, streaming=None, chunks=None, seconds=None, video=None, strength=None, identity=None, **kwargs):
        """`VidlongPipelineMixin.stream` with the face's tensors (`identity`: a torch file's path or a dict of its fields,
        `vidlong.identity`) given to every window's forwards."""
        faces = stream_identity(identity, self.faces())
        stream = super().stream(prompt, streaming, chunks, seconds, video, strength, **kwargs)
        stream.identity = faces
        return stream

    def extend(self, prompt: str, video=None, latents=None, streaming=None, chunks=None, seconds=None, fps=None, identity=None,
               **kwargs):
        """`VidlongPipelineMixin.extend` with the face's tensors (`identity`, as `stream`'s) given to every window's forwards."""
        faces = stream_identity(identity, self.faces())
        stream = super().extend(prompt, video, latents, streaming, chunks, seconds, fps, **kwargs)
        stream.identity = faces
        return stream
