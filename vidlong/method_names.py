"""The method names the CLI, the app and `vidlong eval` accept (kept free of heavy imports, so that
`vidlong --help` starts fast)."""

#: `vidlong generate --method` names ("none" and "direct" are the stock model; "both-global": UltraViCo
#: in FreeLong++'s global branch only, see `vidlong.UltraViCo.branches`; "-anchored": FreeLong++'s local
#: windows also see the video's first frames, see `vidlong.SpectralFusion.anchors`)
METHOD_NAMES = ("none", "direct", "ultravico", "freelong", "both", "both-global", "freelong-anchored", "both-anchored",
                "riflex", "window")

#: the method names that run FreeLong++ (and take its initial noise and a preset's fusion settings)
FUSION_METHODS = ("freelong", "both", "both-global", "freelong-anchored", "both-anchored")

#: `--noise` names: the initial noises (`vidlong.schedulers.noise.initial_noise`)
NOISE_KINDS = ("plain", "specmix", "freenoise")

#: `vidlong eval --methods` names: the generate methods plus chunk-by-chunk streaming
EVAL_METHODS = (*METHOD_NAMES, "stream")

#: `vidlong eval`'s methods per grid (``--grid lengths | timeline``) when none are named
EVAL_DEFAULT_METHODS = {"lengths": ("direct", "riflex", "window", "ultravico", "freelong", "both", "stream"),
                        "timeline": ("direct", "ultravico", "freelong", "both", "stream")}
