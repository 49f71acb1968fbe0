"""The live engine's state keeper: the account's marks between bars, the snapshot, and the store.

It keeps what a restart needs besides the positions (which the executor holds): the equity peak, the
daily anchor (the equity at the first close of a UTC day, as the backtester anchors it), the last equity
and the last bar decided per symbol. :meth:`StateKeeper.snapshot` and :meth:`StateKeeper.restore` turn
them, the kill switch and the positions into a :class:`~autobot_lib.state.BotState` and back;
:meth:`StateKeeper.save` writes it (with journal records) to the store, where a store that is down is an
alert, never a stop.
"""

from __future__ import annotations

from datetime import date
from typing import Callable

import pandas as pd

from autobot_lib.journal import JournalRecord
from autobot_lib.live.execution import Held
from autobot_lib.live.orders import Protection
from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import TradingState
from autobot_lib.state import BotState, OpenPosition, StateStore, StateUnavailable

_DAY_MS = 86_400_000
_EPOCH = date(1970, 1, 1).toordinal()


class StateKeeper:
    def __init__(self, kill: KillSwitch, store: StateStore | None, alert: Callable[[str, str], None],
                 clock: Callable[[], float]):
        self.kill, self.store, self.alert, self.clock = kill, store, alert, clock
        self.peak = self.anchor = self.last_equity = 0.0
        self.anchor_day: int | None = None            # days since the epoch (UTC) of the anchor
        self.last_bar: dict[str, pd.Timestamp] = {}

    def mark_close(self, equity: float, close_ms: int) -> None:
        """The equity at a bar's close (``close_ms``): the first close of a UTC day anchors the day."""
        day = close_ms // _DAY_MS
        if day != self.anchor_day:
            self.anchor_day, self.anchor = day, equity
        self.peak, self.last_equity = max(self.peak, equity), equity

    def snapshot(self, held: dict[str, Held]) -> BotState:
        return BotState(
            self.kill.state, self.kill.detail or None, self.peak, self.anchor,
            None if self.anchor_day is None else date.fromordinal(_EPOCH + self.anchor_day),
            {s: OpenPosition(h.position, h.protection.stop_id, h.protection.ids) for s, h in held.items()},
            last_bar=dict(self.last_bar))

    def restore(self, state: BotState | None) -> dict[str, Held]:
        """Anchors, peak, kill switch and last bars from a snapshot; returns its positions (the exchange is
        checked next, by reconciliation)."""
        if state is None:
            return {}
        self.peak, self.anchor = state.peak_equity, state.daily_anchor
        self.anchor_day = None if state.anchor_day is None else state.anchor_day.toordinal() - _EPOCH
        if state.trading_state is not TradingState.ACTIVE:
            self.kill.trip(Trip.MANUAL, state.kill_reason or "halted before the restart", self.clock())
        self.last_bar = dict(state.last_bar)
        return {symbol: _restored(saved) for symbol, saved in state.positions.items()}

    def save(self, held: dict[str, Held], records: list[JournalRecord] = ()) -> None:
        """Snapshot and journal to the store; a store that is down is an alert, never a stop."""
        if self.store is None:
            return
        try:
            if records:
                self.store.append_journal(records)
            self.store.save(self.snapshot(held))
        except StateUnavailable as exc:
            self.alert("state_unavailable", f"state store unavailable ({exc}); trading on in-memory state")


def _restored(saved: OpenPosition) -> Held:
    """A saved position with its protective orders' client ids (their roles are in the ids' suffixes)."""
    position = saved.position
    stop = saved.stop_order_id
    roles = {cid.rsplit("-", 1)[-1]: cid for cid in saved.client_order_ids}
    target = next((cid for role, cid in roles.items() if role.startswith("T")), None)
    ladder = tuple(sorted((int(role[1:]), cid) for role, cid in roles.items() if role[:1] == "L" and role[1:].isdigit()))
    generation = int(stop.rsplit("-S", 1)[1]) if stop and stop.rsplit("-S", 1)[-1].isdigit() else 0
    initial = position.first_entry_price - position.side.sign * position.risk_per_unit
    entry_ms = int(position.opened_at.value // 1_000_000) if position.opened_at is not pd.NaT else 0
    return Held(position, Protection(stop, None, None, target, None, ladder, generation), entry_ms=entry_ms,
                entry_bar_ms=entry_ms, initial_stop=initial)
