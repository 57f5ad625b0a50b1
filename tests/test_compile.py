"""torch.compile of a transformer with vidlong's hooks: the whole forward is one graph (fullgraph=True
raises at any graph break) for the stock model and with each method on the dense kernel, and its
output is the eager one."""
import ast
import builtins
import os
import subprocess
import sys
import warnings

import pytest
import torch

import vidlong
from conftest import tiny_transformer, transformer_inputs
from vidlong.attention.execute import FUSED_KERNELS
from vidlong.attention.kernels import fused
from vidlong.attention.kernels.quantize import required_capability


@pytest.mark.parametrize("methods", [[], [vidlong.UltraViCo()], [vidlong.SpectralFusion(windows=(1,))],
                                     [vidlong.SpectralFusion(windows=(2, 1))],
                                     [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,))]],
                         ids=["stock", "ultravico", "freelong", "freelong-3-branches", "both"])
def test_one_graph_and_the_eager_output(methods):
    """...and the graph holds no complex tensor (Inductor cannot generate code for one: the band fusion's
    matrices are built in real arithmetic) and dynamo does not trace through a cache (no warning)."""
    model = tiny_transformer()
    if methods:
        vidlong.apply(model, *methods, native_frames=2, kernel="dense")
    inputs = transformer_inputs(6)
    graphs = []

    def recording_backend(graph_module, example_inputs):
        graphs.append(graph_module)
        return graph_module.forward

    torch._dynamo.reset()
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        eager = model(**inputs)[0]
        compiled = torch.compile(model, backend=recording_backend, fullgraph=True)(**inputs)[0]
    assert torch.allclose(compiled, eager, atol=1e-6, rtol=1e-5)
    values = [node.meta.get("example_value") for graph in graphs for node in graph.graph.nodes]
    assert len(graphs) == 1 and not any(isinstance(v, torch.Tensor) and v.is_complex() for v in values)
    assert not [w for w in caught if "lru_cache" in str(w.message)]


def test_a_graph_break_in_the_kernel_resumes_with_the_plan_cache_intact(monkeypatch):
    """At a graph break dynamo rebuilds what the traced forward made before it, the plan cache among
    them: keyed by `TokenLayout` objects, torch 2.11 hashed a layout before its fields were set
    (AttributeError 'frames'; the fused kernel's launch breaks the graph there). Keyed by the layout's
    ints, the forward resumes and gives the eager output."""
    from torch._dynamo.utils import counters

    from vidlong.attention.kernels import dense

    eager_call = dense.DenseKernel.__call__

    def breaking_call(self, *args):
        torch._dynamo.graph_break()
        return eager_call(self, *args)

    eager_model, model = tiny_transformer(), tiny_transformer()  # the compiled one builds its plan in the trace
    for m in (eager_model, model):
        vidlong.apply(m, vidlong.UltraViCo(), native_frames=2, kernel="dense")
    inputs = transformer_inputs(6)
    with torch.no_grad():
        eager = eager_model(**inputs)[0]
        monkeypatch.setattr(dense.DenseKernel, "__call__", breaking_call)
        torch._dynamo.reset()
        counters.clear()
        compiled = torch.compile(model, backend="eager")(**inputs)[0]
    assert sum(counters["graph_break"].values()) >= 1
    assert torch.allclose(compiled, eager, atol=1e-6, rtol=1e-5)


def test_regional_compilation_compiles_one_block_for_every_layer():
    """diffusers' `compile_repeated_blocks` compiles one block's code and reuses it for every layer: with
    vidlong's methods applied the layers must stay alike (no hook on the attention modules, no state
    that changes after the first call), or dynamo recompiles per layer and, past its limit, runs eager."""
    from torch._dynamo.utils import counters

    model = tiny_transformer(layers=3)
    vidlong.apply(model, vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,)), native_frames=2, kernel="dense")
    inputs = transformer_inputs(6)
    with torch.no_grad():
        eager = model(**inputs)[0]
        torch._dynamo.reset()
        counters.clear()
        model.compile_repeated_blocks(backend="eager", fullgraph=True)
        first = model(**inputs)[0]
        second = model(**inputs)[0]
    assert counters["stats"]["unique_graphs"] == 1  # one graph for the three blocks, over two forwards
    assert torch.allclose(first, eager, atol=1e-6, rtol=1e-5) and torch.equal(first, second)
    vidlong.remove(model)
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for b in model.blocks)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kernel", ["fused", "fused-int8"])
@pytest.mark.parametrize("methods", [[vidlong.UltraViCo()], [vidlong.SpectralFusion(windows=(1,))],
                                     [vidlong.UltraViCo(), vidlong.SpectralFusion(windows=(1,))]],
                         ids=["ultravico", "freelong", "both"])
def test_the_fused_kernel_compiles_without_graph_breaks_on_cuda(methods, kernel):
    """The Triton kernel launched from inside the traced processor: dynamo's own account of the
    graph breaks (their reasons in the failure message)."""
    needed = required_capability(*FUSED_KERNELS[kernel])
    if torch.cuda.get_device_capability() < needed:
        pytest.skip(f"{kernel} needs compute capability {needed[0]}.{needed[1]}")
    model = tiny_transformer(head_dim=64).cuda()
    vidlong.apply(model, *methods, native_frames=2, kernel=kernel)
    inputs = {k: v.cuda() if torch.is_tensor(v) else v for k, v in transformer_inputs(6).items()}
    torch._dynamo.reset()
    with torch.no_grad():
        explained = torch._dynamo.explain(model)(**inputs)
    reasons = sorted({b.reason.splitlines()[0] + (f" ({b.user_stack[-1].filename}:{b.user_stack[-1].lineno})"
                                                   if b.user_stack else "") for b in explained.break_reasons})
    assert not reasons, "\n".join(reasons)



def _inductor_copies_user_kernels() -> bool:
    try:
        from torch._inductor.codegen import wrapper
    except ImportError:
        return False
    return hasattr(wrapper, "user_defined_triton_kernel_transitive_closure_source_code")


@pytest.mark.skipif(fused.triton is None or not _inductor_copies_user_kernels(),
                    reason="needs Triton and Inductor's copy of user-defined kernels (its private function)")
def test_inductors_copy_of_the_fused_kernel_defines_every_function_it_calls():
    """Inductor compiles a user-defined Triton kernel from its own copy of the source: the kernel and each
    Triton function it calls, written under its ``def`` name. A function called by an alias or through a module
    would be undefined there (a NameError on the GPU only), so every name called in the copy must be defined in it
    or be a builtin (``tl.*`` calls are attributes). Built in a process without the CPU tests' interpreter, which
    replaces the Triton functions Inductor walks."""
    script = ("from torch._inductor.codegen.wrapper import user_defined_triton_kernel_transitive_closure_source_code as c;"
              "from vidlong.attention.kernels import fused; print(c(fused._fused_attention))")
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    copied = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert copied.returncode == 0, copied.stderr[-2000:]
    tree = ast.parse(copied.stdout)
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "decay" in defined and "ring_parts" in defined
    assert not {name for name in called - defined if not hasattr(builtins, name)}
