"""Notional and leverage brackets of USD-M contracts: maintenance margin and the leverage allowed.

Floors and maintenance-margin ratios are Binance's, as captured in ccxt's test fixtures
(``ts/src/test/static/response/binance.json``, options.leverageBrackets); the initial leverage of each
tier follows Binance's published tables. Other symbols get the tiers ccxt captured for LTC/ADA.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

# (notional floor, maintenance margin ratio, initial leverage) per tier
_TIERS = {
    "BTCUSDT": [(0, "0.004", 125), (50_000, "0.005", 100), (250_000, "0.01", 50), (3_000_000, "0.025", 20),
                (20_000_000, "0.05", 10), (40_000_000, "0.1", 5), (100_000_000, "0.125", 4),
                (120_000_000, "0.15", 3), (200_000_000, "0.25", 2), (300_000_000, "0.5", 1)],
    "ETHUSDT": [(0, "0.005", 125), (100_000, "0.0065", 100), (250_000, "0.01", 75), (2_000_000, "0.02", 50),
                (15_000_000, "0.05", 20), (30_000_000, "0.1", 10), (60_000_000, "0.125", 5),
                (80_000_000, "0.15", 4), (100_000_000, "0.25", 2), (150_000_000, "0.5", 1)],
}
_OTHER = [(0, "0.0065", 75), (10_000, "0.01", 50), (50_000, "0.02", 25), (250_000, "0.05", 10),
          (1_000_000, "0.1", 5), (2_000_000, "0.125", 4), (5_000_000, "0.15", 2), (10_000_000, "0.25", 1)]
_LAST_CAP = 9_000_000_000


@dataclass(frozen=True)
class Bracket:
    floor: Decimal
    cap: Decimal
    maint_ratio: Decimal
    max_leverage: int
    cum: Decimal  # maintenance amount: makes maintenance margin continuous across tiers


def brackets(symbol: str) -> list[Bracket]:
    tiers = _TIERS.get(symbol, _OTHER)
    out: list[Bracket] = []
    cum = Decimal(0)
    for i, (floor, ratio, leverage) in enumerate(tiers):
        cap = tiers[i + 1][0] if i + 1 < len(tiers) else _LAST_CAP
        if out:
            cum += Decimal(floor) * (Decimal(ratio) - out[-1].maint_ratio)
        out.append(Bracket(Decimal(floor), Decimal(cap), Decimal(ratio), leverage, cum))
    return out


def bracket_for(symbol: str, notional: Decimal) -> Bracket:
    tiers = brackets(symbol)
    return next((b for b in tiers if abs(notional) < b.cap), tiers[-1])


def max_leverage(symbol: str) -> int:
    return brackets(symbol)[0].max_leverage


def leverage_bracket_json(symbol: str) -> dict:
    """One entry of ``GET /fapi/v1/leverageBracket`` as Binance answers it."""
    return {"symbol": symbol, "notionalCoef": 1.0, "brackets": [
        {"bracket": i + 1, "initialLeverage": b.max_leverage, "notionalCap": int(b.cap),
         "notionalFloor": int(b.floor), "maintMarginRatio": float(b.maint_ratio), "cum": float(b.cum)}
        for i, b in enumerate(brackets(symbol))]}
