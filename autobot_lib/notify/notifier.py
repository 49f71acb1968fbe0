"""One notifier in front of every channel: dedupe window, per-channel rate limit, background delivery.

``notify(alert)`` is safe from any thread or coroutine and returns at once: it decides under a lock (dedupe,
priority, rate limit) and hands the alert to a private asyncio loop on its own thread, where each channel
drains its own queue. A slow or broken channel therefore delays neither the caller nor the other channels,
and nothing a channel raises reaches the caller: failures are counted and logged with the channel's
secrets scrubbed. ``clock`` (seconds) is injectable so tests move dedupe windows and buckets without sleeping.

>>> with Notifier([LogChannel()]) as n:
...     n.notify(Alert(Priority.HIGH, "clock_drift", "Clock drift +7421 ms"))
...     n.flush()
True
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from autobot_lib.notify.alerts import Alert, Priority
from autobot_lib.notify.channels import TELEGRAM_API, Channel, LogChannel, SlackChannel, TelegramChannel
from autobot_lib.notify.limits import DedupeWindow, TokenBucket

log = logging.getLogger(__name__)


@dataclass
class ChannelStats:
    sent: int = 0
    failed: int = 0
    rate_limited: int = 0
    dropped: int = 0  # the channel's queue was full (it has been down for a long while)


class Notifier:
    def __init__(self, channels: Iterable[Channel], *, cooldown_sec: float = 600.0,
                 clock: Callable[[], float] = time.monotonic, queue_size: int = 100, expiry_check_sec: float = 5.0):
        self.channels = list(channels)
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names must be unique, got {names}")
        self._clock = clock
        self._dedupe = DedupeWindow(cooldown_sec)
        self._first: dict[str, Alert] = {}  # the alert that opened each dedupe window
        self._buckets = {c.name: TokenBucket(c.per_minute, c.burst) for c in self.channels if c.per_minute}
        self._stats = {c.name: ChannelStats() for c in self.channels}
        self.suppressed = 0  # duplicates held back by the dedupe window, all keys
        self._queue_size = queue_size
        self._expiry_check_sec = expiry_check_sec
        self._lock = threading.Condition()
        self._pending = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[str, asyncio.Queue] = {}
        self._thread: threading.Thread | None = None
        self._closed = False

    @classmethod
    def from_settings(cls, settings, *, telegram_base_url: str = TELEGRAM_API, **kwargs) -> Notifier:
        """The log channel always; Telegram and Slack when their secrets are set. Delivers at and above
        ``NOTIFICATION_LEVEL``; duplicates wait ``ALERT_COOLDOWN_SEC``."""
        level = Priority.from_level(settings.NOTIFICATION_LEVEL)
        channels: list[Channel] = [LogChannel()]
        if settings.TELEGRAM_BOT_TOKEN and settings.TELEGRAM_CHAT_ID:
            channels.append(TelegramChannel(settings.TELEGRAM_BOT_TOKEN, settings.TELEGRAM_CHAT_ID,
                                            base_url=telegram_base_url, min_priority=level))
        if settings.SLACK_WEBHOOK_URL:
            channels.append(SlackChannel(settings.SLACK_WEBHOOK_URL, min_priority=level))
        return cls(channels, cooldown_sec=settings.ALERT_COOLDOWN_SEC, **kwargs)

    # --- the caller's side: never blocks on a channel, never raises -------------------------------------
    def notify(self, alert: Alert) -> None:
        try:
            with self._lock:
                if self._closed:
                    log.warning("notifier closed; alert %s not sent", alert.key)
                    return
                now = self._clock()
                self._report_expired(now)
                if not self._dedupe.admit(alert.key, now):
                    self.suppressed += 1
                    return
                self._first[alert.key] = alert
                self._dispatch(alert, now)
        except Exception:  # an alert must never stop trading
            log.exception("notify failed for alert %s", getattr(alert, "key", "?"))

    async def anotify(self, alert: Alert) -> None:
        """The same as :meth:`notify`, for coroutines (it does not wait for delivery either)."""
        self.notify(alert)

    def tick(self) -> None:
        """Report dedupe windows that have passed; the background loop calls this every few seconds."""
        try:
            with self._lock:
                if not self._closed:
                    self._report_expired(self._clock())
        except Exception:
            log.exception("notifier tick failed")

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every accepted alert has been delivered or has failed; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout)

    async def aflush(self, timeout: float = 30.0) -> bool:
        return await asyncio.to_thread(self.flush, timeout)

    def stats(self) -> dict[str, ChannelStats]:
        with self._lock:
            return {name: replace(s) for name, s in self._stats.items()}

    def reset_dedupe(self) -> int:
        """Forget every dedupe window (runbook: alerts stay muted); returns how many were open."""
        with self._lock:
            self._first.clear()
            return self._dedupe.reset()

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop the loop and close the HTTP clients."""
        self.flush(timeout)
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Notifier(channels={self.channels!r}, cooldown_sec={self._dedupe.cooldown_sec:g})"

    # --- decisions, under the lock --------------------------------------------------------------------
    def _report_expired(self, now: float) -> None:
        for window in self._dedupe.expire(now):
            first = self._first.pop(window.key, None)
            if not window.suppressed or first is None:
                continue
            log.info("dedupe_window_expired", extra={"alert_key": window.key, "suppressed": window.suppressed})
            span = now - window.opened_at
            self._dispatch(Alert(first.priority, window.key, f"{first.title} (repeated {window.suppressed}x)",
                                 f"{window.suppressed} more alert(s) '{window.key}' were held back in the last "
                                 f"{span:.0f} s"), now)

    def _dispatch(self, alert: Alert, now: float) -> None:
        for channel in self.channels:
            if alert.priority < channel.min_priority:
                continue
            bucket = self._buckets.get(channel.name)
            if alert.priority < Priority.CRITICAL and bucket is not None and not bucket.take(now):
                self._stats[channel.name].rate_limited += 1
                log.debug("alert %s rate limited on %s", alert.key, channel.name)
                continue
            self._start()
            self._pending += 1
            self._loop.call_soon_threadsafe(self._enqueue, channel.name, alert)

    # --- the background loop -------------------------------------------------------------------------
    def _start(self) -> None:
        if self._loop is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._queues = {c.name: asyncio.Queue(self._queue_size) for c in self.channels}
        self._thread = threading.Thread(target=self._run, name="notifier", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        tasks = [loop.create_task(self._drain(c)) for c in self.channels]
        tasks.append(loop.create_task(self._tick_forever()))
        try:
            loop.run_forever()
        finally:
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            for channel in self.channels:
                try:
                    loop.run_until_complete(channel.aclose())
                except Exception as exc:
                    log.warning("closing %s failed: %s", channel.name, self._scrub(channel, exc))
            loop.close()

    def _enqueue(self, name: str, alert: Alert) -> None:
        try:
            self._queues[name].put_nowait(alert)
        except asyncio.QueueFull:
            with self._lock:
                self._stats[name].dropped += 1
            self._done()

    async def _drain(self, channel: Channel) -> None:
        queue = self._queues[channel.name]
        while True:
            alert = await queue.get()
            try:
                await asyncio.wait_for(channel.send(alert), channel.timeout)
                ok = True
            except Exception as exc:  # a failing channel is counted and logged, never raised
                ok = False
                log.warning("alert %s not delivered on %s: %s", alert.key, channel.name, self._scrub(channel, exc),
                            extra={"channel": channel.name, "alert_key": alert.key})
            with self._lock:
                stats = self._stats[channel.name]
                if ok:
                    stats.sent += 1
                else:
                    stats.failed += 1
            self._done()

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self._expiry_check_sec)
            self.tick()

    def _done(self) -> None:
        with self._lock:
            self._pending -= 1
            self._lock.notify_all()

    @staticmethod
    def _scrub(channel: Channel, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        for secret in channel.secrets():
            text = text.replace(secret, "**********")
        return text
