"""Data-quality checks for OHLCV bars and funding series, as values: a report of findings.

Errors make a series untrustworthy (duplicates, unsorted rows, bad timestamps, NaN, non-positive
prices, a high below the open/close or a low above it, negative volume, bars off the timeframe
grid). Notices are facts about the market that must be seen but are not errors: gaps (exchange
outages) and zero-volume bars (maintenance windows, fresh listings). Nothing here modifies data;
:func:`repair` is the one explicit, reported way to drop bad rows, and it never fills a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pandas as pd

from autobot_lib.data.frame import OHLCV_COLUMNS, infer_timeframe, timeframe_seconds


class Problem(StrEnum):
    BAD_TIMESTAMP = "unreadable timestamp"
    DUPLICATE = "duplicate timestamp"
    UNSORTED = "out of order"
    OFF_GRID = "not on the timeframe grid"
    NAN = "missing value"
    NON_POSITIVE = "non-positive price"
    HIGH_BELOW_BODY = "high below max(open, close)"
    LOW_ABOVE_BODY = "low above min(open, close)"
    NEGATIVE_VOLUME = "negative volume"
    GAP = "gap"
    ZERO_VOLUME = "zero volume"


NOTICES = frozenset({Problem.GAP, Problem.ZERO_VOLUME})
# Rows with these problems cannot be trusted at all; repair drops them (they become gaps).
_UNUSABLE = frozenset({Problem.BAD_TIMESTAMP, Problem.NAN, Problem.NON_POSITIVE, Problem.HIGH_BELOW_BODY,
                       Problem.LOW_ABOVE_BODY, Problem.NEGATIVE_VOLUME, Problem.OFF_GRID})


def _fmt_ts(ts: pd.Timestamp | None) -> str:
    return "NaT" if ts is None or pd.isna(ts) else ts.strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class Finding:
    """One problem at one place. ``row`` is the 1-based data row in the source (header not counted)."""

    problem: Problem
    row: int | None
    timestamp: pd.Timestamp | None
    detail: str = ""

    def __str__(self) -> str:
        where = f"row {self.row} ({_fmt_ts(self.timestamp)})" if self.row is not None else _fmt_ts(self.timestamp)
        return f"{where}: {self.problem}" + (f" ({self.detail})" if self.detail else "")


@dataclass(frozen=True)
class Gap:
    """Bars missing between two present bars: ``start``..``end`` are the missing open times."""

    start: pd.Timestamp
    end: pd.Timestamp
    missing: int


@dataclass(frozen=True)
class QualityReport:
    source: str
    timeframe: str
    rows: int
    first: pd.Timestamp | None
    last: pd.Timestamp | None
    findings: tuple[Finding, ...]
    gaps: tuple[Gap, ...]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.problem not in NOTICES)

    @property
    def notices(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.problem in NOTICES)

    @property
    def ok(self) -> bool:
        """No errors (gaps and zero-volume bars may still be present: see :attr:`notices`)."""
        return not self.errors

    @property
    def missing_bars(self) -> int:
        return sum(g.missing for g in self.gaps)

    def count(self, problem: Problem) -> int:
        return sum(1 for f in self.findings if f.problem is problem)

    def summary(self, limit: int = 10) -> str:
        lines = [
            f"{self.source}: {self.rows} rows, timeframe {self.timeframe}, "
            f"{_fmt_ts(self.first)} .. {_fmt_ts(self.last)}",
            f"  errors: {len(self.errors)}; gaps: {len(self.gaps)} ({self.missing_bars} missing bars); "
            f"zero-volume bars: {self.count(Problem.ZERO_VOLUME)}",
        ]
        for f in self.errors[:limit]:
            lines.append(f"  ERROR {f}")
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit} more errors")
        longest = sorted(self.gaps, key=lambda g: -g.missing)[:limit]
        for g in longest:
            lines.append(f"  GAP   {_fmt_ts(g.start)} .. {_fmt_ts(g.end)}: {g.missing} missing bars")
        if len(self.gaps) > limit:
            lines.append(f"  ... and {len(self.gaps) - limit} more gaps")
        return "\n".join(lines)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [{"problem": str(f.problem), "row": f.row, "timestamp": f.timestamp, "detail": f.detail,
              "severity": "notice" if f.problem in NOTICES else "error"} for f in self.findings],
            columns=["problem", "row", "timestamp", "detail", "severity"],
        )


class DataValidationError(ValueError):
    """Raised when a series has errors and the caller did not ask for repair."""

    def __init__(self, report: QualityReport, hint: str):
        self.report = report
        problems = report.errors or report.findings
        shown = "; ".join(str(f) for f in problems[:5])
        more = f"; and {len(problems) - 5} more" if len(problems) > 5 else ""
        super().__init__(f"{report.source}: {len(problems)} data problem(s): {shown}{more}. Fix: {hint}")


class DataQualityWarning(UserWarning):
    """Gaps or zero-volume bars in otherwise valid data: reported, never hidden, never filled."""


# --- checks -------------------------------------------------------------------------------------

def _findings(raw: pd.DataFrame, mask: np.ndarray, problem: Problem, detail=None) -> list[Finding]:
    ts = raw["timestamp"]
    rows = raw["_row"].to_numpy()
    return [Finding(problem, int(rows[i]), None if pd.isna(ts.iloc[i]) else ts.iloc[i],
                    detail(i) if detail else "") for i in np.flatnonzero(mask)]


def check_ohlcv(raw: pd.DataFrame, timeframe: str | None, source: str) -> QualityReport:
    """Check a raw frame (columns ``timestamp``, OHLCV and ``_row``, in file order)."""
    ts = raw["timestamp"]
    bad_ts = ts.isna().to_numpy()
    values = {c: raw[c].to_numpy(dtype=np.float64) for c in OHLCV_COLUMNS}
    o, h, l, c, v = (values[k] for k in OHLCV_COLUMNS)
    nan = np.column_stack(list(values.values()))
    nan_mask = np.isnan(nan).any(axis=1)
    with np.errstate(invalid="ignore"):
        non_positive = (np.column_stack([o, h, l, c]) <= 0).any(axis=1)
        high_low = ~nan_mask & ~non_positive
        high_below = high_low & (h < np.maximum(o, c))
        low_above = high_low & (l > np.minimum(o, c))
        negative_volume = v < 0
        zero_volume = v == 0

    findings: list[Finding] = []
    findings += _findings(raw, bad_ts, Problem.BAD_TIMESTAMP)
    cols = list(OHLCV_COLUMNS)
    findings += _findings(raw, nan_mask, Problem.NAN,
                          lambda i: "in " + ", ".join(k for k in cols if np.isnan(values[k][i])))
    findings += _findings(raw, non_positive, Problem.NON_POSITIVE,
                          lambda i: ", ".join(f"{k}={values[k][i]:g}" for k in cols[:4] if values[k][i] <= 0))
    findings += _findings(raw, high_below, Problem.HIGH_BELOW_BODY,
                          lambda i: f"high={h[i]:g}, open={o[i]:g}, close={c[i]:g}")
    findings += _findings(raw, low_above, Problem.LOW_ABOVE_BODY,
                          lambda i: f"low={l[i]:g}, open={o[i]:g}, close={c[i]:g}")
    findings += _findings(raw, negative_volume, Problem.NEGATIVE_VOLUME, lambda i: f"volume={v[i]:g}")
    findings += _findings(raw, zero_volume, Problem.ZERO_VOLUME)

    valid_ts = ts[~bad_ts]
    dup = np.zeros(len(raw), dtype=bool)
    dup[~bad_ts] = valid_ts.duplicated(keep="first").to_numpy()
    findings += _findings(raw, dup, Problem.DUPLICATE)
    ns = np.where(bad_ts, np.iinfo(np.int64).min, ts.to_numpy(dtype="datetime64[ns]").view(np.int64))
    running_max = np.maximum.accumulate(ns)
    unsorted = np.zeros(len(raw), dtype=bool)
    unsorted[1:] = ~bad_ts[1:] & (ns[1:] < running_max[:-1])
    findings += _findings(raw, unsorted, Problem.UNSORTED, lambda i: "earlier than a previous row")

    index = pd.DatetimeIndex(valid_ts.drop_duplicates().sort_values())
    tf = timeframe or (infer_timeframe(index) if len(index) >= 2 else "?")
    gaps: tuple[Gap, ...] = ()
    if tf != "?":
        step = timeframe_seconds(tf) * 10**9
        if not tf.endswith("w"):  # weekly bars align to Mondays, not to the epoch
            off_grid = ~bad_ts & (ns % step != 0)
            findings += _findings(raw, off_grid, Problem.OFF_GRID, lambda i: f"timeframe {tf}")
        gaps = find_gaps(index, tf)
        findings += [Finding(Problem.GAP, None, g.start, f"{g.missing} missing bars until {_fmt_ts(g.end)}")
                     for g in gaps]
    findings.sort(key=lambda f: (f.row if f.row is not None else -1, str(f.problem)))
    return QualityReport(source, tf, len(raw), index[0] if len(index) else None,
                         index[-1] if len(index) else None, tuple(findings), gaps)


def find_gaps(index: pd.DatetimeIndex, timeframe: str) -> tuple[Gap, ...]:
    """Holes in a sorted, unique index: runs of missing bars against the timeframe."""
    if len(index) < 2:
        return ()
    step = timeframe_seconds(timeframe) * 10**9
    ns = index.asi8 if index.unit == "ns" else index.as_unit("ns").asi8
    diffs = np.diff(ns)
    where = np.flatnonzero(diffs > step)
    delta = pd.Timedelta(step, unit="ns")
    return tuple(Gap(index[i] + delta, index[i + 1] - delta, int(diffs[i] // step) - 1) for i in where)


def repair(raw: pd.DataFrame, report: QualityReport) -> pd.DataFrame:
    """Drop unusable rows and duplicates (keeping the last copy), sort. Gaps stay gaps."""
    unusable = {f.row for f in report.findings if f.problem in _UNUSABLE}
    kept = raw[~raw["_row"].isin(unusable)]
    kept = kept.drop_duplicates(subset="timestamp", keep="last")
    return kept.sort_values("timestamp", kind="stable")


def check_funding(raw: pd.DataFrame, source: str) -> QualityReport:
    """Funding events: timestamps must be readable, unique and sorted; rates present and plausible."""
    ts = raw["timestamp"]
    rate = raw["funding_rate"].to_numpy(dtype=np.float64)
    bad_ts = ts.isna().to_numpy()
    findings = _findings(raw, bad_ts, Problem.BAD_TIMESTAMP)
    findings += _findings(raw, np.isnan(rate), Problem.NAN, lambda i: "in funding_rate")
    dup = np.zeros(len(raw), dtype=bool)
    dup[~bad_ts] = ts[~bad_ts].duplicated(keep="first").to_numpy()
    findings += _findings(raw, dup, Problem.DUPLICATE)
    ns = np.where(bad_ts, np.iinfo(np.int64).min, ts.to_numpy(dtype="datetime64[ns]").view(np.int64))
    unsorted = np.zeros(len(raw), dtype=bool)
    unsorted[1:] = ~bad_ts[1:] & (ns[1:] < np.maximum.accumulate(ns)[:-1])
    findings += _findings(raw, unsorted, Problem.UNSORTED, lambda i: "earlier than a previous row")
    index = pd.DatetimeIndex(ts[~bad_ts].drop_duplicates().sort_values())
    findings.sort(key=lambda f: f.row or 0)
    return QualityReport(source, "funding", len(raw), index[0] if len(index) else None,
                         index[-1] if len(index) else None, tuple(findings), ())
