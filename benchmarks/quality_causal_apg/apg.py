"""The experiment of RESULTS.md's "Projected guidance" (session 74): `training.compare_streams` with every streamed
chunk's classifier-free guidance made adaptive-projected (APG, Sadat et al. 2024) in the clean-latent space: the
guidance update ``D_c - D_u`` of the predicted clean latents loses its part parallel to ``D_c`` (kept at ``APG_ETA``,
0: none), so that high guidance pushes towards the prompt without the saturation and duplicates plain guidance brings.
``D = x_t - sigma·v`` for Wan's flow prediction `v` at ``sigma = timestep / 1000``; the result goes back to a velocity.
``APG_ETA=1`` is plain guidance.

    APG_ETA=0 OMP_NUM_THREADS=1 python benchmarks/quality_causal_apg/apg.py \
        --models default-causal --guidance 6 --ratios 4 --seeds 20 --prompt-set vidlong --device cpu --out OUT.json
"""
import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

import torch  # noqa: E402

from training.compare_streams import main  # noqa: E402
from vidlong.streaming import VideoStreamer  # noqa: E402

APG_ETA = float(os.environ["APG_ETA"])


def projected_guidance(latents, uncond, cond, timestep, guidance):
    """APG's guided velocity ``[B, C, F, H, W]`` from the unguided and prompted ones at `timestep` (Wan's units)."""
    sigma = float(timestep) / 1000.0
    x = latents.to(cond.device, torch.float32)
    clean_u, clean_c = x - sigma * uncond, x - sigma * cond
    update = clean_c - clean_u
    unit = clean_c / clean_c.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1, 1)
    parallel = (update * unit).flatten(1).sum(1).view(-1, 1, 1, 1, 1) * unit
    clean = clean_c + (guidance - 1.0) * (update - (1.0 - APG_ETA) * parallel)
    return (x - clean) / sigma


def predict_with_apg(self, latents, timestep, text, frames):
    """`VideoStreamer._predict` with APG in place of plain classifier-free guidance."""
    expert = self.pipe.expert_at(float(timestep))
    pred = self._run(expert, latents, timestep, text, False, frames)
    if not self.cfg:
        return pred
    uncond, cond = pred.float().chunk(2)
    if float(timestep) <= 0:  # no noise left to project against (the causal levels never reach 0)
        return self._guided(uncond, cond, self.guidances[expert])
    return projected_guidance(latents, uncond, cond, timestep, self.guidances[expert])


VideoStreamer._predict = predict_with_apg

if __name__ == "__main__":
    main()
