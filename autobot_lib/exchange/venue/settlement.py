"""Fills and funding: what a trade or a funding settlement does to the margin book, and the record of
each (``fills``: the account's trades, ``GET /fapi/v1/userTrades``; ``income``: funding fees,
``GET /fapi/v1/income``). Fees are the account's (``taker_fee``, ``maker_fee``).
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from autobot_lib.exchange.venue.margin import MarginBook
from autobot_lib.exchange.venue.records import Event, Fill, Income, Order, emit
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE

TAKER_FEE = Decimal(repr(BINANCE_TAKER_FEE))  # Binance USD-M regular tier: 0.05 % taker, 0.02 % maker
MAKER_FEE = Decimal(repr(BINANCE_MAKER_FEE))
_ZERO = Decimal(0)


class Settlement:
    def __init__(self, margin: MarginBook, events: list[Event], taker_fee: Decimal, maker_fee: Decimal):
        self.margin = margin
        self.events = events
        self.taker_fee, self.maker_fee = Decimal(taker_fee), Decimal(maker_fee)
        self.fills: list[Fill] = []
        self.income: list[Income] = []
        # ids in the ranges Binance's look like, so they never collide with order or algo ids
        self._trade_ids = itertools.count(700_000_001)
        self._tran_ids = itertools.count(900_000_001)

    def fill(self, order: Order, price: Decimal, maker: bool, now_ms: int) -> None:
        """Fill what is left of ``order`` at ``price``."""
        position = self.margin.positions[order.symbol]
        qty = order.qty - order.executed
        if order.reduce_only:
            qty = min(qty, abs(position.amount)) if position.amount * order.sign < 0 else _ZERO
            if not qty:  # nothing left to reduce: Binance expires it
                order.status, order.update_ms = "EXPIRED", now_ms
                emit(self.events, Event("order", now_ms, order))
                return
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        realized = self.margin.trade(order.symbol, order.sign * qty, price, fee, now_ms)
        order.executed += qty
        order.cum_quote += price * qty
        order.status, order.update_ms = "FILLED", now_ms
        fill = Fill(next(self._trade_ids), order.order_id, order.symbol, order.side, price, qty, fee, realized,
                    maker, now_ms)
        self.fills.append(fill)
        emit(self.events, Event("order", now_ms, order, fill))
        emit(self.events, Event("account", now_ms, reason="ORDER", symbols=(order.symbol,)))

    def apply_funding(self, symbol: str, rate: Decimal, time_ms: int) -> Decimal:
        """Longs pay shorts ``rate`` x notional at a positive rate; returns what this account paid."""
        position = self.margin.positions.get(symbol)
        if position is None or not position.amount:
            return _ZERO
        paid = self.margin.notional(symbol) * Decimal(rate)
        self.margin.debit(paid)
        self.income.append(Income(next(self._tran_ids), symbol, "FUNDING_FEE", -paid, time_ms))
        emit(self.events, Event("account", time_ms, reason="FUNDING_FEE", symbols=(symbol,)))
        return paid
