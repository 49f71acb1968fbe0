"""The live engine end to end: the real ccxt client (REST and ccxt.pro streams) against the local venue
replaying real BTCUSDT bars, one bar at a time."""

from __future__ import annotations

import asyncio
import time

import pandas as pd
import pytest

from autobot_lib.backtest import run_backtest
from autobot_lib.config import load_settings
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.exchange.venue import venue_client
from autobot_lib.live.engine import LiveEngine
from autobot_lib.live.feed import BarFeed
from autobot_lib.live.session import LiveSession
from conftest import VENUE_KEY, VENUE_SECRET, real, real_funding

HOUR = pd.Timedelta(hours=1)

SYMBOLS = {"BTCUSDT": "BTC/USDT:USDT"}


async def until(condition, what: str, seconds: float = 30) -> None:
    """Wait for something another party does (fails only if it never happens; not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.005)


def subscribed(venue) -> int:
    return sum(len(streams) for _, streams in list(venue.streams.market.values()))


async def drive(venue, settings, bars: int, checks=None, *, broker_timeout_ms: int = 10_000, store=None,
                before_bar=None):
    """Run a session on ``venue`` for ``bars`` closed bars, stepping the replay one bar at a time;
    ``before_bar(k)`` runs before the k-th step (to inject a fault), ``checks(engine, broker)`` after it."""
    url = venue.url
    # the replay packs hours into milliseconds: Binance's per-minute windows would throttle a whole year
    # of bars, so the limiter gets room enough (its windows are tested in test_safety.py)
    roomy = RateLimiter(rate_limits=({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1,
                                      "limit": 100_000},))
    broker = CcxtBroker(VENUE_KEY, VENUE_SECRET, mode="venue", base_url=url, limiter=roomy,
                        timeout_ms=broker_timeout_ms)
    rest = venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="async", enableRateLimit=False)
    feed = BarFeed(lambda: venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="pro", enableRateLimit=False), SYMBOLS)
    engine = LiveEngine(settings, broker, list(SYMBOLS), store=store)
    session = LiveSession(engine, feed, rest, reconcile_every_s=0)
    task = asyncio.create_task(session.run(max_bars=bars))
    try:
        await until(lambda: engine.orders is not None and subscribed(venue) >= 1, "warm-up and a kline subscription")
        for k in range(bars):
            if before_bar:
                await before_bar(k)
            await asyncio.to_thread(venue.advance, 1)
            await until(lambda: session.decided > k or task.done(), f"bar {k + 1} decided")
            async with engine.busy:      # and the reconciliation that follows it done, before the next bar
                pass
            if task.done():
                task.result()
            if checks:
                await checks(engine, broker)
        await task
    finally:
        await broker.close()
        await rest.close()
    return engine


def test_a_donchian_session_enters_protects_trails_and_exits(trading_venue):
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})
    unprotected = []

    async def every_position_has_its_stop(engine, broker):
        positions = await broker.positions()
        stops = {o.symbol for o in await broker.protective_orders() if o.kind == "STOP_MARKET"}
        unprotected.extend(s for s in positions if s not in stops)

    engine = asyncio.run(drive(trading_venue, settings, 120, every_position_has_its_stop))
    outcomes = [r.outcome for r in engine.journal]
    assert len(outcomes) == 120 and outcomes.count("order") >= 2
    assert engine.trades, "at least one position opened and closed"
    assert not unprotected
    algo = [r for r in trading_venue.requests if r["path"] == "/fapi/v1/algoOrder" and r["method"] == "POST"]
    assert len(algo) > outcomes.count("order")     # an initial stop per entry, then trailing moves


@pytest.mark.parametrize("overrides, n", [
    (dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"leverage": 5, "use_exit_channel": True,
                                                           "funding_avoid_min": 0}), 150),
    (dict(ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0, LEVERAGE=5), 500),
])
def test_live_decisions_equal_the_backtesters_bar_by_bar(trading_venue, overrides, n):
    """The same candles through the live engine (venue, real ccxt) and through run_backtest."""
    settings = load_settings(env_file=None, config_json=None, **overrides)
    engine = asyncio.run(drive(trading_venue, settings, n))
    assert_decides_like_the_backtester(engine, settings, n)


def assert_decides_like_the_backtester(engine, settings, n: int) -> None:
    """The engine's last ``n`` decisions equal run_backtest's on the same BTCUSDT bars: the history the
    engine warmed up on, then the bars it decided; the venue's costs (Binance's fees, no slippage) and
    funding. Outcome and order kinds, bar by bar."""
    live = list(engine.journal)[-n:]
    start = pd.Timestamp(live[0].timestamp)
    warm = engine.features["BTCUSDT"].spec.warmup_bars + 50
    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").loc[start - warm * HOUR: start + (n - 1) * HOUR]
    result = run_backtest(bars, settings.model_copy(update={"SLIPPAGE_BPS": 0.0}), equity=10_000.0, trade_from=start,
                          funding={"BTCUSDT": real_funding("binance_usdm_BTCUSDT_funding.csv.gz")})
    tested = result.journal.iloc[-n:]
    assert [str(t) for t in tested["timestamp"]] == [str(pd.Timestamp(r.timestamp)) for r in live]
    assert tested["outcome"].tolist() == [r.outcome for r in live]
    kinds = [[i["kind"] for i in (x or [])] for x in tested["intents"]]
    assert kinds == [[i["kind"] for i in r.intents] for r in live]
    assert sum(o == "order" for o in tested["outcome"]) >= 2


@pytest.mark.parametrize("tamper", ["remove the stop", "flip the position"])
def test_the_watchdog_repairs_the_exchange_between_bars(trading_venue, tamper):
    """No bar closes after someone changes the account on the exchange: the periodic reconciliation alone
    re-arms a removed stop, and flattens a position flipped against the books."""
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})

    async def scenario():
        url = trading_venue.url
        broker = CcxtBroker(VENUE_KEY, VENUE_SECRET, mode="venue", base_url=url, limiter=RateLimiter(
            rate_limits=({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1, "limit": 10**5},)))
        rest = venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="async", enableRateLimit=False)
        feed = BarFeed(lambda: venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="pro", enableRateLimit=False),
                       SYMBOLS)
        engine = LiveEngine(settings, broker, list(SYMBOLS))
        session = LiveSession(engine, feed, rest, reconcile_every_s=1.0)
        task = asyncio.create_task(session.run(duration_s=120))
        try:
            await until(lambda: engine.orders is not None and subscribed(trading_venue) >= 1, "warm-up")
            while not engine.held:
                decided = session.decided
                await asyncio.to_thread(trading_venue.advance, 1)
                await until(lambda: session.decided > decided, "a bar decided")
            account = trading_venue.account
            if tamper == "remove the stop":
                stop = next(a for a in account.algos.values() if a.is_open and a.type == "STOP_MARKET")
                account.cancel_algo("BTCUSDT", stop.algo_id, None, trading_venue.now_ms())
                await until(lambda: any("stop re-armed" in text for _, text in engine.alerts),
                            "the stop re-armed without a new bar")
                assert any(a.is_open and a.type == "STOP_MARKET" for a in account.algos.values())
            else:
                amount = account.positions["BTCUSDT"].amount
                account.place_order("BTCUSDT", "SELL" if amount > 0 else "BUY", "MARKET", abs(amount) * 2, None,
                                    now_ms=trading_venue.now_ms())
                await until(lambda: any("flattened" in text for _, text in engine.alerts),
                            "the flipped position flattened without a new bar")
                assert account.positions["BTCUSDT"].amount == 0 and not engine.held
            return engine, session.decided
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await broker.close()
            await rest.close()

    engine, bars = asyncio.run(scenario())
    said = "stop re-armed" if tamper == "remove the stop" else "flattened"
    assert any(said in text for _, text in engine.alerts)
