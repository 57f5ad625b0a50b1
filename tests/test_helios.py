"""Helios (autoregressive: chunk after chunk, each after its own compressed history) through its family adapter and pipeline:
the spec from configs/models; vidlong's lengths are whole chunks of its native window; `generate` and its call = diffusers'
`HeliosPipeline` bit for bit; a stream's chunks are its call's chunks bit for bit while the history it keeps stays one
size; `vidlong stream` and `vidlong extend` write their mp4s; the methods and what its streams do not take are refused in
one line before loading."""

import functools
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, tiny_helios_transformer
from family_checks import check_cli_extension, check_refused_before_loading, check_release_refuses
from PIL import Image

import vidlong
from vidlong.errors import VidlongError
from vidlong.families.helios_pyramid import block_noise
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.validate import check_generate, limits_for_pipeline, whole_chunk_pixel_frames

NATIVE = 3  # latent frames: its tiny folder's chunk (9 pixel frames)


def test_native_length_size_and_sampling_come_from_configs():
    """One chunk of 9 latent frames (its call's default chunk, and a stream's) at 24 fps, 384x640, 50 steps at guidance
    5, from configs/models; its VAE's (Wan's) 4x in time and 8x in space; a length of 4 chunks is the 129 frames its call
    returns for its docstring's 132; a stream chunk past the native window is refused naming the vidlong.yaml field."""
    from tiny_pipeline import tiny_helios_pipeline

    from vidlong.models import ModelSpec, family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_helios_transformer()
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.native_frames, spec.stream_chunk, spec.fps, spec.height, spec.width, spec.num_inference_steps,
            spec.guidance_scale) == ("helios", 9, 9, 24, 384, 640, 50, 5.0)
    geometry = geometry_from_configs(tiny_helios_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))
    assert [whole_chunk_pixel_frames(n, 9, 4) for n in (1, 2, 4, 5)] == [33, 65, 129, 165]
    with pytest.raises(VidlongError, match="stream_chunk of model 'x' must be a whole number from 1 to its native_frames 9"):
        ModelSpec(name="x", native_frames=9, stream_chunk=10)


def test_methods_are_refused_in_one_line():
    """UltraViCo and FreeLong++ do not act on attention that spans one chunk and its bounded history: `vidlong.apply`
    refuses them naming why."""
    for method in (vidlong.UltraViCo(), vidlong.SpectralFusion()):
        with pytest.raises(VidlongError, match="one chunk and its own bounded, compressed history"):
            vidlong.apply(tiny_helios_transformer(), method)


def saved_folder(path, native: int = NATIVE):
    """A tiny Helios pipeline (`tiny_helios_pipeline`) saved in `path` with a vidlong.yaml (`write_spec`)."""
    from tiny_pipeline import tiny_helios_pipeline

    tiny_helios_pipeline().save_pretrained(path, safe_serialization=True)
    return write_spec(path, native)


def write_spec(path, native: int):
    """`path`'s vidlong.yaml: `native` latent frames its call's chunk and a stream's (as configs/models' Helios), 16x16 at
    24 fps, 2 steps, guidance 1."""
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-helios", native_frames=native, stream_chunk=native,
                                                           height=16, width=16, fps=24, num_inference_steps=2,
                                                           guidance_scale=1.0)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("helios"))


def diffusers_pipeline(folder):
    from diffusers import HeliosPipeline

    stock = HeliosPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    return stock


def stock_call(folder, chunks: int, guidance: float, seed: int, **call):
    """diffusers' own call from the folder: `chunks` chunks of the native window, its generator seeded with `seed`."""
    return diffusers_pipeline(folder)("a red ball", height=16, width=16, num_frames=whole_chunk_pixel_frames(chunks, NATIVE, 4),
                                      num_inference_steps=2, guidance_scale=guidance, num_latent_frames_per_chunk=NATIVE,
                                      generator=torch.Generator().manual_seed(seed), **call).frames


def test_generate_and_its_call_are_the_stock_pipeline_bit_for_bit(folder, pipe):
    """`load_pipeline` gives vidlong's class; `generate` at 3x (3 chunks) with classifier-free guidance decodes each chunk
    once and returns the frames (25: 3 chunks of 9 cut to 4k+1) diffusers' own call makes from the same seed (its call
    decoding each chunk itself), and the latents its call makes given the noise generate draws (chunk after chunk, as
    diffusers' call draws it); `--frames 25` is the same length; 24 is refused naming 17 and 25, and so is 18 (past 17,
    the frames of 2 chunks of 9 cut to 4k+1), 5 naming 9."""
    assert type(pipe).__name__ == "VidLongHeliosPipeline" and pipe.facts()["family"] == "helios"
    decodes = []  # one a decode of latents (Wan's VAE runs post_quant_conv once a decode)
    hook = pipe.vae.post_quant_conv.register_forward_pre_hook(lambda module, args: decodes.append(args[0].shape[2]))
    try:
        steps = []  # the progress of its denoising: every chunk's 2 steps counted on, to the end
        result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=3, seed=3, guidance=2.0),
                          progress=lambda stage, done, total: steps.append((done, total)) if stage == "denoise" else None)
    finally:
        hook.remove()
    assert steps == [(done, 6) for done in range(7)]  # 0 at its first forward
    assert decodes == [NATIVE] * 3  # each chunk once: its call decodes none when asked for latents
    video = stock_call(folder, 3, 2.0, 3, output_type="np")[0]
    assert len(result.frames) == 25 == result.settings["pixel_frames"] and result.settings["latent_frames"] == 3 * NATIVE
    assert np.array_equal(result.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    noise = pipe.start_noise("plain", (1, IN_CHANNELS, 3 * NATIVE, 2, 2), NATIVE, torch.Generator().manual_seed(3))
    given = pipe("a red ball", num_frames=25, latents=noise, guidance_scale=2.0, output_type="latent").frames
    assert torch.equal(given, result.latents)
    assert check_generate(GenerateRequest(prompt="a red ball", frames=25), limits_for_pipeline(pipe)) == 3 * NATIVE
    for frames, near in ((24, "17 or 25"), (18, "17 or 25"), (5, "9")):
        with pytest.raises(VidlongError, match=fr"{frames} frames are not a length this model's call makes .* use frames "
                                               fr"\(--frames\) {near}$"):
            check_generate(GenerateRequest(prompt="a red ball", frames=frames), limits_for_pipeline(pipe))


def test_a_streams_chunks_are_its_calls_and_its_history_stays_flat(folder, pipe):
    """Chunks of 3 (its call's chunk, 9 frames each) with guidance: all 7 are its call's 7 chunks from the same seed bit
    for bit (its call's forwards read no further back than the 19 latent frames of history the stream keeps); the history
    it holds is 19 frames at every chunk, one size from the second chunk (the first has no prefix frame yet) to the
    seventh, whose history is the first that its own chunks fill."""
    stream = pipe.stream("a red ball", Streaming(chunk=NATIVE), chunks=7, seed=0, guidance=2.0)
    items = list(stream)
    assert [item.latents.shape[2] for item in items] == [NATIVE] * 7 and [len(item.frames) for item in items] == [9] * 7
    assert [frames for frames, _ in stream.footprints] == [19] * 7 and len({size for _, size in stream.footprints[1:]}) == 1
    whole = stock_call(folder, 7, 2.0, 0, output_type="latent")
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), whole)


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory):
    """A tiny Helios-Distilled folder (`tiny_helios_pyramid_pipeline`: DMD, 2 stages) of 32x32 (its smallest stage's
    latents 2x2, one patch), its call's chunk 3 latent frames, one step a stage, guidance 1, loaded on the CPU."""
    from tiny_pipeline import tiny_helios_pyramid_pipeline

    from vidlong.pipeline import load_pipeline

    path = tmp_path_factory.mktemp("helios-pyramid")
    tiny_helios_pyramid_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-helios-pyramid", native_frames=NATIVE, stream_chunk=NATIVE,
                                                           height=32, width=32, fps=24, num_inference_steps=1,
                                                           guidance_scale=1.0)))
    loaded = load_pipeline(path, device="cpu")
    loaded.set_progress_bar_config(disable=True)
    return loaded


def pyramid_call(pipe, chunks: int, seed: int, output_type: str, size: int = 32):
    """diffusers' own `HeliosPyramidPipeline` call over `pipe`'s modules (its config's, CFG-Zero* or not): `chunks` chunks of
    `size` x `size` with guidance 2, one step at each of its 2 stages, its generator seeded with `seed`. Its block noise is
    vidlong's `block_noise`: its own, bit for bit, where its float32 Cholesky factor holds; where it does not (this CPU's
    LAPACK may reject it, `test_block_noise_where_its_float32_factor_fails`) its call fails, and vidlong's draws stand in."""
    from diffusers import HeliosPyramidPipeline

    stock = HeliosPyramidPipeline(**pipe.components, is_distilled=True, is_cfg_zero_star=pipe.config.is_cfg_zero_star)
    stock.sample_block_noise = functools.partial(block_noise, stock)
    stock.set_progress_bar_config(disable=True)
    return stock("a red ball", height=size, width=size, num_frames=whole_chunk_pixel_frames(chunks, NATIVE, 4), guidance_scale=2.0,
                 num_latent_frames_per_chunk=NATIVE, pyramid_num_inference_steps_list=[1, 1], output_type=output_type,
                 generator=torch.Generator().manual_seed(seed)).frames


def test_guidance_on_helios_distilled_guides_with_no_warning_that_it_is_ignored(pyramid):
    """Helios-Distilled (``is_distilled``) at guidance 2: its call guides (the video differs from guidance 1's, as its call's
    ``do_classifier_free_guidance`` says), and diffusers' warning that the guidance is ignored, untrue, is not given
    (`vidlong generate --guidance 2` printed it)."""
    import logging

    warned = []
    handler = logging.Handler()
    handler.emit = warned.append
    logger = logging.getLogger("diffusers.pipelines.helios.pipeline_helios_pyramid")
    logger.addHandler(handler)
    try:
        guided = [generate(pyramid, GenerateRequest(prompt="a red ball", guidance=guidance)).frames for guidance in (1.0, 2.0)]
    finally:
        logger.removeHandler(handler)
    assert not np.array_equal(*guided) and [record.getMessage() for record in warned] == []


def test_the_pyramids_generate_and_stream_are_its_call_bit_for_bit(pyramid, tmp_path, capsys, monkeypatch):
    """`HeliosPyramidPipeline` (Helios-Distilled: DMD's steps over a pyramid of 2 stages, block noise drawn between its
    chunks' noise): its folder loads as vidlong's pyramid class with configs/models' Helios-Distilled defaults (2 steps a
    stage, guidance 1, one chunk of 9); `generate` at 2x with guidance 2 = its call's latents and frames from the same seed;
    a 3-chunk stream = its call's 3 chunks bit for bit, its history 19 latent frames at every chunk, one size past the
    first; a height its pyramid cannot halve refused before loading; with CFG-Zero* (``is_cfg_zero_star``) a stream's
    chunks are its call's, not plain guidance's."""
    from vidlong.models import folder_geometry, model_facts, spec_for_facts

    assert type(pyramid).__name__ == "VidLongHeliosPyramidPipeline" and pyramid.pyramid_steps(1) == [1, 1]
    spec = spec_for_facts(model_facts(pyramid.transformer.config, family="helios", pipeline="HeliosPyramidPipeline"))
    assert (spec.name, spec.native_frames, spec.num_inference_steps, spec.guidance_scale) == ("helios-pyramid", 9, 2, 1.0)
    steps = []  # the progress of its denoising: one step at each of 2 stages of 2 chunks, counted on to the end
    result = generate(pyramid, GenerateRequest(prompt="a red ball", ratio=2, seed=3, guidance=2.0),
                      progress=lambda stage, done, total: steps.append((done, total)) if stage == "denoise" else None)
    assert steps == [(done, 4) for done in range(5)]  # 0 at its first forward
    assert torch.equal(result.latents, pyramid_call(pyramid, 2, 3, "latent"))
    video = pyramid_call(pyramid, 2, 3, "np")[0]
    assert len(result.frames) == 17 and np.array_equal(result.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    stream = pyramid.stream("a red ball", chunks=3, seed=0, guidance=2.0)
    items = list(stream)
    assert torch.equal(torch.cat([item.latents for item in items], dim=2), pyramid_call(pyramid, 3, 0, "latent"))
    assert [frames for frames, _ in stream.footprints] == [19] * 3 and len({size for _, size in stream.footprints[1:]}) == 1
    folder = Path(pyramid.config._name_or_path)  # a size its pyramid cannot halve: refused before loading, naming the multiple
    assert folder_geometry(folder).pixel_multiple == pyramid.geometry().pixel_multiple == 8 * 2 * 2
    line = check_refused_before_loading(["generate", "--model", str(folder), "--prompt", "a red ball", "--height", "48"],
                                        tmp_path / "h.mp4", capsys, monkeypatch)
    assert "--height 48 must be a multiple of 32" in line

    def streamed():  # 2 chunks at 64x64: at 32x32 the smallest stage's grid is one patch, whose prediction diffusers' call
        # cannot .view for CFG-Zero* (no release's grid is that small)
        return torch.cat([item.latents for item in pyramid.stream("a red ball", chunks=2, seed=0, guidance=2.0, height=64,
                                                                    width=64)], dim=2)

    plain = streamed()
    pyramid.register_to_config(is_cfg_zero_star=True)  # CFG-Zero*: a stream's chunks are its call's, not plain guidance's
    try:
        zero_star = streamed()
        assert torch.equal(zero_star, pyramid_call(pyramid, 2, 0, "latent", size=64)) and not torch.equal(zero_star, plain)
    finally:
        pyramid.register_to_config(is_cfg_zero_star=False)


@pytest.fixture(scope="module")
def four(folder, tmp_path_factory):
    """The folder's copy whose call's chunk, and so its native window and a stream's chunk, is 4 latent frames (13 pixel
    frames), past vidlong's generic chunk of 3."""
    import shutil

    return write_spec(shutil.copytree(folder, tmp_path_factory.mktemp("helios-four") / "four"), 4)


def test_a_streams_chunk_is_its_calls_unless_one_is_given(four):
    """Of a folder whose call's chunk is 4 latent frames, `pipe.stream(prompt)` streams chunks of 4, a given
    `Streaming(chunk=2)` 2 (`vidlong stream`: `test_cli_stream_and_extend_write_their_mp4s`; the app's Stream tab: test_app's
    page test); `vidlong info` says so (the embedded model's: vidlong's 3)."""
    from vidlong.info import info_lines, model_info
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(four, device="cpu")
    assert [pipe.stream("a red ball", streaming, chunks=1).schedule.chunk for streaming in (None, Streaming(chunk=2))] == [4, 2]
    info = model_info(four)
    assert [model_info(folder)["spec"]["stream_chunk"] for folder in (four, "default")] == [4, 3]
    assert "4 latent frames a chunk by default" in info_lines(info)[1]


def test_seconds_count_chunks_decoded_alone(pipe):
    """Each chunk is decoded on its own (9 frames a chunk of 3 latent frames, not 12 after the first): 0.8 s at 24 fps (20
    frames) is 3 chunks (27 frames), not 2 (18 frames, 0.75 s), for a stream and for an extension alike; the prompt of
    second 0.76 (frame 18.24) starts with chunk 3, chunk 2 starting at frame 18, and that of second 0.375 with chunk 1."""
    from vidlong.schedulers.stream import stream_chunk_count

    stream = pipe.stream("a red ball", Streaming(chunk=NATIVE), seconds=0.8)
    assert stream.chunks == 3 and [stream.first_chunk_from(second) for second in (0.375, 0.76)] == [1, 3]
    assert stream_chunk_count(limits_for_pipeline(pipe), Streaming(chunk=NATIVE), None, 0.8, input_fps=24) == 3


def test_cli_stream_and_extend_write_their_mp4s(folder, four, pyramid, tmp_path):
    """`vidlong stream --chunks 2` of a folder whose call's chunk is 4 latent frames: with no --chunk, 2 chunks of its call's
    4 (13 frames each, decoded alone) of 16x16 at 24 fps; `vidlong extend` of a 13-frame video (its last
    9 frames encoded as one chunk, its first alone) by 2 chunks of 3 latent frames: its frames first, then 18 new ones;
    `vidlong generate --ratio 2 --save-latents` (17 frames of 2 chunks) continued by `vidlong extend --video --latents`
    (its 6 latent frames, which decode chunk by chunk to its 17 frames) by a chunk: its frames, then 9 new ones."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(four), "--prompt", "a red ball", "--chunks", "2", "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (2 * 13, 16, 16, 3) and fps == pytest.approx(24)
    pyramids = tmp_path / "pyramid.mp4"
    assert main(["stream", "--model", str(pyramid.config["_name_or_path"]), "--prompt", "a red ball", "--chunks", "2", "--out",
                 str(pyramids)]) == 0
    assert read_video(pyramids)[0].shape == (2 * 9, 32, 32, 3)
    check_cli_extension(folder, tmp_path, temporal=9, fps=24, size=(16, 16, 3), chunk=NATIVE)
    made, latents, more = tmp_path / "made.mp4", tmp_path / "made.pt", tmp_path / "more.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--save-latents", str(latents),
                 "--out", str(made)]) == 0
    assert main(["extend", "--model", str(folder), "--video", str(made), "--latents", str(latents), "--chunks", "1",
                 "--prompt", "a red ball", "--out", str(more)]) == 0
    assert read_video(made)[0].shape[0] == 17 and read_video(more)[0].shape[0] == 17 + 9


def test_a_video_shorter_than_a_chunk_is_refused_in_one_line(folder, pipe, tmp_path, capsys, monkeypatch):
    """Its call encodes a video it continues in whole chunks (9 frames here), each alone: `vidlong extend` of an 8-frame
    video is refused in one line before loading, `pipe.extend` of it with the same words before anything is encoded; the
    refusal of `pipe.stream`'s image points to an extension of a video of those 9 frames, not of 1."""
    from vidlong.video_io import write_video

    short = write_video(tmp_path / "short.mp4", np.zeros((8, 16, 16, 3), np.uint8), 24)
    says = "has 8 frames; this model's call encodes a video it continues in whole chunks of 9 frames, each on its own"
    args = ["extend", "--model", str(folder), "--prompt", "a red ball", "--video", str(short), "--chunks", "1"]
    assert f"--video {says}: pass a video of at least 9 frames" in check_refused_before_loading(args, tmp_path / "e.mp4",
                                                                                                 capsys, monkeypatch)
    with pytest.raises(VidlongError, match=fr"video \(--video\) {says}"):
        pipe.extend("a red ball", video=np.zeros((8, 16, 16, 3), np.uint8), chunks=1)
    with pytest.raises(VidlongError, match=r"takes no image .* `vidlong extend --video` from a video of at least 9 frames$"):
        pipe.stream("a red ball", chunks=1, image=Image.new("RGB", (16, 16)))


def test_an_extension_encodes_the_whole_chunks_that_hold_its_history(pipe):
    """An extension reads what its call's forwards read of a given video, its 19 latent frames of history
    (`HeliosAdapter.extension_frames`, its call's history_sizes), whatever the chunk: the fewest whole chunks that hold
    them are encoded from the video's end, each alone: here 7 chunks of 9 frames (63), so all 3 of a 30-frame video (9
    latent frames; the stream's sinks and window with a warm-up read 2); the real model's 3 chunks of 33 frames, also
    with a chunk of 6 (whose sinks and window with a warm-up would read less than one chunk)."""
    from vidlong.attention.adapters.helios import HELIOS
    from vidlong.extend import encoded_frames, extension_context, extension_prefix
    from vidlong.families.helios import CALL_DEFAULTS
    from vidlong.models import ModelSpec

    assert HELIOS.extension_frames == sum(CALL_DEFAULTS["history_sizes"]) == 19
    assert encoded_frames(pipe.spec, extension_context(pipe.spec, Streaming(chunk=NATIVE), "helios"), NATIVE) == 63
    prefix = extension_prefix(pipe, Streaming(chunk=NATIVE), video=np.zeros((30, 16, 16, 3), np.uint8))
    assert prefix.latents.shape[2] == 9
    real = ModelSpec(name="helios", native_frames=9)
    assert [encoded_frames(real, extension_context(real, Streaming(chunk=chunk), "helios"), 9) for chunk in (9, 6)] == [99] * 2


#: what it refuses before loading, and what the refusal says
REFUSED = [(["generate", "--ratio", "2", "--method", "ultravico"], "its own bounded, compressed history"),
           (["generate", "--ratio", "2", "--method", "riflex"], "its own bounded, compressed history"),
           (["generate", "--ratio", "2", "--method", "fifo"], "stream it instead"),
           (["generate", "--frames", "24"], "use --frames 17 or 25"),
           (["generate", "--image", "in.png"], "takes no --image; use an image-to-video model folder (Wan, SkyReels-V2, "
                                               "LTX-Video, LTX-2, CogVideoX, HunyuanVideo, Kandinsky 5 and 6, Motif-Video, "
                                               "EasyAnimate, FramePack, Cosmos-Predict2.5, Cosmos-Predict2 and 1.0 Video2World, "
                                               "Cosmos 3 or Sana-Video), or "
                                               "`vidlong extend "
                                               "--video` from a video of at "
                                               "least 9 frames"),
           (["stream", "--chunks", "2", "--context", "renoise"], "renoise is not available for HeliosTransformer3DModel"),
           (["stream", "--chunks", "2", "--sinks", "1"], "its call's own history"),
           (["stream", "--chunks", "2", "--first-chunk", "1"], "drop --first-chunk"),
           (["stream", "--chunks", "2", "--sampler", "causal"], "its own scheduler's steps"),
           (["stream", "--chunks", "2", "--no-recache"], "--no-recache: a Helios stream keeps no KV cache")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """The methods (its attention spans one chunk and its history), fifo's queue, a length off its chunks, an image (the
    refusal pointing to an extension of a video of one chunk's frames, the fewest it extends), a re-noised context, sinks
    or a window, a first chunk of its own, the causal sampler, a cache kept on a prompt switch."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)


def test_block_noise_where_its_float32_factor_fails(pyramid, monkeypatch):
    """Its call's block noise (each 2x2 patch correlated by ``(1+γ)·I - γ·J``): at γ = 1/4, where its float32 Cholesky
    factor exists on every CPU, vidlong's `block_noise` is its `sample_block_noise` bit for bit; where the factor fails (a
    float32 Cholesky that raises, as strict LAPACK builds do at its γ = 1/3), the same draws mixed by the float64 factor:
    within float32 rounding of its noise at γ = 1/4, and at γ = 1/3 finite, with the patches' covariance its matrix."""
    from diffusers import HeliosPyramidPipeline

    def draw(pipe, shape=(1, 2, 3, 8, 8)):
        return pipe.sample_block_noise(*shape, (1, 2, 2), "cpu", torch.Generator().manual_seed(5))

    gamma = pyramid.scheduler.config.gamma
    pyramid.scheduler.register_to_config(gamma=0.25)
    try:
        stock = HeliosPyramidPipeline.sample_block_noise(pyramid, 1, 2, 3, 8, 8, (1, 2, 2), "cpu", torch.Generator().manual_seed(5))
        assert torch.equal(draw(pyramid), stock)
        listed = pyramid.sample_block_noise(1, 2, 3, 8, 8, (1, 2, 2), "cpu", [torch.Generator().manual_seed(5)])
        assert torch.equal(listed, stock)  # a list of generators, as its call takes one
        cholesky = torch.linalg.cholesky

        def strict_cholesky(matrix, *args, **kwargs):
            if matrix.dtype == torch.float32:
                raise torch.linalg.LinAlgError("linalg.cholesky: the input is not positive-definite")
            return cholesky(matrix, *args, **kwargs)

        monkeypatch.setattr(torch.linalg, "cholesky", strict_cholesky)
        assert torch.allclose(draw(pyramid), stock, rtol=1e-5, atol=1e-6)
        listed = pyramid.sample_block_noise(1, 2, 3, 8, 8, (1, 2, 2), "cpu", [torch.Generator().manual_seed(5)])
        assert torch.allclose(listed, stock, rtol=1e-5, atol=1e-6)
        pyramid.scheduler.register_to_config(gamma=1 / 3)
        noise = draw(pyramid, (1, 4, 8, 32, 32))
        patches = noise.reshape(1, 4, 8, 16, 2, 16, 2).permute(0, 1, 2, 3, 5, 4, 6).reshape(-1, 4)
        expected = torch.eye(4) * (4 / 3) - 1 / 3
        assert torch.isfinite(noise).all() and torch.allclose(patches.T @ patches / len(patches), expected, atol=0.05)
    finally:
        pyramid.scheduler.register_to_config(gamma=gamma)
