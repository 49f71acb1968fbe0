"""Walk-forward and scale-out: folds by hand, Dask (a real LocalCluster) equals in-process, the commands."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from autobot_lib.backtest.walkforward import grid_combinations, make_folds, train_test_split, walk_forward
from autobot_lib.config import load_settings
from conftest import AUTOBOT, data_dir, free_port, real


def test_folds_by_hand():
    index = pd.date_range("2025-01-01", periods=1000, freq="1h", tz="UTC")
    rolling = make_folds(index, train_bars=400, test_bars=200)
    assert [(index.get_loc(f.train_start), index.get_loc(f.train_end), index.get_loc(f.test_start),
             index.get_loc(f.test_end)) for f in rolling] == [(0, 399, 400, 599), (200, 599, 600, 799),
                                                             (400, 799, 800, 999)]
    anchored = make_folds(index, train_bars=400, test_bars=200, anchored=True)
    assert all(f.train_start == index[0] for f in anchored) and len(anchored) == 3
    split = train_test_split(index, 0.7)
    assert index.get_loc(split.test_start) == 700 and split.test_end == index[-1]
    with pytest.raises(ValueError, match="too few"):
        make_folds(index[:300], 400, 200)
    assert grid_combinations({"A": [1, 2], "donchian.atr_stop_k": [1.2, 2.0]}) == [
        {"A": 1, "donchian.atr_stop_k": 1.2}, {"A": 1, "donchian.atr_stop_k": 2.0},
        {"A": 2, "donchian.atr_stop_k": 1.2}, {"A": 2, "donchian.atr_stop_k": 2.0}]


def test_walk_forward_on_a_local_dask_cluster_equals_in_process():
    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-9000:]
    settings = load_settings(env_file=None, MAX_DRAWDOWN=1.0)
    folds = make_folds(bars.index, 4000, 1500)
    grid = {"ACTIVATION_THRESHOLD": [0.4, 0.6], "donchian.atr_stop_k": [1.2]}
    local = walk_forward(bars, settings, grid, folds, scheduler="sync", progress=False)
    dask = walk_forward(bars, settings, grid, folds, scheduler=None, progress=False)
    pd.testing.assert_frame_equal(local.folds, dask.folds)
    pd.testing.assert_series_equal(local.oos_equity, dask.oos_equity)
    # the stitched curve covers exactly the test windows, compounding from 10,000
    assert local.oos_equity.index[0] == folds[0].test_start and local.oos_equity.index[-1] == folds[-1].test_end
    assert local.oos_equity.iloc[0] == pytest.approx(10_000)
    assert set(local.stability.index) == {"ACTIVATION_THRESHOLD", "donchian.atr_stop_k"}
    assert local.stability.loc["donchian.atr_stop_k", "share_of_folds"] == 1.0


def test_walkforward_and_sweep_commands(tmp_path):
    data = str(data_dir() / "binance_usdm_ETHUSDT_1h.csv.gz")
    wf = subprocess.run([AUTOBOT, "-q", "walkforward", "--symbols", "ETHUSDT", "--data", data, "--from", "2025-06-01",
                         "--grid", "ACTIVATION_THRESHOLD=0.4,0.5", "--train-bars", "3000", "--test-bars", "1000",
                         "--scheduler", "sync", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert wf.returncode == 0, wf.stderr
    assert "out of sample:" in wf.stdout and "share_of_folds" in wf.stdout
    assert (tmp_path / "walkforward.html").exists() and (tmp_path / "walkforward_folds.csv").exists()
    sw = subprocess.run([AUTOBOT, "-q", "sweep", "--symbols", "ETHUSDT", "--data", data, "--entries", "20", "55",
                         "--exits", "10", "20", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert sw.returncode == 0, sw.stderr
    assert len(pd.read_csv(tmp_path / "sweep.csv")) == 4 and "Heatmap" in (tmp_path / "sweep.html").read_text()
    bad = subprocess.run([AUTOBOT, "-q", "sweep", "--symbols", "ETHUSDT", "--data", data, "--scheduler",
                          f"tcp://127.0.0.1:{free_port()}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "cannot reach the Dask scheduler" in bad.stderr
