"""Plot ``train_log.csv`` (stage, step, loss, lr, seconds) to a PNG: one panel per model part.

    python -m training.plot out/run/train_log.csv vidlong/default_model/loss.png

A stage named ``<stage>_<run>`` (e.g. ``dit_run5``, written when a later run continues a trained
part with ``--dit-init``) is drawn on its part's panel after the stage before it, steps counted on.
"""

from __future__ import annotations

import csv
import sys

TITLES = {"vae": "VAE: L1 + MSE + KL", "dit": "Transformer: flow-matching MSE",
          "decoder": "VAE decoder on 33-frame clips: L1 + MSE"}


def read_stages(csv_path: str) -> dict[str, list[tuple[int, float]]]:
    """Stage name -> [(step, loss)], in file order."""
    rows: dict[str, list[tuple[int, float]]] = {}
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["stage"], []).append((int(r["step"]), float(r["loss"])))
    return rows


def panels(stages: dict[str, list[tuple[int, float]]]) -> dict[str, list[tuple[str, list[int], list[float]]]]:
    """Model part -> [(stage, steps, losses)], continued stages' steps counted on from the last."""
    out: dict[str, list[tuple[str, list[int], list[float]]]] = {}
    for stage, pts in stages.items():
        series = out.setdefault(stage.split("_")[0], [])
        offset = series[-1][1][-1] + 1 if series else 0
        series.append((stage, [offset + s for s, _ in pts], [loss for _, loss in pts]))
    return out


def plot_log(csv_path: str, png_path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = panels(read_stages(csv_path))
    fig, axes = plt.subplots(1, len(parts), figsize=(5 * len(parts), 3.5), squeeze=False)
    for ax, (part, series) in zip(axes[0], parts.items()):
        for i, (stage, steps, losses) in enumerate(series):
            ax.plot(steps, losses, lw=1, label=stage)
            if i:
                ax.axvline(steps[0], color="gray", lw=0.5, ls="--")
        ax.set_yscale("log")
        ax.set_xlabel("step (continued runs counted on)")
        ax.set_ylabel("loss")
        ax.set_title(TITLES.get(part, part))
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    plot_log(sys.argv[1], sys.argv[2])
