"""Rules the fused kernels share, as Triton functions: the frame window of a row, the frames and visible keys of
a program's rows, each row's frames of a ring and the ring's key blocks, and UltraViCo's decay on a block of
logits. `fused` calls them from its Triton kernel; `hopper` compiles the same functions again in Gluon
(`gluon.jit(rule.fn)`). Units: frames are token frames."""
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

    @triton.jit
    def program_frames(m0, n_tokens, tokens_per_frame, native_frames, HAS_GUARD: tl.constexpr, ROWS: tl.constexpr):
        """Frames of the first and last rows of a program's `ROWS` queries from token `m0`, and the end of the keys all
        of them may see as far as the first-frame guard goes."""
        f_lo = m0 // tokens_per_frame
        f_hi = (tl.minimum(m0 + ROWS, n_tokens) - 1) // tokens_per_frame
        visible_end = n_tokens
        if HAS_GUARD:
            if f_lo == 0:
                visible_end = tl.minimum(n_tokens, native_frames * tokens_per_frame)
        return f_lo, f_hi, visible_end

    @triton.jit
    def ring_rows(windows_ptr, k, row_frame, frames, NUM_BRANCHES: tl.constexpr):
        """Each row's frames of ring `k`: its window ``[ring_lo, ring_hi)`` minus the inner window ``[inner_lo,
        inner_hi)`` (``windows_ptr[k + 1]`` frames; empty, ``[0, 0)``, for the narrowest ring, the last)."""
        window = tl.load(windows_ptr + k)
        ring_lo = window_start(row_frame, window, frames)
        inner_lo = ring_lo * 0
        inner_hi = inner_lo
        if k < NUM_BRANCHES - 1:
            inner = tl.load(windows_ptr + k + 1)
            inner_lo = window_start(row_frame, inner, frames)
            inner_hi = inner_lo + inner
        return ring_lo, ring_lo + window, inner_lo, inner_hi

    @triton.jit
    def ring_parts(windows_ptr, k, f_lo, f_hi, frames, tokens_per_frame, visible_end, NUM_BRANCHES: tl.constexpr,
                   BLOCK: tl.constexpr):
        """Key blocks of ring `k` (``windows_ptr[k]`` frames minus the inner ``windows_ptr[k + 1]``; the narrowest
        ring, the last, the whole window) for queries of frames ``[f_lo, f_hi]``: two parts, each ``first block, end
        block, first token and end token visible to every query``, the narrowest ring's second empty. A ring's left
        part is frames ``[s_lo, i_hi)``, its right ``[i_lo + inner, s_hi + window)``; where their edge blocks meet,
        the first covers both."""
        window = tl.load(windows_ptr + k)
        s_lo = window_start(f_lo, window, frames)                     # window of the first row
        s_hi = window_start(f_hi, window, frames)                     # ... and of the last
        a_lo = (s_lo * tokens_per_frame) // BLOCK
        a_hi = tl.cdiv((s_hi + window) * tokens_per_frame, BLOCK)
        a_full_lo = s_hi * tokens_per_frame
        a_full_hi = tl.minimum((s_lo + window) * tokens_per_frame, visible_end)
        b_lo = a_hi
        b_hi = a_hi
        b_full_lo = a_full_lo
        b_full_hi = a_full_hi
        if k < NUM_BRANCHES - 1:
            inner = tl.load(windows_ptr + k + 1)
            i_lo = window_start(f_lo, inner, frames)
            i_hi = window_start(f_hi, inner, frames)
            b_lo = ((i_lo + inner) * tokens_per_frame) // BLOCK
            b_full_lo = (i_hi + inner) * tokens_per_frame
            a_full_hi = tl.minimum(i_lo * tokens_per_frame, visible_end)
            left_hi = tl.cdiv(i_hi * tokens_per_frame, BLOCK)
            if b_lo < left_hi:
                left_hi = b_hi
                b_lo = b_hi
            a_hi = left_hi
        return a_lo, a_hi, a_full_lo, a_full_hi, b_lo, b_hi, b_full_lo, b_full_hi
