"""The Donchian/ATR bot's documented API, checked against its formulas by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autobot_lib.rules.donchian import DonchianATREngine, RiskManager
from conftest import real


def test_detect_signal_is_the_channel_breakout_on_real_bars():
    frame = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    engine = DonchianATREngine(persist_state=False, initial_state={})
    seen = set()
    for t in range(30, len(frame), 37):
        df = frame.iloc[: t + 1]
        sig = engine.detect_signal(df)
        upper, lower = df["high"].iloc[-21:-1].max(), df["low"].iloc[-21:-1].min()
        close = df["close"].iloc[-1]
        expected = "long" if close > upper else "short" if close < lower else None
        assert sig["signal"] == expected and sig["upper"] == upper and sig["lower"] == lower
        seen.add(expected)
    assert seen == {"long", "short", None}
    json.dumps(sig)  # serialisable


@pytest.mark.parametrize("flags, reason", [
    (dict(is_new_bar=False), "not_new_bar"), (dict(daily_loss_hit=True), "daily_loss_limit"),
    (dict(funding_avoid=True), "funding_window"), (dict(can_reenter=False), "reentry_blocked"),
])
def test_entry_plan_refusals(flags, reason):
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-200:]
    base = dict(is_new_bar=True, can_reenter=True, funding_avoid=False, daily_loss_hit=False)
    plan = DonchianATREngine(initial_state={}).make_entry_plan("BTC/USDT", frame, 20_000, 60_000, 300,
                                                               **{**base, **flags})
    assert (plan["action"], plan["reason"]) == ("skip", reason)


def test_entry_plan_on_a_real_breakout():
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz")
    upper = frame["high"].rolling(20).max().shift(1)
    t = int(np.flatnonzero((frame["close"] > upper).to_numpy())[-1])
    df = frame.iloc[: t + 1]
    price, atr = float(df["close"].iloc[-1]), 400.0
    plan = DonchianATREngine(initial_state={}).make_entry_plan("BTC/USDT", df, 20_000, price, atr, True, True,
                                                               False, False)
    # risk 2.5 % of 20,000 = 500 over 1.2 x 400 = 480 -> 1.0416 BTC; cap clamp(2 x 20,000, 10k, 25k) = 25,000
    expected_qty = min(500 / 480, 25_000 / price)
    assert plan["action"] == "enter" and plan["side"] == "long"
    assert plan["qty"] == pytest.approx(np.floor(expected_qty * 1000) / 1000)
    assert plan["stop"] == pytest.approx(price - 1.2 * 400)


def test_risk_manager_trailing_break_even_pyramiding_and_daily_limit():
    rm = RiskManager()
    assert rm.calc_qty_by_risk(10_000, 100.0, 2.0, 10) == pytest.approx(104.166, abs=1e-3)  # 250 / 2.4, step 0.001
    assert rm.trail_stop_price("long", 100, 110, 2.0, False) == 105.0                         # 110 - 2.5 x 2
    assert rm.trail_stop_price("short", 100, 99, 2.0, True) == 100.0                           # never past entry
    entry = rm.update_symbol_state_on_entry("X", "long", 100.0, qty=10, atr_abs=2.0)
    assert entry["stop"] == pytest.approx(97.6)                                                # 100 - 1.2 x 2
    assert rm.update_after_move("X", 2.0, 100.5) is None                                       # nothing changes
    moved = rm.update_after_move("X", 2.0, 102.5)                                              # +1R (2.4): BE
    assert moved == {"be_promoted": True, "stop": 100.0}
    added = rm.update_after_move("X", 2.0, 104.1)                                              # +2 ATR: add 30 %
    assert added["add_qty"] == pytest.approx(3.0) and added["pyramid_level"] == 1
    assert added["stop"] == pytest.approx(104.1 - 2.4)
    assert rm.reset_daily_anchor(10_000) is True and rm.reset_daily_anchor(9_000) is False
    assert rm.hit_daily_loss_limit(9_450) is False and rm.hit_daily_loss_limit(9_400) is True   # 6 %
    assert rm.reset_daily_anchor(9_400, now="2025-01-02T00:05Z") is True
    assert rm.hit_daily_loss_limit(9_400) is False
    json.dumps(rm.state)
