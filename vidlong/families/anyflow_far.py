"""AnyFlow FAR under vidlong (`vidlong.families`): diffusers' `AnyFlowFARPipeline` (NVIDIA's AnyFlow on FAR's block-causal
Wan2.1, distilled into a flow map).

Its call makes the video chunk by chunk (``chunk_partition``, latent frames per chunk): each chunk is denoised by its
flow map's steps (`vidlong.families.anyflow.flow_map_target`: a step from ``t`` to the next sigma ``r``, no re-noising)
while its self-attention reads a KV cache of the chunks before it, which the call writes again, whole, after every chunk
(one forward of every clean chunk so far at timestep 0 through a chunk-causal BlockMask): the last
``full_chunk_limit - 1`` chunks in full tokens, every older one as compressed patches. Its cache holds keys before RoPE,
and every forward turns them at the positions of the chunks it is given, the first chunk's first frame at 0. So its
call's memory and time grow with the video (a cache for every chunk, each rewrite over all of them), and its RoPE table
(``rope_max_seq_len``) bounds its length. Its call takes latents ``[B, C, F, h, w]`` (as vidlong's), holds them frames
first in its loop (``[B, f, C, h, w]``, the chunk's alone, as its step callbacks see them) and hands them back channels
first (``output_type="latent"``). Units: latent frames unless pixel frames are said.

vidlong's surface: lengths as vidlong gives them (``num_frames``, a ratio of the native window) become a
``chunk_partition`` its call takes (`chunk_partition`); its streams (`AnyFlowFARStreamer`) run its own chunks and cache
over a bounded context, so that memory and time per chunk stay flat however long the stream runs."""
from __future__ import annotations

import copy
from collections import deque

import torch
from diffusers import AnyFlowFARPipeline

from ..compiled_flex import compiled_flex
from ..errors import VidlongError
from ..pipeline import VidlongPipelineMixin
from ..progress import stream_steps
from ..schedulers.stream import StreamSchedule
from ..scalars import is_whole
from ..streaming import VideoStreamer


def chunk_partition(latent_frames: int, partition) -> list:
    """The chunks (latent frames each) its call makes `latent_frames` in, from its config's `partition`: that partition
    where it sums to `latent_frames` (the releases' 1 + 3x6 + 2 = 21), else its first chunk (at most the frames), then
    chunks of its second entry's size, and what is left in a last, shorter chunk."""
    partition = [int(n) for n in partition]
    if sum(partition) == latent_frames:
        return partition
    first = min(partition[0], latent_frames)
    chunk = partition[1] if len(partition) > 1 else partition[0]
    whole, left = divmod(latent_frames - first, chunk)
    return [first] + [chunk] * whole + [left] * (left > 0)


def far_kv_cache(transformer, chunks: int, longest: int, batch: int, height: int, width: int, device, dtype) -> dict:
    """Zeroed KV storage of its call's layout for forwards of at most `chunks` chunks of at most `longest` latent frames each
    on latents of `height` x `width` cells, for a batch of `batch`: per block, ``full_cache`` ``[2, B, H, n_full, D]`` for
    ``full_chunk_limit`` chunks of full tokens and ``compressed_cache`` ``[2, B, H, n_compressed, D]`` for the older chunks'
    compressed patches (keys and values, before RoPE)."""
    config = transformer.config

    def tokens(patch) -> int:
        return (height // patch[1]) * (width // patch[2])

    def storage(count: int) -> torch.Tensor:
        return torch.zeros(2, batch, config.num_attention_heads, count, config.attention_head_dim, device=device, dtype=dtype)

    full = config.full_chunk_limit * longest * tokens(config.patch_size)
    compressed = max(chunks - config.full_chunk_limit + 1, 0) * longest * tokens(config.compressed_patch_size)
    return {block: {"full_cache": storage(full), "compressed_cache": storage(compressed)} for block in range(config.num_layers)}


def cache_elements(cache: dict) -> int:
    """Numbers held by a `far_kv_cache`."""
    return sum(tensor.numel() for layer in cache.values() for tensor in layer.values())


class AnyFlowFARStreamer(VideoStreamer):
    """An AnyFlow FAR stream: its own chunks and KV cache, bounded. The first chunk (``first_chunk`` latent frames, 1 in the
    releases, as their ``chunk_partition``) stays as the sink; the window keeps the latest whole chunks of ``chunk`` frames
    (by default as many as fit the native window with the sink and the chunk: 5 of 3 in the releases, ``1 + 15 + 3 = 19``
    of 21 frames); each new chunk is made as its call makes its chunk after those chunks: their clean latents written to
    the cache at timestep 0 under the chunk's prompt (the pipeline's own ``encode_kv_cache``, the model's full / compressed
    split over them), then the chunk's flow-map steps, each forward reading that cache. Positions are re-placed: every
    chunk's forwards place the sink at frame 0 and the window's chunks right after it, so no position passes the native
    window however long the stream runs (its cache holds keys before RoPE and is written again at each chunk, so each
    forward turns every key at its new place). While nothing has left the window, a chunk is its call's chunk of the
    same index from the same noise, bit for bit. The cache is allocated once for the most chunks a forward sees
    (`footprints` records each chunk's chunks and cache size)."""

    def __init__(self, pipe, prompt, streaming=None, **kwargs):
        from ..methods import Streaming

        super().__init__(pipe, prompt, streaming or Streaming(), **kwargs)
        chunk, native = self.schedule.chunk, pipe.native_frames
        window = self.streaming.window if self.streaming.window is not None else \
            max(native - self.first_chunk - chunk, 0) // chunk * chunk
        self.schedule = StreamSchedule(chunk=chunk, sinks=self.first_chunk, window=window)
        self.sink, self.recent = None, deque(maxlen=window // chunk)  # clean chunks ``[1, f, C, h, w]``, frames first
        self.kv = None
        self.footprints: list[tuple] = []  # per chunk: (its forwards' chunk partition, cache elements)

    def settings(self) -> dict:
        return dict(super().settings(), sampler="flow map")

    def _attach(self, transformer, context) -> None:
        """None: its own processor keeps its own cache."""

    def _chunks(self):
        pipe = self.pipe
        pipe._guidance_scale, pipe._attention_kwargs = self.guidances[0], None  # as its call sets them; encode_kv_cache reads them
        try:
            yield from super()._chunks()
        finally:
            self.kv = None  # its K/V storage goes with the stream's end

    def _context(self) -> list:
        """The clean chunks a new chunk sees, oldest first: the sink, then the window's."""
        return ([] if self.sink is None else [self.sink]) + list(self.recent)

    def _cache(self, height: int, width: int, batch: int) -> dict:
        if self.kv is None:
            transformer = self.pipe.transformer
            longest = max(self.schedule.sinks, self.schedule.chunk)
            self.kv = far_kv_cache(transformer, 2 + self.recent.maxlen, longest, batch, height, width, self.pipe.device,
                                   transformer.dtype)
        return self.kv

    def _denoise(self, text, frames: int) -> torch.Tensor:
        """A new chunk of `frames` latent frames ``[1, C, f, h, w]`` (the transformer's dtype) as its call makes one: its
        noise drawn channels first, its context's K/V written, its flow-map steps each reading them (flex attention
        compiled on CUDA, `compiled_flex`)."""
        with compiled_flex(self.pipe.device):
            return self._steps(text, frames)

    def _steps(self, text, frames: int) -> torch.Tensor:
        """`_denoise`'s chunk, within its `compiled_flex`."""
        pipe, transformer = self.pipe, self.pipe.transformer
        spatial, guided, guidance = pipe.geometry().spatial, self.cfg, self.guidances[0]
        shape = (1, pipe.latent_channels, frames, self.height // spatial, self.width // spatial)
        noise = pipe.start_noise("plain", shape, pipe.native_frames, self.generator)
        latents = noise.to(pipe.device).to(transformer.dtype).transpose(1, 2)
        context = self._context()
        partition = [chunk.shape[1] for chunk in context] + [frames]
        states = text.kwargs["encoder_hidden_states"]
        negative, positive = states.chunk(2) if guided else (None, states)
        scheduler = pipe.fresh_scheduler(self.steps)
        steps = stream_steps(self, len(scheduler.timesteps))
        steps.start()  # its context's K/V written first: the chunk's work
        cache = self._cache(*shape[3:], states.shape[0])
        flag = {"num_cached_chunks": max(len(context) - 1, 0), "is_cache_step": False}
        if context:
            clean = torch.cat(context, dim=1).to(pipe.device)
            pipe.encode_kv_cache(cache, flag, chunk_partition=partition[:-1], chunk_idx=len(context) - 1, output=clean,
                                 prompt_embeds=positive, negative_prompt_embeds=negative)
        self.footprints.append((tuple(partition), cache_elements(cache)))
        for step, t in enumerate(scheduler.timesteps):
            r = scheduler.sigmas[step + 1] * scheduler.config.num_train_timesteps
            if t != r:
                batch = torch.cat([latents] * 2) if guided else latents
                pred = transformer(hidden_states=batch, timestep=t.expand(batch.shape[0], frames), encoder_hidden_states=states,
                                   r_timestep=r.expand(batch.shape[0], frames), return_dict=False, chunk_partition=partition,
                                   kv_cache=cache, kv_cache_flag=copy.deepcopy(flag))[0]
                if guided:
                    uncond, cond = pred.chunk(2)
                    pred = self._guided(uncond, cond, guidance)
                latents = scheduler.step(pred, t, latents, return_dict=False)[0]
            steps.step()
        return latents.transpose(1, 2)

    def _write(self, latents, text, frames) -> None:
        """None: a chunk's context is written to the cache at the next chunk, with that chunk's prompt and places."""

    def _recache(self, text) -> None:
        """None: every chunk writes its whole context again under its own prompt."""

    def _remember(self, latents: torch.Tensor) -> None:
        """Clean latents ``[1, C, f, h, w]`` into the context: the first `first_chunk` frames the stream keeps become the
        sink, the rest whole chunks from the latest back (an extension's input may leave a shorter one first)."""
        frames, chunk = latents.transpose(1, 2), self.schedule.chunk
        if self.sink is None:
            self.sink, frames = frames[:, : self.schedule.sinks], frames[:, self.schedule.sinks :]
        pieces = []
        while frames.shape[1]:
            pieces.insert(0, frames[:, -chunk:])
            frames = frames[:, : max(frames.shape[1] - chunk, 0)]
        self.recent.extend(pieces)

    def _context_latents(self) -> list:
        return [chunk.transpose(1, 2) for chunk in self._context()]


class VidLongAnyFlowFARPipeline(VidlongPipelineMixin, AnyFlowFARPipeline):
    """diffusers' `AnyFlowFARPipeline` (AnyFlow FAR: Wan2.1 made block-causal, a flow map's two timesteps, a UMT5 prompt by
    cross-attention, Wan's VAE of 4x time and 8x space) with vidlong's surface: its call takes vidlong's lengths, the
    chunks from `chunk_partition` where none are given; `generate` decodes through Wan's streaming decoder; it streams and
    extends with its own bounded cache (`AnyFlowFARStreamer`). vidlong's methods do not act on it (its adapter's refusal)."""

    chunk_streamer = AnyFlowFARStreamer

    def loop_latents(self, latents, frames, height, width):
        """Its loop's latents ``[B, f, C, h, w]`` (the chunk's) as ``[B, C, f, h, w]``."""
        return latents.transpose(1, 2)

    def __call__(self, *args, **kwargs):
        """Its call with its flex attention compiled where `compiled_flex` compiles it (CUDA): the same video to float
        rounding, without torch's unfused flex path, which holds every query's scores over its whole cache."""
        with compiled_flex(self._execution_device):
            return super().__call__(*args, **kwargs)

    def complete_call(self, arguments: dict) -> None:
        """Its ``chunk_partition`` for the call's latent frames (`chunk_partition` of its config's) where none is given; a
        given one must be whole numbers >= 1 that sum to them (one line otherwise)."""
        frames = (arguments["num_frames"] - 1) // self.spec.temporal_ratio + 1 if is_whole(arguments["num_frames"]) else None
        given = arguments.get("chunk_partition")
        if given is None:
            if frames is not None:
                arguments["chunk_partition"] = chunk_partition(frames, self.transformer.config.chunk_partition)
            return
        if (not isinstance(given, (list, tuple)) or not all(is_whole(n) and n >= 1 for n in given)
                or (frames is not None and sum(given) != frames)):
            raise VidlongError(f"chunk_partition must be whole numbers of latent frames >= 1 that sum to the call's {frames} "
                               f"latent frames, got {given!r}; drop it to take "
                               f"{chunk_partition(frames or 1, self.transformer.config.chunk_partition)}")

