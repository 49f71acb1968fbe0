"""The state store: the same contract for Redis (a real redis-server) and SQLite, plus each one's failures.

Expectations come from the samples in state_samples.py and from the documented layout (keys, JSON
fields), never from the store's own encoder.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable

import pytest
import redis
from pydantic import SecretStr

from autobot_lib.config import Settings, load_settings
from autobot_lib.state import (BotState, RedisStore, SQLiteStore, StateAccessDenied, StateCorrupt, StateStore,
                               StateUnavailable, open_store)
from conftest import REPO, free_port
from redis_fixture import PASSWORD, RedisServer, redis_server, redis_server_with_password  # noqa: F401 (fixtures)
from state_samples import closed_trades, journal_records, other_state, rich_state, utc

WRONG_PASSWORD = "wrong-pw-9d1e77"


# --- one harness per adapter: open a store on the same backing, and reach its raw payloads ----------------

@dataclass
class Backend:
    name: str
    make: Callable[..., StateStore]
    raw_state: Callable[[], tuple[str, dict[str, str]]]         # (snapshot document, {symbol: document})
    write_raw: Callable[[str | None, str], None]               # (symbol or None for the snapshot, text)
    where_state: str                                           # how its errors name the snapshot
    opened: list[StateStore] = field(default_factory=list)

    def open(self, **options) -> StateStore:
        store = self.make(**options)
        self.opened.append(store)
        return store


def _redis_backend(server: RedisServer) -> Backend:
    raw = server.client()

    def write_raw(symbol, text):
        raw.set("autobot:state", text) if symbol is None else raw.hset("autobot:positions", symbol, text)

    return Backend("redis", lambda **o: RedisStore("127.0.0.1", server.port, 0, None, **o),
                   lambda: (raw.get("autobot:state"), raw.hgetall("autobot:positions")), write_raw,
                   "autobot:state")


def _sqlite_backend(path: Path) -> Backend:
    def raw_state():
        with sqlite3.connect(path) as db:
            return db.execute("SELECT doc FROM snapshot").fetchone()[0], dict(db.execute("SELECT * FROM positions"))

    def write_raw(symbol, text):
        with sqlite3.connect(path) as db:
            if symbol is None:
                db.execute("UPDATE snapshot SET doc = ?", (text,))
            else:
                db.execute("UPDATE positions SET doc = ? WHERE symbol = ?", (text, symbol))

    return Backend("sqlite", lambda **o: SQLiteStore(path, **o), raw_state, write_raw, "table snapshot")


@pytest.fixture(params=["redis", "sqlite"])
def backend(request, tmp_path):
    server = RedisServer(tmp_path / "redis").start() if request.param == "redis" else None
    made = _redis_backend(server) if server else _sqlite_backend(tmp_path / "data" / "state.sqlite3")
    yield made
    for store in made.opened:
        store.close()
    if server:
        server.stop()


# --- the contract, for both adapters ---------------------------------------------------------------------

def test_an_empty_store_has_no_snapshot(backend):
    store = backend.open()
    assert store.load() is None and store.read_journal() == [] and store.healthy()
    assert isinstance(store, StateStore)


def test_a_rich_snapshot_round_trips_through_a_fresh_store(backend):
    backend.open().save(rich_state())
    loaded = backend.open().load()     # another connection: nothing is cached in the writer
    assert loaded == rich_state()
    eth = loaded.positions["ETHUSDT"]
    assert (eth.position.pyramid_steps, eth.position.ladder_steps, eth.position.be_promoted) == (2, 1, True)
    assert eth.position.first_entry_price == 2990.0 and eth.position.opened_at == utc("2025-03-01 08:00")
    assert eth.stop_order_id == "algo-8849201" and eth.client_order_ids == ("ab-e1", "ab-e2", "ab-e3", "ab-e4")
    assert loaded.pending[0].intent.stop_price == Decimal("2990.10") and str(loaded.pending[0].intent.qty) == "1.750"
    assert loaded.positions["BTCUSDT"].position.take_profit is None


def test_the_stored_payload_is_versioned_json_with_decimals_as_strings(backend):
    backend.open().save(rich_state())
    state_text, positions = backend.raw_state()
    doc = json.loads(state_text)
    assert doc["version"] == 1 and doc["trading_state"] == "REDUCING" and doc["anchor_day"] == "2025-03-04"
    assert doc["kill_reason"] == "daily loss limit 6% reached" and doc["peak_equity"] == 10234.56
    assert doc["pending"][0]["intent"]["qty"] == "1.750" and doc["pending"][1]["intent"]["take_profit"] == "80000"
    assert doc["pending"][0]["created_at"] == "2025-03-04T05:00:01.250000+00:00"
    assert doc["last_bar"] == {"ETHUSDT": "2025-03-04T05:00:00+00:00", "BTCUSDT": "2025-03-04T05:00:00+00:00"}
    assert sorted(positions) == ["BTCUSDT", "ETHUSDT"]
    eth = json.loads(positions["ETHUSDT"])
    assert eth["version"] == 1 and eth["stop_order_id"] == "algo-8849201"
    assert eth["position"]["side"] == "LONG" and eth["position"]["opened_at"] == "2025-03-01T08:00:00+00:00"
    assert eth["position"]["qty"] == 1.75 and eth["position"]["pyramid_steps"] == 2


def test_a_save_replaces_the_snapshot_and_drops_closed_positions(backend):
    store = backend.open()
    store.save(rich_state())
    store.save(other_state())
    assert backend.open().load() == other_state()
    assert sorted(backend.raw_state()[1]) == ["ETHUSDT"]


def test_a_snapshot_that_cannot_be_encoded_writes_nothing(backend):
    store = backend.open()
    store.save(rich_state())
    broken = BotState(positions=other_state().positions, indicators={"ETHUSDT": {"ring": object()}})
    with pytest.raises(TypeError):
        store.save(broken)
    assert backend.open().load() == rich_state()


def test_journal_append_and_read_since(backend):
    store = backend.open()
    records = journal_records(4)
    store.append_journal(records[:1])
    store.append_journal(records[1:])
    store.append_journal([])
    fresh = backend.open()
    assert fresh.read_journal() == records
    assert fresh.read_journal(since="2025-03-04 02:00") == records[2:]
    assert fresh.read_journal(since=utc("2025-03-04 01:30")) == records[2:]
    assert fresh.read_journal(since="2030-01-01") == []


def test_the_journal_keeps_the_newest_records_up_to_its_cap(backend):
    store = backend.open(journal_cap=5)
    records = journal_records(8)
    for r in records:
        store.append_journal([r])
    assert store.read_journal() == records[3:]


def test_processed_client_order_ids_are_remembered_across_stores(backend):
    store = backend.open()
    store.mark_processed(["ab-1", "ab-2"])
    store.mark_processed(["ab-2"])          # marking twice is harmless
    store.mark_processed([])
    assert backend.open().processed(["ab-1", "ab-3", "ab-2"]) == {"ab-1", "ab-2"}
    assert backend.open().processed([]) == set()


def test_closed_trades_are_kept_each_once_and_read_by_exit_time(backend):
    store = backend.open()
    trades = closed_trades()
    store.append_trades(trades[:2])
    store.append_trades(trades[1:])          # the second again, as a retried write sends it: still kept once
    store.append_trades([])
    fresh = backend.open()
    as_dicts = lambda kept: [t.to_dict() for t in kept]  # noqa: E731 (NaN compares as None)
    assert as_dicts(fresh.read_trades()) == as_dicts(trades)
    assert as_dicts(fresh.read_trades("2025-03-04", "2025-03-05")) == as_dicts(trades[:2])     # one UTC day
    assert as_dicts(fresh.read_trades(start=utc("2025-03-04 13:00:00.5"))) == as_dicts(trades[1:])  # from: in
    assert as_dicts(fresh.read_trades(end=utc("2025-03-04 13:00:00.5"))) == as_dicts(trades[:1])    # to: out
    assert fresh.read_trades("2025-03-06") == []
    adopted = fresh.read_trades("2025-03-05")[0]
    assert math.isnan(adopted.exit_price) and math.isnan(adopted.r_multiple) and adopted.entry_regime is None
    winner = fresh.read_trades(end="2025-03-04 07:00")[0]
    assert winner.exit_time == utc("2025-03-04 06:15:02.125") and winner.pnl == 168.2011
    assert winner.entry_rules == "STRONG_UPTREND,MACD_CROSS_UP" and winner.funding == 0.4312


def test_a_corrupt_trade_names_where_it_is_and_the_fix(backend, tmp_path):
    store = backend.open()
    store.append_trades(closed_trades()[:1])
    if backend.name == "redis":
        store._client.zadd("autobot:trades", {'{"version": 1, "trade": {"symbol": "X"}}': 1})
        where = "autobot:trades"
    else:
        with sqlite3.connect(tmp_path / "data" / "state.sqlite3") as db:
            db.execute("UPDATE trades SET doc = '{not json'")
        where = "table trades row 1"
    with pytest.raises(StateCorrupt) as caught:
        backend.open().read_trades()
    assert where in str(caught.value) and "CSV trade log" in str(caught.value)


@pytest.mark.parametrize("symbol, payload, expected", [
    (None, "{not json", "not JSON"),
    (None, '{"version": 99}', "newer autobot: upgrade"),
    (None, "[1, 2]", "expected a JSON object"),
    ("ETHUSDT", "drop entry_price", "entry_price"),
])
def test_a_corrupt_payload_names_where_it_is_and_the_fix(backend, symbol, payload, expected):
    backend.open().save(rich_state())
    if payload == "drop entry_price":
        doc = json.loads(backend.raw_state()[1]["ETHUSDT"])
        del doc["position"]["entry_price"]
        payload = json.dumps(doc)
    backend.write_raw(symbol, payload)
    with pytest.raises(StateCorrupt) as caught:
        backend.open().load()
    message = str(caught.value)
    where = backend.where_state if symbol is None else {"redis": "autobot:positions field ETHUSDT",
                                                        "sqlite": "table positions row ETHUSDT"}[backend.name]
    assert where in message and expected in message
    assert "restore a backup" in message and "rebuilds positions from the exchange" in message


# --- Redis: keys, transactions, outages, credentials -------------------------------------------------------

def test_redis_keeps_trades_in_a_sorted_set_scored_by_exit_time(redis_server):
    store = RedisStore("127.0.0.1", redis_server.port)
    store.append_trades(closed_trades()[:1])
    with redis_server.client() as raw:
        [(member, score)] = raw.zrange("autobot:trades", 0, -1, withscores=True)
    doc = json.loads(member)
    assert score == utc("2025-03-04 06:15:02.125").value // 1_000_000 and doc["version"] == 1
    assert doc["trade"]["exit_time"] == "2025-03-04T06:15:02.125000+00:00" and doc["trade"]["pnl"] == 168.2011
    store.close()


def test_redis_uses_the_seed_keys(redis_server):
    store = RedisStore("127.0.0.1", redis_server.port)
    store.save(rich_state())
    store.append_journal(journal_records(2))
    store.mark_processed(["ab-1"])
    raw = redis_server.client()
    assert sorted(raw.keys("*")) == ["autobot:orders:processed", "autobot:positions", "autobot:signals",
                                     "autobot:state"]
    assert raw.type("autobot:positions") == "hash" and raw.type("autobot:signals") == "stream"
    assert raw.xlen("autobot:signals") == 2
    store.close()


def _packed(*words: str) -> bytes:
    return f"*{len(words)}\r\n".encode() + b"".join(f"${len(w)}\r\n{w}\r\n".encode() for w in words)


def test_redis_killed_in_the_middle_of_a_save_keeps_the_previous_snapshot(tmp_path, monkeypatch):
    """MULTI and the writes reach the server, then it is SIGKILLed before EXEC: on restart (the append-only
    file holds every acknowledged write) the previous snapshot is there, whole, and never a mix."""
    server = RedisServer(tmp_path / "redis", durable=True).start()
    store = RedisStore("127.0.0.1", server.port)
    store.save(rich_state())
    admin = server.client()
    sender = redis.connection.AbstractConnection.send_packed_command
    multi, exec_ = _packed("MULTI"), _packed("EXEC")
    crashed = []

    def send_then_crash_before_exec(connection, command, check_health=True):
        data = command if isinstance(command, bytes) else b"".join(command)
        if crashed or not (data.startswith(multi) and data.endswith(exec_)):
            return sender(connection, command, check_health)
        body = data[:-len(exec_)]
        queued = body.count(b"\r\n*")      # commands after MULTI (payloads are JSON: no CRLF inside)
        sender(connection, [body], check_health)
        while not any(client.get("multi") == str(queued) for client in admin.client_list()):
            time.sleep(0.01)               # until the server holds the whole transaction, EXEC not yet sent
        server.kill()
        crashed.append(queued)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_then_crash_before_exec)
    try:
        with pytest.raises(StateUnavailable, match=f"127.0.0.1:{server.port}"):
            store.save(other_state())
        assert crashed and crashed[0] >= 2             # the snapshot and its positions were both in flight
        assert not store.healthy()
        server.start()                                 # same folder and port: replays the append-only file
        assert store.load() == rich_state()
        store.save(other_state())                      # and the store reconnected by itself
        assert RedisStore("127.0.0.1", server.port).load() == other_state()
    finally:
        store.close()
        server.stop()


def test_redis_stopped_mid_session_fails_typed_and_recovers_when_it_returns(redis_server_with_password, caplog):
    server = redis_server_with_password
    store = RedisStore("127.0.0.1", server.port, 0, SecretStr(PASSWORD))
    store.save(rich_state())
    server.kill()
    for operation in (lambda: store.save(other_state()), store.load, lambda: store.append_journal(journal_records(1)),
                      store.read_journal, lambda: store.mark_processed(["ab-9"]), lambda: store.processed(["ab-9"])):
        with pytest.raises(StateUnavailable) as caught:
            operation()
        assert f"127.0.0.1:{server.port}" in str(caught.value) and not isinstance(caught.value, StateAccessDenied)
        assert PASSWORD not in "".join(traceback.format_exception(caught.value))
    assert store.healthy() is False
    server.start()                          # a fresh, empty server on the same port
    assert store.healthy() is True
    store.save(other_state())
    assert store.load() == other_state()
    assert PASSWORD not in caplog.text
    store.close()


def test_redis_refusing_a_write_fails_typed_and_keeps_the_previous_snapshot(redis_server):
    store = RedisStore("127.0.0.1", redis_server.port)
    store.save(rich_state())
    admin = redis_server.client()
    admin.config_set("maxmemory", "1")                # every write now fails with OOM
    with pytest.raises(StateUnavailable, match=f"127.0.0.1:{redis_server.port} refused writing autobot:state"):
        store.save(other_state())
    admin.config_set("maxmemory", "0")
    assert store.load() == rich_state()
    store.close()


@pytest.mark.parametrize("password, hint", [(WRONG_PASSWORD, "check REDIS_PASSWORD"),
                                            (None, "requires a password")])
def test_redis_refusing_the_credentials_is_access_denied_without_the_password(redis_server_with_password, caplog,
                                                                                password, hint):
    port = redis_server_with_password.port
    store = RedisStore("127.0.0.1", port, 0, SecretStr(password) if password else None)
    with pytest.raises(StateAccessDenied) as caught:
        store.load()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and hint in message
    shown = "".join(traceback.format_exception(caught.value)) + repr(store) + str(store) + caplog.text
    assert WRONG_PASSWORD not in shown and PASSWORD not in shown
    assert store.healthy() is False
    store.close()
    right = RedisStore("127.0.0.1", port, 0, SecretStr(PASSWORD))
    right.save(rich_state())
    assert right.load() == rich_state() and PASSWORD not in repr(right)
    right.close()


# --- SQLite: crashes of the writing process ----------------------------------------------------------------

def _python(code: str, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    return subprocess.Popen([sys.executable, "-c", code, *args], env=env, cwd=REPO, text=True, **popen)


def _loads_in_a_fresh_process(path: Path, expected: str) -> bool:
    code = ("import sys; from autobot_lib.state import SQLiteStore; import state_samples;"
            f"print(SQLiteStore(sys.argv[1]).load() == state_samples.{expected}())")
    child = _python(code, str(path), stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    return out.strip() == "True"


def test_sqlite_snapshot_survives_sigkill_right_after_save_returns(tmp_path):
    path = tmp_path / "state.sqlite3"
    code = ("import sys, time; from autobot_lib.state import SQLiteStore; from state_samples import rich_state;"
            "store = SQLiteStore(sys.argv[1]); store.save(rich_state()); print('saved', flush=True); time.sleep(600)")
    child = _python(code, str(path), stdout=subprocess.PIPE)
    assert child.stdout.readline().strip() == "saved"
    child.send_signal(signal.SIGKILL)       # no close, no checkpoint: the write-ahead log must carry it
    child.wait()
    assert child.returncode == -signal.SIGKILL
    assert _loads_in_a_fresh_process(path, "rich_state")


def test_sqlite_process_killed_in_the_middle_of_a_save_keeps_the_previous_snapshot(tmp_path):
    path = tmp_path / "state.sqlite3"
    code = """
import os, signal, sys
from autobot_lib.state import SQLiteStore
from state_samples import other_state, rich_state

class DieAfterWritingPositions:
    # the snapshot row and the positions are written inside the open transaction; the process dies before COMMIT
    def __init__(self, db):
        self.db = db
    def __getattr__(self, name):
        return getattr(self.db, name)
    def executemany(self, sql, rows):
        self.db.executemany(sql, rows)
        print("dying", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

store = SQLiteStore(sys.argv[1])
store.save(rich_state())
store._db = DieAfterWritingPositions(store._db)
store.save(other_state())
"""
    child = _python(code, str(path), stdout=subprocess.PIPE)
    out, _ = child.communicate(timeout=120)
    assert out.strip() == "dying" and child.returncode == -signal.SIGKILL
    assert _loads_in_a_fresh_process(path, "rich_state")


def test_a_file_that_is_not_a_state_database_is_corrupt_with_its_path(tmp_path):
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateCorrupt, match=re.escape(str(path)) + ".*move the file aside"):
        SQLiteStore(path)


def test_a_closed_sqlite_store_is_not_healthy(tmp_path):
    store = SQLiteStore(tmp_path / "s.sqlite3")
    assert store.healthy()
    store.close()
    assert not store.healthy()


# --- choosing the store from the settings ------------------------------------------------------------------

@pytest.fixture
def settings_for(monkeypatch, tmp_path) -> Callable[..., Settings]:
    for key in list(os.environ):
        if key.upper() in Settings.model_fields:
            monkeypatch.delenv(key)

    def make(**values):
        return load_settings(env_file=None, REDIS_HOST="127.0.0.1", STATE_DB_PATH=str(tmp_path / "s.sqlite3"),
                             **values)

    yield make


def test_open_store_auto_uses_redis_when_it_answers(settings_for, redis_server):
    store = open_store(settings_for(REDIS_PORT=redis_server.port))
    assert isinstance(store, RedisStore) and store.port == redis_server.port
    store.close()


def test_open_store_auto_falls_back_to_sqlite_when_nothing_answers(settings_for, tmp_path):
    store = open_store(settings_for(REDIS_PORT=free_port()))
    assert isinstance(store, SQLiteStore) and store.path == tmp_path / "s.sqlite3"
    store.close()


def test_open_store_redis_never_falls_back(settings_for):
    port = free_port()
    with pytest.raises(StateUnavailable, match=f"127.0.0.1:{port}"):
        open_store(settings_for(STATE_STORE="redis", REDIS_PORT=port))


def test_open_store_auto_does_not_fall_back_on_a_wrong_password(settings_for, redis_server_with_password):
    with pytest.raises(StateAccessDenied):
        open_store(settings_for(REDIS_PORT=redis_server_with_password.port, REDIS_PASSWORD=WRONG_PASSWORD))


def test_open_store_sqlite_does_not_touch_redis(settings_for, tmp_path):
    store = open_store(settings_for(STATE_STORE="sqlite", REDIS_PORT=free_port()))
    assert isinstance(store, SQLiteStore)
    store.close()


# --- the snapshot value -----------------------------------------------------------------------------------

def test_positions_must_be_keyed_by_their_symbol():
    eth = rich_state().positions["ETHUSDT"]
    with pytest.raises(ValueError, match="BTCUSDT"):
        BotState(positions={"BTCUSDT": eth})


