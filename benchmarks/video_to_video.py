"""Video-to-video past the native window: does a long video redrawn with a new prompt hold the new prompt's objects?

    python benchmarks/video_to_video.py --device cuda --seeds 2 --ratios 1 2 4 --strengths 0.6 0.8 --out v2v.json
    python benchmarks/video_to_video.py --prompts 1 --seeds 1 --ratios 1 2 --steps 4        # a CPU smoke run
    python benchmarks/video_to_video.py --device cuda --shard 0/4 --out s0.json ...          # a quarter of the prompts
    python benchmarks/video_to_video.py --merge s0.json s1.json s2.json s3.json              # their table together

On the embedded default model (its `WanVideoToVideoPipeline` twin, `pipe.video_to_video()`, which `generate` uses). For each of vidlong eval's
prompts x seeds and each ratio: the source video is `generate` of the prompt with `both` and the ratio's preset (the
best long text-to-video here); it is redrawn with the next prompt of the list at each strength and method (the ratio's
preset, as `vidlong generate`; "stream": chunk by chunk, `vidlong stream --video`, the model's streaming defaults). Per redrawn video, from the shapes checker: the new prompt's objects present (the
fraction of object-frames), frames with all of them, vanish events, the source prompt's objects left where the new
prompt does not name their colour, and the mean absolute change from the source (0-255). Frames stay in memory (no mp4).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from common import add_prompt_grid_arguments, merged_rows, print_cell_means, shard_of

KEYS = ("new_objects", "new_all_present", "vanish_events", "old_objects_left", "change")


def old_objects_left(source_prompt: str, new_prompt: str, video: np.ndarray) -> float:
    """Fraction of object-frames of `video` that still hold a source-prompt object whose colour the new prompt does not
    name (NaN when every source colour is in the new prompt)."""
    from vidlong.eval.shapes import check_video, parse_prompt

    new_colours = {colour for colour, _ in parse_prompt(new_prompt)}
    report = check_video(video, source_prompt)
    gone = np.array([colour not in new_colours for colour, _ in report.prompted])
    return float(report.presence()[:, gone].mean()) if gone.any() else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_prompt_grid_arguments(parser)
    parser.add_argument("--ratios", type=float, nargs="+", default=[1, 2, 4])
    parser.add_argument("--strengths", type=float, nargs="+", default=[0.6, 0.8])
    parser.add_argument("--methods", nargs="+", default=["none", "both"])
    args = parser.parse_args()
    if args.merge:
        print_summary(merged_rows(args.merge), args.out)
        return 0
    index, count = shard_of(parser, args.shard)

    from vidlong import load_pipeline
    from vidlong.eval.runner import DEFAULT_PROMPTS, preset_for
    from vidlong.eval.shapes import check_video
    from vidlong.generate import GenerateRequest, generate

    pipe = load_pipeline(device=args.device)  # it redraws through its video-to-video twin (`pipe.video_to_video()`)
    pipe.set_progress_bar_config(disable=True)
    prompts = DEFAULT_PROMPTS[: args.prompts]
    records = []
    for number in range(index, len(prompts), count):
        source_prompt, new_prompt = prompts[number], DEFAULT_PROMPTS[(number + 1) % len(DEFAULT_PROMPTS)]
        for seed in range(args.seeds):
            for ratio in args.ratios:
                source = generate(pipe, GenerateRequest(prompt=source_prompt, seed=seed, ratio=ratio, method="both",
                                                       preset=preset_for("both", ratio), steps=args.steps)).frames
                for strength in args.strengths:
                    for method in args.methods:
                        video = redrawn(pipe, new_prompt, seed, source, strength, method, ratio, args.steps)
                        summary = check_video(video, new_prompt).summary()
                        record = dict(source_prompt=source_prompt, prompt=new_prompt, seed=seed, ratio=ratio, strength=strength,
                                      method=method, frames=len(video), new_objects=summary["frac_objects_present"],
                                      new_all_present=summary["frac_frames_all_present"],
                                      vanish_events=summary["vanish_events"],
                                      old_objects_left=old_objects_left(source_prompt, new_prompt, video),
                                      change=float(np.abs(video.astype(np.float32) - source.astype(np.float32)).mean()))
                        records.append(record)
                        print(json.dumps(record), file=sys.stderr, flush=True)
    print_summary(records, args.out)
    return 0


def redrawn(pipe, prompt: str, seed: int, source: np.ndarray, strength: float, method: str, ratio: float, steps) -> np.ndarray:
    """`source` redrawn with `prompt`: in one call with `method` ("none" or a vidlong method, the ratio's preset), or
    chunk by chunk ("stream": `pipe.stream(video=...)` with the model's streaming defaults)."""
    from vidlong.eval.runner import preset_for
    from vidlong.generate import GenerateRequest, generate
    from vidlong.methods import Streaming

    if method == "stream":
        streaming = Streaming.preset(pipe.spec.stream_preset or "default", steps=steps)
        return np.concatenate([chunk.frames for chunk in pipe.stream(prompt, streaming, video=source, strength=strength,
                                                                      seed=seed)])
    return generate(pipe, GenerateRequest(prompt=prompt, seed=seed, video=source, strength=strength, method=method,
                                          preset=preset_for(method, ratio), steps=steps)).frames


def print_summary(records: list[dict], out) -> None:
    """The means per ratio, strength and method as a table (and with the rows as JSON to `out`)."""
    print_cell_means(records, ("ratio", "strength", "method"), KEYS,
                     ["new prompt's objects", "frames with all", "vanish events", "source objects left", "change (0-255)"], out)


if __name__ == "__main__":
    sys.exit(main())
