"""The venue's public market-data endpoints, unsigned, from :class:`MarketBook` objects: ping, time,
exchangeInfo and klines on both markets (``/fapi/v1`` USD-M, ``/api/v3`` spot); fundingRate, the 24h
ticker and premiumIndex on USD-M.
"""

from __future__ import annotations

from aiohttp import web

from autobot_lib.data.frame import timeframe_seconds
from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.market import MarketBook

_MAX_KLINES = {"usdm": 1500, "spot": 1000}


class MarketDataApi:
    def __init__(self, books: dict[str, MarketBook]):
        self.books = books

    def add_routes(self, app: web.Application) -> None:
        for market, prefix in (("usdm", "/fapi/v1"), ("spot", "/api/v3")):
            app.router.add_get(f"{prefix}/ping", self._ping)
            app.router.add_get(f"{prefix}/time", self._time(market))
            app.router.add_get(f"{prefix}/exchangeInfo", self._exchange_info(market))
            app.router.add_get(f"{prefix}/klines", self._klines(market))
        app.router.add_get("/fapi/v1/fundingRate", self._funding)
        app.router.add_get("/fapi/v1/ticker/24hr", self._per_symbol(MarketBook.ticker_24h))
        app.router.add_get("/fapi/v1/premiumIndex", self._per_symbol(MarketBook.premium_index))

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
            limit = min(query_int(q, "limit", 500), _MAX_KLINES[market])
            try:
                rows = book.klines(symbol, interval, _opt_int(q, "startTime"), _opt_int(q, "endTime"), limit)
            except KeyError:
                raise BinanceError(400, -1121, "Invalid symbol.") from None
            return web.json_response(rows)
        return handler

    async def _funding(self, request: web.Request) -> web.Response:
        q = request.query
        limit = min(query_int(q, "limit", 100), 1000)
        rows = self.books["usdm"].funding_rates(q.get("symbol", ""), _opt_int(q, "startTime"),
                                                _opt_int(q, "endTime"), limit)
        return web.json_response(rows)

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


def query_int(query, key: str, default):
    """An integer query parameter, refused as Binance refuses one that is not."""
    try:
        return int(query[key]) if key in query else default
    except ValueError:
        raise BinanceError(400, -1100, f"Illegal characters found in parameter '{key}'.") from None


def _opt_int(query, key: str) -> int | None:
    return query_int(query, key, None) if key in query else None
