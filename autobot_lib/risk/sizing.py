"""Position sizing: Turtle N-unit / ATR risk sizing, capped, then rounded to the market with Decimal.

    risk amount   = equity x risk_per_trade
    stop distance = ATR x stop_atr_k                     (1R in price units)
    quantity      = risk amount / stop distance
capped by: max position value (equity x max_position_value_ratio), leverage (equity x leverage) and the
Donchian bot's position_cap (clamp(multiple x equity, min, max)); then rounded toward zero to the
step size. A size that rounds below the market's minimums is a veto with a reason, never an order.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from autobot_lib.model import MarketFilters
from autobot_lib.risk.params import RiskParams


class SizeReason(StrEnum):
    NO_VOLATILITY = "no_volatility"          # ATR missing or zero: no stop distance, no size
    NO_EQUITY = "no_equity"
    ROUNDS_TO_ZERO = "rounds_to_zero"
    BELOW_MIN_QTY = "below_min_qty"
    BELOW_MIN_NOTIONAL = "below_min_notional"


@dataclass(frozen=True)
class Size:
    qty: Decimal                              # rounded, what would be sent
    raw_qty: float                            # before caps and rounding
    notional: float
    risk_amount: float
    stop_distance: float
    capped_by: str | None = None              # max_position_value | leverage | position_cap
    reason: SizeReason | None = None          # set when no order may be sent

    @property
    def ok(self) -> bool:
        return self.reason is None


def round_down(value: float | Decimal, step: Decimal) -> Decimal:
    """``value`` rounded toward zero to a multiple of ``step`` (exact, in Decimal)."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (Decimal(str(value)) / step).to_integral_value(rounding=ROUND_DOWN)
    return (units * step).normalize() if units else Decimal(0)


def round_price(price: float, filters: MarketFilters) -> Decimal:
    return round_down(price, filters.tick_size)


def size_position(equity: float, price: float, atr: float, params: RiskParams, filters: MarketFilters) -> Size:
    stop_distance = atr * params.stop_atr_k if atr == atr else float("nan")
    if not equity > 0:
        return Size(Decimal(0), 0.0, 0.0, 0.0, stop_distance, reason=SizeReason.NO_EQUITY)
    if not stop_distance > 0 or not price > 0:
        return Size(Decimal(0), 0.0, 0.0, 0.0, stop_distance, reason=SizeReason.NO_VOLATILITY)
    risk_amount = equity * params.risk_per_trade
    raw = risk_amount / stop_distance
    caps = {"max_position_value": equity * params.max_position_value_ratio, "leverage": equity * params.leverage}
    if params.position_cap is not None:
        c = params.position_cap
        caps["position_cap"] = min(max(c.multiple * equity, c.min), c.max)
    cap_name, cap_value = min(caps.items(), key=lambda kv: kv[1])
    qty = raw
    capped_by = None
    if raw * price > cap_value:
        qty, capped_by = cap_value / price, cap_name
    rounded = round_down(qty, filters.step_size)
    notional = float(rounded) * price
    reason = None
    if rounded == 0:
        reason = SizeReason.ROUNDS_TO_ZERO
    elif rounded < filters.min_qty:
        reason = SizeReason.BELOW_MIN_QTY
    elif Decimal(str(notional)) < max(filters.min_notional, Decimal(str(params.min_position_value))):
        reason = SizeReason.BELOW_MIN_NOTIONAL
    return Size(rounded, raw, notional, risk_amount, stop_distance, capped_by, reason)
