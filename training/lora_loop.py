"""The training loop and model folder shared by the trainers that teach the default model a LoRA
(`training.train_causal`, `training.train_fifo`).

The loop: AdamW on the LoRA (warm-up, cosine decay over the steps or the wall-clock cap,
`training.train.set_scheduled_lr`), gradient clip 1, an EMA of the LoRA that the LoRA holds at the end.
The folder: the LoRA in diffusers' format (float16) and a ``vidlong.yaml`` naming its base.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Callable, Optional

import numpy as np
import torch

from training import components as C
from training.causal import LORA_TARGETS, add_lora
from training.train import Log, set_scheduled_lr


#: the ``vidlong.yaml`` lines of a LoRA on the embedded default model that restate its spec (latent frames)
DEFAULT_SPEC = ("native_frames: 9\n"
                "native_pixel_frames: 33\n"
                "fps: 16\n"
                "height: 128\n"
                "width: 128\n"
                "num_inference_steps: 20\n")


def lora_run_parser(description: str, seed: int, seed_note: str) -> argparse.ArgumentParser:
    """The arguments every LoRA trainer on shapes-world clips takes (its own added after): the base folder, the
    output, clip seed `seed` (`seed_note`: which seeds other runs used), the clip pool, the LoRA and the loop."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--base", default="vidlong/default_model", help="the bidirectional pipeline folder to start from")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=seed, help=f"clip seed ({seed_note})")
    p.add_argument("--smoke", action="store_true", help="a few CPU steps on a handful of small clips")
    p.add_argument("--device", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--clips", type=int, default=6144)
    p.add_argument("--rank", type=int, default=64, help="LoRA rank")
    p.add_argument("--lora-init", default=None, help="a trained model folder whose LoRA this run continues")
    p.add_argument("--targets", nargs="+", choices=LORA_TARGETS, default=list(LORA_TARGETS),
                   help="the Linear layers of each block the LoRA adapts (default: all)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="wall-clock cap of the training loop")
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--encode-batch", type=int, default=64)
    return p


def parse_lora_run(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """`parser`'s arguments; with ``--smoke`` a few steps on 4 clips, batch 2, no worker processes."""
    a = parser.parse_args(argv)
    if a.smoke:
        a.clips, a.steps, a.batch, a.encode_batch, a.workers = 4, 3, 2, 2, 0
    return a


def lora_transformer(args, device: torch.device) -> tuple:
    """The transformer of ``args.base`` on `device` with a LoRA of rank ``args.rank`` on the ``args.targets`` Linears
    (`training.causal.add_lora`, continuing ``args.lora_init`` where given): (transformer, LoRA parameters by key)."""
    transformer = C.load_component(args.base, "transformer").to(device)
    lora = add_lora(transformer, args.rank, args.lora_init, args.targets)
    for p in lora.values():
        p.data = p.data.to(device)
    return transformer, lora


def train_lora(lora: dict, args, log: Log, stage: str, batch_loss: Callable[[int], torch.Tensor],
               describe: Optional[Callable[[], str]] = None) -> dict:
    """Train `lora` (parameters by key) for ``args.steps`` steps or ``args.max_seconds``, minimising
    `batch_loss(step)` (a scalar tensor); ``args.lr``, ``args.ema``. Logs every 25 steps (`describe`: more to
    print). Returns the steps run, the mean of the last 8 logged losses and the loop's seconds."""
    params = list(lora.values())
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    ema = {k: p.detach().clone() for k, p in lora.items()}
    t0, recent, step = time.time(), [], 0
    warmup = max(1, min(100, args.steps // 10))
    while step < args.steps:
        lr = set_scheduled_lr(opt, stage, step, args.steps, args.lr, warmup, t0, args.max_seconds)
        if lr is None:
            break
        loss = batch_loss(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            for k, p in lora.items():
                ema[k].mul_(decay).add_(p.detach(), alpha=1 - decay)
        if step % 25 == 0 or step == args.steps - 1:
            recent.append(loss.item())
            log.row(stage, step, recent[-1], lr)
            more = f" {describe()}" if describe else ""
            print(f"[{stage}] step {step} loss {recent[-1]:.4f}{more} ({time.time() - t0:.0f}s)", flush=True)
        step += 1
    with torch.no_grad():
        for k, p in lora.items():
            p.copy_(ema[k])
    return {"steps": step, "loss_last_logged": float(np.mean(recent[-8:])), "seconds": time.time() - t0}


def write_lora_folder(folder: str, lora: dict, base_folder: str, name: str, comment: str, settings: str) -> None:
    """The LoRA (diffusers format, float16) and the ``vidlong.yaml`` of the model `name`: a first line
    ``# {name}: {comment}``, its base `base_folder` (by its embedded name when it is an embedded model, else
    by its absolute path), the LoRA file, then `settings` (YAML lines: the spec and sampler settings)."""
    from safetensors.torch import save_file

    from vidlong.models import EMBEDDED_MODELS

    os.makedirs(folder, exist_ok=True)
    save_file({k: v.detach().to("cpu", torch.float16).contiguous() for k, v in lora.items()},
              os.path.join(folder, "pytorch_lora_weights.safetensors"))
    base_folder = os.path.realpath(base_folder)
    base = next((n for n, path in EMBEDDED_MODELS.items() if os.path.realpath(path) == base_folder), base_folder)
    with open(os.path.join(folder, "vidlong.yaml"), "w") as f:
        f.write(f"# {name}: {comment.format(base=base)}\nname: {name}\nbase: {base}\nlora: pytorch_lora_weights.safetensors\n"
                + settings)
