"""The risk parameters the pure core reads: one frozen value per strategy.

:func:`autobot_lib.plan.risk_params` fills it from the settings of whichever strategy trades (AUTOBOT and
the Donchian bot name the same ideas differently), so the gate, vetoes, sizing and exits never look at
the settings themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from autobot_lib.model import BINANCE_TAKER_FEE


@dataclass(frozen=True)
class NotionalCap:
    """The Donchian bot's position cap: notional = clamp(multiple x equity, min, max), in quote currency."""

    multiple: float
    min: float
    max: float


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
    position_cap: NotionalCap | None = None
    correlation_threshold: float = 0.8
    correlation_window: int = 168                 # bars of returns the correlation veto reads
    max_atr_pct: float = 0.05                     # the volatility veto: no entry while ATR/close is above; 0: off
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
