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
    manual = [t for t in engine.trades if t.exit_reason == "manual_close"]
    assert len(manual) == 1 and manual[0].exit_price == float(order.avg_price)
    assert Decimal(str(manual[0].qty)) == abs(seen["amount"])
    assert result.data["trade"]["exit_reason"] == "manual_close"
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


def decided_bar_ms(trade, *, exit: bool) -> int:
    """The open time of the bar whose close decided a trade's entry (or exit): a market order fills at the
    next open; a stop or target fills inside the bar that books it."""
    hour = 3_600_000
    if not exit:
        return int(trade.entry_time.value // 1_000_000) - hour
    at = int(trade.exit_time.value // 1_000_000)
    inside = trade.exit_reason in ("stop_loss", "trailing_stop", "break_even_stop", "take_profit", "tp_ladder")
    return at // hour * hour if inside else at - hour


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
    trade = next(t for t in reference.trades if decided_bar_ms(t, exit=False) == bar_ms(reference.journal[entry]))
    exit_bar = next(k for k, r in enumerate(reference.journal) if bar_ms(r) == decided_bar_ms(trade, exit=True))
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
    same = next(t for t in engine.trades if t.entry_time == trade.entry_time)
    assert (same.exit_reason, same.exit_price, same.exit_time) == (trade.exit_reason, trade.exit_price, trade.exit_time)
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
    assert [t["exit_reason"] for t in seen["flatten"].data["trades"]] == ["manual_close"]
    assert seen["metrics"].data["exit_reasons"].get("manual_close") == 1
    assert seen["journal"].data["records"][-1]["outcome"] == "manual_close"
    assert [e["command"] for e in seen["audit"].data["entries"]] == ["flatten", "metrics", "journal"]


# --- HTTP ----------------------------------------------------------------------------------------------------

def test_the_http_front_authorises_by_token_and_answers_every_command(trading_venue):
    token, read_token = "operator-token-123", "viewer-token-456"
    seen = {}

    async def checks(engine, broker):
        if "done" in seen or not engine.held:
            return
        control = Control(engine)
        server = await ControlServer(control, token, read_token=read_token).start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as http:
                def auth(t, who="tester"):
                    return {"Authorization": f"Bearer {t}", "X-Actor": who}
                seen["no_token"] = await http.get("/v1/status")
                seen["wrong"] = await http.post("/v1/kill", json={}, headers=auth("nope"))
                seen["view"] = await http.get("/v1/status", headers=auth(read_token))
                seen["view_pause"] = await http.post("/v1/pause", json={}, headers=auth(read_token))
                seen["get_pause"] = await http.get("/v1/pause", headers=auth(token))
                seen["positions"] = await http.get("/v1/positions", headers=auth(read_token))
                seen["journal"] = await http.get("/v1/journal", params={"n": 2}, headers=auth(read_token))
                seen["range"] = await http.post("/v1/set", json={"name": "MAX_POSITIONS", "value": 0},
                                                headers=auth(token))
                seen["set"] = await http.post("/v1/set", json={"name": "MAX_POSITIONS", "value": 2},
                                              headers=auth(token))
                seen["pause"] = await http.post("/v1/pause", json={}, headers=auth(token, "ops"))
                seen["resume"] = await http.post("/v1/resume", json={}, headers=auth(token, "ops"))
                seen["kill"] = await http.post("/v1/kill", json={}, headers=auth(token, "ops"))
                seen["rearm"] = await http.post("/v1/rearm", json={}, headers=auth(token, "ops"))
                seen["close"] = await http.post("/v1/close", json={"symbol": SYMBOL, "by": "someone-else"},
                                                headers=auth(token, "ops"))
                seen["flat"] = venue_position(trading_venue)
                seen["flatten"] = await http.post("/v1/flatten", json={}, headers=auth(token, "ops"))
                seen["bogus"] = await http.post("/v1/selfdestruct", json={}, headers=auth(token))
        finally:
            await server.stop()
        seen["audit"] = list(control.audit)
        seen["done"] = True

    engine = asyncio.run(drive(trading_venue, donchian(), 120, checks))
    assert seen.get("done"), "a position opened within 120 bars"
    assert seen["no_token"].status_code == 401 and seen["wrong"].status_code == 401
    assert "status" not in seen["no_token"].json()["data"]                # a denial carries no data
    assert seen["view"].status_code == 200 and seen["view"].json()["data"]["state"] == "ACTIVE"
    assert seen["view_pause"].status_code == 403 and seen["get_pause"].status_code == 405
    assert seen["positions"].json()["data"]["positions"][0]["symbol"] == SYMBOL
    assert len(seen["journal"].json()["data"]["records"]) == 2
    assert seen["range"].status_code == 400 and "allowed: 1 <= x <= 100" in seen["range"].json()["message"]
    assert seen["set"].status_code == 200 and engine.params.max_positions == 2
    for name in ("pause", "resume", "kill", "rearm", "close", "flatten"):
        assert seen[name].status_code == 200 and seen[name].json()["ok"], (name, seen[name].json())
    assert seen["flat"] == 0 and [t.exit_reason for t in engine.trades].count("manual_close") == 1
    assert seen["bogus"].status_code == 400 and "unknown command" in seen["bogus"].json()["message"]
    audit = seen["audit"]
    assert (audit[0].actor, audit[0].role, audit[0].outcome) == ("http:unnamed", "none", "denied")
    assert (audit[1].command, audit[1].outcome) == ("kill", "denied")
    close = next(a for a in audit if a.command == "close")
    assert close.actor == "http:ops" and close.args == {"symbol": SYMBOL}   # who comes from the token, not the body
    assert "operator-token-123" not in repr(audit) and "viewer-token-456" not in repr(audit)


# --- Telegram ------------------------------------------------------------------------------------------------

CHAT, STRANGER = 111_222, 999_888


@pytest.fixture
def stand_ins():
    servers = ChatStandIns().start()
    yield servers
    servers.stop()


def test_telegram_commands_from_the_configured_chat_only_with_confirmation_for_destructive_ones(trading_venue,
                                                                                               stand_ins):
    token = "123456:telegram-test-token"
    seen = {}

    def replies():
        return [r for r in stand_ins.telegram if r.path.endswith("/sendMessage")]

    async def say(chat, text, expect_reply=True):
        before = len(replies())
        stand_ins.say(chat, text)
        if expect_reply:
            await until(lambda: len(replies()) > before, f"a reply to {text}")
            return replies()[-1].payload["text"]

    async def checks(engine, broker):
        if "done" in seen or not engine.held:
            return
        control = Control(engine)
        bot = TelegramCommands(control, token, str(CHAT), base_url=stand_ins.telegram_url, poll_timeout=1)
        task = asyncio.create_task(bot.run())
        try:
            await say(STRANGER, "/status", expect_reply=False)
            await say(STRANGER, "/close BTCUSDT confirm", expect_reply=False)
            seen["status"] = await say(CHAT, "/status")            # answered after the stranger's two
            seen["stranger_audit"] = [(a.actor, a.command, a.outcome) for a in control.audit][:2]
            seen["held_after_stranger"] = venue_position(trading_venue)
            seen["positions"] = await say(CHAT, "/positions")
            seen["ask"] = await say(CHAT, "/close btcusdt")
            seen["held_after_ask"] = venue_position(trading_venue)
            seen["range"] = await say(CHAT, "/set donchian.risk_pct 0.5")
            seen["set"] = await say(CHAT, "/set ALLOW_SHORT false")
            seen["close"] = await say(CHAT, "/close btcusdt confirm")
            seen["flat"] = (venue_position(trading_venue), open_protection(trading_venue))
            seen["kill_ask"] = await say(CHAT, "/kill")
            seen["pause"] = await say(CHAT, "/pause")
            seen["resume"] = await say(CHAT, "/resume")
            seen["kill"] = await say(CHAT, "/kill confirm")
            seen["rearm"] = await say(CHAT, "/rearm")
            seen["flatten"] = await say(CHAT, "/flatten confirm")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        seen["done"] = True

    engine = asyncio.run(drive(trading_venue, donchian(), 120, checks))
    assert seen.get("done"), "a position opened within 120 bars"
    assert seen["stranger_audit"] == [("telegram:ana in chat 999888", "status", "denied"),
                                      ("telegram:ana in chat 999888", "close", "denied")]
    assert seen["held_after_stranger"] != 0
    assert {int(r.payload["chat_id"]) for r in replies()} == {CHAT}      # nothing ever went to the stranger
    assert seen["status"].startswith("OK: ACTIVE")
    assert "BTCUSDT" in seen["positions"]
    assert "confirm" in seen["ask"] and seen["held_after_ask"] != 0
    assert seen["range"].startswith("NOT DONE") and "allowed: 0 < x <= 0.1" in seen["range"]
    assert seen["set"].startswith("OK") and engine.settings.ALLOW_SHORT is False
    assert seen["close"].startswith("OK") and "manual_close" in seen["close"] and seen["flat"] == (0, [])
    assert [t.exit_reason for t in engine.trades].count("manual_close") == 1
    assert any(r.outcome == "manual_close" and r.exits[0]["by"] == "telegram:ana" for r in engine.journal)
    assert "confirm" in seen["kill_ask"]
    for name in ("pause", "resume", "kill", "rearm", "flatten"):
        assert seen[name].startswith("OK"), (name, seen[name])


# --- MCP -----------------------------------------------------------------------------------------------------

def test_the_mcp_server_inspects_and_controls_the_bot_over_stdio(trading_venue):
    from mcp import Client, StdioServerParameters

    token = "mcp-test-token-789"
    seen = {}

    async def checks(engine, broker):
        if "done" in seen or not engine.held:
            return
        control = Control(engine)
        server = await ControlServer(control, token).start()
        params = StdioServerParameters(command=sys.executable, args=[str(REPO / "tools" / "mcp_server.py")], cwd=REPO,
                                       env={**os.environ, "PYTHONPATH": str(REPO), "CONTROL_API_URL": server.url,
                                            "CONTROL_API_TOKEN": token})
        try:
            async with Client(params) as mcp:
                seen["tools"] = sorted(t.name for t in (await mcp.list_tools()).tools)

                async def call(name, **args):
                    return (await mcp.call_tool(name, args)).structured_content

                seen["status"] = await call("status")
                seen["positions"] = await call("positions")
                seen["journal"] = await call("journal_tail", n=3)
                seen["metrics"] = await call("metrics_summary")
                seen["unconfirmed"] = await call("close_position", symbol=SYMBOL)
                seen["held"] = venue_position(trading_venue)
                seen["pause"] = await call("pause")
                seen["paused_state"] = engine.trading_state.value
                seen["resume"] = await call("resume")
                seen["kill_unconfirmed"] = await call("kill")
                seen["kill"] = await call("kill", confirm=True)
                seen["killed"] = engine.kill.tripped is not None
                seen["rearm"] = await call("rearm")
                seen["close"] = await call("close_position", symbol=SYMBOL, confirm=True)
                seen["flat"] = (venue_position(trading_venue), open_protection(trading_venue))
        finally:
            await server.stop()
        seen["audit"] = [(a.actor, a.command, a.outcome) for a in control.audit]
        seen["done"] = True

    engine = asyncio.run(drive(trading_venue, donchian(), 120, checks))
    assert seen.get("done"), "a position opened within 120 bars"
    assert seen["tools"] == sorted(["status", "positions", "journal_tail", "metrics_summary", "pause", "resume",
                                    "rearm", "kill", "close_position"])
    assert seen["status"]["ok"] and seen["status"]["data"]["state"] == "ACTIVE"
    assert seen["positions"]["data"]["positions"][0]["symbol"] == SYMBOL
    assert len(seen["journal"]["data"]["records"]) == 3
    assert seen["metrics"]["ok"] and "trades" in seen["metrics"]["data"]
    assert not seen["unconfirmed"]["ok"] and "confirm" in seen["unconfirmed"]["message"] and seen["held"] != 0
    assert seen["pause"]["ok"] and seen["paused_state"] == "REDUCING" and seen["resume"]["ok"]
    assert not seen["kill_unconfirmed"]["ok"] and seen["kill"]["ok"] and seen["killed"] and seen["rearm"]["ok"]
    assert seen["close"]["ok"] and seen["flat"] == (0, [])
    assert [t.exit_reason for t in engine.trades].count("manual_close") == 1
    # every call the MCP server forwarded is in the bot's audit, as http:mcp; unconfirmed ones never reached it
    assert seen["audit"] == [("http:mcp", c, "done") for c in
                             ("status", "positions", "journal", "metrics", "pause", "resume", "kill", "rearm", "close")]


# --- wired into run_live --------------------------------------------------------------------------------------

def test_run_live_serves_the_control_api_over_http_and_telegram(trading_venue, stand_ins):
    from autobot_lib.live.launch import run_live
    from conftest import free_port
    from test_live_engine import subscribed

    token, port = "run-live-token-321", free_port()
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             CONTROL_API_TOKEN=token, CONTROL_API_PORT=port, TELEGRAM_COMMANDS=True,
                             TELEGRAM_BOT_TOKEN="42:run-live", TELEGRAM_CHAT_ID=str(CHAT),
                             donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})
    controls = []

    async def scenario():
        session = asyncio.create_task(run_live(settings, "dry-run", [SYMBOL], base_url=trading_venue.url, max_bars=3,
                                               telegram_base_url=stand_ins.telegram_url, on_control=controls.append))
        await until(lambda: controls and subscribed(trading_venue) or session.done(), "the session and its fronts")
        async with httpx.AsyncClient() as http:
            status = await http.get(f"http://127.0.0.1:{port}/v1/status", headers={"Authorization": f"Bearer {token}"})
        stand_ins.say(CHAT, "/pause")
        await until(lambda: any(r.path.endswith("/sendMessage") for r in stand_ins.telegram), "the /pause reply")
        for _ in range(3):
            await asyncio.to_thread(trading_venue.advance, 1)
            await until(lambda: len(controls[0].engine.journal) > _ or session.done(), "a bar decided")
        return status, await session

    status, engine = asyncio.run(scenario())
    assert status.status_code == 200 and status.json()["data"]["broker"] == "paper"
    reply = next(r for r in stand_ins.telegram if r.path.endswith("/sendMessage"))
    assert reply.payload["text"].startswith("OK: paused by telegram:ana")
    assert engine.status.paused_by == "telegram:ana" and len(engine.journal) == 3
    with pytest.raises(httpx.ConnectError):                       # stopped with the session
        httpx.get(f"http://127.0.0.1:{port}/v1/status")
