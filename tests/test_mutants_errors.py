"""The Binance error table, code by code (mutation testing, ``make mutate``: every mutant of
``autobot_lib/exchange/errors.py`` must fail here).

The expected policy of each code is written down from Binance's own meaning of it (the USD-M error code
list), by the rule the module documents: RETRY when the exchange could not answer now and the order's
fate is unknown, HALT when the keys, signature, permissions or clock are wrong (nothing will go until a
person acts), VETO when this one order cannot go.
"""

from __future__ import annotations

import pytest

from autobot_lib.exchange.errors import BINANCE_POLICIES, policy_for
from autobot_lib.exchange.ports import ErrorPolicy

RETRY, VETO, HALT = ErrorPolicy.RETRY, ErrorPolicy.VETO, ErrorPolicy.HALT

# Binance's name and meaning of each code the table lists -> what the engine must do
DOCUMENTED = {
    -1000: ("UNKNOWN", "an unknown error occurred while processing the request", RETRY),
    -1001: ("DISCONNECTED", "internal error; unable to process your request, please try again", RETRY),
    -1003: ("TOO_MANY_REQUESTS", "too many requests queued / over the request weight", RETRY),
    -1006: ("UNEXPECTED_RESP", "unexpected response from the message bus; execution status unknown", RETRY),
    -1007: ("TIMEOUT", "timeout waiting for response from backend server; execution status unknown", RETRY),
    -1008: ("SERVER_BUSY", "server is currently overloaded; please try again in a few minutes", RETRY),
    -1002: ("UNAUTHORIZED", "you are not authorized to execute this request", HALT),
    -1021: ("INVALID_TIMESTAMP", "timestamp outside of the recvWindow (this machine's clock)", HALT),
    -1022: ("INVALID_SIGNATURE", "signature for this request is not valid", HALT),
    -2014: ("BAD_API_KEY_FMT", "API-key format invalid", HALT),
    -2015: ("REJECTED_MBX_KEY", "invalid API-key, IP, or permissions for action", HALT),
    -1013: ("FILTER_FAILURE", "a filter (LOT_SIZE, PRICE_FILTER, ...) refused the order", VETO),
    -1100: ("ILLEGAL_CHARS", "illegal characters found in a parameter", VETO),
    -1102: ("MANDATORY_PARAM_EMPTY_OR_MALFORMED", "a mandatory parameter was not sent or is malformed", VETO),
    -1111: ("BAD_PRECISION", "precision is over the maximum defined for this asset", VETO),
    -1116: ("INVALID_ORDER_TYPE", "invalid orderType", VETO),
    -1117: ("INVALID_SIDE", "invalid side", VETO),
    -1121: ("BAD_SYMBOL", "invalid symbol", VETO),
    -2011: ("CANCEL_REJECTED", "unknown order sent (cancel)", VETO),
    -2013: ("NO_SUCH_ORDER", "order does not exist (query)", VETO),
    -2019: ("MARGIN_NOT_SUFFICIEN", "margin is insufficient", VETO),
    -2021: ("ORDER_WOULD_IMMEDIATELY_TRIGGER", "order would immediately trigger", VETO),
    -2022: ("REDUCE_ONLY_REJECT", "reduceOnly order is rejected", VETO),
    -4001: ("PRICE_LESS_THAN_ZERO", "price less than 0", VETO),
    -4003: ("QTY_LESS_THAN_ZERO", "quantity less than or equal to zero", VETO),
    -4014: ("PRICE_NOT_INCREASED_BY_TICK_SIZE", "price not increased by tick size", VETO),
    -4028: ("INVALID_LEVERAGE", "leverage is not valid", VETO),
    -4046: ("NO_NEED_TO_CHANGE_MARGIN_TYPE", "no need to change margin type", VETO),
    -4047: ("THERE_EXISTS_OPEN_ORDERS", "margin type cannot be changed if there exist open orders", VETO),
    -4048: ("THERE_EXISTS_QUANTITY", "margin type cannot be changed if there exists a position", VETO),
    -4061: ("POSITION_SIDE_NOT_MATCH", "order's position side does not match the user's setting", VETO),
    -4116: ("DUPLICATED_CLIENT_ORDER_ID", "clientOrderId is duplicated", VETO),
    -4120: ("STOP_ORDER_SWITCH_ALGO", "conditional order type not supported on this endpoint: use algo orders", VETO),
    -4164: ("MIN_NOTIONAL", "order's notional must be no smaller than the minimum", VETO),
    -20132: ("DUPLICATED_CLIENT_ALGO_ID", "clientAlgoId is duplicated", VETO),
}


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_each_code_has_the_policy_its_meaning_calls_for(code):
    name, meaning, expected = DOCUMENTED[code]
    assert policy_for(code) is expected, f"{code} {name} ({meaning})"
    # the code decides, whatever HTTP status carried it
    assert policy_for(code, 400) is expected and policy_for(code, 503) is expected and policy_for(code, 401) is expected


def test_the_table_lists_exactly_the_documented_codes():
    """A listed code is one whose meaning was looked up; a VETO code dropped from the table would still be
    VETO by default, but the ccxt adapter reads membership of the table to trust the code over ccxt's class."""
    assert set(BINANCE_POLICIES) == set(DOCUMENTED)
    assert dict(BINANCE_POLICIES) == {code: policy for code, (_, _, policy) in DOCUMENTED.items()}


@pytest.mark.parametrize("status, expected", [
    (None, VETO), (200, VETO), (400, VETO), (401, HALT), (403, VETO), (404, VETO), (407, VETO), (408, RETRY),
    (409, VETO), (417, VETO), (418, RETRY), (419, VETO), (428, VETO), (429, RETRY), (430, VETO), (499, VETO),
    (500, RETRY), (502, RETRY), (503, RETRY), (504, RETRY), (599, RETRY),
])
def test_without_a_known_code_the_http_status_decides(status, expected):
    """5xx: the gateway could not answer (RETRY); 408 request timeout, 418 IP ban and 429 rate limit:
    back off and retry; 401: the keys (HALT); anything else: this request only (VETO)."""
    assert policy_for(None, status) is expected
    assert policy_for(-9999, status) is expected          # a code the table does not list: the same
    assert policy_for(None) is VETO
