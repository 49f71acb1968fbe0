"""Binance's request limits, followed by the engine instead of ccxt's fixed spacing.

ccxt spaces binanceusdm order calls 200 ms apart (rateLimit 50 ms x cost 4): 100 orders on one bar
close would take 20 s. Binance's real limits are windows (exchangeInfo ``rateLimits``: request weight
2,400 per minute, orders 300 per 10 s and 1,200 per minute on USD-M), so a burst well inside them may go
at once. :class:`RateLimiter` counts each window, trusts the counts Binance reports in the
``X-MBX-USED-WEIGHT-1M`` / ``X-MBX-ORDER-COUNT-10S`` / ``-1M`` headers when they are higher, and
backs off after a 429 (Retry-After) or a 418 ban. :meth:`delay` says how long a request must wait;
:meth:`acquire` waits that long and counts it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Mapping

_INTERVAL_S = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86_400}


@dataclass
class Window:
    kind: str            # REQUEST_WEIGHT | ORDERS
    seconds: int
    limit: int
    events: deque = field(default_factory=deque)   # (time, cost)
    used: int = 0

    def expire(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - self.seconds:
            self.used -= self.events.popleft()[1]

    def wait(self, cost: int, now: float) -> float:
        """Seconds until ``cost`` more fits."""
        self.expire(now)
        if self.used + cost <= self.limit:
            return 0.0
        over, freed = self.used + cost - self.limit, 0
        for at, c in self.events:
            freed += c
            if freed >= over:
                return at + self.seconds - now
        return float(self.seconds)

    @property
    def header(self) -> str:
        unit = {1: "S", 60: "M", 3600: "H", 86_400: "D"}.get(self.seconds, "S")
        count = self.seconds if unit == "S" else self.seconds // {"M": 60, "H": 3600, "D": 86_400}[unit]
        name = "used-weight" if self.kind == "REQUEST_WEIGHT" else "order-count"
        return f"x-mbx-{name}-{count}{unit.lower()}"


# USD-M futures, as exchangeInfo states them
USDM_LIMITS = ({"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
               {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
               {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200})


class RateLimiter:
    def __init__(self, rate_limits=USDM_LIMITS, clock: Callable[[], float] = time.monotonic, headroom: float = 0.9):
        """``headroom``: the share of each limit used, leaving room for what the headers report late."""
        self.clock, self.headroom = clock, headroom
        self.configure(rate_limits)
        self.paused_until = 0.0
        self.backoffs = 0

    def configure(self, rate_limits) -> None:
        """Take the limits an exchange announces (exchangeInfo ``rateLimits``)."""
        self.windows = [Window(r["rateLimitType"], _INTERVAL_S[r["interval"]] * int(r["intervalNum"]),
                               max(1, int(r["limit"] * self.headroom))) for r in rate_limits
                        if r["rateLimitType"] in ("REQUEST_WEIGHT", "ORDERS")]

    def delay(self, weight: int = 1, order: bool = False, now: float | None = None) -> float:
        now = self.clock() if now is None else now
        wait = max(0.0, self.paused_until - now)
        for w in self.windows:
            if w.kind == "REQUEST_WEIGHT" or order:
                wait = max(wait, w.wait(weight if w.kind == "REQUEST_WEIGHT" else 1, now))
        return wait

    def record(self, weight: int = 1, order: bool = False, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for w in self.windows:
            if w.kind == "REQUEST_WEIGHT" or order:
                cost = weight if w.kind == "REQUEST_WEIGHT" else 1
                w.events.append((now, cost))
                w.used += cost

    async def acquire(self, weight: int = 1, order: bool = False) -> float:
        """Wait until the request fits every window, then count it. Returns the time waited."""
        waited = 0.0
        while (wait := self.delay(weight, order)) > 0:
            await asyncio.sleep(wait)
            waited += wait
        self.record(weight, order)
        return waited

    def observe(self, headers: Mapping[str, str], now: float | None = None) -> None:
        """Binance's own counts: when one is above ours, ours catches up (the excess counted now)."""
        now = self.clock() if now is None else now
        lower = {k.lower(): v for k, v in headers.items()}
        for w in self.windows:
            reported = lower.get(w.header)
            if reported is not None and reported.isdigit():
                w.expire(now)
                if int(reported) > w.used:
                    w.events.append((now, int(reported) - w.used))
                    w.used = int(reported)

    def back_off(self, status: int, retry_after_s: float | None, now: float | None = None) -> float:
        """After a 429 or 418: no request until Retry-After (or a doubling pause when none is given)."""
        now = self.clock() if now is None else now
        self.backoffs += 1
        pause = retry_after_s if retry_after_s else min(2.0 ** self.backoffs, 120.0 if status == 429 else 600.0)
        self.paused_until = max(self.paused_until, now + pause)
        return pause
