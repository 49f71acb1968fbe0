"""The broker port: what the live engine needs from an exchange, and nothing else.

Adapters: :class:`~autobot_lib.exchange.paper.PaperBroker` (DRY_RUN: the local venue's matching engine
in-process, fed live bars) and :class:`~autobot_lib.exchange.ccxt_broker.CcxtBroker` (TESTNET = Binance
demo trading, LIVE, or the local venue over HTTP). Changing mode swaps the adapter; the core never asks
which one it has.

Quantities and prices cross the port as Decimal, already rounded to the market's filters. Sides are the
order's: BUY or SELL. Protective orders (STOP_MARKET, TAKE_PROFIT_MARKET) are Binance algo orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from autobot_lib.model import MarketFilters


class ErrorPolicy(StrEnum):
    """What the engine does about a failed exchange call."""

    RETRY = "retry"              # transient: network, timeout, 5xx, rate limit (after the back-off)
    VETO = "veto"                # this order cannot go (margin, filters, would trigger): skip it and alert
    HALT = "halt"                # the account or the keys are wrong: stop trading and alert


class BrokerError(Exception):
    """An exchange call failed; ``policy`` says what to do. Messages never carry keys or signatures."""

    def __init__(self, message: str, policy: ErrorPolicy, code: int | None = None):
        super().__init__(message)
        self.policy, self.code = policy, code


@dataclass(frozen=True)
class OrderResult:
    symbol: str
    client_id: str
    order_id: str
    status: str                  # NEW | FILLED | CANCELED | ...
    side: str
    qty: Decimal
    filled: Decimal
    avg_price: Decimal
    kind: str = "MARKET"         # MARKET | STOP_MARKET | TAKE_PROFIT_MARKET
    trigger: Decimal | None = None
    reduce_only: bool = False


@dataclass(frozen=True)
class ExchangePosition:
    symbol: str
    amount: Decimal              # signed: + long, - short
    entry_price: Decimal


@dataclass(frozen=True)
class TradeFill:
    """One execution of the account's (Binance ``userTrades``): what a trade record is built from."""

    symbol: str
    order_id: str
    side: str                    # BUY | SELL
    price: Decimal
    qty: Decimal
    fee: Decimal                 # commission paid, in the quote asset
    realized_pnl: Decimal
    time_ms: int


@dataclass(frozen=True)
class FundingFee:
    """One funding settlement (Binance income FUNDING_FEE); ``paid`` > 0 when the account paid."""

    symbol: str
    paid: Decimal
    time_ms: int


@dataclass(frozen=True)
class Balance:
    wallet: Decimal
    available: Decimal
    equity: Decimal              # wallet + unrealized


class Broker(Protocol):
    name: str

    async def markets(self, symbols: list[str]) -> dict[str, MarketFilters]: ...

    async def configure(self, symbol: str, leverage: int, isolated: bool) -> None: ...

    async def market_order(self, symbol: str, side: str, qty: Decimal, client_id: str,
                           reduce_only: bool = False) -> OrderResult: ...

    async def protective_order(self, symbol: str, side: str, qty: Decimal, trigger: Decimal, client_id: str,
                               kind: str = "STOP_MARKET") -> OrderResult: ...

    async def cancel_protective(self, symbol: str, client_id: str) -> None: ...

    async def find_order(self, symbol: str, client_id: str) -> OrderResult | None: ...

    async def positions(self) -> dict[str, ExchangePosition]: ...

    async def protective_orders(self) -> list[OrderResult]: ...

    async def balance(self) -> Balance: ...

    async def fills(self, symbol: str, since_ms: int) -> list[TradeFill]: ...

    async def funding_fees(self, symbol: str, since_ms: int) -> list[FundingFee]: ...

    async def server_time_ms(self) -> int: ...

    async def close(self) -> None: ...
