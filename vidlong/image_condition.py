"""What an image-to-video transformer takes besides the noisy latents, for the windows of a stream or a
fifo queue. Each image-to-video pipeline makes its condition (`image_condition`); the two kinds here say
how it enters a forward.

A streamed window always starts at the video's first frame (sink 0, a context each window holds: re-noised, or clean; see
`Streaming.context`), so the image sits at window position 0, as in the pipeline's own calls:
- `ChannelCondition` (Wan2.1 I2V, Wan2.2 I2V A14B, CogVideoX I2V, HunyuanVideo 1.5 I2V, Motif-Video I2V, EasyAnimate
  InP): condition channels are concatenated to the latents' channels: Wan's 4 mask channels (1 on frame 0) and the VAE
  latents of ``[image, black frames...]``, CogVideoX's image latent on frame 0 and zeros after, HunyuanVideo 1.5's and
  Motif-Video's image latent on frame 0 and zeros after then a mask channel (1 on frame 0), EasyAnimate's mask latent
  then the latents of ``[image, frames of -1...]`` (its transformer takes them as ``inpaint_latents``); Wan2.1 also passes the
  image's CLIP features (`encoder_hidden_states_image`), HunyuanVideo 1.5 and Motif-Video their SigLIP features
  (`image_embeds`).
- `FirstFrameLatent` (Wan2.2 TI2V-5B, LTX-Video, SkyReels-V2 DF, LTX-2): frame 0's latent is replaced by the image's
  latent and its tokens get timestep 0; HunyuanVideo-I2V's ``token_replace`` and Kandinsky 5's replace it alone (the
  former's transformer gives its tokens timestep 0 itself, the latter's call leaves them at the window's, marked by a
  mask channel).

Units: latent frames; a window's frames are ``0 .. n - 1`` from the video's first. A forward hands the condition its
window's latent frames in the video too (`hidden_states`' `frames`), which a condition of each frame reads (Lucy Edit's
`vidlong.edit_stream.EditCondition`) and these do not.
"""
from __future__ import annotations

from typing import Optional

import torch


class ImageCondition:
    """What the image conditions below answer alike: a chunk's start noise, and no extra transformer arguments."""

    def start(self, noise: torch.Tensor) -> torch.Tensor:
        """A chunk's start noise ``[1, C, f, h, w]`` as the pipeline's call starts from it: unchanged."""
        return noise

    def extra(self, batch: int) -> dict:
        """Extra transformer keyword arguments: none."""
        return {}


class ChannelCondition(ImageCondition):
    """The image as extra input channels of every latent frame (Wan2.1/2.2 I2V, CogVideoX I2V, HunyuanVideo 1.5 I2V,
    Motif-Video I2V, EasyAnimate InP).

    Args:
        condition: ``[1, K, F, h, w]``: the condition channels of windows of up to F frames (Wan: 4 mask + C
            image-latent channels; CogVideoX: C; HunyuanVideo 1.5, Motif-Video: C + 1 mask; EasyAnimate: its mask's
            1 (or C) + C masked-video channels).
        image_embeds: the image's encoder features ``[1, T, D]`` (Wan2.1 I2V's CLIP, HunyuanVideo 1.5's and Motif-Video's
            SigLIP), or None.
        embeds_argument: the transformer's keyword argument that takes `image_embeds`.
    """

    def __init__(self, condition: torch.Tensor, image_embeds: Optional[torch.Tensor] = None,
                 embeds_argument: str = "encoder_hidden_states_image"):
        self.condition, self.image_embeds, self.embeds_argument = condition, image_embeds, embeds_argument

    def hidden_states(self, latents: torch.Tensor, frames=None) -> torch.Tensor:
        """The transformer input for window latents ``[B, C, n, h, w]``: ``[B, C + K, n, h, w]``, by window position (the
        window starts at the video's first frame: its latent `frames` in the video are not read)."""
        n = latents.shape[2]
        condition = self.condition[:, :, :n].to(latents).expand(latents.shape[0], -1, -1, -1, -1)
        return torch.cat([latents, condition], dim=1)

    def timestep_mask(self, frames: int, patch) -> None:
        """No per-token timesteps: every token takes the window's."""
        return None

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        """A denoised window that starts the video, unchanged (the image conditions it through channels)."""
        return latents

    def extra(self, batch: int) -> dict:
        """Extra transformer keyword arguments (the image's features, repeated over the batch)."""
        if self.image_embeds is None:
            return {}
        return {self.embeds_argument: self.image_embeds.expand(batch, -1, -1)}


class FirstFrameLatent(ImageCondition):
    """The image as the video's first latent frame, clean (Wan2.2 TI2V-5B, LTX-Video).

    Args:
        latent: the image's normalised latent ``[1, C, 1, h, w]``.
    """

    def __init__(self, latent: torch.Tensor):
        self.latent = latent

    def hidden_states(self, latents: torch.Tensor, frames=None) -> torch.Tensor:
        """Window latents ``[B, C, n, h, w]`` with frame 0 replaced by the image's latent (by window position: `frames`,
        the window's latent frames in the video, are not read)."""
        image = self.latent.to(latents).expand(latents.shape[0], -1, -1, -1, -1)
        return torch.cat([image, latents[:, :, 1:]], dim=2)

    def timestep_mask(self, frames: int, patch) -> torch.Tensor:
        """Per-token timestep factors ``[tokens]``, 0 on frame 0's tokens and 1 elsewhere; tokens are the
        window's `frames` x the latent grid divided by the transformer's `patch` ``(t, h, w)``, frame-major."""
        h, w = self.latent.shape[3:]
        mask = torch.ones(frames, -(-h // patch[1]), -(-w // patch[2]), device=self.latent.device)
        mask[0] = 0
        return mask.flatten()

    def first_frame(self, latents: torch.Tensor) -> torch.Tensor:
        """A denoised window that starts the video: its frame 0 is the image's latent (as the pipelines end)."""
        return self.hidden_states(latents)


def token_timesteps(frame_steps: torch.Tensor, shape: tuple, patch, condition=None) -> torch.Tensor:
    """Per-token timesteps ``[tokens]`` of a window of latents of `shape` ``(B, C, f, h, w)``: each token frame's
    step (`frame_steps` ``[f // patch_t]``) on its tokens (frame-major, the latent grid divided by the transformer's
    `patch` ``(t, h, w)``), times the condition's timestep mask (0 on a clean first frame's tokens), if any."""
    _, _, f, h, w = shape
    per_token = frame_steps.repeat_interleave((h // patch[1]) * (w // patch[2]))
    mask = None if condition is None else condition.timestep_mask(f, patch)
    return per_token if mask is None else per_token * mask.to(per_token)
