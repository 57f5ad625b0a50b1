"""What vidlong does with a model folder, read from its JSON configs alone (no weights loaded): `vidlong info --model`.

Each capability is asked of the same checks the commands run before loading (`vidlong.validate`), so a "no" carries the
one line a command would refuse with, and a "yes" is what the command would start.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .errors import VidlongError, flag_names


def _answer(check: Callable[[], object]) -> dict:
    """``{"yes": True}`` where `check` passes, else ``{"yes": False, "why": its one-line refusal}`` (flags named as the CLI
    names them)."""
    try:
        with flag_names():
            check()
    except VidlongError as err:
        return {"yes": False, "why": str(err)}
    return {"yes": True}


def model_info(path) -> dict:
    """A checked model folder's pipeline, spec (with the most latent frames one call places in its RoPE table, None for no
    table) and capabilities (JSON-ready): `generate` with vidlong's attention methods,
    ``fifo`` (diagonal denoising), ``stream``, ``extend``, an ``image`` (first frame), a ``last_image``, a ``prompt_timeline``,
    ``redraw`` (``generate --video`` at a strength), ``stream_redraw`` (``stream --video``), a ``control_video`` (Wan VACE,
    CogVideoX-Fun), ``driving_videos`` (Wan Animate's pose and face videos), ``upsample`` (``generate --upsample`` with
    the folder's own latent upsampler, `vidlong.validate.check_upsample`: LTX-Video's and LTX-2's) and ``refine``
    (``generate --upsample --refine``: that, then stage 2 at the new size, `vidlong.validate.check_refine`: their text- and
    image-to-video pipelines and LTX-Video's condition pipeline; Sana-WM's ``generate --refine``, its refiner's folder
    beside the model folder or in it, then under ``"refiner"``; any other folder: ``generate --refine``'s line, neither
    stage 2 being there); each ``{"yes": bool}``,
    with ``"why"`` (the command's own refusal) where it is no. ``continues_video``: whether ``generate --video`` continues
    the video (its frames, then new ones: SkyReels-V2 DF video to video, Cosmos-Predict2.5's Video2World, Cosmos 3's video to
    video) rather than redrawing it; ``edits_video``: whether
    it edits the video by the prompt, every step and no strength (Lucy Edit), its ``redraw`` and ``stream_redraw`` then that
    edit (in one call, chunk by chunk); a video-to-video folder's ``generate`` always takes one. ``edits_image``: whether ``generate
    --image`` edits the image by the prompt, the edit its video's last frame, written as ``OUT.edited.png`` beside the mp4
    (ChronoEdit: `ModelLimits.edits_image`). ``identity``: where every command needs
    ``--identity`` (ConsisID with ``is_train_face``), what its file holds (`vidlong.identity.FaceInputs.described`), else
    None. ``camera``: where generate takes ``--camera`` (Sana-WM: `vidlong.camera.CAMERA_PIPELINES`), what it is and its
    default (`vidlong.camera.CAMERA_LINE`), else None. ``control``: the kind of control video its call takes
    (`vidlong.control_video.CONTROL_PIPELINES`), else None; a line says what ``--control-video`` is to it
    (`vidlong.control_video.CONTROL_VIDEO_ROLES`). ``control_twin``: the pipeline a control video loads it as
    (`vidlong.models.control_video_twin`: an LTX-2 folder's in-context pipeline, with an IC-LoRA: its ``control_video``
    answer without ``--lora``, `vidlong.control_video.CONTROL_TWIN_ROLE` its line), else None. ``needs``: where a package
    is not installed here that its pipeline builds a part with as it loads (Cosmos's guardrail) or its forward calls
    (Cosmos's torchvision), the line every other command refuses it with before loading, else None; the answers are then
    those of a machine with it (`vidlong.models.folder_package_refusal`). ``temporal_upsampler``: an LTX-2.5 folder's own
    temporal latent upsampler (its ``temporal_latent_upsampler/``, a LoRA link's base's), which ``generate --temporal-refine``
    takes (`vidlong.families.ltx2_temporal`), else None."""
    from .models import check_model_folder

    folder = check_model_folder(path, packages=False)  # before the imports that bring diffusers: a wrong path at once
    from .animate import check_takes_driving_videos
    from .attention.adapters import adapter_named
    from .camera import CAMERA_LINE, CAMERA_PIPELINES
    from .control_video import check_takes_control_video
    from .families.ltx2_temporal import UPSAMPLER_SUBFOLDER
    from .families.sana_wm_refiner import refiner_folder
    from .generate import GenerateRequest, check_task
    from .methods import WINDOW_CONTEXTS, Streaming, model_streaming
    from .models import (PIPELINE_CLASSES, control_video_twin, folder_class_name, folder_package_refusal, pipeline_facts,
                         pipeline_task, spec_for_folder)
    from .validate import (check_control_twin, check_diagonal, check_folder_guider, check_image_codec, check_last_image,
                           check_prompt_timeline, check_refine, check_streamable, fewest_frames_extended, limits_for_folder,
                           DFR_PIPELINES, REFINE_PIPELINES, SEPARATE_REFINER_PIPELINES, own_upsampler,
                           check_upsample, longest_latent_frames, resolve_context, shown_first_chunk, uses_causal_sampler)
    from .video_to_video import check_redraws, check_stream_redraws

    spec, facts, limits = spec_for_folder(folder), pipeline_facts(folder), limits_for_folder(folder)
    temporal = own_upsampler(folder, UPSAMPLER_SUBFOLDER) if limits.pipeline in DFR_PIPELINES else None
    adapter, class_name = adapter_named(facts["family"]), folder_class_name(folder)
    context = resolve_context(Streaming(), limits)

    def takes_image() -> None:
        check_task(pipeline_task(folder, image=True), True, fewest_frames_extended(limits))
        check_image_codec(limits, True)

    def stream(video: bool = False, extension: bool = False) -> None:
        if limits.control == "transfer" and not video:  # its call's chunks (stream and extend --control-video)
            return
        check_streamable(limits, context, video=video, extension=extension)
        check_folder_guider(folder)
        uses_causal_sampler(Streaming(), spec, context in WINDOW_CONTEXTS)

    def last_image() -> None:
        if limits.task == "t2v" and limits.last_frame != "no":  # alone, as its call takes it (LTX-2's condition, in-context)
            check_last_image(limits, True, False)
            check_image_codec(limits, True, "last_image")
            return
        check_last_image(limits_for_folder(folder, image=True), True, False)
        takes_image()

    def refine() -> None:  # a model without either stage 2 by --refine's own line, else LTX's upsampler before its stage 2
        upsample = None if limits.pipeline in SEPARATE_REFINER_PIPELINES else True
        if limits.pipeline in (*REFINE_PIPELINES, *SEPARATE_REFINER_PIPELINES):
            check_upsample(upsample, limits)
        check_refine(GenerateRequest(prompt="", upsample=upsample, refine=True), limits)

    def control_video() -> None:
        check_takes_control_video(limits_for_folder(folder, control=True))
        if control_video_twin(folder):  # as `vidlong generate --control-video` asks, without --lora
            check_control_twin(folder)

    can_stream = _answer(stream)
    chunked = can_stream["yes"] and limits.control != "transfer"  # a chunked stream's settings (not its call's chunks)
    can = dict(
        generate={"yes": True},
        fifo=_answer(lambda: check_diagonal(limits, video=limits.task == "v2v")),
        stream=can_stream,
        extend=_answer(lambda: stream(extension=True)),
        image=_answer(takes_image),
        last_image=_answer(last_image),
        prompt_timeline=_answer(lambda: check_prompt_timeline(limits)),
        redraw=_answer(lambda: check_redraws(limits_for_folder(folder, video=True))),
        stream_redraw=_answer(lambda: (stream(video=True), check_stream_redraws(limits))),
        control_video=_answer(control_video),
        driving_videos=_answer(lambda: check_takes_driving_videos(limits)),
        upsample=_answer(lambda: check_upsample(True, limits)),
        refine=_answer(refine),
    )
    streams = chunked or can["stream_redraw"]["yes"]  # a stream of vidlong's own chunks (not its call's)
    if can["refine"]["yes"] and limits.pipeline in SEPARATE_REFINER_PIPELINES:  # where its refiner is (Sana-WM's)
        can["refine"]["refiner"] = str(refiner_folder(True, limits))
    return dict(
        folder=str(Path(folder)), pipeline=class_name,
        vidlong_pipeline=PIPELINE_CLASSES.get(class_name.removeprefix("VidLong"), "").rpartition(":")[2] or class_name,
        task=limits.task, continues_video=limits_for_folder(folder, video=True).continues, edits_video=limits.edits,
        edits_image=limits.edits_image,
        control=limits.control, control_twin=control_video_twin(folder), family=facts["family"],
        identity=None if limits.identity is None else limits.identity.described(),
        camera=CAMERA_LINE if class_name.removeprefix("VidLong") in CAMERA_PIPELINES else None,
        transformer=adapter.transformer_class, experts=limits.experts,
        spec=dict(name=spec.name, native_latent_frames=spec.native_frames, native_pixel_frames=spec.native_pixel_frames,
                  fps=spec.fps, height=spec.height, width=spec.width, steps=spec.num_inference_steps,
                  guidance=spec.guidance_scale,
                  stream_context=(adapter.own_stream_context or context) if streams else None,
                  stream_chunk=model_streaming(spec).chunk if streams else None,
                  stream_first_chunk=spec.stream_first_chunk if streams else None,
                  stream_sampler=causal_sampler(spec) if streams else None,
                  longest_latent_frames=longest_latent_frames(limits), dropped_frames=limits.dropped_frames,
                  fewest_first_chunk=shown_first_chunk(limits)),
        can=can, needs=folder_package_refusal(folder), temporal_upsampler=None if temporal is None else str(temporal))


def causal_sampler(spec) -> dict | None:
    """A stream's causal sampler where the model's `vidlong.yaml` names it (`stream_sampler: causal`): its noise levels and
    guidance a chunk (``{"levels": [...], "guidance": g}``); None: the scheduler's steps at the spec's guidance."""
    if spec.stream_sampler != "causal":
        return None
    from .methods import model_streaming
    from .schedulers.causal import causal_levels

    guidance = spec.stream_guidance if spec.stream_guidance is not None else 1.0  # as `StreamSampling.resolve`
    return dict(levels=list(causal_levels(model_streaming(spec), spec)), guidance=guidance)


def info_lines(info: dict) -> list[str]:
    """`model_info` as lines for a person."""
    from .control_video import CONTROL_TWIN_ROLE, CONTROL_VIDEO_ROLES

    spec = info["spec"]
    continues = {"continues_video": " (generate --video continues it: its frames, then new ones)",
                 "edits_video": " (generate --video edits it by the prompt: every step, no strength; stream --video, chunk "
                                "by chunk)",
                 "edits_image": " (generate --image edits the image by the prompt: its video runs from the image to the edit, "
                                "which is its last frame, written as OUT.edited.png beside OUT.mp4)"}
    continues = next((said for key, said in continues.items() if info[key]), "")
    lines = [f"{info['folder']}: {info['pipeline']} (vidlong's {info['vidlong_pipeline']}), task {info['task']}{continues}, "
             f"family {info['family']} ({info['transformer']}{', 2 experts' if info['experts'] == 2 else ''})",
             f"spec {spec['name']}: native {spec['native_latent_frames']} latent frames = {spec['native_pixel_frames']} frames "
             f"at {spec['fps']} fps, {spec['width']}x{spec['height']} (width x height), {spec['steps']} steps, "
             f"guidance {spec['guidance']:g}"
             + (f"; streams with the {spec['stream_context']} context, {spec['stream_chunk']} latent frames a chunk by default"
                + (f" (its first {first})" if (first := spec["stream_first_chunk"]) not in (None, spec["stream_chunk"]) else "")
                + (f", by its causal sampler: {len(sampler['levels'])} levels a chunk at guidance {sampler['guidance']:g}"
                   if (sampler := spec["stream_sampler"]) else "")
                if spec["stream_context"] else "")
             + (f"; its call drops a video's first {spec['dropped_frames']} frames (a stream's first chunk too, which so "
                f"takes {spec['fewest_first_chunk']} latent frames or more; no saved latents)" if spec["dropped_frames"] else ""),
             (f"one forward of the transformer places at most {spec['longest_latent_frames']} latent frames "
              f"({spec['longest_latent_frames'] / spec['native_latent_frames']:.3g}x native: its RoPE table)"
              if spec["longest_latent_frames"] else "one forward of the transformer places any number of latent frames "
              "(no RoPE table bounds it)")
             + ("; a stream, any length" if spec["stream_context"] else "")]
    if info["control"]:
        lines.append(CONTROL_VIDEO_ROLES[info["control"]])
    if info["control_twin"]:
        lines.append(CONTROL_TWIN_ROLE)
    if info["identity"]:
        lines.append(f"needs --identity face_id.pt (generate, stream and extend): {info['identity']}, as ConsisID's "
                     "process_face_embeddings_infer returns them (how to save it: vidlong.identity)")
    if info["camera"]:
        lines.append(info["camera"])
    for name, answer in info["can"].items():
        lines.append(f"  {name.replace('_', ' ')}: " + ("yes" if answer["yes"] else f"no ({answer['why']})")
                     + (f" (its refiner {answer['refiner']}, at the same size; vidlong's methods act on stage 1 alone)"
                        if "refiner" in answer else ""))
    if info["temporal_upsampler"]:
        lines.append(f"its temporal latent upsampler {info['temporal_upsampler']}: LTX-2.5's temporal refine rounds after the DFR "
                     f"pass, each doubling the frames and the frame rate (vidlong generate --model {info['folder']} "
                     f"--temporal-refine {info['temporal_upsampler']} [--temporal-rounds 1|2])")
    if info["needs"]:
        lines.append(f"generating here (generate, stream, extend, the app) needs a package that is not installed: {info['needs']}")
    return lines
