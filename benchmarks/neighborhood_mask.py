"""LTX-2.5's diffusion decoder's block mask built without N x N tensors (`vidlong.families.ltx2_neighborhood`): per grid,
the seconds of one build on the CPU, the peak resident memory it added, the bytes of the mask it made, the estimate's
bound (`block_mask_bytes`) and the N x N bytes diffusers' own builder would hold.

    python benchmarks/neighborhood_mask.py [T H W ...]

Each grid is T x H x W cells (a stage's: the diffusion stage's are pixel frames x height/4 x width/4) with the release's
diffusion-stage kernel 11 x 11 x 11, built in a process of its own. Default: 16 x 256 x 256 (1,048,576 tokens) and
121 x 128 x 192 (121 frames of 512x768, 2,973,696 tokens).
"""
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
KERNEL = (11, 11, 11)


def one(grid: tuple) -> str:
    """The line of one grid's build, in this process: its peak resident memory measured above that of a tiny build."""
    sys.path.insert(0, ROOT)
    import torch

    from vidlong.families.ltx2_neighborhood import block_mask_bytes, neighborhood_block_mask

    neighborhood_block_mask(4, 8, 8, (3, 3, 3), torch.device("cpu"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    mask = neighborhood_block_mask(*grid, KERNEL, torch.device("cpu"))
    seconds = time.perf_counter() - start
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    held = sum(t.numel() * t.element_size() for t in (mask.kv_num_blocks, mask.kv_indices, mask.full_kv_num_blocks,
                                                       mask.full_kv_indices)) / 2**20
    tokens = grid[0] * grid[1] * grid[2]
    return (f"{'x'.join(map(str, grid))} ({tokens:,} tokens): {seconds:.2f} s, peak +{peak:.0f} MiB, mask {held:.1f} MiB "
            f"(kv_indices {tuple(mask.kv_indices.shape)}), bound {block_mask_bytes(*grid, KERNEL) / 2**20:.0f} MiB; "
            f"diffusers' N x N: {tokens * tokens / 1e12:.2f} TB")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(one(tuple(int(v) for v in sys.argv[2:5])))
    else:
        values = [int(v) for v in sys.argv[1:]] or [16, 256, 256, 121, 128, 192]
        for i in range(0, len(values), 3):
            subprocess.run([sys.executable, __file__, "--one", *map(str, values[i:i + 3])], check=True)
