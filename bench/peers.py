"""Peer tools running the same rules as AUTOBOT, for benchmarks and as test oracles (never imported by
autobot_lib). A plain Donchian 20/10 breakout: enter at the next open when the close breaks the 20-bar
channel of the previous bars, leave at the next open when it breaks the 10-bar channel the other way."""

from __future__ import annotations

import os
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py's progress bar would garble the figures

import numpy as np
import pandas as pd
from backtesting import Backtest, Strategy

from autobot_lib.config import load_settings


def plain_donchian_settings(entry: int = 20, exit: int = 10):
    """AUTOBOT settings that reduce the Donchian strategy to the plain breakout: exit channel on; stops,
    trailing and every other exit far away or off; no vetoes that a peer tool does not have; 1x leverage,
    which cannot be liquidated (at 10x our engine liquidates a long in the March 2020 crash, a peer
    without margin cannot); no fees or slippage."""
    return load_settings(
        env_file=None, config_json=None, STRATEGY="donchian", MAX_DRAWDOWN=1.0, MAX_HOLDING_BARS=0,
        EXIT_ON_REGIME_CHANGE=False, BREAK_EVEN_R=0, TAKER_FEE=0.0, MAKER_FEE=0.0, SLIPPAGE_BPS=0.0,
        donchian={"channel_len": entry, "exit_channel_len": exit, "use_exit_channel": True, "atr_stop_k": 20, "leverage": 1,
                  "atr_trail_k": 20, "enable_pyramiding": False, "daily_loss_limit": 1.0, "funding_avoid_min": 0})


def _channel(series, n: int, how: str) -> np.ndarray:
    s = pd.Series(series)
    return (s.rolling(n).max() if how == "max" else s.rolling(n).min()).shift(1).to_numpy()


class DonchianBreakout(Strategy):
    entry = 20
    exit = 10

    def init(self):
        self.up = self.I(_channel, self.data.High, self.entry, "max")
        self.down = self.I(_channel, self.data.Low, self.entry, "min")
        self.exit_up = self.I(_channel, self.data.High, self.exit, "max")
        self.exit_down = self.I(_channel, self.data.Low, self.exit, "min")

    def next(self):
        close = self.data.Close[-1]
        if self.position:
            if self.position.is_long and close < self.exit_down[-1]:
                self.position.close()
            elif self.position.is_short and close > self.exit_up[-1]:
                self.position.close()
        elif close > self.up[-1]:
            self.buy(size=0.1)
        elif close < self.down[-1]:
            self.sell(size=0.1)


class LeanDonchianBreakout(Strategy):
    """The same breakout written for speed: the channels and closes are numpy arrays computed before the
    run and handed in (no ``self.I``, whose per-bar slicing is most of backtesting.py's cost), and ``next``
    only indexes them at the current bar. Market orders fill at the next open, as in
    :class:`DonchianBreakout`."""

    arrays: tuple = ()

    def init(self):
        self.close, self.up, self.down, self.exit_up, self.exit_down = self.arrays

    def next(self):
        i = len(self.data) - 1
        close = self.close[i]
        position = self.position
        if position:
            if position.is_long:
                if close < self.exit_down[i]:
                    position.close()
            elif close > self.exit_up[i]:
                position.close()
        elif close > self.up[i]:
            self.buy(size=0.1)
        elif close < self.down[i]:
            self.sell(size=0.1)


def backtesting_py_donchian(bars: pd.DataFrame, entry: int = 20, exit: int = 10,
                            lean: bool = False) -> tuple[pd.DataFrame, pd.Series, float]:
    """backtesting.py's trades and statistics for the plain breakout, and its run time in seconds
    (``lean``: :class:`LeanDonchianBreakout`, the channels precomputed outside the timed run)."""
    data = bars.rename(columns=str.capitalize)[["Open", "High", "Low", "Close", "Volume"]]
    data.index = data.index.tz_localize(None)
    test = Backtest(data, LeanDonchianBreakout if lean else DonchianBreakout, cash=1e12, commission=0.0,
                    finalize_trades=True)
    params = dict(entry=entry, exit=exit)
    if lean:
        high, low = data["High"].to_numpy(), data["Low"].to_numpy()
        params = dict(arrays=(data["Close"].to_numpy(), _channel(high, entry, "max"), _channel(low, entry, "min"),
                              _channel(high, exit, "max"), _channel(low, exit, "min")))
    started = time.perf_counter()
    stats = test.run(**params)
    elapsed = time.perf_counter() - started
    return stats["_trades"], stats, elapsed


def same_trades(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both closed-trade lists (entry/exit times and prices, side), for comparison. A trade still open when
    the data ends is left out: we close it at the last close, backtesting.py at the last open."""
    if len(ours) and ours["exit_reason"].iloc[-1] == "end_of_data":
        ours, theirs = ours.iloc[:-1], theirs.iloc[:-1]
    a = pd.DataFrame({"entry_time": ours["entry_time"].dt.tz_localize(None).to_numpy(),
                      "exit_time": ours["exit_time"].dt.tz_localize(None).to_numpy(),
                      "entry_price": ours["entry_price"].to_numpy(), "exit_price": ours["exit_price"].to_numpy(),
                      "long": (ours["side"] == "LONG").to_numpy()})
    b = pd.DataFrame({"entry_time": theirs["EntryTime"].to_numpy(), "exit_time": theirs["ExitTime"].to_numpy(),
                      "entry_price": theirs["EntryPrice"].to_numpy(), "exit_price": theirs["ExitPrice"].to_numpy(),
                      "long": (theirs["Size"] > 0).to_numpy()})
    return a, b
