"""ChronoEdit (`ChronoEditPipeline`: Wan2.1-I2V-14B made an image editor, a short video from the input image to its edit,
the edit its last frame; Wan's attention through `vidlong.attention.adapters.chronoedit`): methods off and removed = the
stock transformer bit for bit, and a 2-latent-frame forward (the edit alone, its frames at RoPE positions 0 and 7) stock
with them; each method equal to its float64 math at 2x the native window of reasoning frames; vidlong's call = diffusers'
bit for bit (the plain edit, temporal reasoning ended mid-way and kept to the end); the spec from configs/models."""
import numpy as np
import pytest
import torch
from conftest import TEXT_DIM
from family_checks import check_float64_reference, check_methods_off_and_removed
from reference import WanReferenceAttention
from tiny_pipeline import CLIP_DIM, CLIP_TOKENS, save_tiny_chronoedit_pipeline, tiny_chronoedit_transformer

import vidlong
from vidlong.attention.adapters.chronoedit import CHRONOEDIT

NATIVE = 3  # latent frames (9 pixel frames)
GRID = (2, 2)  # token rows, columns (32x32 pixels: latent 4x4, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def chronoedit_inputs(frames: int, dtype=torch.float32) -> dict:
    """One forward's inputs as its call makes them for `frames` latent frames of 4x4 cells: noise, mask and image latent
    channels ``[1, 12, F, 4, 4]``, a timestep, text states and CLIP states."""
    gen = torch.Generator().manual_seed(1)
    return dict(hidden_states=torch.randn(1, 12, frames, 4, 4, generator=gen).to(dtype), timestep=torch.tensor([500.0]),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                encoder_hidden_states_image=torch.randn(1, CLIP_TOKENS, CLIP_DIM, generator=gen).to(dtype), return_dict=False)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`save_tiny_chronoedit_pipeline`: native 3 latent frames, 32x32 at 8 fps, 2 steps, guidance 2."""
    return save_tiny_chronoedit_pipeline(tmp_path_factory.mktemp("chronoedit"), native_frames=NATIVE)


@pytest.fixture(scope="module")
def stock(folder):
    """diffusers' own `ChronoEditPipeline` from `folder`, its progress bars off."""
    from diffusers import ChronoEditPipeline

    stock = ChronoEditPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    return stock


@pytest.fixture(scope="module")
def image():
    """A 32x32 random image to edit."""
    from PIL import Image

    return Image.fromarray(np.random.default_rng(5).integers(0, 255, (32, 32, 3), dtype=np.uint8))


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on every block's self-attention (its own copy of Wan's processor) and comes off: neutral
    and removed the stock model bit for bit at 4x the native window, which both change."""
    check_methods_off_and_removed(tiny_chronoedit_transformer, lambda model: model(**chronoedit_inputs(4 * NATIVE))[0],
                                  CHRONOEDIT.self_attentions, "WanAttnProcessor", 2, NATIVE)


@torch.no_grad()
def test_the_edit_alone_is_stock_with_the_methods():
    """A 2-latent-frame forward (its call's without temporal reasoning: the image's frame and the edit's, at RoPE positions 0
    and rope_temporal_skip_len - 1 = 7) with the release's native window (8 latent frames: UltraViCo's far pairs start 4
    frames apart, FreeLong++'s windows span both frames): both methods leave it stock bit for bit."""
    stock = tiny_chronoedit_transformer()(**chronoedit_inputs(2))[0]
    model = tiny_chronoedit_transformer()
    assert vidlong.apply(model, *METHODS.values()).native_frames == 8
    assert torch.equal(model(**chronoedit_inputs(2))[0], stock)


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 2x the native window of reasoning frames (6 latent frames at RoPE positions 0..5), in float32 on the CPU's dense
    kernel, within 1e-5 of the same weights in float64 whose self-attentions run the method's math on Wan's q/k/v; its
    text and image cross-attentions stock."""
    check_float64_reference(tiny_chronoedit_transformer,
                            lambda model, frames, dtype: model(**chronoedit_inputs(frames, dtype))[0], CHRONOEDIT.self_attentions,
                            lambda m, frames: WanReferenceAttention(m, frames, GRID, NATIVE), method, NATIVE, ratio=2)


def test_native_length_size_and_defaults_come_from_configs():
    """8 latent frames (29 pixel frames, its documentation's temporal reasoning video) at 16 fps, 480x832, 50 steps at 5."""
    from vidlong.models import family_of, model_facts, spec_for_facts

    model = tiny_chronoedit_transformer()
    spec = spec_for_facts(model_facts(model.config, task="i2v", family=family_of(model), pipeline="ChronoEditPipeline"))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width) == ("chronoedit", 8, 16, 480, 832)
    assert (spec.num_inference_steps, spec.guidance_scale, spec.native_pixel_frames) == (50, 5.0, 29)


@pytest.mark.parametrize("reasoning", [{}, dict(enable_temporal_reasoning=True, num_frames=13, num_temporal_reasoning_steps=1),
                                       dict(enable_temporal_reasoning=True, num_frames=25, num_temporal_reasoning_steps=2)],
                         ids=["edit", "reasoning-ended", "reasoning-kept"])
def test_its_call_is_diffusers_bit_for_bit(pipe, stock, image, reasoning):
    """vidlong's call with the spec's defaults (size, steps, guidance) = diffusers' `ChronoEditPipeline` with them, frames
    and the edited last frame: the plain edit (5 frames whatever num_frames is), temporal reasoning ended after its first
    step (the edit's 5 frames), and kept to the end past the native window (6 latent = 25 frames: the reasoning video, its
    last frames decoded with the first alone)."""
    assert type(pipe).__name__ == "VidLongChronoEditPipeline" and pipe.facts()["family"] == "chronoedit"
    ours = pipe(image=image, prompt="a red ball", generator=torch.Generator().manual_seed(3), **reasoning).frames[0]
    theirs = stock(image=image, prompt="a red ball", height=32, width=32, num_inference_steps=2, guidance_scale=2.0,
                   generator=torch.Generator().manual_seed(3), **reasoning).frames[0]
    assert len(theirs) == (reasoning["num_frames"] if reasoning.get("num_temporal_reasoning_steps") == 2 else 5)
    assert np.array_equal(ours, theirs) and np.array_equal(ours[-1], theirs[-1])


@pytest.fixture(scope="module")
def image_file(tmp_path_factory, image):
    """`image` saved as a PNG."""
    path = tmp_path_factory.mktemp("in") / "in.png"
    image.save(path)
    return path


def test_generate_with_no_method_is_its_call_with_temporal_reasoning_bit_for_bit(folder, pipe, image, image_file):
    """`generate` at 2x (6 latent = 21 pixel frames of reasoning video) with no method = diffusers' call with temporal
    reasoning through both steps from the same noise, its edit last; both methods change it."""
    from family_checks import check_generate_is_the_stock_call

    from vidlong.generate import GenerateRequest, generate

    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=str(image_file)))
    noise = torch.randn(1, 4, 2 * NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
    check_generate_is_the_stock_call(folder, result, "ChronoEditPipeline", NATIVE, temporal=4, image=image, latents=noise,
                                     guidance_scale=2.0, enable_temporal_reasoning=True, num_temporal_reasoning_steps=2)
    both = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=str(image_file), method="both"))
    assert both.frames.shape == result.frames.shape and not np.array_equal(both.frames, result.frames)


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4_and_the_edited_image_beside_it(folder, pipe, image_file, tmp_path, method):
    """`vidlong generate --image --ratio 2`: the mp4 of 21 frames at 8 fps (`check_cli_generate`) and, beside it, the edit
    as a PNG (``long.edited.png``): the last frame of `generate`'s video for the same request, named in the sidecar."""
    import json

    from family_checks import check_cli_generate
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=8, image=image_file)
    edited = tmp_path / "long.edited.png"
    assert json.loads((tmp_path / "long.json").read_text())["edited_image"] == str(edited)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=0, image=str(image_file), method=method))
    assert np.array_equal(np.asarray(Image.open(edited)), result.frames[-1])


def test_an_edited_image_it_would_replace_or_read_is_refused_before_loading(folder, image_file, tmp_path, capsys, monkeypatch):
    """The PNG beside --out exists (no --overwrite), is a folder (with --overwrite too), or is the --image read: one line
    before any model loads, exit 2."""
    from family_checks import check_refused_before_loading

    (tmp_path / "e.edited.png").write_bytes(image_file.read_bytes())
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--image"]
    line = check_refused_before_loading([*args, str(image_file)], tmp_path / "e.mp4", capsys, monkeypatch)
    assert "e.edited.png exists" in line and "--overwrite" in line
    line = check_refused_before_loading([*args, str(tmp_path / "e.edited.png")], tmp_path / "e.mp4", capsys, monkeypatch)
    assert "is also an output of this run" in line
    (tmp_path / "d.edited.png").mkdir()  # a folder there: refused even with --overwrite (os.replace cannot replace it)
    line = check_refused_before_loading([*args, str(image_file), "--overwrite"], tmp_path / "d.mp4", capsys, monkeypatch)
    assert "d.edited.png is a folder" in line and "choose another --out" in line


@pytest.mark.parametrize("length", [["--frames", "1"], ["--ratio", "0.3"]], ids=["frames-1", "ratio-0.3"])
def test_a_video_of_one_latent_frame_is_refused_before_loading(folder, pipe, image_file, tmp_path, capsys, monkeypatch, length):
    """A video of 1 latent frame (1 pixel frame) is the input image's frame alone, its call's edit nowhere in it (the PNG
    would be the input image): `vidlong generate` refuses it in one line before loading, exit 2, and `generate` likewise."""
    from family_checks import check_refused_before_loading

    from vidlong.errors import VidlongError
    from vidlong.generate import GenerateRequest, generate

    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_file), *length]
    line = check_refused_before_loading(args, tmp_path / "o.mp4", capsys, monkeypatch)
    assert "1 latent frame" in line and "--frames 5" in line and not (tmp_path / "o.edited.png").exists()
    with pytest.raises(VidlongError, match=r"^a video of 1 latent frame .* frames \(--frames\) 5"):
        generate(pipe, GenerateRequest(prompt="a red ball", frames=1, image=str(image_file)))


#: (arguments after the model, prompt and image; what the refusal says) of what it does not run
UNRUN = [(["stream", "--chunks", "2"], "its call edits one image in one short clip"),
         (["generate", "--ratio", "2", "--method", "riflex"], "RIFLEx is not implemented for ChronoEditTransformer3DModel"),
         (["generate", "--ratio", "2", "--method", "window-sinks"], "windows with sinks"),
         (["generate", "--ratio", "2", "--method", "fifo"], "is not implemented for ChronoEditTransformer3DModel"),
         (["generate", "--save-latents", "l.pt"], "vidlong extend does not run this model"),
         (["generate", "--last-image", "LAST"], "this model takes no last frame")]


@pytest.mark.parametrize("command, says", UNRUN, ids=[" ".join(c[:3]) for c, _ in UNRUN])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, image_file, tmp_path, capsys, monkeypatch, command,
                                                                    says):
    """An edit is one short clip: no stream or extension (no next chunk), no diagonal queue, no saved latents to extend;
    RIFLEx and the -sinks methods move Wan's RoPE tables, which its RoPE module does not keep per axis; no last frame."""
    from family_checks import check_refused_before_loading

    command = [str(image_file) if arg == "LAST" else str(tmp_path / arg) if arg.endswith(".pt") else arg for arg in command]
    args = [command[0], "--model", str(folder), "--prompt", "a red ball", "--image", str(image_file), *command[1:]]
    assert says in check_refused_before_loading(args, tmp_path / "o.mp4", capsys, monkeypatch)


def test_extend_is_refused_in_one_line_before_its_input_is_read(folder, pipe, tmp_path, capsys, monkeypatch):
    """`vidlong extend` and `pipe.extend` / `pipe.stream`: the same line, before a missing input is looked for."""
    from family_checks import check_refused_before_loading

    from vidlong.errors import VidlongError

    args = ["extend", "--model", str(folder), "--prompt", "a red ball", "--video", str(tmp_path / "none.mp4")]
    assert "its call edits one image in one short clip" in check_refused_before_loading(args, tmp_path / "o.mp4", capsys,
                                                                                       monkeypatch)
    for run in (lambda: pipe.extend("a red ball", video=str(tmp_path / "none.mp4")),
                lambda: next(iter(pipe.stream("a red ball", chunks=2, image="none.png")))):
        with pytest.raises(VidlongError, match="streaming is not available for ChronoEditTransformer3DModel"):
            run()


def test_reasoning_ended_mid_way_with_a_sampler_without_history_is_refused_in_one_line(pipe, image, monkeypatch):
    """With `FlowMatchEulerDiscreteScheduler` (no history for its call to trim where reasoning ends; diffusers fails there
    with an AttributeError): reasoning ended before the last step refused in one line, before any forward; kept to the
    end it runs."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from vidlong.errors import VidlongError

    monkeypatch.setattr(pipe, "scheduler", FlowMatchEulerDiscreteScheduler(shift=3.0))
    forwards = []
    hook = pipe.transformer.register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        with pytest.raises(VidlongError, match="^num_temporal_reasoning_steps: .* at step 1 of 2 .* FlowMatchEuler"):
            pipe(image=image, prompt="a red ball", enable_temporal_reasoning=True, num_frames=13, num_temporal_reasoning_steps=1)
    finally:
        hook.remove()
    assert not forwards
    frames = pipe(image=image, prompt="a red ball", enable_temporal_reasoning=True, num_frames=13, num_temporal_reasoning_steps=2,
                  generator=torch.Generator().manual_seed(0)).frames[0]
    assert len(frames) == 13
