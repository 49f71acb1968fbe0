"""The account's order book: orders (MARKET, LIMIT) and conditional algo orders (STOP_MARKET,
TAKE_PROFIT_MARKET) with Binance's checks on arrival, cancels and look-ups, and the margin the open ones
hold back. A marketable order fills at once, a triggered algo order becomes a market order
(:mod:`settlement` books both); resting ones wait for :mod:`matching`.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

from autobot_lib.exchange.venue import errors as E
from autobot_lib.exchange.venue.errors import rejected
from autobot_lib.exchange.venue.margin import MarginBook, opening_qty
from autobot_lib.exchange.venue.market import SymbolSpec
from autobot_lib.exchange.venue.records import AlgoOrder, Event, Order, emit
from autobot_lib.exchange.venue.settlement import Settlement

ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
_ZERO = Decimal(0)


class OrderBook:
    def __init__(self, margin: MarginBook, settlement: Settlement, events: list[Event]):
        self.margin = margin
        self.settlement = settlement
        self.events = events
        self.orders: dict[int, Order] = {}
        self.algos: dict[int, AlgoOrder] = {}
        # ids in the ranges Binance's look like, so they never collide between the two kinds
        self._order_ids = itertools.count(4_000_000_001)
        self._algo_ids = itertools.count(3_000_000_001)

    # --- views ---------------------------------------------------------------------------------

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.algos.values() if a.is_open and symbol in (None, a.symbol)]

    def open_order_margin(self, symbol: str | None = None) -> Decimal:
        total = _ZERO
        for o in self.open_orders(symbol):
            if not o.reduce_only:
                position = self.margin.positions[o.symbol]
                total += opening_qty(position, o.sign, o.qty - o.executed) * o.price / position.leverage
        return total

    def available(self) -> Decimal:
        """Binance's availableBalance: what the margin book leaves free once open orders hold their margin."""
        return self.margin.available(self.open_order_margin())

    # --- orders ----------------------------------------------------------------------------------

    def place_order(self, symbol: str, side: str, type: str, qty: Decimal, price: Decimal | None, *,
                    reduce_only: bool = False, time_in_force: str = "GTC", client_id: str = "",
                    now_ms: int) -> Order:
        spec = self.margin.spec(symbol)
        _check_side(side)
        if type in ALGO_TYPES or type in ("STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET"):
            raise rejected(*E.ALGO_ENDPOINT_ONLY)
        if type not in ("MARKET", "LIMIT"):
            raise rejected(*E.BAD_TYPE)
        qty = _check_qty(spec, qty)
        limit = _check_price(spec, price) if type == "LIMIT" else _ZERO
        if client_id and any(o.client_id == client_id for o in self.open_orders()):
            raise rejected(*E.DUPLICATE_CLIENT_ID)
        position, sign = self.margin.positions[symbol], (1 if side == "BUY" else -1)
        if reduce_only:
            if position.amount * sign >= 0:
                raise rejected(*E.REDUCE_ONLY_REJECTED)
            qty = min(qty, abs(position.amount))
        mark = self.margin.price(symbol)
        marketable = type == "MARKET" or (limit - mark) * sign >= 0
        fill_price = mark if marketable else limit
        if not reduce_only and qty * fill_price < Decimal(spec.min_notional):
            raise rejected(-4164, f"Order's notional must be no smaller than {spec.min_notional} "
                                  "(unless you choose reduce only).")
        opening = opening_qty(position, sign, qty)
        if opening and not reduce_only:
            need = opening * fill_price / position.leverage + (qty * fill_price * self.settlement.taker_fee
                                                               if marketable else 0)
            if need > self.available():
                raise rejected(*E.INSUFFICIENT_MARGIN)
        order_id = next(self._order_ids)
        order = Order(order_id, client_id or f"venue-{order_id}", symbol, side, type, qty, limit, reduce_only,
                      time_in_force if type == "LIMIT" else "GTC", now_ms, update_ms=now_ms)
        self.orders[order_id] = order
        emit(self.events, Event("order", now_ms, order))
        if marketable:
            self.settlement.fill(order, fill_price, maker=False, now_ms=now_ms)
        return order

    def place_algo(self, symbol: str, side: str, type: str, qty: Decimal | None, trigger: Decimal, *,
                   reduce_only: bool = False, close_position: bool = False, client_id: str = "",
                   now_ms: int) -> AlgoOrder:
        spec = self.margin.spec(symbol)
        _check_side(side)
        if type not in ALGO_TYPES:
            raise rejected(-1116, f"Invalid orderType: the venue takes {' and '.join(ALGO_TYPES)} "
                                  "through the algo endpoint.")
        trigger = _check_price(spec, trigger)
        qty = _ZERO if close_position else _check_qty(spec, qty)
        if client_id and any(a.client_id == client_id for a in self.open_algos()):
            raise rejected(*E.DUPLICATE_ALGO_ID)
        algo_id = next(self._algo_ids)
        algo = AlgoOrder(algo_id, client_id or f"venue-algo-{algo_id}", symbol, side, type, qty, trigger,
                         reduce_only or close_position, close_position, now_ms, update_ms=now_ms)
        mark = self.margin.price(symbol)
        if (mark <= trigger) if algo.falls_to_trigger else (mark >= trigger):
            raise rejected(*E.WOULD_TRIGGER)
        self.algos[algo_id] = algo
        emit(self.events, Event("algo", now_ms, algo))
        return algo

    def cancel_order(self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int) -> Order:
        order = _find(self.orders, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise rejected(*E.UNKNOWN_ORDER)
        order.status, order.update_ms = "CANCELED", now_ms
        emit(self.events, Event("order", now_ms, order))
        return order

    def cancel_algo(self, symbol: str, algo_id: int | None, client_id: str | None, now_ms: int) -> AlgoOrder:
        algo = _find(self.algos, symbol, algo_id, client_id)
        if algo is None or not algo.is_open:
            raise rejected(*E.UNKNOWN_ORDER)
        algo.status, algo.update_ms = "CANCELED", now_ms
        emit(self.events, Event("algo", now_ms, algo))
        return algo

    def find_order(self, symbol: str, order_id: int | None, client_id: str | None) -> Order:
        order = _find(self.orders, symbol, order_id, client_id)
        if order is None:
            raise rejected(*E.NO_SUCH_ORDER)
        return order

    def find_algo(self, symbol: str | None, algo_id: int | None, client_id: str | None) -> AlgoOrder:
        algo = _find(self.algos, symbol, algo_id, client_id)
        if algo is None:
            raise rejected(*E.NO_SUCH_ORDER)
        return algo

    def trigger(self, algo: AlgoOrder, price: Decimal, now_ms: int) -> None:
        """The price reached ``algo``'s trigger: it becomes a market order filled at ``price``, unless a
        reduce-only one has nothing to reduce (EXPIRED) or the margin is short (REJECTED)."""
        position = self.margin.positions[algo.symbol]
        algo.trigger_ms = algo.update_ms = now_ms
        qty = abs(position.amount) if algo.close_position else algo.qty
        if algo.reduce_only:
            if position.amount * algo.sign >= 0:
                algo.status, algo.reason = "EXPIRED", "Reduce Only reject"
                emit(self.events, Event("algo", now_ms, algo))
                return
            qty = min(qty, abs(position.amount))
        else:
            opening = opening_qty(position, algo.sign, qty)
            if opening * price / position.leverage > self.available():
                algo.status, algo.reason = "REJECTED", "Margin is insufficient"
                emit(self.events, Event("algo", now_ms, algo))
                return
        order_id = next(self._order_ids)
        order = Order(order_id, algo.client_id, algo.symbol, algo.side, "MARKET", qty, _ZERO, algo.reduce_only,
                      "GTC", now_ms, update_ms=now_ms, orig_type=algo.type, stop_price=algo.trigger)
        algo.status, algo.actual_order_id = "TRIGGERED", order_id
        emit(self.events, Event("algo", now_ms, algo))
        self.orders[order_id] = order
        emit(self.events, Event("order", now_ms, order))
        self.settlement.fill(order, price, maker=False, now_ms=now_ms)
        algo.status, algo.fill_price, algo.filled = "FINISHED", order.avg_price, order.executed
        emit(self.events, Event("algo", now_ms, algo))


def _check_side(side: str) -> None:
    if side not in ("BUY", "SELL"):
        raise rejected(*E.BAD_SIDE)


def _find(table: dict, symbol: str | None, ident: int | None, client_id: str | None):
    if ident is not None:
        item = table.get(ident)
    else:
        item = next((x for x in reversed(list(table.values())) if x.client_id == client_id), None)
    return item if item is not None and symbol in (None, item.symbol) else None


def _check_qty(spec: SymbolSpec, qty: Decimal | None) -> Decimal:
    if qty is None or qty <= 0:
        raise rejected(*E.QTY_NOT_POSITIVE)
    if qty % Decimal(spec.step_size):
        raise rejected(*E.PRECISION)
    if qty < Decimal(spec.min_qty):
        raise rejected(-1013, "Filter failure: LOT_SIZE")
    return qty


def _check_price(spec: SymbolSpec, price: Decimal | None) -> Decimal:
    if price is None or price <= 0:
        raise rejected(-4001, "Price less than 0.")
    if price % Decimal(spec.tick_size):
        raise rejected(*E.TICK_SIZE)
    return price
