"""What a running bot tells its people, end to end: `run_live` (dry-run, real ccxt streams from the local
venue, real bars) with a Notifier posting to a local Slack stand-in. The AUTOBOT seed's events (start-up,
shutdown, entries, exits, stop updates, vetoes, connection problems) and the Donchian bot's knobs
(DAILY_DD_LIMIT, DAILY_REPORT_ENABLED, the alert schedule) reach the channel."""

from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from pydantic import SecretStr

from autobot_lib.config import load_settings
from autobot_lib.exchange.venue import Fault
from autobot_lib.live.announcer import Announcer, daily_summary
from autobot_lib.live.watch import WatchKnobs
from autobot_lib.notify import LogChannel, Notifier, Priority, SlackChannel
from chat_stand_ins import ChatStandIns
from test_live_launch import dry_run_on_venue


@pytest.fixture
def slack():
    servers = ChatStandIns().start()
    yield servers
    servers.stop()


def test_a_session_announces_its_life_and_its_trades(trading_venue, slack):
    settings = load_settings(env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             DAILY_REPORT_ENABLED=True, DAILY_DD_LIMIT=0.001,
                             donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0})
    # a replay packs hours into seconds: the channel takes everything (its rate limit is tested elsewhere)
    notifier = Notifier([SlackChannel(SecretStr(slack.slack_url), min_priority=Priority.LOW, per_minute=None),
                         LogChannel()], cooldown_sec=0)

    def drop_the_stream_halfway(k: int) -> None:
        if k == 60:
            trading_venue.inject(Fault("drop", path="/market/ws"))

    engine = asyncio.run(dry_run_on_venue(trading_venue, settings, 120, drop_the_stream_halfway, notifier=notifier))
    assert notifier.flush()
    notifier.close()
    sent = [r.payload["text"] for r in slack.slack if r.status == 200]
    titles = [t.split("\n")[0] for t in sent]
    assert titles[0].startswith("AUTOBOT started (dry-run)") and "AUTOBOT stopped" in titles
    entries = [t for t in titles if t.startswith("[MEDIUM] Entry: BTCUSDT")]
    exits = [t for t in titles if t.startswith("[MEDIUM] Exit: BTCUSDT")]
    assert entries and exits and len(exits) == len(engine.trades)
    assert any(t.startswith("Stop moved: BTCUSDT") for t in titles)
    assert any(t.startswith("Daily summary") for t in titles)
    assert any(t.startswith("[HIGH] Market data connection lost") for t in titles)
    assert any(t.startswith("[HIGH] Daily drawdown") for t in titles)
    first_exit = next(t for t in sent if t.startswith("[MEDIUM] Exit:"))
    trade = engine.trades[0]
    assert f"PnL {trade.pnl:,.2f}" in first_exit and f"({trade.r_multiple:+.2f} R)" in first_exit


def test_the_schedule_and_the_engines_errors_feed_the_watch():
    """The Donchian bot's scheduled alerts, on a clock moved by hand: heartbeat, missing heartbeat, error
    burst (from the engine's order_error alerts), signals without trades, clock drift."""
    now = [1_000_000.0]
    sent = []

    class View:          # what the announcer reads: the engine's status view
        symbols, positions, trades = ["BTCUSDT"], {}, []
        drift_ms, last_equity, daily_anchor, trading_state = 0.0, 10_000.0, 10_000.0, type("S", (), {"value": "ACTIVE"})

    class Engine:
        status = View()

    class Session:
        engine, decided = Engine(), 0
        feed = type("F", (), {"reconnects": 0})()

    knobs = WatchKnobs(heartbeat_alert_sec=3600, heartbeat_missing_sec=7200, clock_drift_alert_ms=1000,
                       error_burst_count=3, error_burst_window_sec=60, no_trade_signal_count=2,
                       no_trade_window_sec=600)
    announcer = Announcer(Session(), sent.append, knobs, clock=lambda: now[0])
    record = type("R", (), {"symbol": "BTCUSDT", "proposal": "PROPOSE_LONG", "outcome": "gate:adx_too_low",
                            "intents": []})
    announcer.after_bars([type("D", (), {"record": record})()] * 2)
    for _ in range(3):
        announcer.engine_alert("order_error:-2019")
    announcer.tick()
    assert {a.key for a in sent} == {"error_burst", "no_trades"}     # 3 errors and 2 signals in their windows
    Session.engine.status.drift_ms = 1500.0
    now[0] += 3600
    announcer.tick()
    assert {"heartbeat", "clock_drift"} <= {a.key for a in sent}
    now[0] += 7200
    announcer.tick()
    assert any(a.key == "heartbeat_missing" and a.priority is Priority.CRITICAL for a in sent)


def test_the_daily_summary_counts_the_days_trades():
    day = pd.Timestamp("2026-03-02 15:00", tz="UTC")
    trade = type("T", (), {})

    def t(pnl, at):
        x = trade()
        x.pnl, x.exit_time = pnl, at
        return x

    trades = [t(50.0, day - pd.Timedelta("1D")), t(30.0, day), t(-10.0, day), t(20.0, day)]
    alert = daily_summary(trades, day, anchor=10_000.0)
    assert alert.text == "3 trade(s), 2 won, 1 lost, win rate 67%, profit factor 5.00, net 40.00 (+0.40%)"
