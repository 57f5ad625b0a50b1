"""The experiment of RESULTS.md's "The cache written from slightly noised frames" (session 72): `training.compare_streams`
with every write of a causal stream's KV cache made from its frames re-noised to timestep ``T`` (the stream's own forward
process, noise from a generator of its own so that the stream's draws are unchanged) and at that timestep, instead of
clean at 0: Diffusion Forcing's way of keeping a model from trusting its own generated past.

    CTX_T=50 OMP_NUM_THREADS=1 python benchmarks/quality_causal_context_noise/noisy_cache.py \
        --models default-causal --guidance 4.5 --ratios 4 --seeds 20 --prompt-set vidlong --device cpu --out OUT.json
"""
import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

import torch  # noqa: E402

import vidlong.streaming as streaming  # noqa: E402
from training.compare_streams import main  # noqa: E402

CONTEXT_T = float(os.environ["CTX_T"])
stock_run = streaming.VideoStreamer._run


def run_writing_noised(self, expert, latents, timestep, text, writing, frames):
    """`VideoStreamer._run`, a cache write's clean latents re-noised to `CONTEXT_T` and written at that timestep."""
    if writing and CONTEXT_T > 0:
        if not hasattr(self, "context_generator"):
            self.context_generator = torch.Generator().manual_seed(10_000 + self.seed)
        noise = torch.randn(latents.shape, generator=self.context_generator).to(latents.device)
        latents, timestep = self._renoise(latents, noise, CONTEXT_T), CONTEXT_T
    return stock_run(self, expert, latents, timestep, text, writing, frames)


streaming.VideoStreamer._run = run_writing_noised

if __name__ == "__main__":
    main()
