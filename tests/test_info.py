"""`vidlong info`: a model folder's pipeline, spec and capabilities from its configs alone, each answer the command's own:
where info says no, the command refuses with exactly its line (exit 2, before loading); where it says yes, the command's
checks pass and it goes on to load the model."""
import json

import numpy as np
import pytest

import vidlong.pipeline
from vidlong.cli import main
from vidlong.errors import VidlongError

#: each capability as the command line that asks for it ({clip}: a 9-frame 64x64 mp4, the least LTX-2 takes; {png}: a 32x32 image)
ASKS = {
    "fifo": ["generate", "--method", "fifo", "--ratio", "2"],
    "stream": ["stream", "--chunks", "2"],
    "extend": ["extend", "--video", "{clip}", "--chunks", "1"],
    "image": ["generate", "--image", "{png}"],
    "last_image": ["generate", "--last-image", "{png}"],  # an image-to-video model: with its --image (NEEDS)
    "prompt_timeline": ["generate", "--prompt", "0s: a red ball; 1s: a blue ball", "--ratio", "2"],
    "redraw": ["generate", "--video", "{clip}", "--strength", "0.8"],
    "stream_redraw": ["stream", "--video", "{clip}"],
    "control_video": ["generate", "--control-video", "{clip}"],
    "driving_videos": ["generate", "--pose-video", "{clip}", "--face-video", "{clip}"],
}
#: what a plain `generate` of each kind of folder needs besides the prompt (a `stream` of an image-to-video one: its image)
NEEDS = {"i2v": ["--image", "{png}"], "animate": ["--image", "{png}", "--pose-video", "{clip}", "--face-video", "{clip}"],
         "v2v": ["--video", "{clip}"]}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from tiny_pipeline import (save_tiny_chronoedit_pipeline, save_tiny_cogvideox_fun_pipeline, save_tiny_kandinsky6_pipeline,
                               save_tiny_ltx2_pipeline, save_tiny_pipeline, save_tiny_skyreels_df_pipeline, save_tiny_vace_pipeline,
                               save_tiny_wan_animate_pipeline)

    from test_consisid import saved_folder as consisid_folder
    from test_ltx_long import saved_folder as ltx_long_folder

    root = tmp_path_factory.mktemp("info")
    return {"default": "default", "i2v": save_tiny_pipeline(root / "i2v", "i2v"), "ti2v": save_tiny_pipeline(root / "ti2v", "ti2v"),
            "vace": save_tiny_vace_pipeline(root / "vace"), "animate": save_tiny_wan_animate_pipeline(root / "animate"),
            "ltx2": save_tiny_ltx2_pipeline(root / "ltx2", native_frames=9),  # as long as the default model: its stream defaults
            "fun": save_tiny_cogvideox_fun_pipeline(root / "fun"),
            # SkyReels-V2 DF video to video, continuing the 9-frame clip (3 latent frames) in a native window of 4
            "df-v2v": save_tiny_skyreels_df_pipeline(root / "df-v2v", video_to_video=True, native_frames=4),
            "kandinsky6": save_tiny_kandinsky6_pipeline(root / "kandinsky6"),  # its sound, streamed too; an image too
            "ltx-long": ltx_long_folder(root / "ltx-long"),  # its call's windows: no stream, a prompt a window by '|'
            "consisid": consisid_folder(root / "consisid"),  # is_train_face: every command needs --identity (its face_id.pt)
            "chronoedit": save_tiny_chronoedit_pipeline(root / "chronoedit"),  # edits an image: its edit a PNG, no stream
            # LTX-2 with an IC-LoRA: a reference video by --control-video, no stream or extension
            "ltx2-ic": save_tiny_ltx2_pipeline(root / "ltx2-ic", latest=True, pipeline="LTX2InContextPipeline")}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    from PIL import Image

    from vidlong.video_io import write_video

    folder = tmp_path_factory.mktemp("info-inputs")
    write_video(folder / "clip.mp4", np.full((9, 64, 64, 3), 100, np.uint8), fps=8)
    Image.new("RGB", (32, 32), (10, 200, 30)).save(folder / "frame.png")
    return {"{clip}": str(folder / "clip.mp4"), "{png}": str(folder / "frame.png")}


@pytest.mark.parametrize("kind", ["default", "i2v", "ti2v", "vace", "animate", "ltx2", "fun", "df-v2v", "kandinsky6",
                                  "ltx-long", "consisid", "chronoedit", "ltx2-ic"])
def test_every_answer_is_what_the_command_does(kind, folders, inputs, tmp_path, capsys, monkeypatch):
    from vidlong.info import model_info

    info = model_info(folders[kind])
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: (_ for _ in ()).throw(VidlongError("LOADED")))
    for capability, asks in ASKS.items():
        command, *flags = asks
        base = NEEDS.get(info["task"], []) if command == "generate" or (command, info["task"]) == ("stream", "i2v") else []
        given = dict(zip(base[::2], base[1::2]), **dict(zip(flags[::2], flags[1::2])))
        if info["identity"]:  # every command of a ConsisID folder with is_train_face: its face's tensors
            given["--identity"] = str(folders[kind] / "face_id.pt")
        argv = [command, "--model", str(folders[kind]), *[item for pair in given.items() for item in pair]]
        argv = [inputs.get(a, a) for a in argv] + ([] if "--prompt" in given else ["--prompt", "a red ball"])
        assert main([*argv, "--out", str(tmp_path / f"{capability}.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        answer = info["can"][capability]
        expected = "LOADED" if answer["yes"] else answer["why"]
        assert err == f"vidlong: error: {expected}", (kind, capability, argv)


def test_it_prints_lines_or_json_and_reads_no_weights(folders, capsys, monkeypatch):
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main(["info", "--model", str(folders["animate"]), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["pipeline"], info["vidlong_pipeline"], info["task"], info["family"]) == (
        "WanAnimatePipeline", "VidLongWanAnimatePipeline", "animate", "wan-animate")
    assert info["spec"]["native_latent_frames"] == 3 and info["spec"]["stream_context"] is None
    assert info["spec"]["longest_latent_frames"] == 64  # the tiny transformer's rope_max_seq_len
    assert [name for name, answer in info["can"].items() if answer["yes"]] == ["generate", "image", "driving_videos"]
    assert main(["info"]) == 0  # the embedded default model
    lines = capsys.readouterr().out.splitlines()
    assert "WanPipeline (vidlong's VidLongWanPipeline), task t2v, family wan" in lines[0]
    assert "native 9 latent frames = 33 frames at 16 fps, 128x128" in lines[1] and "  stream: yes" in lines
    assert lines[1].endswith("renoise context, 3 latent frames a chunk by default (its first 9)")  # its vidlong.yaml's
    assert lines[2] == ("one forward of the transformer places at most 1024 latent frames (114x native: its RoPE table); a "
                        "stream, any length")
    assert main(["info", "--model", str(folders["ltx2"])]) == 0  # no RoPE table
    assert capsys.readouterr().out.splitlines()[2] == ("one forward of the transformer places any number of latent frames "
                                                       "(no RoPE table bounds it); a stream, any length")
    assert main(["info", "--model", "/no/such/folder"]) == 2


def test_the_distilled_models_stream_says_its_causal_sampler():
    """A stream's sampler as the stream takes it from the model's vidlong.yaml: the distilled model's causal sampler, 4 levels
    at guidance 1 (not generate's 20 steps at 3); the default model's first chunk: `test_it_prints_lines_or_json_...`."""
    from vidlong.info import info_lines, model_info

    info = model_info("default-distilled")
    assert (info["spec"]["stream_first_chunk"], info["spec"]["stream_sampler"]) == (3, {"levels": [1000, 750, 500, 250],
                                                                                         "guidance": 1.0})
    assert info_lines(info)[1].endswith("cache context, 3 latent frames a chunk by default, by its causal sampler: 4 levels "
                                        "a chunk at guidance 1")


def test_a_folder_that_continues_a_video(folders, capsys):
    """A SkyReels-V2 DF video-to-video folder: `generate --video` continues the video (said on the first line, and as
    ``continues_video``), it streams and extends as its weights do, and its refusals say it continues rather than redraws:
    no fifo, no redraw at a strength (each line the command's own: `test_every_answer_is_what_the_command_does`)."""
    from vidlong.info import model_info

    info = model_info(folders["df-v2v"])
    assert (info["task"], info["continues_video"], model_info("default")["continues_video"]) == ("v2v", True, False)
    assert [name for name, answer in info["can"].items() if answer["yes"]] == ["generate", "stream", "extend"]
    assert "--video is continued in one call" in info["can"]["fifo"]["why"]
    assert "this model continues its --video" in info["can"]["redraw"]["why"]
    assert "vidlong generate --video" in info["can"]["stream_redraw"]["why"]
    assert main(["info", "--model", str(folders["df-v2v"])]) == 0
    assert "task v2v (generate --video continues it: its frames, then new ones)" in capsys.readouterr().out.splitlines()[0]


def test_a_consisid_folder_says_it_needs_the_identity_file_and_what_it_holds(folders, tmp_path, capsys):
    """A ConsisID folder whose transformer has ``is_train_face``: a line says generate, stream and extend need --identity
    and what the file holds, its shapes this transformer's (``identity`` in the JSON; each command's refusal without it:
    `test_every_answer_is_what_the_command_does` gives it the file); one without ``is_train_face`` needs none."""
    from test_consisid import saved_plain_folder

    assert main(["info", "--model", str(folders["consisid"])]) == 0
    needs = [line for line in capsys.readouterr().out.splitlines() if "--identity" in line]
    assert needs == ["needs --identity face_id.pt (generate, stream and extend): a torch file of the face's id_cond [1, 6] "
                     "and id_vit_hidden (a list of 2 [1, T, 8]), as ConsisID's process_face_embeddings_infer returns them "
                     "(how to save it: vidlong.identity)"]
    assert main(["info", "--model", str(saved_plain_folder(tmp_path / "plain")), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "consisid" and info["identity"] is None


def test_an_ltx_long_folder_says_why_it_does_not_stream_and_takes_no_prompt_timeline(folders, capsys):
    """LTX-Video's long multi-prompt pipeline: stream, extend and stream redraw say why not (no window final before its
    call's end); a prompt timeline is refused as its generate refuses it (a prompt a window, by '|')."""
    assert main(["info", "--model", str(folders["ltx-long"])]) == 0
    said = {line.split(":")[0].strip(): line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")}
    for name in ("stream", "extend", "stream redraw"):
        assert said[name].startswith(f"  {name}: no (LTX-Video's long multi-prompt pipeline makes its windows one after "
                                     "another, but no window's frames are final before its call ends"), said[name]
    assert said["prompt timeline"].startswith("  prompt timeline: no (this model's call takes a prompt a window, not a prompt "
                                              "schedule: give --prompt as"), said["prompt timeline"]


def test_a_chronoedit_folder_says_it_edits_the_image_writes_the_edit_as_a_png_and_does_not_stream(folders, capsys):
    """ChronoEdit: its first line says generate --image edits the image, the edit (its video's last frame) written as
    OUT.edited.png beside the mp4 (``edits_image`` in the JSON, false for a Wan folder); it takes the image and nothing else,
    and its stream, extend, stream redraw and fifo say why not: an edit is one short clip (each line the command's own:
    `test_every_answer_is_what_the_command_does`)."""
    from vidlong.info import model_info

    info = model_info(folders["chronoedit"])
    assert (info["pipeline"], info["task"], info["edits_image"], model_info(folders["i2v"])["edits_image"]) == (
        "ChronoEditPipeline", "i2v", True, False)
    assert [name for name, answer in info["can"].items() if answer["yes"]] == ["generate", "image"]
    for name in ("stream", "extend", "stream_redraw", "fifo"):
        assert "its call edits one image in one short clip" in info["can"][name]["why"], name
    assert main(["info", "--model", str(folders["chronoedit"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ("task i2v (generate --image edits the image by the prompt: its video runs from the image to the edit, which is "
            "its last frame, written as OUT.edited.png beside OUT.mp4)") in lines[0]
    said = {line.split(":")[0].strip(): line for line in lines if line.startswith("  ")}
    assert said["stream"].startswith("  stream: no (streaming is not available for ChronoEditTransformer3DModel: its call edits "
                                     "one image in one short clip"), said["stream"]


def test_an_ltx2_ic_folder_says_its_reference_video_comes_by_control_video_and_why_it_does_not_stream(folders, capsys):
    """LTX-2's in-context (IC-LoRA) pipeline: a line says its reference video comes by --control-video (optional), the video
    takes its length, and it neither streams nor extends (``control`` in the JSON; a Wan folder's None); stream and extend
    say why not (each line the command's own: `test_every_answer_is_what_the_command_does`)."""
    from vidlong.info import model_info

    info = model_info(folders["ltx2-ic"])
    assert (info["pipeline"], info["control"], model_info("default")["control"]) == ("LTX2InContextPipeline", "in-context", None)
    assert [name for name, answer in info["can"].items() if answer["yes"]] == ["generate", "last_image", "prompt_timeline",
                                                                                    "control_video"]
    for name in ("stream", "extend"):
        assert info["can"][name]["why"].startswith("LTX-2's in-context (IC-LoRA) pipeline follows one whole reference video "
                                                   "in a call"), name
    assert main(["info", "--model", str(folders["ltx2-ic"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3] == ("--control-video (optional): its IC-LoRA reference video (a pose, depth or edge video, as its LoRA was "
                        "trained), its tokens beside the video's; the video takes its length (--frames N: its first N), "
                        "frame rate and aspect; it does not stream or extend, since one call follows the whole reference "
                        "video (stream: below)"), lines[3]


def test_an_ltx2_folder_says_it_follows_a_control_video_with_an_ic_lora(folders, tmp_path, capsys):
    """LTX-2's own folder (`LTX2Pipeline`): a line says --control-video with an IC-LoRA (--lora) loads it as LTX-2's
    in-context pipeline (``control_twin`` in the JSON; none for an in-context folder), its control_video answer the line
    `vidlong generate --control-video` without --lora refuses with (`test_every_answer_is_what_the_command_does`); a folder
    whose vidlong.yaml merges a LoRA into it counts as having one: yes."""
    from vidlong.control_video import CONTROL_TWIN_ROLE
    from vidlong.info import model_info

    info = model_info(folders["ltx2"])
    assert (info["control"], info["control_twin"], model_info(folders["ltx2-ic"])["control_twin"]) == (
        None, "LTX2InContextPipeline", None)
    assert info["can"]["control_video"]["why"].endswith("merge the IC-LoRA's .safetensors file by --lora")
    assert main(["info", "--model", str(folders["ltx2"])]) == 0
    assert CONTROL_TWIN_ROLE in capsys.readouterr().out.splitlines()
    assert CONTROL_TWIN_ROLE.startswith("--control-video with an IC-LoRA (--lora ic-lora.safetensors, or one its vidlong.yaml "
                                        "names): its reference video")
    linked = tmp_path / "linked"
    linked.mkdir()
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(linked / "ic.safetensors"))  # info reads its header (a reference downscale factor)
    (linked / "vidlong.yaml").write_text(f"base: {folders['ltx2']}\nlora: ic.safetensors\n")
    assert model_info(linked)["can"]["control_video"] == {"yes": True}


def test_a_reader_that_goes_away_ends_it_quietly(reaped):
    """`vidlong info | head -1`: the pipe closed before it writes ends it as a pipe's writer ends (exit 141, no error
    line), not with "error: BrokenPipeError"."""
    import subprocess
    import sys

    proc = reaped(subprocess.Popen([sys.executable, "-m", "vidlong", "info", "--model", "default"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE))
    proc.stdout.close()  # before it has imported anything: its first line meets a closed pipe
    err = proc.communicate(timeout=120)[1].decode()
    assert proc.returncode == 141 and err == "", err
