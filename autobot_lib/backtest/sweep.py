"""The fast path for signal-level research: parameter grids through vectorbt, in one call.

For the Donchian/ATR breakout, every (entry channel, exit channel) pair on every symbol becomes one
column of signal matrices: long when the close breaks the entry channel of the previous bars, out when
it breaks the exit channel the other way, mirrored for shorts; decided on the close and filled at the
next open, as the event-driven engine does. One ``vbt.Portfolio.from_signals`` call simulates them all
and the result is a tidy frame, one row per symbol and parameter pair.

The event-driven engine is the reference (it runs the whole decision path: gate, vetoes, sizing,
stops); this path is for exploring signal parameters fast. A test checks that, for the plain breakout
both can express, the two give the same trades.
"""

from __future__ import annotations

from itertools import product
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import vectorbt as vbt
from plotly.subplots import make_subplots

from autobot_lib.backtest.cluster import run_tasks
from autobot_lib.backtest.costs import CostModel


def _channels(values: np.ndarray, lengths: Iterable[int], how: str) -> dict[int, np.ndarray]:
    series = pd.Series(values)
    out = {}
    for n in sorted(set(lengths)):
        rolled = series.rolling(n).max() if how == "max" else series.rolling(n).min()
        out[n] = rolled.shift(1).to_numpy()
    return out


def _naive(index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The same instants without a time zone: vectorbt turns a tz-aware index into Python objects on every
    shape check (half the run time of a sweep)."""
    return index.tz_convert("UTC").tz_localize(None) if index.tz is not None else index


def donchian_signals(bars: pd.DataFrame, entries: Iterable[int], exits: Iterable[int]) -> dict[str, pd.DataFrame]:
    """Entry/exit signal matrices (columns: (entry, exit)), already shifted to the bar whose open fills them."""
    grid = [(e, x) for e, x in product(sorted(set(entries)), sorted(set(exits)))]
    high, low, close = (bars[k].to_numpy(dtype=np.float64) for k in ("high", "low", "close"))
    up, down = _channels(high, (e for e, _ in grid), "max"), _channels(low, (e for e, _ in grid), "min")
    xup, xdown = _channels(high, (x for _, x in grid), "max"), _channels(low, (x for _, x in grid), "min")
    columns = pd.MultiIndex.from_tuples(grid, names=["entry", "exit"])
    index = _naive(bars.index)

    def matrix(make) -> pd.DataFrame:
        with np.errstate(invalid="ignore"):
            raw = np.column_stack([make(e, x) for e, x in grid])
        shifted = np.zeros_like(raw)
        shifted[1:] = raw[:-1]                     # decided on bar i's close, acted on at bar i+1's open
        return pd.DataFrame(shifted, index=index, columns=columns)

    return {"entries": matrix(lambda e, x: close > up[e]), "exits": matrix(lambda e, x: close < xdown[x]),
            "short_entries": matrix(lambda e, x: close < down[e]), "short_exits": matrix(lambda e, x: close > xup[x])}


def sweep_donchian(bars: Mapping[str, pd.DataFrame], entries: Iterable[int] = (10, 20, 30, 40, 55),
                   exits: Iterable[int] = (5, 10, 15, 20), *, costs: CostModel = CostModel(),
                   init_cash: float = 10_000.0) -> pd.DataFrame:
    """One row per symbol x (entry, exit): trades, win rate, profit factor, total return, max drawdown (a
    positive fraction), Sharpe (annualised). Each entry buys or sells the starting cash's worth."""
    entries, exits = list(entries), list(exits)
    if not entries or not exits or min(entries + exits) < 2:
        raise ValueError("give channel lengths of at least 2 bars, e.g. entries=(20, 55), exits=(10, 20)")
    rows = []
    for symbol, frame in bars.items():
        signals = donchian_signals(frame, entries, exits)
        index = signals["entries"].index
        close = pd.Series(frame["close"].to_numpy(), index=index)
        opens = pd.Series(frame["open"].to_numpy(), index=index)
        portfolio = vbt.Portfolio.from_signals(
            close, signals["entries"], signals["exits"], short_entries=signals["short_entries"],
            short_exits=signals["short_exits"], price=opens, size=init_cash, size_type="value",
            upon_opposite_entry="ignore", fees=costs.taker_fee, slippage=costs.slippage_bps / 10_000,
            init_cash=init_cash, freq=frame.attrs.get("timeframe", "1h").replace("m", "min"))
        trades = portfolio.trades
        stats = pd.DataFrame({
            "trades": trades.count(), "win_rate": trades.win_rate(), "profit_factor": trades.profit_factor(),
            "total_return": portfolio.total_return(), "max_drawdown": -portfolio.max_drawdown(),
            "sharpe": portfolio.sharpe_ratio(),
        })
        stats.insert(0, "symbol", symbol)
        rows.append(stats.reset_index())
    return pd.concat(rows, ignore_index=True)


def sweep_on_dask(bars: Mapping[str, pd.DataFrame], entries: Iterable[int], exits: Iterable[int], *,
                  costs: CostModel = CostModel(), scheduler: str | None = None, progress: bool = True) -> pd.DataFrame:
    """:func:`sweep_donchian` with one task per symbol on Dask (see :mod:`autobot_lib.backtest.cluster`)."""
    entries, exits = list(entries), list(exits)
    parts = run_tasks(_sweep_one, [(symbol, entries, exits, costs) for symbol in bars], shared=dict(bars),
                      scheduler=scheduler, progress=progress, desc="sweep")
    return pd.concat(parts, ignore_index=True)


def _sweep_one(bars: Mapping[str, pd.DataFrame], symbol: str, entries: list[int], exits: list[int],
               costs: CostModel) -> pd.DataFrame:
    return sweep_donchian({symbol: bars[symbol]}, entries, exits, costs=costs)


def heatmap(grid: pd.DataFrame, metric: str = "sharpe") -> go.Figure:
    """One heatmap per symbol of ``metric`` over (entry, exit)."""

    symbols = list(dict.fromkeys(grid["symbol"]))
    fig = make_subplots(rows=1, cols=len(symbols), subplot_titles=symbols)
    for k, symbol in enumerate(symbols, start=1):
        table = grid[grid["symbol"] == symbol].pivot(index="exit", columns="entry", values=metric)
        fig.add_trace(go.Heatmap(z=table.to_numpy(), x=[str(c) for c in table.columns], y=[str(r) for r in table.index],
                                 coloraxis="coloraxis", text=table.round(2).to_numpy(), texttemplate="%{text}"),
                      row=1, col=k)
        fig.update_xaxes(title_text="entry channel", row=1, col=k)
        fig.update_yaxes(title_text="exit channel", row=1, col=k)
    fig.update_layout(title=f"{metric} by Donchian (entry, exit)", coloraxis=dict(colorscale="RdYlGn", cmid=0),
                      template="plotly_white", height=480)
    return fig


def donchian_trades(bars: pd.DataFrame, entry: int = 20, exit: int = 10) -> pd.DataFrame:
    """The trades of one (entry, exit) pair through the sweep path: entry/exit time and price, side."""
    signals = donchian_signals(bars, [entry], [exit])
    column = (entry, exit)
    index = signals["entries"].index
    portfolio = vbt.Portfolio.from_signals(
        pd.Series(bars["close"].to_numpy(), index=index), signals["entries"][column], signals["exits"][column],
        short_entries=signals["short_entries"][column], short_exits=signals["short_exits"][column],
        price=pd.Series(bars["open"].to_numpy(), index=index), size=1.0, upon_opposite_entry="ignore",
        init_cash=1e12, freq="1h")
    records = portfolio.trades.records_readable
    return pd.DataFrame({"entry_time": records["Entry Timestamp"].dt.tz_localize("UTC"),
                         "exit_time": records["Exit Timestamp"].dt.tz_localize("UTC"),
                         "entry_price": records["Avg Entry Price"], "exit_price": records["Avg Exit Price"],
                         "long": records["Direction"] == "Long", "open": records["Status"] == "Open"})
