"""Float64 dense references written from the math of ../shared/METHODS.md, independent of vidlong's
implementation (plain loops over frames and explicit index grids)."""
from __future__ import annotations

import math

import torch


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Relative L2 error of `a` against `b`, in float64: ``|a - b| / |b|``."""
    return ((a.double() - b.double()).norm() / b.double().norm()).item()



def rms_norm(x, norm):
    """A per-head RMS norm in float64: ``x / rms(x) · weight``, with the module's epsilon (diffusers' `RMSNorm`: Cosmos's,
    Mochi's), or float32's where it has none (`nn.RMSNorm`'s default: Kandinsky 5's and 6's, which normalise q and k in
    float32)."""
    eps = torch.finfo(torch.float32).eps if norm.eps is None else norm.eps
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * norm.weight


def matrix_rotated(x, rope):
    """RoPE as 2x2 rotation matrices in float64 (Kandinsky 5's and 6's): each channel pair of ``[B, N, H, D]`` times its
    matrix (`rope` ``[..., N, 1, D / 2, 2, 2]``)."""
    pairs = x.unflatten(-1, (-1, 2)).unsqueeze(-1)  # [B, N, H, D / 2, 2, 1]
    return (rope.double() @ pairs).flatten(-3)


def frame_index(num_tokens: int, tokens_per_frame: int) -> torch.Tensor:
    return torch.arange(num_tokens) // tokens_per_frame


def local_window_allowed(frames: int, tokens_per_frame: int, window: int) -> torch.Tensor:
    """[N, N] bool: query frame f sees key frames [s, s + window), s = clamp(f - window//2, 0, F - window)."""
    allowed_frames = torch.zeros(frames, frames, dtype=torch.bool)
    for f in range(frames):
        start = min(max(f - window // 2, 0), frames - window)
        allowed_frames[f, start : start + window] = True
    fi = frame_index(frames * tokens_per_frame, tokens_per_frame)
    return allowed_frames[fi][:, fi]


def ultravico_attention(q, k, v, frames, tokens_per_frame, native, alpha=0.9, region="token", guard=True,
                        center=True, allowed=None):
    """UltraViCo attention in float64. q, k, v: [B, N, H, D]. Returns [B, N, H, D] float64."""
    q, k, v = (t.double().transpose(1, 2) for t in (q, k, v))  # [B, H, N, D]
    n = q.shape[2]
    if center:
        k = k - k.mean(dim=2, keepdim=True)
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    i = torch.arange(n).view(-1, 1)
    j = torch.arange(n).view(1, -1)
    fi, fj = i // tokens_per_frame, j // tokens_per_frame
    if region == "token":
        far = (i - j).abs().double() > native * tokens_per_frame / 2
    else:
        far = (fi - fj).abs().double() > native / 2
    s = torch.where(far & (s > 0), alpha * s, s)
    keep = torch.ones(n, n, dtype=torch.bool)
    if guard:
        keep &= ~((fi == 0) & (fj >= native))
    if allowed is not None:
        keep &= allowed
    s = s.masked_fill(~keep, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v).transpose(1, 2)


def plain_attention(q, k, v, allowed=None):
    """Softmax attention in float64 on [B, N, H, D], optionally restricted by an [N, N] mask."""
    q, k, v = (t.double().transpose(1, 2) for t in (q, k, v))
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if allowed is not None:
        s = s.masked_fill(~allowed, float("-inf"))
    return (torch.softmax(s, dim=-1) @ v).transpose(1, 2)


def linear_attention(q, k, v, allowed=None):
    """Linear attention in float64 on ``[B, N, H, D]``, written as its dense ``[N, N]`` weights: `q` and `k` are pairs
    (features, RoPE-rotated features); ``out_i = Σ_j (q̃_i · k̃_j) v_j / (Σ_j q_i · k_j + 1e-15)``, both sums over the keys
    an ``[N, N]`` mask `allowed` lets query i see (all by default)."""
    (q, q_rot), (k, k_rot) = ((x.double().transpose(1, 2) for x in pair) for pair in (q, k))
    v = v.double().transpose(1, 2)
    weights, norms = q_rot @ k_rot.transpose(-1, -2), q @ k.transpose(-1, -2)  # [B, H, N, N]
    if allowed is not None:
        weights, norms = weights * allowed, norms * allowed
    return (weights @ v / (norms.sum(-1, keepdim=True) + 1e-15)).transpose(1, 2)


def centred_coords(n: int) -> torch.Tensor:
    """Normalised frequency of each fftshift-ed index, in [-1, 1) with DC at 0."""
    return (torch.arange(n, dtype=torch.float64) - n // 2) / (n / 2)


def gaussian_lowpass_shifted(frames, height, width, d_t, d_s):
    t = centred_coords(frames).view(-1, 1, 1)
    h = centred_coords(height).view(1, -1, 1)
    w = centred_coords(width).view(1, 1, -1)
    return torch.exp(-0.5 * ((t / d_t) ** 2 + (h / d_s) ** 2 + (w / d_s) ** 2))


def band_fusion(outputs, frames, height, width, cutoffs, d_s):
    """K-branch FreeLong++ fusion in float64 with full complex FFTs and fftshift.

    outputs: K tensors [B, N, H, D], global first. Bands: G_1, G_2 - G_1, ..., 1 - G_{K-1}.
    """
    lows = [gaussian_lowpass_shifted(frames, height, width, c, d_s) for c in cutoffs]
    edges = [torch.zeros_like(lows[0])] + lows + [torch.ones_like(lows[0])]
    total = 0
    for k, out in enumerate(outputs):
        b, n, h, d = out.shape
        grid = out.double().reshape(b, frames, height, width, h * d).permute(0, 4, 1, 2, 3)
        spec = torch.fft.fftshift(torch.fft.fftn(grid, dim=(-3, -2, -1)), dim=(-3, -2, -1))
        total = total + spec * (edges[k + 1] - edges[k])
    fused = torch.fft.ifftn(torch.fft.ifftshift(total, dim=(-3, -2, -1)), dim=(-3, -2, -1)).real
    b, c = fused.shape[:2]
    return fused.permute(0, 2, 3, 4, 1).reshape(b, -1, outputs[0].shape[2], outputs[0].shape[3])


def joint_attention(q, k, v, text, frames, tokens_per_frame, native, alpha=None, guard=True, allowed=None, visible=None,
                    beta=None, beta_bands=()):
    """Joint text + video self-attention in float64, the text tokens first: text rows plain softmax over
    every key; video rows see every text key unmodified and the video keys as `ultravico_attention`
    does (keys centred on the mean video key, positive far logits x `alpha`, first-frame guard) when
    `alpha` is given, else plainly; `allowed` [N, N] restricts video keys; `visible` [B, T + N] bool
    hides keys from every query (padding); far pairs at token distances inside `beta_bands`
    (inclusive, tokens) get `beta` instead of `alpha`. q, k, v: [B, T + N, H, D]."""
    q, k, v = (t.double().transpose(1, 2) for t in (q, k, v))  # [B, H, T + N, D]
    n = q.shape[2] - text
    hidden = torch.zeros(q.shape[0], 1, 1, q.shape[2], dtype=torch.bool) if visible is None else ~visible[:, None, None, :]
    scale = 1 / math.sqrt(q.shape[-1])
    text_rows = torch.softmax((q[:, :, :text] @ k.transpose(-1, -2) * scale).masked_fill(hidden, float("-inf")), dim=-1) @ v
    if alpha is not None:
        k = k - k[:, :, text:].mean(dim=2, keepdim=True)
    s = q[:, :, text:] @ k.transpose(-1, -2) * scale  # [B, H, N, T + N]
    video = s[..., text:]
    i, j = torch.arange(n).view(-1, 1), torch.arange(n).view(1, -1)
    fi, fj = i // tokens_per_frame, j // tokens_per_frame
    keep = torch.ones(n, n, dtype=torch.bool)
    if alpha is not None:
        far = (i - j).abs().double() > native * tokens_per_frame / 2
        factor = torch.full((n, n), float(alpha), dtype=torch.float64)
        for low, high in beta_bands:
            factor[((i - j).abs() >= low) & ((i - j).abs() <= high)] = beta
        video = torch.where(far & (video > 0), factor * video, video)
        if guard:
            keep &= ~((fi == 0) & (fj >= native))
    if allowed is not None:
        keep &= allowed
    s = torch.cat([s[..., :text], video.masked_fill(~keep, float("-inf"))], dim=-1).masked_fill(hidden, float("-inf"))
    video_rows = torch.softmax(s, dim=-1) @ v
    return torch.cat([text_rows, video_rows], dim=2).transpose(1, 2)


def method_attention(method, q, k, v, frames, grid, native, attend=plain_attention):
    """A vidlong method's float64 math on video self-attention ``[B, N, H, D]``: `UltraViCo`, `SlidingWindow` (one native
    window) or `SpectralFusion(windows=(1,))` (global + one native window, FreeLong's cut-off 0.25). `grid`: token rows,
    columns per frame; `native` token frames; `attend(q, k, v, allowed)`: each branch's attention (`linear_attention`
    for linear self-attention, whose `q` and `k` are its pairs)."""
    tpf = grid[0] * grid[1]
    if hasattr(method, "alpha"):
        return ultravico_attention(q, k, v, frames, tpf, native, method.alpha)
    local = attend(q, k, v, local_window_allowed(frames, tpf, native))
    if not hasattr(method, "windows"):  # the sliding window
        return local
    return band_fusion([attend(q, k, v), local], frames, *grid, [0.25], 0.25)


def joint_method_attention(method, q, k, v, text, frames, grid, native, visible=None):
    """A vidlong method's float64 math on joint attention (text tokens first): `UltraViCo` (with its
    beta bands) or `SpectralFusion(windows=(1,))` (global + one native window, cut-off 0.25, on the
    video rows; text rows from the global branch). `grid`: token rows, columns per frame."""
    tpf = grid[0] * grid[1]
    if hasattr(method, "alpha"):
        bands = tuple((lo * tpf, hi * tpf) for lo, hi in method.beta_bands) if method.beta else ()
        return joint_attention(q, k, v, text, frames, tpf, native, alpha=method.alpha, guard=method.guard_first_frame,
                               visible=visible, beta=method.beta, beta_bands=bands)
    branches = [joint_attention(q, k, v, text, frames, tpf, native, visible=visible),
                joint_attention(q, k, v, text, frames, tpf, native, visible=visible,
                                allowed=local_window_allowed(frames, tpf, native))]
    video = band_fusion([b[:, text:] for b in branches], frames, *grid, [0.25], 0.25)
    return torch.cat([branches[0][:, :text], video], dim=1)


def text_last_method_attention(method, q, k, v, text, frames, grid, native, visible=None):
    """`joint_method_attention` where the `text` tokens follow the video tokens (HunyuanVideo's order), in
    `q`/`k`/`v` ``[B, N + T, H, D]``, `visible` ``[B, N + T]`` and the output alike."""
    def first(x):
        return None if x is None else torch.cat([x[:, -text:], x[:, :-text]], dim=1)

    out = joint_method_attention(method, first(q), first(k), first(v), text, frames, grid, native, first(visible))
    return torch.cat([out[:, text:], out[:, :text]], dim=1)


def sinks_window_attention(q, raw_k, v, frames, tokens_per_frame, window, anchors, rope_at):
    """Local-window attention whose window also sees the first `anchors` frames placed just before it,
    in float64, from the math: query frame f's window starts at s = clamp(f - window//2, 0, F - window);
    for s > anchors its keys are the anchors' raw keys rotated at positions s - anchors + a (a < anchors)
    and frames [s, s + window) rotated at their own positions; else frames [0, s + window) at their own.
    q: [B, N, H, D] already rotated; raw_k: [B, N, H, D] before RoPE; rope_at(x, frame_positions) rotates
    x [B, n·tokens_per_frame, H, D] as tokens of those frames. Returns [B, N, H, D] float64."""
    q, v = q.double(), v.double()
    out = torch.empty_like(q)
    t = tokens_per_frame
    for f in range(frames):
        s = min(max(f - window // 2, 0), frames - window)
        if s > anchors:
            positions = list(range(s - anchors, s)) + list(range(s, s + window))
            kept = list(range(anchors)) + list(range(s, s + window))
        else:
            positions = kept = list(range(s + window))
        tokens = torch.cat([torch.arange(k * t, (k + 1) * t) for k in kept])
        keys = rope_at(raw_k[:, tokens].double(), torch.tensor(positions))
        rows = slice(f * t, (f + 1) * t)
        out[:, rows] = plain_attention(q[:, rows], keys, v[:, tokens])
    return out


class WanReferenceAttention:
    """The methods' float64 math on a Wan self-attention (q/k/v as the stock processor makes them), as an attention
    processor: `UltraViCo`, or `SpectralFusion(windows=(1,))` (global + one native window, FreeLong's cut-off 0.25);
    `grid`: token rows, columns per frame; `native` latent frames."""

    def __init__(self, method, frames, grid, native):
        self.method, self.frames, self.grid, self.native = method, frames, grid, native

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from vidlong.attention.adapters.wan import wan_qkv

        q, k, v = wan_qkv(attn, hidden_states, rotary_emb)
        out = method_attention(self.method, q, k, v, self.frames, self.grid, self.native)
        return attn.to_out[1](attn.to_out[0](out.to(q.dtype).flatten(2, 3)))


class LTX2ReferenceAttention:
    """The methods' float64 math on an LTX-2 video self-attention (q/k/v and its gates as its stock processor makes them),
    as an attention processor: `method_attention` over the `grid` (token rows, columns per frame; `native` latent frames);
    the `trailing` tokens after the video's (`LTX2ConditionPipeline`'s keyframes, `LTX2InContextPipeline`'s reference
    videos) as text after it (`text_last_method_attention`); in the blocks spatio-temporal guidance perturbs, the values."""

    def __init__(self, method, frames, grid, native, trailing=0):
        self.method, self.frames, self.grid, self.native, self.trailing = method, frames, grid, native, trailing

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, query_rotary_emb=None,
                 key_rotary_emb=None, perturbation_mask=None, all_perturbed=None):
        from vidlong.attention.adapters.ltx2 import LTX_2

        if encoder_hidden_states is not None or attention_mask is not None:
            raise AssertionError("the reference replaces self-attention only")
        q, k, v = LTX_2.qkv(attn, hidden_states, query_rotary_emb)
        if all_perturbed:
            out = v
        elif self.trailing:
            out = text_last_method_attention(self.method, q, k, v, self.trailing, self.frames, self.grid, self.native)
        else:
            out = method_attention(self.method, q, k, v, self.frames, self.grid, self.native)
        return LTX_2.output(attn, out, q.dtype, states=hidden_states)


class BlockCausalReference:
    """A Wan self-attention (q/k/v as the stock processor makes them) where a frame sees the frames of its own and earlier
    chunks: `chunk_of_frame` ``[F]`` gives each latent frame's chunk, `tokens_per_frame` the tokens of one."""

    def __init__(self, chunk_of_frame, tokens_per_frame):
        self.chunk_of_frame, self.tokens_per_frame = chunk_of_frame, tokens_per_frame

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from vidlong.attention.adapters.wan import wan_qkv

        q, k, v = wan_qkv(attn, hidden_states, rotary_emb)
        chunk = self.chunk_of_frame[torch.arange(q.shape[1]) // self.tokens_per_frame]
        out = plain_attention(q, k, v, chunk[None, :] <= chunk[:, None]).to(q.dtype)
        return attn.to_out[1](attn.to_out[0](out.flatten(2, 3)))


def wan_rotation(x: torch.Tensor, freqs_cos: torch.Tensor, freqs_sin: torch.Tensor) -> torch.Tensor:
    """Wan's RoPE in float64 as complex numbers: each channel pair (x0, x1) of ``[B, N, H, D]`` times
    ``cos θ + i·sin θ`` from the transformer's tables ``[1, N, 1, D]`` (their angles repeated per pair)."""
    pairs = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
    turn = torch.complex(freqs_cos[..., 0::2].double(), freqs_sin[..., 1::2].double())
    return torch.view_as_real(pairs * turn).flatten(-2)


class StreamPlan:
    """What the next forward of a `RollingCacheReference` stream is: `context`, the numbers of the earlier frames its
    chunk attends to, in order (sinks, then window); `chunk`, its own frames' numbers; `writing`, whether it keeps their
    clean K/V."""

    def __init__(self):
        self.context, self.chunk, self.writing = [], [], False

    def next_chunk(self, written: list, frames: int, sinks: int, window: int) -> None:
        """Plan a chunk of `frames` after the frames `written` so far (in order): the first `sinks` ever written, then
        the last `window` of those written after them."""
        after = written[sinks:]
        self.context = written[:sinks] + (after[-window:] if window else [])
        self.chunk = list(range(len(written), len(written) + frames))


class RollingCacheReference:
    """A Wan self-attention streaming as METHODS.md says, from plain bookkeeping: each frame's clean K/V before RoPE kept
    by frame number when its chunk is written; a chunk attends to `plan.context` then itself, placed at positions 0, 1,
    ... in that order (RoPE from the transformer's tables at those positions); attention in float64. `grid`: the latent
    (height, width) of a frame, `tokens_per_frame` its tokens."""

    def __init__(self, plan: StreamPlan, rope, grid: tuple, tokens_per_frame: int):
        self.plan, self.rope, self.grid, self.tpf = plan, rope, grid, tokens_per_frame
        self.kept = {}  # frame number -> (keys, values) [B, tokens_per_frame, H, D]

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        heads = lambda x: x.unflatten(2, (attn.heads, -1))  # noqa: E731
        q = heads(attn.norm_q(attn.to_q(hidden_states)))
        k = heads(attn.norm_k(attn.to_k(hidden_states)))
        v = heads(attn.to_v(hidden_states))
        own = [(k[:, i * self.tpf:(i + 1) * self.tpf], v[:, i * self.tpf:(i + 1) * self.tpf]) for i in range(len(self.plan.chunk))]
        seen = [self.kept[f] for f in self.plan.context] + own
        cos, sin = self.rope(torch.zeros(1, 1, len(seen), *self.grid, dtype=torch.float64))
        keys = wan_rotation(torch.cat([key for key, _ in seen], 1), cos, sin)
        values = torch.cat([value for _, value in seen], 1)
        start = len(self.plan.context) * self.tpf
        out = plain_attention(wan_rotation(q, cos[:, start:], sin[:, start:]), keys, values)
        if self.plan.writing:
            self.kept.update({f: (key.clone(), value.clone()) for f, (key, value) in zip(self.plan.chunk, own)})
        return attn.to_out[1](attn.to_out[0](out.flatten(2, 3).to(hidden_states.dtype)))
