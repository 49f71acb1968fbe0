"""The decision step, compiled: gate, vetoes, sizing, exits and their composition, over plain numbers.

This is the one implementation of the path-dependent part of the pipeline. The Python API
(:func:`autobot_lib.pipeline.decide`, :func:`~autobot_lib.risk.exits.manage_position`,
:func:`~autobot_lib.risk.gate.entry_gate`, :func:`~autobot_lib.risk.vetoes.pre_trade_vetoes`,
:func:`~autobot_lib.risk.sizing.size_position`), which the live engine calls once per bar, converts
its values to these numbers and back; the backtester's compiled loop calls :func:`decide_bar` directly.

Encodings:
- a position is a :class:`PositionState` (a named tuple, compiled and interpreted alike); ``sign`` is 1
  long, -1 short, 0 flat; NaN ``take_profit`` means none; stored as a row of floats, field i is slot i
  (:data:`SLOT`, :func:`position_from_row`, :func:`store_position`);
- a market's filters are a :class:`Market`: step size and tick size with their inverse scales, minimum
  quantity and notional;
- regimes are codes 1 bull, -1 bear, 0 range, NaN unknown (:func:`autobot_lib.regime.classify`);
- reasons are indices into the enums of :mod:`autobot_lib.risk.reasons` (the tuples and codes below are
  derived from them); the gate and the vetoes return bit masks whose bits, read from the lowest, give the
  reasons in the order they are checked;
- quantities are whole units of the market's step size (:func:`floor_units`) and protective prices are
  on its tick grid (:func:`stop_price`, :func:`target_price`), so what the model holds is exactly what
  the exchange is sent and triggers on.

The fill model these functions assume (the backtester, the paper broker and the venue share it; see
``docs/fill-model.md``): a market order sent at a bar's close fills at the next bar's open; inside a bar
the price goes first to the extreme that hurts the open position, then to the other one, then to the
close, so a stop that the bar reaches wins over a take profit it also reaches; a stop or target the bar
opens through fills at the open.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from autobot_lib import _numba_cache
from autobot_lib import model as _model
from autobot_lib._jit import njit
from autobot_lib.model import Position, TradingState
from autobot_lib.risk import reasons as _reasons
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.reasons import Cap, ExitReason, GateReason, Outcome, SizeReason, Veto, bit, code, names

# numba keys its cache by this file only, yet the reason codes below are frozen into it from these two
_numba_cache.drop_stale(__file__, _reasons.__file__, _model.__file__)

# the reason tables, as the plain tuples and integers compiled code reads (one definition: risk/reasons.py)
EXIT_REASONS = tuple(ExitReason)
GATE_ORDER, VETO_ORDER = names(GateReason), names(Veto)
SIZE_REASONS, CAPS, OUTCOMES = names(SizeReason), names(Cap), names(Outcome)
WARMUP, IN_POSITION, NEUTRAL = code(Outcome.WARMUP), code(Outcome.IN_POSITION), code(Outcome.NEUTRAL)
BELOW_THRESHOLD, GATE, VETO = code(Outcome.BELOW_THRESHOLD), code(Outcome.GATE), code(Outcome.VETO)
SIZE, ORDER = code(Outcome.SIZE), code(Outcome.ORDER)

STOP_LOSS, TRAILING_STOP = code(ExitReason.STOP_LOSS), code(ExitReason.TRAILING_STOP)
BREAK_EVEN_STOP, TAKE_PROFIT = code(ExitReason.BREAK_EVEN_STOP), code(ExitReason.TAKE_PROFIT)
TP_LADDER, REGIME_CHANGE = code(ExitReason.TP_LADDER), code(ExitReason.REGIME_CHANGE)
EXIT_CHANNEL, MAX_HOLDING = code(ExitReason.EXIT_CHANNEL), code(ExitReason.MAX_HOLDING_TIME)
LIQUIDATION = code(ExitReason.LIQUIDATION)

NO_VOLATILITY, NO_EQUITY = code(SizeReason.NO_VOLATILITY), code(SizeReason.NO_EQUITY)
ROUNDS_TO_ZERO, BELOW_MIN_QTY = code(SizeReason.ROUNDS_TO_ZERO), code(SizeReason.BELOW_MIN_QTY)
BELOW_MIN_NOTIONAL = code(SizeReason.BELOW_MIN_NOTIONAL)
CAP_VALUE, CAP_LEVERAGE, CAP_POSITION = code(Cap.MAX_POSITION_VALUE), code(Cap.LEVERAGE), code(Cap.POSITION_CAP)

# mask bits: numba freezes these module integers into the compiled code
G_LONG_DISABLED, G_SHORT_DISABLED = bit(GateReason.LONG_DISABLED), bit(GateReason.SHORT_DISABLED)
G_NO_REGIME, G_RANGE_REGIME = bit(GateReason.NO_REGIME), bit(GateReason.RANGE_REGIME)
G_AGAINST_REGIME, G_ADX_TOO_LOW = bit(GateReason.AGAINST_REGIME), bit(GateReason.ADX_TOO_LOW)
G_ADX_FALLING, G_TREND_UNSTABLE = bit(GateReason.ADX_FALLING), bit(GateReason.TREND_UNSTABLE)
V_HALTED, V_REDUCING = bit(Veto.HALTED), bit(Veto.REDUCING)
V_ALREADY_IN_POSITION, V_MAX_POSITIONS = bit(Veto.ALREADY_IN_POSITION), bit(Veto.MAX_POSITIONS)
V_MAX_DRAWDOWN, V_DAILY_LOSS_LIMIT = bit(Veto.MAX_DRAWDOWN), bit(Veto.DAILY_LOSS_LIMIT)
V_FUNDING_WINDOW, V_CORRELATION = bit(Veto.FUNDING_WINDOW), bit(Veto.CORRELATION)
V_VOLATILITY, V_MAX_POSITION_VALUE = bit(Veto.VOLATILITY), bit(Veto.MAX_POSITION_VALUE)
V_MIN_NOTIONAL, V_INSUFFICIENT_MARGIN = bit(Veto.MIN_NOTIONAL), bit(Veto.INSUFFICIENT_MARGIN)

# the trading state as the kernel counts it
ACTIVE, REDUCING, HALTED = code(TradingState.ACTIVE), code(TradingState.REDUCING), code(TradingState.HALTED)
TRADING_STATES = {state: code(state) for state in TradingState}

_NS_PER_MINUTE = 60 * 10**9
_DAY_NS = 86_400 * 10**9


class PositionState(NamedTuple):
    """A position as the kernel holds it (sign 0: flat)."""

    sign: int
    qty: float
    entry: float                  # the average entry price (the exchange's), kept by whoever fills
    stop: float                   # the protective stop, on the tick grid
    take_profit: float            # the single target, on the tick grid; NaN: none
    risk_per_unit: float          # 1R in price: the initial stop distance
    atr_at_entry: float
    initial_qty: float
    bars_held: int
    be_promoted: bool
    pyramid_steps: int            # pyramid levels spent
    ladder_steps: int             # take-profit ladder levels spent
    first_entry: float            # the first fill: R, break-even and the levels are measured from it


FLAT = PositionState(0, 0.0, 0.0, 0.0, math.nan, 0.0, 0.0, 0.0, 0, False, 0, 0, 0.0)
POSITION_FIELDS = len(PositionState._fields)

# A position stored as a row of floats (the backtest loop's arrays, its journal columns) keeps field i in
# slot i: ``row[SLOT.stop]`` is the stop. The layout is PositionState's own, so it is written nowhere else.
SLOT = PositionState(*range(POSITION_FIELDS))


@njit(cache=True, inline="always")
def position_from_row(row):
    """The position a float row holds (its counts and flag back to integers and a bool)."""
    return PositionState(sign=np.int64(row[SLOT.sign]), qty=row[SLOT.qty], entry=row[SLOT.entry],
                         stop=row[SLOT.stop], take_profit=row[SLOT.take_profit],
                         risk_per_unit=row[SLOT.risk_per_unit], atr_at_entry=row[SLOT.atr_at_entry],
                         initial_qty=row[SLOT.initial_qty], bars_held=np.int64(row[SLOT.bars_held]),
                         be_promoted=row[SLOT.be_promoted] != 0.0, pyramid_steps=np.int64(row[SLOT.pyramid_steps]),
                         ladder_steps=np.int64(row[SLOT.ladder_steps]), first_entry=row[SLOT.first_entry])


@njit(cache=True, inline="always")
def store_position(row, pos):
    """Write ``pos`` into a float row (the inverse of :func:`position_from_row`)."""
    row[SLOT.sign], row[SLOT.qty], row[SLOT.entry], row[SLOT.stop] = pos.sign, pos.qty, pos.entry, pos.stop
    row[SLOT.take_profit], row[SLOT.risk_per_unit] = pos.take_profit, pos.risk_per_unit
    row[SLOT.atr_at_entry], row[SLOT.initial_qty] = pos.atr_at_entry, pos.initial_qty
    row[SLOT.bars_held], row[SLOT.be_promoted] = pos.bars_held, pos.be_promoted
    row[SLOT.pyramid_steps], row[SLOT.ladder_steps] = pos.pyramid_steps, pos.ladder_steps
    row[SLOT.first_entry] = pos.first_entry


class Market(NamedTuple):
    """A market's filters as numbers: sizes in whole steps, prices on the tick grid."""

    step: float
    step_scale: float             # 1/step when a whole number, else 0 (:func:`step_scale`)
    min_qty: float
    min_notional: float
    tick: float
    tick_scale: float


def market(filters) -> Market:
    """A :class:`~autobot_lib.model.MarketFilters` as the kernel reads it."""
    step, tick = float(filters.step_size), float(filters.tick_size)
    return Market(step, step_scale(step), float(filters.min_qty), float(filters.min_notional), tick, step_scale(tick))


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
    correlation_window: int         # bars of returns the correlation veto reads
    max_atr_pct: float              # the volatility veto: ATR over the close above this; 0: off
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
        int(p.correlation_window), float(p.max_atr_pct), float(p.funding_avoid_min), int(p.funding_interval_hours) * 3600 * 10**9, bool(p.allow_long),
        bool(p.allow_short), bool(p.use_adx_gate), float(p.adx_minimum), bool(p.adx_chop_filter),
        float(p.adx_falling_threshold), float(p.adx_falling_from), int(p.trend_stable_bars),
        bool(p.block_range_entries), float(p.taker_fee))


_REGIME_CODES = {"BULL_TREND": 1.0, "BEAR_TREND": -1.0, "RANGE": 0.0}


def regime_code(regime: str | None) -> float:
    return _REGIME_CODES.get(regime, math.nan) if regime is not None else math.nan


def position_state(pos: Position | None) -> PositionState:
    if pos is None:
        return FLAT
    return PositionState(pos.side.sign, float(pos.qty), float(pos.entry_price), float(pos.stop),
                         math.nan if pos.take_profit is None else float(pos.take_profit), float(pos.risk_per_unit),
                         float(pos.atr_at_entry), float(pos.initial_qty), int(pos.bars_held), bool(pos.be_promoted),
                         int(pos.pyramid_steps), int(pos.ladder_steps), float(pos.first_entry_price))


def updated_position(pos: Position, state: PositionState) -> Position:
    """``pos`` with the running fields of a kernel position (the average entry is the filler's)."""
    return pos.with_(qty=float(state.qty), stop=float(state.stop), bars_held=int(state.bars_held),
                     be_promoted=bool(state.be_promoted), pyramid_steps=int(state.pyramid_steps),
                     ladder_steps=int(state.ladder_steps))


def reasons(mask: int, order: tuple[str, ...]) -> tuple[str, ...]:
    """The reasons a bit mask holds, in the order they were checked."""
    return tuple(name for bit, name in enumerate(order) if mask >> bit & 1)


# --- quantities in whole steps, prices on the tick grid ---------------------------------------------

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


@njit(cache=True, inline="always")
def qty_units(qty, m):
    """A quantity already on the step grid, as its count of steps."""
    x = qty * m.step_scale if m.step_scale > 0 else qty / m.step
    return np.int64(round(x))


@njit(cache=True, inline="always")
def to_tick(price, up, m):
    """``price`` on the tick grid, rounded up or down; a price within 1e-12 (relative) of a tick is that
    tick. NaN stays NaN."""
    if price != price:
        return price
    x = price * m.tick_scale if m.tick_scale > 0 else price / m.tick
    n = math.ceil(x - abs(x) * 1e-12) if up else math.floor(x + abs(x) * 1e-12)
    return n / m.tick_scale if m.tick_scale > 0 else n * m.tick


@njit(cache=True, inline="always")
def stop_price(sign, price, m):
    """A protective stop on the tick grid, rounded toward the market (tighter, never looser)."""
    return to_tick(price, sign > 0, m)


@njit(cache=True, inline="always")
def target_price(sign, price, m):
    """A take-profit trigger on the tick grid, rounded toward the market (nearer, never further)."""
    return to_tick(price, sign < 0, m)


# --- exits and position management --------------------------------------------------------------------

@njit(cache=True, inline="always")
def _evolve(pos, qty, stop, bars_held, be_promoted, pyramid_steps, ladder_steps):
    """``pos`` with its running fields changed (numba has no ``_replace``)."""
    return PositionState(pos.sign, qty, pos.entry, stop, pos.take_profit, pos.risk_per_unit, pos.atr_at_entry,
                         pos.initial_qty, bars_held, be_promoted, pyramid_steps, ladder_steps, pos.first_entry)


@njit(cache=True, inline="always")
def _tighter(sign, current, candidate):
    return max(current, candidate) if sign > 0 else min(current, candidate)


@njit(cache=True, inline="always")
def trail_stop(sign, first_entry, last_price, atr, be_promoted, trail_atr_k):
    """The Donchian bot's trailing stop: trail_k ATR behind the last price, never worse than the entry
    once break-even has been promoted."""
    trail = last_price - sign * trail_atr_k * atr
    return _tighter(sign, trail, first_entry) if be_promoted else trail


@njit(cache=True)
def opened(sign, qty, fill, atr, p, m):
    """The position a market entry of ``qty`` filled at ``fill`` becomes: the stop ``stop_atr_k`` ATR away
    from the fill, the single target (none with a ladder) ``take_profit_r`` R beyond it."""
    distance = atr * p.stop_atr_k
    tp = math.nan
    if p.tp_ladder.shape[0] == 0 and p.take_profit_r == p.take_profit_r:
        tp = target_price(sign, fill + sign * distance * p.take_profit_r, m)
    return PositionState(np.int64(sign), qty, fill, stop_price(sign, fill - sign * distance, m), tp, distance, atr,
                         qty, np.int64(0), False, np.int64(0), np.int64(0), fill)


@njit(cache=True, inline="always")
def ladder_level(pos, k, p, m):
    """The trigger of take-profit ladder level ``k`` (0-based) and its quantity (0: rounds to nothing)."""
    price = target_price(pos.sign, pos.first_entry + pos.sign * pos.risk_per_unit * p.tp_ladder[k, 0], m)
    part = units_to_qty(floor_units(pos.initial_qty * p.tp_ladder[k, 1], m.step, m.step_scale), m.step, m.step_scale)
    return price, part


@njit(cache=True, inline="always")
def stop_reason(pos, m):
    """Why the standing stop would close the position: its initial level, break-even, or a trail."""
    sign, stop, first = pos.sign, pos.stop, pos.first_entry
    if pos.be_promoted and abs(stop - stop_price(sign, first, m)) <= 1e-12 * abs(first):
        return BREAK_EVEN_STOP
    initial = stop_price(sign, first - sign * pos.risk_per_unit, m)
    return STOP_LOSS if abs(stop - initial) <= 1e-12 * abs(initial) else TRAILING_STOP


@njit(cache=True, inline="always")
def bar_excursions(sign, first, o, h, l, ended, fill):
    """How far a bar took a position from its first entry, in price: ``(best, worst)``. A bar it held
    through counts whole; a bar that ended it counts only up to the fill, on the fill model's path (open,
    the adverse extreme, the favourable one): ``ended`` 1 by the stop (or a liquidation) on the adverse
    leg, 2 by a target on the favourable leg; opened through, the fill is the open."""
    favourable = h if sign > 0 else l
    adverse = l if sign > 0 else h
    if ended == 1:
        return sign * (o - first), sign * (fill - first)
    if ended == 2:
        return sign * (fill - first), sign * ((fill if fill == o else adverse) - first)
    return sign * (favourable - first), sign * (adverse - first)


@njit(cache=True)
def bar_fills(pos, o, h, l, p, m, exits):
    """What the exchange's standing orders fill inside one bar: the stop first (the bar's adverse extreme),
    else the take-profit ladder's levels or the single target (its favourable extreme), each at its
    trigger, or at the open when the bar opens through it. Writes the fills to ``exits`` (rows: reason,
    qty, price). Returns ``(position, n_exits, closed)``."""
    sign = pos.sign
    favourable = h if sign > 0 else l
    adverse = l if sign > 0 else h
    if sign * (adverse - pos.stop) <= 0:
        exits[0, 0] = stop_reason(pos, m)
        exits[0, 1] = pos.qty
        exits[0, 2] = min(o, pos.stop) if sign > 0 else max(o, pos.stop)
        return pos, 1, True
    n_exits = 0
    units = qty_units(pos.qty, m)
    ladder = pos.ladder_steps
    for k in range(ladder, p.tp_ladder.shape[0]):
        level, part = ladder_level(pos, k, p, m)
        if sign * (favourable - level) < 0:
            break
        ladder += 1
        part_units = min(units, qty_units(part, m))
        if part_units == 0:
            continue
        exits[n_exits, 0] = TP_LADDER
        exits[n_exits, 1] = units_to_qty(part_units, m.step, m.step_scale)
        exits[n_exits, 2] = max(o, level) if sign > 0 else min(o, level)
        n_exits += 1
        units -= part_units
    if units == 0:
        return pos, n_exits, True
    tp = pos.take_profit
    if p.tp_ladder.shape[0] == 0 and tp == tp and sign * (favourable - tp) >= 0:
        exits[0, 0] = TAKE_PROFIT
        exits[0, 1] = pos.qty
        exits[0, 2] = max(o, tp) if sign > 0 else min(o, tp)
        return pos, 1, True
    qty = units_to_qty(units, m.step, m.step_scale) if n_exits else pos.qty
    return _evolve(pos, qty, pos.stop, pos.bars_held, pos.be_promoted, pos.pyramid_steps, ladder), n_exits, False


@njit(cache=True, inline="always")
def order_cost(notional, p):
    """What an order adding ``notional`` of exposure takes from the free margin: its margin and fee."""
    return notional / p.leverage + notional * p.taker_fee


@njit(cache=True)
def manage(pos, h, l, c, atr, regime, exit_upper, exit_lower, available, state, p, m, adds):
    """At the close of a bar the position survived: a market exit (regime against it, a close through the
    exit channel, held too long), else for the next bar break-even, the ATR trail (it only tightens) and
    pyramid adds (sent now, filled at the next open; each raises the stop to the close less the stop
    distance; an add waits for a later close while the free margin ``available`` cannot carry it or the
    trading ``state`` is not ACTIVE: an add is new risk). Writes adds to ``adds`` (rows: qty, reference
    price, level). Returns ``(position, n_adds, stop_moved, close_reason)``; ``close_reason`` -1: none."""
    sign = pos.sign
    bars_held = pos.bars_held + 1
    close_reason = -1
    if p.exit_on_regime_change and regime == -sign:
        close_reason = REGIME_CHANGE
    elif sign * (c - (exit_lower if sign > 0 else exit_upper)) < 0:   # NaN (no channel) compares False
        close_reason = EXIT_CHANNEL
    elif p.max_holding_bars > 0 and bars_held >= p.max_holding_bars:
        close_reason = MAX_HOLDING
    if close_reason >= 0:
        return _evolve(pos, pos.qty, pos.stop, bars_held, pos.be_promoted, pos.pyramid_steps, pos.ladder_steps), 0, \
            False, close_reason
    favourable = h if sign > 0 else l
    first, be, stop = pos.first_entry, pos.be_promoted, pos.stop
    new_stop = stop
    if not be and p.break_even_r > 0 and sign * (favourable - first) >= p.break_even_r * pos.risk_per_unit:
        be = True
        new_stop = _tighter(sign, new_stop, stop_price(sign, first, m))
    if atr == atr and atr > 0:
        new_stop = _tighter(sign, new_stop, stop_price(sign, trail_stop(sign, first, c, atr, be, p.trail_atr_k), m))
    units = qty_units(pos.qty, m)
    pyramid = pos.pyramid_steps
    n_adds = 0
    levels = p.pyramid_levels.shape[0] if p.pyramiding and state == ACTIVE else 0
    for k in range(pyramid, levels):
        if sign * (c - (first + sign * p.pyramid_levels[k, 0] * pos.atr_at_entry)) < 0:
            break
        add_units = floor_units(pos.initial_qty * p.pyramid_levels[k, 1], m.step, m.step_scale)
        add = units_to_qty(add_units, m.step, m.step_scale)
        if add_units == 0 or add < m.min_qty or add * c < m.min_notional:
            pyramid += 1
            continue                       # too small to send: the level is spent
        if order_cost(add * c, p) > available:
            break                          # no margin for it: it waits
        available -= order_cost(add * c, p)
        pyramid += 1
        adds[n_adds, 0] = add
        adds[n_adds, 1] = c
        adds[n_adds, 2] = k + 1
        n_adds += 1
        units += add_units
        raised = c - sign * p.stop_atr_k * (atr if atr == atr else pos.atr_at_entry)
        new_stop = _tighter(sign, new_stop, stop_price(sign, raised, m))
    held = _evolve(pos, units_to_qty(units, m.step, m.step_scale), new_stop, bars_held, be, pyramid, pos.ladder_steps)
    return held, n_adds, new_stop != stop, -1


@njit(cache=True, inline="always")
def position_step(pos, o, h, l, c, atr, regime, exit_upper, exit_lower, available, state, p, m, exits, adds):
    """One bar of a held position: :func:`bar_fills`, then, if it survived, :func:`manage`. Returns
    ``(position, n_exits, n_adds, stop_moved, close_reason, closed)``."""
    pos, n_exits, closed = bar_fills(pos, o, h, l, p, m, exits)
    if closed:
        return pos, n_exits, 0, False, -1, True
    held, n_adds, moved, close_reason = manage(pos, h, l, c, atr, regime, exit_upper, exit_lower, available, state,
                                               p, m, adds)
    return held, n_exits, n_adds, moved, close_reason, False


# --- the trading state --------------------------------------------------------------------------------

@njit(cache=True)
def daily_loss_breached(equity, anchor, limit):
    """Has the day's loss against its UTC-midnight anchor reached ``limit``?"""
    return anchor > 0 and 1.0 - equity / anchor >= limit


@njit(cache=True)
def next_trading_state(state, equity, anchor, limit):
    """The trading state machine's automatic move, the same in backtest and live: the daily loss limit
    halts (HALTED stays until a re-arm: by a person live, by the backtest's documented policy)."""
    if state != HALTED and daily_loss_breached(equity, anchor, limit):
        return HALTED
    return state


# --- the entry: gate, vetoes, size ------------------------------------------------------------------

@njit(cache=True)
def gate_mask(sign, adx, adx_prev, regime, regime_age, p):
    """The ADX entry gate and the long/short switches (bits: :data:`GATE_ORDER`)."""
    mask = 0
    if sign > 0 and not p.allow_long:
        mask |= G_LONG_DISABLED
    if sign < 0 and not p.allow_short:
        mask |= G_SHORT_DISABLED
    if not p.use_adx_gate:
        return mask
    if regime != regime or adx != adx:
        return mask | G_NO_REGIME
    if p.block_range_entries and regime == 0:
        mask |= G_RANGE_REGIME
    if regime == -sign:
        mask |= G_AGAINST_REGIME
    if p.adx_chop_filter:
        if adx < p.adx_minimum:
            mask |= G_ADX_TOO_LOW
        if adx_prev == adx_prev and adx_prev > p.adx_falling_from and \
                (adx_prev - adx) / adx_prev > p.adx_falling_threshold:
            mask |= G_ADX_FALLING
    if regime_age < p.trend_stable_bars:
        mask |= G_TREND_UNSTABLE
    return mask


@njit(cache=True)
def minutes_to_funding(now_ns, interval_ns):
    """Minutes until the next funding settlement, counted from UTC midnight (00:00, 08:00, 16:00)."""
    elapsed = now_ns % _DAY_NS
    return ((elapsed // interval_ns + 1) * interval_ns - elapsed) / _NS_PER_MINUTE


@njit(cache=True)
def return_correlation(a, b):
    """The correlation (Pearson) of the bar returns of two close series aligned bar by bar (NaN: no bar
    there): the returns where both have this bar and the one before. NaN when fewer than two are known or
    either series does not move: unknown is not correlated."""
    n, mean_x, mean_y = 0, 0.0, 0.0
    for k in range(1, len(a)):
        if a[k] == a[k] and a[k - 1] == a[k - 1] and b[k] == b[k] and b[k - 1] == b[k - 1] \
                and a[k - 1] != 0 and b[k - 1] != 0:
            n += 1
            mean_x += a[k] / a[k - 1] - 1.0
            mean_y += b[k] / b[k - 1] - 1.0
    if n < 2:
        return math.nan
    mean_x, mean_y = mean_x / n, mean_y / n
    sxy, sxx, syy = 0.0, 0.0, 0.0
    for k in range(1, len(a)):
        if a[k] == a[k] and a[k - 1] == a[k - 1] and b[k] == b[k] and b[k - 1] == b[k - 1] \
                and a[k - 1] != 0 and b[k - 1] != 0:
            x, y = a[k] / a[k - 1] - 1.0 - mean_x, b[k] / b[k - 1] - 1.0 - mean_y
            sxy += x * y
            sxx += x * x
            syy += y * y
    if not (sxx > 0 and syy > 0):
        return math.nan
    return sxy / math.sqrt(sxx * syy)


@njit(cache=True)
def pre_trade_mask(state, in_position, n_positions, equity, peak, anchor, now_ns, correlated, atr, price, p):
    """Does the account allow a new position? (bits: the first nine of :data:`VETO_ORDER`).
    ``state``: :data:`ACTIVE`, :data:`REDUCING` or :data:`HALTED`; ``correlated``: is the symbol correlated
    beyond the threshold with a position held (:func:`return_correlation`); ``atr`` and ``price`` for the
    volatility threshold."""
    mask = 0
    if state == HALTED:
        mask |= V_HALTED
    elif state == REDUCING:
        mask |= V_REDUCING
    if in_position:
        mask |= V_ALREADY_IN_POSITION
    if n_positions >= p.max_positions:
        mask |= V_MAX_POSITIONS
    if (1.0 - equity / peak if peak > 0 else 0.0) >= p.max_drawdown:
        mask |= V_MAX_DRAWDOWN
    if daily_loss_breached(equity, anchor, p.daily_loss_limit):
        mask |= V_DAILY_LOSS_LIMIT
    if p.funding_avoid_min > 0 and minutes_to_funding(now_ns, p.funding_interval_ns) <= p.funding_avoid_min:
        mask |= V_FUNDING_WINDOW
    if correlated:
        mask |= V_CORRELATION
    if p.max_atr_pct > 0 and atr / price > p.max_atr_pct:
        mask |= V_VOLATILITY
    return mask


@njit(cache=True)
def size_units(equity, price, atr, p, m):
    """Turtle ATR sizing, capped, in whole steps. Returns ``(units, raw_qty, notional, risk_amount,
    stop_distance, capped_by, reason)``; ``capped_by`` and ``reason`` are -1 when none."""
    stop_distance = atr * p.stop_atr_k if atr == atr else math.nan
    if not equity > 0:
        return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_EQUITY
    if not stop_distance > 0 or not price > 0:
        return np.int64(0), 0.0, 0.0, 0.0, stop_distance, -1, NO_VOLATILITY
    risk_amount = equity * p.risk_per_trade
    raw = risk_amount / stop_distance
    cap, cap_value = CAP_VALUE, equity * p.max_position_value_ratio
    if equity * p.leverage < cap_value:
        cap, cap_value = CAP_LEVERAGE, equity * p.leverage
    if p.has_position_cap:
        limit = min(max(p.cap_multiple * equity, p.cap_min), p.cap_max)
        if limit < cap_value:
            cap, cap_value = CAP_POSITION, limit
    qty, capped = raw, -1
    if raw * price > cap_value:
        qty, capped = cap_value / price, cap
    units = floor_units(qty, m.step, m.step_scale)
    rounded = units_to_qty(units, m.step, m.step_scale)
    notional = rounded * price
    reason = -1
    if units == 0:
        reason = ROUNDS_TO_ZERO
    elif rounded < m.min_qty:
        reason = BELOW_MIN_QTY
    elif notional < max(m.min_notional, p.min_position_value):
        reason = BELOW_MIN_NOTIONAL
    return units, raw, notional, risk_amount, stop_distance, capped, reason


@njit(cache=True)
def order_mask(notional, equity, available, p):
    """Does this order fit? (bits: the last three of :data:`VETO_ORDER`, the checks after sizing)."""
    mask = 0
    if notional > equity * p.max_position_value_ratio * (1 + 1e-9):
        mask |= V_MAX_POSITION_VALUE
    if notional < p.min_position_value:
        mask |= V_MIN_NOTIONAL
    if order_cost(notional, p) > available:
        mask |= V_INSUFFICIENT_MARGIN
    return mask


# --- the decision for one bar ---------------------------------------------------------------------------

NO_SIZE = (np.int64(0), 0.0, 0.0, 0.0, math.nan, -1, -1)


@njit(cache=True, inline="always")
def decide_bar(pos, o, h, l, c, atr, adx, adx_prev, regime, regime_age, exit_upper, exit_lower, direction,
               proposal_sign, equity, available, peak, anchor, state, n_positions, correlated, decided_ns, m, p,
               exits, adds):
    """The decision for one closed bar of one symbol: manage the position held into it, or take an entry
    through the gate, the vetoes and sizing. Returns ``(outcome, gate, vetoes, sized, size, position,
    n_exits, n_adds, stop_moved, close_reason, closed)``; ``size`` as :func:`size_units`."""
    if pos.sign != 0:
        held, n_exits, n_adds, moved, close_reason, closed = position_step(pos, o, h, l, c, atr, regime, exit_upper,
                                                                           exit_lower, available, state, p, m, exits,
                                                                           adds)
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
            vetoes = pre_trade_mask(state, False, n_positions, equity, peak, anchor, decided_ns, correlated, atr, c, p)
            if not vetoes:
                sized = True
                size = size_units(equity, c, atr, p, m)
                if size[6] < 0:
                    vetoes = order_mask(size[2], equity, available, p)
            if vetoes:
                outcome = VETO
            elif size[6] >= 0:
                outcome = SIZE
    return outcome, gate, vetoes, sized, size, pos, 0, 0, False, -1, False
