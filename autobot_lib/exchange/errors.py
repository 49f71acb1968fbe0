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

The same table names each code's *reason*, the low-cardinality label ``bot_order_errors_total`` counts it
under (:func:`reason_for`): ``nonce`` (-1021, the clock), ``auth`` (keys, signature, permissions),
``rate_limit`` (-1003, HTTP 429/418), ``network`` (the exchange could not answer now: its transient codes,
and a retryable failure without a code), ``order`` (this order refused: margin, filters, would trigger,
...), else ``other`` (a code not in the table included, so a new refusal shows instead of hiding).

>>> policy_for(-2019), policy_for(-1021), policy_for(None, 502)
(<ErrorPolicy.VETO: 'veto'>, <ErrorPolicy.HALT: 'halt'>, <ErrorPolicy.RETRY: 'retry'>)
>>> reason_for(-2019), reason_for(-1021), reason_for(None, 429), reason_for(None, policy=ErrorPolicy.RETRY)
('order', 'nonce', 'rate_limit', 'network')
"""

from __future__ import annotations

from autobot_lib.exchange.ports import BrokerError, ErrorPolicy

RETRY, VETO, HALT = ErrorPolicy.RETRY, ErrorPolicy.VETO, ErrorPolicy.HALT
# the reasons bot_order_errors_total counts (besides OTHER)
AUTH, NONCE, ORDER, RATE_LIMIT, NETWORK, OTHER = "auth", "nonce", "order", "rate_limit", "network", "other"
ERROR_REASONS = (AUTH, NONCE, ORDER, RATE_LIMIT, NETWORK)

# code -> (what the engine does, the reason it is counted under): the one table
BINANCE_CODES: dict[int, tuple[ErrorPolicy, str]] = {
    # transient: the request may or may not have been executed; look it up, then send again
    -1000: (RETRY, NETWORK),     # an unknown error occurred while processing the request
    -1001: (RETRY, NETWORK),     # internal error / disconnected; please try again
    -1003: (RETRY, RATE_LIMIT),  # too many requests (after the limiter's back-off)
    -1006: (RETRY, NETWORK),     # unexpected response from the message bus; execution status unknown
    -1007: (RETRY, NETWORK),     # timeout waiting for the backend; execution status unknown
    -1008: (RETRY, NETWORK),     # server overloaded
    # the account, the keys or the clock: stop trading
    -1002: (HALT, AUTH),         # unauthorized
    -1021: (HALT, NONCE),        # timestamp outside recvWindow (clock drift)
    -1022: (HALT, AUTH),         # signature not valid
    -2014: (HALT, AUTH),         # API key format invalid
    -2015: (HALT, AUTH),         # invalid API key, IP or permissions
    # this order only
    -1013: (VETO, ORDER),        # filter failure (LOT_SIZE, ...)
    -1100: (VETO, ORDER),        # illegal characters in a parameter
    -1102: (VETO, ORDER),        # mandatory parameter missing or malformed
    -1111: (VETO, ORDER),        # precision over the maximum
    -1116: (VETO, ORDER),        # invalid order type
    -1117: (VETO, ORDER),        # invalid side
    -1121: (VETO, ORDER),        # invalid symbol
    -2011: (VETO, ORDER),        # unknown order (cancel)
    -2013: (VETO, ORDER),        # order does not exist (query)
    -2019: (VETO, ORDER),        # margin is insufficient
    -2021: (VETO, ORDER),        # order would immediately trigger
    -2022: (VETO, ORDER),        # reduce-only order rejected
    -4001: (VETO, ORDER),        # price less than 0
    -4003: (VETO, ORDER),        # quantity less than or equal to zero
    -4014: (VETO, ORDER),        # price not a multiple of the tick size
    -4028: (VETO, ORDER),        # leverage not valid
    -4046: (VETO, ORDER),        # no need to change margin type (already so)
    -4047: (VETO, ORDER),        # margin type cannot change with open orders
    -4048: (VETO, ORDER),        # margin type cannot change with a position
    -4061: (VETO, ORDER),        # position side does not match the account's mode
    -4116: (VETO, ORDER),        # client order id duplicated
    -4120: (VETO, ORDER),        # conditional order sent to the order endpoint (use the algo API)
    -4164: (VETO, ORDER),        # notional below the minimum
    -20132: (VETO, ORDER),       # client algo id duplicated
}
BINANCE_POLICIES: dict[int, ErrorPolicy] = {code: policy for code, (policy, _) in BINANCE_CODES.items()}
_RATE_LIMIT_STATUS = (418, 429)     # Binance: 429 too many requests, 418 the IP banned for it


def policy_for(code: int | None, status: int | None = None) -> ErrorPolicy:
    """What to do about a refusal with Binance ``code`` (and HTTP ``status`` when there is no code)."""
    if code is not None and code in BINANCE_POLICIES:
        return BINANCE_POLICIES[code]
    if status is not None and (status >= 500 or status in (408, 418, 429)):
        return RETRY
    if status == 401:
        return HALT
    return VETO


def reason_for(code: int | None, status: int | None = None, policy: ErrorPolicy | str | None = None) -> str:
    """The reason a failure with Binance ``code`` (HTTP ``status``; without either, the ``policy`` it was
    given) is counted under: one of :data:`ERROR_REASONS`, else ``other``."""
    if code is not None and code in BINANCE_CODES:
        return BINANCE_CODES[code][1]
    if status in _RATE_LIMIT_STATUS:
        return RATE_LIMIT
    if code is None:
        if status is not None:
            return NETWORK if status >= 500 or status == 408 else AUTH if status == 401 else OTHER
        if policy is not None and ErrorPolicy(policy) is RETRY:   # a dropped connection, a timeout
            return NETWORK
    return OTHER


def reason_of(exc: BrokerError) -> str:
    """:func:`reason_for` a :class:`~autobot_lib.exchange.ports.BrokerError` (its code, its HTTP status
    when an adapter keeps one, its policy)."""
    return reason_for(exc.code, getattr(exc, "status", None), exc.policy)
