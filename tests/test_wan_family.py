"""Every Wan pipeline in diffusers with every vidlong method: Wan2.2's two experts, the TI2V-5B layout
(48-channel-style residual VAE, per-token timesteps) and image-to-video (Wan2.1 with CLIP, Wan2.2
A14B), on tiny random models built here."""
import dataclasses
import json

import numpy as np
import pytest
import torch
from diffusers import WanImageToVideoPipeline, WanPipeline
from PIL import Image

import vidlong
from vidlong.cli import main
from vidlong.extend import load_latents
from vidlong.models import model_facts, read_spec_file, spec_for_facts
from vidlong.video_io import read_video
from conftest import TEXT_DIM, tiny_transformer
from reference import WanReferenceAttention, rel_err
from tiny_pipeline import CLIP_DIM, NATIVE_LATENT_FRAMES as NATIVE, save_tiny_pipeline

FAMILY = ("wan2.2", "ti2v", "i2v", "i2v-a14b", "ti2v-i2v")
STOCK = {"wan2.2": WanPipeline, "ti2v": WanPipeline, "i2v": WanImageToVideoPipeline, "i2v-a14b": WanImageToVideoPipeline,
         "ti2v-i2v": WanImageToVideoPipeline}
IMAGE_KINDS = ("i2v", "i2v-a14b", "ti2v-i2v")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {kind: save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind) for kind in FAMILY}


def call_args(kind, image_path, latent_frames=2 * NATIVE):
    args = dict(prompt="a red circle", height=32, width=32, num_frames=4 * (latent_frames - 1) + 1,
                num_inference_steps=2, guidance_scale=2.0, output_type="latent", generator=torch.Generator().manual_seed(0))
    if kind in IMAGE_KINDS:
        args["image"] = Image.open(image_path)
    return args


@pytest.mark.parametrize("kind", FAMILY)
def test_methods_off_is_stock_bit_for_bit(folders, image_path, kind):
    """Applied with neutral settings, and applied then removed: the stock diffusers pipeline's latents."""
    stock = STOCK[kind].from_pretrained(folders[kind])
    stock.set_progress_bar_config(disable=True)
    expected = stock(**call_args(kind, image_path)).frames
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe.apply(vidlong.UltraViCo(alpha=1.0, guard_first_frame=False), vidlong.SpectralFusion(windows=()))
    assert torch.equal(pipe(**call_args(kind, image_path)).frames, expected)
    pipe.apply(vidlong.UltraViCo(), vidlong.SpectralFusion())
    changed = pipe(**call_args(kind, image_path)).frames
    pipe.remove()
    assert torch.equal(pipe(**call_args(kind, image_path)).frames, expected)
    assert not torch.equal(changed, expected)  # the methods did act, on every expert
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for t in pipe.experts() for b in t.blocks)


def expert_inputs(kind, transformer, frames, dtype):
    """Latents and conditioning as each family's pipeline feeds its transformer."""
    gen = torch.Generator().manual_seed(4)
    channels = transformer.config.in_channels
    inputs = dict(hidden_states=torch.randn(1, channels, frames, 4, 4, generator=gen).to(dtype),
                  encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype), return_dict=False)
    tokens = frames * 2 * 2
    inputs["timestep"] = torch.full((1, tokens), 600.0) if kind.startswith("ti2v") else torch.tensor([600.0])
    if transformer.config.image_dim:
        inputs["encoder_hidden_states_image"] = torch.randn(1, 17, CLIP_DIM, generator=gen).to(dtype)
    return inputs


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))], ids=["ultravico", "fusion"])
@pytest.mark.parametrize("kind", FAMILY)
def test_methods_match_float64_reference(folders, kind, method):
    """Every expert with the method (float32, dense kernel) vs the same expert in float64 running the
    reference math: per-token timesteps (TI2V), condition channels and CLIP tokens (I2V) included."""
    frames = 4 * NATIVE
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    pipe.apply(method, kernel="dense")
    for transformer in pipe.experts():
        with torch.no_grad():
            out = transformer(**expert_inputs(kind, transformer, frames, torch.float32))[0]
        reference = type(transformer).from_config(transformer.config).to(torch.float64)
        reference.load_state_dict({k: v.double() for k, v in transformer.state_dict().items()})
        for block in reference.blocks:
            block.attn1.set_processor(WanReferenceAttention(method, frames, (2, 2), NATIVE))
        with torch.no_grad():
            ref = reference(**expert_inputs(kind, reference, frames, torch.float64))[0]
        assert rel_err(out, ref) < 1e-5
    pipe.remove()


@pytest.mark.parametrize("kind", FAMILY)
def test_generate_cli_end_to_end(folders, image_path, tmp_path, kind):
    out = tmp_path / "video.mp4"
    args = ["generate", "--model", str(folders[kind]), "--prompt", "a red circle", "--method", "both", "--ratio", "2",
            "--out", str(out), "--save-latents", str(tmp_path / "video.pt")]
    if kind in IMAGE_KINDS:
        args += ["--image", str(image_path)]
    assert main(args) == 0
    frames, _ = read_video(out)
    assert frames.shape == (4 * (2 * NATIVE - 1) + 1, 32, 32, 3)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["latent_frames"] == 2 * NATIVE and settings["model"] == f"tiny-{kind}"
    latents, meta = load_latents(tmp_path / "video.pt")
    assert latents.shape[2] == 2 * NATIVE and meta["prompt"] == "a red circle"


def count_calls(module) -> list:
    calls = []
    module.register_forward_pre_hook(lambda m, args, kwargs: calls.append(kwargs["timestep"].flatten()[0].item()),
                                     with_kwargs=True)
    return calls


@pytest.mark.parametrize("kind", ["wan2.2", "ti2v"])
def test_stream_two_experts_and_per_token_timesteps(folders, kind):
    """4 chunks: each step goes to the expert its timestep selects, every expert writes its own cache
    with its own clean forward (so both hold the same frames), and the cost per chunk stays flat: the
    caches never grow and every chunk after the window fills attends to the same number of keys."""
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, steps=4)
    calls = [count_calls(t) for t in pipe.experts()]
    stream = pipe.stream("a red circle", streaming=streaming, chunks=4, seed=1)
    sizes, storage = [], None
    for chunk in stream:
        caches = [c.cache for c in stream.contexts]
        assert all(c.frames == caches[0].frames for c in caches)
        assert all(torch.equal(c.positions(), caches[0].positions()) for c in caches)
        sizes.append(caches[0].frames)
        pointers = [t.data_ptr() for c in caches for layer in c.layers for t in (layer.keys, layer.values)]
        assert storage in (None, pointers)
        storage = pointers
    assert sizes == [1, 2, 2, 2]
    boundary = 0.5 * 1000
    if kind == "wan2.2":
        high, low = calls
        assert [t for t in high if t != 0] and all(t >= boundary for t in high if t != 0)
        assert [t for t in low if t != 0] and all(t < boundary for t in low if t != 0)
        assert high.count(0.0) == low.count(0.0) == 4  # one clean forward per chunk on each expert
    else:
        assert len(calls[0]) == 4 * (4 + 1)
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for t in pipe.experts() for b in t.blocks)


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_image_to_video_one_chunk_stream_is_the_pipelines_own_generation(folders, image_path, kind):
    """A stream whose first chunk is the native window, with the image: the pipeline's own I2V call
    (same noise, steps and guidance), up to batching of the two guidance branches."""
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    image = Image.open(image_path)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, first_chunk=NATIVE, steps=2)
    chunk = next(iter(pipe.stream("a red circle", streaming=streaming, chunks=1, seed=5, image=image)))
    grid = 32 // pipe.vae_scale_factor_spatial
    noise = torch.randn(1, pipe.latent_channels, NATIVE, grid, grid, generator=torch.Generator().manual_seed(5))
    expected = pipe(image=image, prompt="a red circle", num_frames=4 * NATIVE - 3, num_inference_steps=2, latents=noise,
                    output_type="latent").frames
    if kind == "ti2v-i2v":  # the pipeline returns its last step's latents and puts the image on frame 0 itself
        expected = torch.cat([chunk.latents[:, :, :1], expected[:, :, 1:]], dim=2)
    assert rel_err(chunk.latents, expected) < 1e-5


@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_image_to_video_streams_with_the_image_on_every_windows_first_frame(folders, image_path, kind):
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    seen = []
    for transformer in pipe.experts():
        transformer.register_forward_pre_hook(lambda m, a, k: seen.append((k["hidden_states"], k["timestep"])), with_kwargs=True)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, steps=2)
    chunks = list(pipe.stream("a red circle", streaming=streaming, chunks=4, seed=1, image=Image.open(image_path)))
    assert [len(c.frames) for c in chunks] == [1, 4, 4, 4]
    assert [x.shape[2] for x, _ in seen] == [1, 1, 2, 2, 3, 3, 3, 3]  # [sink | window | chunk], re-noised
    for x, t in seen:
        if kind == "ti2v-i2v":  # frame 0 is the image's latent, at timestep 0
            assert (t.view(x.shape[0], x.shape[2], -1)[:, 0] == 0).all() and (t.view(x.shape[0], x.shape[2], -1)[:, 1:] > 0).all()
        else:  # mask channels: 1 on the window's first frame only
            mask = x[:, pipe.latent_channels : pipe.latent_channels + 4]
            assert (mask[:, :, 0] == 1).all() and (mask[:, :, 1:] == 0).all()


def test_a_float32_image_encoder_beside_a_bfloat16_transformer_streams(folders, image_path):
    """Wan2.1 I2V as diffusers' example loads it (the CLIP image encoder and the VAE in float32, the transformer in
    bfloat16): a stream hands the transformer the image's states in its dtype, as the call does."""
    pipe = vidlong.load_pipeline(folders["i2v"], device="cpu", dtype="bfloat16")
    pipe.image_encoder.to(torch.float32)
    pipe.vae.to(torch.float32)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, steps=1)
    chunks = list(pipe.stream("a red circle", streaming=streaming, chunks=2, seed=1, image=Image.open(image_path)))
    assert [len(c.frames) for c in chunks] == [1, 4] and all(c.latents.isfinite().all() for c in chunks)


def test_image_to_video_stream_refusals_are_one_line(folders, image_path, tmp_path, capsys):
    base = ["stream", "--model", str(folders["i2v"]), "--prompt", "a red circle", "--chunks", "2", "--out", str(tmp_path / "x.mp4")]
    for extra, message in [(["--image", str(image_path), "--context", "cache"], "only with --context renoise"),
                           (["--image", str(image_path), "--sinks", "0"], "needs --sinks >= 1"),
                           ([], "pass the first frame with --image")]:
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind, image, message", [("i2v", False, "pass the first frame with --image"),
                                                  ("wan2.2", True, "takes no --image")])
def test_image_flag_checked_against_the_task(folders, image_path, tmp_path, capsys, kind, image, message):
    args = ["generate", "--model", str(folders[kind]), "--prompt", "a red circle", "--out", str(tmp_path / "x.mp4")]
    assert main(args + (["--image", str(image_path)] if image else [])) == 2
    assert message in capsys.readouterr().err


def test_a_ti2v_text_to_video_folder_loads_as_its_image_to_video_pipeline_given_an_image(folders, image_path, tmp_path, capsys):
    """TI2V-5B's `WanPipeline` folder with an image: `load_pipeline(task="i2v")` gives vidlong's
    `WanImageToVideoPipeline` with ``expand_timesteps``, whose video is that of the same weights saved as one (bit for
    bit); `vidlong generate --image` takes the folder as it is; a Wan2.2 A14B text-to-video folder has no such twin (one line)."""
    pipe = vidlong.load_pipeline(folders["ti2v"], device="cpu", task="i2v")
    assert type(pipe).__name__ == "VidLongWanImageToVideoPipeline" and pipe.config.expand_timesteps and pipe.task == "i2v"
    from vidlong.generate import GenerateRequest, generate

    request = GenerateRequest(prompt="a red circle", ratio=2, seed=1, image=str(image_path))
    saved = vidlong.load_pipeline(folders["ti2v-i2v"], device="cpu")
    assert torch.equal(generate(pipe, request).latents, generate(saved, request).latents)
    assert main(["generate", "--model", str(folders["ti2v"]), "--prompt", "a red circle", "--image", str(image_path),
                 "--out", str(tmp_path / "x.mp4")]) == 0
    with pytest.raises(vidlong.VidlongError, match="no image-to-video pipeline takes"):
        vidlong.load_pipeline(folders["wan2.2"], device="cpu", task="i2v")
    with pytest.raises(vidlong.VidlongError, match="is 't2v', 'i2v', 'v2v', 'animate' or 'control', got 'image'"):
        vidlong.load_pipeline(folders["wan2.2"], device="cpu", task="image")


@pytest.fixture(scope="module")
def flf2v_folder(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("flf2v"), "flf2v")


@pytest.mark.parametrize("kind", ["flf2v", "i2v-a14b"])
def test_a_last_frame_conditions_the_video_as_the_pipeline_does(folders, flf2v_folder, image_path, tmp_path, kind):
    """`generate` with a first and a last frame (Wan2.1 FLF2V: both images' CLIP tokens; Wan2.2 I2V A14B: condition
    channels alone) at 2x native with `both`: the pipeline's own call with `last_image` and the same noise and methods,
    bit for bit; `vidlong generate --last-image` writes the mp4 and records it. Without it FLF2V is refused in one line,
    and the two-expert model's video differs."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.methods import methods_for

    folder = flf2v_folder if kind == "flf2v" else folders[kind]
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    last = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    request = GenerateRequest(prompt="a red circle", ratio=2, seed=1, method="both", image=str(image_path), last_image=last)
    made = generate(pipe, request)
    assert made.settings["last_image"] == "in memory" and made.settings["image"] == str(image_path)
    noise = torch.randn(1, pipe.latent_channels, 2 * NATIVE, 4, 4, generator=torch.Generator().manual_seed(1))
    pipe.apply(*methods_for("both", None))
    expected = pipe(image=Image.open(image_path), last_image=Image.fromarray(last), prompt="a red circle",
                    num_frames=4 * (2 * NATIVE - 1) + 1, num_inference_steps=2, guidance_scale=2.0, latents=noise,
                    output_type="latent").frames
    pipe.remove()
    assert torch.equal(made.latents, expected)
    if kind == "flf2v":
        with pytest.raises(vidlong.VidlongError, match="takes the last frame too: pass it with last_image"):
            generate(pipe, dataclasses.replace(request, last_image=None))
    else:
        assert not torch.equal(generate(pipe, dataclasses.replace(request, last_image=None)).latents, made.latents)

    out = tmp_path / "flf.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red circle", "--image", str(image_path),
                 "--last-image", str(image_path), "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["last_image"] == str(image_path)


@pytest.mark.parametrize("kind, extra, message", [
    ("i2v", [], "this model takes no last frame"),  # Wan2.1 I2V's CLIP input takes one image
    ("ti2v-i2v", [], "this model takes no last frame"),
    ("i2v-a14b", ["--method", "fifo"], "method fifo makes the video frame by frame"),
    ("i2v-a14b", ["--last-image", "missing.png"], "--last-image: no image file at missing.png; check the path"),
    ("wan2.2", [], "this model takes no last frame"),
    ("flf2v", ["--last-image"], "takes the last frame too: pass it with --last-image"),
    ("flf2v", ["stream"], "it does not stream or extend"),
    ("flf2v", ["stream", "--method", "fifo"], "it does not stream or extend")])
def test_a_last_frame_is_refused_in_one_line_where_it_cannot_go(folders, flf2v_folder, image_path, tmp_path, capsys, kind, extra,
                                                                 message):
    command = "stream" if "stream" in extra else "generate"
    extra = [a for a in extra if a != "stream"]
    model = flf2v_folder if kind == "flf2v" else folders[kind]
    args = [command, "--model", str(model), "--prompt", "a red circle", "--out", str(tmp_path / "x.mp4")]
    args += [] if kind == "wan2.2" else ["--image", str(image_path)]
    if extra == ["--last-image"]:  # none given
        extra = []
    elif command == "generate":
        args += [] if extra[:1] == ["--last-image"] else ["--last-image", str(image_path)]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []



@pytest.mark.parametrize("flag", ["--image", "--last-image"])
def test_a_video_or_a_folder_given_as_an_image_is_refused_saying_what_it_is(folders, image_path, tmp_path, capsys, monkeypatch,
                                                                              flag):
    """A user's mp4 (or a folder) where a first or a last frame goes: one line saying it is a video, with the ffmpeg line
    taking a frame of it (and, for the first frame, vidlong extend), before any model loads; before, "is not a readable
    image (UnidentifiedImageError)"."""
    from vidlong import pipeline as pipeline_module
    from vidlong.video_io import write_video

    monkeypatch.setattr(pipeline_module, "load_pipeline", lambda *a, **k: pytest.fail("model loaded"))
    clip = write_video(tmp_path / "clip.mp4", np.full((5, 32, 32, 3), 90, np.uint8), fps=8)
    extend = f", or continue the video itself with vidlong extend --video {clip}" if flag == "--image" else ""
    said = {clip: f"error: {flag} {clip} is a video, not an image; pass one frame of it as a PNG (its first: ffmpeg -i {clip} "
                  f"-frames:v 1 {tmp_path / 'clip_first_frame.png'}){extend}",
            tmp_path: f"error: {flag} {tmp_path} is a folder; pass a PNG or JPEG file"}
    for given, line in said.items():
        images = {"--image": image_path, "--last-image": image_path, flag: given}
        args = ["generate", "--model", str(folders["i2v-a14b"]), "--prompt", "a red circle", "--out", str(tmp_path / "x.mp4")]
        assert main(args + [str(part) for pair in images.items() for part in pair]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith(line) and len(err.splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


# Transformer configs as the released diffusers folders have them (the keys the rules test).
RELEASED = {
    "wan2.1-t2v-1.3b": (dict(num_layers=30, num_attention_heads=12, attention_head_dim=128, in_channels=16), 1, False, "t2v"),
    "wan2.1-t2v-14b": (dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=16), 1, False, "t2v"),
    "wan2.1-i2v-14b": (dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=36, image_dim=1280), 1, False, "i2v"),
    "wan2.1-flf2v-14b": (dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=36, image_dim=1280,
                              pos_embed_seq_len=514), 1, False, "i2v"),
    "wan2.2-t2v-a14b": (dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=16), 2, False, "t2v"),
    "wan2.2-i2v-a14b": (dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=36), 2, False, "i2v"),
    "wan2.2-ti2v-5b": (dict(num_layers=30, num_attention_heads=24, attention_head_dim=128, in_channels=48), 1, True, "t2v"),
}


@pytest.mark.parametrize("name", RELEASED)
def test_released_models_get_their_spec(name):
    config, experts, expand, task = RELEASED[name]
    spec = spec_for_facts(model_facts(config, experts, expand, task))
    assert spec.name == name
    assert (spec.native_frames, spec.fps) == ((31, 24) if name == "wan2.2-ti2v-5b" else (21, 16))


def test_pipeline_call_defaults_come_from_the_spec(folders):
    pipe = vidlong.load_pipeline(folders["wan2.2"], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    latents = pipe("a red circle", output_type="latent").frames  # spec: 32x32, 3 latent frames, 2 steps
    assert latents.shape == (1, 4, NATIVE, 4, 4)


def test_apply_takes_native_length_from_the_folder_or_refuses(folders):
    from diffusers import WanTransformer3DModel

    transformer = WanTransformer3DModel.from_pretrained(folders["wan2.2"], subfolder="transformer")
    assert vidlong.apply(transformer, vidlong.UltraViCo()).native_frames == NATIVE  # from the folder's vidlong.yaml
    bare = tiny_transformer()  # made in code: no folder, no known config
    with pytest.raises(vidlong.VidlongError, match="native_frames="):
        vidlong.apply(bare, vidlong.UltraViCo())
    assert vidlong.apply(bare, vidlong.UltraViCo(), native_frames=5).native_frames == 5
    pipe = vidlong.load_pipeline(folders["wan2.2"], device="cpu")
    with pytest.raises(vidlong.VidlongError, match=r"takes the pipeline's transformer.*vidlong.apply\(pipe.transformer, ...\)"):
        vidlong.apply(pipe, vidlong.UltraViCo())
    with pytest.raises(vidlong.VidlongError, match=r"vidlong.remove takes .*vidlong.remove\(pipe.transformer\) and "
                       r"vidlong.remove\(pipe.transformer_2\), or pipe.remove"):
        vidlong.remove(pipe)  # was a silent no-op that left the methods on
    with pytest.raises(vidlong.VidlongError, match="vidlong supports diffusers' WanTransformer3DModel"):
        vidlong.remove(torch.nn.Linear(2, 2))


def test_default_model_spec_reaches_apply():
    pipe = vidlong.load_pipeline(device="cpu")
    assert vidlong.apply(pipe.transformer, vidlong.UltraViCo()).native_frames == 9
    vidlong.remove(pipe.transformer)


@pytest.mark.parametrize("text", ["native_frames: 0\n", "native_frames: [1\n"])
def test_bad_spec_file_is_one_line(tmp_path, text):
    (tmp_path / "vidlong.yaml").write_text(text)
    with pytest.raises(vidlong.VidlongError, match="vidlong.yaml"):
        read_spec_file(tmp_path / "vidlong.yaml")


@pytest.mark.parametrize("kind", ["wan2.2", "ti2v", "i2v"])
def test_chunked_decode_is_the_pipelines_own_decode_bit_for_bit(folders, image_path, kind):
    """`decode_uint8` (4 latent frames at a time through the VAE's feature cache, straight to uint8) gives
    the frames of the pipeline's own ``output_type="np"`` decode, Wan2.2's patched VAE included; other
    chunk sizes and the fast paths agree to float rounding (one grey level on a few pixels)."""
    pipe = vidlong.load_pipeline(folders[kind], device="cpu")
    pipe.set_progress_bar_config(disable=True)
    args = call_args(kind, image_path, latent_frames=3 * NATIVE)
    latents = pipe(**args).frames
    stock = pipe(**dict(args, output_type="np", generator=torch.Generator().manual_seed(0))).frames[0]
    expected = (np.clip(stock, 0, 1) * 255).round().astype(np.uint8)
    assert pipe.decodes_in_chunks()
    assert np.array_equal(pipe.decode_uint8(latents), expected)
    for chunk in (1, 3 * NATIVE):
        got = pipe.decode_uint8(latents, chunk=chunk).astype(int)
        assert np.abs(got - expected).max() <= 1 and (got != expected).mean() < 1e-3
    fast = pipe.decode_uint8(latents, fast=True).astype(int)  # the streaming decoder's oneDNN path where it has one
    assert fast.shape == expected.shape and np.abs(fast - expected).max() <= 1


def test_generate_leaves_a_tiled_vae_to_the_pipelines_own_decode(folders):
    """With the VAE's spatial tiling on (diffusers' ``vae.enable_tiling()``, which bounds a large frame's decode memory),
    `generate` decodes through the pipeline's own call, which tiles, not through `decode_uint8`, which would not: the
    tiling was ignored. Its frames are the tiled decode of its latents."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folders["wan2.2"], device="cpu")
    pipe.vae.enable_tiling(tile_sample_min_height=16, tile_sample_min_width=16, tile_sample_stride_height=8,
                           tile_sample_stride_width=8)
    tiled = []
    decode = pipe.vae.tiled_decode
    pipe.vae.tiled_decode = lambda *args, **kwargs: tiled.append(1) or decode(*args, **kwargs)
    result = generate(pipe, GenerateRequest(prompt="a red circle", steps=1))
    assert tiled and not pipe.decodes_in_chunks()
    config = pipe.vae.config
    latents = result.latents * torch.tensor(config.latents_std).view(1, -1, 1, 1, 1) + torch.tensor(config.latents_mean).view(
        1, -1, 1, 1, 1)
    with torch.no_grad():
        frames = pipe.video_processor.postprocess_video(pipe.vae.decode(latents).sample, output_type="np")[0]
    assert np.array_equal(result.frames, (np.clip(frames, 0, 1) * 255).round().astype(np.uint8))


@pytest.mark.parametrize("kind", FAMILY)
def test_generates_latents_are_the_ones_its_frames_decode_from(folders, image_path, kind):
    """`GenerateResult.latents` (what --save-latents writes, and a continuation starts from) decode to the
    result's frames: TI2V's image-to-video puts the image's latent into frame 0 after the denoising loop,
    which latents taken at the last step missed."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folders[kind])
    result = generate(pipe, GenerateRequest(prompt="a red circle", ratio=2, steps=2,
                                            image=str(image_path) if kind in IMAGE_KINDS else None))
    assert np.array_equal(pipe.decode_uint8(result.latents), result.frames)


def test_generate_takes_the_image_as_a_path_a_pil_image_or_a_frame(folders, image_path):
    """From Python the first frame may be a path, a PIL image or a uint8 frame: the same video; the settings
    record the path, or "in memory"."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folders["i2v"])
    with Image.open(image_path) as opened:
        image = opened.convert("RGB")
    made = [generate(pipe, GenerateRequest(prompt="a red circle", steps=1, image=given))
            for given in (str(image_path), image, np.asarray(image))]
    assert all(torch.equal(m.latents, made[0].latents) for m in made[1:])
    assert [m.settings["image"] for m in made] == [str(image_path), "in memory", "in memory"]
    json.dumps(made[1].settings)
    with pytest.raises(vidlong.VidlongError, match=r"image \(--image\) is a float32 array"):
        generate(pipe, GenerateRequest(prompt="a red circle", image=np.zeros((32, 32, 3), np.float32)))
