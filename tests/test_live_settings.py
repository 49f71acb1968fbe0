"""The operations settings reach the live parts that they name (the settings audit found them read by
nobody): ORDER_TIMEOUT, the WebSocket reconnect back-off and ping timeout, with the real ccxt clients
against the local venue."""

from __future__ import annotations

import asyncio
import time

import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange.venue import Fault
from autobot_lib.live.launch import make_broker, open_session


async def _until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


def test_order_timeout_is_the_exchange_clients_timeout(trading_venue):
    settings = load_settings(env_file=None, config_json=None, ORDER_TIMEOUT=7)
    broker = make_broker("testnet", settings, trading_venue.url)
    try:
        assert broker.exchange.timeout == 7_000
    finally:
        asyncio.run(broker.close())


def test_a_dropped_socket_reconnects_after_the_configured_back_off_with_the_configured_ping(trading_venue):
    settings = load_settings(env_file=None, config_json=None, WEBSOCKET_RECONNECT_DELAY=2,
                             WEBSOCKET_MAX_RECONNECT_DELAY=8, WEBSOCKET_PING_TIMEOUT=40)

    async def scenario():
        async with open_session(settings, "dry-run", ["BTCUSDT"], base_url=trading_venue.url) as session:
            feed = session.feed
            assert (feed.backoff_s, feed.max_backoff_s) == (2, 8)
            client = feed.make_client()
            ws = client.options["ws"]
            assert (ws["keepAlive"], ws["maxPingPongMisses"]) == (20_000, 2.0)   # 40 s without a pong: gone
            await client.close()
            stream = feed.__aiter__()
            reader = asyncio.ensure_future(stream.__anext__())
            await _until(lambda: sum(len(s) for _, s in list(trading_venue.streams.market.values())) >= 1,
                         "a kline subscription")
            trading_venue.inject(Fault("drop", path="/market/ws"))
            await asyncio.to_thread(trading_venue.advance, 1)
            await _until(lambda: feed.reconnects >= 1, "the drop noticed")
            waits = list(feed.waits)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await stream.aclose()
            return waits

    assert asyncio.run(scenario()) == [2]
    assert any(f["kind"] == "drop" for f in trading_venue.fired)


@pytest.mark.parametrize("safe", [False, True])
def test_the_startup_banner_marks_safe_mode_when_asked(safe):
    from autobot_lib.live.launch import startup_banner

    settings = load_settings(env_file=None, config_json=None, SAFE_CONSOLE_BANNER=safe, STRATEGY="donchian")
    banner = startup_banner(settings, "testnet", ["BTCUSDT", "ETHUSDT"])
    assert "AUTOBOT testnet: BTCUSDT, ETHUSDT on 1h, strategy donchian; SAFE_RESTART on" in banner
    assert ("SAFE MODE" in banner) is safe


def test_the_history_before_the_first_decision_is_at_least_lookback(trading_venue):
    async def history(lookback: int) -> int:
        settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", donchian={"lookback": lookback})
        async with open_session(settings, "dry-run", ["BTCUSDT"], base_url=trading_venue.url) as session:
            await session.warm_up()
            return session.engine.features["BTCUSDT"].bars

    needed = 2000   # more than the indicators need: the settings decide
    assert asyncio.run(history(needed)) == needed
    assert asyncio.run(history(50)) > 50         # fewer: what the indicators need wins


def test_symbols_in_another_quote_than_the_settings_name_are_refused(trading_venue):
    from autobot_lib.live.launch import LaunchError

    settings = load_settings(env_file=None, config_json=None, donchian={"quote": "BUSD"})

    async def scenario():
        async with open_session(settings, "dry-run", ["BTCUSDT"], base_url=trading_venue.url):
            pass

    with pytest.raises(LaunchError, match="another asset than the quote BUSD"):
        asyncio.run(scenario())
