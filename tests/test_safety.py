"""Kill switch and Binance rate limits: pure rules with the time passed in."""

from __future__ import annotations

import asyncio

import pytest

from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import TradingState


def test_error_burst_trips_once_and_only_a_human_rearms():
    spread = KillSwitch(max_errors=3, error_window_s=60)
    assert not any(spread.record_error(f"e{t}", t) for t in (0, 30, 95, 150))   # never 3 within 60 s
    k = KillSwitch(max_errors=3, error_window_s=60)
    assert not k.record_error("e1", 0) and not k.record_error("e2", 30)
    assert k.record_error("e3", 59)                # three within 60 s
    assert k.state is TradingState.HALTED and k.tripped is Trip.ERROR_BURST
    assert not k.record_error("e4", 60)            # already tripped: no second alert
    assert not k.check_drift(9_000, 61) and k.tripped is Trip.ERROR_BURST   # the first reason is kept
    assert "re-armed by alice" in k.rearm("alice") and k.state is TradingState.ACTIVE
    with pytest.raises(ValueError, match="not tripped"):
        k.rearm("bob")


def test_drift_and_daily_loss():
    assert not KillSwitch().check_drift(4_999, 0)
    k = KillSwitch()
    assert k.check_drift(-5_001, 0) and k.tripped is Trip.CLOCK_DRIFT and "5001" in k.detail
    k = KillSwitch(daily_loss_limit=0.06)
    assert not k.check_daily_loss(9_401, 10_000, 0)
    assert k.check_daily_loss(9_400, 10_000, 0) and k.tripped is Trip.DAILY_DRAWDOWN


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_burst_of_100_orders_fits_binances_windows_at_once():
    limiter = RateLimiter(clock=Clock())
    waits = []
    for _ in range(100):
        waits.append(limiter.delay(1, order=True))
        limiter.record(1, order=True)
    assert max(waits) == 0                         # ccxt's own throttle would space them 200 ms apart


def test_the_10s_order_window_fills_then_frees():
    clock = Clock()
    limiter = RateLimiter(clock=clock, headroom=1.0)
    for i in range(300):                           # 300 orders per 10 s on USD-M
        clock.now = 1000.0 + i * 0.01
        assert limiter.delay(1, order=True) == 0
        limiter.record(1, order=True)
    assert limiter.delay(1, order=True) == pytest.approx(10.0 - 2.99)   # the first frees 10 s after it
    assert limiter.delay(1, order=False) == 0      # a plain request is not an order


def test_headers_and_429_back_off():
    clock = Clock()
    limiter = RateLimiter(clock=clock, headroom=1.0)
    limiter.observe({"X-MBX-USED-WEIGHT-1M": "2399"})
    assert limiter.delay(1) == 0 and limiter.delay(2) == pytest.approx(60.0)
    limiter.observe({"X-MBX-ORDER-COUNT-10S": "300"})
    assert limiter.delay(1, order=True) == pytest.approx(10.0)
    clock.now += 61
    assert limiter.delay(1, order=True) == 0
    assert limiter.back_off(429, 7) == 7 and limiter.delay(1) == pytest.approx(7)
    assert limiter.back_off(418, None) == 4      # second back-off without Retry-After: doubling


def test_acquire_waits_for_the_window():
    clock = Clock()
    limiter = RateLimiter(rate_limits=({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
                                        "limit": 2},), headroom=1.0)
    waited = asyncio.run(_three(limiter))
    assert waited[:2] == [0.0, 0.0] and waited[2] > 0.5


async def _three(limiter):
    return [await limiter.acquire(order=True) for _ in range(3)]
