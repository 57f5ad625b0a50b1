"""The methods as config dataclasses, and presets per extrapolation ratio.

Frame counts are in latent frames (Wan: token frames = latent frames). Every CLI/app option maps to
one field here.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, fields
from importlib import resources
from typing import Optional, Union

import yaml

from .attention.layout import TokenLayout
from .attention.mods import BandedPositiveDecay, FarPair, FirstFrameGuard, MaskMod, PositiveDecay, ScoreMod
from .errors import VidlongError, named, naming_flags
from .scalars import is_real, is_whole, plain
from .method_names import FUSION_METHODS, METHOD_NAMES
from .schedulers.bands import SeparableBands, default_cutoffs, make_bands
from .schedulers.windows import branch_windows


@dataclass(frozen=True)
class UltraViCo:
    """UltraViCo attention decay (Zhao et al., 2025).

    For a far query/key pair (see `region`) with a positive logit, the logit is multiplied by
    `alpha`. Queries of the first frame see no key beyond the native window (`guard_first_frame`).
    `center_keys` judges and scales logits of mean-centred keys, as the reference INT8 kernel does.

    Attributes:
        alpha: decay factor in (0, 1]; 1 disables the decay.
        region: "token" (``|i-j| > L·tokens_per_frame/2``, the reference) or "frame" (``|f_i-f_j| > L/2``).
        guard_first_frame: mask keys at frames >= L for first-frame queries.
        center_keys: subtract the mean key over the sequence before attention.
        beta: the second factor of UltraViCo's HunyuanVideo reference (0.6 there, with no first-frame
            guard): far pairs at token distances inside `beta_bands` get `beta` instead of `alpha`.
            None: off (the published rule for Wan and the other families).
        beta_bands: inclusive distance bands in frames (x tokens per frame = token distances), by
            default those of the reference: near multiples of ~50 frames, where HunyuanVideo's
            temporal RoPE realigns and its videos repeat.
        branches: with SpectralFusion, the branches the decay (and its guard) acts in: "all" (every
            window, local ones included: vidlong's `both` until now) or "global" (the global branch
            alone; the local windows stay plain, as neither paper combines them). Without fusion
            there is one branch and this changes nothing.
    """

    alpha: float = 0.9
    region: str = "token"
    guard_first_frame: bool = True
    center_keys: bool = True
    beta: Optional[float] = None
    beta_bands: tuple = ((46, 54), (96, 104), (146, 154), (196, 204))
    branches: str = "all"

    def __post_init__(self):
        _plain_fields(self, ("alpha", "beta"))
        _check_flags(self, ("guard_first_frame", "center_keys"), lambda name: f"UltraViCo {name}")
        if not _positive(self.alpha) or self.alpha > 1:
            raise VidlongError(f"UltraViCo alpha must be in (0, 1], got {self.alpha!r}; the paper's default is 0.9")
        if self.region not in ("token", "frame"):
            raise VidlongError(f"UltraViCo region must be 'token' or 'frame', got {self.region!r}")
        if self.branches not in ("all", "global"):
            raise VidlongError(f"UltraViCo branches must be 'all' or 'global', got {self.branches!r}")
        if self.beta is not None and (not _positive(self.beta) or self.beta > 1):
            raise VidlongError(f"UltraViCo beta must be in (0, 1] or None, got {self.beta!r}; HunyuanVideo's reference uses 0.6")
        try:
            object.__setattr__(self, "beta_bands", tuple((float(low), float(high)) for low, high in self.beta_bands))
        except (TypeError, ValueError):
            raise VidlongError(f"UltraViCo beta_bands must be (low, high) frame distances, got {self.beta_bands!r}") from None
        if any(not 0 <= low <= high for low, high in self.beta_bands):
            raise VidlongError(f"UltraViCo beta_bands must be (low, high) frame distances, low <= high, got {self.beta_bands!r}")

    @classmethod
    def preset(cls, name: str) -> "UltraViCo":
        """The decay settings of preset `name` (e.g. "4x"), as `SpectralFusion.preset` gives its fusion's;
        the preset's initial noise is `load_preset(name)["noise"]` (`generate` uses it)."""
        return load_preset(name)["ultravico"]

    def score_mod(self, layout: TokenLayout) -> ScoreMod:
        """The modifier of far pairs' logits: ``min(s, alpha·s)``, or with `beta` the banded variant."""
        if self.beta is None:
            return PositiveDecay(self.alpha)
        tpf = layout.tokens_per_frame
        return BandedPositiveDecay(self.alpha, self.beta, tuple((low * tpf, high * tpf) for low, high in self.beta_bands))

    def decay_region(self, layout: TokenLayout) -> Optional[MaskMod]:
        """The far pairs whose positive logits decay, or None when the decay cannot act here."""
        if self.alpha == 1 and self.beta in (None, 1):
            return None
        is_far = FarPair(layout, self.region)
        if not is_far.any_pair:
            return None
        return is_far

    def mask_mod(self, layout: TokenLayout) -> Optional[MaskMod]:
        """The first-frame guard, or None when off or when the video fits the native window."""
        if not self.guard_first_frame or layout.frames <= layout.native_frames:
            return None
        return FirstFrameGuard(layout)


@dataclass(frozen=True)
class SpectralFusion:
    """FreeLong++ multi-band spectral fusion (FreeLong for a single local window).

    Branches: the global attention plus one local branch per entry of `windows` (multiples of the
    native window L, e.g. ``(2, 1)`` for {F, 2L, L}); branch k supplies frequency band k, lowest from
    the global branch, highest from the most local one.

    Attributes:
        windows: local windows as multiples of L; windows >= the video length are dropped.
        bands: temporal cut-offs (normalised frequency in (0, 1]) at which each local window takes
            over, one per entry of `windows`; default ``0.25 · L / w`` (FreeLong's 0.25 at w = L).
        spatial_cutoff: spatial Gaussian cut-off d_s shared by every band (FreeLong: 0.25).
        anchors: a multiple of L (e.g. 1/3): every local window also sees the video's first
            ``round(anchors · L)`` frames (at least one), as a stream's chunks see its sinks. 0: plain
            windows, as published. vidlong's own option ("anchored window").
        anchor_positions: "own": the anchors keep their positions (up to the whole video away);
            "adjacent": each window sees them re-placed (RoPE) at the frames just before it, as a
            stream places its sinks (Wan; the dense kernel; UltraViCo then acts in the global branch only).
    """

    windows: tuple[float, ...] = (2.0, 1.0)
    bands: Optional[tuple[float, ...]] = None
    spatial_cutoff: float = 0.25
    anchors: float = 0.0
    anchor_positions: str = "own"

    def __post_init__(self):
        _plain_fields(self, ("spatial_cutoff", "anchors"))
        if not _positive(self.spatial_cutoff):
            raise VidlongError(f"SpectralFusion spatial_cutoff must be a finite number > 0 (FreeLong: 0.25), got {self.spatial_cutoff!r}")
        if not isinstance(self.windows, (tuple, list)) or not all(_positive(w) for w in self.windows):
            raise VidlongError(f"SpectralFusion windows must be multiples of the native length > 0, got {self.windows!r}")
        if self.bands is not None and (not isinstance(self.bands, (tuple, list)) or not all(_positive(b) and b <= 1 for b in self.bands)):
            raise VidlongError(f"SpectralFusion bands must be normalised frequencies in (0, 1], got {self.bands!r}")
        if self.bands is not None and len(self.bands) != len(self.windows):
            raise VidlongError(f"SpectralFusion needs one band cut-off per window: {len(self.windows)} windows, {len(self.bands)} bands")
        check_anchors("SpectralFusion", self.anchors, self.anchor_positions)
        bands = self.bands if self.bands is not None else [None] * len(self.windows)
        pairs = sorted(((float(w), b) for w, b in zip(self.windows, bands)), key=lambda p: p[0], reverse=True)
        object.__setattr__(self, "windows", tuple(w for w, _ in pairs))
        if self.bands is not None:
            object.__setattr__(self, "bands", tuple(float(b) for _, b in pairs))

    @classmethod
    def preset(cls, name: str) -> "SpectralFusion":
        """The fusion settings of preset `name` (e.g. "4x")."""
        return load_preset(name)["fusion"]

    def windows_for(self, layout: TokenLayout):
        """Branch windows in token frames, global first (see `branch_windows`)."""
        return branch_windows(layout.frames, layout.native_frames, self.windows)

    def anchor_frames_for(self, layout: TokenLayout) -> int:
        """Token frames of the local windows' anchors (0: none)."""
        return anchor_frames(self.anchors, layout)

    def bands_for(self, layout: TokenLayout, windows) -> SeparableBands:
        """The K frequency bands for the branches `windows`."""
        if self.bands is None:
            cutoffs = default_cutoffs(windows, layout.native_frames)
        else:
            by_window = {max(1, round(m * layout.native_frames)): b for m, b in zip(self.windows, self.bands)}
            cutoffs = tuple(by_window[w] for w in windows[1:])
        return make_bands(layout.frames, layout.height, layout.width, cutoffs, self.spatial_cutoff)


@dataclass(frozen=True)
class SlidingWindow:
    """Baseline: every query attends only to a local temporal window (no fusion).

    Attributes:
        window: window as a multiple of the native window L (1 = L frames, centred, shifted at the ends).
        anchors, anchor_positions: the video's first frames seen by every window, as
            `SpectralFusion`'s (e.g. ``window=2/3, anchors=1/3, anchor_positions="adjacent"``: a stream's
            sinks and window of the native length, in one bidirectional forward).
    """

    window: float = 1.0
    anchors: float = 0.0
    anchor_positions: str = "own"

    def __post_init__(self):
        _plain_fields(self, ("window", "anchors"))
        if not _positive(self.window):
            raise VidlongError(f"SlidingWindow window must be > 0 (a multiple of the native length), got {self.window!r}")
        check_anchors("SlidingWindow", self.anchors, self.anchor_positions)

    def anchor_frames_for(self, layout: TokenLayout) -> int:
        """Token frames of the window's anchors (0: none)."""
        return anchor_frames(self.anchors, layout)

    def windows_for(self, layout: TokenLayout):
        """``(w,)`` in token frames, or ``(None,)`` when the window spans the video."""
        window = max(1, round(self.window * layout.native_frames))
        return (window,) if window < layout.frames else (None,)


@dataclass(frozen=True)
class RIFLEx:
    """Baseline (Zhao et al., 2025): lower the RoPE temporal component whose period is closest to the
    native window so one period covers the new length. Acts on positions, not on attention."""


@dataclass(frozen=True)
class DiagonalDenoising:
    """FIFO-Diffusion's diagonal denoising (Kim et al., 2024) with a sink: a sampler, not an attention
    method (it needs no hooks; `vidlong.diagonal`). A queue of latent frames at rising noise levels moves
    one level down per forward; the clean head frame leaves, a noise frame joins at the tail. The
    model only ever sees its native window. Picked by ``method="fifo"``; Wan and LTX-Video (per-token timesteps).

    Attributes:
        partitions: windows in the queue (FIFO's latent partitioning): the queue holds
            ``partitions x window`` frames at as many noise levels, each window one forward.
        sink: every window also sees the first video's first latent frame, clean, at RoPE position 0
            (the queue's frames at 1..native-1; with ``k`` sink frames, at 0..k-1 and k..native-1), as the model saw a clip's first latent in training;
            measured essential (all prompted objects present in 0.77 of frames at 4x with it, 0.62
            without: RESULTS.md). Image-to-video needs it (that frame is the image). A whole number
            ``k`` sinks the first video's first ``k`` latent frames (positions 0..k-1); True is 1.
        lookahead: FIFO-Diffusion's lookahead denoising: windows at half a window's stride, each updating
            only its noisier half with the cleaner frames in front as context (twice the forwards).
        cut_on_prompt_switch: streams (`vidlong.fifo_stream`), text-to-video: at a chunk whose prompt differs
            from the one before (a schedule's entry or a live switch) the queue starts again from the new
            prompt's own native video, a cut (the sink stays; the stream pauses for the native video's
            steps); False: the switch reaches every frame not shown yet, a blend over the queue.
            (`generate`'s timeline cuts where a segment starts inside the queue's first frames, `vidlong.diagonal`.)
        guidance_by_partition: classifier-free guidance per partition of the queue, from the cleanest (lowest
            noise levels) to the noisiest, one number each; a frame takes its level's partition's, and a window
            whose frames are all at 1 runs its prompt alone. It replaces the pipeline's guidance in the queue,
            both experts' on Wan2.2 (the native video keeps ``guidance`` / ``guidance_2``). None: the pipeline's
            guidance (per expert) at every level. On the default model ``(4.5, 6, 7.5)`` (with guidance 4.5 for
            the native video) kept more prompted objects than 4.5 alone at 4x-16x (+0.02 to +0.07), with more
            flicker; ``(1, g, g)`` saves one forward in six for a little less (RESULTS.md).
        noise_correlation: c in [0, 1): each new frame joining the queue starts from ``c·previous + sqrt(1 - c²)·fresh``
            noise, correlated with the frame joining before it (unit spread kept); 0: independent noise. On the
            default model 0.5 kept more prompted objects at 4x and 8x (+0.03 each) and not at 16x, with less
            motion (RESULTS.md).
        native_steps: denoising steps of the native videos a fifo stream or extension makes (its start, each cut);
            None: the model's. `generate`'s fifo video takes its request's steps (``GenerateRequest.steps``) instead,
            so a stream with ``native_steps=n`` is ``generate(..., steps=n)``'s fifo video chunk by chunk.
    """

    partitions: int = 3
    sink: Union[bool, int] = True
    lookahead: bool = False
    cut_on_prompt_switch: bool = False
    guidance_by_partition: Optional[tuple] = None
    noise_correlation: float = 0.0
    native_steps: Optional[int] = None

    def __post_init__(self):
        _plain_fields(self, ("partitions", "sink", "native_steps"))
        from .validate import check_steps

        check_steps(self.native_steps, "DiagonalDenoising native_steps")
        if not is_whole(self.partitions) or self.partitions < 1:
            raise VidlongError(f"DiagonalDenoising partitions must be a whole number >= 1, got {self.partitions!r}")
        if not isinstance(self.sink, bool) and (not is_whole(self.sink) or self.sink < 0):
            raise VidlongError(f"DiagonalDenoising sink must be True, False or a whole number of frames >= 0, got {self.sink!r}")
        _check_flags(self, ("lookahead", "cut_on_prompt_switch"), lambda name: f"DiagonalDenoising {name}")
        if self.guidance_by_partition is not None:
            try:
                scales = tuple(self.guidance_by_partition)
            except TypeError:  # one number: refused below with the rest
                scales = ()
            from .validate import MAX_GUIDANCE

            if len(scales) != self.partitions or not all(is_real(g) and 1 <= g <= MAX_GUIDANCE for g in scales):
                raise VidlongError(f"DiagonalDenoising guidance_by_partition takes one number from 1 to {MAX_GUIDANCE:g} per partition "
                                   f"({self.partitions}), cleanest first, got {self.guidance_by_partition!r}")
            object.__setattr__(self, "guidance_by_partition", tuple(float(g) for g in scales))
        if not is_real(self.noise_correlation) or not 0 <= self.noise_correlation < 1:
            raise VidlongError(f"DiagonalDenoising noise_correlation must be a number from 0 up to (not including) 1, "
                               f"got {self.noise_correlation!r}")
        object.__setattr__(self, "noise_correlation", float(self.noise_correlation))

    @property
    def sink_frames(self) -> int:
        """Latent frames of the sink: 1 for True, 0 for False, else `sink`."""
        return int(self.sink)

    def window(self, native_frames: int) -> int:
        """Queue frames per forward: the native window less the sink (latent frames)."""
        if self.sink_frames >= native_frames:
            raise VidlongError(f"DiagonalDenoising sink {self.sink} leaves no frame of the native window ({native_frames} "
                               f"latent frames) for the queue; use sink {native_frames - 1} or fewer")
        return native_frames - self.sink_frames

    def levels(self, native_frames: int) -> int:
        """Noise levels, which are the queue's frames: `partitions` windows."""
        return self.partitions * self.window(native_frames)

    def span(self, native_frames: int) -> int:
        """Video frames the sink and the queue hold at the start (latent frames)."""
        return self.sink_frames + self.levels(native_frames)

    def queue_guidance(self, native_frames: int) -> Optional[tuple]:
        """The guidance of each queue frame ``[levels]`` by its partition (queue frame j, at noise level j + 1,
        is in partition ``j // window``), or None where `guidance_by_partition` is unset."""
        if self.guidance_by_partition is None:
            return None
        window = self.window(native_frames)
        return tuple(self.guidance_by_partition[j // window] for j in range(self.levels(native_frames)))

    def forwards_per_frame(self, native_frames: int) -> int:
        """Transformer forwards (per expert) per latent frame made (`vidlong.schedulers.diagonal.window_spans`)."""
        from .schedulers.diagonal import window_spans

        return len(window_spans(self.levels(native_frames), self.window(native_frames), self.lookahead))


def partition_guidance_of(text: Optional[str], name: str = "--partition-guidance") -> Optional[tuple]:
    """Guidance by partition as written, "G1,G2,G3" (``--partition-guidance``, the app's field), as
    `DiagonalDenoising.guidance_by_partition` (None: not given), or a one-line error naming it `name`."""
    from .validate import MAX_GUIDANCE

    if text is None:
        return None
    try:
        return DiagonalDenoising(guidance_by_partition=tuple(float(part) for part in text.split(","))).guidance_by_partition
    except (ValueError, VidlongError):
        raise VidlongError(f"{name} takes {DiagonalDenoising().partitions} numbers from 1 to {MAX_GUIDANCE:g} separated by "
                           f"commas, one per partition of the queue, cleanest first (e.g. 4.5,6,7.5); got {text!r}") from None


def diagonal_of(partition_guidance: Optional[str] = None, noise_correlation: Optional[float] = None,
                cut_on_prompt_switch: bool = False, names: tuple = ("--partition-guidance", "--noise-correlation"),
                native_steps: Optional[int] = None) -> DiagonalDenoising:
    """Method fifo's `DiagonalDenoising` of its user options: `partition_guidance` as written (`partition_guidance_of`),
    `noise_correlation` (None: 0), `cut_on_prompt_switch` and a stream's `native_steps` (checked as ``--steps`` before:
    `vidlong.validate.check_steps`); a bad value is a one-line error naming the option by `names` (the CLI's flags, or
    the app's fields)."""
    guidance = partition_guidance_of(partition_guidance, names[0])
    try:
        return DiagonalDenoising(cut_on_prompt_switch=cut_on_prompt_switch, guidance_by_partition=guidance,
                                 noise_correlation=0.0 if noise_correlation is None else noise_correlation,
                                 native_steps=native_steps)
    except VidlongError as err:
        raise VidlongError(str(err).replace("DiagonalDenoising noise_correlation", names[1])) from None


@dataclass(frozen=True)
class Streaming:
    """Streaming generation: chunk by chunk through attention sinks and a rolling KV cache.

    All counts are latent frames. Defaults keep ``sinks + window + chunk`` equal to the native
    window, so no query ever sees a temporal position the model was not trained on; a window that
    takes that sum past the native window is refused when the stream starts.

    Attributes:
        chunk: latent frames generated per chunk (C); a stream given no config takes the model's own where it names one
            (`model_streaming`: Helios's call's chunk).
        sinks: first frames kept forever as attention sinks (S); default one chunk (for a chunk over half the native
            window, what it leaves: ``native - C``; for one of the whole window, one chunk, past it).
        window: most recent frames kept in the cache (W); default ``native - S - C``.
        recache_on_prompt_switch: on a prompt switch, re-encode the cached frames' K/V under the
            new prompt (LongLive) instead of keeping them (cheaper, slower to follow the prompt).
        steps: denoising steps per chunk; default the model's.
        context: how a chunk sees the frames before it. "cache": their clean K/V, written once into
            the rolling KV cache (the pattern block-causal weights are trained with). "renoise": at
            every step the clean context latents are re-noised to the step's noise level and denoised
            jointly with the chunk in one bidirectional window of ``S + W + C`` frames (what
            bidirectional weights are trained on; one native-window forward per step, still flat per
            chunk). "clean": the context latents stay clean in that window, under the condition mask
            of a transformer that takes one, as its call conditions a video it continues (Cosmos-Predict2.5's
            Video2World: its condition mask 1 and its conditioning timestep there; only the chunk is
            denoised). None: the model's `stream_context` (vidlong.yaml), else the pipeline's own where
            its family names one ("clean" for Cosmos-Predict2.5, from text or an image), else "renoise"
            for image-to-video pipelines, else the family's ("cache" for Wan's text-to-video:
            `vidlong.validate.resolve_context`).
        first_chunk: latent frames of a new stream's first chunk, which has no context (at most the
            native window); None: the model's `stream_first_chunk` (vidlong.yaml), else `chunk`. A native-length first chunk gives later chunks a context
            made the way the model makes its best videos.
        seam_frames: extension only: the first new pixel frames take on the difference between the
            input's last frame and its VAE reconstruction, fading to nothing over this many frames, so
            the continuation starts from the input's exact pixels instead of their reconstruction
            (0: off). The input's own frames are never changed.
        sampler: how a chunk is denoised. "scheduler": the pipeline's own scheduler over `steps`
            steps. "causal": the few-step sampler block-causal models are trained with (Self-Forcing,
            CausVid, LongLive; `vidlong.schedulers.causal`): predict the clean chunk at each of
            `timesteps`, re-noise it to the next; guidance 1 unless one is given. None: the model's
            `stream_sampler` (vidlong.yaml), else "scheduler".
        timesteps: the causal sampler's noise levels, strictly decreasing in 1..1000 from 1000, e.g.
            (1000, 750, 500, 250); None: `steps` evenly spaced from 1000 when `steps` is set, else the
            model's `stream_timesteps`, else 4 levels.
        keep_sinks_on_switch: with `recache_on_prompt_switch`, re-encode only the window under the new
            prompt and keep the sinks' K/V as they were made (LongLive's default) instead of all.

    ``Streaming.preset("longlive")`` gives LongLive's settings (`STREAM_PRESETS`).
    """

    chunk: int = 3
    sinks: Optional[int] = None
    window: Optional[int] = None
    recache_on_prompt_switch: bool = True
    steps: Optional[int] = None
    context: Optional[str] = None
    first_chunk: Optional[int] = None
    seam_frames: int = 8
    sampler: Optional[str] = None
    timesteps: Optional[tuple] = None
    keep_sinks_on_switch: bool = False

    @classmethod
    def preset(cls, name: str, **changes) -> "Streaming":
        """A named streaming preset (`STREAM_PRESETS`), with `changes` on top."""
        if name not in STREAM_PRESETS:
            raise VidlongError(f"unknown streaming preset {name!r}; choose one of: {', '.join(STREAM_PRESETS)}")
        return cls(**{**STREAM_PRESETS[name], **changes})

    def __post_init__(self):
        _plain_fields(self, ("chunk", "first_chunk", "steps", "sinks", "window", "seam_frames"))
        for name in ("chunk", "first_chunk", "steps"):  # None: the model's, but for chunk
            value = getattr(self, name)
            if (value is not None or name == "chunk") and (not is_whole(value) or value < 1):
                raise VidlongError(f"{_streaming_field(name)} must be a whole number >= 1, got {value!r}")
        for name in ("sinks", "window", "seam_frames"):
            value = getattr(self, name)
            if value is not None and (not is_whole(value) or value < 0):
                raise VidlongError(f"{_streaming_field(name)} must be a whole number >= 0, got {value!r}")
        _check_flags(self, ("recache_on_prompt_switch", "keep_sinks_on_switch"), _streaming_field)
        if self.context not in (None, *STREAM_CONTEXTS):
            raise VidlongError(f"{_streaming_field('context')} must be one of {', '.join(STREAM_CONTEXTS)}, got {self.context!r}")
        if self.sampler not in (None, *STREAM_SAMPLERS):
            raise VidlongError(f"{_streaming_field('sampler')} must be one of {', '.join(STREAM_SAMPLERS)}, got {self.sampler!r}")
        if self.timesteps is not None:
            from .schedulers.causal import check_timesteps

            if isinstance(self.timesteps, (str, bytes)) or not hasattr(self.timesteps, "__iter__"):
                raise VidlongError(f"{_streaming_field('timesteps')} must be a list such as (1000, 750, 500, 250), got {self.timesteps!r}")
            object.__setattr__(self, "timesteps", check_timesteps(self.timesteps, field=_streaming_field("timesteps")))


def model_streaming(spec, preset: Optional[str] = None, **changes) -> Streaming:
    """The `Streaming` a stream of the model `spec` (`vidlong.models.ModelSpec`) starts from: the named `preset` (None: the
    model's ``stream_preset``, else "default") over the model's own chunk (its ``stream_chunk``, where it names one; a
    preset's chunk comes before it; none past its native window, where no chunk is given), with `changes` (what the user
    gave) on top."""
    name = preset or spec.stream_preset or "default"
    own = {} if spec.stream_chunk is None or "chunk" in STREAM_PRESETS.get(name, {}) else {"chunk": spec.stream_chunk}
    streaming = Streaming.preset(name, **{**own, **changes})
    if "chunk" not in changes and streaming.chunk > spec.native_frames:  # a window smaller than the preset's chunk
        return dataclasses.replace(streaming, chunk=spec.native_frames)
    return streaming


def _streaming_field(name: str) -> str:
    """How an error names a `Streaming` field: ``Streaming sinks (--sinks)`` from Python, ``--sinks`` from the CLI."""
    return named(name) if naming_flags() else f"Streaming {named(name)}"


#: how a streamed chunk sees the frames before it (see `Streaming.context`)
STREAM_CONTEXTS = ("cache", "renoise", "clean")
#: the contexts a chunk's window holds again at every step (stock bidirectional forwards, no KV cache)
WINDOW_CONTEXTS = ("renoise", "clean")
#: how a streamed chunk is denoised (see `Streaming.sampler`)
STREAM_SAMPLERS = ("scheduler", "causal")
#: named `Streaming` settings. longlive: LongLive's attention layout (3 sink frames and 12 attended frames
#: in all, chunks of 3, the clean K/V cache, the sinks kept across prompt switches while the window is
#: re-encoded); its sampler comes from the model (a converted LongLive folder's vidlong.yaml names it)
STREAM_PRESETS = {
    "default": {},
    "longlive": dict(chunk=3, sinks=3, window=6, context="cache", recache_on_prompt_switch=True, keep_sinks_on_switch=True),
}


#: the "-anchored" methods' anchors (a multiple of the native window) where the preset sets none: a third,
#: as many frames as a stream's sinks by default (one chunk of native / 3)
DEFAULT_ANCHORS = 1 / 3


#: where a local window sees its anchors (see `SpectralFusion.anchor_positions`)
ANCHOR_POSITIONS = ("own", "adjacent")


def check_anchors(owner: str, anchors, positions) -> None:
    """One line for anchors outside [0, 1] native windows or an unknown `anchor_positions`."""
    if not (anchors == 0 or _positive(anchors)) or anchors > 1:
        raise VidlongError(f"{owner} anchors must be a multiple of the native length in [0, 1] (e.g. 1/3), got {anchors!r}")
    if positions not in ANCHOR_POSITIONS:
        raise VidlongError(f"{owner} anchor_positions must be one of {', '.join(ANCHOR_POSITIONS)}, got {positions!r}")


def needs_moved_rope(methods) -> bool:
    """Whether any of `methods` has anchors re-placed next to its windows (``anchor_positions="adjacent"``)."""
    return any(getattr(m, "anchors", 0) and getattr(m, "anchor_positions", "own") == "adjacent" for m in methods)


def check_family_methods(methods, adapter) -> None:
    """One line unless the family of `adapter` implements what `methods` need of its RoPE (RIFLEx's tables, anchors
    re-placed next to their windows) and of its attention (UltraViCo's softmax logits, which linear attention has not)."""
    if any(isinstance(m, RIFLEx) for m in methods) and not adapter.riflex:
        others = (f"{named('method')} ultravico, freelong, both or window" if naming_flags()
                  else "UltraViCo, SpectralFusion or SlidingWindow")
        raise VidlongError(f"RIFLEx is not implemented for {adapter.transformer_class} (vidlong's RIFLEx replaces the temporal "
                           f"RoPE tables of Wan-layout transformers); use {others} with it")
    if any(isinstance(m, UltraViCo) for m in methods) and adapter.linear:
        others = f"{named('method')} freelong or window" if naming_flags() else "SpectralFusion or SlidingWindow"
        raise VidlongError(f"UltraViCo is not defined for {adapter.transformer_class}: its self-attention is linear (ReLU "
                           f"features, no softmax logits for its decay to damp); use {others}")
    if needs_moved_rope(methods) and not adapter.moves_rope:
        raise VidlongError(f"windows with sinks (anchor_positions='adjacent', the -sinks methods) are not implemented for "
                           f"{adapter.transformer_class} (moving its RoPE); use a method without -sinks")


def anchor_frames(anchors: float, layout: TokenLayout) -> int:
    """Token frames of `anchors` native windows (at least one; 0 for none)."""
    return max(1, round(anchors * layout.native_frames)) if anchors else 0


def _positive(value) -> bool:
    """A finite real number > 0."""
    return is_real(value) and value > 0


def _check_flags(config, names, field) -> None:
    """One line for the first of a config's `names` that is not True or False (a string such as "False" would read as
    true), naming it as `field(name)` does."""
    for name in names:
        if not isinstance(getattr(config, name), bool):
            raise VidlongError(f"{field(name)} must be True or False, got {getattr(config, name)!r}")


def _plain_fields(config, names) -> None:
    """Store a frozen config's NumPy numbers among `names` as Python ones (`vidlong.scalars.plain`)."""
    for name in names:
        object.__setattr__(config, name, plain(getattr(config, name)))


def check_methods(methods) -> None:
    """Methods applied together: vidlong method configs, each kind at most once, and SpectralFusion or
    SlidingWindow (not both)."""
    kinds = []
    for method in methods:
        if isinstance(method, DiagonalDenoising):
            raise VidlongError("DiagonalDenoising is a sampler, not an attention method, and is not applied to a transformer; "
                               "use generate(pipe, GenerateRequest(..., method=\"fifo\")) or vidlong generate --method fifo")
        if not isinstance(method, (UltraViCo, SpectralFusion, SlidingWindow, RIFLEx)):
            raise VidlongError(f"not a vidlong method: {method!r}; use vidlong.UltraViCo(...) or vidlong.SpectralFusion(...)")
        if type(method) in kinds:
            raise VidlongError(f"{type(method).__name__} is given twice; pass each method once")
        kinds.append(type(method))
    if SpectralFusion in kinds and SlidingWindow in kinds:
        raise VidlongError("SpectralFusion already has local windows; use it or SlidingWindow, not both")


def methods_for(name: str, preset: Optional[str] = None) -> tuple:
    """Method configs for a CLI method name, with the preset's settings (or the defaults)."""
    if name not in METHOD_NAMES:
        raise VidlongError(f"unknown method {name!r}; choose one of: {', '.join(METHOD_NAMES)}")
    settings = load_preset(preset) if preset else {"ultravico": UltraViCo(), "fusion": SpectralFusion()}
    settings = dict(settings, riflex=RIFLEx(), window=SlidingWindow(), diagonal=DiagonalDenoising())
    if name == "both-global":
        settings["ultravico"] = dataclasses.replace(settings["ultravico"], branches="global")
    if name.endswith(("-anchored", "-sinks")) and not settings["fusion"].anchors:
        settings["fusion"] = dataclasses.replace(settings["fusion"], anchors=DEFAULT_ANCHORS)
    if name.endswith("-sinks"):
        settings["fusion"] = dataclasses.replace(settings["fusion"], anchor_positions="adjacent")
        settings["window"] = SlidingWindow(window=1 - DEFAULT_ANCHORS, anchors=DEFAULT_ANCHORS, anchor_positions="adjacent")
    chosen = {"none": (), "direct": (), "ultravico": ("ultravico",), "freelong": ("fusion",), "both-global": ("ultravico", "fusion"),
              "both": ("ultravico", "fusion"), "freelong-anchored": ("fusion",), "both-anchored": ("ultravico", "fusion"),
              "freelong-sinks": ("fusion",), "both-sinks": ("ultravico", "fusion"),
              "riflex": ("riflex",), "window": ("window",), "window-sinks": ("window",),
              "both-then-window": ("ultravico", "fusion"), "fifo": ("diagonal",)}[name]
    return tuple(settings[key] for key in chosen)


#: the methods that change during denoising: name -> (fraction of the steps before the switch, the
#: method name after it). A time-varying schedule (issue 18): global structure early, local detail late.
METHOD_SWITCHES = {"both-then-window": (0.5, "window")}


def method_switch(name: str, steps: int, preset: Optional[str] = None) -> Optional[tuple]:
    """``(step, methods)`` for a method that changes during denoising: after denoising step `step`
    (1-based, of `steps`) the transformer's methods become `methods`; None for every other method."""
    if name not in METHOD_SWITCHES:
        return None
    fraction, after = METHOD_SWITCHES[name]
    return max(1, round(fraction * steps)), methods_for(after, preset)


def default_noise(name: str, preset: Optional[str] = None) -> str:
    """The initial noise of a CLI method name with `preset`, as its paper starts: FreeLong++ (and the
    combinations with it) the preset's noise (SpecMix, FreeLong++'s own), every other method plain
    Gaussian noise (UltraViCo as published). `--noise` overrides it."""
    if preset and name in FUSION_METHODS:
        return load_preset(preset)["noise"]
    return "plain"


def preset_names() -> list[str]:
    """Names of the presets shipped in `vidlong.configs/presets` (e.g. "2x", "4x"), shortest length first."""
    folder = resources.files("vidlong.configs") / "presets"
    return sorted((p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml")),
                  key=lambda name: float(name.rstrip("x")))


def load_preset(name: str) -> dict:
    """A preset as ``{"ratio": float, "ultravico": UltraViCo, "fusion": SpectralFusion, "noise": str}``."""
    names = preset_names()
    if name not in names:
        raise VidlongError(f"unknown preset {name!r}; choose one of: {', '.join(names)}")
    raw = yaml.safe_load((resources.files("vidlong.configs") / "presets" / f"{name}.yaml").read_text())
    return {
        "ratio": float(raw["ratio"]),
        "ultravico": _from_dict(UltraViCo, raw.get("ultravico", {})),
        "fusion": _from_dict(SpectralFusion, raw.get("fusion", {})),
        "noise": raw.get("noise", "plain"),
    }


def _from_dict(cls, values: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(values) - known
    if unknown:
        raise VidlongError(f"{cls.__name__} has no setting {sorted(unknown)[0]!r}; known: {', '.join(sorted(known))}")
    return cls(**values)
