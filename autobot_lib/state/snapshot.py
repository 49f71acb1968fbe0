"""What a restart needs, as one frozen value: :class:`BotState` and its parts.

A snapshot holds the trading state and the kill switch's reason, the equity peak, the daily anchor and
the UTC day it belongs to, the open positions (every :class:`~autobot_lib.model.Position` field, with the
exchange id of the protective stop and the client order ids that built the position), the order intents
sent but not yet settled with their client order ids, the last processed bar per symbol, and each
symbol's streaming-indicator state (the dict ``FeatureStream.get_state()`` returns) when given.

Client order ids are deterministic (:func:`client_order_id`): after a restart the engine derives the same
id for the same decision, so the exchange (or :meth:`StateStore.processed`) tells it the order exists.

>>> client_order_id("autobot", "ETHUSDT", "ENTRY", "2025-01-02T13:00:00Z")
'ab-53a364c97815de820486e2a7a718b5f3'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Mapping

import pandas as pd

from autobot_lib.data.frame import to_utc
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


# Binance accepts newClientOrderId matching ^[.A-Z:/a-z0-9_-]{1,36}$
_ID_PREFIX = "ab-"
_ID_HEX = 32


def client_order_id(strategy: str, symbol: str, kind: str, bar_time: Any, seq: int = 0) -> str:
    """A client order id that depends only on the decision: strategy, symbol, intent kind, the bar's
    timestamp (UTC) and a sequence number for several orders of one kind on one bar."""
    key = f"{strategy}|{symbol}|{kind}|{to_utc(bar_time).isoformat()}|{seq}"
    return _ID_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:_ID_HEX]
