"""Live features equal the backtest's frame bar by bar, so decide() sees the same inputs live."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.live.features import LiveFeatures
from autobot_lib.model import Account, Bar
from autobot_lib.pipeline import build_features, decide, journal_history
from autobot_lib.plan import compile_plan
from conftest import real


@pytest.mark.parametrize("overrides", [dict(ACTIVATION_THRESHOLD=0.45), dict(STRATEGY="donchian")])
def test_streamed_rows_signals_and_decisions_equal_the_batch(overrides):
    settings = load_settings(env_file=None, config_json=None, **overrides)
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    plan = compile_plan(settings)
    batch = build_features(bars, plan.features, plan.regime)
    expected = journal_history(bars, "ETHUSDT", plan, equity=10_000.0)
    live = LiveFeatures(plan)
    params = plan.risk
    account = Account(10_000.0, 10_000.0, 10_000.0, 10_000.0)
    outcomes = []
    for i, (t, b) in enumerate(bars.iterrows()):
        row = live.update(Bar(t, b.open, b.high, b.low, b.close, b.volume))
        want = batch.iloc[i]
        for column in batch.columns:
            got, exp = row[column], want[column]
            if exp is None or (isinstance(exp, float) and np.isnan(exp)):   # warming up
                assert got is None or got != got, (i, column)
            else:
                assert got == exp or got == pytest.approx(exp, rel=1e-12, abs=1e-12), (i, column, got, exp)
        record = decide("ETHUSDT", live.context(exit_channel=params.exit_channel), live.signal(), account, params,
                        live.strategy.name).record
        assert record.to_dict() == expected[i].to_dict(), i
        outcomes.append(record.outcome)
    assert live.warm and {"warmup", "neutral", "order"} <= set(outcomes)   # every kind of bar was compared
    assert pd.Series(outcomes).str.startswith(("order", "gate:", "veto:")).sum() > 10
