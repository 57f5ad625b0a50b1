"""The FlexAttention `BlockMask` of LTX-2.5's diffusion decoder's 3D neighborhood attention, built from its windows' bounds
(`neighborhood_block_mask`), and diffusers' builder replaced by it while vidlong decodes (`neighborhood_masks`).

Diffusers builds it (`_neighborhood_block_mask` in ``diffusers.models.autoencoders.ltx2_diffusion_decoder``) with
``create_block_mask(mask_mod, Q_LEN=N, KV_LEN=N)`` uncompiled, which evaluates its mask_mod on every (query, key) pair of
a stage's N tokens: an N x N boolean tensor, ~8.8e12 bytes at 121 frames of 512x768. Here the tokens are those of a
``(T, H, W)`` grid, row-major (token ``t·H·W + h·W + w``); a query's window is ``kernel_size`` (each clipped to the grid)
centred on it and shifted inward at the grid's edges. A query block (128 tokens) is cut into runs of one ``(t, h)`` row;
the windows of a run's queries together cover kernel_t x kernel_h key rows, one span of w in each, whose tokens give the
key blocks (128 tokens) the run reaches: every (query block, key block) pair holding a pair in the window, and no other.
Such a block is full where every key of it lies in every query's window (the windows' intersection, a box, holds the keys'
bounding box), else partial. The partial and full blocks are diffusers', each row in the same ascending order, and the
mask_mod decides the same pairs; torch's eager flex path (the CPU) reads the mask_mod alone, so the attention is
diffusers' bit for bit there; compiled (CUDA) the kernel visits the same blocks in the same order (not run on a GPU).
"""
from __future__ import annotations

import torch

from .common import SharedReplacement

#: tokens a block of queries or keys (torch's default sparse block, the one diffusers' builder uses)
BLOCK = 128
#: candidate (query block, key block) entries one chunk of query blocks weighs at most (int64: 16 MiB a tensor of them)
CHUNK_ENTRIES = 1 << 21
#: bytes the build holds per candidate entry of a chunk, at most (the entries, their codes, the kept ones, their sort)
ENTRY_BYTES = 48
#: bytes per (query block, key block) pair of the result: its int32 index in its chunk's rows and in their concatenation
PAIR_BYTES = 8


def _coordinates(index, grid: tuple) -> tuple:
    """(t, h, w) of row-major token(s) `index` of the grid ``(T, H, W)``."""
    _, height, width = grid
    return index // (height * width), index % (height * width) // width, index % width


def _window_start(position, size: int, kernel: int):
    """The first position of the window of `kernel` positions (<= `size`) around `position`(s): centred, shifted inward
    at 0 and at `size`."""
    return (position - kernel // 2).clamp(0, size - kernel)


def window_mask_mod(grid: tuple, kernel: tuple):
    """FlexAttention's mask_mod of the grid ``(T, H, W)`` (`kernel` clipped to it): whether key `kv_idx` lies in query
    `q_idx`'s window, per axis; the pairs diffusers' mask_mod keeps."""
    def mask_mod(batch_idx, head_idx, q_idx, kv_idx):
        inside = None
        for query, key, size, extent in zip(_coordinates(q_idx, grid), _coordinates(kv_idx, grid), grid, kernel):
            start = _window_start(query, size, extent)
            axis = (key >= start) & (key < start + extent)
            inside = axis if inside is None else inside & axis
        return inside

    return mask_mod


def _extent(first, last, grid: tuple) -> tuple:
    """(lowest, highest) coordinates, each (t, h, w), of the row-major tokens ``first .. last`` (tensors [n])."""
    (t0, h0, w0), (t1, h1, w1) = _coordinates(first, grid), _coordinates(last, grid)
    one_frame = t0 == t1
    one_row = one_frame & (h0 == h1)
    low = (t0, torch.where(one_frame, h0, 0), torch.where(one_row, w0, 0))
    high = (t1, torch.where(one_frame, h1, grid[1] - 1), torch.where(one_row, w1, grid[2] - 1))
    return low, high


class _Boxes:
    """Per block of 128 tokens, as tensors ``[blocks, 3]`` of (t, h, w): the box its queries' windows share (their
    intersection: the window of their highest coordinate starts last, that of their lowest ends first; empty where it
    ends first) and its tokens' bounding box; which blocks can be full (`full`) follows from them."""

    def __init__(self, grid: tuple, kernel: tuple, tokens: int, blocks: int, device):
        first = torch.arange(blocks, device=device) * BLOCK
        low, high = _extent(first, first + BLOCK - 1, grid)
        self.shared_low = torch.stack([_window_start(c, n, k) for c, n, k in zip(high, grid, kernel)], -1)
        self.shared_high = torch.stack([_window_start(c, n, k) + k - 1 for c, n, k in zip(low, grid, kernel)], -1)
        self.low, self.high = torch.stack(low, -1), torch.stack(high, -1)
        complete = first + BLOCK <= tokens  # the grid's last block, N no multiple of 128: diffusers counts its padding out
        self.shares = complete & (self.shared_low <= self.shared_high).all(-1)
        self.fits = complete & (self.high - self.low < torch.tensor(kernel, device=device)).all(-1)

    def full(self, query_block, key_block):
        """Whether every key of `key_block` lies in the window of every query of `query_block` (block numbers, [n]): its
        bounding box within the box their windows share (looked at only where it fits a window and they share one)."""
        maybe = self.shares[query_block] & self.fits[key_block]
        query, key, full = query_block[maybe], key_block[maybe], maybe.clone()
        full[maybe] = ((self.low[key] >= self.shared_low[query]) & (self.high[key] <= self.shared_high[query])).all(-1)
        return full


def _reached(first: int, end: int, grid: tuple, kernel: tuple, blocks: int, device):
    """The codes ``query block · blocks + key block`` (int64, ascending, unique) of the pairs holding a key in some
    query's window, for the queries ``first .. end - 1`` (whole query blocks, but for the grid's last), on `device`."""
    frames, height, width = grid
    starts = torch.cat([torch.arange(first, end, BLOCK, device=device),
                        torch.arange(-(-first // width) * width, end, width, device=device)]).unique()
    lasts = torch.cat([starts[1:], starts.new_tensor([end])]) - 1  # each run: one (t, h) row of one query block
    t, h, w = _coordinates(starts, grid)
    rows_t = _window_start(t, frames, kernel[0])[:, None] + torch.arange(kernel[0], device=device)
    rows_h = _window_start(h, height, kernel[1])[:, None] + torch.arange(kernel[1], device=device)
    rows = (rows_t[:, :, None] * height + rows_h[:, None, :]).flatten(1)  # [runs, kernel_t·kernel_h] key rows
    low = _window_start(w, width, kernel[2])[:, None]
    high = _window_start(lasts % width, width, kernel[2])[:, None] + kernel[2] - 1
    low, high = (rows * width + low) // BLOCK, (rows * width + high) // BLOCK  # the key blocks each key row's span meets
    keys = low[..., None] + torch.arange(int((high - low).max()) + 1, device=device)
    codes = (starts // BLOCK)[:, None, None] * blocks + keys
    return codes[keys <= high[..., None]].unique()


def _rows(codes, blocks: int, first: int, rows: int) -> tuple:
    """(kv_num_blocks ``[rows]``, kv_indices ``[rows, widest row]``, int32) of query blocks ``first .. first + rows - 1``
    from their ascending codes ``query block · blocks + key block``: each row's key blocks in ascending order, zeros past
    them."""
    query, key = codes // blocks - first, (codes % blocks).int()
    counts = torch.bincount(query, minlength=rows)
    indices = torch.zeros(rows, max(int(counts.max()), 1), dtype=torch.int32, device=codes.device)
    indices[query, torch.arange(len(codes), device=codes.device) - (counts.cumsum(0) - counts)[query]] = key
    return counts.int(), indices


def _stacked(chunks: list, width: int) -> tuple:
    """(kv_num_blocks ``[1, 1, blocks]``, kv_indices ``[1, 1, blocks, width]``) of the chunks' `_rows`, in order, each row
    padded to `width` (at least its widest)."""
    indices = torch.cat([torch.nn.functional.pad(indices, (0, width - indices.shape[1])) for _, indices in chunks])
    return torch.cat([counts for counts, _ in chunks])[None, None], indices[None, None]


def _entries(grid: tuple, kernel: tuple) -> int:
    """Candidate entries (`_reached`'s ``keys``) of one query block, at most: the (t, h) rows it meets, times the key rows
    of a window, times the key blocks one key row's span (a run's windows' w, within the row) meets."""
    width = grid[2]
    runs = -(-BLOCK // width) + 1
    spans = (min(width, BLOCK + kernel[2] - 1) + BLOCK - 2) // BLOCK + 1
    return runs * kernel[0] * kernel[1] * spans


def _clipped(frames: int, height: int, width: int, kernel_size) -> tuple:
    """(the grid ``(T, H, W)``, `kernel_size` clipped to it, the number of tokens and of their blocks)."""
    grid = (frames, height, width)
    tokens = frames * height * width
    return grid, tuple(min(k, n) for k, n in zip(kernel_size, grid)), tokens, -(-tokens // BLOCK)


def _chunk(grid: tuple, kernel: tuple) -> int:
    """Query blocks a chunk of the build takes: as many as keep its candidate entries within `CHUNK_ENTRIES`, one at
    least."""
    return max(1, CHUNK_ENTRIES // _entries(grid, kernel))


def neighborhood_block_mask(frames: int, height: int, width: int, kernel_size, device):
    """The `BlockMask` of the neighborhood attention of a ``(frames, height, width)`` grid's tokens (one stage's, latent
    or patch cells, not pixels), on `device`: diffusers' `_neighborhood_block_mask`'s blocks and mask_mod (see the
    module), in working memory of about ``CHUNK_ENTRIES · ENTRY_BYTES`` (~100 MB) plus the pairs it keeps, never N x N.
    Its two tables (the partial and the full blocks') are one width, their widest row's, not one column per key block:
    `BlockMask.to_dense`, which reads that width as the key blocks' count, does not apply, nor torch's compiled CPU flex
    template, which asserts it (CUDA's kernel reads a row up to its count); no q blocks (forward only: vidlong decodes
    without gradients)."""
    from torch.nn.attention.flex_attention import BlockMask

    grid, kernel, tokens, blocks = _clipped(frames, height, width, kernel_size)
    chunk = _chunk(grid, kernel)
    boxes, partial, full = _Boxes(grid, kernel, tokens, blocks, device), [], []
    for first in range(0, blocks, chunk):
        rows = min(chunk, blocks - first)
        codes = _reached(first * BLOCK, min((first + rows) * BLOCK, tokens), grid, kernel, blocks, device)
        whole = boxes.full(codes // blocks, codes % blocks)
        partial.append(_rows(codes[~whole], blocks, first, rows))
        full.append(_rows(codes[whole], blocks, first, rows))
    # one width for both tables, one column at least: torch 2.11's CUDA kernel reads the full blocks' table with the
    # partial one's strides (torch 2.13's has its own), and a table of no column has no row stride
    width = max(1, *(indices.shape[1] for _, indices in partial + full))
    return BlockMask.from_kv_blocks(*_stacked(partial, width), *_stacked(full, width), BLOCK_SIZE=BLOCK,
                                    mask_mod=window_mask_mod(grid, kernel), seq_lengths=(tokens, tokens), compute_q_blocks=False)


def block_mask_bytes(frames: int, height: int, width: int, kernel_size) -> int:
    """Bytes `neighborhood_block_mask` takes for the grid, at most: a chunk's working memory (`ENTRY_BYTES` an entry) and,
    per query block, the pairs of as many key blocks as its runs' key rows can meet (all of them at most)."""
    grid, kernel, _, blocks = _clipped(frames, height, width, kernel_size)
    entries = _entries(grid, kernel)
    return min(blocks, _chunk(grid, kernel)) * entries * ENTRY_BYTES + blocks * min(blocks, entries) * PAIR_BYTES


#: diffusers' builder swapped for `neighborhood_block_mask` while any decode runs
_BUILDER = SharedReplacement()


def neighborhood_masks():
    """Within it, diffusers' LTX-2.5 diffusion decoder builds its neighborhood attention's masks by
    `neighborhood_block_mask`, on every device; after it, on an error too, by its own builder again. Decodes that overlap
    (two pipelines in two threads, in any order) share it: installed as the first begins, diffusers' own again as the
    last ends."""
    from diffusers.models.autoencoders import ltx2_diffusion_decoder

    return _BUILDER.held(lambda: (ltx2_diffusion_decoder, "_neighborhood_block_mask", neighborhood_block_mask))
