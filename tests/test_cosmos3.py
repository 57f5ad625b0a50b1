"""NVIDIA Cosmos 3 (`Cosmos3OmniTransformer`, `Cosmos3OmniPipeline`) through its family adapter and pipeline: the methods act
on the video ("gen") queries and keys of its mixture-of-transformers attention, the prompt's ("und") keys joint text keys
for them, the prompt's own causal rows stock, grouped-query heads. Methods off and removed = the stock model bit for bit;
each method equal to a float64 reference written from the math (projections, RMS norms, halves-rotated RoPE, heads
repeated; attention from `reference`); `generate` with no method = diffusers' `Cosmos3OmniPipeline` bit for bit, from
text, from an image (its ``image=``) and continuing a video (its ``video=`` from the video's last frames), the methods
changing the frames it makes and not those it keeps clean; streams and extensions keep their context clean under its
condition mask (an extension's first chunk = its ``video=`` call's new frame, bit for bit), from text and from an image;
`vidlong generate` with both methods writes the mp4, and from an image `vidlong stream` and `vidlong extend` run; `vidlong
info` describes the folder; what it does not serve is refused in one line."""

import re

import numpy as np
import pytest
import torch
from family_checks import (check_cli_generate, check_float64_reference, check_image_to_video_cli, check_methods_off_and_removed,
                           check_refused_before_loading)
from reference import joint_method_attention, plain_attention, rms_norm
from tiny_pipeline import tiny_cosmos3_transformer

import vidlong
from vidlong.attention.adapters.cosmos3 import COSMOS3
from vidlong.video_io import rounded_uint8

NATIVE = 2  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
GRID_CELLS = (4, 6)  # latent rows, columns of the tiny folder's 32x48 pixels
WORDS = 5  # prompt tokens of the transformer-level tests
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def cosmos3_inputs(frames: int, dtype=torch.float32) -> dict:
    """One forward's arguments as its call packs them: `WORDS` prompt tokens, then the video's `frames` latent frames of 4x6
    cells (its fps-scaled multimodal RoPE positions from the pipeline's own helpers), every frame noisy at timestep 500."""
    from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import get_3d_mrope_ids_text_tokens, get_3d_mrope_ids_vae_tokens

    generator = torch.Generator().manual_seed(1)
    tokens = frames * GRID[0] * GRID[1]
    text_positions, after = get_3d_mrope_ids_text_tokens(WORDS, 0, use_float_positions=True)
    video_positions, _ = get_3d_mrope_ids_vae_tokens(frames, *GRID, after + 100, fps=24.0)
    video = torch.arange(WORDS, WORDS + tokens)
    return dict(input_ids=torch.randint(0, 17, (WORDS,), generator=generator), text_indexes=torch.arange(WORDS),
                position_ids=torch.cat([text_positions, video_positions], dim=1), und_len=WORDS,
                sequence_length=WORDS + tokens, vision_tokens=[torch.randn(1, 4, frames, 4, 6, generator=generator).to(dtype)],
                vision_token_shapes=[(frames, *GRID)], vision_sequence_indexes=video, vision_mse_loss_indexes=video,
                vision_timesteps=torch.full((tokens,), 500.0), vision_noisy_frame_indexes=[torch.arange(frames)],
                return_dict=False)


def run(model, frames=4 * NATIVE, dtype=torch.float32):
    return model(**cosmos3_inputs(frames, dtype))[0][0]


def modules(model) -> list:
    """Each layer's attention module itself (the reference goes on as its stock processor is called)."""
    return [layer.self_attn for layer in model.layers]


@pytest.mark.parametrize("text_k_norm", [False, True], ids=["qk-norms", "text-key-norm"])
def test_methods_off_and_removed_are_stock_bit_for_bit(text_k_norm):
    """vidlong's processor goes on each layer's attention slot and comes off; a neutral plan runs its own two pathways (the
    prompt's causal one, the video's over both with grouped-query heads), in either norm layout of its releases."""
    check_methods_off_and_removed(lambda: tiny_cosmos3_transformer(text_k_norm), run, COSMOS3.self_attentions,
                                  "Cosmos3AttnProcessor", 2, NATIVE)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_methods_off_are_stock_bit_for_bit_on_cuda():
    """On CUDA in bfloat16 (its attention kernels there, not the CPU's), a neutral plan's key and value heads repeated to the
    query heads give diffusers' grouped-query call bit for bit, in both norm layouts."""

    def on_cuda(value):
        if isinstance(value, list):
            return [on_cuda(item) for item in value]
        return value.cuda() if isinstance(value, torch.Tensor) else value

    def run_on_cuda(model):
        inputs = {name: on_cuda(value) for name, value in cosmos3_inputs(4 * NATIVE).items()}
        inputs["vision_tokens"] = [tokens.to(torch.bfloat16) for tokens in inputs["vision_tokens"]]
        with torch.no_grad():
            return model(**inputs)[0][0]

    for text_k_norm in (False, True):
        check_methods_off_and_removed(lambda: tiny_cosmos3_transformer(text_k_norm).to("cuda", torch.bfloat16), run_on_cuda,
                                      COSMOS3.self_attentions, "Cosmos3AttnProcessor", 2, NATIVE)


def halves_rotated(x, cos, sin):
    """Its RoPE in float64 on ``[S, H, D]``: ``x·cos + (-x₂, x₁)·sin`` (`cos`, `sin` ``[S, D]``)."""
    half = x.shape[-1] // 2
    return x * cos[:, None] + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin[:, None]


class ReferenceAttention:
    """The methods' float64 math on one Cosmos 3 attention, called as its stock processor is: the prompt's q/k/v and the
    video's by their own projections, per-head RMS norms (the prompt's keys normed again for the video's queries where it has
    ``k_norm_und_for_gen``), each rotated by its rows of the RoPE, key and value heads repeated to the query heads; the
    prompt's rows causal over its own keys, the video's rows `joint_method_attention` with the prompt's keys as text first."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, und_seq, gen_seq, rotary_emb):
        cos_und, sin_und, cos_gen, sin_gen = (x.double() for x in rotary_emb)

        def heads(x):
            return x.double().unflatten(-1, (-1, attn.head_dim))

        def normed(x, norm):
            return x if norm is None or isinstance(norm, torch.nn.Identity) else rms_norm(x, norm)

        def wide(x):
            return x.repeat_interleave(attn.num_attention_heads // x.shape[1], dim=1)

        q_und = halves_rotated(normed(heads(attn.to_q(und_seq)), attn.norm_q), cos_und, sin_und)
        k_und = normed(heads(attn.to_k(und_seq)), attn.norm_k)
        k_for_video = wide(halves_rotated(normed(k_und, attn.k_norm_und_for_gen), cos_und, sin_und))
        k_und, v_und = wide(halves_rotated(k_und, cos_und, sin_und)), wide(heads(attn.to_v(und_seq)))
        words = und_seq.shape[0]
        causal = torch.ones(words, words, dtype=torch.bool).tril()
        und_rows = plain_attention(q_und[None], k_und[None], v_und[None], causal)[0]
        q = torch.cat([q_und, halves_rotated(normed(heads(attn.add_q_proj(gen_seq)), attn.norm_added_q), cos_gen, sin_gen)])
        k = torch.cat([k_for_video, wide(halves_rotated(normed(heads(attn.add_k_proj(gen_seq)), attn.norm_added_k), cos_gen,
                                                        sin_gen))])
        v = torch.cat([v_und, wide(heads(attn.add_v_proj(gen_seq)))])
        gen_rows = joint_method_attention(self.method, q[None], k[None], v[None], words, self.frames, GRID, NATIVE)[0, words:]
        return attn.to_out(und_rows.flatten(-2)), attn.to_add_out(gen_rows.flatten(-2))


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, the text keys normed apart for the video queries (the
    other norm layout's keys are the prompt's own, as the bit-for-bit test runs them)."""
    check_float64_reference(lambda: tiny_cosmos3_transformer(text_k_norm=True), run, modules, ReferenceAttention, method,
                            NATIVE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_cosmos3_pipeline

    return save_tiny_cosmos3_pipeline(tmp_path_factory.mktemp("cosmos3"))


def test_generate_with_no_method_is_its_call_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class; `generate` at 2x (4 latent = 13 frames, decoded by Wan's streaming decoder) is
    diffusers' own `Cosmos3OmniPipeline` with the same seed (its own draw of the noise), bit for bit; its sound, its actions
    and an image with a video are refused in one line."""
    from diffusers import Cosmos3OmniPipeline

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongCosmos3OmniPipeline"
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, steps=2))
    stock = Cosmos3OmniPipeline.from_pretrained(folder)
    stock.set_progress_bar_config(disable=True)
    video = stock(prompt="a red ball", num_frames=13, height=32, width=48, num_inference_steps=2, guidance_scale=6.0,
                  generator=torch.Generator().manual_seed(3), output_type="np").video
    assert result.frames.shape == (13, 32, 48, 3) and result.settings["latent_frames"] == 4
    assert np.array_equal(result.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    image = np.zeros((32, 48, 3), dtype=np.uint8)
    for refused, says in ((dict(enable_sound=True), "drop enable_sound"), (dict(action=object()), "drop action"),
                          (dict(image=image, video=[image] * 5), "drop image= or video=")):
        with pytest.raises(vidlong.VidlongError, match=f"{says}$"):
            pipe("a red ball", **refused)


def stock_pipeline(folder):
    """diffusers' own `Cosmos3OmniPipeline` from `folder`, what its `prepare_latents` made last kept (``made["latents"]``:
    its conditioned start ``[1, C, F, h, w]`` first, its condition mask ``[F, 1, 1]`` sixth)."""
    from diffusers import Cosmos3OmniPipeline

    stock, made = Cosmos3OmniPipeline.from_pretrained(folder), {}
    stock.set_progress_bar_config(disable=True)
    prepare = stock.prepare_latents

    def kept(*args, **kwargs):
        made["latents"] = prepare(*args, **kwargs)
        return made["latents"]

    stock.prepare_latents = kept
    return stock, made


def check_methods_keep_the_clean_frames(pipe, request, plain, kept: int) -> None:
    """`generate` of `request` with each method: frames unlike `plain`'s (no method), its first `kept` latent frames,
    those its call keeps clean under the condition mask, the same bits (their velocity zeroed, its sampler steps them as
    it steps them with no method)."""
    import dataclasses

    from vidlong.generate import generate

    for method in ("ultravico", "freelong"):
        made = generate(pipe, dataclasses.replace(request, method=method))
        assert not np.array_equal(made.frames, plain.frames) and torch.equal(made.latents[:, :, :kept], plain.latents[:, :, :kept])
        assert not torch.equal(made.latents[:, :, kept:], plain.latents[:, :, kept:])


def test_an_image_conditions_frame_0_as_its_call_does_bit_for_bit(folder, image_path):
    """`load_pipeline(task="i2v")` gives vidlong's image-to-video twin; `generate` from an image (32x32, resized and cropped
    to 32x48 by its call) at 2x (4 latent = 13 frames) with no method = diffusers' own ``image=`` call from the same seed,
    bit for bit (its image's latent put in vidlong's noise under its condition mask, as its call puts it in its own); its
    first latent frame stays that latent, clean, within float32 rounding; each method changes the video, not that frame."""
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    assert type(pipe).__name__ == "VidLongCosmos3OmniImageToVideoPipeline" and pipe.task == "i2v"
    request = GenerateRequest(prompt="a red ball", ratio=2, seed=3, image=str(image_path), height=32, width=48)
    plain = generate(pipe, request)
    stock, made = stock_pipeline(folder)
    video = stock(prompt="a red ball", image=Image.open(image_path), num_frames=13, height=32, width=48, num_inference_steps=2,
                  guidance_scale=6.0, generator=torch.Generator().manual_seed(3), output_type="np").video
    assert plain.frames.shape == (13, 32, 48, 3) and np.array_equal(plain.frames, rounded_uint8(video))
    start, mask = made["latents"][0], made["latents"][5]
    assert mask.flatten().tolist() == [1, 0, 0, 0] and (plain.latents[:, :, :1] - start[:, :, :1]).abs().max() < 1e-5
    check_methods_keep_the_clean_frames(pipe, request, plain, 1)


def test_a_video_is_continued_from_its_last_frames_as_its_call_does_bit_for_bit(folder):
    """`generate` given a video on Cosmos 3's own pipeline continues it through its video-to-video twin: the video's 7 frames
    (resized as its call resizes them), then diffusers' own ``video=`` call's window of 13 frames with
    ``condition_video_keep="last"`` from the same seed, bit for bit, past the video's last 5 frames it starts with (2 latent
    frames, kept clean); each method changes the new frames, not the 2 kept."""
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    video = np.random.default_rng(2).integers(0, 255, (7, 40, 56, 3), dtype=np.uint8)
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    request = GenerateRequest(prompt="a red ball", frames=13, seed=3, video=video, height=32, width=48)
    plain = generate(pipe, request)
    stock, made = stock_pipeline(folder)
    frames = [Image.fromarray(frame) for frame in video]
    window = stock(prompt="a red ball", video=frames, condition_video_keep="last", height=32, width=48, num_frames=13,
                   num_inference_steps=2, guidance_scale=6.0, generator=torch.Generator().manual_seed(3), output_type="np").video
    resized = stock.video_processor.postprocess_video(stock.video_processor.preprocess_video(frames, 32, 48), "np")[0]
    assert plain.frames.shape == (7 + 13 - 5, 32, 48, 3) and plain.settings["latent_frames"] == 4
    assert np.array_equal(plain.frames[:7], rounded_uint8(resized)) and np.array_equal(plain.frames[7:], rounded_uint8(window[5:]))
    assert made["latents"][5].flatten().tolist() == [1, 1, 0, 0]
    twin = pipe.video_to_video()
    for refused, says in ((dict(condition_video_keep="first"), "drop condition_video_keep"),
                          (dict(condition_frame_indexes_vision=[0]), "drop condition_frame_indexes_vision"),
                          (dict(video=video[:3]), "holds 3 frames and condition_frame_indexes_vision (0, 1) continues from "
                                                  "its last 5; pass a longer video")):
        with pytest.raises(vidlong.VidlongError, match=re.escape(says) + "$"):
            twin(**dict(dict(prompt="a red ball", video=video, num_frames=13), **refused))
    check_methods_keep_the_clean_frames(pipe, request, plain, 2)


def test_cli_generates_twice_the_native_length_with_both_methods(folder, tmp_path):
    """`vidlong generate --ratio 2 --method both`: 4 latent = 13 frames at 32x48, 24 fps, both methods in the sidecar."""
    check_cli_generate(folder, tmp_path, "both", NATIVE, 4, 24)


def test_cli_generates_streams_and_extends_from_an_image(folder, image_path, tmp_path):
    """`vidlong generate --image start.png --ratio 2 --method both` (13 frames), `vidlong stream --image` (2 chunks of 1
    latent frame: 5 frames) and `vidlong extend` of the generated video (1 chunk: 4 frames more) write what they make."""
    check_image_to_video_cli(folder, image_path, tmp_path, NATIVE)


def test_a_stream_starts_as_generate_and_an_extension_keeps_its_context_as_its_video_call(folder):
    """A stream's first chunk of the native window is `generate`'s latents, bit for bit (its prompt tokenized for that
    window, its call's sampler); an extension of a clean latent frame (its default context, clean under the condition mask)
    makes its first chunk as diffusers' own ``video=`` call keeping that frame (``condition_frame_indexes_vision=[0]``, 5
    frames) makes its new latent frame from the same noise, within float32 rounding (measured 2.1e-6: its sampler steps the
    kept frame at velocity 0, which moves it by rounding, 3e-8, where the stream hands the frame on exactly); its later
    chunks move on; the re-noised context runs and differs."""
    from PIL import Image

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    stream = pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=3)
    first = next(iter(stream))
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3))
    assert stream.context_mode == "clean" and torch.equal(first.latents, own.latents)
    stock, _ = stock_pipeline(folder)
    video = [Image.fromarray(np.random.default_rng(2).integers(0, 255, (32, 48, 3), dtype=np.uint8))]
    call = dict(prompt="a red ball", video=video, condition_frame_indexes_vision=[0], height=32, width=48, num_frames=5)
    context = stock.prepare_latents(**{n: call[n] for n in ("video", "condition_frame_indexes_vision", "height", "width")},
                                    num_frames=5, device="cpu", dtype=torch.float32)[0][:, :, :1]
    noise = torch.randn((1, 4, 1, *GRID_CELLS), generator=torch.Generator().manual_seed(3))  # an extension's first draw
    window = stock(**call, num_inference_steps=2, latents=torch.cat([context, noise], dim=2), output_type="latent").video
    clean = [c.latents for c in pipe.extend("a red ball", latents=context, streaming=vidlong.Streaming(chunk=1), chunks=3,
                                            seed=3)][1:]
    assert (clean[0] - window[:, :, 1:]).abs().max() < 1e-5 and not torch.equal(clean[1], clean[2])
    renoised = [c.latents for c in pipe.extend("a red ball", latents=context, chunks=1, seed=3,
                                               streaming=vidlong.Streaming(chunk=1, context="renoise"))]
    assert renoised[1].isfinite().all() and not torch.equal(renoised[1], clean[0])


def test_streams_and_the_estimate_guide_wherever_its_call_does(folder):
    """Its call runs the negative prompt's pass at any guidance but 1 (diffusers' ``do_classifier_free_guidance``: 0.5
    too, where vidlong's default guides above 1 alone): a stream guides, and the run estimate counts two forwards a step,
    exactly where its call does."""
    from types import SimpleNamespace

    from diffusers import Cosmos3OmniPipeline

    pipe = vidlong.load_pipeline(folder, device="cpu")
    for guidance in (0.0, 0.5, 1.0, 6.0):
        guided = Cosmos3OmniPipeline.do_classifier_free_guidance.fget(SimpleNamespace(_guidance_scale=guidance))
        assert pipe.stream_guided(guidance) == guided and pipe.forwards_per_step(guidance) == 1 + guided, guidance


def test_an_image_stream_keeps_the_image_clean_first(folder, image_path):
    """From an image (its image-to-video twin): a stream's first chunk of the native window is `generate`'s video (the
    image's latent frame clean under the condition mask, as its call keeps it; uint8 rounding and float32 aside), with the
    clean context (its default) as with the re-noised one; later chunks are finite and differ between the two."""
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.load_pipeline(folder, device="cpu", task="i2v")
    pipe.set_progress_bar_config(disable=True)
    native = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image_path), height=32, width=48))
    made = {}
    for context in ("clean", "renoise"):
        stream = pipe.stream("a red ball", vidlong.Streaming(chunk=1, first_chunk=NATIVE, context=None if context == "clean"
                                                             else context), chunks=3, seed=3, image=str(image_path), height=32,
                             width=48)
        made[context] = list(stream)
        assert stream.context_mode == context and all(c.latents.isfinite().all() for c in made[context])
        assert np.abs(made[context][0].frames.astype(int) - native.frames.astype(int)).max() <= 1
        assert (made[context][0].latents - native.latents).abs().max() < 1e-4
    assert not any(torch.equal(a.latents, b.latents) for a, b in zip(made["clean"][1:], made["renoise"][1:]))


def test_sides_its_transformer_pads_to_whole_patches_are_taken(folder):
    """Its transformer pads the latent grid to whole 2x2 patches, so a side is any multiple of the VAE's factor: a release's
    720 pixels (45 cells of Wan2.2's 16x VAE) pass; the tiny folder's 40 pixels (5 cells, the third patch row padded) make a
    video with both methods at 2x, their grid the padded one."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import geometry_from_configs

    release = geometry_from_configs(dict(scale_factor_spatial=16, scale_factor_temporal=4, z_dim=48),
                                    dict(latent_patch_size=2), "cosmos3")
    assert release.pixel_multiple == 16 and 720 % release.pixel_multiple == 0
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    grids = []
    handle = pipe.transformer.register_forward_hook(
        lambda module, args, output: grids.append(vidlong.hooks.state_of(module).plan.layout.grid))
    try:
        result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, steps=1, height=40, method="both"))
    finally:
        handle.remove()
    assert result.frames.shape == (13, 40, 48, 3) and set(grids) == {(4, 3, 3, NATIVE)}


def test_info_describes_the_folder(folder, capsys):
    """`vidlong info`: its pipeline, family and spec; it generates, from an image too, continues a video (`generate
    --video`), streams (with the clean context) and extends."""
    from vidlong.cli import main

    capsys.readouterr()
    assert main(["info", "--model", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Cosmos3OmniPipeline" in out and "family cosmos3" in out and "spec tiny-cosmos3: native 2 latent frames" in out
    assert "generate: yes" in out and "stream: yes" in out and "extend: yes" in out and "image: yes" in out
    assert "streams with the clean context" in out
    assert "generate --video continues it: its frames, then new ones" in out


@pytest.mark.parametrize("args, says", [
    (["stream", "--chunks", "2", "--context", "cache"], "--context cache is not available for Cosmos3OmniTransformer: its "
                                                        "rolling KV cache"),
    (["generate", "--ratio", "2", "--method", "riflex"], "RIFLEx is not implemented for Cosmos3OmniTransformer"),
    (["generate", "--video", "{short}"], "--video holds 3 frames and Cosmos 3 video to video continues from its last 5; pass a "
                                         "video with at least 5 frames, or start from its last frame as --image"),
    (["generate", "--video", "{clip}", "--frames", "5"], "the video's last 5 frames take 2 latent frames of the 2 made"),
    (["generate", "--video", "{clip}", "--strength", "0.5"], "this model continues its --video (Cosmos 3 video to video: its "
                                                             "frames, then new ones): drop --strength"),
    (["generate", "--video", "{clip}", "--image", "{image}"], "continues or edits the given video and takes no --image; drop it"),
], ids=["cache", "riflex", "too-few-frames", "no-new-frames", "strength", "image-and-video"])
def test_what_it_does_not_run_is_refused_in_one_line(folder, image_path, tmp_path, capsys, monkeypatch, args, says):
    """A stream with the KV cache context, RIFLEx; a video shorter than the 5 frames its call continues from, a window they would
    fill, a strength (it continues, it does not redraw) and an image with a video: one line, exit 2, before any model
    loads."""
    from vidlong.video_io import write_video

    clips = {name: write_video(tmp_path / f"{name}.mp4", np.full((count, 32, 48, 3), 90, np.uint8), fps=24)
             for name, count in (("short", 3), ("clip", 9))}
    args = [a.format(image=image_path, **clips) for a in args]
    line = check_refused_before_loading([args[0], "--model", str(folder), "--prompt", "a red ball", *args[1:]],
                                        tmp_path / "g.mp4", capsys, monkeypatch)
    assert says in line


def test_the_guardrail_checks_generates_and_a_streams_video_and_its_prompt(folder, monkeypatch):
    """Where its safety checker is NVIDIA's guardrail (a release folder's, cosmos_guardrail installed; here a stand-in taken
    for it), its call checks the prompt and the video it decodes: `generate`'s video (here: all black) and a chunk of a
    stream pass its video check, a prompt it finds unsafe and a video it blocks are refused in one line, as
    Cosmos-Predict2.5's are."""
    from diffusers.pipelines.cosmos import pipeline_cosmos3_omni
    from test_cosmos import stand_in_guardrail

    from vidlong.generate import GenerateRequest, generate

    def guarded_by(guardrail):
        monkeypatch.setattr(pipeline_cosmos3_omni, "CosmosSafetyChecker", guardrail)  # its call checks by its class
        pipe.safety_checker = guardrail()

    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    guarded_by(stand_in_guardrail())
    assert not generate(pipe, GenerateRequest(prompt="a red ball", seed=3, steps=1)).frames.any()
    assert not next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0))).frames.any()
    runs = (lambda: generate(pipe, GenerateRequest(prompt="a red ball", seed=3, steps=1)),
            lambda: next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0))))
    for guardrail, says in ((stand_in_guardrail(unsafe=True), "found the prompt unsafe"),
                            (stand_in_guardrail(video=lambda frames: None), "blocked the video as unsafe")):
        guarded_by(guardrail)
        for run in runs:
            with pytest.raises(vidlong.VidlongError, match=rf"^Cosmos Guardrail {says}[^\n]*$"):
                run()


def test_a_folder_that_builds_the_guardrail_is_refused_without_it(folder, tmp_path, capsys, monkeypatch):
    """``enable_safety_checker`` true (its default) with cosmos_guardrail not installed: its pipeline would build NVIDIA's
    guardrail as it loads; refused in one line naming both fixes, as Cosmos-Predict2.5's folders are."""
    import json
    import shutil

    guarded = shutil.copytree(folder, tmp_path / "guarded")
    index = json.loads((guarded / "model_index.json").read_text())
    (guarded / "model_index.json").write_text(json.dumps(dict(index, enable_safety_checker=True)))
    line = check_refused_before_loading(["generate", "--model", str(guarded), "--prompt", "a red ball"], tmp_path / "g.mp4",
                                        capsys, monkeypatch)
    assert "pip install cosmos_guardrail" in line and "enable_safety_checker to false" in line
