"""LTX-Video 0.9.5+ (`LTXConditionPipeline` folders): vidlong's class for text to video and, given an image, its
image-to-video twin (the same folder; the image conditions frame 0 through the call's own ``image=``). `generate`
with no method is diffusers' own call with the same seed bit for bit (text and image); the token grid comes from
the call's ``video_coords``; every method, fifo, streams and extensions run on a tiny random model of diffusers'
classes."""
import json

import numpy as np
import pytest
import torch
import yaml

import vidlong
from vidlong.cli import main
from vidlong.errors import VidlongError
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.pipeline import load_pipeline
from vidlong.video_io import read_video

SPEC = dict(name="tiny-ltx-condition", native_frames=2, height=64, width=64, fps=25, num_inference_steps=2, guidance_scale=2.0)


@pytest.fixture(scope="module")
def condition_folder(tmp_path_factory):
    """The tiny LTX-Video parts saved as an `LTXConditionPipeline` folder, as LTX-Video 0.9.5+ releases are."""
    from diffusers import LTXConditionPipeline
    from tiny_pipeline import tiny_ltx_pipeline

    folder = tmp_path_factory.mktemp("ltx-condition")
    LTXConditionPipeline(**tiny_ltx_pipeline().components).save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(SPEC))
    return folder


def stock_video(folder, **kwargs):
    from diffusers import LTXConditionPipeline

    stock = LTXConditionPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    video = stock(prompt="a red ball", height=64, width=64, num_frames=8 * 3 + 1, num_inference_steps=2, guidance_scale=2.0,
                  frame_rate=25, generator=torch.Generator().manual_seed(3), output_type="np", **kwargs).frames[0]
    return (np.clip(video, 0, 1) * 255).round().astype(np.uint8)


def test_generate_is_its_own_call_bit_for_bit_with_and_without_an_image(condition_folder, image_path):
    """Its call draws its noise even when given latents: vidlong's starts from the given ones (the same draw for plain
    noise) and hands the call the generator as it was before that draw, so the image's latent is sampled as in
    diffusers' call too."""
    from PIL import Image

    pipe = load_pipeline(condition_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTXConditionPipeline" and pipe.task == "t2v"
    text = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    assert np.array_equal(text.frames, stock_video(condition_folder))

    i2v = load_pipeline(condition_folder, device="cpu", task="i2v")
    i2v.set_progress_bar_config(disable=True)
    assert type(i2v).__name__ == "VidLongLTXConditionImageToVideoPipeline" and i2v.task == "i2v"
    image = generate(i2v, GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=str(image_path)))
    assert np.array_equal(image.frames, stock_video(condition_folder, image=Image.open(image_path).convert("RGB")))
    assert not np.array_equal(image.frames, text.frames)
    both = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, method="both"))
    assert not np.array_equal(both.frames, text.frames)


def test_the_token_grid_comes_from_video_coords(condition_folder):
    """A forward given only ``video_coords`` (as its call makes them) lays its tokens out as one given the latent sizes
    too: the same output with a method on; a condition at a later frame (a frame of tokens before the grid's first, at
    a later time) is refused in one line."""
    pipe = load_pipeline(condition_folder, device="cpu")
    transformer = pipe.transformer
    vidlong.apply(transformer, vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,)), native_frames=2)
    gen = torch.Generator().manual_seed(0)
    latents = torch.randn(1, transformer.config.in_channels, 6, 2, 3, generator=gen)
    coords = pipe.video_coords(1, 6, 2, 3, "cpu")
    common = dict(hidden_states=pipe.call_latents(latents).flatten(2).transpose(1, 2), timestep=torch.tensor([500.0]),
                  encoder_hidden_states=torch.randn(1, 4, transformer.config.caption_channels, generator=gen),
                  encoder_attention_mask=torch.ones(1, 4), video_coords=coords, return_dict=False)
    with torch.no_grad():
        from_coords = transformer(**common)[0]
        from_sizes = transformer(**common, num_frames=6, height=2, width=3)[0]
        assert torch.equal(from_coords, from_sizes)
        frame = 2 * 3  # a condition at a later frame: a whole frame of tokens before the grid, at a later time
        later = coords[:, :, -frame:]
        extra = dict(common, hidden_states=torch.cat([common["hidden_states"][:, -frame:], common["hidden_states"]], dim=1),
                     video_coords=torch.cat([later, coords], dim=2))
        with pytest.raises(VidlongError, match="condition the first frame only"):
            transformer(**extra)


def test_fifo_streams_and_extensions_run(condition_folder, tmp_path, image_path):
    """`vidlong generate --method fifo` (its transformer reads a timestep per token), a re-noised stream whose
    native-length first chunk is `generate`'s video, `vidlong extend`, and an image-to-video stream from `--image`."""
    pipe = load_pipeline(condition_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=2), chunks=1, seed=3)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    out = tmp_path / "fifo.mp4"
    assert main(["generate", "--model", str(condition_folder), "--prompt", "a red ball", "--ratio", "3", "--method", "fifo",
                 "--out", str(out)]) == 0
    assert len(read_video(out)[0]) == json.loads(out.with_suffix(".json").read_text())["pixel_frames"] == 8 * 5 + 1
    assert main(["extend", "--model", str(condition_folder), "--video", str(out), "--prompt", "a red ball", "--chunk", "1",
                 "--chunks", "2", "--out", str(tmp_path / "longer.mp4")]) == 0
    assert len(read_video(tmp_path / "longer.mp4")[0]) == 8 * 5 + 1 + 2 * 8
    assert main(["stream", "--model", str(condition_folder), "--prompt", "a red ball", "--image", str(image_path), "--chunks", "2",
                 "--chunk", "1", "--out", str(tmp_path / "i2v.mp4")]) == 0
    assert json.loads((tmp_path / "i2v.json").read_text())["image"] == str(image_path)


def test_given_latents_are_the_start_and_fifo_from_an_image_is_reproducible(condition_folder, image_path):
    """diffusers' call leaves given latents unused (it draws its own noise); vidlong's starts from them. A fifo video
    from an image is the same for the same seed (its windows' image latent is the native video's first frame)."""
    pipe = load_pipeline(condition_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)

    def video(start):
        return pipe(prompt="a red ball", num_frames=17, latents=start, generator=torch.Generator().manual_seed(0),
                    output_type="latent").frames

    start = torch.randn(1, 4, 3, 2, 2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(video(start), video(start.clone())) and not torch.equal(video(start), video(-start))

    i2v = load_pipeline(condition_folder, device="cpu", task="i2v")
    i2v.set_progress_bar_config(disable=True)
    request = GenerateRequest(prompt="a red ball", ratio=3, seed=3, image=str(image_path), method="fifo")
    assert np.array_equal(generate(i2v, request).frames, generate(i2v, request).frames)


def test_streams_step_as_its_call_does_with_a_shifted_scheduler(tmp_path):
    """Its call steps from ``t / 1000`` to the largest scheduler sigma below it (diffusers' per-token rule); where the
    scheduler shifts its sigmas (``shift_terminal``, as diffusers' LTX-Video conversion sets it) that is not the
    scheduler's own step: a native-length first stream chunk is still `generate`'s video."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from tiny_pipeline import tiny_ltx_pipeline

    parts = tiny_ltx_pipeline().components
    LTXConditionPipeline(**dict(parts, scheduler=FlowMatchEulerDiscreteScheduler(shift_terminal=0.1))).save_pretrained(tmp_path)
    (tmp_path / "vidlong.yaml").write_text(yaml.safe_dump(dict(SPEC, num_inference_steps=4)))
    pipe = load_pipeline(tmp_path, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=2), chunks=1, seed=3)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
