"""FramePack (image to video, section by section, each after its own compressed history) through its family adapter and
pipeline: the spec from configs/models; vidlong's lengths are whole sections after the image's frame; `generate` = diffusers'
`HunyuanVideoFramepackPipeline` call bit for bit in both orders; a stream's sections and frames are its vanilla call's bit
for bit while the history it keeps stays one size; an extension starts with the input's frames and its first section is a
stream's from the input's first frame whose history holds the input's last latent frames; `vidlong stream --image` and
`vidlong extend` write their mp4s; the methods, an inverted stream or extension, saved latents, a video shorter than its
call's shortest and what its streams do not take are refused in one line before loading."""

import dataclasses
import re
import shutil

import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, tiny_framepack_transformer
from family_checks import check_release_refuses
from PIL import Image

import vidlong
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.validate import check_generate, limits_for_pipeline

NATIVE = 2  # latent frames: its tiny folder's section (5 pixel frames of its call's num_frames a section)
SECTION = 4 * (NATIVE - 1) + 1


def test_native_length_size_and_sampling_come_from_configs():
    """One section of 9 latent frames (its call's default) at 30 fps, 832x480, 50 steps at embedded guidance 6, its call's
    order by default, from configs/models; 3 sections are 28 latent frames, the 109 pixel frames its docstring example's 91
    make."""
    from vidlong.attention.adapters import adapter_named
    from vidlong.models import family_of, model_facts, spec_for_facts

    model = tiny_framepack_transformer()
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale,
            spec.sampling_type) == ("framepack", 9, 30, 832, 480, 50, 6.0, None)
    assert [adapter_named("framepack").whole_chunk_lengths(n, 9, 4) for n in (1, 3)] == [(10, 37), (28, 109)]


def test_methods_are_refused_in_one_line():
    """UltraViCo and FreeLong++ do not act on attention that spans one section and its bounded history: `vidlong.apply`
    refuses them naming why."""
    for method in (vidlong.UltraViCo(), vidlong.SpectralFusion()):
        with pytest.raises(VidlongError, match="one section and its own bounded, compressed history"):
            vidlong.apply(tiny_framepack_transformer(), method)


def saved_folder(path, **spec):
    """A tiny FramePack pipeline (`tiny_framepack_pipeline`) saved in `path` with a vidlong.yaml: native 2 latent frames (its
    call's section), 16x16 at 30 fps, 2 steps, embedded guidance 6; `spec`: more of it."""
    from tiny_pipeline import tiny_framepack_pipeline

    tiny_framepack_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-framepack", native_frames=NATIVE, height=16, width=16,
                                                           fps=30, num_inference_steps=2, guidance_scale=6.0, **spec)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("framepack"))


@pytest.fixture(scope="module")
def stock(folder):
    """diffusers' own pipeline from the folder."""
    from diffusers import HunyuanVideoFramepackPipeline

    stock = HunyuanVideoFramepackPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    return stock


def stock_call(pipe, image_path, sections: int, seed: int, **call):
    """`pipe`'s call: `sections` sections of the native window from the image, its generator seeded with `seed`."""
    return pipe(image=Image.open(image_path), prompt="a red ball", height=16, width=16, num_frames=sections * SECTION,
                latent_window_size=NATIVE, num_inference_steps=2, guidance_scale=6.0,
                generator=torch.Generator().manual_seed(seed), **call).frames


def as_uint8(video) -> np.ndarray:
    return (np.clip(video, 0, 1) * 255).round().astype(np.uint8)


@pytest.mark.parametrize("order, last", [(None, False), ("vanilla", False), (None, True)], ids=["inverted", "vanilla", "last"])
def test_generate_is_the_stock_call_bit_for_bit(stock, pipe, image_path, last_image_path, order, last):
    """`load_pipeline` gives vidlong's class; `generate --image` at 2x (2 sections: 17 frames) in the spec's order (None: its
    call's inverted_anti_drifting; vanilla), and with a last frame (`--last-image`, its inverted order's; its latent drawn
    after the image's), returns the frames diffusers' own call makes from the same seed, and the video's latents its call
    ends with; `--frames 17` is the same length, 16 is refused naming 9 and 17."""
    assert type(pipe).__name__ == "VidLongHunyuanVideoFramepackPipeline" and pipe.facts()["family"] == "framepack"
    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=order)
    steps = []  # the progress of its denoising: each section's 2 steps counted on, to the end
    lasts = dict(last_image=str(last_image_path)) if last else {}
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=str(image_path), **lasts),
                      progress=lambda stage, done, total: steps.append((done, total)) if stage == "denoise" else None)
    assert steps == [(done, 4) for done in range(5)]  # 0 at its first forward
    orders = {} if order is None else dict(sampling_type=order)
    orders.update({name: Image.open(path) for name, path in lasts.items()})
    video = stock_call(stock, image_path, 2, 3, output_type="np", **orders)[0]
    assert len(result.frames) == 17 == result.settings["pixel_frames"] and result.settings["latent_frames"] == 2 * NATIVE + 1
    assert np.array_equal(result.frames, as_uint8(video))
    assert torch.equal(result.latents, stock_call(stock, image_path, 2, 3, output_type="latent", **orders)[-1])
    assert check_generate(GenerateRequest(prompt="a", frames=17, image="x.png"), limits_for_pipeline(pipe)) == 2 * NATIVE + 1
    with pytest.raises(VidlongError, match=r"16 frames are not a length this model's call makes .* use frames \(--frames\) 9 or 17"):
        check_generate(GenerateRequest(prompt="a", frames=16, image="x.png"), limits_for_pipeline(pipe))


def test_a_streams_sections_are_its_vanilla_calls_and_its_history_stays_flat(pipe, image_path):
    """Sections of 2 (its call's section, `--chunk 2`): all 4 are its vanilla call's 4 sections from the same seed bit for bit
    (vidlong's call, diffusers' bit for bit: `test_generate_is_the_stock_call_bit_for_bit`)
    (its call's forwards read no further back than the 19 latent frames of history the stream keeps), and so are the frames
    (each section's but the 5 the next one blends into, all of them after the last); the history it holds is 19 frames at
    every section, and what it holds one size from the second section on."""
    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=None)
    stream = pipe.stream("a red ball", Streaming(chunk=NATIVE), chunks=4, seed=0, image=str(image_path))
    items = list(stream)
    assert [item.latents.shape[2] for item in items] == [NATIVE] * 4
    assert [len(item.frames) for item in items] == [9 - SECTION, 8, 8, 8 + SECTION]
    assert [frames for frames, _ in stream.footprints] == [19] * 4 and len({size for _, size in stream.footprints[1:]}) == 1
    whole = stock_call(pipe, image_path, 4, 0, output_type="latent", sampling_type="vanilla")[-1]  # its call's (generate's test)
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), whole[:, :, 1:])
    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type="vanilla")  # decoded as its vanilla call decodes it
    assert np.array_equal(np.concatenate([item.frames for item in items]), pipe.decode_uint8(whole))


def test_seconds_count_the_image_frame_its_first_section_returns(pipe, image_path):
    """A stream's first section returns its image's frame and 8 more (4·2 + 1 = 9 frames), every later one 8: 0.8 s at 30
    fps (24 frames) is 3 sections (25 frames), not 4 (33); the prompt of second 0.3 (frame 9) starts with the second
    section, that of second 0.31 with the third."""
    from vidlong.schedulers.stream import stream_chunk_count

    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=None)
    stream = pipe.stream("a red ball", Streaming(chunk=NATIVE), seconds=0.8, seed=0, image=str(image_path))
    assert stream.chunks == 3 and [stream.first_chunk_from(second) for second in (0.3, 0.31)] == [1, 2]
    assert stream_chunk_count(limits_for_pipeline(pipe), Streaming(chunk=NATIVE), None, 0.8) == 3


def test_a_stream_stopped_early_gives_the_frames_its_next_section_would_have_blended_into(pipe, image_path):
    """An endless stream stopped after one section: that section's frames, then the 5 it held back for the next
    (`held_frames`, which the CLI and the app write after a stopped stream's last chunk; once), are the frames of a stream
    of that one section: nothing made is lost."""
    from vidlong.streaming import held_frames

    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=None)
    one = list(pipe.stream("a red ball", Streaming(chunk=NATIVE), chunks=1, seed=0, image=str(image_path)))[0]
    endless = pipe.stream("a red ball", Streaming(chunk=NATIVE), seed=0, image=str(image_path))
    first = next(iter(endless))
    held = held_frames(endless)
    assert len(held) == SECTION and np.array_equal(np.concatenate([first.frames, held]), one.frames)
    assert len(held_frames(endless)) == 0


def test_cli_stream_writes_its_mp4(folder, image_path, tmp_path):
    """`vidlong stream --image --chunk 2 --chunks 2`: 2 sections, the image's frame and 8 frames each, of 16x16 at 30 fps."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--chunk", str(NATIVE),
                 "--chunks", "2", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (17, 16, 16, 3) and fps == pytest.approx(30)


def test_an_extension_goes_on_as_a_stream_whose_history_holds_the_inputs_last_latents(pipe):
    """`pipe.extend` of a 13-frame video by 3 sections of 2: its first item is the input's frames bit for bit and the
    input's 4 latent frames as the VAE encodes the whole clip (shorter than the 19 of history and 4 of warm-up); its first
    section is bit for bit the one a `FramePackStreamer` makes from the same seed and the input's first frame as its image
    once its history is seeded with those latents (zeros before them); its frames are 3, 8, then 8 + 5 (each section's
    8, the last 5 held back until the end): the first 3 are those after the 5 that re-make the input's last frames in the
    decode of the input's last section and the first new one, the input's last frame's difference to that decode's fifth
    faded into them (`SeamBlend` over 8 frames); its history is 19 latent frames at every section and what it holds one
    size from the second on."""
    from vidlong.families.framepack import FramePackStreamer
    from vidlong.streaming import SeamBlend, rolled_in, to_uint8

    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=None)
    video = np.random.default_rng(1).integers(0, 255, (13, 16, 16, 3), dtype=np.uint8)
    extension = pipe.extend("a red ball", video=video, streaming=Streaming(chunk=NATIVE), chunks=3, seed=2)
    items = list(extension)
    encoded = pipe.stream_encode(torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 127.5 - 1).float()
    assert items[0].is_input and np.array_equal(items[0].frames, video) and torch.equal(items[0].latents, encoded)
    assert [len(item.frames) for item in items[1:]] == [3, 8, 8 + SECTION]
    decoded = to_uint8(pipe._decode_chunk(torch.cat([encoded[:, :, -NATIVE:], items[1].latents], dim=2)))  # 13 frames
    assert np.array_equal(items[1].frames, SeamBlend(video[-1], decoded[SECTION - 1], 8)(decoded[SECTION:SECTION + 3]))
    assert not np.array_equal(items[1].frames, decoded[SECTION:SECTION + 3])  # the seam moved them
    assert [frames for frames, _ in extension.footprints] == [19] * 3 and len({size for _, size in extension.footprints[1:]}) == 1

    class Seeded(FramePackStreamer):
        def _start_image(self):
            super()._start_image()
            self.history = rolled_in(torch.zeros_like(self.history), encoded)

    seeded = list(Seeded(pipe, "a red ball", Streaming(chunk=NATIVE), chunks=1, seed=2, image=video[0], height=16, width=16))
    assert torch.equal(seeded[0].latents, items[1].latents)


def test_cli_extend_writes_its_mp4_and_refuses_a_video_shorter_than_its_calls_shortest(folder, pipe, tmp_path, capsys,
                                                                                        monkeypatch):
    """`vidlong extend` of a 13-frame video by 2 sections of 2: its frames, then 16 new ones, at 30 fps; an 8-frame video
    (its call's shortest is 9: the image's frame and one section) is refused in one line before loading, and by
    `pipe.extend` with the same words before anything is encoded."""
    from family_checks import check_cli_extension, check_refused_before_loading

    from vidlong.video_io import write_video

    check_cli_extension(folder, tmp_path, temporal=8, fps=30, size=(16, 16, 3), chunk=NATIVE)
    short = write_video(tmp_path / "short.mp4", np.zeros((8, 16, 16, 3), np.uint8), 30)
    says = ("has 8 frames; FramePack continues a video from its last section of 2 latent frames after its first frame, as "
            "its call's shortest video (9 frames) holds")
    args = ["extend", "--model", str(folder), "--prompt", "a red ball", "--video", str(short), "--chunk", str(NATIVE),
            "--chunks", "1"]
    assert f"--video {says}: pass a video of at least 9 frames" in check_refused_before_loading(args, tmp_path / "e.mp4",
                                                                                                 capsys, monkeypatch)
    with pytest.raises(VidlongError, match=re.escape(f"video (--video) {says}")):
        pipe.extend("a red ball", video=np.zeros((8, 16, 16, 3), np.uint8), chunks=1)


def ordered_copy(folder, path, order: str):
    """A copy of `folder` at `path` whose vidlong.yaml sets the section order `order`."""
    copy = shutil.copytree(folder, path)
    spec = yaml.safe_load((copy / "vidlong.yaml").read_text())
    (copy / "vidlong.yaml").write_text(yaml.safe_dump(dict(spec, sampling_type=order)))
    return copy


@pytest.fixture(scope="module")
def inverted_folder(folder, tmp_path_factory):
    """The folder, its vidlong.yaml setting the inverted order."""
    return ordered_copy(folder, tmp_path_factory.mktemp("inverted") / "framepack", "inverted_anti_drifting")


#: why its extensions do not continue saved latents
NO_LATENTS = "a FramePack continuation reads its start image's SigLIP states, which saved latents do not hold"

#: what it refuses before loading, and what the refusal says
REFUSED = [(["generate", "--ratio", "2", "--method", "ultravico"], "its own bounded, compressed history"),
           (["generate", "--ratio", "2", "--method", "fifo"], "stream it instead"),
           (["generate", "--frames", "16"], "use --frames 9 or 17"),
           (["stream", "--chunks", "2", "--context", "cache"], "cache is not available for HunyuanVideoFramepack"),
           (["stream", "--chunks", "2", "--sinks", "1"], "its call's own history"),
           (["stream", "--chunks", "2", "--sampler", "causal"], "drop --sampler causal"),
           (["extend", "--video", "in.mp4", "--latents", "in.pt", "--chunks", "1"], f"--latents: {NO_LATENTS}; drop --latents"),
           (["extend", "--latents", "in.pt", "--chunks", "1"], f"--latents: {NO_LATENTS}; extend the video file instead"),
           (["generate", "--ratio", "2", "--save-latents", "saved.pt"], f"--save-latents: {NO_LATENTS}; extend the video"),
           (["stream", "--chunks", "2", "--save-latents", "saved.pt"], f"--save-latents: {NO_LATENTS}; extend the video")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, image_path, tmp_path, capsys, monkeypatch,
                                                                    command, says):
    """The methods (its attention spans one section and its history), fifo's queue, a length off its sections, a KV cache,
    sinks, the causal sampler, an extension from saved latents, latents saved for one."""
    image = None if command[0] == "extend" else image_path
    check_release_refuses(folder, image, command, says, tmp_path, capsys, monkeypatch)


@pytest.mark.parametrize("command", [["stream", "--chunks", "2"], ["extend", "--video", "in.mp4", "--chunks", "1"]])
def test_an_inverted_stream_or_extension_is_refused_in_one_line_before_loading(inverted_folder, image_path, tmp_path, capsys,
                                                                               monkeypatch, command):
    """A folder whose vidlong.yaml sets the inverted order does not stream or extend (its first section is the video's
    end)."""
    image = None if command[0] == "extend" else image_path
    check_release_refuses(inverted_folder, image, command, "inverted_anti_drifting order cannot stream or extend a video",
                          tmp_path, capsys, monkeypatch)


def test_a_last_frame_in_the_vanilla_order_is_refused_in_one_line_before_loading(folder, image_path, last_image_path, tmp_path,
                                                                                  capsys, monkeypatch):
    """Its call takes a last frame in its inverted order alone: a folder whose vidlong.yaml sets the vanilla order refuses
    ``--last-image`` naming the field and the line; `vidlong info` says the default order's folder takes one."""
    from vidlong.info import model_info

    vanilla = ordered_copy(folder, tmp_path / "vanilla", "vanilla")
    check_release_refuses(vanilla, image_path, ["generate", "--ratio", "2", "--last-image", str(last_image_path)],
                          "--last-image: FramePack's call takes a last frame in its inverted order alone", tmp_path, capsys,
                          monkeypatch)
    assert model_info(folder)["can"]["last_image"]["yes"]


def test_vidlong_info_says_an_inverted_folder_neither_streams_nor_extends(folder, inverted_folder):
    """`vidlong info` answers what the commands do: the inverted order's folder streams and extends not, with the commands'
    reason, and no stream chunk; the vanilla folder does both, a section a chunk (its native window, where its vidlong.yaml
    names no stream_chunk); `streams` (the app's Stream tab) says so too."""
    from vidlong.info import model_info

    from vidlong.validate import limits_for_folder, streams

    assert not streams(limits_for_folder(inverted_folder)) and streams(limits_for_folder(folder))  # the app's Stream tab
    inverted, vanilla = model_info(inverted_folder), model_info(folder)
    for can in ("stream", "extend"):
        assert not inverted["can"][can]["yes"] and "inverted_anti_drifting order cannot stream" in inverted["can"][can]["why"]
        assert vanilla["can"][can]["yes"]
    assert inverted["spec"]["stream_chunk"] is None and vanilla["spec"]["stream_chunk"] == NATIVE
    assert vanilla["spec"]["stream_context"] == "history"  # its call's history latents, neither a cache nor re-noised


def test_an_order_its_call_does_not_take_is_refused_in_one_line_before_loading(folder, image_path, tmp_path, capsys,
                                                                                monkeypatch):
    """A vidlong.yaml whose sampling_type is none of its call's orders: generate is refused naming the field and its two
    values before loading (not diffusers' ValueError once loaded)."""
    odd = ordered_copy(folder, tmp_path / "framepack", "forwards")
    check_release_refuses(odd, image_path, ["generate", "--frames", "9"], "sampling_type of model 'tiny-framepack' must be "
                          "one of FramePack's orders inverted_anti_drifting, vanilla (or left out), got 'forwards'; fix its "
                          "vidlong.yaml", tmp_path, capsys, monkeypatch)


def test_the_call_takes_the_sections_noise(pipe, image_path):
    """Its call's ``latents=`` are the sections' noise one after another: given `start_noise`'s draws from a seed after
    `draws_before_noise`'s (its image's latent), the video's latents are those of its call from that seed; too few are
    refused in one line."""
    pipe.vidlong_spec = dataclasses.replace(pipe.spec, sampling_type=None)
    shape = (1, IN_CHANNELS, 2 * NATIVE, 2, 2)
    call = dict(image=Image.open(image_path), prompt="a red ball", num_frames=2 * SECTION, output_type="latent")
    generator = torch.Generator().manual_seed(5)
    pipe.draws_before_noise(call, shape, generator)
    noise = pipe.start_noise("plain", shape, NATIVE, generator)
    given = pipe(latents=noise, generator=torch.Generator().manual_seed(5), **call).frames[-1]
    assert torch.equal(given, pipe(generator=torch.Generator().manual_seed(5), **call).frames[-1])
    with pytest.raises(VidlongError, match=r"^latents has shape \[1, 4, 2, 2, 2\]; this call"):
        pipe(latents=noise[:, :, :NATIVE], **call)
