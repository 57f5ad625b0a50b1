"""Method off = the stock model, bit for bit."""
import pytest
import torch

import vidlong
from conftest import tiny_transformer, transformer_inputs

NATIVE = 4  # latent frames


def stock_output(frames):
    with torch.no_grad():
        return tiny_transformer()(**transformer_inputs(frames))[0]


@pytest.mark.parametrize("frames", [4, 8, 16])
def test_applied_then_removed_is_stock(frames):
    model = tiny_transformer()
    stock_processors = [b.attn1.processor for b in model.blocks]
    vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(), native_frames=NATIVE)
    assert all(type(b.attn1.processor).__name__ == "VidlongAttnProcessor" for b in model.blocks)
    with torch.no_grad():
        changed = model(**transformer_inputs(frames))[0]
    vidlong.remove(model)
    assert [b.attn1.processor for b in model.blocks] == stock_processors
    with torch.no_grad():
        out = model(**transformer_inputs(frames))[0]
    assert torch.equal(out, stock_output(frames))
    assert not torch.equal(changed, out)  # the methods did act while applied


@pytest.mark.parametrize(
    "methods, frames",
    [
        ((vidlong.UltraViCo(alpha=1.0, guard_first_frame=False),), 16),
        ((vidlong.UltraViCo(alpha=1.0),), NATIVE),  # guard is moot inside the native window
        ((vidlong.SpectralFusion(windows=()),), 16),  # one global branch
        ((vidlong.SpectralFusion(windows=(2, 1)),), NATIVE),  # every window spans the video
        ((vidlong.UltraViCo(alpha=1.0, guard_first_frame=False), vidlong.SpectralFusion(windows=())), 8),
    ],
)
def test_neutral_settings_are_stock(methods, frames):
    model = tiny_transformer()
    state = vidlong.apply(model, *methods, native_frames=NATIVE)
    with torch.no_grad():
        out = model(**transformer_inputs(frames))[0]
    assert state.plan.is_stock
    assert torch.equal(out, stock_output(frames))


def test_equal_branches_fuse_bit_for_bit():
    from vidlong.attention.fusion import fuse_bands
    from vidlong.attention.layout import TokenLayout
    from vidlong.schedulers.bands import make_bands

    layout = TokenLayout(8, 3, 4, 2)
    out = torch.randn(2, layout.num_tokens, 2, 5)
    bands = make_bands(8, 3, 4, (0.1, 0.3), 0.25)
    assert torch.equal(fuse_bands([out, out, out], bands, layout), out)


def test_reapply_replaces_and_rejects_non_methods():
    model = tiny_transformer()
    vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)
    state = vidlong.apply(model, vidlong.SpectralFusion(), native_frames=NATIVE)
    assert state.methods == (vidlong.SpectralFusion(),)
    with pytest.raises(vidlong.VidlongError, match="not a vidlong method"):
        vidlong.apply(model, "ultravico", native_frames=NATIVE)
    with pytest.raises(vidlong.VidlongError, match="WanTransformer3DModel"):
        vidlong.apply(torch.nn.Linear(2, 2), vidlong.UltraViCo())


def test_attention_backend_choice_reaches_the_stock_path():
    """diffusers' set_attention_backend works on vidlong's processor like on the stock one."""
    model = tiny_transformer()
    vidlong.apply(model, native_frames=NATIVE)
    model.set_attention_backend("native")
    assert all(b.attn1.processor._attention_backend == "native" for b in model.blocks)
    with torch.no_grad():
        assert torch.equal(model(**transformer_inputs(8))[0], stock_output(8))
