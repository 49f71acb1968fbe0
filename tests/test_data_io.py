"""Loading and validating real Binance files; each corruption named with file, row, timestamp, problem."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from autobot_lib._fs import atomic_path
from autobot_lib.data import (
    DataQualityWarning, DataValidationError, Problem, inspect_ohlcv, load_funding, load_ohlcv, save_frame,
    validate_frame,
)
from conftest import data_dir, real

# Figures from shared/data/ohlcv/SOURCES.md (counted there independently of this code):
# file, rows, holes, missing bars, zero-volume bars, first bar, last bar
SOURCES_TABLE = [
    ("binance_spot_BTCUSDT_1h.csv.gz", 73265, 27, 122, 3, "2018-01-01T00:00Z", "2026-05-16T18:00Z"),
    ("binance_spot_ETHUSDT_1h.csv.gz", 73265, 27, 122, 3, "2018-01-01T00:00Z", "2026-05-16T18:00Z"),
    ("binance_spot_SOLUSDT_1h.csv.gz", 50489, 10, 20, 2, "2020-08-11T06:00Z", "2026-05-16T18:00Z"),
    ("binance_spot_BNBUSDT_1h.csv.gz", 53754, 15, 32, 2, "2020-01-01T00:00Z", "2026-02-19T01:00Z"),
    ("binance_usdm_BTCUSDT_1h.csv.gz", 58623, 0, 0, 3, "2019-09-08T17:00Z", "2026-05-17T07:00Z"),
    ("binance_usdm_ETHUSDT_1h.csv.gz", 56713, 0, 0, 1, "2019-11-27T07:00Z", "2026-05-17T07:00Z"),
    ("binance_usdm_BTCUSDT_5m.csv.gz", 119724, 0, 0, 5, "2024-12-31T00:00Z", "2026-02-19T16:55Z"),
]


@pytest.mark.parametrize("name, rows, holes, missing, zero_volume, first, last", SOURCES_TABLE)
def test_quality_report_matches_the_independent_count(name, rows, holes, missing, zero_volume, first, last):
    report = inspect_ohlcv(data_dir() / name)
    assert report.ok, report.summary()
    assert (report.rows, len(report.gaps), report.missing_bars) == (rows, holes, missing)
    assert report.count(Problem.ZERO_VOLUME) == zero_volume
    assert (report.first, report.last) == (pd.Timestamp(first), pd.Timestamp(last))


def test_canonical_frame_and_a_published_reference_bar():
    frame = real("binance_spot_BTCUSDT_1h.csv.gz")
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert all(dtype == np.float64 for dtype in frame.dtypes)
    assert str(frame.index.tz) == "UTC" and frame.index.name == "timestamp"
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert frame.attrs == {**frame.attrs, "symbol": "BTCUSDT", "timeframe": "1h", "market": "spot", "synthetic": False}
    bar = frame.loc["2021-01-01 00:00:00+00:00"]  # Binance's published values (SOURCES.md)
    assert bar.tolist() == [28923.63, 29031.34, 28690.17, 28995.13, 2311.811445]


def test_real_outages_are_reported_and_kept_as_gaps():
    path = data_dir() / "binance_spot_BTCUSDT_1h.csv.gz"
    with pytest.warns(DataQualityWarning, match=r"27 gap\(s\), 122 missing bar\(s\), longest 33 bars from 2018-02-08"):
        frame = load_ohlcv(path)
    assert len(frame) == 73265  # nothing invented
    step = frame.index.to_series().diff()
    assert (step > pd.Timedelta("1h")).sum() == 27
    assert "2018-02-08 12:00:00+00:00" not in frame.index  # inside the 33 h outage: no filled bar
    with pytest.raises(DataValidationError, match="2018-02-08T01:00Z"):
        load_ohlcv(path, gaps="raise")


def _write_csv(tmp_path, frame: pd.DataFrame, name: str = "binance_usdm_BTCUSDT_1h.csv") -> str:
    path = tmp_path / name
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    out.to_csv(path, index_label="timestamp")
    return path


def _corrupt(kind: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Damage a copy of real bars; return it and the 1-based row that must be named."""
    df = frame.copy()
    if kind == "duplicate":
        return pd.concat([df.iloc[:11], df.iloc[10:11], df.iloc[11:]]), 12
    if kind == "unsorted":
        order = list(range(len(df)))
        order[20], order[21] = order[21], order[20]
        return df.iloc[order], 22
    column, value, row = {
        "nan": ("close", np.nan, 31), "non_positive": ("low", -1.0, 41), "high_below_body": ("high", 1.0, 51),
        "low_above_body": ("low", 1e9, 61), "negative_volume": ("volume", -5.0, 71)}[kind]
    df.iloc[row - 1, df.columns.get_loc(column)] = value
    return df, row


# each damage _corrupt does is named after the problem it must be reported as
CORRUPTIONS = [(problem.name.lower(), problem) for problem in (
    Problem.DUPLICATE, Problem.UNSORTED, Problem.NAN, Problem.NON_POSITIVE, Problem.HIGH_BELOW_BODY,
    Problem.LOW_ABOVE_BODY, Problem.NEGATIVE_VOLUME)]


@pytest.mark.parametrize("kind, problem", CORRUPTIONS)
def test_each_corruption_is_a_clear_error(tmp_path, kind, problem):
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:200]
    bad, row = _corrupt(kind, frame)
    path = _write_csv(tmp_path, bad)
    with pytest.raises(DataValidationError) as caught:
        load_ohlcv(path)
    message = str(caught.value)
    timestamp = bad.index[row - 1].strftime("%Y-%m-%dT%H:%MZ")
    assert str(path) in message and f"row {row} ({timestamp})" in message and str(problem) in message
    assert "repair=True" in message  # says how to fix it
    assert [f.row for f in caught.value.report.errors if f.problem is problem] == [row]


@pytest.mark.parametrize("kind, problem", CORRUPTIONS)
def test_repair_drops_bad_rows_sorts_and_never_fills(tmp_path, kind, problem):
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:200]
    bad, row = _corrupt(kind, frame)
    with pytest.warns(DataQualityWarning, match="repaired"):
        repaired = load_ohlcv(_write_csv(tmp_path, bad), repair=True, gaps="ignore")
    assert repaired.index.is_monotonic_increasing and repaired.index.is_unique
    assert validate_frame(repaired).ok
    if kind in ("duplicate", "unsorted"):
        pd.testing.assert_frame_equal(repaired, frame, check_freq=False)
    else:  # the bad bar is gone, leaving a one-bar gap; every other bar is untouched
        expected = frame.drop(frame.index[row - 1])
        pd.testing.assert_frame_equal(repaired, expected, check_freq=False)


def test_bad_timestamp_and_off_grid_bars(tmp_path):
    path = tmp_path / "bars.csv"
    path.write_text("timestamp,open,high,low,close,volume\n"
                    "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n"
                    "not a time,1,2,0.5,1.5,10\n"
                    "2024-01-01T01:00:00Z,1,2,0.5,1.5,10\n"
                    "2024-01-01T02:30:00Z,1,2,0.5,1.5,10\n"
                    "2024-01-01T03:00:00Z,1,2,0.5,1.5,10\n")
    report = inspect_ohlcv(path, "1h")
    assert [(f.row, f.problem) for f in report.errors] == [(2, Problem.BAD_TIMESTAMP), (4, Problem.OFF_GRID)]


def test_formats_round_trip_and_epoch_timestamps(tmp_path):
    frame = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-500:]
    for name in ("eth.csv", "eth.csv.gz", "eth.parquet"):
        back = load_ohlcv(save_frame(frame, tmp_path / name), "1h")
        pd.testing.assert_frame_equal(back, frame, check_freq=False)
    epoch_ms = frame.copy()
    epoch_ms.index = epoch_ms.index.asi8 // 10**6
    epoch_ms.to_csv(tmp_path / "ms.csv", index_label="open_time")
    pd.testing.assert_frame_equal(load_ohlcv(tmp_path / "ms.csv", "1h"), frame, check_freq=False)


def test_clear_errors_for_missing_files_and_columns(tmp_path):
    with pytest.raises(FileNotFoundError, match="autobot data fetch"):
        load_ohlcv(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(ValueError, match="use .csv, .csv.gz or .parquet"):
        load_ohlcv(tmp_path / "x.txt")
    (tmp_path / "cols.csv").write_text("timestamp,open,close\n2024-01-01,1,2\n")
    with pytest.raises(ValueError, match=r"expected columns \['timestamp', 'open', 'high'"):
        load_ohlcv(tmp_path / "cols.csv")


def test_funding_history_loads_and_checks(tmp_path):
    funding = load_funding(data_dir() / "binance_usdm_BTCUSDT_funding.csv.gz")
    assert len(funding) == 7323 and list(funding.columns) == ["funding_rate"]
    assert funding.index[0] == pd.Timestamp("2019-09-10T08:00Z")
    spacing = funding.index.to_series().diff().dropna()
    assert spacing.mode()[0] == pd.Timedelta("8h")
    doubled = pd.concat([funding.iloc[:5], funding.iloc[4:5]])
    doubled.index = doubled.index.strftime("%Y-%m-%dT%H:%M:%SZ")
    doubled.to_csv(tmp_path / "f.csv", index_label="timestamp")
    with pytest.raises(DataValidationError, match="row 6"):
        load_funding(tmp_path / "f.csv")
    assert len(load_funding(tmp_path / "f.csv", repair=True)) == 5


def test_interrupted_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "cache.parquet"
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[:100]
    save_frame(frame, target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half a file")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["cache.parquet"]  # no temporary left behind


def test_zero_volume_bars_are_reported_not_errors():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frame = load_ohlcv(data_dir() / "binance_usdm_BTCUSDT_1h.csv.gz")
    assert any("3 zero-volume bar(s)" in str(w.message) for w in caught)
    assert (frame["volume"] == 0).sum() == 3
