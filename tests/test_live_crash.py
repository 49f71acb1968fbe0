"""Crash safety: the bot (``autobot live`` in its own process, real ccxt, SQLite state) is killed with
SIGKILL at random points against the local venue and restarted, over and over. After each restart's
reconciliation: no order was ever sent twice, every open position has its stop on the exchange, and every
entry the exchange filled is in the journal."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
import yaml

from autobot_lib.exchange.venue import Fault, MarketBook, VenueServer
from autobot_lib.state import SQLiteStore
from conftest import REPLAY_START, REPO, VENUE_KEY, VENUE_SECRET, real

RUNS = 20


def until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.01)


@pytest.fixture
def venue():
    usdm = MarketBook("usdm")
    usdm.add_bars("BTCUSDT", real("binance_usdm_BTCUSDT_1h.csv.gz"))
    usdm.rate_limit_scale = 1000     # hours replayed in seconds: the bot's limiter follows what is announced
    server = VenueServer(usdm=usdm, api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START, speed="manual")
    server.start()
    yield server
    server.stop()


def start_bot(venue, tmp_path, *extra: str) -> subprocess.Popen:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "STRATEGY": "donchian", "MAX_DRAWDOWN": 1.0, "STATE_STORE": "sqlite",
        "STATE_DB_PATH": str(tmp_path / "state.sqlite3"), "LOG_FILE": str(tmp_path / "bot.log"),
        "HEARTBEAT_FILE": str(tmp_path / "heartbeat.json"), "POSITION_CHECK_INTERVAL": 1,
        "donchian": {"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0, "channel_len": 10,
                     "exit_channel_len": 5}}))
    env = {**os.environ, "AUTOBOT_VENUE_API_KEY": VENUE_KEY, "AUTOBOT_VENUE_API_SECRET": VENUE_SECRET,
           "PYTHONPATH": str(REPO)}
    for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BOT_CONFIG_JSON"):
        env.pop(key, None)
    out = open(tmp_path / "bot.out", "ab")
    return subprocess.Popen([sys.executable, "-m", "autobot_lib.cli", "-q", "live", "--mode", "testnet", "--base-url",
                             venue.url, "--symbols", "BTCUSDT", "--no-metrics", "-f", str(params), *extra],
                            cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)


def connected(venue) -> bool:
    return sum(len(s) for _, s in list(venue.streams.market.values())) >= 1


def decided(store_path, stamp) -> bool:
    if not store_path.exists():
        return False
    store = SQLiteStore(store_path)
    try:
        return any(r.timestamp == stamp for r in store.read_journal())
    finally:
        store.close()


def check(venue, store_path) -> None:
    account = venue.account
    triggered = {a.actual_order_id for a in account.algos.values() if a.actual_order_id}   # a stop's own fill
    ids = Counter(o.client_id for o in account.orders.values() if o.order_id not in triggered)
    ids.update(a.client_id for a in account.algos.values())
    twice = [i for i, n in ids.items() if n > 1]
    assert not twice, f"sent twice: {twice}: " + "; ".join(
        f"{a.client_id} {a.side} {a.qty} @{a.trigger} {a.status} created {a.create_ms}"
        for a in account.algos.values() if a.client_id in twice)
    open_stops = {a.symbol for a in account.algos.values() if a.is_open and a.type == "STOP_MARKET"}
    held = [s for s, p in account.positions.items() if p.amount != 0]
    assert all(s in open_stops for s in held), f"unprotected: {held} vs stops {open_stops}"
    store = SQLiteStore(store_path)
    try:
        ordered = {r.timestamp for r in store.read_journal() if r.outcome == "order"}
    finally:
        store.close()
    for order in account.orders.values():
        if order.client_id.endswith("-E") and order.status == "FILLED":
            bar = int(order.client_id.split("-")[2], 16)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(bar))
            assert stamp in ordered, f"entry {order.client_id} is not in the journal"


def test_killed_at_random_points_and_restarted(venue, tmp_path):
    rng = random.Random(20251122)
    store_path = tmp_path / "state.sqlite3"
    kills = 0
    for run in range(RUNS):
        bot = start_bot(venue, tmp_path)
        try:
            until(lambda: connected(venue) or bot.poll() is not None, "the bot warmed up and subscribed")
            assert bot.poll() is None, (tmp_path / "bot.out").read_text()[-3000:]
            check(venue, store_path)            # the previous run's crash, after this run's reconciliation
            for _ in range(rng.randint(1, 4)):  # some bars decided in full
                venue.advance(1)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(venue.now_ms() // 1000 - 3600))
                until(lambda: decided(store_path, stamp) or bot.poll() is not None, f"bar {stamp} decided")
            # then one it is killed in the middle of: the next stop placed (or moved) is answered 250 ms
            # late, so a kill lands between an entry's fill and its stop as often as anywhere else
            venue.inject(Fault("timeout", path="/fapi/v1/algoOrder", count=1, delay_s=0.25))
            venue.advance(1)
            time.sleep(rng.uniform(0, 0.35))
        finally:
            bot.send_signal(signal.SIGKILL)
            bot.wait()
            kills += 1
        until(lambda: not connected(venue), "the dead bot's stream closed")
    bot = start_bot(venue, tmp_path)
    try:
        until(lambda: connected(venue), "the last restart reconciled")
        check(venue, store_path)
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
    entries = [o for o in venue.account.orders.values() if o.client_id.endswith("-E")]
    assert kills == RUNS and len(entries) >= 3, "the runs traded"
    repairs = (tmp_path / "bot.log").read_text()
    assert "adopted" in repairs or "stop re-armed" in repairs, "no kill ever landed between a fill and its stop"


def heartbeat(tmp_path) -> dict:
    import json
    path = tmp_path / "heartbeat.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_the_manual_kill_switch_halts_entries_survives_a_restart_and_a_named_human_rearms_it(venue, tmp_path):
    store_path = tmp_path / "state.sqlite3"

    def step_until_decided() -> str:
        venue.advance(1)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(venue.now_ms() // 1000 - 3600))
        until(lambda: decided(store_path, stamp), f"bar {stamp} decided")
        return stamp

    bot = start_bot(venue, tmp_path)
    try:
        until(lambda: connected(venue), "the bot subscribed")
        step_until_decided()
        bot.send_signal(signal.SIGUSR1)
        until(lambda: step_until_decided() and heartbeat(tmp_path).get("state") == "HALTED", "halted")
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
    until(lambda: not connected(venue), "the stream closed")
    bot = start_bot(venue, tmp_path)                       # a restart keeps it halted
    try:
        until(lambda: connected(venue), "restarted")
        for _ in range(30):
            step_until_decided()
        assert heartbeat(tmp_path)["state"] == "HALTED"
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
    store = SQLiteStore(store_path)
    halted = [r for r in store.read_journal() if r.outcome == "veto:halted"]
    store.close()
    assert halted, "a breakout came while halted and was vetoed"
    until(lambda: not connected(venue), "the stream closed")
    bot = start_bot(venue, tmp_path, "--rearm", "alice")
    try:
        until(lambda: connected(venue), "restarted with --rearm")
        step_until_decided()
        until(lambda: heartbeat(tmp_path).get("state") == "ACTIVE", "re-armed")
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
    assert "re-armed by alice" in (tmp_path / "bot.out").read_text()


def test_a_kill_signal_sent_while_the_bot_starts_halts_it_instead_of_ending_it(venue, tmp_path):
    bot = start_bot(venue, tmp_path)
    try:
        time.sleep(0.3)                     # still importing: nothing of the engine exists yet
        bot.send_signal(signal.SIGUSR1)
        until(lambda: connected(venue) or bot.poll() is not None, "the bot started")
        assert bot.poll() is None, "SIGUSR1 ended the process"
        venue.advance(1)
        until(lambda: heartbeat(tmp_path).get("state") == "HALTED", "halted once started")
    finally:
        bot.send_signal(signal.SIGKILL)
        bot.wait()
