"""LTX-2 under vidlong (`vidlong.families`): diffusers' `LTX2Pipeline` (LTX-2.0, 2.3), text to video with its audio track,
and `LTX2ImageToVideoPipeline` (the same weights; an image as the first frame).

vidlong's methods act on the video's self-attention (`vidlong.attention.adapters.ltx2`); the audio's own attention, and
the attention between audio and video, stay the model's. Its call makes the video and the audio of the same length in
one go, with its guidance as diffusers sets it (classifier-free, spatio-temporal and modality guidance: three forwards,
four samples, a step, each through the methods). A prompt timeline splits its text connectors by segment
(`SegmentedConnectors`) and its video's and audio's text cross-attentions by time (`vidlong.timeline`). Streams (from
text or an image) make each chunk by a call of its pipeline, with its sound (`vidlong.families.ltx2_stream`); so do
extensions, their context the input's last frames encoded by its video VAE, their output's sound the input's track for its
part, then the new sound, which does not continue it (diffusers has no path from a waveform to its audio VAE's input).
"""
from __future__ import annotations

import contextlib
from typing import Optional

import numpy as np
import torch
from diffusers import LTX2ImageToVideoPipeline, LTX2Pipeline
from diffusers.hooks import HookRegistry, ModelHook

from ..image_condition import FirstFrameLatent
from ..pipeline import VidlongPipelineMixin
from ..video_io import Soundtrack
from .common import quiet
from .ltx import LTXFamily
from .ltx2_stream import LTX2Streamer


class SegmentedConnectors(ModelHook):
    """On LTX-2's text connectors: the encoding ``[B, S·T, ...]`` and mask ``[B, S·T]`` of `segments` texts one after another
    go through the connectors one segment at a time (none sees another's tokens), their outputs (video and audio text
    states ``[B, T, C]``, mask ``[B, T]``) joined again."""

    name = "vidlong_timeline_text"

    def __init__(self, segments: int):
        super().__init__()
        self.segments = segments

    def new_forward(self, module, hidden_states, attention_mask, *args, **kwargs):
        original = self.fn_ref.original_forward
        pieces = [original(h, m, *args, **kwargs) for h, m in zip(hidden_states.chunk(self.segments, dim=1),
                                                                   attention_mask.chunk(self.segments, dim=1))]
        return tuple(torch.cat(parts, dim=1) for parts in zip(*pieces))


class LTX2Family(LTXFamily):
    """What LTX-2's pipelines share under vidlong. As LTX-Video's: ``frame_rate`` defaults to the spec's fps, its latents
    are packed tokens ``[B, N, C]``."""

    makes_audio = True
    chunk_streamer = LTX2Streamer  # each chunk one call of its pipeline, with its sound
    text_tokens = 1024  # its call's max_sequence_length

    def timeline_prompt_arguments(self, prompts, negative_prompt, guided):
        """LTX-Video's, the negative prompt's too at any guidance: its call runs classifier-free guidance for its audio
        (scale 7) even where the video's is 1."""
        return super().timeline_prompt_arguments(prompts, negative_prompt, True)

    @contextlib.contextmanager
    def segmented_text(self, segments: int):
        """Within it, its text connectors (a small transformer over a prompt's encoding, with learned registers in its
        padding) run on each of a timeline's `segments` texts apart, as each would alone (`SegmentedConnectors`)."""
        if segments < 2:
            yield
            return
        registry = HookRegistry.check_if_exists_or_initialize(self.connectors)
        registry.register_hook(SegmentedConnectors(segments), SegmentedConnectors.name)
        try:
            yield
        finally:
            registry.remove_hook(SegmentedConnectors.name, recurse=False)

    def __call__(self, *args, **kwargs):
        """Its call (`VidlongPipelineMixin`); given packed latents, as `generate` gives them, without its warning that it
        cannot read their grid from them (its size arguments give it)."""
        latents = kwargs.get("latents")
        with quiet("diffusers.pipelines.ltx2") if latents is not None and latents.ndim == 3 else contextlib.nullcontext():
            return super().__call__(*args, **kwargs)

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """Packed tokens ``[B, N, C']`` (vidlong's: the start of its loop, as they are), or ``[B, C, F, h, w]`` (diffusers': a
        VAE's latents, which its call normalises and packs)."""
        packed = super().latents_shapes(arguments, batch)
        return packed and (*packed, self.latents_grid(arguments, batch))

    def audio_latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """The shapes its call's ``audio_latents=`` may have in a call with `arguments` (by name, completed) making `batch`
        videos: its audio VAE's latents ``[B, C, L, M]`` of any length L (its call makes its sound that long), or packed
        ``[B, L, C·M]`` of the length it makes for the video's seconds (``num_frames / frame_rate`` at its audio latents'
        rate; its call cannot read another from them); () without an audio VAE."""
        vae = getattr(self, "audio_vae", None)
        if vae is None:
            return ()
        channels, bins = vae.config.latent_channels, vae.config.mel_bins // self.audio_vae_mel_compression_ratio
        frames, rate = arguments.get("num_frames"), arguments.get("frame_rate")
        if frames is None or not rate:
            return ((batch, channels, None, bins),)
        per_second = self.audio_sampling_rate / self.audio_hop_length / float(self.audio_vae_temporal_compression_ratio)
        return (batch, channels, None, bins), (batch, round(frames / rate * per_second), channels * bins)

    def forwards_per_step(self, guidance: float) -> int:
        """With its call's guidance settings as diffusers sets them: classifier-free guidance (its audio's scale 7 runs it
        even at a video guidance of 1: two samples), spatio-temporal guidance (one more) and modality isolation (one
        more)."""
        return 4

    def decode_audio(self, latents: torch.Tensor) -> torch.Tensor:
        """De-normalised audio latents ``[B, C, L, M]`` (its call's ``output_type="latent"`` audio) -> its vocoder's
        waveform ``[B, channels, samples]``: its audio VAE, then its vocoder, as its decoding call runs them, on the device
        the audio VAE takes its inputs on (`common.input_device`, as `LTXFamily.decode_raw`)."""
        from .common import input_device

        vae = self.audio_vae
        return self.vocoder(vae.decode(latents.to(input_device(self, vae), vae.dtype), return_dict=False)[0])

    def latent_output(self, latents: torch.Tensor, audio_latents: torch.Tensor, num_frames: int, frame_rate: float) -> tuple:
        """(de-normalised video latents ``[B, C, F, h, w]``, waveform ``[B, channels, samples]``) of a call's
        ``output_type="latent"`` output (its `latents` and `audio_latents`) of `num_frames` pixel frames at `frame_rate`:
        its latents as they come, its audio latents through `decode_audio` (the sound its decoding call makes of them)."""
        return latents, self.decode_audio(audio_latents)

    def soundtrack(self, output) -> Optional[Soundtrack]:
        """The first video's audio of a call's `output` (its vocoder's waveform ``[B, channels, samples]`` at the vocoder's
        rate), or None where the call returned latents."""
        audio = getattr(output, "audio", None)
        if audio is None or audio.ndim != 3:
            return None
        return Soundtrack(audio[0].float().clamp(-1, 1).cpu().numpy(), int(self.vocoder.config.output_sampling_rate))


class VidLongLTX2Pipeline(LTX2Family, VidlongPipelineMixin, LTX2Pipeline):
    """diffusers' `LTX2Pipeline` with vidlong's surface. Given ``latents=`` its call still draws (and drops) its noise, so
    `generate` hands it the generator as it was before its own noise draw (`call_redraws_from`) and the audio's noise
    is the stock call's with that seed."""

    call_redraws_from = "noise"


class VidLongLTX2ImageToVideoPipeline(LTX2Family, VidlongPipelineMixin, LTX2ImageToVideoPipeline):
    """diffusers' `LTX2ImageToVideoPipeline` (the text-to-video weights, with an image as the first frame) with vidlong's
    surface: the image's latent is the video's first latent frame, clean (its tokens at timestep 0), as its call
    conditions it. Given packed ``latents=`` (`check_inputs`) its call takes them as they are (no draw), so vidlong puts
    the image's latent into their first frame (`image_in_start_latents`)."""

    task = "i2v"
    image_in_start_latents = True

    def check_inputs(self, *args, latents=None, **kwargs):
        """Its own checks, with packed latents ``[B, N, C]`` allowed too (its own refuses them): its call takes them as the
        start of its loop, as they are (no draw), which `generate` gives it; ``[B, C, F, h, w]`` latents keep their
        meaning in diffusers (a VAE's latents, normalised by the call)."""
        super().check_inputs(*args, latents=None if latents is not None and latents.ndim == 3 else latents, **kwargs)

    @torch.no_grad()
    def image_condition(self, image, height: int, width: int, frames: int, generator=None, latent=None):
        """`FirstFrameLatent` of the image's latent as its call makes it (`frames` unused): re-compressed with H.264 at its
        release's CRF (PyAV; 33 for the Gemma 3 releases), resized, encoded by the VAE's mode (no draw: `generator` unused)
        and normalised; or of `latent` ``[1, C, 1, h, w]`` where it is made already."""
        import PIL.Image
        from diffusers.pipelines.ltx2.utils import apply_image_conditioning_crf, resolve_default_image_crf
        from diffusers.pipelines.ltx.pipeline_ltx_image2video import retrieve_latents

        from ..generate import load_image

        if latent is not None:
            return FirstFrameLatent(latent)
        picture, crf = load_image(image), resolve_default_image_crf(self.text_encoder)
        if crf:
            picture = PIL.Image.fromarray(apply_image_conditioning_crf(np.array(picture), crf))
        pixels = self.video_processor.preprocess(picture, height=height, width=width)
        pixels = pixels.to(self._execution_device, self.text_encoder.dtype)
        vae = self.vae
        z = retrieve_latents(vae.encode(pixels.unsqueeze(2)), generator, "argmax").float()
        return FirstFrameLatent(self._normalize_latents(z, vae.latents_mean, vae.latents_std))
