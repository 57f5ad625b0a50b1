"""Plot ``train_log.csv`` (stage, step, loss, lr, seconds) to a PNG: one panel per stage.

    python -m training.plot out/run/train_log.csv vidlong/default_model/loss.png
"""

from __future__ import annotations

import csv
import sys


def plot_log(csv_path: str, png_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["stage"], []).append((int(r["step"]), float(r["loss"])))
    titles = {"vae": "VAE: L1 + MSE + KL", "dit": "Transformer: flow-matching MSE",
              "decoder": "VAE decoder on 33-frame clips: L1 + MSE"}
    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 3.5), squeeze=False)
    for ax, (stage, pts) in zip(axes[0], rows.items()):
        steps, losses = zip(*pts)
        ax.plot(steps, losses, lw=1)
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss")
        ax.set_title(titles.get(stage, stage))
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    plot_log(sys.argv[1], sys.argv[2])
