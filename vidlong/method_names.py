"""The method names the CLI, the app and `vidlong eval` accept (kept free of heavy imports, so that
`vidlong --help` starts fast)."""

#: `vidlong generate --method` names ("none" and "direct" are the stock model; "both-global": UltraViCo
#: in FreeLong++'s global branch only, see `vidlong.UltraViCo.branches`; "-anchored": FreeLong++'s local
#: windows also see the video's first frames, see `vidlong.SpectralFusion.anchors`; "-sinks": they see them
#: re-placed just before the window, as a stream's sinks, see `anchor_positions`; "window-sinks": a window
#: of two thirds of the native length plus the first third of the video as its sinks; "both-then-window":
#: `both` for the first half of the denoising steps, then the plain window, see `vidlong.methods.method_switch`;
#: "fifo": FIFO-Diffusion's diagonal denoising with a sink, a sampler, see `vidlong.DiagonalDenoising`)
METHOD_NAMES = ("none", "direct", "ultravico", "freelong", "both", "both-global", "freelong-anchored", "both-anchored",
                "freelong-sinks", "both-sinks", "riflex", "window", "window-sinks", "both-then-window",
                "fifo")

#: the method names that run FreeLong++ (and take its initial noise and a preset's fusion settings)
FUSION_METHODS = ("freelong", "both", "both-global", "freelong-anchored", "both-anchored", "freelong-sinks", "both-sinks")

#: `--noise` names: the initial noises (`vidlong.schedulers.noise.initial_noise`)
NOISE_KINDS = ("plain", "specmix", "freenoise")

#: `vidlong eval --methods` names of streams: chunk by chunk (`vidlong.Streaming`), and by diagonal denoising
#: (`vidlong.DiagonalDenoising`: for one prompt the fifo method's video; a timeline switches as a stream does,
#: blending, or with ``-cut`` cutting to the new prompt's own video)
FIFO_STREAM_EVAL_METHODS = ("stream-fifo", "stream-fifo-cut")
STREAM_EVAL_METHODS = ("stream", *FIFO_STREAM_EVAL_METHODS)

#: `vidlong eval --methods` names: the generate methods plus the streams
EVAL_METHODS = (*METHOD_NAMES, *STREAM_EVAL_METHODS)

#: `vidlong eval`'s methods per grid (``--grid lengths | timeline``) when none are named
EVAL_DEFAULT_METHODS = {"lengths": ("direct", "riflex", "window", "ultravico", "freelong", "both", "stream"),
                        "timeline": ("direct", "ultravico", "freelong", "both", "stream")}
