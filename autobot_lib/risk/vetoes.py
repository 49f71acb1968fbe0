"""The pre-trade veto chain: each check returns a reason code or None; the chain returns every reason.

Before sizing (does the account allow a new position at all?): trading state, open positions, system
drawdown from the equity peak, the daily loss against the UTC-midnight anchor, the funding window,
correlation with open positions. After sizing (does this order fit?): max position value, minimum
notional, margin at the configured leverage.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Mapping

import pandas as pd

from autobot_lib.model import Account, TradingState
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.sizing import Size


class Veto(StrEnum):
    HALTED = "halted"
    REDUCING = "reducing"
    ALREADY_IN_POSITION = "already_in_position"
    MAX_POSITIONS = "max_positions"
    MAX_DRAWDOWN = "max_drawdown"
    DAILY_LOSS_LIMIT = "daily_loss_limit"
    FUNDING_WINDOW = "funding_window"
    CORRELATION = "correlation"
    MAX_POSITION_VALUE = "max_position_value"
    MIN_NOTIONAL = "min_notional"
    INSUFFICIENT_MARGIN = "insufficient_margin"


def drawdown(account: Account) -> float:
    return 1.0 - account.equity / account.peak_equity if account.peak_equity > 0 else 0.0


def daily_loss(account: Account) -> float:
    return 1.0 - account.equity / account.daily_anchor if account.daily_anchor > 0 else 0.0


def minutes_to_funding(now: pd.Timestamp, interval_hours: int = 8) -> float:
    """Minutes until the next funding settlement (00:00, 08:00, 16:00 UTC for 8-hour funding)."""
    now = pd.Timestamp(now)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    step = pd.Timedelta(hours=interval_hours)
    midnight = now.normalize()
    elapsed = now - midnight
    next_time = midnight + step * (elapsed // step + 1)
    return (next_time - now) / pd.Timedelta(minutes=1)


def pre_trade_vetoes(symbol: str, account: Account, now: pd.Timestamp, params: RiskParams,
                     correlations: Mapping[str, float] | None = None) -> tuple[Veto, ...]:
    reasons: list[Veto] = []
    if account.state is TradingState.HALTED:
        reasons.append(Veto.HALTED)
    elif account.state is TradingState.REDUCING:
        reasons.append(Veto.REDUCING)
    if account.position(symbol) is not None:
        reasons.append(Veto.ALREADY_IN_POSITION)
    if len(account.positions) >= params.max_positions:
        reasons.append(Veto.MAX_POSITIONS)
    if drawdown(account) >= params.max_drawdown:
        reasons.append(Veto.MAX_DRAWDOWN)
    if daily_loss(account) >= params.daily_loss_limit:
        reasons.append(Veto.DAILY_LOSS_LIMIT)
    if params.funding_avoid_min > 0 and minutes_to_funding(now, params.funding_interval_hours) <= params.funding_avoid_min:
        reasons.append(Veto.FUNDING_WINDOW)
    held = {p.symbol for p in account.positions}
    if any(abs(c) >= params.correlation_threshold for s, c in (correlations or {}).items() if s in held and s != symbol):
        reasons.append(Veto.CORRELATION)
    return tuple(reasons)


def order_vetoes(size: Size, price: float, account: Account, params: RiskParams) -> tuple[Veto, ...]:
    reasons: list[Veto] = []
    if size.notional > account.equity * params.max_position_value_ratio * (1 + 1e-9):
        reasons.append(Veto.MAX_POSITION_VALUE)
    if size.notional < params.min_position_value:
        reasons.append(Veto.MIN_NOTIONAL)
    margin = size.notional / params.leverage + size.notional * params.taker_fee
    if margin > account.available:
        reasons.append(Veto.INSUFFICIENT_MARGIN)
    return tuple(reasons)


def return_correlations(closes: pd.DataFrame, symbol: str, window: int = 168) -> dict[str, float]:
    """Correlation of ``symbol``'s bar returns with every other column's, over the last ``window`` bars
    (the input of the CORRELATION veto). Columns are symbols, rows aligned bars."""
    if symbol not in closes.columns:
        raise KeyError(f"{symbol} is not among the closes given ({list(closes.columns)})")
    returns = closes.iloc[-(window + 1):].pct_change().iloc[1:]
    corr = returns.corr()[symbol].drop(symbol)
    return {s: float(c) for s, c in corr.items() if c == c}
