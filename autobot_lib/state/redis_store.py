"""The Redis adapter, with the keys the AUTOBOT seed names.

Key layout (db ``REDIS_DB``):

==========================  ======  ==============================================================
``autobot:state``           string  the snapshot document (JSON, versioned), positions listed by symbol
``autobot:positions``       hash    symbol -> position document (JSON, versioned)
``autobot:signals``         stream  the decision journal: one entry per record, field ``record`` (JSON),
                                    capped at ``journal_cap`` entries (oldest dropped)
``autobot:orders:processed`` set    client order ids whose outcome is already in the snapshot
``autobot:trades``          zset    closed trades: member the trade document (JSON, versioned), score its
                                    exit time in ms since the epoch (UTC); every trade kept, each once
==========================  ======  ==============================================================

:meth:`RedisStore.save` writes ``autobot:state`` and ``autobot:positions`` in one MULTI/EXEC
transaction and :meth:`RedisStore.load` reads both in one, so a reader never sees half a snapshot.
Failures are typed (``StateUnavailable`` naming host:port, ``StateAccessDenied``) and the client
reconnects on the next call, so saves succeed again once Redis is back. The password lives only inside
the redis-py connection pool: it is never in a repr, a log line or an error message.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable, Iterator

import pandas as pd
import redis
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry

from autobot_lib.data.frame import to_utc
from autobot_lib.journal import JournalRecord
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.state import _codec
from autobot_lib.state.port import StateAccessDenied, StateCorrupt, StateUnavailable
from autobot_lib.state.snapshot import BotState

STATE_KEY = "autobot:state"
POSITIONS_KEY = "autobot:positions"
SIGNALS_KEY = "autobot:signals"
PROCESSED_KEY = "autobot:orders:processed"
TRADES_KEY = "autobot:trades"
JOURNAL_CAP = 50_000      # about a year of hourly bars for five symbols
_PAGE = 1_000             # stream entries fetched per round trip when reading the journal


class RedisStore:
    """State in Redis. ``RedisStore("localhost", 6379, 0, settings.REDIS_PASSWORD)``."""

    def __init__(self, host: str = "localhost", port: int = 6379, db: int = 0, password: SecretStr | None = None,
                 *, journal_cap: int = JOURNAL_CAP, timeout: float = 2.0):
        if isinstance(password, str):     # accept a plain string, but keep it hidden like the settings do
            password = SecretStr(password)
        self.host, self.port, self.db, self.journal_cap = host, port, db, journal_cap
        self._has_password = password is not None
        # One retry reconnects after Redis restarted (the pooled socket is dead); no backoff, so a Redis
        # that is down fails the call at once and the engine carries on with its in-memory state.
        self._client = redis.Redis(host=host, port=port, db=db,
                                   password=password.get_secret_value() if password else None,
                                   socket_timeout=timeout, socket_connect_timeout=timeout,
                                   retry=Retry(NoBackoff(), 1), decode_responses=True)

    def __repr__(self) -> str:
        return (f"RedisStore({self.host}:{self.port} db={self.db}, "
                f"password={'set' if self._has_password else 'none'})")

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @contextmanager
    def _talking(self, doing: str) -> Iterator[None]:
        """Translate redis-py's errors into the port's, naming host:port and never the password."""
        try:
            yield
        except redis.AuthenticationError:
            # from None: nothing of the handshake (which carried the password) is chained into the error
            hint = "check REDIS_PASSWORD" if self._has_password else "it requires a password: set REDIS_PASSWORD"
            raise StateAccessDenied(f"Redis at {self.address} refused the credentials while {doing}: {hint}") \
                from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise StateUnavailable(f"Redis at {self.address} is unreachable while {doing} ({exc}); start it or "
                                   "check REDIS_HOST / REDIS_PORT") from exc
        except redis.RedisError as exc:    # answered but refused: out of memory, read-only replica, disk error
            raise StateUnavailable(f"Redis at {self.address} refused {doing} ({exc})") from exc

    def _corrupt(self, key: str, error: _codec.PayloadError) -> StateCorrupt:
        where = f"{key} field {error.part.removeprefix('position ')}" if key == POSITIONS_KEY else key
        return StateCorrupt(
            f"Redis {self.address} db {self.db} key {where} cannot be read: {error.problem}. Check the positions "
            f"on the exchange, then remove the snapshot (redis-cli -h {self.host} -p {self.port} -n {self.db} "
            f"DEL {STATE_KEY} {POSITIONS_KEY}) or restore a backup; on its next start the engine rebuilds "
            "positions from the exchange.")

    def ping(self) -> None:
        """Raise StateUnavailable / StateAccessDenied unless Redis answers."""
        with self._talking("pinging"):
            self._client.ping()

    def healthy(self) -> bool:
        try:
            self.ping()
        except StateUnavailable:
            return False
        return True

    def load(self) -> BotState | None:
        with self._talking(f"reading {STATE_KEY}"):
            pipe = self._client.pipeline(transaction=True)   # both keys from one moment
            pipe.get(STATE_KEY)
            pipe.hgetall(POSITIONS_KEY)
            state_text, position_texts = pipe.execute()
        if state_text is None:
            if position_texts:
                raise self._corrupt(POSITIONS_KEY, _codec.PayloadError(
                    "positions", f"holds {sorted(position_texts)} but {STATE_KEY} is missing"))
            return None
        try:
            return _codec.decode(state_text, position_texts)
        except _codec.PayloadError as exc:
            key = STATE_KEY if exc.part == "state" else POSITIONS_KEY
            raise self._corrupt(key, exc) from None

    def save(self, state: BotState) -> None:
        state_text, position_texts = _codec.encode(state)   # encode first: a bad value writes nothing
        with self._talking(f"writing {STATE_KEY}"):
            pipe = self._client.pipeline(transaction=True)
            pipe.set(STATE_KEY, state_text)
            pipe.delete(POSITIONS_KEY)                     # positions closed since the last save go
            if position_texts:
                pipe.hset(POSITIONS_KEY, mapping=position_texts)
            pipe.execute()

    def append_journal(self, records: Iterable[JournalRecord]) -> None:
        texts = [_codec.encode_record(r) for r in records]
        if not texts:
            return
        with self._talking(f"appending to {SIGNALS_KEY}"):
            pipe = self._client.pipeline(transaction=True)
            for text in texts:
                pipe.xadd(SIGNALS_KEY, {"record": text}, maxlen=self.journal_cap, approximate=False)
            pipe.execute()

    def read_journal(self, since: pd.Timestamp | str | None = None) -> list[JournalRecord]:
        start = None if since is None else to_utc(since)
        records, cursor = [], "-"
        with self._talking(f"reading {SIGNALS_KEY}"):
            while True:
                page = self._client.xrange(SIGNALS_KEY, min=cursor, count=_PAGE)
                for entry_id, fields in page:
                    try:
                        record = _codec.decode_record(entry_id, fields["record"])
                    except (KeyError, _codec.PayloadError) as exc:
                        raise StateCorrupt(f"Redis {self.address} key {SIGNALS_KEY} entry {entry_id} is not a "
                                           f"journal record ({exc}); delete it with XDEL {SIGNALS_KEY} "
                                           f"{entry_id}") from None
                    if start is None or _codec.record_time(record) >= start:
                        records.append(record)
                if len(page) < _PAGE:
                    return records
                cursor = "(" + page[-1][0]                 # exclusive: after the last entry read

    def append_trades(self, trades: Iterable[LiveTrade]) -> None:
        scored = {_codec.encode_trade(t): _codec.trade_time(t).value // 1_000_000 for t in trades}
        if scored:
            with self._talking(f"appending to {TRADES_KEY}"):
                self._client.zadd(TRADES_KEY, scored)       # a member already there stays once

    def read_trades(self, start: pd.Timestamp | str | None = None,
                    end: pd.Timestamp | str | None = None) -> list[LiveTrade]:
        low, high = (None if t is None else to_utc(t) for t in (start, end))
        # scores are whole milliseconds: fetch the span around the bounds, then cut it exactly on the times
        with self._talking(f"reading {TRADES_KEY}"):
            texts = self._client.zrangebyscore(TRADES_KEY, "-inf" if low is None else low.value // 1_000_000,
                                               "+inf" if high is None else -(-high.value // 1_000_000))
        trades = []
        for text in texts:
            try:
                trade = _codec.decode_trade(TRADES_KEY, text)
            except _codec.PayloadError as exc:
                raise StateCorrupt(f"Redis {self.address} key {exc}; the trade is also in the CSV trade log: remove "
                                   f"it with ZREM {TRADES_KEY} <member>, or repair it from the CSV") from None
            when = _codec.trade_time(trade)
            if (low is None or when >= low) and (high is None or when < high):
                trades.append(trade)
        return trades

    def mark_processed(self, client_order_ids: Iterable[str]) -> None:
        ids = list(client_order_ids)
        if ids:
            with self._talking(f"writing {PROCESSED_KEY}"):
                self._client.sadd(PROCESSED_KEY, *ids)

    def processed(self, client_order_ids: Iterable[str]) -> set[str]:
        ids = list(client_order_ids)
        if not ids:
            return set()
        with self._talking(f"reading {PROCESSED_KEY}"):
            flags = self._client.smismember(PROCESSED_KEY, ids)
        return {i for i, known in zip(ids, flags) if known}

    def close(self) -> None:
        self._client.close()
