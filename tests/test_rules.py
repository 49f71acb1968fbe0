"""Rules as data: the condition language, aggregation by hand, and array == latest-bar on real data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from autobot_lib.model import Proposal
from autobot_lib.pipeline import build_features
from autobot_lib.regime import Regime
from autobot_lib.rules import DEFAULT_RULES, Category, ConditionError, Rule, RuleSet, compile_condition
from autobot_lib.strategy import DonchianStrategy, RuleStrategy
from conftest import real

X = {"a": np.array([1.0, 2.0, 3.0, 2.0, np.nan]), "b": np.array([2.0, 2.0, 2.0, 2.5, 1.0])}


@pytest.mark.parametrize("text, expected, lookback", [
    ("a > b", [False, False, True, False, False], 0),
    ("a >= b", [False, True, True, False, False], 0),
    ("not a > b", [True, True, False, True, True], 0),
    ("a > 1 and b < 2.2", [False, True, True, False, False], 0),
    ("a < 1.5 or b > 2.2", [True, False, False, True, False], 0),
    ("1 < a < 3", [False, True, False, True, False], 0),
    ("a * 2 - 1 > b", [False, True, True, True, False], 0),
    ("a > prev(a)", [False, True, True, False, False], 1),
    ("a > prev(a, 2)", [False, False, True, False, False], 2),
    ("cross_above(a, b)", [False, False, True, False, False], 1),
    ("cross_below(a, b)", [False, False, False, True, False], 1),
    ("abs(a - b) >= 1", [True, False, True, False, False], 0),
    ("max(a, b) > 2.4", [False, False, True, True, False], 0),
])
def test_condition_language(text, expected, lookback):
    condition = compile_condition(text)
    assert condition(X).tolist() == expected
    assert condition.lookback == lookback


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('x')", "not allowed"),
    ("a.b > 1", "not allowed"),
    ("a ** 2 > 1", "operator Pow is not allowed"),
    ("a in b", "comparison In is not allowed"),
    ("open(a)", "unknown function 'open'"),
    ("a >", "does not parse"),
    ("", "non-empty"),
    ("prev(a, 0) > 1", "prev(x, k) needs a whole number k >= 1"),
])
def test_unsafe_or_broken_conditions_are_refused(text, message):
    with pytest.raises(ConditionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_condition(text)


def test_unknown_feature_suggests_the_nearest():
    rules = RuleSet([Rule("R", Category.CUSTOM, "ema_2l > 1", 0.5)])
    frame = pd.DataFrame({"ema_21": [1.0], "regime": ["RANGE"]})
    with pytest.raises(ConditionError, match=r"ema_2l \(did you mean ema_21"):
        rules.evaluate(frame, 0.5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(bias=1.5), "bias must be in \\[-1, 1\\]"),
    (dict(weight=0), "weight must be > 0"),
    (dict(regimes=frozenset()), "at least one regime"),
    (dict(name="bad name"), "letters, digits and underscores"),
])
def test_rule_values_are_checked(kwargs, message):
    base = dict(name="R", category=Category.CUSTOM, condition="close > 1", bias=0.5)
    with pytest.raises(ValueError, match=message):
        Rule(**{**base, **kwargs})


def test_default_rules_cover_the_seed_categories_and_named_rules():
    categories = {r.category for r in DEFAULT_RULES}
    assert categories == set(Category) - {Category.CUSTOM}
    for name in ("STRONG_UPTREND", "RSI_OVERSOLD_LONG", "TURTLE_20DAY_BREAKOUT_LONG", "SUPER_BULLISH",
                 "STRONG_DOWNTREND", "RSI_OVERBOUGHT_SHORT", "TURTLE_20DAY_BREAKOUT_SHORT", "SUPER_BEARISH"):
        DEFAULT_RULES.by_name(name)
    longs = [r for r in DEFAULT_RULES if r.bias > 0]
    shorts = [r for r in DEFAULT_RULES if r.bias < 0]
    assert len(longs) == len(shorts)  # every rule has its mirror
    for category in categories:
        assert {r.bias > 0 for r in DEFAULT_RULES if r.category == category} == {True, False}


def _frame(regimes: list[str], **columns) -> pd.DataFrame:
    return pd.DataFrame({**columns, "regime": regimes}, index=pd.RangeIndex(len(regimes)))


def test_aggregation_by_hand():
    rules = RuleSet([
        Rule("UP", Category.CUSTOM, "x > 0", 1.0, 2.0, {Regime.BULL_TREND, Regime.RANGE}),
        Rule("DOWN", Category.CUSTOM, "y > 0", -0.5, 1.0, {Regime.BULL_TREND, Regime.BEAR_TREND}),
        Rule("RANGE_ONLY", Category.CUSTOM, "z > 0", 0.2, 1.0, {Regime.RANGE}),
    ])
    frame = _frame(["BULL_TREND", "BULL_TREND", "BEAR_TREND", "RANGE", None, "BULL_TREND"],
                   x=[1, 1, 1, 1, 1, 0], y=[0, 1, 1, 0, 1, 0], z=[0, 0, 0, 1, 1, 0])
    ev = rules.evaluate(frame, threshold=0.7)
    # bar 0 BULL: UP fires (w2) of eligible UP+DOWN (w3): bias 1, conf 2/3 < 0.7
    # bar 1 BULL: UP+DOWN fire: bias (2*1 - 0.5)/3 = 0.5, conf 1
    # bar 2 BEAR: only DOWN eligible and fired: bias -0.5, conf 1
    # bar 3 RANGE: UP (w2) and RANGE_ONLY (w1) fire: bias (2 + 0.2)/3, conf 1
    # bar 4 no regime: nothing is eligible; bar 5 nothing fires
    np.testing.assert_allclose(ev.bias, [1.0, 0.5, -0.5, 2.2 / 3, 0.0, 0.0])
    np.testing.assert_allclose(ev.confidence, [2 / 3, 1.0, 1.0, 1.0, 0.0, 0.0])
    assert ev.proposal.tolist() == ["NEUTRAL", "PROPOSE_LONG", "PROPOSE_SHORT", "PROPOSE_LONG", "NEUTRAL", "NEUTRAL"]
    assert ev.direction.tolist() == [1, 1, -1, 1, 0, 0]
    signal = ev.signal(1)
    assert signal.proposal is Proposal.PROPOSE_LONG and signal.rules_hit == (("UP", 1.0, 2.0), ("DOWN", -0.5, 1.0))


@pytest.mark.parametrize("name", ["binance_usdm_BTCUSDT_1h.csv.gz", "binance_usdm_ETHUSDT_1h.csv.gz"])
def test_array_and_latest_bar_agree_on_every_bar(name):
    features = build_features(real(name))
    strategy = RuleStrategy(threshold=0.5)
    batch = strategy.evaluate(features)
    window = strategy.lookback + 1
    fired = batch.fired
    for t in range(len(features)):
        latest = strategy.evaluate_latest(features.iloc[max(0, t - window + 1): t + 1])
        assert latest.fired[-1].tolist() == fired[t].tolist(), t
        assert (latest.bias[-1], latest.confidence[-1], latest.proposal[-1]) == \
            (batch.bias[t], batch.confidence[t], batch.proposal[t]), t
    assert fired.any(axis=0).all()  # every rule fires somewhere in the real history


def test_donchian_strategy_matches_its_definition():
    frame = real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-3000:]
    features = build_features(frame)
    ev = DonchianStrategy(20).evaluate(features)
    prior_high = frame["high"].rolling(20).max().shift(1)
    prior_low = frame["low"].rolling(20).min().shift(1)
    expected = np.where(frame["close"] > prior_high, 1, np.where(frame["close"] < prior_low, -1, 0))
    assert ev.direction.tolist() == expected.tolist()
    assert set(ev.confidence[ev.direction != 0]) == {1.0}


def test_the_sums_have_the_same_bits_on_a_few_rows_as_on_thousands():
    """The live engine evaluates a short window, a backtest the whole history: each row's bias and confidence
    must be the same floats, or a confidence at the threshold decides differently. Weights that are not
    binary fractions, so the order of the additions shows in the last bit."""
    from dataclasses import replace

    rng = np.random.default_rng(7)
    rules = RuleSet([replace(r, weight=float(rng.uniform(0.1, 3.0)), bias=float(np.sign(r.bias) * rng.uniform(0.1, 1)))
                     for r in DEFAULT_RULES.rules])
    features = build_features(real("binance_usdm_BTCUSDT_1h.csv.gz").iloc[-3000:])
    whole = rules.evaluate(features, 0.5)
    for end in range(300, 3001, 97):
        window = rules.evaluate(features.iloc[end - rules.lookback - 1:end], 0.5)
        assert window.bias[-1] == whole.bias[end - 1] and window.confidence[-1] == whole.confidence[end - 1]
    assert ((whole.confidence > 0) & (whole.confidence < 1)).sum() > 1000   # sums of several weights were taken
