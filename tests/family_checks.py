"""Checks a family's own test file runs: on its tiny transformer, `check_methods_off_and_removed` (every family with its
own test file but the Wan-layout ones); on its tiny pipeline folder (Mochi's, Kandinsky 5's, Motif-Video's, HunyuanVideo's
image to video, LTX-2's extension), `check_cli_generate`, `check_renoised_stream_and_extension`, `check_cli_extension`,
`check_image_stream_context`, `check_image_to_video_cli`; the run estimate against the forwards a `generate` ran
(`forward_shapes`, `generate_counting_forwards`: LTX-2's appended tokens); on a family's folder,
`info_of_a_bare_copy`."""
import contextlib
import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import pytest
import torch
from reference import rel_err

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate
from vidlong.methods import Streaming
from vidlong.video_io import read_video, write_video


#: UltraViCo with neutral settings: every plan stock
NEUTRAL = (vidlong.UltraViCo(alpha=1.0, guard_first_frame=False),)
#: methods that act on a video 4x the native window
ACTING = (vidlong.UltraViCo(alpha=0.8), vidlong.SpectralFusion())
#: the methods `vidlong generate --method` names, as its sidecar records them
RECORDED_METHODS = {"ultravico": ["UltraViCo"], "freelong": ["SpectralFusion"], "both": ["UltraViCo", "SpectralFusion"]}


@torch.no_grad()
def check_methods_off_and_removed(new_model, run, attentions, stock_name: str, count: int, native: int, neutral=NEUTRAL,
                                  methods=ACTING, acts: Optional[bool] = True, applied=None) -> None:
    """Methods off and removed are the stock transformer bit for bit. `new_model()`: a tiny transformer of the family;
    `run(model)`: its output for one forward's inputs; `attentions(model)`: the self-attentions vidlong's processor goes
    on, `count` of them, each with a stock processor of class `stock_name`. `neutral` applied (native window `native`
    latent frames): the output is the stock model's and the plan stock; `methods` applied: the output changes where
    `acts`, stays the stock one bit for bit where `acts` is False (None: either); removed: the stock processors are back
    and the output stock again.
    While either is applied vidlong's processor is on each self-attention and `applied(model)`, where given, checks the
    family's own parts."""
    stock = run(new_model())
    model = new_model()
    processors = [attention.processor for attention in attentions(model)]
    assert [type(p).__name__ for p in processors] == [stock_name] * count
    state = vidlong.apply(model, *neutral, native_frames=native)
    check_processors_on(model, attentions, applied)
    assert torch.equal(run(model), stock) and state.plan.is_stock
    vidlong.apply(model, *methods, native_frames=native)
    check_processors_on(model, attentions, applied)
    changed = run(model)
    vidlong.remove(model)
    assert [attention.processor for attention in attentions(model)] == processors
    assert torch.equal(run(model), stock)
    if acts:
        assert rel_err(changed, stock) > 1e-3
    elif acts is False:
        assert torch.equal(changed, stock)


def block_self_attentions(model) -> list:
    """The ``attn1`` of each of `model`'s ``transformer_blocks`` (CogVideoX's, LTX-Video's, LTX-2's self-attentions, listed
    apart from their adapters)."""
    return [block.attn1 for block in model.transformer_blocks]


def check_processors_on(model, attentions, applied) -> None:
    """While methods are applied to `model`: vidlong's processor on each of `attentions(model)`; `applied(model)`, where
    given (the family's own parts)."""
    assert all(type(attention.processor).__name__ == "VidlongAttnProcessor" for attention in attentions(model))
    if applied is not None:
        applied(model)


def check_float64_reference(build, run, attentions, reference, method, native: int, prepare=None, ratio: int = 4) -> None:
    """`method` applied to `build()` (a tiny transformer, the same weights at every call) at `ratio` x the `native` window
    in float32 on the CPU's dense kernel (`run(model, frames, dtype)` -> its output) is within 1e-5 of the same weights in
    float64 whose `attentions(model)` run `reference(method, frames)` (the method's math written out; `prepare(model)`
    first, where a part of it keeps float32), and more than 1e-3 from the stock model's output (the method acts)."""
    frames = ratio * native
    model = build()
    vidlong.apply(model, method, native_frames=native)
    with torch.no_grad():
        out, stock = run(model, frames, torch.float32), run(build(), frames, torch.float32)
    ref_model = build().to(torch.float64)
    if prepare is not None:
        prepare(ref_model)
    for attention in attentions(ref_model):
        attention.processor = reference(method, frames)
    with torch.no_grad():
        ref = run(ref_model, frames, torch.float64)
    assert rel_err(out, ref) < 1e-5
    assert rel_err(out, stock) > 1e-3


def check_refused_before_loading(args: list, out, capsys, monkeypatch) -> str:
    """``vidlong *args --out out`` exits 2 with one line on stderr, before any model loads, writing nothing at `out`;
    returns the line (the caller checks what it says)."""
    import vidlong.pipeline

    capsys.readouterr()  # what came before (a folder saved just now)
    monkeypatch.setattr(vidlong.pipeline, "load_pipeline", lambda *a, **k: pytest.fail("a model was loaded"))
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and not Path(out).exists(), err
    return err[0]


def unrun_by_a_rebuilt_rope_family(transformer_class: str) -> list:
    """``(arguments after the model and prompt, what the refusal says)`` of what a family refuses whose RoPE is made at every
    forward and whose streams re-noise their context (Kandinsky 5, Motif-Video, EasyAnimate, Allegro): RIFLEx and the -sinks
    methods (they move Wan's RoPE tables), fifo (a timestep per token), a stream with the cache context."""
    return [(["generate", "--ratio", "2", "--method", "riflex"], f"RIFLEx is not implemented for {transformer_class}"),
            (["generate", "--ratio", "2", "--method", "window-sinks"], "windows with sinks"),
            (["generate", "--ratio", "2", "--method", "fifo"], "needs a timestep per token"),
            (["stream", "--chunks", "2", "--context", "cache"], f"cache is not available for {transformer_class}")]


def check_release_refuses(folder, image, command: list, says: str, tmp_path, capsys, monkeypatch) -> None:
    """``vidlong command[0] --model folder --prompt ... [--image image] command[1:]`` (`unrun_by_a_rebuilt_rope_family`'s
    arguments; `image` None for a text-to-video release) refused in one line before loading, saying `says`."""
    given = ["--image", str(image)] if image is not None else []
    args = [command[0], "--model", str(folder), "--prompt", "a red ball", *given, *command[1:]]
    assert says in check_refused_before_loading(args, tmp_path / "g.mp4", capsys, monkeypatch)


def check_generate_is_the_stock_call(folder, result, stock_class: str, native: int, temporal: int, tiled_vae: bool = False,
                                     pixel_frames: Optional[int] = None, frames_argument: str = "num_frames", **call):
    """`result` (`generate` with no method, prompt "a red ball", seed 3, on the tiny pipeline folder `folder` of native
    `native` latent frames, 2 steps, at its spec's size) holds the frames diffusers' own `stock_class` makes from the
    same folder: at 2x, 2·`native` latent frames, `temporal` pixel frames a latent frame after the first, or the exact
    `pixel_frames` asked for (their fewest latent frames); `call`: the call's own arguments for the same noise
    (``latents=`` drawn as vidlong draws them, or ``generator=``) and guidance; `tiled_vae`: the stock pipeline's VAE
    tiled first (``vae.enable_tiling()``: Allegro's decodes by tiles alone); `frames_argument`: its call's name for the
    length (Sana-Video's ``frames``). Returns the stock call's output (a family's
    other outputs: Kandinsky 6's sound)."""
    import diffusers

    stock = getattr(diffusers, stock_class).from_pretrained(folder, local_files_only=True)
    stock.set_progress_bar_config(disable=True)
    if tiled_vae:
        stock.vae.enable_tiling()
    frames = result.settings["latent_frames"]
    assert frames == (2 * native if pixel_frames is None else (pixel_frames - 1) // temporal + 1)
    spec = vidlong.models.spec_for_folder(folder)
    num_frames = temporal * (frames - 1) + 1 if pixel_frames is None else pixel_frames
    output = stock(prompt="a red ball", height=spec.height, width=spec.width, num_inference_steps=2, output_type="np",
                   **{frames_argument: num_frames}, **call)
    assert len(result.frames) == num_frames == result.settings["pixel_frames"]
    assert np.array_equal(result.frames, (np.clip(output.frames[0], 0, 1) * 255).round().astype(np.uint8))
    return output


@contextlib.contextmanager
def forward_shapes(transformer):
    """While inside, the ``hidden_states`` shapes ``[B, N, C]`` of `transformer`'s forwards, in order (the list it gives)."""
    shapes = []
    hook = transformer.register_forward_pre_hook(lambda _m, _a, kwargs: shapes.append(tuple(kwargs["hidden_states"].shape)),
                                                 with_kwargs=True)
    try:
        yield shapes
    finally:
        hook.remove()


def generate_counting_forwards(pipe, request, latent: int, monkeypatch) -> tuple:
    """(`generate`'s result of `request` on `pipe`, the ``hidden_states`` shapes ``[B, N, C]`` of its transformer's
    forwards, `forward_shapes`), its `run_cost` (no method, `latent` latent frames, at the pipeline's spec's size) checked
    against those forwards: each over the tokens `forward_tokens` counts (the video's and those its call appends), its
    FLOPs `block_flops` of each forward's tokens per sample, per block, and its activations (the memory of a forward) over
    those tokens."""
    from vidlong import estimate

    with forward_shapes(pipe.transformer) as shapes:
        made = generate(pipe, request)
    tokens = {n for _, n, _ in shapes}
    assert tokens == {estimate.forward_tokens(pipe, request, latent, pipe.spec.height, pipe.spec.width)}
    _, dim, ffn, layers = estimate.transformer_sizes(pipe.transformer.config)
    counted = sum(batch * estimate.block_flops(n, dim, ffn, 1) * layers for batch, n, _ in shapes)
    activations, held = estimate.activation_bytes, []
    monkeypatch.setattr(estimate, "activation_bytes", lambda n, *sizes: held.append(n) or activations(n, *sizes))
    assert estimate.run_cost(pipe, request, latent).flops == pytest.approx(counted) and held == list(tokens)
    return made, shapes


def check_cli_generate(folder, tmp_path, method: str, native: int, temporal: int, fps: float, image=None) -> None:
    """`vidlong generate --ratio 2 --method method` on `folder` (native `native` latent frames, `temporal` pixel frames a
    latent frame, `fps`; `image`: its ``--image``, asked at the spec's size): 2x the native latent frames,
    ``temporal·(2·native - 1) + 1`` pixel frames at the spec's size and `fps`, the method in the sidecar."""
    out, spec = tmp_path / "long.mp4", vidlong.models.spec_for_folder(folder)
    given = [] if image is None else ["--image", str(image), "--height", str(spec.height), "--width", str(spec.width)]
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", *given, "--ratio", "2", "--method", method,
                 "--out", str(out)]) == 0
    frames, read_fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (temporal * (2 * native - 1) + 1, spec.height, spec.width, 3) and read_fps == pytest.approx(fps)
    assert settings["latent_frames"] == 2 * native and math.isclose(settings["ratio"], 2)
    assert [m["name"] for m in settings["methods"]] == RECORDED_METHODS[method]


def check_renoised_stream_and_extension(folder, tmp_path, native: int, temporal: int, fps: float) -> None:
    """On the pipeline folder `folder` (native `native` latent frames, `temporal` pixel frames a latent frame, `fps`): a
    first chunk of the native window is `generate`'s video (uint8 rounding aside); later chunks of 1 latent frame bring
    `temporal` pixel frames each and depend on the re-noised context; `vidlong stream` writes them, `vidlong extend`
    continues a 13-frame video whose frames come first (one more H.264 encode)."""
    pipe = vidlong.load_pipeline(folder, device="cpu")
    pipe.set_progress_bar_config(disable=True)
    size = (pipe.spec.height, pipe.spec.width, 3)
    first = next(iter(pipe.stream("a red ball", Streaming(chunk=1, first_chunk=native), chunks=1, seed=3)))
    own = generate(pipe, GenerateRequest(prompt="a red ball", ratio=1, seed=3))
    assert first.frames.shape == own.frames.shape and np.abs(first.frames.astype(int) - own.frames.astype(int)).max() <= 1
    check_stream_follows_its_context(pipe, folder, tmp_path, temporal, size)
    check_cli_extension(folder, tmp_path, temporal, fps, size)


def check_stream_follows_its_context(pipe, folder, tmp_path, temporal: int, size: tuple) -> None:
    """Chunks of 1 latent frame of `pipe` (the pipeline of `folder`, `temporal` pixel frames a latent frame) bring 1, then
    `temporal` pixel frames each, the first as with no context and the third not (it depends on the context); `vidlong
    stream` writes them, frames ``size`` ``(H, W, 3)``."""
    chunks = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1), chunks=3, seed=0)]
    alone = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1, sinks=0, window=0), chunks=3, seed=0)]
    assert [len(c) for c in chunks] == [1, temporal, temporal]
    assert np.array_equal(chunks[0], alone[0]) and not np.array_equal(chunks[2], alone[2])

    out = tmp_path / "stream.mp4"
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--chunks", "3", "--chunk", "1",
                 "--out", str(out)]) == 0
    assert read_video(out)[0].shape == (1 + 2 * temporal, *size)


def check_cli_extension(folder, tmp_path, temporal: int, fps: float, size: tuple, audio=None, chunk: int = 1):
    """`vidlong extend` on `folder` of a 13-frame video at `fps` (frames ``size`` ``(H, W, 3)``; with `audio`, a
    `vidlong.video_io.Soundtrack`, its sound track) by 2 chunks of `chunk` latent frames, `temporal` pixel frames each: the
    input's frames come first (one more H.264 encode). Returns the output's path."""
    given = np.broadcast_to(np.linspace(40, 200, 13, dtype=np.uint8)[:, None, None, None], (13, *size)).copy()
    write_video(tmp_path / "in.mp4", given, fps=fps, audio=audio)
    extended = tmp_path / "extended.mp4"
    assert main(["extend", "--model", str(folder), "--video", str(tmp_path / "in.mp4"), "--chunks", "2", "--chunk", str(chunk),
                 "--prompt", "a red ball", "--out", str(extended)]) == 0
    frames, read_fps = read_video(extended)
    assert frames.shape[0] == 13 + 2 * temporal and read_fps == pytest.approx(fps)
    assert np.abs(frames[:13].astype(float) - read_video(tmp_path / "in.mp4")[0]).mean() < 3
    return extended


def check_image_stream_context(pipe, image_path, temporal: int = 4, **given) -> None:
    """On an image-to-video pipeline of `temporal` pixel frames a latent frame: a stream from `image_path` in chunks of 1
    latent frame (1, then `temporal` pixel frames each) starts as one with no window does, and its third chunk differs from
    that one's: the window's frames, past the image's sink, count. `given`: more of the streams' arguments (ConsisID's
    ``identity``)."""
    chunks = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1), chunks=3, seed=0, image=str(image_path), **given)]
    alone = [c.frames for c in pipe.stream("a red ball", Streaming(chunk=1, window=0), chunks=3, seed=0, image=str(image_path),
                                           **given)]
    assert [len(c) for c in chunks] == [1, temporal, temporal] and np.array_equal(chunks[0], alone[0])
    assert not np.array_equal(chunks[2], alone[2])


def check_image_to_video_cli(folder, image_path, tmp_path, native: int, dropped: int = 0, method: str = "both",
                             temporal: int = 4) -> None:
    """On the image-to-video pipeline folder `folder` (native `native` latent frames, `temporal` pixel frames a latent frame):
    `vidlong generate --image --method method` at 2x, `vidlong stream --image` (2 chunks of 1 latent frame) and `vidlong
    extend` of the generated video (1 chunk) run and write as many frames as they make; `dropped`: pixel frames the call
    drops from a video's start (a stream's first chunk then takes as many latent frames as leave one to show)."""
    out, streamed, extended = tmp_path / "long.mp4", tmp_path / "s.mp4", tmp_path / "e.mp4"
    assert main(["generate", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--ratio", "2",
                 "--method", method, "--out", str(out)]) == 0
    assert main(["stream", "--model", str(folder), "--prompt", "a red ball", "--image", str(image_path), "--chunks", "2",
                 "--chunk", "1", "--out", str(streamed)]) == 0
    assert main(["extend", "--model", str(folder), "--video", str(out), "--chunks", "1", "--chunk", "1", "--prompt", "a red ball",
                 "--out", str(extended)]) == 0
    assert len(read_video(out)[0]) == temporal * (2 * native - 1) + 1 - dropped and len(read_video(streamed)[0]) == 1 + temporal
    assert len(read_video(extended)[0]) == len(read_video(out)[0]) + temporal


def info_of_a_bare_copy(folder, tmp_path, capsys) -> tuple:
    """(`vidlong info`'s output on a copy of `folder` without its vidlong.yaml, that copy)."""
    import shutil

    plain = Path(shutil.copytree(folder, tmp_path / "plain"))
    (plain / "vidlong.yaml").unlink()
    capsys.readouterr()
    assert main(["info", "--model", str(plain)]) == 0
    return capsys.readouterr().out, plain


def sound_stream_recorded(stream, seen: list, hooks: list) -> tuple:
    """Runs a stream with sound (`vidlong.families.sound_stream`) to its end: its chunks, each chunk's ``chunk_audio`` and
    each chunk's (``last_context``, what `hooks` appended to `seen` during it); the hooks removed at the end."""
    chunks, sounds, contexts = [], [], []
    try:
        for chunk in stream:
            chunks.append(chunk)
            sounds.append(stream.chunk_audio)
            contexts.append((stream.last_context, list(seen)))
            seen.clear()
    finally:
        for hook in hooks:
            hook.remove()
    return chunks, sounds, contexts
