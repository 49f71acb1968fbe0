"""The venue's HTTP face: Binance USD-M (``/fapi``) and spot (``/api/v3``) endpoints, and its clock.

Market data from :class:`MarketBook` objects (ping, time, exchangeInfo, klines, fundingRate, 24h ticker,
premiumIndex); signed trading on a USD-M account (:mod:`trading`); kline and user-data WebSocket streams
(:mod:`streams`). Errors come in Binance's JSON shape with the ``X-MBX-USED-WEIGHT-1M`` header; every
request is recorded; faults are injected on command (:class:`Fault`), and each one that fires is recorded
too (``fired``).

With ``start`` the clock replays the USD-M bars from that time (:mod:`replay`) at ``speed``: bars per
second, ``realtime``, ``max``, or ``manual`` (:meth:`VenueServer.advance` only). Without it the clock
stands just after the last bar. ``/_venue/advance``, ``/_venue/fault`` and ``/_venue/state`` control a
venue run from another process (``autobot venue``). Run it in a background thread (tests, notebooks) or in
the foreground (CLI).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, Literal, get_args

from aiohttp import web

from autobot_lib.data.frame import timeframe_seconds
from autobot_lib.exchange.venue.account import Account
from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.market import MarketBook
from autobot_lib.exchange.venue.replay import Replay, parse_speed, parse_start
from autobot_lib.exchange.venue.responses import Shapes
from autobot_lib.exchange.venue.streams import Streams
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE

log = logging.getLogger(__name__)

FaultKind = Literal["429", "418", "500", "502", "503", "drop", "timeout", "-1007", "-2019", "-2021",
                    "reset-after", "timeout-after", "500-after", "502-after", "503-after", "-1007-after"]
_AFTER = "-after"      # kinds that run the request first, then lose its answer
_ERRORS = {
    "429": (429, -1003, "Too many requests; current limit of IP is 2400 requests per minute."),
    "418": (418, -1003, "Way too many requests; IP banned until later. Please use the websocket for live updates."),
    "500": (500, -1000, "An unknown error occurred while processing the request."),
    "503": (503, -1001, "Internal error; unable to process your request. Please try again."),
    # Binance's own refusals, forced: a backend timeout, too little margin, a stop rejected on arrival
    "-1007": (408, -1007, "Timeout waiting for response from backend server. Send status unknown; "
                          "execution status unknown."),
    "-2019": (400, -2019, "Margin is insufficient."),
    "-2021": (400, -2021, "Order would immediately trigger."),
}
# what a gateway in front of Binance answers when the API behind it is down: HTML, no JSON code
_GATEWAY_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
DEMO_API_KEY = "venue-demo-key"        # local-only credentials for the venue; never real Binance keys
DEMO_API_SECRET = "venue-demo-secret"
_MAX_KLINES = {"usdm": 1500, "spot": 1000}


@dataclass
class Fault:
    """Make the next ``count`` requests whose path starts with ``path`` (and whose method is ``method``,
    if given) fail as ``kind``, after letting ``after`` of them through.

    Kinds that answer instead of the endpoint (the request is never executed):
    ``429``/``418`` rate limits (with ``Retry-After``), ``500``/``503`` Binance's JSON errors, ``502``
    a gateway's HTML page, ``drop`` an aborted connection (on a WebSocket path: the socket is cut at its
    next push), and Binance's refusals ``-1007`` (backend timeout), ``-2019`` (insufficient margin) and
    ``-2021`` (a stop rejected: would trigger at once). ``timeout`` holds the request back ``delay_s``
    before running it: a client that gives up first cancels it, so it never runs.

    Kinds that execute the request and then lose the answer (an order is booked, filled if it is a
    market order, and the client never hears of it: "execution status unknown"):
    ``reset-after`` aborts the connection once the endpoint has run; ``timeout-after`` holds the answer
    back ``delay_s`` (a client with a shorter timeout gives up); ``500-after``/``503-after``/``-1007-after``
    answer Binance's JSON error instead of the result, ``502-after`` a gateway's HTML page.

    Every fault that fires is appended to :attr:`VenueServer.fired` (and marks its entry in
    ``requests``): ``kind``, ``method``, ``path``, ``time``, ``committed`` (the endpoint ran and
    succeeded: for the ``-after`` kinds, the answer that was lost is in ``answer``)."""

    kind: FaultKind
    path: str = ""
    count: int = 1
    after: int = 0
    retry_after_s: int = 1
    delay_s: float = 30.0  # for "timeout"/"timeout-after": how long the answer is held back
    method: str = ""       # only requests with this HTTP method (GET, POST, DELETE); "" for any

    def __post_init__(self) -> None:
        if self.kind not in get_args(FaultKind):
            raise ValueError(f"fault kind {self.kind!r} is not known: use one of {', '.join(get_args(FaultKind))}")
        self.method = self.method.upper()

    @property
    def loses_answer(self) -> bool:
        """The request runs (an order is booked) and its answer is lost."""
        return self.kind.endswith(_AFTER)


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
        self.streams = Streams(self)
        self._advance_lock: asyncio.Lock | None = None
        self._replay_task: asyncio.Task | None = None
        self.requests: list[dict[str, Any]] = []
        self.fired: list[dict[str, Any]] = []   # every fault that fired: kind, method, path, committed, ...
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

    def now_ms(self) -> int:
        """The venue's clock: the replay's time, or just after the last bar."""
        return self.books["usdm"].clock_ms()

    def signing_clocks_ms(self) -> list[int]:
        return [int(time.time() * 1000), self.now_ms()]

    def advance(self, bars: int = 1) -> int:
        """Replay ``bars`` more bars (from any thread): match orders, push streams. Returns the new clock."""
        if self.replay is None:
            raise RuntimeError("the venue has no replay: start it with start=... (a UTC time or 'auto')")
        if self._loop is None:
            raise RuntimeError("the venue is not running: call start() first")
        return asyncio.run_coroutine_threadsafe(self._advance(bars), self._loop).result(60)

    async def _advance(self, bars: int) -> int:
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
                await self.publish_account_events()
            return self.now_ms()

    async def publish_account_events(self) -> None:
        events, self.account.events = self.account.events, []
        if events:
            shapes = Shapes(self.account)
            await self.streams.push_user([shapes.event(e) for e in events])

    def stream_fault(self, path: str) -> Fault | None:
        """A ``drop`` fault aimed at this WebSocket path (faults without a path stay for HTTP)."""
        with self._lock:
            for fault in self._faults:
                if fault.kind == "drop" and fault.path and path.startswith(fault.path):
                    taken = self._take(fault)
                    if taken is not None:
                        self.fired.append({"kind": "drop", "method": "WS", "path": path, "time": time.time(),
                                           "committed": False})
                    return taken
        return None

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
            await self._advance(1)
        log.info("venue replay reached the end of the data at %s", self.now_ms())

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
        self._stopping = asyncio.Event()
        self._advance_lock = asyncio.Lock()
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.replay is not None and self.speed != "manual":
            self._replay_task = asyncio.get_running_loop().create_task(self._run_replay())

    # --- HTTP ----------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        from autobot_lib.exchange.venue.trading import TradingApi  # it builds on this module's server

        app = web.Application(middlewares=[self._middleware])
        for market, prefix in (("usdm", "/fapi/v1"), ("spot", "/api/v3")):
            app.router.add_get(f"{prefix}/ping", self._ping)
            app.router.add_get(f"{prefix}/time", self._time(market))
            app.router.add_get(f"{prefix}/exchangeInfo", self._exchange_info(market))
            app.router.add_get(f"{prefix}/klines", self._klines(market))
        app.router.add_get("/fapi/v1/fundingRate", self._funding)
        app.router.add_get("/fapi/v1/ticker/24hr", self._per_symbol(MarketBook.ticker_24h))
        app.router.add_get("/fapi/v1/premiumIndex", self._per_symbol(MarketBook.premium_index))
        TradingApi(self).add_routes(app)
        self.streams.add_routes(app)
        app.router.add_post("/_venue/advance", self._control_advance)
        app.router.add_post("/_venue/fault", self._control_fault)
        app.router.add_get("/_venue/state", self._control_state)
        return app

    def _next_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if path.startswith(fault.path) and fault.method in ("", method):
                    return self._take(fault)
        return None

    def _take(self, fault: Fault) -> Fault | None:
        """Count one matching request against ``fault`` (caller holds the lock)."""
        if fault.after > 0:
            fault.after -= 1
            return None
        fault.count -= 1
        if fault.count <= 0:
            self._faults.remove(fault)
        return fault

    @web.middleware
    async def _middleware(self, request: web.Request, handler) -> web.StreamResponse:
        record = {"method": request.method, "path": request.path, "query": dict(request.query), "time": time.time()}
        with self._lock:
            self.requests.append(record)
            minute = int(time.time() // 60)
            if minute != self._weight_minute:
                self._weight_minute, self._weight = minute, 0
            self._weight += 1
            weight = self._weight
        fault = self._next_fault(request.method, request.path)
        fired = None
        if fault is not None:
            fired = {"kind": fault.kind, "method": request.method, "path": request.path, "time": record["time"],
                     "committed": False}
            record["fault"] = fault.kind
            with self._lock:
                self.fired.append(fired)
            log.info("venue fault %s on %s %s", fault.kind, request.method, request.path)
            if fault.loses_answer:
                return await self._lose_answer(fault, fired, request, handler, weight)
            if fault.kind == "drop":
                if request.transport is not None:
                    request.transport.abort()
                raise web.HTTPServiceUnavailable()
            if fault.kind == "timeout":
                try:
                    await asyncio.wait_for(self._stopping.wait(), fault.delay_s)
                except TimeoutError:
                    pass
            elif fault.kind == "502":
                return web.Response(text=_GATEWAY_PAGE, status=502, content_type="text/html")
            else:
                return _error_answer(fault)
        response = await self._run(request, handler, weight)
        if fired is not None:                    # a "timeout" whose client waited it out: it ran
            fired["committed"] = response.status < 400
        return response

    async def _run(self, request: web.Request, handler, weight: int) -> web.StreamResponse:
        try:
            response = await handler(request)
        except BinanceError as err:
            response = web.json_response({"code": err.code, "msg": err.msg}, status=err.status)
        if not response.prepared:  # a WebSocket has sent its headers long ago
            response.headers["X-MBX-USED-WEIGHT-1M"] = str(weight)
        return response

    async def _lose_answer(self, fault: Fault, fired: dict, request: web.Request, handler,
                           weight: int) -> web.StreamResponse:
        """Run the request (the order is booked), then lose its answer as ``fault`` says."""
        response = await self._run(request, handler, weight)
        fired["committed"] = response.status < 400
        try:
            fired["answer"] = json.loads(response.text) if isinstance(response, web.Response) and response.text \
                else None
        except (ValueError, TypeError):
            fired["answer"] = None
        base = fault.kind[:-len(_AFTER)]
        if base == "reset":
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if base == "timeout":
            # the client gives up first (its handler is cancelled here); a patient one gets the answer late
            try:
                await asyncio.wait_for(self._stopping.wait(), fault.delay_s)
            except TimeoutError:
                pass
            return response
        if base == "502":
            return web.Response(text=_GATEWAY_PAGE, status=502, content_type="text/html")
        return _error_answer(fault, base)

    async def _ping(self, request: web.Request) -> web.Response:
        return web.json_response({})

    def _per_symbol(self, answer):
        async def handler(request: web.Request) -> web.Response:
            book = self.books["usdm"]
            symbols = [request.query["symbol"].upper()] if "symbol" in request.query else book.symbols
            try:
                rows = [answer(book, s) for s in symbols]
            except KeyError:
                raise BinanceError(400, -1121, "Invalid symbol.") from None
            return web.json_response(rows[0] if "symbol" in request.query else rows)
        return handler

    # --- control (unsigned, for the process that runs the venue) -------------------------------

    async def _control_advance(self, request: web.Request) -> web.Response:
        if self.replay is None:
            raise BinanceError(400, -1, "the venue has no replay: start it with --start")
        now = await self._advance(_int(request.query, "bars", 1))
        return web.json_response({"now": now})

    async def _control_fault(self, request: web.Request) -> web.Response:
        try:
            fault = Fault(**await request.json())
        except (TypeError, ValueError) as exc:
            raise BinanceError(400, -1, f"bad fault: {exc}; send JSON like {{\"kind\": \"429\", "
                                        f"\"path\": \"/fapi/v1/order\", \"count\": 1}}") from None
        self.inject(fault)
        return web.json_response(asdict(fault))

    async def _control_state(self, request: web.Request) -> web.Response:
        shapes = Shapes(self.account)
        return web.json_response({"now": self.now_ms(), "speed": self.speed,
                                  "replay_end": self.replay.end_ms if self.replay else None,
                                  "account": shapes.account_v3(self.now_ms()),
                                  "faults": [asdict(f) for f in self._faults],
                                  "subscriptions": [sorted(streams) for _, streams in
                                                    list(self.streams.market.values())]})

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


def _error_answer(fault: Fault, kind: str | None = None) -> web.Response:
    """Binance's JSON error for ``kind`` (default: the fault's own kind)."""
    status, code, msg = _ERRORS[kind or fault.kind]
    headers = {"Retry-After": str(fault.retry_after_s)} if status in (418, 429) else {}
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers)


def _opt_int(query, key: str) -> int | None:
    return _int(query, key, None) if key in query else None


def _int(query, key: str, default):
    try:
        return int(query[key]) if key in query else default
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{key}'.") from None
