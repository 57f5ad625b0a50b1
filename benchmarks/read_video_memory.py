"""Peak memory of reading a long input video: a 2000-frame 512x288 mp4 written here, read in this process, the peak
resident set above the start.

    python benchmarks/read_video_memory.py [whole|extension] [REPO]

`whole` (the default): `vidlong.video_io.read_video`, the frames in one array. `extension`: what `vidlong extend --video`
does with its input since session 49: `VideoFileFrames` counts it keeping its first frame and last 97 (the default
model's context and encoder warm-up), then the frames are copied from the file into a `StreamingVideoWriter`, as the
output's start. REPO: a checkout to import vidlong from (default: this one).
"""
import resource
import sys
import time
from pathlib import Path

MODE = sys.argv[1] if len(sys.argv) > 1 else "whole"
sys.path.insert(0, sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from vidlong.video_io import StreamingVideoWriter, VideoFileFrames, read_video  # noqa: E402

PATH = Path("/tmp/vidlong-read-video-memory.mp4")
OUT = Path("/tmp/vidlong-read-video-memory-out.mp4")

if __name__ == "__main__":
    if not PATH.exists():  # written 100 frames at a time, so that the frames written are not in the peak
        with StreamingVideoWriter(PATH, fps=30) as writer:
            for start in range(0, 2000, 100):
                writer.append([np.full((288, 512, 3), i % 256, np.uint8) for i in range(start, start + 100)])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.time()
    if MODE == "whole":
        frames, fps = read_video(PATH)
        shape, held = frames.shape, frames.nbytes
    else:
        video = VideoFileFrames(PATH, head=1, tail=97)
        OUT.unlink(missing_ok=True)
        with StreamingVideoWriter(OUT, fps=video.fps) as writer:
            writer.append(video)
        shape, held = video.shape, video[:1].nbytes + video[-97:].nbytes
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(f"{MODE} {shape}: peak {peak:.0f} MiB above the start, the frames held {held / 2**20:.0f} MiB, "
          f"{time.time() - start:.1f} s")
