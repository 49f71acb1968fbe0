"""The live engine's parts on their own: the state keeper (anchors, snapshot, store) and the guard (errors,
clock drift, trips and when the emergency policy runs)."""

from __future__ import annotations

import asyncio
from datetime import date

import pandas as pd
import pytest

from autobot_lib.exchange.ports import BrokerError, ErrorPolicy
from autobot_lib.live.emergency import EmergencyPolicy
from autobot_lib.live.guard import Guard
from autobot_lib.live.keeper import StateKeeper
from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import Position, Side, TradingState
from autobot_lib.state import BotState, OpenPosition, StateUnavailable

DAY_MS = 86_400_000
T0 = pd.Timestamp("2025-03-03 10:00", tz="UTC")


class Store:
    def __init__(self, fail: bool = False):
        self.fail, self.saved, self.journal = fail, [], []

    def append_journal(self, records):
        if self.fail:
            raise StateUnavailable("redis at 127.0.0.1:1 refused")
        self.journal.extend(records)

    def save(self, state):
        if self.fail:
            raise StateUnavailable("redis at 127.0.0.1:1 refused")
        self.saved.append(state)


def keeper(store=None):
    alerts = []
    return StateKeeper(KillSwitch(), store, lambda k, t: alerts.append((k, t)), lambda: 1_000.0), alerts


def test_a_fresh_keeper_knows_nothing_yet():
    k, _ = keeper()
    state = k.snapshot({})
    assert (state.peak_equity, state.daily_anchor, state.anchor_day, state.last_bar) == (0.0, 0.0, None, {})
    assert k.last_equity == 0.0 and state.trading_state is TradingState.ACTIVE and state.kill_reason is None


def test_the_first_close_of_a_day_anchors_it_and_the_peak_only_rises():
    k, _ = keeper()
    k.mark_close(10_000.0, 20_000 * DAY_MS)
    k.mark_close(10_500.0, 20_000 * DAY_MS + 3_600_000)
    k.mark_close(9_800.0, 20_000 * DAY_MS + 7_200_000)
    assert (k.anchor, k.peak, k.last_equity, k.anchor_day) == (10_000.0, 10_500.0, 9_800.0, 20_000)
    k.mark_close(9_700.0, 20_001 * DAY_MS)
    assert (k.anchor, k.peak, k.anchor_day) == (9_700.0, 10_500.0, 20_001)
    assert k.snapshot({}).anchor_day == pd.Timestamp(20_001 * DAY_MS, unit="ms").date() == date(2024, 10, 5)


def test_save_writes_the_journal_then_the_snapshot_and_a_store_that_is_down_is_an_alert():
    store = Store()
    k, alerts = keeper(store)
    k.last_bar["BTCUSDT"] = T0
    k.save({}, ["record"])
    assert store.journal == ["record"] and store.saved[-1].last_bar == {"BTCUSDT": T0}
    k.save({})
    assert store.journal == ["record"] and len(store.saved) == 2 and alerts == []
    down, alerts = keeper(Store(fail=True))
    down.save({}, ["record"])
    assert alerts == [("state_unavailable", "state store unavailable (redis at 127.0.0.1:1 refused); trading on "
                                            "in-memory state")]
    nothing, alerts = keeper(None)
    nothing.save({}, ["record"])                                     # no store: nothing to do, nothing said
    assert alerts == []


def test_restore_brings_back_the_last_bars_and_the_positions_with_their_ids():
    pos = Position("SOLUSDT", Side.SHORT, 2.0, 150.0, 155.0, None, 5.0, 3.0,
                   pd.Timestamp("2025-03-03 10:00:00.123999999", tz="UTC"), 2.0)
    ids = ("ab-SOLUSDT-683b9800-S12", "ab-SOLUSDT-683b9800-T12", "ab-SOLUSDT-683b9800-L2")
    state = BotState(last_bar={"SOLUSDT": T0}, positions={"SOLUSDT": OpenPosition(pos, ids[0], ids)})
    k, _ = keeper()
    held = k.restore(state)
    assert k.last_bar == {"SOLUSDT": T0} and k.last_bar is not state.last_bar
    h = held["SOLUSDT"]
    assert h.protection.stop_id == ids[0] and h.protection.generation == 12      # "-S" inside "SOLUSDT" too
    assert h.protection.target_id == ids[1] and h.protection.ladder == ((2, ids[2]),)
    assert h.entry_ms == h.entry_bar_ms == 1_740_996_000_123                   # to the millisecond, cut
    undated = BotState(positions={"SOLUSDT": OpenPosition(pos.with_(opened_at=pd.NaT), None, ())})
    assert keeper()[0].restore(undated)["SOLUSDT"].entry_ms == 0
    assert h.initial_stop == 155.0
    assert keeper()[0].restore(None) == {}


def guard(policy="protect_only"):
    alerts, responded = [], []

    async def respond():
        responded.append(True)

    g = Guard(KillSwitch(max_errors=2), EmergencyPolicy(policy), lambda k, t: alerts.append((k, t)), lambda: 50.0,
              lock=asyncio.Lock(), respond=respond)
    return g, alerts, responded


def test_nothing_is_due_until_the_kill_switch_trips_and_then_once():
    async def go():
        g, alerts, responded = guard("flatten")
        assert g.drift_ms == 0.0 and g.due is False and g.task is None
        await g.settle()
        assert responded == []                                      # no trip, no policy
        g.report_error("BTCUSDT", BrokerError("busy", ErrorPolicy.RETRY, -1008))
        assert not g.due and alerts == [("order_error:-1008", "BTCUSDT: busy")]
        g.report_error("BTCUSDT", BrokerError("busy", ErrorPolicy.RETRY, -1008))
        assert g.kill.tripped is Trip.ERROR_BURST and g.due
        assert alerts[-1] == ("kill_switch", "kill switch: 2 errors in 60 s, last: busy; entries halted, "
                                             "positions: flatten")
        await g.task                                                # the loop runs: the policy ran under the lock
        assert responded == [True] and not g.due
        await g.settle()
        g.halt("ana")                                               # already tripped: nothing new
        assert responded == [True] and g.task.done()

    asyncio.run(go())


def test_a_trip_while_the_lock_is_held_waits_for_its_holder():
    async def go():
        g, _, responded = guard()
        async with g.lock:
            g.halt("ana")
            assert g.due and g.task is None and responded == []
            await g.settle()                                        # the holder settles as it ends
        assert responded == [True]

    asyncio.run(go())


def test_a_trip_outside_a_running_loop_is_left_due():
    g, alerts, responded = guard()
    g.halt("ana")
    assert g.due and g.task is None and alerts == [("kill_switch", "kill switch: halted by ana; entries halted, "
                                                                   "stops kept")]
    asyncio.run(g.settle())
    assert responded == [True] and not g.due


def test_clock_drift_is_measured_only_against_an_exchange():
    class Broker:
        def __init__(self, name):
            self.name = name

        async def server_time_ms(self):
            return 50_000.0 + 6_000.0                               # 6 s ahead of this machine's 50 s

    async def go():
        g, alerts, responded = guard()
        assert await g.check_clock(Broker("venue")) == 0.0 and g.drift_ms == 0.0 and not g.kill.tripped
        assert await g.check_clock(Broker("testnet")) == pytest.approx(6_000.0)
        assert g.drift_ms == pytest.approx(6_000.0) and g.kill.tripped is Trip.CLOCK_DRIFT and g.due
        await g.task
        assert responded == [True] and alerts[-1][1].startswith("kill switch: clock drift 6000 ms")

    asyncio.run(go())
