"""vidlong's pipelines for the families beyond Wan, one module each (`skyreels`, `ltx`, `cogvideox`, `hunyuan`, `mochi`,
`kandinsky5`, `kandinsky5_i2v`, `kandinsky6`, `ltx2_condition`, `ltx2_in_context`, `ltx2_hdr`, `ltx2_dfr`, `motif`,
`motif_i2v`, `easyanimate`, `allegro`, `anyflow`, `anyflow_far`, `lucy`, `helios`, `helios_pyramid`, `framepack`, `cosmos`,
`cosmos_world`, `cosmos_video2world`, `cosmos1`, `cosmos1_video2world`, `cosmos_transfer`, `cosmos3`, `sana`, `sana_wm` (its
refiner after it: `sana_wm_refiner`), `latte`, `ltx_long`, `consisid`, `chronoedit`; what
they share in `common`, and in `guider` what those whose calls guide by a guider component share): diffusers'
`SkyReelsV2Pipeline` and its image-to-video and diffusion-forcing pipelines (Wan's layout: Wan's surface serves them as
it is), `LTXPipeline`, `LTXImageToVideoPipeline`, `LTXConditionPipeline`, `CogVideoXPipeline`,
`CogVideoXImageToVideoPipeline`,
`HunyuanVideoPipeline`, `HunyuanVideoImageToVideoPipeline`, `HunyuanSkyreelsImageToVideoPipeline`,
`HunyuanVideo15Pipeline`, `HunyuanVideo15ImageToVideoPipeline`, `MochiPipeline`, `Kandinsky5T2VPipeline`,
`Kandinsky5I2VPipeline`, `Kandinsky6TI2VAPipeline` (text or image to video with its sound), `LTX2ConditionPipeline`
(LTX-2 with its conditions: a first and a last frame, keyframes), `LTX2InContextPipeline` (LTX-2 following an IC-LoRA's
reference video, its tokens beside the video's), `LTX2HDRPipeline` (its HDR IC-LoRA: an SDR reference video made
linear HDR), `LTX2DFRPipeline` (LTX-2.5's one DFR pass, its keyframe slots after its
canvas), `MotifVideoPipeline`,
`MotifVideoImage2VideoPipeline`, `EasyAnimatePipeline`,
`EasyAnimateInpaintPipeline` (as image to video), `AllegroPipeline`, `AnyFlowPipeline`, the causal
`AnyFlowFARPipeline`, `LucyEditPipeline` (Wan's layout, editing a given video whose latents go in on the channels) and the
autoregressive `HeliosPipeline` and `HeliosPyramidPipeline` (Helios-Mid, -Distilled) and the image-to-video
`HunyuanVideoFramepackPipeline` (FramePack), `Cosmos2_5_PredictBasePipeline` (Cosmos-Predict2.5, from text; from an image
and continuing a video as vidlong's twins of it in `cosmos_world`) and
`Cosmos2VideoToWorldPipeline` (Cosmos-Predict2 Video2World, from an image; what Cosmos's share in `cosmos`),
`Cosmos2_5_TransferPipeline` (Cosmos-Transfer2.5, a control video to a world video, chunk by chunk in its call),
`CosmosTextToWorldPipeline` and `CosmosVideoToWorldPipeline` (Cosmos 1.0, from text or from an image),
`Cosmos3OmniPipeline` (Cosmos 3, from text, from an image and continuing a video: `cosmos3`) and
`SanaVideoPipeline` and `SanaImageToVideoPipeline` (Sana-Video, text or image to video from one folder), `SanaWMPipeline`
(Sana-WM: image to video along a camera trajectory, `vidlong.camera`) and
`LattePipeline` (Latte: its temporal table placed for each forward's frames), `LTXI2VLongMultiPromptPipeline`
(LTX-Video made long by its call's own windows, a prompt a window), `ConsisIDPipeline` (CogVideoX-5B image to video
keeping a face's identity, its face's tensors handed to every forward) and `ChronoEditPipeline` (Wan2.1-I2V made an image
editor: a short video from the image to its edit, the edit last) with the surface of `VidlongPipelineMixin`.
Each states how its
``latents=`` argument is laid out and what a stream needs where it differs from Wan's (its prompt encoding, one
transformer forward on ``[B, C, f, h, w]`` latents, its sampler's timesteps, the forward process that re-noises the
context, chunk decoding and encoding); the attention side of each family is its adapter in `vidlong.attention.adapters`.
They stream and extend with the re-noised context (stock forwards over the context and the chunk), SkyReels-V2 also with
Wan's KV cache, CogVideoX1.5's windows padded to its temporal patch, HunyuanVideo-I2V's 33-channel release's first chunk
without the 4 frames its call drops; LTX-2 (`ltx2`, `ltx2_stream`) and Kandinsky 6 (`kandinsky6`, `kandinsky6_stream`)
stream each chunk by a call of their own pipeline, with its sound (what they share in `sound_stream`), and extend a video
file at its frame rate (its frames encoded into the context; its sound track kept for its part, and encoded into the
context by Kandinsky 6's audio VAE, so its new sound continues it, where LTX-2's is made anew: its audio VAE is not given
the input's sound; saved latents not continued); CogVideoX-Fun control, LTX-2's in-context and HDR pipelines and LTX-Video's long
multi-prompt pipeline generate only, and so do Sana-WM (its camera conditioning over the whole trajectory) and LTX-2.5
(its keyframe slots and padded canvas);
Cosmos-Transfer2.5 streams its call's chunks over a control video and extends a video along one (`cosmos_transfer_stream`);
Kandinsky 5 runs each prompt of a guided batch through its own forward, as its call does; Allegro's and Latte's streams
follow their DDPM-family sampler (`AllegroStreamer`: its start noise and input scaling), AnyFlow's its flow-map sampler
(`AnyFlowStreamer`: each forward's target timestep), Cosmos's its call's noise
levels and guidance (`CosmosStreamer`; Predict2 Video2World's and 1.0's EDM latents, 1.0's stepped on the denoised,
its chunks by its VAE's per-frame statistics; the image on each window's first frame, clean, 1.0's augmented as its
call augments it; Cosmos 3's each forward a packed sequence of the prompt and the window, `Cosmos3Streamer`); AnyFlow FAR
streams by its own block-causal KV cache, bounded to its first chunk and the latest chunks
(`AnyFlowFARStreamer`), Helios by its call's chunks
with only the history the next chunk reads (`HeliosStreamer`; `HeliosPyramidStreamer` each chunk through its pyramid), its
lengths whole chunks, FramePack by its call's vanilla
sections likewise (`FramePackStreamer`; it does not extend); Lucy Edit edits a video in one
call, or chunk by chunk in a stream given it (`vidlong.edit_stream`), and does not extend
(`vidlong.validate.EDIT_EXTEND_REFUSAL`); ChronoEdit edits an image in one call, and neither streams nor extends.
"""
