"""Streaming and extension by diagonal denoising (`vidlong.fifo_stream`, ``--method fifo``): a stream is
`generate`'s fifo video chunk by chunk, bit for bit, at a flat number of forwards per chunk; an
extension keeps its input and starts the queue from the input's last native window; image-to-video
models stream from their image and extend from the input's first frame; under a schedule or a live
switch every frame follows its chunk's prompt (or the queue cuts to the new prompt's own video); the CLI
writes both, and refuses what fifo does not take (tiny models built here: native window 3 latent frames)."""
import json

import numpy as np
import pytest
import torch

import vidlong
from vidlong import diagonal as diagonal_module
from vidlong.cli import main
from vidlong.fifo_stream import CHUNK
from vidlong.generate import GenerateRequest, generate
from vidlong.models import pixel_frames
from vidlong.video_io import read_video
from tiny_pipeline import NATIVE_LATENT_FRAMES as NATIVE, save_tiny_pipeline

FIFO = vidlong.DiagonalDenoising()


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {kind: save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind) for kind in ("wan2.1", "wan2.2", "i2v", "ti2v-i2v",
                                                                                             "i2v-a14b")}


@pytest.mark.parametrize("kind", ["wan2.1", "wan2.2"])
def test_a_fifo_stream_is_generates_fifo_video_chunk_by_chunk(folders, kind):
    """The chunks' latents are `generate --method fifo`'s, bit for bit (one expert and two); the first chunk
    holds the sink and two frames (9 pixel frames), the others 12; each chunk after the first costs the
    same forwards (a frame per partition and expert its window needs), however far the stream runs."""
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    chunks = 5
    made = generate(pipe, GenerateRequest(prompt="a red circle", frames=pixel_frames(chunks * CHUNK), method="fifo", seed=3))
    forwards = [0]
    for expert in pipe.experts():
        expert.register_forward_pre_hook(lambda *_: forwards.__setitem__(0, forwards[0] + 1))
    per_chunk, before = [], 0
    items, decodes = [], []
    pipe.decode_uint8 = lambda *args, **kwargs: decodes.append(1)  # the whole-video decode, which a stream has no use for
    for item in pipe.stream("a red circle", streaming=FIFO, chunks=chunks, seed=3):
        items.append(item)
        per_chunk.append(forwards[0] - before)
        before = forwards[0]
    latents = torch.cat([item.latents for item in items], dim=2)
    assert torch.equal(latents, made.latents)
    assert not decodes, "the stream decoded its native video as a whole, besides its streaming decode"
    assert [len(item.frames) for item in items] == [9] + [12] * (chunks - 1) and [i.index for i in items] == list(range(chunks))
    frames = np.concatenate([item.frames for item in items])
    assert np.abs(frames.astype(int) - made.frames.astype(int)).max() <= 1  # the streaming decoder, to rounding
    assert len(set(per_chunk[1:])) == 1
    if kind == "wan2.1":
        assert per_chunk[1] == CHUNK * FIFO.forwards_per_frame(NATIVE)


def test_native_steps_make_the_stream_generates_fifo_video_of_those_steps(folders, tmp_path):
    """`DiagonalDenoising(native_steps=n)` (the CLI's ``stream --method fifo --steps n``): the stream is `generate`'s fifo
    video at ``steps=n``, latents bit for bit; `generate` takes its request's steps and refuses the field in one line."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    made = generate(pipe, GenerateRequest(prompt="a red circle", frames=pixel_frames(2 * CHUNK), method="fifo", seed=3, steps=1))
    items = list(pipe.stream("a red circle", streaming=vidlong.DiagonalDenoising(native_steps=1), chunks=2, seed=3))
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), made.latents)
    with pytest.raises(vidlong.VidlongError, match=r"native_steps sets a fifo stream's native videos; .* GenerateRequest\(steps=1"):
        generate(pipe, GenerateRequest(prompt="a red circle", method="fifo"), diagonal=vidlong.DiagonalDenoising(native_steps=1))
    out = tmp_path / "s.mp4"
    assert main(["stream", "--model", str(folders["wan2.1"]), "--prompt", "a red circle", "--method", "fifo", "--steps", "1",
                 "--chunks", "1", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["streaming"]["native_steps"] == 1


def test_a_paused_fifo_stream_refuses_calls_and_gives_the_methods_back(folders):
    """While a fifo stream is paused, calling the pipeline is refused; once it is closed the methods applied
    before it act again, bit for bit."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    call = dict(prompt="a red circle", num_frames=pixel_frames(2 * NATIVE), num_inference_steps=1, output_type="latent")
    pipe.apply(vidlong.UltraViCo(alpha=0.5))
    before = pipe(**call, generator=torch.Generator().manual_seed(0)).frames
    stream = iter(pipe.stream("a red circle", streaming=FIFO, chunks=3))
    next(stream)
    with pytest.raises(vidlong.VidlongError, match="paused mid-way"):
        pipe(**call)
    stream.close()
    assert torch.equal(pipe(**call, generator=torch.Generator().manual_seed(0)).frames, before)


def test_a_fifo_extension_keeps_the_input_and_starts_the_queue_from_its_last_window(folders, monkeypatch):
    """The first item is the input, unchanged; the queue starts from the input's first latent frame (the
    sink) and its last ``native - 1``; those are made again and dropped, so every chunk is new frames."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    made = generate(pipe, GenerateRequest(prompt="a red circle", ratio=2, seed=1))
    started = []
    real = diagonal_module.start_queue
    monkeypatch.setattr(diagonal_module, "start_queue", lambda first, *a: started.append(first.cpu()) or real(first, *a))
    latents = made.latents
    items = list(pipe.extend("a red circle", video=made.frames, latents=latents, streaming=FIFO, chunks=2, seed=4))
    assert items[0].is_input and np.array_equal(items[0].frames, made.frames) and torch.equal(items[0].latents, latents)
    assert [len(item.frames) for item in items[1:]] == [12, 12] and [item.latents.shape[2] for item in items[1:]] == [3, 3]
    expected = torch.cat([latents[:, :, :1], latents[:, :, -(NATIVE - 1):]], dim=2)
    assert len(started) == 1 and torch.equal(started[0], expected)
    # a one-frame input: the sink alone, nothing to drop
    one = list(pipe.extend("a red circle", latents=latents[:, :, :1], streaming=FIFO, chunks=1, seed=4))
    assert torch.equal(started[1], latents[:, :, :1]) and len(one[0].frames) == 1 and len(one[1].frames) == 12
    # from the mp4's frames: the tail encoded once (the native window and the encoder's warm-up)
    from_frames = list(pipe.extend("a red circle", video=made.frames, streaming=FIFO, chunks=1, seed=4))
    assert np.array_equal(from_frames[0].frames, made.frames) and started[2].shape[2] == NATIVE


def test_an_extension_draws_its_own_noise_and_takes_its_sink_from_the_videos_first_frame(folders, monkeypatch):
    """Extending a video with the seed it was made with draws other queue noise than it did (the
    continuation does not retrace its draws); from a video file longer than the encoded tail, the sink is
    the video's first pixel frame encoded alone."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    starts = []
    real = diagonal_module.start_queue
    monkeypatch.setattr(diagonal_module, "start_queue", lambda first, sigmas, noise, skip: starts.append((first.cpu(), noise.cpu()))
                        or real(first, sigmas, noise, skip))
    stream = list(pipe.stream("a red circle", streaming=FIFO, chunks=4, seed=3))
    latents = torch.cat([item.latents for item in stream], dim=2)
    frames = np.concatenate([item.frames for item in stream])
    list(pipe.extend("a red circle", latents=latents, streaming=FIFO, chunks=1, seed=3))
    assert not torch.equal(starts[0][1], starts[1][1])
    list(pipe.extend("a red circle", video=frames, streaming=FIFO, chunks=1, seed=3))  # 45 frames: more than the tail
    alone = pipe.stream_encode(torch.from_numpy(frames[:1]).permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0).float().cpu()
    assert torch.equal(starts[2][0][:, :, :1], alone)


def test_fifo_streams_refuse_what_they_do_not_take(folders, image_path):
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    with pytest.raises(vidlong.VidlongError, match="switches at chunk 4 but the stream has 4 chunks"):
        pipe.stream("0:a red circle; 4:a blue square", streaming=FIFO, chunks=4)
    with pytest.raises(vidlong.VidlongError, match="a stream's schedule counts chunks, not seconds"):
        pipe.stream("0s: a red circle; 1s: a blue square", streaming=FIFO, chunks=4)
    with pytest.raises(vidlong.VidlongError, match="switch_prompt takes one prompt"):
        pipe.stream("a red circle", streaming=FIFO, chunks=4).switch_prompt("0:a; 1:b")
    with pytest.raises(vidlong.VidlongError, match="a stream's schedule counts chunks"):  # before the input is encoded
        pipe.extend("0s: a red circle; 1s: a blue square", latents=torch.zeros(1, 4, 1, 4, 4), streaming=FIFO, chunks=4)
    with pytest.raises(vidlong.VidlongError, match="leaves no frame of the native window"):
        pipe.stream("a red circle", streaming=vidlong.DiagonalDenoising(sink=NATIVE), chunks=1)
    with pytest.raises(vidlong.VidlongError, match="streaming= takes a vidlong.Streaming or a vidlong.DiagonalDenoising"):
        pipe.stream("a red circle", streaming="fifo", chunks=1)
    i2v = vidlong.load_pipeline(folders["i2v"], device="cpu")
    with pytest.raises(vidlong.VidlongError, match="this model is image-to-video"):
        i2v.stream("a red circle", streaming=FIFO, chunks=1)
    with pytest.raises(vidlong.VidlongError, match="the sink is the image's frame"):
        i2v.stream("a red circle", streaming=vidlong.DiagonalDenoising(sink=False), chunks=1, image=str(image_path))
    with pytest.raises(vidlong.VidlongError, match="pass one uint8 RGB frame"):
        i2v.stream("a red circle", streaming=FIFO, chunks=1, image=np.zeros((32, 32), np.uint8))


@pytest.mark.parametrize("kind", ["i2v", "ti2v-i2v", "i2v-a14b"])
def test_an_image_to_video_fifo_stream_is_generates_and_extends_from_the_inputs_first_frame(folders, image_path, kind, monkeypatch,
                                                                                          tmp_path):
    """Image-to-video (Wan2.1 I2V with CLIP; TI2V-5B's image latent as frame 0; Wan2.2 I2V A14B's two experts):
    the stream's latents are
    `generate --method fifo --image`'s, bit for bit, with the image given as a path or as a PIL image; an
    extension's windows carry the input's first frame as their image."""
    from PIL import Image

    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    made = generate(pipe, GenerateRequest(prompt="a red circle", frames=pixel_frames(3 * CHUNK), method="fifo", seed=2,
                                          image=str(image_path)))
    with Image.open(image_path) as image:
        items = list(pipe.stream("a red circle", streaming=FIFO, chunks=3, seed=2, image=image.copy()))
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), made.latents)
    images, real = [], pipe.image_condition
    monkeypatch.setattr(pipe, "image_condition", lambda image, *a, **k: images.append(image) or real(image, *a, **k))
    frames = np.concatenate([item.frames for item in items])
    more = list(pipe.extend("a red circle", video=frames, streaming=FIFO, chunks=2, seed=4))
    assert more[0].is_input and np.array_equal(more[0].frames, frames) and [len(i.frames) for i in more[1:]] == [12, 12]
    assert np.array_equal(np.asarray(images[0]), frames[0])
    out = tmp_path / "i2v.mp4"  # the CLI: --image for a stream, none for an extension
    assert main(["stream", "--model", str(folders[kind]), "--prompt", "a red circle", "--image", str(image_path),
                 "--method", "fifo", "--chunks", "1", "--out", str(out)]) == 0
    assert main(["extend", "--model", str(folders[kind]), "--video", str(out), "--prompt", "a red circle", "--method", "fifo",
                 "--chunks", "1", "--out", str(tmp_path / "longer.mp4")]) == 0
    assert len(read_video(tmp_path / "longer.mp4")[0]) == 9 + 12


def test_fifo_stream_and_extend_cli(folders, tmp_path):
    """`vidlong stream --method fifo` (with a prompt schedule) writes the chunks and says so in its sidecar;
    `vidlong extend --method fifo` continues that file; `--partition-guidance` reaches the sampler of
    `extend` and `generate` (their sidecars)."""
    model = str(folders["wan2.1"])
    out = tmp_path / "fifo.mp4"
    assert main(["stream", "--model", model, "--prompt", "0:a red circle; 1:a blue square", "--method", "fifo", "--chunks", "2",
                 "--out", str(out), "--save-latents", str(tmp_path / "fifo.pt")]) == 0
    video, _ = read_video(out)
    assert len(video) == 9 + 12
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["streaming"]["method"] == "fifo" and settings["chunks"] == 2
    longer = tmp_path / "longer.mp4"
    assert main(["extend", "--model", model, "--video", str(out), "--latents", str(tmp_path / "fifo.pt"), "--method", "fifo",
                 "--chunks", "1", "--partition-guidance", "1,3,3", "--out", str(longer)]) == 0
    extended, _ = read_video(longer)
    assert len(extended) == len(video) + 12
    assert np.abs(extended[: len(video)].astype(int) - video.astype(int)).mean() < 3  # one more lossy mp4 encode
    assert json.loads(longer.with_suffix(".json").read_text())["streaming"]["guidance_by_partition"] == [1, 3, 3]
    made = tmp_path / "made.mp4"
    assert main(["generate", "--model", model, "--prompt", "a red circle", "--method", "fifo", "--ratio", "2",
                 "--partition-guidance", "1,3,3", "--out", str(made)]) == 0
    assert json.loads(made.with_suffix(".json").read_text())["methods"][0]["guidance_by_partition"] == [1, 3, 3]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_fifo_stream_on_cuda_in_bfloat16_is_generates_fifo_video(folders):
    """On a GPU in bfloat16 too: the stream's latents are `generate --method fifo`'s, bit for bit, and an
    extension of them runs (its input first, then 12-frame chunks)."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cuda", dtype=torch.bfloat16)
    made = generate(pipe, GenerateRequest(prompt="a red circle", frames=pixel_frames(3 * CHUNK), method="fifo", seed=3))
    items = list(pipe.stream("a red circle", streaming=FIFO, chunks=3, seed=3))
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), made.latents)
    more = list(pipe.extend("a red circle", latents=made.latents, streaming=FIFO, chunks=2, seed=4))
    assert more[0].is_input and [len(item.frames) for item in more[1:]] == [12, 12]


def _record_windows(monkeypatch) -> list:
    """Every window's (latent frames, prompt of each frame) as `WindowText.for_frames` sees them."""
    windows, real = [], diagonal_module.WindowText.for_frames

    def recorded(self, frames):
        windows.append([(frame, self.prompts[sum(1 for start in self.starts[1:] if start <= frame)]) for frame in frames])
        return real(self, frames)
    monkeypatch.setattr(diagonal_module.WindowText, "for_frames", recorded)
    return windows


@pytest.mark.parametrize("kind", ["wan2.1", "i2v"])
def test_a_fifo_streams_frames_follow_their_chunks_prompt_in_every_window(folders, image_path, kind, monkeypatch):
    """Under a schedule every latent frame follows its chunk's prompt in every window (frames 3k..3k+2 are
    chunk k); a schedule of one repeated prompt is that prompt bit for bit; on Wan2.1 I2V (CLIP image
    tokens in cross-attention) too. The chunks name their prompts."""
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    image = dict(image=str(image_path)) if kind == "i2v" else {}
    one = list(pipe.stream("a red circle", streaming=FIFO, chunks=4, seed=1, **image))
    same = list(pipe.stream("0:a red circle; 2:a red circle", streaming=FIFO, chunks=4, seed=1, **image))
    assert torch.equal(torch.cat([i.latents for i in same], dim=2), torch.cat([i.latents for i in one], dim=2))
    windows = _record_windows(monkeypatch)
    two = list(pipe.stream("0:a red circle; 2:a blue square", streaming=FIFO, chunks=4, seed=1, **image))
    assert [item.prompt for item in two] == ["a red circle"] * 2 + ["a blue square"] * 2
    seen = {pair for window in windows for pair in window}
    assert seen == {(f, "a red circle" if f < 2 * CHUNK else "a blue square") for f, _ in seen}
    assert any(len({prompt for _, prompt in window}) == 2 for window in windows)  # windows across the switch
    assert not torch.equal(torch.cat([i.latents for i in two], dim=2), torch.cat([i.latents for i in one], dim=2))


def test_a_live_switch_reaches_every_frame_not_handed_out_and_an_extension_follows_its_schedule(folders, monkeypatch):
    """`switch_prompt` between chunks 1 and 2 returns 2: the chunks out before it are the one-prompt stream's
    bit for bit, every window after it gives frames from chunk 2 on the new prompt. An extension's schedule
    counts its new chunks (its chunk 0 starts after the sink and the input's re-made frames)."""
    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    one = list(pipe.stream("a red circle", streaming=FIFO, chunks=4, seed=1))
    windows = _record_windows(monkeypatch)
    streamer = pipe.stream("a red circle", streaming=FIFO, chunks=4, seed=1)
    stream = iter(streamer)
    items = [next(stream), next(stream)]
    before = len(windows)
    assert streamer.switch_prompt("a blue square") == 2
    items += list(stream)
    assert all(torch.equal(a.latents, b.latents) for a, b in zip(items[:2], one[:2]))
    assert not torch.equal(items[2].latents, one[2].latents) and [i.prompt for i in items[2:]] == ["a blue square"] * 2
    after = {pair for window in windows[before:] for pair in window}
    assert after == {(f, "a red circle" if f < 2 * CHUNK else "a blue square") for f, _ in after}
    streamer = pipe.stream("a red circle", streaming=FIFO, chunks=2, seed=1)  # a switch while its native video is made
    native, landed = streamer._native_video, []
    streamer._native_video = lambda *a: landed.append(streamer.switch_prompt("a blue square")) or native(*a)
    assert [i.prompt for i in streamer] == ["a red circle", "a blue square"] and landed == [1]
    del windows[:]
    latents = torch.cat([i.latents for i in one], dim=2)
    more = list(pipe.extend("0:a red circle; 1:a blue square", latents=latents, streaming=FIFO, chunks=2, seed=2))
    offset = 1 + (NATIVE - 1)  # the sink and the input's last native - 1 frames, made again
    seen = {pair for window in windows for pair in window}
    assert seen == {(f, "a red circle" if f < offset + CHUNK else "a blue square") for f, _ in seen}
    assert [i.prompt for i in more] == ["a red circle", "a red circle", "a blue square"]


def test_a_cut_on_a_switch_restarts_the_queue_from_the_new_prompts_own_video(folders, monkeypatch):
    """`cut_on_prompt_switch`: at the chunk where the prompt changes (a schedule's entry, or a live switch) the
    queue starts again from the new prompt's native video (`generate`'s, seeded from (seed, chunk)); the
    chunks before it are the blending stream's bit for bit; a cut stream's first chunk is as ever."""
    from vidlong.generate import segment_seed

    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    cut = vidlong.DiagonalDenoising(cut_on_prompt_switch=True)
    schedule = "0:a red circle; 2:a blue square"
    blend = list(pipe.stream(schedule, streaming=FIFO, chunks=4, seed=1))
    starts, real = [], diagonal_module.start_queue
    monkeypatch.setattr(diagonal_module, "start_queue", lambda first, *a: starts.append(first.cpu()) or real(first, *a))
    cuts = list(pipe.stream(schedule, streaming=cut, chunks=4, seed=1))
    own = generate(pipe, GenerateRequest(prompt="a blue square", seed=segment_seed(1, 2))).latents
    assert len(starts) == 2 and torch.equal(starts[1], own)
    assert all(torch.equal(a.latents, b.latents) for a, b in zip(cuts[:2], blend[:2]))
    assert not torch.equal(cuts[2].latents, blend[2].latents) and [len(i.frames) for i in cuts] == [9, 12, 12, 12]
    assert json.loads(json.dumps(pipe.stream("a red circle", streaming=cut, chunks=1).settings()))["cut_on_prompt_switch"]
    streamer = pipe.stream("a red circle", streaming=cut, chunks=3, seed=1)  # live: cut at the next chunk
    stream = iter(streamer)
    next(stream)
    assert streamer.switch_prompt("a blue square") == 1
    list(stream)
    own = generate(pipe, GenerateRequest(prompt="a blue square", seed=segment_seed(1, 1))).latents
    assert len(starts) == 4 and torch.equal(starts[3], own)
    i2v = vidlong.load_pipeline(folders["i2v"], device="cpu")
    with pytest.raises(vidlong.VidlongError, match="an image-to-video stream by diagonal denoising blends its switches"):
        i2v.stream("a red circle", streaming=cut, chunks=1)


def test_on_step_runs_in_the_native_videos_a_stream_makes_and_can_end_it(folders, capfd):
    """`on_step(done, total)` counts the stream's native videos' steps (its start and a cut), from 0 as each one's first
    forward starts, their progress bars hidden, and each chunk's latent frames out of the queue from 0 to the chunk's,
    `step_kind` naming which; one that raises ends the stream out of its iterator mid-way through a cut, and the
    pipeline is free again."""
    from vidlong.errors import Stopped
    from vidlong.progress import step_status

    pipe = vidlong.load_pipeline(folders["wan2.1"], device="cpu")
    cut = vidlong.DiagonalDenoising(cut_on_prompt_switch=True)
    schedule = "0:a red circle; 2:a blue square"
    streamer = pipe.stream(schedule, streaming=cut, chunks=3, seed=1)
    calls = []
    streamer.on_step = lambda done, total: calls.append((streamer.step_kind, done, total))
    capfd.readouterr()
    list(streamer)
    steps = pipe.spec.num_inference_steps
    native = [("native video", done, steps) for done in range(steps + 1)]
    queue = [("queue", done, CHUNK) for done in range(CHUNK + 1)]
    assert calls == native + queue + queue + native + queue  # the start's native video, chunk 2's cut to its own
    assert "%|" not in capfd.readouterr().err  # no tqdm bar of the pipeline's own calls
    assert step_status(*calls[-1]) == f"queue: latent frame {CHUNK}/{CHUNK}; decoding"

    def stop_in_the_cut(done, total):
        calls.append((streamer.step_kind, done))
        if calls.count(("native video", 1)) == 2:  # the cut's first step
            raise Stopped("stopped by its user")

    calls.clear()
    streamer = pipe.stream(schedule, streaming=cut, chunks=3, seed=1)
    streamer.on_step = stop_in_the_cut
    stream = iter(streamer)
    assert [next(stream).index, next(stream).index] == [0, 1]
    with pytest.raises(Stopped):
        next(stream)
    assert calls[-2:] == [("native video", 0), ("native video", 1)] and len(calls) == (steps + 1) + 2 * (CHUNK + 1) + 2
    assert generate(pipe, GenerateRequest(prompt="a red circle", steps=1)).latents.shape[2] == NATIVE  # free again
