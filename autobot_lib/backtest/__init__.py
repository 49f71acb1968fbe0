"""Backtesting on the one decision path: the event-driven futures simulator, its costs and metrics."""

from autobot_lib.backtest.costs import CostModel, cost_model, funding_payment, liquidation_price
from autobot_lib.backtest.engine import BacktestResult, run_backtest

__all__ = ["run_backtest", "BacktestResult", "CostModel", "cost_model", "liquidation_price", "funding_payment"]
