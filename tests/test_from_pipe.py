"""`vidlong.from_pipe`: vidlong's pipeline over a diffusers pipeline the caller already holds, on the same modules."""
import numpy as np
import pytest
import torch

import vidlong
from vidlong.models import ModelSpec

SPEC = ModelSpec(name="tiny", native_frames=3, fps=16, height=32, width=32, num_inference_steps=2, guidance_scale=2.0)


def _frames(pipe, frames: int = 9):
    return pipe("a red ball", height=32, width=32, num_frames=frames, num_inference_steps=2, guidance_scale=2.0,
                output_type="np", generator=torch.Generator().manual_seed(1)).frames[0]


def test_the_same_modules_under_vidlongs_surface():
    """Built on the held pipeline's own modules (no copy): its call with no method = the held pipeline's, bit for bit; a
    method applied through it acts in the held pipeline's calls too (2x the native window), and removing it restores
    both; it streams; a vidlong pipeline comes back as it is."""
    from diffusers import WanPipeline
    from tiny_pipeline import tiny_pipeline

    held = tiny_pipeline()
    held.set_progress_bar_config(disable=True)
    stock, long_stock = _frames(held), _frames(held, 21)
    pipe = vidlong.from_pipe(held, spec=SPEC)
    assert type(pipe).__name__ == "VidLongWanPipeline" and isinstance(pipe, WanPipeline)
    assert pipe.transformer is held.transformer and pipe.vae is held.vae and pipe.spec is SPEC
    assert (_frames(pipe) == stock).all()
    pipe.apply(vidlong.UltraViCo())
    assert not (_frames(held, 21) == long_stock).all()
    pipe.remove()
    assert (_frames(held, 21) == long_stock).all() and (_frames(pipe, 21) == long_stock).all()
    chunk = next(iter(pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1, seed=0)))
    assert chunk.frames.shape == (1, 32, 32, 3)
    assert vidlong.from_pipe(pipe) is pipe


def test_the_spec_comes_from_the_folder_its_modules_came_from(tmp_path):
    """A pipeline loaded by diffusers itself from a folder with a vidlong.yaml gets that spec; another family's pipeline
    gets vidlong's class for it."""
    import yaml
    from diffusers import HunyuanVideoPipeline, WanPipeline
    from tiny_pipeline import tiny_hunyuan_pipeline, tiny_pipeline

    tiny_pipeline().save_pretrained(tmp_path)
    (tmp_path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-from-folder", native_frames=3, fps=16, height=32,
                                                               width=32, num_inference_steps=2, guidance_scale=2.0)))
    pipe = vidlong.from_pipe(WanPipeline.from_pretrained(tmp_path, local_files_only=True))
    assert pipe.spec.name == "tiny-from-folder" and pipe.native_frames == 3
    hunyuan = vidlong.from_pipe(tiny_hunyuan_pipeline(), spec=SPEC)
    assert type(hunyuan).__name__ == "VidLongHunyuanVideoPipeline" and isinstance(hunyuan, HunyuanVideoPipeline)


@pytest.mark.parametrize("kind", ["wan2.2", "ti2v"])
def test_the_pipelines_settings_come_along(kind):
    """Wan2.2's two experts and their boundary, TI2V-5B's per-token timesteps: its config's settings, not only its modules."""
    from tiny_pipeline import tiny_pipeline

    held = tiny_pipeline(kind=kind)
    pipe = vidlong.from_pipe(held, spec=SPEC)
    assert len(pipe.experts()) == (2 if kind == "wan2.2" else 1)
    assert (pipe.config.boundary_ratio, pipe.config.expand_timesteps) == (held.config.boundary_ratio, held.config.expand_timesteps)
    assert pipe.transformer is held.transformer and getattr(pipe, "transformer_2", None) is getattr(held, "transformer_2", None)


def test_what_it_does_not_take_is_refused_in_one_line():
    from diffusers import WanPipeline
    from tiny_pipeline import tiny_pipeline

    class MyWan(WanPipeline):
        pass

    held = tiny_pipeline()
    for pipe, message in ((held.transformer, "pipe is a WanTransformer3DModel; pass a diffusers pipeline"),
                          (MyWan(**held.components), "pipe is a MyWan, not a pipeline class .* subclass vidlong's class for it"),
                          ("path/to/wan", r"pipe is a str; .* vidlong.load_pipeline\(path\)")):
        with pytest.raises(vidlong.VidlongError, match=message) as err:
            vidlong.from_pipe(pipe)
        assert "\n" not in str(err.value)
    for pipe in (held, vidlong.from_pipe(held, spec=SPEC)):
        with pytest.raises(vidlong.VidlongError, match="spec is a dict; pass a vidlong.models.ModelSpec"):
            vidlong.from_pipe(pipe, spec=dict(native_frames=3))

    compiled = tiny_pipeline()
    compiled.transformer = torch.compile(compiled.transformer)
    offloaded = tiny_pipeline()
    offloaded.transformer.enable_group_offload(onload_device=torch.device("cpu"), offload_type="block_level", num_blocks_per_group=1)
    for pipe, message in ((compiled, r"pipe.transformer is wrapped by torch.compile; .* compile it in place"),
                          (offloaded, "pipe.transformer has offloading enabled; call vidlong.from_pipe before enabling it")):
        with pytest.raises(vidlong.VidlongError, match=message):
            vidlong.from_pipe(pipe)


def test_accelerates_device_placement_is_taken_and_its_offload_refused():
    """A module placed by accelerate (a multi-GPU or quantized load's hook) is taken as it is; one offloaded is refused."""
    from accelerate.hooks import AlignDevicesHook, CpuOffload, add_hook_to_module
    from tiny_pipeline import tiny_pipeline

    held = tiny_pipeline()
    add_hook_to_module(held.vae, AlignDevicesHook(execution_device="cpu"))
    assert vidlong.from_pipe(held, spec=SPEC).vae is held.vae
    add_hook_to_module(held.text_encoder, CpuOffload(execution_device="cpu"))
    with pytest.raises(vidlong.VidlongError, match="pipe.text_encoder has offloading enabled"):
        vidlong.from_pipe(held)


def test_streams_and_fifo_refuse_offloading_enabled_after_from_pipe():
    """Offloading enabled on the pipeline `from_pipe` returns (as its docs say): `pipe(...)` and `generate` run under its
    hooks; streams, extensions and method fifo, which run the transformer and the VAE themselves, are refused in one line
    (their inputs would stay on the CPU)."""
    from tiny_pipeline import tiny_pipeline
    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.from_pipe(tiny_pipeline(), spec=SPEC)
    pipe.set_progress_bar_config(disable=True)
    pipe.transformer.enable_group_offload(onload_device=torch.device("cpu"), offload_type="block_level", num_blocks_per_group=1)
    assert _frames(pipe).shape == (9, 32, 32, 3)
    refusal = "run the transformer and the VAE outside the pipeline's offload hooks, and pipe.transformer has offloading enabled"
    with pytest.raises(vidlong.VidlongError, match=f"^streams and extensions {refusal}; load the pipeline without offload"):
        pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=1)
    with pytest.raises(vidlong.VidlongError, match=f"^streams and extensions {refusal}"):
        pipe.extend("a red ball", video=np.zeros((5, 32, 32, 3), np.uint8), chunks=1)
    with pytest.raises(vidlong.VidlongError, match=f"^diagonal denoising \\(method fifo\\) and streams {refusal}; use another"):
        generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="fifo", steps=2))
    assert generate(pipe, GenerateRequest(prompt="a red ball", ratio=2, method="both", steps=2)).frames.shape[0] == 21


def test_streams_are_counted_on_each_transformer():
    """A two-expert pipeline and a one-expert one sharing its first transformer: while a stream of the first is paused, one
    of the second (made before) is refused as it starts, and a call too; closed, every transformer is free again (each
    counts its own streams) and the second runs."""
    from diffusers import WanPipeline
    from tiny_pipeline import tiny_pipeline

    held = tiny_pipeline(kind="wan2.2")
    two = vidlong.from_pipe(held, spec=SPEC)
    one = vidlong.from_pipe(WanPipeline(**{name: part for name, part in held.components.items() if name != "transformer_2"}),
                            spec=SPEC)
    made = [pipe.stream("a red ball", vidlong.Streaming(chunk=1), chunks=3, seed=0) for pipe in (two, one)]
    first = iter(made[0])
    next(first)
    for while_paused in (lambda: next(iter(made[1])), lambda: _frames(one)):
        with pytest.raises(vidlong.VidlongError, match="a stream of this pipeline is paused mid-way"):
            while_paused()
    first.close()
    assert [getattr(t, "vidlong_streams", 0) for t in two.experts()] == [0, 0] and _frames(one).shape == (9, 32, 32, 3)
    assert len(list(made[1])) == 3


def test_a_stream_paused_in_one_pipeline_is_seen_by_every_pipeline_on_its_transformer():
    """Two vidlong pipelines over one held pipeline share its transformer and the stream's hooks on it: while a stream of
    one is paused, a call of the other is refused in one line too, and so is the held stock pipeline's (its forward would
    meet the stream's KV cache); closing the stream frees all three."""
    from tiny_pipeline import tiny_pipeline

    held = tiny_pipeline()
    held.set_progress_bar_config(disable=True)
    stock = _frames(held)
    one, other = vidlong.from_pipe(held, spec=SPEC), vidlong.from_pipe(held, spec=SPEC)
    stream = iter(one.stream("a red ball", vidlong.Streaming(chunk=1, context="cache"), chunks=3, seed=0))
    next(stream)
    for pipe in (other, held):
        with pytest.raises(vidlong.VidlongError, match="a stream of this pipeline is paused mid-way") as info:
            _frames(pipe)
        assert "\n" not in str(info.value)
    next(stream)  # the stream goes on
    stream.close()
    assert _frames(other).shape == (9, 32, 32, 3) and (_frames(held) == stock).all()


def test_a_spec_given_by_hand_takes_the_vaes_temporal_ratio():
    """A `ModelSpec` written without ``temporal_ratio`` (4, Wan's) over LTX-Video's VAE, which compresses time 8x: the
    spec takes the VAE's ratio, as a folder's vidlong.yaml does, so a length the VAE cannot decode is refused in one line
    and the default length is the native window's 17 frames, not 9."""
    from tiny_pipeline import tiny_ltx_pipeline

    spec = ModelSpec(name="tiny-ltx", native_frames=3, fps=25, height=64, width=64, num_inference_steps=1, guidance_scale=3.0)
    pipe = vidlong.from_pipe(tiny_ltx_pipeline(), spec=spec)
    assert pipe.spec.temporal_ratio == 8 and pipe.spec.native_frames == 3
    with pytest.raises(vidlong.VidlongError, match=r"13 frames can't be decoded by this VAE \(needs 8k\+1\); use num_frames 9"):
        pipe("a red ball", num_frames=13)
    assert pipe("a red ball", output_type="np").frames.shape[1] == 17


def test_a_saved_vidlong_pipeline_loads_in_diffusers_and_in_vidlong_as_the_same_model(tmp_path):
    """`save_pretrained` of a vidlong pipeline (methods applied) writes diffusers' class in model_index.json, so
    `DiffusionPipeline.from_pretrained` loads it, the stock weights, and a vidlong.yaml of its spec, so `load_pipeline`
    gives the same spec; pushing to a hub is refused in one line."""
    from diffusers import DiffusionPipeline, WanPipeline
    from tiny_pipeline import tiny_pipeline

    spec = ModelSpec(name="tiny-saved", native_frames=3, fps=16, height=32, width=32, num_inference_steps=2,
                     guidance_scale=2.0, stream_timesteps=(1000, 500))
    pipe = vidlong.from_pipe(tiny_pipeline(), spec=spec)
    pipe.apply(vidlong.UltraViCo())
    pipe.save_pretrained(tmp_path)
    stock = DiffusionPipeline.from_pretrained(tmp_path, local_files_only=True)
    assert type(stock) is WanPipeline
    saved, held = stock.transformer.state_dict(), pipe.transformer.state_dict()
    assert saved.keys() == held.keys() and all(torch.equal(saved[k], held[k]) for k in saved)
    loaded = vidlong.load_pipeline(tmp_path, device="cpu")
    assert type(loaded).__name__ == "VidLongWanPipeline" and loaded.spec == spec
    with pytest.raises(vidlong.VidlongError, match="vidlong runs offline; save to a folder, then upload it"):
        pipe.save_pretrained(tmp_path / "hub", push_to_hub=True)
