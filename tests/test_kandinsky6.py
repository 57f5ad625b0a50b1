"""Kandinsky 6 (video and sound in one transformer) through its family adapter and pipeline: the methods on its video
self-attention alone (its audio self-attention, audio-video cross-attentions and text cross-attentions stock), its image's
frame after the video's kept out of the frame grid (seen unmodified, its rows stock); methods off = the stock model bit for
bit; each method equal to a float64 reference (q/k/v written from its math, attention from `reference`); `generate` with no
method = diffusers' `Kandinsky6TI2VAPipeline` bit for bit, video and sound, from text and from an image; `vidlong
generate` writes an mp4 with its sound; streams and extensions make each chunk by a call of its pipeline with its sound,
the context re-noised into it (a native-length first chunk `generate`'s video and sound); what it does not run is refused
in one line before loading."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import kandinsky6_inputs, mp4_audio, tiny_kandinsky6_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_refused_before_loading, sound_stream_recorded,
                           unrun_by_a_rebuilt_rope_family)
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
REFUSED = [*unrun_by_a_rebuilt_rope_family("Kandinsky6Transformer3DModel"),
           (["stream", "--chunks", "2", "--image", "IMAGE", "--context", "cache"], "--context cache is not available"),
           (["stream", "--seconds", "1", "--method", "fifo"], "--method fifo (diagonal denoising) needs a timestep per token"),
           (["extend", "--latents", "IMAGE", "--chunks", "1"], "--latents: Kandinsky 6's saved latents would hold its video but "
                                                              "not its sound; extend the video file instead"),
           (["stream", "--chunk", "1", "--save-latents", "x.pt"], "--save-latents: Kandinsky 6's saved latents would hold"),
           (["generate", "--prompt", "0s: a red ball; 1s: a blue ball"], "a prompt timeline (\"0s: ...; 4s: ...\") needs a"),
           (["generate", "--frames", "517"], "130 latent frames is more than this model's RoPE table places (128"),
           (["generate", "--height", "2064"], "--height 2064 is more than this model's 2048 pixels (128 RoPE positions)"),
           (["generate", "--width", "2064"], "--width 2064 is more than this model's 2048 pixels (128 RoPE positions)")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, image_path, tmp_path, capsys, monkeypatch, command,
                                                                     says):
    """RIFLEx and the -sinks methods move RoPE tables, which its adapter does not (its model's 128-row tables are not
    Wan's); fifo needs a timestep per token; its streams re-noise their context (each chunk a call of its pipeline, from
    text or an image): the KV cache context is refused; saved latents would not hold its sound; its text cross-attentions
    do not follow a prompt timeline; its RoPE tables' 128 rows bound a forward's token frames, rows and columns."""
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


def recorded_inputs(pipe, seen: list) -> list:
    """Pre-hooks on its transformer's video and audio embeddings, past any diffusers hook on the transformer: each forward's
    channels-last video input ``[B, F, h, w, 2C + 1]`` and audio input ``[B, L, C_a]`` into `seen` as ``(kind, input)``."""
    transformer = pipe.transformer
    return [transformer.visual_embeddings.register_forward_pre_hook(lambda _m, a: seen.append(("video", a[0].clone()))),
            transformer.audio_embeddings.register_forward_pre_hook(lambda _m, a: seen.append(("audio", a[0].clone())))]


def test_a_stream_makes_each_chunk_by_its_call_with_the_context_renoised_and_its_sound(folder):
    """`pipe.stream` on Kandinsky 6: a native-length first chunk is `generate`'s video (latents and frames bit for bit) and
    its sound (the samples it gives out bit for bit); each later chunk is one call over [context | chunk] whose every
    forward (its guided pair) gets the clean context, the sink's frame and the window's, at the forward's level
    ``(1 - σ)·x + σ·ε``, one ε a step, video and sound alike; the context's sound is the stream's own by
    `context_audio_spans` on its clock, which rounds up as its call counts its sound; the chunks' sounds one after another
    are as long as the whole sound decoded at once and within 5% of its peak (measured 2.2%: its MMAudio VAE attends over
    its whole input, so no overlap decodes it exactly)."""
    from vidlong.families.kandinsky6_stream import Kandinsky6Streamer
    from vidlong.families.sound_stream import context_audio_spans
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import pixel_frames

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3))
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=NATIVE, sinks=1, window=1), chunks=3,
                         seed=3)
    assert isinstance(stream, Kandinsky6Streamer)
    seen = []
    chunks, sounds, contexts = sound_stream_recorded(stream, seen, recorded_inputs(pipe, seen))
    assert torch.equal(chunks[0].latents, native.latents) and np.array_equal(chunks[0].frames, native.frames)
    heard = chunks[0].audio.samples
    assert np.array_equal(heard, native.audio.samples[:, :heard.shape[1]]) and contexts[0][0] is None
    made = torch.cat(sounds, dim=2)   # [1, C, L]
    assert stream.audio_made == made.shape[2] == int(np.ceil(pixel_frames(NATIVE + 2, 4) / 24 * 125))
    latents = torch.cat([chunk.latents for chunk in chunks], dim=2)
    for index in (1, 2):
        context, forwards = contexts[index]
        made_frames = NATIVE + index - 1
        assert torch.equal(context.video, latents[:, :, [0, made_frames - 1]].permute(0, 2, 3, 4, 1))   # sink, window
        spans = context_audio_spans(made_frames, 1, 1, 24.0, 4, 125.0, up=True)
        assert torch.equal(context.audio, torch.cat([made[:, :, a:b] for a, b in spans], dim=2).permute(0, 2, 1))
        levels = [t / 1000 for t in context.timesteps]
        assert len(levels) == 2 and levels[1] < levels[0]
        for kind, clean in (("video", context.video), ("audio", context.audio)):
            inputs = [x for name, x in forwards if name == kind]
            assert len(inputs) == 2 * 2   # 2 steps x (positive, negative)
            noises = [(x[:, :clean.shape[1], ..., :clean.shape[-1]] - (1 - level) * clean) / level
                      for x, level in zip(inputs, [levels[0]] * 2 + [levels[1]] * 2)]
            assert torch.allclose(noises[0], noises[1], atol=1e-4) and torch.allclose(noises[2], noises[3], atol=1e-4)
            assert not torch.allclose(noises[0], noises[2], atol=1e-2)
    with torch.no_grad():
        whole = stream._decode_audio(made)[0].numpy()
    heard = np.concatenate([chunk.audio.samples for chunk in chunks if chunk.audio is not None], axis=1)
    assert heard.shape == whole.shape and np.abs(heard - whole).max() < 0.05 * np.abs(whole).max()


def test_an_image_stream_keeps_its_images_frame_after_every_window(folder, image_path, tmp_path):
    """`pipe.stream(image=)` on its image-to-video pipeline: a native-length first chunk is `generate`'s with the image
    (latents bit for bit); a later chunk's every forward holds the image's latent, as encoded once, as its last frame,
    clean (token type 1, after the window), while the context's frames come first, re-noised; `vidlong stream --image`
    writes its frames and an AAC track of its sound as long as them."""
    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video

    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=image_path))
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=NATIVE, sinks=1, window=1), chunks=2,
                         seed=3, image=image_path)
    seen = []
    hooks = recorded_inputs(pipe, seen)
    try:
        first, second = list(stream)
    finally:
        for hook in hooks:
            hook.remove()
    assert torch.equal(first.latents, native.latents)
    image, context = stream.condition.latent, stream.last_context
    later = [x for kind, x in seen[-8:] if kind == "video"]   # the second chunk's call: 2 steps x 2 forwards
    assert len(later) == 4 and all(x.shape[1] == 2 + 1 + 1 for x in later)   # [sink, window | chunk | image]
    assert all(torch.equal(x[:, -1, ..., :4], image.expand(x.shape[0], -1, -1, -1)) for x in later)
    assert all(not torch.allclose(x[:, :2, ..., :4], context.video.expand(x.shape[0], -1, -1, -1, -1), atol=1e-3)
               for x in later)
    assert second.frames.shape[0] == 4 and second.audio is not None
    out = tmp_path / "i2v-stream.mp4"
    assert main(["stream", "--model", str(folder), "--image", str(image_path), "--prompt", "a red ball", "--chunk", "1",
                 "--sinks", "1", "--chunks", "2", "--out", str(out)]) == 0
    assert read_video(out)[0].shape[0] == 1 + 4
    assert abs(mp4_audio(out, 16000, channels=1).shape[1] / 16000 - 5 / 24) < 0.1


def test_vidlong_extend_keeps_the_inputs_frames_and_sound_then_the_new_frames_and_sound(folder, tmp_path, capsys):
    """`vidlong extend` (`family_checks.check_cli_extension`: the input's 13 frames first, at its 24 fps, then 2 chunks of 4)
    keeps the input's sound track (a tone, through mono AAC twice: its mean error measured 0.012) for its frames, then the
    new sound, continuing the tone encoded into the context, as long as the frames; its note on stderr says so."""
    from conftest import mp4_audio
    from family_checks import check_cli_extension

    from vidlong.video_io import Soundtrack

    samples = round(13 / 24 * 16000)
    tone = Soundtrack((0.5 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)[None]).astype(np.float32), 16000)
    heard = mp4_audio(check_cli_extension(folder, tmp_path, 4, 24.0, (32, 48, 3), audio=tone), 16000, channels=1)
    assert "audio VAE into the context, so the new sound continues it" in capsys.readouterr().err
    assert abs(heard.shape[1] / 16000 - 21 / 24) < 0.1
    kept, given = heard[0, 800:samples - 800], tone.samples[0, 800:samples - 800]   # AAC's edges aside
    assert np.abs(kept - given).mean() < 0.05 and np.corrcoef(kept, given)[0, 1] > 0.98


def test_its_calls_audio_latents_of_another_shape_are_refused_in_one_line(folder):
    """Its call's ``audio_latents=`` (`Kandinsky6Family.audio_latents_shapes`: what a stream hands each chunk's call): of
    its transformer's 4 audio channels and any length, its sound that long; of another channel count, rank or batch,
    refused in one line naming ``audio_latents`` (diffusers would fail deep in its loop)."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    call = dict(prompt="a red ball", num_frames=5, num_inference_steps=1, output_type="latent")
    for shape, changed in (((1, 5, 7), {}), ((4, 7), {}), ((1, 4, 7), dict(num_videos_per_prompt=2))):
        with pytest.raises(vidlong.VidlongError) as refused:
            pipe(**call, **changed, audio_latents=torch.randn(shape))
        line = str(refused.value)
        assert line.startswith(f"audio_latents has shape {list(shape)}; this call (") and "\n" not in line, line
    assert pipe(**call, audio_latents=torch.randn(1, 4, 7)).audio.shape == (1, 4, 7)


def test_a_first_chunk_given_the_clocks_sound_leaves_its_draw_behind(folder, monkeypatch):
    """Where its call would count another sound length than the stream's clock (its float ceil over an exact count), the
    first chunk's call is given the clock's sound noise, drawn from the stream's generator: the generator goes on past that
    draw (its call, given its video and sound, draws nothing), so the next chunk's noise is not those numbers again."""
    from vidlong.families.kandinsky6_stream import Kandinsky6Streamer

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    monkeypatch.setattr(Kandinsky6Streamer, "_call_audio_frames", lambda self, pixels: 0)   # never the clock's
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, sinks=1, window=0), chunks=2, seed=3)
    states, start_noise = [], pipe.start_noise   # the generator's state at each chunk's noise draw, and after it

    def recorded(*args):
        states.append(args[-1].get_state())
        noise = start_noise(*args)
        states.append(args[-1].get_state())
        return noise

    monkeypatch.setattr(pipe, "start_noise", recorded)
    list(stream)
    assert len(states) == 4 and not torch.equal(states[1], states[2])


def test_an_extension_encodes_the_inputs_sound_into_its_context_and_renoises_it(folder, tmp_path):
    """`pipe.extend` of a 25-frame file with a tone (6 latent frames encoded, 2 of them the context: sinks 1, window 1):
    the context's sound is the input's, from where its encoded frames start (4 pixel frames in), through its audio VAE's
    own `encode` (the posterior's mode, times its scaling factor: what its call's decode divides by it), bit for bit, at
    `context_audio_spans` of the context's frames on the clock (its sink's the sink frame's, the 5th encoded); all of it
    kept (none made anew); the first chunk's every forward gets it re-noised, one ε a step in both guided forwards; the
    next chunk's context keeps the sink's encoded sound, then the first chunk's own; the new chunks' sound, decoded after
    the encoding (its overlap), is as long as their clock's."""
    from vidlong.families.sound_stream import context_audio_spans
    from vidlong.video_io import Soundtrack, read_sound, write_video

    rate, hop = 16000, 128
    given = np.broadcast_to(np.linspace(40, 200, 25, dtype=np.uint8)[:, None, None, None], (25, 32, 48, 3)).copy()
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(round(25 / 24 * rate)) / rate)[None].astype(np.float32)
    write_video(tmp_path / "in.mp4", given, fps=24, audio=Soundtrack(tone, rate))
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stream = pipe.extend("a red ball", video=str(tmp_path / "in.mp4"), chunks=2, seed=1,
                         streaming=vidlong.Streaming(chunk=1, sinks=1, window=1))
    seen = []
    items, sounds, contexts = sound_stream_recorded(stream, seen, recorded_inputs(pipe, seen))
    assert items[0].is_input and stream.prefix.latents.shape[2] == 6 and stream.sinks_at == 4 and stream.unkept_audio == 0
    made = int(np.ceil(21 / 24 * 125))   # the clock's sound of the 21 encoded pixel frames, 110 frames
    heard = read_sound(tmp_path / "in.mp4", 25 / 24, rate, 1).samples[0, round(4 / 24 * rate):]
    waveform = torch.zeros(1, made * hop)
    waveform[0, :len(heard)] = torch.from_numpy(heard)   # 80 samples of silence past the track's end
    with torch.no_grad():
        encoded = pipe.audio_vae.encode(waveform).latent_dist.mode() * pipe.audio_vae.config.scaling_factor
    spans = context_audio_spans(6, 1, 1, 24.0, 4, 125.0, up=True, first=4)
    assert spans == [(84, 89), (89, made)]
    first, second = contexts[1][0], contexts[2][0]
    assert first.unkept == 0 and torch.equal(first.audio, encoded[:, :, 84:made].permute(0, 2, 1))
    levels = [t / 1000 for t in first.timesteps]
    inputs = [x for name, x in contexts[1][1] if name == "audio"]
    assert len(inputs) == 4 and inputs[0].shape[1] == made - 84 + sounds[1].shape[2]
    noises = [(x[:, :made - 84] - (1 - level) * first.audio) / level for x, level in zip(inputs, [levels[0]] * 2 + [levels[1]] * 2)]
    assert torch.allclose(noises[0], noises[1], atol=1e-4) and torch.allclose(noises[2], noises[3], atol=1e-4)
    assert not torch.allclose(noises[0], noises[2], atol=1e-2)
    assert torch.equal(second.audio, torch.cat([encoded[:, :, 84:89], sounds[1][:, :, :21]], dim=2).permute(0, 2, 1))
    new = np.concatenate([item.audio.samples for item in items[1:] if item.audio is not None], axis=1)
    assert new.shape[1] == (stream.audio_made - made) * hop and items[0].audio.samples.shape == (1, round(25 / 24 * rate))


def test_a_bfloat16_audio_vae_encodes_an_extensions_sound_with_its_front_end_in_float32():
    """Its audio VAE in bfloat16 (its STFT has no bfloat16 FFT kernel, and its filterbank would meet a float32 spectrum):
    `Kandinsky6Streamer._encode_audio` runs its front end in float32 and puts it back; the latents within 10% of their peak
    of float32's (measured 4.9%)."""
    from tiny_pipeline import tiny_kandinsky6_pipeline

    from vidlong.video_io import Soundtrack

    pipe = vidlong.from_pipe(tiny_kandinsky6_pipeline())
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1), chunks=1, seed=0)
    sound = Soundtrack((0.5 * np.sin(np.arange(16000) * 0.17))[None].astype(np.float32), 16000)
    with torch.no_grad():
        full = stream._encode_audio(sound, 0.1, 20)
        pipe.audio_vae.to(torch.bfloat16)
        half = stream._encode_audio(sound, 0.1, 20)
    assert full.shape == half.shape == (1, 4, 20) and pipe.audio_vae.mel_converter.mel_basis.dtype == torch.bfloat16
    assert (full - half).abs().max() < 0.1 * full.abs().max()
