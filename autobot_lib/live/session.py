"""A live session: warm the features on history, start the engine, then decide on every closed bar.

Wiring only: :class:`~autobot_lib.live.feed.BarFeed` brings closed bars, the
:class:`~autobot_lib.live.engine.LiveEngine` decides and executes, reconciliation runs every
``reconcile_every_s``. The history comes over REST (the bars before now, the forming one left out), so
the first live decision already sees warm indicators, as the backtester's would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import pandas as pd

from autobot_lib.live.engine import LiveEngine
from autobot_lib.live.feed import BarFeed
from autobot_lib.data.frame import timeframe_delta
from autobot_lib.model import Bar

log = logging.getLogger("autobot.session")


async def closed_history(client, symbol: str, timeframe: str, bars: int) -> list[Bar]:
    """The last ``bars`` closed bars over REST (ccxt), the forming one dropped."""
    now = int(await client.fetch_time())
    step = int(timeframe_delta(timeframe).total_seconds() * 1000)
    since = (now // step - bars) * step
    rows: list[list] = []
    while since < now:
        page = await client.fetch_ohlcv(symbol, timeframe, since=since, limit=1000)
        if not page:
            break
        rows += page
        since = int(page[-1][0]) + step
    return [Bar(pd.Timestamp(int(r[0]), unit="ms", tz="UTC"), *map(float, r[1:6])) for r in rows
            if int(r[0]) + step <= now]


@dataclass
class LiveSession:
    engine: LiveEngine
    feed: BarFeed
    client: object                       # a ccxt client for REST history (and server time)
    reconcile_every_s: float = 30.0
    gather_s: float = 2.0                 # how long the first close of a bar waits for the other symbols' closes
    # called first with (symbol, bar, the next bar's open or None): a paper broker's fills
    before_decide: list = field(default_factory=list)
    heartbeat: object = None             # a live.health.Heartbeat, beaten after every bar and reconciliation
    after_bars: list = field(default_factory=list)      # called with each bar's decisions (a notebook's view)
    ticks: list = field(default_factory=list)           # called after every bar and idle check (the announcer)
    announcer: object = None             # a live.announcer.Announcer, when alerts are sent
    decided: int = 0
    started_at: float = field(default_factory=time.monotonic)

    async def _reconcile(self) -> None:
        """Reconcile; an exchange that cannot be read now is an error on the kill switch's count, not a crash."""
        from autobot_lib.exchange.ports import BrokerError

        try:
            await self.engine.reconcile()
        except BrokerError as exc:
            self.engine.guard.report_error("reconcile", exc)

    def _beat(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.beat(bars=self.decided, state=self.engine.status.trading_state.value,
                                positions=len(self.engine.status.positions))
        for tick in self.ticks:
            tick()

    async def warm_up(self) -> None:
        """History before the first decision: what the indicators need (and 50 bars more), at least the
        settings' ``lookback`` (the Donchian bot's 400)."""
        needed = max(fs.spec.warmup_bars for fs in self.engine.features.values()) + 50
        bars = max(needed, self.engine.settings.donchian.lookback)
        for symbol, ccxt_symbol in self.feed.symbols.items():
            history = await closed_history(self.client, ccxt_symbol, self.feed.timeframe, bars)
            for bar in history:
                self.engine.features[symbol].update(bar)
            if history:
                self.feed.last[symbol] = int(history[-1].timestamp.value // 1_000_000)
        await self.engine.start()

    async def run(self, duration_s: float | None = None, max_bars: int | None = None, warm: bool = True) -> int:
        """Decide on closed bars until ``duration_s`` or ``max_bars``; returns how many were decided.
        ``warm=False``: :meth:`warm_up` has run already."""
        if warm:
            await self.warm_up()
        last_reconcile = time.monotonic()
        deadline = None if duration_s is None else time.monotonic() + duration_s
        stream = self.feed.__aiter__()
        try:
            waiting = None
            while max_bars is None or self.decided < max_bars:
                if deadline is not None and time.monotonic() >= deadline:
                    break
                # wake for the next bar, or for the watchdog's reconciliation, whichever comes first
                idle_check = max(self.reconcile_every_s, 1.0)       # 0 means "after every bar"; idle, each second
                timeout = max(0.0, last_reconcile + idle_check - time.monotonic())
                if deadline is not None:
                    timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                waiting = waiting or asyncio.ensure_future(stream.__anext__())
                done, _ = await asyncio.wait({waiting}, timeout=timeout)
                if not done:
                    if time.monotonic() - last_reconcile >= idle_check:
                        await self._reconcile()            # the watchdog: every position has its stop
                        last_reconcile = time.monotonic()
                        self._beat()
                    continue
                first, waiting = waiting.result(), None
                # the other symbols' closes of the same bar: decided together, on one account reading
                batch = [first, *self.feed.drain()]
                until = time.monotonic() + self.gather_s
                while {s for s, b in batch if b.timestamp == first[1].timestamp} != set(self.feed.symbols):
                    waiting = waiting or asyncio.ensure_future(stream.__anext__())
                    done, _ = await asyncio.wait({waiting}, timeout=max(0.0, until - time.monotonic()))
                    if not done:
                        break                    # a symbol without this bar yet: decide the others now
                    batch += [waiting.result(), *self.feed.drain()]
                    waiting = None
                if max_bars is not None:
                    batch = batch[:max_bars - self.decided]
                for symbol, bar in batch:
                    for sink in self.before_decide:
                        sink(symbol, bar, self.feed.open_after(symbol, bar))
                for stamp in sorted({bar.timestamp for _, bar in batch}):
                    decisions = await self.engine.on_bars([(s, b) for s, b in batch if b.timestamp == stamp])
                    for view in self.after_bars:
                        view(decisions)
                self.decided += len(batch)
                if time.monotonic() - last_reconcile >= self.reconcile_every_s:
                    await self._reconcile()
                    last_reconcile = time.monotonic()
                self._beat()
        finally:
            if waiting is not None:      # let the cancelled read finish before closing the stream (a duration's end, SIGINT)
                waiting.cancel()
                await asyncio.gather(waiting, return_exceptions=True)
            await stream.aclose()
        return self.decided
