"""Order manager: intents become exchange orders, safely.

- Every order has a deterministic client order id (symbol, decided bar, role), so a retried submission
  finds the first one instead of doubling it: after a transient failure the manager asks the exchange
  for that id before sending again.
- A position is never left unprotected on purpose: a new stop is placed before the old one is
  cancelled, and an entry whose stop cannot be placed is closed again at once (fail closed).
- Exchange errors arrive classified (:class:`~autobot_lib.exchange.ports.ErrorPolicy`): RETRY is
  retried with capped back-off, VETO and HALT go to the caller, who alerts (and halts on HALT).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy, OrderResult
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.model import MarketFilters, Position, Side
from autobot_lib.risk.sizing import round_down, round_price


def client_id(symbol: str, bar_ms: int, role: str) -> str:
    """``ab-<symbol>-<bar open, seconds, hex>-<role>``: at most 36 characters, Binance's limit."""
    return f"ab-{symbol[:16]}-{bar_ms // 1000:x}-{role}"[:36]


def order_side(position_side: Side, closing: bool) -> str:
    return ("SELL" if position_side is Side.LONG else "BUY") if closing else (
        "BUY" if position_side is Side.LONG else "SELL")


@dataclass
class Protection:
    """The protective orders standing for one position."""

    stop_id: str | None = None
    stop_price: Decimal | None = None
    target_id: str | None = None
    generation: int = 0              # bumps with every replacement, so each order gets a fresh id


@dataclass
class OrderManager:
    broker: Broker
    filters: dict[str, MarketFilters]
    limiter: RateLimiter = field(default_factory=RateLimiter)
    retries: int = 4
    backoff_s: float = 0.2
    latencies: list[float] = field(default_factory=list)   # seconds per acknowledged order
    acked: deque = field(default_factory=lambda: deque(maxlen=10_000))   # (client id, loop time of its ack)

    async def _call(self, symbol: str, cid: str, send):
        """Send with retries; after a transient failure, look for the order before sending again."""
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            if attempt:
                found = await self.broker.find_order(symbol, cid)
                if found is not None:
                    return found
            await self.limiter.acquire(order=True)
            started = asyncio.get_running_loop().time()
            try:
                result = await send()
            except BrokerError as exc:
                if exc.policy is not ErrorPolicy.RETRY or attempt == self.retries:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            now = asyncio.get_running_loop().time()
            self.latencies.append(now - started)
            self.acked.append((cid, now))
            return result
        raise AssertionError("unreachable")

    def qty(self, symbol: str, qty: float | Decimal) -> Decimal:
        return round_down(qty, self.filters[symbol].step_size)

    async def market(self, symbol: str, side: str, qty: Decimal, cid: str, reduce_only: bool = False) -> OrderResult:
        return await self._call(symbol, cid, lambda: self.broker.market_order(symbol, side, qty, cid, reduce_only))

    async def protect(self, position: Position, bar_ms: int, protection: Protection) -> Protection:
        """Place a stop (and the target, if any) for ``position``, then cancel what they replace."""
        symbol = position.symbol
        filters = self.filters[symbol]
        generation = protection.generation + 1
        qty = self.qty(symbol, position.qty)
        stop_price = round_price(position.stop, filters)
        stop_id = client_id(symbol, bar_ms, f"S{generation}")
        await self._call(symbol, stop_id, lambda: self.broker.protective_order(
            symbol, order_side(position.side, True), qty, stop_price, stop_id, "STOP_MARKET"))
        target_id = None
        if position.take_profit is not None:
            target_id = client_id(symbol, bar_ms, f"T{generation}")
            target = round_price(position.take_profit, filters)
            await self._call(symbol, target_id, lambda: self.broker.protective_order(
                symbol, order_side(position.side, True), qty, target, target_id, "TAKE_PROFIT_MARKET"))
        await self.cancel(symbol, protection)
        return Protection(stop_id, stop_price, target_id, generation)

    async def cancel(self, symbol: str, protection: Protection) -> None:
        for cid in (protection.stop_id, protection.target_id):
            if cid:
                try:
                    await self.broker.cancel_protective(symbol, cid)
                except BrokerError as exc:
                    if exc.policy is not ErrorPolicy.VETO:   # VETO here: already gone (filled or cancelled)
                        raise
