"""The data layer: canonical OHLCV and funding frames, checked, cached, downloaded, resampled.

>>> from autobot_lib.data import load_ohlcv, resample_ohlcv
>>> bars = load_ohlcv("binance_usdm_BTCUSDT_5m.csv.gz")          # doctest: +SKIP
>>> hourly = resample_ohlcv(bars, "1h")                          # doctest: +SKIP
"""

from autobot_lib.data.frame import (
    FUNDING_COLUMN, OHLCV_COLUMNS, infer_timeframe, label, split_symbol, timeframe_delta, timeframe_seconds,
)
from autobot_lib.data.io import describe_path, inspect_ohlcv, load_funding, load_ohlcv, save_frame, validate_frame
from autobot_lib.data.quality import (
    DataQualityWarning, DataValidationError, Finding, Gap, Problem, QualityReport, find_gaps,
)
from autobot_lib.data.resample import resample_ohlcv
from autobot_lib.data.synthetic import synthetic_ohlcv

# downloading needs ccxt (86 MB, a second to import): loaded on first use, so that importing the data
# layer's frames (the core does) never pulls the exchange client in
_LAZY = {name: "autobot_lib.data.download" for name in ("DataDownloadError", "RetryPolicy", "cache_path",
                                                          "fetch_funding", "fetch_ohlcv", "make_exchange")}
_LAZY.update({name: "autobot_lib.data.default" for name in ("default_market", "funding_data", "market_data")})


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "OHLCV_COLUMNS", "FUNDING_COLUMN", "load_ohlcv", "load_funding", "inspect_ohlcv", "save_frame",
    "describe_path", "QualityReport", "Finding", "Gap", "Problem", "DataValidationError", "DataQualityWarning",
    "find_gaps", "resample_ohlcv", "synthetic_ohlcv", "fetch_ohlcv", "fetch_funding", "make_exchange",
    "cache_path", "DataDownloadError", "RetryPolicy", "timeframe_seconds", "timeframe_delta", "infer_timeframe", "label",
    "split_symbol", "validate_frame", "default_market", "market_data", "funding_data",
]
