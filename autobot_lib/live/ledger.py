"""A closed live position as a trade record with the backtester's columns, built from the exchange's books.

The engine knows what the model decided; what was paid comes from the exchange: its executions for the
symbol since the entry (``userTrades``: prices, quantities, commissions, realized PnL) and the funding it
settled (``income`` FUNDING_FEE). So a live trade log can be set beside the backtester's trade by trade
(``tests/test_parity.py`` does), and a difference is a difference in what happened, not in arithmetic.

Columns (:data:`TRADE_COLUMNS`, the backtester's): the first fill's price as ``entry_price`` (R and the
levels are measured from it), the largest quantity held as ``qty``, the volume-weighted exit price,
fees, funding paid (positive: paid), ``pnl`` = realized - fees - funding, ``r_multiple`` = pnl over the
initial risk (1R x the first quantity), the excursions in R, the bars held and the exit reason.

A trade whose exit the books do not show (the executions could not be read, or none came back) has no
exit price and no R (NaN): its pnl is only what the books show, so an R from it would be made up. It is
still a closed trade (``bot_trade_count_total`` counts it; ``bot_avg_r_atr_30`` leaves it out).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Iterable

import pandas as pd

from autobot_lib.exchange.ports import FundingFee, TradeFill
from autobot_lib.model import TRADE_COLUMNS, Position


@dataclass(frozen=True)
class LiveTrade:
    symbol: str
    side: str
    entry_time: pd.Timestamp
    entry_price: float
    initial_stop: float
    exit_time: pd.Timestamp
    exit_price: float
    qty: float
    notional: float
    fees: float
    funding: float
    pnl: float
    r_multiple: float
    mae_r: float
    mfe_r: float
    bars_held: int
    exit_reason: str
    entry_rules: str
    entry_regime: str | None

    def to_dict(self) -> dict:
        """JSON-ready: times as ISO strings, NaN as None."""
        return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else None if isinstance(v, float) and v != v else v)
                for k, v in asdict(self).items()}


def trade_frame(trades: Iterable[LiveTrade]) -> pd.DataFrame:
    """Live trades as the backtester's trade log."""
    return pd.DataFrame([asdict(t) for t in trades], columns=TRADE_COLUMNS)


def trade_record(position: Position, fills: list[TradeFill], funding: list[FundingFee], *, entry_ms: int,
                 reason: str, initial_stop: float, mae: float = 0.0, mfe: float = 0.0, rules: str = "",
                 regime: str | None = None) -> LiveTrade:
    """The trade ``position`` made, from the exchange's ``fills`` for its symbol since ``entry_ms`` (the
    entry fill's time) and its ``funding`` settlements after it. ``mae``/``mfe``: the worst and best
    excursion from the first entry in price (mae <= 0)."""
    opening = "BUY" if position.side.sign > 0 else "SELL"
    ordered = sorted((f for f in fills if f.time_ms >= entry_ms), key=lambda f: (f.time_ms, int(f.order_id or 0)))
    held = peak = exit_qty = Decimal(0)
    exit_value = fees = realized = Decimal(0)
    first_order = next((f.order_id for f in ordered if f.side == opening), None)
    first = [f for f in ordered if f.order_id == first_order and f.side == opening]
    exit_ms = entry_ms
    for f in ordered:
        fees += f.fee
        realized += f.realized_pnl
        if f.side == opening:
            held += f.qty
            peak = max(peak, held)
        else:
            held -= f.qty
            exit_qty += f.qty
            exit_value += f.qty * f.price
            exit_ms = f.time_ms
            if held <= 0 and first_order is not None:
                break                                   # flat again: what follows is another trade
    paid = sum((x.paid for x in funding if entry_ms < x.time_ms <= exit_ms), Decimal(0))
    first_qty = sum((f.qty for f in first), Decimal(0))
    entry_price = float(sum((f.qty * f.price for f in first), Decimal(0)) / first_qty) if first_qty else \
        position.first_entry_price
    if not first_qty:           # adopted: its entry happened before the books knew it
        peak = max(peak, Decimal(str(position.initial_qty)), exit_qty)
    pnl = float(realized - fees - paid)
    rpu = position.risk_per_unit
    risk = rpu * position.initial_qty if exit_qty else 0.0      # no exit in the books: no R
    return LiveTrade(
        position.symbol, position.side.value, pd.Timestamp(entry_ms, unit="ms", tz="UTC"), entry_price, initial_stop,
        pd.Timestamp(exit_ms, unit="ms", tz="UTC"), float(exit_value / exit_qty) if exit_qty else math.nan,
        float(peak), float(peak) * entry_price, float(fees), float(paid), pnl, pnl / risk if risk else math.nan,
        -mae / rpu if rpu else math.nan, mfe / rpu if rpu else math.nan, int(position.bars_held), reason, rules, regime)
