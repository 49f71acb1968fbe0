"""Binance's error answers, as the venue sends them: HTTP status, code and message text.

Codes and messages are Binance USD-M's own, so that the real ccxt client maps each one to the exception
it raises against Binance (ccxt matches the code first, sometimes the message).
"""

from __future__ import annotations


class BinanceError(Exception):
    """A refusal in Binance's shape: ``{"code": code, "msg": msg}`` with HTTP ``status``."""

    def __init__(self, status: int, code: int, msg: str):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def rejected(code: int, msg: str) -> BinanceError:
    """A request Binance refuses with 400 Bad Request (order, margin and parameter checks)."""
    return BinanceError(400, code, msg)


# Order and account refusals the model raises (message texts as Binance writes them).
INSUFFICIENT_MARGIN = (-2019, "Margin is insufficient.")
WOULD_TRIGGER = (-2021, "Order would immediately trigger.")
REDUCE_ONLY_REJECTED = (-2022, "ReduceOnly Order is rejected.")
UNKNOWN_ORDER = (-2011, "Unknown order sent.")
NO_SUCH_ORDER = (-2013, "Order does not exist.")
DUPLICATE_CLIENT_ID = (-4116, "ClientOrderId is duplicated.")
DUPLICATE_ALGO_ID = (-20132, "The client algo id is duplicated.")
ALGO_ENDPOINT_ONLY = (-4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                             "endpoints instead.")
NO_MARGIN_TYPE_CHANGE = (-4046, "No need to change margin type.")
MARGIN_TYPE_WITH_ORDERS = (-4047, "Margin type cannot be changed if there exists open orders.")
MARGIN_TYPE_WITH_POSITION = (-4048, "Margin type cannot be changed if there exists position.")
POSITION_SIDE = (-4061, "Order's position side does not match user's setting.")
PRECISION = (-1111, "Precision is over the maximum defined for this asset.")
TICK_SIZE = (-4014, "Price not increased by tick size.")
QTY_NOT_POSITIVE = (-4003, "Quantity less than or equal to zero.")
BAD_SYMBOL = (-1121, "Invalid symbol.")
BAD_SIDE = (-1117, "Invalid side.")
BAD_TYPE = (-1116, "Invalid orderType.")
