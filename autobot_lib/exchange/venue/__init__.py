"""A Binance USD-M-compatible venue on 127.0.0.1 that the real ccxt client talks to, offline.

Pure parts: ``market.py`` (which bars, filters, tickers to answer with), ``account.py`` (wallet, positions,
orders and algo orders matched on replayed bars), ``replay.py`` (the clock), ``signing.py`` (Binance's
request signature check), ``brackets.py`` (maintenance margin tiers). Adapters: ``server.py`` (aiohttp
HTTP, faults, control), ``trading.py`` (signed endpoints), ``streams.py`` (WebSockets), ``responses.py``
(Binance's JSON shapes); ``client.py`` points a real ccxt client at it.
"""

from autobot_lib.exchange.venue.account import Account
from autobot_lib.exchange.venue.client import point_at, venue_client
from autobot_lib.exchange.venue.market import MarketBook, SymbolSpec
from autobot_lib.exchange.venue.server import DEMO_API_KEY, DEMO_API_SECRET, Fault, VenueServer

__all__ = ["MarketBook", "SymbolSpec", "VenueServer", "Fault", "Account", "venue_client", "point_at",
           "DEMO_API_KEY", "DEMO_API_SECRET"]
