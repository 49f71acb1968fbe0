"""Risk scenario tables: one row per situation, expected values worked out by hand in the row."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pandas as pd
import pytest

from autobot_lib.config import PositionCap
from autobot_lib.model import Account, Bar, ExitReason, MarketFilters, Position, Side, TradingState
from autobot_lib.risk import kernel
from autobot_lib.risk import (
    GateReason, RiskParams, SizeReason, Veto, entry_gate, manage_position, minutes_to_funding, order_vetoes,
    pre_trade_vetoes, round_down, size_position, trail_stop_price,
)

P = RiskParams()
T0 = pd.Timestamp("2025-03-03 10:00", tz="UTC")
BTC = MarketFilters.of("0.10", "0.001", "0.001", "100")


# --- the ADX gate ---------------------------------------------------------------------------------

@pytest.mark.parametrize("side, adx, adx_prev, regime, age, params, expected", [
    (Side.LONG, 30, 29, "BULL_TREND", 5, P, ()),
    (Side.LONG, 20, 19, "BULL_TREND", 5, P, (GateReason.ADX_TOO_LOW,)),
    (Side.LONG, 55, 60, "BULL_TREND", 5, P, (GateReason.ADX_FALLING,)),        # fell 8.3 % from above 50
    (Side.LONG, 58, 60, "BULL_TREND", 5, P, ()),                               # fell 3.3 %: allowed
    (Side.LONG, 40, 45, "BULL_TREND", 5, P, ()),                               # fell 11 %, but from below 50
    (Side.LONG, 30, 29, "BULL_TREND", 2, P, (GateReason.TREND_UNSTABLE,)),
    (Side.LONG, 30, 29, "RANGE", 5, P, (GateReason.RANGE_REGIME,)),
    (Side.LONG, 30, 29, "BEAR_TREND", 5, P, (GateReason.AGAINST_REGIME,)),
    (Side.SHORT, 30, 29, "BULL_TREND", 5, P, (GateReason.AGAINST_REGIME,)),
    (Side.SHORT, 30, 29, "BEAR_TREND", 5, replace(P, allow_short=False), (GateReason.SHORT_DISABLED,)),
    (Side.LONG, 30, 29, "BULL_TREND", 5, replace(P, allow_long=False), (GateReason.LONG_DISABLED,)),
    (Side.LONG, 10, 9, "BULL_TREND", 5, replace(P, adx_chop_filter=False), ()),
    (Side.LONG, 30, 29, "RANGE", 5, replace(P, block_range_entries=False), ()),
    (Side.LONG, float("nan"), float("nan"), None, 0, P, (GateReason.NO_REGIME,)),
    (Side.LONG, 10, 9, "RANGE", 1, replace(P, use_adx_gate=False), ()),       # the Donchian strategy
    (Side.SHORT, 15, 14, "RANGE", 1, P, (GateReason.RANGE_REGIME, GateReason.ADX_TOO_LOW, GateReason.TREND_UNSTABLE)),
])
def test_gate(side, adx, adx_prev, regime, age, params, expected):
    assert entry_gate(side, adx, adx_prev, regime, age, params) == expected


# --- vetoes ---------------------------------------------------------------------------------------

def _pos(symbol: str = "ETHUSDT", side: Side = Side.LONG) -> Position:
    return Position(symbol, side, 1.0, 2000.0, 1970.0, 2060.0, 30.0, 20.0, T0, 1.0)


ACCOUNT = Account(equity=10_000, available=10_000, peak_equity=10_000, daily_anchor=10_000)


@pytest.mark.parametrize("account, now, correlations, params, expected", [
    (ACCOUNT, T0, {}, P, ()),
    (replace(ACCOUNT, state=TradingState.HALTED), T0, {}, P, (Veto.HALTED,)),
    (replace(ACCOUNT, state=TradingState.REDUCING), T0, {}, P, (Veto.REDUCING,)),
    (replace(ACCOUNT, positions=(_pos(),)), T0, {}, P, (Veto.MAX_POSITIONS,)),
    (replace(ACCOUNT, positions=(_pos("BTCUSDT"),)), T0, {}, P, (Veto.ALREADY_IN_POSITION, Veto.MAX_POSITIONS)),
    (replace(ACCOUNT, equity=8_990, peak_equity=10_000, daily_anchor=8_990), T0, {}, P, (Veto.MAX_DRAWDOWN,)),
    (replace(ACCOUNT, equity=9_100, peak_equity=10_000, daily_anchor=9_600), T0, {}, P, ()),   # 5.2 % < 6 %
    (replace(ACCOUNT, equity=9_000, peak_equity=9_500, daily_anchor=9_600), T0, {}, replace(P, max_drawdown=0.2),
     (Veto.DAILY_LOSS_LIMIT,)),                                                                  # 6.25 % >= 6 %
    (ACCOUNT, pd.Timestamp("2025-03-03 07:56", tz="UTC"), {}, P, (Veto.FUNDING_WINDOW,)),       # 4 min to 08:00
    (ACCOUNT, pd.Timestamp("2025-03-03 07:54", tz="UTC"), {}, P, ()),                           # 6 min
    (ACCOUNT, pd.Timestamp("2025-03-03 23:58", tz="UTC"), {}, P, (Veto.FUNDING_WINDOW,)),       # midnight funding
    (replace(ACCOUNT, positions=(_pos(),)), T0, {"ETHUSDT": 0.92}, replace(P, max_positions=3), (Veto.CORRELATION,)),
    (replace(ACCOUNT, positions=(_pos(),)), T0, {"ETHUSDT": 0.5}, replace(P, max_positions=3), ()),
    (ACCOUNT, T0, {"SOLUSDT": 0.99}, P, ()),                                                    # not held
])
def test_pre_trade_vetoes(account, now, correlations, params, expected):
    assert pre_trade_vetoes("BTCUSDT", account, now, params, correlations) == expected


@pytest.mark.parametrize("now, minutes", [
    ("2025-01-01 00:00", 480), ("2025-01-01 07:30", 30), ("2025-01-01 15:59:30", 0.5), ("2025-01-01 16:01", 479),
])
def test_minutes_to_funding(now, minutes):
    assert minutes_to_funding(pd.Timestamp(now, tz="UTC")) == pytest.approx(minutes)


# --- sizing ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("equity, price, atr, params, filters, qty, reason, capped_by", [
    # 1 % of 10,000 over 1.5 x 100 = 0.6667 BTC = 40,000 USDT > 10 % of equity: capped to 1,000 / 60,000
    (10_000, 60_000, 100, P, BTC, Decimal("0.016"), None, "max_position_value"),
    # uncapped: risk 100 over 1.5 x 2,000 = 0.0333 -> 0.033 (toward zero), notional 1,980 < 1,000,000 cap
    (10_000, 60_000, 2_000, replace(P, max_position_value_ratio=100), BTC, Decimal("0.033"), None, None),
    # leverage binds before the value cap
    (10_000, 60_000, 100, replace(P, max_position_value_ratio=100, leverage=2), BTC, Decimal("0.333"), None,
     "leverage"),
    # Donchian position_cap: clamp(2 x 10,000, 10,000, 25,000) = 20,000 -> 0.3333
    (10_000, 60_000, 100, replace(P, max_position_value_ratio=100, position_cap=PositionCap()), BTC,
     Decimal("0.333"), None, "position_cap"),
    (100, 60_000, 100, P, BTC, Decimal("0"), SizeReason.ROUNDS_TO_ZERO, "max_position_value"),   # 10 USDT cap
    # cap 100 USDT -> 0.0016 (step 0.0001), under a 0.002 minimum quantity
    (1_000, 60_000, 100, P, MarketFilters.of("0.1", "0.0001", "0.002", "5"), Decimal("0.0016"),
     SizeReason.BELOW_MIN_QTY, "max_position_value"),
    # cap 100 USDT -> 0.001 BTC = 60 USDT, under BTCUSDT's 100 USDT minimum notional
    (1_000, 60_000, 100, P, BTC, Decimal("0.001"), SizeReason.BELOW_MIN_NOTIONAL, "max_position_value"),
    (10_000, 60_000, 0.0, P, BTC, Decimal("0"), SizeReason.NO_VOLATILITY, None),
    (10_000, 60_000, float("nan"), P, BTC, Decimal("0"), SizeReason.NO_VOLATILITY, None),
    (0, 60_000, 100, P, BTC, Decimal("0"), SizeReason.NO_EQUITY, None),
])
def test_sizing(equity, price, atr, params, filters, qty, reason, capped_by):
    size = size_position(equity, price, atr, params, filters)
    assert (size.qty, size.reason, size.capped_by) == (qty, reason, capped_by)


@pytest.mark.parametrize("value, step, expected", [
    (0.3, "0.1", "0.3"), (0.1 + 0.2, "0.1", "0.3"), (0.29999999, "0.1", "0.2"), (1.0, "0.001", "1"),
    (0.0009999, "0.001", "0"), (123.456789, "0.01", "123.45"), (5, "1", "5"), (7.9, "2", "6"),
])
def test_rounding_toward_zero_with_decimal(value, step, expected):
    assert round_down(value, Decimal(step)) == Decimal(expected)


def test_order_vetoes():
    size = size_position(10_000, 60_000, 100, P, BTC)
    assert order_vetoes(size, 60_000, ACCOUNT, P) == ()
    assert order_vetoes(size, 60_000, replace(ACCOUNT, available=50), P) == (Veto.INSUFFICIENT_MARGIN,)
    tiny = replace(size, notional=4.0)
    assert order_vetoes(tiny, 60_000, ACCOUNT, P) == (Veto.MIN_NOTIONAL,)
    big = replace(size, notional=5_000.0)
    assert order_vetoes(big, 60_000, ACCOUNT, P) == (Veto.MAX_POSITION_VALUE,)


# --- exits ----------------------------------------------------------------------------------------

LONG = Position("BTCUSDT", Side.LONG, 1.0, 100.0, 97.0, 106.0, 3.0, 2.0, T0, 1.0)   # 1R = 3, TP at 2R
SHORT = Position("BTCUSDT", Side.SHORT, 1.0, 100.0, 103.0, 94.0, 3.0, 2.0, T0, 1.0)


def bar(o, h, l, c):
    return Bar(T0, o, h, l, c)


@pytest.mark.parametrize("pos, b, regime, params, reason, price", [
    (LONG, bar(99, 100, 96.5, 98), "BULL_TREND", P, ExitReason.STOP_LOSS, 97.0),
    (LONG, bar(95, 96, 94, 95), "BULL_TREND", P, ExitReason.STOP_LOSS, 95.0),          # gapped through: the open
    (LONG, bar(101, 107, 100, 105), "BULL_TREND", P, ExitReason.TAKE_PROFIT, 106.0),
    (LONG, bar(107, 108, 106, 107), "BULL_TREND", P, ExitReason.TAKE_PROFIT, 107.0),    # gapped over: the open
    (LONG, bar(100, 107, 96, 101), "BULL_TREND", P, ExitReason.STOP_LOSS, 97.0),        # both: the stop (pessimistic)
    (LONG, bar(100, 101, 99, 100), "BEAR_TREND", P, ExitReason.REGIME_CHANGE, "next open"),
    (LONG, bar(100, 101, 99, 100), "RANGE", P, None, None),                             # RANGE is not against
    (SHORT, bar(101, 103.5, 99, 102), "BEAR_TREND", P, ExitReason.STOP_LOSS, 103.0),
    (SHORT, bar(99, 100, 93, 95), "BEAR_TREND", P, ExitReason.TAKE_PROFIT, 94.0),
    (SHORT, bar(100, 101, 99, 100), "BULL_TREND", P, ExitReason.REGIME_CHANGE, "next open"),
    (replace(LONG, bars_held=167), bar(100, 101, 99, 100), "BULL_TREND", P, ExitReason.MAX_HOLDING_TIME,
     "next open"),
    (replace(LONG, bars_held=500), bar(100, 101, 99, 100), "BULL_TREND", replace(P, max_holding_bars=0), None, None),
    (replace(LONG, stop=100.0, be_promoted=True), bar(100.5, 101, 99.5, 100), "BULL_TREND", P,
     ExitReason.BREAK_EVEN_STOP, 100.0),
    (replace(LONG, stop=99.0), bar(100.5, 101, 98.5, 100), "BULL_TREND", P, ExitReason.TRAILING_STOP, 99.0),
])
def test_exit_table(pos, b, regime, params, reason, price):
    step = manage_position(pos, b, 2.0, regime, params)
    if reason is None:
        assert step.position is not None and not step.exits and step.close_reason is None
    elif price == "next open":  # decided at the close, sent as a market order, filled at the next open
        assert step.position is not None and not step.exits and step.close_reason is reason
    else:
        assert step.position is None and [(e.reason, e.price, e.qty) for e in step.exits] == [(reason, price, 1.0)]


def test_break_even_then_trailing_only_tightens():
    p = replace(P, take_profit_r=None)
    pos = replace(LONG, take_profit=None)
    s1 = manage_position(pos, bar(100, 103.5, 100, 103), 2.0, "BULL_TREND", p)   # +1.17R: break-even
    assert s1.position.be_promoted and s1.position.stop == 100.0                    # trail 103 - 5 = 98 < entry
    s2 = manage_position(s1.position, bar(103, 108, 103, 108), 2.0, "BULL_TREND", p)
    assert s2.position.stop == 108 - 2.5 * 2.0                                     # 103: trailing took over
    s3 = manage_position(s2.position, bar(108, 108, 104, 105), 2.0, "BULL_TREND", p)
    assert s3.position.stop == 103.0 and not s3.stop_moved                         # never loosens
    assert trail_stop_price(Side.SHORT, 100.0, 90.0, 2.0, True, 2.5) == 95.0
    assert trail_stop_price(Side.SHORT, 100.0, 99.0, 2.0, True, 2.5) == 100.0      # never worse than entry


def test_take_profit_ladder():
    p = replace(P, tp_ladder=((1.0, 0.5), (2.0, 0.5)))
    s1 = manage_position(LONG, bar(100, 103.2, 99.5, 103), 2.0, "BULL_TREND", p)   # 1R = 103
    assert [(e.reason, e.qty, e.price) for e in s1.exits] == [(ExitReason.TP_LADDER, 0.5, 103.0)]
    assert s1.position.qty == 0.5 and s1.position.ladder_steps == 1
    s2 = manage_position(s1.position, bar(104, 106.5, 104, 106), 2.0, "BULL_TREND", p)
    assert s2.position is None and [(e.qty, e.price) for e in s2.exits] == [(0.5, 106.0)]


def test_pyramiding_steps_raise_the_stop():
    p = replace(P, pyramiding=True, take_profit_r=None, trail_atr_k=10.0, break_even_r=0)
    pos = replace(LONG, take_profit=None)                          # entry 100, ATR at entry 2
    s1 = manage_position(pos, bar(100, 103, 100, 102), 2.0, "BULL_TREND", p)
    assert not s1.adds                                              # +2 ATR is 104
    s2 = manage_position(s1.position, bar(102, 104.5, 102, 104.2), 2.0, "BULL_TREND", p)
    assert [(a.qty, a.price, a.level) for a in s2.adds] == [(0.3, 104.2, 1)]
    assert s2.position.qty == pytest.approx(1.3) and s2.position.stop == pytest.approx(104.2 - 1.5 * 2.0)
    # the add is a market order sent now, filled at the next open: its fill sets the average entry
    assert s2.position.entry_price == 100.0
    s3 = manage_position(s2.position, bar(104, 106.5, 104, 106.1), 2.0, "BULL_TREND", p)
    assert [(a.qty, a.level) for a in s3.adds] == [(0.2, 2)] and s3.position.qty == pytest.approx(1.5)
    assert s3.position.stop == pytest.approx(106.1 - 3.0)
    s4 = manage_position(s3.position, bar(106, 110, 106, 109), 2.0, "BULL_TREND", p)
    assert not s4.adds and s4.position.pyramid_steps == 2          # only the configured levels
    poor = manage_position(s1.position, bar(102, 104.5, 102, 104.2), 2.0, "BULL_TREND", p, available=1.0)
    assert not poor.adds and poor.position.pyramid_steps == 0      # no margin for it: the add waits
    assert poor.position.qty == 1.0
    for state in (kernel.REDUCING, kernel.HALTED):                 # an add is new risk: none unless ACTIVE
        held = manage_position(s1.position, bar(102, 104.5, 102, 104.2), 2.0, "BULL_TREND", p, state=state)
        assert not held.adds and held.position.pyramid_steps == 0 and (held.position.qty, held.position.stop) == (1.0, 97.0)


@pytest.mark.parametrize("sign, bar_, ended, fill, expected", [
    (1, (100, 110, 95, 105), 0, 0.0, (10, -5)),          # held through: the whole bar
    (-1, (100, 110, 95, 105), 0, 0.0, (5, -10)),
    (1, (100, 110, 95, 105), 1, 97.0, (0, -3)),          # stopped on the way down: the open was its best
    (1, (96, 110, 90, 105), 1, 96.0, (-4, -4)),          # opened through the stop
    (1, (100, 110, 95, 105), 2, 108.0, (8, -5)),         # a target after the adverse leg
    (1, (109, 110, 95, 105), 2, 109.0, (9, 9)),          # opened through the target: nothing after it
    (-1, (100, 110, 95, 105), 2, 97.0, (3, -10)),
])
def test_a_bar_that_ends_a_trade_counts_its_excursions_up_to_the_fill(sign, bar_, ended, fill, expected):
    o, h, l, _ = bar_
    assert kernel.bar_excursions(sign, 100.0, o, h, l, ended, fill) == expected


def test_ladder_levels_are_whole_steps_and_targets_on_the_tick_grid():
    """A ladder level closes its share of the first quantity in whole steps; its trigger is on the tick grid,
    rounded toward the market (a long's down), as the exchange's take-profit order stands."""
    p = replace(P, tp_ladder=((1.0, 0.5), (2.0, 0.5)))
    pos = replace(LONG, qty=0.011, initial_qty=0.011, entry_price=100.003, first_entry_price=100.003,
                  risk_per_unit=3.0071, stop=97.0)
    s1 = manage_position(pos, bar(100, 103.02, 99.5, 103), 2.0, "BULL_TREND", p)   # 1R: 103.0101 -> 103.01
    assert [(e.reason, e.qty, e.price) for e in s1.exits] == [(ExitReason.TP_LADDER, 0.005, 103.01)]
    assert s1.position.qty == 0.006 and s1.position.ladder_steps == 1
    short = replace(pos, side=Side.SHORT, stop=103.0)
    s2 = manage_position(short, bar(100, 100.5, 96.99, 97), 2.0, "BEAR_TREND", p)   # 1R: 96.9959 -> 97.00
    assert [(e.qty, e.price) for e in s2.exits] == [(0.005, 97.0)]


def test_stops_are_rounded_toward_the_market():
    p = replace(P, take_profit_r=None, break_even_r=0, trail_atr_k=1.0)
    pos = replace(LONG, take_profit=None, stop=95.0)
    s1 = manage_position(pos, bar(100, 101, 100, 100.005), 2.0, "BULL_TREND", p)    # trail 98.005 -> 98.01
    assert s1.position.stop == 98.01
    short = replace(SHORT, take_profit=None, stop=105.0)
    s2 = manage_position(short, bar(100, 100, 99, 99.995), 2.0, "BEAR_TREND", p)    # trail 101.995 -> 101.99
    assert s2.position.stop == 101.99


def test_return_correlations_on_real_closes():
    from autobot_lib.risk import return_correlations
    from conftest import real

    closes = pd.concat({s: real(f"binance_usdm_{s}_1h.csv.gz")["close"] for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")},
                       axis=1).dropna().iloc[-2000:]
    corr = return_correlations(closes, "BTCUSDT", window=500)
    r = closes.iloc[-501:].pct_change().iloc[1:]
    assert corr["ETHUSDT"] == pytest.approx(float(r["BTCUSDT"].corr(r["ETHUSDT"])))
    assert 0.5 < corr["ETHUSDT"] < 1.0 and set(corr) == {"ETHUSDT", "SOLUSDT"}


def test_exit_channel_turtle_20_10():
    p = replace(P, take_profit_r=None, max_holding_bars=0)
    inside = manage_position(LONG, bar(100, 101, 99, 100), 2.0, "BULL_TREND", p, exit_channel=(104.0, 98.5))
    assert inside.close_reason is None
    broke = manage_position(LONG, bar(100, 101, 97.5, 98.0), 2.0, "BULL_TREND", replace(p, stop_atr_k=100),
                            exit_channel=(104.0, 98.5))
    assert broke.close_reason is ExitReason.EXIT_CHANNEL     # close 98 < the 10-bar low 98.5
    short = manage_position(SHORT, bar(100, 102.5, 99, 102), 2.0, "BEAR_TREND", p, exit_channel=(101.0, 95.0))
    assert short.close_reason is ExitReason.EXIT_CHANNEL
