"""The venue's USD-M trading account: wallet, positions, orders and conditional (algo) orders, matched
against replayed candles.

Pure: no clock (callers pass times in ms), no I/O; refusals raise :class:`BinanceError` with Binance's
codes. Every change appends an :class:`Event` to ``events`` for the user-data stream to send.

What a candle can tell, and so how orders fill (the fill model the backtester and the paper broker share,
``docs/fill-model.md``):
- Two prices per symbol. The **last price** is where a trade happens now: after a bar closes, the next
  bar's open (the first trade after the close; the close itself when no next bar is known). The **mark
  price** is the last close: unrealized PnL, equity, margin and funding are valued at it.
- MARKET fills at once at the last price, taker fee: an order sent at a bar's close fills at the next open.
- A LIMIT that crosses the last price fills at once there as taker; otherwise it rests and fills at its
  price (at the open when the bar opens through it) as maker.
- STOP_MARKET / TAKE_PROFIT_MARKET (Binance's algo orders) trigger when a bar trades through the trigger
  and fill at it (at the open when the bar gaps through), taker; one that the last price has already
  passed is refused (-2021).
- Inside a bar the price walks first to the extreme that hurts the position held (open -> low -> high ->
  close for a long, open -> high -> low -> close for a short; flat: low first on a rising bar, high first
  on a falling one), so a stop the bar reaches fills before a target it also reaches; orders fill in the
  order the walk reaches them, stamped with the time the walk reaches them inside the bar.
- One-way mode (positionSide BOTH); no liquidation; margin checked on every order that adds exposure.
- Fees are the account's (``taker_fee``, ``maker_fee``: the TAKER_FEE / MAKER_FEE settings, Binance's
  regular tier by default); funding settlements are kept as income records (``GET /fapi/v1/income``).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from decimal import Decimal

from autobot_lib.exchange.venue import errors as E
from autobot_lib.exchange.venue.brackets import bracket_for, max_leverage
from autobot_lib.exchange.venue.errors import rejected
from autobot_lib.exchange.venue.market import SymbolSpec
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE

TAKER_FEE = Decimal(repr(BINANCE_TAKER_FEE))  # Binance USD-M regular tier: 0.05 % taker, 0.02 % maker
MAKER_FEE = Decimal(repr(BINANCE_MAKER_FEE))
DEFAULT_LEVERAGE = 20
ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
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


@dataclass
class Account:
    """One USD-M account in one asset (USDT). ``set_price`` before trading a symbol."""

    specs: dict[str, SymbolSpec]
    wallet: Decimal = Decimal(10_000)
    asset: str = "USDT"
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    algos: dict[int, AlgoOrder] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    prices: dict[str, Decimal] = field(default_factory=dict)      # last price: where trades happen now
    marks: dict[str, Decimal] = field(default_factory=dict)       # mark price: the last close
    income: list[Income] = field(default_factory=list)
    taker_fee: Decimal = TAKER_FEE
    maker_fee: Decimal = MAKER_FEE
    update_ms: int = 0

    def __post_init__(self) -> None:
        self.wallet = Decimal(self.wallet)
        self.taker_fee, self.maker_fee = Decimal(self.taker_fee), Decimal(self.maker_fee)
        for symbol in self.specs:
            self.positions.setdefault(symbol, Position(symbol, min(DEFAULT_LEVERAGE, max_leverage(symbol))))
        # ids in the ranges Binance's look like, so they never collide between the two kinds
        self._order_ids = itertools.count(4_000_000_001)
        self._algo_ids = itertools.count(3_000_000_001)
        self._trade_ids = itertools.count(700_000_001)
        self._tran_ids = itertools.count(900_000_001)

    # --- prices, settings --------------------------------------------------------------------

    def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        """The last price (and the mark price: the same unless given)."""
        self.prices[symbol] = Decimal(price)
        self.marks[symbol] = Decimal(price if mark is None else mark)

    def mark(self, symbol: str) -> Decimal:
        return self.marks.get(symbol, self.prices.get(symbol, self.positions[symbol].entry))

    def price(self, symbol: str) -> Decimal:
        self._spec(symbol)
        if symbol not in self.prices:
            raise E.BinanceError(503, -1001, "Internal error; unable to process your request. Please try again.")
        return self.prices[symbol]

    def set_leverage(self, symbol: str, leverage: int) -> Position:
        self._spec(symbol)
        if not 1 <= leverage <= max_leverage(symbol):
            raise rejected(-4028, f"Leverage {leverage} is not valid")
        position = self.positions[symbol]
        position.leverage = leverage
        return position

    def set_margin_type(self, symbol: str, margin_type: str, now_ms: int) -> None:
        self._spec(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise rejected(-1102, f"Parameter 'marginType' is {margin_type!r}: use ISOLATED or CROSSED.")
        position = self.positions[symbol]
        isolated = margin_type == "ISOLATED"
        if position.isolated == isolated:
            raise rejected(*E.NO_MARGIN_TYPE_CHANGE)
        if position.amount:
            raise rejected(*E.MARGIN_TYPE_WITH_POSITION)
        if self.open_orders(symbol) or self.open_algos(symbol):
            raise rejected(*E.MARGIN_TYPE_WITH_ORDERS)
        position.isolated = isolated
        self._emit(Event("account", now_ms, reason="MARGIN_TYPE_CHANGE", symbols=(symbol,)))

    # --- views ---------------------------------------------------------------------------------

    def unrealized(self, symbol: str) -> Decimal:
        p = self.positions[symbol]
        return p.amount * (self.mark(symbol) - p.entry) if p.amount else _ZERO

    def notional(self, symbol: str) -> Decimal:
        return self.positions[symbol].amount * self.mark(symbol)

    def position_margin(self, symbol: str) -> Decimal:
        return abs(self.notional(symbol)) / self.positions[symbol].leverage

    def maint_margin(self, symbol: str) -> Decimal:
        notional = abs(self.notional(symbol))
        bracket = bracket_for(symbol, notional)
        return max(_ZERO, notional * bracket.maint_ratio - bracket.cum) if notional else _ZERO

    def open_order_margin(self, symbol: str | None = None) -> Decimal:
        total = _ZERO
        for o in self.open_orders(symbol):
            if not o.reduce_only:
                opening = self._opening_qty(self.positions[o.symbol], o.sign, o.qty - o.executed)
                total += opening * o.price / self.positions[o.symbol].leverage
        return total

    def cross_wallet(self) -> Decimal:
        return self.wallet - sum((p.isolated_wallet for p in self.positions.values()), _ZERO)

    def available(self) -> Decimal:
        """Binance's availableBalance: cross wallet + cross PnL - cross position margin - order margin."""
        cross = [s for s, p in self.positions.items() if not p.isolated]
        return (self.cross_wallet() + sum((self.unrealized(s) for s in cross), _ZERO)
                - sum((self.position_margin(s) for s in cross), _ZERO) - self.open_order_margin())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        return [o for o in self.orders.values() if o.is_open and symbol in (None, o.symbol)]

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.algos.values() if a.is_open and symbol in (None, a.symbol)]

    def liquidation_price(self, symbol: str) -> Decimal:
        """Binance's one-way formula with this position's bracket; 0 when flat or beyond reach."""
        p = self.positions[symbol]
        if not p.amount:
            return _ZERO
        side, size = (1 if p.amount > 0 else -1), abs(p.amount)
        bracket = bracket_for(symbol, self.notional(symbol))
        if p.isolated:
            wallet, others = p.isolated_wallet, _ZERO
        else:
            rest = [s for s, q in self.positions.items() if s != symbol and not q.isolated]
            wallet = self.cross_wallet()
            others = sum((self.unrealized(s) - self.maint_margin(s) for s in rest), _ZERO)
        denominator = size * bracket.maint_ratio - side * size
        price = (wallet + others + bracket.cum - side * size * p.entry) / denominator
        return max(price, _ZERO)

    # --- orders ----------------------------------------------------------------------------------

    def place_order(self, symbol: str, side: str, type: str, qty: Decimal, price: Decimal | None, *,
                    reduce_only: bool = False, time_in_force: str = "GTC", client_id: str = "",
                    now_ms: int) -> Order:
        spec = self._spec(symbol)
        self._check_side(side)
        if type in ALGO_TYPES or type in ("STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET"):
            raise rejected(*E.ALGO_ENDPOINT_ONLY)
        if type not in ("MARKET", "LIMIT"):
            raise rejected(*E.BAD_TYPE)
        qty = _check_qty(spec, qty)
        limit = _check_price(spec, price) if type == "LIMIT" else _ZERO
        if client_id and any(o.client_id == client_id for o in self.open_orders()):
            raise rejected(*E.DUPLICATE_CLIENT_ID)
        position, sign = self.positions[symbol], (1 if side == "BUY" else -1)
        if reduce_only:
            if position.amount * sign >= 0:
                raise rejected(*E.REDUCE_ONLY_REJECTED)
            qty = min(qty, abs(position.amount))
        mark = self.price(symbol)
        marketable = type == "MARKET" or (limit - mark) * sign >= 0
        fill_price = mark if marketable else limit
        if not reduce_only and qty * fill_price < Decimal(spec.min_notional):
            raise rejected(-4164, f"Order's notional must be no smaller than {spec.min_notional} "
                                  "(unless you choose reduce only).")
        opening = self._opening_qty(position, sign, qty)
        if opening and not reduce_only:
            need = opening * fill_price / position.leverage + (qty * fill_price * self.taker_fee if marketable else 0)
            if need > self.available():
                raise rejected(*E.INSUFFICIENT_MARGIN)
        order_id = next(self._order_ids)
        order = Order(order_id, client_id or f"venue-{order_id}", symbol, side, type, qty, limit, reduce_only,
                      time_in_force if type == "LIMIT" else "GTC", now_ms, update_ms=now_ms)
        self.orders[order_id] = order
        self._emit(Event("order", now_ms, order))
        if marketable:
            self._fill(order, fill_price, maker=False, now_ms=now_ms)
        return order

    def place_algo(self, symbol: str, side: str, type: str, qty: Decimal | None, trigger: Decimal, *,
                   reduce_only: bool = False, close_position: bool = False, client_id: str = "",
                   now_ms: int) -> AlgoOrder:
        spec = self._spec(symbol)
        self._check_side(side)
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
        mark = self.price(symbol)
        if (mark <= trigger) if algo.falls_to_trigger else (mark >= trigger):
            raise rejected(*E.WOULD_TRIGGER)
        self.algos[algo_id] = algo
        self._emit(Event("algo", now_ms, algo))
        return algo

    def cancel_order(self, symbol: str, order_id: int | None, client_id: str | None, now_ms: int) -> Order:
        order = _find(self.orders, symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise rejected(*E.UNKNOWN_ORDER)
        order.status, order.update_ms = "CANCELED", now_ms
        self._emit(Event("order", now_ms, order))
        return order

    def cancel_algo(self, symbol: str, algo_id: int | None, client_id: str | None, now_ms: int) -> AlgoOrder:
        algo = _find(self.algos, symbol, algo_id, client_id)
        if algo is None or not algo.is_open:
            raise rejected(*E.UNKNOWN_ORDER)
        algo.status, algo.update_ms = "CANCELED", now_ms
        self._emit(Event("algo", now_ms, algo))
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

    # --- the replay drives these -----------------------------------------------------------------

    def on_bar(self, symbol: str, open_: Decimal, high: Decimal, low: Decimal, close: Decimal,
               close_ms: int, next_open: Decimal | None = None, open_ms: int | None = None) -> None:
        """Match resting orders and triggers against one closed bar (``open_ms`` .. ``close_ms``), then mark
        the close; the last price becomes ``next_open`` (the next bar's open), else the close."""
        held = self.positions[symbol].amount
        rising = held > 0 if held else close >= open_
        path = [open_, low, high, close] if rising else [open_, high, low, close]
        length = sum((abs(b - a) for a, b in zip(path, path[1:])), _ZERO)
        start = close_ms if open_ms is None else open_ms
        while True:
            hits = []
            for o in self.open_orders(symbol):
                if o.type == "LIMIT":
                    hits.append((*_reach(path, o.price, falls=o.sign > 0), o.order_id, o))
            for a in self.open_algos(symbol):
                hits.append((*_reach(path, a.trigger, falls=a.falls_to_trigger), a.algo_id, a))
            hits = [h for h in hits if h[0] is not None]
            if not hits:
                break
            walked, price, _, first = min(hits, key=lambda h: (h[0], h[2]))
            when = start + int((close_ms - start) * walked / length) if length else start
            self.set_price(symbol, price)
            if isinstance(first, Order):
                self._fill(first, price, maker=True, now_ms=when)
            else:
                self._trigger(first, price, when)
        self.set_price(symbol, close if next_open is None else next_open, mark=close)

    def apply_funding(self, symbol: str, rate: Decimal, time_ms: int) -> Decimal:
        """Longs pay shorts ``rate`` x notional at a positive rate; returns what this account paid."""
        position = self.positions.get(symbol)
        if position is None or not position.amount:
            return _ZERO
        paid = self.notional(symbol) * Decimal(rate)
        self.wallet -= paid
        self.income.append(Income(next(self._tran_ids), symbol, "FUNDING_FEE", -paid, time_ms))
        self._emit(Event("account", time_ms, reason="FUNDING_FEE", symbols=(symbol,)))
        return paid

    # --- internals -------------------------------------------------------------------------------

    def _spec(self, symbol: str) -> SymbolSpec:
        if symbol not in self.specs:
            raise rejected(*E.BAD_SYMBOL)
        return self.specs[symbol]

    @staticmethod
    def _check_side(side: str) -> None:
        if side not in ("BUY", "SELL"):
            raise rejected(*E.BAD_SIDE)

    @staticmethod
    def _opening_qty(position: Position, sign: int, qty: Decimal) -> Decimal:
        """The part of a trade that adds exposure (all of it, or what is left after closing)."""
        if position.amount * sign >= 0:
            return qty
        return max(_ZERO, qty - abs(position.amount))

    def _trigger(self, algo: AlgoOrder, price: Decimal, now_ms: int) -> None:
        position = self.positions[algo.symbol]
        algo.trigger_ms = algo.update_ms = now_ms
        qty = abs(position.amount) if algo.close_position else algo.qty
        if algo.reduce_only:
            if position.amount * algo.sign >= 0:
                algo.status, algo.reason = "EXPIRED", "Reduce Only reject"
                self._emit(Event("algo", now_ms, algo))
                return
            qty = min(qty, abs(position.amount))
        else:
            opening = self._opening_qty(position, algo.sign, qty)
            if opening * price / position.leverage > self.available():
                algo.status, algo.reason = "REJECTED", "Margin is insufficient"
                self._emit(Event("algo", now_ms, algo))
                return
        order_id = next(self._order_ids)
        order = Order(order_id, algo.client_id, algo.symbol, algo.side, "MARKET", qty, _ZERO, algo.reduce_only,
                      "GTC", now_ms, update_ms=now_ms, orig_type=algo.type, stop_price=algo.trigger)
        algo.status, algo.actual_order_id = "TRIGGERED", order_id
        self._emit(Event("algo", now_ms, algo))
        self.orders[order_id] = order
        self._emit(Event("order", now_ms, order))
        self._fill(order, price, maker=False, now_ms=now_ms)
        algo.status, algo.fill_price, algo.filled = "FINISHED", order.avg_price, order.executed
        self._emit(Event("algo", now_ms, algo))

    def _fill(self, order: Order, price: Decimal, maker: bool, now_ms: int) -> None:
        position = self.positions[order.symbol]
        qty = order.qty - order.executed
        if order.reduce_only:
            qty = min(qty, abs(position.amount)) if position.amount * order.sign < 0 else _ZERO
            if not qty:  # nothing left to reduce: Binance expires it
                order.status, order.update_ms = "EXPIRED", now_ms
                self._emit(Event("order", now_ms, order))
                return
        realized = _trade(position, order.sign * qty, price)
        fee = price * qty * (self.maker_fee if maker else self.taker_fee)
        self.wallet += realized - fee
        position.update_ms = self.update_ms = now_ms
        order.executed += qty
        order.cum_quote += price * qty
        order.status, order.update_ms = "FILLED", now_ms
        fill = Fill(next(self._trade_ids), order.order_id, order.symbol, order.side, price, qty, fee, realized,
                    maker, now_ms)
        self.fills.append(fill)
        self._emit(Event("order", now_ms, order, fill))
        self._emit(Event("account", now_ms, reason="ORDER", symbols=(order.symbol,)))

    def _emit(self, event: Event) -> None:
        # a snapshot: the order keeps changing after the event is queued
        self.events.append(Event(event.kind, event.time_ms, copy.copy(event.order), event.fill, event.reason,
                                 event.symbols))


def _trade(position: Position, delta: Decimal, price: Decimal) -> Decimal:
    """Apply a signed trade to a position; returns the realized PnL."""
    amount = position.amount
    if not amount or (amount > 0) == (delta > 0):
        new = amount + delta
        position.entry = (position.entry * abs(amount) + price * abs(delta)) / abs(new)
        if position.isolated:
            position.isolated_wallet += abs(delta) * price / position.leverage
        position.amount = new
        return _ZERO
    closed = min(abs(amount), abs(delta))
    direction = 1 if amount > 0 else -1
    realized = closed * (price - position.entry) * direction
    if position.isolated:
        position.isolated_wallet -= position.isolated_wallet * closed / abs(amount)
    position.amount = amount - direction * closed
    rest = abs(delta) - closed
    if not position.amount:
        position.entry, position.isolated_wallet = _ZERO, _ZERO
    if rest:  # the trade flips the position
        position.amount, position.entry = -direction * rest, price
        if position.isolated:
            position.isolated_wallet = rest * price / position.leverage
    return realized


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
