"""The live trade log: closed trades kept in the state store and in a CSV with the backtester's columns, by the
bot itself (`autobot live` on the local venue, a dry-run session), and the daily report made from them."""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from autobot_lib.config import load_settings
from autobot_lib.live.trade_log import (StoreTrades, TradeCsv, TradeLogError, kept_trades, read_trade_log,
                                        trade_log_path)
from autobot_lib.model import TRADE_COLUMNS
from autobot_lib.state import RedisStore, SQLiteStore, StateUnavailable
from conftest import AUTOBOT, REPO, VENUE_KEY, VENUE_SECRET
from redis_fixture import RedisServer, redis_server  # noqa: F401 (fixture)
from state_samples import closed_trades, utc
from test_live_engine import subscribed

DONCHIAN = {"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0, "channel_len": 10, "exit_channel_len": 5}
BARS = 72          # three days from the replay's start: a few breakouts close on each of them
MONEY = ["entry_time", "exit_time", "entry_price", "exit_price", "qty", "fees", "funding", "pnl", "r_multiple"]


# --- the CSV and the store keeper ---------------------------------------------------------------------------

def test_the_csv_grows_a_row_per_trade_with_the_backtesters_columns(tmp_path):
    log = TradeCsv(tmp_path / "data" / "live_trades_live.csv")
    trades = closed_trades()
    for trade in trades:
        log.append(trade)
    lines = log.path.read_text().splitlines()
    assert lines[0] == ",".join(TRADE_COLUMNS) and len(lines) == 1 + len(trades)
    assert sorted(p.name for p in log.path.parent.iterdir()) == ["live_trades_live.csv"]   # no temporary left over
    frame = read_trade_log(log.path)
    assert list(frame.columns) == TRADE_COLUMNS and str(frame["exit_time"].dt.tz) == "UTC"
    assert frame["exit_time"].tolist() == [t.exit_time for t in trades]
    assert frame["pnl"].tolist() == [t.pnl for t in trades] and frame["funding"].tolist() == [t.funding for t in trades]
    assert frame.loc[0, "entry_rules"] == "STRONG_UPTREND,MACD_CROSS_UP"      # a comma inside a field survives
    assert math.isnan(frame.loc[2, "exit_price"]) and pd.isna(frame.loc[2, "entry_regime"])


def test_a_file_that_is_not_a_trade_log_is_never_appended_to(tmp_path):
    other = tmp_path / "live_trades_live.csv"
    other.write_text("timestamp,equity\n2025-03-04,10000\n")
    with pytest.raises(TradeLogError, match="not a trade log .* nothing was appended"):
        TradeCsv(other).append(closed_trades()[0])
    assert other.read_text() == "timestamp,equity\n2025-03-04,10000\n"
    with pytest.raises(TradeLogError, match=r"missing \['symbol'"):
        read_trade_log(other)
    with pytest.raises(TradeLogError, match="no trade log at"):
        read_trade_log(tmp_path / "absent.csv")


def test_a_trade_the_store_refused_is_kept_with_the_next_one(tmp_path):
    server = RedisServer(tmp_path / "redis", durable=True).start()      # keeps what it acknowledged over a restart
    store = RedisStore("127.0.0.1", server.port)
    keeper = StoreTrades(store)
    first, second, third = closed_trades()
    try:
        keeper.append(first)
        server.kill()
        with pytest.raises(StateUnavailable):
            keeper.append(second)                      # the engine turns this into an alert
        server.start()
        keeper.append(third)
        assert [t.to_dict() for t in store.read_trades()] == [t.to_dict() for t in (first, second, third)]
        assert keeper.unsaved == []
    finally:
        store.close()
        server.stop()


def test_the_trade_log_goes_to_the_strategys_data_folder(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"strategy": "donchian", "data_dir": str(tmp_path / "donchian-data"),
                                  "universe": ["BTCUSDT"]}))
    donchian = load_settings(env_file=None, config_json=config)
    assert trade_log_path(donchian, "testnet") == tmp_path / "donchian-data" / "live_trades_testnet.csv"
    autobot = load_settings(env_file=None, config_json=None, STATE_DB_PATH="var/bot/state.sqlite3")
    assert trade_log_path(autobot, "live") == Path("var/bot/live_trades_live.csv")   # beside the bot's state
    default = load_settings(env_file=None, config_json=None)
    assert trade_log_path(default, "dry-run") == Path("data/live_trades_dry-run.csv")


# --- the bot keeps its trades, and the daily report reports them -------------------------------------------

def _journal_rows(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return db.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
        except sqlite3.OperationalError:         # the bot is creating its tables
            return 0


def _wait(condition, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def _run_bot(venue, tmp_path: Path) -> str:
    """`autobot live` (the exchange path: real ccxt client, userTrades and income) on the local venue for
    BARS bars, stepped one decided bar at a time; returns what it printed."""
    state = tmp_path / "state" / "state.sqlite3"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({
        "STRATEGY": "donchian", "MAX_DRAWDOWN": 1.0, "STATE_STORE": "sqlite", "STATE_DB_PATH": str(state),
        "LOG_FILE": "", "HEARTBEAT_FILE": str(tmp_path / "heartbeat.json"),
        "donchian": {**DONCHIAN, "data_dir": str(tmp_path / "trades")}}))
    env = {**os.environ, "AUTOBOT_VENUE_API_KEY": VENUE_KEY, "AUTOBOT_VENUE_API_SECRET": VENUE_SECRET,
           "PYTHONPATH": str(REPO)}
    for key in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BOT_CONFIG_JSON", "STRATEGY", "STATE_DB_PATH"):
        env.pop(key, None)
    out = tmp_path / "bot.out"
    with open(out, "w") as sink:
        bot = subprocess.Popen([sys.executable, "-m", "autobot_lib.cli", "-q", "live", "--mode", "testnet",
                                "--base-url", venue.url, "--symbols", "BTCUSDT", "--no-metrics", "--bars", str(BARS),
                                "-f", str(params)], cwd=tmp_path, env=env, stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait(lambda: subscribed(venue) or bot.poll() is not None, "the bot subscribed")
            for k in range(BARS):
                assert bot.poll() is None, out.read_text()[-3000:]
                venue.advance(1)
                _wait(lambda: _journal_rows(state) > k or bot.poll() is not None, f"bar {k + 1} decided")
            assert bot.wait(timeout=90) == 0, out.read_text()[-3000:]
        finally:
            if bot.poll() is None:
                bot.kill()
                bot.wait()
    return out.read_text()


def _reported(tmp_path: Path, day: str, *source: str) -> str:
    """`autobot schedule daily-report --once` for ``day`` on ``source`` (-p pairs); the notebook's printed text."""
    out = tmp_path / "reports"
    run = subprocess.run([AUTOBOT, "-q", "schedule", "daily-report", "--once", "--date", day, *source, "--out",
                          str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    executed = json.loads((out / day / "04_daily_report.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))


def test_the_bot_keeps_each_closed_trade_and_the_daily_report_reports_the_days(trading_venue, tmp_path):
    said = _run_bot(trading_venue, tmp_path)
    csv = tmp_path / "trades" / "live_trades_testnet.csv"          # donchian.data_dir, named by the mode
    assert f"closed trades: {csv}" in said, said[-3000:]
    closed = int(re.search(r"(\d+) trades closed", said).group(1))
    trades = read_trade_log(csv)
    assert closed >= 3 and len(trades) == closed, (closed, len(trades))
    assert list(trades.columns) == TRADE_COLUMNS
    assert not trades[MONEY].isna().any().any(), trades[MONEY]        # times, prices, fees, funding, PnL, R
    assert (trades["fees"] > 0).all() and (trades["funding"] != 0).any()   # the venue's commissions and funding
    assert (trades["exit_time"] > trades["entry_time"]).all() and trades["entry_rules"].str.startswith("DONCHIAN").all()
    assert trades["exit_reason"].notna().all() and trades["entry_regime"].notna().all()

    store = SQLiteStore(tmp_path / "state" / "state.sqlite3")
    try:
        kept = kept_trades(store)
    finally:
        store.close()
    pd.testing.assert_frame_equal(kept, trades, check_dtype=False)    # the store and the CSV hold the same trades

    days = trades["exit_time"].dt.strftime("%Y-%m-%d")
    day = days.value_counts().index[0]                                 # the busiest day
    of_day = trades[days == day]
    expected = f"AUTOBOT daily report {day}: {len(of_day)} trades"
    pnl = f"PnL {of_day['pnl'].sum():+,.2f}"
    from_csv = _reported(tmp_path, day, "-p", "trades_csv", str(csv))
    assert f"from the trade log {csv}" in from_csv and expected in from_csv and pnl in from_csv, from_csv
    from_store = _reported(tmp_path, day, "-p", "state_store", str(tmp_path / "state" / "state.sqlite3"))
    assert "from the trades kept in SQLiteStore" in from_store and expected in from_store and pnl in from_store


def test_a_dry_run_session_keeps_its_trades_in_redis_and_the_csv(trading_venue, redis_server, tmp_path):  # noqa: F811
    from autobot_lib.live.launch import open_session

    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             donchian=DONCHIAN)
    csv = tmp_path / "live_trades_dry-run.csv"
    store = RedisStore("127.0.0.1", redis_server.port)

    async def session_of(bars: int):
        async with open_session(settings, "dry-run", ["BTCUSDT"], base_url=trading_venue.url, store=store,
                                trade_log=csv) as session:
            task = asyncio.create_task(session.run(max_bars=bars))
            while not subscribed(trading_venue):
                assert not task.done(), task.result()
                await asyncio.sleep(0.01)
            for k in range(bars):
                await asyncio.to_thread(trading_venue.advance, 1)
                while session.decided <= k and not task.done():
                    await asyncio.sleep(0.005)
            await task
            return session.engine

    try:
        engine = asyncio.run(session_of(BARS))
        assert len(engine.trades) >= 3
        sent = [t.to_dict() for t in engine.trades]
        assert [t.to_dict() for t in store.read_trades()] == sorted(sent, key=lambda t: t["exit_time"])
        logged = read_trade_log(csv)
        assert len(logged) == len(sent) and logged["pnl"].tolist() == [t["pnl"] for t in sent]
        assert not logged[MONEY].isna().any().any()
        first_day = utc(sent[0]["exit_time"]).normalize()
        assert {t.exit_time.normalize() for t in store.read_trades(first_day, first_day + pd.Timedelta(days=1))} == \
            {first_day}
    finally:
        store.close()
