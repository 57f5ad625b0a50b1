"""LTX's two-stage generation (`vidlong.refine`, ``--upsample --refine``) on CUDA in bfloat16, as `load_pipeline` loads a
model on a GPU: the tiny LTX-Video and LTX-2 folders of `test_upsample` (with their tiny ``latent_upsampler/``), `generate`
with `both` at 2x, upsampled and refined. The refined frames are finite, at the upsampled 128x128 and near those of the
same run on the CPU (float32; LTX-2's in bfloat16: `REFERENCE_DTYPE`); an LTX-2 stage-2 LoRA merged on the GPU changes
the video and leaves every weight of the CUDA transformer as it was, bit for bit, on the GPU; Sana-WM's refiner after
`both` at 2x, on the device in float32, near the CPU's. Skipped without a GPU (``VIDLONG_GPU_TEST_DEVICE=cpu``: a dry run
of the file on the CPU in bfloat16)."""
import os

import numpy as np
import pytest
import torch

import test_sana_wm
import test_upsample
from reference import rel_err
from test_refine import REQUEST, tiny_stage2_lora
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline

DEVICE = os.environ.get("VIDLONG_GPU_TEST_DEVICE", "cuda")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs CUDA")]

folders = test_upsample.folders  # its tiny LTX-Video and LTX-2 folders with their upsamplers
folder, refiner, image = test_sana_wm.folder, test_sana_wm.refiner, test_sana_wm.image  # Sana-WM's, its refiner, an image

#: the bound on the bfloat16 refined frames' relative L2 error (as floats, 0-255) against their reference on the CPU
FRAMES_REL_ERR = 0.05

#: the reference's dtype on the CPU: float32, but bfloat16 for LTX-2, whose stage 2 noises the upsampled latents
#: (``noise_scale`` 0.909: nine tenths noise) with a draw in their dtype (diffusers' `_create_noised_state`), and torch
#: 2.11 draws bfloat16 normal noise from another stream than float32's (as `test_gpu_families.DRAW_IN_MODEL_DTYPE` says):
#: on an H100 (session 61) its CUDA bfloat16 frames were 29% off float32 on the CPU, LTX-Video's 0.4% off
REFERENCE_DTYPE = {"ltx-video": "float32", "ltx-2": "bfloat16"}

BOTH = dict(REQUEST, method="both", preset="2x")


def loaded(model, device=DEVICE, dtype="bfloat16"):
    pipe = load_pipeline(model, device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("family", ["ltx-video", "ltx-2"])
def test_a_refined_video_in_bfloat16_is_near_the_cpus(folders, family):
    """`both` at 2x, upsampled and refined on the device in bfloat16: 25 frames at 128x128, not one flat colour, within
    `FRAMES_REL_ERR` of the same request on the CPU in `REFERENCE_DTYPE` (LTX-2's sound finite)."""
    made = generate(loaded(folders[family]), GenerateRequest(**BOTH))
    reference = generate(loaded(folders[family], "cpu", REFERENCE_DTYPE[family]), GenerateRequest(**BOTH))
    assert made.frames.shape == reference.frames.shape == (25, 128, 128, 3) and made.frames.max() > made.frames.min()
    error = rel_err(torch.from_numpy(made.frames).float(), torch.from_numpy(reference.frames).float())
    print(f"\n{family} refined, {DEVICE} bfloat16 vs cpu {REFERENCE_DTYPE[family]}: frames' relative error {error:.4f}")
    assert error < FRAMES_REL_ERR
    if made.audio is not None:
        assert np.isfinite(made.audio.samples).all()


def test_an_ltx2_stage_2_lora_merged_on_the_gpu_is_taken_out_bit_for_bit(folders, tmp_path):
    """`test_refine.tiny_stage2_lora` at scale 0.5 on the device's bfloat16 transformer (`refine.merged_lora` keeps the
    originals in CPU memory): the refined video differs from the one without it, and after the run every weight is on
    its device again as it was, bit for bit."""
    pipe = loaded(folders["ltx-2"])
    before = {name: value.clone() for name, value in pipe.transformer.state_dict().items()}
    lora = tiny_stage2_lora(before, tmp_path / "stage2.safetensors")
    off = generate(pipe, GenerateRequest(**REQUEST))
    with_lora = generate(pipe, GenerateRequest(**REQUEST, refine_lora=f"{lora}:0.5"))
    assert not np.array_equal(with_lora.frames, off.frames)
    after = pipe.transformer.state_dict()
    assert all(after[name].device == value.device and torch.equal(after[name], value) for name, value in before.items())


def test_sana_wms_refiner_on_the_device_is_near_the_cpus(folder, refiner, image):
    """Sana-WM (`test_sana_wm`'s tiny folder, its tiny refiner beside it) with `both` at 2x, then its refiner, on the device
    in float32 (its tiny model in bfloat16 is 71% off float32 with or without the methods:
    `test_gpu_families.RUN_IN_FLOAT32`): the refiner kept on the device, the refined frames within `FRAMES_REL_ERR` of the
    CPU's."""
    request = GenerateRequest(prompt="a red ball", seed=3, image=str(image), height=64, width=96, ratio=2, method="both",
                              refine=True)
    pipe = loaded(folder, dtype="float32")
    made = generate(pipe, request)
    reference = generate(loaded(folder, "cpu", "float32"), request)
    assert made.frames.shape == reference.frames.shape and made.frames.max() > made.frames.min()
    assert next(pipe._vidlong_refiner[1].transformer.parameters()).device.type == torch.device(DEVICE).type
    error = rel_err(torch.from_numpy(made.frames).float(), torch.from_numpy(reference.frames).float())
    print(f"\nsana-wm refined, {DEVICE} float32 vs cpu float32: frames' relative error {error:.4f}")
    assert error < FRAMES_REL_ERR
