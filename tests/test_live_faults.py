"""The live engine under the venue's injected faults, with the real ccxt client: each fault is met by its
policy (retry without doubling, veto and alert, close what cannot be protected, reconnect and backfill,
keep trading when the state store is down) and trading goes on.

Every test first asserts that its fault fired (the venue records each one in ``venue.fired``), then what
followed. The faults that lose an answer after the order is booked (``reset-after``, ``timeout-after``,
``5xx-after``) are the ones a retry can double: only the look-up by client id before a resend
(:meth:`OrderManager._call`) keeps each client id to one order."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

import pandas as pd
import pytest

import test_live_engine
from autobot_lib.config import load_settings
from autobot_lib.exchange.venue import Fault
from autobot_lib.live.feed import BarFeed
from autobot_lib.live.orders import client_id
from autobot_lib.state import RedisStore
from conftest import REPLAY_START, make_trading_venue
from redis_fixture import redis_server  # noqa: F401 (fixture)
from test_live_engine import drive, subscribed, until

SETTINGS = dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})
SYMBOL = "BTCUSDT"
# the session without faults that the others are held against, and where its orders are found (bars from
# REPLAY_START): long enough to hold two entries and a position the strategy closes at market
BASELINE_BARS = 200


def settings():
    return load_settings(env_file=None, config_json=None, **SETTINGS)


def posts(venue, path: str) -> list[dict]:
    return [r for r in venue.requests if r["path"] == path and r["method"] == "POST"]


def inject_at(venue, bar: int, fault: Fault):
    async def before(k: int) -> None:
        if k == bar:
            venue.inject(fault)
    return before


def fired(venue, kind: str) -> list[dict]:
    return [f for f in venue.fired if f["kind"] == kind]


def bar_ms(engine, k: int) -> int:
    return int(pd.Timestamp(engine.journal[k].timestamp).value // 1_000_000)


def orders_by_id(venue) -> Counter:
    """How many orders (regular and algo) the venue holds per client id."""
    account = venue.account
    return Counter([o.client_id for o in account.orders.values() if not o.orig_type]
                   + [a.client_id for a in account.algos.values()])


def assert_bars_decided_in_order(engine, bars: int) -> None:
    stamps = [pd.Timestamp(r.timestamp) for r in engine.journal]
    assert len(stamps) == bars and stamps[0] == pd.Timestamp(REPLAY_START, tz="UTC")
    assert all(b - a == pd.Timedelta(hours=1) for a, b in zip(stamps, stamps[1:])), "a gap or a repeat"


def session(engine, venue) -> tuple[list, list]:
    """What a fault must not change: bar by bar (time, outcome, intent kinds, exit reasons), and every
    order the venue executed or booked (client id, side, type, quantity, price, time), in the order sent."""
    bars = [(r.timestamp, r.outcome, [i["kind"] for i in r.intents], [x["reason"] for x in r.exits or []])
            for r in engine.journal]
    account = venue.account
    orders = sorted([(o.time_ms, o.order_id, o.client_id, o.side, o.orig_type or o.type, o.executed, o.avg_price)
                     for o in account.orders.values()]
                    + [(a.create_ms, a.algo_id, a.client_id, a.side, a.type, a.qty, a.trigger)
                       for a in account.algos.values()])
    return bars, [row[:1] + row[2:] for row in orders]


@lru_cache(maxsize=None)
def without_faults() -> tuple[list, list]:
    """:func:`session` of the same settings, BASELINE_BARS long, on a venue that never fails (run once)."""
    venue = make_trading_venue()
    try:
        return session(asyncio.run(drive(venue, settings(), BASELINE_BARS)), venue)
    finally:
        venue.stop()


def assert_decides_as_without_faults(engine, venue) -> None:
    """Every bar decided as the session without faults decided it, and the same orders, at the same prices."""
    bars, orders = session(engine, venue)
    base_bars, base_orders = without_faults()
    assert bars == base_bars[:len(bars)]
    assert orders == [o for o in base_orders if o[0] <= venue.now_ms()]


@dataclass(frozen=True)
class Landmarks:
    """Bars (journal indices from REPLAY_START) of the session without faults, for these settings."""

    entry: int          # the first entry: a market order "-E", then its stop "-S1", in the same bar
    next_entry: int     # the one after it
    close: int          # the first position the strategy closes at market: a reduce-only order "-X"


def landmarks() -> Landmarks:
    bars, orders = without_faults()
    entries = [k for k, bar in enumerate(bars) if bar[1] == "order"]
    ids = {o[1] for o in orders}
    closes = [k for k, bar in enumerate(bars)
              if client_id(SYMBOL, int(pd.Timestamp(bar[0]).value // 1_000_000), "X") in ids]
    assert len(entries) >= 2 and closes, f"no two entries and a market close in {BASELINE_BARS} bars"
    return Landmarks(entries[0], entries[1], closes[0])


def books_agree_with_the_venue(venue):
    """After every bar: what the engine holds is what the venue holds, and the one stop standing on the
    venue is the one the engine knows. Returns the bars where they differ, the engine's books after each
    bar (None when flat, else quantity, first entry price, stop id, stop price), and the check."""
    differ: list[tuple[int, str]] = []
    books: list[tuple | None] = []

    async def check(engine, broker):
        account = venue.account
        amount = account.positions[SYMBOL].amount
        stops = [a.client_id for a in account.open_algos(SYMBOL) if a.type == "STOP_MARKET"]
        held = engine.held.get(SYMBOL)
        if held is None:
            books.append(None)
            mine = (Decimal(0), [])
        else:
            position, protection = held.position, held.protection
            books.append((position.qty, position.first_entry_price, protection.stop_id, protection.stop_price))
            mine = (Decimal(str(position.qty)) * position.side.sign, [protection.stop_id])
        if mine != (amount, stops):
            differ.append((len(books) - 1, f"engine {mine} venue {(amount, stops)}"))
    return differ, books, check


def never_unprotected():
    gaps = []

    async def check(engine, broker):
        positions = await broker.positions()
        stops = {o.symbol for o in await broker.protective_orders() if o.kind == "STOP_MARKET"}
        gaps.extend(s for s in positions if s not in stops)
    return gaps, check


@pytest.mark.parametrize("kind", ["500", "502", "503", "429", "timeout"])
def test_a_transient_fault_on_an_entry_is_retried_and_the_entry_sent_once(trading_venue, kind):
    """The fault answers before the order exists: the manager looks the order up, finds nothing, and
    sends it again, once."""
    at = landmarks()
    gaps, protected = never_unprotected()
    differ, books, agree = books_agree_with_the_venue(trading_venue)

    async def check(engine, broker):
        await protected(engine, broker)
        await agree(engine, broker)

    engine = asyncio.run(drive(trading_venue, settings(), at.next_entry + 1, check, broker_timeout_ms=500,
                               before_bar=inject_at(trading_venue, at.entry, Fault(
                                   kind, path="/fapi/v1/order", method="POST", count=1, delay_s=1.5,
                                   retry_after_s=1))))
    (fault,) = fired(trading_venue, kind)
    assert fault["method"] == "POST" and not fault["committed"]       # it fired; no order came of it
    cid = client_id(SYMBOL, bar_ms(engine, at.entry), "E")
    # the retry: after the fault, the look-up of the id (nothing there), then the one resend that filled
    lookups = [r for r in trading_venue.requests if r["method"] == "GET" and r["path"] == "/fapi/v1/order"
               and r["query"].get("origClientOrderId") == cid and r["time"] > fault["time"]]
    assert lookups, "no look-up by client id before the resend"
    made = [o for o in trading_venue.account.orders.values() if not o.orig_type]
    assert len(posts(trading_venue, "/fapi/v1/order")) == len(made) + 1    # the faulted POST made none
    (entry,) = [o for o in trading_venue.account.orders.values() if o.client_id == cid]
    assert entry.status == "FILLED"
    assert max(orders_by_id(trading_venue).values()) == 1, orders_by_id(trading_venue)   # never doubled
    # the position the engine holds is the one the venue filled, and its books agree after every bar
    assert books[at.entry][:2] == (float(entry.executed), float(entry.avg_price))
    assert not gaps and not differ and not engine.alerts, (gaps, differ, list(engine.alerts))
    assert_bars_decided_in_order(engine, at.next_entry + 1)
    assert_decides_as_without_faults(engine, trading_venue)            # the next entry included


def test_insufficient_margin_vetoes_the_entry_alerts_and_trading_goes_on(trading_venue):
    at = landmarks()
    engine = asyncio.run(drive(trading_venue, settings(), 60, before_bar=inject_at(
        trading_venue, at.entry, Fault("-2019", path="/fapi/v1/order", method="POST", count=1))))
    (fault,) = fired(trading_venue, "-2019")
    assert not fault["committed"]                                   # refused: no order
    assert [key for key, _ in engine.alerts] == ["order_error:-2019"]
    orders = [i for i, r in enumerate(engine.journal) if r.outcome == "order"]
    assert orders[0] == at.entry and len(orders) >= 2               # the next entries went through
    filled = [o for o in trading_venue.account.orders.values() if o.client_id.endswith("-E")]
    assert len(filled) == len(orders) - 1
    assert client_id(SYMBOL, bar_ms(engine, at.entry), "E") not in {o.client_id for o in filled}


def test_a_refused_stop_closes_the_position_at_once(trading_venue):
    gaps, protected = never_unprotected()
    differ, books, agree = books_agree_with_the_venue(trading_venue)

    async def both(engine, broker):
        await protected(engine, broker)
        await agree(engine, broker)

    at = landmarks()
    engine = asyncio.run(drive(trading_venue, settings(), at.next_entry + 1, both, before_bar=inject_at(
        trading_venue, at.entry, Fault("-2021", path="/fapi/v1/algoOrder", method="POST", count=1))))
    (fault,) = fired(trading_venue, "-2021")
    assert not fault["committed"]
    assert [key for key, _ in engine.alerts] == ["stop_rejected"]
    ms = bar_ms(engine, at.entry)
    account = trading_venue.account
    assert not [a for a in account.algos.values() if a.client_id == client_id(SYMBOL, ms, "S1")]  # refused
    (entry,) = [o for o in account.orders.values() if o.client_id == client_id(SYMBOL, ms, "E")]
    (close,) = [o for o in account.orders.values() if o.client_id == client_id(SYMBOL, ms, "X")]
    assert close.reduce_only and close.status == entry.status == "FILLED" and close.executed == entry.executed
    assert books[at.entry] is None and not gaps and not differ, differ          # flat after that bar
    assert any(t.exit_price == float(close.avg_price) for t in engine.trades)     # booked at the venue's price
    assert engine.journal[at.next_entry].outcome == "order"                      # and trading went on
    assert max(orders_by_id(trading_venue).values()) == 1
    assert_bars_decided_in_order(engine, at.next_entry + 1)


def test_a_stream_dropped_across_a_bar_close_misses_no_bar(trading_venue, monkeypatch):
    bars = landmarks().next_entry + 1             # (the session without faults runs first, if it has not)
    feeds: list[BarFeed] = []

    class Recorded(BarFeed):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            feeds.append(self)

    async def before(k: int) -> None:
        if k == 5:
            trading_venue.inject(Fault("drop", path="/market/ws", count=1))
        elif k > 5:
            # Binance pushes the forming bar every moment; the venue pushes only when it steps, so it steps
            # once the new connection listens (the feed backfills before it subscribes again)
            await until(lambda: subscribed(trading_venue) >= 1, "the feed subscribed again")

    monkeypatch.setattr(test_live_engine, "BarFeed", Recorded)
    engine = asyncio.run(drive(trading_venue, settings(), bars, before_bar=before))
    (drop,) = fired(trading_venue, "drop")                   # the venue cut the socket at bar 5's push
    assert drop["method"] == "WS" and drop["path"].startswith("/market/ws")
    (feed,) = feeds
    assert feed.reconnects == 1                              # the feed saw it and connected again
    sockets = [r for r in trading_venue.requests if r["path"].startswith("/market/ws")]
    assert len(sockets) == 2 and sockets[1]["time"] > drop["time"]
    assert feed.backfilled >= 1                              # the bar the dead socket missed came over REST
    assert_bars_decided_in_order(engine, bars)                # no gap, no repeat
    assert_decides_as_without_faults(engine, trading_venue)   # and the same decisions as without the drop


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


# --- an order booked, its answer lost ---------------------------------------------------------------

LOST_ANSWERS = ["reset-after", "timeout-after", "500-after", "502-after", "503-after", "-1007-after"]
TARGETS = {          # the order whose answer is lost: its endpoint and the role in its client id
    "entry": ("/fapi/v1/order", "E"),
    "stop": ("/fapi/v1/algoOrder", "S1"),
    "close": ("/fapi/v1/order", "X"),
}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("kind", LOST_ANSWERS)
def test_an_order_booked_whose_answer_is_lost_is_found_not_sent_again(trading_venue, kind, target):
    """The venue books (and fills) the order, then the answer is lost: the manager looks the client id up,
    finds the order, and carries on with it; nothing is sent twice, nothing is refused as a duplicate."""
    path, role = TARGETS[target]
    at = landmarks()
    bar = at.close if role == "X" else at.entry
    bars = at.close + 4 if role == "X" else at.next_entry + 1      # and the decisions after the trade
    differ, books, check = books_agree_with_the_venue(trading_venue)
    engine = asyncio.run(drive(trading_venue, settings(), bars, check, broker_timeout_ms=500, before_bar=inject_at(
        trading_venue, bar, Fault(kind, path=path, method="POST", count=1, delay_s=1.5))))
    cid = client_id(SYMBOL, bar_ms(engine, bar), role)
    account = trading_venue.account

    # the fault fired on that order: the venue booked it, and the answer never reached the client
    (fault,) = fired(trading_venue, kind)
    assert (fault["method"], fault["path"], fault["committed"]) == ("POST", path, True)
    assert (fault["answer"].get("clientAlgoId") or fault["answer"].get("clientOrderId")) == cid

    # exactly one order per client id (this one executed), and no order refused as a duplicate
    ids = orders_by_id(trading_venue)
    assert ids[cid] == 1 and max(ids.values()) == 1, f"doubled: {[(c, n) for c, n in ids.items() if n > 1]}"
    if role == "S1":
        (order,) = [a for a in account.algos.values() if a.client_id == cid]
        assert order.type == "STOP_MARKET"
    else:
        (order,) = [o for o in account.orders.values() if o.client_id == cid and not o.orig_type]
        assert order.status == "FILLED" and order.reduce_only == (role == "X")
    assert not engine.alerts, list(engine.alerts)   # no duplicate refusal, no stop_rejected, no repair needed

    # the bot went on with the order that exists: its books agree with the venue after every bar
    assert not differ, differ
    if role == "E":                # the position it holds is the one filled: quantity and price
        assert books[bar] is not None, "the engine holds no position after the entry's bar"
        assert books[bar][:2] == (float(order.executed), float(order.avg_price))
    elif role == "S1":             # the stop it knows is the one standing
        assert books[bar] is not None, "the engine holds no position after the stop's bar"
        assert (books[bar][2], Decimal(str(books[bar][3]))) == (cid, order.trigger)
    else:                          # flat, the close booked at the fill's price
        assert books[bar] is None
        assert any((t.exit_price, t.qty) == (float(order.avg_price), float(order.executed)) for t in engine.trades)
    # and the session decided every later bar, exactly as the session without the fault did
    assert_bars_decided_in_order(engine, bars)
    assert_decides_as_without_faults(engine, trading_venue)

    # how: the manager asked for the id after the fault, and no POST was sent again (none refused)
    lookup = ("/fapi/v1/algoOrder", "clientAlgoId") if role == "S1" else ("/fapi/v1/order", "origClientOrderId")
    assert any(r["method"] == "GET" and r["path"] == lookup[0] and r["query"].get(lookup[1]) == cid
               and r["time"] > fault["time"] for r in trading_venue.requests), "no look-up by client id"
    assert len(posts(trading_venue, "/fapi/v1/order")) == len([o for o in account.orders.values() if not o.orig_type])
    assert len(posts(trading_venue, "/fapi/v1/algoOrder")) == len(account.algos)
