"""Lucy Edit (`LucyEditPipeline`: Wan's transformer over the noise and the edited video's latents on the channels, Wan's
attention adapter as it is): each method equal to its float64 math over the condition-carrying input; vidlong's call with
no method, neutral settings or after removal = diffusers' call bit for bit, the methods acting on a video past the native
window; `generate` = the same call; `vidlong generate --video` edits an mp4 at its length and frame rate; its stream edits
a video chunk by chunk (`vidlong.edit_stream`: one chunk = its call, each forward given its frames' condition, `vidlong
stream --video` at the input's length); what it does not take (a strength, a length it cannot encode, a stream with no
video, an extension) refused in one line before any model loads."""
import json

import numpy as np
import pytest
import torch
from family_checks import check_float64_reference, check_refused_before_loading
from reference import WanReferenceAttention
from test_video_to_video import moving_frames

import vidlong
from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.pipeline import load_pipeline
from vidlong.streaming import StreamText
from vidlong.video_io import read_video, write_video

NATIVE = 2  # latent frames (5 pixel frames): its VAE encodes and decodes every frame of a call, the most of its work
LONG = 4 * NATIVE + 1  # pixel frames of a video one latent frame past the native window


@pytest.fixture(scope="module")
def lucy_folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_lucy_pipeline

    return save_tiny_lucy_pipeline(tmp_path_factory.mktemp("lucy"), native_frames=NATIVE)


def lucy_inputs(frames: int, dtype) -> dict:
    """One forward's inputs as its call makes them for `frames` latent frames of 4x4 cells: the noise's 4 channels and the
    video's 4 ``[1, 8, F, 4, 4]``, a timestep per token (``expand_timesteps``: 2x2 tokens a frame), text states."""
    from conftest import TEXT_DIM

    gen = torch.Generator().manual_seed(2)
    return dict(hidden_states=torch.randn(1, 8, frames, 4, 4, generator=gen).to(dtype),
                timestep=torch.full((1, frames * 4), 700.0),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype), return_dict=False)


def stock_edit(folder, video, **call):
    """diffusers' own `LucyEditPipeline` from `folder` editing `video` (uint8 frames ``[T, H, W, 3]`` as PIL images, or
    float frames as they are) by "a blue ball" at 16x16 with 2 steps, guidance 2 and seed 3: its output's ``frames``."""
    from diffusers import LucyEditPipeline
    from PIL import Image

    stock = LucyEditPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    frames = [Image.fromarray(f) for f in video] if video.dtype == np.uint8 else video
    return stock(video=frames, prompt="a blue ball", height=16, width=16, num_inference_steps=2, guidance_scale=2.0,
                 generator=torch.Generator().manual_seed(3), **call).frames


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "freelong"])
def test_each_method_is_its_float64_math_over_the_video_condition(lucy_folder, method):
    from diffusers import WanTransformer3DModel

    build = lambda: WanTransformer3DModel.from_pretrained(lucy_folder / "transformer").eval()
    check_float64_reference(build, lambda model, frames, dtype: model(**lucy_inputs(frames, dtype))[0],
                            lambda model: [block.attn1 for block in model.blocks],
                            lambda m, frames: WanReferenceAttention(m, frames, (2, 2), NATIVE), method, NATIVE)


def test_its_call_is_diffusers_with_methods_off_or_removed_and_the_methods_act_past_the_native_window(lucy_folder):
    """A video one latent frame past the native window as uint8 frames: vidlong's call with the spec's defaults (its
    length the video's) = diffusers' call on its PIL frames bit for bit, with no method, with neutral UltraViCo and after
    `both` is removed; `both` changes it."""
    video = moving_frames(LONG)
    theirs = stock_edit(lucy_folder, video, num_frames=LONG)[0]
    pipe = load_pipeline(lucy_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLucyEditPipeline" and pipe.facts()["family"] == "wan" and pipe.task == "v2v"
    call = lambda: pipe(video=video, prompt="a blue ball", generator=torch.Generator().manual_seed(3)).frames[0]
    assert theirs.shape == (LONG, 16, 16, 3) and np.array_equal(call(), theirs)
    pipe.apply(vidlong.UltraViCo(alpha=1.0, guard_first_frame=False))
    assert np.array_equal(call(), theirs)
    pipe.apply(vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
    assert not np.array_equal(call(), theirs)
    pipe.remove()
    assert np.array_equal(call(), theirs)
    assert all(type(block.attn1.processor).__name__ == "WanAttnProcessor" for block in pipe.transformer.blocks)


def test_two_experts_edit_as_its_call_does_and_both_take_the_methods(tmp_path):
    """A two-expert folder (``transformer_2`` for the steps below ``boundary_ratio``, Wan2.2 A14B's layout): vidlong's call
    with no method and after removal = diffusers' call bit for bit; `both` goes on each expert's self-attentions and acts."""
    from tiny_pipeline import tiny_lucy_pipeline

    tiny_lucy_pipeline(experts=2).save_pretrained(tmp_path, safe_serialization=True)
    (tmp_path / "vidlong.yaml").write_text("name: tiny-lucy-a14b\nnative_frames: 2\nheight: 16\nwidth: 16\nfps: 8\n"
                                           "num_inference_steps: 2\nguidance_scale: 2.0\n")
    video = moving_frames(LONG)
    theirs = stock_edit(tmp_path, video, num_frames=LONG)[0]
    pipe = load_pipeline(tmp_path, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    call = lambda: pipe(video=video, prompt="a blue ball", generator=torch.Generator().manual_seed(3)).frames[0]
    low_noise = []  # the second expert's forwards: it takes the last step's
    pipe.transformer_2.register_forward_hook(lambda *_: low_noise.append(1))
    assert len(pipe.experts()) == 2 and np.array_equal(call(), theirs) and low_noise
    pipe.apply(vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
    assert all(type(block.attn1.processor).__name__ == "VidlongAttnProcessor" for expert in pipe.experts()
               for block in expert.blocks)
    assert not np.array_equal(call(), theirs)
    pipe.remove()
    assert np.array_equal(call(), theirs)


def test_generate_is_its_call_and_the_cli_edits_a_file_at_its_length_and_frame_rate(lucy_folder, tmp_path):
    """`generate` with a 7-frame video edits its first 5 (the most 4k+1) as diffusers' call with the seed does, every
    step reported; `vidlong generate --video` on an 11-frame mp4 at 10 fps with `both` writes its 9 frames at 10 fps."""
    pipe = load_pipeline(lucy_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    seen = []
    own = generate(pipe, GenerateRequest(prompt="a blue ball", video=moving_frames(7), seed=3),
                   progress=lambda stage, done, total: seen.append((stage, done, total)))
    video = stock_edit(lucy_folder, moving_frames(5))[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert [s for s in seen if s[0] == "denoise"][-1] == ("denoise", 2, 2) and own.settings["strength"] is None

    source, out = tmp_path / "in.mp4", tmp_path / "snowy.mp4"
    write_video(source, moving_frames(11), fps=10)
    assert main(["generate", "--model", str(lucy_folder), "--video", str(source), "--prompt", "make it snowy", "--method",
                 "both", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (9, 16, 16, 3) and fps == 10 and settings["latent_frames"] == 3 > NATIVE
    assert [m["name"] for m in settings["methods"]] == ["UltraViCo", "SpectralFusion"] and settings["video"] == str(source)


def test_a_one_chunk_stream_edit_is_its_call_on_those_frames(lucy_folder, monkeypatch):
    """A stream whose first chunk is the native window edits the first 5 frames of a longer video as vidlong's call (=
    diffusers') edits those 5: its latents bit for bit unguided; guided, bit for bit where the stream's forwards take one
    sample each as the call's do, and within 1e-5 as the stream runs them (the negative and positive prompt in one forward
    of a batch of 2, which the CPU's matrix products round otherwise); its frames those latents decoded, to a grey level."""
    pipe = load_pipeline(lucy_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    video = moving_frames(LONG, size=16)
    call = lambda guidance: pipe(video=video[:4 * NATIVE - 3], prompt="a blue ball", guidance_scale=guidance,
                                 generator=torch.Generator().manual_seed(3), output_type="latent").frames
    chunk = lambda guidance: next(iter(pipe.stream("a blue ball", Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                                   video=video, guidance=guidance)))
    unguided, theirs = chunk(1.0), call(1.0)
    assert torch.equal(unguided.latents, theirs)
    assert np.abs(unguided.frames.astype(int) - pipe.decode_uint8(theirs).astype(int)).max() <= 1
    theirs = call(2.0)
    assert (chunk(2.0).latents - theirs).abs().max() < 1e-5
    forward = pipe.stream_forward

    def one_sample_each(transformer, latents, timestep, text, **extra):
        return torch.cat([forward(transformer, latents[i : i + 1], timestep[i : i + 1],
                                  StreamText(1, {name: value[i : i + 1] for name, value in text.kwargs.items()}), **extra)
                          for i in range(len(latents))])

    monkeypatch.setattr(pipe, "stream_forward", one_sample_each)
    assert torch.equal(chunk(2.0).latents, theirs)


#: the frames whose condition each forward of a stream of chunks of 1 latent frame (1 sink, a window of 1) over 4 latent
#: frames, its prompt switched at chunk 2, takes: with the KV cache a chunk's own in its 2 steps and its clean write, and
#: at the switch the context's frames written again one by one; re-noised, its context's (the first frame, then the
#: latest) and its own in its 2 steps
SEEN = {"cache": [[k] for k in range(2) for _ in range(3)] + [[0], [1]] + [[k] for k in range(2, 4) for _ in range(3)],
        "renoise": [frames for frames in ([0], [0, 1], [0, 1, 2], [0, 2, 3]) for _ in range(2)]}


@pytest.mark.parametrize("context", ["cache", "renoise"])
def test_a_long_stream_edit_gives_each_forward_its_frames_condition(lucy_folder, context):
    """A stream (native 3: 1 sink, a window of 1, chunks of 1; its prompt switched at chunk 2) editing a video of 13
    frames, 4 latent frames: each forward's condition channels are the call's condition latents (to float32 rounding)
    of exactly its window's frames (`SEEN`: a re-cache's too), the same in both halves of its guided batch; after each
    chunk the stream holds the condition of its context's frames alone (the first, the latest: flat), and its chunks
    bring the video's 13 frames."""
    from dataclasses import replace

    from diffusers import LucyEditPipeline

    pipe = vidlong.from_pipe(LucyEditPipeline.from_pretrained(lucy_folder, local_files_only=True),
                             spec=replace(vidlong.models.spec_for_folder(lucy_folder), native_frames=3))
    pipe.set_progress_bar_config(disable=True)
    video, taken = moving_frames(13, size=16), []
    pipe.transformer.register_forward_pre_hook(lambda _, args, kwargs: taken.append(kwargs["hidden_states"][:, 4:]),
                                               with_kwargs=True)
    pipe(video=video, prompt="a blue ball", num_inference_steps=1, output_type="latent")
    whole, seen, lengths = taken[-1][0], [], []  # [C, 4, h, w]
    taken.clear()
    stream = pipe.stream("0:a blue ball; 2:a red ball", Streaming(chunk=1, sinks=1, window=1, context=context), seed=3,
                         video=video)
    for chunk in stream:
        lengths.append(len(chunk.frames))
        assert sorted(stream.condition.frames) == sorted({0, chunk.index})
    for condition in taken:  # each window frame's condition: the call's of one frame, to float32 rounding (the VAE encodes
        # the call's 13 frames at once and a window's alone: bit for bit on some CPUs, an ulp apart on others)
        assert torch.equal(condition[0], condition[-1])
        seen.append([next(k for k in range(4) if torch.allclose(frame, whole[:, k], rtol=0, atol=1e-6))
                     for frame in condition[0].unbind(1)])
    assert seen == SEEN[context] and lengths == [1, 4, 4, 4]


def test_the_cli_streams_an_edit_of_a_file_at_its_length_and_frame_rate(lucy_folder, tmp_path):
    """`vidlong stream --video` on a 9-frame mp4 at 10 fps, chunks of 1 latent frame: a playable mp4 of its 9 frames at
    10 fps, in 3 chunks, its sidecar naming the video and no strength."""
    source, out = tmp_path / "in.mp4", tmp_path / "snowy.mp4"
    write_video(source, moving_frames(9, size=16), fps=10)
    assert main(["stream", "--model", str(lucy_folder), "--video", str(source), "--prompt", "make it snowy", "--chunk", "1",
                 "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (9, 16, 16, 3) and fps == 10 and settings["chunks"] == 3
    assert settings["video"] == str(source) and settings["streaming"]["strength"] is None


@pytest.mark.parametrize("as_list", [False, True], ids=["array", "list"])
def test_float_frames_in_0_1_are_read_as_diffusers_reads_them(lucy_folder, as_list):
    """Float frames in 0-1 (``[T, H, W, 3]``, or a list of ``[H, W, 3]``), which diffusers' call takes as they are: vidlong's
    call edits the first 5 of 7 (the most 4k+1) as diffusers' call does those 5, bit for bit."""
    video = moving_frames(7).astype(np.float32) / 255
    theirs = stock_edit(lucy_folder, video[:5], output_type="latent")
    pipe = load_pipeline(lucy_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    own = pipe(video=list(video) if as_list else video, prompt="a blue ball", generator=torch.Generator().manual_seed(3),
               output_type="latent").frames
    assert own.shape[2] == 2 and torch.equal(own, theirs)


@pytest.mark.parametrize("args, message", [
    (["generate", "--strength", "0.5"], "Lucy Edit edits the whole video by the prompt (every step runs): drop --strength"),
    (["generate", "--frames", "10"], "use --frames 9 or --frames 13"),
    (["generate", "--frames", "17"], "--frames 17 is more than the video's 13 frames"),
    (["generate", "--ratio", "2"], "--ratio sets a length"),
    (["generate", "--method", "fifo"], "method fifo"),
    (["generate", "--image", "IMAGE"], "takes no --image"),
    (["generate", "--no-video"], "pass the video to edit with --video in.mp4"),
    (["stream", "--chunks", "2"], "Lucy Edit conditions every forward on the input video's latents of the same frames: its "
                                  "stream edits a given video chunk by chunk; pass the video (vidlong stream --video in.mp4"),
    (["stream", "--video", "VIDEO", "--chunk", "1", "--strength", "0.5"], "Lucy Edit edits the whole video by the prompt (every "
                                                                          "step runs): drop --strength"),
    (["stream", "--video", "VIDEO", "--chunk", "1", "--seconds", "2"], "as long as the video (--chunks N: its first N chunks): "
                                                                       "drop --seconds"),
    (["stream", "--video", "VIDEO", "--method", "fifo"], "editing --video is chunked and as long as the video (--chunks N: "
                                                        "its first N chunks): drop --method fifo"),
    (["stream", "--video", "VIDEO", "--chunk", "1", "--save-latents", "LATENTS"], "vidlong extend does not run this model: drop "
                                                                                  "--save-latents"),
    (["extend", "--video", "VIDEO", "--chunks", "1"], "an extension's new frames have no input frames: it does not extend; edit "
                                                      "a video of any length chunk by chunk with vidlong stream --video"),
    (["generate", "--save-latents", "LATENTS"], "vidlong extend does not run this model: drop --save-latents"),
], ids=["strength", "not-4k+1", "too-many-frames", "ratio", "fifo", "image", "no-video", "stream", "stream-strength",
        "stream-seconds", "stream-fifo", "stream-save-latents", "extend", "save-latents"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(lucy_folder, image_path, tmp_path, capsys, monkeypatch,
                                                                     args, message):
    source = tmp_path / "in.mp4"
    write_video(source, moving_frames(13), fps=8)
    paths = {"IMAGE": str(image_path), "VIDEO": str(source), "LATENTS": str(tmp_path / "x.pt")}
    args = [paths.get(a, a) for a in args]
    video = [] if args[0] != "generate" or "--no-video" in args else ["--video", str(source)]
    command = [args[0], "--model", str(lucy_folder), "--prompt", "a blue ball", *video, *[a for a in args[1:] if a != "--no-video"]]
    assert message in check_refused_before_loading(command, tmp_path / "x.mp4", capsys, monkeypatch)


def test_a_video_past_its_rope_table_is_refused_pointing_to_the_stream_edit(lucy_folder):
    """A video of more latent frames than its RoPE table places (64 in the tiny transformer) is refused before loading,
    pointing to the stream that edits it chunk by chunk (not to a plain stream: it streams only an edit)."""
    from vidlong.validate import check_generate, limits_for_folder

    with pytest.raises(VidlongError, match=r"^66 latent frames is more than this model's RoPE table places \(64, 32x its "
                                           r"native 2\); ask for a shorter video or edit it chunk by chunk \(vidlong stream "
                                           r"--video has no length limit\)$"):
        check_generate(GenerateRequest(prompt="a blue ball", video=moving_frames(261, size=16)),
                       limits_for_folder(lucy_folder, video=True))


def test_its_call_refuses_what_diffusers_fails_on_and_a_release_takes_its_entry(lucy_folder):
    """No video, a video tensor, two prompts, a length past the video, a stream with no video or a strength and an
    extension are refused in one line before any forward; `vidlong info` says it edits, in one call or a stream given the
    video (with the KV cache, Wan's default), and neither streams without one nor extends; a Lucy Edit release's configs
    (Wan2.2 TI2V-5B's transformer, 96 input channels) take the lucy-edit entry."""
    from vidlong.info import model_info
    from vidlong.models import model_facts, spec_for_facts
    from vidlong.validate import EDIT_EXTEND_REFUSAL, EDIT_STREAM_REFUSAL

    pipe = load_pipeline(lucy_folder, device="cpu")
    pipe.transformer.register_forward_hook(lambda *a: pytest.fail("a forward ran"))
    frames = list(moving_frames(9))
    for arguments, says in ((dict(), "got none"), (dict(video=torch.zeros(1, 3, 9, 32, 32)), "got Tensor"),
                            (dict(video=frames, prompt=["a", "b"]), "edits one video a call"),
                            (dict(video=frames, num_frames=13), "num_frames 13 is more than the video's 9 frames")):
        with pytest.raises(VidlongError, match=says) as err:
            pipe(**{"prompt": "a blue ball", **arguments})
        assert "\n" not in str(err.value)
    for call, says in ((lambda: pipe.stream("a blue ball", chunks=1), "its stream edits a given video chunk by chunk"),
                       (lambda: pipe.stream("a blue ball", video=frames, strength=0.5), "every step runs\\): drop strength"),
                       (lambda: pipe.extend("a blue ball", video=frames, chunks=1), "it does not extend")):
        with pytest.raises(VidlongError, match=says) as err:
            call()
        assert "\n" not in str(err.value)
    info = model_info(lucy_folder)
    assert info["edits_video"] and info["can"]["redraw"]["yes"] and info["can"]["stream_redraw"]["yes"]
    assert info["can"]["stream"]["why"] == EDIT_STREAM_REFUSAL and info["can"]["extend"]["why"] == EDIT_EXTEND_REFUSAL
    assert info["spec"]["stream_context"] == "cache"
    release = dict(num_layers=30, num_attention_heads=24, attention_head_dim=128, in_channels=96, out_channels=48)
    facts = model_facts(release, expand_timesteps=True, task="v2v", family="wan", pipeline="LucyEditPipeline")
    assert spec_for_facts(facts).name == "lucy-edit"
