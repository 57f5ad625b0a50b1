"""ConsisID (`ConsisIDTransformer3DModel`): CogVideoX-5B's blocks (``transformer_blocks[i].attn1``, the joint
self-attention over the text tokens then the video tokens of its latents ``[B, F, C, H, W]``, patch ``(1, p, p)``, its 3D
RoPE on the video tokens; `CogVideoXAttnProcessor2_0`), so CogVideoX's adapter serves it. Where its config has
``is_train_face``, its local facial extractor turns the face tensors (``id_cond``, ``id_vit_hidden``) into identity tokens
that a perceiver cross-attention adds to the video tokens after every ``cross_attn_interval``-th block: those modules are
not attention processors and stay stock; vidlong's methods act on the blocks' video self-attention alone, and the identity
reaches every token frame alike, past the native window too."""
from __future__ import annotations

from .cogvideox import CogVideoXAdapter


class ConsisIDAdapter(CogVideoXAdapter):
    name = "consisid"
    transformer_class = "ConsisIDTransformer3DModel"


CONSISID = ConsisIDAdapter()
