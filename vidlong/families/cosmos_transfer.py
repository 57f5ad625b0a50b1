"""NVIDIA Cosmos-Transfer2.5 under vidlong (`vidlong.families`): diffusers' `Cosmos2_5_TransferPipeline`, a control video
(edge, depth, segmentation or blur maps) made into a world video chunk after chunk, each chunk conditioned on the last
frames of the one before; what Cosmos pipelines share is `cosmos.CosmosFamily`."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from diffusers import Cosmos2_5_TransferPipeline

from .. import hooks
from ..errors import VidlongError, named
from ..pipeline import VidlongPipelineMixin
from .cosmos import CosmosFamily


def control_length(controls) -> int:
    """Pixel frames of a call's ``controls`` in each form its video processor takes: a list of frames (PIL images or arrays
    ``[H, W, 3]``), a video or a batch of them as an array (frames 4th from last: NumPy ``[B, F, H, W, 3]``, torch
    ``[B, F, 3, H, W]``), or a list of videos (the first's); 0 for none."""
    if isinstance(controls, (np.ndarray, torch.Tensor)):
        return controls.shape[-4] if controls.ndim >= 4 else 1
    if not isinstance(controls, list) or not controls:
        return 0
    first = controls[0]
    if isinstance(first, list):
        return len(first)
    return first.shape[-4] if isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim >= 4 else len(controls)


class VidLongCosmos2_5_TransferPipeline(CosmosFamily, VidlongPipelineMixin, Cosmos2_5_TransferPipeline):
    """diffusers' `Cosmos2_5_TransferPipeline` (Cosmos-Transfer2.5: Predict2.5's transformer, with the residuals of its
    `CosmosControlNetModel` over the control video's latents added to every ``controlnet_block_every_n``-th block) with
    vidlong's surface. Its video is as long as its control video (``controls=``; `vidlong generate --control-video`,
    `GenerateRequest(control_video=...)`), made chunk after chunk by its own call: chunks of ``num_frames_per_chunk`` pixel
    frames (the native window where none is given), each after the first starting from the last
    ``num_ar_conditional_frames`` frames of the one before, decoded on its own, its noise, its conditioning frames' and its
    control video's encodings drawn from the call's generator. Its call keeps every chunk's decoded frames (float32, on the
    CPU) until its end, so its memory grows with the video's length.

    vidlong's methods act on the transformer's and the control branch's self-attentions alike (the branch's tokens are the
    chunk's frames, its grid the latents'; `vidlong.attention.adapters.cosmos_controlnet`): the methods applied to the
    transformer are put on the controlnet for the length of each call and taken off after it, whatever its end (so a
    `generate` that sets its own methods aside leaves no trace on the branch). With methods applied and no
    ``num_frames_per_chunk`` given, its chunk is the whole video up to its RoPE table (128 latent frames), so a longer
    video has fewer seams (`chunk_frames`); with none, its call is diffusers' bit for bit. `generate` hands its call no
    ``latents=`` but its generator (`call_latents`). `stream` yields its call's chunks one by one as they are made, keeping
    only what the next reads (`cosmos_transfer_stream.TransferStreamer`: memory flat with the video's length); `extend`
    continues a video along a control video covering it and its continuation, its call's chunks from the video's last
    frame."""

    call_redraws_from = "noise"  # each chunk's noise and encodings, drawn in its call's order

    def guards_video(self) -> bool:
        """Always: its call runs its safety checker's video check on every video, whatever the checker."""
        return True

    def __call__(self, *args, **kwargs):
        """Its call, the control branch carrying the transformer's methods (`vidlong.hooks.state_of`) for its length alone:
        stock again after it, on an error or an interruption too."""
        state = hooks.state_of(self.transformer)
        if state is not None and state.methods and state.stream is None:
            hooks.apply(self.controlnet, *state.methods, native_frames=state.native_frames, kernel=state.kernel)
        try:
            return super().__call__(*args, **kwargs)
        finally:
            hooks.remove(self.controlnet)

    def stream(self, prompt: str, streaming=None, chunks=None, seconds=None, video=None, strength=None, control_video=None,
               **kwargs):
        """Its call's chunks over `control_video` one by one, as they are made: an iterator of `StreamChunk`
        (`TransferStreamer`, whose keyword arguments it takes). `streaming` may set ``steps`` alone (a chunk is its call's,
        not a `Streaming`'s); `chunks` N takes the first N. A video to redraw, a strength, seconds, a first frame, a prompt
        schedule and diagonal denoising are refused in one line."""
        from .cosmos_transfer_stream import TransferStreamer

        given = dict(video=video, strength=strength, seconds=seconds, image=kwargs.get("image"))
        for name, value in given.items():
            if value is not None:
                raise VidlongError(f"a Cosmos-Transfer2.5 stream follows its {named('control_video')}, as long as it "
                                   f"({named('chunks')} N: its first N chunks): drop {named(name)}")
        if control_video is None:
            raise VidlongError(f"Cosmos-Transfer2.5 streams the chunks of a control video: pass {named('control_video')}")
        steps, chunks = self._call_chunks("pipe.stream", prompt, streaming, chunks, kwargs)
        kwargs.pop("image", None)
        return TransferStreamer(self, prompt, control_video, chunks=chunks, steps=steps, **kwargs)

    def extend(self, prompt: str, video=None, latents=None, streaming=None, chunks=None, seconds=None, fps=None,
               control_video=None, **kwargs):
        """Continue `video` along `control_video`, which covers it and its continuation (its frame i the output's frame i):
        an iterator of `StreamChunk`, the input's frames first, unchanged (``is_input``), then its call's chunks over the
        control frames past the input, the first from the input's last frame as a chunk after the first starts from the one
        before's (`TransferStreamer`, whose keyword arguments it takes). `video`: uint8 frames ``[T, H, W, 3]`` or a video
        file's path or `vidlong.video_io.VideoFileFrames` (read as the output is written); `seconds` of new video at its frame
        rate (`fps`, else its file's, else the control video file's, else the model's; None: to the control video's end),
        `chunks` N: the first N new chunks; `streaming` may set ``steps`` alone. Saved latents, a first frame, a size, a
        prompt schedule, an `fps` not a finite number > 0, a control video too short for the input and the seconds and a
        control video file at another frame rate than the input's are refused in one line."""
        from ..extend import as_video_frames, input_video_file
        from ..methods import model_streaming
        from ..scalars import plain
        from ..validate import check_fps
        from ..video_io import VideoFileFrames
        from ..video_to_video import is_video_path
        from .cosmos_transfer_stream import TransferStreamer

        if latents is not None:
            raise VidlongError(f"a Cosmos-Transfer2.5 extension continues a video's frames (its last conditions the first new "
                               f"chunk), not saved latents: drop {named('latents')}, pass {named('video')}")
        if video is None or control_video is None:
            raise VidlongError("a Cosmos-Transfer2.5 extension continues a video along a control video covering it, then its "
                               f"continuation: pass {named('video')} and {named('control_video')}")
        steps, chunks = self._call_chunks("pipe.extend", prompt, streaming, chunks, kwargs)
        fps = plain(fps)
        check_fps(fps)
        if is_video_path(video):  # its last frames kept, the rest read again as they are written
            video = input_video_file(video, self.spec, model_streaming(self.spec), self.facts()["family"])
        elif not isinstance(video, VideoFileFrames):
            video = as_video_frames(video)
        return TransferStreamer(self, prompt, control_video, chunks=chunks, steps=steps, video=video, seconds=plain(seconds),
                                fps=fps, **kwargs)

    def _call_chunks(self, call: str, prompt, streaming, chunks, kwargs: dict) -> tuple:
        """(steps per chunk, chunks) of `stream` or `extend` (`call`), its chunks its call's: `streaming` (a
        `vidlong.Streaming`) sets its steps alone; one prompt."""
        from ..control_video import check_control_stream_prompt
        from ..methods import Streaming, model_streaming

        streaming, chunks, _ = self._stream_config(call, streaming, chunks, None, kwargs)
        spec = model_streaming(self.spec)
        changed = ["diagonal denoising"] if not isinstance(streaming, Streaming) else [
            field for field in ("chunk", "sinks", "window", "context", "sampler", "timesteps", "first_chunk")
            if getattr(streaming, field) != getattr(spec, field)]
        if changed:
            raise VidlongError(f"a Cosmos-Transfer2.5 stream is its call's chunks ({named('num_frames_per_chunk')} pixel "
                               f"frames, each after the first from the last frame of the one before): streaming= sets its "
                               f"steps alone, not {changed[0]}")
        check_control_stream_prompt(prompt)
        return streaming.steps, chunks

    def call_defaults(self) -> dict:
        """The spec's, but the length: the control video's."""
        return {name: value for name, value in super().call_defaults().items() if name != "num_frames"}

    def chunk_frames(self, frames: int, methods: bool) -> int:
        """Pixel frames of its call's chunk for a video of `frames` pixel frames: the native window's without `methods`
        (its call's default, 93 in its release), with them the whole video's, at most its RoPE table's latent frames'
        (``4·(rows - 1) + 1``)."""
        native = self.spec.native_pixel_frames
        if not methods:
            return native
        rows = self.transformer.config.max_size[0] // self.transformer.config.patch_size[0]
        return max(native, min(frames, self.spec.temporal_ratio * (rows - 1) + 1))

    def complete_call(self, arguments: dict) -> None:
        """Its chunk where none is given (`chunk_frames`: with the transformer's methods applied, the whole video's), and
        its own default negative prompt for a ``negative_prompt`` of None (`generate`'s where none is given)."""
        if "negative_prompt" in arguments and arguments["negative_prompt"] is None:
            del arguments["negative_prompt"]
        if arguments.get("num_frames_per_chunk") is None:
            state = hooks.state_of(self.transformer)
            frames = arguments.get("num_frames") or control_length(arguments.get("controls"))
            arguments["num_frames_per_chunk"] = self.chunk_frames(frames, bool(state is not None and state.methods))

    def forward_frames(self, arguments: dict) -> int:
        """One forward spans one chunk."""
        return arguments["num_frames_per_chunk"]

    def chunks(self, frames: int, chunk: int, conditional: int = 1) -> int:
        """Its call's chunks for `frames` pixel frames in chunks of `chunk`, each after the first starting from the last
        `conditional` pixel frames of the one before (``num_ar_conditional_frames``)."""
        return len(range(0, frames - conditional, chunk - conditional))

    def steps_reported(self, steps: int, latent_frames: int, methods: tuple = ()) -> int:
        """Each chunk's steps, chunk after chunk (`methods`: those `generate` applies, which set its chunk)."""
        frames = self.spec.temporal_ratio * (latent_frames - 1) + 1
        return self.chunks(frames, self.chunk_frames(frames, bool(methods))) * steps

    def call_latents(self, latents: torch.Tensor) -> Optional[torch.Tensor]:
        """None: its call draws every chunk's noise from its generator between the VAE's draws of that chunk's encodings,
        so `generate` hands it the generator (`call_redraws_from`) and no ``latents=``, and with no method its video is
        diffusers' call's with the same seed, every chunk."""
        return None

    def latents_shapes(self, arguments: dict, batch: int) -> tuple:
        """A chunk's noise ``[B, C, f, h, w]`` (its call starts every chunk from the ``latents=`` it is given)."""
        grid = self.latents_grid(arguments, batch)
        return () if grid is None else (grid,)

    def check_inputs(self, prompt, height, width, prompt_embeds=None, callback_on_step_end_tensor_inputs=None,
                     num_ar_conditional_frames=None, num_ar_latent_conditional_frames=None, num_frames_per_chunk=None,
                     num_frames=None, conditional_frame_timestep=0.1):
        """diffusers' checks, but its RoPE bound: diffusers compares a chunk's pixel frames with its RoPE table's rows,
        which are latent (token) frames, refusing chunks past 128 pixel frames that its table holds; vidlong's call has
        checked the chunk's latent frames against the table (`vidlong.validate.check_latent_length`)."""
        rows = max(size // patch for size, patch in zip(self.transformer.config.max_size, self.transformer.config.patch_size))
        shown = min(num_frames_per_chunk, rows)
        checked = super().check_inputs(prompt, height, width, prompt_embeds, callback_on_step_end_tensor_inputs,
                                       num_ar_conditional_frames, num_ar_latent_conditional_frames, shown, num_frames,
                                       conditional_frame_timestep)
        return num_frames_per_chunk if shown < num_frames_per_chunk else checked
