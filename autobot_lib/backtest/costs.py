"""The costs of trading USD-M perpetuals: fees, slippage, funding, liquidation (isolated margin).

Fees and slippage come from the settings (:func:`cost_model`: TAKER_FEE, MAKER_FEE, SLIPPAGE_BPS,
SLIPPAGE_ATR, TP_AS_MAKER), the same fees the live margin check, the paper broker and the local venue
use; their defaults are Binance USD-M's regular tier: maker 0.02 %, taker 0.05 %. The liquidation
clearance fee is 1.25 % (exchangeInfo ``liquidationFee``), maintenance margin 0.4 % (BTCUSDT's first
bracket).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import TYPE_CHECKING

from autobot_lib._jit import njit
from autobot_lib.model import BINANCE_MAKER_FEE, BINANCE_TAKER_FEE, Side

if TYPE_CHECKING:
    from autobot_lib.config import Settings


# --- the formulas, compiled: the backtester's loop calls them as they are -----------------------------

@njit(cache=True)
def slipped_price(sign, price, atr, opening, slippage_bps, slippage_atr):
    """A market fill: worse by the slippage, in the direction of the trade (buying pays up, selling
    receives less)."""
    slip = price * slippage_bps / 10_000 + (slippage_atr * atr if atr == atr else 0.0)
    return price + (sign if opening else -sign) * slip


@njit(cache=True)
def liquidation_level(sign, entry, leverage, maintenance_margin_rate):
    if sign > 0:
        return entry * (1 - 1 / leverage) / (1 - maintenance_margin_rate)
    return entry * (1 + 1 / leverage) / (1 + maintenance_margin_rate)


@njit(cache=True)
def funding_paid(sign, qty, mark_price, rate):
    return sign * qty * mark_price * rate


@dataclass(frozen=True)
class CostModel:
    taker_fee: float = BINANCE_TAKER_FEE
    maker_fee: float = BINANCE_MAKER_FEE
    slippage_bps: float = 1.0               # every market / stop-market fill, against the trader
    slippage_atr: float = 0.0               # plus this fraction of ATR (volatility-scaled slippage)
    tp_as_maker: bool = False               # take profits as resting limit orders: maker fee, no slippage
    liquidation_fee: float = 0.0125
    maintenance_margin_rate: float = 0.004

    def __post_init__(self) -> None:
        for name in ("taker_fee", "slippage_bps", "slippage_atr", "liquidation_fee", "maintenance_margin_rate"):
            value = getattr(self, name)
            if not 0 <= value < (1000 if name == "slippage_bps" else 1):
                raise ValueError(f"{name} must be >= 0 (and a fraction below 1), got {value!r}")

    def slipped(self, side: Side, price: float, atr: float, opening: bool) -> float:
        """The fill price of a market order: worse by the slippage, in the direction of the trade."""
        return float(slipped_price(side.sign, price, atr, opening, self.slippage_bps, self.slippage_atr))


def liquidation_price(side: Side, entry: float, leverage: int, maintenance_margin_rate: float) -> float:
    """Binance's isolated-margin liquidation price for one position (first bracket, no maintenance amount):
    long  entry x (1 - 1/leverage) / (1 - mmr);  short  entry x (1 + 1/leverage) / (1 + mmr)."""
    return float(liquidation_level(side.sign, entry, leverage, maintenance_margin_rate))


def funding_payment(side: Side, qty: float, mark_price: float, rate: float) -> float:
    """What the position pays (positive) or receives (negative) at one settlement: longs pay a positive rate."""
    return float(funding_paid(side.sign, qty, mark_price, rate))


def cost_model(settings: Settings) -> CostModel:
    """The costs a backtest of ``settings`` charges."""
    return CostModel(taker_fee=settings.TAKER_FEE, maker_fee=settings.MAKER_FEE, slippage_bps=settings.SLIPPAGE_BPS,
                     slippage_atr=settings.SLIPPAGE_ATR, tp_as_maker=settings.TP_AS_MAKER)
