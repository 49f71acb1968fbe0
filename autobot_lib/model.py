"""Domain values shared by the pipeline, the backtester and the live engine: enums and frozen dataclasses.

Prices and sizes inside the core are floats; what is sent to an exchange (quantities and prices
rounded to its filters) is Decimal, in :class:`OrderIntent`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

import pandas as pd

# Binance USD-M's regular-tier commission: the default of the TAKER_FEE / MAKER_FEE settings, which the
# backtester's costs, the live margin check, the paper broker and the local venue all read
BINANCE_TAKER_FEE = 0.0005
BINANCE_MAKER_FEE = 0.0002

# a trade log's columns: the backtester's and the live engine's alike
TRADE_COLUMNS = ["symbol", "side", "entry_time", "entry_price", "initial_stop", "exit_time", "exit_price", "qty",
                 "notional", "fees", "funding", "pnl", "r_multiple", "mae_r", "mfe_r", "bars_held", "exit_reason",
                 "entry_rules", "entry_regime"]


class Side(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def sign(self) -> int:
        return 1 if self is Side.LONG else -1

    @property
    def opposite(self) -> Side:
        return Side.SHORT if self is Side.LONG else Side.LONG


class Proposal(StrEnum):
    PROPOSE_LONG = "PROPOSE_LONG"
    PROPOSE_SHORT = "PROPOSE_SHORT"
    NEUTRAL = "NEUTRAL"

    @property
    def side(self) -> Side | None:
        return {Proposal.PROPOSE_LONG: Side.LONG, Proposal.PROPOSE_SHORT: Side.SHORT}.get(self)


class TradingState(StrEnum):
    ACTIVE = "ACTIVE"        # entries and exits
    REDUCING = "REDUCING"    # exits only: no new risk
    HALTED = "HALTED"        # nothing new; protective stops stay on the exchange


class IntentKind(StrEnum):
    ENTRY = "ENTRY"
    ADD = "ADD"                  # pyramiding
    EXIT = "EXIT"
    PARTIAL_EXIT = "PARTIAL_EXIT"
    STOP = "STOP"                # place or move the protective reduce-only stop


class ExitReason(StrEnum):
    STOP_LOSS = "stop_loss"
    TRAILING_STOP = "trailing_stop"
    BREAK_EVEN_STOP = "break_even_stop"
    TAKE_PROFIT = "take_profit"
    TP_LADDER = "tp_ladder"
    REGIME_CHANGE = "regime_change"
    EXIT_CHANNEL = "exit_channel"
    MAX_HOLDING_TIME = "max_holding_time"
    MANUAL_CLOSE = "manual_close"
    LIQUIDATION = "liquidation"
    KILL_SWITCH = "kill_switch"          # closed by the emergency policy when the kill switch tripped (live)


@dataclass(frozen=True)
class MarketFilters:
    """An exchange's precision and limits for one symbol (exchangeInfo / ccxt markets)."""

    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.001")
    min_qty: Decimal = Decimal("0.001")
    min_notional: Decimal = Decimal("5")

    @classmethod
    def of(cls, tick_size: str, step_size: str, min_qty: str, min_notional: str) -> MarketFilters:
        return cls(Decimal(tick_size), Decimal(step_size), Decimal(min_qty), Decimal(min_notional))


@dataclass(frozen=True)
class Position:
    """An open position, with everything its exits need. ``stop`` is the live protective stop."""

    symbol: str
    side: Side
    qty: float
    entry_price: float
    stop: float
    take_profit: float | None
    risk_per_unit: float              # initial stop distance: 1R in price units
    atr_at_entry: float
    opened_at: pd.Timestamp
    initial_qty: float
    bars_held: int = 0
    be_promoted: bool = False
    pyramid_steps: int = 0            # how many pyramid levels have been added
    ladder_steps: int = 0             # how many take-profit ladder levels have been closed
    first_entry_price: float = 0.0    # the first fill: R and pyramid levels are measured from it

    def __post_init__(self) -> None:
        if not self.first_entry_price:
            object.__setattr__(self, "first_entry_price", self.entry_price)

    def r_multiple(self, price: float) -> float:
        return self.side.sign * (price - self.first_entry_price) / self.risk_per_unit if self.risk_per_unit else 0.0

    def notional(self, price: float) -> float:
        return abs(self.qty) * price

    def with_(self, **changes) -> Position:
        return replace(self, **changes)


@dataclass(frozen=True)
class Account:
    """What the risk checks know about the account at a decision."""

    equity: float
    available: float                  # free margin in quote currency
    peak_equity: float
    daily_anchor: float               # equity at the last UTC midnight
    state: TradingState = TradingState.ACTIVE
    positions: tuple[Position, ...] = ()

    def position(self, symbol: str) -> Position | None:
        return next((p for p in self.positions if p.symbol == symbol), None)


@dataclass(frozen=True)
class OrderIntent:
    """What the decision wants the execution layer to do; rounded to the market's filters."""

    symbol: str
    kind: IntentKind
    side: Side                        # the position's side (an exit of a LONG sells)
    qty: Decimal
    price: float                      # reference price (close of the decided bar, or the trigger)
    stop_price: Decimal | None = None
    take_profit: Decimal | None = None
    reduce_only: bool = False
    reason: str = ""

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "kind": self.kind.value, "side": self.side.value, "qty": str(self.qty),
                "price": self.price, "stop_price": None if self.stop_price is None else str(self.stop_price),
                "take_profit": None if self.take_profit is None else str(self.take_profit),
                "reduce_only": self.reduce_only, "reason": self.reason}


@dataclass(frozen=True)
class Bar:
    """One closed bar of one symbol."""

    timestamp: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float = 0.0


@dataclass(frozen=True)
class Signal:
    """A strategy's verdict on one bar, before any risk check."""

    proposal: Proposal
    bias: float
    confidence: float
    direction: int                    # sign of the bias, before the activation threshold and side switches
    rules_hit: tuple[tuple[str, float, float], ...] = ()   # (rule name, bias, weight)
    features: dict[str, float] = field(default_factory=dict)
