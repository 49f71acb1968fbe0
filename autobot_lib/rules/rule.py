"""Rules as data, and how their votes become a signal.

A :class:`Rule` is a name, a category, a condition over feature columns, a bias in [-1, 1], a weight
and the regimes it may fire in. A :class:`RuleSet` evaluates all its rules over a frame of features
(with a ``regime`` column) at once. The live engine calls the very same :meth:`RuleSet.evaluate` on
the last ``lookback + 1`` rows and keeps the last one, so backtest and live signals cannot drift apart.

Aggregation (the seeds' RuleEngine and BiasGenerator, weighted):
- a rule is *eligible* on a bar when the bar's regime is one of its regimes, and *fires* when it is
  eligible and its condition holds;
- bias = sum(bias x weight over fired rules) / sum(weight over fired rules), 0 when none fired;
- confidence = sum(weight over fired rules) / sum(weight over eligible rules): the share of the evidence
  the regime allows that is present (with unit weights, the seed's len(active) / total);
- PROPOSE_LONG when bias > 0 and confidence >= ACTIVATION_THRESHOLD, PROPOSE_SHORT when bias < 0 and
  confidence >= the threshold, NEUTRAL otherwise. ``direction`` keeps the sign of the bias even when
  the threshold is not met, so "SHORT bias at 0.20 confidence against 0.70" stays visible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from autobot_lib.model import Proposal, Signal
from autobot_lib.regime import Regime
from autobot_lib.rules.expr import Condition, ConditionError, compile_condition

ALL_REGIMES = frozenset(Regime)
_REGIMES = tuple(Regime)                       # a regime's code is its position here; -1: no regime
_REGIME_VALUES = tuple(r.value for r in _REGIMES)
# by direction + 1: the labels are shared, not one new string per bar
_PROPOSALS = np.array([Proposal.PROPOSE_SHORT.value, Proposal.NEUTRAL.value, Proposal.PROPOSE_LONG.value], dtype=object)


def regime_codes(regimes: Any) -> np.ndarray:
    """Each bar's regime as its position in :class:`Regime` (-1: none, or not a regime), from a Series or
    array of labels. An Arrow string column (the feature frame's) is matched in Arrow, without making a
    Python string per bar; anything else is compared label by label, as ``==`` on the values does."""
    array = regimes.array if isinstance(regimes, pd.Series) else regimes
    if isinstance(array, pd.arrays.ArrowStringArray):
        import pyarrow as pa
        import pyarrow.compute as pc

        values = pa.array(array)
        found = pc.index_in(values, value_set=pa.array(_REGIME_VALUES, type=values.type))
        return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.intp)
    values = np.asarray(array, dtype=object)
    codes = np.full(len(values), -1, dtype=np.intp)
    for code, label in enumerate(_REGIME_VALUES):
        codes[values == label] = code
    return codes


class Category(StrEnum):
    TREND_FOLLOWING = "trend_following"
    MOMENTUM = "momentum"
    BREAKOUT = "breakout"
    MEAN_REVERSION = "mean_reversion"
    VOLUME = "volume"
    MACD = "macd"
    VOLATILITY = "volatility"
    COMBO = "combo"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Rule:
    name: str
    category: Category
    condition: str
    bias: float
    weight: float = 1.0
    regimes: frozenset[Regime] = ALL_REGIMES
    compiled: Condition = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum():
            raise ValueError(f"rule name must be letters, digits and underscores, got {self.name!r}")
        if not -1.0 <= float(self.bias) <= 1.0:
            raise ValueError(f"rule {self.name}: bias must be in [-1, 1], got {self.bias!r}")
        if not float(self.weight) > 0:
            raise ValueError(f"rule {self.name}: weight must be > 0, got {self.weight!r}")
        if not self.regimes:
            raise ValueError(f"rule {self.name}: give at least one regime it may fire in")
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "regimes", frozenset(Regime(r) for r in self.regimes))
        try:
            object.__setattr__(self, "compiled", compile_condition(self.condition))
        except ConditionError as exc:
            raise ConditionError(f"rule {self.name}: {exc}") from None

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Rule:
        """From a params file: {name, category, condition, bias, weight?, regimes?}."""
        unknown = set(spec) - {"name", "category", "condition", "bias", "weight", "regimes"}
        if unknown:
            raise ValueError(f"rule {spec.get('name', '?')}: unknown key(s) {sorted(unknown)}; allowed: name, "
                             "category, condition, bias, weight, regimes")
        try:
            category = Category(spec.get("category", "custom"))
        except ValueError:
            raise ValueError(f"rule {spec.get('name', '?')}: category must be one of "
                             f"{[c.value for c in Category]}, got {spec.get('category')!r}") from None
        regimes = spec.get("regimes", [r.value for r in Regime])
        try:
            regimes = frozenset(Regime(r) for r in regimes)
        except ValueError:
            raise ValueError(f"rule {spec.get('name', '?')}: regimes must be among {[r.value for r in Regime]}, "
                             f"got {regimes!r}") from None
        return cls(spec["name"], category, spec["condition"], float(spec["bias"]), float(spec.get("weight", 1.0)),
                   regimes)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "category": self.category.value, "condition": self.condition,
                "bias": self.bias, "weight": self.weight, "regimes": sorted(r.value for r in self.regimes)}


@dataclass(frozen=True)
class RuleEvaluation:
    """Per bar: which rules fired, and the aggregate bias, confidence, direction and proposal."""

    index: pd.Index
    rule_names: tuple[str, ...]
    rule_bias: np.ndarray
    rule_weight: np.ndarray
    fired: np.ndarray          # (bars, rules) bool
    bias: np.ndarray
    confidence: np.ndarray
    direction: np.ndarray      # -1, 0, 1
    proposal: np.ndarray       # object array of Proposal values

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"bias": self.bias, "confidence": self.confidence, "direction": self.direction,
                             "proposal": self.proposal}, index=self.index)

    def fired_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.fired, index=self.index, columns=list(self.rule_names))

    def signal(self, i: int, features: Mapping[str, float] | None = None) -> Signal:
        """Bar ``i`` as a :class:`Signal` (``features``: the values worth recording beside it)."""
        hit = tuple((self.rule_names[j], float(self.rule_bias[j]), float(self.rule_weight[j]))
                    for j in np.flatnonzero(self.fired[i]))
        return Signal(Proposal(self.proposal[i]), float(self.bias[i]), float(self.confidence[i]),
                      int(self.direction[i]), hit, dict(features or {}))


class RuleSet:
    """An ordered set of uniquely named rules."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules: tuple[Rule, ...] = tuple(rules)
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"rule names must be unique; repeated: {duplicates}")
        if not self.rules:
            raise ValueError("a rule set needs at least one rule")
        self.names = tuple(names)
        self.bias = np.array([r.bias for r in self.rules])
        self.weight = np.array([r.weight for r in self.rules])
        self.columns = frozenset().union(*(r.compiled.columns for r in self.rules))
        self.lookback = max(r.compiled.lookback for r in self.rules)
        # row k: the rules eligible in regime k; the last row (code -1, no regime): none
        self._eligible = np.array([[reg in r.regimes for r in self.rules] for reg in _REGIMES]
                                  + [[False] * len(self.rules)], dtype=bool)

    def __iter__(self):
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def by_name(self, name: str) -> Rule:
        return self.rules[self.names.index(name)]

    def extended(self, rules: Iterable[Rule]) -> RuleSet:
        return RuleSet((*self.rules, *rules))

    def evaluate(self, features: pd.DataFrame, threshold: float) -> RuleEvaluation:
        """Every rule on every bar of ``features`` (feature columns plus ``regime``)."""
        self.check_columns(features.columns)
        columns = {c: features[c].to_numpy(dtype=np.float64) for c in self.columns}
        return self._evaluate(columns, regime_codes(features["regime"]), features.index, threshold)

    def evaluate_arrays(self, columns: Mapping[str, np.ndarray], regimes: np.ndarray, index: Any,
                        threshold: float) -> RuleEvaluation:
        """:meth:`evaluate` on plain arrays (float feature columns, object regimes), for callers that hold
        a few rows already (the live engine) and have checked the columns once."""
        return self._evaluate(columns, regime_codes(regimes), index, threshold)

    def _evaluate(self, columns: Mapping[str, np.ndarray], codes: np.ndarray, index: Any,
                  threshold: float) -> RuleEvaluation:
        """Whole arrays at once: each condition over every bar (subexpressions the rules share computed
        once), eligibility by regime code from a table, and the sums as matrix products."""
        n = len(codes)
        if n:
            shared: dict = {}
            condition = np.column_stack([r.compiled(columns, shared) for r in self.rules])
        else:
            condition = np.zeros((0, len(self.rules)), dtype=bool)
        eligible = self._eligible[codes]
        fired = condition & eligible
        # row sums in numpy's fixed order, not matrix products: BLAS splits a product differently by thread
        # count and by the number of rows, so the live engine's few rows and a backtest's thousands could
        # differ in the last bit, and a confidence at the threshold could decide differently
        fired_weight = _row_sums(fired, self.weight)
        eligible_weight = _row_sums(eligible, self.weight)
        with np.errstate(invalid="ignore", divide="ignore"):
            bias = np.where(fired_weight > 0, _row_sums(fired, self.bias * self.weight) / fired_weight, 0.0)
            confidence = np.where(eligible_weight > 0, fired_weight / eligible_weight, 0.0)
        direction = np.sign(bias).astype(int)
        proposal = _PROPOSALS[np.where(confidence >= threshold, direction, 0) + 1]
        return RuleEvaluation(index, self.names, self.bias, self.weight, fired, bias, confidence, direction,
                              proposal)

    def evaluate_latest(self, window: pd.DataFrame, threshold: float) -> RuleEvaluation:
        """The live form: the same evaluation on the last ``lookback + 1`` rows; its last row is the bar."""
        return self.evaluate(window.iloc[-(self.lookback + 1):], threshold)

    def check_columns(self, available: Iterable[str]) -> None:
        available = set(available)
        if "regime" not in available:
            raise ConditionError("rules need a 'regime' column beside the features (autobot_lib.pipeline.features)")
        for rule in self.rules:
            try:
                rule.compiled.check_columns(available)
            except ConditionError as exc:
                raise ConditionError(f"rule {rule.name}: {exc}") from None


def _row_sums(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, the sum of ``values`` where ``mask`` holds: the same bits whatever the number of rows or
    threads (an elementwise product, then numpy's pairwise sum along each row)."""
    return np.where(mask, values, 0.0).sum(axis=1)
