"""The vectorbt sweep path: a tidy grid in one call, and the same trades as the event-driven engine."""

from __future__ import annotations

import numpy as np
import pytest

from autobot_lib.backtest import run_backtest
from autobot_lib.backtest.sweep import donchian_trades, sweep_donchian
from bench.peers import plain_donchian_settings, same_trades
from conftest import real


def test_sweep_path_and_event_engine_give_the_same_trades():
    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-15000:]
    fast = donchian_trades(bars, 20, 10)
    engine = run_backtest(bars, plain_donchian_settings(), equity=1e6).trades
    theirs = fast.rename(columns={"entry_time": "EntryTime", "exit_time": "ExitTime", "entry_price": "EntryPrice",
                                    "exit_price": "ExitPrice"}).assign(Size=np.where(fast["long"], 1, -1))
    theirs["EntryTime"] = theirs["EntryTime"].dt.tz_localize(None)
    theirs["ExitTime"] = theirs["ExitTime"].dt.tz_localize(None)
    a, b = same_trades(engine, theirs)
    assert len(a) == len(b) > 300
    assert (a[["entry_time", "exit_time", "long"]].to_numpy() == b[["entry_time", "exit_time", "long"]].to_numpy()).all()
    np.testing.assert_allclose(a[["entry_price", "exit_price"]], b[["entry_price", "exit_price"]], rtol=1e-12)


def test_grid_across_symbols_is_one_tidy_frame():
    bars = {s: real(f"binance_usdm_{s}_1h.csv.gz").iloc[-4000:] for s in ("BTCUSDT", "ETHUSDT")}
    grid = sweep_donchian(bars, entries=(20, 55), exits=(10, 20, 30))
    assert len(grid) == 2 * 2 * 3 and set(grid["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert list(grid.columns[:3]) == ["entry", "exit", "symbol"]
    assert (grid["trades"] > 0).all() and grid["win_rate"].between(0, 1).all() and (grid["max_drawdown"] >= 0).all()
    one = sweep_donchian({"BTCUSDT": bars["BTCUSDT"]}, entries=(20,), exits=(10,)).iloc[0]
    assert one["trades"] == len(donchian_trades(bars["BTCUSDT"], 20, 10))
    with pytest.raises(ValueError, match="at least 2 bars"):
        sweep_donchian(bars, entries=(1,), exits=(10,))
