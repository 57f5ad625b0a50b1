"""The experiment of RESULTS.md's "More attention on the sinks" (session 73): `training.compare_streams` with every
streamed chunk's self-attention logits towards the cached sink frames raised by ``SINK_BIAS`` (a constant added before
the softmax: each sink key weighs exp(SINK_BIAS) times more against the window's and the chunk's own keys), so that a
chunk leans more on the first frames, where the prompted objects were drawn. ``SINK_BIAS=0`` is the stock stream.

    SINK_BIAS=0.7 OMP_NUM_THREADS=1 python benchmarks/quality_causal_sink_bias/sink_bias.py \
        --models default-causal --guidance 4.5 --ratios 4 --seeds 20 --prompt-set vidlong --device cpu --out OUT.json
"""
import os
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))  # after an installed vidlong

import torch  # noqa: E402

import vidlong.attention.stream_attention as stream_attention  # noqa: E402
from training.compare_streams import main  # noqa: E402

SINK_BIAS = float(os.environ["SINK_BIAS"])
stock_attend, stock_dispatch = stream_attention.StreamContext.attend, stream_attention.dispatch_attention_fn
attending = []  # the StreamContext whose attend runs now


def attend_noting_the_context(self, layer, query, key, value, backend=None):
    """`StreamContext.attend` as it is, its context noted for `dispatch_with_sink_bias`."""
    attending.append(self)
    try:
        return stock_attend(self, layer, query, key, value, backend)
    finally:
        attending.pop()


def dispatch_with_sink_bias(query, key, value, attn_mask=None, **kwargs):
    """diffusers' `dispatch_attention_fn` on ``[B, N, H, D]`` inputs, `SINK_BIAS` added to the logits of the cached sink
    frames' keys (they lead the keys `attend` passes)."""
    context = attending[-1] if attending else None
    if context is not None and context._rotary_cache is not None and context.cache.sinks_filled and SINK_BIAS:
        attn_mask = torch.zeros(1, key.shape[1], dtype=query.dtype, device=query.device)  # [1, keys]: every query's
        attn_mask[:, : context.cache.sinks_filled * context.cache.tokens_per_frame] = SINK_BIAS
    return stock_dispatch(query, key, value, attn_mask=attn_mask, **kwargs)


stream_attention.StreamContext.attend = attend_noting_the_context
stream_attention.dispatch_attention_fn = dispatch_with_sink_bias

if __name__ == "__main__":
    main()
