"""The demo job: data -> indicators -> regimes -> an HTML page with the chart and the statistics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autobot_lib.data import default_market, label, validate_frame
from autobot_lib.indicators import FeatureSpec, compute_features
from autobot_lib.regime import RegimeParams, detect_regimes, regime_changes, regime_stats
from autobot_lib.report import market_figure, write_html_page


def market_overview(frame: pd.DataFrame, path: str | Path, *, spec: FeatureSpec = FeatureSpec(),
                    params: RegimeParams = RegimeParams(), chart_bars: int = 1500) -> Path:
    """Write the market overview page of one OHLCV frame: chart, regime statistics, changes, data quality."""
    symbol, timeframe = frame.attrs.get("symbol", "?"), frame.attrs.get("timeframe", "?")
    features = compute_features(frame, spec)
    regimes = detect_regimes(frame, params, features=features)
    stats = regime_stats(regimes, frame["close"])
    stats["mean_duration"] = stats["mean_duration"].astype(str)
    changes = regime_changes(regimes).tail(15).set_index("timestamp")
    quality = validate_frame(frame)
    title = label(frame, f"{symbol} {timeframe}: indicators and regimes")
    figure = market_figure(frame, features, regimes, title=title, last=chart_bars)
    first, last = frame.index[0], frame.index[-1]
    return write_html_page(
        path, title,
        [("Chart (last %d bars)" % min(chart_bars, len(frame)), figure),
         ("Regime statistics", stats),
         ("Latest regime changes", changes),
         ("Data quality", quality.summary())],
        subtitle=f"{len(frame)} bars from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC; "
                 f"source: {frame.attrs.get('source', '?')}",
        banner=("SYNTHETIC DATA: a generated market, not real prices. Fetch real data with "
                "'autobot data fetch' to replace it.") if frame.attrs.get("synthetic") else "",
    )


def run_demo(symbol: str = "BTCUSDT", timeframe: str = "1h", bars: int = 3000, *, out_dir: str | Path = "reports",
             cache_dir: str | Path = "data/cache", base_url: str | None = None, offline: bool = False,
             progress: bool = True) -> Path:
    frame = default_market(symbol, timeframe, bars, cache_dir=cache_dir, base_url=base_url, offline=offline,
                           progress=progress)
    suffix = "_SYNTHETIC" if frame.attrs.get("synthetic") else ""
    return market_overview(frame, Path(out_dir) / "demo" / f"market_{symbol}_{timeframe}{suffix}.html")
