"""`vidlong eval` on the tiny local WanPipeline: results.csv / results.md / plots, resuming, bad input."""
import argparse
import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import vidlong.eval.runner as runner
from vidlong.errors import VidlongError
from vidlong.eval.cli import add_eval_parser
from vidlong.eval.metrics import DIRECTION
from vidlong.video_io import read_video
from tiny_pipeline import save_tiny_pipeline


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny-wan"))


def eval_main(argv):
    """`vidlong eval ...` through its own parser, handled as vidlong.cli.main handles errors."""
    parser = argparse.ArgumentParser(prog="vidlong")
    add_eval_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


def small_eval(model_dir, out, *extra, plots=False):
    """The arguments of a small `vidlong eval` (1 step, 1 seed, direct and stream at 1x and 2x); drawing no plots unless
    `plots`."""
    return ["eval", "--model", str(model_dir), "--out", str(out), "--methods", "direct,stream", "--ratios", "1,2",
            "--prompts", str(out.parent / "prompts.txt"), "--seeds", "1", "--steps", "1", *([] if plots else ["--no-plots"]),
            "--no-progress", *extra]


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_small_eval_writes_table_plots_and_resumes(model_dir, tmp_path, monkeypatch, capsys):
    (tmp_path / "prompts.txt").write_text("# one prompt\na red circle bouncing\n\n")
    out = tmp_path / "eval"
    assert eval_main(small_eval(model_dir, out, plots=True)) == 0

    rows = rows_of(out / "results.csv")
    assert sorted((r["method"], float(r["ratio"])) for r in rows) == [("direct", 1), ("direct", 2), ("stream", 1), ("stream", 2)]
    for r in rows:
        assert r["prompt"] == "a red circle bouncing" and r["seed"] == "0" and r["steps"] == "1"
        latent = round(float(r["ratio"]) * 3)  # tiny model: native 3 latent frames
        assert int(r["latent_frames"]) == latent and int(r["pixel_frames"]) == 4 * (latent - 1) + 1
        assert (out / r["video"]).is_file()
        for metric in DIRECTION:
            assert metric in r
        assert float(r["dynamic_degree"]) >= 0 and float(r["sharpness"]) >= 0
        assert r["shapes_num_prompted"] == "1"  # a shapes prompt: the checker ran
    assert {r["repetition"] for r in rows if r["ratio"] == "1.0"} == {"nan"}  # 1x: no lag beyond native
    assert all(r["noise"] == "plain" for r in rows)

    md = (out / "results.md").read_text()
    assert "| method | ratio | n | flow magnitude | dynamic degree ↑ |" in md
    assert "temporal flicker ↓" in md and "repetition ↓" in md and "all present ↑" in md
    assert md.count("| direct | 2x | 1 |") == 2 and md.count("| stream | 1x | 1 |") == 2  # both tables
    assert "stream: a first chunk of " in md and "read from the rolling KV cache" in md  # the tiny model's context
    assert "ratio preset" not in md  # it names the methods a preset drives only when the table ran one
    for metric in [m for m in DIRECTION if m != "repetition_lag"] + ["shapes_frac_frames_all_present"]:
        png = out / f"{metric}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # a rerun measures nothing again and generates nothing
    def fail(*a, **k):
        raise AssertionError("a finished cell was generated again")
    monkeypatch.setattr(runner, "generate", fail)
    monkeypatch.setattr(runner, "_load", fail)
    before = (out / "results.csv").read_text()
    drawn = {png: png.stat().st_mtime_ns for png in out.glob("*.png")}
    outcome = runner.run_eval(runner.EvalConfig(model=str(model_dir), out=str(out), prompts=["a red circle bouncing"],
                                                ratios=[1, 2], methods=["direct", "stream"], seeds=1, steps=1, plots=False),
                              progress=False)
    assert not [f for f in outcome.files if f.suffix == ".png"]  # plots=False (--no-plots): none drawn, the first run's kept
    assert drawn and {png: png.stat().st_mtime_ns for png in out.glob("*.png")} == drawn
    assert (outcome.generated, outcome.from_video, outcome.skipped) == (0, 0, 4)
    assert (out / "results.csv").read_text() == before

    # a cell whose video exists but whose row was lost is measured from the saved video
    (out / "results.csv").write_text("".join(before.splitlines(keepends=True)[:3]))  # header + 2 rows
    assert eval_main(small_eval(model_dir, out)) == 0
    assert len(rows_of(out / "results.csv")) == 4
    assert (out / "results.csv").read_text().count("a red circle bouncing") == 4

    # a row cut short (a copy or an edit that lost its end) is measured again from its video, and named
    whole = (out / "results.csv").read_text()
    (out / "results.csv").write_text(whole[:whole.rindex(",", 0, len(whole) - 200)] + "\n")
    capsys.readouterr()
    assert eval_main(small_eval(model_dir, out)) == 0
    assert "results.csv line 5 is cut short; measuring its cell again" in capsys.readouterr().err
    assert len(rows_of(out / "results.csv")) == 4 and all(None not in r.values() for r in rows_of(out / "results.csv"))

    # a damaged saved video is named and made again, not a stop at that cell on every rerun
    damaged = out / rows_of(out / "results.csv")[0]["video"]
    damaged.write_bytes(damaged.read_bytes()[:200])
    (out / "results.csv").unlink()
    monkeypatch.undo()
    capsys.readouterr()
    outcome = runner.run_eval(runner.EvalConfig(model=str(model_dir), out=str(out), prompts=["a red circle bouncing"],
                                                ratios=[1, 2], methods=["direct", "stream"], seeds=1, steps=1, plots=False),
                              progress=False)
    assert (outcome.generated, outcome.from_video) == (1, 3)
    assert f"{damaged} is damaged" in capsys.readouterr().err
    assert len(read_video(damaged)[0]) > 0


def test_a_second_run_is_refused_while_the_first_runs_and_new_weights_are_evaluated_again(model_dir, tmp_path):
    """Two runs into one --out: the second is refused in one line (it would rewrite results.csv from its own rows and
    drop the first's), with nothing written; once the first ends, the folder is free. Then new weights in the model folder
    ("retrained") make new cells, not resumed ones, and the table holds the new weights' alone."""
    import shutil

    from safetensors.torch import load_file, save_file

    from vidlong.eval.runner import exclusive_folder

    model = shutil.copytree(model_dir, tmp_path / "model")
    out = tmp_path / "eval"
    out.mkdir()
    config = runner.EvalConfig(model=str(model), out=str(out), prompts=["a red circle"], ratios=[1],
                               methods=["direct"], seeds=1, steps=1, plots=False)
    with exclusive_folder(out):  # the first run, at work
        with pytest.raises(VidlongError, match=f"^another vidlong eval is writing to {out}; wait for it to end, or give"):
            runner.run_eval(config, progress=False)
        assert not (out / "results.csv").exists()
    first = runner.run_eval(config, progress=False)  # the folder is free again
    weights_file = next((model / "transformer").glob("*.safetensors"))
    tensors = load_file(weights_file)
    save_file({k: v + 0.01 for k, v in tensors.items()}, weights_file)  # "retrained"
    second = runner.run_eval(config, progress=False)

    assert (first.generated, second.generated, second.skipped) == (1, 1, 0)
    rows = rows_of(tmp_path / "eval" / "results.csv")
    assert len({r["weights"] for r in rows}) == 2 and len({r["video"] for r in rows}) == 2
    assert [r["weights"] for r in second.rows] == [rows[-1]["weights"]]  # the table: the new weights only
    assert f"weights `{rows[-1]['weights']}`" in (tmp_path / "eval" / "results.md").read_text()


def test_bad_input_is_one_line_error(model_dir, tmp_path):
    (tmp_path / "prompts.txt").write_text("a red circle\n")
    (tmp_path / "l1.safetensors").write_bytes(b"")
    out = tmp_path / "eval"
    cases = [
        (["--methods", "direct,magic"], "unknown method 'magic'"),
        (["--ratios", "1,0"], "every ratio must be > 0"),
        (["--ratios", "1,-2"], "every ratio must be > 0"),
        (["--ratios", "one"], "--ratios takes numbers"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--first-seed", "-1"], "--first-seed must be a whole number from 0 to"),
        (["--first-seed", str(2**64)], "--first-seed must be a whole number from 0 to 9223372036854775807"),
        (["--steps", str(10**20)], "--steps must be a whole number from 1 to 1000"),
        (["--guidance", "nan"], "--guidance must be a finite number, got nan"),
        (["--guidance", "-5"], "--guidance must be >= 0, got -5.0"),
        (["--device", "bogus"], "(--device) 'bogus' is not a device; use cpu, cuda or cuda:N"),
        (["--out", ""], "--out is empty; give the folder"),
        (["--out", str(tmp_path / ("e" * 240))], "its name is 240 bytes, and this file system takes"),
        (["--lora", f"{tmp_path / 'l1.safetensors'}:abc"], "('abc' after the colon is no number: FILE:SCALE takes one, as 0.8)"),
        (["--ratios", "0.3"], "fewer than 2 latent frames"),
        (["--methods", "direct", "--stream-chunk", "1"], "--methods has no stream; add stream to --methods or drop --stream-chunk"),
        (["--methods", "stream", "--stream-chunk", "99"], "--stream-chunk 99 exceeds the native window of tiny-wan2.1 (3 latent frames)"),
        (["--methods", "direct", "--ratios", "1,30"], "90 latent frames is more than this model's RoPE table places"),
        (["--methods", "fifo", "--partition-guidance", "3,4"], "--partition-guidance takes 3 numbers from 1 to 100"),
        (["--methods", "direct", "--partition-guidance", "3,4,5"], "--methods has none; add fifo, stream-fifo or stream-fifo-cut"),
        (["--methods", "fifo", "--noise-correlation", "1.5"],
         "noise_correlation (--noise-correlation) must be a number from 0 up to (not"),
        (["--methods", "direct", "--noise-correlation", "0.5"],
         "--noise-correlation sets the fifo methods' queue noise, and --methods has none"),
    ]
    for extra, message in cases:
        with pytest.raises(VidlongError, match=re.escape(message)) as err:
            eval_main(small_eval(model_dir, out, *extra))
        assert "\n" not in str(err.value)
    with pytest.raises(VidlongError, match="prompts file .* does not exist"):
        eval_main(small_eval(model_dir, out)[:-1] + ["--prompts", str(tmp_path / "missing.txt"), "--no-progress"])
    (tmp_path / "empty.txt").write_text("\n# only a comment\n")
    with pytest.raises(VidlongError, match="holds no prompts"):
        eval_main(["eval", "--model", str(model_dir), "--out", str(out), "--prompts", str(tmp_path / "empty.txt")])
    (tmp_path / "latin1.txt").write_bytes("une balle élancée\n".encode("latin-1"))
    for prompts, message in ((tmp_path, "is a folder; give a text file"), (tmp_path / "latin1.txt", "is not UTF-8 text")):
        with pytest.raises(VidlongError, match=message):
            eval_main(["eval", "--model", str(model_dir), "--out", str(out), "--prompts", str(prompts)])
    with pytest.raises(VidlongError, match="does not exist"):
        eval_main(["eval", "--model", str(tmp_path / "nowhere"), "--out", str(out)])
    assert not out.exists()  # nothing generated or written, not even the folder


def test_each_method_starts_from_its_papers_noise_unless_a_suffix_forces_it(model_dir, tmp_path):
    """UltraViCo as published (plain noise, with the 2x preset's settings), FreeLong++ with its SpecMix,
    SpecMix alone as `direct+specmix`, FreeNoise's noise by suffix; the `noise` column says which each video
    used. `--first-seed` picks the seeds."""
    (tmp_path / "prompts.txt").write_text("a red circle\n")
    out = tmp_path / "e"
    assert eval_main(["eval", "--model", str(model_dir), "--out", str(out), "--ratios", "2", "--seeds", "1", "--steps", "1",
                      "--methods", "ultravico,freelong,direct+specmix,ultravico+specmix,both-global,both-anchored,freelong+freenoise",
                      "--first-seed", "20", "--prompts", str(tmp_path / "prompts.txt"), "--no-plots", "--no-progress"]) == 0
    rows = rows_of(out / "results.csv")
    noise = {r["method"]: (r["noise"], r["preset"]) for r in rows}
    assert noise == {"ultravico": ("plain", "2x"), "freelong": ("specmix", "2x"), "direct+specmix": ("specmix", ""),
                     "ultravico+specmix": ("specmix", "2x"), "both-global": ("specmix", "2x"),
                     "both-anchored": ("specmix", "2x"), "freelong+freenoise": ("freenoise", "2x")}
    assert {r["seed"] for r in rows} == {"20"}
    with pytest.raises(VidlongError, match="unknown method 'stream\\+plain'"):
        eval_main(small_eval(model_dir, out, "--methods", "stream+plain"))


def test_markdown_table_means_over_prompts_and_seeds():
    rows = [dict(method="direct", ratio="2.0", seconds="1", dynamic_degree=str(v), repetition="nan",
                 shapes_frac_frames_all_present="") for v in (0.2, 0.4)]
    table = runner.aggregate(rows, ["direct", "freelong"], [2.0])
    assert table["cells"][("direct", 2.0)]["n"] == 2
    assert table["cells"][("direct", 2.0)]["dynamic_degree"][0] == pytest.approx(0.3)
    assert ("direct", 2.0) in table["cells"] and ("freelong", 2.0) not in table["cells"]
    md = runner.results_markdown(table, dict(model="m", weights="0123abcd4567", native_frames=3, native_pixel_frames=9,
                                             steps=2, guidance=1.0, noise="method", prompts=1, seeds=2, command="vidlong eval --out x"))
    assert "| direct | 2x | 2 |" in md and "0.300" in md and "–" in md  # NaN repetition shown as a dash
    assert "Shapes-world" not in md  # no checker column had a value


def test_the_report_names_a_streams_own_guidance_where_it_differs():
    """A model whose streams take their own guidance (`default-causal`'s ``stream_guidance: 4.5``; generate's is 3) has
    it named on the report's stream line; where a stream runs at the header's steps and guidance, the line says nothing."""
    rows = [dict(method="stream", ratio="4.0", seconds="1", dynamic_degree="0.1")]
    header = dict(model="m", weights="0123abcd4567", native_frames=9, native_pixel_frames=33, steps=20, guidance=3.0,
                  noise="method", prompts=1, seeds=1, stream_chunk=3, stream_first_chunk=3, stream_context="cache",
                  stream_steps=20, stream_guidance=4.5)
    table = runner.aggregate(rows, ["stream"], [4.0])
    assert "each chunk at 20 steps and guidance 4.5 (a stream's own settings); " in runner.results_markdown(table, header)
    same = runner.results_markdown(table, dict(header, stream_guidance=3.0))
    assert "a stream's own settings" not in same and "read from the rolling KV cache; the video is cut" in same


def test_plots_of_columns_the_table_no_longer_has_are_removed(tmp_path):
    """A shapes-world plot left by an earlier run into the folder goes when this run's table has no shapes column; a
    file of another name stays."""
    rows = [dict(method="direct", ratio="2.0", seconds="1", dynamic_degree=str(v), shapes_frac_frames_all_present="")
            for v in (0.2, 0.4)]
    for name in ("shapes_frac_frames_all_present.png", "my_notes.png"):
        (tmp_path / name).write_bytes(b"png")
    drawn = runner.write_plots(runner.aggregate(rows, ["direct"], [2.0]), ["direct"], [2.0], tmp_path)
    assert tmp_path / "dynamic_degree.png" in drawn
    assert not (tmp_path / "shapes_frac_frames_all_present.png").exists() and (tmp_path / "my_notes.png").exists()


def test_module_entry_point_exits_2_with_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "vidlong.eval", "--out", str(tmp_path / "e"), "--methods", "magic"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("vidlong: error: unknown method 'magic'")


def test_weights_fingerprint_follows_the_weight_files(tmp_path):
    from vidlong.files import FINGERPRINT_SPAN, weights_fingerprint

    a, b = tmp_path / "a", tmp_path / "b"
    for folder in (a, b):
        (folder / "transformer").mkdir(parents=True)
        (folder / "transformer" / "w.safetensors").write_bytes(bytes(3 * FINGERPRINT_SPAN))
        (folder / "model_index.json").write_text("{}")
    assert weights_fingerprint(a) == weights_fingerprint(b)  # the same weights elsewhere
    (b / "model_index.json").write_text('{"x": 1}')
    assert weights_fingerprint(a) == weights_fingerprint(b)  # configs are not weights
    for edit in (lambda d: d.__setitem__(0, 1), lambda d: d.__setitem__(-1, 1), lambda d: d.append(0)):
        data = bytearray(bytes(3 * FINGERPRINT_SPAN))
        edit(data)
        (b / "transformer" / "w.safetensors").write_bytes(bytes(data))
        assert weights_fingerprint(a) != weights_fingerprint(b)
    assert weights_fingerprint(tmp_path / "a" / "transformer") != weights_fingerprint(a)  # paths count
    data = bytearray(bytes(3 * FINGERPRINT_SPAN))
    data[len(data) // 2] = 1  # a tensor in the middle (a partial fine-tune): a file up to 1 GiB is read whole
    (b / "transformer" / "w.safetensors").write_bytes(bytes(data))
    assert weights_fingerprint(a) != weights_fingerprint(b)
    (tmp_path / "empty").mkdir()
    assert weights_fingerprint(tmp_path / "empty") == "none"


def test_a_large_weight_files_fingerprint_reads_spans_across_it(tmp_path, monkeypatch):
    """A file over `FINGERPRINT_WHOLE` is read at its ends and at evenly spaced spans: a change of one sample's width
    anywhere in it changes the fingerprint (here every byte lies in a span: 1024 spans of 64 KiB over 8 MiB)."""
    import vidlong.files as files

    monkeypatch.setattr(files, "FINGERPRINT_WHOLE", 0)
    size = 8 << 20
    (tmp_path / "w.safetensors").write_bytes(bytes(size))
    stock = files.weights_fingerprint(tmp_path)
    for at in (size // 3, size // 2 + 12345, size - files.FINGERPRINT_SPAN - 1):
        data = bytearray(size)
        data[at] = 1
        (tmp_path / "w.safetensors").write_bytes(bytes(data))
        assert files.weights_fingerprint(tmp_path) != stock, at


def test_a_stream_cell_takes_the_models_own_sampler_steps_and_guidance(model_dir, tmp_path):
    """Without --steps/--guidance a stream cell uses the model's streaming defaults (here its causal
    sampler's 2 levels at guidance 1), not the generate steps; the row records what ran."""
    import shutil

    import yaml

    folder = Path(shutil.copytree(model_dir, tmp_path / "causal"))
    spec = yaml.safe_load((folder / "vidlong.yaml").read_text())
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(dict(spec, num_inference_steps=3, stream_sampler="causal",
                                                             stream_timesteps=[1000, 500])))
    out = tmp_path / "eval"
    runner.run_eval(runner.EvalConfig(model=str(folder), out=str(out), prompts=["a red circle"], ratios=[1],
                                      methods=["direct", "stream"], seeds=1, plots=False), progress=False)
    rows = {r["method"]: r for r in rows_of(out / "results.csv")}
    assert (rows["stream"]["steps"], float(rows["stream"]["guidance"])) == ("2", 1.0)
    assert (rows["direct"]["steps"], float(rows["direct"]["guidance"])) == ("3", 2.0)
    # a rerun finds both cells done (the stream's key is its own settings'), and the table holds both
    outcome = runner.run_eval(runner.EvalConfig(model=str(folder), out=str(out), prompts=["a red circle"], ratios=[1],
                                                methods=["direct", "stream"], seeds=1, plots=False), progress=False)
    assert (outcome.generated, outcome.from_video, outcome.skipped) == (0, 0, 2)
    assert len(rows_of(out / "results.csv")) == 2 and len(outcome.rows) == 2
    assert "| stream | 1x | 1 |" in (out / "results.md").read_text()


def test_a_stream_chunk_makes_new_stream_cells(model_dir, tmp_path):
    """``--stream-chunk`` other than the default makes new stream cells (in results.csv's key and the video's name: a
    rerun reused the other chunk's videos); the default chunk given by number resumes the default's cells, and the
    other methods' cells are resumed."""
    out = tmp_path / "eval"

    def run(chunk):
        return runner.run_eval(runner.EvalConfig(model=str(model_dir), out=str(out), prompts=["a red circle"], ratios=[2],
                                                 methods=["direct", "stream"], seeds=1, steps=1, stream_chunk=chunk, plots=False),
                               progress=False)

    first, other, same = run(None), run(2), run(1)  # the tiny model's native 3 latent frames: a default chunk of 1
    assert (first.generated, other.generated, other.skipped, same.generated, same.skipped) == (2, 1, 1, 0, 2)
    rows = {(r["method"], r["stream_chunk"]): r for r in rows_of(out / "results.csv")}
    assert set(rows) == {("direct", ""), ("stream", ""), ("stream", "2")}
    assert "-chunk2" in rows[("stream", "2")]["video"] and "-chunk" not in rows[("stream", "")]["video"]
    assert [r["stream_chunk"] for r in other.rows if r["method"] == "stream"] == ["2"]


#: the fifo methods' options: (flag, value, results.csv column, the video name's part, results.md's words)
FIFO_OPTIONS = (("--partition-guidance", "1,4,8", "partition_guidance", "-pg1-4-8",
                 "the fifo methods' queue by partition, cleanest first: 1,4,8"),
                ("--noise-correlation", "0.5", "noise_correlation", "-nc0.5",
                 "the fifo methods' new queue frames' noise correlated by 0.5"))


def test_fifo_options_make_new_fifo_cells(model_dir, tmp_path):
    """``--partition-guidance`` (the queue guided by partition) and ``--noise-correlation`` (its new frames' noise
    correlated), each given to a run after a plain one, reach the fifo methods: their cells are new cells (in
    results.csv's key and the video's name), the other methods' are the same ones, resumed; results.md says which."""
    (tmp_path / "prompts.txt").write_text("a red circle\n")
    argv = ["eval", "--model", str(model_dir), "--methods", "direct,fifo", "--ratios", "4",
            "--prompts", str(tmp_path / "prompts.txt"), "--seeds", "1", "--steps", "2", "--no-plots", "--no-progress"]
    plain_run = tmp_path / "plain"
    assert eval_main(argv + ["--out", str(plain_run)]) == 0
    for flag, value, column, name_part, described in FIFO_OPTIONS:
        out = tmp_path / column
        shutil.copytree(plain_run, out)  # the plain run's cells, resumed by this run
        assert eval_main(argv + ["--out", str(out), flag, value]) == 0
        with open(out / "results.csv", newline="") as f:
            rows = {(r["method"], r[column]): r for r in csv.DictReader(f)}
        assert set(rows) == {("direct", ""), ("fifo", ""), ("fifo", value)}, flag  # direct was measured once
        plain, changed = (read_video(out / rows[("fifo", v)]["video"])[0].astype(float) for v in ("", value))
        # the queue's frames changed, the native video's first frame did not
        assert np.abs(plain[-8:] - changed[-8:]).mean() > 4 * np.abs(plain[:1] - changed[:1]).mean() + 0.1, flag
        assert name_part in rows[("fifo", value)]["video"]
        assert described in (out / "results.md").read_text()


def test_fifo_labels_are_exact_and_the_python_fields_are_named():
    assert runner.fifo_label("fifo", (4.5, 6.0, 7.5000001)) == "4.5,6,7.5000001"  # never merged with 7.5
    assert runner.fifo_label("fifo", 0.0) == runner.fifo_label("direct", 0.5) == ""
    with pytest.raises(VidlongError, match=r"^partition_guidance takes one number from 1 to 100 per partition"):
        runner.EvalConfig(methods=["fifo"], partition_guidance=4.5)  # the Python API's field named
