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
"""

from __future__ import annotations

from dataclasses import dataclass

from autobot_lib.model import Bar, ExitReason, Position, Side
from autobot_lib.regime import Regime
from autobot_lib.risk.params import RiskParams


def initial_stop(side: Side, entry: float, atr: float, stop_atr_k: float) -> float:
    return entry - side.sign * atr * stop_atr_k


def take_profit_price(side: Side, entry: float, risk_per_unit: float, r_multiple: float | None) -> float | None:
    return None if r_multiple is None else entry + side.sign * risk_per_unit * r_multiple


def trail_stop_price(side: Side, entry_price: float, last_price: float, atr_abs: float, be_promoted: bool,
                     trail_atr_k: float) -> float:
    """The Donchian bot's trailing stop: trail_k ATR behind the last price, never worse than the entry
    once break-even has been promoted."""
    trail = last_price - side.sign * trail_atr_k * atr_abs
    if be_promoted:
        trail = max(trail, entry_price) if side is Side.LONG else min(trail, entry_price)
    return trail


def _tighter(side: Side, current: float, candidate: float) -> float:
    return max(current, candidate) if side is Side.LONG else min(current, candidate)


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


def _stop_reason(pos: Position) -> ExitReason:
    initial = pos.first_entry_price - pos.side.sign * pos.risk_per_unit
    if pos.be_promoted and abs(pos.stop - pos.first_entry_price) < 1e-12 * max(1.0, pos.first_entry_price):
        return ExitReason.BREAK_EVEN_STOP
    return ExitReason.STOP_LOSS if abs(pos.stop - initial) < 1e-12 * max(1.0, initial) else ExitReason.TRAILING_STOP


def manage_position(pos: Position, bar: Bar, atr: float, regime: str | None, params: RiskParams,
                    exit_channel: tuple[float, float] | None = None) -> PositionStep:
    """One bar of a held position. ``exit_channel`` is (upper, lower) of the exit channel before this bar."""
    side, sign = pos.side, pos.side.sign
    favourable = bar.high if side is Side.LONG else bar.low
    adverse = bar.low if side is Side.LONG else bar.high

    # 1. the stop that was live during this bar
    if sign * (adverse - pos.stop) <= 0:
        price = min(bar.open, pos.stop) if side is Side.LONG else max(bar.open, pos.stop)
        return PositionStep(None, (ExitFill(_stop_reason(pos), pos.qty, price),))

    # 2. take profit: the ladder first, else the single target
    exits: list[ExitFill] = []
    qty = pos.qty
    ladder_steps = pos.ladder_steps
    for r_multiple, share in params.tp_ladder[pos.ladder_steps:]:
        level = pos.first_entry_price + sign * pos.risk_per_unit * r_multiple
        if sign * (favourable - level) < 0:
            break
        fill = max(bar.open, level) if side is Side.LONG else min(bar.open, level)
        part = min(qty, pos.initial_qty * share)
        exits.append(ExitFill(ExitReason.TP_LADDER, part, fill))
        qty -= part
        ladder_steps += 1
    if qty <= pos.initial_qty * 1e-9:
        return PositionStep(None, tuple(exits))
    if not params.tp_ladder and pos.take_profit is not None and sign * (favourable - pos.take_profit) >= 0:
        fill = max(bar.open, pos.take_profit) if side is Side.LONG else min(bar.open, pos.take_profit)
        return PositionStep(None, (ExitFill(ExitReason.TAKE_PROFIT, qty, fill),))

    # 3. regime turned against the position, the exit channel broke, or held too long: a market exit
    bars_held = pos.bars_held + 1
    against = Regime.BEAR_TREND.value if side is Side.LONG else Regime.BULL_TREND.value
    close_reason = None
    if params.exit_on_regime_change and regime == against:
        close_reason = ExitReason.REGIME_CHANGE
    elif exit_channel is not None and sign * (bar.close - (exit_channel[1] if side is Side.LONG else exit_channel[0])) < 0:
        close_reason = ExitReason.EXIT_CHANNEL
    elif params.max_holding_bars and bars_held >= params.max_holding_bars:
        close_reason = ExitReason.MAX_HOLDING_TIME
    if close_reason is not None:
        return PositionStep(pos.with_(qty=qty, bars_held=bars_held, ladder_steps=ladder_steps), tuple(exits),
                            close_reason=close_reason)

    # 4. manage for the next bar: break-even, trailing, pyramiding
    stop = pos.stop
    be = pos.be_promoted
    if not be and params.break_even_r > 0 and \
            sign * (favourable - pos.first_entry_price) >= params.break_even_r * pos.risk_per_unit:
        be = True
        stop = _tighter(side, stop, pos.first_entry_price)
    if atr == atr and atr > 0:
        stop = _tighter(side, stop, trail_stop_price(side, pos.first_entry_price, bar.close, atr, be,
                                                     params.trail_atr_k))
    adds: list[AddFill] = []
    entry_value = pos.entry_price * qty
    steps = pos.pyramid_steps
    if params.pyramiding:
        for level_index in range(pos.pyramid_steps, len(params.pyramid_levels)):
            atr_multiple, share = params.pyramid_levels[level_index]
            trigger = pos.first_entry_price + sign * atr_multiple * pos.atr_at_entry
            if sign * (bar.close - trigger) < 0:
                break
            add = pos.initial_qty * share
            adds.append(AddFill(add, bar.close, level_index + 1))
            entry_value += add * bar.close
            qty += add
            steps += 1
            stop = _tighter(side, stop, bar.close - sign * params.stop_atr_k * (atr if atr == atr else pos.atr_at_entry))
    new = pos.with_(qty=qty, entry_price=entry_value / qty, stop=stop, bars_held=bars_held, be_promoted=be,
                    pyramid_steps=steps, ladder_steps=ladder_steps)
    return PositionStep(new, tuple(exits), tuple(adds), stop_moved=stop != pos.stop)
