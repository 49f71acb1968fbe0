"""Every reason the decision kernel can give, defined once, in the order it checks them.

The compiled kernel (:mod:`autobot_lib.risk.kernel`) works with plain integers: a gate or veto reason is
a bit of a mask (bit ``i`` is the ``i``-th member below), a size reason, a cap, an outcome or an exit
reason is an index. Those numbers and the kernel's name tuples (``GATE_ORDER``, ``VETO_ORDER``...) are
derived from these enums at import, so the order written here is the order the checks run and the order
reasons are reported in; :func:`decode` turns a mask back into members.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from autobot_lib.model import ExitReason

__all__ = ["GateReason", "Veto", "SizeReason", "Cap", "Outcome", "ExitReason", "code", "bit", "names", "decode"]


class GateReason(StrEnum):
    """The long/short switches, then the ADX entry gate (its checks run only with the gate on)."""

    LONG_DISABLED = "long_disabled"
    SHORT_DISABLED = "short_disabled"
    NO_REGIME = "no_regime"                # indicators still warming up
    RANGE_REGIME = "range_regime"          # no entries in RANGE
    AGAINST_REGIME = "against_regime"      # a long in a bear trend, a short in a bull trend
    ADX_TOO_LOW = "adx_too_low"            # choppy market
    ADX_FALLING = "adx_falling"            # momentum weakening from a high level
    TREND_UNSTABLE = "trend_unstable"      # the regime changed too recently


class Veto(StrEnum):
    """Before sizing (does the account allow a new position?), then after it (does this order fit?)."""

    HALTED = "halted"
    REDUCING = "reducing"
    ALREADY_IN_POSITION = "already_in_position"
    MAX_POSITIONS = "max_positions"
    MAX_DRAWDOWN = "max_drawdown"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    FUNDING_WINDOW = "funding_window"
    CORRELATION = "correlation"
    VOLATILITY = "volatility"
    # after sizing
    MAX_POSITION_VALUE = "max_position_value"
    MIN_NOTIONAL = "min_notional"
    INSUFFICIENT_MARGIN = "insufficient_margin"


class SizeReason(StrEnum):
    """Why a size is no order (one at most, the first that applies)."""

    NO_VOLATILITY = "no_volatility"          # ATR missing or zero: no stop distance, no size
    NO_EQUITY = "no_equity"
    ROUNDS_TO_ZERO = "rounds_to_zero"
    BELOW_MIN_QTY = "below_min_qty"
    BELOW_MIN_NOTIONAL = "below_min_notional"


class Cap(StrEnum):
    """What capped a size (the smallest cap wins; on a tie the earlier one)."""

    MAX_POSITION_VALUE = "max_position_value"
    LEVERAGE = "leverage"
    POSITION_CAP = "position_cap"


class Outcome(StrEnum):
    """How the decision for one bar ended."""

    WARMUP = "warmup"
    IN_POSITION = "in_position"
    NEUTRAL = "neutral"
    BELOW_THRESHOLD = "below_threshold"
    GATE = "gate"
    VETO = "veto"
    SIZE = "size"
    ORDER = "order"


R = TypeVar("R", bound=StrEnum)


def code(reason: StrEnum) -> int:
    """The reason's index in its enum: the number the kernel uses for it."""
    return list(type(reason)).index(reason)


def bit(reason: StrEnum) -> int:
    """The reason's bit in a kernel mask."""
    return 1 << code(reason)


def names(kind: type[StrEnum]) -> tuple[str, ...]:
    """The enum's values in order, as plain strings: ``names(kind)[code]`` is the name of a code."""
    return tuple(r.value for r in kind)


def decode(mask: int, kind: type[R]) -> tuple[R, ...]:
    """The reasons a kernel bit mask holds, in the order they were checked."""
    return tuple(r for i, r in enumerate(kind) if int(mask) >> i & 1)
