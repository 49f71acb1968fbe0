"""The venue's account model alone: matching rules a candle cannot show through ccxt, as a table."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from autobot_lib.exchange.venue.account import MAKER_FEE, TAKER_FEE, Account
from autobot_lib.exchange.venue.errors import BinanceError
from autobot_lib.exchange.venue.market import SymbolSpec

SPEC = {"BTCUSDT": SymbolSpec("BTCUSDT", "0.10", "0.001", "0.001", "100")}


def long_with_bracket(stop: str, target: str) -> Account:
    account = Account(SPEC)
    account.set_price("BTCUSDT", D("100000"))
    account.place_order("BTCUSDT", "BUY", "MARKET", D("0.01"), None, now_ms=0)
    for kind, trigger in (("STOP_MARKET", stop), ("TAKE_PROFIT_MARKET", target)):
        account.place_algo("BTCUSDT", "SELL", kind, D("0.01"), D(trigger), reduce_only=True, now_ms=0)
    return account


# bar (open, high, low, close) -> which exit fills, at what price; what becomes of the other one
@pytest.mark.parametrize("bar, exit_type, price, other", [
    # a bar that reaches both: the extreme that hurts the long comes first, rising or falling (the fill model)
    (("100000", "103000", "97000", "101000"), "STOP_MARKET", "98000", "EXPIRED"),
    (("100000", "103000", "97000", "99000"), "STOP_MARKET", "98000", "EXPIRED"),
    (("96000", "97000", "95000", "96500"), "STOP_MARKET", "96000", "NEW"),  # gapped through: fills at the open
    (("103000", "104000", "101000", "103500"), "TAKE_PROFIT_MARKET", "103000", "NEW"),
])
def test_the_bar_walk_decides_which_exit_fills_first(bar, exit_type, price, other):
    account = long_with_bracket("98000", "102000")
    account.on_bar("BTCUSDT", *(D(x) for x in bar), close_ms=3_600_000)
    finished = [a for a in account.algos.values() if a.status == "FINISHED"]
    assert [(a.type, a.fill_price) for a in finished] == [(exit_type, D(price))]
    (rest,) = [a for a in account.algos.values() if a.status != "FINISHED"]
    # reached after the position is gone, a reduce-only exit expires; not reached, it waits, as on Binance
    assert (rest.status, rest.reason) == (other, "Reduce Only reject" if other == "EXPIRED" else "")
    assert account.positions["BTCUSDT"].amount == 0
    pnl = (D(price) - D("100000")) * D("0.01")
    assert account.wallet == 10_000 + pnl - (D("100000") + D(price)) * D("0.01") * TAKER_FEE


def test_a_short_meets_the_high_first_and_fills_are_stamped_where_the_walk_reaches_them():
    account = Account(SPEC)
    account.set_price("BTCUSDT", D("100000"))
    account.place_order("BTCUSDT", "SELL", "MARKET", D("0.01"), None, now_ms=0)
    account.place_algo("BTCUSDT", "BUY", "STOP_MARKET", D("0.01"), D("102000"), reduce_only=True, now_ms=0)
    account.place_algo("BTCUSDT", "BUY", "TAKE_PROFIT_MARKET", D("0.01"), D("98000"), reduce_only=True, now_ms=0)
    # a rising bar would walk low first; the short is hurt by the high: open 100k -> high 103k (stop at 102k)
    account.on_bar("BTCUSDT", D("100000"), D("103000"), D("97000"), D("101000"), close_ms=3_600_000, open_ms=0)
    (stop,) = [a for a in account.algos.values() if a.status == "FINISHED"]
    assert (stop.type, stop.fill_price) == ("STOP_MARKET", D("102000"))
    # the walk is 3k up, 6k down, 4k up (13k); the stop is 2k in: 2/13 of the hour
    assert stop.trigger_ms == 3_600_000 * 2 // 13 and account.fills[-1].time_ms == stop.trigger_ms


def test_after_a_close_trades_happen_at_the_next_open_and_positions_are_marked_at_the_close():
    account = Account(SPEC)
    account.set_price("BTCUSDT", D("100000"))
    account.on_bar("BTCUSDT", D("100000"), D("100500"), D("99500"), D("100200"), close_ms=3_600_000,
                   next_open=D("100300"))
    order = account.place_order("BTCUSDT", "BUY", "MARKET", D("0.01"), None, now_ms=3_600_000)
    assert order.avg_price == D("100300")                     # the first trade after the close
    assert account.unrealized("BTCUSDT") == D("0.01") * (D("100200") - D("100300"))   # marked at the close
    with pytest.raises(BinanceError) as refused:              # a stop the last price has passed: -2021
        account.place_algo("BTCUSDT", "SELL", "STOP_MARKET", D("0.01"), D("100350"), reduce_only=True,
                           now_ms=3_600_000)
    assert refused.value.code == -2021


def test_a_flip_realizes_the_old_side_and_opens_the_new_at_the_fill():
    account = Account(SPEC)
    account.set_price("BTCUSDT", D("100000"))
    account.place_order("BTCUSDT", "BUY", "MARKET", D("0.01"), None, now_ms=0)
    account.place_order("BTCUSDT", "SELL", "LIMIT", D("0.03"), D("101000"), now_ms=0)
    account.on_bar("BTCUSDT", D("100000"), D("101500"), D("99900"), D("101200"), close_ms=3_600_000)
    position = account.positions["BTCUSDT"]
    assert (position.amount, position.entry) == (D("-0.02"), D("101000"))
    fees = D("100000") * D("0.01") * TAKER_FEE + D("101000") * D("0.03") * MAKER_FEE
    assert account.wallet == 10_000 + D("10") - fees


def test_isolated_margin_moves_out_of_the_cross_wallet_and_back():
    account = Account(SPEC)
    account.set_price("BTCUSDT", D("100000"))
    account.set_leverage("BTCUSDT", 10)
    account.set_margin_type("BTCUSDT", "ISOLATED", now_ms=0)
    account.place_order("BTCUSDT", "BUY", "MARKET", D("0.02"), None, now_ms=0)
    assert account.positions["BTCUSDT"].isolated_wallet == D("200")
    account.place_order("BTCUSDT", "SELL", "MARKET", D("0.01"), None, reduce_only=True, now_ms=0)
    assert account.positions["BTCUSDT"].isolated_wallet == D("100")
    with pytest.raises(BinanceError) as refused:
        account.set_leverage("BTCUSDT", 126)
    assert refused.value.code == -4028
