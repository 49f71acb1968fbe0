"""The ADX entry gate (AUTOBOT's ADXEntryGate) and the long/short switches. Each block has a reason."""

from __future__ import annotations

from enum import StrEnum

from autobot_lib.model import Side
from autobot_lib.regime import Regime
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
    reasons: list[GateReason] = []
    if side is Side.LONG and not params.allow_long:
        reasons.append(GateReason.LONG_DISABLED)
    if side is Side.SHORT and not params.allow_short:
        reasons.append(GateReason.SHORT_DISABLED)
    if not params.use_adx_gate:
        return tuple(reasons)
    if regime is None or adx != adx:
        return (*reasons, GateReason.NO_REGIME)
    if params.block_range_entries and regime == Regime.RANGE.value:
        reasons.append(GateReason.RANGE_REGIME)
    if (side is Side.LONG and regime == Regime.BEAR_TREND.value) or (side is Side.SHORT and regime == Regime.BULL_TREND.value):
        reasons.append(GateReason.AGAINST_REGIME)
    if params.adx_chop_filter:
        if adx < params.adx_minimum:
            reasons.append(GateReason.ADX_TOO_LOW)
        if adx_prev == adx_prev and adx_prev > params.adx_falling_from and \
                (adx_prev - adx) / adx_prev > params.adx_falling_threshold:
            reasons.append(GateReason.ADX_FALLING)
    if regime_age < params.trend_stable_bars:
        reasons.append(GateReason.TREND_UNSTABLE)
    return tuple(reasons)
