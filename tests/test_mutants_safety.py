"""The kill switch at its boundaries and in what it tells a person (mutation testing, ``make mutate``).

tests/test_safety.py shows the rules; these pin the defaults the engine relies on (5 errors within 60 s,
5 s of clock drift, the 6 % daily loss), the inclusive edges, and the texts that reach the alerts, the
saved state and the re-arm log.
"""

from __future__ import annotations

import pytest

from autobot_lib.live.safety import KillSwitch, Trip
from autobot_lib.model import TradingState


def test_the_reasons_are_named_as_the_saved_state_and_the_alerts_name_them():
    assert [t.value for t in Trip] == ["error_burst", "clock_drift", "daily_drawdown", "manual"]


def test_a_fresh_switch_is_active_with_nothing_recorded():
    k = KillSwitch()
    assert k.tripped is None and k.detail == "" and k.tripped_at is None and k.state is TradingState.ACTIVE
    assert "deque" not in repr(k)            # the error times stay out of logs


def test_by_default_the_fifth_error_within_sixty_seconds_trips():
    k = KillSwitch()
    assert not any(k.record_error("timeout", t) for t in (0, 10, 20, 30))    # four
    assert k.record_error("timeout", 59.5)                                     # the fifth within 60 s
    assert k.tripped is Trip.ERROR_BURST and k.tripped_at == 59.5
    assert k.detail == "5 errors in 60 s, last: timeout"


def test_an_error_exactly_the_window_old_still_counts_and_one_older_does_not():
    k = KillSwitch()
    for t in (0, 15, 30, 45):
        assert not k.record_error("e", t)
    assert k.record_error("e", 60)             # the first, 60 s before, is within the window
    k = KillSwitch()
    for t in (0, 15, 30, 45):
        assert not k.record_error("e", t)
    assert not k.record_error("e", 60.001)      # the first has left the window: four remain


def test_drift_of_exactly_the_limit_is_tolerated():
    k = KillSwitch()
    assert not k.check_drift(5_000, 0) and not k.check_drift(-5_000, 0) and k.tripped is None
    assert k.check_drift(6_000.4, 7) and k.tripped is Trip.CLOCK_DRIFT and k.tripped_at == 7
    assert k.detail == "clock drift 6000 ms (limit 5000 ms)"


def test_the_default_daily_loss_limit_is_six_percent():
    k = KillSwitch()
    assert not k.check_daily_loss(9_401, 10_000, 0) and k.tripped is None
    assert k.check_daily_loss(9_400, 10_000, 3) and k.tripped is Trip.DAILY_DRAWDOWN
    assert k.detail == "daily loss 6.00% (limit 6.00%)" and k.tripped_at == 3
    assert not k.check_daily_loss(5_000, 10_000, 4)      # tripped already: no second alert


def test_a_paused_switch_state_does_not_change_the_daily_loss_rule():
    k = KillSwitch(daily_loss_limit=0.1)
    assert k.check_daily_loss(8_000, 10_000, 0) and k.detail == "daily loss 20.00% (limit 10.00%)"


def test_rearm_says_who_and_what_it_cleared_and_forgets_the_errors():
    k = KillSwitch(max_errors=2)
    k.record_error("a", 0)
    assert k.record_error("b", 1)
    assert k.rearm("alice") == "re-armed by alice; was error_burst (2 errors in 60 s, last: b)"
    assert k.tripped is None and k.detail == "" and k.tripped_at is None and k.state is TradingState.ACTIVE
    assert not k.record_error("c", 2)           # the burst before the re-arm no longer counts
    with pytest.raises(ValueError, match="^the kill switch is not tripped: nothing to re-arm$"):
        KillSwitch().rearm("bob")


def test_the_annotations_are_types():
    import typing

    assert typing.get_type_hints(KillSwitch)["tripped"] == Trip | None
