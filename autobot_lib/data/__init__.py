"""The data layer: canonical OHLCV and funding frames, checked, cached, downloaded, resampled.

>>> from autobot_lib.data import load_ohlcv, resample_ohlcv
>>> bars = load_ohlcv("binance_usdm_BTCUSDT_5m.csv.gz")          # doctest: +SKIP
>>> hourly = resample_ohlcv(bars, "1h")                          # doctest: +SKIP
"""

from autobot_lib.data.download import DataDownloadError, RetryPolicy, cache_path, fetch_funding, fetch_ohlcv, make_exchange
from autobot_lib.data.frame import (
    FUNDING_COLUMN, OHLCV_COLUMNS, infer_timeframe, label, split_symbol, timeframe_delta, timeframe_seconds,
)
from autobot_lib.data.default import default_market, funding_data, market_data
from autobot_lib.data.io import describe_path, inspect_ohlcv, load_funding, load_ohlcv, save_frame, validate_frame
from autobot_lib.data.quality import (
    DataQualityWarning, DataValidationError, Finding, Gap, Problem, QualityReport, find_gaps,
)
from autobot_lib.data.resample import resample_ohlcv
from autobot_lib.data.synthetic import synthetic_ohlcv

__all__ = [
    "OHLCV_COLUMNS", "FUNDING_COLUMN", "load_ohlcv", "load_funding", "inspect_ohlcv", "save_frame",
    "describe_path", "QualityReport", "Finding", "Gap", "Problem", "DataValidationError", "DataQualityWarning",
    "find_gaps", "resample_ohlcv", "synthetic_ohlcv", "fetch_ohlcv", "fetch_funding", "make_exchange",
    "cache_path", "DataDownloadError", "RetryPolicy", "timeframe_seconds", "timeframe_delta", "infer_timeframe", "label",
    "split_symbol", "validate_frame", "default_market", "market_data", "funding_data",
]
