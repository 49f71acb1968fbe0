"""An independent oracle for the backtester, for tests only.

A plain-Python reference backtester written from the seeds (/work/shared/seeds: the AUTOBOT system and the
Donchian/ATR bot) and ``docs/fill-model.md``. It imports nothing from ``autobot_lib``: its indicators,
regimes, rules, gate, vetoes, sizing, exits, fills, costs, funding, liquidation and the daily-loss state
machine are written here again, in loops over Python floats. The only inputs it shares with the engine
are the bars, the funding rates, the market filters (read as numbers) and the Settings object (read as
configuration: plain numbers out of it, mapped to each strategy as documented in ``risk/params.py``).

    trades, equity, decisions = oracle_backtest(bars, settings, funding=..., filters=..., trade_from=...)

``trades`` has the engine's trade columns; ``equity`` is the equity at every bar's close (``curve=True``
gives a frame with balance, margin, drawdown and halted too); ``decisions`` holds one row per bar and
symbol (timestamp, symbol, outcome) with the outcome labels of the engine's journal (``warmup``,
``neutral``, ``below_threshold``, ``gate:<reason>``, ``veto:<reason>``, ``size:<reason>``, ``order``,
``in_position``).

The conventions, and where they come from:

Indicators (seeds: RSI 14, MACD 12/26/9, EMA 9/21/50/200, BB 20/2, ATR 14, volume SMA 20, ADX; the
indicators package documents "Conventions follow TA-Lib"):
- EMA: alpha 2/(n+1), seeded with the mean of the first n values (first value at bar n-1).
- RSI, ATR: Wilder averages seeded with the mean of the first n changes / true ranges (first at bar n);
  RSI is 50 when nothing moved over the window, and exactly the previous RSI on a bar whose close did not
  move (both averages shrink by the same factor: exact arithmetic, not a rounding of it).
- ADX: Wilder, sequenced as TA-Lib (sums of +DM/-DM/TR over bars 1..n-1, smoothed from bar n where the
  DIs appear, DX averaged over bars n..2n-1 seeds the ADX at bar 2n-1).
- MACD as TA-Lib: the fast EMA is seeded over the ``fast`` closes that end where the slow EMA's seed
  ends; the signal is an EMA of the line seeded with its first ``signal`` values; all three appear at bar
  slow-1 + signal-1.
- Bollinger: SMA middle, population standard deviation (ddof 0); width = (upper - lower) / middle.
- Donchian(n): the highest high / lowest low of the n bars *before* the bar (not including it).
Regime (seed's RegimeDetector): ADX < 20 RANGE; close > EMA21 and RSI > 50 BULL; close < EMA21 and
RSI < 50 BEAR; otherwise RANGE; unknown while any input is warming up. ``regime_age`` counts the bars of
the current regime (1 on the bar it begins).
Signals: the AUTOBOT default rule set (transcribed below), aggregated as the seeds' BiasGenerator,
weighted: bias = sum(bias x weight)/sum(weight) over fired rules, confidence = fired weight / eligible
weight (rules whose regimes include the bar's), PROPOSE when confidence >= ACTIVATION_THRESHOLD. Donchian:
long on a close above the previous N bars' high, short below their low, full conviction, no ADX gate.

The account follows docs/fill-model.md, per bar of the shared timeline:
1. per symbol with a bar, in symbol order: the market orders of the previous close fill at this open
   (slipped against the trader, taker fee); an isolated position whose bar reaches its liquidation price
   (Binance, first bracket) before its stop is liquidated there with the liquidation fee; the standing
   stop, then the take-profit ladder or the single target, fill inside the bar (adverse extreme first; at
   the trigger, or at the open when the bar opens through it);
2. funding settlements due by this close, ``(open, close]``, on the positions held then, at the close;
3. the account at the close: equity at the mark, the equity peak, the daily anchor (the equity at the
   first close of each UTC day), the daily-loss halt and its re-arm (BACKTEST_HALT_REARM);
4. the decisions: the symbols that held a position into the bar first (a position closed inside the
   bar, by a stop, a target or a liquidation, was held into it), then the flat ones, in symbol order;
   entries and adds decided earlier on the bar use up free margin and count toward MAX_POSITIONS and
   the correlation veto (seed: "correlation with existing positions": Pearson correlation of the bar
   returns over the last CORRELATION_WINDOW bars of the timeline, where both symbols have the bar and
   the one before, at or above CORRELATION_THRESHOLD in absolute value); the volatility threshold (seed:
   "volatility threshold") vetoes an entry whose ATR over the close exceeds VOLATILITY_MAX_ATR_PCT;
5. the marks at the close. At the end, what is still open closes at its symbol's last close.

Where the docs are silent the oracle reads the code's docstrings (these are reported, not assumed
right): stop and target fills slip by SLIPPAGE_ATR of the ATR at the close of the bar they fill in (a
market order: the ATR of the close it was decided on); MAE/MFE are the excursions from the first entry
over every bar the position was held in, the exit bar only up to its fill on the adverse-first path; a
trade's ``notional`` is its largest quantity at the first entry price; no pyramid add while trading is
halted (an add is new risk); the end-of-data close is at the last close with the taker fee and no
slippage; the
Donchian bot takes its break-even, time and regime-change exits from its own section (``break_even_r``,
``max_holding_bars``, ``exit_on_regime_change``: the docs' configuration reference), MAX_DRAWDOWN from the
shared settings.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

NAN = math.nan
DAY_NS = 86_400 * 10**9
HOUR_NS = 3_600 * 10**9
LIQUIDATION_FEE = 0.0125          # Binance's liquidation clearance fee (costs.py)
MAINTENANCE_MARGIN = 0.004        # first bracket (costs.py)
FUNDING_INTERVAL_NS = 8 * HOUR_NS  # 00:00, 08:00, 16:00 UTC
TRADE_COLUMNS = ["symbol", "side", "entry_time", "entry_price", "initial_stop", "exit_time", "exit_price", "qty",
                 "notional", "fees", "funding", "pnl", "r_multiple", "mae_r", "mfe_r", "bars_held", "exit_reason",
                 "entry_rules", "entry_regime"]
BULL, BEAR, RANGE = 1, -1, 0
# deliberate mistakes the oracle can make (oracle_backtest(faults=...)), to show the comparison catches them
FAULTS = {
    "trail_x1.3": "the trailing stop 1.3 times further",
    "target_first": "a target wins over the stop when a bar reaches both",
    "funding_sign": "funding paid with the wrong sign",
    "gap_at_trigger": "a stop the bar opens through fills at its trigger, not at the open",
    "stop_round_away": "stops rounded away from the market on the tick grid",
    "no_atr_slippage": "SLIPPAGE_ATR ignored",
    "tp_taker": "take profits as taker orders despite TP_AS_MAKER",
    "liq_taker_fee": "liquidation charged the taker fee instead of the liquidation fee",
    "flat_first": "flat symbols decided before the held ones",
    "no_rearm": "the daily-loss halt never re-armed",
    "donchian_inclusive": "the Donchian channel includes the bar itself",
    "ladder_of_remaining": "ladder levels close a share of the remaining quantity, not of the initial one",
    "no_pyramid_stop_raise": "pyramid adds leave the stop where it was",
    "margin_not_consumed": "entries decided earlier on a bar do not use up the free margin",
    "max_positions_ignores_decided": "entries decided earlier on a bar do not count toward MAX_POSITIONS",
    "be_on_close": "break-even promoted on the close instead of the bar's favourable extreme",
    "funding_late": "funding charged one bar late (at the close after the settlement)",
    "anchor_by_open": "the daily anchor taken at the first bar opening in a UTC day, not closing in it",
    "rsi_cutler": "RSI over simple averages instead of Wilder's",
    "ema_first_seed": "EMAs seeded with the first value instead of the mean of the first n",
    "corr_held_only": "the correlation veto ignores entries decided earlier on the same bar",
    "corr_window_short": "the correlation veto reads one bar of returns less than CORRELATION_WINDOW",
}
REGIME_NAMES = {BULL: "BULL_TREND", BEAR: "BEAR_TREND", RANGE: "RANGE"}


def _isnan(x: float) -> bool:
    return x != x


# ------------------------------------------------------------------------------------------------------
# parameters: the Settings object read as numbers, mapped per strategy as risk/params.py documents
# ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Params:
    strategy: str
    risk: float
    stop_k: float
    tp_r: float | None
    ladder: tuple[tuple[float, float], ...]
    trail_k: float
    be_r: float
    max_hold: int
    exit_on_regime: bool
    exit_channel: int
    pyramiding: bool
    pyramid_levels: tuple[tuple[float, float], ...]
    leverage: float
    max_positions: int
    max_drawdown: float
    daily_loss: float
    min_position_value: float
    max_position_ratio: float
    cap: tuple[float, float, float] | None       # Donchian position_cap: multiple, min, max
    funding_avoid_min: float
    corr_threshold: float
    corr_window: int
    max_atr_pct: float
    threshold: float
    allow_long: bool
    allow_short: bool
    adx_gate: bool
    adx_minimum: float
    chop_filter: bool
    falling_threshold: float
    falling_from: float
    stable_bars: int
    block_range: bool
    taker: float
    maker: float
    slip_bps: float
    slip_atr: float
    tp_maker: bool
    rearm_next_day: bool
    # features
    rsi_n: int
    ema_long: int
    macd: tuple[int, int, int]
    bb: tuple[int, float]
    atr_n: int
    adx_n: int
    volume_n: int
    regime_adx: float
    channel: int
    faults: frozenset = frozenset()     # deliberate mistakes (tests of the tests)


def params_from(s: Any) -> Params:
    donchian = s.STRATEGY == "donchian"
    d = s.donchian
    common = dict(
        strategy=s.STRATEGY, be_r=float(d.break_even_r if donchian else s.BREAK_EVEN_R),
        max_hold=int(d.max_holding_bars if donchian else s.MAX_HOLDING_BARS),
        exit_on_regime=bool(d.exit_on_regime_change if donchian else s.EXIT_ON_REGIME_CHANGE),
        max_positions=int(s.MAX_POSITIONS),
        max_drawdown=float(s.MAX_DRAWDOWN), min_position_value=float(s.MIN_POSITION_VALUE),
        allow_long=bool(s.ALLOW_LONG), allow_short=bool(s.ALLOW_SHORT),
        taker=float(s.TAKER_FEE), maker=float(s.MAKER_FEE), slip_bps=float(s.SLIPPAGE_BPS),
        slip_atr=float(s.SLIPPAGE_ATR), tp_maker=bool(s.TP_AS_MAKER),
        rearm_next_day=s.BACKTEST_HALT_REARM == "next_day",
        rsi_n=int(s.RSI_PERIOD), ema_long=int(s.EMA_LONG),
        macd=(int(s.MACD_FAST), int(s.MACD_SLOW), int(s.MACD_SIGNAL)),
        bb=(int(s.BB_PERIOD), float(s.BB_STD)), adx_n=int(s.ADX_PERIOD), volume_n=int(s.VOLUME_SMA_PERIOD),
        regime_adx=float(s.REGIME_ADX_RANGE), channel=int(d.channel_len),
        corr_threshold=float(s.CORRELATION_THRESHOLD), corr_window=int(s.CORRELATION_WINDOW),
        max_atr_pct=float(s.VOLATILITY_MAX_ATR_PCT),
    )
    if donchian:
        cap = d.position_cap
        return Params(
            **common, risk=float(d.risk_pct), stop_k=float(d.atr_stop_k), tp_r=None, ladder=(),
            trail_k=float(d.atr_trail_k), exit_channel=int(d.exit_channel_len) if d.use_exit_channel else 0,
            pyramiding=bool(d.enable_pyramiding), pyramid_levels=tuple(tuple(map(float, x)) for x in d.pyramid_levels),
            leverage=float(d.leverage), daily_loss=float(d.daily_loss_limit),
            max_position_ratio=float(d.leverage),    # the Donchian bot: only leverage and position_cap bound it
            cap=(float(cap.multiple), float(cap.min), float(cap.max)) if cap is not None else None,
            funding_avoid_min=float(d.funding_avoid_min), threshold=1.0, adx_gate=False,
            adx_minimum=float(s.ADX_MINIMUM), chop_filter=bool(s.ADX_CHOP_FILTER),
            falling_threshold=float(s.ADX_FALLING_THRESHOLD), falling_from=float(s.ADX_FALLING_FROM),
            stable_bars=int(s.TREND_STABLE_BARS), block_range=bool(s.BLOCK_RANGE_ENTRIES), atr_n=int(d.atr_len))
    return Params(
        **common, risk=float(s.RISK_PER_TRADE), stop_k=float(s.STOP_ATR_MULTIPLIER),
        tp_r=float(s.TAKE_PROFIT_MULTIPLIER), ladder=tuple(tuple(map(float, x)) for x in s.TP_LADDER),
        trail_k=float(s.TRAIL_ATR_MULTIPLIER), exit_channel=0, pyramiding=bool(s.ENABLE_PYRAMIDING),
        pyramid_levels=tuple(tuple(map(float, x)) for x in s.PYRAMID_LEVELS), leverage=float(s.LEVERAGE),
        daily_loss=float(s.DAILY_LOSS_LIMIT), max_position_ratio=float(s.MAX_POSITION_VALUE_RATIO), cap=None,
        funding_avoid_min=float(s.FUNDING_AVOID_MIN), threshold=float(s.ACTIVATION_THRESHOLD), adx_gate=True,
        adx_minimum=float(s.ADX_MINIMUM), chop_filter=bool(s.ADX_CHOP_FILTER),
        falling_threshold=float(s.ADX_FALLING_THRESHOLD), falling_from=float(s.ADX_FALLING_FROM),
        stable_bars=int(s.TREND_STABLE_BARS), block_range=bool(s.BLOCK_RANGE_ENTRIES), atr_n=int(s.ATR_PERIOD))


# ------------------------------------------------------------------------------------------------------
# indicators, in loops
# ------------------------------------------------------------------------------------------------------

def ema(x: list[float], n: int, start: int = 0) -> list[float]:
    """EMA seeded with the mean of x[start:start+n] (first value at bar start+n-1)."""
    out = [NAN] * len(x)
    if len(x) < start + n:
        return out
    v = sum(x[start:start + n]) / n
    out[start + n - 1] = v
    a = 2.0 / (n + 1)
    for i in range(start + n, len(x)):
        v = v + a * (x[i] - v)
        out[i] = v
    return out


def sma(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    for i in range(n - 1, len(x)):
        out[i] = math.fsum(x[i - n + 1:i + 1]) / n
    return out


def wilder_rsi(x: list[float], n: int) -> list[float]:
    out = [NAN] * len(x)
    if len(x) <= n:
        return out
    gain = [0.0] + [max(x[i] - x[i - 1], 0.0) for i in range(1, len(x))]
    loss = [0.0] + [max(x[i - 1] - x[i], 0.0) for i in range(1, len(x))]
    g, lo = sum(gain[1:n + 1]) / n, sum(loss[1:n + 1]) / n
    for i in range(n, len(x)):
        if i > n:
            g = (g * (n - 1) + gain[i]) / n
            lo = (lo * (n - 1) + loss[i]) / n
            if x[i] == x[i - 1]:
                # nothing moved: both averages shrink by the same factor, so the RSI is exactly the one before
                # (computed again, it would differ from it by rounding, and "rsi > prev(rsi)" would read noise)
                out[i] = out[i - 1]
                continue
        out[i] = 100.0 * g / (g + lo) if g + lo > 0 else 50.0
    return out


def true_range(h: list[float], lo: list[float], c: list[float]) -> list[float]:
    return [NAN] + [max(h[i] - lo[i], abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1])) for i in range(1, len(c))]


def wilder_atr(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    out = [NAN] * len(c)
    if len(c) <= n:
        return out
    tr = true_range(h, lo, c)
    a = sum(tr[1:n + 1]) / n
    out[n] = a
    for i in range(n + 1, len(c)):
        a = (a * (n - 1) + tr[i]) / n
        out[i] = a
    return out


def wilder_adx(h: list[float], lo: list[float], c: list[float], n: int) -> list[float]:
    out = [NAN] * len(c)
    if len(c) < 2 * n:
        return out
    tr = true_range(h, lo, c)
    pdm, mdm = [0.0], [0.0]
    for i in range(1, len(c)):
        up, down = h[i] - h[i - 1], lo[i - 1] - lo[i]
        pdm.append(up if up > 0 and up > down else 0.0)
        mdm.append(down if down > 0 and down > up else 0.0)
    sp, sm, st = sum(pdm[1:n]), sum(mdm[1:n]), sum(tr[1:n])
    dxs, adx = [], NAN
    for i in range(n, len(c)):
        sp, sm, st = sp - sp / n + pdm[i], sm - sm / n + mdm[i], st - st / n + tr[i]
        pdi = 100.0 * sp / st if st > 0 else 0.0
        mdi = 100.0 * sm / st if st > 0 else 0.0
        dx = 100.0 * abs(pdi - mdi) / (pdi + mdi) if pdi + mdi > 0 else 0.0
        if i < 2 * n - 1:
            dxs.append(dx)
            continue
        adx = (sum(dxs) + dx) / n if i == 2 * n - 1 else (adx * (n - 1) + dx) / n
        out[i] = adx
    return out


def macd(x: list[float], fast: int, slow: int, signal: int) -> tuple[list[float], list[float]]:
    slow_ema = ema(x, slow)
    fast_ema = ema(x, fast, start=slow - fast)
    line = [f - s for f, s in zip(fast_ema, slow_ema)]
    sig = ema(line, signal, start=slow - 1)
    first = slow - 1 + signal - 1
    return [v if i >= first else NAN for i, v in enumerate(line)], sig


def bollinger(x: list[float], n: int, k: float) -> tuple[list[float], list[float], list[float]]:
    upper, lower, width = [NAN] * len(x), [NAN] * len(x), [NAN] * len(x)
    for i in range(n - 1, len(x)):
        w = x[i - n + 1:i + 1]
        mid = math.fsum(w) / n
        sd = math.sqrt(math.fsum((v - mid) ** 2 for v in w) / n)
        upper[i], lower[i] = mid + k * sd, mid - k * sd
        width[i] = (upper[i] - lower[i]) / mid
    return upper, lower, width


def donchian(h: list[float], lo: list[float], n: int, inclusive: bool = False) -> tuple[list[float], list[float]]:
    """Highest high and lowest low of the n bars before each bar (``inclusive``: a planted fault, the n bars
    ending with it)."""
    up, dn = [NAN] * len(h), [NAN] * len(h)
    k = 1 if inclusive else 0
    for i in range(n, len(h)):
        up[i], dn[i] = max(h[i - n + k:i + k]), min(lo[i - n + k:i + k])
    return up, dn


def _cutler_rsi(x: list[float], n: int) -> list[float]:
    """A planted fault: RSI over simple averages of the last n changes (Cutler's), not Wilder's."""
    out = [NAN] * len(x)
    for i in range(n, len(x)):
        d = [x[j] - x[j - 1] for j in range(i - n + 1, i + 1)]
        g, lo = sum(v for v in d if v > 0) / n, sum(-v for v in d if v < 0) / n
        out[i] = 100.0 * g / (g + lo) if g + lo > 0 else 50.0
    return out


def _ema_first_seed(x: list[float], n: int) -> list[float]:
    """A planted fault: an EMA seeded with the first value instead of the mean of the first n."""
    out, a = [NAN] * len(x), 2.0 / (n + 1)
    v = x[0] if x else NAN
    for i in range(len(x)):
        v = v + a * (x[i] - v)
        if i >= n - 1:
            out[i] = v
    return out


def regimes(adx: list[float], close: list[float], ema_long: list[float], rsi: list[float], adx_range: float,
            rsi_mid: float = 50.0) -> tuple[list[float], list[int]]:
    codes: list[float] = []
    for a, c, e, r in zip(adx, close, ema_long, rsi):
        if _isnan(a) or _isnan(c) or _isnan(e) or _isnan(r):
            codes.append(NAN)
        elif a < adx_range:
            codes.append(RANGE)
        elif c > e and r > rsi_mid:
            codes.append(BULL)
        elif c < e and r < rsi_mid:
            codes.append(BEAR)
        else:
            codes.append(RANGE)
    ages, run, prev = [], 0, None
    for code in codes:
        if _isnan(code):
            ages.append(0)
            prev, run = None, 0
            continue
        run = run + 1 if code == prev else 1
        prev = code
        ages.append(run)
    return codes, ages


# ------------------------------------------------------------------------------------------------------
# the AUTOBOT default rules, transcribed (name, bias, weight, regimes, condition on bar i)
# ------------------------------------------------------------------------------------------------------

ALL = (BULL, BEAR, RANGE)


def _rules(F: dict[str, list[float]]) -> list[tuple[str, float, float, tuple[int, ...], Callable[[int], bool]]]:
    e9, e21, e50, e200 = F["ema_9"], F["ema_21"], F["ema_50"], F["ema_200"]
    c, o, v, vs = F["close"], F["open"], F["volume"], F["volume_sma"]
    rsi, m, ms, atr, adx = F["rsi"], F["macd"], F["macd_signal"], F["atr"], F["adx"]
    bu, bl, bw, du, dl = F["bb_upper"], F["bb_lower"], F["bb_width"], F["dc_upper_20"], F["dc_lower_20"]

    def prev(x, i, k=1):
        return x[i - k] if i >= k else NAN

    def cross(a, b, i, up):
        if i < 1:
            return False
        now, before = a[i] - b[i], a[i - 1] - b[i - 1]
        return (now > 0 and before <= 0) if up else (now < 0 and before >= 0)

    return [
        ("STRONG_UPTREND", 1.0, 1.5, (BULL,), lambda i: e9[i] > e21[i] and e21[i] > e50[i] and c[i] > e9[i]),
        ("STRONG_DOWNTREND", -1.0, 1.5, (BEAR,), lambda i: e9[i] < e21[i] and e21[i] < e50[i] and c[i] < e9[i]),
        ("EMA_CROSS_LONG", 0.7, 1.0, (BULL, RANGE), lambda i: cross(e9, e21, i, True)),
        ("EMA_CROSS_SHORT", -0.7, 1.0, (BEAR, RANGE), lambda i: cross(e9, e21, i, False)),
        ("RSI_MOMENTUM_LONG", 0.6, 1.0, (BULL,), lambda i: 55 < rsi[i] < 75 and rsi[i] > prev(rsi, i)),
        ("RSI_MOMENTUM_SHORT", -0.6, 1.0, (BEAR,), lambda i: 25 < rsi[i] < 45 and rsi[i] < prev(rsi, i)),
        ("BOLLINGER_BREAKOUT_LONG", 0.6, 1.0, (BULL, RANGE), lambda i: c[i] > bu[i] and bw[i] > prev(bw, i)),
        ("BOLLINGER_BREAKOUT_SHORT", -0.6, 1.0, (BEAR, RANGE), lambda i: c[i] < bl[i] and bw[i] > prev(bw, i)),
        ("TURTLE_20DAY_BREAKOUT_LONG", 0.8, 1.0, (BULL, RANGE), lambda i: c[i] > du[i]),
        ("TURTLE_20DAY_BREAKOUT_SHORT", -0.8, 1.0, (BEAR, RANGE), lambda i: c[i] < dl[i]),
        ("RSI_OVERSOLD_LONG", 0.7, 1.0, (RANGE,), lambda i: rsi[i] < 30),
        ("RSI_OVERBOUGHT_SHORT", -0.7, 1.0, (RANGE,), lambda i: rsi[i] > 70),
        ("BB_LOWER_REVERSION_LONG", 0.5, 1.0, (RANGE,), lambda i: c[i] < bl[i] and rsi[i] < 35),
        ("BB_UPPER_REVERSION_SHORT", -0.5, 1.0, (RANGE,), lambda i: c[i] > bu[i] and rsi[i] > 65),
        ("VOLUME_SPIKE_LONG", 0.4, 0.5, ALL, lambda i: v[i] > 2 * vs[i] and c[i] > o[i]),
        ("VOLUME_SPIKE_SHORT", -0.4, 0.5, ALL, lambda i: v[i] > 2 * vs[i] and c[i] < o[i]),
        ("MACD_CROSS_LONG", 0.6, 1.0, (BULL, RANGE), lambda i: cross(m, ms, i, True)),
        ("MACD_CROSS_SHORT", -0.6, 1.0, (BEAR, RANGE), lambda i: cross(m, ms, i, False)),
        ("ATR_EXPANSION_LONG", 0.3, 0.5, (BULL,), lambda i: atr[i] > 1.3 * prev(atr, i, 10) and c[i] > e21[i]),
        ("ATR_EXPANSION_SHORT", -0.3, 0.5, (BEAR,), lambda i: atr[i] > 1.3 * prev(atr, i, 10) and c[i] < e21[i]),
        ("SUPER_BULLISH", 1.0, 2.0, (BULL,), lambda i: e9[i] > e21[i] and e21[i] > e50[i] and m[i] > ms[i]
         and rsi[i] > 50 and rsi[i] < 70 and adx[i] >= 25 and c[i] > e200[i]),
        ("SUPER_BEARISH", -1.0, 2.0, (BEAR,), lambda i: e9[i] < e21[i] and e21[i] < e50[i] and m[i] < ms[i]
         and rsi[i] < 50 and rsi[i] > 30 and adx[i] >= 25 and c[i] < e200[i]),
    ]


# ------------------------------------------------------------------------------------------------------
# one symbol: features and signals
# ------------------------------------------------------------------------------------------------------

@dataclass
class Pending:
    kind: str                 # entry | exit | add
    sign: int = 0
    units: int = 0
    atr: float = NAN
    reason: str = ""
    regime: str | None = None
    rules: str = ""


@dataclass
class Pos:
    sign: int
    units: int                # whole steps held
    entry: float              # the average entry
    first: float              # the first fill
    stop: float
    tp: float                 # NaN: none
    rpu: float                # 1R: the initial stop distance
    atr0: float
    initial_units: int
    entry_time: pd.Timestamp
    regime: str | None
    rules: str
    bars_held: int = 0
    be: bool = False
    pyramid: int = 0
    ladder: int = 0
    margin: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    realized: float = 0.0
    exit_value: float = 0.0
    exit_qty: float = 0.0
    max_units: int = 0
    mae: float = 0.0
    mfe: float = 0.0
    liq: float = NAN
    initial_stop: float = NAN
    qty_float: float = 0.0    # the quantity as the float it is


class Grid:
    """A market's filters: quantities in whole steps, prices on the tick grid (rounded toward the market)."""

    def __init__(self, filters: Any | None, round_away: bool = False):
        self.round_away = round_away
        tick, step = (Decimal("0.01"), Decimal("0.001")) if filters is None else \
            (Decimal(filters.tick_size), Decimal(filters.step_size))
        self.tick, self.step = tick, step
        self.tick_f, self.step_f = float(tick), float(step)
        self.min_qty = 0.001 if filters is None else float(filters.min_qty)
        self.min_notional = 5.0 if filters is None else float(filters.min_notional)

    def qty(self, units: int) -> float:
        return float(Decimal(units) * self.step)

    def floor_units(self, units: float) -> int:
        """A count of steps rounded toward zero; within 1e-12 below a whole step counts as it (float noise)."""
        return math.floor(units + abs(units) * 1e-12)

    def units_of(self, qty: float) -> int:
        return self.floor_units(qty / self.step_f)

    def _to_tick(self, price: float, up: bool) -> float:
        if _isnan(price):
            return price
        x = price / self.tick_f
        n = math.ceil(x - abs(x) * 1e-12) if up else math.floor(x + abs(x) * 1e-12)
        return float(Decimal(n) * self.tick)

    def stop(self, sign: int, price: float) -> float:      # a long's stop up, a short's down
        return self._to_tick(price, (sign > 0) != self.round_away)

    def target(self, sign: int, price: float) -> float:    # a long's target down, a short's up
        return self._to_tick(price, sign < 0)


class Sym:
    def __init__(self, name: str, bars: pd.DataFrame, P: Params, filters: Any | None, funding: pd.DataFrame | None):
        self.name, self.grid = name, Grid(filters, "stop_round_away" in P.faults)
        self.index = bars.index
        self.t = bars.index.as_unit("ns").asi8.tolist()
        o, h, lo, c, v = (bars[k].astype(float).tolist() for k in ("open", "high", "low", "close", "volume"))
        self.o, self.h, self.l, self.c = o, h, lo, c
        F: dict[str, list[float]] = {"open": o, "high": h, "low": lo, "close": c, "volume": v}
        for n in {9, 21, 50, 200, P.ema_long}:
            F[f"ema_{n}"] = ema(c, n) if "ema_first_seed" not in P.faults else _ema_first_seed(c, n)
        F["rsi"] = wilder_rsi(c, P.rsi_n) if "rsi_cutler" not in P.faults else _cutler_rsi(c, P.rsi_n)
        F["macd"], F["macd_signal"] = macd(c, *P.macd)
        F["bb_upper"], F["bb_lower"], F["bb_width"] = bollinger(c, *P.bb)
        F["atr"] = wilder_atr(h, lo, c, P.atr_n)
        F["adx"] = wilder_adx(h, lo, c, P.adx_n)
        for n in {20, P.channel, P.exit_channel or 20}:
            F[f"dc_upper_{n}"], F[f"dc_lower_{n}"] = donchian(h, lo, n, "donchian_inclusive" in P.faults)
        F["volume_sma"] = sma(v, P.volume_n)
        self.F = F
        self.atr, self.adx = F["atr"], F["adx"]
        self.adx_prev = [NAN] + self.adx[:-1]
        self.regime, self.age = regimes(self.adx, c, F[f"ema_{P.ema_long}"], F["rsi"], P.regime_adx)
        n = len(c)
        if P.exit_channel:
            self.exit_up, self.exit_dn = F[f"dc_upper_{P.exit_channel}"], F[f"dc_lower_{P.exit_channel}"]
        else:
            self.exit_up = self.exit_dn = [NAN] * n
        self.direction, self.proposal, self.fired = [0] * n, [0] * n, [""] * n
        if P.strategy == "donchian":
            up, dn = F[f"dc_upper_{P.channel}"], F[f"dc_lower_{P.channel}"]
            names = (f"DONCHIAN_{P.channel}_BREAKOUT_LONG", f"DONCHIAN_{P.channel}_BREAKOUT_SHORT")
            for i in range(n):
                long_, short = c[i] > up[i], c[i] < dn[i]
                d = int(long_) - int(short)
                self.direction[i] = self.proposal[i] = d
                self.fired[i] = ",".join(nm for nm, hit in zip(names, (long_, short)) if hit)
        else:
            rules = _rules(F)
            for i in range(n):
                code = self.regime[i]
                if _isnan(code):
                    continue
                eligible = fired_w = weighted = 0.0
                names = []
                for name, bias, weight, allowed, cond in rules:
                    if code not in allowed:
                        continue
                    eligible += weight
                    if cond(i):
                        fired_w += weight
                        weighted += bias * weight
                        names.append(name)
                bias = weighted / fired_w if fired_w > 0 else 0.0
                confidence = fired_w / eligible if eligible > 0 else 0.0
                d = (bias > 0) - (bias < 0)
                self.direction[i] = d
                self.proposal[i] = d if confidence >= P.threshold else 0
                self.fired[i] = ",".join(names)
        if funding is not None and len(funding):
            self.funding = list(zip(funding.index.as_unit("ns").asi8.tolist(),
                                    funding["funding_rate"].astype(float).tolist()))
        else:
            self.funding = []
        self.next_funding = 0
        self.pos: Pos | None = None
        self.pending: Pending | None = None
        self.last_close = NAN
        self.held_into = False
        self.exits: list[tuple] = []       # this bar's fills inside it (reason, qty, trigger) and a market exit
        self.adds: list[tuple] = []        # this close's pyramid adds (qty, reference price, level)


# ------------------------------------------------------------------------------------------------------
# the backtest
# ------------------------------------------------------------------------------------------------------

def _slipped(P: Params, sign: int, price: float, atr: float, opening: bool) -> float:
    """A market fill, worse by SLIPPAGE_BPS of the price plus SLIPPAGE_ATR of ATR, against the trader."""
    if "no_atr_slippage" in P.faults:
        atr = NAN
    slip = price * P.slip_bps / 10_000 + (P.slip_atr * atr if not _isnan(atr) else 0.0)
    return price + sign * slip if opening else price - sign * slip


def _liquidation(sign: int, entry: float, leverage: float) -> float:
    """Binance's isolated-margin liquidation price, first bracket (costs.py)."""
    if sign > 0:
        return entry * (1 - 1 / leverage) / (1 - MAINTENANCE_MARGIN)
    return entry * (1 + 1 / leverage) / (1 + MAINTENANCE_MARGIN)


def _tighter(sign: int, a: float, b: float) -> float:
    return max(a, b) if sign > 0 else min(a, b)


def oracle_backtest(bars: Mapping[str, pd.DataFrame] | pd.DataFrame, settings: Any, *, equity: float = 10_000.0,
                    funding: Mapping[str, pd.DataFrame] | None = None, filters: Mapping[str, Any] | None = None,
                    trade_from: Any = None, curve: bool = False,
                    faults: frozenset[str] | set[str] = frozenset()) -> tuple[pd.DataFrame, Any, pd.DataFrame]:
    """Backtest ``settings.STRATEGY`` over ``bars`` on one account.

    A symbol liquidated inside a bar was held into it, as after a stop: it is decided with the positions,
    not as a flat symbol that may enter again on that bar's close.
    ``faults``: deliberate mistakes, to show that the comparison with the engine can fail (:data:`FAULTS`)."""
    if isinstance(bars, pd.DataFrame):
        bars = {bars.attrs.get("symbol") or "SYMBOL": bars}
    P = replace(params_from(settings), faults=frozenset(faults))
    syms = [Sym(name, frame, P, (filters or {}).get(name), (funding or {}).get(name))
            for name, frame in sorted(bars.items())]
    first = next(iter(bars.values()))
    diffs = np.diff(first.index.as_unit("ns").asi8)
    values, counts = np.unique(diffs[diffs > 0], return_counts=True)
    bar_ns = int(values[np.argmax(counts)])
    timeline = syms[0].index
    for s in syms[1:]:
        timeline = timeline.union(s.index)
    t_ns = timeline.as_unit("ns").asi8.tolist()
    rows = []
    for s in syms:
        where = dict(zip(s.t, range(len(s.t))))
        rows.append([where.get(t, -1) for t in t_ns])
    start = 0
    if trade_from is not None:
        ts = pd.Timestamp(trade_from)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        start = int(timeline.searchsorted(ts))

    balance, peak, anchor, anchor_day = float(equity), float(equity), float(equity), None
    halted = False
    trades: list[dict] = []
    decisions: list[tuple] = []
    marks: list[tuple] = []

    def close_part(s: Sym, units: int, price: float, reason: str, t: int, fee_rate: float) -> None:
        """Close ``units`` of ``s``'s position at ``price``; the last close writes the trade."""
        nonlocal balance
        p = s.pos
        qty = s.grid.qty(units)
        gross = p.sign * qty * (price - p.entry)
        fee = qty * price * fee_rate
        balance += gross - fee
        p.realized += gross
        p.fees += fee
        p.exit_value += qty * price
        p.exit_qty += qty
        if units < p.units:
            p.margin *= (p.units - units) / p.units
            p.units -= units
            p.qty_float = s.grid.qty(p.units)
            return
        pnl = p.realized - p.fees - p.funding
        risk = p.rpu * s.grid.qty(p.initial_units)
        trades.append(dict(
            symbol=s.name, side="LONG" if p.sign > 0 else "SHORT", entry_time=p.entry_time, entry_price=p.first,
            initial_stop=p.initial_stop, exit_time=pd.Timestamp(t, tz="UTC"), exit_price=p.exit_value / p.exit_qty,
            qty=s.grid.qty(p.max_units), notional=s.grid.qty(p.max_units) * p.first, fees=p.fees, funding=p.funding,
            pnl=pnl, r_multiple=pnl / risk if risk else NAN, mae_r=-p.mae / p.rpu if p.rpu else NAN,
            mfe_r=p.mfe / p.rpu if p.rpu else NAN, bars_held=p.bars_held, exit_reason=reason, entry_rules=p.rules,
            entry_regime=p.regime))
        s.pos = None

    def stop_reason(s: Sym, p: Pos) -> str:
        if p.be and abs(p.stop - s.grid.stop(p.sign, p.first)) <= 1e-12 * abs(p.first):
            return "break_even_stop"
        initial = s.grid.stop(p.sign, p.first - p.sign * p.rpu)
        return "stop_loss" if abs(p.stop - initial) <= 1e-12 * abs(initial) else "trailing_stop"

    def in_bar(s: Sym, i: int, t: int) -> None:
        """The standing stop and targets inside bar i: the adverse extreme first (open, low, high, close for a
        long), so a stop the bar reaches wins over a target it also reaches; a trigger the bar opens
        through fills at the open."""
        p, g = s.pos, s.grid
        o, h, lo = s.o[i], s.h[i], s.l[i]
        sign = p.sign
        adverse, favourable = (lo, h) if sign > 0 else (h, lo)
        atr = s.atr[i]

        def take(units: int, price: float, reason: str) -> None:
            s.exits.append((reason, g.qty(units), price))
            if units == p.units:     # this fill ends the trade: its excursions count the path up to here
                if reason in ("take_profit", "tp_ladder"):    # on the favourable leg, after the adverse one
                    p.mfe = max(p.mfe, sign * (price - p.first))
                    p.mae = min(p.mae, sign * ((price if price == o else adverse) - p.first))
                else:                                          # on the adverse leg: the open was the best
                    p.mfe = max(p.mfe, sign * (o - p.first))
                    p.mae = min(p.mae, sign * (price - p.first))
            maker = P.tp_maker and reason in ("take_profit", "tp_ladder") and "tp_taker" not in P.faults
            fill = price if maker else _slipped(P, sign, price, atr, False)
            close_part(s, units, fill, reason, t, P.maker if maker else P.taker)

        stop_hit = sign * (adverse - p.stop) <= 0
        if stop_hit and "target_first" not in P.faults:
            gapped = min(o, p.stop) if sign > 0 else max(o, p.stop)
            take(p.units, p.stop if "gap_at_trigger" in P.faults else gapped, stop_reason(s, p))
            return
        for k in range(p.ladder, len(P.ladder)):
            r, share = P.ladder[k]
            level = g.target(sign, p.first + sign * p.rpu * r)
            if sign * (favourable - level) < 0:
                break
            p.ladder += 1
            base = p.units if "ladder_of_remaining" in P.faults else p.initial_units
            part = min(p.units, g.floor_units(base * share))
            if part == 0:
                continue
            take(part, max(o, level) if sign > 0 else min(o, level), "tp_ladder")
            if s.pos is None:
                return
        if not P.ladder and not _isnan(p.tp) and sign * (favourable - p.tp) >= 0:
            take(p.units, max(o, p.tp) if sign > 0 else min(o, p.tp), "take_profit")
            return
        if stop_hit:   # only with the target_first fault
            take(p.units, min(o, p.stop) if sign > 0 else max(o, p.stop), stop_reason(s, p))

    for u in range(start, len(t_ns)):
        t = t_ns[u]
        close_t = t + bar_ns
        # 1. per symbol: the market orders of the previous close fill at this open; liquidation; the standing
        #    stop and targets inside the bar
        for s, row in zip(syms, rows):
            i = row[u]
            if i < 0:
                continue
            g = s.grid
            o = s.o[i]
            pend, s.pending = s.pending, None
            if pend is not None:
                if pend.kind == "exit" and s.pos is not None:
                    close_part(s, s.pos.units, _slipped(P, s.pos.sign, o, pend.atr, False), pend.reason, t, P.taker)
                elif pend.kind == "entry" and s.pos is None:
                    fill = _slipped(P, pend.sign, o, pend.atr, True)
                    qty = g.qty(pend.units)
                    distance = pend.atr * P.stop_k
                    tp = NAN
                    if not P.ladder and P.tp_r is not None:
                        tp = g.target(pend.sign, fill + pend.sign * distance * P.tp_r)
                    stop = g.stop(pend.sign, fill - pend.sign * distance)
                    notional = qty * fill
                    fee = notional * P.taker
                    balance -= fee
                    s.pos = Pos(pend.sign, pend.units, fill, fill, stop, tp, distance, pend.atr, pend.units,
                                pd.Timestamp(t, tz="UTC"), pend.regime, pend.rules, margin=notional / P.leverage,
                                fees=fee, max_units=pend.units, liq=_liquidation(pend.sign, fill, P.leverage),
                                initial_stop=stop, qty_float=qty)
                elif pend.kind == "add" and s.pos is not None:
                    p = s.pos
                    fill = _slipped(P, p.sign, o, pend.atr, True)
                    add = g.qty(pend.units)
                    fee = add * fill * P.taker
                    balance -= fee
                    p.fees += fee
                    p.margin += add * fill / P.leverage
                    p.entry = (p.entry * p.qty_float + fill * add) / (p.qty_float + add)
                    p.units += pend.units
                    p.qty_float = g.qty(p.units)
                    p.max_units = max(p.max_units, p.units)
                    p.liq = _liquidation(p.sign, p.entry, P.leverage)
            s.last_close = s.c[i]
            s.held_into = s.pos is not None
            s.exits, s.adds = [], []
            p = s.pos
            if p is None:
                continue
            h, lo = s.h[i], s.l[i]
            # isolated margin: liquidated where the adverse path reaches the liquidation price before the stop
            adverse = lo if p.sign > 0 else h
            stop_protects = p.sign * (p.stop - p.liq) > 0
            if p.sign * (adverse - p.liq) <= 0 and (not stop_protects or p.sign * (o - p.liq) <= 0):
                p.mfe = max(p.mfe, p.sign * (o - p.first))
                p.mae = min(p.mae, p.sign * (p.liq - p.first))
                fee = P.taker if "liq_taker_fee" in P.faults else LIQUIDATION_FEE
                s.exits.append(("liquidation", s.grid.qty(p.units), p.liq))
                close_part(s, p.units, p.liq, "liquidation", t, fee)
                continue
            in_bar(s, i, t)
            if s.pos is not None:     # held through the whole bar
                p.mfe = max(p.mfe, p.sign * ((h if p.sign > 0 else lo) - p.first))
                p.mae = min(p.mae, p.sign * ((lo if p.sign > 0 else h) - p.first))
        # 2. funding due by this close, (open, close], on the positions held then, at the close (mark) price
        for s in syms:
            due = t if "funding_late" in P.faults else close_t
            while s.next_funding < len(s.funding) and s.funding[s.next_funding][0] <= due:
                ft, rate = s.funding[s.next_funding]
                s.next_funding += 1
                p = s.pos
                if p is not None and ft > p.entry_time.value:
                    pay = p.sign * p.qty_float * s.last_close * rate
                    if "funding_sign" in P.faults:
                        pay = -pay
                    balance -= pay
                    p.funding += pay
        # 3. the account at the close
        eq = balance + sum(s.pos.sign * s.pos.qty_float * (s.last_close - s.pos.entry) for s in syms if s.pos)
        margin = sum(s.pos.margin for s in syms if s.pos)
        n_pos = sum(1 for s in syms if s.pos)
        day = (t if "anchor_by_open" in P.faults else close_t) // DAY_NS
        if day != anchor_day:
            anchor_day, anchor = day, eq
            if halted and P.rearm_next_day and "no_rearm" not in P.faults:
                halted = False
        peak = max(peak, eq)
        if not halted and anchor > 0 and 1.0 - eq / anchor >= P.daily_loss:
            halted = True
        available = balance - margin
        # 4. the decisions: positions held into the bar first, then the flat symbols, each in symbol order
        active = [(s, row[u]) for s, row in zip(syms, rows) if row[u] >= 0]
        order = [x for x in active if x[0].held_into] + [x for x in active if not x[0].held_into]
        if "flat_first" in P.faults:
            order = [x for x in active if not x[0].held_into] + [x for x in active if x[0].held_into]
        entered: set[str] = set()
        for s, i in order:
            ts = s.index[i]
            if s.held_into:
                if s.pos is not None:
                    available = _manage(P, s, i, available, halted)
                decisions.append((ts, s.name, "in_position", tuple(s.exits), tuple(s.adds)))
                continue
            others = [k for k, o in enumerate(syms) if o is not s and (o.pos is not None or (
                o.name in entered and "corr_held_only" not in P.faults))]
            correlated = s.proposal[i] != 0 and any(
                abs(_return_correlation(P, syms, rows, syms.index(s), k, u)) >= P.corr_threshold for k in others)
            outcome, units, notional = _entry(P, s, i, eq, available, peak, anchor, halted, n_pos, close_t,
                                              correlated)
            decisions.append((ts, s.name, outcome, (), ()))
            if outcome == "order":
                code = s.regime[i]
                s.pending = Pending("entry", s.proposal[i], units, s.atr[i], regime=REGIME_NAMES.get(code),
                                    rules=s.fired[i])
                n_pos += 0 if "max_positions_ignores_decided" in P.faults else 1
                entered.add(s.name)
                if "margin_not_consumed" not in P.faults:
                    available -= notional / P.leverage + notional * P.taker
        # 5. marks at the close
        marks.append((eq, balance, margin, 1.0 - eq / peak if peak > 0 else 0.0, halted if active else False))
    # end of data: what is still open closes at its symbol's last close
    for s in syms:
        if s.pos is not None:
            last = max(j for j in range(len(t_ns)) if rows[syms.index(s)][j] >= 0)
            close_part(s, s.pos.units, s.last_close, "end_of_data", t_ns[last], P.taker)
    if marks:
        peak = max(peak, balance)
        marks[-1] = (balance, balance, 0.0, 1.0 - balance / peak if peak > 0 else 0.0, marks[-1][4])
    index = timeline[start:]
    frame = pd.DataFrame(marks, index=index, columns=["equity", "balance", "margin", "drawdown", "halted"])
    trades_frame = pd.DataFrame(trades, columns=TRADE_COLUMNS)
    trades_frame["entry_regime"] = pd.Series([t["entry_regime"] for t in trades], dtype=object)  # None stays None
    decisions_frame = pd.DataFrame(decisions, columns=["timestamp", "symbol", "outcome", "exits", "adds"])
    decisions_frame = decisions_frame.sort_values(["timestamp", "symbol"], kind="stable").reset_index(drop=True)
    return trades_frame, (frame if curve else frame["equity"]), decisions_frame


def _manage(P: Params, s: Sym, i: int, available: float, halted: bool) -> float:
    """At the close of a bar the position survived: a market exit (regime against it, a close through the
    exit channel, held too long), else break-even, the ATR trail (only ever tighter) and pyramid adds (sent
    now, filled at the next open; each raises the stop to the close less the stop distance; none while
    trading is halted: an add is new risk). Returns the free margin left."""
    p, g = s.pos, s.grid
    sign = p.sign
    h, lo, c = s.h[i], s.l[i], s.c[i]
    atr = s.atr[i]
    p.bars_held += 1
    reason = None
    if P.exit_on_regime and s.regime[i] == -sign:
        reason = "regime_change"
    elif (sign > 0 and c < s.exit_dn[i]) or (sign < 0 and c > s.exit_up[i]):
        reason = "exit_channel"
    elif P.max_hold > 0 and p.bars_held >= P.max_hold:
        reason = "max_holding_time"
    if reason is not None:
        s.pending = Pending("exit", atr=atr, reason=reason)
        s.exits.append((reason, g.qty(p.units), None))
        return available
    favourable = h if sign > 0 else lo
    if "be_on_close" in P.faults:
        favourable = c
    if not p.be and P.be_r > 0 and sign * (favourable - p.first) >= P.be_r * p.rpu:
        p.be = True
        p.stop = _tighter(sign, p.stop, g.stop(sign, p.first))
    if not _isnan(atr) and atr > 0:
        k = P.trail_k * (1.3 if "trail_x1.3" in P.faults else 1.0)
        trail = c - sign * k * atr
        if p.be:
            trail = _tighter(sign, trail, p.first)
        p.stop = _tighter(sign, p.stop, g.stop(sign, trail))
    added = 0
    if P.pyramiding and not halted:
        for k in range(p.pyramid, len(P.pyramid_levels)):
            level, share = P.pyramid_levels[k]
            if sign * (c - (p.first + sign * level * p.atr0)) < 0:
                break
            units = g.floor_units(p.initial_units * share)
            qty = g.qty(units)
            if units == 0 or qty < g.min_qty or qty * c < g.min_notional:
                p.pyramid += 1          # too small to send: the level is spent
                continue
            cost = qty * c / P.leverage + qty * c * P.taker
            if cost > available:
                break                   # no margin for it: it waits
            available -= cost
            p.pyramid += 1
            added += units
            s.adds.append((qty, c, k + 1))
            raised = c - sign * P.stop_k * (atr if not _isnan(atr) else p.atr0)
            if "no_pyramid_stop_raise" not in P.faults:
                p.stop = _tighter(sign, p.stop, g.stop(sign, raised))
    if added:
        s.pending = Pending("add", units=added, atr=atr)
    return available


def _return_correlation(P: Params, syms: list, rows: list, a: int, b: int, u: int) -> float:
    """Pearson correlation of two symbols' bar returns over the CORRELATION_WINDOW bars of the timeline up
    to ``u``: the returns where both symbols have the bar and the one before (NaN when under two)."""
    window = P.corr_window - (1 if "corr_window_short" in P.faults else 0)
    pairs = []
    for v in range(max(0, u - window) + 1, u + 1):
        ra, rb = rows[a], rows[b]
        if min(ra[v], ra[v - 1], rb[v], rb[v - 1]) < 0:
            continue
        ca, cb = syms[a].c, syms[b].c
        pairs.append((ca[ra[v]] / ca[ra[v - 1]] - 1.0, cb[rb[v]] / cb[rb[v - 1]] - 1.0))
    if len(pairs) < 2:
        return math.nan
    try:
        return statistics.correlation([x for x, _ in pairs], [y for _, y in pairs])
    except statistics.StatisticsError:          # one of them does not move
        return math.nan


def _entry(P: Params, s: Sym, i: int, equity: float, available: float, peak: float, anchor: float, halted: bool,
           n_pos: int, close_t: int, correlated: bool) -> tuple[str, int, float]:
    """A flat symbol's decision: warm-up, the signal, the ADX gate, the pre-trade vetoes, sizing, the order
    vetoes. Returns (outcome, units, notional at the close)."""
    atr, code = s.atr[i], s.regime[i]
    if _isnan(atr) or (P.adx_gate and _isnan(code)):
        return "warmup", 0, 0.0
    if s.direction[i] == 0:
        return "neutral", 0, 0.0
    sign = s.proposal[i]
    if sign == 0:
        return "below_threshold", 0, 0.0
    gate = []
    if sign > 0 and not P.allow_long:
        gate.append("long_disabled")
    if sign < 0 and not P.allow_short:
        gate.append("short_disabled")
    if P.adx_gate:
        adx, adx_prev = s.adx[i], s.adx_prev[i]
        if _isnan(code) or _isnan(adx):
            gate.append("no_regime")
        else:
            if P.block_range and code == RANGE:
                gate.append("range_regime")
            if code == -sign:
                gate.append("against_regime")
            if P.chop_filter:
                if adx < P.adx_minimum:
                    gate.append("adx_too_low")
                if not _isnan(adx_prev) and adx_prev > P.falling_from and \
                        (adx_prev - adx) / adx_prev > P.falling_threshold:
                    gate.append("adx_falling")
            if s.age[i] < P.stable_bars:
                gate.append("trend_unstable")
    if gate:
        return f"gate:{gate[0]}", 0, 0.0
    vetoes = []
    if halted:
        vetoes.append("halted")
    if n_pos >= P.max_positions:
        vetoes.append("max_positions")
    if (1.0 - equity / peak if peak > 0 else 0.0) >= P.max_drawdown:
        vetoes.append("max_drawdown")
    if anchor > 0 and 1.0 - equity / anchor >= P.daily_loss:
        vetoes.append("daily_loss_limit")
    if P.funding_avoid_min > 0:
        elapsed = close_t % DAY_NS
        minutes = ((elapsed // FUNDING_INTERVAL_NS + 1) * FUNDING_INTERVAL_NS - elapsed) / 60e9
        if minutes <= P.funding_avoid_min:
            vetoes.append("funding_window")
    if correlated:
        vetoes.append("correlation")
    if P.max_atr_pct > 0 and atr / s.c[i] > P.max_atr_pct:
        vetoes.append("volatility")
    if vetoes:
        return f"veto:{vetoes[0]}", 0, 0.0
    # Turtle N-unit sizing: risk = equity x risk share over the ATR stop distance, capped, whole steps
    g, price = s.grid, s.c[i]
    distance = atr * P.stop_k
    if not equity > 0:
        return "size:no_equity", 0, 0.0
    if not distance > 0 or not price > 0:
        return "size:no_volatility", 0, 0.0
    qty = equity * P.risk / distance
    cap = equity * P.max_position_ratio
    cap = min(cap, equity * P.leverage)
    if P.cap is not None:
        multiple, lo, hi = P.cap
        cap = min(cap, min(max(multiple * equity, lo), hi))
    if qty * price > cap:
        qty = cap / price
    units = g.units_of(qty)
    rounded = g.qty(units)
    notional = rounded * price
    if units == 0:
        return "size:rounds_to_zero", 0, 0.0
    if rounded < g.min_qty:
        return "size:below_min_qty", 0, 0.0
    if notional < max(g.min_notional, P.min_position_value):
        return "size:below_min_notional", 0, 0.0
    vetoes = []
    if notional > equity * P.max_position_ratio * (1 + 1e-9):
        vetoes.append("max_position_value")
    if notional < P.min_position_value:
        vetoes.append("min_notional")
    if notional / P.leverage + notional * P.taker > available:
        vetoes.append("insufficient_margin")
    if vetoes:
        return f"veto:{vetoes[0]}", 0, 0.0
    return "order", units, notional
