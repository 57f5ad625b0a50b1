"""`vidlong app`: serve the Gradio app (wired into `vidlong.cli.build_parser` by `add_app_parser`)."""
from __future__ import annotations

import argparse

from vidlong.errors import VidlongError
from vidlong.validate import DTYPE_NAMES


def add_app_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `app` subcommand to `subparsers` (the result of ``parser.add_subparsers()``)."""
    p = subparsers.add_parser("app", help="serve the Gradio app in the browser",
                              description="Serve a web page (Gradio) for generating and streaming long videos; also an API "
                                          "at /generate and /stream.")
    from vidlong.cli import MODEL_HELP, add_lora_options, user_path

    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--share", action="store_true", help="also make a public gradio.live link (needs the internet)")
    p.add_argument("--device", default=None, help="cpu | cuda (default: cuda when available)")
    p.add_argument("--dtype", default=None, choices=list(DTYPE_NAMES),
                   help="the model's dtype (default: bfloat16 on CUDA, float32 on the CPU; see vidlong stream --help)")
    p.add_argument("--task", default=None, choices=("t2v", "i2v", "control"),
                   help="i2v: load a text-to-video folder whose weights also run image-to-video (LTX-Video, LTX-2, Wan2.2 "
                        "TI2V-5B, SkyReels-V2 diffusion forcing, Kandinsky 6) as its image-to-video pipeline, its page with a "
                        "first-frame field; control: an LTX-2 folder (LTX2Pipeline, LTX2ConditionPipeline) with its IC-LoRA "
                        "(--lora) as LTX-2's in-context pipeline, its page following an uploaded reference video (default: "
                        "the folder's own)")
    p.add_argument("--upsample", type=user_path, default=None, metavar="FOLDER",
                   help="LTX-Video and LTX-2: the latent upsampler the page's \"Upsample 2x\" runs after a video (as vidlong "
                        "generate --upsample FOLDER), where the model folder has no latent_upsampler/ of its own (default: "
                        "its own, the box shown only where there is one); Kandinsky 6: its video super-resolution's folder "
                        "(Kandinsky6SRPipeline), the box \"Upsample 2.25x\" (its call's scale)")
    p.add_argument("--refine", type=user_path, default=None, metavar="FOLDER",
                   help="Sana-WM: the refiner (SanaWMLTX2Refiner) the page's \"Refine\" runs after a video (as vidlong generate "
                        "--refine FOLDER), where it sits neither beside the model folder (<its name>-refiner/) nor inside it "
                        "(refiner/) (default: that one, the box shown only where there is one)")
    p.add_argument("--decoder", type=user_path, default=None, metavar="FOLDER",
                   help="LTX-2 and LTX-2.5: LTX-2.5's diffusion decoder (LTX2VideoDiffusionDecodePipeline) that the page's "
                        "\"Diffusion decoder\" box decodes a video's latents by instead of the VAE (as vidlong generate "
                        "--decoder FOLDER; the box shown only with it; not beside \"Upsample 2x\" or \"Refine\")")
    p.add_argument("--temporal-refine", type=user_path, default=None, metavar="FOLDER",
                   help="LTX-2.5: the temporal latent upsampler whose refine rounds the page's \"Temporal refine\" runs after "
                        "its DFR pass, 1 or 2 (each 2x the frames and the frame rate; as vidlong generate --temporal-refine "
                        "FOLDER --temporal-rounds 1|2; the control shown only with it; not beside \"Diffusion decoder\")")
    add_lora_options(p)
    p.set_defaults(run=run_app)
    return p


def run_app(args) -> int:
    """Serve until Ctrl-C; 0 on a clean stop."""
    if not 0 < args.port < 65536:
        raise VidlongError(f"--port must be in 1..65535, got {args.port}")
    try:
        from vidlong.apps.gradio_app import launch
    except ImportError as err:
        if "gradio" not in str(err):
            raise
        raise VidlongError("the app needs gradio; install it with: pip install 'vidlong[app]'") from None
    from vidlong.cli import lora_files

    launch(model=args.model, host=args.host, port=args.port, share=args.share, device=args.device, dtype=args.dtype, task=args.task,
           loras=lora_files(args), upsample=args.upsample, refine=args.refine, decoder=args.decoder,
           temporal_refine=args.temporal_refine)
    return 0
