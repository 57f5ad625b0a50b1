"""LTX-2.5's diffusion decoder after an LTX-2 or LTX-2.5 video (`GenerateRequest.decoder` the folder of diffusers'
`LTX2VideoDiffusionDecodePipeline`, ``vidlong generate --decoder FOLDER``), in place of the VAE's decoder.

The decoder (`LTX2VideoDiffusionDecoderModel`) is a small diffusion model of its own: deterministic neighborhood-attention
stages upsample the latents ``[1, C, F, h, w]`` into a context volume, then a diffusion stage denoises pixels drawn as
noise ``[1, 3, T, H, W]`` (T = 8·(F - 1) + 1 pixel frames; one x0 step for its release). vidlong runs diffusers' own
two-call recipe: the pipeline's call with ``output_type="latent"`` (its latents de-normalised; LTX-2.5's padded canvas cut
to the request as its decoding call cuts it, `LTX2Family.latent_output`), then the decode pipeline's call on them with
``denormalize=False`` and a CPU generator seeded with the request's seed; its frames rounded as every decoded video is
(`vidlong.video_io.rounded_uint8`). The sound is the one the pipeline's decoding call makes of the same audio latents
(its audio VAE, then its vocoder), unchanged. The folder is checked before any model loads (`check_decoder`) and the
decode pipeline is loaded once and kept on the video pipeline for its next video (`kept_second_stage`).

Its neighborhood attention runs on diffusers' ``flex`` backend (its default processor): on CUDA compiled
(`vidlong.compiled_flex`), on the CPU torch's unfused flex path (torch 2.13: it materialises the scores
``[1, heads, N, N]`` of a stage's N tokens and its mask_mod's N x N mask, whatever the block mask). Diffusers' own
builder of each stage's block mask materialises N x N booleans too (terabytes at a release's sizes); while vidlong
decodes, `vidlong.families.ltx2_neighborhood.neighborhood_masks` builds the same block mask from the windows' bounds
instead (megabytes), on every device. The run estimate counts the decoder's weights where they are not loaded yet
(`decoder_weight_bytes`, from its config) and its activations at its diffusion stage: that mask, the stage's context,
pixels and largest phase, and uncompiled the scores (`decoder_bytes`). Unlike diffusers' ``enable_tiling``, vidlong
decodes the whole video in one pass: at a release's 121 frames of 512x768 in bfloat16 that stage holds about 19 GiB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from ..errors import VidlongError, named
from ..progress import StepCount

#: diffusers' class of LTX-2.5's diffusion decoder, in its folder's model_index.json
DECODER_CLASS = "LTX2VideoDiffusionDecodePipeline"
#: its model's config in its folder (`decoder_config` reads it before loading; `decoder_model` builds it for the run estimate)
DECODER_CONFIG = "diffusion_decoder/config.json"
#: the model family whose latents it decodes (LTX-2's and LTX-2.5's pipelines)
DECODER_FAMILY = "ltx-2"
#: the video pipeline's attribute that keeps the loaded decode pipeline (and its folder) for its next video
KEPT_AS = "_vidlong_decoder"


def decoder_folder(decoder, limits) -> Path:
    """The folder of LTX-2.5's diffusion decoder that `decoder` (the request's ``decoder``, or ``vidlong app --decoder``'s)
    names, checked before any model loads against the model of `limits`: one line for another model family, True (no
    model folder holds one: its folder is given), a value that is no path, a path that is no folder or holds another
    pipeline, and a decoder with no readable config or of other latent channels than the model's VAE makes."""
    from .common import second_stage_folder

    if limits.family != DECODER_FAMILY:
        raise VidlongError(f"{named('decoder')} decodes LTX-2's and LTX-2.5's latents by LTX-2.5's diffusion decoder; this "
                           f"model ({limits.pipeline or limits.family}) is none of them: drop {named('decoder')}")
    if decoder is True:
        raise VidlongError(f"{named('decoder')}: no model folder holds LTX-2.5's diffusion decoder; pass the folder of it "
                           f"({named('decoder')} path/to/decoder)")
    folder = second_stage_folder(decoder, "decoder", DECODER_CLASS, "LTX-2.5's diffusion decoder")
    channels = decoder_config(folder).get("latent_channels", 128)
    if channels != limits.geometry.channels:
        raise VidlongError(f"{named('decoder')}: {folder} decodes latents of {channels} channels, this model's VAE makes "
                           f"{limits.geometry.channels}; pass the diffusion decoder of this model's release")
    return folder


def check_decoder(request, limits) -> Optional[Path]:
    """The folder of LTX-2.5's diffusion decoder that ``request.decoder`` names (`decoder_folder`), checked before any model
    loads; None where it names none. One line for what `decoder_folder` refuses, and ``upsample`` or ``refine`` beside it
    (the latent upsampler decodes its latents with the VAE, and decoding them first with the diffusion decoder leaves no
    latents to upsample: which of the two was meant is not said)."""
    if request.decoder is None:
        return None
    folder = decoder_folder(request.decoder, limits)
    for other in ("upsample", "refine"):
        if getattr(request, other):
            raise VidlongError(f"{named('decoder')} decodes the video's own latents, and {named(other)} the upsampled ones "
                               f"(by the VAE): drop one of them")
    return folder


def load_decoder(pipe, folder: Path):
    """The decode pipeline in `folder` (checked by `check_decoder`), placed and kept as `kept_second_stage` places and keeps
    it."""
    from diffusers import LTX2VideoDiffusionDecodePipeline

    from .common import kept_second_stage

    def load(path: Path, dtype: torch.dtype):
        return LTX2VideoDiffusionDecodePipeline.from_pretrained(path, dtype=dtype, local_files_only=True)

    return kept_second_stage(pipe, folder, KEPT_AS, load)


def decoder_steps(folder: Path) -> int:
    """The steps of the diffusion stage of the decoder in `folder` (checked by `check_decoder`), before loading: its config's
    ``decoder_num_inference_steps`` (diffusers' default where the config leaves it out), which its untiled decode runs, one
    forward of its output layer (``conv_out``) each."""
    import inspect

    from diffusers.models.autoencoders import LTX2VideoDiffusionDecoderModel

    default = inspect.signature(LTX2VideoDiffusionDecoderModel).parameters["decoder_num_inference_steps"].default
    return int(decoder_config(folder).get("decoder_num_inference_steps", default))


def decoder_config(folder: Path) -> dict:
    """The config of the decoder's model in `folder` (`DECODER_CONFIG`), read before any model loads: one line for the
    request's ``decoder`` where it is missing or no JSON object (`second_stage_config`)."""
    from .common import second_stage_config

    return second_stage_config(folder, DECODER_CONFIG, "decoder", DECODER_CLASS, "LTX-2.5's diffusion decoder")


@torch.no_grad()
def decoded_video(pipe, latents, audio_latents, folder: Path, num_frames: int, frame_rate: float, seed: int,
                  steps: StepCount) -> tuple:
    """(uint8 frames ``[T, H, W, 3]``, its `vidlong.video_io.Soundtrack`, the decode's settings: its steps and seed) of a
    call of `pipe` (an LTX-2 or LTX-2.5 pipeline) with ``output_type="latent"`` (its `latents` ``[1, C, F, h, w]`` and
    `audio_latents`, de-normalised) making `num_frames` pixel frames at `frame_rate`: its latents
    (`LTX2Family.latent_output`) decoded by the diffusion decoder in `folder` (`load_decoder`) with ``denormalize=False``
    and a CPU generator seeded with `seed`, its flex attention compiled on CUDA (`vidlong.compiled_flex`), its block masks
    built without N x N tensors (`neighborhood_masks`); its sound as its decoding call makes it. `steps` (its total
    `decoder_steps`) is started before the decoder loads and stepped after each step of its diffusion stage (its call
    takes no step callback: a hook on its output layer), so that a report that raises ends the run there."""
    from types import SimpleNamespace

    from ..compiled_flex import compiled_flex
    from ..video_io import rounded_uint8
    from .ltx2_neighborhood import neighborhood_masks

    latents, audio = pipe.latent_output(latents, audio_latents, num_frames, frame_rate)
    steps.start()
    decoder = load_decoder(pipe, folder)
    with (compiled_flex(torch.device(pipe._execution_device)), neighborhood_masks(),
          steps.hooked(decoder.diffusion_decoder.decoder.conv_out)):
        video = decoder(latents, generator=torch.Generator().manual_seed(int(seed)), output_type="np",
                        denormalize=False).frames
    made = decoder.diffusion_decoder.config.decoder_num_inference_steps
    return rounded_uint8(video[0]), pipe.soundtrack(SimpleNamespace(audio=audio)), dict(num_inference_steps=made, seed=int(seed))


#: bytes torch's eager flex path (the CPU's, torch 2.13) holds at its peak per pair of a stage's N tokens and per head,
#: measured: the scaled float32 scores its math attention keeps, the masked scores, their softmax (float32 each) and the
#: softmax's boolean -inf test, all at once
EAGER_PAIR_BYTES = 13


def decoder_model(folder: Path):
    """The `LTX2VideoDiffusionDecoderModel` of the decoder in `folder` (checked by `check_decoder`) built from its config on
    the meta device: its sizes and parameters as diffusers makes them, no weights read or held."""
    from diffusers.models.autoencoders import LTX2VideoDiffusionDecoderModel

    with torch.device("meta"):
        return LTX2VideoDiffusionDecoderModel.from_config(decoder_config(folder))


def decoder_weight_bytes(folder: Path, dtype: torch.dtype) -> int:
    """Bytes of the weights of the decoder in `folder` loaded in `dtype` (`load_decoder` loads it in the video pipeline's
    transformer's dtype): its parameters and buffers (`decoder_model`, before loading)."""
    model = decoder_model(folder)
    return sum(t.numel() for t in (*model.parameters(), *model.buffers())) * dtype.itemsize


def decoder_loaded(pipe, folder: Path) -> bool:
    """Whether `pipe` already holds the decoder in `folder` (`load_decoder` keeps it for its next video): its weights are
    then among the loaded ones."""
    from .common import held_second_stage

    return held_second_stage(pipe, folder, KEPT_AS) is not None


def context_frames(decoder, frames: int) -> int:
    """Frames of the context volume the diffusion stage reads for `frames` pixel frames (8·(F - 1) + 1 of F latent frames),
    as its storage holds them: the latent frames and the trailing ghost frames its stages carry
    (``trailing_pad_latent_frames``) through its upsamples' time strides (each stride 2 drops its leading frame, the last
    one's drop and the ghost frames' crop are views of its output)."""
    latent = (frames - 1) // decoder.temporal_compression_ratio + 1 + decoder.trailing_pad_latent_frames
    strides = [upsample.stride[0] for upsample in decoder.upsamples]
    for stride in strides[:-1]:
        latent = latent * stride - (stride == 2)
    return latent * strides[-1]


def decoder_bytes(folder: Path, frames: int, height: int, width: int, compiled: bool, itemsize: int) -> int:
    """Bytes of activations the diffusion decoder in `folder` holds to decode `frames` pixel frames at `height` x `width`
    pixels, at its diffusion stage (its largest: N = `frames` x height/p x width/p tokens, one a patch of p x p pixels of a
    frame, C channels), in values of `itemsize` bytes, from its config alone (`decoder_model`). The stage holds its context
    (C a token, over `context_frames`) and its noise (3·p² pixel values a token) throughout, and at most one of:
    a block's attention: six C-vectors (its input, the context added, the modulated input, Q, K, V) and three more in
    float32 (the rotary embedding's working copies), and where flex runs uncompiled (not `compiled`: the CPU) copies of K
    and V and `EAGER_PAIR_BYTES` per pair of tokens and head (its N x N scores); a block's feed-forward: three C-vectors
    and three of its SwiGLU's hidden width per token of one tile (diffusers evaluates it 16,384 tokens at a time; the
    output's buffer where there are more); the prediction: the last norm's output and two copies of its pixels. Plus its
    block mask (`vidlong.families.ltx2_neighborhood.block_mask_bytes`, at most). The pipeline's frames after it are the
    decoded video, counted as any decode's."""
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import _SWIGLU_TILE_SIZE

    from .ltx2_neighborhood import block_mask_bytes

    decoder = decoder_model(folder).decoder
    block = decoder.diff_blocks[0]
    patch, channels, pixels = decoder.patch_size, decoder.context_channels, decoder.out_channels * decoder.patch_size**2
    grid = (frames, height // patch, width // patch)
    tokens = grid[0] * grid[1] * grid[2]
    held = (context_frames(decoder, frames) * grid[1] * grid[2] * channels + tokens * pixels) * itemsize
    attention = tokens * channels * (6 * itemsize + 3 * 4)
    if not compiled:
        attention += 2 * tokens * channels * itemsize + tokens * tokens * block.attn.heads * EAGER_PAIR_BYTES
    tile = min(tokens, _SWIGLU_TILE_SIZE)
    feed_forward = ((3 + (tokens > tile)) * tokens * channels + 3 * tile * block.mlp.w_up.out_features) * itemsize
    prediction = tokens * (channels + 2 * pixels) * itemsize
    return held + max(attention, feed_forward, prediction) + block_mask_bytes(*grid, block.attn.kernel_size)
