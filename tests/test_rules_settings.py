"""The default rules read the settings through the plan: EMAs by role (EMA_SHORT ... EMA_MAJOR), the ADX
threshold as ``adx_minimum`` (ADX_MINIMUM); and a plan computes only the features it reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import talib

from autobot_lib.config import load_settings
from autobot_lib.indicators import FeatureSpec, FeatureStream, compute_features
from autobot_lib.pipeline import build_features
from autobot_lib.plan import compile_plan
from autobot_lib.rules import DEFAULT_RULES, Category, ConditionError, Rule, RuleSet
from conftest import real

BTC = "binance_usdm_BTCUSDT_1h.csv.gz"


def plan_for(**overrides):
    return compile_plan(load_settings(env_file=None, config_json=None, **overrides))


def test_default_rules_read_emas_by_role_and_the_adx_minimum():
    columns = DEFAULT_RULES.columns
    assert {"ema_short", "ema_long", "ema_trend", "ema_major", "adx_minimum"} <= columns
    assert not any(c.split("_")[-1].isdigit() for c in columns if c.startswith("ema_"))
    assert "adx >= adx_minimum" in DEFAULT_RULES.by_name("SUPER_BULLISH").condition


def test_ema_short_12_runs_the_default_rules_on_the_12_period_ema():
    bars = real(BTC).iloc[-4000:]
    plan = plan_for(EMA_SHORT=12)
    features = build_features(bars, plan.features, plan.regime)
    close = bars["close"].to_numpy(dtype=np.float64)
    np.testing.assert_allclose(features["ema_short"].to_numpy(), talib.EMA(close, 12), rtol=1e-9, equal_nan=True)
    # an independent EMA (pandas, seeded with the mean of the first 12 closes, as TA-Lib) far from the seed
    seeded = pd.Series(close).copy()
    seeded.iloc[:11] = np.nan
    seeded.iloc[11] = close[:12].mean()
    independent = seeded.iloc[11:].ewm(span=12, adjust=False).mean().to_numpy()
    np.testing.assert_allclose(features["ema_short"].to_numpy()[11:], independent, rtol=1e-9)
    # the rules read it: STRONG_UPTREND is exactly its definition on the 12-period EMA
    ev = plan.strategy.evaluate(features)
    e12, e21, e50 = talib.EMA(close, 12), talib.EMA(close, 21), talib.EMA(close, 50)
    expected = (e12 > e21) & (e21 > e50) & (close > e12) & (features["regime"] == "BULL_TREND").to_numpy()
    fired = ev.fired_frame()["STRONG_UPTREND"].to_numpy()
    assert fired.tolist() == expected.tolist() and fired.any()
    default = plan_for()
    assert not np.array_equal(default.strategy.evaluate(build_features(bars, default.features, default.regime))
                              .fired_frame()["STRONG_UPTREND"].to_numpy(), fired)


def test_adx_minimum_changes_when_super_bullish_fires():
    bars = real(BTC).iloc[-8000:]
    fired = {}
    for minimum in (25, 40):
        plan = plan_for(ADX_MINIMUM=minimum)
        features = build_features(bars, plan.features, plan.regime)
        assert (features["adx_minimum"] == minimum).all()
        frame = plan.strategy.evaluate(features).fired_frame()
        fired[minimum] = frame["SUPER_BULLISH"].to_numpy()
        adx = features["adx"].to_numpy()
        assert not (fired[minimum] & ~(adx >= minimum)).any()
    assert fired[40].sum() < fired[25].sum() and fired[40].any()
    assert not (fired[40] & ~fired[25]).any()


def test_old_ema_names_still_read_the_ema_of_that_period():
    rules = DEFAULT_RULES.extended([Rule("MY_PULLBACK", Category.CUSTOM, "close > ema_50 and ema_100 > ema_200", 0.5)])
    plan = compile_plan(load_settings(env_file=None, config_json=None, EMA_TREND=40), rules)
    assert {"ema_50", "ema_100", "ema_200", "ema_trend"} <= set(plan.features.columns)
    bars = real(BTC).iloc[-3000:]
    features = build_features(bars, plan.features, plan.regime)
    close = bars["close"].to_numpy(dtype=np.float64)
    for n in (40, 50, 100):
        column = "ema_trend" if n == 40 else f"ema_{n}"
        np.testing.assert_allclose(features[column].to_numpy(), talib.EMA(close, n), rtol=1e-9, equal_nan=True)
    plan.strategy.evaluate(features)


def test_an_unknown_role_is_refused_with_the_role_names():
    rules = RuleSet([Rule("R", Category.CUSTOM, "close > ema_medium", 0.5)])
    with pytest.raises(ConditionError, match="ema_short, ema_long, ema_trend, ema_major"):
        compile_plan(load_settings(env_file=None, config_json=None), rules)


def test_a_plan_computes_only_what_it_reads():
    donchian = plan_for(STRATEGY="donchian")
    # the channel, ATR and ADX (risk path), the regime detector's EMA and RSI (the trades record the regime)
    assert set(donchian.features.columns) == {"dc_upper_20", "dc_lower_20", "dc_mid_20", "atr", "adx", "plus_di",
                                              "minus_di", "ema_21", "rsi"}
    exit_channel = plan_for(STRATEGY="donchian", donchian={"use_exit_channel": True, "exit_channel_len": 10})
    assert {"dc_upper_10", "dc_lower_10"} <= set(exit_channel.features.columns)
    autobot = plan_for()
    assert DEFAULT_RULES.columns - {"open", "high", "low", "close", "volume"} <= set(autobot.features.columns)
    assert "dc_upper_10" not in autobot.features.columns


def test_roles_and_constants_stream_as_they_batch():
    spec = FeatureSpec(ema=(21,), ema_roles=(("short", 12), ("long", 21)), constants=(("adx_minimum", 30.0),))
    frame = real(BTC).iloc[-1500:]
    batch = compute_features(frame, spec)
    stream = FeatureStream(spec)
    rows = [stream.update(*bar) for bar in frame.itertuples(index=False)]
    assert list(rows[-1]) == list(batch.columns)
    np.testing.assert_allclose(np.array([list(r.values()) for r in rows]), batch.to_numpy(), rtol=1e-12,
                               equal_nan=True)
    restored = FeatureStream.from_state(stream.get_state())
    assert restored.spec == spec
