"""Complete Wan pipelines of tiny random components, one per family member, saved to local folders
(no downloads): real diffusers classes at toy sizes.

Kinds: "wan2.1" (T2V, one transformer), "wan2.2" (T2V A14B layout: two experts switched at
boundary_ratio), "ti2v" (Wan2.2 TI2V-5B layout: residual VAE with patch 2, 16x spatial,
`expand_timesteps`), "i2v" (Wan2.1 I2V: CLIP vision encoder, `image_dim`, 4 mask + condition channels)
"i2v-a14b" (Wan2.2 I2V A14B: two experts, no CLIP) and "ti2v-i2v" (TI2V-5B's image-to-video mode:
`WanImageToVideoPipeline` with `expand_timesteps`, the image latent as the first frame); also "flf2v" (Wan2.1
FLF2V: "i2v" whose transformer takes two images' CLIP tokens, `pos_embed_seq_len`), not in `KINDS`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
import yaml
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, ModelMixin, WanImageToVideoPipeline, WanPipeline
from diffusers.configuration_utils import ConfigMixin, register_to_config
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerFast,
                          UMT5Config, UMT5EncoderModel)

from conftest import tiny_transformer

WORDS = "a red green blue circle square triangle ball bouncing on the dark background and".split()
NATIVE_LATENT_FRAMES = 3  # = 9 pixel frames
KINDS = ("wan2.1", "wan2.2", "ti2v", "i2v", "i2v-a14b", "ti2v-i2v")
CLIP_DIM = 16
CLIP_TOKENS = 17  # the tiny CLIP's tokens of a 32x32 image: (32 / 8)^2 patches + its class token



def tiny_qwen_vl_text() -> dict:
    """The text config of the tiny Qwen2-VL / Qwen2.5-VL encoders here (EasyAnimate's, Kandinsky 5's): 2 layers of
    `conftest.TEXT_DIM`, multimodal RoPE split 1 / 1 / 2 over time, height and width."""
    from conftest import TEXT_DIM

    return dict(vocab_size=64, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=2, max_position_embeddings=1024, bos_token_id=None, eos_token_id=None,
                rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]})

def tiny_tokenizer(padding_side: str = "right") -> PreTrainedTokenizerFast:
    """A word-level tokenizer of `WORDS`, padding on `padding_side` (saved with it)."""
    vocab = {w: i for i, w in enumerate(["<pad>", "</s>", "<unk>", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   padding_side=padding_side)


def tiny_umt5(tokenizer) -> UMT5EncoderModel:
    """A one-layer UMT5 encoder (width 16) over `tokenizer`'s words: Wan's text encoder, tiny (AnyFlow's too)."""
    return UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                       relative_attention_num_buckets=8)).eval()


def tiny_vae(kind: str = "wan2.1") -> AutoencoderKLWan:
    """Wan2.1's VAE layout (4 latent channels, 8x), or Wan2.2's (residual, patch 2, 16x, 12 channels)."""
    if kind == "ti2v":
        return AutoencoderKLWan(base_dim=8, z_dim=12, dim_mult=[1, 1, 1, 1], num_res_blocks=1, is_residual=True, in_channels=12, out_channels=12,
                                patch_size=2, scale_factor_spatial=16, temperal_downsample=[False, True, True],
                                latents_mean=[0.0] * 12, latents_std=[1.0] * 12).eval()
    return AutoencoderKLWan(base_dim=8, z_dim=4, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True], latents_mean=[0.0] * 4, latents_std=[1.0] * 4).eval()


def tiny_pipeline(seed: int = 0, kind: str = "wan2.1"):
    """A tiny pipeline of `kind` (see the module docstring)."""
    torch.manual_seed(seed)
    tokenizer = tiny_tokenizer()
    text_encoder = tiny_umt5(tokenizer)
    vae = tiny_vae("ti2v" if kind.startswith("ti2v") else kind)
    channels = vae.config.z_dim
    common = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    if kind in ("wan2.1", "wan2.2", "ti2v"):
        experts = dict(transformer=tiny_transformer(seed, channels=channels))
        if kind == "wan2.2":
            experts["transformer_2"] = tiny_transformer(seed + 1, channels=channels)
        return WanPipeline(**common, **experts, boundary_ratio=0.5 if kind == "wan2.2" else None,
                           expand_timesteps=kind == "ti2v")
    if kind == "ti2v-i2v":
        return WanImageToVideoPipeline(**common, transformer=tiny_transformer(seed, channels=channels), expand_timesteps=True)
    condition = 2 * channels + vae.config.scale_factor_temporal  # noise + mask + image latents
    if kind in ("i2v", "flf2v"):
        clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=CLIP_DIM, intermediate_size=32, num_hidden_layers=2,
                                                              num_attention_heads=2, image_size=32, patch_size=8))
        clip = clip.eval()
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        return WanImageToVideoPipeline(**common, image_encoder=clip, image_processor=processor,
                                       transformer=tiny_transformer(seed, channels=condition, out_channels=channels,
                                                                    image_dim=CLIP_DIM,
                                                                    pos_embed_seq_len=2 * CLIP_TOKENS if kind == "flf2v" else None))
    return WanImageToVideoPipeline(**common, transformer=tiny_transformer(seed, channels=condition, out_channels=channels),
                                   transformer_2=tiny_transformer(seed + 1, channels=condition, out_channels=channels),
                                   boundary_ratio=0.5)


def tiny_vace_transformer(seed: int = 0):
    """A random WanVACETransformer3DModel of `tiny_transformer`'s sizes with one VACE block (at layer 0) reading the
    control latents (the video's inactive and reactive latents, 2 x 4 channels, and the mask's 8 x 8 pixels per
    latent cell: 72 channels)."""
    from diffusers import WanVACETransformer3DModel

    from conftest import TEXT_DIM, jittered

    torch.manual_seed(seed)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, text_dim=TEXT_DIM,
        freq_dim=16, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=64,
        vace_layers=[0], vace_in_channels=2 * 4 + 8 * 8)
    return jittered(transformer)


def tiny_vace_pipeline(seed: int = 0, experts: int = 1):
    """diffusers' `WanVACEPipeline` of `tiny_pipeline`'s Wan2.1 parts and `tiny_vace_transformer`; with 2 `experts`,
    Wan2.2 VACE-Fun's layout (a second one for the low noise, switched at ``boundary_ratio`` 0.5)."""
    from diffusers import WanVACEPipeline

    parts = dict(tiny_pipeline(seed).components, transformer=tiny_vace_transformer(seed))
    if experts == 2:
        parts.update(transformer_2=tiny_vace_transformer(seed + 1), boundary_ratio=0.5)
    return WanVACEPipeline(**parts)


def save_tiny_vace_pipeline(folder: Path, experts: int = 1, **spec) -> Path:
    """Save `tiny_vace_pipeline` with a vidlong.yaml (native 3 latent frames, 32x32 at 8 fps, 2 steps, guidance 2; `spec`
    overrides)."""
    tiny_vace_pipeline(experts=experts).save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-vace", native_frames=NATIVE_LATENT_FRAMES, height=32, width=32, fps=8, num_inference_steps=2,
                       guidance_scale=2.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_skyreels_pipeline():
    """diffusers' `SkyReelsV2Pipeline` of `tiny_pipeline`'s Wan2.1 parts and a `SkyReelsV2Transformer3DModel` of
    `tiny_transformer`'s sizes."""
    from diffusers import SkyReelsV2Pipeline, SkyReelsV2Transformer3DModel

    parts = {name: part for name, part in tiny_pipeline().components.items() if not name.startswith("transformer")}
    return SkyReelsV2Pipeline(**parts, transformer=tiny_transformer(model_class=SkyReelsV2Transformer3DModel))


def tiny_skyreels_df_pipeline(video_to_video: bool = False):
    """diffusers' `SkyReelsV2DiffusionForcingPipeline` (with `video_to_video`, its `SkyReelsV2DiffusionForcingVideoToVideoPipeline`:
    the same weights) of `tiny_pipeline`'s Wan2.1 parts and a `SkyReelsV2Transformer3DModel` with the frame-rate input of its
    diffusion-forcing releases (``inject_sample_info``) and their sampler (UniPC on flow sigmas: its call steps each frame
    with an integer timestep, which Euler's flow sampler refuses)."""
    from diffusers import (SkyReelsV2DiffusionForcingPipeline, SkyReelsV2DiffusionForcingVideoToVideoPipeline,
                           SkyReelsV2Transformer3DModel, UniPCMultistepScheduler)

    parts = {name: part for name, part in tiny_pipeline().components.items() if not name.startswith("transformer")}
    parts["scheduler"] = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=8.0)
    transformer = tiny_transformer(model_class=SkyReelsV2Transformer3DModel, inject_sample_info=True)
    pipeline = SkyReelsV2DiffusionForcingVideoToVideoPipeline if video_to_video else SkyReelsV2DiffusionForcingPipeline
    return pipeline(**parts, transformer=transformer)


def save_tiny_skyreels_df_pipeline(folder: Path, video_to_video: bool = False, **spec) -> Path:
    """Save `tiny_skyreels_df_pipeline` (with `video_to_video`, its video-to-video twin) with a vidlong.yaml (native 3 latent
    frames, 32x32 at 24 fps, 2 steps, guidance 2; `spec` overrides)."""
    tiny_skyreels_df_pipeline(video_to_video).save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-skyreels-df", native_frames=NATIVE_LATENT_FRAMES, height=32, width=32, fps=24,
                       num_inference_steps=2, guidance_scale=2.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_skyreels_i2v_pipeline():
    """diffusers' `SkyReelsV2ImageToVideoPipeline` of `tiny_pipeline`'s Wan2.1 I2V parts (its tiny CLIP) and a
    `SkyReelsV2Transformer3DModel` of the same sizes."""
    from diffusers import SkyReelsV2ImageToVideoPipeline, SkyReelsV2Transformer3DModel

    wan = tiny_pipeline(kind="i2v")
    parts = {name: part for name, part in wan.components.items() if not name.startswith("transformer")}
    config = wan.transformer.config
    transformer = tiny_transformer(channels=config.in_channels, out_channels=config.out_channels, image_dim=CLIP_DIM,
                                   model_class=SkyReelsV2Transformer3DModel)
    return SkyReelsV2ImageToVideoPipeline(**parts, transformer=transformer)


#: the face video's frame size of `tiny_wan_animate_pipeline` (its motion encoder's input; Wan2.2-Animate-14B's: 512)
ANIMATE_FACE_SIZE = 16


def tiny_wan_animate_pipeline():
    """diffusers' `WanAnimatePipeline` of `tiny_pipeline`'s Wan2.1 I2V parts (its tiny CLIP) and a
    `WanAnimateTransformer3DModel` of `tiny_transformer`'s sizes: 4 noise + 4 mask + 4 reference latent channels, pose
    latents of 4, a face motion encoder of 16x16 frames and a face adapter after every block."""
    from diffusers import WanAnimatePipeline, WanAnimateTransformer3DModel

    parts = {name: part for name, part in tiny_pipeline(kind="i2v").components.items() if not name.startswith("transformer")}
    transformer = tiny_transformer(model_class=WanAnimateTransformer3DModel, channels=12, out_channels=4, image_dim=CLIP_DIM,
                                   latent_channels=4, motion_encoder_size=ANIMATE_FACE_SIZE, motion_style_dim=8, motion_dim=4,
                                   motion_encoder_dim=8, motion_encoder_channel_sizes={"16": 8, "8": 8, "4": 8},
                                   face_encoder_hidden_dim=8, face_encoder_num_heads=2, inject_face_latents_blocks=1)
    return WanAnimatePipeline(**parts, transformer=transformer)


def save_tiny_wan_animate_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_wan_animate_pipeline` with a vidlong.yaml (native 3 latent frames: the reference frame and a 5-frame
    segment's 2; 32x32 at 8 fps, 2 steps, guidance 1; `spec` overrides)."""
    tiny_wan_animate_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-animate", native_frames=NATIVE_LATENT_FRAMES, height=32, width=32, fps=8,
                       num_inference_steps=2, guidance_scale=1.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def write_driving_files(folder: Path, frames: int, fps: float, seed: int = 0) -> dict:
    """A character (a 32x32 PNG) and pose (32x32) and face (`ANIMATE_FACE_SIZE`) mp4 videos of random `frames` at `fps`, in
    `folder`: their paths by the CLI flag that takes each."""
    import numpy as np
    from PIL import Image

    from vidlong.video_io import write_video

    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(Path(folder) / "character.png")
    for name, size in (("pose", 32), ("face", ANIMATE_FACE_SIZE)):
        write_video(Path(folder) / f"{name}.mp4", rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8), fps=fps)
    return {"--image": str(Path(folder) / "character.png"), "--pose-video": str(Path(folder) / "pose.mp4"),
            "--face-video": str(Path(folder) / "face.mp4")}


def tiny_lucy_pipeline(experts: int = 1):
    """diffusers' `LucyEditPipeline` of `tiny_pipeline`'s Wan2.1 parts (4 latent channels, 8x) and a one-layer
    `tiny_transformer` taking the noise's 4 channels and the edited video's 4 (4 out), with per-token timesteps
    (``expand_timesteps``) as its release; with `experts` 2, a second one for the low-noise steps (``boundary_ratio``
    0.5), as Wan2.2 A14B's layout."""
    from diffusers import LucyEditPipeline

    parts = {name: part for name, part in tiny_pipeline().components.items() if not name.startswith("transformer")}
    second = dict(transformer_2=tiny_transformer(1, layers=1, channels=8, out_channels=4), boundary_ratio=0.5) \
        if experts == 2 else {}
    return LucyEditPipeline(**parts, transformer=tiny_transformer(layers=1, channels=8, out_channels=4), expand_timesteps=True,
                            **second)


def save_tiny_lucy_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_lucy_pipeline` with a vidlong.yaml (native 3 latent frames, 16x16 at 8 fps: its VAE encodes every frame
    it edits, a quarter of the work of 32x32; 2 steps, guidance 2; `spec` overrides)."""
    tiny_lucy_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-lucy", native_frames=NATIVE_LATENT_FRAMES, height=16, width=16, fps=8, num_inference_steps=2,
                       guidance_scale=2.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_chronoedit_transformer():
    """A `ChronoEditTransformer3DModel` of `tiny_transformer`'s sizes over Wan2.1 I2V's 4 noise + 4 mask + 4 image channels
    (4 out) with CLIP states (`CLIP_DIM`), its heads of 12 channels (where its RoPE module's table split, 2·(D // 6) a
    spatial axis, and its forward's, D // 3, agree, as at its release's 128)."""
    from diffusers import ChronoEditTransformer3DModel

    return tiny_transformer(channels=12, out_channels=4, image_dim=CLIP_DIM, head_dim=12,
                            model_class=ChronoEditTransformer3DModel)


def tiny_chronoedit_pipeline():
    """diffusers' `ChronoEditPipeline` of `tiny_pipeline`'s Wan2.1 I2V parts (its tiny CLIP, 4 latent channels, 8x),
    `tiny_chronoedit_transformer` and UniPC's flow sampler (its call trims UniPC's history when its temporal reasoning ends
    before its last step: a sampler without one fails there)."""
    from diffusers import ChronoEditPipeline, UniPCMultistepScheduler

    parts = {name: part for name, part in tiny_pipeline(kind="i2v").components.items()
             if name not in ("transformer", "transformer_2", "scheduler")}
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return ChronoEditPipeline(**parts, transformer=tiny_chronoedit_transformer(), scheduler=scheduler)


def save_tiny_chronoedit_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_chronoedit_pipeline` with a vidlong.yaml (native 3 latent frames, 32x32 at 8 fps, 2 steps, guidance 2;
    `spec` overrides)."""
    tiny_chronoedit_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-chronoedit", native_frames=NATIVE_LATENT_FRAMES, height=32, width=32, fps=8,
                       num_inference_steps=2, guidance_scale=2.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def save_tiny_pipeline(folder: Path, kind: str = "wan2.1", spec: bool = True) -> Path:
    """Save the tiny pipeline of `kind`, with a vidlong.yaml (native 3 latent frames, 32x32, 2 steps)
    unless `spec` is False."""
    tiny_pipeline(kind=kind).save_pretrained(folder, safe_serialization=True)
    if spec:
        values = dict(name=f"tiny-{kind}", native_frames=NATIVE_LATENT_FRAMES, fps=8, height=32, width=32,
                      num_inference_steps=2, guidance_scale=2.0)
        (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_ltx_pipeline():
    """diffusers' `LTXPipeline` of tiny random parts: an LTX VAE with LTX-Video's 32x spatial and 8x
    temporal compression (patch 4, three down-samplings), a one-layer T5 encoder, `tiny_ltx_transformer`."""
    from diffusers import AutoencoderKLLTXVideo, LTXPipeline
    from transformers import T5Config, T5EncoderModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_ltx_transformer

    torch.manual_seed(0)
    levels = (True, True, True, False)
    vae = AutoencoderKLLTXVideo(latent_channels=IN_CHANNELS, block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
                                layers_per_block=(1,) * 5, decoder_layers_per_block=(1,) * 5, spatio_temporal_scaling=levels,
                                decoder_spatio_temporal_scaling=levels, decoder_inject_noise=(False,) * 5,
                                upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae.eval(), text_encoder=text_encoder.eval(),
                       tokenizer=tiny_tokenizer(), transformer=tiny_ltx_transformer())


def save_tiny_ltx_pipeline(folder: Path, pipeline: str = "LTXPipeline", **spec) -> Path:
    """`tiny_ltx_pipeline`'s parts saved as diffusers' `pipeline` class (LTX-Video's share their parts:
    "LTXConditionPipeline", "LTXI2VLongMultiPromptPipeline") with a vidlong.yaml (native 2 latent frames = 9 frames at
    25 fps, 64x64, 2 steps, guidance 2; `spec` overrides)."""
    import diffusers

    getattr(diffusers, pipeline)(**tiny_ltx_pipeline().components).save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-ltx-video", native_frames=2, height=64, width=64, fps=25, num_inference_steps=2,
                       guidance_scale=2.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def save_tiny_latent_upsampler(folder: Path, family: str, scale: float = 2.0, temporal: bool = False) -> Path:
    """A tiny random latent upsampler saved in `folder`: diffusers' `LTXLatentUpsamplerModel` (`family` "ltx-video") or
    `LTX2LatentUpsamplerModel` ("ltx-2"), 2x in space (LTX-2's: its rational resampler's `scale`, 1.5 as its 1.5x
    releases; `temporal`: LTX-2.5's temporal one instead, ``2F - 1`` latent frames of F), `IN_CHANNELS` latent channels, 32
    middle channels (its GroupNorm's 32 groups), one ResBlock a stage."""
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    from conftest import IN_CHANNELS

    torch.manual_seed(1)
    model_class = {"ltx-video": LTXLatentUpsamplerModel, "ltx-2": LTX2LatentUpsamplerModel}[family]
    scaled = {} if family == "ltx-video" else dict(rational_spatial_scale=scale)
    if temporal:
        scaled = dict(spatial_upsample=False, temporal_upsample=True)
    model_class(in_channels=IN_CHANNELS, mid_channels=32, num_blocks_per_stage=1, **scaled).save_pretrained(folder)
    return Path(folder)


def tiny_cogvideox_pipeline(patch_size_t=None):
    """diffusers' `CogVideoXPipeline` of tiny random parts: a CogVideoX VAE (8x space, 4x time), a one-layer
    T5 encoder, `tiny_cogvideox_transformer` with CogVideoX-5B's RoPE (`patch_size_t` 2: CogVideoX1.5's layout)."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXPipeline
    from transformers import T5Config, T5EncoderModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_cogvideox_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
                                 block_out_channels=(8,) * 4, latent_channels=IN_CHANNELS, layers_per_block=1,
                                 norm_num_groups=2)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return CogVideoXPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
                             transformer=tiny_cogvideox_transformer(patch_size_t=patch_size_t), scheduler=CogVideoXDDIMScheduler())


def tiny_hunyuan_pipeline():
    """diffusers' `HunyuanVideoPipeline` of tiny random parts: a HunyuanVideo VAE (8x space, 4x time), a
    three-layer Llama text encoder (the pipeline reads its third-last hidden states), a one-layer CLIP
    text encoder for the pooled prompt, `tiny_hunyuan_transformer`; both tokenizers are the tiny word-level one."""
    from diffusers import AutoencoderKLHunyuanVideo, HunyuanVideoPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, LlamaConfig, LlamaModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_hunyuan_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(latent_channels=IN_CHANNELS, block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4)
    llama = LlamaModel(LlamaConfig(vocab_size=64, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=3,
                                   num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512))
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=77, bos_token_id=1, eos_token_id=1,
                                        pad_token_id=0))
    return HunyuanVideoPipeline(text_encoder=llama.eval(), tokenizer=tiny_tokenizer(), transformer=tiny_hunyuan_transformer(),
                                vae=vae.eval(), scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder_2=clip.eval(),
                                tokenizer_2=tiny_tokenizer())


def tiny_hunyuan_i2v_pipeline(image_condition_type: str = "token_replace"):
    """diffusers' `HunyuanVideoImageToVideoPipeline` of `tiny_hunyuan_pipeline`'s VAE and CLIP text encoder, a tiny LLaVA
    (a three-layer Llama and a one-layer CLIP vision tower whose 48x48 images give the 576 image tokens its prompt
    template expands) with a word-level tokenizer that knows the template's header tokens, and a transformer of
    `image_condition_type` ("token_replace" or "latent_concat")."""
    from diffusers import HunyuanVideoImageToVideoPipeline
    from transformers import LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    from conftest import TEXT_DIM, tiny_hunyuan_transformer

    headers = ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>"]
    tokenizer = tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": headers})
    torch.manual_seed(2)
    llava = LlavaForConditionalGeneration(LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=48, patch_size=2),
        text_config=LlamaConfig(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=3,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                                pad_token_id=tokenizer.pad_token_id),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), pad_token_id=tokenizer.pad_token_id))
    parts = tiny_hunyuan_pipeline().components
    return HunyuanVideoImageToVideoPipeline(
        text_encoder=llava.eval(), tokenizer=tokenizer,
        transformer=tiny_hunyuan_transformer(image_condition_type=image_condition_type),
        vae=parts["vae"], scheduler=parts["scheduler"], text_encoder_2=parts["text_encoder_2"], tokenizer_2=parts["tokenizer_2"],
        image_processor=CLIPImageProcessor(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48}))


def tiny_hunyuan_skyreels_pipeline():
    """diffusers' `HunyuanSkyreelsImageToVideoPipeline` (SkyReels V1) of `tiny_hunyuan_pipeline`'s parts and a transformer
    taking the image's latent as C more input channels."""
    from diffusers import HunyuanSkyreelsImageToVideoPipeline

    from conftest import IN_CHANNELS, tiny_hunyuan_transformer

    parts = dict(tiny_hunyuan_pipeline().components, transformer=tiny_hunyuan_transformer(channels=2 * IN_CHANNELS))
    return HunyuanSkyreelsImageToVideoPipeline(**parts)


def tiny_hunyuan15_pipeline():
    """diffusers' `HunyuanVideo15Pipeline` of tiny random parts: a HunyuanVideo 1.5 VAE (16x space, 4x time), a
    two-layer Qwen2.5-VL text model (the pipeline reads its third-last hidden states) whose tokenizer's chat
    template puts the pipeline's 108 cropped template tokens before the prompt, a one-layer T5 for ByT5 (with
    diffusers' byte tokenizer), `tiny_hunyuan15_transformer`, classifier-free guidance at 6."""
    from diffusers import AutoencoderKLHunyuanVideo15, ClassifierFreeGuidance, HunyuanVideo15Pipeline
    from transformers import ByT5Tokenizer, Qwen2_5_VLTextConfig, Qwen2_5_VLTextModel, T5Config, T5EncoderModel

    from conftest import HV15_BYT5_DIM, IN_CHANNELS, TEXT_DIM, tiny_hunyuan15_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo15(latent_channels=IN_CHANNELS, block_out_channels=(8,) * 5, layers_per_block=1)
    qwen = Qwen2_5_VLTextModel(Qwen2_5_VLTextConfig(
        vocab_size=64, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=2048, bos_token_id=None, eos_token_id=None,
        rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]}))
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = "{{ 'the ' * 108 }}{% for m in messages if m['role'] == 'user' %}{{ m['content'] }}{% endfor %}"
    byt5 = T5EncoderModel(T5Config(vocab_size=384, d_model=HV15_BYT5_DIM, d_kv=8, d_ff=16, num_layers=1, num_heads=2))
    return HunyuanVideo15Pipeline(text_encoder=qwen.eval(), tokenizer=tokenizer, transformer=tiny_hunyuan15_transformer(),
                                  vae=vae.eval(), scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0),
                                  text_encoder_2=byt5.eval(), tokenizer_2=ByT5Tokenizer(),
                                  guider=ClassifierFreeGuidance(guidance_scale=6.0))


def tiny_hunyuan15_i2v_pipeline():
    """diffusers' `HunyuanVideo15ImageToVideoPipeline` of `tiny_hunyuan15_pipeline`'s parts and a one-layer SigLIP
    vision model (32x32 images, 16 tokens)."""
    from diffusers import HunyuanVideo15ImageToVideoPipeline
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    from conftest import HV15_IMAGE_DIM

    torch.manual_seed(1)
    siglip = SiglipVisionModel(SiglipVisionConfig(hidden_size=HV15_IMAGE_DIM, intermediate_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, image_size=32, patch_size=8))
    return HunyuanVideo15ImageToVideoPipeline(**tiny_hunyuan15_pipeline().components, image_encoder=siglip.eval(),
                                              feature_extractor=SiglipImageProcessor(size={"height": 32, "width": 32}))


def tiny_ltx_i2v_pipeline():
    """diffusers' `LTXImageToVideoPipeline` of `tiny_ltx_pipeline`'s parts (LTX-Video's two tasks share weights)."""
    from diffusers import LTXImageToVideoPipeline

    return LTXImageToVideoPipeline(**tiny_ltx_pipeline().components)


def tiny_ltx_long_pipeline():
    """diffusers' `LTXI2VLongMultiPromptPipeline` (LTX-Video made long by its own windows) of `tiny_ltx_pipeline`'s parts."""
    from diffusers import LTXI2VLongMultiPromptPipeline

    return LTXI2VLongMultiPromptPipeline(**tiny_ltx_pipeline().components)


def tiny_cogvideox_i2v_pipeline(patch_size_t=None):
    """diffusers' `CogVideoXImageToVideoPipeline` of `tiny_cogvideox_pipeline`'s parts, its transformer taking the
    image's latent channels too (`patch_size_t` 2: CogVideoX1.5-I2V's layout, with its ``ofs`` embedding)."""
    from diffusers import CogVideoXImageToVideoPipeline

    from conftest import IN_CHANNELS, tiny_cogvideox_transformer

    parts = tiny_cogvideox_pipeline().components
    return CogVideoXImageToVideoPipeline(**dict(parts, transformer=tiny_cogvideox_transformer(in_channels=2 * IN_CHANNELS,
                                                                                              patch_size_t=patch_size_t)))


def tiny_consisid_pipeline(face: bool = True, kps: bool = False):
    """diffusers' `ConsisIDPipeline` of `tiny_cogvideox_pipeline`'s VAE and T5 encoder, `conftest.tiny_consisid_transformer`
    (`face`: ``is_train_face``, `kps`: ``is_kps``) and CogVideoX's DDIM sampler (deterministic: `generate` is its call with
    the same seed, bit for bit; its release ships CogVideoX's stochastic DPM one)."""
    from diffusers import ConsisIDPipeline

    from conftest import tiny_consisid_transformer

    parts = tiny_cogvideox_pipeline().components
    return ConsisIDPipeline(**dict(parts, transformer=tiny_consisid_transformer(face=face, kps=kps)))


def tiny_ltx2_vae():
    """A tiny LTX-2 video VAE (LTX-2's and Sana-WM's) with its releases' 32x spatial and 8x temporal compression (patch 4, a
    spatial, a temporal and two spatio-temporal down-samplings), `IN_CHANNELS` latent channels, in eval mode."""
    from diffusers import AutoencoderKLLTX2Video

    from conftest import IN_CHANNELS

    vae = AutoencoderKLLTX2Video(
        latent_channels=IN_CHANNELS, block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 3,
        layers_per_block=(1,) * 5, decoder_layers_per_block=(1,) * 4, spatio_temporal_scaling=(True,) * 4,
        decoder_spatio_temporal_scaling=(True,) * 3, decoder_inject_noise=(False,) * 4,
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"), upsample_residual=(False,) * 3,
        upsample_factor=(1,) * 3, timestep_conditioning=False, patch_size=4, patch_size_t=1, spatial_compression_ratio=32,
        temporal_compression_ratio=8)
    return vae.eval()


def tiny_ltx2_text_parts(tokenizer) -> tuple:
    """(a two-layer Gemma 3 text model over `tokenizer`, with the tiny SigLIP its class holds; its LTX-2 text connectors),
    in eval mode: LTX-2's text side, and Sana-WM's refiner's."""
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    from conftest import TEXT_DIM

    text = Gemma3TextConfig(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=8, sliding_window=8,
                            pad_token_id=tokenizer.pad_token_id)
    vision = SiglipVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                image_size=8, patch_size=4)
    gemma = Gemma3ForConditionalGeneration(Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4))
    connectors = LTX2TextConnectors(
        caption_channels=TEXT_DIM, text_proj_in_factor=text.num_hidden_layers + 1, video_connector_num_attention_heads=2,
        video_connector_attention_head_dim=8, video_connector_num_layers=1, video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2, audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    return gemma.eval(), connectors.eval()


def tiny_ltx2_pipeline(latest: bool = False, keyframes: bool = False):
    """diffusers' `LTX2Pipeline` of tiny random parts: an LTX-2 video VAE with its releases' 32x spatial and 8x temporal
    compression (patch 4, a spatial, a temporal and two spatio-temporal down-samplings), an audio VAE and a vocoder
    (16 kHz, 160 samples per mel frame: audio as long as the video; its decoder causal in time and 4x up, as its
    releases'), a two-layer Gemma 3 text model (with the tiny SigLIP its class holds) and its connectors
    (`tiny_ltx2_text_parts`), `tiny_ltx2_transformer` (`latest`: LTX-2.3's parts; `keyframes`: LTX-2.5's marker)."""
    from diffusers import AutoencoderKLLTX2Audio, LTX2Pipeline
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    from conftest import tiny_ltx2_transformer

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    gemma, connectors = tiny_ltx2_text_parts(tokenizer)
    vae = tiny_ltx2_vae()
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
    vocoder = LTX2Vocoder(in_channels=2 * 8, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[8, 10, 16],
                          upsample_factors=[4, 5, 8], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
                          leaky_relu_negative_slope=0.1, output_sampling_rate=16000)
    return LTX2Pipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae.eval(),
                        text_encoder=gemma, tokenizer=tokenizer, connectors=connectors,
                        transformer=tiny_ltx2_transformer(latest=latest, keyframes=keyframes), vocoder=vocoder.eval())


def save_tiny_ltx2_pipeline(folder: Path, latest: bool = False, pipeline: str = "LTX2Pipeline", keyframes: bool = False,
                            **spec) -> Path:
    """Save `tiny_ltx2_pipeline`'s parts as diffusers' `pipeline` class (LTX-2's share their parts: "LTX2ConditionPipeline",
    "LTX2InContextPipeline", "LTX2DFRPipeline" with LTX-2.5's `keyframes` marker: those its constructor takes) with a
    vidlong.yaml (native 2 latent frames = 9 frames at 24 fps, 64x64, 2 steps, guidance 3; `spec` overrides)."""
    import inspect

    import diffusers

    cls = getattr(diffusers, pipeline)
    takes = inspect.signature(cls.__init__).parameters
    parts = {name: part for name, part in tiny_ltx2_pipeline(latest, keyframes).components.items() if name in takes}
    if pipeline == "LTX2HDRPipeline":  # it reads its connectors' padding side from the tokenizer once, where its encoding pads
        parts["tokenizer"] = tiny_tokenizer(padding_side="left")  # left, as Gemma's: the right one would leave its text unread
    cls(**parts).save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-ltx2", native_frames=2, height=64, width=64, fps=24, num_inference_steps=2,
                       guidance_scale=3.0, temporal_ratio=8), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def save_tiny_ltx2_decoder(folder: Path, channels: int = 16, head_dim: int = 16, patch: int = 8) -> Path:
    """Save diffusers' `LTX2VideoDiffusionDecodePipeline` of a tiny random `LTX2VideoDiffusionDecoderModel` in `folder`: the
    tiny LTX-2 VAE's 32x space and 8x time (upsample strides 1, 2x time, 2x and 2x, then patches of 8 pixels) and its
    `IN_CHANNELS` latent channels, one block a stage of 16 channels (one head of 16), kernels of 3 latent frames and 1
    cell (3x3x3 in the last stage and the diffusion stage, which one x0 step runs: its release's), no VAE (the LTX-2
    statistics unused: its ``denormalize=False``). `channels`, `head_dim`, `patch`: other sizes (a decoder of patches of 4
    pixels makes 16x the latents' size, not the VAE's 32x)."""
    from diffusers import LTX2VideoDiffusionDecodePipeline
    from diffusers.models.autoencoders import LTX2VideoDiffusionDecoderModel

    from conftest import IN_CHANNELS

    torch.manual_seed(0)
    model = LTX2VideoDiffusionDecoderModel(
        latent_channels=IN_CHANNELS, patch_size=patch, decoder_head_dim=head_dim, decoder_stage_channels=(channels,) * 5,
        decoder_stage_depths=(1,) * 5, decoder_stage_kernels=((3, 1, 1),) * 3 + ((3, 3, 3),),
        decoder_upsample_strides=((1, 1, 1), (2, 1, 1), (2, 2, 2), (2, 2, 2)), decoder_upsample_channel_reductions=(1,) * 4,
        decoder_stage5_kernel=(3, 3, 3), decoder_t_emb_dim=16)
    LTX2VideoDiffusionDecodePipeline(diffusion_decoder=model.eval(), scheduler=FlowMatchEulerDiscreteScheduler()).save_pretrained(
        folder, safe_serialization=True)
    return Path(folder)


def save_tiny_cogvideox_fun_pipeline(folder: Path, **spec) -> Path:
    """diffusers' `CogVideoXFunControlPipeline` of `tiny_cogvideox_pipeline`'s parts, its transformer taking the control
    video's latent channels too, saved with a vidlong.yaml (native 3 latent frames, 32x48 at 8 fps, 2 steps, guidance 6;
    `spec` overrides)."""
    from diffusers import CogVideoXFunControlPipeline

    from conftest import IN_CHANNELS, tiny_cogvideox_transformer

    parts = tiny_cogvideox_pipeline().components
    pipe = CogVideoXFunControlPipeline(**dict(parts, transformer=tiny_cogvideox_transformer(in_channels=2 * IN_CHANNELS)))
    pipe.save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-cogvideox-fun", native_frames=3, height=32, width=48, fps=8, num_inference_steps=2,
                       guidance_scale=6.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_mochi_pipeline():
    """diffusers' `MochiPipeline` of tiny random parts: a Mochi VAE (8x space, 6x time; 32 channels a level, the fewest
    its 32-group norms take; no attention blocks), a one-layer T5 encoder, `tiny_mochi_transformer`, and its release's
    sampler (flow matching whose timesteps count up: ``invert_sigmas``)."""
    from diffusers import AutoencoderKLMochi, MochiPipeline
    from transformers import T5Config, T5EncoderModel

    from conftest import TEXT_DIM, tiny_mochi_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLMochi(encoder_block_out_channels=(32,) * 4, decoder_block_out_channels=(32,) * 4,
                             layers_per_block=(1,) * 5, add_attention_block=(False,) * 5)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return MochiPipeline(scheduler=FlowMatchEulerDiscreteScheduler(invert_sigmas=True), vae=vae.eval(),
                         text_encoder=text_encoder.eval(), tokenizer=tiny_tokenizer(), transformer=tiny_mochi_transformer())


def tiny_kandinsky5_pipeline(image_to_video: bool = False, visual_cond: Optional[bool] = None):
    """diffusers' `Kandinsky5T2VPipeline` (with `image_to_video`, `Kandinsky5I2VPipeline`) of tiny random parts: a
    HunyuanVideo VAE (8x space, 4x time), a two-layer Qwen2.5-VL (its call reads the last hidden states past the 128 tokens
    of its prompt template's start; the word-level tokenizer splits the template into more than that), a one-layer CLIP
    text encoder for the pooled prompt, `tiny_kandinsky5_transformer`, with the image's condition channels
    (``visual_cond``) where `visual_cond` (by default: image to video, as its releases' are)."""
    from diffusers import AutoencoderKLHunyuanVideo, Kandinsky5I2VPipeline, Kandinsky5T2VPipeline
    from transformers import CLIPTextConfig, CLIPTextModel, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from conftest import IN_CHANNELS, K5_POOLED_DIM, TEXT_DIM, tiny_kandinsky5_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(latent_channels=IN_CHANNELS, block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4)
    qwen = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=tiny_qwen_vl_text(),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=TEXT_DIM,
                           fullatt_block_indexes=[0])))
    clip = CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=K5_POOLED_DIM, intermediate_size=16, num_hidden_layers=1,
                                        num_attention_heads=2, max_position_embeddings=77, bos_token_id=1, eos_token_id=1,
                                        pad_token_id=0))
    pipeline = Kandinsky5I2VPipeline if image_to_video else Kandinsky5T2VPipeline
    visual_cond = image_to_video if visual_cond is None else visual_cond
    return pipeline(transformer=tiny_kandinsky5_transformer(visual_cond=visual_cond), vae=vae.eval(), text_encoder=qwen.eval(),
                    tokenizer=tiny_tokenizer(), text_encoder_2=clip.eval(), tokenizer_2=tiny_tokenizer(),
                    scheduler=FlowMatchEulerDiscreteScheduler(shift=5.0))



def tiny_kandinsky6_pipeline():
    """diffusers' `Kandinsky6TI2VAPipeline` of tiny random parts: `tiny_kandinsky5_pipeline`'s HunyuanVideo VAE, Qwen2.5-VL
    and CLIP text encoders, `tiny_kandinsky6_transformer`, and a tiny MMAudio VAE (8 mel bins, 4 latent channels, a latent
    frame every 128 samples at 16 kHz) with its vocoder (64x up: the VAE's mel hop)."""
    from diffusers import Kandinsky6TI2VAPipeline, MMAudioVAE, MMAudioVocoder

    from conftest import tiny_kandinsky6_transformer

    parts = tiny_kandinsky5_pipeline().components
    torch.manual_seed(0)
    audio_vae = MMAudioVAE(mel_bins=8, latent_channels=4, hidden_channels=8, channel_multipliers=(1, 2), layers_per_block=1,
                           sample_rate=16000, n_fft=128, hop_length=64)
    vocoder = MMAudioVocoder(num_mels=8, upsample_initial_channel=16, upsample_rates=(8, 8), upsample_kernel_sizes=(16, 16),
                             resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1,),))
    return Kandinsky6TI2VAPipeline(transformer=tiny_kandinsky6_transformer(), vae=parts["vae"], text_encoder=parts["text_encoder"],
                                   tokenizer=parts["tokenizer"], text_encoder_2=parts["text_encoder_2"],
                                   tokenizer_2=parts["tokenizer_2"], scheduler=parts["scheduler"], audio_vae=audio_vae.eval(),
                                   vocoder=vocoder.eval())


def save_tiny_kandinsky6_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_kandinsky6_pipeline` with a vidlong.yaml (native 3 latent frames = 9 frames at 24 fps, 32x48, 2 steps,
    guidance 2; `spec` overrides)."""
    tiny_kandinsky6_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-kandinsky6", native_frames=3, height=32, width=48, fps=24, num_inference_steps=2,
                       guidance_scale=2.0), **spec)
    (folder / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return folder


def save_tiny_kandinsky6_sr(folder: Path, axes_dims=(4, 2, 2), **settings) -> Path:
    """Save diffusers' `Kandinsky6SRPipeline` of tiny random parts in `folder`: a one-block SR transformer (4 latent
    channels, a head of sum(`axes_dims`) channels: (8, 4, 4) for CUDA's compiled flex, which takes 16 at least; a plain
    velocity output, tiles of 64x64, 64x96 and 96x64 pixels: 16 or 24 tokens a side, NABLA's 8-token
    blocks), a K-VAE of 4x space and 4x time (three levels of 4 or 8 channels, one block each), a latent upscaler bank of
    8 channels (x2 and x4) and a flow-matching scheduler; `settings` (window_frames, overlap_frames,
    num_inference_steps) in its vidlong.yaml where given."""
    from diffusers import (Kandinsky6SRLatentUpscalerBank, Kandinsky6SRPipeline, Kandinsky6SRTransformer3DModel,
                           Kandinsky6SRVAE)

    torch.manual_seed(0)
    transformer = Kandinsky6SRTransformer3DModel(in_visual_dim=4, out_visual_dim=4, time_dim=16, model_dim=16, ff_dim=32,
                                                 num_visual_blocks=1, axes_dims=axes_dims, nabla_window=(3, 3, 3),
                                                 tile_sizes=((64, 64), (64, 96), (96, 64)))
    vae = Kandinsky6SRVAE(latent_channels=4, encoder_block_out_channels=(4, 8, 8), decoder_block_out_channels=(4, 8, 8),
                          layers_per_block=1, temporal_compression_start_level=0)
    bank = Kandinsky6SRLatentUpscalerBank(in_channels=4, stage_channels=(8, 8, 8), num_pre_blocks=1, num_mid_blocks=1,
                                          num_post_blocks=1, num_x2_adapter_blocks=1)
    Kandinsky6SRPipeline(transformer=transformer, vae=vae.eval(), scheduler=FlowMatchEulerDiscreteScheduler(),
                         latent_upscaler=bank).save_pretrained(folder, safe_serialization=True)
    if settings:
        (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(settings))
    return Path(folder)


def tiny_motif_pipeline(image_to_video: bool = False):
    """diffusers' `MotifVideoPipeline` (with `image_to_video`, `MotifVideoImage2VideoPipeline`) of tiny random parts:
    `tiny_vae` (Wan2.1's layout, 8x space, 4x time), a one-layer T5Gemma2 encoder (its SigLIP tower one tiny layer too, 4
    states of an 8x8 image; text to video reads none of it), `tiny_motif_transformer` (image to video: with the projection
    of those states), a flow-matching scheduler that shifts by the token count (as its call's ``mu``) and classifier-free
    guidance at 2; image to video, a SigLIP image processor at 8x8 pixels."""
    from diffusers import ClassifierFreeGuidance, MotifVideoImage2VideoPipeline, MotifVideoPipeline
    from transformers import (SiglipImageProcessor, SiglipVisionConfig, T5Gemma2Encoder, T5Gemma2EncoderConfig,
                              T5Gemma2TextConfig)

    from conftest import MOTIF_IMAGE_DIM, TEXT_DIM, tiny_motif_transformer

    torch.manual_seed(0)
    text = T5Gemma2TextConfig(vocab_size=64, hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=1,
                              num_attention_heads=2, num_key_value_heads=2, head_dim=8, max_position_embeddings=512,
                              dropout_rate=0.0)
    vision = SiglipVisionConfig(hidden_size=MOTIF_IMAGE_DIM, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                                image_size=8, patch_size=4)
    text_encoder = T5Gemma2Encoder(T5Gemma2EncoderConfig(text_config=text, vision_config=vision))
    parts = dict(scheduler=FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True), vae=tiny_vae(),
                 text_encoder=text_encoder.eval(), tokenizer=tiny_tokenizer(),
                 transformer=tiny_motif_transformer(image=image_to_video), guider=ClassifierFreeGuidance(guidance_scale=2.0))
    if image_to_video:
        return MotifVideoImage2VideoPipeline(**parts, feature_extractor=SiglipImageProcessor(size={"height": 8, "width": 8}))
    return MotifVideoPipeline(**parts)


def tiny_easyanimate_pipeline(image_to_video: bool = False):
    """diffusers' `EasyAnimatePipeline` (with `image_to_video`, `EasyAnimateInpaintPipeline`) of tiny random parts: a
    MagVIT VAE (8x space, 4x time: four levels of 4 channels with their fewest layers, a causal residual block in each of
    the decoder's and in the middle, none in the encoder's; each causal convolution runs once per frame, so fewer is
    faster), a two-layer Qwen2-VL (its call reads the second-last hidden states of its chat template; a template of the
    user's text alone here), `tiny_easyanimate_transformer` (image to video: its InP input
    channels, and its VAE's config saying ``cache_mag_vae``, which diffusers' inpaint call reads and `AutoencoderKLMagvit`
    registers none of: EasyAnimate's releases are taken to write it) and a flow-matching scheduler."""
    from diffusers import AutoencoderKLMagvit, EasyAnimateInpaintPipeline, EasyAnimatePipeline
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_easyanimate_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLMagvit(latent_channels=IN_CHANNELS, block_out_channels=(4,) * 4, layers_per_block=0, norm_num_groups=2)
    qwen = Qwen2VLForConditionalGeneration(Qwen2VLConfig(
        text_config=tiny_qwen_vl_text(),
        vision_config=dict(depth=1, embed_dim=16, hidden_size=TEXT_DIM, mlp_ratio=1, num_heads=2)))
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = "{% for m in messages %}{% for c in m['content'] %}{{ c['text'] }}{% endfor %}{% endfor %}"
    pipeline = EasyAnimateInpaintPipeline if image_to_video else EasyAnimatePipeline
    if image_to_video:
        vae.register_to_config(cache_mag_vae=True)
    return pipeline(vae=vae.eval(), text_encoder=qwen.eval(), tokenizer=tokenizer,
                    transformer=tiny_easyanimate_transformer(inpaint=image_to_video), scheduler=FlowMatchEulerDiscreteScheduler())


def tiny_allegro_pipeline():
    """diffusers' `AllegroPipeline` of tiny random parts: an Allegro VAE (8x space, 4x time: four levels of 2 channels with
    its fewest layers, tiles of 32x32 pixels, its ``sample_size``, so that a 32x32 video is one tile in space; its tiles
    in time are the class's, 24 pixel frames), a one-layer T5 encoder, `tiny_allegro_transformer` and its release's
    sampler, `EulerAncestralDiscreteScheduler` (diffusers' defaults: DDPM's linear betas, linspace timesteps)."""
    from diffusers import AllegroPipeline, AutoencoderKLAllegro, EulerAncestralDiscreteScheduler
    from transformers import T5Config, T5EncoderModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_allegro_transformer

    torch.manual_seed(0)
    vae = AutoencoderKLAllegro(latent_channels=IN_CHANNELS, block_out_channels=(2,) * 4, layers_per_block=0, norm_num_groups=1,
                               sample_size=32)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return AllegroPipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
                           transformer=tiny_allegro_transformer(), scheduler=EulerAncestralDiscreteScheduler())


def tiny_anyflow_pipeline():
    """diffusers' `AnyFlowPipeline` (the bidirectional one) of tiny random parts: `tiny_vae` (Wan2.1's layout, 8x space, 4x
    time), a one-layer UMT5 encoder, `tiny_anyflow_transformer` and its flow-map sampler shifted by 3 (so that a step's
    target is not the linear schedule's)."""
    from diffusers import AnyFlowPipeline, FlowMapEulerDiscreteScheduler

    from conftest import tiny_anyflow_transformer

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    text_encoder = tiny_umt5(tokenizer)
    return AnyFlowPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=tiny_anyflow_transformer(),
                           vae=tiny_vae(), scheduler=FlowMapEulerDiscreteScheduler(shift=3.0))


def tiny_anyflow_far_pipeline():
    """diffusers' `AnyFlowFARPipeline` (AnyFlow FAR, block-causal) of tiny random parts: `tiny_vae`, a one-layer UMT5 encoder,
    `tiny_anyflow_far_transformer` (chunks 1, 2, 2, 2) and its flow-map sampler shifted by 3."""
    from diffusers import AnyFlowFARPipeline, FlowMapEulerDiscreteScheduler

    from conftest import tiny_anyflow_far_transformer

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    text_encoder = tiny_umt5(tokenizer)
    return AnyFlowFARPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=tiny_anyflow_far_transformer(),
                              vae=tiny_vae(), scheduler=FlowMapEulerDiscreteScheduler(shift=3.0))


def tiny_helios_pipeline():
    """diffusers' `HeliosPipeline` of tiny random parts: `tiny_vae`, a one-layer UMT5 encoder, `tiny_helios_transformer` and
    its scheduler (diffusers' defaults but one stage and Euler's steps, as Helios-Base's call sets its timesteps)."""
    from diffusers import HeliosPipeline, HeliosScheduler

    from conftest import tiny_helios_transformer

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    text_encoder = tiny_umt5(tokenizer)
    return HeliosPipeline(tokenizer=tokenizer, text_encoder=text_encoder, transformer=tiny_helios_transformer(), vae=tiny_vae(),
                          scheduler=HeliosScheduler(stages=1, scheduler_type="euler", use_dynamic_shifting=True))


def tiny_helios_pyramid_pipeline(is_cfg_zero_star: bool = False):
    """diffusers' `HeliosPyramidPipeline` as Helios-Distilled's (``is_distilled``; `is_cfg_zero_star` given) of
    `tiny_helios_pipeline`'s parts and a DMD scheduler of 2 stages (diffusers' defaults but the stages and their range)."""
    from diffusers import HeliosDMDScheduler, HeliosPyramidPipeline

    base = tiny_helios_pipeline()
    return HeliosPyramidPipeline(**{name: getattr(base, name) for name in ("tokenizer", "text_encoder", "transformer", "vae")},
                                 scheduler=HeliosDMDScheduler(stages=2, stage_range=[0, 0.5, 1], use_dynamic_shifting=True),
                                 is_distilled=True, is_cfg_zero_star=is_cfg_zero_star)


def tiny_framepack_pipeline():
    """diffusers' `HunyuanVideoFramepackPipeline` of `tiny_hunyuan_pipeline`'s VAE, text encoders and scheduler,
    `tiny_framepack_transformer` and a one-layer SigLIP vision tower (16x16 images in 4 patches) with its image processor."""
    from diffusers import HunyuanVideoFramepackPipeline
    from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

    from conftest import FRAMEPACK_IMAGE_DIM, tiny_framepack_transformer

    torch.manual_seed(3)
    siglip = SiglipVisionModel(SiglipVisionConfig(hidden_size=FRAMEPACK_IMAGE_DIM, intermediate_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, image_size=16, patch_size=8))
    parts = dict(tiny_hunyuan_pipeline().components, transformer=tiny_framepack_transformer(), image_encoder=siglip.eval(),
                 feature_extractor=SiglipImageProcessor(size={"height": 16, "width": 16}))
    return HunyuanVideoFramepackPipeline(**parts)


class PassingSafetyChecker(ModelMixin, ConfigMixin):
    """The tests' stand-in for NVIDIA's guardrail (cosmos_guardrail's `CosmosSafetyChecker`, not installed here), without
    which diffusers' Cosmos pipelines do not run: every prompt passes its text check (a model of one parameter, so that
    diffusers saves and loads it with the pipeline)."""

    @register_to_config
    def __init__(self):
        super().__init__()
        self._weight = torch.nn.Parameter(torch.zeros(1))

    def check_text_safety(self, prompt: str) -> bool:
        return True

    def check_video_safety(self, frames):
        """Every video passes: uint8 ``[T, H, W, 3]`` back as it is (Predict2's call checks every video with any checker)."""
        return frames


def tiny_cosmos_pipeline():
    """diffusers' `Cosmos2_5_PredictBasePipeline` of tiny random parts: `tiny_vae` (Wan2.1's layout, 8x space, 4x time), a
    two-layer Qwen2.5-VL (its call joins every layer's normalised states, 2·`TEXT_DIM` wide, of its chat template padded to
    512 tokens; a template of the user's text alone here), `tiny_cosmos_transformer`, UniPC over flow sigmas and
    `PassingSafetyChecker`."""
    from diffusers import Cosmos2_5_PredictBasePipeline, UniPCMultistepScheduler
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from conftest import TEXT_DIM, tiny_cosmos_transformer

    torch.manual_seed(0)
    qwen = Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(
        text_config=tiny_qwen_vl_text(),
        vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=TEXT_DIM,
                           fullatt_block_indexes=[0])))
    tokenizer = tiny_tokenizer()
    tokenizer.chat_template = ("{% for m in messages if m['role'] == 'user' %}{% for c in m['content'] %}{{ c['text'] }}"
                               "{% endfor %}{% endfor %}")
    scheduler = UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0)
    return Cosmos2_5_PredictBasePipeline(text_encoder=qwen.eval(), tokenizer=tokenizer, transformer=tiny_cosmos_transformer(),
                                         vae=tiny_vae(), scheduler=scheduler, safety_checker=PassingSafetyChecker())


def tiny_cosmos_transfer_pipeline():
    """diffusers' `Cosmos2_5_TransferPipeline` (Cosmos-Transfer2.5) of `tiny_cosmos_pipeline`'s parts, its transformer taking
    the residual of `tiny_cosmos_controlnet` at each block (``controlnet_block_every_n`` 1)."""
    from diffusers import Cosmos2_5_TransferPipeline

    from conftest import tiny_cosmos_controlnet, tiny_cosmos_transformer

    parts = dict(tiny_cosmos_pipeline().components, transformer=tiny_cosmos_transformer(controlnet_block_every_n=1),
                 controlnet=tiny_cosmos_controlnet())
    return Cosmos2_5_TransferPipeline(**parts)


def tiny_cosmos2_video2world_pipeline():
    """diffusers' `Cosmos2VideoToWorldPipeline` (Cosmos-Predict2 Video2World) of tiny random parts: `tiny_vae` (Wan2.1's
    layout), a one-layer T5 encoder of `TEXT_DIM`, `tiny_cosmos_transformer` of Predict2's text width, Euler over Karras σ
    (its call's EDM sampler: its init registers σ 80 down to 0.002) and `PassingSafetyChecker`."""
    from diffusers import Cosmos2VideoToWorldPipeline
    from transformers import T5Config, T5EncoderModel

    from conftest import TEXT_DIM, tiny_cosmos_transformer

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return Cosmos2VideoToWorldPipeline(text_encoder=text_encoder.eval(), tokenizer=tiny_tokenizer(),
                                       transformer=tiny_cosmos_transformer(predict25=False), vae=tiny_vae(),
                                       scheduler=FlowMatchEulerDiscreteScheduler(use_karras_sigmas=True),
                                       safety_checker=PassingSafetyChecker())


def tiny_cosmos1_pipeline(video2world: bool = False, frames: int = 3):
    """diffusers' `CosmosTextToWorldPipeline`, or `CosmosVideoToWorldPipeline` (`video2world`), of tiny random parts (Cosmos
    1.0): a one-layer T5 encoder of `TEXT_DIM`, `tiny_cosmos_transformer` of 1.0's config (its learnable absolute position
    embedding; Video2World's input the latents and a condition-mask channel), a tiny `AutoencoderKLCosmos` (8x time and 8x
    space, 4 latent channels, per-frame statistics of `frames` latent frames, as a release's of its 16), Karras σ of
    `EDMEulerScheduler` (its ``final_sigmas_type`` "sigma_min", as diffusers' conversion of the releases sets it) and
    `PassingSafetyChecker`."""
    from diffusers import AutoencoderKLCosmos, CosmosTextToWorldPipeline, CosmosVideoToWorldPipeline, EDMEulerScheduler
    from transformers import T5Config, T5EncoderModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_cosmos_transformer

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    statistics = torch.rand(2, IN_CHANNELS * frames)
    vae = AutoencoderKLCosmos(latent_channels=IN_CHANNELS, encoder_block_out_channels=(8,) * 4,
                              decode_block_out_channels=(8,) * 4, attention_resolutions=(), resolution=32, num_layers=1,
                              latents_mean=(statistics[0] - 0.5).tolist(), latents_std=(statistics[1] + 0.5).tolist())
    transformer = tiny_cosmos_transformer(predict25=False, in_channels=IN_CHANNELS + video2world, extra_pos_embed_type="learnable")
    pipeline = CosmosVideoToWorldPipeline if video2world else CosmosTextToWorldPipeline
    return pipeline(text_encoder=text_encoder.eval(), tokenizer=tiny_tokenizer(), transformer=transformer, vae=vae.eval(),
                    scheduler=EDMEulerScheduler(final_sigmas_type="sigma_min"), safety_checker=PassingSafetyChecker())


def tiny_gemma2(tokenizer):
    """A one-layer Gemma 2 text model of width `TEXT_DIM` over `tokenizer` (Sana-Video's and Sana-WM's text encoder), in eval
    mode."""
    from transformers import Gemma2Config, Gemma2Model

    from conftest import TEXT_DIM

    return Gemma2Model(Gemma2Config(vocab_size=len(tokenizer), hidden_size=TEXT_DIM, intermediate_size=32, num_hidden_layers=1,
                                    num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=1024,
                                    pad_token_id=tokenizer.pad_token_id)).eval()


def tiny_sana_video_pipeline():
    """diffusers' `SanaVideoPipeline` of tiny random parts: `tiny_vae` (Wan2.1's layout, 8x space, 4x time, as its release's),
    a one-layer Gemma 2 text model over the word-level tokenizer (its call's instruction for complex prompts, which it puts
    before every prompt, is mostly unknown words to it), `conftest.tiny_sana_transformer` and its release's sampler
    (DPM-Solver++ on flow sigmas, shift 8)."""
    from diffusers import DPMSolverMultistepScheduler, SanaVideoPipeline

    from conftest import tiny_sana_transformer

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    gemma = tiny_gemma2(tokenizer)
    scheduler = DPMSolverMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=8.0)
    return SanaVideoPipeline(tokenizer=tokenizer, text_encoder=gemma, vae=tiny_vae(), transformer=tiny_sana_transformer(),
                             scheduler=scheduler)


def tiny_latte_pipeline():
    """diffusers' `LattePipeline` of tiny random parts: SD's image `AutoencoderKL` (8x space: four levels of 2 channels, one
    layer each; no time), a one-layer T5 encoder, `conftest.tiny_latte_transformer` and its release's sampler,
    `DDIMScheduler` (diffusers' defaults: DDPM's linear betas)."""
    from diffusers import AutoencoderKL, DDIMScheduler, LattePipeline
    from transformers import T5Config, T5EncoderModel

    from conftest import IN_CHANNELS, TEXT_DIM, tiny_latte_transformer

    torch.manual_seed(0)
    vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        block_out_channels=(2,) * 4, layers_per_block=1, norm_num_groups=1, latent_channels=IN_CHANNELS,
                        sample_size=32)
    text_encoder = T5EncoderModel(T5Config(vocab_size=64, d_model=TEXT_DIM, d_kv=8, d_ff=32, num_layers=1, num_heads=2))
    return LattePipeline(tokenizer=tiny_tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(),
                         transformer=tiny_latte_transformer(), scheduler=DDIMScheduler())


def tiny_sana_wm_pipeline():
    """diffusers' `SanaWMPipeline` of tiny random parts: `tiny_ltx2_vae` (its release's LTX-2 VAE: 32x space, 8x time), a
    one-layer Gemma 2 text model over the word-level tokenizer (its call's instruction before every prompt is mostly unknown
    words to it), `conftest.tiny_sana_wm_transformer` (a gated-delta-rule block, then a softmax block) and its call's
    sampler, flow matching's Euler steps."""
    from diffusers import SanaWMPipeline

    from conftest import tiny_sana_wm_transformer

    torch.manual_seed(0)
    tokenizer = tiny_tokenizer()
    gemma = tiny_gemma2(tokenizer)
    return SanaWMPipeline(tokenizer=tokenizer, text_encoder=gemma, vae=tiny_ltx2_vae(),
                          transformer=tiny_sana_wm_transformer(), scheduler=FlowMatchEulerDiscreteScheduler())


def save_tiny_sana_wm_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_sana_wm_pipeline` with a vidlong.yaml (native 2 latent frames = 9 frames at 16 fps, 64x96, 2 steps,
    guidance 2; `spec` overrides)."""
    tiny_sana_wm_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-sana-wm", native_frames=2, height=64, width=96, fps=16, num_inference_steps=2,
                       guidance_scale=2.0, temporal_ratio=8), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)


def tiny_sana_wm_refiner():
    """diffusers' `SanaWMLTX2Refiner` (Sana-WM's stage 2) of tiny random parts, as its release ships it, without a VAE (it
    takes the Sana-WM pipeline's): a one-layer `SanaWMLTX2RefinerTransformer3DModel` of `conftest.tiny_ltx2_transformer`'s
    sizes (its zero-initialised parts randomised), `tiny_ltx2_text_parts` over the word-level tokenizer (32 tokens, not its
    release's 1024) and its scheduler, flow matching's Euler steps at shift 1 (its distilled sigmas as they are)."""
    from diffusers import SanaWMLTX2Refiner, SanaWMLTX2RefinerTransformer3DModel

    from conftest import IN_CHANNELS, TEXT_DIM, jittered

    tokenizer = tiny_tokenizer()
    torch.manual_seed(0)
    gemma, connectors = tiny_ltx2_text_parts(tokenizer)
    transformer = jittered(SanaWMLTX2RefinerTransformer3DModel(
        in_channels=IN_CHANNELS, out_channels=IN_CHANNELS, num_attention_heads=2, attention_head_dim=16,
        cross_attention_dim=32, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=8, audio_cross_attention_dim=16, num_layers=1, caption_channels=TEXT_DIM,
        rope_double_precision=False))
    return SanaWMLTX2Refiner(transformer=transformer, connectors=connectors, tokenizer=tokenizer, text_encoder=gemma,
                             scheduler=FlowMatchEulerDiscreteScheduler(shift=1.0), text_max_sequence_length=32)


def save_tiny_sana_wm_refiner(folder: Path) -> Path:
    """Save `tiny_sana_wm_refiner` in `folder` (its own pipeline folder, as diffusers' conversion script writes the
    release's beside the Sana-WM folder)."""
    tiny_sana_wm_refiner().save_pretrained(folder, safe_serialization=True)
    return Path(folder)


def tiny_cosmos3_transformer(text_k_norm: bool = False):
    """A random two-layer `Cosmos3OmniTransformer` over the tiny tokenizer's words: 4 heads of 16 channels, 2 key-value heads
    (grouped-query attention), `tiny_vae`'s 4 latent channels in 2x2 patches, its multimodal RoPE split 4 / 2 / 2 over
    time, height and width; with `text_k_norm`, a release's other norm layout (``qk_norm_for_text`` off,
    ``use_und_k_norm_for_gen``: the text keys normed apart for the video queries)."""
    from diffusers import Cosmos3OmniTransformer

    torch.manual_seed(0)
    norms = dict(qk_norm_for_text=False, use_und_k_norm_for_gen=True) if text_k_norm else {}
    model = Cosmos3OmniTransformer(head_dim=16, hidden_size=32, intermediate_size=32, latent_channel=4, num_attention_heads=4,
                                   num_hidden_layers=2, num_key_value_heads=2, patch_latent_dim=16, vocab_size=len(WORDS) + 4,
                                   rope_axes_dim=[4, 2, 2], unified_3d_mrope_temporal_modality_margin=100, **norms)
    for name, parameter in model.named_parameters():  # its RMS norms start at 1: random weights, so that each one counts
        if "norm" in name:
            parameter.data.uniform_(0.5, 1.5)
    return model.eval()


def tiny_cosmos3_pipeline():
    """diffusers' `Cosmos3OmniPipeline` of tiny random parts: `tiny_cosmos3_transformer`, the word-level tokenizer with the
    ``<|vision_start|>`` token its call ends every prompt with and a chat template of the messages' text, `tiny_vae` (Wan2.1's
    layout, 8x space, 4x time; a release's is Wan2.2's), UniPC over flow sigmas; its safety checker off
    (``enable_safety_checker=False``: NVIDIA's guardrail is not installed here)."""
    from diffusers import Cosmos3OmniPipeline, UniPCMultistepScheduler

    tokenizer = tiny_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|vision_start|>"]})
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
    scheduler = UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="flow_prediction", flow_shift=3.0)
    return Cosmos3OmniPipeline(transformer=tiny_cosmos3_transformer(), text_tokenizer=tokenizer, vae=tiny_vae(),
                               scheduler=scheduler, enable_safety_checker=False)


def save_tiny_cosmos3_pipeline(folder: Path, **spec) -> Path:
    """Save `tiny_cosmos3_pipeline` with a vidlong.yaml (native 2 latent frames = 5 frames at 24 fps, 32x48, 2 steps,
    guidance 6; `spec` overrides)."""
    tiny_cosmos3_pipeline().save_pretrained(folder, safe_serialization=True)
    values = dict(dict(name="tiny-cosmos3", native_frames=2, height=32, width=48, fps=24, num_inference_steps=2,
                       guidance_scale=6.0), **spec)
    (Path(folder) / "vidlong.yaml").write_text(yaml.safe_dump(values))
    return Path(folder)
