"""Mochi 1 through its family adapter and pipeline: joint attention with the T5 text tokens after the video tokens, each
with its own projections and norms, padded text tokens dropped per sample by its stock processor. Methods off = the
stock model bit for bit; each method equal to a float64 reference (q/k/v written from Mochi's math, attention from
`reference`) with the text pairs untouched; the spec from configs/models (its VAE's 6x in time); `generate` with no
method = diffusers' `MochiPipeline` bit for bit; `vidlong generate` with each method writes the mp4; it streams and extends
with the re-noised context."""

import numpy as np
import pytest
import torch
import yaml
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_refused_before_loading,
                           check_renoised_stream_and_extension)
from conftest import mochi_inputs, tiny_mochi_transformer
from reference import rms_norm, text_last_method_attention

import vidlong
from vidlong.attention.adapters.mochi import MOCHI

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
TEXT = 5  # text tokens of `mochi_inputs`
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """Its processor is a plain attribute of `MochiAttention` (no ``set_processor``): vidlong's goes on and comes off; a
    neutral plan runs Mochi's own per-sample attention over the unpadded text (two prompts padded differently)."""
    check_methods_off_and_removed(tiny_mochi_transformer, lambda model: model(**mochi_inputs(4 * NATIVE))[0],
                                  MOCHI.self_attentions, "MochiAttnProcessor2_0", 2, NATIVE)


def rotated(x, cos, sin):
    """Mochi's RoPE in float64 as complex numbers: channel pair ``(x[2i], x[2i + 1])`` of ``[B, N, H, D]`` times
    ``cos θ + i·sin θ`` (its tables ``[N, H, D / 2]``)."""
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * torch.complex(cos.double(), sin.double())).flatten(-2)


class ReferenceAttention:
    """The methods' float64 math on a Mochi joint attention: q/k/v from its projections, per-head RMS norms and RoPE on
    the video tokens, the text after the video, its padded text keys seen by no query; the output through ``to_out``
    and, where the block has one, ``to_add_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, image_rotary_emb=None):
        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        video_q = rotated(rms_norm(heads(attn.to_q(hidden_states)), attn.norm_q), *image_rotary_emb)
        video_k = rotated(rms_norm(heads(attn.to_k(hidden_states)), attn.norm_k), *image_rotary_emb)
        text_q = rms_norm(heads(attn.add_q_proj(encoder_hidden_states)), attn.norm_added_q)
        text_k = rms_norm(heads(attn.add_k_proj(encoder_hidden_states)), attn.norm_added_k)
        q, k = torch.cat([video_q, text_q], 1), torch.cat([video_k, text_k], 1)
        v = torch.cat([heads(attn.to_v(hidden_states)), heads(attn.add_v_proj(encoder_hidden_states))], 1)
        tokens = hidden_states.shape[1]
        visible = torch.cat([torch.ones(attention_mask.shape[0], tokens, dtype=torch.bool), attention_mask], dim=1)
        out = text_last_method_attention(self.method, q, k, v, TEXT, self.frames, GRID, NATIVE, visible).flatten(2, 3)
        text = out[:, tokens:]
        return attn.to_out[0](out[:, :tokens]), attn.to_add_out(text) if hasattr(attn, "to_add_out") else text


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch."""
    check_float64_reference(tiny_mochi_transformer, lambda model, frames, dtype: model(**mochi_inputs(frames, dtype=dtype))[0],
                            MOCHI.self_attentions, ReferenceAttention, method, NATIVE)


def test_native_length_size_and_vae_ratio_come_from_configs():
    """28 latent frames at 30 fps, 480x848, from configs/models; 6 pixel frames per latent frame from its VAE's
    ``temporal_expansions`` (163 frames), 8x from its ``spatial_expansions``."""
    from tiny_pipeline import tiny_mochi_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_mochi_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 28
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps) == ("mochi", 30, 480, 848, 64)
    geometry = geometry_from_configs(tiny_mochi_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (12, 8, 6, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 163
    # a VAE config that names its temporal factor in no spelling vidlong reads is refused, not given Wan's 4 (Mochi's,
    # before its spelling was read, silently made 4k+1 frames)
    unread = {k: v for k, v in tiny_mochi_pipeline().vae.config.items() if k != "temporal_expansions"}
    with pytest.raises(vidlong.VidlongError, match=r"^the VAE \(its config\) names no temporal compression vidlong reads"):
        geometry_from_configs(unread, model.config)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny Mochi pipeline folder with a vidlong.yaml: native 3 latent frames, 32x48 at 30 fps, 2 steps, guidance 2."""
    from tiny_pipeline import tiny_mochi_pipeline

    path = tmp_path_factory.mktemp("mochi")
    tiny_mochi_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-mochi", native_frames=NATIVE, height=32, width=48, fps=30,
                                                           num_inference_steps=2, guidance_scale=2.0)))
    return path


def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder):
    """`load_pipeline` gives vidlong's class with the folder's geometry; `generate` at 2x with no method returns the
    frames diffusers' own `MochiPipeline` makes from the same folder, noise and settings."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    pipe = vidlong.load_pipeline(folder, device="cpu")
    assert type(pipe).__name__ == "VidLongMochiPipeline" and pipe.facts()["family"] == "mochi"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 6
    pipe.set_progress_bar_config(disable=True)
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3))

    noise = torch.randn(1, 12, 2 * NATIVE, 32 // 8, 48 // 8, generator=torch.Generator().manual_seed(3))
    check_generate_is_the_stock_call(folder, result, "MochiPipeline", NATIVE, temporal=6, guidance_scale=2.0, latents=noise)


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generate_writes_the_mp4(folder, tmp_path, method):
    """`vidlong generate --ratio 2`: 2x the native latent frames, 6·(6 - 1) + 1 = 31 pixel frames at 30 fps, 48x32, the
    method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, temporal=6, fps=30)


def test_the_renoised_context_follows_its_samplers_upward_timesteps(folder):
    """Its sampler's timesteps count up (``invert_sigmas``): the first step's timestep is noise level 1 (the context
    re-noised is the noise itself), timestep 1000 the clean latents."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    scheduler = pipe.stream_scheduler(4, (1, 12, 2, 4, 6))
    assert scheduler.timesteps[0] < scheduler.timesteps[-1]
    clean, noise = torch.randn(1, 12, 2, 4, 6), torch.randn(1, 12, 2, 4, 6)
    assert torch.allclose(pipe.stream_renoise(clean, noise, scheduler.timesteps[0]), noise)
    assert torch.allclose(pipe.stream_renoise(clean, noise, 1000.0), clean)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame
    bring 6 pixel frames each and depend on the re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=6, fps=30)


@pytest.mark.parametrize("method, says", [("riflex", "RIFLEx is not implemented for MochiTransformer3DModel"),
                                          ("window-sinks", "windows with sinks"), ("fifo", "needs a timestep per token")])
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, method, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which Mochi has not; fifo needs a timestep per token."""
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--ratio", "2", "--method", method]
    assert says in check_refused_before_loading(args, tmp_path / "g.mp4", capsys, monkeypatch)


@pytest.mark.parametrize("command", ["generate", "stream", "extend", "eval"])
def test_one_step_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command):
    """Its call's linear-quadratic sigmas split the steps in two halves, so one step divides by zero in diffusers
    (`linear_quadratic_schedule`): ``--steps 1`` was a ZeroDivisionError after the model loaded (exit 1); now a one-line
    refusal naming the fewest steps, and `pipe(...)` refuses ``num_inference_steps=1`` too."""
    import vidlong.pipeline
    from vidlong.cli import main
    from vidlong.video_io import write_video

    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    given = {"generate": ["--prompt", "a red ball"], "stream": ["--prompt", "a red ball", "--chunks", "1"],
             "extend": ["--video", str(tmp_path / "in.mp4"), "--prompt", "a red ball", "--chunks", "1"],
             "eval": ["--methods", "direct", "--ratios", "1", "--seeds", "1"]}[command]
    write_video(tmp_path / "in.mp4", np.zeros((7, 32, 48, 3), np.uint8), fps=30)
    assert main([command, "--model", str(folder), *given, "--steps", "1", "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--steps must be a whole number from 2 to 1000" in err[0] and "mochi" in err[0], err
    monkeypatch.undo()
    with pytest.raises(vidlong.VidlongError, match="^num_inference_steps must be a whole number from 2 to 1000"):
        vidlong.load_pipeline(folder, device="cpu")("a red ball", num_inference_steps=1)
