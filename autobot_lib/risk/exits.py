"""Exits and position management, one bar at a time: the same step in backtest and live.

On each closed bar, with the stop and take profit that were live during it:
1. the stop (initial, break-even or trailing) is hit when the bar's low (high, for a short) reaches it,
   filled at the stop or at the open if the bar gapped through it;
2. otherwise take profit (or the next levels of the take-profit ladder) when the high (low) reaches it.
   When a bar could have hit both the stop and the target, the stop wins: the pessimistic, documented
   rule, because a bar's path inside it is unknown;
3. otherwise a market exit is requested (filled at the next bar's open, like any market order) on a
   regime change against the position, a close through the exit channel (Turtle: the 10-bar low for a
   long), or after the maximum holding time;
4. otherwise, for the next bar: break-even promotion once price has gone BREAK_EVEN_R in favour, the
   ATR trailing stop (it only ever tightens), and pyramiding at the configured levels, each add raising
   the stop to the add price minus the stop distance.

The rules run compiled (:func:`autobot_lib.risk.kernel.position_step`); this module is their Python face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autobot_lib.model import Bar, ExitReason, Position, Side
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams


def initial_stop(side: Side, entry: float, atr: float, stop_atr_k: float) -> float:
    return entry - side.sign * atr * stop_atr_k


def take_profit_price(side: Side, entry: float, risk_per_unit: float, r_multiple: float | None) -> float | None:
    return None if r_multiple is None else entry + side.sign * risk_per_unit * r_multiple


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
                    exit_channel: tuple[float, float] | None = None) -> PositionStep:
    """One bar of a held position. ``exit_channel`` is (upper, lower) of the exit channel before this bar."""
    upper, lower = exit_channel if exit_channel is not None else (math.nan, math.nan)
    exits, adds = step_buffers(params)
    state, n_exits, n_adds, moved, close_reason, closed = kernel.position_step(
        kernel.position_tuple(pos), bar.open, bar.high, bar.low, bar.close, atr, kernel.regime_code(regime), upper,
        lower, kernel.kernel_params(params), exits, adds)
    return position_step_from(pos, state, exits[:n_exits], adds[:n_adds], moved, close_reason, closed)


def step_buffers(params: RiskParams) -> tuple[np.ndarray, np.ndarray]:
    """Room for every fill one bar can make: each ladder level (or one stop or target), each pyramid level."""
    return np.empty((max(1, len(params.tp_ladder)), 3)), np.empty((max(1, len(params.pyramid_levels)), 3))


def position_step_from(pos: Position, state: tuple, exits: np.ndarray, adds: np.ndarray, stop_moved: bool,
                       close_reason: int, closed: bool) -> PositionStep:
    """The kernel's answer as a :class:`PositionStep`."""
    return PositionStep(
        None if closed else kernel.updated_position(pos, state),
        tuple(ExitFill(kernel.EXIT_REASONS[int(r)], float(q), float(p)) for r, q, p in exits),
        tuple(AddFill(float(q), float(p), int(level)) for q, p, level in adds),
        bool(stop_moved), None if close_reason < 0 else kernel.EXIT_REASONS[int(close_reason)])
