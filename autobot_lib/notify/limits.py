"""The two gates before a channel: a token-bucket rate limit and a dedupe window. Pure: time is passed in.

TokenBucket: ``burst`` alerts at once, refilled at ``per_minute``; an empty bucket drops the alert.
DedupeWindow: the first alert with a key opens a window of ``cooldown_sec``; repeats inside it are
suppressed and counted; when the window has passed, :meth:`DedupeWindow.expire` hands back the key and
how many repeats it suppressed, so the operator hears "14 more like this" once instead of 14 times.
"""

from __future__ import annotations

from dataclasses import dataclass


class TokenBucket:
    """>>> b = TokenBucket(per_minute=6, burst=2); [b.take(0.0) for _ in range(3)], b.take(10.0)
    ([True, True, False], True)
    """

    def __init__(self, per_minute: float, burst: int):
        if per_minute <= 0 or burst < 1:
            raise ValueError(f"rate limit needs per_minute > 0 and burst >= 1, got {per_minute}, {burst}")
        self.rate = per_minute / 60.0
        self.burst = burst
        self._tokens = float(burst)
        self._last: float | None = None

    def take(self, now: float) -> bool:
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


@dataclass(frozen=True)
class ExpiredWindow:
    key: str
    suppressed: int
    opened_at: float


class DedupeWindow:
    def __init__(self, cooldown_sec: float):
        if cooldown_sec < 0:
            raise ValueError(f"cooldown_sec must be >= 0, got {cooldown_sec}")
        self.cooldown_sec = cooldown_sec
        self._open: dict[str, list] = {}  # key -> [opened_at, suppressed]
        self._closed: list[ExpiredWindow] = []  # passed windows that admit() replaced, not yet reported

    def admit(self, key: str, now: float) -> bool:
        """True for the first alert of a window (deliver it); False for a duplicate (counted)."""
        window = self._open.get(key)
        if window is not None and now < window[0] + self.cooldown_sec:
            window[1] += 1
            return False
        if window is not None:  # passed but not yet expired: keep its count for expire()
            self._closed.append(ExpiredWindow(key, window[1], window[0]))
        self._open[key] = [now, 0]
        return True

    def expire(self, now: float) -> list[ExpiredWindow]:
        """Close every window that has passed; the caller reports those that suppressed anything."""
        done = [k for k, (opened, _) in self._open.items() if now >= opened + self.cooldown_sec]
        expired, self._closed = self._closed, []
        return expired + [ExpiredWindow(k, self._open[k][1], self._open.pop(k)[0]) for k in done]

    def reset(self) -> int:
        """Forget every window (the runbook's --reset-dedupe); returns how many were open."""
        count = len(self._open)
        self._open.clear()
        self._closed.clear()
        return count
