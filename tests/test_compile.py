"""torch.compile of a transformer with vidlong's hooks: the whole forward is one graph (fullgraph=True
raises at any graph break) for the stock model and with each method on the dense kernel, and its
output is the eager one."""
import pytest
import torch

import vidlong
from conftest import tiny_transformer, transformer_inputs


@pytest.mark.parametrize("methods", [[], [vidlong.UltraViCo()], [vidlong.SpectralFusion(windows=(1,))],
                                     [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,))]],
                         ids=["stock", "ultravico", "freelong", "both"])
def test_one_graph_and_the_eager_output(methods):
    model = tiny_transformer()
    if methods:
        vidlong.apply(model, *methods, native_frames=2, kernel="dense")
    inputs = transformer_inputs(6)
    torch._dynamo.reset()
    with torch.no_grad():
        eager = model(**inputs)[0]
        compiled = torch.compile(model, backend="eager", fullgraph=True)(**inputs)[0]
    assert torch.allclose(compiled, eager, atol=1e-6, rtol=1e-5)
