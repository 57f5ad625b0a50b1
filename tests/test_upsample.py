"""LTX-Video's and LTX-2's latent upsamplers after a generated video (`vidlong.upsample`, ``vidlong generate --upsample``):
`generate` with ``upsample`` = vidlong's own latents of the video, then diffusers' latent upsample pipeline over the same
VAE and upsampler (its defaults, the VAE's spatial tiling on, as its docstring does), bit for bit, LTX-2's sound unchanged;
the CLI's mp4 at twice the size with its sound; from an image too; what it cannot upsample refused in one line before
loading; `vidlong info`'s line. Tiny random LTX-Video and LTX-2 folders, each with a tiny random upsampler of diffusers'
class in ``latent_upsampler/``."""
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


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_upsample_is_its_latents_through_diffusers_upsample_pipeline_bit_for_bit(folders, family):
    """`generate(upsample=True)` with both methods at 2x: its latents are the video's without ``upsample`` (bit for bit), and
    its frames are diffusers' latent upsample pipeline called on them as its docstring builds it (a VAE and the upsampler
    loaded from the folder by diffusers, ``vae.enable_tiling()``) with its defaults, at twice the size; LTX-2's sound is
    the video's without ``upsample``; the pipeline's VAE decodes the upsampled latents tiled and is untiled again after;
    an upsampler folder given by path (a folder holding ``latent_upsampler/``) gives the same video."""
    from diffusers import LTX2LatentUpsamplePipeline, LTXLatentUpsamplePipeline
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    folder = folders[family]
    pipe = vidlong.load_pipeline(folder)
    pipe.set_progress_bar_config(disable=True)
    tiling = []  # the VAE's spatial tiling as its decoder runs
    hook = pipe.vae.decoder.register_forward_pre_hook(lambda *_: tiling.append(pipe.vae.use_tiling))
    upsampled = generate(pipe, GenerateRequest(**REQUEST, upsample=True))
    hook.remove()
    plain = generate(pipe, GenerateRequest(**REQUEST))
    assert torch.equal(upsampled.latents, plain.latents) and plain.frames.shape == (25, 64, 64, 3)
    assert upsampled.frames.shape == (25, 128, 128, 3) and tiling[-1] and not pipe.vae.use_tiling
    assert (upsampled.settings["height"], upsampled.settings["upsampled_height"]) == (64, 128)
    assert upsampled.settings["upsample"] == str(folder / "latent_upsampler")
    if family == "ltx-2":
        assert np.array_equal(upsampled.audio.samples, plain.audio.samples)

    model_class, pipeline_class = {"ltx-video": (LTXLatentUpsamplerModel, LTXLatentUpsamplePipeline),
                                   "ltx-2": (LTX2LatentUpsamplerModel, LTX2LatentUpsamplePipeline)}[family]
    vae = type(pipe.vae).from_pretrained(folder, subfolder="vae")
    stock = pipeline_class(vae=vae, latent_upsampler=model_class.from_pretrained(folder, subfolder="latent_upsampler"))
    stock.vae.enable_tiling()  # as the docstring does (its tiles start past 512 pixels: not these)
    extra = dict(latents_normalized=True) if family == "ltx-2" else {}  # LTX-Video's call de-normalises given latents itself
    out = stock(latents=plain.latents, height=64, width=64, output_type="np", generator=torch.Generator().manual_seed(3),
                **extra).frames[0]
    assert np.array_equal(as_uint8(out), upsampled.frames)

    separate = folder.parent / f"{family}-upsampler"
    shutil.copytree(folder / "latent_upsampler", separate / "latent_upsampler", dirs_exist_ok=True)
    again = generate(pipe, GenerateRequest(**REQUEST, upsample=separate))
    assert np.array_equal(again.frames, upsampled.frames) and again.settings["upsample"] == str(separate / "latent_upsampler")


@pytest.mark.parametrize("family", FAMILIES)
def test_vidlong_generate_upsample_writes_the_mp4_at_twice_the_size(folders, family, tmp_path):
    """``vidlong generate --upsample`` (the folder's own) and ``--upsample FOLDER`` (an upsampler's own folder): the mp4 at
    128x128 from a 64x64 video, 25 frames at the spec's rate, the sidecar naming the upsampler and both sizes; LTX-2's
    with its sound as long as the video."""
    from conftest import mp4_audio

    from vidlong.video_io import read_video

    folder = folders[family]
    for index, upsample in enumerate(([], [str(folder / "latent_upsampler")])):
        out = tmp_path / f"up{index}.mp4"
        assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--method", "both",
                     "--seed", "3", "--upsample", *upsample, "--out", str(out)]) == 0
        frames, fps = read_video(out)
        settings = json.loads(out.with_suffix(".json").read_text())
        assert frames.shape == (25, 128, 128, 3) and fps == (25 if family == "ltx-video" else 24)
        assert (settings["width"], settings["upsampled_width"], settings["upsample"]) == (64, 128, str(folder / "latent_upsampler"))
        if family == "ltx-2":
            assert abs(mp4_audio(out, 16000).shape[1] / 16000 - 25 / 24) < 0.1


@pytest.mark.parametrize("family", FAMILIES)
def test_an_image_to_video_upsample_keeps_the_videos_latents(folders, family, image_path):
    """With ``--image`` (the folder as its image-to-video pipeline), `generate(upsample=True)`'s latents are the video's
    without ``upsample`` bit for bit, its frames twice the size (a 32x32 image: the spec's 64x64, 128x128 upsampled)."""
    pipe = vidlong.load_pipeline(folders[family], task="i2v")
    pipe.set_progress_bar_config(disable=True)
    upsampled = generate(pipe, GenerateRequest(**REQUEST, image=str(image_path), upsample=True))
    plain = generate(pipe, GenerateRequest(**REQUEST, image=str(image_path)))
    assert torch.equal(upsampled.latents, plain.latents) and upsampled.frames.shape == (25, 128, 128, 3)


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
    ("own", ["stream", "--upsample", "--chunk", "1", "--chunks", "2"], "vidlong stream does not upsample its chunks: drop "
                                                                       "--upsample"),
    ("own", ["extend", "--upsample", "--video", "{tmp}/in.mp4", "--chunks", "1"], "vidlong extend does not upsample its chunks"),
    ("upsampler", ["generate"], "holds a LTXLatentUpsamplePipeline, a latent upsampler, not a video model: pass it to vidlong "
                                "generate --upsample {tmp}/upsample-pipeline beside an LTX-Video or LTX-2 --model"),
], ids=["wan", "no-own", "missing", "other-family", "transformer", "no-config", "temporal", "channels", "save-latents",
        "stream", "extend", "upsample-pipeline-as-model"])
def test_what_it_cannot_upsample_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, model, args,
                                                                       message):
    """Each refusal one line, exit code 2, no model loaded: another family; an LTX-Video folder without its own upsampler
    and none given; a given folder that is missing, holds another family's upsampler, a transformer, no config, a temporal
    upsampler or one of other latent channels; with --save-latents; stream and extend; a diffusers latent upsample pipeline's
    folder given as the model (its upsampler and VAE, as Lightricks' upsampler repositories hold them)."""
    import vidlong.pipeline
    from tiny_pipeline import save_tiny_pipeline

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    own = folders["ltx-video"]
    models = {"wan": lambda: save_tiny_pipeline(tmp_path / "wan"), "bare": lambda: without_upsampler(own, tmp_path / "bare"),
              "own": lambda: own, "upsampler": lambda: upsample_pipeline_folder(own, tmp_path / "upsample-pipeline")}
    write_config(tmp_path / "ltx2-upsampler" / "latent_upsampler", _class_name="LTX2LatentUpsamplerModel", in_channels=4)
    (tmp_path / "empty").mkdir()
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
