"""The broker port in DRY_RUN: fills simulated in-process on live data, by the local venue's own matching.

:class:`PaperBroker` wraps the venue's pure :class:`~autobot_lib.exchange.venue.account.Account` (no HTTP,
no server): one implementation of exchange matching for the venue and for paper trading. Market orders
fill at the last close, taker fee; stops and targets (algo orders) trigger inside a bar by the venue's
bar walk. Live market data drives it:

- :meth:`PaperBroker.on_bar` with each closed :class:`~autobot_lib.model.Bar` (``timestamp`` = open time;
  the bar closes ``bar_length`` later) and, when the feed has seen it, the next bar's open: triggers what
  the bar trades through, marks the close, and market orders sent now fill at that next open (the first
  trade after the close: the fill model the backtester shares; the close when it is not known yet).
  Feed it before the engine decides on the same bar, as the exchange would have matched by then.
- :meth:`PaperBroker.apply_funding` at each funding time (rate as Binance publishes it).

Filters come in as what :meth:`Broker.markets` returns (``MarketFilters``: from the real exchange's
exchangeInfo through ccxt's ``load_markets``) or as the venue's ``SymbolSpec`` (``MarketBook.specs()``).
Quantities and prices must already be on the filters' grid, as the port says: off-grid values are
refused with Binance's codes (-1111, -4014), where ccxt would have rounded them before sending.

Time is ``clock()`` in ms when given, else the close of the last bar fed (0 before the first).
Refusals are Binance's codes, classified by :func:`autobot_lib.exchange.errors.policy_for` exactly as
the ccxt adapter classifies the same answer from Binance. Results read as the ccxt adapter's do: numbers
at the precision Binance reports them (prices at the tick's decimals, quantities at the step's, money at
8 decimals), ``filled``/``avg_price`` what has executed, ``kind`` the order type, ``trigger`` the stop
price. No keys.

>>> import asyncio
>>> paper = PaperBroker({"BTCUSDT": MarketFilters.of("0.10", "0.001", "0.001", "100")})
>>> paper.on_bar("BTCUSDT", Bar(pd.Timestamp("2025-06-01", tz="UTC"), 104000.0, 104600.0, 103900.0, 104500.0),
...              next_open=104510.0)
[]
>>> asyncio.run(paper.market_order("BTCUSDT", "BUY", Decimal("0.010"), "e1")).avg_price
Decimal('104510.0')
>>> asyncio.run(paper.balance()).wallet          # 10 000 less the taker fee
Decimal('9999.47745000')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Context, Decimal, localcontext

import pandas as pd

from autobot_lib.exchange.errors import policy_for
from autobot_lib.exchange.ports import (
    Balance, BrokerError, ErrorPolicy, ExchangePosition, FundingFee, OrderResult, TradeFill,
)
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.exchange.venue.account import Account, AlgoOrder, Order
from autobot_lib.exchange.venue.errors import NO_MARGIN_TYPE_CHANGE, NO_SUCH_ORDER, BinanceError
from autobot_lib.exchange.venue.market import SymbolSpec, decimals
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE, Bar, MarketFilters

_ZERO = Decimal(0)
# The venue's arithmetic, whatever the calling thread's context says: ccxt sets its caller's decimal
# context to ROUND_HALF_UP (and traps Underflow), which would move a half-tick entry price or a fee.
_DECIMALS = Context(prec=28)


def _spec(symbol: str, filters: MarketFilters | SymbolSpec) -> SymbolSpec:
    if isinstance(filters, SymbolSpec):
        return filters
    if isinstance(filters, MarketFilters):
        return SymbolSpec(symbol, *(format(x, "f") for x in (filters.tick_size, filters.step_size, filters.min_qty,
                                                               filters.min_notional)))
    raise TypeError(f"filters for {symbol} are a {type(filters).__name__}: give MarketFilters "
                    "(Broker.markets, exchangeInfo) or a venue SymbolSpec (MarketBook.specs())")


def _reported(x: Decimal, places: int) -> Decimal:
    """A number as Binance reports it: at ``places`` decimals, half to even (the venue's string format)."""
    with localcontext(_DECIMALS):
        return Decimal(f"{x:.{places}f}")


def translate(exc: BinanceError, what: str) -> BrokerError:
    """The venue model's refusal as a BrokerError, classified by the table the ccxt adapter reads."""
    return BrokerError(f"{what}: Binance {exc.code}: {exc.msg}", policy_for(exc.code, exc.status), exc.code)


def _decimal(x: float | Decimal | str) -> Decimal:
    """A price or rate as the venue reads a float: its shortest repr (numpy floats included)."""
    if isinstance(x, (Decimal, int, str)):
        return Decimal(x)
    return Decimal(repr(float(x)))


class PaperBroker:
    """DRY_RUN: ``PaperBroker(filters)`` with ``filters`` per symbol (MarketFilters or SymbolSpec)."""

    name = "paper"

    def __init__(self, filters: Mapping[str, MarketFilters | SymbolSpec], *, balance: float | Decimal = 10_000,
                 bar_length: pd.Timedelta = pd.Timedelta("1h"), clock: Callable[[], int] | None = None,
                 taker_fee: float = BINANCE_TAKER_FEE, maker_fee: float = BINANCE_MAKER_FEE):
        if not filters:
            raise ValueError("PaperBroker needs the filters of at least one symbol, e.g. "
                             "{'BTCUSDT': MarketFilters.of('0.10', '0.001', '0.001', '100')}")
        self.account = Account({s: _spec(s, f) for s, f in filters.items()}, _decimal(balance),
                               taker_fee=_decimal(taker_fee), maker_fee=_decimal(maker_fee))
        self.bar_ms = int(pd.Timedelta(bar_length).total_seconds() * 1000)
        self.limiter = RateLimiter(rate_limits=())     # nothing to throttle in-process
        self._clock = clock
        self._last_ms = 0

    def __repr__(self) -> str:
        return f"PaperBroker(symbols={sorted(self.account.specs)})"

    # --- market data in ------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self._clock() if self._clock is not None else self._last_ms

    def on_bar(self, symbol: str, bar: Bar, next_open: float | None = None) -> list[OrderResult]:
        """Match ``symbol``'s stops and targets against a closed bar, then mark its close; market orders
        fill at ``next_open`` from now (the close if None). Returns the orders that filled inside the bar
        (a triggered stop's or target's market order)."""
        open_ms = int(bar.timestamp.value // 1_000_000)
        close_ms = open_ms + self.bar_ms
        before = len(self.account.fills)
        self._call(f"{symbol} bar", self.account.on_bar, symbol, *(_decimal(x) for x in (bar.open, bar.high, bar.low,
                                                                                          bar.close)), close_ms,
                   None if next_open is None else _decimal(next_open), open_ms)
        self._last_ms = max(self._last_ms, close_ms)
        filled = dict.fromkeys(f.order_id for f in self.account.fills[before:])
        return [self._order(self.account.orders[i]) for i in filled]

    def apply_funding(self, symbol: str, rate: float | Decimal, time_ms: int) -> Decimal:
        """Settle funding on ``symbol``'s position (longs pay shorts at a positive rate); returns what was paid."""
        return self._call(f"{symbol} funding", self.account.apply_funding, symbol, _decimal(rate), time_ms)

    # --- the port ------------------------------------------------------------------------------

    def _call(self, what: str, fn, *args, **kwargs):
        with localcontext(_DECIMALS):
            try:
                return fn(*args, **kwargs)
            except BinanceError as exc:
                raise translate(exc, what) from exc
            finally:
                self.account.events.clear()      # the venue streams them; in-process nobody does: memory stays flat

    async def markets(self, symbols: list[str]) -> dict[str, MarketFilters]:
        out = {}
        for symbol in symbols:
            spec = self.account.specs.get(symbol)
            if spec is None:
                raise BrokerError(f"{symbol} is not a market of this paper broker (it has "
                                  f"{', '.join(sorted(self.account.specs))}): give its filters", ErrorPolicy.HALT)
            out[symbol] = MarketFilters.of(spec.tick_size, spec.step_size, spec.min_qty, spec.min_notional)
        return out

    async def configure(self, symbol: str, leverage: int, isolated: bool) -> None:
        self._call(f"{symbol} leverage", self.account.set_leverage, symbol, leverage)
        try:
            self._call(f"{symbol} margin type", self.account.set_margin_type, symbol,
                       "ISOLATED" if isolated else "CROSSED", self.now_ms())
        except BrokerError as exc:
            if exc.code != NO_MARGIN_TYPE_CHANGE[0]:        # already so
                raise

    async def market_order(self, symbol: str, side: str, qty: Decimal, client_id: str,
                           reduce_only: bool = False) -> OrderResult:
        order = self._call(f"{symbol} market {side}", self.account.place_order, symbol, side, "MARKET", qty, None,
                           reduce_only=reduce_only, client_id=client_id, now_ms=self.now_ms())
        return self._order(order)

    async def protective_order(self, symbol: str, side: str, qty: Decimal, trigger: Decimal, client_id: str,
                               kind: str = "STOP_MARKET") -> OrderResult:
        algo = self._call(f"{symbol} {kind}", self.account.place_algo, symbol, side, kind, qty, trigger,
                          reduce_only=True, client_id=client_id, now_ms=self.now_ms())
        return self._algo(algo)

    async def cancel_protective(self, symbol: str, client_id: str) -> None:
        self._call(f"{symbol} cancel {client_id}", self.account.cancel_algo, symbol, None, client_id, self.now_ms())

    async def find_order(self, symbol: str, client_id: str) -> OrderResult | None:
        """A regular order with this client id (a triggered stop's market order among them), else an algo
        order; None when neither exists."""
        for find, result in ((self.account.find_order, self._order), (self.account.find_algo, self._algo)):
            try:
                return result(self._call(f"{symbol} find {client_id}", find, symbol, None, client_id))
            except BrokerError as exc:
                if exc.code != NO_SUCH_ORDER[0]:
                    raise
        return None

    async def positions(self) -> dict[str, ExchangePosition]:
        out = {}
        for symbol, p in self.account.positions.items():
            if p.amount:
                px, qty = self._places(symbol)
                out[symbol] = ExchangePosition(symbol, _reported(p.amount, qty), _reported(p.entry, px))
        return out

    async def protective_orders(self) -> list[OrderResult]:
        return [self._algo(a) for symbol in self.account.specs for a in self.account.open_algos(symbol)]

    async def balance(self) -> Balance:
        acc = self.account
        with localcontext(_DECIMALS):
            wallet = _reported(acc.wallet, 8)
            unrealized = _reported(sum((acc.unrealized(s) for s, p in acc.positions.items() if p.amount), _ZERO), 8)
            return Balance(wallet, _reported(acc.available(), 8), wallet + unrealized)

    async def fills(self, symbol: str, since_ms: int) -> list[TradeFill]:
        px, qty = self._places(symbol)
        return [TradeFill(f.symbol, str(f.order_id), f.side, _reported(f.price, px), _reported(f.qty, qty),
                          _reported(f.fee, 8), _reported(f.realized_pnl, 8), f.time_ms)
                for f in self.account.fills if f.symbol == symbol and f.time_ms >= since_ms]

    async def funding_fees(self, symbol: str, since_ms: int) -> list[FundingFee]:
        return [FundingFee(i.symbol, _reported(-i.amount, 8), i.time_ms) for i in self.account.income
                if i.symbol == symbol and i.kind == "FUNDING_FEE" and i.time_ms >= since_ms]

    async def server_time_ms(self) -> int:
        return self.now_ms()

    async def close(self) -> None:
        return None

    # --- results, as the exchange reports them -------------------------------------------------

    def _places(self, symbol: str) -> tuple[int, int]:
        spec = self.account.specs[symbol]
        return decimals(spec.tick_size), decimals(spec.step_size)

    def _order(self, o: Order) -> OrderResult:
        px, qty = self._places(o.symbol)
        return OrderResult(o.symbol, o.client_id, str(o.order_id), o.status, o.side, _reported(o.qty, qty),
                           _reported(o.executed, qty), _reported(o.avg_price, px), o.type,
                           _reported(o.stop_price, px) if o.stop_price else None, o.reduce_only)

    def _algo(self, a: AlgoOrder) -> OrderResult:
        px, qty = self._places(a.symbol)
        return OrderResult(a.symbol, a.client_id, str(a.algo_id), a.status, a.side, _reported(a.qty, qty),
                           _reported(a.filled, qty), _reported(a.fill_price, px), a.type, _reported(a.trigger, px),
                           a.reduce_only)
