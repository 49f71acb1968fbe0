"""The Donchian bot's alert scheduler as plain rules: observations in, alerts out. No clock, no I/O.

The engine reports what happens (``signal``, ``trade``, ``order_error``, ``clock_drift``, ``loop_beat``) with
the time it happened; :meth:`Watch.check` returns the alerts due at ``now``, which the engine hands to the
:class:`~autobot_lib.notify.Notifier` (its dedupe window keeps a standing condition from repeating):

- a heartbeat message every ``heartbeat_alert_sec`` (12 h), and a CRITICAL alarm once the trading loop
  has not beaten for ``heartbeat_missing_sec`` (18 h);
- clock drift above ``clock_drift_alert_ms`` (5 s);
- an error burst: ``error_burst_count`` (10) order errors within ``error_burst_window_sec`` (5 min);
- a no-trade anomaly: ``no_trade_signal_count`` (5) signals within ``no_trade_window_sec`` (2 h) and no trade.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

from autobot_lib.notify.alerts import Alert, Priority


@dataclass(frozen=True)
class WatchKnobs:
    heartbeat_alert_sec: float = 43_200
    heartbeat_missing_sec: float = 64_800
    clock_drift_alert_ms: float = 5_000
    error_burst_count: int = 10
    error_burst_window_sec: float = 300
    no_trade_signal_count: int = 5
    no_trade_window_sec: float = 7_200

    @classmethod
    def from_settings(cls, settings) -> WatchKnobs:
        return cls(**{name: getattr(settings.donchian, name) for name in cls.__dataclass_fields__})


class Watch:
    def __init__(self, knobs: WatchKnobs, start: float):
        self.knobs = knobs
        self._last_beat = start
        self._last_heartbeat_alert = start
        self._drift_ms = 0.0
        self._errors: deque[tuple[float, str]] = deque()
        self._signals: deque[float] = deque()
        self._trades: deque[float] = deque()

    # --- observations --------------------------------------------------------------------------------
    def loop_beat(self, at: float) -> None:
        self._last_beat = at

    def clock_drift(self, drift_ms: float) -> None:
        self._drift_ms = drift_ms

    def order_error(self, reason: str, at: float) -> None:
        self._errors.append((at, reason))

    def signal(self, at: float) -> None:
        self._signals.append(at)

    def trade(self, at: float) -> None:
        self._trades.append(at)

    # --- rules ---------------------------------------------------------------------------------------
    def check(self, now: float, status: str = "") -> list[Alert]:
        """The alerts due at ``now``; ``status`` (equity, positions ...) goes into the heartbeat message."""
        k = self.knobs
        _drop_before(self._errors, now - k.error_burst_window_sec, key=lambda e: e[0])
        _drop_before(self._signals, now - k.no_trade_window_sec)
        _drop_before(self._trades, now - k.no_trade_window_sec)
        alerts = []
        if now - self._last_heartbeat_alert >= k.heartbeat_alert_sec:
            self._last_heartbeat_alert = now
            alerts.append(Alert(Priority.INFO, "heartbeat", "Heartbeat: bot alive", status))
        silent = now - self._last_beat
        if silent >= k.heartbeat_missing_sec:
            alerts.append(Alert(Priority.CRITICAL, "heartbeat_missing",
                                f"Heartbeat missing: no loop pass for {silent / 3600:.1f} h",
                                "The trading loop has stopped. Check the process and the exchange connection."))
        if abs(self._drift_ms) > k.clock_drift_alert_ms:
            alerts.append(Alert(Priority.HIGH, "clock_drift",
                                f"Clock drift: {self._drift_ms:+.0f}ms (>{k.clock_drift_alert_ms:.0f}).",
                                "Check NTP / exchange time."))
        if len(self._errors) >= k.error_burst_count:
            reason, _ = Counter(r for _, r in self._errors).most_common(1)[0]
            alerts.append(Alert(Priority.HIGH, "error_burst", f"Error burst: {len(self._errors)} errors/"
                                f"{k.error_burst_window_sec / 60:.0f}m ({reason})."))
        if len(self._signals) >= k.no_trade_signal_count and not self._trades:
            alerts.append(Alert(Priority.MEDIUM, "no_trades", f"Signals: {len(self._signals)} in "
                                f"{k.no_trade_window_sec / 3600:.0f}h but 0 trades. Check filters/routing."))
        return alerts


def _drop_before(events: deque, cutoff: float, key=lambda e: e) -> None:
    while events and key(events[0]) <= cutoff:
        events.popleft()
