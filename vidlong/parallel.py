"""Context parallelism for vidlong's plans, through diffusers' own engine.

diffusers splits a transformer's tokens over ranks (`ContextParallelConfig`, the model's ``_cp_plan``
hooks) and, in its attention dispatch, exchanges them for heads around the attention op (Ulysses).
vidlong's processor does the same around its plans (`ulysses_exchange`, diffusers'
``_all_to_all_dim_exchange``): each rank then holds every token of ``heads / degree`` heads, so a plan
(decay regions, key centring, fusion windows and bands, all functions of the whole token grid) runs
exactly as on one device. The stock path stays diffusers' dispatch with the same config. A stream's
rolling KV cache holds this rank's heads only, so its per-chunk cost is flat as on one device.

Ring attention (``ring_degree > 1``) splits the keys of one head over ranks; vidlong's plans would
need each ring step as a plan piece with global positions, merged by log-sum-exp. That is not
implemented: it is refused in one line.
"""
from __future__ import annotations

import os
from typing import Optional

import torch

from .errors import VidlongError


def check_parallel_request(degree: int, heads: int, device: torch.device) -> None:
    """The one-line refusals of a Ulysses run of `degree` ranks: heads not divisible by the degree,
    more ranks than GPUs, a process group of another size."""
    if degree < 2:
        raise VidlongError(f"--parallel ulysses needs at least 2 processes, got {degree}; "
                           "launch with torchrun --nproc-per-node N (N >= 2)")
    if heads % degree:
        raise VidlongError(f"the transformer's {heads} attention heads do not split over {degree} ranks; "
                           f"use a --nproc-per-node that divides {heads}")
    check_gpu_count(degree, device)


def check_parallel_class(class_name: str) -> None:
    """A one-line refusal of a transformer class that diffusers' context parallelism has no plan for (its
    ``_cp_plan``: Wan's, ChronoEdit's, Helios's, LTX-Video's and LTX-2's have one; Wan VACE, SkyReels-V2, CogVideoX, HunyuanVideo 1.0 and 1.5,
    Mochi, Kandinsky 5 and 6, Motif-Video, EasyAnimate, Allegro, AnyFlow, AnyFlow FAR, Cosmos, Cosmos 3, Sana-Video, Sana-WM,
    Latte, ConsisID none)."""
    import diffusers

    if getattr(getattr(diffusers, class_name, None), "_cp_plan", None) is None:
        raise VidlongError(f"context parallelism (--parallel ulysses): diffusers' {class_name} has no context-parallel plan; "
                           "run it on one device")


#: the pipelines of families with a plan whose calls vidlong does not split (diffusers class name, or vidlong's image twin's:
#: why): `check_parallel_pipeline`
UNSPLIT_PIPELINES = {
    **dict.fromkeys(("LTXI2VLongMultiPromptPipeline", "LTXI2VLongMultiPromptImageToVideoPipeline"), (
        "LTX-Video's long multi-prompt pipeline runs each window with its condition frames appended, a token count "
        "diffusers' engine does not split evenly over ranks")),
    **dict.fromkeys(("LTX2InContextPipeline", "LTX2HDRPipeline"), (
        "LTX-2's IC-LoRA and HDR pipelines may mask the video's self-attention over their reference's tokens "
        "(conditioning_attention_strength), a mask diffusers' Ulysses attention does not split; their calls are not "
        "checked on several ranks")),
    **dict.fromkeys(("HeliosPipeline", "HeliosPyramidPipeline"), (
        "Helios's forwards hold its compressed history's tokens (three patch sizes, each padded; its pyramid's stages at "
        "smaller sizes) beside its chunk's, which diffusers' plan splits together, a count vidlong does not check against "
        "the ranks (vidlong.parallel_split), and its amplified history keys, where its config amplifies them, are found "
        "from a rank's share of the tokens; its calls are not checked on several ranks")),
}

#: the second stages of `vidlong.generate.generate` (its request's fields: their flags), which run on one device
SECOND_STAGES = {"upsample": "--upsample", "refine": "--refine", "decoder": "--decoder", "temporal_refine": "--temporal-refine"}


def check_parallel_pipeline(*class_names: str) -> None:
    """A one-line refusal of context parallelism for a pipeline whose call vidlong does not split (`UNSPLIT_PIPELINES`:
    any of `class_names`, e.g. a class's and its bases'). LTX-Video's and LTX-2's other calls (LTX-2.3's, LTX-2.5's DFR,
    image-to-video and condition calls) split by their family's plan (`FamilyAdapter.context_parallel_plan`)."""
    named = next((name for name in class_names if name in UNSPLIT_PIPELINES), None)
    if named is not None:
        raise VidlongError(f"context parallelism (--parallel ulysses): {UNSPLIT_PIPELINES[named]}; run {named} on one device")


def check_parallel_stages(request) -> None:
    """A one-line refusal of a second stage (`SECOND_STAGES`: LTX-Video's and LTX-2's latent upsampler and refinement,
    LTX-2.5's diffusion decoder and temporal refinement, Sana-WM's refiner, Kandinsky 6's super-resolution) in a
    `GenerateRequest` under context parallelism: the main pass alone is split over ranks."""
    given = [flag for field, flag in SECOND_STAGES.items() if getattr(request, field) not in (None, False)]
    if given:
        raise VidlongError(f"context parallelism (--parallel ulysses) splits the main pass only; {given[0]} runs on one "
                           f"device: drop {given[0]} or --parallel")


def check_gpu_count(ranks: int, device: torch.device) -> None:
    """A one-line refusal of more CUDA ranks than this machine has GPUs."""
    if device.type == "cuda" and torch.cuda.device_count() < ranks:
        raise VidlongError(f"{ranks} ranks asked for but this machine has {torch.cuda.device_count()} CUDA device(s); "
                           f"use --nproc-per-node {torch.cuda.device_count()} or fewer")


def torchrun_world() -> int:
    """The world size of a process started by torchrun (its ``WORLD_SIZE``), read before its process group starts; a
    one-line error outside torchrun."""
    if "WORLD_SIZE" not in os.environ or "RANK" not in os.environ:
        raise VidlongError("--parallel ulysses runs under torchrun: torchrun --nproc-per-node N -m vidlong generate ... "
                           "--parallel ulysses")
    return int(os.environ["WORLD_SIZE"])


def init_from_torchrun(device: Optional[str]) -> tuple[int, int, torch.device]:
    """(rank, world size, this rank's device) of a process started by torchrun, with the default
    process group initialised (NCCL on CUDA, gloo on CPU); a one-line error outside torchrun."""
    import torch.distributed as dist

    world, rank, local = torchrun_world(), int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0))
    kind = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu")).type
    if kind == "cuda":
        check_gpu_count(world, torch.device("cuda"))
        this = torch.device("cuda", local)
        torch.cuda.set_device(this)
    elif kind == "cpu":
        this = torch.device("cpu")
    else:
        raise VidlongError(f"--device {device} cannot run --parallel ulysses; use cuda (NCCL) or cpu (gloo)")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if kind == "cuda" else "gloo", rank=rank, world_size=world)
    return rank, world, this


def enable_context_parallel(transformer, ulysses_degree: Optional[int] = None, ring_degree: int = 1) -> None:
    """Split `transformer`'s tokens over the default process group with diffusers' context parallelism
    (Ulysses), whether or not vidlong's methods are applied (before or after): its family's plan
    (`FamilyAdapter.context_parallel_plan`), and the attentions whose keys every rank holds whole
    (`FamilyAdapter.whole_key_attentions`) attending on each rank alone.

    Args:
        ulysses_degree: ranks to spread the heads over (default: the whole process group).
        ring_degree: must be 1 (ring attention is refused, see the module docstring).
    """
    import torch.distributed as dist
    from diffusers import ContextParallelConfig

    from .attention.adapters import adapter_for

    check_parallel_class(type(transformer).__name__)
    if not dist.is_initialized():
        raise VidlongError("context parallelism needs torch.distributed initialised; launch with torchrun, or call "
                           "torch.distributed.init_process_group first")
    if ring_degree != 1:
        raise VidlongError(f"ring_degree {ring_degree}: vidlong's plans run under Ulysses only (each rank holds every "
                           "token of some heads); use ulysses_degree instead")
    degree = ulysses_degree or dist.get_world_size()
    device = next(transformer.parameters()).device
    check_parallel_request(degree, transformer.config.num_attention_heads, device)
    config = ContextParallelConfig(ulysses_degree=degree)
    adapter = adapter_for(transformer, "enable_context_parallel")
    plan = adapter.context_parallel_plan(transformer)
    if device.type != "cpu":
        transformer.enable_parallelism(config=config, cp_plan=plan)
    else:
        _enable_on_cpu(transformer, config, plan)
    for attention in adapter.whole_key_attentions(transformer):
        attention.processor._parallel_config = None  # diffusers' dispatch attends locally without one


def token_plan(transformer, inputs: dict, ropes: tuple, rope_dims: int = 3) -> dict:
    """A context-parallel plan of an LTX-style forward (`FamilyAdapter.context_parallel_plan`): its class's ``_cp_plan``
    (diffusers': its video tokens split, ``[B, N, C]`` on dim 1) with its text left whole on every rank (its text
    cross-attentions attend on each rank alone, their padding mask ``[B, H, 1, T]`` over every head:
    `FamilyAdapter.whole_key_attentions`), each of `inputs` (a forward argument: the dims it is split with, on dim 1, its
    tokens; left whole with others, e.g. a timestep ``[B]``) split, and the (cos, sin) outputs of each of the `ropes`
    modules split on their token dim (1 of ``[B, N, D]``; 2 of split RoPE's ``[B, H, N, D / 2]``, `rope_dims` 4)."""
    from diffusers.models._modeling_parallel import ContextParallelInput

    plan = type(transformer)._cp_plan
    root = {name: entry for name, entry in plan[""].items() if not name.startswith("encoder_")}
    root.update({name: ContextParallelInput(split_dim=1, expected_dims=dims, split_output=False) for name, dims in inputs.items()})
    rope = ContextParallelInput(split_dim=rope_dims - 2, expected_dims=rope_dims, split_output=True)
    return {**plan, "": root, **{name: {0: rope, 1: rope} for name in ropes}}


def _enable_on_cpu(transformer, cp_config, plan: dict) -> None:
    """What diffusers' `enable_parallelism` does, for CPU ranks (gloo), which it refuses (it picks a
    device by ``rank % accelerator count``, zero here): the same config, mesh, processor settings and
    `plan`'s hooks (`diffusers.hooks.context_parallel.apply_context_parallel`)."""
    import torch.distributed as dist
    from diffusers.hooks.context_parallel import apply_context_parallel
    from diffusers.models._modeling_parallel import ParallelConfig
    from torch.distributed.device_mesh import init_device_mesh

    if transformer._parallel_config is not None:
        raise VidlongError("context parallelism is already enabled on this transformer")
    config = ParallelConfig(context_parallel_config=cp_config)
    mesh = init_device_mesh("cpu", cp_config.mesh_shape, mesh_dim_names=cp_config.mesh_dim_names)
    config.setup(dist.get_rank(), dist.get_world_size(), torch.device("cpu"), mesh=mesh)
    transformer._parallel_config = config
    for module in transformer.modules():
        processor = getattr(module, "processor", None)
        if processor is not None and hasattr(processor, "_parallel_config"):
            processor._parallel_config = config
    apply_context_parallel(transformer, cp_config, plan)


def ulysses_degree(transformer) -> int:
    """Ranks a transformer's heads are spread over (1 without context parallelism)."""
    config = getattr(transformer, "_parallel_config", None)
    cp = getattr(config, "context_parallel_config", None)
    return 1 if cp is None else cp.ulysses_degree


def ulysses_group(parallel_config):
    """The Ulysses process group of a processor's ``_parallel_config``, or None when its tokens are not
    split (no config, or degree 1)."""
    cp = getattr(parallel_config, "context_parallel_config", None)
    if cp is None or cp.ulysses_degree * cp.ring_degree == 1:
        return None
    if cp.ring_degree > 1:
        raise VidlongError("vidlong's plans run under Ulysses context parallelism only; set ring_degree=1")
    return cp._ulysses_mesh.get_group()


def to_heads(x: torch.Tensor, group) -> torch.Tensor:
    """``[B, N / P, H, D]`` (this rank's tokens, every head) -> ``[B, N, H / P, D]`` (every token, this
    rank's heads), by diffusers' all-to-all."""
    from diffusers.models.attention_dispatch import _all_to_all_dim_exchange

    return _all_to_all_dim_exchange(x.contiguous(), scatter_idx=2, gather_idx=1, group=group)


def to_tokens(x: torch.Tensor, group) -> torch.Tensor:
    """The inverse of `to_heads`: ``[B, N, H / P, D]`` -> ``[B, N / P, H, D]``."""
    from diffusers.models.attention_dispatch import _all_to_all_dim_exchange

    return _all_to_all_dim_exchange(x.contiguous(), scatter_idx=1, gather_idx=2, group=group)
