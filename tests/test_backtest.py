"""The event-driven backtester: hand-checked fills and costs, accounting identities, the daily-loss halt.

(The independent oracle, tests/oracle_backtest.py, checks it on real data: tests/test_oracle.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autobot_lib.backtest import liquidation_price, run_backtest
from autobot_lib.config import load_settings
from autobot_lib.model import Side
from autobot_lib.regime import Regime
from autobot_lib.rules import Category, Rule, RuleSet
from conftest import real, real_funding

FREE = dict(TAKER_FEE=0.0, MAKER_FEE=0.0, SLIPPAGE_BPS=0.0)


def _bars(rows: list[tuple[float, float, float, float]], start: str = "2025-01-01") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index).assign(volume=1.0)
    frame.attrs.update(symbol="TESTUSDT", timeframe="1h")
    return frame


def _scripted(n_warm: int, script: list[tuple[float, float, float, float]], trigger_at: int, **costs):
    """Flat warm-up bars (ATR settles at 2), then the script; one rule fires on bar ``trigger_at`` only."""
    warm = [(100.0, 101.0, 99.0, 100.0)] * n_warm
    frame = _bars(warm + script)
    marker = np.zeros(len(frame))
    marker[n_warm + trigger_at] = 1.0
    frame["volume"] = 1.0 + marker          # the rule reads the volume spike as its trigger
    rules = RuleSet([Rule("GO_LONG", Category.CUSTOM, "volume > 1.5", 1.0, 1.0, frozenset(Regime))])
    settings = load_settings(env_file=None, ACTIVATION_THRESHOLD=0.5, ADX_CHOP_FILTER=False, BLOCK_RANGE_ENTRIES=False,
                             TREND_STABLE_BARS=1, MAX_POSITION_VALUE_RATIO=5.0, RISK_PER_TRADE=0.01,
                             EXIT_ON_REGIME_CHANGE=False, BREAK_EVEN_R=0, TRAIL_ATR_MULTIPLIER=20, MAX_DRAWDOWN=1.0,
                             **{**FREE, **costs})
    return frame, rules, settings


def test_entry_fills_at_next_open_and_the_stop_inside_a_bar():
    # ATR 2 -> stop distance 3 (1.5 ATR), target 6 (2R); risk 1 % of 10,000 = 100 -> 33.333 units
    frame, rules, settings = _scripted(60, [(100, 101, 99, 100),     # signal bar (close 100)
                                            (100.5, 101, 99.8, 100),  # entry fills at this open: 100.5
                                            (100, 100, 97.0, 98)],    # low 97 < stop 97.5: stopped at 97.5
                                       trigger_at=0)
    result = run_backtest(frame, settings, rules=rules)
    (trade,) = result.trades.itertuples()
    assert trade.entry_time == frame.index[61] and trade.entry_price == 100.5
    assert trade.exit_price == 97.5 and trade.exit_reason == "stop_loss"
    assert trade.qty == pytest.approx(33.333, abs=1e-3)
    assert trade.pnl == pytest.approx(-3.0 * 33.333, abs=1e-2) and trade.r_multiple == pytest.approx(-1.0, abs=1e-3)
    assert result.final_equity == pytest.approx(10_000 + trade.pnl)


def test_pessimistic_rule_when_stop_and_target_share_a_bar():
    frame, rules, settings = _scripted(60, [(100, 101, 99, 100), (100, 100.5, 99.5, 100),
                                            (100, 107, 96, 101)], trigger_at=0)   # both 97 and 106 reached
    trade = run_backtest(frame, settings, rules=rules).trades.iloc[0]
    assert trade.exit_reason == "stop_loss" and trade.exit_price == 97.0


def test_fees_and_slippage():
    script = [(100, 101, 99, 100), (100, 100.5, 99.5, 100), (100, 106.5, 99.5, 106)]
    frame, rules, settings = _scripted(60, script, trigger_at=0, TAKER_FEE=0.0005, SLIPPAGE_BPS=10)
    trade = run_backtest(frame, settings, rules=rules).trades.iloc[0]
    entry = 100 * 1.001                       # bought 10 bps above the open
    target = 106.1                            # 2R from the fill (106.1), on the 0.01 tick grid toward the market
    exit_ = target * (1 - 0.001)              # the take-profit market order slips too
    qty = trade.qty
    assert trade.entry_price == pytest.approx(entry) and trade.exit_price == pytest.approx(exit_)
    assert trade.fees == pytest.approx(qty * (entry + exit_) * 0.0005)
    assert trade.pnl == pytest.approx(qty * (exit_ - entry) - trade.fees)
    _, _, maker_settings = _scripted(60, script, trigger_at=0, TAKER_FEE=0.0005, SLIPPAGE_BPS=10, TP_AS_MAKER=True)
    maker = run_backtest(frame, maker_settings, rules=rules).trades.iloc[0]
    assert maker.exit_price == pytest.approx(target) and maker.exit_reason == "take_profit"


def test_liquidation_before_a_stop_that_cannot_protect():
    # 10x isolated long at 100.5: liquidation 100.5 x 0.9 / 0.996 = 90.81; a gap to 85 blows through the
    # stop (97.5), and the open below the liquidation price means the exchange liquidates
    frame, rules, settings = _scripted(60, [(100, 101, 99, 100), (100.5, 101, 100, 100.5),
                                            (85, 86, 84, 85)], trigger_at=0)
    trade = run_backtest(frame, settings, rules=rules).trades.iloc[0]
    liq = liquidation_price(Side.LONG, 100.5, 10, 0.004)
    assert trade.exit_reason == "liquidation" and trade.exit_price == pytest.approx(liq)
    assert trade.fees == pytest.approx(trade.qty * liq * 0.0125)


def test_accounting_identity_and_funding_recomputed_independently():
    """Funding at time T is paid by the position held at T, at the close of the bar that ends at T (the mark
    then): entries fill at T+ (they miss it), market exits at T+ (they pay it), stops inside a bar before."""
    bars = real("binance_usdm_ETHUSDT_1h.csv.gz").iloc[-8000:]
    funding = real_funding("binance_usdm_ETHUSDT_funding.csv.gz")
    settings = load_settings(env_file=None, ACTIVATION_THRESHOLD=0.4, MAX_DRAWDOWN=1.0)
    result = run_backtest({"ETHUSDT": bars}, settings, funding={"ETHUSDT": funding})
    trades = result.trades
    assert len(trades) > 50
    assert result.final_equity == pytest.approx(10_000 + trades["pnl"].sum(), rel=1e-12)
    closes = bars["close"]
    hour = pd.Timedelta("1h")
    charged = 0
    for t in trades.itertuples():
        last = t.exit_time + (hour if t.exit_reason == "end_of_data" else pd.Timedelta(0))
        inside = t.exit_reason not in ("regime_change", "max_holding_time", "exit_channel", "end_of_data")
        events = funding[(funding.index > t.entry_time) & (funding.index <= last)]
        if inside:   # a stop or target inside the bar that opened at exit_time: before that bar's close
            events = events[events.index <= t.exit_time]
        sign = 1 if t.side == "LONG" else -1
        expected = sum(sign * t.qty * closes.loc[ts - hour] * r for ts, r in events["funding_rate"].items())
        assert t.funding == pytest.approx(expected, rel=1e-9, abs=1e-9), t
        charged += len(events)
    assert charged > 50
    assert (result.equity["drawdown"] >= 0).all() and result.equity["drawdown"].max() < 1


def test_a_daily_loss_halt_lasts_as_backtest_halt_rearm_says():
    """The daily loss limit halts entries (the live trading-state machine); the backtest re-arms at the next
    UTC day or never, and the halted bars show in the journal and the equity curve."""
    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-6000:]
    common = dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0, donchian={"daily_loss_limit": 0.02, "risk_pct": 0.02})
    nextday = run_backtest(bars, load_settings(env_file=None, **common))
    never = run_backtest(bars, load_settings(env_file=None, BACKTEST_HALT_REARM="never", **common))
    halted = nextday.equity["halted"]
    assert 0 < halted.sum() < len(halted) and halted.sum() < never.equity["halted"].sum()
    assert never.equity["halted"].iloc[-1]            # never re-armed: halted to the end
    assert (nextday.journal["outcome"] == "veto:halted").sum() > 0
    first = never.equity.index[never.equity["halted"]][0]
    later = never.journal[never.journal["timestamp"] > first]
    assert not (later["outcome"] == "order").any()    # no entry after the halt
    # a halt begins on a close whose equity is DAILY_LOSS_LIMIT below the day's anchor, and ends at a UTC day
    starts = halted & ~halted.shift(1, fill_value=False)
    ends = ~halted & halted.shift(1, fill_value=False)
    assert ((ends[ends].index + pd.Timedelta("1h")).hour == 0).all()
    anchors = nextday.equity["equity"].groupby((nextday.equity.index + pd.Timedelta("1h")).floor("1D")).transform("first")
    assert (1 - nextday.equity["equity"][starts] / anchors[starts] >= 0.02 - 1e-12).all()


def test_two_symbols_share_one_account():
    bars = {s: real(f"binance_usdm_{s}_1h.csv.gz").iloc[-5000:] for s in ("BTCUSDT", "ETHUSDT")}
    # BTC and ETH move together: with the default correlation veto, ETH waits while BTC is held
    vetoed = run_backtest(bars, load_settings(env_file=None, ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=2,
                                              MAX_DRAWDOWN=1.0))
    assert (vetoed.journal["outcome"] == "veto:correlation").sum() > 0
    settings = load_settings(env_file=None, ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=2, MAX_DRAWDOWN=1.0,
                             CORRELATION_THRESHOLD=1.0)
    result = run_backtest(bars, settings)
    assert set(result.trades["symbol"]) == {"BTCUSDT", "ETHUSDT"}
    assert result.final_equity == pytest.approx(10_000 + result.trades["pnl"].sum(), rel=1e-12)
    overlapping = result.trades.sort_values("entry_time")
    both = any((a.exit_time > b.entry_time) and a.symbol != b.symbol
               for a, b in zip(overlapping.itertuples(), overlapping.iloc[1:].itertuples()))
    assert both  # at some point both were held at once, on one balance
    one = run_backtest(bars, load_settings(env_file=None, ACTIVATION_THRESHOLD=0.4, MAX_POSITIONS=1, MAX_DRAWDOWN=1.0,
                                           CORRELATION_THRESHOLD=1.0))
    assert (one.journal["outcome"] == "veto:max_positions").sum() > 0


@pytest.mark.parametrize("overrides", [dict(ACTIVATION_THRESHOLD=0.45, MAX_DRAWDOWN=1.0),
                                        dict(STRATEGY="donchian", MAX_DRAWDOWN=1.0)])
def test_no_look_ahead(overrides):
    """Every decision up to bar t is the same when every bar after t is removed."""
    bars = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-5000:]
    settings = load_settings(env_file=None, **overrides)
    full = run_backtest(bars, settings)
    core = ["timestamp", "outcome", "proposal", "bias", "confidence", "regime", "gate", "vetoes", "size", "intents"]
    for t in np.random.default_rng(5).integers(300, len(bars) - 1, size=6):
        part = run_backtest(bars.iloc[: t + 1], settings)
        pd.testing.assert_frame_equal(part.journal[core], full.journal[core].iloc[: t + 1])
        pd.testing.assert_frame_equal(part.equity.iloc[:t], full.equity.iloc[:t])
        closed = full.trades[full.trades["exit_time"] < bars.index[t]]
        pd.testing.assert_frame_equal(part.trades.iloc[: len(closed)], closed)
