"""The pre-trade veto chain: each check returns a reason code or None; the chain returns every reason.

Before sizing (does the account allow a new position at all?): trading state, open positions, system
drawdown from the equity peak, the daily loss against the UTC-midnight anchor, the funding window,
correlation with open positions (their bar returns over CORRELATION_WINDOW bars), the volatility
threshold (ATR over the close). After sizing (does this order fit?): max position value, minimum
notional, margin at the configured leverage. The checks run compiled
(:mod:`autobot_lib.risk.kernel`); reasons (:class:`~autobot_lib.risk.reasons.Veto`) come back in the order
above.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from autobot_lib.data.frame import to_utc
from autobot_lib.model import Account
from autobot_lib.risk import kernel
from autobot_lib.risk.params import RiskParams
from autobot_lib.risk.reasons import Veto, decode
from autobot_lib.risk.sizing import Size


def drawdown(account: Account) -> float:
    return 1.0 - account.equity / account.peak_equity if account.peak_equity > 0 else 0.0


def daily_loss(account: Account) -> float:
    return 1.0 - account.equity / account.daily_anchor if account.daily_anchor > 0 else 0.0


def minutes_to_funding(now: pd.Timestamp, interval_hours: int = 8) -> float:
    """Minutes until the next funding settlement (00:00, 08:00, 16:00 UTC for 8-hour funding)."""
    return float(kernel.minutes_to_funding(to_utc(now).value, interval_hours * 3600 * 10**9))


def correlated(symbol: str, account: Account, correlations: Mapping[str, float] | None,
               threshold: float) -> bool:
    """Is ``symbol`` correlated with a position already held (the CORRELATION veto's input)?"""
    held = {p.symbol for p in account.positions}
    return any(abs(c) >= threshold for s, c in (correlations or {}).items() if s in held and s != symbol)


def correlations_with(symbol: str, closes: Mapping[str, np.ndarray], held: Iterable[str]) -> dict[str, float]:
    """The correlation of ``symbol``'s bar returns with each held symbol's (:func:`kernel.return_correlation`);
    ``closes``: per symbol, the closes of the same bars (the correlation window's, NaN where a symbol has
    no bar). The CORRELATION veto's input, live and in :func:`return_correlations`."""
    own = closes[symbol]
    return {s: float(kernel.return_correlation(own, closes[s])) for s in held if s != symbol and s in closes}


def pre_trade_vetoes(symbol: str, account: Account, now: pd.Timestamp, params: RiskParams,
                     correlations: Mapping[str, float] | None = None, atr: float = math.nan,
                     price: float = math.nan) -> tuple[Veto, ...]:
    """``atr`` and ``price`` for the volatility threshold (unknown: not vetoed)."""
    state = kernel.TRADING_STATES[account.state]
    mask = kernel.pre_trade_mask(state, account.position(symbol) is not None, len(account.positions),
                                 account.equity, account.peak_equity, account.daily_anchor, to_utc(now).value,
                                 correlated(symbol, account, correlations, params.correlation_threshold), atr, price,
                                 kernel.kernel_params(params))
    return decode(mask, Veto)


def order_vetoes(size: Size, price: float, account: Account, params: RiskParams) -> tuple[Veto, ...]:
    mask = kernel.order_mask(size.notional, account.equity, account.available, kernel.kernel_params(params))
    return decode(mask, Veto)


def return_correlations(closes: pd.DataFrame, symbol: str, window: int = 168) -> dict[str, float]:
    """Correlation of ``symbol``'s bar returns with every other column's, over the last ``window`` bars
    (what the CORRELATION veto reads at the last bar). Columns are symbols, rows aligned bars."""
    if symbol not in closes.columns:
        raise KeyError(f"{symbol} is not among the closes given ({list(closes.columns)})")
    last = closes.iloc[-(window + 1):]
    found = correlations_with(symbol, {s: last[s].to_numpy(dtype=np.float64) for s in last.columns}, last.columns)
    return {s: c for s, c in found.items() if c == c}
