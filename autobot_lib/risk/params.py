"""The risk parameters the pure core reads: one frozen value, resolved from Settings for a strategy.

AUTOBOT and the Donchian bot name the same ideas differently (RISK_PER_TRADE / risk_pct,
STOP_ATR_MULTIPLIER / atr_stop_k, ...); :func:`risk_params` maps whichever strategy trades onto one shape,
so the gate, vetoes, sizing and exits never look at Settings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from autobot_lib.config import PositionCap, Settings
from autobot_lib.model import BINANCE_TAKER_FEE


@dataclass(frozen=True)
class RiskParams:
    risk_per_trade: float = 0.01
    stop_atr_k: float = 1.5
    take_profit_r: float | None = 2.0            # None: no fixed take profit (trail only)
    tp_ladder: tuple[tuple[float, float], ...] = ()
    trail_atr_k: float = 2.5
    break_even_r: float = 1.0                     # 0: off
    max_holding_bars: int = 168                   # 0: off
    exit_on_regime_change: bool = True
    exit_channel: int = 0                         # exit on a close through this channel (0: off)
    pyramiding: bool = False
    pyramid_levels: tuple[tuple[float, float], ...] = ((2.0, 0.3), (3.0, 0.2))
    leverage: int = 10
    max_positions: int = 1
    max_drawdown: float = 0.10
    daily_loss_limit: float = 0.06
    min_position_value: float = 5.0
    max_position_value_ratio: float = 0.10
    position_cap: PositionCap | None = None
    correlation_threshold: float = 0.8
    funding_avoid_min: int = 5
    funding_interval_hours: int = 8
    activation_threshold: float = 0.7
    allow_long: bool = True
    allow_short: bool = True
    use_adx_gate: bool = True
    adx_minimum: float = 25.0
    adx_chop_filter: bool = True
    adx_falling_threshold: float = 0.05
    adx_falling_from: float = 50.0
    trend_stable_bars: int = 3
    block_range_entries: bool = True
    taker_fee: float = BINANCE_TAKER_FEE         # the margin check's fee: the TAKER_FEE setting


def risk_params(settings: Settings) -> RiskParams:
    """The parameters of the strategy ``settings.STRATEGY`` names."""
    s = settings
    shared = dict(
        max_positions=s.MAX_POSITIONS, max_drawdown=s.MAX_DRAWDOWN, min_position_value=s.MIN_POSITION_VALUE,
        max_position_value_ratio=s.MAX_POSITION_VALUE_RATIO, correlation_threshold=s.CORRELATION_THRESHOLD,
        allow_long=s.ALLOW_LONG, allow_short=s.ALLOW_SHORT, max_holding_bars=s.MAX_HOLDING_BARS,
        break_even_r=s.BREAK_EVEN_R, exit_on_regime_change=s.EXIT_ON_REGIME_CHANGE, taker_fee=s.TAKER_FEE,
    )
    if s.STRATEGY == "donchian":
        d = s.donchian
        # the Donchian bot caps notional with position_cap, not AUTOBOT's share of equity: only leverage
        # bounds it besides
        return RiskParams(
            **{**shared, "max_position_value_ratio": float(d.leverage)}, risk_per_trade=d.risk_pct, stop_atr_k=d.atr_stop_k, take_profit_r=None, tp_ladder=(),
            trail_atr_k=d.atr_trail_k, pyramiding=d.enable_pyramiding, pyramid_levels=tuple(d.pyramid_levels),
            leverage=d.leverage, daily_loss_limit=d.daily_loss_limit, position_cap=d.position_cap,
            funding_avoid_min=d.funding_avoid_min, activation_threshold=1.0, use_adx_gate=False,
            exit_channel=d.exit_channel_len if d.use_exit_channel else 0,
        )
    return RiskParams(
        **shared, risk_per_trade=s.RISK_PER_TRADE, stop_atr_k=s.STOP_ATR_MULTIPLIER,
        take_profit_r=s.TAKE_PROFIT_MULTIPLIER, tp_ladder=tuple(s.TP_LADDER), trail_atr_k=s.TRAIL_ATR_MULTIPLIER,
        pyramiding=s.ENABLE_PYRAMIDING, pyramid_levels=tuple(s.PYRAMID_LEVELS), leverage=s.LEVERAGE,
        daily_loss_limit=s.DAILY_LOSS_LIMIT, funding_avoid_min=s.FUNDING_AVOID_MIN,
        activation_threshold=s.ACTIVATION_THRESHOLD, adx_minimum=s.ADX_MINIMUM, adx_chop_filter=s.ADX_CHOP_FILTER,
        adx_falling_threshold=s.ADX_FALLING_THRESHOLD, adx_falling_from=s.ADX_FALLING_FROM,
        trend_stable_bars=s.TREND_STABLE_BARS, block_range_entries=s.BLOCK_RANGE_ENTRIES,
    )
