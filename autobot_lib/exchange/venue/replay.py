"""The replay clock: moves the venue's time forward one bar of the finest timeframe it holds.

Each :meth:`Replay.step` closes one bar per symbol (none where the data has a gap) and reports the bars
and funding events it passed, so the server can match orders and push streams. How fast steps come is
the server's business (:func:`parse_speed`): a number of bars per second, ``realtime`` (a 1h bar takes an
hour), ``max`` (as fast as the stream clients take the pushes), or ``manual`` (only when told).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from autobot_lib.data.frame import timeframe_seconds
from autobot_lib.exchange.venue.market import MarketBook

SPEEDS = ("manual", "realtime", "max")


@dataclass(frozen=True)
class ClosedBar:
    symbol: str
    open_ms: int
    close_ms: int  # the first ms after the bar: the clock when it closed
    open: float
    high: float
    low: float
    close: float
    volume: float
    next_open: float | None = None  # the next bar's open: the first trade after this close (None at the end)


@dataclass(frozen=True)
class FundingEvent:
    symbol: str
    time_ms: int
    rate: float


def parse_speed(text: str | float) -> str | float:
    """``"manual"``, ``"realtime"``, ``"max"`` or a positive number of bars per second."""
    if isinstance(text, str) and text.strip().lower() in SPEEDS:
        return text.strip().lower()
    try:
        speed = float(text)
    except (TypeError, ValueError):
        speed = -1.0
    if not speed > 0:
        raise ValueError(f"speed {text!r} is not valid: give bars per second (e.g. 10 or 0.5), or one of "
                         f"{', '.join(SPEEDS)}")
    return speed


def parse_start(book: MarketBook, start: str | int | pd.Timestamp | None, warmup_bars: int = 1000) -> int:
    """Replay start in ms: a UTC date/time, or by default ``warmup_bars`` finest bars after the first
    (so a client can fetch a page of history before the replay begins)."""
    symbols = book.symbols
    if not symbols:
        raise ValueError("the venue has no bars to replay: give it OHLCV files (--data)")
    firsts = []
    for symbol in symbols:
        timeframe, frame = book.finest(symbol)
        firsts.append((frame.index[min(warmup_bars, len(frame) - 1)], frame.index[0], frame.index[-1], timeframe))
    if start is None:
        return int(max(f[0] for f in firsts).value // 10**6)
    ts = pd.Timestamp(start, unit="ms") if isinstance(start, int) else pd.Timestamp(start)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    first, last = min(f[1] for f in firsts), max(f[2] for f in firsts)
    if not first <= ts <= last:
        raise ValueError(f"replay start {ts} is outside the data ({first} .. {last}): pick a time inside it")
    step = min(timeframe_seconds(f[3]) for f in firsts) * 1000
    return int(ts.value // 10**6) // step * step


class Replay:
    """Steps ``book``'s clock from ``start_ms`` by the finest timeframe any of its symbols has."""

    def __init__(self, book: MarketBook, start_ms: int):
        self.book = book
        self.step_ms = min(timeframe_seconds(book.finest(s)[0]) for s in book.symbols) * 1000
        self._frames = {}
        for symbol in book.symbols:
            timeframe, frame = book.finest(symbol)
            opens = frame.index.as_unit("ns").asi8 // 10**6
            self._frames[symbol] = (timeframe_seconds(timeframe) * 1000, opens, frame[["open", "high", "low", "close",
                                                                                       "volume"]].to_numpy())
        self.end_ms = max(int(opens[-1]) + step for step, opens, _ in self._frames.values())
        book.now_ms = start_ms

    @property
    def now_ms(self) -> int:
        return self.book.clock_ms()

    @property
    def finished(self) -> bool:
        return self.now_ms >= self.end_ms

    def step(self) -> tuple[list[ClosedBar], list[FundingEvent]]:
        """Advance one step; the bars that closed and the funding events passed on the way."""
        before = self.now_ms
        if self.finished:
            return [], []
        now = before + self.step_ms
        self.book.now_ms = now
        closed = []
        for symbol, (step, opens, values) in self._frames.items():
            # every bar of this symbol that closed in (before, now]: one, or none across a gap
            lo = int(np.searchsorted(opens, before - step, side="right"))
            hi = int(np.searchsorted(opens, now - step, side="right"))
            for i in range(lo, hi):
                o, h, l, c, v = values[i].tolist()
                after = float(values[i + 1, 0]) if i + 1 < len(values) else None
                closed.append(ClosedBar(symbol, int(opens[i]), int(opens[i]) + step, o, h, l, c, v, after))
        funding = [FundingEvent(symbol, t, rate) for symbol in self._frames
                   for t, rate in self.book.funding_between(symbol, before, now)]
        return closed, funding
