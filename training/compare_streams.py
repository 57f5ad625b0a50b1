"""Pick between streaming models on seeds that no reported number uses (GPU; no mp4 is written).

    python -m training.compare_streams --models /tmp/run/model default --ratios 4 16 --seeds 20 21 --out a.json
    python -m training.compare_streams --merge a.json b.json       # means per model, dtype, guidance and ratio

Each model streams each prompt (``training.evaluate.EVAL_PROMPTS``, which `vidlong eval`'s reported
table does not use; ``--prompt-set vidlong`` for that table's; ``--prompts i j`` for a subset, to run
several processes) to ratio x its native length with its own streaming defaults (``vidlong.yaml``;
``--sinks`` sets the sink frames), at each ``--guidance`` (default: the model's stream guidance), as a
`vidlong eval` stream cell does. The frames are scored straight from the decoder (no H.264 round trip),
so the numbers are close to, not equal to, `vidlong eval`'s.
"""
from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict

KEYS = ("shapes_frac_frames_all_present", "repetition", "shapes_vanish_events", "shapes_colour_fidelity", "seconds")


def stream_rows(model: str, guidances, ratios, prompts, seeds, device: str, rows: list, out: str,
                dtype: str | None = None, sinks: int | None = None, steps: int | None = None) -> None:
    """Append a row per streamed video to `rows`, rewriting `out` after each (a killed run keeps its videos).
    `sinks`: the streams' sink frames (None: the model's; the window takes the rest of the native span);
    `steps`: model evaluations per chunk (None: the model's)."""
    from vidlong.eval.runner import Cell, generate_cell, measure
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(model, device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    for guidance in guidances:
        for ratio in ratios:
            for prompt in prompts:
                for seed in seeds:
                    frames, _, info = generate_cell(pipe, Cell("stream", ratio, prompt, seed), pipe.spec, steps, guidance,
                                                    "plain", None, stream_sinks=sinks)
                    row = dict(model=model, dtype=str(pipe.dtype).removeprefix("torch."), guidance=info["guidance"],
                               sinks=info["stream_sinks"],
                               ratio=ratio, prompt=prompt, seed=seed,
                               seconds=info["seconds"], **measure(frames, prompt, pipe.spec, True))
                    rows.append({k: v for k, v in row.items() if not isinstance(v, (list, dict))})
                    with open(out, "w") as f:
                        json.dump(rows, f, indent=1)
                    print(f"[streams] {model} g{row['guidance']:g} {ratio}x seed {seed}: present "
                          f"{row['shapes_frac_frames_all_present']:.3f} vanish {row['shapes_vanish_events']}", flush=True)


def merge(paths) -> None:
    groups = defaultdict(list)
    for path in paths:
        for row in json.load(open(path)):
            groups[(row["model"], row.get("dtype", "default"), row["guidance"], row["ratio"], row.get("sinks", -1))].append(row)
    for (model, dtype, guidance, ratio, sinks), rows in sorted(groups.items()):
        means = []
        for key in KEYS:
            values = [float(r[key]) for r in rows if r.get(key) is not None and not math.isnan(float(r[key]))]
            means.append(f"{key.replace('shapes_', '')} {sum(values) / max(1, len(values)):.3f}")
        own = "" if sinks < 0 else f" sinks {sinks}"
        print(f"[merge] {model} {dtype} guidance {guidance:g}{own} {ratio:g}x ({len(rows)} videos): " + ", ".join(means))


def main(argv=None):
    from training.evaluate import EVAL_PROMPTS
    from vidlong.eval.runner import DEFAULT_PROMPTS

    p = argparse.ArgumentParser()
    p.add_argument("--models", nargs="+", default=[], help="model folders or embedded names")
    p.add_argument("--guidance", type=float, nargs="+", default=[None])
    p.add_argument("--ratios", type=float, nargs="+", default=[4, 16])
    p.add_argument("--seeds", type=int, nargs="+", default=[20, 21])
    p.add_argument("--prompts", type=int, nargs="+", default=None, help="indices into the prompt set")
    p.add_argument("--prompt-set", choices=["train", "vidlong"], default="train",
                   help="training/evaluate.py's eval prompts, or vidlong eval's (those of the reported table)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16"], help="default: the device's (load_pipeline)")
    p.add_argument("--sinks", type=int, default=None, help="sink frames of the streams (default: the model's)")
    p.add_argument("--steps", type=int, default=None, help="model evaluations per chunk (default: the model's)")
    p.add_argument("--out", default=None)
    p.add_argument("--merge", nargs="+", default=None, help="print the means of these --out files")
    a = p.parse_args(argv)
    if a.merge:
        return merge(a.merge)
    if not a.out:
        p.error("--out is required (the rows' JSON file), unless --merge is given")
    prompt_set = list(EVAL_PROMPTS if a.prompt_set == "train" else DEFAULT_PROMPTS)
    prompts = [prompt_set[i] for i in (a.prompts if a.prompts is not None else range(len(prompt_set)))]
    rows: list = []
    for model in a.models:
        stream_rows(model, a.guidance, a.ratios, prompts, a.seeds, a.device, rows, a.out, a.dtype, a.sinks, a.steps)


if __name__ == "__main__":
    main()
