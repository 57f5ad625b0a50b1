"""Sana-WM (the camera-controlled world model) through its family adapter and pipeline: the methods act on the two softmax
branches of its softmax blocks (the main branch, RoPE on q and k; the camera branch, q/k/v in UCPE's ray space, heads padded
to 128 channels), its gated-delta-rule blocks stock. Methods off = the stock model bit for bit; each method equal to a
float64 reference (RoPE and UCPE written out, attention from `reference`); `generate` with no method = diffusers'
`SanaWMPipeline` bit for bit; `vidlong generate --camera` with each method writes the mp4; bad camera files, streams,
extensions and the refiner refused in one line before loading."""

import json
import re

import numpy as np
import pytest
import torch
from conftest import assert_image_to_video_is_the_stock_call, sana_wm_inputs, tiny_sana_wm_transformer
from family_checks import (check_cli_generate, check_float64_reference, check_methods_off_and_removed,
                           check_refused_before_loading, info_of_a_bare_copy)
from PIL import Image
from reference import method_attention

import vidlong
from vidlong.attention.adapters.sana_wm import SANA_WM

NATIVE = 2  # latent frames
TEMPORAL = 8  # pixel frames a latent frame (LTX-2's VAE)
GRID = (4, 6)  # token rows, columns (patch 1)
METHODS = {"ultravico": vidlong.UltraViCo(alpha=0.8), "fusion": vidlong.SpectralFusion(windows=(1,))}


def run(model, frames=4 * NATIVE, dtype=torch.float32):
    return model(**sana_wm_inputs(frames, dtype=dtype))[0]


def test_methods_off_and_removed_are_stock_bit_for_bit():
    """Its branch modules take vidlong's processor in their place and come back on removal; a neutral plan runs their own
    bfloat16 SDPA (the camera branch's padded heads too). One softmax block after a gated-delta-rule one: two branches."""
    check_methods_off_and_removed(tiny_sana_wm_transformer, run, SANA_WM.self_attentions, "StockBranch", 2, NATIVE)


def rope_pairs(x, table):
    """Complex RoPE in float64 on channel pairs ``(x[2i], x[2i + 1])`` of ``[B, N, H, D']`` (`table` ``[1, 1, N, D' / 2]``)."""
    pairs = torch.view_as_complex(x.unflatten(-1, (-1, 2)).contiguous())
    return torch.view_as_real(pairs * table[0, 0, :, None].to(torch.complex128)).flatten(-2)


def ucpe(x, matrix, table, inverse=False):
    """UCPE in float64 on ``[B, N, H, D]``: the first half of each head's channels in groups of 4 times its token's 4x4
    `matrix` ``[B, N, 4, 4]``, the second half rotated by `table` (conjugated where `inverse`)."""
    half = x.shape[-1] // 2
    grouped = x[..., :half].unflatten(-1, (-1, 4))
    projected = torch.einsum("bnij,bnhkj->bnhki", matrix.double(), grouped).flatten(-2)
    return torch.cat([projected, rope_pairs(x[..., half:], table.conj() if inverse else table)], dim=-1)


def shrunk(reference, x):
    """`x` scaled down per token and head to `reference`'s RMS over the channels (never up), float64."""
    def rms(t):
        return (t.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt()

    return x * (rms(reference) / rms(x).clamp_min(1e-6)).clamp(max=1.0)


class ReferenceAttention:
    """The methods' float64 math on one Sana-WM softmax branch: the main branch's q and k rotated by its RoPE; the camera
    branch's q/k/v through UCPE (q by ``P_T``, k and v by ``P_inv``) shrunk to their RMS, zero-padded to 128 channels, the
    output cut back and decoded by ``P``; heads joined."""

    def __init__(self, method, frames):
        self.method, self.frames = method, frames

    def __call__(self, attn, hidden_states, attention_mask=None, rotary_emb=None):
        key, value, _ = attn.pending
        q, k, v = hidden_states.double(), key.double(), value.double()
        if not attn.camera:
            q, k = rope_pairs(q, rotary_emb), rope_pairs(k, rotary_emb)
            return method_attention(self.method, q, k, v, self.frames, GRID, NATIVE).flatten(2)
        to_world, to_query, to_keys, table = rotary_emb
        q, k, v = (shrunk(x, ucpe(x, m, table)) for x, m in ((q, to_query), (k, to_keys), (v, to_keys)))
        q, k, v = (torch.nn.functional.pad(x, (0, 128 - x.shape[-1])) for x in (q, k, v))
        out = method_attention(self.method, q, k, v, self.frames, GRID, NATIVE)[..., :key.shape[-1]]
        return ucpe(out, to_world, table, inverse=True).flatten(2)


@pytest.mark.parametrize("method", list(METHODS.values()), ids=list(METHODS))
def test_transformer_with_a_method_matches_float64_reference(method):
    """At 4x the native window, in float32 on the CPU's dense kernel, both samples of a guided batch, both branches of its
    softmax block (its gated-delta-rule block runs its recurrence in float32 either way)."""
    check_float64_reference(tiny_sana_wm_transformer, lambda model, frames, dtype: run(model, frames, dtype),
                            SANA_WM.self_attentions, ReferenceAttention, method, NATIVE)


def test_padded_heads_scale_the_camera_logits_as_its_sdpa_does():
    """Heads of other sizes than FlashAttention's reach its camera branch's SDPA zero-padded to 128 or 256 channels (the
    release's 112 to 128), so its logits are ``q·k / √128``: `qkv` pads them as the stock branch does."""
    from vidlong.attention.adapters.sana_wm import padded_head_size

    assert [padded_head_size(d) for d in (24, 112, 128, 160, 256, 320)] == [128, 128, 128, 256, 256, 320]


def test_a_transformer_without_softmax_blocks_is_refused():
    """``softmax_every_n`` 0: its gated delta rule alone; a method is refused in one line naming the field."""
    model = tiny_sana_wm_transformer(softmax_every_n=0)
    with pytest.raises(vidlong.VidlongError, match="softmax_every_n 0"):
        vidlong.apply(model, vidlong.UltraViCo(), native_frames=NATIVE)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from tiny_pipeline import save_tiny_sana_wm_pipeline

    return save_tiny_sana_wm_pipeline(tmp_path_factory.mktemp("sana-wm"))


@pytest.fixture(scope="module")
def refiner(folder):
    """Its tiny refiner beside the folder, as diffusers' conversion script writes the release's (``<folder>-refiner``)."""
    from tiny_pipeline import save_tiny_sana_wm_refiner

    return save_tiny_sana_wm_refiner(folder.parent / (folder.name + "-refiner"))


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    """A random 120x80 image: another aspect than the tiny folder's 96x64 video (its call crops it; vidlong's default
    intrinsics read its size)."""
    path = tmp_path_factory.mktemp("image") / "start.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def pipe(folder):
    loaded = vidlong.load_pipeline(folder, device="cpu")
    loaded.set_progress_bar_config(disable=True)
    return loaded


def camera_file(path, rollout: str, **fields):
    """A camera JSON file at `path`: the poses of diffusers' rollout of the action string `rollout` as ``c2w`` (none where
    it is empty), and `fields`."""
    from diffusers.pipelines.sana_wm.cam_utils import action_string_to_c2w

    poses = {"c2w": action_string_to_c2w(rollout).tolist()} if rollout else {}
    path.write_text(json.dumps({**poses, **fields}))
    return path


def test_generate_with_no_method_is_its_call_bit_for_bit(pipe, folder, image, tmp_path):
    """`load_pipeline` gives vidlong's class; `generate` from an image (native length) is diffusers' own `SanaWMPipeline` with
    the same seed: with no camera, given the walk forward and the 90° view of the image vidlong gives it; with a camera file
    of poses and intrinsics, given them. The two cameras make two videos."""
    from diffusers import SanaWMPipeline
    from diffusers.pipelines.sana_wm.cam_utils import action_string_to_c2w

    from vidlong.camera import default_action, default_intrinsics

    assert type(pipe).__name__ == "VidLongSanaWMPipeline"
    frames = TEMPORAL * (NATIVE - 1) + 1
    walk = assert_image_to_video_is_the_stock_call(pipe, SanaWMPipeline, folder, image, 64, 96, frames, same="seed",
                                                   action=default_action(frames), intrinsics=default_intrinsics(120, 80))
    path = camera_file(tmp_path / "camera.json", "lj-8", intrinsics=[50, 50, 60, 40])
    turn = assert_image_to_video_is_the_stock_call(pipe, SanaWMPipeline, folder, image, 64, 96, frames, same="seed",
                                                   request=dict(camera=str(path)), c2w=action_string_to_c2w("lj-8"),
                                                   intrinsics=[50, 50, 60, 40])
    assert turn.settings["camera"] == str(path) and not np.array_equal(walk.frames, turn.frames)


def test_the_sidecar_records_the_default_camera_so_that_it_repeats(pipe, image, tmp_path):
    """With no camera, the settings record the one vidlong gave its call (at 2x, 25 frames from the 120x80 image: ``w-24``
    and ``[60, 60, 60, 40]``) as ``default: `` and a --camera file's JSON; that JSON as the camera makes the same video."""
    from vidlong.generate import GenerateRequest, generate

    request = dict(prompt="a red ball", seed=3, image=str(image), ratio=2, steps=1, height=64, width=96)
    default = generate(pipe, GenerateRequest(**request))
    recorded = default.settings["camera"]
    assert recorded == 'default: {"action": "w-24", "intrinsics": [60.0, 60.0, 60.0, 40.0]}'
    path = tmp_path / "default.json"
    path.write_text(recorded.removeprefix("default: "))
    again = generate(pipe, GenerateRequest(**request, camera=str(path)))
    assert np.array_equal(again.frames, default.frames) and again.settings["camera"] == str(path)


@pytest.mark.parametrize("method", ["ultravico", "freelong", "both"])
def test_cli_generates_twice_the_native_length_with_each_method(folder, image, tmp_path, method):
    """`vidlong generate --image --ratio 2 --method M`: 4 latent = 25 frames at 64x96, 16 fps, the method in the sidecar."""
    check_cli_generate(folder, tmp_path, method, NATIVE, TEMPORAL, 16, image=image)


def test_cli_generate_follows_a_camera_file_and_refines(folder, refiner, image, tmp_path, run_bars):
    """`vidlong generate --camera cam.json` (an action string of 24 frames, no intrinsics: the default view) at 2x with
    both methods, then `--refine FOLDER` (its refiner named): 25 frames made, 24 refined (its sink's dropped), the file,
    the methods and the refine pass in the sidecar; its one bar counts the video's 2 steps, then adds the refiner's 3 as
    it starts (unplanned: its blocks known at its call), ending at its total."""
    from vidlong.cli import main
    from vidlong.video_io import read_video

    camera, out = camera_file(tmp_path / "cam.json", "", action="w-12,jw-12"), tmp_path / "g.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image), "--ratio", "2",
                 "--method", "both", "--camera", str(camera), "--refine", str(refiner), "--out", str(out)]) == 0
    settings = json.loads(out.with_suffix(".json").read_text())
    assert read_video(out)[0].shape[0] == 24 and settings["camera"] == str(camera) and len(settings["methods"]) == 2
    assert settings["refine"] == settings["refine_pass"]["refiner"] == str(refiner)
    [shown] = run_bars.values()  # (stage, count, total)
    started = shown.index(("refine", 2, 5))  # 0 of its steps as it starts, after the video's 2
    assert {total for *_, total in shown[:started]} == {2} and {total for *_, total in shown[started:]} == {5}
    assert shown[-1][1:] == (5, 5)


REFUSED = {
    "missing": ([], "no file there"),
    "not-json": ("not json {", "is not a JSON file"),
    "both": (dict(c2w=[np.eye(4).tolist()] * 25, action="w-24"), "exactly one of c2w and action"),
    "poses-3x3": (dict(c2w=[np.eye(3).tolist()] * 25), "c2w must be camera-to-world poses [F, 4, 4], got shape [25, 3, 3]"),
    "keys": (dict(action="q-24"), "unknown keys ['q']"),
    "short": (dict(action="w-8"), "holds 9 camera poses, fewer than the video's 25 frames (its call would cut the video to "
                                  "them): give a trajectory of 25 poses, or ask for --frames 9"),
    "shorter-than-a-latent-frame": (dict(action="w-4"), "holds 5 camera poses, fewer than the video's 25 frames (its call would "
                                                        "cut the video to them): give a trajectory of 25 poses"),
    "focal": (dict(action="w-24", intrinsics=[-5, 5, 60, 40]), "focal length fx must be positive"),
    "focal-y": (dict(action="w-24", intrinsics=[[[50, 0, 60], [0, 0, 40], [0, 0, 1]]] * 25), "focal length fy must be positive"),
    "scaled-pose": (dict(c2w=[np.diag([2, 2, 2, 1]).tolist()] * 25), "c2w pose 0 is not a rigid camera-to-world transform "
                    "(its rotation is not orthonormal (scaled or sheared)); give rotations that are orthonormal"),
    "reflected-pose": (dict(c2w=[np.eye(4).tolist()] * 2 + [np.diag([1, -1, 1, 1]).tolist()] * 23),
                       "c2w pose 2 is not a rigid camera-to-world transform (its rotation has determinant -1"),
    "last-row": (dict(c2w=[[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]] * 25), "(its last row is not [0, 0, 0, 1])"),
    "intrinsics-per-frame": (dict(action="w-24", intrinsics=[[50, 50, 60, 40]] * 9), "intrinsics holds 9 frames' values"),
    "field": (dict(action="w-24", fov=90), "a field 'fov' Sana-WM's call does not take"),
    # counted before diffusers' parser expands it a frame at a time (w-300000000: tens of GB before any line)
    "action-too-long": (dict(action="w-8000,jw-200"), "action holds 8201 camera poses, more than the longest Sana-WM video's "
                                                     "8185 frames (the 1024 latent frames of its RoPE table); shorten it"),
}


def test_the_longest_trajectory_is_counted_at_the_models_temporal_ratio(folder):
    """The longest camera trajectory (`vidlong.camera.longest_trajectory`): the RoPE table's 1024 latent frames at the
    temporal ratio of the model's VAE, its spec's (the tiny folder's LTX-2 VAE: 8), not a constant of its own."""
    from vidlong.camera import longest_trajectory
    from vidlong.validate import limits_for_folder

    ratio = limits_for_folder(folder).spec.temporal_ratio
    assert ratio == 8 and longest_trajectory(ratio) == (8185, 1024) and longest_trajectory(4) == (4093, 1024)


@pytest.mark.parametrize("case", list(REFUSED), ids=list(REFUSED))
def test_a_bad_camera_file_is_refused_before_loading(folder, image, tmp_path, capsys, monkeypatch, case):
    """Each bad ``--camera`` file: one line naming the field and the fix, exit 2, before the model loads; a trajectory
    shorter than the video suggests a shorter video only where its poses hold more than one latent frame."""
    content, says = REFUSED[case]
    path = tmp_path / "cam.json"
    if content:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    args = ["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image), "--ratio", "2",
            "--camera", str(path)]
    line = check_refused_before_loading(args, tmp_path / "g.mp4", capsys, monkeypatch)
    assert says in line and "--camera" in line and not re.search(r"--frames 1\b", line), line


def test_its_call_checks_the_camera_it_is_given(pipe, image):
    """`pipe(...)` given a camera checks it as --camera is checked, before any step: a trajectory shorter than its frames (its
    call would cut the video to it) and a focal length fy of 0 (non-finite rays) refused in one line."""
    for camera, says in ((dict(action="w-8"), "holds 9 camera poses, fewer than the video's 17 frames"),
                         (dict(action="w-16", intrinsics=[50, 0, 60, 40]), "focal length fy must be positive")):
        with pytest.raises(vidlong.VidlongError, match=re.escape(says)):
            pipe(image=str(image), prompt="a red ball", num_frames=17, height=64, width=96, **camera)


def test_a_pipeline_in_bfloat16_on_the_cpu_from_python_is_refused_in_one_line(folder, image):
    """A diffusers `SanaWMPipeline` in bfloat16 on the CPU given to `vidlong.from_pipe` (or a loaded one moved so): its call
    and `generate` refuse in one line naming the dtype, as `load_pipeline` and the CLI refuse it before loading (diffusers'
    camera geometry would fail at its first forward, in two lines)."""
    from diffusers import SanaWMPipeline

    from vidlong.generate import GenerateRequest, generate

    pipe = vidlong.from_pipe(SanaWMPipeline.from_pretrained(folder, torch_dtype=torch.bfloat16))
    pipe.set_progress_bar_config(disable=True)
    for run in (lambda: pipe(image=str(image), prompt="a red ball", num_frames=9, height=64, width=96),
                lambda: generate(pipe, GenerateRequest(prompt="a red ball", image=str(image)))):
        with pytest.raises(vidlong.VidlongError, match=r"^dtype \(--dtype\) bfloat16: this model's transformer "
                                                       r"\(SanaWMTransformer3DModel\) cannot run in bfloat16 on the CPU: .*; "
                                                       r"on the CPU use float32$"):
            run()


def test_streams_extensions_and_other_methods_are_refused_before_loading(folder, image, tmp_path, capsys, monkeypatch):
    """A stream and an extension (its camera is not sliced per window: its adapter's `no_stream_reason`, its family's one
    reason), RIFLEx, fifo, no image, bfloat16 on the CPU (its camera geometry refuses it) and a camera given to a model that
    takes none: one line each, before loading."""
    no_stream = SANA_WM.no_stream_reason

    given = ["--model", str(folder), "--prompt", "a red ball"]
    out = tmp_path / "o.mp4"
    for args, says in [(["stream", *given, "--image", str(image), "--chunks", "2"], no_stream),
                       (["extend", *given, "--video", str(image), "--chunks", "2"], no_stream),
                       (["generate", *given, "--image", str(image), "--ratio", "2", "--method", "riflex"],
                        "RIFLEx is not implemented for SanaWMTransformer3DModel"),
                       (["generate", *given, "--image", str(image), "--ratio", "2", "--method", "fifo"],
                        "needs a timestep per token"),
                       (["generate", *given, "--ratio", "2"], "this model is image-to-video"),
                       (["generate", *given, "--image", str(image), "--device", "cpu", "--dtype", "bfloat16"],
                        "cannot run in bfloat16 on the CPU"),
                       (["generate", "--model", "default", "--prompt", "a red ball", "--camera",
                         str(camera_file(tmp_path / "c.json", "", action="w-8"))], "this model takes none: drop --camera")]:
        assert says in check_refused_before_loading(args, out, capsys, monkeypatch), args


def test_python_streams_and_extensions_give_the_clis_reason(pipe, image):
    """`pipe.stream` and `pipe.extend` refuse in one line with the reason `vidlong stream` and `vidlong extend` give (its
    family's `no_stream_reason`), not another."""
    for run in (lambda: next(iter(pipe.stream("a red ball", chunks=2, image=str(image)))),
                lambda: next(iter(pipe.extend("a red ball", video=np.zeros((9, 64, 96, 3), np.uint8), chunks=2)))):
        with pytest.raises(vidlong.VidlongError) as refused:
            run()
        assert SANA_WM.no_stream_reason in str(refused.value) and "\n" not in str(refused.value)


def test_its_refiner_as_the_model_is_refused_before_loading(tmp_path, capsys, monkeypatch):
    """A folder of its refiner (`SanaWMLTX2Refiner`, the second stage) as --model: one line saying how it runs (--refine on
    the Sana-WM folder, naming this folder)."""
    (tmp_path / "refiner").mkdir()
    (tmp_path / "refiner" / "model_index.json").write_text(json.dumps({"_class_name": "SanaWMLTX2Refiner"}))
    args = ["generate", "--model", str(tmp_path / "refiner"), "--prompt", "a red ball"]
    line = check_refused_before_loading(args, tmp_path / "g.mp4", capsys, monkeypatch)
    assert f"pass the Sana-WM folder as --model with --refine {tmp_path / 'refiner'} (or --refine alone" in line, line


def test_generate_refine_with_no_method_is_diffusers_two_stage_flow_bit_for_bit(pipe, folder, refiner, image, monkeypatch):
    """`generate` with ``refine`` True (its refiner found beside the folder, checked once: by `check_generate`), native
    length: diffusers' two-stage flow written
    out by hand, bit for bit after uint8 rounding: `SanaWMPipeline`'s call to latents (the same seed, vidlong's default
    camera), the `SanaWMLTX2Refiner`'s call on them with its defaults, the pipeline's VAE, the seed's generator and 16 fps,
    decoding without the sink's frame (8 frames of 9). Its settings record the refiner and its defaults; stage "refine"
    reports 0 of its 3 steps as it starts (its total known there: `vidlong generate`'s bar adds it) and 3 after its one
    block; the result's latents are stage 1's; the refined video is not stage 1's."""
    from diffusers import SanaWMLTX2Refiner, SanaWMPipeline
    from diffusers.pipelines.sana_wm.refiner import STAGE_2_DISTILLED_SIGMA_VALUES

    from vidlong.camera import default_action, default_intrinsics
    from vidlong.generate import GenerateRequest, generate

    from vidlong.families import sana_wm_refiner

    stages, checks, check = [], [], sana_wm_refiner.check_refiner
    monkeypatch.setattr(sana_wm_refiner, "check_refiner", lambda *args: checks.append(args[0]) or check(*args))
    own = generate(pipe, GenerateRequest(prompt="a red ball", seed=3, image=str(image), height=64, width=96, refine=True),
                   progress=lambda *stage: stages.append(stage))
    assert checks == [True]
    frames = TEMPORAL * (NATIVE - 1) + 1
    stock = SanaWMPipeline.from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    first = stock(image=Image.open(image), prompt="a red ball", height=64, width=96, num_frames=frames, num_inference_steps=2,
                  guidance_scale=2.0, generator=torch.Generator().manual_seed(3), output_type="latent",
                  action=default_action(frames), intrinsics=default_intrinsics(120, 80))
    second = SanaWMLTX2Refiner.from_pretrained(refiner, vae=stock.vae, local_files_only=True)
    second.set_progress_bar_config(disable=True)
    video = second(first.latent, "a red ball", fps=16, generator=torch.Generator().manual_seed(3), output_type="np")
    assert own.frames.shape == (frames - 1, 64, 96, 3)
    assert np.array_equal(own.frames, (np.clip(video, 0, 1) * 255).round().astype(np.uint8))
    assert own.settings["refine_pass"] == dict(refiner=str(refiner), block_size=3, kv_max_frames=11, sink_size=1,
                                               sigmas=list(STAGE_2_DISTILLED_SIGMA_VALUES))
    assert [stage for stage in stages if stage[0] == "refine"] == [("refine", 0, 3), ("refine", 3, 3)]
    assert torch.equal(own.latents, first.latent)
    with torch.no_grad():
        unrefined = stock.video_processor.postprocess_video(stock._decode_latents(first.latent), output_type="np")[0]
    assert not np.array_equal(own.frames, (np.clip(unrefined[1:], 0, 1) * 255).round().astype(np.uint8))


def test_what_cannot_refine_is_refused_before_loading(folder, refiner, image, tmp_path, capsys, monkeypatch):
    """One line each, before loading: --refine on a copy of the folder with no refiner beside it (naming the way), a
    missing folder, a folder of another pipeline, a refiner of other latent channels, LTX's knobs (with --refine or
    without it: not "add --refine (with --upsample)"), --upsample, a video of one latent frame (the refiner's sink alone),
    --parallel (Sana-WM's transformer has no context-parallel plan)."""
    import shutil

    alone = shutil.copytree(folder, tmp_path / "alone")
    (tmp_path / "wide" / "transformer").mkdir(parents=True)
    (tmp_path / "wide" / "model_index.json").write_text(json.dumps({"_class_name": "SanaWMLTX2Refiner"}))
    (tmp_path / "wide" / "transformer" / "config.json").write_text(json.dumps({"in_channels": 128}))
    given = ["generate", "--prompt", "a red ball", "--image", str(image)]
    for args, says in [(["--model", str(alone), "--refine"], f"--refine: {alone} has no Sana-WM refiner beside it (alone-refiner/) "
                         "or in refiner/; pass the folder of its SanaWMLTX2Refiner (--refine path/to/SANA-WM-refiner)"),
                       (["--model", str(folder), "--refine", str(tmp_path / "none")], f"no folder at {tmp_path / 'none'}"),
                       (["--model", str(folder), "--refine", str(folder)], "holds a SanaWMPipeline, not Sana-WM's refiner"),
                       (["--model", str(folder), "--refine", str(tmp_path / "wide")], "refines latents of 128 channels, this "
                                                                                      "model's VAE makes 4"),
                       (["--model", str(folder), "--refine", "--refine-steps", "4"], "Sana-WM's refiner runs its own call's 3 "
                                                                                    "distilled sigmas"),
                       (["--model", str(folder), "--refine-lora", "x.safetensors"], "Sana-WM's refiner runs its own call's 3 "
                                                                                   "distilled sigmas, --refine-lora sets LTX's"),
                       (["--model", str(folder), "--refine", "--upsample"], "(SanaWMPipeline) has none: drop --upsample"),
                       (["--model", str(folder), "--refine", "--frames", "1"], "keeps latent frame 0 as its sink"),
                       (["--model", str(folder), "--refine", "--parallel", "ulysses"], "has no context-parallel plan")]:
        assert says in check_refused_before_loading([*given, *args], tmp_path / "g.mp4", capsys, monkeypatch), args


def test_vidlong_info_names_its_spec_from_configs(folder, tmp_path, capsys):
    """`vidlong info` on a folder with no vidlong.yaml: the release's spec from configs/models (21 latent frames = 161 at 16
    fps, 704x1280, 60 steps at 5: its call's defaults), a line on --camera and its default, an image yes, streams and
    extensions no (and why), fifo no."""
    from vidlong.camera import CAMERA_LINE

    out, _ = info_of_a_bare_copy(folder, tmp_path, capsys)
    assert CAMERA_LINE in out.splitlines()
    assert "family sana-wm (SanaWMTransformer3DModel)" in out and "native 21 latent frames = 161 frames at 16 fps" in out
    assert "1280x704" in out and "60 steps, guidance 5" in out
    assert "  image: yes" in out and "  fifo: no" in out
    assert f"  stream: no (streaming is not available for SanaWMTransformer3DModel: {SANA_WM.no_stream_reason}" in out
    assert "  refine: no (--refine: " in out and "pass the folder of its SanaWMLTX2Refiner" in out


def test_vidlong_info_names_its_refiner(folder, refiner, capsys):
    """`vidlong info` on the folder with its refiner beside it: refine yes, naming the refiner."""
    from vidlong.cli import main

    capsys.readouterr()
    assert main(["info", "--model", str(folder)]) == 0
    assert f"  refine: yes (its refiner {refiner}, at the same size" in capsys.readouterr().out


def test_the_app_offers_refine_where_its_folder_has_a_refiner(pipe, refiner, image, tmp_path):
    """The app on its pipeline (its refiner beside the folder): the Refine box shows (no Upsample 2x), and the length note of
    a refined run says the refiner runs after, not in the estimate; a refined run records no pace (its time holds the
    refiner's, which the estimate leaves out: the next note would say too long a time)."""
    from vidlong.apps.gradio_app import AUTO, DRIVING_FIELDS, NO_PRESET, App
    from vidlong.apps.jobs import Job
    from vidlong.apps.outputs import OutputFolder

    app = App(pipe, OutputFolder(tmp_path))
    assert app.refines and not app.upsamples
    fields = [None] * (len(DRIVING_FIELDS) + 4)  # the driving videos, overlap, identity, camera, upsample
    note = app.length_note(2, "both", NO_PRESET, None, None, None, None, None, *fields, True)
    assert "= **25 frames**" in note and "Then refined by its refiner at the same size, without the image's frame: **24 frames** " \
        "(not in the estimate)." in note, note
    run = app.run("a red ball", "none", NO_PRESET, 1, 1, None, 3, AUTO, "", 64, 96, str(image), None, "", 0.0, None, None,
                  *fields, True)
    output = app._generate(Job(), [run], lambda *_, **__: None)
    assert output.settings["refine_pass"]["refiner"] == str(refiner) and "Estimate (time after the first run)" in app.length_note(2)


def test_vidlong_app_refine_names_a_refiner_elsewhere(pipe, folder, refiner, image, tmp_path, capsys, monkeypatch):
    """`vidlong app --refine FOLDER` (`launch(refine=...)`, `App`'s `refine`): a refiner neither beside nor inside the model
    folder shows the Refine box, which names it, and a ticked run's `refine` is that folder; refused in one line, exit 2,
    before the model loads: a folder that is no refiner (`check_refiner`'s line), and any folder on a model that is no
    Sana-WM (the embedded default's page)."""
    import shutil

    from vidlong.apps.gradio_app import AUTO, DRIVING_FIELDS, NO_PRESET, App, build_app
    from vidlong.cli import main

    elsewhere = shutil.copytree(refiner, tmp_path / "elsewhere" / "wm-refiner")
    page = build_app(pipe, refiner=elsewhere)
    app, box = page.vidlong_app, next(block for block in page.blocks.values() if getattr(block, "elem_id", None) == "refine")
    assert app.refines and app.refiner_folder == str(elsewhere) and box.visible and "refiner wm-refiner on" in box.info
    fields = [None] * (len(DRIVING_FIELDS) + 4)  # the driving videos, overlap, identity, camera, upsample
    request, _ = app.run("a red ball", "none", NO_PRESET, 1, 1, None, 3, AUTO, "", 64, 96, str(image), None, "", 0.0, None,
                         None, *fields, True)
    assert request.refine == str(elsewhere) and App(pipe).run("a red ball", "none", NO_PRESET, 1, 1, None, 3, AUTO, "", 64, 96,
                                                              str(image), None, "", 0.0, None, None, *fields, True)[0].refine is True
    monkeypatch.setattr("vidlong.pipeline.load_pipeline", lambda *args, **kwargs: pytest.fail("the model loaded"))
    for model, says in ([str(folder)], f"--refine: {folder} holds a SanaWMPipeline, not Sana-WM's refiner"), \
                       ([], "--refine FOLDER names Sana-WM's refiner for its page's \"Refine\"; this model (WanPipeline) is no "
                            "Sana-WM: drop --refine"):
        capsys.readouterr()
        args = ["app", *(["--model", *model] if model else []), "--refine", str(folder if model else elsewhere), "--device", "cpu"]
        assert main(args) == 2
        assert capsys.readouterr().err.startswith(f"vidlong: error: {says}"), args
