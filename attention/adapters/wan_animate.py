"""Wan Animate (`WanAnimateTransformer3DModel`, Wan2.2-Animate-14B): Wan's blocks over a grid whose first latent frame is
the character's reference image and the others one segment of the video (each with its pose latents added); vidlong's
methods act on the blocks' self-attention over all of them, the reference frame being the grid's first. Its face adapters
(each latent frame's tokens attending to that frame's face motion) stay as they are. Its pipeline drives every segment by
the pose and face videos and chains segments itself, so it does not stream, and its one prompt is not split by a
timeline."""
from __future__ import annotations

from .wan import WanAdapter


class WanAnimateAdapter(WanAdapter):
    name = "wan-animate"
    transformer_class = "WanAnimateTransformer3DModel"
    stream_contexts = ()
    no_stream_reason = ("its pose and face videos drive every segment, and its own call makes a video as long as them, "
                        "segment after segment (vidlong generate --pose-video --face-video)")
    timestep_per_token = False  # its forward embeds one timestep per sample (diffusers 0.42)
    prompt_timeline = False


WAN_ANIMATE = WanAnimateAdapter()
