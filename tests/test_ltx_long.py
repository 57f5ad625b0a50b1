"""LTX-Video made long by its own windows (diffusers' `LTXI2VLongMultiPromptPipeline` folders): vidlong's class for text
to video and, given an image, its image-to-video twin (the image its call's ``cond_image``). With no method `generate`
and vidlong's call are diffusers' own call with the same seed bit for bit (frames and latents, a ``|`` prompt one a
window); the methods act on each window's forward (its frames then its appended condition frames, in token order),
checked against the float64 reference, and with them one window spans the whole video; streams, extensions and bad
window sizes are refused in one line."""
import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, ltx_inputs, tiny_ltx_transformer
from family_checks import NEUTRAL, block_self_attentions, check_float64_reference, check_methods_off_and_removed
from test_ltx_video import ReferenceAttention

import vidlong
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline

NATIVE = 10  # latent frames: its call's window (temporal_tile_size 80 pixel frames // 8), 73 pixel frames as a video
SIZE = 96  # pixels: 3 x 3 latent cells (its call's 4 x 4 decode tiles need 3 a side)
SPEC = dict(name="tiny-ltx-long", native_frames=NATIVE, height=SIZE, width=SIZE, fps=25, num_inference_steps=3,
            guidance_scale=1.0, temporal_ratio=8)
PROMPT = "a red ball | a blue ball"


def saved_folder(folder):
    """The tiny LTX-Video parts saved at `folder` as an `LTXI2VLongMultiPromptPipeline` folder with `SPEC`; returns it."""
    from tiny_pipeline import tiny_ltx_long_pipeline

    tiny_ltx_long_pipeline().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(SPEC))
    return folder


@pytest.fixture(scope="module")
def long_folder(tmp_path_factory):
    return saved_folder(tmp_path_factory.mktemp("ltx-long"))


@pytest.fixture(scope="module")
def stock(long_folder):
    from diffusers import LTXI2VLongMultiPromptPipeline

    pipe = LTXI2VLongMultiPromptPipeline.from_pretrained(long_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


LATENT = 13  # latent frames of the videos made: its call's 2 windows of 10, overlapping by 3
FRAMES = 8 * (LATENT - 1) + 1


def stock_frames(stock, prompt=PROMPT, **kwargs):
    video = stock(prompt=prompt, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=3, frame_rate=25, seed=3,
                  output_type="np", **kwargs).frames[0]
    return (np.clip(video, 0, 1) * 255).round().astype(np.uint8)


def latents_call(pipe, prompt=PROMPT, **kwargs):
    """A call's latents (no decode) over `FRAMES` pixel frames with seed 5."""
    return pipe(prompt=prompt, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=3, seed=5,
                output_type="latent", **kwargs).frames


def test_generate_and_its_call_are_diffusers_call_bit_for_bit(long_folder, stock, image_path):
    """`generate` of 13 latent frames (its call's 2 windows) with a '|' prompt is diffusers' call with the same seed, bit
    for bit, each window's steps reported; its image-to-video twin hands the image on as ``cond_image``; vidlong's call
    with ``output_type="latent"`` gives diffusers' latents bit for bit, the second window's prompt read."""
    from PIL import Image

    pipe = load_pipeline(long_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTXI2VLongMultiPromptPipeline" and pipe.task == "t2v"
    steps = []
    text = generate(pipe, GenerateRequest(prompt=PROMPT, frames=FRAMES, seed=3),
                    progress=lambda stage, done, total: steps.append((stage, total)))
    assert np.array_equal(text.frames, stock_frames(stock))
    assert ("denoise", 2 * 2) in steps  # 2 windows of 2 forwards (its loop skips its last timestep)

    latents = latents_call(pipe)
    assert torch.equal(latents, latents_call(stock)) and not torch.equal(latents, latents_call(stock, "a red ball"))
    whole = stock(prompt=PROMPT, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=text.settings["steps"],
                  seed=3, output_type="latent").frames  # the joined windows' latents `generate` reports, not one window's
    assert torch.equal(text.latents, whole.float())

    i2v = load_pipeline(long_folder, device="cpu", task="i2v")
    i2v.set_progress_bar_config(disable=True)
    assert type(i2v).__name__ == "VidLongLTXI2VLongMultiPromptImageToVideoPipeline" and i2v.task == "i2v"
    image = generate(i2v, GenerateRequest(prompt=PROMPT, frames=FRAMES, seed=3, image=str(image_path)))
    assert np.array_equal(image.frames, stock_frames(stock, cond_image=Image.open(image_path).convert("RGB")))
    assert not np.array_equal(image.frames, text.frames)


def test_a_decode_set_on_the_pipeline_decodes_its_call_and_stays(long_folder):
    """A ``vae_decode_tiled`` a user set on the pipeline (a wrapper timing or compiling diffusers' decode) decodes the call's
    video, its latents reported (`decoded_latents`), and is the pipeline's still after the call, where the call deleted it."""
    pipe = load_pipeline(long_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    decode, seen = pipe.vae_decode_tiled, []

    def timed(latents, *args, **kwargs):
        seen.append(latents)
        return decode(latents, *args, **kwargs)

    pipe.vae_decode_tiled = timed
    pipe(prompt=PROMPT, height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=2, seed=5, output_type="np")
    assert len(seen) == 1 and pipe.decoded_latents() is seen[0] and seen[0].shape[2] == LATENT
    assert vars(pipe).get("vae_decode_tiled") is timed


GRID = (2, 3)  # latent height, width of the transformer checks (test_ltx_video's ReferenceAttention's)
WINDOW_NATIVE = 3  # latent frames: the native window of the transformer checks (test_ltx_video's)
CONDITION_FRAMES = 4  # latent frames its call appends to a window's forward here: the last window's 3, the index latent


def window_inputs(frames: int, dtype=torch.float32) -> dict:
    """One window's forward as its call makes it: `frames` token frames, the last 3 of them the previous window's tail
    and the last the image's latent (``video_coords`` placing those at the window's start and at -1), the sizes 1."""
    from diffusers.pipelines.ltx.pipeline_ltx_i2v_long_multi_prompt import build_video_coords_for_window

    coords = build_video_coords_for_window(torch.zeros(1, IN_CHANNELS, frames, *GRID), overlap_len=3, guiding_len=0,
                                           negative_len=1, rope_interpolation_scale=(8, 32, 32), frame_rate=25)
    return dict(ltx_inputs(frames, *GRID, dtype=dtype), num_frames=1, height=1, width=1, video_coords=coords.to(dtype))


def run_window(model, frames: int = 4 * WINDOW_NATIVE, dtype=torch.float32):
    return model(**window_inputs(frames, dtype))[0]


def test_a_windows_forward_with_methods_off_and_removed_is_stock_bit_for_bit():
    check_methods_off_and_removed(tiny_ltx_transformer, run_window, block_self_attentions, "LTXVideoAttnProcessor", 2,
                                  WINDOW_NATIVE, neutral=(*NEUTRAL, vidlong.SpectralFusion(windows=())))


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_a_windows_forward_with_a_method_matches_the_float64_reference(method):
    """A window's 8 frames of 2 x 3 tokens (native 3) and the 4 condition frames its call appends after them: each method
    within 1e-5 of its float64 math with the conditions as text at the end (test_ltx_video's `ReferenceAttention`), and
    acting."""
    trailing = CONDITION_FRAMES * GRID[0] * GRID[1]
    check_float64_reference(tiny_ltx_transformer, run_window, block_self_attentions,
                            lambda method, frames: ReferenceAttention(method, frames - CONDITION_FRAMES, trailing), method,
                            WINDOW_NATIVE)


def test_a_windows_layout_is_its_own_frames_its_conditions_after_them():
    """The adapter's grid of a window's forward: the frames whose times rise (8 of 12), the tail and index frames its call
    appends after them left out (the processor's trailing tokens); a window with no conditions, all its frames."""
    from vidlong.attention.adapters.ltx import LTX_VIDEO

    model = tiny_ltx_transformer()
    assert LTX_VIDEO.layout(model, (), window_inputs(12), WINDOW_NATIVE).grid == (12 - CONDITION_FRAMES, *GRID, WINDOW_NATIVE)
    plain = dict(window_inputs(12), video_coords=None)
    assert LTX_VIDEO.layout(model, (), dict(plain, num_frames=12, height=GRID[0], width=GRID[1]),
                            WINDOW_NATIVE).grid == (12, *GRID, WINDOW_NATIVE)


def test_with_methods_one_window_spans_the_video(long_folder, stock):
    """With both methods and no ``temporal_tile_size`` (one prompt: a '|' prompt's second would have no window): one
    window of the whole video (its steps alone reported), another
    video than the stock call's 2 windows and than its one window of 104 pixel frames (the methods act on it); a window
    given is kept; removed, the call is stock again."""
    pipe = load_pipeline(long_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    steps = []
    both = generate(pipe, GenerateRequest(prompt="a red ball", frames=FRAMES, seed=3, method="both"),
                    progress=lambda stage, done, total: steps.append((stage, total)))
    assert ("denoise", 2) in steps and both.frames.shape == (FRAMES, SIZE, SIZE, 3)
    assert not np.array_equal(both.frames, stock_frames(stock, "a red ball"))
    pipe.apply(vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
    whole, kept = dict(num_frames=FRAMES), dict(num_frames=FRAMES, temporal_tile_size=80)
    pipe.complete_call(whole)
    pipe.complete_call(kept)
    assert (whole["temporal_tile_size"], pipe.forward_frames(whole)) == (104, FRAMES)
    assert (kept["temporal_tile_size"], pipe.forward_frames(kept)) == (80, 73)
    assert not torch.equal(latents_call(pipe), latents_call(stock, temporal_tile_size=104))
    pipe.remove()
    assert torch.equal(latents_call(pipe), latents_call(stock))


def test_info_gives_its_native_length_as_one_window_of_its_call(long_folder, capsys):
    """`vidlong info`: native 10 latent frames = 73 frames, its call's default window (``temporal_tile_size`` 80 pixel
    frames // 8): a 73-frame video is one window of its call, an 81-frame one (11 latent frames) two, the second from the
    first's last 3 (24 // 8)."""
    from vidlong.cli import main
    from vidlong.families.ltx_long import call_windows

    capsys.readouterr()
    assert main(["info", "--model", str(long_folder)]) == 0
    assert "native 10 latent frames = 73 frames at 25 fps" in capsys.readouterr().out.splitlines()[1]
    assert call_windows(10) == [(0, 10)] and call_windows(11) == [(0, 10), (7, 11)]


@pytest.mark.parametrize("args, says", [
    (["stream", "--prompt", "a red ball", "--chunks", "2"], "no window's frames are final before its call ends"),
    (["extend", "--prompt", "a red ball", "--video", "in.mp4", "--chunks", "1"], "it does not stream or extend"),
    (["generate", "--prompt", "0s: a red ball; 2s: a blue ball", "--ratio", "2"], "not a prompt schedule"),
    (["generate", "--prompt", "a | b | c"], "gives 3 prompts (split by '|', one a window) but this video has 1 window"),
    (["generate", "--prompt", "a | b | c", "--ratio", "2", "--method", "both"],
     "with a method its call makes one window of the whole video: give one prompt, or --method none for its own windows"),
    (["generate", "--prompt", "a red ball", "--ratio", "2", "--method", "fifo"], "this pipeline's call makes windows of its own"),
    (["generate", "--prompt", "a red ball", "--steps", "1"], "--steps 1 would denoise nothing: this model's call runs each"),
    (["generate", "--prompt", "a red ball", "--height", "64"], "--height 64 must be at least 96 pixels"),
    (["generate", "--prompt", "a red ball |", "--ratio", "2", "--method", "none"],
     "--prompt part 2 (split by '|', one a window) is empty: give that window a prompt, or drop its '|'"),
], ids=["stream", "extend", "schedule", "parts", "parts-with-methods", "fifo", "one-step", "under-its-decode-tiles", "empty-part"])
def test_bad_input_is_refused_in_one_line_before_loading(long_folder, args, says, tmp_path, capsys, monkeypatch):
    from family_checks import check_refused_before_loading

    if "--video" in args:
        from vidlong.video_io import write_video

        write_video(tmp_path / "in.mp4", np.zeros((9, SIZE, SIZE, 3), np.uint8), fps=25)
        args = [str(tmp_path / "in.mp4") if a == "in.mp4" else a for a in args]
    line = check_refused_before_loading([args[0], "--model", str(long_folder), *args[1:]], tmp_path / "o.mp4", capsys,
                                        monkeypatch)
    assert says in line


def test_a_portrait_image_gives_each_side_the_cells_its_decode_tiles_overlap_by(long_folder, tmp_path):
    """Its call decodes by 4 x 4 spatial tiles overlapping by 3 latent cells (``decode_overlap``), which a side of fewer
    cells fails deep in, after every window's steps: the folder's and the pipeline's geometry take 3 cells (96 pixels) a
    side at the fewest, so a portrait image at the spec's area (64 pixels wide) makes a 96-pixel-wide video."""
    from PIL import Image

    from vidlong.models import folder_geometry

    pipe = load_pipeline(long_folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    assert pipe.geometry() == folder_geometry(long_folder) and pipe.geometry().min_pixels == 96
    portrait = tmp_path / "portrait.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (192, 96, 3), dtype=np.uint8)).save(portrait)
    made = generate(pipe, GenerateRequest(prompt="a red ball", frames=9, seed=3, image=str(portrait)))
    assert made.frames.shape == (9, 128, 96, 3) and (made.settings["height"], made.settings["width"]) == (128, 96)


def test_its_window_sizes_are_checked_and_streams_refused_in_python(long_folder):
    """An overlap that leaves a window no new latent frame, a window under one latent frame, an image given under both
    names, 1 step (its call runs each window's steps but the last; a NumPy 1 too) and a height alone under its decode
    tiles' 3 cells (the spec's width) are refused in one line before any model work; so are `stream` and `extend`."""
    pipe = load_pipeline(long_folder, device="cpu")
    for sizes, says in [(dict(temporal_tile_size=80, temporal_overlap=80), "temporal_overlap 80 must be under"),
                        (dict(temporal_tile_size=4), "temporal_tile_size must be a whole number of pixel frames >= 8"),
                        (dict(image="a.png", cond_image="b.png"), "not both"),
                        (dict(num_inference_steps=1), "num_inference_steps 1 would denoise nothing"),
                        (dict(height=64), r"height \(--height\) 64 must be at least 96 pixels"),  # the spec's width
                        (dict(num_inference_steps=np.int64(1)), "num_inference_steps 1 would denoise nothing")]:
        with pytest.raises(VidlongError, match=says):
            pipe(prompt=PROMPT, **sizes)
    with pytest.raises(VidlongError, match="it does not stream or extend"):
        pipe.stream(PROMPT, chunks=2)
    with pytest.raises(VidlongError, match="it does not stream or extend"):
        pipe.extend(PROMPT, video=np.zeros((9, SIZE, SIZE, 3), np.uint8), chunks=1)
