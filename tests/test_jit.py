"""The live bot's kernels run interpreted (AUTOBOT_JIT=0, what ``autobot live`` sets); the backtester's run
compiled. Same source, two executors: here they must give the same trades, equity, journal and features,
and the interpreted live engine (DRY_RUN, two symbols) must trade as the compiled backtester does.

The interpreted side runs in its own process, since the choice is made once, at import."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autobot_lib import _jit
from autobot_lib.backtest import run_backtest
from autobot_lib.config import load_settings
from autobot_lib.pipeline import build_features, journal_history
from autobot_lib.plan import compile_plan
from conftest import real, real_funding
from parity import backtest, backtest_decisions, backtest_trades

TESTS = Path(__file__).resolve().parent
STREAMED = {"autobot": dict(ACTIVATION_THRESHOLD=0.45), "donchian": dict(STRATEGY="donchian")}
LIVE_BARS = 300


def loop_cases():
    """Backtests that between them take every branch of the loop: funding, pyramiding, the exit channel,
    the take-profit ladder with maker targets and ATR slippage, two symbols with different spans,
    liquidations, a warm-up-only start, and daily-loss halts."""
    btc = real("binance_usdm_BTCUSDT_1h.csv.gz")
    eth = real("binance_usdm_ETHUSDT_1h.csv.gz")
    funding = {"BTCUSDT": real_funding("binance_usdm_BTCUSDT_funding.csv.gz")}
    return {
        "autobot, funding": (btc.iloc[-6000:], dict(ACTIVATION_THRESHOLD=0.45, MAX_DRAWDOWN=1.0), dict(funding=funding)),
        "donchian, exit channel, pyramiding": (btc.iloc[-6000:], dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "use_exit_channel": True, "enable_pyramiding": True}), {}),
        "take-profit ladder, maker targets, ATR slippage": (btc.iloc[-6000:], dict(
            ACTIVATION_THRESHOLD=0.45, MAX_DRAWDOWN=1.0, TP_LADDER=[[1.0, 0.5], [2.0, 0.5]], TP_AS_MAKER=True,
            SLIPPAGE_ATR=0.05), {}),
        "two symbols, different spans": ({"BTCUSDT": btc.iloc[-5000:], "ETHUSDT": eth.iloc[-4200:-300]}, dict(
            ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=2, MAX_DRAWDOWN=1.0), {}),
        "20x leverage: liquidations": (btc.iloc[:9000], dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "leverage": 20, "atr_stop_k": 15}), {}),
        "warm-up only (trade_from)": (btc.iloc[-3000:], dict(ACTIVATION_THRESHOLD=0.45, MAX_DRAWDOWN=1.0),
                                      dict(trade_from=btc.index[-1500])),
        "daily-loss halts": (btc.iloc[-6000:], dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={
            "daily_loss_limit": 0.02, "risk_pct": 0.02}), {}),
    }

INTERPRETED = textwrap.dedent("""
    import pickle, sys
    from autobot_lib import _jit
    import autobot_lib.live.engine, autobot_lib.live.launch, autobot_lib.live.session, autobot_lib.live.feed
    from autobot_lib.backtest import run_backtest
    from autobot_lib.config import load_settings
    from autobot_lib.live.features import LiveFeatures
    from autobot_lib.model import Account, Bar
    from autobot_lib.pipeline import decide
    from autobot_lib.plan import compile_plan
    import asyncio
    from conftest import real
    from parity import decisions, live_trades, paper_session
    from test_jit import LIVE_BARS, STREAMED, loop_cases
    from test_parity import CASES, SYMBOLS

    def frames(result):
        return {"trades": result.trades, "equity": result.equity, "journal": result.journal}

    out = {"jit": _jit.ENABLED, "backtests": {}, "streamed": {}, "live": {}}
    for case, (bars, overrides, kwargs) in loop_cases().items():
        settings = load_settings(env_file=None, config_json=None, **overrides)
        out["backtests"][case] = frames(run_backtest(bars, settings, **kwargs))
    for case, overrides in CASES.items():
        settings = load_settings(env_file=None, config_json=None, **overrides)
        engine, _ = asyncio.run(paper_session(settings, SYMBOLS, LIVE_BARS))
        out["live"][case] = {"decisions": decisions(engine.journal), "trades": live_trades(engine),
                             "equity": list(engine.equity)}
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    for name, overrides in STREAMED.items():
        settings = load_settings(env_file=None, config_json=None, **overrides)
        plan = compile_plan(settings)
        live, params = LiveFeatures(plan), plan.risk
        account = Account(10_000.0, 10_000.0, 10_000.0, 10_000.0)
        rows, records = [], []
        for t, b in bars.iterrows():
            rows.append(live.update(Bar(t, b.open, b.high, b.low, b.close, b.volume)))
            records.append(decide("ETHUSDT", live.context(exit_channel=params.exit_channel), live.signal(), account,
                                  params, live.strategy.name).record.to_dict())
        out["streamed"][name] = {"rows": rows, "records": records}
    out["compilers"] = sorted(m for m in sys.modules if m.split(".")[0] in ("numba", "llvmlite"))
    with open(sys.argv[1], "wb") as f:
        pickle.dump(out, f)
""")


@pytest.fixture(scope="module")
def interpreted(tmp_path_factory):
    path = tmp_path_factory.mktemp("interpreted") / "out.pickle"
    env = {**os.environ, "AUTOBOT_JIT": "0", "PYTHONPATH": str(TESTS)}
    run = subprocess.run([sys.executable, "-c", INTERPRETED, str(path)], env=env, cwd=TESTS.parent,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return pickle.loads(path.read_bytes())


def test_this_process_compiles_and_the_interpreted_one_never_loads_numba(interpreted):
    assert _jit.ENABLED and "numba" in sys.modules
    assert interpreted["jit"] is False
    assert interpreted["compilers"] == []      # the whole live stack, a backtest and the streams: no numba, no LLVM


@pytest.mark.parametrize("case", list(loop_cases()))
def test_interpreted_backtests_equal_compiled_ones_exactly(interpreted, case):
    """The backtester's loop, interpreted, against itself compiled, to the last bit."""
    bars, overrides, kwargs = loop_cases()[case]
    compiled = run_backtest(bars, load_settings(env_file=None, config_json=None, **overrides), **kwargs)
    got = interpreted["backtests"][case]
    assert len(compiled.trades) > 20
    pd.testing.assert_frame_equal(got["trades"], compiled.trades, check_exact=True)
    pd.testing.assert_frame_equal(got["equity"], compiled.equity, check_exact=True)
    pd.testing.assert_frame_equal(got["journal"], compiled.journal, check_exact=True)
    if "liquidations" in case:
        assert (compiled.trades["exit_reason"] == "liquidation").sum() > 0
    if "halts" in case:
        assert compiled.equity["halted"].sum() > 0


@pytest.mark.parametrize("case", ["autobot", "donchian"])
def test_the_interpreted_live_engine_trades_as_the_compiled_backtester(interpreted, case):
    """The live bot as it runs (interpreted, DRY_RUN on the paper broker, two symbols, one account) against
    the compiled backtester: every decision, and every trade to the exchange's reporting precision."""
    from test_parity import CASES, SYMBOLS

    settings = load_settings(env_file=None, config_json=None, **CASES[case])
    got = interpreted["live"][case]

    class Replayed:                  # what parity.backtest reads of an engine
        def __init__(self):
            from autobot_lib.live.features import LiveFeatures
            self.features = {s: LiveFeatures(compile_plan(settings)) for s in SYMBOLS}

    result = backtest(Replayed(), settings, SYMBOLS, LIVE_BARS)
    assert got["decisions"] == backtest_decisions(result)
    model = backtest_trades(result)
    assert len(model) >= 4 and len(got["trades"]) == len(model)
    for column in ["symbol", "side", "qty", "entry_time", "exit_bar", "entry_price", "exit_reason", "bars_held"]:
        assert got["trades"][column].tolist() == model[column].tolist(), column
    for column in ["exit_price", "fees", "funding", "pnl", "r_multiple"]:
        assert np.allclose(got["trades"][column], model[column], rtol=1e-9, atol=1e-6), column


@pytest.mark.parametrize("name", list(STREAMED))
def test_interpreted_streams_equal_the_compiled_batch_bar_by_bar(interpreted, name):
    settings = load_settings(env_file=None, config_json=None, **STREAMED[name])
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    plan = compile_plan(settings)
    batch = build_features(bars, plan.features, plan.regime)
    expected = journal_history(bars, "ETHUSDT", plan, equity=10_000.0)
    got = interpreted["streamed"][name]
    compared = 0
    for i, row in enumerate(got["rows"]):
        for column in batch.columns:
            want = batch.iloc[i][column]
            if isinstance(want, float) and want != want:                    # warming up
                assert row[column] is None or row[column] != row[column], (i, column)
            else:
                assert row[column] == want, (i, column, row[column], want)
                compared += 1
        assert got["records"][i] == expected[i].to_dict(), i
    assert compared > 2000 * len(batch.columns) // 2
    assert {"warmup", "order"} <= {r["outcome"] for r in got["records"]}
