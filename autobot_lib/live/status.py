"""A read-only view of a running live engine: what ``Control``, the notebook panel, the announcer, the
command's summary and the heartbeat read, so none of them reaches into the engine's parts.

Every property reads the engine's state as it stands (no copy is kept); collections come back as new
lists or dicts, so a reader cannot change the engine through them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from autobot_lib.journal import JournalRecord
from autobot_lib.live.execution import Held
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.model import TradingState

if TYPE_CHECKING:
    from autobot_lib.live.engine import LiveEngine


class EngineStatus:
    def __init__(self, engine: LiveEngine):
        self._engine = engine

    # --- what trades and how ---------------------------------------------------------------------------
    @property
    def symbols(self) -> list[str]:
        return list(self._engine.symbols)

    @property
    def strategy(self) -> str:
        return self._engine.plan.strategy.name

    @property
    def broker(self) -> str:
        return getattr(self._engine.broker, "name", "?")

    @property
    def settings(self):
        """The settings the engine runs on now (``set`` commands replace them)."""
        return self._engine.settings

    # --- the trading state -----------------------------------------------------------------------------
    @property
    def trading_state(self) -> TradingState:
        return self._engine.trading_state

    @property
    def paused_by(self) -> str | None:
        return self._engine.manual.paused_by

    @property
    def kill_tripped(self) -> str | None:
        """Why the kill switch tripped (``error_burst``, ``clock_drift``, ``daily_drawdown``, ``manual``),
        None when armed."""
        tripped = self._engine.kill.tripped
        return tripped.value if tripped else None

    @property
    def kill_detail(self) -> str:
        return self._engine.kill.detail

    # --- positions, trades, decisions ----------------------------------------------------------------------
    @property
    def positions(self) -> dict[str, Held]:
        return dict(self._engine.held)

    def mark(self, symbol: str) -> float:
        """The last close seen for ``symbol`` (NaN before the first)."""
        features = self._engine.features.get(symbol)
        return float(features.rows[-1]["close"]) if features is not None and features.rows else math.nan

    def last_row(self, symbol: str) -> dict:
        """The features of ``symbol``'s last bar (empty before the first)."""
        features = self._engine.features.get(symbol)
        return dict(features.rows[-1]) if features is not None and features.rows else {}

    def atr(self, symbol: str) -> float:
        """The ATR of ``symbol``'s last bar (NaN before it is warm)."""
        value = self.last_row(symbol).get("atr")
        return math.nan if value is None else float(value)

    @property
    def trades(self) -> list[LiveTrade]:
        return list(self._engine.trades)

    @property
    def journal(self) -> list[JournalRecord]:
        return list(self._engine.journal)

    @property
    def alerts(self) -> list[tuple[str, str]]:
        return list(self._engine.alerts)

    # --- the account ---------------------------------------------------------------------------------------
    @property
    def last_equity(self) -> float:
        return self._engine.keeper.last_equity

    @property
    def peak_equity(self) -> float:
        return self._engine.keeper.peak

    @property
    def daily_anchor(self) -> float:
        return self._engine.keeper.anchor

    @property
    def last_bar(self) -> dict[str, pd.Timestamp]:
        return dict(self._engine.keeper.last_bar)

    @property
    def drift_ms(self) -> float:
        return self._engine.guard.drift_ms

    async def exchange_equity(self):
        """The account's equity as the exchange reports it now (raises BrokerError when it cannot)."""
        return (await self._engine.broker.balance()).equity

    @property
    def decision_seconds(self) -> list[float]:
        """How long each recent decision took, in seconds."""
        return list(self._engine.decision_seconds)

    def summary(self) -> str:
        """One line for the command's end and the notebook's status bar."""
        return (f"{len(self._engine.journal)} bars decided, {len(self._engine.trades)} trades closed, "
                f"{len(self._engine.held)} positions open (protected on the exchange), trading state "
                f"{self.trading_state.value}")
