"""Matching on a replayed bar: the price walks through the bar (first to the extreme that hurts the
position held), and resting LIMIT orders and algo triggers fill in the order the walk reaches them,
stamped with the time it reaches them. The fill model is described in :mod:`account`.
"""

from __future__ import annotations

from decimal import Decimal

from autobot_lib.exchange.venue.margin import MarginBook
from autobot_lib.exchange.venue.orders import OrderBook
from autobot_lib.exchange.venue.records import Order
from autobot_lib.exchange.venue.settlement import Settlement

_ZERO = Decimal(0)


class Matcher:
    def __init__(self, margin: MarginBook, book: OrderBook, settlement: Settlement):
        self.margin = margin
        self.book = book
        self.settlement = settlement

    def on_bar(self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, close: Decimal,
               close_ms: int, next_open: Decimal | None = None, open_ms: int | None = None) -> None:
        """Match resting orders and triggers against one closed bar (``open_ms`` .. ``close_ms``), then mark
        the close; the last price becomes ``next_open`` (the next bar's open), else the close."""
        held = self.margin.positions[symbol].amount
        rising = held > 0 if held else close >= open_
        path = [open_, low, high, close] if rising else [open_, high, low, close]
        length = sum((abs(b - a) for a, b in zip(path, path[1:])), _ZERO)
        start = close_ms if open_ms is None else open_ms
        while True:  # each fill or trigger changes the open orders and the position: look again
            hits = []
            for o in self.book.open_orders(symbol):
                if o.type == "LIMIT":
                    hits.append((*_reach(path, o.price, falls=o.sign > 0), o.order_id, o))
            for a in self.book.open_algos(symbol):
                hits.append((*_reach(path, a.trigger, falls=a.falls_to_trigger), a.algo_id, a))
            hits = [h for h in hits if h[0] is not None]
            if not hits:
                break
            walked, price, _, first = min(hits, key=lambda h: (h[0], h[2]))
            when = start + int((close_ms - start) * walked / length) if length else start
            self.margin.set_price(symbol, price)
            if isinstance(first, Order):
                self.settlement.fill(first, price, maker=True, now_ms=when)
            else:
                self.book.trigger(first, price, when)
        self.margin.set_price(symbol, close if next_open is None else next_open, mark=close)


def _reach(path: list[Decimal], level: Decimal, falls: bool) -> tuple[Decimal | None, Decimal | None]:
    """How far along the bar's price walk ``level`` is reached, and the fill price there."""
    def hit(p: Decimal) -> bool:
        return p <= level if falls else p >= level

    if hit(path[0]):
        return _ZERO, path[0]  # the bar opens through it
    walked = _ZERO
    for a, b in zip(path, path[1:]):
        if hit(b):
            return walked + abs(level - a), level
        walked += abs(b - a)
    return None, None
