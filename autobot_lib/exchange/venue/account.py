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

The account is built of parts, one job each: :mod:`margin` (wallet, positions, prices and the margins
valued on them), :mod:`orders` (orders and algo orders: checks, cancels, triggers), :mod:`settlement`
(fills and funding), :mod:`matching` (the walk through a bar). :class:`Account` puts them together and
answers for them under one set of names.
"""

from __future__ import annotations

from decimal import Decimal

from autobot_lib.exchange.venue.margin import MarginBook
from autobot_lib.exchange.venue.market import SymbolSpec
from autobot_lib.exchange.venue.matching import Matcher
from autobot_lib.exchange.venue.orders import ALGO_TYPES, OrderBook
from autobot_lib.exchange.venue.records import DEFAULT_LEVERAGE, AlgoOrder, Event, Fill, Income, Order, Position
from autobot_lib.exchange.venue.settlement import MAKER_FEE, TAKER_FEE, Settlement

__all__ = ["ALGO_TYPES", "DEFAULT_LEVERAGE", "MAKER_FEE", "TAKER_FEE", "Account", "AlgoOrder", "Event", "Fill",
           "Income", "Order", "Position"]


class _Part:
    """An account attribute that one of its parts owns: reading or setting it goes to that part, so
    ``account.orders`` is the order book's own dict and ``account.place_order`` its own method."""

    def __init__(self, part: str):
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, account: Account | None, owner: type | None = None):
        if account is None:
            return self
        return getattr(getattr(account, self.part), self.name)

    def __set__(self, account: Account, value: object) -> None:
        setattr(getattr(account, self.part), self.name, value)


class Account:
    """One USD-M account in one asset (USDT). ``set_price`` before trading a symbol."""

    def __init__(self, specs: dict[str, SymbolSpec], wallet: Decimal = Decimal(10_000), asset: str = "USDT", *,
                 taker_fee: Decimal = TAKER_FEE, maker_fee: Decimal = MAKER_FEE):
        self._events: list[Event] = []   # one queue for every part, in the order things happened
        self.margin = MarginBook(specs, Decimal(wallet), asset, self._events)
        self.settlement = Settlement(self.margin, self._events, taker_fee, maker_fee)
        self.book = OrderBook(self.margin, self.settlement, self._events)
        self.matcher = Matcher(self.margin, self.book, self.settlement)

    @property
    def events(self) -> list[Event]:
        """What the user-data stream has yet to send."""
        return self._events

    def take_events(self) -> list[Event]:
        """Hand over the queued events, leaving the queue empty."""
        events = list(self._events)
        self._events.clear()
        return events

    def set_margin_type(self, symbol: str, margin_type: str, now_ms: int) -> None:
        # the one setting both parts decide: the margin book's, refused while orders stand on the symbol
        has_orders = bool(self.book.open_orders(symbol) or self.book.open_algos(symbol))
        self.margin.set_margin_type(symbol, margin_type, now_ms, has_orders)

    # the margin book: wallet, positions, prices, and the margins valued on them
    specs = _Part("margin")
    asset = _Part("margin")
    wallet = _Part("margin")
    positions = _Part("margin")
    prices = _Part("margin")
    marks = _Part("margin")
    update_ms = _Part("margin")
    set_price = _Part("margin")
    mark = _Part("margin")
    price = _Part("margin")
    set_leverage = _Part("margin")
    unrealized = _Part("margin")
    notional = _Part("margin")
    position_margin = _Part("margin")
    maint_margin = _Part("margin")
    cross_wallet = _Part("margin")
    liquidation_price = _Part("margin")
    # the order book: orders and algo orders, and the margin the open ones hold back
    orders = _Part("book")
    algos = _Part("book")
    open_orders = _Part("book")
    open_algos = _Part("book")
    open_order_margin = _Part("book")
    available = _Part("book")
    place_order = _Part("book")
    place_algo = _Part("book")
    cancel_order = _Part("book")
    cancel_algo = _Part("book")
    find_order = _Part("book")
    find_algo = _Part("book")
    # settlement: fees, fills and funding
    taker_fee = _Part("settlement")
    maker_fee = _Part("settlement")
    fills = _Part("settlement")
    income = _Part("settlement")
    apply_funding = _Part("settlement")
    # the replay drives this
    on_bar = _Part("matcher")
