"""The control API and its fronts (in-process, HTTP, Telegram, MCP) against a LiveEngine driven on the local
venue with the real ccxt client, one replayed bar at a time (``drive`` from test_live_engine)."""

from __future__ import annotations

import asyncio
import os
import sys
from contextlib import contextmanager
from decimal import Decimal

import httpx
import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.live.control import Actor, Control, Outcome, Role
from autobot_lib.live.control_http import ControlServer
from autobot_lib.live.telegram_commands import TelegramCommands
from chat_stand_ins import ChatStandIns
from conftest import REPO, make_trading_venue
from test_live_engine import drive, until

SYMBOL = "BTCUSDT"
OPERATOR = Actor.operator("ana", via="notebook")
VIEWER = Actor.viewer("bob", via="notebook")


def donchian():
    return load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                         donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})


def venue_position(venue) -> Decimal:
    return venue.account.positions[SYMBOL].amount


def open_protection(venue) -> list:
    return [a for a in venue.account.open_algos(SYMBOL)]


def last_market_order(venue):
    return max((o for o in venue.account.orders.values() if o.symbol == SYMBOL and o.type == "MARKET"),
               key=lambda o: o.order_id)


# --- in-process ------------------------------------------------------------------------------------------------

def test_a_manual_close_closes_on_the_venue_and_is_booked_journaled_and_alerted_as_manual_close(trading_venue):
    seen = {}

    async def checks(engine, broker):
        if "result" in seen or not engine.held:
            return
        control = Control(engine)
        amount = venue_position(trading_venue)
        assert amount != 0 and open_protection(trading_venue), "the venue holds the position and its stop"
        seen["amount"] = amount
        seen["denied"] = await control.close(SYMBOL, by=VIEWER)
        seen["unknown"] = await control.close("ETHUSDT", by=OPERATOR)
        seen["result"] = await control.close("btc/usdt:usdt", by=OPERATOR)
        seen["venue_after"] = venue_position(trading_venue)
        seen["protection_after"] = open_protection(trading_venue)
        seen["order"] = last_market_order(trading_venue)
        seen["again"] = await control.close(SYMBOL, by=OPERATOR)
        seen["audit"] = list(control.audit)

    engine = asyncio.run(drive(trading_venue, donchian(), 120, checks))
    assert "result" in seen, "a position opened within 120 bars"
    assert seen["denied"].outcome is Outcome.DENIED and "not authorised" in seen["denied"].message
    assert seen["unknown"].outcome is Outcome.REFUSED and "BTCUSDT" in seen["unknown"].message
    result = seen["result"]
    assert result.ok, result.message
    # the venue: flat, no protective order left, and the close was a reduce-only market order for the whole amount
    assert seen["venue_after"] == 0 and seen["protection_after"] == []
    order = seen["order"]
    assert order.reduce_only and order.status == "FILLED" and order.executed == abs(seen["amount"])
    assert order.side == ("SELL" if seen["amount"] > 0 else "BUY")
    # the books
    manual = [t for t in engine.trades if t.reason == "manual_close"]
    assert len(manual) == 1 and manual[0].exit_price == float(order.avg_price)
    assert Decimal(str(manual[0].qty)) == abs(seen["amount"])
    assert result.data["trade"]["reason"] == "manual_close"
    records = [r for r in engine.journal if r.outcome == "manual_close"]
    assert len(records) == 1 and records[0].exits[0]["reason"] == "manual_close"
    assert records[0].exits[0]["by"] == "notebook:ana"
    assert any(key == "manual_close" and "notebook:ana" in text for key, text in engine.alerts)
    # a second close finds nothing; every command is in the audit, the denial and the refusals included
    assert seen["again"].outcome is Outcome.REFUSED
    assert [(a.command, a.outcome) for a in seen["audit"]] == [
        ("close", "denied"), ("close", "refused"), ("close", "done"), ("close", "refused")]
    assert seen["audit"][0].role == "viewer"



@contextmanager
def another_venue():
    server = make_trading_venue()
    try:
        yield server
    finally:
        server.stop()


def bar_ms(record) -> int:
    return int(pd.Timestamp(record.timestamp).value // 1_000_000)


def test_pause_vetoes_the_next_breakout_while_stops_trail_and_exits_go_on(trading_venue):
    """The same replay with and without a pause taken right after an entry whose stop later trails: until
    that position exits the two runs are the same bar by bar (the same stop moves reach the venue, the
    same exit); the breakout the unpaused run takes next is vetoed as 'reducing'; after resume the bot
    trades again."""
    with another_venue() as venue:
        reference = asyncio.run(drive(venue, donchian(), 200))
    outcomes = [r.outcome for r in reference.journal]
    moves = [k for k, r in enumerate(reference.journal) if any(i["kind"] == "STOP" for i in r.intents)]
    assert moves, "a stop trailed in the reference run"
    entry = max(k for k in range(moves[0]) if outcomes[k] == "order")
    trade = next(t for t in reference.trades if t.opened_ms == bar_ms(reference.journal[entry]))
    exit_bar = next(k for k, r in enumerate(reference.journal) if bar_ms(r) == trade.closed_ms)
    next_entry = outcomes.index("order", exit_bar + 1)
    seen = {}

    async def checks(engine, broker):
        control = seen.setdefault("control", Control(engine))
        k = len(engine.journal) - 1
        if k == entry:
            assert engine.held
            seen["paused"] = await control.pause(OPERATOR)
            seen["state"] = engine.trading_state.value
            seen["pause_again"] = await control.pause(VIEWER)
        if k == next_entry:
            seen["resumed"] = await control.resume(OPERATOR)

    engine = asyncio.run(drive(trading_venue, donchian(), 200, checks))
    assert seen["paused"].ok and seen["state"] == "REDUCING"
    assert seen["pause_again"].outcome is Outcome.DENIED
    paused = [r.outcome for r in engine.journal]
    assert paused[:next_entry] == outcomes[:next_entry]            # exits and stops unchanged by the pause
    assert [r.intents for r in engine.journal][:next_entry] == [r.intents for r in reference.journal][:next_entry]
    same = next(t for t in engine.trades if t.opened_ms == trade.opened_ms)
    assert (same.reason, same.exit_price, same.closed_ms) == (trade.reason, trade.exit_price, trade.closed_ms)
    assert paused[next_entry] == "veto:reducing" and outcomes[next_entry] == "order"
    assert seen["resumed"].ok and engine.trading_state.value == "ACTIVE"
    assert "order" in paused[next_entry + 1:], "trading again after resume"


def test_kill_rearm_set_and_flatten_in_process(trading_venue):
    seen = {}

    async def checks(engine, broker):
        control = seen.setdefault("control", Control(engine))
        k = len(engine.journal)
        if k == 1:
            seen["refused"] = [await control.set_param(name, value, OPERATOR) for name, value in (
                ("donchian.risk_pct", "0.5"), ("RISK_PER_TRADE", "0.005"), ("STOP_ATR_MULTIPLIER", "1"),
                ("donchian.leverage", "500"), ("donchain.risk_pct", "0.01"))]
            seen["viewer"] = await control.set_param("donchian.risk_pct", "0.01", VIEWER)
            seen["risk"] = await control.set_param("DONCHIAN.RISK_PCT", "0.01", OPERATOR)
            seen["leverage"] = await control.set_param("donchian.leverage", "3", OPERATOR)
            seen["venue_leverage"] = trading_venue.account.positions[SYMBOL].leverage
            seen["rearm_untripped"] = await control.rearm(OPERATOR)
            seen["kill"] = await control.kill(OPERATOR)
            seen["killed_state"] = (await control.status(VIEWER)).data["state"]
        elif "kill" in seen and "rearm" not in seen and k > 1:
            seen["halted_outcomes"] = [r.outcome for r in engine.journal][1:]
            if any(o == "veto:halted" for o in seen["halted_outcomes"]):
                seen["rearm"] = await control.rearm(OPERATOR)
        elif "rearm" in seen and engine.held and "flatten" not in seen:
            seen["amount"] = venue_position(trading_venue)
            seen["positions"] = await control.positions(VIEWER)
            seen["flatten"] = await control.flatten(OPERATOR)
            seen["after"] = (venue_position(trading_venue), open_protection(trading_venue))
            seen["metrics"] = await control.metrics(VIEWER)
            seen["journal"] = await control.journal(VIEWER, n=2)
            seen["audit"] = await control.run("audit", VIEWER, n=3)

    engine = asyncio.run(drive(trading_venue, donchian(), 200, checks))
    messages = [r.message for r in seen["refused"]]
    assert all(r.outcome is Outcome.REFUSED for r in seen["refused"]), messages
    assert "allowed: 0 < x <= 0.1" in messages[0]                  # the Settings model's own range
    assert "not read by the donchian strategy" in messages[1]
    assert "cannot be set" in messages[2] and "allowed: 1 <= x <= 125" in messages[3]
    assert "did you mean donchian.risk_pct" in messages[4]
    assert seen["viewer"].outcome is Outcome.DENIED
    assert seen["risk"].ok and seen["risk"].data == {"name": "donchian.risk_pct", "old": 0.025, "new": 0.01}
    assert seen["leverage"].ok and seen["venue_leverage"] == 3
    assert engine.params.risk_per_trade == 0.01 and engine.settings.donchian.leverage == 3
    entry = next(r for r in engine.journal if r.outcome == "order")
    assert entry.size["risk"] == pytest.approx(10_000 * 0.01, rel=1e-6)   # sized at the new risk
    assert seen["rearm_untripped"].outcome is Outcome.REFUSED
    assert seen["kill"].ok and seen["killed_state"] == "HALTED"
    assert "order" not in seen["halted_outcomes"] and "veto:halted" in seen["halted_outcomes"]
    assert seen["rearm"].ok and "re-armed by notebook:ana" in seen["rearm"].message
    assert seen["positions"].data["positions"][0]["symbol"] == SYMBOL
    assert Decimal(str(seen["positions"].data["positions"][0]["qty"])) == abs(seen["amount"])
    assert seen["flatten"].ok and seen["after"] == (0, [])
    assert [t["reason"] for t in seen["flatten"].data["trades"]] == ["manual_close"]
    assert seen["metrics"].data["exit_reasons"].get("manual_close") == 1
    assert seen["journal"].data["records"][-1]["outcome"] == "manual_close"
    assert [e["command"] for e in seen["audit"].data["entries"]] == ["flatten", "metrics", "journal"]
