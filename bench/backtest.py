"""Backtest speed on the real USD-M BTCUSDT 1h bars, against peer tools in the same run.

    python bench/backtest.py [--repeat 3]

1. The full AUTOBOT pipeline (features, regimes, rules, gate, vetoes, sizing, exits, journal) through
   ``run_backtest``: bars per second once warm (target: 1,500,000).
2. A plain Donchian 20/10 breakout through the same engine, through backtesting.py (the same rule, same
   bars: the trades are compared), both as a textbook strategy (``self.I`` channels) and as a lean one
   (channels precomputed as numpy arrays, ``next`` only indexes them), and through vectorbt's signal path
   (``Portfolio.from_signals`` on the same entry/exit signals, filled at the next open): seconds and
   ratios (target: 20x faster than the lean backtesting.py). The engine's journal (a full record per bar)
   is built when first read, so it is timed on its own line (target: under 0.2 s).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TQDM_DISABLE", "1")  # before anything imports tqdm: backtesting.py's bar garbles the figures
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import vectorbt as vbt

from autobot_lib.backtest import run_backtest
from autobot_lib.config import load_settings
from autobot_lib.data import load_ohlcv
from peers import backtesting_py_donchian, plain_donchian_settings, same_trades

DATA = Path(os.environ.get("AUTOBOT_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"))


def best(fn, repeat: int) -> tuple[float, object]:
    result = fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def first_read(result) -> float:
    started = time.perf_counter()
    result.journal  # noqa: B018 (a cached property: this read builds it)
    return time.perf_counter() - started


def vectorbt_donchian(bars: pd.DataFrame) -> tuple[float, int]:
    high, low, close = bars["high"], bars["low"], bars["close"]
    up, down = high.rolling(20).max().shift(1), low.rolling(20).min().shift(1)
    exit_up, exit_down = high.rolling(10).max().shift(1), low.rolling(10).min().shift(1)
    # decided on the close, filled at the next open: shift the signals one bar and fill at the open
    entries, exits = (close > up).shift(1, fill_value=False), (close < exit_down).shift(1, fill_value=False)
    short_entries, short_exits = (close < down).shift(1, fill_value=False), (close > exit_up).shift(1, fill_value=False)

    def run():
        return vbt.Portfolio.from_signals(close, entries, exits, short_entries=short_entries, short_exits=short_exits,
                                          price=bars["open"], size=1.0, upon_opposite_entry="ignore", init_cash=1e12,
                                          fees=0.0, freq="1h")
    run()
    started = time.perf_counter()
    portfolio = run()
    return time.perf_counter() - started, int(portfolio.trades.count())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--file", default="binance_usdm_BTCUSDT_1h.csv.gz")
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bars = load_ohlcv(DATA / args.file)
        n = len(bars)
        print(f"{args.file}: {n} bars; best of {args.repeat} runs after a warm-up\n")

        t_auto, auto = best(lambda: run_backtest(bars, load_settings(env_file=None, config_json=None)), args.repeat)
        print(f"AUTOBOT full pipeline      {t_auto:7.3f} s  {n / t_auto:>10,.0f} bars/s  ({len(auto.trades)} trades; "
              f"target 1,500,000 bars/s: {'met' if n / t_auto >= 1.5e6 else 'NOT met'})")

        settings = plain_donchian_settings()
        t_ours, ours = best(lambda: run_backtest(bars, settings, equity=1e6), args.repeat)
        theirs, _, _ = backtesting_py_donchian(bars)
        t_bt = min(backtesting_py_donchian(bars)[2] for _ in range(args.repeat))
        lean, _, _ = backtesting_py_donchian(bars, lean=True)
        t_lean = min(backtesting_py_donchian(bars, lean=True)[2] for _ in range(args.repeat))
        t_vbt, vbt_trades = vectorbt_donchian(bars)
        a, b = same_trades(ours.trades, theirs)
        same = len(a) == len(b) and (a[["entry_time", "exit_time", "long"]].to_numpy() ==
                                     b[["entry_time", "exit_time", "long"]].to_numpy()).all() and \
            np.allclose(a[["entry_price", "exit_price"]], b[["entry_price", "exit_price"]], rtol=1e-12)
        _, c = same_trades(ours.trades, lean)
        same_lean = len(a) == len(c) and (a[["entry_time", "exit_time", "long"]].to_numpy() ==
                                          c[["entry_time", "exit_time", "long"]].to_numpy()).all() and \
            np.allclose(a[["entry_price", "exit_price"]], c[["entry_price", "exit_price"]], rtol=1e-12)
        # the journal is built on a result's first read: one read to warm up, then the best of fresh results
        rows = len(ours.journal)
        t_journal = min(first_read(run_backtest(bars, settings, equity=1e6)) for _ in range(args.repeat))
    print(f"Donchian 20/10, ours       {t_ours:7.3f} s  {n / t_ours:>10,.0f} bars/s  ({len(a)} trades)")
    print(f"  its journal, on first read {t_journal:5.3f} s  ({rows} rows; target < 0.2 s: "
          f"{'met' if t_journal < 0.2 else 'NOT met'})")
    print(f"Donchian 20/10, backtesting.py {t_bt:7.3f} s  {n / t_bt:>10,.0f} bars/s  ({len(b)} trades; "
          f"same trades as ours: {'yes' if same else 'NO'})")
    print(f"Donchian 20/10, backtesting.py lean {t_lean:7.3f} s  {n / t_lean:>10,.0f} bars/s  ({len(c)} trades; "
          f"same trades as ours: {'yes' if same_lean else 'NO'})")
    print(f"Donchian 20/10, vectorbt   {t_vbt:7.3f} s  {n / t_vbt:>10,.0f} bars/s  ({vbt_trades} trades, signals only)")
    print(f"\nours vs lean backtesting.py: {t_lean / t_ours:.2f}x its speed (target >= 20x: "
          f"{'met' if t_lean / t_ours >= 20 else 'NOT met'}); vs textbook backtesting.py: {t_bt / t_ours:.2f}x; "
          f"vs vectorbt: {t_vbt / t_ours:.2f}x")
    from autobot_lib.backtest.sweep import sweep_donchian

    grid = dict(entries=range(10, 60, 5), exits=range(5, 55, 5))
    t_sweep, table = best(lambda: sweep_donchian({"BTCUSDT": bars}, **grid), args.repeat)
    print(f"sweep path: {len(table)} Donchian (entry, exit) combinations over {n} bars in {t_sweep:.2f} s "
          f"(target < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
