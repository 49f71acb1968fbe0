"""The account's margin book: the wallet, one position a symbol (leverage, margin type), the prices they
are valued at, and what Binance derives from them (unrealized PnL, margins, available balance,
liquidation price).

It knows nothing of orders: the margin open orders hold back comes in as ``order_margin`` (the order book
knows it), and trades come in from :mod:`settlement`.
"""

from __future__ import annotations

from decimal import Decimal

from autobot_lib.exchange.venue import errors as E
from autobot_lib.exchange.venue.brackets import bracket_for, max_leverage
from autobot_lib.exchange.venue.errors import rejected
from autobot_lib.exchange.venue.market import SymbolSpec
from autobot_lib.exchange.venue.records import DEFAULT_LEVERAGE, Event, Position, emit

_ZERO = Decimal(0)


class MarginBook:
    def __init__(self, specs: dict[str, SymbolSpec], wallet: Decimal, asset: str, events: list[Event]):
        self.specs = specs
        self.wallet = wallet
        self.asset = asset
        self.events = events
        self.positions = {symbol: Position(symbol, min(DEFAULT_LEVERAGE, max_leverage(symbol))) for symbol in specs}
        self.prices: dict[str, Decimal] = {}    # last price: where trades happen now
        self.marks: dict[str, Decimal] = {}     # mark price: the last close
        self.update_ms = 0                      # the last trade's time

    # --- prices, settings --------------------------------------------------------------------

    def spec(self, symbol: str) -> SymbolSpec:
        """The symbol's filters; a symbol the venue does not list is refused as Binance does."""
        if symbol not in self.specs:
            raise rejected(*E.BAD_SYMBOL)
        return self.specs[symbol]

    def set_price(self, symbol: str, price: Decimal, mark: Decimal | None = None) -> None:
        """The last price (and the mark price: the same unless given)."""
        self.prices[symbol] = Decimal(price)
        self.marks[symbol] = Decimal(price if mark is None else mark)

    def mark(self, symbol: str) -> Decimal:
        return self.marks.get(symbol, self.prices.get(symbol, self.positions[symbol].entry))

    def price(self, symbol: str) -> Decimal:
        self.spec(symbol)
        if symbol not in self.prices:
            raise E.BinanceError(503, -1001, "Internal error; unable to process your request. Please try again.")
        return self.prices[symbol]

    def set_leverage(self, symbol: str, leverage: int) -> Position:
        self.spec(symbol)
        if not 1 <= leverage <= max_leverage(symbol):
            raise rejected(-4028, f"Leverage {leverage} is not valid")
        position = self.positions[symbol]
        position.leverage = leverage
        return position

    def set_margin_type(self, symbol: str, margin_type: str, now_ms: int, has_orders: bool) -> None:
        """``has_orders``: open orders or algo orders stand on the symbol (Binance refuses the change then)."""
        self.spec(symbol)
        if margin_type not in ("ISOLATED", "CROSSED"):
            raise rejected(-1102, f"Parameter 'marginType' is {margin_type!r}: use ISOLATED or CROSSED.")
        position = self.positions[symbol]
        isolated = margin_type == "ISOLATED"
        if position.isolated == isolated:
            raise rejected(*E.NO_MARGIN_TYPE_CHANGE)
        if position.amount:
            raise rejected(*E.MARGIN_TYPE_WITH_POSITION)
        if has_orders:
            raise rejected(*E.MARGIN_TYPE_WITH_ORDERS)
        position.isolated = isolated
        emit(self.events, Event("account", now_ms, reason="MARGIN_TYPE_CHANGE", symbols=(symbol,)))

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

    def cross_wallet(self) -> Decimal:
        return self.wallet - sum((p.isolated_wallet for p in self.positions.values()), _ZERO)

    def available(self, order_margin: Decimal) -> Decimal:
        """Binance's availableBalance: cross wallet + cross PnL - cross position margin - order margin."""
        cross = [s for s, p in self.positions.items() if not p.isolated]
        return (self.cross_wallet() + sum((self.unrealized(s) for s in cross), _ZERO)
                - sum((self.position_margin(s) for s in cross), _ZERO) - order_margin)

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

    # --- money in and out ----------------------------------------------------------------------

    def trade(self, symbol: str, delta: Decimal, price: Decimal, fee: Decimal, now_ms: int) -> Decimal:
        """Book a signed trade of ``delta`` at ``price`` that cost ``fee``; returns the realized PnL."""
        position = self.positions[symbol]
        realized = _trade(position, delta, price)
        self.wallet += realized - fee
        position.update_ms = self.update_ms = now_ms
        return realized

    def debit(self, amount: Decimal) -> None:
        """Take ``amount`` from the wallet (a funding fee paid; negative: received)."""
        self.wallet -= amount


def opening_qty(position: Position, sign: int, qty: Decimal) -> Decimal:
    """The part of a trade that adds exposure (all of it, or what is left after closing)."""
    if position.amount * sign >= 0:
        return qty
    return max(_ZERO, qty - abs(position.amount))


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
