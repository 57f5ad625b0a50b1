"""`vidlong` command line: thin layers over the Python API; each option maps to one config field."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

from .errors import VidlongError, named
from .files import user_path
from .method_names import METHOD_NAMES, NOISE_KINDS
from .validate import DTYPE_NAMES

#: the --height / --width help of generate and stream
SIZE_HELP = ("pixels (default: the model's native {side}; with --image and no size, the image's aspect at the model's "
             "native pixel area)")


#: the --model help of every command that loads a model (the app's too)
MODEL_HELP = ("local diffusers pipeline folder (Wan, SkyReels-V2, LTX-Video, LTX-2, CogVideoX, HunyuanVideo 1.0 and 1.5, Mochi, "
              "Kandinsky 5.0 Video, Kandinsky 6, Motif-Video, EasyAnimate, Allegro, AnyFlow, AnyFlow FAR, Helios, FramePack, "
              "Cosmos-Predict2.5, Cosmos-Predict2 Video2World, Cosmos-Transfer2.5, Cosmos 1.0, Cosmos 3, Sana-Video, Sana-WM, "
              "Latte, ConsisID, Lucy Edit, ChronoEdit), or an embedded model: default (the default), default-causal, "
              "default-distilled")

#: the help of --identity (generate, stream, extend)
IDENTITY_HELP = ("ConsisID (ConsisIDPipeline) folders: a torch file of the face's tensors its call takes (id_cond, "
                 "id_vit_hidden, optional kps_cond, as ConsisID's process_face_embeddings_infer returns them; how to save "
                 "them: vidlong.identity); needed where its transformer has is_train_face (its releases')")


def _add_model_options(p) -> None:
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--dtype", default=None, choices=list(DTYPE_NAMES),
                   help="the model's dtype (default: bfloat16 on CUDA, float32 on the CPU; bfloat16 on a CPU with "
                        "bfloat16 instructions streams faster, float16 needs CUDA)")
    p.add_argument("--compile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="compile each transformer block with torch.compile (diffusers' regional compilation; backend "
                        "default inductor), and on CUDA for stream and extend Wan's VAE decoder: on a GPU faster after the "
                        "first steps or chunks, which compile; no gain measured on the CPU. AnyFlow FAR's flex attention "
                        "runs compiled on CUDA with or without it")
    add_lora_options(p)
    p.add_argument("--negative-prompt", default="", help="negative prompt")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (per chunk when streaming; default: the model's)")
    p.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default: the model's)")
    p.add_argument("--guidance-2", type=float, default=None,
                   help="guidance of Wan2.2's low-noise expert (default: the model's, else --guidance)")
    p.add_argument("--seed", type=int, default=0)


def add_lora_options(p) -> None:
    """``--lora`` and ``--lora-2`` (a command that loads a model, the app's too)."""
    p.add_argument("--lora", type=user_path, action="append", default=[], metavar="FILE[:SCALE]",
                   help="a LoRA .safetensors merged into the transformer as it loads (scale default 1; any format "
                        "diffusers' loader of the model converts: diffusers', Kohya's, ComfyUI's); repeat for several")
    p.add_argument("--lora-2", type=user_path, action="append", default=[], metavar="FILE[:SCALE]",
                   help="a LoRA merged into Wan2.2 A14B's second (low-noise) expert, transformer_2")


def lora_files(args) -> list:
    """The `LoraFile`s of ``--lora`` and ``--lora-2``."""
    from .lora import LoraFile

    return [LoraFile.parse(text) for text in args.lora] + [LoraFile.parse(text, expert=1) for text in args.lora_2]


def _add_fifo_options(p) -> None:
    p.add_argument("--partition-guidance", default=None, metavar="G1,G2,G3",
                   help="--method fifo: classifier-free guidance per partition of the queue, cleanest first (one number "
                        "each; a partition at 1 skips its negative forward; both experts' on Wan2.2); on the default "
                        "model --guidance 4.5 --partition-guidance 4.5,6,7.5 kept more prompted objects at 4x-16x than "
                        "--guidance 4.5 alone, with more flicker (benchmarks/RESULTS.md); default: --guidance (and "
                        "--guidance-2) at every level")
    p.add_argument("--noise-correlation", type=float, default=None, metavar="C",
                   help="--method fifo: each frame joining the queue starts from noise correlated by C (0 <= C < 1) with "
                        "the frame before it; on the default model 0.5 kept more prompted objects at 4x and 8x, not at 16x, "
                        "with less motion (benchmarks/RESULTS.md); default 0: independent noise")


def _diagonal(args):
    """The `DiagonalDenoising` of ``--method fifo`` with ``--partition-guidance``, ``--noise-correlation`` and
    ``--cut-on-switch`` (a bad value: a one-line error naming it), or None for another method (which refuses the
    first two)."""
    from .methods import diagonal_of
    from .validate import check_steps

    if args.method != "fifo":
        for flag, value in (("--partition-guidance", args.partition_guidance), ("--noise-correlation", args.noise_correlation)):
            if value is not None:
                raise VidlongError(f"{flag} is an option of --method fifo: drop it, or add --method fifo")
        return None
    steps = args.steps if args.command != "generate" else None  # generate's --steps: its request's, its native video's too
    check_steps(steps)
    return diagonal_of(args.partition_guidance, args.noise_correlation, getattr(args, "cut_on_switch", False), native_steps=steps)


def _add_animate_options(p) -> None:
    animate = p.add_argument_group("Wan Animate (WanAnimatePipeline folders; --image is the character)")
    animate.add_argument("--pose-video", type=user_path, default=None,
                         help="the pose video the character follows; the output has its length and frame rate, made in "
                              "segments of --ratio x the native window (1: diffusers' 77 frames)")
    animate.add_argument("--face-video", type=user_path, default=None,
                         help="the face video (crops of the face) the character's face follows")
    animate.add_argument("--segment-overlap", type=int, default=None, choices=(1, 5),
                         help="pixel frames each segment after the first starts from (default 1)")
    animate.add_argument("--background-video", type=user_path, default=None,
                         help="replace mode: the video to put the character in, where --mask-video is white")
    animate.add_argument("--mask-video", type=user_path, default=None,
                         help="replace mode: white where the character goes, black elsewhere (Wan VACE: white where the "
                              "model generates over --control-video, black where it keeps it)")
    p.add_argument("--reference-images", type=user_path, nargs="+", default=None, metavar="IMAGE",
                   help="Wan VACE: reference images (subjects or a background to put in the video)")
    p.add_argument("--control-video", type=user_path, default=None,
                   help="Wan VACE (WanVACEPipeline), CogVideoX-Fun control (CogVideoXFunControlPipeline), "
                        "Cosmos-Transfer2.5 (Cosmos2_5_TransferPipeline) and LTX-2 IC-LoRA (LTX2InContextPipeline: its reference "
                        "video; an LTX2Pipeline or LTX2ConditionPipeline folder, with the IC-LoRA by --lora, loads as it) "
                        "and LTX-2 HDR IC-LoRA (LTX2HDRPipeline: the SDR video it makes linear HDR) folders: "
                        "the control video (depth, pose, edges, "
                        "segmentation; VACE: or frames to keep where --mask-video is black); the output has its length (its "
                        "first 4k+1 frames, CogVideoX's 8k+1, or --frames of them), frame rate and aspect, in one call with "
                        "any method (Cosmos-Transfer2.5's: chunk by chunk, one longer chunk with a method)")


def _add_generate(sub) -> None:
    p = sub.add_parser("generate", help="generate one long video into an mp4 file",
                       description="Generate a video many times the model's native length.")
    p.add_argument("--prompt", default=None,
                   help="text prompt (needed, but where --connector-embeds gives LTX-2 HDR's text in its place: then optional, "
                        "not read, and the sidecar's prompt empty)")
    p.add_argument("--image", type=user_path, default=None, help="first frame (PNG/JPEG) for image-to-video models")
    p.add_argument("--last-image", type=user_path, default=None,
                   help="last frame (PNG/JPEG) too, with --image: Wan2.1 FLF2V, Wan2.2 I2V A14B and FramePack "
                        "(first-last-frame video); LTX-2's LTX2ConditionPipeline and LTX-2.5's folders with or without --image "
                        "(its condition at the last latent frame)")
    p.add_argument("--identity", type=user_path, default=None, help=IDENTITY_HELP)
    p.add_argument("--camera", type=user_path, default=None,
                   help="Sana-WM (SanaWMPipeline) folders: a JSON file of its camera trajectory, {\"c2w\": [F x 4 x 4 poses]} "
                        "or {\"action\": \"w-80,jw-40\"} (its WASD/IJKL keys held for that many frames), \"intrinsics\": "
                        "[fx, fy, cx, cy] in the image's pixels optional (vidlong.camera); default: a steady walk forward "
                        "and a 90 degree view")
    p.add_argument("--video", type=user_path, default=None,
                   help="video-to-video (Wan2.1 and CogVideoX-2B/5B text-to-video models): the video to redraw with the prompt "
                        "(mp4 or any file ffmpeg reads); the output has its length, frame rate and aspect. A SkyReels-V2 DF "
                        "video-to-video folder continues it in one call instead: its frames unchanged, then the new ones of a "
                        "window of --ratio or --frames that starts from its last 17 frames, encoded (not shown again), and so does "
                        "a Cosmos-Predict2.5 folder by its Video2World, and a Cosmos 3 folder, from its last 5 frames; a "
                        "Lucy Edit folder edits it by the prompt (every step, no --strength). To continue a video: vidlong "
                        "extend")
    p.add_argument("--strength", type=float, default=None,
                   help="with --video: how much of it is redrawn, in (0, 1] (default 0.8; 1: from pure noise)")
    _add_animate_options(p)
    _add_model_options(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--ratio", type=float, default=None, help="length as a multiple of the native window (default 1, or the preset's)")
    length.add_argument("--frames", type=int, default=None,
                        help="pixel frames, a count its VAE decodes back to: 4k+1 for Wan, HunyuanVideo, Kandinsky 5 and 6, "
                             "Motif-Video, EasyAnimate, Cosmos-Predict2 and 2.5, Sana-Video and AnyFlow, FAR too (e.g. 81, 161, "
                             "321), 8k+1 for LTX-Video, LTX-2, CogVideoX and Cosmos 1.0, 6k+1 for Mochi, 4k, 4k+1 or 4k+2 for "
                             "Allegro (e.g. 88), any count for Latte (its image VAE: a latent frame a frame), whole chunks for "
                             "Helios (33, 65, 97, 129, ...), whole sections after the image's frame for FramePack (37, 73, 109, ...) "
                             "(another is refused, naming the nearest); with --video, its first frames")
    p.add_argument("--method", default=None, help=" | ".join(METHOD_NAMES) + " (default: none; with --preset, both)")
    p.add_argument("--preset", default=None, help="method settings for a length ratio: 2x | 3x | 4x | 8x | 16x (with no "
                                                  "--method: --method both, UltraViCo and FreeLong++ at the preset's settings); "
                                                  "its ratio sets the length as --ratio does, unless a redrawn --video or a "
                                                  "--control-video sets it (a continued --video's window takes it)")
    _add_fifo_options(p)
    p.add_argument("--noise", default=None, choices=list(NOISE_KINDS),
                   help="initial noise (default: plain, as UltraViCo is published; with --preset, the FreeLong++ methods start "
                        "from the preset's noise, SpecMix, as FreeLong++ does; freenoise: one native window of noise repeated "
                        "with its frames shuffled, FreeNoise-style)")
    p.add_argument("--height", type=int, default=None, help=SIZE_HELP.format(side="height"))
    p.add_argument("--width", type=int, default=None, help=SIZE_HELP.format(side="width"))
    p.add_argument("--out", type=user_path, required=True,
                   help="output .mp4 file; settings go to a .json beside it (an image editor's "
                   "edit, ChronoEdit's last frame, to a .edited.png too; LTX-2 HDR's linear frames to a .hdr.npy)")
    p.add_argument("--save-latents", type=user_path, default=None, metavar="FILE.pt",
                   help="also save the final latents, to continue the video later with `vidlong extend --latents` (of a "
                        "continued --video, the window's: continue it with --video OUT.mp4 --latents FILE.pt)")
    p.add_argument("--upsample", nargs="?", const=True, type=user_path, default=None, metavar="FOLDER",
                   help="LTX-Video and LTX-2 folders: upsample the video's latents by the folder's own latent_upsampler/ (or "
                        "the latent upsampler in FOLDER), then decode them: the mp4 at the upsampler's scale of the size "
                        "(2x; LTX-2's 1.5x upsamplers 1.5x), LTX-2's sound unchanged (vidlong.upsample); Kandinsky 6 folders: "
                        "its video super-resolution (a Kandinsky6SRPipeline FOLDER) on the video's frames, in windows of its "
                        "native length (vidlong.families.kandinsky6_sr)")
    p.add_argument("--decoder", type=user_path, default=None, metavar="FOLDER",
                   help="LTX-2 and LTX-2.5 folders: decode the video's latents by LTX-2.5's diffusion decoder in FOLDER "
                        "(LTX2VideoDiffusionDecodePipeline, seeded with --seed) instead of the VAE, the sound unchanged; not "
                        "with --upsample or --refine (vidlong.families.ltx2_decoder)")
    p.add_argument("--temporal-refine", type=user_path, default=None, metavar="FOLDER",
                   help="LTX-2.5 folders: after its DFR pass, its temporal refine rounds (diffusers' "
                        "LTX2DFRTemporalRefinePipeline over the model's own parts) with the temporal latent upsampler in "
                        "FOLDER: each round doubles the frames and the frame rate, the sound unchanged; not with --decoder "
                        "(vidlong.families.ltx2_temporal)")
    p.add_argument("--temporal-rounds", type=int, default=None, metavar="1|2",
                   help="with --temporal-refine: its rounds, 1 (2x the frames and frame rate, the default) or 2 (4x)")
    p.add_argument("--connector-embeds", type=user_path, default=None, metavar="FILE.safetensors",
                   help="LTX-2 HDR IC-LoRA (LTX2HDRPipeline) folders: the HDR LoRA's pre-computed connector embeddings "
                        "(video_context and audio_context, [1, S, D] each), which its call reads in place of --prompt's "
                        "encoding, unguided (vidlong.families.ltx2_hdr)")
    p.add_argument("--upsample-scale", type=float, default=None, metavar="2|2.25|4",
                   help="with --upsample on a Kandinsky 6 folder: its video super-resolution's scale (default 2.25, its call's)")
    p.add_argument("--refine", nargs="?", const=True, type=user_path, default=False, metavar="FOLDER",
                   help="with --upsample: stage 2 of LTX-Video's and LTX-2's two-stage flow, the upsampled latents denoised "
                        "again for a few steps at the new size by the model's own call, as diffusers' docs do (vidlong.refine); "
                        "Sana-WM folders, without --upsample: its refiner (SanaWMLTX2Refiner) on the video's latents at the "
                        "same size, found beside the folder as <its name>-refiner/ or in its refiner/ (or the one in FOLDER)")
    p.add_argument("--refine-steps", type=int, default=None, metavar="N",
                   help="LTX-Video's refine pass: its num_inference_steps (default 10), of which --refine-strength's share runs")
    p.add_argument("--refine-strength", type=float, default=None, metavar="S",
                   help="LTX-Video's refine pass: its denoise_strength in (0, 1) (default 0.4: 4 of 10 steps)")
    p.add_argument("--refine-lora", default=None, metavar="FILE[:SCALE]",
                   help="LTX-2's refine pass: the dev checkpoint's distilled LoRA (.safetensors), merged for stage 2 alone")
    p.add_argument("--offload", default=None, choices=["model", "group"],
                   help="keep the weights in CPU memory and bring them to the GPU when used: model (diffusers' model CPU "
                        "offload, needs accelerate) or group (diffusers' group offloading, block by block)")
    p.add_argument("--parallel", default=None, choices=["ulysses"],
                   help="spread attention over the processes of torchrun (diffusers' context parallelism, Ulysses): "
                        "torchrun --nproc-per-node N -m vidlong generate ... --parallel ulysses; rank 0 writes the files")
    _add_overwrite(p)
    p.set_defaults(run=_run_generate)


def _check_model(args) -> Path:
    """The model folder, checked (and its task against --image, or against streaming) before anything loads."""
    from .generate import check_task, load_image
    from .models import check_model_folder, control_video_twin, pipeline_task
    from .schedulers.timeline import parse_prompt_timeline
    from .video_to_video import check_redraws
    from .validate import (check_compile, check_control_twin, check_cpu_bfloat16_encode, check_cpu_bfloat16_forward, check_device,
                           check_diagonal_offload, check_diagonal_stream, check_dtype, check_folder_guider, check_image_codec,
                           check_keeps_latents, check_negative_prompt, check_offload, check_streamable, fewest_frames_extended,
                           limits_for_folder, resolve_context, streams, uses_causal_sampler)
    from .methods import WINDOW_CONTEXTS

    folder = check_model_folder(args.model)
    device = check_device(args.device)
    check_dtype(args.dtype, device)
    encodes = args.command == "extend" or bool(getattr(args, "image", None) or getattr(args, "video", None))
    check_cpu_bfloat16_encode(folder, device, args.dtype, encodes)
    check_cpu_bfloat16_forward(folder, device, args.dtype)
    for flag in ("temporal_refine", "temporal_rounds"):
        if args.command != "generate" and getattr(args, flag, None) is not None:
            raise VidlongError(f"--{flag.replace('_', '-')} runs LTX-2.5's temporal rounds on a whole generated video "
                               f"(vidlong generate); vidlong {args.command} does not: drop it")
    if args.command == "generate":
        check_offload(args.offload, device)
        if args.method == "fifo":
            check_diagonal_offload(args.offload)
        if args.parallel and len(parse_prompt_timeline(args.prompt)) > 1:
            raise VidlongError("a prompt timeline does not run with --parallel (each process holds a share of the video's "
                               "tokens, which the timeline's cross-attention does not split); drop --parallel or give one prompt")
    check_compile(args.compile, folder, getattr(args, "offload", None))
    task = pipeline_task(folder, **_given(args))
    streamed_video = args.command == "stream" and bool(args.video)  # redrawn or edited chunk by chunk
    if _streams_control_video(args, folder):  # its call's chunks, not a chunked stream's: `_check_control_stream`
        pass
    elif args.command != "generate" and args.method == "fifo":
        check_diagonal_stream(_streaming_config(args), limits_for_folder(folder, **_given(args)), video=streamed_video)
    elif args.command != "generate":
        streaming, limits = _streaming_config(args), limits_for_folder(folder, **_given(args))
        context = resolve_context(streaming, limits)
        with _preset_values_named(args):  # --preset longlive's cache on a family that re-noises alone
            check_streamable(limits, context, args.sinks, streamed_video, args.command == "extend")
        check_folder_guider(folder)  # a guider a stream does not follow (Motif-Video's, HunyuanVideo 1.5's)
        uses_causal_sampler(streaming, limits.spec, context in WINDOW_CONTEXTS)
    if args.command != "generate":  # generate's: check_generate
        check_negative_prompt(limits_for_folder(folder, **_given(args)), args.negative_prompt, "stream")
    if args.command == "generate" and args.video and not limits_for_folder(folder, video=True).continues:
        check_redraws(limits_for_folder(folder, video=True))  # before an image-to-video model asks for its image
    if args.command == "generate" and args.save_latents and task == "animate":
        raise VidlongError("--save-latents saves the latents a video continues from, and a Wan Animate call decodes each "
                           "segment and continues them itself: drop --save-latents")
    if args.command != "generate" and getattr(args, "upsample", None) is not None:
        raise VidlongError(f"--upsample upsamples a whole generated video's latents (vidlong generate); vidlong {args.command} "
                           "does not upsample its chunks: drop --upsample")
    if args.command != "generate" and getattr(args, "decoder", None) is not None:
        raise VidlongError(f"--decoder decodes a whole generated video's latents (vidlong generate); vidlong {args.command} "
                           "decodes its chunks by the VAE as they come: drop --decoder")
    if args.command == "generate" and args.save_latents and args.upsample is not None:
        raise VidlongError("--save-latents would save the latents at the made size, which vidlong extend --latents would "
                           "continue at that size, not the upsampled video's: drop --save-latents (extend the mp4 with --video)")
    if args.command in ("generate", "stream") and args.save_latents and not streams(limits_for_folder(folder, **_given(args))):
        raise VidlongError("--save-latents saves the latents vidlong extend --latents continues from, and vidlong extend "
                           "does not run this model: drop --save-latents")
    for flag in ("save_latents", "latents"):
        if getattr(args, flag, None):
            dropped = (args.command, flag) == ("extend", "save_latents") or (flag == "latents" and getattr(args, "video", None))
            check_keeps_latents(limits_for_folder(folder, **_given(args)), named(flag), f"drop {named(flag)}" if dropped else None)
    if args.command == "generate" and args.control_video and control_video_twin(folder):
        check_control_twin(folder, lora_files(args), bool(args.image))  # an IC-LoRA to follow the control video by
    if args.command != "extend":  # an extension's image is its context's first frame
        check_task(task, bool(args.image), fewest_frames_extended(limits_for_folder(folder, **_given(args))))
        if args.image:
            load_image(args.image)
            check_image_codec(limits_for_folder(folder, image=True), True)
    if getattr(args, "last_image", None):
        load_image(args.last_image, "last_image")
    return folder


def _given(args) -> dict:
    """What the command conditions on, as `vidlong.models.pipeline_task` takes it: a first frame (--image: a text-to-video
    folder with an image-to-video twin then loads as it), a video to redraw (generate's --video: a Wan2.1 or CogVideoX-2B/5B
    text-to-video folder then loads as its video-to-video pipeline) and a control video (--control-video: an LTX-2 folder then
    loads as its in-context pipeline, `vidlong.models.control_video_twin`; its streams and extensions refused as that
    pipeline's)."""
    return dict(image=bool(getattr(args, "image", None)), video=args.command == "generate" and bool(args.video),
                control=bool(getattr(args, "control_video", None)))


def _add_overwrite(p) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out (and its .json and --save-latents files); without it they are refused")


def _check_outputs(args) -> tuple[Path, Optional[Path]]:
    """(--out, --save-latents), checked before anything loads: writable (--out's .json no folder), not replacing files
    unasked, and held by this run to its end (`args.held`, main's; by rank 0 of a --parallel run, the one that writes them):
    another run writing the same file is refused in one line, where the two would write one mp4 at once or one would
    replace the other's."""
    from .files import exclusive_lock
    from .validate import check_new_outputs
    from .video_io import check_output_path, sweep_stale_temps

    out = check_output_path(Path(args.out))
    latents_path = _check_latents_path(args.save_latents)
    _check_not_an_input(args, out, latents_path)
    writes = not getattr(args, "parallel", None) or os.environ.get("RANK", "0") == "0"  # a --parallel run's rank 0 alone
    sidecar = out.with_suffix(".json")  # a.mp4's and a.MP4's: one file
    if sidecar.is_dir():  # no --overwrite replaces it: the run would fail at its end, its mp4 written without its sidecar
        raise VidlongError(f"{sidecar} is a folder (--out {out} would write its settings there); choose another --out")
    for path, flag in ((out, "--out"), (sidecar, "--out"), (latents_path, "--save-latents")):
        if path is not None and writes:
            args.held.enter_context(exclusive_lock(path.with_name(f".{path.name}.lock"), f"another vidlong run is writing "
                                                   f"{path}; wait for it to end, or choose another {flag}", remove=True))
    check_new_outputs(out, latents_path, args.overwrite)  # once held: a run that finished meanwhile has written it
    for path in (out, sidecar, latents_path):
        if path is not None and writes:
            sweep_stale_temps(path)  # what an earlier run, killed mid-write, left: no other run writes them now
    return out, latents_path


#: the flags of the files a command reads
INPUT_FLAGS = ("video", "latents", "image", "last_image", "control_video", "mask_video", "pose_video", "face_video",
               "background_video", "identity", "camera", "connector_embeds")


def _check_not_an_input(args, out: Path, latents: Optional[Path]) -> None:
    """No output (`--out`, its .json, `--save-latents`) is a file the command reads, even with --overwrite: the video is
    written while its input is read, and a run that stops mid-way would leave neither; nor is --out's .json an input's
    (``--out in.MP4`` for ``--video in.mp4``), which would lose what that one says of its video. (`--save-latents` may be the
    `--latents` read: that file is read whole before the run and replaced atomically after it.)"""
    sidecar = out.with_suffix(".json")
    for flag in INPUT_FLAGS:
        given = getattr(args, flag, None)
        written = [out, sidecar, *([latents] if latents is not None and flag != "latents" else [])]
        if isinstance(given, str) and given and any(_same_file(Path(given), path) for path in written):
            raise VidlongError(f"--{flag.replace('_', '-')} {given} is also an output of this run; write --out (and "
                               "--save-latents) to other files: the input is read while they are written")
        if (flag.endswith("video") and isinstance(given, str) and given and sidecar.exists()
                and _same_file(Path(given).with_suffix(".json"), sidecar)):
            raise VidlongError(f"--out {out} would write {sidecar}, the sidecar of --{flag.replace('_', '-')} {given} "
                               "(its prompts and settings); name --out otherwise")


def _same_file(a: Path, b: Path) -> bool:
    """Whether `a` and `b` name one file; not where the system cannot look one up (a name too long: its own check refuses
    it after)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_latents_path(path) -> Optional[Path]:
    from .extend import check_latents_path

    if path is None:
        return None
    path = Path(path)
    if path.suffix != ".pt":
        raise VidlongError(f"--save-latents {path}: name the file with a .pt extension")
    return check_latents_path(path, "--save-latents")


def _run_generate(args) -> int:
    from .generate import GenerateRequest
    from .hdr_video import hdr_path
    from .methods import load_preset
    from .validate import check_generate, limits_for_folder

    args.prompt = _generate_prompt(args)
    out, latents_path = _check_outputs(args)
    diagonal = _diagonal(args)
    folder = _check_model(args)
    limits = limits_for_folder(folder, **_given(args), loras=lora_files(args))  # its LoRAs' reference downscale too
    edited = _check_edited_image(args, out, limits)
    hdr_out = _check_written_beside(args, out, hdr_path(out), "the linear HDR frames") if limits.control == "hdr" else None
    # a redrawn or control video sets the length; a continued one does not: its window is --ratio's, or the preset's
    sets_length = args.control_video or (args.video and not limits.continues)
    preset_ratio = load_preset(args.preset)["ratio"] if args.preset and not sets_length else 1.0
    request = GenerateRequest(
        prompt=args.prompt, negative_prompt=args.negative_prompt, ratio=preset_ratio if args.ratio is None else args.ratio,
        frames=args.frames, method=args.method, preset=args.preset, noise=args.noise, steps=args.steps, guidance=args.guidance,
        guidance_2=args.guidance_2, seed=args.seed, height=args.height, width=args.width, image=args.image,
        last_image=args.last_image, video=args.video, strength=args.strength, pose_video=args.pose_video,
        face_video=args.face_video, background_video=args.background_video, mask_video=args.mask_video,
        control_video=args.control_video, segment_overlap=args.segment_overlap, reference_images=args.reference_images,
        identity=args.identity, camera=args.camera, upsample=args.upsample, upsample_scale=args.upsample_scale, refine=args.refine,
        refine_steps=args.refine_steps, refine_strength=args.refine_strength, refine_lora=args.refine_lora,
        decoder=args.decoder, temporal_refine=args.temporal_refine, temporal_rounds=args.temporal_rounds,
        connector_embeds=args.connector_embeds,
    )
    latent = check_generate(request, limits)  # every field, before any model loads
    _note_variable_frame_rate(args, limits)
    from .estimate import GIB, check_fits, run_cost, upsampled_text  # diffusers: imported once the request is known good
    from .extend import decoded_chunk, save_latents, video_identity
    from .edited_image import write_edited_image
    from .files import atomic_write_text
    from .hdr_video import write_hdr
    from .generate import generate
    from .pipeline import hidden_progress_bars
    from .progress import RunBar
    from .video_io import write_video

    rank, device = _start_parallel(args, folder, limits, request, latent) if args.parallel else (0, args.device)
    pipe = _load_pipeline(args, folder, device, offload=args.offload)
    if args.parallel:
        pipe.enable_parallelism()
    cost = run_cost(pipe, request, latent, diagonal)
    check_fits(cost)  # a run that will not fit is refused before its first step
    if rank == 0:
        print(f"estimate: {cost.flops / 1e12:.3g} TFLOP in the transformer, about {cost.peak_bytes / GIB:.2g} GiB of "
              f"{'GPU memory' if cost.device.type == 'cuda' else 'RAM'} beyond the loaded model{upsampled_text(cost)}"
              + ("; Sana-WM's refiner after it not counted" if request.refine and not request.upsample else ""), flush=True)
    with hidden_progress_bars(pipe), RunBar(disable=rank != 0) as bar:  # one bar over the run's steps, second stages' too
        result = generate(pipe, request, progress=bar, diagonal=diagonal)
    if args.parallel:
        import torch.distributed as dist

        dist.destroy_process_group()
    if rank != 0:  # every rank holds the whole video; one writes it
        return 0
    write_video(out, result.frames, fps=result.settings["fps"], audio=result.audio)
    settings = dict(result.settings, model_path=str(args.model or "default"), compile=args.compile, out=str(out))
    with files_beside(out):
        if latents_path is not None:
            save_latents(latents_path, result.latents, model=pipe.spec.name, prompt=request.prompt, fps=result.settings["fps"],
                         decoded_chunk=decoded_chunk(pipe.facts()["family"], pipe.spec),
                         **video_identity(result.frames[-1], len(result.frames)))
            settings["latents"] = str(latents_path)
        if edited is not None:  # an image editor's edit: the video's last frame
            settings["edited_image"] = str(write_edited_image(edited, result.frames[-1]))
        if hdr_out is not None:  # LTX-2 HDR's linear frames, which the mp4 holds tone-mapped
            settings["hdr_video"] = str(write_hdr(hdr_out, result.hdr))
        atomic_write_text(out.with_suffix(".json"), json.dumps(settings, indent=2) + "\n")
    fps = result.settings["fps"]
    print(f"wrote {out} ({result.frames.shape[0]} frames, {result.frames.shape[2]}x{result.frames.shape[1]}, "
          f"{result.frames.shape[0] / fps:.1f} s at {fps:g} fps, {settings['ratio']:.2g}x native; made in "
          f"{settings['seconds']:.1f} s)" + (f"; the edited image: {edited}" if edited is not None else "")
          + (f"; its linear HDR frames: {hdr_out}" if hdr_out is not None else ""))
    return 0


def _generate_prompt(args) -> str:
    """generate's --prompt, before anything else is checked: needed unless --connector-embeds gives LTX-2 HDR's text in its
    place (its call reads those alone), where an omitted one is empty text, as the sidecar records it."""
    if args.prompt is None and args.connector_embeds is None:
        raise VidlongError("--prompt is needed: describe the video, e.g. --prompt \"a red circle\" (an LTX-2 HDR IC-LoRA "
                           "folder takes --connector-embeds FILE.safetensors in its place)")
    return "" if args.prompt is None else args.prompt


def _check_edited_image(args, out: Path, limits) -> Optional[Path]:
    """Where the model edits the image (`ModelLimits.edits_image`), the PNG of the edit beside --out
    (`vidlong.edited_image`), checked before anything loads as --out's other files are: not the --image read, not a folder,
    not replaced unasked, held by this run (by rank 0 of a --parallel run, which writes it); else None."""
    from .edited_image import edited_image_path

    if not limits.edits_image:
        return None
    path = edited_image_path(out)
    if isinstance(args.image, str) and args.image and _same_file(Path(args.image), path):
        raise VidlongError(f"--image {args.image} is also an output of this run (the edited image, written beside --out); "
                           "name --out otherwise")
    return _check_written_beside(args, out, path, "the edited image")


def _check_written_beside(args, out: Path, path: Path, what: str) -> Path:
    """`path`, a file this run writes beside --out (`what` it holds: the edited image, LTX-2 HDR's linear frames), checked
    before anything loads as --out's other files are: not a folder, not replaced unasked, held by this run (by rank 0 of a
    --parallel run, which writes it)."""
    from .files import exclusive_lock
    from .video_io import sweep_stale_temps

    if getattr(args, "parallel", None) and os.environ.get("RANK", "0") != "0":
        return path
    args.held.enter_context(exclusive_lock(path.with_name(f".{path.name}.lock"), f"another vidlong run is writing {path}; "
                                           "wait for it to end, or choose another --out", remove=True))
    if path.is_dir():  # no --overwrite replaces it: the run would fail at its end, its mp4 written without its sidecar
        raise VidlongError(f"{path} is a folder (--out {out} would write {what} there); choose another --out")
    if path.exists() and not args.overwrite:
        raise VidlongError(f"{path} exists (--out {out} would write {what} there); pass --overwrite to replace it, "
                           "or choose another --out")
    sweep_stale_temps(path)
    return path


def _load_pipeline(args, folder: Path, device, offload=None, streams=False):
    """The command's pipeline. With --compile this process also lets dynamo keep a graph per state of a
    stream's KV cache (each fill level, reading and writing: more than its default limit of 8 for a long
    window, past which the steady state would run uncompiled), and a command that `streams` (stream,
    extend: one decode per chunk) on CUDA compiles Wan's VAE decoder too (26 pixel frames/s instead of 23
    on an H200, RESULTS.md); `generate` decodes once, where compiling would cost more than it saves."""
    from .models import load_task
    from .pipeline import load_pipeline

    if args.compile is not None:
        import torch._dynamo

        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    pipe = load_pipeline(folder, device=device, dtype=args.dtype, offload=offload, compile=args.compile,
                         task=load_task(folder, **_given(args)), loras=lora_files(args))
    if args.compile is not None and streams and pipe.device.type == "cuda" and type(pipe.vae).__name__ == "AutoencoderKLWan":
        pipe.vae.decoder.compile(backend=args.compile)  # not on the CPU: its decoder's oneDNN path does not trace
    return pipe


def _start_parallel(args, folder: Path, limits, request, latent: int):
    """(rank, device) of this torchrun process, its process group started, after the checks that need
    only the folder's configs and the request (`latent` latent frames long, on the pipeline of `limits`): a transformer
    class with a context-parallel plan, a pipeline whose call vidlong splits, no second stage, each forward's tokens against
    the ranks (`vidlong.parallel_split`), heads against ranks, ranks against GPUs."""
    from .models import folder_configs
    from .parallel import (check_parallel_class, check_parallel_pipeline, check_parallel_request, check_parallel_stages,
                           init_from_torchrun, torchrun_world)
    from .parallel_split import check_parallel_split

    config = folder_configs(folder)[1]
    check_parallel_class(config.get("_class_name", ""))  # a class with a plan first: one without may name its heads otherwise
    heads = int(config["num_attention_heads"])
    check_parallel_pipeline(limits.pipeline)
    check_parallel_stages(request)
    check_parallel_split(request, limits, latent, torchrun_world(), heads)
    rank, world, device = init_from_torchrun(args.device)
    check_parallel_request(world, heads, device)
    return rank, device


def _add_stream_options(p) -> None:
    """Options shared by `stream` and `extend`."""
    _add_model_options(p)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=float, default=None, help="seconds of new video (default 10; 0: until interrupted)")
    length.add_argument("--chunks", type=int, default=None, help="number of chunks")
    length.add_argument("--forever", action="store_true", help="stream until interrupted (Ctrl-C)")
    p.add_argument("--method", default="chunked", choices=["chunked", "fifo"],
                   help="chunked: chunk by chunk through sinks and a rolling window (the options below); fifo: diagonal "
                        "denoising (FIFO-Diffusion with a sink; Wan, SkyReels-V2, LTX-Video): the frames of vidlong "
                        "generate --method fifo (one prompt), made and shown 3 latent frames at a time; a prompt schedule "
                        "reaches every frame not shown yet, more prompted objects kept on the bidirectional models "
                        "(benchmarks/RESULTS.md)")
    p.add_argument("--cut-on-switch", action="store_true",
                   help="--method fifo, text-to-video: a prompt switch (a schedule's entry) cuts to the new prompt's own "
                        "native video instead of blending into the frames not shown yet")
    _add_fifo_options(p)
    p.add_argument("--preset", dest="stream_preset", default=None, choices=["default", "longlive"],
                   help="streaming settings: default, or longlive (3 sinks, 12 attended frames, chunk 3, sinks kept across "
                        "prompt switches, the model's own sampler: LongLive's, for a model whose "
                        "native window is 12 latent frames or more, not the embedded models' 9); the options below override "
                        "it (default: the model's vidlong.yaml, else default)")
    p.add_argument("--chunk", type=int, default=None,
                   help="latent frames per chunk (default 3, or the model's own: Helios's call's chunk)")
    p.add_argument("--sinks", type=int, default=None,
                   help="sink frames kept forever (default: one chunk; for a chunk over half the native window, native - chunk)")
    p.add_argument("--window", type=int, default=None, help="recent frames kept in the cache (default: native - sinks - chunk)")
    p.add_argument("--no-recache", action="store_true", help="keep cached K/V on a prompt switch instead of re-encoding them")
    p.add_argument("--keep-sinks", action=argparse.BooleanOptionalAction, default=None,
                   help="on a prompt switch re-encode only the window, keeping the sinks' K/V (LongLive's way); "
                        "--no-keep-sinks re-encodes all (default: the preset's)")
    p.add_argument("--context", default=None, choices=["cache", "renoise", "clean"],
                   help="how a chunk sees earlier frames: their cached clean K/V, re-noised to each step's level "
                        "and denoised jointly (bidirectional models), or clean under the condition mask beside the chunk, "
                        "as its Video2World call conditions (Cosmos-Predict2.5; Cosmos 3: as its video= call); default: the "
                        "model's vidlong.yaml, else cache for Wan's text-to-video models, clean for Cosmos-Predict2.5's and "
                        "Cosmos 3's and renoise for every other "
                        "(vidlong info --model names it)")
    p.add_argument("--sampler", default=None, choices=["scheduler", "causal"],
                   help="how a chunk is denoised: the pipeline's scheduler, or the few-step causal sampler of "
                        "block-causal models (guidance 1 unless --guidance; default: the model's vidlong.yaml, else scheduler)")
    p.add_argument("--timesteps", default=None, metavar="T1,T2,...",
                   help="the causal sampler's noise levels from 1000 down, e.g. 1000,750,500,250 (default: the model's, "
                        "else --steps (4) evenly spaced)")
    p.add_argument("--out", type=user_path, required=True,
                   help="output .mp4 file, appended as chunks arrive; settings go to a .json beside it")
    p.add_argument("--upsample", nargs="?", const=True, default=None, help=argparse.SUPPRESS)  # refused: `_check_model`
    p.add_argument("--decoder", default=None, help=argparse.SUPPRESS)  # refused: `_check_model`
    p.add_argument("--temporal-refine", default=None, help=argparse.SUPPRESS)  # refused: `_check_model`
    p.add_argument("--temporal-rounds", default=None, help=argparse.SUPPRESS)  # refused: `_check_model`
    p.add_argument("--save-latents", type=user_path, default=None, metavar="FILE.pt",
                   help="also save latents to continue the output later without a re-encode (an extension of --video "
                        "saves its encoded tail and the new chunks: continue it with --video OUT.mp4 --latents FILE.pt)")
    _add_overwrite(p)


def _add_stream(sub) -> None:
    p = sub.add_parser("stream", help="stream an unbounded video chunk by chunk into an mp4",
                       description="Stream a video of any length: each chunk attends to sink frames and a rolling "
                                   "window of recent frames, so memory and time per chunk stay flat. The mp4 grows as "
                                   "chunks arrive; Ctrl-C leaves a playable file with every finished chunk.")
    p.add_argument("--prompt", required=True, help='a prompt, or a schedule "0:a red ball; 20:a blue ball" (chunk: prompt)')
    p.add_argument("--image", type=user_path, default=None, help="first frame (PNG/JPEG) for image-to-video models")
    p.add_argument("--identity", type=user_path, default=None, help=IDENTITY_HELP)
    p.add_argument("--video", type=user_path, default=None,
                   help="redraw this video chunk by chunk with the prompt, at any length (Wan and SkyReels-V2 text-to-video "
                        "models), or edit it so (Lucy Edit, which streams nothing else); the stream is as long as it "
                        "(--chunks N: its first N chunks), at its frame rate and aspect")
    p.add_argument("--strength", type=float, default=None,
                   help="with --video: how much of it is redrawn, in (0, 1] (default 0.8; 1: from pure noise; none for "
                        "Lucy Edit's edit)")
    p.add_argument("--control-video", type=user_path, default=None,
                   help="Cosmos-Transfer2.5 (Cosmos2_5_TransferPipeline) folders: the control video (edges, depth, "
                        "segmentation) whose world video its call makes chunk by chunk, each chunk written as it is made; "
                        "the stream is as long as it (its first 4k+1 frames; --chunks N: its first N chunks), at its frame "
                        "rate and aspect")
    _add_stream_options(p)
    p.add_argument("--first-chunk", type=int, default=None,
                   help="latent frames of the first chunk, made with no context (default: the model's, else --chunk; "
                        "at most native)")
    p.add_argument("--height", type=int, default=None, help=SIZE_HELP.format(side="height"))
    p.add_argument("--width", type=int, default=None, help=SIZE_HELP.format(side="width"))
    p.set_defaults(run=_run_stream)


def _add_extend(sub) -> None:
    p = sub.add_parser("extend", help="continue a video you already have",
                       description="Continue a video: its last frames are encoded once (or taken from --latents) "
                                   "into the streaming cache, and new chunks stream from there. The output is the "
                                   "input's frames unchanged, then the new frames, at the input's size and frame rate.")
    p.add_argument("--video", type=user_path, default=None, help="the video to continue (mp4 or any file ffmpeg reads)")
    p.add_argument("--identity", type=user_path, default=None, help=IDENTITY_HELP)
    p.add_argument("--latents", type=user_path, default=None, metavar="FILE.pt",
                   help="continue from latents saved with --save-latents (no VAE round trip); without --video the "
                        "output starts with their decoded frames")
    p.add_argument("--prompt", default=None,
                   help='prompt or schedule for the new chunks (default: the prompt in the input\'s .json sidecar)')
    p.add_argument("--control-video", type=user_path, default=None,
                   help="Cosmos-Transfer2.5 (Cosmos2_5_TransferPipeline) folders: a control video covering --video, then its "
                        "continuation (its frame i the output's frame i): the new frames follow its frames past --video's, "
                        "its call's chunks from --video's last frame (--seconds S: S seconds of them at --video's frame "
                        "rate; none: to its end)")
    _add_stream_options(p)
    p.set_defaults(run=_run_extend)


#: `vidlong stream` / `extend` options that set the chunked method's `Streaming` config (flag: args name)
CHUNKED_OPTIONS = {"--preset": "stream_preset", "--chunk": "chunk", "--sinks": "sinks", "--window": "window",
                   "--context": "context", "--sampler": "sampler", "--timesteps": "timesteps", "--first-chunk": "first_chunk",
                   "--keep-sinks": "keep_sinks"}


def _streaming_config(args):
    from .methods import DiagonalDenoising, model_streaming
    from .validate import check_sampling, check_stream_length

    check_stream_length(args.chunks, args.seconds or None)  # --seconds 0: until interrupted
    check_sampling(args.guidance, args.guidance_2, args.seed)
    if args.method == "fifo":
        given = [flag for flag, name in CHUNKED_OPTIONS.items() if getattr(args, name, None) is not None] + \
            (["--no-recache"] if args.no_recache else [])
        if given:
            flag = "--no-keep-sinks" if given[0] == "--keep-sinks" and args.keep_sinks is False else given[0]
            raise VidlongError(f"{flag} is an option of --method chunked; --method fifo keeps one sink frame, runs the "
                               f"model's native window over a queue of {DiagonalDenoising().partitions} windows and starts "
                               f"from a native video (of --steps steps): drop {flag}")
        return _diagonal(args)
    _diagonal(args)  # refuses --partition-guidance and --noise-correlation
    if args.cut_on_switch:
        raise VidlongError("--cut-on-switch is an option of --method fifo; --method chunked re-encodes its cache on a "
                           "switch (or keeps it: --no-recache)")
    given = dict(chunk=args.chunk, sinks=args.sinks, window=args.window, steps=args.steps, context=args.context,
                 first_chunk=getattr(args, "first_chunk", None), sampler=args.sampler, timesteps=_timesteps(args.timesteps),
                 recache_on_prompt_switch=False if args.no_recache else None, keep_sinks_on_switch=args.keep_sinks)
    if args.steps is not None and args.timesteps is not None:
        raise VidlongError("give --steps or --timesteps, not both (--timesteps sets the causal sampler's levels)")
    changes = {name: value for name, value in given.items() if value is not None}
    if args.steps is not None and args.timesteps is None:
        changes["timesteps"] = None  # --steps sets the causal sampler's levels over a preset's
    return model_streaming(_model_spec(args), args.stream_preset, **changes)


@contextlib.contextmanager
def _preset_values_named(args):
    """A refusal raised inside, saying where the values it names came from where a --preset (not the default one) gave one
    of them: a chunk, sinks, window or context the command line did not."""
    try:
        yield
    except VidlongError as err:
        preset = getattr(args, "stream_preset", None)
        from_preset = [flag for flag in ("--chunk", "--sinks", "--window", "--first-chunk", "--context")
                       if f"{flag} " in str(err) and getattr(args, CHUNKED_OPTIONS[flag], None) is None]
        if preset in (None, "default") or not from_preset:
            raise
        raise VidlongError(f"{err} ({', '.join(from_preset)}: --preset {preset}'s; override them with the options named)") from None


def _check_stream_settings(args, streaming, limits, height=None, width=None) -> None:
    """`check_stream`, its refusal naming the values a --preset gave (`_preset_values_named`); a stream's --video is one it
    redraws or edits (Lucy Edit's, whose refusal of a stream with none does not apply)."""
    from .validate import check_stream

    with _preset_values_named(args):
        check_stream(streaming, limits, height, width, video=args.command == "stream" and bool(args.video))


def _model_spec(args):
    """The model's spec (its vidlong.yaml, else the known model its files match), read before any weights load: its stream
    defaults (`vidlong.methods.model_streaming`)."""
    from .models import check_model_folder, spec_for_folder

    return spec_for_folder(check_model_folder(args.model))


def _timesteps(text: Optional[str]) -> Optional[tuple]:
    """``"1000,750,500"`` -> (1000, 750, 500), or a one-line error naming --timesteps."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise VidlongError(f"--timesteps must be whole numbers separated by commas, e.g. 1000,750,500,250; got {text!r}") from None


def _length(args) -> dict:
    """chunks/seconds keyword arguments of `stream`/`extend` (None for both: until interrupted)."""
    forever = args.forever or args.seconds == 0
    return dict(chunks=None if forever else args.chunks,
                seconds=None if forever else (args.seconds or (None if args.chunks else 10.0)))


@contextlib.contextmanager
def files_beside(out: Path):
    """Around what a run writes after its video `out` (its .json, --save-latents, an edit's image, HDR frames): where the
    file system refuses one (a full disk), one line saying the video is kept and what is missing, instead of a system
    error after the run."""
    try:
        yield
    except OSError as err:
        raise VidlongError(f"{out} is written and kept, but not the files beside it (its .json settings, any --save-latents): "
                           f"{err.strerror or err}; free space in {out.parent} (a run again needs --overwrite)") from None


def _write_stream(stream, out: Path, latents_path: Optional[Path], settings: dict) -> int:
    """Append every chunk of `stream` to `out` as it arrives, at its frame rate (`stream.fps`: the model's, an extended or
    redrawn video's own); on Ctrl-C keep what was made (exit 130).
    Writes the .json sidecar (and the latents file) at the end either way."""
    import torch
    from tqdm import tqdm

    from .extend import decoded_chunk, save_latents, video_identity
    from .files import atomic_write_text
    from .interrupts import deferred_interrupts
    from .progress import step_status
    from .streaming import held_frames, held_sound
    from .video_io import StreamingVideoWriter

    latents, code, chunks, last, fps = [], 0, 0, None, stream.fps
    with StreamingVideoWriter(out, fps=fps) as writer, tqdm(total=stream.chunks, unit="chunk", dynamic_ncols=True) as bar:
        stream.on_step = lambda done, total: bar.set_postfix_str(step_status(stream.step_kind, done, total))  # within a chunk
        try:
            for chunk in stream:
                # a new chunk goes to the file whole (an interrupt waits for it), counted with its latents and last frame;
                # an extension's input, a copy of a file that may be long, stops where it is
                with deferred_interrupts() if not chunk.is_input else contextlib.nullcontext():
                    if not writer.frames_written:  # the settings of a video --overwrite replaces go with its first frames
                        out.with_suffix(".json").unlink(missing_ok=True)
                    writer.append(chunk.frames, audio=chunk.audio)
                    last, chunks = chunk.frames[-1], chunks + (not chunk.is_input)
                    if latents_path is not None:  # kept only when asked for: a stream's memory stays flat
                        latents.append(chunk.latents)
                if chunk.is_input:
                    continue
                bar.update()
                bar.set_postfix(frames=writer.frames_written, fps=f"{len(chunk.frames) / chunk.seconds:.1f}")
        except KeyboardInterrupt:
            bar.close()
            code = 130
        # the frames and sound its last chunk held back for one it did not make, where it stopped early (FramePack, LTX-2,
        # Kandinsky 6)
        writer.append(held_frames(stream), audio=held_sound(stream))
        if code and chunks:
            print(f"vidlong: interrupted; {out} holds {writer.frames_written} frames", file=sys.stderr)
    if code and not chunks:  # nothing new: an extension's part-copied input is no output (a file --overwrite would
        if writer.frames_written:  # replace is left as it was where nothing was written)
            out.unlink(missing_ok=True)
        print("vidlong: interrupted before the first chunk; nothing written", file=sys.stderr)
        return 130
    settings = dict(settings, chunks=chunks, pixel_frames=writer.frames_written, fps=float(fps), out=str(out))
    with files_beside(out):
        if latents_path is not None and latents:
            save_latents(latents_path, torch.cat(latents, dim=2), model=settings["model"], prompt=settings["prompt"],
                         fps=float(fps), chunks=chunks, decoded_chunk=decoded_chunk(stream.pipe.facts()["family"], stream.pipe.spec),
                         **video_identity(last, writer.frames_written))
            settings["latents"] = str(latents_path)
        atomic_write_text(out.with_suffix(".json"), json.dumps(settings, indent=2) + "\n")
    if code == 0:
        print(f"wrote {out} ({writer.frames_written} frames, {writer.frames_written / fps:.1f} s at {fps:g} fps)")
    return code


def _stream_settings(args, pipe, stream, prompt: str) -> dict:
    """The sidecar's settings of `stream` (a `VideoStreamer` or a `DiagonalStreamer`): its own (`settings()`)
    and the run's (the first frame's file too, as `generate`'s sidecar records it)."""
    image = getattr(args, "image", None)
    return dict(command=args.command, prompt=prompt, negative_prompt=args.negative_prompt, **pipe.run_settings(),
                model_path=str(args.model or "default"), seed=args.seed, guidance=list(stream.guidances),
                streaming=stream.settings(), compile=args.compile, image=str(image) if image else None)


def _check_prompts(prompt: str, chunks) -> None:
    """A stream's prompt schedule against its `chunks` (None: unbounded)."""
    from .schedulers.stream import check_prompt_starts, parse_prompt_schedule

    check_prompt_starts(parse_prompt_schedule(prompt), chunks)


def _run_stream(args) -> int:
    from .generate import load_image
    from .fifo_stream import chunk_layout
    from .schedulers.stream import stream_chunk_count
    from .validate import check_second_expert, limits_for_folder

    out, latents_path = _check_outputs(args)
    streaming = _streaming_config(args)
    folder = _check_model(args)
    limits = limits_for_folder(folder, **_given(args))
    identity = _identity(args, limits)
    if _streams_control_video(args, folder):
        return _run_control_stream(args, streaming, folder, limits, out)
    if args.control_video is not None:
        raise VidlongError("a stream follows a --control-video with Cosmos-Transfer2.5 alone (its call's chunks); other "
                           "control models take one in vidlong generate: drop --control-video, or use vidlong generate")
    _check_stream_settings(args, streaming, limits, args.height, args.width)
    check_second_expert(args.guidance_2, limits)
    if args.video is not None:
        length = _redraw_length(args, streaming, limits)
        _note_variable_frame_rate(args, limits)
    else:
        length = _length(args)
        if args.strength is not None:
            raise VidlongError("--strength is how much of a video a stream redraws: pass --video in.mp4, or drop --strength")
    _check_prompts(args.prompt, stream_chunk_count(limits, chunk_layout(streaming), **length))
    pipe = _load_pipeline(args, folder, args.device, streams=True)
    from .estimate import check_stream_fits

    redraw = dict(video=args.video, strength=args.strength) if args.video is not None else {}
    stream = pipe.stream(args.prompt, streaming=streaming, guidance=args.guidance, guidance_2=args.guidance_2,
                         seed=args.seed, height=args.height, width=args.width, negative_prompt=args.negative_prompt,
                         image=load_image(args.image) if args.image else None, **length, **redraw, **identity)
    check_stream_fits(pipe, streaming, getattr(stream, "height", None), getattr(stream, "width", None))  # nothing ran yet
    settings = dict(_stream_settings(args, pipe, stream, args.prompt), video=args.video, **identity)
    return _write_stream(stream, out, latents_path, settings)


def _identity(args, limits) -> dict:
    """--identity as a stream's or an extension's keyword argument (``{"identity": path}``; {} for a model that takes none),
    checked before the model loads (`vidlong.identity.stream_identity`)."""
    from .identity import stream_identity

    stream_identity(args.identity, limits.identity)
    return {} if args.identity is None else {"identity": args.identity}


def _streams_control_video(args, folder: Path) -> bool:
    """Whether the command streams or extends a Cosmos-Transfer2.5 folder: its call's chunks over a control video
    (`vidlong.families.cosmos_transfer_stream`), refused in one line without one (`_check_control_stream`,
    `_run_control_extend`)."""
    from .validate import limits_for_folder

    return args.command in ("stream", "extend") and limits_for_folder(folder, **_given(args)).control == "transfer"


#: `vidlong stream` options a Cosmos-Transfer2.5 stream does not take (flag: args name): its chunks are its call's, as
#: long as its control video
CONTROL_STREAM_DROPS = {"--image": "image", "--video": "video", "--strength": "strength", "--seconds": "seconds",
                        "--forever": "forever", "--cut-on-switch": "cut_on_switch", "--no-recache": "no_recache",
                        "--save-latents": "save_latents", **CHUNKED_OPTIONS}


def _check_control_stream(args, limits) -> None:
    """A Cosmos-Transfer2.5 stream's arguments before any model loads: a control video (readable, of 5 frames at least,
    the model's size), one prompt, no --guidance-2 (one transformer) and nothing of a chunked stream's
    (`CONTROL_STREAM_DROPS`, --method fifo)."""
    from .control_video import check_control_stream_prompt, control_stream_shape

    if args.control_video is None:
        raise VidlongError("a Cosmos-Transfer2.5 model streams the chunks of a control video: pass --control-video "
                           "(the stream is as long as it)")
    _refuse_given(args, CONTROL_STREAM_DROPS, "a Cosmos-Transfer2.5 stream is its call's chunks over --control-video, as "
                                              "long as it (--chunks N: its first N chunks)")
    check_control_stream_prompt(args.prompt)
    control_stream_shape(args.control_video, limits, args.height, args.width, args.guidance_2)


def _refuse_given(args, drops: dict, what: str) -> None:
    """One line ``{what}: drop FLAG`` for the first of `drops` (flag: args name) or --method fifo that `args` gives."""
    given = [flag for flag, name in drops.items() if getattr(args, name, None) not in (None, False)]
    if args.method == "fifo":
        given.insert(0, "--method fifo")
    if given:
        raise VidlongError(f"{what}: drop {given[0]}")


#: `vidlong extend` options a Cosmos-Transfer2.5 extension does not take (flag: args name): its chunks are its call's, over
#: the control video past its input's frames
CONTROL_EXTEND_DROPS = {"--latents": "latents", "--save-latents": "save_latents", "--forever": "forever",
                        "--cut-on-switch": "cut_on_switch", "--no-recache": "no_recache", **CHUNKED_OPTIONS}


def _run_control_extend(args, streaming, folder: Path, limits, out: Path) -> int:
    """`vidlong extend --video --control-video` of a Cosmos-Transfer2.5 folder: --video's frames, then its call's chunks over
    the control frames past them, each written as it is made; refused in one line before loading: no --control-video or
    --video, an option of a chunked stream or saved latents (`CONTROL_EXTEND_DROPS`, --method fifo), a prompt schedule,
    --guidance-2, a control video too short for --video and --seconds (`control_extension_shape`) and one at another frame
    rate than --video's (`control_extension_fps`)."""
    from .control_video import check_control_stream_prompt, control_extension_fps, control_extension_shape

    if args.control_video is None:
        raise VidlongError("a Cosmos-Transfer2.5 model continues a video along a control video covering it, then its "
                           "continuation: pass --control-video")
    _refuse_given(args, CONTROL_EXTEND_DROPS, "a Cosmos-Transfer2.5 extension is its call's chunks over --control-video past "
                                              "--video's frames (--seconds S: S seconds of them; none: to its end)")
    frames, _, prompt, fps = _extension_input(args, folder, limits.spec, streaming)
    check_control_stream_prompt(prompt)
    fps = control_extension_fps(args.control_video, fps, limits.spec.fps)
    seconds = args.seconds or None  # none, or 0: to the control video's end
    control_extension_shape(args.control_video, limits, frames, fps, seconds, args.guidance_2)
    pipe = _load_pipeline(args, folder, args.device, streams=True)
    stream = pipe.extend(prompt, video=frames, control_video=args.control_video, seconds=seconds, chunks=args.chunks, fps=fps,
                         streaming=streaming, guidance=args.guidance, seed=args.seed, negative_prompt=args.negative_prompt)
    settings = dict(_stream_settings(args, pipe, stream, prompt), video=args.video, control_video=args.control_video,
                    input_frames=len(frames))
    return _write_stream(stream, out, None, settings)


def _run_control_stream(args, streaming, folder: Path, limits, out: Path) -> int:
    """`vidlong stream --control-video` of a Cosmos-Transfer2.5 folder: each chunk of its call written as it is made."""
    _check_control_stream(args, limits)
    _note_variable_frame_rate(args, limits)
    pipe = _load_pipeline(args, folder, args.device, streams=True)
    stream = pipe.stream(args.prompt, streaming=streaming, control_video=args.control_video, chunks=args.chunks,
                         guidance=args.guidance, seed=args.seed, height=args.height, width=args.width,
                         negative_prompt=args.negative_prompt)
    settings = dict(_stream_settings(args, pipe, stream, args.prompt), control_video=args.control_video)
    return _write_stream(stream, out, None, settings)


def _redraw_length(args, streaming, limits) -> dict:
    """The chunks keyword of a stream redrawing or editing --video (written at the file's frame rate: `RedrawStreamer.fps`),
    after the checks that need no model: a model that redraws or edits, no --image, --method fifo or --seconds, the strength
    (none for an edit), a readable video."""
    from .methods import WINDOW_CONTEXTS
    from .schedulers.causal import causal_levels
    from .validate import resolve_context, uses_causal_sampler
    from .video_to_video import (DEFAULT_STRENGTH, check_edit_strength, check_stream_redraws, check_strength,
                                 stream_redraw_chunks)

    check_stream_redraws(limits)
    for flag, given in (("--image", args.image), ("--method fifo", args.method == "fifo"),
                        ("--seconds", args.seconds is not None), ("--forever", args.forever)):
        if given:
            raise VidlongError(f"a stream redrawing or editing --video is chunked and as long as the video (--chunks N: its "
                               f"first N chunks): drop {flag}")
    spec = limits.spec
    causal = uses_causal_sampler(streaming, spec, resolve_context(streaming, limits) in WINDOW_CONTEXTS)
    steps = len(causal_levels(streaming, spec)) if causal else streaming.steps or spec.num_inference_steps  # as the stream steps
    if limits.edits:
        check_edit_strength(args.strength)
    else:
        check_strength(DEFAULT_STRENGTH if args.strength is None else args.strength, steps)
    whole = stream_redraw_chunks(limits.spec, streaming, args.video)
    chunks = whole if args.chunks is None else min(args.chunks, whole)
    return dict(chunks=chunks, seconds=None)


def _extension_input(args, folder: Path, spec, streaming):
    """(the video's `VideoFileFrames` or None, latents or None, prompt, fps or None), each checked against the model's
    configs before any weights load."""
    from .attention.adapters import family_of_class
    from .extend import (check_extension_source, check_latents_decoding, check_latents_for_model, check_video_for_model,
                         check_video_matches_latents, decoded_chunk, fewest_input_frames, input_video_file, load_latents)
    from .models import folder_configs, folder_geometry
    from .scalars import is_real

    check_extension_source(args.video, args.latents)
    geometry = folder_geometry(folder)
    family = family_of_class(folder_configs(folder)[1].get("_class_name")) or "wan"
    chunk = decoded_chunk(family, spec)
    frames = fps = latents = None
    prompt, meta = args.prompt, {}
    if args.latents is not None:
        latents, meta = load_latents(args.latents)
        check_latents_for_model(latents, geometry, made_by=meta.get("model"))
        check_latents_decoding(meta.get("decoded_chunk", chunk), chunk, meta.get("model"))  # files before it: unchecked
        fps = meta.get("fps")
        if fps is not None and not (is_real(fps) and fps > 0):
            raise VidlongError(f"--latents {args.latents} records a frame rate of {fps!r}; its file is not as save_latents "
                               "wrote it: make it again with --save-latents")
    if args.video is not None:
        frames = input_video_file(args.video, spec, streaming, family)
        fps = frames.fps
        check_video_for_model(frames, geometry, fewest_input_frames(family, spec))
        if latents is not None:
            check_video_matches_latents(frames, latents, geometry, meta, chunk=chunk)
        sidecar = Path(args.video).with_suffix(".json")
        if not prompt and sidecar.is_file():
            prompt = _prompt_at_end(_settings_file(sidecar))
    prompt = prompt or _prompt_at_end(meta)
    if not prompt:
        raise VidlongError("extend needs --prompt (the input has no .json sidecar or latents file naming one)")
    return frames, latents, prompt, fps


def _note_frame_rate(fps: Optional[float], limits, video: Optional[str]) -> None:
    """A note on stderr when an input's frame rate is more than 10% off the model's: the new frames are
    made at the model's pace and shown at the input's (one file has one rate); with the ffmpeg line that converts
    `video` (the input file; None for saved latents alone). None for a model whose extensions are made at the input's rate
    (`FamilyAdapter.makes_sound`: LTX-2's and Kandinsky 6's calls take the rate)."""
    from .attention.adapters import adapter_named

    spec = limits.spec
    if adapter_named(limits.family).makes_sound:
        return
    if fps and abs(fps - spec.fps) > 0.1 * spec.fps:
        converted = Path(video).with_name(f"{Path(video).stem}_{spec.fps:g}fps.mp4") if video else None
        convert = (f" To match, convert the input first: ffmpeg -i {shlex.quote(video)} -r {spec.fps:g} "
                   f"{shlex.quote(str(converted))}" if video else "")
        print(f"vidlong: note: the input runs at {fps:g} fps and {spec.name} makes motion for {spec.fps:g} fps; the new "
              f"frames play at {fps:g} fps ({fps / spec.fps:.2g}x its pace).{convert}", file=sys.stderr)


#: frames further apart somewhere than this many times their usual (median) interval, or closer than its inverse, mark a
#: variable frame rate worth a note (a phone's timestamps jitter by a few percent; a dropped or held frame is 2x)
UNEVEN_FRAME_INTERVALS = 1.25


def _note_variable_frame_rate(args, limits) -> None:
    """A note on stderr for each input video whose frames are unevenly spaced in time (a variable-frame-rate file: phones,
    screen recordings): vidlong takes its frames as they are stored and writes them at one constant rate, so their timing
    changes. Read from the files' timestamps (nothing decoded). The conversion it gives is to the model's frame rate, or
    to the file's average rate for a model that makes its video at its input's (`FamilyAdapter.makes_sound`: LTX-2, Kandinsky 6)."""
    import numpy as np

    from .attention.adapters import adapter_named
    from .video_io import frame_intervals

    for flag in INPUT_FLAGS:
        path = getattr(args, flag, None)
        if not flag.endswith("video") or not isinstance(path, str) or not path:
            continue
        intervals = frame_intervals(path)
        usual = float(np.median(intervals)) if len(intervals) else 0.0
        spread = (intervals.min() / usual, intervals.max() / usual) if usual > 0 else (1.0, 1.0)
        if not 1 / UNEVEN_FRAME_INTERVALS <= spread[0] <= spread[1] <= UNEVEN_FRAME_INTERVALS:
            rate = round(1 / float(np.mean(intervals)), 3) if adapter_named(limits.family).makes_sound else limits.spec.fps
            print(f"vidlong: note: --{flag.replace('_', '-')} {path} has a variable frame rate (its frames "
                  f"{intervals.min() * 1000:.0f}-{intervals.max() * 1000:.0f} ms apart); its frames are taken as stored and "
                  "written at one constant rate (their average), which changes their timing. "
                  f"To keep it, convert it to a constant rate first: ffmpeg -i {shlex.quote(path)} -fps_mode cfr "
                  f"-r {rate:g} {shlex.quote(str(Path(path).with_name(Path(path).stem + '_cfr.mp4')))}", file=sys.stderr)


def _note_sound(video: Optional[str], limits) -> None:
    """A note on stderr when the input video has a sound track: a model that makes video alone writes the extension with
    none; one that makes sound (`FamilyAdapter.makes_sound`: LTX-2, Kandinsky 6) keeps it for the input's part, and its new
    sound continues it where its audio VAE encodes it into the context (`FamilyAdapter.continues_sound`: Kandinsky 6), else
    not (LTX-2)."""
    from .attention.adapters import adapter_named
    from .video_io import has_sound

    if video is None or not has_sound(video):
        return
    adapter = adapter_named(limits.family)
    if adapter.continues_sound:
        print(f"vidlong: note: {video}'s sound track is kept for its frames, and its sound at the context's frames is encoded "
              f"by {limits.spec.name}'s audio VAE into the context, so the new sound continues it", file=sys.stderr)
    elif adapter.makes_sound:
        print(f"vidlong: note: {video}'s sound track is kept for its frames; the new sound is made with the new frames and "
              f"does not continue it ({limits.spec.name}'s audio VAE is not given the input's sound)", file=sys.stderr)
    else:
        print(f"vidlong: note: {video} has a sound track, which the extension leaves out: {limits.spec.name} makes video "
              "alone, so the output is silent", file=sys.stderr)


def _prompt_at_end(settings: dict) -> Optional[str]:
    """The prompt in force at the end of the video `settings` (a .json sidecar's, or a latents file's metadata) describe,
    so a continuation goes on with it rather than restarting the schedule: a stream's schedule's at its last chunk, a
    timeline's in seconds at its last frame's second, else its prompt; None if they name none."""
    from .scalars import is_real
    from .schedulers.stream import one_prompt_text, parse_prompt_schedule, prompt_at
    from .schedulers.timeline import parse_prompt_timeline

    text = settings.get("prompt") if isinstance(settings, dict) else None
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        timeline = parse_prompt_timeline(text)
    except VidlongError:
        timeline = [(0.0, text)]
    if len(timeline) == 1:  # one prompt, or a stream's schedule, in chunks (which a timeline reads as one prompt)
        schedule = parse_prompt_schedule(text)
        chunks = settings.get("chunks")
        return one_prompt_text(prompt_at(schedule, chunks - 1 if isinstance(chunks, int) and chunks > 0 else schedule[-1][0]))
    frames, fps = settings.get("pixel_frames"), settings.get("fps")
    last = (frames - 1) / fps if isinstance(frames, int) and frames > 0 and is_real(fps) and fps > 0 else float("inf")
    return one_prompt_text(prompt_at(timeline, last))  # the second of its last frame, read again as that one prompt


def _settings_file(path: Path) -> dict:
    """The settings a .json sidecar holds ({} for a file that is no JSON object)."""
    try:
        settings = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def _run_extend(args) -> int:
    from .extend import extension_context
    from .fifo_stream import chunk_layout
    from .schedulers.stream import stream_chunk_count
    from .validate import check_second_expert, limits_for_folder

    out, latents_path = _check_outputs(args)
    streaming = _streaming_config(args)
    folder = _check_model(args)
    limits = limits_for_folder(folder, **_given(args))
    identity = _identity(args, limits)  # before the input is read
    if _streams_control_video(args, folder):
        return _run_control_extend(args, streaming, folder, limits, out)
    if args.control_video is not None:
        raise VidlongError("an extension follows a --control-video with Cosmos-Transfer2.5 alone (its call's chunks); other "
                           "models continue a video without one: drop --control-video")
    _check_stream_settings(args, streaming, limits)
    check_second_expert(args.guidance_2, limits)
    extension_context(limits.spec, streaming, limits.family)
    frames, latents, prompt, fps = _extension_input(args, folder, limits.spec, streaming)
    _note_frame_rate(fps, limits, args.video)
    _note_variable_frame_rate(args, limits)
    _note_sound(args.video, limits)
    _check_prompts(prompt, stream_chunk_count(limits, chunk_layout(streaming), **_length(args), input_fps=fps or limits.spec.fps))
    pipe = _load_pipeline(args, folder, args.device, streams=True)
    from .estimate import check_stream_fits

    check_stream_fits(pipe, streaming, *(frames.shape[1:3] if frames is not None else
                              (side * pipe.geometry().spatial for side in latents.shape[-2:])))  # before the input is encoded
    stream = pipe.extend(prompt, video=frames, latents=latents, streaming=streaming, guidance=args.guidance, fps=fps,
                         guidance_2=args.guidance_2, seed=args.seed, negative_prompt=args.negative_prompt, **_length(args),
                         **identity)
    settings = dict(_stream_settings(args, pipe, stream, prompt), video=args.video, input_latents=args.latents,
                    input_frames=None if frames is None else int(len(frames)), **identity)
    return _write_stream(stream, out, latents_path, settings)


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="what vidlong does with a model folder (nothing loaded)",
                       description="Print a model folder's pipeline, its native window and defaults, and which commands and "
                                   "inputs it takes (each no with the one line the command would refuse with), from its "
                                   "configs alone.")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print it as JSON")
    p.set_defaults(run=_run_info)


def _run_info(args) -> int:
    from .info import info_lines, model_info

    info = model_info(args.model)
    print(json.dumps(info, indent=2) if args.json else "\n".join(info_lines(info)))
    return 0


def _add_convert(sub) -> None:
    p = sub.add_parser("convert", help="turn a Self-Forcing / CausVid / LongLive checkpoint into a diffusers folder",
                       description="Convert a published block-causal checkpoint of Wan2.1-T2V-1.3B (its original key "
                                   "layout) into a diffusers pipeline folder with a vidlong.yaml of its sampler and "
                                   "streaming settings; the other components come from --base.")
    p.add_argument("--source", required=True, choices=["self-forcing", "causvid", "longlive"])
    p.add_argument("--checkpoint", type=user_path, required=True,
                   help="the .pt file (self_forcing_dmd.pt, CausVid's model.pt, longlive_base.pt)")
    p.add_argument("--lora", type=user_path, default=None, help="LongLive's lora.pt (merged into the weights)")
    p.add_argument("--base", type=user_path, required=True,
                   help="a local diffusers Wan2.1-T2V-1.3B folder (text encoder, VAE, scheduler)")
    p.add_argument("--out", type=user_path, required=True, help="the new pipeline folder")
    p.add_argument("--weights", default=None,
                   help="the checkpoint's entry of weights (default: generator_ema for self-forcing, else generator)")
    p.add_argument("--lora-scale", type=float, default=1.0, help="LoRA alpha / rank (LongLive: 256 / 256 = 1)")
    p.add_argument("--copy", action="store_true", help="copy the base's components instead of linking them")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.set_defaults(run=_run_convert)


def _run_convert(args) -> int:
    from .convert import convert
    from .validate import check_finite

    check_finite("--lora-scale", args.lora_scale)
    out = convert(args.source, Path(args.checkpoint), Path(args.base), Path(args.out), lora=None if args.lora is None else Path(args.lora),
                  weights=args.weights, lora_scale=args.lora_scale, copy=args.copy, overwrite=args.overwrite)
    print(f"wrote {out}: stream it with `vidlong stream --model {out} --prompt ...`")
    return 0


class OneLineErrors(argparse.ArgumentParser):
    """argparse with its errors on one line (the command's name, the error, where the usage is) and exit code 2, as
    vidlong's own errors; its subcommands' parsers are of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        """As argparse's, but a flag this parser does not know is its error (a subcommand's names the subcommand's help,
        where argparse would leave it to the top parser's), and comes before a missing argument's."""
        args = sys.argv[1:] if args is None else list(args)
        unknown = self._unknown_flags(args)
        if unknown:
            self.error(f"unrecognized arguments: {' '.join(unknown)}")
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def _unknown_flags(self, args: list) -> list:
        """The ``--flags`` of `args` that name none of this parser's options (nor abbreviate one), up to its subcommand."""
        known = [flag for action in self._actions for flag in action.option_strings]
        unknown = []
        for token in args:
            if token == "--" or (self._subparsers is not None and not token.startswith("-")):
                break  # the rest is positional, or the subcommand's to read
            if " " in token:  # argparse reads a token with a space as a value ("--a fox in snow" as a prompt)
                continue
            name = token.split("=", 1)[0]
            if name.startswith("--") and not any(flag.startswith(name) for flag in known):
                unknown.append(token)
        return unknown


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = OneLineErrors(prog="vidlong", description="Long and streaming video from diffusers video transformers, training-free.")
    parser.add_argument("--version", action="version", version=f"vidlong {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_generate(sub)
    _add_stream(sub)
    _add_extend(sub)
    _add_convert(sub)
    _add_info(sub)
    from .apps.cli import add_app_parser

    add_app_parser(sub)
    from .eval.cli import add_eval_parser

    add_eval_parser(sub)
    return parser


def main(argv=None) -> int:
    """Entry point: user errors print one line and exit 2; Ctrl-C exits 130; no tracebacks unless VIDLONG_DEBUG=1."""
    from .errors import flag_names
    from .interrupts import interrupt_handling

    args = build_parser().parse_args(argv)
    try:
        with interrupt_handling(), flag_names(), contextlib.ExitStack() as args.held:  # what a run holds to its end
            return args.run(args)
    except VidlongError as err:
        print(f"vidlong: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vidlong: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # what reads its output went away (`vidlong info | head -3`): it ends quietly, as such a writer does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush of stdout would fail again
        return 141
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
        if os.environ.get("VIDLONG_DEBUG"):
            raise
        first = (str(err).strip().splitlines() or [""])[0]
        print(f"vidlong: error: {type(err).__name__}: {first} (set VIDLONG_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
