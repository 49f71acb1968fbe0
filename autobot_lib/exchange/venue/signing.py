"""Binance's check of a signed (USER_DATA / TRADE) request, as the venue applies it.

- ``X-MBX-APIKEY`` must name a known key, else 401 with -2015 (what Binance answers for a wrong key).
- ``signature`` must be the hex HMAC-SHA256, keyed with that key's secret, of the request's parameters
  exactly as sent: the raw query string followed by the raw form body, minus ``&signature=...``; else -1022.
- ``timestamp`` must lie within ``recvWindow`` (default 5000 ms, at most 60000) before the server's time
  and at most 1000 ms after it, else -1021. ccxt signs with the wall clock unless it adjusts for the
  server's time difference, and the venue's server time is the replay's: either clock is accepted.

Errors never carry the secret or the signature.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl

from autobot_lib.exchange.venue.errors import BinanceError

_BAD_KEY = (401, -2015, "Invalid API-key, IP, or permissions for action.")
_NO_KEY = (401, -2014, "API-key format invalid.")
_BAD_SIGNATURE = (400, -1022, "Signature for this request is not valid.")
_NO_SIGNATURE = (400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
_NO_TIMESTAMP = (400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
_STALE = (400, -1021, "Timestamp for this request is outside of the recvWindow.")
_AHEAD = (400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def api_key_of(headers: Mapping[str, str], keys: Mapping[str, str]) -> str:
    """The request's API key, checked against the known ones (for endpoints that need only the key)."""
    key = headers.get("X-MBX-APIKEY", "")
    if not key:
        raise BinanceError(*_NO_KEY)
    if key not in keys:
        raise BinanceError(*_BAD_KEY)
    return key


def verify(headers: Mapping[str, str], raw_query: str, raw_body: str, keys: Mapping[str, str],
           clocks_ms: Iterable[int]) -> str:
    """Check a signed request; returns its API key. ``clocks_ms``: the server times a timestamp may match."""
    key = api_key_of(headers, keys)
    payload, signature = _split_signature(raw_query, raw_body)
    expected = hmac.new(keys[key].encode(), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.lower()):
        raise BinanceError(*_BAD_SIGNATURE)
    params = dict(parse_qsl(payload, keep_blank_values=True))
    try:
        timestamp = int(params["timestamp"])
        window = min(int(params.get("recvWindow", 5000)), 60_000)
    except (KeyError, ValueError):
        raise BinanceError(*_NO_TIMESTAMP) from None
    offsets = [timestamp - now for now in clocks_ms]
    if not any(-window <= offset <= 1000 for offset in offsets):
        raise BinanceError(*(_AHEAD if all(offset > 1000 for offset in offsets) else _STALE))
    return key


def _split_signature(raw_query: str, raw_body: str) -> tuple[str, str]:
    """Binance signs ``query + body``; the signature parameter itself is left out of what is hashed."""
    signature = ""
    parts = []
    for raw in (raw_query, raw_body):
        kept = []
        for pair in raw.split("&") if raw else []:
            if pair.startswith("signature="):
                signature = pair[len("signature="):]
            else:
                kept.append(pair)
        if kept:
            parts.append("&".join(kept))
    if not signature:
        raise BinanceError(*_NO_SIGNATURE)
    return "&".join(parts), signature

