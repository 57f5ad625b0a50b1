"""Where each token of a video self-attention sits on the latent grid.

Units: every frame count here is in *token frames* (latent frames divided by the transformer's
temporal patch size; for Wan, patch (1, 2, 2), token frames = latent frames).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TokenLayout:
    """The token grid of one video self-attention.

    Tokens are flattened frame-major, as diffusers' Wan does (`patchify -> flatten(2)`): token index
    ``n = f * height * width + h * width + w``.

    Attributes:
        frames: F, token frames in this forward.
        height: token rows per frame (latent height / patch height).
        width: token columns per frame (latent width / patch width).
        native_frames: L, the token frames the model was trained on (its native window).
    """

    frames: int
    height: int
    width: int
    native_frames: int

    def __post_init__(self):
        if min(self.frames, self.height, self.width, self.native_frames) < 1:
            raise ValueError(f"every size of a TokenLayout must be >= 1, got {self}")

    @property
    def grid(self) -> tuple[int, int, int, int]:
        """``(frames, height, width, native_frames)``: the layout as plain ints, to key caches and compare
        by under torch.compile (dynamo in torch 2.11 hashed a layout made inside the traced forward before
        its fields were set, when a graph break made it rebuild a dict keyed by it)."""
        return (self.frames, self.height, self.width, self.native_frames)

    @property
    def tokens_per_frame(self) -> int:
        return self.height * self.width

    @property
    def num_tokens(self) -> int:
        return self.frames * self.tokens_per_frame

    @property
    def ratio(self) -> float:
        """Length as a multiple of the native window (F / L)."""
        return self.frames / self.native_frames

    def frame_of(self, token_index):
        """Frame of a token index (int or integer tensor)."""
        return token_index // self.tokens_per_frame

    @classmethod
    def from_latents(cls, latent_shape, patch_size, native_latent_frames: int) -> "TokenLayout":
        """Layout of latents ``[B, C, F_latent, H_latent, W_latent]`` under a patch ``(p_t, p_h, p_w)``."""
        _, _, f, h, w = latent_shape
        p_t, p_h, p_w = patch_size
        return cls(f // p_t, h // p_h, w // p_w, max(1, native_latent_frames // p_t))
