"""One symbol's features, regime and signal per closed bar: the streaming form of the backtest's frame.

:meth:`LiveFeatures.update` returns the row :func:`autobot_lib.pipeline.build_features` would hold for
that bar (indicators from :class:`~autobot_lib.indicators.FeatureStream`, which equals the batch at every
bar; the regime from the same :func:`~autobot_lib.regime.classify`; ``regime_age`` and ``adx_prev``
counted the same way), and :meth:`LiveFeatures.signal` runs the strategy's ``evaluate_latest`` on the
last rows. So the live engine hands :func:`~autobot_lib.pipeline.decide` what the backtester hands it.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from autobot_lib.data.frame import OHLCV_COLUMNS
from autobot_lib.indicators import FeatureStream
from autobot_lib.model import Bar, MarketFilters, Signal
from autobot_lib.pipeline import Context, recorded_columns
from autobot_lib.regime import classify, to_regime

if TYPE_CHECKING:
    from autobot_lib.plan import Plan


class LiveFeatures:
    def __init__(self, plan: Plan, bar_length: pd.Timedelta = pd.Timedelta("1h")):
        """The streaming features and signal of ``plan`` (:class:`autobot_lib.plan.Plan`)."""
        self.spec, self.regime = plan.features, plan.regime
        self.strategy = plan.strategy
        self.recorded = recorded_columns(strategy=self.strategy)
        columns = {*OHLCV_COLUMNS, *self.spec.columns, "regime", "regime_code", "regime_age", "adx_prev"}
        if hasattr(self.strategy, "rules"):
            self.strategy.rules.check_columns(columns)       # once, not per bar
            self._inputs = sorted(self.strategy.rules.columns)
        else:
            self._inputs = ["close", self.strategy.upper, self.strategy.lower]
        self.bar_length = bar_length
        self.stream = FeatureStream(self.spec)
        self.rows: deque[dict[str, Any]] = deque(maxlen=max(self.strategy.lookback, 0) + 1)
        self.index: deque[pd.Timestamp] = deque(maxlen=self.rows.maxlen)
        # (bar open, close) over the correlation veto's window: what the backtester reads from its arrays
        self.closes: deque[tuple[pd.Timestamp, float]] = deque(maxlen=plan.risk.correlation_window + 1)
        self._last_code = math.nan
        self._run = 0
        self._adx_prev = math.nan
        self.bars = 0

    @property
    def warm(self) -> bool:
        """Every feature is defined (before that the pipeline answers ``warmup``)."""
        return self.bars >= self.spec.warmup_bars

    @property
    def last_timestamp(self) -> pd.Timestamp | None:
        return self.index[-1] if self.index else None

    def update(self, bar: Bar) -> dict[str, Any]:
        """Take one closed bar; return its feature row."""
        values = self.stream.update(bar.open, bar.high, bar.low, bar.close, bar.volume)
        code = float(classify(values["adx"], bar.close, values[self.regime.ema_column], values["rsi"], self.regime))
        known = code == code
        same = (code == self._last_code) or (not known and self._last_code != self._last_code)
        self._run = self._run + 1 if same and self.bars else 1
        self._last_code = code
        regime = to_regime(code)
        row = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close, "volume": bar.volume, **values,
               "regime": regime.value if regime else None, "regime_code": code,
               "regime_age": self._run if known else 0, "adx_prev": self._adx_prev}
        self._adx_prev = values["adx"]
        self.rows.append(row)
        self.index.append(bar.timestamp)
        self.closes.append((bar.timestamp, bar.close))
        self.bars += 1
        return row

    def signal(self) -> Signal:
        """The strategy's verdict on the last bar (its rules on the last ``lookback + 1`` rows, as arrays)."""
        rows = self.rows
        columns = {c: np.array([r[c] for r in rows], dtype=np.float64) for c in self._inputs}
        columns["regime"] = np.array([r["regime"] for r in rows], dtype=object)
        evaluation = self.strategy.evaluate_arrays(columns, tuple(self.index))
        row = rows[-1]
        return evaluation.signal(len(rows) - 1, {c: float(row[c]) for c in self.recorded})

    def context(self, filters: MarketFilters = MarketFilters(), correlations: dict[str, float] | None = None,
                exit_channel: int = 0) -> Context:
        """The decision context of the last bar."""
        return Context.from_row(self.index[-1], self.rows[-1], self.bar_length, filters, correlations, exit_channel)


def aligned_closes(features: dict[str, LiveFeatures], symbols, at: pd.Timestamp, bar_length: pd.Timedelta,
                   window: int) -> dict[str, np.ndarray]:
    """Each symbol's closes at the ``window`` + 1 bars up to ``at`` on one timeline (NaN where a bar is
    missing): the correlation veto's input, as the backtester reads it from its arrays."""
    bars = [at - k * bar_length for k in range(window, -1, -1)]
    out = {}
    for s in symbols:
        known = dict(features[s].closes)
        out[s] = np.array([known.get(t, math.nan) for t in bars], dtype=np.float64)
    return out
