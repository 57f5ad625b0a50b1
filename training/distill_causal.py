"""Distil the block-causal default model into a few-step streamer: distribution matching (DMD), as
CausVid and Self-Forcing make their 4-step generators.

The teacher is a trained block-causal model (default: `default-causal`, the default model plus its
LoRA, merged); it samples well with 20 UniPC steps at guidance 3 and badly with the causal sampler (4
levels, predict the clean chunk, re-noise), because flow matching teaches it the *mean* clean chunk
at each noise level, a blur at high noise. Two copies of it get a LoRA each:

- the **student** streams a chunk with the causal sampler, as a stream's first chunk, after the true
  sinks, or after the true sinks and window (the stream's layout of `training.train_causal`), and
  stops at a random level whose clean-chunk prediction is its sample (Self-Forcing's exit step: the
  gradient flows through that one forward; its context is the data's, or with `--self-context` its
  own stream's first chunk and one of its later chunks: Self-Forcing's rollout, so that the student
  learns from the contexts it will stream after, however far its stream has drifted);
- the **critic** (DMD's "fake score") learns, by flow matching on the student's samples, what the
  student's distribution looks like at every noise level.

The student's update is DMD's: noise its sample to a random level, and move it along
``x0_critic − x0_teacher`` (the critic's minus the guided teacher's clean-chunk predictions there;
normalised by the sample's mean distance to the teacher's), so that its samples become ones the
teacher would make. The critic takes `--critic-steps` updates per student update (DMD2's ratio).

The output folder is a `vidlong.yaml` model whose base is the teacher (a chain: the default model,
the teacher's LoRA, then the student's, rank `--rank`), with ``stream_sampler: causal``.

    python -m training.distill_causal --out out/distilled                  # GPU
    python -m training.distill_causal --smoke --out /tmp/distill_smoke     # CPU, seconds
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # allow `python training/distill_causal.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training import components as C  # noqa: E402
from training.causal import add_lora, teacher_forced_prediction  # noqa: E402
from training.train import Log, autocast, set_scheduled_lr  # noqa: E402
from training.train_causal import CHUNK, StreamData, finish_run, sampler_sigmas, stream_layout, write_model_folder  # noqa: E402

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--teacher", default="vidlong/default_causal_model",
                   help="the teacher: a model folder whose vidlong.yaml names a base and a LoRA")
    p.add_argument("--base", default=None, help="the teacher's base pipeline folder, if given checked against its vidlong.yaml")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=7, help="clip seed (the causal model's runs used 5 and 6)")
    p.add_argument("--smoke", action="store_true", help="a few CPU steps on a handful of small clips")
    p.add_argument("--device", default=None)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--work-dir", default=None)
    p.add_argument("--clips", type=int, default=4096)
    p.add_argument("--rank", type=int, default=64, help="the student's (and the critic's) LoRA rank")
    p.add_argument("--steps", type=int, default=3000, help="critic updates (the student takes 1 in --critic-steps)")
    p.add_argument("--critic-steps", type=int, default=5)
    p.add_argument("--student-init", default=None,
                   help="a distilled model folder whose student LoRA this run continues (e.g. vidlong/default_distilled_model)")
    p.add_argument("--critic-warmup", type=int, default=0,
                   help="critic updates before the student's first (a continued student needs a critic that knows it)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="the student's learning rate")
    p.add_argument("--critic-lr", type=float, default=1e-4)
    p.add_argument("--max-seconds", type=float, default=float("inf"), help="wall-clock cap of the training loop")
    p.add_argument("--guidance", type=float, default=3.0, help="the teacher's guidance in the DMD update")
    p.add_argument("--timesteps", default="1000,750,500,250", help="the causal sampler's levels")
    p.add_argument("--shift", type=float, default=2.0, help="the causal sampler's shift")
    p.add_argument("--encode-batch", type=int, default=64)
    p.add_argument("--self-context", type=float, default=0.0,
                   help="share of the steps after the sinks whose context is the student's own stream (Self-Forcing) "
                        "instead of the data's")
    p.add_argument("--rollout-chunks", type=int, default=10,
                   help="chunks in each of the student's own streams; the context's window is any of them after the first")
    p.add_argument("--rollout-every", type=int, default=10, help="critic updates between the student's new streams")
    a = p.parse_args(argv)
    if a.smoke:
        a.clips, a.steps, a.critic_steps, a.batch, a.encode_batch, a.workers, a.rank = 4, 2, 1, 2, 2, 0, 4
    return a


def noise_levels(batch: int, gen: torch.Generator, device) -> torch.Tensor:
    """``[B]`` levels in [0.02, 0.98], uniform: where DMD asks the critic and the teacher, and so where
    the critic learns."""
    return (0.02 + 0.96 * torch.rand(batch, generator=gen)).to(device)


def chunk_prediction(transformer, context: torch.Tensor, chunk: torch.Tensor, sigma: torch.Tensor,
                     text: torch.Tensor) -> torch.Tensor:
    """The clean chunk ``[B, C, 3, h, w]`` that `transformer` predicts from the noisy `chunk` at levels
    `sigma` ``[B]`` (0..1), after the clean chunks `context` ``[B, C, 3k, h, w]`` (k = 0: the stream's
    first chunk; 1: after the sinks; 2: after the sinks and the window), through the stream's
    block-causal attention (`teacher_forced_prediction`); flow prediction v, ``x0 = x − σ·v``."""
    batch = chunk.shape[0]
    frames = torch.cat([context, chunk], dim=2)
    timesteps = torch.cat([torch.zeros(batch, context.shape[2], device=chunk.device),
                           (sigma * 1000.0)[:, None].expand(batch, CHUNK)], dim=1)
    velocity = teacher_forced_prediction(transformer, frames, frames, timesteps, text, CHUNK)[:, :, -CHUNK:]
    return chunk - sigma.view(-1, 1, 1, 1, 1) * velocity.float()


def student_sample(student, context, text, levels: torch.Tensor, exit_level: int, gen: torch.Generator,
                   grad: bool) -> torch.Tensor:
    """The causal sampler (unguided, as the distilled model streams) up to `exit_level`: its clean-chunk
    prediction there, with gradient only through that last forward when `grad`."""
    batch = context.shape[0]
    x = torch.randn((batch, context.shape[1], CHUNK, *context.shape[3:]), generator=gen).to(context.device)
    for i, sigma in enumerate(levels.tolist()):
        sig = torch.full((batch,), sigma, device=context.device)
        last = i == exit_level
        with torch.set_grad_enabled(grad and last), autocast(context.device):
            x0 = chunk_prediction(student, context, x, sig, text)
        if last:
            return x0
        following = levels[i + 1].item()
        x = (1 - following) * x0.detach() + following * torch.randn(x0.shape, generator=gen).to(x0.device)
    raise ValueError(f"exit level {exit_level} is past the sampler's {len(levels)} levels")


@torch.no_grad()
def student_stream(student, text, levels: torch.Tensor, chunks: int, frame_shape, gen: torch.Generator) -> torch.Tensor:
    """The student's own stream ``[B, C, 3·chunks, h, w]`` (`frame_shape` = ``(C, h, w)``), chunk by chunk with
    the causal sampler, unguided, each chunk after the stream's first chunk (its sinks) and the chunk
    before it (its window), as `vidlong stream` runs the distilled model (3 sinks, a window of 3)."""
    batch, (channels, height, width) = text.shape[0], frame_shape
    made = []
    for k in range(chunks):
        context = torch.cat(made[:1] + made[1:][-1:], dim=2) if made else \
            torch.zeros(batch, channels, 0, height, width, device=text.device)
        made.append(student_sample(student, context, text, levels, len(levels) - 1, gen, grad=False).float())
    return torch.cat(made, dim=2)


def dmd_target(teacher, critic, sample, context, text, empty, guidance: float, gen: torch.Generator) -> torch.Tensor:
    """Where DMD moves `sample` ``[B, C, 3, h, w]``: ``sample − (x0_critic − x0_teacher) / w`` at a random
    level (w: the sample's mean distance to the teacher's prediction, per example)."""
    batch = sample.shape[0]
    sigma = noise_levels(batch, gen, sample.device)
    s5 = sigma.view(-1, 1, 1, 1, 1)
    noisy = (1 - s5) * sample + s5 * torch.randn(sample.shape, generator=gen).to(sample.device)
    with torch.no_grad(), autocast(sample.device):
        both = chunk_prediction(teacher, context.repeat(2, 1, 1, 1, 1), noisy.repeat(2, 1, 1, 1, 1), sigma.repeat(2),
                                torch.cat([empty.expand(batch, -1, -1), text]))
        uncond, cond = both.chunk(2)
        real = uncond + guidance * (cond - uncond)
        fake = chunk_prediction(critic, context, noisy, sigma, text)
    weight = (sample - real).abs().mean(dim=(1, 2, 3, 4), keepdim=True).clamp_min(1e-6)
    return (sample - (fake - real) / weight).detach()


def critic_loss(critic, sample, context, text, gen: torch.Generator) -> torch.Tensor:
    """Flow matching on the student's (detached) samples: the critic's velocity at a random level."""
    batch = sample.shape[0]
    sigma = noise_levels(batch, gen, sample.device)
    s5 = sigma.view(-1, 1, 1, 1, 1)
    noise = torch.randn(sample.shape, generator=gen).to(sample.device)
    noisy = (1 - s5) * sample + s5 * noise
    with autocast(sample.device):
        x0 = chunk_prediction(critic, context, noisy, sigma, text)
    velocity = (noisy - x0) / s5
    return F.mse_loss(velocity.float(), noise - sample)


def distill(teacher, student, critic, student_lora: dict, critic_lora: dict, latents, text_all, text_empty, args,
            device, log: Log, gen: torch.Generator) -> dict:
    """The alternating loop; the student's LoRA ends holding its EMA weights."""
    opt_student = torch.optim.AdamW(list(student_lora.values()), lr=args.lr, betas=(0.0, 0.99), weight_decay=0.0)
    opt_critic = torch.optim.AdamW(list(critic_lora.values()), lr=args.critic_lr, betas=(0.0, 0.99), weight_decay=0.0)
    ema = {k: p.detach().clone() for k, p in student_lora.items()}
    student_total = -(-max(1, args.steps - args.critic_warmup) // args.critic_steps)
    levels = sampler_sigmas([int(t) for t in args.timesteps.split(",")], args.shift).to(device)
    clips, frames = latents.shape[0], latents.shape[2]
    noise_gen = torch.Generator().manual_seed(args.seed + 300)
    t0, recent, step, student_steps = time.time(), {"student": [], "critic": []}, 0, 0
    warmup = max(1, min(100, args.steps // 10))
    own = None  # (clip indices, the student's own streams), remade every --rollout-every critic updates
    while step < args.steps:
        lr = set_scheduled_lr(opt_critic, "critic", step, args.steps, args.critic_lr, warmup, t0, args.max_seconds)
        if lr is None:
            break
        idx = torch.randint(0, clips, (args.batch,), generator=gen)
        starts = torch.randint(2 * CHUNK, frames - CHUNK + 1, (args.batch,), generator=gen)
        # the chunk's place in the stream: first (no context), after the sinks, or after sinks and window
        place = int(torch.randint(0, 3, (1,), generator=gen))
        context = stream_layout(latents[idx], starts).to(device).float()[:, :, :place * CHUNK]
        if place > 0 and float(torch.rand(1, generator=gen)) < args.self_context:
            if own is None or step - own[2] >= args.rollout_every:
                own_idx = torch.randint(0, clips, (args.batch,), generator=gen)
                own = (own_idx, student_stream(student, text_all[own_idx.to(device)], levels, args.rollout_chunks,
                                               latents.shape[1:2] + latents.shape[3:], noise_gen), step)
            idx, window = own[0], int(torch.randint(1, args.rollout_chunks, (1,), generator=gen)) * CHUNK
            context = torch.cat([own[1][:, :, :CHUNK], own[1][:, :, window:window + CHUNK]], dim=2)[:, :, :place * CHUNK]
        text = text_all[idx.to(device)]
        update_student = step >= args.critic_warmup and step % args.critic_steps == 0
        exit_level = int(torch.randint(0, len(levels), (1,), generator=gen))
        sample = student_sample(student, context, text, levels, exit_level, noise_gen, grad=update_student)
        if update_student:
            set_scheduled_lr(opt_student, "student", student_steps, student_total, args.lr, max(1, warmup // args.critic_steps),
                             t0, args.max_seconds)  # decays with the critic's wall-clock cap
            target = dmd_target(teacher, critic, sample.detach(), context, text, text_empty, args.guidance, noise_gen)
            loss = 0.5 * F.mse_loss(sample.float(), target)
            opt_student.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(student_lora.values()), 1.0)
            opt_student.step()
            with torch.no_grad():
                decay = min(0.99, (1 + student_steps) / (10 + student_steps))
                for k, p in student_lora.items():
                    ema[k].mul_(decay).add_(p.detach(), alpha=1 - decay)
            recent["student"].append(loss.item())
            student_steps += 1
        loss = critic_loss(critic, sample.detach().float(), context, text, noise_gen)
        opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(critic_lora.values()), 1.0)
        opt_critic.step()
        recent["critic"].append(loss.item())
        if step % 25 == 0 or step == args.steps - 1:
            log.row("critic", step, recent["critic"][-1], lr)
            if recent["student"]:
                log.row("student", step, recent["student"][-1], opt_student.param_groups[0]["lr"])
            print(f"[distill] step {step} critic {recent['critic'][-1]:.4f} student "
                  f"{recent['student'][-1] if recent['student'] else float('nan'):.4f} ({time.time() - t0:.0f}s)", flush=True)
        step += 1
    with torch.no_grad():
        for k, p in student_lora.items():
            p.copy_(ema[k])
    return {"steps": step, "student_steps": student_steps, "seconds": time.time() - t0,
            "student_loss_last_logged": float(np.mean(recent["student"][-8:])) if recent["student"] else None,
            "critic_loss_last_logged": float(np.mean(recent["critic"][-8:]))}


def main(argv=None) -> dict:
    from diffusers import WanPipeline

    from vidlong.lora import fuse_lora_link
    from vidlong.models import lora_link

    args = parse_args(argv)
    link = lora_link(args.teacher)
    if link is None:
        raise ValueError(f"{args.teacher} has no vidlong.yaml naming a base and a LoRA")
    if args.base is not None and os.path.realpath(args.base) != os.path.realpath(link.base):
        raise ValueError(f"--base {args.base} is not the teacher's base {link.base}")
    args.base = str(link.base)  # the written folder names the same base
    data = StreamData(args, "distill")
    device, latents = data.device, data.latents
    teacher = C.load_component(args.base, "transformer")
    fuse_lora_link(teacher, link, WanPipeline)
    teacher = teacher.to(device).requires_grad_(False).eval()
    student, critic = copy.deepcopy(teacher), copy.deepcopy(teacher)
    student_lora, critic_lora = add_lora(student, args.rank, args.student_init), add_lora(critic, args.rank)
    for p in [*student_lora.values(), *critic_lora.values()]:
        p.data = p.data.to(device)

    log = Log(os.path.join(args.out, "train_log.csv"))
    summary = {"args": vars(args), "device": str(device), "latent_shape": list(latents.shape),
               "lora_params": sum(p.numel() for p in student_lora.values())}
    summary["distill"] = distill(teacher, student, critic, student_lora, critic_lora, latents, data.text_all,
                                 data.text_empty, args, device, log, data.gen)
    log.close()
    write_model_folder(os.path.join(args.out, "model"), student_lora, args, name="default-distilled", sampler="causal",
                       base_folder=args.teacher)
    return finish_run(summary, "distill", args.out, data.t_start)


if __name__ == "__main__":
    main()
