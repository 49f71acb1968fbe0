"""Sample snapshots and journal records for the state-store tests (also imported by their subprocesses)."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pandas as pd

from autobot_lib.journal import record
from autobot_lib.model import IntentKind, OrderIntent, Position, Side, TradingState
from autobot_lib.state import BotState, OpenPosition, PendingOrder


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def rich_state() -> BotState:
    """Every part of a snapshot in use: pyramided, laddered, break-even long; a plain short; pending orders."""
    eth = Position("ETHUSDT", Side.LONG, qty=1.75, entry_price=3012.5, stop=2990.1, take_profit=3150.0,
                   risk_per_unit=45.5, atr_at_entry=30.333333333333332, opened_at=utc("2025-03-01 08:00"),
                   initial_qty=1.0, bars_held=17, be_promoted=True, pyramid_steps=2, ladder_steps=1,
                   first_entry_price=2990.0)
    btc = Position("BTCUSDT", Side.SHORT, qty=0.042, entry_price=86250.0, stop=87900.0, take_profit=None,
                   risk_per_unit=1650.0, atr_at_entry=1100.0, opened_at=utc("2025-03-04 01:00"), initial_qty=0.042)
    move_stop = OrderIntent("ETHUSDT", IntentKind.STOP, Side.LONG, Decimal("1.750"), 3050.0,
                            stop_price=Decimal("2990.10"), reduce_only=True, reason="break_even")
    add = OrderIntent("BTCUSDT", IntentKind.ADD, Side.SHORT, Decimal("0.012"), 84000.0,
                      stop_price=Decimal("85650.0"), take_profit=Decimal("80000"), reason="pyramid 1")
    return BotState(
        trading_state=TradingState.REDUCING, kill_reason="daily loss limit 6% reached",
        peak_equity=10234.56, daily_anchor=10012.34, anchor_day=date(2025, 3, 4),
        positions={"ETHUSDT": OpenPosition(eth, "algo-8849201", ("ab-e1", "ab-e2", "ab-e3", "ab-e4")),
                   "BTCUSDT": OpenPosition(btc, None, ("ab-b1",))},
        pending=(PendingOrder("ab-p1", move_stop, utc("2025-03-04 05:00:01.250")),
                 PendingOrder("ab-p2", add, utc("2025-03-04 05:00:02"), exchange_order_id="8389765519")),
        last_bar={"ETHUSDT": utc("2025-03-04 05:00"), "BTCUSDT": utc("2025-03-04 05:00")},
        indicators={"ETHUSDT": {"streams": [{"indicator": "ema", "state": [3001.25, 0.5], "ring": [0.0, 1.5]}]}},
    )


def other_state() -> BotState:
    """A later snapshot: BTC closed, ETH's stop moved, trading active again."""
    before = rich_state()
    eth = before.positions["ETHUSDT"]
    return BotState(peak_equity=10400.0, daily_anchor=10300.0, anchor_day=date(2025, 3, 5),
                    positions={"ETHUSDT": OpenPosition(eth.position.with_(stop=3080.0, bars_held=40),
                                                       "algo-8850007", eth.client_order_ids)},
                    last_bar={"ETHUSDT": utc("2025-03-05 04:00")})


def journal_records(n: int = 3) -> list:
    """Decision records an hour apart, alternating symbols, with the nested parts a real record has."""
    return [record(timestamp=str(utc("2025-03-04 00:00") + pd.Timedelta(hours=i)),
                   symbol=("ETHUSDT", "BTCUSDT")[i % 2], strategy="autobot",
                   outcome="order" if i == 1 else "below_threshold", close=3000.0 + i, regime="TRENDING_UP",
                   regime_age=i, bias=0.5, confidence=0.75, direction=1, proposal="PROPOSE_LONG",
                   rules_hit=[{"name": "ema_cross", "bias": 0.5, "weight": 1.0}], features={"adx": 31.5, "rsi": None},
                   intents=[{"symbol": "ETHUSDT", "qty": "0.500"}] if i == 1 else [])
            for i in range(n)]


def closed_trades() -> list:
    """Closed live trades across two UTC days: a pyramided winner with funding paid, a stopped short, an adopted
    position whose exit price the books did not show (NaN) and whose regime is unknown (None)."""
    from autobot_lib.live.ledger import LiveTrade

    return [
        LiveTrade("ETHUSDT", "LONG", utc("2025-03-03 21:00"), 2990.0, 2950.5, utc("2025-03-04 06:15:02.125"), 3090.25,
                  1.75, 5232.5, 2.6177, 0.4312, 168.2011, 2.8121, 0.35, 3.1, 9, "take_profit",
                  "STRONG_UPTREND,MACD_CROSS_UP", "BULL_TREND"),
        LiveTrade("BTCUSDT", "SHORT", utc("2025-03-04 10:00"), 86250.5, 87100.0, utc("2025-03-04 13:00:00.5"),
                  87100.0, 0.012, 1035.006, 1.0401, -0.0113, -11.2321, -1.0901, 1.0, 0.2, 3, "stop_loss",
                  "DONCHIAN_20_BREAKOUT_SHORT", "BEAR_TREND"),
        LiveTrade("ETHUSDT", "SHORT", utc("2025-03-05 01:00"), 3120.0, math.nan, utc("2025-03-05 02:00"), math.nan,
                  0.5, 1560.0, 0.0, 0.0, 0.0, math.nan, math.nan, math.nan, 1, "closed_on_exchange", "", None),
    ]
