"""Reconciliation repairs each symbol on its own and fails closed, with the real ccxt client on the venue.

What it must survive, each found by a drill or a review: a stop the price has already passed (Binance
-2021) while another symbol also needs repair; a stop that covers the wrong quantity or the wrong side; a
position already open in cross margin when the bot starts (-4048 on setting isolated margin). Never an
exception out of reconciliation, never a position left without a stop that covers it, and a refusal
the bot handles is not an error on the kill switch's count.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.exchange.venue import VenueServer
from autobot_lib.live.engine import LiveEngine
from autobot_lib.model import Position, Side
from autobot_lib.state import BotState, OpenPosition
from conftest import REPLAY_START, VENUE_KEY, VENUE_SECRET
from parity import book

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
NOW = pd.Timestamp(REPLAY_START, tz="UTC")
NOW_MS = int(NOW.value // 1_000_000)


def venue() -> VenueServer:
    server = VenueServer(usdm=book(SYMBOLS), api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START, speed="manual")
    server.start()
    return server


def broker(server: VenueServer) -> CcxtBroker:
    roomy = RateLimiter(rate_limits=({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1,
                                      "limit": 100_000},))
    return CcxtBroker(VENUE_KEY, VENUE_SECRET, mode="venue", base_url=server.url, limiter=roomy)


def held(symbol: str, side: Side, qty: float, entry: float, stop: float) -> OpenPosition:
    return OpenPosition(Position(symbol, side, qty, entry, stop, None, abs(entry - stop), abs(entry - stop) / 1.5,
                                 NOW, qty))


def open_on_venue(server: VenueServer, symbol: str, side: str, qty: str, isolated: bool = True) -> None:
    account = server.account
    if isolated:
        account.set_margin_type(symbol, "ISOLATED", NOW_MS)
    account.place_order(symbol, side, "MARKET", Decimal(qty), None, now_ms=NOW_MS)


def stops(server: VenueServer, symbol: str) -> list:
    return [a for a in server.account.algos.values() if a.is_open and a.symbol == symbol and a.type == "STOP_MARKET"]


async def started(server: VenueServer, state: BotState | None, settings=None) -> LiveEngine:
    engine = LiveEngine(settings or load_settings(env_file=None, config_json=None, SAFE_RESTART=True), broker(server),
                        SYMBOLS)
    engine.restore(state)
    await engine.start()
    return engine


def test_a_passed_stop_closes_its_position_and_the_other_symbol_is_still_repaired():
    server = venue()
    try:
        btc_price = server.account.prices["BTCUSDT"]
        eth_price = server.account.prices["ETHUSDT"]
        open_on_venue(server, "BTCUSDT", "BUY", "0.050")
        open_on_venue(server, "ETHUSDT", "BUY", "1.000")
        # the saved state: ETH's trailed stop is above the price now (the market crossed it while the bot was
        # down); BTC's stop is fine but missing on the exchange
        eth_stop = float(eth_price) + 20.0
        btc_stop = float(btc_price) - 1500.0
        state = BotState(positions={"ETHUSDT": held("ETHUSDT", Side.LONG, 1.0, float(eth_price) - 40, eth_stop),
                                    "BTCUSDT": held("BTCUSDT", Side.LONG, 0.05, float(btc_price), btc_stop)})

        async def run():
            engine = await started(server, state)
            await engine.broker.close()
            return engine

        engine = asyncio.run(run())
        account = server.account
        assert account.positions["ETHUSDT"].amount == 0                 # closed at market: fail closed
        assert engine.held["ETHUSDT"].flat == "trailing_stop"            # booked at the next close, as the model says
        (stop,) = stops(server, "BTCUSDT")                                # the other symbol was still repaired
        assert (stop.side, stop.qty, stop.trigger) == ("SELL", Decimal("0.050"), Decimal(repr(btc_stop)))
        assert any("passed" in text for _, text in engine.alerts)
        assert not engine.kill.tripped and not engine.kill._errors       # handled, not an error
        assert not any(key.startswith("order_error") for key, _ in engine.alerts)
    finally:
        server.stop()


def test_a_stop_of_the_wrong_quantity_or_side_is_replaced_by_one_that_covers_the_position():
    server = venue()
    try:
        price = server.account.prices["BTCUSDT"]
        open_on_venue(server, "BTCUSDT", "BUY", "0.050")
        stop = Decimal(repr(float(price) - 1500.0))
        # someone left a stop for part of the position, and a "stop" on the wrong side
        server.account.place_algo("BTCUSDT", "SELL", "STOP_MARKET", Decimal("0.020"), stop, reduce_only=True,
                                  client_id="ab-BTCUSDT-1-S1", now_ms=NOW_MS)
        server.account.place_algo("BTCUSDT", "BUY", "STOP_MARKET", Decimal("0.050"), stop + 3000, reduce_only=True,
                                  client_id="by-hand", now_ms=NOW_MS)
        position = held("BTCUSDT", Side.LONG, 0.05, float(price), float(stop))
        state = BotState(positions={"BTCUSDT": OpenPosition(position.position, "ab-BTCUSDT-1-S1",
                                                            ("ab-BTCUSDT-1-S1",))})

        async def run():
            engine = await started(server, state)
            await engine.broker.close()
            return engine

        engine = asyncio.run(run())
        (only,) = stops(server, "BTCUSDT")
        assert (only.side, only.qty, only.trigger) == ("SELL", Decimal("0.050"), stop)
        assert engine.held["BTCUSDT"].protection.stop_id == only.client_id
        assert any("stop re-armed" in text and "was SELL 0.02 " in text for _, text in engine.alerts)
        orphans = [text for _, text in engine.alerts if "orphan" in text]
        assert len(orphans) == 1 and "by-hand" in orphans[0]
    finally:
        server.stop()


def test_a_position_in_cross_margin_at_start_is_adopted_and_protected_with_an_alert():
    server = venue()
    try:
        open_on_venue(server, "ETHUSDT", "SELL", "2.000", isolated=False)   # cross: the venue's default
        assert not server.account.positions["ETHUSDT"].isolated

        async def run():
            engine = await started(server, None)
            await engine.broker.close()
            return engine

        engine = asyncio.run(run())
        assert any(key == "margin_mode" and "ETHUSDT" in text for key, text in engine.alerts)
        assert server.account.positions["BTCUSDT"].isolated                  # the others: isolated as asked
        (stop,) = stops(server, "ETHUSDT")
        assert (stop.side, stop.qty) == ("BUY", Decimal("2.000"))
        assert stop.trigger > server.account.marks["ETHUSDT"]                # above the price: protective
        assert engine.held["ETHUSDT"].position.side is Side.SHORT
    finally:
        server.stop()


def test_an_unknown_position_whose_stop_has_passed_is_closed_and_booked_from_the_exchanges_fills():
    """Adopted (a kill between fill and stop lost it from the books), then the fallback stop is already
    passed: closed at market at once, and the trade booked from the exchange's own fill, on its clock."""
    server = venue()
    try:
        open_on_venue(server, "BTCUSDT", "BUY", "0.050")
        server.account.positions["BTCUSDT"].entry *= Decimal("1.05")   # bought 5 % higher, earlier

        async def run():
            engine = await started(server, None)
            await engine.broker.close()
            return engine

        engine = asyncio.run(run())
        assert server.account.positions["BTCUSDT"].amount == 0 and "BTCUSDT" not in engine.held
        (trade,) = engine.trades
        close = server.account.fills[-1]
        assert trade.exit_reason == "unprotectable_on_adoption" and trade.qty == 0.05
        assert trade.exit_price == float(close.price) and trade.exit_time == pd.Timestamp(close.time_ms, unit="ms",
                                                                                            tz="UTC")
        # its entry filled at this venue time too (the replay clock stood still), so both fills are the trade's
        fills = [f for f in server.account.fills if f.symbol == "BTCUSDT"]
        assert len(fills) == 2
        assert trade.pnl == pytest.approx(float(sum(f.realized_pnl - f.fee for f in fills)), abs=1e-6) and trade.pnl < 0
    finally:
        server.stop()
