"""Read and write OHLCV and funding files: CSV, CSV.gz and parquet, into the canonical frame.

Timestamps may be ISO-8601 strings (``2021-01-01T00:00:00Z``) or epoch numbers (s, ms or us,
detected from their size); a parquet file may also hold them as its index. Every load is checked
(``quality.py``): errors raise :class:`DataValidationError` naming the file, the row, the problem and
the fix, unless ``repair=True``; gaps and zero-volume bars are reported as a
:class:`DataQualityWarning` (or raise with ``gaps="raise"``), and are never filled.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from autobot_lib._fs import atomic_path
from autobot_lib.data.frame import FUNDING_COLUMN, OHLCV_COLUMNS
from autobot_lib.data.quality import (
    DataQualityWarning, DataValidationError, Problem, QualityReport, check_funding, check_ohlcv, repair as _repair,
)

GapPolicy = Literal["report", "raise", "ignore"]
_TIME_COLUMNS = ("timestamp", "date", "datetime", "time", "open_time")
_NAME = re.compile(r"^(?:(?P<exchange>[a-z]+)_)?(?P<market>spot|usdm)_(?P<symbol>[A-Z0-9]+)_(?P<kind>\w+?)\.")


def describe_path(path: str | Path) -> dict[str, str]:
    """Symbol, market and timeframe from a name like ``binance_usdm_BTCUSDT_1h.csv.gz`` (empty if none)."""
    m = _NAME.match(Path(path).name)
    if not m:
        return {}
    info = {"symbol": m["symbol"], "market": m["market"]}
    if m["kind"] != "funding":
        info["timeframe"] = m["kind"]
    return info


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (check the path, or fetch it: autobot data fetch --help)")
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        table = pd.read_parquet(path)
        if isinstance(table.index, pd.DatetimeIndex) or table.index.name in _TIME_COLUMNS:
            table = table.reset_index()
        return table
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz")):
        return pd.read_csv(path)
    raise ValueError(f"{path}: unsupported file type; use .csv, .csv.gz or .parquet")


def _parse_time(column: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(column):
        parsed = column if column.dt.tz is not None else column.dt.tz_localize("UTC")
        return parsed.dt.tz_convert("UTC").dt.as_unit("ns")
    if pd.api.types.is_numeric_dtype(column):
        numbers = column.astype("float64")
        size = numbers.abs().median()
        unit = "s" if size < 1e11 else "ms" if size < 1e14 else "us"
        return pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce").dt.as_unit("ns")
    return pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601").dt.as_unit("ns")


def _raw(table: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    """Normalise names and types, keep file order and each row's 1-based number for reports."""
    table = table.rename(columns={c: str(c).strip().lower() for c in table.columns})
    time_col = next((c for c in _TIME_COLUMNS if c in table.columns), None)
    missing = [c for c in columns if c not in table.columns]
    if time_col is None or missing:
        need = ["timestamp", *columns]
        raise ValueError(f"{path}: expected columns {need}, found {list(table.columns)}")
    raw = pd.DataFrame({"timestamp": _parse_time(table[time_col])})
    for c in columns:
        raw[c] = pd.to_numeric(table[c], errors="coerce").astype("float64")
    raw["_row"] = np.arange(1, len(raw) + 1)
    return raw


def _canonical(raw: pd.DataFrame, columns: tuple[str, ...], attrs: dict) -> pd.DataFrame:
    frame = raw.set_index("timestamp")[list(columns)]
    frame.index = pd.DatetimeIndex(frame.index, name="timestamp")
    frame.attrs.update(attrs)
    return frame


def inspect_ohlcv(path: str | Path, timeframe: str | None = None) -> QualityReport:
    """The full quality report of an OHLCV file, without raising."""
    path = Path(path)
    raw = _raw(_read_table(path), OHLCV_COLUMNS, path)
    return check_ohlcv(raw, timeframe or describe_path(path).get("timeframe"), str(path))


def load_ohlcv(
    path: str | Path,
    timeframe: str | None = None,
    *,
    repair: bool = False,
    gaps: GapPolicy = "report",
    symbol: str | None = None,
) -> pd.DataFrame:
    """Load one OHLCV file into the canonical frame, checked.

    ``timeframe`` defaults to the one in the file name, else the most common bar spacing.
    ``repair=True`` drops duplicate timestamps (keeping the last), sorts, and drops rows that are
    unusable (NaN, non-positive or inconsistent prices); each dropped row is reported and leaves a gap.
    """
    path = Path(path)
    info = describe_path(path)
    raw = _raw(_read_table(path), OHLCV_COLUMNS, path)
    report = check_ohlcv(raw, timeframe or info.get("timeframe"), str(path))
    if report.errors:
        if not repair:
            raise DataValidationError(
                report, "correct the file, or load it with repair=True (CLI: --repair) to drop duplicates and "
                        "bad rows and sort; gaps are kept as gaps")
        warnings.warn(f"{path}: repaired {len(report.errors)} problem(s): "
                      + "; ".join(str(f) for f in report.errors[:5]), DataQualityWarning, stacklevel=2)
        raw = _repair(raw, report)
        report = check_ohlcv(raw, report.timeframe, str(path))
    _apply_gap_policy(report, gaps)
    attrs = {"symbol": symbol or info.get("symbol", path.name.split(".")[0]), "timeframe": report.timeframe,
             "market": info.get("market", ""), "source": str(path), "synthetic": False}
    return _canonical(raw, OHLCV_COLUMNS, attrs)


def _apply_gap_policy(report: QualityReport, gaps: GapPolicy) -> None:
    if gaps not in ("report", "raise", "ignore"):
        raise ValueError(f"gaps must be 'report', 'raise' or 'ignore', got {gaps!r}")
    if not report.notices or gaps == "ignore":
        return
    if gaps == "raise" and report.gaps:
        raise DataValidationError(
            QualityReport(report.source, report.timeframe, report.rows, report.first, report.last,
                          tuple(f for f in report.findings if f.problem is Problem.GAP), report.gaps),
            "use gaps='report' to load data with real exchange outages, or choose a period without gaps")
    parts = []
    if report.gaps:
        longest = max(report.gaps, key=lambda g: g.missing)
        parts.append(f"{len(report.gaps)} gap(s), {report.missing_bars} missing bar(s), longest {longest.missing} "
                     f"bars from {longest.start:%Y-%m-%d %H:%M}Z (kept as gaps, never filled)")
    if report.count(Problem.ZERO_VOLUME):
        parts.append(f"{report.count(Problem.ZERO_VOLUME)} zero-volume bar(s)")
    text = f"{report.source}: " + "; ".join(parts)
    warnings.warn(text, DataQualityWarning, stacklevel=3)


def load_funding(path: str | Path, *, repair: bool = False) -> pd.DataFrame:
    """Load a funding-rate history (``timestamp, funding_rate``; rate as a fraction per event)."""
    path = Path(path)
    raw = _raw(_read_table(path), (FUNDING_COLUMN,), path)
    report = check_funding(raw, str(path))
    if report.errors:
        if not repair:
            raise DataValidationError(report, "correct the file, or load it with repair=True to drop bad rows and sort")
        raw = raw[raw[FUNDING_COLUMN].notna() & raw["timestamp"].notna()]
        raw = raw.drop_duplicates(subset="timestamp", keep="last").sort_values("timestamp", kind="stable")
    info = describe_path(path)
    return _canonical(raw, (FUNDING_COLUMN,), {"symbol": info.get("symbol", ""), "source": str(path)})


def save_frame(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a canonical frame atomically (temporary file, then rename): .parquet, .csv or .csv.gz."""
    path = Path(path)
    out = frame.copy()
    out.index = out.index.strftime("%Y-%m-%dT%H:%M:%SZ") if not path.name.endswith((".parquet", ".pq")) else out.index
    with atomic_path(path) as tmp:
        if path.name.endswith((".parquet", ".pq")):
            out.to_parquet(tmp)
        else:
            out.to_csv(tmp, index_label="timestamp", compression="gzip" if path.name.endswith(".gz") else None)
    return path


def validate_frame(frame: pd.DataFrame, timeframe: str | None = None, source: str | None = None) -> QualityReport:
    """The quality report of an in-memory OHLCV frame (rows numbered from 1 in frame order)."""
    raw = pd.DataFrame({"timestamp": pd.Series(frame.index, dtype=frame.index.dtype).reset_index(drop=True)})
    for c in OHLCV_COLUMNS:
        raw[c] = frame[c].to_numpy(dtype=np.float64)
    raw["_row"] = np.arange(1, len(raw) + 1)
    return check_ohlcv(raw, timeframe or frame.attrs.get("timeframe"), source or frame.attrs.get("source", "frame"))
