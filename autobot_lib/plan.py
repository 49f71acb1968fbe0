"""The plan: the settings compiled, once, at the edge, into what each part of the bot needs.

:func:`autobot_lib.config.load_settings` is the one place that reads files and the environment;
:func:`compile_plan` turns those settings into a frozen :class:`Plan` for the strategy they name:

- the **strategy**, with its own signal (AUTOBOT's rule set against ACTIVATION_THRESHOLD, or the Donchian
  breakout channel);
- the **features** it reads (:class:`~autobot_lib.indicators.FeatureSpec`) and the **regime** detector's
  parameters;
- the **risk** parameters (:class:`~autobot_lib.risk.params.RiskParams`): sizing, the gate, the vetoes
  and the strategy's own exits (the Donchian bot has no regime-change or time exit unless its section
  says so);
- the **costs** a backtest charges, and the **safety** limits of the live kill switch.

The backtester, the live engine, the notebooks and the CLI take a plan; the core (``pipeline``, ``risk``,
``rules``, ``indicators``, ``regime``, ``strategy``, ``journal``) never sees the settings.

>>> from autobot_lib.config import load_settings
>>> plan = compile_plan(load_settings(env_file=None, config_json=None, STRATEGY="donchian"))
>>> plan.strategy.name, plan.risk.exit_on_regime_change, plan.features.atr
('donchian', False, 14)
"""

from __future__ import annotations

from dataclasses import dataclass

from autobot_lib.backtest.costs import CostModel, cost_model
from autobot_lib.config import Settings
from autobot_lib.data.frame import OHLCV_COLUMNS
from autobot_lib.indicators import EMA_ROLES, FeatureSpec
from autobot_lib.regime import RegimeParams
from autobot_lib.risk.params import NotionalCap, RiskParams
from autobot_lib.rules.expr import ConditionError
from autobot_lib.rules.rule import RuleSet
from autobot_lib.strategy import DonchianStrategy, RuleStrategy, Strategy


@dataclass(frozen=True)
class SafetyLimits:
    """The live kill switch's limits (KILL_SWITCH_MAX_ERRORS in KILL_SWITCH_ERROR_WINDOW_SEC, clock drift
    over KILL_SWITCH_MAX_DRIFT_MS, the daily loss limit)."""

    max_errors: int = 5
    error_window_s: float = 60.0
    max_drift_ms: float = 5_000.0
    daily_loss_limit: float = 0.06


@dataclass(frozen=True)
class Plan:
    strategy: Strategy
    features: FeatureSpec
    regime: RegimeParams
    risk: RiskParams
    costs: CostModel
    safety: SafetyLimits
    timeframe: str = "1h"
    halt_rearm: str = "next_day"          # a backtest's daily-loss halt ends: next_day | never

    @property
    def name(self) -> str:
        return self.strategy.name


def compile_plan(settings: Settings, rules: RuleSet | None = None) -> Plan:
    """The plan for ``settings.STRATEGY`` (``rules``: AUTOBOT's rule set, the defaults when None). Its
    features are only those its strategy and risk path read (:func:`feature_spec`)."""
    risk = risk_params(settings)
    strategy = strategy_for(settings, rules)
    regime = regime_params(settings)
    safety = SafetyLimits(settings.KILL_SWITCH_MAX_ERRORS, settings.KILL_SWITCH_ERROR_WINDOW_SEC,
                          settings.KILL_SWITCH_MAX_DRIFT_MS, risk.daily_loss_limit)
    return Plan(strategy, feature_spec(settings, strategy, risk, regime), regime, risk, cost_model(settings), safety,
                settings.TIMEFRAME, settings.BACKTEST_HALT_REARM)


def feature_spec(settings: Settings, strategy: Strategy | None = None, risk: RiskParams | None = None,
                 regime: RegimeParams | None = None) -> FeatureSpec:
    """Every feature the settings' periods define; given the plan's strategy (and risk parameters and
    regime detector), only what they read: the strategy's columns, ATR and ADX (stops, sizing, the gate),
    the exit channel when one is used, and the regime detector's inputs (every plan has regimes: the
    journal and the trades record them)."""
    s = settings
    channels = {20, 10, s.donchian.channel_len, s.donchian.exit_channel_len}
    roles = dict(zip(EMA_ROLES, (s.EMA_SHORT, s.EMA_LONG, s.EMA_TREND, s.EMA_MAJOR)))
    full = FeatureSpec(
        rsi=s.RSI_PERIOD, ema=tuple(sorted(set(roles.values()))),
        macd=(s.MACD_FAST, s.MACD_SLOW, s.MACD_SIGNAL), bb=(s.BB_PERIOD, s.BB_STD),
        atr=s.donchian.atr_len if s.STRATEGY == "donchian" else s.ATR_PERIOD, adx=s.ADX_PERIOD,
        donchian=tuple(sorted(channels, reverse=True)), volume_sma=s.VOLUME_SMA_PERIOD,
        ema_roles=tuple(roles.items()), constants=(("adx_minimum", float(s.ADX_MINIMUM)),),
    )
    if strategy is None:
        return full
    risk = risk or risk_params(settings)
    regime = regime or regime_params(settings)
    reads = {*strategy.reads, *regime.columns}
    if risk.exit_channel:
        reads |= {f"dc_upper_{risk.exit_channel}", f"dc_lower_{risk.exit_channel}"}
    try:
        spec = full.reading(reads)
    except KeyError as exc:
        raise ConditionError(str(exc)) from None
    available = {*spec.columns, *OHLCV_COLUMNS, "regime", "regime_code", "regime_age", "adx_prev"}
    missing = sorted(strategy.reads - available)
    if missing:
        known = sorted({*full.columns, *OHLCV_COLUMNS, "regime_age", "adx_prev"} - {"ema_9", "ema_21", "ema_50",
                                                                                     "ema_200"})
        raise ConditionError(
            f"the {strategy.name} strategy reads unknown feature(s) {missing}: the EMAs are ema_short, ema_long, "
            f"ema_trend, ema_major (periods EMA_SHORT, EMA_LONG, EMA_TREND, EMA_MAJOR) or ema_<period>; the "
            f"Donchian channels dc_upper_<n>, dc_lower_<n>, dc_mid_<n>; others: {', '.join(known)}")
    return spec


def regime_params(settings: Settings) -> RegimeParams:
    return RegimeParams(adx_range=settings.REGIME_ADX_RANGE, ema_period=settings.EMA_LONG,
                        adx_period=settings.ADX_PERIOD, rsi_period=settings.RSI_PERIOD)


def strategy_for(settings: Settings, rules: RuleSet | None = None) -> Strategy:
    if settings.STRATEGY == "donchian":
        return DonchianStrategy(settings.donchian.channel_len)
    return RuleStrategy(rules, settings.ACTIVATION_THRESHOLD) if rules else RuleStrategy(threshold=settings.ACTIVATION_THRESHOLD)


def risk_params(settings: Settings) -> RiskParams:
    """The parameters of the strategy ``settings.STRATEGY`` names. AUTOBOT and the Donchian bot name the same
    ideas differently (RISK_PER_TRADE / risk_pct, STOP_ATR_MULTIPLIER / atr_stop_k, ...): each maps onto one
    shape, with its own exits."""
    s = settings
    shared = dict(
        max_positions=s.MAX_POSITIONS, max_drawdown=s.MAX_DRAWDOWN, min_position_value=s.MIN_POSITION_VALUE,
        max_position_value_ratio=s.MAX_POSITION_VALUE_RATIO, correlation_threshold=s.CORRELATION_THRESHOLD,
        correlation_window=s.CORRELATION_WINDOW, max_atr_pct=s.VOLATILITY_MAX_ATR_PCT,
        allow_long=s.ALLOW_LONG, allow_short=s.ALLOW_SHORT, taker_fee=s.TAKER_FEE,
    )
    if s.STRATEGY == "donchian":
        d = s.donchian
        # the Donchian bot caps notional with position_cap, not AUTOBOT's share of equity: only leverage
        # bounds it besides
        return RiskParams(
            **{**shared, "max_position_value_ratio": float(d.leverage)}, risk_per_trade=d.risk_pct,
            stop_atr_k=d.atr_stop_k, take_profit_r=None, tp_ladder=(), trail_atr_k=d.atr_trail_k,
            break_even_r=d.break_even_r, max_holding_bars=d.max_holding_bars,
            exit_on_regime_change=d.exit_on_regime_change, pyramiding=d.enable_pyramiding,
            pyramid_levels=tuple(d.pyramid_levels), leverage=d.leverage, daily_loss_limit=d.daily_loss_limit,
            position_cap=NotionalCap(d.position_cap.multiple, d.position_cap.min, d.position_cap.max),
            funding_avoid_min=d.funding_avoid_min, activation_threshold=1.0,
            use_adx_gate=False, exit_channel=d.exit_channel_len if d.use_exit_channel else 0,
        )
    return RiskParams(
        **shared, risk_per_trade=s.RISK_PER_TRADE, stop_atr_k=s.STOP_ATR_MULTIPLIER,
        take_profit_r=s.TAKE_PROFIT_MULTIPLIER, tp_ladder=tuple(s.TP_LADDER), trail_atr_k=s.TRAIL_ATR_MULTIPLIER,
        break_even_r=s.BREAK_EVEN_R, max_holding_bars=s.MAX_HOLDING_BARS, exit_on_regime_change=s.EXIT_ON_REGIME_CHANGE,
        pyramiding=s.ENABLE_PYRAMIDING, pyramid_levels=tuple(s.PYRAMID_LEVELS), leverage=s.LEVERAGE,
        daily_loss_limit=s.DAILY_LOSS_LIMIT, funding_avoid_min=s.FUNDING_AVOID_MIN,
        activation_threshold=s.ACTIVATION_THRESHOLD, adx_minimum=s.ADX_MINIMUM, adx_chop_filter=s.ADX_CHOP_FILTER,
        adx_falling_threshold=s.ADX_FALLING_THRESHOLD, adx_falling_from=s.ADX_FALLING_FROM,
        trend_stable_bars=s.TREND_STABLE_BARS, block_range_entries=s.BLOCK_RANGE_ENTRIES,
    )
