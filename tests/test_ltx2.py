"""LTX-2 (audio and video in one transformer) through its family adapter: methods off = the stock model bit for bit
(LTX-2.0's and LTX-2.3's parts, spatio-temporal guidance too), each method equal to the float64 dense reference on its
video self-attention, its pipeline under vidlong (the spec's defaults, `generate` = diffusers' call bit for bit, video
and audio), the CLI end to end (an mp4 with its audio track), streams chunk by chunk with their sound, extensions with the
input's sound track for its part and new sound after it."""
import itertools

import numpy as np
import pytest
import torch
from conftest import ltx2_inputs, tiny_ltx2_transformer
from family_checks import NEUTRAL, block_self_attentions, check_methods_off_and_removed, sound_stream_recorded
from reference import LTX2ReferenceAttention, rel_err

import vidlong
from vidlong.models import pixel_frames

NATIVE = 3  # latent frames
GRID = (2, 3)  # latent height, width (patch 1: token rows, columns)
STG = dict(spatio_temporal_guidance_blocks=[1])  # the second block's attention skipped, as its guidance forward does


def run(model, frames, **extra):
    with torch.no_grad():
        return torch.cat([x.flatten() for x in model(**ltx2_inputs(frames, **extra))])  # video and audio


def audio_attentions_stock(model):
    """Its audio self-attentions keep their own processors."""
    assert all(type(b.audio_attn1.processor).__name__ != "VidlongAttnProcessor" for b in model.transformer_blocks)


@pytest.mark.parametrize("latest", [False, True], ids=["ltx2.0", "ltx2.3"])
@pytest.mark.parametrize("extra", [{}, STG, dict(STG, video_self_attention_mask=torch.ones(1, 72, 72))],
                         ids=["plain", "stg", "stg-masked"])
def test_methods_off_and_removed_are_stock_bit_for_bit(latest, extra):
    # a masked self-attention (IC-LoRA's) goes to its own processor as it is: the methods leave it stock
    check_methods_off_and_removed(lambda: tiny_ltx2_transformer(latest=latest), lambda model: run(model, 4 * NATIVE, **extra),
                                  block_self_attentions, "LTX2PerturbedAttnProcessor" if latest else "LTX2AudioVideoAttnProcessor",
                                  2, NATIVE, neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())),
                                  methods=(vidlong.UltraViCo(), vidlong.SpectralFusion()),
                                  acts="video_self_attention_mask" not in extra, applied=audio_attentions_stock)


@pytest.mark.parametrize("latest", [False, True], ids=["ltx2.0", "ltx2.3"])
@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,)), vidlong.SlidingWindow()],
                         ids=["ultravico", "fusion", "window"])
def test_methods_match_float64_reference(method, latest):
    frames = 4 * NATIVE
    extra = STG if latest else {}
    model = tiny_ltx2_transformer(latest=latest)
    vidlong.apply(model, method, native_frames=NATIVE, kernel="dense")
    out = run(model, frames, **extra)
    reference = tiny_ltx2_transformer(latest=latest).to(torch.float64)
    for block in reference.transformer_blocks:
        block.attn1.set_processor(LTX2ReferenceAttention(method, frames, GRID, NATIVE))
    ref = run(reference, frames, dtype=torch.float64, **extra)
    assert rel_err(out, ref) < 1e-5
    assert rel_err(out, run(tiny_ltx2_transformer(latest=latest), frames, **extra)) > 1e-4


def test_layout_from_video_coords_and_what_is_refused():
    model = tiny_ltx2_transformer(latest=True)
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 61  # configs/models/ltx-2.yaml
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE, kernel="dense")
    frames = 2 * NATIVE
    coords = model.rope.prepare_video_coords(1, frames, *GRID, torch.device("cpu"), fps=24.0)
    by_sizes = run(model, frames)
    inputs = {**ltx2_inputs(frames), "video_coords": coords}
    for name in ("num_frames", "height", "width"):
        del inputs[name]
    with torch.no_grad():
        assert torch.equal(torch.cat([x.flatten() for x in model(**inputs)]), by_sizes)
    inputs["video_coords"] = None
    with pytest.raises(vidlong.VidlongError, match="needs num_frames, height and width"):
        with torch.no_grad():
            model(**inputs)
    with pytest.raises(vidlong.VidlongError, match="a perturbation_mask per sample is not implemented"):
        run(model, frames, perturbation_mask=torch.tensor([0.5]), **STG)
    with pytest.raises(vidlong.VidlongError, match="RIFLEx is not implemented for LTX2VideoTransformer3DModel"):
        vidlong.apply(model, vidlong.RIFLEx(), native_frames=NATIVE)
    from vidlong.attention.stream_attention import StreamContext

    with pytest.raises(vidlong.VidlongError, match="LTX2VideoTransformer3DModel: each chunk is a call of its pipeline"):
        vidlong.apply(model, native_frames=NATIVE, stream=StreamContext(sinks=1, window=1))


def test_generate_is_diffusers_call_bit_for_bit_video_and_audio_and_the_methods_act(ltx2_folder):
    """`generate` at 2x native with no method = diffusers' `LTX2Pipeline` called with the same seed and the spec's
    size, length, steps and guidance (its classifier-free, spatio-temporal and modality guidance): the same frames and
    the same waveform; with both methods the video changes and the transformer is stock again after the call."""
    from diffusers import LTX2Pipeline

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTX2Pipeline" and pipe.spec.name == "tiny-ltx2"
    samples = []
    counting = pipe.transformer.register_forward_pre_hook(lambda _m, _a, k: samples.append(k["hidden_states"].shape[0]),
                                                          with_kwargs=True)
    plain = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="none", seed=3))
    counting.remove()
    assert sum(samples) == pipe.forwards_per_step(3.0) * 2  # what the run estimate counts, per step
    assert plain.frames.shape == (25, 64, 64, 3) and plain.settings["fps"] == 24
    stock = LTX2Pipeline.from_pretrained(ltx2_folder)
    stock.set_progress_bar_config(disable=True)
    out = stock("a red ball", num_frames=25, height=64, width=64, num_inference_steps=2, guidance_scale=3.0, frame_rate=24,
                output_type="np", generator=torch.Generator().manual_seed(3))
    assert np.array_equal((np.clip(out.frames[0], 0, 1) * 255).round().astype(np.uint8), plain.frames)
    assert plain.audio.rate == 16000 and np.array_equal(out.audio[0].clamp(-1, 1).numpy(), plain.audio.samples)
    assert abs(plain.audio.samples.shape[1] / 16000 - 25 / 24) < 0.05  # the video's duration
    both = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="both", seed=3))
    assert not np.array_equal(both.frames, plain.frames) and both.audio.samples.shape == plain.audio.samples.shape
    assert all(type(b.attn1.processor).__name__ != "VidlongAttnProcessor" for b in pipe.transformer.transformer_blocks)
    with pytest.raises(vidlong.VidlongError, match="decodes its video and its audio in one call: decode=False"):
        generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="none", seed=3), decode=False)
    defaults = pipe.call_defaults()
    assert (defaults["num_frames"], defaults["frame_rate"], defaults["height"]) == (9, 24, 64)


def test_vidlong_generate_writes_an_mp4_with_its_sound(ltx2_folder, tmp_path):
    import json

    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video

    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(ltx2_folder), "--prompt", "a red ball", "--ratio", "2", "--method", "both",
                 "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape[0] == 25 and fps == 24 and json.loads(out.with_suffix(".json").read_text())["method"] == "both"
    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    made = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="both", seed=3)).audio.samples
    heard = mp4_audio(out, 16000)
    assert abs(heard.shape[1] - made.shape[1]) <= 1024  # AAC frames of 1024 samples
    n = min(heard.shape[1], made.shape[1])
    assert np.corrcoef(heard[:, :n].ravel(), made[:, :n].ravel())[0, 1] > 0.9  # the same sound, through AAC


def test_context_audio_spans_keep_each_runs_sound_with_its_frames():
    """The sound of a chunk's context on the stream's clock (24 fps, 8 pixel frames a latent frame, 25 audio latent frames
    a second): the sinks' from the start; the window's ending where its last frame ends and lasting as long as its frames
    last at their place (after a sink, 3 latent frames = 24 pixel frames = 1 s; first in the window, 17 pixel frames)."""
    from vidlong.families.sound_stream import context_audio_spans

    assert context_audio_spans(10, 1, 3, 24.0, 8, 25.0) == [(0, 1), (51, 76)]
    assert context_audio_spans(10, 0, 3, 24.0, 8, 25.0) == [(58, 76)]
    assert context_audio_spans(2, 1, 3, 24.0, 8, 25.0) == [(0, 1), (1, 9)]   # young: one run from the start, in two
    assert context_audio_spans(0, 1, 3, 24.0, 8, 25.0) == []


@pytest.mark.parametrize("up", [False, True], ids=["nearest", "up"])
@pytest.mark.parametrize("fps", [24, 25, 30, 48, 50, 60])
def test_the_streams_sound_clock_keeps_every_context_it_will_read(fps, up):
    """Model-free, every small stream layout (sinks 0-3, windows 0-6, chunks 1-3, first chunks 1-4, 12 chunks) at common
    frame rates, the clock rounding to the nearest frame (LTX-2's) or up (Kandinsky 6's): the stream's sound through each
    chunk is `audio_clock` at its frames' end; every context span lies in the sound made; and each next context reads only
    what the last one read or what the chunk between them made (what a stream keeps), its window's start never moving
    back."""
    from vidlong.families.sound_stream import audio_clock, context_audio_spans, frame_edges

    rate, temporal = 25.0, 8
    for sinks, window, chunk, first in itertools.product(range(4), range(7), range(1, 4), range(1, 5)):
        made, kept, made_sound, starts = first, None, 0, []
        for _ in range(12):
            sound = audio_clock(frame_edges(made - 1, temporal)[1], fps, rate, up)
            spans = context_audio_spans(made, sinks, window, fps, temporal, rate, up)
            assert all(0 <= start < stop <= sound for start, stop in spans)
            reads = {i for start, stop in spans for i in range(start, stop)}
            assert kept is None or reads <= kept | set(range(made_sound, sound)), (sinks, window, chunk, first, made)
            if window and made > sinks and len(spans) == 1 + bool(sinks):
                starts.append(spans[-1][0])
            kept, made_sound, made = reads, sound, made + chunk
        assert starts == sorted(starts)


def test_a_stream_makes_each_chunk_by_its_call_with_the_context_renoised_and_its_sound(ltx2_folder):
    """`pipe.stream` on LTX-2: a native-length first chunk is `generate`'s video and sound (latents bit for bit); each later
    chunk is one call of its pipeline over [context | chunk] whose every forward (its guidance's three) gets the clean
    context at the forward's level, ``(1 - σ)·x + σ·ε``, the same ε within a step and a new one each step, video and
    sound alike; the context's sound is the stream's own by `context_audio_spans`; the chunks' sounds, one after another,
    are the whole sound decoded at once (but near the chunks' seams) and as long as the stream's clock says."""
    from vidlong.families.ltx2_stream import LTX2Streamer
    from vidlong.families.sound_stream import context_audio_spans
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3))
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=2, sinks=1, window=0), chunks=3, seed=3)
    assert isinstance(stream, LTX2Streamer)
    seen = []   # (level, video tokens, audio tokens) of every forward, after the hook
    hooks = [pipe.transformer.proj_in.register_forward_pre_hook(lambda _m, a: seen.append(["video", a[0].clone()])),
             pipe.transformer.audio_proj_in.register_forward_pre_hook(lambda _m, a: seen.append(["audio", a[0].clone()]))]
    chunks, sounds, contexts = sound_stream_recorded(stream, seen, hooks)
    assert torch.equal(chunks[0].latents, native.latents) and chunks[0].frames.shape[0] == 9
    assert contexts[0][0] is None
    made = torch.cat(sounds, dim=2)
    assert stream.audio_made == made.shape[2] == round(pixel_frames(stream.frames_made, 8) / 24 * 25)
    normalised = stream._audio_tokens(made)
    for index in (1, 2):
        context, forwards = contexts[index]
        levels = [t / 1000 for t in context.timesteps]
        assert levels[-1] < levels[0] and len(set(levels)) == len(levels) == 2
        assert torch.equal(context.video, pipe.call_latents(chunks[0].latents[:, :, :1]))   # the sink frame
        # on the stream's clock: its sound through this chunk as long as its frames (2 + index latent frames)
        assert sum(s.shape[2] for s in sounds[:index + 1]) == round(pixel_frames(2 + index, 8) / 24 * 25)
        spans = context_audio_spans(1 + index, 1, 0, 24.0, 8, 25.0)
        assert spans == [(0, 1)]
        assert torch.allclose(context.audio, torch.cat([normalised[:, a:b] for a, b in spans], dim=1), atol=1e-5)
        for kind, clean in (("video", context.video), ("audio", context.audio)):
            tokens = [x for name, x in forwards if name == kind]
            assert len(tokens) == 2 * 3 and all(x.shape[0] in (1, 2) for x in tokens)  # 2 steps x (guided pair, STG, modality)
            n = clean.shape[1]
            noises = []
            for step, level in enumerate(levels):
                for x in tokens[3 * step: 3 * step + 3]:
                    for row in x:
                        noises.append((step, (row[:n].float() - (1 - level) * clean[0].float()) / level))
            first = [eps for step, eps in noises if step == 0]
            second = [eps for step, eps in noises if step == 1]
            assert all(torch.allclose(eps, first[0], atol=1e-4) for eps in first)
            assert all(torch.allclose(eps, second[0], atol=1e-4) for eps in second)
            assert not torch.allclose(first[0], second[0], atol=1e-2)
    with torch.no_grad():
        whole = pipe.vocoder(pipe.audio_vae.decode(made, return_dict=False)[0])[0].numpy()
    heard = np.concatenate([chunk.audio.samples for chunk in chunks if chunk.audio is not None], axis=1)
    assert heard.shape == whole.shape
    assert np.abs(heard - whole).max() < 1e-4 * np.abs(whole).max()


def test_a_chunk_does_not_depend_on_its_calls_own_copy_of_the_context(ltx2_folder):
    """Its call keeps its own copy of the window's latents, whose context tokens its steps move elsewhere; its guidance
    rescale (0.7 for video and audio by default) reads every token of the clean prediction it converts from them. With
    the context as the transformer saw it in those conversions, scrambling that copy (video and audio) changes no chunk."""
    from vidlong.families.sound_stream import RenoisedContext

    def streamed(scramble: bool):
        pipe = vidlong.load_pipeline(ltx2_folder)
        pipe.set_progress_bar_config(disable=True)
        stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=2, sinks=1, window=0), chunks=3,
                             seed=3)
        if scramble:
            for name in ("prepare_latents", "prepare_audio_latents"):
                def scrambled(*args, _original=getattr(pipe, name), _audio=name == "prepare_audio_latents", **kwargs):
                    tokens = _original(*args, **kwargs)
                    registry = getattr(pipe.transformer, "_diffusers_hook", None)
                    if registry is not None and registry.get_hook(RenoisedContext.name) is not None:
                        context = stream.last_context.audio if _audio else stream.last_context.video
                        tokens = tokens.clone()
                        tokens[:, : context.shape[1]] = 10 * torch.randn_like(tokens[:, : context.shape[1]])
                    return tokens
                setattr(pipe, name, scrambled)
        return [(chunk.latents, stream.chunk_audio) for chunk in stream]

    for (latents, audio), (other_latents, other_audio) in zip(streamed(False), streamed(True)):
        assert torch.equal(latents, other_latents) and torch.equal(audio, other_audio)


def test_each_chunks_noise_is_new(ltx2_folder):
    """With no context (no sinks, no window) every chunk is a call from fresh noise: its video's noise is not the last
    call's audio noise again (the stream's generator goes on past its call's draws)."""
    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    drawn = {"video": [], "audio": []}   # in the order drawn: [1, C, F, h, w] and [1, C, L, M], flattened
    unpack = {"video": lambda tokens: pipe._unpack_latents(tokens, 1, 2, 2, 1, 1),   # one latent frame of 2 x 2 cells
              "audio": lambda tokens: pipe._unpack_audio_latents(tokens, tokens.shape[1], num_mel_bins=2)}
    for name, kind in (("prepare_latents", "video"), ("prepare_audio_latents", "audio")):
        def recorded(*args, _original=getattr(pipe, name), _kind=kind, **kwargs):
            tokens = _original(*args, **kwargs)
            drawn[_kind].append(unpack[_kind](tokens).flatten())
            return tokens
        setattr(pipe, name, recorded)
    # a first chunk of 9 pixel frames: 9 audio frames, 36 values (torch draws 16 or more values another way than fewer)
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=2, sinks=0, window=0), chunks=2,
                         seed=3)
    assert len(list(stream)) == 2
    n = min(drawn["audio"][0].numel(), drawn["video"][1].numel())
    assert not torch.allclose(drawn["video"][1][:n], drawn["audio"][0][:n])


def test_a_one_frame_first_chunk_at_a_high_frame_rate_gets_a_sound_frame(tmp_path):
    """At 60 fps a first chunk of one latent frame (one pixel frame, 1/60 s) would hold no audio frame, which its
    transformer does not take: the stream gives it one, and goes on keeping time."""
    from tiny_pipeline import save_tiny_ltx2_pipeline

    pipe = vidlong.load_pipeline(save_tiny_ltx2_pipeline(tmp_path / "ltx2-60", latest=True, fps=60, native_frames=3))
    pipe.set_progress_bar_config(disable=True)
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, sinks=1, window=0), chunks=3)
    chunks = list(stream)
    assert [chunk.frames.shape[0] for chunk in chunks] == [1, 8, 8] and stream.audio_made >= 1 + 2 * 3


def test_an_image_to_video_stream_keeps_the_image_clean_in_every_window(tmp_path, image_path):
    """`pipe.stream(image=)` on LTX-2's image-to-video pipeline: a native-length first chunk is `generate`'s with the image
    (latents bit for bit, the image's latent its first frame); in a later chunk's call every forward's first frame of
    tokens is the image's latent exactly (its call keeps it clean; the hook leaves it) while the rest of the context is
    re-noised; `vidlong stream --image` writes its frames and sound."""
    from conftest import mp4_audio
    from tiny_pipeline import save_tiny_ltx2_pipeline

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate

    folder = save_tiny_ltx2_pipeline(tmp_path / "ltx2-3", latest=True, native_frames=3)
    pipe = vidlong.load_pipeline(folder, task="i2v")
    pipe.set_progress_bar_config(disable=True)
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=image_path))
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=3, sinks=1, window=1), chunks=2,
                         seed=3, image=image_path)
    seen = []
    hook = pipe.transformer.proj_in.register_forward_pre_hook(lambda _m, a: seen.append(a[0].clone()))
    try:
        first, second = list(stream)
    finally:
        hook.remove()
    assert torch.equal(first.latents, native.latents)
    context, image = stream.last_context, pipe.call_latents(first.latents[:, :, :1])
    cells = image.shape[1]
    assert context.kept == cells and torch.equal(context.video[:, :cells], image)
    later = seen[-6:]   # the second chunk's call: 2 steps x 3 forwards
    assert all(torch.equal(x[:, :cells], image.expand(x.shape[0], -1, -1).to(x.dtype)) for x in later)
    recent = context.video[:, cells:].float()   # the window's frame, re-noised at each step
    assert all(not torch.allclose(x[:, cells: 2 * cells].float(), recent.expand(x.shape[0], -1, -1), atol=1e-3) for x in later)
    assert second.frames.shape[0] == 8 and second.audio is not None
    out = tmp_path / "i2v-stream.mp4"
    assert main(["stream", "--model", str(folder), "--image", str(image_path), "--prompt", "a red ball", "--chunk", "1",
                 "--sinks", "1", "--chunks", "2", "--out", str(out)]) == 0
    assert abs(mp4_audio(out, 16000).shape[1] / 16000 - (1 + 8) / 24) < 0.1


def test_a_stop_inside_a_chunks_call_ends_the_stream_and_frees_the_pipeline(ltx2_folder):
    """`on_step` reports each step of a chunk's call, from 0 at its first forward (2 steps of 2 chunks here); an exception
    raised there (the app's Stop) ends the stream out of its iterator mid-call, the context hook comes off the transformer,
    the sound the last chunk held back comes out (`held_sound`, once) and the pipeline calls and streams again."""
    from vidlong.errors import Stopped
    from vidlong.families.sound_stream import RenoisedContext
    from vidlong.streaming import held_sound

    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    stream = pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1, first_chunk=2), chunks=3, seed=3)
    steps = []

    def on_step(done, total):
        steps.append((done, total))
        if len(steps) == 5:  # the second chunk's first step
            raise Stopped

    stream.on_step = on_step
    made = []
    with pytest.raises(Stopped):
        for chunk in stream:
            made.append(chunk.index)
            first = chunk
    assert made == [0] and steps == [(0, 2), (1, 2), (2, 2), (0, 2), (1, 2)] and stream.step_kind == "chunk"
    assert pipe.transformer._diffusers_hook.get_hook(RenoisedContext.name) is None
    with torch.no_grad():  # the sound the first chunk held back comes out after it: the chunk's whole sound
        whole = pipe.vocoder(pipe.audio_vae.decode(stream.chunk_audio, return_dict=False)[0])[0].numpy()
    heard = np.concatenate([first.audio.samples, held_sound(stream).samples], axis=1)
    assert heard.shape == whole.shape and np.abs(heard - whole).max() < 1e-5 and held_sound(stream) is None
    assert len(list(pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1), chunks=1))) == 1


def test_vidlong_stream_writes_its_chunks_with_their_sound(ltx2_folder, tmp_path):
    """`vidlong stream` on LTX-2: the mp4 holds every chunk's frames and an AAC track of their sounds, as long as them."""
    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(ltx2_folder), "--prompt", "a red ball", "--chunk", "1", "--first-chunk", "2",
                 "--chunks", "2", "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape[0] == 9 + 8 and fps == 24
    assert abs(mp4_audio(out, 16000).shape[1] / 16000 - 17 / 24) < 0.1


def test_vidlong_extend_keeps_the_inputs_frames_and_sound_then_the_new_frames_and_sound(ltx2_folder, tmp_path):
    """`vidlong extend` on LTX-2 (`family_checks.check_cli_extension`: the input's 13 frames first, at its 30 fps, the
    call's rate): the output's sound is the input's track (a tone, through AAC twice) for its frames, then the new sound,
    as long as the frames."""
    from conftest import mp4_audio
    from family_checks import check_cli_extension

    from vidlong.video_io import Soundtrack

    samples = round(13 / 30 * 16000)
    tone = Soundtrack(np.repeat(0.5 * np.sin(2 * np.pi * 440 * np.arange(samples) / 16000)[None], 2, 0).astype(np.float32), 16000)
    heard = mp4_audio(check_cli_extension(ltx2_folder, tmp_path, 8, 30.0, (64, 64, 3), audio=tone), 16000)
    assert abs(heard.shape[1] / 16000 - 29 / 30) < 0.1
    assert np.abs(heard[:, 800:samples - 800] - tone.samples[:, 800:samples - 800]).max() < 0.1  # AAC's edges aside


def test_a_variable_frame_rate_input_is_converted_to_its_own_average_rate(ltx2_folder, tmp_path, capsys):
    """LTX-2 makes an extension at its input's frame rate, so the note on a variable-frame-rate input converts it to the
    file's average rate (here 13 frames 0.1 s apart but for one 0.6 s gap: 12 intervals over 1.7 s, 7.059 a second), not
    the model's 24."""
    import argparse
    import subprocess

    from vidlong import video_io
    from vidlong.cli import _note_variable_frame_rate
    from vidlong.validate import limits_for_folder
    from vidlong.video_io import write_video

    even, uneven = tmp_path / "even.mp4", tmp_path / "uneven.mp4"  # the frames after the 4th shown half a second late
    write_video(even, np.zeros((13, 64, 64, 3), np.uint8), fps=10)
    subprocess.run([video_io._ffmpeg().get_ffmpeg_exe(), "-v", "error", "-i", str(even), "-vf",
                    r"setpts=N/(10*TB)+gte(N\,4)*0.5/TB", "-fps_mode", "passthrough", str(uneven)], check=True)
    _note_variable_frame_rate(argparse.Namespace(video=str(uneven)), limits_for_folder(ltx2_folder))
    assert f"-fps_mode cfr -r 7.059 {uneven.with_name('uneven_cfr.mp4')}" in capsys.readouterr().err


def test_an_extension_renoises_the_inputs_frames_and_makes_their_sound_anew(ltx2_folder):
    """`pipe.extend` on LTX-2 of frames given as an array (no sound: the input's item carries silence as long as them): the
    first chunk's context is the input's last latent frame, encoded; its sound is not kept (the input's is not encoded),
    so the call makes it with the chunk's and drops it; the next chunk's context sound is the first chunk's own. The new
    sound follows the stream's clock from the input's encoded frames on."""
    from vidlong.extend import ExtensionPrefix

    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    given = np.broadcast_to(np.linspace(40, 200, 13, dtype=np.uint8)[:, None, None, None], (13, 64, 64, 3)).copy()
    stream = pipe.extend("a red ball", video=given, streaming=vidlong.Streaming(chunk=1, sinks=0, window=1), chunks=2, seed=1)
    contexts, sounds, items = [], [], []
    for item in stream:
        items.append(item)
        if not item.is_input:
            contexts.append(stream.last_context)
            sounds.append(stream.chunk_audio)
    assert isinstance(stream.prefix, ExtensionPrefix) and np.array_equal(items[0].frames, given)
    assert items[0].audio.samples.shape == (2, round(13 / 24 * 16000)) and not items[0].audio.samples.any()
    assert [len(item.frames) for item in items[1:]] == [8, 8]
    encoded = stream.prefix.latents   # the input's last 9 frames: 2 latent frames
    assert torch.equal(contexts[0].video, pipe.call_latents(encoded[:, :, -1:]))
    # the window's frame, its first: one pixel frame's sound (`context_audio_spans`), within the input's, then the chunk's
    assert contexts[0].audio.shape[1] == 0 and contexts[0].unkept == 1
    assert contexts[1].unkept == 0 and torch.allclose(contexts[1].audio, stream._audio_tokens(sounds[0])[:, -1:], atol=1e-5)
    assert stream.unkept_audio == round(9 / 24 * 25) and stream.audio_made == round(25 / 24 * 25)
    assert sum(s.shape[2] for s in sounds) == stream.audio_made - stream.unkept_audio


def test_an_interrupted_extension_leaves_a_playable_file_with_its_sound(ltx2_folder, tmp_path, monkeypatch):
    """Ctrl-C during an LTX-2 extension's second chunk: exit 130, the mp4 holds the input's frames and the first chunk's,
    with the sound of both (the input's, the chunk's with what its decode held back)."""
    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.families.ltx2_stream import LTX2Streamer
    from vidlong.video_io import read_video, write_video

    write_video(tmp_path / "in.mp4", np.full((13, 64, 64, 3), 120, np.uint8), fps=24)
    made = []

    def denoise(self, text, frames, _original=LTX2Streamer._denoise):
        if made:
            raise KeyboardInterrupt
        made.append(frames)
        return _original(self, text, frames)

    monkeypatch.setattr(LTX2Streamer, "_denoise", denoise)
    out = tmp_path / "out.mp4"
    assert main(["extend", "--model", str(ltx2_folder), "--video", str(tmp_path / "in.mp4"), "--chunk", "1", "--chunks", "3",
                 "--prompt", "a red ball", "--out", str(out)]) == 130
    assert read_video(out)[0].shape[0] == 13 + 8
    assert abs(mp4_audio(out, 16000).shape[1] / 16000 - 21 / 24) < 0.1


def test_vidlong_eval_keeps_each_videos_sound(ltx2_folder, tmp_path):
    """`vidlong eval` on LTX-2 writes each video, generated or streamed, with its sound, as long as its frames."""
    import csv

    from conftest import mp4_audio

    from vidlong.cli import main
    from vidlong.video_io import read_video

    (tmp_path / "prompts.txt").write_text("a red ball\n")
    out = tmp_path / "eval"
    assert main(["eval", "--model", str(ltx2_folder), "--out", str(out), "--methods", "direct,stream", "--ratios", "2",
                 "--prompts", str(tmp_path / "prompts.txt"), "--seeds", "1", "--stream-chunk", "1", "--no-plots",
                 "--no-progress"]) == 0
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(row["method"] for row in rows) == ["direct", "stream"]
    for row in rows:
        frames, fps = read_video(out / row["video"])
        assert frames.shape[0] == 25 and fps == 24  # 4 latent frames
        assert abs(mp4_audio(out / row["video"], 16000).shape[1] / 16000 - 25 / 24) < 0.1, row["method"]


@pytest.mark.parametrize("args, message", [
    (["stream", "--chunks", "2", "--context", "cache"], "--context cache is not available for LTX2VideoTransformer3DModel"),
    (["extend", "--latents", "{tmp}/x.pt", "--chunks", "1"], "--latents: LTX-2's saved latents would hold its video but "
                                                              "not its sound; extend the video file instead"),
    (["extend", "--video", "{tmp}/in.mp4", "--latents", "{tmp}/x.pt", "--chunks", "1"], "not its sound; drop --latents"),
    (["generate", "--method", "fifo", "--ratio", "2"], "fifo (diagonal denoising) needs a timestep per token"),
    (["generate", "--method", "riflex", "--ratio", "2"], "RIFLEx is not implemented for LTX2VideoTransformer3DModel"),
    (["generate", "--method", "both-sinks", "--ratio", "2"], "windows with sinks"),
    (["generate", "--save-latents", "{tmp}/x.pt"], "--save-latents: LTX-2's saved latents would hold its video but not its sound"),
    (["stream", "--chunk", "1", "--save-latents", "{tmp}/x.pt"], "--save-latents: LTX-2's saved latents would hold its video"),
    # one latent row: its VAE's decoder pads in reflect mode, which needs two (`Geometry.min_cells`)
    (["generate", "--height", "32"], "--height 32 must be at least 64 pixels (a multiple of 32); use --height 64 or more"),
    (["stream", "--chunk", "1", "--chunks", "2", "--width", "32"], "--width 32 must be at least 64 pixels"),
], ids=["cache", "extend-latents", "extend-video-latents", "fifo", "riflex", "sinks", "save-latents", "stream-save-latents",
        "one-row", "one-column"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(ltx2_folder, tmp_path, capsys, monkeypatch, args,
                                                                     message):
    import vidlong.pipeline
    from vidlong.cli import main

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    prompt = [] if "--prompt" in args else ["--prompt", "a red ball"]
    assert main([*args, "--model", str(ltx2_folder), *prompt, "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_a_prompt_timeline_splits_its_text_connectors_video_and_audio_by_segment(ltx2_folder):
    """`generate` with a timeline: one prompt repeated = the single prompt, two prompts differ (`both` at 2x); inside,
    the text connectors run on each segment's text apart, and every block's video and audio cross-attentions give each
    segment's frames (its latent frames; its audio tokens from the same time) that segment's text alone."""
    from conftest import assert_a_prompt_timeline_follows_its_segments

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(ltx2_folder)
    pipe.set_progress_bar_config(disable=True)
    assert_a_prompt_timeline_follows_its_segments(pipe)
    connected, video, audio = [], [], []

    def recorded(processor, calls):
        def record(attn, hidden_states, encoder_hidden_states, *args, **kwargs):
            calls.append((hidden_states.shape[1], encoder_hidden_states.shape[1]))  # queries, text tokens: one segment's
            return processor(attn, hidden_states, encoder_hidden_states, *args, **kwargs)
        return record

    block = pipe.transformer.transformer_blocks[0]
    stock = block.attn2.processor, block.audio_attn2.processor
    block.attn2.processor, block.audio_attn2.processor = recorded(stock[0], video), recorded(stock[1], audio)
    hook = pipe.connectors.video_connector.register_forward_pre_hook(lambda _m, a: connected.append(a[0].shape[1]))
    made = generate(pipe, GenerateRequest(prompt="0s: a red circle; 0.4s: a blue square", ratio=2, method="both", seed=1))
    hook.remove()
    block.attn2.processor, block.audio_attn2.processor = stock
    tokens = pipe.text_tokens
    assert connected == [tokens, tokens]  # the two texts connected apart
    start = made.settings["timeline"][1]["latent_frame"]  # latent frame 2 of 4: pixel frame 9 of 25
    assert video[:2] == [(start * 4, tokens), ((4 - start) * 4, tokens)]  # 2x2 tokens a latent frame
    (first, text), (second, text_2) = audio[:2]
    assert text == text_2 == tokens
    # by the times diffusers' RoPE gives them: the first audio token of the second segment is the first to end after
    # the video's latent frame 2 begins (pixel frame 9 at 24 fps, from the causal first frame)
    switch = pipe.transformer.rope.prepare_video_coords(1, 4, 2, 2, torch.device("cpu"), fps=24.0)[0, 0, start * 4, 0]
    ends = pipe.transformer.audio_rope.prepare_audio_coords(1, first + second, torch.device("cpu"))[0, 0, :, 1]
    assert ends[first - 1] <= switch < ends[first] and abs(switch.item() - 9 / 24) < 1e-6


def test_an_image_starts_the_video_as_diffusers_image_to_video_call_does(ltx2_folder, tmp_path, image_path):
    """The same folder with an image loads as `LTX2ImageToVideoPipeline` (the same weights): `generate` with the image
    and no method = its call with the same seed (the image re-compressed at its release's CRF through PyAV, its latent as
    the first frame), frames and waveform bit for bit; `vidlong generate --image --method both` at 2x end to end."""
    from diffusers import LTX2ImageToVideoPipeline
    from PIL import Image

    from vidlong.cli import main
    from vidlong.generate import GenerateRequest, generate
    from vidlong.video_io import read_video

    pipe = vidlong.load_pipeline(ltx2_folder, task="i2v")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTX2ImageToVideoPipeline"
    made = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="none", seed=3, image=image_path))
    stock = LTX2ImageToVideoPipeline.from_pretrained(ltx2_folder)
    stock.set_progress_bar_config(disable=True)
    out = stock(image=Image.open(image_path).convert("RGB"), prompt="a red ball", num_frames=25, height=64, width=64,
                num_inference_steps=2, guidance_scale=3.0, frame_rate=24, output_type="np",
                generator=torch.Generator().manual_seed(3))
    assert np.array_equal((np.clip(out.frames[0], 0, 1) * 255).round().astype(np.uint8), made.frames)
    assert np.array_equal(out.audio[0].clamp(-1, 1).numpy(), made.audio.samples)
    video = tmp_path / "i2v.mp4"
    assert main(["generate", "--model", str(ltx2_folder), "--image", str(image_path), "--prompt", "a red ball", "--ratio",
                 "2", "--method", "both", "--out", str(video)]) == 0
    assert read_video(video)[0].shape[0] == 25


def test_an_image_without_pyav_is_refused_in_one_line_before_loading(ltx2_folder, image_path, tmp_path, capsys, monkeypatch):
    import importlib.util

    import vidlong.pipeline
    from vidlong.cli import main

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "av" else find_spec(name, *a))
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    for command in (["generate"], ["stream", "--chunk", "1", "--chunks", "2"]):
        assert main([*command, "--model", str(ltx2_folder), "--image", str(image_path), "--prompt", "a red ball", "--out",
                     str(tmp_path / "x.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "LTX-2 re-compresses the --image with H.264" in err[0] and "pip install av" in err[0], err
    from vidlong.info import model_info

    assert model_info(ltx2_folder)["can"]["image"] == {"yes": False, "why": err[0].removeprefix("vidlong: error: ")}


def test_a_soundtrack_is_checked_and_written_with_its_channels(tmp_path):
    from conftest import mp4_audio

    from vidlong.video_io import Soundtrack, write_video

    with pytest.raises(ValueError, match=r"a Soundtrack takes samples \[channels, samples\]"):
        Soundtrack(np.zeros(1600, np.float32), 16000)
    tone = 0.5 * np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440).astype(np.float32)
    write_video(tmp_path / "mono.mp4", np.zeros((24, 32, 32, 3), np.uint8), 24, audio=Soundtrack(tone[None], 16000))
    heard = mp4_audio(tmp_path / "mono.mp4", 16000, channels=1)[0]
    assert abs(len(heard) - 16000) <= 1024 and np.abs(heard[2000:14000] - tone[2000:14000]).max() < 0.02
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mono.mp4"]  # the WAV it passed to ffmpeg is gone


@pytest.mark.parametrize("per_modality", [False, True], ids=["ltx2.0", "ltx2.3"])
def test_segmented_connectors_give_each_segment_what_it_alone_gives(per_modality):
    """`SegmentedConnectors` on LTX-2's text connectors (with learned registers in the padding; LTX-2.3's projections per
    modality too): two segments' texts one after another, negative and positive prompts in one batch, come out as each
    segment's own connection, joined; removed, the connectors are stock again."""
    from diffusers.hooks import HookRegistry
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    from vidlong.families.ltx2 import SegmentedConnectors

    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=8, text_proj_in_factor=3, video_connector_num_attention_heads=2, video_connector_attention_head_dim=4,
        video_connector_num_layers=1, video_connector_num_learnable_registers=4, audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=4, audio_connector_num_layers=1, audio_connector_num_learnable_registers=4,
        connector_rope_base_seq_len=32, rope_double_precision=False, rope_type="split", per_modality_projections=per_modality,
        video_hidden_dim=8, audio_hidden_dim=8).eval()
    gen = torch.Generator().manual_seed(1)
    texts = [torch.randn(2, 8, 24, generator=gen) for _ in range(2)]
    masks = [torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1, 1]]), torch.ones(2, 8, dtype=torch.long)]
    with torch.no_grad():
        alone = [connectors(t, m) for t, m in zip(texts, masks)]
        registry = HookRegistry.check_if_exists_or_initialize(connectors)
        registry.register_hook(SegmentedConnectors(2), SegmentedConnectors.name)
        joined = connectors(torch.cat(texts, dim=1), torch.cat(masks, dim=1))
        registry.remove_hook(SegmentedConnectors.name, recurse=False)
        together = connectors(torch.cat(texts, dim=1), torch.cat(masks, dim=1))
    for out, first, second in zip(joined, *alone):
        assert torch.equal(out, torch.cat([first, second], dim=1))
    assert not torch.equal(together[0], joined[0])  # unsplit, the segments see each other
