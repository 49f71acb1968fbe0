"""The kill switch at work in the live engine: what counts toward it, what trips it, and what follows.

:class:`Guard` feeds the :class:`~autobot_lib.live.safety.KillSwitch` the exchange's errors
(:meth:`Guard.report_error`: an alert, the metrics, the error count; a refused account trips it at once)
and the clock drift against the exchange (:meth:`Guard.check_clock`); the engine feeds it the daily loss.
A trip is alerted once and marks the emergency policy due (:attr:`Guard.due`): the engine runs the policy
(:mod:`autobot_lib.live.emergency`) as soon as no bar, reconciliation or command holds its lock.
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable

from autobot_lib.exchange.errors import reason_of
from autobot_lib.exchange.ports import Broker, BrokerError, ErrorPolicy
from autobot_lib.live.emergency import EmergencyPolicy
from autobot_lib.live.safety import KillSwitch, Trip


class Guard:
    def __init__(self, kill: KillSwitch, emergency: EmergencyPolicy, alert: Callable[[str, str], None],
                 clock: Callable[[], float], *, lock: asyncio.Lock, respond: Callable[[], Awaitable[None]],
                 metrics=None):
        """``respond()`` runs the emergency policy; it runs under ``lock`` (the engine's)."""
        self.kill, self.emergency, self.alert, self.clock = kill, emergency, alert, clock
        self.lock, self.respond, self.metrics = lock, respond, metrics
        self.drift_ms = 0.0              # this machine's clock against the exchange's, at the last check
        self.due = False                 # tripped: the emergency policy has yet to run
        self.task: asyncio.Task | None = None

    def report_error(self, symbol: str, exc: BrokerError) -> None:
        """An exchange refusal or failure: an alert, the metrics, and the kill switch's count."""
        self.alert(f"order_error:{exc.code}", f"{symbol}: {exc}")
        if self.metrics is not None:
            self.metrics.order_error(reason_of(exc))
        if exc.policy is ErrorPolicy.HALT:
            self.tripped_if(self.kill.trip(Trip.MANUAL, f"exchange refused the account: {exc}", self.clock()))
        else:
            self.tripped_if(self.kill.record_error(str(exc), self.clock()))

    async def check_clock(self, broker: Broker) -> float:
        """Drift of this machine's clock against the exchange's, in ms; over the limit the kill switch trips.
        (Not against the local venue: its clock is the replay's.)"""
        if broker.name not in ("testnet", "live"):
            return 0.0
        before = self.clock()
        server_ms = await broker.server_time_ms()
        self.drift_ms = server_ms - (before + self.clock()) / 2 * 1000
        if self.metrics is not None:
            self.metrics.set_time_drift_ms(self.drift_ms)
        self.tripped_if(self.kill.check_drift(self.drift_ms, self.clock()))
        return self.drift_ms

    def halt(self, by: str) -> None:
        """The manual kill switch."""
        self.tripped_if(self.kill.trip(Trip.MANUAL, f"halted by {by}", self.clock()))

    def tripped_if(self, tripped: bool) -> None:
        """The kill switch just tripped (``tripped``): alert once and make the emergency policy due."""
        if not tripped:
            return
        kept = "stops kept" if self.emergency.policy == "protect_only" else f"positions: {self.emergency.policy}"
        self.alert("kill_switch", f"kill switch: {self.kill.detail}; entries halted, {kept}")
        self.due = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return                       # not running (a restore, a test): whoever holds the lock next settles
        if not self.lock.locked():       # else the bar, reconciliation or command holding it settles as it ends
            self.task = loop.create_task(self._settle_locked())

    async def _settle_locked(self) -> None:
        async with self.lock:
            await self.settle()

    async def settle(self) -> None:
        """Run the emergency policy if a trip left it due (the caller holds the lock)."""
        if self.due:
            self.due = False
            await self.respond()
