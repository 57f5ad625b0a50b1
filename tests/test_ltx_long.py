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

from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline

NATIVE = 10  # latent frames: its call's window, 80 pixel frames
SIZE = 96  # pixels: 3 x 3 latent cells (its call's 4 x 4 decode tiles need 3 a side)
SPEC = dict(name="tiny-ltx-long", native_frames=NATIVE, height=SIZE, width=SIZE, fps=25, num_inference_steps=3,
            guidance_scale=1.0, temporal_ratio=8)
PROMPT = "a red ball | a blue ball"


@pytest.fixture(scope="module")
def long_folder(tmp_path_factory):
    """The tiny LTX-Video parts saved as an `LTXI2VLongMultiPromptPipeline` folder."""
    from diffusers import LTXI2VLongMultiPromptPipeline
    from tiny_pipeline import tiny_ltx_pipeline

    folder = tmp_path_factory.mktemp("ltx-long")
    LTXI2VLongMultiPromptPipeline(**tiny_ltx_pipeline().components).save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(SPEC))
    return folder


@pytest.fixture(scope="module")
def stock(long_folder):
    from diffusers import LTXI2VLongMultiPromptPipeline

    pipe = LTXI2VLongMultiPromptPipeline.from_pretrained(long_folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def stock_frames(stock, prompt=PROMPT, latent_frames=2 * NATIVE, **kwargs):
    video = stock(prompt=prompt, height=SIZE, width=SIZE, num_frames=8 * (latent_frames - 1) + 1, num_inference_steps=3,
                  frame_rate=25, seed=3, output_type="np", **kwargs).frames[0]
    return (np.clip(video, 0, 1) * 255).round().astype(np.uint8)


def test_generate_and_its_call_are_diffusers_call_bit_for_bit(long_folder, stock, image_path):
    """`generate` at 2x (20 latent frames: its call's 3 windows of 10 overlapping by 3) with a '|' prompt is diffusers'
    call with the same seed, bit for bit; its image-to-video twin hands the image on as ``cond_image``; vidlong's call with
    ``output_type="latent"`` gives diffusers' latents bit for bit; each window's steps are reported."""
    from PIL import Image

    pipe = load_pipeline(long_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongLTXI2VLongMultiPromptPipeline" and pipe.task == "t2v"
    steps = []
    text = generate(pipe, GenerateRequest(prompt=PROMPT, ratio=2, seed=3), progress=lambda stage, done, total: steps.append(
        (stage, total)))
    assert np.array_equal(text.frames, stock_frames(stock))
    assert ("denoise", 3 * 2) in steps  # 3 windows of 2 forwards (its loop skips its last timestep)
    assert not np.array_equal(text.frames, stock_frames(stock, prompt="a red ball"))  # the second window's prompt counts

    kwargs = dict(prompt=PROMPT, height=SIZE, width=SIZE, num_frames=8 * 19 + 1, num_inference_steps=3, seed=5,
                  output_type="latent")
    assert torch.equal(pipe(**kwargs).frames, stock(**kwargs).frames)

    i2v = load_pipeline(long_folder, device="cpu", task="i2v")
    i2v.set_progress_bar_config(disable=True)
    assert type(i2v).__name__ == "VidLongLTXI2VLongMultiPromptImageToVideoPipeline" and i2v.task == "i2v"
    image = generate(i2v, GenerateRequest(prompt=PROMPT, ratio=2, seed=3, image=str(image_path)))
    assert np.array_equal(image.frames, stock_frames(stock, cond_image=Image.open(image_path).convert("RGB")))
    assert not np.array_equal(image.frames, text.frames)
