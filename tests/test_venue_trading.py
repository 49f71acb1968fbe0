"""The trading venue driven by the real ccxt 4.5.90 client (binanceusdm and ccxt.pro), end to end on
127.0.0.1: orders, algo stops, positions, margin, replay, streams, signing and faults.

Expectations are computed here from the same real candles and funding rates the venue replays, never
read back from the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal

import ccxt
import pandas as pd
import pytest

from autobot_lib.exchange.venue import Fault, venue_client
from conftest import REPO, REPLAY_START, VENUE_KEY, VENUE_SECRET, data_dir, free_port, real, real_funding

SYMBOL = "BTC/USDT:USDT"
TAKER, MAKER = Decimal("0.0005"), Decimal("0.0002")
HOUR = pd.Timedelta(hours=1)


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return real("binance_usdm_BTCUSDT_1h.csv.gz")


@pytest.fixture
def ex(trading_venue):
    client = venue_client(trading_venue.url, VENUE_KEY, VENUE_SECRET, enableRateLimit=False)
    client.load_markets()
    return client


def d(x) -> Decimal:
    return Decimal(repr(float(x)))


def start() -> pd.Timestamp:
    return pd.Timestamp(REPLAY_START, tz="UTC")


def price_at(bars: pd.DataFrame, when: pd.Timestamp) -> Decimal:
    """The venue's mark price at a clock time: the close of the bar that closed then."""
    return d(bars.loc[when - HOUR, "close"])


def trade_at(bars: pd.DataFrame, when: pd.Timestamp) -> Decimal:
    """Where a market order sent at a clock time fills: the open of the bar that opens then (the first trade
    after the close; docs/fill-model.md)."""
    return d(bars.loc[when, "open"])


def funding_paid(qty: Decimal, bars: pd.DataFrame, after: pd.Timestamp, before: pd.Timestamp) -> Decimal:
    """What a long of ``qty`` pays in funding for events strictly between two clock times."""
    rates = real_funding("binance_usdm_BTCUSDT_funding.csv.gz")["funding_rate"]
    due = rates[(rates.index > after) & (rates.index < before)]
    return sum((qty * price_at(bars, t) * d(r) for t, r in due.items()), Decimal(0))


def paths(venue, method: str) -> list[str]:
    return [r["path"] for r in venue.requests if r["method"] == method]


# --- account, orders, positions ---------------------------------------------------------------------


def test_market_entry_gives_the_position_and_balance_the_candles_imply(trading_venue, ex, bars):
    assert ex.set_leverage(10, SYMBOL)["leverage"] == 10
    assert ex.set_margin_mode("isolated", SYMBOL)["msg"] == "success"
    assert ex.fetch_balance()["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}

    order = ex.create_order(SYMBOL, "market", "buy", 0.01)
    entry = trade_at(bars, start())
    fee = entry * Decimal("0.01") * TAKER
    assert (order["status"], order["filled"], d(order["average"])) == ("closed", 0.01, entry)

    trading_venue.advance(5)
    mark = price_at(bars, start() + 5 * HOUR)
    (position,) = ex.fetch_positions([SYMBOL])
    assert (position["side"], position["contracts"], position["marginMode"]) == ("long", 0.01, "isolated")
    assert d(position["entryPrice"]) == entry
    assert d(position["unrealizedPnl"]) == (mark - entry) * Decimal("0.01")
    assert d(position["initialMargin"]) == mark * Decimal("0.01") / 10
    balance = ex.fetch_balance()["USDT"]
    assert d(balance["total"]) == (10_000 - fee + (mark - entry) * Decimal("0.01")).quantize(Decimal("1e-8"))
    assert ex.fetch_leverage(SYMBOL)["longLeverage"] == 10


def test_reduce_only_stop_goes_through_the_algo_api_and_fills_when_the_replay_crosses_it(trading_venue, ex, bars):
    ex.create_order(SYMBOL, "market", "buy", 0.02)
    entry = trade_at(bars, start())
    stop = Decimal(ex.price_to_precision(SYMBOL, float(entry) * 0.97))
    placed = ex.create_order(SYMBOL, "market", "sell", 0.02, params={"stopLossPrice": float(stop),
                                                                     "reduceOnly": True})
    assert paths(trading_venue, "POST")[-1] == "/fapi/v1/algoOrder"
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL, params={"trigger": True})] == [placed["id"]]
    assert ex.fetch_open_orders(SYMBOL) == []  # a plain open-orders query never shows algo orders

    after = bars.loc[start():]
    hit = after.index[(after["low"].map(d) <= stop).to_numpy().argmax()]
    assert after.loc[hit, "low"] <= float(stop) and hit > start()
    trading_venue.advance(int((hit - start()) / HOUR))  # every bar before the one that reaches the stop
    assert ex.fetch_order(placed["id"], SYMBOL, params={"trigger": True})["status"] == "open"
    trading_venue.advance(1)

    done = ex.fetch_order(placed["id"], SYMBOL, params={"trigger": True})
    assert done["status"] == "closed" and done["info"]["algoStatus"] == "FINISHED"
    fill = min(stop, d(bars.loc[hit, "open"]))  # at the stop, or at the open if the bar gapped through it
    assert d(done["info"]["actualPrice"]) == fill
    assert ex.fetch_positions([SYMBOL]) == []
    qty = Decimal("0.02")
    expected = (10_000 - entry * qty * TAKER - fill * qty * TAKER + (fill - entry) * qty
                - funding_paid(qty, bars, start(), hit + HOUR))
    assert d(ex.fetch_balance()["USDT"]["total"]) == expected.quantize(Decimal("1e-8"))
    trades = ex.fetch_my_trades(SYMBOL)
    assert [(t["side"], t["takerOrMaker"]) for t in trades] == [("buy", "taker"), ("sell", "taker")]


def test_take_profit_is_cancelled_and_queried_through_the_algo_api(trading_venue, ex, bars):
    ex.create_order(SYMBOL, "market", "buy", 0.01)
    target = float(price_at(bars, start())) * 1.5
    placed = ex.create_order(SYMBOL, "market", "sell", 0.01, params={"takeProfitPrice": target, "reduceOnly": True})
    assert placed["info"]["orderType"] == "TAKE_PROFIT_MARKET"
    canceled = ex.cancel_order(placed["id"], SYMBOL, params={"trigger": True})
    assert canceled["status"] == "canceled" or canceled["info"]["msg"] == "success"
    assert paths(trading_venue, "DELETE")[-1] == "/fapi/v1/algoOrder"
    assert ex.fetch_open_orders(SYMBOL, params={"trigger": True}) == []
    assert ex.fetch_order(placed["id"], SYMBOL, params={"trigger": True})["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(placed["id"], SYMBOL, params={"trigger": True})


def test_limit_order_rests_then_fills_as_maker_at_its_price(trading_venue, ex, bars):
    entry = price_at(bars, start())
    limit = Decimal(ex.price_to_precision(SYMBOL, float(entry) * 0.99))
    order = ex.create_order(SYMBOL, "limit", "buy", 0.01, float(limit))
    assert [o["id"] for o in ex.fetch_open_orders(SYMBOL)] == [order["id"]]
    after = bars.loc[start():]
    hit = after.index[(after["low"].map(d) <= limit).to_numpy().argmax()]
    trading_venue.advance(int((hit - start()) / HOUR) + 1)
    filled = ex.fetch_order(order["id"], SYMBOL)
    assert (filled["status"], d(filled["average"])) == ("closed", min(limit, d(bars.loc[hit, "open"])))
    (trade,) = ex.fetch_my_trades(SYMBOL)
    assert trade["takerOrMaker"] == "maker" and d(trade["fee"]["cost"]) == (d(trade["price"]) * Decimal("0.01")
                                                                            * MAKER).quantize(Decimal("1e-8"))


def test_refusals_come_back_as_binance_does_and_ccxt_maps_them(trading_venue, ex, bars):
    ex.create_order(SYMBOL, "limit", "buy", 0.01, 50_000, params={"clientOrderId": "entry-1"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):  # duplicate id among open orders
        ex.create_order(SYMBOL, "limit", "buy", 0.01, 50_000, params={"clientOrderId": "entry-1"})
    with pytest.raises(ccxt.InvalidOrder, match="-2022"):  # nothing to reduce
        ex.create_order(SYMBOL, "market", "sell", 0.01, params={"reduceOnly": True})
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):  # 10 BTC at 20x needs ~52k of margin
        ex.create_order(SYMBOL, "market", "buy", 10)
    with pytest.raises(ccxt.OrderImmediatelyFillable, match="-2021"):  # a sell stop above the price
        ex.create_order(SYMBOL, "market", "sell", 0.01, params={"stopLossPrice": 200_000})
    with pytest.raises(ccxt.InvalidOrder, match="-4120"):  # the old endpoint refuses conditional types
        ex.fapiPrivatePostOrder({"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "quantity": "0.01",
                                 "stopPrice": "90000"})
    ex.create_order(SYMBOL, "market", "buy", 0.01)
    with pytest.raises(ccxt.OperationRejected, match="-4047|-4048"):
        ex.set_margin_mode("isolated", SYMBOL)
    with pytest.raises(ccxt.MarginModeAlreadySet, match="-4046"):  # binanceusdm raises it by default
        ex.set_margin_mode("cross", SYMBOL)


def test_funding_is_charged_on_the_position_at_each_funding_time(trading_venue, ex, bars):
    ex.create_order(SYMBOL, "market", "buy", 0.05)
    entry, qty = trade_at(bars, start()), Decimal("0.05")
    trading_venue.advance(17)  # past the 08:00 and 16:00 funding events
    end = start() + 17 * HOUR
    expected = 10_000 - entry * qty * TAKER - funding_paid(qty, bars, start(), end + HOUR)
    assert d(ex.fetch_balance()["USDT"]["total"]) == (expected + (price_at(bars, end) - entry) * qty).quantize(
        Decimal("1e-8"))


def test_the_forming_bar_shows_only_what_has_traded(trading_venue, ex, bars):
    trading_venue.advance(2)
    now = start() + 2 * HOUR
    four_hour = ex.fetch_ohlcv(SYMBOL, "4h", limit=2)
    part = bars.loc[start():now - HOUR]
    assert four_hour[-1][:6] == [int(start().value // 10**6), part["open"].iloc[0], part["high"].max(),
                                 part["low"].min(), part["close"].iloc[-1], pytest.approx(part["volume"].sum())]
    hourly = ex.fetch_ohlcv(SYMBOL, "1h", limit=1)[-1]
    assert hourly[0] == int(now.value // 10**6) and hourly[1:5] == [bars.loc[now, "open"]] * 4 and hourly[5] == 0
    assert d(ex.fetch_ticker(SYMBOL)["last"]) == price_at(bars, now)
    assert d(ex.fetch_mark_price(SYMBOL)["markPrice"]) == price_at(bars, now)


# --- signing ------------------------------------------------------------------------------------------


def test_wrong_key_bad_signature_and_stale_timestamp_are_refused(trading_venue):
    wrong_key = venue_client(trading_venue.url, "someone-else", VENUE_SECRET)
    with pytest.raises(ccxt.AuthenticationError, match="-2015") as refused:
        wrong_key.fetch_balance()
    bad_secret = venue_client(trading_venue.url, VENUE_KEY, "not-the-secret")
    with pytest.raises(ccxt.AuthenticationError, match="-1022") as bad:
        bad_secret.fetch_balance()
    stale = venue_client(trading_venue.url, VENUE_KEY, VENUE_SECRET)
    stale.nonce = lambda: stale.milliseconds() - 120_000
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        stale.fetch_balance()
    assert all(VENUE_SECRET not in str(e.value) and "not-the-secret" not in str(e.value) for e in (refused, bad))
    assert venue_client(trading_venue.url, VENUE_KEY, VENUE_SECRET).fetch_balance()["USDT"]["total"] == 10_000


# --- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind, path, error", [
    ("429", "/fapi/v1/order", ccxt.DDoSProtection),
    ("418", "/fapi/v1/order", ccxt.DDoSProtection),
    ("500", "/fapi/v1/order", ccxt.OperationFailed),
    ("503", "/fapi/v1/order", ccxt.OperationFailed),
    ("502", "/fapi/v1/order", ccxt.ExchangeNotAvailable),
    ("drop", "/fapi/v1/order", ccxt.NetworkError),
    ("timeout", "/fapi/v1/order", ccxt.RequestTimeout),
    ("-1007", "/fapi/v1/order", ccxt.RequestTimeout),
    ("-2019", "/fapi/v1/order", ccxt.InsufficientFunds),
    ("-2021", "/fapi/v1/algoOrder", ccxt.OrderImmediatelyFillable),
])
def test_each_injected_fault_reaches_ccxt_as_its_exception(trading_venue, ex, bars, kind, path, error):
    ex.timeout = 1000
    ex.create_order(SYMBOL, "market", "buy", 0.01)
    stop = float(price_at(bars, start())) * 0.9

    def send():  # an entry on the order endpoint, or a protective stop on the algo endpoint
        if path == "/fapi/v1/algoOrder":
            return ex.create_order(SYMBOL, "market", "sell", 0.01, params={"stopLossPrice": stop, "reduceOnly": True})
        return ex.create_order(SYMBOL, "market", "buy", 0.01)

    account = trading_venue.account
    before = (len(account.orders), len(account.algos))
    trading_venue.inject(Fault(kind, path=path, delay_s=5))
    with pytest.raises(error):
        send()
    (fired,) = trading_venue.fired       # recorded: it fired on that request, and nothing was booked
    assert (fired["kind"], fired["method"], fired["path"], fired["committed"]) == (kind, "POST", path, False)
    assert (len(account.orders), len(account.algos)) == before
    trading_venue.clear_faults()
    assert send()["status"] in ("open", "closed")


@pytest.mark.parametrize("kind, error", [
    ("reset-after", ccxt.NetworkError),
    ("timeout-after", ccxt.RequestTimeout),
    ("500-after", ccxt.OperationFailed),
    ("502-after", ccxt.ExchangeNotAvailable),
    ("503-after", ccxt.OperationFailed),
    ("-1007-after", ccxt.RequestTimeout),
])
@pytest.mark.parametrize("path", ["/fapi/v1/order", "/fapi/v1/algoOrder"])
def test_a_fault_after_the_request_books_the_order_and_loses_the_answer(trading_venue, ex, bars, kind, error, path):
    """The order is booked (a market order filled, a stop standing), ccxt raises as for a lost answer, and
    the order is there to be found by its client id: once."""
    ex.timeout = 1000
    ex.create_order(SYMBOL, "market", "buy", 0.01)
    algo = path == "/fapi/v1/algoOrder"
    cid = "lost-answer-1"
    account = trading_venue.account
    trading_venue.inject(Fault(kind, path=path, method="POST", delay_s=5))
    with pytest.raises(error):
        if algo:
            ex.create_order(SYMBOL, "market", "sell", 0.01, params={
                "stopLossPrice": float(price_at(bars, start())) * 0.9, "reduceOnly": True, "clientAlgoId": cid})
        else:
            ex.create_order(SYMBOL, "market", "buy", 0.01, params={"newClientOrderId": cid})
    (fired,) = trading_venue.fired
    assert (fired["kind"], fired["method"], fired["path"], fired["committed"]) == (kind, "POST", path, True)
    assert fired["answer"]["clientAlgoId" if algo else "clientOrderId"] == cid    # what the client never got
    assert [r.get("fault") for r in trading_venue.requests if r["method"] == "POST"] == [None, kind]
    found = ex.fetch_order(None, SYMBOL, params={"clientAlgoId": cid, "trigger": True} if algo
                           else {"clientOrderId": cid})
    assert found["status"] == ("open" if algo else "closed")
    booked = [a for a in account.algos.values() if a.client_id == cid] if algo else \
        [o for o in account.orders.values() if o.client_id == cid]
    assert len(booked) == 1 and booked[0].status == ("NEW" if algo else "FILLED")
    assert account.positions["BTCUSDT"].amount == Decimal("0.01") * (1 if algo else 2)


def test_a_fault_for_one_method_leaves_the_others_alone(trading_venue, ex):
    ex.create_order(SYMBOL, "market", "buy", 0.01, params={"newClientOrderId": "method-1"})
    trading_venue.inject(Fault("503", path="/fapi/v1/order", method="post"))
    assert ex.fetch_order(None, SYMBOL, params={"clientOrderId": "method-1"})["status"] == "closed"   # a GET
    assert trading_venue.fired == []
    with pytest.raises(ccxt.OperationFailed):
        ex.create_order(SYMBOL, "market", "buy", 0.01)
    assert [(f["kind"], f["method"]) for f in trading_venue.fired] == [("503", "POST")]


def test_an_unknown_fault_kind_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="-2019"):
        Fault("-9999")


# --- streams ------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def pro_client(venue, **config):
    """A ccxt.pro binanceusdm on the venue, markets loaded, closed afterwards."""
    pro = venue_client(venue.url, VENUE_KEY, VENUE_SECRET, flavour="pro", **config)
    try:
        await pro.load_markets()
        yield pro
    finally:
        await pro.close()


def subscriptions(venue) -> int:
    """Kline streams the venue has been asked for (SUBSCRIBE comes after the connection)."""
    return sum(len(streams) for _, streams in list(venue.streams.market.values()))


async def _until(condition, what: str) -> None:
    """Wait for a condition another party makes true (not a timing assertion: fails only if it never comes)."""
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        await asyncio.sleep(0.01)


def test_watch_ohlcv_receives_each_closed_bar_and_the_forming_one(trading_venue, bars):
    async def scenario():
        async with pro_client(trading_venue) as pro:
            hourly = asyncio.ensure_future(pro.watch_ohlcv(SYMBOL, "1h"))
            await _until(lambda: subscriptions(trading_venue) == 1, "a kline subscription")
            assert "/market/ws/" in next(iter(trading_venue.streams.market.values()))[0].path
            await asyncio.to_thread(trading_venue.advance, 1)
            candles = await hourly
            bar = bars.loc[start()]
            assert candles[-1] == [int(start().value // 10**6), *bar[["open", "high", "low", "close", "volume"]]]
            four = asyncio.ensure_future(pro.watch_ohlcv(SYMBOL, "4h"))
            await _until(lambda: subscriptions(trading_venue) == 2, "4h too")
            await asyncio.to_thread(trading_venue.advance, 1)
            forming = (await four)[-1]
            part = bars.loc[start():start() + HOUR]
            assert forming[:5] == [int(start().value // 10**6), part["open"].iloc[0], part["high"].max(),
                                   part["low"].min(), part["close"].iloc[-1]]
    asyncio.run(scenario())


def test_user_data_stream_reports_the_fill_and_the_triggered_stop(trading_venue, ex, bars):
    async def scenario():
        # no positions snapshot: it would still be loading (REST) when the test closes the client
        async with pro_client(trading_venue, options={"watchPositions": {"fetchPositionsSnapshot": False}}) as pro:
            def streamed(order_id: str) -> dict:
                # ccxt.pro keeps its order cache current from the socket; a watch future only sees what
                # arrives after it is made, so waiting on futures could miss the last of a burst
                return next((o for o in pro.orders or [] if o["id"] == order_id), {})

            first = asyncio.ensure_future(pro.watch_orders(SYMBOL))  # connects: listenKey, /private/ws
            await _until(lambda: trading_venue.streams.user, "a user-data connection")
            assert next(iter(trading_venue.streams.user.values())).path == "/private/ws"
            order = await asyncio.to_thread(ex.create_order, SYMBOL, "market", "buy", 0.01)
            await first
            await _until(lambda: streamed(order["id"]).get("status") == "closed", "the fill on the stream")
            assert streamed(order["id"])["filled"] == 0.01
            assert d(streamed(order["id"])["average"]) == trade_at(bars, start())

            target = float(ex.price_to_precision(SYMBOL, float(trade_at(bars, start())) * 1.01))  # 1 % above
            tp = await asyncio.to_thread(ex.create_order, SYMBOL, "market", "sell", 0.01, None,
                                         {"takeProfitPrice": target, "reduceOnly": True})
            assert tp["info"]["algoType"] == "CONDITIONAL"
            after = bars.loc[start():]
            hit = after.index[(after["high"] >= target).to_numpy().argmax()]
            await asyncio.to_thread(trading_venue.advance, int((hit - start()) / HOUR) + 1)
            # ALGO_UPDATE: NEW, TRIGGERED, then FINISHED once the market order it placed has filled
            await _until(lambda: streamed(tp["id"]).get("info", {}).get("X") == "FINISHED", "the algo finished")
            done = streamed(tp["id"])
            assert done["status"] == "closed" and d(done["info"]["ap"]) == max(d(target), d(bars.loc[hit, "open"]))
            child = await asyncio.to_thread(ex.fetch_order, done["info"]["ai"], SYMBOL)  # what the trigger placed
            assert (child["type"], child["filled"], child["info"]["origType"]) == ("market", 0.01, "TAKE_PROFIT_MARKET")
            assert streamed(child["id"])["status"] == "closed"
    asyncio.run(scenario())
    assert paths(trading_venue, "POST").count("/fapi/v1/listenKey") == 1


def test_a_dropped_stream_fails_the_watch_and_a_new_watch_resumes(trading_venue, bars):
    async def scenario():
        async with pro_client(trading_venue) as pro:
            first = asyncio.ensure_future(pro.watch_ohlcv(SYMBOL, "1h"))
            await _until(lambda: subscriptions(trading_venue) == 1, "a kline subscription")
            trading_venue.inject(Fault("drop", path="/market/ws"))
            await asyncio.to_thread(trading_venue.advance, 1)
            with pytest.raises(ccxt.NetworkError):
                await first
            again = asyncio.ensure_future(pro.watch_ohlcv(SYMBOL, "1h"))
            await _until(lambda: subscriptions(trading_venue) == 1, "a new kline subscription")
            await asyncio.to_thread(trading_venue.advance, 1)
            assert (await again)[-1][0] == int((start() + HOUR).value // 10**6)
    asyncio.run(scenario())


# --- the command -------------------------------------------------------------------------------------


def _get(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


def _venue_process(port: int, *args: str) -> subprocess.Popen:
    """``autobot venue`` of this checkout (the installed script may belong to another one)."""
    data = str(data_dir() / "binance_usdm_SOLUSDT_1h.csv.gz")
    return subprocess.Popen([sys.executable, "-m", "autobot_lib.cli", "venue", "--port", str(port), "--data", data,
                             *args], stdout=subprocess.PIPE, text=True, cwd=REPO)


def test_autobot_venue_replays_at_a_speed_and_steps_by_hand():
    port = free_port()
    proc = _venue_process(port, "--start", "2025-01-01", "--speed", "manual")
    try:
        assert "venue on http://127.0.0.1:" in proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while True:
            try:
                before = _get(f"{url}/_venue/state")["now"]
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.2)
        assert before == int(pd.Timestamp("2025-01-01", tz="UTC").value // 10**6)
        request = urllib.request.Request(f"{url}/_venue/advance?bars=3", method="POST")
        assert json.loads(urllib.request.urlopen(request, timeout=5).read())["now"] == before + 3 * 3_600_000
        client = venue_client(url, "venue-demo-key", "venue-demo-secret")
        assert client.fetch_balance()["USDT"]["total"] == 10_000
    finally:
        proc.terminate()
        proc.wait(10)


def test_autobot_venue_at_a_speed_moves_the_clock_by_itself():
    port = free_port()
    proc = _venue_process(port, "--start", "2025-01-01", "--speed", "50")
    try:
        proc.stdout.readline()
        start_ms = int(pd.Timestamp("2025-01-01", tz="UTC").value // 10**6)
        deadline = time.time() + 30
        while True:
            try:
                if _get(f"http://127.0.0.1:{port}/_venue/state")["now"] > start_ms + 3_600_000:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "the replay never moved"
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(10)
