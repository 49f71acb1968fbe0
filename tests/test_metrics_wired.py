"""The bot's Prometheus metrics as a live session on the local venue records them: the real ccxt client, the
venue's own books and refusals, and /metrics scraped over HTTP.

- ``bot_trade_count_total`` counts every closed trade, a trade booked without its exit (the exchange's
  executions could not be read) included; ``bot_avg_r_atr_30`` is the mean R of the trades whose R is known;
- ``tp_orders_placed_total`` / ``tp_fills_total`` count, per symbol and side, the take-profit ladder's orders
  the venue received and the ones it filled;
- ``bot_order_errors_total`` counts each refusal the venue produces under its reason (the one table in
  ``autobot_lib/exchange/errors.py``), never all of them under ``other``;
- ``flatten_failures_total`` / ``flatten_partial_total``: the recording methods the emergency-flatten policy
  calls, with their closed reason sets.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter

import pytest

from autobot_lib.config import load_settings
from autobot_lib.exchange import errors
from autobot_lib.exchange.ccxt_broker import CcxtBroker
from autobot_lib.exchange.ports import BrokerError, ErrorPolicy
from autobot_lib.exchange.venue import Fault, VenueServer
from autobot_lib.live.metrics import FLATTEN_FAILURE_REASONS, FLATTEN_PARTIAL_REASONS, BotMetrics
from conftest import REPLAY_START, VENUE_KEY, VENUE_SECRET
from parity import book, roomy, run_on_venue
from scrape import labels, scrape

SYMBOL = "BTCUSDT"
UNIVERSE = ["BTCUSDT", "ETHUSDT"]        # ETHUSDT is configured but never traded here
BARS = 300
ACCOUNT = "venue"
BASE = dict(ACTIVATION_THRESHOLD=0.4, LEVERAGE=5, MAX_POSITIONS=2, FUNDING_AVOID_MIN=0, BREAK_EVEN_R=0.5,
            SLIPPAGE_BPS=0.0, TP_AS_MAKER=False, MAX_DRAWDOWN=1.0)
# take profits: the ladder (partial exits, the position goes on), or the single target (closes it)
TARGETS = {"ladder": dict(TP_LADDER=[[1.0, 0.4], [2.0, 0.3]]), "single": dict(TP_LADDER=[])}
ROLES = {"ladder": {"L1", "L2"}, "single": {"T"}}            # the targets' client id roles (T<generation>)
FILL_REASON = {"ladder": "tp_ladder", "single": "take_profit"}


@pytest.fixture(scope="module", params=list(TARGETS))
def metered(request):
    """A session with the TP ladder (or the single target) on the venue replaying real BTCUSDT bars; the
    venue refuses the first
    entry (-2019, too little margin), loses the second behind a gateway's 502 page five times (the order
    manager's retries spent), and fails the first read of the executions (the first trade closed is
    booked without its exit). Returns the engine, the venue and /metrics as scraped at the end."""
    settings = load_settings(env_file=None, config_json=None, **BASE, **TARGETS[request.param])
    venue = VenueServer(usdm=book([SYMBOL]), api_keys={VENUE_KEY: VENUE_SECRET}, start=REPLAY_START,
                        speed="manual", taker_fee=settings.TAKER_FEE, maker_fee=settings.MAKER_FEE)
    venue.start()
    metrics = BotMetrics(account=ACCOUNT, universe=UNIVERSE, timeframe="1h")
    port = metrics.serve(port=0)
    try:
        venue.inject(Fault("-2019", path="/fapi/v1/order", method="POST", count=1))
        venue.inject(Fault("502", path="/fapi/v1/order", method="POST", count=5))
        venue.inject(Fault("503", path="/fapi/v1/userTrades", method="GET", count=1))
        engine = asyncio.run(run_on_venue(venue, settings, [SYMBOL], BARS, metrics))
        yield engine, venue, scrape(f"http://127.0.0.1:{port}/metrics"), request.param
    finally:
        metrics.stop()
        venue.stop()


def test_the_faults_fired_and_trading_went_on(metered):
    engine, venue, _, _ = metered
    assert Counter(f["kind"] for f in venue.fired) == {"-2019": 1, "502": 5, "503": 1}
    assert not any(f["committed"] for f in venue.fired)
    keys = [k for k, _ in engine.alerts]
    assert keys[:2] == ["order_error:-2019", "order_error:None"] and "trade_books_unread" in keys


def test_every_closed_trade_is_counted_and_an_unknown_r_only_left_out_of_the_mean(metered):
    engine, _, s, _ = metered
    trades = list(engine.trades)
    unknown = [t for t in trades if math.isnan(t.r_multiple)]
    known = [t.r_multiple for t in trades if not math.isnan(t.r_multiple)]
    # the first trade closed was booked without the exchange's executions: no exit price, no R
    assert len(trades) >= 5 and unknown == [trades[0]] and math.isnan(trades[0].exit_price)
    assert s[("bot_trade_count_total", labels(account=ACCOUNT))] == len(trades)
    assert s[("bot_avg_r_atr_30", labels(account=ACCOUNT))] == pytest.approx(sum(known[-30:]) / len(known[-30:]))


def test_take_profit_orders_placed_and_filled_are_counted_per_symbol_and_side(metered):
    engine, venue, s, case = metered
    reason, other = FILL_REASON[case], next(r for r in FILL_REASON.values() if r != FILL_REASON[case])
    targets = [a for a in venue.account.algos.values() if a.type == "TAKE_PROFIT_MARKET"]
    placed = Counter("long" if a.side == "SELL" else "short" for a in targets)
    filled = Counter("long" if a.side == "SELL" else "short" for a in targets if a.status == "FINISHED")
    roles = {a.client_id.rsplit("-", 1)[1] for a in targets}          # L<level>, or T<generation>
    assert (roles if case == "ladder" else {r[0] for r in roles}) == ROLES[case]
    assert placed["long"] and placed["short"] and filled["long"] and filled["short"], (placed, filled)
    for side in ("long", "short"):
        assert s[("tp_orders_placed_total", labels(account=ACCOUNT, symbol=SYMBOL, side=side))] == placed[side]
        assert s[("tp_fills_total", labels(account=ACCOUNT, symbol=SYMBOL, side=side, reason=reason))] == \
            filled[side]
        assert s[("tp_fills_total", labels(account=ACCOUNT, symbol=SYMBOL, side=side, reason=other))] == 0
    # every take-profit exit the model booked was the venue's fill
    booked = sum(x["reason"] == reason for r in engine.journal for x in (r.exits or []))
    assert booked == sum(filled.values())
    # the symbol label stays within the configured universe: ETHUSDT at zero, nothing else
    series = {dict(k)["symbol"] for n, k in s if n in ("tp_orders_placed_total", "tp_fills_total")}
    assert series == set(UNIVERSE)
    assert not any(v for (n, k), v in s.items() if n.startswith("tp_") and n.endswith("_total")
                   and dict(k)["symbol"] == "ETHUSDT")


def test_a_ladder_level_the_exchange_did_not_fill_is_no_take_profit_fill(trading_venue):
    """Someone cancels every second ladder level on the exchange as soon as it stands: the model still books
    those levels, the executor closes them at market, and only the levels the venue filled are counted."""
    settings = load_settings(env_file=None, config_json=None, **BASE, **TARGETS["ladder"])
    account = trading_venue.account
    cancelled = []

    def cancel_second_levels():
        for a in list(account.algos.values()):
            if a.is_open and a.type == "TAKE_PROFIT_MARKET" and a.client_id.endswith("-L2"):
                account.cancel_algo(SYMBOL, a.algo_id, None, trading_venue.now_ms())
                cancelled.append(a.client_id)

    metrics = BotMetrics(account=ACCOUNT, universe=UNIVERSE)
    engine = asyncio.run(run_on_venue(trading_venue, settings, [SYMBOL], BARS, metrics,
                                     cancel_second_levels))
    targets = [a for a in account.algos.values() if a.type == "TAKE_PROFIT_MARKET"]
    filled = Counter("long" if a.side == "SELL" else "short" for a in targets if a.status == "FINISHED")
    booked = sum(x["reason"] == "tp_ladder" for r in engine.journal for x in (r.exits or []))
    missed = sum(k == "exit_at_market" for k, _ in engine.alerts)
    assert cancelled and missed and sum(filled.values()) and booked == sum(filled.values()) + missed
    for side in ("long", "short"):
        assert metrics.registry.get_sample_value("tp_fills_total", {"account": ACCOUNT, "symbol": SYMBOL, "side": side,
                                                                    "reason": "tp_ladder"}) == filled[side]
        assert metrics.registry.get_sample_value("tp_orders_placed_total", {
            "account": ACCOUNT, "symbol": SYMBOL, "side": side}) == sum(
            1 for a in targets if ("long" if a.side == "SELL" else "short") == side)


def test_the_venues_refusals_are_counted_under_their_reasons(metered):
    _, _, s, _ = metered
    counted = {dict(k)["reason"]: v for (n, k), v in s.items() if n == "bot_order_errors_total"}
    assert counted == {"order": 1, "network": 1, "auth": 0, "nonce": 0, "rate_limit": 0, "time_drift": 0,
                       "other": 0}


# --- refusals the venue produces for the account, the clock and the rate limit ---------------------------

async def _refusal(venue: VenueServer, secret: str = VENUE_SECRET, key: str = VENUE_KEY,
                   clock_skew_ms: int = 0) -> BrokerError:
    broker = CcxtBroker(key, secret, mode="venue", base_url=venue.url, limiter=roomy())
    broker.exchange.options["timeDifference"] = clock_skew_ms       # ccxt signs with its clock minus this
    try:
        await broker.balance()
    except BrokerError as exc:
        return exc
    finally:
        await broker.close()
    raise AssertionError("the venue took the request")


@pytest.mark.parametrize("case, code, reason", [
    ("wrong secret", -1022, "auth"),
    ("unknown key", -2015, "auth"),
    ("clock an hour behind", -1021, "nonce"),
    ("429", -1003, "rate_limit"),
    ("418", -1003, "rate_limit"),
    ("503", -1001, "network"),
])
def test_a_refusal_of_the_venue_is_counted_under_its_reason(trading_venue, case, code, reason):
    """The real ccxt client's refusal as the engine hands it to the metrics: its reason (the kill-switch
    guard's call, ``order_error(reason_of(exc))``), the error itself, or its code / policy as text."""
    if case in ("429", "418", "503"):
        trading_venue.inject(Fault(case, path="/fapi/", count=1))
    exc = asyncio.run(_refusal(trading_venue, secret="not-the-secret" if case == "wrong secret" else VENUE_SECRET,
                               key="nobody" if case == "unknown key" else VENUE_KEY,
                               clock_skew_ms=3_600_000 if case.startswith("clock") else 0))
    assert exc.code == code, exc
    assert errors.reason_of(exc) == reason
    for handed in (errors.reason_of(exc), exc, str(exc.code or exc.policy.value)):
        metrics = BotMetrics(account=ACCOUNT, universe=UNIVERSE)
        metrics.order_error(handed)
        counted = {r: metrics.registry.get_sample_value("bot_order_errors_total", {"account": ACCOUNT, "reason": r})
                   for r in ("auth", "nonce", "order", "rate_limit", "network", "time_drift", "other")}
        assert counted == {r: (1.0 if r == reason else 0.0) for r in counted}, handed


def test_the_reason_table():
    assert [errors.reason_for(c) for c in (-1021, -1022, -2014, -2015, -1002)] == ["nonce"] + ["auth"] * 4
    assert [errors.reason_for(c) for c in (-2019, -4164, -2021, -1013, -4116)] == ["order"] * 5
    assert [errors.reason_for(-1003), errors.reason_for(None, 429), errors.reason_for(None, 418)] == ["rate_limit"] * 3
    assert errors.reason_for(None, 502) == errors.reason_for(None, policy=ErrorPolicy.RETRY) == "network"
    assert errors.reason_for(-1007) == "network"
    assert errors.reason_for(-9999) == errors.reason_for(None, policy=ErrorPolicy.VETO) == "other"
    # one table: each code's reason sits beside its policy
    assert errors.BINANCE_POLICIES == {c: p for c, (p, _) in errors.BINANCE_CODES.items()}
    assert {r for _, r in errors.BINANCE_CODES.values()} == set(errors.ERROR_REASONS)
    assert all(r == "order" for p, r in errors.BINANCE_CODES.values() if p is ErrorPolicy.VETO)
    m = BotMetrics(account="a")
    for given in (-2019, "-2019", "retry", BrokerError("x", ErrorPolicy.HALT, -1021), "auth", "whatever"):
        m.order_error(given)
    got = {r: m.registry.get_sample_value("bot_order_errors_total", {"account": "a", "reason": r})
           for r in ("order", "network", "nonce", "auth", "other")}
    assert got == {"order": 2, "network": 1, "nonce": 1, "auth": 1, "other": 1}


# --- the emergency flatten's outcomes ------------------------------------------------------------------------

def test_flatten_outcomes_are_counted_under_their_closed_reason_sets():
    m = BotMetrics(account="a")
    for reason in FLATTEN_FAILURE_REASONS:
        m.flatten_failed(reason)
    m.flatten_failed("no_response")
    m.flatten_partial("not_profitable")
    m.flatten_partial("no_response")
    m.flatten_partial("no_response")
    get = m.registry.get_sample_value
    assert {r: get("flatten_failures_total", {"account": "a", "reason": r}) for r in FLATTEN_FAILURE_REASONS} == \
        {"order_error": 1, "missing_handler": 1, "no_response": 2}
    assert {r: get("flatten_partial_total", {"account": "a", "reason": r}) for r in FLATTEN_PARTIAL_REASONS} == \
        {"not_profitable": 1, "no_response": 2}
    for bad in ("not_profitable", "timeout", ""):
        with pytest.raises(ValueError, match="flatten failure reason"):
            m.flatten_failed(bad)
    for bad in ("order_error", "missing_handler", "Not_Profitable"):
        with pytest.raises(ValueError, match="partial flatten reason"):
            m.flatten_partial(bad)
    assert get("flatten_failures_total", {"account": "a", "reason": "other"}) is None    # nothing else counted
    assert get("flatten_partial_total", {"account": "a", "reason": "other"}) is None
