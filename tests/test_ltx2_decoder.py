"""LTX-2.5's diffusion decoder after an LTX-2 video (`vidlong.families.ltx2_decoder`, ``vidlong generate --decoder
FOLDER``): `generate`'s frames are diffusers' own two calls bit for bit (the LTX-2 pipeline with ``output_type="latent"``,
then `LTX2VideoDiffusionDecodePipeline` with ``denormalize=False`` and a generator of the seed), its sound and latents
those of the video the VAE decodes; the CLI writes the mp4 with its sound; what it cannot decode is refused in one line
before loading; `vidlong info` on the decoder's folder names what to do with it. A tiny random LTX-2 folder and a tiny
random decoder folder (one block a stage, its flex attention run eagerly on the CPU)."""
import json

import numpy as np
import pytest
import torch
from family_checks import check_refused_before_loading

import vidlong
from vidlong.cli import main
from vidlong.generate import GenerateRequest, generate

REQUEST = dict(prompt="a red ball", seed=3, steps=1)  # its native 2 latent frames: 9 frames at 24 fps, 64x64; one step


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """(a tiny LTX-2.3 folder, a tiny `LTX2VideoDiffusionDecodePipeline` folder)."""
    from tiny_pipeline import save_tiny_ltx2_decoder, save_tiny_ltx2_pipeline

    return (save_tiny_ltx2_pipeline(tmp_path_factory.mktemp("ltx2"), latest=True),
            save_tiny_ltx2_decoder(tmp_path_factory.mktemp("ltx2-decoder")))


@pytest.fixture(scope="module")
def pipe(folders):
    pipe = vidlong.load_pipeline(folders[0])
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_generate_decoder_is_diffusers_two_calls_bit_for_bit_with_its_sound(folders, pipe, monkeypatch):
    """`generate` with ``decoder`` the folder: its frames are diffusers' LTX2Pipeline (from the folder, seed 3, one step,
    ``output_type="latent"``) then the decode pipeline (``denormalize=False``, a generator of seed 3; its own builder of
    its block masks), rounded as vidlong rounds, not the VAE's, its five stages' masks built by `neighborhood_block_mask`
    (the last its diffusion stage's 9 x 8 x 8 cells) and diffusers' builder its own again after; its sound is the one
    diffusers' decoding call makes of that call's audio latents (its audio VAE, then its vocoder); the settings name the
    folder and its one step. The app's bar (`StageProgress`) shows its "diffusion decode" in steps: 0 before its step, 1
    after it (each report checks the app's Stop)."""
    from diffusers import LTX2Pipeline, LTX2VideoDiffusionDecodePipeline
    from diffusers.models.autoencoders import ltx2_diffusion_decoder

    from vidlong.apps.jobs import Job, StageProgress
    from vidlong.families import ltx2_neighborhood
    from vidlong.video_io import rounded_uint8

    stock_builder, neighborhood = ltx2_diffusion_decoder._neighborhood_block_mask, ltx2_neighborhood.neighborhood_block_mask
    built, stepped, shown = [], [], []  # (T, H, W, kernel) of each mask built; the decoder's steps; the app's bar
    monkeypatch.setattr(ltx2_neighborhood, "neighborhood_block_mask", lambda *args: built.append(args[:4]) or neighborhood(*args))
    step = ltx2_diffusion_decoder.LTX2VideoDiffusionDecoder3d.forward_diffusion_step
    monkeypatch.setattr(ltx2_diffusion_decoder.LTX2VideoDiffusionDecoder3d, "forward_diffusion_step",
                        lambda *args: stepped.append(1) or step(*args))
    bar = StageProgress(lambda done, desc, unit: shown.append((done, desc, unit, len(stepped))), Job())
    decoded = generate(pipe, GenerateRequest(**REQUEST, decoder=str(folders[1])), progress=bar)
    assert [s for s in shown if s[1] == "diffusion decode"] == [((0, 1), "diffusion decode", "steps", 0),
                                                                ((1, 1), "diffusion decode", "steps", 1)]
    assert len(built) == 5 and built[-1] == (9, 8, 8, (3, 3, 3))
    assert ltx2_diffusion_decoder._neighborhood_block_mask is stock_builder
    assert decoded.frames.shape == (9, 64, 64, 3) and decoded.latents.shape == (1, 4, 2, 2, 2)
    assert decoded.settings["decoder"] == str(folders[1])
    assert decoded.settings["decoder_pass"] == dict(num_inference_steps=1, seed=3)

    stock = LTX2Pipeline.from_pretrained(folders[0])
    stock.set_progress_bar_config(disable=True)
    out = stock("a red ball", num_frames=9, height=64, width=64, num_inference_steps=1, guidance_scale=3.0, frame_rate=24,
                output_type="latent", generator=torch.Generator().manual_seed(3))
    decode = LTX2VideoDiffusionDecodePipeline.from_pretrained(folders[1])
    frames = decode(out.frames, generator=torch.Generator().manual_seed(3), output_type="np", denormalize=False).frames[0]
    assert np.array_equal(rounded_uint8(frames), decoded.frames)
    with torch.no_grad():  # as its call's output_type="np" branch decodes them
        sound = stock.vocoder(stock.audio_vae.decode(out.audio.to(stock.audio_vae.dtype), return_dict=False)[0])
    assert decoded.audio.rate == 16000 and np.array_equal(sound[0].clamp(-1, 1).numpy(), decoded.audio.samples)
    assert not np.array_equal(pipe.decode_uint8(decoded.latents), decoded.frames)  # the VAE's frames are others


def _blocks(num_blocks, indices, columns: int) -> torch.Tensor:
    """The bool ``[query blocks, columns]`` of a BlockMask's (num_blocks ``[1, 1, rows]``, indices ``[1, 1, rows, width]``):
    each row's first num_blocks indices."""
    rows = torch.arange(indices.shape[-1])[None, :] < num_blocks[0, 0, :, None]
    dense = torch.zeros(indices.shape[-2], columns, dtype=torch.bool)
    dense[torch.arange(indices.shape[-2])[:, None].expand_as(rows)[rows], indices[0, 0][rows].long()] = True
    return dense


def _token_mask(block_mask, tokens: int) -> torch.Tensor:
    """The N x N token mask a BlockMask implies: its full blocks whole, its partial ones where its mask_mod holds."""
    from torch.nn.attention.flex_attention import create_mask

    columns = -(-tokens // 128)
    partial, full = (_blocks(num, indices, columns).repeat_interleave(128, 0).repeat_interleave(128, 1)[:tokens, :tokens]
                     for num, indices in ((block_mask.kv_num_blocks, block_mask.kv_indices),
                                          (block_mask.full_kv_num_blocks, block_mask.full_kv_indices)))
    return full | partial & create_mask(block_mask.mask_mod, 1, 1, tokens, tokens, "cpu")[0, 0]


#: (grid (T, H, W), kernel): windows centred and at every edge, kernels beyond the grid (clipped), N no multiple of 128
#: (all but two), full blocks (a frame of 128 or 256 tokens, windows as wide as the grid; (6, 8, 6) beside partial ones)
GRIDS = [((3, 9, 50), (3, 5, 7)), ((5, 4, 3), (11, 11, 11)), ((1, 1, 300), (1, 1, 5)), ((7, 3, 50), (5, 1, 9)),
         ((2, 9, 130), (3, 7, 7)), ((4, 8, 16), (3, 8, 16)), ((8, 8, 32), (3, 8, 32)), ((6, 8, 6), (11, 17, 11))]


@pytest.mark.parametrize("grid, kernel", GRIDS)
def test_block_mask_is_diffusers_blocks_and_tokens(grid, kernel):
    """`neighborhood_block_mask` against diffusers' `_neighborhood_block_mask` (its N x N mask): the same partial and
    full blocks, each row in the same order (what a compiled kernel reads), and the same N x N token mask implied (full
    blocks whole, partial ones by the mask_mod) as diffusers' mask_mod's dense mask (`create_mask`: what torch's eager
    path, the CPU's, reads alone)."""
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import _neighborhood_block_mask
    from torch.nn.attention.flex_attention import create_mask

    from vidlong.families.ltx2_neighborhood import neighborhood_block_mask

    stock = _neighborhood_block_mask(*grid, kernel, torch.device("cpu"))
    ours = neighborhood_block_mask(*grid, kernel, torch.device("cpu"))
    tokens, columns = grid[0] * grid[1] * grid[2], stock.kv_indices.shape[-1]
    for num, indices in (("kv_num_blocks", "kv_indices"), ("full_kv_num_blocks", "full_kv_indices")):
        assert torch.equal(getattr(ours, num), getattr(stock, num))
        width = getattr(ours, indices).shape[-1]
        rows = torch.arange(width)[None, :] < getattr(ours, num)[0, 0, :, None]
        assert torch.equal(getattr(ours, indices)[0, 0][rows], getattr(stock, indices)[0, 0, :, :width][rows])
        assert torch.equal(_blocks(getattr(ours, num), getattr(ours, indices), columns),
                           _blocks(getattr(stock, num), getattr(stock, indices), columns))
    assert ours.seq_lengths == (tokens, tokens) and ours.BLOCK_SIZE == (128, 128)
    assert torch.equal(_token_mask(ours, tokens), create_mask(stock.mask_mod, 1, 1, tokens, tokens, "cpu")[0, 0])
    assert bool(ours.full_kv_num_blocks.any()) == (grid[1:] in ((8, 16), (8, 32), (8, 6)))  # full blocks tested


def test_a_million_tokens_build_in_seconds_within_bounded_tensors():
    """A stage of 16 x 256 x 256 cells (1,048,576 tokens: diffusers' builder would hold 1.1e12 bytes) with the release's
    diffusion-stage kernel 11 x 11 x 11: built in seconds on the CPU, no tensor made on the way larger than a chunk's
    int64 entries (16 MiB), the mask within `block_mask_bytes`; its first query block (t 0, h 0, w 0..127) reaches in
    each key row (t, h) of t, h < 11 the keys w 0..132, blocks 2·(256·t + h) and the next."""
    import time

    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    from vidlong.families.ltx2_neighborhood import CHUNK_ENTRIES, block_mask_bytes, neighborhood_block_mask

    class Largest(TorchDispatchMode):
        """The bytes of the largest tensor any op makes within."""
        largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            sizes = [t.numel() * t.element_size() for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
            self.largest = max([self.largest, *sizes])
            return out

    start = time.perf_counter()
    with Largest() as made:
        mask = neighborhood_block_mask(16, 256, 256, (11, 11, 11), torch.device("cpu"))
    seconds = time.perf_counter() - start
    held = sum(t.numel() * t.element_size() for t in (mask.kv_num_blocks, mask.kv_indices, mask.full_kv_num_blocks,
                                                       mask.full_kv_indices))
    assert seconds < 10 and made.largest <= CHUNK_ENTRIES * 8 and held <= block_mask_bytes(16, 256, 256, (11,) * 3) < 2**30
    first = sorted(2 * (256 * t + h) + j for t in range(11) for h in range(11) for j in (0, 1))
    assert mask.kv_num_blocks[0, 0, 0] == len(first) and mask.kv_indices[0, 0, 0, :len(first)].tolist() == first
    assert mask.kv_indices.shape == (1, 1, 8192, 242) and not mask.full_kv_num_blocks.any()


def test_diffusers_builder_is_its_own_after_an_error_within():
    """`neighborhood_masks`: within it diffusers' module builds by `neighborhood_block_mask`; after an error within, by its
    own builder again, held by the module itself as before."""
    from diffusers.models.autoencoders import ltx2_diffusion_decoder

    from vidlong.families.ltx2_neighborhood import neighborhood_block_mask, neighborhood_masks

    stock = ltx2_diffusion_decoder._neighborhood_block_mask
    with pytest.raises(RuntimeError, match="^inside$"), neighborhood_masks():
        assert ltx2_diffusion_decoder._neighborhood_block_mask is neighborhood_block_mask
        raise RuntimeError("inside")
    assert ltx2_diffusion_decoder._neighborhood_block_mask is stock and "_neighborhood_block_mask" in vars(ltx2_diffusion_decoder)


def test_estimate_of_a_release_counts_its_diffusion_stage_not_n_squared(tmp_path):
    """`decoder_bytes` of a release's config (its defaults but patches of 4: 256 channels of 64 a head, its diffusion
    stage's kernel 11 x 11 x 11) at 121 frames of 512x768 in bfloat16 (2,973,696 tokens: diffusers' builder 8.8e12
    bytes): compiled (CUDA) the block mask's bound, the context over 138 frames (16 latent frames and 2 ghost ones through
    strides 1, 2, 2, 2) and the noise's 48 pixel values a token, and a block's attention (six 256-vectors in bfloat16,
    three in float32), about 19 GiB; uncompiled (the CPU) also K's and V's copies and 13 bytes per pair of tokens and
    head."""
    from vidlong.families.ltx2_decoder import decoder_bytes
    from vidlong.families.ltx2_neighborhood import block_mask_bytes

    (tmp_path / "diffusion_decoder").mkdir()
    (tmp_path / "diffusion_decoder" / "config.json").write_text(json.dumps(dict(patch_size=4)))
    compiled, tokens = decoder_bytes(tmp_path, 121, 512, 768, compiled=True, itemsize=2), 121 * 128 * 192
    stage = (138 * 128 * 192 * 256 + tokens * 48) * 2 + tokens * 256 * (6 * 2 + 3 * 4)
    assert compiled == block_mask_bytes(121, 128, 192, (11, 11, 11)) + stage and 18 < compiled / 2**30 < 20
    eager = decoder_bytes(tmp_path, 121, 512, 768, compiled=False, itemsize=2)
    assert eager == compiled + 2 * tokens * 256 * 2 + tokens * tokens * 4 * 13


def test_estimate_counts_the_decoders_weights_until_it_is_loaded(folders, pipe, monkeypatch):
    """`decoder_weight_bytes` from the folder's config alone is the loaded decoder's parameters and buffers, in float32 and
    bfloat16; `run_cost` adds them until the pipeline keeps that decoder (`load_decoder`), then not again."""
    from diffusers import LTX2VideoDiffusionDecodePipeline

    from vidlong.estimate import run_cost
    from vidlong.families.ltx2_decoder import KEPT_AS, decoder_weight_bytes

    for dtype in (torch.float32, torch.bfloat16):
        loaded = LTX2VideoDiffusionDecodePipeline.from_pretrained(folders[1], dtype=dtype).diffusion_decoder
        assert decoder_weight_bytes(folders[1], dtype) == sum(t.nbytes for t in loaded.state_dict().values())
    request = GenerateRequest(**REQUEST, decoder=str(folders[1]))
    monkeypatch.delattr(pipe, KEPT_AS, raising=False)
    before = run_cost(pipe, request, 2).peak_bytes
    monkeypatch.setattr(pipe, KEPT_AS, (folders[1].resolve(), object()), raising=False)  # a stand-in for the loaded one
    assert before - run_cost(pipe, request, 2).peak_bytes == decoder_weight_bytes(folders[1], torch.float32) > 0


def _peak_bytes(call) -> int:
    """The peak of the bytes `call` holds on the CPU beyond what it found: every allocation and free torch's profiler
    records within it, in order."""
    from torch._C._profiler import _EventType

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as profiled:
        call()
    events, sizes = list(profiled.profiler.kineto_results.experimental_event_tree()), []
    while events:
        event = events.pop()
        events.extend(event.children)
        if event.typed[0] == _EventType.Allocation:
            sizes.append((event.start_time_ns, event.typed[1].alloc_size))
    held = peak = 0
    for _, size in sorted(sizes):
        held += size
        peak = max(peak, held)
    return peak


@pytest.fixture(scope="module")
def wide_decoder(tmp_path_factory):
    """A tiny decoder of a release's proportions at its diffusion stage: 128 channels in heads of 32, patches of 4 pixels
    (48 pixel values a token beside 128 channels; the tiny one's 192 beside 16)."""
    from tiny_pipeline import save_tiny_ltx2_decoder

    return save_tiny_ltx2_decoder(tmp_path_factory.mktemp("wide-decoder"), channels=128, head_dim=32, patch=4)


#: (the decoder, its decode's height and width from 2 x 2 latent cells, flex compiled, diffusers' SwiGLU tile in tokens)
PEAKS = {"eager": ("tiny", 64, False, None), "fused": ("tiny", 64, True, None), "wide-fused": ("wide", 32, True, None),
         "wide-fused-tiled": ("wide", 32, True, 64)}


@pytest.mark.parametrize("case", list(PEAKS))
def test_estimate_covers_the_measured_peak_of_the_tiny_decode(folders, wide_decoder, monkeypatch, case):
    """`decoder_bytes` against the measured peak of a tiny decoder's call on the CPU (`_peak_bytes`, its weights loaded
    before; 2 latent frames: 9 frames, 576 tokens at its diffusion stage), its block masks vidlong's: through torch's
    eager flex path (its N x N scores; a first call's tracing of it too), and with flex standing in for a fused kernel (its
    output alone, as compiled flex on CUDA holds; the frames then meaningless): at or above the peak, within 10% of it.
    The tiny decoder's peak is its prediction's pixels; the wide one's (`wide_decoder`) a block's feed-forward, and with
    diffusers' SwiGLU in tiles of 64 tokens (as a video of more than its 16,384 tokens runs) a block's attention."""
    from diffusers import LTX2VideoDiffusionDecodePipeline
    from diffusers.models import attention_dispatch
    from diffusers.models.autoencoders import ltx2_diffusion_decoder

    from vidlong.families.ltx2_decoder import decoder_bytes
    from vidlong.families.ltx2_neighborhood import neighborhood_masks

    kind, side, compiled, tile = PEAKS[case]
    folder = folders[1] if kind == "tiny" else wide_decoder
    model = LTX2VideoDiffusionDecodePipeline.from_pretrained(folder).diffusion_decoder
    if compiled:
        monkeypatch.setattr(attention_dispatch.flex_attention, "flex_attention", lambda query, *_, **__: torch.empty_like(query))
    if tile:
        monkeypatch.setattr(ltx2_diffusion_decoder, "_SWIGLU_TILE_SIZE", tile)
    latents = torch.randn(1, 4, 2, 2, 2)

    def decode():
        with torch.no_grad(), neighborhood_masks():
            model.decode(latents, generator=torch.Generator().manual_seed(3))

    peak, estimate = _peak_bytes(decode), decoder_bytes(folder, 9, side, side, compiled=compiled, itemsize=4)
    assert peak <= estimate <= 1.1 * peak, (estimate, peak)


def test_vidlong_generate_decoder_writes_the_mp4_with_its_sound(folders, tmp_path, capsys, run_bars):
    """``vidlong generate --decoder FOLDER``: its 9 frames at 64x64 and 24 fps, the sidecar naming the folder, the sound as
    long as the video, the estimate line saying what it counts; its one bar counts the video's step and the decoder's to
    its total, known from the start."""
    from conftest import mp4_audio

    from vidlong.video_io import read_video

    out = tmp_path / "decoded.mp4"
    assert main(["generate", "--model", str(folders[0]), "--prompt", "a red ball", "--seed", "3", "--steps", "1", "--decoder",
                 str(folders[1]), "--out", str(out)]) == 0
    assert "beyond the loaded model; with LTX-2.5's diffusion decoder's weights and activations" in capsys.readouterr().out
    frames, fps = read_video(out)
    settings = json.loads(out.with_suffix(".json").read_text())
    assert frames.shape == (9, 64, 64, 3) and fps == 24
    assert settings["decoder"] == str(folders[1]) and settings["decoder_pass"]["num_inference_steps"] == 1
    assert abs(mp4_audio(out, 16000, channels=2).shape[1] / 16000 - 9 / 24) < 0.1
    [shown] = run_bars.values()  # (stage, count, total): 0 as the video's step starts, its one step, then the decoder's one
    assert [count for stage, count, _ in shown if stage in ("denoise", "diffusion decode")] == [0, 1, 1, 2]
    assert {total for *_, total in shown} == {2} and shown[-1][1:] == (2, 2)


#: (the command and the arguments after the model and prompt, the model given, what the refusal says); "{ltx2}",
#: "{decoder}", "{tmp}" the folders
REFUSED = {
    "missing": (["generate", "--decoder", "{tmp}/none"], "{ltx2}", "no folder at {tmp}/none; pass the folder of LTX-2.5's "
                                                                   "diffusion decoder (LTX2VideoDiffusionDecodePipeline)"),
    "empty": (["generate", "--decoder", "{tmp}"], "{ltx2}", "holds no diffusers pipeline, not LTX-2.5's diffusion decoder"),
    "a-model": (["generate", "--decoder", "{ltx2}"], "{ltx2}", "holds a LTX2Pipeline, not LTX-2.5's diffusion decoder"),
    "wan": (["generate", "--decoder", "{decoder}"], "default", "this model (WanPipeline) is none of them: drop --decoder"),
    "upsample": (["generate", "--decoder", "{decoder}", "--upsample", "{tmp}"], "{ltx2}",
                 "--decoder decodes the video's own latents, and --upsample the upsampled ones (by the VAE): drop one"),
    "stream": (["stream", "--decoder", "{decoder}"], "{ltx2}", "vidlong stream decodes its chunks by the VAE as they come: "
                                                               "drop --decoder"),
    "extend": (["extend", "--video", "{tmp}/none.mp4", "--decoder", "{decoder}"], "{ltx2}", "drop --decoder"),
    "as-model": (["generate"], "{decoder}", "holds a LTX2VideoDiffusionDecodePipeline, LTX-2.5's diffusion decoder, not a "
                                            "video model: pass it to vidlong generate --decoder"),
    "info": (["info"], "{decoder}", "LTX-2.5's diffusion decoder, not a video model: pass it to vidlong generate --decoder"),
    "parallel": (["generate", "--decoder", "{decoder}", "--parallel", "ulysses"], "{ltx2}",
                 "splits the main pass only; --decoder runs on one device: drop --decoder or --parallel"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_it_cannot_decode_is_refused_in_one_line_before_loading(folders, tmp_path, capsys, monkeypatch, case):
    """Each refusal one line, exit code 2, no model loaded: a missing folder, one holding no pipeline or another (an LTX-2
    model), another family's model, ``--upsample`` beside it, ``stream`` and ``extend``, the decoder's folder given as
    the model, to ``generate`` and to ``info``, and ``--parallel`` (the main pass alone is split over ranks:
    `vidlong.parallel.check_parallel_stages`)."""
    args, model, says = REFUSED[case]
    fill = dict(ltx2=folders[0], decoder=folders[1], tmp=tmp_path / "given")
    (tmp_path / "given").mkdir()
    command = [args[0], "--model", model.format(**fill), *([] if args[0] == "info" else ["--prompt", "a red ball"]),
               *[arg.format(**fill) for arg in args[1:]]]
    if args[0] == "info":  # it writes nothing and loads nothing: its one line and exit code
        capsys.readouterr()
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and says in err[0], err
        return
    line = check_refused_before_loading(command, tmp_path / "x.mp4", capsys, monkeypatch)
    assert says.format(**fill) in line, line


def test_from_python_refine_beside_it_is_refused_in_one_line(folders):
    """`GenerateRequest` with ``decoder`` and ``refine``: one line naming both fields, before loading."""
    from vidlong.validate import check_generate, limits_for_folder

    with pytest.raises(vidlong.VidlongError, match=r"^decoder \(--decoder\) decodes the video's own latents, and refine "
                                                   r"\(--refine\) the upsampled ones \(by the VAE\): drop one of them$"):
        check_generate(GenerateRequest(**REQUEST, decoder=str(folders[1]), refine=True), limits_for_folder(folders[0]))


def test_estimate_under_cpu_offload_counts_the_compiled_decode(folders, pipe, monkeypatch):
    """Under model CPU offload on CUDA (`pipe.device` the CPU, its execution device CUDA) the decoder's flex attention runs
    compiled on CUDA (`decoded_video`): the estimate counts its compiled activations, not the N x N scores of the CPU's
    eager path (at a release's sizes hundreds of TB, which would refuse the run)."""
    from vidlong.estimate import run_cost
    from vidlong.families.ltx2_decoder import decoder_bytes

    request = GenerateRequest(**REQUEST, decoder=str(folders[1]))
    on_cpu = run_cost(pipe, request, 2).peak_bytes  # one head's N x N float32 scores, their masked copy and softmax beside it
    monkeypatch.setattr(type(pipe), "_execution_device", property(lambda self: torch.device("cuda")))
    eager = decoder_bytes(folders[1], 9, 64, 64, compiled=False, itemsize=4) - decoder_bytes(folders[1], 9, 64, 64, True, 4)
    assert pipe.device.type == "cpu" and on_cpu - run_cost(pipe, request, 2).peak_bytes == eager > 0



def test_overlapping_decodes_keep_its_builder_until_the_last_ends():
    """Two decodes at once (two pipelines in two threads), the first begun ending first: the other still builds by
    `neighborhood_block_mask` (diffusers' own would make N x N), and diffusers' builder is its own again when the last
    ends (not left replaced for good)."""
    from diffusers.models.autoencoders import ltx2_diffusion_decoder

    from vidlong.families.ltx2_neighborhood import neighborhood_block_mask, neighborhood_masks

    stock, first, second = ltx2_diffusion_decoder._neighborhood_block_mask, neighborhood_masks(), neighborhood_masks()
    try:
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)
        assert ltx2_diffusion_decoder._neighborhood_block_mask is neighborhood_block_mask
        second.__exit__(None, None, None)
        assert ltx2_diffusion_decoder._neighborhood_block_mask is stock
    finally:  # whatever happened, the module's own again for the file's other tests
        ltx2_diffusion_decoder._neighborhood_block_mask = stock


@pytest.mark.parametrize("config, says", [
    (None, "holds no readable diffusion_decoder/config.json; pass the folder of LTX-2.5's diffusion decoder "
           "(LTX2VideoDiffusionDecodePipeline)"),
    ("[]", "holds no readable diffusion_decoder/config.json"),
    (json.dumps(dict(latent_channels=8)), "decodes latents of 8 channels, this model's VAE makes 4; pass the diffusion "
                                          "decoder of this model's release")],
    ids=["no-config", "not-an-object", "other-channels"])
def test_a_decoder_without_a_readable_config_or_of_other_channels_is_refused_before_loading(folders, tmp_path, config, says):
    """A folder naming `LTX2VideoDiffusionDecodePipeline` whose diffusion_decoder/config.json is missing or no JSON object,
    or whose decoder takes latents of other channels than the model's VAE makes: one line from the request's checks
    (`check_generate`, before any model loads), not an error after the video is made."""
    from vidlong.validate import check_generate, limits_for_folder

    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "LTX2VideoDiffusionDecodePipeline"}))
    if config is not None:
        (tmp_path / "diffusion_decoder").mkdir()
        (tmp_path / "diffusion_decoder" / "config.json").write_text(config)
    with pytest.raises(vidlong.VidlongError) as refused:
        check_generate(GenerateRequest(**REQUEST, decoder=str(tmp_path)), limits_for_folder(folders[0]))
    assert str(refused.value).startswith(f"decoder (--decoder): {tmp_path} ") and says in str(refused.value), refused.value


def test_its_steps_are_read_from_its_config_as_its_model_takes_them(folders, tmp_path):
    """`decoder_steps` (the run's planned "diffusion decode" steps) reads diffusion_decoder/config.json: the steps the model
    built from it holds (on the meta device), its ``decoder_num_inference_steps`` where given, else diffusers' default."""
    from vidlong.families.ltx2_decoder import DECODER_CONFIG, decoder_model, decoder_steps

    tiny = json.loads((folders[1] / DECODER_CONFIG).read_text())
    (tmp_path / DECODER_CONFIG).parent.mkdir()
    read, built = [], []
    for steps in (None, 3):
        config = {key: value for key, value in tiny.items() if key != "decoder_num_inference_steps"}
        given = config if steps is None else {**config, "decoder_num_inference_steps": steps}
        (tmp_path / DECODER_CONFIG).write_text(json.dumps(given))
        read.append(decoder_steps(tmp_path))
        built.append(decoder_model(tmp_path).config.decoder_num_inference_steps)
    assert read == built and read[1] == 3


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("grid, kernel", GRIDS)
def test_compiled_flex_on_cuda_reads_the_narrow_block_mask_as_its_token_mask(grid, kernel):
    """On CUDA, flex_attention compiled (what vidlong's decode runs there, `vidlong.compiled_flex`) with
    `neighborhood_block_mask`'s mask (its kv_indices as wide as its widest row, not one column per key block) is the
    attention of the N x N token mask that mask implies: SDPA in float32 with that boolean mask, q, k, v ``[1, 2, N, 64]``
    float32, within 1e-4."""
    import torch.nn.functional as F

    from vidlong.compiled_flex import flex_compiled
    from vidlong.families.ltx2_neighborhood import neighborhood_block_mask

    tokens = grid[0] * grid[1] * grid[2]
    allowed = _token_mask(neighborhood_block_mask(*grid, kernel, torch.device("cpu")), tokens).cuda()
    q, k, v = torch.randn(3, 1, 2, tokens, 64, device="cuda").unbind(0)
    made = flex_compiled()(q, k, v, block_mask=neighborhood_block_mask(*grid, kernel, torch.device("cuda")))
    assert (made - F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)).abs().max() < 1e-4


@pytest.mark.gpu
@needs_cuda
def test_on_cuda_generate_decoder_is_diffusers_two_calls_there(folders):
    """On CUDA in float32, `generate` with ``decoder`` (its flex compiled, its masks vidlong's) against diffusers' own two
    calls there (the decode pipeline's flex uncompiled, its masks its own builder's): frames within a grey level, the
    sound the same within float32's rounding."""
    from diffusers import LTX2Pipeline, LTX2VideoDiffusionDecodePipeline

    from vidlong.video_io import rounded_uint8

    pipe = vidlong.load_pipeline(folders[0], device="cuda", dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    decoded = generate(pipe, GenerateRequest(**REQUEST, decoder=str(folders[1])))
    stock = LTX2Pipeline.from_pretrained(folders[0]).to("cuda")
    stock.set_progress_bar_config(disable=True)
    out = stock("a red ball", num_frames=9, height=64, width=64, num_inference_steps=1, guidance_scale=3.0, frame_rate=24,
                output_type="latent", generator=torch.Generator().manual_seed(3))
    decode = LTX2VideoDiffusionDecodePipeline.from_pretrained(folders[1]).to("cuda")
    frames = rounded_uint8(decode(out.frames, generator=torch.Generator().manual_seed(3), output_type="np",
                                  denormalize=False).frames[0])
    assert decoded.frames.shape == frames.shape == (9, 64, 64, 3)
    assert np.abs(decoded.frames.astype(int) - frames).max() <= 1
    with torch.no_grad():
        sound = stock.vocoder(stock.audio_vae.decode(out.audio.to(stock.audio_vae.dtype), return_dict=False)[0])
    assert np.allclose(sound[0].clamp(-1, 1).cpu().numpy(), decoded.audio.samples, atol=1e-5)


def test_the_app_serves_the_decoder_as_its_box_and_refuses_it_as_the_cli_does(folders, pipe, tmp_path, capsys, monkeypatch):
    """``vidlong app --decoder FOLDER`` (`launch(decoder=...)`, `build_app(decoder=...)`): the LTX-2 page shows its
    "Diffusion decoder" box (a page without the folder does not); /generate's `decoder` (after `refine`) decodes the video
    by it, the settings and the sidecar naming the folder as vidlong generate's do, a history click ticking the box back;
    the length note says so; ticked beside "Upsample 2x", the CLI's one line naming both boxes by their labels; /stream's
    `decoder` refused in one line as vidlong stream --decoder is; ticked through a page without the folder, one line
    naming vidlong app --decoder FOLDER. ``vidlong app --decoder`` with a missing folder, or on another family's model
    (the default Wan): one line, exit 2, before any model loads."""
    from types import SimpleNamespace

    import gradio as gr
    from gradio_client.exceptions import AppError
    from test_app import client_of, field_with_id, video_path
    from tiny_pipeline import save_tiny_latent_upsampler

    from vidlong.apps import gradio_app
    from vidlong.video_io import read_video

    upsampler = save_tiny_latent_upsampler(tmp_path / "upsampler", "ltx-2")
    demo = gradio_app.build_app(pipe, upsampler=upsampler, decoder=folders[1])
    app, bare = demo.vidlong_app, gradio_app.App(pipe)
    assert field_with_id(demo, "decoder").visible and app.decodes and not bare.decodes
    fields = ("a red ball", "both", "none", 1, 1, None, 3, "auto", "", None, None, None, None, "", 0, None, None, *[None] * 9)
    note = app.length_note(1, "both", gradio_app.NO_PRESET, 1, None, None, None, None, *[None] * 9, False, False, True)
    assert "Then decoded by LTX-2.5's diffusion decoder instead of the VAE" in note and "weights and activations" in note
    with pytest.raises(vidlong.VidlongError) as both:
        app.run(*fields, True, False, True)
    assert gradio_app._user_message(both.value, app.places) == ('"Diffusion decoder" decodes the video\'s own latents, and '
                                                               '"Upsample 2x" the upsampled ones (by the VAE): drop one of them')
    with pytest.raises(vidlong.VidlongError) as none:
        bare.run(*fields, False, False, True)
    assert gradio_app._user_message(none.value, bare.places) == ("decoder: no model folder holds LTX-2.5's diffusion "
                                                                 "decoder; pass the folder of it (serve the page with "
                                                                 "vidlong app --decoder FOLDER)")
    with client_of(demo, tmp_path / "downloads") as client:
        video, settings = client.predict(prompt="a red ball", ratio=1, steps=1, seed=3, decoder=True, api_name="/generate")
        assert read_video(video_path(video))[0].shape == (9, 64, 64, 3)
        assert settings["decoder"] == str(folders[1]) and settings["decoder_pass"] == dict(num_inference_steps=1, seed=3)
        with pytest.raises(AppError, match=r"^decoder decodes a whole generated video's latents \(the Generate tab's "
                                           r"Diffusion decoder\); a stream decodes its chunks by the VAE as they come: "
                                           r"drop decoder$"):
            client.predict(prompt="a red ball", seconds=1, decoder=True, api_name="/stream")
    item = app.history.items()[0]
    assert json.loads(item.sidecar.read_text())["decoder"] == str(folders[1])  # the sidecar's, as vidlong generate's
    shown = app.reload(SimpleNamespace(value=item.video.name))
    assert shown[3 + len(gradio_app.FORM_FIELDS) + 4] == gr.update(value=True)  # after compared, overlap, two boxes
    monkeypatch.setattr("vidlong.pipeline.load_pipeline", lambda *a, **k: pytest.fail("a model loaded"))
    capsys.readouterr()
    for model, decoder, says in ((folders[0], tmp_path / "none", f"--decoder: no folder at {tmp_path / 'none'}; pass the "
                                  "folder of LTX-2.5's diffusion decoder (LTX2VideoDiffusionDecodePipeline)"),
                                 (None, folders[1], "--decoder decodes LTX-2's and LTX-2.5's latents by LTX-2.5's diffusion "
                                  "decoder; this model (WanPipeline) is none of them: drop --decoder")):
        assert main(["app", *(["--model", str(model)] if model else []), "--decoder", str(decoder), "--device", "cpu"]) == 2
        assert capsys.readouterr().err == f"vidlong: error: {says}\n"
