"""LTX-2.5's diffusion decoder after an LTX-2 video (`vidlong.families.ltx2_decoder`, ``vidlong generate --decoder
FOLDER``): `generate`'s frames are diffusers' own two calls bit for bit (the LTX-2 pipeline with ``output_type="latent"``,
then `LTX2VideoDiffusionDecodePipeline` with ``denormalize=False`` and a generator of the seed), its sound and latents
those of the video the VAE decodes; the CLI writes the mp4 with its sound; what it cannot decode is refused in one line
before loading; `vidlong info` on the decoder's folder names what to do with it. A tiny random LTX-2 folder and a tiny
random decoder folder (one block a stage, its flex attention run eagerly on the CPU)."""
import json

import numpy as np
import pytest
import torch
from family_checks import check_refused_before_loading

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate

REQUEST = dict(prompt="a red ball", seed=3)  # its native 2 latent frames: 9 frames at 24 fps, 64x64


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(a tiny LTX-2.3 folder, a tiny `LTX2VideoDiffusionDecodePipeline` folder)."""
    from tiny_pipeline import save_tiny_ltx2_decoder, save_tiny_ltx2_pipeline

    return (save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("ltx2"), latest=True),
            save_tiny_ltx2_decoder(tmp_path_factory.mktemp("ltx2-decoder")))


@pytest.fixture(scope="module")
def pipe(folders):
    pipe = vidlong.load_pipeline(folders[0])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_generate_decoder_is_diffusers_two_calls_bit_for_bit_with_its_sound(folders, pipe):
    """`generate` with ``decoder`` the folder: its frames are diffusers' LTX2Pipeline (from the folder, seed 3,
    ``output_type="latent"``) then the decode pipeline (``denormalize=False``, a generator of seed 3), rounded as vidlong
    rounds, not the VAE's; its sound is the one diffusers' decoding call makes of that call's audio latents (its audio VAE,
    then its vocoder); the settings name the folder and its one step."""
    from diffusers import LTX2Pipeline, LTX2VideoDiffusionDecodePipeline

    from vidlong.video_io import rounded_uint8

    decoded = generate(pipe, GenerateRequest(**REQUEST, decoder=str(folders[1])))
    assert decoded.frames.shape == (9, 64, 64, 3) and decoded.latents.shape == (1, 4, 2, 2, 2)
    assert decoded.settings["decoder"] == str(folders[1])
    assert decoded.settings["decoder_pass"] == dict(num_inference_steps=1, seed=3)

    stock = LTX2Pipeline.from_pretrained(folders[0])
    stock.set_progress_bar_config(disable=True)
    out = stock("a red ball", num_frames=9, height=64, width=64, num_inference_steps=2, guidance_scale=3.0, frame_rate=24,
                output_type="latent", generator=torch.Generator().manual_seed(3))
    decode = LTX2VideoDiffusionDecodePipeline.from_pretrained(folders[1])
    frames = decode(out.frames, generator=torch.Generator().manual_seed(3), output_type="np", denormalize=False).frames[0]
    assert np.array_equal(rounded_uint8(frames), decoded.frames)
    with torch.no_grad():  # as its call's output_type="np" branch decodes them
        sound = stock.vocoder(stock.audio_vae.decode(out.audio.to(stock.audio_vae.dtype), return_dict=False)[0])
    assert decoded.audio.rate == 16000 and np.array_equal(sound[0].clamp(-1, 1).numpy(), decoded.audio.samples)
    assert not np.array_equal(pipe.decode_uint8(decoded.latents), decoded.frames)  # the VAE's frames are others


def test_vidlong_generate_decoder_writes_the_mp4_with_its_sound(folders, tmp_path, capsys):
    """``vidlong generate --decoder FOLDER``: its 9 frames at 64x64 and 24 fps, the sidecar naming the folder, the sound as
    long as the video, the estimate line saying what it counts."""
    from conftest import mp4_audio

    from vidlong.video_io import read_video

    out = tmp_path / "decoded.mp4"
    assert main(["generate", "--model", str(folders[0]), "--prompt", "a red ball", "--seed", "3", "--decoder",
                 str(folders[1]), "--out", str(out)]) == 0
    assert "beyond the loaded model; with LTX-2.5's diffusion decoder's attention mask" in capsys.readouterr().out
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (9, 64, 64, 3) and fps == 24
    assert settings["decoder"] == str(folders[1]) and settings["decoder_pass"]["num_inference_steps"] == 1
    assert abs(mp4_audio(out, 16000, channels=2).shape[1] / 16000 - 9 / 24) < 0.1


#: (the command and the arguments after the model and prompt, the model given, what the refusal says); "{ltx2}",
#: "{decoder}", "{tmp}" the folders
REFUSED = {
    "missing": (["generate", "--decoder", "{tmp}/none"], "{ltx2}", "no folder at {tmp}/none; pass the folder of LTX-2.5's "
                                                                   "diffusion decoder (LTX2VideoDiffusionDecodePipeline)"),
    "empty": (["generate", "--decoder", "{tmp}"], "{ltx2}", "holds no diffusers pipeline, not LTX-2.5's diffusion decoder"),
    "a-model": (["generate", "--decoder", "{ltx2}"], "{ltx2}", "holds a LTX2Pipeline, not LTX-2.5's diffusion decoder"),
    "wan": (["generate", "--decoder", "{decoder}"], "default", "this model (WanPipeline) is none of them: drop --decoder"),
    "upsample": (["generate", "--decoder", "{decoder}", "--upsample", "{tmp}"], "{ltx2}",
                 "--decoder decodes the video's own latents, and --upsample the upsampled ones (by the VAE): drop one"),
    "stream": (["stream", "--decoder", "{decoder}"], "{ltx2}", "vidlong stream decodes its chunks by the VAE as they come: "
                                                               "drop --decoder"),
    "extend": (["extend", "--video", "{tmp}/none.mp4", "--decoder", "{decoder}"], "{ltx2}", "drop --decoder"),
    "as-model": (["generate"], "{decoder}", "holds a LTX2VideoDiffusionDecodePipeline, LTX-2.5's diffusion decoder, not a "
                                            "video model: pass it to vidlong generate --decoder"),
    "info": (["info"], "{decoder}", "LTX-2.5's diffusion decoder, not a video model: pass it to vidlong generate --decoder"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_it_cannot_decode_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, case):
    """Each refusal one line, exit code 2, no model loaded: a missing folder, one holding no pipeline or another (an LTX-2
    model), another family's model, ``--upsample`` beside it, ``stream`` and ``extend``, and the decoder's folder given as
    the model, to ``generate`` and to ``info``."""
    args, model, says = REFUSED[case]
    fill = dict(ltx2=folders[0], decoder=folders[1], tmp=tmp_path / "given")
    (tmp_path / "given").mkdir()
    command = [args[0], "--model", model.format(**fill), *([] if args[0] == "info" else ["--prompt", "a red ball"]),
               *[arg.format(**fill) for arg in args[1:]]]
    if args[0] == "info":  # it writes nothing and loads nothing: its one line and exit code
        capsys.readouterr()
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
        return
    line = check_refused_before_loading(command, tmp_path / "x.mp4", capsys, monkeypatch)
    assert says.format(**fill) in line, line


def test_from_python_refine_beside_it_is_refused_in_one_line(folders):
    """`GenerateRequest` with ``decoder`` and ``refine``: one line naming both fields, before loading."""
    from vidlong.validate import check_generate, limits_for_folder

    with pytest.raises(vidlong.VidlongError, match=r"^decoder \(--decoder\) decodes the video's own latents, and refine "
                                                   r"\(--refine\) the upsampled ones \(by the VAE\): drop one of them$"):
        check_generate(GenerateRequest(**REQUEST, decoder=str(folders[1]), refine=True), limits_for_folder(folders[0]))
