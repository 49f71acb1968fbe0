"""The risk rules at their edges (mutation testing, ``make mutate``: the mutants of autobot_lib/risk/ must
fail here or in the scenario tables of tests/test_risk.py and tests/test_pipeline.py).

Every expected value is worked out by hand in the row or its comment: equal-to-the-limit cases, each
cap and reason alone, both sides of the book, and the numbers each step returns beside its verdict.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from autobot_lib.config import PositionCap
from autobot_lib.model import Account, Bar, ExitReason, MarketFilters, Position, Side, TradingState
from autobot_lib.risk import (
    GateReason, RiskParams, SizeReason, Veto, entry_gate, initial_stop, manage_position, minutes_to_funding,
    order_vetoes, pre_trade_vetoes, return_correlations, round_down, round_price, size_position, take_profit_price,
    trail_stop_price,
)
from autobot_lib.risk import kernel
from autobot_lib.risk.exits import ExitFill, ladder_orders
from autobot_lib.risk.sizing import Size
from autobot_lib.risk.vetoes import correlated, daily_loss, drawdown

P = RiskParams()
T0 = pd.Timestamp("2025-03-03 10:00", tz="UTC")
CENT = MarketFilters.of("0.01", "0.001", "0.001", "5")      # tick 0.01, step 0.001
NAN = float("nan")
MARGIN_BIT = 1 << kernel.VETO_ORDER.index("insufficient_margin")


def bar(o, h, l, c):
    return Bar(T0, o, h, l, c)


# --- the gate at its thresholds -------------------------------------------------------------------------

@pytest.mark.parametrize("side, adx, adx_prev, regime, age, params, expected", [
    (Side.LONG, 25.0, 24.0, "BULL_TREND", 3, P, ()),                               # ADX at the minimum, age at 3
    (Side.LONG, 24.99, 24.0, "BULL_TREND", 3, P, (GateReason.ADX_TOO_LOW,)),
    (Side.LONG, 57.0, 60.0, "BULL_TREND", 5, P, ()),                               # fell exactly 5 %: not > 5 %
    (Side.LONG, 56.9, 60.0, "BULL_TREND", 5, P, (GateReason.ADX_FALLING,)),        # 5.17 %
    (Side.LONG, 47.0, 50.0, "BULL_TREND", 5, P, ()),                               # 6 %, but from exactly 50
    (Side.LONG, 40.0, NAN, "BULL_TREND", 5, P, ()),                                # no previous ADX yet
    (Side.LONG, 30.0, 29.0, "BULL_TREND", 2, P, (GateReason.TREND_UNSTABLE,)),
    (Side.SHORT, 30.0, 29.0, "BEAR_TREND", 3, P, ()),
    (Side.SHORT, 30.0, 29.0, "RANGE", 5, replace(P, block_range_entries=False), ()),
    (Side.LONG, NAN, NAN, "BULL_TREND", 5, P, (GateReason.NO_REGIME,)),           # regime known, ADX not
    (Side.LONG, 30.0, 29.0, None, 5, replace(P, allow_long=False), (GateReason.LONG_DISABLED, GateReason.NO_REGIME)),
    (Side.SHORT, 10.0, 60.0, "BULL_TREND", 0, replace(P, allow_short=False, use_adx_gate=False),
     (GateReason.SHORT_DISABLED,)),                                                # without the gate: switches only
    (Side.LONG, 10.0, 60.0, "RANGE", 0, replace(P, allow_short=False), (GateReason.RANGE_REGIME,
     GateReason.ADX_TOO_LOW, GateReason.ADX_FALLING, GateReason.TREND_UNSTABLE)),  # a short switch: not a long's
    (Side.SHORT, 10.0, 60.0, "BULL_TREND", 0, replace(P, allow_long=False, adx_chop_filter=False),
     (GateReason.AGAINST_REGIME, GateReason.TREND_UNSTABLE)),                     # no chop filter: no ADX checks
    (Side.LONG, 30.0, 29.0, "BULL_TREND", 4, replace(P, trend_stable_bars=5), (GateReason.TREND_UNSTABLE,)),
    (Side.LONG, 19.0, 18.0, "BULL_TREND", 5, replace(P, adx_minimum=20.0), (GateReason.ADX_TOO_LOW,)),
    (Side.LONG, 37.0, 40.0, "BULL_TREND", 5, replace(P, adx_falling_from=39.0, adx_falling_threshold=0.07),
     (GateReason.ADX_FALLING,)),                                                    # 7.5 % from above 39
])
def test_gate_edges(side, adx, adx_prev, regime, age, params, expected):
    assert entry_gate(side, adx, adx_prev, regime, age, params) == expected


# --- the pre-trade vetoes at their limits ----------------------------------------------------------------

ACC = Account(10_000.0, 10_000.0, 10_000.0, 10_000.0)


def _pos(symbol="ETHUSDT", side=Side.LONG):
    return Position(symbol, side, 1.0, 2000.0, 1970.0, None, 30.0, 20.0, T0, 1.0)


@pytest.mark.parametrize("account, now, correlations, params, expected", [
    (replace(ACC, state=TradingState.HALTED), T0, {}, P, (Veto.HALTED,)),
    (replace(ACC, positions=(_pos(),)), T0, {}, replace(P, max_positions=2), ()),          # 1 of 2
    (replace(ACC, positions=(_pos(), _pos("SOLUSDT"))), T0, {}, replace(P, max_positions=2), (Veto.MAX_POSITIONS,)),
    (replace(ACC, equity=7_500.0, daily_anchor=7_500.0), T0, {}, replace(P, max_drawdown=0.25),
     (Veto.MAX_DRAWDOWN,)),                                                                # exactly 25 % down
    (replace(ACC, equity=7_501.0, daily_anchor=7_501.0), T0, {}, replace(P, max_drawdown=0.25), ()),
    (replace(ACC, equity=50.0, peak_equity=0.0, daily_anchor=50.0), T0, {}, P, ()),       # no peak yet: no drawdown
    (replace(ACC, equity=9_375.0), T0, {}, replace(P, daily_loss_limit=0.0625, max_drawdown=0.5),
     (Veto.DAILY_LOSS_LIMIT,)),                                                            # exactly 6.25 % today
    (replace(ACC, equity=9_376.0), T0, {}, replace(P, daily_loss_limit=0.0625, max_drawdown=0.5), ()),
    (replace(ACC, equity=5_000.0, daily_anchor=0.0), T0, {}, replace(P, max_drawdown=0.9), ()),   # no anchor yet
    (ACC, pd.Timestamp("2025-03-03 07:55", tz="UTC"), {}, P, (Veto.FUNDING_WINDOW,)),     # exactly 5 min before
    (ACC, pd.Timestamp("2025-03-03 07:54:59", tz="UTC"), {}, P, ()),
    (ACC, pd.Timestamp("2025-03-03 07:59", tz="UTC"), {}, replace(P, funding_avoid_min=0), ()),   # window off
    (ACC, pd.Timestamp("2025-03-03 03:58", tz="UTC"), {}, replace(P, funding_interval_hours=4),
     (Veto.FUNDING_WINDOW,)),                                                              # 4-hour funding: 04:00
    (ACC, pd.Timestamp("2025-03-03 03:58", tz="UTC"), {}, P, ()),                         # 8-hour: 08:00 is far
    (replace(ACC, positions=(_pos(),)), T0, {"ETHUSDT": -0.8}, replace(P, max_positions=3), (Veto.CORRELATION,)),
    (replace(ACC, positions=(_pos(),)), T0, {"ETHUSDT": 0.79}, replace(P, max_positions=3), ()),
    (replace(ACC, positions=(_pos(),)), T0, {"ETHUSDT": 0.6}, replace(P, max_positions=3, correlation_threshold=0.6),
     (Veto.CORRELATION,)),
    (replace(ACC, positions=(_pos("BTCUSDT"),)), T0, {"BTCUSDT": 1.0}, replace(P, max_positions=3),
     (Veto.ALREADY_IN_POSITION,)),                                                         # itself: not a correlation
    (replace(ACC, state=TradingState.HALTED, equity=5_000.0, daily_anchor=10_000.0, positions=(_pos("BTCUSDT"),)),
     pd.Timestamp("2025-03-03 15:58", tz="UTC"), {"BTCUSDT": 0.9}, P,
     (Veto.HALTED, Veto.ALREADY_IN_POSITION, Veto.MAX_POSITIONS, Veto.MAX_DRAWDOWN, Veto.DAILY_LOSS_LIMIT,
      Veto.FUNDING_WINDOW)),                                                               # every reason, in order
])
def test_pre_trade_edges(account, now, correlations, params, expected):
    assert pre_trade_vetoes("BTCUSDT", account, now, params, correlations) == expected


def test_the_account_helpers():
    assert drawdown(replace(ACC, equity=7_500.0)) == 0.25 and drawdown(replace(ACC, peak_equity=0.0)) == 0.0
    assert daily_loss(replace(ACC, equity=9_000.0, daily_anchor=12_000.0)) == 0.25
    assert daily_loss(replace(ACC, daily_anchor=0.0)) == 0.0
    assert drawdown(replace(ACC, equity=0.25, peak_equity=0.5)) == 0.5             # a peak below 1 is a peak
    assert daily_loss(replace(ACC, equity=0.3, daily_anchor=0.4)) == pytest.approx(0.25, abs=1e-15)
    held = replace(ACC, positions=(_pos(),))
    assert correlated("BTCUSDT", held, {"ETHUSDT": 0.8}, 0.8) and not correlated("BTCUSDT", held, None, 0.8)
    assert not correlated("ETHUSDT", held, {"ETHUSDT": 1.0}, 0.8)


@pytest.mark.parametrize("now, hours, minutes", [
    ("2025-01-01 00:00", 8, 480), ("2025-01-01 07:59", 8, 1), ("2025-01-01 08:00", 8, 480),
    ("2025-01-01 03:00", 4, 60), ("2025-01-01 23:30", 4, 30), ("2025-01-01 00:00", 1, 60),
    ("2025-01-01 12:00:30", 24, 719.5),
])
def test_minutes_to_funding_for_each_interval(now, hours, minutes):
    assert minutes_to_funding(pd.Timestamp(now, tz="UTC"), hours) == minutes
    assert kernel.minutes_to_funding(pd.Timestamp(now, tz="UTC").value, hours * 3_600_000_000_000) == minutes


# --- sizing: each number it returns -----------------------------------------------------------------------

def test_a_size_reports_its_numbers():
    # risk 1 % of 20,000 = 200; stop 1.5 x 40 = 60 -> 3.3333 units; cap 10 % of 20,000 = 2,000 / 100 = 20
    s = size_position(20_000.0, 100.0, 40.0, P, CENT)
    assert (s.qty, s.reason, s.capped_by, s.ok) == (Decimal("3.333"), None, None, True)
    assert s.raw_qty == 200.0 / 60.0 and s.risk_amount == 200.0 and s.stop_distance == 60.0
    assert s.notional == pytest.approx(333.3)
    capped = size_position(20_000.0, 1_000.0, 4.0, P, CENT)          # raw 33.33 units = 33,333 > 2,000
    assert (capped.qty, capped.capped_by) == (Decimal("2"), "max_position_value")
    assert capped.raw_qty == 200.0 / 6.0 and capped.notional == 2_000.0


@pytest.mark.parametrize("equity, price, atr, params, qty, capped_by", [
    # raw 100 / 150 = 0.6667 x 3,000 = 2,000 = the cap exactly (10 % of 20,000... of 10,000 x 0.2): not capped
    (10_000.0, 3_000.0, 100.0, replace(P, max_position_value_ratio=0.2), Decimal("0.666"), None),
    # leverage 10 x equity = the value cap 10 x equity: a tie keeps the value cap's name
    (1_000.0, 100.0, 0.01, replace(P, max_position_value_ratio=10.0, leverage=10), Decimal("100"),
     "max_position_value"),
    (1_000.0, 100.0, 0.01, replace(P, max_position_value_ratio=10.0, leverage=5), Decimal("50"), "leverage"),
    # position cap clamp(0.5 x 10,000, 6,000, 7,000) = 6,000 (the minimum binds)
    (10_000.0, 100.0, 0.01, replace(P, max_position_value_ratio=100.0, position_cap=PositionCap(multiple=0.5, min=6_000, max=7_000)),
     Decimal("60"), "position_cap"),
    # clamp(3 x 10,000, 6,000, 7,000) = 7,000 (the maximum binds)
    (10_000.0, 100.0, 0.01, replace(P, max_position_value_ratio=100.0, position_cap=PositionCap(multiple=3.0, min=6_000, max=7_000)),
     Decimal("70"), "position_cap"),
    # the position cap above the value cap does not bind: 10 % of 10,000 = 1,000 / 100
    (10_000.0, 100.0, 0.01, replace(P, position_cap=PositionCap(multiple=3.0, min=6_000, max=7_000)), Decimal("10"),
     "max_position_value"),
])
def test_caps_and_their_ties(equity, price, atr, params, qty, capped_by):
    s = size_position(equity, price, atr, params, CENT)
    assert (s.qty, s.capped_by, s.reason) == (qty, capped_by, None)


@pytest.mark.parametrize("equity, price, atr, filters, params, qty, reason", [
    (-5.0, 100.0, 1.0, CENT, P, Decimal("0"), SizeReason.NO_EQUITY),
    (NAN, 100.0, 1.0, CENT, P, Decimal("0"), SizeReason.NO_EQUITY),
    (1_000.0, 0.0, 1.0, CENT, P, Decimal("0"), SizeReason.NO_VOLATILITY),             # no price
    (1_000.0, 100.0, -1.0, CENT, P, Decimal("0"), SizeReason.NO_VOLATILITY),
    # 0.002 units exactly the minimum quantity: risk 10 / 1.5 = 6.667 -> cap 100/50,000 = 0.002
    (1_000.0, 50_000.0, 1.0, MarketFilters.of("0.1", "0.001", "0.002", "5"), P, Decimal("0.002"), None),
    # notional exactly the minimum: 0.002 x 50,000 = 100
    (1_000.0, 50_000.0, 1.0, MarketFilters.of("0.1", "0.001", "0.001", "100"), P, Decimal("0.002"), None),
    (1_000.0, 50_000.0, 1.0, MarketFilters.of("0.1", "0.001", "0.001", "100.01"), P, Decimal("0.002"),
     SizeReason.BELOW_MIN_NOTIONAL),
    # the settings' minimum position value above the market's: 100 < 150
    (1_000.0, 50_000.0, 1.0, CENT, replace(P, min_position_value=150.0), Decimal("0.002"),
     SizeReason.BELOW_MIN_NOTIONAL),
    # a step that is not 1/n (3 units): 10 risk / 0.015 = 666 units -> cap 100 / 0.1 = 1,000 -> 666 -> 666
    (1_000.0, 0.1, 0.01, MarketFilters.of("0.0001", "3", "3", "5"), P, Decimal("666"), None),
])
def test_size_reasons_at_their_limits(equity, price, atr, filters, params, qty, reason):
    s = size_position(equity, price, atr, params, filters)
    assert (s.qty, s.reason) == (qty, reason)
    assert s.ok is (reason is None)


def test_an_unsized_order_reports_its_stop_distance():
    s = size_position(0.0, 100.0, 2.0, P, CENT)
    assert s.reason is SizeReason.NO_EQUITY and s.stop_distance == 3.0 and s.notional == 0.0
    s = size_position(100.0, 100.0, NAN, P, CENT)
    assert s.reason is SizeReason.NO_VOLATILITY and math.isnan(s.stop_distance)


def test_rounding_helpers():
    with pytest.raises(ValueError, match="^step must be positive, got 0$"):
        round_down(1.0, Decimal("0"))
    with pytest.raises(ValueError):
        round_down(1.0, Decimal("-0.1"))
    assert str(round_down(2.50, Decimal("0.01"))) == "2.5" and round_down(-1.55, Decimal("0.1")) == Decimal("-1.5")
    assert round_price(101.239, MarketFilters.of("0.05", "1", "1", "5")) == Decimal("101.2")


# --- the order vetoes at their limits ---------------------------------------------------------------------

def _size(notional):
    return Size(Decimal("1"), 1.0, notional, 10.0, 1.0)


def test_a_size_is_a_frozen_value_that_is_ok_unless_it_has_a_reason():
    import dataclasses

    s = _size(100.0)
    assert s.capped_by is None and s.reason is None and s.ok is True
    assert Size(Decimal("0"), 0.0, 0.0, 0.0, 1.0, reason=SizeReason.NO_EQUITY).ok is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.qty = Decimal("2")


@pytest.mark.parametrize("notional, available, params, expected", [
    (1_000.0, 10_000.0, P, ()),                                        # exactly 10 % of 10,000
    (1_000.0 * (1 + 1e-8), 10_000.0, P, (Veto.MAX_POSITION_VALUE,)),
    (5.0, 10_000.0, P, ()),                                            # exactly the minimum position value
    (4.99, 10_000.0, P, (Veto.MIN_NOTIONAL,)),
    # margin 1,000 / 10 = 100 plus the taker fee 1,000 x 0.0005 = 0.5: 100.5 fits exactly
    (1_000.0, 100.5, P, ()),
    (1_000.0, 100.49, P, (Veto.INSUFFICIENT_MARGIN,)),
    (1_000.0, 200.5, replace(P, leverage=5), ()),                      # 1,000 / 5 + 0.5 = 200.5 fits
    (1_000.0, 200.4, replace(P, leverage=5), (Veto.INSUFFICIENT_MARGIN,)),
    (1_000.0, 201.0, replace(P, leverage=5, taker_fee=0.001), ()),          # 200 + 1
    (1_000.0, 200.99, replace(P, leverage=5, taker_fee=0.001), (Veto.INSUFFICIENT_MARGIN,)),
    (3.0, 0.0, replace(P, max_position_value_ratio=0.0001), (Veto.MAX_POSITION_VALUE, Veto.MIN_NOTIONAL,
                                                             Veto.INSUFFICIENT_MARGIN)),
])
def test_order_veto_edges(notional, available, params, expected):
    assert order_vetoes(_size(notional), 100.0, replace(ACC, available=available), params) == expected


# --- entries: stop and target on the tick grid --------------------------------------------------------------

def test_initial_stop_and_single_target():
    # long from 100.004, ATR 2.003: stop 100.004 - 3.0045 = 96.9995 -> up to 97.00; 1R 3.0045 x 2 -> 106.013 -> 106.01
    assert initial_stop(Side.LONG, 100.004, 2.003, P, CENT) == 97.0
    assert take_profit_price(Side.LONG, 100.004, 3.0045, P, CENT) == 106.01
    # short: stop 103.0085 -> down to 103.00; target 100.004 - 6.009 = 93.995 -> up to 94.00
    assert initial_stop(Side.SHORT, 100.004, 2.003, P, CENT) == 103.0
    assert take_profit_price(Side.SHORT, 100.004, 3.0045, P, CENT) == 94.0
    assert take_profit_price(Side.LONG, 100.0, 3.0, replace(P, take_profit_r=None), CENT) is None
    assert take_profit_price(Side.LONG, 100.0, 3.0, replace(P, tp_ladder=((1.0, 0.5),)), CENT) is None


def test_a_filled_entry_opens_the_kernels_position():
    m = kernel.market(CENT)
    pos = kernel.opened(-1, 0.5, 200.0, 4.0, kernel.kernel_params(P), m)
    assert (pos.sign, pos.qty, pos.entry, pos.stop, pos.take_profit, pos.risk_per_unit, pos.atr_at_entry) == \
        (-1, 0.5, 200.0, 206.0, 188.0, 6.0, 4.0)
    assert (pos.initial_qty, pos.bars_held, pos.be_promoted, pos.pyramid_steps, pos.ladder_steps, pos.first_entry) == \
        (0.5, 0, False, 0, 0, 200.0)
    laddered = kernel.opened(1, 0.5, 200.0, 4.0, kernel.kernel_params(replace(P, tp_ladder=((1.0, 1.0),))), m)
    assert math.isnan(laddered.take_profit) and laddered.stop == 194.0
    no_target = kernel.opened(1, 0.5, 200.0, 4.0, kernel.kernel_params(replace(P, take_profit_r=None)), m)
    assert math.isnan(no_target.take_profit)


def test_ladder_orders_still_to_fill():
    p = replace(P, tp_ladder=((1.0, 0.3), (2.0, 0.3), (3.0, 0.0004)))
    pos = Position("BTCUSDT", Side.LONG, 1.0, 100.0, 97.0, None, 3.0, 2.0, T0, 1.0)
    # level 3's share 0.0004 rounds to no step: not an order
    assert ladder_orders(pos, p, CENT) == [(1, 103.0, 0.3), (2, 106.0, 0.3)]
    assert ladder_orders(replace(pos, ladder_steps=1), p, CENT) == [(2, 106.0, 0.3)]
    short = replace(pos, side=Side.SHORT, stop=103.0)
    assert ladder_orders(short, p, CENT) == [(1, 97.0, 0.3), (2, 94.0, 0.3)]


# --- a held position, one bar -----------------------------------------------------------------------------

LONG = Position("BTCUSDT", Side.LONG, 1.0, 100.0, 97.0, 106.0, 3.0, 2.0, T0, 1.0)      # 1R = 3, TP 2R
SHORT = Position("BTCUSDT", Side.SHORT, 1.0, 100.0, 103.0, 94.0, 3.0, 2.0, T0, 1.0)
QUIET = dict(take_profit_r=None, break_even_r=0.0, trail_atr_k=50.0, max_holding_bars=0)


def fills(step):
    return [(e.reason, e.qty, e.price) for e in step.exits]


@pytest.mark.parametrize("pos, b, expected", [
    (LONG, bar(100, 101, 97.0, 99), [(ExitReason.STOP_LOSS, 1.0, 97.0)]),           # the low touches the stop
    (LONG, bar(100, 106.0, 98, 105), [(ExitReason.TAKE_PROFIT, 1.0, 106.0)]),       # the high touches the target
    (SHORT, bar(100, 103.0, 99, 101), [(ExitReason.STOP_LOSS, 1.0, 103.0)]),
    (SHORT, bar(104, 105, 101, 102), [(ExitReason.STOP_LOSS, 1.0, 104.0)]),         # opened through: the open
    (SHORT, bar(100, 101, 94.0, 95), [(ExitReason.TAKE_PROFIT, 1.0, 94.0)]),
    (SHORT, bar(93, 94, 92, 93), [(ExitReason.TAKE_PROFIT, 1.0, 93.0)]),            # opened through: the open
    (SHORT, bar(100, 103.5, 93, 95), [(ExitReason.STOP_LOSS, 1.0, 103.0)]),         # both: the stop
])
def test_standing_orders_fill_at_the_touch(pos, b, expected):
    step = manage_position(pos, b, 2.0, "BULL_TREND" if pos.side is Side.LONG else "BEAR_TREND", P)
    assert step.position is None and fills(step) == expected and step.close_reason is None and not step.adds


def test_a_bar_that_reaches_neither_keeps_the_position_and_counts_it():
    step = manage_position(LONG, bar(100, 105.99, 97.01, 101), 2.0, "BULL_TREND", replace(P, break_even_r=0))
    assert step.position is not None and not step.exits and step.position.bars_held == 1
    short = manage_position(SHORT, bar(100, 102.99, 94.01, 99), 2.0, "BEAR_TREND", replace(P, break_even_r=0))
    assert short.position is not None and not short.exits and short.position.qty == 1.0


@pytest.mark.parametrize("pos, b, reason, price", [
    (replace(LONG, stop=100.0, be_promoted=True), bar(101, 101, 100, 100.5), ExitReason.BREAK_EVEN_STOP, 100.0),
    (replace(LONG, stop=100.0, be_promoted=False), bar(101, 101, 100, 100.5), ExitReason.TRAILING_STOP, 100.0),
    (replace(LONG, stop=97.0, be_promoted=True), bar(101, 101, 96, 100.5), ExitReason.STOP_LOSS, 97.0),
    (replace(SHORT, stop=100.0, be_promoted=True), bar(99, 100, 99, 99.5), ExitReason.BREAK_EVEN_STOP, 100.0),
    (replace(SHORT, stop=102.0), bar(99, 102.5, 99, 99.5), ExitReason.TRAILING_STOP, 102.0),
    (replace(SHORT, stop=103.0, be_promoted=True), bar(99, 103.5, 99, 99.5), ExitReason.STOP_LOSS, 103.0),
])
def test_a_stop_is_named_by_where_it_stands(pos, b, reason, price):
    step = manage_position(pos, b, 2.0, "BULL_TREND" if pos.side is Side.LONG else "BEAR_TREND", P)
    assert fills(step) == [(reason, 1.0, price)]


def test_stop_names_use_the_first_entry_and_the_grid():
    m = kernel.market(CENT)
    # first entry 100.004: break-even on the grid is 100.01 (a long's stop rounds up); initial 97.0045 -> 97.01
    state = kernel.position_state(replace(LONG, first_entry_price=100.004, stop=100.01, be_promoted=True))
    assert kernel.stop_reason(state, m) == kernel.BREAK_EVEN_STOP
    state = kernel.position_state(replace(LONG, first_entry_price=100.004, stop=97.01, risk_per_unit=2.9995))
    assert kernel.stop_reason(state, m) == kernel.STOP_LOSS
    state = kernel.position_state(replace(LONG, first_entry_price=100.004, stop=97.02, risk_per_unit=2.9995))
    assert kernel.stop_reason(state, m) == kernel.TRAILING_STOP


def test_ladder_level_touched_exactly_and_a_level_too_small_to_trade():
    p = replace(P, tp_ladder=((1.0, 0.0004), (2.0, 0.5), (3.0, 0.5)))
    # level 1 rounds to no step: spent without an order; level 2 (106) touched exactly
    step = manage_position(LONG, bar(100, 106.0, 99, 105), 2.0, "BULL_TREND", p)
    assert fills(step) == [(ExitReason.TP_LADDER, 0.5, 106.0)]
    assert step.position.qty == 0.5 and step.position.ladder_steps == 2
    # the last level closes what is left: the position ends inside the bar
    last = manage_position(step.position, bar(106, 109.5, 105, 109), 2.0, "BULL_TREND", p)
    assert last.position is None and fills(last) == [(ExitReason.TP_LADDER, 0.5, 109.0)]


def test_a_short_ladder_gapped_through_fills_at_the_open_for_each_level():
    p = replace(P, tp_ladder=((1.0, 0.25), (2.0, 0.25)), break_even_r=0.0, trail_atr_k=50.0)
    step = manage_position(SHORT, bar(93.5, 95, 90, 92), 2.0, "BEAR_TREND", p)     # 97 and 94 both passed at 93.5
    assert fills(step) == [(ExitReason.TP_LADDER, 0.25, 93.5), (ExitReason.TP_LADDER, 0.25, 93.5)]
    assert step.position.qty == 0.5 and step.position.ladder_steps == 2 and step.position.stop == 103.0


def test_a_ladder_level_larger_than_what_is_left_closes_only_the_rest():
    p = replace(P, tp_ladder=((1.0, 0.6), (2.0, 0.6)))
    step = manage_position(LONG, bar(100, 107, 99, 106.5), 2.0, "BULL_TREND", p)
    assert step.position is None and fills(step) == [(ExitReason.TP_LADDER, 0.6, 103.0), (ExitReason.TP_LADDER, 0.4, 106.0)]


@pytest.mark.parametrize("pos, b, regime, params, channel, reason", [
    (LONG, bar(100, 101, 99, 100), "BEAR_TREND", replace(P, exit_on_regime_change=False), None, None),
    (SHORT, bar(100, 101, 99, 100), "RANGE", P, None, None),
    (LONG, bar(100, 101, 98, 98.5), "BULL_TREND", P, (104.0, 98.5), None),           # close on the channel: inside
    (SHORT, bar(100, 101.5, 99, 101.0), "BEAR_TREND", P, (101.0, 95.0), None),
    (replace(LONG, bars_held=166), bar(100, 101, 99, 100), "BULL_TREND", P, None, None),     # 167 of 168
    (replace(LONG, bars_held=9), bar(100, 101, 99, 100), "BULL_TREND", replace(P, max_holding_bars=10), None,
     ExitReason.MAX_HOLDING_TIME),
    (LONG, bar(100, 101, 97.5, 98.0), "BEAR_TREND", P, (104.0, 98.5), ExitReason.REGIME_CHANGE),   # the first reason
    (replace(LONG, bars_held=500), bar(100, 101, 97.5, 98.0), "BULL_TREND", P, (104.0, 98.5), ExitReason.EXIT_CHANNEL),
])
def test_market_exits(pos, b, regime, params, channel, reason):
    step = manage_position(pos, b, 2.0, regime, params, exit_channel=channel)
    assert step.close_reason is reason
    if reason is not None:    # decided now, nothing else moves: the position is counted one bar older
        assert step.position.stop == pos.stop and not step.adds and not step.stop_moved
        assert step.position.bars_held == pos.bars_held + 1


def test_break_even_exactly_at_its_distance_and_not_before():
    p = replace(P, take_profit_r=None, trail_atr_k=50.0)
    pos = replace(LONG, take_profit=None)
    at = manage_position(pos, bar(100, 103.0, 100, 102), 2.0, "BULL_TREND", p)      # +1R exactly
    assert at.position.be_promoted and at.position.stop == 100.0 and at.stop_moved
    before = manage_position(pos, bar(100, 102.99, 100, 102), 2.0, "BULL_TREND", p)
    assert not before.position.be_promoted and before.position.stop == 97.0 and not before.stop_moved
    half = manage_position(pos, bar(100, 101.5, 100, 101), 2.0, "BULL_TREND", replace(p, break_even_r=0.5))
    assert half.position.be_promoted and half.position.stop == 100.0
    off = manage_position(pos, bar(100, 110, 100, 109), 2.0, "BULL_TREND", replace(p, break_even_r=0.0))
    assert not off.position.be_promoted and off.position.stop == 97.0
    short = manage_position(replace(SHORT, take_profit=None), bar(100, 100, 97.0, 98), 2.0, "BEAR_TREND", p)
    assert short.position.be_promoted and short.position.stop == 100.0


def test_the_trail_needs_a_volatility_and_follows_the_close():
    p = replace(P, take_profit_r=None, break_even_r=0.0, trail_atr_k=2.0)
    pos = replace(LONG, take_profit=None)
    step = manage_position(pos, bar(100, 104, 100, 103), 1.5, "BULL_TREND", p)     # 103 - 2 x 1.5 = 100
    assert step.position.stop == 100.0 and step.stop_moved
    assert manage_position(pos, bar(100, 104, 100, 103), NAN, "BULL_TREND", p).position.stop == 97.0
    assert manage_position(pos, bar(100, 104, 100, 103), 0.0, "BULL_TREND", p).position.stop == 97.0
    short = manage_position(replace(SHORT, take_profit=None), bar(100, 100, 96, 97), 1.5, "BEAR_TREND", p)
    assert short.position.stop == 100.0                                             # 97 + 3
    assert trail_stop_price(Side.LONG, 100.0, 103.0, 2.0, False, 2.5) == 98.0
    assert trail_stop_price(Side.LONG, 100.0, 103.0, 2.0, True, 2.5) == 100.0       # never below the entry
    assert trail_stop_price(Side.SHORT, 100.0, 97.0, 2.0, False, 2.5) == 102.0


PYR = replace(P, pyramiding=True, take_profit_r=None, trail_atr_k=50.0, break_even_r=0.0,
              pyramid_levels=((1.0, 0.5), (2.0, 0.25)))


def test_pyramid_level_reached_exactly_adds_at_the_close():
    pos = replace(LONG, take_profit=None)                      # first entry 100, ATR at entry 2: levels 102, 104
    step = manage_position(pos, bar(100, 102, 100, 102.0), 3.0, "BULL_TREND", PYR)
    assert [(a.qty, a.price, a.level) for a in step.adds] == [(0.5, 102.0, 1)]
    # the stop rises to the close less 1.5 x the bar's ATR: 102 - 4.5 = 97.5
    assert step.position.stop == 97.5 and step.position.qty == 1.5 and step.position.pyramid_steps == 1
    assert step.stop_moved
    below = manage_position(pos, bar(100, 102, 100, 101.99), 3.0, "BULL_TREND", PYR)
    assert not below.adds and below.position.pyramid_steps == 0


def test_two_levels_in_one_bar_and_the_atr_at_entry_when_the_bar_has_none():
    pos = replace(LONG, take_profit=None)
    step = manage_position(pos, bar(100, 105, 100, 104.0), NAN, "BULL_TREND", PYR)
    assert [(a.qty, a.level) for a in step.adds] == [(0.5, 1), (0.25, 2)]
    assert step.position.stop == 101.0 and step.position.qty == 1.75     # 104 - 1.5 x 2 (the ATR at entry)


def test_a_short_pyramids_below_its_entry():
    pos = replace(SHORT, take_profit=None)
    step = manage_position(pos, bar(100, 100, 97, 98.0), 2.0, "BEAR_TREND", PYR)
    assert [(a.qty, a.price, a.level) for a in step.adds] == [(0.5, 98.0, 1)]
    assert step.position.stop == 101.0                                   # 98 + 3


def test_an_add_below_the_market_minimums_spends_its_level():
    pos = replace(LONG, take_profit=None, qty=0.001, initial_qty=0.001)
    step = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", PYR)   # 0.0005 rounds to 0
    assert not step.adds and step.position.pyramid_steps == 2 and step.position.qty == 0.001
    big = replace(LONG, take_profit=None, qty=1.0, initial_qty=1.0)
    tight = MarketFilters.of("0.01", "0.001", "0.6", "5")                 # 0.5 < the 0.6 minimum quantity
    s = manage_position(big, bar(100, 102, 100, 102.0), 2.0, "BULL_TREND", replace(PYR, pyramid_levels=((1.0, 0.5),)),
                        filters=tight)
    assert not s.adds and s.position.pyramid_steps == 1
    notional = MarketFilters.of("0.01", "0.001", "0.001", "51.01")        # 0.5 x 102 = 51 < 51.01
    s = manage_position(big, bar(100, 102, 100, 102.0), 2.0, "BULL_TREND", replace(PYR, pyramid_levels=((1.0, 0.5),)),
                        filters=notional)
    assert not s.adds and s.position.pyramid_steps == 1
    exact = MarketFilters.of("0.01", "0.001", "0.5", "51")
    s = manage_position(big, bar(100, 102, 100, 102.0), 2.0, "BULL_TREND", replace(PYR, pyramid_levels=((1.0, 0.5),)),
                        filters=exact)
    assert [(a.qty, a.level) for a in s.adds] == [(0.5, 1)]


def test_adds_take_the_free_margin_in_turn():
    pos = replace(LONG, take_profit=None)
    # add 1: 0.5 x 104 = 52 -> 5.2 margin + 0.026 fee = 5.226; add 2: 0.25 x 104 = 26 -> 2.613
    both = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", PYR, available=7.839)
    assert [a.level for a in both.adds] == [1, 2]
    first = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", PYR, available=7.838)
    assert [a.level for a in first.adds] == [1] and first.position.pyramid_steps == 1
    exact = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", PYR, available=5.226)
    assert [a.level for a in exact.adds] == [1]
    none = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", PYR, available=5.2)
    assert not none.adds and none.position.pyramid_steps == 0 and none.position.stop == 97.0
    off = manage_position(pos, bar(100, 105, 100, 104.0), 2.0, "BULL_TREND", replace(PYR, pyramiding=False))
    assert not off.adds


def test_an_untouched_position_reports_no_move():
    step = manage_position(replace(LONG, take_profit=None), bar(100, 101, 99, 100), 2.0, "BULL_TREND",
                           replace(P, take_profit_r=None, trail_atr_k=50.0))
    assert not step.stop_moved and step.position.stop == 97.0 and step.position.be_promoted is False


# --- the trading state --------------------------------------------------------------------------------------

@pytest.mark.parametrize("state, equity, anchor, expected", [
    (kernel.ACTIVE, 9_400.0, 10_000.0, kernel.HALTED), (kernel.ACTIVE, 9_401.0, 10_000.0, kernel.ACTIVE),
    (kernel.REDUCING, 9_400.0, 10_000.0, kernel.HALTED), (kernel.REDUCING, 9_401.0, 10_000.0, kernel.REDUCING),
    (kernel.HALTED, 10_500.0, 10_000.0, kernel.HALTED), (kernel.ACTIVE, 1.0, 0.0, kernel.ACTIVE),
])
def test_the_trading_state_machine(state, equity, anchor, expected):
    assert kernel.next_trading_state(state, equity, anchor, 0.06) == expected
    assert (kernel.ACTIVE, kernel.REDUCING, kernel.HALTED) == (0, 1, 2)


# --- the whole decision ---------------------------------------------------------------------------------------

def _decide(pos=kernel.FLAT, atr=2.0, regime=1.0, direction=1, proposal=1, equity=10_000.0, available=10_000.0,
            params=P, state=kernel.ACTIVE, n_positions=0, adx=30.0, age=10):
    p = kernel.kernel_params(params)
    exits, adds = np.empty((2, 3)), np.empty((2, 3))
    return kernel.decide_bar(pos, 100.0, 101.0, 99.0, 100.0, atr, adx, 29.0, regime, age, NAN, NAN, direction,
                             proposal, equity, available, equity, equity, state, n_positions, False,
                             T0.value, kernel.market(CENT), p, exits, adds)


def test_decide_bar_outcomes_in_their_order():
    name = lambda out: kernel.OUTCOMES[out[0]]                                     # noqa: E731
    assert name(_decide(atr=NAN)) == "warmup"
    assert name(_decide(regime=NAN)) == "warmup"
    assert name(_decide(regime=NAN, params=replace(P, use_adx_gate=False))) == "order"   # Donchian: no regime needed
    assert name(_decide(direction=0)) == "neutral"
    assert name(_decide(proposal=0)) == "below_threshold"
    gate = _decide(adx=10.0)
    assert name(gate) == "gate" and gate[1] == 32 and not gate[3]
    veto = _decide(state=kernel.HALTED)
    assert name(veto) == "veto" and veto[2] == 1 and not veto[3]                  # no size asked
    margin = _decide(available=1.0)
    assert name(margin) == "veto" and margin[2] == MARGIN_BIT and margin[3]
    small = _decide(equity=30.0, available=0.0)                                     # 3 USDT: under 5, never sent
    assert name(small) == "size" and small[2] == 0 and small[4][6] == kernel.BELOW_MIN_NOTIONAL
    order = _decide()
    assert name(order) == "order" and order[1:4] == (0, 0, True)
    assert order[4][0] == 10_000 and order[4][5] == 0                                # 1,000 / 100 = 10.000 (capped)
    held = kernel.position_state(LONG)
    managed = _decide(pos=held)
    assert name(managed) == "in_position" and managed[4][4] != managed[4][4] and managed[5].bars_held == 1


def test_kernel_params_carry_every_setting():
    p = replace(P, take_profit_r=None, tp_ladder=((1.0, 0.5),), position_cap=PositionCap(multiple=2.0, min=10.0, max=20.0),
                funding_interval_hours=4, leverage=3)
    k = kernel.kernel_params(p)
    assert math.isnan(k.take_profit_r) and k.tp_ladder.tolist() == [[1.0, 0.5]] and k.pyramid_levels.shape == (2, 2)
    assert (k.has_position_cap, k.cap_multiple, k.cap_min, k.cap_max) == (True, 2.0, 10.0, 20.0)
    assert k.funding_interval_ns == 4 * 3_600_000_000_000 and k.leverage == 3.0
    plain = kernel.kernel_params(P)
    assert (plain.has_position_cap, plain.cap_multiple, plain.cap_min, plain.cap_max) == (False, 0.0, 0.0, 0.0)
    assert plain.take_profit_r == 2.0 and plain.tp_ladder.shape == (0, 2)


def test_regime_codes_and_position_round_trip():
    assert [kernel.regime_code(r) for r in ("BULL_TREND", "BEAR_TREND", "RANGE")] == [1.0, -1.0, 0.0]
    assert math.isnan(kernel.regime_code(None)) and math.isnan(kernel.regime_code("WARMING_UP"))
    pos = Position("X", Side.SHORT, 2.0, 50.0, 52.0, None, 2.0, 1.5, T0, 3.0, 4, True, 1, 2, 49.0)
    state = kernel.position_state(pos)
    assert state == (-1, 2.0, 50.0, 52.0, state.take_profit, 2.0, 1.5, 3.0, 4, True, 1, 2, 49.0)
    assert math.isnan(state.take_profit) and kernel.position_state(None) == kernel.FLAT
    back = kernel.updated_position(pos, state._replace(qty=1.0, stop=51.0, bars_held=5, be_promoted=False,
                                                       pyramid_steps=2, ladder_steps=3))
    assert (back.qty, back.stop, back.bars_held, back.be_promoted, back.pyramid_steps, back.ladder_steps) == \
        (1.0, 51.0, 5, False, 2, 3)
    assert back.entry_price == 50.0 and back.first_entry_price == 49.0


def test_grid_helpers():
    m = kernel.market(MarketFilters.of("0.5", "3", "3", "5"))     # neither is 1/n: no scale
    assert (m.step_scale, m.tick_scale) == (0.0, 2.0)
    assert kernel.step_scale(3.0) == 0.0 and kernel.step_scale(0.2) == 5.0 and kernel.step_scale(0.3) == 0.0
    assert kernel.floor_units(8.9, 3.0, 0.0) == 2 and kernel.units_to_qty(2, 3.0, 0.0) == 6.0
    assert kernel.qty_units(6.0, m) == 2
    tick3 = kernel.market(MarketFilters.of("3", "1", "1", "5"))
    assert kernel.to_tick(7.0, True, tick3) == 9.0 and kernel.to_tick(7.0, False, tick3) == 6.0
    assert kernel.to_tick(-7.0, True, tick3) == -6.0
    assert kernel.stop_price(1, 100.26, m) == 100.5 and kernel.stop_price(-1, 100.26, m) == 100.0
    assert kernel.target_price(1, 100.26, m) == 100.0 and kernel.target_price(-1, 100.26, m) == 100.5
    assert math.isnan(kernel.to_tick(NAN, True, m))
    assert kernel.order_cost(1_000.0, kernel.kernel_params(P)) == 100.5


def test_return_correlations_window_and_missing_symbol():
    idx = pd.date_range("2025-01-01", periods=6, freq="h", tz="UTC")
    closes = pd.DataFrame({"A": [1, 2, 4, 2, 4, 8.0], "B": [5, 1, 3, 1.5, 3, 6.0], "C": [3.0] * 6}, index=idx)
    # the last 3 returns: A and B both -50 %, +100 %, +100 %: correlation 1 over a window of 3, not over 5
    corr = return_correlations(closes, "A", window=3)
    assert set(corr) == {"B"} and corr["B"] == pytest.approx(1.0)           # C is constant: NaN is left out
    assert return_correlations(closes, "A", window=5)["B"] < 0.99
    with pytest.raises(KeyError, match=r"^.ZZZ is not among the closes given \(\[.A., .B., .C.\]\).$"):
        return_correlations(closes, "ZZZ")


def test_return_correlations_default_to_a_week_of_hours():
    rng = np.random.default_rng(3)
    idx = pd.date_range("2025-01-01", periods=400, freq="h", tz="UTC")
    closes = pd.DataFrame(np.exp(np.cumsum(rng.normal(0, 0.01, (400, 2)), axis=0)), index=idx, columns=["A", "B"])
    a, b = closes["A"].to_numpy(), closes["B"].to_numpy()
    ra, rb = a[1:] / a[:-1] - 1, b[1:] / b[:-1] - 1
    week = np.corrcoef(ra[-168:], rb[-168:])[0, 1]                                 # the last 168 returns
    assert return_correlations(closes, "A")["B"] == pytest.approx(week, rel=1e-12)
    assert abs(np.corrcoef(ra[-169:], rb[-169:])[0, 1] - week) > 1e-6            # one bar more would differ


def test_the_step_values_are_frozen_with_empty_defaults():
    import dataclasses

    from autobot_lib.risk import AddFill, ExitFill, PositionStep

    step = PositionStep(None)
    assert (step.position, step.exits, step.adds, step.stop_moved, step.close_reason) == (None, (), (), False, None)
    assert step.stop_moved is False
    for value, field in ((step, "adds"), (ExitFill(ExitReason.STOP_LOSS, 1.0, 2.0), "qty"), (AddFill(1.0, 2.0, 1), "qty")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(value, field, 3.0)


def test_the_step_buffers_have_a_row_for_each_fill_a_bar_can_make():
    from autobot_lib.risk.exits import step_buffers

    assert [b.shape for b in step_buffers(P)] == [(1, 3), (2, 3)]           # one stop or target; two pyramid levels
    p = replace(P, tp_ladder=((1.0, 0.3), (2.0, 0.3), (3.0, 0.4)), pyramid_levels=())
    assert [b.shape for b in step_buffers(p)] == [(3, 3), (1, 3)]


def test_every_exit_reason_code_decodes_to_its_reason():
    from autobot_lib.risk.exits import position_step_from

    pos = replace(LONG, take_profit=None)
    state = kernel.position_state(pos)
    none = position_step_from(pos, state, np.empty((0, 3)), np.empty((0, 3)), False, -1, False)
    assert none.close_reason is None and none.position == pos
    for code, reason in enumerate(kernel.EXIT_REASONS):
        step = position_step_from(pos, state, np.array([[code, 0.5, 99.0]]), np.empty((0, 3)), True, code, False)
        assert step.close_reason is reason and step.exits == (ExitFill(reason, 0.5, 99.0),) and step.stop_moved


def test_the_annotations_of_the_risk_values_are_types():
    """Each annotated field names a real type (tools and readers evaluate them: typing.get_type_hints)."""
    import typing

    from autobot_lib.risk import exits, sizing

    for module in (kernel, sizing, exits):
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                typing.get_type_hints(value)


def test_flat_holds_nothing():
    flat = kernel.FLAT
    assert (flat.sign, flat.qty, flat.entry, flat.stop, flat.risk_per_unit, flat.atr_at_entry, flat.initial_qty) == \
        (0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert (flat.bars_held, flat.be_promoted, flat.pyramid_steps, flat.ladder_steps, flat.first_entry) == \
        (0, False, 0, 0, 0.0)
    assert math.isnan(flat.take_profit) and kernel.POSITION_FIELDS == 13


def test_the_float_noise_tolerance_is_one_part_in_a_million_million():
    """A value within 1e-12 (relative) of a whole step or tick counts as on it; 1.5e-12 away does not."""
    assert kernel.floor_units(3 * (1 - 0.5e-12), 1.0, 1.0) == 3
    assert kernel.floor_units(3 * (1 - 1.5e-12), 1.0, 1.0) == 2
    assert kernel.floor_units(3 * (1 - 1.5e-12), 1.0, 0.0) == 2
    m = kernel.market(CENT)
    assert kernel.to_tick(100.01 * (1 + 0.5e-12), True, m) == 100.01
    assert kernel.to_tick(100.01 * (1 + 1.5e-12), True, m) == 100.02
    assert kernel.to_tick(100.01 * (1 - 0.5e-12), False, m) == 100.01
    assert kernel.to_tick(100.01 * (1 - 1.5e-12), False, m) == 100.0


def test_more_edges_of_the_held_position():
    # held for one bar at most: the first close already asks for the exit
    one = manage_position(LONG, bar(100, 101, 99, 100), 2.0, "BULL_TREND", replace(P, max_holding_bars=1))
    assert one.close_reason is ExitReason.MAX_HOLDING_TIME
    # an ATR below 1 still trails: 103 - 2.5 x 0.8 = 101
    p = replace(P, take_profit_r=None, break_even_r=0.0)
    trail = manage_position(replace(LONG, take_profit=None), bar(100, 104, 100, 103), 0.8, "BULL_TREND", p)
    assert trail.position.stop == 101.0
    # an add of exactly one step is sent
    tiny = replace(LONG, take_profit=None, qty=0.002, initial_qty=0.002)
    step = manage_position(tiny, bar(100, 105, 100, 102.0), 2.0, "BULL_TREND",
                           replace(PYR, pyramid_levels=((1.0, 0.5),)), filters=MarketFilters.of("0.01", "0.001", "0.001", "0.1"))
    assert [(a.qty, a.level) for a in step.adds] == [(0.001, 1)]
    # a position closed inside the bar moved no stop
    stopped = manage_position(LONG, bar(100, 101, 96, 99), 2.0, "BULL_TREND", P)
    assert stopped.position is None and stopped.stop_moved is False


def test_the_daily_loss_against_an_anchor_below_one():
    assert kernel.daily_loss_breached(0.5, 0.9, 0.06) and not kernel.daily_loss_breached(0.89, 0.9, 0.06)


@pytest.mark.parametrize("side, regime, params, expected", [
    (Side.LONG, "RANGE", replace(P, allow_long=False), (GateReason.LONG_DISABLED, GateReason.RANGE_REGIME)),
    (Side.LONG, "BEAR_TREND", replace(P, allow_long=False), (GateReason.LONG_DISABLED, GateReason.AGAINST_REGIME)),
    (Side.SHORT, "BULL_TREND", replace(P, allow_short=False), (GateReason.SHORT_DISABLED, GateReason.AGAINST_REGIME)),
    (Side.SHORT, "RANGE", replace(P, allow_short=False, adx_minimum=40.0),
     (GateReason.SHORT_DISABLED, GateReason.RANGE_REGIME, GateReason.ADX_TOO_LOW)),
])
def test_a_switch_and_the_regime_together(side, regime, params, expected):
    assert entry_gate(side, 30.0, 29.0, regime, 10, params) == expected


def test_reducing_and_the_other_vetoes_together():
    account = replace(ACC, state=TradingState.REDUCING, equity=7_000.0, daily_anchor=7_000.0)
    assert pre_trade_vetoes("BTCUSDT", account, T0, P) == (Veto.REDUCING, Veto.MAX_DRAWDOWN)


def test_more_veto_and_size_edges():
    tiny = Account(0.25, 0.25, 0.5, 0.25)                       # a peak below 1 is a peak: down 50 %
    assert Veto.MAX_DRAWDOWN in pre_trade_vetoes("BTCUSDT", tiny, T0, P)
    one_minute = replace(P, funding_avoid_min=1)
    assert pre_trade_vetoes("BTCUSDT", ACC, pd.Timestamp("2025-03-03 07:59:30", tz="UTC"), one_minute) == \
        (Veto.FUNDING_WINDOW,)
    held = replace(ACC, positions=(_pos(),))
    assert pre_trade_vetoes("BTCUSDT", held, T0, P, {"ETHUSDT": 0.9}) == (Veto.MAX_POSITIONS, Veto.CORRELATION)
    # an equity below 1 is an equity: it sizes (to nothing), it is not "no equity"
    assert size_position(0.5, 100.0, 2.0, P, CENT).reason is SizeReason.ROUNDS_TO_ZERO
    for s in (size_position(0.0, 100.0, 2.0, P, CENT), size_position(100.0, 100.0, 0.0, P, CENT)):
        assert (s.raw_qty, s.notional, s.risk_amount, s.capped_by) == (0.0, 0.0, 0.0, None)
    # the position cap equal to the value cap: the value cap keeps the name
    tie = size_position(10_000.0, 100.0, 0.01, replace(P, max_position_value_ratio=0.5,
                                                        position_cap=PositionCap(multiple=0.5, min=0, max=1e6)), CENT)
    assert (tie.qty, tie.capped_by) == (Decimal("50"), "max_position_value")
    cap = 10_000.0 * P.max_position_value_ratio * (1 + 1e-9)   # the tolerance itself: not over
    assert order_vetoes(_size(cap), 100.0, ACC, P) == ()
    assert order_vetoes(_size(1_000.0 * (1 + 1.5e-9)), 100.0, ACC, P) == (Veto.MAX_POSITION_VALUE,)


def test_a_decision_reports_only_what_it_checked():
    assert kernel.OUTCOMES[_decide(atr=0.0)[0]] == "size"                 # no volatility: a size reason, no veto
    assert _decide(atr=0.0)[4][6] == kernel.NO_VOLATILITY
    margin = _decide(available=50.0)                                        # 1,000 notional needs 100.5
    assert kernel.OUTCOMES[margin[0]] == "veto" and margin[2] == MARGIN_BIT
    for out in (_decide(direction=0), _decide(proposal=0), _decide(atr=NAN), _decide(pos=kernel.position_state(LONG))):
        assert out[1:4] == (0, 0, False)                                    # no gate, no veto, not sized
