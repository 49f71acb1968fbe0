"""The live bot's kernels run interpreted (AUTOBOT_JIT=0, what ``autobot live`` sets); the backtester's run
compiled. Same source, two executors: here they must give the same trades, equity, journal and features.

The interpreted side runs in its own process, since the choice is made once, at import."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from autobot_lib import _jit
from autobot_lib.backtest import run_backtest
from autobot_lib.config import load_settings
from autobot_lib.pipeline import build_features, feature_spec, journal_history, regime_params
from conftest import real
from reference_backtest import reference_backtest
from test_backtest import _oracle_cases

TESTS = Path(__file__).resolve().parent
STREAMED = {"autobot": dict(ACTIVATION_THRESHOLD=0.45), "donchian": dict(STRATEGY="donchian")}

INTERPRETED = textwrap.dedent("""
    import pickle, sys
    from autobot_lib import _jit
    import autobot_lib.live.engine, autobot_lib.live.launch, autobot_lib.live.session, autobot_lib.live.feed
    from autobot_lib.backtest import run_backtest
    from autobot_lib.config import load_settings
    from autobot_lib.live.features import LiveFeatures
    from autobot_lib.model import Account, Bar
    from autobot_lib.pipeline import decide
    from autobot_lib.risk.params import risk_params
    from conftest import real
    from reference_backtest import reference_backtest
    from test_backtest import _oracle_cases
    from test_jit import STREAMED

    def frames(result):
        return {"trades": result.trades, "equity": result.equity, "journal": result.journal}

    out = {"jit": _jit.ENABLED, "backtests": {}, "streamed": {}}
    for case, (bars, overrides, kwargs) in _oracle_cases().items():
        settings = load_settings(env_file=None, config_json=None, **overrides)
        out["backtests"][case] = {"loop": frames(run_backtest(bars, settings, **kwargs)),
                                  "decide": frames(reference_backtest(bars, settings, **kwargs))}
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    for name, overrides in STREAMED.items():
        settings = load_settings(env_file=None, config_json=None, **overrides)
        live, params = LiveFeatures(settings), risk_params(settings)
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


@pytest.mark.parametrize("case", list(_oracle_cases()))
@pytest.mark.parametrize("path", ["loop", "decide"])
def test_interpreted_backtests_equal_compiled_ones_exactly(interpreted, case, path):
    """``loop``: the backtester's own loop; ``decide``: a bar-by-bar backtest calling
    :func:`autobot_lib.pipeline.decide` (the live engine's entry point). Each, interpreted, against itself
    compiled, to the last bit."""
    bars, overrides, kwargs = _oracle_cases()[case]
    backtest = run_backtest if path == "loop" else reference_backtest
    compiled = backtest(bars, load_settings(env_file=None, config_json=None, **overrides), **kwargs)
    got = interpreted["backtests"][case][path]
    assert len(compiled.trades) > 20
    pd.testing.assert_frame_equal(got["trades"], compiled.trades, check_exact=True)
    pd.testing.assert_frame_equal(got["equity"], compiled.equity, check_exact=True)
    pd.testing.assert_frame_equal(got["journal"], compiled.journal, check_exact=True)


@pytest.mark.parametrize("name", list(STREAMED))
def test_interpreted_streams_equal_the_compiled_batch_bar_by_bar(interpreted, name):
    settings = load_settings(env_file=None, config_json=None, **STREAMED[name])
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-2500:]
    batch = build_features(bars, feature_spec(settings), regime_params(settings))
    expected = journal_history(bars, "ETHUSDT", settings, equity=10_000.0)
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
