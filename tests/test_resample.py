"""Resampling against Binance's own higher-timeframe bars and an independent reshape oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autobot_lib.data import resample_ohlcv, timeframe_delta
from conftest import real

# SOURCES.md: Binance revised these USD-M 1h bars after the 5m bars were published.
REVISED_HOURS = pd.DatetimeIndex(["2025-01-14 13:00", "2025-01-14 15:00", "2025-01-29 01:00", "2025-01-29 02:00"],
                                 tz="UTC")


@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"])
def test_5m_to_1h_equals_binance_1h_bars(symbol):
    five = real(f"binance_usdm_{symbol}_5m.csv.gz")
    hourly = real(f"binance_usdm_{symbol}_1h.csv.gz")
    rolled = resample_ohlcv(five, "1h")
    common = rolled.index.intersection(hourly.index).difference(REVISED_HOURS)
    assert len(common) > 9000
    a, b = rolled.loc[common], hourly.loc[common]
    np.testing.assert_array_equal(a[["open", "high", "low", "close"]].to_numpy(), b[["open", "high", "low", "close"]].to_numpy())
    np.testing.assert_allclose(a["volume"], b["volume"], rtol=1e-9)
    assert rolled.attrs["timeframe"] == "1h"


def _reshape_oracle(frame: pd.DataFrame, per: int) -> pd.DataFrame:
    """Group consecutive complete, aligned runs of `per` bars by reshaping: no resample involved."""
    o, h, l, c, v = (frame[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    n = len(frame) // per * per
    return pd.DataFrame({"open": o[:n].reshape(-1, per)[:, 0], "high": h[:n].reshape(-1, per).max(1),
                         "low": l[:n].reshape(-1, per).min(1), "close": c[:n].reshape(-1, per)[:, -1],
                         "volume": v[:n].reshape(-1, per).sum(1)}, index=frame.index[:n:per])


@pytest.mark.parametrize("target, per", [("4h", 4), ("1d", 24)])
def test_1h_to_4h_and_1d_against_reshape(target, per):
    hourly = real("binance_usdm_BTCUSDT_1h.csv.gz")  # gap-free, so every bin is complete
    aligned = hourly[hourly.index >= hourly.index[0].ceil(timeframe_delta(target))]
    expected = _reshape_oracle(aligned, per)
    got = resample_ohlcv(hourly, target)
    pd.testing.assert_frame_equal(got[["open", "high", "low", "close"]], expected[["open", "high", "low", "close"]],
                                  check_freq=False, check_names=False)
    np.testing.assert_allclose(got["volume"], expected["volume"], rtol=1e-12)
    assert (got.index.hour % (per if per < 24 else 24) == 0).all()


def test_no_partial_bar_at_either_end():
    five = real("binance_usdm_BTCUSDT_5m.csv.gz").loc["2025-03-01 00:20":"2025-03-01 05:35"]
    hourly = resample_ohlcv(five, "1h")
    # 00:xx starts at :20 and 05:xx stops at :35: both incomplete, both dropped
    assert list(hourly.index.hour) == [1, 2, 3, 4]


def test_outage_inside_the_data():
    spot = real("binance_spot_BTCUSDT_1h.csv.gz").loc["2018-02-07":"2018-02-10"]  # the 33 h outage
    daily = resample_ohlcv(spot, "1d")
    assert len(daily) == 4  # interior incomplete days kept, as Binance builds them from what traded
    strict = resample_ohlcv(spot, "1d", drop_incomplete="all")
    assert list(strict.index.day) == [7, 10]


@pytest.mark.parametrize("target", ["7m", "30m", "1w", "x"])
def test_bad_targets_are_refused(target):
    with pytest.raises(ValueError):
        resample_ohlcv(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:100], target)


def test_microsecond_indexes_are_read_right():
    from autobot_lib.data import infer_timeframe

    index = pd.date_range("2024-01-01", periods=10, freq="4h", tz="UTC", unit="us")
    assert infer_timeframe(index) == "4h"
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:48]
    frame.index = frame.index.as_unit("us")
    frame.attrs = {}
    assert len(resample_ohlcv(frame, "4h")) == len(resample_ohlcv(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:48], "4h"))
