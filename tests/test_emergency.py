"""The emergency policy (the Donchian config's ``emergency_policy``): what the kill switch does to the open
positions, on the local venue with the real ccxt client, and the flatten metrics it counts."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange.venue.faults import Fault
from autobot_lib.live.emergency import EmergencyPolicy, pnl_pct
from autobot_lib.live.execution import Held
from autobot_lib.live.metrics import BotMetrics
from autobot_lib.model import Position, Side
from test_live_engine import drive, until

SYMBOL = "BTCUSDT"
T0 = pd.Timestamp("2025-03-03 10:00", tz="UTC")


def held(side: Side, entry: float) -> Held:
    return Held(Position(SYMBOL, side, 1.0, entry, entry * 0.97, None, 3.0, 2.0, T0, 1.0))


def test_the_policy_picks_what_to_close_by_pnl_at_the_last_close():
    book = {"A": held(Side.LONG, 100.0), "B": held(Side.SHORT, 100.0), "C": held(Side.LONG, 100.0)}
    marks = {"A": 102.0, "B": 101.0, "C": 100.5}                    # +2 %, -1 %, +0.5 %
    assert pnl_pct(book["A"], 102.0) == pytest.approx(0.02) and pnl_pct(book["B"], 101.0) == pytest.approx(-0.01)
    assert EmergencyPolicy("protect_only").to_close(book, marks) == ([], [])
    assert EmergencyPolicy("flatten").to_close(book, marks) == (["A", "B", "C"], [])
    assert EmergencyPolicy("flatten_profitable", 0.01).to_close(book, marks) == (["A"], ["B", "C"])
    assert EmergencyPolicy("flatten_profitable", 0.0).to_close(book, marks) == (["A", "C"], ["B"])
    assert EmergencyPolicy("flatten_profitable").to_close(book, marks) == (["A", "C"], ["B"])    # default: >= 0
    assert EmergencyPolicy("flatten_profitable", -0.01).to_close(book, marks) == (["A", "B", "C"], [])
    assert EmergencyPolicy("flatten_profitable").to_close(book, {"A": float("nan")}) == ([], ["A", "B", "C"])
    with pytest.raises(ValueError) as refused:
        EmergencyPolicy("panic")
    assert str(refused.value) == "emergency_policy 'panic': one of protect_only, flatten, flatten_profitable"


def settings(policy: str, min_pnl: float = 0.0):
    return load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                         donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0,
                                   "emergency_policy": policy, "emergency_min_pnl_to_close_pct": min_pnl})


def halt_when_held(venue, seen: dict, fault: Fault | None = None):
    """After the first bar that holds a position: metrics on, the kill switch tripped by hand; then wait for
    the policy to have run (the engine's lock free again) and look at the venue."""

    async def checks(engine, broker):
        if "halted" in seen or not engine.held:
            return
        engine.metrics = seen["metrics"] = BotMetrics(account="t", universe=[SYMBOL])
        seen["amount"] = venue.account.positions[SYMBOL].amount
        if fault is not None:
            venue.inject(fault)
        engine.manual.halt("the test")
        seen["halted"] = True
        await until(lambda: engine.guard.task is None or engine.guard.task.done(), "the policy ran")
        seen["held"] = dict(engine.held)
        seen["venue"] = venue.account.positions[SYMBOL].amount
        seen["stops"] = [a for a in venue.account.open_algos(SYMBOL) if a.type == "STOP_MARKET"]

    return checks


def count(metrics: BotMetrics, name: str, reason: str) -> float:
    return metrics.registry.get_sample_value(name, {"account": "t", "reason": reason}) or 0.0


def test_flatten_closes_every_position_at_market_when_the_kill_switch_trips(trading_venue):
    seen: dict = {}
    engine = asyncio.run(drive(trading_venue, settings("flatten"), 120, halt_when_held(trading_venue, seen)))
    assert seen.get("halted"), "a position opened within 120 bars"
    assert seen["amount"] != 0 and seen["venue"] == 0 and not seen["held"] and not seen["stops"]
    closed = [t for t in engine.trades if t.exit_reason == "kill_switch"]
    assert len(closed) == 1 and closed[0].symbol == SYMBOL and closed[0].exit_price > 0
    assert any(k == "kill_switch" and text == "kill switch: halted by the test; entries halted, positions: flatten"
               for k, text in engine.alerts)
    assert count(seen["metrics"], "flatten_failures_total", "order_error") == 0
    # halted: no entry after it
    after = [r for r in engine.journal if pd.Timestamp(r.timestamp) > closed[0].exit_time]
    assert after and all(r.outcome != "order" for r in after)


def test_protect_only_keeps_the_position_with_its_stop(trading_venue):
    seen: dict = {}
    engine = asyncio.run(drive(trading_venue, settings("protect_only"), 120, halt_when_held(trading_venue, seen)))
    assert seen.get("halted"), "a position opened within 120 bars"
    assert seen["venue"] == seen["amount"] != 0 and SYMBOL in seen["held"] and len(seen["stops"]) == 1
    assert not [t for t in engine.trades if t.exit_reason == "kill_switch"]
    assert any(k == "kill_switch" and text.endswith("entries halted, stops kept") for k, text in engine.alerts)


def test_flatten_profitable_keeps_what_is_not_profitable_enough(trading_venue):
    seen: dict = {}
    # 100 % of the entry value: no position is that profitable, so it is kept with its stop and counted
    engine = asyncio.run(drive(trading_venue, settings("flatten_profitable", 1.0), 120,
                               halt_when_held(trading_venue, seen)))
    assert seen.get("halted"), "a position opened within 120 bars"
    assert seen["venue"] == seen["amount"] != 0 and SYMBOL in seen["held"] and len(seen["stops"]) == 1
    assert count(seen["metrics"], "flatten_partial_total", "not_profitable") == 1
    assert any(k == "emergency_kept" and SYMBOL in text for k, text in engine.alerts)


def test_flatten_profitable_closes_what_is_profitable_enough(trading_venue):
    seen: dict = {}
    # -100 %: every position qualifies
    engine = asyncio.run(drive(trading_venue, settings("flatten_profitable", -1.0), 120,
                               halt_when_held(trading_venue, seen)))
    assert seen.get("halted") and seen["venue"] == 0 and not seen["held"]
    assert [t.exit_reason for t in engine.trades].count("kill_switch") == 1
    assert count(seen["metrics"], "flatten_partial_total", "not_profitable") == 0


def test_a_close_the_exchange_refuses_leaves_the_position_protected_and_is_counted(trading_venue):
    seen: dict = {}
    refused = Fault("-2019", path="/fapi/v1/order", method="POST", count=1)
    engine = asyncio.run(drive(trading_venue, settings("flatten"), 120, halt_when_held(trading_venue, seen, refused)))
    assert seen.get("halted"), "a position opened within 120 bars"
    assert seen["venue"] == seen["amount"] != 0 and SYMBOL in seen["held"] and len(seen["stops"]) == 1
    assert count(seen["metrics"], "flatten_failures_total", "order_error") == 1
    assert any(k == "emergency_close_failed" and SYMBOL in text for k, text in engine.alerts)


def test_apply_closes_what_the_policy_says_counts_what_it_keeps_and_what_failed():
    from autobot_lib.exchange.ports import BrokerError, ErrorPolicy

    book = {"A": held(Side.LONG, 100.0), "B": held(Side.SHORT, 100.0), "C": held(Side.LONG, 100.0)}
    marks = {"A": 102.0, "B": 101.0, "C": 100.5}
    failures = {"A": BrokerError("refused", ErrorPolicy.VETO, -2019), "C": BrokerError("timed out", ErrorPolicy.RETRY)}
    asked, alerts = [], []

    async def close(symbol):
        asked.append(symbol)
        if symbol in failures:
            raise failures[symbol]

    metrics = BotMetrics(account="t", universe=[SYMBOL])
    policy = EmergencyPolicy("flatten")
    closed = asyncio.run(policy.apply(book, marks, close, metrics, lambda k, t: alerts.append((k, t))))
    assert asked == ["A", "B", "C"] and closed == ["B"]              # a failure never stops the others
    assert count(metrics, "flatten_failures_total", "order_error") == 1
    assert count(metrics, "flatten_failures_total", "no_response") == 1
    assert count(metrics, "flatten_partial_total", "no_response") == 1
    assert count(metrics, "flatten_partial_total", "not_profitable") == 0
    assert alerts == [("emergency_close_failed", "kill switch (flatten): A not closed (refused); it stays with its "
                                                 "protective stop"),
                      ("emergency_close_failed", "kill switch (flatten): C not closed (timed out); it stays with "
                                                 "its protective stop")]

    asked.clear(), alerts.clear()
    metrics = BotMetrics(account="t", universe=[SYMBOL])
    closed = asyncio.run(EmergencyPolicy("flatten_profitable", 0.01).apply(
        book, marks, close, metrics, lambda k, t: alerts.append((k, t))))
    assert asked == ["A"] and closed == [] and count(metrics, "flatten_partial_total", "not_profitable") == 2
    assert alerts[0] == ("emergency_kept", "kill switch (flatten_profitable): kept with their stops, PnL under 1.00%: "
                                           "B, C")
    # protect_only sends nothing and says nothing more than the trip's own alert; no metrics is fine
    asked.clear(), alerts.clear()
    assert asyncio.run(EmergencyPolicy().apply(book, marks, close)) == [] and asked == [] and alerts == []
    assert asyncio.run(EmergencyPolicy("flatten").apply({"B": book["B"]}, marks, close)) == ["B"]


def test_pnl_without_a_price_is_unknown():
    assert pnl_pct(held(Side.LONG, 100.0), 0.0) != pnl_pct(held(Side.LONG, 100.0), 0.0)       # NaN
    assert pnl_pct(held(Side.LONG, 0.0), 100.0) != pnl_pct(held(Side.LONG, 0.0), 100.0)
    assert pnl_pct(held(Side.LONG, 100.0), 100.0) == 0.0
    assert pnl_pct(held(Side.LONG, 0.5), 1.0) == 1.0 and pnl_pct(held(Side.SHORT, 100.0), 0.5) == 0.995
