"""Plotly figures of market data: candles with indicators, regime shading and indicator panels."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from autobot_lib.regime import Regime, regime_changes

REGIME_COLOURS = {Regime.BULL_TREND.value: "rgba(38,166,91,0.13)", Regime.BEAR_TREND.value: "rgba(214,48,49,0.13)",
                  Regime.RANGE.value: "rgba(128,128,128,0.07)"}
_PANELS = ("price", "volume", "rsi", "macd", "adx")


def market_figure(frame: pd.DataFrame, features: pd.DataFrame | None = None, regimes: pd.Series | None = None,
                  *, title: str = "", last: int | None = 1500) -> go.Figure:
    """Candles with EMAs, Bollinger and Donchian bands, shaded by regime; volume, RSI, MACD, ADX below.

    ``last`` keeps the chart light (a browser draws a few thousand candles smoothly, not 60,000).
    """
    if last is not None:
        frame = frame.iloc[-last:]
        features = features.loc[frame.index] if features is not None else None
        regimes = regimes.loc[frame.index] if regimes is not None else None
    f = features if features is not None else pd.DataFrame(index=frame.index)
    fig = make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.02,
                        row_heights=[0.5, 0.1, 0.13, 0.13, 0.14], subplot_titles=("", "volume", "RSI", "MACD", "ADX"))
    x = frame.index
    fig.add_trace(go.Candlestick(x=x, open=frame["open"], high=frame["high"], low=frame["low"], close=frame["close"],
                                 name="price", increasing_line_color="#26a65b", decreasing_line_color="#d63031"),
                  row=1, col=1)
    # the EMAs by period (ema_<n>); their role names (ema_short ...) are the same lines again
    for col in sorted((c for c in f.columns if c.startswith("ema_") and c[4:].isdigit()), key=lambda c: int(c[4:])):
        fig.add_trace(go.Scatter(x=x, y=f[col], name=col.upper().replace("_", " "), line_width=1), row=1, col=1)
    for col, dash in (("bb_upper", "dash"), ("bb_lower", "dash")):
        if col in f:
            fig.add_trace(go.Scatter(x=x, y=f[col], name=col, line=dict(width=1, dash=dash, color="#7f8c8d")),
                          row=1, col=1)
    for col in (c for c in f.columns if c.startswith(("dc_upper_", "dc_lower_"))):
        fig.add_trace(go.Scatter(x=x, y=f[col], name=col, line=dict(width=1, dash="dot", color="#8e44ad"),
                                 visible="legendonly"), row=1, col=1)
    fig.add_trace(go.Bar(x=x, y=frame["volume"], name="volume", marker_color="#95a5a6"), row=2, col=1)
    if "volume_sma" in f:
        fig.add_trace(go.Scatter(x=x, y=f["volume_sma"], name="volume SMA", line_width=1), row=2, col=1)
    if "rsi" in f:
        fig.add_trace(go.Scatter(x=x, y=f["rsi"], name="RSI", line_width=1), row=3, col=1)
        for level in (30, 70):
            fig.add_hline(y=level, line=dict(width=1, dash="dot", color="#7f8c8d"), row=3, col=1)
    if "macd" in f:
        fig.add_trace(go.Bar(x=x, y=f["macd_hist"], name="MACD hist", marker_color="#b2bec3"), row=4, col=1)
        fig.add_trace(go.Scatter(x=x, y=f["macd"], name="MACD", line_width=1), row=4, col=1)
        fig.add_trace(go.Scatter(x=x, y=f["macd_signal"], name="signal", line_width=1), row=4, col=1)
    if "adx" in f:
        for col in ("adx", "plus_di", "minus_di"):
            fig.add_trace(go.Scatter(x=x, y=f[col], name=col.upper().replace("_", " "), line_width=1), row=5, col=1)
        fig.add_hline(y=25, line=dict(width=1, dash="dot", color="#7f8c8d"), row=5, col=1)
    if regimes is not None:
        fig.update_layout(shapes=list(fig.layout.shapes) + _regime_shapes(regimes, frame.index))
        for regime, colour in REGIME_COLOURS.items():  # legend entries for the shading
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=regime,
                                     marker=dict(size=12, symbol="square", color=colour.replace("0.13", "0.5"))),
                          row=1, col=1)
    fig.update_layout(title=dict(text=title, x=0.01, y=0.995, yanchor="top"), height=1000,
                      xaxis_rangeslider_visible=False, hovermode="x unified", template="plotly_white",
                      legend=dict(orientation="h", y=1.0, x=0, yanchor="bottom"), margin=dict(l=50, r=20, t=150, b=30))
    return fig


def _regime_shapes(regimes: pd.Series, index: pd.DatetimeIndex) -> list[dict]:
    """One translucent band per regime episode, over the price panel (a shape per episode, not per bar)."""
    changes = regime_changes(regimes)
    if changes.empty:
        return []
    starts = list(changes["timestamp"])
    ends = starts[1:] + [index[-1]]
    return [dict(type="rect", xref="x", yref="y domain", x0=s, x1=e, y0=0, y1=1, line_width=0, layer="below",
                 fillcolor=REGIME_COLOURS[r]) for s, e, r in zip(starts, ends, changes["regime"])]
