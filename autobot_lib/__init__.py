"""AUTOBOT Workbench core library.

Layers, arrows pointing inward: ``data`` (load, check, download, resample), ``indicators`` and
``regime`` (pure, batch + streaming), ``report`` (figures, pages); adapters at the edges
(``exchange.venue``, ``cli``).
"""

__version__ = "0.1.0"
