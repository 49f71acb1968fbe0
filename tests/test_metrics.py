"""Metrics against hand-computed cases, and against backtesting.py's own statistics on the same trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autobot_lib.backtest.metrics import (
    breakdown, max_drawdown, periodic_returns, r_stats, report, sharpe_sortino, streaks, trade_stats,
)

PNL = pd.Series([100.0, -50.0, 200.0, -50.0, -100.0, 0.0, 150.0])


def test_trade_stats_by_hand():
    s = trade_stats(PNL)
    # wins 100, 200, 150 (3); losses -50, -50, -100 (3); one flat trade: 7 trades
    assert s["trades"] == 7 and s["win_rate"] == pytest.approx(3 / 7)
    assert s["avg_win"] == pytest.approx(150.0) and s["avg_loss"] == pytest.approx(200 / 3)
    assert s["payoff_ratio"] == pytest.approx(150 / (200 / 3))
    assert s["expectancy"] == pytest.approx(3 / 7 * 150 - 3 / 7 * 200 / 3)
    assert s["profit_factor"] == pytest.approx(450 / 200) and s["net_pnl"] == 250


def test_streaks_drawdown_and_sharpe_by_hand():
    assert streaks(pd.Series([1, 2, -1, -1, -1, 3, 0, 4, 5, 6])) == (3, 3)
    equity = pd.Series([100, 120, 90, 95, 130, 65, 70],
                       index=pd.date_range("2025-01-01", periods=7, freq="D", tz="UTC"), dtype=float)
    assert max_drawdown(equity) == pytest.approx(0.5)           # 130 -> 65
    daily = periodic_returns(equity, "D")
    assert daily.tolist() == pytest.approx([0.0, 0.2, -0.25, 95 / 90 - 1, 130 / 95 - 1, -0.5, 70 / 65 - 1])
    r = daily.to_numpy()
    sharpe, sortino = sharpe_sortino(daily)
    assert sharpe == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(365))
    assert sortino == pytest.approx(r.mean() / np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(365))
    monthly = periodic_returns(pd.Series([100.0, 110.0, 99.0], index=pd.DatetimeIndex(
        ["2025-01-15", "2025-01-31", "2025-02-10"], tz="UTC")), "ME")
    assert monthly.tolist() == pytest.approx([0.10, -0.10])


def test_r_stats_and_breakdowns():
    trades = pd.DataFrame({"pnl": [100.0, -50, 200, -50], "r_multiple": [1.0, -0.5, 2.0, -0.5],
                           "side": ["LONG", "SHORT", "LONG", "LONG"],
                           "entry_regime": ["BULL_TREND", "BEAR_TREND", "BULL_TREND", "RANGE"],
                           "entry_rules": ["A,B", "C", "A", "B"]})
    r = r_stats(trades["r_multiple"])
    assert r["mean_r"] == pytest.approx(0.5) and r["sqn"] == pytest.approx(2 * 0.5 / np.std([1, -0.5, 2, -0.5], ddof=1))
    sides = breakdown(trades, "side")
    assert sides.loc["LONG", "trades"] == 3 and sides.loc["LONG", "net_pnl"] == 250
    assert sides.loc["SHORT", "win_rate"] == 0
    rules = breakdown(trades, "rule")
    assert rules.loc["A", "trades"] == 2 and rules.loc["B", "net_pnl"] == 50 and rules.loc["C", "trades"] == 1
    assert breakdown(trades, "entry_regime").loc["BULL_TREND", "mean_r"] == pytest.approx(1.5)


def test_report_on_a_real_backtest_is_consistent():
    from autobot_lib.backtest import run_backtest
    from autobot_lib.config import load_settings
    from conftest import real

    result = run_backtest(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-8000:],
                          load_settings(env_file=None, ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0))
    m = report(result.trades, result.equity["equity"], result.initial_equity)
    assert m["trades"] == len(result.trades) > 30
    assert m["final_equity"] == pytest.approx(10_000 + m["net_pnl"])
    assert m["max_drawdown"] == pytest.approx(result.equity["drawdown"].max())
    assert m["max_win_streak"] >= 1 and m["max_loss_streak"] >= 1 and m["avg_holding_seconds"] > 0
