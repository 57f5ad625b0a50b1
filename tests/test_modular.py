"""vidlong's methods on diffusers' Modular Diffusers pipelines, built offline from the tiny standard folders
(``model_index.json``) the other tests save: ``vidlong.apply(pipe.transformer, ...)`` (and ``pipe.transformer_2``, Wan2.2's
low-noise expert) on the modular pipeline's transformers, at 2x the native window with a fixed seed, gives the latents of
the standard pipeline of the same folder with the same methods applied bit for bit (vidlong's own pipeline for Wan's,
diffusers' for HunyuanVideo 1.5's); with the methods removed, the stock modular call's. LTX-2's modular call differs from its
standard call by diffusers' own rounding (its guider's and scheduler's steps, ~1e-7 with every guidance off and no method),
so there the first transformer forward is compared bit for bit (the same inputs, the same hooked output) and the whole call
within that rounding."""
import PIL.Image
import pytest
import torch
import yaml
from reference import rel_err

import vidlong

NATIVE = 3  # latent frames of the tiny Wan and HunyuanVideo 1.5 folders (tiny_pipeline.NATIVE_LATENT_FRAMES)
GUIDANCE = 2.0
METHODS = (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())

#: case: (the folder's kind, diffusers' standard class to compare with (None: vidlong's own pipeline), the modular
#: pipeline's class, its height, width)
CASES = {
    "wan-t2v": ("wan2.1", None, "WanModularPipeline", 32, 32),
    "wan22-t2v-two-experts": ("wan2.2", None, "Wan22ModularPipeline", 32, 32),
    "wan-i2v": ("i2v", None, "WanImage2VideoModularPipeline", 32, 32),
    "wan22-i2v-two-experts": ("i2v-a14b", None, "Wan22Image2VideoModularPipeline", 32, 32),
    "hunyuan-video-1.5": ("hv15", "HunyuanVideo15Pipeline", "HunyuanVideo15ModularPipeline", 32, 48),
}


def saved_folder(kind: str, path):
    """A tiny standard pipeline folder of `kind` with a vidlong.yaml (native `NATIVE` latent frames, 2 steps)."""
    import tiny_pipeline

    if kind != "hv15":
        return tiny_pipeline.save_tiny_pipeline(path, kind)
    tiny_pipeline.tiny_hunyuan15_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-hv15", native_frames=NATIVE, height=32, width=48, fps=24,
                                                           num_inference_steps=2)))
    return path


def modular_pipeline(folder):
    """diffusers' modular pipeline of a standard `folder`, its components loaded in float32: `ModularPipeline.from_pretrained`
    picks Wan's class from the folder's ``model_index.json``; LTX-2's and HunyuanVideo 1.5's standard classes are not in
    diffusers' auto-pipeline tables it maps by, so their blocks' ``init_pipeline``."""
    import diffusers

    index = (folder / "model_index.json").read_text()
    blocks = next((b for name, b in (("LTX2Pipeline", "LTX2AutoBlocks"), ("HunyuanVideo15", "HunyuanVideo15AutoBlocks"))
                   if f'"{name}' in index), None)
    if blocks is None:
        pipe = diffusers.ModularPipeline.from_pretrained(str(folder))
    else:
        pipe = getattr(diffusers, blocks)().init_pipeline(str(folder))
    pipe.load_components(torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def experts(pipe) -> list:
    """The pipeline's transformers, high-noise first."""
    return [t for t in (pipe.transformer, getattr(pipe, "transformer_2", None)) if t is not None]


def set_guidance(pipe, **scales) -> None:
    """Every guider of the modular `pipe` (Wan2.2's second expert has its own, LTX-2's audio its own) at `scales`."""
    names = [name for name in ("guider", "guider_2", "audio_guider") if getattr(pipe, name, None) is not None]
    pipe.update_components(**{name: getattr(pipe, name).new(**scales) for name in names})


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """(case name, its folder, its modular pipeline)."""
    folder = saved_folder(CASES[request.param][0], tmp_path_factory.mktemp(request.param))
    pipe = modular_pipeline(folder)
    if CASES[request.param][0] != "hv15":  # HunyuanVideo 1.5's guider is saved in its folder (6)
        set_guidance(pipe, guidance_scale=GUIDANCE)
    return request.param, folder, pipe


def test_methods_on_a_modular_pipeline_are_the_standard_pipelines_bit_for_bit(case, image_path):
    """At 2x native (6 latent frames), seed 0: the stock modular call = the standard call; `vidlong.apply` on every expert
    of the modular pipeline = the standard pipeline with the same methods (vidlong's ``pipe.apply`` on Wan's, both experts
    of Wan2.2's; `vidlong.apply` on diffusers' HunyuanVideo 1.5's) bit for bit, and the methods act; `vidlong.remove`:
    the stock modular call again, the stock processors back."""
    import diffusers

    name, folder, pipe = case
    kind, standard_class, modular_class, height, width = CASES[name]
    assert type(pipe).__name__ == modular_class
    if standard_class is None:
        standard = vidlong.load_pipeline(folder, device="cpu")
    else:
        standard = getattr(diffusers, standard_class).from_pretrained(folder, local_files_only=True)
    standard.set_progress_bar_config(disable=True)
    args = dict(prompt="a red circle", height=height, width=width, num_frames=4 * (2 * NATIVE - 1) + 1, num_inference_steps=2)
    if kind.startswith("i2v"):
        args["image"] = PIL.Image.open(image_path).convert("RGB")
    guidance = {} if kind == "hv15" else dict(guidance_scale=GUIDANCE)

    def modular_call():
        return pipe(**args, generator=torch.Generator().manual_seed(0), output="latents")

    def standard_call():
        return standard(**args, **guidance, generator=torch.Generator().manual_seed(0), output_type="latent").frames

    stock = modular_call()
    assert stock.shape[2] == 2 * NATIVE and torch.equal(stock, standard_call())
    processors = [list(t.attn_processors.values()) for t in experts(pipe)]
    for transformer in experts(pipe):
        assert vidlong.apply(transformer, *METHODS).native_frames == NATIVE  # the folder's vidlong.yaml
    if standard_class is None:
        standard.apply(*METHODS)
    else:
        vidlong.apply(standard.transformer, *METHODS)
    long = modular_call()
    assert torch.equal(long, standard_call()) and rel_err(long, stock) > 1e-3
    for transformer in experts(pipe):
        vidlong.remove(transformer)
    assert [list(t.attn_processors.values()) for t in experts(pipe)] == processors
    assert torch.equal(modular_call(), stock)
