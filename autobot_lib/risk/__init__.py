"""Risk: the ADX entry gate, the pre-trade veto chain, sizing and exits. Pure: values in, values out."""

from autobot_lib.risk.exits import (
    AddFill, ExitFill, PositionStep, initial_stop, manage_position, take_profit_price, trail_stop_price,
)
from autobot_lib.risk.gate import GateReason, entry_gate
from autobot_lib.risk.params import NotionalCap, RiskParams
from autobot_lib.risk.sizing import Size, SizeReason, round_down, round_price, size_position
from autobot_lib.risk.vetoes import Veto, minutes_to_funding, order_vetoes, pre_trade_vetoes, return_correlations

__all__ = ["RiskParams", "NotionalCap", "GateReason", "entry_gate", "Veto", "pre_trade_vetoes", "order_vetoes",
           "minutes_to_funding", "return_correlations", "Size", "SizeReason", "size_position", "round_down", "round_price",
           "PositionStep", "ExitFill", "AddFill", "manage_position", "initial_stop", "take_profit_price",
           "trail_stop_price"]
