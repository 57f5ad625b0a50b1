"""CogVideoX through its family adapter: joint text + video attention. Methods off = the stock model bit
for bit; each method equal to the float64 dense reference with the text pairs untouched; the native
length from configs/models."""
import pytest
import torch
from conftest import cogvideox_inputs, tiny_cogvideox_transformer
from family_checks import block_self_attentions, check_methods_off_and_removed
from reference import band_fusion, joint_attention, joint_method_attention, local_window_allowed, rel_err

import vidlong
from vidlong.attention.adapters.cogvideox import COGVIDEOX
from vidlong.attention.joint import run_joint_plan
from vidlong.attention.layout import TokenLayout
from vidlong.plans import build_plan

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
TEXT = 5


@pytest.mark.parametrize("rope", [True, False], ids=["rope-5b", "sincos-2b"])
def test_methods_off_and_removed_are_stock_bit_for_bit(rope):
    check_methods_off_and_removed(lambda: tiny_cogvideox_transformer(rope=rope),
                                  lambda model: model(**cogvideox_inputs(4 * NATIVE, rope=rope))[0], block_self_attentions,
                                  "CogVideoXAttnProcessor2_0", 2, NATIVE, methods=(vidlong.UltraViCo(), vidlong.SpectralFusion()))


def test_joint_plan_matches_the_reference_and_keeps_text_rows_and_pairs():
    """`run_joint_plan` on random q/k/v: UltraViCo decay and FreeLong++'s branches + fusion on the video
    pairs only, against the float64 reference; the text queries' rows are plain attention."""
    frames = 4 * NATIVE
    layout = TokenLayout(frames, *GRID, NATIVE)
    tpf = GRID[0] * GRID[1]
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, TEXT + layout.num_tokens, 2, 8, generator=gen) * 2 for _ in range(3))
    k = k + 0.5  # a mean key to centre away
    decay = run_joint_plan(q, k, v, build_plan(layout, [vidlong.UltraViCo(alpha=0.8)]), TEXT)
    assert rel_err(decay, joint_attention(q, k, v, TEXT, frames, tpf, NATIVE, alpha=0.8)) < 1e-5
    fused = run_joint_plan(q, k, v, build_plan(layout, [vidlong.SpectralFusion(windows=(1,))]), TEXT)
    branches = [joint_attention(q, k, v, TEXT, frames, tpf, NATIVE),
                joint_attention(q, k, v, TEXT, frames, tpf, NATIVE, allowed=local_window_allowed(frames, tpf, NATIVE))]
    video = band_fusion([b[:, TEXT:] for b in branches], frames, *GRID, [0.25], 0.25)
    assert rel_err(fused[:, TEXT:], video) < 1e-5
    assert rel_err(fused[:, :TEXT], branches[0][:, :TEXT]) < 1e-6  # text rows: stock attention
    assert rel_err(decay[:, TEXT:], joint_attention(q, k, v, TEXT, frames, tpf, NATIVE)[:, TEXT:]) > 1e-3


class ReferenceAttention:
    """The methods' float64 math on a CogVideoX joint attention (q/k/v as its stock processor makes them)."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        q, k, v = COGVIDEOX.qkv(attn, hidden_states, image_rotary_emb, encoder_hidden_states)
        out = joint_method_attention(self.method, q, k, v, TEXT, self.frames, GRID, NATIVE)
        return COGVIDEOX.output(attn, out, q.dtype, TEXT)


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))], ids=["ultravico", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method):
    frames = 4 * NATIVE
    model = tiny_cogvideox_transformer()
    vidlong.apply(model, method, native_frames=NATIVE)
    with torch.no_grad():
        out = model(**cogvideox_inputs(frames))[0]
    reference = tiny_cogvideox_transformer().to(torch.float64)
    for block in reference.transformer_blocks:
        block.attn1.set_processor(ReferenceAttention(method, frames))
    with torch.no_grad():
        ref = reference(**cogvideox_inputs(frames, dtype=torch.float64))[0]
    assert rel_err(out, ref) < 1e-5


def test_native_length_comes_from_configs_and_streaming_is_refused():
    model = tiny_cogvideox_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 13  # configs/models/cogvideox.yaml
    from vidlong.attention.stream_attention import StreamContext

    with pytest.raises(vidlong.VidlongError, match="a KV-cache stream is not available for CogVideoXTransformer3DModel"):
        vidlong.apply(model, native_frames=NATIVE, stream=StreamContext(sinks=1, window=1))


def test_a_diffusers_cogvideox_pipeline_runs_with_the_methods_and_unwrapped_is_stock():
    """`vidlong.apply(pipe.transformer, ...)` on diffusers' own CogVideoXPipeline: 17 frames (5 latent)
    at a native window of 2 latent frames; removed, the pipeline's output is the stock one bit for bit."""
    import numpy as np
    from tiny_pipeline import tiny_cogvideox_pipeline

    pipe = tiny_cogvideox_pipeline()
    pipe.set_progress_bar_config(disable=True)

    def call():
        return pipe("a red circle", num_frames=17, height=32, width=48, num_inference_steps=2, output_type="np",
                    max_sequence_length=TEXT, generator=torch.Generator().manual_seed(0)).frames

    stock = call()
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), vidlong.SpectralFusion(), native_frames=2)
    changed = call()
    vidlong.remove(pipe.transformer)
    assert changed.shape == stock.shape == (1, 17, 32, 48, 3)
    assert np.array_equal(call(), stock) and not np.array_equal(changed, stock)


def test_a_video_count_its_call_would_ignore_is_refused_in_one_line():
    """diffusers' CogVideoX call sets ``num_videos_per_prompt`` to 1 whatever it is given; vidlong's refuses another
    count in one line before any step instead of making one video silently (1 stays its call)."""
    from tiny_pipeline import tiny_cogvideox_pipeline

    from vidlong.models import ModelSpec

    pipe = vidlong.from_pipe(tiny_cogvideox_pipeline(), spec=ModelSpec(name="tiny-cogvideox", native_frames=NATIVE, height=32,
                                                                        width=48, num_inference_steps=1))
    pipe.set_progress_bar_config(disable=True)
    with pytest.raises(vidlong.VidlongError, match=r"CogVideoXPipeline's call makes one video per prompt .* drop "
                                                   r"num_videos_per_prompt") as info:
        pipe("a red circle", num_videos_per_prompt=2, output_type="latent", max_sequence_length=TEXT)
    assert "\n" not in str(info.value)
    assert pipe("a red circle", num_videos_per_prompt=1, output_type="latent", max_sequence_length=TEXT).frames.shape[0] == 1


def test_cogvideox_1_5_with_its_temporal_patch_gets_its_own_native_length():
    from vidlong.models import model_facts, spec_for_facts

    assert spec_for_facts(model_facts({"patch_size_t": 2, "patch_size": 2}, family="cogvideox")).native_frames == 21
    assert spec_for_facts(model_facts({"patch_size_t": None, "patch_size": 2}, family="cogvideox")).native_frames == 13


@pytest.fixture(scope="module")
def cogvideox15_folder(tmp_path_factory):
    """A saved tiny `CogVideoXPipeline` in CogVideoX1.5's layout (a temporal patch of 2 latent frames), native 3 latent
    frames: its calls pad them to 4."""
    import yaml
    from tiny_pipeline import tiny_cogvideox_pipeline

    folder = tmp_path_factory.mktemp("cogvideox1.5")
    tiny_cogvideox_pipeline(patch_size_t=2).save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cogvideox1.5", native_frames=NATIVE, fps=8, height=32,
                                                             width=48, num_inference_steps=2, guidance_scale=2.0)))
    return folder


def test_cogvideox_1_5_generates_as_its_call_pads_and_its_native_window_counts_the_padding(cogvideox15_folder):
    """`generate` at the native 3 latent frames (its call pads a leading latent frame and drops it before decoding) =
    diffusers' call with the same seed, bit for bit; FreeLong++ at that length is the stock video exactly (the
    adapter's native window is the padded 2 token frames, not 1). An even latent count is not padded and decodes to 4F
    frames (13 would come back as 16): exact lengths are 8k+1, as on CogVideoX 2B/5B."""
    import numpy as np
    from diffusers import CogVideoXPipeline

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(cogvideox15_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3))
    stock = CogVideoXPipeline.from_pretrained(cogvideox15_folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    video = stock(prompt="a red ball", height=32, width=48, num_frames=4 * NATIVE - 3, num_inference_steps=2,
                  guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]  # its own draw
    assert own.frames.shape[0] == 4 * NATIVE - 3
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert torch.equal(generate(pipe, GenerateRequest(prompt="a red ball", seed=3, method="freelong")).latents, own.latents)
    with pytest.raises(vidlong.VidlongError, match=r"13 frames can't be decoded by this VAE \(needs 8k\+1\); "
                                                   r"use frames \(--frames\) 9"):
        generate(pipe, GenerateRequest(prompt="a red ball", frames=13))


def test_cogvideox_1_5_streams_and_extends_with_its_windows_padded_to_whole_patches(cogvideox15_folder, tmp_path):
    """A stream's window of an odd number of latent frames is padded at the front as its call pads a video: a
    native-length first chunk is `generate`'s video (latents bit for bit); later chunks see the re-noised context; `vidlong
    stream` and `vidlong extend` run (a temporal patch of another family is refused in one line)."""
    import dataclasses

    import numpy as np

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate
    from vidlong.validate import check_stream, limits_for_folder
    from vidlong.video_io import read_video

    pipe = vidlong.load_pipeline(cogvideox15_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3))
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3)))
    assert torch.equal(first.latents, own.latents) and np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    chunks = [c.latents for c in pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=2, seed=0)]
    alone = [c.latents for c in pipe.stream("a red ball", vidlong.Streaming(chunk=1, sinks=0, window=0), chunks=2, seed=0)]
    assert torch.equal(chunks[0], alone[0]) and not torch.equal(chunks[1], alone[1])

    out, extended = tmp_path / "s.mp4", tmp_path / "e.mp4"
    assert main(["stream", "--model", str(cogvideox15_folder), "--prompt", "a red ball", "--chunks", "2", "--chunk", "1",
                 "--out", str(out)]) == 0
    assert main(["extend", "--model", str(cogvideox15_folder), "--video", str(out), "--chunks", "1", "--chunk", "1",
                 "--prompt", "a red ball", "--out", str(extended)]) == 0
    assert len(read_video(out)[0]) == 1 + 4 and len(read_video(extended)[0]) == len(read_video(out)[0]) + 4

    limits = limits_for_folder(cogvideox15_folder)
    with pytest.raises(vidlong.VidlongError, match="streaming a ltx-video transformer whose temporal patch spans 2 latent"):
        check_stream(vidlong.Streaming(chunk=1), dataclasses.replace(limits, family="ltx-video"))  # only CogVideoX's calls pad
