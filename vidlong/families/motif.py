"""Motif-Video under vidlong (`vidlong.families`): diffusers' `MotifVideoPipeline`."""
from __future__ import annotations

import numpy as np
import torch
from diffusers import MotifVideoPipeline
from diffusers.pipelines.motif_video.pipeline_motif_video import calculate_shift

from ..pipeline import VidlongPipelineMixin
from .guider import GuiderGuidance


class VidLongMotifVideoPipeline(GuiderGuidance, VidlongPipelineMixin, MotifVideoPipeline):
    """diffusers' `MotifVideoPipeline` (Motif-Video: a T5Gemma2 prompt joined to the video in every self-attention, Wan's
    VAE of 4x time and 8x space, its guidance from its ``guider`` component: `GuiderGuidance`) with vidlong's surface. Its
    VAE is Wan's, so `generate` decodes through Wan's streaming decoder, as for Wan.

    It streams and extends with the re-noised context: its prompt as T5Gemma2 states and their padding mask (its call's
    512 tokens; negative first when guided, the empty prompt where none is given, as its call does), its transformer's
    input the latents then zeros for the image condition's C channels and its mask's one (text to video, as its call
    builds it), its call's sigmas shifted by the window's token count (`calculate_shift`), flow matching's forward
    process, chunks decoded and encoded by Wan's VAE (the mixin's). A guider other than plain classifier-free guidance
    is refused in one line (`check_plain_guider`)."""

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
        """Latents ``[B, C, f, h, w]`` -> its prediction ``[B, C, f, h, w]``: its input the latents, then ``C + 1``
        channels of zeros (no image condition, no mask), as its text-to-video call builds it."""
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
