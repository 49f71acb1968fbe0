"""Order manager: intents become exchange orders, safely.

- Every order has a deterministic client order id (symbol, decided bar, role), so a retried submission
  finds the first one instead of doubling it: after a transient failure the manager asks the exchange
  for that id before sending again.
- A position is never left unprotected on purpose: a new stop is placed before the old one is
  cancelled. The stop always covers the whole position, at the model's trigger (on the tick grid, as the
  backtester holds it). The take profit is the model's single target (covering the position) or the
  ladder: one reduce-only TAKE_PROFIT_MARKET per level still to fill, with that level's quantity, placed
  once and left to fill.
- A stop the price has already passed is refused by Binance (-2021): :class:`StopWouldTrigger` tells the
  caller, who closes the position at market (where the backtester books that stop: at the next open),
  instead of counting an error.
- Exchange errors arrive classified (:class:`~autobot_lib.exchange.ports.ErrorPolicy`): RETRY is
  retried with capped back-off, VETO and HALT go to the caller, who alerts (and halts on HALT).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import Decimal

from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy, OrderResult
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.model import MarketFilters, Position, Side
from autobot_lib.risk.sizing import round_down, round_price

WOULD_TRIGGER = -2021


def client_id(symbol: str, bar_ms: int, role: str) -> str:
    """``ab-<symbol>-<bar open, seconds, hex>-<role>``: at most 36 characters, Binance's limit."""
    return f"ab-{symbol[:16]}-{bar_ms // 1000:x}-{role}"[:36]


def order_side(position_side: Side, closing: bool) -> str:
    return ("SELL" if position_side is Side.LONG else "BUY") if closing else (
        "BUY" if position_side is Side.LONG else "SELL")


class StopWouldTrigger(BrokerError):
    """The exchange refused a stop because the price has already passed it (Binance -2021)."""


@dataclass(frozen=True)
class Protection:
    """The protective orders standing for one position."""

    stop_id: str | None = None
    stop_price: Decimal | None = None
    stop_qty: Decimal | None = None
    target_id: str | None = None     # the single take profit, covering the position
    target_qty: Decimal | None = None
    ladder: tuple[tuple[int, str], ...] = ()   # (level, client id) of the ladder's take profits placed
    generation: int = 0              # bumps with every replacement, so each order gets a fresh id

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c for c in (self.stop_id, self.target_id, *(cid for _, cid in self.ladder)) if c)


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

    async def _conditional(self, position: Position, kind: str, qty: Decimal, trigger: Decimal, cid: str) -> None:
        symbol = position.symbol
        try:
            await self._call(symbol, cid, lambda: self.broker.protective_order(
                symbol, order_side(position.side, True), qty, trigger, cid, kind))
        except BrokerError as exc:
            if exc.code == WOULD_TRIGGER and kind == "STOP_MARKET":
                raise StopWouldTrigger(str(exc), exc.policy, exc.code) from exc
            raise

    async def protect(self, position: Position, bar_ms: int, protection: Protection,
                      ladder: list[tuple[int, float, float]] = ()) -> tuple[Protection, list[str]]:
        """The stop for ``position`` (a new one replaces the standing one, placed first), its single target
        when the quantity it must cover changed, and the ``ladder`` levels (level, trigger, quantity) not
        yet placed. Returns the protection and the refusals of targets (the stop stands without them).
        Raises :class:`StopWouldTrigger` when the price has passed the stop, and any other refusal of the
        stop, leaving the standing orders as they were."""
        symbol = position.symbol
        filters = self.filters[symbol]
        generation = protection.generation + 1
        qty = self.qty(symbol, position.qty)
        stop_price = round_price(position.stop, filters)
        stop_id = client_id(symbol, bar_ms, f"S{generation}")
        await self._conditional(position, "STOP_MARKET", qty, stop_price, stop_id)
        new = replace(protection, stop_id=stop_id, stop_price=stop_price, stop_qty=qty, generation=generation)
        replaced, refused = [protection.stop_id], []
        if position.take_profit is not None and (protection.target_id is None or protection.target_qty != qty):
            target_id = client_id(symbol, bar_ms, f"T{generation}")
            try:
                await self._conditional(position, "TAKE_PROFIT_MARKET", qty,
                                        round_price(position.take_profit, filters), target_id)
                replaced.append(protection.target_id)
                new = replace(new, target_id=target_id, target_qty=qty)
            except BrokerError as exc:
                refused.append(str(exc))
        placed = dict(new.ladder)
        for level, trigger, part in ladder:
            if level not in placed:
                cid = client_id(symbol, bar_ms, f"L{level}")
                try:
                    await self._conditional(position, "TAKE_PROFIT_MARKET", self.qty(symbol, part),
                                            round_price(trigger, filters), cid)
                    placed[level] = cid
                except BrokerError as exc:
                    refused.append(str(exc))
        new = replace(new, ladder=tuple(sorted(placed.items())))
        for cid in replaced:
            await self.cancel_one(symbol, cid)
        return new, refused

    async def cancel_one(self, symbol: str, cid: str | None) -> None:
        if cid:
            try:
                await self.broker.cancel_protective(symbol, cid)
            except BrokerError as exc:
                if exc.policy is not ErrorPolicy.VETO:   # VETO here: already gone (filled or cancelled)
                    raise

    async def cancel(self, symbol: str, protection: Protection) -> None:
        """Every protective order of ``protection`` (those already filled or gone are fine)."""
        for cid in protection.ids:
            await self.cancel_one(symbol, cid)
