"""The experiment of RESULTS.md's "Where the causal stream's vanish events fall" (session 74), its follow-up: every
chunk after the first guided at ``FIRST_GUIDANCE`` on its first latent frame (where most objects were lost) and at the
stream's guidance on the others; then `vanish_phase`'s count of where objects vanish and appear.

    FIRST_GUIDANCE=7.5 OMP_NUM_THREADS=1 python benchmarks/quality_causal_vanish/first_frame_guidance.py 0,1,2,3 8 20 OUT.json
"""
import os
import sys

import torch

sys.path.append(os.path.dirname(os.path.abspath(__file__)))
sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

from vanish_phase import main  # noqa: E402
from vidlong.streaming import VideoStreamer  # noqa: E402

FIRST_GUIDANCE = float(os.environ["FIRST_GUIDANCE"])
stock_guided = VideoStreamer._guided


def guided_first_frame_more(self, uncond, cond, guidance):
    """`VideoStreamer._guided` of a chunk's predictions ``[B, C, frames, h, w]`` with a guidance per latent frame: its
    first at `FIRST_GUIDANCE` once the stream has made frames before it (the first chunk, which starts the video, as it was)."""
    if self.remembered == 0:
        return stock_guided(self, uncond, cond, guidance)
    scale = torch.full((1, 1, cond.shape[2], 1, 1), float(guidance), dtype=cond.dtype, device=cond.device)
    scale[:, :, 0] = FIRST_GUIDANCE
    return stock_guided(self, uncond, cond, scale)


VideoStreamer._guided = guided_first_frame_more

if __name__ == "__main__":
    main(*sys.argv[1:5])
