"""A complete WanPipeline of tiny random components, saved to a local folder (no downloads)."""
from __future__ import annotations

from pathlib import Path

import torch
import yaml
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

from conftest import tiny_transformer

WORDS = "a red green blue circle square triangle ball bouncing on the dark background and".split()
NATIVE_LATENT_FRAMES = 3  # = 9 pixel frames


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def tiny_pipeline(seed: int = 0) -> WanPipeline:
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1,
                                               num_heads=2, relative_attention_num_buckets=8)).eval()
    vae = AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    return WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=tiny_transformer(seed),
                       scheduler=scheduler)


def save_tiny_pipeline(folder: Path) -> Path:
    """Save the tiny pipeline with a vidlong.yaml (native 3 latent frames, 32x32, 4 steps)."""
    tiny_pipeline().save_pretrained(folder, safe_serialization=True)
    spec = dict(name="tiny-wan", native_frames=NATIVE_LATENT_FRAMES, fps=8, height=32, width=32,
                num_inference_steps=2, guidance_scale=2.0)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(spec))
    return Path(folder)
