"""Train the block-causal default model: the default model's transformer plus a LoRA, taught to stream.

Each example is 9 latent frames laid out as a stream's attention sees them: ``[sinks | window |
chunk]`` = latent frames ``0-2``, ``j-3 .. j-1`` and ``j .. j+2`` of a 17-latent-frame (65 pixel
frame) shapes-world clip, ``j`` drawn from 6..14 (j = 6 is a plain clip, later j put a temporal gap
between the sinks and the window, as in a long stream), at RoPE positions 0..8.

- Teacher forcing with diffusion forcing (`training.causal`): a clean and a noisy copy in one
  forward; every chunk of 3 latent frames at its own noise level; a noisy chunk sees the clean chunks
  before it, exactly what the rolling KV cache gives it when streaming. Flow-matching loss (target
  noise - x0) on every noisy chunk. Half the noise levels are drawn from the causal sampler's levels.
- Self-rollout (Self-Forcing's idea, with a flow-matching loss instead of its distribution matching):
  for a share of the batch the window chunk is replaced by the model's own sample of it, made with
  the causal sampler given the true sinks (through the same block-causal attention), so the chunk
  after it learns to continue the model's own output. The target stays the true continuation:
  shapes-world motion is fixed by the first frames, so the truth is what a good rollout would lead to.

Only a LoRA on every Linear of the blocks trains (the base stays frozen); it is saved in diffusers'
LoRA format, with a ``vidlong.yaml`` that names the base model and the streaming settings.

    python -m training.train_causal --base vidlong/default_model --out out/causal   # GPU
    python -m training.train_causal --smoke --out /tmp/causal_smoke                # CPU, seconds
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import Optional

import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # allow `python training/train_causal.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training import components as C  # noqa: E402
from training.causal import teacher_forced_prediction  # noqa: E402
from training.data import ClipPool, make_worker_pool  # noqa: E402
from training.lora_loop import (DEFAULT_SPEC, lora_run_parser, lora_transformer, parse_lora_run, train_lora,  # noqa: E402
                                write_lora_folder)
from training.train import Log, autocast, embed_prompts, encode_clips, sample_sigmas, tokenize  # noqa: E402

CHUNK = 3            # latent frames per streamed chunk
LAYOUT_FRAMES = 9    # sinks + window + chunk, the native window
CLIP_PIXEL_FRAMES = 65  # 17 latent frames: room for a window up to 8 frames after the sinks


def parse_args(argv=None):
    p = lora_run_parser(__doc__.split("\n")[0], 5, "the default model's runs used 0-2")
    p.add_argument("--rollout-share", type=float, default=0.5, help="share of the batch whose window is the model's own rollout")
    p.add_argument("--rollout-from", type=float, default=0.3, help="rollouts start after this share of the steps")
    p.add_argument("--timesteps", default="1000,750,500,250", help="causal sampler levels (rollouts and vidlong.yaml)")
    p.add_argument("--shift", type=float, default=2.0, help="causal sampler shift (the base model's flow shift)")
    p.add_argument("--guidance", type=float, default=3.0, help="guidance of the rollouts and vidlong.yaml")
    a = parse_lora_run(p, argv)
    if a.smoke:
        a.rollout_from = 0.0
    return a


def sampler_sigmas(timesteps: list[int], shift: float) -> torch.Tensor:
    """The causal sampler's noise levels (`vidlong.schedulers.causal.CausalSampler`)."""
    s = torch.tensor(timesteps, dtype=torch.float64) / 1000.0
    return (shift * s / (1 + (shift - 1) * s)).float()


def stream_layout(latents: torch.Tensor, starts: torch.Tensor) -> torch.Tensor:
    """``[B, C, 9, h, w]``: frames ``0-2``, ``j-3 .. j+2`` of each clip ``[B, C, T, h, w]`` (j = `starts`)."""
    picks = [torch.cat([clip[:, :CHUNK], clip[:, j - CHUNK: j + CHUNK]], dim=1) for clip, j in zip(latents, starts.tolist())]
    return torch.stack(picks)


def chunk_sigmas(batch: int, levels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``[B, chunks]`` noise levels: half logit-normal/uniform (`sample_sigmas`), half the sampler's levels."""
    chunks = LAYOUT_FRAMES // CHUNK
    drawn = sample_sigmas(batch * chunks, gen).view(batch, chunks)
    level = levels[torch.randint(0, len(levels), (batch, chunks), generator=gen)]
    return torch.where(torch.rand(batch, chunks, generator=gen) < 0.5, drawn, level)


@torch.no_grad()
def rollout_window(transformer, x0: torch.Tensor, text: torch.Tensor, empty: torch.Tensor, levels: torch.Tensor,
                   guidance: float, gen: torch.Generator) -> torch.Tensor:
    """The model's own sample of the window chunk (frames 3-5) given the true sinks, by the causal
    sampler (guided), through the block-causal attention of the sinks and window alone."""
    b = x0.shape[0]
    device = x0.device
    window = slice(CHUNK, 2 * CHUNK)
    context = x0[:, :, : 2 * CHUNK]  # sinks and window: the chunk after them plays no part
    x = torch.randn(context[:, :, window].shape, generator=gen).to(device)
    noisy = context.clone()
    both_text = torch.cat([empty.expand(b, -1, -1), text])
    for i, sigma in enumerate(levels.tolist()):
        noisy[:, :, window] = x
        timesteps = torch.full((b, 2 * CHUNK), sigma * 1000.0, device=device)
        with autocast(device):
            pred = teacher_forced_prediction(transformer, context.repeat(2, 1, 1, 1, 1), noisy.repeat(2, 1, 1, 1, 1),
                                             timesteps.repeat(2, 1), both_text, CHUNK)[:, :, window].float()
        uncond, cond = pred.chunk(2)
        sample = x - sigma * (uncond + guidance * (cond - uncond))
        if i + 1 == len(levels):
            return sample
        following = levels[i + 1].item()
        x = (1 - following) * sample + following * torch.randn(sample.shape, generator=gen).to(device)
    raise ValueError("no sampler levels")


def train(transformer, lora: dict, latents: torch.Tensor, text_all: torch.Tensor, text_empty: torch.Tensor, args,
          device, log: Log, gen: torch.Generator) -> dict:
    """The LoRA's training loop (`training.lora_loop.train_lora`); the LoRA ends holding its EMA weights."""
    levels = sampler_sigmas([int(t) for t in args.timesteps.split(",")], args.shift)
    clips, frames = latents.shape[0], latents.shape[2]
    dgen = torch.Generator().manual_seed(args.seed + 200)
    rollouts = [0]

    def batch_loss(step: int) -> torch.Tensor:
        b = args.batch
        idx = torch.randint(0, clips, (b,), generator=gen)
        starts = torch.randint(2 * CHUNK, frames - CHUNK + 1, (b,), generator=gen)
        x0 = stream_layout(latents[idx], starts).to(device).float()
        drop = torch.rand(b, generator=gen) < args.cfg_dropout
        text = torch.where(drop[:, None, None].to(device), text_empty.expand(b, -1, -1), text_all[idx.to(device)])
        context = x0
        if step >= args.rollout_from * args.steps and args.rollout_share > 0:
            n = max(1, int(b * args.rollout_share))
            transformer.eval()
            own = rollout_window(transformer, x0[:n], text_all[idx[:n].to(device)], text_empty, levels.to(device),
                                 args.guidance, dgen)
            transformer.train()
            context = x0.clone()
            context[:n, :, CHUNK:2 * CHUNK] = own.to(context.dtype)
            rollouts[0] += n
        sig = chunk_sigmas(b, levels, gen).to(device)
        sig_frames = sig.repeat_interleave(CHUNK, dim=1)  # [B, 9]
        noise = torch.randn(x0.shape, generator=dgen).to(device)
        s5 = sig_frames[:, None, :, None, None]
        xt = (1 - s5) * x0 + s5 * noise
        with autocast(device):
            pred = teacher_forced_prediction(transformer, context, xt, sig_frames * 1000.0, text, CHUNK)
        return F.mse_loss(pred.float(), noise - x0)

    result = train_lora(lora, args, log, "causal", batch_loss, describe=lambda: f"rollouts {rollouts[0]}")
    return dict(result, rollout_examples=rollouts[0])


def write_model_folder(folder: str, lora: dict, args, name: str = "default-causal", sampler: str = "scheduler",
                       base_folder: Optional[str] = None) -> None:
    """The LoRA and the ``vidlong.yaml`` of the causal model `name` (`training.lora_loop.write_lora_folder`): its
    base, `base_folder` (default ``args.base``; a distilled model's is its teacher); the stream settings shipped with
    `default-causal` (its `sampler` "scheduler": the few-step causal sampler scored far lower on it; a
    distilled model's is "causal")."""
    timesteps = ", ".join(args.timesteps.split(","))
    write_lora_folder(folder, lora, base_folder or args.base, name,
                      "the model {base} plus this LoRA (native_frames counts LATENT frames)",
                      DEFAULT_SPEC +
                      f"guidance_scale: {args.guidance}\n"
                      "stream_context: cache\n"
                      f"stream_sampler: {sampler}\n"
                      f"stream_timesteps: [{timesteps}]\n"
                      f"stream_shift: {args.shift}\n"
                      "stream_first_chunk: 3\n")


class StreamData:
    """A streaming trainer's run: its device and generator, and the shapes-world clips of ``args``
    (`--clips` of `CLIP_PIXEL_FRAMES` frames, clip seed `--seed`) encoded once by the base's VAE and
    normalised (`latents` ``[N, C, 17, h, w]``), with their prompts' and the empty prompt's text states."""

    def __init__(self, args, stage: str):
        os.makedirs(args.out, exist_ok=True)
        self.device = device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        torch.manual_seed(args.seed)
        self.gen = torch.Generator().manual_seed(args.seed)
        if device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
        self.t_start = time.time()
        res = 64 if args.smoke else 128
        workers = args.workers if args.workers is not None else min(15, max(1, (os.cpu_count() or 2) - 1))
        work = args.work_dir or tempfile.mkdtemp(prefix=f"vidlong_{stage}_")
        os.makedirs(work, exist_ok=True)
        pool = make_worker_pool(workers)
        clips = ClipPool(work, stage, args.seed, args.clips, CLIP_PIXEL_FRAMES, res, res).start(pool)
        vae = C.load_component(args.base, "vae").to(device).eval()
        text_encoder = C.load_component(args.base, "text_encoder")
        tokenizer = C.build_tokenizer(512)
        frames, prompts = clips.wait()
        if pool is not None:
            pool.close()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
        self.latents = ((encode_clips(vae, frames, args.encode_batch, device, self.gen) - mean) / std).to(device)
        print(f"[encode] {tuple(self.latents.shape)} ({time.time() - self.t_start:.0f}s)", flush=True)
        self.text_all = embed_prompts(text_encoder, *tokenize(tokenizer, prompts, 512), device)
        self.text_empty = embed_prompts(text_encoder, *tokenize(tokenizer, [""], 512), device)
        os.remove(clips.path)


def main(argv=None) -> dict:
    args = parse_args(argv)
    data = StreamData(args, "causal")
    device, gen, latents = data.device, data.gen, data.latents
    transformer, lora = lora_transformer(args, device)
    log = Log(os.path.join(args.out, "train_log.csv"))
    summary = {"args": vars(args), "device": str(device), "latent_shape": list(latents.shape),
               "lora_params": sum(p.numel() for p in lora.values())}
    summary["train"] = train(transformer, lora, latents, data.text_all, data.text_empty, args, device, log, gen)
    log.close()
    write_model_folder(os.path.join(args.out, "model"), lora, args)
    return finish_run(summary, "train", args.out, data.t_start)


def finish_run(summary: dict, result_key: str, out: str, t_start: float) -> dict:
    """Add the run's total seconds to `summary`, write it to OUT/summary.json and print the result."""
    summary["total_seconds"] = time.time() - t_start
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print(f"[done] {summary[result_key]} in {summary['total_seconds']:.0f}s", flush=True)
    return summary


if __name__ == "__main__":
    main()
