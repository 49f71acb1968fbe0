"""One strategy interface for the pipeline: AUTOBOT's weighted rules, or the Donchian/ATR breakout.

A strategy turns the feature frame (see :func:`autobot_lib.pipeline.build_features`) into a
:class:`~autobot_lib.rules.rule.RuleEvaluation`: per bar, which rules fired, bias, confidence and the
proposal. ``evaluate`` runs over a whole history (backtest); ``evaluate_latest`` runs the same code on
the last ``lookback + 1`` rows (live). What happens next (gate, vetoes, sizing, exits) is the
pipeline's, the same for every strategy, except that a strategy says whether the ADX gate applies.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

import numpy as np
import pandas as pd

from autobot_lib.model import Proposal
from autobot_lib.rules.defaults import DEFAULT_RULES
from autobot_lib.rules.rule import RuleEvaluation, RuleSet


class Strategy(Protocol):
    name: str
    lookback: int
    uses_adx_gate: bool
    reads: frozenset[str]           # the feature columns its signal reads (the plan computes only what is read)

    def evaluate(self, features: pd.DataFrame) -> RuleEvaluation: ...

    def evaluate_latest(self, window: pd.DataFrame) -> RuleEvaluation: ...

    def evaluate_arrays(self, columns: Mapping[str, np.ndarray], index: Any) -> RuleEvaluation: ...


class RuleStrategy:
    """AUTOBOT: a rule set, aggregated and held against ACTIVATION_THRESHOLD."""

    name = "autobot"
    uses_adx_gate = True

    def __init__(self, rules: RuleSet = DEFAULT_RULES, threshold: float = 0.7):
        if not 0 < threshold <= 1:
            raise ValueError(f"activation threshold must be in (0, 1], got {threshold!r}")
        self.rules, self.threshold = rules, threshold
        self.lookback = rules.lookback
        self.reads = frozenset(rules.columns)

    def evaluate(self, features: pd.DataFrame) -> RuleEvaluation:
        return self.rules.evaluate(features, self.threshold)

    def evaluate_latest(self, window: pd.DataFrame) -> RuleEvaluation:
        return self.rules.evaluate_latest(window, self.threshold)

    def evaluate_arrays(self, columns: Mapping[str, np.ndarray], index: Any) -> RuleEvaluation:
        """The last ``lookback + 1`` rows as arrays (``regime`` an object array): the live engine's form."""
        return self.rules.evaluate_arrays(columns, columns["regime"], index, self.threshold)


_PROPOSALS = np.array([Proposal.PROPOSE_SHORT.value, Proposal.NEUTRAL.value, Proposal.PROPOSE_LONG.value], dtype=object)


class DonchianStrategy:
    """The Donchian/ATR bot: long when the close breaks above the channel of the previous N bars, short
    below it; full conviction when it fires, no ADX gate."""

    name = "donchian"
    uses_adx_gate = False
    lookback = 0

    def __init__(self, channel_len: int = 20):
        self.channel_len = channel_len
        self.upper, self.lower = f"dc_upper_{channel_len}", f"dc_lower_{channel_len}"
        self.reads = frozenset({"close", self.upper, self.lower})
        self.names = (f"DONCHIAN_{channel_len}_BREAKOUT_LONG", f"DONCHIAN_{channel_len}_BREAKOUT_SHORT")

    def evaluate(self, features: pd.DataFrame) -> RuleEvaluation:
        missing = {self.upper, self.lower, "close"} - set(features.columns)
        if missing:
            raise KeyError(f"the Donchian strategy needs feature columns {sorted(missing)}: include channel "
                           f"{self.channel_len} in FeatureSpec.donchian")
        return self.evaluate_arrays({c: features[c].to_numpy(dtype=np.float64) for c in ("close", self.upper, self.lower)},
                                    features.index)

    def evaluate_arrays(self, columns: Mapping[str, np.ndarray], index: Any) -> RuleEvaluation:
        close = columns["close"]
        with np.errstate(invalid="ignore"):
            up = close > columns[self.upper]
            down = close < columns[self.lower]
        direction = up.astype(int) - down.astype(int)
        bias = direction.astype(float)
        proposal = _PROPOSALS[direction + 1]      # shared labels, not one new string per bar
        return RuleEvaluation(index, self.names, np.array([1.0, -1.0]), np.array([1.0, 1.0]),
                              np.column_stack([up, down]), bias, (up | down).astype(float), direction, proposal)

    def evaluate_latest(self, window: pd.DataFrame) -> RuleEvaluation:
        return self.evaluate(window.iloc[-1:])
