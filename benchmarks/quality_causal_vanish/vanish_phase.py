"""The experiment of RESULTS.md's "Where the causal stream's vanish events fall" (session 74): `default-causal` streamed
as `vidlong eval`'s stream cell does (guidance 4.5, its own settings) on `vidlong eval`'s prompts, the shapes checker's
per-frame presence of each prompted object, and the pixel frames where an object vanishes (present, then absent) or
appears, to see whether they gather at the chunks' seams (a 9-frame first chunk, then 12 frames a chunk) or inside them.

    OMP_NUM_THREADS=1 python benchmarks/quality_causal_vanish/vanish_phase.py 0,1,2,3 8 20 OUT.json   # prompts, ratio, seed
"""
import json
import os
import sys

import numpy as np

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

from vidlong.eval import shapes  # noqa: E402
from vidlong.eval.runner import DEFAULT_PROMPTS, Cell, generate_cell  # noqa: E402
from vidlong.pipeline import load_pipeline  # noqa: E402


def changes(present: np.ndarray, gone: bool) -> list:
    """Pixel frames where an object of ``present`` ``[T, objects]`` is absent after a frame with it (or, not `gone`,
    present after a frame without it)."""
    before, after = (present[:-1], ~present[1:]) if gone else (~present[:-1], present[1:])
    return sorted(int(t + 1) for t in np.nonzero(before & after)[0])


def main(prompts: str, ratio: str, seed: str, out: str) -> None:
    pipe = load_pipeline("default-causal", device="cpu")
    pipe.set_progress_bar_config(disable=True)
    rows = []
    for index in (int(p) for p in prompts.split(",")):
        prompt = DEFAULT_PROMPTS[index]
        frames, _, _ = generate_cell(pipe, Cell("stream", float(ratio), prompt, int(seed)), pipe.spec, None, 4.5, "plain",
                                     None)
        present = shapes.check_video(frames, prompt).presence()
        rows.append(dict(prompt=index, frames=len(frames), vanish_at=changes(present, True),
                         appear_at=changes(present, False), all_present=float(present.all(1).mean())))
        print(rows[-1], flush=True)
        with open(out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(*sys.argv[1:5])
