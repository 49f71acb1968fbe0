"""Array kernels: every indicator written once, as a numba step function.

Contract: ``state = step(state, ring, bars, i, out)``.
- ``state`` is a tuple of floats (parameters first, then the running values); the new tuple is returned.
- ``ring`` is a float64 array holding a rolling window for windowed indicators (size 1 otherwise).
- ``bars`` is float64 (n, 5): open, high, low, close, volume (or (n, 1) for a single series); the step
  reads row ``i`` only and writes row ``i`` of ``out`` (float64, (n, k)).

Batch = ``<name>_batch``: the step over every row from a fresh state, in one compiled loop.
Stream = the same step on a one-row ``bars`` per new bar, with ``state`` and ``ring`` as its whole
memory (O(1) per bar; windowed indicators also make one pass over their window each time it wraps).
Both run the same instructions in the same order, so they agree exactly. Warm-up rows are NaN.
Conventions follow TA-Lib where it has the indicator (Wilder smoothing for RSI/ATR/ADX, EMAs seeded
with the mean of their first ``period`` inputs), so it serves as the oracle.

Why this shape (measured on 58,600 real bars): state held in a tuple lives in registers, while state
in an array is reloaded every bar because numba cannot prove it does not alias ``out`` (4-6x slower);
conditions are value selects around blocks that always run, and the once-per-window passes are loops
whose trip count is zero on other bars, because the same work under an ``if`` was 2-8x slower. Each batch loop is its own cached function: a cached loop that takes
the step as an argument corrupts numba's cache index once any other step is passed to it.
"""

from __future__ import annotations

import numpy as np
from autobot_lib._jit import njit

NAN = np.nan

# --- building blocks (inlined) ------------------------------------------------------------------


@njit(cache=True, inline="always")
def _avg(n, alpha, count, value, x):
    """Seeded average: the first n inputs are summed and their mean seeds an exponential average
    (alpha = 2/(n+1): EMA; alpha = 1/n: Wilder). NaN inputs are skipped, so an average can sit on
    a series still warming up (the MACD signal line). Returns (count, value, output)."""
    ok = x == x
    seeding = count < n
    new_count = count + 1.0 if (ok and seeding) else count
    new_value = value + x if seeding else value + alpha * (x - value)
    # times 1/n, not / n: n never changes, so the division is hoisted out of the bar loop instead of
    # sitting on its dependency chain (4x slower MACD); it differs from sum/n by at most one ulp
    new_value = new_value * (1.0 / n) if (seeding and new_count == n) else new_value
    new_value = new_value if ok else value
    return new_count, new_value, new_value if new_count >= n else NAN


@njit(cache=True, inline="always")
def _true_range(h, l, prev_close):
    return max(h - l, abs(h - prev_close), abs(l - prev_close))


@njit(cache=True, inline="always")
def _push(n, count, pos, ring, offset, x):
    """Put x into a window ring of n slots at ring[offset:offset+n]. Returns the value that left
    (meaningful once full), whether the window was full before, the new count and position."""
    p = int(pos)
    old = ring[offset + p]
    full = count >= n
    ring[offset + p] = x
    nxt = pos + 1.0
    return old, full, count if full else count + 1.0, 0.0 if nxt == n else nxt


# --- steps --------------------------------------------------------------------------------------


@njit(cache=True)
def ema_step(s, ring, bars, i, out):
    # s = (src, n, alpha, count, value)
    count, value, y = _avg(s[1], s[2], s[3], s[4], bars[i, int(s[0])])
    out[i, 0] = y
    return (s[0], s[1], s[2], count, value)


@njit(cache=True)
def sma_step(s, ring, bars, i, out):
    # s = (src, n, count, pos, total); ring holds the window. The running total is re-added from the
    # ring each time the window wraps, so rounding cannot build up over a long history.
    x = bars[i, int(s[0])]
    n = s[1]
    old, full, count, pos = _push(n, s[2], s[3], ring, 0, x)
    total = s[4] + x - (old if full else 0.0)
    wrapped = pos == 0.0
    total = 0.0 if wrapped else total
    for k in range(int(n) if wrapped else 0):
        total += ring[k]
    out[i, 0] = total / n if count >= n else NAN
    return (s[0], n, count, pos, total)


@njit(cache=True)
def rsi_step(s, ring, bars, i, out):
    # s = (src, n, alpha, seen, prev, gain count, gain avg, loss count, loss avg, last rsi); Wilder averages
    x = bars[i, int(s[0])]
    d = x - s[4]
    first = s[3] == 0.0
    gain = NAN if first else (d if d > 0.0 else 0.0)
    loss = NAN if first else (-d if d < 0.0 else 0.0)
    gc, gv, g = _avg(s[1], s[2], s[5], s[6], gain)
    lc, lv, l = _avg(s[1], s[2], s[7], s[8], loss)
    total = g + l
    # no movement at all over the window: neutral, not an extreme
    rsi = NAN if g != g else (100.0 * g / total if total > 0.0 else 50.0)
    # an unchanged close scales both averages alike, so RSI is exactly unchanged; recomputed it would move by
    # rounding (1e-15) and trip rules such as rsi < prev(rsi)
    if d == 0.0 and not first and s[9] == s[9] and gc >= s[1] and s[5] >= s[1]:
        rsi = s[9]
    out[i, 0] = rsi
    return (s[0], s[1], s[2], 1.0, x, gc, gv, lc, lv, rsi)


@njit(cache=True)
def atr_step(s, ring, bars, i, out):
    # s = (n, alpha, seen, prev close, count, value); the first bar has no previous close: no TR
    tr = _true_range(bars[i, 1], bars[i, 2], s[3])
    count, value, y = _avg(s[0], s[1], s[4], s[5], tr if s[2] > 0.0 else NAN)
    out[i, 0] = y
    return (s[0], s[1], 1.0, bars[i, 3], count, value)


@njit(cache=True)
def macd_step(s, ring, bars, i, out):
    """MACD as TA-Lib computes it: the fast EMA is seeded with the mean of the ``fast`` inputs that end
    where the slow EMA's seed ends (it skips the first slow - fast inputs), so both start at bar
    slow-1; the signal EMA is seeded with the mean of the first ``signal`` MACD values; and all three
    outputs appear together at bar slow-1 + signal-1 (33 for 12/26/9), the line NaN until then.

    s = (src, fast n, alpha, count, value, slow n, alpha, count, value, signal n, alpha, count, value).
    The slow average's seeding count is the bar counter (it counts every input until it reaches slow n),
    so the skip needs no state of its own."""
    x = bars[i, int(s[0])]
    sc, sv, slow = _avg(s[5], s[6], s[7], s[8], x)
    fc, fv, fast = _avg(s[1], s[2], s[3], s[4], x if s[7] >= s[5] - s[1] else NAN)
    line = fast - slow
    gc, gv, signal = _avg(s[9], s[10], s[11], s[12], line)
    out[i, 0] = line if signal == signal else NAN
    out[i, 1] = signal
    out[i, 2] = line - signal
    return (s[0], s[1], s[2], fc, fv, s[5], s[6], sc, sv, s[9], s[10], gc, gv)


@njit(cache=True)
def bollinger_step(s, ring, bars, i, out):
    # s = (src, k, n, count, pos, sum of y, sum of y^2, centre c); the ring holds y = x - c. Sums of
    # deviations from a centre near the window mean do not cancel catastrophically; each time the
    # window wraps, c moves to the window mean and both sums are re-added exactly from the ring.
    # Outputs mid, upper, lower, width, %b (population standard deviation, as TA-Lib).
    x = bars[i, int(s[0])]
    n = s[2]
    c = x if s[3] == 0.0 else s[7]
    y = x - c
    old, full, count, pos = _push(n, s[3], s[4], ring, 0, y)
    t1 = s[5] + y - (old if full else 0.0)
    t2 = s[6] + y * y - (old * old if full else 0.0)
    wrapped = pos == 0.0
    shift = t1 / n if wrapped else 0.0
    c += shift
    t1 = 0.0 if wrapped else t1
    t2 = 0.0 if wrapped else t2
    for j in range(int(n) if wrapped else 0):
        v = ring[j] - shift
        ring[j] = v
        t1 += v
        t2 += v * v
    dev = t1 / n
    sd = np.sqrt(max(t2 / n - dev * dev, 0.0))
    ready = count >= n
    mid = c + dev if ready else NAN
    upper = mid + s[1] * sd
    lower = mid - s[1] * sd
    out[i, 0] = mid
    out[i, 1] = upper
    out[i, 2] = lower
    out[i, 3] = (upper - lower) / mid
    # collapsed bands: price sits on the middle line
    out[i, 4] = (x - lower) / (upper - lower) if upper > lower else (0.5 if ready else NAN)
    return (s[0], s[1], n, count, pos, t1, t2, c)


@njit(cache=True)
def adx_step(s, ring, bars, i, out):
    """Wilder's ADX, +DI, -DI, sequenced exactly as TA-Lib: bars 1..n-1 fill the +DM/-DM/TR sums;
    from bar n they are Wilder-smoothed and +DI/-DI appear; DX averaged over bars n..2n-1 seeds ADX
    at bar 2n-1, then ADX is Wilder-smoothed.

    s = (n, seen, prev high, prev low, prev close, +DM sum, -DM sum, TR sum, DX sum, ADX)."""
    n, seen = s[0], s[1]
    h, l = bars[i, 1], bars[i, 2]
    up = h - s[2]
    down = s[3] - l
    mdm = down if (down > 0.0 and up < down) else 0.0
    pdm = up if (up > 0.0 and up > down) else 0.0
    tr = _true_range(h, l, s[4])
    active = seen > 0.0
    smoothing = seen >= n
    spdm = s[5] - (s[5] / n if smoothing else 0.0) + (pdm if active else 0.0)
    smdm = s[6] - (s[6] / n if smoothing else 0.0) + (mdm if active else 0.0)
    str_ = s[7] - (s[7] / n if smoothing else 0.0) + (tr if active else 0.0)
    plus_di = 100.0 * spdm / str_ if str_ > 0.0 else 0.0
    minus_di = 100.0 * smdm / str_ if str_ > 0.0 else 0.0
    di_sum = plus_di + minus_di
    dx = 100.0 * abs(plus_di - minus_di) / di_sum if di_sum > 0.0 else 0.0
    seed_at = 2.0 * n - 1.0
    sum_dx = s[8] + (dx if (smoothing and seen < seed_at) else 0.0)
    adx = (sum_dx + dx) / n if seen == seed_at else ((s[9] * (n - 1.0) + dx) / n if seen > seed_at else s[9])
    out[i, 0] = adx if seen >= seed_at else NAN
    out[i, 1] = plus_di if smoothing else NAN
    out[i, 2] = minus_di if smoothing else NAN
    return (n, seen + 1.0, h, l, bars[i, 3], spdm, smdm, str_, sum_dx, adx)


@njit(cache=True)
def donchian_step(s, ring, bars, i, out):
    """Channel over the n bars *before* bar i (a close above it is a breakout, not a tautology).

    Van Herk / Gil-Werman: the window before position p of the current block is the previous block
    from p on plus the current block up to p, so its max is max(suffix max of the previous block at p,
    prefix max of the current block): two comparisons a bar, and one suffix pass each n bars.
    s = (n, count, pos, high prefix max, negated-low prefix max);
    ring = [high block | high suffix max | negated-low block | negated-low suffix max], n slots each.
    """
    n = s[0]
    m = int(n)
    p = int(s[2])
    ready = s[1] >= n
    hs, lb, ls = m, 2 * m, 3 * m
    upper = max(ring[hs + p], s[3]) if ready else NAN
    lower = -max(ring[ls + p], s[4]) if ready else NAN
    out[i, 0] = upper
    out[i, 1] = lower
    out[i, 2] = 0.5 * (upper + lower)
    h = bars[i, 1]
    nl = -bars[i, 2]
    ring[p] = h
    ring[lb + p] = nl
    complete = s[2] + 1.0 == n
    hm = -np.inf
    lm = -np.inf
    for k in range(m - 1, -1, -1) if complete else range(0):  # block complete: its suffix maxima
        hm = max(hm, ring[k])
        lm = max(lm, ring[lb + k])
        ring[hs + k] = hm
        ring[ls + k] = lm
    hprefix = -np.inf if complete else max(s[3], h)
    lprefix = -np.inf if complete else max(s[4], nl)
    return (n, min(s[1] + 1.0, n), 0.0 if complete else s[2] + 1.0, hprefix, lprefix)


# --- batch loops: one per step (see the module docstring for why they are not one generic loop) -


@njit(cache=True)
def ema_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = ema_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def sma_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = sma_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def rsi_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = rsi_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def atr_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = atr_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def macd_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = macd_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def bollinger_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = bollinger_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def adx_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = adx_step(s, ring, bars, i, out)
    return s


@njit(cache=True)
def donchian_batch(s, ring, bars, out):
    for i in range(bars.shape[0]):
        s = donchian_step(s, ring, bars, i, out)
    return s
