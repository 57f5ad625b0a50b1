"""Stage 3: fine-tune the VAE *decoder* on full native-length clips, encoder frozen.

Wan's VAE is causal in time: its receptive field spans more pixel frames than the 9-frame clips
that stage 1 trained on, so frames past the first 9 decode with a history the decoder never saw
(colours drift to grey). Training the decoder on 33-frame clips fixes that. The encoder stays
frozen, so the latents, and with them the transformer trained on them, stay valid.

    python -m training.finetune_decoder --model vidlong/default_model --max-seconds 1800

Runs on the CPU in minutes (the decoder is 3 M parameters), or with ``--device cuda`` on the GPU
(bf16 autocast). Crops of ``--crop`` pixels are encoded
once (posterior means); each step decodes a batch of them with posterior noise and takes the
object-weighted L1 + MSE loss of stage 1. Writes the decoder back into ``--model``/vae (float16,
as the pipeline is saved) and appends its log to ``--model``/train_log.csv.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time

import numpy as np
import torch

from training.components import load_component
from training.shapes_world import make_clips
from training.train import autocast, set_scheduled_lr, to_video_tensor, weighted_reconstruction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help="pipeline folder; its vae/ is rewritten")
    p.add_argument("--seed", type=int, default=3)
    p.add_argument("--clips", type=int, default=192)
    p.add_argument("--frames", type=int, default=33, help="pixel frames per clip (4k+1)")
    p.add_argument("--crop", type=int, default=64, help="square crop in pixels (multiple of 8)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--object-weight", type=float, default=10.0)
    p.add_argument("--max-seconds", type=float, default=1800.0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--device", default="cpu")
    return p.parse_args(argv)


@torch.no_grad()
def encode_crops(vae, frames: np.ndarray, crop: int, gen: torch.Generator, device: torch.device
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random crop per clip uint8 [N, T, H, W, 3] -> (pixels [N, 3, T, c, c] in [-1, 1],
    posterior mean and std [N, z, 1 + (T-1)/4, c/8, c/8]), all float32 on ``device``."""
    pixels, means, stds = [], [], []
    for clip in frames:
        top, left = (int(torch.randint(0, s - crop + 1, (), generator=gen)) for s in clip.shape[1:3])
        x = to_video_tensor(clip[None, :, top:top + crop, left:left + crop], device)
        mean, logvar = vae._encode(x).float().chunk(2, dim=1)
        pixels.append(x)
        means.append(mean)
        stds.append(torch.exp(0.5 * logvar.clamp(-30.0, 20.0)))
    return torch.cat(pixels), torch.cat(means), torch.cat(stds)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    device = torch.device(args.device)
    vae = load_component(args.model, "vae").to(device)
    vae.requires_grad_(False).eval()
    t0 = time.time()
    frames, _ = make_clips(args.seed, 0, args.clips, num_frames=args.frames)
    x_all, mean_all, std_all = encode_crops(vae, frames, args.crop, gen, device)
    print(f"[decoder] {args.clips} clips encoded in {time.time() - t0:.0f}s", flush=True)

    decoder = [vae.post_quant_conv, vae.decoder]
    params = [p for m in decoder for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    log_path = os.path.join(args.model, "train_log.csv")
    rows, t0, step = [], time.time(), 0
    warmup = max(1, min(20, args.steps // 10))
    for step in range(args.steps):
        lr = set_scheduled_lr(opt, "decoder", step, args.steps, args.lr, warmup, t0, args.max_seconds)
        if lr is None:
            break
        idx = torch.randint(0, args.clips, (args.batch,), generator=gen).to(device)
        x = x_all[idx]
        noise = torch.randn(mean_all[idx].shape, generator=gen).to(device)
        with autocast(device):
            rec = vae._decode(mean_all[idx] + std_all[idx] * noise, return_dict=False)[0]
        l1, mse = weighted_reconstruction(rec.float(), x, args.object_weight)
        loss = l1 + mse
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 10 == 0:
            rows.append(("decoder", step, loss.item(), lr, time.time() - t0))
            print(f"[decoder] step {step} loss {loss.item():.4f} l1 {l1.item():.4f} "
                  f"({time.time() - t0:.0f}s)", flush=True)
    vae.requires_grad_(False)
    vae.to("cpu", torch.float16).save_pretrained(os.path.join(args.model, "vae"), safe_serialization=True)
    with open(log_path, "a", newline="") as f:
        csv.writer(f).writerows(rows)
    summary = {"args": {k: v for k, v in vars(args).items() if k != "model"}, "steps_run": step + 1,
               "seconds": time.time() - t0, "final_loss": rows[-1][2] if rows else None}
    print(f"[decoder] done: {json.dumps(summary)}", flush=True)
    return summary


if __name__ == "__main__":
    main()
