"""NVIDIA Cosmos-Transfer2.5 (`Cosmos2_5_TransferPipeline`): a control video to a world video, chunk after chunk in its own
call. Its control branch (`CosmosControlNetModel`) through its adapter: methods off = the stock branch bit for bit, each
method equal to the float64 reference of Predict2.5's attention (`test_cosmos.ReferenceAttention`); the pipeline with no
method = diffusers' call with the same generator bit for bit over several chunks, with methods the transformer's and the
branch's attentions changed and the whole video one chunk; `vidlong generate --control-video` end to end; what it does not
take refused in one line before loading.

torchvision is not installed here, and the control branch's forward resizes its all-zero padding mask with torchvision's
``transforms.functional.resize`` (nearest): these tests give its module a stand-in of that one function
(`torch.nn.functional.interpolate`, nearest; a zero mask either way), where vidlong refuses a Transfer folder."""
import json

import numpy as np
import pytest
import torch
import yaml
from conftest import cosmos_controlnet_inputs, stand_in_torchvision_resize, tiny_cosmos_controlnet
from family_checks import check_float64_reference, check_methods_off_and_removed, check_refused_before_loading
from test_cosmos import METHODS, NATIVE, ReferenceAttention

import vidlong
from vidlong.attention.adapters.cosmos_controlnet import COSMOS_CONTROLNET
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.video_io import StreamingVideoWriter, read_video, write_video

CONTROL_FRAMES = 25  # 4k + 1 pixel frames: 7 latent frames, 3 chunks of the native 9 pixel frames (1 frame carried over)
SIZE = (32, 48)  # pixels: latent 4x6, tokens 2x3


@pytest.fixture(autouse=True)
def resize_stand_in(monkeypatch):
    """torchvision's nearest resize, the one function of it the control branch's module calls, on its module
    (`conftest.stand_in_torchvision_resize`)."""
    stand_in_torchvision_resize(monkeypatch)


def saved_folder(path):
    """`tiny_cosmos_transfer_pipeline` saved in `path` with a vidlong.yaml: native 3 latent frames, 32x48 at 16 fps, 2 steps,
    guidance 2."""
    import tiny_pipeline

    tiny_pipeline.tiny_cosmos_transfer_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cosmos-transfer", native_frames=NATIVE, height=SIZE[0],
                                                           width=SIZE[1], fps=16, num_inference_steps=2, guidance_scale=2.0)))
    return path


def written_control_video(path, frames: int = CONTROL_FRAMES, seed: int = 0):
    """A random control video of `frames` frames, 32x48 at 10 fps, written to `path`."""
    write_video(path, np.random.default_rng(seed).integers(0, 255, (frames, *SIZE, 3), dtype=np.uint8), fps=10)
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("cosmos-transfer"))


@pytest.fixture(scope="module")
def control_file(tmp_path_factory):
    """A random control video of `CONTROL_FRAMES` frames, 32x48 at 10 fps (`written_control_video`)."""
    return written_control_video(tmp_path_factory.mktemp("transfer-inputs") / "edges.mp4")


def controls(control_file) -> list:
    from PIL import Image

    return [Image.fromarray(frame) for frame in read_video(control_file)[0]]


def test_control_branch_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on each control block's self-attention (not its cross-attention) and comes off; a neutral
    plan is its own processor's output bit for bit; the methods change its residuals at 4x the native window."""
    check_methods_off_and_removed(tiny_cosmos_controlnet, lambda model: torch.stack(model(**cosmos_controlnet_inputs(4 * NATIVE))[0]),
                                  COSMOS_CONTROLNET.self_attentions, "CosmosAttnProcessor2_0", 2, NATIVE)


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_control_branch_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel: its residuals are those of Predict2.5's attention
    math in float64 (`test_cosmos.ReferenceAttention`)."""
    check_float64_reference(tiny_cosmos_controlnet,
                            lambda model, frames, dtype: torch.stack(model(**cosmos_controlnet_inputs(frames, dtype=dtype))[0]),
                            COSMOS_CONTROLNET.self_attentions, ReferenceAttention, method, NATIVE)


def test_spec_comes_from_configs_and_the_chunk_past_diffusers_pixel_bound_is_taken(folder):
    """`load_pipeline` gives vidlong's class; a folder of its release (no vidlong.yaml) is configs/models' cosmos-transfer2.5:
    24 latent frames (93 pixel: its call's chunk), 30 fps, 704x1280, 36 steps at 3; its RoPE table holds 128 latent frames a
    forward, so a chunk of 201 pixel frames (51 latent) passes its checks, where diffusers' compares them with 128 pixel
    frames."""
    from diffusers import Cosmos2_5_TransferPipeline

    from vidlong.models import family_of, model_facts, spec_for_facts

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongCosmos2_5_TransferPipeline" and pipe.facts()["family"] == "cosmos"
    spec = spec_for_facts(model_facts(pipe.transformer.config, family=family_of(pipe.transformer),
                                      pipeline="Cosmos2_5_TransferPipeline"))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("cosmos-transfer2.5", 24, 30, 704, 1280, 36, 3.0)
    checks = dict(prompt="a red ball", height=32, width=48, num_ar_conditional_frames=1, num_frames_per_chunk=201)
    assert pipe.check_inputs(**checks) == 201
    with pytest.raises(ValueError, match="too large for RoPE"):
        Cosmos2_5_TransferPipeline.check_inputs(pipe, **checks)


def test_call_with_no_method_is_diffusers_bit_for_bit_and_methods_act_on_both_attentions(folder, control_file):
    """With no method, 25 control frames in chunks of the native 9: diffusers' own call from the same folder and generator,
    bit for bit (3 chunks). With UltraViCo and FreeLong++ applied, vidlong's processor is on the transformer's and the
    control branch's self-attentions, the chunk is the whole video (its latents 7 frames, not a chunk's 3) and the video
    changes; removed, both are stock again and the call is diffusers' again."""
    from diffusers import Cosmos2_5_TransferPipeline

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stock = Cosmos2_5_TransferPipeline.from_pretrained(folder)
    stock.set_progress_bar_config(disable=True)
    call = dict(controls=controls(control_file), prompt="a red ball", height=32, width=48, num_inference_steps=2,
                guidance_scale=2.0, output_type="np")

    def run(p, **more):
        return p(**call, generator=torch.Generator().manual_seed(3), **more).frames[0]

    expected = run(stock, num_frames_per_chunk=9)
    assert expected.shape == (CONTROL_FRAMES, *SIZE, 3) and np.array_equal(run(pipe), expected)
    pipe.apply(vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
    attentions = [*COSMOS_CONTROLNET.self_attentions(pipe.controlnet), *[b.attn1 for b in pipe.transformer.transformer_blocks]]
    seen = []

    def step(_p, _i, _t, kw):
        seen.append((kw["latents"].shape[2], {type(a.processor).__name__ for a in attentions}))
        return {}

    both = pipe(**call, generator=torch.Generator().manual_seed(3), callback_on_step_end=step).frames[0]
    assert seen == [(7, {"VidlongAttnProcessor"})] * 2 and both.shape == expected.shape and not np.array_equal(both, expected)
    pipe.remove()
    assert all(type(a.processor).__name__ == "CosmosAttnProcessor2_0" for a in attentions)
    assert np.array_equal(run(pipe), expected)


def test_with_methods_its_chunk_is_the_whole_control_video_in_each_form_its_call_takes(folder, control_file):
    """With a method applied and no chunk given, a control video of 25 frames is one chunk (latents of 7 frames) whether its
    call is given a list of frames, a NumPy video ``[F, H, W, 3]`` or a batch of one, a list of one video, or a torch video
    ``[F, 3, H, W]``."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.apply(vidlong.UltraViCo(alpha=0.8))
    video = read_video(control_file)[0] / 255.0
    for given in (controls(control_file), video, video[None], [video], torch.from_numpy(video).permute(0, 3, 1, 2).float()):
        seen = []
        pipe(controls=given, prompt="a red ball", num_inference_steps=1, output_type="latent",
             callback_on_step_end=lambda _p, _i, _t, kw: seen.append(kw["latents"].shape[2]) or {})
        assert seen == [7], type(given)


def test_the_control_branch_carries_the_methods_for_a_call_alone(folder, control_file):
    """The branch is stock outside a call: after `generate` with both methods on a pipeline with none (which sets its own
    methods aside after it), after a call interrupted mid-way with methods applied, and once they are removed; the next call
    puts the transformer's methods on it again."""
    from vidlong.hooks import state_of

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    branch = COSMOS_CONTROLNET.self_attentions(pipe.controlnet)

    def processors():
        return {type(a.processor).__name__ for a in branch}

    generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control_file), method="both", seed=3, steps=1))
    assert processors() == {"CosmosAttnProcessor2_0"} and state_of(pipe.controlnet) is None
    pipe.apply(vidlong.UltraViCo(alpha=0.8))
    seen = []

    def interrupt(_p, _i, _t, _kw):
        seen.append(processors())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipe(controls=controls(control_file), prompt="a red ball", num_inference_steps=1, callback_on_step_end=interrupt)
    assert seen == [{"VidlongAttnProcessor"}] and processors() == {"CosmosAttnProcessor2_0"}
    pipe.remove()
    assert processors() == {"CosmosAttnProcessor2_0"}


@pytest.mark.parametrize("method, steps", [("none", 6), ("both", 2)])
def test_generate_follows_the_control_video_as_its_call_does(folder, control_file, method, steps):
    """`generate` takes the control video's length and frame rate; with no method it is diffusers' call with the same seed
    bit for bit (its 3 chunks' 2 steps reported each), with both methods one chunk of the whole video (2 steps) and another
    video."""
    from diffusers import Cosmos2_5_TransferPipeline

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    reported = []
    result = generate(pipe, GenerateRequest(prompt="a red ball", control_video=str(control_file), method=method, seed=3),
                      progress=lambda stage, done, total: reported.append((done, total)) if stage == "denoise" else None)
    assert result.frames.shape == (CONTROL_FRAMES, *SIZE, 3) and result.settings["fps"] == 10
    assert reported[-1] == (steps, steps)
    stock = Cosmos2_5_TransferPipeline.from_pretrained(folder)
    stock.set_progress_bar_config(disable=True)
    out = stock(controls=controls(control_file), prompt="a red ball", height=32, width=48, num_frames_per_chunk=9,
                num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    same = np.array_equal((np.clip(out, 0, 1) * 255).round().astype(np.uint8), result.frames)
    assert same == (method == "none")


def test_vidlong_generate_writes_the_controlled_video_of_a_smaller_control_video(folder, tmp_path):
    """`vidlong generate --control-video` of a 24x36 control video (another size, the model's aspect): its frames resized to
    the model's 32x48, its first 17 frames (--frames), its frame rate, the method in the sidecar."""
    small = tmp_path / "small.mp4"
    write_video(small, np.random.default_rng(1).integers(0, 255, (21, 24, 36, 3), dtype=np.uint8), fps=12)
    out = tmp_path / "world.mp4"
    assert main(["generate", "--model", str(folder), "--control-video", str(small), "--frames", "17", "--method", "both",
                 "--prompt", "a red ball", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (17, *SIZE, 3) and fps == 12
    assert [m["name"] for m in json.loads(out.with_suffix(".json").read_text())["methods"]] == ["UltraViCo", "SpectralFusion"]


def kept_bytes(stream) -> int:
    """Bytes of the tensors a stream holds between chunks (its attributes, tuples of them too)."""
    values = [v for value in vars(stream).values() for v in (value if isinstance(value, tuple) else (value,))]
    return sum(v.nbytes for v in values if isinstance(v, torch.Tensor))


def test_stream_chunks_joined_are_its_call_bit_for_bit_and_keep_one_chunks_worth(folder, control_file, monkeypatch):
    """`pipe.stream(prompt, control_video=...)`, no method: its call's 3 chunks of 9, 8 and 8 new pixel frames, each made by a
    call over that chunk's control frames alone (latents of a chunk's 3 frames), yielded as it is made; joined, diffusers'
    own call from the same folder and seed bit for bit; its guardrail checks the prompt's text once. Between chunks it holds
    the same bytes (one conditioning frame ``[1, 3, 1, 32, 48]`` and the prompt's encoding), and has read no control frame
    past the chunk it made. A 22-frame
    video from Python (21 taken: a last chunk of 4 new frames, its control padded as the call pads it) = `generate`'s."""
    from diffusers import Cosmos2_5_TransferPipeline

    import vidlong.video_io

    read, iter_frames = [], vidlong.video_io.iter_frames
    monkeypatch.setattr(vidlong.video_io, "iter_frames", lambda path: (read.append(f) or f for f in iter_frames(path)))
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    checked = []
    monkeypatch.setattr(type(pipe.safety_checker), "check_text_safety", lambda _self, prompt: checked.append(prompt) or True)
    stream = pipe.stream("a red ball", control_video=str(control_file), seed=3)
    assert (stream.chunk, stream.chunks, stream.fps) == (9, 3, 10)
    chunks, kept = [], []
    for chunk in stream:
        chunks.append(chunk)
        kept.append(kept_bytes(stream))
        assert stream.tail.shape == (1, 3, 1, *SIZE) and chunk.latents.shape[2] == 3
        assert len(read) <= min(9 + 8 * chunk.index, CONTROL_FRAMES)
    assert [len(c.frames) for c in chunks] == [9, 8, 8] and len(set(kept)) == 1 and stream.tail is None
    assert checked == ["a red ball"]  # its guardrail's text check, at the first chunk's call alone
    stock = Cosmos2_5_TransferPipeline.from_pretrained(folder)
    stock.set_progress_bar_config(disable=True)
    out = stock(controls=controls(control_file), prompt="a red ball", height=32, width=48, num_frames_per_chunk=9,
                num_inference_steps=2, guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="np").frames[0]
    assert np.array_equal(np.concatenate([c.frames for c in chunks]), (np.clip(out, 0, 1) * 255).round().astype(np.uint8))
    frames = np.random.default_rng(2).integers(0, 255, (22, *SIZE, 3), dtype=np.uint8)
    streamed = [c.frames for c in pipe.stream("a red ball", control_video=frames, seed=5)]
    assert [len(f) for f in streamed] == [9, 8, 4]
    made = generate(pipe, GenerateRequest(prompt="a red ball", control_video=frames, seed=5)).frames
    assert np.array_equal(np.concatenate(streamed), made)


def test_stream_with_methods_is_one_longer_chunk_as_its_call_makes_it(folder, control_file):
    """With UltraViCo and FreeLong++ applied, its chunk is its call's with them, the whole video (25 pixel frames): one chunk,
    its call's with the same seed bit for bit."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.apply(vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
    stream = pipe.stream("a red ball", control_video=str(control_file), seed=3)
    chunks = list(stream)
    assert (stream.chunk, len(chunks), chunks[0].latents.shape[2]) == (CONTROL_FRAMES, 1, 7)
    out = pipe(controls=controls(control_file), prompt="a red ball", generator=torch.Generator().manual_seed(3),
               output_type="np").frames[0]
    assert np.array_equal(chunks[0].frames, (np.clip(out, 0, 1) * 255).round().astype(np.uint8))


def as_tail(frames: np.ndarray) -> torch.Tensor:
    """A chunk's last frame as written, uint8 ``[T, H, W, 3]``, as the conditioning frame ``[1, 3, 1, H, W]`` in [-1, 1]."""
    return torch.from_numpy(frames[-1:]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1


def test_an_extension_makes_the_chunks_its_call_makes_after_the_input_as_the_chunk_before(folder, control_file):
    """`pipe.extend(prompt, video=..., control_video=...)` of a 9-frame input along the 25-frame control video: the input's
    frames first, unchanged, then its call's chunks over the control frames from the input's last on (8 and 8 new frames),
    the first conditioned on the input's last frame: bit for bit a stream's second and third chunks where its first chunk
    is the input (its conditioning frame that chunk's last frame as written, its generator where the stream's was after
    it). `seconds` 1 at the input's 10 fps: 10 new frames (a last chunk of 2); from a file too, at its frame rate."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stream, made = pipe.stream("a red ball", control_video=str(control_file), seed=3), []
    for chunk in stream:  # the second chunk conditioned on the first's last frame as written, as on an extension's input's
        made.append(chunk.frames)
        if chunk.index == 0:
            stream.tail, after_first = as_tail(chunk.frames), stream.generator.get_state()
    extension = pipe.extend("a red ball", video=made[0], control_video=str(control_file), fps=10, seed=7)
    assert (extension.frames, extension.starts, extension.chunks, extension.fps) == (25, range(8, 24, 8), 2, 10)
    extension.generator.set_state(after_first)
    items = list(extension)
    assert [item.is_input for item in items] == [True, False, False] and items[0].frames is made[0]
    assert all(np.array_equal(item.frames, expected) for item, expected in zip(items[1:], made[1:]))
    input_file = write_video(control_file.with_name("input.mp4"), made[0], fps=10)
    second = pipe.extend("a red ball", video=str(input_file), control_video=str(control_file), seconds=1, seed=7)
    assert [len(item.frames) for item in second] == [9, 8, 2] and second.fps == 10


def test_an_extension_is_at_its_inputs_frame_rate_which_a_control_video_file_must_share(folder, control_file, tmp_path):
    """Its call is told no frame rate and the control video's frame i is the output's frame i, so an extension is at its
    input's rate (`fps`, else its file's) and a control video file within 1% of it is taken (10.05 for 10), one at
    another rate refused in one line naming both rates and the ffmpeg line that converts it; input frames from Python with
    no rate take the control file's (10, not the model's 16), as `generate` and a stream do; control frames from Python
    carry none to compare."""
    from vidlong.errors import VidlongError

    pipe = vidlong.load_pipeline(folder, device="cpu")
    frames = np.zeros((9, *SIZE, 3), np.uint8)
    assert pipe.extend("a red ball", video=frames, control_video=str(control_file)).fps == 10
    assert pipe.extend("a red ball", video=frames, control_video=str(control_file), fps=10.05).fps == 10.05
    assert pipe.extend("a red ball", video=frames, control_video=controls(control_file), fps=12).fps == 12
    source = write_video(tmp_path / "in.mp4", frames, fps=12)
    says = (r"control_video \(--control-video\) runs at 10 fps and the video \(--video\) it continues at 12: its frame i is the "
            rf"output's frame i, so they must share a rate; convert it first: ffmpeg -i {control_file} -r 12 "
            rf"{control_file.with_name('edges_12fps.mp4')}$")
    for given in (dict(video=str(source)), dict(video=frames, fps=12)):
        with pytest.raises(VidlongError, match=says):
            pipe.extend("a red ball", control_video=str(control_file), **given)


def test_python_stream_refuses_in_one_line(folder, control_file):
    """No control video, a chunked stream's setting, a redrawn video; an extension with no control video, one no longer than
    its input, a size, a frame rate not a finite number > 0; and a call while a stream is paused."""
    from vidlong.errors import VidlongError

    pipe = vidlong.load_pipeline(folder, device="cpu")
    for call, says in [(lambda: pipe.stream("a red ball"), "pass control_video"),
                       (lambda: pipe.stream("a red ball", control_video=str(control_file), streaming=vidlong.Streaming(chunk=2)),
                        "streaming= sets its steps alone, not chunk"),
                       (lambda: pipe.stream("a red ball", control_video=str(control_file), video=str(control_file)),
                        "drop video"),
                       (lambda: pipe.extend("a red ball", video=str(control_file)), r"pass video \(--video\) and control_video"),
                       (lambda: pipe.extend("a red ball", video=str(control_file), control_video=str(control_file), seconds=1),
                        r"has 25 frames, no more than the 25 of the video \(--video\) it continues"),
                       (lambda: pipe.extend("a red ball", video=str(control_file), control_video=str(control_file),
                                            height=32), "pipe.extend takes the input's size from the video it continues"),
                       (lambda: pipe.extend("a red ball", video=np.zeros((9, *SIZE, 3), np.uint8),
                                            control_video=str(control_file), fps=float("nan")),
                        "fps must be a finite number, got nan"),
                       (lambda: pipe.extend("a red ball", video=np.zeros((9, *SIZE, 3), np.uint8),
                                            control_video=str(control_file), fps=0), "fps must be > 0 frames per second, got 0")]:
        with pytest.raises(VidlongError, match=says):
            call()
    pipe.set_progress_bar_config(disable=True)
    it = iter(pipe.stream("a red ball", control_video=str(control_file), chunks=1))
    next(it)
    with pytest.raises(VidlongError, match="a stream of this pipeline is paused mid-way"):
        pipe(controls=controls(control_file), prompt="a red ball")
    it.close()


def test_vidlong_stream_writes_each_chunk_of_the_control_video(folder, control_file, tmp_path):
    """`vidlong stream --control-video --chunks 2`: a playable mp4 of its first 2 chunks (17 frames) at the control video's
    frame rate, its frames those of the Python stream's chunks appended to vidlong's stream writer (the same lossy encode),
    and its sidecar."""
    out = tmp_path / "world.mp4"
    assert main(["stream", "--model", str(folder), "--control-video", str(control_file), "--prompt", "a red ball", "--seed", "3",
                 "--chunks", "2", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    with StreamingVideoWriter(tmp_path / "expected.mp4", fps=10) as writer:
        for chunk in pipe.stream("a red ball", control_video=str(control_file), seed=3, chunks=2):
            writer.append(chunk.frames)
    assert frames.shape == (17, *SIZE, 3) and fps == 10 and np.array_equal(frames, read_video(tmp_path / "expected.mp4")[0])
    settings = json.loads(out.with_suffix(".json").read_text())
    assert (settings["command"], settings["chunks"], settings["pixel_frames"], settings["streaming"]["chunk_pixel_frames"],
            settings["control_video"]) == ("stream", 2, 17, 9, str(control_file))


def test_an_interrupted_vidlong_stream_leaves_a_playable_file_of_its_finished_chunks(folder, control_file, tmp_path, monkeypatch):
    """Ctrl-C while its second chunk is made: exit 130, the mp4 playable with the first chunk's 9 frames, its sidecar saying 1
    chunk."""
    from vidlong.families.cosmos_transfer_stream import TransferStreamer

    make = TransferStreamer._make

    def interrupted(self, index, controls):
        if index:
            raise KeyboardInterrupt
        return make(self, index, controls)

    monkeypatch.setattr(TransferStreamer, "_make", interrupted)
    out = tmp_path / "world.mp4"
    assert main(["stream", "--model", str(folder), "--control-video", str(control_file), "--prompt", "a red ball",
                 "--out", str(out)]) == 130
    assert read_video(out)[0].shape == (9, *SIZE, 3) and json.loads(out.with_suffix(".json").read_text())["chunks"] == 1


def test_vidlong_extend_writes_the_input_then_its_continuation_along_the_control_video(folder, control_file, tmp_path):
    """`vidlong extend --video in.mp4 --control-video --seconds 1`: a 9-frame input at 10 fps, then 10 new frames (chunks of
    8 and 2 over the control frames 9 to 18), at the input's frame rate, frame for frame the Python extension's items
    appended to vidlong's stream writer (the input's frames unchanged but for that one lossy encode), and its sidecar."""
    source = write_video(tmp_path / "in.mp4", np.random.default_rng(4).integers(0, 255, (9, *SIZE, 3), dtype=np.uint8), fps=10)
    out = tmp_path / "longer.mp4"
    assert main(["extend", "--model", str(folder), "--video", str(source), "--control-video", str(control_file), "--seconds", "1",
                 "--prompt", "a red ball", "--seed", "3", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    with StreamingVideoWriter(tmp_path / "expected.mp4", fps=10) as writer:
        for item in pipe.extend("a red ball", video=str(source), control_video=str(control_file), seconds=1, seed=3):
            writer.append(item.frames)
    assert frames.shape == (19, *SIZE, 3) and fps == 10 and np.array_equal(frames, read_video(tmp_path / "expected.mp4")[0])
    settings = json.loads(out.with_suffix(".json").read_text())
    assert (settings["command"], settings["chunks"], settings["input_frames"], settings["pixel_frames"],
            settings["control_video"]) == ("extend", 2, 9, 19, str(control_file))


def test_vidlong_extend_takes_steps_as_vidlong_stream_does(folder, control_file, tmp_path):
    """`vidlong extend --control-video --steps 1` makes its chunk in 1 step, as `pipe.extend` with ``streaming`` of 1 step
    does (the model's are 2), and its sidecar says 1."""
    from vidlong.methods import model_streaming

    source = write_video(tmp_path / "in.mp4", np.random.default_rng(4).integers(0, 255, (9, *SIZE, 3), dtype=np.uint8), fps=10)
    out = tmp_path / "one-step.mp4"
    assert main(["extend", "--model", str(folder), "--video", str(source), "--control-video", str(control_file), "--seconds",
                 "0.8", "--steps", "1", "--prompt", "a red ball", "--seed", "3", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["streaming"]["steps"] == 1
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    with StreamingVideoWriter(tmp_path / "expected.mp4", fps=10) as writer:
        for item in pipe.extend("a red ball", video=str(source), control_video=str(control_file), seconds=0.8, seed=3,
                                streaming=model_streaming(pipe.spec, steps=1)):
            writer.append(item.frames)
    assert np.array_equal(read_video(out)[0], read_video(tmp_path / "expected.mp4")[0])


def test_a_control_video_shorter_than_its_header_ends_the_stream_in_one_line_keeping_its_chunks(folder, control_file, tmp_path,
                                                                                                 capsys, monkeypatch):
    """A control file whose frames end before the count its header gives (here: 12 of 25 decoded) ends the stream in one line
    naming --control-video and the fix, exit 2 (a StopIteration inside a generator, a traceback, before), the mp4 playable
    with the finished first chunk's 9 frames."""
    from vidlong import video_io

    iter_frames = video_io.iter_frames
    monkeypatch.setattr(video_io, "iter_frames", lambda path: (frame for _, frame in zip(range(12), iter_frames(path))))
    out = tmp_path / "world.mp4"
    assert main(["stream", "--model", str(folder), "--control-video", str(control_file), "--prompt", "a red ball",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "--control-video ended after 12 frames, before the 25 its header counts; re-encode it" in err.strip().splitlines()[-1]
    assert read_video(out)[0].shape == (9, *SIZE, 3)


@pytest.mark.parametrize("args, message", [
    (["generate"], "a Cosmos-Transfer2.5 model follows a control video: pass --control-video"),
    (["generate", "--control-video", "{control}", "--mask-video", "{control}"],
     "a Cosmos-Transfer2.5 model follows its --control-video alone"),
    (["generate", "--control-video", "{control}", "--ratio", "2"], "a controlled video is as long as its --control-video"),
    (["generate", "--control-video", "{control}", "--frames", "14"], "14 frames can't be decoded by this VAE (needs 4k+1)"),
    (["generate", "--control-video", "{control}", "--method", "fifo"], "needs a timestep per token"),
    (["generate", "--control-video", "{control}", "--method", "both", "--preset", "2x"],
     "draws every chunk's noise itself from --seed, so specmix noise would not be used: pass --noise plain"),
    (["stream", "--chunks", "2"], "a Cosmos-Transfer2.5 model streams the chunks of a control video: pass --control-video"),
    (["stream", "--control-video", "{control}", "--image", "{image}"], "this model is text-to-video and takes no --image"),
    (["stream", "--control-video", "{control}", "--seconds", "3"], "drop --seconds"),
    (["stream", "--control-video", "{control}", "--chunk", "2"], "drop --chunk"),
    (["stream", "--control-video", "{control}", "--method", "fifo"], "drop --method fifo"),
    (["stream", "--control-video", "{control}", "--save-latents", "{latents}"], "drop --save-latents"),
    (["stream", "--control-video", "{short}"], "--control-video is too short for a stream of its chunks"),
    (["stream", "--control-video", "{control}", "--prompt", "0:a red ball; 1:a blue ball"], "takes one --prompt (its call's)"),
    (["stream", "--control-video", "{control}", "--guidance-2", "3"], "has one transformer: use --guidance alone"),
    (["extend", "--video", "{input}"], "a Cosmos-Transfer2.5 model continues a video along a control video covering it, then "
                                       "its continuation: pass --control-video"),
    (["extend", "--video", "{input}", "--control-video", "{control}", "--seconds", "2"],
     "--control-video has 25 frames, fewer than the 9 of --video and the 20 new ones of --seconds 2 (29): pass a control "
     "video covering both, or --seconds 1.6 at most"),
    (["extend", "--video", "{control}", "--control-video", "{control}"],
     "--control-video has 25 frames, no more than the 25 of the --video it continues: pass one covering that video, then its "
     "continuation"),
    (["extend", "--video", "{input}", "--control-video", "{control}", "--save-latents", "{latents}"], "drop --save-latents"),
    (["extend", "--video", "{input}", "--control-video", "{control}", "--chunk", "2"], "drop --chunk"),
    (["extend", "--video", "{input}", "--control-video", "{control}", "--prompt", "0:a red ball; 1:a blue ball"],
     "takes one --prompt (its call's)"),
    (["extend", "--video", "{input}", "--control-video", "{control}", "--identity", "{latents}"],
     "--identity gives a ConsisID transformer with is_train_face its face tensors; this model takes none: drop --identity"),
    (["extend", "--video", "{input12}", "--control-video", "{control}"],
     "--control-video runs at 10 fps and the --video it continues at 12: its frame i is the output's frame i, so they must "
     "share a rate; convert it first: ffmpeg -i "),
], ids=["no-control", "mask", "ratio", "frames", "fifo", "preset-noise", "stream-no-control", "stream-image", "stream-seconds",
        "stream-chunk", "stream-fifo", "stream-save-latents", "stream-short", "stream-schedule", "stream-guidance-2",
        "extend-no-control", "extend-too-short", "extend-no-more", "extend-save-latents", "extend-chunk", "extend-schedule",
        "extend-identity", "extend-frame-rate"])
def test_what_it_does_not_take_is_refused_in_one_line_before_loading(folder, control_file, tmp_path, capsys, monkeypatch, args,
                                                                     message):
    from PIL import Image

    Image.new("RGB", (48, 32)).save(tmp_path / "first.png")
    write_video(tmp_path / "short.mp4", np.zeros((4, *SIZE, 3), np.uint8), fps=10)
    write_video(tmp_path / "in.mp4", np.zeros((9, *SIZE, 3), np.uint8), fps=10)
    write_video(tmp_path / "in12.mp4", np.zeros((9, *SIZE, 3), np.uint8), fps=12)
    given = {"{control}": str(control_file), "{image}": str(tmp_path / "first.png"), "{short}": str(tmp_path / "short.mp4"),
             "{latents}": str(tmp_path / "x.pt"), "{input}": str(tmp_path / "in.mp4"), "{input12}": str(tmp_path / "in12.mp4")}
    line = check_refused_before_loading([args[0], "--model", str(folder), "--prompt", "a red ball",
                                         *[given.get(a, a) for a in args[1:]]], tmp_path / "x.mp4", capsys, monkeypatch)
    assert message in line, line


@pytest.mark.parametrize("command", ["generate", "stream"])
def test_without_torchvision_its_folder_is_refused_before_loading(folder, control_file, tmp_path, capsys, monkeypatch,
                                                                  command):
    """Its control branch resizes its padding mask with torchvision: where its module has none, one line before loading."""
    from diffusers.models.controlnets import controlnet_cosmos

    monkeypatch.delattr(controlnet_cosmos, "transforms")
    line = check_refused_before_loading([command, "--model", str(folder), "--prompt", "a red ball", "--control-video",
                                         str(control_file)], tmp_path / "x.mp4", capsys, monkeypatch)
    assert "control branch (CosmosControlNetModel) resizes its padding mask with torchvision" in line


def test_without_torchvision_info_describes_it_and_says_generating_needs_it(folder, capsys, monkeypatch):
    """`vidlong info` reads its configs alone: where torchvision is not installed it still describes the folder (exit 0, no
    model loaded), its answers those of a machine with torchvision, and a last line (``needs`` in the JSON, None with it)
    says generating needs it and how to install it."""
    import vidlong.pipeline
    from diffusers.models.controlnets import controlnet_cosmos

    capsys.readouterr()
    assert main(["info", "--model", str(folder), "--json"]) == 0
    with_it = json.loads(capsys.readouterr().out)
    monkeypatch.delattr(controlnet_cosmos, "transforms")
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main(["info", "--model", str(folder), "--json"]) == 0
    without = json.loads(capsys.readouterr().out)
    assert with_it["needs"] is None and without == dict(with_it, needs=(
        "Cosmos-Transfer2.5's control branch (CosmosControlNetModel) resizes its padding mask with torchvision, which is not "
        "installed: pip install torchvision (or vidlong[cosmos])"))
    assert main(["info", "--model", str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("Cosmos2_5_TransferPipeline (vidlong's VidLongCosmos2_5_TransferPipeline), task t2v, family "
                             "cosmos (CosmosTransformer3DModel)") and "  control video: yes" in lines
    assert lines[-1] == ("generating here (generate, stream, extend, the app) needs a package that is not installed: "
                         "Cosmos-Transfer2.5's control branch (CosmosControlNetModel) resizes its padding mask with "
                         "torchvision, which is not installed: pip install torchvision (or vidlong[cosmos])")


def test_info_says_it_takes_a_control_video_streams_and_extends(folder, capsys):
    """`vidlong info --json`: its pipeline and family, a control video taken, a stream and an extension (its call's chunks:
    no chunked stream's context or chunk), no stream redrawing a video."""
    capsys.readouterr()
    assert main(["info", "--model", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["pipeline"], info["vidlong_pipeline"], info["family"]) == (
        "Cosmos2_5_TransferPipeline", "VidLongCosmos2_5_TransferPipeline", "cosmos")
    can = info["can"]
    assert can["control_video"]["yes"] and can["stream"]["yes"] and can["extend"]["yes"] and not can["stream_redraw"]["yes"]
    assert info["spec"]["stream_chunk"] is None
