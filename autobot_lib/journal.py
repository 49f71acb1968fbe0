"""The decision journal: one record per evaluated bar, and the funnel that answers "why no trades?".

A record holds the timestamp, symbol, the features the decision used, the regime, the rules that fired
with their bias, the aggregate bias and confidence, the proposal, the gate's and the vetoes' reasons, the
size, the order intents, what happened to an open position, and one ``outcome``:

    warmup | in_position | neutral | below_threshold | gate:<reason> | veto:<reason> | size:<reason> | order

Records serialise to JSON lines (:func:`write_journal`, :func:`read_journal`) and load into a DataFrame.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from autobot_lib._fs import write_text_atomic
from autobot_lib.data.frame import to_utc


@dataclass(frozen=True)
class JournalRecord:
    timestamp: str
    symbol: str
    strategy: str
    outcome: str
    close: float
    regime: str | None
    regime_age: int
    bias: float
    confidence: float
    direction: int
    proposal: str
    rules_hit: list[dict[str, Any]] = field(default_factory=list)
    features: dict[str, float | None] = field(default_factory=dict)
    gate: list[str] = field(default_factory=list)
    vetoes: list[str] = field(default_factory=list)
    size: dict[str, Any] | None = None
    intents: list[dict[str, Any]] = field(default_factory=list)
    position: dict[str, Any] | None = None
    exits: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _FIELDS}  # shallow: records are built fresh, not shared

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False, default=str)


_FIELDS = tuple(JournalRecord.__dataclass_fields__)


def _clean(value: Any) -> Any:
    """JSON has no NaN: missing numbers are null. (Exact type tests: this runs on every journal value.)"""
    kind = type(value)
    if kind is float:
        return None if value != value else value
    if kind is dict:
        return {k: _clean(v) for k, v in value.items()}
    if kind is list:
        return [_clean(v) for v in value]
    if isinstance(value, float) and value != value:   # numpy floats
        return None
    return value


def record(**values: Any) -> JournalRecord:
    return JournalRecord(**{k: _clean(v) for k, v in values.items()})


def write_journal(records: Iterable[JournalRecord], path: str | Path) -> Path:
    """All records as JSON lines, written atomically."""
    return write_text_atomic(path, "".join(r.to_json() + "\n" for r in records))


def read_journal(path: str | Path) -> pd.DataFrame:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    return journal_frame(rows)


def journal_frame(records: Iterable[JournalRecord | dict[str, Any]]) -> pd.DataFrame:
    rows = [r.to_dict() if isinstance(r, JournalRecord) else r for r in records]
    frame = pd.DataFrame(rows, columns=list(JournalRecord.__dataclass_fields__))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).dt.as_unit("ns")
    return frame


@dataclass(frozen=True)
class Funnel:
    """How many bars reached each stage, and why the rest did not."""

    bars: int
    warmup: int
    in_position: int
    flat: int                         # flat and warm: bars where an entry could have been considered
    with_bias: int                    # at least one rule fired
    below_threshold: int              # a bias, but confidence under ACTIVATION_THRESHOLD
    proposed: dict[str, int]          # PROPOSE_LONG / PROPOSE_SHORT
    gate: dict[str, int]              # blocked by the gate, by first reason
    vetoes: dict[str, int]            # vetoed, by first reason
    sized_to_zero: dict[str, int]
    orders: int
    max_confidence: float
    threshold_hint: str = ""

    def text(self) -> str:
        proposed = sum(self.proposed.values())
        lines = [
            f"bars evaluated            {self.bars:>8}",
            f"  warm-up (no regime)     {self.warmup:>8}",
            f"  holding a position      {self.in_position:>8}",
            f"  flat, ready             {self.flat:>8}",
            f"rules fired (any bias)    {self.with_bias:>8}",
            f"  confidence < threshold  {self.below_threshold:>8}   (highest confidence seen {self.max_confidence:.2f})",
            f"signals proposed          {proposed:>8}   " + ", ".join(f"{k} {v}" for k, v in self.proposed.items()),
            f"blocked by the gate       {sum(self.gate.values()):>8}",
            *[f"  {k:<24}{v:>8}" for k, v in self.gate.items()],
            f"vetoed                    {sum(self.vetoes.values()):>8}",
            *[f"  {k:<24}{v:>8}" for k, v in self.vetoes.items()],
            f"sized to zero             {sum(self.sized_to_zero.values()):>8}",
            *[f"  {k:<24}{v:>8}" for k, v in self.sized_to_zero.items()],
            f"orders                    {self.orders:>8}",
        ]
        if self.threshold_hint:
            lines.append(self.threshold_hint)
        return "\n".join(lines)


def _first(reasons: pd.Series, prefix: str) -> dict[str, int]:
    picked = reasons[reasons.str.startswith(prefix)].str[len(prefix):]
    return dict(Counter(picked).most_common())


def funnel(journal: pd.DataFrame, start: Any = None, end: Any = None, symbol: str | None = None,
           threshold: float | None = None) -> Funnel:
    """The funnel of a journal, optionally for one symbol and a period [start, end]."""
    j = journal
    if symbol:
        j = j[j["symbol"] == symbol]
    if start is not None:
        j = j[j["timestamp"] >= to_utc(start)]
    if end is not None:
        j = j[j["timestamp"] <= to_utc(end)]
    outcome = j["outcome"].astype(str)
    flat = j[~outcome.isin(["warmup", "in_position"])]
    with_bias = flat[flat["direction"] != 0]
    proposed = flat[flat["proposal"] != "NEUTRAL"]
    hint = ""
    below = int((outcome == "below_threshold").sum())
    if below and threshold is not None:
        sides = Counter(with_bias.loc[with_bias["proposal"] == "NEUTRAL", "direction"].map({1: "LONG", -1: "SHORT"}))
        hint = (f"note: {below} bars had a bias ({', '.join(f'{k} {v}' for k, v in sides.most_common())}) but "
                f"confidence below ACTIVATION_THRESHOLD {threshold:.2f}; the highest was "
                f"{flat['confidence'].max():.2f}")
    return Funnel(
        bars=len(j), warmup=int((outcome == "warmup").sum()), in_position=int((outcome == "in_position").sum()),
        flat=len(flat), with_bias=len(with_bias), below_threshold=below,
        proposed=dict(Counter(proposed["proposal"]).most_common()),
        gate=_first(outcome, "gate:"), vetoes=_first(outcome, "veto:"), sized_to_zero=_first(outcome, "size:"),
        orders=int((outcome == "order").sum()),
        max_confidence=float(flat["confidence"].max()) if len(flat) else 0.0, threshold_hint=hint,
    )
