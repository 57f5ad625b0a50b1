"""Kandinsky 5.0 Video under vidlong (`vidlong.families`): what its pipelines share (`Kandinsky5Family`) and diffusers'
`Kandinsky5T2VPipeline`; its image to video in `kandinsky5_i2v`."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import Kandinsky5T2VPipeline

from ..pipeline import VidlongPipelineMixin
from .common import ChannelsLastNoise
from .hunyuan import HunyuanVideoVAE

#: the negative prompt its call guides away from where it is given none (its call's own)
DEFAULT_NEGATIVE_PROMPT = ("Static, 2D cartoon, cartoon, 2d animation, paintings, images, worst quality, low quality, ugly, "
                           "deformed, walking backwards")


class Kandinsky5Family(ChannelsLastNoise, HunyuanVideoVAE):
    """What Kandinsky 5.0 Video's pipelines (text and image to video) share under vidlong: HunyuanVideo's VAE of 4x time and
    8x space (`HunyuanVideoVAE`), channels-last latents ``[B, F, h, w, C]`` (its noise drawn so: `ChannelsLastNoise`), and
    a transformer that takes a visual condition where its config has ``visual_cond`` (C more channels, zeros in its calls,
    then a mask channel: 1 on the image's latent frame; `model_latents`).

    They stream and extend with the re-noised context: its prompt as Qwen2.5-VL states of their own length and CLIP's
    pooled states (its call's default negative prompt where none is given), each prompt of a guided batch through its own
    forward as its call runs them (its text attends with no padding mask), its call's sampler (the scheduler's own
    timesteps), flow matching's forward process."""

    #: latent frames the image holds at a window's start (the mask channel's 1s): none from text alone
    image_frames = 0

    def model_latents(self, latents: torch.Tensor, image_frames: int) -> torch.Tensor:
        """Channels-last latents ``[B, F, h, w, C]`` as its transformer takes them: with ``visual_cond``, C zero channels
        and a mask channel (1 on the first `image_frames` latent frames) after them, ``[B, F, h, w, 2C + 1]``, as its calls'
        `prepare_latents` build them; else unchanged."""
        if not self.transformer.config.visual_cond:
            return latents
        mask = latents.new_zeros(*latents.shape[:-1], 1)
        mask[:, :image_frames] = 1
        return torch.cat([latents, torch.zeros_like(latents), mask], dim=-1)

    def call_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Noise ``[B, C, F, h, w]`` as its text-to-video call takes ``latents=``: channels last, with the zero condition
        its `prepare_latents` gives the noise it draws (`model_latents`)."""
        return self.model_latents(latents.permute(0, 2, 3, 4, 1).contiguous(), 0)  # its patch embedding views them

    def grid_latents(self, latents: torch.Tensor, frames: int, height: int, width: int) -> torch.Tensor:
        """Its latents or prediction ``[B, F, h, w, C']`` as ``[B, C, F, h, w]``: the condition channels dropped."""
        return latents[..., :self.transformer.config.in_visual_dim].permute(0, 4, 1, 2, 3)

    def stream_text(self, prompt, negative_prompt, guided, guidance):
        """Qwen2.5-VL states ``[B, T, D]`` zero-padded to the longer prompt with each prompt's length ``[B]``, CLIP's pooled
        states ``[B, D']``; negative first when `guided`."""
        from ..streaming import StreamText

        prompts = [negative_prompt or DEFAULT_NEGATIVE_PROMPT, prompt] if guided else [prompt]
        encoded = [self.encode_prompt(text, device=self.device, dtype=self.transformer.dtype) for text in prompts]
        longest = max(states.shape[1] for states, _, _ in encoded)
        return StreamText(len(prompts), dict(
            encoder_hidden_states=torch.cat([F.pad(states, (0, 0, 0, longest - states.shape[1])) for states, _, _ in encoded]),
            text_lengths=torch.tensor([states.shape[1] for states, _, _ in encoded], device=self.device),
            pooled_projections=torch.cat([pooled for _, pooled, _ in encoded])))

    def stream_forward(self, transformer, latents, timestep, text, **extra):
        """Latents ``[B, C, f, h, w]`` (an image-to-video window's first frame the image's latent) -> its prediction
        ``[B, C, f, h, w]``: each sample through its own forward, its condition channels after the latents
        (`model_latents`), its prompt unpadded, the RoPE positions, scale and sparse parameters its call gives a window of
        this size."""
        frames, height, width = latents.shape[2:]
        _, p_h, p_w = transformer.config.patch_size
        spatial = self.vae_scale_factor_spatial
        device = latents.device
        rope = [torch.arange(frames, device=device), torch.arange(height // p_h, device=device),
                torch.arange(width // p_w, device=device)]
        window = self.model_latents(latents.permute(0, 2, 3, 4, 1).contiguous(), self.image_frames)
        scale, sparse = self._get_scale_factor(height * spatial, width * spatial), self.get_sparse_params(window, device)
        kwargs = text.kwargs
        preds = []
        for sample, length in enumerate(kwargs["text_lengths"].tolist()):
            preds.append(transformer(hidden_states=window[sample:sample + 1], timestep=timestep[sample:sample + 1],
                                     encoder_hidden_states=kwargs["encoder_hidden_states"][sample:sample + 1, :length],
                                     pooled_projections=kwargs["pooled_projections"][sample:sample + 1], visual_rope_pos=rope,
                                     text_rope_pos=torch.arange(length, device=device), scale_factor=scale,
                                     sparse_params=sparse, return_dict=False))  # return_dict=False: the tensor itself
        return self.grid_latents(torch.cat(preds), frames, height, width)


class VidLongKandinsky5T2VPipeline(Kandinsky5Family, VidlongPipelineMixin, Kandinsky5T2VPipeline):
    """diffusers' `Kandinsky5T2VPipeline` (Kandinsky 5.0 Video: Qwen2.5-VL text by cross-attention, a pooled CLIP prompt)
    with vidlong's surface (`Kandinsky5Family`)."""
