"""The experiment of RESULTS.md's "Correlated starting noise for each chunk" (session 72):
`training.compare_streams` with each chunk's starting noise drawn as ``c·previous + sqrt(1 - c²)·fresh`` (``previous``:
the chunk before's starting noise, latent frame for latent frame; ``fresh``: the noise the stream draws anyway, so
``NC=0`` is the stock stream draw for draw), as fifo's `noise_correlation` does for the frames joining its queue.

    NC=0.5 OMP_NUM_THREADS=1 python benchmarks/quality_causal_noise/correlated_noise.py \
        --models default-causal --guidance 4.5 --ratios 4 --seeds 20 --prompt-set vidlong --device cpu --out OUT.json
"""
import math
import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

import vidlong.streaming as streaming  # noqa: E402
from training.compare_streams import main  # noqa: E402

CORRELATION = float(os.environ["NC"])
stock_starting_point = streaming.VideoStreamer._starting_point


def correlated_starting_point(self, noise, scheduler):
    """`VideoStreamer._starting_point` from the chunk's noise correlated with the previous chunk's ``[1, C, f, h, w]``."""
    previous = getattr(self, "previous_noise", None)
    if previous is not None and previous.shape == noise.shape:
        noise = CORRELATION * previous + math.sqrt(1 - CORRELATION ** 2) * noise
    self.previous_noise = noise
    return stock_starting_point(self, noise, scheduler)


streaming.VideoStreamer._starting_point = correlated_starting_point

if __name__ == "__main__":
    main()
