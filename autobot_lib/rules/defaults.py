"""The default AUTOBOT rule set: every category the seeds name, each with its mirror image.

Feature names are those of :func:`autobot_lib.indicators.compute_features` (``rsi``, ``macd_signal``,
``dc_upper_20`` ...) plus the bar's ``open, high, low, close, volume``. The EMAs are read by role,
``ema_short``, ``ema_long``, ``ema_trend``, ``ema_major`` (the periods EMA_SHORT, EMA_LONG, EMA_TREND,
EMA_MAJOR: 9, 21, 50, 200 by default), and the ADX threshold as ``adx_minimum`` (ADX_MINIMUM), so the
settings change the rules; ``ema_<n>`` still reads the EMA of period n, whatever the settings. Mean-reversion
rules fire only in RANGE, where the seed's ADX gate blocks every entry by default: they count towards
the journal's evidence, and trade when BLOCK_RANGE_ENTRIES is turned off.
"""

from __future__ import annotations

from autobot_lib.regime import Regime
from autobot_lib.rules.rule import ALL_REGIMES, Category, Rule, RuleSet

BULL, BEAR, RANGE = Regime.BULL_TREND, Regime.BEAR_TREND, Regime.RANGE
C = Category

DEFAULT_RULES = RuleSet([
    # trend following: EMA stack and crossovers
    Rule("STRONG_UPTREND", C.TREND_FOLLOWING, "ema_short > ema_long and ema_long > ema_trend and close > ema_short",
         1.0, 1.5, {BULL}),
    Rule("STRONG_DOWNTREND", C.TREND_FOLLOWING, "ema_short < ema_long and ema_long < ema_trend and close < ema_short",
         -1.0, 1.5, {BEAR}),
    Rule("EMA_CROSS_LONG", C.TREND_FOLLOWING, "cross_above(ema_short, ema_long)", 0.7, 1.0, {BULL, RANGE}),
    Rule("EMA_CROSS_SHORT", C.TREND_FOLLOWING, "cross_below(ema_short, ema_long)", -0.7, 1.0, {BEAR, RANGE}),
    # momentum: RSI rising through the upper half (falling through the lower)
    Rule("RSI_MOMENTUM_LONG", C.MOMENTUM, "rsi > 55 and rsi < 75 and rsi > prev(rsi)", 0.6, 1.0, {BULL}),
    Rule("RSI_MOMENTUM_SHORT", C.MOMENTUM, "rsi < 45 and rsi > 25 and rsi < prev(rsi)", -0.6, 1.0, {BEAR}),
    # breakouts: Bollinger bands widening, and the Turtle 20-bar channel
    Rule("BOLLINGER_BREAKOUT_LONG", C.BREAKOUT, "close > bb_upper and bb_width > prev(bb_width)", 0.6, 1.0,
         {BULL, RANGE}),
    Rule("BOLLINGER_BREAKOUT_SHORT", C.BREAKOUT, "close < bb_lower and bb_width > prev(bb_width)", -0.6, 1.0,
         {BEAR, RANGE}),
    Rule("TURTLE_20DAY_BREAKOUT_LONG", C.BREAKOUT, "close > dc_upper_20", 0.8, 1.0, {BULL, RANGE}),
    Rule("TURTLE_20DAY_BREAKOUT_SHORT", C.BREAKOUT, "close < dc_lower_20", -0.8, 1.0, {BEAR, RANGE}),
    # mean reversion, for ranges
    Rule("RSI_OVERSOLD_LONG", C.MEAN_REVERSION, "rsi < 30", 0.7, 1.0, {RANGE}),
    Rule("RSI_OVERBOUGHT_SHORT", C.MEAN_REVERSION, "rsi > 70", -0.7, 1.0, {RANGE}),
    Rule("BB_LOWER_REVERSION_LONG", C.MEAN_REVERSION, "close < bb_lower and rsi < 35", 0.5, 1.0, {RANGE}),
    Rule("BB_UPPER_REVERSION_SHORT", C.MEAN_REVERSION, "close > bb_upper and rsi > 65", -0.5, 1.0, {RANGE}),
    # volume spikes confirm the direction of their bar
    Rule("VOLUME_SPIKE_LONG", C.VOLUME, "volume > 2 * volume_sma and close > open", 0.4, 0.5, ALL_REGIMES),
    Rule("VOLUME_SPIKE_SHORT", C.VOLUME, "volume > 2 * volume_sma and close < open", -0.4, 0.5, ALL_REGIMES),
    # MACD line crossing its signal
    Rule("MACD_CROSS_LONG", C.MACD, "cross_above(macd, macd_signal)", 0.6, 1.0, {BULL, RANGE}),
    Rule("MACD_CROSS_SHORT", C.MACD, "cross_below(macd, macd_signal)", -0.6, 1.0, {BEAR, RANGE}),
    # volatility expansion in the direction of the trend
    Rule("ATR_EXPANSION_LONG", C.VOLATILITY, "atr > 1.3 * prev(atr, 10) and close > ema_long", 0.3, 0.5, {BULL}),
    Rule("ATR_EXPANSION_SHORT", C.VOLATILITY, "atr > 1.3 * prev(atr, 10) and close < ema_long", -0.3, 0.5, {BEAR}),
    # combos: everything lined up
    Rule("SUPER_BULLISH", C.COMBO, "ema_short > ema_long and ema_long > ema_trend and macd > macd_signal "
         "and rsi > 50 and rsi < 70 and adx >= adx_minimum and close > ema_major", 1.0, 2.0, {BULL}),
    Rule("SUPER_BEARISH", C.COMBO, "ema_short < ema_long and ema_long < ema_trend and macd < macd_signal "
         "and rsi < 50 and rsi > 30 and adx >= adx_minimum and close < ema_major", -1.0, 2.0, {BEAR}),
])
