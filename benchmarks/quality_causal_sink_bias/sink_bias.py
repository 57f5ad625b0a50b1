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
import torch.nn.functional as F  # noqa: E402

import vidlong.attention.stream_attention as stream_attention  # noqa: E402
from training.compare_streams import main  # noqa: E402

SINK_BIAS = float(os.environ["SINK_BIAS"])
stock_attend = stream_attention.StreamContext.attend


def attend_leaning_on_sinks(self, layer, query, key, value, backend=None):
    """`StreamContext.attend` with `SINK_BIAS` added to the logits of the cached sink frames' keys."""
    if self._rotary_cache is None or not self.cache.sinks_filled or SINK_BIAS == 0:
        return stock_attend(self, layer, query, key, value, backend)
    q = stream_attention.apply_wan_rotary(query, *self._rotary_chunk)
    cached_k, cached_v = self.cache.read(layer)
    k = torch.cat([stream_attention.apply_wan_rotary(cached_k, *self._rotary_cache),
                   stream_attention.apply_wan_rotary(key, *self._rotary_chunk)], dim=1)
    v = torch.cat([cached_v, value], dim=1)
    bias = torch.zeros(1, k.shape[1], dtype=q.dtype, device=q.device)  # [1, keys], broadcast over queries
    bias[:, : self.cache.sinks_filled * self.cache.tokens_per_frame] = SINK_BIAS  # sinks lead the storage order
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_mask=bias)
    if self.writing:
        self.cache.write(layer, key, value, self._write_indices)
    return out.transpose(1, 2)


stream_attention.StreamContext.attend = attend_leaning_on_sinks

if __name__ == "__main__":
    main()
