"""What the kill switch does to the open positions: the Donchian config's ``emergency_policy``.

When the kill switch trips (an error burst, clock drift, the daily loss limit, or by hand), entries
halt and the policy decides about what is open:

- ``protect_only`` (the default): every position stays, with its protective stop on the exchange
  (reconciliation keeps placing one where it is missing, at ``emergency_stop_fallback_pct`` when the ATR
  is unknown). Nothing is sent.
- ``flatten``: every position is closed at market, booked with the exit reason ``kill_switch``.
- ``flatten_profitable``: the positions whose PnL at the last close is at least
  ``emergency_min_pnl_to_close_pct`` of their entry value are closed; the others stay protected
  (``flatten_partial_total{reason="not_profitable"}``).

A close the exchange refuses leaves that position protected and counts in
``flatten_failures_total{reason="order_error"}`` (``no_response`` when the exchange did not answer, which
also counts in ``flatten_partial_total{reason="no_response"}``); the others are still closed. The
backtester models ``protect_only``: a halt there keeps the positions to their stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Awaitable, Callable

from autobot_lib.exchange.ports import BrokerError, ErrorPolicy
from autobot_lib.live.execution import Held

POLICIES = ("protect_only", "flatten", "flatten_profitable")


def pnl_pct(held: Held, mark: float) -> float:
    """The position's unrealised PnL at ``mark`` as a fraction of its entry value (NaN without a mark)."""
    p = held.position
    if not (mark > 0 and p.entry_price > 0):
        return math.nan
    return p.side.sign * (mark - p.entry_price) / p.entry_price


@dataclass(frozen=True)
class EmergencyPolicy:
    policy: str = "protect_only"
    min_pnl_pct: float = 0.0

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"emergency_policy {self.policy!r}: one of {', '.join(POLICIES)}")

    def to_close(self, held: dict[str, Held], marks: dict[str, float]) -> tuple[list[str], list[str]]:
        """(the symbols to close, the symbols kept because they are not profitable enough)."""
        if self.policy == "protect_only":
            return [], []
        if self.policy == "flatten":
            return sorted(held), []
        close = sorted(s for s, h in held.items() if pnl_pct(h, marks.get(s, math.nan)) >= self.min_pnl_pct)
        return close, sorted(set(held) - set(close))

    async def apply(self, held: dict[str, Held], marks: dict[str, float],
                    close: Callable[[str], Awaitable[object]], metrics=None,
                    alert: Callable[[str, str], None] = lambda key, text: None) -> list[str]:
        """Close what the policy says with ``close(symbol)``; returns the symbols closed."""
        to_close, kept = self.to_close(held, marks)
        for symbol in kept:
            if metrics is not None:
                metrics.flatten_partial("not_profitable")
        if kept:
            alert("emergency_kept", f"kill switch ({self.policy}): kept with their stops, PnL under "
                                    f"{self.min_pnl_pct:.2%}: {', '.join(kept)}")
        closed = []
        for symbol in to_close:
            try:
                await close(symbol)
                closed.append(symbol)
            except BrokerError as exc:
                silent = exc.policy is ErrorPolicy.RETRY           # timeout, network, 5xx: no answer
                if metrics is not None:
                    metrics.flatten_failed("no_response" if silent else "order_error")
                    if silent:
                        metrics.flatten_partial("no_response")
                alert("emergency_close_failed", f"kill switch ({self.policy}): {symbol} not closed ({exc}); "
                                                "it stays with its protective stop")
        return closed

