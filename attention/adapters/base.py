"""What a model family tells vidlong: its video self-attentions, their token layout, their q/k/v and
how an attention output goes back."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping, Optional

import torch

from ..layout import TokenLayout


class FamilyAdapter:
    """One diffusers video transformer family.

    Attributes:
        name: the family's name in `configs/models` match rules (``family: ...``).
        transformer_class: the diffusers transformer class it serves.
        stream_contexts: how its streams may see earlier frames: "cache" (the rolling KV cache of
            clean K/V, `vidlong.attention.stream_attention`) and/or "renoise" (the clean context
            re-noised to each step's level and run again with the chunk: stock forwards, no cache);
            empty where it does not stream. The first is its default.
        pipeline_stream_contexts: the stream contexts of each of its pipelines whose streams differ from the family's, by
            diffusers class name (`stream_contexts_of`): "clean" for one whose transformer keeps context latents clean
            under its condition mask (Cosmos-Predict2.5's); none by default.
        no_cache_reason: why "cache" is not among them, for the one-line refusal.
        no_stream_reason: why it does not stream at all, where it does not.
        no_stream_pipelines: why each of its pipelines that neither streams nor extends though the family does, by diffusers
            class name (vidlong's image twin's too: `vidlong.validate.ModelLimits.no_stream_reason`); none by default.
        no_latents_reason: why its extensions do not continue saved latents (``--latents``, and so ``--save-latents``
            saves none), where they do not (None: they do).
        no_latents_pipelines: why each of its pipelines whose extensions do not continue saved latents though the family's
            do, by diffusers class name (`vidlong.validate.ModelLimits.no_latents_reason`); none by default.
        makes_sound: whether its transformer makes the video's sound too (LTX-2): its extensions are made at the input's
            frame rate (its call takes the rate; the sound keeps time with the frames) and keep the input's sound track.
        continues_sound: whether its extensions encode the input's sound into the context (its audio VAE encodes a
            waveform: Kandinsky 6, `SoundStreamer._encode_audio`), so that the new sound continues it.
        linear: whether its video self-attention is linear attention (Sana-Video's ReLU features, `linear_features`): no
            softmax logits, so no method that modifies them (UltraViCo); its windows run through `vidlong.attention.linear`.
        joint_text: whether its video self-attention also holds the text tokens (joint attention:
            the processor receives them as ``encoder_hidden_states``).
        text_at_end: in joint attention, the text tokens follow the video tokens in q/k/v (else they
            come first).
        trailing_tokens: whether a forward's self-attention may hold tokens after those of its `layout`'s grid (Kandinsky
            6's image, one more frame after the video at the first frame's RoPE position), which the methods treat as
            joint text at the end (`text_at_end`): seen unmodified by every video query, their own rows stock.
        moves_rope: whether `temporal_shift` is implemented (windows with re-placed anchors).
        timestep_per_token: whether its transformer takes a timestep per token (``[B, tokens]``),
            which diagonal denoising (``method="fifo"``) needs: every frame at its own noise level.
        no_fifo_reason: why diagonal denoising does not run on it, where that is not the lack of a timestep per token
            (None: it is).
        prompt_timeline: whether its text enters by per-token cross-attention (`cross_attentions`), which a
            prompt timeline splits by frames (`vidlong.timeline`): each segment's frames see their own text.
        rope_positions: the rows of its RoPE tables where the family fixes them outside its config (the most token
            frames, rows or columns one forward places), else None (a config's ``rope_max_seq_len``, or any size).
        fewest_steps: the fewest denoising steps its pipeline's sampler takes (Mochi's linear-quadratic sigmas: 2).
        stock_only: whether every call of its self-attentions goes to its own processor as it came (Helios: vidlong's
            methods never act on it, and its processor takes arguments vidlong's does not read), so that with no method
            its forwards are the stock model's bit for bit.
        whole_chunks: whether its call makes its video in whole chunks of its native window (Helios's chunks, FramePack's
            sections): vidlong's lengths are whole chunks (`vidlong.validate.whole_chunk_latent_frames`,
            `whole_chunk_lengths`).
        chunks_decoded_alone: whether its call decodes each whole chunk on its own, ``temporal·(c - 1) + 1`` pixel frames
            a chunk of c latent frames (Helios), not ``temporal·c`` after the first (`ModelLimits.chunks_alone`).
        image_frame_first: whether a new stream's first chunk returns its image's frame before the chunk's own frames,
            ``temporal·c + 1`` pixel frames (FramePack: the start image's frame, then a section), where other streams'
            first chunk of c latent frames gives ``temporal·(c - 1) + 1`` (`ModelLimits.counted_first_chunk`).
        extension_frames: latent frames of a continued video its streams read, where its family fixes them (Helios: its
            call's history, 16 + 2 + 1), else None (a stream's sinks and window: `vidlong.extend.extension_context`).
        call_multiple: pixels its pipelines' calls take heights and widths in multiples of, past the latent grid's own
            (`vidlong.models.Geometry.call_multiple`: Sana-Video's call refuses sides that are no multiple of 32), else 1.
        pads_patch: whether its transformer pads the latent grid to whole patches in space (Cosmos 3's: a side any multiple
            of its VAE's factor, the padded cells tokens of its grid; `vidlong.models.Geometry.pads_patch`).
        frame_counts: the pixel-frame counts its pipeline's call makes from F latent frames, ``ratio·(F - 1) + r`` for each
            ``r`` here (``ratio`` its VAE's pixel frames a latent frame, ``1 <= r <= ratio``; `vidlong.models.latent_frames`):
            (1,) for the ``ratio·k + 1`` lengths of a VAE whose first latent frame decodes to one pixel frame; another count
            is refused, naming the nearest.
        own_stream_context: what its own streamer's context is, where it is neither a KV cache nor a re-noised context
            (Helios's and FramePack's: "history", their call's history latents), as `vidlong info` names it; else None.
    """

    name: str = ""
    transformer_class: str = ""
    stream_contexts: tuple = ()
    pipeline_stream_contexts: Mapping[str, tuple] = MappingProxyType({})
    no_cache_reason: str = "it is not implemented yet"
    no_stream_reason: str = "it is not implemented yet"
    no_stream_pipelines: Mapping[str, str] = MappingProxyType({})
    no_latents_reason: Optional[str] = None
    no_latents_pipelines: Mapping[str, str] = MappingProxyType({})
    makes_sound: bool = False
    continues_sound: bool = False
    linear: bool = False
    joint_text: bool = False
    text_at_end: bool = False
    trailing_tokens: bool = False
    moves_rope: bool = False
    timestep_per_token: bool = False
    no_fifo_reason: Optional[str] = None
    prompt_timeline: bool = False
    rope_positions: Optional[int] = None
    fewest_steps: int = 1
    stock_only: bool = False
    whole_chunks: bool = False
    chunks_decoded_alone: bool = False
    image_frame_first: bool = False
    extension_frames: Optional[int] = None
    call_multiple: int = 1
    pads_patch: bool = False
    frame_counts: tuple = (1,)
    own_stream_context: Optional[str] = None

    def self_attentions(self, transformer) -> list:
        """The video self-attention modules whose processor vidlong replaces."""
        raise NotImplementedError

    def table_positions(self, config) -> Optional[int]:
        """The rows of its RoPE tables for a transformer of this `config` (a mapping: its config, or a folder's
        `vidlong.models.model_facts`), where the family fixes them outside ``rope_max_seq_len``: `rope_positions` by default
        (Cosmos: read from its config's ``max_size``)."""
        return self.rope_positions

    def audio_cross_attentions(self, transformer) -> list:
        """The audio's text cross-attention modules (audio tokens as queries, one token per audio latent frame) a prompt
        timeline splits by time too (LTX-2); none by default."""
        return []

    def audio_starts(self, transformer, args: tuple, kwargs: dict, token_starts: list) -> list:
        """The audio token where each segment starts (at the time of its first video token, `token_starts`), from a
        forward's arguments, where `audio_cross_attentions` has modules."""
        raise NotImplementedError

    def trailing_segments(self, transformer, args: tuple, kwargs: dict, grid_tokens: int, token_starts: list):
        """The timeline segment of each token a forward holds after its `grid_tokens` video tokens (`trailing_tokens`:
        LTX-2's conditions and references, by the time its RoPE gives them), ``[T]`` long, from that forward's arguments
        (segment s starting at video token ``token_starts[s]``); None where it holds none or they are in no segment's time:
        a prompt timeline then gives them the last segment's text."""
        return None

    def cross_attentions(self, transformer) -> list:
        """The text cross-attention modules (video tokens as queries) a prompt timeline splits by frames,
        where `prompt_timeline`."""
        raise NotImplementedError

    def context_parallel_plan(self, transformer) -> dict:
        """The plan diffusers' context parallelism splits `transformer`'s forward by (`vidlong.parallel.enable_context_parallel`
        hands it to diffusers' engine): its class's ``_cp_plan``; a family whose calls give per-token inputs that plan leaves
        whole gives its own."""
        return type(transformer)._cp_plan

    def whole_key_attentions(self, transformer) -> list:
        """The attention modules whose keys every rank holds whole under `context_parallel_plan` (text, audio): each rank
        attends there with its own queries over every head, as on one device, outside diffusers' Ulysses exchange; none by
        default."""
        return []

    def layout(self, transformer, args: tuple, kwargs: dict, native_frames: int) -> TokenLayout:
        """The token grid of one forward of `transformer`, from that forward's arguments. `native_frames` in latent
        frames. By default its latents ``[B, C, F, H, W]`` (the first argument or ``hidden_states``) patched frame-major by
        the config's ``patch_size_t`` (absent or None: 1) in time and ``patch_size`` in space, the native window at least
        one token frame (HunyuanVideo, Mochi, Motif-Video, EasyAnimate, Allegro)."""
        latents = args[0] if args else kwargs["hidden_states"]
        _, _, frames, height, width = latents.shape
        p_t, p = transformer.config.get("patch_size_t") or 1, transformer.config.patch_size
        return TokenLayout(frames // p_t, height // p, width // p, max(1, native_frames // p_t))

    def qkv(self, attn, hidden_states: torch.Tensor, rotary, text=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v ``[B, N, H, D]`` exactly as the family's own processor computes them for
        self-attention, its RoPE applied (none when `rotary` is None); with joint `text` states
        ``[B, T, C]``, ``[B, T + N, H, D]`` in the family's order (`text_at_end`)."""
        raise NotImplementedError

    def linear_features(self, attn, hidden_states: torch.Tensor, rotary) -> tuple:
        """Where its self-attention is `linear`: (q, k, q̃, k̃, v) ``[B, N, H, D]`` as its own processor makes them, q and
        k its feature maps, q̃ and k̃ those rotated by its RoPE (none when `rotary` is None)."""
        raise NotImplementedError

    def output(self, attn, out: torch.Tensor, dtype: torch.dtype, text_tokens: int = 0, states=None):
        """An attention output ``[B, N, H, D]`` back to the block: heads joined, then the output
        projection (a joint family splits off its `text_tokens`); `states` ``[B, N, C]`` are the attention's
        input hidden states (LTX-2's per-head gates read them)."""
        out = attn.to_out[0](out.flatten(2, 3).to(dtype))
        return attn.to_out[1](out)

    def visible_keys(self, attention_mask, video_tokens: int):
        """The keys every query may see, ``[B, T + N]`` bool in the family's token order, from the mask its
        blocks pass to joint attention (None: all); `video_tokens` is N."""
        return None if attention_mask is None else attention_mask.reshape(attention_mask.shape[0], -1).bool()

    def dispatch_mask(self, attention_mask, video_tokens: int):
        """The mask the family's own processor hands to attention for the mask its blocks pass (the stock
        path's, so that its output is the model's bit for bit); `video_tokens` is N."""
        return attention_mask

    def stock_attention(self, query, key, value, attention_mask, video_tokens: int, backend=None, parallel_config=None):
        """Attention ``[B, S, H, D]`` over q/k/v ``[B, S, H, D]`` as the family's own processor computes it for a stock
        plan (bit for bit): diffusers' attention dispatch with `dispatch_mask` and the processor's `backend` and
        `parallel_config`; `video_tokens` is N."""
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        return dispatch_attention_fn(query, key, value, attn_mask=self.dispatch_mask(attention_mask, video_tokens),
                                     dropout_p=0.0, is_causal=False, backend=backend, parallel_config=parallel_config)

    @property
    def riflex(self) -> bool:
        """Whether RIFLEx is implemented for the family: its adapter gives `rope_module` (known before any model loads)."""
        return type(self).rope_module is not FamilyAdapter.rope_module

    def rope_module(self, transformer):
        """The RoPE module whose temporal tables RIFLEx replaces, or None where RIFLEx is not implemented."""
        return None

    def temporal_shift(self, transformer):
        """``shift(keys [..., D], frames)``: RoPE-rotated keys moved `frames` token frames later (for
        windows that see anchors re-placed next to them), or None where it is not implemented."""
        return None

    def methods_refusal(self, config) -> Optional[str]:
        """Why vidlong's methods cannot act on a transformer of the family with this `config` (its config, or a folder's
        `vidlong.models.model_facts`, which hold it: a configuration of its attention they do not compose with), for a
        one-line refusal before any model loads; None where they can."""
        return None

    def stream_refusal(self, streaming) -> Optional[str]:
        """Why a `vidlong.Streaming` config does not fit the family's own streams (AnyFlow FAR's chunks), for a one-line
        refusal before any model loads; None where it does (the default)."""
        return None

    @staticmethod
    def own_sampler_refusal(streaming, stream: str, steps_by: str) -> Optional[str]:
        """For a family whose streams denoise each chunk by its own sampler (`steps_by`: "its own scheduler's steps"): why
        the causal sampler or its timesteps are refused (`stream`: "a Helios stream"), else None."""
        from ...errors import named

        if streaming.sampler == "causal" or streaming.timesteps is not None:
            return (f"{stream} denoises each chunk by {steps_by} ({named('steps')} N), not the causal sampler; drop "
                    f"{named('sampler')} / {named('timesteps')}")
        return None

    def stream_contexts_of(self, pipeline: str = "") -> tuple:
        """The stream contexts of its pipeline named `pipeline` (a diffusers class name; "": any of the family's), its
        default first: `pipeline_stream_contexts`' where it names the pipeline, else `stream_contexts`."""
        return self.pipeline_stream_contexts.get(pipeline, self.stream_contexts)

    def spec_stream_refusal(self, spec) -> Optional[str]:
        """Why a stream of the model of `spec` (its `vidlong.models.ModelSpec`) cannot run as the spec sets it (FramePack's
        section order), for a one-line refusal before any model loads; None where it can (the default)."""
        return None

    def whole_chunk_lengths(self, chunks: int, chunk: int, temporal_ratio: int) -> tuple[int, int]:
        """(latent frames, pixel frames) of the video its call makes in `chunks` chunks of `chunk` latent frames, where its
        lengths are whole chunks (`whole_chunks`): by default each chunk's latent frames decoded on their own, the whole cut
        to ``temporal_ratio·k + 1`` (Helios: `vidlong.validate.whole_chunk_pixel_frames`)."""
        from ...validate import whole_chunk_pixel_frames

        return chunks * chunk, whole_chunk_pixel_frames(chunks, chunk, temporal_ratio)

    def fewest_extended(self, spec) -> Optional[tuple]:
        """(the fewest pixel frames of a video its extensions continue, why, for the refusal of a shorter one) where its
        family fixes them: one whole chunk of its native window where its call encodes a video it continues in chunks each
        on its own (`chunks_decoded_alone`: Helios; FramePack's: its image's frame and one section), else None (one frame:
        `vidlong.extend.fewest_input_frames`)."""
        if not self.chunks_decoded_alone:
            return None
        window = spec.temporal_ratio * (spec.native_frames - 1) + 1
        return window, f"this model's call encodes a video it continues in whole chunks of {window} frames, each on its own"

    def parts_refusal(self, pipeline: str, transformer, vae) -> Optional[str]:
        """Why a pipeline of class `pipeline` (diffusers' name) cannot run a transformer of the family with a VAE of these
        configs (mappings: a folder's config.json files, or a held pipeline's ``config``), for a one-line refusal before
        any model loads (`vidlong.models.check_model_folder`) and before a held pipeline's call or stream; None where
        it can."""
        return None

    def package_refusal(self, pipeline: str, transformer) -> Optional[str]:
        """Why a pipeline of class `pipeline` (diffusers' name) with a transformer of this config (a mapping) cannot run on this
        machine (a package its forward calls is not installed), for a one-line refusal before any model loads and before a
        held pipeline's call or stream; `vidlong info`, which reads configs alone, describes such a folder and says this
        line. None where it can run."""
        return None

    def index_refusal(self, index) -> Optional[str]:
        """Why a pipeline folder whose ``model_index.json`` is `index` (a mapping) cannot load on this machine (a part its
        pipeline class builds as it loads needs a package that is not installed), for a one-line refusal before any model
        loads (`vidlong.models.check_model_folder`); `vidlong info`, which reads configs alone, describes such a folder and
        says this line. None where it can."""
        return None

    def text_projections(self, transformer) -> list:
        """Modules whose one input is the prompt's states alone (the same tensor at every forward of a
        prompt), which a stream may compute once per prompt (`vidlong.text_memo`); none by default."""
        return []


def rotate_video_tokens(x: torch.Tensor, rotary, video: slice, dim: int, rotation=None) -> torch.Tensor:
    """`x` with its family's RoPE applied to its video tokens (`video`, along the sequence axis `dim`, 1 or 2) and its
    text tokens left as they are, as joint-attention families do: ``rotation(video_tokens, rotary)``, by default
    diffusers' `apply_rotary_emb` along `dim`."""
    if rotation is None:
        from diffusers.models.embeddings import apply_rotary_emb

        def rotation(tokens, table):
            return apply_rotary_emb(tokens, table, sequence_dim=dim)

    start, stop = video.indices(x.shape[dim])[:2]
    before, inside, after = x.split([start, stop - start, x.shape[dim] - stop], dim=dim)
    return torch.cat([before, rotation(inside, rotary), after], dim=dim)


def video_and_text_visible(text_mask, video_tokens: int):
    """The keys every query may see, ``[B, N + T]`` bool, where a family's blocks pass the text tokens' padding mask
    ``[B, T]`` alone and the text follows the `video_tokens` (N) video tokens (HunyuanVideo 1.5, Mochi): every video key,
    then the unpadded text keys; None for no mask."""
    if text_mask is None:
        return None
    video = torch.ones(text_mask.shape[0], video_tokens, dtype=torch.bool, device=text_mask.device)
    return torch.cat([video, text_mask.bool()], dim=1)
