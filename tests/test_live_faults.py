"""The live engine under the venue's injected faults, with the real ccxt client: each fault is met by its
policy (retry without doubling, veto and alert, close what cannot be protected, reconnect and backfill,
keep trading when the state store is down) and trading goes on."""

from __future__ import annotations

import asyncio
from collections import Counter

import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange.venue import Fault
from autobot_lib.state import RedisStore
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_live_engine import drive

SETTINGS = dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})
FIRST_ENTRY_BAR = 16      # from REPLAY_START, the first Donchian breakout of these bars (see test_live_engine)


def settings():
    return load_settings(env_file=None, config_json=None, **SETTINGS)


def posts(venue, path: str) -> list[dict]:
    return [r for r in venue.requests if r["path"] == path and r["method"] == "POST"]


def inject_at(venue, bar: int, fault: Fault):
    async def before(k: int) -> None:
        if k == bar:
            venue.inject(fault)
    return before


def never_unprotected():
    gaps = []

    async def check(engine, broker):
        positions = await broker.positions()
        stops = {o.symbol for o in await broker.protective_orders() if o.kind == "STOP_MARKET"}
        gaps.extend(s for s in positions if s not in stops)
    return gaps, check


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "timeout"])
def test_a_transient_fault_on_an_entry_is_retried_and_the_entry_sent_once(trading_venue, kind):
    gaps, check = never_unprotected()
    engine = asyncio.run(drive(trading_venue, settings(), 30, check, broker_timeout_ms=500, before_bar=inject_at(
        trading_venue, FIRST_ENTRY_BAR, Fault(kind, path="/fapi/v1/order", count=1, delay_s=1.5, retry_after_s=1))))
    assert [r.outcome for r in engine.journal][FIRST_ENTRY_BAR] == "order"
    entries = Counter(o.client_id for o in trading_venue.account.orders.values() if o.client_id.endswith("-E"))
    assert entries and max(entries.values()) == 1, entries           # never doubled
    # the fault was met: the failed request came back and the manager looked the order up before resending
    lookups = [r for r in trading_venue.requests if r["path"] == "/fapi/v1/order" and r["method"] == "GET"]
    assert lookups and not gaps
    assert engine.held or engine.trades                               # it went through in the end


def test_insufficient_margin_vetoes_the_entry_alerts_and_trading_goes_on(trading_venue):
    engine = asyncio.run(drive(trading_venue, settings(), 60, before_bar=inject_at(
        trading_venue, FIRST_ENTRY_BAR, Fault("-2019", path="/fapi/v1/order", count=1))))
    assert any(key == "order_error:-2019" for key, _ in engine.alerts)
    orders = [i for i, r in enumerate(engine.journal) if r.outcome == "order"]
    assert orders[0] == FIRST_ENTRY_BAR and len(orders) >= 2       # the next entries went through
    filled = [o for o in trading_venue.account.orders.values() if o.client_id.endswith("-E")]
    assert len(filled) == len(orders) - 1


def test_a_refused_stop_closes_the_position_at_once(trading_venue):
    gaps, check = never_unprotected()
    engine = asyncio.run(drive(trading_venue, settings(), 30, check, before_bar=inject_at(
        trading_venue, FIRST_ENTRY_BAR, Fault("-2021", path="/fapi/v1/algoOrder", count=1))))
    assert any(key == "stop_rejected" for key, _ in engine.alerts)
    assert engine.trades[0].reason == "stop_rejected" and not gaps
    account = trading_venue.account
    assert all(p.amount == 0 for p in account.positions.values()) or engine.held


def test_a_stream_dropped_across_a_bar_close_misses_no_bar(trading_venue):
    engine = asyncio.run(drive(trading_venue, settings(), 20, before_bar=inject_at(
        trading_venue, 5, Fault("drop", path="/market/ws", count=1))))
    stamps = [pd.Timestamp(r.timestamp) for r in engine.journal]
    assert len(stamps) == 20 and all(b - a == pd.Timedelta(hours=1) for a, b in zip(stamps, stamps[1:]))


def test_redis_stopped_mid_session_trading_continues_and_saves_resume(trading_venue, redis_server):  # noqa: F811
    store = RedisStore("127.0.0.1", redis_server.port, 0, None)

    async def stop_then_start(k: int) -> None:
        if k == 8:
            await asyncio.to_thread(redis_server.stop)
        if k == 14:
            await asyncio.to_thread(redis_server.start)

    engine = asyncio.run(drive(trading_venue, settings(), 24, store=store, before_bar=stop_then_start))
    assert len(engine.journal) == 24
    assert any(key == "state_unavailable" for key, _ in engine.alerts)
    saved = store.load()
    assert saved is not None and max(saved.last_bar.values()) == pd.Timestamp(engine.journal[-1].timestamp)
    store.close()
