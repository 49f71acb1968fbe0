"""Exits and position management, one bar at a time: the same step in backtest and live.

On each closed bar, with the stop and take profit that were live during it:
1. the stop (initial, break-even or trailing) is hit when the bar's low (high, for a short) reaches it,
   filled at the stop or at the open if the bar gapped through it;
2. otherwise take profit (or the next levels of the take-profit ladder, each closing its share of the
   initial quantity in whole steps) when the high (low) reaches it. When a bar could have hit both the
   stop and the target, the stop wins: inside a bar the price is taken to go first to the extreme that
   hurts the position (the fill model the backtester, the paper broker and the venue share);
3. otherwise a market exit is requested (filled at the next bar's open, like any market order) on a
   regime change against the position, a close through the exit channel (Turtle: the 10-bar low for a
   long), or after the maximum holding time;
4. otherwise, for the next bar: break-even promotion once price has gone BREAK_EVEN_R in favour, the
   ATR trailing stop (it only ever tightens), and pyramiding at the configured levels (market orders
   filled at the next open, in whole steps), each add raising the stop to the close minus the stop
   distance.

Stops and targets are on the market's tick grid, rounded toward the market (:func:`kernel.stop_price`,
:func:`kernel.target_price`): the model holds exactly the prices the exchange triggers on.

The rules run compiled (:func:`autobot_lib.risk.kernel.position_step`); this module is their Python face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autobot_lib.model import Bar, ExitReason, MarketFilters, Position, Side
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams


def initial_stop(side: Side, entry: float, atr: float, params: RiskParams, filters: MarketFilters) -> float:
    return float(kernel.stop_price(side.sign, entry - side.sign * atr * params.stop_atr_k, kernel.market(filters)))


def take_profit_price(side: Side, entry: float, risk_per_unit: float, params: RiskParams,
                      filters: MarketFilters) -> float | None:
    """The single target (None without one, or with a take-profit ladder)."""
    if params.take_profit_r is None or params.tp_ladder:
        return None
    price = entry + side.sign * risk_per_unit * params.take_profit_r
    return float(kernel.target_price(side.sign, price, kernel.market(filters)))


def ladder_orders(pos: Position, params: RiskParams, filters: MarketFilters) -> list[tuple[int, float, float]]:
    """The take-profit ladder levels still to fill: (level, trigger, quantity), quantity > 0."""
    state, m, p = kernel.position_state(pos), kernel.market(filters), kernel.kernel_params(params)
    out = []
    for k in range(pos.ladder_steps, len(params.tp_ladder)):
        price, part = kernel.ladder_level(state, k, p, m)
        if part > 0:
            out.append((k + 1, float(price), float(part)))
    return out


def trail_stop_price(side: Side, entry_price: float, last_price: float, atr_abs: float, be_promoted: bool,
                     trail_atr_k: float) -> float:
    """The Donchian bot's trailing stop: trail_k ATR behind the last price, never worse than the entry
    once break-even has been promoted."""
    return float(kernel.trail_stop(side.sign, entry_price, last_price, atr_abs, be_promoted, trail_atr_k))


@dataclass(frozen=True)
class ExitFill:
    reason: ExitReason
    qty: float
    price: float


@dataclass(frozen=True)
class AddFill:
    qty: float
    price: float
    level: int


@dataclass(frozen=True)
class PositionStep:
    position: Position | None           # None once fully closed inside the bar
    exits: tuple[ExitFill, ...] = ()    # filled inside the bar (stops, targets)
    adds: tuple[AddFill, ...] = ()
    stop_moved: bool = False
    close_reason: ExitReason | None = None   # a market exit to send now (filled at the next open)


def manage_position(pos: Position, bar: Bar, atr: float, regime: str | None, params: RiskParams,
                    exit_channel: tuple[float, float] | None = None,
                    filters: MarketFilters = MarketFilters(), available: float = math.inf,
                    state: int = kernel.ACTIVE) -> PositionStep:
    """One bar of a held position. ``exit_channel`` is (upper, lower) of the exit channel before this bar;
    ``available``: the free margin pyramid adds may take; ``state``: the trading state (adds only while
    ACTIVE)."""
    upper, lower = exit_channel if exit_channel is not None else (math.nan, math.nan)
    exits, adds = step_buffers(params)
    state, n_exits, n_adds, moved, close_reason, closed = kernel.position_step(
        kernel.position_state(pos), bar.open, bar.high, bar.low, bar.close, atr, kernel.regime_code(regime), upper,
        lower, available, state, kernel.kernel_params(params), kernel.market(filters), exits, adds)
    return position_step_from(pos, state, exits[:n_exits], adds[:n_adds], moved, close_reason, closed)


def step_buffers(params: RiskParams) -> tuple[np.ndarray, np.ndarray]:
    """Room for every fill one bar can make: each ladder level (or one stop or target), each pyramid level."""
    return np.empty((max(1, len(params.tp_ladder)), 3)), np.empty((max(1, len(params.pyramid_levels)), 3))


def position_step_from(pos: Position, state: kernel.PositionState, exits: np.ndarray, adds: np.ndarray, stop_moved: bool,
                       close_reason: int, closed: bool) -> PositionStep:
    """The kernel's answer as a :class:`PositionStep`."""
    return PositionStep(
        None if closed else kernel.updated_position(pos, state),
        tuple(ExitFill(kernel.EXIT_REASONS[int(r)], float(q), float(p)) for r, q, p in exits),
        tuple(AddFill(float(q), float(p), int(level)) for q, p, level in adds),
        bool(stop_moved), None if close_reason < 0 else kernel.EXIT_REASONS[int(close_reason)])
