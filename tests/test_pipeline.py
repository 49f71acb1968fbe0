"""The decision pipeline end to end: scenarios per outcome, intents, the journal and the funnel."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from decimal import Decimal

import pandas as pd
import pytest

from autobot_lib.config import load_settings
from autobot_lib.journal import funnel, journal_frame, read_journal, write_journal
from autobot_lib.model import Account, Bar, IntentKind, MarketFilters, Position, Proposal, Side, Signal
from autobot_lib.pipeline import Context, decide, journal_history
from autobot_lib.plan import compile_plan
from autobot_lib.risk import RiskParams
from conftest import AUTOBOT, data_dir, real

T = pd.Timestamp("2025-03-03 10:00", tz="UTC")
FILTERS = MarketFilters.of("0.10", "0.001", "0.001", "100")
FLAT = Account(100_000, 100_000, 100_000, 100_000)
P = RiskParams()


def ctx(regime="BULL_TREND", adx=30.0, adx_prev=29.0, age=10, atr=300.0, close=60_000.0) -> Context:
    return Context(Bar(T, close, close + 100, close - 100, close), T + pd.Timedelta("1h"), atr, adx, adx_prev, regime,
                   age, FILTERS)


LONG = Signal(Proposal.PROPOSE_LONG, 0.8, 0.9, 1, (("STRONG_UPTREND", 1.0, 1.5),))
SHORT = Signal(Proposal.PROPOSE_SHORT, -0.8, 0.9, -1)
WEAK_SHORT = Signal(Proposal.NEUTRAL, -0.6, 0.2, -1)
NOTHING = Signal(Proposal.NEUTRAL, 0.0, 0.0, 0)


@pytest.mark.parametrize("context, signal, account, params, outcome", [
    (ctx(regime=None, adx=float("nan")), NOTHING, FLAT, P, "warmup"),
    (ctx(atr=float("nan")), LONG, FLAT, P, "warmup"),
    (ctx(), NOTHING, FLAT, P, "neutral"),
    (ctx(regime="BEAR_TREND"), WEAK_SHORT, FLAT, P, "below_threshold"),  # the seed's 30 hours
    (ctx(regime="BEAR_TREND"), SHORT, FLAT, replace(P, allow_short=False), "gate:short_disabled"),
    (ctx(adx=18.0), LONG, FLAT, P, "gate:adx_too_low"),
    (ctx(regime="RANGE"), LONG, FLAT, P, "gate:range_regime"),
    (ctx(age=1), LONG, FLAT, P, "gate:trend_unstable"),
    (ctx(), LONG, replace(FLAT, equity=85_000), P, "veto:max_drawdown"),
    (ctx(), LONG, replace(FLAT, available=100), P, "veto:insufficient_margin"),
    # 10 % of 1,000 = 100 USDT -> 0.001 BTC = 60 USDT < the 100 USDT minimum notional
    (ctx(), LONG, replace(FLAT, equity=1_000, available=1_000, peak_equity=1_000, daily_anchor=1_000), P,
     "size:below_min_notional"),
    (ctx(), LONG, replace(FLAT, equity=500, available=500, peak_equity=500, daily_anchor=500), P,
     "size:rounds_to_zero"),
    (ctx(), LONG, FLAT, P, "order"),
])
def test_outcomes(context, signal, account, params, outcome):
    assert decide("BTCUSDT", context, signal, account, params).record.outcome == outcome


def test_an_order_carries_rounded_size_stop_and_target():
    decision = decide("BTCUSDT", ctx(), LONG, FLAT, P)
    (intent,) = decision.intents
    # 10 % of 100,000 = 10,000 USDT cap / 60,000 = 0.1666 -> 0.166 BTC
    assert (intent.kind, intent.side, intent.qty) == (IntentKind.ENTRY, Side.LONG, Decimal("0.166"))
    assert intent.stop_price == Decimal("59550") and intent.take_profit == Decimal("60900")  # -1.5 ATR, +2R
    rec = decision.record
    assert rec.rules_hit == [{"rule": "STRONG_UPTREND", "bias": 1.0, "weight": 1.5}]
    assert rec.size["capped_by"] == "max_position_value" and rec.gate == [] and rec.vetoes == []


def test_a_held_position_is_managed_not_reentered():
    # entry 60,200, 1R = 250: initial stop 59,950; no fixed target
    pos = Position("BTCUSDT", Side.LONG, 0.1, 60_200.0, 59_950.0, None, 250.0, 300.0, T, 0.1)
    account = replace(FLAT, positions=(pos,))
    hit = decide("BTCUSDT", ctx(close=59_900.0), LONG, account, P)   # low 59,800 < stop 59,950
    assert hit.record.outcome == "in_position" and hit.step.position is None
    assert [(i.kind, i.reduce_only, i.reason) for i in hit.intents] == [(IntentKind.EXIT, True, "stop_loss")]
    trailed = decide("BTCUSDT", ctx(close=61_000.0), LONG, account, P)
    kinds = [i.kind for i in trailed.intents]
    assert kinds == [IntentKind.STOP]   # +3.6R: break-even (60,200), then the trail 61,000 - 2.5 x 300 = 60,250
    assert trailed.step.position.stop == 60_250.0 and trailed.intents[0].stop_price == Decimal("60250")
    other = decide("ETHUSDT", ctx(), LONG, account, P)
    assert other.record.outcome == "veto:max_positions"


def test_journal_round_trip_and_funnel(tmp_path):
    settings = load_settings(env_file=None)
    records = journal_history(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-4000:], "BTCUSDT", compile_plan(settings),
                              start="2026-02-01")
    path = write_journal(records, tmp_path / "journal.jsonl")
    frame = read_journal(path)
    assert len(frame) == len(records) and frame["timestamp"].iloc[0] == pd.Timestamp("2026-02-01", tz="UTC")
    pd.testing.assert_frame_equal(frame, journal_frame(records))
    f = funnel(frame, threshold=settings.ACTIVATION_THRESHOLD)
    outcomes = frame["outcome"].value_counts()
    assert f.bars == len(frame) == f.warmup + f.in_position + f.flat
    assert f.flat == outcomes.get("neutral", 0) + f.below_threshold + sum(f.proposed.values())
    assert sum(f.proposed.values()) == sum(f.gate.values()) + sum(f.vetoes.values()) + \
        sum(f.sized_to_zero.values()) + f.orders
    assert f.with_bias == f.below_threshold + sum(f.proposed.values())
    assert "confidence below ACTIVATION_THRESHOLD 0.70" in f.text()
    june = funnel(frame, start="2026-03-01", end="2026-03-31 23:00")
    assert june.bars == 31 * 24


def test_the_seeds_bear_market_is_explained():
    """Long-only in a bear trend: the funnel shows every SHORT proposal blocked, and why."""
    settings = load_settings(env_file=None, ALLOW_SHORT=False, ACTIVATION_THRESHOLD=0.3)
    frame = journal_frame(journal_history(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-4000:], "BTCUSDT",
                                          compile_plan(settings),
                                          start="2026-01-15"))
    f = funnel(frame)
    assert f.gate.get("short_disabled", 0) > 0 and f.proposed.get("PROPOSE_SHORT", 0) >= f.gate["short_disabled"]
    assert not any(i["side"] == "SHORT" for intents in frame["intents"] for i in intents)


def test_explain_command_prints_the_funnel(tmp_path):
    out = subprocess.run(
        [AUTOBOT, "explain", "--symbol", "ETHUSDT", "--data", str(data_dir() / "binance_usdm_ETHUSDT_1h.csv.gz"),
         "--from", "2026-04-01", "--to", "2026-04-30 23:00", "--journal", str(tmp_path / "j.jsonl")],
        capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "bars evaluated                 720" in out.stdout and "signals proposed" in out.stdout
    assert len(read_journal(tmp_path / "j.jsonl")) == 720
    bad = subprocess.run([AUTOBOT, "explain", "--symbol", "ETHUSDT", "--data",
                          str(data_dir() / "binance_usdm_ETHUSDT_1h.csv.gz"), "--from", "2030-01-01"],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "no ETHUSDT bars between" in bad.stderr
