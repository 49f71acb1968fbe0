"""The same real candles through the backtester and through the live engine (the local venue with the real
ccxt client, or the paper broker), and what each side did, field by field, for tests/test_parity.py.

What is compared, and how each side is read:
- decisions: per bar and symbol, the journal's outcome and every intent (kind, side, quantity, stop and
  target prices, reason);
- trades: the backtester's trade log against :class:`~autobot_lib.live.ledger.LiveTrade` records built
  from the exchange's own executions and funding (``userTrades``, ``income``);
- protective orders: every algo order the exchange received (type, side, quantity, trigger,
  reduce-only, the time it was placed) against the ones the backtester's positions call for, derived
  here from its journal and trades: the initial stop and targets at each entry's fill, a new stop at
  each bar whose STOP intent moved it or changed what it covers, the single target again when pyramid
  adds changed the quantity; a stop the next open had already passed is refused by the exchange and so
  expected nowhere;
- equity: at every decided close, the engine's account reading against the backtester's equity curve.
"""

from __future__ import annotations

import asyncio
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pandas as pd

from autobot_lib.backtest import run_backtest
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.exchange.paper import PaperBroker
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.exchange.venue import MarketBook, VenueServer, venue_client
from autobot_lib.live.engine import LiveEngine
from autobot_lib.live.feed import BarFeed
from autobot_lib.live.ledger import trade_frame
from autobot_lib.live.session import LiveSession
from autobot_lib.model import Bar, MarketFilters
from autobot_lib.plan import risk_params
from conftest import REPLAY_START, VENUE_KEY, VENUE_SECRET, real, real_funding

HOUR = pd.Timedelta(hours=1)
HOUR_MS = 3_600_000
START = pd.Timestamp(REPLAY_START, tz="UTC")
CCXT = {"BTCUSDT": "BTC/USDT:USDT", "ETHUSDT": "ETH/USDT:USDT"}


def bars_of(symbol: str) -> pd.DataFrame:
    return real(f"binance_usdm_{symbol}_1h.csv.gz")


def funding_of(symbol: str) -> pd.DataFrame:
    return real_funding(f"binance_usdm_{symbol}_funding.csv.gz")


def book(symbols: list[str]) -> MarketBook:
    usdm = MarketBook("usdm")
    for s in symbols:
        usdm.add_bars(s, bars_of(s))
        usdm.add_funding(s, funding_of(s))
    return usdm


def filters(symbols: list[str]) -> dict[str, MarketFilters]:
    """The venue's exchangeInfo filters for these symbols (the live engine reads the same)."""
    return {s: MarketFilters.of(spec.tick_size, spec.step_size, spec.min_qty, spec.min_notional)
            for s, spec in book(symbols).specs().items()}


def bar_at(frame: pd.DataFrame, ts: pd.Timestamp) -> Bar:
    row = frame.loc[ts]
    return Bar(ts, float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]), float(row["volume"]))


async def _until(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.005)


# --- the live engine on the local venue ------------------------------------------------------------

def roomy() -> RateLimiter:
    """The replay packs hours into milliseconds: room enough that Binance's windows never throttle it."""
    return RateLimiter(rate_limits=({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1,
                                     "limit": 100_000},))


async def run_on_venue(venue: VenueServer, settings, symbols: list[str], n: int, metrics=None,
                       before_bar=None) -> LiveEngine:
    """``n`` bars of ``symbols`` through `autobot live`'s parts: the real ccxt client (REST and ccxt.pro
    streams) and LiveSession against the running ``venue``, stepped one bar at a time; ``metrics`` given to
    the engine, ``before_bar()`` run before each step. The venue is left running."""
    url = venue.url
    broker = CcxtBroker(VENUE_KEY, VENUE_SECRET, mode="venue", base_url=url, limiter=roomy())
    rest = venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="async", enableRateLimit=False)
    feed = BarFeed(lambda: venue_client(url, VENUE_KEY, VENUE_SECRET, flavour="pro", enableRateLimit=False),
                   {s: CCXT[s] for s in symbols})
    engine = LiveEngine(settings, broker, symbols, metrics=metrics)
    session = LiveSession(engine, feed, rest, reconcile_every_s=0)
    task = asyncio.create_task(session.run(max_bars=n * len(symbols)))
    try:
        subscribed = lambda: sum(len(s) for _, s in list(venue.streams.market.values())) >= len(symbols)  # noqa: E731
        await _until(lambda: engine.orders is not None and subscribed(), "warm-up and the kline subscriptions")
        for k in range(n):
            if before_bar:
                before_bar()
            await asyncio.to_thread(venue.advance, 1)
            await _until(lambda: session.decided >= (k + 1) * len(symbols) or task.done(), f"bar {k + 1} decided")
            async with engine.busy:      # and the reconciliation after it, before the next bar
                pass
            if task.done():
                task.result()
        await task
    finally:
        await broker.close()
        await rest.close()
    return engine


async def venue_session(settings, symbols: list[str], n: int) -> tuple[LiveEngine, VenueServer]:
    """``n`` bars of ``symbols`` from REPLAY_START on a venue replaying the real bars and funding
    (:func:`run_on_venue`)."""
    venue = VenueServer(usdm=book(symbols), api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START, speed="manual",
                        taker_fee=settings.TAKER_FEE, maker_fee=settings.MAKER_FEE)
    venue.start()
    try:
        engine = await run_on_venue(venue, settings, symbols, n)
    finally:
        venue.stop()
    return engine, venue


# --- the live engine on the paper broker (DRY_RUN) -------------------------------------------------

async def paper_session(settings, symbols: list[str], n: int) -> tuple[LiveEngine, PaperBroker]:
    """The same bars through a DRY_RUN engine: the paper broker fed each closed bar, the next bar's open (as
    the feed has it when the bar closes) and the funding settled by the close, then the engine decides."""
    frames = {s: bars_of(s) for s in symbols}
    funding = {s: funding_of(s) for s in symbols}
    paper = PaperBroker(filters(symbols), taker_fee=settings.TAKER_FEE, maker_fee=settings.MAKER_FEE)
    engine = LiveEngine(settings, paper, symbols, clock=lambda: paper.now_ms() / 1000)
    warm = engine.features[symbols[0]].spec.warmup_bars + 50       # what LiveSession.warm_up fetches

    def feed(ts: pd.Timestamp) -> list[tuple[str, Bar]]:
        closed = []
        for s in symbols:
            bar = bar_at(frames[s], ts)
            following = ts + HOUR
            paper.on_bar(s, bar, float(frames[s].loc[following, "open"]) if following in frames[s].index else None)
            times = funding[s].index
            for t in times[(times > ts) & (times <= ts + HOUR)]:
                paper.apply_funding(s, float(funding[s].loc[t, "funding_rate"]), int(t.value // 1_000_000))
            closed.append((s, bar))
        return closed

    for ts in frames[symbols[0]].loc[START - warm * HOUR: START - 2 * HOUR].index:
        for s in symbols:
            engine.features[s].update(bar_at(frames[s], ts))
    for s, bar in feed(START - HOUR):
        engine.features[s].update(bar)
    await engine.start()
    for ts in frames[symbols[0]].loc[START: START + (n - 1) * HOUR].index:
        await engine.on_bars(feed(ts))
        await engine.reconcile()
    return engine, paper


# --- the backtester on the same bars ----------------------------------------------------------------

def backtest(engine: LiveEngine, settings, symbols: list[str], n: int):
    """run_backtest on the bars the engine warmed up on and decided, with the venue's filters and funding."""
    warm = engine.features[symbols[0]].spec.warmup_bars + 50
    frames = {s: bars_of(s).loc[START - warm * HOUR: START + (n - 1) * HOUR] for s in symbols}
    for s in symbols:
        frames[s].attrs.update(bars_of(s).attrs)
    return run_backtest(frames, settings, equity=10_000.0, trade_from=START, filters=filters(symbols),
                        funding={s: funding_of(s) for s in symbols})


# --- what each side did ------------------------------------------------------------------------------

def decisions(journal) -> list[tuple]:
    """(time, symbol, outcome, intents) per decided bar; intents as (kind, side, qty, stop, target, reason)."""
    rows = []
    for r in journal:
        d = r if isinstance(r, dict) else r.to_dict()
        intents = tuple((i["kind"], i["side"], i["qty"], i["stop_price"], i["take_profit"], i["reason"])
                        for i in d.get("intents") or ())
        rows.append((pd.Timestamp(d["timestamp"]), d["symbol"], d["outcome"], intents))
    return sorted(rows)


def backtest_decisions(result) -> list[tuple]:
    j = result.journal
    records = j.to_dict("records")
    for rec in records:
        rec["intents"] = rec.get("intents") if isinstance(rec.get("intents"), list) else []
    return decisions(records)


def live_trades(engine: LiveEngine) -> pd.DataFrame:
    frame = trade_frame(engine.trades)
    frame["exit_bar"] = frame["exit_time"].dt.floor("1h")
    return frame.sort_values(["entry_time", "symbol"]).reset_index(drop=True)


def backtest_trades(result) -> pd.DataFrame:
    frame = result.trades[result.trades["exit_reason"] != "end_of_data"].copy()
    frame["exit_bar"] = frame["exit_time"]
    return frame.sort_values(["entry_time", "symbol"]).reset_index(drop=True)


def placed_orders(account) -> list[tuple]:
    """Every conditional order the exchange (venue or paper account) accepted."""
    return sorted((a.create_ms, a.symbol, a.type, a.side, a.qty.normalize(), a.trigger.normalize(), a.reduce_only)
                  for a in account.algos.values())


def _to_tick(price: float, tick: Decimal, up: bool) -> Decimal:
    """``price`` on the tick grid, rounded up or down, in Decimal (the model's rule, written out here)."""
    units = (Decimal(repr(float(price))) / tick).to_integral_value(rounding=ROUND_CEILING if up else ROUND_FLOOR)
    return (units * tick).normalize()


def expected_orders(result, settings, symbols: list[str]) -> list[tuple]:
    """The conditional orders the backtester's positions call for (module docstring)."""
    params, fs = risk_params(settings), filters(symbols)
    journal = result.journal
    out = []
    for _, trade in result.trades.iterrows():
        s, sign = trade["symbol"], 1 if trade["side"] == "LONG" else -1
        tick, step = fs[s].tick_size, fs[s].step_size
        closing = "SELL" if sign > 0 else "BUY"
        mine = journal[(journal["symbol"] == s) & (journal["timestamp"] >= trade["entry_time"] - HOUR)
                       & (journal["timestamp"] <= trade["exit_time"])].sort_values("timestamp")
        entry_rec = mine.iloc[0]
        (entry,) = [i for i in entry_rec["intents"] if i["kind"] == "ENTRY"]
        placed = int(trade["entry_time"].value // 1_000_000)
        qty = Decimal(entry["qty"])
        first, rpu = trade["entry_price"], entry_rec["size"]["stop_distance"]
        out.append((placed, s, "STOP_MARKET", closing, qty, _to_tick(trade["initial_stop"], tick, sign > 0), True))
        for r, share in params.tp_ladder:
            part = (qty * Decimal(repr(share)) / step).to_integral_value(rounding=ROUND_FLOOR) * step
            if part:
                out.append((placed, s, "TAKE_PROFIT_MARKET", closing, part.normalize(),
                            _to_tick(first + sign * rpu * r, tick, sign < 0), True))
        target_qty = None
        if not params.tp_ladder and params.take_profit_r is not None:
            target = _to_tick(first + sign * rpu * params.take_profit_r, tick, sign < 0)
            out.append((placed, s, "TAKE_PROFIT_MARKET", closing, qty, target, True))
            target_qty = qty
        frame = bars_of(s)
        for _, rec in mine.iloc[1:].iterrows():
            stop = [i for i in rec["intents"] or () if i["kind"] == "STOP"]
            if not stop:
                continue
            at = rec["timestamp"] + HOUR
            next_open = frame.loc[at, "open"] if at in frame.index else None
            price = Decimal(stop[0]["stop_price"])
            if next_open is not None and sign * (Decimal(repr(float(next_open))) - price) <= 0:
                continue                      # the next open had passed it: refused, closed at market
            when = int(at.value // 1_000_000)
            new_qty = Decimal(stop[0]["qty"])
            out.append((when, s, "STOP_MARKET", closing, new_qty.normalize(), price.normalize(), True))
            if target_qty is not None and new_qty != target_qty:
                out.append((when, s, "TAKE_PROFIT_MARKET", closing, new_qty.normalize(), target, True))
                target_qty = new_qty
    return sorted(out)


def equity_pairs(engine: LiveEngine, result) -> list[tuple[pd.Timestamp, float, float]]:
    """(close, live equity, backtest equity) at every decided close."""
    curve = result.equity["equity"]
    return [(t, live, float(curve.loc[t - HOUR])) for t, live in engine.equity]
