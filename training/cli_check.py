"""The default model's target, measured as a user meets it: ``vidlong generate`` in a shell.

    python -m training.cli_check --out cli_check.json                # native, 8 prompts x seeds 0, 1
    python -m training.cli_check --ratio 4 --method none --out cli_check_4x.json

Each video is one fresh ``vidlong generate --prompt P --seed S --out V.mp4`` process (so its wall
time includes Python start-up and model load), read back from the mp4 and scored by the
ground-truth checker. Reports per video and the mean: the checker's summary, wall seconds, and
the worst wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from training.evaluate import EVAL_PROMPTS, load_checker, mean_of_videos


def generate_and_check(chk, prompt: str, seed: int, extra: list[str], out: str) -> dict:
    """One ``vidlong generate`` process writing ``out`` (mp4) -> the checker's summary of it, plus
    wall seconds."""
    from vidlong.video_io import read_video

    installed = shutil.which("vidlong")
    cli = [installed] if installed else [sys.executable, "-m", "vidlong.cli"]
    cmd = [*cli, "generate", "--prompt", prompt, "--seed", str(seed),
           "--out", out, *extra]
    t0 = time.time()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.time() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    frames, _ = read_video(out)
    summary = chk.check_video(frames, prompt).summary()
    return {**summary, "prompt": prompt, "seed": seed, "wall_seconds": wall}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--num-prompts", type=int, default=len(EVAL_PROMPTS))
    p.add_argument("--ratio", type=float, default=None, help="passed to vidlong generate")
    p.add_argument("--method", default=None, help="passed to vidlong generate")
    p.add_argument("--out", required=True, help="JSON file")
    a = p.parse_args(argv)
    extra = [*(["--ratio", f"{a.ratio:g}"] if a.ratio else []),
             *(["--method", a.method] if a.method else [])]
    chk = load_checker()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i, prompt in enumerate(EVAL_PROMPTS[:a.num_prompts]):
            for seed in a.seeds:
                out = os.path.join(folder, f"prompt{i}_seed{seed}.mp4")
                rows.append(generate_and_check(chk, prompt, seed, extra, out))
                r = rows[-1]
                print(f"[cli_check] {r['frac_frames_all_present']:.2f} {r['wall_seconds']:.1f}s "
                      f"seed {seed} {prompt}", flush=True)
    mean = mean_of_videos(chk, rows)
    result = {"command": ["vidlong", "generate", *extra], "mean": mean,
              "max_wall_seconds": max(r["wall_seconds"] for r in rows), "videos": rows}
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(f"[cli_check] all prompted objects in {mean['frac_frames_all_present']:.3f} of frames, "
          f"colour fidelity {mean['colour_fidelity']:.3f}, slowest video "
          f"{result['max_wall_seconds']:.1f}s wall ({len(rows)} videos)", flush=True)


if __name__ == "__main__":
    main()
