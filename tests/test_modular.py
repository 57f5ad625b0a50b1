"""vidlong's methods on diffusers' Modular Diffusers pipelines, built offline from the tiny standard folders
(``model_index.json``) the other tests save: ``vidlong.apply(pipe.transformer, ...)`` (and ``pipe.transformer_2``, Wan2.2's
low-noise expert) on the modular pipeline's transformers, at 2x the native window with a fixed seed, gives the latents of
the standard pipeline of the same folder with the same methods applied bit for bit (vidlong's own pipeline for Wan's,
diffusers' with `vidlong.apply` for HunyuanVideo 1.5's and the LTX ones); with the methods removed, the stock modular call's.
LTX-Video's modular call needs classifier-free guidance (without it diffusers' blocks ask for a negative prompt embedding
its text step leaves None), which its standard call runs as one batch of two and its modular call as two forwards: from text
alone its transformer's output rounds apart between the two batch sizes (1.6e-7 relative over the call with no method, as
with the methods), the one case compared within that rounding; from a first frame they agree bit for bit."""
import json
from typing import NamedTuple, Optional

import PIL.Image
import pytest
import torch
import yaml
from reference import rel_err

import vidlong

GUIDANCE = 2.0
METHODS = (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
#: LTX-2's classifier-free, spatio-temporal and modality guidance off, as its guiders' settings: with guidance its standard
#: call runs the guided passes as one batch, its modular call one by one, which rounds apart (3e-7 relative at guidance 3)
LTX2_OFF = dict(guidance_scale=1.0, stg_scale=0.0, modality_scale=1.0)


class Case(NamedTuple):
    """A modular pipeline checked here: the folder's `kind` (`saved_folder`), the modular class diffusers builds from it,
    diffusers' standard class compared with (None: vidlong's own pipeline of the folder), the size, native window (latent
    frames), pixel frames per latent frame, the relative difference allowed between the modular and the standard call
    (0: none, bit for bit) and whether the call takes a first frame (``image=``)."""

    kind: str
    modular_class: str
    standard_class: Optional[str]
    height: int
    width: int
    native: int = 3
    temporal: int = 4
    rounding: float = 0.0
    image: bool = False


CASES = {
    "wan-t2v": Case("wan2.1", "WanModularPipeline", None, 32, 32),
    "wan22-t2v-two-experts": Case("wan2.2", "Wan22ModularPipeline", None, 32, 32),
    "wan-i2v": Case("i2v", "WanImage2VideoModularPipeline", None, 32, 32, image=True),
    "wan22-i2v-two-experts": Case("i2v-a14b", "Wan22Image2VideoModularPipeline", None, 32, 32, image=True),
    "wan22-vace-two-experts": Case("vace", "Wan22VaceModularPipeline", None, 32, 32),
    "hunyuan-video-1.5": Case("hv15", "HunyuanVideo15ModularPipeline", "HunyuanVideo15Pipeline", 32, 48),
    "ltx2": Case("ltx2", "LTX2ModularPipeline", "LTX2Pipeline", 64, 64, native=2, temporal=8),
    "ltx2-i2v": Case("ltx2", "LTX2ModularPipeline", "LTX2ImageToVideoPipeline", 64, 64, native=2, temporal=8, image=True),
    "ltx-video": Case("ltx", "LTXModularPipeline", "LTXPipeline", 64, 64, native=2, temporal=8, rounding=1e-6),
    "ltx-video-i2v": Case("ltx", "LTXModularPipeline", "LTXImageToVideoPipeline", 64, 64, native=2, temporal=8, image=True),
}

#: standard class -> the blocks of its modular pipeline, where `ModularPipeline.from_pretrained` does not find them
UNMAPPED = {"LTX2Pipeline": "LTX2AutoBlocks", "HunyuanVideo15Pipeline": "HunyuanVideo15AutoBlocks",
            "WanVACEPipeline": "Wan22VaceBlocks"}


def saved_folder(kind: str, path):
    """A tiny standard pipeline folder of `kind` (`tiny_pipeline`'s Wan kinds, "vace": Wan VACE's two experts, "hv15",
    "ltx2", "ltx") with a vidlong.yaml: 2 steps, native 3 latent frames (LTX's 2)."""
    import tiny_pipeline

    if kind == "vace":
        return tiny_pipeline.save_tiny_vace_pipeline(path, experts=2)
    if kind == "ltx2":
        return tiny_pipeline.save_tiny_ltx2_pipeline(path, latest=True)
    if kind == "ltx":
        return tiny_pipeline.save_tiny_ltx_pipeline(path)
    if kind != "hv15":
        return tiny_pipeline.save_tiny_pipeline(path, kind)
    tiny_pipeline.tiny_hunyuan15_pipeline().save_pretrained(path, safe_serialization=True)
    (path / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-hv15", native_frames=3, height=32, width=48, fps=24,
                                                           num_inference_steps=2)))
    return path


def modular_pipeline(folder):
    """diffusers' modular pipeline of a standard `folder`, its components loaded in float32: `ModularPipeline.from_pretrained`
    picks the class from the folder's ``model_index.json`` (Wan's, LTX-Video's); the standard classes not in diffusers'
    auto-pipeline tables it maps by (`UNMAPPED`) by their blocks' ``init_pipeline``."""
    import diffusers

    blocks = UNMAPPED.get(json.loads((folder / "model_index.json").read_text())["_class_name"])
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


def standard_guidance(kind: str) -> dict:
    """The standard call's guidance arguments matching `set_guidance` on the modular pipeline (HunyuanVideo 1.5's: none,
    both read the guider saved in its folder)."""
    if kind == "ltx2":
        return dict(LTX2_OFF, **{f"audio_{name}": value for name, value in LTX2_OFF.items()})
    return {} if kind == "hv15" else dict(guidance_scale=GUIDANCE)


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """(its `Case`, its folder, its modular pipeline)."""
    case = CASES[request.param]
    folder = saved_folder(case.kind, tmp_path_factory.mktemp(request.param))
    pipe = modular_pipeline(folder)
    if case.kind == "ltx2":
        set_guidance(pipe, **LTX2_OFF)
    elif case.kind != "hv15":
        set_guidance(pipe, guidance_scale=GUIDANCE)
    return case, folder, pipe


def test_methods_on_a_modular_pipeline_give_the_standard_pipelines_latents(case, image_path):
    """At 2x native, seed 0: the stock modular call = the standard call; `vidlong.apply` on every expert of the modular
    pipeline (the native window from the folder's vidlong.yaml) = the standard pipeline with the same methods (vidlong's
    ``pipe.apply``, on both experts of Wan2.2's; `vidlong.apply` on diffusers' transformer) bit for bit, and the methods act;
    `vidlong.remove`: the stock modular call again, the stock processors back. LTX-2's modular call and LTX-Video's standard
    call return their latents packed, [B, tokens, C]: unpacked to [B, C, F, h, w] (LTX's 32x VAE, patch 1)."""
    import diffusers

    case, folder, pipe = case
    assert type(pipe).__name__ == case.modular_class
    if case.standard_class is None:
        standard = vidlong.load_pipeline(folder, device="cpu")
    else:
        standard = getattr(diffusers, case.standard_class).from_pretrained(folder, local_files_only=True)
    standard.set_progress_bar_config(disable=True)
    frames = 2 * case.native
    args = dict(prompt="a red circle", height=case.height, width=case.width, num_frames=case.temporal * (frames - 1) + 1,
                num_inference_steps=2)
    if case.image:
        args["image"] = PIL.Image.open(image_path).convert("RGB")

    def unpacked(latents):
        return standard._unpack_latents(latents, frames, case.height // 32, case.width // 32) if latents.ndim == 3 else latents

    def modular_call():
        return unpacked(pipe(**args, generator=torch.Generator().manual_seed(0), output="latents"))

    def standard_call():
        return unpacked(standard(**args, **standard_guidance(case.kind), generator=torch.Generator().manual_seed(0),
                                 output_type="latent").frames)

    def same(modular, theirs) -> bool:
        return torch.equal(modular, theirs) if case.rounding == 0 else rel_err(modular, theirs) < case.rounding

    stock = modular_call()
    assert stock.shape[2] == frames and same(stock, standard_call())
    processors = [list(t.attn_processors.values()) for t in experts(pipe)]
    for transformer in experts(pipe):
        assert vidlong.apply(transformer, *METHODS).native_frames == case.native
    if case.standard_class is None:
        standard.apply(*METHODS)
    else:
        vidlong.apply(standard.transformer, *METHODS)
    long = modular_call()
    assert same(long, standard_call()) and rel_err(long, stock) > 1e-3
    for transformer in experts(pipe):
        vidlong.remove(transformer)
    assert [list(t.attn_processors.values()) for t in experts(pipe)] == processors
    assert torch.equal(modular_call(), stock)


@pytest.fixture(scope="module")
def wan22_modular(tmp_path_factory):
    """(the tiny Wan2.2 folder, its modular pipeline loaded, the same pipeline saved as a modular folder)."""
    folder = saved_folder("wan2.2", tmp_path_factory.mktemp("wan22"))
    pipe = modular_pipeline(folder)
    saved = tmp_path_factory.mktemp("wan22-modular")
    pipe.save_pretrained(str(saved))
    return folder, pipe, saved


def test_a_modular_pipeline_handed_over_whole_is_refused_naming_its_transformers(wan22_modular):
    """`vidlong.apply` and `vidlong.remove` on the pipeline itself name both experts' calls; `vidlong.from_pipe` and
    `generate` (vidlong's pipeline classes wrap the standard ones) say what runs the methods on it, where they said to pass a
    diffusers pipeline (it is one) or to wrap it with from_pipe (which refused it); a modular pipeline's transformer before
    ``load_components()`` (None) is named as such."""
    import diffusers

    from vidlong.generate import GenerateRequest, generate

    folder, pipe, _ = wan22_modular
    both = r"vidlong.apply\(pipe.transformer, ...\) and vidlong.apply\(pipe.transformer_2, ...\)"
    with pytest.raises(vidlong.VidlongError, match=f"not the Wan22ModularPipeline: {both}"):
        vidlong.apply(pipe, *METHODS)
    with pytest.raises(vidlong.VidlongError, match=r"vidlong.remove\(pipe.transformer\) and vidlong.remove\(pipe.transformer_2\)"):
        vidlong.remove(pipe)
    for refused in (lambda: vidlong.from_pipe(pipe), lambda: generate(pipe, GenerateRequest(prompt="a red circle"))):
        with pytest.raises(vidlong.VidlongError, match=f"diffusers' modular Wan22ModularPipeline; .*{both}.*vidlong.load_pipeline"):
            refused()
    unloaded = diffusers.ModularPipeline.from_pretrained(str(folder))
    with pytest.raises(vidlong.VidlongError, match=r"got None, not a transformer .*pipe.load_components\(\)"):
        vidlong.apply(unloaded.transformer, *METHODS)


def test_a_modular_folder_is_refused_before_loading(wan22_modular, tmp_path, capsys, monkeypatch):
    """A folder of a modular pipeline's ``save_pretrained`` (modular_model_index.json, no model_index.json): `load_pipeline`
    and ``vidlong generate --model`` refuse it in one line naming the two ways on (exit 2, nothing loaded), where they said to
    save it with save_pretrained (which made it)."""
    from family_checks import check_refused_before_loading

    saved = wan22_modular[2]
    says = f"{saved} holds a Modular Diffusers pipeline (modular_model_index.json)"
    with pytest.raises(vidlong.VidlongError) as refused:
        vidlong.load_pipeline(saved)
    assert str(refused.value).startswith(f"path (--model) {says}")
    line = check_refused_before_loading(["generate", "--model", str(saved), "--prompt", "a red circle"], tmp_path / "v.mp4",
                                        capsys, monkeypatch)
    assert line.startswith(f"vidlong: error: --model {says}")
    assert "the standard diffusers folder its parts came from (model_index.json)" in line and "vidlong.apply(pipe.transformer" in line
