"""The state store port: what the live engine needs from any store, and the errors every adapter raises.

Adapters translate their own failures into these three errors, by what the caller should do:

- :class:`StateUnavailable`: the store cannot be reached or written right now. Keep trading on the state
  in memory, alert, and save again later (the adapters reconnect on the next call).
- :class:`StateAccessDenied`: a store answered but refused the credentials. A configuration error: fix
  the password; retrying will not help. (A subclass of StateUnavailable, so a caller that only keeps
  trading on in-memory state does not need to tell them apart.)
- :class:`StateCorrupt`: a stored payload cannot be read (not JSON, a newer version, missing fields).
  The message names the key or table and how to recover. Never guessed around: a wrong state could
  double an order.
"""

from __future__ import annotations

from typing import Iterable, Protocol, runtime_checkable

import pandas as pd

from autobot_lib.journal import JournalRecord
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.state.snapshot import BotState


class StateError(Exception):
    """Base of the state store's errors."""


class StateUnavailable(StateError):
    """The store cannot be reached or written now; the message names where (never a password)."""


class StateAccessDenied(StateUnavailable):
    """The store refused the credentials (wrong or missing password)."""


class StateCorrupt(StateError):
    """A stored payload cannot be read; the message names the key and the fix."""


@runtime_checkable
class StateStore(Protocol):
    """Where the bot keeps what a restart needs. Every write is atomic: a reader sees the previous
    snapshot or the new one, never a mix."""

    def load(self) -> BotState | None:
        """The last saved snapshot, or None when nothing was ever saved."""

    def save(self, state: BotState) -> None:
        """Replace the snapshot in one transaction (positions no longer in ``state`` are removed)."""

    def append_journal(self, records: Iterable[JournalRecord]) -> None:
        """Add decision records; the store keeps the newest ``journal_cap`` of them."""

    def read_journal(self, since: pd.Timestamp | str | None = None) -> list[JournalRecord]:
        """Records whose bar timestamp is at or after ``since`` (all when None), in the order appended."""

    def append_trades(self, trades: Iterable[LiveTrade]) -> None:
        """Keep closed trades, all of them (a trade log is small). Appending a trade already kept is harmless:
        a write that failed can simply be tried again."""

    def read_trades(self, start: pd.Timestamp | str | None = None,
                    end: pd.Timestamp | str | None = None) -> list[LiveTrade]:
        """Trades that closed at or after ``start`` and before ``end`` (no bound when None), by exit time."""

    def mark_processed(self, client_order_ids: Iterable[str]) -> None:
        """Remember client order ids whose outcome is already in the state (fills applied, stops placed)."""

    def processed(self, client_order_ids: Iterable[str]) -> set[str]:
        """Which of these client order ids were marked processed."""

    def healthy(self) -> bool:
        """True when the store answers now (a cheap probe for watchdogs and metrics)."""

    def close(self) -> None:
        """Release the connection or file."""
