"""The notifier against local Telegram and Slack stand-ins: formats, priorities, rate limit, dedupe windows,
failing and slow channels, secrets. Time is a fake clock moved by hand; nothing sleeps or measures time."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from pydantic import SecretStr

from autobot_lib.config import load_settings
from autobot_lib.notify import (Alert, Channel, LogChannel, Notifier, Priority, SlackChannel, TelegramChannel)
from autobot_lib.notify.limits import DedupeWindow, TokenBucket
from chat_stand_ins import ChatStandIns
from conftest import free_port

TOKEN = "123456:AAH-secret-bot-token"
CHAT = "42"


class FakeClock:
    def __init__(self, t: float = 1_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def stand_ins():
    servers = ChatStandIns().start()
    yield servers
    servers.stop()


@pytest.fixture
def clock():
    return FakeClock()


def channels(stand_ins, *, telegram_url=None, **limits):
    return [TelegramChannel(SecretStr(TOKEN), CHAT, base_url=telegram_url or stand_ins.telegram_url, **limits),
            SlackChannel(SecretStr(stand_ins.slack_url), **limits)]


def texts(received) -> list[str]:
    return [r.payload["text"] for r in received if r.status == 200]


def test_one_alert_reaches_telegram_and_slack_in_their_own_formats(stand_ins, clock):
    with Notifier(channels(stand_ins), clock=clock) as notifier:
        notifier.notify(Alert(Priority.HIGH, "clock_drift", "Clock drift +7421 ms", "Check NTP / exchange time."))
        assert notifier.flush()
        stats = notifier.stats()
    [telegram] = stand_ins.telegram
    assert telegram.path == f"/bot{TOKEN}/sendMessage"
    assert telegram.payload == {"chat_id": CHAT, "text": "[HIGH] Clock drift +7421 ms\nCheck NTP / exchange time."}
    [slack] = stand_ins.slack
    assert slack.path == ChatStandIns.SLACK_PATH
    assert slack.payload == {"text": "[HIGH] Clock drift +7421 ms\nCheck NTP / exchange time."}
    assert (stats["telegram"].sent, stats["slack"].sent) == (1, 1)


def test_each_channel_takes_alerts_from_its_own_minimum_priority(stand_ins, clock, caplog):
    telegram = TelegramChannel(TOKEN, CHAT, base_url=stand_ins.telegram_url, min_priority=Priority.HIGH)
    slack = SlackChannel(stand_ins.slack_url, min_priority=Priority.INFO)
    caplog.set_level(logging.DEBUG, logger="autobot.alerts")
    with Notifier([telegram, slack, LogChannel()], clock=clock) as notifier:
        for priority in (Priority.LOW, Priority.INFO, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL):
            notifier.notify(Alert(priority, f"p{priority.name}", priority.name))
        assert notifier.flush()
    assert texts(stand_ins.telegram) == ["[HIGH] HIGH", "[CRITICAL] CRITICAL"]
    assert texts(stand_ins.slack) == ["INFO", "[MEDIUM] MEDIUM", "[HIGH] HIGH", "[CRITICAL] CRITICAL"]
    # the log channel takes everything, each at its own logging level
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "autobot.alerts"]
    assert logged == [("DEBUG", "LOW"), ("INFO", "INFO"), ("WARNING", "MEDIUM"), ("ERROR", "HIGH"),
                      ("CRITICAL", "CRITICAL")]


def test_rate_limit_is_a_token_bucket_per_channel_and_critical_bypasses_it(stand_ins, clock):
    # burst 3, refilled at 6 a minute: one token every 10 s
    with Notifier(channels(stand_ins, per_minute=6, burst=3), clock=clock) as notifier:
        for i in range(5):
            notifier.notify(Alert(Priority.INFO, f"fill:{i}", f"fill {i}"))
        notifier.notify(Alert(Priority.CRITICAL, "kill_switch", "kill-switch activated"))
        clock.advance(10)
        notifier.notify(Alert(Priority.INFO, "fill:5", "fill 5"))    # one token refilled
        notifier.notify(Alert(Priority.HIGH, "fill:6", "fill 6"))    # HIGH does not bypass
        assert notifier.flush()
        stats = notifier.stats()
    expected = ["fill 0", "fill 1", "fill 2", "[CRITICAL] kill-switch activated", "fill 5"]
    assert texts(stand_ins.telegram) == expected and texts(stand_ins.slack) == expected
    assert stats["telegram"].rate_limited == 3 and stats["slack"].rate_limited == 3


def test_duplicates_are_held_for_the_cooldown_and_counted_when_the_window_ends(stand_ins, clock, caplog):
    caplog.set_level(logging.INFO)
    with Notifier(channels(stand_ins), cooldown_sec=600, clock=clock) as notifier:
        notifier.notify(Alert(Priority.MEDIUM, "error_burst", "Error burst: 14 errors/5m (auth)"))
        for offset in (100, 200, 299.5):     # 100, 300 and 599.5 s after the first: inside the window
            clock.advance(offset)
            notifier.notify(Alert(Priority.MEDIUM, "error_burst", "Error burst: 15 errors/5m (auth)"))
        notifier.notify(Alert(Priority.MEDIUM, "other_key", "a different condition is not a duplicate"))
        assert notifier.suppressed == 3
        clock.advance(0.5)                   # 600 s after the first: the window has ended
        notifier.tick()
        clock.advance(60)
        notifier.notify(Alert(Priority.MEDIUM, "error_burst", "Error burst: 11 errors/5m (auth)"))  # a new window
        assert notifier.flush()
    assert texts(stand_ins.slack) == [
        "[MEDIUM] Error burst: 14 errors/5m (auth)",
        "[MEDIUM] a different condition is not a duplicate",
        "[MEDIUM] Error burst: 14 errors/5m (auth) (repeated 3x)\n"
        "3 more alert(s) 'error_burst' were held back in the last 600 s",
        "[MEDIUM] Error burst: 11 errors/5m (auth)",
    ]
    assert texts(stand_ins.telegram) == texts(stand_ins.slack)
    expired = [r for r in caplog.records if r.getMessage() == "dedupe_window_expired"]
    assert [(r.alert_key, r.suppressed) for r in expired] == [("error_burst", 3)]


def test_a_window_that_ends_is_reported_before_the_alert_that_reopens_it(stand_ins, clock):
    with Notifier(channels(stand_ins), cooldown_sec=600, clock=clock) as notifier:
        notifier.notify(Alert(Priority.INFO, "no_trades", "Signals: 8 in 2h but 0 trades"))
        clock.advance(1)
        notifier.notify(Alert(Priority.INFO, "no_trades", "Signals: 9 in 2h but 0 trades"))
        clock.advance(700)                   # no tick in between: the next notify closes the window
        notifier.notify(Alert(Priority.INFO, "no_trades", "Signals: 5 in 2h but 0 trades"))
        clock.advance(700)
        notifier.tick()                      # nothing was held back in the second window: nothing to report
        assert notifier.flush()
    assert texts(stand_ins.slack) == ["Signals: 8 in 2h but 0 trades",
                                      "Signals: 8 in 2h but 0 trades (repeated 1x)\n"
                                      "1 more alert(s) 'no_trades' were held back in the last 701 s",
                                      "Signals: 5 in 2h but 0 trades"]


def test_critical_is_deduplicated_too_and_reset_dedupe_unmutes(stand_ins, clock):
    with Notifier(channels(stand_ins, per_minute=6, burst=1), clock=clock) as notifier:
        for _ in range(3):
            notifier.notify(Alert(Priority.CRITICAL, "kill_switch", "kill-switch activated"))
        assert notifier.suppressed == 2
        assert notifier.reset_dedupe() == 1
        notifier.notify(Alert(Priority.CRITICAL, "kill_switch", "kill-switch activated"))
        assert notifier.flush()
    assert texts(stand_ins.slack) == ["[CRITICAL] kill-switch activated"] * 2


@pytest.mark.parametrize("failure", ["500", "timeout", "refused"])
def test_a_failing_channel_is_counted_and_logged_and_the_other_still_delivers(stand_ins, clock, caplog, failure):
    caplog.set_level(logging.DEBUG)
    telegram_url = f"http://127.0.0.1:{free_port()}" if failure == "refused" else None
    if failure != "refused":
        stand_ins.fail("telegram", {"500": "500", "timeout": "hang"}[failure])
    telegram = TelegramChannel(TOKEN, CHAT, base_url=telegram_url or stand_ins.telegram_url, timeout=0.5)
    notifier = Notifier([telegram, SlackChannel(stand_ins.slack_url)], clock=clock)
    try:
        for i in range(2):
            notifier.notify(Alert(Priority.HIGH, f"order_error:{i}", f"order rejected {i}"))   # never raises
        assert notifier.flush()
        stats = notifier.stats()
    finally:
        stand_ins.release()
        notifier.close()
    assert texts(stand_ins.slack) == ["[HIGH] order rejected 0", "[HIGH] order rejected 1"]
    assert (stats["telegram"].sent, stats["telegram"].failed) == (0, 2)
    assert (stats["slack"].sent, stats["slack"].failed) == (2, 0)
    warnings = [r.getMessage() for r in caplog.records if r.name == "autobot_lib.notify.notifier"]
    assert len(warnings) == 2 and all("not delivered on telegram" in w for w in warnings)
    ours = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records if r.name.startswith("autobot"))
    assert TOKEN not in ours and "WebhookSecretXYZ" not in ours


def test_a_slow_channel_blocks_neither_the_caller_nor_the_other_channel(stand_ins, clock):
    stand_ins.fail("telegram", "hang")
    notifier = Notifier(channels(stand_ins, timeout=60), clock=clock)
    try:
        for i in range(3):
            notifier.notify(Alert(Priority.INFO, f"fill:{i}", f"fill {i}"))    # returns although Telegram hangs
        assert stand_ins.holding.wait(10)            # Telegram holds its first request unanswered ...
        assert stand_ins.wait_for("slack", 3)        # ... while Slack delivers all three
        assert stand_ins.telegram == []
    finally:
        stand_ins.release()                          # Telegram answers only now
    assert notifier.flush()
    notifier.close()
    assert texts(stand_ins.slack) == ["fill 0", "fill 1", "fill 2"]
    assert texts(stand_ins.telegram) == ["fill 0", "fill 1", "fill 2"]


class LeakyChannel(Channel):
    """Raises an error that quotes its own secret, as some HTTP libraries do with URLs."""

    name = "leaky"

    async def send(self, alert):
        raise RuntimeError("POST https://hooks.example/services/T1/B1/leaked-secret failed")

    def secrets(self):
        return ("https://hooks.example/services/T1/B1/leaked-secret", "/services/T1/B1/leaked-secret")


def test_channel_errors_are_logged_without_the_secret(clock, caplog):
    caplog.set_level(logging.DEBUG)
    with Notifier([LeakyChannel()], clock=clock) as notifier:
        notifier.notify(Alert(Priority.HIGH, "x", "x"))
        assert notifier.flush()
        assert notifier.stats()["leaky"].failed == 1
    assert "leaked-secret" not in caplog.text
    assert "RuntimeError: POST ********** failed" in caplog.text


def test_notify_from_threads_and_coroutines(stand_ins, clock):
    notifier = Notifier(channels(stand_ins, per_minute=None), clock=clock)

    def burst(thread: int) -> None:
        for i in range(10):
            notifier.notify(Alert(Priority.INFO, f"t{thread}:{i}", f"t{thread}:{i}"))

    async def from_a_coroutine() -> None:
        await notifier.anotify(Alert(Priority.INFO, "coro", "coro"))
        assert await notifier.aflush()

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    asyncio.run(from_a_coroutine())
    notifier.close()
    expected = {f"t{t}:{i}" for t in range(4) for i in range(10)} | {"coro"}
    assert set(texts(stand_ins.slack)) == expected and len(stand_ins.slack) == 41
    assert set(texts(stand_ins.telegram)) == expected
    notifier.notify(Alert(Priority.INFO, "late", "after close"))   # logged, not raised, not sent
    assert len(stand_ins.slack) == 41


def test_from_settings_builds_the_configured_channels_without_showing_secrets(stand_ins, monkeypatch):
    for key in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_CHAT_ID", "SLACK_WEBHOOK_URL", "NOTIFICATION_LEVEL",
                "ALERT_COOLDOWN_SEC"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings(env_file=None, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID=CHAT,
                             SLACK_WEBHOOK_URL=stand_ins.slack_url, NOTIFICATION_LEVEL="WARNING")
    notifier = Notifier.from_settings(settings, telegram_base_url=stand_ins.telegram_url, clock=FakeClock())
    assert [c.name for c in notifier.channels] == ["log", "telegram", "slack"]
    assert [c.min_priority for c in notifier.channels] == [Priority.LOW, Priority.MEDIUM, Priority.MEDIUM]
    assert "cooldown_sec=600" in repr(notifier)                      # the seed's alert_cooldown_sec default
    assert TOKEN not in repr(notifier) and "WebhookSecretXYZ" not in repr(notifier)
    assert not any(TOKEN in str(vars(c)) or "WebhookSecretXYZ" in str(vars(c)) for c in notifier.channels)
    notifier.notify(Alert(Priority.INFO, "info", "below NOTIFICATION_LEVEL"))
    notifier.notify(Alert(Priority.MEDIUM, "warn", "at NOTIFICATION_LEVEL"))
    notifier.close()
    assert texts(stand_ins.telegram) == texts(stand_ins.slack) == ["[MEDIUM] at NOTIFICATION_LEVEL"]
    only_log = Notifier.from_settings(load_settings(env_file=None))
    assert [c.name for c in only_log.channels] == ["log"]


@pytest.mark.parametrize("takes, expected", [
    # (seconds since start, ...) for burst 2, 6 a minute (a token per 10 s)
    ([0, 0, 0], [True, True, False]),
    ([0, 0, 5, 10], [True, True, False, True]),       # 5 s refill half a token, 10 s a whole one
    ([0, 0, 100, 100, 100], [True, True, True, True, False]),   # never more than the burst saved up
])
def test_token_bucket(takes, expected):
    bucket = TokenBucket(per_minute=6, burst=2)
    assert [bucket.take(t) for t in takes] == expected


def test_dedupe_window_counts_repeats_per_key():
    window = DedupeWindow(cooldown_sec=600)
    assert [window.admit("a", t) for t in (0, 1, 599)] == [True, False, False]
    assert window.admit("b", 10) is True
    assert window.expire(599.9) == []
    expired = window.expire(610)
    assert [(w.key, w.suppressed, w.opened_at) for w in expired] == [("a", 2, 0), ("b", 0, 10)]
    # a passed window replaced by admit() before expire() keeps its count
    assert window.admit("c", 0) and not window.admit("c", 5) and window.admit("c", 601)
    assert [(w.key, w.suppressed) for w in window.expire(602)] == [("c", 1)]


def test_priority_from_notification_level():
    assert [Priority.from_level(x) for x in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")] == \
        [Priority.LOW, Priority.INFO, Priority.MEDIUM, Priority.HIGH, Priority.CRITICAL]
    with pytest.raises(ValueError, match="unknown level 'LOUD'"):
        Priority.from_level("LOUD")
    with pytest.raises(ValueError, match="Alert.key"):
        Alert(Priority.INFO, "", "no key")
