"""The ADX entry gate (AUTOBOT's ADXEntryGate) and the long/short switches. Each block has a reason.

The checks run compiled (:func:`autobot_lib.risk.kernel.gate_mask`), in the order of
:data:`~autobot_lib.risk.kernel.GATE_ORDER`: the switches, then (with the gate on) no regime, a RANGE
regime, against the regime, ADX too low, ADX falling, trend unstable.
"""

from __future__ import annotations

from enum import StrEnum

from autobot_lib.model import Side
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams


class GateReason(StrEnum):
    NO_REGIME = "no_regime"                # indicators still warming up
    LONG_DISABLED = "long_disabled"
    SHORT_DISABLED = "short_disabled"
    RANGE_REGIME = "range_regime"          # no entries in RANGE
    ADX_TOO_LOW = "adx_too_low"            # choppy market
    ADX_FALLING = "adx_falling"            # momentum weakening from a high level
    TREND_UNSTABLE = "trend_unstable"      # the regime changed too recently
    AGAINST_REGIME = "against_regime"      # a long in a bear trend, a short in a bull trend


def entry_gate(side: Side, adx: float, adx_prev: float, regime: str | None, regime_age: int,
               params: RiskParams) -> tuple[GateReason, ...]:
    """Every reason this entry is blocked (empty: it may pass on to the vetoes)."""
    mask = kernel.gate_mask(side.sign, adx, adx_prev, kernel.regime_code(regime), regime_age,
                            kernel.kernel_params(params))
    return tuple(GateReason(r) for r in kernel.reasons(mask, kernel.GATE_ORDER))
