"""Indicator speed against TA-Lib, measured in one run on the same real bars.

    python bench/indicators.py [--file binance_usdm_BTCUSDT_1h.csv.gz] [--repeat 30]

Batch: bars per second of our public API (a pandas frame in, a frame out) and of TA-Lib's functions on
the same numpy arrays, best of --repeat runs, after a warm-up that excludes numba's compile time. The
feature-set line compares one `compute_features` call with the TA-Lib calls that give the same columns.
Streaming: microseconds per bar for a whole `FeatureStream` update (every feature of one symbol) and
for the regime stream, over every bar of the file. Targets (issue 2): batch within 2x of TA-Lib;
a streaming update of the whole set under 50 us per bar.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import talib

from autobot_lib import indicators as ind
from autobot_lib.data import load_ohlcv
from autobot_lib.regime import RegimeStream

DATA = Path(os.environ.get("AUTOBOT_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data" / "ohlcv"))


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", default="binance_usdm_BTCUSDT_1h.csv.gz")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    path = DATA / args.file
    if not path.exists():
        print(f"data not found: {path} (set AUTOBOT_TEST_DATA)", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = load_ohlcv(path)
    n = len(frame)
    o, h, l, c, v = (frame[k].to_numpy(dtype=np.float64) for k in ("open", "high", "low", "close", "volume"))
    print(f"{args.file}: {n} bars; best of {args.repeat} runs after warm-up\n")

    cases = [
        ("RSI 14", lambda: ind.RSI(14).batch(frame), lambda: talib.RSI(c, 14)),
        ("EMA 21", lambda: ind.EMA(21).batch(frame), lambda: talib.EMA(c, 21)),
        ("SMA 20", lambda: ind.SMA(20).batch(frame), lambda: talib.SMA(c, 20)),
        ("MACD 12/26/9", lambda: ind.MACD().batch(frame), lambda: talib.MACD(c, 12, 26, 9)),
        ("BBANDS 20/2", lambda: ind.BBANDS().batch(frame), lambda: talib.BBANDS(c, 20, 2.0, 2.0)),
        ("ATR 14", lambda: ind.ATR(14).batch(frame), lambda: talib.ATR(h, l, c, 14)),
        ("ADX/+DI/-DI 14", lambda: ind.ADX(14).batch(frame),
         lambda: (talib.ADX(h, l, c, 14), talib.PLUS_DI(h, l, c, 14), talib.MINUS_DI(h, l, c, 14))),
        ("Donchian 20", lambda: ind.DONCHIAN(20).batch(frame), lambda: (talib.MAX(h, 20), talib.MIN(l, 20))),
        ("volume SMA 20", lambda: ind.VOLUME_SMA(20).batch(frame), lambda: talib.SMA(v, 20)),
    ]

    def talib_feature_set():
        talib.RSI(c, 14)
        for p in (9, 21, 50, 200):
            talib.EMA(c, p)
        talib.MACD(c, 12, 26, 9)
        talib.BBANDS(c, 20, 2.0, 2.0)
        talib.ATR(h, l, c, 14)
        talib.ADX(h, l, c, 14), talib.PLUS_DI(h, l, c, 14), talib.MINUS_DI(h, l, c, 14)
        for p in (20, 10):
            talib.MAX(h, p), talib.MIN(l, p)
        talib.SMA(v, 20)

    cases.append(("feature set (22 columns)", lambda: ind.compute_features(frame), talib_feature_set))

    print(f"{'batch':26s} {'ours Mbar/s':>12s} {'TA-Lib Mbar/s':>14s} {'ours/TA-Lib time':>17s}")
    worst = 0.0
    for name, ours, ref in cases:
        t_ours, t_ref = best(ours, args.repeat), best(ref, args.repeat)
        ratio = t_ours / t_ref
        worst = max(worst, ratio) if name.startswith("feature") else worst
        print(f"{name:26s} {n / t_ours / 1e6:12.1f} {n / t_ref / 1e6:14.1f} {ratio:16.2f}x")

    bars = list(frame.itertuples(index=False))
    stream = ind.FeatureStream()
    for bar in bars[:1000]:
        stream.update(*bar)
    stream = ind.FeatureStream()
    t = time.perf_counter()
    for bar in bars:
        stream.update(*bar)
    per_bar = (time.perf_counter() - t) / n * 1e6
    regime = RegimeStream()
    t = time.perf_counter()
    for bar in bars:
        regime.update(*bar)
    regime_per_bar = (time.perf_counter() - t) / n * 1e6
    print(f"\nstreaming: whole feature set {per_bar:.1f} us per bar per symbol (target < 50 us), "
          f"regime stream {regime_per_bar:.1f} us per bar")
    print(f"feature set batch vs TA-Lib: {worst:.2f}x (target <= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
