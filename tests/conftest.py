"""Tiny models built locally for the tests (no downloads)."""
from __future__ import annotations

import triton_interpreter  # noqa: F401  (first: Triton must see TRITON_INTERPRET before diffusers imports it)

import os
import random
import sys
import zlib

import numpy as np
import pytest
import torch

# no test reaches the network: Hugging Face's clients (gradio_client's among them) look for nothing on the Hub
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# under pytest-xdist each worker gets its share of the cores (two workers of two threads each would
# fight over a 2-core machine), and so do the processes its tests start (a `vidlong` command, the app, torchrun's
# ranks), through OMP_NUM_THREADS: a tiny model's stream of 3 chunks took 12.6-13.3 s in a process of torch's default 2
# threads beside a busy worker, 6.2-6.4 s in one of 1 (its ops are too small to share, and each waits on a thread the
# other worker holds)
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))

#: the slowest files first (their seconds on 2 CPU cores, --junitxml, session 61: 93, 70, 76, 40, 23, 23, 21, 20; the
#: browser's file third, so that it does not start beside test_app's servers), so that the README's two workers
#: (`--dist loadfile --no-loadscope-reorder`: files in this order, each to the first free worker) end together instead
#: of one of them starting the slowest last
SLOWEST_FILES = ("test_app.py", "test_default_model.py", "test_app_browser.py", "test_causal_model.py", "test_parallel.py",
                 "test_family_pipelines.py", "test_eval_runner.py", "test_cosmos_transfer.py")


def pytest_configure(config):
    """Stops before any test where vidlong's packages come from another checkout than these tests' (an editable install
    of one clone maps ``vidlong.attention``, ``vidlong.configs`` and the other top-level folders to that clone even when
    pytest runs in another, so a change there would go untested): ``pip install -e .`` in this one first. A copy installed
    from this checkout just before (the GPU machine's, `benchmarks/device_setup.sh`, which names this checkout in
    ``VIDLONG_INSTALLED_FROM`` and the copy's folder in ``VIDLONG_INSTALLED_TO``) is this checkout's code too."""
    import importlib.util
    import os
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    copy = Path(os.environ["VIDLONG_INSTALLED_TO"]).resolve() if os.environ.get("VIDLONG_INSTALLED_FROM") == str(root) else None
    for name in ("vidlong", "vidlong.attention", "vidlong.schedulers", "vidlong.apps", "vidlong.configs"):
        spec = importlib.util.find_spec(name)
        where = Path(spec.submodule_search_locations[0]).resolve() if spec is not None else None
        if where is None or (root not in where.parents and copy not in where.parents):
            raise pytest.UsageError(f"{name} is imported from {where}, not from this checkout ({root}): run pip install -e . "
                                    "in it first")


@pytest.fixture(autouse=True, scope="session")
def patient_gradio_launch():
    """Gradio's launch checks that its own server answers (`gradio.networking.url_ok`), and one HEAD request that takes
    over 3 s fails the launch ("When localhost is not accessible..."): on a busy 2-core machine that failed a test_app
    fixture now and then. The servers the tests launch in this process are then used by real clients and a real browser,
    so here the check asks up to four times. (Gradio is imported at collection by the files that use it.)"""
    networking = sys.modules.get("gradio.networking")
    if networking is None:
        yield
        return
    url_ok = networking.url_ok
    networking.url_ok = lambda url: any(url_ok(url) for _ in range(4))
    yield
    networking.url_ok = url_ok


def pytest_collection_modifyitems(items):
    """Runs the `SLOWEST_FILES` first, in that order; every file's tests stay together and in order."""
    rank = {name: place for place, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOWEST_FILES)))



def _seed_from(name: str) -> None:
    """Seeds torch's, NumPy's and `random`'s global generators from `name`."""
    seed = zlib.crc32(name.encode())
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


@pytest.fixture(autouse=True, scope="module")
def seeded_module(request):
    """Each file's module-scoped fixtures draw from generators seeded by the file's name (see `seeded`)."""
    _seed_from(request.node.nodeid)


@pytest.fixture(autouse=True)
def seeded(request):
    """Each test draws from global generators seeded by its own id, so what it draws without a generator of its own is the
    same whichever files its worker ran before it: the README's `--dist loadfile` hands each file to whichever worker is
    free first, an order that differs from run to run and from machine to machine."""
    _seed_from(request.node.nodeid)


@pytest.fixture
def reaped():
    """``reaped(process)`` returns the `subprocess.Popen` `process`, killed and waited for at the test's end if it still
    runs: a test failing part way leaves no child running on (a ``--forever`` stream would hold a core for the rest of
    the run, and a child blocked on its pipe would never end)."""
    processes = []
    yield lambda process: processes.append(process) or process
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


#: latent channels / patch of every tiny transformer here
IN_CHANNELS = 4
TEXT_DIM = 16


@pytest.fixture
def run_bars(monkeypatch) -> dict:
    """`vidlong generate`'s bars (`vidlong.progress.RunBar`) made in the test, each to the (stage, count, total) it showed, in
    order, from its first draw (none before its total is known)."""
    from vidlong.progress import RunBar

    shown, show = {}, RunBar._show

    def recording(bar):
        show(bar)
        if bar.bar is not None:
            shown.setdefault(bar, []).append((bar.stage, bar.bar.n, bar.bar.total))

    monkeypatch.setattr(RunBar, "_show", recording)
    return shown


def jittered(model):
    """`model` with 0.05 of standard normal noise added to every weight (from torch's global generator, after the caller's
    seed), the zero-initialised ones too, so that every path carries signal; in eval mode."""
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def tiny_transformer(seed: int = 0, layers: int = 2, heads: int = 2, head_dim: int = 16, channels: int = IN_CHANNELS,
                     out_channels=None, image_dim=None, pos_embed_seq_len=None, model_class=None, **config):
    """A random WanTransformer3DModel small enough for exact CPU checks (patch (1, 2, 2)); `channels`
    in (I2V: noise + mask + condition), `out_channels` (default `channels`), `image_dim` for a CLIP input
    (whose tokens get their own key/value projections in cross-attention, as Wan2.1 I2V's);
    `pos_embed_seq_len` for two images' CLIP tokens (Wan2.1 FLF2V's first and last frames); `model_class` another
    class of Wan's constructor (SkyReels-V2's) and `config` its own arguments. Diffusers is imported here, not at the top:
    the xdist controller imports this file too and runs no test."""
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    model = (model_class or WanTransformer3DModel)(
        patch_size=(1, 2, 2), num_attention_heads=heads, attention_head_dim=head_dim, in_channels=channels,
        out_channels=out_channels or channels, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=layers,
        cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=64, image_dim=image_dim,
        added_kv_proj_dim=heads * head_dim if image_dim else None, pos_embed_seq_len=pos_embed_seq_len, **config,
    )
    # random init of the zero-initialised parts, so every path carries signal
    return jittered(model)


def transformer_inputs(frames: int, height: int = 4, width: int = 4, seed: int = 1, dtype=torch.float32):
    """Latents ``[1, C, F, H, W]`` (latent frames), a timestep and text states for `tiny_transformer`."""
    gen = torch.Generator().manual_seed(seed)
    return dict(
        hidden_states=torch.randn(1, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
        timestep=torch.tensor([500.0]),
        encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
        return_dict=False,
    )


@pytest.fixture(scope="module")
def pipe(folder):
    """The module's pipeline folder (its own `folder` fixture) loaded on the CPU, its progress bars off."""
    from vidlong.pipeline import load_pipeline

    pipe = load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="session")
def image_path(tmp_path_factory):
    """A 32x32 random RGB PNG: the first frame for the tiny image-to-video pipelines."""
    import numpy as np
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="session")
def reference_path(tmp_path_factory):
    """A 25-frame 48x48 mp4 at 24 fps, random pixels (an LTX-2 IC-LoRA's reference video's stand-in: a pose video, an SDR
    clip): 2x the tiny LTX-2's native 2 latent frames."""
    from vidlong.video_io import write_video

    frames = np.random.default_rng(4).integers(0, 255, (25, 48, 48, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("reference") / "reference.mp4", frames, 24)


def stand_in_torchvision_resize(monkeypatch) -> None:
    """On diffusers' Cosmos control branch module (`controlnet_cosmos`), where torchvision is not installed, a stand-in of
    the one torchvision function its forward calls (``transforms.functional.resize`` of its all-zero padding mask, nearest):
    ``torch.nn.functional.interpolate``, nearest (a zero mask either way)."""
    import types

    from diffusers.models.controlnets import controlnet_cosmos

    if getattr(controlnet_cosmos, "transforms", None) is not None:
        return

    def resize(x, size, interpolation=None):
        return torch.nn.functional.interpolate(x, size=size, mode="nearest")

    monkeypatch.setattr(controlnet_cosmos, "transforms", types.SimpleNamespace(
        functional=types.SimpleNamespace(resize=resize), InterpolationMode=types.SimpleNamespace(NEAREST="nearest")),
        raising=False)


def stand_in_torchvision_to_tensor(monkeypatch) -> None:
    """On diffusers' Cosmos-Predict2.5 pipeline module, where torchvision is not installed, a stand-in of the one torchvision
    function its Image2World call runs (``transforms.functional.to_tensor`` of a PIL image: its bytes / 255 in float32,
    ``[C, H, W]``), written with NumPy, so that its own ``image=`` call is the reference."""
    import types

    from diffusers.pipelines.cosmos import pipeline_cosmos2_5_predict

    if getattr(pipeline_cosmos2_5_predict, "torchvision", None) is not None:
        return

    def to_tensor(picture):
        return torch.from_numpy(np.ascontiguousarray((np.asarray(picture, np.float32) / np.float32(255)).transpose(2, 0, 1)))

    monkeypatch.setattr(pipeline_cosmos2_5_predict, "torchvision", types.SimpleNamespace(
        transforms=types.SimpleNamespace(functional=types.SimpleNamespace(to_tensor=to_tensor))), raising=False)


@pytest.fixture(scope="session")
def ltx2_folder(tmp_path_factory):
    """The tiny LTX-2.3 pipeline's folder (`tiny_pipeline.save_tiny_ltx2_pipeline`), which test_ltx2 and test_parallel's ranks
    only read."""
    from tiny_pipeline import save_tiny_ltx2_pipeline

    return save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("tiny-ltx2"), latest=True)


@pytest.fixture(scope="session")
def last_image_path(tmp_path_factory):
    """Another 32x32 random RGB PNG: a last frame."""
    import numpy as np
    from PIL import Image

    path = tmp_path_factory.mktemp("last") / "last.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def transformer():
    return tiny_transformer()


def tiny_ltx_transformer(seed: int = 0, layers: int = 2):
    """A random LTXVideoTransformer3DModel (2 heads x 16, patch 1) for exact CPU checks, its zero-initialised
    parts randomised as in `tiny_transformer`."""
    from diffusers import LTXVideoTransformer3DModel

    torch.manual_seed(seed)
    model = LTXVideoTransformer3DModel(in_channels=IN_CHANNELS, out_channels=IN_CHANNELS, num_attention_heads=2,
                                       attention_head_dim=16, cross_attention_dim=32, num_layers=layers,
                                       caption_channels=TEXT_DIM)
    return jittered(model)


def ltx_inputs(frames: int, height: int = 2, width: int = 3, seed: int = 1, dtype=torch.float32) -> dict:
    """Packed tokens ``[1, F·H·W, C]`` and the keyword arguments LTXPipeline gives its transformer
    (latent sizes, its RoPE scale for 25 fps and the 32x spatial / 8x temporal VAE)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, frames * height * width, IN_CHANNELS, generator=gen).to(dtype),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                timestep=torch.tensor([500.0]), encoder_attention_mask=torch.ones(1, 5),
                num_frames=frames, height=height, width=width, rope_interpolation_scale=(8 / 25, 32, 32),
                return_dict=False)


def tiny_ltx2_transformer(seed: int = 0, layers: int = 2, latest: bool = False, keyframes: bool = False):
    """A random LTX2VideoTransformer3DModel (video 2 heads x 16, audio 2 heads x 8, patch 1) for exact CPU checks, its
    zero-initialised parts randomised; `latest`: LTX-2.3's parts (per-head gates, STG's perturbable attention, prompt
    modulation, split RoPE), else LTX-2.0's; `keyframes`: LTX-2.5's learned marker of single-pixel-frame latents
    (``use_keyframes_abs_pos_embedding``)."""
    from diffusers import LTX2VideoTransformer3DModel

    torch.manual_seed(seed)
    model = LTX2VideoTransformer3DModel(
        in_channels=IN_CHANNELS, out_channels=IN_CHANNELS, num_attention_heads=2, attention_head_dim=16,
        cross_attention_dim=32, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=8, audio_cross_attention_dim=16, num_layers=layers, caption_channels=TEXT_DIM,
        rope_double_precision=False, gated_attn=latest, audio_gated_attn=latest, perturbed_attn=latest,
        cross_attn_mod=latest, audio_cross_attn_mod=latest, rope_type="split" if latest else "interleaved",
        use_keyframes_abs_pos_embedding=keyframes)
    return jittered(model)


def ltx2_inputs(frames: int, height: int = 2, width: int = 3, seed: int = 1, dtype=torch.float32, **extra) -> dict:
    """Packed video tokens ``[1, F·H·W, C]``, audio tokens ``[1, 5, 4]`` and the keyword arguments LTX2Pipeline gives its
    transformer (latent sizes, 24 fps, the audio's latent frames)."""
    gen = torch.Generator().manual_seed(seed)
    text = torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype)
    return dict(hidden_states=torch.randn(1, frames * height * width, IN_CHANNELS, generator=gen).to(dtype),
                audio_hidden_states=torch.randn(1, 5, 4, generator=gen).to(dtype), encoder_hidden_states=text,
                audio_encoder_hidden_states=text, timestep=torch.tensor([500.0]), sigma=torch.tensor([500.0]),
                encoder_attention_mask=torch.ones(1, 5), audio_encoder_attention_mask=torch.ones(1, 5),
                num_frames=frames, height=height, width=width, fps=24.0, audio_num_frames=5, return_dict=False, **extra)


def mp4_audio(path, rate: int, channels: int = 2) -> np.ndarray:
    """The audio track of an mp4 file as float samples ``[channels, samples]`` at `rate` Hz (ffmpeg decodes it)."""
    import subprocess

    import imageio_ffmpeg

    raw = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a", "-f", "f32le",
                          "-ac", str(channels), "-ar", str(rate), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, channels).T


def tiny_cogvideox_transformer(seed: int = 0, layers: int = 2, rope: bool = True, in_channels: int = IN_CHANNELS,
                               patch_size_t=None):
    """A random CogVideoXTransformer3DModel (2 heads x 16, patch 2; with `rope`, CogVideoX-5B's 3D RoPE
    supplied by the caller; `in_channels` 2 x `IN_CHANNELS` for image-to-video; `patch_size_t` 2: CogVideoX1.5's
    temporal patch, without the patch bias, as its release, and for image to video its ``ofs`` embedding) for exact CPU
    checks."""
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(seed)
    model = CogVideoXTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=in_channels,
                                        out_channels=IN_CHANNELS, time_embed_dim=16, text_embed_dim=TEXT_DIM,
                                        num_layers=layers, sample_width=8, sample_height=8, sample_frames=9,
                                        max_text_seq_length=5, use_rotary_positional_embeddings=rope,
                                        patch_size_t=patch_size_t, patch_bias=patch_size_t is None,
                                        ofs_embed_dim=16 if patch_size_t and in_channels > IN_CHANNELS else None)
    return jittered(model)


def cogvideox_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32, rope: bool = True):
    """Latents ``[1, F, C, H, W]`` (latent frames), 5 text states and, with `rope`, the 3D RoPE tables
    ``(cos, sin)`` ``[F·H/2·W/2, 16]`` as CogVideoXPipeline builds them for this grid."""
    from diffusers.models.embeddings import get_3d_rotary_pos_embed

    gen = torch.Generator().manual_seed(seed)
    inputs = dict(hidden_states=torch.randn(1, frames, IN_CHANNELS, height, width, generator=gen).to(dtype),
                  encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                  timestep=torch.tensor([500]), return_dict=False)
    if rope:
        cos, sin = get_3d_rotary_pos_embed(16, ((0, 0), (height // 2, width // 2)), (height // 2, width // 2), frames)
        inputs["image_rotary_emb"] = (cos.to(dtype), sin.to(dtype))
    return inputs


def tiny_hunyuan_transformer(seed: int = 0, image_condition_type=None, channels: int = IN_CHANNELS):
    """A random HunyuanVideoTransformer3DModel (2 heads x 16, patch (1, 2, 2), one dual-stream and one
    single-stream block) for exact CPU checks; `image_condition_type` as HunyuanVideo-I2V's ("latent_concat": the
    image's latent and a mask as 1 + C more input channels; "token_replace": the first frame's tokens replaced);
    `channels` in (SkyReels V1's image to video: 2 C, the image's latent as channels)."""
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(seed)
    channels = 2 * IN_CHANNELS + 1 if image_condition_type == "latent_concat" else channels
    model = HunyuanVideoTransformer3DModel(in_channels=channels, out_channels=IN_CHANNELS, num_attention_heads=2,
                                           attention_head_dim=16, num_layers=1, num_single_layers=1, num_refiner_layers=1,
                                           mlp_ratio=2.0, text_embed_dim=TEXT_DIM, pooled_projection_dim=8,
                                           rope_axes_dim=(4, 6, 6), image_condition_type=image_condition_type)
    return jittered(model)


def hunyuan_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[1, C, F, H, W]`` and 5 text states of which the last 2 are padding (masked)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                timestep=torch.tensor([500]), encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0]]),
                pooled_projections=torch.randn(1, 8, generator=gen).to(dtype), guidance=torch.tensor([3000.0]),
                return_dict=False)


#: the tiny HunyuanVideo 1.5's condition widths: ByT5 states and image (SigLIP) states
HV15_BYT5_DIM, HV15_IMAGE_DIM = 8, 8


def tiny_hunyuan15_transformer(seed: int = 0, channels: int = IN_CHANNELS):
    """A random HunyuanVideo15Transformer3DModel (2 heads x 16, patch 1, two dual-stream blocks) taking
    `channels` latent channels, the image condition's as many and its mask channel, as the released one; its
    image-to-video call sizes a 2:3 image 32x48 (``target_size`` 48)."""
    from diffusers import HunyuanVideo15Transformer3DModel

    torch.manual_seed(seed)
    model = HunyuanVideo15Transformer3DModel(in_channels=2 * channels + 1, out_channels=channels, num_attention_heads=2,
                                             attention_head_dim=16, num_layers=2, num_refiner_layers=1, mlp_ratio=2.0,
                                             text_embed_dim=TEXT_DIM, text_embed_2_dim=HV15_BYT5_DIM,
                                             image_embed_dim=HV15_IMAGE_DIM, rope_axes_dim=(4, 6, 6), target_size=48)
    return jittered(model)


def hunyuan15_inputs(frames: int, height: int = 2, width: int = 3, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[1, 2C + 1, F, H, W]``; 5 Qwen text states of which the last 2 are padding, 3 ByT5 states of which
    the last is, 4 image states (a text-to-video forward: zeros, masked by the model itself)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(1, 2 * IN_CHANNELS + 1, frames, height, width, generator=gen).to(dtype),
                timestep=torch.tensor([500.0], dtype=dtype),  # its time embedding computes in the timestep's dtype
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0]]),
                encoder_hidden_states_2=torch.randn(1, 3, HV15_BYT5_DIM, generator=gen).to(dtype),
                encoder_attention_mask_2=torch.tensor([[1, 1, 0]]), image_embeds=torch.zeros(1, 4, HV15_IMAGE_DIM, dtype=dtype),
                return_dict=False)


def cli_generates_and_extends_from_an_image(folder, image, out_dir, chunk_frames: int) -> None:
    """`vidlong generate --image --method both --ratio 2` on an image-to-video `folder` writes as many frames as its
    sidecar says, and `vidlong extend` of that video by one chunk (1 latent frame: `chunk_frames` pixel frames) adds
    them after its frames."""
    import json

    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = out_dir / "i2v.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image), "--ratio", "2",
                 "--method", "both", "--out", str(out)]) == 0
    made = len(read_video(out)[0])
    assert made == json.loads(out.with_suffix(".json").read_text())["pixel_frames"]
    assert main(["extend", "--model", str(folder), "--video", str(out), "--prompt", "a red ball", "--chunk", "1",
                 "--chunks", "1", "--out", str(out_dir / "longer.mp4")]) == 0
    assert len(read_video(out_dir / "longer.mp4")[0]) == made + chunk_frames


def assert_image_to_video_is_the_stock_call(pipe, stock_class, folder, image, height: int, width: int, frames: int,
                                            same: str = "noise", frames_argument: str = "num_frames", request=None, **call):
    """`generate` of "a red ball" at seed 3 from `image` (at `height` x `width`, `frames` pixel frames: the spec's native
    length, its 2 steps and guidance 2: a call that guides by its guider component takes the folder's, saved at 2) =
    `stock_class`'s own call from `folder` with the same noise (`same` "noise": the seed's first draw as ``latents=``) or
    the same seed (`same` "seed": ``generator=``), bit for bit after uint8 rounding; `frames_argument`: the call's name for the
    length (Sana-Video's ``frames``), `request`: more of the request's fields (ConsisID's ``identity``), `call`: more of its
    arguments. Returns `generate`'s result."""
    import inspect

    import numpy as np
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image), height=height, width=width,
                                         **(request or {})))
    stock = stock_class.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    geometry = pipe.geometry()
    draw = dict(generator=torch.Generator().manual_seed(3))
    if same == "noise":
        draw = dict(latents=torch.randn(1, geometry.channels, (frames - 1) // geometry.temporal + 1, height // geometry.spatial,
                                        width // geometry.spatial, generator=torch.Generator().manual_seed(3)))
    guidance = {"guidance_scale": 2.0} if "guidance_scale" in inspect.signature(stock_class.__call__).parameters else {}
    video = stock(image=Image.open(image), prompt="a red ball", height=height, width=width, num_inference_steps=2,
                  output_type="np", **{frames_argument: frames}, **draw, **guidance, **call).frames
    video = pipe.batched_frames(video)[0]  # its call's one video (Sana-WM's comes unbatched)
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    return own


def assert_a_prompt_timeline_follows_its_segments(pipe) -> None:
    """`generate` with `both` at 2x: one prompt repeated in a timeline is the single prompt (its switch past frame 0),
    two prompts differ, and the timeline's hooks are gone after the call."""
    from vidlong.generate import GenerateRequest, generate

    one = generate(pipe, GenerateRequest(prompt="a red circle", ratio=2, method="both", seed=1))
    twice = generate(pipe, GenerateRequest(prompt="0s: a red circle; 0.4s: a red circle", ratio=2, method="both", seed=1))
    other = generate(pipe, GenerateRequest(prompt="0s: a red circle; 0.4s: a blue square", ratio=2, method="both", seed=1))
    assert twice.settings["timeline"][1]["latent_frame"] > 0
    assert (twice.latents - one.latents).abs().max() < 1e-5 < (other.latents - one.latents).abs().max()
    assert not pipe.transformer._diffusers_hook.get_hook("vidlong_timeline_frames")


def fuzz_value(rng):
    """A random Python value of any type the fuzz throws at a dataclass field."""
    return rng.choice([None, True, False, 0, 1, 2, 3, -1, -5, 1.0, 2.5, float("nan"), float("inf"), -float("inf"),
                       2**63, 2**64, 10**400, 1e308, "", "abc", "3", "cache", "renoise", "plain", "both", "2x",
                       "ünïcødé 🎥", "x" * 5000, (), (1,), [1, 2], {"a": 1}, b"bytes", object()])


def fuzz_requests(limits, valid: dict, cases: int, seed: int = 1) -> dict:
    """`check_generate` of `cases` GenerateRequests of the `valid` fields, each field random (`fuzz_value`) 15% of the time:
    each passes or is refused in one line (a test failure names any other exception). The counts of both."""
    import random

    from vidlong.errors import VidlongError
    from vidlong.generate import GenerateRequest
    from vidlong.validate import check_generate

    rng, outcomes = random.Random(seed), {"ok": 0, "refused": 0}
    for _ in range(cases):
        fields = {name: fuzz_value(rng) if rng.random() < 0.15 else value for name, value in valid.items()}
        try:
            check_generate(GenerateRequest(**fields), limits)
            outcomes["ok"] += 1
        except VidlongError as err:
            assert "\n" not in str(err)
            outcomes["refused"] += 1
        except Exception as err:  # noqa: BLE001
            pytest.fail(f"check_generate(GenerateRequest({fields!r:.500})) raised {type(err).__name__}: {err}")
    return outcomes


#: latent channels of Mochi's VAE (its pipeline de-normalises exactly 12)
MOCHI_CHANNELS = 12


def tiny_mochi_transformer(seed: int = 0, layers: int = 2):
    """A random MochiTransformer3DModel (2 heads x 16, patch 2, text width 16 inside its blocks; the last block, as
    Mochi's, takes the text in but not out) for exact CPU checks; its RoPE frequencies random (zeros as initialised)."""
    from diffusers import MochiTransformer3DModel

    torch.manual_seed(seed)
    model = MochiTransformer3DModel(patch_size=2, num_attention_heads=2, attention_head_dim=16, num_layers=layers,
                                    pooled_projection_dim=16, in_channels=MOCHI_CHANNELS, text_embed_dim=TEXT_DIM,
                                    time_embed_dim=16)
    return jittered(model)


def mochi_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames) and a batch of 2 prompts' 5 text states, padded differently (the
    first's last 2 tokens, the second's last), as a guided call batches its negative and positive prompts."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(2, MOCHI_CHANNELS, frames, height, width, generator=gen).to(dtype),
                encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                timestep=torch.tensor([500.0, 500.0], dtype=dtype),
                encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool), return_dict=False)


#: the tiny Kandinsky 5's pooled (CLIP) prompt width
K5_POOLED_DIM = 8


def tiny_kandinsky5_transformer(seed: int = 0, layers: int = 2, **config):
    """A random Kandinsky5Transformer3DModel (2 heads x 16, RoPE axes (4, 6, 6), patch (1, 2, 2), one text block, `layers`
    visual blocks; `config` more of its arguments, e.g. ``attention_type="nabla"``) for exact CPU checks."""
    from diffusers import Kandinsky5Transformer3DModel

    torch.manual_seed(seed)
    model = Kandinsky5Transformer3DModel(in_visual_dim=IN_CHANNELS, out_visual_dim=IN_CHANNELS, in_text_dim=TEXT_DIM,
                                         in_text_dim2=K5_POOLED_DIM, time_dim=16, patch_size=(1, 2, 2), model_dim=32, ff_dim=32,
                                         num_text_blocks=1, num_visual_blocks=layers, axes_dims=(4, 6, 6), **config)
    return jittered(model)


def kandinsky5_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32,
                      image: bool = False) -> dict:
    """Channels-last latents ``[1, F, H, W, C]`` (latent frames; with `image`, as its image-to-video call gives a
    ``visual_cond`` transformer: frame 0 stands for the image's latent, then C zero channels and a mask channel, 1 on
    frame 0, ``[1, F, H, W, 2C + 1]``), 5 Qwen text states, a pooled CLIP prompt, the RoPE positions and scale its call
    passes at 480p-854p sizes."""
    gen = torch.Generator().manual_seed(seed)
    latents = torch.randn(1, frames, height, width, IN_CHANNELS, generator=gen)
    if image:
        mask = torch.zeros(1, frames, height, width, 1)
        mask[:, 0] = 1
        latents = torch.cat([latents, torch.zeros_like(latents), mask], dim=-1)
    return dict(hidden_states=latents.to(dtype),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                pooled_projections=torch.randn(1, K5_POOLED_DIM, generator=gen).to(dtype),
                timestep=torch.tensor([500.0], dtype=dtype),
                visual_rope_pos=[torch.arange(frames), torch.arange(height // 2), torch.arange(width // 2)],
                text_rope_pos=torch.arange(5), scale_factor=(1, 2, 2), return_dict=False)



def tiny_kandinsky6_transformer(seed: int = 0, layers: int = 2):
    """A random Kandinsky6Transformer3DModel (video and audio 2 heads x 16, RoPE axes (4, 6, 6), patch (1, 2, 2), one text
    block a modality, `layers` fused blocks, 4 audio channels) with its releases' switches (cross-modal RoPE and gates,
    fixed modulation, padded text) and their image path (``visual_cond``, two token types), for exact CPU checks."""
    from diffusers import Kandinsky6Transformer3DModel

    torch.manual_seed(seed)
    model = Kandinsky6Transformer3DModel(
        in_visual_dim=IN_CHANNELS, out_visual_dim=IN_CHANNELS, in_text_dim=TEXT_DIM, in_text_dim2=K5_POOLED_DIM, time_dim=16,
        model_dim=32, ff_dim=32, num_text_blocks=1, num_visual_blocks=layers, axes_dims=(4, 6, 6), in_audio_dim=4,
        out_audio_dim=4, text_token_padding=True, ca_rope=True, cross_gates=True, fix_modulation=True,
        visual_token_type_num_embeddings=2)
    return jittered(model)


def kandinsky6_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32,
                      image: bool = False) -> dict:
    """What its call gives its transformer: channels-last latents ``[1, F, H, W, 2C + 1]`` (`frames` latent frames, then C
    zero condition channels and a mask channel; with `image`, one frame more after them, the image's latent, its mask 1,
    token type 1 and the first frame's RoPE position), 7 audio latent frames ``[1, 7, 4]``, 5 Qwen text states, a
    pooled CLIP prompt."""
    gen = torch.Generator().manual_seed(seed)
    total = frames + image
    latents = torch.randn(1, total, height, width, IN_CHANNELS, generator=gen)
    mask = torch.zeros(1, total, height, width, 1)
    extra = {}
    if image:
        mask[:, -1] = 1
        types = torch.zeros(1, total, dtype=torch.long)
        types[:, -1] = 1
        rope = (torch.cat([torch.arange(frames), torch.zeros(1, dtype=torch.long)]), torch.arange(height // 2),
                torch.arange(width // 2))
        extra = dict(visual_token_type_ids=types, visual_rope_pos=rope)
    return dict(hidden_states=torch.cat([latents, torch.zeros_like(latents), mask], dim=-1).to(dtype),
                audio_hidden_states=torch.randn(1, 7, 4, generator=gen).to(dtype),
                encoder_hidden_states=torch.randn(1, 5, TEXT_DIM, generator=gen).to(dtype),
                pooled_projections=torch.randn(1, K5_POOLED_DIM, generator=gen).to(dtype),
                timestep=torch.tensor([500.0], dtype=dtype), return_dict=False, **extra)


#: the width of the tiny Motif-Video image-to-video pipeline's SigLIP states (its vision tower's hidden size)
MOTIF_IMAGE_DIM = 8


def tiny_motif_transformer(seed: int = 0, decoder_layers: int = 1, image: bool = False):
    """A random MotifVideoTransformer3DModel (2 heads x 16, patch (1, 2, 2); one dual-stream block and two single-stream
    blocks, the last `decoder_layers` of them decoder blocks, over fresh video tokens with the encoder's as their "text")
    with the text cross-attentions of both kinds of block, for exact CPU checks. Its input is ``2·C + 1`` channels: the
    latents, the image condition and its mask, as its pipelines build it; with `image`, the image-to-video release's
    projection of the image's SigLIP states (``image_embed_dim``), whose tokens go before the text's."""
    from diffusers import MotifVideoTransformer3DModel

    torch.manual_seed(seed)
    model = MotifVideoTransformer3DModel(in_channels=2 * IN_CHANNELS + 1, out_channels=IN_CHANNELS, num_attention_heads=2,
                                         attention_head_dim=16, num_layers=1, num_single_layers=2,
                                         num_decoder_layers=decoder_layers, text_embed_dim=TEXT_DIM, rope_axes_dim=(4, 6, 6),
                                         enable_text_cross_attention_dual=True, enable_text_cross_attention_single=True,
                                         image_embed_dim=MOTIF_IMAGE_DIM if image else None)
    return jittered(model)  # its AdaLN gates start at zero: no block would change the stream


def motif_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32, image: bool = False) -> dict:
    """Input ``[2, 2·C + 1, F, H, W]`` (latent frames) and a batch of 2 prompts' 5 text states, padded differently (the
    first's last 2 tokens, the second's last), as a guided call batches its prompts; with `image`, an image's 4 SigLIP
    states ``[2, 4, MOTIF_IMAGE_DIM]`` too, as its image-to-video call gives them to both prompts."""
    gen = torch.Generator().manual_seed(seed)
    inputs = dict(hidden_states=torch.randn(2, 2 * IN_CHANNELS + 1, frames, height, width, generator=gen).to(dtype),
                  encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                  timestep=torch.tensor([500.0, 500.0], dtype=dtype),
                  encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool), return_dict=False)
    if image:
        inputs["image_embeds"] = torch.randn(1, 4, MOTIF_IMAGE_DIM, generator=gen).to(dtype).expand(2, -1, -1)
    return inputs


def tiny_easyanimate_transformer(seed: int = 0, inpaint: bool = False):
    """A random EasyAnimateTransformer3DModel (2 heads x 16, patch 2; an MMDiT block, whose text has projections of its
    own, then a block whose text shares the video's) for exact CPU checks; with `inpaint`, the InP release's input of
    ``2·C + 1`` channels: the latents, then the mask's channel and the masked video's latents (``inpaint_latents``)."""
    from diffusers import EasyAnimateTransformer3DModel

    torch.manual_seed(seed)
    model = EasyAnimateTransformer3DModel(num_attention_heads=2, attention_head_dim=16, patch_size=2, num_layers=2,
                                          mmdit_layers=1, in_channels=2 * IN_CHANNELS + 1 if inpaint else IN_CHANNELS,
                                          out_channels=IN_CHANNELS, time_embed_dim=16, text_embed_dim=TEXT_DIM)
    return jittered(model)


def easyanimate_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32,
                       inpaint: bool = False) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames) and two prompts' 5 text states, as a guided call batches them (no mask:
    its transformer takes none); with `inpaint`, ``inpaint_latents`` ``[2, C + 1, F, H, W]``."""
    gen = torch.Generator().manual_seed(seed)
    inputs = dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                  encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                  timestep=torch.tensor([500.0, 500.0], dtype=dtype), return_dict=False)
    if inpaint:
        inputs["inpaint_latents"] = torch.randn(2, IN_CHANNELS + 1, frames, height, width, generator=gen).to(dtype)
    return inputs


#: the tiny Allegro's heads: its RoPE turns each third of a head's channels (time, rows, columns), 4 channels each
ALLEGRO_HEAD_DIM = 12


def tiny_allegro_transformer(seed: int = 0):
    """A random AllegroTransformer3DModel (2 heads x 12, patch 2, two blocks, T5 states of width 16) for exact CPU checks."""
    from diffusers import AllegroTransformer3DModel

    torch.manual_seed(seed)
    model = AllegroTransformer3DModel(num_attention_heads=2, attention_head_dim=ALLEGRO_HEAD_DIM, in_channels=IN_CHANNELS,
                                      out_channels=IN_CHANNELS, num_layers=2, cross_attention_dim=2 * ALLEGRO_HEAD_DIM,
                                      caption_channels=TEXT_DIM, sample_height=4, sample_width=4, sample_frames=3)
    return jittered(model)


def allegro_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames), a batch of 2 prompts' 5 T5 states padded differently (as a guided call
    batches its negative and positive prompts) and the RoPE its pipeline makes for the grid (tables in float32, as its
    call makes them whatever the model's dtype)."""
    from types import SimpleNamespace

    from diffusers import AllegroPipeline

    gen = torch.Generator().manual_seed(seed)
    config = SimpleNamespace(patch_size=2, attention_head_dim=ALLEGRO_HEAD_DIM, interpolation_scale_t=2.2,
                             interpolation_scale_h=2.0, interpolation_scale_w=2.0)  # its transformer's (the class defaults)
    holder = SimpleNamespace(vae_scale_factor_spatial=8, transformer=SimpleNamespace(config=config))
    rotary = AllegroPipeline._prepare_rotary_positional_embeddings(holder, 2, 8 * height, 8 * width, frames, "cpu")
    return dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                timestep=torch.tensor([500.0, 500.0], dtype=dtype), image_rotary_emb=rotary,
                encoder_attention_mask=torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]]), return_dict=False)


def tiny_anyflow_transformer(seed: int = 0, layers: int = 1):
    """A random AnyFlowTransformer3DModel (the bidirectional one; Wan's layout: 2 heads x 16, patch (1, 2, 2), T5 states
    of width 16) for exact CPU checks."""
    from diffusers import AnyFlowTransformer3DModel

    torch.manual_seed(seed)
    model = AnyFlowTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=IN_CHANNELS,
                                      out_channels=IN_CHANNELS, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=layers,
                                      rope_max_seq_len=64)
    return jittered(model)


def tiny_anyflow_far_transformer(seed: int = 0, layers: int = 1):
    """A random AnyFlowFARTransformer3DModel (AnyFlow FAR, block-causal: 2 heads x 16, patch (1, 2, 2), compressed patch
    (1, 4, 4), chunks (1, 2, 2, 2) = 7 latent frames, the last ``full_chunk_limit - 1`` = 1 chunk in full tokens, T5 states
    of width 16) for exact CPU checks."""
    from diffusers import AnyFlowFARTransformer3DModel

    torch.manual_seed(seed)
    model = AnyFlowFARTransformer3DModel(patch_size=(1, 2, 2), compressed_patch_size=(1, 4, 4), full_chunk_limit=2,
                                         num_attention_heads=2, attention_head_dim=16, in_channels=IN_CHANNELS,
                                         out_channels=IN_CHANNELS, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=layers,
                                         rope_max_seq_len=64, chunk_partition=(1, 2, 2, 2))
    return jittered(model)


def tiny_helios_transformer(seed: int = 0, layers: int = 1):
    """A random HeliosTransformer3DModel (Helios: 2 heads x 16, patch (1, 2, 2) with its 2x and 4x history patches, RoPE
    split 8 / 4 / 4, T5 states of width 16) for exact CPU checks."""
    from diffusers import HeliosTransformer3DModel

    torch.manual_seed(seed)
    model = HeliosTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=IN_CHANNELS,
                                     out_channels=IN_CHANNELS, text_dim=TEXT_DIM, freq_dim=16, ffn_dim=32, num_layers=layers,
                                     rope_dim=(8, 4, 4))
    return jittered(model)


def anyflow_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents frames first ``[2, F, C, H, W]`` (latent frames, as its pipeline hands them), a flow map's source and target
    timesteps per frame ``[2, F]`` and a batch of 2 prompts' 5 T5 states (a guided call's negative and positive)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(2, frames, IN_CHANNELS, height, width, generator=gen).to(dtype),
                timestep=torch.full((2, frames), 750.0), r_timestep=torch.full((2, frames), 500.0),
                encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype), return_dict=False)


#: the tiny SigLIP's width: FramePack's image states
FRAMEPACK_IMAGE_DIM = 8


def tiny_framepack_transformer(seed: int = 0):
    """A random HunyuanVideoFramepackTransformer3DModel (FramePack: `tiny_hunyuan_transformer`'s blocks, 2 heads x 16, patch
    (1, 2, 2), with its history embedder of 1x, 2x and 4x clean latents and its projection of SigLIP states of width
    `FRAMEPACK_IMAGE_DIM`) for exact CPU checks."""
    from diffusers import HunyuanVideoFramepackTransformer3DModel

    torch.manual_seed(seed)
    model = HunyuanVideoFramepackTransformer3DModel(
        in_channels=IN_CHANNELS, out_channels=IN_CHANNELS, num_attention_heads=2, attention_head_dim=16, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, mlp_ratio=2.0, text_embed_dim=TEXT_DIM, pooled_projection_dim=8,
        rope_axes_dim=(4, 6, 6), has_image_proj=True, image_proj_dim=FRAMEPACK_IMAGE_DIM, has_clean_x_embedder=True)
    return jittered(model)


def tiny_cosmos_transformer(seed: int = 0, predict25: bool = True, **release):
    """A random CosmosTransformer3DModel (2 heads x 16, RoPE axes 8 / 4 / 4 of a head, patch (1, 2, 2), two blocks; its input
    the latents and a condition-mask channel): Predict2.5's (`predict25`: its projection of the joined states of the tiny
    Qwen2.5-VL's 2 layers, ``2·TEXT_DIM`` wide) or Predict2's (T5-like states of `TEXT_DIM`), for exact CPU checks. Its
    padding-mask channel is off (``concat_padding_mask``: the releases' forward resizes that mask with torchvision, which
    the CPU test environment does not install; the all-zero mask their calls give adds one zero channel). `release`: config
    arguments of another release (Cosmos 1.0's: its input channels, its learnable absolute position embedding)."""
    from diffusers import CosmosTransformer3DModel

    torch.manual_seed(seed)
    text = dict(use_crossattn_projection=True, crossattn_proj_in_channels=2 * TEXT_DIM,
                encoder_hidden_states_channels=TEXT_DIM) if predict25 else {}
    config = {**dict(in_channels=IN_CHANNELS + 1, rope_scale=(1.0, 3.0, 3.0), extra_pos_embed_type=None, **text), **release}
    model = CosmosTransformer3DModel(out_channels=IN_CHANNELS, num_attention_heads=2, attention_head_dim=16, num_layers=2,
                                     mlp_ratio=2.0, text_embed_dim=TEXT_DIM, adaln_lora_dim=8, concat_padding_mask=False, **config)
    return jittered(model)


def tiny_cosmos_controlnet(seed: int = 0):
    """A random CosmosControlNetModel, the control branch of `tiny_cosmos_transformer` (Predict2.5's): two blocks of 2 heads x
    16 over the control video's latents, a condition-mask and a padding-mask channel (``in_channels``: the VAE's 4 + 2, none
    padded), the same RoPE and text projection; each block's residual goes to one transformer block
    (``controlnet_block_every_n`` 1)."""
    from diffusers import CosmosControlNetModel

    torch.manual_seed(seed)
    model = CosmosControlNetModel(n_controlnet_blocks=2, in_channels=IN_CHANNELS + 2, latent_channels=IN_CHANNELS + 2,
                                  model_channels=32, num_attention_heads=2, attention_head_dim=16, mlp_ratio=2.0,
                                  text_embed_dim=TEXT_DIM, adaln_lora_dim=8, rope_scale=(1.0, 3.0, 3.0),
                                  use_crossattn_projection=True, crossattn_proj_in_channels=2 * TEXT_DIM,
                                  encoder_hidden_states_channels=TEXT_DIM)
    return jittered(model)


def cosmos_controlnet_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 2, dtype=torch.float32) -> dict:
    """`cosmos_inputs` as its control branch takes them: the control video's latents ``[2, C, F, H, W]`` beside the noisy
    latents, their condition mask, each frame's noise level, the text states and an all-zero padding mask ``[1, 1, 8·H, 8·W]``
    (pixels, as its call gives it)."""
    inputs = cosmos_inputs(frames, height, width, dtype=dtype)
    gen = torch.Generator().manual_seed(seed)
    return dict(controls_latents=torch.randn(inputs["hidden_states"].shape, generator=gen).to(dtype),
                latents=inputs["hidden_states"], timestep=inputs["timestep"],
                encoder_hidden_states=inputs["encoder_hidden_states"], condition_mask=inputs["condition_mask"],
                padding_mask=torch.zeros(1, 1, 8 * height, 8 * width, dtype=dtype), return_dict=False)


def cosmos_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32, predict25: bool = True) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames) with an all-zero condition mask, each frame's noise level ``[2, 1, F, 1,
    1]`` as its calls give it, and two prompts' 5 text states (Predict2.5's joined Qwen layers, or Predict2's)."""
    gen = torch.Generator().manual_seed(seed)
    width_text = 2 * TEXT_DIM if predict25 else TEXT_DIM
    return dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                condition_mask=torch.zeros(2, 1, frames, height, width, dtype=dtype),
                timestep=torch.full((2, 1, frames, 1, 1), 0.6, dtype=dtype),
                encoder_hidden_states=torch.randn(2, 5, width_text, generator=gen).to(dtype), return_dict=False)


def tiny_sana_transformer(seed: int = 0):
    """A random SanaVideoTransformer3DModel (linear self-attention of 2 heads x 16, RoPE axes 8 / 4 / 4 of a head, patch
    (1, 2, 2), two blocks, softmax cross-attention to `TEXT_DIM`-wide Gemma-like states) for exact CPU checks; its sample
    size the 480p release's (30: its call's resolution bins)."""
    from diffusers import SanaVideoTransformer3DModel

    torch.manual_seed(seed)
    model = SanaVideoTransformer3DModel(in_channels=IN_CHANNELS, out_channels=IN_CHANNELS, num_attention_heads=2,
                                        attention_head_dim=16, num_layers=2, num_cross_attention_heads=2,
                                        cross_attention_head_dim=16, cross_attention_dim=32, caption_channels=TEXT_DIM,
                                        mlp_ratio=2.0, sample_size=30, rope_max_seq_len=64)
    return jittered(model)


def sana_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames), a timestep per sample and two prompts' 5 text states, the last 2 of the
    second's padding (masked)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                timestep=torch.tensor([700.0, 700.0]), encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                encoder_attention_mask=torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]), return_dict=False)


#: the tiny Latte's native window: its transformer's ``video_length`` (the rows of its temporal table), latent = pixel frames
LATTE_FRAMES = 4


def tiny_latte_transformer(seed: int = 0):
    """A random LatteTransformer3DModel (2 heads x 8, patch 2, two spatial and two temporal blocks with its release's
    ``ada_norm_single``, T5 states of width `TEXT_DIM`, 2C output channels: a learned variance, as its release's) whose
    temporal table has `LATTE_FRAMES` rows, for exact CPU checks."""
    from diffusers import LatteTransformer3DModel

    torch.manual_seed(seed)
    model = LatteTransformer3DModel(num_attention_heads=2, attention_head_dim=8, in_channels=IN_CHANNELS,
                                    out_channels=2 * IN_CHANNELS, num_layers=2, cross_attention_dim=16, sample_size=4,
                                    patch_size=2, norm_type="ada_norm_single", num_embeds_ada_norm=1000, attention_bias=True,
                                    activation_fn="gelu-approximate", caption_channels=TEXT_DIM, video_length=LATTE_FRAMES)
    return jittered(model)


def latte_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames), a timestep per sample and two prompts' 5 T5 states (its call hands none
    a mask: each prompt's states cut to its tokens)."""
    gen = torch.Generator().manual_seed(seed)
    return dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype),
                timestep=torch.tensor([500, 500]), encoder_hidden_states=torch.randn(2, 5, TEXT_DIM, generator=gen).to(dtype),
                return_dict=False)


#: the face tensors of `tiny_consisid_transformer`: ``id_cond`` width, EVA-CLIP hidden width, its hidden states' count
CONSISID_ID_DIM, CONSISID_VIT_DIM, CONSISID_SCALES = 6, 8, 2


def tiny_consisid_transformer(seed: int = 0, face: bool = True, kps: bool = False):
    """A random ConsisIDTransformer3DModel (CogVideoX-5B's layout at `tiny_cogvideox_transformer`'s size, its image's
    latent as C more input channels, its 3D RoPE; with `face`, ``is_train_face``: a two-layer local facial extractor over
    `CONSISID_SCALES` hidden states and a perceiver cross-attention after every block; `kps`: ``is_kps``) for exact CPU
    checks."""
    from diffusers import ConsisIDTransformer3DModel

    torch.manual_seed(seed)
    model = ConsisIDTransformer3DModel(num_attention_heads=2, attention_head_dim=16, in_channels=2 * IN_CHANNELS,
                                       out_channels=IN_CHANNELS, time_embed_dim=16, text_embed_dim=TEXT_DIM, num_layers=2,
                                       sample_width=8, sample_height=8, sample_frames=9, max_text_seq_length=5,
                                       use_rotary_positional_embeddings=True, is_train_face=face, is_kps=kps,
                                       cross_attn_interval=1, cross_attn_dim_head=8, cross_attn_num_heads=2,
                                       LFE_id_dim=CONSISID_ID_DIM, LFE_vit_dim=CONSISID_VIT_DIM, LFE_depth=CONSISID_SCALES,
                                       LFE_dim_head=4, LFE_num_heads=2, LFE_num_id_token=2, LFE_num_querie=3,
                                       LFE_output_dim=21, LFE_ff_mult=1, LFE_num_scale=CONSISID_SCALES)  # 21: 2/3 of 32 wide
    return jittered(model)


def consisid_faces(seed: int = 5, dtype=torch.float32) -> dict:
    """A face's tensors as ConsisID's ``process_face_embeddings_infer`` returns them, random, for `tiny_consisid_transformer`:
    ``id_cond`` ``[1, CONSISID_ID_DIM]``, ``id_vit_hidden`` `CONSISID_SCALES` of ``[1, 7, CONSISID_VIT_DIM]``."""
    gen = torch.Generator().manual_seed(seed)
    return dict(id_cond=torch.randn(1, CONSISID_ID_DIM, generator=gen).to(dtype),
                id_vit_hidden=[torch.randn(1, 7, CONSISID_VIT_DIM, generator=gen).to(dtype) for _ in range(CONSISID_SCALES)])


#: the pixel frames a latent frame of Sana-WM's VAE (LTX-2's) and its pixels a latent row or column
SANA_WM_TEMPORAL, SANA_WM_SPATIAL = 8, 32


def tiny_sana_wm_transformer(seed: int = 0, layers: int = 2, softmax_every_n: int = 2):
    """A random SanaWMTransformer3DModel (2 heads x 24 in its attentions, whose camera branch pads them to 128 channels for
    SDPA; `layers` blocks, every `softmax_every_n`-th a softmax block, the others its gated delta rule; patch (1, 1, 1);
    Plücker maps of `SANA_WM_TEMPORAL` frames a latent frame after every block; Gemma-like states of width `TEXT_DIM`) for
    exact CPU checks."""
    from diffusers import SanaWMTransformer3DModel

    torch.manual_seed(seed)
    model = SanaWMTransformer3DModel(in_channels=IN_CHANNELS, num_layers=layers, hidden_size=48, num_attention_heads=2,
                                     softmax_every_n=softmax_every_n, linear_head_dim=24, caption_channels=TEXT_DIM,
                                     mlp_ratio=2.0, chunk_plucker_channels=6 * SANA_WM_TEMPORAL,
                                     chunk_plucker_post_attn_blocks=layers)
    return jittered(model)


def sana_wm_inputs(frames: int, height: int = 4, width: int = 6, seed: int = 1, dtype=torch.float32) -> dict:
    """Latents ``[2, C, F, H, W]`` (latent frames) as a guided batch, a timestep per latent frame (the first frame's 0: its
    image, as its call gives it), two prompts' 5 text states ``[2, 1, 5, TEXT_DIM]`` with their mask (the second's last 2
    padding), and the camera of a walk forward turning left (diffusers' `prepare_camera` of its action string, intrinsics of a
    90° view)."""
    import numpy as np
    from diffusers.pipelines.sana_wm.cam_utils import action_string_to_c2w, prepare_camera

    gen = torch.Generator().manual_seed(seed)
    steps = SANA_WM_TEMPORAL * (frames - 1)
    c2w = action_string_to_c2w(f"w-{steps // 2},jw-{steps - steps // 2}")
    size = (height * SANA_WM_SPATIAL, width * SANA_WM_SPATIAL)
    intrinsics = np.tile(np.array([size[1] / 2, size[1] / 2, size[1] / 2, size[0] / 2], dtype=np.float32), (len(c2w), 1))
    camera = prepare_camera(c2w, intrinsics, target_size=size, vae_stride=(SANA_WM_TEMPORAL, SANA_WM_SPATIAL, SANA_WM_SPATIAL))
    timestep = torch.full((2, 1, frames), 700.0)
    timestep[:, :, 0] = 0
    return dict(hidden_states=torch.randn(2, IN_CHANNELS, frames, height, width, generator=gen).to(dtype), timestep=timestep,
                encoder_hidden_states=torch.randn(2, 1, 5, TEXT_DIM, generator=gen).to(dtype),
                mask=torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
                camera_conditions=camera["raymap"].expand(2, -1, -1).to(dtype),
                chunk_plucker=camera["chunk_plucker"].expand(2, -1, -1, -1, -1).to(dtype), return_dict=False)


def ic_lora(path, weight_shape, metadata=None):
    """A LoRA of the first block's video query whose product is zero (the merged weights stay the base's), its safetensors
    `metadata` as an IC-LoRA's trainer writes it."""
    from safetensors.torch import save_file

    out_features, in_features = weight_shape
    save_file({"transformer.transformer_blocks.0.attn1.to_q.lora_A.weight": torch.randn(2, in_features),
               "transformer.transformer_blocks.0.attn1.to_q.lora_B.weight": torch.zeros(out_features, 2)},
              str(path), metadata=metadata)
    return path
