"""Metrics scraped over real HTTP, JSON logs with redaction and rotation, heartbeat and `autobot health`,
and the seed's alert scheduler rules."""

from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from autobot_lib.config import load_settings
from autobot_lib.live.health import Heartbeat, health_check, write_heartbeat
from autobot_lib.live.logs import log_volume_per_day, secrets_from_settings, setup_logging
from autobot_lib.live.metrics import BotMetrics
from autobot_lib.live.watch import Watch, WatchKnobs
from autobot_lib.notify import Alert, LogChannel, Notifier, Priority
from chat_stand_ins import ChatStandIns
from conftest import REPO, free_port
from scrape import labels, scrape

# Transcribed from the Donchian bot README, section Observability (names and labels), not from the code.
SEED_METRICS = {
    "bot_equity": {"account"}, "bot_daily_drawdown": {"account"}, "bot_avg_r_atr_30": {"account"},
    "bot_signal_emitted_total": {"symbol", "timeframe"}, "bot_trade_count_total": {"account"},
    "bot_order_errors_total": {"account", "reason"}, "bot_time_drift_ms": {"source"}, "bot_heartbeat_ts": set(),
    "flatten_failures_total": {"account", "reason"}, "flatten_partial_total": {"account", "reason"},
    "tp_orders_placed_total": {"account", "symbol", "side"},
    "tp_fills_total": {"account", "symbol", "side", "reason"},
    "order_latency_seconds": {"account", "kind"},
}
SEED_LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


@pytest.fixture
def metrics():
    m = BotMetrics(account="main", universe=["BTC/USDT", "ETH/USDT"], timeframe="1h")
    port = m.serve(port=0)
    m.url = f"http://127.0.0.1:{port}/metrics"
    yield m
    m.stop()


def test_metrics_endpoint_serves_every_seed_metric_with_its_labels(metrics):
    samples = scrape(metrics.url)
    names = {}
    for name, label_set in samples:
        names.setdefault(name, set()).update(k for k, _ in label_set if k != "le")
    for name, wanted in SEED_METRICS.items():
        sample = f"{name}_count" if name == "order_latency_seconds" else name
        assert sample in names, f"{name} missing from /metrics"
        assert names[sample] == wanted, f"{name} labels {names[sample]}, the seed has {wanted}"
    buckets = sorted(float(dict(k)["le"]) for n, k in samples if n == "order_latency_seconds_bucket"
                     and dict(k)["kind"] == "entry")
    assert buckets == SEED_LATENCY_BUCKETS + [float("inf")]
    # known reasons start at zero, so increase() sees the first error
    assert samples[("bot_order_errors_total", labels(account="main", reason="auth"))] == 0


def test_recorded_values_read_back_over_http(metrics):
    metrics.set_equity(10_234.5)
    metrics.set_daily_drawdown(0.031)
    for symbol in ("BTC/USDT", "BTCUSDT", "DOGEUSDT"):          # DOGE is outside the universe
        metrics.signal_emitted(symbol)
    for r in (1.5, -1.0, 2.0):
        metrics.trade_closed(r)
    metrics.order_error("nonce")
    metrics.order_error("something new")
    metrics.set_time_drift_ms(7421)
    metrics.heartbeat(1_700_000_000)
    metrics.flatten_failed("order_error")
    metrics.flatten_partial("not_profitable")
    metrics.tp_order_placed("ETHUSDT", "LONG")
    metrics.tp_filled("ETH/USDT", "LONG", "tp_ladder")
    metrics.order_latency_observed("entry", 0.3)
    metrics.loop_latency_observed(0.02)
    s = scrape(metrics.url)
    a = "main"
    assert s[("bot_equity", labels(account=a))] == 10_234.5
    assert s[("bot_daily_drawdown", labels(account=a))] == 0.031
    assert s[("bot_signal_emitted_total", labels(symbol="BTCUSDT", timeframe="1h"))] == 2
    assert s[("bot_signal_emitted_total", labels(symbol="other", timeframe="1h"))] == 1
    assert s[("bot_signal_emitted_total", labels(symbol="ETHUSDT", timeframe="1h"))] == 0
    assert s[("bot_trade_count_total", labels(account=a))] == 3
    assert s[("bot_avg_r_atr_30", labels(account=a))] == pytest.approx((1.5 - 1.0 + 2.0) / 3)
    assert s[("bot_order_errors_total", labels(account=a, reason="nonce"))] == 1
    assert s[("bot_order_errors_total", labels(account=a, reason="other"))] == 1
    assert s[("bot_time_drift_ms", labels(source="exchange"))] == 7421
    assert s[("bot_heartbeat_ts", labels())] == 1_700_000_000
    assert s[("flatten_failures_total", labels(account=a, reason="order_error"))] == 1
    assert s[("flatten_partial_total", labels(account=a, reason="not_profitable"))] == 1
    assert s[("tp_orders_placed_total", labels(account=a, symbol="ETHUSDT", side="long"))] == 1
    assert s[("tp_fills_total", labels(account=a, symbol="ETHUSDT", side="long", reason="tp_ladder"))] == 1
    # 0.3 s falls in the buckets from 0.5 up
    assert s[("order_latency_seconds_bucket", labels(account=a, kind="entry", le="0.25"))] == 0
    assert s[("order_latency_seconds_bucket", labels(account=a, kind="entry", le="0.5"))] == 1
    assert s[("order_latency_seconds_sum", labels(account=a, kind="entry"))] == pytest.approx(0.3)
    assert s[("bot_loop_latency_seconds_count", labels())] == 1


def test_avg_r_is_over_the_last_30_exits():
    m = BotMetrics()
    for r in [10.0] * 5 + [1.0] * 30:
        m.trade_closed(r)
    assert m.registry.get_sample_value("bot_avg_r_atr_30", {"account": "default"}) == 1.0


def test_each_bot_has_its_own_registry_and_the_seed_port():
    first, second = BotMetrics(account="a"), BotMetrics(account="b")   # no "duplicated timeseries" error
    first.set_equity(1.0)
    assert b'bot_equity{account="b"} 0.0' in second.exposition()
    assert REGISTRY.get_sample_value("bot_equity", {"account": "a"}) is None   # nothing in the global registry
    defaults = inspect.signature(BotMetrics.serve).parameters
    assert (defaults["port"].default, defaults["host"].default) == (9108, "127.0.0.1")
    assert load_settings(env_file=None).METRICS_PORT == 9108


# --- logs --------------------------------------------------------------------------------------------------

@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {n: logging.getLogger(n).level for n in ("httpx", "httpcore", "telegram", "urllib3")})
    yield
    for handler in [h for h in root.handlers if h not in saved[0]]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(saved[1])
    for name, level in saved[2].items():
        logging.getLogger(name).setLevel(level)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_json_lines_at_info_by_default(tmp_path, restore_logging):
    path = tmp_path / "logs" / "autobot.log"
    setup_logging(load_settings(env_file=None).LOG_LEVEL, path=path)
    log = logging.getLogger("autobot.engine")
    log.debug("bar closed %s", "BTCUSDT")
    log.info("order placed %s", "BTCUSDT", extra={"symbol": "BTCUSDT", "qty": 0.01, "ids": [1, 2]})
    try:
        1 / 0
    except ZeroDivisionError:
        log.error("order failed", exc_info=True)
    lines = read_lines(path)
    assert [(x["level"], x["msg"]) for x in lines] == [("INFO", "order placed BTCUSDT"), ("ERROR", "order failed")]
    assert lines[0]["logger"] == "autobot.engine" and lines[0]["ts"].endswith("Z")
    assert (lines[0]["symbol"], lines[0]["qty"], lines[0]["ids"]) == ("BTCUSDT", 0.01, [1, 2])
    assert "ZeroDivisionError" in lines[1]["exc"]


def test_secrets_are_redacted_from_messages_extras_and_tracebacks(tmp_path, restore_logging):
    settings = load_settings(env_file=None, BINANCE_API_KEY="AKbinanceKEY123", BINANCE_API_SECRET="s3cr3tBINANCE",
                             TELEGRAM_BOT_TOKEN="555666:TelegramSecretTokenValue", REDIS_PASSWORD="hunter2pass",
                             SLACK_WEBHOOK_URL="https://hooks.slack.com/services/T1/B2/SlackHookSecret")
    secrets = ["AKbinanceKEY123", "s3cr3tBINANCE", "555666:TelegramSecretTokenValue", "hunter2pass",
               "SlackHookSecret"]
    path = tmp_path / "bot.log"
    setup_logging("DEBUG", path=path, secrets=secrets_from_settings(settings))
    log = logging.getLogger("autobot.test")
    log.info("connecting with key %s and secret %s", "AKbinanceKEY123", "s3cr3tBINANCE")
    log.warning("redis auth", extra={"config": {"password": "hunter2pass", "hosts": ["redis://:hunter2pass@h"]}})
    log.info("posting to /services/T1/B2/SlackHookSecret")                 # the webhook's path alone
    try:
        raise ConnectionError("POST https://api.telegram.org/bot555666:TelegramSecretTokenValue/sendMessage")
    except ConnectionError:
        log.exception("telegram down")
    # shapes nobody passed in are caught too
    log.info("GET /fapi/v1/order?symbol=BTCUSDT&apiKey=otherkey99&signature=abcdef0123 "
             "https://api.telegram.org/bot987654321:ABCdefGHIjklMNOpqrSTUvwx/getMe")
    text = path.read_text()
    for secret in secrets + ["otherkey99", "abcdef0123", "987654321:ABCdefGHIjklMNOpqrSTUvwx"]:
        assert secret not in text, secret
    lines = read_lines(path)
    assert lines[0]["msg"] == "connecting with key ********** and secret **********"
    assert lines[1]["config"] == {"password": "**********", "hosts": ["redis://:**********@h"]}
    assert "bot**********/sendMessage" in lines[3]["exc"]
    assert "apiKey=**********&signature=**********" in lines[4]["msg"]


def test_notifier_and_http_libraries_leave_no_secret_in_the_log(tmp_path, restore_logging):
    stand_ins = ChatStandIns().start()
    token, hook = "777888:AAH-another-secret-token", stand_ins.slack_url
    settings = load_settings(env_file=None, TELEGRAM_BOT_TOKEN=token, TELEGRAM_CHAT_ID="42", SLACK_WEBHOOK_URL=hook)
    path = tmp_path / "bot.log"
    setup_logging("DEBUG", path=path, secrets=secrets_from_settings(settings))
    logging.getLogger("httpx").setLevel(logging.INFO)      # httpx logs each request URL, with the token in it
    logging.getLogger("telegram").setLevel(logging.DEBUG)
    stand_ins.fail("slack", "500")
    try:
        with Notifier.from_settings(settings, telegram_base_url=stand_ins.telegram_url) as notifier:
            notifier.notify(Alert(Priority.HIGH, "x", "hello"))
            assert notifier.flush()
            assert notifier.stats()["slack"].failed == 1
    finally:
        stand_ins.stop()
    text = path.read_text()
    assert "HTTP Request: POST" in text and "not delivered on slack" in text   # the lines are there ...
    assert token not in text and ChatStandIns.SLACK_PATH not in text        # ... without the secrets


def test_debug_is_dropped_at_info_and_rotation_bounds_the_disk(tmp_path, restore_logging):
    path = tmp_path / "autobot.log"
    max_bytes, backups = 20_000, 2
    setup_logging("INFO", path=path, max_bytes=max_bytes, backup_count=backups)
    log = logging.getLogger("autobot.loop")
    for i in range(5_000):
        log.debug("tick %d", i)
    for i in range(2_000):
        log.info("bar %d closed", i, extra={"symbol": "BTCUSDT"})
    files = sorted(tmp_path.glob("autobot.log*"))
    assert [f.name for f in files] == ["autobot.log", "autobot.log.1", "autobot.log.2"]
    assert all(f.stat().st_size <= max_bytes for f in files)
    volume = log_volume_per_day(path)
    assert volume["DEBUG"].sum() == 0 and volume["INFO"].sum() > 0
    assert volume["bytes"].sum() == sum(f.stat().st_size for f in files)
    last = read_lines(path)[-1]
    assert last["msg"] == "bar 1999 closed"


def test_log_volume_per_day_counts_bytes_lines_and_levels(tmp_path):
    def line(day: str, level: str) -> str:
        return json.dumps({"ts": f"{day}T10:00:00.000Z", "level": level, "logger": "x", "msg": "m"})

    current = [line("2025-03-02", "INFO"), line("2025-03-02", "DEBUG"), "not json at all"]
    rotated = [line("2025-03-01", "DEBUG")] * 3 + [line("2025-03-02", "ERROR")]
    (tmp_path / "bot.log").write_text("\n".join(current) + "\n")
    (tmp_path / "bot.log.1").write_text("\n".join(rotated) + "\n")
    volume = log_volume_per_day(tmp_path / "bot.log")
    size = lambda lines: sum(len(x) + 1 for x in lines)  # noqa: E731
    assert list(volume.index) == ["2025-03-01", "2025-03-02", "unparsed"]
    assert volume.loc["2025-03-01", "bytes"] == size(rotated[:3]) and volume.loc["2025-03-01", "DEBUG"] == 3
    assert volume.loc["2025-03-02", "bytes"] == size(current[:2]) + size(rotated[3:])
    assert volume.loc["2025-03-02", ["INFO", "DEBUG", "ERROR", "lines"]].tolist() == [1, 1, 1, 3]
    assert volume.loc["unparsed", "lines"] == 1


# --- heartbeat and health --------------------------------------------------------------------------------------

def test_heartbeat_and_health_check_by_file_and_metrics(tmp_path, metrics):
    clock = iter([1_700_000_000.0]).__next__
    path = tmp_path / "heartbeat.json"
    ts = Heartbeat(path, metrics, clock=clock).beat(loop=7)
    assert json.loads(path.read_text())["loop"] == 7 and ts == 1_700_000_000.0
    fresh = health_check(path, metrics_url=metrics.url, now=ts + 900)
    assert fresh.healthy and fresh.heartbeat_age_sec == 900 and fresh.metrics_heartbeat_age_sec == 900
    stale = health_check(path, metrics_url=metrics.url, now=ts + 901)
    assert not stale.healthy and stale.problems == ("heartbeat file is 901 s old (limit 900 s)",
                                                    "bot_heartbeat_ts is 901 s old (limit 900 s)")
    assert not health_check(tmp_path / "missing.json", now=ts).healthy
    down = health_check(metrics_url=f"http://127.0.0.1:{free_port()}/metrics", now=ts)
    assert not down.healthy and "unreachable" in down.problems[0]
    never = BotMetrics()
    port = never.serve(port=0)
    try:
        assert "never set" in health_check(metrics_url=f"http://127.0.0.1:{port}/metrics").problems[0]
    finally:
        never.stop()


def autobot(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    # -m with PYTHONPATH: this checkout's autobot_lib, whatever the installed `autobot` script points at
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "autobot_lib.cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


def test_health_command_exit_codes(tmp_path, metrics):
    help_text = autobot("health", "--help", cwd=tmp_path)
    assert help_text.returncode == 0 and "--heartbeat" in help_text.stdout and "Exit status 0" in help_text.stdout
    fresh, stale = tmp_path / "fresh.json", tmp_path / "stale.json"
    write_heartbeat(fresh, time.time())
    write_heartbeat(stale, time.time() - 3_600)
    ok = autobot("health", "--heartbeat", str(fresh), cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith("healthy"), ok.stdout + ok.stderr
    old = autobot("health", "--heartbeat", str(stale), cwd=tmp_path)
    assert old.returncode == 1 and old.stdout.startswith("UNHEALTHY") and "limit 900 s" in old.stdout
    assert autobot("health", "--heartbeat", str(stale), "--max-age", "7200", cwd=tmp_path).returncode == 0
    from_settings = autobot("health", cwd=tmp_path, env={"HEARTBEAT_FILE": str(stale)})
    assert from_settings.returncode == 1 and "heartbeat file is" in from_settings.stdout
    missing = autobot("health", cwd=tmp_path, env={"HEARTBEAT_FILE": str(tmp_path / "none.json")})
    assert missing.returncode == 1 and "no heartbeat file" in missing.stdout
    metrics.heartbeat(time.time())
    scraped = autobot("health", "--no-file", "--metrics-url", metrics.url, cwd=tmp_path)
    assert scraped.returncode == 0, scraped.stdout
    down = autobot("health", "--heartbeat", str(fresh), "--metrics-url", f"http://127.0.0.1:{free_port()}/metrics",
                   cwd=tmp_path)
    assert down.returncode == 1 and "unreachable" in down.stdout


# --- the seed's observability knobs in config.json ---------------------------------------------------------------

def test_config_json_alert_cooldown_and_its_observability_section(tmp_path):
    (tmp_path / "flat.json").write_text(json.dumps({"alert_cooldown_sec": 300, "risk_pct": 0.02}))
    (tmp_path / "nested.json").write_text(json.dumps({"OBSERVABILITY": {"alert_cooldown_sec": 120}}))
    assert load_settings(env_file=None, config_json=tmp_path / "flat.json").ALERT_COOLDOWN_SEC == 300
    assert load_settings(env_file=None, config_json=tmp_path / "nested.json").ALERT_COOLDOWN_SEC == 120
    defaults = load_settings(env_file=None)
    assert (defaults.ALERT_COOLDOWN_SEC, defaults.LOG_LEVEL, defaults.HEARTBEAT_MAX_AGE_SEC) == (600, "INFO", 900)


# --- the seed's alert scheduler ----------------------------------------------------------------------------------

def titles(alerts) -> list[tuple[str, str]]:
    return [(a.key, a.title) for a in alerts]


def test_watch_rules_fire_at_the_seed_thresholds():
    watch = Watch(WatchKnobs(), start=0)
    assert watch.check(0) == []
    watch.clock_drift(5_000)                                   # "above 5s": 5 s itself is fine
    assert watch.check(60) == []
    watch.clock_drift(7_421)
    assert titles(watch.check(120)) == [("clock_drift", "Clock drift: +7421ms (>5000).")]
    watch.clock_drift(12)
    for i in range(9):                                         # 9 errors in 5 min: not yet a burst
        watch.order_error("auth" if i else "nonce", at=1_000 + i)
    assert watch.check(1_010) == []
    watch.order_error("auth", at=1_010)
    assert titles(watch.check(1_010)) == [("error_burst", "Error burst: 10 errors/5m (auth).")]
    assert watch.check(1_000 + 300) == []                      # the first error has left the window
    for i in range(5):
        watch.signal(at=2_000 + 600 * i)                       # 5 signals within 2 h, no trade
    assert titles(watch.check(4_400)) == [("no_trades", "Signals: 5 in 2h but 0 trades. Check filters/routing.")]
    watch.trade(at=4_500)
    assert watch.check(4_500) == []


def test_watch_heartbeat_messages_and_missing_alarm():
    watch = Watch(WatchKnobs(), start=0)
    watch.loop_beat(at=10_000)
    assert watch.check(43_199) == []
    [beat] = watch.check(43_200, status="equity 10,234 USDT, 1 open")   # every 12 h
    assert (beat.key, beat.priority, beat.text) == ("heartbeat", Priority.INFO, "equity 10,234 USDT, 1 open")
    assert watch.check(43_201) == []
    assert watch.check(10_000 + 64_799) == []
    alerts = watch.check(10_000 + 64_800)                      # 18 h without a loop pass
    assert titles(alerts) == [("heartbeat_missing", "Heartbeat missing: no loop pass for 18.0 h")]
    assert alerts[0].priority == Priority.CRITICAL
    assert [a.key for a in watch.check(86_400)] == ["heartbeat", "heartbeat_missing"]


def test_watch_knobs_come_from_the_donchian_section_with_seed_defaults(tmp_path):
    knobs = WatchKnobs.from_settings(load_settings(env_file=None))
    assert knobs == WatchKnobs(heartbeat_alert_sec=12 * 3600, heartbeat_missing_sec=18 * 3600,
                               clock_drift_alert_ms=5_000, error_burst_count=10, error_burst_window_sec=5 * 60,
                               no_trade_signal_count=5, no_trade_window_sec=2 * 3600)
    (tmp_path / "config.json").write_text(json.dumps({"OBSERVABILITY": {"clock_drift_alert_ms": 2_000,
                                                                        "alert_cooldown_sec": 60}}))
    settings = load_settings(env_file=None, config_json=tmp_path / "config.json")
    assert WatchKnobs.from_settings(settings).clock_drift_alert_ms == 2_000 and settings.ALERT_COOLDOWN_SEC == 60


def test_a_standing_condition_checked_every_minute_alerts_once_per_cooldown(caplog):
    caplog.set_level(logging.INFO, logger="autobot.alerts")
    now = [0.0]
    watch = Watch(WatchKnobs(), start=0)
    watch.clock_drift(9_000)
    with Notifier([LogChannel()], cooldown_sec=600, clock=lambda: now[0]) as notifier:
        for minute in range(15):                               # drift stays for 15 minutes
            now[0] = minute * 60.0
            for alert in watch.check(now[0]):
                notifier.notify(alert)
        assert notifier.flush()
    sent = [r.getMessage() for r in caplog.records if r.name == "autobot.alerts"]
    # minute 0 alerts; minutes 1..9 are held; minute 10 reports the 9 held and opens a new window
    assert sent == ["Clock drift: +9000ms (>5000).", "Clock drift: +9000ms (>5000). (repeated 9x)",
                    "Clock drift: +9000ms (>5000)."]
