"""Pick between trained pipelines on seeds that no reported number uses (GPU, after training).

    python -m training.compare --models OLD NEW --seeds 10 11 12 13 14 15 16 17 --out cmp.json

Each model samples the training eval prompts (``training.evaluate.EVAL_PROMPTS``) and ``vidlong
eval``'s own prompts (``vidlong.eval.runner.DEFAULT_PROMPTS``) at native length with the model's
default sampler (``vidlong.yaml``: guidance, steps; the scheduler's flow shift), or at each ``--guidance`` given,
and the checker scores them. The reported numbers use seeds 0 and 1 on the CPU, so a choice made
here on other seeds does not tune on them.
"""

from __future__ import annotations

import argparse
import json

from training.evaluate import EVAL_PROMPTS, load_checker, load_pipeline
from training.sweep import run_batch


def main(argv=None):
    from vidlong.eval.runner import DEFAULT_PROMPTS
    from vidlong.models import spec_for_folder

    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", required=True, help="pipeline folders")
    p.add_argument("--seeds", type=int, nargs="+", default=list(range(10, 18)))
    p.add_argument("--seeds-per-batch", type=int, default=8,
                   help="seeds sampled together (x 8 prompts videos in one pipeline call)")
    p.add_argument("--guidance", type=float, nargs="+", default=None,
                   help="classifier-free guidance scales to try (default: each model's own)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    chk = load_checker()
    prompt_sets = {"train_eval": EVAL_PROMPTS, "vidlong_eval": list(DEFAULT_PROMPTS)}
    results = {}
    for folder in a.models:
        spec = spec_for_folder(folder)
        pipe = load_pipeline(folder, a.device)
        for guidance in a.guidance or [spec.guidance_scale]:
            key = f"{folder} guidance {guidance:g}"
            results[key] = {}
            for name, prompts in prompt_sets.items():
                summaries = []
                for i in range(0, len(a.seeds), a.seeds_per_batch):
                    vids, ps = run_batch(pipe, prompts, a.seeds[i:i + a.seeds_per_batch],
                                         spec.native_frames, spec.num_inference_steps,
                                         guidance, a.device)
                    summaries += [chk.check_video(v, pr).summary() for v, pr in zip(vids, ps)]
                mean = chk.aggregate(summaries)
                results[key][name] = mean
                print(f"[compare] {key} {name} ({len(summaries)} videos): present "
                      f"{mean['frac_frames_all_present']:.3f} fidelity {mean['colour_fidelity']:.3f} "
                      f"vanish {mean['vanish_events']:.2f}", flush=True)
    with open(a.out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
