"""The venue's HTTP server: it puts the venue's parts together, serves them, and runs its clock.

Market data from :class:`MarketBook` objects (:mod:`market_data`); signed trading on a USD-M account
(:mod:`trading`); kline and user-data WebSocket streams (:mod:`streams`). Every request passes the
:mod:`gateway` (recorded, weighed, errors in Binance's JSON shape with the ``X-MBX-USED-WEIGHT-1M``
header); faults are injected on command (:class:`Fault`, :mod:`faults`), and each one that fires is
recorded too (``fired``).

With ``start`` the clock replays the USD-M bars from that time (:mod:`replay`) at ``speed``: bars per
second, ``realtime``, ``max``, or ``manual`` (:meth:`VenueServer.advance` only). Without it the clock
stands just after the last bar. ``/_venue/advance``, ``/_venue/fault`` and ``/_venue/state`` control a
venue run from another process (``autobot venue``, :mod:`control`). Run it in a background thread (tests,
notebooks) or in the foreground (CLI).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from decimal import Decimal
from typing import Any

from aiohttp import web

from autobot_lib.exchange.venue.account import Account
from autobot_lib.exchange.venue.control import ControlApi
from autobot_lib.exchange.venue.faults import Fault, FaultInjector
from autobot_lib.exchange.venue.gateway import Gateway
from autobot_lib.exchange.venue.market import MarketBook
from autobot_lib.exchange.venue.market_data import MarketDataApi
from autobot_lib.exchange.venue.replay import Replay, parse_speed, parse_start
from autobot_lib.exchange.venue.streams import Streams
from autobot_lib.exchange.venue.trading import TradingApi
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE

log = logging.getLogger(__name__)

DEMO_API_KEY = "venue-demo-key"        # local-only credentials for the venue; never real Binance keys
DEMO_API_SECRET = "venue-demo-secret"


class VenueServer:
    """A local Binance-compatible server. ``with VenueServer(usdm=book) as url: ...``.

    ``api_keys`` maps API keys to secrets for the signed endpoints (default: the demo pair
    ``DEMO_API_KEY`` / ``DEMO_API_SECRET``). ``start`` (a UTC time, or ``"auto"`` for 1000 bars into the
    data) turns on the replay at ``speed``; ``balance`` is the account's USDT wallet, ``taker_fee`` and
    ``maker_fee`` its commission (the TAKER_FEE / MAKER_FEE settings).
    """

    def __init__(self, usdm: MarketBook | None = None, spot: MarketBook | None = None,
                 host: str = "127.0.0.1", port: int = 0, *, api_keys: dict[str, str] | None = None,
                 start: str | int | None = None, speed: str | float = "manual", balance: float = 10_000,
                 taker_fee: float = BINANCE_TAKER_FEE, maker_fee: float = BINANCE_MAKER_FEE):
        self.books = {"usdm": usdm or MarketBook("usdm"), "spot": spot or MarketBook("spot")}
        self.host, self.port = host, port
        self.api_keys = dict(api_keys) if api_keys is not None else {DEMO_API_KEY: DEMO_API_SECRET}
        self.speed = parse_speed(speed)
        book = self.books["usdm"]
        self.replay = Replay(book, parse_start(book, None if start == "auto" else start)) if start is not None else None
        self.account = Account(book.specs(), Decimal(str(balance)), taker_fee=Decimal(repr(taker_fee)),
                               maker_fee=Decimal(repr(maker_fee)))
        self._mark_prices()
        self.faults = FaultInjector()
        self.gateway = Gateway(self.faults)
        self.streams = Streams(self)
        self._advance_lock: asyncio.Lock | None = None
        self._replay_task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    # --- what tests and the CLI see ------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every HTTP request, in arrival order: method, path, query, time (and the fault that hit it)."""
        return self.gateway.requests

    @property
    def fired(self) -> list[dict[str, Any]]:
        """Every fault that fired: kind, method, path, committed, ..."""
        return self.faults.fired

    def inject(self, fault: Fault) -> None:
        self.faults.inject(fault)

    def clear_faults(self) -> None:
        self.faults.clear()

    def now_ms(self) -> int:
        """The venue's clock: the replay's time, or just after the last bar."""
        return self.books["usdm"].clock_ms()

    def signing_clocks_ms(self) -> list[int]:
        return [int(time.time() * 1000), self.now_ms()]

    # --- the clock -----------------------------------------------------------------------------

    def advance(self, bars: int = 1) -> int:
        """Replay ``bars`` more bars (from any thread): match orders, push streams. Returns the new clock."""
        if self.replay is None:
            raise RuntimeError("the venue has no replay: start it with start=... (a UTC time or 'auto')")
        if self._loop is None:
            raise RuntimeError("the venue is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(self.replay_bars(bars), self._loop).result(60)

    async def replay_bars(self, bars: int) -> int:
        """:meth:`advance` on the venue's own loop."""
        async with self._advance_lock:
            for _ in range(bars):
                if self.replay.finished:
                    break
                closed, funding = self.replay.step()
                for bar in closed:
                    self.account.on_bar(bar.symbol, *(Decimal(repr(x)) for x in (bar.open, bar.high, bar.low,
                                                                                   bar.close)), bar.close_ms,
                                        None if bar.next_open is None else Decimal(repr(bar.next_open)), bar.open_ms)
                for event in funding:
                    self.account.apply_funding(event.symbol, Decimal(repr(event.rate)), event.time_ms)
                await self.streams.push_klines()
                await self.streams.push_account_events()
            return self.now_ms()

    def _mark_prices(self) -> None:
        """Before the first step: the mark at the last close, trades at the open of the bar forming now."""
        book = self.books["usdm"]
        for symbol in book.symbols:
            try:
                close = Decimal(repr(book.last_price(symbol)))
            except KeyError:
                continue  # nothing has traded yet at this clock
            forming = book.next_open(symbol)
            self.account.set_price(symbol, close if forming is None else Decimal(repr(forming)), mark=close)

    async def _run_replay(self) -> None:
        """Advance by itself at ``speed`` until the data ends."""
        step_s = self.replay.step_ms / 1000
        delay = {"realtime": step_s, "max": 0.0}.get(self.speed) if isinstance(self.speed, str) else 1 / self.speed
        while not self.replay.finished:
            await asyncio.sleep(delay)
            await self.replay_bars(1)
        log.info("venue replay reached the end of the data at %s", self.now_ms())

    # --- serving -------------------------------------------------------------------------------

    def start(self) -> str:
        """Serve from a background thread; returns the base URL once it accepts connections."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._start_site())
            except BaseException as exc:  # report start-up failures to the caller's thread
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="venue", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"venue could not start on {self.host}:{self.port}: {failure[0]}") from failure[0]
        return self.url

    def stop(self) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self.faults.release_held)  # releases requests held by a timeout fault
        if self._replay_task is not None:
            self._loop.call_soon_threadsafe(self._replay_task.cancel)
        asyncio.run_coroutine_threadsafe(self.streams.close_all(), self._loop).result(10)
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def serve_forever(self) -> None:
        """Foreground mode for ``autobot venue``: serve until interrupted."""
        async def main() -> None:
            await self._start_site()
            while True:
                await asyncio.sleep(3600)

        try:
            asyncio.run(main())
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start_site(self) -> None:
        self.faults.serve()
        self._advance_lock = asyncio.Lock()
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.replay is not None and self.speed != "manual":
            self._replay_task = asyncio.get_running_loop().create_task(self._run_replay())

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self.gateway.middleware])
        MarketDataApi(self.books).add_routes(app)
        TradingApi(self).add_routes(app)
        self.streams.add_routes(app)
        ControlApi(self).add_routes(app)
        return app
