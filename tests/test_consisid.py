"""ConsisID through CogVideoX's adapter and image-to-video surface: vidlong's methods on its blocks' joint video
self-attention alone, its face modules (local facial extractor, perceiver cross-attentions) stock. Methods off = the stock
model bit for bit, with and without ``is_train_face``; vidlong's call = diffusers' `ConsisIDPipeline` bit for bit, with the
face's tensors and (a transformer without ``is_train_face``) without them; a call that needs them and lacks them refused in
one line."""
import json

import numpy as np
import pytest
import torch
import yaml
from conftest import (IN_CHANNELS, assert_image_to_video_is_the_stock_call, cogvideox_inputs, consisid_faces,
                      tiny_consisid_transformer)
from family_checks import (RECORDED_METHODS, block_self_attentions, check_float64_reference, check_image_stream_context,
                           check_methods_off_and_removed, check_refused_before_loading)
from PIL import Image
from test_cogvideox import NATIVE, TEXT, ReferenceAttention

import vidlong
from vidlong.attention.adapters import adapter_for
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.video_io import read_video

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


def saved_folder(folder):
    """A tiny `ConsisIDPipeline` (is_train_face) saved at `folder` with a vidlong.yaml of native 3 latent frames, 2 steps,
    guidance 2, its face's tensors saved beside it as ``face_id.pt`` and its image as ``face.png``; returns `folder`."""
    from tiny_pipeline import tiny_consisid_pipeline

    tiny_consisid_pipeline().save_pretrained(folder, safe_serialization=True)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-consisid", native_frames=NATIVE, fps=8, height=32,
                                                             width=48, num_inference_steps=2, guidance_scale=2.0)))
    torch.save(consisid_faces(), folder / "face_id.pt")
    face_image(folder / "face.png")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return saved_folder(tmp_path_factory.mktemp("consisid"))


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


def test_generate_with_no_method_is_diffusers_call_bit_for_bit(folder, pipe):
    """`generate` from the image with the face's tensors from a torch file = diffusers' `ConsisIDPipeline` given the same
    image, tensors and seed (its DDIM sampler; its image's latent drawn before the noise, as its call draws them); the
    sidecar records the file."""
    import diffusers

    own = assert_image_to_video_is_the_stock_call(pipe, diffusers.ConsisIDPipeline, folder, folder / "face.png", 32, 48, 9,
                                                  same="seed", request=dict(identity=str(folder / "face_id.pt")),
                                                  **consisid_faces())
    assert own.settings["identity"] == str(folder / "face_id.pt")
    other = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(folder / "face.png"),
                                           identity=consisid_faces(seed=6)))  # from Python: a dict of them
    assert other.settings["identity"] == "in memory" and not np.array_equal(other.frames, own.frames)


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_at_2x_with_the_identity_file_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --image --identity --ratio 2 --method m`: 2x its 3 latent frames is 6, and CogVideoX's VAE decodes
    an odd count alone to 4k+1 frames, so 7 latent = 25 pixel frames at its 8 fps; the sidecar names the method and the
    identity file."""
    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(folder / "face.png"),
                 "--identity", str(folder / "face_id.pt"), "--ratio", "2", "--method", method, "--out", str(out)]) == 0
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (25, 32, 48, 3) and fps == pytest.approx(8) and settings["latent_frames"] == 7
    assert [m["name"] for m in settings["methods"]] == RECORDED_METHODS[method]
    assert settings["identity"] == str(folder / "face_id.pt")


def saved_plain_folder(plain):
    """A tiny `ConsisIDPipeline` whose transformer has no ``is_train_face`` (no face modules) saved at `plain`, as
    `saved_folder` (1 step, no face files); returns `plain`."""
    from tiny_pipeline import tiny_consisid_pipeline

    tiny_consisid_pipeline(face=False).save_pretrained(plain, safe_serialization=True)
    (plain / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-consisid-plain", native_frames=NATIVE, fps=8, height=32,
                                                            width=48, num_inference_steps=1, guidance_scale=2.0)))
    return plain


@pytest.fixture(scope="module")
def plain_folder(tmp_path_factory):
    return saved_plain_folder(tmp_path_factory.mktemp("consisid-plain"))


def test_a_transformer_without_face_modules_generates_without_an_identity(plain_folder, folder, tmp_path):
    """No ``is_train_face``: `vidlong generate --image` runs with no identity file, as diffusers' call does."""
    out = tmp_path / "plain.mp4"
    assert main(["generate", "--model", str(plain_folder), "--prompt", "a red ball", "--image", str(folder / "face.png"),
                 "--out", str(out)]) == 0
    assert read_video(out)[0].shape == (9, 32, 48, 3) and json.loads(out.with_suffix(".json").read_text())["identity"] is None


def saved_faces(path, **fields):
    """`consisid_faces` with `fields` changed (None: left out), saved at `path`; returns the path as text."""
    faces = {name: value for name, value in dict(consisid_faces(), **fields).items() if value is not None}
    torch.save(faces, path)
    return str(path)


IDENTITY_REFUSALS = {
    "none": (None, "this ConsisID transformer (is_train_face) needs a face's identity tensors: pass --identity face_id.pt"),
    "no-file": ("missing.pt", "--identity: no file at missing.pt; check the path"),
    "not-torch": ("face.png", "--identity face.png is not a torch file of tensors"),
    "no-id-cond": (dict(id_cond=None), "has no id_cond; save ConsisID's process_face_embeddings_infer outputs"),
    "id-cond-shape": (dict(id_cond=torch.zeros(1, 5)), "id_cond has shape [1, 5], not [1, 6] as this transformer's config"),
    "hidden-count": (dict(id_vit_hidden=[torch.zeros(1, 7, 8)]), "id_vit_hidden must be a list of 2 tensors [1, T, 8]"),
    "hidden-shape": (dict(id_vit_hidden=[torch.zeros(1, 7, 8), torch.zeros(7, 8)]), "id_vit_hidden[1] has shape [7, 8]"),
    "not-finite": (dict(id_cond=torch.full((1, 6), float("nan"))), "id_cond holds NaN or infinite values"),
    "kps-shape": (dict(kps_cond=torch.zeros(4, 2)), "kps_cond has shape [4, 2], not [5, 2]"),
    "unknown-field": (dict(face=torch.zeros(1)), "has a field 'face' ConsisID's call does not take"),
}


@pytest.mark.parametrize("given, says", IDENTITY_REFUSALS.values(), ids=IDENTITY_REFUSALS.keys())
def test_a_missing_or_ill_shaped_identity_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch,
                                                                                 given, says):
    """No --identity for an is_train_face transformer, no file, a file torch cannot read, a field missing, of the wrong
    shape or not finite, a field its call does not take: one line naming it and the fix, exit 2, nothing loaded."""
    identity = saved_faces(tmp_path / "bad.pt", **given) if isinstance(given, dict) else given
    monkeypatch.chdir(folder)  # the relative paths: the folder's face.png, no missing.pt
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--image", "face.png"]
    line = check_refused_before_loading([*args, *(["--identity", identity] if identity else [])], tmp_path / "g.mp4", capsys,
                                        monkeypatch)
    assert line.startswith("vidlong: error: ") and says in line, line


def test_an_identity_for_a_model_without_face_modules_is_refused_in_one_line(plain_folder, folder, tmp_path, capsys,
                                                                              monkeypatch):
    line = check_refused_before_loading(["generate", "--model", str(plain_folder), "--prompt", "a red ball", "--image",
                                         str(folder / "face.png"), "--identity", str(folder / "face_id.pt")],
                                        tmp_path / "g.mp4", capsys, monkeypatch)
    assert "--identity gives a ConsisID transformer with is_train_face its face tensors; this model takes none: drop" in line


def test_generate_with_keypoints_is_diffusers_call_bit_for_bit(tmp_path):
    """A transformer with ``is_kps``: its call draws the keypoints' drawing's latent after the image's and before its noise,
    and puts it on frame 1; `generate` draws it as the call does (``draws_before_noise``), so its video with ``kps_cond`` is
    diffusers' with the same seed, bit for bit, and the keypoints count."""
    pytest.importorskip("cv2")  # diffusers' draw_kps draws with OpenCV
    from tiny_pipeline import tiny_consisid_pipeline

    from vidlong.models import ModelSpec

    spec = ModelSpec(name="tiny-consisid-kps", native_frames=NATIVE, height=32, width=48, num_inference_steps=2,
                     guidance_scale=2.0)
    pipe = vidlong.from_pipe(tiny_consisid_pipeline(kps=True), spec=spec)
    pipe.set_progress_bar_config(disable=True)
    stock = tiny_consisid_pipeline(kps=True)
    stock.set_progress_bar_config(disable=True)
    kps = torch.tensor([[12.0, 10.0], [34.0, 10.0], [24.0, 16.0], [15.0, 24.0], [32.0, 24.0]])
    faces = dict(consisid_faces(), kps_cond=kps)
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=face_image(), identity=faces))
    video = stock(image=face_image(), prompt="a red ball", height=32, width=48, num_frames=9, num_inference_steps=2,
                  guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="np", **faces).frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    moved = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=face_image(), identity=dict(faces, kps_cond=kps + 4)))
    assert not np.array_equal(moved.frames, own.frames)


def test_a_stream_starts_with_generates_video_and_every_forward_takes_the_face(folder, pipe):
    """A stream's first chunk of the native window is `generate`'s video (uint8 rounding aside); every forward of a stream
    in chunks of 1 latent frame (its guided batch of 2) takes the file's face tensors as given, and the image's latent on
    its window's first frame, zeros after; its window's frames count past the image's sink; another face, another stream."""
    from vidlong.methods import Streaming

    image, identity = str(folder / "face.png"), str(folder / "face_id.pt")
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=image, identity=identity))
    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3, image=image,
                                  identity=identity)))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    seen = []
    hook = pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append(k), with_kwargs=True)
    try:
        chunks = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1, sinks=1, window=1), chunks=3, seed=1,
                                                image=image, identity=identity)]
    finally:
        hook.remove()
    faces = consisid_faces()
    assert [len(c) for c in chunks] == [1, 4, 4] and len(seen) == 3 * 2  # 2 steps a chunk (a re-noised context: no cache)
    for kwargs in seen:
        x = kwargs["hidden_states"]  # [B, F, 2C, h, w]: frames before channels
        assert x.shape[0] == 2 and torch.equal(kwargs["id_cond"], faces["id_cond"])
        assert all(torch.equal(a, b) for a, b in zip(kwargs["id_vit_hidden"], faces["id_vit_hidden"], strict=True))
        assert x[:, :1, IN_CHANNELS:].abs().sum() > 0 and (x[:, 1:, IN_CHANNELS:] == 0).all()
    check_image_stream_context(pipe, folder / "face.png", identity=identity)
    other = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1, sinks=1, window=1), chunks=3, seed=1, image=image,
                                           identity=consisid_faces(seed=6))]
    assert not np.array_equal(other[2], chunks[2])


def test_cli_streams_and_extends_with_the_identity_file(folder, tmp_path):
    """`vidlong stream --image --identity` (2 chunks of 1 latent frame: 1 + 4 frames) and `vidlong extend --identity` of its
    output (1 chunk: 4 frames more, its frames first); the sidecars name the identity file."""
    streamed, extended = tmp_path / "s.mp4", tmp_path / "e.mp4"
    identity = ["--identity", str(folder / "face_id.pt")]
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--image", str(folder / "face.png"), *identity,
                 "--chunks", "2", "--chunk", "1", "--out", str(streamed)]) == 0
    assert main(["extend", "--model", str(folder), "--video", str(streamed), *identity, "--chunks", "1", "--chunk", "1",
                 "--prompt", "a red ball", "--out", str(extended)]) == 0
    assert len(read_video(streamed)[0]) == 5 and len(read_video(extended)[0]) == 9
    for out in (streamed, extended):
        assert json.loads(out.with_suffix(".json").read_text())["identity"] == str(folder / "face_id.pt")


@pytest.mark.parametrize("command", [["stream", "--image", "face.png", "--chunks", "2"], ["extend", "--video", "in.mp4"]],
                         ids=["stream", "extend"])
def test_a_stream_or_extension_without_the_identity_is_refused_in_one_line_before_loading(folder, tmp_path, capsys,
                                                                                           monkeypatch, command):
    monkeypatch.chdir(folder)
    line = check_refused_before_loading([command[0], "--model", str(folder), "--prompt", "a red ball", *command[1:]],
                                        tmp_path / "s.mp4", capsys, monkeypatch)
    assert "needs a face's identity tensors: pass --identity face_id.pt" in line


def test_a_stream_with_keypoints_is_refused_in_one_line():
    """An ``is_kps`` transformer's stream given keypoints: its windows would need their latent as a condition frame."""
    from tiny_pipeline import tiny_consisid_pipeline

    from vidlong.models import ModelSpec

    pipe = vidlong.from_pipe(tiny_consisid_pipeline(kps=True), spec=ModelSpec(name="tiny-consisid-kps", native_frames=NATIVE,
                                                                              height=32, width=48, num_inference_steps=1))
    with pytest.raises(vidlong.VidlongError, match=r"a ConsisID stream with keypoints \(is_kps\) is not implemented") as info:
        pipe.stream("a red ball", chunks=1, image=face_image(), identity=dict(consisid_faces(), kps_cond=torch.zeros(5, 2)))
    assert "\n" not in str(info.value)
