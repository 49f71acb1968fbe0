"""The ADX entry gate (AUTOBOT's ADXEntryGate) and the long/short switches. Each block has a reason.

The checks run compiled (:func:`autobot_lib.risk.kernel.gate_mask`), in the order of
:class:`~autobot_lib.risk.reasons.GateReason`: the switches, then (with the gate on) no regime, a RANGE
regime, against the regime, ADX too low, ADX falling, trend unstable.
"""

from __future__ import annotations

from autobot_lib.model import Side
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.reasons import GateReason, decode


def entry_gate(side: Side, adx: float, adx_prev: float, regime: str | None, regime_age: int,
               params: RiskParams) -> tuple[GateReason, ...]:
    """Every reason this entry is blocked (empty: it may pass on to the vetoes)."""
    mask = kernel.gate_mask(side.sign, adx, adx_prev, kernel.regime_code(regime), regime_age,
                            kernel.kernel_params(params))
    return decode(mask, GateReason)
