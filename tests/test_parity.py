"""One decision path, field by field: the backtester, the live engine on the local venue (real ccxt) and the
live engine on the paper broker (DRY_RUN) trade the same real BTCUSDT and ETHUSDT bars on one account
and must agree on every decision, every trade, every protective order and the equity at every close.

Both strategies run with fees, funding, stops, break-even, trailing, pyramiding and (AUTOBOT) the
take-profit ladder active. Prices and quantities must be equal; money to 1e-9 relative, or to the
exchange's reporting precision where that is coarser (Binance reports fees, realized PnL and funding to 8
decimals). Intrabar exit times are compared to the bar: the backtester knows which bar an exit happened
in, the exchange when inside it. See tests/parity.py for how each side is read.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pandas as pd
import pytest

from autobot_lib.config import load_settings
from parity import (
    backtest, backtest_decisions, backtest_trades, decisions, equity_pairs, expected_orders, live_trades, paper_session,
    placed_orders, venue_session,
)

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
COSTS = dict(SLIPPAGE_BPS=0.0, TP_AS_MAKER=False, MAX_DRAWDOWN=1.0,   # the exchange fills at the price
             BACKTEST_HALT_REARM="never",      # live, only a person re-arms a daily-loss halt
             CORRELATION_WINDOW=48, VOLATILITY_MAX_ATR_PCT=0.012)   # both vetoes fire in these bars
CASES = {
    "autobot": dict(ACTIVATION_THRESHOLD=0.4, LEVERAGE=5, MAX_POSITIONS=2, FUNDING_AVOID_MIN=0, BREAK_EVEN_R=0.5,
                    TP_LADDER=[[1.0, 0.4], [2.0, 0.3]], ENABLE_PYRAMIDING=True, PYRAMID_LEVELS=[[0.5, 0.5]], **COSTS),
    "donchian": dict(STRATEGY="donchian", MAX_POSITIONS=2, BREAK_EVEN_R=1.0,
                     donchian={"leverage": 5, "use_exit_channel": True, "funding_avoid_min": 0,
                               "enable_pyramiding": True, "pyramid_levels": [[1.0, 0.5], [2.0, 0.3]]}, **COSTS),
}
BARS = {"venue": 300, "paper": 600}

TRADE_EXACT = ["symbol", "side", "qty", "entry_time", "exit_bar", "entry_price", "initial_stop", "bars_held",
               "exit_reason"]
TRADE_MONEY = ["fees", "funding", "pnl", "r_multiple", "mae_r", "mfe_r"]


@pytest.fixture(scope="module", params=[(c, s) for c in CASES for s in BARS], ids=lambda p: f"{p[0]}-{p[1]}")
def run(request):
    case, side = request.param
    settings = load_settings(env_file=None, config_json=None, **CASES[case])
    session = venue_session if side == "venue" else paper_session
    engine, exchange = asyncio.run(session(settings, SYMBOLS, BARS[side]))
    account = exchange.account
    return case, settings, engine, account, backtest(engine, settings, SYMBOLS, BARS[side])


def test_every_decision_and_intent_is_the_backtesters(run):
    case, settings, engine, account, result = run
    live, model = decisions(engine.journal), backtest_decisions(result)
    assert len(live) == len(model) == len(SYMBOLS) * len(engine.equity)
    for a, b in zip(live, model):
        assert a == b, f"{case}: live {a} != backtest {b}"
    kinds = {i[0] for *_, intents in model for i in intents}
    assert {"ENTRY", "STOP", "EXIT"} <= kinds, kinds       # the run exercises entries, stop moves and exits
    outcomes = {outcome for _, _, outcome, _ in model}
    assert "veto:correlation" in outcomes, outcomes       # an entry beside a held position that moves with it


def test_every_trade_agrees_field_by_field(run):
    case, settings, engine, account, result = run
    live, model = live_trades(engine), backtest_trades(result)
    assert len(model) >= 6 and set(model["symbol"]) == set(SYMBOLS), model[["symbol", "exit_reason"]]
    assert len(live) == len(model), (live[TRADE_EXACT], model[TRADE_EXACT])
    pd.testing.assert_frame_equal(live[TRADE_EXACT], model[TRADE_EXACT], check_dtype=False, check_exact=True)
    # the exit price averages the exits' fills (ladder levels, then the rest): Decimal on one side, float on the other
    np.testing.assert_allclose(live["exit_price"], model["exit_price"], rtol=1e-12)
    for column in TRADE_MONEY:
        np.testing.assert_allclose(live[column], model[column], rtol=1e-9, atol=1e-6, err_msg=f"{case}: {column}")
    reasons = set(model["exit_reason"])
    assert {"stop_loss", "trailing_stop"} & reasons and (model["funding"] != 0).any(), reasons
    assert (model["qty"] > 0).all() and (model["fees"] > 0).all()
    assert not [text for key, text in engine.alerts if key.startswith("order_error")]   # nothing refused
    assert not engine.kill._errors


def test_a_stop_the_next_open_has_passed_is_closed_there_and_booked_as_the_backtester_books_it():
    """Break-even above the next open: Binance refuses the stop (-2021); the engine closes at market (the
    next open) and books the trade at the next close with the stop's reason, as the backtester books the
    stop that bar opens through. Not an error."""
    # without the vetoes, so the trades that pass their stop in these bars are taken
    settings = load_settings(env_file=None, config_json=None,
                             **{**CASES["autobot"], "CORRELATION_THRESHOLD": 1.0, "VOLATILITY_MAX_ATR_PCT": 0})
    engine, paper = asyncio.run(paper_session(settings, SYMBOLS, BARS["paper"]))
    passed = [text for key, text in engine.alerts if key == "stop_passed"]
    assert passed and not engine.kill._errors and not engine.kill.tripped
    live, model = live_trades(engine), backtest_trades(backtest(engine, settings, SYMBOLS, BARS["paper"]))
    stopped = live["exit_reason"].isin(["break_even_stop", "trailing_stop", "stop_loss"])
    at_open = live[stopped & (live["exit_time"] == live["exit_bar"])]    # a stop filled at a bar's first instant
    assert len(at_open) >= len(passed)
    merged = at_open.merge(model, on=["symbol", "entry_time"], suffixes=("", "_model"))
    assert len(merged) == len(at_open)
    assert (merged["exit_reason"] == merged["exit_reason_model"]).all()
    assert np.allclose(merged["exit_price"], merged["exit_price_model"], rtol=1e-12)


def test_every_protective_order_is_the_one_the_backtest_holds(run):
    case, settings, engine, account, result = run
    placed, expected = placed_orders(account), expected_orders(result, settings, SYMBOLS)
    last = int((result.equity.index[-1] + pd.Timedelta(hours=1)).value // 1_000_000)
    placed = [o for o in placed if o[0] <= last]
    assert placed == expected, "\n".join(f"{a}  |  {b}" for a, b in zip(placed, expected) if a != b) or \
        f"{len(placed)} placed, {len(expected)} expected"
    kinds = {o[2] for o in expected}
    assert "STOP_MARKET" in kinds and len([o for o in expected if o[2] == "STOP_MARKET"]) > len(result.trades)
    if settings.STRATEGY == "autobot":
        assert "TAKE_PROFIT_MARKET" in kinds     # the ladder's levels


def test_equity_agrees_at_every_close(run):
    case, settings, engine, account, result = run
    pairs = equity_pairs(engine, result)
    assert len(pairs) == len(result.equity)
    # (the backtester's last close also books the end of the data: what is open closes there, with its fee)
    worst = max(abs(live - model) / model for _, live, model in pairs[:-1])
    assert worst <= 1e-9, f"{case}: equity differs by {worst:.2e} relative"
