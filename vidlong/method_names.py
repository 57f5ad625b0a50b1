"""The method names the CLI, the app and `vidlong eval` accept (kept free of heavy imports, so that
`vidlong --help` starts fast)."""

#: `vidlong generate --method` names ("none" and "direct" are the stock model; "both-global": UltraViCo
#: in FreeLong++'s global branch only, see `vidlong.UltraViCo.branches`)
METHOD_NAMES = ("none", "direct", "ultravico", "freelong", "both", "both-global", "riflex", "window")

#: `vidlong eval --methods` names: the generate methods plus chunk-by-chunk streaming
EVAL_METHODS = (*METHOD_NAMES, "stream")
