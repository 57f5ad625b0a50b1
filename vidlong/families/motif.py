"""Motif-Video under vidlong (`vidlong.families`): diffusers' `MotifVideoPipeline`, and what its image-to-video pipeline
(`motif_i2v`) shares with it."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import MotifVideoPipeline
from diffusers.pipelines.motif_video.pipeline_motif_video import calculate_shift

from ..pipeline import VidlongPipelineMixin
from .guider import GuiderGuidance


class MotifVideoFamily(GuiderGuidance):
    """What Motif-Video's pipelines (text and image to video) share under vidlong: their calls' guidance from their
    ``guider`` component (`GuiderGuidance`), and their streams and extensions with the re-noised context: the prompt as
    T5Gemma2 states and their padding mask (its call's 512 tokens; negative first when guided, the empty prompt where none
    is given, as its call does), its transformer's input the latents then C channels of image condition and its mask's one
    (zeros for text to video, as its call builds them), its call's sigmas shifted by the window's token count
    (`calculate_shift`), flow matching's forward process, chunks decoded and encoded by Wan's VAE (the mixin's). A guider
    other than plain classifier-free guidance is refused in one line (`check_plain_guider`)."""

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """T5Gemma2 states and mask ``[B, T, D]``, ``[B, T]`` (T = 512, padded tokens masked), negative first when
        `guided`."""
        from ..streaming import StreamText

        self.check_plain_guider()
        states, negative, mask, negative_mask = self.encode_prompt(prompt, (negative_prompt or "") if guided else None,
                                                                   device=self.device, dtype=self.transformer.dtype)
        if guided:
            states, mask = torch.cat([negative, states]), torch.cat([negative_mask, mask])
        return StreamText(states.shape[0], dict(encoder_hidden_states=states, encoder_attention_mask=mask))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]``, or with an image condition's channels ``[B, 2C + 1, f, h, w]`` -> its prediction
        ``[B, C, f, h, w]``: the ``C + 1`` channels a text-to-video forward leaves empty are zeros (no image condition, no
        mask), as its text-to-video call builds them; an image condition's `extra` (its SigLIP states, ``image_embeds``)
        goes to the transformer as it is."""
        empty = transformer.config.in_channels - latents.shape[1]
        hidden = torch.cat([latents, latents.new_zeros(latents.shape[0], empty, *latents.shape[2:])], dim=1)
        return transformer(hidden_states=hidden.to(transformer.dtype), timestep=timestep, return_dict=False,
                           **text.kwargs, **extra)[0]

    def stream_scheduler(self, steps, window, generator=None):
        """Its call's sigmas (1 down to 1/steps), shifted by the video tokens of the window the forwards see
        (`calculate_shift`, where its scheduler shifts dynamically)."""
        config, (p_t, p_h, p_w) = self.scheduler.config, self.geometry().patch
        tokens = window[2] // p_t * (window[3] // p_h) * (window[4] // p_w)
        mu = calculate_shift(tokens, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                             config.get("base_shift", 0.5), config.get("max_shift", 1.15))
        return self.fresh_scheduler(sigmas=np.linspace(1.0, 1 / steps, steps), mu=mu)


class VidLongMotifVideoPipeline(MotifVideoFamily, VidlongPipelineMixin, MotifVideoPipeline):
    """diffusers' `MotifVideoPipeline` (Motif-Video: a T5Gemma2 prompt joined to the video in every self-attention, Wan's
    VAE of 4x time and 8x space, its guidance from its ``guider`` component) with vidlong's surface (`MotifVideoFamily`).
    Its VAE is Wan's, so `generate` decodes through Wan's streaming decoder, as for Wan."""
