"""What a restart needs, as one frozen value: :class:`BotState` and its parts.

A snapshot holds the trading state and the kill switch's reason, the equity peak, the daily anchor and
the UTC day it belongs to, the open positions (every :class:`~autobot_lib.model.Position` field, with the
exchange id of the protective stop and the client order ids that built the position), the order intents
sent but not yet settled with their client order ids, the last processed bar per symbol, and each
symbol's streaming-indicator state (the dict ``FeatureStream.get_state()`` returns) when given.

Client order ids are deterministic (:func:`autobot_lib.live.orders.client_id`): after a restart the
engine derives the same id for the same decision, so the exchange (or :meth:`StateStore.processed`)
tells it the order exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import pandas as pd

from autobot_lib.model import OrderIntent, Position, TradingState


@dataclass(frozen=True)
class OpenPosition:
    """A position as the store keeps it: the position and the orders that protect and built it."""

    position: Position
    stop_order_id: str | None = None          # the exchange's id of the protective stop (an algo order on Binance)
    client_order_ids: tuple[str, ...] = ()    # entry, adds, partial exits, stop: what reconciliation matches


@dataclass(frozen=True)
class PendingOrder:
    """An order intent sent (or about to be sent) whose outcome is not yet in the state."""

    client_order_id: str
    intent: OrderIntent
    created_at: pd.Timestamp
    exchange_order_id: str | None = None      # once the exchange acknowledged it


@dataclass(frozen=True)
class BotState:
    """Everything a restart restores. Positions are keyed by symbol."""

    trading_state: TradingState = TradingState.ACTIVE
    kill_reason: str | None = None            # why the kill switch halted trading, if it did
    peak_equity: float = 0.0
    daily_anchor: float = 0.0                 # equity at the start of ``anchor_day``
    anchor_day: date | None = None            # the UTC day of the anchor: a restart on a new day re-anchors
    positions: Mapping[str, OpenPosition] = field(default_factory=dict)
    pending: tuple[PendingOrder, ...] = ()
    last_bar: Mapping[str, pd.Timestamp] = field(default_factory=dict)   # last processed bar per symbol
    indicators: Mapping[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        wrong = [key for key, held in self.positions.items() if held.position.symbol != key]
        if wrong:
            raise ValueError(f"positions must be keyed by their own symbol; mismatched keys: {wrong}")
        ids = [p.client_order_id for p in self.pending]
        if len(ids) != len(set(ids)):
            raise ValueError(f"pending orders must have distinct client order ids, got {ids}")


