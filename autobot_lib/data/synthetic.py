"""A seeded synthetic market for demos when neither cached nor downloaded data is available.

It is built to look like crypto to the indicators, never to stand in for a market in research:
- regimes: a Markov chain over bull / bear / range with mean durations of days to weeks; trends drift,
  ranges mean-revert towards an anchor price;
- volatility clustering: GARCH(1, 1) variance;
- fat tails: Student-t innovations (4 degrees of freedom, scaled to unit variance);
- bars: open at the previous close, high and low from the absolute path extremes within the bar,
  volume rising with the size of the move.

Every frame it returns has ``attrs["synthetic"] = True``; titles built with
:func:`autobot_lib.data.frame.label` then say SYNTHETIC DATA.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from autobot_lib.data.frame import timeframe_seconds

REGIMES = ("BULL_TREND", "BEAR_TREND", "RANGE")
_DRIFT_PER_DAY = np.array([0.012, -0.012, 0.0])       # log drift by regime
_MEAN_DURATION_DAYS = np.array([12.0, 8.0, 10.0])     # how long a regime lasts on average
_VOL_PER_DAY = 0.03                                    # long-run daily volatility


def synthetic_ohlcv(
    bars: int = 5000,
    timeframe: str = "1h",
    *,
    seed: int = 7,
    start: str | pd.Timestamp = "2024-01-01",
    start_price: float = 30_000.0,
    symbol: str = "BTCUSDT",
) -> pd.DataFrame:
    """``bars`` bars of a synthetic market; the same seed always gives the same bars.

    ``attrs["regime"]`` is not set; the hidden regime path is returned by :func:`synthetic_regimes`.
    """
    frame, _ = _generate(bars, timeframe, seed, start, start_price, symbol)
    return frame


def synthetic_regimes(bars: int = 5000, timeframe: str = "1h", *, seed: int = 7) -> np.ndarray:
    """The hidden regime (index into :data:`REGIMES`) of each bar of the same-seed market."""
    return _generate(bars, timeframe, seed, "2024-01-01", 30_000.0, "X")[1]


def _generate(bars: int, timeframe: str, seed: int, start, start_price: float, symbol: str):
    if not isinstance(bars, (int, np.integer)) or bars < 2:
        raise ValueError(f"bars must be a whole number >= 2, got {bars!r}")
    step = timeframe_seconds(timeframe)
    days = step / 86400.0
    rng = np.random.default_rng(seed)

    stay = np.exp(-days / _MEAN_DURATION_DAYS)         # chance to stay in the regime for one more bar
    regime = np.empty(bars, dtype=np.int64)
    regime[0] = 2
    switches = rng.random(bars)
    jumps = rng.integers(1, 3, size=bars)
    for t in range(1, bars):
        r = regime[t - 1]
        regime[t] = r if switches[t] < stay[r] else (r + jumps[t]) % 3

    nu = 4.0
    shocks = rng.standard_t(nu, size=bars) / np.sqrt(nu / (nu - 2.0))
    long_var = (_VOL_PER_DAY ** 2) * days
    alpha, beta = 0.08, 0.90
    omega = long_var * (1.0 - alpha - beta)
    var = long_var
    returns = np.empty(bars)
    log_price = np.log(start_price)
    anchor = log_price
    sigma = np.empty(bars)
    for t in range(bars):
        sigma[t] = np.sqrt(var)
        drift = _DRIFT_PER_DAY[regime[t]] * days
        if regime[t] == 2:                              # ranges pull back towards where they began
            if t == 0 or regime[t - 1] != 2:
                anchor = log_price
            drift += -0.05 * (log_price - anchor)
        returns[t] = drift + sigma[t] * shocks[t]
        log_price += returns[t]
        var = omega + alpha * (sigma[t] * shocks[t]) ** 2 + beta * var

    close = start_price * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[start_price], close[:-1]])
    wick = np.abs(rng.normal(0.0, 0.6, size=(2, bars))) * sigma
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    base_volume = 1_000.0 * days * 24
    volume = base_volume * np.exp(rng.normal(0.0, 0.3, size=bars)) * (1.0 + 2.0 * np.abs(shocks))

    index = pd.date_range(pd.Timestamp(start, tz="UTC"), periods=bars, freq=pd.Timedelta(seconds=step),
                          name="timestamp").as_unit("ns")
    frame = pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)
    frame.attrs.update({"symbol": symbol, "timeframe": timeframe, "market": "synthetic",
                        "source": f"synthetic market, seed {seed}", "synthetic": True})
    return frame, regime
