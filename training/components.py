"""The default model's components, as real diffusers / transformers classes.

- ``build_tokenizer``: a word-level ``PreTrainedTokenizerFast`` over the shapes-world vocabulary
  (lower-cased, split on whitespace and punctuation, ``</s>`` appended like T5; unknown words map
  to ``<unk>``).
- ``build_text_encoder``: a small ``UMT5EncoderModel``, randomly initialised from a seed and frozen.
- ``build_vae``: a small ``AutoencoderKLWan`` (time 4x, space 8x; 33 pixel frames -> 9 latent).
- ``build_transformer``: a small ``WanTransformer3DModel`` (patch (1, 2, 2)).
- ``build_scheduler``: ``UniPCMultistepScheduler`` with flow sigmas (as Wan2.1 ships).
- ``assemble_pipeline``: all of them in a ``diffusers.WanPipeline``.

Sizes are chosen so the whole folder, stored in float16 safetensors, stays under 40 MB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch

from training.shapes_world import VOCABULARY

PAD, EOS, UNK = "<pad>", "</s>", "<unk>"


@dataclass
class ModelSizes:
    """Architecture hyper-parameters of the default model."""

    # text encoder (UMT5)
    text_dim: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_ff: int = 256
    # VAE
    vae_base_dim: int = 24
    vae_z_dim: int = 16
    vae_dim_mult: list[int] = field(default_factory=lambda: [1, 2, 4, 4])
    vae_res_blocks: int = 1
    # transformer
    heads: int = 5
    head_dim: int = 64
    layers: int = 8
    ffn_dim: int = 1024
    freq_dim: int = 256

    def to_dict(self) -> dict:
        return asdict(self)


SMOKE_SIZES = ModelSizes(text_dim=32, text_layers=1, text_heads=2, text_ff=64, vae_base_dim=8,
                         vae_z_dim=4, heads=2, head_dim=32, layers=2, ffn_dim=128, freq_dim=64)


def build_tokenizer(max_length: int = 512):
    """Word-level tokenizer: ids 0/1/2 are ``<pad>``/``</s>``/``<unk>`` (T5's layout)."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, EOS: 1, UNK: 2}
    for word in VOCABULARY:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # \w+ | [^\w\s]+
    tok.post_processor = processors.TemplateProcessing(
        single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS,
                                   unk_token=UNK, model_max_length=max_length,
                                   padding_side="right")


def build_text_encoder(vocab_size: int, sizes: ModelSizes, seed: int):
    """A frozen, randomly initialised ``UMT5EncoderModel``; output width ``sizes.text_dim``."""
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(vocab_size=vocab_size, d_model=sizes.text_dim,
                     d_kv=sizes.text_dim // sizes.text_heads, d_ff=sizes.text_ff,
                     num_layers=sizes.text_layers, num_heads=sizes.text_heads,
                     relative_attention_num_buckets=32, relative_attention_max_distance=128,
                     feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0,
                     eos_token_id=1, decoder_start_token_id=0, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = UMT5EncoderModel(cfg).eval()
    model.requires_grad_(False)
    return model


def build_vae(sizes: ModelSizes, seed: int):
    """A small ``AutoencoderKLWan``: [B, 3, 1+4k, H, W] pixels <-> [B, z, 1+k, H/8, W/8] latents."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(base_dim=sizes.vae_base_dim, z_dim=sizes.vae_z_dim,
                            dim_mult=list(sizes.vae_dim_mult), num_res_blocks=sizes.vae_res_blocks,
                            attn_scales=[], temperal_downsample=[False, True, True],
                            latents_mean=[0.0] * sizes.vae_z_dim,
                            latents_std=[1.0] * sizes.vae_z_dim)


def load_component(pipeline_folder: str, name: str):
    """The trained component `name` ("vae", "transformer", "text_encoder") of a saved pipeline
    folder, in float32."""
    import os

    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5EncoderModel

    cls = {"vae": AutoencoderKLWan, "transformer": WanTransformer3DModel, "text_encoder": UMT5EncoderModel}[name]
    return cls.from_pretrained(os.path.join(pipeline_folder, name), torch_dtype=torch.float32)


def build_transformer(sizes: ModelSizes, seed: int):
    """A small ``WanTransformer3DModel`` over ``sizes.vae_z_dim`` latent channels."""
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(patch_size=(1, 2, 2), num_attention_heads=sizes.heads,
                                 attention_head_dim=sizes.head_dim, in_channels=sizes.vae_z_dim,
                                 out_channels=sizes.vae_z_dim, text_dim=sizes.text_dim,
                                 freq_dim=sizes.freq_dim, ffn_dim=sizes.ffn_dim,
                                 num_layers=sizes.layers, cross_attn_norm=True,
                                 qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)


def build_scheduler(flow_shift: float = 2.0):
    """Wan2.1's sampler: UniPC on flow-matching sigmas (timestep = 1000 * sigma)."""
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(num_train_timesteps=1000, prediction_type="flow_prediction",
                                   use_flow_sigmas=True, flow_shift=flow_shift, solver_order=2)


def assemble_pipeline(tokenizer, text_encoder, vae, transformer, scheduler):
    """All components in a ``diffusers.WanPipeline``."""
    from diffusers import WanPipeline

    return WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                       transformer=transformer, scheduler=scheduler)


def save_pipeline(pipe, folder: str, dtype: torch.dtype = torch.float16) -> None:
    """Save the pipeline with safetensors, weights cast to ``dtype`` (float16 halves the size)."""
    pipe.to(dtype)
    pipe.save_pretrained(folder, safe_serialization=True)
    pipe.to(torch.float32)


def param_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
