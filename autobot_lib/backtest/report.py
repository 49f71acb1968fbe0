"""Backtest reports: plotly figures, the HTML page, the CSV trade log and the Excel summary.

``generate_report(trades) -> DataFrame`` and ``save_report(df, path)`` keep the Donchian bot's
reporter API (a one-row frame of metrics; Excel written with ``index=False``). Every file is written
atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from autobot_lib._fs import atomic_path
from autobot_lib.backtest.engine import BacktestResult
from autobot_lib.backtest.metrics import breakdown, period_table, report
from autobot_lib.data.frame import label
from autobot_lib.journal import funnel
from autobot_lib.report.charts import market_figure
from autobot_lib.report.html import write_html_page


def generate_report(trades: pd.DataFrame, equity: pd.Series | None = None, initial_equity: float = 10_000.0) -> pd.DataFrame:
    """The headline metrics as a one-row DataFrame (the seed's reporter). Without an equity curve, one is
    built from the closed trades' PnL."""
    if equity is None:
        closed = trades.sort_values("exit_time")
        equity = pd.Series(initial_equity + closed["pnl"].cumsum().to_numpy(), index=pd.DatetimeIndex(closed["exit_time"]))
        equity = pd.concat([pd.Series([initial_equity], index=[equity.index[0] - pd.Timedelta(1, "ns")]), equity]) \
            if len(equity) else pd.Series([initial_equity], index=pd.DatetimeIndex([pd.Timestamp(0, tz="UTC")]))
    return pd.DataFrame([report(trades, equity, initial_equity)])


def save_report(df: pd.DataFrame, filepath: str | Path) -> Path:
    """Write a report frame to Excel with index=False, atomically."""
    filepath = Path(filepath)
    with atomic_path(filepath) as tmp:
        with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
            df.to_excel(writer, index=False)
    return filepath


def trades_figure(result: BacktestResult, symbol: str, bars: pd.DataFrame, last: int | None = 1500) -> go.Figure:
    """Candles with indicators and regime shading, entries, exits and each trade's initial stop."""
    j = result.journal[result.journal["symbol"] == symbol].set_index("timestamp")
    frame = bars.iloc[-last:] if last else bars
    regimes = j["regime"].reindex(frame.index)
    fig = market_figure(frame, None, regimes, title=label(bars, f"{symbol}: trades"), last=None)
    t = result.trades[(result.trades["symbol"] == symbol) & (result.trades["entry_time"] >= frame.index[0])]
    for side, colour, symbol_up in (("LONG", "#26a65b", "triangle-up"), ("SHORT", "#d63031", "triangle-down")):
        s = t[t["side"] == side]
        fig.add_trace(go.Scatter(x=s["entry_time"], y=s["entry_price"], mode="markers", name=f"{side.lower()} entry",
                                 marker=dict(symbol=symbol_up, size=11, color=colour, line=dict(width=1, color="#2d3436")),
                                 text=s["entry_rules"], hovertemplate="%{text}<br>%{y}"), row=1, col=1)
    fig.add_trace(go.Scatter(x=t["exit_time"], y=t["exit_price"], mode="markers", name="exit",
                             marker=dict(symbol="x", size=9, color="#2d3436"), text=t["exit_reason"],
                             hovertemplate="%{text}<br>%{y}"), row=1, col=1)
    # each trade's initial stop, as one line trace with gaps between trades (one trace, not one per trade)
    xs, ys = [], []
    for row in t.itertuples():
        xs += [row.entry_time, row.exit_time, None]
        ys += [row.initial_stop, row.initial_stop, None]
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="initial stop",
                             line=dict(color="#e17055", width=1, dash="dot"), hoverinfo="skip"), row=1, col=1)
    return fig


def equity_figure(result: BacktestResult) -> go.Figure:
    e = result.equity
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.04,
                        subplot_titles=("equity", "drawdown"))
    fig.add_trace(go.Scatter(x=e.index, y=e["equity"], name="equity", line_width=1.5), row=1, col=1)
    fig.add_trace(go.Scatter(x=e.index, y=-e["drawdown"] * 100, name="drawdown %", fill="tozeroy",
                             line=dict(width=1, color="#d63031")), row=2, col=1)
    fig.update_layout(height=520, template="plotly_white", hovermode="x unified", margin=dict(t=40, b=30))
    return fig


def monthly_heatmap(result: BacktestResult) -> go.Figure:
    monthly = period_table(result.equity["equity"])["monthly"].dropna()
    table = pd.DataFrame({"year": monthly.index.year, "month": monthly.index.month, "r": monthly.to_numpy() * 100})
    grid = table.pivot(index="year", columns="month", values="r").reindex(columns=range(1, 13))
    fig = go.Figure(go.Heatmap(z=grid.to_numpy(), x=[pd.Timestamp(2000, m, 1).strftime("%b") for m in grid.columns],
                               y=[str(y) for y in grid.index], colorscale="RdYlGn", zmid=0,
                               text=np.round(grid.to_numpy(), 1), texttemplate="%{text}", colorbar=dict(title="%")))
    fig.update_layout(title="monthly returns (%)", height=160 + 45 * len(grid), template="plotly_white",
                      yaxis=dict(autorange="reversed"))
    return fig


def funnel_figure(journal: pd.DataFrame) -> go.Figure:
    f = funnel(journal)
    stages = [("bars evaluated", f.bars), ("flat, ready", f.flat), ("rules fired", f.with_bias),
              ("proposed", sum(f.proposed.values())), ("past the gate", sum(f.proposed.values()) - sum(f.gate.values())),
              ("orders", f.orders)]
    fig = go.Figure(go.Funnel(y=[s for s, _ in stages], x=[v for _, v in stages], textinfo="value+percent initial"))
    fig.update_layout(title="signal funnel", height=380, template="plotly_white")
    return fig


def write_backtest_report(result: BacktestResult, bars: dict[str, pd.DataFrame], out_dir: str | Path,
                          name: str = "backtest") -> dict[str, Path]:
    """The HTML page, trades CSV, equity CSV, journal JSON lines and Excel summary; returns their paths."""
    out = Path(out_dir)
    metrics = generate_report(result.trades, result.equity["equity"], result.initial_equity)
    metrics["halted_bars"] = int(result.equity["halted"].sum())      # the daily loss limit's halts
    paths = {"html": out / f"{name}.html", "trades": out / f"{name}_trades.csv", "equity": out / f"{name}_equity.csv",
             "excel": out / f"{name}_summary.xlsx"}
    with atomic_path(paths["trades"]) as tmp:
        result.trades.to_csv(tmp, index=False)
    with atomic_path(paths["equity"]) as tmp:
        result.equity.to_csv(tmp, index_label="timestamp")
    save_report(metrics, paths["excel"])
    table = metrics.T.rename(columns={0: "value"})
    sections = [("Metrics", table), ("Equity and drawdown", equity_figure(result)),
                ("Monthly returns", monthly_heatmap(result)), ("Signal funnel", funnel_figure(result.journal)),
                ("Long / short", breakdown(result.trades, "side")),
                ("By regime at entry", breakdown(result.trades, "entry_regime")),
                ("By rule", breakdown(result.trades, "rule"))]
    for symbol, frame in bars.items():
        sections.append((f"{symbol} trades (last 1500 bars)", trades_figure(result, symbol, frame)))
    sections.append(("Trades (last 50)", result.trades.tail(50).set_index("entry_time")))
    synthetic = any(f.attrs.get("synthetic") for f in bars.values())
    symbols = ", ".join(bars)
    first = next(iter(bars.values()))
    write_html_page(paths["html"], label(first, f"Backtest: {symbols}, strategy {result.plan.name}"),
                    sections, subtitle=f"{first.index[0]:%Y-%m-%d} .. {first.index[-1]:%Y-%m-%d} UTC; initial equity "
                                        f"{result.initial_equity:,.0f}; costs {result.costs}",
                    banner="SYNTHETIC DATA: not a real market." if synthetic else "")
    return paths
