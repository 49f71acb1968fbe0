"""The venue's signed USD-M endpoints: account, positions, leverage, margin type, orders, algo orders.

The paths and parameters are the ones ccxt 4.5.90's ``binanceusdm`` sends (read from its source):
- ``POST/GET/DELETE /fapi/v1/order``, ``GET /fapi/v1/openOrders``, ``/openOrder``, ``/allOrders``,
  ``DELETE /fapi/v1/allOpenOrders``: MARKET and LIMIT orders (conditional types answer -4120);
- ``POST/GET/DELETE /fapi/v1/algoOrder``, ``GET /fapi/v1/openAlgoOrders``, ``/allAlgoOrders``,
  ``DELETE /fapi/v1/algoOpenOrders``: STOP_MARKET / TAKE_PROFIT_MARKET (Binance's Algo Order API, used
  by ccxt for every conditional order since Binance moved them there in 2025-12);
- ``GET /fapi/v3/account`` (fetch_balance), ``/fapi/v2/account``, ``GET /fapi/v{2,3}/balance``,
  ``GET /fapi/v1/leverageBracket`` then ``GET /fapi/v3/positionRisk`` (fetch_positions; v2 with useV2),
  ``POST /fapi/v1/leverage``, ``POST /fapi/v1/marginType``, ``GET /fapi/v1/symbolConfig``,
  ``GET /fapi/v1/userTrades``, ``GET /fapi/v1/income`` (funding fees), ``GET /fapi/v1/commissionRate``,
  ``GET/POST /fapi/v1/positionSide/dual``;
- ``POST/PUT/DELETE /fapi/v1/listenKey`` (API key only, unsigned, as on Binance).
All others need a valid key and signature (:mod:`signing`). One account serves every key.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from aiohttp import web

from autobot_lib.exchange.venue import signing
from autobot_lib.exchange.venue.brackets import leverage_bracket_json
from autobot_lib.exchange.venue.errors import rejected
from autobot_lib.exchange.venue.responses import Shapes

if TYPE_CHECKING:
    from autobot_lib.exchange.venue.server import VenueServer

Params = dict[str, str]


class TradingApi:
    def __init__(self, server: VenueServer):
        self.server = server
        self.account = server.account
        self.shapes = Shapes(server.account)

    def add_routes(self, app: web.Application) -> None:
        routes: dict[tuple[str, str], Callable[[Params, int], object]] = {
            ("POST", "/fapi/v1/order"): self.new_order,
            ("GET", "/fapi/v1/order"): self.query_order,
            ("DELETE", "/fapi/v1/order"): self.cancel_order,
            ("GET", "/fapi/v1/openOrder"): self.query_open_order,
            ("GET", "/fapi/v1/openOrders"): self.open_orders,
            ("GET", "/fapi/v1/allOrders"): self.all_orders,
            ("DELETE", "/fapi/v1/allOpenOrders"): self.cancel_all,
            ("POST", "/fapi/v1/algoOrder"): self.new_algo,
            ("GET", "/fapi/v1/algoOrder"): self.query_algo,
            ("DELETE", "/fapi/v1/algoOrder"): self.cancel_algo,
            ("GET", "/fapi/v1/openAlgoOrders"): self.open_algos,
            ("GET", "/fapi/v1/allAlgoOrders"): self.all_algos,
            ("DELETE", "/fapi/v1/algoOpenOrders"): self.cancel_all_algos,
            ("GET", "/fapi/v3/account"): self.account_info,
            ("GET", "/fapi/v2/account"): self.account_info,
            ("GET", "/fapi/v3/balance"): self.balance,
            ("GET", "/fapi/v2/balance"): self.balance,
            ("GET", "/fapi/v3/positionRisk"): self.position_risk,
            ("GET", "/fapi/v2/positionRisk"): self.position_risk_v2,
            ("GET", "/fapi/v1/leverageBracket"): self.leverage_brackets,
            ("POST", "/fapi/v1/leverage"): self.set_leverage,
            ("POST", "/fapi/v1/marginType"): self.set_margin_type,
            ("GET", "/fapi/v1/symbolConfig"): self.symbol_config,
            ("GET", "/fapi/v1/userTrades"): self.user_trades,
            ("GET", "/fapi/v1/income"): self.income,
            ("GET", "/fapi/v1/commissionRate"): self.commission_rate,
            ("GET", "/fapi/v1/positionSide/dual"): lambda p, now: {"dualSidePosition": False},
            ("POST", "/fapi/v1/positionSide/dual"): self.set_position_mode,
        }
        for (method, path), handler in routes.items():
            app.router.add_route(method, path, self._signed(handler))
        for method in ("POST", "PUT", "DELETE"):
            app.router.add_route(method, "/fapi/v1/listenKey", self._listen_key)

    # --- plumbing ------------------------------------------------------------------------------

    def _signed(self, handler: Callable[[Params, int], object]):
        async def endpoint(request: web.Request) -> web.Response:
            body = await request.text()
            signing.verify(request.headers, request.rel_url.raw_query_string, body, self.server.api_keys,
                           self.server.signing_clocks_ms())
            params = dict(request.query)
            params.update(parse_qsl(body, keep_blank_values=True))
            try:
                answer = handler(params, self.server.now_ms())
            finally:
                await self.server.streams.push_account_events()
            return web.json_response(answer)
        return endpoint

    async def _listen_key(self, request: web.Request) -> web.Response:
        api_key = signing.api_key_of(request.headers, self.server.api_keys)
        streams = self.server.streams
        if request.method == "DELETE":
            streams.close_listen_key(api_key)
            return web.json_response({})
        key = streams.listen_key_for(api_key)
        return web.json_response({"listenKey": key} if request.method == "POST" else {})

    # --- orders --------------------------------------------------------------------------------

    def new_order(self, p: Params, now: int) -> dict:
        _one_way(p)
        order = self.account.place_order(
            _symbol(p), _need(p, "side"), _need(p, "type"), _dec(p, "quantity"), _dec(p, "price", None),
            reduce_only=_bool(p, "reduceOnly"), time_in_force=p.get("timeInForce", "GTC"),
            client_id=p.get("newClientOrderId", ""), now_ms=now)
        return self.shapes.order(order)

    def query_order(self, p: Params, now: int) -> dict:
        return self.shapes.order(self.account.find_order(_symbol(p), *_order_ref(p)))

    def query_open_order(self, p: Params, now: int) -> dict:
        order = self.account.find_order(_symbol(p), *_order_ref(p))
        if not order.is_open:
            raise rejected(-2013, "Order does not exist.")
        return self.shapes.order(order)

    def cancel_order(self, p: Params, now: int) -> dict:
        return self.shapes.order(self.account.cancel_order(_symbol(p), *_order_ref(p), now_ms=now))

    def open_orders(self, p: Params, now: int) -> list:
        return [self.shapes.order(o) for o in self.account.open_orders(p.get("symbol"))]

    def all_orders(self, p: Params, now: int) -> list:
        symbol = _symbol(p)
        return [self.shapes.order(o) for o in self.account.orders.values() if o.symbol == symbol]

    def cancel_all(self, p: Params, now: int) -> dict:
        symbol = _symbol(p)
        for order in self.account.open_orders(symbol):
            self.account.cancel_order(symbol, order.order_id, None, now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # --- algo (conditional) orders ---------------------------------------------------------------

    def new_algo(self, p: Params, now: int) -> dict:
        _one_way(p)
        if p.get("algoType", "CONDITIONAL") != "CONDITIONAL":
            raise rejected(-1130, f"Data sent for parameter 'algoType' is not valid: {p['algoType']!r}; "
                                  "use CONDITIONAL")
        close_position = _bool(p, "closePosition")
        algo = self.account.place_algo(
            _symbol(p), _need(p, "side"), _need(p, "type"), None if close_position else _dec(p, "quantity"),
            _dec(p, "triggerPrice"), reduce_only=_bool(p, "reduceOnly"), close_position=close_position,
            client_id=p.get("clientAlgoId", ""), now_ms=now)
        return self.shapes.algo(algo)

    def query_algo(self, p: Params, now: int) -> dict:
        return self.shapes.algo(self.account.find_algo(p.get("symbol"), *_algo_ref(p)))

    def cancel_algo(self, p: Params, now: int) -> dict:
        return self.shapes.algo_canceled(self.account.cancel_algo(p.get("symbol"), *_algo_ref(p), now_ms=now))

    def open_algos(self, p: Params, now: int) -> list:
        return [self.shapes.algo(a) for a in self.account.open_algos(p.get("symbol"))]

    def all_algos(self, p: Params, now: int) -> list:
        symbol = _symbol(p)
        return [self.shapes.algo(a) for a in self.account.algos.values() if a.symbol == symbol]

    def cancel_all_algos(self, p: Params, now: int) -> dict:
        symbol = _symbol(p)
        for algo in self.account.open_algos(symbol):
            self.account.cancel_algo(symbol, algo.algo_id, None, now)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    # --- account -------------------------------------------------------------------------------

    def account_info(self, p: Params, now: int) -> dict:
        return self.shapes.account_v3(now)

    def balance(self, p: Params, now: int) -> list:
        asset = self.shapes.account_v3(now)["assets"][0]
        return [{"accountAlias": "SgsR", "asset": asset["asset"], "balance": asset["walletBalance"],
                 "crossWalletBalance": asset["crossWalletBalance"], "crossUnPnl": asset["crossUnPnl"],
                 "availableBalance": asset["availableBalance"], "maxWithdrawAmount": asset["maxWithdrawAmount"],
                 "marginAvailable": True, "updateTime": asset["updateTime"]}]

    def position_risk(self, p: Params, now: int, v2: bool = False) -> list:
        symbols = [_symbol(p)] if "symbol" in p else list(self.account.positions)
        held = [s for s in symbols if v2 or self.account.positions[s].amount or self.account.open_orders(s)]
        return [self.shapes.position_risk(s, v2=v2) for s in held]

    def position_risk_v2(self, p: Params, now: int) -> list:
        return self.position_risk(p, now, v2=True)

    def leverage_brackets(self, p: Params, now: int) -> list | dict:
        if "symbol" in p:
            return [leverage_bracket_json(_symbol(p))]
        return [leverage_bracket_json(s) for s in self.account.specs]

    def set_leverage(self, p: Params, now: int) -> dict:
        symbol = _symbol(p)
        try:
            leverage = int(_need(p, "leverage"))
        except ValueError:
            raise rejected(-1100, "Illegal characters found in parameter 'leverage'; legal range is "
                                  "'^[0-9]{1,20}$'.") from None
        position = self.account.set_leverage(symbol, leverage)
        return {"leverage": position.leverage, "maxNotionalValue": "1000000", "symbol": symbol}

    def set_margin_type(self, p: Params, now: int) -> dict:
        self.account.set_margin_type(_symbol(p), _need(p, "marginType").upper(), now)
        return {"code": 200, "msg": "success"}

    def symbol_config(self, p: Params, now: int) -> list:
        symbols = [_symbol(p)] if "symbol" in p else list(self.account.specs)
        return [self.shapes.symbol_config(s) for s in symbols]

    def user_trades(self, p: Params, now: int) -> list:
        """Binance: the symbol's trades in [startTime, endTime], oldest first, at most ``limit`` (500, max 1000)."""
        symbol = _symbol(p)
        start, end = _int_or_none(p, "startTime"), _int_or_none(p, "endTime")
        limit = min(_int_or_none(p, "limit") or 500, 1000)
        rows = [f for f in self.account.fills if f.symbol == symbol and (start is None or f.time_ms >= start)
                and (end is None or f.time_ms <= end)]
        return [self.shapes.trade(f) for f in rows[:limit]]

    def income(self, p: Params, now: int) -> list:
        """Binance's income history: ``symbol``, ``incomeType``, [startTime, endTime], oldest first, ``limit``
        (100, max 1000). The venue's income is funding (FUNDING_FEE)."""
        symbol, kind = p.get("symbol"), p.get("incomeType")
        start, end = _int_or_none(p, "startTime"), _int_or_none(p, "endTime")
        limit = min(_int_or_none(p, "limit") or 100, 1000)
        rows = [i for i in self.account.income if symbol in (None, i.symbol) and kind in (None, i.kind)
                and (start is None or i.time_ms >= start) and (end is None or i.time_ms <= end)]
        return [self.shapes.income(i) for i in rows[:limit]]

    def commission_rate(self, p: Params, now: int) -> dict:
        return {"symbol": _symbol(p), "makerCommissionRate": str(self.account.maker_fee),
                "takerCommissionRate": str(self.account.taker_fee)}

    def set_position_mode(self, p: Params, now: int) -> dict:
        if _bool(p, "dualSidePosition"):
            raise rejected(-4059, "Hedge mode is not available: the venue trades in one-way mode only.")
        raise rejected(-4059, "No need to change position side.")


def _need(p: Params, key: str) -> str:
    value = p.get(key, "")
    if value == "":
        raise rejected(-1102, f"Mandatory parameter '{key}' was not sent, was empty/null, or malformed.")
    return value


def _symbol(p: Params) -> str:
    return _need(p, "symbol").upper()


def _dec(p: Params, key: str, *default) -> Decimal | None:
    if key not in p and default:
        return default[0]
    try:
        return Decimal(_need(p, key))
    except InvalidOperation:
        raise rejected(-1100, f"Illegal characters found in parameter '{key}'; legal range is "
                              "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.") from None


def _bool(p: Params, key: str) -> bool:
    return p.get(key, "false").lower() == "true"


def _int_or_none(p: Params, key: str) -> int | None:
    if key not in p:
        return None
    try:
        return int(p[key])
    except ValueError:
        raise rejected(-1100, f"Illegal characters found in parameter '{key}'; legal range is "
                              "'^[0-9]{1,20}$'.") from None


def _order_ref(p: Params) -> tuple[int | None, str | None]:
    order_id, client_id = _int_or_none(p, "orderId"), p.get("origClientOrderId")
    if order_id is None and not client_id:
        raise rejected(-1102, "Param 'orderId' or 'origClientOrderId' must be sent, but both were empty/null!")
    return order_id, client_id


def _algo_ref(p: Params) -> tuple[int | None, str | None]:
    algo_id, client_id = _int_or_none(p, "algoId"), p.get("clientAlgoId")
    if algo_id is None and not client_id:
        raise rejected(-1102, "Param 'algoId' or 'clientAlgoId' must be sent, but both were empty/null!")
    return algo_id, client_id


def _one_way(p: Params) -> None:
    if p.get("positionSide", "BOTH") != "BOTH":
        raise rejected(-4061, "Order's position side does not match user's setting.")
