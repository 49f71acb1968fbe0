"""The control API and its fronts (in-process, HTTP, Telegram, MCP) against a LiveEngine driven on the local
venue with the real ccxt client, one replayed bar at a time (``drive`` from test_live_engine)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from autobot_lib.config import load_settings
from autobot_lib.live.control import Actor, Control, Outcome, Role
from test_live_engine import drive

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
