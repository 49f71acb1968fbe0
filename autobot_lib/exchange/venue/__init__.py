"""A Binance USD-M-compatible venue on 127.0.0.1 that the real ccxt client talks to, offline.

Pure parts: ``market.py`` (which bars, filters, tickers to answer with), ``account.py`` (the trading
account, put together from ``margin.py``: wallet, positions, margins; ``orders.py``: orders and algo
orders; ``settlement.py``: fills and funding; ``matching.py``: orders matched on replayed bars;
``records.py``: what they keep), ``replay.py`` (the clock), ``signing.py`` (Binance's request signature
check), ``brackets.py`` (maintenance margin tiers). Adapters: ``server.py`` (aiohttp HTTP: puts the parts
together, serves them, runs the clock), ``gateway.py`` (what every request passes), ``faults.py``
(injected faults), ``market_data.py`` (public endpoints), ``trading.py`` (signed endpoints),
``control.py`` (``/_venue`` endpoints), ``streams.py`` (WebSockets), ``responses.py`` (Binance's JSON
shapes); ``client.py`` points a real ccxt client at it.
"""

from autobot_lib.exchange.venue.account import Account
from autobot_lib.exchange.venue.client import point_at, venue_client
from autobot_lib.exchange.venue.faults import Fault
from autobot_lib.exchange.venue.market import MarketBook, SymbolSpec
from autobot_lib.exchange.venue.server import DEMO_API_KEY, DEMO_API_SECRET, VenueServer

__all__ = ["MarketBook", "SymbolSpec", "VenueServer", "Fault", "Account", "venue_client", "point_at",
           "DEMO_API_KEY", "DEMO_API_SECRET"]
