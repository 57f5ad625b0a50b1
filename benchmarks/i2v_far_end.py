"""The far end of a long image-to-video video: does the image's content hold far from the first frame?

    python benchmarks/i2v_far_end.py --device cuda --seeds 2 --ratios 1 2 4 --methods direct both
    python benchmarks/i2v_far_end.py --prompts 2 --seeds 1 --ratios 1 2 --steps 8     # a CPU smoke run
    python benchmarks/i2v_far_end.py --device cuda --shard 0/4 --out s0.json ...        # a quarter of the prompts
    python benchmarks/i2v_far_end.py --merge s0.json s1.json s2.json s3.json            # their table together

No image-to-video weights load offline here, so the embedded default model (text-to-video) is used the
way Wan2.2 TI2V-5B takes an image: its components in diffusers' `WanImageToVideoPipeline` with
`expand_timesteps`, the image's latent as the first latent frame at timestep 0, the rest denoised. The
model was never trained with a clean first frame, so the 1x row is the baseline the longer rows compare
against, not a measure of I2V quality.

For each of vidlong eval's prompts x seeds: a native-length text-to-video generation; its first frame is
the image. Then image-to-video at each ratio and method (the ratio's preset, as `vidlong generate`).
Per video, from the shapes checker: the fraction of frames holding every object the image holds, in the
first native window of pixel frames and in the last one, and over all frames; the mean colour distance
(0-255) between the image and the mean of each window's frames.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

from common import add_prompt_grid_arguments, merged_rows, print_cell_means, shard_of


def image_objects_held(report, image_present: np.ndarray, frames: slice) -> float:
    """Fraction of the frames in `frames` holding every prompted object the image holds (`image_present`:
    ``[objects]`` bool, the shapes checker's presence of each prompted object in the image; NaN when it
    holds none)."""
    if not image_present.any():
        return float("nan")
    return float(report.presence()[frames][:, image_present].all(axis=1).mean())


def colour_distance(image: np.ndarray, frames: np.ndarray) -> float:
    """Mean absolute difference (0-255) between the image (uint8 ``[H, W, 3]``) and the mean frame of `frames`
    (uint8 ``[T, H, W, 3]``)."""
    return float(np.abs(frames.astype(np.float32).mean(axis=0) - image.astype(np.float32)).mean())


def image_pipeline(t2v):
    """The text-to-video pipeline's components as TI2V-5B's image mode: diffusers' `WanImageToVideoPipeline`
    with `expand_timesteps` (no CLIP), vidlong's subclass, the same model spec."""
    from vidlong.pipeline_i2v import VidLongWanImageToVideoPipeline

    i2v = VidLongWanImageToVideoPipeline(tokenizer=t2v.tokenizer, text_encoder=t2v.text_encoder, vae=t2v.vae,
                                         scheduler=t2v.scheduler, transformer=t2v.transformer, expand_timesteps=True)
    i2v.vidlong_spec = t2v.spec
    i2v.set_progress_bar_config(disable=True)
    return i2v


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_prompt_grid_arguments(parser)
    parser.add_argument("--ratios", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--methods", nargs="+", default=["direct", "both"])
    args = parser.parse_args()
    if args.merge:
        print_summary(merged_rows(args.merge), args.out)
        return 0
    index, count = shard_of(parser, args.shard)

    from PIL import Image

    from vidlong import load_pipeline
    from vidlong.eval.runner import DEFAULT_PROMPTS, preset_for
    from vidlong.eval.shapes import check_video
    from vidlong.generate import GenerateRequest, generate

    t2v = load_pipeline(device=args.device)
    t2v.set_progress_bar_config(disable=True)
    i2v = image_pipeline(t2v)
    window = t2v.spec.native_pixel_frames
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt in DEFAULT_PROMPTS[: args.prompts][index::count]:
            for seed in range(args.seeds):
                image = generate(t2v, GenerateRequest(prompt=prompt, seed=seed, steps=args.steps)).frames[0]
                path = Path(tmp) / "start.png"
                Image.fromarray(image).save(path)
                image_present = check_video(image[None], prompt).presence()[0]
                for ratio in args.ratios:
                    for method in args.methods:
                        video = generate(i2v, GenerateRequest(prompt=prompt, seed=seed, ratio=ratio, method=method, image=str(path),
                                                              preset=preset_for(method, ratio), steps=args.steps)).frames
                        report = check_video(video, prompt)
                        record = dict(prompt=prompt, seed=seed, ratio=ratio, method=method, frames=len(video),
                                      first_frame_error=float(np.abs(video[0].astype(np.float32) - image.astype(np.float32)).mean()),
                                      held_first_window=image_objects_held(report, image_present, slice(0, window)),
                                      held_last_window=image_objects_held(report, image_present, slice(-window, None)),
                                      held_all=image_objects_held(report, image_present, slice(None)),
                                      colour_first_window=colour_distance(image, video[:window]),
                                      colour_last_window=colour_distance(image, video[-window:]))
                        records.append(record)
                        print(json.dumps(record), file=sys.stderr, flush=True)
    print_summary(records, args.out)
    return 0


def print_summary(records: list[dict], out) -> None:
    """The means per ratio and method as a table (and with the rows as JSON to `out`)."""
    print_cell_means(records, ("ratio", "method"), ("first_frame_error", "held_first_window", "held_last_window", "held_all",
                                                    "colour_first_window", "colour_last_window"),
                     ["frame 0 vs image", "image objects, first window", "last window", "all frames",
                      "colour dist. first window", "last window"], out)


if __name__ == "__main__":
    sys.exit(main())
