"""The paper broker (DRY_RUN): the venue's matching in-process, fed real bars.

- Contract: one scripted session (entries both ways, stops and targets, trailing replacements, adds,
  partial closes, refusals) runs through PaperBroker and through CcxtBroker against the local venue on the
  same real BTCUSDT bars and funding; positions, balances, fills, protective orders and refusals are
  equal after every step.
- Errors: each Binance refusal means the same policy from the paper broker as from the ccxt adapter
  given Binance's own answer, and the policies are the ones written down here.
- A DRY_RUN LiveEngine session on PaperBroker decides as ``run_backtest`` does, bar by bar.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import ccxt
import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange import errors as policies
from autobot_lib.exchange.ccxt_broker import CcxtBroker, translate as ccxt_translate
from autobot_lib.exchange.paper import PaperBroker, translate as paper_translate
from autobot_lib.exchange.ports import BrokerError, ErrorPolicy
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.exchange.venue import MarketBook
from autobot_lib.exchange.venue import errors as venue_errors
from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.live.engine import LiveEngine
from autobot_lib.model import Bar, MarketFilters
from conftest import REPLAY_START, VENUE_KEY, VENUE_SECRET, real, real_funding
from test_live_engine import assert_decides_like_the_backtester

S = "BTCUSDT"
HOUR = pd.Timedelta(hours=1)
HOUR_MS = 3_600_000
START = pd.Timestamp(REPLAY_START, tz="UTC")
TICK = Decimal("0.1")
BARS_FILE, FUNDING_FILE = "binance_usdm_BTCUSDT_1h.csv.gz", "binance_usdm_BTCUSDT_funding.csv.gz"


def bar_at(bars: pd.DataFrame, ts: pd.Timestamp) -> Bar:
    row = bars.loc[ts]
    return Bar(ts, float(row["open"]), float(row["high"]), float(row["low"]), float(row["close"]),
               float(row["volume"]))


def ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def funding_between(funding: pd.DataFrame, after_ms: int, until_ms: int) -> list[tuple[int, float]]:
    """Funding events with after < time <= until, read from the real funding file."""
    times = funding.index.as_unit("ns").asi8 // 1_000_000
    rows = (times > after_ms) & (times <= until_ms)
    return list(zip(times[rows].tolist(), funding["funding_rate"].to_numpy()[rows].tolist()))


def feed(paper: PaperBroker, bars: pd.DataFrame, funding: pd.DataFrame, ts: pd.Timestamp) -> list:
    """What a live session does on a closed bar: the bar with the next bar's open (the feed has seen it
    begin), then the funding settled while it ran."""
    fills = paper.on_bar(S, bar_at(bars, ts), float(bars.loc[ts + HOUR, "open"]))
    for t, rate in funding_between(funding, ms(ts), ms(ts) + HOUR_MS):
        paper.apply_funding(S, rate, t)
    return fills


def venue_specs(bars: pd.DataFrame):
    """The filters the local venue serves for these bars (its exchangeInfo)."""
    book = MarketBook("usdm")
    book.add_bars(S, bars)
    return book.specs()


def price(x: Decimal) -> Decimal:
    return x.quantize(TICK)


# --- the contract: paper == venue ------------------------------------------------------------------

async def act(broker, k: int, close: Decimal) -> list:
    """Step ``k`` of the script, deciding only from what ``broker`` reports and the last close."""
    log: list = []

    async def do(what: str, call):
        try:
            result = await call
        except BrokerError as exc:
            result = ("refused", exc.policy, exc.code)
        log.append((what, result))
        return result

    position = (await broker.positions()).get(S)
    standing = await broker.protective_orders()
    if position is None:
        for order in standing:                          # the other leg of a bracket that filled
            await do("cancel orphan", broker.cancel_protective(S, order.client_id))
        if k % 9 == 1:
            await do("reduce-only while flat", broker.market_order(S, "SELL", Decimal("0.010"), f"R{k}",
                                                                    reduce_only=True))
        if k % 8 == 0:
            await do("far too large", broker.market_order(S, "BUY", Decimal("50.000"), f"L{k}"))
        if k % 4 == 0:
            long = (k // 4) % 2 == 0
            side, close_side, sign = ("BUY", "SELL", 1) if long else ("SELL", "BUY", -1)
            await do("entry", broker.market_order(S, side, Decimal("0.010"), f"E{k}"))
            await do("stop", broker.protective_order(S, close_side, Decimal("0.010"),
                                                     price(close * (1 - sign * Decimal("0.012"))), f"S{k}"))
            await do("target", broker.protective_order(S, close_side, Decimal("0.010"),
                                                       price(close * (1 + sign * Decimal("0.015"))), f"T{k}",
                                                       "TAKE_PROFIT_MARKET"))
        return log
    amount = position.amount
    sign = 1 if amount > 0 else -1
    close_side, open_side = ("SELL", "BUY") if sign > 0 else ("BUY", "SELL")
    stop = next((o for o in standing if o.kind == "STOP_MARKET"), None)
    if stop is None or k % 17 == 16:                    # a target took part of it, or a time exit
        for order in standing:
            await do("cancel", broker.cancel_protective(S, order.client_id))
        await do("close", broker.market_order(S, close_side, abs(amount), f"C{k}", reduce_only=True))
        return log
    if k % 3 == 0:                                      # trail: the new stop first, then cancel the old
        trailed = price(close * (1 - sign * Decimal("0.008")))
        if (trailed - stop.trigger) * sign > 0:
            await do("trail", broker.protective_order(S, close_side, abs(amount), trailed, f"S{k}"))
            await do("cancel old stop", broker.cancel_protective(S, stop.client_id))
    if k % 7 == 5 and abs(amount) < Decimal("0.020"):
        await do("add", broker.market_order(S, open_side, Decimal("0.005"), f"A{k}"))
    if k % 11 == 6:
        await do("partial close", broker.market_order(S, close_side, Decimal("0.003"), f"P{k}", reduce_only=True))
    if k % 10 == 7:
        await do("stop that would trigger", broker.protective_order(
            S, close_side, abs(amount), price(close * (1 + sign * Decimal("0.01"))), f"W{k}"))
    if k % 10 == 8 and standing:
        await do("duplicate algo id", broker.protective_order(
            S, close_side, abs(amount), price(close * (1 - sign * Decimal("0.05"))), standing[0].client_id))
    if k % 10 == 9:
        await do("reduce-only that adds", broker.market_order(S, open_side, Decimal("0.001"), f"X{k}",
                                                               reduce_only=True))
        await do("cancel unknown", broker.cancel_protective(S, f"nothing-{k}"))
        await do("find unknown", broker.find_order(S, f"nothing-{k}"))
    return log


async def state(broker, ids: list[str]) -> dict:
    return {"positions": await broker.positions(), "balance": await broker.balance(),
            "protective": await broker.protective_orders(), "time": await broker.server_time_ms(),
            "orders": {cid: await broker.find_order(S, cid) for cid in ids}}


async def contract(trading_venue, steps: int):
    bars, funding = real(BARS_FILE), real_funding(FUNDING_FILE)
    roomy = RateLimiter(rate_limits=({"rateLimitType": "REQUEST_WEIGHT", "interval": "SECOND", "intervalNum": 1,
                                      "limit": 100_000},))
    venue = CcxtBroker(VENUE_KEY, VENUE_SECRET, mode="venue", base_url=trading_venue.url, limiter=roomy)
    try:
        filters = await venue.markets([S])
        paper = PaperBroker(filters)                    # filters as the exchange's exchangeInfo gives them
        assert await paper.markets([S]) == filters
        feed(paper, bars, funding, START - HOUR)        # the venue's clock stands at START: that bar's close
        for broker in (venue, paper):
            await broker.configure(S, 5, isolated=True)
        assert await state(paper, []) == await state(venue, [])
        history: list[tuple[list, dict]] = []
        used: list[str] = []
        for k in range(steps):
            close = Decimal(repr(float(bars.loc[START + (k - 1) * HOUR, "close"])))
            logs = [await act(broker, k, close) for broker in (venue, paper)]
            assert logs[1] == logs[0], f"step {k}: the paper broker answered differently"
            used += [r.client_id for _, r in logs[0] if hasattr(r, "client_id")]
            standing = [o.client_id for o in await venue.protective_orders()]
            await asyncio.to_thread(trading_venue.advance, 1)
            feed(paper, bars, funding, START + k * HOUR)
            watched = list(dict.fromkeys(used[-8:] + standing))
            states = [await state(broker, watched) for broker in (venue, paper)]
            assert states[1] == states[0], f"step {k} ({START + k * HOUR}): the paper account differs"
            history.append((logs[0], states[0]))
        return history
    finally:
        await venue.close()


def test_paper_equals_the_venue_through_ccxt_step_by_step(trading_venue):
    steps = 400
    history = asyncio.run(contract(trading_venue, steps))
    # the script reached what it meant to reach (counted from what both brokers agreed on)
    actions = [(what, result) for log, _ in history for what, result in log]
    refused = {result[2] for _, result in actions if isinstance(result, tuple)}
    assert {-2019, -2021, -2022, -20132, -2011} <= refused
    assert all(result[1] is ErrorPolicy.VETO for _, result in actions if isinstance(result, tuple))
    entries = [r for what, r in actions if what == "entry"]
    assert len(entries) >= 10 and {e.side for e in entries} == {"BUY", "SELL"}
    assert sum(what == "trail" for what, _ in actions) >= 3
    assert sum(what == "add" for what, _ in actions) >= 2
    assert sum(what == "partial close" and not isinstance(r, tuple) for what, r in actions) >= 2
    # stops and targets filled inside bars: the triggered order is found by the protective client id
    triggered = {cid: o for _, st in history for cid, o in st["orders"].items()
                 if o is not None and o.trigger is not None and o.status == "FILLED"}
    assert any(c.startswith("S") for c in triggered) and any(c.startswith("T") for c in triggered)
    # an entry sent after a close fills at the next bar's open: checked against the data, not a broker
    bars = real(BARS_FILE)
    for k, (log, _) in enumerate(history):
        for what, r in log:
            if what == "entry":
                assert r.status == "FILLED" and r.filled == Decimal("0.010")
                assert r.avg_price == Decimal(repr(float(bars.loc[START + k * HOUR, "open"])))


def test_a_stop_fills_inside_the_bar_at_its_trigger_and_on_bar_reports_it():
    bars = real(BARS_FILE)
    clock_ms = ms(START)
    paper = PaperBroker(venue_specs(bars), clock=lambda: clock_ms)

    async def run():
        paper.on_bar(S, bar_at(bars, START - HOUR))     # no next open known (a backfilled bar): the close stands in
        await paper.configure(S, 10, isolated=False)
        close = Decimal(repr(float(bars.loc[START - HOUR, "close"])))
        entry = await paper.market_order(S, "BUY", Decimal("0.020"), "e")
        # the first later bar whose low reaches 0.5 % below the entry: the stop fills there, at the trigger
        trigger = price(close * Decimal("0.995"))
        await paper.protective_order(S, "SELL", Decimal("0.020"), trigger, "s")
        later = bars.loc[START:]
        hit = later.index[later["low"] <= float(trigger)][0]
        for ts in later.loc[:hit].index:
            fills = paper.on_bar(S, bar_at(bars, ts))
            assert bool(fills) == (ts == hit)
        opened = Decimal(repr(float(bars.loc[hit, "open"])))
        fill = opened if opened <= trigger else trigger          # a bar that gaps through fills at its open
        assert [(f.client_id, f.status, f.filled, f.avg_price, f.trigger, f.kind) for f in fills] == [
            ("s", "FILLED", Decimal("0.020"), fill, trigger, "MARKET")]
        assert await paper.positions() == {} and await paper.protective_orders() == []
        # wallet: 10 000 - both taker fees + the loss, from the prices alone
        fees = (close + fill) * Decimal("0.020") * Decimal("0.0005")
        expected = Decimal(10_000) - fees + (fill - close) * Decimal("0.020")
        assert (await paper.balance()).wallet == expected.quantize(Decimal("1e-8"))
        assert entry.avg_price == close
        assert await paper.server_time_ms() == clock_ms          # the injected clock, not the bars
        return await paper.find_order(S, "s")

    found = asyncio.run(run())
    assert (found.client_id, found.status, found.trigger) == ("s", "FILLED", found.trigger)


def test_funding_is_paid_on_the_position_at_the_close_when_it_falls_due():
    bars, funding = real(BARS_FILE), real_funding(FUNDING_FILE)
    paper = PaperBroker(venue_specs(bars))

    async def run():
        feed(paper, bars, funding, START - HOUR)                 # 00:00 funding settles while flat
        await paper.market_order(S, "BUY", Decimal("0.010"), "e")
        after_entry = paper.account.wallet
        for ts in pd.date_range(START, START + 7 * HOUR, freq="h"):
            feed(paper, bars, funding, ts)                       # the bar closing at 08:00 brings its funding
        return after_entry, paper.account.wallet

    after_entry, wallet = asyncio.run(run())
    due = START + 8 * HOUR
    rate = Decimal(repr(float(funding.loc[due, "funding_rate"])))
    mark = Decimal(repr(float(bars.loc[due - HOUR, "close"])))
    assert wallet == after_entry - Decimal("0.010") * mark * rate != after_entry


def test_filters_from_the_exchange_or_the_venue_give_the_same_markets_and_time_follows_the_bars():
    bars = real(BARS_FILE)
    from_venue = PaperBroker(venue_specs(bars))
    from_exchange = PaperBroker({S: MarketFilters.of("0.10", "0.001", "0.001", "100")})

    async def run():
        assert await from_venue.markets([S]) == await from_exchange.markets([S]) == {
            S: MarketFilters(Decimal("0.1"), Decimal("0.001"), Decimal("0.001"), Decimal("100"))}
        with pytest.raises(BrokerError) as unknown:
            await from_exchange.markets(["ETHUSDT"])
        assert unknown.value.policy is ErrorPolicy.HALT and "BTCUSDT" in str(unknown.value)
        assert await from_exchange.server_time_ms() == 0
        from_exchange.on_bar(S, bar_at(bars, START))
        assert await from_exchange.server_time_ms() == ms(START) + HOUR_MS      # the bar's close
        with pytest.raises(BrokerError) as bad:
            await from_exchange.market_order("ETHUSDT", "BUY", Decimal("1"), "x")
        assert (bad.value.policy, bad.value.code) == (ErrorPolicy.VETO, -1121)

    asyncio.run(run())
    with pytest.raises(TypeError, match="MarketFilters"):
        PaperBroker({S: ("0.1", "0.001")})


# --- errors: one table, the same policy from both adapters -------------------------------------------

# What the engine must do about each refusal, written down from Binance's meaning of the code.
EXPECTED = {
    (400, -2019): ErrorPolicy.VETO, (400, -2021): ErrorPolicy.VETO, (400, -2022): ErrorPolicy.VETO,
    (400, -4116): ErrorPolicy.VETO, (400, -20132): ErrorPolicy.VETO, (400, -2011): ErrorPolicy.VETO,
    (400, -2013): ErrorPolicy.VETO, (400, -4164): ErrorPolicy.VETO, (400, -1111): ErrorPolicy.VETO,
    (400, -4014): ErrorPolicy.VETO, (400, -1013): ErrorPolicy.VETO, (400, -4120): ErrorPolicy.VETO,
    (400, -1121): ErrorPolicy.VETO, (400, -4046): ErrorPolicy.VETO, (400, -4061): ErrorPolicy.VETO,
    (400, -1021): ErrorPolicy.HALT, (401, -2015): ErrorPolicy.HALT, (400, -1022): ErrorPolicy.HALT,
    (401, -2014): ErrorPolicy.HALT, (401, -1002): ErrorPolicy.HALT,
    (500, -1000): ErrorPolicy.RETRY, (503, -1001): ErrorPolicy.RETRY, (408, -1007): ErrorPolicy.RETRY,
    (429, -1003): ErrorPolicy.RETRY, (418, -1003): ErrorPolicy.RETRY, (503, -1008): ErrorPolicy.RETRY,
}
VENUE_REFUSALS = [v for k, v in vars(venue_errors).items() if k.isupper()]     # (code, message) pairs
MESSAGES = dict(VENUE_REFUSALS)
MESSAGES.update({-1021: "Timestamp for this request is outside of the recvWindow.",
                 -2015: "Invalid API-key, IP, or permissions for action.", -1022: "Signature for this request is "
                 "not valid.", -2014: "API-key format invalid.", -1002: "You are not authorized to execute this "
                 "request.", -1000: "An unknown error occurred while processing the request.",
                 -1001: "Internal error; unable to process your request. Please try again.",
                 -1007: "Timeout waiting for response from backend server. Send status unknown; execution status "
                 "unknown.", -1003: "Too many requests; current limit of IP is 2400 requests per minute.",
                 -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
                 -4164: "Order's notional must be no smaller than 100 (unless you choose reduce only).",
                 -1013: "Filter failure: LOT_SIZE"})


def ccxt_policy(status: int, code: int, msg: str) -> tuple[ErrorPolicy, int | None]:
    """What CcxtBroker makes of Binance's answer: ccxt's own error handling for the USD-M API raises,
    the adapter translates."""
    exchange = ccxt.binanceusdm()
    body = json.dumps({"code": code, "msg": msg})
    try:
        exchange.handle_errors(status, "", "https://fapi.binance.com/fapi/v1/order", "POST", {}, body,
                               json.loads(body), None, None)
    except ccxt.BaseError as exc:
        error = ccxt_translate(exc, "order")
        return error.policy, error.code
    raise AssertionError(f"ccxt did not raise for {code}")


@pytest.mark.parametrize("status, code", sorted(EXPECTED))
def test_a_refusal_means_the_same_policy_in_paper_and_through_ccxt(status, code):
    paper = paper_translate(BinanceError(status, code, MESSAGES[code]), "order")
    assert (paper.policy, paper.code) == (EXPECTED[(status, code)], code)
    assert ccxt_policy(status, code, MESSAGES[code]) == (paper.policy, paper.code)


def test_every_code_the_venue_model_raises_is_in_the_table():
    assert {code for code, _ in VENUE_REFUSALS} <= set(policies.BINANCE_POLICIES)
    # without a code the HTTP status decides: a gateway's page, a dropped connection
    assert policies.policy_for(None, 502) is ErrorPolicy.RETRY
    assert policies.policy_for(None, 401) is ErrorPolicy.HALT
    assert policies.policy_for(-9999, 400) is ErrorPolicy.VETO


# --- a DRY_RUN session decides as the backtester does ---------------------------------------------

async def dry_run(settings, n: int):
    bars, funding = real(BARS_FILE), real_funding(FUNDING_FILE)
    paper = PaperBroker(venue_specs(bars))
    engine = LiveEngine(settings, paper, [S], clock=lambda: paper.now_ms() / 1000)
    warm = engine.features[S].spec.warmup_bars + 50       # what LiveSession.warm_up fetches
    for ts in bars.loc[START - warm * HOUR: START - HOUR].index:
        engine.features[S].update(bar_at(bars, ts))
    feed(paper, bars, funding, START - HOUR)
    await engine.start()
    unprotected = []
    for ts in bars.loc[START: START + (n - 1) * HOUR].index:
        feed(paper, bars, funding, ts)
        await engine.on_bar(S, bar_at(bars, ts))
        stops = {o.symbol for o in await paper.protective_orders() if o.kind == "STOP_MARKET"}
        unprotected += [s for s in await paper.positions() if s not in stops]
    return engine, unprotected


@pytest.mark.parametrize("overrides, n", [
    (dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"leverage": 5, "use_exit_channel": True,
                                                           "funding_avoid_min": 0}), 400),
    (dict(ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0, LEVERAGE=5), 800),
])
def test_a_dry_run_session_decides_as_the_backtester_bar_by_bar(overrides, n):
    settings = load_settings(env_file=None, config_json=None, **overrides)
    engine, unprotected = asyncio.run(dry_run(settings, n))
    live = engine.journal
    assert len(live) == n and pd.Timestamp(live[0].timestamp) == START
    assert_decides_like_the_backtester(engine, settings, n)
    assert engine.trades and not unprotected
