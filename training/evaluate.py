"""Generate shapes-world videos with a WanPipeline and score them with the ground-truth checker.

    python -m training.evaluate --model vidlong/default_model --threads 2 --out eval.json

Runs ``len(prompts) x len(seeds)`` generations (one video per call, so the timing of a single
native-length generation is measured as a user would see it), and reports per-video checker
summaries, their mean, and seconds for loading and for each generation.
Frame counts: ``--latent-frames`` latent = 4 * (latent - 1) + 1 pixel frames.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np
import torch

EVAL_PROMPTS = [
    "a red circle and a blue square",
    "a green triangle on a black background",
    "a yellow square and a magenta circle on a gray background",
    "a cyan circle on a dark gray background",
    "a blue triangle, a red square and a yellow circle on a light gray background",
    "a spinning magenta square on a black to gray gradient background",
    "a green circle and a red triangle",
    "a yellow triangle and a cyan square on a dark gray background",
]


def load_checker():
    """``vidlong.eval.shapes``, imported from its file (works without the rest of vidlong)."""
    try:
        from vidlong.eval import shapes

        return shapes
    except Exception:  # the core package may be mid-edit; the checker has no vidlong imports
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "vidlong", "eval", "shapes.py")
        spec = importlib.util.spec_from_file_location("vidlong_eval_shapes", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod
        spec.loader.exec_module(mod)
        return mod


def load_pipeline(folder: str, device: str = "cpu", flow_shift: float | None = None):
    from diffusers import UniPCMultistepScheduler, WanPipeline

    pipe = WanPipeline.from_pretrained(folder, torch_dtype=torch.float32)
    if flow_shift is not None:
        pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config,
                                                             flow_shift=flow_shift)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def generate(pipe, prompt: str, seed: int, latent_frames: int, height: int, width: int,
             steps: int, guidance: float, device: str = "cpu") -> np.ndarray:
    """One video, uint8 [4 * (latent_frames - 1) + 1, H, W, 3]."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    out = pipe(prompt, height=height, width=width, num_frames=4 * (latent_frames - 1) + 1,
               num_inference_steps=steps, guidance_scale=guidance, generator=g,
               output_type="np")
    return np.clip(np.round(out.frames[0] * 255.0), 0, 255).astype(np.uint8)


def mean_of_videos(chk, rows: list[dict]) -> dict:
    """The checker's aggregate of per-video rows (summary + prompt, seed, seconds): numbers only."""
    return chk.aggregate([{k: v for k, v in r.items() if isinstance(v, (int, float))} for r in rows])


def evaluate(pipe, prompts, seeds, latent_frames=9, height=128, width=128, steps=20,
             guidance=4.0, device="cpu", keep_videos=False) -> dict:
    chk = load_checker()
    rows, videos = [], []
    for prompt in prompts:
        for seed in seeds:
            t0 = time.time()
            video = generate(pipe, prompt, seed, latent_frames, height, width, steps, guidance,
                             device)
            sec = time.time() - t0
            s = chk.check_video(video, prompt).summary()
            s.update(prompt=prompt, seed=seed, seconds=sec)
            rows.append(s)
            if keep_videos:
                videos.append(video)
    out = {"settings": dict(latent_frames=latent_frames, height=height, width=width,
                            steps=steps, guidance=guidance),
           "mean": mean_of_videos(chk, rows), "videos": rows}
    if keep_videos:
        out["frames"] = videos
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=os.path.join("vidlong", "default_model"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--latent-frames", type=int, default=9)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=4.0)
    p.add_argument("--flow-shift", type=float, default=None)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--num-prompts", type=int, default=len(EVAL_PROMPTS))
    p.add_argument("--out", default=None, help="JSON file")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    t0 = time.time()
    pipe = load_pipeline(a.model, a.device, a.flow_shift)
    load_s = time.time() - t0
    res = evaluate(pipe, EVAL_PROMPTS[:a.num_prompts], a.seeds, a.latent_frames, a.height,
                   a.width, a.steps, a.guidance, a.device)
    res["load_seconds"] = load_s
    res["settings"]["flow_shift"] = pipe.scheduler.config.flow_shift
    m = res["mean"]
    print(json.dumps({k: m[k] for k in ("frac_frames_all_present", "frac_objects_present",
                                        "frac_frames_all_shapes_correct", "colour_fidelity",
                                        "mean_accel_px", "vanish_events", "seconds")}, indent=1))
    print(f"load {load_s:.1f}s")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
