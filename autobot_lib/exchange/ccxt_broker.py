"""The broker port over the real ccxt Binance USD-M client (asyncio): TESTNET, LIVE, or the local venue.

- TESTNET is Binance **demo trading** (``enable_demo_trading(True)``; ``set_sandbox_mode`` raises for
  futures). LIVE is the real exchange. ``base_url`` points the same client at the local venue.
- ccxt's own throttle is off: the engine's :class:`~autobot_lib.exchange.ratelimit.RateLimiter`
  follows Binance's windows and headers instead (ccxt would space order calls 200 ms apart).
- STOP_MARKET / TAKE_PROFIT_MARKET go through Binance's Algo Order API (ccxt routes conditional orders
  there and names their client id ``clientAlgoId``); finding and cancelling them says ``trigger``.
- Every ccxt error becomes a :class:`~autobot_lib.exchange.ports.BrokerError` with its policy (Binance's
  code through :mod:`autobot_lib.exchange.errors`, the table the paper broker reads too); the message is
  ccxt's minus anything that could carry the key or a signature.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async

from autobot_lib.data.download import exchange_id
from autobot_lib.exchange.errors import BINANCE_POLICIES, policy_for
from autobot_lib.exchange.ports import (
    Balance, BrokerError, ErrorPolicy, ExchangePosition, FundingFee, OrderResult, TradeFill,
)
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.model import MarketFilters

# OperationFailed: network errors, timeouts, rate limits, and 5xx answers (Binance: "execution status
# unknown", so the order manager looks the order up before sending it again)
_RETRY = (ccxt.OperationFailed,)
_HALT = (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)
_SECRETISH = re.compile(r"(signature|apiKey|X-MBX-APIKEY|secret)=?[^&\s\"']*", re.IGNORECASE)
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')


def translate(exc: Exception, what: str) -> BrokerError:
    """ccxt's exception as a BrokerError. A Binance code in the body decides through the shared table
    (:data:`~autobot_lib.exchange.errors.BINANCE_POLICIES`); rate limits and bans ccxt read from the HTTP
    status stay RETRY; without a known code, ccxt's class: transient -> RETRY, account/keys -> HALT, the
    rest -> VETO."""
    text = _SECRETISH.sub(r"\1=<hidden>", str(exc))[:300]
    found = _CODE.search(text)
    code = int(found.group(1)) if found else None
    if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        policy = ErrorPolicy.RETRY
    elif code in BINANCE_POLICIES:
        policy = policy_for(code)
    else:
        policy = ErrorPolicy.RETRY if isinstance(exc, _RETRY) else ErrorPolicy.HALT if isinstance(exc, _HALT) \
            else ErrorPolicy.VETO
    return BrokerError(f"{what}: {type(exc).__name__}: {text}", policy, code)


def market_filters(market: dict) -> MarketFilters:
    """A ccxt market's exchangeInfo filters (tick size, step size, min qty, min notional)."""
    filters = {f["filterType"]: f for f in market["info"].get("filters", [])}
    return MarketFilters.of(filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"],
                            filters["LOT_SIZE"]["minQty"], filters.get("MIN_NOTIONAL", {}).get("notional", "5"))


class CcxtBroker:
    def __init__(self, api_key: str, secret: str, *, mode: str = "testnet", base_url: str | None = None,
                 limiter: RateLimiter | None = None, timeout_ms: int = 10_000, follow_exchange_limits: bool = True):
        if mode not in ("testnet", "live", "venue"):
            raise ValueError(f"mode {mode!r} is not valid: use testnet, live or venue (with base_url)")
        if mode == "venue" and not base_url:
            raise ValueError("mode 'venue' needs base_url, e.g. http://127.0.0.1:8765")
        self.name = mode
        self.limiter = limiter or RateLimiter()
        self.follow_exchange_limits = follow_exchange_limits and limiter is None   # a given limiter is kept
        self.exchange = ccxt_async.binanceusdm({"apiKey": api_key, "secret": secret, "enableRateLimit": False,
                                                "timeout": timeout_ms, "options": {"fetchCurrencies": False}})
        if mode == "testnet":
            self.exchange.enable_demo_trading(True)
        elif mode == "venue":
            from autobot_lib.exchange.venue.client import point_at
            point_at(self.exchange, base_url)
        self._ids: dict[str, str] = {}     # BTCUSDT -> BTC/USDT:USDT

    def __repr__(self) -> str:          # never the keys
        return f"CcxtBroker(mode={self.name!r})"

    async def _call(self, what: str, fn, *args, weight: int = 1, **kwargs) -> Any:
        await self.limiter.acquire(weight)
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - every ccxt error is translated, none escapes raw
            if isinstance(exc, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
                self.limiter.back_off(418 if "418" in str(exc) else 429, None)
            raise translate(exc, what) from None
        headers = getattr(self.exchange, "last_response_headers", None) or {}
        self.limiter.observe(headers)
        return result

    def _symbol(self, symbol: str) -> str:
        return self._ids[symbol]

    async def markets(self, symbols: list[str]) -> dict[str, MarketFilters]:
        await self._call("load markets", self.exchange.load_markets, weight=1)
        if self.follow_exchange_limits:
            info = await self._call("exchange info", self.exchange.fapiPublicGetExchangeInfo, weight=1)
            if info.get("rateLimits"):
                self.limiter.configure(info["rateLimits"])
        out = {}
        for symbol in symbols:
            found = self.exchange.markets_by_id.get(symbol)
            if not found:
                raise BrokerError(f"{symbol} is not a USD-M market here: check the symbol", ErrorPolicy.HALT)
            market = found[0]
            self._ids[symbol] = market["symbol"]
            out[symbol] = market_filters(market)
        return out

    async def configure(self, symbol: str, leverage: int, isolated: bool) -> None:
        s = self._symbol(symbol)
        await self._call(f"{symbol} leverage", self.exchange.set_leverage, leverage, s)
        try:
            await self._call(f"{symbol} margin type", self.exchange.set_margin_mode,
                             "isolated" if isolated else "cross", s)
        except BrokerError as exc:
            if exc.code != -4046:          # "No need to change margin type": already so
                raise

    def _result(self, order: dict, kind: str) -> OrderResult:
        info = order.get("info") or {}
        return OrderResult(
            info.get("symbol") or exchange_id(order.get("symbol") or ""),
            order.get("clientOrderId") or info.get("clientAlgoId") or info.get("clientOrderId") or "",
            str(order.get("id") or info.get("algoId") or ""), str(info.get("status") or info.get("algoStatus")
                                                                   or order.get("status") or ""),
            str(order.get("side") or "").upper(), Decimal(str(order.get("amount") or 0)),
            Decimal(str(order.get("filled") or 0)), Decimal(str(order.get("average") or 0)), kind,
            Decimal(str(order["triggerPrice"])) if order.get("triggerPrice") else None,
            bool(order.get("reduceOnly")))

    async def market_order(self, symbol: str, side: str, qty: Decimal, client_id: str,
                           reduce_only: bool = False) -> OrderResult:
        params = {"newClientOrderId": client_id, **({"reduceOnly": True} if reduce_only else {})}
        order = await self._call(f"{symbol} market {side}", self.exchange.create_order, self._symbol(symbol), "market",
                                 side.lower(), float(qty), None, params)
        if not order.get("filled") and order.get("id"):
            order = await self._call(f"{symbol} order status", self.exchange.fetch_order, order["id"],
                                     self._symbol(symbol))
        return self._result(order, "MARKET")

    async def protective_order(self, symbol: str, side: str, qty: Decimal, trigger: Decimal, client_id: str,
                               kind: str = "STOP_MARKET") -> OrderResult:
        params = {"clientAlgoId": client_id, "reduceOnly": True,
                  ("stopLossPrice" if kind == "STOP_MARKET" else "takeProfitPrice"): float(trigger)}
        order = await self._call(f"{symbol} {kind}", self.exchange.create_order, self._symbol(symbol), "market",
                                 side.lower(), float(qty), None, params)
        return self._result(order, kind)

    async def cancel_protective(self, symbol: str, client_id: str) -> None:
        await self._call(f"{symbol} cancel {client_id}", self.exchange.cancel_order, None, self._symbol(symbol),
                         {"clientAlgoId": client_id, "trigger": True})

    async def find_order(self, symbol: str, client_id: str) -> OrderResult | None:
        """The order with this client id: a regular order (a triggered stop's market order among them),
        else an algo order (a stop or target, standing, cancelled or expired); None when neither exists."""
        for params in ({"clientOrderId": client_id}, {"clientAlgoId": client_id, "trigger": True}):
            try:
                order = await self._call(f"{symbol} find {client_id}", self.exchange.fetch_order, None,
                                         self._symbol(symbol), params)
            except BrokerError as exc:
                if exc.policy is ErrorPolicy.VETO:     # unknown order
                    continue
                raise
            kind = str((order.get("info") or {}).get("orderType") or "MARKET") if "trigger" in params else "MARKET"
            return self._result(order, kind)
        return None

    async def positions(self) -> dict[str, ExchangePosition]:
        rows = await self._call("positions", self.exchange.fetch_positions, [self._ids[s] for s in self._ids], weight=5)
        out = {}
        for p in rows:
            info = p.get("info") or {}
            amount = Decimal(str(info.get("positionAmt", "0")))
            if amount != 0:
                out[info["symbol"]] = ExchangePosition(info["symbol"], amount, Decimal(str(info.get("entryPrice", "0"))))
        return out

    async def protective_orders(self) -> list[OrderResult]:
        out = []
        for symbol, s in self._ids.items():
            orders = await self._call(f"{symbol} open algo orders", self.exchange.fetch_open_orders, s, None, None,
                                      {"trigger": True})
            out += [self._result(o, str((o.get("info") or {}).get("orderType") or o.get("type") or "").upper())
                    for o in orders]
        return out

    async def balance(self) -> Balance:
        b = await self._call("balance", self.exchange.fetch_balance, weight=5)
        info = b.get("info") or {}
        wallet = Decimal(str(info.get("totalWalletBalance", b.get("total", {}).get("USDT", 0))))
        unrealized = Decimal(str(info.get("totalUnrealizedProfit", 0)))
        available = Decimal(str(info.get("availableBalance", b.get("free", {}).get("USDT", 0))))
        return Balance(wallet, available, wallet + unrealized)

    async def fills(self, symbol: str, since_ms: int) -> list[TradeFill]:
        """The symbol's executions since ``since_ms`` (``GET /fapi/v1/userTrades``, oldest first)."""
        rows = await self._call(f"{symbol} trades", self.exchange.fetch_my_trades, self._symbol(symbol), since_ms, 1000,
                                weight=5)
        out = []
        for t in rows:
            info = t.get("info") or {}
            out.append(TradeFill(symbol, str(t.get("order") or info.get("orderId") or ""), str(t["side"]).upper(),
                                 Decimal(str(info.get("price", t["price"]))), Decimal(str(info.get("qty", t["amount"]))),
                                 Decimal(str(info.get("commission", (t.get("fee") or {}).get("cost") or 0))),
                                 Decimal(str(info.get("realizedPnl", 0))), int(t["timestamp"])))
        return out

    async def funding_fees(self, symbol: str, since_ms: int) -> list[FundingFee]:
        """The symbol's funding settlements since ``since_ms`` (``GET /fapi/v1/income``, FUNDING_FEE)."""
        rows = await self._call(f"{symbol} funding", self.exchange.fetch_funding_history, self._symbol(symbol),
                                since_ms, 1000, weight=30)
        return [FundingFee(symbol, -Decimal(str((r.get("info") or {}).get("income", r.get("amount", 0)))),
                           int(r["timestamp"])) for r in rows]

    async def server_time_ms(self) -> int:
        return int(await self._call("server time", self.exchange.fetch_time))

    async def close(self) -> None:
        await self.exchange.close()
