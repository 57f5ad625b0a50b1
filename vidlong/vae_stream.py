"""Chunk-by-chunk decoding: with diffusers' `AutoencoderKLWan` (Wan2.1's and Wan2.2's VAE), which is
causal in time, exactly (`StreamingWanDecoder`); with `AutoencoderKLMagvit` (EasyAnimate's), causal in time too,
exactly (`StreamingMagvitDecoder`); with the other families' VAEs through an overlap of latent frames
(`OverlapDecoder`).

The VAE decodes latent frames one at a time through a cache of past features; keeping that cache
between chunks makes decoding a stream equal to decoding the whole latent video at once (bit for bit
on PyTorch's own path; to rounding on the CPU's and CUDA's faster ones below and in
`StreamingWanDecoder`).

On the CPU, PyTorch runs the decoder's 3D convolutions (one latent frame, at most 3 frames of
causal context) on its slow reference path: its heuristic keeps oneDNN for larger inputs. Decoding a
stream there calls oneDNN directly (`onednn_conv3d`): 3-5x faster convolutions; and its RMS norms sum
the squares of their channels instead of calling `F.normalize` (`summed_square_rms_norm`), whose norm
PyTorch reduces slowly across the channel axis. The same result to float32 rounding (summation
order); the default for `StreamingWanDecoder` on the CPU (`cpu_fast_paths`).
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager, nullcontext

import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import WanRMS_norm, patchify, unpatchify
from diffusers.utils.torch_utils import is_compiled_module


def onednn_available(vae, part: str = "decoder") -> bool:
    """Whether `onednn_conv3d` can serve `vae`'s `part` ("decoder" or "encoder"): on a CPU with oneDNN, in float32, or in
    bfloat16 where the CPU has bfloat16 instructions (e.g. AVX512-BF16, AMX); not where the part is compiled, in place
    (``vae.decoder.compile()``) or wrapped (``vae.decoder = torch.compile(vae.decoder)``), as dynamo does not trace
    oneDNN's direct calls: its graph runs PyTorch's own instead."""
    module = getattr(vae, part)
    if getattr(module, "_compiled_call_impl", None) is not None or is_compiled_module(module):
        return False
    if not (vae.device.type == "cpu" and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled):
        return False
    return vae.dtype == torch.float32 or (vae.dtype == torch.bfloat16 and torch.ops.mkldnn._is_mkldnn_bf16_supported())


@contextmanager
def _overridden(modules: list, name: str, make):
    """Within it, each of `modules` has the instance attribute `name` set to ``make(module)`` (shadowing
    its class's method); deleted again on exit, even on error."""
    for module in modules:
        setattr(module, name, make(module))
    try:
        yield
    finally:
        for module in modules:
            delattr(module, name)


def _weight_in_layout(copies: dict, weight: torch.nn.Parameter, layout: torch.memory_format) -> torch.Tensor:
    """`weight` stored in `layout`, kept in `copies` between calls and made again when the parameter's
    tensor is replaced or changed in place (its address or its version counter moves)."""
    version = (weight.data_ptr(), weight._version)
    if copies.get("version") != version:
        copies.update(version=version, weight=weight.detach().contiguous(memory_format=layout))
    return copies["weight"]


@contextmanager
def onednn_conv3d(module: torch.nn.Module):
    """Within it, every zero-padded `nn.Conv3d` of `module` convolves through oneDNN
    (``torch.mkldnn_convolution``) instead of `F.conv3d`'s choice; restored on exit. bfloat16 features
    go channels-last (``channels_last_3d``), oneDNN's own layout for them: a 12-frame decode of the
    default model in 0.39-0.44 s instead of 0.43-0.51 s on 2 cores (float32 keeps its layout: about 8%
    there, and float32 stays within 1e-5 of diffusers' decode)."""
    convs = [m for m in module.modules() if isinstance(m, torch.nn.Conv3d) and m.padding_mode == "zeros"
             and not isinstance(m.padding, str) and "_conv_forward" not in vars(m)]

    def direct(conv):
        layout = torch.channels_last_3d if conv.weight.dtype == torch.bfloat16 else torch.contiguous_format
        copies = {}

        def convolve(x, weight, bias):
            return torch.mkldnn_convolution(x.contiguous(memory_format=layout), _weight_in_layout(copies, weight, layout),
                                            bias, conv.padding, conv.stride, conv.dilation, conv.groups)
        return convolve

    with _overridden(convs, "_conv_forward", direct):
        yield


@contextmanager
def summed_square_rms_norm(module: torch.nn.Module):
    """Within it, every channel-first `WanRMS_norm` of `module` divides ``[B, C, T, H, W]`` features by
    ``sqrt(sum over C of x²)`` (at least 1e-12, as `F.normalize`) instead of `F.normalize`'s
    `linalg.vector_norm`, which PyTorch reduces 3-11x slower across the channel axis on the CPU at the
    decoder's shapes. Half-precision features are normalised in float32, as the stock norm does;
    other dtypes take the stock forward. Restored on exit."""
    norms = [m for m in module.modules() if isinstance(m, WanRMS_norm) and m.channel_first and "forward" not in vars(m)]

    def summed(norm):
        def forward(x):
            if x.dtype not in (torch.float32, torch.bfloat16, torch.float16):
                return WanRMS_norm.forward(norm, x)
            x32 = x.float()
            normalized = (x32 / x32.square().sum(dim=1, keepdim=True).sqrt().clamp_min(1e-12)).to(x.dtype)
            return normalized * norm.scale * norm.gamma + norm.bias
        return forward

    with _overridden(norms, "forward", summed):
        yield


@contextmanager
def cpu_fast_paths(module: torch.nn.Module):
    """`onednn_conv3d` and `summed_square_rms_norm` of `module` together."""
    with ExitStack() as stack:
        stack.enter_context(onednn_conv3d(module))
        stack.enter_context(summed_square_rms_norm(module))
        yield


@contextmanager
def channels_last_conv3d_weights(module: torch.nn.Module, copies: dict):
    """Within it, the weight of every `nn.Conv3d` of `module` is a channels-last (``channels_last_3d``)
    copy, kept in `copies` between calls (made again when the weight is replaced or changed in place);
    on exit, even on error or part way, each takes back its own tensor (the VAE is shared with the
    pipeline's own decode, which keeps its layout)."""
    swapped = []
    try:
        for conv in (m for m in module.modules() if isinstance(m, torch.nn.Conv3d)):
            own = conv.weight.data
            conv.weight.data = _weight_in_layout(copies.setdefault(conv, {}), conv.weight, torch.channels_last_3d)
            swapped.append((conv, own))
        yield
    finally:
        for conv, own in reversed(swapped):
            conv.weight.data = own


class StreamingWanDecoder:
    """Decodes consecutive latent chunks ``[B, C, f, h, w]`` to pixel frames ``[B, 3, T, H, W]`` in [-1, 1].

    The first latent frame of the stream decodes to 1 pixel frame, every later one to 4.
    Latents are the pipeline's normalised latents (the VAE's mean/std are undone here). Wan2.2's VAE
    (``patch_size`` 2) unpatchifies each decoded chunk, as `AutoencoderKLWan.decode` does.
    `onednn`: the CPU's fast paths (`cpu_fast_paths`: oneDNN convolutions, summed-square RMS norms; None:
    where `onednn_available`: float32, or bfloat16 on a CPU with bfloat16 instructions, a decoder not compiled).
    `channels_last`: each `decode` runs with the decoder's 3D convolution weights channels-last
    (`channels_last_conv3d_weights`; this decoder keeps the copies, about 0.15 GB for Wan2.1's VAE in
    bfloat16), so that cuDNN convolves in NDHWC, its fast layout for half precision. None: on a CUDA
    VAE in bfloat16, where weights stored so cut a 3-latent-frame decode of a Wan2.1-shaped VAE from
    0.20 to 0.15 s (H200, compiled; `benchmarks/RESULTS.md`). Both False give
    `AutoencoderKLWan.decode`'s result bit for bit; the other paths equal it to rounding (a different
    order of summation).
    """

    def __init__(self, vae, onednn=None, channels_last=None):
        self.vae = vae
        self.onednn = onednn_available(vae, "decoder") if onednn is None else onednn
        self.channels_last = (vae.device.type == "cuda" and vae.dtype == torch.bfloat16
                              if channels_last is None else channels_last)
        self._channels_last_copies = {}
        self.feature_cache = [None] * vae._cached_conv_counts["decoder"]
        self.frames_decoded = 0
        z_dim = vae.config.z_dim
        self.mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1)
        self.inv_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        z = latents.to(vae.device, vae.dtype)
        z = z / self.inv_std.to(z) + self.mean.to(z)
        x = vae.post_quant_conv(z)
        frames = []
        with ExitStack() as stack:
            if self.onednn:
                stack.enter_context(cpu_fast_paths(vae.decoder))
            if self.channels_last:
                stack.enter_context(channels_last_conv3d_weights(vae.decoder, self._channels_last_copies))
            for i in range(x.shape[2]):
                frames.append(vae.decoder(x[:, :, i : i + 1], feat_cache=self.feature_cache, feat_idx=[0],
                                          first_chunk=self.frames_decoded == 0))
                self.frames_decoded += 1
        out = torch.cat(frames, dim=2)
        if vae.config.patch_size is not None:
            out = unpatchify(out, patch_size=vae.config.patch_size)
        return torch.clamp(out, -1.0, 1.0)


class StreamingWanEncoder:
    """Encodes consecutive pixel chunks ``[B, 3, T, H, W]`` in [-1, 1] to the pipeline's normalised latents ``[B, C, f, h,
    w]`` through the Wan VAE's encoder cache, as `AutoencoderKLWan.encode` encodes the whole video (with `onednn` False:
    bit for bit with Wan2.1's VAE, to float rounding with Wan2.2's): the stream's first chunk holds ``4·(f - 1) + 1``
    pixel frames (its first frame encodes alone), every later one ``4·f``. The posterior's mode (`mode`), normalised by the
    VAE's mean and std (`encode`, as `encode_frames`); Wan2.2's VAE (``patch_size`` 2) patchifies first. `onednn`: the
    CPU's fast paths (`cpu_fast_paths`, as `StreamingWanDecoder`'s; None: where `onednn_available` for the encoder), equal
    to float rounding."""

    def __init__(self, vae, onednn=None):
        self.vae = vae
        self.onednn = onednn_available(vae, "encoder") if onednn is None else onednn
        self.feature_cache = [None] * vae._cached_conv_counts["encoder"]
        self.frames_encoded = 0
        z_dim = vae.config.z_dim
        self.mean = torch.tensor(vae.config.latents_mean).view(1, z_dim, 1, 1, 1)
        self.std = torch.tensor(vae.config.latents_std).view(1, z_dim, 1, 1, 1)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """The next pixel chunk's normalised latents ``[B, C, f, h, w]`` (`mode`, normalised in its dtype)."""
        z = self.mode(pixels)
        return (z - self.mean.to(z)) / self.std.to(z)

    @torch.no_grad()
    def mode(self, pixels: torch.Tensor) -> torch.Tensor:
        """The next pixel chunk's posterior mode ``[B, C, f, h, w]`` in the VAE's dtype, not normalised (a pipeline that
        normalises it its own way: Lucy Edit's condition, `VidLongLucyEditPipeline.edit_condition`)."""
        vae = self.vae
        x = pixels.to(vae.device, vae.dtype)
        first = 1 if self.frames_encoded == 0 else 0
        if (x.shape[2] - first) % 4:
            raise ValueError(f"a chunk after the first frame holds a multiple of 4 pixel frames, got {x.shape[2]}")
        if vae.config.patch_size is not None:
            x = patchify(x, patch_size=vae.config.patch_size)
        bounds = [0, *range(first, x.shape[2] + 1, 4)] if first else list(range(0, x.shape[2] + 1, 4))
        with cpu_fast_paths(vae.encoder) if self.onednn else nullcontext():
            pieces = [vae.encoder(x[:, :, start:stop], feat_cache=self.feature_cache, feat_idx=[0])
                      for start, stop in zip(bounds, bounds[1:])]
        self.frames_encoded += pixels.shape[2]
        return vae.quant_conv(torch.cat(pieces, dim=2))[:, : vae.config.z_dim]


class StreamingMagvitDecoder:
    """Decodes consecutive latent chunks ``[1, C, f, h, w]`` (the pipeline's, scaled by the VAE's ``scaling_factor``) to
    pixel frames ``[1, 3, T, H, W]`` in [-1, 1] as EasyAnimate's call decodes the whole video with `AutoencoderKLMagvit`:
    its decode runs the decoder on one latent frame at a time (``num_latent_frames_batch_size``, 1), each causal
    convolution and temporal upsampler of the decoder keeping what the frames before left it (``prev_features``) until
    the decode ends and clears them. Those features are kept here between chunks: put back into the modules for each
    chunk's frames and cleared from them after it, so that the pipeline's own decode and encode find the VAE clear. The
    stream's first latent frame decodes to 1 pixel frame, every later one to 4. The frames are the whole decode's to
    float32 rounding (each chunk's 1x1x1 ``post_quant_conv`` runs apart); untiled, as vidlong loads the VAE.
    """

    def __init__(self, vae):
        self.vae = vae
        # the decoder's causal convolutions and temporal upsamplers: the modules that keep ``prev_features``
        self.modules = [m for m in vae.decoder.modules() if hasattr(m, "prev_features")]
        self.features = [None] * len(self.modules)  # none before the stream's first frame

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        vae = self.vae
        z = vae.post_quant_conv(1 / vae.config.scaling_factor * latents.to(vae.device, vae.dtype))
        for module, features in zip(self.modules, self.features):
            module.prev_features = features
        try:
            frames = [vae.decoder(z[:, :, i : i + 1]) for i in range(z.shape[2])]
            self.features = [module.prev_features for module in self.modules]
        finally:
            vae._clear_conv_cache()
        return torch.clamp(torch.cat(frames, dim=2), -1.0, 1.0)


class OverlapDecoder:
    """Decodes consecutive latent chunks with a VAE that keeps no cache between calls (LTX-Video's, whose
    decoder is not causal in time; HunyuanVideo's): each chunk is decoded together with the last
    `overlap` latent frames before it, and only its own pixel frames are kept (``temporal · f`` for a
    chunk of f latent frames; all ``temporal · (f - 1) + 1`` of the first). Time and memory per chunk stay
    flat; the frames differ from a whole-video decode near each chunk's start (measured in
    benchmarks/RESULTS.md only for the tiny test models).

    Args:
        decode: normalised latents ``[1, C, f, h, w]`` on any device -> pixels ``[1, 3, T, H, W]`` (the family's own
            decode, which moves them to its VAE: an extension's input latents stay on the CPU).
        temporal: pixel frames per latent frame.
        overlap: latent frames of the previous chunk decoded again as context (at least 1: a latent
            frame on its own decodes to ``temporal · (f - 1) + 1`` frames, the first one to 1).
    """

    def __init__(self, decode, temporal: int, overlap: int = 2):
        if overlap < 1:
            raise ValueError(f"overlap must be at least 1 latent frame, got {overlap}")
        self.decode_latents, self.temporal, self.overlap = decode, temporal, overlap
        self.tail = None  # the last `overlap` latent frames decoded so far, None before the first chunk

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        z = latents if self.tail is None else torch.cat([self.tail.to(latents), latents], dim=2)
        video = self.decode_latents(z)
        keep = video.shape[2] if self.tail is None else self.temporal * latents.shape[2]
        self.tail = z[:, :, -self.overlap:]
        return torch.clamp(video[:, :, video.shape[2] - keep:], -1.0, 1.0)


class LatentScaling:
    """The normalisation of a VAE's latents by its config's ``latents_mean`` and ``latents_std``, as a pipeline's call computes
    it: ``1 / std`` in `dtype` (None: the VAE's; Helios's calls, and Lucy Edit's condition in float32), then a product.
    Latents ``[B, C, f, h, w]``."""

    def __init__(self, vae, device, dtype=None):
        channels, dtype = vae.config.z_dim, dtype or vae.dtype
        self.mean = torch.tensor(vae.config.latents_mean).view(1, channels, 1, 1, 1).to(device, dtype)
        self.inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, channels, 1, 1, 1).to(device, dtype)

    def to_vae(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.to(self.mean.dtype) / self.inverse_std + self.mean

    def from_vae(self, latents: torch.Tensor) -> torch.Tensor:
        return (latents - self.mean) * self.inverse_std


@torch.no_grad()
def encode_frames(vae, frames: torch.Tensor) -> torch.Tensor:
    """Pixel frames ``[B, 3, T, H, W]`` in [-1, 1] (T = 4k+1) -> normalised latents ``[B, C, k+1, h, w]``
    (the posterior's mode, normalised as the Wan pipelines do)."""
    z = vae.encode(frames.to(vae.device, vae.dtype)).latent_dist.mode()
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
    return (z - mean) / std
