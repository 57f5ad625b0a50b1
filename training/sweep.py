"""Sampler-settings sweep of a trained pipeline on the GPU (used right after training).

    python -m training.sweep --model OUT/pipeline --out OUT/sweep.json --samples OUT/samples.npz

For each (flow_shift, guidance, steps) it runs the evaluation prompts x seeds in one batch and
scores them with the checker; it also keeps one video per prompt of the first setting (uint8
[P, T, H, W, 3] in ``--samples``) so the model card can show them.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from training.evaluate import EVAL_PROMPTS, load_checker, load_pipeline


def run_batch(pipe, prompts, seeds, latent_frames, steps, guidance, device):
    """All prompts x seeds in one call: uint8 [P*S, T, 128, 128, 3] and matching prompts."""
    ps = [p for p in prompts for _ in seeds]
    gens = [torch.Generator(device="cpu").manual_seed(s) for _ in prompts for s in seeds]
    out = pipe(ps, height=128, width=128, num_frames=4 * (latent_frames - 1) + 1,
               num_inference_steps=steps, guidance_scale=guidance, generator=gens,
               output_type="np")
    return np.clip(np.round(np.asarray(out.frames) * 255), 0, 255).astype(np.uint8), ps


#: (latent_frames, flow_shift, guidance, steps); the 4x-length row is the no-method baseline.
CONFIGS = [(9, 2.0, 4.0, 20), (9, 3.0, 5.0, 20), (9, 1.0, 4.0, 20), (36, 2.0, 4.0, 20),
           (9, 2.0, 2.5, 20), (9, 2.0, 6.0, 20), (9, 2.0, 4.0, 10)]


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--samples", default=None)
    p.add_argument("--device", default="cuda")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--num-prompts", type=int, default=len(EVAL_PROMPTS))
    p.add_argument("--num-configs", type=int, default=len(CONFIGS))
    a = p.parse_args(argv)
    chk = load_checker()
    prompts = EVAL_PROMPTS[:a.num_prompts]
    results, samples = [], {}
    for lf, shift, g, st in CONFIGS[:a.num_configs]:
        pipe = load_pipeline(a.model, a.device, shift)
        t0 = time.time()
        vids, ps = run_batch(pipe, prompts, a.seeds, lf, st, g, a.device)
        sec = time.time() - t0
        sums = [chk.check_video(v, pr).summary() for v, pr in zip(vids, ps)]
        row = {"latent_frames": lf, "flow_shift": shift, "guidance": g, "steps": st,
               "seconds": sec, "mean": chk.aggregate(sums), "videos": sums}
        results.append(row)
        m = row["mean"]
        print(f"[sweep] lf={lf} shift={shift} cfg={g} steps={st}: present "
              f"{m['frac_frames_all_present']:.3f} shapes {m['frac_frames_all_shapes_correct']:.3f}"
              f" fidelity {m['colour_fidelity']:.3f} accel {m['mean_accel_px']:.2f} ({sec:.0f}s)",
              flush=True)
        key = f"lf{lf}"
        if key not in samples:
            samples[key] = vids[:: len(a.seeds)][: 4 if lf <= 9 else 2]
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    if a.samples:
        np.savez_compressed(a.samples, **samples)


if __name__ == "__main__":
    main()
