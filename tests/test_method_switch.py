"""A time-varying schedule (`both-then-window`): UltraViCo + FreeLong++ for the first half of the
denoising steps, then the plain sliding window; the switch happens once, between the right steps."""
import numpy as np
import pytest

from tiny_pipeline import save_tiny_pipeline
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import method_switch
from vidlong.pipeline import load_pipeline


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return load_pipeline(save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan")), device="cpu")


def test_the_methods_switch_after_half_the_steps(pipe, monkeypatch):
    events = []
    apply = pipe.apply

    def recording_apply(*methods, **kwargs):
        events.append(("apply", tuple(type(m).__name__ for m in methods)))
        return apply(*methods, **kwargs)

    monkeypatch.setattr(pipe, "apply", recording_apply)
    request = dict(prompt="a red circle", ratio=2, steps=4)
    result = generate(pipe, GenerateRequest(method="both-then-window", **request),
                      progress=lambda stage, done, total: events.append((stage, done)) if stage == "denoise" else None)
    assert events == [("apply", ("UltraViCo", "SpectralFusion")), ("denoise", 0), ("denoise", 1),
                      ("apply", ("SlidingWindow",)), ("denoise", 2), ("denoise", 3), ("denoise", 4)]
    assert result.settings["methods_after_step"]["step"] == 2
    assert [m["name"] for m in result.settings["methods_after_step"]["methods"]] == ["SlidingWindow"]
    assert all(type(b.attn1.processor).__name__ == "WanAttnProcessor" for b in pipe.transformer.blocks)  # removed after
    monkeypatch.undo()
    for alone in ("both", "window"):  # each phase changed the video
        assert not np.array_equal(result.frames, generate(pipe, GenerateRequest(method=alone, **request)).frames), alone


def test_only_switching_methods_have_a_switch():
    assert method_switch("both", 20) is None
    step, methods = method_switch("both-then-window", 20)
    assert step == 10 and [type(m).__name__ for m in methods] == ["SlidingWindow"]
    assert method_switch("both-then-window", 1)[0] == 1  # one step: the switch comes after it, changing nothing
