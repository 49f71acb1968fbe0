"""The synthetic demo market: seeded, labelled, and shaped like a market (regimes, clustering, tails)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from autobot_lib.data import label, synthetic_ohlcv, validate_frame
from autobot_lib.data.synthetic import synthetic_regimes
from autobot_lib.regime import detect_regimes


def test_same_seed_same_market_and_labelled():
    a, b = synthetic_ohlcv(3000, seed=3), synthetic_ohlcv(3000, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not synthetic_ohlcv(3000, seed=4)["close"].equals(a["close"])
    assert a.attrs["synthetic"] is True
    assert label(a, "BTCUSDT 1h").endswith("[SYNTHETIC DATA]")


def test_bars_are_valid_and_gap_free():
    frame = synthetic_ohlcv(5000, "15m")
    report = validate_frame(frame)
    assert report.ok and not report.gaps and report.timeframe == "15m"


def test_stylised_facts():
    frame = synthetic_ohlcv(8000)
    r = np.log(frame["close"]).diff().dropna()
    assert r.abs().autocorr(1) > 0.1      # volatility clusters
    assert abs(r.autocorr(1)) < 0.1       # returns themselves are close to unpredictable
    assert r.kurt() > 3.0                 # fat tails (normal: 0 excess kurtosis)
    hidden = synthetic_regimes(8000)
    assert set(np.unique(hidden)) == {0, 1, 2}
    detected = detect_regimes(frame).dropna().astype(str).unique()
    assert set(detected) == {"BULL_TREND", "BEAR_TREND", "RANGE"}


def test_trending_regimes_drift_their_way():
    frame = synthetic_ohlcv(20000)
    hidden = synthetic_regimes(20000)
    r = np.log(frame["close"]).diff().fillna(0).to_numpy()
    assert r[hidden == 0].mean() > 0 > r[hidden == 1].mean()
