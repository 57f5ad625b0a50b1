"""LTX-Video's and LTX-2's latent upsamplers after a generated video (`vidlong.upsample`, ``vidlong generate --upsample``):
`generate` with ``upsample`` = vidlong's own latents of the video, then diffusers' latent upsample pipeline over the same
VAE and upsampler (its defaults, the VAE's spatial tiling on, as its docstring does), bit for bit, LTX-2's sound unchanged;
the CLI's mp4 at twice the size with its sound; from an image too; on every other LTX pipeline vidlong serves (LTX-Video's
condition and long multi-prompt pipelines, LTX-2's condition and in-context ones), the video's own latents (no condition or
reference tokens, the long call's windows joined); what it cannot upsample refused in one line before loading; `vidlong
info`'s line. Tiny random LTX-Video and LTX-2 folders, each with a tiny random upsampler of diffusers' class in
``latent_upsampler/``."""
import json
import shutil

import numpy as np
import pytest
import torch

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate

FAMILIES = ("ltx-video", "ltx-2")
REQUEST = dict(prompt="a red ball", ratio=2, method="both", seed=3)  # 4 latent frames = 25 frames, 64x64


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """family: a tiny folder of it with its own ``latent_upsampler/``."""
    from tiny_pipeline import save_tiny_latent_upsampler, save_tiny_ltx2_pipeline, save_tiny_ltx_pipeline

    made = {"ltx-video": save_tiny_ltx_pipeline(tmp_path_factory.mktemp("ltx")),
            "ltx-2": save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("ltx2"), latest=True)}
    for family, folder in made.items():
        save_tiny_latent_upsampler(folder / "latent_upsampler", family)
    return made


def without_upsampler(folder, where):
    """`folder`'s parts linked into `where`, all but its ``latent_upsampler/``."""
    where.mkdir()
    for part in folder.iterdir():
        if part.name != "latent_upsampler":
            (where / part.name).symlink_to(part)
    return where


def upsample_pipeline_folder(folder, where):
    """`folder`'s VAE and upsampler linked into `where` as a diffusers `LTXLatentUpsamplePipeline` folder."""
    where.mkdir()
    for part in ("vae", "latent_upsampler"):
        (where / part).symlink_to(folder / part)
    (where / "model_index.json").write_text(json.dumps({
        "_class_name": "LTXLatentUpsamplePipeline", "vae": ["diffusers", "AutoencoderKLLTXVideo"],
        "latent_upsampler": ["diffusers.pipelines.ltx.modeling_latent_upsampler", "LTXLatentUpsamplerModel"]}))
    return where


def as_uint8(frames):
    """A float video ``[T, H, W, 3]`` as vidlong rounds one."""
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def stock_upsampled(folder, family, latents, height, width):
    """uint8 frames of diffusers' latent upsample pipeline of `family` on normalised `latents` of a `height` x `width` video,
    built as its docstring builds it (a VAE and the upsampler loaded from `folder` by diffusers, ``vae.enable_tiling()``),
    its defaults, seed 3."""
    from diffusers import AutoencoderKLLTX2Video, AutoencoderKLLTXVideo, LTX2LatentUpsamplePipeline, LTXLatentUpsamplePipeline
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    vae_class, model_class, pipeline_class = {
        "ltx-video": (AutoencoderKLLTXVideo, LTXLatentUpsamplerModel, LTXLatentUpsamplePipeline),
        "ltx-2": (AutoencoderKLLTX2Video, LTX2LatentUpsamplerModel, LTX2LatentUpsamplePipeline)}[family]
    stock = pipeline_class(vae=vae_class.from_pretrained(folder, subfolder="vae"),
                           latent_upsampler=model_class.from_pretrained(folder, subfolder="latent_upsampler"))
    stock.set_progress_bar_config(disable=True)
    stock.vae.enable_tiling()  # as the docstring does (its tiles start past 512 pixels: not these)
    extra = dict(latents_normalized=True) if family == "ltx-2" else {}  # LTX-Video's call de-normalises given latents itself
    return as_uint8(stock(latents=latents, height=height, width=width, output_type="np",
                          generator=torch.Generator().manual_seed(3), **extra).frames[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_upsample_is_its_latents_through_diffusers_upsample_pipeline_bit_for_bit(folders, family, monkeypatch):
    """`generate(upsample=True)` with both methods at 2x, its upsampler checked once (`check_upsample`, by
    `check_generate`): its latents are the video's without ``upsample`` (bit for bit), and
    its frames are diffusers' latent upsample pipeline called on them as its docstring builds it (a VAE and the upsampler
    loaded from the folder by diffusers, ``vae.enable_tiling()``) with its defaults, at twice the size; LTX-2's sound is
    the video's without ``upsample``; the pipeline's VAE decodes the upsampled latents tiled and is untiled again after;
    an upsampler folder given by path (a folder holding ``latent_upsampler/``) gives the same video."""
    folder = folders[family]
    pipe = vidlong.load_pipeline(folder)
    pipe.set_progress_bar_config(disable=True)
    tiling = []  # the VAE's spatial tiling as its decoder runs
    hook = pipe.vae.decoder.register_forward_pre_hook(lambda *_: tiling.append(pipe.vae.use_tiling))
    checks, check = [], vidlong.validate.check_upsample
    monkeypatch.setattr(vidlong.validate, "check_upsample", lambda *args: checks.append(args[0]) or check(*args))
    upsampled = generate(pipe, GenerateRequest(**REQUEST, upsample=True))
    hook.remove()
    assert checks == [True]
    plain = generate(pipe, GenerateRequest(**REQUEST))
    assert torch.equal(upsampled.latents, plain.latents) and plain.frames.shape == (25, 64, 64, 3)
    assert upsampled.frames.shape == (25, 128, 128, 3) and tiling[-1] and not pipe.vae.use_tiling
    assert (upsampled.settings["height"], upsampled.settings["upsampled_height"]) == (64, 128)
    assert upsampled.settings["upsample"] == str(folder / "latent_upsampler")
    if family == "ltx-2":
        assert np.array_equal(upsampled.audio.samples, plain.audio.samples)

    assert np.array_equal(stock_upsampled(folder, family, plain.latents, 64, 64), upsampled.frames)

    separate = folder.parent / f"{family}-upsampler"
    shutil.copytree(folder / "latent_upsampler", separate / "latent_upsampler", dirs_exist_ok=True)
    again = generate(pipe, GenerateRequest(**REQUEST, upsample=separate))
    assert np.array_equal(again.frames, upsampled.frames) and again.settings["upsample"] == str(separate / "latent_upsampler")


@pytest.mark.parametrize("family", FAMILIES)
def test_vidlong_generate_upsample_writes_the_mp4_at_twice_the_size(folders, family, tmp_path, capsys):
    """``vidlong generate --upsample`` (the folder's own) and ``--upsample FOLDER`` (an upsampler's own folder): the mp4 at
    128x128 from a 64x64 video, 25 frames at the spec's rate, the sidecar naming the upsampler and both sizes; LTX-2's
    with its sound as long as the video; its estimate line says what it counts of the upsampled decode."""
    from conftest import mp4_audio

    from vidlong.video_io import read_video

    folder = folders[family]
    for index, upsample in enumerate(([], [str(folder / "latent_upsampler")])):
        out = tmp_path / f"up{index}.mp4"
        assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--method", "both",
                     "--seed", "3", "--upsample", *upsample, "--out", str(out)]) == 0
        assert ("beyond the loaded model; with the latent upsampler's 2x video decoded at 128x128 (its memory counted; the "
                "upsampler's compute and that decode's time not)\n") in capsys.readouterr().out
        frames, fps = read_video(out)
        settings = json.loads(out.with_suffix(".json").read_text())
        assert frames.shape == (25, 128, 128, 3) and fps == (25 if family == "ltx-video" else 24)
        assert (settings["width"], settings["upsampled_width"], settings["upsample"]) == (64, 128, str(folder / "latent_upsampler"))
        if family == "ltx-2":
            assert abs(mp4_audio(out, 16000).shape[1] / 16000 - 25 / 24) < 0.1


def test_a_rational_upsampler_is_counted_and_named_at_its_own_scale(folders, tmp_path):
    """An LTX-2 upsampler of 1.5x (its rational resampler's ``rational_spatial_scale``, read from its config alone:
    `vidlong.upsample.spatial_scale`; the folder's own, 2): a 64x64 video's 2x2 latents come out of it 3x3, which decode
    to 96x96 (its VAE's 32 pixels a latent), the size `run_cost` decodes its 25 frames at (and stage 2's when refined),
    and the app's box says "Upsample 1.5x", its length note "upsampled 1.5x" with what the estimate leaves out."""
    from tiny_pipeline import save_tiny_latent_upsampler

    from vidlong.apps import gradio_app
    from vidlong.estimate import run_cost
    from vidlong.upsample import spatial_scale, upsampled

    rational = save_tiny_latent_upsampler(tmp_path / "x1.5", "ltx-2", scale=1.5)
    assert (spatial_scale(rational), spatial_scale(folders["ltx-2"] / "latent_upsampler")) == (1.5, 2.0)
    pipe = vidlong.load_pipeline(folders["ltx-2"])
    latents = torch.randn(1, pipe.vae.config.latent_channels, 4, 2, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        sides = upsampled(pipe, latents, rational, output_type="latent").shape[3:]
    cost, refined = (run_cost(pipe, GenerateRequest(**REQUEST, upsample=str(rational), refine=refine), 4) for refine in (0, 1))
    assert [side * pipe.vae_spatial_compression_ratio for side in sides] == [96, 96] and cost.upsampled == (1.5, 96, 96)
    assert cost.video_bytes == 25 * 96 * 96 * 3
    assert refined.flops > cost.flops and refined.peak_bytes >= cost.peak_bytes
    app = gradio_app.App(pipe, upsample=rational)
    assert app.upsample_label == "Upsample 1.5x" and gradio_app.App(pipe).upsample_label == "Upsample 2x"
    note = app.length_note(2, "none", gradio_app.NO_PRESET, None, None, None, None, None, *[None] * 9, True)
    assert ("Then upsampled 1.5x by its latent upsampler. " in note and "beyond the model; with the latent upsampler's 1.5x "
            "video decoded at 96x96 (its memory counted; the upsampler's compute and that decode's time not)." in note), note


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_to_video_upsample_keeps_the_videos_latents(folders, family, image_path):
    """With ``--image`` (the folder as its image-to-video pipeline), `generate(upsample=True)`'s latents are the video's
    without ``upsample`` bit for bit, its frames twice the size (a 32x32 image: the spec's 64x64, 128x128 upsampled)."""
    pipe = vidlong.load_pipeline(folders[family], task="i2v")
    pipe.set_progress_bar_config(disable=True)
    upsampled = generate(pipe, GenerateRequest(**REQUEST, image=str(image_path), upsample=True))
    plain = generate(pipe, GenerateRequest(**REQUEST, image=str(image_path)))
    assert torch.equal(upsampled.latents, plain.latents) and upsampled.frames.shape == (25, 128, 128, 3)


#: each LTX pipeline kind beside LTXPipeline, LTX2Pipeline and their image-to-video twins: (the diffusers class its tiny
#: folder is saved as, its family, its spec's overrides, the task it loads as, the request's arguments beyond prompt and
#: seed: "{image}", "{last}", "{reference}" the test's files). LTX-2's first-last-frame: the last frame a keyframe whose
#: tokens follow the video's; its in-context: a reference video's tokens after the video's; the long multi-prompt: no
#: method, 13 latent frames (97 pixel frames at 96x96, as its tiled decode needs), its call's 2 windows joined.
PIPELINE_KINDS = {
    "ltx-condition": ("LTXConditionPipeline", "ltx-video", {}, None, dict(ratio=2, method="both")),
    "ltx-condition-image": ("LTXConditionPipeline", "ltx-video", {}, "i2v", dict(ratio=2, method="both", image="{image}")),
    "ltx-long": ("LTXI2VLongMultiPromptPipeline", "ltx-video",
                 dict(native_frames=10, height=96, width=96, num_inference_steps=3, guidance_scale=1.0), None, dict(frames=97)),
    "ltx2-first-last-frame": ("LTX2ConditionPipeline", "ltx-2", {}, "i2v",
                              dict(ratio=2, method="both", image="{image}", last_image="{last}")),
    "ltx2-in-context": ("LTX2InContextPipeline", "ltx-2", {}, None, dict(method="both", control_video="{reference}")),
}


@pytest.fixture(scope="module")
def kind_folder(tmp_path_factory):
    """kind (`PIPELINE_KINDS`) -> its tiny folder with its own ``latent_upsampler/``, saved on first use."""
    from tiny_pipeline import save_tiny_latent_upsampler, save_tiny_ltx2_pipeline, save_tiny_ltx_pipeline

    saved = {}

    def folder_of(kind):
        pipeline, family, spec = PIPELINE_KINDS[kind][:3]
        if (pipeline, family) not in saved:
            made = tmp_path_factory.mktemp(pipeline)
            if family == "ltx-video":
                save_tiny_ltx_pipeline(made, pipeline=pipeline, **spec)
            else:
                save_tiny_ltx2_pipeline(made, latest=True, pipeline=pipeline, **spec)
            saved[pipeline, family] = save_tiny_latent_upsampler(made / "latent_upsampler", family).parent
        return saved[pipeline, family]
    return folder_of


@pytest.fixture(scope="module")
def reference_video(tmp_path_factory):
    """A 25-frame 48x48 mp4 at 24 fps: the in-context pipeline's reference (its video's length)."""
    from vidlong.video_io import write_video

    frames = np.random.default_rng(4).integers(0, 255, (25, 48, 48, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("reference") / "pose.mp4", frames, 24)


def call_decode(pipe, latents):
    """uint8 frames ``[T, H, W, 3]`` of normalised latents ``[1, C, F, h, w]`` decoded as the pipeline's own call decodes
    its final ones (diffusers' code, no decode noise: the tiny VAEs take no timestep): the long multi-prompt call's tiled
    decode with its defaults, else de-normalised and decoded whole."""
    with torch.no_grad():
        if hasattr(pipe, "vae_decode_tiled"):
            video = pipe.vae_decode_tiled(latents, output_type="np")
        else:
            vae = pipe.vae
            z = pipe._denormalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
            video = pipe.video_processor.postprocess_video(vae.decode(z, None, return_dict=False)[0], output_type="np")
    return as_uint8(video[0])


@pytest.mark.parametrize("kind", list(PIPELINE_KINDS))
def test_every_ltx_pipeline_upsamples_its_videos_own_latents_bit_for_bit_into_a_2x_mp4(kind_folder, kind, image_path,
                                                                                       last_image_path, reference_video,
                                                                                       tmp_path):
    """LTX-Video's condition pipeline (text; an image), its long multi-prompt pipeline, LTX-2's condition pipeline (a first
    and a last frame) and its in-context pipeline (a reference video): `generate(upsample=True)`'s latents are the video's
    without ``upsample`` bit for bit, and those are the video's own (``[1, C, F, h, w]`` of its latent frames, decoded as
    its call decodes them they give its frames: no condition or reference tokens, the long call's windows joined, not one
    window's); its frames are diffusers' latent upsample pipeline on them (`stock_upsampled`), at twice the size; LTX-2's
    sound is the video's without ``upsample``; ``vidlong generate --upsample`` writes the mp4 at twice the size."""
    from vidlong.video_io import read_video

    pipeline, family, _, task, given = PIPELINE_KINDS[kind]
    folder = kind_folder(kind)
    files = dict(image=image_path, last=last_image_path, reference=reference_video)
    arguments = {name: value.format(**files) if isinstance(value, str) else value for name, value in given.items()}
    pipe = vidlong.load_pipeline(folder, task=task)
    pipe.set_progress_bar_config(disable=True)
    upsampled = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, upsample=True, **arguments))
    plain = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, **arguments))
    frames, height, width = plain.settings["latent_frames"], plain.settings["height"], plain.settings["width"]
    assert torch.equal(upsampled.latents, plain.latents) and plain.latents.shape[2:] == (frames, height // 32, width // 32)
    assert np.array_equal(call_decode(pipe, plain.latents), plain.frames)
    assert upsampled.frames.shape == (len(plain.frames), 2 * height, 2 * width, 3)
    assert np.array_equal(upsampled.frames, stock_upsampled(folder, family, plain.latents, height, width))
    if family == "ltx-2":
        assert np.array_equal(upsampled.audio.samples, plain.audio.samples)

    out = tmp_path / f"{kind}.mp4"
    flags = {"image": "--image", "last_image": "--last-image", "control_video": "--control-video", "ratio": "--ratio",
             "method": "--method", "frames": "--frames"}
    cli = [part for name, value in arguments.items() for part in (flags[name], str(value))]
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--seed", "3", *cli, "--upsample",
                 "--out", str(out)]) == 0
    assert read_video(out)[0].shape == upsampled.frames.shape


def write_config(folder, **config):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("model, args, message", [
    ("wan", ["generate", "--upsample"], "--upsample upsamples LTX-Video's and LTX-2's latents by their latent upsampler; "
                                        "this model (WanPipeline) has none: drop --upsample"),
    ("bare", ["generate", "--upsample"], "has no latent_upsampler/ folder; pass the folder of LTX-Video's latent upsampler "
                                         "(--upsample path/to/upsampler)"),
    ("bare", ["generate", "--upsample", "{tmp}/missing"], "--upsample: no folder at {tmp}/missing; pass the folder of "
                                                          "LTX-Video's latent upsampler"),
    ("bare", ["generate", "--upsample", "{tmp}/ltx2-upsampler"], "holds a LTX2LatentUpsamplerModel, not the "
                                                                 "LTXLatentUpsamplerModel that upsamples LTX-Video's latents"),
    ("bare", ["generate", "--upsample", "{own}/transformer"], "holds a LTXVideoTransformer3DModel, not the LTXLatentUpsamplerModel"),
    ("bare", ["generate", "--upsample", "{tmp}/empty"], "holds no readable config.json of a latent upsampler"),
    ("bare", ["generate", "--upsample", "{tmp}/temporal"], "is a temporal latent upsampler (more frames, not larger ones), "
                                                           "which vidlong does not run; pass a spatial one"),
    ("bare", ["generate", "--upsample", "{tmp}/wide"], "upsamples latents of 128 channels, this model's VAE makes 4; pass the "
                                                       "latent upsampler of this model's release"),
    ("own", ["generate", "--upsample", "--save-latents", "{tmp}/x.pt"], "--save-latents would save the latents at the made "
                                                                        "size"),
    ("bare", ["generate", "--upsample", "{tmp}/k6-sr"], "holds Kandinsky 6's video super-resolution (Kandinsky6SRPipeline), "
                                                        "which sharpens Kandinsky 6's videos; pass LTX-Video's latent upsampler"),
    ("own", ["generate", "--upsample", "--upsample-scale", "2"], "--upsample-scale sets the scale of Kandinsky 6's video "
                                                                "super-resolution; LTX-Video's latent upsampler scales by its own"),
    ("own", ["stream", "--upsample", "--chunk", "1", "--chunks", "2"], "vidlong stream does not upsample its chunks: drop "
                                                                       "--upsample"),
    ("own", ["extend", "--upsample", "--video", "{tmp}/in.mp4", "--chunks", "1"], "vidlong extend does not upsample its chunks"),
    ("upsampler", ["generate"], "holds a LTXLatentUpsamplePipeline, a latent upsampler, not a video model: pass it to vidlong "
                                "generate --upsample {tmp}/upsample-pipeline beside an LTX-Video or LTX-2 --model"),
    ("own", ["generate", "--upsample", "--parallel", "ulysses"], "splits the main pass only; --upsample runs on one device"),
], ids=["wan", "no-own", "missing", "other-family", "transformer", "no-config", "temporal", "channels", "save-latents",
        "kandinsky6-sr", "upsample-scale", "stream", "extend", "upsample-pipeline-as-model", "parallel"])
def test_what_it_cannot_upsample_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, model, args,
                                                                       message):
    """Each refusal one line, exit code 2, no model loaded: another family; an LTX-Video folder without its own upsampler
    and none given; a given folder that is missing, holds another family's upsampler, a transformer, no config, a temporal
    upsampler or one of other latent channels, Kandinsky 6's video super-resolution; --upsample-scale (Kandinsky 6's
    alone); with --save-latents; stream and extend; a diffusers latent upsample pipeline's
    folder given as the model (its upsampler and VAE, as Lightricks' upsampler repositories hold them); with --parallel
    (the main pass alone is split over ranks: `vidlong.parallel.check_parallel_stages`)."""
    import vidlong.pipeline
    from tiny_pipeline import save_tiny_pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    own = folders["ltx-video"]
    models = {"wan": lambda: save_tiny_pipeline(tmp_path / "wan"), "bare": lambda: without_upsampler(own, tmp_path / "bare"),
              "own": lambda: own, "upsampler": lambda: upsample_pipeline_folder(own, tmp_path / "upsample-pipeline")}
    write_config(tmp_path / "ltx2-upsampler" / "latent_upsampler", _class_name="LTX2LatentUpsamplerModel", in_channels=4)
    (tmp_path / "empty").mkdir()
    (tmp_path / "k6-sr").mkdir()
    (tmp_path / "k6-sr" / "model_index.json").write_text(json.dumps({"_class_name": "Kandinsky6SRPipeline"}))
    write_config(tmp_path / "temporal", _class_name="LTXLatentUpsamplerModel", in_channels=4, temporal_upsample=True)
    write_config(tmp_path / "wide", _class_name="LTXLatentUpsamplerModel", in_channels=128)
    (tmp_path / "in.mp4").write_bytes(b"")
    folder, filled = models[model](), [a.format(tmp=tmp_path, own=own) for a in args]
    capsys.readouterr()  # what saving a folder printed
    assert main([*filled, "--model", str(folder), "--prompt", "a red ball", "--out", str(tmp_path / "x.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message.format(tmp=tmp_path) in err[0], err


def test_from_python_a_bad_upsample_is_refused_in_one_line(folders):
    """`GenerateRequest.upsample` neither True nor a path, and ``decode=False`` with it, refused in one line naming it."""
    pipe = vidlong.load_pipeline(folders["ltx-video"])
    with pytest.raises(vidlong.VidlongError, match=r"upsample \(--upsample\) is True \(the model folder's own"):
        generate(pipe, GenerateRequest(prompt="a red ball", upsample=2))
    with pytest.raises(vidlong.VidlongError, match=r"decodes the upsampled latents: drop decode=False"):
        generate(pipe, GenerateRequest(prompt="a red ball", upsample=True), decode=False)


def test_vidlong_info_says_whether_the_folder_has_a_latent_upsampler(folders, tmp_path):
    """`vidlong info`: ``upsample: yes`` for a folder with its own ``latent_upsampler/``, else no with generate's line (an
    LTX folder without one; another family)."""
    from tiny_pipeline import save_tiny_pipeline

    from vidlong.info import info_lines, model_info

    for folder in folders.values():
        assert model_info(folder)["can"]["upsample"] == {"yes": True}
        assert "  upsample: yes" in info_lines(model_info(folder))
    bare = model_info(without_upsampler(folders["ltx-2"], tmp_path / "bare"))["can"]["upsample"]
    assert not bare["yes"] and bare["why"].endswith("has no latent_upsampler/ folder; pass the folder of LTX-2's latent "
                                                    "upsampler (--upsample path/to/upsampler)")
    wan = model_info(save_tiny_pipeline(tmp_path / "wan"))["can"]["upsample"]
    assert wan == {"yes": False, "why": "--upsample upsamples LTX-Video's and LTX-2's latents by their latent upsampler; this "
                                        "model (WanPipeline) has none: drop --upsample"}
