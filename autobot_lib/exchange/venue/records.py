"""What the venue's account keeps: orders, algo orders, fills, positions, income, and the events the
user-data stream reports. Plain records; the account's parts (:mod:`margin`, :mod:`orders`,
:mod:`settlement`, :mod:`matching`) change them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

DEFAULT_LEVERAGE = 20
_ZERO = Decimal(0)


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str                # BUY / SELL
    type: str                # MARKET / LIMIT
    qty: Decimal
    price: Decimal           # 0 for MARKET
    reduce_only: bool
    time_in_force: str
    time_ms: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    update_ms: int = 0
    orig_type: str = ""      # the algo order type that placed it, if any
    stop_price: Decimal = _ZERO

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else _ZERO


@dataclass
class AlgoOrder:
    algo_id: int
    client_id: str
    symbol: str
    side: str
    type: str                # STOP_MARKET / TAKE_PROFIT_MARKET
    qty: Decimal             # 0 with close_position
    trigger: Decimal
    reduce_only: bool
    close_position: bool
    create_ms: int
    status: str = "NEW"      # NEW, CANCELED, TRIGGERED, FINISHED, EXPIRED, REJECTED
    update_ms: int = 0
    trigger_ms: int = 0
    actual_order_id: int | None = None
    fill_price: Decimal = _ZERO
    filled: Decimal = _ZERO
    reason: str = ""

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"

    @property
    def falls_to_trigger(self) -> bool:
        """A sell stop and a buy take-profit fire when the price falls to the trigger."""
        return (self.type == "STOP_MARKET") == (self.side == "SELL")


@dataclass(frozen=True)
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    fee: Decimal
    realized_pnl: Decimal
    maker: bool
    time_ms: int


@dataclass
class Position:
    symbol: str
    leverage: int = DEFAULT_LEVERAGE
    isolated: bool = False
    amount: Decimal = _ZERO          # signed: + long, - short
    entry: Decimal = _ZERO
    isolated_wallet: Decimal = _ZERO  # margin moved into an isolated position
    update_ms: int = 0


@dataclass(frozen=True)
class Income:
    """A change to the wallet that is not a trade (Binance's income history): a funding fee."""

    tran_id: int
    symbol: str
    kind: str                        # FUNDING_FEE
    amount: Decimal                  # what the account received (negative: paid)
    time_ms: int


@dataclass(frozen=True)
class Event:
    """Something the user-data stream reports: an order, an algo order or an account change."""

    kind: str                        # "order" | "algo" | "account"
    time_ms: int
    order: Order | AlgoOrder | None = None
    fill: Fill | None = None
    reason: str = "ORDER"            # account changes: ORDER, FUNDING_FEE, MARGIN_TYPE_CHANGE
    symbols: tuple[str, ...] = ()


def emit(events: list[Event], event: Event) -> None:
    """Queue ``event`` for the user-data stream."""
    # a snapshot: the order keeps changing after the event is queued
    events.append(Event(event.kind, event.time_ms, copy.copy(event.order), event.fill, event.reason,
                        event.symbols))
