"""NVIDIA Cosmos 1.0 (diffusers' `CosmosTextToWorldPipeline` and `CosmosVideoToWorldPipeline`, from an image) through the
Cosmos adapter: its transformer (1.0's config: a learnable absolute position embedding beside its RoPE) with methods off is
the stock model bit for bit and with each method equal to the float64 reference (`test_cosmos.ReferenceAttention`); the
specs from configs/models and the learnable tables' bound; `generate` with no method = diffusers' call with the same seed
bit for bit at the native length, and past its VAE's per-frame statistics (where diffusers' call fails) the call with
them held; `vidlong generate` writes the mp4; what it does not run is refused in one line before loading."""
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from conftest import IN_CHANNELS, cosmos_inputs, tiny_cosmos_transformer
from family_checks import (check_cli_extension, check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_image_stream_context, check_image_to_video_cli, check_methods_off_and_removed,
                           check_release_refuses, check_stream_follows_its_context, info_of_a_bare_copy,
                           unrun_by_a_rebuilt_rope_family)
from reference import rel_err
from test_cosmos import NATIVE, ReferenceAttention

import vidlong
from vidlong.attention.adapters.cosmos import COSMOS
from vidlong.video_io import write_video

METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}
#: Text2World's transformer (the latents alone) and Video2World's (a condition-mask channel too)
RELEASES = pytest.mark.parametrize("video2world", [False, True], ids=["text2world", "video2world"])
STOCK_CLASSES = {False: "CosmosTextToWorldPipeline", True: "CosmosVideoToWorldPipeline"}


def transformer(video2world: bool):
    """`tiny_cosmos_transformer` of Cosmos 1.0's config: T5 states as they come, the learnable absolute embedding."""
    return tiny_cosmos_transformer(predict25=False, in_channels=IN_CHANNELS + video2world, extra_pos_embed_type="learnable")


def forward(model, frames: int, video2world: bool, dtype=torch.float32):
    """`model`'s output for two prompts' latents of `frames` latent frames (4x6 cells) as 1.0's calls hand them: one timestep
    a sample ``[B]``, a condition mask only for Video2World."""
    inputs = cosmos_inputs(frames, dtype=dtype, predict25=False)
    inputs["timestep"] = inputs["timestep"][:, 0, 0, 0, 0]
    if not video2world:
        inputs.pop("condition_mask")
    return model(**inputs)[0]


@RELEASES
def test_methods_off_and_removed_are_stock_bit_for_bit(video2world):
    """vidlong's processor goes on each block's self-attention and comes off; a neutral plan is its own processor's output bit
    for bit, the learnable embedding added to the tokens as ever."""
    check_methods_off_and_removed(lambda: transformer(video2world), lambda model: forward(model, 4 * NATIVE, video2world),
                                  COSMOS.self_attentions, "CosmosAttnProcessor2_0", 2, NATIVE)


@RELEASES
@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method, video2world):
    """At 4x the native window, in float32 on the CPU's dense kernel, against Predict2's float64 reference attention (the
    learnable embedding kept in float32, as diffusers keeps it: its norm is taken in float32)."""
    check_float64_reference(lambda: transformer(video2world),
                            lambda model, frames, dtype: forward(model, frames, video2world, dtype),
                            COSMOS.self_attentions, ReferenceAttention, method, NATIVE,
                            prepare=lambda model: model.learnable_pos_embed.float())


@RELEASES
def test_its_specs_and_learnable_tables_bound_come_from_configs(video2world):
    """16 latent frames at 30 fps, 704x1280, 36 steps at 7 (diffusers' call defaults), 121 pixel frames by its VAE's 8x in
    time; one forward's latent frames bounded by the learnable embedding's fewest rows, 120 (``max_size / patch``)."""
    from tiny_pipeline import tiny_cosmos1_pipeline

    from vidlong.models import pixel_frames
    from vidlong.validate import limits_for_pipeline

    pipe = vidlong.from_pipe(tiny_cosmos1_pipeline(video2world))
    spec, geometry = pipe.spec, pipe.geometry()
    assert type(pipe).__name__ == f"VidLong{STOCK_CLASSES[video2world]}" and pipe.task == ("i2v" if video2world else "t2v")
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        (f"cosmos-1.0-{'video' if video2world else 'text'}2world", 16, 30, 704, 1280, 36, 7.0)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 8, (1, 2, 2))
    assert pixel_frames(spec.native_frames, geometry.temporal) == 121 == pixel_frames(16, spec.temporal_ratio)
    assert limits_for_pipeline(pipe).rope_positions == 120


def saved_folder(path: Path, video2world: bool, held: int = 0) -> Path:
    """A tiny Cosmos 1.0 pipeline (`tiny_cosmos1_pipeline`: its VAE's per-frame statistics of NATIVE latent frames, held
    over `held` more where given) saved in `path` with a vidlong.yaml: native NATIVE latent frames, 32x48 at 16 fps, 2
    steps, guidance 2."""
    from tiny_pipeline import tiny_cosmos1_pipeline

    from vidlong.families.cosmos1 import held_table

    pipe = tiny_cosmos1_pipeline(video2world)
    if held:
        vae = pipe.vae
        vae.register_to_config(**{name: held_table(list(vae.config[name]), IN_CHANNELS, NATIVE + held)
                                  for name in ("latents_mean", "latents_std")})
    pipe.save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cosmos1", native_frames=NATIVE, height=32, width=48,
                                                           fps=16, num_inference_steps=2, guidance_scale=2.0)))
    return path


@pytest.fixture(scope="module", params=[False, True], ids=["text2world", "video2world"])
def release(request, tmp_path_factory):
    """(whether Video2World, its saved folder)."""
    return request.param, saved_folder(tmp_path_factory.mktemp("cosmos1"), request.param)


def image_arguments(video2world: bool, image_path) -> dict:
    """A request's image where the release takes one (32x48 asked: the image is square)."""
    return dict(image=str(image_path), height=32, width=48) if video2world else {}


def test_generate_is_its_call_bit_for_bit_and_holds_its_vaes_statistics_past_their_table(release, image_path, tmp_path):
    """`load_pipeline` gives vidlong's class; `generate` with no method at the native length (17 pixel frames) = diffusers'
    call from the same folder, seed (Video2World: image; its call's augmentation draws at every step after the noise) and
    settings, bit for bit. At 2x the VAE's statistics table (NATIVE frames) is too short for diffusers' call, which fails to
    broadcast it; vidlong's video is that call's on a copy whose VAE config holds the last frame's statistics past the
    table, bit for bit; UltraViCo and FreeLong++ each change it."""
    import diffusers
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    video2world, folder = release
    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == f"VidLong{STOCK_CLASSES[video2world]}" and pipe.facts()["family"] == "cosmos"
    pipe.set_progress_bar_config(disable=True)
    request = dict(prompt="a red ball", seed=3, **image_arguments(video2world, image_path))
    call = dict(guidance_scale=2.0, fps=16, generator=torch.Generator().manual_seed(3),
                **(dict(image=Image.open(image_path)) if video2world else {}))
    native = generate(pipe, GenerateRequest(**request, frames=17))
    check_generate_is_the_stock_call(folder, native, STOCK_CLASSES[video2world], NATIVE, temporal=8, pixel_frames=17, **call)
    stock = getattr(diffusers, STOCK_CLASSES[video2world]).from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    with pytest.raises(RuntimeError, match="must match the size"):
        stock(prompt="a red ball", height=32, width=48, num_frames=8 * (2 * NATIVE - 1) + 1, num_inference_steps=2, **call)
    held = saved_folder(tmp_path / "held", video2world, held=NATIVE)
    longer = generate(pipe, GenerateRequest(**request, ratio=2))
    check_generate_is_the_stock_call(held, longer, STOCK_CLASSES[video2world], NATIVE, temporal=8,
                                     **dict(call, generator=torch.Generator().manual_seed(3)))
    for method in ("ultravico", "freelong"):
        assert rel_err(generate(pipe, GenerateRequest(**request, ratio=2, method=method)).latents, longer.latents) > 1e-3


def test_cli_generate_writes_the_mp4(release, image_path, tmp_path):
    """`vidlong generate --ratio 2 --method both` (Video2World with `--image`): 2x the native latent frames, 8·(6 - 1) + 1 =
    41 pixel frames at 16 fps, 48x32, both methods in the sidecar."""
    video2world, folder = release
    check_cli_generate(folder, tmp_path, "both", NATIVE, temporal=8, fps=16, image=image_path if video2world else None)


def test_vidlong_info_names_its_spec_and_its_streams(release, tmp_path, capsys):
    """`vidlong info` on a folder with no vidlong.yaml: its spec from configs/models (16 latent frames = 121 at 30 fps), one
    forward's most latent frames from its learnable tables (120), streams and extensions yes, fifo no."""
    video2world, folder = release
    out, _ = info_of_a_bare_copy(folder, tmp_path, capsys)
    name = f"cosmos-1.0-{'video' if video2world else 'text'}2world"
    assert "family cosmos (CosmosTransformer3DModel)" in out and f"spec {name}: native 16 latent frames = 121 frames" in out
    assert "places at most 120 latent frames" in out and "  stream: yes" in out and "  extend: yes" in out
    assert "  fifo: no" in out


def first_chunk_and_generate(folder, video2world: bool, image_path, guidance: float) -> tuple:
    """(a stream's first chunk of the native window, `generate`'s video) from the same seed at `guidance` on `folder`."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    given = image_arguments(video2world, image_path)
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  guidance=guidance, **given)))
    return first, generate(pipe, GenerateRequest(prompt="a red ball", seed=3, guidance=guidance, **given))


def test_a_streams_first_chunk_follows_its_calls_sampler_bit_for_bit(release, image_path):
    """Unguided (guidance 1: one prompt a forward, as its call runs), a stream's first chunk of the native window has
    `generate`'s latents and frames bit for bit: its call's start noise at σ 80, ``c_in``, its ``0.25·log σ`` timesteps,
    the denoised ``c_skip·x + c_out·F``, the Euler steps on it (`DenoisedEuler`), the de-normalisation by its VAE's
    per-frame statistics (`StatisticsDecoder`); Video2World's also its image encoded with black frames, augmented at every
    step by its call's draws from the same generator. Guided (its prompts batched, where its call runs one forward each),
    its latents within 1e-4 and its frames within one grey level."""
    video2world, folder = release
    first, own = first_chunk_and_generate(folder, video2world, image_path, guidance=1.0)
    assert torch.equal(first.latents, own.latents) and np.array_equal(first.frames, own.frames)
    first, own = first_chunk_and_generate(folder, video2world, image_path, guidance=2.0)
    assert (first.latents - own.latents).abs().max() < 1e-4
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1


def test_it_streams_from_its_context_and_extends(release, image_path, tmp_path):
    """Later chunks of 1 latent frame bring 8 pixel frames each and depend on the re-noised context (Video2World's past the
    image's sink); `vidlong stream` and `vidlong extend` write them (Video2World's `vidlong generate --image --method
    both` too), an extension's output starting with its input's frames."""
    video2world, folder = release
    if not video2world:
        pipe = vidlong.load_pipeline(folder, device="cpu")
        pipe.set_progress_bar_config(disable=True)
        check_stream_follows_its_context(pipe, folder, tmp_path, 8, (32, 48, 3))
        check_cli_extension(folder, tmp_path, 8, 16, (32, 48, 3))
        return
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    check_image_stream_context(pipe, image_path, temporal=8)
    check_image_to_video_cli(folder, image_path, tmp_path, NATIVE, temporal=8)


@pytest.mark.parametrize("command,says", [
    *unrun_by_a_rebuilt_rope_family("CosmosTransformer3DModel"),
    (["generate", "--frames", "969"], "RoPE"),
    (["generate", "--frames", "20"], "8k+1"),
    (["stream", "--chunks", "2", "--save-latents", "s.pt"], "normalised by its VAE's statistics of their frame's place"),
    (["extend", "--latents", "s.pt", "--chunks", "1"], "normalised by its VAE's statistics of their frame's place"),
    (["extend", "--video", "in.mp4", "--chunks", "1", "--device", "cpu", "--dtype", "bfloat16"],
     "dtype bfloat16: this model's VAE (AutoencoderKLCosmos) encodes with avg_pool3d, which torch runs in bfloat16 on CUDA only"),
], ids=["riflex", "window-sinks", "fifo", "cache", "past-learnable-tables", "frames", "save-latents", "latents",
        "cpu-bfloat16-encode"])
def test_what_it_does_not_run_is_refused_before_loading(release, image_path, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx, the -sinks methods, fifo and a cached stream (as every family whose RoPE is made at every forward and whose
    streams re-noise), a length past its learnable tables' 120 latent frames (8·120 + 9 pixel frames), a length its VAE does
    not decode to, and saved latents (their frames' statistics are their place in the video, which a replay of their tail
    does not know), and on the CPU in bfloat16 what its VAE would encode."""
    video2world, folder = release
    if "--latents" in command:
        torch.save(torch.zeros(1), tmp_path / "s.pt")
    if "in.mp4" in command:
        write_video(str(tmp_path / "in.mp4"), np.zeros((9, 32, 48, 3), np.uint8), 30)
    command = [str(tmp_path / part) if part in ("s.pt", "in.mp4") else part for part in command]
    check_release_refuses(folder, image_path if video2world and command[0] != "extend" else None, command, says, tmp_path,
                          capsys, monkeypatch)


@pytest.mark.parametrize("release", [False], indirect=True, ids=["text2world"])
def test_text2world_refuses_an_image_naming_the_folders_that_take_one(release, image_path, tmp_path, capsys, monkeypatch):
    """Text2World given an image is refused in one line before loading, naming Video2World's folders among those to use."""
    _, folder = release
    check_release_refuses(folder, image_path, ["generate"], "Cosmos-Predict2 and 1.0 Video2World, Cosmos 3 or Sana-Video)", tmp_path,
                          capsys, monkeypatch)


@pytest.mark.parametrize("release", [True], indirect=True, ids=["video2world"])
def test_video2world_refuses_no_image_and_a_video_condition(release, tmp_path, capsys, monkeypatch):
    """Video2World without an image is refused in one line before loading; its call's ``video=`` condition, which vidlong
    does not serve, in one line naming `vidlong extend`, by name or by position (passed through to its call before)."""
    from PIL import Image

    _, folder = release
    pipe = vidlong.load_pipeline(folder, device="cpu")  # before the refusal's check stubs loading out (run alone, it took it)
    check_release_refuses(folder, None, ["generate"], "this model is image-to-video: pass the first frame with --image",
                          tmp_path, capsys, monkeypatch)
    with pytest.raises(vidlong.VidlongError, match=r"^vidlong serves Cosmos 1.0 Video2World from an image[^\n]*extend[^\n]*$"):
        pipe(prompt="a red ball", video=[Image.new("RGB", (48, 32))] * 9)
    with pytest.raises(vidlong.VidlongError, match=r"^vidlong serves Cosmos 1.0 Video2World from an image"):
        pipe(None, [Image.new("RGB", (48, 32))] * 9, prompt="a red ball")  # its call's second parameter


def test_what_encodes_is_refused_in_one_line_on_the_cpu_in_bfloat16(release, image_path):
    """From Python on the CPU in bfloat16, where torch has no bfloat16 kernel for its VAE encoder's avg_pool3d: Video2World's
    call (its image encoded at every call) and an extension of either release are refused in one line naming float32,
    before the encoder runs (torch raised deep in it); Text2World's call, which encodes nothing, is not refused."""
    video2world, folder = release
    pipe = vidlong.load_pipeline(folder, device="cpu", dtype="bfloat16")
    pipe.set_progress_bar_config(disable=True)
    says = r"^dtype \(--dtype\) bfloat16: this model's VAE \(AutoencoderKLCosmos\) encodes with avg_pool3d[^\n]*use float32$"
    with pytest.raises(vidlong.VidlongError, match=says):
        pipe.extend("a red ball", video=np.zeros((9, 32, 48, 3), np.uint8), chunks=1)
    if video2world:
        with pytest.raises(vidlong.VidlongError, match=says):
            pipe(prompt="a red ball", image=str(image_path), height=32, width=48, num_inference_steps=1)
    else:
        made = pipe(prompt="a red ball", height=32, width=48, num_frames=9, num_inference_steps=1, output_type="latent")
        assert made.frames.isfinite().all()


def test_held_statistics_repeat_each_channels_last_frame_and_put_the_config_back():
    """Within `held_statistics` the VAE config's per-frame statistics cover the frames asked for, each channel's own frames
    first as they were, then its last frame's repeated; after it the config is the VAE's own again; a config with no
    statistics (null: its calls then scale by σ_data alone) is left as it is."""
    from tiny_pipeline import tiny_cosmos1_pipeline

    from vidlong.families.cosmos1 import held_statistics

    vae = tiny_cosmos1_pipeline().vae
    config = vae.config
    with held_statistics(vae, 2 * NATIVE):
        for name in ("latents_mean", "latents_std"):
            table = torch.tensor(vae.config[name], dtype=torch.float64).view(IN_CHANNELS, 2 * NATIVE)
            own = torch.tensor(config[name], dtype=torch.float64).view(IN_CHANNELS, NATIVE)
            assert torch.equal(table[:, :NATIVE], own) and torch.equal(table[:, NATIVE:], own[:, -1:].expand(-1, NATIVE))
    assert vae.config is config
    vae.register_to_config(latents_mean=None, latents_std=None)
    config = vae.config
    with held_statistics(vae, 2 * NATIVE):
        assert vae.config is config
