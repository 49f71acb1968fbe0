"""The venue's HTTP face: Binance USD-M (``/fapi``) and spot (``/api/v3``) market-data endpoints.

Serves ping, time, exchangeInfo, klines and fundingRate from :class:`MarketBook` objects, answers
errors in Binance's JSON shape, sends the ``X-MBX-USED-WEIGHT-1M`` header, records every request, and
injects faults on command (:class:`Fault`): 429 / 418 rate limits with ``Retry-After``, 5xx, dropped
connections and timeouts. Run it in a background thread (tests, notebooks) or in the foreground (CLI).
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from autobot_lib.data.frame import timeframe_seconds
from autobot_lib.exchange.venue.market import MarketBook

FaultKind = Literal["429", "418", "500", "503", "drop", "timeout"]
_ERRORS = {
    "429": (429, -1003, "Too many requests; current limit of IP is 2400 requests per minute."),
    "418": (418, -1003, "Way too many requests; IP banned until later. Please use the websocket for live updates."),
    "500": (500, -1000, "An unknown error occurred while processing the request."),
    "503": (503, -1001, "Internal error; unable to process your request. Please try again."),
}
_MAX_KLINES = {"usdm": 1500, "spot": 1000}


@dataclass
class Fault:
    """Make the next ``count`` requests whose path starts with ``path`` fail as ``kind``,
    after letting ``after`` of them through."""

    kind: FaultKind
    path: str = ""
    count: int = 1
    after: int = 0
    retry_after_s: int = 1
    delay_s: float = 30.0  # for "timeout": how long the answer is held back


class BinanceError(Exception):
    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


class VenueServer:
    """A local Binance-compatible HTTP server. ``with VenueServer(usdm=book) as url: ...``."""

    def __init__(self, usdm: MarketBook | None = None, spot: MarketBook | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.books = {"usdm": usdm or MarketBook("usdm"), "spot": spot or MarketBook("spot")}
        self.host, self.port = host, port
        self.requests: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._weight_minute, self._weight = 0, 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None

    # --- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

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
        if self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)  # releases requests held by a timeout fault
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
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]

    # --- HTTP ----------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        for market, prefix in (("usdm", "/fapi/v1"), ("spot", "/api/v3")):
            app.router.add_get(f"{prefix}/ping", self._ping)
            app.router.add_get(f"{prefix}/time", self._time(market))
            app.router.add_get(f"{prefix}/exchangeInfo", self._exchange_info(market))
            app.router.add_get(f"{prefix}/klines", self._klines(market))
        app.router.add_get("/fapi/v1/fundingRate", self._funding)
        return app

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        with self._lock:
            self.requests.append({"method": request.method, "path": request.path, "query": dict(request.query),
                                  "time": time.time()})
            minute = int(time.time() // 60)
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, 0
            self._weight += 1
            weight = self._weight
        fault = self._next_fault(request.path)
        if fault is not None:
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise web.HTTPServiceUnavailable()
            if fault.kind == "timeout":
                try:
                    await asyncio.wait_for(self._stopping.wait(), fault.delay_s)
                except TimeoutError:
                    pass
            else:
                status, code, msg = _ERRORS[fault.kind]
                headers = {"Retry-After": str(fault.retry_after_s)} if status in (418, 429) else {}
                return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)
        try:
            response = await handler(request)
        except BinanceError as err:
            response = web.json_response({"code": err.code, "msg": err.msg}, status=err.status)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(weight)
        return response

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    def _time(self, market: str):
        async def handler(request: web.Request) -> web.Response:
            return web.json_response({"serverTime": self.books[market].clock_ms()})
        return handler

    def _exchange_info(self, market: str):
        async def handler(request: web.Request) -> web.Response:
            return web.json_response(self.books[market].exchange_info())
        return handler

    def _klines(self, market: str):
        async def handler(request: web.Request) -> web.Response:
            q = request.query
            book = self.books[market]
            symbol = q.get("symbol", "")
            interval = q.get("interval", "")
            try:
                timeframe_seconds(interval)
            except ValueError:
                raise BinanceError(400, -1120, "Invalid interval.") from None
            limit = min(_int(q, "limit", 500), _MAX_KLINES[market])
            try:
                rows = book.klines(symbol, interval, _opt_int(q, "startTime"), _opt_int(q, "endTime"), limit)
            except KeyError:
                raise BinanceError(400, -1121, "Invalid symbol.") from None
            return web.json_response(rows)
        return handler

    async def _funding(self, request: web.Request) -> web.Response:
        q = request.query
        limit = min(_int(q, "limit", 100), 1000)
        rows = self.books["usdm"].funding_rates(q.get("symbol", ""), _opt_int(q, "startTime"),
                                                _opt_int(q, "endTime"), limit)
        return web.json_response(rows)


def _opt_int(query, key: str) -> int | None:
    return _int(query, key, None) if key in query else None


def _int(query, key: str, default):
    try:
        return int(query[key]) if key in query else default
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{key}'.") from None
