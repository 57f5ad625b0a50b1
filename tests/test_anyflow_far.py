"""AnyFlow FAR (block-causal, chunk by chunk through its own KV cache) through its family adapter and pipeline: the spec from
configs/models; vidlong's lengths become its call's chunk partition; `generate` and its call = diffusers'
`AnyFlowFARPipeline` bit for bit; a stream's chunks are its call's chunks bit for bit while nothing has left its bounded
context, and its cache and forwards stay the same size past that; its flex attention is compiled where `compiled_flex`
compiles it (CUDA) and diffusers' backend is given its module back after; `vidlong stream` and `vidlong extend` write their
mp4s; the methods and what its streams do not take are refused in one line before loading."""

import pytest
import torch
import yaml
from conftest import IN_CHANNELS, tiny_anyflow_far_transformer
from family_checks import check_cli_extension, check_generate_is_the_stock_call, check_release_refuses

import vidlong
from vidlong.errors import VidlongError
from vidlong.families.anyflow_far import chunk_partition
from vidlong.methods import Streaming

NATIVE = 7  # latent frames: its tiny config's chunks (1, 2, 2, 2)
RELEASE = (1, 3, 3, 3, 3, 3, 3, 2)  # the releases' chunk_partition (diffusers' config default)


def test_native_length_size_and_sampling_come_from_configs():
    """21 latent frames (81 pixel frames) at 16 fps, 480x832, 4 steps at guidance 1, a stream's first chunk of 1 latent
    frame, from configs/models; its VAE's (Wan's) 4x in time and 8x in space."""
    from tiny_pipeline import tiny_anyflow_far_pipeline

    from vidlong.models import family_of, geometry_from_configs, model_facts, spec_for_facts

    model = tiny_anyflow_far_transformer()
    spec = spec_for_facts(model_facts(model.config, family=family_of(model)))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width, spec.num_inference_steps, spec.guidance_scale,
            spec.stream_first_chunk) == ("anyflow-far", 21, 16, 480, 832, 4, 1.0, 1)
    geometry = geometry_from_configs(tiny_anyflow_far_pipeline().vae.config, model.config)
    assert (geometry.channels, geometry.spatial, geometry.temporal, geometry.patch) == (IN_CHANNELS, 8, 4, (1, 2, 2))


def test_lengths_become_its_chunk_partition():
    """Its config's partition where it sums to the frames (the releases' 21), else its first chunk, chunks of its second
    entry's size and the rest last."""
    assert chunk_partition(21, RELEASE) == list(RELEASE)
    assert chunk_partition(41, RELEASE) == [1] + [3] * 13 + [1] and chunk_partition(19, RELEASE) == [1] + [3] * 6
    assert chunk_partition(14, (1, 2, 2, 2)) == [1] + [2] * 6 + [1] and chunk_partition(1, RELEASE) == [1]


def test_methods_are_refused_in_one_line():
    """UltraViCo and FreeLong++ do not act on its block-causal attention over a compressed cache: `vidlong.apply` refuses
    them naming why."""
    for method in (vidlong.UltraViCo(), vidlong.SpectralFusion()):
        with pytest.raises(VidlongError, match="block-causal .* compressed patches"):
            vidlong.apply(tiny_anyflow_far_transformer(), method)


def saved_folder(path):
    """A tiny AnyFlow FAR pipeline (`tiny_anyflow_far_pipeline`) saved in `path` with a vidlong.yaml: native 7 latent frames
    (its chunks 1, 2, 2, 2), 32x32 at 16 fps, 2 steps, guidance 1, a stream's first chunk of 1."""
    from tiny_pipeline import tiny_anyflow_far_pipeline

    tiny_anyflow_far_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-anyflow-far", native_frames=NATIVE, height=32, width=32,
                                                           fps=16, num_inference_steps=2, guidance_scale=1.0,
                                                           stream_first_chunk=1)))
    return path


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The folder (`saved_folder`)."""
    return saved_folder(tmp_path_factory.mktemp("anyflow-far"))


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_generate_and_its_call_are_the_stock_pipeline_bit_for_bit(folder, pipe, guidance):
    """`load_pipeline` gives vidlong's class; `generate` at 2x (14 latent frames, which its config's chunks do not sum to)
    returns the frames diffusers' own `AnyFlowFARPipeline` makes from the same folder and noise with the chunks
    `chunk_partition` gives, at guidance 1 and with classifier-free guidance; its call with no chunks given = diffusers'
    with its config's; a partition that does not sum to the frames is refused in one line."""
    from vidlong.generate import GenerateRequest, generate

    assert type(pipe).__name__ == "VidLongAnyFlowFARPipeline" and pipe.facts()["family"] == "anyflow-far"
    result = generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, seed=3, guidance=guidance))
    noise = torch.randn(1, IN_CHANNELS, 2 * NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
    check_generate_is_the_stock_call(folder, result, "AnyFlowFARPipeline", NATIVE, temporal=4, guidance_scale=guidance,
                                     latents=noise, chunk_partition=[1] + [2] * 6 + [1])
    own = pipe("a red ball", latents=noise[:, :, :NATIVE], output_type="latent", guidance_scale=guidance).frames
    stock = diffusers_pipeline(folder)("a red ball", height=32, width=32, num_frames=25, num_inference_steps=2,
                                       latents=noise[:, :, :NATIVE], output_type="latent", guidance_scale=guidance).frames
    assert torch.equal(own, stock)
    with pytest.raises(VidlongError, match="chunk_partition must .* sum to the call's 7 latent frames"):
        pipe("a red ball", chunk_partition=[1, 2, 2], output_type="latent")


def diffusers_pipeline(folder):
    from diffusers import AnyFlowFARPipeline

    stock = AnyFlowFARPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    return stock


def stream_noise(seed: int, chunks) -> torch.Tensor:
    """The noise a stream of `seed` draws, chunk after chunk (`chunks`: their latent frames), joined ``[1, C, F, 4, 4]``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randn(1, IN_CHANNELS, n, 4, 4, generator=generator) for n in chunks], dim=2)


@pytest.mark.parametrize("guidance", [1.0, 2.0])
def test_a_streams_chunks_are_its_calls_and_its_cache_stays_flat(folder, pipe, guidance):
    """Chunks of 2 after a first of 1 (its own chunks), a context of its first chunk and the 2 latest (the native 7 frames):
    the first 4 chunks, which see every chunk before them, are its call's chunks from the same noise bit for bit; past them
    every chunk's forwards see 4 chunks (7 frames, positions 0-6) and the cache is the one allocated at the first chunk;
    the sixth chunk, whose context left out chunk 1, differs from the call's over all 6."""
    stream = pipe.stream("a red ball", Streaming(chunk=2), chunks=6, seed=0, guidance=guidance)
    chunks = [chunk.latents for chunk in stream]
    assert [c.shape[2] for c in chunks] == [1, 2, 2, 2, 2, 2] and stream.settings()["sinks"] == 1
    assert [p for p, _ in stream.footprints] == [(1,), (1, 2), (1, 2, 2), (1, 2, 2, 2), (1, 2, 2, 2), (1, 2, 2, 2)]
    assert len({size for _, size in stream.footprints}) == 1 and stream.kv is None  # freed at the end
    stock = diffusers_pipeline(folder)
    noise = stream_noise(0, [1, 2, 2, 2, 2, 2])
    whole = stock("a red ball", height=32, width=32, num_frames=41, num_inference_steps=2, latents=noise, output_type="latent",
                  guidance_scale=guidance, chunk_partition=[1, 2, 2, 2, 2, 2]).frames
    assert torch.equal(torch.cat(chunks[:4], dim=2), whole[:, :, :NATIVE])
    assert not torch.equal(chunks[5], whole[:, :, -2:])


def test_its_flex_attention_is_compiled_where_asked_and_put_back(pipe, monkeypatch):
    """Not on the CPU by default; with the CPU in `DEVICE_TYPES`, every flex attention of a 2-chunk stream and of its call
    goes through the compiled function (here an uncompiled spy, so the output stays bit for bit) and diffusers' backend
    reads torch's own module again after each, and after a call refused midway."""
    from diffusers.models import attention_dispatch
    from torch.nn.attention import flex_attention as flex_module

    from vidlong import compiled_flex

    patched = []

    def spy(*args, **kwargs):
        patched.append(attention_dispatch.flex_attention is not flex_module)
        return flex_module.flex_attention(*args, **kwargs)

    def run():
        chunks = [chunk.latents for chunk in pipe.stream("a red ball", Streaming(chunk=2), chunks=2, seed=0)]
        assert attention_dispatch.flex_attention is flex_module
        noise = torch.randn(1, IN_CHANNELS, NATIVE, 4, 4, generator=torch.Generator().manual_seed(3))
        call = pipe("a red ball", latents=noise, output_type="latent").frames
        assert attention_dispatch.flex_attention is flex_module
        return chunks + [call]

    monkeypatch.setattr(compiled_flex, "flex_compiled", lambda: spy)
    plain = run()
    assert not patched
    monkeypatch.setattr(compiled_flex, "DEVICE_TYPES", {"cpu"})
    spied = run()
    assert len(patched) > 4 and all(patched) and all(torch.equal(a, b) for a, b in zip(plain, spied))
    with pytest.raises(VidlongError, match="chunk_partition must"):
        pipe("a red ball", chunk_partition=[1, 2, 2], output_type="latent")
    assert attention_dispatch.flex_attention is flex_module


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_its_compiled_flex_attention_is_its_eager_one_on_cuda(folder):
    """On CUDA in float32 (compiled by default there): a 6-chunk stream (the window filled, then full) and its call agree
    with the same runs through torch's eager flex attention to float rounding; a second stream compiles nothing new."""
    from torch._dynamo.utils import counters

    from reference import rel_err
    from vidlong import compiled_flex

    pipe = vidlong.load_pipeline(folder, device="cuda", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    noise = torch.randn(1, IN_CHANNELS, 11, 4, 4, generator=torch.Generator().manual_seed(3))

    def run():
        stream = pipe.stream("a red ball", Streaming(chunk=2), chunks=6, seed=0, guidance=2.0)
        chunks = torch.cat([chunk.latents for chunk in stream], dim=2)
        call = pipe("a red ball", latents=noise, num_frames=41, chunk_partition=[1, 2, 2, 2, 2, 2], guidance_scale=2.0,
                    output_type="latent").frames
        return chunks.cpu(), call.cpu()

    compiled = run()
    assert compiled_flex._compiled is not None  # made by the first run's compiled_flex on CUDA
    graphs = counters["stats"]["unique_graphs"]
    again = run()
    assert counters["stats"]["unique_graphs"] == graphs
    types, compiled_flex.DEVICE_TYPES = compiled_flex.DEVICE_TYPES, set()
    try:
        eager = run()
    finally:
        compiled_flex.DEVICE_TYPES = types
    for made, reference in zip(compiled + again, eager + eager):
        assert rel_err(made, reference) < 1e-4, rel_err(made, reference)


def test_cli_stream_and_extend_write_their_mp4s(folder, tmp_path):
    """`vidlong stream --chunks 5 --chunk 2`: 1 + 4·8 = 33 frames of 32x32 at 16 fps; `vidlong extend` of a 13-frame video
    by 2 chunks of 1 latent frame: its frames first, then 8 new ones."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    out = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--chunks", "5", "--chunk", "2",
                 "--out", str(out)]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (1 + 4 * 8, 32, 32, 3) and fps == pytest.approx(16)
    check_cli_extension(folder, tmp_path, temporal=4, fps=16, size=(32, 32, 3))


#: what it refuses before loading, and what the refusal says
REFUSED = [(["generate", "--ratio", "2", "--method", "ultravico"], "block-causal"),
           (["generate", "--ratio", "2", "--method", "riflex"], "block-causal"),  # not RIFLEx's "use UltraViCo ... with it"
           (["generate", "--ratio", "2", "--method", "fifo"], "stream it instead; it runs on Wan, SkyReels-V2 and LTX-Video "
                                                               "models. Use another method for this model (e.g. --method none)"),
           (["generate", "--image", "in.png"], "this model is text-to-video and takes no --image"),
           (["stream", "--chunks", "2", "--context", "renoise"], "renoise is not available for AnyFlowFARTransformer3DModel"),
           (["stream", "--chunks", "2", "--sinks", "1"], "keeps its first chunk as the sink"),
           (["stream", "--chunks", "2", "--sampler", "causal"], "its own flow map's steps"),
           (["stream", "--chunks", "2", "--no-recache"], "--no-recache: an AnyFlow FAR stream encodes its whole context again"),
           (["stream", "--chunks", "2", "--chunk", "2", "--window", "3"], "use a multiple of 2")]


@pytest.mark.parametrize("command, says", REFUSED)
def test_what_it_does_not_run_is_refused_in_one_line_before_loading(folder, tmp_path, capsys, monkeypatch, command, says):
    """The methods (block-causal attention over a compressed cache), fifo's queue, an image, a re-noised context, sinks
    other than its first chunk, the causal sampler, a cache kept on a prompt switch (each chunk encodes it again) and a
    window of part chunks."""
    check_release_refuses(folder, None, command, says, tmp_path, capsys, monkeypatch)
