"""The venue's WebSocket face: kline streams and the user-data stream, on the paths ccxt.pro uses.

Market streams (``<symbol>@kline_<interval>``):
- ``/market/ws/<n>``: ccxt.pro's USD-M path; streams are added by ``{"method": "SUBSCRIBE", ...}``
  messages, answered ``{"result": null, "id": ...}`` as Binance does (``/ws``, ``/ws/<n>`` work too);
- ``/ws/<stream>``: Binance's raw form, the stream named in the path.
After every replay step each subscribed stream gets one ``kline`` event: ``x: true`` when its bar closed
at that step, else the bar still forming (values traded so far).

User data: ``/private/ws?listenKey=<key>`` (ccxt.pro's USD-M path) or ``/ws/<key>``, for a key from
``POST /fapi/v1/listenKey``: ``ORDER_TRADE_UPDATE``, ``ALGO_UPDATE`` and ``ACCOUNT_UPDATE`` events.

A ``Fault("drop", path=...)`` whose path matches a socket's path aborts that socket at its next push.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from autobot_lib.data.frame import timeframe_seconds
from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.responses import Shapes

if TYPE_CHECKING:
    from autobot_lib.exchange.venue.server import VenueServer


class Streams:
    def __init__(self, server: VenueServer):
        self.server = server
        self.market: dict[web.WebSocketResponse, tuple[web.Request, set[str]]] = {}
        self.user: dict[web.WebSocketResponse, web.Request] = {}
        self.listen_keys: dict[str, str] = {}  # listenKey -> API key

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("/market/ws", "/ws", "/public/ws"):
            app.router.add_get(prefix, self._market_ws)
            app.router.add_get(prefix + "/{tail}", self._market_ws)
        app.router.add_get("/private/ws", self._private_ws)
        app.router.add_get("/private/ws/{tail}", self._private_ws)

    # --- listen keys ---------------------------------------------------------------------------

    def listen_key_for(self, api_key: str) -> str:
        """Binance hands out one key per account and returns the live one again."""
        for key, owner in self.listen_keys.items():
            if owner == api_key:
                return key
        key = secrets.token_urlsafe(48)[:64]
        self.listen_keys[key] = api_key
        return key

    def close_listen_key(self, api_key: str) -> None:
        for key in [k for k, owner in self.listen_keys.items() if owner == api_key]:
            del self.listen_keys[key]

    # --- sockets -------------------------------------------------------------------------------

    async def _market_ws(self, request: web.Request) -> web.WebSocketResponse:
        tail = request.match_info.get("tail", "")
        if tail in self.listen_keys:
            return await self._user_ws(request, tail)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        subscriptions = {tail.lower()} if "@" in tail else set()
        self.market[ws] = (request, subscriptions)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await ws.send_json(_control(subscriptions, message.data))
        finally:
            self.market.pop(ws, None)
        return ws

    async def _private_ws(self, request: web.Request) -> web.WebSocketResponse:
        return await self._user_ws(request, request.query.get("listenKey") or request.match_info.get("tail", ""))

    async def _user_ws(self, request: web.Request, listen_key: str) -> web.WebSocketResponse:
        if listen_key not in self.listen_keys:
            raise BinanceError(400, -1125, "This listenKey does not exist.")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.user[ws] = request
        try:
            async for _ in ws:
                pass
        finally:
            self.user.pop(ws, None)
        return ws

    # --- pushes --------------------------------------------------------------------------------

    async def push_klines(self) -> None:
        book = self.server.books["usdm"]
        now = book.clock_ms()
        for ws, (request, subscriptions) in list(self.market.items()):
            for stream in sorted(subscriptions):
                # the bar that just closed (x: true), then, as Binance does moments later, the one that
                # opened at this instant: that is how a client that drops "x" (ccxt) sees the close
                events = [_kline_event(book, stream, now), _kline_event(book, stream, now + 1)]
                sent = [self._send(ws, request, e) for e in events if e is not None]
                if not all([await s for s in sent]):
                    break

    async def push_account_events(self) -> None:
        """Send what the account queued (orders, algo orders, account changes) to the user-data sockets."""
        events = self.server.account.take_events()
        if events:
            shapes = Shapes(self.server.account)
            await self.push_user([shapes.event(e) for e in events])

    async def push_user(self, events: list[dict]) -> None:
        for ws, request in list(self.user.items()):
            for event in events:
                if not await self._send(ws, request, event):
                    break

    async def _send(self, ws: web.WebSocketResponse, request: web.Request, payload: dict) -> bool:
        fault = self.server.faults.for_stream(request.path)
        if fault is not None or ws.closed:
            if request.transport is not None:
                request.transport.abort()  # a dropped connection, not a clean close
            self.market.pop(ws, None)
            self.user.pop(ws, None)
            return False
        try:
            await ws.send_str(json.dumps(payload))
        except (ConnectionResetError, RuntimeError):
            self.market.pop(ws, None)
            self.user.pop(ws, None)
            return False
        return True

    async def close_all(self) -> None:
        for ws in list(self.market) + list(self.user):
            await ws.close()


def _control(subscriptions: set[str], text: str) -> dict:
    """Answer a SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS message as Binance does."""
    try:
        message = json.loads(text)
        method, ident = message.get("method"), message.get("id")
        params = [str(p).lower() for p in message.get("params", [])]
    except (ValueError, AttributeError, TypeError):
        return {"error": {"code": 3, "msg": "Invalid JSON: expected an object with method, params and id"},
                "id": None}
    if method == "SUBSCRIBE":
        subscriptions.update(params)
        return {"result": None, "id": ident}
    if method == "UNSUBSCRIBE":
        subscriptions.difference_update(params)
        return {"result": None, "id": ident}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(subscriptions), "id": ident}
    return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": ident}


def _kline_event(book, stream: str, now: int) -> dict | None:
    """The ``kline`` event of ``btcusdt@kline_1h`` for the bar holding the instant before ``now``."""
    name, _, kind = stream.partition("@")
    if not kind.startswith("kline_"):
        return None
    symbol, interval = name.upper(), kind[len("kline_"):]
    try:
        step = timeframe_seconds(interval) * 1000
        rows = book.klines(symbol, interval, (now - 1) // step * step, (now - 1) // step * step, 1)
    except (KeyError, ValueError):
        return None
    if not rows:
        return None
    t, o, h, l, c, v, close_time, q, n, taker_v, taker_q, _ = rows[0]
    return {"e": "kline", "E": now, "s": symbol, "k": {
        "t": t, "T": close_time, "s": symbol, "i": interval, "f": 0, "L": n, "o": o, "c": c, "h": h, "l": l,
        "v": v, "n": n, "x": close_time < now, "q": q, "V": taker_v, "Q": taker_q, "B": "0"}}
