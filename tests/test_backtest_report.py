"""Backtest reports and the autobot backtest command, as a user gets them."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from autobot_lib.backtest import run_backtest
from autobot_lib.backtest.report import generate_report, save_report, write_backtest_report
from autobot_lib.config import load_settings
from conftest import AUTOBOT, data_dir, real
from test_report import chromium


def test_excel_summary_round_trip(tmp_path):
    trades = pd.DataFrame({"pnl": [10.0, -5.0], "r_multiple": [1.0, -0.5], "fees": [1.0, 1.0], "funding": [0.0, 0.2],
                           "entry_time": pd.to_datetime(["2025-01-01", "2025-01-02"], utc=True),
                           "exit_time": pd.to_datetime(["2025-01-01 05:00", "2025-01-02 03:00"], utc=True)})
    df = generate_report(trades, initial_equity=1000)
    assert df.shape[0] == 1 and df.loc[0, "trades"] == 2 and df.loc[0, "final_equity"] == 1005
    back = pd.read_excel(save_report(df, tmp_path / "r.xlsx"))
    assert list(back.columns) == list(df.columns)  # index=False: no extra column
    assert back.loc[0, "profit_factor"] == pytest.approx(2.0)


def test_report_files_and_page(tmp_path):
    bars = {"ETHUSDT": real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-6000:]}
    result = run_backtest(bars, load_settings(env_file=None, ACTIVATION_THRESHOLD=0.45, MAX_DRAWDOWN=1.0))
    paths = write_backtest_report(result, bars, tmp_path)
    trades = pd.read_csv(paths["trades"], parse_dates=["entry_time", "exit_time"])
    assert len(trades) == len(result.trades) and trades["pnl"].sum() == pytest.approx(result.trades["pnl"].sum())
    assert len(pd.read_csv(paths["equity"])) == 6000
    dom = chromium(paths["html"], tmp_path, "--dump-dom")
    assert dom.count('class="main-svg"') >= 8                # equity, heatmap, funnel, trades chart
    assert "long entry" in dom and "initial stop" in dom and "By rule" in dom
    assert "halted_bars" in dom and pd.read_excel(paths["excel"]).loc[0, "halted_bars"] == 0


def test_halted_bars_are_counted_in_the_report(tmp_path):
    bars = {"BTCUSDT": real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-6000:]}
    settings = load_settings(env_file=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0,
                             donchian={"daily_loss_limit": 0.02, "risk_pct": 0.02})
    result = run_backtest(bars, settings)
    paths = write_backtest_report(result, bars, tmp_path)
    halted = pd.read_excel(paths["excel"]).loc[0, "halted_bars"]
    assert halted == result.equity["halted"].sum() > 0
    assert halted == (result.journal["timestamp"].isin(result.equity.index[result.equity["halted"]])).sum()


def test_backtest_command(tmp_path):
    out = subprocess.run([AUTOBOT, "-q", "backtest", "--symbols", "BTCUSDT", "--data",
                          str(data_dir() / "binance_usdm_BTCUSDT_1h.csv.gz"), "--funding",
                          str(data_dir() / "binance_usdm_BTCUSDT_funding.csv.gz"), "--from", "2025-06-01",
                          "--strategy", "donchian", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "strategy donchian, funding real rates" in out.stdout and "max drawdown" in out.stdout
    assert (tmp_path / "backtest.html").exists() and (tmp_path / "backtest_summary.xlsx").exists()
    bad = subprocess.run([AUTOBOT, "backtest", "--symbols", "BTCUSDT", "--data",
                          str(data_dir() / "binance_usdm_BTCUSDT_1h.csv.gz"), "--from", "2031-01-01"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "no BTCUSDT bars between" in bad.stderr
