"""Peak memory of reading a long video file whole (`vidlong.video_io.read_video`, what `vidlong extend` does with its
input): a 2000-frame 512x288 mp4 written here, read in this process, the peak resident set above the start.

    python benchmarks/read_video_memory.py [REPO]      # REPO: a checkout to import vidlong from (default: this one)
"""
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).resolve().parents[1]))
import numpy as np  # noqa: E402

from vidlong.video_io import StreamingVideoWriter, read_video  # noqa: E402

PATH = Path("/tmp/vidlong-read-video-memory.mp4")

if __name__ == "__main__":
    if not PATH.exists():  # written 100 frames at a time, so that the frames written are not in the peak
        with StreamingVideoWriter(PATH, fps=30) as writer:
            for start in range(0, 2000, 100):
                writer.append([np.full((288, 512, 3), i % 256, np.uint8) for i in range(start, start + 100)])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.time()
    frames, fps = read_video(PATH)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    print(f"{frames.shape}: peak {peak:.0f} MiB above the start, the frames {frames.nbytes / 2**20:.0f} MiB, "
          f"{time.time() - start:.1f} s")
