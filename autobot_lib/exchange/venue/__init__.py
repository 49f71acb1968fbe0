"""A Binance-compatible venue on 127.0.0.1 that the real ccxt client talks to, offline.

``market.py`` holds the pure part (which bars and filters to answer with); ``server.py`` serves it over
HTTP with aiohttp and can inject faults on command.
"""

from autobot_lib.exchange.venue.market import MarketBook, SymbolSpec
from autobot_lib.exchange.venue.server import Fault, VenueServer

__all__ = ["MarketBook", "SymbolSpec", "VenueServer", "Fault"]
