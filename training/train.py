"""Train the embedded default model: a small Wan2.1-layout pipeline on shapes-world videos.

Stage 1 trains the ``AutoencoderKLWan`` (L1 + MSE reconstruction, weighted on shape pixels, + a
small KL term) on 9-pixel-frame clips. The VAE is causal in time with a receptive field longer than
9 frames, so later frames of a 33-frame clip decode from a history it never saw (colours drift to
grey): `training/finetune_decoder.py` then trains the decoder alone on 33-frame clips. Training the
whole VAE on 33-frame clips instead (``--vae-frames 33``) costs 2.8x more per step; run 3 reached
404 steps in its 260 s and a VAE too poor to ship (see the model card). ``--vae-from`` reuses a
trained VAE and skips this stage.
Stage 2 encodes 33-pixel-frame clips (= 9 latent frames at 128x128, latent 16x16) with the frozen
VAE and trains the ``WanTransformer3DModel`` with rectified-flow matching as Wan does:
x_t = (1 - s) x0 + s * noise, target = noise - x0, timestep = 1000 * s, with 10% of prompts
replaced by the empty prompt (for classifier-free guidance). The text encoder is random and frozen.

Usage (the real run, on one GPU):
    python -m training.train --out out/default_model_run
A CPU smoke run (a few steps of each stage, tiny sizes, under a minute):
    python -m training.train --smoke --out /tmp/smoke

Writes to ``--out``: ``pipeline/`` (the WanPipeline folder, float16 safetensors, plus
``vidlong.yaml``), ``train_log.csv`` (stage, step, loss, lr, seconds), ``summary.json``.
Deterministic given ``--seed`` up to GPU kernel non-determinism; the wall-clock caps
(``--vae-max-seconds``, ``--dit-max-seconds``) only cut a stage short if it overruns, and the
number of steps actually run is recorded in ``summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import tempfile
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

if __package__ in (None, ""):  # allow `python training/train.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training import components as C  # noqa: E402
from training.data import ClipPool, make_worker_pool  # noqa: E402
from training.shapes_world import DEFAULT_FPS  # noqa: E402

NATIVE_PIXEL_FRAMES = 33  # = 9 latent frames
RESOLUTION = 128


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny sizes, a few CPU steps")
    p.add_argument("--device", default=None, help="default: cuda if available else cpu")
    p.add_argument("--workers", type=int, default=None, help="render processes (0 = inline)")
    p.add_argument("--work-dir", default=None, help="scratch folder for the clip memmaps")
    # stage 1: VAE
    p.add_argument("--vae-clips", type=int, default=4096)
    p.add_argument("--vae-frames", type=int, default=9,
                   help="pixel frames per VAE clip (33 = full clips: 2.8x slower per step, see the model card)")
    p.add_argument("--vae-crop", type=int, default=64, help="square crop (pixels) for VAE steps")
    p.add_argument("--vae-object-weight", type=float, default=10.0,
                   help="extra loss weight on shape (saturated) pixels")
    p.add_argument("--vae-steps", type=int, default=3000)
    p.add_argument("--vae-batch", type=int, default=48)
    p.add_argument("--vae-lr", type=float, default=1e-3)
    p.add_argument("--vae-kl", type=float, default=1e-4, help="KL weight (per-element means)")
    p.add_argument("--vae-max-seconds", type=float, default=float("inf"))
    vae_source = p.add_mutually_exclusive_group()
    vae_source.add_argument("--vae-from", default=None,
                            help="pipeline folder whose trained vae/ is reused as is (stage 1 skipped)")
    vae_source.add_argument("--vae-init", default=None,
                            help="pipeline folder whose trained vae/ stage 1 starts from and trains further "
                                 "(e.g. the whole VAE on 33-frame clips at a lower --vae-lr)")
    # stage 2: transformer
    p.add_argument("--dit-init", default=None,
                   help="pipeline folder whose transformer and text encoder (a pair: the encoder is random "
                        "and frozen) stage 2 starts from and trains further; a new --seed draws fresh clips")
    p.add_argument("--dit-clips", type=int, default=6144)
    p.add_argument("--dit-steps", type=int, default=2000)
    p.add_argument("--dit-batch", type=int, default=128)
    p.add_argument("--dit-lr", type=float, default=5e-4)
    p.add_argument("--dit-max-seconds", type=float, default=float("inf"))
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds for the whole run: sets the two stages' wall-clock caps "
                        "(45%% VAE / 55%% transformer of what data, encoding and saving leave)")
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                   help="regional torch.compile of the transformer blocks (GPU only)")
    p.add_argument("--cfg-dropout", type=float, default=0.1)
    p.add_argument("--encode-batch", type=int, default=128)
    p.add_argument("--max-sequence-length", type=int, default=512,
                   help="text tokens (WanPipeline pads prompts to 512 by default)")
    p.add_argument("--flow-shift", type=float, default=2.0, help="sampler flow shift saved")
    p.add_argument("--steps-default", type=int, default=20, help="vidlong.yaml inference steps")
    p.add_argument("--guidance-default", type=float, default=3.0,
                   help="vidlong.yaml CFG scale (3: best of 2-4 on run 4's eval set, see the model card)")
    a = p.parse_args(argv)
    if a.time_budget is not None:
        overhead = 25.0 + 0.0045 * a.dit_clips + 35.0  # data + encoding + compile/save
        left = max(20.0, a.time_budget - overhead)
        a.vae_max_seconds, a.dit_max_seconds = 0.45 * left, 0.55 * left
    if a.smoke:
        a.vae_clips, a.vae_steps, a.vae_batch, a.vae_frames, a.vae_crop = 8, 3, 2, 9, 32
        a.dit_clips, a.dit_steps, a.dit_batch, a.encode_batch = 8, 4, 4, 4
        a.max_sequence_length = 32
        a.workers = 0 if a.workers is None else a.workers
    return a


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


class Log:
    """CSV training log: stage, step, loss, lr, seconds since start."""

    def __init__(self, path: str):
        self.f = open(path, "w", newline="")
        self.w = csv.writer(self.f)
        self.w.writerow(["stage", "step", "loss", "lr", "seconds"])
        self.t0 = time.time()

    def row(self, stage: str, step: int, loss: float, lr: float):
        self.w.writerow([stage, step, f"{loss:.6f}", f"{lr:.3e}", f"{time.time() - self.t0:.1f}"])

    def close(self):
        self.f.close()


def lr_at(step: int, total: int, base: float, warmup: int, time_frac: float = 0.0) -> float:
    """Linear warm-up then cosine decay to 10% of ``base``.

    ``time_frac`` (elapsed / wall-clock cap) advances the decay when a stage runs under a time
    budget, so a capped stage still ends at the low learning rate.
    """
    if step < warmup:
        return base * (step + 1) / warmup
    frac = max((step - warmup) / max(1, total - warmup), time_frac)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))


def _time_frac(elapsed: float, cap: float) -> float:
    return 0.0 if not math.isfinite(cap) else elapsed / cap


def set_scheduled_lr(opt, stage: str, step: int, total: int, base: float, warmup: int, t0: float, cap: float):
    """Set the learning rate of `step` on `opt` and return it; None once the stage's wall-clock cap
    (seconds since `t0`) is spent."""
    elapsed = time.time() - t0
    if elapsed > cap:
        print(f"[{stage}] wall-clock cap hit at step {step}", flush=True)
        return None
    lr = lr_at(step, total, base, warmup, _time_frac(elapsed, cap))
    for group in opt.param_groups:
        group["lr"] = lr
    return lr


def to_video_tensor(frames_u8: np.ndarray, device) -> torch.Tensor:
    """uint8 [B, T, H, W, 3] -> float [B, 3, T, H, W] in [-1, 1] on ``device``."""
    x = torch.from_numpy(np.array(frames_u8, copy=True)).to(device)
    return x.permute(0, 4, 1, 2, 3).float().div_(127.5).sub_(1.0)


def autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


def ema_update(ema: dict, model: torch.nn.Module, decay: float):
    with torch.no_grad():
        for name, p in model.named_parameters():
            ema[name].mul_(decay).add_(p.detach().float(), alpha=1 - decay)


# ---------------------------------------------------------------------------------------------
# stage 1: VAE
# ---------------------------------------------------------------------------------------------


def object_weights(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-pixel loss weights [B, 1, T, H, W]: 1 on the background, 1 + ``weight`` on shapes.

    Shapes are the saturated pixels (HSV saturation > 0.3); they cover a few percent of a frame,
    so without this weight the reconstruction loss is all background and colours wash out.
    """
    rgb = (x + 1) / 2
    mx = rgb.max(dim=1, keepdim=True).values
    mn = rgb.min(dim=1, keepdim=True).values
    sat = (mx - mn) / mx.clamp_min(1e-3)
    return 1.0 + weight * (sat > 0.3).float()


def weighted_reconstruction(rec: torch.Tensor, x: torch.Tensor, weight: float
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(L1, MSE) of a reconstruction ``rec`` of ``x`` [B, 3, T, H, W], weighted by `object_weights`."""
    w = object_weights(x, weight)
    norm = w.sum() * 3
    return ((rec - x).abs() * w).sum() / norm, ((rec - x).pow(2) * w).sum() / norm


def train_vae(vae, frames: np.ndarray, args, device, log: Log, gen: torch.Generator) -> dict:
    """Train the VAE on uint8 clips [N, T, H, W, 3]; returns {"steps", "loss", "seconds"}."""
    vae.to(device).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, betas=(0.9, 0.99), weight_decay=0.0)
    pool = torch.from_numpy(np.array(frames))  # uint8, copied into memory
    if device.type == "cuda":
        pool = pool.to(device)
    n = pool.shape[0]
    t0, step, recent = time.time(), 0, []
    warmup = max(1, min(50, args.vae_steps // 10))
    for step in range(args.vae_steps):
        lr = set_scheduled_lr(opt, "vae", step, args.vae_steps, args.vae_lr, warmup, t0, args.vae_max_seconds)
        if lr is None:
            break
        idx = torch.randint(0, n, (args.vae_batch,), generator=gen)
        clip = pool[idx.to(pool.device)]  # uint8 [B, T, H, W, 3]
        c = min(args.vae_crop, clip.shape[2], clip.shape[3])
        top = int(torch.randint(0, clip.shape[2] - c + 1, (), generator=gen))
        left = int(torch.randint(0, clip.shape[3] - c + 1, (), generator=gen))
        clip = clip[:, :, top:top + c, left:left + c]
        x = clip.to(device).permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0
        if torch.rand((), generator=gen) < 0.5:  # flips: free augmentation in pixel space
            x = x.flip(-1)
        with autocast(device):
            h = vae._encode(x)
            mean, logvar = h.float().chunk(2, dim=1)
            logvar = logvar.clamp(-30.0, 20.0)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, device=device)
            rec = vae._decode(z, return_dict=False)[0]
        rec = rec.float()
        l1, mse = weighted_reconstruction(rec, x, args.vae_object_weight)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = l1 + mse + args.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        recent.append(l1.item())
        if step % 25 == 0 or step == args.vae_steps - 1:
            log.row("vae", step, loss.item(), lr)
            print(f"[vae] step {step} loss {loss.item():.4f} l1 {l1.item():.4f} "
                  f"kl {kl.item():.2f} ({time.time() - t0:.0f}s)", flush=True)
    vae.eval().requires_grad_(False)
    return {"steps": step + 1, "l1_last100": float(np.mean(recent[-100:])),
            "seconds": time.time() - t0}


@torch.no_grad()
def latent_normalisation(lat: torch.Tensor, args) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std, each [C], of the latents [N, C, T, H, W] the transformer trains on.

    Measured on this run's clips, except when a trained transformer continues (``--dit-init``) on a
    reused VAE (``--vae-from``): then the normalisation it learned with, from ``--dit-init``'s
    ``vae/config.json``, so that its inputs keep their scale.
    """
    if args.dit_init and args.vae_from:
        with open(os.path.join(args.dit_init, "vae", "config.json")) as f:
            cfg = json.load(f)
        return (torch.tensor(cfg["latents_mean"], dtype=lat.dtype, device=lat.device),
                torch.tensor(cfg["latents_std"], dtype=lat.dtype, device=lat.device))
    return lat.mean(dim=(0, 2, 3, 4)), lat.std(dim=(0, 2, 3, 4)).clamp_min(1e-4)


@torch.no_grad()
def encode_clips(vae, frames: np.ndarray, batch: int, device, gen: torch.Generator
                 ) -> torch.Tensor:
    """Posterior samples of uint8 clips [N, T, H, W, 3] -> float32 [N, z, 1+(T-1)/4, H/8, W/8]."""
    out = []
    for s in range(0, frames.shape[0], batch):
        x = to_video_tensor(frames[s:s + batch], device)
        with autocast(device):
            h = vae._encode(x)
        mean, logvar = h.float().chunk(2, dim=1)
        std = torch.exp(0.5 * logvar.clamp(-30.0, 20.0))
        noise = torch.randn(mean.shape, generator=gen).to(device)
        out.append((mean + std * noise).cpu())
    return torch.cat(out)


@torch.no_grad()
def reconstruction_psnr(vae, frames: np.ndarray, device) -> float:
    """PSNR (dB, pixel range [-1, 1] -> peak 2) of VAE reconstructions of a few clips."""
    x = to_video_tensor(frames, device)
    with autocast(device):
        h = vae._encode(x)
        mean = h.float().chunk(2, dim=1)[0]
        rec = vae._decode(mean, return_dict=False)[0].float()
    mse = F.mse_loss(rec, x).item()
    return 10 * math.log10(4.0 / max(mse, 1e-12))


@torch.no_grad()
def reconstruction_objects(vae, frames: np.ndarray, prompts: list[str], device) -> dict:
    """The ground-truth checker on VAE reconstructions of full clips uint8 [N, T, H, W, 3].

    The transformer can only learn what the VAE keeps: if the prompted shapes are not found in
    the reconstructions, they will not be found in generated videos either.
    """
    from training.evaluate import load_checker

    chk = load_checker()
    sums = []
    for clip, prompt in zip(frames, prompts):
        x = to_video_tensor(clip[None], device)
        with autocast(device):
            mean = vae._encode(x).float().chunk(2, dim=1)[0]
            rec = vae._decode(mean, return_dict=False)[0].float()
        video = ((rec[0].permute(1, 2, 3, 0).clamp(-1, 1) + 1) * 127.5).round().byte().cpu().numpy()
        sums.append(chk.check_video(video, prompt).summary())
    m = chk.aggregate(sums)
    return {k: m[k] for k in ("frac_frames_all_present", "colour_fidelity")}


# ---------------------------------------------------------------------------------------------
# stage 2: transformer
# ---------------------------------------------------------------------------------------------


def tokenize(tokenizer, prompts: list[str], max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask [N, max_len], as WanPipeline tokenizes (padding to max_len)."""
    t = tokenizer(prompts, padding="max_length", max_length=max_len, truncation=True,
                  add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    return t.input_ids, t.attention_mask


def text_embeddings(text_encoder, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, L] ids -> [B, L, text_dim]; positions past each prompt are zero (as WanPipeline)."""
    h = text_encoder(ids, mask).last_hidden_state
    return h * mask.unsqueeze(-1).to(h.dtype)


def sample_sigmas(n: int, gen: torch.Generator) -> torch.Tensor:
    """Noise levels in (0, 1): logit-normal(0, 1) for 90%, uniform for 10% (covers both tails)."""
    s = torch.sigmoid(torch.randn(n, generator=gen))
    u = torch.rand(n, generator=gen)
    pick = torch.rand(n, generator=gen) < 0.1
    return torch.where(pick, u, s).clamp(1e-3, 1.0)


@torch.no_grad()
def embed_prompts(text_encoder, ids: torch.Tensor, mask: torch.Tensor, device, batch: int = 256
                  ) -> torch.Tensor:
    """Text embeddings of all prompts, [N, L, text_dim] (bf16 on GPU), computed once."""
    text_encoder.to(device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    out = []
    for s in range(0, ids.shape[0], batch):
        e = text_embeddings(text_encoder, ids[s:s + batch].to(device), mask[s:s + batch].to(device))
        out.append(e.to(dtype))
    return torch.cat(out)


def _uncompile(model: torch.nn.Module) -> None:
    """Undo ``nn.Module.compile`` on every sub-module (back to eager)."""
    for m in model.modules():
        if getattr(m, "_compiled_call_impl", None) is not None:
            m._compiled_call_impl = None


def train_transformer(transformer, latents: torch.Tensor, ctx_all: torch.Tensor,
                      ctx_empty: torch.Tensor, args, device, log: Log, gen: torch.Generator
                      ) -> dict:
    """Flow matching on normalised latents [N, z, F, h, w] with text embeddings [N, L, D].

    Returns stats; the transformer ends holding its EMA weights.
    """
    transformer.to(device).train()
    compiled = False
    if args.compile and device.type == "cuda":
        transformer.compile_repeated_blocks(fullgraph=False, dynamic=False)
        compiled = True
    opt = torch.optim.AdamW(transformer.parameters(), lr=args.dit_lr, betas=(0.9, 0.99),
                            weight_decay=0.01)
    ema = {k: p.detach().float().clone() for k, p in transformer.named_parameters()}
    lat = latents.to(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    n = lat.shape[0]
    dgen = torch.Generator(device=device).manual_seed(args.seed + 100)  # noise on the device
    t0, recent, step = time.time(), [], 0
    warmup = max(1, min(200, args.dit_steps // 10))
    while step < args.dit_steps:
        lr = set_scheduled_lr(opt, "dit", step, args.dit_steps, args.dit_lr, warmup, t0, args.dit_max_seconds)
        if lr is None:
            break
        b = args.dit_batch
        idx = torch.randint(0, n, (b,), generator=gen).to(device)
        drop = (torch.rand(b, generator=gen) < args.cfg_dropout).to(device)
        sig = sample_sigmas(b, gen).to(device)
        x0 = lat[idx].float()
        noise = torch.randn(x0.shape, generator=dgen, device=device)
        ctx = torch.where(drop[:, None, None], ctx_empty.expand(b, -1, -1), ctx_all[idx])
        s5 = sig.view(b, 1, 1, 1, 1)
        xt = (1 - s5) * x0 + s5 * noise
        target = noise - x0
        try:
            with autocast(device):
                pred = transformer(hidden_states=xt, timestep=sig * 1000.0,
                                   encoder_hidden_states=ctx, return_dict=False)[0]
            loss = F.mse_loss(pred.float(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
        except Exception as e:  # a compiler failure must not cost the run: fall back to eager
            if not compiled:
                raise
            print(f"[dit] compiled step failed ({type(e).__name__}: {e}); eager from now",
                  flush=True)
            _uncompile(transformer)
            compiled = False
            opt.zero_grad(set_to_none=True)
            continue
        torch.nn.utils.clip_grad_norm_(transformer.parameters(), 1.0)
        opt.step()
        decay = min(args.ema, (1 + step) / (10 + step))
        ema_update(ema, transformer, decay)
        if step % 25 == 0 or step == args.dit_steps - 1:
            recent.append(loss.item())
            log.row("dit", step, recent[-1], lr)
            print(f"[dit] step {step} loss {recent[-1]:.4f} ({time.time() - t0:.0f}s)",
                  flush=True)
        step += 1
    _uncompile(transformer)
    transformer.eval().requires_grad_(False)
    with torch.no_grad():
        for k, p in transformer.named_parameters():
            p.copy_(ema[k].to(p.dtype))
    return {"steps": step, "loss_last_logged": float(np.mean(recent[-8:])),
            "seconds": time.time() - t0, "compiled": compiled}


# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------


def write_model_yaml(folder: str, args, height: int, width: int, latent_frames: int):
    """The defaults the vidlong core package reads (``native_frames`` is in latent frames)."""
    text = (
        "# vidlong defaults for this model (native_frames counts LATENT frames)\n"
        f"native_frames: {latent_frames}\n"
        f"native_pixel_frames: {4 * (latent_frames - 1) + 1}\n"
        f"fps: {DEFAULT_FPS}\n"
        f"height: {height}\n"
        f"width: {width}\n"
        f"num_inference_steps: {args.steps_default}\n"
        f"guidance_scale: {args.guidance_default}\n"
        f"flow_shift: {args.flow_shift}\n"
        f"max_sequence_length: {args.max_sequence_length}\n"
        "torch_dtype_cpu: float32\n"
    )
    with open(os.path.join(folder, "vidlong.yaml"), "w") as f:
        f.write(text)


def main(argv=None) -> dict:
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    sizes = C.SMOKE_SIZES if args.smoke else C.ModelSizes()
    res = 64 if args.smoke else RESOLUTION
    frames_px = 9 if args.smoke else NATIVE_PIXEL_FRAMES
    latent_frames = (frames_px - 1) // 4 + 1
    workers = args.workers if args.workers is not None else min(15, max(1, (os.cpu_count() or 2) - 1))
    work = args.work_dir or tempfile.mkdtemp(prefix="vidlong_train_")
    os.makedirs(work, exist_ok=True)
    t_start = time.time()
    summary: dict = {"args": vars(args), "sizes": sizes.to_dict(), "device": str(device),
                     "resolution": res, "pixel_frames": frames_px, "latent_frames": latent_frames}

    # data: the VAE pool first (needed at once), then the transformer pool in the background
    pool = make_worker_pool(workers)
    if args.vae_from is None:
        vae_pool = ClipPool(work, "vae", args.seed + 1, args.vae_clips, args.vae_frames, res, res)
        vae_frames, _ = vae_pool.start(pool).wait()
        print(f"[data] VAE pool ready ({time.time() - t_start:.0f}s)", flush=True)
    dit_pool = ClipPool(work, "dit", args.seed + 2, args.dit_clips, frames_px, res, res)
    dit_pool.start(pool)

    tokenizer = C.build_tokenizer(args.max_sequence_length)
    if args.dit_init:
        text_encoder = C.load_component(args.dit_init, "text_encoder")
        transformer = C.load_component(args.dit_init, "transformer")
    else:
        text_encoder = C.build_text_encoder(len(tokenizer), sizes, args.seed + 10)
        transformer = C.build_transformer(sizes, args.seed + 12)
    trained_vae = args.vae_from or args.vae_init
    vae = C.load_component(trained_vae, "vae") if trained_vae else C.build_vae(sizes, args.seed + 11)
    summary["params"] = {k: C.param_count(m) for k, m in
                         [("text_encoder", text_encoder), ("vae", vae), ("transformer", transformer)]}
    log = Log(os.path.join(args.out, "train_log.csv"))

    # stage 1
    if args.vae_from is None:
        summary["vae"] = train_vae(vae, vae_frames, args, device, log, gen)
        summary["vae"]["psnr_db"] = reconstruction_psnr(vae, vae_frames[:4], device)
        if args.vae_init:
            summary["vae"]["initialised_from"] = os.path.abspath(args.vae_init)
    else:
        vae.to(device)
        summary["vae"] = {"reused_from": os.path.abspath(args.vae_from)}
    print(f"[vae] done: {summary['vae']}", flush=True)

    # stage 2: encode the transformer pool, normalise per channel
    dit_frames, prompts = dit_pool.wait()
    if pool is not None:
        pool.close()
    t_enc = time.time()
    summary["vae"]["reconstruction_check"] = reconstruction_objects(
        vae, dit_frames[:8], prompts[:8], device)
    print(f"[vae] checker on reconstructions: {summary['vae']['reconstruction_check']}", flush=True)
    lat = encode_clips(vae, dit_frames, args.encode_batch, device, gen)
    mean, std = latent_normalisation(lat, args)
    vae.register_to_config(latents_mean=[round(float(v), 5) for v in mean],
                           latents_std=[round(float(v), 5) for v in std])
    lat = (lat - mean.view(1, -1, 1, 1, 1)) / std.view(1, -1, 1, 1, 1)
    summary["encode_seconds"] = time.time() - t_enc
    summary["latent_shape"] = list(lat.shape)
    print(f"[encode] {tuple(lat.shape)} in {summary['encode_seconds']:.0f}s", flush=True)
    ids, mask = tokenize(tokenizer, prompts, args.max_sequence_length)
    ctx_all = embed_prompts(text_encoder, ids, mask, device)
    ctx_empty = embed_prompts(text_encoder, *tokenize(tokenizer, [""], args.max_sequence_length),
                              device)
    summary["dit"] = train_transformer(transformer, lat, ctx_all, ctx_empty, args, device, log,
                                       gen)
    del ctx_all
    if args.dit_init:
        summary["dit"]["initialised_from"] = os.path.abspath(args.dit_init)
    print(f"[dit] done: {summary['dit']}", flush=True)
    log.close()

    # save
    folder = os.path.join(args.out, "pipeline")
    for m in (text_encoder, vae, transformer):
        m.to("cpu")
    pipe = C.assemble_pipeline(tokenizer, text_encoder, vae, transformer,
                               C.build_scheduler(args.flow_shift))
    C.save_pipeline(pipe, folder)
    write_model_yaml(folder, args, res, res, latent_frames)
    summary["total_seconds"] = time.time() - t_start
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    try:
        from training.plot import plot_log
        plot_log(os.path.join(args.out, "train_log.csv"), os.path.join(args.out, "loss.png"))
    except ImportError:
        pass  # matplotlib missing (e.g. on the GPU box): plot later with training/plot.py
    for name in ("vae.u8", "dit.u8"):
        try:
            os.remove(os.path.join(work, name))
        except OSError:
            pass
    print(f"[done] {folder} in {summary['total_seconds']:.0f}s", flush=True)
    return summary


if __name__ == "__main__":
    main()
