"""Exchange side: the local Binance-compatible venue (and, later, the broker ports and adapters)."""
