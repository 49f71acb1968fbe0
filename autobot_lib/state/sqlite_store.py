"""The SQLite adapter: the embedded default, one file, no server.

Tables (schema version in ``PRAGMA user_version``):

- ``snapshot(id = 1, doc)``: the snapshot document (JSON, versioned);
- ``positions(symbol, doc)``: one position document per open position;
- ``journal(id, ts_ns, doc)``: decision records, ``ts_ns`` the bar time in UTC nanoseconds; the newest
  ``journal_cap`` are kept;
- ``processed_orders(client_order_id)``;
- ``trades(id, exit_ns, doc)``: closed trades (JSON, versioned), ``exit_ns`` the exit time in UTC
  nanoseconds; every trade is kept, each document once.

The database runs in WAL mode with ``synchronous=FULL``: :meth:`SQLiteStore.save` is one transaction, so
a crash (even SIGKILL mid-write) leaves the previous snapshot, and once ``save`` returns the snapshot
survives the process being killed.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from autobot_lib.data.frame import to_utc
from autobot_lib.journal import JournalRecord
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.state import _codec
from autobot_lib.state.port import StateCorrupt, StateUnavailable
from autobot_lib.state.snapshot import BotState

DEFAULT_PATH = Path("data") / "state.sqlite3"
JOURNAL_CAP = 50_000
SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS positions (symbol TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (id INTEGER PRIMARY KEY AUTOINCREMENT, ts_ns INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS journal_ts ON journal (ts_ns);
CREATE TABLE IF NOT EXISTS processed_orders (client_order_id TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS trades (id INTEGER PRIMARY KEY AUTOINCREMENT, exit_ns INTEGER NOT NULL,
                                   doc TEXT NOT NULL UNIQUE);
CREATE INDEX IF NOT EXISTS trades_exit ON trades (exit_ns);
"""


class SQLiteStore:
    """State in one SQLite file. ``SQLiteStore("data/state.sqlite3")``."""

    def __init__(self, path: str | Path = DEFAULT_PATH, *, journal_cap: int = JOURNAL_CAP):
        self.path, self.journal_cap = Path(path), journal_cap
        self._lock = threading.Lock()     # one connection, shared by the engine's threads
        with self._guard("opening"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are the explicit BEGIN IMMEDIATE ... COMMIT below
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                self._db.close()
                raise StateCorrupt(f"{self.path} has state schema version {version}, this autobot reads "
                                   f"{SCHEMA_VERSION}: it was written by a newer autobot; upgrade this one")
            self._db.executescript(_SCHEMA + f"PRAGMA user_version = {SCHEMA_VERSION};")

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.OperationalError as exc:      # locked, disk full, unreadable folder: try again later
            raise StateUnavailable(f"state file {self.path} cannot be used while {doing} ({exc})") from exc
        except sqlite3.DatabaseError as exc:         # not a database, or a damaged one
            raise StateCorrupt(f"state file {self.path} is not a readable autobot state database ({exc}): check "
                               "the positions on the exchange, then move the file aside (the engine starts a "
                               "new one and rebuilds positions from the exchange) or restore a backup") from exc

    @contextmanager
    def _transaction(self, doing: str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        with self._guard(doing), self._lock:
            # IMMEDIATE takes the write lock up front; a plain BEGIN is a consistent read that blocks no writer
            self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _corrupt(self, error: _codec.PayloadError) -> StateCorrupt:
        where = "table snapshot" if error.part == "state" else \
            f"table positions row {error.part.removeprefix('position ')}"
        return StateCorrupt(f"state file {self.path} {where} cannot be read: {error.problem}. Check the positions on "
                            "the exchange, then move the file aside or restore a backup; on its next start the "
                            "engine rebuilds positions from the exchange.")

    def healthy(self) -> bool:
        try:
            with self._guard("probing"), self._lock:
                self._db.execute("SELECT 1 FROM snapshot LIMIT 1").fetchall()
        except (StateUnavailable, StateCorrupt, sqlite3.ProgrammingError):   # ProgrammingError: closed
            return False
        return True

    def load(self) -> BotState | None:
        with self._transaction("reading the snapshot", write=False) as db:   # both tables from one moment
            row = db.execute("SELECT doc FROM snapshot WHERE id = 1").fetchone()
            positions = dict(db.execute("SELECT symbol, doc FROM positions").fetchall())
        if row is None:
            if positions:
                raise self._corrupt(_codec.PayloadError("positions", f"holds {sorted(positions)} but there is "
                                                                     "no snapshot"))
            return None
        try:
            return _codec.decode(row[0], positions)
        except _codec.PayloadError as exc:
            raise self._corrupt(exc) from None

    def save(self, state: BotState) -> None:
        state_text, position_texts = _codec.encode(state)
        with self._transaction("writing the snapshot") as db:
            db.execute("INSERT OR REPLACE INTO snapshot (id, doc) VALUES (1, ?)", (state_text,))
            db.execute("DELETE FROM positions")
            db.executemany("INSERT INTO positions (symbol, doc) VALUES (?, ?)", position_texts.items())

    def append_journal(self, records: Iterable[JournalRecord]) -> None:
        rows = [(_codec.record_time(r).value, _codec.encode_record(r)) for r in records]
        if not rows:
            return
        with self._transaction("appending to the journal") as db:
            db.executemany("INSERT INTO journal (ts_ns, doc) VALUES (?, ?)", rows)
            db.execute("DELETE FROM journal WHERE id <= (SELECT MAX(id) FROM journal) - ?", (self.journal_cap,))

    def read_journal(self, since: pd.Timestamp | str | None = None) -> list[JournalRecord]:
        start = -(2 ** 63) if since is None else to_utc(since).value
        with self._guard("reading the journal"), self._lock:
            rows = self._db.execute("SELECT id, doc FROM journal WHERE ts_ns >= ? ORDER BY id", (start,)).fetchall()
        try:
            return [_codec.decode_record(f"row {row_id}", doc) for row_id, doc in rows]
        except _codec.PayloadError as exc:
            raise StateCorrupt(f"state file {self.path} table journal {exc}; delete that row") from None

    def append_trades(self, trades: Iterable[LiveTrade]) -> None:
        rows = [(_codec.trade_time(t).value, _codec.encode_trade(t)) for t in trades]
        if rows:
            with self._transaction("appending to the trades") as db:
                db.executemany("INSERT OR IGNORE INTO trades (exit_ns, doc) VALUES (?, ?)", rows)   # each once

    def read_trades(self, start: pd.Timestamp | str | None = None,
                    end: pd.Timestamp | str | None = None) -> list[LiveTrade]:
        low = -(2 ** 63) if start is None else to_utc(start).value
        high = 2 ** 63 - 1 if end is None else to_utc(end).value
        with self._guard("reading the trades"), self._lock:
            rows = self._db.execute("SELECT id, doc FROM trades WHERE exit_ns >= ? AND exit_ns < ? "
                                    "ORDER BY exit_ns, id", (low, high)).fetchall()
        try:
            return [_codec.decode_trade(f"row {row_id}", doc) for row_id, doc in rows]
        except _codec.PayloadError as exc:
            raise StateCorrupt(f"state file {self.path} table trades {exc}; the trade is also in the CSV trade log: "
                               "delete that row, or repair it from the CSV") from None

    def mark_processed(self, client_order_ids: Iterable[str]) -> None:
        ids = [(i,) for i in client_order_ids]
        with self._transaction("writing processed orders") as db:
            db.executemany("INSERT OR IGNORE INTO processed_orders VALUES (?)", ids)

    def processed(self, client_order_ids: Iterable[str]) -> set[str]:
        ids = list(client_order_ids)
        with self._guard("reading processed orders"), self._lock:
            known = self._db.execute("SELECT client_order_id FROM processed_orders WHERE client_order_id IN "
                                     f"({','.join('?' * len(ids))})", ids).fetchall() if ids else []
        return {row[0] for row in known}

    def close(self) -> None:
        with self._lock:
            self._db.close()
