"""The canonical OHLCV frame and timeframe arithmetic.

Canonical frame: a UTC ``DatetimeIndex`` named ``timestamp`` holding bar *open* times, sorted and
unique, with float64 columns ``open, high, low, close, volume``. ``frame.attrs`` carries small
metadata: ``symbol``, ``timeframe``, ``source`` and ``synthetic`` (True only for generated data, which
every title and report must then label SYNTHETIC).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
FUNDING_COLUMN = "funding_rate"

_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "BTC", "ETH", "BNB")


def split_symbol(symbol: str) -> tuple[str, str]:
    """``'BTCUSDT'`` -> ``('BTC', 'USDT')``."""
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    raise ValueError(f"cannot tell base and quote apart in {symbol!r}: use a Binance id such as BTCUSDT")


_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIMEFRAME = re.compile(r"^(\d+)([mhdw])$")


def timeframe_seconds(timeframe: str) -> int:
    """``'5m'`` -> 300. Raises ValueError with the accepted form for anything else."""
    m = _TIMEFRAME.match(str(timeframe).strip())
    if not m or int(m.group(1)) == 0:
        raise ValueError(
            f"timeframe {timeframe!r} is not valid: use a count and a unit m, h, d or w, e.g. 5m, 1h, 4h, 1d"
        )
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    return pd.Timedelta(seconds=timeframe_seconds(timeframe))


def seconds_to_timeframe(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    raise ValueError(f"{seconds} s is not a whole number of minutes")


def infer_timeframe(index: pd.DatetimeIndex) -> str:
    """The most common spacing between consecutive bars (gaps do not fool it)."""
    if len(index) < 2:
        raise ValueError("cannot infer a timeframe from fewer than 2 bars: pass timeframe= explicitly")
    diffs = np.diff(index.as_unit("ns").asi8) // 10**9
    diffs = diffs[diffs > 0]
    if len(diffs) == 0:
        raise ValueError("cannot infer a timeframe: all timestamps are equal")
    values, counts = np.unique(diffs, return_counts=True)
    return seconds_to_timeframe(int(values[np.argmax(counts)]))


def label(frame: pd.DataFrame | pd.Series, title: str) -> str:
    """A title that says SYNTHETIC when the data is generated, so nobody mistakes it for a market."""
    return f"{title} [SYNTHETIC DATA]" if frame.attrs.get("synthetic") else title


def to_utc(when) -> pd.Timestamp:
    """A date, string or timestamp as a UTC timestamp (naive values are taken as UTC)."""
    ts = pd.Timestamp(when)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
