"""The memory estimate a run prints (and the app and `vidlong generate` refuse by) against the run's measured peak.

    python benchmarks/estimate_vs_peak.py                                   # embedded default model, CPU
    python benchmarks/estimate_vs_peak.py --sizes 128 256 --ratios 2 --methods none both

Each cell (square frame size, length as a multiple of the native window, method; 1 step) runs `generate` in a fresh
process, so peaks do not mix: its `vidlong.estimate.run_cost` memory beside the peak measured beyond the loaded model
(the resident set on the CPU, sampled every 20 ms; peak allocated memory on a GPU), overall and at the end of each
stage (denoise, decode).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

from common import print_table

GIB = 1024**3


def measure(model: str, size: int, ratio: float, method: str, device: str) -> dict:
    """One cell, in this process: the estimate and the peaks beyond the loaded model, in GiB."""
    import threading
    import time

    import psutil
    import torch

    from vidlong.estimate import run_cost
    from vidlong.generate import GenerateRequest, generate
    from vidlong.pipeline import load_pipeline
    from vidlong.validate import check_generate, limits_for_pipeline

    pipe = load_pipeline(model, device=device)
    pipe.set_progress_bar_config(disable=True)
    request = GenerateRequest(prompt="a red circle bouncing", ratio=ratio, method=method, steps=1, height=size, width=size)
    cost = run_cost(pipe, request, check_generate(request, limits_for_pipeline(pipe)))
    process, cuda = psutil.Process(), device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated() if cuda else process.memory_info().rss
    peak, stages, done = [base], {}, threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], process.memory_info().rss)
            time.sleep(0.02)

    def now() -> int:
        return torch.cuda.max_memory_allocated() if cuda else peak[0]

    if not cuda:
        threading.Thread(target=sample, daemon=True).start()
    generate(pipe, request, progress=lambda stage, _done, _total: stages.__setitem__(stage, now()))
    done.set()
    return dict(estimate=cost.peak_bytes / GIB, peak=(now() - base) / GIB,
                **{f"after {stage}": (value - base) / GIB for stage, value in stages.items() if stage != "encode prompt"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--ratios", type=float, nargs="+", default=[2])
    parser.add_argument("--methods", nargs="+", default=["none", "both"])
    parser.add_argument("--cell", help=argparse.SUPPRESS)  # one cell, run in a child process
    args = parser.parse_args()
    if args.cell:
        size, ratio, method = json.loads(args.cell)
        print(json.dumps(measure(args.model, size, ratio, method, args.device)))
        return
    rows = []
    for size in args.sizes:
        for ratio in args.ratios:
            for method in args.methods:
                out = subprocess.run([sys.executable, __file__, "--model", args.model, "--device", args.device,
                                      "--cell", json.dumps([size, ratio, method])], capture_output=True, text=True, check=True)
                cell = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append([f"{size}x{size}", f"{ratio:g}x", method, cell["estimate"], cell["peak"],
                             cell.get("after denoise", float("nan")), cell.get("after decode", float("nan"))])
                print(rows[-1], file=sys.stderr)
    print_table(["size", "length", "method", "estimate GiB", "peak GiB", "peak after denoise", "peak after decode"], rows)


if __name__ == "__main__":
    main()
