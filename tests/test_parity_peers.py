"""Independent implementations as oracles: backtesting.py runs the same plain Donchian 20/10 breakout on
the same real bars; trades must match, and our metrics must match its statistics on those trades."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from autobot_lib.backtest import run_backtest
from autobot_lib.backtest.metrics import trade_stats
from bench.peers import backtesting_py_donchian, plain_donchian_settings, same_trades
from conftest import real


@pytest.fixture(scope="module")
def both():
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-12000:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs, stats, _ = backtesting_py_donchian(bars)
    ours = run_backtest(bars, plain_donchian_settings(), equity=1e6)
    return ours, theirs, stats


def test_same_trades_as_backtesting_py(both):
    ours, theirs, _ = both
    a, b = same_trades(ours.trades, theirs)
    assert len(a) == len(b) > 200
    assert (a["entry_time"] == b["entry_time"]).all() and (a["exit_time"] == b["exit_time"]).all()
    assert (a["long"] == b["long"]).all()
    np.testing.assert_allclose(a["entry_price"], b["entry_price"], rtol=1e-12)
    np.testing.assert_allclose(a["exit_price"], b["exit_price"], rtol=1e-12)


def test_metrics_agree_with_backtesting_py_statistics(both):
    ours, theirs, stats = both
    t = ours.trades
    sign = np.where(t["side"] == "LONG", 1.0, -1.0)
    returns = pd.Series(sign * (t["exit_price"] / t["entry_price"] - 1))   # per unit, like its ReturnPct
    s = trade_stats(returns)
    assert s["trades"] == stats["# Trades"]
    assert s["win_rate"] * 100 == pytest.approx(stats["Win Rate [%]"])
    assert s["profit_factor"] == pytest.approx(stats["Profit Factor"])
    assert returns.max() * 100 == pytest.approx(stats["Best Trade [%]"])
    assert returns.min() * 100 == pytest.approx(stats["Worst Trade [%]"])
    # backtesting.py rounds the mean duration to the bar length
    assert (t["exit_time"] - t["entry_time"]).mean().round("1h") == stats["Avg. Trade Duration"]
