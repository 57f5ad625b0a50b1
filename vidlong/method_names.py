"""The method names the CLI, the app and `vidlong eval` accept (kept free of heavy imports, so that
`vidlong --help` starts fast)."""

#: `vidlong generate --method` names ("none" and "direct" are the stock model)
METHOD_NAMES = ("none", "direct", "ultravico", "freelong", "both", "riflex", "window")

#: `vidlong eval --methods` names: the generate methods plus chunk-by-chunk streaming
EVAL_METHODS = (*METHOD_NAMES, "stream")
