"""The embedded default market for demos: cached data if present, else a download, else SYNTHETIC.

The synthetic fallback is seeded (the same bars every time) and labelled: ``attrs["synthetic"]`` is
True and :func:`autobot_lib.data.frame.label` puts SYNTHETIC DATA in every title built from it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from autobot_lib.data.download import DataDownloadError, Market, cache_path, ccxt_symbol, fetch_ohlcv
from autobot_lib.data.io import load_ohlcv
from autobot_lib.data.synthetic import synthetic_ohlcv

log = logging.getLogger(__name__)


def default_market(
    symbol: str = "BTCUSDT",
    timeframe: str = "1h",
    bars: int = 3000,
    *,
    market: Market = "usdm",
    cache_dir: str | Path = "data/cache",
    base_url: str | None = None,
    offline: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """The last ``bars`` bars of ``symbol``: from the cache, else downloaded, else a synthetic market."""
    path = cache_path(cache_dir, market, ccxt_symbol(symbol, market), timeframe)
    cached = load_ohlcv(path, timeframe, gaps="ignore") if path.exists() else None
    if cached is not None and len(cached) >= bars:
        log.info("using cached %s %s bars from %s", symbol, timeframe, path)
        return _tail(cached, bars)
    if not offline:
        try:
            return fetch_ohlcv(symbol, timeframe, last_bars=bars, market=market, cache_dir=cache_dir,
                               base_url=base_url, progress=progress)
        except DataDownloadError as exc:
            log.warning("download failed (%s)", exc)
    if cached is not None and len(cached):  # fewer bars than asked, but real ones beat synthetic ones
        log.warning("using the %d cached %s %s bars (asked for %d)", len(cached), symbol, timeframe, bars)
        return _tail(cached, bars)
    log.warning("no cached or downloadable data: using the SYNTHETIC demo market")
    return synthetic_ohlcv(bars, timeframe, symbol=symbol)


def _tail(frame: pd.DataFrame, bars: int) -> pd.DataFrame:
    out = frame.iloc[-bars:]
    out.attrs.update(frame.attrs)
    return out


def market_data(symbols: list[str] | tuple[str, ...], timeframe: str = "1h", *, data_dir: str | Path | None = None,
                start: str | None = None, end: str | None = None, bars: int = 3000, market: Market = "usdm",
                cache_dir: str | Path = "data/cache", offline: bool = False) -> dict[str, pd.DataFrame]:
    """{symbol: bars} for notebooks and reports. From ``data_dir`` (or ``$AUTOBOT_DATA_DIR``) when it holds
    ``binance_<market>_<SYMBOL>_<timeframe>.csv.gz`` (or .parquet) files, else the embedded default market;
    then cut to [start, end]."""
    import os
    import warnings

    from autobot_lib.data.frame import to_utc

    folder = data_dir or os.environ.get("AUTOBOT_DATA_DIR")
    out = {}
    for symbol in symbols:
        symbol = symbol.upper()
        frame = None
        if folder:
            for suffix in (".csv.gz", ".parquet", ".csv"):
                path = Path(folder) / f"binance_{market}_{symbol}_{timeframe}{suffix}"
                if path.exists():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        frame = load_ohlcv(path, timeframe)
                    break
            else:
                raise FileNotFoundError(f"no {symbol} {timeframe} file in {folder} (expected "
                                        f"binance_{market}_{symbol}_{timeframe}.csv.gz)")
        else:
            frame = default_market(symbol, timeframe, bars, market=market, cache_dir=cache_dir, offline=offline,
                                   progress=False)
        window = frame.loc[to_utc(start) if start else None:to_utc(end) if end else None]
        window.attrs.update(frame.attrs)
        if not len(window):
            raise ValueError(f"no {symbol} bars between {start} and {end}")
        out[symbol] = window
    return out


def funding_data(symbols: list[str] | tuple[str, ...], funding_dir: str | Path | None) -> dict[str, pd.DataFrame]:
    """{symbol: funding rates} from ``binance_usdm_<SYMBOL>_funding.csv.gz`` files in ``funding_dir`` (none
    without a folder: the backtest then charges no funding)."""
    from autobot_lib.data.io import load_funding

    if not funding_dir:
        return {}
    out = {}
    for symbol in symbols:
        path = Path(funding_dir) / f"binance_usdm_{symbol.upper()}_funding.csv.gz"
        if path.exists():
            out[symbol.upper()] = load_funding(path)
    return out
