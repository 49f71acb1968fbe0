"""The order manager against a broker that records every call (mutation testing, ``make mutate``: the
mutants of autobot_lib/live/orders.py must fail here or in the venue and parity tests).

What is pinned: the client ids (their format is what a restart and reconciliation read back), the sides,
the order in which a stop is replaced (the new one first), which refusals are retried and how long the
manager waits between tries, and which refusals of a cancel mean "already gone".
"""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal

import pandas as pd
import pytest

from autobot_lib.exchange.ports import BrokerError, ErrorPolicy, OrderResult
from autobot_lib.exchange.ratelimit import RateLimiter
from autobot_lib.live import orders as orders_module
from autobot_lib.live.orders import OrderManager, Protection, StopWouldTrigger, client_id, order_side
from autobot_lib.model import MarketFilters, Position, Side

T0 = pd.Timestamp("2025-06-01", tz="UTC")
BAR_MS = 1_748_736_000_000                       # 2025-06-01 00:00 UTC: 1,748,736,000 s = 0x683b9800
FILTERS = {"BTCUSDT": MarketFilters.of("0.10", "0.001", "0.001", "100")}


def result(cid, kind="MARKET", qty="0.010", trigger=None):
    return OrderResult("BTCUSDT", cid, "1", "NEW", "SELL", Decimal(qty), Decimal(0), Decimal(0), kind,
                       None if trigger is None else Decimal(trigger))


class Recorder:
    """A broker that answers every call and records it; ``fail`` maps a call to the errors it raises first."""

    name = "recorder"

    def __init__(self, fail=None, found=None):
        self.calls: list[tuple] = []
        self.fail = {k: list(v) for k, v in (fail or {}).items()}
        self.found = found

    def _maybe_fail(self, key):
        errors = self.fail.get(key)
        if errors:
            raise errors.pop(0)

    async def market_order(self, symbol, side, qty, cid, reduce_only=False):
        self.calls.append(("market", symbol, side, qty, cid, reduce_only))
        self._maybe_fail("market")
        return result(cid, qty=str(qty))

    async def protective_order(self, symbol, side, qty, trigger, cid, kind="STOP_MARKET"):
        self.calls.append(("protect", kind, side, qty, trigger, cid))
        self._maybe_fail(kind)
        return result(cid, kind, str(qty), str(trigger))

    async def cancel_protective(self, symbol, cid):
        self.calls.append(("cancel", cid))
        self._maybe_fail("cancel")

    async def find_order(self, symbol, cid):
        self.calls.append(("find", cid))
        return self.found


class NoSleep:
    """Stands in for the asyncio the order manager sees: records its back-off sleeps."""

    def __init__(self):
        self.slept: list[float] = []

    async def sleep(self, seconds):
        self.slept.append(seconds)

    def get_running_loop(self):
        return asyncio.get_running_loop()


@pytest.fixture
def slept(monkeypatch):
    fake = NoSleep()
    monkeypatch.setattr(orders_module, "asyncio", fake)
    return fake.slept


def manager(broker, filters=None, **kw):
    roomy = RateLimiter(rate_limits=({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1,
                                      "limit": 100_000},))
    return OrderManager(broker, filters or FILTERS, roomy, **kw)


def run(coro):
    return asyncio.run(coro)


def retry(code=-1007):
    return BrokerError("timeout", ErrorPolicy.RETRY, code)


# --- ids and sides --------------------------------------------------------------------------------------

def test_client_ids_name_symbol_bar_and_role():
    assert client_id("BTCUSDT", BAR_MS, "E") == "ab-BTCUSDT-683b9800-E"
    assert client_id("BTCUSDT", BAR_MS + 999, "S12") == "ab-BTCUSDT-683b9800-S12"    # seconds, not ms
    long_name = client_id("1000SHIBUSDTPERPETUALX", BAR_MS, "L3")
    assert long_name == "ab-1000SHIBUSDTPERP-683b9800-L3" and len(long_name) <= 36
    assert len(client_id("A" * 16, BAR_MS, "X" * 20)) == 36


def test_sides_of_opening_and_closing_orders():
    assert [order_side(Side.LONG, False), order_side(Side.LONG, True)] == ["BUY", "SELL"]
    assert [order_side(Side.SHORT, False), order_side(Side.SHORT, True)] == ["SELL", "BUY"]


def test_protection_ids_in_order():
    p = Protection("s", Decimal(1), Decimal(1), "t", Decimal(1), ((1, "l1"), (2, "l2")), 3)
    assert p.ids == ("s", "t", "l1", "l2")
    assert Protection().ids == () and Protection().generation == 0


# --- sending with retries -----------------------------------------------------------------------------------

def test_a_market_order_is_sent_once_and_timed(slept):
    broker = Recorder()
    m = manager(broker)
    answer = run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid-1", reduce_only=True))
    assert answer.client_id == "cid-1" and broker.calls == [("market", "BTCUSDT", "BUY", Decimal("0.010"), "cid-1", True)]
    assert len(m.latencies) == 1 and 0 <= m.latencies[0] < 5 and [c for c, _ in m.acked] == ["cid-1"] and slept == []
    run(m.market("BTCUSDT", "SELL", Decimal("0.5"), "cid-2"))
    assert broker.calls[-1][-1] is False


def test_transient_failures_are_looked_up_then_retried_with_doubling_back_off(slept):
    broker = Recorder(fail={"market": [retry(), retry(), retry()]})
    m = manager(broker)
    run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid"))
    assert [c[0] for c in broker.calls] == ["market", "find", "market", "find", "market", "find", "market"]
    assert slept == [0.2, 0.4, 0.8] and len(m.latencies) == 1


def test_the_back_off_is_capped_at_five_seconds(slept):
    broker = Recorder(fail={"market": [retry()] * 6})
    m = manager(broker, retries=6, backoff_s=2.0)
    run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid"))
    assert slept == [2.0, 4.0, 5.0, 5.0, 5.0, 5.0]


def test_after_the_last_retry_the_error_goes_to_the_caller(slept):
    broker = Recorder(fail={"market": [retry(-1001)] * 5})
    m = manager(broker)
    with pytest.raises(BrokerError) as refused:
        run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid"))
    assert refused.value.code == -1001 and [c[0] for c in broker.calls].count("market") == 5   # 1 + 4 retries
    assert len(slept) == 4 and m.latencies == []


def test_an_order_found_after_a_lost_answer_is_not_sent_again(slept):
    booked = result("cid", qty="0.010")
    broker = Recorder(fail={"market": [retry()]}, found=booked)
    m = manager(broker)
    assert run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid")) is booked
    assert [c[0] for c in broker.calls] == ["market", "find"] and m.latencies == []


@pytest.mark.parametrize("policy", [ErrorPolicy.VETO, ErrorPolicy.HALT])
def test_a_refusal_that_is_not_transient_is_not_retried(slept, policy):
    broker = Recorder(fail={"market": [BrokerError("no", policy, -2019)]})
    with pytest.raises(BrokerError):
        run(manager(broker).market("BTCUSDT", "BUY", Decimal("0.010"), "cid"))
    assert [c[0] for c in broker.calls] == ["market"] and slept == []


def test_quantities_round_toward_zero_to_the_step():
    m = manager(Recorder())
    assert m.qty("BTCUSDT", 0.0129) == Decimal("0.012") and m.qty("BTCUSDT", Decimal("1.0001")) == Decimal("1")


# --- protective orders ------------------------------------------------------------------------------------

LONG = Position("BTCUSDT", Side.LONG, 0.0129, 60_000.0, 59_000.04, 62_000.07, 1_000.0, 600.0, T0, 0.0129)


def test_a_first_protection_places_the_stop_then_the_target():
    broker = Recorder()
    protection, refused = run(manager(broker).protect(LONG, BAR_MS, Protection()))
    assert broker.calls == [
        ("protect", "STOP_MARKET", "SELL", Decimal("0.012"), Decimal("59000"), "ab-BTCUSDT-683b9800-S1"),
        ("protect", "TAKE_PROFIT_MARKET", "SELL", Decimal("0.012"), Decimal("62000"), "ab-BTCUSDT-683b9800-T1"),
    ]
    assert refused == []
    assert protection == Protection("ab-BTCUSDT-683b9800-S1", Decimal("59000"), Decimal("0.012"),
                                    "ab-BTCUSDT-683b9800-T1", Decimal("0.012"), (), 1)


def test_a_new_stop_stands_before_the_old_one_is_cancelled():
    broker = Recorder()
    m = manager(broker)
    first, _ = run(m.protect(LONG, BAR_MS, Protection()))
    broker.calls.clear()
    moved = LONG.with_(stop=59_500.0)
    second, _ = run(m.protect(moved, BAR_MS + 3_600_000, first))
    # the target covers the same quantity: it stays; only the stop is replaced, then the old one cancelled
    assert broker.calls == [
        ("protect", "STOP_MARKET", "SELL", Decimal("0.012"), Decimal("59500"), "ab-BTCUSDT-683ba610-S2"),
        ("cancel", "ab-BTCUSDT-683b9800-S1"),
    ]
    assert second.generation == 2 and second.target_id == first.target_id and second.stop_price == Decimal("59500")


def test_a_changed_quantity_replaces_the_target_too():
    broker = Recorder()
    m = manager(broker)
    first, _ = run(m.protect(LONG, BAR_MS, Protection()))
    broker.calls.clear()
    second, _ = run(m.protect(LONG.with_(qty=0.02), BAR_MS, first))
    assert [c[0:2] + (c[3], c[-1]) if c[0] == "protect" else c for c in broker.calls] == [
        ("protect", "STOP_MARKET", Decimal("0.02"), "ab-BTCUSDT-683b9800-S2"),
        ("protect", "TAKE_PROFIT_MARKET", Decimal("0.02"), "ab-BTCUSDT-683b9800-T2"),
        ("cancel", "ab-BTCUSDT-683b9800-S1"), ("cancel", "ab-BTCUSDT-683b9800-T1"),
    ]
    assert (second.target_id, second.target_qty) == ("ab-BTCUSDT-683b9800-T2", Decimal("0.02"))


def test_a_short_without_a_target_buys_to_close():
    broker = Recorder()
    short = Position("BTCUSDT", Side.SHORT, 0.5, 60_000.0, 61_000.0, None, 1_000.0, 600.0, T0, 0.5)
    protection, _ = run(manager(broker).protect(short, BAR_MS, Protection()))
    assert broker.calls == [("protect", "STOP_MARKET", "BUY", Decimal("0.5"), Decimal("61000"),
                             "ab-BTCUSDT-683b9800-S1")]
    assert protection.target_id is None and protection.target_qty is None


def test_ladder_levels_are_placed_once_each():
    broker = Recorder()
    m = manager(broker)
    laddered = LONG.with_(take_profit=None, qty=1.0)
    ladder = [(1, 61_000.05, 0.3), (2, 62_000.0, 0.3004)]
    first, refused = run(m.protect(laddered, BAR_MS, Protection(), ladder))
    assert [c for c in broker.calls if c[1] == "TAKE_PROFIT_MARKET"] == [
        ("protect", "TAKE_PROFIT_MARKET", "SELL", Decimal("0.3"), Decimal("61000"), "ab-BTCUSDT-683b9800-L1"),
        ("protect", "TAKE_PROFIT_MARKET", "SELL", Decimal("0.3"), Decimal("62000"), "ab-BTCUSDT-683b9800-L2"),
    ]
    assert first.ladder == ((1, "ab-BTCUSDT-683b9800-L1"), (2, "ab-BTCUSDT-683b9800-L2")) and refused == []
    broker.calls.clear()
    second, _ = run(m.protect(laddered.with_(stop=59_900.0), BAR_MS, first, ladder))
    assert [c[1] for c in broker.calls if c[0] == "protect"] == ["STOP_MARKET"]     # the levels stand already
    assert second.ladder == first.ladder


def test_a_refused_target_leaves_the_stop_standing():
    broker = Recorder(fail={"TAKE_PROFIT_MARKET": [BrokerError("target refused", ErrorPolicy.VETO, -2021)] * 2})
    laddered = LONG.with_(qty=1.0)
    protection, refused = run(manager(broker).protect(laddered, BAR_MS, Protection(), [(1, 61_000.0, 0.5)]))
    assert refused == ["target refused", "target refused"]
    assert protection.stop_id == "ab-BTCUSDT-683b9800-S1" and protection.target_id is None and protection.ladder == ()
    assert not [c for c in broker.calls if c[0] == "cancel"]


def test_a_stop_the_price_has_passed_is_told_apart():
    broker = Recorder(fail={"STOP_MARKET": [BrokerError("would trigger", ErrorPolicy.VETO, -2021)]})
    with pytest.raises(StopWouldTrigger) as passed:
        run(manager(broker).protect(LONG, BAR_MS, Protection("old", None, None, "oldT", None, (), 4)))
    assert (passed.value.code, passed.value.policy) == (-2021, ErrorPolicy.VETO)
    assert [c[0] for c in broker.calls] == ["protect"]         # nothing cancelled, no target sent


def test_another_refusal_of_the_stop_is_raised_as_it_came():
    broker = Recorder(fail={"STOP_MARKET": [BrokerError("margin", ErrorPolicy.VETO, -2019)]})
    with pytest.raises(BrokerError) as refused:
        run(manager(broker).protect(LONG, BAR_MS, Protection()))
    assert not isinstance(refused.value, StopWouldTrigger) and refused.value.code == -2019


def test_a_target_that_would_trigger_is_a_refusal_not_a_passed_stop():
    broker = Recorder(fail={"TAKE_PROFIT_MARKET": [BrokerError("would trigger", ErrorPolicy.VETO, -2021)]})
    protection, refused = run(manager(broker).protect(LONG, BAR_MS, Protection()))
    assert refused == ["would trigger"] and protection.stop_id is not None


# --- cancelling -----------------------------------------------------------------------------------------------

def test_cancelling_what_is_already_gone_is_fine_and_other_refusals_are_not():
    gone = Recorder(fail={"cancel": [BrokerError("unknown order", ErrorPolicy.VETO, -2011)]})
    run(manager(gone).cancel("BTCUSDT", Protection("s", None, None, "t", None, ((1, "l"),))))
    assert gone.calls == [("cancel", "s"), ("cancel", "t"), ("cancel", "l")]
    down = Recorder(fail={"cancel": [BrokerError("busy", ErrorPolicy.RETRY, -1008)]})
    with pytest.raises(BrokerError):
        run(manager(down).cancel_one("BTCUSDT", "s"))
    keys = Recorder(fail={"cancel": [BrokerError("keys", ErrorPolicy.HALT, -2015)]})
    with pytest.raises(BrokerError):
        run(manager(keys).cancel_one("BTCUSDT", "s"))
    nothing = Recorder()
    run(manager(nothing).cancel_one("BTCUSDT", None))
    assert nothing.calls == []


def test_the_defaults():
    import dataclasses

    m = OrderManager(Recorder(), FILTERS)
    assert (m.retries, m.backoff_s, m.latencies, len(m.acked), m.acked.maxlen) == (4, 0.2, [], 0, 10_000)
    assert isinstance(m.limiter, RateLimiter) and run(m.market("BTCUSDT", "BUY", Decimal("0.01"), "c")).client_id == "c"
    assert orders_module.WOULD_TRIGGER == -2021
    assert Protection() == Protection(None, None, None, None, None, (), 0)
    p = Protection()
    assert (p.stop_id, p.stop_price, p.stop_qty, p.target_id, p.target_qty) == (None, None, None, None, None)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.generation = 1


# --- the trade record from the exchange's books (autobot_lib/live/ledger.py; see also tests/test_ledger.py) ---

from autobot_lib.exchange.ports import FundingFee, TradeFill  # noqa: E402
from autobot_lib.live.ledger import LiveTrade, trade_record  # noqa: E402

E0 = 1_750_000_000_000
ETH = Position("ETHUSDT", Side.LONG, 1.0, 2000.0, 1970.0, None, 30.0, 20.0, pd.Timestamp(E0, unit="ms", tz="UTC"), 1.0)


def fill(side, price, qty, at, order, fee="0", pnl="0"):
    return TradeFill("ETHUSDT", order, side, Decimal(price), Decimal(qty), Decimal(fee), Decimal(pnl), at)


def test_fills_of_one_millisecond_are_taken_in_order_id_order():
    # two entry orders in the same millisecond: the lower id came first and is the first entry
    fills = [fill("BUY", "2010", "0.5", E0, "7"), fill("BUY", "2000", "1", E0, "5"),
             fill("SELL", "2020", "1.5", E0 + 3_600_000, "9")]
    trade = trade_record(ETH, fills, [], entry_ms=E0, reason="stop_loss", initial_stop=1970.0)
    assert trade.entry_price == 2000.0 and trade.qty == 1.5
    # an execution without an order id counts as id 0: before any numbered order of its millisecond
    fills = [fill("BUY", "2010", "0.5", E0, "1"), fill("BUY", "2000", "1", E0, "")]
    assert trade_record(ETH, fills, [], entry_ms=E0, reason="x", initial_stop=1970.0).entry_price == 2000.0


def test_a_record_without_an_exit_ends_at_its_entry_and_has_no_funding():
    trade = trade_record(ETH, [fill("BUY", "2000", "1", E0, "1", fee="0.8")],
                         [FundingFee("ETHUSDT", Decimal("0.3"), E0 + 3_600_000)], entry_ms=E0, reason="stop_rejected",
                         initial_stop=1970.0)
    assert trade.exit_time == trade.entry_time == pd.Timestamp(E0, unit="ms", tz="UTC")
    assert trade.funding == 0.0 and trade.fees == 0.8 and trade.pnl == -0.8
    # no excursions given: none recorded; no rules, no regime
    assert (trade.mae_r, trade.mfe_r, trade.entry_rules, trade.entry_regime) == (0.0, 0.0, "", None)
    d = trade.to_dict()
    assert d["exit_price"] is None and d["fees"] == 0.8 and d["qty"] == 1.0 and d["entry_time"] == \
        "2025-06-15T15:06:40+00:00"


def test_a_short_opens_by_selling():
    short = ETH.with_(side=Side.SHORT, stop=2030.0)
    fills = [fill("SELL", "2000", "1", E0, "1"), fill("BUY", "1990", "1", E0 + 60_000, "2", pnl="10")]
    trade = trade_record(short, fills, [], entry_ms=E0, reason="take_profit", initial_stop=2030.0)
    assert (trade.side, trade.entry_price, trade.exit_price, trade.qty, trade.pnl) == ("SHORT", 2000.0, 1990.0, 1.0, 10.0)
    assert trade.r_multiple == pytest.approx(10.0 / 30.0)


def test_a_trade_record_is_frozen():
    import dataclasses

    trade = trade_record(ETH, [], [], entry_ms=E0, reason="x", initial_stop=1970.0)
    assert isinstance(trade, LiveTrade)
    with pytest.raises(dataclasses.FrozenInstanceError):
        trade.pnl = 1.0


def test_the_annotations_of_the_live_values_are_types():
    """Each annotated field names a real type (tools and readers evaluate them: typing.get_type_hints)."""
    import typing

    from autobot_lib.live import engine, execution, ledger, reconcile

    for module in (orders_module, execution, ledger, reconcile, engine):
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__:
                typing.get_type_hints(value)


# --- reconciliation against a scripted exchange (autobot_lib/live/reconcile.py) ------------------------------

from autobot_lib.exchange.ports import ExchangePosition  # noqa: E402
from autobot_lib.live.execution import Executor, Held  # noqa: E402
from autobot_lib.live.reconcile import Reconciler  # noqa: E402
from autobot_lib.risk import RiskParams  # noqa: E402

MARKETS = {"BTCUSDT": MarketFilters.of("0.10", "0.001", "0.001", "5"),
           "ETHUSDT": MarketFilters.of("0.01", "0.001", "0.001", "5")}


class Exchange(Recorder):
    """A recorder that also holds positions and standing protective orders, and fills market orders."""

    def __init__(self, positions=None, standing=(), fail=None, price="100"):
        super().__init__(fail)
        self.held = {s: ExchangePosition(s, Decimal(a), Decimal(e)) for s, (a, e) in (positions or {}).items()}
        self.standing = list(standing)
        self.price = Decimal(price)

    async def positions(self):
        return dict(self.held)

    async def protective_orders(self):
        return list(self.standing)

    async def market_order(self, symbol, side, qty, cid, reduce_only=False):
        self.calls.append(("market", symbol, side, qty, cid, reduce_only))
        self._maybe_fail("market")
        signed = qty if side == "BUY" else -qty
        amount = (self.held[symbol].amount if symbol in self.held else Decimal(0)) + signed
        self.held[symbol] = ExchangePosition(symbol, amount, self.price)
        return OrderResult(symbol, cid, "1", "FILLED", side, qty, qty, self.price)

    async def protective_order(self, symbol, side, qty, trigger, cid, kind="STOP_MARKET"):
        self.calls.append(("protect", symbol, kind, side, qty, trigger, cid))
        self._maybe_fail(kind)
        return OrderResult(symbol, cid, "2", "NEW", side, qty, Decimal(0), Decimal(0), kind, trigger)

    async def cancel_protective(self, symbol, cid):
        self.calls.append(("cancel", symbol, cid))
        self._maybe_fail("cancel")

    async def fills(self, symbol, since_ms):
        return []

    async def funding_fees(self, symbol, since_ms):
        return []


def reconciler(exchange, held=None, atr=float("nan"), errors=None):
    alerts = []
    executor = Executor(exchange, manager(exchange, MARKETS), MARKETS, RiskParams(), lambda k, t: alerts.append((k, t)),
                        lambda s, e: (errors if errors is not None else []).append((s, e)))
    executor.held.update(held or {})
    r = Reconciler(exchange, executor, ["BTCUSDT", "ETHUSDT"], RiskParams(), lambda s: atr, 0.02,
                   lambda s, e: (errors if errors is not None else []).append((s, e.code)))
    return r, executor


def booked(symbol, side=Side.LONG, qty=0.5, stop=97.0, protection=None):
    pos = Position(symbol, side, qty, 100.0, stop, None, 3.0, 2.0, T0, qty)
    return Held(pos, protection or Protection(f"{symbol}-S3", None, None, None, None, (), 3))


def stop_order(symbol, qty, trigger, side="SELL", cid=None):
    return OrderResult(symbol, cid or f"{symbol}-S3", "9", "NEW", side, Decimal(qty), Decimal(0), Decimal(0),
                       "STOP_MARKET", Decimal(trigger))


def test_positions_the_exchange_closed_are_each_marked_and_their_orders_cancelled():
    exchange = Exchange()
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT"), "ETHUSDT": booked("ETHUSDT")})
    actions = run(r.run(BAR_MS))
    assert actions == ["BTCUSDT: no longer held on the exchange; booked at the next bar's close",
                       "ETHUSDT: no longer held on the exchange; booked at the next bar's close"]
    assert [c for c in exchange.calls if c[0] == "cancel"] == [("cancel", "BTCUSDT", "BTCUSDT-S3"),
                                                              ("cancel", "ETHUSDT", "ETHUSDT-S3")]
    for symbol in ("BTCUSDT", "ETHUSDT"):
        assert ex.held[symbol].flat == "closed_on_exchange" and ex.held[symbol].protection == Protection(generation=3)
    assert run(r.run(BAR_MS)) == []                  # marked already: booked at the next close, nothing more


def test_a_stop_that_stands_as_it_should_needs_nothing():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, [stop_order("BTCUSDT", "0.5", "97")])
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT")})
    assert run(r.run(BAR_MS)) == [] and exchange.calls == []


def test_a_missing_or_wrong_stop_is_re_armed_for_what_the_exchange_holds():
    exchange = Exchange({"BTCUSDT": ("0.5", "100"), "ETHUSDT": ("-0.7", "100")},
                        [stop_order("BTCUSDT", "0.3", "97")])
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT"), "ETHUSDT": booked("ETHUSDT", Side.SHORT, 0.5, 103.0)})
    actions = run(r.run(BAR_MS))
    assert actions == ["BTCUSDT: stop re-armed at 97 for 0.5 (was SELL 0.3 at 97)",
                       "ETHUSDT: stop re-armed at 103 for 0.7 (was missing)"]
    protects = [c for c in exchange.calls if c[0] == "protect"]
    assert [(c[1], c[3], c[4], c[5]) for c in protects] == [("BTCUSDT", "SELL", Decimal("0.5"), Decimal("97")),
                                                           ("ETHUSDT", "BUY", Decimal("0.7"), Decimal("103"))]
    assert ex.held["ETHUSDT"].position.qty == 0.7     # more on the exchange than in the books: the books take it
    assert ex.held["BTCUSDT"].position.qty == 0.5


def test_a_position_held_the_other_way_round_is_flattened():
    exchange = Exchange({"BTCUSDT": ("-0.5", "100")})
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT")})
    assert run(r.run(BAR_MS)) == ["BTCUSDT: the exchange held SHORT 0.5 against the books' LONG; flattened"]
    assert ("market", "BTCUSDT", "BUY", Decimal("0.5"), "ab-BTCUSDT-683b9800-F", True) in exchange.calls
    assert "BTCUSDT" not in ex.held and ex.trades[-1].exit_reason == "flattened_on_reconcile"


@pytest.mark.parametrize("atr, stop, how", [(2.0, 97.0, "ATR"), (float("nan"), 98.0, "2.0% fallback"),
                                            (0.0, 98.0, "2.0% fallback")])
def test_a_position_the_books_do_not_know_is_adopted_and_protected(atr, stop, how):
    exchange = Exchange({"ETHUSDT": ("0", "0"), "BTCUSDT": ("0.5", "100")})     # the empty one first
    r, ex = reconciler(exchange, atr=atr)
    assert run(r.run(BAR_MS)) == [f"BTCUSDT: adopted LONG 0.5 from the exchange; stop at {stop} ({how})"]
    held = ex.held["BTCUSDT"]
    distance = 100.0 - stop
    assert (held.position.stop, held.position.risk_per_unit, held.position.atr_at_entry, held.initial_stop) == \
        (stop, distance, distance / 1.5, stop)
    assert held.position.opened_at == pd.Timestamp(BAR_MS, unit="ms", tz="UTC") and held.entry_ms == BAR_MS
    assert "ETHUSDT" not in ex.held                   # an amount of 0 is no position


@pytest.mark.parametrize("amount, atr, said", [
    ("-2", 2.0, "adopted SHORT 2.0 from the exchange; stop at 103.0 (ATR)"),     # a short's stop goes above
    ("1", 0.5, "adopted LONG 1.0 from the exchange; stop at 99.25 (ATR)"),       # an ATR below one is still an ATR
])
def test_an_adopted_position_gets_its_atr_stop(amount, atr, said):
    r, _ = reconciler(Exchange({"ETHUSDT": (amount, "100")}), atr=atr)
    assert run(r.run(BAR_MS)) == [f"ETHUSDT: {said}"]


def test_an_adopted_position_whose_stop_has_passed_is_closed():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, fail={"STOP_MARKET": [BrokerError("x", ErrorPolicy.VETO, -2021)]})
    r, ex = reconciler(exchange, atr=2.0)
    assert run(r.run(BAR_MS)) == ["BTCUSDT: adopted LONG 0.5 from the exchange, but the price has passed its stop "
                                  "97.0 (stop_loss); closed at market"]
    assert "BTCUSDT" not in ex.held and ex.trades[-1].exit_reason == "unprotectable_on_adoption"


def test_other_markets_and_orphan_orders():
    orphan = stop_order("ETHUSDT", "1", "90", cid="ab-ETHUSDT-1-S1")
    exchange = Exchange({"SOLUSDT": ("3", "20")}, [orphan])
    r, ex = reconciler(exchange)
    assert run(r.run(BAR_MS)) == ["SOLUSDT: a position this bot does not trade (3); left alone",
                                  "ETHUSDT: orphan protective order ab-ETHUSDT-1-S1 cancelled"]
    assert exchange.calls == [("cancel", "ETHUSDT", "ab-ETHUSDT-1-S1")]


def test_every_unknown_position_is_looked_at_in_turn():
    exchange = Exchange({"SOLUSDT": ("3", "20"), "BTCUSDT": ("0.5", "100"), "ETHUSDT": ("-1", "100")})
    r, ex = reconciler(exchange, atr=2.0)
    assert run(r.run(BAR_MS)) == ["SOLUSDT: a position this bot does not trade (3); left alone",
                                  "BTCUSDT: adopted LONG 0.5 from the exchange; stop at 97.0 (ATR)",
                                  "ETHUSDT: adopted SHORT 1.0 from the exchange; stop at 103.0 (ATR)"]
    assert set(ex.held) == {"BTCUSDT", "ETHUSDT"}


def test_a_refused_repair_is_reported_and_the_others_go_on():
    errors = []
    exchange = Exchange({"BTCUSDT": ("0.5", "100"), "ETHUSDT": ("0.5", "100")},
                        fail={"STOP_MARKET": [BrokerError("margin", ErrorPolicy.VETO, -2019)]})
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT"), "ETHUSDT": booked("ETHUSDT")}, errors=errors)
    actions = run(r.run(BAR_MS))
    assert actions == ["BTCUSDT: not repaired (margin); retried at the next check",
                       "ETHUSDT: stop re-armed at 97 for 0.5 (was missing)"]
    assert errors == [("BTCUSDT", -2019)] and ex.held["BTCUSDT"].position.qty == 0.5


# --- the executor against a scripted exchange (autobot_lib/live/execution.py) -------------------------------

from autobot_lib.model import Bar, ExitReason, IntentKind, OrderIntent  # noqa: E402
from autobot_lib.pipeline import Decision, _position_intents  # noqa: E402
from autobot_lib.risk.exits import ExitFill, PositionStep  # noqa: E402


class Metrics:
    def __init__(self):
        self.closed = []

    def trade_closed(self, r):
        self.closed.append(r)

    def tp_order_placed(self, *args):
        pass

    def tp_filled(self, *args):
        pass


def executor(exchange, held=None, params=None):
    alerts, errors, metrics = [], [], Metrics()
    ex = Executor(exchange, manager(exchange, MARKETS), MARKETS, params or RiskParams(take_profit_r=None),
                  lambda k, t: alerts.append((k, t)), lambda s, e: errors.append((s, e.code)), metrics, 3_600_000)
    ex.held.update(held or {})
    return ex, alerts, errors, metrics


def entry(qty="0.5", side=Side.LONG):
    return OrderIntent("BTCUSDT", IntentKind.ENTRY, side, Decimal(qty), 100.0, reason="RULE_A")


def test_an_entry_fills_opens_and_protects():
    exchange = Exchange(price="100")
    ex, alerts, errors, _ = executor(exchange)
    run(ex.enter(entry(), BAR_MS, 2.0, "BULL_TREND"))
    held = ex.held["BTCUSDT"]
    assert exchange.calls[0] == ("market", "BTCUSDT", "BUY", Decimal("0.5"), "ab-BTCUSDT-683b9800-E", False)
    assert (held.position.qty, held.position.entry_price, held.position.stop) == (0.5, 100.0, 97.0)
    assert (held.entry_bar_ms, held.entry_ms, held.initial_stop, held.rules, held.regime) == \
        (BAR_MS, BAR_MS + 3_600_000, 97.0, "RULE_A", "BULL_TREND")
    assert held.position.opened_at == pd.Timestamp(BAR_MS + 3_600_000, unit="ms", tz="UTC")
    assert held.protection.stop_id == "ab-BTCUSDT-683b9800-S1" and alerts == [] and errors == []


def test_an_unfilled_entry_is_an_alert_and_no_position():
    class Unfilled(Exchange):
        async def market_order(self, symbol, side, qty, cid, reduce_only=False):
            return OrderResult(symbol, cid, "1", "EXPIRED", side, qty, Decimal(0), Decimal(0))

    ex, alerts, errors, _ = executor(Unfilled())
    run(ex.enter(entry(), BAR_MS, 2.0, None))
    assert ex.held == {} and alerts == [("entry_unfilled", "BTCUSDT: entry ab-BTCUSDT-683b9800-E not filled (EXPIRED)")]


def test_a_refused_entry_goes_to_the_error_count():
    exchange = Exchange(fail={"market": [BrokerError("margin", ErrorPolicy.VETO, -2019)]})
    ex, alerts, errors, _ = executor(exchange)
    run(ex.enter(entry(), BAR_MS, 2.0, None))
    assert ex.held == {} and errors == [("BTCUSDT", -2019)] and alerts == []


def test_an_entry_whose_stop_is_refused_is_closed_again():
    exchange = Exchange(fail={"STOP_MARKET": [BrokerError("refused", ErrorPolicy.VETO, -1111)]})
    ex, alerts, errors, metrics = executor(exchange)
    run(ex.enter(entry(), BAR_MS, 2.0, None))
    assert alerts[0] == ("stop_rejected", "BTCUSDT: protective stop refused (refused); closing the position")
    assert exchange.calls[-1][0] == "market" and exchange.calls[-1][2] == "SELL" and exchange.calls[-1][-1] is True
    assert exchange.calls[-1][4] == "ab-BTCUSDT-683b9800-X"
    assert "BTCUSDT" not in ex.held and ex.trades[-1].exit_reason == "stop_rejected"


def test_excursions_are_counted_from_the_first_entry():
    h = booked("BTCUSDT")
    h.observe(Bar(T0, 100, 104, 98, 101), PositionStep(h.position))
    h.observe(Bar(T0, 101, 102, 95, 96), PositionStep(h.position))
    assert (h.mfe, h.mae) == (4.0, -5.0)
    s = booked("BTCUSDT", Side.SHORT, stop=103.0)
    s.observe(Bar(T0, 100, 102, 97, 98), PositionStep(s.position))
    assert (s.mfe, s.mae) == (3.0, -2.0)
    # a bar that ends the position counts up to the fill: by the stop, the open then the stop
    stopped = booked("BTCUSDT")
    stopped.observe(Bar(T0, 99, 100, 96, 97), PositionStep(None, (ExitFill(ExitReason.STOP_LOSS, 0.5, 97.0),)))
    assert (stopped.mfe, stopped.mae) == (0.0, -3.0)
    # by the target: the adverse extreme first, then the target
    target = booked("BTCUSDT")
    target.observe(Bar(T0, 101, 107, 99, 106), PositionStep(None, (ExitFill(ExitReason.TAKE_PROFIT, 0.5, 106.0),)))
    assert (target.mfe, target.mae) == (6.0, -1.0)


def decision(step, adds=(), symbol="BTCUSDT"):
    """The decision the pipeline makes of ``step`` for a booked position: its intents from the pipeline's own
    builder (the executor sends intents, never steps), with ``adds`` as the bar's ADD intents."""
    before = booked(symbol).position
    intents = [i for i in _position_intents(symbol, before, step, MARKETS[symbol], 100.0) if i.kind is not IntentKind.ADD]
    return Decision(None, (*adds, *intents), step)


def test_a_stop_the_exchange_did_not_fill_is_closed_at_market_and_booked_with_the_models_reason():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")})
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": booked("BTCUSDT")})
    step = PositionStep(None, (ExitFill(ExitReason.STOP_LOSS, 0.5, 97.0),))
    run(ex.follow("BTCUSDT", BAR_MS, decision(step), exchange.held["BTCUSDT"]))
    assert alerts == [("exit_at_market", "BTCUSDT: the model's stop_loss was reached, the exchange's order was not: "
                                         "closing 0.5 at market")]
    assert ex.trades[-1].exit_reason == "stop_loss" and "BTCUSDT" not in ex.held


def test_a_stop_the_exchange_filled_is_booked_without_an_order():
    exchange = Exchange()
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": booked("BTCUSDT")})
    step = PositionStep(None, (ExitFill(ExitReason.TAKE_PROFIT, 0.5, 106.0),))
    run(ex.follow("BTCUSDT", BAR_MS, decision(step), None))
    assert alerts == [] and not [c for c in exchange.calls if c[0] == "market"]
    assert ex.trades[-1].exit_reason == "take_profit"


def test_a_position_the_exchange_closed_is_booked_with_why():
    exchange = Exchange()
    h = booked("BTCUSDT")
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.follow("BTCUSDT", BAR_MS, decision(PositionStep(h.position)), None))
    assert ex.trades[-1].exit_reason == "closed_on_exchange"
    h2 = booked("ETHUSDT")
    h2.flat = "trailing_stop"
    ex.held["ETHUSDT"] = h2
    exchange.held["ETHUSDT"] = ExchangePosition("ETHUSDT", Decimal("0.5"), Decimal("100"))  # stale: flat decides
    run(ex.follow("ETHUSDT", BAR_MS, decision(PositionStep(h2.position), symbol="ETHUSDT"), exchange.held["ETHUSDT"]))
    assert ex.trades[-1].exit_reason == "trailing_stop"


def test_more_on_the_exchange_than_the_model_is_closed_and_less_is_taken():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")})
    h = booked("BTCUSDT")
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": h})
    step = PositionStep(h.position.with_(qty=0.3, ladder_steps=1), (ExitFill(ExitReason.TP_LADDER, 0.2, 103.0),))
    run(ex.follow("BTCUSDT", BAR_MS, decision(step), exchange.held["BTCUSDT"]))
    assert ("market", "BTCUSDT", "SELL", Decimal("0.2"), "ab-BTCUSDT-683b9800-P", True) in exchange.calls
    assert alerts[0] == ("exit_at_market", "BTCUSDT: 0.2 the model closed inside the bar closed at market")
    assert ex.held["BTCUSDT"].position.qty == 0.3
    assert [c[4] for c in exchange.calls if c[0] == "protect"] == [Decimal("0.3")]    # the stop covers what is left
    exchange = Exchange({"BTCUSDT": ("0.4", "100")})
    h = booked("BTCUSDT")
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.follow("BTCUSDT", BAR_MS, decision(PositionStep(h.position)), exchange.held["BTCUSDT"]))
    assert alerts == [("quantity_differs", "BTCUSDT: the exchange holds 0.4, the model 0.5: the exchange's quantity "
                                           "is kept")]
    assert ex.held["BTCUSDT"].position.qty == 0.4 and [c[4] for c in exchange.calls if c[0] == "protect"] == \
        [Decimal("0.4")]


def test_a_quiet_bar_sends_nothing():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")})
    h = booked("BTCUSDT")
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.follow("BTCUSDT", BAR_MS, decision(PositionStep(h.position.with_(bars_held=1))), exchange.held["BTCUSDT"]))
    assert exchange.calls == [] and alerts == [] and ex.held["BTCUSDT"].position.bars_held == 1


def test_a_market_exit_and_a_moved_stop():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")})
    h = booked("BTCUSDT")
    ex, _, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.follow("BTCUSDT", BAR_MS, decision(PositionStep(h.position, close_reason=ExitReason.REGIME_CHANGE)),
                  exchange.held["BTCUSDT"]))
    assert ("market", "BTCUSDT", "SELL", Decimal("0.5"), "ab-BTCUSDT-683b9800-X", True) in exchange.calls
    assert ex.trades[-1].exit_reason == "regime_change"
    exchange = Exchange({"BTCUSDT": ("0.5", "100")})
    h = booked("BTCUSDT")
    ex, _, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.follow("BTCUSDT", BAR_MS, decision(PositionStep(h.position.with_(stop=99.0), stop_moved=True)),
                  exchange.held["BTCUSDT"]))
    assert [(c[2], c[5], c[6]) for c in exchange.calls if c[0] == "protect"] == \
        [("STOP_MARKET", Decimal("99"), "ab-BTCUSDT-683b9800-S4")]
    assert ("cancel", "BTCUSDT", "BTCUSDT-S3") in exchange.calls


def test_pyramid_adds_fill_and_average_the_entry():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, price="110")
    h = booked("BTCUSDT")
    ex, _, errors, _ = executor(exchange, {"BTCUSDT": h})
    add = OrderIntent("BTCUSDT", IntentKind.ADD, Side.LONG, Decimal("0.25"), 108.0, reason="pyramid_level_1")
    step = PositionStep(h.position.with_(qty=0.75, pyramid_steps=1, stop=101.0), stop_moved=True)
    ex.alert = lambda k, t: alerts.append((k, t))
    alerts = []
    run(ex.follow("BTCUSDT", BAR_MS, decision(step, [add]), exchange.held["BTCUSDT"]))
    assert alerts == []                                 # the exchange holds what the model held before the add
    assert ("market", "BTCUSDT", "BUY", Decimal("0.25"), "ab-BTCUSDT-683b9800-A1", False) in exchange.calls
    pos = ex.held["BTCUSDT"].position
    assert pos.qty == 0.75 and pos.entry_price == pytest.approx((100 * 0.5 + 110 * 0.25) / 0.75)
    assert [c[4] for c in exchange.calls if c[0] == "protect"] == [Decimal("0.75")] and errors == []


def test_a_stop_the_price_has_passed_closes_and_waits_for_the_close():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, fail={"STOP_MARKET": [BrokerError("x", ErrorPolicy.VETO, -2021)]})
    h = booked("BTCUSDT")
    h.position = h.position.with_(stop=100.0, be_promoted=True)
    ex, alerts, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.protect("BTCUSDT", BAR_MS))
    assert alerts == [("stop_passed", "BTCUSDT: the price has passed the stop 100.0: closed at market (break_even_stop)")]
    assert h.flat == "break_even_stop" and "BTCUSDT" in ex.held
    assert ("market", "BTCUSDT", "SELL", Decimal("0.5"), "ab-BTCUSDT-683b9800-X", True) in exchange.calls


def test_closing_what_the_exchange_holds_whichever_way():
    exchange = Exchange({"BTCUSDT": ("-0.3", "100")})
    h = booked("BTCUSDT")
    ex, _, _, _ = executor(exchange, {"BTCUSDT": h})
    run(ex.close_at_market("BTCUSDT", BAR_MS, role="Z"))
    assert exchange.calls[0] == ("market", "BTCUSDT", "BUY", Decimal("0.3"), "ab-BTCUSDT-683b9800-Z", True)
    assert h.protection == Protection(generation=3) and ("cancel", "BTCUSDT", "BTCUSDT-S3") in exchange.calls
    exchange = Exchange({"BTCUSDT": ("0", "100")})
    ex, _, _, _ = executor(exchange, {"BTCUSDT": booked("BTCUSDT")})
    run(ex.close_at_market("BTCUSDT", BAR_MS))
    assert [c[0] for c in exchange.calls] == ["cancel"]
    short = booked("ETHUSDT", Side.SHORT, stop=103.0)
    exchange = Exchange({"ETHUSDT": ("0.2", "100")})                   # held long against a short book: sold
    ex, _, _, _ = executor(exchange, {"ETHUSDT": short})
    run(ex.close_at_market("ETHUSDT", BAR_MS))
    assert exchange.calls[0][:4] == ("market", "ETHUSDT", "SELL", Decimal("0.2"))


def test_finishing_books_the_trade_even_when_the_exchange_cannot_be_read():
    class Unreadable(Exchange):
        async def fills(self, symbol, since_ms):
            raise BrokerError("down", ErrorPolicy.RETRY, -1001)

    exchange = Unreadable(fail={"cancel": [BrokerError("busy", ErrorPolicy.RETRY, -1008)]})
    ex, alerts, _, metrics = executor(exchange, {"BTCUSDT": booked("BTCUSDT")})
    trade = run(ex.finish("BTCUSDT", "manual_close"))
    assert alerts == [("cancel_failed", "BTCUSDT: protective orders not cancelled (busy); reconciliation retries"),
                      ("trade_books_unread", "BTCUSDT: the exchange's fills could not be read (down); the trade is "
                                             "booked without its costs")]
    assert trade.exit_reason == "manual_close" and trade.fees == 0 and "BTCUSDT" not in ex.held
    assert len(metrics.closed) == 1 and math.isnan(metrics.closed[0]) and list(ex.trades) == [trade]  # no R


def test_a_closed_trade_reports_its_r():
    class Books(Exchange):
        async def fills(self, symbol, since_ms):
            return [TradeFill("BTCUSDT", "1", "BUY", Decimal("100"), Decimal("0.5"), Decimal("0"), Decimal("0"), 0),
                    TradeFill("BTCUSDT", "2", "SELL", Decimal("103"), Decimal("0.5"), Decimal("0"), Decimal("1.5"), 1)]

    ex, _, _, metrics = executor(Books(), {"BTCUSDT": booked("BTCUSDT")})
    run(ex.finish("BTCUSDT", "take_profit"))
    assert metrics.closed == [1.5 / (3.0 * 0.5)]
    assert ex.trades.maxlen == 1_000


# --- the engine's own bookkeeping (autobot_lib/live/engine.py) ----------------------------------------------

from autobot_lib.config import load_settings  # noqa: E402
from autobot_lib.exchange.ports import Balance  # noqa: E402
from autobot_lib.live.engine import LiveEngine  # noqa: E402
from autobot_lib.live.keeper import _restored  # noqa: E402
from autobot_lib.live.safety import Trip  # noqa: E402
from autobot_lib.model import TradingState  # noqa: E402
from autobot_lib.state import BotState, OpenPosition  # noqa: E402

DAY_MS = 86_400_000


class Account(Exchange):
    def __init__(self, equity="10000", name="paper", server_ms=0):
        super().__init__()
        self.equity, self.name, self.server_ms = Decimal(equity), name, server_ms

    async def balance(self):
        return Balance(self.equity, self.equity - Decimal(100), self.equity)

    async def server_time_ms(self):
        return self.server_ms


class Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0) if len(self.times) > 1 else self.times[0]


def engine(broker, clock=None, **settings):
    alerts = []
    e = LiveEngine(load_settings(env_file=None, **settings), broker, ["BTCUSDT"],
                   alert=lambda k, t: alerts.append((k, t)), clock=clock or (lambda: 1_000.0))
    return e, alerts


def test_a_saved_position_comes_back_with_its_orders():
    pos = Position("BTCUSDT", Side.SHORT, 0.5, 100.0, 103.0, None, 3.0, 2.0, T0, 0.5, first_entry_price=99.0)
    ids = ("ab-BTCUSDT-683b9800-E", "ab-BTCUSDT-683b9800-S3", "ab-BTCUSDT-683b9800-T3", "ab-BTCUSDT-683b9800-L2",
           "ab-BTCUSDT-683b9800-L1", "ab-BTCUSDT-683b9800-Lx")
    held = _restored(OpenPosition(pos, "ab-BTCUSDT-683b9800-S3", ids))
    assert held.protection == Protection("ab-BTCUSDT-683b9800-S3", None, None, "ab-BTCUSDT-683b9800-T3", None,
                                         ((1, "ab-BTCUSDT-683b9800-L1"), (2, "ab-BTCUSDT-683b9800-L2")), 3)
    assert held.initial_stop == 102.0 and held.entry_ms == held.entry_bar_ms == int(T0.value // 1_000_000)
    assert held.position is pos
    assert _restored(OpenPosition(pos, None, ())).protection == Protection()
    assert _restored(OpenPosition(pos, "legacy-stop", ())).protection.generation == 0
    assert _restored(OpenPosition(pos.with_(side=Side.LONG, stop=96.0), None, ())).initial_stop == 96.0


def test_the_daily_anchor_is_the_first_close_of_each_utc_day():
    broker = Account("10000")
    e, alerts = engine(broker)
    day = 20_000 * DAY_MS
    a = run(e.account(day - 3_600_000))                  # the bar 23:00-00:00 closes on the new day
    assert (a.equity, a.available, a.daily_anchor, a.peak_equity) == (10_000.0, 9_900.0, 10_000.0, 10_000.0)
    assert e.keeper.anchor_day == 20_000
    broker.equity = Decimal("9800")
    a = run(e.account(day))                              # the same day: the anchor stays
    assert (a.daily_anchor, a.peak_equity, e.keeper.last_equity) == (10_000.0, 10_000.0, 9_800.0)
    assert a.state is TradingState.ACTIVE and alerts == []
    broker.equity = Decimal("9400")                      # 6 % down on the day: the kill switch halts
    a = run(e.account(day + 3_600_000))
    assert a.state is TradingState.HALTED and e.kill.tripped is Trip.DAILY_DRAWDOWN
    assert alerts == [("kill_switch", "kill switch: daily loss 6.00% (limit 6.00%); entries halted, stops kept")]
    broker.equity = Decimal("9000")
    a = run(e.account(day + DAY_MS - 3_600_000))         # the next day's first close re-anchors
    assert a.daily_anchor == 9_000.0 and e.keeper.anchor_day == 20_001


def test_errors_count_toward_the_kill_switch_and_a_refused_account_halts():
    e, alerts = engine(Account())
    for _ in range(4):
        e.guard.report_error("BTCUSDT", BrokerError("busy", ErrorPolicy.RETRY, -1008))
    assert not e.kill.tripped and alerts[-1] == ("order_error:-1008", "BTCUSDT: busy")
    e.guard.report_error("BTCUSDT", BrokerError("busy", ErrorPolicy.RETRY, -1008))
    assert e.kill.tripped is Trip.ERROR_BURST and alerts[-1][0] == "kill_switch"
    assert alerts[-1][1].startswith("kill switch: 5 errors in 60 s, last: busy; entries halted")
    e, alerts = engine(Account())
    e.guard.report_error("ETHUSDT", BrokerError("bad key", ErrorPolicy.HALT, -2015))
    assert e.kill.tripped is Trip.MANUAL and e.kill.detail == "exchange refused the account: bad key"
    assert alerts == [("order_error:-2015", "ETHUSDT: bad key"),
                      ("kill_switch", "kill switch: exchange refused the account: bad key; entries halted, "
                                      "stops kept")]
    assert e.trading_state is TradingState.HALTED


def test_clock_drift_is_measured_against_the_exchange_only():
    e, alerts = engine(Account(name="paper", server_ms=99))
    assert run(e.guard.check_clock(e.broker)) == 0.0
    # before 1000.0 s, after 1000.2 s: the middle is 1,000,100 ms; the exchange says 1,006,200: 6.1 s ahead
    e, alerts = engine(Account(name="live", server_ms=1_006_200), clock=Clock(1_000.0, 1_000.2, 1_000.3))
    assert run(e.guard.check_clock(e.broker)) == pytest.approx(6_100.0)
    assert e.kill.tripped is Trip.CLOCK_DRIFT and alerts[-1][0] == "kill_switch"
    e, alerts = engine(Account(name="testnet", server_ms=1_004_000), clock=Clock(1_000.0))
    assert run(e.guard.check_clock(e.broker)) == pytest.approx(4_000.0) and not e.kill.tripped and alerts == []


def test_pause_resume_halt_and_rearm():
    e, alerts = engine(Account())
    assert e.trading_state is TradingState.ACTIVE
    e.manual.pause("alice")
    assert e.trading_state is TradingState.REDUCING and e.manual.paused_by == "alice"
    assert alerts[-1] == ("paused", "paused by alice: no new entries; exits and stops go on")
    e.manual.resume("bob")
    assert e.trading_state is TradingState.ACTIVE and alerts[-1] == ("resumed", "resumed by bob")
    e.manual.halt("carol")
    assert e.trading_state is TradingState.HALTED and alerts[-1] == (
        "kill_switch", "kill switch: halted by carol; entries halted, stops kept")
    e.manual.pause("dave")
    assert e.trading_state is TradingState.HALTED                       # the kill switch outranks a pause
    e.manual.resume("erin")
    assert alerts[-1] == ("resumed", "resumed by erin (the kill switch is still tripped: re-arm it to trade)")
    assert e.manual.rearm("frank") == "re-armed by frank; was manual (halted by carol)"
    assert alerts[-1] == ("kill_switch_rearmed", "re-armed by frank; was manual (halted by carol)")
    e.manual.halt("gina")
    n = len(alerts)
    e.manual.halt("gina")                                                      # once
    assert len(alerts) == n


def test_a_snapshot_restores_what_it_saved():
    e, _ = engine(Account())
    e.keeper.peak, e.keeper.anchor, e.keeper.anchor_day = 12_000.0, 11_000.0, 20_000
    e.manual.halt("alice")
    state = e.keeper.snapshot(e.held)
    assert (state.trading_state, state.kill_reason, state.peak_equity, state.daily_anchor) == \
        (TradingState.HALTED, "halted by alice", 12_000.0, 11_000.0)
    assert state.anchor_day == pd.Timestamp(20_000 * DAY_MS, unit="ms").date()
    other, _ = engine(Account())
    other.restore(state)
    assert (other.keeper.peak, other.keeper.anchor, other.keeper.anchor_day) == (12_000.0, 11_000.0, 20_000)
    assert other.kill.tripped is Trip.MANUAL and other.kill.detail == "halted by alice"
    fresh, _ = engine(Account())
    fresh.restore(BotState())
    assert fresh.keeper.anchor_day is None and not fresh.kill.tripped
    fresh.restore(BotState(trading_state=TradingState.REDUCING))
    assert fresh.kill.detail == "halted before the restart"
    assert engine(Account())[0].keeper.snapshot({}).kill_reason is None


def test_every_order_is_counted_in_binances_order_windows():
    limiter = RateLimiter(rate_limits=({"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                                        "limit": 1},), clock=lambda: 1_000.0, headroom=1.0)
    m = OrderManager(Recorder(), FILTERS, limiter)
    assert limiter.delay(1, order=True) == 0
    run(m.market("BTCUSDT", "BUY", Decimal("0.010"), "cid"))
    assert limiter.delay(1, order=True) == pytest.approx(10.0)     # the one order of the window is spent


def test_a_held_position_starts_with_nothing_recorded():
    pos = Position("BTCUSDT", Side.LONG, 0.5, 100.0, 97.0, None, 3.0, 2.0, T0, 0.5)
    h = Held(pos)
    assert (h.protection, h.entry_bar_ms, h.entry_ms, h.mae, h.mfe, h.rules, h.regime, h.flat) == \
        (Protection(), 0, 0, 0.0, 0.0, "", None, None)
    assert h.initial_stop != h.initial_stop                     # NaN: unknown


def test_fills_are_logged_on_the_live_logger(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="autobot.live"):
        ex, _, _, _ = executor(Exchange(price="100"))
        run(ex.enter(entry(), BAR_MS, 2.0, None))
    (record,) = [r for r in caplog.records if "filled at" in r.getMessage()]
    assert record.name == "autobot.live" and record.getMessage() == "BTCUSDT LONG 0.5 filled at 100"
    assert (record.client_id, record.stop, record.reason) == ("ab-BTCUSDT-683b9800-E", 97.0, "RULE_A")


def test_a_booked_stop_the_price_has_passed_closes_the_position():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, fail={"STOP_MARKET": [BrokerError("x", ErrorPolicy.VETO, -2021)]})
    r, ex = reconciler(exchange, {"BTCUSDT": booked("BTCUSDT")})
    assert run(r.run(BAR_MS)) == ["BTCUSDT: the price has passed its stop 97; closed at market"]
    assert ex.held["BTCUSDT"].flat == "stop_loss"
    assert ("market", "BTCUSDT", "SELL", Decimal("0.5"), "ab-BTCUSDT-683b9800-X", True) in exchange.calls


def test_two_adds_get_their_levels_ids_and_a_refused_one_does_not_stop_the_next():
    exchange = Exchange({"BTCUSDT": ("0.5", "100")}, price="110",
                        fail={"market": [BrokerError("margin", ErrorPolicy.VETO, -2019)]})
    h = booked("BTCUSDT")
    ex, alerts, errors, _ = executor(exchange, {"BTCUSDT": h})
    adds = [OrderIntent("BTCUSDT", IntentKind.ADD, Side.LONG, Decimal("0.25"), 108.0),
            OrderIntent("BTCUSDT", IntentKind.ADD, Side.LONG, Decimal("0.1"), 108.0)]
    step = PositionStep(h.position.with_(qty=0.85, pyramid_steps=2, stop=101.0), stop_moved=True)
    run(ex.follow("BTCUSDT", BAR_MS, decision(step, adds), exchange.held["BTCUSDT"]))
    assert [c[4] for c in exchange.calls if c[0] == "market"] == ["ab-BTCUSDT-683b9800-A1", "ab-BTCUSDT-683b9800-A2"]
    assert errors == [("BTCUSDT", -2019)] and ex.held["BTCUSDT"].position.qty == 0.6   # the second filled


def test_the_default_bar_is_an_hour():
    exchange = Exchange(price="100")
    ex = Executor(exchange, manager(exchange, MARKETS), MARKETS, RiskParams(take_profit_r=None), lambda k, t: None,
                  lambda s, e: None)
    run(ex.enter(entry(), BAR_MS, 2.0, None))
    assert ex.held["BTCUSDT"].entry_ms == BAR_MS + 3_600_000


def test_a_refused_target_is_an_alert_and_the_stop_stands():
    exchange = Exchange(price="100", fail={"TAKE_PROFIT_MARKET": [BrokerError("tp refused", ErrorPolicy.VETO, -4164)]})
    ex, alerts, _, _ = executor(exchange, params=RiskParams())
    run(ex.enter(entry(), BAR_MS, 2.0, None))
    assert alerts == [("target_rejected", "BTCUSDT: take profit refused (tp refused); the stop stands")]
    assert ex.held["BTCUSDT"].protection.stop_id == "ab-BTCUSDT-683b9800-S1"


def test_a_closed_trade_is_logged_with_its_numbers(caplog):
    import logging

    class Books(Exchange):
        async def fills(self, symbol, since_ms):
            return [TradeFill("BTCUSDT", "1", "BUY", Decimal("100"), Decimal("0.5"), Decimal("0"), Decimal("0"), 0),
                    TradeFill("BTCUSDT", "2", "SELL", Decimal("103"), Decimal("0.5"), Decimal("0"), Decimal("1.5"), 1)]

    ex, _, _, _ = executor(Books(), {"BTCUSDT": booked("BTCUSDT")})
    with caplog.at_level(logging.INFO, logger="autobot.live"):
        run(ex.finish("BTCUSDT", "take_profit"))
    (record,) = [r for r in caplog.records if "closed" in r.getMessage()]
    assert record.getMessage() == "BTCUSDT LONG closed (take_profit)"
    assert (record.entry, record.exit, record.qty, record.pnl, record.r) == (100.0, 103.0, 0.5, 1.5, 1.0)
