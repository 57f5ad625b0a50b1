"""Colour drift of a video written to mp4 and read back, again and again (an extension of an extension of a video):
the mean of each RGB channel after each round trip, and the mean absolute error against the frames first written.

    python benchmarks/colour_round_trip.py [TRIPS] [REPO]

Two clips, 8 frames of 64x64: a gradient (red across, green down, blue flat, brightening by 3 levels a frame) and one flat
colour (200, 60, 30). TRIPS: round trips (default 4). REPO: a checkout to import vidlong from (default: this one).
"""
import sys
from pathlib import Path

TRIPS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from vidlong.video_io import read_video, write_video  # noqa: E402

PATH = Path("/tmp/vidlong-colour-round-trip.mp4")


def clips() -> dict:
    ramp = np.linspace(0, 255, 64)
    planes = np.broadcast_arrays(ramp[None, :], ramp[:, None] * 0.5, np.full((64, 64), 80.0))
    gradient = np.stack([np.stack(planes, -1) + 3 * t for t in range(8)]).clip(0, 255).astype(np.uint8)
    flat = np.broadcast_to(np.array([200, 60, 30], np.uint8), (8, 64, 64, 3)).copy()
    return {"gradient": gradient, "flat colour": flat}


if __name__ == "__main__":
    for name, frames in clips().items():
        video, means = frames, [frames.reshape(-1, 3).mean(0)]
        for _ in range(TRIPS):
            video = read_video(write_video(PATH, video, fps=16))[0]
            means.append(video.reshape(-1, 3).mean(0))
        steps = " -> ".join("(" + ", ".join(f"{v:.1f}" for v in m) + ")" for m in means)
        print(f"{name}: {steps}; error after {TRIPS}: {np.abs(video.astype(int) - frames.astype(int)).mean():.2f}")
