"""`vidlong.progress`: `vidlong generate`'s one bar (`RunBar`) draws nothing before the run's total is known, then that total
at once; a second stage's `StepCount` hook leaves its module as it found it, even when a report ends the run; `generate`
names the denoising from its first forward on, not from its first step's end."""
import pytest
import torch

from tiny_pipeline import save_tiny_pipeline
from vidlong.errors import Stopped
from vidlong.generate import GenerateRequest, generate
from vidlong.pipeline import load_pipeline
from vidlong.progress import RunBar, StepCount


def test_the_bar_draws_nothing_before_its_total_then_the_plans_total_at_once(capsys):
    """A report before the plan (a stage not counted in steps) draws nothing: no "0step" bar without its total; the plan
    draws 0 of its total at once, and a stage it did not name adds its total as it reports."""
    with RunBar() as bar:
        bar("encode prompt", 0, 1)
        assert capsys.readouterr().err == ""
        bar.plan({"denoise": 8, "diffusion decode": 1})
        assert "0/9" in capsys.readouterr().err
        bar("refine", 0, 5)
        assert "refine:" in capsys.readouterr().err and bar.bar.total == 14
    capsys.readouterr()  # its close, clearing its line
    with RunBar(disable=True) as hidden:  # a --parallel run's rank other than 0
        hidden.plan({"denoise": 8})
        hidden("denoise", 8, 8)
    assert capsys.readouterr().err == ""


def test_a_step_counts_hook_is_removed_after_its_stage_even_when_a_report_stops_the_run():
    """`StepCount.hooked`: each forward of the module a step while it is hooked; a report that raises (the app's Stop) ends
    the stage and leaves no hook, so the module's next run (a kept decoder's next video) counts nothing twice."""
    reports = []

    def progress(stage, done, total):
        reports.append((stage, done, total))
        if done == 2:
            raise Stopped("stopped by its user")

    layer, steps = torch.nn.Linear(2, 2), StepCount("diffusion decode", 3, progress)
    steps.start()
    with pytest.raises(Stopped), steps.hooked(layer):
        for _ in range(3):
            layer(torch.zeros(1, 2))
    layer(torch.zeros(1, 2))
    assert reports == [("diffusion decode", done, 3) for done in range(3)] and not layer._forward_hooks


def test_the_first_denoising_step_runs_under_denoise_and_the_prompts_encoding_before_it(tmp_path):
    """On the tiny Wan, every forward of the text encoder runs under "encode prompt" and every transformer forward under
    "denoise", the first step's at 0 of its steps (its start reported at the first forward, not at the step's end); the
    start's hooks come off with the run."""
    pipe = load_pipeline(save_tiny_pipeline(tmp_path), device="cpu")
    pipe.set_progress_bar_config(disable=True)
    reports, text, denoising = [], [], []
    pipe.text_encoder.register_forward_hook(lambda *_: text.append(reports[-1][0]))
    pipe.transformer.register_forward_hook(lambda *_: denoising.append(reports[-1]))
    pre_hooks = dict(pipe.transformer._forward_pre_hooks)
    generate(pipe, GenerateRequest(prompt="a red circle", method="none", steps=2), progress=lambda *report: reports.append(report))
    assert text and set(text) == {"encode prompt"}
    assert denoising[0] == ("denoise", 0, 2) and [stage for stage, _, _ in denoising] == ["denoise"] * len(denoising)
    assert ("denoise", 1, 2) in denoising and reports[reports.index(("denoise", 0, 2)) - 1][0] == "encode prompt"
    assert pipe.transformer._forward_pre_hooks == pre_hooks
