"""How far a stream's chunk-by-chunk sound is from the whole sound decoded at once, for LTX-2's audio VAE and vocoders at
their release shapes (diffusers' defaults; random weights, so this measures the decoders' reach in time, not a trained
model's sound): `vidlong.families.sound_stream.AudioOverlapDecoder` with its 32 audio latent frames of overlap and holds
of one, two and four (its default) frames' samples, on chunks of 8-9 audio latent frames (a 1 s chunk at 24 fps and 25
audio frames a second, after a 17-frame first chunk).

    python benchmarks/ltx2_audio_overlap.py [--vocoder plain|bwe] [--frames 60]

Prints, per hold, the largest error over the whole decode's peak and how many samples are off by more than 1e-3 of it.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vocoder", default="plain", choices=["plain", "bwe"], help="LTX-2.0's vocoder, or LTX-2.3's (BWE)")
    parser.add_argument("--frames", type=int, default=60, help="audio latent frames in all")
    args = parser.parse_args()
    from diffusers import AutoencoderKLLTX2Audio
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder, LTX2VocoderWithBWE

    from vidlong.families.sound_stream import AudioOverlapDecoder

    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Audio().eval()
    vocoder = (LTX2VocoderWithBWE if args.vocoder == "bwe" else LTX2Vocoder)().eval()
    rate = vocoder.config.output_sampling_rate
    per_frame = vae.config.mel_hop_length * 4 * rate // vae.config.sample_rate  # its hop times its time compression

    def decode(z):
        return vocoder(vae.decode(z, return_dict=False)[0])

    latents = torch.randn(1, vae.config.latent_channels, args.frames, vae.config.mel_bins // 4)
    with torch.no_grad():
        whole = vocoder(vae.decode(latents, return_dict=False)[0])[0].numpy()
    sizes = [17] + [8, 9] * args.frames
    edges = np.cumsum([0] + sizes)
    edges = edges[edges < args.frames].tolist() + [args.frames]
    peak = np.abs(whole).max()
    print(f"{args.vocoder} vocoder at {vocoder.config.output_sampling_rate} Hz, {args.frames} audio latent frames, "
          f"whole decode {whole.shape[1]} samples")
    for frames_held in (1, 2, 4):
        decoder = AudioOverlapDecoder(decode, per_frame, rate)
        decoder.hold = frames_held * decoder.per_frame
        pieces = [decoder.decode(latents[:, :, a:b], last=b == args.frames) for a, b in zip(edges, edges[1:])]
        heard = np.concatenate([piece.samples for piece in pieces if piece is not None], axis=1)
        error = np.abs(heard - whole) / peak
        print(f"hold {frames_held} frame(s) = {decoder.hold} samples: {heard.shape[1]} samples, largest error "
              f"{error.max():.2g} of the peak, {int((error.max(0) > 1e-3).sum())} samples off by more than 1e-3")


if __name__ == "__main__":
    main()
