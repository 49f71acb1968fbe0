"""The kill switch: what halts new risk, and the manual re-arm it then needs.

It trips on a burst of errors (``max_errors`` within ``error_window_s``), on clock drift against the
exchange beyond ``max_drift_ms`` (5 s: decisions on a wrong clock are not trusted), on the daily loss
limit (the trading state machine the backtester runs too:
:func:`autobot_lib.risk.kernel.next_trading_state`), or on command. Tripped, the engine's trading state becomes HALTED: the decision pipeline vetoes
every entry (``veto:halted``), protective stops stay on the exchange, an alert goes out, and only
:meth:`KillSwitch.rearm` (a human) returns to ACTIVE. Pure: the caller passes the time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum

from autobot_lib.model import TradingState
from autobot_lib.risk.kernel import HALTED, next_trading_state


class Trip(StrEnum):
    ERROR_BURST = "error_burst"
    CLOCK_DRIFT = "clock_drift"
    DAILY_DRAWDOWN = "daily_drawdown"
    MANUAL = "manual"


@dataclass
class KillSwitch:
    max_errors: int = 5
    error_window_s: float = 60.0
    max_drift_ms: float = 5_000.0
    daily_loss_limit: float = 0.06
    tripped: Trip | None = None
    detail: str = ""
    tripped_at: float | None = None
    _errors: deque = field(default_factory=deque, repr=False)

    @property
    def state(self) -> TradingState:
        return TradingState.HALTED if self.tripped else TradingState.ACTIVE

    def trip(self, reason: Trip, detail: str, now: float) -> bool:
        """Halt; True if this call tripped it (the caller alerts once)."""
        if self.tripped:
            return False
        self.tripped, self.detail, self.tripped_at = reason, detail, now
        return True

    def record_error(self, what: str, now: float) -> bool:
        self._errors.append(now)
        while self._errors and self._errors[0] < now - self.error_window_s:
            self._errors.popleft()
        if len(self._errors) >= self.max_errors:
            return self.trip(Trip.ERROR_BURST, f"{len(self._errors)} errors in {self.error_window_s:.0f} s, last: {what}",
                             now)
        return False

    def check_drift(self, drift_ms: float, now: float) -> bool:
        if abs(drift_ms) > self.max_drift_ms:
            return self.trip(Trip.CLOCK_DRIFT, f"clock drift {drift_ms:.0f} ms (limit {self.max_drift_ms:.0f} ms)", now)
        return False

    def check_daily_loss(self, equity: float, daily_anchor: float, now: float) -> bool:
        if self.tripped or next_trading_state(0, equity, daily_anchor, self.daily_loss_limit) != HALTED:
            return False
        loss = 1.0 - equity / daily_anchor
        return self.trip(Trip.DAILY_DRAWDOWN, f"daily loss {loss:.2%} (limit {self.daily_loss_limit:.2%})", now)

    def rearm(self, by: str) -> str:
        """Back to ACTIVE: a human's decision, named in the log."""
        if not self.tripped:
            raise ValueError("the kill switch is not tripped: nothing to re-arm")
        was = f"{self.tripped.value} ({self.detail})"
        self.tripped, self.detail, self.tripped_at = None, "", None
        self._errors.clear()
        return f"re-armed by {by}; was {was}"
