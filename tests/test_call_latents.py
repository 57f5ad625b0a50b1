"""A vidlong pipeline's call given ``latents=`` (`VidlongPipelineMixin.latents_shapes`, `vidlong.validate.check_call_latents`),
over every family's tiny pipeline: latents of the shape its call takes start diffusers' own call, bit for bit (one step, the
latents out); latents of another channel count, frame count, rank or batch (``num_videos_per_prompt`` x prompts), or of a dtype
its call would not convert, are refused in one line naming ``latents`` before any transformer forward: of the video-to-video
calls too (the noise of their video's latents) and CogVideoX-Fun's (at its control video's length); LTX-2's ``audio_latents=``
likewise."""
import inspect

import pytest
import torch
from PIL import Image

import tiny_pipeline
import vidlong
from vidlong.errors import VidlongError
from vidlong.models import ModelSpec

#: the call's frames: one latent frame past the first (`ModelSpec.temporal_ratio` + 1 pixel frames, Wan Animate's segment)
LATENT_FRAMES = 2


def ltx_condition():
    from diffusers import LTXConditionPipeline

    return LTXConditionPipeline(**tiny_pipeline.tiny_ltx_pipeline().components)


def built_from(stock_class: str, builder, transformer=None):
    """diffusers' `stock_class` of the tiny parts of `builder` (its `transformer` in place of theirs, where given)."""
    import diffusers

    parts = builder().components
    parts = {name: module for name, module in parts.items()
             if name in inspect.signature(getattr(diffusers, stock_class).__init__).parameters}
    return getattr(diffusers, stock_class)(**dict(parts, **({"transformer": transformer} if transformer is not None else {})))


def fun_transformer():
    """CogVideoX-Fun control's transformer: the tiny CogVideoX's, taking the control video's latent channels too."""
    from conftest import IN_CHANNELS, tiny_cogvideox_transformer

    return tiny_cogvideox_transformer(in_channels=2 * IN_CHANNELS)


def tiled(pipe):
    """`pipe` with its VAE's tiling on, as `vidlong.load_pipeline` sets Allegro's (its VAE decodes by tiles alone)."""
    pipe.vae.enable_tiling()
    return pipe


def animate_inputs(height: int, width: int) -> dict:
    """Wan Animate's reference image and its pose and face videos (one segment's 5 frames)."""
    picture = lambda size: Image.new("RGB", size, (200, 30, 30))  # noqa: E731 - a one-line helper
    return dict(image=picture((width, height)), pose_video=[picture((width, height))] * 5,
                face_video=[picture((tiny_pipeline.ANIMATE_FACE_SIZE,) * 2)] * 5)


def frames_of(height: int, width: int, count: int) -> list:
    """`count` PIL frames of `height` x `width`."""
    return [Image.new("RGB", (width, height), (200, 30, 30 + 20 * frame)) for frame in range(count)]


def redrawn_video(height: int, width: int) -> dict:
    """A video-to-video call's video, in place of ``num_frames``: 9 frames (the 8k+1 CogVideoX redraws, 4k+1 for Wan; 3
    latent frames, which ``latents=``, the noise of its latents, must have), redrawn whole (strength 1: its one step)."""
    return dict(video=frames_of(height, width, 9), strength=1.0)


#: the call's other inputs by case (height, width -> arguments): Wan Animate's pictures; a video-to-video call's video;
#: CogVideoX-Fun's control video (as long as ``num_frames``); Lucy Edit's video to edit (its call's length is the video's)
INPUTS = {"wan-animate": animate_inputs, "wan-v2v": redrawn_video, "cogvideox-v2v": redrawn_video,
          "cogvideox-fun": lambda height, width: dict(control_video=frames_of(height, width, 5)),
          "lucy-edit": lambda height, width: dict(video=frames_of(height, width, 5))}


#: case: (tiny pipeline builder, height, width, whether its call takes an image, whether the test runs diffusers' call too)
#: diffusers' call runs here on one family of each layout (Wan's ``[B, C, F, h, w]``, LTX-Video's packed tokens, CogVideoX's
#: frames first, Kandinsky 5's channels last); every family's `generate` test hands its call ``latents=`` of its layout and
#: checks the video against diffusers' call (test_family_pipelines, test_wan_family, test_skyreels, test_kandinsky5, ...)
CASES = {
    "wan": (tiny_pipeline.tiny_pipeline, 32, 32, False, True),
    "wan2.2-a14b": (lambda: tiny_pipeline.tiny_pipeline(kind="wan2.2"), 32, 32, False, False),
    "wan2.2-ti2v": (lambda: tiny_pipeline.tiny_pipeline(kind="ti2v"), 32, 32, False, False),
    "wan-i2v": (lambda: tiny_pipeline.tiny_pipeline(kind="i2v"), 32, 32, True, False),
    "wan-vace": (tiny_pipeline.tiny_vace_pipeline, 32, 32, False, False),
    "wan-animate": (tiny_pipeline.tiny_wan_animate_pipeline, 32, 32, False, False),
    "skyreels-v2": (tiny_pipeline.tiny_skyreels_pipeline, 32, 32, False, False),
    "skyreels-v2-i2v": (tiny_pipeline.tiny_skyreels_i2v_pipeline, 32, 32, True, False),
    "skyreels-v2-df": (tiny_pipeline.tiny_skyreels_df_pipeline, 32, 32, False, False),
    "ltx-video": (tiny_pipeline.tiny_ltx_pipeline, 64, 64, False, True),
    "ltx-video-i2v": (tiny_pipeline.tiny_ltx_i2v_pipeline, 64, 64, True, False),
    "ltx-video-0.9.5": (ltx_condition, 64, 64, False, False),
    "ltx-2": (tiny_pipeline.tiny_ltx2_pipeline, 64, 64, False, False),
    "cogvideox": (tiny_pipeline.tiny_cogvideox_pipeline, 32, 48, False, True),
    "cogvideox1.5": (lambda: tiny_pipeline.tiny_cogvideox_pipeline(patch_size_t=2), 32, 48, False, False),
    "cogvideox-i2v": (tiny_pipeline.tiny_cogvideox_i2v_pipeline, 32, 48, True, False),
    "hunyuan-video": (tiny_pipeline.tiny_hunyuan_pipeline, 32, 48, False, False),
    "hunyuan-video-i2v": (tiny_pipeline.tiny_hunyuan_i2v_pipeline, 32, 48, True, False),
    "hunyuan-skyreels-i2v": (tiny_pipeline.tiny_hunyuan_skyreels_pipeline, 32, 48, True, False),
    "hunyuan-video-1.5": (tiny_pipeline.tiny_hunyuan15_pipeline, 32, 48, False, False),
    "hunyuan-video-1.5-i2v": (tiny_pipeline.tiny_hunyuan15_i2v_pipeline, 32, 48, True, False),
    "mochi": (tiny_pipeline.tiny_mochi_pipeline, 32, 48, False, False),
    "kandinsky5": (tiny_pipeline.tiny_kandinsky5_pipeline, 32, 48, False, True),
    "kandinsky5-i2v": (lambda: tiny_pipeline.tiny_kandinsky5_pipeline(image_to_video=True), 32, 48, True, False),
    "motif-video": (tiny_pipeline.tiny_motif_pipeline, 32, 48, False, False),
    "motif-video-i2v": (lambda: tiny_pipeline.tiny_motif_pipeline(image_to_video=True), 32, 48, True, False),
    "easyanimate": (tiny_pipeline.tiny_easyanimate_pipeline, 32, 48, False, False),
    "easyanimate-i2v": (lambda: tiny_pipeline.tiny_easyanimate_pipeline(image_to_video=True), 32, 48, True, False),
    "allegro": (lambda: tiled(tiny_pipeline.tiny_allegro_pipeline()), 32, 32, False, False),
    "wan-v2v": (lambda: built_from("WanVideoToVideoPipeline", tiny_pipeline.tiny_pipeline), 32, 32, False, False),
    "cogvideox-v2v": (lambda: built_from("CogVideoXVideoToVideoPipeline", tiny_pipeline.tiny_cogvideox_pipeline), 32, 48, False,
                      False),
    "cogvideox-fun": (lambda: built_from("CogVideoXFunControlPipeline", tiny_pipeline.tiny_cogvideox_pipeline, fun_transformer()),
                      32, 48, False, False),
    "anyflow": (tiny_pipeline.tiny_anyflow_pipeline, 32, 48, False, False),
    "anyflow-far": (tiny_pipeline.tiny_anyflow_far_pipeline, 32, 32, False, False),
    "lucy-edit": (tiny_pipeline.tiny_lucy_pipeline, 32, 32, False, False),
    "helios": (tiny_pipeline.tiny_helios_pipeline, 32, 32, False, False),
    "helios-pyramid": (tiny_pipeline.tiny_helios_pyramid_pipeline, 32, 32, False, False),
    "framepack": (tiny_pipeline.tiny_framepack_pipeline, 16, 16, True, False),
    "sana-video": (tiny_pipeline.tiny_sana_video_pipeline, 32, 32, False, False),
    "sana-video-i2v": (lambda: built_from("SanaImageToVideoPipeline", tiny_pipeline.tiny_sana_video_pipeline), 32, 32, True,
                       False),
    "latte": (tiny_pipeline.tiny_latte_pipeline, 32, 32, False, False),
    "consisid": (lambda: tiny_pipeline.tiny_consisid_pipeline(face=False), 32, 48, True, False),  # a call given no face's tensors
}


class FirstForward(Exception):
    """Raised by `counted_forwards`' hook to stop a call at its first transformer forward."""


def counted_forwards(pipe, stop: list) -> list:
    """A list that grows by one at every forward of any of `pipe`'s transformers, which `FirstForward` stops while `stop`
    holds anything."""
    forwards = []

    def count(module, args):
        forwards.append(1)
        if stop:
            raise FirstForward

    for transformer in pipe.experts():
        transformer.register_forward_pre_hook(count)
    return forwards


def grid_shape(pipe, arguments: dict, channels: int = 0, frames: int = 0) -> tuple:
    """The shape of `pipe`'s own latents layout (`call_latents`) for its call's `arguments` with `channels` more channels and
    `frames` more latent frames."""
    batch, c, f, h, w = pipe.latents_grid(arguments, 1)
    return tuple(pipe.call_latents(torch.empty(batch, c + channels, f + frames, h, w, device="meta")).shape)


@pytest.mark.parametrize("case", list(CASES))
def test_latents_of_the_calls_shape_reach_its_transformer_and_others_are_refused_before_any_forward(case):
    """Every shape `latents_shapes` names starts the call: the first, vidlong's layout, is the one `generate` hands it (on
    one family of each layout here, diffusers' call given the same latents makes the same latents, bit for bit); another
    (diffusers' own layout, where the call takes two) reaches a transformer forward. Latents of one channel more, one latent
    frame more, one dimension less, the batch of one video where the call makes two (``num_videos_per_prompt=2``, or two
    prompts where the call makes one video a prompt) or integers, and floats of another dtype where the call takes them as
    they are (`converts_latents`), are each refused in one line naming ``latents``, before any transformer forward. A
    video-to-video call's ``latents=`` with its video are the noise of its latents (their shape, checked before the video
    is encoded); without one, diffusers' start latents of any length (one channel more refused)."""
    build, height, width, image, compared = CASES[case]
    stock = build()
    steps = 2 if case == "mochi" else 1  # Mochi's sampler takes 2 steps at the fewest
    pipe = vidlong.from_pipe(stock, spec=ModelSpec(name=f"tiny-{case}", native_frames=LATENT_FRAMES, height=height, width=width,
                                                   num_inference_steps=steps, guidance_scale=1.0))
    pipe.set_progress_bar_config(disable=True)
    frames = pipe.spec.temporal_ratio * (LATENT_FRAMES - 1) + 1
    length = dict(segment_frame_length=frames) if case == "wan-animate" else {} if case.endswith("v2v") else \
        {pipe.frames_argument: frames}  # its call's name for the length (Sana-Video's frames)
    call = dict(prompt="a red ball", height=height, width=width, num_inference_steps=steps, output_type="latent", **length,
                **(dict(image=Image.new("RGB", (width, height), (200, 30, 30))) if image else {}),
                **(INPUTS[case](height, width) if case in INPUTS else {}))
    stop = []
    forwards = counted_forwards(pipe, stop)
    shapes = pipe.latents_shapes(call, 1)
    assert shapes[0] == grid_shape(pipe, call)

    takes = inspect.signature(type(stock).__call__).parameters
    two = dict(num_videos_per_prompt=2) if pipe.videos_per_prompt and "num_videos_per_prompt" in takes else \
        dict(prompt=["a red ball", "a blue ball"])  # its call makes one video a prompt
    wrong = {"channels": (torch.randn(grid_shape(pipe, call, channels=1)), {}),
             "frames": (torch.randn(grid_shape(pipe, call, frames=1)), {}),
             "rank": (torch.randn(shapes[0][1:]), {}), "batch": (torch.randn(shapes[0]), two),
             "integers": (torch.zeros(shapes[0], dtype=torch.int64), {})}
    if not pipe.converts_latents:  # its call takes them as they are: another float dtype fails in its transformer
        wrong["float64"] = (torch.randn(shapes[0], dtype=torch.float64), {})
    for name, (latents, changed) in wrong.items():
        with pytest.raises(VidlongError) as refused:
            pipe(**{**call, **changed}, latents=latents)
        line = str(refused.value)
        assert line.startswith("latents ") and "\n" not in line, (name, line)
        if name in ("channels", "frames", "rank"):  # it names the shape the call takes
            assert f"latents has shape {list(latents.shape)}; this call (" in line and f"takes {list(shapes[0])}" in line, line
    assert not forwards

    stop.append(True)
    for shape in shapes[1:]:  # the first is the one `generate` hands the call (its tests run it)
        with pytest.raises(FirstForward):
            pipe(**call, latents=torch.randn(shape))
    if "video" in call and not pipe.edits_video:  # without its video (which an edit needs): diffusers' start latents,
        # whose own frames set the length
        unvideoed = {name: value for name, value in call.items() if name != "video"}
        (any_length,) = pipe.latents_shapes(unvideoed, 1)
        for frames in (1, 4):
            with pytest.raises(FirstForward):
                pipe(**unvideoed, latents=torch.randn([frames if size is None else size for size in any_length]))
        wider = [3 if size is None else size for size in any_length]
        wider[next(dim for dim, size in enumerate(any_length) if dim and size is not None)] += 1  # one channel more
        with pytest.raises(VidlongError, match=r"^latents has shape .* takes \[1, [^\n]*any[^\n]*$"):
            pipe(**unvideoed, latents=torch.randn(wider))
    stop.clear()
    if compared:
        latents = torch.randn(shapes[0], generator=torch.Generator().manual_seed(0))
        own = pipe(**call, latents=latents, generator=torch.Generator().manual_seed(1)).frames
        settings = {name: value for name, value in {**pipe.call_defaults(), **call}.items() if name in takes}
        theirs = stock(**settings, latents=latents, generator=torch.Generator().manual_seed(1)).frames
        assert torch.equal(own, theirs)


def test_ltx2_audio_latents_of_another_shape_are_refused_before_any_forward():
    """LTX-2's ``audio_latents=`` (`LTX2Family.audio_latents_shapes`): its audio VAE's latents ``[B, C, L, M]`` of any length
    L (its call makes its sound that long) and packed ``[B, L, C·M]`` of the length of the video's seconds reach its
    transformer; of one channel or mel bin more, a packed length off the video's, one dimension less, the batch of one
    video where the call makes two, or integers, they are refused in one line naming ``audio_latents``, before any forward."""
    stock = tiny_pipeline.tiny_ltx2_pipeline()
    pipe = vidlong.from_pipe(stock, spec=ModelSpec(name="tiny-ltx-2", native_frames=LATENT_FRAMES, height=64, width=64,
                                                   num_inference_steps=1, guidance_scale=1.0, temporal_ratio=8))
    pipe.set_progress_bar_config(disable=True)
    call = dict(prompt="a red ball", height=64, width=64, num_frames=9, num_inference_steps=1, output_type="latent")
    unpacked, packed = pipe.audio_latents_shapes(dict(pipe.call_defaults(), **call), 1)
    batch, channels, length, bins = unpacked
    assert length is None and packed[::2] == (batch, channels * bins) and packed[1] >= 1
    stop = []
    forwards = counted_forwards(pipe, stop)
    wrong = {"channels": ((batch, channels + 1, 3, bins), {}), "bins": ((batch, channels, 3, bins + 1), {}),
             "packed length": ((batch, packed[1] + 1, packed[2]), {}), "rank": ((channels, 3, bins), {}),
             "batch": ((batch, channels, 3, bins), dict(num_videos_per_prompt=2))}
    for name, (shape, changed) in wrong.items():
        with pytest.raises(VidlongError) as refused:
            pipe(**{**call, **changed}, audio_latents=torch.randn(shape))
        line = str(refused.value)
        assert line.startswith(f"audio_latents has shape {list(shape)}; this call (") and "\n" not in line, (name, line)
        assert f"[{batch * (2 if changed else 1)}, {channels}, any, {bins}] or" in line, line
    with pytest.raises(VidlongError, match=r"^audio_latents are torch\.int64; [^\n]*$"):
        pipe(**call, audio_latents=torch.zeros((batch, channels, 3, bins), dtype=torch.int64))
    assert not forwards
    stop.append(True)
    for shape in ((batch, channels, 3, bins), (batch, channels, 7, bins), packed):
        with pytest.raises(FirstForward):
            pipe(**call, audio_latents=torch.randn(shape))
