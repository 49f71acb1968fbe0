"""Binance USD-M error codes by what the engine does about them: the one table every adapter reads.

:class:`~autobot_lib.exchange.ccxt_broker.CcxtBroker` finds the code in the body ccxt quotes;
:class:`~autobot_lib.exchange.paper.PaperBroker` gets it from the venue model's ``BinanceError``. Both
ask :func:`policy_for`, so the same refusal means the same thing in DRY_RUN, TESTNET and LIVE.

- RETRY: the exchange could not answer now (unknown/internal error, busy, backend timeout, too many
  requests). The order manager looks the order up by its client id before sending it again.
- HALT: the keys, the signature, the permissions or the clock are wrong; no order will go until a
  person fixes it (-1021 is a clock off by more than recvWindow: retrying signs with the same clock).
- VETO: this order cannot go (margin, filters, would trigger at once, reduce-only, duplicate id,
  unknown order): skip it and alert. Every code not listed, as ccxt's classes for them say too.

Without a code (a gateway's HTML page, a dropped connection) the HTTP status decides: 5xx, 408, 418 and
429 are RETRY, 401 HALT, the rest VETO.

>>> policy_for(-2019), policy_for(-1021), policy_for(None, 502)
(<ErrorPolicy.VETO: 'veto'>, <ErrorPolicy.HALT: 'halt'>, <ErrorPolicy.RETRY: 'retry'>)
"""

from __future__ import annotations

from autobot_lib.exchange.ports import ErrorPolicy

RETRY, VETO, HALT = ErrorPolicy.RETRY, ErrorPolicy.VETO, ErrorPolicy.HALT

BINANCE_POLICIES: dict[int, ErrorPolicy] = {
    # transient: the request may or may not have been executed; look it up, then send again
    -1000: RETRY,    # an unknown error occurred while processing the request
    -1001: RETRY,    # internal error / disconnected; please try again
    -1003: RETRY,    # too many requests (after the limiter's back-off)
    -1006: RETRY,    # unexpected response from the message bus; execution status unknown
    -1007: RETRY,    # timeout waiting for the backend; execution status unknown
    -1008: RETRY,    # server overloaded
    # the account, the keys or the clock: stop trading
    -1002: HALT,     # unauthorized
    -1021: HALT,     # timestamp outside recvWindow (clock drift)
    -1022: HALT,     # signature not valid
    -2014: HALT,     # API key format invalid
    -2015: HALT,     # invalid API key, IP or permissions
    # this order only
    -1013: VETO,     # filter failure (LOT_SIZE, ...)
    -1100: VETO,     # illegal characters in a parameter
    -1102: VETO,     # mandatory parameter missing or malformed
    -1111: VETO,     # precision over the maximum
    -1116: VETO,     # invalid order type
    -1117: VETO,     # invalid side
    -1121: VETO,     # invalid symbol
    -2011: VETO,     # unknown order (cancel)
    -2013: VETO,     # order does not exist (query)
    -2019: VETO,     # margin is insufficient
    -2021: VETO,     # order would immediately trigger
    -2022: VETO,     # reduce-only order rejected
    -4001: VETO,     # price less than 0
    -4003: VETO,     # quantity less than or equal to zero
    -4014: VETO,     # price not a multiple of the tick size
    -4028: VETO,     # leverage not valid
    -4046: VETO,     # no need to change margin type (already so)
    -4047: VETO,     # margin type cannot change with open orders
    -4048: VETO,     # margin type cannot change with a position
    -4061: VETO,     # position side does not match the account's mode
    -4116: VETO,     # client order id duplicated
    -4120: VETO,     # conditional order sent to the order endpoint (use the algo API)
    -4164: VETO,     # notional below the minimum
    -20132: VETO,    # client algo id duplicated
}


def policy_for(code: int | None, status: int | None = None) -> ErrorPolicy:
    """What to do about a refusal with Binance ``code`` (and HTTP ``status`` when there is no code)."""
    if code is not None and code in BINANCE_POLICIES:
        return BINANCE_POLICIES[code]
    if status is not None and (status >= 500 or status in (408, 418, 429)):
        return RETRY
    if status == 401:
        return HALT
    return VETO
