"""The offline prompt timeline on the embedded default model: each segment scored by the shapes
checker against its own prompt, and whether the previous segment's objects are gone one native
window after the switch.

    python benchmarks/timeline.py                      # 2 timelines x seeds 0-1, 4x, UltraViCo + FreeLong++ (4x preset)
    python benchmarks/timeline.py --seeds 1 --ratio 2 --method none

Prints one row per video and the means; a segment's frames are the pixel frames decoded from its
latent frames (latent frame j >= 1 covers pixel frames 4j-3 .. 4j).
"""
from __future__ import annotations

import argparse
import statistics

from common import print_table
from vidlong.eval import shapes
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline

#: (first prompt, second prompt): different colours, so each segment's objects are its own
TIMELINES = [("a red circle and a blue square on a black background", "a green triangle bouncing on a dark gray background"),
             ("a yellow square and a magenta circle on a gray background", "a cyan ball moving on a black to gray gradient background")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratio", type=float, default=4)
    parser.add_argument("--method", default="both")
    parser.add_argument("--preset", default="4x")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    pipe = load_pipeline("default", device=args.device)
    pipe.set_progress_bar_config(disable=True)
    spec, rows = pipe.spec, []
    for first, second in TIMELINES:
        switch = round(args.ratio * spec.native_pixel_frames / 2 / spec.fps, 2)  # the middle of the video, in seconds
        for seed in range(args.seeds):
            request = GenerateRequest(prompt=f"0s: {first}; {switch}s: {second}", ratio=args.ratio, method=args.method,
                                      preset=args.preset if args.method != "none" else None, seed=seed)
            result = generate(pipe, request)
            start = result.settings["timeline"][1]["latent_frame"]
            cut = spec.temporal_ratio * (start - 1) + 1  # first pixel frame of the second segment
            frames = result.frames
            later = frames[cut + spec.native_pixel_frames:]  # one native window after the switch
            present = lambda video, prompt: shapes.check_video(video, prompt).summary()["frac_frames_all_present"]  # noqa: E731
            rows.append([first.split(" on ")[0], seed, present(frames[:cut], first), present(frames[cut:], second),
                         present(later, first) if len(later) else float("nan"), result.settings["seconds"]])
            print(rows[-1], flush=True)
    print_table(["first prompt", "seed", "segment 1: its objects", "segment 2: its objects",
                 "segment 2 after one native window: segment 1's objects", "s"], rows)
    means = [statistics.mean(r[i] for r in rows) for i in (2, 3, 4)]
    print(f"means: segment 1 {means[0]:.3f}, segment 2 {means[1]:.3f}, previous objects after one window {means[2]:.3f}")


if __name__ == "__main__":
    main()
