"""Whether a request's forwards split evenly over the ranks of a Ulysses run (`vidlong.parallel`), read before any model
loads: from the folder's configs (`vidlong.validate.ModelLimits`), the checked request and its latent length.

diffusers' context-parallel engine shards each input its plan splits into equal parts along its split dim, and asserts
("Tensor size along dimension to be sharded must be divisible by mesh size") mid-run where one does not divide. Every
input the plans of the families that take ``--parallel`` split is one forward's video tokens long there (N): the hidden
states ``[B, N, C]``, a timestep per token ``[B, N]`` (Wan2.2 TI2V's, LTX-Video's and LTX-2's image-to-video, condition
and DFR calls', diagonal denoising's), the RoPE tables' outputs (Wan's and ChronoEdit's ``[1, N, 1, D]``, LTX's
``[B, N, D]``, LTX-2.3's split ``[B, H, N, D / 2]``; LTX-2's audio-video cross-attention's video RoPE too) and LTX-2.5's
keyframe marker ``[B, N, 1]``. N counts the tokens after the video's that a forward holds: LTX-2's and LTX-2.5's last
image (a latent frame), LTX-2.5's padded canvas and keyframe slots (a latent frame each,
`VidlongPipelineMixin.forward_latent_frames`). The text, Wan's image embeddings and LTX-2's audio (its tokens and its
timestep) stay whole on every rank. The methods split nothing more: around each plan the processor exchanges a rank's
share of the tokens for every token of its heads (`vidlong.parallel.to_heads`), so FreeLong++'s windows (per token frame)
and UltraViCo's regions span the whole grid as on one device; the heads are checked by
`vidlong.parallel.check_parallel_request`.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import VidlongError, named

#: rows, columns or latent frames searched on either side of the request's for a length that divides
SEARCH = 64


@dataclass(frozen=True)
class SplitTokens:
    """One forward's video tokens: `frames` latent frames (its call's appended ones counted) of `height` x `width` pixels,
    `tokens` in all (N); `latent` the video's own latent frames, `diagonal` whether method fifo runs it (its forwards the
    native window's)."""

    latent: int
    frames: int
    height: int
    width: int
    tokens: int
    diagonal: bool


def split_tokens(request, limits, latent: int) -> SplitTokens:
    """The tokens each forward of `request` (a checked `GenerateRequest`, `latent` latent frames long) holds on the pipeline
    of `limits`: its call's forward frames (`forward_frames`) at the video's size (`vidlong.validate.video_size`: an image's
    or a redrawn video's aspect where no size is given), under the transformer's patch (`vidlong.estimate.video_tokens`)."""
    from .estimate import video_tokens
    from .methods import DiagonalDenoising, methods_for
    from .validate import video_size

    diagonal = any(isinstance(method, DiagonalDenoising) for method in methods_for(request.method, request.preset))
    frames = limits.spec.native_frames if diagonal else forward_frames(request, limits, latent)
    height, width = video_size(limits, request.height, request.width, _first_frame(request))
    return SplitTokens(latent, frames, height, width, video_tokens(limits.geometry, frames, height, width), diagonal)


def forward_frames(request, limits, latent: int) -> int:
    """Latent frames of tokens one forward of the pipeline of `limits` holds for `request` made `latent` latent frames long
    (`VidlongPipelineMixin.forward_latent_frames` and `appended_latent_frames`, read from its class: its grid and the
    frames at the video's size its call appends)."""
    from .pipeline import pipeline_class

    made, temporal = pipeline_class(limits.pipeline), limits.geometry.temporal
    return made.forward_latent_frames(latent, request, temporal) + made.appended_latent_frames(request, latent, temporal)


def _first_frame(request):
    """The frame whose aspect sizes a video given no size (`vidlong.validate.video_size`): the image's, or the redrawn
    video's first (a PIL image), else None. Control videos, which size theirs likewise, take no ``--parallel``."""
    from .generate import has_image, load_image

    if request.video is not None:
        from PIL import Image

        from .video_to_video import input_video

        return Image.fromarray(input_video(request.video, 1)[0][0])
    return load_image(request.image) if has_image(request.image) else None


def check_parallel_split(request, limits, latent: int, ranks: int, heads: int) -> None:
    """A one-line refusal of `request` (checked, `latent` latent frames long) on the pipeline of `limits` over `ranks`
    Ulysses ranks where one forward's video tokens (`split_tokens`) do not divide by `ranks`, naming the fixes that make them
    divide: a ``--frames`` near the request's (`_frame_fixes`), a ``--height`` or ``--width`` near the video's
    (`_size_fixes`), a ``--nproc-per-node`` that divides both the tokens and the transformer's `heads`."""
    split = split_tokens(request, limits, latent)
    if split.tokens % ranks == 0:
        return
    fixes = [" or ".join(group) for group in (_frame_fixes(request, limits, split, ranks), _size_fixes(limits, split, ranks))
             if group]
    counts = [d for d in range(2, heads + 1) if heads % d == 0 and split.tokens % d == 0]
    if counts:
        fixes.append(f"--nproc-per-node {max([d for d in counts if d < ranks] or counts[:1])}")
    raise VidlongError(f"--parallel ulysses splits each forward's {split.tokens} video tokens ({split.frames} latent frames "
                       f"at {split.width}x{split.height}) evenly over its ranks, and {split.tokens} does not divide by "
                       f"{ranks}: use {'; or '.join(fixes) if fixes else 'another size or length'}")


def _frame_fixes(request, limits, split: SplitTokens, ranks: int) -> list:
    """``--frames N`` for the nearest shorter and longer videos whose forwards divide by `ranks`, within the model's RoPE
    table; none for a redrawn video (its file's length) or under method fifo (its forwards the native window's)."""
    from .estimate import video_tokens
    from .validate import call_pixel_count, longest_latent_frames

    if request.video is not None or split.diagonal:
        return []
    most = min(longest_latent_frames(limits) or split.latent + SEARCH, split.latent + SEARCH)

    def divides(latent: int) -> bool:
        return video_tokens(limits.geometry, forward_frames(request, limits, latent), split.height, split.width) % ranks == 0

    shorter = next((n for n in range(split.latent - 1, max(0, split.latent - SEARCH), -1) if divides(n)), None)
    longer = next((n for n in range(split.latent + 1, most + 1) if divides(n)), None)
    lengths = [str(call_pixel_count(n, limits)) for n in (shorter, longer) if n is not None]
    return [f"{named('frames')} {' or '.join(lengths)}"] if lengths else []


def _size_fixes(limits, split: SplitTokens, ranks: int) -> list:
    """``--height H`` and ``--width W``: the nearest height (width) in the model's pixel multiple, at least its smallest and
    within its RoPE table, whose forwards divide by `ranks`, the other side kept."""
    from .estimate import video_tokens

    geometry = limits.geometry
    step = geometry.pixel_multiple
    most = (limits.rope_positions or SEARCH * 4) * step
    fixes = []
    for name, side in (("height", split.height), ("width", split.width)):
        near = sorted(range(max(geometry.min_pixels, side - SEARCH * step), min(most, side + SEARCH * step) + 1, step),
                      key=lambda value: (abs(value - side), value))
        size = {"height": split.height, "width": split.width}
        found = next((value for value in near if video_tokens(geometry, split.frames, **{**size, name: value}) % ranks == 0),
                     None)
        if found is not None:
            fixes.append(f"{named(name)} {found}")
    return fixes
