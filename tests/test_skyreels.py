"""SkyReels-V2 (`SkyReelsV2Transformer3DModel`) through its adapter, Wan's layout: methods off = the stock model bit for
bit; UltraViCo and FreeLong++ equal their float64 math; a block-causal transformer
(its diffusion-forcing pipeline's setting) is refused in one line; its releases take their own configs/models entry.
The pipeline layer (load, generate = diffusers' call, CLI, eval, streams and extensions) is in `test_family_pipelines`."""
import pytest
import torch
from conftest import transformer_inputs, tiny_transformer
from reference import WanReferenceAttention

import vidlong
from vidlong.errors import VidlongError

NATIVE = 3  # latent frames


def rel_err(a, b):
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


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
    """SkyReels-V2 T2V 14B has Wan2.1-14B's config keys; its family picks its own entry (25 latent frames at 24 fps)."""
    from vidlong.models import model_facts, spec_for_facts

    config = dict(num_layers=40, num_attention_heads=40, attention_head_dim=128, in_channels=16)
    spec = spec_for_facts(model_facts(config, family="skyreels-v2"))
    assert (spec.name, spec.native_frames, spec.fps, spec.height, spec.width) == ("skyreels-v2-t2v-14b-540p", 25, 24, 544, 960)
    assert spec_for_facts(model_facts(config)).name == "wan2.1-t2v-14b"
