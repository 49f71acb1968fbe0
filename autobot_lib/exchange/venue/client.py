"""Point the real ccxt Binance USD-M client (sync, asyncio or ccxt.pro) at a venue on another host.

Two things change, nothing else:
- every REST and WebSocket base URL keeps its path and gets the venue's host (``ws://`` for streams),
  so ccxt.pro's ``/market/ws`` and ``/private/ws`` paths land on the venue;
- ccxt chooses its USD-M error table by the URL's host name (``https://fapi.binance.com/...``); on any
  other host it falls back to the common table, where -2019 (margin), -2021 (would trigger), -2022
  (reduce-only), -4116 (duplicate id) and -4164 (notional) are a bare ExchangeError. The USD-M table
  is copied over the common one, so the client raises what it raises against Binance.

>>> ex = venue_client("http://127.0.0.1:8765", "venue-demo-key", "venue-demo-secret")
>>> ex.urls["api"]["fapiPrivate"]
'http://127.0.0.1:8765/fapi/v1'
"""

from __future__ import annotations

import re
from typing import Any

import ccxt

_HOST = re.compile(r"^(https?|wss?)://[^/]+")


def point_at(exchange: Any, base_url: str) -> Any:
    """Rewrite ``exchange``'s Binance URLs to ``base_url`` (``http://host:port``) and give it the USD-M
    error table; returns ``exchange``."""
    if not re.match(r"^https?://[^/]+$", base_url.rstrip("/")):
        raise ValueError(f"base_url {base_url!r} is not valid: give scheme and host, e.g. http://127.0.0.1:8765")
    http = base_url.rstrip("/")
    ws = re.sub(r"^http", "ws", http)

    def rehost(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rehost(v) for k, v in value.items()}
        if isinstance(value, str):
            return _HOST.sub(lambda m: ws if m.group(1).startswith("ws") else http, value)
        return value

    exchange.urls["api"] = rehost(exchange.urls["api"])
    linear = exchange.exceptions.get("linear", {})
    exchange.exceptions = {**exchange.exceptions,
                           "exact": {**exchange.exceptions["exact"], **linear.get("exact", {})},
                           "broad": {**exchange.exceptions["broad"], **linear.get("broad", {})}}
    return exchange


def venue_client(base_url: str, api_key: str, secret: str, *, flavour: str = "sync", **config: Any) -> Any:
    """A ``binanceusdm`` client for the venue: ``flavour`` ``sync`` (ccxt), ``async`` (ccxt.async_support)
    or ``pro`` (ccxt.pro, for streams). ``fetchCurrencies`` is off: it calls a spot-only endpoint."""
    if flavour not in ("sync", "async", "pro"):
        raise ValueError(f"flavour {flavour!r} is not valid: use sync, async or pro")
    if flavour == "async":
        import ccxt.async_support as module
    elif flavour == "pro":
        import ccxt.pro as module
    else:
        module = ccxt
    options = {"fetchCurrencies": False, **config.pop("options", {})}
    exchange = module.binanceusdm({"apiKey": api_key, "secret": secret, "options": options, **config})
    return point_at(exchange, base_url)
