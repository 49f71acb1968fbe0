"""Closed bars for many symbols from ccxt.pro ``watch_ohlcv``, with reconnects and REST backfill.

ccxt drops Binance's "closed" flag, so a bar counts as closed once a later bar shows up (Binance, and
the local venue, push the new bar within moments of the close). Candles are read from ccxt's cache,
on every answer and every ``poll_s``: a message that arrives while no watch waits reaches only the cache. Before a closed bar is handed on, any
bars missed while the socket was down are fetched over REST, so no bar is skipped and none repeats.
Symbols are spread over several connections (``per_connection``), each reconnecting with capped
exponential back-off (WEBSOCKET_RECONNECT_DELAY doubling up to WEBSOCKET_MAX_RECONNECT_DELAY); a socket
silent for WEBSOCKET_PING_TIMEOUT is dropped and reconnected (the clients' ping keep-alive,
:func:`ws_options`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Callable

import pandas as pd

from autobot_lib.data.frame import timeframe_delta
from autobot_lib.model import Bar

log = logging.getLogger("autobot.feed")


def ws_options(ping_timeout_s: float) -> dict:
    """ccxt.pro client options: ping the server every half ``ping_timeout_s`` and give the socket up when
    ``ping_timeout_s`` passes without a pong (two missed), so a silent connection is reconnected."""
    return {"ws": {"keepAlive": int(ping_timeout_s * 1000 / 2), "maxPingPongMisses": 2.0}}


class BarFeed:
    def __init__(self, make_client: Callable[[], object], symbols: dict[str, str], timeframe: str = "1h",
                 per_connection: int = 50, backoff_s: float = 0.5, max_backoff_s: float = 30.0, poll_s: float = 0.25):
        """``make_client``: a new ccxt.pro client per connection; ``symbols``: id (BTCUSDT) -> ccxt symbol;
        a lost connection is retried after ``backoff_s``, doubling up to ``max_backoff_s``
        (WEBSOCKET_RECONNECT_DELAY, WEBSOCKET_MAX_RECONNECT_DELAY)."""
        if not 0 < backoff_s <= max_backoff_s:
            raise ValueError(f"reconnect back-off must satisfy 0 < backoff_s <= max_backoff_s, got {backoff_s} and "
                             f"{max_backoff_s}")
        self.make_client, self.symbols, self.timeframe = make_client, symbols, timeframe
        self.bar_ms = int(timeframe_delta(timeframe).total_seconds() * 1000)
        self.per_connection, self.poll_s = per_connection, poll_s
        self.backoff_s, self.max_backoff_s = backoff_s, max_backoff_s
        self.waits: list[float] = []            # the back-off waited before each reconnect, for the record
        self.last: dict[str, int] = {}          # open time (ms) of the last bar handed on, per symbol
        self.forming: dict[str, tuple[int, float]] = {}   # the newest bar seen: (open time ms, open price)
        self.reconnects = 0
        self.backfilled = 0
        self._queue: asyncio.Queue[tuple[str, Bar]] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def __aiter__(self) -> AsyncIterator[tuple[str, Bar]]:
        ids = list(self.symbols)
        groups = [ids[i:i + self.per_connection] for i in range(0, len(ids), self.per_connection)]
        self._tasks = [asyncio.create_task(self._connection(group)) for group in groups]
        try:
            while True:
                yield await self._queue.get()
        finally:
            await self.stop()

    def open_after(self, symbol: str, bar: Bar) -> float | None:
        """The open of the bar after ``bar`` (the first trade after its close), if the stream has shown it."""
        seen = self.forming.get(symbol)
        after = int(bar.timestamp.value // 1_000_000) + self.bar_ms
        return seen[1] if seen is not None and seen[0] == after else None

    def drain(self) -> list[tuple[str, Bar]]:
        """Every closed bar already waiting, without waiting for more."""
        out = []
        while not self._queue.empty():
            out.append(self._queue.get_nowait())
        return out

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _connection(self, ids: list[str]) -> None:
        backoff = self.backoff_s
        while True:
            client = self.make_client()
            pending: dict[str, asyncio.Future] = {}
            try:
                if self.reconnects:
                    await self._catch_up(client, ids)   # bars that closed while the socket was down
                pending = {s: asyncio.ensure_future(client.watch_ohlcv(self.symbols[s], self.timeframe)) for s in ids}
                while True:
                    # a message that lands while no watch waits reaches only ccxt's cache (the bar that opens
                    # right after a close often does), so the cache is read on every wake-up and every
                    # poll_s as well, not only when a watch answers
                    await asyncio.wait(pending.values(), timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
                    for symbol, future in list(pending.items()):
                        if future.done():
                            future.result()          # a socket failure raises here: reconnect below
                            pending[symbol] = asyncio.ensure_future(client.watch_ohlcv(self.symbols[symbol],
                                                                                       self.timeframe))
                    for symbol in ids:
                        await self._closed(client, symbol, self._cached(client, symbol))
                    backoff = self.backoff_s
            except asyncio.CancelledError:
                for future in pending.values():
                    future.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - any socket failure: reconnect, backfill, go on
                self.reconnects += 1
                log.warning("market data connection lost (%s); reconnecting in %.1f s", type(exc).__name__, backoff)
                for future in pending.values():
                    future.cancel()
                self.waits.append(backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
            finally:
                # a socket that does not answer its close must not hold up a reconnect or a shutdown
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.close(), 5.0)

    async def _catch_up(self, client, ids: list[str]) -> None:
        now = int(await client.fetch_time())
        for symbol in ids:
            last = self.last.get(symbol)
            if last is None:
                continue
            rows = await client.fetch_ohlcv(self.symbols[symbol], self.timeframe, since=last + self.bar_ms, limit=1000)
            closed = [r for r in rows if int(r[0]) + self.bar_ms <= now]
            forming = [r for r in rows if int(r[0]) + self.bar_ms > now]
            if forming:
                self.forming[symbol] = (int(forming[0][0]), float(forming[0][1]))
            if closed:
                self.backfilled += len(closed)
                # hand them on as if the stream had shown the bar after the last closed one
                await self._closed(client, symbol, closed + [[int(closed[-1][0]) + self.bar_ms, 0, 0, 0, 0, 0]])

    def _cached(self, client, symbol: str) -> list[list[float]]:
        return list(getattr(client, "ohlcvs", {}).get(self.symbols[symbol], {}).get(self.timeframe, []))

    async def _closed(self, client, symbol: str, candles: list[list[float]]) -> None:
        """Hand on every bar older than the newest one seen, backfilling over REST what the socket missed."""
        if not candles:
            return
        newest = int(candles[-1][0])
        if candles[-1][1]:                         # a backfill's stand-in for the next bar has no prices
            self.forming[symbol] = (newest, float(candles[-1][1]))
        last = self.last.get(symbol)
        if last is None:                           # first sight: start from the newest closed bar
            self.last[symbol] = newest - self.bar_ms - self.bar_ms
            last = self.last[symbol]
        if newest - self.bar_ms <= last:
            return
        have = {int(c[0]): c for c in candles}
        wanted = range(last + self.bar_ms, newest, self.bar_ms)
        if any(t not in have for t in wanted):
            rows = await client.fetch_ohlcv(self.symbols[symbol], self.timeframe, since=last + self.bar_ms,
                                            limit=min(1000, len(wanted) + 1))
            fetched = {int(r[0]): r for r in rows}
            self.backfilled += sum(1 for t in wanted if t not in have and t in fetched)
            have = {**fetched, **have}
        for t in wanted:
            row = have.get(t)
            if row is None:
                log.error("%s: bar %s missing from stream and REST; not deciding on a gap", symbol, t)
                continue
            self.last[symbol] = t
            await self._queue.put((symbol, Bar(pd.Timestamp(t, unit="ms", tz="UTC"), float(row[1]), float(row[2]),
                                               float(row[3]), float(row[4]), float(row[5]))))
