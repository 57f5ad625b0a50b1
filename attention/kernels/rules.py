"""Rules the fused kernels share, as Triton functions: the frame window of a row and UltraViCo's decay on a
block of logits. `fused` calls them from its Triton kernel; `hopper` compiles the same functions again in
Gluon (`gluon.jit(rule.fn)`). Units: frames are token frames."""
try:
    import triton
    import triton.language as tl
except ImportError:  # the kernels are optional: CUDA builds of torch ship Triton
    triton = None

if triton is not None:

    @triton.jit
    def window_start(frame, window, frames):
        """First frame of the `window`-frame span centred on `frame`, clamped into the video."""
        return tl.minimum(tl.maximum(frame - window // 2, 0), frames - window)

    @triton.jit
    def decay(qk, c_row, rows, kv, row_frame, m_first, m_last, f_lo, f_hi, n0,
              tokens_per_frame, alpha, far_limit, DECAY: tl.constexpr, BLOCK_N: tl.constexpr):
        """UltraViCo on one ``[BLOCK_M, BLOCK_N]`` block of unscaled logits: far pairs become
        ``min(s, α·s + c)`` (with `c_row` in the same units: the rule commutes with the positive scale
        applied later); the index test runs only where the block straddles the region edge."""
        if DECAY == 1:
            qk = tl.minimum(qk, qk * alpha + c_row[:, None])
        else:
            n_last = n0 + BLOCK_N - 1
            if DECAY == 2:
                d_min = tl.maximum(tl.maximum(n0 - m_last, m_first - n_last), 0)
                d_max = tl.maximum(m_last - n0, n_last - m_first)
            else:
                g_lo = n0 // tokens_per_frame
                g_hi = n_last // tokens_per_frame
                d_min = tl.maximum(tl.maximum(g_lo - f_hi, f_lo - g_hi), 0)
                d_max = tl.maximum(f_hi - g_lo, g_hi - f_lo)
            if 2 * d_min > far_limit:
                qk = tl.minimum(qk, qk * alpha + c_row[:, None])
            elif 2 * d_max > far_limit:
                if DECAY == 2:
                    far = 2 * tl.abs(rows[:, None] - kv[None, :]) > far_limit
                else:
                    far = 2 * tl.abs(row_frame[:, None] - (kv // tokens_per_frame)[None, :]) > far_limit
                qk = tl.where(far, tl.minimum(qk, qk * alpha + c_row[:, None]), qk)
        return qk
