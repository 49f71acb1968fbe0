"""A live trade record from the exchange's own books: executions and funding, worked out by hand here."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pandas as pd
import pytest

from autobot_lib.exchange.ports import FundingFee, TradeFill
from autobot_lib.live.ledger import trade_frame, trade_record
from autobot_lib.model import TRADE_COLUMNS, Position, Side

T0 = 1_750_000_000_000
HOUR = 3_600_000
POS = Position("ETHUSDT", Side.LONG, 1.5, 2000.0, 1970.0, None, 30.0, 20.0, pd.Timestamp(T0, unit="ms", tz="UTC"),
               1.0, bars_held=7)


def fill(side: str, price: str, qty: str, fee: str, pnl: str, at: int, order: str) -> TradeFill:
    return TradeFill("ETHUSDT", order, side, D(price), D(qty), D(fee), D(pnl), at)


FILLS = [
    fill("BUY", "2000", "0.6", "0.6", "0", T0, "1"),                 # the entry, in two executions
    fill("BUY", "2001", "0.4", "0.4002", "0", T0, "1"),
    fill("BUY", "2060", "0.5", "0.515", "0", T0 + 3 * HOUR, "2"),    # a pyramid add at the next open
    fill("SELL", "2090", "0.4", "0.4180", "33.9733", T0 + 4 * HOUR + 60_000, "3"),   # a ladder level
    fill("SELL", "2040", "1.1", "1.1220", "38.4267", T0 + 6 * HOUR + 900_000, "4"),  # the stop
    fill("BUY", "2100", "0.2", "0.21", "0", T0 + 9 * HOUR, "5"),     # the next trade's entry: not this one's
]
FUNDING = [FundingFee("ETHUSDT", D("0.25"), T0),                    # settled as the entry filled: not paid
           FundingFee("ETHUSDT", D("0.31"), T0 + 2 * HOUR),
           FundingFee("ETHUSDT", D("-0.05"), T0 + 5 * HOUR),        # received
           FundingFee("ETHUSDT", D("0.40"), T0 + 8 * HOUR)]         # after the exit


def test_a_trade_is_built_from_the_executions_and_the_funding_of_its_span():
    trade = trade_record(POS, FILLS, FUNDING, entry_ms=T0, reason="trailing_stop", initial_stop=1970.0,
                         mae=-12.0, mfe=95.0, rules="STRONG_UPTREND", regime="BULL_TREND")
    first = (2000 * 0.6 + 2001 * 0.4) / 1.0                          # the entry order's average: 2000.4
    assert trade.entry_price == pytest.approx(first, rel=1e-15)
    assert trade.qty == 1.5 and trade.notional == pytest.approx(1.5 * first)   # the most ever held
    assert trade.exit_price == pytest.approx((2090 * 0.4 + 2040 * 1.1) / 1.5, rel=1e-15)
    fees = 0.6 + 0.4002 + 0.515 + 0.418 + 1.122
    assert trade.fees == pytest.approx(fees, rel=1e-15) and trade.funding == pytest.approx(0.31 - 0.05)
    assert trade.pnl == pytest.approx(33.9733 + 38.4267 - fees - 0.26, rel=1e-15)
    assert trade.r_multiple == pytest.approx(trade.pnl / (30.0 * 1.0))          # 1R x the first quantity
    assert (trade.mae_r, trade.mfe_r) == (0.4, pytest.approx(95.0 / 30.0))
    assert trade.entry_time == pd.Timestamp(T0, unit="ms", tz="UTC")
    assert trade.exit_time == pd.Timestamp(T0 + 6 * HOUR + 900_000, unit="ms", tz="UTC")
    assert (trade.bars_held, trade.exit_reason, trade.entry_rules, trade.entry_regime) == (
        7, "trailing_stop", "STRONG_UPTREND", "BULL_TREND")
    assert list(trade_frame([trade]).columns) == TRADE_COLUMNS
    assert trade.to_dict()["exit_time"].endswith("+00:00")


def test_an_adopted_position_has_no_entry_fill_and_falls_back_on_the_books():
    adopted = POS.with_(qty=1.1, initial_qty=1.1)
    trade = trade_record(adopted, FILLS[4:5], [], entry_ms=T0 + 5 * HOUR, reason="closed_on_exchange",
                         initial_stop=math.nan)
    assert trade.entry_price == POS.first_entry_price and trade.qty == 1.1 and trade.exit_price == 2040.0
    assert trade.funding == 0 and trade.fees == pytest.approx(1.122)


def test_nothing_read_from_the_exchange_still_gives_a_record():
    trade = trade_record(POS, [], [], entry_ms=T0, reason="stop_loss", initial_stop=1970.0)
    assert math.isnan(trade.exit_price) and trade.fees == 0 and trade.exit_reason == "stop_loss"
