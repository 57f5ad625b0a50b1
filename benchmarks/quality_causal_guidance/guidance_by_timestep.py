"""The experiment of RESULTS.md's "A stream's guidance by timestep" (session 71): `training.compare_streams` with each
stream's classifier-free guidance chosen by the step's timestep, ``GS="HI:LO:T"``: HI at timesteps >= T, LO below.

    GS=6:3:500 OMP_NUM_THREADS=1 python benchmarks/quality_causal_guidance/guidance_by_timestep.py \
        --models default-causal --guidance 4.5 --ratios 4 --seeds 20 --prompt-set vidlong --device cpu --out OUT.json

(``--guidance`` only turns guidance on and names the rows; the schedule sets the scale.) Not shipped: it did not help.
"""
import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

import vidlong.streaming as streaming  # noqa: E402
from training.compare_streams import main  # noqa: E402

HIGH, LOW, CUT = (float(x) for x in os.environ["GS"].split(":"))


stock_predict = streaming.VideoStreamer._predict


def predict_with_guidance_by_timestep(self, latents, timestep, text, frames):
    """`VideoStreamer._predict` with every expert's guidance scale HIGH at timesteps >= CUT and LOW below."""
    kept = self.guidances
    self.guidances = tuple(HIGH if float(timestep) >= CUT else LOW for _ in kept)
    try:
        return stock_predict(self, latents, timestep, text, frames)
    finally:
        self.guidances = kept


streaming.VideoStreamer._predict = predict_with_guidance_by_timestep

if __name__ == "__main__":
    main()
