"""AnyFlow (bidirectional) through its family adapter and pipeline: Wan2.1's self-attention over the video tokens of its
frames-first latents (UMT5 by cross-attention, kept stock), its complex RoPE, a flow map's two timesteps per frame.
Methods off = the stock model bit for bit; each method equal to a float64 reference (q/k/v and its RoPE written from its
math, attention from `reference`); the spec from configs/models; `generate` with no method = diffusers' `AnyFlowPipeline`
bit for bit; a stream's forwards take the step's timestep and target as its call's do; `vidlong generate` writes the mp4;
it streams and extends with the re-noised context; it refuses in one line what it does not run."""

import pytest
import torch
import yaml
from conftest import IN_CHANNELS, anyflow_inputs, tiny_anyflow_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_generate_is_the_stock_call,
                           check_methods_off_and_removed, check_release_refuses, check_renoised_stream_and_extension,
                           unrun_by_a_rebuilt_rope_family)
from reference import method_attention

import vidlong
from vidlong.attention.adapters.anyflow import ANYFLOW

NATIVE = 3  # latent frames
GRID = (2, 3)  # token rows, columns (latent 4x6, patch 2)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def cross_attention_stock(model):
    """Its blocks' text cross-attention keeps its own processor."""
    assert type(model.blocks[0].attn2.processor).__name__ == "AnyFlowCrossAttnProcessor"


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """vidlong's processor goes on its blocks' self-attentions (not their cross-attentions) and comes off."""
    check_methods_off_and_removed(tiny_anyflow_transformer, lambda model: model(**anyflow_inputs(4 * NATIVE))[0],
                                  ANYFLOW.self_attentions, "AnyFlowAttnProcessor", 1, NATIVE, applied=cross_attention_stock)


class ReferenceAttention:
    """The methods' float64 math on an AnyFlow video self-attention: q/k/v from its projections, q and k RMS-normed across
    all heads (``x / rms(x) · weight``), its RoPE as complex numbers (channel pair ``(x[2i], x[2i + 1])`` of each head times
    its token's ``e^{iθ}``, the transformer's tables), the output through ``to_out``."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, attention_mask=None, rotary_emb=None):
        def normed(x, norm):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.eps) * norm.weight

        def rotated(x, table):  # [B, N, H, D], table [1, 1, N, D / 2] complex
            pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())
            return torch.view_as_real(pairs * table[0, 0, :, None]).flatten(-2)

        def heads(x):
            return x.unflatten(2, (attn.heads, -1))

        q = rotated(heads(normed(attn.to_q(hidden_states), attn.norm_q)), rotary_emb["query"])
        k = rotated(heads(normed(attn.to_k(hidden_states), attn.norm_k)), rotary_emb["key"])
        out = method_attention(self.method, q, k, heads(attn.to_v(hidden_states)), self.frames, GRID, NATIVE)
        return attn.to_out[1](attn.to_out[0](out.flatten(2, 3)))


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch."""
    check_float64_reference(tiny_anyflow_transformer, lambda model, frames, dtype: model(**anyflow_inputs(frames, dtype=dtype))[0],
                            ANYFLOW.self_attentions, ReferenceAttention, method, NATIVE)


def test_native_length_size_and_sampling_come_from_configs():
    """21 latent frames (81 pixel frames) at 16 fps, 480x832, 4 steps at guidance 1 (its releases fold guidance into the
    weights) from configs/models; its VAE's (Wan's) 4x in time and 8x in space."""
    from tiny_pipeline import tiny_anyflow_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_anyflow_transformer()
    assert vidlong.apply(model, vidlong.UltraViCo()).native_frames == 21
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale) == \
        ("anyflow", 16, 480, 832, 4, 1.0)
    geometry = geometry_from_configs(tiny_anyflow_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))
    assert vidlong.models.pixel_frames(spec.native_frames, geometry.temporal) == 81


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A saved tiny AnyFlow pipeline folder (`tiny_anyflow_pipeline`) with a vidlong.yaml: native 3 latent frames, 32x48 at
    16 fps, 2 steps, guidance 1 (its call's default)."""
    from tiny_pipeline import tiny_anyflow_pipeline

    path = tmp_path_factory.mktemp("anyflow")
    tiny_anyflow_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-anyflow", native_frames=NATIVE, height=32, width=48,
                                                           fps=16, num_inference_steps=2, guidance_scale=1.0)))
    return path


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_generate_with_no_method_is_the_stock_pipeline_bit_for_bit(folder, pipe, guidance):
    """`load_pipeline` gives vidlong's class with the folder's geometry; `generate` at 2x with no method returns the frames
    diffusers' own `AnyFlowPipeline` makes from the same folder, noise and settings, at its default guidance (one forward a
    step) and with classifier-free guidance; its latents are the call's (its loop holds them frames first)."""
    from vidlong.generate import GenerateRequest, generate
    from vidlong.models import folder_geometry

    assert type(pipe).__name__ == "VidLongAnyFlowPipeline" and pipe.facts()["family"] == "anyflow"
    assert pipe.geometry() == folder_geometry(folder) and pipe.spec.temporal_ratio == 4
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, guidance=guidance))
    noise = torch.randn(1, IN_CHANNELS, 2 * NATIVE, 32 // 8, 48 // 8, generator=torch.Generator().manual_seed(3))
    check_generate_is_the_stock_call(folder, result, "AnyFlowPipeline", NATIVE, temporal=4, guidance_scale=guidance,
                                     latents=noise)


def test_a_stream_steps_its_flow_map_as_its_call_does(pipe):
    """Each forward of its call and of a stream's native-length first chunk takes the same timestep and target per frame
    (``t``, then ``r``: the next sigma of its shifted schedule, 0 at the last step), and the chunk's latents are the call's
    to 1e-5; the latents its loop hands a step's callback (frames first) are, through `loop_latents`, the call's output."""
    from vidlong.methods import Streaming

    seen = []
    handle = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append((kwargs["timestep"].tolist(), kwargs["r_timestep"].tolist())), with_kwargs=True)
    stepped = {}
    try:
        noise = torch.randn(1, IN_CHANNELS, NATIVE, 4, 6, generator=torch.Generator().manual_seed(0))
        own = pipe("a red ball", num_frames=4 * NATIVE - 3, latents=noise, output_type="latent",
                   callback_on_step_end=lambda p, i, t, kwargs: stepped.update(kwargs) or {}).frames
        called, seen[:] = list(seen), []
        first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=NATIVE), chunks=1, seed=0)))
    finally:
        handle.remove()
    sigmas = pipe.scheduler.sigmas  # the call's schedule, 2 steps shifted by 3
    assert called == [([[1000 * sigmas[i].item()] * NATIVE], [[1000 * sigmas[i + 1].item()] * NATIVE]) for i in range(2)]
    assert [(t, [[pytest.approx(x) for x in r[0]]]) for t, r in seen] == called and called[-1][1] == [[0.0] * NATIVE]
    assert (first.latents - own).abs().max() < 1e-5
    assert torch.equal(pipe.loop_latents(stepped["latents"], NATIVE, 4, 6), own)


def test_cli_generate_writes_the_mp4(folder, tmp_path):
    """`vidlong generate --ratio 2 --method both`: 2x the native latent frames, 4·(6 - 1) + 1 = 21 pixel frames at 16 fps,
    48x32, the methods in the sidecar."""
    check_cli_generate(folder, tmp_path, "both", NATIVE, temporal=4, fps=16)


def test_a_stream_starts_with_generates_video_continues_from_its_context_and_extends(folder, tmp_path):
    """A first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame
    bring 4 pixel frames each and depend on the re-noised context; `vidlong stream` and `vidlong extend` write them."""
    check_renoised_stream_and_extension(folder, tmp_path, NATIVE, temporal=4, fps=16)


#: what it refuses before loading: a rebuilt-RoPE family's list, its fifo refusal naming its flow map, and --image
REFUSED = [(command, "fifo (diagonal denoising) is not implemented for AnyFlowTransformer3DModel's flow-map sampler"
            if "fifo" in command else says) for command, says in unrun_by_a_rebuilt_rope_family("AnyFlowTransformer3DModel")]
REFUSED += [(["generate", "--image", "in.png"], "this model is text-to-video and takes no --image")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """RIFLEx and the -sinks methods move Wan's RoPE tables, which it has not (its RoPE is made at every forward as complex
    tables); fifo's queue does not give its flow map's target timesteps; its streams re-noise their context (no KV cache);
    it is text to video."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)
