"""`vidlong eval --grid timeline`: per-segment scores on videos whose truth is known, and the grid end to end."""
import csv
import json
from types import SimpleNamespace

import numpy as np
import pytest

from test_eval_runner import eval_main
from tiny_pipeline import save_tiny_pipeline
from training import shapes_world as sw
from vidlong.errors import VidlongError
from vidlong.eval import shapes
from vidlong.eval.timeline import TIMELINE_PAIRS, builtin_timelines, measure_timeline
from vidlong.models import spec_for_folder
from vidlong.video_io import read_video

#: Wan-like timing: 16 fps, 4 pixel frames per latent frame, a native window of 33 pixel frames
SPEC = SimpleNamespace(fps=16, temporal_ratio=4, native_pixel_frames=33, native_frames=9)


def two_clips():
    """Two ground-truth clips (65 frames each) whose prompts share no colour."""
    first = sw.make_clip(0, 0, num_frames=65)
    colours = {c for c, _ in shapes.parse_prompt(first.prompt)}
    second = next(clip for clip in (sw.make_clip(0, i, num_frames=65) for i in range(1, 50))
                  if not colours & {c for c, _ in shapes.parse_prompt(clip.prompt)})
    return first, second


def test_each_segment_is_scored_against_its_own_prompt():
    first, second = two_clips()
    prompt = f"0s: {first.prompt}; 2s: {second.prompt}"  # 2 s = pixel 32 -> latent 8 -> the cut at pixel 29
    lingering = np.concatenate([first.frames[:34], second.frames[:31]])  # the first clip runs 5 frames into segment 2
    stats = measure_timeline(lingering, prompt, SPEC)
    assert stats["worst_segment_own_objects"] == pytest.approx(31 / 36, abs=0.03)
    assert stats["own_objects"] == pytest.approx((1 + 31 / 36) / 2, abs=0.03)
    assert stats["previous_objects_after_window"] == 0  # frames 62..64: the second clip only

    stuck = first.frames  # the prompt never switches: segment 2 keeps segment 1's objects to the end
    stats = measure_timeline(stuck, prompt, SPEC)
    assert stats["worst_segment_own_objects"] == 0
    assert stats["previous_objects_after_window"] == pytest.approx(1, abs=0.01)

    short = np.concatenate([first.frames[:29], second.frames[:20]])  # segment 2 shorter than a native window
    assert np.isnan(measure_timeline(short, f"0s: {first.prompt}; 2s: {second.prompt}", SPEC)["previous_objects_after_window"])


def test_builtin_timelines_switch_in_the_middle_and_share_no_colour():
    for first, second in TIMELINE_PAIRS:
        assert not {c for c, _ in shapes.parse_prompt(first)} & {c for c, _ in shapes.parse_prompt(second)}
    prompts = builtin_timelines(SPEC, 4)  # 36 latent = 141 pixel frames = 8.81 s
    assert prompts[0] == f"0s: {TIMELINE_PAIRS[0][0]}; 4.41s: {TIMELINE_PAIRS[0][1]}"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def test_timeline_grid_end_to_end(model_dir, tmp_path):
    out = tmp_path / "eval"
    assert eval_main(["eval", "--grid", "timeline", "--model", str(model_dir), "--out", str(out), "--ratios", "2",
                      "--methods", "freelong,stream", "--seeds", "1", "--steps", "1", "--no-plots", "--no-progress"]) == 0
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(TIMELINE_PAIRS)
    for row in rows:
        assert row["prompt"].startswith("0s: ") and "s: " in row["prompt"].split(";")[1]
        for key in ("own_objects", "worst_segment_own_objects"):
            assert 0 <= float(row[f"timeline_{key}"]) <= 1
        assert "shapes_frac_frames_all_present" not in row or row["shapes_frac_frames_all_present"] == ""
    md = (out / "results.md").read_text()
    assert "## Prompt timeline, per segment (checker)" in md and "worst segment ↑" in md
    assert "| freelong | 2x | 4 |" in md and "| stream | 2x | 4 |" in md
    for row in (r for r in rows if r["method"] == "stream"):  # the stream switched to the second prompt mid-way
        first, second = (text.split(": ", 1)[1] for text in row["prompt"].split("; "))
        info = json.loads((out / row["video"]).with_suffix(".json").read_text())
        switches = info["stream_prompts"]
        assert switches[0] == [0, first] and switches[1][1] == second and 0 < switches[1][0] < info["stream_chunks"]


def test_a_fifo_stream_in_the_timeline_grid_switches_mid_way(model_dir, tmp_path):
    """``stream-fifo`` (``-cut``): a stream by diagonal denoising, switched at the first chunk past the switch's second;
    it makes its native video with the model's steps, so another --steps is refused in one line."""
    out, timelines = tmp_path / "eval", tmp_path / "timelines.txt"
    timelines.write_text(builtin_timelines(spec_for_folder(model_dir), 4)[0] + "\n")  # one of the grid's timelines
    assert eval_main(["eval", "--grid", "timeline", "--model", str(model_dir), "--out", str(out), "--ratios", "4",
                      "--prompts", str(timelines), "--methods", "stream-fifo,stream-fifo-cut", "--seeds", "1",
                      "--no-plots", "--no-progress"]) == 0  # 4 chunks of 3 latent frames
    with open(out / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and "| stream-fifo-cut | 4x | 1 |" in (out / "results.md").read_text()
    for row in rows:
        info = json.loads((out / row["video"]).with_suffix(".json").read_text())
        assert info["stream_sinks"] == 1 and 0 < info["stream_prompts"][1][0] < info["stream_chunks"]
    for prompt in {row["prompt"] for row in rows}:  # a cut and a blend: alike before the switch's chunk, apart in it
        cells = {row["method"]: out / row["video"] for row in rows if row["prompt"] == prompt}
        infos = {m: json.loads(path.with_suffix(".json").read_text()) for m, path in cells.items()}
        assert infos["stream-fifo"]["cut_on_prompt_switch"] is False and infos["stream-fifo-cut"]["cut_on_prompt_switch"] is True
        blend, cut = (read_video(cells[m])[0].astype(np.float32) for m in ("stream-fifo", "stream-fifo-cut"))
        start = 9 + 12 * (infos["stream-fifo"]["stream_prompts"][1][0] - 1)  # chunk 0: 9 pixel frames, then 12 a chunk
        before, during = np.abs(blend[:9] - cut[:9]).mean(), np.abs(blend[start:start + 12] - cut[start:start + 12]).mean()
        assert before < 2 and during > before + 2, (prompt, before, during)
    with pytest.raises(VidlongError, match="stream-fifo makes its native video with the model's 2 steps"):
        eval_main(["eval", "--grid", "timeline", "--model", str(model_dir), "--out", str(out), "--ratios", "2",
                   "--methods", "stream-fifo", "--steps", "1"])


def test_timeline_grid_refusals_are_one_line(model_dir, tmp_path):
    (tmp_path / "plain.txt").write_text("a red circle\n")
    (tmp_path / "late.txt").write_text("0s: a red circle; 60s: a blue square\n")
    base = ["eval", "--grid", "timeline", "--model", str(model_dir), "--out", str(tmp_path / "eval"), "--ratios", "2"]
    cases = [(["--prompts", str(tmp_path / "plain.txt")], "needs prompt timelines"),
             (["--prompts", str(tmp_path / "late.txt")], "starts a prompt at 60s but the video lasts")]
    import yaml
    from tiny_pipeline import tiny_cogvideox_pipeline

    cogvideox = tmp_path / "cogvideox"  # its cross-attention does not follow a timeline: the fix is this command's
    tiny_cogvideox_pipeline().save_pretrained(cogvideox)
    (cogvideox / "vidlong.yaml").write_text(yaml.safe_dump(dict(name="tiny-cog", native_frames=3, fps=8, height=32, width=48,
                                                                num_inference_steps=1, guidance_scale=2.0)))
    cases.append((["--model", str(cogvideox)], "prompt timelines need a Wan .* text-to-video model; drop --grid timeline"))
    for extra, message in cases:
        with pytest.raises(VidlongError, match=message) as err:
            eval_main(base + extra)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "eval" / "results.csv").exists()
