"""SkyReels-V2 (`SkyReelsV2Transformer3DModel`) through its adapter, Wan's layout: methods off = the stock model bit for
bit; UltraViCo and FreeLong++ equal their float64 math; a block-causal transformer
(its diffusion-forcing pipeline's setting) is refused in one line; its releases take their own configs/models entry.
The pipeline layer (load, generate = diffusers' call, CLI, eval, streams and extensions) is in `test_family_pipelines`."""
import re

import pytest
import torch
from conftest import assert_image_to_video_is_the_stock_call, transformer_inputs, tiny_transformer
from reference import WanReferenceAttention, rel_err

import vidlong
from vidlong.errors import VidlongError

NATIVE = 3  # latent frames


@pytest.fixture(scope="module")
def skyreels():
    from diffusers import SkyReelsV2Transformer3DModel

    return tiny_transformer(model_class=SkyReelsV2Transformer3DModel)


def test_methods_off_removed_and_against_the_float64_reference(skyreels):
    frames = 4 * NATIVE
    with torch.no_grad():
        stock = skyreels(**transformer_inputs(frames))[0]
        vidlong.apply(skyreels, vidlong.UltraViCo(alpha=1.0, guard_first_frame=False), native_frames=NATIVE)
        assert torch.equal(skyreels(**transformer_inputs(frames))[0], stock)
        for method in (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))):
            vidlong.apply(skyreels, method, native_frames=NATIVE, kernel="dense")
            out = skyreels(**transformer_inputs(frames))[0]
            reference = type(skyreels).from_config(skyreels.config).to(torch.float64)
            reference.load_state_dict({k: v.double() for k, v in skyreels.state_dict().items()})
            for block in reference.blocks:
                block.attn1.set_processor(WanReferenceAttention(method, frames, (2, 2), NATIVE))
            ref = reference(**transformer_inputs(frames, dtype=torch.float64))[0]
            assert rel_err(out, ref) < 1e-5 and rel_err(out, stock) > 1e-3
        vidlong.remove(skyreels)
        assert torch.equal(skyreels(**transformer_inputs(frames))[0], stock)
    assert all(type(block.attn1.processor).__name__ == "SkyReelsV2AttnProcessor" for block in skyreels.blocks)


def test_a_block_causal_transformer_is_refused_in_one_line(skyreels):
    """Its diffusion-forcing pipeline sets ``num_frame_per_block`` (a block-causal mask in every self-attention); the
    methods would fall back to the stock path under that mask, so a forward refuses it instead."""
    vidlong.apply(skyreels, vidlong.UltraViCo(), native_frames=NATIVE)
    skyreels.register_to_config(num_frame_per_block=3)
    try:
        with pytest.raises(VidlongError, match="block-causally .3 latent frames a block.*num_frame_per_block back to 1"):
            with torch.no_grad():
                skyreels(**transformer_inputs(2 * NATIVE))
    finally:
        skyreels.register_to_config(num_frame_per_block=1)
        vidlong.remove(skyreels)


def test_its_release_takes_its_own_entry_not_wans():
    """SkyReels-V2 T2V 14B and I2V 14B have Wan2.1-14B's config keys; their family picks their own entries (25 latent
    frames at 24 fps); the I2V 1.3B too."""
    from vidlong.models import model_facts, spec_for_facts

    config = dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=16)
    spec = spec_for_facts(model_facts(config, family="skyreels-v2"))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width) == ("skyreels-v2-t2v-14b-540p", 25, 24, 544, 960)
    assert spec_for_facts(model_facts(config)).name == "wan2.1-t2v-14b"
    i2v = dict(config, in_channels=36, text_dim=4096, freq_dim=256)
    for layers, heads in ((40, 40), (30, 12)):  # I2V 14B and 1.3B
        sized = dict(i2v, num_layers=layers, num_attention_heads=heads)
        assert spec_for_facts(model_facts(sized, task="i2v", family="skyreels-v2")).name == "skyreels-v2-i2v-540p"
    assert spec_for_facts(model_facts(i2v, task="i2v")).name == "wan2.1-i2v-14b"
    t2v_14b = dict(config, text_dim=4096, freq_dim=256, inject_sample_info=False)
    for layers, heads, rate in ((40, 40, False), (30, 12, True)):  # diffusion forcing 14B, 1.3B (the frame rate as an input)
        forcing = dict(t2v_14b, num_layers=layers, num_attention_heads=heads, inject_sample_info=rate)
        for pipeline in ("SkyReelsV2DiffusionForcingPipeline", "VidLongSkyReelsV2DiffusionForcingImageToVideoPipeline"):
            facts = model_facts(forcing, family="skyreels-v2", pipeline=pipeline)
            assert spec_for_facts(facts).name == "skyreels-v2-df-540p"
    t2v_spec = spec_for_facts(model_facts(t2v_14b, family="skyreels-v2", pipeline="SkyReelsV2Pipeline"))
    assert t2v_spec.name == "skyreels-v2-t2v-14b-540p"
    bare = dict(t2v_14b, num_layers=30, num_attention_heads=12, inject_sample_info=True)  # vidlong.apply on a DF 1.3B alone
    spec = spec_for_facts(model_facts(bare, family="skyreels-v2"))
    assert (spec.name, spec.native_frames) == ("skyreels-v2-540p", 25)
    assert spec_for_facts(model_facts(bare)).name == "wan2.1-t2v-1.3b"


def test_image_to_video_generates_as_its_pipeline_does_streams_and_extends(image_path, tmp_path):
    """`SkyReelsV2ImageToVideoPipeline` (Wan2.1 I2V's condition: CLIP states, the image's latent and a mask as channels):
    `generate` with the image and no method = diffusers' call with the same noise bit for bit; `vidlong generate --image
    --method both` and `--method fifo` at 2x; a stream keeps the condition's mask on every window's first frame; `vidlong extend` runs (the
input's first frame the image)."""
    import json

    import yaml
    from diffusers import SkyReelsV2ImageToVideoPipeline
    from PIL import Image
    from tiny_pipeline import tiny_skyreels_i2v_pipeline

    from vidlong.cli import main
    from vidlong.video_io import read_video

    folder = tmp_path / "i2v"
    tiny_skyreels_i2v_pipeline().save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-skyreels-i2v", native_frames=NATIVE, fps=24, height=32,
                                                             width=32, num_inference_steps=2, guidance_scale=2.0)))
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongSkyReelsV2ImageToVideoPipeline" and pipe.task == "i2v"
    assert_image_to_video_is_the_stock_call(pipe, SkyReelsV2ImageToVideoPipeline, folder, image_path, 32, 32, 4 * NATIVE - 3)

    out = tmp_path / "long.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                 "--method", "both", "--out", str(out)]) == 0
    assert len(read_video(out)[0]) == json.loads(out.with_suffix(".json").read_text())["pixel_frames"] == 4 * (2 * NATIVE - 1) + 1
    fifo = tmp_path / "fifo.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                 "--method", "fifo", "--out", str(fifo)]) == 0
    assert len(read_video(fifo)[0]) == 4 * (2 * NATIVE - 1) + 1

    seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append(k["hidden_states"]), with_kwargs=True)
    streaming = vidlong.Streaming(chunk=1, sinks=1, window=1, steps=2)
    chunks = list(pipe.stream("a red ball", streaming=streaming, chunks=3, seed=1, image=Image.open(image_path)))
    assert [len(c.frames) for c in chunks] == [1, 4, 4] and [x.shape[2] for x in seen] == [1, 1, 2, 2, 3, 3]
    assert all((x[:, 4:8, 0] == 1).all() and (x[:, 4:8, 1:] == 0).all() for x in seen)  # the mask channels
    extended = tmp_path / "extended.mp4"
    assert main(["extend", "--model", str(folder), "--video", str(out), "--chunks", "1",
                 "--prompt", "a red ball", "--out", str(extended)]) == 0
    assert len(read_video(extended)[0]) == len(read_video(out)[0]) + 4 * 3


def test_a_timestep_per_token_goes_in_per_latent_frame():
    """Diagonal denoising's ``[B, tokens]`` timesteps reach its transformer as ``[B, F]`` with its diffusion-forcing
    forward: equal steps give the per-sample forward (to float rounding), varied ones the per-frame forward bit for bit."""
    from tiny_pipeline import tiny_skyreels_pipeline

    from vidlong.families.skyreels import VidLongSkyReelsV2Pipeline
    from vidlong.image_condition import token_timesteps
    from vidlong.streaming import StreamText

    pipe = VidLongSkyReelsV2Pipeline(**tiny_skyreels_pipeline().components)
    inputs = transformer_inputs(4)
    latents, text = inputs["hidden_states"], StreamText(1, dict(encoder_hidden_states=inputs["encoder_hidden_states"]))
    steps = torch.tensor([100.0, 300.0, 500.0, 700.0])
    with torch.no_grad():
        varied = pipe.stream_forward(pipe.transformer, latents, token_timesteps(steps, latents.shape, (1, 2, 2))[None], text)
        per_frame = pipe.transformer(**dict(inputs, timestep=steps[None], enable_diffusion_forcing=True))[0]
        same = pipe.stream_forward(pipe.transformer, latents, torch.full((1, 16), 500.0), text)
        stock = pipe.transformer(**inputs)[0]
    assert torch.equal(varied, per_frame) and rel_err(same, stock) < 1e-5


def test_fifo_streams_and_extends(tmp_path):
    """`vidlong stream --method fifo` writes 12 pixel frames a chunk past its first, and `vidlong extend --method fifo`
    keeps the input's frames and adds its chunks."""
    import yaml
    from tiny_pipeline import tiny_skyreels_pipeline

    from vidlong.cli import main
    from vidlong.video_io import read_video

    folder = tmp_path / "model"
    tiny_skyreels_pipeline().save_pretrained(folder)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-skyreels", native_frames=NATIVE, fps=24, height=32,
                                                             width=32, num_inference_steps=2, guidance_scale=2.0)))
    stream, extended = tmp_path / "s.mp4", tmp_path / "e.mp4"
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--method", "fifo", "--chunks", "3",
                 "--out", str(stream)]) == 0
    assert main(["extend", "--model", str(folder), "--video", str(stream), "--method", "fifo", "--chunks", "2",
                 "--out", str(extended)]) == 0
    made, longer = read_video(stream)[0], read_video(extended)[0]
    assert len(made) == 9 + 2 * 12 and len(longer) == len(made) + 2 * 12


@pytest.fixture(scope="module")
def df_folder(tmp_path_factory):
    """A saved tiny `SkyReelsV2DiffusionForcingPipeline` folder (its transformer takes the frame rate) with a vidlong.yaml."""
    from tiny_pipeline import save_tiny_skyreels_df_pipeline

    return save_tiny_skyreels_df_pipeline(tmp_path_factory.mktemp("skyreels-df"), native_frames=NATIVE)


def stock_df(folder):
    from diffusers import SkyReelsV2DiffusionForcingPipeline

    stock = SkyReelsV2DiffusionForcingPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    return stock


def test_diffusion_forcing_generates_as_its_pipeline_does_in_one_window_or_its_own_way(df_folder):
    """`SkyReelsV2DiffusionForcingPipeline` folders: `generate` at 2x with no method = diffusers' call with the same seed
    over the whole video in one window (``base_num_frames`` = ``num_frames``), bit for bit; given ``latents=`` (which
    diffusers' own call cannot unpack) start the same video; with ``overlap_history`` the call makes it its own way
    (windows continuing each other), as diffusers' does; the frame rate reaches its transformer (16 fps is another video)."""
    import numpy as np

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(df_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongSkyReelsV2DiffusionForcingPipeline" and pipe.facts()["family"] == "skyreels-v2"
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    frames = 4 * (2 * NATIVE - 1) + 1
    stock = stock_df(df_folder)
    common = dict(prompt="a red ball", height=32, width=32, num_frames=frames, num_inference_steps=2, guidance_scale=2.0,
                  output_type="np")
    video = stock(**common, base_num_frames=frames, generator=torch.Generator().manual_seed(3)).frames[0]
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))

    noise = torch.randn(1, 4, 2 * NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
    given = noise.clone()
    assert np.array_equal(pipe(**common, latents=noise).frames[0], video) and torch.equal(noise, given)  # copied, not written
    windows = dict(common, base_num_frames=4 * NATIVE - 3, overlap_history=5)
    assert np.array_equal(pipe(**windows, generator=torch.Generator().manual_seed(3)).frames[0],
                          stock(**windows, generator=torch.Generator().manual_seed(3)).frames[0])
    with pytest.raises(VidlongError, match=r"latents has shape \[1, 4, 6, 4, 4\]; this call \(.*base_num_frames=9, 32x32\) "
                                           r"takes \[1, 4, 3, 4, 4\]"):  # the first window's
        pipe(**windows, latents=noise)
    rope = pipe.transformer.config.rope_max_seq_len  # its windows keep a video past the RoPE table within it
    past = dict(windows, num_frames=4 * rope + 1, num_inference_steps=1)
    assert len(pipe(**past, generator=torch.Generator().manual_seed(3)).frames[0]) == 4 * rope + 1
    with pytest.raises(VidlongError, match="latent frames is more than this model's RoPE table places"):
        pipe(**dict(past, overlap_history=None))  # in one window it is refused
    assert not np.allclose(pipe(**common, latents=noise, fps=16).frames[0], video, atol=1e-3)


def test_its_asynchronous_mode_holds_for_one_call_and_a_block_causal_transformer_does_not_stream(df_folder):
    """diffusers' call leaves the transformer block-causal after ``causal_block_size=``; vidlong's puts it back. A
    transformer set so by hand is refused in one line by a stream, chunked or fifo."""
    pipe = vidlong.load_pipeline(df_folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    pipe(prompt="a red ball", num_frames=4 * (2 * NATIVE - 1) + 1, causal_block_size=3, ar_step=1,
         generator=torch.Generator().manual_seed(0))
    assert pipe.transformer.config.num_frame_per_block == 1
    pipe.transformer.register_to_config(num_frame_per_block=3)
    for streaming in (vidlong.Streaming(chunk=1), vidlong.DiagonalDenoising()):
        with pytest.raises(VidlongError, match=r"block-causally \(3 latent frames a block\).*to stream; use vidlong generate"):
            pipe.stream("a red ball", streaming, chunks=1)


def test_diffusion_forcing_takes_every_method_streams_and_extends_with_its_frame_rate(df_folder, tmp_path):
    """`vidlong generate` with `both` and with `fifo`, `vidlong stream` (re-noised context and fifo) and `vidlong extend`
    run on a diffusion-forcing folder; every forward of a stream gets the frame rate's code, one per sample."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    for method in ("both", "fifo"):
        out = tmp_path / f"{method}.mp4"
        assert main(["generate", "--model", str(df_folder), "--prompt", "a red ball", "--ratio", "2", "--method", method,
                     "--out", str(out)]) == 0
        assert len(read_video(out)[0]) == 4 * (2 * NATIVE - 1) + 1

    pipe = vidlong.load_pipeline(df_folder, device="cpu")
    seen = []
    pipe.transformer.register_forward_pre_hook(lambda m, a, k: seen.append((k["fps"], k["hidden_states"].shape[0])),
                                               with_kwargs=True)
    list(pipe.stream("a red ball", streaming=vidlong.Streaming(chunk=1), chunks=2, seed=1))
    list(pipe.stream("a red ball", streaming=vidlong.DiagonalDenoising(), chunks=1, seed=1))
    assert seen and all(fps == [1] * batch for fps, batch in seen)

    stream, extended = tmp_path / "s.mp4", tmp_path / "e.mp4"
    assert main(["stream", "--model", str(df_folder), "--prompt", "a red ball", "--chunks", "3", "--chunk", "1",
                 "--out", str(stream)]) == 0
    assert main(["extend", "--model", str(df_folder), "--video", str(stream), "--method", "fifo", "--chunks", "1",
                 "--out", str(extended)]) == 0
    assert len(read_video(stream)[0]) == 1 + 2 * 4 and len(read_video(extended)[0]) == 1 + 2 * 4 + 12


def test_diffusion_forcing_weights_take_an_image_as_their_clean_first_frame(df_folder, image_path, tmp_path):
    """With an image, a diffusion-forcing folder loads as `SkyReelsV2DiffusionForcingImageToVideoPipeline` (the image's
    latent as the first frame, at timestep 0): `generate` = diffusers' call with the same seed, bit for bit; a stream's
    native-length first chunk is that video (the window's condition as the call's); `vidlong generate --image` with
    `both` and with `fifo` at 2x."""
    import numpy as np
    from diffusers import SkyReelsV2DiffusionForcingImageToVideoPipeline
    from PIL import Image

    from vidlong.cli import main
    from vidlong.video_io import read_video

    pipe = vidlong.load_pipeline(df_folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongSkyReelsV2DiffusionForcingImageToVideoPipeline" and pipe.spec.name == "tiny-skyreels-df"
    own = assert_image_to_video_is_the_stock_call(pipe, SkyReelsV2DiffusionForcingImageToVideoPipeline, df_folder, image_path,
                                                  32, 32, 4 * NATIVE - 3, same="seed")
    first = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3,
                                  image=Image.open(image_path))))
    assert np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1

    for method in ("both", "fifo"):
        out = tmp_path / f"{method}.mp4"
        assert main(["generate", "--model", str(df_folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                     "--method", method, "--out", str(out)]) == 0
        assert len(read_video(out)[0]) == 4 * (2 * NATIVE - 1) + 1


@pytest.mark.parametrize("forcing", [False, True], ids=["t2v", "diffusion-forcing"])
def test_a_chunk_through_the_kv_cache_matches_the_dense_block_causal_forward(forcing):
    """Its streams may keep a rolling KV cache (`--context cache`): two chunks written clean at timestep 0, a third denoised
    at 700 through the cache equals one dense forward over the three with a block-causal mask and a timestep per latent frame
    (its diffusion-forcing forward); with the frame-rate input of the diffusion-forcing releases too."""
    from diffusers import SkyReelsV2Transformer3DModel
    from reference import BlockCausalReference

    from vidlong.attention.stream_attention import StreamContext

    def model():
        return tiny_transformer(model_class=SkyReelsV2Transformer3DModel, inject_sample_info=forcing)

    fps = dict(fps=[1]) if forcing else {}
    inputs = transformer_inputs(6)
    chunks, text = inputs["hidden_states"].split(2, dim=2), inputs["encoder_hidden_states"]
    streamed, context = model(), StreamContext(sinks=2, window=4)
    vidlong.apply(streamed, native_frames=8, stream=context)
    with torch.no_grad():
        for clean in chunks[:2]:
            context.writing = True
            streamed(hidden_states=clean, timestep=torch.tensor([0.0]), encoder_hidden_states=text, **fps)
        context.writing = False
        out = streamed(hidden_states=chunks[2], timestep=torch.tensor([700.0]), encoder_hidden_states=text, **fps)[0]
        dense = model()
        for block in dense.blocks:
            block.attn1.set_processor(BlockCausalReference(torch.tensor([0, 0, 1, 1, 2, 2]), 4))
        ref = dense(hidden_states=inputs["hidden_states"], timestep=torch.tensor([[0.0, 0, 0, 0, 700, 700]]),
                    encoder_hidden_states=text, enable_diffusion_forcing=True, **fps)[0]
    assert rel_err(out, ref[:, :, 4:]) < 1e-5


@pytest.mark.parametrize("kind", ["t2v", "diffusion-forcing"])
def test_a_prompt_timeline_splits_its_cross_attention_by_frames(kind, df_folder, tmp_path):
    """A prompt timeline on SkyReels-V2 (Wan's cross-attention; the diffusion-forcing call takes the segments' text as
    ``prompt_embeds``): one prompt repeated is the single prompt, two prompts differ, the hooks go after the call;
    `vidlong stream --method fifo` takes a schedule."""
    from tiny_pipeline import tiny_skyreels_pipeline

    from conftest import assert_a_prompt_timeline_follows_its_segments

    from vidlong.cli import main

    folder = df_folder
    if kind == "t2v":
        folder = tmp_path / "t2v"
        tiny_skyreels_pipeline().save_pretrained(folder)
        (folder / "vidlong.yaml").write_text((df_folder / "vidlong.yaml").read_text())
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert_a_prompt_timeline_follows_its_segments(pipe)
    assert main(["stream", "--model", str(folder), "--method", "fifo", "--prompt", "0:a red ball; 1:a blue ball",
                 "--chunks", "2", "--out", str(tmp_path / "s.mp4")]) == 0


@pytest.fixture(scope="module")
def v2v_folder(tmp_path_factory):
    """A saved tiny `SkyReelsV2DiffusionForcingVideoToVideoPipeline` folder (the DF weights of `df_folder`'s builder) with a
    vidlong.yaml at 32x48 pixels, and a 9-frame input video: ``(folder, uint8 frames [9, 32, 48, 3], its mp4 at 8 fps)``."""
    import numpy as np
    from tiny_pipeline import save_tiny_skyreels_df_pipeline

    from vidlong.video_io import write_video

    folder = tmp_path_factory.mktemp("skyreels-v2v")
    save_tiny_skyreels_df_pipeline(folder / "model", video_to_video=True, native_frames=NATIVE, width=48)
    frames = np.random.default_rng(5).integers(0, 256, (9, 32, 48, 3), dtype=np.uint8)
    write_video(folder / "in.mp4", frames, fps=8)
    return folder / "model", frames, folder / "in.mp4"


def test_video_to_video_continues_its_video_as_its_pipeline_does(v2v_folder):
    """`SkyReelsV2DiffusionForcingVideoToVideoPipeline` folders: `generate` with a video and no method is diffusers' call
    with the same seed (one window of ratio x the native latent frames, its first the video's last ``overlap_history``
    17 frames encoded), bit for bit, less the call's decode of those encoded frames: the input's frames unchanged, then
    the new ones alone (input + 4 per latent frame past the encoded ones; a 9-frame video: all 9 again, 3 latent frames;
    a 25-frame one: its last 17, 5 latent frames); its latents are the window's, whose decode is those repeated frames,
    then the output's new ones. ``latents=`` (which diffusers' call cannot take with a video) start the same video; its
    own windows (``base_num_frames``) through vidlong's call = diffusers'; `both` changes the new frames, not the input's.
    The methods act on its transformer's diffusion-forcing forward as on the DF text-to-video pipeline's (one path:
    `test_methods_off_removed_and_against_the_float64_reference`)."""
    import numpy as np
    from diffusers import SkyReelsV2DiffusionForcingVideoToVideoPipeline
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    folder, frames, _ = v2v_folder
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongSkyReelsV2DiffusionForcingVideoToVideoPipeline" and pipe.task == "v2v"
    stock = SkyReelsV2DiffusionForcingVideoToVideoPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    longer, made_at = np.random.default_rng(6).integers(0, 256, (25, 32, 48, 3), dtype=np.uint8), {}
    for given, ratio, repeated, new in ((frames, 2, 9, 4 * (2 * NATIVE - 3)), (longer, 3, 17, 4 * (3 * NATIVE - 5))):
        made = generate(pipe, GenerateRequest(prompt="a red ball", ratio=ratio, seed=3, video=given))
        window = 4 * (ratio * NATIVE - 1) + 1
        assert made.settings["latent_frames"] == ratio * NATIVE and made.latents.shape[2] == ratio * NATIVE
        call = stock(prompt="a red ball", video=[Image.fromarray(frame) for frame in given], height=32, width=48,
                     num_frames=window, base_num_frames=window, overlap_history=17, num_inference_steps=2, guidance_scale=2.0,
                     output_type="np", generator=torch.Generator().manual_seed(3)).frames[0]
        call = (np.clip(call, 0, 1) * 255).round().astype(np.uint8)
        assert len(call) == len(given) + window and np.array_equal(call[:len(given)], given)
        assert np.array_equal(made.frames, np.concatenate([call[:len(given)], call[len(given) + repeated:]]))
        assert len(made.frames) == made.settings["pixel_frames"] == len(given) + new
        assert np.array_equal(pipe.decode_uint8(made.latents), call[len(given):])
        made_at[ratio] = made
    own, window = made_at[2], 4 * (2 * NATIVE - 1) + 1
    assert own.settings["strength"] is None and own.settings["video"] == "in memory"

    common = dict(prompt="a red ball", video=frames, num_frames=window, output_type="np")
    noise = torch.randn(1, 4, 2 * NATIVE, 4, 6, generator=torch.Generator().manual_seed(3))
    drawn = pipe(**common, generator=torch.Generator().manual_seed(3)).frames[0]
    assert np.array_equal(pipe(**common, latents=noise).frames[0], drawn)
    windows = dict(common, video=[Image.fromarray(frame) for frame in frames], base_num_frames=4 * NATIVE + 1, overlap_history=5,
                   num_inference_steps=2, guidance_scale=2.0)
    assert np.array_equal(pipe(**windows, generator=torch.Generator().manual_seed(3)).frames[0],
                          stock(**windows, height=32, width=48, generator=torch.Generator().manual_seed(3)).frames[0])
    both = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, video=frames, method="both"))
    assert np.array_equal(both.frames[:9], frames) and not np.array_equal(both.frames[9:], own.frames[9:])
    with pytest.raises(VidlongError, match="window of 9 pixel frames has no latent frame past the 3.*num_frames 13 or more"):
        pipe(**dict(common, num_frames=9))
    # the length that refusal names runs: a video shorter than overlap_history (17) encodes all its frames, and diffusers'
    # call given 17 divides its window's latent frames by their count less 17 frames' (5), failing at 13 and 17 frames
    assert pipe(**dict(common, num_frames=13)).frames[0].shape[0] == len(frames) + 13
    with pytest.raises(VidlongError, match="num_videos_per_prompt to 1"):
        pipe(**common, num_videos_per_prompt=2)


def test_video_to_video_folders_continue_stream_and_extend_from_the_cli(v2v_folder, tmp_path):
    """`vidlong generate --video` on a video-to-video folder continues the file at its frame rate (its 9 frames, then the
    new frames of a window of 2x the native latent frames, with `both`: 4 per latent frame past the 3 its frames encode
    to), the sidecar counting those; `--save-latents` saves the window's latents (the input's encoded frames, then the new
    ones, as an extension saves its encoded tail and new chunks) with the written video's frame count, and `vidlong extend
    --video OUT --latents FILE` continues the written video from them; `--preset 2x` sizes the window as `--ratio 2` does
    (the video does not set the length here); `vidlong extend` and `vidlong stream` run on the folder as on the DF
    text-to-video one (its weights)."""
    import json

    from vidlong.cli import main
    from vidlong.extend import load_latents
    from vidlong.video_io import read_video

    folder, _, source = v2v_folder
    out, saved, further = tmp_path / "long.mp4", tmp_path / "long.pt", tmp_path / "further.mp4"
    extended, stream = tmp_path / "e.mp4", tmp_path / "s.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--video", str(source), "--ratio", "2",
                 "--method", "both", "--save-latents", str(saved), "--out", str(out)]) == 0
    made, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert len(made) == settings["pixel_frames"] == 9 + 4 * (2 * NATIVE - 3) and fps == pytest.approx(8)
    assert settings["video"] == str(source) and settings["latent_frames"] == 2 * NATIVE
    latents, meta = load_latents(saved)
    assert latents.shape[2] == 2 * NATIVE and meta["pixel_frames"] == len(made)
    assert main(["extend", "--model", str(folder), "--video", str(out), "--latents", str(saved), "--chunks", "1",
                 "--chunk", "1", "--out", str(further)]) == 0
    assert len(read_video(further)[0]) == len(made) + 4
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--video", str(source), "--preset", "2x",
                 "--out", str(out), "--overwrite"]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert settings["latent_frames"] == 2 * NATIVE and settings["preset"] == "2x" and len(read_video(out)[0]) == len(made)
    assert main(["extend", "--model", str(folder), "--video", str(source), "--chunks", "1", "--chunk", "1",
                 "--prompt", "a red ball", "--out", str(extended)]) == 0
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--chunks", "2", "--chunk", "1",
                 "--out", str(stream)]) == 0
    assert len(read_video(extended)[0]) == 9 + 4 and len(read_video(stream)[0]) == 1 + 4


@pytest.mark.parametrize("command, flags, says", [
    ("generate", [], "continues a video .SkyReels-V2 DF video to video.: pass it with --video in.mp4"),
    ("generate", ["--video", "{video}", "--strength", "0.5"], "--strength is how much of a video is redrawn.*drop --strength"),
    ("generate", ["--video", "{video}", "--frames", "9"], "last 9 frames take 3 latent frames of the 3 made.*--frames 13 or more"),
    ("generate", ["--video", "{video}", "--method", "fifo"], "method fifo .*is continued in one call"),
    ("generate", ["--video", "{video}", "--ratio", "2", "--prompt", "0s: a red ball; 1s: a blue ball"],
     "timeline .*not wired for a continued"),
    ("generate", ["--image", "{image}"], "video-to-video redraws, continues or edits the given video and takes no --image"),
    ("stream", ["--video", "{video}"], "a stream redraws a video with a Wan or SkyReels-V2 text-to-video model"),
], ids=["no-video", "strength", "no-new-frame", "fifo", "timeline", "image", "stream-redraw"])
def test_video_to_video_refusals_are_one_line_before_loading(v2v_folder, image_path, tmp_path, capsys, monkeypatch, command,
                                                             flags, says):
    """What a video-to-video folder cannot take: exit 2, one line naming the field and the fix, no model loaded."""
    from family_checks import check_refused_before_loading

    folder, _, source = v2v_folder
    flags = [flag.format(video=source, image=image_path) for flag in flags]
    prompt = [] if "--prompt" in flags else ["--prompt", "a red ball"]
    line = check_refused_before_loading([command, "--model", str(folder), *prompt, *flags], tmp_path / "o.mp4", capsys,
                                        monkeypatch)
    assert re.search(says, line), line
