"""Position sizing: Turtle N-unit / ATR risk sizing, capped, then rounded to the market with Decimal.

    risk amount   = equity x risk_per_trade
    stop distance = ATR x stop_atr_k                     (1R in price units)
    quantity      = risk amount / stop distance
capped by: max position value (equity x max_position_value_ratio), leverage (equity x leverage) and the
Donchian bot's position_cap (clamp(multiple x equity, min, max)); then rounded toward zero to the
step size. A size that rounds below the market's minimums is a veto with a reason, never an order.

The arithmetic runs compiled, counting whole steps (:func:`autobot_lib.risk.kernel.size_units`); the
quantity sent is that count times the step, in Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from autobot_lib.model import MarketFilters
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.reasons import SizeReason


@dataclass(frozen=True)
class Size:
    qty: Decimal                              # rounded, what would be sent
    raw_qty: float                            # before caps and rounding
    notional: float
    risk_amount: float
    stop_distance: float
    capped_by: str | None = None              # a Cap's value: max_position_value | leverage | position_cap
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
    """A price already on the tick grid (the kernel's stops and targets) as the Decimal sent."""
    return round_down(price, filters.tick_size)


def size_position(equity: float, price: float, atr: float, params: RiskParams, filters: MarketFilters) -> Size:
    size = kernel.size_units(equity, price, atr, kernel.kernel_params(params), kernel.market(filters))
    return size_from(size, filters)


def size_from(size: tuple, filters: MarketFilters) -> Size:
    """The kernel's size (:func:`autobot_lib.risk.kernel.size_units`) as a :class:`Size`."""
    units, raw, notional, risk_amount, stop_distance, capped, reason = size
    qty = (Decimal(int(units)) * filters.step_size).normalize() if units else Decimal(0)
    return Size(qty, float(raw), float(notional), float(risk_amount), float(stop_distance),
                None if capped < 0 else kernel.CAPS[capped], None if reason < 0 else list(SizeReason)[reason])
