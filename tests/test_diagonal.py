"""Diagonal denoising (``method="fifo"``, `vidlong.DiagonalDenoising`): the queue's bookkeeping against
the exact flow-matching velocity in float64, and the sampler on every Wan pipeline (tiny models built
here): it starts from the pipeline's own native video, runs past the RoPE table, and is refused where
it cannot run."""
import dataclasses
import itertools

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler

import vidlong
from vidlong.generate import GenerateRequest, generate
from vidlong.schedulers.diagonal import diagonal_frames, queue_segments, queue_sigmas, queue_source, start_queue
from tiny_pipeline import KINDS, NATIVE_LATENT_FRAMES as NATIVE, save_tiny_pipeline

IMAGE_KINDS = ("i2v", "i2v-a14b", "ti2v-i2v")


@pytest.mark.parametrize("sink", [1, 0, 2])
@pytest.mark.parametrize("lookahead", [False, True])
def test_the_queue_makes_the_video_whose_exact_velocity_it_is_given(sink, lookahead):
    """Along straight flow-matching paths ``z = (1 - σ)·X_k + σ·E_k`` the velocity ``E_k - X_k`` is exact,
    so Euler steps are exact. An oracle that recognises each frame it is shown (the one ``k`` whose path
    passes through it at its level; none would, were a frame at a wrong level) returns that velocity:
    diagonal denoising must give back X frame for frame, every window must see the sink clean first
    and at most the native window, and lookahead must see the frames just out of the queue, clean."""
    torch.manual_seed(0)
    partitions, window, frames = 3, 4, 20
    levels, skip = partitions * window, sink
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    scheduler.set_timesteps(levels)
    sigmas = queue_sigmas(scheduler.sigmas).double()
    assert sigmas[0] == 0 and sigmas[-1] == 1 and (sigmas.diff() > 0).all()
    video = torch.randn(1, 2, skip + frames + levels, 3, 3, dtype=torch.float64)   # X
    noise = torch.randn_like(video)                                                  # E
    queue = start_queue(video, sigmas, noise[:, :, skip:skip + levels], skip)
    calls = []

    def velocity(z, level, frames):
        assert z.shape[2] == level.shape[0] == len(frames) <= window + skip
        paths = (1 - level.view(-1, 1, 1, 1, 1)) * video[0].permute(1, 0, 2, 3)[None] \
            + level.view(-1, 1, 1, 1, 1) * noise[0].permute(1, 0, 2, 3)[None]      # [n, frames, C, h, w]
        miss = (paths - z[0].permute(1, 0, 2, 3)[:, None]).abs().flatten(2).amax(2)  # [n, frames]
        assert (miss.amin(1) < 1e-9).all(), "a frame off every path: at a wrong level"
        k = miss.argmin(1)
        assert frames == k.tolist(), "a window's frames named by other video indices than their own"
        calls.append(k.tolist())
        return (noise - video)[:, :, k]

    tail = iter(range(skip + levels, skip + frames + levels))
    made = torch.cat(list(itertools.islice(diagonal_frames(queue, sigmas, window, velocity, lambda: noise[:, :, next(tail)][:, :, None],
                                                           sink=video[:, :, :sink] if sink else None, lookahead=lookahead), frames)), dim=2)
    assert len(calls) == (2 if lookahead else 1) * partitions * frames
    if sink:
        assert all(k[:sink] == list(range(sink)) for k in calls)
    if lookahead:  # an iteration's first window looks back at the frames just out of the queue
        assert calls[2 * 2 * partitions][skip:skip + window] == list(range(skip, skip + window))
    assert made.shape == (1, 2, frames, 3, 3)
    torch.testing.assert_close(made, video[:, :, skip:skip + frames], rtol=0, atol=1e-12)


def test_a_window_spans_the_timeline_segments_of_its_frames():
    from vidlong.schedulers.timeline import window_segments

    assert window_segments([0, 7, 8, 9], [0, 8]) == ([0, 1], [0, 2])
    assert window_segments([0, 3, 4], [0, 8]) == ([0], [0])
    assert window_segments([0, 9, 10, 11], [0, 5, 8, 11]) == ([0, 2, 3], [0, 1, 3])  # segment 1 falls between frames


def test_a_timeline_segment_inside_the_queue_starts_it_from_its_own_video():
    first, second = torch.arange(3.0).view(1, 1, 3, 1, 1), 10 + torch.arange(3.0).view(1, 1, 3, 1, 1)
    assert queue_source([(0, first)], 5).flatten().tolist() == [0, 1, 2, 2, 2]
    assert queue_source([(0, first), (4, second)], 8).flatten().tolist() == [0, 1, 2, 2, 10, 11, 12, 12]
    assert queue_segments([0, 2, 4, 9], native=3, span=9) == [2]  # 2 lies inside the native video, 9 past the queue


def test_a_queue_and_sigmas_that_disagree_are_refused():
    with pytest.raises(ValueError, match="multiple of window"):
        next(diagonal_frames(torch.zeros(1, 1, 5, 1, 1), torch.linspace(0, 1, 6), 2, None, None))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return {kind: save_tiny_pipeline(tmp_path_factory.mktemp(kind), kind) for kind in KINDS}


def count_forwards(pipe) -> list:
    """Per expert, a list that grows by one at each of its forwards."""
    counts = [[] for _ in pipe.experts()]
    for expert, count in zip(pipe.experts(), counts):
        expert.register_forward_pre_hook(lambda module, args, count=count: count.append(1))
    return counts


@pytest.mark.parametrize("kind", KINDS)
def test_fifo_starts_from_the_pipelines_own_video_on_every_wan_pipeline(folders, image_path, kind):
    """The output's first latent frame (the sink) is the native generation's, bit for bit; the video has
    the asked length; each frame past it costs one forward per partition and expert that its window
    needs; a seed gives one video."""
    pipe = vidlong.load_pipeline(folders[kind])
    image = str(image_path) if kind in IMAGE_KINDS else None
    counts = count_forwards(pipe)
    native = generate(pipe, GenerateRequest(prompt="a red circle", frames=4 * (NATIVE - 1) + 1, steps=2, seed=3, image=image))
    native_forwards = [len(c) for c in counts]
    stages = []
    request = GenerateRequest(prompt="a red circle", ratio=3, method="fifo", steps=2, seed=3, image=image)
    made = generate(pipe, request, progress=lambda stage, done, total: stages.append((stage, done, total)))
    latent = 3 * NATIVE
    assert made.latents.shape[2] == latent and made.frames.shape[0] == 4 * (latent - 1) + 1
    assert torch.equal(made.latents[:, :, :1], native.latents[:, :, :1])
    denoise = [(done, total) for stage, done, total in stages if stage == "denoise"]
    assert denoise == [(i, 2 + latent - 1) for i in range(2 + latent)]  # 0 at its first forward, its 2 steps, then a frame each
    partitions = vidlong.DiagonalDenoising().partitions
    queue_forwards = [len(c) - 2 * n for c, n in zip(counts, native_forwards)]  # less the native video's, made again inside
    assert partitions * (latent - 1) <= sum(queue_forwards) <= len(pipe.experts()) * partitions * (latent - 1)
    assert all(n > 0 for n in queue_forwards)  # two experts: the queue spans both one's noise levels and the other's
    assert made.settings["methods"] == [{"name": "DiagonalDenoising", **dataclasses.asdict(vidlong.DiagonalDenoising())}]
    if kind == "wan2.1":
        assert torch.equal(generate(pipe, request).latents, made.latents)


def test_fifo_runs_past_the_rope_table(folders):
    """Every forward sees the native window, so a video longer than the RoPE table is made, where the
    other methods refuse it."""
    from vidlong.validate import limits_for_pipeline

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    latent = limits_for_pipeline(pipe).rope_positions + 1
    request = GenerateRequest(prompt="a red ball", frames=4 * (latent - 1) + 1, steps=1, guidance=1.0)
    with pytest.raises(vidlong.VidlongError, match="RoPE table"):
        generate(pipe, request)
    made = generate(pipe, dataclasses.replace(request, method="fifo"))
    assert made.latents.shape[2] == latent and made.frames.shape[0] == 4 * (latent - 1) + 1


def test_diagonal_denoising_is_no_attention_method(folders):
    pipe = vidlong.load_pipeline(folders["wan2.1"])
    with pytest.raises(vidlong.VidlongError, match="a sampler, not an attention method"):
        vidlong.apply(pipe.transformer, vidlong.DiagonalDenoising())
    with pytest.raises(vidlong.VidlongError, match="partitions"):
        vidlong.DiagonalDenoising(partitions=0)
    from vidlong.diagonal import diagonal_latents

    with pytest.raises(vidlong.VidlongError, match=f"sink {NATIVE} leaves no frame of the native window"):
        vidlong.DiagonalDenoising(sink=NATIVE).window(NATIVE)
    with pytest.raises(vidlong.VidlongError, match="sink must be True, False or a whole number"):
        vidlong.DiagonalDenoising(sink=1.5)
    with pytest.raises(vidlong.VidlongError, match="needs DiagonalDenoising sink=True"):  # image-to-video: the sink is the image
        diagonal_latents(pipe, torch.zeros(1, 1, 1, 1, 1), "a red ball", 4, vidlong.DiagonalDenoising(sink=False), condition=object())


def test_lookahead_runs_twice_the_forwards_and_keeps_the_sink(folders):
    from vidlong.diagonal import diagonal_latents

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    first = generate(pipe, GenerateRequest(prompt="a red circle", frames=4 * (NATIVE - 1) + 1, steps=2)).latents
    counts = count_forwards(pipe)
    config = vidlong.DiagonalDenoising(lookahead=True)
    made = diagonal_latents(pipe, first, "a red circle", 3 * NATIVE, config)
    assert len(counts[0]) == 2 * config.partitions * (3 * NATIVE - 1) == config.forwards_per_frame(NATIVE) * (3 * NATIVE - 1)
    assert torch.equal(made[:, :, :1], first[:, :, :1]) and torch.isfinite(made).all()


def test_fifo_follows_a_prompt_timeline_frame_by_frame(folders):
    """A timeline of one repeated prompt is that prompt bit for bit. Under ``"0s: A; 4s: B"`` (B from
    latent frame 8, past the queue's first frames) the frames two windows before the switch are A's own (out before B's influence reached them); the frames of B
    change, those just before the switch hardly (they share windows with B's frames only late, nearly
    clean); a window across the switch holds both segments' texts, each on its own frames."""
    from vidlong.diagonal import WindowText

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    request = GenerateRequest(prompt="a red circle", ratio=4, method="fifo", steps=2, seed=1)
    one = generate(pipe, request)
    same = generate(pipe, dataclasses.replace(request, prompt="0s: a red circle; 4s: a red circle"))
    two = generate(pipe, dataclasses.replace(request, prompt="0s: a red circle; 4s: a blue square on gray"))
    assert torch.equal(same.latents, one.latents)
    window, switch = vidlong.DiagonalDenoising().window(NATIVE), 8
    assert two.settings["timeline"][1]["latent_frame"] == switch
    change = (two.latents - one.latents).abs().flatten(3).amax(3)[0].amax(0)  # [frames]
    assert (change[:switch - 2 * window] == 0).all()
    assert (change[switch:] > 5e-4).all() and change[:switch].max() < 0.1 * change[switch:].min()

    text = WindowText.of_prompt(pipe, "0s: a red circle; 2.5s: a blue square on gray", 4 * NATIVE, "", (1.0,))
    with text.hooks():
        words = text.for_frames([0, 4, 5])
        assert [state.starts for state in text.states] == [(0, 2)]
        parts = [text.encode(prompt).kwargs["encoder_hidden_states"] for prompt in text.prompts]
        assert torch.equal(words.kwargs["encoder_hidden_states"], torch.cat(parts, dim=1))
        assert torch.equal(text.for_frames([0, 1, 2]).kwargs["encoder_hidden_states"], parts[0])
    assert not pipe.transformer._diffusers_hook.get_hook("vidlong_timeline_frames")  # removed after the run
    with pytest.raises(vidlong.VidlongError, match="runs inside WindowText.hooks"):  # both texts on every frame, silently
        text.for_frames([0, 4, 5])
    text.follow([0], ["a blue square on gray"])  # a stream's later schedule: texts no longer scheduled are dropped
    assert set(text.encoded) == {"a blue square on gray"} and not text.joined


def test_a_sink_of_two_frames_keeps_the_native_videos_first_two(folders):
    from vidlong.diagonal import diagonal_latents

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    native = generate(pipe, GenerateRequest(prompt="a red circle", ratio=1, steps=2, seed=3)).latents
    made = diagonal_latents(pipe, native, "a red circle", 3 * NATIVE, vidlong.DiagonalDenoising(sink=2), guidances=(3.0, 3.0))
    assert made.shape[2] == 3 * NATIVE and torch.equal(made[:, :, :2], native[:, :, :2].float())
    assert not torch.equal(made[:, :, 2:NATIVE], native[:, :, 2:].float())  # the queue's frames, denoised again


def test_a_segment_starting_inside_the_queue_gets_its_own_native_video(folders):
    """``"0s: A; 1.5s: B"`` on the tiny model: B starts at latent frame 3, past the native video (3
    frames) and inside the queue's first 7 frames, so B's own native video is made (its steps reported)
    and the queue's frames from 3 on start from it, not from A's last frame."""
    from vidlong.estimate import run_cost

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    counts = count_forwards(pipe)
    request = GenerateRequest(prompt="0s: a red circle; 1.5s: a blue square on gray", ratio=4, method="fifo", steps=2, seed=1)
    stages = []
    made = generate(pipe, request, progress=lambda stage, done, total: stages.append((stage, done, total)))
    latent, partitions = 4 * NATIVE, vidlong.DiagonalDenoising().partitions
    assert made.settings["timeline"][1]["latent_frame"] == NATIVE
    denoise = [(done, total) for stage, done, total in stages if stage == "denoise"]
    assert denoise == [(i, 2 * 2 + latent - 1) for i in range(2 * 2 + latent)]  # from 0: two native videos, then a frame each
    guided = 2  # the tiny model's guidance runs a negative and a positive forward
    assert len(counts[0]) == 2 * 2 * guided + partitions * (latent - 1)
    single = run_cost(pipe, dataclasses.replace(request, prompt="a red circle"), latent).flops
    assert run_cost(pipe, request, latent).flops > single  # the second native video counted


def test_generate_takes_fifos_settings_from_python(folders):
    """``generate(..., diagonal=DiagonalDenoising(...))`` runs method fifo with those settings (the sidecar
    says so, and the video differs from the defaults'); another method refuses them in one line."""
    pipe = vidlong.load_pipeline(folders["wan2.1"])
    request = GenerateRequest(prompt="a red circle", ratio=3, method="fifo", steps=2, seed=1)
    two = generate(pipe, request, diagonal=vidlong.DiagonalDenoising(partitions=2))
    assert two.settings["methods"][0]["partitions"] == 2
    assert not torch.equal(two.latents, generate(pipe, request).latents)
    with pytest.raises(vidlong.VidlongError, match="diagonal= sets method fifo's settings"):
        generate(pipe, GenerateRequest(prompt="a red circle", method="both"), diagonal=vidlong.DiagonalDenoising())


def test_guidance_by_partition_sets_each_levels_guidance(folders):
    """One number per partition, all the pipeline's guidance, is that guidance bit for bit; a noisiest
    partition guided more leaves the sink and the first frame out of the queue (only ever in the cleanest
    partition, among frames still as the queue started) as they were and changes the later frames; a
    wrong count or a number below 1 is refused in one line."""
    from vidlong.diagonal import diagonal_latents

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    first = generate(pipe, GenerateRequest(prompt="a red circle", ratio=1, steps=2, seed=3)).latents
    partitions = vidlong.DiagonalDenoising().partitions

    def made(by_partition):
        config = vidlong.DiagonalDenoising(guidance_by_partition=by_partition)
        return diagonal_latents(pipe, first, "a red circle", 4 * NATIVE, config, guidances=(3.0, 3.0))

    plain = made(None)
    assert torch.equal(made((3,) * partitions), plain)
    noisier = made((3.0,) * (partitions - 1) + (9.0,))
    assert torch.equal(noisier[:, :, :2], plain[:, :, :2])
    assert (noisier[:, :, -NATIVE:] - plain[:, :, -NATIVE:]).abs().amax() > 1e-3
    batches = []
    pipe.transformer.register_forward_pre_hook(lambda module, args, kwargs: batches.append(kwargs["hidden_states"].shape[0]),
                                               with_kwargs=True)
    cleanest_unguided = made((1.0,) + (3.0,) * (partitions - 1))  # its window runs the prompt alone
    assert batches.count(1) == 4 * NATIVE - 1 and batches.count(2) == (partitions - 1) * (4 * NATIVE - 1)
    assert (cleanest_unguided - plain).abs().amax() > 1e-3 and torch.isfinite(cleanest_unguided).all()
    for wrong in ((3.0,) * (partitions + 1), (3.0,) * (partitions - 1) + (0.5,), (3.0,) * (partitions - 1) + (float("nan"),),
                  (3.0,) * (partitions - 1) + (True,)):
        with pytest.raises(vidlong.VidlongError, match="guidance_by_partition takes one number from 1 to 100 per partition"):
            vidlong.DiagonalDenoising(guidance_by_partition=wrong)


def test_noise_correlation_chains_each_new_frames_noise_to_the_one_before():
    """`correlated` gives the draws themselves at 0, else c·previous + sqrt(1 - c²)·fresh (unit spread kept for
    unit draws); out-of-range values are refused in one line."""
    from vidlong.diagonal import correlated

    draws = [torch.randn(1, 4, 1, 2, 2, generator=torch.Generator().manual_seed(k)) for k in range(3)]
    assert correlated(iter(draws).__next__, 0.0)() is draws[0]
    chained = correlated(iter(draws).__next__, 0.6)
    made = [chained() for _ in draws]
    assert torch.equal(made[0], draws[0])
    for k in (1, 2):
        assert torch.allclose(made[k], 0.6 * made[k - 1] + 0.8 * draws[k], atol=1e-7)
    long = correlated(lambda: torch.randn(20000), 0.6)
    a, b = long(), long()
    assert abs(float((a * b).mean()) - 0.6) < 0.03 and abs(float(b.std()) - 1) < 0.03
    for wrong in (1.0, -0.1, float("nan"), "0.5"):
        with pytest.raises(vidlong.VidlongError, match="noise_correlation must be a number from 0 up to"):
            vidlong.DiagonalDenoising(noise_correlation=wrong)


def test_noise_correlation_changes_only_the_frames_that_joined_the_queue_later(folders, tmp_path):
    """The first frames out of the queue (started from the native video) are as without it, bit for bit; later
    ones differ; `vidlong generate --method fifo --noise-correlation` records it in the sidecar."""
    import json

    from vidlong.cli import main

    from vidlong.diagonal import diagonal_latents

    pipe = vidlong.load_pipeline(folders["wan2.1"])
    first = generate(pipe, GenerateRequest(prompt="a red circle", ratio=1, steps=2, seed=3)).latents
    config = vidlong.DiagonalDenoising(noise_correlation=0.5)
    span = config.span(NATIVE)
    plain = diagonal_latents(pipe, first, "a red circle", span + 2 * NATIVE, vidlong.DiagonalDenoising(), guidances=(3.0, 3.0))
    correlated = diagonal_latents(pipe, first, "a red circle", span + 2 * NATIVE, config, guidances=(3.0, 3.0))
    assert torch.equal(correlated[:, :, :2], plain[:, :, :2])
    assert (correlated[:, :, -NATIVE:] - plain[:, :, -NATIVE:]).abs().amax() > 1e-3
    out = tmp_path / "fifo.mp4"
    assert main(["generate", "--model", str(folders["wan2.1"]), "--prompt", "a red circle", "--method", "fifo", "--ratio", "2",
                 "--noise-correlation", "0.5", "--out", str(out)]) == 0
    assert json.loads(out.with_suffix(".json").read_text())["methods"][0]["noise_correlation"] == 0.5
