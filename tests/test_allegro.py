"""Allegro through its family adapter and pipeline: self-attention over the video tokens alone (T5 by cross-attention),
its 3D RoPE from the pipeline with every forward. Methods off = the stock model bit for bit; each method equal to a
float64 reference (q/k/v and its RoPE written from its math, attention from `reference`); the spec from configs/models;
`generate` with no method = diffusers' `AllegroPipeline` with the same seed, bit for bit, where its VAE's tiles cover the
video whole, and every pixel decoded where they do not; `vidlong generate` with each method writes the mp4; it streams
and extends with the re-noised context, brought to each step's level by its ancestral Euler sampler; it refuses in one
line what it does not run; it takes its call's own lengths (4k, 4k+1 and 4k+2 frames: its default 88 too), and
refuses before loading, naming the nearest, the 4k+3 its call makes from one latent frame more than they need."""

import pytest
import torch
import yaml
from conftest import IN_CHANNELS, allegro_inputs, tiny_allegro_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_release_refuses, check_renoised_stream_and_extension,
                           unrun_by_a_rebuilt_rope_family)
from reference import method_attention

import vidlong
from vidlong.attention.adapters.allegro import ALLEGRO

NATIVE = 3  # latent frames; 2x = 6, one whole tile of its VAE in time
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def cross_attention_stock(model):
    """Its blocks' text cross-attention keeps its own processor."""
    assert type(model.transformer_blocks[0].attn2.processor).__name__ == "AllegroAttnProcessor2_0"


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on its blocks' self-attentions (not their cross-attentions) and comes off."""
    check_methods_off_and_removed(tiny_allegro_transformer, lambda model: model(**allegro_inputs(4 * NATIVE))[0],
                                  ALLEGRO.self_attentions, "AllegroAttnProcessor2_0", 2, NATIVE, applied=cross_attention_stock)


def rotated(x, rotary):
    """Its RoPE in float64: each third of a head's channels of ``[B, H, N, D]`` (time, rows, columns) turned by its
    token's angle on that axis, the halves of each third paired (``x·cos + (-x₂, x₁)·sin``, its tables by position)."""
    thirds = []
    for part, (cos, sin), positions in zip(x.chunk(3, dim=-1), rotary[0], rotary[1]):
        cos, sin = cos.double()[positions[0]], sin.double()[positions[0]]
        first, second = part.chunk(2, dim=-1)
        thirds.append(part * cos + torch.cat([-second, first], dim=-1) * sin)
    return torch.cat(thirds, dim=-1)


class ReferenceAttention:
    """The methods' float64 math on an Allegro video self-attention: q/k/v from its projections, its RoPE on q and k,
    the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q = rotated(heads(attn.to_q(hidden_states)).transpose(1, 2), image_rotary_emb).transpose(1, 2)
        k = rotated(heads(attn.to_k(hidden_states)).transpose(1, 2), image_rotary_emb).transpose(1, 2)
        out = method_attention(self.method, q, k, heads(attn.to_v(hidden_states)), self.frames, GRID, NATIVE)
        return attn.to_out[1](attn.to_out[0](out.flatten(2, 3)))


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch."""
    check_float64_reference(tiny_allegro_transformer, lambda model, frames, dtype: model(**allegro_inputs(frames, dtype=dtype))[0],
                            ALLEGRO.self_attentions, ReferenceAttention, method, NATIVE)


def test_native_length_size_and_vae_ratio_come_from_configs():
    """22 latent frames (its call's 88 pixel frames; 85 in vidlong's 4k+1 count of a ratio) at 15 fps, 720x1280, 100 steps at 7.5
    from configs/models; its VAE's 4x in time from its ``temporal_compression_ratio``, 8x in space from its levels."""
    from tiny_pipeline import tiny_allegro_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_allegro_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 22
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("allegro", 15, 720, 1280, 100, 7.5)
    geometry = geometry_from_configs(tiny_allegro_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 85


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny Allegro pipeline folder (`tiny_allegro_pipeline`) with a vidlong.yaml: native 3 latent frames, 32x32
    (one VAE tile in space) at 15 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_allegro_pipeline

    path = tmp_path_factory.mktemp("allegro")
    tiny_allegro_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-allegro", native_frames=NATIVE, height=32, width=32,
                                                           fps=15, num_inference_steps=2, guidance_scale=2.0)))
    return path


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder, pipe):
    """`load_pipeline` gives vidlong's class with the folder's geometry and its VAE tiled; `generate` at 2x (6 latent
    frames, one whole tile) with no method returns the frames diffusers' own `AllegroPipeline` makes from the same
    folder, seed (its ancestral sampler's draws too) and settings."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    assert type(pipe).__name__ == "VidLongAllegroPipeline" and pipe.facts()["family"] == "allegro"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 4 and pipe.vae.use_tiling
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    check_generate_is_the_stock_call(folder, result, "AllegroPipeline", NATIVE, temporal=4, tiled_vae=True,
                                     guidance_scale=2.0, generator=torch.Generator().manual_seed(3))


def test_its_calls_own_4k_frames_are_diffusers_bit_for_bit(folder, pipe):
    """Its call's own count (its default 88 = 4·22): `generate` with ``frames=88`` and no method makes 22 latent frames
    (on its VAE's tiles in time: 6 + 4·4) and returns diffusers' 88 frames from the same seed, bit for bit."""
    from vidlong.generate import GenerateRequest, generate

    result = generate(pipe, GenerateRequest(prompt="a red ball", frames=88, seed=3))
    check_generate_is_the_stock_call(folder, result, "AllegroPipeline", NATIVE, temporal=4, tiled_vae=True, pixel_frames=88,
                                     guidance_scale=2.0, generator=torch.Generator().manual_seed(3))


def test_lengths_its_call_makes_from_more_latent_frames_than_they_need_are_refused(pipe):
    """4k, 4k+1 and 4k+2 frames are its fewest latent frames' (86 and 88: 22, as 85); 4k+3 its call makes from one more
    (87: 23, the last dropped whole), refused at the call before any step, naming the nearest."""
    from vidlong.models import latent_frames
    from vidlong.validate import frame_counts, limits_for_pipeline

    counts = frame_counts(limits_for_pipeline(pipe))
    assert [latent_frames(frames, 4, counts=counts) for frames in (1, 2, 4, 5, 85, 86, 88)] == [1, 1, 1, 2, 22, 22, 22]
    with pytest.raises(vidlong.VidlongError, match=r"^87 frames are not a length this model's call makes from the fewest "
                                                   r"latent frames that hold them \(needs 4k, 4k\+1 or 4k\+2\); use "
                                                   r"num_frames 86 or num_frames 88$"):
        pipe("a red ball", num_frames=87, callback_on_step_end=lambda *a: pytest.fail("a step ran"))


def test_every_pixel_is_decoded_where_its_tiles_do_not_cover_the_video(pipe):
    """diffusers' decode leaves at zero what its VAE's tiles do not reach: of 8 latent frames it decodes one tile in time (6
    latent = 24 pixel frames), the last 8 pixel frames zero; a VAE of 96-pixel tiles (80 columns shared) decodes one tile
    of 104 columns, the last 8 zero. vidlong's pads the latents with their last frame or column to whole tiles (10 latent
    frames, 112 columns): the pixels before the tiles' overlap are diffusers' bit for bit, those past them decoded."""
    from diffusers import AllegroPipeline, AutoencoderKLAllegro

    from vidlong.families.allegro import VidLongAllegroPipeline

    torch.manual_seed(0)
    wide = AutoencoderKLAllegro(latent_channels=IN_CHANNELS, block_out_channels=(2,) * 4, layers_per_block=0, norm_num_groups=1,
                                sample_size=96)
    wide.enable_tiling()
    gen = torch.Generator().manual_seed(0)

    def decoded(vae, latents):
        parts = dict(pipe.components, vae=vae)
        with torch.no_grad():
            return AllegroPipeline(**parts).decode_latents(latents), VidLongAllegroPipeline(**parts).decode_latents(latents)

    theirs, ours = decoded(pipe.vae, torch.randn(1, IN_CHANNELS, 8, 4, 4, generator=gen))
    assert theirs.shape == ours.shape == (1, 3, 32, 32, 32) and theirs[:, :, 24:].eq(0).all()
    assert torch.equal(ours[:, :, :16], theirs[:, :, :16]) and ours[:, :, 24:].abs().amax(dim=(0, 1, 3, 4)).gt(0).all()
    theirs, ours = decoded(wide.eval(), torch.randn(1, IN_CHANNELS, 6, 12, 13, generator=gen))
    assert theirs.shape == ours.shape == (1, 3, 24, 96, 104) and theirs[..., 96:].eq(0).all()
    assert torch.equal(ours[..., :16], theirs[..., :16]) and ours[..., 96:].abs().amax(dim=(0, 1, 2, 3)).gt(0).all()


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 15 fps, 32x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=4, fps=15)


def test_its_sampler_renoises_the_context_to_each_steps_level(pipe):
    """A stream's chunk sampler is its call's: the start noise times ``init_noise_sigma``; clean latents brought to step
    i's level are ``x_0 + σ_i·ε`` (its ancestral Euler sampler's sample space), which its forward sees scaled by
    ``1 / sqrt(σ_i² + 1)``: DDPM's ``sqrt(ᾱ)·x_0 + sqrt(1 - ᾱ)·ε``."""
    sampler = pipe.stream_scheduler(2, (2, IN_CHANNELS, 2, 4, 4))  # timesteps 999 and 0
    scheduler = sampler.scheduler
    assert type(scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    clean, noise = torch.randn(1, IN_CHANNELS, 2, 4, 4), torch.randn(1, IN_CHANNELS, 2, 4, 4)
    assert torch.equal(sampler.start(noise), noise * scheduler.init_noise_sigma)
    for step, t in enumerate(sampler.timesteps):
        sigma = scheduler.sigmas[step]
        renoised = sampler.renoise(clean, noise, t)
        assert torch.allclose(renoised, clean + sigma * noise)
        alpha = scheduler.alphas_cumprod[int(t)]
        assert torch.allclose(sampler.model_input(renoised, t), alpha.sqrt() * clean + (1 - alpha).sqrt() * noise, atol=1e-5)
        sampler.step(torch.zeros_like(clean), t, renoised)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame
    bring 4 pixel frames each and depend on the re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=15)


def test_an_untiled_vae_is_refused_in_one_line(folder):
    """Its VAE decodes and encodes by tiles alone: a pipeline handed over without ``vae.enable_tiling()`` is refused at its
    call and its stream before any step (diffusers' call fails after the last)."""
    from diffusers import AllegroPipeline

    held = vidlong.from_pipe(AllegroPipeline.from_pretrained(folder, local_files_only=True))
    for call in (lambda: held("a red ball"), lambda: next(iter(held.stream("a red ball", chunks=1)))):
        with pytest.raises(vidlong.VidlongError, match=r"^Allegro's VAE decodes and encodes by tiles alone: call "
                                                       r"pipe\.vae\.enable_tiling\(\) first[^\n]*$"):
            call()


@pytest.mark.parametrize("command, says", unrun_by_a_rebuilt_rope_family("AllegroTransformer3DModel") + [
    (["generate", "--image", "in.png"], "this model is text-to-video and takes no --image"),
    (["generate", "--frames", "87"], "87 frames are not a length this model's call makes from the fewest latent frames that "
                                     "hold them (needs 4k, 4k+1 or 4k+2); use --frames 86 or --frames 88")])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not (its RoPE comes from the pipeline with every
    forward); fifo needs a timestep per token; its streams re-noise their context (no KV cache); it is text to video; 87
    frames take its call a latent frame more than they need."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)
