"""NVIDIA Cosmos 3 under vidlong (`vidlong.families`): diffusers' `Cosmos3OmniPipeline`, from text, from an image
(`VidLongCosmos3OmniImageToVideoPipeline`) and continuing a video (`VidLongCosmos3OmniVideoToVideoPipeline`), twins of the
same folder's weights (`vidlong.models.IMAGE_TO_VIDEO_TWINS`, `vidlong.models.VIDEO_TO_VIDEO_TWINS`). Its call tokenizes
the prompt (its chat template, the video's duration and size appended) into the transformer's own text tokens, packs them
with the video's tokens into one sequence per forward (the methods: `vidlong.attention.adapters.cosmos3`), guides by
``uncond + g·(cond - uncond)``, steps UniPC and decodes by Wan's VAE; its latents are normalised by the VAE's statistics as
Wan's are, so `generate` decodes through Wan's streaming decoder.

An image or a video conditions it through its condition mask ``m`` (1 at the latent frames kept clean, ``[F, 1, 1]``): its
call encodes a conditioning video of the output's length (the image, or the video's first or last frames, then its last
frame repeated; the posterior's mode, normalised), starts from ``m·x_0 + (1 - m)·ε``, zeroes the velocity where m is 1 and
gives those frames' tokens no timestep. Units: latent frames unless named pixel."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import Cosmos3OmniPipeline
from diffusers.pipelines.cosmos import pipeline_cosmos3_omni

from ..errors import VidlongError
from ..models import pixel_frames
from ..pipeline import VidlongPipelineMixin
from ..pipeline_v2v import LastFramesContinuation, check_continued_length, frame_list
from ..streaming import VideoStreamer
from .common import OneVideoOutput
from .cosmos import ConditioningFrame, CosmosStreamer, FlowSigmas, GuardrailChecks, refusing_unsafe

#: its call's arguments vidlong does not serve, and why: what it makes besides a video
UNSERVED = {"enable_sound": "its sound", "action": "its action-conditioned runs"}
#: its call's default ``condition_frame_indexes_vision``: the latent frames of a given video kept clean
CONDITION_FRAMES = (0, 1)


class Cosmos3Streamer(CosmosStreamer):
    """A Cosmos 3 stream: `CosmosStreamer`'s (each forward at its sampler's σ, the clean context kept clean under the
    condition mask), guided as its call guides, ``uncond + g·(cond - uncond)``."""

    _guided = VideoStreamer._guided


class VidLongCosmos3OmniPipeline(GuardrailChecks, FlowSigmas, OneVideoOutput, VidlongPipelineMixin, Cosmos3OmniPipeline):
    """diffusers' `Cosmos3OmniPipeline` with vidlong's surface: its call takes vidlong's start noise as ``latents=`` (in
    float32, as its call holds them) and, given an image or a video too, puts their clean latent frames in it as it puts
    them in its own noise (`prepare_latents`), so `generate` with no method is its call from that noise, bit for bit; its
    output's video is also its ``frames``, as vidlong reads every call's. Its sound (``enable_sound``) and actions are
    refused in one line (`UNSERVED`); its ``fps`` (its prompt's duration sentence, its RoPE's time scale) is the spec's.

    It streams and extends (`Cosmos3Streamer`) with the clean context by default (`vidlong.Streaming.context` "clean"):
    each window's context latents (sinks, then window) clean under its condition mask, as its ``video=`` call keeps a
    video's frames, the chunk's at the step's σ; or with the re-noised context ("renoise": every frame at σ, an all-zero
    mask, as its text-to-video call). Either way each forward packs the prompt as its call tokenizes it for the window (its
    duration and size), its sampler is its call's UniPC and chunks are decoded and encoded by Wan's VAE (the mixin's)."""

    chunk_streamer = Cosmos3Streamer

    def __call__(self, *args, **kwargs):
        output = super().__call__(*args, **kwargs)
        if hasattr(output, "video"):
            output.frames = output.video
        return output

    def complete_call(self, arguments: dict) -> None:
        """`UNSERVED` arguments refused, where given (``enable_sound`` where true); an image with a video too."""
        for name, what in UNSERVED.items():
            if arguments.get(name) is not None and arguments.get(name) is not False:
                raise VidlongError(f"vidlong serves Cosmos 3's videos; {what} ({name}) are not served: drop {name}")
        if arguments.get("image") is not None and arguments.get("video") is not None:
            raise VidlongError("Cosmos3OmniPipeline conditions on an image or on a video, not both: drop image= or video=")

    def call_defaults(self) -> dict:
        """The spec's, and its frame rate as the call's ``fps``."""
        return dict(super().call_defaults(), fps=self.spec.fps)

    def guards_video(self) -> bool:
        """Whether its safety checker is NVIDIA's guardrail (cosmos_guardrail's `CosmosSafetyChecker`), whose text and video
        checks its call runs (a folder whose ``enable_safety_checker`` is false has none, and its call checks nothing)."""
        return isinstance(self.safety_checker, pipeline_cosmos3_omni.CosmosSafetyChecker)

    def stream_guided(self, guidance: float) -> bool:
        """Guided wherever its call guides (its ``do_classifier_free_guidance``): at any scale but 1, below 1 too."""
        return guidance != 1

    def forwards_per_step(self, guidance: float) -> int:
        """Its call's forwards a step at `guidance`: the prompt's, and the negative prompt's where it guides."""
        return 2 if self.stream_guided(guidance) else 1

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[1, C, F, h, w]`` in float32, as its call holds its latents whatever the transformer's dtype."""
        return latents.float()

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """A `StreamText` of the prompts as given (the negative one first when `guided`; None: its call's ""): its call
        tokenizes them with the video's length and size, so each window's forward does (`stream_forward`). A prompt NVIDIA's
        guardrail finds unsafe is refused in one line, where it is its safety checker, as its call refuses it."""
        from ..streaming import StreamText

        if self.guards_video():
            refusing_unsafe(self.safety_checker.check_text_safety)(prompt)
        return StreamText(2 if guided else 1, dict(prompt=prompt, negative_prompt=negative_prompt))

    def stream_scheduler(self, steps: int, window: tuple, generator=None):
        """Its call's sampler over `steps`: its UniPC, at its native flow σ where its config says
        (``use_native_flow_schedule``: ``steps`` evenly spaced from ``1 - 1/T`` down, T its training timesteps)."""
        if not self.config.use_native_flow_schedule:
            return self.fresh_scheduler(steps)
        trained = self.scheduler.config.num_train_timesteps
        return self.fresh_scheduler(steps, sigmas=np.linspace(1.0 - 1.0 / trained, 0.0, steps + 1)[:-1])

    def stream_forward(self, transformer, latents, timestep, text, *, sigma, condition_latent=None):
        """Latents ``[B, C, f, h, w]`` (B 2: negative, then positive) at `timestep` (``[B]``, its sampler's) -> its velocity
        ``[B, C, f, h, w]`` as its call makes it: each sample its own packed sequence, the prompt tokenized for a video of
        the window's pixel frames and size at the spec's fps, then the window's tokens. Given `condition_latent` ``[1, C, n,
        h, w]`` (an image's latent, a clean context's), the window's first n frames are those clean latents under its
        condition mask (no timestep on their tokens), their velocity the flow's from them, ``(x - x_cond) / σ`` (0 where
        they are those latents already, as its call zeroes it), as its ``image=`` and ``video=`` calls condition."""
        batch, _, frames, height, width = latents.shape
        kept = 0 if condition_latent is None else condition_latent.shape[2]
        x = latents
        if kept:
            x = torch.cat([condition_latent.to(x).expand(batch, -1, -1, -1, -1), x[:, :, kept:]], dim=2)
        spatial, fps = self.vae_scale_factor_spatial, float(self.spec.fps)
        positive, negative = self.tokenize_prompt(
            text.kwargs["prompt"], text.kwargs["negative_prompt"], num_frames=pixel_frames(frames, self.vae_scale_factor_temporal),
            height=height * spatial, width=width * spatial, fps=fps)
        velocities = [self.packed_forward(transformer, sample[None], tokens, float(timestep[0]), list(range(kept)), fps)
                      for sample, tokens in zip(x, [negative, positive][-batch:])]
        velocity = torch.cat(velocities).float()
        if not kept:
            return velocity
        return torch.cat([(latents[:, :, :kept].float() - x[:, :, :kept].float()) / sigma, velocity[:, :, kept:]], dim=2)

    def packed_forward(self, transformer, latents, input_ids: list, timestep: float, clean: list, fps: float):
        """One packed forward of its call: the prompt's token ids `input_ids`, then the video `latents` ``[1, C, f, h, w]``
        (its latent frames `clean` kept clean: no timestep on their tokens), the others at `timestep`, positions by its call's
        helpers -> the video's velocity ``[1, C, f, h, w]``."""
        device = latents.device
        text = self._prepare_text_segment(input_ids, device=device)
        vision = self._prepare_vision_segment(input_vision_tokens=latents, has_image_condition=bool(clean),
                                              mrope_offset=text["vision_start_temporal_offset"], vision_fps=fps,
                                              curr=text["und_len"], device=device, condition_frame_indexes=clean)
        return transformer(
            input_ids=text["input_ids"], text_indexes=text["text_indexes"], und_len=text["und_len"],
            position_ids=torch.cat([text["text_mrope_ids"], vision["vision_mrope_ids"]], dim=1),
            sequence_length=text["und_len"] + vision["num_vision_tokens"], vision_tokens=[latents],
            vision_token_shapes=vision["vision_token_shapes"], vision_sequence_indexes=vision["vision_sequence_indexes"],
            vision_mse_loss_indexes=vision["vision_mse_loss_indexes"],
            vision_timesteps=torch.full((vision["num_noisy_vision_tokens"],), timestep, device=device),
            vision_noisy_frame_indexes=vision["vision_noisy_frame_indexes"], return_dict=False)[0][0]

    def prepare_latents(self, *args, latents=None, **kwargs):
        """Its own; given noise `latents` ``[1, C, F, h, w]`` with an image or a video to condition on (its call would take
        that noise as it is, the condition left out), its start ``m·x_0 + (1 - m)·ε`` from that noise ε: its own start ``x``
        made first (its own noise drawn and dropped), then ``m·x + (1 - m)·ε``, bit for bit its own sum (``x`` is ``x_0``
        where m is 1)."""
        if latents is None or (kwargs.get("image") is None and kwargs.get("video") is None):
            return super().prepare_latents(*args, latents=latents, **kwargs)
        made = super().prepare_latents(*args, **kwargs)
        start, mask = made[0], made[5]
        return (mask * start + (1.0 - mask) * latents.to(start), *made[1:])


class VidLongCosmos3OmniImageToVideoPipeline(VidLongCosmos3OmniPipeline):
    """`Cosmos3OmniPipeline` given an image (its ``image=``: a PIL image, a uint8 frame or a file's path), loaded for one
    (``task="i2v"``): its call resizes and centre-crops the image to the video's size, encodes it repeated to the video's
    length and keeps the first latent frame (Wan's causal VAE encodes it from the image alone) clean under its condition
    mask. No draw precedes the noise (the posterior's mode), so `generate` with no method is its ``image=`` call with that
    seed, bit for bit, at any length.

    It streams and extends with the clean context by default, as the text-to-video pipeline (`Cosmos3Streamer`): a chunk
    with no context (a new stream's first) has its first latent frame the image's latent (`image_condition`) clean under the
    condition mask, as its call keeps it; later windows hold the context (sinks, then window) clean under that mask, the
    image's frame its first. With ``context="renoise"``, every window's first latent frame is the image's latent so, the
    rest of the context re-noised."""

    task = "i2v"

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None) -> ConditioningFrame:
        """`vidlong.families.cosmos.ConditioningFrame` of the image's latent ``[1, C, 1, h, w]`` (float32) as its call makes it:
        the image resized and centre-cropped to `height` x `width` pixels as its call does, encoded alone (Wan's causal VAE
        encodes the first latent frame from the first pixel frame alone; the posterior's mode: no draw, `generator` and
        `frames` unused), normalised by the VAE's statistics; or of `latent` ``[1, C, 1, h, w]`` where it is made already
        (an extension's context's first frame)."""
        from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import _preprocess_conditioning_image

        from ..generate import load_image

        if latent is None:
            pixels = _preprocess_conditioning_image(load_image(image), height, width).to(self._execution_device)
            latent = self._encode_video(pixels[:, :, None]).float()
        return ConditioningFrame(latent)


class VidLongCosmos3OmniVideoToVideoPipeline(LastFramesContinuation, VidLongCosmos3OmniPipeline):
    """`Cosmos3OmniPipeline` given a video to continue (`vidlong.models.CONTINUING_PIPELINES`): its ``video=`` with
    ``condition_video_keep="last"`` (vidlong's default), which resizes the video to ``height`` x ``width``, encodes its last
    ``4·(n - 1) + 1`` pixel frames (``condition_frame_indexes_vision`` its default (0, 1): n 2, 5 frames) as the window's
    first n latent frames, kept clean, and makes the rest; the window of ``num_frames`` counts them. uint8 frames
    (``[T, H, W, 3]`` or a list) are read as 0-255, as PIL images are (`vidlong.pipeline_v2v.frame_list`). `generate`
    returns the video's frames (as its call resizes them), then the window's past those 5
    (`vidlong.pipeline_v2v.LastFramesContinuation`); with no method, the window is its call's, bit for bit."""

    continued_latent_frames = len(CONDITION_FRAMES)

    def call_defaults(self) -> dict:
        """The spec's, and ``condition_video_keep`` "last": the video's last frames are the window's first."""
        return dict(super().call_defaults(), condition_video_keep="last")

    def complete_call(self, arguments: dict) -> None:
        """uint8 frames as PIL images; one line for a video shorter than the 5 frames its call continues from (its call
        would repeat its last frame into them), for its first frames kept (``condition_video_keep`` "first": it continues
        the last) and for other kept latent frames than (0, 1)."""
        super().complete_call(arguments)
        frames = None if arguments.get("video") is None else frame_list(arguments["video"])
        if frames is None:
            return
        if arguments["condition_video_keep"] != "last":
            raise VidlongError("vidlong's Cosmos 3 video to video continues a video from its last frames: drop "
                               "condition_video_keep")
        if tuple(arguments.get("condition_frame_indexes_vision", CONDITION_FRAMES)) != CONDITION_FRAMES:
            raise VidlongError(f"vidlong's Cosmos 3 video to video keeps its call's latent frames {CONDITION_FRAMES} clean: "
                               "drop condition_frame_indexes_vision")
        arguments["video"] = frames
        check_continued_length(len(frames), pixel_frames(len(CONDITION_FRAMES), self.vae_scale_factor_temporal),
                               f"condition_frame_indexes_vision {CONDITION_FRAMES}")
