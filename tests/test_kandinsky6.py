"""Kandinsky 6 (video and sound in one transformer) through its family adapter and pipeline: the methods on its video
self-attention alone (its audio self-attention, audio-video cross-attentions and text cross-attentions stock), its image's
frame after the video's kept out of the frame grid (seen unmodified, its rows stock); methods off = the stock model bit for
bit; each method equal to a float64 reference (q/k/v written from its math, attention from `reference`); `generate` with no
method = diffusers' `Kandinsky6TI2VAPipeline` bit for bit, video and sound, from text and from an image; `vidlong
generate` writes an mp4 with its sound; what it does not run is refused in one line before loading."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kandinsky6_inputs, mp4_audio, tiny_kandinsky6_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_refused_before_loading, unrun_by_a_rebuilt_rope_family)
from reference import matrix_rotated, method_attention, rms_norm, text_last_method_attention

import vidlong
from vidlong.attention.adapters.kandinsky6 import KANDINSKY_6

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}
#: from text, and with its image's frame after the video's (its image-to-video call's inputs)
IMAGE = pytest.mark.parametrize("image", [False, True], ids=["t2v", "i2v"])


def run(model, frames, dtype=torch.float32, image=False):
    """Its video and audio predictions, flattened into one tensor."""
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**kandinsky6_inputs(frames, dtype=dtype, image=image))])


def others_stock(model):
    """Its audio self-attentions, audio-video cross-attentions and text cross-attentions keep their own processors."""
    for block in model.visual_transformer_blocks:
        for attention in (block.audio_dec_block.self_attention, block.va_cross_attention, block.av_cross_attention,
                          block.video_dec_block.cross_attention, block.audio_dec_block.cross_attention):
            assert type(attention.processor).__name__ == "Kandinsky6AttnProcessor"


@IMAGE
def test_methods_off_and_removed_are_stock_bit_for_bit(image):
    """vidlong's processor goes on its fused blocks' video self-attentions alone and comes off; a neutral plan is its own
    processor's output bit for bit, video and sound."""
    check_methods_off_and_removed(tiny_kandinsky6_transformer, lambda model: run(model, 4 * NATIVE, image=image),
                                  KANDINSKY_6.self_attentions, "Kandinsky6AttnProcessor", 2, NATIVE, applied=others_stock)


class ReferenceAttention:
    """The methods' float64 math on a Kandinsky 6 video self-attention: q/k/v from its projections, per-head RMS norms and
    its rotation-matrix RoPE on q and k, the output through ``out_layer``; with `image`, the last frame's tokens (its
    image's) as text after the video (`text_last_method_attention`)."""

    def __init__(self, method, frames, image):
        self.method, self.frames, self.image = method, frames, image

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, rotary_emb=None, rotary_emb_kv=None,
                 attn_mask=None):
        def heads(x):
            return x.unflatten(2, (attn.num_heads, -1))

        assert encoder_hidden_states is None and attn_mask is None and rotary_emb_kv is rotary_emb
        q = matrix_rotated(rms_norm(heads(attn.to_query(hidden_states)), attn.query_norm), rotary_emb)
        k = matrix_rotated(rms_norm(heads(attn.to_key(hidden_states)), attn.key_norm), rotary_emb)
        v = heads(attn.to_value(hidden_states))
        if self.image:
            out = text_last_method_attention(self.method, q, k, v, GRID[0] * GRID[1], self.frames, GRID, NATIVE)
        else:
            out = method_attention(self.method, q, k, v, self.frames, GRID, NATIVE)
        return attn.out_layer(out.flatten(2, 3))


@IMAGE
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, image):
    """At 4x the native window, in float32 on the CPU's dense kernel; its image's frame kept out of the grid."""
    check_float64_reference(tiny_kandinsky6_transformer, lambda model, frames, dtype: run(model, frames, dtype, image),
                            KANDINSKY_6.self_attentions, lambda method, frames: ReferenceAttention(method, frames, image),
                            method, NATIVE)


def test_layout_leaves_out_its_images_frame_and_refuses_another_order():
    """The grid of an image-to-video forward is the video's frames (its image's, token type 1, after them, not in it); a
    token type marking a frame before a video frame is refused in one line; RIFLEx is not implemented (its adapter names
    no RoPE module, though the model has 128-row tables)."""
    from vidlong.attention.adapters.kandinsky6 import reference_frames

    model = tiny_kandinsky6_transformer()
    inputs = kandinsky6_inputs(2 * NATIVE, image=True)
    assert KANDINSKY_6.layout(model, (), inputs, NATIVE).grid == (2 * NATIVE, *GRID, NATIVE)
    assert reference_frames(None) == 0
    with pytest.raises(vidlong.VidlongError, match="visual_token_type_ids marking another frame is not implemented"):
        reference_frames(torch.tensor([[1, 0, 0]]))
    with pytest.raises(vidlong.VidlongError, match="RIFLEx is not implemented for Kandinsky6Transformer3DModel"):
        vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)


def test_native_length_size_and_vae_ratio_come_from_configs():
    """31 latent frames at 24 fps, 512x768, 50 steps at 5, from configs/models; 4 pixel frames per latent frame (121), 8x
    space, from its HunyuanVideo VAE; its 128-row RoPE tables bound a forward's token frames; its call's frame rate (its
    sound's length follows it) is the spec's fps."""
    from tiny_pipeline import tiny_kandinsky6_pipeline

    from vidlong.models import family_of, model_facts, pixel_frames, spec_for_facts
    from vidlong.validate import limits_for_pipeline

    model = tiny_kandinsky6_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 31
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("kandinsky6", 24, 512, 768, 50, 5.0)
    pipe = vidlong.from_pipe(tiny_kandinsky6_pipeline())
    geometry = pipe.geometry()
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (4, 8, 4, (1, 2, 2))
    assert pixel_frames(spec.native_frames, geometry.temporal) == 121
    assert type(pipe).__name__ == "VidLongKandinsky6TI2VAPipeline" and limits_for_pipeline(pipe).rope_positions == 128
    assert pipe.call_defaults()["frame_rate"] == 24


def test_a_distilled_release_takes_its_own_spec_guidance_1(tmp_path):
    """A pipeline whose scheduler is `PiflowScheduler` (diffusers: its distilled releases ship with it and must run at
    guidance 1) takes configs/models' kandinsky6-distill spec, its folder before loading and the pipeline held: 16 steps
    at guidance 1, 480x864, 121 frames at 24 fps (its call's docstring example); the others keep kandinsky6's."""
    from diffusers import PiflowScheduler
    from tiny_pipeline import tiny_kandinsky6_pipeline

    from vidlong.models import spec_for_folder

    pipe = tiny_kandinsky6_pipeline()
    assert vidlong.from_pipe(pipe).spec.name == "kandinsky6"
    pipe.scheduler = PiflowScheduler()
    pipe.save_pretrained(tmp_path, safe_serialization=True)
    for spec in (spec_for_folder(tmp_path), vidlong.from_pipe(pipe).spec):
        assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps,
                spec.guidance_scale) == ("kandinsky6-distill", 31, 24, 480, 864, 16, 1.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The tiny pipeline's folder (`tiny_pipeline.save_tiny_kandinsky6_pipeline`: native 3 latent frames, 32x48 at 24 fps,
    2 steps, guidance 2)."""
    from tiny_pipeline import save_tiny_kandinsky6_pipeline

    return save_tiny_kandinsky6_pipeline(tmp_path_factory.mktemp("kandinsky6"))


@IMAGE
def test_generate_with_no_method_is_the_stock_call_bit_for_bit_video_and_sound(folder, image_path, image):
    """`generate` at 2x with no method = diffusers' `Kandinsky6TI2VAPipeline` from the same folder, seed and settings: the
    same frames and the same waveform (its sound drawn after the video's noise; given an image, the image's latent drawn
    before both, as its call draws them), as long as the video; with both methods the video changes, the sound keeps its
    length, and the transformer is stock after the call; ``decode=False`` (no sound) is refused in one line."""
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v" if image else None)
    assert type(pipe).__name__ == "VidLongKandinsky6TI2VA" + ("ImageToVideoPipeline" if image else "Pipeline")
    pipe.set_progress_bar_config(disable=True)
    given = dict(image=Image.open(image_path).convert("RGB")) if image else {}
    request = dict(prompt="a red ball", ratio=2, seed=3, height=32, width=48, **given)
    plain = generate(pipe, GenerateRequest(**request))
    stock = check_generate_is_the_stock_call(folder, plain, "Kandinsky6TI2VAPipeline", NATIVE, temporal=4, guidance_scale=2.0,
                                             generator=torch.Generator().manual_seed(3), **given)
    assert plain.audio.rate == 16000 and np.array_equal(np.clip(stock.audio[:1], -1, 1), plain.audio.samples)
    assert abs(plain.audio.samples.shape[1] / 16000 - 21 / 24) < 0.01  # the video's duration
    both = generate(pipe, GenerateRequest(**request, method="both"))
    assert not np.array_equal(both.frames, plain.frames) and both.audio.samples.shape == plain.audio.samples.shape
    assert {type(a.processor).__name__ for a in KANDINSKY_6.self_attentions(pipe.transformer)} == {"Kandinsky6AttnProcessor"}
    with pytest.raises(vidlong.VidlongError, match="decodes its video and its audio in one call: decode=False"):
        generate(pipe, GenerateRequest(**request), decode=False)


@IMAGE
def test_vidlong_generate_writes_an_mp4_with_its_sound(folder, image_path, tmp_path, image):
    """`vidlong generate --ratio 2 --method both` (with ``--image``: the same folder as image to video): 4·(6 - 1) + 1 = 21
    pixel frames at 24 fps, 48x32, the method in the sidecar, and an AAC track of its sound as long as them."""
    if image:
        out = tmp_path / "long.mp4"
        from vidlong.cli import main

        assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                     "--method", "both", "--height", "32", "--width", "48", "--out", str(out)]) == 0
        assert json.loads(out.with_suffix(".json").read_text())["method"] == "both"
    else:
        check_cli_generate(folder, tmp_path, "both", NATIVE, temporal=4, fps=24)
    heard = mp4_audio(tmp_path / "long.mp4", 16000, channels=1)
    assert abs(heard.shape[1] / 16000 - 21 / 24) < 0.1 and np.abs(heard).max() > 0  # AAC pads to whole frames


#: what it refuses before loading (``IMAGE``: the image's path), and what the refusal says
REFUSED = [*unrun_by_a_rebuilt_rope_family("Kandinsky6Transformer3DModel")[:3],
           (["stream", "--chunks", "2"], "streaming is not available for Kandinsky6Transformer3DModel: each chunk would need "
                                         "its sound made with it"),
           (["stream", "--chunks", "2", "--image", "IMAGE"], "streaming is not available"),
           (["extend", "--video", "IMAGE"], "streaming is not available"),
           (["generate", "--prompt", "0s: a red ball; 1s: a blue ball"], "a prompt timeline (\"0s: ...; 4s: ...\") needs a"),
           (["generate", "--frames", "517"], "130 latent frames is more than this model's RoPE table places (128"),
           (["generate", "--height", "2064"], "--height 2064 is more than this model's 2048 pixels (128 RoPE positions)"),
           (["generate", "--width", "2064"], "--width 2064 is more than this model's 2048 pixels (128 RoPE positions)")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, image_path, tmp_path, capsys, monkeypatch, command,
                                                                     says):
    """RIFLEx and the -sinks methods move RoPE tables, which its adapter does not (its model's 128-row tables are not
    Wan's); fifo needs a timestep per token; streams and extensions (from text, an image or a video) would need its sound
    made chunk by chunk (LTX-2's streams alone do); its text cross-attentions do not follow a prompt timeline; its RoPE
    tables' 128 rows bound a forward's token frames, rows and columns."""
    args = [command[0], "--model", str(folder), "--prompt", "a red ball",
            *[str(image_path) if arg == "IMAGE" else arg for arg in command[1:]]]
    assert says in check_refused_before_loading(args, tmp_path / "g.mp4", capsys, monkeypatch)


def test_an_image_on_a_release_without_its_image_path_is_refused_before_loading(folder, image_path, tmp_path, capsys,
                                                                                 monkeypatch):
    """A folder whose transformer has no second token type (its call refuses an image there) is text to video: ``--image``
    is refused in one line before loading, naming the image-to-video folders, Kandinsky 6's among them."""
    text_only = Path(shutil.copytree(folder, tmp_path / "text-only"))
    config = json.loads((text_only / "transformer" / "config.json").read_text())
    (text_only / "transformer" / "config.json").write_text(json.dumps(dict(config, visual_token_type_num_embeddings=0)))
    says = check_refused_before_loading(["generate", "--model", str(text_only), "--prompt", "a red ball", "--image",
                                         str(image_path)], tmp_path / "g.mp4", capsys, monkeypatch)
    assert "takes no --image; use an image-to-video model folder" in says and "Kandinsky 5 and 6" in says
