"""Sana-Video through its family adapter: linear self-attention (ReLU features, RoPE on q and k in the numerator only, a
normaliser of the unrotated features), softmax cross-attention to the text, a feed-forward that mixes neighbouring frames.
Methods off = the stock model bit for bit; the sliding window and FreeLong++ each equal a float64 reference of linear
attention written as its dense ``[N, N]`` weights (`reference.linear_attention`), and the prefix sums equal it on anchored
windows too; UltraViCo (no softmax logits to damp) refused in one line. Its pipelines: the spec from configs/models;
`generate` with no method = diffusers' `SanaVideoPipeline` bit for bit, and from an image (the same folder as its
`SanaImageToVideoPipeline`) = that call bit for bit; a stream's native first chunk = generate's video (from an image: its
latents exactly), later chunks follow their re-noised context; the CLI generates (FreeLong++), streams and extends, and
refuses in one line before loading what it does not run."""
from pathlib import Path

import pytest
import torch
import yaml
from conftest import assert_image_to_video_is_the_stock_call, sana_inputs, tiny_sana_transformer
from family_checks import (check_float64_reference, check_generate_is_the_stock_call,
                           check_image_to_video_cli, check_methods_off_and_removed, check_refused_before_loading,
                           check_release_refuses, check_renoised_stream_and_extension, info_of_a_bare_copy,
                           unrun_by_a_rebuilt_rope_family)
from reference import linear_attention, local_window_allowed, method_attention, rel_err, rms_norm

import vidlong
from vidlong.attention.adapters.sana import SANA_VIDEO

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"window": vidlong.SlidingWindow(), "fusion": vidlong.SpectralFusion(windows=(1,))}


def cross_attention_stock(model):
    """Its blocks' text cross-attention keeps its own (softmax) processor."""
    assert type(model.transformer_blocks[0].attn2.processor).__name__ == "SanaAttnProcessor2_0"


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on each block's self-attention (not the cross-attention) and comes off; a window as long as
    the video (a stock plan) is its own processor's output bit for bit; FreeLong++ changes it."""
    check_methods_off_and_removed(tiny_sana_transformer, lambda model: model(**sana_inputs(4 * NATIVE))[0],
                                  SANA_VIDEO.self_attentions, "SanaLinearAttnProcessor3_0", 2, NATIVE,
                                  neutral=(vidlong.SlidingWindow(window=4.0),), methods=(vidlong.SpectralFusion(),),
                                  applied=cross_attention_stock)


def rotated(x, cos, sin):
    """Its RoPE in float64 on ``[B, N, H, D]`` as complex numbers: channel pair ``(x[2i], x[2i + 1])`` times ``e^{iθ}``, θ
    read from its tables ``[1, N, 1, D]`` (each pair's angle on both its channels)."""
    angle = torch.atan2(sin[..., 1::2].double(), cos[..., 0::2].double())
    pairs = torch.view_as_complex(x.double().unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angle), angle)).flatten(-2)


class ReferenceAttention:
    """The methods' float64 math on a Sana-Video self-attention: q/k/v from its projections, RMS norms across heads, ReLU
    features, its RoPE on a copy of q and k, linear attention per branch, the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q = torch.relu(heads(rms_norm(attn.to_q(hidden_states), attn.norm_q)))
        k = torch.relu(heads(rms_norm(attn.to_k(hidden_states), attn.norm_k)))
        pairs = [(x, rotated(x, *rotary_emb)) for x in (q, k)]
        out = method_attention(self.method, *pairs, heads(attn.to_v(hidden_states)), self.frames, GRID, NATIVE,
                               attend=linear_attention)
        return attn.to_out[0](out.flatten(2, 3))


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32: a native window, and FreeLong++'s global and native branches fused."""
    check_float64_reference(tiny_sana_transformer, lambda model, frames, dtype: model(**sana_inputs(frames, dtype=dtype))[0],
                            SANA_VIDEO.self_attentions, ReferenceAttention, method, NATIVE)


def test_prefix_sums_are_the_dense_linear_attention_of_anchored_windows():
    """`vidlong.attention.linear` on random features of 10 token frames: each branch of FreeLong++ with windows of 6 and 3
    frames and 2 anchor frames (every window also sees the video's first 2 frames) is the dense float64 linear attention
    restricted to those keys, to 1e-12."""
    from vidlong.attention.layout import TokenLayout
    from vidlong.attention.linear import linear_branches
    from vidlong.plans import build_plan

    layout, frames, tpf = TokenLayout(10, 2, 3, NATIVE), 10, 6
    plan = build_plan(layout, (vidlong.SpectralFusion(windows=(2.0, 1.0), anchors=2 / 3),))
    assert plan.windows == (None, 6, 3) and plan.anchor_frames == 2
    gen = torch.Generator().manual_seed(0)
    q, k, q_rot, k_rot, v = (torch.rand(1, frames * tpf, 2, 8, generator=gen, dtype=torch.float64) for _ in range(5))
    anchors = (torch.arange(frames * tpf) // tpf < 2)[None, :]
    masks = [None, *(local_window_allowed(frames, tpf, w) | anchors for w in (6, 3))]
    for out, allowed in zip(linear_branches(q, k, q_rot, k_rot, v, plan), masks):
        assert rel_err(out, linear_attention((q, q_rot), (k, k_rot), v, allowed)) < 1e-12


@pytest.mark.parametrize("method", [vidlong.UltraViCo(), vidlong.UltraViCo(alpha=1.0, guard_first_frame=False)])
def test_ultravico_is_refused_in_one_line(method):
    """UltraViCo damps softmax logits; linear attention has none: `vidlong.apply` refuses it (neutral settings too), naming
    why and what runs instead."""
    with pytest.raises(vidlong.VidlongError, match=r"^UltraViCo is not defined for SanaVideoTransformer3DModel: its "
                                                   r"self-attention is linear[^\n]*SpectralFusion or SlidingWindow$"):
        vidlong.apply(tiny_sana_transformer(), method, vidlong.SpectralFusion(), native_frames=NATIVE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`tiny_pipeline.tiny_sana_video_pipeline` saved with a vidlong.yaml: native 3 latent frames, 32x32 at 16 fps, 2 steps,
    guidance 2."""
    from tiny_pipeline import tiny_sana_video_pipeline

    path = tmp_path_factory.mktemp("sana-video")
    tiny_sana_video_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-sana-video", native_frames=NATIVE, height=32, width=32,
                                                           fps=16, num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module")
def image_pipe(folder):
    """The folder loaded as its image-to-video pipeline (task i2v), on the CPU."""
    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_vidlong_info_names_its_spec_from_configs(folder, tmp_path, capsys):
    """`vidlong info` on a folder with no vidlong.yaml: the 480p release's spec from configs/models (21 latent frames = 81 at
    16 fps, 480x832, 50 steps at 6: its call's defaults), streams and extensions yes, fifo no, an image yes (its
    image-to-video twin)."""
    from vidlong.models import spec_for_folder

    out, plain = info_of_a_bare_copy(folder, tmp_path, capsys)
    spec = spec_for_folder(plain)
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("sana-video", 21, 16, 480, 832, 50, 6.0)
    assert "family sana-video (SanaVideoTransformer3DModel)" in out and "native 21 latent frames = 81 frames at 16 fps" in out
    assert "  stream: yes" in out and "  extend: yes" in out and "  fifo: no" in out and "  image: yes" in out


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class; `generate` at 2x with no method returns the frames diffusers' own
    `SanaVideoPipeline` makes from the same folder, seed (its own noise draw) and settings (its ``frames``, no binning)."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongSanaVideoPipeline" and pipe.facts()["family"] == "sana-video"
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    check_generate_is_the_stock_call(folder, result, "SanaVideoPipeline", NATIVE, temporal=4, frames_argument="frames",
                                     guidance_scale=2.0, generator=torch.Generator().manual_seed(3), use_resolution_binning=False)


def test_generate_from_an_image_is_the_stock_call_and_a_streams_first_chunk_has_its_latents(folder, image_pipe, image_path):
    """The text-to-video folder given an image is vidlong's `SanaImageToVideoPipeline`; `generate` from an image at the
    native length = diffusers' own call from the same folder, image and noise, bit for bit; a stream's native first chunk
    has its latents exactly (measured: 0.0 apart; the image's latent clean on frame 0 with timestep 0 on its tokens, the
    frames after it stepped as its call steps them)."""
    from diffusers import SanaImageToVideoPipeline

    assert type(image_pipe).__name__ == "VidLongSanaImageToVideoPipeline" and image_pipe.task == "i2v"
    own = assert_image_to_video_is_the_stock_call(image_pipe, SanaImageToVideoPipeline, folder, image_path, 32, 32,
                                                  4 * NATIVE - 3, frames_argument="frames", use_resolution_binning=False)
    first = next(iter(image_pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                        image=str(image_path))))
    assert torch.equal(first.latents, own.latents)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame bring
    4 pixel frames each and depend on the re-noised context (its frames ride in each forward, where the feed-forward's
    temporal convolution reads them too); `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=16)


def test_the_cli_generates_streams_and_extends_from_an_image(folder, image_path, tmp_path):
    """`vidlong generate --image --method freelong` at 2x, `stream --image` and `extend` of that video run on the
    text-to-video folder (its image-to-video twin) and write as many frames as they make."""
    check_image_to_video_cli(folder, image_path, tmp_path, NATIVE, method="freelong")


def test_a_softmax_kernel_is_refused_in_one_line():
    """Its windows run through `vidlong.attention.linear` whatever the device: a softmax kernel asked for by name (flex,
    fused) is refused in one line naming kernel='auto'."""
    for kernel in ("flex", "fused"):
        with pytest.raises(vidlong.VidlongError, match=f"kernel='{kernel}' is a softmax attention kernel; .* use kernel='auto'"):
            vidlong.apply(tiny_sana_transformer(), vidlong.SpectralFusion(), native_frames=NATIVE, kernel=kernel)


def test_a_vae_other_than_wans_is_refused_before_loading(folder, tmp_path, capsys, monkeypatch):
    """Its pipelines also take DC-AE's and LTX-2's VAEs, which vidlong does not decode or stream: a folder with one is
    refused in one line before loading."""
    import json
    import shutil

    copy = Path(shutil.copytree(folder, tmp_path / "dc"))
    config = copy / "vae" / "config.json"
    config.write_text(json.dumps(dict(json.loads(config.read_text()), _class_name="AutoencoderDC")))
    line = check_refused_before_loading(["generate", "--model", str(copy), "--prompt", "a red ball"], tmp_path / "g.mp4",
                                        capsys, monkeypatch)
    assert "Sana-Video with Wan's VAE (AutoencoderKLWan) alone; this pipeline's VAE is AutoencoderDC" in line


@pytest.mark.parametrize("command,says", [
    *[(command, says) for command, says in unrun_by_a_rebuilt_rope_family("SanaVideoTransformer3DModel")
      if "fifo" not in command],
    (["generate", "--ratio", "2", "--method", "fifo"], "is not wired for SanaVideoTransformer3DModel"),
    (["generate", "--ratio", "2", "--method", "ultravico"], "UltraViCo is not defined for SanaVideoTransformer3DModel"),
    (["generate", "--ratio", "2", "--method", "both"], "its self-attention is linear"),
    (["generate", "--height", "48"], "multiple of 32"),
    (["generate", "--frames", "261"], "RoPE"),
], ids=["riflex", "window-sinks", "cache", "fifo", "ultravico", "both", "height", "past-rope-table"])
def test_what_it_does_not_run_is_refused_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx, the -sinks methods, a cached stream and fifo (not wired for it), UltraViCo alone or with FreeLong++ (no softmax
    logits), a side its call refuses (no multiple of 32) and a length past its RoPE table (64 token frames here)."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)


def test_a_held_pipeline_refuses_a_side_its_call_refuses(folder):
    """`vidlong.from_pipe` over a Sana-Video pipeline held in memory (its transformer's config names no ``_class_name``, as a
    saved one does) keeps its call's multiple of 32: a 48-pixel side is refused in one line before any forward, as from its
    folder."""
    from tiny_pipeline import tiny_sana_video_pipeline

    spec = vidlong.load_pipeline(folder, device="cpu").spec
    pipe = vidlong.from_pipe(tiny_sana_video_pipeline(), spec=spec)
    assert pipe.geometry().pixel_multiple == 32
    with pytest.raises(vidlong.VidlongError, match="multiple of 32"):
        next(iter(pipe.stream("a red ball", height=48, width=32, chunks=1)))
