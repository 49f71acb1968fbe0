"""Resample canonical OHLCV bars to a higher timeframe.

Open is the first open, high the max, low the min, close the last close, volume the sum. Bins are
aligned to the UTC epoch (so 4h bars open at 00, 04, 08 ... UTC and 1d bars at midnight, as
Binance's). A bin is complete when it holds every source bar it should; incomplete bins at either
end (the data starts or stops inside them) are dropped, so there is never a partial last bar.
Incomplete bins inside the data (an outage) are kept by default, as the exchange itself does;
``drop_incomplete="all"`` drops them too.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from autobot_lib.data.frame import OHLCV_COLUMNS, infer_timeframe, timeframe_seconds

_AGG = {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}


def resample_ohlcv(
    frame: pd.DataFrame, timeframe: str, *, drop_incomplete: Literal["edges", "all"] = "edges"
) -> pd.DataFrame:
    """Aggregate ``frame`` (canonical OHLCV) to ``timeframe``, a whole multiple of its own."""
    source_tf = frame.attrs.get("timeframe") or infer_timeframe(frame.index)
    src, dst = timeframe_seconds(source_tf), timeframe_seconds(timeframe)
    if dst % src or dst < src:
        raise ValueError(f"cannot resample {source_tf} bars to {timeframe}: the target must be a whole multiple "
                         f"of the source timeframe (e.g. 5m -> 1h, 1h -> 4h or 1d)")
    if timeframe.endswith("w"):
        raise ValueError("weekly resampling is not supported: Binance weeks start on Monday; use 1d")
    if drop_incomplete not in ("edges", "all"):
        raise ValueError(f"drop_incomplete must be 'edges' or 'all', got {drop_incomplete!r}")
    per_bin = dst // src
    grouped = frame[list(OHLCV_COLUMNS)].resample(pd.Timedelta(seconds=dst), origin="epoch", label="left",
                                                  closed="left")
    out = grouped.agg(_AGG)
    counts = grouped["close"].count().to_numpy()
    complete = counts == per_bin
    keep = counts > 0 if drop_incomplete == "edges" else complete
    if drop_incomplete == "edges" and len(out):
        present = np.flatnonzero(counts > 0)
        if present.size:
            keep[present[0]] = complete[present[0]]
            keep[present[-1]] = complete[present[-1]]
    out = out[keep]
    out.index.name = "timestamp"
    out.attrs.update(frame.attrs)
    out.attrs["timeframe"] = timeframe
    return out
