"""Teach the default model diagonal denoising (`method="fifo"`): its transformer plus a LoRA trained on
windows whose frames are at rising noise levels, as FIFO-Diffusion's queue shows them to it.

Why: the bidirectional default model was trained with one noise level per clip; in a fifo window every
frame is at its own level (the sink clean, the queue's frames one level apart), and on the default model
that turns a cyan ball green just past the native video and keeps it so (RESULTS.md, "Session 68: why
fifo loses the cyan ball"). Here the model sees such windows in training.

Each example is 9 latent frames at RoPE positions 0..8, drawn from a 17-latent-frame shapes-world clip:
- a **fifo window** (share ``1 - --plain-share``): the sink (the clip's latent frame 0, clean, timestep
  0) and the queue's frames ``j .. j+7`` (j from 1 to 9: later j leave a time gap after the sink, as in a
  long video) at rising levels ``sigma(t)``, ``t = (a + 1 + k) / n`` for queue frame k, where n is the
  queue's level count (16, 24, 32 or 48: 2, 3, 4 or 6 partitions of 8 frames; the shipped 3 give the
  default model's 24) and a is drawn in ``[0, n - 8]``; ``sigma(t) = s·t / (1 + (s - 1)·t)`` with the
  model's flow shift s (within 0.002 of the levels fifo's scheduler gives, `vidlong.diagonal.queue_sigmas`);
- a **plain clip** (``--plain-share``): frames 0..8 at one level, as the default model was trained, meant to
  keep the native video the queue starts from the model's.
Flow-matching loss (target noise - x0) on every noisy frame (not the sink); 10% of prompts dropped for
guidance. Only the LoRA trains (`training.causal.add_lora`, `training.lora_loop.train_lora`).

Status (sessions 69-70, RESULTS.md): an experiment, not shipped. Run 1 (100 s, 2,048 clips, rank 64) learned the
windows (held-out loss 0.34 -> 0.14) but lost the cyan ball from its own 1x video; as the queue alone it gave fewer
unprompted colours, not more prompted objects, at 4x. Run 2 (6,144 clips, rank 16, no cross-attention, half plain)
kept its native video but not more objects at 4x-8x either way, with more flicker.

    python -m training.train_fifo --base vidlong/default_model --out out/fifo --max-seconds 200   # GPU
    python -m training.train_fifo --smoke --out /tmp/fifo_smoke                                  # CPU, seconds
"""
from __future__ import annotations

import os
import sys

import torch

if __package__ in (None, ""):  # allow `python training/train_fifo.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from training.lora_loop import (DEFAULT_SPEC, lora_run_parser, lora_transformer, parse_lora_run, train_lora,  # noqa: E402
                                write_lora_folder)
from training.train import Log, autocast, sample_sigmas  # noqa: E402
from training.train_causal import LAYOUT_FRAMES, StreamData, finish_run  # noqa: E402

QUEUE = LAYOUT_FRAMES - 1          # queue frames per window beside the one sink frame
QUEUE_LEVELS = (16, 24, 32, 48)    # the queue's level counts drawn: 2, 3, 4 or 6 partitions of QUEUE frames


def parse_args(argv=None):
    p = lora_run_parser(__doc__.split("\n")[0], 7, "the default model's runs used 0-2, the causal ones 5-6")
    p.add_argument("--plain-share", type=float, default=0.25, help="share of the batch that is a plain clip at one level")
    p.add_argument("--shift", type=float, default=2.0, help="the base model's flow shift (the queue's levels)")
    p.add_argument("--guidance", type=float, default=4.5,
                   help="the guidance its vidlong.yaml gives: fifo's measured setting on the default model "
                        "(the default model's own is 3)")
    return parse_lora_run(p, argv)


def shifted(t: torch.Tensor, shift: float) -> torch.Tensor:
    """The flow-matching level of schedule position `t` in [0, 1] at flow `shift`."""
    return shift * t / (1 + (shift - 1) * t)


def window_sigmas(batch: int, plain_share: float, shift: float, gen: torch.Generator) -> torch.Tensor:
    """``[B, 9]`` noise levels per latent frame: a fifo window's (the sink at 0, the queue rising) or, for a
    `plain_share` of the batch, one level for all 9 frames."""
    counts = torch.tensor(QUEUE_LEVELS, dtype=torch.float32)[torch.randint(0, len(QUEUE_LEVELS), (batch,), generator=gen)]
    start = torch.rand(batch, generator=gen) * (counts - QUEUE)
    t = (start[:, None] + 1 + torch.arange(QUEUE)) / counts[:, None]
    fifo = torch.cat([torch.zeros(batch, 1), shifted(t, shift)], dim=1)
    plain = sample_sigmas(batch, gen)[:, None].expand(batch, LAYOUT_FRAMES)
    return torch.where((torch.rand(batch, generator=gen) < plain_share)[:, None], plain, fifo)


def window_frames(latents: torch.Tensor, sigmas: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``[B, C, 9, h, w]``: each clip's frames 0..8 where its levels are one (a plain clip), else its frame 0 and
    frames ``j .. j+7``, j drawn from 1 to ``T - 8``, of clips `latents` ``[B, C, T, h, w]``."""
    plain = (sigmas == sigmas[:, :1]).all(dim=1)
    starts = torch.randint(1, latents.shape[2] - QUEUE + 1, (latents.shape[0],), generator=gen)
    starts = torch.where(plain, torch.ones_like(starts), starts)
    return torch.stack([torch.cat([clip[:, :1], clip[:, j:j + QUEUE]], dim=1) for clip, j in zip(latents, starts.tolist())])


def main(argv=None) -> dict:
    args = parse_args(argv)
    data = StreamData(args, "fifo")
    device, gen, latents = data.device, data.gen, data.latents
    transformer, lora = lora_transformer(args, device)
    transformer.train()
    tokens = transformer.config.patch_size[1] * transformer.config.patch_size[2]
    dgen = torch.Generator().manual_seed(args.seed + 300)

    def batch_loss(step: int) -> torch.Tensor:
        b = args.batch
        idx = torch.randint(0, latents.shape[0], (b,), generator=gen)
        sigmas = window_sigmas(b, args.plain_share, args.shift, gen)
        x0 = window_frames(latents[idx].cpu(), sigmas, gen).to(device).float()
        drop = torch.rand(b, generator=gen) < args.cfg_dropout
        text = torch.where(drop[:, None, None].to(device), data.text_empty.expand(b, -1, -1), data.text_all[idx.to(device)])
        noise = torch.randn(x0.shape, generator=dgen).to(device)
        s5 = sigmas.to(device)[:, None, :, None, None]
        xt = (1 - s5) * x0 + s5 * noise
        per_token = (sigmas * 1000.0).repeat_interleave(x0.shape[3] * x0.shape[4] // tokens, dim=1).to(device)
        with autocast(device):
            pred = transformer(hidden_states=xt, timestep=per_token, encoder_hidden_states=text, return_dict=False)[0]
        noisy = (s5 > 0).float()
        return (((pred.float() - (noise - x0)) ** 2) * noisy).sum() / (noisy.sum() * x0.shape[1] * x0.shape[3] * x0.shape[4])

    log = Log(os.path.join(args.out, "train_log.csv"))
    summary = {"args": vars(args), "device": str(device), "latent_shape": list(latents.shape),
               "lora_params": sum(p.numel() for p in lora.values())}
    summary["train"] = train_lora(lora, args, log, "fifo", batch_loss)
    log.close()
    write_lora_folder(os.path.join(args.out, "model"), lora, args.base, "default-fifo",
                      "the model {base} plus this LoRA, taught diagonal denoising (native_frames counts LATENT frames)",
                      DEFAULT_SPEC +
                      f"guidance_scale: {args.guidance}\n"
                      "stream_context: renoise\n"
                      "stream_first_chunk: 9\n")
    return finish_run(summary, "train", args.out, data.t_start)


if __name__ == "__main__":
    main()
