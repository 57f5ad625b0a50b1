"""Latte through its family adapter and pipeline: vidlong's methods on its temporal blocks' self-attention alone (one token
a frame, each patch's frames one sequence), its spatial blocks stock. Methods off = the stock model bit for bit at its
native length; each method equal to a float64 reference (q/k/v from its projections, attention from `reference`) at 4x
its temporal table's rows, the table evaluated at the new positions by its sin-cos formula (vidlong's choice, checked
against the formula written out here); the spec from configs/models (an image VAE: no temporal compression); `generate`
with no method = diffusers' `LattePipeline` with the same seed bit for bit at its native length, and past it = that call
with the extended table; `vidlong generate` with each method writes the mp4; it streams and extends with the re-noised
context through its DDIM sampler; it refuses in one line before loading what it does not run."""
import math

import pytest
import torch
import yaml
from conftest import IN_CHANNELS, LATTE_FRAMES, latte_inputs, tiny_latte_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_release_refuses, check_renoised_stream_and_extension,
                           unrun_by_a_rebuilt_rope_family)
from reference import method_attention

import vidlong
from vidlong.attention.adapters.latte import LATTE
from vidlong.families.latte import sincos_positions, sincos_table

NATIVE = LATTE_FRAMES  # latent frames = pixel frames: its temporal table's rows
GRID = (1, 1)  # a temporal block's sequence: one token a frame


def spatial_attention_stock(model):
    """Its spatial blocks' self- and cross-attentions keep their own processors."""
    block = model.transformer_blocks[0]
    assert [type(block.attn1.processor).__name__, type(block.attn2.processor).__name__] == ["AttnProcessor2_0"] * 2


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """At its native length: vidlong's processor goes on its temporal blocks' self-attentions (not the spatial blocks') and
    comes off; neutral settings are the stock model bit for bit, UltraViCo and FreeLong++ change it."""
    check_methods_off_and_removed(tiny_latte_transformer, lambda model: model(**latte_inputs(NATIVE))[0],
                                  LATTE.self_attentions, "AttnProcessor2_0", 2, NATIVE, applied=spatial_attention_stock)


class ReferenceAttention:
    """The methods' float64 math on a Latte temporal self-attention ``[B·P, F, C]``: q/k/v from its projections (no RoPE),
    the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q, k, v = (heads(proj(hidden_states)) for proj in (attn.to_q, attn.to_k, attn.to_v))
        out = method_attention(self.method, q, k, v, self.frames, GRID, NATIVE)
        return attn.to_out[1](attn.to_out[0](out.flatten(2, 3)))


def placed_run(model, frames, dtype):
    """`model`'s output for `frames` latent frames with the temporal table of that length placed."""
    with sincos_positions(model):
        return model(**latte_inputs(frames, dtype=dtype))[0]


@pytest.mark.parametrize("method", [vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion(windows=(1,))],
                         ids=["ultravico", "fusion"])
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the table's rows, in float32 on the CPU's dense kernel, both samples of a guided batch."""
    check_float64_reference(tiny_latte_transformer, placed_run, LATTE.self_attentions, ReferenceAttention, method, NATIVE)


def test_the_temporal_table_past_its_rows_is_its_sincos_formula():
    """Its stock table at its own length, untouched; at 4x its rows the first rows are the stock table's bit for bit and every
    row is ``[sin(p·ω_i), cos(p·ω_i)]`` with ``ω_i = 10000^(-i / (C / 2))`` (the formula written out in float64); the context
    places it for a longer forward and puts the stock buffer back; without it the stock model fails past its rows."""
    model = tiny_latte_transformer()
    stock = model.temp_pos_embed
    assert sincos_table(stock, NATIVE) is stock
    table = sincos_table(stock, 4 * NATIVE)
    assert table.shape == (1, 4 * NATIVE, stock.shape[2]) and torch.equal(table[:, :NATIVE], stock)
    half = stock.shape[2] // 2
    angles = torch.arange(4 * NATIVE, dtype=torch.float64)[:, None] * 10000.0 ** (-torch.arange(half) / half)
    assert torch.allclose(table[0].double(), torch.cat([angles.sin(), angles.cos()], dim=1), atol=1e-6)
    with torch.no_grad(), pytest.raises(RuntimeError):
        model(**latte_inputs(2 * NATIVE))
    with torch.no_grad():
        assert placed_run(model, 2 * NATIVE, torch.float32).shape == (2, 2 * IN_CHANNELS, 2 * NATIVE, 4, 6)
    assert model.temp_pos_embed is stock


def test_the_table_past_its_rows_goes_on_the_latents_device_and_the_stock_buffer_comes_back():
    """Group offloading holds the stock buffer off the forward's device between forwards (here on the meta device): the table
    placed past its rows is on the latents' device, the output the one with the buffer at hand; after the context, on an
    error too, the model holds its own buffer again and no hook."""
    model = tiny_latte_transformer()
    with torch.no_grad():
        expected = placed_run(model, 2 * NATIVE, torch.float32)
        model.temp_pos_embed = offloaded = model.temp_pos_embed.to("meta")
        assert torch.equal(placed_run(model, 2 * NATIVE, torch.float32), expected)
        with pytest.raises(KeyboardInterrupt), sincos_positions(model):
            model(**latte_inputs(2 * NATIVE))
            raise KeyboardInterrupt
    assert model.temp_pos_embed is offloaded and not model._forward_pre_hooks


def test_native_length_size_and_vae_ratio_come_from_configs():
    """16 frames (its call's video_length) at 10 fps, 512x512, 50 steps at 7.5 from configs/models; its image VAE (every down
    block 2D) compresses no time, 8x in space from its levels."""
    from tiny_pipeline import tiny_latte_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_latte_transformer()
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("latte", 16, 10, 512, 512, 50, 7.5)
    geometry = geometry_from_configs(tiny_latte_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 1, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny Latte pipeline folder (`tiny_latte_pipeline`) with a vidlong.yaml: native 4 frames (its table's rows),
    32x32 at 10 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_latte_pipeline

    path = tmp_path_factory.mktemp("latte")
    tiny_latte_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-latte", native_frames=NATIVE, height=32, width=32,
                                                           fps=10, num_inference_steps=2, guidance_scale=2.0)))
    return path


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder, pipe):
    """`load_pipeline` gives vidlong's class; `generate` at its native length with no method returns the frames diffusers'
    own `LattePipeline` makes from the same folder, seed and settings (its length as its call's video_length)."""
    from vidlong.generate import GenerateRequest, generate

    assert type(pipe).__name__ == "VidLongLattePipeline" and pipe.facts()["family"] == "latte" and pipe.spec.temporal_ratio == 1
    result = generate(pipe, GenerateRequest(prompt="a red ball", frames=NATIVE, seed=3))
    check_generate_is_the_stock_call(folder, result, "LattePipeline", NATIVE, temporal=1, pixel_frames=NATIVE,
                                     frames_argument="video_length", guidance_scale=2.0,
                                     generator=torch.Generator().manual_seed(3))


def test_generate_past_its_table_is_the_stock_call_with_the_table_placed(folder, pipe, monkeypatch):
    """At 2x with no method, `generate` is diffusers' call from the same seed with the temporal table of 8 frames placed
    (`sincos_positions` around it), bit for bit; diffusers' call alone fails there."""
    import diffusers

    from vidlong.generate import GenerateRequest, generate

    class Placed(diffusers.LattePipeline):
        def __call__(self, *args, **kwargs):
            with sincos_positions(self.transformer):
                return super().__call__(*args, **kwargs)

    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))
    stock = diffusers.LattePipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    with pytest.raises(RuntimeError, match="must match"):
        stock("a red ball", video_length=2 * NATIVE, num_inference_steps=1, height=32, width=32, output_type="latent")
    monkeypatch.setattr(diffusers, "LattePipeline", Placed)
    check_generate_is_the_stock_call(folder, result, "LattePipeline", NATIVE, temporal=1, frames_argument="video_length",
                                     guidance_scale=2.0, generator=torch.Generator().manual_seed(3))


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 8 frames (its VAE compresses no time) at 10 fps, 32x32, the method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=1, fps=10)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 frame depend on the
    re-noised context (brought to each step's level by its DDIM sampler's add_noise); `vidlong stream` and `vidlong extend`
    write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=1, fps=10)


def test_a_chunks_frames_are_its_latents_decoded_alone(pipe):
    """Its stream decoder decodes each latent frame alone (an image VAE): a chunk's pixels are its call's decode of the same
    latents, and a stream's encode of them gives back the VAE's mode frame by frame."""
    latents = torch.randn(1, IN_CHANNELS, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    pixels = pipe.stream_decoder().decode(latents)
    with torch.no_grad():
        own = pipe.decode_latents(latents, 3)
        assert pixels.shape == (1, 3, 3, 32, 32) and torch.equal(pixels, own.clamp(-1, 1))
        encoded = pipe.stream_encode(pixels)
        alone = [pipe.vae.encode(pixels[:, :, i]).latent_dist.mode() * pipe.vae.config.scaling_factor for i in range(3)]
    assert encoded.shape == latents.shape and torch.allclose(encoded, torch.stack(alone, dim=2), atol=1e-6)
    assert math.isclose(pipe.vae.config.scaling_factor, 0.18215)


@pytest.mark.parametrize("command, says", unrun_by_a_rebuilt_rope_family("LatteTransformer3DModel") + [
    (["generate", "--image", "in.png"], "this model is text-to-video and takes no --image")])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not (a sin-cos table added once); fifo needs a
    timestep per token; its streams re-noise their context (no KV cache); it is text to video."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)
