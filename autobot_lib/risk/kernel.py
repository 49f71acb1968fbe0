"""The decision step, compiled: gate, vetoes, sizing, exits and their composition, over plain numbers.

This is the one implementation of the path-dependent part of the pipeline. The Python API
(:func:`autobot_lib.pipeline.decide`, :func:`~autobot_lib.risk.exits.manage_position`,
:func:`~autobot_lib.risk.gate.entry_gate`, :func:`~autobot_lib.risk.vetoes.pre_trade_vetoes`,
:func:`~autobot_lib.risk.sizing.size_position`), which the live engine calls once per bar, converts
its values to these numbers and back; the backtester's compiled loop calls :func:`decide_bar` directly.

Encodings:
- a position is a tuple ``(sign, qty, entry_price, stop, take_profit, risk_per_unit, atr_at_entry,
  initial_qty, bars_held, be_promoted, pyramid_steps, ladder_steps, first_entry_price)``; ``sign`` is
  1 long, -1 short, 0 flat; NaN ``take_profit`` means none;
- regimes are codes 1 bull, -1 bear, 0 range, NaN unknown (:func:`autobot_lib.regime.classify`);
- reasons are indices into the tuples below; the gate and the vetoes return bit masks whose bits, read
  from the lowest, give the reasons in the order they are checked;
- quantities are whole units of the market's step size (:func:`floor_units`), so what is sized is
  exactly what is sent.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from autobot_lib._jit import njit
from autobot_lib.model import ExitReason, Position
from autobot_lib.risk.params import RiskParams

EXIT_REASONS = tuple(ExitReason)
GATE_ORDER = ("long_disabled", "short_disabled", "no_regime", "range_regime", "against_regime", "adx_too_low",
              "adx_falling", "trend_unstable")
VETO_ORDER = ("halted", "reducing", "already_in_position", "max_positions", "max_drawdown", "daily_loss_limit",
              "funding_window", "correlation", "max_position_value", "min_notional", "insufficient_margin")
SIZE_REASONS = ("no_volatility", "no_equity", "rounds_to_zero", "below_min_qty", "below_min_notional")
CAPS = ("max_position_value", "leverage", "position_cap")
OUTCOMES = ("warmup", "in_position", "neutral", "below_threshold", "gate", "veto", "size", "order")
WARMUP, IN_POSITION, NEUTRAL, BELOW_THRESHOLD, GATE, VETO, SIZE, ORDER = range(len(OUTCOMES))

_X = {r: i for i, r in enumerate(EXIT_REASONS)}
STOP_LOSS, TRAILING_STOP, BREAK_EVEN_STOP = _X[ExitReason.STOP_LOSS], _X[ExitReason.TRAILING_STOP], _X[ExitReason.BREAK_EVEN_STOP]
TAKE_PROFIT, TP_LADDER = _X[ExitReason.TAKE_PROFIT], _X[ExitReason.TP_LADDER]
REGIME_CHANGE, EXIT_CHANNEL, MAX_HOLDING = _X[ExitReason.REGIME_CHANGE], _X[ExitReason.EXIT_CHANNEL], _X[ExitReason.MAX_HOLDING_TIME]
NO_VOLATILITY, NO_EQUITY, ROUNDS_TO_ZERO, BELOW_MIN_QTY, BELOW_MIN_NOTIONAL = range(len(SIZE_REASONS))
_NS_PER_MINUTE = 60 * 10**9
_DAY_NS = 86_400 * 10**9

FLAT = (0, 0.0, 0.0, 0.0, math.nan, 0.0, 0.0, 0.0, 0, False, 0, 0, 0.0)


class KernelParams(NamedTuple):
    """:class:`RiskParams` as plain numbers (None -> NaN or a flag), the form compiled code takes."""

    risk_per_trade: float
    stop_atr_k: float
    take_profit_r: float
    tp_ladder: np.ndarray           # (levels, 2): R multiple, share of the initial quantity
    trail_atr_k: float
    break_even_r: float
    max_holding_bars: int
    exit_on_regime_change: bool
    pyramiding: bool
    pyramid_levels: np.ndarray      # (levels, 2): ATR multiple, share of the initial quantity
    leverage: float
    max_positions: int
    max_drawdown: float
    daily_loss_limit: float
    min_position_value: float
    max_position_value_ratio: float
    has_position_cap: bool
    cap_multiple: float
    cap_min: float
    cap_max: float
    correlation_threshold: float
    funding_avoid_min: float
    funding_interval_ns: int
    allow_long: bool
    allow_short: bool
    use_adx_gate: bool
    adx_minimum: float
    adx_chop_filter: bool
    adx_falling_threshold: float
    adx_falling_from: float
    trend_stable_bars: int
    block_range_entries: bool
    taker_fee: float


@lru_cache(maxsize=64)
def kernel_params(p: RiskParams) -> KernelParams:
    cap = p.position_cap

    def table(rows) -> np.ndarray:
        return np.array(rows, dtype=np.float64).reshape(-1, 2)

    return KernelParams(
        float(p.risk_per_trade), float(p.stop_atr_k), math.nan if p.take_profit_r is None else float(p.take_profit_r),
        table(p.tp_ladder), float(p.trail_atr_k), float(p.break_even_r), int(p.max_holding_bars),
        bool(p.exit_on_regime_change), bool(p.pyramiding), table(p.pyramid_levels), float(p.leverage),
        int(p.max_positions), float(p.max_drawdown), float(p.daily_loss_limit), float(p.min_position_value),
        float(p.max_position_value_ratio), cap is not None, float(cap.multiple) if cap else 0.0,
        float(cap.min) if cap else 0.0, float(cap.max) if cap else 0.0, float(p.correlation_threshold),
        float(p.funding_avoid_min), int(p.funding_interval_hours) * 3600 * 10**9, bool(p.allow_long),
        bool(p.allow_short), bool(p.use_adx_gate), float(p.adx_minimum), bool(p.adx_chop_filter),
        float(p.adx_falling_threshold), float(p.adx_falling_from), int(p.trend_stable_bars),
        bool(p.block_range_entries), float(p.taker_fee))


_REGIME_CODES = {"BULL_TREND": 1.0, "BEAR_TREND": -1.0, "RANGE": 0.0}


def regime_code(regime: str | None) -> float:
    return _REGIME_CODES.get(regime, math.nan) if regime is not None else math.nan


def position_tuple(pos: Position | None) -> tuple:
    if pos is None:
        return FLAT
    return (pos.side.sign, float(pos.qty), float(pos.entry_price), float(pos.stop),
            math.nan if pos.take_profit is None else float(pos.take_profit), float(pos.risk_per_unit),
            float(pos.atr_at_entry), float(pos.initial_qty), int(pos.bars_held), bool(pos.be_promoted),
            int(pos.pyramid_steps), int(pos.ladder_steps), float(pos.first_entry_price))


def updated_position(pos: Position, state: tuple) -> Position:
    """``pos`` with the running fields of a kernel position tuple."""
    _, qty, entry, stop, _, _, _, _, bars_held, be, pyramid, ladder, _ = state
    return pos.with_(qty=qty, entry_price=entry, stop=stop, bars_held=int(bars_held), be_promoted=bool(be),
                     pyramid_steps=int(pyramid), ladder_steps=int(ladder))


def reasons(mask: int, order: tuple[str, ...]) -> tuple[str, ...]:
    """The reasons a bit mask holds, in the order they were checked."""
    return tuple(name for bit, name in enumerate(order) if mask >> bit & 1)


# --- quantities in whole steps ----------------------------------------------------------------------

def step_scale(step: float) -> float:
    """1/step when that is a whole number (steps such as 0.001), else 0: dividing a count of steps by it
    gives the float nearest the exact decimal quantity, as Decimal would."""
    scale = round(1.0 / step)
    return float(scale) if scale >= 1 and abs(scale * step - 1.0) < 1e-12 else 0.0


@njit(cache=True, inline="always")
def floor_units(value, step, scale):
    """``value`` in whole steps, rounded toward zero; a value within 1e-12 (relative) below a whole step
    counts as that step (float noise such as 0.3/0.1 = 2.9999999999999996)."""
    x = value * scale if scale > 0 else value / step
    return np.int64(math.floor(x + abs(x) * 1e-12))


@njit(cache=True, inline="always")
def units_to_qty(units, step, scale):
    return units / scale if scale > 0 else units * step


# --- exits and position management --------------------------------------------------------------------

@njit(cache=True, inline="always")
def _tighter(sign, current, candidate):
    return max(current, candidate) if sign > 0 else min(current, candidate)


@njit(cache=True, inline="always")
def trail_stop(sign, first_entry, last_price, atr, be_promoted, trail_atr_k):
    """The Donchian bot's trailing stop: trail_k ATR behind the last price, never worse than the entry
    once break-even has been promoted."""
    trail = last_price - sign * trail_atr_k * atr
    return _tighter(sign, trail, first_entry) if be_promoted else trail


@njit(cache=True, inline="always")
def stop_reason(sign, stop, be_promoted, risk_per_unit, first_entry):
    initial = first_entry - sign * risk_per_unit
    if be_promoted and abs(stop - first_entry) < 1e-12 * max(1.0, first_entry):
        return BREAK_EVEN_STOP
    return STOP_LOSS if abs(stop - initial) < 1e-12 * max(1.0, initial) else TRAILING_STOP


@njit(cache=True, inline="always")
def position_step(pos, o, h, l, c, atr, regime, exit_upper, exit_lower, p, exits, adds):
    """One bar of a held position (see :mod:`autobot_lib.risk.exits` for the rules and their order).

    Writes fills made inside the bar to ``exits`` (rows: reason, qty, price) and pyramid adds to
    ``adds`` (rows: qty, price, level). Returns ``(position, n_exits, n_adds, stop_moved, close_reason,
    closed)``: ``closed`` when the bar closed it all, ``close_reason`` (-1: none) for a market exit
    to send now (filled at the next open)."""
    sign, qty, entry, stop, tp, rpu, atr_entry, initial_qty, bars_held, be, pyramid, ladder, first = pos
    favourable = h if sign > 0 else l
    adverse = l if sign > 0 else h

    # 1. the stop that was live during this bar
    if sign * (adverse - stop) <= 0:
        exits[0, 0] = stop_reason(sign, stop, be, rpu, first)
        exits[0, 1] = qty
        exits[0, 2] = min(o, stop) if sign > 0 else max(o, stop)
        return pos, 1, 0, False, -1, True

    # 2. take profit: the ladder first, else the single target
    n_exits = 0
    for k in range(ladder, p.tp_ladder.shape[0]):
        level = first + sign * rpu * p.tp_ladder[k, 0]
        if sign * (favourable - level) < 0:
            break
        part = min(qty, initial_qty * p.tp_ladder[k, 1])
        exits[n_exits, 0] = TP_LADDER
        exits[n_exits, 1] = part
        exits[n_exits, 2] = max(o, level) if sign > 0 else min(o, level)
        n_exits += 1
        qty -= part
        ladder += 1
    if qty <= initial_qty * 1e-9:
        return pos, n_exits, 0, False, -1, True
    if p.tp_ladder.shape[0] == 0 and tp == tp and sign * (favourable - tp) >= 0:
        exits[0, 0] = TAKE_PROFIT
        exits[0, 1] = qty
        exits[0, 2] = max(o, tp) if sign > 0 else min(o, tp)
        return pos, 1, 0, False, -1, True

    # 3. regime against the position, a close through the exit channel, held too long: a market exit
    bars_held += 1
    close_reason = -1
    if p.exit_on_regime_change and regime == -sign:
        close_reason = REGIME_CHANGE
    elif sign * (c - (exit_lower if sign > 0 else exit_upper)) < 0:   # NaN (no channel) compares False
        close_reason = EXIT_CHANNEL
    elif p.max_holding_bars > 0 and bars_held >= p.max_holding_bars:
        close_reason = MAX_HOLDING
    if close_reason >= 0:
        held = (sign, qty, entry, stop, tp, rpu, atr_entry, initial_qty, bars_held, be, pyramid, ladder, first)
        return held, n_exits, 0, False, close_reason, False

    # 4. for the next bar: break-even, the ATR trail (it only tightens), pyramiding
    new_stop = stop
    if not be and p.break_even_r > 0 and sign * (favourable - first) >= p.break_even_r * rpu:
        be = True
        new_stop = _tighter(sign, new_stop, first)
    if atr == atr and atr > 0:
        new_stop = _tighter(sign, new_stop, trail_stop(sign, first, c, atr, be, p.trail_atr_k))
    entry_value = entry * qty
    n_adds = 0
    levels = p.pyramid_levels.shape[0] if p.pyramiding else 0
    for k in range(pyramid, levels):
        if sign * (c - (first + sign * p.pyramid_levels[k, 0] * atr_entry)) < 0:
            break
        add = initial_qty * p.pyramid_levels[k, 1]
        adds[n_adds, 0] = add
        adds[n_adds, 1] = c
        adds[n_adds, 2] = k + 1
        n_adds += 1
        entry_value += add * c
        qty += add
        pyramid += 1
        new_stop = _tighter(sign, new_stop, c - sign * p.stop_atr_k * (atr if atr == atr else atr_entry))
    held = (sign, qty, entry_value / qty, new_stop, tp, rpu, atr_entry, initial_qty, bars_held, be, pyramid, ladder,
            first)
    return held, n_exits, n_adds, new_stop != stop, -1, False


# --- the entry: gate, vetoes, size ------------------------------------------------------------------

@njit(cache=True)
def gate_mask(sign, adx, adx_prev, regime, regime_age, p):
    """The ADX entry gate and the long/short switches (bits: :data:`GATE_ORDER`)."""
    mask = 0
    if sign > 0 and not p.allow_long:
        mask |= 1
    if sign < 0 and not p.allow_short:
        mask |= 2
    if not p.use_adx_gate:
        return mask
    if regime != regime or adx != adx:
        return mask | 4
    if p.block_range_entries and regime == 0:
        mask |= 8
    if regime == -sign:
        mask |= 16
    if p.adx_chop_filter:
        if adx < p.adx_minimum:
            mask |= 32
        if adx_prev == adx_prev and adx_prev > p.adx_falling_from and \
                (adx_prev - adx) / adx_prev > p.adx_falling_threshold:
            mask |= 64
    if regime_age < p.trend_stable_bars:
        mask |= 128
    return mask


@njit(cache=True)
def minutes_to_funding(now_ns, interval_ns):
    """Minutes until the next funding settlement, counted from UTC midnight (00:00, 08:00, 16:00)."""
    elapsed = now_ns % _DAY_NS
    return ((elapsed // interval_ns + 1) * interval_ns - elapsed) / _NS_PER_MINUTE


@njit(cache=True)
def pre_trade_mask(state, in_position, n_positions, equity, peak, anchor, now_ns, correlated, p):
    """Does the account allow a new position? (bits: the first eight of :data:`VETO_ORDER`).
    ``state``: 0 active, 1 reducing, 2 halted."""
    mask = 0
    if state == 2:
        mask |= 1
    elif state == 1:
        mask |= 2
    if in_position:
        mask |= 4
    if n_positions >= p.max_positions:
        mask |= 8
    if (1.0 - equity / peak if peak > 0 else 0.0) >= p.max_drawdown:
        mask |= 16
    if (1.0 - equity / anchor if anchor > 0 else 0.0) >= p.daily_loss_limit:
        mask |= 32
    if p.funding_avoid_min > 0 and minutes_to_funding(now_ns, p.funding_interval_ns) <= p.funding_avoid_min:
        mask |= 64
    if correlated:
        mask |= 128
    return mask


@njit(cache=True)
def size_units(equity, price, atr, p, step, scale, min_qty, min_notional):
    """Turtle ATR sizing, capped, in whole steps. Returns ``(units, raw_qty, notional, risk_amount,
    stop_distance, capped_by, reason)``; ``capped_by`` and ``reason`` are -1 when none."""
    stop_distance = atr * p.stop_atr_k if atr == atr else math.nan
    if not equity > 0:
        return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_EQUITY
    if not stop_distance > 0 or not price > 0:
        return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_VOLATILITY
    risk_amount = equity * p.risk_per_trade
    raw = risk_amount / stop_distance
    cap, cap_value = 0, equity * p.max_position_value_ratio
    if equity * p.leverage < cap_value:
        cap, cap_value = 1, equity * p.leverage
    if p.has_position_cap:
        limit = min(max(p.cap_multiple * equity, p.cap_min), p.cap_max)
        if limit < cap_value:
            cap, cap_value = 2, limit
    qty, capped = raw, -1
    if raw * price > cap_value:
        qty, capped = cap_value / price, cap
    units = floor_units(qty, step, scale)
    rounded = units_to_qty(units, step, scale)
    notional = rounded * price
    reason = -1
    if units == 0:
        reason = ROUNDS_TO_ZERO
    elif rounded < min_qty:
        reason = BELOW_MIN_QTY
    elif notional < max(min_notional, p.min_position_value):
        reason = BELOW_MIN_NOTIONAL
    return units, raw, notional, risk_amount, stop_distance, capped, reason


@njit(cache=True)
def order_mask(notional, equity, available, p):
    """Does this order fit? (bits 8-10 of :data:`VETO_ORDER`)."""
    mask = 0
    if notional > equity * p.max_position_value_ratio * (1 + 1e-9):
        mask |= 256
    if notional < p.min_position_value:
        mask |= 512
    if notional / p.leverage + notional * p.taker_fee > available:
        mask |= 1024
    return mask


# --- the decision for one bar ---------------------------------------------------------------------------

NO_SIZE = (np.int64(0), 0.0, 0.0, 0.0, math.nan, -1, -1)


@njit(cache=True, inline="always")
def decide_bar(pos, o, h, l, c, atr, adx, adx_prev, regime, regime_age, exit_upper, exit_lower, direction,
               proposal_sign, equity, available, peak, anchor, state, n_positions, correlated, decided_ns,
               step, scale, min_qty, min_notional, p, exits, adds):
    """The decision for one closed bar of one symbol: manage the position held, or take an entry through
    the gate, the vetoes and sizing. Returns ``(outcome, gate, vetoes, sized, size, position, n_exits,
    n_adds, stop_moved, close_reason, closed)``; ``size`` as :func:`size_units`."""
    if pos[0] != 0:
        held, n_exits, n_adds, moved, close_reason, closed = position_step(pos, o, h, l, c, atr, regime, exit_upper,
                                                                           exit_lower, p, exits, adds)
        return IN_POSITION, 0, 0, False, NO_SIZE, held, n_exits, n_adds, moved, close_reason, closed
    outcome, gate, vetoes, sized, size = ORDER, 0, 0, False, NO_SIZE
    if atr != atr or (p.use_adx_gate and regime != regime):
        outcome = WARMUP
    elif direction == 0:
        outcome = NEUTRAL
    elif proposal_sign == 0:
        outcome = BELOW_THRESHOLD
    else:
        gate = gate_mask(proposal_sign, adx, adx_prev, regime, regime_age, p)
        if gate:
            outcome = GATE
        else:
            vetoes = pre_trade_mask(state, False, n_positions, equity, peak, anchor, decided_ns, correlated, p)
            if not vetoes:
                sized = True
                size = size_units(equity, c, atr, p, step, scale, min_qty, min_notional)
                if size[6] < 0:
                    vetoes = order_mask(size[2], equity, available, p)
            if vetoes:
                outcome = VETO
            elif size[6] >= 0:
                outcome = SIZE
    return outcome, gate, vetoes, sized, size, pos, 0, 0, False, -1, False
