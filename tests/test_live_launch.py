"""Starting a session: the modes' rules, keys of the wrong kind, and DRY_RUN on live data."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.live.launch import LaunchError, check_mode, run_live, settings_mode, verify_keys
from conftest import REPO, VENUE_KEY, VENUE_SECRET, real
from test_live_engine import subscribed


async def dry_run_on_venue(venue, settings, bars: int, before_bar=None, **kw):
    """`autobot live --mode dry-run` (``run_live``) for BTCUSDT on the replaying ``venue``: once it has
    subscribed to bars, the venue steps ``bars`` bars, a little wall time apart; ``before_bar(k)`` runs before
    step ``k``; ``kw`` goes to ``run_live``. Returns the engine."""
    session = asyncio.create_task(run_live(settings, "dry-run", ["BTCUSDT"], base_url=venue.url, max_bars=bars,
                                           **kw))
    deadline = time.monotonic() + 60
    while not subscribed(venue):
        assert time.monotonic() < deadline and not session.done(), "dry-run never subscribed"
        await asyncio.sleep(0.01)
    for k in range(bars):
        if before_bar:
            before_bar(k)
        await asyncio.to_thread(venue.advance, 1)
        await asyncio.sleep(0.03)
        if session.done():
            break
    return await asyncio.wait_for(session, 60)


def test_live_needs_the_confirmation_and_live_settings():
    testnet = load_settings(env_file=None, config_json=None)
    with pytest.raises(LaunchError, match="--confirm-live"):
        check_mode("live", testnet)
    with pytest.raises(LaunchError, match="ENVIRONMENT=LIVE"):
        check_mode("live", testnet, confirm_live=True)
    live = load_settings(env_file=None, config_json=None, ENVIRONMENT="LIVE", USE_TESTNET=False)
    check_mode("live", live, confirm_live=True)          # allowed
    with pytest.raises(LaunchError, match="disagree"):
        check_mode("testnet", live)
    with pytest.raises(LaunchError, match="not valid"):
        check_mode("paper", testnet)


@pytest.mark.parametrize("overrides, mode", [
    (dict(), "testnet"), (dict(DRY_RUN=True), "dry-run"), (dict(ENVIRONMENT="DRY_RUN"), "dry-run"),
    (dict(ENVIRONMENT="LIVE", USE_TESTNET=False), "live"), (dict(ENVIRONMENT="LIVE"), "testnet"),
    (dict(ENVIRONMENT="LIVE", USE_TESTNET=False, DRY_RUN=True), "dry-run"),
])
def test_the_settings_name_the_mode_and_dry_run_settings_allow_no_other(overrides, mode):
    settings = load_settings(env_file=None, config_json=None, **overrides)
    assert settings_mode(settings) == mode
    if mode == "dry-run":
        check_mode("dry-run", settings)
        for other in ("testnet", "live"):
            with pytest.raises(LaunchError, match="the settings say dry-run"):
                check_mode(other, settings, confirm_live=True)


def test_dry_run_settings_stop_a_testnet_command_before_anything_is_sent(trading_venue, tmp_path):
    run = subprocess.run([sys.executable, "-m", "autobot_lib.cli", "live", "--mode", "testnet", "--symbols", "BTCUSDT",
                          "--base-url", trading_venue.url, "--no-metrics", "--bars", "1"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "DRY_RUN": "true",
                              "STATE_STORE": "sqlite", "STATE_DB_PATH": str(tmp_path / "state.sqlite3")})
    assert run.returncode == 2 and "the settings say dry-run" in run.stderr, run.stderr[-2000:]
    assert not [r for r in trading_venue.requests if r["method"] in ("POST", "PUT", "DELETE")]


def test_keys_the_exchange_refuses_stop_the_launch_without_showing_them(trading_venue):
    async def scenario():
        broker = CcxtBroker(VENUE_KEY, "not-the-secret-123", mode="venue", base_url=trading_venue.url)
        try:
            with pytest.raises(LaunchError) as refused:
                await verify_keys(broker, "live")
        finally:
            await broker.close()
        return str(refused.value)
    text = asyncio.run(scenario())
    assert "demo-trading (testnet) keys do not work here" in text and "not-the-secret-123" not in text


def test_the_cli_refuses_live_without_confirmation(tmp_path):
    run = subprocess.run([sys.executable, "-m", "autobot_lib.cli", "live", "--mode", "live", "--symbols", "BTCUSDT",
                          "--no-metrics"], cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "STATE_STORE": "sqlite",
                              "STATE_DB_PATH": str(tmp_path / "s.db"), "LOG_FILE": ""})
    assert run.returncode == 2 and "--confirm-live" in run.stderr


def test_the_cli_names_a_bad_autobot_jit_value_and_the_fix(tmp_path):
    run = subprocess.run([sys.executable, "-m", "autobot_lib.cli", "live", "--mode", "dry-run", "--symbols", "BTCUSDT"],
                         cwd=tmp_path, capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "AUTOBOT_JIT": "yes"})
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "AUTOBOT_JIT must be 1 (compile the kernels) or 0 (interpret them), got 'yes'" in run.stderr


def test_dry_run_decides_and_fills_in_process_and_sends_nothing(trading_venue):
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})

    engine = asyncio.run(dry_run_on_venue(trading_venue, settings, 60))
    assert len(engine.journal) == 60 and any(r.outcome == "order" for r in engine.journal)
    assert engine.trades or engine.held                      # the paper broker filled them
    trading = [r for r in trading_venue.requests if r["method"] in ("POST", "DELETE")]
    assert not trading, "dry-run sent an order to the exchange"
    # each entry filled at the open of the bar after its decision: the feed had seen that bar begin
    opens = real("binance_usdm_BTCUSDT_1h.csv.gz")["open"]
    entries = [(t.entry_time, t.entry_price) for t in engine.trades] + \
        [(h.position.opened_at, h.position.first_entry_price) for h in engine.held.values()]
    assert entries and all(price == opens.loc[at] for at, price in entries), entries


def test_the_engine_runs_on_the_timeframe_the_settings_name(trading_venue):
    """TIMEFRAME sets the engine's bar: its daily anchor, funding window and fill times follow it."""
    from autobot_lib.live.launch import open_session

    settings = load_settings(env_file=None, config_json=None, TIMEFRAME="4h")

    async def scenario():
        async with open_session(settings, "dry-run", ["BTCUSDT"], base_url=trading_venue.url) as session:
            return session.engine.bar_length, session.feed.timeframe, session.engine.features["BTCUSDT"].bar_length

    assert asyncio.run(scenario()) == (pd.Timedelta("4h"), "4h", pd.Timedelta("4h"))
