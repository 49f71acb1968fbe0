"""What a person does to a running live engine (through :mod:`autobot_lib.live.control`): pause (REDUCING:
no new entries, exits and stops go on), resume, halt (the kill switch), re-arm, close one position or all
of them at market (booked as ``manual_close``), and new risk settings while running.

The commands that touch the exchange take the engine's lock, so they never land inside a bar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from autobot_lib.config import Settings
from autobot_lib.live.emergency import EmergencyPolicy
from autobot_lib.live.ledger import LiveTrade
from autobot_lib.plan import compile_plan

if TYPE_CHECKING:
    from autobot_lib.live.engine import LiveEngine


class ManualCommands:
    def __init__(self, engine: LiveEngine):
        self.engine = engine
        self.paused_by: str | None = None         # paused (REDUCING): no new entries, exits and stops go on

    def pause(self, by: str) -> None:
        """No new entries (REDUCING); exits, trailing stops and protective orders go on."""
        self.paused_by = by
        self.engine.alert("paused", f"paused by {by}: no new entries; exits and stops go on")

    def resume(self, by: str) -> None:
        self.paused_by = None
        self.engine.alert("resumed", f"resumed by {by}" + (" (the kill switch is still tripped: re-arm it to trade)"
                                                          if self.engine.kill.tripped else ""))

    def halt(self, by: str) -> None:
        """The manual kill switch (the emergency policy follows)."""
        self.engine.guard.halt(by)
        self.engine.save()

    def rearm(self, by: str) -> str:
        text = self.engine.kill.rearm(by)
        self.engine.alert("kill_switch_rearmed", text)
        self.engine.save()
        return text

    async def close_position(self, symbol: str, by: str, reason: str = "manual_close") -> LiveTrade | None:
        """Close ``symbol`` at market now (protective orders cancelled), booked, journaled and alerted with
        ``reason``; None if nothing was held."""
        async with self.engine.busy:
            return await self.engine.close_now(symbol, by, reason)

    async def flatten(self, by: str, reason: str = "manual_close") -> list[LiveTrade]:
        """Every position closed at market, positions the books did not know included (adopted first)."""
        engine = self.engine
        async with engine.busy:
            await engine.reconcile_locked()
            return [t for t in [await engine.close_now(s, by, reason) for s in list(engine.held)] if t]

    async def apply_settings(self, settings: Settings) -> None:
        """New risk settings while running (validated by the caller): leverage on the exchange first, then
        the plan's parameters, the strategy's threshold, the kill switch's daily limit and the emergency
        policy. Indicator periods and the strategy itself cannot change here (the features would no longer
        be warm): that needs a restart."""
        engine = self.engine
        plan = compile_plan(settings, getattr(engine.plan.strategy, "rules", None))
        if plan.features != engine.plan.features or plan.strategy.name != engine.plan.strategy.name:
            raise ValueError("indicator periods and STRATEGY change only at a restart")
        async with engine.busy:
            if plan.risk.leverage != engine.params.leverage:
                for symbol in engine.symbols:
                    await engine.configure(symbol, plan.risk.leverage)
            engine.settings, engine.plan, engine.params = settings, plan, plan.risk
            if engine.executor is not None:
                engine.executor.params = plan.risk
            engine.kill.daily_loss_limit = plan.risk.daily_loss_limit
            engine.guard.emergency = EmergencyPolicy(settings.donchian.emergency_policy,
                                                     settings.donchian.emergency_min_pnl_to_close_pct)
            for features in engine.features.values():
                features.strategy = plan.strategy
