"""ConsisID through CogVideoX's adapter and image-to-video surface: vidlong's methods on its blocks' joint video
self-attention alone, its face modules (local facial extractor, perceiver cross-attentions) stock. Methods off = the stock
model bit for bit, with and without ``is_train_face``; vidlong's call = diffusers' `ConsisIDPipeline` bit for bit, with the
face's tensors and (a transformer without ``is_train_face``) without them; a call that needs them and lacks them refused in
one line."""
import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, cogvideox_inputs, consisid_faces, tiny_consisid_transformer
from family_checks import block_self_attentions, check_float64_reference, check_methods_off_and_removed
from PIL import Image
from test_cogvideox import NATIVE, TEXT, ReferenceAttention

import vidlong
from vidlong.attention.adapters import adapter_for

#: the transformer's two configs: with its releases' face modules (``is_train_face``) and without
FACES = pytest.mark.parametrize("face", [True, False], ids=["face", "no-face"])


def consisid_inputs(frames: int, face: bool = True, dtype=torch.float32) -> dict:
    """`cogvideox_inputs` with the image's latent channels (random) after the noise's, ``[1, F, 2C, H, W]``, and with
    `face` the face's tensors (`consisid_faces`)."""
    inputs = cogvideox_inputs(frames, dtype=dtype)
    image = torch.randn(inputs["hidden_states"].shape, generator=torch.Generator().manual_seed(9)).to(dtype)
    inputs["hidden_states"] = torch.cat([inputs["hidden_states"], image], dim=2)
    return dict(inputs, **consisid_faces(dtype=dtype)) if face else inputs


def face_modules_stock(model):
    """Its perceiver cross-attentions and facial extractor are plain modules: no processor of vidlong's on them."""
    assert adapter_for(model).name == "consisid"
    assert not any(type(m).__name__ == "VidlongAttnProcessor" for m in model.modules())


@FACES
def test_methods_off_and_removed_are_stock_bit_for_bit(face):
    """vidlong's processor goes on every block's ``attn1`` (CogVideoX's joint text + video attention) and comes off;
    neutral settings are the stock model bit for bit; UltraViCo and FreeLong++ at 4x change it."""
    check_methods_off_and_removed(lambda: tiny_consisid_transformer(face=face),
                                  lambda model: model(**consisid_inputs(4 * NATIVE, face))[0], block_self_attentions,
                                  "CogVideoXAttnProcessor2_0", 2, NATIVE)
    face_modules_stock(tiny_consisid_transformer(face=face))


def test_the_face_changes_the_output():
    """The tiny face transformer reads its face tensors (a test of the rest would hold whatever they were)."""
    model = tiny_consisid_transformer()
    with torch.no_grad():
        one = model(**consisid_inputs(NATIVE))[0]
        other = model(**dict(consisid_inputs(NATIVE), **consisid_faces(seed=6)))[0]
    assert (one - other).abs().max() > 1e-3


def face_image(path=None):
    """A random 48x32 RGB image (the tiny spec's size), saved at `path` where given."""
    image = Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    if path is not None:
        image.save(path)
    return image


@FACES
def test_vidlongs_call_is_diffusers_call_bit_for_bit(face):
    """`vidlong.from_pipe` of diffusers' own `ConsisIDPipeline`, called as diffusers' call is (its image, the face's tensors
    with `face`, none without), makes its frames bit for bit; the class and task are ConsisID's."""
    from tiny_pipeline import tiny_consisid_pipeline

    from vidlong.models import ModelSpec

    stock = tiny_consisid_pipeline(face=face)
    stock.set_progress_bar_config(disable=True)
    pipe = vidlong.from_pipe(tiny_consisid_pipeline(face=face), spec=ModelSpec(name="tiny-consisid", native_frames=NATIVE,
                                                                               height=32, width=48, num_inference_steps=2))
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongConsisIDPipeline" and pipe.task == "i2v"
    call = dict(image=face_image(), prompt="a red ball", height=32, width=48, num_frames=9, num_inference_steps=2,
                guidance_scale=2.0, output_type="np", max_sequence_length=TEXT, **(consisid_faces() if face else {}))
    frames = [p(generator=torch.Generator().manual_seed(3), **call).frames for p in (stock, pipe)]
    assert frames[0].shape == (1, 9, 32, 48, 3) and np.array_equal(*frames)


def test_a_call_without_the_faces_its_transformer_needs_is_refused_in_one_line():
    """diffusers' call fails inside its forward (``None.to``) without ``id_cond``; vidlong's says so in one line first."""
    from tiny_pipeline import tiny_consisid_pipeline

    from vidlong.models import ModelSpec

    pipe = vidlong.from_pipe(tiny_consisid_pipeline(), spec=ModelSpec(name="tiny-consisid", native_frames=NATIVE, height=32,
                                                                      width=48, num_inference_steps=1))
    with pytest.raises(vidlong.VidlongError, match=r"needs a face's id_cond and id_vit_hidden: pass") as info:
        pipe(image=face_image(), prompt="a red ball", output_type="latent", max_sequence_length=TEXT)
    assert "\n" not in str(info.value)
    with pytest.raises(vidlong.VidlongError, match=r"needs a face's id_vit_hidden: pass"):
        pipe(image=face_image(), prompt="a red ball", output_type="latent", max_sequence_length=TEXT,
             id_cond=consisid_faces()["id_cond"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny `ConsisIDPipeline` (is_train_face) with a vidlong.yaml of native 3 latent frames, 2 steps, guidance 2,
    its face's tensors saved beside it as ``face_id.pt`` and its image as ``face.png``."""
    from tiny_pipeline import tiny_consisid_pipeline

    folder = tmp_path_factory.mktemp("consisid")
    tiny_consisid_pipeline().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-consisid", native_frames=NATIVE, fps=8, height=32,
                                                             width=48, num_inference_steps=2, guidance_scale=2.0)))
    torch.save(consisid_faces(), folder / "face_id.pt")
    face_image(folder / "face.png")
    return folder


@pytest.fixture(scope="module")
def pipe(folder):
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_a_folder_loads_as_vidlongs_consisid_pipeline_with_its_spec(folder, pipe):
    from vidlong.models import model_facts, spec_for_facts

    assert type(pipe).__name__ == "VidLongConsisIDPipeline" and pipe.facts()["family"] == "consisid"
    assert pipe.geometry().channels == IN_CHANNELS and pipe.spec.native_frames == NATIVE
    release = spec_for_facts(model_facts({"patch_size": 2}, family="consisid"))  # configs/models/consisid.yaml
    assert (release.native_frames, release.fps, release.height, release.width) == (13, 8, 480, 720)
    assert (release.num_inference_steps, release.guidance_scale) == (50, 6.0)


METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


@FACES
@pytest.mark.parametrize("ratio", [2, 4])
@pytest.mark.parametrize("method", METHODS.values(), ids=METHODS.keys())
def test_transformer_with_a_method_matches_float64_reference(method, ratio, face):
    """UltraViCo and FreeLong++ at 2x and 4x the native window, the face tensors in: within 1e-5 of the float64 model whose
    blocks' ``attn1`` run CogVideoX's reference (`test_cogvideox.ReferenceAttention`: the text pairs stock), its face modules
    in float64 as they are."""
    check_float64_reference(lambda: tiny_consisid_transformer(face=face),
                            lambda model, frames, dtype: model(**consisid_inputs(frames, face, dtype=dtype))[0],
                            block_self_attentions, ReferenceAttention, method, NATIVE, ratio=ratio)


def test_the_methods_act_in_diffusers_call_at_2x_and_removed_it_is_stock():
    """`vidlong.apply(pipe.transformer, ...)` on diffusers' own `ConsisIDPipeline` (the face's tensors given): 2x its
    native window of 3 latent frames (``num_frames`` 21: 6 latent frames, which CogVideoX's VAE decodes to 24) changes the
    video; removed, the call's video is the stock one bit for bit."""
    from tiny_pipeline import tiny_consisid_pipeline

    pipe = tiny_consisid_pipeline()
    pipe.set_progress_bar_config(disable=True)

    def call():
        return pipe(image=face_image(), prompt="a red ball", num_frames=21, height=32, width=48, num_inference_steps=2,
                    output_type="np", max_sequence_length=TEXT, generator=torch.Generator().manual_seed(0),
                    **consisid_faces()).frames

    stock = call()
    vidlong.apply(pipe.transformer, vidlong.UltraViCo(), vidlong.SpectralFusion(), native_frames=NATIVE)
    changed = call()
    vidlong.remove(pipe.transformer)
    assert changed.shape == stock.shape == (1, 24, 32, 48, 3)
    assert np.array_equal(call(), stock) and not np.array_equal(changed, stock)
